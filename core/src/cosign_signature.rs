//! cosign image signatures as evidence: what `ct pack docker://REF
//! --cosign-key K.pub` requires of an image, and what `ct verify` checks
//! again, offline, from the bytes the bundle carries (spec/interop.md §2.8,
//! spec/attestations.md §5).
//!
//! cosign 3.1.1 writes an image signature two ways, and this module reads
//! both from their bytes as fetched (the registry crate fetches, bounded;
//! nothing here touches the network):
//!
//! - [`Layout::SigstoreBundle`] (`cosign sign`, the default): an OCI
//!   referrer of the image whose one layer is a Sigstore bundle v0.3 holding
//!   a DSSE envelope of the in-toto statement
//!   `{"subject": [{"digest": {"sha256": <image>}}], "predicateType":
//!   "https://sigstore.dev/cosign/sign/v1", "predicate": {}}`, signed over
//!   the DSSE PAE;
//! - [`Layout::LegacyTag`] (`cosign sign --new-bundle-format=false`): the
//!   tag `sha256-<hex>.sig`, an image whose layers are simple-signing
//!   payloads (`critical.image.docker-manifest-digest` = the image), each
//!   signed over its bytes, the signature in the layer annotation
//!   `dev.cosignproject.cosign/signature` (base64).
//!
//! Signature schemes, as cosign makes and verifies them: ECDSA P-256 over
//! SHA-256 (DER; cosign does not normalise `s`, so both halves are taken
//! here: the bytes are evidence of cosign's signature, not a ct envelope
//! signature, whose one-encoding rule is [`crate::key`]'s); Ed25519, which
//! cosign 3.1.1 signs as Ed25519ph (RFC 8032 §5.1, SHA-512 prehash, empty
//! context) and verifies only as pure Ed25519 (sigstore/cosign#5074): both
//! are taken, and which one verified is recorded ([`Scheme`]).
//!
//! Only [`check`] builds a [`Checked`]: evidence is recorded
//! ([`evidence_statement`]) only for a signature that verified with the key
//! and whose signed claim names exactly the image being packed.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::strict::{self, DocKind};
use crate::key::PublicKey;
use crate::statement::STATEMENT_TYPE;
use crate::trust::Fingerprint;

/// The artifact type (and layer media type) of a Sigstore bundle v0.3.
pub const SIGSTORE_BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The predicate type of the statement `cosign sign` signs.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The media type of a legacy `.sig` layer.
pub const SIMPLE_SIGNING_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding a legacy signature (base64).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of a simple-signing payload.
pub const SIMPLE_SIGNING_CLAIM: &str = "cosign container image signature";
/// The predicate type of the evidence statement a bundle carries.
pub const EVIDENCE_PREDICATE: &str = "https://cerro-torre.org/attestation/cosign-signature/v1";
/// The bundle member the evidence statement is carried in.
pub const EVIDENCE_PATH: &str = "attestations/cosign-signature.dsse.json";
/// Largest signature manifest (referrer or `.sig` tag) read.
pub const MAX_MANIFEST: u64 = 64 << 10;
/// Largest Sigstore bundle or simple-signing payload read.
pub const MAX_BLOB: u64 = 64 << 10;
/// Most layers of a `.sig` tag examined (a tag holding more is refused).
pub const MAX_LEGACY_LAYERS: usize = 16;

const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Where cosign put the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// A Sigstore bundle v0.3 referrer of the image (cosign 3's default).
    SigstoreBundle,
    /// A layer of the `sha256-<hex>.sig` tag (cosign 2; cosign 3 with
    /// `--new-bundle-format=false`).
    LegacyTag,
}

impl Layout {
    /// How people read it.
    pub fn describe(self) -> &'static str {
        match self {
            Layout::SigstoreBundle => "Sigstore bundle referrer",
            Layout::LegacyTag => "legacy .sig tag",
        }
    }
}

/// The signature scheme that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// ECDSA P-256 over SHA-256 of the signed bytes, ASN.1 DER.
    EcdsaP256Sha256,
    /// Ed25519 (RFC 8032 pure) over the signed bytes.
    Ed25519,
    /// Ed25519ph (RFC 8032, SHA-512 prehash, empty context) over the signed bytes.
    Ed25519ph,
}

/// One cosign signature artifact, as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Where it was.
    pub layout: Layout,
    /// The referrer manifest, or the `.sig` tag's manifest.
    pub manifest: Vec<u8>,
    /// The Sigstore bundle, or the simple-signing payload of layer `layer`.
    pub blob: Vec<u8>,
    /// Which layer of `manifest` `blob` is.
    pub layer: usize,
}

