//! `cerro-runtime` against the real kernel's exec attribute: an OCI config
//! whose `process.selinuxLabel` the kernel refuses fails `create`, naming
//! the label, and the container's process never runs; the same bundle
//! without a label runs. This machine kind has no SELinux in its kernel,
//! so every label is refused (`EINVAL`), as a type missing from the
//! loaded policy is on a host with SELinux: what this shows is the
//! fail-closed path with the real `/proc/thread-self/attr/exec`, not a
//! successful domain transition (which needs an SELinux kernel).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use cerro_integration::{bin, busybox_image, is_root};

const LABEL: &str = "system_u:system_r:ct_hello_t:s0";

fn runtime(root: &Path, args: &[&str]) -> Output {
    Command::new(bin("cerro-runtime"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Sets the bundle's process (no terminal, `args`) and its SELinux label.
fn configure(bundle: &Path, args: &[&str], label: Option<&str>) {
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = args.to_vec().into();
    match label {
        Some(l) => spec["process"]["selinuxLabel"] = l.into(),
        None => {
            spec["process"].as_object_mut().unwrap().remove("selinuxLabel");
        }
    }
    fs::write(&path, spec.to_string()).unwrap();
}

#[test]
fn a_process_label_the_kernel_refuses_stops_the_container() {
    assert!(is_root(), "creating containers needs root");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    busybox_image(d, "img", "label", "");
    let bundle = d.join("img-rootfs"); // umoci's runtime bundle
    let root = d.join("state");
    let out = d.join("out");
    let stdout = format!("file://{}", out.display());
    let b = bundle.display().to_string();

    configure(&bundle, &["/bin/busybox", "echo", "must-not-run"], Some(LABEL));
    let refused = runtime(
        &root,
        &[
            "create",
            "--bundle",
            &b,
            "--stdin",
            "/dev/null",
            "--stdout",
            &stdout,
            "--stderr",
            "/dev/null",
            "labelled",
        ],
    );
    let _ = runtime(&root, &["delete", "--force", "labelled"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains(&format!(
            "cannot set the SELinux process label {LABEL} (/proc/thread-self/attr/exec)"
        )),
        "{}",
        text(&refused)
    );
    assert!(!fs::read_to_string(&out).unwrap_or_default().contains("must-not-run"));

    // The same bundle without a label runs (so the refusal was the label's).
    configure(&bundle, &["/bin/busybox", "echo", "ran-unlabelled"], None);
    let created = runtime(
        &root,
        &[
            "create",
            "--bundle",
            &b,
            "--stdin",
            "/dev/null",
            "--stdout",
            &stdout,
            "--stderr",
            "/dev/null",
            "plain",
        ],
    );
    assert!(created.status.success(), "{}", text(&created));
    let started = runtime(&root, &["start", "plain"]);
    assert!(started.status.success(), "{}", text(&started));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fs::read_to_string(&out).unwrap_or_default().contains("ran-unlabelled") {
        assert!(Instant::now() < deadline, "no output from the unlabelled container");
        std::thread::sleep(Duration::from_millis(50));
    }
    let deleted = runtime(&root, &["delete", "--force", "plain"]);
    assert!(deleted.status.success(), "{}", text(&deleted));
}
