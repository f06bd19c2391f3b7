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
    /// Revoked by the host's signed revocation list, or that list is stale.
    Revoked = 7,
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
    pub const ALL: [(ExitCode, &'static str); 13] = [
        (ExitCode::Valid, "valid: every check passed"),
        (ExitCode::DigestMismatch, "digest mismatch: a blob, the package manifest or a statement binding does not match its digest"),
        (ExitCode::SignatureInvalid, "signature invalid: a signature by a known key does not verify over the envelope"),
        (ExitCode::SignerNotTrusted, "signer not trusted: too few valid signatures from trusted keys (unknown, untrusted, marginal, revoked or expired keys do not count)"),
        (ExitCode::PolicyRejection, "policy rejection: the deployment policy refused the bundle, e.g. for a signer, registry, pin, age or attestation it requires (the message names the rule)"),
        (ExitCode::MissingAttestation, "missing attestation: the bundle carries no release attestation (one a policy requires is exit 4), or the registry holds no Cerro Torre bundle for the image (ct fetch names what it found instead)"),
        (ExitCode::Transparency, "transparency: a log proof does not verify: a log outside the trust, a checkpoint without a valid signature by its log's key, a known key's signature that does not verify, too few witness cosignatures, an inclusion proof that does not reach the checkpoint's root, or (ct log monitor, ct verify --online) a split view: two checkpoints signed by one log that are not views of one append-only tree"),
        (ExitCode::Revoked, "revoked: the bundle's release or image is on the host's signed revocation list, or that list is stale (past its next update, issued longer ago than the policy's revocation.max_age_hours, or missing when the policy sets it)"),
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

/// The name of every error variant of every workspace crate: the stable
/// snake_case `kind` of `--json` errors ([`Kind::as_str`]), and, through
/// [`Kind::row`] (the one table), its exit code and the check an audit
/// record or a verification report names. Each crate's error enum maps its
/// variants onto a `Kind` with a `match` without wildcard, so a new variant
/// does not compile until it is named here, and a new `Kind` does not
/// compile until the table gives it an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// [`Error::Io`].
    Io,
    /// [`Error::DigestMismatch`].
    DigestMismatch,
    /// [`Error::SizeMismatch`].
    SizeMismatch,
    /// [`Error::Malformed`].
    Malformed,
    /// [`Error::SignatureInvalid`].
    SignatureInvalid,
    /// [`Error::SignerNotTrusted`].
    SignerNotTrusted,
    /// [`Error::PolicyRejection`].
    PolicyRejection,
    /// [`Error::MissingAttestation`].
    MissingAttestation,
    /// [`Error::UnknownKey`].
    UnknownKey,
    /// [`Error::KeyExists`].
    KeyExists,
    /// [`Error::KeyKnownAs`].
    KeyKnownAs,
    /// [`Error::UnknownGroup`].
    UnknownGroup,
    /// [`Error::InvalidName`].
    InvalidName,
    /// [`Error::InvalidGroup`].
    InvalidGroup,
    /// [`Error::InvalidPublicKey`].
    InvalidPublicKey,
    /// [`Error::PrivateKey`].
    PrivateKey,
    /// [`Error::PassphraseNeeded`].
    PassphraseNeeded,
    /// [`Error::WrongPassphrase`].
    WrongPassphrase,
    /// [`Error::InvalidTrustStore`].
    InvalidTrustStore,
    /// [`Error::InvalidPolicy`] (and `cerro_policy::PolicyError::Invalid`).
    InvalidPolicy,
    /// [`Error::InvalidConfig`].
    InvalidConfig,
    /// [`Error::InvalidReference`] (and `cerro_registry::Error::BadReference`).
    InvalidReference,
    /// [`Error::NotRegularFile`].
    NotRegularFile,
    /// [`Error::OutputExists`].
    OutputExists,
    /// [`Error::Clock`].
    Clock,
    /// [`Error::System`].
    System,
    /// [`Error::CommandFailed`].
    CommandFailed,
    /// [`Error::Network`] (and `cerro_registry::Error::Network`).
    Network,
    /// [`Error::NoBundle`] (and `cerro_registry::Error::NoBundle`).
    NoBundle,
    /// `cerro_enforce::EnforceError::UnsafeOwnership`: a daemon's trust root,
    /// policy or store another user can change.
    UnsafeOwnership,
    /// `cerro_enforce::EnforceError::ModuleNotLoaded`.
    ModuleNotLoaded,
    /// `cerro_enforce::EnforceError::ModuleMalformed`.
    ModuleMalformed,
    /// `cerro_enforce::EnforceError::LabelMismatch`.
    LabelMismatch,
    /// `cerro_hook::HookError::WrongContainer`: the decision admits another container.
    WrongContainer,
    /// `cerro_hook::HookError::ImageUnknown`: podman's storage does not say
    /// which image the container runs (decided as no image: no bundle attests it).
    ImageUnknown,
    /// `cerro_hook::HookError::ContainerConfig`: the container's OCI config
    /// (its SELinux labels) cannot be read.
    ContainerConfig,
    /// `cerro_hook::HookError::BundleAnnotation`: the `io.cerro.bundle`
    /// annotation, or the switch allowing it, cannot be used.
    BundleAnnotation,
    /// `cerro_selinux::SelinuxError::Policy`: the target policy lacks what the module needs.
    TargetPolicy,
    /// `cerro_selinux::SelinuxError::Unrepresentable`.
    Unrepresentable,
    /// `cerro_selinux::SelinuxError::NotInstallable`.
    NotInstallable,
    /// [`Error::TlogUntrustedLog`].
    TlogUntrustedLog,
    /// [`Error::NoteNotSigned`].
    NoteNotSigned,
    /// [`Error::NoteSignatureInvalid`].
    NoteSignatureInvalid,
    /// [`Error::TlogWitnessQuorum`].
    TlogWitnessQuorum,
    /// [`Error::TlogProofMismatch`].
    TlogProofMismatch,
    /// `cerro_tlog::Error`: another `ct log serve` holds the log directory.
    TlogLocked,
    /// `cerro_tlog::Error`: the log's key file is unusable.
    TlogKey,
    /// `cerro_tlog::Error`: `ct log init` on a directory that is not empty.
    TlogNotEmpty,
    /// `cerro_tlog::Error`: the log directory disagrees with its checkpoint.
    TlogCorrupt,
    /// `cerro_tlog::Error`: the bytes are not a log entry.
    TlogEntry,
    /// `cerro_tlog::Error`: a batch of no entries or too many.
    TlogBatch,
    /// `cerro_tlog::Error`: the log stopped after a failed append.
    TlogStopped,
    /// [`Error::TrustRootExpired`].
    TrustRootExpired,
    /// [`Error::Rollback`].
    Rollback,
    /// [`Error::ReleaseRevoked`].
    ReleaseRevoked,
    /// [`Error::RevocationStale`].
    RevocationStale,
    /// [`Error::TlogSplitView`].
    TlogSplitView,
    /// [`Error::PlatformNotAttested`].
    PlatformNotAttested,
    /// `cerro_pkcs11::Error::Uri`: a PKCS#11 URI (RFC 7512) that cannot be used.
    TokenUri,
    /// `cerro_pkcs11::Error::Module`: the PKCS#11 module cannot be loaded or initialised.
    TokenModule,
    /// `cerro_pkcs11::Error::Pin`: no PIN, or the token refused it (wrong, locked).
    TokenPin,
    /// `cerro_pkcs11::Error::NotFound`: no such token or key object (or more than one).
    TokenObject,
    /// [`Error::TokenRefused`]: the token refused an operation on a key it holds.
    TokenRefused,
}

impl Kind {
    /// Every kind, in declaration order (for the exhaustive test and `ct man exit-codes`).
    pub const ALL: [Kind; 63] = [
        Kind::Io,
        Kind::DigestMismatch,
        Kind::SizeMismatch,
        Kind::Malformed,
        Kind::SignatureInvalid,
        Kind::SignerNotTrusted,
        Kind::PolicyRejection,
        Kind::MissingAttestation,
        Kind::UnknownKey,
        Kind::KeyExists,
        Kind::KeyKnownAs,
        Kind::UnknownGroup,
        Kind::InvalidName,
        Kind::InvalidGroup,
        Kind::InvalidPublicKey,
        Kind::PrivateKey,
        Kind::PassphraseNeeded,
        Kind::WrongPassphrase,
        Kind::InvalidTrustStore,
        Kind::InvalidPolicy,
        Kind::InvalidConfig,
        Kind::InvalidReference,
        Kind::NotRegularFile,
        Kind::OutputExists,
        Kind::Clock,
        Kind::System,
        Kind::CommandFailed,
        Kind::Network,
        Kind::NoBundle,
        Kind::UnsafeOwnership,
        Kind::ModuleNotLoaded,
        Kind::ModuleMalformed,
        Kind::LabelMismatch,
        Kind::WrongContainer,
        Kind::ImageUnknown,
        Kind::ContainerConfig,
        Kind::BundleAnnotation,
        Kind::TargetPolicy,
        Kind::Unrepresentable,
        Kind::NotInstallable,
        Kind::TlogUntrustedLog,
        Kind::NoteNotSigned,
        Kind::NoteSignatureInvalid,
        Kind::TlogWitnessQuorum,
        Kind::TlogProofMismatch,
        Kind::TlogLocked,
        Kind::TlogKey,
        Kind::TlogNotEmpty,
        Kind::TlogCorrupt,
        Kind::TlogEntry,
        Kind::TlogBatch,
        Kind::TlogStopped,
        Kind::TrustRootExpired,
        Kind::Rollback,
        Kind::ReleaseRevoked,
        Kind::RevocationStale,
        Kind::TlogSplitView,
        Kind::PlatformNotAttested,
        Kind::TokenUri,
        Kind::TokenModule,
        Kind::TokenPin,
        Kind::TokenObject,
        Kind::TokenRefused,
    ];

    /// THE table: the kind's stable snake_case name, its documented exit
    /// code, and the check an audit record (`"check"`) or a verification
    /// report (`"error_kind"`) names. This is the only mapping of errors to
    /// exit codes in the workspace.
    pub const fn row(self) -> (&'static str, ExitCode, &'static str) {
        use ExitCode as X;
        match self {
            Kind::Io => ("io", X::Io, "io"),
            Kind::DigestMismatch => ("digest_mismatch", X::DigestMismatch, "digest_mismatch"),
            Kind::SizeMismatch => ("size_mismatch", X::DigestMismatch, "size_mismatch"),
            Kind::Malformed => ("malformed", X::Malformed, "malformed"),
            Kind::SignatureInvalid => ("signature_invalid", X::SignatureInvalid, "signature_invalid"),
            Kind::SignerNotTrusted => ("signer_not_trusted", X::SignerNotTrusted, "signer_not_trusted"),
            Kind::PolicyRejection => ("policy_rejection", X::PolicyRejection, "policy_rejection"),
            Kind::MissingAttestation => ("missing_attestation", X::MissingAttestation, "missing_attestation"),
            Kind::UnknownKey => ("unknown_key", X::Config, "config"),
            Kind::KeyExists => ("key_exists", X::Config, "config"),
            Kind::KeyKnownAs => ("key_known_as", X::Config, "config"),
            Kind::UnknownGroup => ("unknown_group", X::Config, "config"),
            Kind::InvalidName => ("invalid_name", X::Config, "config"),
            Kind::InvalidGroup => ("invalid_group", X::Config, "config"),
            Kind::InvalidPublicKey => ("invalid_public_key", X::Config, "config"),
            Kind::PrivateKey => ("private_key", X::Config, "config"),
            Kind::PassphraseNeeded => ("passphrase_needed", X::Config, "config"),
            Kind::WrongPassphrase => ("wrong_passphrase", X::Config, "config"),
            Kind::InvalidTrustStore => ("invalid_trust_store", X::Config, "config"),
            Kind::InvalidPolicy => ("invalid_policy", X::Config, "config"),
            Kind::InvalidConfig => ("invalid_config", X::Config, "config"),
            Kind::InvalidReference => ("invalid_reference", X::Config, "config"),
            Kind::NotRegularFile => ("not_regular_file", X::Config, "config"),
            Kind::OutputExists => ("output_exists", X::Config, "config"),
            Kind::Clock => ("clock", X::Config, "config"),
            Kind::System => ("system", X::Config, "config"),
            Kind::CommandFailed => ("command_failed", X::Config, "config"),
            Kind::Network => ("network", X::Network, "network"),
            Kind::NoBundle => ("no_bundle", X::MissingAttestation, "missing_attestation"),
            Kind::UnsafeOwnership => ("unsafe_ownership", X::Config, "config"),
            Kind::ModuleNotLoaded => ("module_not_loaded", X::Config, "confinement"),
            Kind::ModuleMalformed => ("module_malformed", X::Config, "confinement"),
            Kind::LabelMismatch => ("label_mismatch", X::Config, "confinement"),
            Kind::WrongContainer => ("wrong_container", X::Config, "config"),
            Kind::ImageUnknown => ("image_unknown", X::MissingAttestation, "missing_attestation"),
            Kind::ContainerConfig => ("container_config", X::Io, "io"),
            Kind::BundleAnnotation => ("bundle_annotation", X::Config, "config"),
            Kind::TargetPolicy => ("target_policy", X::Config, "config"),
            Kind::Unrepresentable => ("unrepresentable", X::Malformed, "malformed"),
            Kind::NotInstallable => ("not_installable", X::Malformed, "malformed"),
            Kind::TlogUntrustedLog => ("tlog_untrusted_log", X::Transparency, "tlog_untrusted_log"),
            Kind::NoteNotSigned => ("note_not_signed", X::Transparency, "note_not_signed"),
            Kind::NoteSignatureInvalid => ("note_signature_invalid", X::Transparency, "note_signature_invalid"),
            Kind::TlogWitnessQuorum => ("tlog_witness_quorum", X::Transparency, "tlog_witness_quorum"),
            Kind::TlogProofMismatch => ("tlog_proof_mismatch", X::Transparency, "tlog_proof_mismatch"),
            Kind::TlogLocked => ("tlog_locked", X::Config, "config"),
            Kind::TlogKey => ("tlog_key", X::Config, "config"),
            Kind::TlogNotEmpty => ("tlog_not_empty", X::Config, "config"),
            Kind::TlogCorrupt => ("tlog_corrupt", X::Malformed, "malformed"),
            Kind::TlogEntry => ("tlog_entry", X::Malformed, "malformed"),
            Kind::TlogBatch => ("tlog_batch", X::Malformed, "malformed"),
            Kind::TlogStopped => ("tlog_stopped", X::Io, "io"),
            Kind::TrustRootExpired => ("trust_root_expired", X::Config, "config"),
            Kind::Rollback => ("rollback", X::Config, "config"),
            Kind::ReleaseRevoked => ("release_revoked", X::Revoked, "release_revoked"),
            Kind::RevocationStale => ("revocation_stale", X::Revoked, "revocation_stale"),
            Kind::TlogSplitView => ("tlog_split_view", X::Transparency, "tlog_split_view"),
            Kind::PlatformNotAttested => ("platform_not_attested", X::MissingAttestation, "platform_not_attested"),
            Kind::TokenUri => ("token_uri", X::Config, "config"),
            Kind::TokenModule => ("token_module", X::Config, "config"),
            Kind::TokenPin => ("token_pin", X::Config, "config"),
            Kind::TokenObject => ("token_object", X::Config, "config"),
            Kind::TokenRefused => ("token_refused", X::Config, "config"),
        }
    }

    /// The stable snake_case name (`"kind"` of `--json` errors).
    pub const fn as_str(self) -> &'static str {
        self.row().0
    }

    /// The documented exit code.
    pub const fn exit_code(self) -> ExitCode {
        self.row().1
    }

    /// The check named in audit records and reports (coarser than the kind:
    /// every configuration problem is `config`).
    pub const fn check(self) -> &'static str {
        self.row().2
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in `cerro-core`, and the vocabulary the
/// front ends report in (an error of another crate that leaves it as a
/// `cerro_core::Error` keeps its kind). To add a variant: add a [`Kind`]
/// (with its row in [`Kind::row`], an entry in [`Kind::ALL`] and the
/// index in this file's exhaustive test), map the variant in
/// [`Error::kind`], and list the kind in `spec/bundle-format.md` §10: the
/// compiler and the tests point at each place.
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

    /// No key with this id in the trust store.
    #[error("no key with id {id:?} in the trust store")]
    UnknownKey {
        /// The local key id asked for.
        id: String,
    },

    /// A key with this id exists already (in the trust store, or its private key file).
    #[error("a key with id {id:?} already exists")]
    KeyExists {
        /// The id.
        id: String,
    },

    /// The same public key is already in the trust store under another id.
    #[error("this key is already known as {id:?} (fingerprint {fingerprint})")]
    KeyKnownAs {
        /// The id it is known as.
        id: String,
        /// Its fingerprint.
        fingerprint: String,
    },

    /// No threshold group with this name in the trust store.
    #[error("no group named {name:?} in the trust store")]
    UnknownGroup {
        /// The group name asked for.
        name: String,
    },

    /// A key id or group name outside the grammar (it names files).
    #[error("{what} {name:?} must be 1-64 characters of [A-Za-z0-9._@-] starting with a letter or digit")]
    InvalidName {
        /// `key id` or `group name`.
        what: &'static str,
        /// As given.
        name: String,
    },

    /// A threshold group that cannot be kept (no keys, a key twice, a
    /// threshold out of range, a key the store does not hold).
    #[error("group {name:?} {reason}")]
    InvalidGroup {
        /// The group.
        name: String,
        /// What is wrong, as the rest of the sentence.
        reason: String,
    },

    /// Not a usable Ed25519 public key.
    #[error("{what}: {reason}")]
    InvalidPublicKey {
        /// Where it came from (a file, "imported key").
        what: String,
        /// What is wrong.
        reason: String,
    },

    /// A private key file that cannot be used for key `id` (missing, not a
    /// key, not the trust store's key of that id, left by an interrupted keygen).
    #[error("private key {id:?}: {reason}")]
    PrivateKey {
        /// The key id.
        id: String,
        /// What is wrong (names the file).
        reason: String,
    },

    /// A passphrase is needed and none was given.
    #[error("{what} needs a passphrase: --passphrase-file FILE or CERRO_PASSPHRASE")]
    PassphraseNeeded {
        /// What needs it (`encrypted key "id"`, `--encrypt`).
        what: String,
    },

    /// An encrypted private key could not be decrypted with the passphrase given.
    #[error("cannot decrypt key {id:?}: wrong passphrase?")]
    WrongPassphrase {
        /// The key id.
        id: String,
    },

    /// `trust.toml` (or a key file it names) is not a valid trust store.
    #[error("{}: {reason}", path.display())]
    InvalidTrustStore {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A deployment policy document is not valid (from
    /// `cerro_policy::PolicyError`: this crate does not parse policies).
    #[error("invalid policy {source_name}: {reason}")]
    InvalidPolicy {
        /// File name or other label.
        source_name: String,
        /// What is wrong.
        reason: String,
    },

    /// Another local setting (environment variable, flag value, file,
    /// configuration) is unusable.
    #[error("{what}: {reason}")]
    InvalidConfig {
        /// The setting (`CERRO_MODE`, `--valid-until`, a file…).
        what: String,
        /// What is wrong.
        reason: String,
    },

    /// Not a registry reference.
    #[error("invalid registry reference {reference:?}: {reason}")]
    InvalidReference {
        /// As given.
        reference: String,
        /// Why it was refused.
        reason: String,
    },

    /// A bundle path that is not a regular file (a FIFO would block, a device would never end).
    #[error("{}: a bundle must be a regular file, this is {what}", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },

    /// An output directory that exists and is not empty.
    #[error("{} exists and is not an empty directory", path.display())]
    OutputExists {
        /// The directory.
        path: PathBuf,
    },

    /// The system clock cannot be read, or reads before 1970: nothing that
    /// depends on key validity is decided (see [`crate::clock`]).
    #[error("the system clock is unusable ({reason}); refusing to decide on key validity")]
    Clock {
        /// Why.
        reason: String,
    },

    /// The system could not provide what an operation needs (randomness,
    /// an encoder that should not fail).
    #[error("{op}: {reason}")]
    System {
        /// What was being done.
        op: &'static str,
        /// What failed.
        reason: String,
    },

    /// A program a front end runs (`semodule`, `ctr`, `podman`) failed.
    #[error("{command} failed: {message}")]
    CommandFailed {
        /// The command, shortened.
        command: String,
        /// Its stderr, escaped.
        message: String,
    },

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

    /// The installed trust root has expired (TUF §5.3.10): nothing verifies
    /// until a newer root is installed.
    #[error(
        "trust root version {version} expired at {expires} (now {now}): install a newer root (ct trust root install)"
    )]
    TrustRootExpired {
        /// Its version.
        version: u64,
        /// When it expired (RFC 3339).
        expires: String,
        /// The time of the check (RFC 3339).
        now: String,
    },

    /// A trust root or revocation list older than the one this host has
    /// seen, or of the same version with other content.
    #[error("{what} version {offered} is refused: this host has seen version {installed} (a lower version, or the same version with other content, is a rollback)")]
    Rollback {
        /// `trust root` or `revocation list`.
        what: &'static str,
        /// The version offered.
        offered: u64,
        /// The highest version seen.
        installed: u64,
    },

    /// The bundle's release envelope or image is on the revocation list in force.
    #[error("revoked: {what} {digest} is on revocation list version {version}")]
    ReleaseRevoked {
        /// `release envelope` or `image manifest`.
        what: &'static str,
        /// The revoked digest.
        digest: Digest,
        /// The list's version.
        version: u64,
    },

    /// The revocation list in force is too old to be relied on (or missing
    /// when the policy bounds its age): every verification fails closed.
    #[error("revocation list stale: {reason}; install a fresh one (ct revocation fetch)")]
    RevocationStale {
        /// Which bound was passed.
        reason: String,
    },

    /// Two checkpoints of one log, each signed by the log's key, that cannot
    /// both be views of one append-only tree: the same size with different
    /// roots, a consistency proof (computed from the tiles the log serves)
    /// that does not lead from the smaller to the larger, or a log serving
    /// a smaller tree than someone already saw. The log showed different
    /// histories to different parties (spec/transparency.md §11).
    #[error("transparency: split view of log {origin}: {detail}")]
    TlogSplitView {
        /// The log's origin.
        origin: String,
        /// Who served which size and root, and which check failed.
        detail: String,
    },

    /// A multi-platform bundle verified, but the platform manifest the
    /// runtime selected for this host is not one its release statement
    /// binds, or is bound for another platform than this host's
    /// (spec/enforcement.md "Multi-platform images").
    #[error("platform not attested: {0}")]
    PlatformNotAttested(String),

    /// A PKCS#11 token refused an operation on a key it holds (signing,
    /// generating, reading an attribute), or answered with something that
    /// is not what was asked (a signature that does not verify under the
    /// key's public half). Raised by `cerro-pkcs11` (signing goes through
    /// [`crate::key::KeySigner`], whose errors are this crate's); this
    /// crate itself loads no module.
    #[error("PKCS#11 token {token:?} refused {op}: {reason}")]
    TokenRefused {
        /// The token's label.
        token: String,
        /// What was asked ("signing with key \"release\"", …).
        op: String,
        /// The token's answer (its CKR_ code) or what was wrong with it.
        reason: String,
    },

    /// A registry could not be reached, or answered with an error (its
    /// message is kept). Raised by front ends (`cerro-registry`): this crate
    /// itself does no network I/O.
    #[error("network error: {op} {target}: {message}")]
    Network {
        /// What was being done ("pushing blob", "resolving", …).
        op: &'static str,
        /// The reference or digest concerned.
        target: String,
        /// The registry's (or the transport's) message.
        message: String,
    },

    /// The registry holds the image but no Cerro Torre bundle for it
    /// (raised by `cerro-registry`): exit 5, the attestation is missing,
    /// not the network.
    #[error("{reference}: the registry holds no Cerro Torre bundle for image {digest} (no referrer of type {artifact_type}); {found}")]
    NoBundle {
        /// The reference fetched.
        reference: String,
        /// The image manifest digest.
        digest: String,
        /// The artifact type looked for.
        artifact_type: &'static str,
        /// What the registry holds for the image instead (cosign
        /// signatures or attestations, notation signatures, SBOMs, other
        /// referrers, or nothing), for the user to know where they stand.
        found: String,
    },
}

