//! Kubernetes through containerd's CRI, for real: Debian's containerd
//! 1.6.20 with its CRI plugin and a runtime handler `cerro` (`runtime_type =
//! "io.cerro.v1"`, what a RuntimeClass `handler: cerro` selects), driven
//! over CRI's `runtime.v1` gRPC API the way kubelet drives it (PyPI
//! `container-runtime-interface-api`, `integration/cri/cri.py`), pods on the
//! host's network and on a CNI bridge. One shim process serves a pod
//! (grouped by CRI's sandbox id, as runc's v2 shim), counted against
//! `io.containerd.runc.v2`. Without `restrict_oom_score_adj` a sandbox
//! fails under cerro-runtime as under runc (this machine's root lacks
//! CAP_SYS_RESOURCE), cerro-runtime saying why and what to set.
//!
//! The pause image is built by the test (Debian's static `catatonit` as
//! `/pause`, entrypoint `/pause -P`, no `PATH`), attested like any image and
//! named as CRI's `sandbox_image`. An attested pod runs: RunPodSandbox →
//! CreateContainer → StartContainer → ExecSync (its output asserted) → the
//! container's log file (asserted) → StopContainer/RemoveContainer →
//! StopPodSandbox/RemovePodSandbox. Refused, with the check and the reason in
//! the CRI error kubelet would show: an unattested app image in the attested
//! pod, an unattested pause image (RunPodSandbox fails), and an attested image
//! once its signer is revoked between two starts. The audit log records
//! every decision, sandbox and containers alike.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use cerro_integration::cri::{pause_layout, CriConfig, CriContainerd, CriError, HANDLER};
use cerro_integration::{attested_and_plain_images, ct, require, run};
use serde_json::{json, Value};

/// One private containerd at a time (each cleans up the shim sockets it
/// added to containerd's global directory).
static SERIAL: Mutex<()> = Mutex::new(());

/// The name CRI's `sandbox_image` gives the pause image.
const PAUSE: &str = "registry.cerro.test/pause:3.9";

/// Debian's CNI plugins (`containernetworking-plugins`).
const CNI_BIN: &str = "/usr/lib/cni";

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A pod's configuration as kubelet sends it, on the host's network.
fn pod_config(ctd: &CriContainerd, name: &str) -> Value {
    let logs = ctd.logs().join(name);
    fs::create_dir_all(&logs).unwrap();
    json!({
        "metadata": {"name": name, "uid": format!("uid-{name}"), "namespace": "default", "attempt": 0},
        "logDirectory": s(&logs),
        "labels": {"app": name},
        "annotations": {"cerro.dev/test": name},
        "linux": {"securityContext": {"namespaceOptions": {"network": "NODE", "pid": "CONTAINER", "ipc": "POD"}}}
    })
}

fn run_pod(ctd: &CriContainerd, config: &Value) -> Result<String, CriError> {
    ctd.call("RunPodSandbox", json!({"config": config, "runtimeHandler": HANDLER}))
        .map(|r| r["podSandboxId"].as_str().unwrap().to_owned())
}

/// CreateContainer then StartContainer of `image` in pod `pod`; the
/// container's id, or the first CRI error (and at which call).
fn start_container(
    ctd: &CriContainerd,
    pod: &str,
    pod_config: &Value,
    name: &str,
    image: &str,
    script: &str,
) -> Result<String, (&'static str, CriError)> {
    let created = ctd
        .call(
            "CreateContainer",
            json!({
                "podSandboxId": pod,
                "config": {
                    "metadata": {"name": name, "attempt": 0},
                    "image": {"image": image},
                    "command": ["/bin/busybox"],
                    "args": ["sh", "-c", script],
                    "logPath": format!("{name}.log"),
                    "labels": {"container": name},
                    // Not passed to the OCI spec (the handler lists no
                    // container_annotations): were it, the shim would look
                    // for this bundle and refuse even the attested app.
                    "annotations": {"io.cerro.bundle": "/nonexistent/bundle.ctp"},
                    "linux": {}
                },
                "sandboxConfig": pod_config
            }),
        )
        .map_err(|e| ("CreateContainer", e))?;
    let id = created["containerId"].as_str().unwrap().to_owned();
    ctd.call("StartContainer", json!({"containerId": id}))
        .map_err(|e| ("StartContainer", e))?;
    Ok(id)
}

