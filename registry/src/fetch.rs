//! `ct fetch`: a bundle rebuilt from a registry, byte for byte, in one pass.
//!
//! The small members (image manifest, artifact manifest and its layers) come
//! first and fix every offset of the bundle. The release signature is then
//! checked against the trust store ([`cerro_core::precheck`]) and the image
//! size against [`MAX_IMAGE_BYTES`]: a bundle no trusted key signed costs
//! no layer download. Only then are the config and layers downloaded
//! concurrently, each written straight to its place in the output file and
//! hashed as it arrives ([`cerro_core::bundle::Assembly`]). No temporary
//! layout, no second copy, no second read of the layers.

use std::cell::RefCell;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use cerro_core::bundle::{
    Assembly, Bundle, Member, Skeleton, MAX_ATTESTATION_BYTES, MAX_SELINUX_SIZE, RELEASE_ATTESTATION,
};
use cerro_core::digest::{Digest, Hasher};
use cerro_core::dsse::MAX_ENVELOPE_SIZE;
use cerro_core::fsutil::AtomicFile;
use cerro_core::image::{
    bundle_index, parse_manifest, BlobRef, ImageParts, MANIFEST_TYPES, MT_OCI_MANIFEST, OCI_LAYOUT_FILE,
};
use cerro_core::manifest::MAX_MANIFEST_SIZE;
use cerro_core::trust::TrustStore;
use cerro_core::verify::Verified;
use cerro_core::Error as CoreError;
use futures_util::{StreamExt, TryStreamExt};
use oci_client::RegistryOperation;
use serde_json::Value;

use crate::client::Registry;
use crate::error::Error;
use crate::push::layer_media_type;
use crate::{ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, MT_CIL, MT_DSSE, MT_TOML, TITLE};

/// Largest artifact config accepted.
const MAX_CONFIG: u64 = 64 << 10;

/// Largest image accepted by `ct fetch` and `ct pack docker://`: the sum of
/// the sizes its manifest gives its config and layers, checked before the
/// output file is sized or any of them is requested (64 GiB).
pub const MAX_IMAGE_BYTES: u64 = 64 << 30;

/// Blobs downloaded (or uploaded) at once. Layers are independent requests; on a fast
/// link one stream cannot keep both the network and the hashing busy.
pub(crate) const PARALLEL: usize = 4;

/// A bundle fetched into a temporary file beside the output, read back and
/// structurally checked, its release signature prechecked, but not yet
/// verified ([`cerro_core::verify::verify`]). Dropped without
/// [`Pending::commit`], it leaves nothing.
#[derive(Debug)]
pub struct Fetched {
    /// The bundle as assembled and read back.
    pub bundle: Bundle,
    /// The artifact manifest it came from.
    pub artifact: Digest,
    /// The rebuilt file, not yet at the output path.
    pub pending: Pending,
}

/// The rebuilt bundle file waiting beside the output path.
#[derive(Debug)]
pub struct Pending {
    file: AtomicFile,
    /// What was written: the image it carries, every member's path, size
    /// and digest, and the mtime of their (canonical) headers: together,
    /// every byte of the file.
    image: Digest,
    members: Vec<Member>,
    mtime: u64,
}

impl Pending {
    /// Moves the bundle to the output path. It takes the proof that this
    /// very bundle was verified: a [`Verified`] bundle whose image and
    /// members (path, size, digest) and mtime, hence every byte of the file,
    /// are the ones written, so an unverified or another bundle cannot be
    /// committed.
    pub fn commit(self, verified: &Verified<Bundle>) -> Result<(), Error> {
        if verified.image.digest != self.image || verified.members != self.members || verified.mtime != self.mtime {
            return Err(CoreError::malformed(
                self.file.temp_path().display().to_string(),
                format!(
                    "not committed: the verified bundle (image {}) is not the one fetched (image {})",
                    verified.image.digest, self.image
                ),
            )
            .into());
        }
        Ok(self.file.commit_unsynced()?)
    }
}

/// What the artifact contributes to the rebuilt bundle.
struct ArtifactParts {
    manifest_toml: Option<Vec<u8>>,
    attestations: Vec<(String, Vec<u8>)>,
    selinux: Vec<(String, Vec<u8>)>,
    mtime: u64,
    reference: Option<String>,
}

fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Error {
    CoreError::malformed(what, reason).into()
}

