//! The log end to end (`ct log keygen|init|serve`): entries POSTed to the
//! write side from several clients at once, the read side served by
//! Debian's nginx straight from the log directory (a temporary config on
//! 127.0.0.1, started and stopped here), and every proof checked with core:
//!
//! - the checkpoint fetched through nginx verifies under the log's key;
//! - the level-0 tiles and entry bundles fetched through nginx hold every
//!   acknowledged entry at its index; their hashes give the checkpoint's
//!   root (core's `merkle::root`), and the level-1 tile is the hash of the
//!   full level-0 tile;
//! - each answer of `POST /add` is a tlog-proof whose inclusion path is
//!   core's for the tiles served, and verifies (`verify_inclusion`) to the
//!   root of the checkpoint it carries; that checkpoint is consistent with
//!   the one nginx serves;
//! - `ct log serve` killed with SIGKILL and restarted keeps every
//!   acknowledged entry and carries on;
//! - the write side refuses what is not a release entry (400), a body too
//!   large (413), another method (405), another path (404), each with its
//!   reason.
//!
//! And the directory the log writes in batches is tlog-scales' directory
//! for the same entries: every tile and bundle tlog-scales writes is ours,
//! byte for byte, at the same path, and the checkpoints' texts are equal
//! (`the_log_directory_is_the_one_tlog_scales_writes`).
//!
//! HTTP here is a few lines over `TcpStream` (HTTP/1.1, `Connection:
//! close`): no client crate in the test support.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cerro_core::testing::{seed_from_env, Rng};
use cerro_core::tlog::merkle::{self, Hash};
use cerro_core::tlog::note::VerifierKey;
use cerro_core::tlog::{release_entry, tiles, SignedCheckpoint, TlogProof};
use cerro_integration::tlog::{http, nginx, try_http, Killed};
use cerro_integration::{ct_bin, run};

