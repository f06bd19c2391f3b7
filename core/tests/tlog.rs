//! tlog-proof verification (`cerro_core::tlog`): a proof made by tlog-scales
//! (`tlog-data/scales-log.json`) verifies; every refusal has its error kind
//! and exit code (6 transparency, 10 malformed, 78 configuration).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use cerro_core::tlog::merkle::{self, Hash};
use cerro_core::tlog::note::{SignedNote, MAX_NOTE_BYTES};
use cerro_core::tlog::{
    release_entry, Checkpoint, Ed25519Cosigner, Ed25519NoteSigner, NoteSigner, SignedCheckpoint, TlogProof, TlogTrust,
    TrustedLog, VerifierKey,
};
use cerro_core::{Error, ExitCode};
use serde_json::Value;

const ORIGIN: &str = "log.example/cerro";
const TIME: u64 = 1_764_892_800;

fn unhex(s: &str) -> Hash {
    let v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

fn refused(e: &Error, kind: &str, code: ExitCode) {
    assert_eq!(e.check(), kind, "{e}");
    assert_eq!(e.exit_code(), code, "{e}");
}

/// A log of 9 release entries, its key, and three witnesses.
struct Fixture {
    entries: Vec<Vec<u8>>,
    leaves: Vec<Hash>,
    log: Ed25519NoteSigner,
    witnesses: Vec<Ed25519Cosigner>,
}

impl Fixture {
    fn new() -> Self {
        let entries: Vec<Vec<u8>> = (0..9)
            .map(|i| release_entry(format!("envelope {i}").as_bytes()))
            .collect();
        let leaves = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        Fixture {
            entries,
            leaves,
            log: Ed25519NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap(),
            witnesses: (0..3)
                .map(|i| Ed25519Cosigner::from_seed(&format!("w{i}.example"), &[10 + i; 32]).unwrap())
                .collect(),
        }
    }

    /// The checkpoint of the whole log, signed by `log` and cosigned by the
    /// first `cosigners` witnesses.
    fn checkpoint(&self, log: &dyn NoteSigner, cosigners: usize) -> SignedCheckpoint {
        let cp = Checkpoint::new(ORIGIN, self.leaves.len() as u64, merkle::root(&self.leaves)).unwrap();
        let mut s = SignedCheckpoint::sign(cp, log).unwrap();
        for (i, w) in self.witnesses.iter().take(cosigners).enumerate() {
            s.cosign(w, TIME + i as u64).unwrap();
        }
        s
    }

    fn proof(&self, index: u64, checkpoint: SignedCheckpoint) -> TlogProof {
        let path = merkle::inclusion_proof(&self.leaves, index).unwrap();
        TlogProof::new(index, path, checkpoint).unwrap()
    }

    fn trust(&self, threshold: usize) -> TlogTrust {
        TlogTrust::new(
            vec![TrustedLog::new(ORIGIN, vec![self.log.verifier_key().clone()]).unwrap()],
            self.witnesses.iter().map(|w| w.verifier_key().clone()).collect(),
            threshold,
        )
        .unwrap()
    }
}

#[test]
fn a_proof_with_the_quorum_verifies_and_round_trips_byte_for_byte() {
    let f = Fixture::new();
    for i in 0..f.entries.len() as u64 {
        let p = f.proof(i, f.checkpoint(&f.log, 2));
        let bytes = p.to_bytes();
        let parsed = TlogProof::parse(&bytes).unwrap();
        assert_eq!(parsed.to_bytes(), bytes);
        let v = parsed.verify(&f.entries[i as usize], &f.trust(2)).unwrap();
        assert_eq!((v.origin(), v.index(), v.tree_size()), (ORIGIN, i, 9));
        let times: Vec<u64> = v.witnesses().iter().map(|w| w.timestamp).collect();
        assert_eq!(times, [TIME, TIME + 1]);
    }
}

#[test]
fn the_release_entry_is_a_prefix_line_and_the_envelope_digest() {
    let e = release_entry(b"{}");
    assert_eq!(
        String::from_utf8(e).unwrap(),
        "cerro-torre.org/tlog-entry/release/v1\nsha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\n"
    );
}

#[test]
fn a_proof_made_by_tlog_scales_verifies_and_its_vkeys_parse() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tlog-data/scales-log.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let log = VerifierKey::parse(v["log_vkey"].as_str().unwrap()).unwrap();
    assert_eq!(log.to_vkey(), v["log_vkey"].as_str().unwrap());
    let witnesses: Vec<VerifierKey> = v["witness_vkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| VerifierKey::parse(k.as_str().unwrap()).unwrap())
        .collect();
    let trust = TlogTrust::new(
        vec![TrustedLog::new("scales.example/log", vec![log]).unwrap()],
        witnesses,
        3,
    )
    .unwrap();
    let cp = SignedCheckpoint::parse(v["checkpoint"].as_str().unwrap().as_bytes()).unwrap();
    for (i, path) in v["inclusion"].as_array().unwrap().iter().enumerate() {
        let path: Vec<Hash> = path
            .as_array()
            .unwrap()
            .iter()
            .map(|h| unhex(h.as_str().unwrap()))
            .collect();
        let entry = release_entry(format!("envelope {i}").as_bytes());
        let p = TlogProof::new(i as u64, path, cp.clone()).unwrap();
        let ok = p.verify(&entry, &trust).unwrap();
        assert_eq!(ok.witnesses().len(), 3);
        assert!(ok.witnesses().iter().all(|w| w.timestamp == TIME));
    }
}

#[test]
fn a_proof_from_a_log_outside_the_trust_is_refused() {
    let f = Fixture::new();
    let p = f.proof(3, f.checkpoint(&f.log, 3));
    let other = TlogTrust::new(
        vec![TrustedLog::new("other.example/log", vec![f.log.verifier_key().clone()]).unwrap()],
        f.witnesses.iter().map(|w| w.verifier_key().clone()).collect(),
        2,
    )
    .unwrap();
    let e = p.verify(&f.entries[3], &other).unwrap_err();
    refused(&e, "tlog_untrusted_log", ExitCode::Transparency);
    assert!(e.to_string().contains(ORIGIN), "{e}");
}

#[test]
fn one_cosignature_short_of_the_threshold_is_refused() {
    let f = Fixture::new();
    let p = f.proof(0, f.checkpoint(&f.log, 2));
    let e = p.verify(&f.entries[0], &f.trust(3)).unwrap_err();
    refused(&e, "tlog_witness_quorum", ExitCode::Transparency);
    assert!(
        matches!(
            e,
            Error::TlogWitnessQuorum {
                counted: 2,
                required: 3,
                ..
            }
        ),
        "{e}"
    );
    // A cosignature by a witness outside the trust does not count either.
    let mut cp = f.checkpoint(&f.log, 2);
    cp.cosign(
        &Ed25519Cosigner::from_seed("stranger.example", &[99; 32]).unwrap(),
        TIME,
    )
    .unwrap();
    let e = f.proof(0, cp).verify(&f.entries[0], &f.trust(3)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::TlogWitnessQuorum {
                counted: 2,
                required: 3,
                ..
            }
        ),
        "{e}"
    );
    // A log's signature does not count as a witness's.
    let e = f
        .proof(0, f.checkpoint(&f.log, 0))
        .verify(&f.entries[0], &f.trust(1))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::TlogWitnessQuorum {
                counted: 0,
                required: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_checkpoint_signed_by_the_wrong_key_is_refused() {
    let f = Fixture::new();
    // Same name, another key: its key ID differs, so the line is ignored
    // and no signature by the log's key remains.
    let impostor = Ed25519NoteSigner::from_seed(ORIGIN, &[2; 32]).unwrap();
    let p = f.proof(4, f.checkpoint(&impostor, 3));
    let e = p.verify(&f.entries[4], &f.trust(2)).unwrap_err();
    refused(&e, "note_not_signed", ExitCode::Transparency);
    // A witness key cannot stand in for the log's.
    let as_log = Ed25519NoteSigner::from_seed("w0.example", &[10; 32]).unwrap();
    let e = f
        .proof(4, f.checkpoint(&as_log, 3))
        .verify(&f.entries[4], &f.trust(2))
        .unwrap_err();
    refused(&e, "note_not_signed", ExitCode::Transparency);
}

#[test]
fn a_bad_signature_by_a_known_key_refuses_the_whole_proof() {
    let f = Fixture::new();
    let good = f.checkpoint(&f.log, 3);
    let mut bytes = good.to_bytes();
    // Flip the last byte of the signature of the last line (w2's), keeping
    // the base64 canonical: the line is a known key's and must verify.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let last = text.trim_end().rsplit('\n').next().unwrap().to_owned();
    let (head, b64) = last.rsplit_once(' ').unwrap();
    use base64::Engine as _;
    let mut sig = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    *sig.last_mut().unwrap() ^= 0x01;
    let forged = format!("{head} {}", base64::engine::general_purpose::STANDARD.encode(sig));
    bytes = text.replace(&last, &forged).into_bytes();
    let cp = SignedCheckpoint::parse(&bytes).unwrap();
    let e = f.proof(1, cp).verify(&f.entries[1], &f.trust(2)).unwrap_err();
    refused(&e, "note_signature_invalid", ExitCode::Transparency);
    assert!(e.to_string().contains("w2.example"), "{e}");
}

#[test]
fn a_proof_that_does_not_reach_the_checkpoints_root_is_refused() {
    let f = Fixture::new();
    let cp = f.checkpoint(&f.log, 3);
    // Another entry than the one logged at that index.
    let e = f.proof(5, cp.clone()).verify(&f.entries[6], &f.trust(2)).unwrap_err();
    refused(&e, "tlog_proof_mismatch", ExitCode::Transparency);
    // The right entry at another index.
    let path = merkle::inclusion_proof(&f.leaves, 5).unwrap();
    let e = TlogProof::new(4, path.clone(), cp.clone())
        .unwrap()
        .verify(&f.entries[5], &f.trust(2))
        .unwrap_err();
    refused(&e, "tlog_proof_mismatch", ExitCode::Transparency);
    // A path that lost a hash, or has one too many.
    let e = TlogProof::new(5, path[..path.len() - 1].to_vec(), cp.clone())
        .unwrap()
        .verify(&f.entries[5], &f.trust(2))
        .unwrap_err();
    refused(&e, "tlog_proof_mismatch", ExitCode::Transparency);
    let mut longer = path.clone();
    longer.push([0; 32]);
    let e = TlogProof::new(5, longer, cp.clone())
        .unwrap()
        .verify(&f.entries[5], &f.trust(2))
        .unwrap_err();
    refused(&e, "tlog_proof_mismatch", ExitCode::Transparency);
    // An index past the tree.
    let e = TlogProof::new(9, path, cp)
        .unwrap()
        .verify(&f.entries[5], &f.trust(2))
        .unwrap_err();
    refused(&e, "tlog_proof_mismatch", ExitCode::Transparency);
}

fn note_refused(bytes: &[u8], why: &str) {
    let e = SignedCheckpoint::parse(bytes).expect_err(why);
    refused(&e, "malformed", ExitCode::Malformed);
}

#[test]
fn malformed_notes_are_refused() {
    let f = Fixture::new();
    let good = String::from_utf8(f.checkpoint(&f.log, 2).to_bytes()).unwrap();
    assert!(SignedCheckpoint::parse(good.as_bytes()).is_ok());
    let lines: Vec<&str> = good.lines().collect();
    let log_line = lines[4];
    // Bad signature lines.
    note_refused(
        good.replacen('\u{2014}', "-", 1).as_bytes(),
        "hyphen instead of em dash",
    );
    note_refused(
        good.replacen("\u{2014} ", "\u{2014}", 1).as_bytes(),
        "no space after the dash",
    );
    note_refused(
        good.replacen(&format!("{ORIGIN} "), &format!("{ORIGIN}+x "), 1)
            .as_bytes(),
        "plus in the name",
    );
    note_refused(good.replacen(&format!("{ORIGIN} "), "  ", 1).as_bytes(), "empty name");
    let short = format!("\u{2014} {ORIGIN} AAAAAA==");
    note_refused(
        good.replacen(log_line, &short, 1).as_bytes(),
        "signature shorter than 5 bytes",
    );
    let b64 = log_line.rsplit_once(' ').unwrap().1;
    note_refused(
        good.replacen(b64, &b64.replacen('=', "", 1), 1).as_bytes(),
        "unpadded base64",
    );
    note_refused(good.replacen(b64, &format!("{b64} "), 1).as_bytes(), "trailing space");
    // Duplicate signature line.
    let dup = good.replacen(log_line, &format!("{log_line}\n{log_line}"), 1);
    note_refused(dup.as_bytes(), "duplicate signature");
    // Structure.
    note_refused(good.replacen("\n\n", "\n", 1).as_bytes(), "no blank line");
    note_refused(good.trim_end_matches('\n').as_bytes(), "no final newline");
    note_refused(
        format!("{}\n\n", good.split("\n\n").next().unwrap()).as_bytes(),
        "no signature",
    );
    note_refused(good.replacen('\n', "\r\n", 1).as_bytes(), "carriage return");
    note_refused(
        good.replacen(ORIGIN, "log.example/\u{7}", 1).as_bytes(),
        "control character",
    );
    let mut invalid = good.clone().into_bytes();
    invalid[2] = 0xff;
    note_refused(&invalid, "invalid UTF-8");
    // Oversize: within the signature count, over the byte bound.
    let mut big = good.clone();
    let filler = format!("\u{2014} filler.example {}\n", "A".repeat(4000));
    while big.len() <= MAX_NOTE_BYTES {
        big.push_str(&filler.replace("filler", &format!("f{}", big.len())));
    }
    note_refused(big.as_bytes(), "oversize note");
    // Too many signatures.
    let mut many = good.clone();
    for i in 0..100 {
        many.push_str(&format!("\u{2014} x{i}.example AAAAAAA=\n"));
    }
    note_refused(many.as_bytes(), "more than 100 signatures");
    // And the proof around the note.
    let p = String::from_utf8(f.proof(2, f.checkpoint(&f.log, 2)).to_bytes()).unwrap();
    for (bad, why) in [
        (
            p.replacen("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2", 1),
            "header",
        ),
        (p.replacen("index 2", "index 02", 1), "leading zero"),
        (p.replacen("index 2", "index -2", 1), "negative index"),
        (p.replacen("index 2\n", "index 2\nAAAA\n", 1), "short hash"),
        (p.replacen("index 2\n", "", 1), "no index"),
        (p.split("\n\n").next().unwrap().to_owned(), "truncated"),
    ] {
        let e = TlogProof::parse(bad.as_bytes()).expect_err(why);
        refused(&e, "malformed", ExitCode::Malformed);
    }
    let huge = format!("{p}{}", "A".repeat(cerro_core::tlog::proof::MAX_PROOF_BYTES));
    refused(
        &TlogProof::parse(huge.as_bytes()).unwrap_err(),
        "malformed",
        ExitCode::Malformed,
    );
    // Unknown signature lines (well formed) are ignored, not refused.
    let mut with_unknown = SignedNote::parse(good.as_bytes()).unwrap();
    let stranger = Ed25519NoteSigner::from_seed("stranger.example", &[7; 32]).unwrap();
    with_unknown
        .add_signature(stranger.sign_note(with_unknown.text()).unwrap())
        .unwrap();
    let cp = SignedCheckpoint::parse(&with_unknown.to_bytes()).unwrap();
    f.proof(2, cp).verify(&f.entries[2], &f.trust(2)).unwrap();
}

#[test]
fn trust_that_would_count_wrongly_is_a_configuration_error() {
    let f = Fixture::new();
    let log = || vec![TrustedLog::new(ORIGIN, vec![f.log.verifier_key().clone()]).unwrap()];
    let w = || f.witnesses.iter().map(|w| w.verifier_key().clone()).collect::<Vec<_>>();
    let config = |r: cerro_core::Result<TlogTrust>| refused(&r.unwrap_err(), "config", ExitCode::Config);
    config(TlogTrust::new(log(), w(), 0));
    config(TlogTrust::new(log(), w(), 4));
    config(TlogTrust::new(vec![], w(), 1));
    config(TlogTrust::new([log(), log()].concat(), w(), 1));
    // One public key under two witness names would count one cosignature twice.
    let same_key = Ed25519Cosigner::from_seed("alias.example", &[10; 32]).unwrap();
    let mut two = w();
    two.push(same_key.verifier_key().clone());
    config(TlogTrust::new(log(), two, 2));
    // A log key where a witness key belongs, and the reverse.
    let mut wrong = w();
    wrong.push(f.log.verifier_key().clone());
    config(TlogTrust::new(log(), wrong, 1));
    refused(
        &TrustedLog::new(ORIGIN, vec![f.witnesses[0].verifier_key().clone()]).unwrap_err(),
        "config",
        ExitCode::Config,
    );
}

/// transparency-dev/formats `proof/tlog_proof_test.go` `TestMarshal`: the
/// same fields give the same text (their checkpoint stand-ins replaced by a
/// real signed checkpoint, which both write verbatim).
#[test]
fn proofs_are_written_as_transparency_devs_formats_writes_them() {
    use base64::Engine as _;
    use sha2::{Digest as _, Sha256};
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let h1: Hash = Sha256::digest(b"hash1").into();
    let h2: Hash = Sha256::digest(b"hash2").into();
    let f = Fixture::new();
    let cp = f.checkpoint(&f.log, 1);
    let cp_text = String::from_utf8(cp.to_bytes()).unwrap();

    let p = TlogProof::new(5, vec![h1, h2], cp.clone()).unwrap();
    let want = format!(
        "c2sp.org/tlog-proof@v1\nindex 5\n{}\n{}\n\n{cp_text}",
        b64(&h1),
        b64(&h2)
    );
    assert_eq!(String::from_utf8(p.to_bytes()).unwrap(), want);

    let p = TlogProof::new(0, vec![], cp.clone()).unwrap();
    assert_eq!(
        String::from_utf8(p.to_bytes()).unwrap(),
        format!("c2sp.org/tlog-proof@v1\nindex 0\n\n{cp_text}")
    );

    let with_extra = format!(
        "c2sp.org/tlog-proof@v1\nextra {}\nindex 10\n{}\n\n{cp_text}",
        b64(b"extra information"),
        b64(&h1)
    );
    let p = TlogProof::parse(with_extra.as_bytes()).unwrap();
    assert_eq!(p.extra(), Some(&b"extra information"[..]));
    assert_eq!((p.index(), p.inclusion()), (10, &[h1][..]));
    assert_eq!(p.to_bytes(), with_extra.as_bytes());
}

/// Every single-byte change of a valid proof (three bit flips at every
/// position) is refused, by the parser or by verification, and nothing
/// panics. The threshold is all three witnesses, so that a cosignature line
/// made unknown by the change costs the quorum.
#[test]
fn every_changed_byte_of_a_proof_is_refused() {
    let f = Fixture::new();
    let proof = f.proof(6, f.checkpoint(&f.log, 3)).to_bytes();
    let trust = f.trust(3);
    TlogProof::parse(&proof).unwrap().verify(&f.entries[6], &trust).unwrap();
    let mut tried = 0;
    for i in 0..proof.len() {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut bad = proof.clone();
            bad[i] ^= bit;
            tried += 1;
            if let Ok(p) = TlogProof::parse(&bad) {
                let r = p.verify(&f.entries[6], &trust);
                assert!(r.is_err(), "byte {i} ^ {bit:#04x} still verifies");
            }
        }
    }
    assert_eq!(tried, proof.len() * 3);
}
