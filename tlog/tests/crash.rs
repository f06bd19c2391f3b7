//! Crash safety of the log: a child process appends batches and prints each
//! acknowledgement (`Log::append` returned: the batch's range and the new
//! root); the test kills it with SIGKILL, reopens the directory and checks,
//! after every kill:
//!
//! - the directory opens (its tiles agree with its checkpoint), every
//!   bundle and tile rereads consistently (`verify_all`), and it holds no
//!   file past its checkpoint;
//! - nothing acknowledged is lost: every acknowledged entry is at its
//!   index (each child run appends entries of its own, so an entry of a
//!   run rolled back cannot stand in for an acknowledged one);
//! - the tree never forked: every checkpoint seen so far (acknowledged by a
//!   child, or read from the directory at the moment of the kill, as a
//!   reader serving it would) is consistent with the current one, checked
//!   with core's `merkle::verify_consistency` on the log's consistency
//!   proof, and the current root is core's root of the entries.
//!
//! Then the next child carries on from what the directory holds.
//!
//! Two ways to kill: at random times in a loop
//! (`kill_9_mid_append_loses_nothing_acknowledged_and_never_forks`: the
//! seed is printed, `TLOG_CRASH_SEED=N` replays a run,
//! `TLOG_CRASH_ITERATIONS` sets the number of kills, default 25), and at
//! every file step (`sigkill_at_every_file_step`: strace's fault injection
//! delivers SIGKILL at each write, fsync, link, rename, unlink and mkdir of
//! three batches, as ct/tests/crash_safety.rs does for ct's files). Random
//! kills rarely land between the link and the rename of the checkpoint;
//! strace lands there every time.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cerro_core::testing::{seed_from_env, Rng};
use cerro_core::tlog::merkle::{self, Hash};
use cerro_core::tlog::note::{Ed25519NoteSigner, NoteSigner as _};
use cerro_core::tlog::{release_entry, tiles, SignedCheckpoint};
use cerro_tlog::Log;

const ORIGIN: &str = "log.example/crash";

fn signer() -> Ed25519NoteSigner {
    Ed25519NoteSigner::from_seed(ORIGIN, &[5; 32]).unwrap()
}

/// The entry child run `run` appends at index `i`.
fn entry(run: u64, i: u64) -> Vec<u8> {
    release_entry(format!("run {run} envelope {i}").as_bytes())
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

/// The child: opens the log in `$TLOG_CRASH_DIR` and appends the entries
/// of run `$TLOG_CRASH_RUN`, in batches of the sizes `$TLOG_CRASH_BATCHES`
/// lists, or else of 1..=300 until killed; after each append returns it
/// prints `ack <from> <to> <root hex>`. Run only by the tests below, as
/// their own process.
#[test]
#[ignore = "the child process of the crash tests of this file (run by them with --ignored)"]
fn child_appends() {
    let dir = std::env::var_os("TLOG_CRASH_DIR").expect("run by a crash test, which sets TLOG_CRASH_DIR");
    let run: u64 = std::env::var("TLOG_CRASH_RUN").unwrap().parse().unwrap();
    let batches: Vec<u64> = match std::env::var("TLOG_CRASH_BATCHES") {
        Ok(list) => list.split(',').map(|n| n.parse().unwrap()).collect(),
        Err(_) => {
            let mut rng = Rng::new(run);
            (0..10_000).map(|_| 1 + rng.below(300)).collect()
        }
    };
    let mut log = Log::open(Path::new(&dir), signer()).unwrap();
    let mut out = std::io::stdout().lock();
    for n in batches {
        let from = log.size();
        let batch: Vec<Vec<u8>> = (from..from + n).map(|i| entry(run, i)).collect();
        log.append(&batch).unwrap();
        let cp = log.checkpoint().checkpoint();
        writeln!(out, "ack {from} {} {}", cp.size(), hex(cp.root())).unwrap();
        out.flush().unwrap();
    }
}

fn child(dir: &Path, run: u64, batches: Option<&str>) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["child_appends", "--exact", "--ignored", "--nocapture"])
        .env("TLOG_CRASH_DIR", dir)
        .env("TLOG_CRASH_RUN", run.to_string())
        .stderr(Stdio::null());
    match batches {
        Some(b) => c.env("TLOG_CRASH_BATCHES", b),
        None => c.env_remove("TLOG_CRASH_BATCHES"),
    };
    c
}

/// Every checkpoint seen, and every acknowledged batch.
#[derive(Default, Clone)]
struct History {
    /// (size, root)
    seen: Vec<(u64, Hash)>,
    /// (from, to, run)
    acked: Vec<(u64, u64, u64)>,
    /// Signed checkpoints found under a temporary name.
    leftovers: usize,
}

