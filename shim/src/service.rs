//! The ttrpc service containerd talks to: `containerd-shim` 0.11's `Shim` (the start and
//! delete actions, the daemon's life) and `Task` (the ttrpc service), each
//! method a conversion around [`Tasks`]. The only module that names the
//! `containerd-shim` crate's protocol types, so a later API version (task
//! v3, `containerd-shim` 0.12 for containerd ≥ 2.3) is a second module of
//! this shape behind a cargo feature. `metrics` (a submodule) turns a
//! cgroup's readings into containerd's metrics messages.

mod metrics;

use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use containerd_shim::monitor::{monitor_subscribe, ExitEvent, Subject, Topic};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskPaused, TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{EnumOrUnknown, MessageField, MessageFull};
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::topics::{
    TASK_CREATE_EVENT_TOPIC, TASK_DELETE_EVENT_TOPIC, TASK_EXEC_ADDED_EVENT_TOPIC, TASK_EXEC_STARTED_EVENT_TOPIC,
    TASK_EXIT_EVENT_TOPIC, TASK_PAUSED_EVENT_TOPIC, TASK_RESUMED_EVENT_TOPIC, TASK_START_EVENT_TOPIC,
};
use containerd_shim::protos::ttrpc::{self, Code};
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::protos::EventsClient;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{api, Context, DeleteResponse, ExitSignal, Flags, StartOpts, TtrpcContext, TtrpcResult};

use crate::backend::{spawn_and_read, Backend, CommandRuntime, Finished, Mount, Spawner, Stdio};
use crate::create::Creation;
use crate::error::{ErrorClass, ShimError};
use crate::exec::ExecTask;
use crate::settings::{from_options, FileSettings, OptionsTrust, RuntimeBinary};
use crate::task::{CreateTask, Status, TaskState, Tasks};

/// The runtime type containerd knows this shim by.
pub const RUNTIME_ID: &str = "io.cerro.v1";
/// How long a runtime command may run before the shim gives up on it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the shim: what `main` calls. containerd invokes the binary with
/// `start` (spawn the daemon, print its address), `delete` (clean up after
/// a dead shim), or no action (be the daemon serving the Task API).
/// `containerd-shim-cerro-v1 decide-and-create BUNDLE` is the task
/// server's own child that decides on one create and does it
/// (`create.rs`), never containerd's.
pub fn run() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let [_, action, bundle] = &args[..] {
        if action == crate::create::ACTION {
            std::process::exit(crate::create::child_main(std::path::Path::new(bundle)));
        }
    }
    containerd_shim::run::<Service>(RUNTIME_ID, None)
}

/// The one mapping of shim errors to ttrpc status codes. containerd turns
/// the code back into its error kinds (`failed precondition` for a
/// refusal) and passes the message to the client.
fn status(e: ShimError) -> ttrpc::Error {
    let code = match e.class() {
        ErrorClass::FailedPrecondition => Code::FAILED_PRECONDITION,
        ErrorClass::NotFound => Code::NOT_FOUND,
        ErrorClass::AlreadyExists => Code::ALREADY_EXISTS,
        ErrorClass::InvalidArgument => Code::INVALID_ARGUMENT,
        ErrorClass::Unimplemented => Code::UNIMPLEMENTED,
        ErrorClass::Unknown => Code::UNKNOWN,
    };
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, e.to_string()))
}

/// Waits for children through the shim's reaper (see [`Spawner`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MonitorSpawner;

impl Spawner for MonitorSpawner {
    fn run(&self, cmd: std::process::Command) -> std::io::Result<Finished> {
        // Subscribe before spawning, so the exit cannot be missed.
        let sub = monitor_subscribe(Topic::Pid).map_err(std::io::Error::other)?;
        let (pid, stdout, stderr) = spawn_and_read(cmd)?;
        // A command timeout and containerd's exit timestamps below: not
        // trust decisions (their clock is `cerro_core::clock::unix_now`).
        let deadline = SystemTime::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
            match sub.rx.recv_timeout(left) {
                Ok(ExitEvent {
                    subject: Subject::Pid(p),
                    exit_code,
                }) if p as u32 == pid => {
                    return Ok(Finished {
                        code: exit_code,
                        stdout,
                        stderr,
                    })
                }
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(std::io::Error::other(format!(
                        "pid {pid}: no exit within {COMMAND_TIMEOUT:?}"
                    )))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(std::io::Error::other("the reaper is gone"));
                }
            }
        }
    }
}

fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let mut ts = Timestamp::new();
    ts.seconds = d.as_secs() as i64;
    ts.nanos = d.subsec_nanos() as i32;
    ts
}

/// The shim process: containerd's `Shim` (start, delete, daemon life).
pub struct Service {
    namespace: String,
    address: String,
    id: String,
    bundle: String,
    exit: Arc<ExitSignal>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("namespace", &self.namespace)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl containerd_shim::Shim for Service {
    type T = TaskService;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut containerd_shim::Config) -> Self {
        Service {
            namespace: args.namespace.clone(),
            address: args.address.clone(),
            id: args.id.clone(),
            bundle: args.bundle.clone(),
            exit: Arc::new(ExitSignal::default()),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        // One shim per pod, as runc's v2 shim: containerd runs `start` in
        // the task's bundle, whose spec names the pod (CRI's sandbox id;
        // the sandbox's own id for the sandbox). The socket address is
        // derived from the group, so every container of the pod gets the
        // address of the first one's shim: the process spawned here finds
        // the address in use and answering, prints it and exits (the
        // `containerd-shim` crate's `create_server_with_retry`).
        let grouping = pod_grouping(std::path::Path::new(".")).unwrap_or_else(|| opts.id.clone());
        let (_pid, address) = containerd_shim::spawn(opts, &grouping, daemon_env(|k| std::env::var_os(k)))?;
        // The daemon removes this socket when it exits.
        containerd_shim::synchronous::util::write_address(&address)?;
        Ok(address)
    }

    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        // Called when the daemon died: clean up what it may have left.
        let bundle = if self.bundle.is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            PathBuf::from(&self.bundle)
        };
        let result = match RuntimeBinary::read(&bundle) {
            Some(rt) => CommandRuntime::new(Arc::new(MonitorSpawner)).delete(&rt, &self.id, &bundle),
            None => crate::host::unmount_rootfs(&crate::host::SystemHost, &bundle.join("rootfs")),
        };
        if let Err(e) = result {
            log::warn!("cleaning up {}: {e}", self.id);
        }
        let mut r = DeleteResponse::new();
        r.exit_status = 128 + 9;
        r.exited_at = MessageField::some(timestamp(SystemTime::now()));
        Ok(r)
    }

    fn wait(&mut self) {
        self.exit.wait();
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> TaskService {
        // The decision and the create run in a short-lived child
        // (`create.rs`): this long-lived process never maps the
        // verification's code or holds its working set.
        let tasks = Arc::new(Tasks::with_creation(
            Box::new(CommandRuntime::new(Arc::new(MonitorSpawner))),
            Creation::child(&self.address, &self.namespace, Arc::new(MonitorSpawner)),
        ));
        let publisher = Arc::new(Publisher::connect(publisher));
        let svc = TaskService {
            tasks: tasks.clone(),
            publisher: publisher.clone(),
            namespace: self.namespace.clone(),
            exit: self.exit.clone(),
        };
        // Exit events: the reaper reports every child; the container inits
        // among them become TaskExit events.
        match monitor_subscribe(Topic::Pid) {
            Ok(sub) => {
                let ns = self.namespace.clone();
                std::thread::spawn(move || {
                    while let Ok(ev) = sub.rx.recv() {
                        let Subject::Pid(pid) = ev.subject else { continue };
                        if let Some(s) = tasks.exited(pid as u32, ev.exit_code as u32) {
                            publish_exit(&publisher, &ns, &s);
                        }
                    }
                });
            }
            Err(e) => log::error!("cannot watch for exits: {e}"),
        }
        svc
    }
}

