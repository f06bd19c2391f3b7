//! The one error enum of `cerro-build`, each variant named in core's
//! `Kind` table (which gives its exit code).

use std::path::PathBuf;

use cerro_core::Kind;

/// Everything that makes a build fail. Refusals (a missing source, a digest
/// that differs, a manifest that names no source) come before anything is
/// run; a step that fails keeps its log.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An error of core (an output that cannot be written, a bounded read).
    #[error(transparent)]
    Core(#[from] cerro_core::Error),

    /// The sources did not pass the importer's checks (a missing file is
    /// `Io`, a file whose digest differs from the recipe's is `DigestMismatch`).
    #[error(transparent)]
    Import(#[from] cerro_import::ImportError),

    /// Reading or writing a file failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The manifest cannot be built as it is: the field is named.
    #[error("manifest: {field}: {reason}")]
    Manifest {
        /// The field (`build.system`, `provenance.imported_from_hash`…).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// The sources are not the ones the manifest names.
    #[error("{what}: the manifest says {expected}, the sources give {actual}")]
    SourceMismatch {
        /// The file or field that differs.
        what: String,
        /// What the manifest names.
        expected: String,
        /// What the sources in hand give.
        actual: String,
    },

    /// A build step failed; its log is kept.
    #[error("build step {step} failed ({status}); log: {}", log.display())]
    StepFailed {
        /// The step (`debootstrap`, `build-depends`, `unpack`, `build`…).
        step: &'static str,
        /// How it ended.
        status: String,
        /// Its full output.
        log: PathBuf,
    },

    /// The build's network namespace has an interface besides the loopback:
    /// the build could reach the network, so it is not run.
    #[error("the build namespace is not network-less (interfaces: {interfaces}); log: {}", log.display())]
    NetworkNotIsolated {
        /// The interfaces seen.
        interfaces: String,
        /// The step's log.
        log: PathBuf,
    },

    /// A tool the build needs could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The build's output cannot become an image (two packages ship the
    /// same path with different contents, an entry tar cannot hold…).
    #[error("{what}: {reason}")]
    Output {
        /// The package or path concerned.
        what: String,
        /// What is wrong.
        reason: String,
    },
}

impl BuildError {
    /// The kind in core's one table (and so the exit code).
    pub fn kind(&self) -> Kind {
        match self {
            BuildError::Core(e) => e.kind(),
            BuildError::Import(e) => e.kind(),
            BuildError::Io { .. } => Kind::Io,
            BuildError::Manifest { .. } => Kind::Malformed,
            BuildError::SourceMismatch { .. } => Kind::DigestMismatch,
            BuildError::StepFailed { .. } => Kind::CommandFailed,
            BuildError::NetworkNotIsolated { .. } => Kind::System,
            BuildError::Spawn { .. } => Kind::CommandFailed,
            BuildError::Output { .. } => Kind::Unrepresentable,
        }
    }

    /// The process exit code, from the one table.
    pub fn exit_code(&self) -> cerro_core::ExitCode {
        self.kind().exit_code()
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BuildError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`BuildError`].
pub type Result<T> = std::result::Result<T, BuildError>;
