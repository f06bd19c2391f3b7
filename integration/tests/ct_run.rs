//! `ct run BUNDLE [--runtime podman|containerd] [-- CMD…]` with real
//! runtimes: a private podman whose hooks.d holds `cerro-hook` (Debian's
//! podman 4.3 and runc), and a private containerd with the `io.cerro.v1`
//! shim, Debian's 1.6 and sid's 2.1 (skipped, saying so, when it cannot be
//! had). The attested busybox image runs: its output is ct's stdout, ct
//! exits with the container's exit code, the runtime's own gate decided
//! (the audit log has the hook's or the shim's record). A bundle that does
//! not verify (a flipped bit, a signer the trust store does not know) runs
//! nothing: ct exits with the table's code and no container, no image and
//! no audit record exist afterwards.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use cerro_integration::containerd::{text, Containerd, Flavour};
use cerro_integration::{attested_and_plain_images, bin, ct, flip_in_last_member, is_root, require, run};

/// One private podman or containerd at a time in this file.
static SERIAL: Mutex<()> = Mutex::new(());

/// The bundles of a scene: attested, tampered (one bit), and one signed by
/// a key this trust store does not know.
struct Bundles {
    good: PathBuf,
    tampered: PathBuf,
    stranger: PathBuf,
}

fn bundles(d: &Path) -> Bundles {
    let home = d.join("home");
    let good = attested_and_plain_images(d, &home);
    let tampered = d.join("tampered.ctp");
    flip_in_last_member(&good, &tampered);
    let other = d.join("other-home");
    run(ct(&other).args(["keygen", "--id", "stranger"]));
    let stranger = d.join("stranger.ctp");
    run(ct(&other).args([
        "pack",
        &format!("oci:{}:good", d.join("attested").display()),
        "-o",
        stranger.to_str().unwrap(),
        "--key",
        "stranger",
    ]));
    Bundles {
        good,
        tampered,
        stranger,
    }
}

