//! The log directory against core's Merkle functions: after every batch the
//! checkpoint's root is core's `merkle::root` of the entries; the roots,
//! inclusion and consistency proofs the log computes from its tiles are
//! core's; the tiles are where core's `tiles` paths put them; a reopened
//! log carries on; and each refusal of `open`, `create` and `append`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use cerro_core::testing::Rng;
use cerro_core::tlog::merkle::{self, Hash};
use cerro_core::tlog::note::{Ed25519NoteSigner, NoteSigner as _};
use cerro_core::tlog::{release_entry, tiles, SignedCheckpoint, TlogTrust, TrustedLog};
use cerro_tlog::{Error, Log};

const ORIGIN: &str = "log.example/test";

fn signer() -> Ed25519NoteSigner {
    Ed25519NoteSigner::from_seed(ORIGIN, &[3; 32]).unwrap()
}

fn entry(i: u64) -> Vec<u8> {
    release_entry(format!("envelope {i}").as_bytes())
}

/// Appends entries `[from, to)` in one batch.
fn append(log: &mut Log, from: u64, to: u64) {
    let batch: Vec<Vec<u8>> = (from..to).map(entry).collect();
    assert_eq!(log.append(&batch).unwrap(), from);
    assert_eq!(log.size(), to);
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| merkle::leaf_hash(&entry(i))).collect()
}

fn assert_checkpoint_is_cores(log: &Log, leaves: &[Hash]) {
    let cp = log.checkpoint().checkpoint();
    assert_eq!(cp.size(), leaves.len() as u64);
    assert_eq!(cp.origin(), ORIGIN);
    assert_eq!(cp.root(), &merkle::root(leaves), "root at size {}", leaves.len());
    // The file in the directory is the checkpoint, signed by the log's key.
    let on_disk = SignedCheckpoint::parse(&std::fs::read(log.dir().join("checkpoint")).unwrap()).unwrap();
    assert_eq!(&on_disk, log.checkpoint());
    on_disk
        .note()
        .verify(std::slice::from_ref(signer().verifier_key()))
        .unwrap();
}

#[test]
fn every_size_one_entry_at_a_time_has_cores_root() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::create(dir.path(), signer()).unwrap();
    assert_checkpoint_is_cores(&log, &[]);
    let all = leaves(600);
    for n in 0..600 {
        append(&mut log, n, n + 1);
        assert_checkpoint_is_cores(&log, &all[..n as usize + 1]);
    }
    log.verify_all().unwrap();
    for s in 1..=600u64 {
        assert_eq!(log.root_at(s).unwrap(), merkle::root(&all[..s as usize]), "size {s}");
    }
}

