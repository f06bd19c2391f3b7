//! A producer collects witness cosignatures itself (`ct log submit
//! --witness`, `ct pack --log … --witness`) from a log that asks none
//! (`ct log serve` without `--witness`), end to end with real servers on
//! 127.0.0.1: the log, its read side through Debian's nginx (the
//! consistency proofs a witness's 409 asks for come from its tiles), two
//! witnesses of ours (`ct witness serve`) and, where it is installed, the
//! independent PyPI `aics-witness`:
//!
//! - under a policy requiring two witnesses, submitting without
//!   `--witness` fails (6, nothing written) and a bundle logged that way
//!   is refused by `ct verify` (4); with `--witness` it is written, and
//!   verifies with no network at all;
//! - the cosignatures are added in one order whatever order the witnesses
//!   were given in, and the release's bytes do not change;
//! - a witness whose key is not the one given is refused and not added;
//!   one that does not witness the log (404) and one that knows another
//!   key for its origin (403) are reported by name with the status;
//! - a witness that already cosigned a larger tree than `old 0` answers
//!   409 with its size and cosigns once asked again with the proof from
//!   there;
//! - a fork (another log directory with the same key) gets no
//!   cosignature: each witness's refusal is named, and the command fails.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use cerro_core::tlog::{SignedNote, VerifierKey};
use cerro_integration::tlog::{make_log, make_witness, nginx, note_layout, serve_log, serve_witness, Killed};
use cerro_integration::{ct, ct_bin, ct_ok, ct_refused, run};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn policy(d: &Path, name: &str, witnesses: usize) -> PathBuf {
    let p = d.join(name);
    std::fs::write(
        &p,
        format!(
            r#"{{"version":"1","transparency":{{"logs":1,"witnesses":{witnesses}}},"signers":{{"allowed":[{{"key_id":"*"}}]}}}}"#
        ),
    )
    .unwrap();
    p
}

