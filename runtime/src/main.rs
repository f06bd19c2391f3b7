//! `cerro-runtime`: a small OCI runtime on youki's `libcontainer`, with the
//! runc command-line subset that the Cerro Torre shim drives
//! (`create`, `start`, `exec`, `state`, `kill`, `delete`, `pause`,
//! `resume`, `update`).
//!
//! Why a separate binary: `libcontainer` clones the calling process and
//! changes process-wide state (signal dispositions, the working directory,
//! namespaces of the forked children). That is only sound in a
//! single-threaded process, and the shim is not one (ttrpc threads, a reaper
//! thread, a gRPC client). This binary starts no thread: each invocation does
//! one operation and exits, exactly like runc under containerd's runc shim.
//!
//! The container's init inherits this process's stdin, stdout and stderr
//! (the shim hands it the task's FIFOs). After `create` this process exits
//! and the init is re-parented to the shim, which is a child subreaper and
//! so collects its exit status.
//!
//! Verification is not done here: the shim decides before it calls `create`,
//! and writes the decision's SELinux labels into `config.json`; this binary
//! applies them ([`label`]: the process label at exec, failing the
//! container if the kernel refuses it).
//!
//! `exec` ([`exec`]) starts one more process in a running container, with
//! the container's process label and seccomp profile ([`seccomp`]); the
//! image is not verified again (the shim verified it at create).
//!
//! The container's program is found with runc's rule ([`lookup`]: an
//! absolute `args[0]` runs with no `PATH` in the environment), and a
//! `process.oomScoreAdj` this process may not set fails `create` with the
//! reason and containerd's remedy ([`oom`]), where libcontainer says only
//! "io error".
//!
//! `pause` and `resume` freeze and thaw the container's cgroup
//! (libcontainer's freezer); `update` ([`update`]) applies new cgroup
//! limits to it.
//!
//! The rest of runc's command line, where containerd or a user reaches for
//! it: `run` (create and start; in the foreground it forwards signals and
//! exits with the container's status, [`foreground`]), `events`
//! ([`events`]), `features` ([`features`]), `list`, `ps`, `spec`; the
//! global `--log`/`--log-format` ([`log`]) and `--systemd-cgroup`
//! (refused at create: no systemd cgroup driver here); `--no-pivot` and
//! `--preserve-fds` at create; `exec --tty` with a console socket.

mod events;
mod exec;
mod features;
mod foreground;
mod label;
mod log;
mod lookup;
mod oom;
mod seccomp;
mod update;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Parser, Subcommand};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;

use crate::label::{LabelExecutor, ProcAttr};
use crate::lookup::RuncLookup;

/// Where container state lives unless `--root` says otherwise.
const DEFAULT_ROOT: &str = "/run/cerro-runtime";

