//! Files: written atomically ([`AtomicFile`], [`write_atomic`]), directories
//! created with their mode ([`create_dir`]), and untrusted files read with a
//! bound counted while reading ([`read_bounded`], [`read_bounded_from`]: the
//! one bounded reader of the workspace).
//!
//! Atomic file replacement: a reader sees the old file or the new one, never
//! half of either, and a crash leaves no partial file under the final name.
//!
//! Where the file system supports `O_TMPFILE` (ext4, xfs, btrfs, tmpfs…),
//! the new content is written to an unnamed file in the target directory
//! and given a name only once complete (`linkat`, then `rename` over the
//! final name): a `kill -9` while writing leaves nothing behind. Elsewhere a
//! named temporary file (`.NAME.XXXXXX.tmp`) is written and renamed, and a
//! kill can leave it behind (never under the final name).

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, IoContext, Result};

/// A file being written beside its final path; [`AtomicFile::commit`] renames
/// it into place. Dropped without commit, it is removed.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: Temp,
    path: PathBuf,
}

#[derive(Debug)]
enum Temp {
    /// `O_TMPFILE`: no name until commit; closing it discards it.
    Unnamed { file: File, dir: File },
    /// A named temporary file, removed on drop.
    Named(tempfile::NamedTempFile),
}

/// Distinguishes the names an unnamed file is linked under at commit.
static LINKS: AtomicU64 = AtomicU64::new(0);

impl AtomicFile {
    /// Starts writing `path` with permission bits `mode` (applied before any byte is written).
    pub fn create(path: &Path, mode: u32) -> Result<Self> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(tmp) = unnamed_in(dir, mode) {
            return Ok(AtomicFile {
                tmp,
                path: path.to_path_buf(),
            });
        }
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(fs::Permissions::from_mode(mode))
            .tempfile_in(dir)
            .ctx("creating a temporary file beside", path)?;
        Ok(AtomicFile {
            tmp: Temp::Named(tmp),
            path: path.to_path_buf(),
        })
    }

    /// Where the file is until it is committed (beside the final path), or
    /// `None` while it has no name (`O_TMPFILE`): then a kill leaves
    /// nothing to clean up.
    pub fn temp_path(&self) -> Option<&Path> {
        match &self.tmp {
            Temp::Unnamed { .. } => None,
            Temp::Named(t) => Some(t.path()),
        }
    }

    /// The final path, where [`AtomicFile::commit`] puts the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub fn file(&mut self) -> &mut File {
        match &mut self.tmp {
            Temp::Unnamed { file, .. } => file,
            Temp::Named(t) => t.as_file_mut(),
        }
    }

    /// Flushes to disk, renames into place, and flushes the directory:
    /// after this returns the new content survives a crash.
    pub fn commit(self) -> Result<()> {
        self.finish(Durability::Synced)
    }

    /// Renames into place without waiting for the disk. Readers still see
    /// the old file or the whole new one; a crash may lose the new file or
    /// leave it short. Used for bundles, which are rebuilt by re-running the
    /// command and which the verifier refuses if damaged: waiting for a GiB to
    /// reach the disk would double the time `ct pack` takes.
    pub fn commit_unsynced(self) -> Result<()> {
        self.finish(Durability::Unsynced)
    }

    fn finish(self, durability: Durability) -> Result<()> {
        let AtomicFile { tmp, path } = self;
        match tmp {
            Temp::Named(tmp) => {
                if durability == Durability::Synced {
                    tmp.as_file().sync_all().ctx("syncing", &path)?;
                }
                tmp.persist(&path)
                    .map_err(|e| Error::io("renaming into place", &path, e.error))?;
            }
            Temp::Unnamed { file, dir } => {
                if durability == Durability::Synced {
                    file.sync_all().ctx("syncing", &path)?;
                }
                link_into_place(&file, &dir, &path)?;
            }
        }
        if durability == Durability::Synced {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
        }
        Ok(())
    }
}

