//! C2SP tlog-proof (c2sp.org/tlog-proof@v1): the offline proof a bundle
//! carries that its release entry is in a log, under a checkpoint cosigned
//! by witnesses; and its verification against trusted logs and witnesses.

use super::checkpoint::{parse_decimal, SignedCheckpoint};
use super::merkle::{self, Hash, MAX_PROOF_HASHES};
use super::note::{b64_decode, b64_encode, VerifierKey, ALG_COSIGNATURE_V1, ALG_ED25519, MAX_NOTE_BYTES};
use crate::error::{Error, Result};

/// §Format: "The first line MUST be the string `c2sp.org/tlog-proof@v1`."
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// The largest proof accepted: a checkpoint note at its bound, plus the
/// header, an `extra` line of at most [`MAX_EXTRA_BYTES`] and the hashes.
pub const MAX_PROOF_BYTES: usize = MAX_NOTE_BYTES + 8 * 1024;

/// The largest `extra` data accepted, decoded. Cerro Torre writes none; the
/// spec says "Appications MUST NOT implicitly trust the extra data".
pub const MAX_EXTRA_BYTES: usize = 4 * 1024;

fn malformed(reason: impl Into<String>) -> Error {
    Error::malformed("tlog proof", reason)
}

/// A parsed tlog-proof. Nothing in it is trusted until [`TlogProof::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    extra: Option<Vec<u8>>,
    index: u64,
    inclusion: Vec<Hash>,
    checkpoint: SignedCheckpoint,
}

impl TlogProof {
    /// A proof of leaf `index` under `checkpoint` with the given inclusion
    /// path (no extra data).
    pub fn new(index: u64, inclusion: Vec<Hash>, checkpoint: SignedCheckpoint) -> Result<Self> {
        if inclusion.len() > MAX_PROOF_HASHES {
            return Err(malformed("more inclusion hashes than any tree is high"));
        }
        Ok(TlogProof {
            extra: None,
            index,
            inclusion,
            checkpoint,
        })
    }

