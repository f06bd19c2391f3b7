//! Rebuild attestations in a bundle (spec/bundle-format.md §3.5,
//! spec/attestations.md §4): `rebuilds/<key id>.dsse.json` members, added
//! after signing without changing a signed byte, kept by every rewrite
//! (proofs, co-signing), refused by the reader when hostile (too large, too
//! many, a bad name, twice, out of order, not one signature by the key the
//! name gives), and checked by `verify` (reported, never refusing: the
//! policy counts them).

#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;

use cerro_core::bundle::{self, add_rebuild_to_file, Bundle, NoExtract};
use cerro_core::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use cerro_core::pack;
use cerro_core::policy_interface::NoPolicy;
use cerro_core::rebuild::{
    self, rebuild_path, sign_rebuild, Rebuild, DEFAULT_VERIFIER_ID, MAX_REBUILDS, MAX_REBUILD_SIZE, VSA_PREDICATE_TYPE,
};
use cerro_core::testing::one_file_image;
use cerro_core::trust::{Fingerprint, KeyEntry, TrustLevel, TrustStore};
use cerro_core::verify::{self, RebuildStatus, Verified};
use cerro_core::ExitCode;
use tempfile::TempDir;

use common::{key, tar_members, RawTar, MTIME};

const NOW: u64 = 1_750_000_000;

struct Fx {
    dir: TempDir,
    /// The bundle as packed (no rebuild), in a file.
    path: std::path::PathBuf,
    plain: Vec<u8>,
    trust: TrustStore,
}

fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let (image, manifest) = one_file_image(
        &dir.path().join("layout"),
        ("hello.txt", b"hello\n"),
        "/hello.txt",
        "hello-1",
        ("hello", "1.0"),
    );
    let mut plain = Vec::new();
    pack::pack(&image, &manifest, &[key(1)], MTIME, &mut plain).unwrap();
    let path = dir.path().join("b.ctp");
    std::fs::write(&path, &plain).unwrap();
    let mut trust = TrustStore::new();
    trust
        .insert(KeyEntry::new("release", key(1).verifying_key(), TrustLevel::Full))
        .unwrap();
    for s in 2..=4u8 {
        trust
            .insert(KeyEntry::new(
                &format!("r{s}"),
                key(s).verifying_key(),
                TrustLevel::Full,
            ))
            .unwrap();
    }
    Fx {
        dir,
        path,
        plain,
        trust,
    }
}

/// A new file open for reading and writing (the file writer hashes what
/// landed in it).
fn rw(path: &std::path::Path) -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap()
}

fn read(bytes: &[u8]) -> cerro_core::Result<Bundle> {
    bundle::read_bundle(&mut &bytes[..], &mut NoExtract)
}

fn verified(fx: &Fx, bytes: &[u8]) -> Verified<Bundle> {
    verify::verify(read(bytes).unwrap(), &fx.trust, &NoPolicy, NOW).unwrap()
}

fn rebuild_by(fx: &Fx, seed: u8) -> Rebuild {
    sign_rebuild(&verified(fx, &fx.plain), &key(seed), DEFAULT_VERIFIER_ID, NOW - 60).unwrap()
}

/// The bundle at `fx.path` with `rebuilds` added, written to `out`, read back.
fn with_rebuilds(fx: &Fx, rebuilds: &[Rebuild], out: &str) -> Vec<u8> {
    let dest = fx.dir.path().join(out);
    std::fs::copy(&fx.path, &dest).unwrap();
    for r in rebuilds {
        let b = bundle::read_bundle_file(&File::open(&dest).unwrap(), &mut NoExtract).unwrap();
        add_rebuild_to_file(&b, &dest, r.clone(), &dest).unwrap();
    }
    std::fs::read(dest).unwrap()
}

