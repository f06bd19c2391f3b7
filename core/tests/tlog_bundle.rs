//! Transparency-log proofs in a bundle (spec/bundle-format.md §3.4,
//! spec/transparency.md §12): unsigned `transparency/<hex>.tlog-proof`
//! members, read alike by the stream and the file reader, written
//! deterministically, and verified offline against the trust store's logs
//! by `verify` (exit 6 for a proof that does not verify; a log outside the
//! store is reported and not counted).

#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;

use cerro_core::bundle::{
    self, member_header, tlog_proof_path, Bundle, BundleContents, NoExtract, MAX_TLOG_PROOFS, RELEASE_ATTESTATION,
};
use cerro_core::image::source::SourceImage;
use cerro_core::pack;
use cerro_core::policy_interface::NoPolicy;
use cerro_core::testing::one_file_image;
use cerro_core::tlog::{
    merkle, release_entry, Checkpoint, Ed25519NoteSigner, NoteSigner as _, SignedCheckpoint, TlogProof,
};
use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};
use cerro_core::verify::{self, LogProofStatus};
use cerro_core::{Error, ExitCode};
use tempfile::TempDir;

use common::{key, MTIME};

const NOW: u64 = 1_750_000_000;
const REF: &str = "hello-1";

struct Fx {
    dir: TempDir,
    image: SourceImage,
    /// The bundle as `pack::pack` writes it: no proof.
    plain: Vec<u8>,
    bundle: Bundle,
}

fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let (image, manifest) = one_file_image(
        &dir.path().join("layout"),
        ("hello.txt", b"hello\n"),
        "/hello.txt",
        REF,
        ("hello", "1.0"),
    );
    let mut plain = Vec::new();
    pack::pack(&image, &manifest, &[key(1)], MTIME, &mut plain).unwrap();
    let bundle = bundle::read_bundle(&mut &plain[..], &mut NoExtract).unwrap();
    Fx {
        dir,
        image,
        plain,
        bundle,
    }
}

/// The release entry of `bundle` (its release envelope's exact bytes).
fn entry_of(fx: &Fx) -> Vec<u8> {
    let env = fx.bundle.release().unwrap().envelope.to_bytes().unwrap();
    release_entry(&env)
}

fn log(origin: &str, seed: u8) -> Ed25519NoteSigner {
    Ed25519NoteSigner::from_seed(origin, &[seed; 32]).unwrap()
}

/// A proof that `entry` is leaf 3 of a 6-leaf log signed by `signer`.
fn prove(signer: &Ed25519NoteSigner, entry: &[u8]) -> TlogProof {
    let mut leaves: Vec<merkle::Hash> = (0..6u8).map(|i| merkle::leaf_hash(&[i])).collect();
    leaves[3] = merkle::leaf_hash(entry);
    let cp = Checkpoint::new(signer.verifier_key().name(), 6, merkle::root(&leaves)).unwrap();
    let path = merkle::inclusion_proof(&leaves, 3).unwrap();
    TlogProof::new(3, path, SignedCheckpoint::sign(cp, signer).unwrap()).unwrap()
}

fn write(fx: &Fx, proofs: Vec<TlogProof>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    bundle::write_bundle(
        &BundleContents {
            manifest_toml: fx.bundle.manifest.to_canonical_toml().unwrap().into_bytes(),
            attestations: fx
                .bundle
                .attestations
                .iter()
                .map(|a| (a.path.clone(), a.envelope.to_bytes().unwrap()))
                .collect(),
            selinux: Vec::new(),
            transparency: proofs,
            rebuilds: Vec::new(),
            image: &fx.image,
            mtime: MTIME,
        },
        &mut out,
    )?;
    Ok(out)
}

/// Reads `bytes` with both readers, which must agree.
fn read_both(fx: &Fx, bytes: &[u8]) -> Result<Bundle, Error> {
    let stream = bundle::read_bundle(&mut &bytes[..], &mut NoExtract);
    let path = fx.dir.path().join("read.ctp");
    std::fs::write(&path, bytes).unwrap();
    let file = bundle::read_bundle_file(&File::open(&path).unwrap(), &mut NoExtract);
    match (&stream, &file) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.members, b.members);
            assert_eq!(a.transparency, b.transparency);
        }
        (Err(a), Err(b)) => assert_eq!(a.exit_code(), b.exit_code(), "{a} / {b}"),
        _ => panic!("the readers disagree: {stream:?} / {file:?}"),
    }
    stream
}

