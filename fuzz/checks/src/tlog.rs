//! Core's transparency-log parsers (`cerro_core::tlog`, spec/transparency.md
//! §3–§7): signed notes and verifier/private keys, checkpoints, tlog-proofs
//! and entry bundles. Each reads bytes from anywhere (a log, a witness, a
//! bundle's proof member).
//!
//! The properties: no panic; a refusal is `malformed` (exit 10) or, for
//! keys, `config` (exit 78), with a message; what is accepted is written
//! back byte for byte (every one of these formats has exactly one spelling
//! per value: canonical base64, decimals without leading zeroes, the note
//! text kept verbatim) and parses again to the same value; and what parses
//! goes on through verification, which answers cleanly.

use cerro_core::tlog::note::{
    Ed25519Cosigner, Ed25519NoteSigner, NoteSigner as _, SignedNote, VerifierKey, MAX_NOTE_BYTES,
};
use cerro_core::tlog::{release_entry, tiles, Checkpoint, SignedCheckpoint, TlogProof, TlogTrust, TrustedLog};

/// The tlog-scales log of `core/tests/tlog-data/scales-log.json`: its key
/// and its three witnesses. Seeds made from that log verify, so the fuzzer
/// starts from inputs that reach every step of `TlogProof::verify`.
pub const SCALES_LOG_VKEY: &str = "scales.example/log+f5a86f41+AduZX+JRadFByrm7upK6oB+fLh7OffTLKsBRkPN/zB+d";

/// The witnesses of [`SCALES_LOG_VKEY`]'s checkpoint (type 0x04 keys).
pub const SCALES_WITNESS_VKEYS: [&str; 3] = [
    "w1.scales.example+441802b6+BCFS+NGbeR0kRTJC4V8uq2y3z/p7al7TAJeWDgaYgdsS",
    "w2.scales.example+85632d85+BCL8KXeS8Lb/wL/P237bDAqhTgJaNl7A40Lobjgpy3S2",
    "w3.scales.example+55dfefb6+BNdZeTu8E6KBmoJ8dq22+6ikmu4Af0ny0JktmbglrSxI",
];

fn vkey(s: &str) -> VerifierKey {
    VerifierKey::parse(s).expect("the scales log's keys parse")
}

/// The keys a note is verified against: the scales log's and its witnesses'.
fn known_keys() -> Vec<VerifierKey> {
    std::iter::once(SCALES_LOG_VKEY)
        .chain(SCALES_WITNESS_VKEYS)
        .map(vkey)
        .collect()
}

/// The trust a proof is verified under: the scales log, 2 of its 3 witnesses.
fn trust() -> TlogTrust {
    let log = TrustedLog::new("scales.example/log", vec![vkey(SCALES_LOG_VKEY)]).expect("one log key");
    TlogTrust::new(vec![log], SCALES_WITNESS_VKEYS.iter().map(|k| vkey(k)).collect(), 2)
        .expect("a valid transparency trust")
}

/// A refusal of a parser is `malformed` (exit 10) and says why.
fn refused_cleanly(target: &str, e: &cerro_core::Error) {
    assert_eq!(e.check(), "malformed", "{target}: refused as {}: {e}", e.check());
    assert_eq!(e.exit_code().code(), 10, "{target}: {e}");
    assert!(!e.to_string().is_empty(), "{target}: an error without a message");
}

/// A refusal of a key is `config` (exit 78, the key is configuration) or
/// `malformed`, and says why.
fn key_refused_cleanly(e: &cerro_core::Error) {
    assert!(
        matches!(e.check(), "config" | "malformed"),
        "a key refused as {}: {e}",
        e.check()
    );
    assert!(!e.to_string().is_empty(), "a key error without a message");
}