fn remove_container(ctd: &CriContainerd, id: &str) {
    ctd.ok("StopContainer", json!({"containerId": id, "timeout": 10}));
    ctd.ok("RemoveContainer", json!({"containerId": id}));
}

fn remove_pod(ctd: &CriContainerd, id: &str) {
    ctd.ok("StopPodSandbox", json!({"podSandboxId": id}));
    ctd.ok("RemovePodSandbox", json!({"podSandboxId": id}));
}

/// Waits (30 s at most) until `check` holds.
fn until(ctd: &CriContainerd, what: &str, check: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !check() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out: {what}\n{}",
            ctd.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `ct load BUNDLE`: verify it and file it in the store the shim reads.
fn load(home: &Path, store: &Path, bundle: &Path) {
    let out = run(ct(home).env("CERRO_STORE", store).args(["load", &s(bundle)]));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("loaded "));
}

/// Imports OCI layout `layout` (one image, tag `tag`) into CRI's namespace
/// as `name:tag`, `name` fully qualified: CRI reads a short name as
/// `docker.io/library/…` (and `ctr`'s default name for an archive, which
/// `ct load --into` gets, is a short one), so a cluster's images come
/// with their registry's name, as a pull would give them.
fn import(ctd: &CriContainerd, d: &Path, layout: &Path, tag: &str, name: &str) -> String {
    let tar = d.join(format!("{}.tar", name.replace('/', "_")));
    run(std::process::Command::new("tar").args(["-C", &s(layout), "-cf", &s(&tar), "."]));
    run(ctd.ctr().args(["images", "import", "--base-name", name, &s(&tar)]));
    let image = format!("{name}:{tag}");
    ctd.until_image(&image, true);
    image
}

