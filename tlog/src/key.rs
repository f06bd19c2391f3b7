//! The private key files of a log and of a witness: Go's note key form
//! (`PRIVATE+KEY+<name>+<hex8>+base64(type || seed)`, type 0x01 for a log's
//! note key, 0x04 for a witness's cosignature/v1 key; read and written by
//! `cerro_core::tlog::note`), one line, mode 0600. A log key's name is the
//! log's origin; a witness key's name is the witness's name. The file is
//! never in the log's directory (which is served).

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use cerro_core::tlog::note::{Ed25519Cosigner, Ed25519NoteSigner};

use crate::{Error, IoContext as _, Result};

/// A key kept in a key file: a log's note signer or a witness's cosigner.
pub trait PrivateKey: Sized {
    /// The key from a 32-byte seed.
    fn from_seed(name: &str, seed: &[u8; 32]) -> cerro_core::Result<Self>;
    /// The key from its one-line private form.
    fn from_private_key(s: &str) -> cerro_core::Result<Self>;
    /// Its one-line private form.
    fn to_private_key(&self) -> zeroize::Zeroizing<String>;
}

impl PrivateKey for Ed25519NoteSigner {
    fn from_seed(name: &str, seed: &[u8; 32]) -> cerro_core::Result<Self> {
        Ed25519NoteSigner::from_seed(name, seed)
    }
    fn from_private_key(s: &str) -> cerro_core::Result<Self> {
        Ed25519NoteSigner::from_private_key(s)
    }
    fn to_private_key(&self) -> zeroize::Zeroizing<String> {
        Ed25519NoteSigner::to_private_key(self)
    }
}

impl PrivateKey for Ed25519Cosigner {
    fn from_seed(name: &str, seed: &[u8; 32]) -> cerro_core::Result<Self> {
        Ed25519Cosigner::from_seed(name, seed)
    }
    fn from_private_key(s: &str) -> cerro_core::Result<Self> {
        Ed25519Cosigner::from_private_key(s)
    }
    fn to_private_key(&self) -> zeroize::Zeroizing<String> {
        Ed25519Cosigner::to_private_key(self)
    }
}

/// A new log key named `name` (the log's origin), from the system's
/// randomness.
pub fn generate(name: &str) -> Result<Ed25519NoteSigner> {
    generate_key(name)
}

/// A new witness key named `name`, from the system's randomness.
pub fn generate_cosigner(name: &str) -> Result<Ed25519Cosigner> {
    generate_key(name)
}

fn generate_key<K: PrivateKey>(name: &str) -> Result<K> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| Error::KeyFile {
        path: "(new key)".into(),
        reason: format!("no system randomness: {e}"),
    })?;
    Ok(K::from_seed(name, &seed)?)
}

/// Writes `key`'s private form to a new file at `path` (mode 0600,
/// fsynced); an existing file is never replaced.
pub fn write<K: PrivateKey>(path: &Path, key: &K) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .ctx("creating the key file", path)?;
    let line = zeroize::Zeroizing::new(format!("{}\n", key.to_private_key().as_str()));
    f.write_all(line.as_bytes()).ctx("writing the key file", path)?;
    f.sync_all().ctx("syncing the key file", path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .ctx("syncing the directory of", path)?;
    }
    Ok(())
}

/// Reads the log key file at `path`, refusing one that the group or others
/// may read or write (a log key that leaked signs forks).
pub fn read(path: &Path) -> Result<Ed25519NoteSigner> {
    read_key(path)
}

/// Reads the witness key file at `path`, on the same rules (a witness key
/// that leaked cosigns forks).
pub fn read_cosigner(path: &Path) -> Result<Ed25519Cosigner> {
    read_key(path)
}

fn read_key<K: PrivateKey>(path: &Path) -> Result<K> {
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
    let bytes = zeroize::Zeroizing::new(cerro_core::file::read_bounded(path, 1024, "a tlog key file")?);
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::KeyFile {
        path: path.to_path_buf(),
        reason: "not UTF-8".into(),
    })?;
    Ok(K::from_private_key(text.strip_suffix('\n').unwrap_or(text))?)
}
