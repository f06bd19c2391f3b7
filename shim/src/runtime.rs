//! The container backend: what creates, starts, signals and deletes a
//! container once the decision allowed it. Behind a trait so the task logic
//! is tested without containers, and so another backend (runc, a zygote)
//! can replace `cerro-runtime` without touching the decision.
//!
//! [`CommandRuntime`] drives the `cerro-runtime` binary (libcontainer) the
//! way containerd's runc shim drives runc: one short-lived, single-threaded
//! process per operation. The container's init is re-parented to the shim
//! (a child subreaper), whose reaper reports its exit.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio as ProcStdio};
use std::sync::Arc;

use crate::error::ShimError;
use crate::settings::RuntimeBinary;
use crate::sys;

/// One mount of a task's root file system (containerd's `Mount`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
}

/// Creates and runs containers. Called only after the decision allowed.
pub trait Backend: Send + Sync {
    /// Creates the container (its init waits for [`Backend::start`]) and
    /// returns the init's pid.
    fn create(&self, spec: &Spec<'_>) -> Result<u32, ShimError>;
    /// Lets the init run the container's process.
    fn start(&self, runtime: &RuntimeBinary, id: &str) -> Result<(), ShimError>;
    /// Sends `signal` to the init (or with `all`, to every process).
    fn kill(&self, runtime: &RuntimeBinary, id: &str, signal: u32, all: bool) -> Result<(), ShimError>;
    /// Deletes the container (killing what is left) and unmounts its root
    /// file system. Succeeds if there is nothing to delete.
    fn delete(&self, runtime: &RuntimeBinary, id: &str, bundle: &Path) -> Result<(), ShimError>;
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

/// Spawns `cmd` with piped output and reads it to the end; the caller
/// then learns the exit status some other way (the reaper).
pub fn spawn_and_read(mut cmd: Command) -> std::io::Result<(u32, Vec<u8>, Vec<u8>)> {
    let mut child = cmd
        .stdin(ProcStdio::null())
        .stdout(ProcStdio::piped())
        .stderr(ProcStdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            if let Some(mut e) = stderr {
                let _ = e.read_to_end(&mut err);
            }
        });
        if let Some(mut o) = stdout {
            let _ = o.read_to_end(&mut out);
        }
        let _ = reader.join();
    });
    // `child` is dropped without wait(): the reaper owns the exit status.
    Ok((pid, out, err))
}

/// The `cerro-runtime` binary (or any runtime with its command line).
#[derive(Clone)]
pub struct CommandRuntime {
    spawner: Arc<dyn Spawner>,
}

impl std::fmt::Debug for CommandRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandRuntime").finish_non_exhaustive()
    }
}

impl CommandRuntime {
    /// Runs the runtime through `spawner`.
    pub fn new(spawner: Arc<dyn Spawner>) -> Self {
        CommandRuntime { spawner }
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
}

impl Backend for CommandRuntime {
    fn create(&self, s: &Spec<'_>) -> Result<u32, ShimError> {
        if s.stdio.terminal {
            return Err(ShimError::Unimplemented("a terminal (ctr run -t)".into()));
        }
        let rootfs = s.bundle.join("rootfs");
        if !s.rootfs.is_empty() {
            if let Err(e) = sys::mount_rootfs(s.rootfs, &rootfs) {
                // Take down the mounts that did succeed.
                let _ = sys::unmount_rootfs(&rootfs);
                return Err(e);
            }
        }
        let pid_file = s.bundle.join("init.pid");
        let bundle = s.bundle.display().to_string();
        let pid_arg = pid_file.display().to_string();
        let mut args = vec!["create", "--bundle", &bundle, "--pid-file", &pid_arg];
        for (flag, v) in [
            ("--stdin", &s.stdio.stdin),
            ("--stdout", &s.stdio.stdout),
            ("--stderr", &s.stdio.stderr),
        ] {
            if !v.is_empty() {
                args.push(flag);
                args.push(v);
            }
        }
        args.push(s.id);
        if let Err(e) = self.run(s.runtime, &args) {
            let _ = sys::unmount_rootfs(&rootfs);
            return Err(e);
        }
        let text = std::fs::read_to_string(&pid_file).map_err(|e| ShimError::io("reading", &pid_file, e))?;
        text.trim().parse().map_err(|_| ShimError::Runtime {
            command: "create".into(),
            message: format!("{} holds no pid: {text:?}", pid_file.display()),
        })
    }

    fn start(&self, rt: &RuntimeBinary, id: &str) -> Result<(), ShimError> {
        self.run(rt, &["start", id]).map(drop)
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

    fn delete(&self, rt: &RuntimeBinary, id: &str, bundle: &Path) -> Result<(), ShimError> {
        let r = self.run(rt, &["delete", "--force", id]).map(drop);
        // Unmount even if the runtime failed: a leaked overlay keeps the
        // snapshot busy and containerd's cleanup fails after it.
        let u = sys::unmount_rootfs(&bundle.join("rootfs"));
        r.and(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake runtime: a shell script that logs its arguments and writes a pid.
    fn script(dir: &Path, body: &str) -> RuntimeBinary {
        let path = dir.join("rt");
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"$@\" >> {}/args\n{body}\n", dir.display()),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
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
            &format!("case $3 in create) echo 4242 > {}/init.pid;; esac", bundle.display()),
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
            })
            .unwrap();
        assert_eq!(pid, 4242);
        b.start(&rt, "c1").unwrap();
        b.kill(&rt, "c1", 9, true).unwrap();
        b.delete(&rt, "c1", &bundle).unwrap();
        let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
        let root = rt.root.display();
        let lines: Vec<&str> = args.lines().collect();
        assert_eq!(
            lines,
            [
                format!(
                    "--root {root} create --bundle {} --pid-file {}/init.pid --stdout /run/fifo/out c1",
                    bundle.display(),
                    bundle.display()
                ),
                format!("--root {root} start c1"),
                format!("--root {root} kill --all c1 9"),
                format!("--root {root} delete --force c1"),
            ]
        );
    }

    #[test]
    fn a_failing_runtime_reports_its_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let rt = script(dir.path(), "echo 'no such container' >&2; exit 3");
        let e = CommandRuntime::new(Arc::new(PlainSpawner))
            .start(&rt, "c9")
            .unwrap_err();
        assert!(e.to_string().contains("no such container"), "{e}");
        let e = CommandRuntime::new(Arc::new(PlainSpawner))
            .create(&Spec {
                id: "c9",
                bundle: dir.path(),
                rootfs: &[],
                stdio: &Stdio {
                    terminal: true,
                    ..Default::default()
                },
                runtime: &rt,
            })
            .unwrap_err();
        assert!(matches!(e, ShimError::Unimplemented(_)), "{e}");
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
