//! Keys, trust levels and the one routine that counts signers.
//!
//! [`TrustStore`] is the in-memory view: which public keys are known, how far
//! each is trusted, whether it is revoked or outside its validity window.
//! [`home::Home`] loads and saves it under `$CERRO_HOME`.
//!
//! [`TrustStore::tally`] is the only place that decides which signatures
//! count toward a threshold: every front end (CLI, shim, hook) and the policy
//! engine go through it, so duplicate keys, revoked keys and expired keys are
//! treated the same everywhere.

pub mod home;
pub mod root;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::key::{AsPublicKey, PublicKey};
use crate::tlog::{TlogTrust, TrustedLog, VerifierKey};
use root::{RevocationList, RootInForce};

/// How far a key is trusted. Ordered: `Untrusted < Marginal < Full < Ultimate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustLevel {
    /// Known but not trusted (imported keys start here).
    Untrusted,
    /// Partly trusted: does not count toward a threshold unless a policy says so.
    Marginal,
    /// Trusted to sign releases.
    Full,
    /// The user's own keys.
    Ultimate,
}

impl TrustLevel {
    /// Every level, lowest first.
    pub const ALL: [TrustLevel; 4] = [
        TrustLevel::Untrusted,
        TrustLevel::Marginal,
        TrustLevel::Full,
        TrustLevel::Ultimate,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            TrustLevel::Untrusted => "untrusted",
            TrustLevel::Marginal => "marginal",
            TrustLevel::Full => "full",
            TrustLevel::Ultimate => "ultimate",
        }
    }
}

impl fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TrustLevel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        TrustLevel::ALL.into_iter().find(|l| l.as_str() == s).ok_or_else(|| {
            Error::invalid_config(
                "trust level",
                format!("unknown trust level {s:?} (untrusted, marginal, full, ultimate)"),
            )
        })
    }
}

/// SHA-256 of a public key's DER SubjectPublicKeyInfo — the same bytes
/// `openssl pkey -pubin -outform DER` writes, so anyone can recompute it.
/// Used as the DSSE `keyid`. One scheme for every algorithm
/// ([`PublicKey::spki_der`]: RFC 8410 for Ed25519, RFC 5480 with the
/// uncompressed point for P-256); the SPKI names the algorithm, so keys of
/// two algorithms never share a fingerprint (spec/bundle-format.md §4.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `key`.
    pub fn of(key: &impl AsPublicKey) -> Self {
        Fingerprint(*Digest::of(&key.public_key().spki_der()).as_bytes())
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        Digest::from_hex(s).map(|d| Fingerprint(*d.as_bytes()))
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

/// A log read URL as [`TrustStore::set_log_url`] accepts it.
fn check_log_url(url: &str) -> Result<()> {
    let bad = |reason: &str| Error::invalid_config("transparency log", format!("read URL {url:?}: {reason}"));
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("not an http:// or https:// URL"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.contains('@') {
        return Err(bad("credentials in the URL"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) || url.contains(['?', '#']) {
        return Err(bad("whitespace, a query or a fragment"));
    }
    Ok(())
}

/// Validates a user-chosen key id: it names files, so it is restricted to
/// `[A-Za-z0-9][A-Za-z0-9._@-]{0,63}`.
pub fn validate_key_id(id: &str) -> Result<()> {
    let b = id.as_bytes();
    let ok = (1..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what: "key id",
            name: id.to_owned(),
        })
    }
}

/// A known public key and what the user decided about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// Local name.
    pub id: String,
    /// The key (either algorithm: a holder's Ed25519 and P-256 keys are two
    /// keys, two fingerprints, and count twice).
    pub public: PublicKey,
    /// SHA-256 of its SPKI.
    pub fingerprint: Fingerprint,
    /// Trust level.
    pub level: TrustLevel,
    /// Unix time it was revoked, if it was. A revoked key never counts.
    pub revoked_at: Option<u64>,
    /// Unix time before which its signatures do not count.
    pub valid_from: Option<u64>,
    /// Unix time after which its signatures do not count.
    pub valid_until: Option<u64>,
}

impl KeyEntry {
    /// A key with no revocation and no validity window.
    pub fn new(id: &str, public: impl Into<PublicKey>, level: TrustLevel) -> Self {
        let public = public.into();
        KeyEntry {
            id: id.to_owned(),
            fingerprint: Fingerprint::of(&public),
            public,
            level,
            revoked_at: None,
            valid_from: None,
            valid_until: None,
        }
    }
}

/// Why a signature did or did not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum SignerStatus {
    /// Valid, trusted and counted.
    Counted,
    /// No key with this fingerprint in the trust store.
    Unknown,
    /// Known key, trust level below the minimum.
    BelowTrust(TrustLevel),
    /// Revoked key.
    Revoked,
    /// Before the key's valid-from time.
    NotYetValid,
    /// After the key's valid-until time.
    Expired,
    /// A second signature by a key already counted.
    Duplicate,
    /// Excluded by a policy filter (the reason says which rule).
    Excluded(String),
}

