//! Where a container is created: the decision and the act that needs its
//! proof, together, in a short-lived process of their own.
//!
//! The task server (the shim's daemon) lives as long as its pod and is
//! measured by its resident memory, one per pod on every node. Deciding
//! (the containerd API client, the bundle reader, the verification, the
//! policy) is most of the binary's code and all of its working set, needed
//! for a moment at each create. So the server does not decide: its create
//! runs `/proc/self/exe decide-and-create BUNDLE` (the same binary it
//! runs, even if the file was replaced since), a single-threaded child that
//! reads the request the server wrote into the bundle, takes the decision
//! ([`Admitter::admit`]) and, only with its `Admission`, has the runtime
//! create the container ([`decide_and_create`], the one sequence, which
//! tests run in-process); it answers one line of JSON and exits. The
//! server never holds an `Admission` and has no code path that creates a
//! container, so a refusal there cannot be skipped here; the container's
//! init is re-parented to the server (the child subreaper), whose reaper
//! reports its exit as before.
//!
//! A terminal's console socket is the server's: the child passes its path
//! to the runtime, the server receives the master after the child answered
//! and copies it for the container's life (`task.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::admission::{Admitted, Admitter};
use crate::backend::{Backend, CommandRuntime, Mount, Spawner, Spec, Stdio};
use crate::containerd::Containerd;
use crate::error::{ErrorClass, ShimError};
use crate::settings::{FileSettings, RuntimeBinary};
use crate::task::CreateTask;

/// The action of the shim binary that decides and creates one container
/// (`containerd-shim-cerro-v1 decide-and-create BUNDLE`); containerd's
/// actions are flags and `start`/`delete`, never this.
pub const ACTION: &str = "decide-and-create";
/// The request the server writes into the task's bundle for the child.
const REQUEST_FILE: &str = "cerro-create.json";
/// The largest request the child reads (mount options of a deep image
/// are the only long part).
const MAX_REQUEST: u64 = 4 << 20;
/// The binary the server runs: itself, as mapped (`/proc/self/exe` stays
/// the running binary when the file is replaced by an upgrade).
const SELF_EXE: &str = "/proc/self/exe";

/// What a create tells the task table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Made {
    /// The container's init.
    pub pid: u32,
    /// The runtime binary its later operations use (also saved in the
    /// bundle, `cerro-shim.json`).
    pub runtime: RuntimeBinary,
    /// The SELinux process label the decision gave it (`None`:
    /// unconfined); its execs run in it too.
    pub process_label: Option<String>,
}

/// Decides on `req` and, only if admitted, has `backend` create it with
/// the decision's `Admission` (a terminal's master going to `console`).
/// The one sequence of a create, in whichever process runs it.
pub fn decide_and_create(
    admitter: &Admitter,
    backend: &dyn Backend,
    req: &CreateTask,
    console: Option<&Path>,
) -> Result<Made, ShimError> {
    let Admitted {
        settings,
        admission,
        rootfs,
        process_label,
    } = admitter.admit(req)?;
    settings.runtime.write(&req.bundle)?;
    let pid = backend.create(&Spec {
        id: &req.id,
        bundle: &req.bundle,
        rootfs: &rootfs,
        stdio: &req.stdio,
        runtime: &settings.runtime,
        admission: &admission,
        console,
    })?;
    Ok(Made {
        pid,
        runtime: settings.runtime,
        process_label,
    })
}

/// How the task table has containers created.
pub enum Creation {
    /// In this process ([`decide_and_create`] with the table's backend):
    /// the tests, and a runtime linking the library.
    Here(Admitter),
    /// In a child process per create (the shim's task server): the child
    /// asks containerd at `address` in `namespace`.
    Child {
        /// containerd's API socket.
        address: String,
        /// The namespace of the tasks.
        namespace: String,
        /// Runs the child (the server's reaper-aware spawner).
        spawner: Arc<dyn Spawner>,
    },
}

impl std::fmt::Debug for Creation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Creation::Here(_) => f.write_str("Here"),
            Creation::Child { namespace, .. } => write!(f, "Child({namespace})"),
        }
    }
}

/// The request the server hands the child, in the bundle.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    address: String,
    namespace: String,
    id: String,
    bundle: PathBuf,
    rootfs: Vec<Mount>,
    stdio: Stdio,
    options: FileSettings,
    console: Option<PathBuf>,
}