#[derive(Parser)]
#[command(
    name = "cerro-runtime",
    version,
    about = "OCI runtime (libcontainer) driven by the Cerro Torre shim"
)]
struct Cli {
    /// Directory holding the state of every container.
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    root: PathBuf,
    /// Where this runtime's own warnings and errors go (appended; default
    /// stderr). containerd reads the last error line back on a failure.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// `text` (logrus's `time=… level=… msg=…`) or `json` (one object a line).
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
    /// Use systemd's cgroup driver: refused by `create` and `run` (this
    /// runtime has none); accepted by the other commands, which containerd
    /// runs with the same global flags.
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

/// What `create` and `run` take.
#[derive(clap::Args)]
struct CreateArgs {
    /// The OCI bundle (config.json and the root file system); the
    /// current directory if not given, as runc.
    #[arg(long, short)]
    bundle: Option<PathBuf>,
    /// Write the init's pid here.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    #[command(flatten)]
    io: IoArgs,
    /// Move the root file system onto `/` and chroot into it instead of
    /// pivot_root (for a root on ramfs, where pivot_root fails), as runc.
    #[arg(long)]
    no_pivot: bool,
    /// Pass this many of the caller's descriptors, from 3 on, to the
    /// container's process (besides stdio), as runc.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u16,
}

/// The process's standard streams and terminal (create and exec).
#[derive(clap::Args)]
struct IoArgs {
    /// Its stdin: a FIFO path, `file://PATH`, or empty for /dev/null
    /// (default: this process's own, as runc).
    #[arg(long)]
    stdin: Option<String>,
    /// Its stdout: a FIFO path, `file://PATH`, or empty for /dev/null
    /// (default: this process's own, as runc).
    #[arg(long)]
    stdout: Option<String>,
    /// Its stderr: a FIFO path, `file://PATH`, or empty for /dev/null
    /// (default: this process's own, as runc).
    #[arg(long)]
    stderr: Option<String>,
    /// A unix socket to send the terminal's master to (`process.terminal`).
    #[arg(long)]
    console_socket: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the containers under `--root`, as `runc list`: a table, their
    /// ids (`--quiet`), or their states as `state` prints each (`--format json`).
    List {
        /// `table` or `json`.
        #[arg(long, short, default_value = "table")]
        format: String,
        /// Only the ids.
        #[arg(long, short)]
        quiet: bool,
    },
    /// The processes of a container, as `runc ps`: `ps -ef` (or the `ps`
    /// options given after the id) narrowed to its cgroup's pids, or the
    /// pids as JSON (`--format json`).
    Ps {
        /// `table` or `json`.
        #[arg(long, short, default_value = "table")]
        format: String,
        id: String,
        /// Options for `ps` (default `-ef`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Write a default `config.json` into the bundle, as `runc spec`
    /// (never over an existing one).
    Spec {
        /// The bundle; the current directory if not given.
        #[arg(long, short)]
        bundle: Option<PathBuf>,
    },
    /// Create a container from an OCI bundle; its init waits for `start`.
    Create {
        #[command(flatten)]
        create: CreateArgs,
        id: String,
    },
    /// Create and start a container; in the foreground, wait for it,
    /// delete it and exit with its status (runc's `run`).
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container runs (it is not deleted).
        #[arg(long, short)]
        detach: bool,
        id: String,
    },
    /// Let a created container's init run its process.
    Start { id: String },
    /// Run one more process in a running container: `--process FILE`, or
    /// the command after the id (runc's `exec`).
    Exec {
        /// The process to run: an OCI `process` object (JSON).
        #[arg(long, short)]
        process: Option<PathBuf>,
        /// Write the process's pid here.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        #[command(flatten)]
        io: IoArgs,
        /// Return once the process runs; its parent (a subreaper) collects its exit.
        #[arg(long, short)]
        detach: bool,
        /// Give the command a terminal (with --console-socket and --detach).
        #[arg(long, short)]
        tty: bool,
        /// Add `KEY=VALUE` to the command's environment.
        #[arg(long, short)]
        env: Vec<String>,
        /// The command's working directory.
        #[arg(long)]
        cwd: Option<String>,
        /// Pass this many of the caller's descriptors, from 3 on.
        #[arg(long, default_value_t = 0)]
        preserve_fds: u16,
        id: String,
        /// The command and its arguments (without --process).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// The container's cgroup statistics as runc's events: one with
    /// `--stats`, else one every `--interval` until it stops.
    Events {
        /// Print one event and exit.
        #[arg(long)]
        stats: bool,
        /// Time between events (a Go duration: 5s, 500ms, 1m).
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// What this runtime supports, as the runtime spec's features JSON.
    Features,
    /// Print the OCI state of a container as JSON.
    State { id: String },
    /// Send a signal (name or number, default SIGTERM) to the container.
    Kill {
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Signal every process of the container, not only its init.
        #[arg(long, short)]
        all: bool,
    },
    /// Freeze every process of a running container (cgroup freezer).
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Set new cgroup limits on a container (`runc update --resources`).
    Update {
        /// An OCI `linux.resources` object (JSON); `-` reads it from stdin.
        #[arg(long, short)]
        resources: PathBuf,
        id: String,
    },
    /// Copy stdin to stdout until end of file (the stdio relay of a
    /// container in an SELinux domain; started by `create` and `exec`).
    #[command(hide = true)]
    Relay,
    /// Delete a container (and with --force, kill it first).
    Delete {
        #[arg(long, short)]
        force: bool,
        id: String,
    },
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    In,
    Out,
}

/// Opens one of the container's streams without blocking on a FIFO whose
/// other end is not open yet: output FIFOs are opened read-write (which
/// never blocks on Linux); the input FIFO non-blocking, then switched back
/// to blocking so the container sees ordinary reads.
fn open_stream(spec: Option<&str>, dir: Direction) -> Result<std::fs::File> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let Some(spec) = spec else {
        // No flag: the caller's own stream, as runc's command line passes
        // its stdio through (a caller reading our stdout through a pipe
        // then waits for the container too: the shim always names all three).
        return own_stream(dir);
    };
    if spec.is_empty() {
        return std::fs::OpenOptions::new()
            .read(dir == Direction::In)
            .write(dir == Direction::Out)
            .open("/dev/null")
            .context("opening /dev/null");
    }
    if let Some(path) = spec.strip_prefix("file://") {
        return std::fs::OpenOptions::new()
            .read(dir == Direction::In)
            .append(dir == Direction::Out)
            .create(dir == Direction::Out)
            .open(path)
            .with_context(|| format!("opening {path}"));
    }
    if spec.contains("://") {
        anyhow::bail!("unsupported stream URI {spec:?} (FIFO paths and file:// only)");
    }
    let is_fifo = std::fs::metadata(spec)
        .with_context(|| format!("opening {spec}"))?
        .file_type()
        .is_fifo();
    let f = match (dir, is_fifo) {
        (Direction::Out, true) => std::fs::OpenOptions::new().read(true).write(true).open(spec),
        (Direction::In, true) => std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(spec),
        (Direction::Out, false) => std::fs::OpenOptions::new().append(true).open(spec),
        (Direction::In, false) => std::fs::File::open(spec),
    }
    .with_context(|| format!("opening {spec}"))?;
    if dir == Direction::In && is_fifo {
        nix::fcntl::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
        )
        .with_context(|| format!("making {spec} blocking"))?;
    }
    Ok(f)
}

/// A copy of this process's stdin (`In`) or stdout (`Out`). The caller
/// asks for stderr by [`own_stderr`].
fn own_stream(dir: Direction) -> Result<std::fs::File> {
    use std::os::fd::AsFd;
    let fd = match dir {
        Direction::In => std::io::stdin().as_fd().try_clone_to_owned(),
        Direction::Out => std::io::stdout().as_fd().try_clone_to_owned(),
    };
    fd.map(std::fs::File::from).context("duplicating this process's stdio")
}

/// A copy of this process's stderr.
fn own_stderr() -> Result<std::fs::File> {
    use std::os::fd::AsFd;
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .context("duplicating this process's stderr")
}

/// The container's three streams, opened as [`open_stream`] does. With
/// `relay` (the container runs in an SELinux domain), each FIFO is put
/// behind a pipe this process creates, with a relay process copying between
/// them ([`relay_through_pipe`]), as containerd's runc shim copies between
/// its FIFOs and the pipes runc's container gets: a confined process may
/// use the pipes of the runtime that started it (its module's hand-over
/// rules), not a FIFO labelled by the directory the client made it in
/// (`var_run_t` under `/run/containerd/fifo`): the kernel would close such a
/// descriptor at the exec into the domain, and the container's output would
/// be lost (observed in the enforcing VM, integration/tests/selinux_vm.rs).
///
/// A stream without a flag is this process's own (runc's pass-through),
/// except with a `terminal` (a console socket): the pty stands for the
/// streams, and this process's own (a caller's pipes) must not reach the
/// container, so they are /dev/null.
fn container_streams(
    stdin: Option<&str>,
    stdout: Option<&str>,
    stderr: Option<&str>,
    relay: bool,
    terminal: bool,
) -> Result<[std::fs::File; 3]> {
    let mut streams = Vec::with_capacity(3);
    for (i, (spec, dir)) in [
        (stdin, Direction::In),
        (stdout, Direction::Out),
        (stderr, Direction::Out),
    ]
    .into_iter()
    .enumerate()
    {
        let spec = if terminal { spec.or(Some("")) } else { spec };
        let f = match (i, spec) {
            (2, None) => own_stderr()?,
            _ => open_stream(spec, dir)?,
        };
        let fifo = f.metadata().is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_fifo()
        });
        streams.push(if relay && fifo { relay_through_pipe(f, dir)? } else { f });
    }
    let [i, o, e]: [std::fs::File; 3] = streams.try_into().map_err(|_| anyhow!("three streams expected"))?;
    Ok([i, o, e])
}

