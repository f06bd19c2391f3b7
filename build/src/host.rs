//! Every program a build runs goes through [`Host`]: the real one starts
//! processes, the recording double (tests only) says which would have run
//! and answers as told, so the order of steps and the refusals before any
//! step are unit-tested without a Debian mirror.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{BuildError, Result};

/// One program to run, its output appended to a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The step it belongs to, named in errors.
    pub step: &'static str,
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Variables added to the environment.
    pub env: Vec<(String, String)>,
    /// Where its stderr (and stdout, unless `stdout` is set) go, appended.
    pub log: PathBuf,
    /// Where its stdout goes instead of the log, truncated first.
    pub stdout: Option<PathBuf>,
}

impl Cmd {
    /// `program` for `step`, logging to `log`.
    pub fn new(step: &'static str, program: &str, log: &Path) -> Cmd {
        Cmd {
            step,
            program: program.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            log: log.to_path_buf(),
            stdout: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Cmd {
        self.args.push(a.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, a: I) -> Cmd {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, k: &str, v: &str) -> Cmd {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Sends stdout to `path`.
    pub fn stdout_to(mut self, path: &Path) -> Cmd {
        self.stdout = Some(path.to_path_buf());
        self
    }
}

/// How a program ended: its exit code, or `None` when a signal ended it.
pub type Status = Option<i32>;

/// The side effects of a build: running programs.
pub trait Host {
    /// Runs `cmd` to its end and returns how it ended; fails only when it
    /// cannot be started or its log cannot be opened.
    fn run(&self, cmd: &Cmd) -> Result<Status>;
}

/// Runs `cmd` and requires exit status 0, else [`BuildError::StepFailed`]
/// naming the step and its log.
pub fn run_ok(host: &dyn Host, cmd: &Cmd) -> Result<()> {
    match host.run(cmd)? {
        Some(0) => Ok(()),
        other => Err(BuildError::StepFailed {
            step: cmd.step,
            status: describe(other),
            log: cmd.log.clone(),
        }),
    }
}

/// `exit status N` or `killed by a signal`.
pub fn describe(s: Status) -> String {
    match s {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_owned(),
    }
}

/// The host's processes.
#[derive(Debug, Default, Clone, Copy)]
pub struct System;

impl Host for System {
    fn run(&self, cmd: &Cmd) -> Result<Status> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cmd.log)
            .map_err(|e| BuildError::io("opening log", &cmd.log, e))?;
        let err = log
            .try_clone()
            .map_err(|e| BuildError::io("opening log", &cmd.log, e))?;
        let out = match &cmd.stdout {
            Some(p) => File::create(p).map_err(|e| BuildError::io("creating", p, e))?,
            None => log,
        };
        let mut c = Command::new(&cmd.program);
        c.args(&cmd.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (k, v) in &cmd.env {
            c.env(k, v);
        }
        let status = c.status().map_err(|source| BuildError::Spawn {
            program: cmd.program.clone(),
            source,
        })?;
        Ok(status.code())
    }
}

/// A host that runs nothing: it records each command and answers with the
/// next scripted status (0 when the script is exhausted), calling `effect`
/// first so a test can leave behind the files a real step would write.
#[cfg(test)]
pub struct Recording {
    pub ran: std::cell::RefCell<Vec<Cmd>>,
    pub statuses: std::cell::RefCell<std::collections::VecDeque<Status>>,
    pub effect: Box<dyn Fn(&Cmd)>,
}

#[cfg(test)]
impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("ran", &self.ran)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl Recording {
    pub fn new(statuses: Vec<Status>) -> Self {
        Recording {
            ran: Default::default(),
            statuses: std::cell::RefCell::new(statuses.into()),
            effect: Box::new(|_| {}),
        }
    }

    pub fn steps(&self) -> Vec<&'static str> {
        self.ran.borrow().iter().map(|c| c.step).collect()
    }
}

#[cfg(test)]
impl Host for Recording {
    fn run(&self, cmd: &Cmd) -> Result<Status> {
        self.ran.borrow_mut().push(cmd.clone());
        (self.effect)(cmd);
        Ok(self.statuses.borrow_mut().pop_front().unwrap_or(Some(0)))
    }
}