#[test]
fn cri_runs_attested_pods_and_refuses_the_rest() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (home, store, audit) = (d.join("home"), d.join("store"), d.join("audit.log"));
    let runtime = d.join("runtime");
    let ctd = CriContainerd::start(
        d,
        &CriConfig {
            sandbox_image: PAUSE,
            restrict_oom_score_adj: true,
            env: &[
                ("CERRO_HOME", &home),
                ("CERRO_STORE", &store),
                ("CERRO_AUDIT_LOG", &audit),
                ("CERRO_RUNTIME_ROOT", &runtime),
            ],
            cni_bin_dir: None,
        },
    );

    // The images: the app (busybox) and the pause image, both signed by
    // `maintainer`, their bundles filed in the store with `ct load`; an
    // unsigned app and an unsigned pause image with no bundle.
    let app_bundle = attested_and_plain_images(d, &home);
    load(&home, &store, &app_bundle);
    let app = import(&ctd, d, &d.join("attested"), "good", "registry.cerro.test/app");
    let pause_layout_dir = pause_layout("");
    let pause_bundle = d.join("pause.ctp");
    run(ct(&home).args([
        "pack",
        &format!("oci:{}:pause", s(&pause_layout_dir)),
        "-o",
        &s(&pause_bundle),
        "--key",
        "maintainer",
    ]));
    load(&home, &store, &pause_bundle);
    let pause = &import(
        &ctd,
        d,
        &pause_layout_dir,
        "pause",
        "registry.cerro.test/pause-attested",
    );
    run(ctd.ctr().args(["images", "tag", pause, PAUSE]));
    ctd.until_image(PAUSE, true);
    let plain = &import(&ctd, d, &d.join("plain"), "other", "registry.cerro.test/plain");
    let pause_unsigned = &import(
        &ctd,
        d,
        &pause_layout("never signed"),
        "pause",
        "registry.cerro.test/pause-unsigned",
    );

    // An attested pod: the sandbox runs the attested pause image.
    let config = pod_config(&ctd, "attested");
    let pod = run_pod(&ctd, &config).unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", ctd.log()));
    let status = ctd.ok("PodSandboxStatus", json!({"podSandboxId": pod}));
    assert_eq!(status["status"]["state"], "SANDBOX_READY", "{status}");

    // Its attested app container runs; its output reaches the log file.
    let script = "echo cri-hello; trap 'exit 0' TERM; while :; do sleep 1; done";
    let app_id = start_container(&ctd, &pod, &config, "app", &app, script)
        .unwrap_or_else(|(at, e)| panic!("{at}: {e}\n{}", ctd.log()));
    let st = ctd.ok("ContainerStatus", json!({"containerId": app_id}));
    assert_eq!(st["status"]["state"], "CONTAINER_RUNNING", "{st}");

    // ExecSync, as `kubectl exec` and exec probes reach it.
    let exec = ctd.ok(
        "ExecSync",
        json!({"containerId": app_id, "cmd": ["/bin/busybox", "sh", "-c", "echo exec-out; echo exec-err >&2; exit 3"], "timeout": 30}),
    );
    let b64 = |v: &Value| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(b64(&exec["stdout"]), "exec-out\n", "{exec}");
    assert_eq!(b64(&exec["stderr"]), "exec-err\n", "{exec}");
    assert_eq!(exec["exitCode"], 3, "{exec}");

    // The log file, in CRI's format: `TIME STREAM P|F LINE`.
    let log_file = ctd.logs().join("attested/app.log");
    until(&ctd, "the container's log line", || {
        fs::read_to_string(&log_file).is_ok_and(|t| t.contains("cri-hello"))
    });
    let log = fs::read_to_string(&log_file).unwrap();
    let line = log
        .lines()
        .find(|l| l.ends_with(" stdout F cri-hello"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.split(' ').next().unwrap().contains('T'), "{line}");

    // An unattested app image in the attested pod: refused, and the CRI
    // error names the check and the reason.
    let refused = start_container(&ctd, &pod, &config, "plain", plain, "echo must-not-run")
        .expect_err("an unattested container started");
    let (at, e) = &refused;
    eprintln!("unattested app: {at}: {e}");
    assert_eq!(*at, "StartContainer", "{e}");
    assert!(
        e.message.contains("cerro-torre refused container")
            && e.message.contains("missing_attestation")
            && e.message.contains("no bundle in the store"),
        "{e}"
    );
    assert!(!fs::read_to_string(ctd.logs().join("attested/plain.log"))
        .unwrap_or_default()
        .contains("must-not-run"));

    // An unattested pause image: the pod does not start.
    run(ctd.ctr().args(["images", "tag", "--force", pause_unsigned, PAUSE]));
    until(&ctd, "CRI sees the re-tagged pause image", || {
        let st = ctd.ok("ImageStatus", json!({"image": {"image": PAUSE}}));
        st["image"]["id"] != ctd.ok("ImageStatus", json!({"image": {"image": pause}}))["image"]["id"]
    });
    let unsigned_pod = pod_config(&ctd, "unsigned-pause");
    let e = run_pod(&ctd, &unsigned_pod).expect_err("a sandbox of an unattested pause image started");
    eprintln!("unattested pause: RunPodSandbox: {e}");
    assert!(
        e.message.contains("cerro-torre refused container")
            && e.message.contains("missing_attestation")
            && e.message.contains("no bundle in the store"),
        "{e}"
    );
    run(ctd.ctr().args(["images", "tag", "--force", pause, PAUSE]));

    // A signer revoked between two starts: the next start is refused.
    run(ct(&home).args(["key", "revoke", "maintainer"]));
    let (at, e) = start_container(&ctd, &pod, &config, "after-revoke", &app, "echo must-not-run")
        .expect_err("a container of a revoked signer started");
    eprintln!("revoked: {at}: {e}");
    assert_eq!(at, "StartContainer", "{e}");
    assert!(
        e.message.contains("signer_not_trusted") && e.message.contains("revoked"),
        "{e}"
    );

    // Kubelet's teardown.
    remove_container(&ctd, &app_id);
    remove_pod(&ctd, &pod);
    let left = ctd.ok("ListPodSandbox", json!({}));
    assert!(
        left["items"]
            .as_array()
            .is_none_or(|i| i.iter().all(|p| p["id"] != pod.as_str())),
        "{left}"
    );

    // Every decision is in the audit log: the sandbox's and the app's
    // allowed, the unattested app's, the unattested sandbox's and the
    // revoked start refused.
    let records: Vec<Value> = fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let allowed: Vec<bool> = records.iter().map(|r| r["allowed"].as_bool().unwrap()).collect();
    assert_eq!(allowed, [true, true, false, false, false], "{records:#?}");
}

