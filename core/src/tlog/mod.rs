//! Transparency logs: the formats and their offline verification, on the
//! C2SP specifications so any C2SP-speaking log, witness or monitor
//! interoperates (see `spec/transparency.md`).
//!
//! - [`merkle`]: RFC 6962 / RFC 9162 §2.1 tree hashing, inclusion and
//!   consistency proofs (generation from leaf hashes, and verification).
//! - [`note`]: C2SP signed-note v1, verifier keys, Ed25519 note signatures
//!   and Ed25519 cosignature/v1 signing.
//! - [`checkpoint`]: C2SP tlog-checkpoint v1 and the tlog-cosignature v1
//!   signed message.
//! - [`proof`]: C2SP tlog-proof v1, verified against [`proof::TlogTrust`]
//!   (trusted logs, witnesses, a witness threshold).
//! - [`tiles`]: C2SP tlog-tiles paths, partial widths and entry bundles,
//!   and reading a tree's hashes back from its tiles ([`tiles::TileHashes`]).
//! - [`monitor`]: whether checkpoints of one log seen by different parties
//!   can be views of one tree (a split view, when not).
//!
//! Bytes in, values out: no network, no file, no clock (timestamps are
//! arguments and results).

pub mod checkpoint;
pub mod merkle;
pub mod monitor;
pub mod note;
pub mod proof;
pub mod tiles;
pub mod witness;

pub use checkpoint::{Checkpoint, SignedCheckpoint};
pub use merkle::Hash;
pub use note::{Ed25519Cosigner, Ed25519NoteSigner, NoteSigner, SignedNote, VerifierKey};
pub use proof::{Cosigned, TlogProof, TlogTrust, TrustedLog, VerifiedTlogProof};

use crate::digest::Digest;

/// The first line of a release entry: the domain separation of Cerro
/// Torre's log entries from anything else a log may hold.
pub const RELEASE_ENTRY_PREFIX: &str = "cerro-torre.org/tlog-entry/release/v1";

/// The first line of a revocation list's entry
/// (spec/trust-store.md §10.4): a signed revocation list is entered in the
/// logs as its envelope's digest, domain-separated from releases.
pub const REVOCATION_ENTRY_PREFIX: &str = "cerro-torre.org/tlog-entry/revocation/v1";

/// The log entry for a revocation list whose envelope's SHA-256 digest is
/// known: [`REVOCATION_ENTRY_PREFIX`] and `sha256:<hex>`, each line ending
/// in a newline (113 bytes).
pub fn revocation_entry_for(envelope_digest: &Digest) -> Vec<u8> {
    format!("{REVOCATION_ENTRY_PREFIX}\nsha256:{}\n", envelope_digest.hex()).into_bytes()
}

/// The log entry for a release: two lines, the fixed
/// [`RELEASE_ENTRY_PREFIX`] and `sha256:<hex>` of the exact bytes of the
/// release envelope (`attestations/release.dsse.json`), each ending in a
/// newline (110 bytes). A log holds this digest, never the envelope.
pub fn release_entry(envelope: &[u8]) -> Vec<u8> {
    release_entry_for(&Digest::of(envelope))
}

/// The distinct origins of `logs` (proofs that verified) whose checkpoint
/// at least `witnesses` distinct trusted witnesses cosigned: the one count
/// of logs, for the trust root's quorum and the policy's `transparency`
/// rule alike.
pub fn logs_with_witnesses(logs: &[VerifiedTlogProof], witnesses: usize) -> std::collections::BTreeSet<&str> {
    logs.iter()
        .filter(|l| l.witnesses().len() >= witnesses)
        .map(|l| l.origin())
        .collect()
}

/// Trusted time (spec/transparency.md §12.3, spec/policy.md §1.7): the
/// latest time by which `logs` distinct logs, each with `witnesses`
/// distinct trusted witness cosignatures of its checkpoint, vouch that
/// the release existed. For one log, the `witnesses`-th earliest
/// cosignature (that many witnesses agree it existed by then; one early
/// clock alone does not make it early); over the logs, the `logs`-th
/// earliest of those. An upper bound on when the release was made, never a
/// lower one. `None` without a witness requirement (a log's own word
/// carries no time: it could date its checkpoint as it likes) or when too
/// few logs qualify. The one computation: the verifier's key validity
/// windows and the policy's dated denials and age rule all read it.
pub fn existed_by(proofs: &[VerifiedTlogProof], logs: usize, witnesses: usize) -> Option<u64> {
    if witnesses == 0 || logs == 0 {
        return None;
    }
    let mut per_log: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for l in proofs {
        let mut times: Vec<u64> = l.witnesses().iter().map(|c| c.timestamp).collect();
        times.sort_unstable();
        if let Some(&kth) = times.get(witnesses - 1) {
            let e = per_log.entry(l.origin()).or_insert(kth);
            *e = (*e).min(kth);
        }
    }
    let mut per_log: Vec<u64> = per_log.into_values().collect();
    per_log.sort_unstable();
    per_log.get(logs - 1).copied()
}

/// The release entry for an envelope whose SHA-256 digest is known.
pub fn release_entry_for(envelope_digest: &Digest) -> Vec<u8> {
    format!("{RELEASE_ENTRY_PREFIX}\nsha256:{}\n", envelope_digest.hex()).into_bytes()
}
