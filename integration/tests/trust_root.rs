//! A signed trust root and a signed revocation list with real logs and a
//! real witness (issue #12, spec/trust-store.md §9–10): two `ct log serve`
//! and one `ct witness serve` on 127.0.0.1, a root naming them with a
//! quorum of 2 logs × 1 witness and no `[logs]` in `trust.toml`:
//!
//! - `ct pack --log URL` checks each log's answer against the root's keys;
//!   the bundle proven by both logs, each cosigned, verifies with no policy;
//! - a bundle without proofs, or proven by one log, is refused by the
//!   root's quorum (4, `trust_root.quorum`);
//! - `ct revocation publish --log` enters the list in both logs; `ct
//!   revocation fetch URL` installs it from an HTTP server; the release it
//!   revokes is refused (7).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{Read as _, Write as _};
use std::path::Path;

use cerro_integration::tlog::{make_log, make_witness, note_layout, serve_log, serve_witness};
use cerro_integration::{ct_ok, ct_refused};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Serves `body` once over HTTP on 127.0.0.1; returns its URL.
fn serve_once(body: Vec<u8>) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = c.read(&mut buf);
        let _ = write!(
            c,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = c.write_all(&body);
    });
    format!("http://{addr}/revocation.json")
}

#[test]
fn a_trust_roots_logs_and_quorum_and_a_logged_revocation_list() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    for id in ["k1", "r1", "r2", "rev"] {
        ct_ok(&home, &["keygen", "--id", id]);
    }
    let a_vkey = make_log(d, "a.test/log", "a");
    let b_vkey = make_log(d, "b.test/log", "b");
    let w_vkey = make_witness(d, "w1.test", "w1");
    let w = serve_witness(d, &w_vkey, "w1", &[&a_vkey, &b_vkey]);
    let a = serve_log(d, &a_vkey, "a", &[w.endpoint()]);
    let b = serve_log(d, &b_vkey, "b", &[w.endpoint()]);

    let root = d.join("root.json");
    let expires = cerro_core::timestamp::format_rfc3339(cerro_core::clock::unix_now().unwrap() + 86_400);
    ct_ok(
        &home,
        &[
            "trust",
            "root",
            "init",
            "-o",
            s(&root),
            "--root-version",
            "1",
            "--expires",
            &expires,
            "--root-key",
            "r1",
            "--root-key",
            "r2",
            "--threshold",
            "2",
            "--revocation-key",
            "rev",
            "--revocation-threshold",
            "1",
            "--log",
            &a_vkey,
            "--log",
            &b_vkey,
            "--witness",
            &w_vkey,
            "--quorum-logs",
            "2",
            "--quorum-witnesses",
            "1",
        ],
    );
    ct_ok(
        &home,
        &["trust", "root", "sign", s(&root), "--key", "r1", "--key", "r2"],
    );
    ct_ok(&home, &["trust", "root", "install", s(&root)]);
    let shown = ct_ok(&home, &["trust", "root", "show"]);
    assert!(shown.contains("a.test/log") && shown.contains("w1.test"), "{shown}");

    // The root's logs check the answers: no key given with the URLs.
    let img = note_layout(d, b"hello\n", "v1");
    let logged = d.join("logged.ctp");
    let out = ct_ok(
        &home,
        &[
            "pack",
            &img,
            "-o",
            s(&logged),
            "--key",
            "k1",
            "--no-sbom",
            "--log",
            &a.url,
            "--log",
            &b.url,
        ],
    );
    assert!(
        out.contains("logged in a.test/log") && out.contains("logged in b.test/log"),
        "{out}"
    );
    let out = ct_ok(&home, &["verify", s(&logged)]);
    assert!(out.contains("logged in a.test/log, b.test/log"), "{out}");

    // The quorum binds without a policy: no proof, or one log only.
    let plain = d.join("plain.ctp");
    ct_ok(&home, &["pack", &img, "-o", s(&plain), "--key", "k1", "--no-sbom"]);
    ct_refused(&home, &["verify", s(&plain)], 4, "trust_root.quorum");
    let only_a = d.join("only-a.ctp");
    std::fs::copy(&plain, &only_a).unwrap();
    ct_ok(&home, &["log", "submit", s(&only_a), "--log", &a.url]);
    ct_refused(&home, &["verify", s(&only_a)], 4, "1 of 2 distinct trusted logs");

    // A revocation list entered in both logs, fetched over HTTP.
    let json = ct_ok(&home, &["verify", s(&logged), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let image = v["bundle"]["image"]["digest"].as_str().unwrap().to_owned();
    let list = d.join("list.json");
    let out = ct_ok(
        &home,
        &[
            "revocation",
            "publish",
            "-o",
            s(&list),
            "--key",
            "rev",
            "--revoke",
            &image,
            "--log",
            &a.url,
            "--log",
            &b.url,
        ],
    );
    assert!(
        out.contains("logged in a.test/log") && out.contains("logged in b.test/log"),
        "{out}"
    );
    let url = serve_once(std::fs::read(&list).unwrap());
    let out = ct_ok(&home, &["revocation", "fetch", &url]);
    assert!(out.contains("installed revocation list version 1"), "{out}");
    ct_refused(&home, &["verify", s(&logged)], 7, "revoked: image manifest");
    drop((a, b, w));
}
