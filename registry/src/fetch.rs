//! `ct fetch`: a bundle rebuilt from a registry, byte for byte.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use cerro_core::bundle::{
    read_bundle_file, write_bundle_file, Bundle, BundleContents, NoExtract, MAX_ATTESTATION_BYTES, MAX_SELINUX_SIZE,
};
use cerro_core::digest::Digest;
use cerro_core::dsse::MAX_ENVELOPE_SIZE;
use cerro_core::fsutil::AtomicFile;
use cerro_core::image::source::SourceImage;
use cerro_core::image::{
    bundle_index, parse_manifest, BlobRef, ImageParts, MANIFEST_TYPES, MT_OCI_MANIFEST, OCI_LAYOUT_FILE,
};
use cerro_core::manifest::MAX_MANIFEST_SIZE;
use cerro_core::Error as CoreError;
use oci_client::RegistryOperation;
use serde_json::Value;

use crate::client::Registry;
use crate::error::Error;
use crate::push::layer_media_type;
use crate::{ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, MT_CIL, MT_DSSE, MT_TOML, TITLE};

/// Largest artifact config accepted.
const MAX_CONFIG: u64 = 64 << 10;

/// A bundle fetched and rebuilt into a temporary file beside the output,
/// read back and structurally checked, but not yet verified against any
/// trust store. Dropped without [`Pending::commit`], it leaves nothing.
#[derive(Debug)]
pub struct Fetched {
    /// The bundle as read back from the rebuilt file.
    pub bundle: Bundle,
    /// The artifact manifest it came from.
    pub artifact: Digest,
    /// The rebuilt file, not yet at the output path.
    pub pending: Pending,
}

/// The rebuilt bundle file waiting beside the output path.
#[derive(Debug)]
pub struct Pending(AtomicFile);

impl Pending {
    /// Moves the bundle to the output path (call only once it is verified).
    pub fn commit(self) -> Result<(), Error> {
        Ok(self.0.commit_unsynced()?)
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

/// Fetches `reg`'s reference into a temporary file beside `output`:
/// image blobs are streamed into a temporary OCI layout (next to `output`,
/// removed afterwards), each hashed while written; the bundle is then
/// written by `cerro-core`'s deterministic writer and read back.
pub fn fetch(reg: &Registry, output: &Path) -> Result<Fetched, Error> {
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut layout = tempfile::Builder::new()
        .prefix(".ct-fetch-")
        .tempdir_in(&parent)
        .map_err(|e| CoreError::io("creating a temporary layout in", &parent, e))?;
    if layout.path().to_string_lossy().contains(':') {
        // `oci:DIR` cannot name a directory whose path holds a colon.
        layout = tempfile::Builder::new()
            .prefix(".ct-fetch-")
            .tempdir()
            .map_err(|e| CoreError::io("creating a temporary layout in", std::env::temp_dir(), e))?;
    }
    let dir = layout.path().to_path_buf();
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| CoreError::io("creating", &blobs, e))?;

    let (image, parts, artifact) = reg.block_on(async {
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
        let parts = pull_artifact(reg, &artifact_digest, &artifact_bytes, &image).await?;
        download_image(reg, &blobs, &manifest_bytes, &image_parts).await?;
        Ok::<_, Error>((image, parts, artifact_digest))
    })?;

    let index = bundle_index(&image, parts.reference.as_deref())?;
    fs::write(dir.join("index.json"), index).map_err(|e| CoreError::io("writing", dir.join("index.json"), e))?;
    fs::write(dir.join("oci-layout"), OCI_LAYOUT_FILE)
        .map_err(|e| CoreError::io("writing", dir.join("oci-layout"), e))?;
    let source = SourceImage::open(&format!("oci:{}", dir.display()))?;
    if source.manifest != image {
        return Err(malformed("fetched layout", "image descriptor changed while rebuilding"));
    }
    let manifest_toml = parts
        .manifest_toml
        .ok_or_else(|| malformed(format!("artifact {artifact}"), "no manifest.toml layer"))?;
    let mut out = AtomicFile::create(output, 0o644)?;
    write_bundle_file(
        &BundleContents {
            manifest_toml,
            attestations: parts.attestations,
            selinux: parts.selinux,
            image: &source,
            mtime: parts.mtime,
        },
        out.file(),
    )?;
    let bundle = read_bundle_file(out.file(), &mut NoExtract)?;
    drop(layout);
    Ok(Fetched {
        bundle,
        artifact,
        pending: Pending(out),
    })
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
    let json: Value = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| malformed(format!("image manifest {digest}"), e.to_string()))?;
    let image = BlobRef {
        media_type: json
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(MT_OCI_MANIFEST)
            .to_owned(),
        digest,
        size: manifest_bytes.len() as u64,
    };
    let parts = parse_manifest(&format!("image manifest {digest}"), &manifest_bytes, &image.media_type)?;
    Ok((image, manifest_bytes.to_vec(), parts))
}

/// Streams the image's manifest, config and layers into `blobs`, each
/// hashed while written (a blob that is not what its digest says is refused).
async fn download_image(reg: &Registry, blobs: &Path, manifest_bytes: &[u8], parts: &ImageParts) -> Result<(), Error> {
    let digest = Digest::of(manifest_bytes);
    let manifest_path = blobs.join(digest.hex());
    fs::write(&manifest_path, manifest_bytes).map_err(|e| CoreError::io("writing", &manifest_path, e))?;
    for blob in parts.blobs() {
        let p = blobs.join(blob.digest.hex());
        let mut f = File::create(&p).map_err(|e| CoreError::io("creating", &p, e))?;
        reg.download(&blob.digest, blob.size, &blob.media_type, &mut f).await?;
    }
    Ok(())
}

/// Pulls the image `reg` names (no bundle needed) into the OCI layout
/// directory `dir`, named `ref_name` in its index: what `ct pack docker://`
/// packs. Every blob is hashed while it streams to disk.
pub fn pull_image(reg: &Registry, dir: &Path, ref_name: &str) -> Result<BlobRef, Error> {
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| CoreError::io("creating", &blobs, e))?;
    let image = reg.block_on(async {
        reg.authorize(RegistryOperation::Pull).await?;
        let (image, bytes, parts) = resolve_image(reg).await?;
        download_image(reg, &blobs, &bytes, &parts).await?;
        Ok::<_, Error>(image)
    })?;
    fs::write(dir.join("index.json"), bundle_index(&image, Some(ref_name))?)
        .map_err(|e| CoreError::io("writing", dir.join("index.json"), e))?;
    fs::write(dir.join("oci-layout"), OCI_LAYOUT_FILE)
        .map_err(|e| CoreError::io("writing", dir.join("oci-layout"), e))?;
    Ok(image)
}

/// Checks the artifact manifest and pulls its config and layers (all small,
/// each bounded before it is downloaded).
async fn pull_artifact(reg: &Registry, digest: &Digest, bytes: &[u8], image: &BlobRef) -> Result<ArtifactParts, Error> {
    let what = format!("artifact manifest {digest}");
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
    let mut config = Vec::new();
    reg.download(&cfg_digest, cfg_size, &cfg_type, &mut config).await?;
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
        let mut bytes = Vec::new();
        reg.download(&d, size, &mt, &mut bytes).await?;
        match expected_type {
            MT_TOML if parts.manifest_toml.is_none() => parts.manifest_toml = Some(bytes),
            MT_TOML => return Err(malformed(&what, "two manifest.toml layers")),
            MT_DSSE => parts.attestations.push((title, bytes)),
            _ => parts.selinux.push((title, bytes)),
        }
    }
    Ok(parts)
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
