//! Enforcement with a real containerd (Debian's 1.6) and the shim
//! `containerd-shim-cerro-v1` (runtime `io.cerro.v1`) running containers
//! with `cerro-runtime` (youki's libcontainer): `ctr run --runtime
//! io.cerro.v1` runs an attested image and prints its output, and refuses
//! an image with no bundle, a tampered store entry and a revoked signer,
//! naming the reason; an explicit bundle annotation cannot admit another
//! image, nor can an image name re-pointed after the container was made;
//! runtime options (`--runtime-config-path`) switch the mode; every
//! decision is a JSON line in the audit log, which says the containers run
//! unconfined (this machine kind has no SELinux).
//!
//! The test starts its own containerd (root, state, sockets under a temp
//! dir, CRI disabled) and cleans up after itself even when it fails: the
//! daemon, any shim it left, mounts under the temp dir, and the shim
//! sockets it created in containerd's global `/run/containerd/s/`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cerro_integration::{attested_and_plain_images, bin, ct, flip_in_last_member, is_root, require, run};

/// Where containerd 1.6 keeps shim sockets, whatever its root.
const SHIM_SOCKETS: &str = "/run/containerd/s";

fn shim_sockets() -> BTreeSet<OsString> {
    fs::read_dir(SHIM_SOCKETS)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

/// A private containerd.
struct Containerd {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    sockets_before: BTreeSet<OsString>,
}

impl Containerd {
    fn start(dir: &Path, env: &[(&str, &Path)]) -> Self {
        require("containerd");
        require("ctr");
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        let d = dir.display();
        fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{d}/containerd.sock\"\n\
                 [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n"
            ),
        )
        .unwrap();
        // containerd finds `containerd-shim-cerro-v1` on its PATH, as it
        // would in /usr/local/bin; the shim finds `cerro-runtime` beside itself.
        let shim = bin("containerd-shim-cerro-v1");
        bin("cerro-runtime");
        let path = format!(
            "{}:{}",
            shim.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let log = fs::File::create(dir.join("containerd.log")).unwrap();
        let sockets_before = shim_sockets();
        let mut cmd = Command::new("containerd");
        cmd.arg("--config")
            .arg(&config)
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start containerd");
        let c = Containerd {
            child,
            dir: dir.to_path_buf(),
            socket,
            sockets_before,
        };
        let t0 = Instant::now();
        loop {
            let ok = c
                .ctr()
                .arg("version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "containerd did not come up:\n{}",
                fs::read_to_string(dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address").arg(&self.socket);
        c
    }

    /// `ctr run --rm --runtime io.cerro.v1 IMAGE ID /bin/busybox echo WORD`,
    /// bounded in time so a hang fails the test instead of stalling it.
    fn run_image(&self, image: &str, id: &str, word: &str, extra: &[&str]) -> Output {
        let mut c = Command::new("timeout");
        c.arg("120")
            .arg("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(["run", "--rm", "--runtime", "io.cerro.v1", "--fifo-dir"])
            .arg(self.dir.join("fifo"))
            .args(extra)
            .args([image, id, "/bin/busybox", "echo", word])
            .stdin(Stdio::null());
        c.output().unwrap()
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Shims left behind by a failed run: ours name our socket.
        let ours = format!("-address\0{}", self.socket.display());
        if let Ok(procs) = fs::read_dir("/proc") {
            for p in procs.flatten() {
                let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let cmdline = fs::read(p.path().join("cmdline")).unwrap_or_default();
                let text = String::from_utf8_lossy(&cmdline);
                if text.contains("containerd-shim-cerro-v1") && text.contains(&ours) {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
        }
        // Mounts under our directory (a container's rootfs, snapshots).
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = self.dir.display().to_string();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        points.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in points {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        for s in shim_sockets().difference(&self.sockets_before) {
            let _ = fs::remove_file(Path::new(SHIM_SOCKETS).join(s));
        }
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
fn containerd_runs_only_attested_images() {
    assert!(is_root(), "containerd needs root");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let store = d.join("store");
    let audit = d.join("audit.log");
    let runtime_root = d.join("runtime");
    let ctd = Containerd::start(
        d,
        &[
            ("CERRO_HOME", &home),
            ("CERRO_STORE", &store),
            ("CERRO_AUDIT_LOG", &audit),
            ("CERRO_RUNTIME_ROOT", &runtime_root),
        ],
    );
    let s = |p: &Path| p.display().to_string();

    let bundle = attested_and_plain_images(d, &home);
    // ct load: verify, file in the store, `ctr images import`.
    let loaded = run(ct(&home).env("CERRO_STORE", &store).args([
        "load",
        &s(&bundle),
        "--into",
        "containerd",
        "--address",
        &s(&ctd.socket),
    ]));
    let out = text(&loaded);
    let image = out
        .lines()
        .find_map(|l| l.strip_prefix("unpacking "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no image name in: {out}"))
        .to_owned();

    // The unattested image goes into containerd directly, without a bundle.
    run(Command::new("tar").args(["-C", &s(&d.join("plain")), "-cf", &s(&d.join("plain.tar")), "."]));
    run(ctd
        .ctr()
        .args(["images", "import", "--base-name", "plain", &s(&d.join("plain.tar"))]));
    let plain = "plain:other";

    // Attested: runs and prints.
    let t0 = Instant::now();
    let ok = ctd.run_image(&image, "attested", "attested-hello", &[]);
    let took = t0.elapsed();
    assert!(ok.status.success(), "{}\n{}", text(&ok), ctd.log());
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("attested-hello"),
        "{}",
        text(&ok)
    );
    eprintln!("attested container ran in {took:?}");

    // No bundle: refused, and the message says why.
    let no = ctd.run_image(plain, "unattested", "must-not-run", &[]);
    assert!(!no.status.success());
    let out = text(&no);
    assert!(!out.contains("must-not-run"), "{out}");
    assert!(
        out.contains("missing_attestation") && out.contains("no bundle in the store"),
        "{out}"
    );

    // A tampered store entry: refused as a digest mismatch.
    let stored = fs::read_dir(store.join("sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "ctp"))
        .unwrap();
    let pristine = fs::read(&stored).unwrap();
    flip_in_last_member(&stored, &stored);
    let bad = ctd.run_image(&image, "tampered", "must-not-run", &[]);
    assert!(!bad.status.success());
    assert!(!text(&bad).contains("must-not-run"), "{}", text(&bad));
    assert!(text(&bad).contains("digest mismatch"), "{}", text(&bad));
    fs::write(&stored, pristine).unwrap();
    let again = ctd.run_image(&image, "restored", "again", &[]);
    assert!(again.status.success(), "{}", text(&again));

    // An explicit bundle (the io.cerro.bundle annotation) only chooses the
    // bundle: one that attests another image does not admit this one.
    let laundered = ctd.run_image(
        plain,
        "laundered",
        "must-not-run",
        &["--annotation", &format!("io.cerro.bundle={}", s(&bundle))],
    );
    assert!(!laundered.status.success());
    assert!(
        text(&laundered).contains("the bundle's image vs the container's image"),
        "{}",
        text(&laundered)
    );

    // A name re-pointed at the attested image after the container was made
    // from another: the container's root file system is not the attested
    // image's layers, so the image is unknown and the start refused.
    run(ctd.ctr().args(["images", "tag", plain, "repointed:1"]));
    run(ctd.ctr().args([
        "containers",
        "create",
        "--runtime",
        "io.cerro.v1",
        "repointed:1",
        "repointed",
        "/bin/busybox",
        "echo",
        "must-not-run",
    ]));
    run(ctd.ctr().args(["images", "tag", "--force", &image, "repointed:1"]));
    let repointed = ctd
        .ctr()
        .args(["tasks", "start", "--null-io", "repointed"])
        .output()
        .unwrap();
    assert!(!repointed.status.success());
    assert!(
        text(&repointed).contains("cannot tell which image the container runs")
            && text(&repointed).contains("is not made from image repointed:1"),
        "{}",
        text(&repointed)
    );
    run(ctd.ctr().args(["containers", "rm", "repointed"]));

    // Runtime options: a config file named by --runtime-config-path (what
    // CRI's ConfigPath passes) switches this task to audit mode.
    let options = d.join("cerro-audit.toml");
    fs::write(&options, "mode = \"audit\"\n").unwrap();
    let audited = ctd.run_image(plain, "audited", "audit-only", &["--runtime-config-path", &s(&options)]);
    assert!(audited.status.success(), "{}", text(&audited));
    assert!(String::from_utf8_lossy(&audited.stdout).contains("audit-only"));
    let bogus = d.join("bogus.toml");
    fs::write(&bogus, "mdoe = \"audit\"\n").unwrap();
    let misspelt = ctd.run_image(
        plain,
        "misspelt",
        "must-not-run",
        &["--runtime-config-path", &s(&bogus)],
    );
    assert!(!misspelt.status.success());
    assert!(text(&misspelt).contains("mdoe"), "{}", text(&misspelt));

    // Revoking the only signer takes effect at the next start.
    run(ct(&home).args(["key", "revoke", "maintainer"]));
    let revoked = ctd.run_image(&image, "revoked", "must-not-run", &[]);
    assert!(!revoked.status.success());
    assert!(!text(&revoked).contains("must-not-run"), "{}", text(&revoked));
    assert!(
        text(&revoked).contains("signer_not_trusted") && text(&revoked).contains("revoked"),
        "{}",
        text(&revoked)
    );

    // Every decision is one JSON line in the audit log.
    let log = fs::read_to_string(&audit).unwrap();
    let records: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seen: Vec<(&str, bool, bool)> = records
        .iter()
        .map(|r| {
            (
                r["container"].as_str().unwrap(),
                r["allowed"].as_bool().unwrap(),
                r["verified"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("attested", true, true),
            ("unattested", false, false),
            ("tampered", false, false),
            ("restored", true, true),
            ("laundered", false, false),
            ("repointed", false, false),
            ("audited", true, false),
            ("revoked", false, false),
        ],
        "{log}"
    );
    assert!(records.iter().all(|r| r["component"] == "shim"));
    assert_eq!(records[1]["check"], "missing_attestation");
    assert_eq!(records[2]["check"], "digest_mismatch");
    assert_eq!(records[4]["check"], "digest_mismatch");
    assert_eq!(records[5]["images"], serde_json::json!([]));
    assert_eq!(records[7]["check"], "signer_not_trusted");
    assert_eq!(records[0]["images"][0].as_str(), Some(stored_digest(&stored).as_str()));
    // This machine kind has no SELinux in its kernel: every container that
    // started ran unconfined and the record says so; a refused one claims
    // no confinement at all.
    for r in &records {
        if r["allowed"] == true {
            assert_eq!(
                r["confinement"],
                serde_json::json!({"kind": "unconfined", "reason": "SELinux is not enabled in this kernel"}),
                "{r}"
            );
        } else {
            assert!(r["confinement"].is_null(), "{r}");
        }
    }

    // Nothing of the refused containers was created by the runtime, and
    // the finished ones were deleted.
    let left: Vec<_> = fs::read_dir(&runtime_root)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "runtime state left: {left:?}");
}

/// `sha256:<hex>` of a store entry, from its file name.
fn stored_digest(path: &Path) -> String {
    format!("sha256:{}", path.file_stem().unwrap().to_string_lossy())
}
