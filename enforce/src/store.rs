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

use cerro_core::bundle::{read_bundle_file, Bundle, NoExtract};
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
    ///
    /// What lands in the store is exactly what was verified, not whatever
    /// is at `source` by now: the copy is read back through the bundle
    /// reader (every digest re-checked) and must have the verified bundle's
    /// image, members (path, size and digest of each) and mtime — which
    /// together fix every byte of a bundle — before it is renamed into
    /// place. A file swapped or edited after `ct load` verified it is
    /// refused, and the store is left as it was.
    pub fn add(&self, source: &Path, verified: &Verified<Bundle>) -> Result<StoredBundle, Error> {
        let dir = self.root.join("sha256");
        create_dir(&self.root, 0o755)?;
        create_dir(&dir, 0o755)?;
        let dest = self.path_for(&verified.image.digest);
        let mut out = AtomicFile::create(&dest, 0o644)?;
        let mut src = File::open(source).map_err(|e| Error::io("opening", source, e))?;
        let size = io::copy(&mut src, out.file()).map_err(|e| Error::io("copying into the store", &dest, e))?;
        let copy = read_bundle_file(out.file(), &mut NoExtract)?;
        if copy.image != verified.image || copy.members != verified.members || copy.mtime != verified.mtime {
            return Err(Error::malformed(
                source.display().to_string(),
                "changed after it was verified: not stored",
            ));
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cerro_core::image::layout::{basic_config, LayoutBuilder};
    use cerro_core::image::source::SourceImage;
    use cerro_core::manifest::{ImageRef, PackageManifest};
    use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};

    /// A bundle of a one-layer image whose file says `text`, signed by a trusted key.
    fn packed(dir: &Path, text: &[u8]) -> (std::path::PathBuf, TrustStore) {
        let layout = dir.join(format!("layout-{}", text.len()));
        let mut b = LayoutBuilder::new(&layout).unwrap();
        b.layer_tar(&[("etc/motd", 0o644, text)]).unwrap();
        b.finish(basic_config(&["/bin/true"]), Some("1")).unwrap();
        let image = SourceImage::open(&format!("oci:{}", layout.display())).unwrap();
        let manifest = PackageManifest::from_draft(
            "[package]\nname = \"motd\"\nversion = \"1\"\n",
            ImageRef {
                digest: image.manifest.digest,
                reference: image.reference.clone(),
            },
        )
        .unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let path = dir.join(format!("b-{}.ctp", text.len()));
        cerro_core::pack::pack(
            &image,
            &manifest,
            std::slice::from_ref(&key),
            0,
            &mut File::create(&path).unwrap(),
        )
        .unwrap();
        let mut t = TrustStore::new();
        t.insert(KeyEntry::new("k", key.verifying_key(), TrustLevel::Full))
            .unwrap();
        (path, t)
    }

    #[test]
    fn a_bundle_swapped_after_verification_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (a, trust) = packed(dir.path(), b"verified\n");
        let (b, _) = packed(dir.path(), b"swapped in later\n");
        let f = File::open(&a).unwrap();
        let v = cerro_core::verify::verify(
            read_bundle_file(&f, &mut NoExtract).unwrap(),
            &trust,
            &cerro_core::policy::NoPolicy,
            1,
        )
        .unwrap();
        // Between the check and the copy, the file at the path changes.
        fs::copy(&b, &a).unwrap();
        let store = BundleStore::new(dir.path().join("store"));
        let e = store.add(&a, &v).unwrap_err();
        assert_eq!(e.exit_code(), cerro_core::ExitCode::Malformed, "{e}");
        assert!(e.to_string().contains("changed after it was verified"), "{e}");
        assert!(store.list().unwrap().is_empty());
        assert!(!store.path_for(&v.image.digest).exists());
    }
}