impl Error {
    /// The variant's [`Kind`] (no wildcard: a new variant must be named).
    pub fn kind(&self) -> Kind {
        match self {
            Error::Io { .. } => Kind::Io,
            Error::DigestMismatch { .. } => Kind::DigestMismatch,
            Error::SizeMismatch { .. } => Kind::SizeMismatch,
            Error::Malformed { .. } => Kind::Malformed,
            Error::SignatureInvalid { .. } => Kind::SignatureInvalid,
            Error::SignerNotTrusted { .. } => Kind::SignerNotTrusted,
            Error::PolicyRejection { .. } => Kind::PolicyRejection,
            Error::MissingAttestation(_) => Kind::MissingAttestation,
            Error::UnknownKey { .. } => Kind::UnknownKey,
            Error::KeyExists { .. } => Kind::KeyExists,
            Error::KeyKnownAs { .. } => Kind::KeyKnownAs,
            Error::UnknownGroup { .. } => Kind::UnknownGroup,
            Error::InvalidName { .. } => Kind::InvalidName,
            Error::InvalidGroup { .. } => Kind::InvalidGroup,
            Error::InvalidPublicKey { .. } => Kind::InvalidPublicKey,
            Error::PrivateKey { .. } => Kind::PrivateKey,
            Error::PassphraseNeeded { .. } => Kind::PassphraseNeeded,
            Error::WrongPassphrase { .. } => Kind::WrongPassphrase,
            Error::InvalidTrustStore { .. } => Kind::InvalidTrustStore,
            Error::InvalidPolicy { .. } => Kind::InvalidPolicy,
            Error::InvalidConfig { .. } => Kind::InvalidConfig,
            Error::InvalidReference { .. } => Kind::InvalidReference,
            Error::NotRegularFile { .. } => Kind::NotRegularFile,
            Error::OutputExists { .. } => Kind::OutputExists,
            Error::Clock { .. } => Kind::Clock,
            Error::System { .. } => Kind::System,
            Error::CommandFailed { .. } => Kind::CommandFailed,
            Error::Network { .. } => Kind::Network,
            Error::NoBundle { .. } => Kind::NoBundle,
            Error::TlogUntrustedLog { .. } => Kind::TlogUntrustedLog,
            Error::NoteNotSigned { .. } => Kind::NoteNotSigned,
            Error::NoteSignatureInvalid { .. } => Kind::NoteSignatureInvalid,
            Error::TlogWitnessQuorum { .. } => Kind::TlogWitnessQuorum,
            Error::TlogProofMismatch { .. } => Kind::TlogProofMismatch,
            Error::TrustRootExpired { .. } => Kind::TrustRootExpired,
            Error::Rollback { .. } => Kind::Rollback,
            Error::ReleaseRevoked { .. } => Kind::ReleaseRevoked,
            Error::RevocationStale { .. } => Kind::RevocationStale,
            Error::TlogSplitView { .. } => Kind::TlogSplitView,
            Error::PlatformNotAttested(_) => Kind::PlatformNotAttested,
            Error::TokenRefused { .. } => Kind::TokenRefused,
        }
    }