/// Fetches `reg`'s reference into a temporary file beside `output`.
/// Before any image blob is requested, the release envelope must pass
/// [`cerro_core::precheck::release_signed`] against `trust` at unix time
/// `now` (else [`Error::Refused`]) and the image must be at most
/// [`MAX_IMAGE_BYTES`]. `on_temp` is told the temporary file's path as
/// soon as it exists, so a caller can arrange for its removal should the
/// process be killed.
pub fn fetch(
    reg: &Registry,
    output: &Path,
    trust: &TrustStore,
    now: u64,
    on_temp: &mut dyn FnMut(&Path),
) -> Result<Fetched, Error> {
    let (skeleton, artifact) = reg.block_on(async {
        reg.authorize(RegistryOperation::Pull).await?;
        let (image, manifest_bytes, image_parts) = resolve_image(reg).await?;
        let digest = image.digest;

        let referrers = reg.referrers(&digest, ARTIFACT_TYPE).await?;
        // The fallback tag lists one bundle per image (push replaces it); a
        // referrers API may list several: the last is the most recent push.
        let Some((artifact_digest, artifact_size, _)) = referrers.last().cloned() else {
            return Err(Error::NoBundle {
                reference: reg.shown.clone(),
                digest: digest.to_string(),
                artifact_type: ARTIFACT_TYPE,
            });
        };
        let artifact_bytes = reg
            .pull_manifest(&reg.at_digest(&artifact_digest), &[MT_OCI_MANIFEST])
            .await?
            .ok_or_else(|| Error::Network {
                op: "pulling artifact",
                target: artifact_digest.to_string(),
                message: "listed as a referrer but absent".into(),
            })?;
        if artifact_bytes.len() as u64 != artifact_size {
            return Err(CoreError::SizeMismatch {
                what: format!("artifact manifest {artifact_digest}"),
                expected: artifact_size,
                actual: artifact_bytes.len() as u64,
            }
            .into());
        }
        let parts = pull_artifact(reg, &artifact_digest, &artifact_bytes, &image, &|release| {
            cerro_core::precheck::release_signed(release, &image.digest, trust, now)
                .map(|_| ())
                .map_err(Error::Refused)
        })
        .await?;
        let manifest_toml = parts
            .manifest_toml
            .ok_or_else(|| malformed(format!("artifact {artifact_digest}"), "no manifest.toml layer"))?;
        check_image_size(&image, &image_parts)?;
        let skeleton = Skeleton {
            manifest_toml,
            attestations: parts.attestations,
            selinux: parts.selinux,
            image,
            reference: parts.reference,
            manifest_bytes,
            mtime: parts.mtime,
        };
        Ok::<_, Error>((skeleton, artifact_digest))
    })?;

    let mut out = AtomicFile::create(output, 0o644)?;
    on_temp(out.temp_path());
    let asm = Assembly::start(&skeleton, out.file(), &format!("from {}", reg.shown))?;
    let asm = reg.block_on(download_all(reg, asm))?;
    let bundle = asm.finish()?;
    let pending = Pending {
        file: out,
        image: bundle.image.digest,
        members: bundle.members.clone(),
        mtime: bundle.mtime,
    };
    Ok(Fetched {
        bundle,
        artifact,
        pending,
    })
}

/// Refuses an image whose config and layers add up to more than
/// [`MAX_IMAGE_BYTES`] (before any file is sized for them).
fn check_image_size(image: &BlobRef, parts: &ImageParts) -> Result<(), Error> {
    let total = parts
        .blobs()
        .iter()
        .try_fold(0u64, |sum, b| sum.checked_add(b.size))
        .unwrap_or(u64::MAX);
    if total > MAX_IMAGE_BYTES {
        return Err(malformed(
            format!("image manifest {}", image.digest),
            format!("its config and layers add up to {total} bytes, more than the {MAX_IMAGE_BYTES} accepted"),
        ));
    }
    Ok(())
}