#[test]
fn a_rebuild_is_added_without_changing_a_signed_byte() {
    let fx = fixture();
    let r = rebuild_by(&fx, 2);
    assert_eq!(r.path, rebuild_path(&Fingerprint::of(&key(2).verifying_key())));
    let bytes = with_rebuilds(&fx, std::slice::from_ref(&r), "one.ctp");
    let b = read(&bytes).unwrap();
    assert_eq!(b.rebuilds, vec![r.clone()]);
    // Every other member is the same bytes, in the same order.
    let others = |bytes: &[u8]| {
        tar_members(bytes)
            .into_iter()
            .filter(|m| !m.path.starts_with(rebuild::REBUILDS_PREFIX))
            .map(|m| (m.path, m.data))
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&bytes), others(&fx.plain));
    // Between the proofs and the layout, sorted.
    let paths: Vec<String> = tar_members(&bytes).into_iter().map(|m| m.path).collect();
    let at = paths.iter().position(|p| *p == r.path).unwrap();
    assert_eq!(paths[at + 1], "oci-layout/oci-layout");
    // Removing it gives the packed bundle back, byte for byte.
    let path = fx.dir.path().join("one.ctp");
    let mut out = rw(&fx.dir.path().join("none.ctp"));
    bundle::rewrite_rebuilds_to_file(&b, &path, vec![], &mut out).unwrap();
    assert_eq!(std::fs::read(fx.dir.path().join("none.ctp")).unwrap(), fx.plain);
    // It verifies, with a report line; the file reader agrees.
    let v = verified(&fx, &bytes);
    assert_eq!(v.report().rebuilds[0].status, RebuildStatus::Verified);
    let from_file = bundle::read_bundle_file(&File::open(&path).unwrap(), &mut NoExtract).unwrap();
    assert_eq!(from_file.rebuilds, b.rebuilds);

    // A second by the same key replaces the first; by another, is added in order.
    let again = sign_rebuild(&verified(&fx, &fx.plain), &key(2), DEFAULT_VERIFIER_ID, NOW).unwrap();
    let bytes = with_rebuilds(
        &fx,
        &[r, rebuild_by(&fx, 4), again.clone(), rebuild_by(&fx, 3)],
        "three.ctp",
    );
    let b = read(&bytes).unwrap();
    assert_eq!(b.rebuilds.len(), 3);
    assert!(b.rebuilds.contains(&again));
    assert!(b.rebuilds.windows(2).all(|w| w[0].path < w[1].path));

    // The statement is a SLSA VSA v1 about this image and this release.
    let st: serde_json::Value = serde_json::from_slice(&again.envelope.payload).unwrap();
    assert_eq!(st["predicateType"], VSA_PREDICATE_TYPE);
    assert_eq!(st["subject"][0]["digest"]["sha256"], b.image.digest.hex());
    assert_eq!(
        st["subject"][1]["digest"]["sha256"],
        cerro_core::digest::Digest::of(&b.release().unwrap().envelope.payload).hex()
    );
    assert_eq!(
        st["predicate"]["timeVerified"],
        cerro_core::timestamp::format_rfc3339(NOW)
    );
}

/// Rewriting the proofs keeps the rebuilds; co-signing the release keeps
/// them, and they still verify (they bind the statement, not the envelope).
#[test]
fn rewrites_and_co_signing_keep_the_rebuilds() {
    let fx = fixture();
    let bytes = with_rebuilds(&fx, &[rebuild_by(&fx, 2)], "r.ctp");
    let path = fx.dir.path().join("r.ctp");
    let b = read(&bytes).unwrap();
    let mut out = rw(&fx.dir.path().join("p.ctp"));
    bundle::rewrite_proofs_to_file(&b, &path, vec![], &mut out).unwrap();
    assert_eq!(std::fs::read(fx.dir.path().join("p.ctp")).unwrap(), bytes);

    let mut cosigned = Vec::new();
    pack::cosign(&b, &path, &key(3), &mut cosigned).unwrap();
    let v = verified(&fx, &cosigned);
    assert_eq!(v.release().unwrap().envelope.signatures.len(), 2);
    assert_eq!(v.rebuilds, b.rebuilds);
    assert_eq!(v.report().rebuilds[0].status, RebuildStatus::Verified);
}

