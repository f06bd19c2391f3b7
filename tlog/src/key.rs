//! The log's private key file: Go's note key form
//! (`PRIVATE+KEY+<name>+<hex8>+base64(0x01 || seed)`, read and written by
//! `cerro_core::tlog::note`), one line, mode 0600. The key's name is the
//! log's origin. The file is never in the log's directory (which is served).

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use cerro_core::tlog::note::Ed25519NoteSigner;

use crate::{Error, IoContext as _, Result};

/// A new log key named `name` (the log's origin), from the system's
/// randomness.
pub fn generate(name: &str) -> Result<Ed25519NoteSigner> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| Error::KeyFile {
        path: "(new key)".into(),
        reason: format!("no system randomness: {e}"),
    })?;
    Ok(Ed25519NoteSigner::from_seed(name, &seed)?)
}

/// Writes `signer`'s private key to a new file at `path` (mode 0600,
/// fsynced); an existing file is never replaced.
pub fn write(path: &Path, signer: &Ed25519NoteSigner) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .ctx("creating the key file", path)?;
    let line = zeroize::Zeroizing::new(format!("{}\n", signer.to_private_key().as_str()));
    f.write_all(line.as_bytes()).ctx("writing the key file", path)?;
    f.sync_all().ctx("syncing the key file", path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .ctx("syncing the directory of", path)?;
    }
    Ok(())
}

/// Reads the key file at `path`, refusing one that the group or others
/// may read or write (a log key that leaked signs forks).
pub fn read(path: &Path) -> Result<Ed25519NoteSigner> {
    let meta = std::fs::metadata(path).ctx("reading the key file", path)?;
    if meta.mode() & 0o077 != 0 {
        return Err(Error::KeyFile {
            path: path.to_path_buf(),
            reason: format!(
                "its mode is {:o}: the group or others may use it (chmod 600)",
                meta.mode() & 0o777
            ),
        });
    }
    let bytes = zeroize::Zeroizing::new(cerro_core::file::read_bounded(path, 1024, "the log's key file")?);
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::KeyFile {
        path: path.to_path_buf(),
        reason: "not UTF-8".into(),
    })?;
    Ok(Ed25519NoteSigner::from_private_key(
        text.strip_suffix('\n').unwrap_or(text),
    )?)
}
