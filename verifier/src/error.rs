//! The one error type of `cerro-image-verifier`. A refused pull is the
//! decision's (`cerro_enforce::Decision`, with its exit code); these are the
//! verifier's own failures before it: what containerd passed cannot be
//! read. Each names its [`cerro_core::Kind`], whose row in the one table
//! gives the exit code. Every one of them blocks the pull.

use cerro_core::{ExitCode, Kind};

/// Everything that can go wrong in the verifier itself.
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    /// From the core (reading stdin within its bound, a digest).
    #[error(transparent)]
    Core(#[from] cerro_core::Error),
    /// From the host service (the daemon configuration and its ownership checks).
    #[error(transparent)]
    Enforce(#[from] cerro_enforce::EnforceError),
    /// The command line is not the bindir plugin's (`-name REF -digest
    /// sha256:… -stdin-media-type application/vnd.oci.descriptor.v1+json`).
    #[error("usage: {0}")]
    Usage(String),
    /// The descriptor on stdin is not one OCI descriptor, or not of the
    /// digest on the command line.
    #[error("the descriptor on stdin: {0}")]
    Descriptor(String),
}

impl VerifierError {
    /// The variant's kind (no wildcard: a new variant must be named).
    pub fn kind(&self) -> Kind {
        match self {
            VerifierError::Core(e) => e.kind(),
            VerifierError::Enforce(e) => e.kind(),
            VerifierError::Usage(_) => Kind::InvalidConfig,
            VerifierError::Descriptor(_) => Kind::Malformed,
        }
    }

    /// The documented exit code, from the one table.
    pub fn exit_code(&self) -> ExitCode {
        self.kind().exit_code()
    }
}
