//! Witnesses, end to end with real servers on 127.0.0.1: a log (`ct log
//! serve --witness …`) asks two witnesses (`ct witness serve`) to cosign
//! each checkpoint, the proofs a bundle carries hold their cosignatures,
//! and `ct verify` counts them under `transparency.witnesses`:
//!
//! - two trusted witnesses cosigned: a policy asking for two passes, one
//!   asking for three refuses (4), and untrusting one refuses (4);
//! - the checkpoint the log publishes carries both cosignatures;
//! - a fork: another log directory with the same key (what an operator
//!   showing two histories would run) gets no cosignature from witnesses
//!   that cosigned the real one, smaller or grown larger than the real
//!   tree (a 409, then a 422), so a bundle logged only there is refused
//!   under a policy that requires witnesses, while a policy that does not
//!   would have taken it;
//! - a witness restarted keeps its state and cosigns the log's next
//!   checkpoint from where it was.
//!
//! And a real independent witness, PyPI's `aics-witness` (Python ≥ 3.12,
//! its own virtualenv made by scripts/install-deps), cosigns our log's
//! checkpoints, which our verifier counts.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use cerro_core::tlog::{SignedNote, VerifierKey};
use cerro_integration::tlog::{make_log, make_witness, note_layout, serve_log, serve_witness, Server};
use cerro_integration::{ct, ct_bin, ct_ok, ct_refused, run};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Packs `img` into `out`, entered in the log at `log`.
fn pack_logged(home: &Path, img: &str, out: &Path, log: &Server) {
    ct_ok(
        home,
        &[
            "pack",
            img,
            "-o",
            s(out),
            "--key",
            "k1",
            "--no-sbom",
            "--log",
            &log.endpoint(),
        ],
    );
}

fn policy(d: &Path, name: &str, logs: usize, witnesses: usize) -> PathBuf {
    let p = d.join(name);
    std::fs::write(
        &p,
        format!(
            r#"{{"version":"1","transparency":{{"logs":{logs},"witnesses":{witnesses}}},"signers":{{"allowed":[{{"key_id":"*"}}]}}}}"#
        ),
    )
    .unwrap();
    p
}

#[test]
fn witnesses_cosign_a_growing_log_refuse_its_fork_and_are_counted_by_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k1"]));
    let log_vkey = make_log(d, "a.test/log", "a");
    let w1v = make_witness(d, "w1.test", "w1");
    let w2v = make_witness(d, "w2.test", "w2");
    let w1 = serve_witness(d, &w1v, "w1", &[&log_vkey]);
    let w2 = serve_witness(d, &w2v, "w2", &[&log_vkey]);
    let log = serve_log(d, &log_vkey, "a", &[w1.endpoint(), w2.endpoint()]);

    // Two releases: the second's checkpoint extends the first's, so each
    // witness checks a consistency proof the second time.
    let first = d.join("first.ctp");
    pack_logged(&home, &note_layout(d, b"one\n", "v1"), &first, &log);
    let bundle = d.join("logged.ctp");
    pack_logged(&home, &note_layout(d, b"two\n", "v2"), &bundle, &log);

    ct_ok(&home, &["log", "trust", &log_vkey]);
    ct_ok(&home, &["witness", "trust", &w1v]);
    ct_ok(&home, &["witness", "trust", &w2v]);
    let listed = ct_ok(&home, &["witness", "list"]);
    assert!(listed.contains(&w1v) && listed.contains(&w2v), "{listed}");
    ct_refused(&home, &["witness", "trust", &log_vkey], 78, "cosignature/v1");
    ct_refused(&home, &["witness", "untrust", "nobody.test"], 78, "no trusted witness");

    let two = policy(d, "two.json", 1, 2);
    ct_ok(&home, &["verify", s(&bundle), "--policy", s(&two)]);
    ct_ok(&home, &["verify", s(&first), "--policy", s(&two)]);
    let explained = ct_ok(&home, &["explain", s(&bundle), "--policy", s(&two)]);
    for w in ["w1.test", "w2.test"] {
        assert!(
            explained.contains(&format!("cosigned by witness {w} at ")),
            "{explained}"
        );
    }
    let json = ct_ok(&home, &["explain", s(&bundle), "--policy", s(&two), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["transparency"][0]["witnesses"].as_array().unwrap().len(),
        2,
        "{json}"
    );

    // The published checkpoint carries both cosignatures.
    let published = std::fs::read(d.join("a-log/checkpoint")).unwrap();
    let keys = [VerifierKey::parse(&w1v).unwrap(), VerifierKey::parse(&w2v).unwrap()];
    assert_eq!(SignedNote::parse(&published).unwrap().verify(&keys).unwrap().len(), 2);

    // k of n: three required of two trusted; one untrusted.
    let three = policy(d, "three.json", 1, 3);
    ct_refused(
        &home,
        &["verify", s(&bundle), "--policy", s(&three)],
        4,
        "a.test/log (2 of 3)",
    );
    ct_ok(&home, &["witness", "untrust", "w2.test"]);
    ct_refused(
        &home,
        &["verify", s(&bundle), "--policy", s(&two)],
        4,
        "a.test/log (1 of 2)",
    );
    ct_ok(&home, &["witness", "trust", &w2v]);

    // A fork: the same log key over another directory, asking the same
    // witnesses. They cosigned the real tree, larger than this one: none
    // cosigns, so what is logged only there is refused by a policy that
    // needs witnesses, and would have been taken on the log's word alone.
    std::fs::copy(d.join("a.key"), d.join("fork.key")).unwrap();
    run(Command::new(ct_bin())
        .args(["log", "init", "--dir"])
        .arg(d.join("fork-log"))
        .arg("--key")
        .arg(d.join("fork.key")));
    let fork = serve_log(d, &log_vkey, "fork", &[w1.endpoint(), w2.endpoint()]);
    let forked = d.join("forked.ctp");
    pack_logged(&home, &note_layout(d, b"evil\n", "v3"), &forked, &fork);
    // Grown past the real tree, the fork's consistency proof from the
    // witnesses' size does not reach their root: still no cosignature.
    pack_logged(&home, &note_layout(d, b"evil2\n", "v5"), &d.join("forked2.ctp"), &fork);
    let forked3 = d.join("forked3.ctp");
    pack_logged(&home, &note_layout(d, b"evil3\n", "v6"), &forked3, &fork);
    drop(fork);
    let one = policy(d, "one.json", 1, 1);
    ct_refused(
        &home,
        &["verify", s(&forked), "--policy", s(&one)],
        4,
        "a.test/log (0 of 1)",
    );
    ct_refused(
        &home,
        &["verify", s(&forked3), "--policy", s(&one)],
        4,
        "a.test/log (0 of 1)",
    );
    ct_ok(
        &home,
        &["verify", s(&forked), "--policy", s(&policy(d, "none.json", 1, 0))],
    );

    // A witness restarted keeps its state: the log's next checkpoint is
    // cosigned again by both, from where each was.
    drop(log);
    drop(w1);
    let w1 = serve_witness(d, &w1v, "w1", &[&log_vkey]);
    let log = serve_log(d, &log_vkey, "a", &[w1.endpoint(), w2.endpoint()]);
    let third = d.join("third.ctp");
    pack_logged(&home, &note_layout(d, b"three\n", "v4"), &third, &log);
    ct_ok(&home, &["verify", s(&third), "--policy", s(&two)]);
}