    /// The documented exit code, from the one table ([`Kind::row`]).
    pub fn exit_code(&self) -> ExitCode {
        self.kind().exit_code()
    }

    /// The failed check (for reports' `error_kind` and audit records' `check`).
    pub fn check(&self) -> &'static str {
        self.kind().check()
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

    /// Shorthand for [`Error::InvalidConfig`].
    pub fn invalid_config(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            what: what.into(),
            reason: reason.into(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The one table, pinned: every kind's name, exit code and check. A
    /// changed row is a changed contract (scripts branch on exit codes,
    /// audit readers on checks): change `spec/bundle-format.md` §10 with it.
    #[test]
    fn every_kind_maps_through_the_one_table_to_a_documented_exit_code() {
        let mut names = std::collections::BTreeSet::new();
        for k in Kind::ALL {
            // Exhaustive without wildcard: a Kind missing from ALL fails here
            // (its index is out of step), one missing from the match fails to compile.
            let index = match k {
                Kind::Io => 0,
                Kind::DigestMismatch => 1,
                Kind::SizeMismatch => 2,
                Kind::Malformed => 3,
                Kind::SignatureInvalid => 4,
                Kind::SignerNotTrusted => 5,
                Kind::PolicyRejection => 6,
                Kind::MissingAttestation => 7,
                Kind::UnknownKey => 8,
                Kind::KeyExists => 9,
                Kind::KeyKnownAs => 10,
                Kind::UnknownGroup => 11,
                Kind::InvalidName => 12,
                Kind::InvalidGroup => 13,
                Kind::InvalidPublicKey => 14,
                Kind::PrivateKey => 15,
                Kind::PassphraseNeeded => 16,
                Kind::WrongPassphrase => 17,
                Kind::InvalidTrustStore => 18,
                Kind::InvalidPolicy => 19,
                Kind::InvalidConfig => 20,
                Kind::InvalidReference => 21,
                Kind::NotRegularFile => 22,
                Kind::OutputExists => 23,
                Kind::Clock => 24,
                Kind::System => 25,
                Kind::CommandFailed => 26,
                Kind::Network => 27,
                Kind::NoBundle => 28,
                Kind::UnsafeOwnership => 29,
                Kind::ModuleNotLoaded => 30,
                Kind::ModuleMalformed => 31,
                Kind::LabelMismatch => 32,
                Kind::WrongContainer => 33,
                Kind::ImageUnknown => 34,
                Kind::ContainerConfig => 35,
                Kind::BundleAnnotation => 36,
                Kind::TargetPolicy => 37,
                Kind::Unrepresentable => 38,
                Kind::NotInstallable => 39,
                Kind::TlogUntrustedLog => 40,
                Kind::NoteNotSigned => 41,
                Kind::NoteSignatureInvalid => 42,
                Kind::TlogWitnessQuorum => 43,
                Kind::TlogProofMismatch => 44,
                Kind::TlogLocked => 45,
                Kind::TlogKey => 46,
                Kind::TlogNotEmpty => 47,
                Kind::TlogCorrupt => 48,
                Kind::TlogEntry => 49,
                Kind::TlogBatch => 50,
                Kind::TlogStopped => 51,
                Kind::TrustRootExpired => 52,
                Kind::Rollback => 53,
                Kind::ReleaseRevoked => 54,
                Kind::RevocationStale => 55,
                Kind::TlogSplitView => 56,
                Kind::PlatformNotAttested => 57,
                Kind::TokenUri => 58,
                Kind::TokenModule => 59,
                Kind::TokenPin => 60,
                Kind::TokenObject => 61,
                Kind::TokenRefused => 62,
            };
            assert_eq!(Kind::ALL[index], k);
            let (name, code, check) = k.row();
            assert!(names.insert(name), "two kinds named {name}");
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name} is not snake_case"
            );
            assert!(
                ExitCode::ALL.iter().any(|(c, _)| *c == code),
                "{k:?}: undocumented exit code"
            );
            assert_ne!(code, ExitCode::Valid, "{k:?} is an error");
            assert_ne!(code, ExitCode::Usage, "{k:?}: usage is clap's");
            let expected_check = match code {
                ExitCode::Config
                    if matches!(k, Kind::ModuleNotLoaded | Kind::ModuleMalformed | Kind::LabelMismatch) =>
                {
                    "confinement"
                }
                ExitCode::Config => "config",
                ExitCode::DigestMismatch if k == Kind::SizeMismatch => "size_mismatch",
                ExitCode::Malformed => "malformed",
                ExitCode::Network => "network",
                // A bundle that verified, for another platform: its own check,
                // so an audit reader tells it from a missing bundle.
                ExitCode::MissingAttestation if k == Kind::PlatformNotAttested => "platform_not_attested",
                ExitCode::MissingAttestation => "missing_attestation",
                ExitCode::Io => "io",
                _ => name,
            };
            assert_eq!(check, expected_check, "{k:?}");
        }
        // The codes as they were documented before the table existed.
        let code = |k: Kind| k.exit_code().code();
        assert_eq!(
            [
                Kind::Io,
                Kind::DigestMismatch,
                Kind::SizeMismatch,
                Kind::Malformed,
                Kind::SignatureInvalid,
                Kind::SignerNotTrusted,
                Kind::PolicyRejection,
                Kind::MissingAttestation,
                Kind::Network,
                Kind::NoBundle,
                Kind::Unrepresentable,
                Kind::NotInstallable,
            ]
            .map(code),
            // no_bundle was 12 until issue #14: a registry without a bundle
            // for the image is a missing attestation, not a network error.
            [11, 1, 1, 10, 2, 3, 4, 5, 12, 5, 10, 10]
        );
        for k in Kind::ALL {
            if k.check() == "config" || k.check() == "confinement" {
                assert_eq!(code(k), 78, "{k:?}");
            }
        }
    }

