//! A private containerd for the shim tests: Debian's 1.6.20 (the system's
//! `containerd`/`ctr`), or Debian sid's 2.1 extracted by
//! `scripts/sid-package containerd` (never installed, never in the
//! system's apt sources), each with its own configuration, root, state,
//! sockets and log under a directory of the test's, CRI off.
//!
//! [`Containerd`] finds `containerd-shim-cerro-v1` for containerd on its
//! `PATH` (as an operator's /usr/local/bin would); the shim finds
//! `cerro-runtime` beside itself. It cleans up after itself on drop, also
//! after a failed assertion: the daemon, any shim it left, containers the
//! runtime still holds, mounts under the directory, and the shim sockets
//! it added to containerd's global `/run/containerd/s/`.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{bin, require, run};

/// Which containerd a test runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flavour {
    /// Debian 12's containerd 1.6.20 (`/usr/bin/containerd`, `ctr`); its
    /// configuration is `version = 2`.
    System,
    /// Debian sid's containerd 2.x, extracted under `root` (`usr/bin/`);
    /// its configuration is `version = 3`.
    Sid {
        /// The extracted package's root directory.
        root: PathBuf,
    },
}

impl Flavour {
    /// Debian sid's containerd, fetched and extracted once per machine by
    /// `scripts/sid-package containerd` (cached by version), or `None` with
    /// the reason printed when it cannot be had here (no network, no sid on
    /// the mirror): the tests that need it then skip, saying so.
    pub fn sid() -> Option<Flavour> {
        static SID: OnceLock<Result<PathBuf, String>> = OnceLock::new();
        let got = SID.get_or_init(|| {
            let root = crate::sid::sid_package("containerd")?;
            assert!(
                root.join("usr/bin/containerd").is_file(),
                "{} has no usr/bin/containerd",
                root.display()
            );
            Ok(root)
        });
        match got {
            Ok(root) => Some(Flavour::Sid { root: root.clone() }),
            Err(why) => {
                eprintln!("SKIP: Debian sid's containerd 2.x cannot be had here: {why}");
                None
            }
        }
    }

    /// The daemon's binary.
    pub fn containerd(&self) -> PathBuf {
        match self {
            Flavour::System => PathBuf::from("containerd"),
            Flavour::Sid { root } => root.join("usr/bin/containerd"),
        }
    }

    /// The `ctr` of the same release.
    pub fn ctr(&self) -> PathBuf {
        match self {
            Flavour::System => PathBuf::from("ctr"),
            Flavour::Sid { root } => root.join("usr/bin/ctr"),
        }
    }

    /// A `PATH` whose `ctr` is this flavour's (for `ct load --into
    /// containerd`, which runs `ctr`).
    pub fn path_env(&self) -> OsString {
        let rest = std::env::var_os("PATH").unwrap_or_default();
        match self {
            Flavour::System => rest,
            Flavour::Sid { root } => {
                let mut dirs = vec![root.join("usr/bin")];
                dirs.extend(std::env::split_paths(&rest));
                std::env::join_paths(dirs).unwrap()
            }
        }
    }

    /// The daemon's configuration for directory `d`: root, state, sockets
    /// and `opt` under `d`, CRI disabled.
    pub fn config(&self, d: &Path) -> String {
        let d = d.display();
        match self {
            Flavour::System => format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{d}/containerd.sock\"\n\
                 [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n"
            ),
            // 2.x splits CRI into several plugins; the image verifiers' bin
            // directory (default /opt/containerd/image-verifier/bin) is
            // `d/image-verifiers`: a test that wants a verifier puts it there.
            Flavour::Sid { .. } => format!(
                "version = 3\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.cri.v1.runtime\", \
                 \"io.containerd.cri.v1.images\", \"io.containerd.podsandbox.controller.v1.podsandbox\"]\n\
                 [grpc]\n  address = \"{d}/containerd.sock\"\n\
                 [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
                 [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{d}/opt\"\n\
                 [plugins.\"io.containerd.image-verifier.v1.bindir\"]\n  bin_dir = \"{d}/image-verifiers\"\n"
            ),
        }
    }

    /// `"containerd 1.6"` or `"containerd 2.x"`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Flavour::System => "containerd 1.6 (Debian 12)",
            Flavour::Sid { .. } => "containerd 2.x (Debian sid)",
        }
    }
}

/// Where containerd 1.6 keeps shim sockets, whatever its root.
const SHIM_SOCKETS: &str = "/run/containerd/s";

/// The shim sockets present now (compared before and after a daemon's run).
pub(crate) fn shim_sockets() -> BTreeSet<OsString> {
    fs::read_dir(SHIM_SOCKETS)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default()
}

/// A private containerd.
#[derive(Debug)]
pub struct Containerd {
    child: Child,
    /// The directory holding its root, state, sockets and log.
    pub dir: PathBuf,
    /// Its gRPC socket.
    pub socket: PathBuf,
    /// Which containerd it is.
    pub flavour: Flavour,
    sockets_before: BTreeSet<OsString>,
}