/// Signed notes (signed-note v1), and the key strings of the same spec.
///
/// - `SignedNote::parse`: refusal is `malformed`; an accepted note writes
///   back to exactly the input and parses to itself; verifying it against
///   known keys answers `Ok` with at least one signature, or refuses as
///   `note_not_signed`/`note_signature_invalid`. A signature added by a key
///   the note does not yet carry keeps it parseable and round-tripping.
/// - `VerifierKey::parse` (the input as text): an accepted key prints as
///   the input; `Ed25519NoteSigner`/`Ed25519Cosigner::from_private_key`:
///   an accepted private key prints as the input, and its verifier key is
///   a parseable key of the right type.
pub fn tlog_note(data: &[u8]) {
    match SignedNote::parse(data) {
        Err(e) => refused_cleanly("tlog_note", &e),
        Ok(note) => {
            assert!(note.to_bytes() == data, "a parsed note writes back to other bytes");
            let again = SignedNote::parse(&note.to_bytes()).expect("a written note parses");
            assert_eq!(again, note);
            match note.verify(&known_keys()) {
                Ok(v) => assert!(!v.is_empty(), "a verified note with no verified signature"),
                Err(e) => assert!(
                    matches!(e.check(), "note_not_signed" | "note_signature_invalid"),
                    "verification refused as {}: {e}",
                    e.check()
                ),
            }
            // One more signature, by a key no seed uses.
            let signer = Ed25519NoteSigner::from_seed("fuzz.example/log", &[0x5a; 32]).expect("a valid key name");
            let mut signed = note.clone();
            let added = signed.add_signature(signer.sign_note(note.text()).expect("a parsed note's text is signable"));
            if added.is_ok() && signed.to_bytes().len() <= MAX_NOTE_BYTES {
                let back = SignedNote::parse(&signed.to_bytes()).expect("a note with one more signature parses");
                assert_eq!(back, signed);
                let k = signer.verifier_key().clone();
                assert_eq!(back.verify(&[k]).expect("the added signature verifies").len(), 1);
            }
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match VerifierKey::parse(text) {
        Ok(k) => {
            assert_eq!(k.to_vkey(), text, "a verifier key prints as another string");
            assert_eq!(VerifierKey::parse(&k.to_vkey()).expect("a printed key parses"), k);
        }
        Err(e) => key_refused_cleanly(&e),
    }
    match Ed25519NoteSigner::from_private_key(text) {
        Ok(s) => {
            assert_eq!(
                s.to_private_key().as_str(),
                text,
                "a private key prints as another string"
            );
            assert_eq!(s.verifier_key().alg(), cerro_core::tlog::note::ALG_ED25519);
            VerifierKey::parse(&s.verifier_key().to_vkey()).expect("its verifier key parses");
        }
        Err(e) => key_refused_cleanly(&e),
    }
    match Ed25519Cosigner::from_private_key(text) {
        Ok(s) => {
            assert_eq!(
                s.to_private_key().as_str(),
                text,
                "a private key prints as another string"
            );
            assert_eq!(s.verifier_key().alg(), cerro_core::tlog::note::ALG_COSIGNATURE_V1);
        }
        Err(e) => key_refused_cleanly(&e),
    }
}

/// Checkpoints (tlog-checkpoint v1): the input as a note text
/// (`Checkpoint::parse_text`) and as a signed checkpoint
/// (`SignedCheckpoint::parse`). What is accepted writes back to exactly the
/// input, parses to itself, and a signed checkpoint's note text is its
/// checkpoint's text. A checkpoint text that parses can be signed and
/// cosigned, and the result parses back to the same checkpoint.
pub fn tlog_checkpoint(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        match Checkpoint::parse_text(text) {
            Err(e) => refused_cleanly("tlog_checkpoint", &e),
            Ok(cp) => {
                assert_eq!(cp.to_text(), text, "a parsed checkpoint writes back to another text");
                assert_eq!(
                    Checkpoint::parse_text(&cp.to_text()).expect("a written checkpoint parses"),
                    cp
                );
                let log = Ed25519NoteSigner::from_seed("fuzz.example/log", &[0x5a; 32]).expect("a valid key name");
                let w = Ed25519Cosigner::from_seed("fuzz.example/witness", &[0x5b; 32]).expect("a valid key name");
                // Signing refuses what the note rules refuse and the
                // checkpoint grammar does not (a control character in a
                // line); a text near the note's size bound is left there.
                let signed = SignedCheckpoint::sign(cp.clone(), &log)
                    .ok()
                    .filter(|s| s.to_bytes().len() + 200 <= MAX_NOTE_BYTES);
                if let Some(mut s) = signed {
                    s.cosign(&w, 1_764_892_800).expect("one cosignature on a fresh note");
                    let back = SignedCheckpoint::parse(&s.to_bytes()).expect("a signed checkpoint parses");
                    assert_eq!(back.checkpoint(), &cp);
                    let keys = [log.verifier_key().clone(), w.verifier_key().clone()];
                    let v = back.note().verify(&keys).expect("our signatures verify");
                    assert_eq!(v.len(), 2);
                    assert_eq!(v[1].timestamp, Some(1_764_892_800));
                }
            }
        }
    }
    match SignedCheckpoint::parse(data) {
        Err(e) => refused_cleanly("tlog_checkpoint", &e),
        Ok(s) => {
            assert!(
                s.to_bytes() == data,
                "a parsed signed checkpoint writes back to other bytes"
            );
            assert_eq!(s.checkpoint().to_text(), s.note().text());
            assert_eq!(
                SignedCheckpoint::parse(&s.to_bytes()).expect("a written signed checkpoint parses"),
                s
            );
        }
    }
}

/// tlog-proof v1: refusal is `malformed`; an accepted proof writes back to
/// exactly the input and parses to itself; without extra data it is the
/// proof `TlogProof::new` builds from its parts. It is then verified for
/// the release entry of `envelope <index>` (the scales log's entries) under
/// the scales log's trust: a clean `Ok` naming the proof's own origin,
/// index and size, or a refusal of the transparency kinds (exit 6).
pub fn tlog_proof(data: &[u8]) {
    let p = match TlogProof::parse(data) {
        Err(e) => return refused_cleanly("tlog_proof", &e),
        Ok(p) => p,
    };
    assert!(p.to_bytes() == data, "a parsed proof writes back to other bytes");
    assert_eq!(TlogProof::parse(&p.to_bytes()).expect("a written proof parses"), p);
    if p.extra().is_none() {
        let built = TlogProof::new(p.index(), p.inclusion().to_vec(), p.checkpoint().clone())
            .expect("a parsed proof's parts build a proof");
        assert_eq!(built, p);
    }
    let entry = release_entry(format!("envelope {}", p.index()).as_bytes());
    match p.verify(&entry, &trust()) {
        Ok(v) => {
            let cp = p.checkpoint().checkpoint();
            assert_eq!(
                (v.origin(), v.index(), v.tree_size(), v.root()),
                (cp.origin(), p.index(), cp.size(), cp.root())
            );
            assert!(v.index() < v.tree_size());
            assert!(v.witnesses().len() >= 2, "verified below the witness threshold");
        }
        Err(e) => {
            assert_eq!(e.exit_code().code(), 6, "a parsed proof refused as {}: {e}", e.check());
            assert!(!e.to_string().is_empty());
        }
    }
}

/// Entry bundles (tlog-tiles): the first byte + 1 is the width the path
/// would name (1..=256), the rest is the bundle. An accepted bundle has
/// that many entries and encodes back to exactly the rest; a refusal is
/// `malformed`. Also: the paths of a tile and a bundle named by the next
/// bytes are well formed (`tile/…`, no `..`, no empty element).
pub fn tlog_entry_bundle(data: &[u8]) {
    let Some((&w, bundle)) = data.split_first() else {
        return;
    };
    let width = u64::from(w) + 1;
    match tiles::parse_entry_bundle(bundle, width) {
        Err(e) => refused_cleanly("tlog_entry_bundle", &e),
        Ok(entries) => {
            assert_eq!(entries.len() as u64, width);
            let again = tiles::encode_entry_bundle(&entries).expect("parsed entries encode");
            assert!(again == bundle, "a parsed entry bundle encodes to other bytes");
        }
    }
    let mut n = [0u8; 8];
    let k = bundle.len().min(8);
    n[..k].copy_from_slice(&bundle[..k]);
    let n = u64::from_le_bytes(n);
    let level = w % 64;
    for p in [tiles::tile_path(level, n, width), tiles::entries_path(n, width)] {
        let p = p.expect("a level below 64 and a width in 1..=256 name a path");
        assert!(p.starts_with("tile/"), "{p}");
        assert!(p.split('/').all(|e| !e.is_empty() && e != ".." && e != "."), "{p}");
        assert_eq!(p.contains(".p/"), width < 256, "{p}");
    }
}

/// A log's tiles as a monitor reads them (`tiles::TileHashes`, the hashes
/// behind `ct log monitor` and `ct verify --online`): the first 8 bytes
/// (little-endian) are the tree size, the next 8 the old size of a
/// consistency proof, the rest the bytes every tile is cut from (cycled to
/// the length asked for; with no rest, every tile is short). Whatever the
/// sizes and tiles, the root and the proof are computed or refused as
/// `malformed`, without a panic, reading at most
/// `tiles::MAX_TILES_READ` tiles, and a proof is never longer than any
/// tree is high.
pub fn tlog_tiles(data: &[u8]) {
    let word = |at: usize| {
        let mut n = [0u8; 8];
        if let Some(b) = data.get(at..) {
            let k = b.len().min(8);
            n[..k].copy_from_slice(&b[..k]);
        }
        u64::from_le_bytes(n)
    };
    let (size, old) = (word(0), word(8));
    let rest = data.get(16..).unwrap_or_default();
    let mut reads = 0usize;
    let mut fetch = |path: &str, len: u64| -> cerro_core::Result<Vec<u8>> {
        reads += 1;
        assert!(path.starts_with("tile/"), "{path}");
        if rest.is_empty() {
            return Ok(vec![0; 31]);
        }
        Ok(rest.iter().copied().cycle().take(len as usize).collect())
    };
    let mut th = tiles::TileHashes::new(size, &mut fetch);
    if let Err(e) = th.range(0, size) {
        refused_cleanly("tlog_tiles", &e);
    }
    match th.consistency_proof(old) {
        Err(e) => refused_cleanly("tlog_tiles", &e),
        Ok(p) => assert!(
            p.len() <= cerro_core::tlog::merkle::MAX_PROOF_HASHES,
            "{} hashes",
            p.len()
        ),
    }
    drop(th);
    assert!(reads <= tiles::MAX_TILES_READ, "{reads} tiles read");
}
