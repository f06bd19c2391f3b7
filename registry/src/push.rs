//! `ct push`: a bundle into a registry as an OCI image plus a referrer
//! artifact holding the bundle's other members.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use cerro_core::bundle::{
    blob_path, read_bundle_file, Bundle, NoExtract, ATTESTATIONS_PREFIX, MANIFEST_PATH, SELINUX_PREFIX,
    TRANSPARENCY_PREFIX,
};
use cerro_core::digest::Digest;
use cerro_core::image::{MT_OCI_INDEX, MT_OCI_MANIFEST};
use cerro_core::rebuild::REBUILDS_PREFIX;
use cerro_core::{jcs, Error as CoreError};
use oci_client::RegistryOperation;
use serde_json::{json, Value};

use crate::client::Registry;
use crate::error::Error;
use futures_util::{StreamExt, TryStreamExt};

use crate::fetch::PARALLEL;
use crate::{
    fallback_tag, ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, MT_CIL, MT_DSSE, MT_REBUILD, MT_TLOG_PROOF, MT_TOML, TITLE,
};

/// What a push stored.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The image manifest digest (what `REF` now resolves to): of a
    /// multi-platform bundle, the image index.
    pub image: Digest,
    /// The platform manifests pushed with an image index, in index order
    /// (empty for a single image).
    pub platforms: Vec<(cerro_core::image::Platform, Digest)>,
    /// The artifact manifest digest.
    pub artifact: Digest,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs the registry already had.
    pub skipped: usize,
}

/// One artifact layer: a bundle member that the image does not determine.
pub(crate) struct Layer {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The media type an artifact layer gets, from its bundle path.
pub(crate) fn layer_media_type(path: &str) -> Option<&'static str> {
    if path == MANIFEST_PATH {
        Some(MT_TOML)
    } else if path.starts_with(ATTESTATIONS_PREFIX) {
        Some(MT_DSSE)
    } else if path.starts_with(SELINUX_PREFIX) {
        Some(MT_CIL)
    } else if path.starts_with(TRANSPARENCY_PREFIX) {
        Some(MT_TLOG_PROOF)
    } else if path.starts_with(REBUILDS_PREFIX) {
        // Added after the release signature by rebuilders (spec/bundle-format.md
        // §3.5; of one platform or of the whole): carried like the proofs, so a bundle moved through a registry
        // keeps what a `rebuilt_by` policy asks for.
        Some(MT_REBUILD)
    } else {
        None
    }
}

/// The artifact's config: what, besides the image and the layers, the
/// deterministic writer needs to rebuild the same bytes.
pub(crate) fn artifact_config(bundle: &Bundle) -> Result<Vec<u8>, CoreError> {
    jcs::to_vec(&json!({
        "format": "1",
        "mtime": bundle.mtime,
        "reference": bundle.reference,
    }))
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of(bytes).to_string(), "size": bytes.len()})
}

/// The artifact manifest (RFC 8785): an OCI image manifest with
/// `artifactType` and `subject`, so registries index it as a referrer.
pub(crate) fn artifact_manifest(bundle: &Bundle, config: &[u8], layers: &[Layer]) -> Result<Vec<u8>, CoreError> {
    let mut ls = Vec::with_capacity(layers.len());
    for l in layers {
        let mt = layer_media_type(&l.path)
            .ok_or_else(|| CoreError::malformed("bundle", format!("{} is not an artifact member", l.path)))?;
        let mut d = descriptor(mt, &l.bytes);
        d["annotations"] = json!({ TITLE: l.path });
        ls.push(d);
    }
    jcs::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, config),
        "layers": ls,
        "subject": {
            "mediaType": bundle.image.media_type,
            "digest": bundle.image.digest.to_string(),
            "size": bundle.image.size,
        },
    }))
}

