//! `cerro-runtime exec`: one more process in a running container, as
//! `runc exec --process process.json` starts it: libcontainer's tenant
//! builder joins the container's namespaces and cgroup and runs the OCI
//! `process` object the caller wrote (containerd's exec spec: args, env,
//! user, capabilities, rlimits, `noNewPrivileges`, `selinuxLabel`).
//!
//! Like `create`, it starts no thread. With `--detach` it returns as soon
//! as the process has exec'd (libcontainer's tenant build waits for that,
//! and reports a failed exec as an error); the process is then re-parented
//! to the caller if it is a child subreaper (the shim), which collects its
//! exit status. Without `--detach` this process waits for it and exits with
//! its status (`runc exec` without `--detach`).
//!
//! The process comes from `--process FILE` (an OCI `process` object, what
//! containerd passes), or, as `runc exec ID CMD ARG…`, from the command
//! line: the container's own `process` with `args` replaced, `terminal`
//! from `--tty`, `--env K=V` added (replacing a variable of the same
//! name) and `--cwd` (runc's `getProcess`). With a terminal the caller must
//! also give `--console-socket` and `--detach`, as runc requires: the pty's
//! master is sent over that unix socket (SCM_RIGHTS) and the caller owns
//! it. `--preserve-fds N` passes this process's descriptors 3..3+N to the
//! exec'd process, as runc does.
//!
//! What the tenant builder does not carry over, this module adds or refuses:
//! - the container's seccomp profile ([`crate::seccomp`]);
//! - the process label is applied by [`crate::label`], as for `create`;
//! - a user namespace is not joined by libcontainer 0.7 (its tenant
//!   builder knows ipc, uts, net, pid, mnt, cgroup, time only): the
//!   process would keep the host's ids, so such a container is refused.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::oci_spec::runtime::{LinuxNamespaceType, LinuxSeccomp, Spec};
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;

use crate::label::{LabelExecutor, ProcAttr};
use crate::lookup::RuncLookup;
use crate::seccomp::{Libseccomp, SeccompExecutor};
use crate::{container_streams, labelled};

/// What `exec` was asked.
#[derive(Debug)]
pub struct ExecRequest {
    /// The container.
    pub id: String,
    /// What to run: an OCI `process` object (JSON), or a command line.
    pub process: ProcessSource,
    /// How many of this process's descriptors from 3 on it gets.
    pub preserve_fds: i32,
    /// Where to write the process's pid.
    pub pid_file: Option<PathBuf>,
    /// Its standard streams (FIFO paths or `file://`), as for `create`.
    pub stdin: Option<String>,
    /// Standard output.
    pub stdout: Option<String>,
    /// Standard error.
    pub stderr: Option<String>,
    /// A unix socket to send the terminal's master to (`process.terminal`).
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs, instead of waiting for it.
    pub detach: bool,
}

/// Where the exec'd process is described.
#[derive(Debug)]
pub enum ProcessSource {
    /// An OCI `process` object (JSON) in this file (`--process`).
    File(PathBuf),
    /// `runc exec ID CMD ARG…`: the container's process with these changes.
    Args {
        /// The command and its arguments.
        args: Vec<String>,
        /// Whether it gets a terminal (`--tty`).
        tty: bool,
        /// `K=V` entries added to the container's environment (`--env`).
        env: Vec<String>,
        /// Its working directory (`--cwd`), else the container's.
        cwd: Option<String>,
    },
}

/// The process `runc exec ID ARGS…` runs: the container's `process`
/// (from `spec`) with the command line's changes.
pub fn process_from_args(
    spec: &Spec,
    args: &[String],
    tty: bool,
    env: &[String],
    cwd: Option<&str>,
) -> Result<libcontainer::oci_spec::runtime::Process> {
    if args.is_empty() {
        bail!("exec needs --process FILE or a command after the container id");
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(args.to_vec()));
    p.set_terminal(Some(tty));
    p.set_command_line(None);
    let mut merged: Vec<String> = p.env().clone().unwrap_or_default();
    for kv in env {
        let Some((key, _)) = kv.split_once('=') else {
            bail!("--env {kv:?} is not KEY=VALUE");
        };
        merged.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        merged.push(kv.clone());
    }
    p.set_env(Some(merged));
    if let Some(cwd) = cwd {
        if !cwd.starts_with('/') {
            bail!("--cwd {cwd:?} is not an absolute path");
        }
        p.set_cwd(cwd.into());
    }
    Ok(p)
}

/// Why a process cannot be exec'd into container `id` (its status and
/// OCI config), if it cannot.
pub fn refusal(id: &str, status: ContainerStatus, spec: &Spec) -> Option<String> {
    if status != ContainerStatus::Running {
        return Some(format!(
            "container {id} is {}, not running: nothing to exec into",
            status.to_string().to_lowercase()
        ));
    }
    let linux = spec.linux().as_ref();
    let user_ns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User));
    if user_ns {
        return Some(format!(
            "container {id} has a user namespace, which libcontainer 0.7 does not join for an \
             exec'd process (it would keep the host's user ids): exec refused"
        ));
    }
    if linux
        .and_then(|l| l.seccomp().as_ref())
        .is_some_and(libcontainer::seccomp::is_notify)
    {
        return Some(format!(
            "container {id}'s seccomp profile has SCMP_ACT_NOTIFY rules, which need a listener \
             the exec path does not have: exec refused"
        ));
    }
    None
}

/// The container's seccomp profile, for the exec'd process.
fn seccomp_of(spec: &Spec) -> Option<LinuxSeccomp> {
    spec.linux().as_ref().and_then(|l| l.seccomp().clone())
}