    /// Parses a proof (§Format), refusing anything but exactly: the header
    /// line; an optional `extra <base64>` line; `index <decimal>` "with no
    /// leading zeroes (unless the index is `0`)"; zero or more canonical
    /// base64 lines of 32 bytes ("one SHA-256 hash per line, starting from
    /// the leaf's sibling hash up to the root's child hash"); an empty line;
    /// the checkpoint "verbatim" (a signed note whose text is a checkpoint).
    /// Bounded by [`MAX_PROOF_BYTES`].
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(malformed(format!(
                "{} bytes, more than the {MAX_PROOF_BYTES} accepted",
                bytes.len()
            )));
        }
        let mut rest = bytes;
        let mut line = || -> Result<&str> {
            let i = rest
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(|| malformed("truncated before the checkpoint"))?;
            let l = std::str::from_utf8(&rest[..i]).map_err(|_| malformed("not valid UTF-8"))?;
            rest = &rest[i + 1..];
            Ok(l)
        };
        if line()? != HEADER {
            return Err(malformed(format!("the first line is not {HEADER}")));
        }
        let mut l = line()?;
        let mut extra = None;
        if let Some(b64) = l.strip_prefix("extra ") {
            let data = b64_decode(b64).ok_or_else(|| malformed("extra data is not canonical base64"))?;
            if data.len() > MAX_EXTRA_BYTES {
                return Err(malformed("extra data is too long"));
            }
            extra = Some(data);
            l = line()?;
        }
        let index = l
            .strip_prefix("index ")
            .and_then(parse_decimal)
            .ok_or_else(|| malformed("no `index N` line with a decimal index"))?;
        let mut inclusion = Vec::new();
        loop {
            let l = line()?;
            if l.is_empty() {
                break;
            }
            if inclusion.len() == MAX_PROOF_HASHES {
                return Err(malformed("more inclusion hashes than any tree is high"));
            }
            let h: Hash = b64_decode(l)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| malformed("an inclusion proof line is not canonical base64 of 32 bytes"))?;
            inclusion.push(h);
        }
        let checkpoint = SignedCheckpoint::parse(rest)?;
        Ok(TlogProof {
            extra,
            index,
            inclusion,
            checkpoint,
        })
    }

    /// The proof in its text form (`.tlog-proof`); parsing it gives back
    /// this proof, and parsing then writing any accepted proof gives back
    /// its bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("{HEADER}\n");
        if let Some(e) = &self.extra {
            s.push_str(&format!("extra {}\n", b64_encode(e)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.inclusion {
            s.push_str(&b64_encode(h));
            s.push('\n');
        }
        s.push('\n');
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.checkpoint.to_bytes());
        out
    }

    /// The entry's index in the log.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The inclusion path.
    pub fn inclusion(&self) -> &[Hash] {
        &self.inclusion
    }

    /// The signed checkpoint.
    pub fn checkpoint(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }

    /// The unauthenticated extra data, if any.
    pub fn extra(&self) -> Option<&[u8]> {
        self.extra.as_deref()
    }

    /// Verifies the proof for `entry` (the log entry's bytes, e.g.
    /// [`super::release_entry`]) following §Verifying a tlog proof:
    ///
    /// 1. "Compute the leaf hash": RFC 6962's `HASH(0x00 || entry)`.
    /// 2. "Check that the checkpoint origin line is acceptable, and that the
    ///    checkpoint is signed by a log public key configured for that origin
    ///    line": [`Error::TlogUntrustedLog`], then [`Error::NoteNotSigned`].
    /// 3. "Verify all cosignatures for witnesses known to the verifier"; a
    ///    signature by a known key that does not verify refuses the proof
    ///    ([`Error::NoteSignatureInvalid`], signed-note: "clients SHOULD
    ///    reject the whole note"); fewer than the threshold of distinct
    ///    witnesses is [`Error::TlogWitnessQuorum`].
    /// 4. "Check that the inclusion proof is valid, to bind the leaf hash
    ///    computed in step 1 to the the root hash of the signed checkpoint":
    ///    [`Error::TlogProofMismatch`].
    ///
    /// The extra data is not used.
    pub fn verify(&self, entry: &[u8], trust: &TlogTrust) -> Result<VerifiedTlogProof> {
        let leaf = merkle::leaf_hash(entry);
        let cp = self.checkpoint.checkpoint();
        let origin = cp.origin();
        let log = trust
            .logs
            .iter()
            .find(|l| l.origin == origin)
            .ok_or_else(|| Error::TlogUntrustedLog {
                origin: origin.to_owned(),
            })?;
        // One key list: the log's keys first, then every witness. A key
        // whose name and ID match a line is verified; the others' lines
        // are ignored.
        let mut known: Vec<VerifierKey> = log.keys.clone();
        known.extend(trust.witnesses.iter().cloned());
        let verified = match self.checkpoint.note().verify(&known) {
            Ok(v) => v,
            Err(Error::NoteNotSigned { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        if !verified.iter().any(|v| v.key < log.keys.len()) {
            return Err(Error::NoteNotSigned {
                note: format!("checkpoint of log {origin}"),
                keys: log.keys.iter().map(VerifierKey::to_vkey).collect::<Vec<_>>().join(", "),
            });
        }
        let mut witnesses: Vec<Cosigned> = Vec::new();
        for v in &verified {
            if v.key < log.keys.len() {
                continue;
            }
            let (Some(w), Some(timestamp)) = (known.get(v.key), v.timestamp) else {
                continue;
            };
            // Distinct keys only: a note holds one line per key (the parser
            // refuses repeats) and the trust refuses two witnesses with one
            // public key, so each verified line is one witness.
            witnesses.push(Cosigned {
                witness: w.name().to_owned(),
                timestamp,
            });
        }
        if witnesses.len() < trust.witness_threshold {
            return Err(Error::TlogWitnessQuorum {
                origin: origin.to_owned(),
                counted: witnesses.len(),
                required: trust.witness_threshold,
            });
        }
        merkle::verify_inclusion(&leaf, self.index, cp.size(), &self.inclusion, cp.root()).map_err(|e| match e {
            Error::TlogProofMismatch { reason, .. } => Error::TlogProofMismatch {
                proof: format!(
                    "inclusion proof of entry {} in log {origin} at tree size {}",
                    self.index,
                    cp.size()
                ),
                reason,
            },
            other => other,
        })?;
        Ok(VerifiedTlogProof {
            origin: origin.to_owned(),
            index: self.index,
            tree_size: cp.size(),
            root: *cp.root(),
            witnesses,
        })
    }
}

/// A witness cosignature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The witness's key name.
    pub witness: String,
    /// When it cosigned (POSIX seconds), by its own clock: a bound on when
    /// the entry existed, not checked against any clock here.
    pub timestamp: u64,
}

/// What a verified proof establishes. Only [`TlogProof::verify`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTlogProof {
    origin: String,
    index: u64,
    tree_size: u64,
    root: Hash,
    witnesses: Vec<Cosigned>,
}

impl VerifiedTlogProof {
    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The entry's index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The checkpoint's tree size.
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// The checkpoint's root hash.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The trusted witnesses whose cosignatures verified, in note order.
    pub fn witnesses(&self) -> &[Cosigned] {
        &self.witnesses
    }
}

/// A log the verifier trusts: its origin line and its key(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedLog {
    origin: String,
    keys: Vec<VerifierKey>,
}

impl TrustedLog {
    /// A log with origin `origin` whose checkpoints are signed by one of
    /// `keys` (Ed25519, type 0x01; more than one during a key rotation).
    pub fn new(origin: &str, keys: Vec<VerifierKey>) -> Result<Self> {
        if origin.is_empty() || origin.contains('\n') {
            return Err(Error::invalid_config(
                "transparency trust",
                format!("invalid log origin {origin:?}"),
            ));
        }
        if keys.is_empty() {
            return Err(Error::invalid_config(
                "transparency trust",
                format!("log {origin}: no key"),
            ));
        }
        if let Some(k) = keys.iter().find(|k| k.alg() != ALG_ED25519) {
            return Err(Error::invalid_config(
                "transparency trust",
                format!(
                    "log {origin}: key {} is not an Ed25519 note key (type 0x01)",
                    k.to_vkey()
                ),
            ));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.public_key() == k.public_key()) {
                return Err(Error::invalid_config(
                    "transparency trust",
                    format!("log {origin}: key {} is listed twice", k.to_vkey()),
                ));
            }
        }
        Ok(TrustedLog {
            origin: origin.to_owned(),
            keys,
        })
    }

    /// The origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The keys (type 0x01).
    pub fn keys(&self) -> &[VerifierKey] {
        &self.keys
    }
}

