//! What `ct push` publishes beside its own artifact so that cosign, and the
//! admission controllers that read cosign's layouts (Kyverno, sigstore's
//! policy-controller, Ratify), see a bundle's attestations on the image
//! (spec/interop.md §2.7). The envelopes go out unchanged: the same payload
//! and signature bytes the bundle binds, only wrapped the way each layout
//! wants.
//!
//! - Sigstore bundle v0.3 referrers (what cosign 3 reads first): one per
//!   attestation and ECDSA P-256 signature, artifact type
//!   `application/vnd.dev.sigstore.bundle.v0.3+json`, its one layer a
//!   Sigstore bundle whose `dsseEnvelope` is the envelope with that one
//!   signature (the bundle format allows exactly one) and whose
//!   `verificationMaterial.publicKey.hint` is the key's fingerprint (the
//!   SHA-256 of its DER SubjectPublicKeyInfo, as cosign writes it). Not for
//!   Ed25519 signatures: cosign 3.1's bundle path cannot verify Ed25519
//!   (sigstore/cosign#5074), and a referrer it cannot verify would only be
//!   noise.
//! - The legacy attestation tag `sha256-<hex>.att` (cosign 2, and cosign 3
//!   with `--new-bundle-format=false`): one layer per envelope, as it is in
//!   the bundle (every signature), media type
//!   `application/vnd.dsse.envelope.v1+json`, annotated as cosign
//!   annotates its own. Layers already under the tag (cosign's
//!   attestations, an earlier push) are kept: both tools append.
//! - The legacy signature tag `sha256-<hex>.sig` for `ct push --sign` with
//!   an Ed25519 key ([`signature_image`]): cosign's simple-signing payload,
//!   signed with pure Ed25519, which `cosign verify --key` accepts there
//!   (and not in a Sigstore bundle).
//!
//! And what `ct pack docker://REF --cosign-key K.pub` reads
//! ([`image_signature`]): the image's cosign signatures in both layouts,
//! fetched bounded, each checked by [`cerro_core::cosign_signature::check`].

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cerro_core::bundle::{Bundle, RELEASE_ATTESTATION};
use cerro_core::digest::Digest;
use cerro_core::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use cerro_core::image::MT_OCI_MANIFEST;
use cerro_core::{jcs, Error as CoreError};
use serde_json::{json, Value};

use crate::client::Registry;
use crate::error::Error;
use crate::MT_DSSE;
use cerro_core::cosign_signature::{
    self as cs, Artifact, Checked, Layout, Refusal, COSIGN_SIGN_PREDICATE as SIGN_PREDICATE, MAX_BLOB,
    MAX_LEGACY_LAYERS, MAX_MANIFEST, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_TYPE,
};
use cerro_core::image::{BlobRef, MANIFEST_TYPES};
use cerro_core::key::PublicKey;
use cerro_core::trust::Fingerprint;
use oci_client::RegistryOperation;

/// The artifact type (and layer media type) of a Sigstore bundle v0.3.
pub const SIGSTORE_BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// The OCI empty descriptor's media type and content (image-spec
/// `manifest.md`, "Guidance for an Empty Descriptor").
pub const MT_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// See [`MT_EMPTY`].
pub const EMPTY: &[u8] = b"{}";

/// The config media type of cosign's legacy signature and attestation images.
const MT_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// cosign's signature annotation on a legacy layer (empty for a DSSE
/// envelope, which carries its signatures).
const COSIGN_SIGNATURE: &str = SIGNATURE_ANNOTATION;

/// Most layers the `.att` tag keeps (ours and others'): a tag someone
/// filled beyond it is refused rather than grown without bound.
const MAX_ATT_LAYERS: usize = 256;

/// One Sigstore bundle referrer: its manifest and its one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigstoreReferrer {
    /// The Sigstore bundle (JSON, RFC 8785).
    pub bundle: Vec<u8>,
    /// The referrer manifest (RFC 8785), subject the image.
    pub manifest: Vec<u8>,
}

