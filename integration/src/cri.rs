//! Kubernetes without a kubelet: a private containerd (Debian's 1.6) with
//! its CRI plugin on, a runtime handler `cerro` (`runtime_type =
//! "io.cerro.v1"`, what a RuntimeClass `handler: cerro` selects), driven
//! the way kubelet drives it, over CRI's `runtime.v1` gRPC API, by
//! `integration/cri/cri.py` (PyPI `container-runtime-interface-api`,
//! installed in the test virtualenv by `scripts/install-deps`).
//!
//! What this harness sets, and why:
//! - `restrict_oom_score_adj = true` (by default): CRI asks for
//!   `oomScoreAdj -998` for every sandbox, which only a process with
//!   CAP_SYS_RESOURCE may set; root on this machine kind lacks it, and runc
//!   then fails the sandbox exactly as `cerro-runtime` does. With the
//!   option containerd asks for no less than its own score instead.
//! - the CNI directories are private: empty (pods use the host's network,
//!   `namespaceOptions.network = NODE`), or the caller's network
//!   configuration with Debian's plugins.
//! - `sandbox_image` is the caller's (the test builds and attests its
//!   pause image, [`pause_layout`]).
//!
//! The daemon, its shims, the containers the runtime still holds, the
//! mounts under the directory and the shim sockets it added to
//! containerd's global `/run/containerd/s/` are cleaned up on drop, also
//! after a failed assertion.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::containerd::{spawn_daemon, tear_down, Flavour};
use crate::{is_root, require, run, umoci};

/// The containerd namespace CRI works in.
pub const K8S_NAMESPACE: &str = "k8s.io";

/// The runtime handler the tests configure (a RuntimeClass's `handler`).
pub const HANDLER: &str = "cerro";

/// The virtualenv holding the CRI client (`scripts/install-deps`):
/// `CERRO_CRI_PYVENV`, else the validators' virtualenv path with `-cri`
/// appended (its own: the client's protobuf 6 pin conflicts with the
/// validators' protobuf 7).
pub fn cri_venv() -> PathBuf {
    if let Some(v) = std::env::var_os("CERRO_CRI_PYVENV") {
        return PathBuf::from(v);
    }
    let base = std::env::var_os("CERRO_PYVENV").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
        cache.join("cerro-torre/pyvenv")
    });
    let mut name = base.into_os_string();
    name.push("-cri");
    PathBuf::from(name)
}

/// How the daemon is configured.
#[derive(Debug)]
pub struct CriConfig<'a> {
    /// CRI's `sandbox_image` (the pause image every pod starts with).
    pub sandbox_image: &'a str,
    /// CRI's `restrict_oom_score_adj`.
    pub restrict_oom_score_adj: bool,
    /// Environment of the daemon, and so of its shims (`CERRO_*`).
    pub env: &'a [(&'a str, &'a Path)],
    /// CNI's plugin directory; `None`: a private empty one (host network
    /// only). The network configuration is read from `DIR/cni/conf`.
    pub cni_bin_dir: Option<&'a Path>,
}

/// containerd's `config.toml` (version 2, as containerd 1.6 reads it) for
/// a daemon whose root, state, sockets and CNI directories are under `d`.
pub fn config_toml(d: &Path, c: &CriConfig<'_>) -> String {
    let d = d.display();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  restrict_oom_score_adj = {restrict}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{HANDLER}]
      runtime_type = "io.cerro.v1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{d}/cni/conf"
"#,
        image = c.sandbox_image,
        restrict = c.restrict_oom_score_adj,
        cni_bin = c
            .cni_bin_dir
            .map_or_else(|| format!("{d}/cni/bin"), |p| p.display().to_string()),
    )
}