/// The verifier's transparency trust: logs, witnesses and how many distinct
/// witnesses must cosign a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogTrust {
    logs: Vec<TrustedLog>,
    witnesses: Vec<VerifierKey>,
    witness_threshold: usize,
}

impl TlogTrust {
    /// Builds the trust, refusing (as [`Error::InvalidConfig`]) what would make
    /// counting ambiguous or vacuous: no log; two logs with one origin; a
    /// witness key that is not cosignature/v1 (type 0x04); two keys (log or
    /// witness) with the same name and key ID; two witnesses with the same
    /// public key (tlog-cosignature: "The Ed25519 signed message format
    /// doesn't commit to the cosigner name, so the same public key can't be
    /// used across multiple cosigners"); a threshold of 0 (a checkpoint
    /// would rest on the log's word alone: no split-view protection) or
    /// above the number of witnesses.
    pub fn new(logs: Vec<TrustedLog>, witnesses: Vec<VerifierKey>, witness_threshold: usize) -> Result<Self> {
        let trust = Self::counting(logs, witnesses)?;
        if witness_threshold > trust.witnesses.len() {
            return Err(Error::invalid_config(
                "transparency trust",
                format!(
                    "witness threshold {witness_threshold} is more than the {} witnesses listed",
                    trust.witnesses.len()
                ),
            ));
        }
        if witness_threshold == 0 {
            return Err(Error::invalid_config(
                "transparency trust",
                "witness threshold 0: at least one witness must cosign",
            ));
        }
        Ok(TlogTrust {
            witness_threshold,
            ..trust
        })
    }

    /// Trust in `logs` and `witnesses` where core requires no cosignature
    /// ([`TlogProof::verify`] step 3 with a threshold of 0) but verifies
    /// each one a checkpoint carries and reports who cosigned it and when
    /// ([`VerifiedTlogProof::witnesses`]): how many must have cosigned is
    /// the deployment policy's rule (`transparency.witnesses`, spec/policy.md
    /// §1.7), counted there. The same refusals as [`TlogTrust::new`] but
    /// the threshold's.
    pub fn counting(logs: Vec<TrustedLog>, witnesses: Vec<VerifierKey>) -> Result<Self> {
        if logs.is_empty() {
            return Err(Error::invalid_config("transparency trust", "it lists no log"));
        }
        for (i, l) in logs.iter().enumerate() {
            if logs[..i].iter().any(|o| o.origin == l.origin) {
                return Err(Error::invalid_config(
                    "transparency trust",
                    format!("log {} is listed twice", l.origin),
                ));
            }
        }
        if let Some(w) = witnesses.iter().find(|w| w.alg() != ALG_COSIGNATURE_V1) {
            return Err(Error::invalid_config(
                "transparency trust",
                format!("witness key {} is not a cosignature/v1 key (type 0x04)", w.to_vkey()),
            ));
        }
        for (i, w) in witnesses.iter().enumerate() {
            if witnesses[..i].iter().any(|o| o.public_key() == w.public_key()) {
                return Err(Error::invalid_config(
                    "transparency trust",
                    format!("witnesses {} and another share one public key", w.name()),
                ));
            }
        }
        for l in &logs {
            let all: Vec<&VerifierKey> = l.keys.iter().chain(witnesses.iter()).collect();
            for (i, k) in all.iter().enumerate() {
                if all[..i]
                    .iter()
                    .any(|o| o.name() == k.name() && o.key_id() == k.key_id())
                {
                    return Err(Error::invalid_config(
                        "transparency trust",
                        format!("two keys named {}+{:08x}", k.name(), k.key_id()),
                    ));
                }
            }
        }
        Ok(TlogTrust {
            logs,
            witnesses,
            witness_threshold: 0,
        })
    }

    /// Trust in `logs` alone, with no witness: a checkpoint is accepted on
    /// its log's signature (step 3 of [`TlogProof::verify`] requires
    /// nothing). This gives no split-view protection by itself: a log could
    /// show this checkpoint to the verifier and another tree to everyone
    /// else. It is what a verifier has until witnesses are configured
    /// (spec/transparency.md §11); requiring several independent logs
    /// (the policy's `transparency.logs`) is the defence meanwhile. The
    /// same refusals as [`TlogTrust::new`] for the logs (none, one origin
    /// twice, one key name and ID twice).
    pub fn logs_only(logs: Vec<TrustedLog>) -> Result<Self> {
        Self::counting(logs, Vec::new())
    }

    /// Whether a log with this origin is trusted.
    pub fn has_log(&self, origin: &str) -> bool {
        self.logs.iter().any(|l| l.origin == origin)
    }
}
