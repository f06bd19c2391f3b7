//! Enforcement with a real podman (Debian's 4.3) and runc: `cerro-hook`
//! installed through a hooks.d file lets an attested image run and refuses
//! an unattested one, a revoked signer and a tampered store entry, with the
//! reason on stderr and every decision in the audit log (which says the
//! containers ran unconfined: this machine kind has no SELinux). A container
//! podman cannot name the image of (`--rootfs`) is refused whatever bundle
//! it names, and an image cannot choose its own bundle through a manifest
//! annotation (podman copies those into the container's).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use cerro_integration::{
    assert_unconfined_when_allowed, attested_and_plain_images, bin, busybox_image, ct, ct_status, flip_in_last_member,
    require, run, umoci,
};

/// A private podman: its own storage, run root, temporary state, network
/// configuration, containers.conf (the settings this machine kind needs,
/// and file locks: podman's default shared-memory locks are one
/// `/dev/shm` segment for every podman on the machine, whatever `--root`
/// says) and hooks directory, so it cannot disturb another podman.
struct Podman {
    /// Held for the test's life (dropped after `system reset`): two private
    /// podmans at once in one process made podman 4.3 lose a container's
    /// exit code now and then ("no such exit code"), failing a `run --rm`
    /// whose container had run.
    _one_at_a_time: MutexGuard<'static, ()>,
    root: PathBuf,
    runroot: PathBuf,
    tmp: PathBuf,
    networks: PathBuf,
    conf: PathBuf,
    hooks: PathBuf,
}

impl Podman {
    fn new(dir: &Path, hook_env: &[String]) -> Self {
        require("podman");
        require("runc");
        static PODMAN: Mutex<()> = Mutex::new(());
        let p = Podman {
            // A test that failed holding it poisons it; the next still runs.
            _one_at_a_time: PODMAN.lock().unwrap_or_else(|e| e.into_inner()),
            root: dir.join("storage"),
            runroot: dir.join("run"),
            tmp: dir.join("podman-tmp"),
            networks: dir.join("networks"),
            conf: dir.join("containers.conf"),
            hooks: dir.join("hooks.d"),
        };
        fs::write(
            &p.conf,
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
             lock_type = \"file\"\n",
        )
        .unwrap();
        for d in [&p.hooks, &p.tmp, &p.networks] {
            fs::create_dir_all(d).unwrap();
        }
        p.set_hook_env(hook_env);
        p
    }

    /// Writes the shipped hooks.d file, pointed at this build's binary and
    /// with `hook_env` as its environment (podman reads it at every run).
    fn set_hook_env(&self, hook_env: &[String]) {
        let mut hook: serde_json::Value = serde_json::from_str(include_str!("../../hooks/cerro-hook.json")).unwrap();
        hook["hook"]["path"] = bin("cerro-hook").display().to_string().into();
        hook["hook"]["env"] = hook_env.to_vec().into();
        fs::write(self.hooks.join("cerro-hook.json"), hook.to_string()).unwrap();
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .arg("--tmpdir")
            .arg(&self.tmp)
            .arg("--network-config-dir")
            .arg(&self.networks)
            .arg("--hooks-dir")
            .arg(&self.hooks);
        c
    }

    fn run_image(&self, image: &str, word: &str) -> Output {
        self.cmd()
            .args(["run", "--rm", "--net", "none", image, "echo", word])
            .output()
            .unwrap()
    }

    /// `podman run` with `io.cerro.bundle=bundle` on the container.
    fn run_annotated(&self, bundle: &Path, what: &[&str], word: &str) -> Output {
        self.cmd()
            .args(["run", "--rm", "--net", "none", "--annotation"])
            .arg(format!("io.cerro.bundle={}", bundle.display()))
            .args(what)
            .args(["echo", word])
            .output()
            .unwrap()
    }