/// An unnamed file in `dir` (`O_TMPFILE`) with permission bits `mode`, or
/// `None` where the kernel or the file system does not offer one (the
/// caller falls back to a named temporary file).
fn unnamed_in(dir: &Path, mode: u32) -> Option<Temp> {
    use rustix::fs::{Mode, OFlags};
    let dir = File::open(dir).ok()?;
    let fd = rustix::fs::openat(
        &dir,
        ".",
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .ok()?;
    Some(Temp::Unnamed {
        file: File::from(fd),
        dir,
    })
}

/// Gives the unnamed `file` the name `path`: linked under a fresh temporary
/// name in `dir` (a link cannot replace a file), then renamed over `path`.
/// Only a kill between those two calls leaves a temporary name, holding the
/// complete new content.
fn link_into_place(file: &File, dir: &File, path: &Path) -> Result<()> {
    use rustix::fs::AtFlags;
    let name = path.file_name().ok_or_else(|| {
        Error::io(
            "renaming into place",
            path,
            std::io::Error::from(std::io::ErrorKind::InvalidInput),
        )
    })?;
    let proc_path = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&file.as_fd()));
    let mut attempt = 0;
    let temp = loop {
        let temp = format!(
            ".{}.{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            LINKS.fetch_add(1, Ordering::Relaxed)
        );
        // Through /proc (any user); AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH.
        let linked =
            rustix::fs::linkat(rustix::fs::CWD, &proc_path, dir, &temp, AtFlags::SYMLINK_FOLLOW).or_else(|e| match e {
                rustix::io::Errno::NOENT => rustix::fs::linkat(file, "", dir, &temp, AtFlags::EMPTY_PATH),
                other => Err(other),
            });
        match linked {
            Ok(()) => break temp,
            Err(rustix::io::Errno::EXIST) if attempt < 16 => attempt += 1,
            Err(e) => return Err(Error::io("linking into place", path, e.into())),
        }
    };
    rustix::fs::renameat(dir, &temp, dir, name).map_err(|e| {
        let _ = rustix::fs::unlinkat(dir, &temp, AtFlags::empty());
        Error::io("renaming into place", path, e.into())
    })
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Durability {
    Synced,
    Unsynced,
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file().flush()
    }
}

/// Writes `bytes` to `path` atomically with permission bits `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = AtomicFile::create(path, mode)?;
    f.file().write_all(bytes).ctx("writing", path)?;
    f.commit()
}

/// Creates `dir` (and parents) with permission bits `mode` on the last
/// component. An existing directory is left as it is: its owner chose its mode.
pub fn create_dir(dir: &Path, mode: u32) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).ctx("creating directory", dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).ctx("setting permissions of", dir)
}

/// Reads at most `limit` bytes of the file at `path`, refusing a larger one
/// (exit 10) without reading past the limit: the size is measured by reading
/// from the open file, never by a `metadata()` taken before it (which a
/// concurrent writer could make stale). `what` names the input in errors.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let f = File::open(path).ctx("opening", path)?;
    read_bounded_from(f, limit, what).map_err(|e| match e {
        Error::Io { op, source, .. } => Error::io(op, path, source),
        other => other,
    })
}

/// Reads `r` until it ends or `buf` is full (a retried `EINTR` is not an
/// end); the count read. The chunked readers (the bundle writer's stream
/// copy, the SBOM pass) fill whole chunks so hashing sees the same chunk
/// boundaries however the source delivers its bytes.
pub fn read_full<R: std::io::Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// [`read_bounded`] from any reader: at most `limit` bytes, else exit 10.
pub fn read_bounded_from(r: impl std::io::Read, limit: u64, what: &str) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    r.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::io("reading", what, e))?;
    if out.len() as u64 > limit {
        return Err(Error::malformed(what, format!("larger than the {limit}-byte limit")));
    }
    Ok(out)
}

#[cfg(test)]
mod bounded_tests {
    use super::*;

    #[test]
    fn read_bounded_refuses_one_byte_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, b"12345").unwrap();
        assert_eq!(read_bounded(&p, 5, "f").unwrap(), b"12345");
        let e = read_bounded(&p, 4, "f").unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::Malformed, "{e}");
        let e = read_bounded(&dir.path().join("absent"), 4, "absent").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(e.to_string().contains("absent"), "{e}");
    }
}

#[cfg(test)]
mod atomic_tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// On a file system with O_TMPFILE (this machine's ext4 and tmpfs), the
    /// file has no name while it is written: a kill then leaves nothing.
    #[test]
    fn an_unnamed_file_gets_its_name_only_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trust.toml");
        fs::write(&path, b"old").unwrap();
        let mut f = AtomicFile::create(&path, 0o600).unwrap();
        assert_eq!(
            f.temp_path(),
            None,
            "O_TMPFILE is supported here, yet a named file was made"
        );
        f.file().write_all(b"new content").unwrap();
        assert_eq!(names(dir.path()), ["trust.toml"], "a name exists while writing");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        f.commit().unwrap();
        assert_eq!(names(dir.path()), ["trust.toml"]);
        assert_eq!(fs::read(&path).unwrap(), b"new content");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

        // A new file, unsynced; and one dropped uncommitted leaves nothing.
        let fresh = dir.path().join("b.ctp");
        let mut f = AtomicFile::create(&fresh, 0o644).unwrap();
        f.write_all(b"bundle").unwrap();
        f.commit_unsynced().unwrap();
        assert_eq!(fs::read(&fresh).unwrap(), b"bundle");
        let mut f = AtomicFile::create(&dir.path().join("c"), 0o644).unwrap();
        f.write_all(b"lost").unwrap();
        drop(f);
        assert_eq!(names(dir.path()), ["b.ctp", "trust.toml"]);
    }
}