/// The child's answer, one JSON line on its stdout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Reply {
    Created(Made),
    Failed { class: ErrorClass, message: String },
}

impl Creation {
    /// In a child process per create, asking containerd at `address`.
    pub fn child(address: &str, namespace: &str, spawner: Arc<dyn Spawner>) -> Self {
        Creation::Child {
            address: address.to_owned(),
            namespace: namespace.to_owned(),
            spawner,
        }
    }

    /// Decides on `req` and creates it if admitted; `backend` is the task
    /// table's (used here only in-process).
    pub fn create(&self, backend: &dyn Backend, req: &CreateTask, console: Option<&Path>) -> Result<Made, ShimError> {
        match self {
            Creation::Here(admitter) => decide_and_create(admitter, backend, req, console),
            Creation::Child {
                address,
                namespace,
                spawner,
            } => in_child(&**spawner, address, namespace, req, console),
        }
    }

    /// The admitter of an in-process creation (tests set its SELinux).
    pub(crate) fn admitter_mut(&mut self) -> Option<&mut Admitter> {
        match self {
            Creation::Here(a) => Some(a),
            Creation::Child { .. } => None,
        }
    }
}

/// The server's side: writes the request, runs the child, reads its answer.
fn in_child(
    spawner: &dyn Spawner,
    address: &str,
    namespace: &str,
    req: &CreateTask,
    console: Option<&Path>,
) -> Result<Made, ShimError> {
    let request = Request {
        address: address.to_owned(),
        namespace: namespace.to_owned(),
        id: req.id.clone(),
        bundle: req.bundle.clone(),
        rootfs: req.rootfs.clone(),
        stdio: req.stdio.clone(),
        options: req.options.clone(),
        console: console.map(Path::to_path_buf),
    };
    let file = req.bundle.join(REQUEST_FILE);
    let bytes = serde_json::to_vec(&request).map_err(|e| ShimError::InvalidArgument(e.to_string()))?;
    std::fs::write(&file, bytes).map_err(|e| ShimError::io("writing", &file, e))?;
    let line = format!("{SELF_EXE} {ACTION} {}", req.bundle.display());
    let mut cmd = Command::new(SELF_EXE);
    cmd.arg(ACTION).arg(&req.bundle);
    let ran = spawner.run(cmd);
    let _ = std::fs::remove_file(&file);
    let f = ran.map_err(|e| ShimError::Runtime {
        command: line.clone(),
        message: e.to_string(),
    })?;
    let stderr = String::from_utf8_lossy(&f.stderr);
    for l in stderr.lines() {
        log::warn!("create {}: {l}", req.id);
    }
    match serde_json::from_slice::<Reply>(&f.stdout) {
        Ok(Reply::Created(made)) if f.code == 0 => Ok(made),
        Ok(Reply::Failed { class, message }) => Err(ShimError::Reported { class, message }),
        _ => Err(ShimError::Runtime {
            command: line,
            message: format!("exit {} without an answer: {}", f.code, stderr.trim()),
        }),
    }
}

/// The child's side, `containerd-shim-cerro-v1 decide-and-create BUNDLE`:
/// reads the request in `bundle`, decides and creates, prints the answer.
/// Returns the exit code (0 once an answer, success or refusal, is out).
pub fn child_main(bundle: &Path) -> i32 {
    // Warnings (an image that cannot be found, an audit override) go to
    // stderr; the server logs them.
    let _ = log::set_logger(&STDERR).map(|()| log::set_max_level(log::LevelFilter::Warn));
    let reply = match read_request(bundle).and_then(|r| create_from(&r)) {
        Ok(made) => Reply::Created(made),
        Err(e) => Reply::Failed {
            class: e.class(),
            message: e.to_string(),
        },
    };
    match serde_json::to_string(&reply) {
        Ok(text) => {
            println!("{text}");
            0
        }
        Err(e) => {
            eprintln!("{ACTION}: {e}");
            1
        }
    }
}

/// The request in `bundle`, read bounded; it must be for that bundle.
fn read_request(bundle: &Path) -> Result<Request, ShimError> {
    let file = bundle.join(REQUEST_FILE);
    let bytes = cerro_core::file::read_bounded(&file, MAX_REQUEST, REQUEST_FILE)
        .map_err(|e| ShimError::InvalidArgument(format!("{}: {e}", file.display())))?;
    let r: Request =
        serde_json::from_slice(&bytes).map_err(|e| ShimError::InvalidArgument(format!("{}: {e}", file.display())))?;
    if r.bundle != bundle {
        return Err(ShimError::InvalidArgument(format!(
            "{} is for bundle {}",
            file.display(),
            r.bundle.display()
        )));
    }
    Ok(r)
}