fn trust_with(logs: &[(&str, &Ed25519NoteSigner)]) -> TrustStore {
    let mut t = TrustStore::new();
    t.insert(KeyEntry::new("k1", key(1).verifying_key(), TrustLevel::Full))
        .unwrap();
    for (origin, s) in logs {
        t.set_log(origin, vec![s.verifier_key().clone()]).unwrap();
    }
    t
}

fn verify_bytes(fx: &Fx, bytes: &[u8], trust: &TrustStore) -> Result<verify::Report, Box<verify::Rejected>> {
    let b = read_both(fx, bytes).unwrap();
    verify::verify(b, trust, &NoPolicy, NOW).map(|v| v.report().clone())
}

/// Splits a bundle into its members' blocks (header, data, padding) and the
/// end marker.
fn blocks(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes[at..at + 512].iter().any(|b| *b != 0) {
        let h = tar::Header::from_byte_slice(&bytes[at..at + 512]);
        let size = h.entry_size().unwrap() as usize;
        let len = 512 + size.div_ceil(512) * 512;
        out.push(bytes[at..at + len].to_vec());
        at += len;
    }
    out.push(bytes[at..].to_vec());
    out
}

/// A new file, readable and writable (the file writer hashes what it wrote).
fn rw(path: &std::path::Path) -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap()
}

fn member_block(path: &str, data: &[u8]) -> Vec<u8> {
    let mut out = member_header(path, data.len() as u64, MTIME)
        .unwrap()
        .as_bytes()
        .to_vec();
    out.extend_from_slice(data);
    out.resize(512 + data.len().div_ceil(512) * 512, 0);
    out
}

/// `plain` with `extra` member blocks inserted before `oci-layout/oci-layout`.
fn with_members(fx: &Fx, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in blocks(&fx.plain) {
        if b.starts_with(b"oci-layout/oci-layout\0") {
            for e in extra {
                out.extend_from_slice(e);
            }
        }
        out.extend_from_slice(&b);
    }
    out
}

#[test]
fn proofs_are_unsigned_members_read_alike_and_written_deterministically() {
    let fx = fixture();
    let entry = entry_of(&fx);
    let (a, b) = (log("a.example/log", 11), log("b.example/log", 12));
    let (pa, pb) = (prove(&a, &entry), prove(&b, &entry));

    // Without proofs: the bytes pack writes, and the reader's view as before.
    assert_eq!(write(&fx, vec![]).unwrap(), fx.plain);
    assert!(fx.bundle.transparency.is_empty());

    // With proofs, in either order: the same bytes; members sorted by path.
    let with = write(&fx, vec![pa.clone(), pb.clone()]).unwrap();
    assert_eq!(write(&fx, vec![pb.clone(), pa.clone()]).unwrap(), with);
    let read = read_both(&fx, &with).unwrap();
    let paths: Vec<&str> = read.transparency.iter().map(|p| p.path.as_str()).collect();
    let mut want = vec![tlog_proof_path("a.example/log"), tlog_proof_path("b.example/log")];
    want.sort();
    assert_eq!(paths, want);
    assert_eq!(
        read.transparency
            .iter()
            .find(|p| p.path == tlog_proof_path("a.example/log"))
            .unwrap()
            .proof,
        pa
    );

    // No signed byte changed: every other member is the same.
    let others = |b: &Bundle| {
        b.members
            .iter()
            .filter(|m| !m.path.starts_with(bundle::TRANSPARENCY_PREFIX))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&read), fx.bundle.members);
    assert_eq!(
        read.member(RELEASE_ATTESTATION).unwrap(),
        fx.bundle.member(RELEASE_ATTESTATION).unwrap()
    );

    // Two proofs from one log are refused: one replaces the other.
    let e = write(&fx, vec![pa.clone(), prove(&a, b"other")]).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");

    // Rewriting a bundle file: new proofs in, or all out (the bytes of the
    // bundle packed without them).
    let path = fx.dir.path().join("with.ctp");
    std::fs::write(&path, &with).unwrap();
    let out_path = fx.dir.path().join("out.ctp");
    let mut out = rw(&out_path);
    bundle::rewrite_proofs_to_file(&read, &path, vec![], &mut out).unwrap();
    drop(out);
    assert_eq!(std::fs::read(&out_path).unwrap(), fx.plain);
    let mut out = rw(&out_path);
    bundle::rewrite_proofs_to_file(&read, &path, vec![pb, pa], &mut out).unwrap();
    drop(out);
    assert_eq!(std::fs::read(&out_path).unwrap(), with);

    // Co-signing changes the release envelope, which the proofs logged:
    // it drops them (they would refuse, exit 6).
    let mut out = rw(&out_path);
    pack::cosign_to_file(&read, &path, &key(2), &mut out).unwrap();
    drop(out);
    let cosigned = read_both(&fx, &std::fs::read(&out_path).unwrap()).unwrap();
    assert!(cosigned.transparency.is_empty());
    assert_eq!(cosigned.release().unwrap().envelope.signatures.len(), 2);
}