/// Downloads every config and layer blob into the assembly, [`PARALLEL`]
/// at a time, reporting progress as bytes arrive.
async fn download_all(reg: &Registry, asm: Assembly) -> Result<Assembly, Error> {
    let blobs: Vec<BlobRef> = asm.blobs().cloned().collect();
    let progress = reg.progress();
    progress.start("fetching", blobs.iter().map(|b| b.size).sum());
    let asm = RefCell::new(asm);
    futures_util::stream::iter(blobs.iter().enumerate())
        .map(|(i, blob)| {
            let asm = &asm;
            reg.download(blob, move |data| {
                let mut a = asm.borrow_mut();
                a.write(i, data)?;
                progress.advance(data.len() as u64);
                Ok(a.received(i))
            })
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    progress.finish();
    Ok(asm.into_inner())
}

/// Resolves the reference to its image manifest: (descriptor, bytes, parts).
async fn resolve_image(reg: &Registry) -> Result<(BlobRef, Vec<u8>, ImageParts), Error> {
    let manifest_bytes = reg
        .pull_manifest(&reg.reference, MANIFEST_TYPES)
        .await?
        .ok_or_else(|| Error::Network {
            op: "resolving",
            target: reg.shown.clone(),
            message: "no such manifest in the registry".into(),
        })?;
    let digest = Digest::of(&manifest_bytes);
    let declared = cerro_core::image::declared_media_type(&format!("image manifest {digest}"), &manifest_bytes)?;
    let image = BlobRef {
        media_type: declared.unwrap_or_else(|| MT_OCI_MANIFEST.to_owned()),
        digest,
        size: manifest_bytes.len() as u64,
    };
    let parts = parse_manifest(&format!("image manifest {digest}"), &manifest_bytes, &image.media_type)?;
    Ok((image, manifest_bytes.to_vec(), parts))
}

/// Pulls the image `reg` names (no bundle needed) into the OCI layout
/// directory `dir`, named `ref_name` in its index: what `ct pack docker://`
/// packs. Blobs are downloaded concurrently and hashed as they stream to
/// disk; one that is not what its digest says is refused.
pub fn pull_image(reg: &Registry, dir: &Path, ref_name: &str) -> Result<BlobRef, Error> {
    let blobs_dir = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs_dir).map_err(|e| CoreError::io("creating", &blobs_dir, e))?;
    let image = reg.block_on(async {
        reg.authorize(RegistryOperation::Pull).await?;
        let (image, bytes, parts) = resolve_image(reg).await?;
        check_image_size(&image, &parts)?;
        let path = blobs_dir.join(image.digest.hex());
        fs::write(&path, &bytes).map_err(|e| CoreError::io("writing", &path, e))?;
        download_to_files(reg, &blobs_dir, &parts).await?;
        Ok::<_, Error>(image)
    })?;
    fs::write(dir.join("index.json"), bundle_index(&image, Some(ref_name))?)
        .map_err(|e| CoreError::io("writing", dir.join("index.json"), e))?;
    fs::write(dir.join("oci-layout"), OCI_LAYOUT_FILE)
        .map_err(|e| CoreError::io("writing", dir.join("oci-layout"), e))?;
    Ok(image)
}

/// Streams each config and layer blob into `blobs_dir/<hex>.part`, hashing
/// it as it goes, and gives it its digest name only once it matched.
async fn download_to_files(reg: &Registry, blobs_dir: &Path, parts: &ImageParts) -> Result<(), Error> {
    let blobs: Vec<BlobRef> = parts.blobs().into_iter().cloned().collect();
    let progress = reg.progress();
    progress.start("pulling", blobs.iter().map(|b| b.size).sum());
    futures_util::stream::iter(blobs.iter())
        .map(|blob| async move {
            let part = blobs_dir.join(format!("{}.part", blob.digest.hex()));
            let file = fs::File::create(&part).map_err(|e| CoreError::io("creating", &part, e))?;
            let state = RefCell::new((file, Hasher::new()));
            reg.download(blob, |data| {
                let (file, hasher) = &mut *state.borrow_mut();
                hasher.update(data);
                file.write_all(data).map_err(|e| CoreError::io("writing", &part, e))?;
                progress.advance(data.len() as u64);
                Ok(hasher.len())
            })
            .await?;
            let (actual, _) = state.into_inner().1.finish();
            if actual != blob.digest {
                return Err(Error::from(CoreError::DigestMismatch {
                    what: format!("blob {} from {}", blob.digest, reg.shown),
                    expected: blob.digest,
                    actual,
                }));
            }
            let name = blobs_dir.join(blob.digest.hex());
            fs::rename(&part, &name).map_err(|e| CoreError::io("renaming", &part, e))?;
            Ok(())
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    progress.finish();
    Ok(())
}

/// What `fetch` asks of the release envelope (its bytes, `None` if absent)
/// before it downloads anything else.
type ReleaseCheck<'a> = dyn Fn(Option<&[u8]>) -> Result<(), Error> + 'a;

/// Checks the artifact manifest and pulls its config and layers (all small,
/// each bounded before it is downloaded): the release envelope first, which
/// `check_release` must accept (it is given `None` if there is none) before
/// any other layer is downloaded.
async fn pull_artifact(
    reg: &Registry,
    digest: &Digest,
    bytes: &[u8],
    image: &BlobRef,
    check_release: &ReleaseCheck<'_>,
) -> Result<ArtifactParts, Error> {
    let what = format!("artifact manifest {digest}");
    // An artifact manifest is an image manifest: one meaning for its bytes
    // (no duplicate, case-variant or index keys), as for the image's own.
    cerro_core::image::strict::check(&what, bytes, cerro_core::image::strict::DocKind::Manifest)?;
    let m: Value = serde_json::from_slice(bytes).map_err(|e| malformed(&what, e.to_string()))?;
    if m.get("artifactType").and_then(Value::as_str) != Some(ARTIFACT_TYPE) {
        return Err(malformed(&what, format!("artifactType is not {ARTIFACT_TYPE}")));
    }
    let subject = m.get("subject").and_then(|s| s.get("digest")).and_then(Value::as_str);
    if subject != Some(image.digest.to_string().as_str()) {
        return Err(malformed(
            &what,
            format!("its subject is not the image {}", image.digest),
        ));
    }
    let (cfg_digest, cfg_size, cfg_type) = parse_descriptor(&what, m.get("config"))?;
    if cfg_type != CONFIG_MEDIA_TYPE || cfg_size > MAX_CONFIG {
        return Err(malformed(
            &what,
            format!("config is not a {CONFIG_MEDIA_TYPE} of at most {MAX_CONFIG} bytes"),
        ));
    }
    let config = reg.download_small(&blob_ref(cfg_digest, cfg_size, cfg_type)).await?;
    let cfg: Value = serde_json::from_slice(&config).map_err(|e| malformed("artifact config", e.to_string()))?;
    if cfg.get("format").and_then(Value::as_str) != Some("1") {
        return Err(malformed(
            "artifact config",
            "unknown format (this ct reads format \"1\")",
        ));
    }
    let mtime = cfg
        .get("mtime")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("artifact config", "no mtime"))?;
    let reference = match cfg.get("reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("artifact config", "reference is neither a string nor null")),
    };

    let mut parts = ArtifactParts {
        manifest_toml: None,
        attestations: Vec::new(),
        selinux: Vec::new(),
        mtime,
        reference,
    };
    let mut total = 0u64;
    let mut wanted = Vec::new();
    let layers = m
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(&what, "no layers"))?;
    for l in layers {
        let (d, size, mt) = parse_descriptor(&what, Some(l))?;
        let title = l
            .get("annotations")
            .and_then(|a| a.get(TITLE))
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(&what, format!("layer {d} has no {TITLE}")))?
            .to_owned();
        let expected_type = layer_media_type(&title)
            .ok_or_else(|| malformed(&what, format!("layer {title:?} is not a bundle member it may carry")))?;
        if mt != expected_type {
            return Err(malformed(
                &what,
                format!("layer {title:?} has media type {mt}, expected {expected_type}"),
            ));
        }
        let limit = match expected_type {
            MT_TOML => MAX_MANIFEST_SIZE,
            MT_DSSE => MAX_ENVELOPE_SIZE,
            MT_CIL => MAX_SELINUX_SIZE,
            _ => 0,
        };
        total = total.saturating_add(size);
        if size > limit || total > MAX_ATTESTATION_BYTES + MAX_MANIFEST_SIZE {
            return Err(malformed(
                &what,
                format!("layer {title:?} claims {size} bytes, more than allowed"),
            ));
        }
        wanted.push((title, blob_ref(d, size, mt), expected_type));
    }
    // The release envelope first: for a bundle no trusted key signed,
    // nothing else is downloaded.
    let mut got: Vec<Option<Vec<u8>>> = vec![None; wanted.len()];
    if let Some(i) = wanted.iter().position(|(title, _, _)| title == RELEASE_ATTESTATION) {
        got[i] = Some(reg.download_small(&wanted[i].1).await?);
    }
    check_release(got.iter().flatten().next().map(Vec::as_slice))?;
    for ((title, blob, expected_type), held) in wanted.into_iter().zip(got) {
        let bytes = match held {
            Some(b) => b,
            None => reg.download_small(&blob).await?,
        };
        match expected_type {
            MT_TOML if parts.manifest_toml.is_none() => parts.manifest_toml = Some(bytes),
            MT_TOML => return Err(malformed(&what, "two manifest.toml layers")),
            MT_DSSE => parts.attestations.push((title, bytes)),
            _ => parts.selinux.push((title, bytes)),
        }
    }
    Ok(parts)
}