/// When [`TrustStore::tally`] judges the keys' validity
/// (spec/trust-store.md §7): `valid_from`, `revoked_at` and an undated
/// entry of the revocation list at `now`; `valid_until` and a dated entry
/// of the revocation list ("revoked from T") at the time the release is
/// known to have existed, `min(now, existed_by)`. Only trusted time moves
/// it back from `now`: the witnesses' cosignatures, never the bundle's own
/// word ([`crate::tlog::existed_by`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TallyTime {
    now: u64,
    existed_by: Option<u64>,
    expiry_deferred: bool,
}

impl TallyTime {
    /// Everything judged at `now` (no trusted time: a bundle without a
    /// witness quorum, or a signature that is not a release's).
    pub fn now(now: u64) -> Self {
        TallyTime {
            now,
            existed_by: None,
            expiry_deferred: false,
        }
    }

    /// `valid_until` and dated revocations judged at `existed_by` when it
    /// is earlier than `now` (trusted time from the bundle's verified
    /// proofs; `None` when they give none).
    pub fn witnessed(now: u64, existed_by: Option<u64>) -> Self {
        TallyTime {
            now,
            existed_by,
            expiry_deferred: false,
        }
    }

    /// Before the proofs can be read (the precheck of `ct fetch`,
    /// [`crate::precheck`]): a key past its `valid_until` may still count
    /// once the proofs show the release was witnessed before, so it is
    /// counted provisionally and the full verification decides. Every
    /// other rule, including a dated revocation, is judged at `now`.
    pub(crate) fn before_proofs(now: u64) -> Self {
        TallyTime {
            now,
            existed_by: None,
            expiry_deferred: true,
        }
    }

    /// The time of the decision.
    pub fn decision(&self) -> u64 {
        self.now
    }

    /// Trusted time, if the bundle's proofs give one.
    pub fn existed_by(&self) -> Option<u64> {
        self.existed_by
    }

    /// The time a key must still have been valid at: `now`, or the
    /// trusted time when earlier.
    fn signed_by(&self) -> u64 {
        self.existed_by.map_or(self.now, |t| t.min(self.now))
    }
}

/// Why a key counted although, judged at the time of the decision, it
/// would not have: what trusted time changed (`ct explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TimeNote {
    /// `valid_until` passed after the witnesses saw the release.
    ExpiredAfterWitnessed {
        /// The key's `valid_until`.
        valid_until: u64,
        /// Trusted time ([`crate::tlog::existed_by`]).
        witnessed: u64,
    },
    /// The revocation list revokes the key from `after`, later than the
    /// witnesses saw the release.
    RevokedAfterWitnessed {
        /// The list entry's `after`.
        after: u64,
        /// Trusted time.
        witnessed: u64,
    },
    /// Past `valid_until`, counted only provisionally before the proofs
    /// were read ([`TallyTime::before_proofs`]).
    ExpiryDeferred {
        /// The key's `valid_until`.
        valid_until: u64,
    },
}