#[test]
fn the_reader_refuses_bad_proof_members() {
    let fx = fixture();
    let entry = entry_of(&fx);
    let a = log("a.example/log", 11);
    let pa = prove(&a, &entry).to_bytes();
    let good = member_block(&tlog_proof_path("a.example/log"), &pa);
    assert!(read_both(&fx, &with_members(&fx, std::slice::from_ref(&good))).is_ok());

    let refused = |extra: Vec<Vec<u8>>, needle: &str| {
        let e = read_both(&fx, &with_members(&fx, &extra)).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
        assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
    };
    // Named after another origin.
    refused(
        vec![member_block(&tlog_proof_path("b.example/log"), &pa)],
        "must be named",
    );
    // Not a proof.
    refused(
        vec![member_block(&tlog_proof_path("a.example/log"), b"hello\n")],
        "tlog proof",
    );
    // Out of order (and the same log twice is a duplicate path).
    let logs: Vec<(String, Vec<u8>)> = (0..=MAX_TLOG_PROOFS as u8)
        .map(|i| {
            let origin = format!("log{i}.example");
            (
                tlog_proof_path(&origin),
                prove(&log(&origin, 40 + i), &entry).to_bytes(),
            )
        })
        .collect();
    let mut sorted = logs.clone();
    sorted.sort();
    refused(
        vec![
            member_block(&sorted[1].0, &sorted[1].1),
            member_block(&sorted[0].0, &sorted[0].1),
        ],
        "out of order",
    );
    refused(vec![good.clone(), good.clone()], "duplicate member");
    // More than the bound.
    refused(
        sorted.iter().map(|(p, d)| member_block(p, d)).collect(),
        "more than 16 transparency/ proofs",
    );
    // A claimed size above the bound is refused from the header alone.
    let mut huge = member_header(
        &tlog_proof_path("a.example/log"),
        (cerro_core::tlog::proof::MAX_PROOF_BYTES + 1) as u64,
        MTIME,
    )
    .unwrap()
    .as_bytes()
    .to_vec();
    huge.extend_from_slice(&[0u8; 512]);
    let e = read_both(&fx, &with_members(&fx, &[huge])).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    assert!(e.to_string().contains("more than the"), "{e}");
    // After the layout: out of place.
    let mut late = Vec::new();
    for b in blocks(&fx.plain) {
        let is_index = b.starts_with(b"oci-layout/index.json\0");
        late.extend_from_slice(&b);
        if is_index {
            late.extend_from_slice(&good);
        }
    }
    let e = read_both(&fx, &late).unwrap_err();
    assert!(e.to_string().contains("out of order"), "{e}");
}

#[test]
fn verify_checks_trusted_logs_and_reports_the_others() {
    let fx = fixture();
    let entry = entry_of(&fx);
    let (a, b) = (log("a.example/log", 11), log("b.example/log", 12));
    let with = write(&fx, vec![prove(&a, &entry), prove(&b, &entry)]).unwrap();

    // Both trusted: both verified.
    let r = verify_bytes(&fx, &with, &trust_with(&[("a.example/log", &a), ("b.example/log", &b)])).unwrap();
    let mut st: Vec<_> = r
        .transparency
        .iter()
        .map(|t| (t.origin.as_str(), t.index, t.tree_size, t.status))
        .collect();
    st.sort_by_key(|t| t.0);
    assert_eq!(
        st,
        [
            ("a.example/log", 3, 6, LogProofStatus::Verified),
            ("b.example/log", 3, 6, LogProofStatus::Verified)
        ]
    );
    assert_eq!(r.transparency.len(), 2);
    assert!(r.transparency.iter().all(|t| t.status == LogProofStatus::Verified));

    // Only a trusted: b's proof is reported, not checked, not counted.
    let r = verify_bytes(&fx, &with, &trust_with(&[("a.example/log", &a)])).unwrap();
    let b_line = r.transparency.iter().find(|t| t.origin == "b.example/log").unwrap();
    assert_eq!(b_line.status, LogProofStatus::UntrustedLog);

    // No log trusted, no proof: verifies as before.
    verify_bytes(&fx, &with, &trust_with(&[])).unwrap();
    verify_bytes(&fx, &fx.plain, &trust_with(&[("a.example/log", &a)])).unwrap();
}