/// A cosign signature that verified with the key and names the image.
/// Only [`check`] builds one.
#[derive(Debug, Clone)]
pub struct Checked {
    artifact: Artifact,
    key: PublicKey,
    scheme: Scheme,
    image: Digest,
}

impl Checked {
    /// The artifact, bytes as fetched.
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }
    /// The key it verified with.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }
    /// The scheme that verified.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    /// The image its signed claim names.
    pub fn image(&self) -> Digest {
        self.image
    }
    /// The manifest's digest (the referrer, or the `.sig` tag's image).
    pub fn manifest_digest(&self) -> Digest {
        Digest::of(&self.artifact.manifest)
    }
}

/// Why a cosign signature artifact was not accepted, from the most telling
/// to the least ([`Refusal::rank`]): the caller names the most telling of
/// all the candidates it examined.
#[derive(Debug)]
pub enum Refusal {
    /// It verified with the key, and its signed claim names another image
    /// (a signature moved from another image): exit 1.
    OtherImage {
        /// What was examined.
        what: String,
        /// The image the claim names.
        named: Digest,
    },
    /// It says it is by this key (a Sigstore bundle's key hint is the key's
    /// id) and does not verify with it: exit 2.
    Invalid {
        /// What was examined.
        what: String,
        /// Why.
        reason: String,
    },
    /// It does not verify with this key, and nothing says it is this key's
    /// (another key's hint, or a legacy signature, which carries no key
    /// id): exit 3.
    NotThisKey {
        /// What was examined.
        what: String,
    },
    /// It cannot be read: exit 10.
    Malformed(Error),
}

impl Refusal {
    /// Higher is more telling.
    pub fn rank(&self) -> u8 {
        match self {
            Refusal::OtherImage { .. } => 4,
            Refusal::Invalid { .. } => 3,
            Refusal::NotThisKey { .. } => 2,
            Refusal::Malformed(_) => 1,
        }
    }

    /// The error for the one exit-code table. `key` names the key as the
    /// user gave it (`--cosign-key FILE`), `image` the image packed.
    pub fn into_error(self, key: &str, fingerprint: &Fingerprint, image: &Digest) -> Error {
        match self {
            Refusal::OtherImage { what, named } => Error::DigestMismatch {
                what: format!("the image the signed claim of {what} names (a signature of another image)"),
                expected: *image,
                actual: named,
            },
            Refusal::Invalid { what, reason } => Error::SignatureInvalid {
                key: format!("{key} ({reason})"),
                fingerprint: fingerprint.to_hex(),
                envelope: what,
            },
            Refusal::NotThisKey { what } => Error::SignerNotTrusted {
                envelope: format!("image {image}"),
                counted: 0,
                required: 1,
                details: format!(": {what} does not verify with {key}, and is not marked as its signature"),
            },
            Refusal::Malformed(e) => e,
        }
    }
}

/// The most telling of `refusals` as an error (none: no cosign signature
/// found for the image, exit 5).
pub fn refused(refusals: Vec<Refusal>, key: &str, fingerprint: &Fingerprint, image: &Digest) -> Error {
    let n = refusals.len();
    match refusals.into_iter().max_by_key(Refusal::rank) {
        None => Error::MissingAttestation(format!(
            "no cosign signature of image {image}: no Sigstore bundle referrer with predicate type \
             {COSIGN_SIGN_PREDICATE} and no sha256-{}.sig tag",
            image.hex()
        )),
        Some(r) if n == 1 => r.into_error(key, fingerprint, image),
        Some(r) => match r.into_error(key, fingerprint, image) {
            Error::Malformed { what, reason } => Error::Malformed {
                what,
                reason: format!("{reason} (and {} other cosign signature(s) refused)", n - 1),
            },
            Error::SignerNotTrusted {
                envelope,
                counted,
                required,
                details,
            } => Error::SignerNotTrusted {
                envelope,
                counted,
                required,
                details: format!("{details} ({n} cosign signature(s) examined, none by this key)"),
            },
            e => e,
        },
    }
}

fn malformed(what: &str, reason: impl Into<String>) -> Refusal {
    Refusal::Malformed(Error::malformed(what, reason))
}

fn b64(what: &str, field: &str, s: &str) -> std::result::Result<Vec<u8>, Refusal> {
    B64.decode(s)
        .map_err(|e| malformed(what, format!("{field} is not base64: {e}")))
}

/// A descriptor's digest and size (`what` names the document).
fn descriptor(what: &str, d: Option<&Value>) -> std::result::Result<(Digest, u64, String), Refusal> {
    let d = d.ok_or_else(|| malformed(what, "missing descriptor"))?;
    let digest = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(what, "descriptor without digest"))?;
    let digest = Digest::parse(digest).map_err(Refusal::Malformed)?;
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