/// `ct ARGS` under `home` with `$CERRO_POLICY` set: exit code, stdout,
/// stderr.
fn ct_under(home: &Path, policy: &Path, args: &[&str]) -> (i32, String, String) {
    let o = ct(home).env("CERRO_POLICY", policy).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Packs `note` as an image into `out`, signed by k1, not logged.
fn pack(home: &Path, d: &Path, note: &[u8], tag: &str, out: &Path) {
    let img = note_layout(d, note, tag);
    ct_ok(home, &["pack", &img, "-o", s(out), "--key", "k1", "--no-sbom"]);
}

/// The witness key names on the checkpoint of the bundle's only proof, in
/// note order (the log's line first).
fn signers(home: &Path, bundle: &Path) -> Vec<String> {
    let json = ct_ok(home, &["explain", s(bundle), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    report["transparency"][0]["witnesses"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"))
        .iter()
        .map(|w| w["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_producer_collects_the_witness_quorum_the_log_did_not() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k1"]));
    let log_vkey = make_log(d, "p.test/log", "a");
    let log = serve_log(d, &log_vkey, "a", &[]);
    let (_web, web) = nginx(&d.join("a-log"), &d.join("nginx-a"));
    let w1v = make_witness(d, "w1.test", "w1");
    let w2v = make_witness(d, "w2.test", "w2");
    let w3v = make_witness(d, "w3.test", "w3");
    // A key with w3's name that w3 does not hold.
    let w3_wrong = make_witness(d, "w3.test", "w3x");
    let w4v = make_witness(d, "w4.test", "w4");
    let w5v = make_witness(d, "w5.test", "w5");
    let other_log = make_log(d, "other.test/log", "o");
    // Another key for the log's origin.
    let impostor = make_log(d, "p.test/log", "i");
    let w1 = serve_witness(d, &w1v, "w1", &[&log_vkey]);
    let w2 = serve_witness(d, &w2v, "w2", &[&log_vkey]);
    let w3 = serve_witness(d, &w3v, "w3", &[&log_vkey]);
    // w4 witnesses another log only (404); w5 knows another key for this
    // log's origin (403).
    let w4 = serve_witness(d, &w4v, "w4", &[&other_log]);
    let w5 = serve_witness(d, &w5v, "w5", &[&impostor]);

    ct_ok(&home, &["log", "trust", &log_vkey, "--url", &format!("http://{web}")]);
    ct_ok(&home, &["witness", "trust", &w1v]);
    ct_ok(&home, &["witness", "trust", &w2v]);
    let two = policy(d, "two.json", 2);

    // Without --witness, under a policy asking for two: refused (6), the
    // bundle left as it was.
    let bundle = d.join("b.ctp");
    pack(&home, d, b"one\n", "v1", &bundle);
    let before = std::fs::read(&bundle).unwrap();
    let (code, out, err) = ct_under(&home, &two, &["log", "submit", s(&bundle), "--log", &log.endpoint()]);
    assert_eq!(code, 6, "{out}{err}");
    assert!(
        err.contains("0 of 2 required witness cosignature(s) on the checkpoint of log p.test/log"),
        "{err}"
    );
    assert!(err.contains("--witness"), "{err}");
    assert_eq!(std::fs::read(&bundle).unwrap(), before);
    // Logged without witnesses and no policy at submit: ct verify refuses.
    let bare = d.join("bare.ctp");
    std::fs::copy(&bundle, &bare).unwrap();
    ct_ok(&home, &["log", "submit", s(&bare), "--log", &log.endpoint()]);
    ct_refused(
        &home,
        &["verify", s(&bare), "--policy", s(&two)],
        4,
        "p.test/log (0 of 2)",
    );

    // With witnesses, given in reverse order, one under a key it does not
    // hold, one that does not witness this log, one that knows another key
    // for it.
    let wrong = format!("{}={w3_wrong}", w3.url);
    let args = [
        "log",
        "submit",
        s(&bundle),
        "--log",
        &log.endpoint(),
        "--witness",
        &w2.endpoint(),
        "--witness",
        &wrong,
        "--witness",
        &w1.endpoint(),
        "--witness",
        &w4.endpoint(),
        "--witness",
        &w5.endpoint(),
    ];
    let (code, out, err) = ct_under(&home, &two, &args);
    assert_eq!(code, 0, "{out}{err}");
    for w in ["w1.test", "w2.test"] {
        assert!(out.contains(&format!("cosigned by witness {w} (http://")), "{out}");
    }
    assert!(
        err.contains(&format!("witness w3.test ({}/) did not cosign", w3.url)) && err.contains("not its cosignature"),
        "{err}"
    );
    assert!(
        err.contains(&format!("witness w4.test ({}/) did not cosign", w4.url)) && err.contains("HTTP 404 Not Found"),
        "{err}"
    );
    assert!(
        err.contains(&format!("witness w5.test ({}/) did not cosign", w5.url)) && err.contains("HTTP 403 Forbidden"),
        "{err}"
    );
    // The cosignatures, in the canonical order; w3's under its real key
    // is not there either.
    assert_eq!(signers(&home, &bundle), ["w1.test", "w2.test"]);
    let real_w3 = VerifierKey::parse(&w3v).unwrap();
    let cp = checkpoint_of(&home, &bundle);
    assert!(SignedNote::parse(&cp).unwrap().verify(&[real_w3]).is_err());
    // No signed byte changed: the release envelope is the same.
    assert_eq!(
        member(&before, "attestations/release.dsse.json"),
        member(&std::fs::read(&bundle).unwrap(), "attestations/release.dsse.json")
    );

    // The 409 path: the witnesses are at the log's size now; a second
    // release is asked from `old 0`, they answer 409 with their size, and
    // cosign when asked again with the proof from the tiles. Through
    // `ct pack --log --witness` this time.
    let second = d.join("c.ctp");
    let img = note_layout(d, b"two\n", "v2");
    let (code, out, err) = ct_under(
        &home,
        &two,
        &[
            "pack",
            &img,
            "-o",
            s(&second),
            "--key",
            "k1",
            "--no-sbom",
            "--log",
            &log.endpoint(),
            "--witness",
            &w1.endpoint(),
            "--witness",
            &w2.endpoint(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(signers(&home, &second), ["w1.test", "w2.test"]);

    // A fork: the same key over another directory, served alone. The
    // witnesses hold the real tree, larger: each refuses and is named.
    std::fs::copy(d.join("a.key"), d.join("fork.key")).unwrap();
    run(Command::new(ct_bin())
        .args(["log", "init", "--dir"])
        .arg(d.join("fork-log"))
        .arg("--key")
        .arg(d.join("fork.key")));
    let fork = serve_log(d, &log_vkey, "fork", &[]);
    let evil = d.join("evil.ctp");
    pack(&home, d, b"evil\n", "v3", &evil);
    let evil_before = std::fs::read(&evil).unwrap();
    let (code, out, err) = ct_under(
        &home,
        &two,
        &[
            "log",
            "submit",
            s(&evil),
            "--log",
            &fork.endpoint(),
            "--witness",
            &w1.endpoint(),
            "--witness",
            &w2.endpoint(),
        ],
    );
    assert_eq!(code, 6, "{out}{err}");
    for w in [&w1, &w2] {
        let named = format!(
            "witness {} ({}/) did not cosign",
            w.vkey.split('+').next().unwrap(),
            w.url
        );
        assert!(err.contains(&named), "{named:?} not in {err}");
    }
    assert!(err.contains("409 Conflict") && err.contains("forked"), "{err}");
    assert_eq!(std::fs::read(&evil).unwrap(), evil_before);

    // Offline: everything stopped, the bundles verify under the policy
    // with no log, witness or read side to ask.
    drop((log, fork, w1, w2, w3, w4, w5, _web));
    ct_ok(&home, &["verify", s(&bundle), "--policy", s(&two)]);
    ct_ok(&home, &["verify", s(&second), "--policy", s(&two)]);
    let probe = Command::new("unshare").args(["-rn", "true"]).status();
    if probe.is_ok_and(|s| s.success()) {
        let o = Command::new("unshare")
            .args(["-rn"])
            .arg(ct_bin())
            .args(["--home", s(&home), "verify", s(&second), "--policy", s(&two)])
            .env_remove("CERRO_HOME")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "offline verify: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    } else {
        eprintln!("SKIPPED the run in a network namespace: `unshare -rn` is not permitted here");
    }
}

/// The bytes of `name` in the bundle `bytes` (a tar).
fn member(bytes: &[u8], name: &str) -> Vec<u8> {
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(name) {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            return v;
        }
    }
    panic!("no {name} in the bundle");
}

/// The checkpoint of the bundle's only proof.
fn checkpoint_of(_home: &Path, bundle: &Path) -> Vec<u8> {
    let bytes = std::fs::read(bundle).unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().starts_with("transparency") {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut v).unwrap();
            let proof = cerro_core::tlog::TlogProof::parse(&v).unwrap();
            return proof.checkpoint().to_bytes();
        }
    }
    panic!("no proof in the bundle");
}

/// A real independent witness, aics-witness, asked by the producer (the
/// log asks nobody), from `old 0` and, for the second release, again from
/// the size its 409 names; its cosignature and one of ours make a quorum
/// of two.
#[test]
fn an_independent_witness_cosigns_what_the_producer_brings_it() {
    let Some(aics) = aics_witness() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k1"]));
    let log_vkey = make_log(d, "aics.test/log", "a");
    let log = serve_log(d, &log_vkey, "a", &[]);
    let (_web, web) = nginx(&d.join("a-log"), &d.join("nginx-a"));
    let w1v = make_witness(d, "w1.test", "w1");
    let w1 = serve_witness(d, &w1v, "w1", &[&log_vkey]);

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
    let _witness = Killed(
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

    ct_ok(&home, &["log", "trust", &log_vkey, "--url", &format!("http://{web}")]);
    ct_ok(&home, &["witness", "trust", &w1v]);
    ct_ok(&home, &["witness", "trust", &wvkey]);
    let two = policy(d, "two.json", 2);
    let aics_arg = format!("http://{listen}={wvkey}");
    for (note, tag) in [(&b"one\n"[..], "v1"), (b"two\n", "v2")] {
        let b = d.join(format!("{tag}.ctp"));
        pack(&home, d, note, tag, &b);
        let (code, out, err) = ct_under(
            &home,
            &two,
            &[
                "log",
                "submit",
                s(&b),
                "--log",
                &log.endpoint(),
                "--witness",
                &aics_arg,
                "--witness",
                &w1.endpoint(),
            ],
        );
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("cosigned by witness w.aics.test"), "{out}{err}");
        ct_ok(&home, &["verify", s(&b), "--policy", s(&two)]);
        assert_eq!(signers(&home, &b), ["w.aics.test", "w1.test"]);
    }
    // It holds our tree of two entries: the second time it was asked from
    // its own size, with our proof.
    let status = run(Command::new(&aics).args(["status", "--config", s(&cfg), "--json"]));
    let text = String::from_utf8_lossy(&status.stdout);
    let status: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(status["logs"][0]["size"], 2, "{text}");
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