#[test]
fn batches_across_tile_boundaries_have_cores_roots_and_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::create(dir.path(), signer()).unwrap();
    let all = leaves(3000);
    let mut rng = Rng::new(0x5eed);
    let mut sizes = vec![];
    while log.size() < 3000 {
        let from = log.size();
        let to = (from + 1 + rng.below(600)).min(3000);
        append(&mut log, from, to);
        assert_checkpoint_is_cores(&log, &all[..to as usize]);
        sizes.push(to);
        // Reopened every few batches: the state read back carries on.
        if sizes.len() % 3 == 0 {
            drop(log);
            log = Log::open(dir.path(), signer()).unwrap();
            assert_eq!(log.size(), to);
        }
    }
    log.verify_all().unwrap();
    let n = log.size();
    for s in (1..=n).step_by(7).chain(sizes.iter().copied()) {
        assert_eq!(log.root_at(s).unwrap(), merkle::root(&all[..s as usize]), "size {s}");
        for i in [0, s / 3, s / 2, s - 1] {
            assert_eq!(
                log.inclusion_proof(i, s).unwrap(),
                merkle::inclusion_proof(&all[..s as usize], i).unwrap(),
                "inclusion of {i} in {s}"
            );
        }
        for old in [1, (s / 2).max(1), s.saturating_sub(1).max(1), s] {
            let p = log.consistency_proof(old, s).unwrap();
            assert_eq!(
                p,
                merkle::consistency_proof(&all[..s as usize], old).unwrap(),
                "{old} -> {s}"
            );
            let (r1, r2) = (merkle::root(&all[..old as usize]), merkle::root(&all[..s as usize]));
            merkle::verify_consistency(old, s, &r1, &r2, &p).unwrap();
        }
    }
    // The proofs of a batch are the single proofs.
    let batch = log.proofs(2990, 3000).unwrap();
    for (i, p) in (2990..3000).zip(&batch) {
        assert_eq!(p, &log.proof(i).unwrap());
        assert_eq!(p.inclusion(), merkle::inclusion_proof(&all, i).unwrap());
    }
    assert_eq!(log.proofs(2999, 3001).unwrap_err().kind().as_str(), "malformed");
    // Every entry reads back.
    assert_eq!(log.entries(0, n).unwrap(), (0..n).map(entry).collect::<Vec<_>>());
    // The proof of each entry verifies with core under the log's key.
    let trust = TlogTrust::new(
        vec![TrustedLog::new(ORIGIN, vec![signer().verifier_key().clone()]).unwrap()],
        vec![cerro_core::tlog::Ed25519Cosigner::from_seed("w.example", &[9; 32])
            .unwrap()
            .verifier_key()
            .clone()],
        1,
    )
    .unwrap();
    let p = log.proof(1234).unwrap();
    // No witness has cosigned: exactly the quorum is missing, nothing else.
    assert_eq!(
        p.verify(&entry(1234), &trust).unwrap_err().kind().as_str(),
        "tlog_witness_quorum"
    );
    let mut cp = p.checkpoint().clone();
    cp.cosign(
        &cerro_core::tlog::Ed25519Cosigner::from_seed("w.example", &[9; 32]).unwrap(),
        1,
    )
    .unwrap();
    let p = cerro_core::tlog::TlogProof::new(1234, p.inclusion().to_vec(), cp).unwrap();
    let v = p.verify(&entry(1234), &trust).unwrap();
    assert_eq!((v.index(), v.tree_size()), (1234, 3000));
}

/// The static layout is tlog-tiles' (core's paths): after 70,000 entries,
/// "273 full level 0 tiles, one partial level 0 tile of width 112, one full
/// level 1 tile, one partial level 1 tile of width 17, and one partial
/// level 2 tile of width 1", the entry bundles beside them, and no partial
/// file of a tile that is full.
#[test]
fn the_directory_is_the_tlog_tiles_layout_of_the_specs_example() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::create(dir.path(), signer()).unwrap();
    let mut rng = Rng::new(7);
    while log.size() < 70_000 {
        let from = log.size();
        let to = (from + 1 + rng.below(4096)).min(70_000);
        append(&mut log, from, to);
    }
    let d = dir.path();
    let exists = |p: String| d.join(&p).is_file();
    for n in 0..273 {
        assert!(exists(tiles::tile_path(0, n, 256).unwrap()), "level 0 tile {n}");
        assert!(exists(tiles::entries_path(n, 256).unwrap()), "bundle {n}");
    }
    assert!(exists(tiles::tile_path(0, 273, 112).unwrap()));
    assert!(exists(tiles::entries_path(273, 112).unwrap()));
    assert!(exists(tiles::tile_path(1, 0, 256).unwrap()));
    assert!(exists(tiles::tile_path(1, 1, 17).unwrap()));
    assert!(exists(tiles::tile_path(2, 0, 1).unwrap()));
    assert!(!d.join("tile/0/274").exists());
    // Partial files of full tiles were removed once their checkpoint was out.
    for n in 0..273 {
        assert!(!d.join(format!("tile/0/{n:03}.p")).exists(), "tile/0/{n:03}.p left");
        assert!(!d.join(format!("tile/entries/{n:03}.p")).exists());
    }
    assert_eq!(log.checkpoint().checkpoint().root(), &merkle::root(&leaves(70_000)));
    log.verify_all().unwrap();
    drop(log);
    let log = Log::open(d, signer()).unwrap();
    assert_eq!(log.size(), 70_000);
}

