//! Trusted time decides key expiry (spec/trust-store.md §7), end to end
//! with real servers on 127.0.0.1: a log (`ct log serve --witness …`)
//! asks two witnesses (`ct witness serve`) to cosign its checkpoints, and
//! `ct verify` judges the signer's `valid_until` at the time the two
//! witnesses vouch the release existed, not at now:
//!
//! - the key expired after both cosigned: the release verifies under a
//!   policy requiring two witnesses, and `ct explain` says why;
//! - refused (3) when nothing gives trusted time: no proofs, no policy, a
//!   policy that requires no witness, or more witnesses than cosigned;
//! - refused (3) when the key expired before the witnesses cosigned;
//! - a key not yet valid, or revoked locally, stays refused (3);
//! - through a registry (Debian's docker-registry): `ct fetch`'s precheck,
//!   which has no proofs yet, lets the expired key through and the full
//!   verification decides: fetched under the witness policy, refused (3)
//!   without it, nothing kept.
//!
//! The witnesses cosign at the real time; the test reads their timestamps
//! from `ct explain --json` and sets the key's window from them (waiting,
//! at most about a second, for the clock to pass the last cosignature so
//! that the key is expired at the time of verification).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cerro_integration::registry::TestRegistry;
use cerro_integration::tlog::{make_log, make_witness, note_layout, serve_log, serve_witness};
use cerro_integration::{ct, ct_ok, ct_refused, run};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
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

/// Sets k1's validity window (each bound an `ct key trust` value).
fn window(home: &Path, from: &str, until: &str) {
    ct_ok(
        home,
        &[
            "key",
            "trust",
            "k1",
            "ultimate",
            "--valid-from",
            from,
            "--valid-until",
            until,
        ],
    );
}

#[test]
fn a_key_that_expired_after_the_witnesses_saw_the_release_still_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k1"]));
    let log_vkey = make_log(d, "t.test/log", "t");
    let w1v = make_witness(d, "w1.test", "w1");
    let w2v = make_witness(d, "w2.test", "w2");
    let w1 = serve_witness(d, &w1v, "w1", &[&log_vkey]);
    let w2 = serve_witness(d, &w2v, "w2", &[&log_vkey]);
    let log = serve_log(d, &log_vkey, "t", &[w1.endpoint(), w2.endpoint()]);

    let logged = d.join("logged.ctp");
    let img = note_layout(d, b"one\n", "v1");
    ct_ok(
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
            &log.endpoint(),
        ],
    );
    let unlogged = d.join("unlogged.ctp");
    ct_ok(&home, &["pack", &img, "-o", s(&unlogged), "--key", "k1", "--no-sbom"]);
    ct_ok(&home, &["log", "trust", &log_vkey]);
    ct_ok(&home, &["witness", "trust", &w1v]);
    ct_ok(&home, &["witness", "trust", &w2v]);
    let reg = TestRegistry::start();
    let reference = format!("{}/cerro/expiring:1", reg.host());
    ct_ok(&home, &["push", s(&logged), &reference]);
    let (none, two, three) = (
        policy(d, "none.json", 0),
        policy(d, "two.json", 2),
        policy(d, "three.json", 3),
    );

    // When the two witnesses cosigned (their own clocks, as verified).
    let json = ct_ok(&home, &["explain", s(&logged), "--policy", s(&two), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut times: Vec<u64> = report["transparency"][0]["witnesses"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"))
        .iter()
        .map(|w| w["timestamp"].as_u64().unwrap())
        .collect();
    times.sort_unstable();
    let [_, last] = times[..] else {
        panic!("two cosignatures expected: {json}")
    };
    // The key must be expired now, so now must be past the last
    // cosignature (unix seconds): wait for the clock to tick.
    for _ in 0..100 {
        if now() > last {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(now() > last, "the clock did not pass {last}");

    // Expired at the last cosignature: witnessed by both before it ended.
    window(&home, "none", &last.to_string());
    ct_ok(&home, &["verify", s(&logged), "--policy", s(&two)]);
    let explained = ct_ok(&home, &["explain", s(&logged), "--policy", s(&two)]);
    assert!(explained.contains("after the release was witnessed at"), "{explained}");
    let json = ct_ok(&home, &["explain", s(&logged), "--policy", s(&two), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        report["signers"][0]["time"]["kind"], "expired_after_witnessed",
        "{json}"
    );
    assert_eq!(report["signers"][0]["time"]["witnessed"], last, "{json}");

    // Through the registry: the precheck defers expiry, the full
    // verification (with the fetched proofs) decides.
    let fetched = d.join("fetched.ctp");
    ct_ok(&home, &["fetch", &reference, "-o", s(&fetched), "--policy", s(&two)]);
    assert_eq!(std::fs::read(&fetched).unwrap(), std::fs::read(&logged).unwrap());
    let refused = d.join("refused.ctp");
    ct_refused(
        &home,
        &["fetch", &reference, "-o", s(&refused), "--policy", s(&none)],
        3,
        "k1: expired",
    );
    assert!(!refused.exists());

    // Nothing gives trusted time: judged at now, expired.
    for (bundle, policy) in [
        (&unlogged, Some(&two)),
        (&logged, None),
        (&logged, Some(&none)),
        (&logged, Some(&three)),
    ] {
        let mut args = vec!["verify", s(bundle)];
        if let Some(p) = policy {
            args.extend(["--policy", s(p)]);
        }
        ct_refused(&home, &args, 3, "k1: expired");
    }

    // Expired before the second witness cosigned: two witnesses do not
    // vouch that it existed while the key was valid.
    window(&home, "none", &(last - 1).to_string());
    ct_refused(&home, &["verify", s(&logged), "--policy", s(&two)], 3, "k1: expired");

    // Not yet valid: judged at now whatever the witnesses saw.
    window(&home, &(now() + 3600).to_string(), "none");
    ct_refused(
        &home,
        &["verify", s(&logged), "--policy", s(&two)],
        3,
        "k1: not yet valid",
    );

    // Revoked locally: refused always, even in the window trusted time
    // would have saved.
    window(&home, "none", &last.to_string());
    ct_ok(&home, &["verify", s(&logged), "--policy", s(&two)]);
    ct_ok(&home, &["key", "revoke", "k1"]);
    ct_refused(&home, &["verify", s(&logged), "--policy", s(&two)], 3, "k1: revoked");
}
