//! Containers that runc runs must run under `cerro-runtime` too (issue 15):
//! the same OCI bundles, given to Debian's runc and to `cerro-runtime`
//! directly (no containerd), with the outcomes compared, case by case,
//! with each other and with what runc is known to do.
//!
//! The cases are the ones CRI pods meet: an image whose config sets no
//! `Env` and an absolute entrypoint (a pause image; containerd's CRI adds
//! no default `PATH` to a sandbox), which libcontainer 0.7 refused ("PATH
//! environment variable is not set"); a bare program name, which needs
//! `PATH` in both; a missing program; and the `oomScoreAdj -998` CRI asks
//! for a sandbox, which this machine's root (no CAP_SYS_RESOURCE) cannot
//! set: both fail, `cerro-runtime` saying why and what to configure.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cerro_integration::{bin, is_root, require, run};
use serde_json::{json, Value};

/// A bundle at `dir`: busybox (static) as the root file system, runc's
/// default spec with `args`, `env` and, if given, `oomScoreAdj`.
fn bundle(dir: &Path, args: &[&str], env: &[&str], oom: Option<i32>) {
    let rootfs = dir.join("rootfs/bin");
    fs::create_dir_all(&rootfs).unwrap();
    fs::copy("/bin/busybox", rootfs.join("busybox")).unwrap();
    run(Command::new("runc").arg("spec").arg("--bundle").arg(dir));
    let path = dir.join("config.json");
    let mut spec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(args);
    spec["process"]["env"] = json!(env);
    if let Some(o) = oom {
        spec["process"]["oomScoreAdj"] = json!(o);
    }
    fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
}

