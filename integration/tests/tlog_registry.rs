//! Transparency proofs through a registry: a bundle carrying a log's proof
//! is pushed to Debian's docker-registry (`ct push`) and fetched back (`ct
//! fetch`) byte for byte, the proof included (an artifact layer of its
//! own, `application/vnd.cerro-torre.tlog-proof`); the fetched bundle's
//! proof is verified (`ct explain` lists it verified; a host trusting the
//! log's origin under another key refuses the fetch, exit 6), and a host
//! that does not trust the log fetches it with the proof reported, not
//! counted.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use cerro_integration::registry::TestRegistry;
use cerro_integration::tlog::{note_layout, start_log};
use cerro_integration::{ct, ct_ok, ct_status, run};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn proofs_survive_push_and_fetch_and_are_verified_after_it() {
    let reg = TestRegistry::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k1"]));
    let log = start_log(d, "reg.test/log", "a", &[]);
    let vkey = log.vkey.clone();
    let bundle = d.join("logged.ctp");
    ct_ok(
        &home,
        &[
            "pack",
            &note_layout(d, b"pushed\n", "v1"),
            "-o",
            s(&bundle),
            "--key",
            "k1",
            "--no-sbom",
            "--log",
            &log.endpoint(),
        ],
    );
    drop(log);
    ct_ok(&home, &["log", "trust", &vkey]);
    let reference = format!("{}/cerro/logged:1", reg.host());
    ct_ok(&home, &["push", s(&bundle), &reference]);

    let fetched = d.join("fetched.ctp");
    let out = ct_ok(&home, &["fetch", &reference, "-o", s(&fetched)]);
    assert!(!out.is_empty());
    assert_eq!(std::fs::read(&fetched).unwrap(), std::fs::read(&bundle).unwrap());
    let explained = ct_ok(&home, &["explain", s(&fetched), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&explained).unwrap();
    assert_eq!(report["transparency"][0]["origin"], "reg.test/log", "{explained}");
    assert_eq!(report["transparency"][0]["status"], "verified", "{explained}");

    // The proof as the registry holds it: an artifact layer of its own
    // media type, titled with its member path.
    let (status, _, body) = reg.get("/v2/cerro/logged/tags/list", "application/json").unwrap();
    assert_eq!(status, 200);
    let tags: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let fallback = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        // The referrers fallback tag, not the cosign `.att` tag beside it.
        .find_map(|t| t.as_str().filter(|t| t.starts_with("sha256-") && !t.contains('.')))
        .unwrap()
        .to_owned();
    let (_, _, index) = reg
        .get(
            &format!("/v2/cerro/logged/manifests/{fallback}"),
            "application/vnd.oci.image.index.v1+json",
        )
        .unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let artifact = index["manifests"][0]["digest"].as_str().unwrap();
    let (_, _, manifest) = reg
        .get(
            &format!("/v2/cerro/logged/manifests/{artifact}"),
            "application/vnd.oci.image.manifest.v1+json",
        )
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let proof_layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.cerro-torre.tlog-proof")
        .unwrap_or_else(|| panic!("no proof layer in {manifest}"));
    let title = proof_layer["annotations"]["org.opencontainers.image.title"]
        .as_str()
        .unwrap();
    assert!(
        title.starts_with("transparency/") && title.ends_with(".tlog-proof"),
        "{title}"
    );

    // The fetched bundle's proof is verified before the file is kept: a
    // host trusting that origin under another key refuses it (exit 6) and
    // keeps nothing.
    let other = run(ct(&home).args(["log", "keygen", "--name", "reg.test/log", "-o", s(&d.join("other.key"))]));
    let other = String::from_utf8(other.stdout).unwrap().trim().to_owned();
    ct_ok(&home, &["log", "trust", &other]);
    let refused = d.join("refused.ctp");
    let (code, out) = ct_status(&home, &["fetch", &reference, "-o", s(&refused)]);
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("not signed by a trusted key"), "{out}");
    assert!(!refused.exists());

    // A host that does not trust the log still fetches the bundle: the
    // proof is reported, not counted.
    ct_ok(&home, &["log", "untrust", "reg.test/log"]);
    let untrusted = d.join("untrusted.ctp");
    ct_ok(&home, &["fetch", &reference, "-o", s(&untrusted)]);
    let explained = ct_ok(&home, &["explain", s(&untrusted), "--json"]);
    assert!(explained.contains("untrusted_log"), "{explained}");
}
