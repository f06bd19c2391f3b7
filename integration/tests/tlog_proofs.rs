//! Bundles carrying transparency-log proofs, end to end with real logs:
//! two `ct log serve` started here on 127.0.0.1, a bundle packed with
//! `ct pack --log` (one log given with its key, one from the trust store)
//! and another entered with `ct log submit`, then verified by `ct verify`
//! under a policy requiring two logs, offline for real (in a network
//! namespace with no interface but a down loopback, `unshare -rn`), and
//! refused with the documented exit codes:
//!
//! - a proof from a log outside the trust store is not counted: the policy
//!   refuses by `transparency.logs` (4);
//! - only one of the two required logs: 4;
//! - a checkpoint signed by another key than the trusted one: 6;
//! - an inclusion path that does not reach the checkpoint's root: 6;
//! - the proof of another bundle's entry: 6.
//!
//! And the bundle without its proofs is byte for byte the bundle packed
//! without `--log`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

use cerro_core::bundle::{member_header, TRANSPARENCY_PREFIX};
use cerro_integration::tlog::{note_layout, Server};
use cerro_integration::{ct, ct_bin, ct_ok, ct_refused, ct_status, run};

fn start_log(d: &Path, origin: &str, tag: &str) -> Server {
    cerro_integration::tlog::start_log(d, origin, tag, &[])
}

/// Splits a bundle into member blocks (header, data, padding) and the end.
fn blocks(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes[at..at + 512].iter().any(|b| *b != 0) {
        let h = tar::Header::from_byte_slice(&bytes[at..at + 512]);
        let size = h.entry_size().unwrap() as usize;
        let len = 512 + size.div_ceil(512) * 512;
        out.push(bytes[at..at + len].to_vec());
        at += len;
    }
    out.push(bytes[at..].to_vec());
    out
}

fn block_path(b: &[u8]) -> String {
    let name = &b[..100];
    String::from_utf8(name[..name.iter().position(|c| *c == 0).unwrap_or(100)].to_vec()).unwrap()
}

fn block_data(b: &[u8]) -> Vec<u8> {
    let size = tar::Header::from_byte_slice(&b[..512]).entry_size().unwrap() as usize;
    b[512..512 + size].to_vec()
}

fn member_block(path: &str, data: &[u8]) -> Vec<u8> {
    let mut out = member_header(path, data.len() as u64, 0).unwrap().as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(512 + data.len().div_ceil(512) * 512, 0);
    out
}

/// `bundle` with each `transparency/` member passed through `edit`
/// (`None` drops it).
fn edit_proofs(bundle: &Path, out: &Path, edit: impl Fn(&str, Vec<u8>) -> Option<Vec<u8>>) {
    let mut bytes = Vec::new();
    for b in blocks(&std::fs::read(bundle).unwrap()) {
        let path = block_path(&b);
        if path.starts_with(TRANSPARENCY_PREFIX) {
            if let Some(data) = edit(&path, block_data(&b)) {
                bytes.extend_from_slice(&member_block(&path, &data));
            }
        } else {
            bytes.extend_from_slice(&b);
        }
    }
    std::fs::write(out, bytes).unwrap();
}