/// Gives the container a pipe instead of `fifo`: a relay process (this
/// program, `relay`) copies the pipe to the FIFO (output) or the FIFO to the
/// pipe (input) until end of file, then exits; it is not waited for (it is
/// re-parented with the container and collected by the same subreaper). The
/// relay holds only its own end: the container's end closing is its end of
/// file. The pipe carries this process's context, so the hand-over rules of
/// the container's module apply to it.
fn relay_through_pipe(fifo: std::fs::File, dir: Direction) -> Result<std::fs::File> {
    use std::process::{Command, Stdio};
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating a pipe for the container's stdio")?;
    let exe = std::env::current_exe().context("finding this program to relay the container's stdio")?;
    let (from, to, container) = match dir {
        Direction::Out => (Stdio::from(r), Stdio::from(fifo), w),
        Direction::In => (Stdio::from(fifo), Stdio::from(w), r),
    };
    Command::new(&exe)
        .arg("relay")
        .stdin(from)
        .stdout(to)
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {} relay for the container's stdio", exe.display()))?;
    Ok(std::fs::File::from(container))
}

/// Whether the container runs in an SELinux domain (its `config.json` sets
/// `process.selinuxLabel`): then its FIFOs are relayed through pipes.
fn labelled(spec: &libcontainer::oci_spec::runtime::Spec) -> bool {
    spec.process()
        .as_ref()
        .is_some_and(|p| p.selinux_label().as_ref().is_some_and(|l| !l.is_empty()))
}

/// A status as a lower-case word (`running`, `paused`, …).
fn word(s: ContainerStatus) -> String {
    s.to_string().to_lowercase()
}

fn load(root: &std::path::Path, id: &str) -> Result<Container> {
    Container::load(root.join(id)).with_context(|| format!("container {id} (state in {})", root.display()))
}

