//! The interface between the verifier and a deployment policy: the
//! [`Policy`] trait `verify` asks, and [`NoPolicy`], the verifier's baseline.
//! (Named for what it is so that it is not mistaken for the policy engine,
//! the `cerro-policy` crate in `policy/`, which implements this trait.)
//!
//! The policy engine itself lives in the `cerro-policy` crate; the verifier
//! only needs to ask it one question, after every cryptographic and trust
//! check has passed, so that a [`crate::verify::Verified`] value always means
//! "verified *and* allowed by the policy in force".

use serde::Serialize;

use crate::bundle::Bundle;
use crate::statement::ReleaseStatement;
use crate::tlog::VerifiedTlogProof;
use crate::trust::{Fingerprint, Tally, TallyTime, TrustStore};

/// What a policy sees.
#[derive(Debug)]
pub struct PolicyInput<'a> {
    /// The bundle (structure and digests checked).
    pub bundle: &'a Bundle,
    /// Its release statement (signature checked, bindings checked).
    pub statement: &'a ReleaseStatement,
    /// Fingerprints of the release envelope's signatures: each either
    /// verified against a known key, or from a key the store does not know.
    /// Count them only through [`TrustStore::tally`].
    pub signers: &'a [Fingerprint],
    /// The trust store in force.
    pub trust: &'a TrustStore,
    /// Unix time of the decision.
    pub now: u64,
    /// The bundle's transparency-log proofs that verified for its release
    /// envelope, each from a distinct log of the trust store (at most one
    /// proof per log origin, and one key per log): count logs by these.
    pub logs: &'a [VerifiedTlogProof],
    /// Trusted time: the time by which the witness quorum vouches the
    /// release existed ([`crate::tlog::existed_by`] under
    /// [`crate::verify::time_quorum`]), `None` without one. The verifier's
    /// tally judged key expiry at it; a policy's rules use the same value.
    pub existed_by: Option<u64>,
    /// Signers of the bundle's rebuild attestations (`rebuilds/`,
    /// [`crate::rebuild`]): each either verified (signature by a known key,
    /// statement about this release), or by a key the store does not know
    /// (not checked). Those that failed are left out, as invalid release
    /// signatures are. Count them only through [`TrustStore::tally`].
    pub rebuilders: &'a [Fingerprint],
    /// Why each rebuild attestation by a known key was left out of
    /// `rebuilders` (it failed for this release, or it is of another
    /// platform than the one admitted), one line each (for the policy's
    /// message).
    pub rebuild_failures: &'a [String],
}

impl PolicyInput<'_> {
    /// The time a policy's own tally judges keys at: the verifier's
    /// ([`TallyTime::witnessed`] with [`PolicyInput::existed_by`]).
    pub fn tally_time(&self) -> TallyTime {
        TallyTime::witnessed(self.now, self.existed_by)
    }
}

/// A policy's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDecision {
    /// Whether the bundle may be used.
    pub allowed: bool,
    /// The rule that decided (e.g. `signers.threshold`, `default_action`).
    pub rule: String,
    /// Why, in one line.
    pub reason: String,
}

/// A deployment policy.
pub trait Policy {
    /// Decides. Must not panic; an internal inconsistency is a refusal.
    fn evaluate(&self, input: &PolicyInput<'_>) -> PolicyDecision;

    /// The policy's bound on the age of the revocation list in force, in
    /// seconds (`revocation.max_age_hours`), if it sets one. `verify`
    /// enforces it, before any signature is checked (spec/trust-store.md
    /// §10.3): a list issued longer ago, or none at all, refuses (exit 7).
    fn revocation_max_age(&self) -> Option<u64> {
        None
    }

    /// How many distinct trusted witnesses must have cosigned a log's
    /// checkpoint for the log to count (`transparency.witnesses`; 0 when
    /// the policy asks for none). A producer reads it to know whether the
    /// cosignatures it collected will do (`ct log submit --witness`,
    /// spec/transparency.md §12); `evaluate` is what decides.
    fn witness_quorum(&self) -> usize {
        0
    }

    /// How many distinct trusted logs must prove the release
    /// (`transparency.logs`; 0 when the policy asks for none). With
    /// [`Policy::witness_quorum`] it defines trusted time
    /// ([`crate::verify::time_quorum`]).
    fn log_quorum(&self) -> usize {
        0
    }

    /// The policy's count of `input.rebuilders` (through
    /// [`TrustStore::tally`]), when it has a rule that counts rebuilds
    /// (`require_attestations.rebuilt_by`): what `ct explain` shows for each
    /// rebuild attestation. `evaluate` decides; this only reports.
    fn rebuild_tally(&self, _input: &PolicyInput<'_>) -> Option<Tally> {
        None
    }
}

/// No deployment policy: the verifier's own baseline (at least one valid
/// signature by a non-revoked key trusted `full` or `ultimate`) decides.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPolicy;

impl Policy for NoPolicy {
    fn evaluate(&self, _: &PolicyInput<'_>) -> PolicyDecision {
        PolicyDecision {
            allowed: true,
            rule: "none".into(),
            reason: "no deployment policy given; baseline trust checks apply".into(),
        }
    }
}