impl History {
    fn read_acks(&mut self, stdout: &str, run: u64) {
        for line in stdout.lines().filter_map(|l| l.strip_prefix("ack ")) {
            let parts: Vec<&str> = line.split(' ').collect();
            let (from, to): (u64, u64) = (parts[0].parse().unwrap(), parts[1].parse().unwrap());
            self.acked.push((from, to, run));
            self.seen.push((to, unhex(parts[2])));
        }
    }

    fn see_checkpoint_file(&mut self, dir: &Path) {
        let cp = SignedCheckpoint::parse(&std::fs::read(dir.join("checkpoint")).unwrap()).unwrap();
        self.seen.push((cp.checkpoint().size(), *cp.checkpoint().root()));
    }

    /// A checkpoint the log signed that a kill left under its temporary
    /// name is seen too: a reader of the directory can fetch it.
    fn see_leftover_checkpoints(&mut self, dir: &Path) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.starts_with(".checkpoint.") && name.ends_with(".tmp")) {
                continue;
            }
            let Ok(cp) = SignedCheckpoint::parse(&std::fs::read(e.path()).unwrap()) else {
                continue;
            };
            if cp.note().verify(std::slice::from_ref(signer().verifier_key())).is_ok() {
                self.seen.push((cp.checkpoint().size(), *cp.checkpoint().root()));
                self.leftovers += 1;
            }
        }
    }

    /// Opens the log and checks everything the module's documentation
    /// lists; returns its size.
    fn check(&self, dir: &Path, at: &str) -> u64 {
        let log = Log::open(dir, signer()).unwrap_or_else(|e| panic!("{at}: the log does not open: {e}"));
        log.verify_all().unwrap_or_else(|e| panic!("{at}: {e}"));
        let size = log.size();
        let entries = log.entries(0, size).unwrap();
        for &(from, to, run) in &self.acked {
            assert!(
                to <= size,
                "{at}: entries {from}..{to} were acknowledged, the log has {size}"
            );
            for i in from..to {
                assert!(
                    entries[i as usize] == entry(run, i),
                    "{at}: acknowledged entry {i} (run {run}) is not at its index"
                );
            }
        }
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let root = *log.checkpoint().checkpoint().root();
        assert_eq!(root, merkle::root(&leaves), "{at}: the root is not core's");
        for (s, r) in &self.seen {
            assert!(*s <= size, "{at}: a checkpoint of {s} was seen, the log has {size}");
            if *s == 0 {
                assert_eq!(*r, merkle::empty_root());
                continue;
            }
            let proof = log.consistency_proof(*s, size).unwrap();
            merkle::verify_consistency(*s, size, r, &root, &proof)
                .unwrap_or_else(|e| panic!("{at}: the checkpoint of {s} forked from {size}: {e}"));
        }
        assert!(
            !files_ahead(dir, size),
            "{at}: files past the checkpoint are left after open"
        );
        size
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

#[test]
fn kill_9_mid_append_loses_nothing_acknowledged_and_never_forks() {
    let iterations: usize = std::env::var("TLOG_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let mut rng = Rng::new(seed_from_env("TLOG_CRASH_SEED", "tlog crash"));
    let dir = tempfile::tempdir().unwrap();
    drop(Log::create(dir.path(), signer()).unwrap());
    let mut h = History::default();
    h.see_checkpoint_file(dir.path());
    let mut killed_mid_append = 0;
    for it in 0..iterations {
        let run = rng.below(u64::MAX);
        let mut c = child(dir.path(), run, None).stdout(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_micros(20_000 + rng.below(200_000)));
        // What a reader of the directory sees at the moment of the kill.
        h.see_checkpoint_file(dir.path());
        c.kill().unwrap();
        c.wait().unwrap();
        let mut stdout = String::new();
        c.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        h.read_acks(&stdout, run);
        h.see_leftover_checkpoints(dir.path());
        // Files written past the checkpoint by the killed batch show that
        // the kill landed inside an append.
        let on_disk = SignedCheckpoint::parse(&std::fs::read(dir.path().join("checkpoint")).unwrap()).unwrap();
        if files_ahead(dir.path(), on_disk.checkpoint().size()) {
            killed_mid_append += 1;
        }
        h.check(dir.path(), &format!("kill {it}"));
    }
    eprintln!(
        "tlog crash: {iterations} kills, {} checkpoints seen, {} batches acknowledged, {killed_mid_append} kills inside an append",
        h.seen.len(),
        h.acked.len()
    );
    assert!(
        !h.acked.is_empty(),
        "no append was acknowledged in {iterations} runs: the child never ran"
    );
}

/// The syscalls by which the log changes files.
const STEPS: &str = "write,fsync,fdatasync,rename,renameat,renameat2,linkat,unlinkat,mkdir,mkdirat";

/// SIGKILL (strace's fault injection, on entering the syscall) at each
/// invocation of each syscall of [`STEPS`] that three batches make (100,
/// 200, 10 entries on a log of 40: a partial tile extended, a tile filled
/// and its partials deleted, a level-1 tile started), counted from a traced
/// complete run. After each kill the checks of [`History::check`], then a
/// new batch appends and they hold again.
#[test]
fn sigkill_at_every_file_step() {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("strace").is_file()));
    assert!(found, "strace is not installed: run scripts/install-deps");
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let mut log = Log::create(&base, signer()).unwrap();
    log.append(&(0..40).map(|i| entry(0, i)).collect::<Vec<_>>()).unwrap();
    drop(log);
    let mut base_history = History::default();
    base_history.acked.push((0, 40, 0));
    base_history.see_checkpoint_file(&base);
    let fresh = |name: &str| {
        let d = tmp.path().join(name);
        let st = Command::new("cp").arg("-a").arg(&base).arg(&d).status().unwrap();
        assert!(st.success());
        d
    };
    const BATCHES: &str = "100,200,10";
    let d = fresh("traced");
    let trace = tmp.path().join("trace");
    let out = Command::new("strace")
        .args(["-f", "-o"])
        .arg(&trace)
        .args(["-e", &format!("trace={STEPS}")])
        .arg(std::env::current_exe().unwrap())
        .args(["child_appends", "--exact", "--ignored", "--nocapture"])
        .env("TLOG_CRASH_DIR", &d)
        .env("TLOG_CRASH_RUN", "1")
        .env("TLOG_CRASH_BATCHES", BATCHES)
        .output()
        .unwrap();
    assert!(out.status.success(), "the traced run failed");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in std::fs::read_to_string(&trace).unwrap().lines() {
        let call = line.split_whitespace().nth(1).unwrap_or_default();
        if let Some((name, _)) = call.split_once('(') {
            *counts.entry(name.to_owned()).or_default() += 1;
        }
    }
    assert!(
        counts.contains_key("fsync") && counts.keys().any(|k| k.starts_with("rename")),
        "{counts:?}"
    );
    let mut points = 0;
    let mut outcomes: BTreeMap<u64, usize> = BTreeMap::new();
    let mut leftovers = 0;
    for (sys, &count) in &counts {
        let picks: BTreeSet<usize> = if count <= 40 {
            (1..=count).collect()
        } else {
            (1..=12)
                .chain(count - 11..=count)
                .chain((1..12).map(|k| k * count / 12))
                .collect()
        };
        for n in picks {
            let name = format!("{sys}-{n}");
            let d = fresh(&name);
            let out = Command::new("strace")
                .args(["-f", "-o", "/dev/null", "-e", &format!("trace={sys}"), "-e"])
                .arg(format!("inject={sys}:signal=KILL:when={n}"))
                .arg(std::env::current_exe().unwrap())
                .args(["child_appends", "--exact", "--ignored", "--nocapture"])
                .env("TLOG_CRASH_DIR", &d)
                .env("TLOG_CRASH_RUN", "1")
                .env("TLOG_CRASH_BATCHES", BATCHES)
                .stderr(Stdio::null())
                .output()
                .unwrap();
            let mut h = base_history.clone();
            h.read_acks(&String::from_utf8_lossy(&out.stdout), 1);
            h.see_leftover_checkpoints(&d);
            leftovers += h.leftovers;
            let at = format!("killed at {sys} #{n} of {count}");
            let size = h.check(&d, &at);
            *outcomes.entry(size).or_default() += 1;
            // The log carries on.
            let out = child(&d, 2, Some("7")).output().unwrap();
            assert!(out.status.success(), "{at}: then an append failed");
            h.read_acks(&String::from_utf8_lossy(&out.stdout), 2);
            h.check(&d, &format!("{at}, then appended"));
            points += 1;
        }
    }
    eprintln!(
        "tlog crash: killed at {points} steps {counts:?}; sizes after the kill: {outcomes:?}; \
         {leftovers} signed checkpoints left under a temporary name"
    );
    // Where files are written unnamed (O_TMPFILE), a kill between link and
    // rename leaves the checkpoint under a temporary name: adopted above.
    let unnamed = cerro_core::file::AtomicFile::create(&tmp.path().join("probe"), 0o600)
        .unwrap()
        .temp_path()
        .is_none();
    if unnamed {
        assert!(leftovers > 0, "no kill landed between the checkpoint's link and rename");
    }
}