/// Why `--systemd-cgroup` cannot be honoured here: this runtime has no
/// systemd cgroup driver (libcontainer's `systemd` feature is not built:
/// this project's hosts run no systemd as PID 1), and on a host without
/// systemd runc refuses it too. Refused rather than ignored: the caller
/// asked for its containers' cgroups to be systemd units.
fn systemd_cgroup_refusal() -> String {
    let running = std::path::Path::new("/run/systemd/system").exists();
    format!(
        "--systemd-cgroup: this runtime has no systemd cgroup driver{}; use the cgroupfs driver \
         (leave --systemd-cgroup off; containerd: SystemdCgroup = false)",
        if running {
            ""
        } else {
            ", and systemd is not running on this host (no /run/systemd/system), so runc cannot use one either"
        }
    )
}

/// Creates container `id` (its init waits for `start`): `create`, and the
/// first half of `run` (`detach` false: the caller waits for the init).
fn create(root: &std::path::Path, c: CreateArgs, id: &str, systemd: bool, detach: bool) -> Result<Container> {
    let CreateArgs {
        bundle,
        pid_file,
        io: IoArgs {
            stdin,
            stdout,
            stderr,
            console_socket,
        },
        no_pivot,
        preserve_fds,
    } = c;
    if systemd {
        bail!(systemd_cgroup_refusal());
    }
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let bundle = bundle_or_cwd(bundle)?;
    let config = bundle.join("config.json");
    let spec = libcontainer::oci_spec::runtime::Spec::load(&config)
        .with_context(|| format!("reading {}", config.display()))?;
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    if terminal && !detach {
        bail!(
            "run: the process has a terminal (process.terminal), which this runtime does not relay in \
             the foreground: use run --detach --console-socket, or create"
        );
    }
    // libcontainer's own write of the OOM score fails without a
    // reason ("io error"); this one says why and what to set.
    oom::apply(spec.process().as_ref().and_then(|p| p.oom_score_adj()))?;
    // The init gets these, not this process's own stdio: our stderr
    // is the shim's pipe for error messages and must close when we exit.
    let [stdin, stdout, stderr] = container_streams(
        stdin.as_deref(),
        stdout.as_deref(),
        stderr.as_deref(),
        labelled(&spec) && console_socket.is_none(),
        console_socket.is_some(),
    )?;
    let container = ContainerBuilder::new(id.to_owned(), SyscallType::Linux)
        .with_executor(LabelExecutor::new(ProcAttr, RuncLookup::new(DefaultExecutor {})))
        .with_root_path(root)?
        .with_pid_file(pid_file)?
        .with_console_socket(console_socket)
        .with_preserved_fds(i32::from(preserve_fds))
        .with_stdin(stdin)
        .with_stdout(stdout)
        .with_stderr(stderr)
        .validate_id()?
        .as_init(&bundle)
        .with_systemd(false)
        .with_detach(detach)
        .with_no_pivot(no_pivot)
        .build()
        .with_context(|| format!("creating container {id} from {}", bundle.display()))?;
    // libcontainer 0.7 applies the resources at create with the OOM
    // killer enabled whatever the spec says; runc writes
    // `memory.oom_control` as `disableOOMKiller` asks. Apply the
    // spec's resources again with its value, as `update` does; a
    // container that cannot have it is not left behind.
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    if let Some(r) = resources.filter(|r| disables_oom_killer(r)) {
        if let Err(e) = update::update(root, id, r) {
            if let Ok(mut c) = load(root, id) {
                let _ = c.delete(true);
            }
            return Err(e.context(format!("container {id}: linux.resources.memory.disableOOMKiller")));
        }
    }
    Ok(container)
}

/// Starts a created container; a failing poststart hook is a warning.
fn start(root: &std::path::Path, id: &str, log: &mut log::Log) -> Result<()> {
    match load(root, id)?.start() {
        // libcontainer runs the poststart hooks once the process
        // started and fails `start` at a failing one, with the
        // container running. The runtime spec says a failing poststart
        // hook is a warning and the lifecycle continues.
        Err(libcontainer::error::LibcontainerError::Hook(e)) => {
            log.warn(&format!("container {id}: a poststart hook failed: {e}"));
            Ok(())
        }
        other => other.with_context(|| format!("starting {id}")),
    }
}