    /// `ct load --into podman`: the bundle into the store, its image into this podman.
    fn load(&self, home: &Path, store: &Path, bundle: &Path) {
        let s = |p: &Path| p.display().to_string();
        let loaded = run(ct(home)
            .env("CERRO_STORE", store)
            .env("CONTAINERS_CONF", &self.conf)
            .args([
                "load",
                &s(bundle),
                "--into",
                "podman",
                "--podman-root",
                &s(&self.root),
                "--podman-runroot",
                &s(&self.runroot),
            ]));
        assert!(
            String::from_utf8_lossy(&loaded.stdout).contains("loaded"),
            "{}",
            text(&loaded)
        );
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Leave no containers, mounts or layers behind.
        let _ = self.cmd().args(["system", "reset", "--force"]).output();
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn podman_runs_only_attested_images() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let store = d.join("store");
    let audit = d.join("audit.log");
    let hook_env = vec![
        format!("CERRO_HOME={}", home.display()),
        format!("CERRO_STORE={}", store.display()),
        format!("CERRO_AUDIT_LOG={}", audit.display()),
    ];
    let podman = Podman::new(d, &hook_env);
    let s = |p: &Path| p.display().to_string();

    let bundle = attested_and_plain_images(d, &home);
    podman.load(&home, &store, &bundle);
    let (code, list) = ct_status(&home, &["load", "--list"]);
    assert_eq!(code, 0, "{list}");

    // The unattested image goes into podman directly, without a bundle.
    run(Command::new("tar").args(["-C", &s(&d.join("plain")), "-cf", &s(&d.join("plain.tar")), "."]));
    run(podman.cmd().args(["load", "-i", &s(&d.join("plain.tar"))]));

    // Attested: runs and prints.
    let ok = podman.run_image("localhost/good:latest", "attested-hello");
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("attested-hello"));

    // No bundle: refused, and the message says why.
    let no = podman.run_image("localhost/other:latest", "must-not-run");
    assert!(!no.status.success());
    let out = text(&no);
    assert!(!out.contains("must-not-run") || out.contains("refused"), "{out}");
    assert!(out.contains("no bundle in the store"), "{out}");

