//! The one error enum of `cerro-import`, each variant named in core's
//! `Kind` table (which gives its exit code).

use std::path::PathBuf;

use cerro_core::Kind;

/// Everything that makes an import fail. A refused recipe never leaves a
/// file behind: the front end writes only after [`crate::import`] returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// An error of core (a draft that breaks a manifest rule, a bounded read).
    #[error(transparent)]
    Core(#[from] cerro_core::Error),

    /// Reading a recipe or a file it names failed.
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

    /// The recipe is malformed or hostile: the field (or line) is named.
    #[error("{recipe}: {field}: {reason}")]
    Refused {
        /// The recipe (its file name).
        recipe: String,
        /// The field, variable or line concerned.
        field: String,
        /// What is wrong.
        reason: String,
    },

    /// A file named by the recipe does not have the size the recipe gives.
    #[error("{what} is {actual} bytes, the recipe says {expected}")]
    SizeMismatch {
        /// `RECIPE: FIELD: FILE`: the recipe, the field listing the file, the file.
        what: String,
        /// Size the recipe gives.
        expected: u64,
        /// Size found.
        actual: u64,
    },

    /// A file named by the recipe does not have the digest the recipe gives.
    #[error("{what} has {algorithm} {actual}, the recipe says {expected}")]
    DigestMismatch {
        /// `RECIPE: FIELD: FILE`: the recipe, the field listing the file, the file.
        what: String,
        /// `sha256`, `sha1`, `sha512`.
        algorithm: &'static str,
        /// Digest the recipe gives (hex).
        expected: String,
        /// Digest computed (hex).
        actual: String,
    },

    /// The recipe's OpenPGP signature does not verify under the keyring given.
    #[error("{recipe}: the OpenPGP signature does not verify: {detail}")]
    SignatureInvalid {
        /// The recipe.
        recipe: String,
        /// What the verifier said.
        detail: String,
    },

    /// A keyring was given but the recipe is unsigned, or signed by a key
    /// the keyring does not hold.
    #[error("{recipe}: not signed by a key of {}: {detail}", keyring.display())]
    SignerNotTrusted {
        /// The recipe.
        recipe: String,
        /// The keyring given.
        keyring: PathBuf,
        /// Why.
        detail: String,
    },

    /// A program the import needs (the signature verifier) is missing or failed.
    #[error("{command} failed: {message}")]
    CommandFailed {
        /// The program.
        command: String,
        /// What went wrong.
        message: String,
    },

    /// The archive's Release is signed but does not vouch for anything now:
    /// past its `Valid-Until`, dated in the future, or the Release of
    /// another suite (a mirror replaying an old or a different Release).
    #[error("{release}: refused: {reason}")]
    ReleaseNotValid {
        /// The Release's path on the mirror.
        release: String,
        /// Why.
        reason: String,
    },

    /// The package (or the version asked for) is not in the archive's index.
    #[error("{what} is not in {place}: it has {have}")]
    NotInArchive {
        /// `PKG[=VERSION]`.
        what: String,
        /// The index, mirror and suite.
        place: String,
        /// The versions it has of the package, or "no version of it".
        have: String,
    },

    /// The SOURCE argument names no importer, or an option is unusable.
    #[error("{what}: {reason}")]
    InvalidSource {
        /// The argument.
        what: String,
        /// Why.
        reason: String,
    },
}

impl ImportError {
    /// The variant's kind in the one table (`cerro_core::Kind::row`; no
    /// wildcard: a new variant must be named).
    pub fn kind(&self) -> Kind {
        match self {
            ImportError::Core(e) => e.kind(),
            ImportError::Io { .. } => Kind::Io,
            ImportError::Refused { .. } => Kind::Malformed,
            ImportError::SizeMismatch { .. } => Kind::SizeMismatch,
            ImportError::DigestMismatch { .. } => Kind::DigestMismatch,
            ImportError::SignatureInvalid { .. } => Kind::SignatureInvalid,
            ImportError::SignerNotTrusted { .. } => Kind::SignerNotTrusted,
            ImportError::CommandFailed { .. } => Kind::CommandFailed,
            ImportError::InvalidSource { .. } => Kind::InvalidConfig,
            // The signature holds, but not now: refused as a signature that
            // does not verify (exit 2), naming Valid-Until or Date.
            ImportError::ReleaseNotValid { .. } => Kind::SignatureInvalid,
            // As a file the recipe names that is not there (exit 11).
            ImportError::NotInArchive { .. } => Kind::Io,
        }
    }

    /// The process exit code, from the one table.
    pub fn exit_code(&self) -> cerro_core::ExitCode {
        self.kind().exit_code()
    }

    /// Shorthand for [`ImportError::Refused`].
    pub fn refused(recipe: &str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        ImportError::Refused {
            recipe: recipe.to_string(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// `Result` with this crate's [`ImportError`].
pub type Result<T> = std::result::Result<T, ImportError>;

/// Adds the operation and path to an I/O error.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| ImportError::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}
