//! The monitor and online verification, end to end with real servers on
//! 127.0.0.1: a log (`ct log serve`) asking a witness (`ct witness
//! serve`), its directory served by Debian's nginx (its read side), and
//! `ct log monitor` / `ct verify --online` reading both:
//!
//! - a log that grows: the monitor exits 0 and its state advances to the
//!   new checkpoint;
//! - a fork (another directory with the same key and origin, grown past
//!   the real tree with other entries): the witness refuses it (409), and
//!   the monitor, once the log's URL serves the fork, reports the split
//!   view (exit 6, `tlog_split_view`) naming both checkpoints and who
//!   served each, against its own state and against the witness's, and
//!   keeps its state;
//! - `ct verify --online` accepts a proof consistent with what the log
//!   serves and refuses (exit 6) one that the served tree does not extend,
//!   while plain `ct verify` of the same bundle, offline, passes.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

use cerro_core::digest::Digest;
use cerro_core::tlog::{SignedCheckpoint, SignedNote, VerifierKey};
use cerro_integration::tlog::{http, make_log, make_witness, nginx, note_layout, serve_log, serve_witness, Server};
use cerro_integration::{ct, ct_bin, ct_ok, ct_refused, ct_status, run};

const ORIGIN: &str = "mon.test/log";

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

/// The checkpoint in a monitor state directory.
fn state_of(dir: &Path) -> SignedCheckpoint {
    let file = dir.join(format!("log-{}.checkpoint", Digest::of(ORIGIN.as_bytes()).hex()));
    SignedCheckpoint::parse(&std::fs::read(file).unwrap()).unwrap()
}

