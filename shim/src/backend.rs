//! The container backend: what creates, starts, signals, pauses, updates
//! and deletes a container once the decision allowed it, and reads its
//! cgroup's metrics. Behind a trait so the task logic
//! is tested without containers, and so another backend (runc, a zygote)
//! can replace `cerro-runtime` without touching the decision.
//!
//! [`CommandRuntime`] drives the `cerro-runtime` binary (libcontainer) the
//! way containerd's runc shim drives runc: one short-lived, single-threaded
//! process per operation. The container's init is re-parented to the shim
//! (a child subreaper), whose reaper reports its exit; so is a process
//! started by `cerro-runtime exec --detach`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio as ProcStdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::cgroup::{Cgroup, Metrics};
use crate::console::{Console, ConsoleSocket};
use crate::error::ShimError;
use crate::exec::ExecId;
use crate::host::{self, Host, SystemHost};
use crate::settings::RuntimeBinary;

/// One mount of a task's root file system (containerd's `Mount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    /// File system type (`overlay`, `bind`, …).
    pub fs_type: String,
    /// Source.
    pub source: String,
    /// Options (`lowerdir=…`, `rbind`, `ro`, …).
    pub options: Vec<String>,
}

/// A task's standard streams as containerd names them (FIFO paths, or
/// `file://` URIs); empty means none.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stdio {
    /// Standard input.
    pub stdin: String,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// A terminal was asked for (`ctr run -t`).
    pub terminal: bool,
}

/// What the backend needs to create a container.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// Container id.
    pub id: &'a str,
    /// The OCI bundle (`config.json`; the root file system goes in `rootfs/`).
    pub bundle: &'a Path,
    /// The root file system's mounts (empty: `rootfs/` is already there).
    pub rootfs: &'a [Mount],
    /// Streams.
    pub stdio: &'a Stdio,
    /// The runtime binary to use.
    pub runtime: &'a RuntimeBinary,
    /// The decision's proof that this container may start: a backend
    /// cannot be asked to create a container nobody decided on.
    pub admission: &'a cerro_enforce::Admission,
    /// With a terminal (`stdio.terminal`): the console socket the
    /// runtime's process sends the pty master to. The caller listens on
    /// it and receives the master once `create` returned (the task table,
    /// in the long-lived shim, which copies the terminal; the create
    /// itself may run in a short-lived process, `create.rs`).
    pub console: Option<&'a Path>,
}

/// What the backend needs to exec a process in a running container.
#[derive(Debug, Clone)]
pub struct ExecSpec<'a> {
    /// Container id.
    pub id: &'a str,
    /// The exec id (checked: safe in a file name).
    pub exec_id: &'a ExecId,
    /// The container's bundle (the process spec and pid file go there).
    pub bundle: &'a Path,
    /// The OCI `process` object, JSON.
    pub process: &'a [u8],
    /// Streams.
    pub stdio: &'a Stdio,
    /// The runtime binary to use.
    pub runtime: &'a RuntimeBinary,
}

/// A process the backend started.
#[derive(Debug)]
pub struct Started {
    /// Its pid.
    pub pid: u32,
    /// Its terminal, when one was asked for (`Stdio::terminal`).
    pub console: Option<Console>,
}

impl Started {
    /// A process without a terminal.
    pub fn pid(pid: u32) -> Self {
        Started { pid, console: None }
    }
}