impl fmt::Display for TimeNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::timestamp::format_rfc3339 as at;
        match *self {
            TimeNote::ExpiredAfterWitnessed { valid_until, witnessed } => write!(
                f,
                "expired {}, after the release was witnessed at {} (trusted time)",
                at(valid_until),
                at(witnessed)
            ),
            TimeNote::RevokedAfterWitnessed { after, witnessed } => write!(
                f,
                "revoked by the revocation list from {}, after the release was witnessed at {} (trusted time)",
                at(after),
                at(witnessed)
            ),
            TimeNote::ExpiryDeferred { valid_until } => write!(
                f,
                "expired {}: counted provisionally until the bundle's transparency proofs are checked",
                at(valid_until)
            ),
        }
    }
}

/// The verdict on one signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerVerdict {
    /// The DSSE keyid (fingerprint).
    pub fingerprint: String,
    /// Local key id, when known.
    pub key_id: Option<String>,
    /// The key's algorithm (`ed25519`, `ecdsa-p256`), when known.
    pub algorithm: Option<&'static str>,
    /// Trust level, when known.
    pub level: Option<TrustLevel>,
    /// Whether it counted, and why not.
    #[serde(flatten)]
    pub status: SignerStatus,
    /// Set when trusted time decided (a key that expired, or was revoked
    /// from a date, after the release was witnessed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeNote>,
}

impl SignerVerdict {
    /// True when this signature counted toward the threshold.
    pub fn counted(&self) -> bool {
        self.status == SignerStatus::Counted
    }
}

/// The result of [`TrustStore::tally`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// One verdict per signature, in envelope order.
    pub verdicts: Vec<SignerVerdict>,
    /// Distinct keys counted.
    pub counted: usize,
}

impl Tally {
    /// A one-line summary of why signatures did not count (empty if all did).
    pub fn explain_uncounted(&self) -> String {
        let parts: Vec<String> = self
            .verdicts
            .iter()
            .filter(|v| !v.counted())
            .map(|v| {
                let who = v
                    .key_id
                    .clone()
                    .unwrap_or_else(|| format!("unknown key {}", &v.fingerprint));
                let why = match &v.status {
                    SignerStatus::Counted => "counted".to_owned(),
                    SignerStatus::Unknown => "not in the trust store".to_owned(),
                    SignerStatus::BelowTrust(l) => format!("trust level {l}"),
                    SignerStatus::Revoked => "revoked".to_owned(),
                    SignerStatus::NotYetValid => "not yet valid".to_owned(),
                    SignerStatus::Expired => "expired".to_owned(),
                    SignerStatus::Duplicate => "duplicate signature".to_owned(),
                    SignerStatus::Excluded(r) => format!("excluded by {r}"),
                };
                format!("{who}: {why}")
            })
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join("; "))
        }
    }
}

/// A named k-of-n group of keys (e.g. a release group, 3 of 5), which a
/// deployment policy can require with `signers.threshold_from`.
///
/// Only [`ThresholdGroup::new`] builds one, and it refuses a group that
/// could never be satisfied or says the same thing twice: a threshold of 0
/// or above the number of keys, an empty or repeated key id. That every id
/// names a known key is checked when the group enters a [`TrustStore`].
/// Membership is by local key id; counting still goes through
/// [`TrustStore::tally`], so a group's revoked, expired, duplicate or
/// insufficiently trusted signatures never count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdGroup {
    name: String,
    keys: Vec<String>,
    threshold: usize,
}