/// Deletes a container (with `force`, killing it first); one that is not
/// there is deleted already.
fn delete(root: &std::path::Path, id: &str, force: bool, log: &mut log::Log) -> Result<()> {
    let dir = root.join(id);
    if !dir.exists() {
        // Deleting what is not there succeeds: containerd may ask
        // again after a failed create or a shim restart.
        return Ok(());
    }
    let mut c = load(root, id)?;
    if force
        && matches!(
            c.status(),
            ContainerStatus::Running | ContainerStatus::Created | ContainerStatus::Paused
        )
    {
        // Best effort; delete(force) kills what is left.
        let _ = c.kill(Signal::try_from("SIGKILL").map_err(|e| anyhow!("{e}"))?, true);
    }
    match c.delete(force) {
        // libcontainer runs the poststop hooks last and stops at a
        // failing one, before it removes the state directory: every
        // later delete, `--force` too, would fail the same way. The
        // runtime spec says a failing poststop hook is a warning
        // and the lifecycle continues, as runc does: finish the
        // delete (the cgroup is already removed by then).
        Err(libcontainer::error::LibcontainerError::Hook(e)) => {
            log.warn(&format!("container {id}: a poststop hook failed: {e}"));
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            }
            Ok(())
        }
        other => other.with_context(|| format!("deleting {id}")),
    }
}