    // A tampered store entry: refused as a digest mismatch.
    let stored = fs::read_dir(store.join("sha256"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let pristine = fs::read(&stored).unwrap();
    flip_in_last_member(&stored, &stored);
    let bad = podman.run_image("localhost/good:latest", "must-not-run");
    assert!(!bad.status.success());
    assert!(text(&bad).contains("digest mismatch"), "{}", text(&bad));
    fs::write(&stored, pristine).unwrap();
    assert!(podman.run_image("localhost/good:latest", "again").status.success());

    // Revoking the only signer takes effect at the next start.
    run(ct(&home).args(["key", "revoke", "maintainer"]));
    let revoked = podman.run_image("localhost/good:latest", "must-not-run");
    assert!(!revoked.status.success());
    assert!(text(&revoked).contains("revoked"), "{}", text(&revoked));

    // Every decision is one JSON line in the audit log.
    let log = fs::read_to_string(&audit).unwrap();
    let records: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let allowed: Vec<bool> = records.iter().map(|r| r["allowed"].as_bool().unwrap()).collect();
    assert_eq!(allowed, [true, false, false, true, false], "{log}");
    assert!(records
        .iter()
        .all(|r| r["component"] == "hook" && r["container"].is_string()));
    assert_eq!(records[2]["check"], "digest_mismatch");
    assert_eq!(records[4]["check"], "signer_not_trusted");
    // No SELinux in this machine kind's kernel: the started containers ran
    // unconfined (podman set no labels, so the hook had none to check).
    assert_unconfined_when_allowed(&records);
}

fn refused(o: &Output, why: &str) {
    assert!(!o.status.success(), "{}", text(o));
    let out = text(o);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("must-not-run"), "{out}");
    assert!(
        out.contains("cerro-hook: refused") && out.contains(why),
        "wanted {why:?}: {out}"
    );
}

/// F4: an explicit bundle never admits a container on its own. A `--rootfs`
/// container (podman's storage names no image: `"image": ""`) is refused
/// with any `io.cerro.bundle`, and an image whose manifest annotation names
/// the attested bundle (podman copies it into the container's annotations)
/// is not admitted by it: by default the annotation is ignored; with
/// `CERRO_ALLOW_BUNDLE_ANNOTATION=1` in the hooks.d env it only chooses a
/// stored bundle, which must attest the image podman names, be inside the
/// store and be a regular file (a FIFO does not hang the start).
#[test]
fn podman_never_admits_on_a_bundle_annotation_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let store = d.join("store");
    let audit = d.join("audit.log");
    let mut hook_env = vec![
        format!("CERRO_HOME={}", home.display()),
        format!("CERRO_STORE={}", store.display()),
        format!("CERRO_AUDIT_LOG={}", audit.display()),
    ];
    let podman = Podman::new(d, &hook_env);
    let s = |p: &Path| p.display().to_string();
    let bundle = attested_and_plain_images(d, &home);
    podman.load(&home, &store, &bundle);
    let stored = fs::read_dir(store.join("sha256"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    // An image whose publisher names the attested bundle in its manifest.
    busybox_image(d, "annotated", "annotated", "annotated by its publisher");
    run(&mut umoci(&[
        "config",
        "--image",
        &format!("{}:annotated", s(&d.join("annotated"))),
        "--manifest.annotation",
        &format!("io.cerro.bundle={}", s(&stored)),
    ]));
    run(Command::new("tar").args(["-C", &s(&d.join("annotated")), "-cf", &s(&d.join("annotated.tar")), "."]));
    run(podman.cmd().args(["load", "-i", &s(&d.join("annotated.tar"))]));
    // The premise: podman copies the image's annotation into the container's.
    run(podman
        .cmd()
        .args(["create", "--name", "probe", "localhost/annotated:latest"]));
    let copied = run(podman.cmd().args([
        "inspect",
        "--format",
        "{{ index .Config.Annotations \"io.cerro.bundle\" }}",
        "probe",
    ]));
    assert_eq!(String::from_utf8_lossy(&copied.stdout).trim(), s(&stored));
    run(podman.cmd().args(["rm", "probe"]));

    // A root file system with no image: the attested image's own files.
    let rootfs = d.join("attested-rootfs/rootfs");
    let rootfs_args = ["--rootfs", &s(&rootfs), "/bin/busybox"];

    // By default the annotation is ignored.
    let o = podman.run_image("localhost/annotated:latest", "must-not-run");
    refused(&o, "no bundle in the store");
    let o = podman.run_annotated(&stored, &rootfs_args, "must-not-run");
    refused(&o, "cannot tell which image the container runs");

    // Allowed by the hooks.d file: it chooses a stored bundle, nothing more.
    hook_env.push("CERRO_ALLOW_BUNDLE_ANNOTATION=1".into());
    podman.set_hook_env(&hook_env);
    let o = podman.run_image("localhost/annotated:latest", "must-not-run");
    refused(&o, "digest mismatch");
    let o = podman.run_annotated(&stored, &rootfs_args, "must-not-run");
    refused(&o, "attests an image the runtime did not name");
    let ok = podman.run_annotated(&stored, &["localhost/good:latest"], "attested-hello");
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("attested-hello"));
    // Outside the store (the same bundle, before `ct load` copied it).
    let o = podman.run_annotated(&bundle, &["localhost/good:latest"], "must-not-run");
    refused(&o, "not a bundle inside the bundle store");
    let fifo = store.join("sha256/fifo.ctp");
    run(Command::new("mkfifo").arg(&fifo));
    let o = podman.run_annotated(&fifo, &["localhost/good:latest"], "must-not-run");
    refused(&o, "this is a FIFO");

    let log = fs::read_to_string(&audit).unwrap();
    let records: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let allowed: Vec<bool> = records.iter().map(|r| r["allowed"].as_bool().unwrap()).collect();
    // The path outside the store is refused before a decision: no record.
    assert_eq!(allowed, [false, false, false, false, true, false], "{log}");
    let checks: Vec<&str> = records.iter().map(|r| r["check"].as_str().unwrap_or("")).collect();
    assert_eq!(
        checks,
        [
            "missing_attestation",
            "missing_attestation",
            "digest_mismatch",
            "missing_attestation",
            "",
            "config"
        ],
        "{log}"
    );
    // The rootfs containers were decided with no image.
    assert_eq!(records[1]["images"], serde_json::json!([]));
    assert_eq!(records[3]["images"], serde_json::json!([]));
    assert!(records[3]["bundle"].is_null(), "{}", records[3]);
    assert_unconfined_when_allowed(&records);
}