impl ThresholdGroup {
    /// A group named `name` (same grammar as key ids) of `keys` (local key
    /// ids, kept in the given order), of which `threshold` must sign.
    pub fn new(name: &str, keys: Vec<String>, threshold: usize) -> Result<Self> {
        validate_key_id(name).map_err(|_| Error::InvalidName {
            what: "group name",
            name: name.to_owned(),
        })?;
        let invalid = |reason: String| Error::InvalidGroup {
            name: name.to_owned(),
            reason,
        };
        if keys.is_empty() {
            return Err(invalid("has no keys".into()));
        }
        if let Some((i, dup)) = keys.iter().enumerate().find(|(i, k)| keys[..*i].contains(k)) {
            return Err(invalid(format!(
                "lists key {dup:?} twice (entry {i}): a key counts once"
            )));
        }
        if threshold == 0 {
            return Err(invalid("needs a threshold of at least 1".into()));
        }
        if threshold > keys.len() {
            return Err(invalid(format!(
                "has a threshold of {threshold}, more than its {} key(s)",
                keys.len()
            )));
        }
        Ok(ThresholdGroup {
            name: name.to_owned(),
            keys,
            threshold,
        })
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Local ids of its keys.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// How many distinct keys of the group must sign (1 ≤ k ≤ n).
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Whether `key` belongs to the group.
    pub fn contains(&self, key: &KeyEntry) -> bool {
        self.keys.contains(&key.id)
    }
}

/// The set of known keys, the threshold groups made of them, and the
/// transparency logs the host trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStore {
    keys: BTreeMap<String, KeyEntry>,
    groups: BTreeMap<String, ThresholdGroup>,
    logs: BTreeMap<String, TrustedLog>,
    /// Where each log's read side is (tlog-tiles prefix), by origin: what
    /// `ct log monitor` and `ct verify --online` fetch. Offline
    /// verification never reads it.
    log_urls: BTreeMap<String, String>,
    /// Transparency-log witnesses by name (spec/trust-store.md §5.2).
    witnesses: BTreeMap<String, VerifierKey>,
    /// The signed trust root in force, if one is installed: its logs and
    /// witnesses are the ones above, and its quorum binds every
    /// verification (spec/trust-store.md §9.3).
    root: Option<RootInForce>,
    /// The installed revocation list, if any (spec/trust-store.md §10):
    /// [`TrustStore::tally`] does not count the keys it revokes, and
    /// `verify` refuses the releases it revokes and a stale list.
    revocation: Option<RevocationList>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key. Refuses a duplicate id or a key already known under another id.
    pub fn insert(&mut self, entry: KeyEntry) -> Result<()> {
        validate_key_id(&entry.id)?;
        if self.keys.contains_key(&entry.id) {
            return Err(Error::KeyExists { id: entry.id });
        }
        if let Some(other) = self.by_fingerprint(&entry.fingerprint) {
            return Err(Error::KeyKnownAs {
                id: other.id.clone(),
                fingerprint: entry.fingerprint.to_hex(),
            });
        }
        self.keys.insert(entry.id.clone(), entry);
        Ok(())
    }

    /// The key named `id`.
    pub fn get(&self, id: &str) -> Option<&KeyEntry> {
        self.keys.get(id)
    }