/// Whether `sig` is an ASN.1 DER `Ecdsa-Sig-Value` (SEQUENCE of two
/// INTEGERs): the encoding ECDSA P-256 signatures have in a bundle, where an
/// Ed25519 signature is 64 raw bytes (spec/bundle-format.md §6.3; which one
/// is known only from the key, which a push does not read: a 64-byte
/// Ed25519 signature that happens to parse as DER would get a referrer
/// cosign cannot verify, nothing worse).
fn is_der_ecdsa(sig: &[u8]) -> bool {
    fn integer(b: &[u8]) -> Option<&[u8]> {
        let (&tag, rest) = b.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let len = usize::from(len);
        (tag == 0x02 && (1..=33).contains(&len) && rest.len() >= len).then(|| &rest[len..])
    }
    match sig {
        [0x30, len, rest @ ..] if usize::from(*len) == rest.len() => {
            integer(rest).and_then(integer).is_some_and(<[u8]>::is_empty)
        }
        _ => false,
    }
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of(bytes).to_string(), "size": bytes.len()})
}

fn subject(bundle: &Bundle) -> Value {
    json!({
        "mediaType": bundle.image.media_type,
        "digest": bundle.image.digest.to_string(),
        "size": bundle.image.size,
    })
}

/// The predicate type of an envelope's payload (empty if it has none).
fn predicate_type(payload: &[u8]) -> String {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("predicateType").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

/// The bundle's attestations, the release first, then by path: the order
/// every layout lists them in.
fn ordered(bundle: &Bundle) -> Vec<&cerro_core::bundle::Attestation> {
    let mut atts: Vec<_> = bundle.attestations.iter().collect();
    atts.sort_by(|a, b| (a.path != RELEASE_ATTESTATION, &a.path).cmp(&(b.path != RELEASE_ATTESTATION, &b.path)));
    atts
}

/// The predicate type of cosign 3's image signature (`cosign sign`): an
/// in-toto statement about the image manifest with an empty predicate.
pub const COSIGN_SIGN_PREDICATE: &str = SIGN_PREDICATE;

/// The statement `cosign sign` signs for `image` (RFC 8785): what `ct push
/// --sign` signs so that `cosign verify --key` accepts the image.
pub fn sign_statement(image: &Digest) -> Result<Vec<u8>, CoreError> {
    jcs::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"digest": {"sha256": image.hex()}}],
        "predicateType": COSIGN_SIGN_PREDICATE,
        "predicate": {},
    }))
}

/// One Sigstore bundle referrer of `bundle`'s image for one signature of
/// `envelope` (whose statement has predicate type `pt`).
fn referrer(
    bundle: &Bundle,
    envelope: &Envelope,
    sig: &cerro_core::dsse::Signature,
    pt: &str,
) -> Result<SigstoreReferrer, CoreError> {
    let hint = hex::decode(&sig.keyid)
        .map_err(|_| CoreError::malformed("envelope", format!("keyid {:?} is not hex", sig.keyid)))?;
    let sb = jcs::to_vec(&json!({
        "mediaType": SIGSTORE_BUNDLE_TYPE,
        "verificationMaterial": {"publicKey": {"hint": B64.encode(hint)}},
        "dsseEnvelope": {
            "payload": B64.encode(&envelope.payload),
            "payloadType": envelope.payload_type,
            "signatures": [{"sig": B64.encode(&sig.sig)}],
        },
    }))?;
    let manifest = jcs::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "artifactType": SIGSTORE_BUNDLE_TYPE,
        "config": descriptor(MT_EMPTY, EMPTY),
        "layers": [descriptor(SIGSTORE_BUNDLE_TYPE, &sb)],
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": pt,
        },
        "subject": subject(bundle),
    }))?;
    Ok(SigstoreReferrer { bundle: sb, manifest })
}