/// The proof members of a bundle: (path, bytes).
fn proofs_of(bundle: &Path) -> Vec<(String, Vec<u8>)> {
    blocks(&std::fs::read(bundle).unwrap())
        .iter()
        .filter(|b| block_path(b).starts_with(TRANSPARENCY_PREFIX))
        .map(|b| (block_path(b), block_data(b)))
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn bundles_carry_proofs_from_two_logs_and_verify_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k1"]));
    let a = start_log(d, "a.test/log", "a");
    let b = start_log(d, "b.test/log", "b");
    // b is trusted from the start; a's key is given with its URL at pack.
    ct_ok(&home, &["log", "trust", &b.vkey]);
    let listed = ct_ok(&home, &["log", "list"]);
    assert!(listed.contains(&b.vkey), "{listed}");
    ct_refused(&home, &["log", "untrust", "nobody.test/log"], 78, "no trusted log");
    ct_refused(&home, &["log", "trust", "not+a+key"], 78, "");
    // One key, one log: b's key under another origin is refused.
    ct_refused(
        &home,
        &["log", "trust", &b.vkey, "--origin", "c.test/log"],
        78,
        "one key, one log",
    );

    let img = note_layout(d, b"hello\n", "v1");
    let other_img = note_layout(d, b"other\n", "v2");
    let plain = d.join("plain.ctp");
    let logged = d.join("logged.ctp");
    let other = d.join("other.ctp");
    let pack = |out: &Path, img: &str, logs: &[String]| {
        let mut args = vec!["pack", img, "-o", s(out), "--key", "k1", "--no-sbom"];
        for l in logs {
            args.extend(["--log", l.as_str()]);
        }
        ct_ok(&home, &args)
    };
    // Another release first, so every later tree has more than one leaf
    // and every proof has a path.
    pack(&other, &other_img, &[]);
    ct_ok(
        &home,
        &[
            "log",
            "submit",
            s(&other),
            "--log",
            &format!("{}={}", a.url, a.vkey),
            "--log",
            &b.url,
        ],
    );
    pack(&plain, &img, &[]);
    let out = pack(&logged, &img, &[format!("{}={}", a.url, a.vkey), b.url.clone()]);
    assert!(
        out.contains("logged in a.test/log") && out.contains("logged in b.test/log"),
        "{out}"
    );

    // Without its proofs, the bundle is the one packed without --log.
    let stripped = d.join("stripped.ctp");
    edit_proofs(&logged, &stripped, |_, _| None);
    assert_eq!(std::fs::read(&stripped).unwrap(), std::fs::read(&plain).unwrap());
    assert_eq!(proofs_of(&logged).len(), 2);

    // Submitting again replaces each log's proof: still two.
    let resubmitted = d.join("resubmitted.ctp");
    std::fs::copy(&logged, &resubmitted).unwrap();
    ct_ok(
        &home,
        &[
            "log",
            "submit",
            s(&resubmitted),
            "--log",
            &format!("{}={}", a.url, a.vkey),
        ],
    );
    let again = proofs_of(&resubmitted);
    assert_eq!(again.len(), 2);
    assert_ne!(again, proofs_of(&logged), "a's proof is a new one (a later index)");

    // Both logs trusted, a policy requiring two.
    ct_ok(&home, &["log", "trust", &a.vkey]);
    let policy = d.join("two-logs.json");
    std::fs::write(
        &policy,
        r#"{"version":"1","transparency":{"logs":2},"signers":{"allowed":[{"key_id":"*"}]}}"#,
    )
    .unwrap();
    let p = s(&policy);
    let out = ct_ok(&home, &["verify", s(&logged), "--policy", p]);
    assert!(out.contains("logged in a.test/log, b.test/log"), "{out}");
    ct_ok(&home, &["verify", s(&resubmitted), "--policy", p]);
    let explained = ct_ok(&home, &["explain", s(&logged), "--policy", p]);
    for origin in ["a.test/log", "b.test/log"] {
        let line = explained
            .lines()
            .find(|l| l.contains(origin) && l.contains("tree size"))
            .unwrap_or_else(|| panic!("no line for {origin} in {explained}"));
        assert!(line.contains("index ") && line.contains("(verified)"), "{line}");
    }
    let json = ct_ok(&home, &["explain", s(&logged), "--policy", p, "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["transparency"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(report["policy"]["rule"], "signers.threshold", "{json}");

    // Offline, for real: no network interface at all.
    let probe = Command::new("unshare").args(["-rn", "cat", "/proc/net/dev"]).output();
    match probe {
        Ok(o) if o.status.success() => {
            let dev = String::from_utf8_lossy(&o.stdout);
            let ifaces: Vec<&str> = dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(str::trim).collect();
            assert_eq!(ifaces, ["lo"], "{dev}");
            // Mapped to root in the namespace: --home says which state
            // directory (root's ct would use the system one).
            let o = Command::new("unshare")
                .args(["-rn"])
                .arg(ct_bin())
                .args(["--home", s(&home), "verify", s(&logged), "--policy", p])
                .env_remove("CERRO_HOME")
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "offline verify: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            // And a refusal offline is the same refusal.
            let one = d.join("one-offline.ctp");
            edit_proofs(&logged, &one, |p, data| (p.contains(&hex_of("a.test/log"))).then_some(data));
            let o = Command::new("unshare")
                .args(["-rn"])
                .arg(ct_bin())
                .args(["--home", s(&home), "verify", s(&one), "--policy", p])
                .env_remove("CERRO_HOME")
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
        }
        other => eprintln!(
            "SKIPPED the offline run: `unshare -rn` is not permitted here ({other:?}); the verification above ran without contacting any log (core has no network)"
        ),
    }

    // Refusals.
    // 1. Only one of the two required logs.
    let only_a = d.join("only-a.ctp");
    edit_proofs(&logged, &only_a, |p, data| {
        p.contains(&hex_of("a.test/log")).then_some(data)
    });
    ct_refused(&home, &["verify", s(&only_a), "--policy", p], 4, "transparency.logs");
    ct_refused(&home, &["verify", s(&only_a), "--policy", p], 4, "1 of 2 required");

    // 2. A proof from a log outside the trust store is not counted.
    let home_a = d.join("home-a");
    std::fs::create_dir_all(&home_a).unwrap();
    for f in ["trust.toml", "keys"] {
        run(Command::new("cp").arg("-r").arg(home.join(f)).arg(&home_a));
    }
    ct_ok(&home_a, &["log", "untrust", "b.test/log"]);
    ct_refused(&home_a, &["verify", s(&logged), "--policy", p], 4, "transparency.logs");
    let explained = ct_status(&home_a, &["explain", s(&logged), "--policy", p]).1;
    assert!(explained.contains("not trusted, not counted"), "{explained}");

    // 3. A checkpoint signed by another key than the trusted one: the
    // trust store holds another key under a's origin.
    let home_wrong = d.join("home-wrong");
    std::fs::create_dir_all(&home_wrong).unwrap();
    for f in ["trust.toml", "keys"] {
        run(Command::new("cp").arg("-r").arg(home.join(f)).arg(&home_wrong));
    }
    let impostor = run(Command::new(ct_bin())
        .args(["log", "keygen", "--name", "a.test/log", "-o"])
        .arg(d.join("impostor.key")));
    let impostor_vkey = String::from_utf8(impostor.stdout).unwrap().trim().to_owned();
    ct_ok(&home_wrong, &["log", "trust", &impostor_vkey]);
    ct_refused(&home_wrong, &["verify", s(&logged), "--policy", p], 6, "a.test/log");
    let (code, out) = ct_status(&home_wrong, &["verify", s(&logged), "--policy", p, "--json"]);
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("note_not_signed"), "{out}");

    // 4. An inclusion path that does not reach the root: one hash changed.
    let tampered = d.join("tampered.ctp");
    edit_proofs(&logged, &tampered, |_, data| {
        let text = String::from_utf8(data).unwrap();
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        let i = lines.iter().position(|l| l.starts_with("index ")).unwrap() + 1;
        assert_eq!(lines[i].len(), 44, "a hash line: {text}");
        let first = if lines[i].starts_with('A') { "B" } else { "A" };
        lines[i].replace_range(0..1, first);
        Some(lines.join("\n").into_bytes())
    });
    let (code, out) = ct_status(&home, &["verify", s(&tampered), "--policy", p, "--json"]);
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("tlog_proof_mismatch"), "{out}");

    // 5. The proof of another bundle's entry, from a trusted log.
    let swapped = d.join("swapped.ctp");
    let other_a = proofs_of(&other)
        .into_iter()
        .find(|(path, _)| path.contains(&hex_of("a.test/log")))
        .unwrap()
        .1;
    edit_proofs(&logged, &swapped, |path, data| {
        Some(if path.contains(&hex_of("a.test/log")) {
            other_a.clone()
        } else {
            data
        })
    });
    let (code, out) = ct_status(&home, &["verify", s(&swapped), "--policy", p, "--json"]);
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("tlog_proof_mismatch"), "{out}");
    ct_refused(&home, &["verify", s(&swapped), "--policy", p], 6, "inclusion proof");

    // Submitting to a log with the wrong key given refuses, and leaves the
    // bundle as it was.
    let before = std::fs::read(&plain).unwrap();
    ct_refused(
        &home,
        &[
            "log",
            "submit",
            s(&plain),
            "--log",
            &format!("{}={}", a.url, impostor_vkey),
        ],
        6,
        "a.test/log",
    );
    assert_eq!(std::fs::read(&plain).unwrap(), before);
}

/// The hex that names a log's proof member.
fn hex_of(origin: &str) -> String {
    cerro_core::digest::Digest::of(origin.as_bytes()).hex()
}
