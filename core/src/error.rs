//! The one error type of `cerro-core`, and the one place where each error
//! becomes a documented process exit code.

use std::path::PathBuf;

use crate::digest::Digest;

/// Exit codes of every Cerro Torre front end (`ct`, the shim, the hook).
///
/// These numbers are a contract: scripts and other runtimes branch on them.
/// They are documented in `ct man exit-codes` and `spec/bundle-format.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// The bundle is valid and every check passed.
    Valid = 0,
    /// A digest did not match (blob, manifest, statement binding).
    DigestMismatch = 1,
    /// A signature from a known key did not verify.
    SignatureInvalid = 2,
    /// Not enough trusted signers: unknown, untrusted, revoked or expired keys.
    SignerNotTrusted = 3,
    /// The deployment policy rejected the bundle.
    PolicyRejection = 4,
    /// A required attestation is missing.
    MissingAttestation = 5,
    /// A transparency-log proof was refused (not malformed: untrusted).
    Transparency = 6,
    /// The bundle (or another input) is malformed or hostile.
    Malformed = 10,
    /// Reading or writing a file failed.
    Io = 11,
    /// A network operation failed.
    Network = 12,
    /// The command line was wrong.
    Usage = 64,
    /// Local configuration is wrong: unknown key id, bad trust store, bad policy file.
    Config = 78,
}