/// `ct log serve` on a free port of 127.0.0.1, with the address it prints.
fn serve(dir: &Path, key: &Path) -> (Killed, SocketAddr) {
    let mut child = Command::new(ct_bin())
        .args(["log", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(dir)
        .arg("--key")
        .arg(key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("ct log serve printed {line:?}"))
        .parse()
        .unwrap();
    (Killed(child), addr)
}

fn entry(i: usize) -> Vec<u8> {
    release_entry(format!("nginx envelope {i}").as_bytes())
}

/// POSTs entries `range` from `threads` clients at once; the answers by entry.
fn post_all(addr: SocketAddr, range: std::ops::Range<usize>, threads: usize) -> Vec<(usize, TlogProof)> {
    let chunks: Vec<Vec<usize>> = (0..threads)
        .map(|t| range.clone().skip(t).step_by(threads).collect())
        .collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|ids| {
            std::thread::spawn(move || {
                ids.into_iter()
                    .map(|i| {
                        let a = http(addr, "POST", "/add", &entry(i));
                        assert_eq!(a.status, 200, "entry {i}: {}", a.text());
                        assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
                        (i, TlogProof::parse(&a.body).unwrap())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
}

fn hashes(tile: &[u8]) -> Vec<Hash> {
    assert_eq!(tile.len() % 32, 0);
    tile.chunks(32).map(|c| c.try_into().unwrap()).collect()
}

/// Reads the log through nginx: its verified checkpoint, every leaf hash
/// (level-0 tiles) and every entry (bundles), each tile checked against the
/// entries and the level above.
fn read_side(addr: SocketAddr, vkey: &VerifierKey) -> (SignedCheckpoint, Vec<Hash>, Vec<Vec<u8>>) {
    let a = http(addr, "GET", "/checkpoint", b"");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
    let cp = SignedCheckpoint::parse(&a.body).unwrap();
    cp.note().verify(std::slice::from_ref(vkey)).unwrap();
    let size = cp.checkpoint().size();
    let (mut leaves, mut entries) = (Vec::new(), Vec::new());
    let mut level1 = Vec::new();
    for n in 0..size.div_ceil(256) {
        let width = (size - n * 256).min(256);
        let t = http(
            addr,
            "GET",
            &format!("/{}", tiles::tile_path(0, n, width).unwrap()),
            b"",
        );
        assert_eq!(t.status, 200, "tile 0/{n} width {width}");
        let b = http(
            addr,
            "GET",
            &format!("/{}", tiles::entries_path(n, width).unwrap()),
            b"",
        );
        assert_eq!(b.status, 200, "bundle {n} width {width}");
        let tile = hashes(&t.body);
        let bundle = tiles::parse_entry_bundle(&b.body, width).unwrap();
        for (e, h) in bundle.iter().zip(&tile) {
            assert_eq!(&merkle::leaf_hash(e), h, "a bundle entry does not hash to its tile");
        }
        if width == 256 {
            level1.push(merkle::root(&tile));
        }
        leaves.extend(tile);
        entries.extend(bundle.into_iter().map(<[u8]>::to_vec));
    }
    if !level1.is_empty() {
        let t = http(
            addr,
            "GET",
            &format!("/{}", tiles::tile_path(1, 0, level1.len() as u64).unwrap()),
            b"",
        );
        assert_eq!(t.status, 200);
        assert_eq!(
            hashes(&t.body),
            level1,
            "the level-1 tile is not the full tiles' hashes"
        );
    }
    assert_eq!(
        merkle::root(&leaves),
        *cp.checkpoint().root(),
        "the tiles served do not give the root"
    );
    (cp, leaves, entries)
}

fn check_answers(answers: &[(usize, TlogProof)], leaves: &[Hash], entries: &[Vec<u8>], root: &Hash) {
    for (i, p) in answers {
        let index = p.index() as usize;
        assert_eq!(
            entries[index],
            entry(*i),
            "entry {i} is not at the index its answer gave"
        );
        let cp = p.checkpoint().checkpoint();
        let size = cp.size();
        assert!(p.index() < size);
        assert_eq!(
            p.inclusion(),
            merkle::inclusion_proof(&leaves[..size as usize], p.index()).unwrap()
        );
        merkle::verify_inclusion(
            &merkle::leaf_hash(&entry(*i)),
            p.index(),
            size,
            p.inclusion(),
            cp.root(),
        )
        .unwrap();
        let c = merkle::consistency_proof(leaves, size).unwrap();
        merkle::verify_consistency(size, leaves.len() as u64, cp.root(), root, &c).unwrap();
    }
}

#[test]
fn entries_posted_to_ct_log_serve_are_proven_from_what_nginx_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let key = tmp.path().join("log.key");
    let out = run(Command::new(ct_bin())
        .args(["log", "keygen", "--name", "log.example/nginx", "-o"])
        .arg(&key));
    let vkey = VerifierKey::parse(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    run(Command::new(ct_bin())
        .args(["log", "init", "--dir"])
        .arg(&dir)
        .arg("--key")
        .arg(&key));
    let (nginx_proc, web) = nginx(&dir, &tmp.path().join("nginx"));

    let (server, addr) = serve(&dir, &key);
    let mut answers = post_all(addr, 0..300, 8);
    let (cp, leaves, entries) = read_side(web, &vkey);
    assert_eq!(cp.checkpoint().size(), 300);
    check_answers(&answers, &leaves, &entries, cp.checkpoint().root());

    // Killed and restarted: nothing acknowledged is lost, and it carries on.
    drop(server);
    let (server, addr) = serve(&dir, &key);
    answers.extend(post_all(addr, 300..340, 4));
    let (cp2, leaves, entries) = read_side(web, &vkey);
    assert_eq!(cp2.checkpoint().size(), 340);
    check_answers(&answers, &leaves, &entries, cp2.checkpoint().root());
    let c = merkle::consistency_proof(&leaves, 300).unwrap();
    merkle::verify_consistency(300, 340, cp.checkpoint().root(), cp2.checkpoint().root(), &c).unwrap();

    // Refusals, each with its reason.
    let a = http(
        addr,
        "POST",
        "/add",
        b"{\"payloadType\":\"application/vnd.in-toto+json\"}",
    );
    assert_eq!(a.status, 400);
    assert!(a.text().contains("not a Cerro Torre log entry"), "{}", a.text());
    let a = http(addr, "POST", "/add", &vec![b'a'; 4096]);
    assert_eq!(a.status, 413, "{}", a.text());
    let a = http(addr, "GET", "/add", b"");
    assert_eq!((a.status, a.header("allow")), (405, Some("POST")));
    let a = http(addr, "GET", "/checkpoint", b"");
    assert_eq!(a.status, 404, "the write side serves no file: {}", a.text());
    // Nothing refused was appended.
    assert_eq!(read_side(web, &vkey).0.checkpoint().size(), 340);
    drop(server);
    drop(nginx_proc);
}

/// A second `ct log serve` on the same directory is refused (exit 78)
/// while the first runs: two writers would fork the tree.
#[test]
fn a_second_server_on_the_same_log_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let key = tmp.path().join("log.key");
    run(Command::new(ct_bin())
        .args(["log", "keygen", "--name", "log.example/two", "-o"])
        .arg(&key));
    run(Command::new(ct_bin())
        .args(["log", "init", "--dir"])
        .arg(&dir)
        .arg("--key")
        .arg(&key));
    let (_first, _) = serve(&dir, &key);
    let out = Command::new(ct_bin())
        .args(["log", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&dir)
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another process"));
    // A key readable by others is refused too.
    let loose: PathBuf = tmp.path().join("loose.key");
    std::fs::copy(&key, &loose).unwrap();
    std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = Command::new(ct_bin())
        .args(["log", "init", "--dir"])
        .arg(tmp.path().join("other"))
        .arg("--key")
        .arg(&loose)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

/// `ct log serve` killed with SIGKILL at random times while four clients
/// POST entries, and restarted, `TLOG_SERVE_CRASH_ITERATIONS` times
/// (default 12; `TLOG_SERVE_CRASH_SEED` replays a run). After each kill,
/// through nginx: every entry ever answered 200 is at its answered index,
/// its proof's path is core's, and every answered checkpoint is
/// consistent with the one served (the tree never forked).
#[test]
fn kill_9_of_ct_log_serve_under_load_loses_no_acknowledged_entry() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let seed = seed_from_env("TLOG_SERVE_CRASH_SEED", "tlog serve crash");
    let iterations: usize = std::env::var("TLOG_SERVE_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let key = tmp.path().join("log.key");
    let out = run(Command::new(ct_bin())
        .args(["log", "keygen", "--name", "log.example/crash", "-o"])
        .arg(&key));
    let vkey = VerifierKey::parse(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    run(Command::new(ct_bin())
        .args(["log", "init", "--dir"])
        .arg(&dir)
        .arg("--key")
        .arg(&key));
    let (_nginx, web) = nginx(&dir, &tmp.path().join("nginx"));
    let next = Arc::new(AtomicUsize::new(0));
    let acked: Arc<Mutex<Vec<(usize, TlogProof)>>> = Arc::default();
    let mut refused = 0;
    for _ in 0..iterations {
        let (server, addr) = serve(&dir, &key);
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (next, acked) = (next.clone(), acked.clone());
                std::thread::spawn(move || loop {
                    let id = next.fetch_add(1, Ordering::SeqCst);
                    match try_http(addr, "POST", "/add", &entry(id)) {
                        Ok(a) if a.status == 200 => {
                            let p = TlogProof::parse(&a.body).unwrap();
                            acked.lock().unwrap().push((id, p));
                        }
                        Ok(a) => return Some(a.status),
                        Err(_) => return None,
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(20_000 + rng.below(300_000)));
        drop(server);
        for c in clients {
            if c.join().unwrap().is_some() {
                refused += 1;
            }
        }
        let (cp, leaves, entries) = read_side(web, &vkey);
        let acked = acked.lock().unwrap();
        check_answers(&acked, &leaves, &entries, cp.checkpoint().root());
    }
    let acked = acked.lock().unwrap();
    eprintln!(
        "tlog serve crash: {iterations} kills, {} entries acknowledged, {} sent, {refused} answers other than 200",
        acked.len(),
        next.load(Ordering::SeqCst)
    );
    assert_eq!(refused, 0, "the server answered an error instead of being killed");
    assert!(!acked.is_empty(), "no entry was acknowledged");
}

/// The log's directory after 66,000 release entries appended in random
/// batches (levels 0 to 2, full and partial tiles, partial files of full
/// tiles deleted) against the one tlog-scales (PyPI, the validator
/// virtualenv) writes for the same entries in one commit: every file of
/// theirs is ours byte for byte; ours has in addition only partial tiles
/// of earlier checkpoints (narrower, beside theirs); the checkpoint texts
/// (origin, size, root) are equal.
#[test]
fn the_log_directory_is_the_one_tlog_scales_writes() {
    use cerro_core::tlog::note::Ed25519NoteSigner;
    let python = cerro_integration::pyvenv().join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import tlog_scales"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: tlog-scales is missing from the validator virtualenv: run scripts/install-deps");
        return;
    }
    const SIZE: usize = 66_000;
    const ORIGIN: &str = "judge.example/log";
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    let entries: Vec<Vec<u8>> = (0..SIZE).map(entry).collect();
    let signer = Ed25519NoteSigner::from_seed(ORIGIN, &[8; 32]).unwrap();
    let mut log = cerro_tlog::Log::create(&ours, signer).unwrap();
    let mut rng = Rng::new(0x70_6c_69_75);
    let mut at = 0;
    while at < SIZE {
        let n = (1 + rng.below(3000) as usize).min(SIZE - at);
        log.append(&entries[at..at + n]).unwrap();
        at += n;
    }
    drop(log);

    let script = r#"
import sys, pathlib
from tlog_scales import signing, writer
w = writer.TilesWriter.create(pathlib.Path(sys.argv[1]), sys.argv[2])
for line in sys.stdin:
    w.add_leaf(bytes.fromhex(line.strip()))
w.commit([signing.DummySigner()])
"#;
    let mut child = Command::new(&python)
        .args(["-c", script])
        .arg(&theirs)
        .arg(ORIGIN)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for e in &entries {
        let hex: String = e.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(stdin, "{hex}").unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success(), "tlog-scales failed");

    fn files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let (mut mine, mut their) = (Vec::new(), Vec::new());
    files(&ours, &ours.join("tile"), &mut mine);
    files(&theirs, &theirs.join("tile"), &mut their);
    for p in &their {
        let a = std::fs::read(ours.join(p))
            .unwrap_or_else(|e| panic!("{}: tlog-scales has it, we do not: {e}", p.display()));
        assert!(a == std::fs::read(theirs.join(p)).unwrap(), "{} differs", p.display());
    }
    for p in mine.iter().filter(|p| !their.contains(p)) {
        let width: u64 = p.file_name().unwrap().to_str().unwrap().parse().unwrap();
        let dir = p.parent().unwrap();
        assert!(
            dir.to_str().unwrap().ends_with(".p"),
            "{}: a full tile tlog-scales does not have",
            p.display()
        );
        let theirs_wider = their
            .iter()
            .filter(|q| q.parent() == Some(dir))
            .any(|q| q.file_name().unwrap().to_str().unwrap().parse::<u64>().unwrap() > width);
        assert!(theirs_wider, "{}: a partial tile of no earlier checkpoint", p.display());
    }
    assert!(their.len() > 500, "tlog-scales wrote {} files", their.len());
    let text = |d: &Path| {
        let cp = std::fs::read_to_string(d.join("checkpoint")).unwrap();
        cp.split("\n\n").next().unwrap().to_owned()
    };
    assert_eq!(text(&ours), text(&theirs));
    eprintln!(
        "tlog-scales: {} files, all ours; we keep {} earlier partial tiles",
        their.len(),
        mine.len() - their.len()
    );
}