fn audit(d: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(d.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A private podman (storage, run root, containers.conf with its own
/// hooks.d holding `cerro-hook`, temporary directory, network
/// configuration, no network, file locks), reset when dropped.
struct Podman {
    root: PathBuf,
    runroot: PathBuf,
    conf: PathBuf,
}

impl Podman {
    fn new(d: &Path) -> Self {
        require("podman");
        require("runc");
        let hooks = d.join("hooks.d");
        for sub in [&hooks, &d.join("podman-tmp"), &d.join("networks")] {
            fs::create_dir_all(sub).unwrap();
        }
        let mut hook: serde_json::Value = serde_json::from_str(include_str!("../../hooks/cerro-hook.json")).unwrap();
        hook["hook"]["path"] = bin("cerro-hook").display().to_string().into();
        hook["hook"]["env"] = serde_json::json!([
            format!("CERRO_HOME={}", d.join("home").display()),
            format!("CERRO_STORE={}", d.join("store").display()),
            format!("CERRO_AUDIT_LOG={}", d.join("audit.log").display()),
        ]);
        fs::write(hooks.join("cerro-hook.json"), hook.to_string()).unwrap();
        let conf = d.join("containers.conf");
        fs::write(
            &conf,
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\nnetns = \"none\"\n\
                 [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 lock_type = \"file\"\nhooks_dir = [\"{}\"]\ntmp_dir = \"{}\"\n\
                 [network]\nnetwork_config_dir = \"{}\"\n",
                hooks.display(),
                d.join("podman-tmp").display(),
                d.join("networks").display()
            ),
        )
        .unwrap();
        Podman {
            root: d.join("storage"),
            runroot: d.join("run"),
            conf,
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot);
        c
    }

    /// `ct run BUNDLE --runtime podman … -- CMD…` as the test's `ct`.
    fn ct_run(&self, d: &Path, bundle: &Path, cmd: &[&str]) -> Output {
        ct(&d.join("home"))
            .env("CERRO_STORE", d.join("store"))
            .env("CONTAINERS_CONF", &self.conf)
            .arg("run")
            .arg(bundle)
            .args(["--runtime", "podman", "--podman-root"])
            .arg(&self.root)
            .arg("--podman-runroot")
            .arg(&self.runroot)
            .arg("--")
            .args(cmd)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn listing(&self, what: &[&str]) -> String {
        String::from_utf8_lossy(&run(self.cmd().args(what)).stdout)
            .trim()
            .to_owned()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd().args(["system", "reset", "--force"]).output();
    }
}

#[test]
fn ct_run_podman_runs_only_verified_bundles() {
    assert!(is_root(), "podman with a private root and the hook needs root here");
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = bundles(d);
    let podman = Podman::new(d);

    // Refused first, on an empty podman: nothing is imported or created.
    for (bundle, code, why) in [(&b.tampered, 1, "digest mismatch"), (&b.stranger, 3, "stranger")] {
        let out = podman.ct_run(d, bundle, &["echo", "must-not-run"]);
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        let t = text(&out);
        assert!(!t.contains("must-not-run") || t.contains("refused"), "{t}");
        assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty(), "{t}");
        assert!(t.contains("nothing was run") && t.contains(why), "{t}");
        assert_eq!(podman.listing(&["ps", "-a", "-q"]), "", "a container was created");
        assert_eq!(podman.listing(&["images", "-q"]), "", "an image was imported");
    }
    assert!(audit(d).is_empty(), "{:?}", audit(d));
    assert!(!d.join("store/sha256").exists() || fs::read_dir(d.join("store/sha256")).unwrap().next().is_none());

    // Verified: runs through podman and the hook; stdout is the container's.
    let ok = podman.ct_run(d, &b.good, &["echo", "hello-from-ct-run"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "hello-from-ct-run\n",
        "{}",
        text(&ok)
    );
    assert!(
        String::from_utf8_lossy(&ok.stderr).contains("loaded attested"),
        "{}",
        text(&ok)
    );
    // The image's own command (entrypoint busybox, cmd `echo hello`).
    let default = podman.ct_run(d, &b.good, &[]);
    assert_eq!(
        String::from_utf8_lossy(&default.stdout),
        "hello\n",
        "{}",
        text(&default)
    );
    // The container's exit code is ct's.
    let seven = podman.ct_run(d, &b.good, &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(seven.status.code(), Some(7), "{}", text(&seven));
    assert_eq!(String::from_utf8_lossy(&seven.stdout), "out\n");
    assert!(String::from_utf8_lossy(&seven.stderr).contains("err"));
    // --rm: nothing left.
    assert_eq!(podman.listing(&["ps", "-a", "-q"]), "");

    // The hook decided each start (the gate at start, not ct's check).
    let records = audit(d);
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(records.iter().all(|r| r["component"] == "hook" && r["allowed"] == true));

    // Revoked after filing: ct's verification refuses before podman runs.
    run(ct(&d.join("home")).args(["key", "revoke", "maintainer"]));
    let revoked = podman.ct_run(d, &b.good, &["echo", "must-not-run"]);
    assert_eq!(revoked.status.code(), Some(3), "{}", text(&revoked));
    assert!(text(&revoked).contains("revoked"), "{}", text(&revoked));
    assert_eq!(audit(d).len(), 3);
}

fn ct_run_containerd(flavour: &Flavour) {
    assert!(is_root(), "containerd needs root");
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    eprintln!("on {}", flavour.name());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = bundles(d);
    let (home, store, audit_log, runtime) = (d.join("home"), d.join("store"), d.join("audit.log"), d.join("runtime"));
    let ctd = Containerd::start_with(
        d,
        &[
            ("CERRO_HOME", &home),
            ("CERRO_STORE", &store),
            ("CERRO_AUDIT_LOG", &audit_log),
            ("CERRO_RUNTIME_ROOT", &runtime),
        ],
        flavour,
        "",
    );
    let ct_run = |bundle: &Path, cmd: &[&str]| {
        ct(&home)
            .env("CERRO_STORE", &store)
            .env("PATH", flavour.path_env())
            .arg("run")
            .arg(bundle)
            .args(["--runtime", "containerd", "--address"])
            .arg(&ctd.socket)
            .arg("--")
            .args(cmd)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let listing = |what: &str| text(&run(ctd.ctr().args([what, "ls", "-q"]))).trim().to_owned();

    for (bundle, code) in [(&b.tampered, 1), (&b.stranger, 3)] {
        let out = ct_run(bundle, &["/bin/busybox", "echo", "must-not-run"]);
        assert_eq!(out.status.code(), Some(code), "{}", text(&out));
        assert!(text(&out).contains("nothing was run"), "{}", text(&out));
        assert_eq!(listing("containers"), "", "a container was created");
        assert_eq!(listing("images"), "", "an image was imported");
    }
    assert!(audit(d).is_empty());

    let ok = ct_run(&b.good, &["/bin/busybox", "echo", "hello-from-ct-run"]);
    assert_eq!(ok.status.code(), Some(0), "{}\n{}", text(&ok), ctd.log());
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout),
        "hello-from-ct-run\n",
        "{}",
        text(&ok)
    );
    let seven = ct_run(&b.good, &["/bin/busybox", "sh", "-c", "echo out; exit 7"]);
    assert_eq!(seven.status.code(), Some(7), "{}", text(&seven));
    assert_eq!(String::from_utf8_lossy(&seven.stdout), "out\n");
    assert_eq!(listing("containers"), "", "--rm left a container");
    // The shim decided each start.
    let records = audit(d);
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r["component"] == "shim" && r["allowed"] == true));
}

#[test]
fn ct_run_containerd_runs_only_verified_bundles() {
    ct_run_containerd(&Flavour::System);
}

/// The same on Debian sid's containerd 2.x.
#[test]
fn ct_run_containerd2_runs_only_verified_bundles() {
    if let Some(sid) = Flavour::sid() {
        ct_run_containerd(&sid);
    }
}

/// The quick start: `ct pack REF` with a bare registry reference (as
/// podman reads it: `docker://REF`), `ct verify`, `ct run`.
#[test]
fn ct_run_quick_start_from_a_bare_registry_reference() {
    assert!(is_root(), "podman with a private root and the hook needs root here");
    require("skopeo");
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    attested_and_plain_images(d, &home);
    let reg = cerro_integration::registry::TestRegistry::start();
    let reference = format!("{}/apps/attested:good", reg.host());
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:good", d.join("attested").display()),
        &format!("docker://{reference}"),
    ]));
    let bundle = d.join("x.ctp");
    run(ct(&home).args([
        "pack",
        &reference,
        "-o",
        bundle.to_str().unwrap(),
        "--key",
        "maintainer",
    ]));
    let st = cerro_integration::statement_in(&bundle, "attestations/provenance.dsse.json");
    assert_eq!(
        st["predicate"]["buildDefinition"]["resolvedDependencies"][0]["uri"],
        format!("docker://{reference}").as_str()
    );
    run(ct(&home).args(["verify", bundle.to_str().unwrap()]));
    let podman = Podman::new(d);
    let out = podman.ct_run(d, &bundle, &["echo", "quick-start"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "quick-start\n");
    // A short name is not searched for in registries nobody named.
    let short = ct(&home)
        .args([
            "pack",
            "attested:good",
            "-o",
            d.join("y.ctp").to_str().unwrap(),
            "--key",
            "maintainer",
        ])
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(10), "{}", text(&short));
    assert!(
        text(&short).contains("expected a fully qualified registry reference"),
        "{}",
        text(&short)
    );
    assert!(!d.join("y.ctp").exists());
}

