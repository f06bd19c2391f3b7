//! The decision from C: `libcerro_enforce_c.so` and its header, as a
//! runtime not written in Rust links them.
//!
//! - The committed header is what Debian's cbindgen generates from
//!   `enforce-c/src` (an independent reading of the Rust declarations: a
//!   changed signature with a stale header fails here, not in a runtime).
//! - A C program (`integration/c/decide.c`), compiled with `-Wall -Werror`
//!   against the header and linked with the library, asks for the decision
//!   on the daemon configuration in its environment, as the shim and the
//!   hook take it: the attested image is allowed (unconfined on this
//!   kernel, which has no SELinux, so no label); the image nobody signed,
//!   a revoked signer, a malformed digest and a NULL component are refused
//!   with their documented exit codes and checks, and a reason that never
//!   carries a raw control character; each decision is in the audit log
//!   under the component the C caller named. The Rust example runtime
//!   (`enforce/examples/runtime.rs`) answers the same.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cerro_integration::{attested_and_plain_images, ct, require, run, target_dir};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The library `cargo build --workspace` (scripts/test) leaves in the
/// target directory.
fn library_dir() -> PathBuf {
    let dir = target_dir().join("debug");
    assert!(
        dir.join("libcerro_enforce_c.so").is_file(),
        "{} has no libcerro_enforce_c.so: build it with `cargo build --workspace` (scripts/test does)",
        dir.display()
    );
    dir
}

