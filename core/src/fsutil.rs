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