/// containerd 2.x's `config.toml` (version 3: CRI split into
/// `io.containerd.cri.v1.images`, `io.containerd.cri.v1.runtime` and the
/// gRPC service) with the same settings as [`config_toml`], the image
/// verifiers' `bin_dir` at `d/image-verifiers`, and registry host
/// configuration read from `d/certs.d` (`HOST/hosts.toml`).
pub fn config_toml_v3(d: &Path, c: &CriConfig<'_>) -> String {
    let d = d.display();
    format!(
        r#"version = 3
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.image-verifier.v1.bindir"]
  bin_dir = "{d}/image-verifiers"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{image}"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{d}/certs.d"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = {restrict}
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.{HANDLER}]
      runtime_type = "io.cerro.v1"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{d}/cni/conf"
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"#,
        image = c.sandbox_image,
        restrict = c.restrict_oom_score_adj,
        cni_bin = c
            .cni_bin_dir
            .map_or_else(|| format!("{d}/cni/bin"), |p| p.display().to_string()),
    )
}

/// A CRI call that failed: its gRPC status name and message (what kubelet
/// shows in a pod's events).
#[derive(Debug, Clone)]
pub struct CriError {
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for CriError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A private containerd with CRI.
#[derive(Debug)]
pub struct CriContainerd {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    /// The `ctr` of the daemon's release.
    ctr: PathBuf,
    sockets_before: BTreeSet<OsString>,
}

impl CriContainerd {
    /// Starts the daemon under `dir` and waits until CRI answers.
    pub fn start(dir: &Path, c: &CriConfig<'_>) -> Self {
        Self::start_on(dir, c, &Flavour::System)
    }