/// Decides and creates as the request says, with this host's containerd,
/// environment and runtime. Its children (the runtime, and the mount
/// helper of `containerd-shim`, which waits through that crate's exit
/// monitor) are reaped by [`reap`], as in the server.
fn create_from(r: &Request) -> Result<Made, ShimError> {
    std::thread::Builder::new()
        .name("reaper".into())
        .spawn(reap)
        .map_err(|e| ShimError::io("starting the reaper of", &r.bundle, e))?;
    let admitter = Admitter::new(
        Box::new(Containerd::new(&r.address, &r.namespace)),
        Box::new(|k| std::env::var_os(k)),
    );
    let backend = CommandRuntime::new(Arc::new(crate::service::MonitorSpawner));
    let req = CreateTask {
        id: r.id.clone(),
        bundle: r.bundle.clone(),
        rootfs: r.rootfs.clone(),
        stdio: r.stdio.clone(),
        options: r.options.clone(),
    };
    decide_and_create(&admitter, &backend, &req, r.console.as_deref())
}

/// Reaps every child of this process and reports its exit to
/// `containerd-shim`'s monitor, where its waiters subscribed before they
/// spawned it (the server's reaper does the same on `SIGCHLD`).
fn reap() {
    use containerd_shim::monitor::monitor_notify_by_pid;
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) => drop(monitor_notify_by_pid(pid.as_raw(), code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) => drop(monitor_notify_by_pid(pid.as_raw(), 128 + sig as i32)),
            Ok(_) => {}
            // No child yet (or between two): look again shortly.
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
        }
    }
}

