//! The security issue's core points, each as the attack that worked before:
//! one meaning for the signed OCI JSON (F1), layers bound by signed
//! diff_ids (F1), attestations endorsed as a set by the release statement
//! (F2, F7), signature stuffing (F11) and the resource bounds checked before
//! trust (F8, F9).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use cerro_core::bundle::{self, member_header, Bundle, BundleContents, NoExtract, RELEASE_ATTESTATION};
use cerro_core::digest::Digest;
use cerro_core::dsse::{Envelope, Signature, IN_TOTO_PAYLOAD_TYPE};
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::image::{bundle_index, MT_OCI_LAYER_TAR, OCI_LAYOUT_FILE};
use cerro_core::manifest::PackageManifest;
use cerro_core::pack::{self, LayerDiffIds, PackRequest};
use cerro_core::policy_interface::NoPolicy;
use cerro_core::statement::{ImageDescriptor, MemberDigest, PackageId, ReleaseStatement, Subject, STATEMENT_TYPE};
use cerro_core::testing::manifest_for;
use cerro_core::trust::{Fingerprint, KeyEntry, TrustLevel, TrustStore};
use cerro_core::verify::{verify, Verified};
use cerro_core::{jcs, Error, ExitCode};
use ed25519_dalek::SigningKey;
use serde_json::json;

const NOW: u64 = 1_750_000_000;
const PROVENANCE: &str = "attestations/provenance.dsse.json";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn trusting(keys: &[&SigningKey]) -> TrustStore {
    let mut t = TrustStore::new();
    for (i, k) in keys.iter().enumerate() {
        t.insert(KeyEntry::new(&format!("k{i}"), k.verifying_key(), TrustLevel::Full))
            .unwrap();
    }
    t
}

/// A one-layer layout at `dir`, its image and package manifest.
fn image(dir: &Path) -> (SourceImage, PackageManifest) {
    let mut b = LayoutBuilder::new(dir).unwrap();
    b.layer_tar(&[("etc/motd", 0o644, b"attested\n")]).unwrap();
    b.finish(basic_config(&["/bin/true"]), Some("1")).unwrap();
    open(dir)
}

fn open(dir: &Path) -> (SourceImage, PackageManifest) {
    let image = SourceImage::open(&format!("oci:{}", dir.display())).unwrap();
    let manifest = manifest_for(&image, "motd", "1");
    (image, manifest)
}

fn read(bytes: &[u8]) -> Result<Bundle, Error> {
    bundle::read_bundle(&mut &bytes[..], &mut NoExtract)
}

fn check(bytes: &[u8], trust: &TrustStore) -> Result<Verified<Bundle>, Error> {
    verify(read(bytes)?, trust, &NoPolicy, NOW).map_err(|r| r.error)
}

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> (ExitCode, String) {
    let e = r.unwrap_err();
    (e.exit_code(), e.to_string())
}

/// A provenance statement about `image`.
fn provenance(image: &SourceImage, finished: &str) -> Vec<u8> {
    jcs::to_vec(&json!({
        "_type": STATEMENT_TYPE,
        "subject": [Subject::sha256("motd", &image.manifest.digest)],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"runDetails": {"metadata": {"finishedOn": finished}}},
    }))
    .unwrap()
}

fn pack_with(
    image: &SourceImage,
    manifest: &PackageManifest,
    keys: &[SigningKey],
    extra: &[(String, Vec<u8>)],
) -> Vec<u8> {
    let mut out = Vec::new();
    PackRequest {
        image,
        manifest,
        keys,
        mtime: 0,
        selinux: &[],
        extra,
        diff_ids: &LayerDiffIds::of_uncompressed(image).unwrap(),
    }
    .write(&mut out)
    .unwrap();
    out
}

/// Rewrites the layout's image manifest with `edit`, re-pointing index.json.
fn rewrite_manifest(dir: &Path, image: &SourceImage, edit: impl Fn(&str) -> String) {
    let text = edit(std::str::from_utf8(&image.manifest_bytes).unwrap());
    let d = Digest::of(text.as_bytes());
    std::fs::write(dir.join("blobs/sha256").join(d.hex()), &text).unwrap();
    let mut desc = image.manifest.clone();
    desc.digest = d;
    desc.size = text.len() as u64;
    std::fs::write(
        dir.join("index.json"),
        bundle_index(&desc, image.reference.as_deref()).unwrap(),
    )
    .unwrap();
}