/// The Sigstore bundle referrers of `bundle`: one per attestation and
/// ECDSA P-256 signature, then one per signature of `signatures` (image
/// signatures `ct push --sign` made: each must be a [`sign_statement`] of
/// this image, signed with P-256); deterministic (no creation time).
pub fn sigstore_referrers(bundle: &Bundle, signatures: &[Envelope]) -> Result<Vec<SigstoreReferrer>, CoreError> {
    let mut out = Vec::new();
    for att in ordered(bundle) {
        let pt = predicate_type(&att.envelope.payload);
        for sig in att.envelope.signatures.iter().filter(|s| is_der_ecdsa(&s.sig)) {
            out.push(referrer(bundle, &att.envelope, sig, &pt)?);
        }
    }
    let statement = sign_statement(&bundle.image.digest)?;
    for env in signatures {
        if env.payload != statement || env.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(CoreError::malformed(
                "image signature",
                "not cosign's sign statement for this bundle's image",
            ));
        }
        for sig in &env.signatures {
            if !is_der_ecdsa(&sig.sig) {
                return Err(CoreError::malformed(
                    "image signature",
                    "not an ECDSA P-256 signature: cosign cannot verify others in a Sigstore bundle",
                ));
            }
            out.push(referrer(bundle, env, sig, COSIGN_SIGN_PREDICATE)?);
        }
    }
    Ok(out)
}

/// The legacy `.att` image after adding `bundle`'s envelopes to what the
/// tag holds (`existing`, its manifest, if any): (manifest, config). Layers
/// already there are kept in their order (another tool's, or this bundle's
/// from an earlier push, not repeated); ours follow.
pub fn attestation_image(bundle: &Bundle, existing: Option<&[u8]>) -> Result<(Vec<u8>, Vec<u8>), CoreError> {
    let mut layers: Vec<Value> = match existing {
        Some(bytes) => {
            let v: Value = serde_json::from_slice(bytes)
                .map_err(|e| CoreError::malformed("cosign attestation tag", format!("manifest is not JSON: {e}")))?;
            v.get("layers").and_then(Value::as_array).cloned().unwrap_or_default()
        }
        None => Vec::new(),
    };
    for att in ordered(bundle) {
        let bytes = att.envelope.to_bytes()?;
        let mut d = descriptor(MT_DSSE, &bytes);
        if layers.iter().any(|l| l.get("digest") == d.get("digest")) {
            continue;
        }
        d["annotations"] = json!({
            COSIGN_SIGNATURE: "",
            "predicateType": predicate_type(&att.envelope.payload),
        });
        layers.push(d);
    }
    if layers.len() > MAX_ATT_LAYERS {
        return Err(CoreError::malformed(
            "cosign attestation tag",
            format!("{} layers, more than {MAX_ATT_LAYERS}", layers.len()),
        ));
    }
    image_of_layers("cosign attestation tag", layers)
}

/// The legacy attestation tag of an image: `sha256-<hex>.att`.
pub fn attestation_tag(image: &Digest) -> String {
    format!("sha256-{}.att", image.hex())
}

/// Most Sigstore bundle referrers of one image examined for a signature:
/// a list naming more is refused (which ones to leave out would be the
/// lister's choice).
pub const MAX_SIGNATURE_REFERRERS: usize = 32;

/// The image signature cosign made for `image` with `key` (`key_name`
/// names it in errors), read from the registry: every Sigstore bundle
/// referrer whose manifest says it is a signature (predicate type
/// annotation [`COSIGN_SIGN_PREDICATE`], or none), in digest order, then
/// each simple-signing layer of the `sha256-<hex>.sig` tag, in order; each
/// manifest and layer bounded ([`MAX_MANIFEST`], [`MAX_BLOB`],
/// [`MAX_LEGACY_LAYERS`]) before it is read, then checked by
/// [`cerro_core::cosign_signature::check`]. The first that passes is
/// returned; with none, the most telling refusal
/// ([`cerro_core::cosign_signature::refused`]: 1 a signature of another
/// image, 2 one marked as this key's that does not verify, 3 none by this
/// key, 10 unreadable, 5 none at all).
pub fn image_signature(reg: &Registry, image: &Digest, key: &PublicKey, key_name: &str) -> Result<Checked, Error> {
    let (candidates, mut refusals) = reg.block_on(signature_candidates(reg, image))?;
    for c in candidates {
        match cs::check(c, key, image) {
            Ok(checked) => return Ok(checked),
            Err(r) => refusals.push(r),
        }
    }
    Err(cs::refused(refusals, key_name, &Fingerprint::of(key), image).into())
}

