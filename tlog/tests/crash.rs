//! Crash safety of the log: a child process appends batches in a loop and
//! prints each acknowledgement (`Log::append` returned: size and root); the
//! test kills it with SIGKILL at a random time, reopens the directory and
//! checks, after every kill:
//!
//! - the directory opens (its tiles agree with its checkpoint) and every
//!   bundle and tile rereads consistently (`verify_all`);
//! - nothing acknowledged is lost: the size is at least every acknowledged
//!   size, and entry `i` is the entry the child appended at `i`;
//! - the tree never forked: every checkpoint seen so far (acknowledged by
//!   the child, or read from the directory at the moment of the kill, as a
//!   reader serving it would) is consistent with the current one, checked
//!   with core's `merkle::verify_consistency` on the log's consistency
//!   proof, and the current root is core's root of the entries.
//!
//! Then the next child carries on from what the directory holds. The kill
//! times come from a seeded xorshift generator; the seed is printed and
//! `TLOG_CRASH_SEED=N` replays a run; `TLOG_CRASH_ITERATIONS` sets the
//! number of kills (default 25). (As ct/tests/crash_safety.rs for ct's
//! files.)

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cerro_core::tlog::merkle::{self, Hash};
use cerro_core::tlog::note::Ed25519NoteSigner;
use cerro_core::tlog::{release_entry, tiles, SignedCheckpoint};
use cerro_tlog::Log;

const ORIGIN: &str = "log.example/crash";

fn signer() -> Ed25519NoteSigner {
    Ed25519NoteSigner::from_seed(ORIGIN, &[5; 32]).unwrap()
}

fn entry(i: u64) -> Vec<u8> {
    release_entry(format!("envelope {i}").as_bytes())
}

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Hash {
    let v: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

/// The child: appends batches of 1..=300 entries to the log in
/// `$TLOG_CRASH_DIR` until killed, printing `ack <size> <root hex>` after
/// each append returns. Run only by the test below, as its own process.
#[test]
#[ignore = "the child process of kill_9_mid_append_loses_nothing_acknowledged_and_never_forks (run by it with --ignored)"]
fn child_appends_until_killed() {
    let dir = std::env::var_os("TLOG_CRASH_DIR").expect("run by the crash test, which sets TLOG_CRASH_DIR");
    let seed: u64 = std::env::var("TLOG_CRASH_CHILD_SEED").unwrap().parse().unwrap();
    let mut rng = Rng::new(seed);
    let mut log = Log::open(Path::new(&dir), signer()).unwrap();
    let mut out = std::io::stdout().lock();
    for _ in 0..10_000 {
        let from = log.size();
        let batch: Vec<Vec<u8>> = (from..from + 1 + rng.below(300)).map(entry).collect();
        log.append(&batch).unwrap();
        let cp = log.checkpoint().checkpoint();
        writeln!(out, "ack {} {}", cp.size(), hex(cp.root())).unwrap();
        out.flush().unwrap();
    }
}

/// Whether the directory holds an entry bundle past `size` (a full one
/// where the checkpoint's is partial, or a wider partial one).
fn files_ahead(dir: &Path, size: u64) -> bool {
    let (n, w) = (size / 256, size % 256);
    let full_ahead = dir.join(tiles::entries_path(n, 256).unwrap()).exists();
    let partials = dir.join(tiles::entries_path(n, 1).unwrap());
    let wider_ahead = std::fs::read_dir(partials.parent().unwrap())
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
                .any(|width| width > w)
        })
        .unwrap_or(false);
    full_ahead || wider_ahead
}

fn seed() -> u64 {
    let seed = std::env::var("TLOG_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("tlog crash: seed {seed} (replay with TLOG_CRASH_SEED={seed})");
    seed
}

#[test]
fn kill_9_mid_append_loses_nothing_acknowledged_and_never_forks() {
    let iterations: usize = std::env::var("TLOG_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let mut rng = Rng::new(seed());
    let dir = tempfile::tempdir().unwrap();
    drop(Log::create(dir.path(), signer()).unwrap());
    // Every checkpoint seen: (size, root).
    let mut seen: Vec<(u64, Hash)> = vec![(0, merkle::empty_root())];
    let mut acked_max = 0u64;
    let mut killed_mid_append = 0;
    for it in 0..iterations {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_appends_until_killed", "--exact", "--ignored", "--nocapture"])
            .env("TLOG_CRASH_DIR", dir.path())
            .env("TLOG_CRASH_CHILD_SEED", rng.below(u64::MAX).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(20_000 + rng.below(200_000)));
        // What a reader of the directory sees at the moment of the kill.
        let on_disk = std::fs::read(dir.path().join("checkpoint")).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        let mut stdout = String::new();
        child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        for line in stdout.lines().filter_map(|l| l.strip_prefix("ack ")) {
            let (size, root) = line.split_once(' ').unwrap();
            let size: u64 = size.parse().unwrap();
            acked_max = acked_max.max(size);
            seen.push((size, unhex(root)));
        }
        let cp = SignedCheckpoint::parse(&on_disk).unwrap();
        seen.push((cp.checkpoint().size(), *cp.checkpoint().root()));

        // Files written past the checkpoint by the killed batch show that
        // the kill landed inside an append.
        let on_disk_size = SignedCheckpoint::parse(&std::fs::read(dir.path().join("checkpoint")).unwrap())
            .unwrap()
            .checkpoint()
            .size();
        if files_ahead(dir.path(), on_disk_size) {
            killed_mid_append += 1;
        }
        let log = Log::open(dir.path(), signer()).unwrap_or_else(|e| panic!("kill {it}: the log does not open: {e}"));
        log.verify_all().unwrap();
        let size = log.size();
        assert!(
            size >= acked_max,
            "kill {it}: size {size} below the acknowledged {acked_max}"
        );
        let entries = log.entries(0, size).unwrap();
        for (i, e) in entries.iter().enumerate() {
            assert!(*e == entry(i as u64), "kill {it}: entry {i} is not the one appended");
        }
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let root = *log.checkpoint().checkpoint().root();
        assert_eq!(root, merkle::root(&leaves), "kill {it}: the root is not core's");
        for (s, r) in &seen {
            assert!(
                *s <= size,
                "kill {it}: a checkpoint of {s} was seen, the log has {size}"
            );
            if *s == 0 {
                continue;
            }
            let proof = log.consistency_proof(*s, size).unwrap();
            merkle::verify_consistency(*s, size, r, &root, &proof)
                .unwrap_or_else(|e| panic!("kill {it}: checkpoint {s} forked from {size}: {e}"));
        }
        // After open, the directory holds exactly the checkpoint's tree.
        assert!(
            !files_ahead(dir.path(), size),
            "kill {it}: files past the checkpoint are left after open"
        );
        drop(log);
    }
    eprintln!(
        "tlog crash: {iterations} kills, {} checkpoints seen, final size {}, {killed_mid_append} kills left entries past the checkpoint",
        seen.len(),
        seen.iter().map(|s| s.0).max().unwrap_or(0)
    );
    assert!(
        acked_max > 0,
        "no append was acknowledged in {iterations} runs: the child never ran"
    );
}