/// Runs the process; returns its exit status (0 once started, with
/// `detach`).
pub fn exec(root: &Path, req: ExecRequest) -> Result<i32> {
    let id = &req.id;
    let container =
        Container::load(root.join(id)).with_context(|| format!("container {id} (state in {})", root.display()))?;
    let config = container.bundle().join("config.json");
    let spec = Spec::load(&config).with_context(|| format!("reading {}", config.display()))?;
    if let Some(why) = refusal(id, container.status(), &spec) {
        bail!(why);
    }
    // A command line becomes a process file in the container's state
    // directory (libcontainer's tenant builder reads a file; its own
    // command-line form has no terminal), removed once the process runs.
    let mut _written: Option<RemoveOnDrop> = None;
    let process_file = match &req.process {
        ProcessSource::File(f) => f.clone(),
        ProcessSource::Args { args, tty, env, cwd } => {
            let p = process_from_args(&spec, args, *tty, env, cwd.as_deref())?;
            let f = root.join(id).join(format!("exec-{}.json", std::process::id()));
            std::fs::write(&f, serde_json::to_vec(&p)?).with_context(|| format!("writing {}", f.display()))?;
            _written = Some(RemoveOnDrop(f.clone()));
            f
        }
    };
    let [stdin, stdout, stderr] = container_streams(
        req.stdin.as_deref(),
        req.stdout.as_deref(),
        req.stderr.as_deref(),
        labelled(&spec) && req.console_socket.is_none(),
        req.console_socket.is_some(),
    )?;
    let executor = LabelExecutor::new(
        ProcAttr,
        SeccompExecutor::new(seccomp_of(&spec), Libseccomp, RuncLookup::new(DefaultExecutor {})),
    );
    let pid = ContainerBuilder::new(id.clone(), SyscallType::Linux)
        .with_executor(executor)
        .with_root_path(root)?
        .with_pid_file(req.pid_file.as_ref())?
        .with_console_socket(req.console_socket.as_ref())
        .with_preserved_fds(req.preserve_fds)
        .with_stdin(stdin)
        .with_stdout(stdout)
        .with_stderr(stderr)
        .validate_id()?
        .as_tenant()
        .with_detach(req.detach)
        .with_process(Some(&process_file))
        .build()
        .with_context(|| format!("exec in container {id} ({})", process_file.display()))?;
    if req.detach {
        return Ok(0);
    }
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(pid, None).with_context(|| format!("waiting for pid {pid}"))? {
            WaitStatus::Exited(_, code) => return Ok(code),
            WaitStatus::Signaled(_, sig, _) => return Ok(128 + sig as i32),
            _ => continue,
        }
    }
}

/// A file removed when this goes out of scope.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    const PLAIN: &str = r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}"#;

    #[test]
    fn only_a_running_container_takes_an_exec() {
        assert_eq!(refusal("c1", ContainerStatus::Running, &spec(PLAIN)), None);
        for (status, word) in [
            (ContainerStatus::Created, "created"),
            (ContainerStatus::Stopped, "stopped"),
            (ContainerStatus::Paused, "paused"),
        ] {
            assert_eq!(
                refusal("c1", status, &spec(PLAIN)).unwrap(),
                format!("container c1 is {word}, not running: nothing to exec into")
            );
        }
    }

    #[test]
    fn a_command_line_process_is_the_containers_with_runcs_changes() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","process":{"terminal":false,"user":{"uid":5,"gid":6},
                "args":["/bin/init"],"env":["PATH=/bin","A=1"],"cwd":"/srv"}}"#,
        );
        let args = vec!["/bin/busybox".to_owned(), "tty".to_owned()];
        let p = process_from_args(&s, &args, true, &["A=2".into(), "B=3".into()], None).unwrap();
        assert_eq!(p.args().as_deref(), Some(&args[..]));
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.env().as_deref().unwrap(), ["PATH=/bin", "A=2", "B=3"]);
        assert_eq!(p.cwd(), &PathBuf::from("/srv"));
        assert_eq!((p.user().uid(), p.user().gid()), (5, 6));
        let p = process_from_args(&s, &args, false, &[], Some("/tmp")).unwrap();
        assert_eq!((p.terminal(), p.cwd().as_path()), (Some(false), Path::new("/tmp")));
        assert!(process_from_args(&s, &[], false, &[], None).is_err());
        assert!(process_from_args(&s, &args, false, &["NOEQUALS".into()], None).is_err());
        assert!(process_from_args(&s, &args, false, &[], Some("rel")).is_err());
    }

    #[test]
    fn a_user_namespace_is_refused_not_left_behind() {
        let s = spec(r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},{"type":"user"}]}}"#);
        let why = refusal("c1", ContainerStatus::Running, &s).unwrap();
        assert!(why.contains("user namespace") && why.ends_with("exec refused"), "{why}");
    }

    #[test]
    fn a_seccomp_profile_is_carried_over_unless_it_needs_a_listener() {
        let filtered = spec(
            r#"{"ociVersion":"1.0.2","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}}}"#,
        );
        assert_eq!(refusal("c1", ContainerStatus::Running, &filtered), None);
        assert!(seccomp_of(&filtered).is_some());
        assert!(seccomp_of(&spec(PLAIN)).is_none());
        let notify = spec(
            r#"{"ociVersion":"1.0.2","linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW",
                "listenerPath":"/run/l.sock","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}}}"#,
        );
        let why = refusal("c1", ContainerStatus::Running, &notify).unwrap();
        assert!(why.contains("SCMP_ACT_NOTIFY"), "{why}");
    }
}
