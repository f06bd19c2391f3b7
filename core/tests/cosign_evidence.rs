//! cosign signature evidence inside a bundle (`ct pack --cosign-key`,
//! spec/attestations.md "cosign signature evidence"): the verification
//! checks it again from its recorded bytes (step 5b), so evidence the
//! release binds but that does not verify is still refused, each with its
//! exit code; valid evidence is reported.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cerro_core::bundle::{self, Bundle, NoExtract};
use cerro_core::cosign_signature::{check, evidence_statement, Artifact, Layout, EVIDENCE_PATH, SIGSTORE_BUNDLE_TYPE};
use cerro_core::digest::Digest;
use cerro_core::image::source::SourceImage;
use cerro_core::key::{KeySigner, SecretKey};
use cerro_core::manifest::PackageManifest;
use cerro_core::pack::{LayerDiffIds, PackRequest};
use cerro_core::policy_interface::NoPolicy;
use cerro_core::testing::one_file_image;
use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};
use cerro_core::verify::verify;
use cerro_core::ExitCode;
use serde_json::{json, Value};

const NOW: u64 = 1_750_000_000;

fn release_key() -> SecretKey {
    ed25519_dalek::SigningKey::from_bytes(&[1; 32]).into()
}

fn cosign_key(seed: u8) -> SecretKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap().into()
}

/// cosign 3's Sigstore bundle referrer of `image`, signed by `key`.
fn referrer(key: &SecretKey, image: &Digest) -> Artifact {
    let payload = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{}"}}}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{{}}}}"#,
        image.hex()
    );
    let pt = "application/vnd.in-toto+json";
    let sig = key
        .sign_message(&cerro_core::dsse::pae(pt, payload.as_bytes()))
        .unwrap();
    let blob = serde_json::to_vec(&json!({
        "mediaType": SIGSTORE_BUNDLE_TYPE,
        "verificationMaterial": {"publicKey": {"hint": B64.encode(Digest::of(&key.public().spki_der()).as_bytes())}},
        "dsseEnvelope": {"payload": B64.encode(&payload), "payloadType": pt, "signatures": [{"sig": B64.encode(&sig)}]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SIGSTORE_BUNDLE_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").to_string(), "size": 2},
        "layers": [{"mediaType": SIGSTORE_BUNDLE_TYPE, "digest": Digest::of(&blob).to_string(), "size": blob.len()}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.to_string(), "size": 1},
    }))
    .unwrap();
    Artifact {
        layout: Layout::SigstoreBundle,
        manifest,
        blob,
        layer: 0,
    }
}

/// A bundle of `img` whose release statement binds `evidence` as the
/// cosign signature evidence.
fn packed(img: &SourceImage, manifest: &PackageManifest, evidence: Vec<u8>) -> Bundle {
    let mut out = Vec::new();
    PackRequest {
        image: img,
        manifest,
        keys: &[release_key()],
        mtime: 1,
        selinux: &[],
        extra: &[(EVIDENCE_PATH.to_owned(), evidence)],
        diff_ids: &LayerDiffIds::of_uncompressed(img).unwrap(),
    }
    .write(&mut out)
    .unwrap();
    bundle::read_bundle(&mut &out[..], &mut NoExtract).unwrap()
}

fn trust() -> TrustStore {
    let mut t = TrustStore::new();
    t.insert(KeyEntry::new("release", release_key().public(), TrustLevel::Full))
        .unwrap();
    t
}

/// `statement` with its predicate edited by `edit` (kept canonical).
fn edited(statement: &[u8], edit: impl Fn(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(statement).unwrap();
    edit(&mut v["predicate"]);
    cerro_core::jcs::to_vec(&v).unwrap()
}

#[test]
fn bound_evidence_is_checked_again_and_refused_when_it_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = one_file_image(
        dir.path(),
        ("etc/motd", b"cosign evidence\n"),
        "/bin/true",
        "1",
        ("app", "1"),
    );
    let image = img.manifest.digest;
    let ck = cosign_key(3);
    let checked = check(referrer(&ck, &image), &ck.public(), &image).unwrap();
    let good = evidence_statement(&checked, "app", "registry.example/app:1").unwrap();

    let v = verify(packed(&img, &manifest, good.clone()), &trust(), &NoPolicy, NOW).unwrap();
    assert_eq!(v.report().cosign.len(), 1);
    assert_eq!(v.report().cosign[0].layout, Layout::SigstoreBundle);
    assert!(v
        .report()
        .checks
        .iter()
        .any(|c| c.check == "cosign signature evidence" && c.ok));

    let refused = |evidence: Vec<u8>| {
        verify(packed(&img, &manifest, evidence), &trust(), &NoPolicy, NOW)
            .map(|_| ())
            .unwrap_err()
            .error
    };
    // Another key recorded (its PEM and id, consistent): the signature is
    // not by it, and the hint names the other key (3).
    let other = cosign_key(4).public();
    let e = refused(edited(&good, |p| {
        p["key"]["pem"] = Value::String(other.to_pem());
        p["key"]["keyId"] = Value::String(cerro_core::trust::Fingerprint::of(&other).to_hex());
    }));
    assert_eq!(e.exit_code(), ExitCode::SignerNotTrusted, "{e}");
    // A key id that is not the PEM key's (10).
    let e = refused(edited(&good, |p| {
        p["key"]["keyId"] = Value::String("00".repeat(32));
    }));
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    // Another scheme recorded than the one that verifies (10).
    let e = refused(edited(&good, |p| p["scheme"] = Value::String("ed25519".into())));
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    // A valid signature of another image, re-pointed at this one (1).
    let elsewhere = Digest::of(b"another image");
    let mut moved = referrer(&ck, &elsewhere);
    let mut m: Value = serde_json::from_slice(&moved.manifest).unwrap();
    m["subject"]["digest"] = Value::String(image.to_string());
    moved.manifest = serde_json::to_vec(&m).unwrap();
    let e = refused(edited(&good, |p| {
        p["manifest"] = Value::String(B64.encode(&moved.manifest));
        p["blob"] = Value::String(B64.encode(&moved.blob));
    }));
    assert_eq!(e.exit_code(), ExitCode::DigestMismatch, "{e}");
    // Its signature changed: the hint names the recorded key (2).
    let mut sb: Value = serde_json::from_slice(&checked.artifact().blob).unwrap();
    let mut sig = B64
        .decode(sb["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    sb["dsseEnvelope"]["signatures"][0]["sig"] = Value::String(B64.encode(&sig));
    let blob = serde_json::to_vec(&sb).unwrap();
    let mut m: Value = serde_json::from_slice(&checked.artifact().manifest).unwrap();
    m["layers"][0]["digest"] = Value::String(Digest::of(&blob).to_string());
    m["layers"][0]["size"] = Value::from(blob.len());
    let e = refused(edited(&good, |p| {
        p["manifest"] = Value::String(B64.encode(serde_json::to_vec(&m).unwrap()));
        p["blob"] = Value::String(B64.encode(&blob));
    }));
    assert_eq!(e.exit_code(), ExitCode::SignatureInvalid, "{e}");
    // An unknown predicate field (10).
    let e = refused(edited(&good, |p| p["extra"] = Value::Bool(true)));
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
}