fn blob_ref(digest: Digest, size: u64, media_type: String) -> BlobRef {
    BlobRef {
        media_type,
        digest,
        size,
    }
}

fn parse_descriptor(what: &str, d: Option<&Value>) -> Result<(Digest, u64, String), Error> {
    let d = d.ok_or_else(|| malformed(what, "missing descriptor"))?;
    let digest = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(what, "descriptor without digest"))?;
    let digest = Digest::parse(digest)?;
    let size = d
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed(what, "descriptor without size"))?;
    let mt = d
        .get("mediaType")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(what, "descriptor without mediaType"))?;
    Ok((digest, size, mt.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use cerro_core::bundle::{read_bundle_file, NoExtract};
    use cerro_core::image::layout::{basic_config, LayoutBuilder};
    use cerro_core::image::source::SourceImage;
    use cerro_core::manifest::{ImageRef, PackageManifest};
    use cerro_core::policy::NoPolicy;
    use cerro_core::trust::{KeyEntry, TrustLevel};
    use ed25519_dalek::SigningKey;

    use super::*;

    /// Two bundles of one small image, signed by different keys, both
    /// verified against a store trusting both keys.
    fn two_verified(dir: &Path) -> (Vec<u8>, Verified<Bundle>, Verified<Bundle>) {
        let layout = dir.join("layout");
        let mut b = LayoutBuilder::new(&layout).unwrap();
        b.layer_tar(&[("etc/hostname", 0o644, b"cerro\n")]).unwrap();
        b.finish(basic_config(&["/bin/sh"]), Some("app")).unwrap();
        let image = SourceImage::open(&format!("oci:{}:app", layout.display())).unwrap();
        let manifest = PackageManifest::from_draft(
            "[package]\nname = \"app\"\nversion = \"1\"\nsummary = \"a test\"\n",
            ImageRef {
                digest: image.manifest.digest,
                reference: image.reference.clone(),
            },
        )
        .unwrap();
        let (ka, kb) = (SigningKey::from_bytes(&[1; 32]), SigningKey::from_bytes(&[2; 32]));
        let mut trust = TrustStore::new();
        trust
            .insert(KeyEntry::new("a", ka.verifying_key(), TrustLevel::Full))
            .unwrap();
        trust
            .insert(KeyEntry::new("b", kb.verifying_key(), TrustLevel::Full))
            .unwrap();
        let mut packed = Vec::new();
        for (i, key) in [ka, kb].into_iter().enumerate() {
            let path = dir.join(format!("{i}.ctp"));
            let mut out = Vec::new();
            cerro_core::pack::pack(&image, &manifest, &[key], 1_700_000_000, &mut out).unwrap();
            fs::write(&path, &out).unwrap();
            let bundle = read_bundle_file(&fs::File::open(&path).unwrap(), &mut NoExtract).unwrap();
            let verified = cerro_core::verify::verify(bundle, &trust, &NoPolicy, 1_750_000_000).unwrap();
            packed.push((out, verified));
        }
        let (b_, vb) = packed.pop().unwrap();
        let (a, va) = packed.pop().unwrap();
        drop(b_);
        (a, va, vb)
    }

    /// `bytes` waiting at `output`, as `fetch` leaves a bundle.
    fn pending(output: &Path, bytes: &[u8], of: &Bundle) -> Pending {
        let mut file = AtomicFile::create(output, 0o644).unwrap();
        file.file().write_all(bytes).unwrap();
        Pending {
            file,
            image: of.image.digest,
            members: of.members.clone(),
            mtime: of.mtime,
        }
    }

    #[test]
    fn commit_takes_the_proof_of_this_very_bundle() {
        let d = tempfile::tempdir().unwrap();
        let (bytes_a, verified_a, verified_b) = two_verified(d.path());
        assert_eq!(
            verified_a.image.digest, verified_b.image.digest,
            "same image, other bundle"
        );
        let output = d.path().join("out.ctp");

        // The proof of another bundle of the same image is refused, and
        // nothing is left at the output path.
        let e = pending(&output, &bytes_a, &verified_a).commit(&verified_b).unwrap_err();
        assert!(e.to_string().contains("is not the one fetched"), "{e}");
        assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Malformed);
        assert!(!output.exists());
        assert_eq!(
            fs::read_dir(d.path())
                .unwrap()
                .filter(|e| { e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.') })
                .count(),
            0,
            "temporary file left behind"
        );

        // Its own proof commits it.
        pending(&output, &bytes_a, &verified_a).commit(&verified_a).unwrap();
        assert_eq!(fs::read(&output).unwrap(), bytes_a);
    }
}
