//! ECDSA P-256 beside Ed25519 (issue #14, spec/bundle-format.md §4.3,
//! spec/trust-store.md §2): byte-reproducible packs with a P-256 key, key
//! ids over the SPKI for both algorithms (Ed25519's unchanged), a holder's
//! keys of the two types counted as two distinct keys through
//! `TrustStore::tally`, and the refusals (wrong key, high-S twin, non-DER,
//! the other algorithm's signature shape), each exit 2 as an invalid
//! signature is today.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use cerro_core::bundle::{self, Bundle, BundleContents, NoExtract, RELEASE_ATTESTATION};
use cerro_core::digest::Digest;
use cerro_core::image::source::SourceImage;
use cerro_core::key::{ecdsa_p256_low_s, Algorithm, KeySigner, PublicKey, SecretKey};
use cerro_core::manifest::PackageManifest;
use cerro_core::pack;
use cerro_core::policy_interface::NoPolicy;
use cerro_core::testing::one_file_image;
use cerro_core::trust::{Fingerprint, KeyEntry, TallyTime, ThresholdGroup, TrustLevel, TrustStore};
use cerro_core::verify::verify;
use cerro_core::{Error, ExitCode};

const NOW: u64 = 1_750_000_000;

fn ed(seed: u8) -> SecretKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).into()
}

fn ec(seed: u8) -> SecretKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap().into()
}

fn image(dir: &Path) -> (SourceImage, PackageManifest) {
    one_file_image(dir, ("etc/motd", b"two key types\n"), "/bin/true", "1", ("motd", "1"))
}

fn packed(img: &SourceImage, manifest: &PackageManifest, keys: &[SecretKey]) -> Vec<u8> {
    let mut out = Vec::new();
    pack::pack(img, manifest, keys, 1_700_000_000, &mut out).unwrap();
    out
}

fn read(bytes: &[u8]) -> Bundle {
    bundle::read_bundle(&mut &bytes[..], &mut NoExtract).unwrap()
}

fn trusting(keys: &[&SecretKey]) -> TrustStore {
    let mut t = TrustStore::new();
    for (i, k) in keys.iter().enumerate() {
        t.insert(KeyEntry::new(&format!("k{i}"), k.public(), TrustLevel::Full))
            .unwrap();
    }
    t
}

/// The bundle with the release envelope's signatures replaced by `sigs`
/// (keyid, signature bytes), re-serialised canonically.
fn with_release_signatures(
    img: &SourceImage,
    manifest: &PackageManifest,
    bytes: &[u8],
    sigs: Vec<(String, Vec<u8>)>,
) -> Vec<u8> {
    let b = read(bytes);
    let attestations = b
        .attestations
        .iter()
        .map(|a| {
            let mut env = a.envelope.clone();
            if a.path == RELEASE_ATTESTATION {
                env.signatures = sigs
                    .iter()
                    .map(|(keyid, sig)| cerro_core::dsse::Signature {
                        keyid: keyid.clone(),
                        sig: sig.clone(),
                    })
                    .collect();
            }
            (a.path.clone(), env.to_bytes().unwrap())
        })
        .collect();
    let mut out = Vec::new();
    bundle::write_bundle(
        &BundleContents {
            manifest_toml: manifest.to_canonical_toml().unwrap().into_bytes(),
            attestations,
            selinux: Vec::new(),
            transparency: Vec::new(),
            rebuilds: Vec::new(),
            image: img,
            mtime: 1_700_000_000,
        },
        &mut out,
    )
    .unwrap();
    out
}

fn refusal(bytes: &[u8], trust: &TrustStore) -> (ExitCode, String) {
    let e: Error = verify(read(bytes), trust, &NoPolicy, NOW)
        .map(|_| ())
        .unwrap_err()
        .error;
    (e.exit_code(), e.to_string())
}

#[test]
fn a_p256_key_packs_byte_identical_bundles_that_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let key = ec(3);
    let a = packed(&img, &manifest, std::slice::from_ref(&key));
    let b = packed(&img, &manifest, std::slice::from_ref(&key));
    assert_eq!(
        Digest::of(&a),
        Digest::of(&b),
        "RFC 6979: packing twice gives the same bytes"
    );
    let v = verify(read(&a), &trusting(&[&key]), &NoPolicy, NOW).unwrap();
    assert!(
        v.report()
            .checks
            .iter()
            .any(|c| c.ok && c.detail.contains("valid ECDSA P-256 signature")),
        "{:?}",
        v.report().checks
    );
    // The signature is DER, low-S, under the SPKI key id.
    let rel = read(&a).release().unwrap().envelope.clone();
    assert_eq!(rel.signatures.len(), 1);
    assert_eq!(rel.signatures[0].keyid, Fingerprint::of(&key.public()).to_hex());
    assert_eq!(rel.signatures[0].sig[0], 0x30);
    assert_eq!(ecdsa_p256_low_s(&rel.signatures[0].sig).unwrap(), rel.signatures[0].sig);
}

/// Key ids: SHA-256 of the DER SPKI, written out by hand here so the scheme
/// is pinned (Ed25519: RFC 8410 prefix; P-256: RFC 5480 prefix and the
/// uncompressed point).
#[test]
fn key_ids_are_sha256_of_the_spki_for_both_algorithms() {
    let e = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let mut spki = hex::decode("302a300506032b6570032100").unwrap();
    spki.extend_from_slice(e.as_bytes());
    assert_eq!(Fingerprint::of(&e).to_hex(), Digest::of(&spki).hex());
    // The value existing bundles carry for this test key (unchanged).
    assert_eq!(
        Fingerprint::of(&e).to_hex(),
        Fingerprint::of(&PublicKey::from(e)).to_hex()
    );

    let p = *p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap().verifying_key();
    let mut spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    spki.extend_from_slice(p.to_sec1_point(false).as_bytes());
    assert_eq!(PublicKey::from(p).spki_der(), spki);
    assert_eq!(Fingerprint::of(&p).to_hex(), Digest::of(&spki).hex());
}