/// A daemon under `d` (CNI configuration `cni`, if any) whose shims use the
/// state under `d`, with the attested pause image as `sandbox_image` and,
/// with `app`, the attested busybox image (its name returned).
struct Cluster {
    ctd: CriContainerd,
    app: Option<String>,
}

fn cluster(d: &Path, restrict_oom_score_adj: bool, app: bool, cni: Option<&str>) -> Cluster {
    let (home, store) = (d.join("home"), d.join("store"));
    if let Some(conf) = cni {
        fs::create_dir_all(d.join("cni/conf")).unwrap();
        fs::write(d.join("cni/conf/10-cerro-test.conflist"), conf).unwrap();
    }
    let ctd = CriContainerd::start(
        d,
        &CriConfig {
            sandbox_image: PAUSE,
            restrict_oom_score_adj,
            env: &[
                ("CERRO_HOME", &home),
                ("CERRO_STORE", &store),
                ("CERRO_AUDIT_LOG", &d.join("audit.log")),
                ("CERRO_RUNTIME_ROOT", &d.join("runtime")),
            ],
            cni_bin_dir: cni.map(|_| Path::new(CNI_BIN)),
        },
    );
    let app = if app {
        let app_bundle = attested_and_plain_images(d, &home);
        load(&home, &store, &app_bundle);
        Some(import(&ctd, d, &d.join("attested"), "good", "registry.cerro.test/app"))
    } else {
        run(ct(&home).args(["keygen", "--id", "maintainer"]));
        None
    };
    let layout = pause_layout("");
    let bundle = d.join("pause.ctp");
    run(ct(&home).args([
        "pack",
        &format!("oci:{}:pause", s(&layout)),
        "-o",
        &s(&bundle),
        "--key",
        "maintainer",
    ]));
    load(&home, &store, &bundle);
    let pause = import(&ctd, d, &layout, "pause", "registry.cerro.test/pause-attested");
    run(ctd.ctr().args(["images", "tag", &pause, PAUSE]));
    ctd.until_image(PAUSE, true);
    Cluster { ctd, app }
}

/// Whether this process has CAP_SYS_RESOURCE (bit 24 of CapEff).
fn has_sys_resource() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap();
    u64::from_str_radix(eff.trim(), 16).unwrap() & (1 << 24) != 0
}