/// What a signature artifact says, read but not yet verified.
struct Claim {
    /// The bytes signed (DSSE PAE, or the simple-signing payload).
    signed: Vec<u8>,
    sig: Vec<u8>,
    /// The key id the artifact says signed it (a Sigstore bundle's hint).
    hint: Option<Vec<u8>>,
    /// The image the signed document names.
    image: Digest,
}

/// Checks `artifact` against `key` for `image`: read strictly and bounded
/// (every JSON document through core's strict reader), the blob is the
/// manifest's layer (digest and size), the signature verifies with `key`
/// over what cosign signs, the signed document is cosign's image signature
/// claim naming exactly `image`, and a referrer's subject is `image`.
pub fn check(artifact: Artifact, key: &PublicKey, image: &Digest) -> std::result::Result<Checked, Refusal> {
    let what = format!(
        "cosign signature {} ({})",
        Digest::of(&artifact.manifest),
        artifact.layout.describe()
    );
    if artifact.manifest.len() as u64 > MAX_MANIFEST || artifact.blob.len() as u64 > MAX_BLOB {
        return Err(malformed(
            &what,
            format!("larger than a signature may be ({MAX_MANIFEST} bytes of manifest, {MAX_BLOB} of layer)"),
        ));
    }
    strict::check(&what, &artifact.manifest, DocKind::Manifest).map_err(Refusal::Malformed)?;
    let manifest: Value = serde_json::from_slice(&artifact.manifest).map_err(|e| malformed(&what, e.to_string()))?;
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(&what, "no layers"))?;
    if layers.len() > MAX_LEGACY_LAYERS {
        return Err(malformed(
            &what,
            format!("{} layers, more than the {MAX_LEGACY_LAYERS} examined", layers.len()),
        ));
    }
    let layer = layers
        .get(artifact.layer)
        .ok_or_else(|| malformed(&what, format!("no layer {}", artifact.layer)))?;
    let (digest, size, media_type) = descriptor(&what, Some(layer))?;
    if digest != Digest::of(&artifact.blob) || size != artifact.blob.len() as u64 {
        return Err(Refusal::Malformed(Error::DigestMismatch {
            what: format!("{what}: layer {}", artifact.layer),
            expected: digest,
            actual: Digest::of(&artifact.blob),
        }));
    }
    let claim = match artifact.layout {
        Layout::SigstoreBundle => {
            if manifest.get("artifactType").and_then(Value::as_str) != Some(SIGSTORE_BUNDLE_TYPE)
                || media_type != SIGSTORE_BUNDLE_TYPE
                || layers.len() != 1
            {
                return Err(malformed(
                    &what,
                    format!("not a Sigstore bundle referrer (artifactType and its one layer {SIGSTORE_BUNDLE_TYPE})"),
                ));
            }
            let subject = descriptor(&what, manifest.get("subject"))?.0;
            if subject != *image {
                return Err(malformed(
                    &what,
                    format!("its subject is {subject}, not the image {image}"),
                ));
            }
            sigstore_claim(&what, &artifact.blob)?
        }
        Layout::LegacyTag => {
            if media_type != SIMPLE_SIGNING_TYPE {
                return Err(malformed(
                    &what,
                    format!("layer {} is {media_type}, not {SIMPLE_SIGNING_TYPE}", artifact.layer),
                ));
            }
            let sig = layer
                .pointer(&format!("/annotations/{}", SIGNATURE_ANNOTATION.replace('/', "~1")))
                .and_then(Value::as_str)
                .ok_or_else(|| malformed(&what, format!("layer {} has no {SIGNATURE_ANNOTATION}", artifact.layer)))?;
            let sig = b64(&what, SIGNATURE_ANNOTATION, sig)?;
            legacy_claim(&what, &artifact.blob, sig)?
        }
    };
    let Some(scheme) = verify(key, &claim.signed, &claim.sig) else {
        let ours = Fingerprint::of(key).to_hex();
        return Err(match claim.hint {
            Some(h) if hex::encode(&h) == ours => Refusal::Invalid {
                what,
                reason: "its key hint names this key".into(),
            },
            _ => Refusal::NotThisKey { what },
        });
    };
    if claim.image != *image {
        return Err(Refusal::OtherImage {
            what,
            named: claim.image,
        });
    }
    Ok(Checked {
        artifact,
        key: key.clone(),
        scheme,
        image: *image,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigstoreBundle {
    media_type: String,
    #[serde(default)]
    verification_material: Option<Material>,
    dsse_envelope: Option<Dsse>,
    message_signature: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    public_key: Option<HintKey>,
}

#[derive(Deserialize)]
struct HintKey {
    hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dsse {
    payload: String,
    payload_type: String,
    signatures: Vec<DsseSig>,
}

#[derive(Deserialize)]
struct DsseSig {
    sig: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignStatement {
    #[serde(rename = "_type")]
    type_: String,
    subject: Vec<SignSubject>,
    predicate_type: String,
}

#[derive(Deserialize)]
struct SignSubject {
    digest: std::collections::BTreeMap<String, String>,
}

fn sigstore_claim(what: &str, blob: &[u8]) -> std::result::Result<Claim, Refusal> {
    strict::check(what, blob, DocKind::SigstoreBundle).map_err(Refusal::Malformed)?;
    let b: SigstoreBundle = serde_json::from_slice(blob).map_err(|e| malformed(what, e.to_string()))?;
    if b.media_type != SIGSTORE_BUNDLE_TYPE {
        return Err(malformed(
            what,
            format!("mediaType {:?} is not {SIGSTORE_BUNDLE_TYPE}", b.media_type),
        ));
    }
    let dsse = match (b.dsse_envelope, b.message_signature) {
        (Some(d), None) => d,
        (None, Some(_)) => {
            return Err(malformed(
                what,
                "a messageSignature bundle: cosign signs images as a DSSE envelope of its sign statement",
            ))
        }
        _ => {
            return Err(malformed(
                what,
                "must hold exactly one of dsseEnvelope, messageSignature",
            ))
        }
    };
    if dsse.payload_type != PAYLOAD_TYPE {
        return Err(malformed(what, format!("payloadType is not {PAYLOAD_TYPE}")));
    }
    let [sig] = dsse.signatures.as_slice() else {
        return Err(malformed(
            what,
            "a Sigstore bundle's envelope carries exactly one signature",
        ));
    };
    let sig = b64(what, "dsseEnvelope.signatures[0].sig", &sig.sig)?;
    let payload = b64(what, "dsseEnvelope.payload", &dsse.payload)?;
    let hint = match b.verification_material.and_then(|m| m.public_key).and_then(|k| k.hint) {
        Some(h) => Some(b64(what, "verificationMaterial.publicKey.hint", &h)?),
        None => None,
    };
    let pwhat = format!("{what}: its statement");
    strict::check(&pwhat, &payload, DocKind::InTotoStatement).map_err(Refusal::Malformed)?;
    let st: SignStatement = serde_json::from_slice(&payload).map_err(|e| malformed(&pwhat, e.to_string()))?;
    if st.type_ != STATEMENT_TYPE || st.predicate_type != COSIGN_SIGN_PREDICATE {
        return Err(malformed(
            &pwhat,
            format!("not cosign's image signature ({STATEMENT_TYPE}, predicateType {COSIGN_SIGN_PREDICATE})"),
        ));
    }
    // The claim names exactly one image, by SHA-256 alone.
    let [subject] = st.subject.as_slice() else {
        return Err(malformed(
            &pwhat,
            format!("{} subjects: the claim must name exactly one image", st.subject.len()),
        ));
    };
    let image = match subject.digest.iter().collect::<Vec<_>>().as_slice() {
        [(alg, hex)] if alg.as_str() == "sha256" => {
            Digest::from_hex(hex).ok_or_else(|| malformed(&pwhat, "subject digest is not a SHA-256 hex digest"))?
        }
        _ => {
            return Err(malformed(
                &pwhat,
                "the subject must name the image by one sha256 digest",
            ))
        }
    };
    Ok(Claim {
        signed: crate::dsse::pae(PAYLOAD_TYPE, &payload),
        sig,
        hint,
        image,
    })
}

#[derive(Deserialize)]
struct SimpleSigning {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    image: CriticalImage,
    #[serde(rename = "type")]
    type_: String,
}

#[derive(Deserialize)]
struct CriticalImage {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

fn legacy_claim(what: &str, payload: &[u8], sig: Vec<u8>) -> std::result::Result<Claim, Refusal> {
    let pwhat = format!("{what}: its simple-signing payload");
    strict::check(&pwhat, payload, DocKind::SimpleSigning).map_err(Refusal::Malformed)?;
    let p: SimpleSigning = serde_json::from_slice(payload).map_err(|e| malformed(&pwhat, e.to_string()))?;
    if p.critical.type_ != SIMPLE_SIGNING_CLAIM {
        return Err(malformed(
            &pwhat,
            format!("critical.type is not {SIMPLE_SIGNING_CLAIM:?}"),
        ));
    }
    let image = Digest::parse(&p.critical.image.digest).map_err(Refusal::Malformed)?;
    Ok(Claim {
        signed: payload.to_vec(),
        sig,
        hint: None,
        image,
    })
}

/// Verifies `sig` over `signed` as cosign signs with `key` (see the module
/// documentation); the scheme that verified.
fn verify(key: &PublicKey, signed: &[u8], sig: &[u8]) -> Option<Scheme> {
    match key {
        PublicKey::EcdsaP256(_) => {
            // cosign does not normalise s: take its low twin (a public
            // operation), then ct's strict verification.
            let low = crate::key::ecdsa_p256_low_s(sig)?;
            key.verify(signed, &low).ok().map(|()| Scheme::EcdsaP256Sha256)
        }
        PublicKey::Ed25519(k) => {
            let bytes = <[u8; 64]>::try_from(sig).ok()?;
            let s = ed25519_dalek::Signature::from_bytes(&bytes);
            if k.verify_strict(signed, &s).is_ok() {
                return Some(Scheme::Ed25519);
            }
            use sha2::Digest as _;
            let prehash = sha2::Sha512::new_with_prefix(signed);
            k.verify_prehashed_strict(prehash, None, &s)
                .ok()
                .map(|()| Scheme::Ed25519ph)
        }
    }
}

/// The evidence predicate (spec/attestations.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Predicate {
    layout: Layout,
    reference: String,
    key: KeyRecord,
    scheme: Scheme,
    manifest: String,
    layer: usize,
    blob: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeyRecord {
    algorithm: String,
    key_id: String,
    pem: String,
}

/// The evidence statement for `checked` (RFC 8785): an in-toto statement
/// about the image (`subject` = `{name: package, digest: image}`) whose
/// predicate carries the artifact's bytes as fetched, its layout, the key
/// (PEM SPKI and key id), the scheme that verified and the reference the
/// packer named. The release statement binds it like every other.
pub fn evidence_statement(checked: &Checked, package: &str, reference: &str) -> Result<Vec<u8>> {
    let a = &checked.artifact;
    crate::jcs::to_vec(&json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": package, "digest": {"sha256": checked.image.hex()}}],
        "predicateType": EVIDENCE_PREDICATE,
        "predicate": serde_json::to_value(Predicate {
            layout: a.layout,
            reference: reference.to_owned(),
            key: KeyRecord {
                algorithm: checked.key.algorithm().as_str().to_owned(),
                key_id: Fingerprint::of(&checked.key).to_hex(),
                pem: checked.key.to_pem(),
            },
            scheme: checked.scheme,
            manifest: B64.encode(&a.manifest),
            layer: a.layer,
            blob: B64.encode(&a.blob),
        })
        .map_err(|e| Error::malformed("cosign evidence", e.to_string()))?,
    }))
}

/// What `ct explain` shows of the evidence a bundle carries.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceInfo {
    /// The bundle member.
    pub path: String,
    /// Where cosign put the signature.
    pub layout: Layout,
    /// The signature manifest's digest (referrer, or `.sig` tag image).
    pub manifest: Digest,
    /// The key's algorithm.
    pub algorithm: String,
    /// The key's id (SHA-256 of its DER SPKI).
    pub key_id: String,
    /// The scheme that verified.
    pub scheme: Scheme,
    /// The reference the packer named.
    pub reference: String,
}

/// Checks the evidence statement `payload` (member `path`) again, offline,
/// for `image`: the recorded key (its id recomputed from its PEM) verifies
/// the recorded artifact by the recorded scheme, and its claim names
/// `image`. The key is the one the packer passed: this says the image
/// carried that key's cosign signature when it was packed, and it is
/// trusted only as far as the release signers, who bind this statement,
/// are.
pub fn recheck(path: &str, payload: &[u8], image: &Digest) -> Result<EvidenceInfo> {
    #[derive(Deserialize)]
    struct St {
        predicate: Predicate,
    }
    let st: St = serde_json::from_slice(payload).map_err(|e| Error::malformed(path, e.to_string()))?;
    let p = st.predicate;
    let key = PublicKey::from_pem(&p.key.pem, &format!("{path}: predicate.key.pem"))?;
    let fp = Fingerprint::of(&key);
    if fp.to_hex() != p.key.key_id || key.algorithm().as_str() != p.key.algorithm {
        return Err(Error::malformed(
            path,
            "predicate.key: keyId or algorithm is not the recorded PEM key's",
        ));
    }
    let decode = |field: &str, s: &str| {
        B64.decode(s)
            .map_err(|e| Error::malformed(path, format!("predicate.{field} is not base64: {e}")))
    };
    let artifact = Artifact {
        layout: p.layout,
        manifest: decode("manifest", &p.manifest)?,
        blob: decode("blob", &p.blob)?,
        layer: p.layer,
    };
    let checked =
        check(artifact, &key, image).map_err(|r| r.into_error(&format!("the key recorded in {path}"), &fp, image))?;
    if checked.scheme != p.scheme {
        return Err(Error::malformed(
            path,
            format!("recorded scheme {:?}, but {:?} verified", p.scheme, checked.scheme),
        ));
    }
    Ok(EvidenceInfo {
        path: path.to_owned(),
        layout: p.layout,
        manifest: checked.manifest_digest(),
        algorithm: p.key.algorithm,
        key_id: p.key.key_id,
        scheme: p.scheme,
        reference: p.reference,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::key::KeySigner as _;

    fn image() -> Digest {
        Digest::of(b"the image manifest")
    }

    fn p256() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap()
    }

    fn statement(image: &Digest) -> Vec<u8> {
        format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{}"}},"annotations":{{}}}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{{}}}}"#,
            image.hex()
        )
        .into_bytes()
    }

    fn sigstore_blob(payload: &[u8], sig: &[u8], hint: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "mediaType": SIGSTORE_BUNDLE_TYPE,
            "verificationMaterial": {"publicKey": {"hint": B64.encode(hint)}},
            "dsseEnvelope": {"payload": B64.encode(payload), "payloadType": PAYLOAD_TYPE,
                             "signatures": [{"sig": B64.encode(sig)}]},
        }))
        .unwrap()
    }

    fn referrer(blob: &[u8], subject: &Digest) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": SIGSTORE_BUNDLE_TYPE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2},
            "layers": [{"mediaType": SIGSTORE_BUNDLE_TYPE, "digest": Digest::of(blob).to_string(), "size": blob.len()}],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject.to_string(), "size": 1},
        }))
        .unwrap()
    }

    fn signed_referrer(key: &p256::ecdsa::SigningKey, claim: &Digest, subject: &Digest) -> Artifact {
        let payload = statement(claim);
        let sig = key.sign_message(&crate::dsse::pae(PAYLOAD_TYPE, &payload)).unwrap();
        let hint = Digest::of(&key.public_key().spki_der()).as_bytes().to_vec();
        let blob = sigstore_blob(&payload, &sig, &hint);
        Artifact {
            layout: Layout::SigstoreBundle,
            manifest: referrer(&blob, subject),
            blob,
            layer: 0,
        }
    }

    fn simple_signing(image: &Digest) -> Vec<u8> {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r.example/app"}},"image":{{"docker-manifest-digest":"{image}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes()
    }

    fn legacy(payload: &[u8], sig: &[u8]) -> Artifact {
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(b"c").to_string(), "size": 1},
            "layers": [{"mediaType": SIMPLE_SIGNING_TYPE, "digest": Digest::of(payload).to_string(), "size": payload.len(),
                        "annotations": {SIGNATURE_ANNOTATION: B64.encode(sig)}}],
        }))
        .unwrap();
        Artifact {
            layout: Layout::LegacyTag,
            manifest,
            blob: payload.to_vec(),
            layer: 0,
        }
    }

    #[test]
    fn a_sigstore_bundle_verifies_and_round_trips_as_evidence() {
        let k = p256();
        let checked = check(signed_referrer(&k, &image(), &image()), &k.public_key(), &image()).unwrap();
        assert_eq!(checked.scheme(), Scheme::EcdsaP256Sha256);
        let st = evidence_statement(&checked, "app", "r.example/app:1").unwrap();
        let info = recheck(EVIDENCE_PATH, &st, &image()).unwrap();
        assert_eq!(info.layout, Layout::SigstoreBundle);
        assert_eq!(info.key_id, Fingerprint::of(&k.public_key()).to_hex());
        // For another image, the same evidence is refused (the referrer's
        // subject is not that image).
        let e = recheck(EVIDENCE_PATH, &st, &Digest::of(b"x")).unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::Malformed, "{e}");
    }

    #[test]
    fn refusals_are_classified() {
        let k = p256();
        let other = p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap();
        // Another key's signature, its hint naming that key: 3.
        let r = check(signed_referrer(&other, &image(), &image()), &k.public_key(), &image()).unwrap_err();
        assert!(matches!(r, Refusal::NotThisKey { .. }));
        // A signature with this key's hint that does not verify: 2.
        let mut a = signed_referrer(&k, &image(), &image());
        let payload = statement(&image());
        let bad = k.sign_message(b"other bytes").unwrap();
        a.blob = sigstore_blob(&payload, &bad, Digest::of(&k.public_key().spki_der()).as_bytes());
        a.manifest = referrer(&a.blob, &image());
        let r = check(a, &k.public_key(), &image()).unwrap_err();
        assert!(matches!(r, Refusal::Invalid { .. }));
        let fp = Fingerprint::of(&k.public_key());
        assert_eq!(
            r.into_error("k.pub", &fp, &image()).exit_code(),
            crate::ExitCode::SignatureInvalid
        );
        // A valid signature of another image, its referrer re-pointed: 1.
        let elsewhere = Digest::of(b"another image");
        let r = check(signed_referrer(&k, &elsewhere, &image()), &k.public_key(), &image()).unwrap_err();
        assert!(matches!(r, Refusal::OtherImage { named, .. } if named == elsewhere));
        assert_eq!(
            refused(vec![r], "k.pub", &fp, &image()).exit_code(),
            crate::ExitCode::DigestMismatch
        );
        // Nothing found: 5; the most telling of several wins.
        assert_eq!(
            refused(Vec::new(), "k.pub", &fp, &image()).exit_code(),
            crate::ExitCode::MissingAttestation
        );
        let several = vec![
            malformed("a", "x"),
            Refusal::NotThisKey { what: "b".into() },
            Refusal::Invalid {
                what: "c".into(),
                reason: "r".into(),
            },
        ];
        assert_eq!(
            refused(several, "k.pub", &fp, &image()).exit_code(),
            crate::ExitCode::SignatureInvalid
        );
    }

    #[test]
    fn legacy_signatures_verify_high_s_and_both_ed25519_schemes() {
        let k = p256();
        let payload = simple_signing(&image());
        // cosign's high-S form is taken (Go does not normalise).
        let low = k.sign_message(&payload).unwrap();
        let parsed = p256::ecdsa::Signature::from_der(&low).unwrap();
        let (r, s) = parsed.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes())
            .unwrap()
            .to_der()
            .as_bytes()
            .to_vec();
        for sig in [&low, &high] {
            check(legacy(&payload, sig), &k.public_key(), &image()).unwrap();
        }
        let ed = ed25519_dalek::SigningKey::from_bytes(&[4; 32]);
        let pure = ed.sign_message(&payload).unwrap();
        let c = check(legacy(&payload, &pure), &ed.public_key(), &image()).unwrap();
        assert_eq!(c.scheme(), Scheme::Ed25519);
        use sha2::Digest as _;
        let ph = ed
            .sign_prehashed(sha2::Sha512::new_with_prefix(&payload), None)
            .unwrap()
            .to_bytes();
        let c = check(legacy(&payload, &ph), &ed.public_key(), &image()).unwrap();
        assert_eq!(c.scheme(), Scheme::Ed25519ph);
        // The recorded scheme must be the one that verifies.
        let st = evidence_statement(&c, "app", "r/app").unwrap();
        let forged = String::from_utf8(st).unwrap().replace("\"ed25519ph\"", "\"ed25519\"");
        assert!(recheck(EVIDENCE_PATH, forged.as_bytes(), &image()).is_err());
        // Another key: 3 (a legacy signature names no key).
        let r = check(legacy(&payload, &pure), &k.public_key(), &image()).unwrap_err();
        assert!(matches!(r, Refusal::NotThisKey { .. }));
    }

    /// Hostile inputs: each refused as malformed (never a panic), with
    /// what is wrong named.
    #[test]
    fn hostile_artifacts_are_refused() {
        let k = p256();
        let pk = k.public_key();
        let good = signed_referrer(&k, &image(), &image());
        let payload = statement(&image());
        let sig = k.sign_message(&crate::dsse::pae(PAYLOAD_TYPE, &payload)).unwrap();
        let with_blob = |blob: Vec<u8>| Artifact {
            layout: Layout::SigstoreBundle,
            manifest: referrer(&blob, &image()),
            blob,
            layer: 0,
        };
        let text = |blob: &str| with_blob(blob.as_bytes().to_vec());
        let cases: Vec<(&str, Artifact)> = vec![
            ("not JSON", text("\u{0}")),
            ("duplicate key", {
                let b = String::from_utf8(good.blob.clone()).unwrap();
                text(&b.replacen("{", &format!("{{\"mediaType\":\"{SIGSTORE_BUNDLE_TYPE}\","), 1))
            }),
            ("proto name", {
                let b = String::from_utf8(good.blob.clone()).unwrap();
                text(&b.replace("dsseEnvelope", "dsse_envelope"))
            }),
            ("case variant", {
                let b = String::from_utf8(good.blob.clone()).unwrap();
                text(&b.replace("dsseEnvelope", "DsseEnvelope"))
            }),
            (
                "message signature",
                text(&format!(
                    r#"{{"mediaType":"{SIGSTORE_BUNDLE_TYPE}","messageSignature":{{"signature":"AA=="}}}}"#
                )),
            ),
            (
                "two signatures",
                with_blob(
                    serde_json::to_vec(&json!({
                        "mediaType": SIGSTORE_BUNDLE_TYPE,
                        "dsseEnvelope": {"payload": B64.encode(&payload), "payloadType": PAYLOAD_TYPE,
                                         "signatures": [{"sig": B64.encode(&sig)}, {"sig": B64.encode(&sig)}]},
                    }))
                    .unwrap(),
                ),
            ),
            ("another predicate", {
                let p = String::from_utf8(payload.clone())
                    .unwrap()
                    .replace("cosign/sign/v1", "cosign/sign/v2");
                with_blob(sigstore_blob(p.as_bytes(), &sig, b""))
            }),
            ("two subjects", {
                let p = String::from_utf8(payload.clone()).unwrap().replace(
                    "\"subject\":[",
                    &format!("\"subject\":[{{\"digest\":{{\"sha256\":\"{}\"}}}},", image().hex()),
                );
                with_blob(sigstore_blob(p.as_bytes(), &sig, b""))
            }),
            ("two digests", {
                let p = String::from_utf8(payload.clone())
                    .unwrap()
                    .replace("{\"sha256\"", "{\"sha512\":\"00\",\"sha256\"");
                with_blob(sigstore_blob(p.as_bytes(), &sig, b""))
            }),
            (
                "payload not base64",
                text(&format!(
                    r#"{{"mediaType":"{SIGSTORE_BUNDLE_TYPE}","dsseEnvelope":{{"payload":"!!","payloadType":"{PAYLOAD_TYPE}","signatures":[{{"sig":"AA=="}}]}}}}"#
                )),
            ),
            (
                "blob not the layer",
                Artifact {
                    blob: b"{}".to_vec(),
                    ..good.clone()
                },
            ),
            (
                "no such layer",
                Artifact {
                    layer: 3,
                    ..good.clone()
                },
            ),
            (
                "too large",
                Artifact {
                    blob: vec![b' '; MAX_BLOB as usize + 1],
                    ..good.clone()
                },
            ),
            (
                "subject elsewhere",
                Artifact {
                    manifest: referrer(&good.blob, &Digest::of(b"x")),
                    ..good.clone()
                },
            ),
            ("legacy layer type", {
                let mut a = legacy(&simple_signing(&image()), &sig);
                a.manifest = String::from_utf8(a.manifest)
                    .unwrap()
                    .replace("simplesigning", "other")
                    .into_bytes();
                a
            }),
            (
                "legacy claim type",
                legacy(
                    &String::from_utf8(simple_signing(&image()))
                        .unwrap()
                        .replace("container image", "blob")
                        .into_bytes(),
                    &sig,
                ),
            ),
            (
                "legacy case variant",
                legacy(
                    &String::from_utf8(simple_signing(&image()))
                        .unwrap()
                        .replace("\"critical\"", "\"Critical\"")
                        .into_bytes(),
                    &sig,
                ),
            ),
            ("legacy layer without a signature", {
                let a = legacy(&simple_signing(&image()), &sig);
                let m = String::from_utf8(a.manifest.clone())
                    .unwrap()
                    .replace(SIGNATURE_ANNOTATION, "x");
                Artifact {
                    manifest: m.into_bytes(),
                    ..a
                }
            }),
        ];
        for (what, a) in cases {
            match check(a, &pk, &image()) {
                Err(Refusal::Malformed(e)) => assert!(
                    matches!(
                        e.exit_code(),
                        crate::ExitCode::Malformed | crate::ExitCode::DigestMismatch
                    ),
                    "{what}: {e}"
                ),
                Err(other) => panic!("{what}: {other:?}"),
                Ok(_) => panic!("{what}: accepted"),
            }
        }
        // Past MAX_LEGACY_LAYERS layers.
        let layers: Vec<Value> = (0..=MAX_LEGACY_LAYERS)
            .map(|i| json!({"mediaType": SIMPLE_SIGNING_TYPE, "digest": Digest::of(&[i as u8]).to_string(), "size": 1}))
            .collect();
        let m = serde_json::to_vec(&json!({"schemaVersion": 2, "layers": layers})).unwrap();
        let a = Artifact {
            layout: Layout::LegacyTag,
            manifest: m,
            blob: vec![0],
            layer: 0,
        };
        assert!(matches!(check(a, &pk, &image()), Err(Refusal::Malformed(_))));
    }
}