/// The quick start with a multi-arch tag (#15), as most public images are
/// (nginx's, busybox's): `ct pack HOST/REPO:TAG` of an OCI image index
/// packs every platform (the bundle's image is the index the tag names),
/// `ct verify` passes, and `ct run` runs this host's platform.
#[test]
fn ct_run_quick_start_from_a_multi_arch_tag() {
    assert!(is_root(), "podman with a private root and the hook needs root here");
    require("skopeo");
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let (index, _) = cerro_integration::multi_platform_image(d, "img", "");
    let reg = cerro_integration::registry::TestRegistry::start();
    let reference = format!("{}/apps/multi:1", reg.host());
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", d.join("img").display()),
        &format!("docker://{reference}"),
    ]));
    run(ct(&home).args(["keygen", "--id", "maintainer"]));
    let bundle = d.join("x.ctp");
    let out = run(ct(&home).args([
        "pack",
        &reference,
        "-o",
        bundle.to_str().unwrap(),
        "--key",
        "maintainer",
    ]));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("image index {index}, 2 platform(s)")), "{said}");
    run(ct(&home).args(["verify", bundle.to_str().unwrap()]));
    let podman = Podman::new(d);
    let out = podman.ct_run(d, &bundle, &["echo", "multi-arch"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "multi-arch\n");
}