#[test]
fn one_key_of_each_type_counts_twice_toward_a_threshold_of_two() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let (e, p) = (ed(1), ec(1));
    let keys = [e, p];
    let bytes = packed(&img, &manifest, &keys);
    let mut trust = trusting(&[&keys[0], &keys[1]]);
    let v = verify(read(&bytes), &trust, &NoPolicy, NOW).unwrap();
    let counted: Vec<_> = v.report().signers.iter().filter(|s| s.counted()).collect();
    assert_eq!(counted.len(), 2, "{:?}", v.report().signers);
    // Through the one counting routine, with a 2-of-2 group of mixed types.
    trust
        .set_group(ThresholdGroup::new("release", vec!["k0".into(), "k1".into()], 2).unwrap())
        .unwrap();
    let group = trust.group("release").unwrap().clone();
    let fps: Vec<_> = keys.iter().map(|k| Fingerprint::of(&k.public())).collect();
    let t = trust.tally(&fps, TallyTime::now(NOW), TrustLevel::Full, &|k| {
        (!group.contains(k)).then(|| "not in the group".into())
    });
    assert_eq!(t.counted, 2);
    // The same P-256 signature twice is one key, not two.
    let t = trust.tally(&[fps[1], fps[1]], TallyTime::now(NOW), TrustLevel::Full, &|_| None);
    assert_eq!(t.counted, 1);
    // Only the P-256 key trusted: one counted, the Ed25519 signer unknown.
    let only = trusting(&[&keys[1]]);
    let v = verify(read(&bytes), &only, &NoPolicy, NOW).unwrap();
    assert_eq!(v.report().signers.iter().filter(|s| s.counted()).count(), 1);
}

#[test]
fn p256_refusals_are_invalid_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let key = ec(5);
    let bytes = packed(&img, &manifest, std::slice::from_ref(&key));
    let trust = trusting(&[&key]);
    let keyid = Fingerprint::of(&key.public()).to_hex();
    let good = read(&bytes).release().unwrap().envelope.signatures[0].sig.clone();
    let parsed = p256::ecdsa::Signature::from_der(&good).unwrap();
    let (r, s) = parsed.split_scalars();
    // The high-S twin (r, n − s): valid under Go's ecdsa.VerifyASN1, refused here.
    let high = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes())
        .unwrap()
        .to_der()
        .as_bytes()
        .to_vec();
    assert_ne!(high, good);
    // Raw r || s (64 bytes, the JOSE form): not DER.
    let raw = parsed.to_bytes().to_vec();
    // A signature by another P-256 key under this key id; the Ed25519
    // signature of the same envelope under it.
    let pae = read(&bytes).release().unwrap().envelope.pae();
    let other = ec(6).sign_message(&pae).unwrap();
    let edsig = ed(5).sign_message(&pae).unwrap();
    for (what, sig, says) in [
        ("high-S", high, "high-S"),
        ("raw r||s", raw, "canonical signature encoding"),
        ("other key", other, "does not verify"),
        ("Ed25519 shape", edsig, "canonical signature encoding"),
    ] {
        let forged = with_release_signatures(&img, &manifest, &bytes, vec![(keyid.clone(), sig)]);
        let (c, e) = refusal(&forged, &trust);
        assert_eq!(c, ExitCode::SignatureInvalid, "{what}: {e}");
        let v = verify(read(&forged), &trust, &NoPolicy, NOW).map(|_| ()).unwrap_err();
        assert!(
            v.report.checks.iter().any(|c| !c.ok && c.detail.contains(says)),
            "{what}: {:?}",
            v.report.checks
        );
    }
    // The untouched signature still verifies after the same rewrite.
    let same = with_release_signatures(&img, &manifest, &bytes, vec![(keyid, good)]);
    assert_eq!(same, bytes);
    verify(read(&same), &trust, &NoPolicy, NOW).unwrap();
    // An untrusted P-256 key is unknown, as an Ed25519 one is (exit 3 or as
    // today for no trusted signer).
    let (c, _) = refusal(&bytes, &trusting(&[&ec(9)]));
    let (c_ed, _) = refusal(&packed(&img, &manifest, &[ed(5)]), &trusting(&[&ed(9)]));
    assert_eq!(c, c_ed);
}

#[test]
fn an_encrypted_p256_key_generated_in_a_home_signs_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let home = cerro_core::trust::home::Home::new(dir.path().join("home"));
    let e = home.generate_key_of(Algorithm::EcdsaP256, "ec", Some(b"pw")).unwrap();
    assert_eq!(e.public.algorithm(), Algorithm::EcdsaP256);
    let text = std::fs::read_to_string(dir.path().join("home/private/ec.key")).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let k = home.load_signing_key("ec", Some(b"pw")).unwrap();
    assert_eq!(k.public(), e.public);
    let e = home.load_signing_key("ec", Some(b"no")).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Config, "{e}");
    let pem = std::fs::read_to_string(dir.path().join("home/keys/ec.pub.pem")).unwrap();
    assert_eq!(PublicKey::from_pem(&pem, "t").unwrap(), k.public());
    // And it reloads from trust.toml with the fingerprint check.
    let store = home.load_trust().unwrap();
    assert_eq!(store.get("ec").unwrap().public, k.public());
}
