//! The task logic of the shim, in plain types: what containerd's Task
//! service asks, independent of the `containerd-shim` crate version (the
//! ttrpc adapter is `service.rs`). One container per shim process in practice,
//! but the map allows several.
//!
//! `create` hands the request to its [`Creation`] (`create.rs`): the
//! admission first (`admission.rs`: settings, the image from containerd,
//! the root file system tied to its snapshot, one call to the decision) and
//! only an admitted container reaches the backend, with the decision's
//! SELinux labels in its spec and root mount. In the shim's task server
//! that runs in a short-lived child process; the table keeps what it
//! answered (the init's pid, the runtime, the process label) and the
//! terminal, received here on the console socket it listens on.
//!
//! A task's processes are its init and the processes exec'd into it (`ctr
//! task exec`, CRI exec and exec probes): `exec` stores the process spec
//! under its exec id, `start_exec` runs it in the container, and the reaper
//! reports its exit like the init's. An exec is not verified again (the
//! container's image was verified at its create); it is refused unless the
//! container is known to this shim and running.
//!
//! `pause` freezes a running container's processes (the runtime's cgroup
//! freezer) and `resume` thaws them; a paused container takes no exec.
//! `update` hands new cgroup limits to the runtime, and `stats` reads the
//! container's cgroup (through the backend: tests substitute both).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::admission::Admitter;
pub use crate::admission::{Env, Selinux};
use crate::backend::{console_socket, hold_stdin, receive_console, Backend, ExecSpec, Mount, Stdio};
use crate::cgroup::Metrics;
use crate::confine::pin_exec_label;
use crate::console::Console;
use crate::containerd::ImageSource;
use crate::create::{Creation, Made};
use crate::error::ShimError;
use crate::exec::{check_process, ExecId, ExecTask};
use crate::settings::{FileSettings, RuntimeBinary};

/// Exit status reported for a container that was killed by delete before
/// its exit was seen (SIGKILL, as runc's shim reports).
const KILLED: u32 = 128 + 9;
/// Exit status of an exec whose start failed (nothing ran), so that its
/// waiters return.
const START_FAILED: u32 = 255;
/// How many exits of not-yet-registered pids are remembered.
const EARLY_EXITS: usize = 64;

/// A create request.
#[derive(Debug, Clone)]
pub struct CreateTask {
    /// Container id.
    pub id: String,
    /// The OCI bundle directory.
    pub bundle: PathBuf,
    /// The root file system's mounts.
    pub rootfs: Vec<Mount>,
    /// Streams.
    pub stdio: Stdio,
    /// Settings from the runtime options (`ConfigPath`), if any.
    pub options: FileSettings,
}

/// Where a process (init or exec) is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created; an init waits for start, an exec is not started yet.
    Created,
    /// Started.
    Running,
    /// Frozen (`pause`) until `resume`; an init only.
    Paused,
    /// It exited.
    Stopped,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What `state` reports, for a container's init or one of its execs.
#[derive(Debug, Clone)]
pub struct TaskState {
    /// Container id.
    pub id: String,
    /// The exec id of an exec'd process; `None` for the init.
    pub exec_id: Option<String>,
    /// Bundle.
    pub bundle: PathBuf,
    /// The process's pid (0 for an exec not started).
    pub pid: u32,
    /// Status.
    pub status: Status,
    /// Streams.
    pub stdio: Stdio,
    /// Exit status, once stopped.
    pub exit_status: u32,
    /// When it stopped.
    pub exited_at: Option<SystemTime>,
}

/// One process of a task: its init or an exec'd process.
#[derive(Debug)]
struct Proc {
    pid: u32,
    status: Status,
    stdio: Stdio,
    exit: Option<(u32, SystemTime)>,
    /// The write end of its stdin FIFO, held until `close_io` (see
    /// [`hold_stdin`]).
    stdin: Option<File>,
    /// `close_io` came (perhaps before the process started).
    stdin_closed: bool,
    /// Its terminal, if it has one.
    console: Option<Console>,
}

impl Proc {
    fn new(pid: u32, status: Status, stdio: Stdio) -> Self {
        Proc {
            pid,
            status,
            stdio,
            exit: None,
            stdin: None,
            stdin_closed: false,
            console: None,
        }
    }

    fn exited(&mut self, code: u32, at: SystemTime) {
        self.exit = Some((code, at));
        self.status = Status::Stopped;
        self.stdin = None;
    }

    fn state(&self, id: &str, exec_id: Option<&str>, bundle: &Path) -> TaskState {
        TaskState {
            id: id.to_owned(),
            exec_id: exec_id.map(str::to_owned),
            bundle: bundle.to_path_buf(),
            pid: self.pid,
            status: self.status,
            stdio: self.stdio.clone(),
            exit_status: self.exit.map(|e| e.0).unwrap_or(0),
            exited_at: self.exit.map(|e| e.1),
        }
    }
}

impl Borrow<str> for ExecId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

#[derive(Debug)]
struct Exec {
    proc: Proc,
    /// The OCI process spec (JSON) to run.
    spec: Vec<u8>,
    /// `start_exec` is running the backend for it.
    starting: bool,
}

#[derive(Debug)]
struct Entry {
    bundle: PathBuf,
    runtime: RuntimeBinary,
    /// The SELinux domain's process label the decision gave the container
    /// (`None`: unconfined); its execs run in it too.
    process_label: Option<String>,
    init: Proc,
    execs: HashMap<ExecId, Exec>,
}

impl Entry {
    /// The exec `exec_id` of container `id`.
    fn exec(&mut self, id: &str, exec_id: &str) -> Result<&mut Exec, ShimError> {
        self.execs
            .get_mut(exec_id)
            .ok_or_else(|| ShimError::NotFound(format!("{id} exec {exec_id}")))
    }