#[test]
fn a_proof_that_does_not_verify_refuses_with_exit_6() {
    let fx = fixture();
    let entry = entry_of(&fx);
    let a = log("a.example/log", 11);
    let trust = trust_with(&[("a.example/log", &a)]);
    let refused = |proof: TlogProof, kind: cerro_core::Kind, needle: &str| {
        let bytes = write(&fx, vec![proof]).unwrap();
        let r = verify_bytes(&fx, &bytes, &trust).unwrap_err();
        let (e, report) = (r.error, r.report);
        assert_eq!(e.exit_code(), ExitCode::Transparency, "{e}");
        assert_eq!(e.exit_code().code(), 6);
        assert_eq!(e.kind(), kind, "{e}");
        assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
        assert_eq!(report.exit_code, 6);
        assert_eq!(report.transparency[0].status, LogProofStatus::Failed);
    };
    // A checkpoint signed by another key under the trusted origin.
    let impostor = log("a.example/log", 99);
    refused(
        prove(&impostor, &entry),
        cerro_core::Kind::NoteNotSigned,
        "a.example/log",
    );
    // A path that does not reach the root: one hash changed.
    let good = prove(&a, &entry);
    let mut path = good.inclusion().to_vec();
    path[0][0] ^= 1;
    let tampered = TlogProof::new(good.index(), path, good.checkpoint().clone()).unwrap();
    refused(tampered, cerro_core::Kind::TlogProofMismatch, "inclusion proof");
    // A valid proof of another release's entry.
    let other = release_entry(b"another release envelope");
    refused(
        prove(&a, &other),
        cerro_core::Kind::TlogProofMismatch,
        "inclusion proof",
    );
    // The right entry at another index.
    let shifted = TlogProof::new(2, good.inclusion().to_vec(), good.checkpoint().clone()).unwrap();
    refused(shifted, cerro_core::Kind::TlogProofMismatch, "inclusion proof");
}

/// What `ct fetch` rebuilds from a registry artifact (spec/transparency.md
/// §12.4): the proofs given to the assembly come back as the same members,
/// so the assembled bundle is the written one byte for byte, and the
/// assembly's read-back parses them.
#[test]
fn an_assembled_bundle_keeps_its_proofs_byte_for_byte() {
    use std::io::{Read as _, Seek as _};
    let fx = fixture();
    let entry = entry_of(&fx);
    let bytes = write(
        &fx,
        vec![
            prove(&log("a.example/log", 1), &entry),
            prove(&log("b.example/log", 2), &entry),
        ],
    )
    .unwrap();
    let b = read_both(&fx, &bytes).unwrap();
    assert_eq!(b.transparency.len(), 2);
    let skeleton = bundle::Skeleton {
        manifest_toml: b.manifest.to_canonical_toml().unwrap().into_bytes(),
        attestations: b
            .attestations
            .iter()
            .map(|a| (a.path.clone(), a.envelope.to_bytes().unwrap()))
            .collect(),
        selinux: Vec::new(),
        // In the registry's order, not the bundle's: the writer sorts.
        transparency: b
            .transparency
            .iter()
            .rev()
            .map(|p| (p.path.clone(), p.proof.to_bytes()))
            .collect(),
        rebuilds: Vec::new(),
        image: fx.image.manifest.clone(),
        reference: fx.image.reference.clone(),
        manifest_bytes: fx.image.manifest_bytes.clone(),
        platform_manifests: Vec::new(),
        mtime: MTIME,
    };
    let mut out = tempfile::tempfile().unwrap();
    let mut asm = bundle::Assembly::start(&skeleton, &out, "from the test").unwrap();
    let blobs: Vec<_> = asm.blobs().cloned().collect();
    for (i, blob) in blobs.iter().enumerate() {
        let mut data = Vec::new();
        fx.image.open_blob(blob).unwrap().read_to_end(&mut data).unwrap();
        asm.write(i, &data).unwrap();
    }
    let assembled = asm.finish().unwrap();
    assert_eq!(assembled.transparency, b.transparency);
    let mut written = Vec::new();
    out.rewind().unwrap();
    out.read_to_end(&mut written).unwrap();
    assert!(written == bytes, "the assembled bundle differs from the written one");
}