/// Runs one command; its exit status (that of the process for `exec`
/// without `--detach` and for `run` without `--detach`, else 0).
fn run(cli: Cli, log: &mut log::Log) -> Result<i32> {
    match cli.cmd {
        Cmd::Create { create: c, id } => {
            create(&cli.root, c, &id, cli.systemd_cgroup, true)?;
        }
        Cmd::Run { create: c, detach, id } => {
            let container = create(&cli.root, c, &id, cli.systemd_cgroup, detach)?;
            if detach {
                start(&cli.root, &id, log)?;
                return Ok(0);
            }
            let init = container.pid().context("the created container has no init pid")?;
            // After the create (the container must not inherit a blocked
            // mask), before the start (no exit signal may be missed).
            foreground::block_signals()?;
            if let Err(e) = start(&cli.root, &id, log) {
                let _ = delete(&cli.root, &id, true, log);
                return Err(e);
            }
            let code = foreground::wait(init)?;
            // runc's `run` removes the container it ran.
            delete(&cli.root, &id, true, log)?;
            return Ok(code);
        }
        Cmd::Events { stats, interval, id } => {
            events::events(&cli.root, &id, stats, events::parse_interval(&interval)?)?;
        }
        Cmd::Features => {
            // A reader that goes away is an error, not a panic.
            let text = serde_json::to_string_pretty(&features::features())?;
            std::io::Write::write_all(&mut std::io::stdout(), format!("{text}\n").as_bytes())
                .context("writing the features to stdout")?;
        }
        Cmd::Start { id } => start(&cli.root, &id, log)?,
        Cmd::Exec {
            process,
            pid_file,
            io:
                IoArgs {
                    stdin,
                    stdout,
                    stderr,
                    console_socket,
                },
            detach,
            tty,
            env,
            cwd,
            preserve_fds,
            id,
            command,
        } => {
            let process = match process {
                Some(f) if command.is_empty() && !tty && env.is_empty() && cwd.is_none() => {
                    exec::ProcessSource::File(f)
                }
                // runc ignores them with --process; refusing says so.
                Some(_) => bail!("exec --process takes no command, --tty, --env or --cwd: the file says them"),
                None => exec::ProcessSource::Args {
                    args: command,
                    tty,
                    env,
                    cwd,
                },
            };
            return exec::exec(
                &cli.root,
                exec::ExecRequest {
                    id,
                    process,
                    preserve_fds: i32::from(preserve_fds),
                    pid_file,
                    stdin,
                    stdout,
                    stderr,
                    console_socket,
                    detach,
                },
            );
        }
        Cmd::List { format, quiet } => {
            if !matches!(format.as_str(), "table" | "json") {
                bail!("unknown --format {format:?} (table or json)");
            }
            let mut ids: Vec<String> = match std::fs::read_dir(&cli.root) {
                Ok(entries) => entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect(),
                // No root yet: no containers.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e).with_context(|| format!("reading {}", cli.root.display())),
            };
            ids.sort();
            let mut containers = Vec::new();
            for id in ids {
                // A directory that holds no container state is not one.
                if let Ok(mut c) = load(&cli.root, &id) {
                    let _ = c.refresh_status();
                    containers.push(c);
                }
            }
            if quiet {
                for c in &containers {
                    println!("{}", c.id());
                }
            } else if format == "json" {
                let states: Vec<_> = containers.iter().map(|c| &c.state).collect();
                println!("{}", serde_json::to_string(&states)?);
            } else {
                println!("ID\tPID\tSTATUS\tBUNDLE\tCREATED");
                for c in &containers {
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        c.id(),
                        c.pid().map_or(0, |p| p.as_raw()),
                        c.status().to_string().to_lowercase(),
                        c.bundle().display(),
                        c.created().map(|t| t.to_rfc3339()).unwrap_or_default()
                    );
                }
            }
        }
        Cmd::Ps { format, id, ps_args } => {
            let pids = update::pids(&cli.root, &id)?;
            match format.as_str() {
                "json" => println!("{}", serde_json::to_string(&pids)?),
                "table" => {
                    let args = if ps_args.is_empty() {
                        vec!["-ef".to_owned()]
                    } else {
                        ps_args
                    };
                    let out = std::process::Command::new("ps")
                        .args(&args)
                        .output()
                        .context("running ps")?;
                    if !out.status.success() {
                        bail!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
                    }
                    print!("{}", narrow_ps(&String::from_utf8_lossy(&out.stdout), &pids)?);
                }
                f => bail!("unknown --format {f:?} (table or json)"),
            }
        }
        Cmd::Spec { bundle } => {
            let path = bundle_or_cwd(bundle)?.join("config.json");
            let spec = libcontainer::oci_spec::runtime::Spec::default();
            let text = serde_json::to_vec_pretty(&spec)?;
            // create_new: an existing config.json is never replaced.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .with_context(|| format!("writing {} (remove it first if it exists)", path.display()))?;
            std::io::Write::write_all(&mut f, &text).with_context(|| format!("writing {}", path.display()))?;
        }
        Cmd::State { id } => {
            let mut c = load(&cli.root, &id)?;
            c.refresh_status()?;
            println!("{}", serde_json::to_string(&c.state)?);
        }
        Cmd::Kill { id, signal, all } => {
            let sig = Signal::try_from(signal.as_str()).map_err(|e| anyhow!("{e}"))?;
            let sigkill = matches!(signal.to_ascii_uppercase().trim_start_matches("SIG"), "KILL" | "9");
            let mut c = load(&cli.root, &id)?;
            let was_paused = c.status() == ContainerStatus::Paused;
            c.kill(sig, all).with_context(|| format!("signalling {id}"))?;
            // libcontainer records any signalled container as stopped. One
            // that was paused stays frozen (the signal waits for the thaw)
            // unless the kill thawed it: SIGKILL, or `--all` (which freezes,
            // signals and thaws, as runc does). Keep `resume` possible.
            if was_paused && !all && !sigkill {
                c.refresh_status()?;
                if c.status() != ContainerStatus::Stopped {
                    c.set_status(ContainerStatus::Paused)
                        .save()
                        .with_context(|| format!("saving the state of {id}"))?;
                }
            }
        }
        Cmd::Pause { id } => {
            let mut c = load(&cli.root, &id)?;
            if !c.can_pause() {
                bail!("cannot pause container {id}: it is {}, not running", word(c.status()));
            }
            c.pause().with_context(|| format!("pausing {id}"))?;
        }
        Cmd::Resume { id } => {
            let mut c = load(&cli.root, &id)?;
            if !c.can_resume() {
                bail!("cannot resume container {id}: it is {}, not paused", word(c.status()));
            }
            c.resume().with_context(|| format!("resuming {id}"))?;
        }
        Cmd::Update { resources, id } => {
            update::update(&cli.root, &id, &update::read_resources(&resources)?)?;
        }
        Cmd::Relay => {
            // The descriptors themselves, unbuffered: what the container
            // wrote reaches the client as it is written.
            use std::os::fd::AsFd as _;
            let mut from = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
            let mut to = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
            // A reader that went away (EPIPE) ends the relay as end of file does.
            let _ = std::io::copy(&mut from, &mut to);
        }
        Cmd::Delete { force, id } => delete(&cli.root, &id, force, log)?,
    }
    Ok(0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let opened = log::Format::parse(&cli.log_format).and_then(|f| log::Log::open(cli.log.as_deref(), f));
    let mut log = match opened {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cerro-runtime: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match run(cli, &mut log) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX)),
        Err(e) => {
            log.error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// `ps` output narrowed to `pids`, as runc does: the header, and the lines
/// whose `PID` column is one of them.
fn narrow_ps(out: &str, pids: &[i32]) -> Result<String> {
    let mut lines = out.lines();
    let header = lines.next().context("ps printed nothing")?;
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps printed no PID column")?;
    let mut kept = format!("{header}\n");
    for l in lines {
        let pid = l.split_whitespace().nth(col).and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            kept.push_str(l);
            kept.push('\n');
        }
    }
    Ok(kept)
}

/// The bundle given, else the current directory (runc's default).
fn bundle_or_cwd(bundle: Option<PathBuf>) -> Result<PathBuf> {
    match bundle {
        Some(b) => Ok(b),
        None => std::env::current_dir().context("the current directory (the bundle when --bundle is not given)"),
    }
}

