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
use cerro_core::file::{create_dir, AtomicFile};
use cerro_core::timestamp::format_rfc3339;
use cerro_core::verify::Verified;
use cerro_core::Error;
use cerro_policy::evaluate::Facts;

/// Whether [`BundleStore::add`] may replace a stored bundle with one built
/// earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollback {
    /// Refuse (the default everywhere).
    Refuse,
    /// Allow: the operator asked for it (`ct load --allow-older`).
    Allow,
}

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
    ///
    /// Rollback: with [`Rollback::Refuse`], a bundle built earlier than the
    /// one stored for the same image is refused (policy rule
    /// `store.rollback`, exit 4), so an older, still validly signed bundle
    /// cannot bring back a looser SELinux module or an older SBOM. "Built"
    /// is the signed build time (the provenance's `finishedOn`, bound by the
    /// release statement); the tar mtime is unsigned and never used. A
    /// bundle without a signed build time does not replace one that has it.
    pub fn add(&self, source: &Path, verified: &Verified<Bundle>, rollback: Rollback) -> Result<StoredBundle, Error> {
        let dir = self.root.join("sha256");
        create_dir(&self.root, 0o755)?;
        create_dir(&dir, 0o755)?;
        let dest = self.path_for(&verified.image.digest);
        if rollback == Rollback::Refuse {
            self.refuse_rollback(&dest, verified)?;
        }
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

    fn refuse_rollback(&self, dest: &Path, new: &Verified<Bundle>) -> Result<(), Error> {
        let old = match File::open(dest) {
            Ok(f) => match read_bundle_file(&f, &mut NoExtract) {
                Ok(b) => b,
                // A stored file that no longer reads is no bundle to protect.
                Err(_) => return Ok(()),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("opening", dest, e)),
        };
        let built = |b: &Bundle| Facts::gather(b).build_time;
        let refuse = |reason: String| {
            Err(Error::PolicyRejection {
                rule: "store.rollback".into(),
                reason: format!(
                    "{reason}; not replacing {} (ct load --allow-older to force)",
                    dest.display()
                ),
            })
        };
        match (built(&old), built(new)) {
            (Ok(was), Ok(now)) if now < was => refuse(format!(
                "this bundle was built {} but the stored one for the same image {}",
                format_rfc3339(now),
                format_rfc3339(was)
            )),
            (Ok(was), Err(_)) => refuse(format!(
                "the stored bundle for the same image has a signed build time ({}) and this one has none",
                format_rfc3339(was)
            )),
            _ => Ok(()),
        }
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
    use cerro_core::image::source::SourceImage;
    use cerro_core::testing::{manifest_for, one_file_image};
    use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};

    /// A bundle of the one-layer image, with a provenance built at `finished`
    /// (RFC 3339) if given, verified.
    fn built(dir: &Path, name: &str, finished: Option<&str>) -> (std::path::PathBuf, Verified<Bundle>) {
        built_of(dir, b"same image\n", name, finished)
    }

    /// [`built`] of an image whose one file says `text`.
    fn built_of(dir: &Path, text: &[u8], name: &str, finished: Option<&str>) -> (std::path::PathBuf, Verified<Bundle>) {
        let layout = dir.join(format!("layout-{}", text.len()));
        let (image, manifest) = if layout.exists() {
            let image = SourceImage::open(&format!("oci:{}:1", layout.display())).unwrap();
            let manifest = manifest_for(&image, "motd", "1");
            (image, manifest)
        } else {
            one_file_image(&layout, ("etc/motd", text), "/bin/true", "1", ("motd", "1"))
        };
        let extra: Vec<(String, Vec<u8>)> = finished
            .map(|t| {
                let st = serde_json::json!({
                    "_type": cerro_core::statement::STATEMENT_TYPE,
                    "subject": [cerro_core::statement::Subject::sha256("motd", &image.manifest.digest)],
                    "predicateType": cerro_core::statement::SLSA_PROVENANCE_V1,
                    "predicate": {"runDetails": {"metadata": {"finishedOn": t}}},
                });
                (
                    cerro_core::statement::PROVENANCE_PATH.to_owned(),
                    cerro_core::jcs::to_vec(&st).unwrap(),
                )
            })
            .into_iter()
            .collect();
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let path = dir.join(name);
        cerro_core::pack::PackRequest {
            image: &image,
            manifest: &manifest,
            keys: std::slice::from_ref(&key),
            mtime: 0,
            selinux: &[],
            extra: &extra,
            diff_ids: &cerro_core::pack::LayerDiffIds::of_uncompressed(&image).unwrap(),
        }
        .write(&mut File::create(&path).unwrap())
        .unwrap();
        let mut t = TrustStore::new();
        t.insert(KeyEntry::new("k", key.verifying_key(), TrustLevel::Full))
            .unwrap();
        let v = cerro_core::verify::verify(
            read_bundle_file(&File::open(&path).unwrap(), &mut NoExtract).unwrap(),
            &t,
            &cerro_core::policy_interface::NoPolicy,
            1,
        )
        .unwrap();
        (path, v)
    }

    #[test]
    fn an_older_bundle_for_the_same_image_does_not_replace_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = BundleStore::new(dir.path().join("store"));
        let (new, v_new) = built(dir.path(), "new.ctp", Some("2026-06-01T00:00:00Z"));
        let (old, v_old) = built(dir.path(), "old.ctp", Some("2025-01-01T00:00:00Z"));
        let (undated, v_undated) = built(dir.path(), "undated.ctp", None);
        assert_eq!(v_new.image, v_old.image);
        let stored = store.add(&new, &v_new, Rollback::Refuse).unwrap();
        let keep = fs::read(&stored.path).unwrap();
        for (path, v) in [(&old, &v_old), (&undated, &v_undated)] {
            let e = store.add(path, v, Rollback::Refuse).unwrap_err();
            assert_eq!(e.exit_code(), cerro_core::ExitCode::PolicyRejection, "{e}");
            assert!(e.to_string().contains("store.rollback"), "{e}");
            assert_eq!(fs::read(&stored.path).unwrap(), keep, "the newer bundle stays");
        }
        // A newer or equally new one replaces it; the operator may force.
        store.add(&new, &v_new, Rollback::Refuse).unwrap();
        store.add(&old, &v_old, Rollback::Allow).unwrap();
        assert_eq!(fs::read(&stored.path).unwrap(), fs::read(&old).unwrap());
        store.add(&new, &v_new, Rollback::Refuse).unwrap();
    }

    #[test]
    fn a_bundle_swapped_after_verification_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (a, v) = built_of(dir.path(), b"verified\n", "a.ctp", None);
        let (b, _) = built_of(dir.path(), b"swapped in later\n", "b.ctp", None);
        // Between the check and the copy, the file at the path changes.
        fs::copy(&b, &a).unwrap();
        let store = BundleStore::new(dir.path().join("store"));
        let e = store.add(&a, &v, Rollback::Refuse).unwrap_err();
        assert_eq!(e.exit_code(), cerro_core::ExitCode::Malformed, "{e}");
        assert!(e.to_string().contains("changed after it was verified"), "{e}");
        assert!(store.list().unwrap().is_empty());
        assert!(!store.path_for(&v.image.digest).exists());
    }
}