/// The environment the task server is started with, beside containerd's:
/// one malloc arena (`MALLOC_ARENA_MAX=1`) unless the caller's environment
/// already chooses. glibc gives each of the server's threads (ttrpc's
/// workers and connection handlers, the reaper, the exit publisher: 13 with
/// one container) an arena of its own, each a mapping with pages of its own resident
/// for the life of the pod; the server's allocations are small and
/// infrequent, so one arena serves them all (#15, "Start-up cost"). Its
/// children inherit it: the create child (single-threaded but for its
/// hashing workers) and the runtime; a container's process gets the
/// environment of its OCI spec, not this one.
fn daemon_env(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Vec<(&'static str, &'static str)> {
    if env("MALLOC_ARENA_MAX").is_some() {
        Vec::new()
    } else {
        vec![("MALLOC_ARENA_MAX", "1")]
    }
}

/// The annotations that group a task with others in one shim, in runc's
/// v2 shim's order (`io.containerd.runc.v2.group`, then CRI's sandbox id).
const GROUP_ANNOTATIONS: [&str; 2] = ["io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id"];

/// The group of the task whose bundle is `bundle`, from its spec's
/// annotations; `None` (one shim for this task) when the spec cannot be
/// read or names no group. A group is a containerd API client's choice
/// (root-equivalent, as for runc): it only shares a process, every task
/// is still decided on its own at create. A value that is empty or not a
/// plain name (`/`, NUL, more than 256 bytes) is ignored.
fn pod_grouping(bundle: &std::path::Path) -> Option<String> {
    let spec = crate::settings::read_config(bundle).ok()?;
    GROUP_ANNOTATIONS
        .iter()
        .filter_map(|k| spec.annotations.get(*k))
        .find(|v| !v.is_empty() && v.len() <= 256 && !v.contains(['/', '\0']))
        .cloned()
}

/// How the server sends containerd its task events.
enum Publisher {
    /// A ttrpc client of containerd's event service of our own: each
    /// event is packed with its type name written here ([`Event`]).
    Direct(EventsClient),
    /// The `containerd-shim` crate's publisher, if our own connection
    /// could not be made: it names the type through protobuf reflection,
    /// which parses the event protos' descriptors (and those they import)
    /// into the heap at the first event and keeps them for the process's
    /// life, hundreds of KiB of code and data a long-lived server does not
    /// need (#15, "Start-up cost").
    Crate(RemotePublisher),
}

/// containerd's variable naming its ttrpc socket (the crate's publisher
/// connects to the same).
const TTRPC_ADDRESS: &str = "TTRPC_ADDRESS";

impl Publisher {
    /// Our own client of containerd's event service; the crate's
    /// (`fallback`) if it cannot be had.
    fn connect(fallback: RemotePublisher) -> Self {
        let client = std::env::var(TTRPC_ADDRESS)
            .map_err(|e| e.to_string())
            .and_then(|a| containerd_shim::util::connect(&a).map_err(|e| e.to_string()))
            .and_then(|fd| ttrpc::Client::new(fd).map_err(|e| e.to_string()));
        match client {
            Ok(c) => Publisher::Direct(EventsClient::new(c)),
            Err(e) => {
                log::warn!("events through the containerd-shim publisher: {e}");
                Publisher::Crate(fallback)
            }
        }
    }
}

/// A task event and the protobuf type name containerd decodes it by (the
/// `type_url` of its `Any`: the message's full name, as Go's `typeurl`
/// registers it).
trait Event: MessageFull {
    const TYPE: &'static str;
}

macro_rules! events {
    ($($t:ident),*) => {$(
        impl Event for $t {
            const TYPE: &'static str = concat!("containerd.events.", stringify!($t));
        }
    )*};
}
events!(
    TaskCreate,
    TaskDelete,
    TaskExecAdded,
    TaskExecStarted,
    TaskExit,
    TaskPaused,
    TaskResumed,
    TaskStart
);

/// The envelope containerd's event service takes, for `event`.
fn envelope<E: Event>(ns: &str, topic: &str, event: &E) -> Result<Envelope, String> {
    let mut any = Any::new();
    any.type_url = E::TYPE.to_owned();
    any.value = event.write_to_bytes().map_err(|e| e.to_string())?;
    let mut env = Envelope::new();
    env.timestamp = MessageField::some(timestamp(SystemTime::now()));
    env.namespace = ns.to_owned();
    env.topic = topic.to_owned();
    env.event = MessageField::some(any);
    Ok(env)
}

fn publish<E: Event>(p: &Publisher, ns: &str, topic: &str, event: E) {
    let sent = match p {
        Publisher::Direct(client) => envelope(ns, topic, &event).and_then(|env| {
            let mut req = ForwardRequest::new();
            req.envelope = MessageField::some(env);
            client
                .forward(Context::default(), &req)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        Publisher::Crate(crate_publisher) => crate_publisher
            .publish(Context::default(), topic, ns, Box::new(event))
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = sent {
        log::warn!("publishing {topic}: {e}");
    }
}

/// TaskExit for an init (`id` = the container id) or an exec (`id` = the
/// exec id), as runc's shim sends it.
fn publish_exit(p: &Publisher, ns: &str, s: &TaskState) {
    let mut e = TaskExit::new();
    e.container_id = s.id.clone();
    e.id = s.exec_id.clone().unwrap_or_else(|| s.id.clone());
    e.pid = s.pid;
    e.exit_status = s.exit_status;
    e.exited_at = MessageField::some(timestamp(s.exited_at.unwrap_or_else(SystemTime::now)));
    publish(p, ns, TASK_EXIT_EVENT_TOPIC, e);
}

/// The type URL containerd gives an OCI `LinuxResources` (`typeurl` of
/// `specs.LinuxResources`, registered by containerd's runtime package);
/// the value is its JSON encoding. What containerd 1.6's Go client sends
/// to Tasks/Update (CRI's UpdateContainerResources among others), and
/// containerd passes it to the shim unchanged.
const LINUX_RESOURCES: &str = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

/// The JSON `linux.resources` object of an update request's `resources`.
/// Any other type (`WindowsResources`, a proto) is refused.
fn linux_resources<'a>(id: &str, resources: Option<&'a Any>) -> Result<&'a [u8], ShimError> {
    match resources {
        None => Err(ShimError::InvalidArgument(format!(
            "update of container {id} without resources"
        ))),
        Some(any) if any.type_url == LINUX_RESOURCES => Ok(&any.value),
        Some(any) => Err(ShimError::InvalidArgument(format!(
            "update of container {id}: resources of type {:?}, this shim takes {LINUX_RESOURCES:?} (JSON)",
            any.type_url
        ))),
    }
}

/// The root file system mounts of a create request. The shim mounts them
/// all on the bundle's `rootfs`, so a mount with a target elsewhere is
/// refused rather than silently mounted on the root.
fn rootfs_mounts(mounts: &[containerd_shim::protos::types::mount::Mount]) -> Result<Vec<Mount>, ShimError> {
    mounts
        .iter()
        .map(|m| {
            if !m.target.is_empty() {
                return Err(ShimError::InvalidArgument(format!(
                    "root file system mount {} {} has target {:?}: this shim mounts the root file system on the \
                     bundle's rootfs only",
                    m.type_, m.source, m.target
                )));
            }
            Ok(Mount {
                fs_type: m.type_.clone(),
                source: m.source.clone(),
                options: m.options.clone(),
            })
        })
        .collect()
}

/// The exec id of a request: `None` for the init (containerd sends "").
fn exec_id(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.is_empty())
}

/// containerd's Task service over [`Tasks`].
pub struct TaskService {
    tasks: Arc<Tasks>,
    publisher: Arc<Publisher>,
    namespace: String,
    exit: Arc<ExitSignal>,
}

impl std::fmt::Debug for TaskService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskService")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl containerd_shim::Task for TaskService {
    fn state(&self, _ctx: &TtrpcContext, req: api::StateRequest) -> TtrpcResult<api::StateResponse> {
        let s = match exec_id(&req.exec_id) {
            None => self.tasks.state(&req.id),
            Some(x) => self.tasks.exec_state(&req.id, x),
        }
        .map_err(status)?;
        let mut r = api::StateResponse::new();
        // containerd's `id` here is the process's: the exec id for an exec.
        r.id = s.exec_id.unwrap_or(s.id);
        r.bundle = s.bundle.display().to_string();
        r.pid = s.pid;
        r.status = EnumOrUnknown::new(match s.status {
            Status::Created => api::Status::CREATED,
            Status::Running => api::Status::RUNNING,
            Status::Paused => api::Status::PAUSED,
            Status::Stopped => api::Status::STOPPED,
        });
        r.stdin = s.stdio.stdin;
        r.stdout = s.stdio.stdout;
        r.stderr = s.stdio.stderr;
        r.terminal = s.stdio.terminal;
        r.exit_status = s.exit_status;
        if let Some(t) = s.exited_at {
            r.exited_at = MessageField::some(timestamp(t));
        }
        Ok(r)
    }

    fn create(&self, _ctx: &TtrpcContext, req: api::CreateTaskRequest) -> TtrpcResult<api::CreateTaskResponse> {
        if !req.checkpoint.is_empty() {
            return Err(status(ShimError::Unimplemented("restoring a checkpoint".into())));
        }
        let options = match req.options.as_ref() {
            Some(any) => {
                // Where options files may come from is the daemon's
                // environment's to say, never the request's.
                let trust = OptionsTrust::for_daemon(|k| std::env::var_os(k));
                from_options(&any.type_url, &any.value, &trust).map_err(|e| {
                    log::warn!("create {}: {e}", req.id);
                    status(e)
                })?
            }
            None => FileSettings::default(),
        };
        let rootfs = rootfs_mounts(&req.rootfs).map_err(status)?;
        let stdio = Stdio {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let pid = self
            .tasks
            .create(CreateTask {
                id: req.id.clone(),
                bundle: PathBuf::from(&req.bundle),
                rootfs,
                stdio,
                options,
            })
            .map_err(|e| {
                log::warn!("create {}: {e}", req.id);
                status(e)
            })?;
        let mut ev = TaskCreate::new();
        ev.container_id = req.id.clone();
        ev.bundle = req.bundle.clone();
        ev.rootfs = req.rootfs.clone();
        let mut io = TaskIO::new();
        io.stdin = req.stdin.clone();
        io.stdout = req.stdout.clone();
        io.stderr = req.stderr.clone();
        io.terminal = req.terminal;
        ev.io = MessageField::some(io);
        ev.pid = pid;
        publish(&self.publisher, &self.namespace, TASK_CREATE_EVENT_TOPIC, ev);
        let mut r = api::CreateTaskResponse::new();
        r.pid = pid;
        Ok(r)
    }

    fn start(&self, _ctx: &TtrpcContext, req: api::StartRequest) -> TtrpcResult<api::StartResponse> {
        if let Some(x) = exec_id(&req.exec_id) {
            let (pid, exited) = self.tasks.start_exec(&req.id, x).map_err(|e| {
                log::warn!("start {} exec {x}: {e}", req.id);
                status(e)
            })?;
            let mut ev = TaskExecStarted::new();
            ev.container_id = req.id.clone();
            ev.exec_id = x.to_owned();
            ev.pid = pid;
            publish(&self.publisher, &self.namespace, TASK_EXEC_STARTED_EVENT_TOPIC, ev);
            if let Some(s) = exited {
                // It exited before its pid was known: its exit event is ours to send.
                publish_exit(&self.publisher, &self.namespace, &s);
            }
            let mut r = api::StartResponse::new();
            r.pid = pid;
            return Ok(r);
        }
        let pid = self.tasks.start(&req.id).map_err(status)?;
        let mut ev = TaskStart::new();
        ev.container_id = req.id.clone();
        ev.pid = pid;
        publish(&self.publisher, &self.namespace, TASK_START_EVENT_TOPIC, ev);
        let mut r = api::StartResponse::new();
        r.pid = pid;
        Ok(r)
    }

    fn delete(&self, _ctx: &TtrpcContext, req: api::DeleteRequest) -> TtrpcResult<api::DeleteResponse> {
        if let Some(x) = exec_id(&req.exec_id) {
            // As runc's shim: no TaskDelete event for an exec.
            let (pid, code, at) = self.tasks.delete_exec(&req.id, x).map_err(status)?;
            let mut r = api::DeleteResponse::new();
            r.pid = pid;
            r.exit_status = code;
            r.exited_at = MessageField::some(timestamp(at));
            return Ok(r);
        }
        let (pid, code, at) = self.tasks.delete(&req.id).map_err(status)?;
        let mut ev = TaskDelete::new();
        ev.container_id = req.id.clone();
        ev.id = req.id.clone();
        ev.pid = pid;
        ev.exit_status = code;
        ev.exited_at = MessageField::some(timestamp(at));
        publish(&self.publisher, &self.namespace, TASK_DELETE_EVENT_TOPIC, ev);
        let mut r = api::DeleteResponse::new();
        r.pid = pid;
        r.exit_status = code;
        r.exited_at = MessageField::some(timestamp(at));
        Ok(r)
    }

    fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
        let mut r = api::PidsResponse::new();
        for (pid, _exec) in self.tasks.pids(&req.id).map_err(status)? {
            let mut p = ProcessInfo::new();
            p.pid = pid;
            r.processes.push(p);
        }
        Ok(r)
    }

    fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        match exec_id(&req.exec_id) {
            None => self.tasks.kill(&req.id, req.signal, req.all),
            Some(x) => self.tasks.kill_exec(&req.id, x, req.signal),
        }
        .map_err(status)?;
        Ok(api::Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: api::ExecProcessRequest) -> TtrpcResult<api::Empty> {
        let spec = req.spec.as_ref().map(|any| any.value.clone()).unwrap_or_default();
        self.tasks
            .exec(ExecTask {
                id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                stdio: Stdio {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                },
                spec,
            })
            .map_err(|e| {
                log::warn!("exec {} in {}: {e}", req.exec_id, req.id);
                status(e)
            })?;
        let mut ev = TaskExecAdded::new();
        ev.container_id = req.id.clone();
        ev.exec_id = req.exec_id.clone();
        publish(&self.publisher, &self.namespace, TASK_EXEC_ADDED_EVENT_TOPIC, ev);
        Ok(api::Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> TtrpcResult<api::Empty> {
        if req.stdin {
            self.tasks.close_stdin(&req.id, exec_id(&req.exec_id)).map_err(status)?;
        }
        Ok(api::Empty::new())
    }

    fn resize_pty(&self, _ctx: &TtrpcContext, req: api::ResizePtyRequest) -> TtrpcResult<api::Empty> {
        self.tasks
            .resize_pty(&req.id, exec_id(&req.exec_id), req.width, req.height)
            .map_err(status)?;
        Ok(api::Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
        let (code, at) = match exec_id(&req.exec_id) {
            None => self.tasks.wait(&req.id),
            Some(x) => self.tasks.wait_exec(&req.id, x),
        }
        .map_err(status)?;
        let mut r = api::WaitResponse::new();
        r.exit_status = code;
        r.exited_at = MessageField::some(timestamp(at));
        Ok(r)
    }

    fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> TtrpcResult<api::Empty> {
        self.tasks.pause(&req.id).map_err(|e| {
            log::warn!("pause {}: {e}", req.id);
            status(e)
        })?;
        let mut ev = TaskPaused::new();
        ev.container_id = req.id.clone();
        publish(&self.publisher, &self.namespace, TASK_PAUSED_EVENT_TOPIC, ev);
        Ok(api::Empty::new())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> TtrpcResult<api::Empty> {
        self.tasks.resume(&req.id).map_err(|e| {
            log::warn!("resume {}: {e}", req.id);
            status(e)
        })?;
        let mut ev = TaskResumed::new();
        ev.container_id = req.id.clone();
        publish(&self.publisher, &self.namespace, TASK_RESUMED_EVENT_TOPIC, ev);
        Ok(api::Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: api::UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        let resources = linux_resources(&req.id, req.resources.as_ref()).map_err(status)?;
        self.tasks.update(&req.id, resources).map_err(|e| {
            log::warn!("update {}: {e}", req.id);
            status(e)
        })?;
        Ok(api::Empty::new())
    }

    fn stats(&self, _ctx: &TtrpcContext, req: api::StatsRequest) -> TtrpcResult<api::StatsResponse> {
        let m = self.tasks.stats(&req.id).map_err(status)?;
        let mut r = api::StatsResponse::new();
        r.stats = MessageField::some(metrics::to_any(&m).map_err(status)?);
        Ok(r)
    }

    fn connect(&self, _ctx: &TtrpcContext, req: api::ConnectRequest) -> TtrpcResult<api::ConnectResponse> {
        let mut r = api::ConnectResponse::new();
        r.shim_pid = std::process::id();
        r.task_pid = self.tasks.state(&req.id).map(|s| s.pid).unwrap_or(0);
        r.version = format!("cerro-shim {}", env!("CARGO_PKG_VERSION"));
        Ok(r)
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: api::ShutdownRequest) -> TtrpcResult<api::Empty> {
        if self.tasks.is_empty() {
            self.exit.signal();
        }
        Ok(api::Empty::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_the_codes_containerd_understands() {
        let code = |e: ShimError| match status(e) {
            ttrpc::Error::RpcStatus(s) => (s.code(), s.message),
            other => panic!("{other:?}"),
        };
        let (c, m) = code(ShimError::Refused {
            container: "c1".into(),
            check: "signer_not_trusted",
            exit_code: 3,
            reason: "signer not trusted: revoked".into(),
        });
        assert_eq!(c, Code::FAILED_PRECONDITION);
        assert!(m.contains("signer_not_trusted") && m.contains("revoked"), "{m}");
        assert_eq!(code(ShimError::NotFound("x".into())).0, Code::NOT_FOUND);
        assert_eq!(code(ShimError::Unimplemented("x".into())).0, Code::UNIMPLEMENTED);
    }

    #[test]
    fn updates_take_json_linux_resources_only() {
        let any = |url: &str, value: &[u8]| {
            let mut a = Any::new();
            a.type_url = url.to_owned();
            a.value = value.to_vec();
            a
        };
        let json = br#"{"memory":{"limit":64000000}}"#;
        let ok = any(LINUX_RESOURCES, json);
        assert_eq!(linux_resources("c1", Some(&ok)).unwrap(), json);
        let windows = any(
            "types.containerd.io/opencontainers/runtime-spec/1/WindowsResources",
            b"{}",
        );
        let e = linux_resources("c1", Some(&windows)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid request: update of container c1: resources of type \
             \"types.containerd.io/opencontainers/runtime-spec/1/WindowsResources\", this shim takes \
             \"types.containerd.io/opencontainers/runtime-spec/1/LinuxResources\" (JSON)"
        );
        let e = linux_resources("c1", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid request: update of container c1 without resources"
        );
        match status(e) {
            ttrpc::Error::RpcStatus(s) => assert_eq!(s.code(), Code::INVALID_ARGUMENT),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pod_shares_a_shim_named_by_its_sandbox() {
        let dir = tempfile::tempdir().unwrap();
        let write = |annotations: &str| {
            std::fs::write(
                dir.path().join("config.json"),
                format!(r#"{{"ociVersion":"1.0.2","annotations":{annotations}}}"#),
            )
            .unwrap();
        };
        write(r#"{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.sandbox-id":"pod1"}"#);
        assert_eq!(pod_grouping(dir.path()).as_deref(), Some("pod1"));
        write(r#"{"io.kubernetes.cri.sandbox-id":"pod1","io.containerd.runc.v2.group":"g"}"#);
        assert_eq!(pod_grouping(dir.path()).as_deref(), Some("g"));
        for bad in [
            r#"{}"#,
            r#"{"io.kubernetes.cri.sandbox-id":""}"#,
            r#"{"io.kubernetes.cri.sandbox-id":"../x"}"#,
        ] {
            write(bad);
            assert_eq!(pod_grouping(dir.path()), None, "{bad}");
        }
        std::fs::write(dir.path().join("config.json"), "not json").unwrap();
        assert_eq!(pod_grouping(dir.path()), None);
    }

    #[test]
    fn the_server_gets_one_malloc_arena_unless_told_otherwise() {
        assert_eq!(daemon_env(|_| None), vec![("MALLOC_ARENA_MAX", "1")]);
        assert_eq!(daemon_env(|k| (k == "MALLOC_ARENA_MAX").then(|| "4".into())), vec![]);
    }

    #[test]
    fn events_carry_the_type_names_their_protos_declare() {
        use containerd_shim::protos::protobuf::Message as _;
        fn name<E: Event>() -> (&'static str, String) {
            (E::TYPE, E::descriptor().full_name().to_owned())
        }
        for (ours, reflected) in [
            name::<TaskCreate>(),
            name::<TaskDelete>(),
            name::<TaskExecAdded>(),
            name::<TaskExecStarted>(),
            name::<TaskExit>(),
            name::<TaskPaused>(),
            name::<TaskResumed>(),
            name::<TaskStart>(),
        ] {
            assert_eq!(ours, reflected);
        }
        let mut e = TaskExit::new();
        e.container_id = "c1".into();
        e.pid = 7;
        let env = envelope("default", TASK_EXIT_EVENT_TOPIC, &e).unwrap();
        assert_eq!((env.namespace.as_str(), env.topic.as_str()), ("default", "/tasks/exit"));
        let any = env.event.into_option().unwrap();
        assert_eq!(any.type_url, "containerd.events.TaskExit");
        assert_eq!(TaskExit::parse_from_bytes(&any.value).unwrap(), e);
    }

    #[test]
    fn timestamps_keep_seconds_and_nanos() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let ts = timestamp(t);
        assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 5));
    }
}