fn monitor_json(home: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["log", "monitor", "--json"];
    all.extend_from_slice(args);
    let out = ct(home).args(&all).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn the_monitor_follows_a_growing_log_and_reports_its_fork_and_verify_online_checks_proofs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k1"]));
    let log_vkey = make_log(d, ORIGIN, "a");
    let wv = make_witness(d, "w1.test", "w1");
    let witness = serve_witness(d, &wv, "w1", &[&log_vkey]);
    let log = serve_log(d, &log_vkey, "a", &[witness.endpoint()]);
    let (_web_a, web_a) = nginx(&d.join("a-log"), &d.join("nginx-a"));
    let url_a = format!("http://{web_a}");

    let first = d.join("first.ctp");
    pack_logged(&home, &note_layout(d, b"one\n", "v1"), &first, &log);
    ct_ok(&home, &["log", "trust", &log_vkey, "--url", &url_a]);
    ct_ok(&home, &["witness", "trust", &wv]);
    let listed = ct_ok(&home, &["log", "list", "--json"]);
    assert!(listed.contains(&url_a), "{listed}");

    // The witness's read endpoint: its latest cosigned checkpoint.
    let hex = Digest::of(ORIGIN.as_bytes()).hex();
    let waddr = witness.url.trim_start_matches("http://").parse().unwrap();
    let a = http(waddr, "GET", &format!("/checkpoint/{hex}"), b"");
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(SignedCheckpoint::parse(&a.body).unwrap().checkpoint().size(), 1);
    assert_eq!(
        http(waddr, "GET", &format!("/checkpoint/{}", "0".repeat(64)), b"").status,
        404
    );

    // A log that grows: consistent with the witness, then with the state.
    let state = d.join("state");
    let out = ct_ok(
        &home,
        &["log", "monitor", "--witness", &witness.url, "--state", s(&state)],
    );
    assert!(
        out.contains(&format!("consistent with witness {}", witness.url)),
        "{out}"
    );
    assert_eq!(state_of(&state).checkpoint().size(), 1);
    let second = d.join("second.ctp");
    pack_logged(&home, &note_layout(d, b"two\n", "v2"), &second, &log);
    let (code, report) = monitor_json(&home, &["--witness", &witness.url, "--state", s(&state)]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["split_view"], false, "{report}");
    let l = &report["logs"][0];
    assert_eq!(
        (l["size"].as_u64(), l["previous"]["size"].as_u64()),
        (Some(2), Some(1)),
        "{report}"
    );
    assert_eq!(l["witnesses"][0]["cosigned_by"][0], "w1.test", "{report}");
    assert_eq!(state_of(&state).checkpoint().size(), 2);

    // Online: the proof at size 1 is consistent with the served size 2.
    let out = ct_ok(&home, &["verify", s(&first), "--online"]);
    assert!(
        out.contains("online: log mon.test/log") && out.contains("serves tree size 2"),
        "{out}"
    );

    // A fork: the same key over another directory, grown past the real
    // tree with other entries, asking the same witness.
    std::fs::copy(d.join("a.key"), d.join("fork.key")).unwrap();
    run(Command::new(ct_bin())
        .args(["log", "init", "--dir"])
        .arg(d.join("fork-log"))
        .arg("--key")
        .arg(d.join("fork.key")));
    let fork = serve_log(d, &log_vkey, "fork", &[witness.endpoint()]);
    for (i, note) in ["evil1\n", "evil2\n", "evil3\n"].iter().enumerate() {
        pack_logged(
            &home,
            &note_layout(d, note.as_bytes(), &format!("f{i}")),
            &d.join(format!("forked{i}.ctp")),
            &fork,
        );
    }
    drop(fork);
    // The witness refused it: the fork's checkpoint carries no cosignature,
    // the witness still holds the real tree at size 2, and asked again
    // directly it answers 409 with that size.
    let forked_cp = std::fs::read(d.join("fork-log/checkpoint")).unwrap();
    let wkey = VerifierKey::parse(&wv).unwrap();
    assert!(SignedNote::parse(&forked_cp).unwrap().verify(&[wkey]).is_err());
    let held = SignedCheckpoint::parse(&http(waddr, "GET", &format!("/checkpoint/{hex}"), b"").body).unwrap();
    assert_eq!(held.checkpoint(), state_of(&state).checkpoint());
    let mut body = b"old 0\n\n".to_vec();
    body.extend_from_slice(&forked_cp);
    let refused = http(waddr, "POST", "/add-checkpoint", &body);
    assert_eq!((refused.status, refused.text()), (409, "2\n".to_owned()));

    // The log's URL now serves the fork: a split view, against the
    // monitor's state and the witness, with both sides named; the state
    // is kept.
    let (_web_f, web_f) = nginx(&d.join("fork-log"), &d.join("nginx-f"));
    let url_f = format!("http://{web_f}");
    ct_ok(&home, &["log", "trust", &log_vkey, "--url", &url_f]);
    let (code, out) = ct_status(
        &home,
        &["log", "monitor", "--witness", &witness.url, "--state", s(&state)],
    );
    assert_eq!(code, 6, "{out}");
    for needle in [
        "SPLIT VIEW",
        "split view of log mon.test/log",
        &format!("log {url_f} served size 3"),
        "this monitor's last view",
        &format!("witness {} served size 2", witness.url),
        "consistency proof from 2 to 3",
    ] {
        assert!(out.contains(needle), "{needle:?} not in: {out}");
    }
    assert_eq!(
        state_of(&state).checkpoint().size(),
        2,
        "a split view does not advance the state"
    );
    let (code, report) = monitor_json(&home, &["--witness", &witness.url, "--state", s(&state)]);
    assert_eq!(code, 6, "{report}");
    assert_eq!(report["kind"], "tlog_split_view", "{report}");
    assert_eq!(report["logs"][0]["state_advanced"], false, "{report}");
    assert_eq!(
        report["logs"][0]["split_views"].as_array().unwrap().len(),
        2,
        "{report}"
    );
    // A monitor with no history sees it through the witness alone.
    let fresh = d.join("fresh");
    let (code, report) = monitor_json(&home, &["--witness", &witness.url, "--state", s(&fresh)]);
    assert_eq!(code, 6, "{report}");
    let sv = &report["logs"][0]["split_views"][0];
    assert_eq!(sv["a"]["source"], format!("witness {}", witness.url), "{report}");
    assert_eq!(
        (sv["a"]["size"].as_u64(), sv["b"]["size"].as_u64()),
        (Some(2), Some(3)),
        "{report}"
    );
    // Without a witness and without history there is nothing to compare:
    // the fork looks like a log.
    ct_ok(&home, &["log", "monitor", "--state", s(&d.join("blind"))]);
    // A state file that is not a checkpoint is refused, not overwritten.
    let blind_state = d
        .join("blind")
        .join(format!("log-{}.checkpoint", Digest::of(ORIGIN.as_bytes()).hex()));
    std::fs::write(&blind_state, b"not a checkpoint\n").unwrap();
    ct_refused(
        &home,
        &["log", "monitor", "--state", s(&d.join("blind"))],
        10,
        "malformed",
    );
    assert_eq!(std::fs::read(&blind_state).unwrap(), b"not a checkpoint\n");
    // The witness's read endpoint is read-only.
    assert_eq!(http(waddr, "POST", &format!("/checkpoint/{hex}"), b"").status, 405);

    // Online against the fork: the proofs of the real log are refused,
    // offline they still verify.
    ct_refused(
        &home,
        &["verify", s(&second), "--online"],
        6,
        "split view of log mon.test/log",
    );
    let (code, out) = ct_status(&home, &["verify", s(&first), "--online", "--json"]);
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("tlog_split_view"), "{out}");
    ct_refused(
        &home,
        &["explain", s(&second), "--online"],
        6,
        "REFUSED online (exit 6)",
    );
    ct_ok(&home, &["verify", s(&second)]);
    // And a proof from the fork is consistent with the fork.
    ct_ok(&home, &["verify", s(&d.join("forked0.ctp")), "--online"]);

    // No read URL: --online is a configuration error, never a silent pass.
    ct_ok(&home, &["log", "untrust", ORIGIN]);
    ct_ok(&home, &["log", "trust", &log_vkey]);
    ct_refused(&home, &["verify", s(&first), "--online"], 78, "no read URL");
    ct_refused(&home, &["log", "monitor"], 78, "no read URL");
    ct_refused(
        &home,
        &["log", "monitor", "--log", "nobody.test"],
        78,
        "not a trusted log",
    );
    drop(log);
}