#[test]
fn hostile_rebuild_members_are_refused_by_the_reader() {
    let fx = fixture();
    let good = rebuild_by(&fx, 2);
    let bytes = with_rebuilds(&fx, std::slice::from_ref(&good), "r.ctp");
    let members = tar_members(&bytes);
    let at = members.iter().position(|m| m.path == good.path).unwrap();
    // The bundle with the rebuild member(s) replaced by `these` (path, bytes).
    let splice = |these: Vec<(String, Vec<u8>)>| {
        let mut t = RawTar::new();
        t.members(&members[..at]);
        for (p, d) in &these {
            t.file(p, d);
        }
        t.members(&members[at + 1..]);
        t.finish()
    };
    let refused = |bytes: Vec<u8>, needle: &str| {
        let e = read(&bytes).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
        assert!(e.to_string().contains(needle), "{needle:?} not in: {e}");
        // The file reader refuses alike.
        let p = fx.dir.path().join("hostile.ctp");
        std::fs::write(&p, &bytes).unwrap();
        let e = bundle::read_bundle_file(&File::open(&p).unwrap(), &mut NoExtract).unwrap_err();
        assert!(e.to_string().contains(needle), "file reader: {needle:?} not in: {e}");
    };
    let body = good.to_bytes().unwrap();
    // Sanity: spliced back as it was, it reads.
    read(&splice(vec![(good.path.clone(), body.clone())])).unwrap();

    // Larger than the bound: refused from the header's claim.
    let mut t = RawTar::new();
    t.members(&members[..at]);
    t.header(&good.path, MAX_REBUILD_SIZE + 1, tar::EntryType::Regular, "");
    t.data(&vec![b' '; usize::try_from(MAX_REBUILD_SIZE).unwrap() + 1]);
    t.members(&members[at + 1..]);
    refused(t.finish(), "more than the 65536 allowed");

    // More than MAX_REBUILDS: the 17th is refused before it is read.
    let v = verified(&fx, &fx.plain);
    let mut many: Vec<(String, Vec<u8>)> = (10..10 + MAX_REBUILDS as u8 + 1)
        .map(|s| {
            let r = sign_rebuild(&v, &key(s), DEFAULT_VERIFIER_ID, NOW).unwrap();
            (r.path.clone(), r.to_bytes().unwrap())
        })
        .collect();
    many.sort();
    refused(splice(many.clone()), "more than 16 rebuilds/ attestations");
    many.pop();
    read(&splice(many)).unwrap();

    // Bad names: outside the grammar.
    for bad in [
        "rebuilds/release.dsse.json",
        "rebuilds/0000000000000000000000000000000000000000000000000000000000000000.json",
        "rebuilds/0000000000000000000000000000000000000000000000000000000000000000.dsse.json/x",
        "rebuild/0000000000000000000000000000000000000000000000000000000000000000.dsse.json",
    ] {
        refused(splice(vec![(bad.into(), body.clone())]), "unexpected member");
    }
    // Platform names (#18): the reader takes a well-formed one (what it
    // names is checked at verification); outside the grammar it refuses.
    let hex = good.signer.to_hex();
    read(&splice(vec![(
        format!("rebuilds/{hex}-linux-arm64-v8.dsse.json"),
        body.clone(),
    )]))
    .unwrap();
    for bad in [
        format!("rebuilds/{hex}-linux.dsse.json"),
        format!("rebuilds/{hex}-linux-AMD64.dsse.json"),
        format!("rebuilds/{hex}-linux-amd64-.dsse.json"),
        format!("rebuilds/{hex}-linux-arm64-v8-x.dsse.json"),
        format!("rebuilds/{hex}-linux-arm_64.dsse.json"),
    ] {
        refused(splice(vec![(bad, body.clone())]), "unexpected member");
    }
    // A name that is not its signer's.
    let other = rebuild_path(&Fingerprint::of(&key(3).verifying_key()));
    refused(splice(vec![(other, body.clone())]), "but its name says");
    // Twice, and out of order.
    refused(
        splice(vec![
            (good.path.clone(), body.clone()),
            (good.path.clone(), body.clone()),
        ]),
        "duplicate member",
    );
    let r3 = rebuild_by(&fx, 3);
    let r4 = rebuild_by(&fx, 4);
    let (lo, hi) = if r3.path < r4.path { (r3, r4) } else { (r4, r3) };
    refused(
        splice(vec![
            (hi.path.clone(), hi.to_bytes().unwrap()),
            (lo.path.clone(), lo.to_bytes().unwrap()),
        ]),
        "is out of order",
    );
    // Before the transparency proofs / SELinux modules: out of order.
    let mut t = RawTar::new();
    t.members(&members[..1]);
    t.file(&good.path, &body);
    t.members(&members[1..at]);
    t.members(&members[at + 1..]);
    refused(t.finish(), "out of order");
    // Not exactly one signature.
    let mut unsigned = good.envelope.clone();
    unsigned.signatures.clear();
    refused(
        splice(vec![(good.path.clone(), unsigned.to_bytes().unwrap())]),
        "exactly one signature",
    );
    let mut two = good.envelope.clone();
    two.sign(&key(3)).unwrap();
    refused(
        splice(vec![(good.path.clone(), two.to_bytes().unwrap())]),
        "exactly one signature",
    );
    // Not a canonical envelope.
    let mut spaced = body.clone();
    spaced.insert(1, b' ');
    refused(splice(vec![(good.path.clone(), spaced)]), "canonical");
    // The writer refuses what the reader would.
    let b = read(&bytes).unwrap();
    let mut out = rw(&fx.dir.path().join("w.ctp"));
    let e = bundle::rewrite_rebuilds_to_file(
        &b,
        &fx.dir.path().join("r.ctp"),
        vec![good.clone(), good.clone()],
        &mut out,
    )
    .unwrap_err();
    assert!(e.to_string().contains("two rebuild attestations by one key"), "{e}");
}