/// What happened: ran (and printed), or failed (and said).
#[derive(Debug, PartialEq)]
enum Outcome {
    Ran(String),
    Failed,
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `runc run` of the bundle: its outcome and everything it said.
fn under_runc(root: &Path, b: &Path, id: &str) -> (Outcome, String) {
    let out = Command::new("timeout")
        .args(["60", "runc", "--root"])
        .arg(root)
        .args(["run", "--bundle"])
        .arg(b)
        .arg(id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new("runc")
        .arg("--root")
        .arg(root)
        .args(["delete", "--force", id])
        .output();
    if out.status.success() {
        (
            Outcome::Ran(String::from_utf8_lossy(&out.stdout).into_owned()),
            text(&out),
        )
    } else {
        (Outcome::Failed, text(&out))
    }
}

/// `cerro-runtime create` + `start` of the bundle, its stdout to a file,
/// waiting until it stopped: its outcome and what the runtime said.
fn under_cerro(root: &Path, b: &Path, id: &str) -> (Outcome, String) {
    let rt = bin("cerro-runtime");
    let out_file = b.join("stdout");
    let create = Command::new("timeout")
        .arg("60")
        .arg(&rt)
        .arg("--root")
        .arg(root)
        .args(["create", "--bundle"])
        .arg(b)
        .arg(format!("--stdout=file://{}", out_file.display()))
        // Named: without a flag the container would get this command's
        // pipes (passed through, as runc) and `output` would wait for it.
        .args(["--stdin=/dev/null", "--stderr=/dev/null"])
        .arg(id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let delete = || {
        let _ = Command::new(&rt)
            .arg("--root")
            .arg(root)
            .args(["delete", "--force", id])
            .output();
    };
    if !create.status.success() {
        delete();
        return (Outcome::Failed, text(&create));
    }
    let start = Command::new(&rt)
        .arg("--root")
        .arg(root)
        .args(["start", id])
        .output()
        .unwrap();
    if !start.status.success() {
        delete();
        return (Outcome::Failed, text(&start));
    }
    let t0 = Instant::now();
    loop {
        let st = Command::new(&rt)
            .arg("--root")
            .arg(root)
            .args(["state", id])
            .output()
            .unwrap();
        let state: Value = serde_json::from_slice(&st.stdout).unwrap_or(Value::Null);
        if state["status"] == "stopped" {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{id} never stopped: {}",
            text(&st)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    delete();
    (
        Outcome::Ran(fs::read_to_string(&out_file).unwrap_or_default()),
        text(&start),
    )
}

/// One case: its name, `args`, `env`, `oomScoreAdj`, and what runc does.
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    Option<i32>,
    Outcome,
);

/// Whether this process has CAP_SYS_RESOURCE (bit 24 of CapEff).
fn has_sys_resource() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap();
    u64::from_str_radix(eff.trim(), 16).unwrap() & (1 << 24) != 0
}

#[test]
fn cerro_runtime_runs_what_runc_runs() {
    assert!(is_root(), "runc and cerro-runtime need root here");
    require("runc");
    assert!(
        Path::new("/bin/busybox").exists(),
        "busybox-static is not installed: run scripts/install-deps"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (runc_root, cerro_root) = (d.join("runc-root"), d.join("cerro-root"));
    const PATH: &str = "PATH=/usr/local/bin:/usr/bin:/bin";
    let ran = |s: &str| Outcome::Ran(s.to_owned());
    let oom_outcome = if has_sys_resource() {
        ran("oom\n")
    } else {
        Outcome::Failed
    };
    // (case, args, env, oomScoreAdj, what runc does)
    let cases: [Case; 6] = [
        (
            "absolute-no-path",
            &["/bin/busybox", "echo", "no-path"],
            &[],
            None,
            ran("no-path\n"),
        ),
        (
            "absolute-no-env-at-all",
            &["/bin/busybox", "echo", "a"],
            &["HOME=/"],
            None,
            ran("a\n"),
        ),
        (
            "absolute-with-path",
            &["/bin/busybox", "echo", "with-path"],
            &[PATH],
            None,
            ran("with-path\n"),
        ),
        (
            "bare-with-path",
            &["busybox", "echo", "bare"],
            &[PATH],
            None,
            ran("bare\n"),
        ),
        ("bare-no-path", &["busybox", "echo", "bare"], &[], None, Outcome::Failed),
        ("missing-program", &["/bin/nonexistent"], &[PATH], None, Outcome::Failed),
    ];
    let oom_case: Case = (
        "sandbox-oom-score",
        &["/bin/busybox", "echo", "oom"],
        &[PATH],
        Some(-998),
        oom_outcome,
    );
    for (i, (name, args, env, oom, expected)) in cases.into_iter().chain([oom_case]).enumerate() {
        let b = d.join(name);
        bundle(&b, args, env, oom);
        let (by_runc, runc_said) = under_runc(&runc_root, &b, &format!("parity-runc-{i}"));
        let (by_cerro, cerro_said) = under_cerro(&cerro_root, &b, &format!("parity-cerro-{i}"));
        assert_eq!(by_runc, expected, "{name}: runc said: {runc_said}");
        assert_eq!(
            by_cerro, by_runc,
            "{name}: cerro-runtime said: {cerro_said}\nrunc said: {runc_said}"
        );
        if name == "sandbox-oom-score" && by_cerro == Outcome::Failed {
            assert!(
                cerro_said.contains("cannot set process.oomScoreAdj -998")
                    && cerro_said.contains("restrict_oom_score_adj = true"),
                "{cerro_said}"
            );
        }
        if name == "bare-no-path" {
            assert!(
                cerro_said.contains("executable file not found in $PATH"),
                "{cerro_said}"
            );
        }
    }
}

/// `linux.resources.memory.disableOOMKiller` (issue 15's runtime
/// conformance list): runc writes `memory.oom_control` at create;
/// libcontainer 0.7 hard-coded the OOM killer on. The container reads its
/// own cgroup's setting (cgroup v1 here: `/sys/fs/cgroup/memory`).
#[test]
fn disable_oom_killer_is_applied_at_create_as_runc_does() {
    assert!(is_root(), "runc and cerro-runtime need root here");
    require("runc");
    let oom_control = Path::new("/sys/fs/cgroup/memory/memory.oom_control");
    if !oom_control.exists() {
        eprintln!("skipped: no cgroup v1 memory controller here (memory.oom_control is v1 only)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, disable) in [("oom-killer-off", true), ("oom-killer-on", false)] {
        let b = d.join(name);
        bundle(
            &b,
            &["/bin/busybox", "cat", "/sys/fs/cgroup/memory/memory.oom_control"],
            &[],
            None,
        );
        let path = b.join("config.json");
        let mut spec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        spec["linux"]["resources"]["memory"] = json!({"disableOOMKiller": disable});
        fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        let (by_runc, runc_said) = under_runc(&d.join("runc-root"), &b, &format!("{name}-runc"));
        let (by_cerro, cerro_said) = under_cerro(&d.join("cerro-root"), &b, &format!("{name}-cerro"));
        let want = format!("oom_kill_disable {}", u8::from(disable));
        let shows = |o: &Outcome| matches!(o, Outcome::Ran(out) if out.lines().any(|l| l == want));
        assert!(shows(&by_runc), "{name}: runc: {by_runc:?} {runc_said}");
        assert!(shows(&by_cerro), "{name}: cerro-runtime: {by_cerro:?} {cerro_said}");
    }
}

/// A failing poststop hook is a warning and the delete completes (runtime
/// spec, "Poststop"; runc does so): libcontainer 0.7 stopped at it and left
/// the state directory, so every later `delete`, `--force` too, failed.
#[test]
fn a_failing_poststop_hook_never_wedges_delete() {
    assert!(is_root(), "runc and cerro-runtime need root here");
    require("runc");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = d.join("poststop");
    bundle(&b, &["/bin/busybox", "echo", "ran"], &[], None);
    let path = b.join("config.json");
    let mut spec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    spec["hooks"] = json!({"poststop": [{"path": "/bin/false"}]});
    fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let (runc_root, cerro_root) = (d.join("runc-root"), d.join("cerro-root"));
    let (by_runc, runc_said) = under_runc(&runc_root, &b, "poststop-runc");
    assert_eq!(by_runc, Outcome::Ran("ran\n".into()), "{runc_said}");
    assert!(!runc_root.join("poststop-runc").exists(), "runc kept its state");
    // `under_cerro` deletes the container once it stopped.
    let (by_cerro, cerro_said) = under_cerro(&cerro_root, &b, "poststop-cerro");
    assert_eq!(by_cerro, by_runc, "{cerro_said}");
    assert!(
        !cerro_root.join("poststop-cerro").exists(),
        "cerro-runtime kept the state of a deleted container"
    );
    // And a delete of what is gone succeeds, as before.
    let again = Command::new(bin("cerro-runtime"))
        .arg("--root")
        .arg(&cerro_root)
        .args(["delete", "--force", "poststop-cerro"])
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again));
}

/// A failing poststart hook is a warning and the container runs on
/// (runtime spec, "Poststart"): libcontainer 0.7 failed `start` with the
/// process already running. What runc does is printed, not judged (runc
/// 1.1 fails the start and kills the container there).
#[test]
fn a_failing_poststart_hook_is_a_warning() {
    assert!(is_root(), "runc and cerro-runtime need root here");
    require("runc");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = d.join("poststart");
    bundle(&b, &["/bin/busybox", "echo", "ran"], &[], None);
    let path = b.join("config.json");
    let mut spec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    spec["hooks"] = json!({"poststart": [{"path": "/bin/false"}]});
    fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let (by_runc, runc_said) = under_runc(&d.join("runc-root"), &b, "poststart-runc");
    eprintln!("runc: {by_runc:?}: {runc_said}");
    let (by_cerro, cerro_said) = under_cerro(&d.join("cerro-root"), &b, "poststart-cerro");
    assert_eq!(by_cerro, Outcome::Ran("ran\n".into()), "{cerro_said}");
    assert!(
        cerro_said.contains("warning") && cerro_said.contains("poststart hook failed"),
        "{cerro_said}"
    );
}

/// `create` with no stream flags (and, for cerro-runtime, no `--bundle`:
/// the current directory, runc's default) passes the caller's stdio to the
/// container, as runc's command line does (issue 15: it was /dev/null, so
/// the output was lost). Both runtimes' stdout goes to a file here (a pipe
/// would keep the caller waiting for the container, with runc too).
#[test]
fn create_without_stream_flags_passes_the_callers_stdio_through() {
    assert!(is_root(), "runc and cerro-runtime need root here");
    require("runc");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = d.join("passthrough");
    bundle(&b, &["/bin/busybox", "echo", "through"], &[], None);
    for (name, program) in [
        ("runc", Path::new("runc").to_path_buf()),
        ("cerro", bin("cerro-runtime")),
    ] {
        let root = d.join(format!("{name}-root"));
        let id = format!("passthrough-{name}");
        let out = d.join(format!("{name}.out"));
        let rt = |args: &[&str], stdout: Stdio| {
            Command::new("timeout")
                .arg("60")
                .arg(&program)
                .arg("--root")
                .arg(&root)
                .args(args)
                .current_dir(&b)
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(Stdio::null())
                .status()
                .unwrap()
        };
        let file = fs::File::create(&out).unwrap();
        let bundle_arg = b.display().to_string();
        // Without --bundle, cerro-runtime takes the current directory
        // (runc's default); every command runs in the bundle.
        let create: Vec<&str> = if name == "cerro" {
            vec!["create", &id]
        } else {
            vec!["create", "--bundle", &bundle_arg, &id]
        };
        assert!(rt(&create, Stdio::from(file)).success(), "{name} create");
        if name == "cerro" {
            // `list` shows it, as `runc list` (ids with -q; states as JSON).
            let list = |args: &[&str]| {
                let o = Command::new(&program)
                    .arg("--root")
                    .arg(&root)
                    .args(args)
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{}", text(&o));
                String::from_utf8(o.stdout).unwrap()
            };
            assert_eq!(list(&["list", "-q"]), format!("{id}\n"));
            let states: Value = serde_json::from_str(&list(&["list", "--format", "json"])).unwrap();
            assert_eq!(states[0]["id"], id.as_str(), "{states}");
            assert_eq!(states[0]["status"], "created", "{states}");
            // `ps` names the init waiting in the container's cgroup.
            let init = states[0]["pid"].as_i64().unwrap();
            let pids: Vec<i64> = serde_json::from_str(&list(&["ps", "--format", "json", &id])).unwrap();
            assert!(pids.contains(&init), "{pids:?} lacks the init {init}");
            let table = list(&["ps", &id]);
            assert!(table.lines().next().unwrap().contains("PID"), "{table}");
            assert!(
                table
                    .lines()
                    .skip(1)
                    .any(|l| l.split_whitespace().nth(1) == Some(&*init.to_string())),
                "{table}"
            );
            assert!(list(&["list"]).lines().nth(1).unwrap().starts_with(&format!("{id}\t")));
        }
        assert!(rt(&["start", &id], Stdio::null()).success(), "{name} start");
        let t0 = Instant::now();
        while fs::read_to_string(&out).unwrap_or_default() != "through\n" {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{name}: no output in {}",
                out.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = rt(&["delete", "--force", &id], Stdio::null());
    }
}

/// `cerro-runtime spec` writes a default config.json that both runtimes
/// run (runc's `spec` shape: the bundle's `rootfs`, `sh` as the process),
/// and never over an existing one.
#[test]
fn a_default_spec_runs_under_both_runtimes() {
    assert!(is_root(), "runc and cerro-runtime need root here");
    require("runc");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = d.join("default-spec");
    fs::create_dir_all(b.join("rootfs/bin")).unwrap();
    fs::copy("/bin/busybox", b.join("rootfs/bin/busybox")).unwrap();
    let spec = |bundle: &Path| {
        Command::new(bin("cerro-runtime"))
            .args(["spec", "--bundle"])
            .arg(bundle)
            .output()
            .unwrap()
    };
    let made = spec(&b);
    assert!(made.status.success(), "{}", text(&made));
    let again = spec(&b);
    assert!(!again.status.success(), "spec replaced an existing config.json");
    assert!(text(&again).contains("remove it first"), "{}", text(&again));
    // Its process, made to print without a terminal.
    let path = b.join("config.json");
    let mut v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["root"]["path"], "rootfs", "{v}");
    v["process"]["terminal"] = json!(false);
    v["process"]["args"] = json!(["/bin/busybox", "echo", "default"]);
    fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let (by_runc, runc_said) = under_runc(&d.join("runc-root"), &b, "default-spec-runc");
    assert_eq!(by_runc, Outcome::Ran("default\n".into()), "{runc_said}");
    let (by_cerro, cerro_said) = under_cerro(&d.join("cerro-root"), &b, "default-spec-cerro");
    assert_eq!(by_cerro, by_runc, "{cerro_said}");
}
