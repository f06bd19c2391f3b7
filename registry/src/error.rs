//! The one error type of `cerro-registry`, and its mapping onto
//! `cerro_core::Error` (whose `exit_code()` is the only exit-code table).

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry could not be reached or answered with an error. The
    /// registry's own message is kept: it is what the user needs.
    #[error("{op} {target}: {message}")]
    Network {
        /// What was being done ("pushing blob", "resolving", …).
        op: &'static str,
        /// The reference or digest concerned.
        target: String,
        /// The registry's (or the transport's) message.
        message: String,
    },

    /// The reference on the command line is not a registry reference.
    #[error("invalid registry reference {reference:?}: {reason}")]
    BadReference {
        /// As given.
        reference: String,
        /// Why it was refused.
        reason: String,
    },

    /// The registry holds the image but no Cerro Torre bundle for it
    /// (exit 5, missing attestation).
    #[error("{reference}: the registry holds no Cerro Torre bundle for image {digest} (no referrer of type {artifact_type}); {found}")]
    NoBundle {
        /// The reference fetched.
        reference: String,
        /// The image manifest digest.
        digest: String,
        /// The artifact type looked for.
        artifact_type: &'static str,
        /// What it holds for the image instead (`fetch.rs` `found_instead`).
        found: String,
    },

    /// The bundle's release signature was checked before its image was
    /// downloaded ([`cerro_core::precheck::release_signed`]) and refused;
    /// the error is the one the full verification gives (same exit code).
    #[error("{0}")]
    Refused(cerro_core::Error),

    /// Content from the registry or the bundle (and everything else local).
    #[error(transparent)]
    Core(#[from] cerro_core::Error),
}

impl Error {
    /// The variant's kind, for the one exit-code table (`cerro_core::Kind::row`).
    pub fn kind(&self) -> cerro_core::Kind {
        match self {
            Error::Network { .. } => cerro_core::Kind::Network,
            Error::BadReference { .. } => cerro_core::Kind::InvalidReference,
            Error::NoBundle { .. } => cerro_core::Kind::NoBundle,
            Error::Refused(c) | Error::Core(c) => c.kind(),
        }
    }
}

impl From<Error> for cerro_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Core(c) | Error::Refused(c) => c,
            Error::BadReference { reference, reason } => cerro_core::Error::InvalidReference { reference, reason },
            Error::Network { op, target, message } => cerro_core::Error::Network { op, target, message },
            Error::NoBundle {
                reference,
                digest,
                artifact_type,
                found,
            } => cerro_core::Error::NoBundle {
                reference,
                digest,
                artifact_type,
                found,
            },
        }
    }
}

/// Shorthand: a registry error during `op` on `target`.
pub(crate) fn network(
    op: &'static str,
    target: impl Into<String>,
    e: &oci_client::errors::OciDistributionError,
) -> Error {
    Error::Network {
        op,
        target: target.into(),
        message: crate::retry::message(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cerro_core::ExitCode;

    #[test]
    fn network_failures_exit_12_and_keep_the_message() {
        let e = Error::Network {
            op: "pushing manifest",
            target: "127.0.0.1:5000/x:y".into(),
            message: "MANIFEST_INVALID: manifest invalid".into(),
        };
        let core: cerro_core::Error = e.into();
        assert_eq!(core.exit_code(), ExitCode::Network);
        assert_eq!(core.check(), "network");
        assert_eq!(core.kind(), cerro_core::Kind::Network);
        assert!(core.to_string().contains("MANIFEST_INVALID"), "{core}");
        let digest = cerro_core::Error::DigestMismatch {
            what: "blob".into(),
            expected: cerro_core::digest::Digest::of(b"a"),
            actual: cerro_core::digest::Digest::of(b"b"),
        };
        let back: cerro_core::Error = Error::from(digest).into();
        assert_eq!(back.exit_code(), ExitCode::DigestMismatch);
    }

    /// Every variant keeps its kind (and so its exit code) when it leaves
    /// as a `cerro_core::Error`; the codes are the ones the mapping gave before.
    #[test]
    fn every_registry_variant_maps_through_the_one_table() {
        let all = [
            Error::Network {
                op: "resolving",
                target: "r".into(),
                message: "m".into(),
            },
            Error::BadReference {
                reference: "r".into(),
                reason: "x".into(),
            },
            Error::NoBundle {
                reference: "r".into(),
                digest: "d".into(),
                artifact_type: "t",
                found: "f".into(),
            },
            Error::Refused(cerro_core::Error::MissingAttestation("x".into())),
            Error::Core(cerro_core::Error::malformed("x", "y")),
        ];
        let mut codes = Vec::new();
        for e in all {
            let (kind, text) = (e.kind(), e.to_string());
            let core = cerro_core::Error::from(e);
            assert_eq!(core.kind(), kind, "{core}");
            if !matches!(kind, cerro_core::Kind::Network) {
                assert_eq!(core.to_string(), text);
            }
            codes.push(core.exit_code().code());
        }
        assert_eq!(codes, [12, 78, 5, 5, 10]);
    }
}