/// What `verify` makes of rebuilds it cannot count: an unknown key's is not
/// checked; a known key's that does not verify (a tampered statement) is
/// reported as failed. Neither refuses the bundle: a policy decides.
#[test]
fn verify_reports_rebuilds_it_cannot_count_and_still_verifies() {
    let fx = fixture();
    let stranger = rebuild_by(&fx, 99);
    let mut tampered = rebuild_by(&fx, 3);
    let text = String::from_utf8(tampered.envelope.payload.clone()).unwrap();
    tampered.envelope.payload = text.replace("ct-rebuild", "ct-rebuilt").into_bytes();
    let tampered_bytes = {
        let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, tampered.envelope.payload.clone());
        env.signatures = tampered.envelope.signatures.clone();
        env.to_bytes().unwrap()
    };
    let tampered = Rebuild::parse(&tampered.path, &tampered_bytes).unwrap();
    let bytes = with_rebuilds(&fx, &[stranger, tampered], "mixed.ctp");
    let v = verified(&fx, &bytes);
    let statuses: Vec<RebuildStatus> = v.report().rebuilds.iter().map(|r| r.status).collect();
    assert!(statuses.contains(&RebuildStatus::UnknownKey), "{statuses:?}");
    assert!(statuses.contains(&RebuildStatus::Failed), "{statuses:?}");
    let failed = v
        .report()
        .rebuilds
        .iter()
        .find(|r| r.status == RebuildStatus::Failed)
        .unwrap();
    assert!(
        failed.reason.as_deref().unwrap().contains("signature by r3"),
        "{failed:?}"
    );
    assert!(failed.verifier.is_none() && failed.time_verified.is_none());
}

/// A rebuilder's ECDSA P-256 key (cosign's key type) signs and verifies as
/// an Ed25519 one does; the same rebuild at the same second is the same
/// member bytes (RFC 6979), and the P-256 key is another key, counted apart.
/// A single image's rebuild moved to a platform's name (#18): the bundle
/// has no platforms, so it fails and is not counted.
#[test]
fn a_platform_name_on_a_single_image_rebuild_fails() {
    let fx = fixture();
    let r = rebuild_by(&fx, 2);
    let amd64 = cerro_core::image::Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let name = rebuild::platform_rebuild_path(&r.signer, &amd64).unwrap();
    let mut b = read(&fx.plain).unwrap();
    b.rebuilds = vec![Rebuild::parse(&name, &r.to_bytes().unwrap()).unwrap()];
    let v = verify::verify(b, &fx.trust, &NoPolicy, NOW).unwrap();
    let line = &v.report().rebuilds[0];
    assert_eq!(line.status, RebuildStatus::Failed);
    assert!(
        line.reason
            .as_deref()
            .unwrap()
            .contains("names platform linux/amd64, but the bundle's image is a single image"),
        "{line:?}"
    );
}

#[test]
fn an_ecdsa_p256_rebuilder_signs_deterministically() {
    let mut fx = fixture();
    let ec = p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap();
    fx.trust
        .insert(KeyEntry::new("ec", *ec.verifying_key(), TrustLevel::Full))
        .unwrap();
    let v = verified(&fx, &fx.plain);
    let a = sign_rebuild(&v, &ec, DEFAULT_VERIFIER_ID, NOW).unwrap();
    let b = sign_rebuild(&v, &ec, DEFAULT_VERIFIER_ID, NOW).unwrap();
    assert_eq!(a.to_bytes().unwrap(), b.to_bytes().unwrap());
    let bytes = with_rebuilds(&fx, &[a, rebuild_by(&fx, 2)], "ec.ctp");
    let v = verified(&fx, &bytes);
    assert_eq!(v.report().rebuilds.len(), 2);
    assert!(v.report().rebuilds.iter().all(|r| r.status == RebuildStatus::Verified));
    assert!(v.report().rebuilds.iter().any(|r| r.key_id.as_deref() == Some("ec")));
}