    /// `spec/bundle-format.md` §10 lists every kind under its exit code,
    /// as this table has it (kinds in declaration order, codes ascending).
    #[test]
    fn the_spec_lists_every_kind_under_its_exit_code() {
        let mut table = String::from("| Code | Kinds |\n|---:|---|\n");
        for (code, _) in ExitCode::ALL {
            let kinds: Vec<String> = Kind::ALL
                .iter()
                .filter(|k| k.exit_code() == code)
                .map(|k| format!("`{}`", k.as_str()))
                .collect();
            if !kinds.is_empty() {
                table.push_str(&format!("| {} | {} |\n", code.code(), kinds.join(", ")));
            }
        }
        let spec = include_str!("../../spec/bundle-format.md");
        assert!(
            spec.contains(&table),
            "spec/bundle-format.md §10 should carry:\n{table}"
        );
    }

    #[test]
    fn every_core_variant_names_its_kind() {
        let d = Digest::of(b"a");
        let io = || std::io::Error::other("x");
        let all = [
            Error::io("reading", "/x", io()),
            Error::DigestMismatch {
                what: "x".into(),
                expected: d,
                actual: d,
            },
            Error::SizeMismatch {
                what: "x".into(),
                expected: 1,
                actual: 2,
            },
            Error::malformed("x", "y"),
            Error::SignatureInvalid {
                key: "k".into(),
                fingerprint: "f".into(),
                envelope: "e".into(),
            },
            Error::SignerNotTrusted {
                envelope: "e".into(),
                counted: 0,
                required: 1,
                details: String::new(),
            },
            Error::PolicyRejection {
                rule: "r".into(),
                reason: "x".into(),
            },
            Error::MissingAttestation("x".into()),
            Error::UnknownKey { id: "k".into() },
            Error::KeyExists { id: "k".into() },
            Error::KeyKnownAs {
                id: "k".into(),
                fingerprint: "f".into(),
            },
            Error::UnknownGroup { name: "g".into() },
            Error::InvalidName {
                what: "key id",
                name: "/".into(),
            },
            Error::InvalidGroup {
                name: "g".into(),
                reason: "has no keys".into(),
            },
            Error::InvalidPublicKey {
                what: "k".into(),
                reason: "x".into(),
            },
            Error::PrivateKey {
                id: "k".into(),
                reason: "x".into(),
            },
            Error::PassphraseNeeded {
                what: "--encrypt".into(),
            },
            Error::WrongPassphrase { id: "k".into() },
            Error::InvalidTrustStore {
                path: "/t".into(),
                reason: "x".into(),
            },
            Error::InvalidPolicy {
                source_name: "p".into(),
                reason: "x".into(),
            },
            Error::invalid_config("X", "y"),
            Error::InvalidReference {
                reference: "r".into(),
                reason: "x".into(),
            },
            Error::NotRegularFile {
                path: "/p".into(),
                what: "a FIFO",
            },
            Error::OutputExists { path: "/o".into() },
            Error::Clock { reason: "x".into() },
            Error::System {
                op: "x",
                reason: "y".into(),
            },
            Error::CommandFailed {
                command: "c".into(),
                message: "m".into(),
            },
            Error::Network {
                op: "x",
                target: "t".into(),
                message: "m".into(),
            },
            Error::NoBundle {
                reference: "r".into(),
                digest: "d".into(),
                artifact_type: "t",
                found: "f".into(),
            },
            Error::TlogUntrustedLog { origin: "o".into() },
            Error::NoteNotSigned {
                note: "n".into(),
                keys: "k".into(),
            },
            Error::NoteSignatureInvalid { key: "k".into() },
            Error::TlogWitnessQuorum {
                origin: "o".into(),
                counted: 1,
                required: 2,
            },
            Error::TlogProofMismatch {
                proof: "p".into(),
                reason: "r".into(),
            },
            Error::TrustRootExpired {
                version: 1,
                expires: "e".into(),
                now: "n".into(),
            },
            Error::Rollback {
                what: "trust root",
                offered: 1,
                installed: 2,
            },
            Error::ReleaseRevoked {
                what: "image manifest",
                digest: d,
                version: 1,
            },
            Error::RevocationStale { reason: "r".into() },
            Error::TokenRefused {
                token: "t".into(),
                op: "signing".into(),
                reason: "r".into(),
            },
        ];
        let kinds: std::collections::BTreeSet<Kind> = all.iter().map(Error::kind).collect();
        assert_eq!(kinds.len(), all.len(), "two variants share a kind");
        for e in &all {
            assert_eq!(e.exit_code(), e.kind().exit_code());
            assert_eq!(e.check(), e.kind().check());
        }
        assert_eq!(Error::UnknownKey { id: "k".into() }.exit_code(), ExitCode::Config);
        assert_eq!(Error::UnknownKey { id: "k".into() }.kind().as_str(), "unknown_key");
    }
}