/// PyPI aics-witness in its virtualenv (scripts/install-deps makes it where
/// a Python >= 3.12 exists), or `None` with the reason printed.
fn aics_witness() -> Option<PathBuf> {
    let venv = std::env::var_os("CERRO_AICS_PYVENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let mut v = cerro_integration::pyvenv().into_os_string();
            v.push("-aics");
            PathBuf::from(v)
        });
    let bin = venv.join("bin/aics-witness");
    if !bin.exists() {
        eprintln!(
            "SKIPPED: the independent witness (PyPI aics-witness, Python >= 3.12) is not installed at {}: scripts/install-deps makes it when a Python >= 3.12 is found",
            bin.display()
        );
        return None;
    }
    Some(bin)
}

/// A real independent witness, aics-witness (tlog-witness v1.1.0, Python),
/// cosigns the checkpoints our log sends it, the second time after checking
/// our consistency proof; our verifier counts its cosignature.
#[test]
fn an_independent_witness_cosigns_our_log_and_its_cosignature_counts() {
    let Some(aics) = aics_witness() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k1"]));
    let log_vkey = make_log(d, "aics.test/log", "a");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let cfg = d.join("aics/witness.json");
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    let out = run(Command::new(&aics).args([
        "init",
        "--config",
        s(&cfg),
        "--name",
        "w.aics.test",
        "--listen",
        &listen,
    ]));
    let wvkey = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .find(|w| w.starts_with("w.aics.test+"))
        .unwrap_or_else(|| panic!("aics-witness init printed no vkey"))
        .to_owned();
    run(Command::new(&aics).args([
        "add-log",
        "--config",
        s(&cfg),
        "--origin",
        "aics.test/log",
        "--vkey",
        &log_vkey,
    ]));
    let _witness = cerro_integration::tlog::Killed(
        Command::new(&aics)
            .args([
                "serve",
                "--config",
                s(&cfg),
                "--listen",
                &listen,
                "--log-level",
                "WARNING",
            ])
            .spawn()
            .unwrap(),
    );
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::net::TcpStream::connect(&listen).is_ok()
    });
    assert!(up, "aics-witness did not listen on {listen}");

    let log = serve_log(d, &log_vkey, "a", &[format!("http://{listen}={wvkey}")]);
    let first = d.join("first.ctp");
    pack_logged(&home, &note_layout(d, b"one\n", "v1"), &first, &log);
    let second = d.join("second.ctp");
    pack_logged(&home, &note_layout(d, b"two\n", "v2"), &second, &log);

    ct_ok(&home, &["log", "trust", &log_vkey]);
    ct_ok(&home, &["witness", "trust", &wvkey]);
    let one = policy(d, "one.json", 1, 1);
    for b in [&first, &second] {
        ct_ok(&home, &["verify", s(b), "--policy", s(&one)]);
    }
    let explained = ct_ok(&home, &["explain", s(&second), "--policy", s(&one)]);
    assert!(explained.contains("cosigned by witness w.aics.test at "), "{explained}");
    // Its state agrees: it holds our tree of two entries.
    let status = run(Command::new(&aics).args(["status", "--config", s(&cfg), "--json"]));
    let text = String::from_utf8_lossy(&status.stdout);
    let status: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let logs = status["logs"].as_array().unwrap_or_else(|| panic!("{text}"));
    assert_eq!(logs.len(), 1, "{text}");
    assert_eq!(logs[0]["origin"], "aics.test/log", "{text}");
    assert_eq!(logs[0]["size"], 2, "{text}");
}