async fn signature_candidates(reg: &Registry, image: &Digest) -> Result<(Vec<Artifact>, Vec<Refusal>), Error> {
    reg.authorize(RegistryOperation::Pull).await?;
    let mut candidates = Vec::new();
    let mut refusals = Vec::new();
    let bad = |what: String, reason: String| Refusal::Malformed(CoreError::malformed(what, reason));
    // cosign 3 lists its referrer in the fallback index with the config's
    // media type (the empty descriptor) as artifactType: read those too.
    let mut listed: Vec<(Digest, u64)> = reg
        .referrers_of(image, None)
        .await?
        .into_iter()
        .filter(|(_, _, mt, at)| {
            mt == MT_OCI_MANIFEST && matches!(at.as_deref(), None | Some(SIGSTORE_BUNDLE_TYPE) | Some(MT_EMPTY))
        })
        .map(|(d, size, _, _)| (d, size))
        .collect();
    listed.sort();
    listed.dedup();
    if listed.len() > MAX_SIGNATURE_REFERRERS {
        return Err(CoreError::malformed(
            format!("referrers of {image}"),
            format!(
                "{} possible signature referrers listed, more than the {MAX_SIGNATURE_REFERRERS} examined",
                listed.len()
            ),
        )
        .into());
    }
    for (digest, size) in listed {
        let what = format!("referrer {digest}");
        if size > MAX_MANIFEST {
            refusals.push(bad(
                what,
                format!("{size} bytes, more than a signature manifest may have"),
            ));
            continue;
        }
        let Some(manifest) = reg.pull_manifest(&reg.at_digest(&digest), &[MT_OCI_MANIFEST]).await? else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&manifest) else {
            refusals.push(bad(what, "not JSON".into()));
            continue;
        };
        // Selection only (unsigned): a Sigstore bundle that says it holds
        // another predicate is an attestation, not a signature.
        let pt = v
            .pointer("/annotations/dev.sigstore.bundle.predicateType")
            .and_then(Value::as_str);
        if v.get("artifactType").and_then(Value::as_str) != Some(SIGSTORE_BUNDLE_TYPE)
            || pt.is_some_and(|p| p != COSIGN_SIGN_PREDICATE)
        {
            continue;
        }
        match layer_blob(reg, &v, 0).await? {
            Ok(blob) => candidates.push(Artifact {
                layout: Layout::SigstoreBundle,
                manifest,
                blob,
                layer: 0,
            }),
            Err(reason) => refusals.push(bad(what, reason)),
        }
    }
    let tag = format!("sha256-{}.sig", image.hex());
    if let Some(manifest) = reg.pull_manifest(&reg.at_tag(&tag), MANIFEST_TYPES).await? {
        let what = format!("tag {tag}");
        let layers = serde_json::from_slice::<Value>(&manifest)
            .ok()
            .and_then(|v| v.get("layers").and_then(Value::as_array).cloned());
        match layers {
            _ if manifest.len() as u64 > MAX_MANIFEST => {
                refusals.push(bad(what, "larger than a signature manifest may be".into()))
            }
            None => refusals.push(bad(what, "not an image manifest with layers".into())),
            Some(l) if l.len() > MAX_LEGACY_LAYERS => refusals.push(bad(
                what,
                format!("{} layers, more than the {MAX_LEGACY_LAYERS} examined", l.len()),
            )),
            Some(l) => {
                let v: Value = serde_json::from_slice(&manifest).unwrap_or_default();
                for (i, layer) in l.iter().enumerate() {
                    if layer.get("mediaType").and_then(Value::as_str) != Some(SIMPLE_SIGNING_TYPE) {
                        continue;
                    }
                    match layer_blob(reg, &v, i).await? {
                        Ok(blob) => candidates.push(Artifact {
                            layout: Layout::LegacyTag,
                            manifest: manifest.clone(),
                            blob,
                            layer: i,
                        }),
                        Err(reason) => refusals.push(bad(format!("{what} layer {i}"), reason)),
                    }
                }
            }
        }
    }
    Ok((candidates, refusals))
}