/// A tar of `members` written as the bundle writer writes them.
fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, data) in members {
        out.extend_from_slice(member_header(path, data.len() as u64, 0).unwrap().as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

// --- F1: one meaning for the signed OCI JSON ---------------------------------

#[test]
fn a_manifest_whose_layers_go_reads_differently_is_refused_at_pack() {
    let dir = tempfile::tempdir().unwrap();
    let (img, _) = image(dir.path());
    // Go's encoding/json takes the last case-insensitive match: "Layers".
    rewrite_manifest(dir.path(), &img, |m| {
        m.replacen("\"layers\":", "\"Layers\":[],\"layers\":", 1)
    });
    let e = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    assert!(
        e.to_string()
            .contains("case variant of the image manifest field \"layers\""),
        "{e}"
    );
}

#[test]
fn an_index_that_is_also_a_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    image(dir.path());
    let idx = std::fs::read_to_string(dir.path().join("index.json")).unwrap();
    std::fs::write(dir.path().join("index.json"), idx.replacen("{", "{\"layers\":[],", 1)).unwrap();
    let e = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    assert!(e.to_string().contains("\"layers\""), "{e}");
}

#[test]
fn a_bundle_whose_manifest_has_a_case_variant_field_is_refused_by_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let m =
        String::from_utf8(img.manifest_bytes.clone())
            .unwrap()
            .replacen("\"layers\":", "\"Layers\":[],\"layers\":", 1);
    let mut desc = img.manifest.clone();
    desc.digest = Digest::of(m.as_bytes());
    desc.size = m.len() as u64;
    let index = bundle_index(&desc, img.reference.as_deref()).unwrap();
    let toml = manifest.to_canonical_toml().unwrap();
    let blob = format!("oci-layout/blobs/sha256/{}", desc.digest.hex());
    let bytes = tar_of(&[
        ("manifest.toml", toml.as_bytes()),
        ("oci-layout/oci-layout", OCI_LAYOUT_FILE),
        ("oci-layout/index.json", &index),
        (&blob, m.as_bytes()),
    ]);
    let (c, e) = code(read(&bytes));
    assert_eq!(c, ExitCode::Malformed, "{e}");
    assert!(e.contains("case variant"), "{e}");
}

#[test]
fn a_config_whose_diff_ids_are_not_the_layers_is_refused_at_pack() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path()).unwrap();
    let real = b.layer_tar(&[("etc/motd", 0o644, b"shipped\n")]).unwrap().clone();
    // The config names another layer content (what a runtime would build
    // its snapshot chain from) than the layer shipped.
    let bytes = std::fs::read(dir.path().join("blobs/sha256").join(real.digest.hex())).unwrap();
    b.layer_raw(&bytes, MT_OCI_LAYER_TAR, Digest::of(b"some other layer"))
        .unwrap();
    b.finish(basic_config(&["/bin/true"]), Some("1")).unwrap();
    let (img, manifest) = open(dir.path());
    let mut out = Vec::new();
    let e = PackRequest {
        image: &img,
        manifest: &manifest,
        keys: &[key(1)],
        mtime: 0,
        selinux: &[],
        extra: &[],
        diff_ids: &LayerDiffIds::of_uncompressed(&img).unwrap(),
    }
    .write(&mut out)
    .unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::DigestMismatch, "{e}");
    assert!(e.to_string().contains("rootfs.diff_ids[1]"), "{e}");
}

#[test]
fn the_config_must_carry_the_signed_diff_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let k = key(1);
    let good = pack_with(&img, &manifest, std::slice::from_ref(&k), &[]);
    check(&good, &trusting(&[&k])).unwrap();
    // A release statement whose diffIds are not the config's: what a
    // runtime would build differs from what was signed.
    let bundle = read(&good).unwrap();
    let mut st = ReleaseStatement::parse_release("r", &bundle.release().unwrap().envelope.payload).unwrap();
    st.predicate.diff_ids = vec![Digest::of(b"another layer")];
    let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, jcs::to_canonical(&st).unwrap());
    env.sign(&k).unwrap();
    let mut out = Vec::new();
    bundle::write_bundle(
        &BundleContents {
            manifest_toml: manifest.to_canonical_toml().unwrap().into_bytes(),
            attestations: vec![(RELEASE_ATTESTATION.into(), env.to_bytes().unwrap())],
            selinux: Vec::new(),
            transparency: Vec::new(),
            rebuilds: Vec::new(),
            image: &img,
            mtime: 0,
        },
        &mut out,
    )
    .unwrap();
    let (c, e) = code(check(&out, &trusting(&[&k])));
    assert_eq!(c, ExitCode::DigestMismatch, "{e}");
    assert!(e.contains("diff_ids"), "{e}");
}

// --- F2, F7: attestations endorsed as a set ---------------------------------

/// The packed bundle with its attestations replaced by `attestations`.
fn rewrite(img: &SourceImage, manifest: &PackageManifest, attestations: Vec<(String, Vec<u8>)>) -> Vec<u8> {
    let mut out = Vec::new();
    bundle::write_bundle(
        &BundleContents {
            manifest_toml: manifest.to_canonical_toml().unwrap().into_bytes(),
            attestations,
            selinux: Vec::new(),
            transparency: Vec::new(),
            rebuilds: Vec::new(),
            image: img,
            mtime: 0,
        },
        &mut out,
    )
    .unwrap();
    out
}