fn refused(r: Result<Log, Error>, kind: &str) -> Error {
    let e = r.unwrap_err();
    assert_eq!(e.kind().as_str(), kind, "{e}");
    e
}

fn log_of(dir: &Path, n: u64) {
    let mut log = Log::create(dir, signer()).unwrap();
    append(&mut log, 0, n);
}

#[test]
fn open_refuses_a_directory_whose_tiles_disagree_with_its_checkpoint() {
    // 300 entries: a full level-0 tile, a partial one of 44, level 1 of 1.
    let fresh = || {
        let d = tempfile::tempdir().unwrap();
        log_of(d.path(), 300);
        d
    };
    let d = fresh();
    Log::open(d.path(), signer()).unwrap().verify_all().unwrap();

    // A hash of the partial level-0 tile changed.
    let d = fresh();
    let p = d.path().join("tile/0/001.p/44");
    let mut b = std::fs::read(&p).unwrap();
    b[5] ^= 1;
    std::fs::write(&p, &b).unwrap();
    refused(Log::open(d.path(), signer()), "tlog_corrupt");

    // The level-1 tile (the full tile's hash) changed.
    let d = fresh();
    let p = d.path().join("tile/1/000.p/1");
    let mut b = std::fs::read(&p).unwrap();
    b[0] ^= 1;
    std::fs::write(&p, &b).unwrap();
    refused(Log::open(d.path(), signer()), "tlog_corrupt");

    // A partial tile missing, or cut short.
    let d = fresh();
    std::fs::remove_file(d.path().join("tile/0/001.p/44")).unwrap();
    let e = refused(Log::open(d.path(), signer()), "tlog_corrupt");
    assert!(e.to_string().contains("missing"), "{e}");
    let d = fresh();
    let p = d.path().join("tile/1/000.p/1");
    std::fs::write(&p, [0u8; 31]).unwrap();
    refused(Log::open(d.path(), signer()), "tlog_corrupt");

    // The partial entry bundle holds another entry than its tile.
    let d = fresh();
    let p = d.path().join("tile/entries/001.p/44");
    let entries: Vec<Vec<u8>> = (256..300).map(|i| entry(i + 1)).collect();
    let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    std::fs::write(&p, tiles::encode_entry_bundle(&refs).unwrap()).unwrap();
    refused(Log::open(d.path(), signer()), "tlog_corrupt");

    // A full tile changed: open reads only the right edge; verify_all sees it.
    let d = fresh();
    let p = d.path().join("tile/0/000");
    let mut b = std::fs::read(&p).unwrap();
    b[100] ^= 1;
    std::fs::write(&p, &b).unwrap();
    let log = Log::open(d.path(), signer()).unwrap();
    assert_eq!(log.verify_all().unwrap_err().kind().as_str(), "tlog_corrupt");
    drop(log);

    // A checkpoint signed by another key, or by this key for another origin.
    let d = fresh();
    let other = Ed25519NoteSigner::from_seed(ORIGIN, &[4; 32]).unwrap();
    refused(Log::open(d.path(), other), "note_not_signed");
    let renamed = Ed25519NoteSigner::from_seed("log.example/other", &[3; 32]).unwrap();
    refused(Log::open(d.path(), renamed), "note_not_signed");

    // A checkpoint edited to another size (its signature no longer holds).
    let d = fresh();
    let p = d.path().join("checkpoint");
    let text = std::fs::read_to_string(&p).unwrap().replacen("\n300\n", "\n299\n", 1);
    std::fs::write(&p, text).unwrap();
    refused(Log::open(d.path(), signer()), "note_signature_invalid");

    // No checkpoint at all.
    let d = fresh();
    std::fs::remove_file(d.path().join("checkpoint")).unwrap();
    refused(Log::open(d.path(), signer()), "io");
}