/// The referrers fallback index after adding `added` (in order): other
/// referrers (signatures of other tools, an earlier push's Sigstore
/// bundles) are kept, one entry a digest; an earlier Cerro Torre bundle of
/// the same image is replaced when a new one is added, so the tag names the
/// newest one.
pub(crate) fn merge_fallback_index(existing: Option<&[u8]>, added: &[Value]) -> Result<Vec<u8>, CoreError> {
    let mut manifests: Vec<Value> = match existing {
        Some(bytes) => {
            let v: Value = serde_json::from_slice(bytes)
                .map_err(|e| CoreError::malformed("referrers fallback index", e.to_string()))?;
            v.get("manifests")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        }
        None => Vec::new(),
    };
    let ours = |m: &Value| m.get("artifactType").and_then(Value::as_str) == Some(ARTIFACT_TYPE);
    let replaces_bundle = added.iter().any(ours);
    let is_added = |m: &Value| added.iter().any(|a| m.get("digest") == a.get("digest"));
    manifests.retain(|m| !(is_added(m) || replaces_bundle && ours(m)));
    manifests.extend(added.iter().cloned());
    jcs::to_vec(&json!({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": manifests}))
}

/// Each member's data offset and size, from one pass over the tar headers.
fn member_offsets(file: &File, path: &Path) -> Result<HashMap<String, (u64, u64)>, CoreError> {
    let mut ar = tar::Archive::new(file);
    let mut out = HashMap::new();
    let entries = ar.entries_with_seek().map_err(|e| CoreError::io("reading", path, e))?;
    for e in entries {
        let e = e.map_err(|e| CoreError::io("reading", path, e))?;
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        out.insert(name, (e.raw_file_position(), e.size()));
    }
    Ok(out)
}

/// Reads a small member at its offset and checks it against the digest the
/// bundle reader computed: the file must not have changed since.
fn read_member(
    file: &File,
    path: &Path,
    offsets: &HashMap<String, (u64, u64)>,
    name: &str,
    want: &Digest,
) -> Result<Vec<u8>, CoreError> {
    let (off, size) = *offsets
        .get(name)
        .ok_or_else(|| CoreError::malformed(path.display().to_string(), format!("no member {name}")))?;
    let mut buf = vec![0u8; usize::try_from(size).map_err(|_| CoreError::malformed(name, "too large"))?];
    file.read_exact_at(&mut buf, off)
        .map_err(|e| CoreError::io("reading", path, e))?;
    let actual = Digest::of(&buf);
    if actual != *want {
        return Err(CoreError::DigestMismatch {
            what: format!("{}:{name} (changed while pushing?)", path.display()),
            expected: *want,
            actual,
        });
    }
    Ok(buf)
}

/// Pushes the bundle at `path` to `reg`'s reference. The bundle is read and
/// checked first (structure and every digest, not signatures: a registry is
/// storage, and `fetch` verifies). Blobs the registry has are not sent.
pub fn push(path: &Path, reg: &Registry) -> Result<Pushed, Error> {
    push_signed(path, reg, &|_, _| Ok(ImageSignatures::default()))
}

/// Image signatures for `cosign verify --key`, made by the caller
/// (`ct push --sign`), which keeps the keys.
#[derive(Debug, Default)]
pub struct ImageSignatures {
    /// cosign's sign statement ([`crate::cosign::sign_statement`]) signed
    /// with ECDSA P-256 keys: Sigstore bundle referrers.
    pub sigstore: Vec<cerro_core::dsse::Envelope>,
    /// (simple-signing payload ([`crate::cosign::simple_signing_payload`]),
    /// signature) pairs, for keys cosign verifies only in the legacy
    /// layout (Ed25519): layers of the `sha256-<hex>.sig` tag.
    pub legacy: Vec<(Vec<u8>, Vec<u8>)>,
}

/// [`push`], also publishing the image signatures `sign` makes for the
/// bundle's image manifest digest and the repository (`registry/repository`,
/// cosign's `docker-reference`): Sigstore bundle referrers and `.sig` tag
/// layers `cosign verify --key` reads. The keys stay with the caller.
pub fn push_signed(
    path: &Path,
    reg: &Registry,
    sign: &dyn Fn(&Digest, &str) -> Result<ImageSignatures, CoreError>,
) -> Result<Pushed, Error> {
    let file = File::open(path).map_err(|e| CoreError::io("opening", path, e))?;
    let bundle = read_bundle_file(&file, &mut NoExtract)?;
    let repository = format!("{}/{}", reg.reference.resolve_registry(), reg.reference.repository());
    let ImageSignatures {
        sigstore: signatures,
        legacy,
    } = sign(&bundle.image.digest, &repository)?;
    let offsets = member_offsets(&file, path)?;
    let manifest_bytes = read_member(
        &file,
        path,
        &offsets,
        &blob_path(&bundle.image.digest),
        &bundle.image.digest,
    )?;
    // A multi-platform bundle (spec/bundle-format.md §15.1): every platform
    // manifest is pushed by digest before the index names it (a registry
    // refuses an index naming a manifest it lacks), and every platform's
    // config and layers before its manifest.
    let mut platform_manifests = Vec::with_capacity(bundle.platforms.len());
    for p in &bundle.platforms {
        let bytes = read_member(
            &file,
            path,
            &offsets,
            &blob_path(&p.manifest.digest),
            &p.manifest.digest,
        )?;
        platform_manifests.push((&p.manifest, bytes));
    }
    let mut layers = Vec::new();
    for m in &bundle.members {
        if layer_media_type(&m.path).is_some() {
            layers.push(Layer {
                path: m.path.clone(),
                bytes: read_member(&file, path, &offsets, &m.path, &m.digest)?,
            });
        }
    }
    let config = artifact_config(&bundle)?;
    let artifact = artifact_manifest(&bundle, &config, &layers)?;
    let artifact_digest = Digest::of(&artifact);

    let image_target = match reg.reference.digest() {
        Some(d) if d != bundle.image.digest.to_string() => {
            return Err(Error::BadReference {
                reference: reg.shown.clone(),
                reason: format!("names {d}, but the bundle's image is {}", bundle.image.digest),
            })
        }
        Some(_) => reg.at_digest(&bundle.image.digest),
        None => reg.reference.clone(),
    };

    reg.block_on(async {
        reg.authorize(RegistryOperation::Push).await?;
        // Config and layers: the image's, or every platform's, each once.
        let mut blobs: Vec<&cerro_core::image::BlobRef> = Vec::new();
        let images: Vec<&cerro_core::image::ImageParts> = if bundle.platforms.is_empty() {
            vec![&bundle.parts]
        } else {
            bundle.platforms.iter().map(|p| &p.parts).collect()
        };
        for parts in images {
            for b in parts.blobs() {
                if !blobs.iter().any(|o| o.digest == b.digest) {
                    blobs.push(b);
                }
            }
        }
        let mut spans = Vec::with_capacity(blobs.len());
        for blob in &blobs {
            let (off, size) = *offsets
                .get(&blob_path(&blob.digest))
                .ok_or_else(|| CoreError::malformed(path.display().to_string(), format!("no blob {}", blob.digest)))?;
            spans.push((blob.digest, off, size));
        }
        let progress = reg.progress();
        progress.start("pushing", spans.iter().map(|s| s.2).sum());
        let sent: Vec<bool> = futures_util::stream::iter(spans)
            .map(|(digest, off, size)| async move {
                if reg.blob_exists(&digest).await? {
                    progress.advance(size);
                    return Ok::<_, Error>(false);
                }
                reg.push_file_range(path, off, size, &digest).await?;
                Ok(true)
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        progress.finish();
        let mut uploaded = sent.iter().filter(|s| **s).count();
        let mut skipped = sent.len() - uploaded;
        for (m, bytes) in &platform_manifests {
            reg.push_manifest(&reg.at_digest(&m.digest), bytes, &m.media_type)
                .await?;
        }
        reg.push_manifest(&image_target, &manifest_bytes, &bundle.image.media_type)
            .await?;

        for bytes in std::iter::once(config.as_slice()).chain(layers.iter().map(|l| l.bytes.as_slice())) {
            let d = Digest::of(bytes);
            if reg.blob_exists(&d).await? {
                skipped += 1;
            } else {
                reg.push_bytes(bytes, &d).await?;
                uploaded += 1;
            }
        }
        reg.push_manifest(&reg.at_digest(&artifact_digest), &artifact, MT_OCI_MANIFEST)
            .await?;

        // Registries without the referrers API (distribution 2.8) find the
        // artifact through this tag; on the others it is harmless.
        let tag = reg.at_tag(&fallback_tag(&bundle.image.digest));
        let existing = reg.pull_manifest(&tag, &[MT_OCI_INDEX]).await?;
        let mut desc = descriptor(MT_OCI_MANIFEST, &artifact);
        desc["artifactType"] = json!(ARTIFACT_TYPE);
        let mut added = vec![desc];

        // What cosign reads (crate::cosign): Sigstore bundle referrers for
        // the P-256 signatures, and the legacy `.att` tag, whose layers
        // others put there are kept.
        let referrers = crate::cosign::sigstore_referrers(&bundle, &signatures)?;
        if !referrers.is_empty() && !reg.blob_exists(&Digest::of(crate::cosign::EMPTY)).await? {
            reg.push_bytes(crate::cosign::EMPTY, &Digest::of(crate::cosign::EMPTY))
                .await?;
        }
        for r in &referrers {
            let d = Digest::of(&r.bundle);
            if !reg.blob_exists(&d).await? {
                reg.push_bytes(&r.bundle, &d).await?;
            }
            let m = Digest::of(&r.manifest);
            reg.push_manifest(&reg.at_digest(&m), &r.manifest, MT_OCI_MANIFEST)
                .await?;
            let mut desc = descriptor(MT_OCI_MANIFEST, &r.manifest);
            desc["artifactType"] = json!(crate::cosign::SIGSTORE_BUNDLE_TYPE);
            added.push(desc);
        }
        let index = merge_fallback_index(existing.as_deref(), &added)?;
        reg.push_manifest(&tag, &index, MT_OCI_INDEX).await?;

        let att_tag = reg.at_tag(&crate::cosign::attestation_tag(&bundle.image.digest));
        let existing = reg.pull_manifest(&att_tag, &[MT_OCI_MANIFEST]).await?;
        let (att_manifest, att_config) = crate::cosign::attestation_image(&bundle, existing.as_deref())?;
        let envelopes: Vec<Vec<u8>> = bundle
            .attestations
            .iter()
            .map(|a| a.envelope.to_bytes())
            .collect::<Result<_, _>>()?;
        for bytes in std::iter::once(&att_config).chain(envelopes.iter()) {
            let d = Digest::of(bytes);
            if !reg.blob_exists(&d).await? {
                reg.push_bytes(bytes, &d).await?;
            }
        }
        reg.push_manifest(&att_tag, &att_manifest, MT_OCI_MANIFEST).await?;

        if !legacy.is_empty() {
            let sig_tag = reg.at_tag(&crate::cosign::signature_tag(&bundle.image.digest));
            let existing = reg.pull_manifest(&sig_tag, &[MT_OCI_MANIFEST]).await?;
            let (sig_manifest, sig_config) = crate::cosign::signature_image(existing.as_deref(), &legacy)?;
            for bytes in std::iter::once(&sig_config).chain(legacy.iter().map(|(p, _)| p)) {
                let d = Digest::of(bytes);
                if !reg.blob_exists(&d).await? {
                    reg.push_bytes(bytes, &d).await?;
                }
            }
            reg.push_manifest(&sig_tag, &sig_manifest, MT_OCI_MANIFEST).await?;
        }
        Ok(Pushed {
            image: bundle.image.digest,
            platforms: bundle
                .platforms
                .iter()
                .map(|p| (p.platform.clone(), p.manifest.digest))
                .collect(),
            artifact: artifact_digest,
            uploaded,
            skipped,
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fallback_index_keeps_other_referrers_and_replaces_ours() {
        let sig = json!({"mediaType": MT_OCI_MANIFEST, "digest": Digest::of(b"sig").to_string(), "size": 3, "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"});
        let old = json!({"mediaType": MT_OCI_MANIFEST, "digest": Digest::of(b"old").to_string(), "size": 3, "artifactType": ARTIFACT_TYPE});
        let new = json!({"mediaType": MT_OCI_MANIFEST, "digest": Digest::of(b"new").to_string(), "size": 3, "artifactType": ARTIFACT_TYPE});
        let bundle = json!({"mediaType": MT_OCI_MANIFEST, "digest": Digest::of(b"sb").to_string(), "size": 2, "artifactType": crate::cosign::SIGSTORE_BUNDLE_TYPE});
        let first = merge_fallback_index(None, std::slice::from_ref(&old)).unwrap();
        let existing =
            jcs::to_vec(&json!({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": [sig, old, bundle]}))
                .unwrap();
        // Ours replaced, a Sigstore bundle re-added once, the others kept.
        let merged: Value =
            serde_json::from_slice(&merge_fallback_index(Some(&existing), &[new.clone(), bundle.clone()]).unwrap())
                .unwrap();
        assert_eq!(merged["manifests"], json!([sig, new, bundle]));
        // Adding a Sigstore bundle alone keeps the Cerro Torre bundle.
        let merged: Value = serde_json::from_slice(
            &merge_fallback_index(
                Some(&serde_json::to_vec(&merged).unwrap()),
                std::slice::from_ref(&bundle),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(merged["manifests"], json!([sig, new, bundle]));
        let first: Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(first["manifests"], json!([old]));
        assert_eq!(first["mediaType"], MT_OCI_INDEX);
    }

    /// notation 1.3.2's entry, as it writes it into the fallback index
    /// (integration/tests/notation.rs runs the real one): kept as it is,
    /// annotations included, when ct replaces its own bundle beside it.
    #[test]
    fn fallback_index_keeps_a_notation_signature_entry_as_written() {
        let notation = json!({
            "mediaType": MT_OCI_MANIFEST,
            "digest": Digest::of(b"notation").to_string(),
            "size": 728,
            "annotations": {
                "io.cncf.notary.x509chain.thumbprint#S256": "[\"c10ee2295163d243d45261c81219298ba66e740e3e9bd8973b04f6a53899cf44\"]",
                "org.opencontainers.image.created": "2026-12-05T10:31:00Z"
            },
            "artifactType": crate::fetch::NOTATION_SIGNATURE_TYPE
        });
        let old = json!({"mediaType": MT_OCI_MANIFEST, "digest": Digest::of(b"old").to_string(), "size": 3, "artifactType": ARTIFACT_TYPE});
        let new = json!({"mediaType": MT_OCI_MANIFEST, "digest": Digest::of(b"new").to_string(), "size": 3, "artifactType": ARTIFACT_TYPE});
        let existing =
            serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": [old, notation]}))
                .unwrap();
        let merged: Value =
            serde_json::from_slice(&merge_fallback_index(Some(&existing), std::slice::from_ref(&new)).unwrap())
                .unwrap();
        assert_eq!(merged["manifests"], json!([notation, new]));
    }

    #[test]
    fn layer_media_types_follow_the_member_path() {
        assert_eq!(layer_media_type("manifest.toml"), Some(MT_TOML));
        assert_eq!(layer_media_type("attestations/release.dsse.json"), Some(MT_DSSE));
        assert_eq!(layer_media_type("selinux/app.cil"), Some(MT_CIL));
        assert_eq!(
            layer_media_type(&cerro_core::bundle::tlog_proof_path("log.example/a")),
            Some(MT_TLOG_PROOF)
        );
        let fp = cerro_core::trust::Fingerprint::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(
            layer_media_type(&cerro_core::rebuild::rebuild_path(&fp)),
            Some(MT_REBUILD)
        );
        assert_eq!(layer_media_type("oci-layout/index.json"), None);
        assert_eq!(layer_media_type("oci-layout/blobs/sha256/00"), None);
    }
}