fn manifest_digest(layout: &Path) -> String {
    let index: serde_json::Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

/// `decide.c` built in `d` against the header and the library.
fn build_program(d: &Path) -> PathBuf {
    let lib = library_dir();
    let exe = d.join("decide");
    run(Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(repo().join("enforce-c/include"))
        .arg(repo().join("integration/c/decide.c"))
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lcerro_enforce_c")
        .arg("-o")
        .arg(&exe));
    exe
}

/// What the C program printed, by field.
#[derive(Debug)]
struct Said {
    code: Option<i32>,
    fields: Vec<(String, String)>,
    raw: String,
}

impl Said {
    fn get(&self, k: &str) -> &str {
        self.fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {k} in {}", self.raw))
    }
}

fn said(out: Output) -> Said {
    let raw = String::from_utf8(out.stdout).unwrap();
    let fields = raw
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    Said {
        code: out.status.code(),
        fields,
        raw: format!("{raw}{}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn decide(exe: &Path, d: &Path, args: &[&str]) -> Said {
    said(
        Command::new(exe)
            .args(args)
            .env_clear()
            .env("CERRO_HOME", d.join("home"))
            .env("CERRO_STORE", d.join("store"))
            .env("CERRO_AUDIT_LOG", d.join("audit.log"))
            .output()
            .unwrap(),
    )
}

#[test]
fn the_committed_header_is_cbindgens() {
    require("cbindgen");
    let out = Command::new("cbindgen")
        .current_dir(repo())
        .args(["--config", "enforce-c/cbindgen.toml", "enforce-c/src/lib.rs"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let committed = fs::read_to_string(repo().join("enforce-c/include/cerro_enforce.h")).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        committed,
        "enforce-c/include/cerro_enforce.h is stale: regenerate it with the command in its first lines"
    );
}

#[test]
fn a_c_program_gets_the_same_decision_as_the_shim_and_the_hook() {
    require("cc");
    require("umoci");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    let bundle = attested_and_plain_images(d, &home);
    run(ct(&home)
        .env("CERRO_STORE", d.join("store"))
        .args(["load", bundle.to_str().unwrap()]));
    let good = manifest_digest(&d.join("attested"));
    let plain = manifest_digest(&d.join("plain"));
    let exe = build_program(d);

    let ok = decide(&exe, d, &["c-runtime", "ctr-1", &good]);
    assert_eq!(ok.code, Some(0), "{}", ok.raw);
    assert_eq!(ok.get("allowed"), "1", "{}", ok.raw);
    assert_eq!(ok.get("exit"), "0", "{}", ok.raw);
    assert_eq!(ok.get("check"), "(none)", "{}", ok.raw);
    assert_eq!(ok.get("process_label"), "(none)", "unconfined here: {}", ok.raw);
    assert_eq!(ok.get("version"), env!("CARGO_PKG_VERSION"), "{}", ok.raw);

    // The bundle named explicitly must still attest the image.
    let named = decide(&exe, d, &["c-runtime", "ctr-2", &plain, bundle.to_str().unwrap()]);
    assert_eq!(named.get("allowed"), "0", "{}", named.raw);
    assert_ne!(named.code, Some(0), "{}", named.raw);

    let unsigned = decide(&exe, d, &["c-runtime", "ctr-3", &plain]);
    assert_eq!(unsigned.get("allowed"), "0", "{}", unsigned.raw);
    assert_eq!(unsigned.code, Some(5), "missing attestation: {}", unsigned.raw);
    assert_eq!(unsigned.get("check"), "missing_attestation", "{}", unsigned.raw);

    let malformed = decide(&exe, d, &["c-runtime", "-", "sha256:\u{1b}[2Jnot-a-digest"]);
    assert_eq!(malformed.get("allowed"), "0", "{}", malformed.raw);
    assert_ne!(malformed.code, Some(0), "{}", malformed.raw);
    assert!(
        !malformed.get("reason").contains('\u{1b}'),
        "a raw escape reached the reason: {}",
        malformed.raw
    );

    let empty = decide(&exe, d, &["", "-", &good]);
    assert_eq!(empty.code, Some(78), "{}", empty.raw);
    assert!(empty.get("reason").contains("component"), "{}", empty.raw);

    // The Rust example runtime (enforce/examples/runtime.rs, built by
    // `cargo test`) links cerro-enforce itself: the same answers.
    let example = target_dir().join("debug/examples/runtime");
    assert!(
        example.is_file(),
        "{} not built (cargo test builds examples)",
        example.display()
    );
    let rust = |image: &str| {
        Command::new(&example)
            .args(["ctr-5", image])
            .env_clear()
            .env("CERRO_HOME", d.join("home"))
            .env("CERRO_STORE", d.join("store"))
            .env("CERRO_AUDIT_LOG", d.join("audit.log"))
            .output()
            .unwrap()
    };
    let started = rust(&good);
    assert_eq!(started.status.code(), Some(0), "{started:?}");
    assert!(
        String::from_utf8_lossy(&started.stdout).starts_with("start ctr-5"),
        "{started:?}"
    );
    assert_eq!(rust(&plain).status.code(), Some(5));

    // Revocation takes effect at the next decision, as for the shim.
    run(ct(&home).args(["key", "revoke", "maintainer"]));
    let revoked = decide(&exe, d, &["c-runtime", "ctr-4", &good]);
    assert_eq!(revoked.get("allowed"), "0", "{}", revoked.raw);
    assert_eq!(revoked.code, Some(3), "signer not trusted: {}", revoked.raw);
    assert_eq!(revoked.get("check"), "signer_not_trusted", "{}", revoked.raw);

    // Every decision the library took is audited under the C caller's name.
    let audit: Vec<serde_json::Value> = fs::read_to_string(d.join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ours: Vec<_> = audit.iter().filter(|r| r["component"] == "c-runtime").collect();
    let containers: Vec<_> = ours
        .iter()
        .map(|r| (r["container"].clone(), r["allowed"].clone()))
        .collect();
    assert!(
        containers.contains(&(serde_json::json!("ctr-1"), serde_json::json!(true))),
        "{audit:#?}"
    );
    assert!(
        containers.contains(&(serde_json::json!("ctr-3"), serde_json::json!(false))),
        "{audit:#?}"
    );
    assert!(
        containers.contains(&(serde_json::json!("ctr-4"), serde_json::json!(false))),
        "{audit:#?}"
    );
}