/// Creates and runs containers. Called only after the decision allowed.
pub trait Backend: Send + Sync {
    /// Creates the container (its init waits for [`Backend::start`]) and
    /// returns the init's pid. A terminal's master goes to `spec.console`.
    fn create(&self, spec: &Spec<'_>) -> Result<u32, ShimError>;
    /// Lets the init run the container's process.
    fn start(&self, runtime: &RuntimeBinary, id: &str) -> Result<(), ShimError>;
    /// Starts one more process in the running container; returns it (its
    /// pid, its terminal if asked for) once it runs. Its exit reaches the
    /// shim's reaper like the init's.
    fn exec(&self, spec: &ExecSpec<'_>) -> Result<Started, ShimError>;
    /// Sends `signal` to one process (an exec'd one), as runc's shim does.
    fn signal(&self, pid: u32, signal: u32) -> Result<(), ShimError>;
    /// Sends `signal` to the init (or with `all`, to every process).
    fn kill(&self, runtime: &RuntimeBinary, id: &str, signal: u32, all: bool) -> Result<(), ShimError>;
    /// Deletes the container (killing what is left) and unmounts its root
    /// file system. Succeeds if there is nothing to delete.
    fn delete(&self, runtime: &RuntimeBinary, id: &str, bundle: &Path) -> Result<(), ShimError>;
    /// Freezes every process of the running container.
    fn pause(&self, runtime: &RuntimeBinary, id: &str) -> Result<(), ShimError> {
        let _ = (runtime, id);
        Err(ShimError::Unimplemented("pause".into()))
    }
    /// Thaws the paused container.
    fn resume(&self, runtime: &RuntimeBinary, id: &str) -> Result<(), ShimError> {
        let _ = (runtime, id);
        Err(ShimError::Unimplemented("resume".into()))
    }
    /// Applies `resources` (an OCI `linux.resources` object, JSON) to the
    /// container's cgroup; what cannot be applied is refused, naming it.
    fn update(&self, runtime: &RuntimeBinary, id: &str, bundle: &Path, resources: &[u8]) -> Result<(), ShimError> {
        let _ = (runtime, id, bundle, resources);
        Err(ShimError::Unimplemented("update".into()))
    }
    /// What the cgroup of the container whose init is `pid` has used.
    fn stats(&self, pid: u32) -> Result<Metrics, ShimError> {
        let _ = pid;
        Err(ShimError::Unimplemented("stats".into()))
    }
}

/// Opens the process's stdin FIFO `path` for the shim to hold until
/// `close_io`, as containerd's runc shim does: while the shim holds a
/// write end the process does not see end-of-file, whether the client has
/// opened its end yet or not; `close_io` (the client's stdin ended) drops
/// it. Opened read-write, which never blocks on a FIFO (the shim never
/// reads from it). `None` when there is no stdin or it is not a FIFO.
pub fn hold_stdin(path: &str) -> Result<Option<std::fs::File>, ShimError> {
    use std::os::unix::fs::FileTypeExt;
    if path.is_empty() {
        return Ok(None);
    }
    let meta = std::fs::metadata(path).map_err(|e| ShimError::io("opening stdin", path, e))?;
    if !meta.file_type().is_fifo() {
        return Ok(None);
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map(Some)
        .map_err(|e| ShimError::io("opening stdin", path, e))
}

/// How a finished command ended.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    /// Exit code (128 + signal if killed).
    pub code: i32,
    /// What it wrote on stdout.
    pub stdout: Vec<u8>,
    /// What it wrote on stderr.
    pub stderr: Vec<u8>,
}

/// Runs a command to completion. The shim's reaper collects every child
/// (it must, for the re-parented container inits), so a plain
/// `Command::output` could lose the exit status to it: the shim's
/// implementation waits for the reaper's report instead.
pub trait Spawner: Send + Sync {
    /// Runs `cmd` with piped stdout and stderr, returning when it exited.
    fn run(&self, cmd: Command) -> std::io::Result<Finished>;
}

/// Runs commands with `Command::output` (no reaper in this process: tests,
/// tools linking the library).
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainSpawner;

impl Spawner for PlainSpawner {
    fn run(&self, mut cmd: Command) -> std::io::Result<Finished> {
        let out = cmd.stdin(ProcStdio::null()).output()?;
        use std::os::unix::process::ExitStatusExt;
        let code = out
            .status
            .code()
            .or_else(|| out.status.signal().map(|s| 128 + s))
            .unwrap_or(-1);
        Ok(Finished {
            code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

/// How much of a runtime command's stdout and stderr is kept (its error
/// message, or `state`'s JSON); the rest is read and dropped, so the
/// command never blocks on a full pipe.
const MAX_OUTPUT: u64 = 1 << 20;

/// Reads `r` to its end, keeping the first `cap` bytes.
fn read_capped(mut r: impl Read, cap: u64) -> Vec<u8> {
    let mut kept = Vec::new();
    let _ = r.by_ref().take(cap).read_to_end(&mut kept);
    let _ = std::io::copy(&mut r, &mut std::io::sink());
    kept
}

/// Spawns `cmd` with piped output and reads it to the end (keeping at most
/// [`MAX_OUTPUT`] of each stream); the caller then learns the exit status
/// some other way (the reaper).
pub fn spawn_and_read(mut cmd: Command) -> std::io::Result<(u32, Vec<u8>, Vec<u8>)> {
    let mut child = cmd
        .stdin(ProcStdio::null())
        .stdout(ProcStdio::piped())
        .stderr(ProcStdio::piped())
        .spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let (out, err) = std::thread::scope(|s| {
        let reader = s.spawn(|| stderr.map(|e| read_capped(e, MAX_OUTPUT)).unwrap_or_default());
        let out = stdout.map(|o| read_capped(o, MAX_OUTPUT)).unwrap_or_default();
        (out, reader.join().unwrap_or_default())
    });
    // `child` is dropped without wait(): the reaper owns the exit status.
    Ok((pid, out, err))
}

/// The pid the runtime wrote to `pid_file` for `command`.
fn read_pid(pid_file: &Path, command: &str) -> Result<u32, ShimError> {
    // A pid is a few digits: a larger file is not one (read no more of it).
    let bytes = cerro_core::file::read_bounded(pid_file, 64, "a pid file").map_err(|e| match e {
        cerro_core::Error::Io { source, .. } => ShimError::io("reading", pid_file, source),
        other => ShimError::Runtime {
            command: command.into(),
            message: format!("{}: {other}", pid_file.display()),
        },
    })?;
    let text = String::from_utf8_lossy(&bytes);
    text.trim().parse().map_err(|_| ShimError::Runtime {
        command: command.into(),
        message: format!("{} holds no pid: {text:?}", pid_file.display()),
    })
}

/// The `cerro-runtime` binary (or any runtime with its command line).
#[derive(Clone)]
pub struct CommandRuntime {
    spawner: Arc<dyn Spawner>,
    /// Mounts, signals and cgroup reads go through it.
    host: Arc<dyn Host>,
}

impl std::fmt::Debug for CommandRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRuntime").finish_non_exhaustive()
    }
}

impl CommandRuntime {
    /// Runs the runtime through `spawner`.
    pub fn new(spawner: Arc<dyn Spawner>) -> Self {
        CommandRuntime {
            spawner,
            host: Arc::new(SystemHost),
        }
    }

    /// The same, with its side effects on `host` instead of this machine.
    pub fn with_host(mut self, host: Arc<dyn Host>) -> Self {
        self.host = host;
        self
    }

    fn run(&self, rt: &RuntimeBinary, args: &[&str]) -> Result<Finished, ShimError> {
        let mut cmd = Command::new(&rt.path);
        cmd.arg("--root").arg(&rt.root).args(args);
        let line = format!("{} {}", rt.path.display(), args.join(" "));
        let f = self.spawner.run(cmd).map_err(|e| ShimError::Runtime {
            command: line.clone(),
            message: e.to_string(),
        })?;
        if f.code != 0 {
            let msg = String::from_utf8_lossy(&f.stderr).trim().to_owned();
            return Err(ShimError::Runtime {
                command: line,
                message: if msg.is_empty() {
                    format!("exit {}", f.code)
                } else {
                    msg
                },
            });
        }
        Ok(f)
    }

    /// Adds the stream arguments: the FIFOs, or with a terminal the
    /// console socket (the pty then stands for all three).
    fn stdio_args<'a>(args: &mut Vec<&'a str>, stdio: &'a Stdio, console: Option<&'a str>) {
        if let Some(socket) = console {
            args.extend(["--console-socket", socket]);
            return;
        }
        // Every stream named: a stream not given is /dev/null, never the
        // runtime's own (it passes its stdio through when a flag is
        // missing, as runc; its stdout is the pipe the shim reads to the end).
        for (flag, v) in [
            ("--stdin", &stdio.stdin),
            ("--stdout", &stdio.stdout),
            ("--stderr", &stdio.stderr),
        ] {
            args.push(flag);
            args.push(if v.is_empty() { "/dev/null" } else { v });
        }
    }
}

/// A console socket when `stdio` asks for a terminal.
pub(crate) fn console_socket(stdio: &Stdio) -> Result<Option<(ConsoleSocket, String)>, ShimError> {
    if !stdio.terminal {
        return Ok(None);
    }
    let s = ConsoleSocket::new()?;
    let path = s.path().display().to_string();
    Ok(Some((s, path)))
}

/// The terminal the runtime's process sent on `socket`, copying to and
/// from the FIFOs.
pub(crate) fn receive_console(
    socket: Option<(ConsoleSocket, String)>,
    stdio: &Stdio,
) -> Result<Option<Console>, ShimError> {
    match socket {
        None => Ok(None),
        Some((s, _)) => Console::start(s.receive()?, stdio).map(Some),
    }
}

impl Backend for CommandRuntime {
    fn create(&self, s: &Spec<'_>) -> Result<u32, ShimError> {
        if s.stdio.terminal != s.console.is_some() {
            return Err(ShimError::InvalidArgument(format!(
                "container {}: a terminal needs a console socket and only a terminal has one",
                s.id
            )));
        }
        let rootfs = s.bundle.join("rootfs");
        if !s.rootfs.is_empty() {
            if let Err(e) = host::mount_rootfs(&*self.host, s.rootfs, &rootfs) {
                // Take down the mounts that did succeed.
                let _ = host::unmount_rootfs(&*self.host, &rootfs);
                return Err(e);
            }
        }
        let pid_file = s.bundle.join("init.pid");
        let bundle = s.bundle.display().to_string();
        let pid_arg = pid_file.display().to_string();
        let socket = s.console.map(|p| p.display().to_string());
        let mut args = vec!["create", "--bundle", &bundle, "--pid-file", &pid_arg];
        Self::stdio_args(&mut args, s.stdio, socket.as_deref());
        args.push(s.id);
        if let Err(e) = self.run(s.runtime, &args) {
            let _ = host::unmount_rootfs(&*self.host, &rootfs);
            return Err(e);
        }
        let created = read_pid(&pid_file, "create");
        if created.is_err() {
            // Created, but not usable: take it down again.
            let _ = self.delete(s.runtime, s.id, s.bundle);
        }
        created
    }

    fn start(&self, rt: &RuntimeBinary, id: &str) -> Result<(), ShimError> {
        self.run(rt, &["start", id]).map(drop)
    }

    fn exec(&self, s: &ExecSpec<'_>) -> Result<Started, ShimError> {
        let socket = console_socket(s.stdio)?;
        let process = s.bundle.join(format!("exec.{}.json", s.exec_id));
        let pid_file = s.bundle.join(format!("exec.{}.pid", s.exec_id));
        std::fs::write(&process, s.process).map_err(|e| ShimError::io("writing", &process, e))?;
        let process_arg = process.display().to_string();
        let pid_arg = pid_file.display().to_string();
        let mut args = vec!["exec", "--process", &process_arg, "--pid-file", &pid_arg, "--detach"];
        Self::stdio_args(&mut args, s.stdio, socket.as_ref().map(|c| c.1.as_str()));
        args.push(s.id);
        let ran = self.run(s.runtime, &args);
        let _ = std::fs::remove_file(&process);
        let pid = ran.and_then(|_| read_pid(&pid_file, "exec"));
        let _ = std::fs::remove_file(&pid_file);
        let pid = pid?;
        match receive_console(socket, s.stdio) {
            Ok(console) => Ok(Started { pid, console }),
            Err(e) => {
                // It runs, but nobody could talk to it: do not leave it.
                let _ = host::signal(&*self.host, pid, 9);
                Err(e)
            }
        }
    }

    fn signal(&self, pid: u32, signal: u32) -> Result<(), ShimError> {
        host::signal(&*self.host, pid, signal)
    }

    fn kill(&self, rt: &RuntimeBinary, id: &str, signal: u32, all: bool) -> Result<(), ShimError> {
        let sig = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, &sig]);
        self.run(rt, &args).map(drop)
    }

    fn pause(&self, rt: &RuntimeBinary, id: &str) -> Result<(), ShimError> {
        self.run(rt, &["pause", id]).map(drop)
    }

    fn resume(&self, rt: &RuntimeBinary, id: &str) -> Result<(), ShimError> {
        self.run(rt, &["resume", id]).map(drop)
    }

    fn update(&self, rt: &RuntimeBinary, id: &str, bundle: &Path, resources: &[u8]) -> Result<(), ShimError> {
        // One file a call: updates may overlap.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let file = bundle.join(format!("update.{n}.json"));
        std::fs::write(&file, resources).map_err(|e| ShimError::io("writing", &file, e))?;
        let arg = file.display().to_string();
        let ran = self.run(rt, &["update", "--resources", &arg, id]).map(drop);
        let _ = std::fs::remove_file(&file);
        ran
    }

    fn stats(&self, pid: u32) -> Result<Metrics, ShimError> {
        Cgroup::of_pid(&*self.host, pid)?.metrics(&*self.host)
    }

    fn delete(&self, rt: &RuntimeBinary, id: &str, bundle: &Path) -> Result<(), ShimError> {
        let r = self.run(rt, &["delete", "--force", id]).map(drop);
        // Unmount even if the runtime failed: a leaked overlay keeps the
        // snapshot busy and containerd's cleanup fails after it.
        let u = host::unmount_rootfs(&*self.host, &bundle.join("rootfs"));
        r.and(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::RecordingHost;

    /// What a decision hands the backend (tests of the backend alone).
    fn test_admission() -> cerro_enforce::Admission {
        cerro_enforce::Admission::for_tests(cerro_enforce::Confinement::Unconfined { reason: "test".into() })
    }

    /// A fake runtime: a shell script that logs its arguments and writes a pid.
    ///
    /// The executable is written by a child (`install`), never opened for
    /// writing by this process: a test on another thread that forks while
    /// this process holds a write descriptor would make exec'ing the script
    /// fail with ETXTBSY ("Text file busy") until that child execs.
    fn script(dir: &Path, body: &str) -> RuntimeBinary {
        let path = dir.join("rt");
        let text = dir.join("rt.txt");
        std::fs::write(
            &text,
            format!("#!/bin/sh\necho \"$@\" >> {}/args\n{body}\n", dir.display()),
        )
        .unwrap();
        let st = std::process::Command::new("install")
            .arg("-m")
            .arg("0755")
            .arg(&text)
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success(), "install {}", path.display());
        RuntimeBinary {
            path,
            root: dir.join("state"),
        }
    }

    #[test]
    fn drives_the_runtime_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        let rt = script(
            dir.path(),
            &format!(
                "case $3 in create) echo 4242 > {b}/init.pid;; update) cp \"$5\" {b}/seen-update.json;; esac",
                b = bundle.display()
            ),
        );
        let b = CommandRuntime::new(Arc::new(PlainSpawner));
        let stdio = Stdio {
            stdout: "/run/fifo/out".into(),
            ..Default::default()
        };
        let pid = b
            .create(&Spec {
                id: "c1",
                bundle: &bundle,
                rootfs: &[],
                stdio: &stdio,
                runtime: &rt,
                admission: &test_admission(),
                console: None,
            })
            .unwrap();
        assert_eq!(pid, 4242);
        b.start(&rt, "c1").unwrap();
        b.pause(&rt, "c1").unwrap();
        b.resume(&rt, "c1").unwrap();
        b.update(&rt, "c1", &bundle, br#"{"memory":{"limit":64000000}}"#)
            .unwrap();
        b.kill(&rt, "c1", 9, true).unwrap();
        b.delete(&rt, "c1", &bundle).unwrap();
        // The resources reached the runtime, and their file is gone.
        assert_eq!(
            std::fs::read(bundle.join("seen-update.json")).unwrap(),
            br#"{"memory":{"limit":64000000}}"#
        );
        assert!(!bundle.join("update.0.json").exists());
        let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
        let root = rt.root.display();
        let lines: Vec<&str> = args.lines().collect();
        assert_eq!(
            lines,
            [
                format!(
                    "--root {root} create --bundle {} --pid-file {}/init.pid --stdin /dev/null --stdout /run/fifo/out --stderr /dev/null c1",
                    bundle.display(),
                    bundle.display()
                ),
                format!("--root {root} start c1"),
                format!("--root {root} pause c1"),
                format!("--root {root} resume c1"),
                format!("--root {root} update --resources {}/update.0.json c1", bundle.display()),
                format!("--root {root} kill --all c1 9"),
                format!("--root {root} delete --force c1"),
            ]
        );
    }

    #[test]
    fn exec_writes_the_process_spec_and_reads_the_pid_like_runc_exec() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        let d = dir.path().display();
        let rt = script(
            dir.path(),
            &format!("case $3 in exec) cp \"$5\" {d}/seen.json; echo 4343 > \"$7\";; esac"),
        );
        let exec_id = ExecId::parse("e1").unwrap();
        let stdio = Stdio {
            stdin: "/run/fifo/e1-in".into(),
            stdout: "/run/fifo/e1-out".into(),
            ..Default::default()
        };
        let spec = br#"{"args":["sh","-c","exit 7"]}"#;
        let pid = CommandRuntime::new(Arc::new(PlainSpawner))
            .exec(&ExecSpec {
                id: "c1",
                exec_id: &exec_id,
                bundle: &bundle,
                process: spec,
                stdio: &stdio,
                runtime: &rt,
            })
            .unwrap()
            .pid;
        assert_eq!(pid, 4343);
        let b = bundle.display();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("args")).unwrap().trim(),
            format!(
                "--root {} exec --process {b}/exec.e1.json --pid-file {b}/exec.e1.pid --detach \
                 --stdin /run/fifo/e1-in --stdout /run/fifo/e1-out --stderr /dev/null c1",
                rt.root.display()
            )
        );
        assert_eq!(std::fs::read(dir.path().join("seen.json")).unwrap(), spec);
        // Neither file outlives the call.
        assert!(!bundle.join("exec.e1.json").exists() && !bundle.join("exec.e1.pid").exists());
        // A failed exec reports the runtime's words and leaves nothing either.
        let rt = script(dir.path(), "echo 'container c1 is stopped, not running' >&2; exit 1");
        let e = CommandRuntime::new(Arc::new(PlainSpawner))
            .exec(&ExecSpec {
                id: "c1",
                exec_id: &exec_id,
                bundle: &bundle,
                process: spec,
                stdio: &stdio,
                runtime: &rt,
            })
            .unwrap_err();
        assert!(e.to_string().contains("is stopped, not running"), "{e}");
        assert!(!bundle.join("exec.e1.json").exists());
    }

    #[test]
    fn hold_stdin_only_holds_fifos() {
        let dir = tempfile::tempdir().unwrap();
        assert!(hold_stdin("").unwrap().is_none());
        let file = dir.path().join("plain");
        std::fs::write(&file, b"").unwrap();
        assert!(hold_stdin(&file.display().to_string()).unwrap().is_none());
        let fifo = dir.path().join("fifo");
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // Opening does not wait for a peer.
        assert!(hold_stdin(&fifo.display().to_string()).unwrap().is_some());
        assert!(hold_stdin(&dir.path().join("missing").display().to_string()).is_err());
    }

    #[test]
    fn a_pid_file_that_holds_no_pid_fails_the_create() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        let b = bundle.display();
        for (body, want) in [
            (
                format!("printf '%0100d' 7 > {b}/init.pid"),
                "larger than the 64-byte limit",
            ),
            (format!("echo nope > {b}/init.pid"), "holds no pid"),
        ] {
            let rt = script(dir.path(), &format!("case $3 in create) {body};; esac"));
            let e = CommandRuntime::new(Arc::new(PlainSpawner))
                .create(&Spec {
                    id: "c1",
                    bundle: &bundle,
                    rootfs: &[],
                    stdio: &Stdio::default(),
                    runtime: &rt,
                    admission: &test_admission(),
                    console: None,
                })
                .unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
            // Created but unusable: taken down again.
            let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
            assert!(args.lines().last().unwrap().ends_with("delete --force c1"), "{args}");
        }
    }

    #[test]
    fn a_failing_runtime_reports_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let rt = script(dir.path(), "echo 'no such container' >&2; exit 3");
        let e = CommandRuntime::new(Arc::new(PlainSpawner))
            .start(&rt, "c9")
            .unwrap_err();
        assert!(e.to_string().contains("no such container"), "{e}");
    }

    /// A runtime that, for create, sends a pty master to its console
    /// socket as libcontainer's init does (python's `socket.send_fds`)
    /// and prints `hello` on the pty; with `silent`, sends nothing.
    fn pty_runtime(dir: &Path, bundle: &Path, silent: bool) -> RuntimeBinary {
        let send = if silent {
            String::new()
        } else {
            "python3 -c 'import os,pty,socket,sys\n\
             m,s=pty.openpty(); os.write(s,b\"hello\\n\")\n\
             c=socket.socket(socket.AF_UNIX); c.connect(sys.argv[1]); socket.send_fds(c,[b\"/dev/ptmx\"],[m])' \"$9\""
                .to_owned()
        };
        script(
            dir,
            &format!(
                "case $3 in create) echo 4242 > {}/init.pid; {send};; esac",
                bundle.display()
            ),
        )
    }

    #[test]
    fn a_terminal_comes_through_the_console_socket() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        let out = dir.path().join("out");
        let stdio = Stdio {
            stdout: format!("file://{}", out.display()),
            stdin: "/run/fifo/unused-in".into(),
            terminal: true,
            ..Default::default()
        };
        let socket = ConsoleSocket::new().unwrap();
        let spec = Spec {
            id: "c1",
            bundle: &bundle,
            rootfs: &[],
            stdio: &stdio,
            runtime: &pty_runtime(dir.path(), &bundle, false),
            admission: &test_admission(),
            console: Some(socket.path()),
        };
        let pid = CommandRuntime::new(Arc::new(PlainSpawner)).create(&spec).unwrap();
        assert_eq!(pid, 4242);
        // The caller receives the master once create returned.
        let console = Console::start(socket.receive().unwrap(), &stdio).unwrap();
        console.resize(80, 24).unwrap();
        let t0 = std::time::Instant::now();
        while !std::fs::read_to_string(&out).unwrap_or_default().contains("hello") {
            assert!(t0.elapsed() < std::time::Duration::from_secs(5), "no output copied");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // The pty stands for the streams: a console socket, no FIFOs.
        let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
        let line = args.lines().next().unwrap();
        assert!(
            line.contains(" --console-socket /") && line.ends_with("/pty.sock c1"),
            "{line}"
        );
        assert!(!line.contains("--stdin") && !line.contains("--stdout"), "{line}");

        // A terminal without a console socket (and a socket without a
        // terminal) is refused before the runtime runs.
        let (d2, b2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let rt = pty_runtime(d2.path(), b2.path(), true);
        let plain = Stdio::default();
        for (stdio, console) in [(&stdio, None), (&plain, Some(socket.path()))] {
            let e = CommandRuntime::new(Arc::new(PlainSpawner))
                .create(&Spec {
                    bundle: b2.path(),
                    runtime: &rt,
                    admission: &test_admission(),
                    stdio,
                    console,
                    ..spec.clone()
                })
                .unwrap_err();
            assert!(matches!(e, ShimError::InvalidArgument(_)), "{e}");
        }
        assert!(!d2.path().join("args").exists(), "the runtime ran");
    }

    fn overlay(lower: &str) -> Mount {
        Mount {
            fs_type: "overlay".into(),
            source: "overlay".into(),
            options: vec![format!("lowerdir={lower}")],
        }
    }

    #[test]
    fn the_root_file_system_is_mounted_in_order_and_always_taken_down() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        let rootfs = bundle.join("rootfs");
        let b = bundle.display();
        let r = rootfs.display();
        let ok = script(
            dir.path(),
            &format!("case $3 in create) echo 4242 > {b}/init.pid;; esac"),
        );
        let mounts = [overlay("/l1"), overlay("/l2")];
        let stdio = Stdio::default();
        let admission = test_admission();
        let spec = |rt| Spec {
            id: "c1",
            bundle: &bundle,
            rootfs: &mounts,
            stdio: &stdio,
            runtime: rt,
            admission: &admission,
            console: None,
        };
        // Mounted, in order, before the runtime runs; delete takes both down.
        let host = Arc::new(RecordingHost::new());
        let b2 = CommandRuntime::new(Arc::new(PlainSpawner)).with_host(host.clone());
        assert_eq!(b2.create(&spec(&ok)).unwrap(), 4242);
        assert_eq!(
            host.calls(),
            [
                format!("mkdir {r}"),
                format!("mount overlay overlay lowerdir=/l1 on {r}"),
                format!("mount overlay overlay lowerdir=/l2 on {r}"),
            ]
        );
        assert_eq!(host.mounted(&rootfs), 2);
        b2.delete(&ok, "c1", &bundle).unwrap();
        assert_eq!(host.mounted(&rootfs), 0);
        assert_eq!(
            host.calls()[3..],
            [format!("umount {r}"), format!("umount {r}"), format!("umount {r}")]
        );

        // The second mount fails: the first is taken down, the runtime never runs.
        let host = Arc::new(RecordingHost::new().failing_mounts_after(1));
        let b2 = CommandRuntime::new(Arc::new(PlainSpawner)).with_host(host.clone());
        std::fs::remove_file(dir.path().join("args")).unwrap();
        let e = b2.create(&spec(&ok)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("mounting the root file system on {r}")),
            "{e}"
        );
        assert_eq!(host.mounted(&rootfs), 0);
        assert!(!dir.path().join("args").exists());

        // The runtime fails: what was mounted is taken down.
        let host = Arc::new(RecordingHost::new());
        let b2 = CommandRuntime::new(Arc::new(PlainSpawner)).with_host(host.clone());
        let failing = script(dir.path(), "echo 'cannot create' >&2; exit 1");
        let e = b2.create(&spec(&failing)).unwrap_err();
        assert!(e.to_string().contains("cannot create"), "{e}");
        assert_eq!(host.mounted(&rootfs), 0);
        assert_eq!(host.calls().last().unwrap(), &format!("umount {r}"));
    }

    #[test]
    fn a_signal_goes_to_one_process_and_only_a_real_signal() {
        let host = Arc::new(RecordingHost::new());
        let b = CommandRuntime::new(Arc::new(PlainSpawner)).with_host(host.clone());
        b.signal(88, 15).unwrap();
        b.signal(88, 9).unwrap();
        for (pid, sig, want) in [
            (0, 9, "invalid request: pid 0"),
            (u32::MAX, 9, "invalid request: pid 4294967295"),
            (88, 0, "invalid request: signal 0"),
            (88, 999, "invalid request: signal 999"),
        ] {
            assert_eq!(b.signal(pid, sig).unwrap_err().to_string(), want);
        }
        assert_eq!(host.calls(), ["kill 88 SIGTERM", "kill 88 SIGKILL"]);
    }

    #[test]
    fn metrics_read_the_inits_cgroup_through_the_host() {
        let host = Arc::new(
            RecordingHost::new()
                .with_file("/proc/77/cgroup", "0::/default/c1\n")
                .with_file(
                    "/proc/self/mountinfo",
                    "40 23 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
                )
                .with_file("/sys/fs/cgroup/default/c1/cgroup.procs", "77\n")
                .with_file("/sys/fs/cgroup/default/c1/pids.current", "3\n"),
        );
        let b = CommandRuntime::new(Arc::new(PlainSpawner)).with_host(host.clone());
        let Metrics::V2(m) = b.stats(77).unwrap() else {
            panic!("a v2 cgroup")
        };
        assert_eq!(m.pids.unwrap().current, 3);
        let calls = host.calls();
        assert_eq!(calls[..2], ["read /proc/77/cgroup", "read /proc/self/mountinfo"]);
        assert!(
            calls.contains(&"read /sys/fs/cgroup/default/c1/cpu.stat".to_owned()),
            "{calls:?}"
        );
        // A process that is gone: its /proc file cannot be read.
        let e = b.stats(78).unwrap_err();
        assert!(e.to_string().starts_with("reading /proc/78/cgroup"), "{e}");
        // One larger than the bound is refused, not read whole.
        host.put("/proc/79/cgroup", vec![b'x'; 65 << 10]);
        let e = b.stats(79).unwrap_err();
        assert!(e.to_string().contains("larger than the 65536-byte limit"), "{e}");
    }

    #[test]
    fn spawn_and_read_keeps_a_bounded_part_of_a_flood() {
        let mut c = Command::new("/bin/sh");
        c.args([
            "-c",
            "head -c 3000000 /dev/zero; head -c 2000000 /dev/zero >&2; echo done >&2",
        ]);
        let (_, out, err) = spawn_and_read(c).unwrap();
        assert_eq!((out.len() as u64, err.len() as u64), (MAX_OUTPUT, MAX_OUTPUT));
    }

    #[test]
    fn spawn_and_read_collects_both_streams() {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "echo out; echo err >&2"]);
        let (pid, out, err) = spawn_and_read(c).unwrap();
        assert!(pid > 0);
        assert_eq!(out, b"out\n");
        assert_eq!(err, b"err\n");
    }
}