    /// The key named `id`, mutably.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut KeyEntry> {
        self.keys.get_mut(id)
    }

    /// The key with this fingerprint.
    pub fn by_fingerprint(&self, fp: &Fingerprint) -> Option<&KeyEntry> {
        self.keys.values().find(|k| &k.fingerprint == fp)
    }

    /// All keys, by id.
    pub fn keys(&self) -> impl Iterator<Item = &KeyEntry> {
        self.keys.values()
    }

    /// Adds or replaces a threshold group, returning the one it replaced.
    /// Refuses a group naming a key id that is not in the store.
    pub fn set_group(&mut self, group: ThresholdGroup) -> Result<Option<ThresholdGroup>> {
        if let Some(unknown) = group.keys.iter().find(|id| !self.keys.contains_key(*id)) {
            return Err(Error::InvalidGroup {
                name: group.name.clone(),
                reason: format!("names key {unknown:?}, which is not in the trust store"),
            });
        }
        Ok(self.groups.insert(group.name.clone(), group))
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&ThresholdGroup> {
        self.groups.get(name)
    }

    /// All groups, by name.
    pub fn groups(&self) -> impl Iterator<Item = &ThresholdGroup> {
        self.groups.values()
    }

    /// Removes the group named `name`, returning it if it existed.
    pub fn remove_group(&mut self, name: &str) -> Option<ThresholdGroup> {
        self.groups.remove(name)
    }

    /// Adds or replaces the transparency log with this origin, whose
    /// checkpoints are signed by one of `keys` (C2SP verifier keys, Ed25519
    /// type 0x01), returning the one it replaced. Refuses (configuration,
    /// exit 78) what [`TrustedLog::new`] refuses, and a public key that
    /// another log already has: logs are counted distinct by their keys
    /// (spec/transparency.md §12), so one key cannot stand for two logs.
    pub fn set_log(&mut self, origin: &str, keys: Vec<VerifierKey>) -> Result<Option<TrustedLog>> {
        let log = TrustedLog::new(origin, keys)?;
        for other in self.logs.values().filter(|l| l.origin() != origin) {
            if let Some(k) = log
                .keys()
                .iter()
                .find(|k| other.keys().iter().any(|o| o.public_key() == k.public_key()))
            {
                return Err(Error::invalid_config(
                    "transparency log",
                    format!(
                        "key {} of log {origin} is already the key of log {}: one key, one log",
                        k.to_vkey(),
                        other.origin()
                    ),
                ));
            }
        }
        Ok(self.logs.insert(origin.to_owned(), log))
    }

    /// The trusted log with this origin.
    pub fn log(&self, origin: &str) -> Option<&TrustedLog> {
        self.logs.get(origin)
    }

    /// All trusted logs, by origin.
    pub fn logs(&self) -> impl Iterator<Item = &TrustedLog> {
        self.logs.values()
    }

    /// Removes the log with this origin, returning it if it was trusted.
    pub fn remove_log(&mut self, origin: &str) -> Option<TrustedLog> {
        self.log_urls.remove(origin);
        self.logs.remove(origin)
    }

    /// Sets where the trusted log `origin` serves its read side (the
    /// tlog-tiles prefix: `<url>/checkpoint`, `<url>/tile/…`): an
    /// `http://` or `https://` URL without query, fragment, credentials or
    /// whitespace. Refuses (configuration, exit 78) a log that is not
    /// trusted or another URL form. The URL is only where to ask: what it
    /// answers is verified under the log's keys.
    pub fn set_log_url(&mut self, origin: &str, url: &str) -> Result<()> {
        if !self.logs.contains_key(origin) {
            return Err(Error::invalid_config(
                "transparency log",
                format!("no trusted log has origin {origin:?}"),
            ));
        }
        check_log_url(url)?;
        self.log_urls.insert(origin.to_owned(), url.to_owned());
        Ok(())
    }

    /// Where the trusted log `origin` serves its read side, if known.
    pub fn log_url(&self, origin: &str) -> Option<&str> {
        self.log_urls.get(origin).map(String::as_str)
    }

    /// Adds or replaces the witness `key` (a C2SP cosignature/v1 verifier
    /// key, type 0x04; its name is the witness's name), returning the key it
    /// replaced. Refuses (configuration, exit 78) another type, and a public
    /// key that another witness or a log already has: witnesses are counted
    /// distinct by their keys, and tlog-cosignature says one public key
    /// cannot serve two cosigners.
    pub fn set_witness(&mut self, key: VerifierKey) -> Result<Option<VerifierKey>> {
        let name = key.name().to_owned();
        if key.alg() != crate::tlog::note::ALG_COSIGNATURE_V1 {
            return Err(Error::invalid_config(
                "transparency witness",
                format!("{} is not a cosignature/v1 key (type 0x04)", key.to_vkey()),
            ));
        }
        if let Some(other) = self
            .witnesses
            .values()
            .find(|o| o.name() != name && o.public_key() == key.public_key())
        {
            return Err(Error::invalid_config(
                "transparency witness",
                format!(
                    "the key of witness {name} is already the key of witness {}",
                    other.name()
                ),
            ));
        }
        if let Some(log) = self
            .logs
            .values()
            .find(|l| l.keys().iter().any(|k| k.public_key() == key.public_key()))
        {
            return Err(Error::invalid_config(
                "transparency witness",
                format!("the key of witness {name} is the key of log {}", log.origin()),
            ));
        }
        Ok(self.witnesses.insert(name, key))
    }

    /// All trusted witnesses, by name.
    pub fn witnesses(&self) -> impl Iterator<Item = &VerifierKey> {
        self.witnesses.values()
    }

    /// Removes the witness with this name, returning its key if it was trusted.
    pub fn remove_witness(&mut self, name: &str) -> Option<VerifierKey> {
        self.witnesses.remove(name)
    }

    /// The transparency trust the trusted logs and witnesses make, or
    /// `None` when no log is trusted (or the two cannot be trusted
    /// together: then no proof counts). Core verifies every cosignature a
    /// checkpoint carries by a trusted witness and reports it; how many
    /// must have cosigned is the policy's rule ([`TlogTrust::counting`]).
    pub fn tlog_trust(&self) -> Option<TlogTrust> {
        if self.logs.is_empty() {
            return None;
        }
        TlogTrust::counting(
            self.logs.values().cloned().collect(),
            self.witnesses.values().cloned().collect(),
        )
        .ok()
    }

    /// The trust root in force, if one is installed.
    pub fn root(&self) -> Option<&RootInForce> {
        self.root.as_ref()
    }

    /// The revocation list in force, if one is installed.
    pub fn revocation(&self) -> Option<&RevocationList> {
        self.revocation.as_ref()
    }

    /// Puts `list` in force (it was verified under the root in force by
    /// [`root::verify_revocation`]).
    pub fn set_revocation(&mut self, list: RevocationList) {
        self.revocation = Some(list);
    }

    /// Decides which of `signers` (fingerprints of signatures that were
    /// already cryptographically verified, or that could not be verified
    /// because the key is unknown) count: known, not revoked locally,
    /// not before `valid_from` at the time of the decision, not past
    /// `valid_until` and not revoked by the revocation list in force at
    /// the time the release is known to have existed (see [`TallyTime`]),
    /// at least `min_level`, accepted by `filter` (which returns the name
    /// of the rule that excludes a key), and each distinct key once.
    pub fn tally(
        &self,
        signers: &[Fingerprint],
        at: TallyTime,
        min_level: TrustLevel,
        filter: &dyn Fn(&KeyEntry) -> Option<String>,
    ) -> Tally {
        let now = at.now;
        let then = at.signed_by();
        let mut seen = BTreeSet::new();
        let mut verdicts = Vec::with_capacity(signers.len());
        for fp in signers {
            let entry = self.by_fingerprint(fp);
            // What trusted time changed for this key, if it counts.
            let mut time = None;
            let listed = self.revocation.as_ref().and_then(|r| r.revoked_from(fp));
            let status = match entry {
                None => SignerStatus::Unknown,
                Some(k) if k.revoked_at.is_some() => SignerStatus::Revoked,
                Some(_) if listed.is_some_and(|after| after.is_none_or(|t| then >= t)) => SignerStatus::Revoked,
                Some(k) if k.valid_from.is_some_and(|t| now < t) => SignerStatus::NotYetValid,
                Some(k) if !at.expiry_deferred && k.valid_until.is_some_and(|t| then > t) => SignerStatus::Expired,
                Some(k) if k.level < min_level => SignerStatus::BelowTrust(k.level),
                Some(k) => match filter(k) {
                    Some(rule) => SignerStatus::Excluded(rule),
                    None if !seen.insert(*fp) => SignerStatus::Duplicate,
                    None => {
                        time = match (
                            k.valid_until.filter(|t| now > *t),
                            listed.flatten().filter(|t| now >= *t),
                        ) {
                            (Some(valid_until), _) if at.expiry_deferred => {
                                Some(TimeNote::ExpiryDeferred { valid_until })
                            }
                            (Some(valid_until), _) => Some(TimeNote::ExpiredAfterWitnessed {
                                valid_until,
                                witnessed: then,
                            }),
                            (None, Some(after)) => Some(TimeNote::RevokedAfterWitnessed { after, witnessed: then }),
                            (None, None) => None,
                        };
                        SignerStatus::Counted
                    }
                },
            };
            verdicts.push(SignerVerdict {
                fingerprint: fp.to_hex(),
                key_id: entry.map(|k| k.id.clone()),
                algorithm: entry.map(|k| k.public.algorithm().as_str()),
                level: entry.map(|k| k.level),
                status,
                time,
            });
        }
        Tally {
            counted: seen.len(),
            verdicts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn entry(id: &str, seed: u8, level: TrustLevel) -> KeyEntry {
        KeyEntry::new(id, SigningKey::from_bytes(&[seed; 32]).verifying_key(), level)
    }

    #[test]
    fn tally_counts_each_trusted_key_once() {
        let mut store = TrustStore::new();
        let a = entry("a", 1, TrustLevel::Full);
        let b = entry("b", 2, TrustLevel::Ultimate);
        let mut c = entry("c", 3, TrustLevel::Full);
        c.revoked_at = Some(10);
        let d = entry("d", 4, TrustLevel::Marginal);
        let mut e = entry("e", 5, TrustLevel::Full);
        e.valid_until = Some(50);
        let unknown = Fingerprint::of(&SigningKey::from_bytes(&[9; 32]).verifying_key());
        let fps = [
            a.fingerprint,
            a.fingerprint,
            b.fingerprint,
            c.fingerprint,
            d.fingerprint,
            e.fingerprint,
            unknown,
        ];
        for k in [a, b, c, d, e] {
            store.insert(k).unwrap();
        }
        let t = store.tally(&fps, TallyTime::now(100), TrustLevel::Full, &|_| None);
        assert_eq!(t.counted, 2);
        let statuses: Vec<_> = t.verdicts.iter().map(|v| v.status.clone()).collect();
        assert_eq!(
            statuses,
            vec![
                SignerStatus::Counted,
                SignerStatus::Duplicate,
                SignerStatus::Counted,
                SignerStatus::Revoked,
                SignerStatus::BelowTrust(TrustLevel::Marginal),
                SignerStatus::Expired,
                SignerStatus::Unknown,
            ]
        );
        let t = store.tally(&fps, TallyTime::now(100), TrustLevel::Marginal, &|k| {
            (k.id == "b").then(|| "rule".into())
        });
        assert_eq!(t.counted, 2, "a and d count; b excluded");
    }

    /// Trusted time moves only `valid_until` (and dated list entries):
    /// a key that expired after the witnesses saw the release counts, with
    /// a note; one that expired before does not; `valid_from` and a local
    /// revocation are judged at now whatever the witnesses saw.
    #[test]
    fn tally_judges_expiry_at_trusted_time() {
        let mut store = TrustStore::new();
        let mut old = entry("old", 1, TrustLevel::Full);
        old.valid_until = Some(50);
        let mut soon = entry("soon", 2, TrustLevel::Full);
        soon.valid_from = Some(150);
        let mut gone = entry("gone", 3, TrustLevel::Full);
        gone.revoked_at = Some(60);
        let fps = [old.fingerprint, soon.fingerprint, gone.fingerprint];
        for k in [old, soon, gone] {
            store.insert(k).unwrap();
        }
        let statuses = |at| {
            let t = store.tally(&fps, at, TrustLevel::Full, &|_| None);
            (
                t.verdicts.iter().map(|v| v.status.clone()).collect::<Vec<_>>(),
                t.verdicts[0].time,
            )
        };
        let (s, note) = statuses(TallyTime::witnessed(100, Some(40)));
        assert_eq!(
            s,
            [SignerStatus::Counted, SignerStatus::NotYetValid, SignerStatus::Revoked]
        );
        assert_eq!(
            note,
            Some(TimeNote::ExpiredAfterWitnessed {
                valid_until: 50,
                witnessed: 40
            })
        );
        assert!(note
            .unwrap()
            .to_string()
            .contains("after the release was witnessed at 1970-01-01T00:00:40Z"));
        // Witnessed at the bound (inclusive), after it, without trusted time.
        assert_eq!(
            statuses(TallyTime::witnessed(100, Some(50))).0[0],
            SignerStatus::Counted
        );
        assert_eq!(
            statuses(TallyTime::witnessed(100, Some(51))).0[0],
            SignerStatus::Expired
        );
        assert_eq!(statuses(TallyTime::witnessed(100, None)).0[0], SignerStatus::Expired);
        assert_eq!(statuses(TallyTime::now(100)).0[0], SignerStatus::Expired);
        // A trusted time later than now changes nothing (min(now, t)).
        assert_eq!(
            statuses(TallyTime::witnessed(40, Some(100))),
            (statuses(TallyTime::now(40)).0, None)
        );
        // Before the proofs, expiry is deferred and said so; nothing else.
        let (s, note) = statuses(TallyTime::before_proofs(100));
        assert_eq!(
            s,
            [SignerStatus::Counted, SignerStatus::NotYetValid, SignerStatus::Revoked]
        );
        assert_eq!(note, Some(TimeNote::ExpiryDeferred { valid_until: 50 }));
    }

    #[test]
    fn groups_are_validated() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut store = TrustStore::new();
        for (i, id) in ["k1", "k2", "k3"].iter().enumerate() {
            store.insert(entry(id, i as u8 + 1, TrustLevel::Full)).unwrap();
        }
        let g = ThresholdGroup::new("release", ids(&["k1", "k2", "k3"]), 2).unwrap();
        assert!(g.contains(store.get("k2").unwrap()));
        assert_eq!(store.set_group(g.clone()).unwrap(), None);
        assert_eq!(store.group("release").unwrap().threshold(), 2);
        assert_eq!(store.set_group(g.clone()).unwrap(), Some(g));
        for (keys, k) in [
            (&["k1", "k2"][..], 0),
            (&["k1", "k2"][..], 3),
            (&[][..], 1),
            (&["k1", "k1"][..], 1),
        ] {
            assert!(ThresholdGroup::new("g", ids(keys), k).is_err(), "{keys:?} {k}");
        }
        assert!(ThresholdGroup::new("../g", ids(&["k1"]), 1).is_err());
        let unknown = ThresholdGroup::new("g", ids(&["k1", "nobody"]), 1).unwrap();
        assert!(store.set_group(unknown).is_err());
        assert!(store.remove_group("release").is_some());
        assert!(store.group("release").is_none());
    }

    #[test]
    fn logs_are_distinct_by_origin_and_key() {
        use crate::tlog::note::ALG_ED25519;
        let vkey = |name: &str, seed: u8| {
            VerifierKey::new(name, ALG_ED25519, SigningKey::from_bytes(&[seed; 32]).verifying_key()).unwrap()
        };
        let mut store = TrustStore::new();
        assert!(store.tlog_trust().is_none());
        assert!(store
            .set_log("a.example/log", vec![vkey("a.example/log", 1)])
            .unwrap()
            .is_none());
        // Replacing a log's key is allowed; a key of another log is not.
        assert!(store
            .set_log("a.example/log", vec![vkey("a.example/log", 2)])
            .unwrap()
            .is_some());
        let e = store
            .set_log("b.example/log", vec![vkey("b.example/log", 2)])
            .unwrap_err();
        assert!(e.to_string().contains("one key, one log"), "{e}");
        assert_eq!(e.exit_code(), crate::ExitCode::Config);
        store.set_log("b.example/log", vec![vkey("b.example/log", 3)]).unwrap();
        assert!(store.set_log("c", vec![]).is_err());
        assert!(store.set_log("c", vec![vkey("c", 4), vkey("c", 4)]).is_err());
        let trust = store.tlog_trust().unwrap();
        assert!(trust.has_log("a.example/log") && trust.has_log("b.example/log"));
        assert!(store.remove_log("a.example/log").is_some());
        assert_eq!(store.logs().count(), 1);
    }

    #[test]
    fn key_ids_are_file_safe() {
        for ok in ["alice", "release-2026", "a.b_c@d"] {
            validate_key_id(ok).unwrap();
        }
        for bad in ["", "../x", "a/b", ".hidden", "a b", &"a".repeat(65)] {
            assert!(validate_key_id(bad).is_err(), "{bad:?}");
        }
    }
}