/// Layer `i` of `manifest`, downloaded (digest-checked) if its descriptor
/// is within [`MAX_BLOB`]; `Ok(Err(reason))` when it cannot be a signature.
async fn layer_blob(reg: &Registry, manifest: &Value, i: usize) -> Result<Result<Vec<u8>, String>, Error> {
    let Some(d) = manifest.get("layers").and_then(|l| l.get(i)) else {
        return Ok(Err(format!("no layer {i}")));
    };
    let digest = d
        .get("digest")
        .and_then(Value::as_str)
        .and_then(|s| Digest::parse(s).ok());
    let size = d.get("size").and_then(Value::as_u64);
    let (Some(digest), Some(size)) = (digest, size) else {
        return Ok(Err(format!("layer {i} has no digest or size")));
    };
    if size > MAX_BLOB {
        return Ok(Err(format!(
            "layer {i}: {size} bytes, more than a signature layer may have"
        )));
    }
    let blob = BlobRef {
        media_type: d
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        digest,
        size,
    };
    Ok(Ok(reg.download_small(&blob).await?))
}

/// The simple-signing payload cosign signs for `image` at `repository`
/// (`registry/repository`): `{"critical": {"identity": {"docker-reference":
/// …}, "image": {"docker-manifest-digest": …}, "type": "cosign container
/// image signature"}, "optional": null}`, byte for byte as cosign writes
/// it (Go's field order, no spaces).
pub fn simple_signing_payload(repository: &str, image: &Digest) -> Result<Vec<u8>, CoreError> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"critical\":{\"identity\":{\"docker-reference\":");
    jcs::write_str(repository, &mut out);
    out.extend_from_slice(b"},\"image\":{\"docker-manifest-digest\":");
    jcs::write_str(&image.to_string(), &mut out);
    out.extend_from_slice(b"},\"type\":\"cosign container image signature\"},\"optional\":null}");
    Ok(out)
}

/// The legacy `.sig` image after adding `signatures` (each a
/// simple-signing payload and its signature) to what the tag holds
/// (`existing`): (manifest, config), as cosign writes it. Layers already
/// there are kept in order; one with the same payload and signature is not
/// repeated; more than [`MAX_LEGACY_LAYERS`] in all is refused.
pub fn signature_image(
    existing: Option<&[u8]>,
    signatures: &[(Vec<u8>, Vec<u8>)],
) -> Result<(Vec<u8>, Vec<u8>), CoreError> {
    let mut layers: Vec<Value> = match existing {
        Some(bytes) => {
            let v: Value = serde_json::from_slice(bytes)
                .map_err(|e| CoreError::malformed("cosign signature tag", format!("manifest is not JSON: {e}")))?;
            v.get("layers").and_then(Value::as_array).cloned().unwrap_or_default()
        }
        None => Vec::new(),
    };
    for (payload, sig) in signatures {
        let mut d = descriptor(SIMPLE_SIGNING_TYPE, payload);
        d["annotations"] = json!({ COSIGN_SIGNATURE: B64.encode(sig) });
        if !layers.contains(&d) {
            layers.push(d);
        }
    }
    if layers.len() > MAX_LEGACY_LAYERS {
        return Err(CoreError::malformed(
            "cosign signature tag",
            format!("{} layers, more than {MAX_LEGACY_LAYERS}", layers.len()),
        ));
    }
    image_of_layers("cosign signature tag", layers)
}

/// The `.sig` tag of an image: `sha256-<hex>.sig`.
pub fn signature_tag(image: &Digest) -> String {
    format!("sha256-{}.sig", image.hex())
}

