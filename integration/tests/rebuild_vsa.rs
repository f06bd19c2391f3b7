//! A rebuild attestation (`ct rebuild`, spec/attestations.md §4) judged by
//! the reference implementations: securesystemslib's DSSE verifies the
//! envelope with the rebuilder's exported key, in-toto-attestation
//! validates the Statement v1, and its SLSA verification summary v1
//! protobuf schema parses the predicate (unknown or mistyped fields
//! refused).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;

use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_integration::{ct, run, validate};

#[test]
fn the_rebuild_attestation_passes_the_reference_validators() {
    let d = tempfile::tempdir().unwrap();
    let s = |p: &str| d.path().join(p).display().to_string();
    let home = d.path().join("home");
    for name in ["image", "rebuilt"] {
        let mut b = LayoutBuilder::new(&d.path().join(name)).unwrap();
        b.layer_tar(&[("etc/motd", 0o644, b"rebuilt alike\n")]).unwrap();
        b.finish(basic_config(&["/bin/true"]), Some("1")).unwrap();
    }
    for k in ["release", "rebuilder"] {
        run(ct(&home).args(["keygen", "--id", k]));
    }
    run(ct(&home).args([
        "pack",
        &format!("oci:{}:1", s("image")),
        "-o",
        &s("b.ctp"),
        "--key",
        "release",
    ]));
    run(ct(&home).args([
        "rebuild",
        &s("b.ctp"),
        "--compare",
        &format!("oci:{}:1", s("rebuilt")),
        "--key",
        "rebuilder",
    ]));

    let pem = s("rebuilder.pem");
    run(ct(&home).args(["key", "export", "rebuilder", "-o", &pem]));
    let keys: serde_json::Value =
        serde_json::from_slice(&run(ct(&home).args(["key", "list", "--json"])).stdout).unwrap();
    let fp = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "rebuilder")
        .unwrap()["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = format!("rebuilds/{fp}.dsse.json");
    fs::create_dir_all(d.path().join("x")).unwrap();
    run(std::process::Command::new("tar").args(["-C", &s("x"), "-xf", &s("b.ctp"), &member]));
    let out = validate("dsse", &[&pem, &fp, &s(&format!("x/{member}"))]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("https://slsa.dev/verification_summary/v1 statement valid"),
        "{text}"
    );
}