    /// [`Self::start`] on containerd `flavour` (Debian's 1.6 with
    /// [`config_toml`], or sid's 2.x with [`config_toml_v3`]).
    pub fn start_on(dir: &Path, c: &CriConfig<'_>, flavour: &Flavour) -> Self {
        assert!(is_root(), "containerd needs root");
        if *flavour == Flavour::System {
            require("containerd");
            require("ctr");
        }
        // The driver's client library must be there before anything starts.
        let venv = cri_venv();
        assert!(
            venv.join("bin/python").exists(),
            "the CRI client virtualenv {} is missing: run scripts/install-deps",
            venv.display()
        );
        let probe = Command::new(venv.join("bin/python"))
            .args(["-c", "import cri_api.v1.api_pb2_grpc"])
            .output()
            .unwrap();
        assert!(
            probe.status.success(),
            "PyPI container-runtime-interface-api is not in {}: run scripts/install-deps\n{}",
            venv.display(),
            String::from_utf8_lossy(&probe.stderr)
        );
        for sub in ["cni/bin", "cni/conf", "logs"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let config = dir.join("config.toml");
        let text = match flavour {
            Flavour::System => config_toml(dir, c),
            Flavour::Sid { .. } => config_toml_v3(dir, c),
        };
        fs::write(&config, text).unwrap();
        let (child, sockets_before) = spawn_daemon(flavour, dir, &config, c.env);
        let ctd = CriContainerd {
            child,
            dir: dir.to_path_buf(),
            socket: dir.join("containerd.sock"),
            ctr: flavour.ctr(),
            sockets_before,
        };
        let t0 = Instant::now();
        loop {
            if ctd.call("Version", serde_json::json!({})).is_ok() {
                break;
            }
            let log = ctd.log();
            assert!(
                !log.contains("failed to load plugin io.containerd.grpc.v1.cri")
                    && !log.contains("failed to load plugin io.containerd.cri.v1"),
                "containerd did not load its CRI plugin:\n{log}"
            );
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "containerd's CRI did not come up:\n{}",
                ctd.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        ctd
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Where pods' logs go (each pod's `logDirectory` is under it).
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// `ctr` on this daemon, in CRI's namespace.
    pub fn ctr(&self) -> Command {
        let mut c = Command::new(&self.ctr);
        c.arg("--address")
            .arg(&self.socket)
            .args(["--namespace", K8S_NAMESPACE]);
        c
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// One CRI call (`runtime.v1` method `method`, request as protobuf
    /// JSON): the response, or the gRPC error. Bounded in time.
    pub fn call(&self, method: &str, request: serde_json::Value) -> Result<serde_json::Value, CriError> {
        let venv = cri_venv();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("cri/cri.py");
        let mut child = Command::new("timeout")
            .arg("180")
            .arg(venv.join("bin/python"))
            .arg(script)
            .arg(&self.socket)
            .arg(method)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(request.to_string().as_bytes()).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "cri.py {method} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("cri.py {method}: {e}: {}", String::from_utf8_lossy(&out.stdout)));
        match (answer.get("ok"), answer.get("error")) {
            (Some(ok), _) => Ok(ok.clone()),
            (None, Some(e)) => Err(CriError {
                code: e["code"].as_str().unwrap_or_default().to_owned(),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
            }),
            _ => panic!("cri.py {method}: no answer in {answer}"),
        }
    }

    /// [`Self::call`] that must succeed.
    pub fn ok(&self, method: &str, request: serde_json::Value) -> serde_json::Value {
        self.call(method, request.clone())
            .unwrap_or_else(|e| panic!("{method} {request} failed: {e}\n{}", self.log()))
    }

    /// Waits (60 s at most) until CRI's image store knows `image` (it
    /// learns of images imported, tagged or removed with `ctr` from
    /// containerd's events), or with `known` false, until it does not.
    pub fn until_image(&self, image: &str, known: bool) {
        let t0 = Instant::now();
        loop {
            let st = self.ok("ImageStatus", serde_json::json!({"image": {"image": image}}));
            if st.get("image").is_some() == known {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "CRI's image store still {} image {image}",
                if known { "lacks" } else { "has" }
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for CriContainerd {
    fn drop(&mut self) {
        tear_down(&mut self.child, &self.socket, &self.dir, &self.sockets_before);
    }
}

/// Debian's statically linked `catatonit` (package `catatonit`).
pub const CATATONIT: &str = "/usr/bin/catatonit";

/// The pause image as an OCI layout (tag `pause`): one layer holding
/// Debian's static `catatonit` as `/pause`, entrypoint `/pause -P`, user
/// 65535, and no `Env` (as the upstream pause image: containerd's CRI
/// gives the sandbox no default `PATH`). `note`, when not empty, is
/// written to `/note` so that a second image differs only in its digest.
///
/// Built once per input under `target/fixtures/pause-<digest>` (keyed by
/// the catatonit binary, the note and this recipe's version) and reused.
pub fn pause_layout(note: &str) -> PathBuf {
    require("umoci");
    let cat = fs::read(CATATONIT).unwrap_or_else(|e| {
        panic!("{CATATONIT}: {e}: the catatonit package is not installed: run scripts/install-deps")
    });
    let key = {
        let mut input = b"pause-recipe-1\0".to_vec();
        input.extend(note.as_bytes());
        input.push(0);
        input.extend(&cat);
        let out = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(&input)?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8_lossy(&out.stdout)[..16].to_owned()
    };
    let fixtures = crate::target_dir().join("fixtures");
    let done = fixtures.join(format!("pause-{key}"));
    if done.join("index.json").exists() {
        return done;
    }
    fs::create_dir_all(&fixtures).unwrap();
    let work = tempfile::tempdir_in(&fixtures).unwrap();
    let img = work.path().join("layout").display().to_string();
    let bundle = work.path().join("bundle").display().to_string();
    let rootless: &[&str] = if is_root() { &[] } else { &["--rootless"] };
    run(&mut umoci(&["init", "--layout", &img]));
    run(&mut umoci(&["new", "--image", &format!("{img}:pause")]));
    run(umoci(&["unpack"])
        .args(rootless)
        .args(["--image", &format!("{img}:pause"), &bundle]));
    let rootfs = work.path().join("bundle/rootfs");
    fs::copy(CATATONIT, rootfs.join("pause")).unwrap();
    if !note.is_empty() {
        fs::write(rootfs.join("note"), note).unwrap();
    }
    run(umoci(&["repack"])
        .args(rootless)
        .args(["--image", &format!("{img}:pause"), &bundle]));
    run(&mut umoci(&[
        "config",
        "--image",
        &format!("{img}:pause"),
        "--clear=config.env",
        "--clear=config.cmd",
        "--config.entrypoint",
        "/pause",
        "--config.entrypoint",
        "-P",
        "--config.user",
        "65535:65535",
    ]));
    // umoci's history and times make every build differ; the layout is
    // kept as built, and whoever races us loses the rename harmlessly.
    let _ = fs::rename(work.path().join("layout"), &done);
    done
}