impl Containerd {
    /// Debian's containerd 1.6 under `dir`, the daemon's environment
    /// `env` (and so its shims').
    pub fn start(dir: &Path, env: &[(&str, &Path)]) -> Self {
        Self::start_with(dir, env, &Flavour::System, "")
    }

    /// containerd `flavour` under `dir` with `env`; `extra` is appended to
    /// its configuration (TOML of the flavour's config version).
    pub fn start_with(dir: &Path, env: &[(&str, &Path)], flavour: &Flavour, extra: &str) -> Self {
        if matches!(flavour, Flavour::System) {
            require("containerd");
            require("ctr");
        }
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        fs::write(&config, format!("{}{extra}", flavour.config(dir))).unwrap();
        let (child, sockets_before) = spawn_daemon(flavour, dir, &config, env);
        let c = Containerd {
            child,
            dir: dir.to_path_buf(),
            socket,
            flavour: flavour.clone(),
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

    pub fn ctr(&self) -> Command {
        let mut c = Command::new(self.flavour.ctr());
        c.arg("--address").arg(&self.socket);
        c
    }

    /// `ctr run --rm --runtime io.cerro.v1 IMAGE ID /bin/busybox echo WORD`,
    /// bounded in time so a hang fails the test instead of stalling it.
    pub fn run_image(&self, image: &str, id: &str, word: &str, extra: &[&str]) -> Output {
        let mut c = Command::new("timeout");
        c.arg("120")
            .arg(self.flavour.ctr())
            .arg("--address")
            .arg(&self.socket)
            .args(["run", "--rm", "--runtime", "io.cerro.v1", "--fifo-dir"])
            .arg(self.dir.join("fifo"))
            .args(extra)
            .args([image, id, "/bin/busybox", "echo", word])
            .stdin(Stdio::null());
        c.output().unwrap()
    }

    /// `ctr ARGS…` bounded in time, stdin from `input`.
    pub fn ctr_timed(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write as _;
        let mut c = Command::new("timeout");
        c.arg("60")
            .arg(self.flavour.ctr())
            .arg("--address")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    /// `ctr task exec --exec-id EXEC_ID ID CMD…`, stdin from `input`.
    pub fn exec(&self, id: &str, exec_id: &str, cmd: &[&str], input: &[u8]) -> Output {
        let fifo = self.dir.join("fifo").display().to_string();
        let mut args = vec!["task", "exec", "--fifo-dir", &fifo, "--exec-id", exec_id, id];
        args.extend(cmd);
        self.ctr_timed(&args, input)
    }

    /// `ctr ARGS…` with a terminal of `rows`×`cols` (util-linux `script`
    /// gives it one; ctr refuses `-t` otherwise), bounded in time.
    ///
    /// `timeout --foreground`: a plain `timeout` moves ctr into a process
    /// group of its own, which is not the terminal's foreground group, so
    /// ctr's switch to raw mode stops it (SIGTTOU) and it hangs until the
    /// timeout. Whether that bites depended on the caller's `$SHELL` (the
    /// shell `script` runs the command with): it passed with bash, hung
    /// with sh or no `SHELL` at all, as under CI. `SHELL` is set here so
    /// the test does not depend on who runs it.
    pub fn ctr_on_a_terminal(&self, args: &[&str], rows: u16, cols: u16) -> Output {
        require("script");
        let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
        let file = self.dir.join(format!("tty-{rows}x{cols}.sh"));
        fs::write(
            &file,
            format!(
                "stty rows {rows} cols {cols}\nexec timeout --foreground 60 '{}' --address '{}' {}\n",
                self.flavour.ctr().display(),
                self.socket.display(),
                quoted.join(" ")
            ),
        )
        .unwrap();
        let mut child = Command::new("timeout")
            .args(["90", "script", "--quiet", "--return", "--command"])
            .arg(format!("sh {}", file.display()))
            .arg("/dev/null")
            .env("SHELL", "/bin/sh")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Keep script's input open (no end-of-file typed at ctr) until it is done.
        let stdin = child.stdin.take();
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        out
    }

    /// The status column of `ctr task ls` for task `id`.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let out = run(self.ctr().args(["task", "ls"]));
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.first() == Some(&id)).then(|| cols.last().unwrap_or(&"").to_string())
        })
    }

    /// The pids `ctr task ps` lists for task `id`.
    pub fn task_pids(&self, id: &str) -> Vec<u32> {
        let out = run(self.ctr().args(["task", "ps", id]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// Waits (10 s at most) until `check` holds.
    pub fn until(&self, what: &str, check: impl Fn() -> bool) {
        let t0 = Instant::now();
        while !check() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "timed out: {what}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// Calls containerd's gRPC method `method` (`/package.Service/Method`)
    /// in namespace `default` with the encoded request `message`, over
    /// HTTP/2 on the unix socket (curl); the answer's `grpc-status` and
    /// `grpc-message`.
    pub fn grpc(&self, method: &str, message: &[u8]) -> (u32, String) {
        require("curl");
        let mut body = vec![0u8];
        body.extend((message.len() as u32).to_be_bytes());
        body.extend(message);
        let (req, headers) = (self.dir.join("grpc.req"), self.dir.join("grpc.headers"));
        fs::write(&req, body).unwrap();
        let out = Command::new("timeout")
            .args([
                "60",
                "curl",
                "--silent",
                "--show-error",
                "--http2-prior-knowledge",
                "--unix-socket",
            ])
            .arg(&self.socket)
            .args([
                "-H",
                "content-type: application/grpc",
                "-H",
                "te: trailers",
                "-H",
                "containerd-namespace: default",
                "--output",
                "/dev/null",
                "--dump-header",
            ])
            .arg(&headers)
            .arg("--data-binary")
            .arg(format!("@{}", req.display()))
            .arg(format!("http://containerd{method}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl: {}", text(&out));
        // Headers and trailers: the status is in one of them.
        let h = fs::read_to_string(&headers).unwrap();
        let field = |name: &str| {
            h.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| percent_decode(v.trim()))
        };
        let code = field("grpc-status:")
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no grpc-status in:\n{h}"));
        (code, field("grpc-message:").unwrap_or_default())
    }

    /// containerd's Tasks/Update of task `id` with `resources`, an OCI
    /// `LinuxResources` encoded as containerd's Go client does (`typeurl`:
    /// JSON under the type URL it registers).
    pub fn update_task(&self, id: &str, resources: &str) -> (u32, String) {
        let mut any = proto_field(1, b"types.containerd.io/opencontainers/runtime-spec/1/LinuxResources");
        any.extend(proto_field(2, resources.as_bytes()));
        let mut req = proto_field(1, id.as_bytes());
        req.extend(proto_field(2, &any));
        self.grpc("/containerd.services.tasks.v1.Tasks/Update", &req)
    }
}

/// One length-delimited protobuf field.
pub fn proto_field(number: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for mut v in [u64::from(number << 3 | 2), data.len() as u64] {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    out.extend(data);
    out
}

/// `grpc-message` is percent-encoded.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for Containerd {
    fn drop(&mut self) {
        tear_down(&mut self.child, &self.socket, &self.dir, &self.sockets_before);
    }
}

/// Starts `flavour`'s containerd with `config`, logging to
/// `dir/containerd.log`, with `env` (and so its shims'). containerd finds
/// `containerd-shim-cerro-v1` on its PATH, as it would in /usr/local/bin;
/// the shim finds `cerro-runtime` beside itself. Returns the daemon and the
/// shim sockets present before it (for [`tear_down`]).
pub(crate) fn spawn_daemon(
    flavour: &Flavour,
    dir: &Path,
    config: &Path,
    env: &[(&str, &Path)],
) -> (Child, BTreeSet<OsString>) {
    let shim = bin("containerd-shim-cerro-v1");
    bin("cerro-runtime");
    let path = format!(
        "{}:{}",
        shim.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = fs::File::create(dir.join("containerd.log")).unwrap();
    let sockets_before = shim_sockets();
    let mut cmd = Command::new(flavour.containerd());
    cmd.arg("--config")
        .arg(config)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd.spawn().expect("start containerd"), sockets_before)
}

/// Stops a private containerd (CRI's or the plain one) and removes what a
/// failed run may have left behind: our shims (they name our socket),
/// containers still known to `cerro-runtime` under `dir/runtime` (their
/// processes would outlive the test, in cgroups the next run uses again),
/// mounts under `dir` (rootfs, snapshots, a sandbox's /dev/shm), and the
/// shim sockets that appeared since `sockets_before`.
pub(crate) fn tear_down(child: &mut Child, socket: &Path, dir: &Path, sockets_before: &BTreeSet<OsString>) {
    let _ = child.kill();
    let _ = child.wait();
    let ours = format!("-address\0{}", socket.display());
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
    let root = dir.join("runtime");
    for id in fs::read_dir(&root)
        .map(|d| d.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let _ = Command::new(bin("cerro-runtime"))
            .arg("--root")
            .arg(&root)
            .args(["delete", "--force"])
            .arg(id.file_name())
            .output();
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.display().to_string();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    points.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in points {
        let _ = Command::new("umount").args(["-l", m]).status();
    }
    // Shim sockets are global (/run/containerd/s) and tests run side by
    // side: remove only the stale ones that appeared during this run (no
    // shim answers on them: ours, just killed). A live one is another
    // test's shim; removing it would make its pod's next `start` spawn a
    // second shim instead of finding the pod's one.
    for s in shim_sockets().difference(sockets_before) {
        let path = Path::new(SHIM_SOCKETS).join(s);
        if std::os::unix::net::UnixStream::connect(&path).is_err() {
            let _ = fs::remove_file(&path);
        }
    }
}

/// stdout then stderr, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
