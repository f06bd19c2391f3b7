//! The one error type of `cerro-pkcs11`, each variant named in core's one
//! exit-code table (`cerro_core::Kind::row`).

use std::path::PathBuf;

use cerro_core::{ExitCode, Kind};

/// What can go wrong with a key on a PKCS#11 token. No variant ever holds
/// the PIN or the text of a URI a user gave (it might hold one).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From core: an I/O error reading the PIN file, a token that refused
    /// an operation (`cerro_core::Error::TokenRefused`), a key that
    /// breaks core's rules (a small-order Ed25519 point).
    #[error(transparent)]
    Core(#[from] cerro_core::Error),
    /// The URI cannot be used (RFC 7512 syntax, an attribute ct refuses).
    #[error("PKCS#11 URI: {reason}")]
    Uri {
        /// What is wrong, naming the attribute.
        reason: String,
    },
    /// The module cannot be loaded or initialised.
    #[error("PKCS#11 module {}: {reason}", path.display())]
    Module {
        /// The module's file.
        path: PathBuf,
        /// Why (missing file, not a PKCS#11 module, C_Initialize failed).
        reason: String,
    },
    /// No PIN was given, or the token refused it.
    #[error("PKCS#11 token {token:?}: {reason}")]
    Pin {
        /// The token's label.
        token: String,
        /// Why (no PIN source, incorrect, locked).
        reason: String,
    },
    /// No token, or no key object, matches the URI; more than one does; or
    /// (key generation) an object of the new key's label is already there.
    #[error("PKCS#11: {what}: {reason}")]
    Object {
        /// "token" or the object asked for.
        what: String,
        /// What was found instead.
        reason: String,
    },
}

impl Error {
    /// The variant's kind in the one table (no wildcard: a new variant
    /// must be named there).
    pub fn kind(&self) -> Kind {
        match self {
            Error::Core(e) => e.kind(),
            Error::Uri { .. } => Kind::TokenUri,
            Error::Module { .. } => Kind::TokenModule,
            Error::Pin { .. } => Kind::TokenPin,
            Error::Object { .. } => Kind::TokenObject,
        }
    }

    /// The process exit code, from the one table.
    pub fn exit_code(&self) -> ExitCode {
        self.kind().exit_code()
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