fn envelopes(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    read(bytes)
        .unwrap()
        .attestations
        .iter()
        .map(|a| (a.path.clone(), a.envelope.to_bytes().unwrap()))
        .collect()
}

#[test]
fn an_attestation_slipped_into_a_signed_bundle_is_refused_and_never_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let (maintainer, release_manager) = (key(1), key(2));
    let good = pack_with(&img, &manifest, std::slice::from_ref(&maintainer), &[]);
    // On its way to the release manager, an unsigned provenance claiming a
    // fresh build from an allowed registry is added.
    let mut forged = envelopes(&good);
    let fake = Envelope::new(IN_TOTO_PAYLOAD_TYPE, provenance(&img, "2026-12-01T00:00:00Z"));
    forged.push((PROVENANCE.into(), fake.to_bytes().unwrap()));
    forged.sort();
    let forged = rewrite(&img, &manifest, forged);
    let trust = trusting(&[&maintainer, &release_manager]);
    let (c, e) = code(check(&forged, &trust));
    assert_eq!(c, ExitCode::Malformed, "{e}");
    assert!(e.contains("not bound by the release statement"), "{e}");
    // The routine co-signature refuses instead of endorsing it.
    let path = dir.path().join("forged.ctp");
    std::fs::write(&path, &forged).unwrap();
    let e = pack::cosign(&read(&forged).unwrap(), &path, &release_manager, &mut Vec::new()).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
}

#[test]
fn a_bound_attestation_swapped_for_another_statement_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let k = key(1);
    let honest = vec![(PROVENANCE.to_owned(), provenance(&img, "2024-01-01T00:00:00Z"))];
    let good = pack_with(&img, &manifest, std::slice::from_ref(&k), &honest);
    check(&good, &trusting(&[&k])).unwrap();
    // Signed by the same key, but not the statement the release binds.
    let mut other = Envelope::new(IN_TOTO_PAYLOAD_TYPE, provenance(&img, "2026-12-01T00:00:00Z"));
    other.sign(&k).unwrap();
    let swapped: Vec<_> = envelopes(&good)
        .into_iter()
        .map(|(p, b)| {
            if p == PROVENANCE {
                (p, other.to_bytes().unwrap())
            } else {
                (p, b)
            }
        })
        .collect();
    let (c, e) = code(check(&rewrite(&img, &manifest, swapped), &trusting(&[&k])));
    assert_eq!(c, ExitCode::DigestMismatch, "{e}");
    assert!(e.contains(PROVENANCE), "{e}");
}

#[test]
fn cosigning_signs_only_the_release_which_endorses_every_bound_attestation() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let (maintainer, release_manager) = (key(1), key(2));
    let extra = vec![(PROVENANCE.to_owned(), provenance(&img, "2024-01-01T00:00:00Z"))];
    let packed = pack_with(&img, &manifest, std::slice::from_ref(&maintainer), &extra);
    let path = dir.path().join("b.ctp");
    std::fs::write(&path, &packed).unwrap();
    let mut cosigned = Vec::new();
    pack::cosign(&read(&packed).unwrap(), &path, &release_manager, &mut cosigned).unwrap();
    let (before, after) = (envelopes(&packed), envelopes(&cosigned));
    for ((p, b), (q, a)) in before.iter().zip(&after) {
        assert_eq!(p, q);
        if p == PROVENANCE {
            assert_eq!(a, b, "the provenance envelope is copied unchanged");
        } else {
            assert_ne!(a, b, "the release envelope gains a signature");
        }
    }
    // A host that trusts only the release manager accepts the provenance
    // through the release statement that binds it.
    let v = check(&cosigned, &trusting(&[&release_manager])).unwrap();
    assert_eq!(v.attestations.len(), 2);
}

// --- F11: signature stuffing -------------------------------------------------