/// The child's logger: warnings and errors, one line each, on stderr.
struct Stderr;
static STDERR: Stderr = Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            eprintln!("{}", r.args());
        }
    }
    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Finished;
    use std::sync::Mutex;

    /// Runs nothing: answers as the child would have, and records the
    /// command and the request it found in the bundle.
    struct Answering {
        code: i32,
        stdout: String,
        stderr: String,
        seen: Mutex<Vec<(String, Option<Request>)>>,
    }

    impl Spawner for Answering {
        fn run(&self, cmd: Command) -> std::io::Result<Finished> {
            let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
            let line = format!("{} {}", cmd.get_program().to_string_lossy(), args.join(" "));
            let request = read_request(Path::new(&args[1])).ok();
            self.seen.lock().unwrap().push((line, request));
            Ok(Finished {
                code: self.code,
                stdout: self.stdout.clone().into_bytes(),
                stderr: self.stderr.clone().into_bytes(),
            })
        }
    }

    fn answering(code: i32, stdout: &str) -> Arc<Answering> {
        Arc::new(Answering {
            code,
            stdout: stdout.into(),
            stderr: "image lookup failed\n".into(),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn req(bundle: &Path) -> CreateTask {
        CreateTask {
            id: "c1".into(),
            bundle: bundle.to_path_buf(),
            rootfs: vec![Mount {
                fs_type: "overlay".into(),
                source: "overlay".into(),
                options: vec!["lowerdir=/l".into()],
            }],
            stdio: Stdio {
                stdout: "/run/fifo/out".into(),
                ..Default::default()
            },
            options: FileSettings::default(),
        }
    }

    /// A backend the server must never use for a create.
    struct NoBackend;
    impl Backend for NoBackend {
        fn create(&self, _: &Spec<'_>) -> Result<u32, ShimError> {
            panic!("the server created a container itself")
        }
        fn start(&self, _: &RuntimeBinary, _: &str) -> Result<(), ShimError> {
            unreachable!()
        }
        fn exec(&self, _: &crate::backend::ExecSpec<'_>) -> Result<crate::backend::Started, ShimError> {
            unreachable!()
        }
        fn signal(&self, _: u32, _: u32) -> Result<(), ShimError> {
            unreachable!()
        }
        fn kill(&self, _: &RuntimeBinary, _: &str, _: u32, _: bool) -> Result<(), ShimError> {
            unreachable!()
        }
        fn delete(&self, _: &RuntimeBinary, _: &str, _: &Path) -> Result<(), ShimError> {
            unreachable!()
        }
    }

    #[test]
    fn the_server_hands_the_whole_create_to_the_child_and_takes_its_answer() {
        let dir = tempfile::tempdir().unwrap();
        let made = Made {
            pid: 4242,
            runtime: RuntimeBinary {
                path: "/usr/local/bin/cerro-runtime".into(),
                root: "/run/cerro-runtime".into(),
            },
            process_label: Some("system_u:system_r:ct_hello_t:s0".into()),
        };
        let out = serde_json::to_string(&Reply::Created(made.clone())).unwrap();
        let spawner = answering(0, &out);
        let c = Creation::child("/run/containerd/containerd.sock", "k8s.io", spawner.clone());
        let got = c
            .create(&NoBackend, &req(dir.path()), Some(Path::new("/tmp/pty.sock")))
            .unwrap();
        assert_eq!(got, made);
        let seen = spawner.seen.lock().unwrap();
        let (line, request) = &seen[0];
        assert_eq!(
            line,
            &format!("/proc/self/exe decide-and-create {}", dir.path().display())
        );
        let r = request
            .as_ref()
            .expect("the request was in the bundle while the child ran");
        assert_eq!(
            (r.address.as_str(), r.namespace.as_str(), r.id.as_str()),
            ("/run/containerd/containerd.sock", "k8s.io", "c1")
        );
        assert_eq!(r.rootfs, req(dir.path()).rootfs);
        assert_eq!(r.stdio.stdout, "/run/fifo/out");
        assert_eq!(r.console.as_deref(), Some(Path::new("/tmp/pty.sock")));
        // Gone once the child answered.
        assert!(!dir.path().join(REQUEST_FILE).exists());
    }

    #[test]
    fn a_refusal_in_the_child_is_the_same_error_for_containerd() {
        let dir = tempfile::tempdir().unwrap();
        let refused = ShimError::Refused {
            container: "c1".into(),
            check: "missing_attestation",
            exit_code: 4,
            reason: "no bundle attests sha256:ab".into(),
        };
        let out = serde_json::to_string(&Reply::Failed {
            class: refused.class(),
            message: refused.to_string(),
        })
        .unwrap();
        let e = Creation::child("/s", "default", answering(0, &out))
            .create(&NoBackend, &req(dir.path()), None)
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::FailedPrecondition);
        assert_eq!(e.to_string(), refused.to_string());
    }

    #[test]
    fn a_child_that_dies_or_answers_nonsense_fails_the_create() {
        let dir = tempfile::tempdir().unwrap();
        let ok = serde_json::to_string(&Reply::Created(Made {
            pid: 1,
            runtime: RuntimeBinary {
                path: "/rt".into(),
                root: "/r".into(),
            },
            process_label: None,
        }))
        .unwrap();
        // Killed after printing a success: not a success.
        for (code, out) in [(137, ok.as_str()), (0, ""), (0, "{\"created\":{\"pid\":\"x\"}}")] {
            let e = Creation::child("/s", "default", answering(code, out))
                .create(&NoBackend, &req(dir.path()), None)
                .unwrap_err();
            assert_eq!(e.class(), ErrorClass::Unknown, "{e}");
            assert!(e.to_string().contains("without an answer: image lookup failed"), "{e}");
        }
    }

    #[test]
    fn the_child_reads_only_a_request_for_its_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let r = Request {
            address: "/s".into(),
            namespace: "default".into(),
            id: "c1".into(),
            bundle: other.path().to_path_buf(),
            rootfs: Vec::new(),
            stdio: Stdio::default(),
            options: FileSettings::default(),
            console: None,
        };
        std::fs::write(dir.path().join(REQUEST_FILE), serde_json::to_vec(&r).unwrap()).unwrap();
        let e = read_request(dir.path()).unwrap_err();
        assert!(e.to_string().contains("is for bundle"), "{e}");
        // Unknown fields and a missing file are refused too.
        std::fs::write(dir.path().join(REQUEST_FILE), br#"{"id":"c1","extra":1}"#).unwrap();
        assert!(matches!(read_request(dir.path()), Err(ShimError::InvalidArgument(_))));
        std::fs::remove_file(dir.path().join(REQUEST_FILE)).unwrap();
        assert!(matches!(read_request(dir.path()), Err(ShimError::InvalidArgument(_))));
    }
}
