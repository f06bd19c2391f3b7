//! Atomic file replacement: a reader sees the old file or the new one, never
//! half of either, and a crash leaves no partial file under the final name.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// A file being written beside its final path; [`AtomicFile::commit`] renames
/// it into place. Dropped without commit, it is removed.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
}

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
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(fs::Permissions::from_mode(mode))
            .tempfile_in(dir)
            .ctx("creating a temporary file beside", path)?;
        Ok(AtomicFile {
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Where the file is until it is committed (beside the final path).
    pub fn temp_path(&self) -> &Path {
        self.tmp.path()
    }

    /// The open file.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
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
        if durability == Durability::Synced {
            tmp.as_file().sync_all().ctx("syncing", &path)?;
        }
        tmp.persist(&path)
            .map_err(|e| Error::io("renaming into place", &path, e.error))?;
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

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Durability {
    Synced,
    Unsynced,
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tmp.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.tmp.flush()
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