#[test]
fn a_junk_signature_under_a_known_key_id_does_not_make_a_valid_bundle_unverifiable() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let (good_key, other) = (key(1), key(2));
    let packed = pack_with(&img, &manifest, std::slice::from_ref(&good_key), &[]);
    let stuff = |fp: &SigningKey| {
        let mut b = read(&packed).unwrap();
        let rel = b
            .attestations
            .iter_mut()
            .find(|a| a.path == RELEASE_ATTESTATION)
            .unwrap();
        rel.envelope.signatures.insert(
            0,
            Signature {
                keyid: Fingerprint::of(&fp.verifying_key()).to_hex(),
                sig: vec![0; 64],
            },
        );
        rewrite(
            &img,
            &manifest,
            b.attestations
                .iter()
                .map(|a| (a.path.clone(), a.envelope.to_bytes().unwrap()))
                .collect(),
        )
    };
    let trust = trusting(&[&good_key, &other]);
    // A junk signature claiming the other trusted key: reported, not fatal.
    let r = verify(read(&stuff(&other)).unwrap(), &trust, &NoPolicy, NOW).unwrap();
    assert_eq!(r.report().invalid_signatures.len(), 1);
    assert_eq!(r.report().invalid_signatures[0].key_id, "k1");
    // Alone (the only known key's signature is junk), it is exit 2.
    let (c, e) = code(check(&stuff(&other), &trusting(&[&other])));
    assert_eq!(c, ExitCode::SignatureInvalid, "{e}");
    // Junk placed before the real signature under the signer's own key id
    // neither hides it nor counts twice.
    let r = verify(read(&stuff(&good_key)).unwrap(), &trust, &NoPolicy, NOW).unwrap();
    assert_eq!(r.report().signers.iter().filter(|s| s.counted()).count(), 1);
    assert_eq!(r.report().invalid_signatures.len(), 1);
}

// --- F8, F9: bounds before trust ---------------------------------------------

#[test]
fn selinux_modules_are_bounded_in_count_and_total_size() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let write = |selinux: Vec<(String, Vec<u8>)>| {
        let mut out = Vec::new();
        bundle::write_bundle(
            &BundleContents {
                manifest_toml: manifest.to_canonical_toml().unwrap().into_bytes(),
                attestations: Vec::new(),
                selinux,
                transparency: Vec::new(),
                rebuilds: Vec::new(),
                image: &img,
                mtime: 0,
            },
            &mut out,
        )
        .unwrap();
        out
    };
    let many = (0..9)
        .map(|i| (format!("selinux/m{i}.cil"), b"(type t)".to_vec()))
        .collect();
    let (c, e) = code(read(&write(many)));
    assert_eq!(c, ExitCode::Malformed);
    assert!(e.contains("more than 8 selinux/ modules"), "{e}");
    let big = (0..5)
        .map(|i| (format!("selinux/m{i}.cil"), vec![b';'; 1 << 20]))
        .collect();
    let (c, e) = code(read(&write(big)));
    assert_eq!(c, ExitCode::Malformed);
    assert!(e.contains("selinux/ modules hold more than"), "{e}");
}

#[test]
fn a_release_statement_binding_too_many_or_duplicate_paths_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (img, manifest) = image(dir.path());
    let k = key(1);
    let sign = |members: Vec<MemberDigest>| {
        let st = ReleaseStatement::release(
            PackageId {
                name: "motd".into(),
                version: "1".into(),
            },
            ImageDescriptor {
                media_type: img.manifest.media_type.clone(),
                digest: img.manifest.digest,
                size: img.manifest.size,
            },
            img.parts.layers.iter().map(|l| l.digest).collect(),
            members,
            Vec::new(),
        );
        let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, jcs::to_canonical(&st).unwrap());
        env.sign(&k).unwrap();
        rewrite(
            &img,
            &manifest,
            vec![(RELEASE_ATTESTATION.into(), env.to_bytes().unwrap())],
        )
    };
    let m = |p: String| MemberDigest {
        path: p,
        digest: Digest::of(b""),
    };
    let many = (0..100_000).map(|i| m(format!("x/{i}"))).collect();
    let (c, e) = code(check(&sign(many), &trusting(&[&k])));
    assert_eq!(c, ExitCode::Malformed);
    assert!(e.contains("more than"), "{e}");
    let (c, e) = code(check(&sign(vec![m("a".into()), m("a".into())]), &trusting(&[&k])));
    assert_eq!(c, ExitCode::Malformed);
    assert!(e.contains("twice"), "{e}");
    // Untrusted, the same statement is refused for its signer before any of
    // that structure is looked at.
    let (c, _) = code(check(&sign(vec![m("a".into()), m("a".into())]), &TrustStore::new()));
    assert_eq!(c, ExitCode::SignerNotTrusted);
}

/// A layout's `index.json` is read counting bytes, whatever its size says:
/// past 4 MiB it is refused (exit 10), and the whole file is never held.
#[test]
fn an_oversized_index_json_in_a_layout_is_refused_while_reading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("oci-layout"), OCI_LAYOUT_FILE).unwrap();
    let mut big = br#"{"schemaVersion":2,"manifests":[],"x":""#.to_vec();
    big.resize(4 * 1024 * 1024 + 64, b'a');
    big.extend_from_slice(b"\"}");
    std::fs::write(dir.path().join("index.json"), &big).unwrap();
    let e = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    assert!(
        e.to_string().contains("index.json") && e.to_string().contains("limit"),
        "{e}"
    );
}