/// Whether `resources` asks for the OOM killer to be disabled.
fn disables_oom_killer(resources: &libcontainer::oci_spec::runtime::LinuxResources) -> bool {
    resources.memory().as_ref().and_then(|m| m.disable_oom_killer()) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn fifo(dir: &std::path::Path, name: &str) -> String {
        let p = dir.join(name);
        let ok = std::process::Command::new("mkfifo").arg(&p).status().unwrap();
        assert!(ok.success());
        p.display().to_string()
    }

    #[test]
    fn fifos_open_without_a_peer_and_pass_data() {
        let dir = tempfile::tempdir().unwrap();
        // Neither open may block although nobody holds the other end yet.
        let out_path = fifo(dir.path(), "out");
        let mut out = open_stream(Some(&out_path), Direction::Out).unwrap();
        let in_path = fifo(dir.path(), "in");
        let mut input = open_stream(Some(&in_path), Direction::In).unwrap();
        // Data flows both ways once a peer appears; input is blocking again.
        let mut reader = std::fs::File::open(&out_path).unwrap();
        out.write_all(b"hello\n").unwrap();
        let mut buf = [0u8; 6];
        reader.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello\n");
        let mut writer = std::fs::OpenOptions::new().write(true).open(&in_path).unwrap();
        writer.write_all(b"in").unwrap();
        drop(writer);
        let mut got = String::new();
        input.read_to_string(&mut got).unwrap();
        assert_eq!(got, "in");
    }

    #[test]
    fn files_null_and_unsupported_streams() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let uri = format!("file://{}", log.display());
        open_stream(Some(&uri), Direction::Out)
            .unwrap()
            .write_all(b"a")
            .unwrap();
        open_stream(Some(&uri), Direction::Out)
            .unwrap()
            .write_all(b"b")
            .unwrap();
        assert_eq!(std::fs::read(&log).unwrap(), b"ab");
        // Empty and /dev/null name /dev/null (no flag is the caller's own).
        for null in ["", "/dev/null"] {
            let mut null = open_stream(Some(null), Direction::In).unwrap();
            assert_eq!(null.read(&mut [0u8; 4]).unwrap(), 0);
        }
        open_stream(Some(""), Direction::Out).unwrap().write_all(b"x").unwrap();
        let e = open_stream(Some("binary:///usr/bin/logger"), Direction::Out).unwrap_err();
        assert!(e.to_string().contains("unsupported"), "{e}");
        assert!(open_stream(Some("/nonexistent/fifo"), Direction::Out).is_err());
    }

    #[test]
    fn only_an_explicit_disable_oom_killer_reapplies_the_resources() {
        let res = |j: &str| serde_json::from_str::<libcontainer::oci_spec::runtime::LinuxResources>(j).unwrap();
        assert!(disables_oom_killer(&res(r#"{"memory":{"disableOOMKiller":true}}"#)));
        assert!(!disables_oom_killer(&res(r#"{"memory":{"disableOOMKiller":false}}"#)));
        assert!(!disables_oom_killer(&res(r#"{"memory":{"limit":1000000}}"#)));
        assert!(!disables_oom_killer(&res(r#"{}"#)));
    }

    #[test]
    fn systemd_cgroups_are_refused_with_the_reason() {
        let why = systemd_cgroup_refusal();
        assert!(
            why.starts_with("--systemd-cgroup: this runtime has no systemd cgroup driver"),
            "{why}"
        );
        assert!(why.contains("SystemdCgroup = false"), "{why}");
        // create refuses before it reads the bundle or makes the root.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let cli = Cli::try_parse_from(["cerro-runtime", "create", "--bundle", "/nonexistent", "c1"]).unwrap();
        let Cmd::Create { create: c, .. } = cli.cmd else {
            panic!()
        };
        let e = create(&root, c, "c1", true, true).unwrap_err();
        assert!(e.to_string().starts_with("--systemd-cgroup"), "{e}");
        assert!(!root.exists());
    }

    #[test]
    fn ps_keeps_the_header_and_the_containers_pids() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 09:00 ? 00:00:01 init\n\
                   root 42 1 0 09:01 ? 00:00:00 sleep 60\nroot 420 1 0 09:01 ? 00:00:00 other\n";
        assert_eq!(
            narrow_ps(out, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 09:01 ? 00:00:00 sleep 60\n"
        );
        assert!(narrow_ps("UID CMD\nroot x\n", &[1]).is_err());
        assert!(narrow_ps("", &[1]).is_err());
    }

    #[test]
    fn the_command_line_is_runc_shaped() {
        let cli = Cli::try_parse_from([
            "cerro-runtime",
            "--root",
            "/run/x",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/b/init.pid",
            "--stdout",
            "/f/out",
            "c1",
        ])
        .unwrap();
        assert_eq!(cli.root, PathBuf::from("/run/x"));
        assert!(
            matches!(cli.cmd, Cmd::Create { ref id, create: CreateArgs { ref io, ref bundle, no_pivot: false, preserve_fds: 0, .. } }
            if id == "c1" && io.stdout.as_deref() == Some("/f/out") && bundle.as_deref() == Some(std::path::Path::new("/b")))
        );
        assert!(cli.log.is_none() && cli.log_format == "text" && !cli.systemd_cgroup);
        assert!(matches!(
            Cli::try_parse_from(["cerro-runtime", "list", "-q"]).unwrap().cmd,
            Cmd::List { quiet: true, ref format } if format == "table"
        ));
        assert!(matches!(
            Cli::try_parse_from(["cerro-runtime", "list", "--format", "json"]).unwrap().cmd,
            Cmd::List { quiet: false, ref format } if format == "json"
        ));
        assert!(matches!(
            Cli::try_parse_from(["cerro-runtime", "ps", "c1", "-o", "pid,comm"]).unwrap().cmd,
            Cmd::Ps { ref id, ref ps_args, .. } if id == "c1" && ps_args == &["-o", "pid,comm"]
        ));
        // runc's default bundle: the current directory.
        let cli = Cli::try_parse_from(["cerro-runtime", "create", "c2"]).unwrap();
        assert!(matches!(cli.cmd, Cmd::Create { create: CreateArgs { ref bundle, .. }, .. } if bundle.is_none()));
        assert_eq!(bundle_or_cwd(None).unwrap(), std::env::current_dir().unwrap());
        assert_eq!(bundle_or_cwd(Some("/b".into())).unwrap(), PathBuf::from("/b"));
        let cli = Cli::try_parse_from(["cerro-runtime", "kill", "--all", "c1", "9"]).unwrap();
        assert!(matches!(cli.cmd, Cmd::Kill { all: true, ref signal, .. } if signal == "9"));
        assert_eq!(cli.root, PathBuf::from(DEFAULT_ROOT));
        assert!(Cli::try_parse_from(["cerro-runtime", "delete", "--force", "c1"]).is_ok());
        let cli = Cli::try_parse_from([
            "cerro-runtime",
            "exec",
            "--process",
            "/b/e1.json",
            "--pid-file",
            "/b/e1.pid",
            "--stdout",
            "/f/e1-out",
            "--detach",
            "c1",
        ])
        .unwrap();
        assert!(matches!(
            cli.cmd,
            Cmd::Exec { ref id, ref process, detach: true, ref io, .. }
                if id == "c1" && process.as_deref() == Some(std::path::Path::new("/b/e1.json")) && io.stdout.as_deref() == Some("/f/e1-out")
                    && io.console_socket.is_none()
        ));
        // runc's other shape: the command after the id, a terminal for it.
        let cli = Cli::try_parse_from([
            "cerro-runtime",
            "exec",
            "--tty",
            "--console-socket",
            "/s.sock",
            "-d",
            "--env",
            "A=1",
            "c1",
            "/bin/sh",
            "-c",
            "tty",
        ])
        .unwrap();
        assert!(matches!(
            cli.cmd,
            Cmd::Exec { ref id, ref process, tty: true, detach: true, ref env, ref command, .. }
                if id == "c1" && process.is_none() && env == &["A=1"] && command == &["/bin/sh", "-c", "tty"]
        ));
        // runc's global flags and run/events/features.
        let cli = Cli::try_parse_from([
            "cerro-runtime",
            "--log",
            "/b/log.json",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "run",
            "--no-pivot",
            "--preserve-fds",
            "2",
            "-d",
            "c3",
        ])
        .unwrap();
        assert_eq!(cli.log.as_deref(), Some(std::path::Path::new("/b/log.json")));
        assert!(cli.log_format == "json" && cli.systemd_cgroup);
        assert!(
            matches!(cli.cmd, Cmd::Run { detach: true, ref id, create: CreateArgs { no_pivot: true, preserve_fds: 2, .. } } if id == "c3")
        );
        assert!(matches!(
            Cli::try_parse_from(["cerro-runtime", "events", "--stats", "c1"]).unwrap().cmd,
            Cmd::Events { stats: true, ref interval, ref id } if interval == "5s" && id == "c1"
        ));
        assert!(matches!(
            Cli::try_parse_from(["cerro-runtime", "features"]).unwrap().cmd,
            Cmd::Features
        ));
        assert!(Cli::try_parse_from(["cerro-runtime", "create", "--preserve-fds", "-1", "c1"]).is_err());
        let cli = Cli::try_parse_from(["cerro-runtime", "update", "--resources", "/b/r.json", "c1"]).unwrap();
        assert!(
            matches!(cli.cmd, Cmd::Update { ref id, ref resources } if id == "c1" && resources == &PathBuf::from("/b/r.json"))
        );
        assert!(Cli::try_parse_from(["cerro-runtime", "update", "c1"]).is_err());
        assert!(matches!(
            Cli::try_parse_from(["cerro-runtime", "pause", "c1"]).unwrap().cmd,
            Cmd::Pause { ref id } if id == "c1"
        ));
        assert!(matches!(
            Cli::try_parse_from(["cerro-runtime", "resume", "c1"]).unwrap().cmd,
            Cmd::Resume { ref id } if id == "c1"
        ));
    }
}
