//! The one error type of the shim, and its single mapping to ttrpc status
//! codes (in `service.rs`). A refusal is an error of create: containerd passes
//! the message to the client (`ctr: … refused …: failed precondition`).

use std::path::PathBuf;

/// What went wrong in the shim.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The decision refused the container (nothing was created).
    #[error("cerro-torre refused container {container} ({check}, exit {exit_code}): {reason}")]
    Refused {
        /// The container id.
        container: String,
        /// The failed check (`signer_not_trusted`, `missing_attestation`, …).
        check: &'static str,
        /// The decision's exit code (see `ct man exit-codes`).
        exit_code: u8,
        /// One line: why.
        reason: String,
    },
    /// containerd's API could not be asked, or answered an error.
    #[error("containerd API {call}: {message}")]
    Containerd {
        /// The RPC, e.g. `Containers/Get sha256:…`.
        call: String,
        /// What it said.
        message: String,
    },
    /// The runtime binary failed.
    #[error("{command} failed: {message}")]
    Runtime {
        /// The command line, shortened.
        command: String,
        /// Its stderr, or why it could not run.
        message: String,
    },
    /// I/O with context.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A container's cgroup could not be found or read.
    #[error("cgroup: {0}")]
    Cgroup(String),
    /// The shim's configuration (runtime options file, environment) is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The host configuration the decision needs (`Config::for_daemon`:
    /// trust root and store paths, their ownership) is unusable; its kind
    /// and exit code travel with it (`EnforceError::kind`).
    #[error("configuration: {0}")]
    Enforce(#[from] cerro_enforce::EnforceError),
    /// No such container in this shim.
    #[error("container {0} not found")]
    NotFound(String),
    /// The container id is taken.
    #[error("container {0} already exists")]
    AlreadyExists(String),
    /// The process is not in a state that allows the request (exec into a
    /// container that is not running, delete of a running exec, …).
    #[error("{0}")]
    WrongState(String),
    /// A request this shim cannot honour.
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    /// A feature this shim does not implement yet.
    #[error("not implemented by containerd-shim-cerro-v1: {0}")]
    Unimplemented(String),
    /// An error of the process that decided and created a container
    /// (`create.rs`), as it reported it: its class and its message.
    #[error("{message}")]
    Reported {
        /// The class of the error there.
        class: ErrorClass,
        /// Its message there.
        message: String,
    },
}

/// What kind of failure an error is, for containerd: the ttrpc status code
/// it becomes (`service.rs` `status`), and what crosses from the create
/// process to the task server with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// A refusal, or a configuration or state that does not allow it.
    FailedPrecondition,
    /// No such container or process.
    NotFound,
    /// The id is taken.
    AlreadyExists,
    /// A request this shim cannot honour.
    InvalidArgument,
    /// Not implemented.
    Unimplemented,
    /// Anything else (containerd, the runtime, I/O, cgroups).
    Unknown,
}

impl ShimError {
    /// The one classification of the shim's errors.
    pub fn class(&self) -> ErrorClass {
        match self {
            ShimError::Refused { .. } | ShimError::Config(_) | ShimError::Enforce(_) | ShimError::WrongState(_) => {
                ErrorClass::FailedPrecondition
            }
            ShimError::NotFound(_) => ErrorClass::NotFound,
            ShimError::AlreadyExists(_) => ErrorClass::AlreadyExists,
            ShimError::InvalidArgument(_) => ErrorClass::InvalidArgument,
            ShimError::Unimplemented(_) => ErrorClass::Unimplemented,
            ShimError::Containerd { .. } | ShimError::Runtime { .. } | ShimError::Io { .. } | ShimError::Cgroup(_) => {
                ErrorClass::Unknown
            }
            ShimError::Reported { class, .. } => *class,
        }
    }

    /// I/O error with context.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ShimError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
