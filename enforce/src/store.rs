//! The bundle store: verified bundles, filed under the digest of the image
//! manifest they attest (`<store>/sha256/<hex>.ctp`), so a runtime that
//! knows only what image a container runs can find its attestation.
//!
//! The store is not trusted: every start verifies the stored bundle again
//! against the current trust store and policy (revocation takes effect at
//! the next start), and refuses a bundle that attests another image.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use cerro_core::bundle::Bundle;
use cerro_core::digest::Digest;
use cerro_core::fsutil::{create_dir, AtomicFile};
use cerro_core::verify::Verified;
use cerro_core::Error;

/// A bundle store directory.
#[derive(Debug, Clone)]
pub struct BundleStore {
    root: PathBuf,
}

/// One stored bundle.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredBundle {
    /// The image manifest digest it is filed under.
    pub image: Digest,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

impl BundleStore {
    /// The store at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BundleStore { root: root.into() }
    }

    /// Where the bundle attesting `image` is (or would be) stored.
    pub fn path_for(&self, image: &Digest) -> PathBuf {
        self.root.join("sha256").join(format!("{}.ctp", image.hex()))
    }

    /// Files `source` (already verified as `verified`) under its image
    /// digest, replacing any previous bundle for that image, atomically.
    pub fn add(&self, source: &Path, verified: &Verified<Bundle>) -> Result<StoredBundle, Error> {
        let dir = self.root.join("sha256");
        create_dir(&self.root, 0o755)?;
        create_dir(&dir, 0o755)?;
        let dest = self.path_for(&verified.image.digest);
        let mut out = AtomicFile::create(&dest, 0o644)?;
        let mut src = File::open(source).map_err(|e| Error::io("opening", source, e))?;
        let size = io::copy(&mut src, out.file()).map_err(|e| Error::io("copying into the store", &dest, e))?;
        out.commit()?;
        Ok(StoredBundle {
            image: verified.image.digest,
            path: dest,
            size,
        })
    }

    /// Every stored bundle, by image digest.
    pub fn list(&self) -> Result<Vec<StoredBundle>, Error> {
        let dir = self.root.join("sha256");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("listing", dir, e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(|err| Error::io("listing", &dir, err))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(image) = name.strip_suffix(".ctp").and_then(Digest::from_hex) else {
                continue;
            };
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(StoredBundle {
                image,
                path: e.path(),
                size,
            });
        }
        out.sort_by_key(|e| e.image);
        Ok(out)
    }
}
