//! The one error type of `cerro-hook`. A refused container is the
//! decision's (`cerro_enforce::Decision`, with its exit code); these are the
//! hook's own failures before or around it. Each names its
//! [`cerro_core::Kind`], whose row in the one table gives the exit code.

use cerro_core::{ExitCode, Kind};

/// Everything that can go wrong in the hook itself.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// From the core.
    #[error(transparent)]
    Core(#[from] cerro_core::Error),
    /// From the host service (the daemon configuration and its ownership checks).
    #[error(transparent)]
    Enforce(#[from] cerro_enforce::EnforceError),
    /// The OCI state could not be read from stdin.
    #[error("cannot read the OCI state: {0}")]
    Stdin(#[source] std::io::Error),
    /// The OCI state on stdin is not a runtime-spec state (or is too large).
    #[error("bad OCI state on stdin: {0}")]
    BadState(String),
    /// podman's storage does not say which image the container runs.
    #[error("{0}")]
    ImageUnknown(String),
    /// The container's OCI config (its SELinux labels) cannot be read.
    #[error("cannot read the container's OCI config: {0}")]
    ContainerConfig(String),
    /// The `io.cerro.bundle` annotation, or the hooks.d switch allowing it,
    /// cannot be used.
    #[error("{setting}: {reason}")]
    BundleAnnotation {
        /// `NAME=value` as given (or the annotation's name).
        setting: String,
        /// Why not.
        reason: String,
    },
    /// The decision's admission names another container than the one in the OCI state.
    #[error("the decision admits container {admitted:?}, not {container:?}")]
    WrongContainer {
        /// The container the admission names (empty when none).
        admitted: String,
        /// The container in the OCI state.
        container: String,
    },
}

impl HookError {
    /// The variant's kind (no wildcard: a new variant must be named).
    pub fn kind(&self) -> Kind {
        match self {
            HookError::Core(e) => e.kind(),
            HookError::Enforce(e) => e.kind(),
            HookError::Stdin(_) => Kind::Io,
            HookError::BadState(_) => Kind::Malformed,
            HookError::ImageUnknown(_) => Kind::ImageUnknown,
            HookError::ContainerConfig(_) => Kind::ContainerConfig,
            HookError::BundleAnnotation { .. } => Kind::BundleAnnotation,
            HookError::WrongContainer { .. } => Kind::WrongContainer,
        }
    }

    /// The documented exit code, from the one table.
    pub fn exit_code(&self) -> ExitCode {
        self.kind().exit_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hook's exit codes as they were before the one table.
    #[test]
    fn every_hook_variant_exits_as_before() {
        let io = || std::io::Error::other("x");
        let codes = [
            HookError::Stdin(io()),
            HookError::BadState("x".into()),
            HookError::ImageUnknown("x".into()),
            HookError::ContainerConfig("x".into()),
            HookError::BundleAnnotation {
                setting: "s".into(),
                reason: "r".into(),
            },
            HookError::WrongContainer {
                admitted: "a".into(),
                container: "b".into(),
            },
            HookError::Core(cerro_core::Error::io("reading", "/x", io())),
        ]
        .map(|e| e.exit_code().code());
        assert_eq!(codes, [11, 10, 5, 11, 78, 78, 11]);
    }
}