#[test]
fn one_writer_per_directory_and_a_new_log_only_in_an_empty_one() {
    let d = tempfile::tempdir().unwrap();
    let log = Log::create(d.path(), signer()).unwrap();
    refused(Log::open(d.path(), signer()), "tlog_locked");
    refused(Log::create(d.path(), signer()), "tlog_locked");
    drop(log);
    refused(Log::create(d.path(), signer()), "tlog_not_empty");
    Log::open(d.path(), signer()).unwrap();
}

#[test]
fn only_release_and_revocation_list_entries_are_appended() {
    let d = tempfile::tempdir().unwrap();
    let mut log = Log::create(d.path(), signer()).unwrap();
    let good = entry(0);
    let upper = String::from_utf8(good.clone()).unwrap();
    let (head, hex) = upper.split_once("sha256:").unwrap();
    let upper = format!("{head}sha256:{}", hex.to_uppercase()).into_bytes();
    for (bad, why) in [
        (
            b"{\"payloadType\":\"application/vnd.in-toto+json\"}".to_vec(),
            "an envelope",
        ),
        (upper, "uppercase hex"),
        (good[..good.len() - 1].to_vec(), "no final newline"),
        ([good.clone(), b"x".to_vec()].concat(), "trailing bytes"),
        (good.replacen_bytes(b"release/v1", b"release/v2"), "another prefix"),
        (vec![0xff; 110], "not UTF-8"),
        (
            good.replacen_bytes(b"release/v1", b"revocation/v2"),
            "another revocation prefix",
        ),
        (
            cerro_core::tlog::revocation_entry_for(&cerro_core::digest::Digest::of(b"l"))
                .replacen_bytes(b"\n", b"\r\n"),
            "a revocation entry with CRLF",
        ),
    ] {
        let e = log.append(&[good.clone(), bad]).unwrap_err();
        assert_eq!(e.kind().as_str(), "tlog_entry", "{why}: {e}");
        assert_eq!(e.exit_code().code(), 10);
    }
    assert_eq!(log.append(&[]).unwrap_err().kind().as_str(), "tlog_batch");
    let many: Vec<Vec<u8>> = (0..4097).map(entry).collect();
    assert_eq!(log.append(&many).unwrap_err().kind().as_str(), "tlog_batch");
    // Nothing of a refused batch was written, and the log still appends.
    assert_eq!(log.size(), 0);
    assert_eq!(log.append(&[good]).unwrap(), 0);
    // A revocation list's entry (spec/trust-store.md §10.4) is a log entry too.
    let list = cerro_core::tlog::revocation_entry_for(&cerro_core::digest::Digest::of(b"list"));
    assert_eq!(list.len(), 113);
    assert_eq!(log.append(&[list]).unwrap(), 1);
}

trait ReplaceBytes {
    fn replacen_bytes(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replacen_bytes(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let i = self.windows(from.len()).position(|w| w == from).unwrap();
        [&self[..i], to, &self[i + from.len()..]].concat()
    }
}

/// What a kill leaves behind is cleaned up on open: files a batch wrote
/// past the checkpoint are removed (the directory then serves exactly the
/// checkpoint's tree), and a complete checkpoint left under its temporary
/// name (killed between link and rename) is adopted, since the log signed
/// it; a leftover that is not a valid checkpoint of this log is removed.
#[test]
fn open_removes_what_a_killed_batch_left_past_the_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    log_of(d.path(), 300);
    let p = |s: &str| d.path().join(s);
    for (f, bytes) in [
        ("tile/0/001", vec![1u8; 8192]),
        ("tile/0/001.p/50", vec![1u8; 50 * 32]),
        ("tile/0/001.p/.50.1-0.tmp", vec![1u8; 50 * 32]),
        ("tile/0/002.p/3", vec![1u8; 3 * 32]),
        ("tile/entries/001.p/60", vec![0u8; 120]),
        ("tile/entries/001", vec![0u8; 512]),
        ("tile/1/000.p/2", vec![1u8; 64]),
        ("tile/2/000.p/1", vec![1u8; 32]),
        (".checkpoint.7-0.tmp", b"not a checkpoint".to_vec()),
    ] {
        std::fs::create_dir_all(p(f).parent().unwrap()).unwrap();
        std::fs::write(p(f), bytes).unwrap();
    }
    let log = Log::open(d.path(), signer()).unwrap();
    assert_eq!(log.size(), 300);
    for gone in [
        "tile/0/001",
        "tile/0/001.p/50",
        "tile/0/001.p/.50.1-0.tmp",
        "tile/0/002.p/3",
        "tile/entries/001.p/60",
        "tile/entries/001",
        "tile/1/000.p/2",
        "tile/2/000.p/1",
        ".checkpoint.7-0.tmp",
    ] {
        assert!(!p(gone).exists(), "{gone} was left");
    }
    for kept in [
        "tile/0/001.p/44",
        "tile/entries/001.p/44",
        "tile/1/000.p/1",
        "tile/0/000",
    ] {
        assert!(p(kept).exists(), "{kept} was removed");
    }
    log.verify_all().unwrap();
    drop(log);