/// CRI asks for `oomScoreAdj -998` for every sandbox. Without
/// CAP_SYS_RESOURCE (this machine's root) neither runc nor cerro-runtime
/// can set it, and without `restrict_oom_score_adj` every pod fails under
/// both; cerro-runtime's error (what kubelet shows) says why and what to
/// set. With the option the same pod runs (the test above).
#[test]
fn cri_sandbox_oom_score_without_restrict_fails_as_runc_with_the_remedy() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let audit = d.join("audit.log");
    let Cluster { ctd, .. } = cluster(d, false, false, None);

    let cerro = run_pod(&ctd, &pod_config(&ctd, "oom-cerro"));
    let runc = ctd
        .call(
            "RunPodSandbox",
            json!({"config": pod_config(&ctd, "oom-runc"), "runtimeHandler": "runc"}),
        )
        .map(|r| r["podSandboxId"].as_str().unwrap().to_owned());
    if has_sys_resource() {
        // A host whose root may lower OOM scores runs both.
        for id in [cerro.unwrap(), runc.unwrap()] {
            remove_pod(&ctd, &id);
        }
        return;
    }
    let e = cerro.expect_err("a sandbox started with an OOM score root may not set");
    eprintln!("cerro: RunPodSandbox: {e}");
    assert!(
        e.message.contains("cannot set process.oomScoreAdj -998")
            && e.message.contains("restrict_oom_score_adj = true"),
        "{e}"
    );
    let e = runc.expect_err("runc started a sandbox with an OOM score root may not set");
    eprintln!("runc: RunPodSandbox: {e}");
    // The attested pause image was decided (allowed); the runtime failed.
    let records = fs::read_to_string(&audit).unwrap();
    assert_eq!(records.lines().count(), 1, "{records}");
    assert!(records.contains("\"allowed\":true"), "{records}");
}

/// The shim processes serving this daemon whose binary is `shim`: (count,
/// total VmRSS in KiB). The long-running ones only: `start` invocations
/// exit as soon as they have printed an address.
fn shims(ctd: &CriContainerd, shim: &str) -> (usize, u64) {
    let ours = format!("-address\0{}\0", s(ctd.socket()));
    let (mut n, mut rss) = (0, 0);
    for p in fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = fs::read(p.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline);
        if text.contains(shim) && text.contains(&ours) && !text.contains("\0start\0") {
            n += 1;
            let status = fs::read_to_string(p.path().join("status")).unwrap_or_default();
            rss += status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    (n, rss)
}

/// One shim per pod, as runc's v2 shim: a pod of a sandbox and three
/// containers is served by one `containerd-shim-cerro-v1` process (each
/// container still decided on its own), which exits when the pod is gone.
/// Measured against `io.containerd.runc.v2` on the same pod (printed:
/// processes and their total RSS).
#[test]
fn cri_one_shim_per_pod() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let audit = d.join("audit.log");
    let Cluster { ctd, app } = cluster(d, true, true, None);
    let app = app.unwrap();

    let script = "trap 'exit 0' TERM; while :; do sleep 1; done";
    let mut measured = Vec::new();
    for (handler, shim) in [
        (HANDLER, "containerd-shim-cerro-v1"),
        ("runc", "containerd-shim-runc-v2"),
    ] {
        let config = pod_config(&ctd, &format!("pod-{handler}"));
        let pod = ctd
            .call("RunPodSandbox", json!({"config": config, "runtimeHandler": handler}))
            .map(|r| r["podSandboxId"].as_str().unwrap().to_owned())
            .unwrap_or_else(|e| panic!("{handler}: RunPodSandbox: {e}\n{}", ctd.log()));
        let ids: Vec<String> = (0..3)
            .map(|i| {
                start_container(&ctd, &pod, &config, &format!("c{i}"), &app, script)
                    .unwrap_or_else(|(at, e)| panic!("{handler}: {at}: {e}\n{}", ctd.log()))
            })
            .collect();
        // Each container answers through the one shim.
        for id in &ids {
            let out = ctd.ok(
                "ExecSync",
                json!({"containerId": id, "cmd": ["/bin/busybox", "echo", id], "timeout": 30}),
            );
            let stdout = base64::engine::general_purpose::STANDARD
                .decode(out["stdout"].as_str().unwrap_or_default())
                .unwrap();
            assert_eq!(String::from_utf8(stdout).unwrap(), format!("{id}\n"), "{handler}");
        }
        let (n, rss) = shims(&ctd, shim);
        eprintln!("{handler}: a pod of 1 sandbox + 3 containers: {n} shim process(es), {rss} KiB RSS in all");
        measured.push((handler, n));
        for id in &ids {
            remove_container(&ctd, id);
        }
        remove_pod(&ctd, &pod);
        until(&ctd, "the pod's shim exits", || shims(&ctd, shim).0 == 0);
    }
    assert_eq!(measured, [(HANDLER, 1), ("runc", 1)]);
    // Each container of the cerro pod was decided: the sandbox and three.
    let records = fs::read_to_string(&audit).unwrap();
    assert_eq!(
        records.lines().filter(|l| l.contains("\"allowed\":true")).count(),
        4,
        "{records}"
    );
}