/// cosign's signature/attestation image of `layers`: its config (the
/// layers as diff_ids) and manifest.
fn image_of_layers(what: &str, layers: Vec<Value>) -> Result<(Vec<u8>, Vec<u8>), CoreError> {
    let mut diff_ids = Vec::with_capacity(layers.len());
    for l in &layers {
        let d = l
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| CoreError::malformed(what, "a layer has no digest"))?;
        diff_ids.push(d.to_owned());
    }
    let config = jcs::to_vec(&json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    }))?;
    let manifest = jcs::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": descriptor(MT_IMAGE_CONFIG, &config),
        "layers": layers,
    }))?;
    Ok((manifest, config))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A bundle with one Ed25519-signed release envelope.
    fn bundle() -> Bundle {
        let dir = tempfile::tempdir().unwrap();
        let (image, manifest) = cerro_core::testing::one_file_image(
            dir.path(),
            ("etc/motd", b"cosign layouts\n"),
            "/bin/true",
            "1",
            ("app", "1"),
        );
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let mut out = Vec::new();
        cerro_core::pack::PackRequest {
            image: &image,
            manifest: &manifest,
            keys: &[cerro_core::key::SecretKey::Ed25519(key)],
            mtime: 1,
            selinux: &[],
            extra: &[],
            diff_ids: &cerro_core::pack::LayerDiffIds::of_uncompressed(&image).unwrap(),
        }
        .write(&mut out)
        .unwrap();
        cerro_core::bundle::read_bundle(&mut &out[..], &mut cerro_core::bundle::NoExtract).unwrap()
    }

    /// What the `.att` tag holds is the registry's word: kept when it is a
    /// manifest, refused (nothing pushed) when it is not JSON, names a layer
    /// without a digest, or would grow past MAX_ATT_LAYERS; ours appended
    /// once, however often pushed.
    #[test]
    fn the_attestation_tag_keeps_others_and_refuses_what_it_cannot_read() {
        let b = bundle();
        let (first, _) = attestation_image(&b, None).unwrap();
        let v: Value = serde_json::from_slice(&first).unwrap();
        let ours = v["layers"].as_array().unwrap().len();
        assert_eq!(ours, b.attestations.len());
        let other = json!({"schemaVersion": 2, "layers": [{"mediaType": MT_DSSE, "digest": Digest::of(b"theirs").to_string(), "size": 6}]});
        let (merged, config) = attestation_image(&b, Some(&serde_json::to_vec(&other).unwrap())).unwrap();
        let m: Value = serde_json::from_slice(&merged).unwrap();
        assert_eq!(m["layers"][0]["digest"], other["layers"][0]["digest"]);
        assert_eq!(m["layers"].as_array().unwrap().len(), ours + 1);
        let c: Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(c["rootfs"]["diff_ids"].as_array().unwrap().len(), ours + 1);
        // Pushed again: nothing repeated.
        let (again, _) = attestation_image(&b, Some(&merged)).unwrap();
        assert_eq!(again, merged);

        assert!(attestation_image(&b, Some(b"\x00not json")).is_err());
        let no_digest = json!({"layers": [{"mediaType": MT_DSSE}]});
        assert!(attestation_image(&b, Some(&serde_json::to_vec(&no_digest).unwrap())).is_err());
        let many: Vec<Value> = (0..MAX_ATT_LAYERS)
            .map(|i| json!({"digest": Digest::of(format!("{i}").as_bytes()).to_string()}))
            .collect();
        let full = json!({"layers": many});
        let e = attestation_image(&b, Some(&serde_json::to_vec(&full).unwrap())).unwrap_err();
        assert!(e.to_string().contains("more than 256"), "{e}");
    }

    /// Only cosign's sign statement for this very image, signed with P-256,
    /// becomes an image-signature referrer.
    #[test]
    fn image_signatures_must_be_the_sign_statement_of_this_image_in_p256() {
        let b = bundle();
        assert!(
            sigstore_referrers(&b, &[]).unwrap().is_empty(),
            "Ed25519 only: no referrer"
        );
        let p256 = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
        let sign = |payload: Vec<u8>, key: &dyn Fn(&mut Envelope)| {
            let mut env = Envelope {
                payload,
                payload_type: IN_TOTO_PAYLOAD_TYPE.to_owned(),
                signatures: Vec::new(),
            };
            key(&mut env);
            env
        };
        let good = sign(sign_statement(&b.image.digest).unwrap(), &|e| e.sign(&p256).unwrap());
        let refs = sigstore_referrers(&b, std::slice::from_ref(&good)).unwrap();
        assert_eq!(refs.len(), 1);
        let m: Value = serde_json::from_slice(&refs[0].manifest).unwrap();
        assert_eq!(
            m["annotations"]["dev.sigstore.bundle.predicateType"],
            COSIGN_SIGN_PREDICATE
        );
        assert_eq!(m["subject"]["digest"], b.image.digest.to_string());
        let other = sign(sign_statement(&Digest::of(b"another image")).unwrap(), &|e| {
            e.sign(&p256).unwrap()
        });
        assert!(sigstore_referrers(&b, &[other]).is_err());
        let ed = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        let ed = sign(sign_statement(&b.image.digest).unwrap(), &|e| e.sign(&ed).unwrap());
        assert!(sigstore_referrers(&b, &[ed]).is_err());
    }

    /// The payload is byte for byte what cosign 3.1.1 wrote for this image
    /// and repository (from its `.sig` tag on a loopback registry).
    #[test]
    fn the_simple_signing_payload_is_cosign_s() {
        let image = Digest::parse("sha256:9d851141b0851869b2d9515ed6be70b5e2715ecc154932c7931cfd8c27a3c3ca").unwrap();
        assert_eq!(
            simple_signing_payload("127.0.0.1:15123/a/img", &image).unwrap(),
            br#"{"critical":{"identity":{"docker-reference":"127.0.0.1:15123/a/img"},"image":{"docker-manifest-digest":"sha256:9d851141b0851869b2d9515ed6be70b5e2715ecc154932c7931cfd8c27a3c3ca"},"type":"cosign container image signature"},"optional":null}"#
        );
    }

    /// The `.sig` image ct writes for an Ed25519 key reads back through
    /// core's check (pure Ed25519); what the tag held is kept, ours is not
    /// repeated, and a tag that is not JSON or would pass
    /// MAX_LEGACY_LAYERS is refused.
    #[test]
    fn the_signature_tag_reads_back_and_keeps_others() {
        use cerro_core::key::KeySigner as _;
        let image = Digest::of(b"image");
        let key = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
        let payload = simple_signing_payload("r.example/app", &image).unwrap();
        let sig = key.sign_message(&payload).unwrap();
        let (manifest, config) = signature_image(None, &[(payload.clone(), sig.clone())]).unwrap();
        let checked = cs::check(
            Artifact {
                layout: Layout::LegacyTag,
                manifest: manifest.clone(),
                blob: payload.clone(),
                layer: 0,
            },
            &key.public_key(),
            &image,
        )
        .unwrap();
        assert_eq!(checked.scheme(), cs::Scheme::Ed25519);
        let c: Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(c["rootfs"]["diff_ids"][0], Digest::of(&payload).to_string());
        let (again, _) = signature_image(Some(&manifest), &[(payload.clone(), sig.clone())]).unwrap();
        assert_eq!(again, manifest);
        let other = json!({"layers": [{"mediaType": SIMPLE_SIGNING_TYPE, "digest": Digest::of(b"theirs").to_string(), "size": 6}]});
        let (merged, _) = signature_image(
            Some(&serde_json::to_vec(&other).unwrap()),
            &[(payload.clone(), sig.clone())],
        )
        .unwrap();
        let m: Value = serde_json::from_slice(&merged).unwrap();
        assert_eq!(m["layers"].as_array().unwrap().len(), 2);
        assert_eq!(m["layers"][0], other["layers"][0]);
        assert!(signature_image(Some(b"\x00"), &[]).is_err());
        let full: Vec<Value> = (0..MAX_LEGACY_LAYERS)
            .map(|i| json!({"digest": Digest::of(format!("{i}").as_bytes()).to_string()}))
            .collect();
        let full = serde_json::to_vec(&json!({"layers": full})).unwrap();
        assert!(signature_image(Some(&full), &[(payload, sig)]).is_err());
    }

    #[test]
    fn der_ecdsa_is_told_from_ed25519() {
        // A real low-S P-256 signature shape: SEQUENCE { INTEGER(32), INTEGER(32) }.
        let mut der = vec![0x30, 0x44, 0x02, 0x20];
        der.extend([1u8; 32]);
        der.extend([0x02, 0x20]);
        der.extend([2u8; 32]);
        assert!(is_der_ecdsa(&der));
        assert!(!is_der_ecdsa(&[7u8; 64]), "Ed25519");
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(!is_der_ecdsa(&trailing));
        let mut short = der.clone();
        short[1] = 0x43;
        short.pop();
        assert!(!is_der_ecdsa(&short));
        assert!(!is_der_ecdsa(&[]));
    }
}