    // A newer checkpoint under the temporary name: adopted.
    let old = std::fs::read(p("checkpoint")).unwrap();
    let mut log = Log::open(d.path(), signer()).unwrap();
    append(&mut log, 300, 310);
    drop(log);
    std::fs::rename(p("checkpoint"), p(".checkpoint.9-1.tmp")).unwrap();
    std::fs::write(p("checkpoint"), &old).unwrap();
    let log = Log::open(d.path(), signer()).unwrap();
    assert_eq!(log.size(), 310);
    assert!(!p(".checkpoint.9-1.tmp").exists());
    assert_eq!(
        SignedCheckpoint::parse(&std::fs::read(p("checkpoint")).unwrap()).unwrap(),
        *log.checkpoint()
    );
    log.verify_all().unwrap();
    drop(log);

    // One whose tree is not on disk: refused, and kept.
    let mut log = Log::open(d.path(), signer()).unwrap();
    append(&mut log, 310, 320);
    drop(log);
    let newer = std::fs::read(p("checkpoint")).unwrap();
    std::fs::write(p(".checkpoint.9-2.tmp"), &newer).unwrap();
    std::fs::write(p("checkpoint"), &old).unwrap();
    std::fs::remove_file(p("tile/0/001.p/64")).unwrap();
    let e = refused(Log::open(d.path(), signer()), "tlog_corrupt");
    assert!(e.to_string().contains("signed by the log"), "{e}");
    assert!(p(".checkpoint.9-2.tmp").exists());
}

/// A batch that fails part way (here: a file where a tile directory must
/// go) leaves the checkpoint as it was and stops the log: every later
/// append is refused (`tlog_stopped`, exit 11) until it is reopened, which
/// reads the state back from the checkpoint.
#[test]
fn a_failed_append_stops_the_log_until_it_is_reopened() {
    let d = tempfile::tempdir().unwrap();
    log_of(d.path(), 256);
    let before = std::fs::read(d.path().join("checkpoint")).unwrap();
    let blocker = d.path().join("tile/0/001.p");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let mut log = Log::open(d.path(), signer()).unwrap();
    let e = log.append(&[entry(256)]).unwrap_err();
    assert_eq!(e.kind().as_str(), "io", "{e}");
    assert_eq!(log.size(), 256);
    let e = log.append(&[entry(256)]).unwrap_err();
    assert_eq!((e.kind().as_str(), e.exit_code().code()), ("tlog_stopped", 11));
    assert_eq!(std::fs::read(d.path().join("checkpoint")).unwrap(), before);
    drop(log);
    std::fs::remove_file(&blocker).unwrap();
    let mut log = Log::open(d.path(), signer()).unwrap();
    assert_eq!(log.size(), 256);
    append(&mut log, 256, 300);
    log.verify_all().unwrap();
}