    /// Refuses unless the init is running (what an exec needs).
    fn running(&self, id: &str) -> Result<(), ShimError> {
        match self.init.status {
            Status::Running => Ok(()),
            s => Err(ShimError::WrongState(format!(
                "cannot exec in container {id}: it is {}, not running",
                s.word()
            ))),
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<String, Entry>,
    /// Exits of pids no entry had yet (an init that died during create).
    early: Vec<(u32, u32, SystemTime)>,
}

impl Table {
    /// Takes the exit of `pid` seen since `began`, if any: an older one is
    /// another process that had the same pid.
    fn take_early(&mut self, pid: u32, began: SystemTime) -> Option<(u32, SystemTime)> {
        let i = self.early.iter().position(|e| e.0 == pid && e.2 >= began)?;
        let (_, code, at) = self.early.remove(i);
        Some((code, at))
    }
}

/// The tasks of one shim.
pub struct Tasks {
    backend: Box<dyn Backend>,
    creation: Creation,
    table: Mutex<Table>,
    changed: Condvar,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

impl Tasks {
    /// Tasks created by `backend`, whose images `images` finds; settings
    /// not given by runtime options come from `env`.
    /// Decided and created in this process ([`Creation::Here`]).
    pub fn new(backend: Box<dyn Backend>, images: Box<dyn ImageSource>, env: Env) -> Self {
        Self::with_creation(backend, Creation::Here(Admitter::new(images, env)))
    }

    /// Tasks created as `creation` says, then driven by `backend`.
    pub fn with_creation(backend: Box<dyn Backend>, creation: Creation) -> Self {
        Tasks {
            backend,
            creation,
            table: Mutex::new(Table::default()),
            changed: Condvar::new(),
        }
    }

    /// The same, on a host whose SELinux is `selinux` (tests; an
    /// in-process creation only).
    pub fn with_selinux(mut self, selinux: Selinux) -> Self {
        if let Some(a) = self.creation.admitter_mut() {
            a.set_selinux(selinux);
        }
        self
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic elsewhere must not wedge every later request.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decides, and creates the container only if allowed, confined as the
    /// decision says. Returns the init's pid.
    pub fn create(&self, req: CreateTask) -> Result<u32, ShimError> {
        if self.lock().entries.contains_key(&req.id) {
            return Err(ShimError::AlreadyExists(req.id));
        }
        let stdin = hold_stdin(&req.stdio.stdin)?;
        let socket = console_socket(&req.stdio)?;
        // Wall-clock times in this file are containerd's process timestamps
        // (started/exited_at), never a trust decision: that one clock is
        // `cerro_core::clock::unix_now`, read by the host service.
        let began = SystemTime::now();
        let Made {
            pid,
            runtime,
            process_label,
        } = self
            .creation
            .create(&*self.backend, &req, socket.as_ref().map(|s| s.0.path()))?;
        // The master was sent before the runtime's create returned.
        let console = match receive_console(socket, &req.stdio) {
            Ok(c) => c,
            Err(e) => {
                // Created, but nobody could talk to it: take it down again.
                let _ = self.backend.delete(&runtime, &req.id, &req.bundle);
                return Err(e);
            }
        };
        let mut t = self.lock();
        let mut init = Proc::new(pid, Status::Created, req.stdio);
        init.stdin = stdin;
        init.console = console;
        if let Some((code, at)) = t.take_early(pid, began) {
            init.exited(code, at);
        }
        t.entries.insert(
            req.id,
            Entry {
                bundle: req.bundle,
                runtime,
                process_label,
                init,
                execs: HashMap::new(),
            },
        );
        Ok(pid)
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&mut Entry) -> Result<T, ShimError>) -> Result<T, ShimError> {
        let mut t = self.lock();
        let e = t
            .entries
            .get_mut(id)
            .ok_or_else(|| ShimError::NotFound(id.to_owned()))?;
        f(e)
    }

    /// Starts a created container; returns its pid.
    pub fn start(&self, id: &str) -> Result<u32, ShimError> {
        let (rt, pid) = self.with(id, |e| match e.init.status {
            Status::Created => Ok((e.runtime.clone(), e.init.pid)),
            s => Err(ShimError::InvalidArgument(format!(
                "container {id} is {s:?}, not created"
            ))),
        })?;
        self.backend.start(&rt, id)?;
        self.with(id, |e| {
            if e.init.status == Status::Created {
                e.init.status = Status::Running;
            }
            Ok(())
        })?;
        Ok(pid)
    }

    /// Signals a container; a stopped one is left alone. A signal to the
    /// init of a paused container waits for the thaw; with `all` the
    /// runtime freezes, signals and thaws (as runc does), so a paused
    /// container runs again.
    pub fn kill(&self, id: &str, signal: u32, all: bool) -> Result<(), ShimError> {
        let rt = self.with(
            id,
            |e| Ok((e.init.status != Status::Stopped).then(|| e.runtime.clone())),
        )?;
        let Some(rt) = rt else { return Ok(()) };
        self.backend.kill(&rt, id, signal, all)?;
        self.with(id, |e| {
            if all && e.init.status == Status::Paused {
                e.init.status = Status::Running;
            }
            Ok(())
        })
    }

    /// Blocks until the container's init exited; its status and time.
    pub fn wait(&self, id: &str) -> Result<(u32, SystemTime), ShimError> {
        self.wait_for(id, None)
    }

    fn wait_for(&self, id: &str, exec_id: Option<&str>) -> Result<(u32, SystemTime), ShimError> {
        let mut t = self.lock();
        loop {
            let e = t.entries.get(id).ok_or_else(|| ShimError::NotFound(id.to_owned()))?;
            let p = match exec_id {
                None => &e.init,
                Some(x) => {
                    &e.execs
                        .get(x)
                        .ok_or_else(|| ShimError::NotFound(format!("{id} exec {x}")))?
                        .proc
                }
            };
            if let Some(x) = p.exit {
                return Ok(x);
            }
            t = self.changed.wait(t).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Deletes the container (killing it if needed) and forgets it and its
    /// execs: its pid, exit status and exit time.
    pub fn delete(&self, id: &str) -> Result<(u32, u32, SystemTime), ShimError> {
        let (rt, bundle) = self.with(id, |e| Ok((e.runtime.clone(), e.bundle.clone())))?;
        self.backend.delete(&rt, id, &bundle)?;
        let mut t = self.lock();
        let e = t.entries.remove(id).ok_or_else(|| ShimError::NotFound(id.to_owned()))?;
        self.changed.notify_all();
        let (code, at) = e.init.exit.unwrap_or((KILLED, SystemTime::now()));
        Ok((e.init.pid, code, at))
    }

    /// Freezes a running container (every process of it, execs too).
    pub fn pause(&self, id: &str) -> Result<(), ShimError> {
        let rt = self.with(id, |e| match e.init.status {
            Status::Running => Ok(e.runtime.clone()),
            s => Err(ShimError::WrongState(format!(
                "cannot pause container {id}: it is {}, not running",
                s.word()
            ))),
        })?;
        self.backend.pause(&rt, id)?;
        self.with(id, |e| {
            // Unless it exited meanwhile.
            if e.init.status == Status::Running {
                e.init.status = Status::Paused;
            }
            Ok(())
        })
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<(), ShimError> {
        let rt = self.with(id, |e| match e.init.status {
            Status::Paused => Ok(e.runtime.clone()),
            s => Err(ShimError::WrongState(format!(
                "cannot resume container {id}: it is {}, not paused",
                s.word()
            ))),
        })?;
        self.backend.resume(&rt, id)?;
        self.with(id, |e| {
            if e.init.status == Status::Paused {
                e.init.status = Status::Running;
            }
            Ok(())
        })
    }

    /// Applies new cgroup limits (`resources`: an OCI `linux.resources`
    /// object, JSON) to a container that has not stopped. The runtime
    /// refuses, naming it, what it cannot apply.
    pub fn update(&self, id: &str, resources: &[u8]) -> Result<(), ShimError> {
        match serde_json::from_slice::<serde_json::Value>(resources) {
            Ok(serde_json::Value::Object(_)) => {}
            _ => {
                return Err(ShimError::InvalidArgument(format!(
                    "update of container {id}: the resources are not a JSON linux.resources object"
                )))
            }
        }
        let (rt, bundle) = self.with(id, |e| match e.init.status {
            Status::Stopped => Err(ShimError::WrongState(format!(
                "cannot update container {id}: it is stopped"
            ))),
            _ => Ok((e.runtime.clone(), e.bundle.clone())),
        })?;
        self.backend.update(&rt, id, &bundle, resources)
    }

    /// What the container's cgroup says it has used (its init must not
    /// have exited: the cgroup goes with it).
    pub fn stats(&self, id: &str) -> Result<Metrics, ShimError> {
        let pid = self.with(id, |e| match e.init.status {
            Status::Stopped => Err(ShimError::WrongState(format!(
                "no metrics for container {id}: it is stopped"
            ))),
            _ => Ok(e.init.pid),
        })?;
        self.backend.stats(pid)
    }

    /// The state of a container.
    pub fn state(&self, id: &str) -> Result<TaskState, ShimError> {
        self.with(id, |e| Ok(e.init.state(id, None, &e.bundle)))
    }

    /// Registers process `req.exec_id` to run in container `req.id` (not
    /// started yet). Refused unless the container is known and running;
    /// the image is not verified again.
    pub fn exec(&self, req: ExecTask) -> Result<(), ShimError> {
        let exec_id = ExecId::parse(&req.exec_id)?;
        check_process(&req.spec, req.stdio.terminal)?;
        let id = req.id;
        self.with(&id, |e| {
            e.running(&id)?;
            if e.execs.contains_key(exec_id.as_str()) {
                return Err(ShimError::AlreadyExists(format!("{id} exec {exec_id}")));
            }
            let what = format!("exec {exec_id} in container {id}");
            let spec = pin_exec_label(&req.spec, e.process_label.as_deref(), &what)?;
            e.execs.insert(
                exec_id,
                Exec {
                    proc: Proc::new(0, Status::Created, req.stdio),
                    spec,
                    starting: false,
                },
            );
            Ok(())
        })
    }

    /// Starts exec `exec_id` in container `id` (which must still be
    /// running); returns its pid, and its state if it already exited (its
    /// exit came before its pid was known: the caller reports it).
    pub fn start_exec(&self, id: &str, exec_id: &str) -> Result<(u32, Option<TaskState>), ShimError> {
        let (key, spec, stdio, bundle, rt) = self.with(id, |e| {
            e.running(id)?;
            let (bundle, rt) = (e.bundle.clone(), e.runtime.clone());
            let (key, x) = e
                .execs
                .get_key_value(exec_id)
                .ok_or_else(|| ShimError::NotFound(format!("{id} exec {exec_id}")))?;
            if x.proc.status != Status::Created || x.starting {
                return Err(ShimError::WrongState(format!(
                    "exec {exec_id} in container {id} is {}, not created",
                    if x.starting { "starting" } else { x.proc.status.word() }
                )));
            }
            let out = (key.clone(), x.spec.clone(), x.proc.stdio.clone(), bundle, rt);
            e.exec(id, exec_id)?.starting = true;
            Ok(out)
        })?;
        let began = SystemTime::now();
        let started = hold_stdin(&stdio.stdin).and_then(|stdin| {
            let started = self.backend.exec(&ExecSpec {
                id,
                exec_id: &key,
                bundle: &bundle,
                process: &spec,
                stdio: &stdio,
                runtime: &rt,
            })?;
            Ok((started.pid, stdin, started.console))
        });
        let mut t = self.lock();
        let early = match &started {
            Ok((pid, ..)) => t.take_early(*pid, began),
            Err(_) => None,
        };
        let Some(x) = t.entries.get_mut(id).and_then(|e| e.execs.get_mut(exec_id)) else {
            // Deleted while it started: do not leave a process nobody tracks.
            drop(t);
            if let Ok((pid, ..)) = started {
                let _ = self.backend.signal(pid, 9);
            }
            return Err(ShimError::NotFound(format!("{id} exec {exec_id}")));
        };
        x.starting = false;
        self.changed.notify_all();
        let (pid, stdin, console) = match started {
            Ok(s) => s,
            Err(e) => {
                // Its waiters return; nothing ran.
                x.proc.exited(START_FAILED, SystemTime::now());
                return Err(e);
            }
        };
        x.proc.pid = pid;
        x.proc.console = console;
        match early {
            Some((code, at)) => {
                x.proc.exited(code, at);
                Ok((pid, Some(x.proc.state(id, Some(exec_id), &bundle))))
            }
            None => {
                x.proc.status = Status::Running;
                if !x.proc.stdin_closed {
                    x.proc.stdin = stdin;
                }
                Ok((pid, None))
            }
        }
    }

    /// The state of exec `exec_id` in container `id`.
    pub fn exec_state(&self, id: &str, exec_id: &str) -> Result<TaskState, ShimError> {
        self.with(id, |e| {
            let bundle = e.bundle.clone();
            Ok(e.exec(id, exec_id)?.proc.state(id, Some(exec_id), &bundle))
        })
    }

    /// Signals exec `exec_id`; one that exited is left alone, one not
    /// started is an error.
    pub fn kill_exec(&self, id: &str, exec_id: &str, signal: u32) -> Result<(), ShimError> {
        let pid = self.with(id, |e| {
            let p = &e.exec(id, exec_id)?.proc;
            match p.status {
                Status::Running | Status::Paused => Ok(Some(p.pid)),
                Status::Stopped => Ok(None),
                Status::Created => Err(ShimError::WrongState(format!(
                    "exec {exec_id} in container {id} is not started"
                ))),
            }
        })?;
        match pid {
            Some(pid) => self.backend.signal(pid, signal),
            None => Ok(()),
        }
    }

    /// Blocks until exec `exec_id` exited; its status and time.
    pub fn wait_exec(&self, id: &str, exec_id: &str) -> Result<(u32, SystemTime), ShimError> {
        self.wait_for(id, Some(exec_id))
    }

    /// Forgets exec `exec_id` (not started, or exited); returns its pid,
    /// exit status and exit time. A running one is refused.
    pub fn delete_exec(&self, id: &str, exec_id: &str) -> Result<(u32, u32, SystemTime), ShimError> {
        self.with(id, |e| {
            let x = e.exec(id, exec_id)?;
            if x.proc.status == Status::Running || x.starting {
                return Err(ShimError::WrongState(format!(
                    "exec {exec_id} in container {id} is running: kill it before deleting it"
                )));
            }
            let x = e.execs.remove(exec_id).map(|x| x.proc);
            self.changed.notify_all();
            let p = x.ok_or_else(|| ShimError::NotFound(format!("{id} exec {exec_id}")))?;
            let (code, at) = p.exit.unwrap_or((0, SystemTime::now()));
            Ok((p.pid, code, at))
        })
    }

    /// Closes the stdin the shim holds for the init (`exec_id` `None`) or
    /// an exec, so the process sees end-of-file once the client closed its
    /// end too.
    pub fn close_stdin(&self, id: &str, exec_id: Option<&str>) -> Result<(), ShimError> {
        self.with(id, |e| {
            let p = match exec_id {
                None => &mut e.init,
                Some(x) => &mut e.exec(id, x)?.proc,
            };
            p.stdin = None;
            p.stdin_closed = true;
            Ok(())
        })
    }

    /// Sets the terminal size of the init (`exec_id` `None`) or an exec.
    pub fn resize_pty(&self, id: &str, exec_id: Option<&str>, width: u32, height: u32) -> Result<(), ShimError> {
        let console = self.with(id, |e| {
            let p = match exec_id {
                None => &e.init,
                Some(x) => &e.exec(id, x)?.proc,
            };
            p.console.clone().ok_or_else(|| {
                ShimError::WrongState(match exec_id {
                    None => format!("container {id} has no terminal"),
                    Some(x) => format!("exec {x} in container {id} has no terminal"),
                })
            })
        })?;
        console.resize(width, height)
    }

    /// The live processes of container `id`: pid and exec id (`None`: the init).
    pub fn pids(&self, id: &str) -> Result<Vec<(u32, Option<String>)>, ShimError> {
        self.with(id, |e| {
            let mut v = Vec::new();
            if e.init.status != Status::Stopped {
                v.push((e.init.pid, None));
            }
            let mut execs: Vec<_> = e
                .execs
                .iter()
                .filter(|(_, x)| x.proc.status == Status::Running)
                .map(|(k, x)| (x.proc.pid, Some(k.to_string())))
                .collect();
            execs.sort();
            v.extend(execs);
            Ok(v)
        })
    }

    /// Whether no container is left (the shim may exit).
    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    /// Records that process `pid` exited with `code` (from the reaper).
    /// Returns the state of the init or exec it was, for the exit event.
    pub fn exited(&self, pid: u32, code: u32) -> Option<TaskState> {
        let now = SystemTime::now();
        let mut t = self.lock();
        let mut found = None;
        for (id, e) in t.entries.iter_mut() {
            if e.init.pid == pid && e.init.exit.is_none() {
                e.init.exited(code, now);
                found = Some(e.init.state(id, None, &e.bundle));
                break;
            }
            let x = e
                .execs
                .iter_mut()
                .find(|(_, x)| x.proc.pid == pid && pid != 0 && x.proc.exit.is_none());
            if let Some((xid, x)) = x {
                x.proc.exited(code, now);
                found = Some(x.proc.state(id, Some(xid.as_str()), &e.bundle));
                break;
            }
        }
        if found.is_some() {
            self.changed.notify_all();
        } else {
            // Perhaps an init whose create (or an exec whose start) has
            // not returned yet; also every runtime command (those pids
            // are never looked up).
            if t.early.len() >= EARLY_EXITS {
                t.early.remove(0);
            }
            t.early.push((pid, code, now));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use cerro_core::digest::Digest;
    use cerro_enforce::testing::FakeSelinux;
    use std::sync::Arc;

    #[test]
    fn audit_mode_creates_anyway_and_the_lifecycle_runs() {
        let (dir, backend, tasks, req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        let bundle = req.bundle.clone();
        assert_eq!(tasks.create(req.clone()).unwrap(), 77);
        assert!(matches!(tasks.create(req).unwrap_err(), ShimError::AlreadyExists(_)));
        // The runtime to use at delete is saved in the bundle.
        assert!(RuntimeBinary::read(&bundle).is_some());
        assert_eq!(tasks.state("c1").unwrap().status, Status::Created);
        assert_eq!(tasks.start("c1").unwrap(), 77);
        assert!(tasks.start("c1").is_err());
        assert!(tasks.exited(12345, 0).is_none());
        let s = tasks.exited(77, 3).unwrap();
        assert_eq!((s.id.as_str(), s.status, s.exit_status), ("c1", Status::Stopped, 3));
        assert_eq!(tasks.wait("c1").unwrap().0, 3);
        tasks.kill("c1", 15, false).unwrap(); // stopped: nothing sent
        let (pid, code, _) = tasks.delete("c1").unwrap();
        assert_eq!((pid, code), (77, 3));
        assert!(tasks.is_empty());
        assert!(matches!(tasks.state("c1").unwrap_err(), ShimError::NotFound(_)));
        assert_eq!(*backend.calls.lock().unwrap(), ["create c1", "start c1", "delete c1"]);
        let log = audit(dir.path());
        assert_eq!(log[0]["allowed"], true);
        assert_eq!(log[0]["verified"], false);
    }

    #[test]
    fn a_terminal_whose_master_never_comes_takes_the_container_down() {
        let (_dir, backend, tasks, mut req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        req.stdio.terminal = true;
        // The fake runtime sends nothing to the console socket.
        let e = tasks.create(req).unwrap_err();
        assert!(e.to_string().contains("receiving the terminal"), "{e}");
        assert_eq!(*backend.calls.lock().unwrap(), ["create c1", "delete c1"]);
        assert!(tasks.is_empty());
    }

    #[test]
    fn wait_returns_when_the_reaper_reports_the_exit() {
        let (_dir, _backend, tasks, req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        tasks.create(req).unwrap();
        tasks.start("c1").unwrap();
        let tasks = Arc::new(tasks);
        let t2 = tasks.clone();
        let waiter = std::thread::spawn(move || t2.wait("c1").unwrap().0);
        std::thread::sleep(std::time::Duration::from_millis(50));
        tasks.exited(77, 137);
        assert_eq!(waiter.join().unwrap(), 137);
    }

    #[test]
    fn an_exit_seen_before_create_returned_is_kept() {
        let (_dir, backend, tasks, req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        // An exit of the same pid from before the create is another process.
        assert!(tasks.exited(77, 9).is_none());
        assert_eq!(tasks.create(req.clone()).unwrap(), 77);
        assert_eq!(tasks.state("c1").unwrap().status, Status::Created);
        tasks.delete("c1").unwrap();
        drop(backend);
        // One reported while the backend was creating is the init's.
        let (_dir2, backend2, tasks2, req2) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        let tasks2 = Arc::new(tasks2);
        let t = tasks2.clone();
        *backend2.during_create.lock().unwrap() = Some(Box::new(move || {
            t.exited(77, 1);
        }));
        tasks2.create(req2).unwrap();
        let s = tasks2.state("c1").unwrap();
        assert_eq!((s.status, s.exit_status), (Status::Stopped, 1));
    }

    /// A running container c1 (audit mode: no bundle needed).
    fn running() -> (tempfile::TempDir, Arc<FakeBackend>, Tasks) {
        let (dir, backend, tasks, req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        tasks.create(req).unwrap();
        tasks.start("c1").unwrap();
        (dir, backend, tasks)
    }

    fn exec_req(exec_id: &str, args: &str) -> ExecTask {
        ExecTask {
            id: "c1".into(),
            exec_id: exec_id.into(),
            stdio: Stdio {
                stdout: "/run/fifo/e-out".into(),
                ..Default::default()
            },
            spec: format!(r#"{{"user":{{"uid":0,"gid":0}},"args":{args},"cwd":"/","env":["PATH=/bin"]}}"#).into_bytes(),
        }
    }

    #[test]
    fn an_exec_runs_in_a_running_container_and_reports_its_own_exit() {
        let (_dir, backend, tasks) = running();
        let audit_before = std::fs::read_to_string(_dir.path().join("store/audit.log")).unwrap();
        tasks.exec(exec_req("e1", r#"["sh","-c","exit 7"]"#)).unwrap();
        let s = tasks.exec_state("c1", "e1").unwrap();
        assert_eq!(
            (s.exec_id.as_deref(), s.pid, s.status),
            (Some("e1"), 0, Status::Created)
        );
        assert_eq!(s.stdio.stdout, "/run/fifo/e-out");
        let (pid, exited) = tasks.start_exec("c1", "e1").unwrap();
        assert!(pid == 88 && exited.is_none());
        assert_eq!(tasks.exec_state("c1", "e1").unwrap().status, Status::Running);
        assert_eq!(tasks.pids("c1").unwrap(), [(77, None), (88, Some("e1".to_owned()))]);
        // Its exit is its own: the init keeps running.
        let s = tasks.exited(88, 7).unwrap();
        assert_eq!(
            (s.id.as_str(), s.exec_id.as_deref(), s.pid, s.status, s.exit_status),
            ("c1", Some("e1"), 88, Status::Stopped, 7)
        );
        assert_eq!(tasks.wait_exec("c1", "e1").unwrap().0, 7);
        assert_eq!(tasks.state("c1").unwrap().status, Status::Running);
        assert_eq!(tasks.pids("c1").unwrap(), [(77, None)]);
        tasks.kill_exec("c1", "e1", 9).unwrap(); // exited: nothing sent
        let (pid, code, _) = tasks.delete_exec("c1", "e1").unwrap();
        assert_eq!((pid, code), (88, 7));
        assert!(matches!(
            tasks.exec_state("c1", "e1").unwrap_err(),
            ShimError::NotFound(_)
        ));
        // The init is still there; its exit is the init's again.
        assert_eq!(tasks.exited(77, 0).unwrap().exec_id, None);
        assert_eq!(
            *backend.calls.lock().unwrap(),
            ["create c1", "start c1", r#"exec c1 e1 ["sh","-c","exit 7"]"#]
        );
        // Exec does not decide again: no new audit record.
        let audit_after = std::fs::read_to_string(_dir.path().join("store/audit.log")).unwrap();
        assert_eq!(audit_before, audit_after);
    }

    #[test]
    fn wait_on_an_exec_returns_at_its_exit_not_the_inits() {
        let (_dir, _backend, tasks) = running();
        tasks.exec(exec_req("e1", r#"["sleep","9"]"#)).unwrap();
        let tasks = Arc::new(tasks);
        let t2 = tasks.clone();
        // containerd waits before it starts the exec.
        let waiter = std::thread::spawn(move || t2.wait_exec("c1", "e1").unwrap().0);
        std::thread::sleep(std::time::Duration::from_millis(30));
        tasks.start_exec("c1", "e1").unwrap();
        tasks.exited(12345, 1); // someone else
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(!waiter.is_finished());
        tasks.exited(88, 143);
        assert_eq!(waiter.join().unwrap(), 143);
    }

    #[test]
    fn exec_is_refused_for_unknown_and_not_running_containers() {
        let (_dir, backend, tasks, req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        let e = tasks.exec(exec_req("e1", r#"["true"]"#)).unwrap_err();
        assert!(matches!(e, ShimError::NotFound(_)), "{e}");
        assert_eq!(e.to_string(), "container c1 not found");
        tasks.create(req).unwrap();
        let e = tasks.exec(exec_req("e1", r#"["true"]"#)).unwrap_err();
        assert!(matches!(e, ShimError::WrongState(_)), "{e}");
        assert_eq!(e.to_string(), "cannot exec in container c1: it is created, not running");
        tasks.start("c1").unwrap();
        tasks.exec(exec_req("e1", r#"["true"]"#)).unwrap();
        // The init exits between exec and start: the start is refused too.
        tasks.exited(77, 0);
        let e = tasks.start_exec("c1", "e1").unwrap_err();
        assert_eq!(e.to_string(), "cannot exec in container c1: it is stopped, not running");
        let e = tasks.exec(exec_req("e2", r#"["true"]"#)).unwrap_err();
        assert_eq!(e.to_string(), "cannot exec in container c1: it is stopped, not running");
        // Nothing reached the runtime.
        assert_eq!(*backend.calls.lock().unwrap(), ["create c1", "start c1"]);
    }

    #[test]
    fn bad_exec_requests_are_refused_before_anything_runs() {
        let (_dir, backend, tasks) = running();
        let e = tasks.exec(exec_req("../e1", r#"["true"]"#)).unwrap_err();
        assert!(matches!(e, ShimError::InvalidArgument(_)), "{e}");
        let e = tasks.exec(exec_req("e1", "[]")).unwrap_err();
        assert_eq!(e.to_string(), "invalid request: exec process spec: no args");
        tasks.exec(exec_req("e1", r#"["true"]"#)).unwrap();
        let e = tasks.exec(exec_req("e1", r#"["true"]"#)).unwrap_err();
        assert!(matches!(e, ShimError::AlreadyExists(_)), "{e}");
        let e = tasks.start_exec("c1", "nope").unwrap_err();
        assert!(matches!(e, ShimError::NotFound(_)), "{e}");
        // The spec and the request must agree on a terminal.
        let mut t = exec_req("e2", r#"["sh"]"#);
        t.stdio.terminal = true;
        let e = tasks.exec(t).unwrap_err();
        assert!(e.to_string().contains("terminal is false in the spec but true"), "{e}");
        // Not started: cannot be signalled; can be deleted.
        let e = tasks.kill_exec("c1", "e1", 15).unwrap_err();
        assert_eq!(e.to_string(), "exec e1 in container c1 is not started");
        assert_eq!(tasks.delete_exec("c1", "e1").unwrap().0, 0);
        assert_eq!(*backend.calls.lock().unwrap(), ["create c1", "start c1"]);
    }

    #[test]
    fn a_running_exec_is_signalled_directly_and_cannot_be_deleted() {
        let (_dir, backend, tasks) = running();
        tasks.exec(exec_req("e1", r#"["sleep","9"]"#)).unwrap();
        tasks.start_exec("c1", "e1").unwrap();
        let e = tasks.start_exec("c1", "e1").unwrap_err();
        assert_eq!(e.to_string(), "exec e1 in container c1 is running, not created");
        tasks.kill_exec("c1", "e1", 15).unwrap();
        let e = tasks.delete_exec("c1", "e1").unwrap_err();
        assert!(matches!(e, ShimError::WrongState(_)), "{e}");
        assert_eq!(
            e.to_string(),
            "exec e1 in container c1 is running: kill it before deleting it"
        );
        assert_eq!(backend.calls.lock().unwrap().last().unwrap(), "signal 88 15");
        // Deleting the container forgets its execs.
        tasks.delete("c1").unwrap();
        assert!(matches!(
            tasks.exec_state("c1", "e1").unwrap_err(),
            ShimError::NotFound(_)
        ));
    }

    #[test]
    fn a_failed_exec_start_releases_its_waiters() {
        let (_dir, backend, tasks) = running();
        *backend.exec_error.lock().unwrap() = Some("executable 'nope' not found in $PATH".into());
        tasks.exec(exec_req("e1", r#"["nope"]"#)).unwrap();
        let e = tasks.start_exec("c1", "e1").unwrap_err();
        assert!(e.to_string().contains("not found in $PATH"), "{e}");
        assert_eq!(tasks.wait_exec("c1", "e1").unwrap().0, START_FAILED);
        assert_eq!(tasks.exec_state("c1", "e1").unwrap().status, Status::Stopped);
        tasks.delete_exec("c1", "e1").unwrap();
    }

    #[test]
    fn an_exec_exit_seen_before_start_returned_is_reported_by_start() {
        let (_dir, backend, tasks) = running();
        let tasks = Arc::new(tasks);
        let t = tasks.clone();
        *backend.during_exec.lock().unwrap() = Some(Box::new(move || {
            assert!(t.exited(88, 7).is_none()); // pid not known yet
        }));
        tasks.exec(exec_req("e1", r#"["true"]"#)).unwrap();
        let (pid, exited) = tasks.start_exec("c1", "e1").unwrap();
        let s = exited.unwrap();
        assert_eq!((pid, s.exec_id.as_deref(), s.exit_status), (88, Some("e1"), 7));
        assert_eq!(tasks.wait_exec("c1", "e1").unwrap().0, 7);
    }

    fn mkfifo(path: &Path) {
        assert!(std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap()
            .success());
    }

    /// Reads `path` without blocking: `Ok(0)` is end-of-file (no writer
    /// left), `WouldBlock` means a writer still holds it.
    fn peek(path: &Path) -> std::io::Result<usize> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(path)?;
        f.read(&mut [0u8; 8])
    }

    #[test]
    fn close_io_releases_the_stdin_the_shim_holds() {
        let (dir, _backend, tasks, mut req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        let init_in = dir.path().join("init-stdin");
        let exec_in = dir.path().join("exec-stdin");
        mkfifo(&init_in);
        mkfifo(&exec_in);
        req.stdio.stdin = init_in.display().to_string();
        tasks.create(req).unwrap();
        tasks.start("c1").unwrap();
        // Held by the shim: a reader waits for data, not end-of-file.
        assert_eq!(peek(&init_in).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        tasks.close_stdin("c1", None).unwrap();
        assert_eq!(peek(&init_in).unwrap(), 0);

        let mut t = exec_req("e1", r#"["cat"]"#);
        t.stdio.stdin = exec_in.display().to_string();
        tasks.exec(t).unwrap();
        tasks.start_exec("c1", "e1").unwrap();
        assert_eq!(peek(&exec_in).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        tasks.close_stdin("c1", Some("e1")).unwrap();
        assert_eq!(peek(&exec_in).unwrap(), 0);
        // close_io before start (the client's stdin ended at once): not held at all.
        let mut t = exec_req("e2", r#"["cat"]"#);
        t.stdio.stdin = exec_in.display().to_string();
        tasks.exec(t).unwrap();
        tasks.close_stdin("c1", Some("e2")).unwrap();
        tasks.start_exec("c1", "e2").unwrap();
        assert_eq!(peek(&exec_in).unwrap(), 0);
        assert!(matches!(
            tasks.close_stdin("c1", Some("e9")).unwrap_err(),
            ShimError::NotFound(_)
        ));
        assert!(matches!(
            tasks.close_stdin("c9", None).unwrap_err(),
            ShimError::NotFound(_)
        ));
    }

    #[test]
    fn a_terminal_goes_to_the_backend_and_resize_needs_one() {
        let (_dir, backend, tasks) = running();
        let mut t = exec_req("e1", r#"["sh"]"#);
        t.stdio.terminal = true;
        t.spec = br#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"terminal":true}"#.to_vec();
        tasks.exec(t).unwrap();
        tasks.start_exec("c1", "e1").unwrap();
        assert_eq!(
            backend.calls.lock().unwrap().last().unwrap(),
            r#"exec c1 e1 ["sh"] (terminal)"#
        );
        // The fake backend gives no console: resizing says so.
        let e = tasks.resize_pty("c1", Some("e1"), 80, 24).unwrap_err();
        assert_eq!(e.to_string(), "exec e1 in container c1 has no terminal");
        let e = tasks.resize_pty("c1", None, 80, 24).unwrap_err();
        assert_eq!(e.to_string(), "container c1 has no terminal");
        assert!(matches!(
            tasks.resize_pty("c1", Some("e9"), 80, 24).unwrap_err(),
            ShimError::NotFound(_)
        ));
    }

    #[test]
    fn an_exec_into_a_confined_container_runs_in_its_domain() {
        let dir = tempfile::tempdir().unwrap();
        let image = attested(dir.path());
        let (_d, backend, tasks, req) = setup_in(dir, Images(Ok(vec![image])), "enforce");
        let tasks = tasks.with_selinux(Box::new(FakeSelinux::with_modules(&["ct_hello"])));
        tasks.create(req).unwrap();
        tasks.start("c1").unwrap();
        // A spec without a label (a client that left it out) gets the domain.
        tasks.exec(exec_req("e1", r#"["sh"]"#)).unwrap();
        tasks.start_exec("c1", "e1").unwrap();
        let spec: serde_json::Value = serde_json::from_slice(&backend.exec_spec.lock().unwrap()).unwrap();
        assert_eq!(spec["selinuxLabel"], "system_u:system_r:ct_hello_t:s0");
        assert_eq!(spec["args"][0], "sh");
        // Another domain is refused before anything runs.
        let mut t = exec_req("e2", r#"["sh"]"#);
        t.spec =
            br#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"selinuxLabel":"system_u:system_r:unconfined_t:s0"}"#
                .to_vec();
        let e = tasks.exec(t).unwrap_err();
        assert!(
            e.to_string()
                .contains("exec e2 in container c1 asks for SELinux label system_u:system_r:unconfined_t:s0"),
            "{e}"
        );
        assert!(matches!(
            tasks.exec_state("c1", "e2").unwrap_err(),
            ShimError::NotFound(_)
        ));
    }

    #[test]
    fn pause_and_resume_move_a_running_container_and_nothing_else() {
        let (_dir, backend, tasks, req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        tasks.create(req).unwrap();
        // Created: neither.
        let e = tasks.pause("c1").unwrap_err();
        assert!(matches!(e, ShimError::WrongState(_)), "{e}");
        assert_eq!(e.to_string(), "cannot pause container c1: it is created, not running");
        tasks.start("c1").unwrap();
        let e = tasks.resume("c1").unwrap_err();
        assert_eq!(e.to_string(), "cannot resume container c1: it is running, not paused");
        tasks.pause("c1").unwrap();
        assert_eq!(tasks.state("c1").unwrap().status, Status::Paused);
        let e = tasks.pause("c1").unwrap_err();
        assert_eq!(e.to_string(), "cannot pause container c1: it is paused, not running");
        // A paused container takes no exec.
        let e = tasks.exec(exec_req("e1", r#"["true"]"#)).unwrap_err();
        assert!(matches!(e, ShimError::WrongState(_)), "{e}");
        assert_eq!(e.to_string(), "cannot exec in container c1: it is paused, not running");
        // It still lists its init, reports metrics and takes updates.
        assert_eq!(tasks.pids("c1").unwrap(), [(77, None)]);
        tasks.stats("c1").unwrap();
        tasks.update("c1", br#"{"pids":{"limit":9}}"#).unwrap();
        tasks.resume("c1").unwrap();
        assert_eq!(tasks.state("c1").unwrap().status, Status::Running);
        tasks.exec(exec_req("e1", r#"["true"]"#)).unwrap();
        assert_eq!(
            *backend.calls.lock().unwrap(),
            [
                "create c1",
                "start c1",
                "pause c1",
                "stats 77",
                r#"update c1 {"pids":{"limit":9}}"#,
                "resume c1"
            ]
        );
    }

    #[test]
    fn a_paused_container_can_be_killed_and_a_stopped_one_not_paused() {
        let (_dir, backend, tasks) = running();
        tasks.pause("c1").unwrap();
        // Killed while paused (the runtime thaws it for SIGKILL): it stops.
        tasks.kill("c1", 9, false).unwrap();
        let s = tasks.exited(77, 137).unwrap();
        assert_eq!((s.status, s.exit_status), (Status::Stopped, 137));
        for (e, want) in [
            (
                tasks.pause("c1"),
                "cannot pause container c1: it is stopped, not running",
            ),
            (
                tasks.resume("c1"),
                "cannot resume container c1: it is stopped, not paused",
            ),
            (
                tasks.update("c1", br#"{"memory":{"limit":64000000}}"#),
                "cannot update container c1: it is stopped",
            ),
        ] {
            let e = e.unwrap_err();
            assert!(matches!(e, ShimError::WrongState(_)), "{e}");
            assert_eq!(e.to_string(), want);
        }
        let e = tasks.stats("c1").unwrap_err();
        assert_eq!(e.to_string(), "no metrics for container c1: it is stopped");
        // Signalling every process thaws a paused container (the runtime's
        // kill --all does, as runc's): it is running again.
        let (_dir2, _backend2, tasks2) = running();
        tasks2.pause("c1").unwrap();
        tasks2.kill("c1", 15, true).unwrap();
        assert_eq!(tasks2.state("c1").unwrap().status, Status::Running);
        for e in [tasks.pause("c9"), tasks.resume("c9"), tasks.update("c9", b"{}")] {
            assert!(matches!(e.unwrap_err(), ShimError::NotFound(_)));
        }
        assert!(matches!(tasks.stats("c9").unwrap_err(), ShimError::NotFound(_)));
        assert_eq!(
            *backend.calls.lock().unwrap(),
            ["create c1", "start c1", "pause c1", "kill c1 9"]
        );
    }

    #[test]
    fn an_update_must_be_a_resources_object_and_metrics_come_from_the_backend() {
        let (_dir, backend, tasks) = running();
        for bad in [&b"[1]"[..], b"not json", b""] {
            let e = tasks.update("c1", bad).unwrap_err();
            assert!(matches!(e, ShimError::InvalidArgument(_)), "{e}");
            assert_eq!(
                e.to_string(),
                "invalid request: update of container c1: the resources are not a JSON linux.resources object"
            );
        }
        tasks.update("c1", br#"{"memory":{"limit":64000000}}"#).unwrap();
        let Metrics::V2(m) = tasks.stats("c1").unwrap() else {
            panic!("the fake backend's metrics")
        };
        assert_eq!(m.pids.unwrap().current, 1);
        assert_eq!(
            *backend.calls.lock().unwrap(),
            [
                "create c1",
                "start c1",
                r#"update c1 {"memory":{"limit":64000000}}"#,
                "stats 77"
            ]
        );
    }
}