impl ExitCode {
    /// Every code, in numeric order, with a one-line meaning (for `ct man exit-codes`).
    pub const ALL: [(ExitCode, &'static str); 12] = [
        (ExitCode::Valid, "valid: every check passed"),
        (ExitCode::DigestMismatch, "digest mismatch: a blob, the package manifest or a statement binding does not match its digest"),
        (ExitCode::SignatureInvalid, "signature invalid: a signature by a known key does not verify over the envelope"),
        (ExitCode::SignerNotTrusted, "signer not trusted: too few valid signatures from trusted keys (unknown, untrusted, marginal, revoked or expired keys do not count)"),
        (ExitCode::PolicyRejection, "policy rejection: the deployment policy refused the bundle, e.g. for a signer, registry, pin, age or attestation it requires (the message names the rule)"),
        (ExitCode::MissingAttestation, "missing attestation: the bundle carries no release attestation (one a policy requires is exit 4)"),
        (ExitCode::Transparency, "transparency: a log proof does not verify: a log outside the trust, a checkpoint without a valid signature by its log's key, a known key's signature that does not verify, too few witness cosignatures, or an inclusion proof that does not reach the checkpoint's root"),
        (ExitCode::Malformed, "malformed bundle or input: not a tar, unsafe or unexpected member, bad JSON/TOML, unknown media type, truncated data"),
        (ExitCode::Io, "I/O error: a file could not be read or written (the message names it)"),
        (ExitCode::Network, "network error: a registry could not be reached or answered with an error"),
        (ExitCode::Usage, "usage error: the command line is wrong"),
        (ExitCode::Config, "configuration error: unknown key id, unreadable trust store, invalid policy file, missing passphrase"),
    ];

    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Everything that can go wrong in `cerro-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", "creating", …).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Content does not hash to the digest it is named or referenced by.
    #[error("digest mismatch in {what}: expected {expected}, found {actual}")]
    DigestMismatch {
        /// What was hashed (a bundle member, a blob, a binding).
        what: String,
        /// The digest that was claimed.
        expected: Digest,
        /// The digest that was computed.
        actual: Digest,
    },

    /// Content does not have the size its descriptor claims.
    #[error("size mismatch in {what}: descriptor says {expected} bytes, found {actual}")]
    SizeMismatch {
        /// What was measured.
        what: String,
        /// Claimed size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },

    /// A bundle, manifest, envelope or image is structurally wrong or hostile.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which input (a member path, "bundle", "manifest.toml", …).
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A signature by a known key does not verify.
    #[error("signature by key {key} ({fingerprint}) does not verify over {envelope}")]
    SignatureInvalid {
        /// The key's local id.
        key: String,
        /// The key's fingerprint.
        fingerprint: String,
        /// The envelope member.
        envelope: String,
    },

    /// Fewer distinct trusted signers than needed.
    #[error("signer not trusted: {counted} of {required} required trusted signature(s) on {envelope}{details}")]
    SignerNotTrusted {
        /// Envelope member.
        envelope: String,
        /// Distinct trusted signers found.
        counted: usize,
        /// Distinct trusted signers required.
        required: usize,
        /// Why the other signatures did not count (already formatted, may be empty).
        details: String,
    },

    /// The deployment policy refused the bundle.
    #[error("policy rejection by rule {rule}: {reason}")]
    PolicyRejection {
        /// The rule that decided (e.g. `signers.threshold`).
        rule: String,
        /// Why.
        reason: String,
    },

    /// A required attestation is absent.
    #[error("missing attestation: {0}")]
    MissingAttestation(String),

    /// Local configuration (trust store, key files, policy, passphrase) is wrong.
    #[error("{0}")]
    Config(String),

    /// A transparency-log proof names a log (origin) the verifier does not trust.
    #[error("transparency: log {origin:?} is not a trusted log")]
    TlogUntrustedLog {
        /// The checkpoint's origin line.
        origin: String,
    },

    /// A signed note (a checkpoint) carries no valid signature by any of the
    /// keys that must sign it (signed-note: "If no signature from a known
    /// key verifies successfully, clients MUST reject the note").
    #[error("transparency: {note} is not signed by a trusted key (expected one of: {keys})")]
    NoteNotSigned {
        /// Which note ("checkpoint of log example.com/log").
        note: String,
        /// The keys that could have signed it (verifier key strings).
        keys: String,
    },

    /// A signature line by a known key (name and key ID match) does not
    /// verify: the whole note is refused (signed-note: "If a signature from a
    /// known key fails to verify, clients SHOULD reject the whole note").
    #[error("transparency: the note signature by known key {key} does not verify")]
    NoteSignatureInvalid {
        /// `name+keyid` of the key.
        key: String,
    },

    /// Fewer distinct trusted witnesses cosigned a checkpoint than required.
    #[error("transparency: {counted} of {required} required witness cosignature(s) on the checkpoint of log {origin}")]
    TlogWitnessQuorum {
        /// The log's origin.
        origin: String,
        /// Distinct trusted witnesses whose cosignature verified.
        counted: usize,
        /// The threshold.
        required: usize,
    },

    /// A Merkle inclusion or consistency proof does not lead to the root
    /// hash it must reach (RFC 9162 §2.1.3.2, §2.1.4.2).
    #[error("transparency: {proof}: {reason}")]
    TlogProofMismatch {
        /// Which proof.
        proof: String,
        /// Which step failed.
        reason: String,
    },

    /// A registry could not be reached, or answered with an error (its
    /// message is kept). Raised by front ends (`cerro-registry`): this crate
    /// itself does no network I/O.
    #[error("network error: {0}")]
    Network(String),
}

impl Error {
    /// The documented exit code for this error. This is the only mapping.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Io { .. } => ExitCode::Io,
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => ExitCode::DigestMismatch,
            Error::Malformed { .. } => ExitCode::Malformed,
            Error::SignatureInvalid { .. } => ExitCode::SignatureInvalid,
            Error::SignerNotTrusted { .. } => ExitCode::SignerNotTrusted,
            Error::PolicyRejection { .. } => ExitCode::PolicyRejection,
            Error::MissingAttestation(_) => ExitCode::MissingAttestation,
            Error::Config(_) => ExitCode::Config,
            Error::Network(_) => ExitCode::Network,
            Error::TlogUntrustedLog { .. }
            | Error::NoteNotSigned { .. }
            | Error::NoteSignatureInvalid { .. }
            | Error::TlogWitnessQuorum { .. }
            | Error::TlogProofMismatch { .. } => ExitCode::Transparency,
        }
    }

    /// A short machine-readable name of the failed check (for `--json` reports and audit logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::DigestMismatch { .. } => "digest_mismatch",
            Error::SizeMismatch { .. } => "size_mismatch",
            Error::Malformed { .. } => "malformed",
            Error::SignatureInvalid { .. } => "signature_invalid",
            Error::SignerNotTrusted { .. } => "signer_not_trusted",
            Error::PolicyRejection { .. } => "policy_rejection",
            Error::MissingAttestation(_) => "missing_attestation",
            Error::Config(_) => "config",
            Error::Network(_) => "network",
            Error::TlogUntrustedLog { .. } => "tlog_untrusted_log",
            Error::NoteNotSigned { .. } => "note_not_signed",
            Error::NoteSignatureInvalid { .. } => "note_signature_invalid",
            Error::TlogWitnessQuorum { .. } => "tlog_witness_quorum",
            Error::TlogProofMismatch { .. } => "tlog_proof_mismatch",
        }
    }

    /// Shorthand for [`Error::Malformed`].
    pub fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Malformed {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds file context to `std::io::Result`s.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}