/// The test's bridge, removed when the test ends (also when it fails).
struct Bridge(&'static str);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["link", "del", self.0]).output();
    }
}

/// A pod on a CNI bridge (Debian's `containernetworking-plugins`: bridge,
/// host-local, loopback) instead of the host's network: the sandbox gets
/// its own network namespace, address and host name, and the attested app
/// container joins them.
#[test]
fn cri_pod_on_a_cni_bridge() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    for plugin in ["bridge", "host-local", "loopback"] {
        assert!(
            Path::new(CNI_BIN).join(plugin).exists(),
            "{CNI_BIN}/{plugin} missing: containernetworking-plugins is not installed: run scripts/install-deps"
        );
    }
    require("ip");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bridge = Bridge("cerrocri0");
    let conf = json!({
        "cniVersion": "1.0.0",
        "name": "cerro-cri-test",
        "plugins": [{
            "type": "bridge",
            "bridge": bridge.0,
            "isGateway": true,
            "ipMasq": false,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "10.243.77.0/24"}]],
                "dataDir": s(&d.join("cni/ipam"))
            }
        }]
    });
    let Cluster { ctd, app } = cluster(d, true, true, Some(&conf.to_string()));
    let app = app.unwrap();
    let mut config = pod_config(&ctd, "bridged");
    config["hostname"] = json!("bridged-pod");
    config["linux"]["securityContext"]["namespaceOptions"] =
        json!({"network": "POD", "pid": "CONTAINER", "ipc": "POD"});
    let pod = run_pod(&ctd, &config).unwrap_or_else(|e| panic!("RunPodSandbox: {e}\n{}", ctd.log()));
    let status = ctd.ok("PodSandboxStatus", json!({"podSandboxId": pod}));
    let ip = status["status"]["network"]["ip"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(ip.starts_with("10.243.77."), "{status}");
    let id = start_container(
        &ctd,
        &pod,
        &config,
        "app",
        &app,
        "trap 'exit 0' TERM; while :; do sleep 1; done",
    )
    .unwrap_or_else(|(at, e)| panic!("{at}: {e}\n{}", ctd.log()));
    let exec = |cmd: &[&str]| {
        let out = ctd.ok("ExecSync", json!({"containerId": id, "cmd": cmd, "timeout": 30}));
        assert_eq!(out["exitCode"], 0, "{cmd:?}: {out}");
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(out["stdout"].as_str().unwrap_or_default())
                .unwrap(),
        )
        .unwrap()
    };
    let addr = exec(&["/bin/busybox", "ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet {ip}/24")), "{addr}");
    assert_eq!(exec(&["/bin/busybox", "hostname"]), "bridged-pod\n");
    // The gateway (the bridge, on the host) answers from inside the pod.
    let ping = exec(&["/bin/busybox", "ping", "-c", "1", "-W", "5", "10.243.77.1"]);
    assert!(ping.contains("1 packets received"), "{ping}");
    remove_container(&ctd, &id);
    remove_pod(&ctd, &pod);
}
