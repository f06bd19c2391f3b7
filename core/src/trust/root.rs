//! The signed trust root and the signed revocation list
//! (spec/trust-store.md §9 and §10).
//!
//! Both are DSSE envelopes whose payload is a canonical (RFC 8785) JSON
//! document, signed k of n. The rules are TUF's for `root.json`
//! (theupdateframework.io/specification, §5.3 "Update the root role"):
//!
//! - a root is counted by its own root keys (k of its n), and an update
//!   also by the root keys of the root it replaces (§5.3.4: "signed by a
//!   threshold of keys specified in the trusted root metadata file" and by
//!   "a threshold of keys specified in the new root metadata file");
//! - a version lower than the trusted one, or the same version with other
//!   bytes, is refused (§5.3.5: rollback);
//! - an expired root is refused at every use (§5.3.10: freeze), but an
//!   expired root may still sign its successor (the chain does not depend
//!   on the clock, only the root in force does).
//!
//! A revocation list is counted by the revocation keys of the root in
//! force (k of n), and a lower version than the highest seen is refused.
//!
//! Every signature is counted by [`TrustStore::tally`], the one counting
//! routine, over a store of just the keys of that role: a signature whose
//! key id names a role key but that does not verify is left out before the
//! tally (as `verify` does), a key counts once however many signatures it
//! made, and keys outside the role never count.
//!
//! Nothing here reads a file or a clock: [`super::home::Home`] keeps the
//! installed documents and the highest versions seen, and callers pass the
//! time.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{validate_key_id, Fingerprint, KeyEntry, TrustLevel, TrustStore};
use crate::digest::Digest;
use crate::dsse::Envelope;
use crate::error::{Error, Result};
use crate::jcs;
use crate::key::{KeySigner, PublicKey};
use crate::timestamp::{format_rfc3339, parse_rfc3339};
use crate::tlog::note::{ALG_COSIGNATURE_V1, ALG_ED25519};
use crate::tlog::{TrustedLog, VerifierKey};

/// The DSSE payload type of a trust root.
pub const ROOT_PAYLOAD_TYPE: &str = "application/vnd.cerro-torre.trust-root.v1+json";
/// The DSSE payload type of a revocation list.
pub const REVOCATION_PAYLOAD_TYPE: &str = "application/vnd.cerro-torre.revocation.v1+json";
/// Largest trust root envelope read, in bytes.
pub const MAX_ROOT_SIZE: u64 = 1 << 20;
/// Largest revocation list envelope read, in bytes.
pub const MAX_REVOCATION_SIZE: u64 = 8 << 20;
/// Most keys a role (root, revocation) may list, and most signatures an
/// envelope may carry: each may cost one signature check before the
/// threshold is known to be met.
pub const MAX_ROLE_KEYS: usize = 64;

/// A role's keys and how many of them must sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<(String, PublicKey)>,
    threshold: usize,
}

impl KeySet {
    /// `threshold` of `keys` (local names and public keys). Refused: no
    /// key, more than [`MAX_ROLE_KEYS`], a name twice or not a key id,
    /// one key under two names, a threshold of 0 or above the number of
    /// keys (a role that can never, or always, be satisfied).
    pub fn new(role: &str, keys: Vec<(String, PublicKey)>, threshold: usize) -> Result<Self> {
        let invalid = |reason: String| Error::invalid_config(format!("{role} keys"), reason);
        if keys.is_empty() || keys.len() > MAX_ROLE_KEYS {
            return Err(invalid(format!("{} keys: 1 to {MAX_ROLE_KEYS} are needed", keys.len())));
        }
        let mut names = BTreeSet::new();
        let mut fps = BTreeSet::new();
        for (name, key) in &keys {
            validate_key_id(name)?;
            if !names.insert(name.as_str()) {
                return Err(invalid(format!("key {name:?} is listed twice")));
            }
            if !fps.insert(Fingerprint::of(key)) {
                return Err(invalid(format!(
                    "key {name:?} is another name's key: a key counts once"
                )));
            }
        }
        if threshold == 0 || threshold > keys.len() {
            return Err(invalid(format!(
                "threshold {threshold} is not between 1 and its {} key(s)",
                keys.len()
            )));
        }
        Ok(KeySet { keys, threshold })
    }

    /// The keys, with their names.
    pub fn keys(&self) -> &[(String, PublicKey)] {
        &self.keys
    }

    /// k.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The role's keys as a trust store of their own, each trusted `full`:
    /// what [`TrustStore::tally`] counts them in.
    fn store(&self) -> Result<TrustStore> {
        let mut s = TrustStore::new();
        for (name, key) in &self.keys {
            s.insert(KeyEntry::new(name, key.clone(), TrustLevel::Full))?;
        }
        Ok(s)
    }

    /// Checks that at least k distinct keys of the role signed `env`
    /// validly: [`Error::SignerNotTrusted`] (exit 3) naming `what` if not.
    /// Returns the names of the keys that counted.
    pub fn check(&self, env: &Envelope, what: &str, now: u64) -> Result<Vec<String>> {
        if env.signatures.len() > MAX_ROLE_KEYS {
            return Err(Error::malformed(
                what,
                format!("{} signatures, more than {MAX_ROLE_KEYS}", env.signatures.len()),
            ));
        }
        let store = self.store()?;
        let pae = env.pae();
        let mut fps = Vec::with_capacity(env.signatures.len());
        let mut invalid = Vec::new();
        for sig in &env.signatures {
            let fp = Fingerprint::from_hex(&sig.keyid)
                .ok_or_else(|| Error::malformed(what, format!("keyid {:?} is not a fingerprint", sig.keyid)))?;
            match store.by_fingerprint(&fp) {
                // A role key's signature that does not verify is left out
                // (it may be junk anyone appended); it is named if the
                // threshold is not met.
                Some(k) if k.public.verify(&pae, &sig.sig).is_err() => invalid.push(k.id.clone()),
                _ => fps.push(fp),
            }
        }
        let tally = store.tally(&fps, super::TallyTime::now(now), TrustLevel::Full, &|_| None);
        if tally.counted < self.threshold {
            let mut details = tally.explain_uncounted();
            if !invalid.is_empty() {
                details = format!("{details} (invalid signature by {})", invalid.join(", "));
            }
            return Err(Error::SignerNotTrusted {
                envelope: what.to_owned(),
                counted: tally.counted,
                required: self.threshold,
                details,
            });
        }
        Ok(tally
            .verdicts
            .iter()
            .filter(|v| v.counted())
            .filter_map(|v| v.key_id.clone())
            .collect())
    }

    fn to_doc(&self) -> KeySetDoc {
        KeySetDoc {
            keys: self
                .keys
                .iter()
                .map(|(id, k)| KeyDoc {
                    id: id.clone(),
                    key: k.to_pem(),
                })
                .collect(),
            threshold: self.threshold,
        }
    }

    fn from_doc(role: &str, doc: KeySetDoc) -> Result<Self> {
        let mut keys = Vec::with_capacity(doc.keys.len());
        for k in doc.keys {
            let public = PublicKey::from_pem(&k.key, &format!("{role} key {:?}", k.id))?;
            // One spelling per key: the PEM ct writes.
            if public.to_pem() != k.key {
                return Err(Error::invalid_config(
                    format!("{role} key {:?}", k.id),
                    "not in canonical PEM form (SubjectPublicKeyInfo, 64-column base64, LF line ends)",
                ));
            }
            keys.push((k.id, public));
        }
        KeySet::new(role, keys, doc.threshold)
    }
}

/// How many distinct trusted logs must prove a release, and how many
/// distinct trusted witnesses must have cosigned a log's checkpoint for it
/// to count. Logs 0: the root requires no proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quorum {
    /// Distinct logs.
    pub logs: usize,
    /// Distinct witnesses per log's checkpoint.
    pub witnesses: usize,
}

/// A trust root's content (spec/trust-store.md §9.1). Only
/// [`TrustRoot::from_payload`] (through [`open_root`]) and
/// [`TrustRoot::new`] build one, each checking every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRoot {
    version: u64,
    expires: u64,
    root: KeySet,
    logs: Vec<TrustedLog>,
    witnesses: Vec<VerifierKey>,
    quorum: Quorum,
    revocation: KeySet,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootDoc {
    version: u64,
    expires: String,
    root: KeySetDoc,
    logs: Vec<LogDoc>,
    witnesses: Vec<String>,
    quorum: Quorum,
    revocation: KeySetDoc,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySetDoc {
    keys: Vec<KeyDoc>,
    threshold: usize,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDoc {
    id: String,
    key: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogDoc {
    origin: String,
    keys: Vec<String>,
}

impl TrustRoot {
    /// A root. Refused (exit 78): version 0; a log or witness set the trust
    /// store would refuse ([`TrustStore::set_log`], [`TrustStore::set_witness`]:
    /// one key per log, one key per witness, no witness with a log's key);
    /// a quorum above the logs or witnesses listed, or witnesses required
    /// with no log required.
    pub fn new(
        version: u64,
        expires: u64,
        root: KeySet,
        logs: Vec<TrustedLog>,
        witnesses: Vec<VerifierKey>,
        quorum: Quorum,
        revocation: KeySet,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::invalid_config("trust root", reason);
        if version == 0 {
            return Err(invalid("version 0: versions start at 1".into()));
        }
        if quorum.logs > logs.len() {
            return Err(invalid(format!(
                "quorum.logs {} is more than the {} log(s) listed",
                quorum.logs,
                logs.len()
            )));
        }
        if quorum.witnesses > witnesses.len() {
            return Err(invalid(format!(
                "quorum.witnesses {} is more than the {} witness(es) listed",
                quorum.witnesses,
                witnesses.len()
            )));
        }
        if quorum.witnesses > 0 && quorum.logs == 0 {
            return Err(invalid("quorum.witnesses without quorum.logs: no log to cosign".into()));
        }
        let root = TrustRoot {
            version,
            expires,
            root,
            logs,
            witnesses,
            quorum,
            revocation,
        };
        // The trust store's own rules on logs and witnesses, once.
        root.apply_to(&mut TrustStore::new())?;
        Ok(root)
    }

    /// The version (≥ 1; each update must be higher).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Unix time after which it must not be used.
    pub fn expires(&self) -> u64 {
        self.expires
    }

    /// The root keys (k of n sign this root and its successor).
    pub fn root_keys(&self) -> &KeySet {
        &self.root
    }

    /// The transparency logs.
    pub fn logs(&self) -> &[TrustedLog] {
        &self.logs
    }

    /// The witnesses.
    pub fn witnesses(&self) -> &[VerifierKey] {
        &self.witnesses
    }

    /// The quorum every verification must meet.
    pub fn quorum(&self) -> Quorum {
        self.quorum
    }

    /// The keys that sign revocation lists (k of n).
    pub fn revocation_keys(&self) -> &KeySet {
        &self.revocation
    }

    /// Refuses a root that has expired at `now` (exit 78): TUF §5.3.10.
    pub fn check_expiry(&self, now: u64) -> Result<()> {
        if now >= self.expires {
            return Err(Error::TrustRootExpired {
                version: self.version,
                expires: format_rfc3339(self.expires),
                now: format_rfc3339(now),
            });
        }
        Ok(())
    }

    /// Makes this root the authority for `store`'s transparency: its logs,
    /// witnesses and quorum replace whatever `trust.toml` listed
    /// (spec/trust-store.md §9.3).
    pub fn apply_to(&self, store: &mut TrustStore) -> Result<()> {
        store.logs.clear();
        store.witnesses.clear();
        for l in &self.logs {
            store.set_log(l.origin(), l.keys().to_vec())?;
        }
        for w in &self.witnesses {
            store.set_witness(w.clone())?;
        }
        store.root = Some(RootInForce {
            version: self.version,
            expires: self.expires,
            quorum: self.quorum,
        });
        Ok(())
    }

    /// The canonical payload (RFC 8785).
    pub fn to_payload(&self) -> Result<Vec<u8>> {
        let doc = RootDoc {
            version: self.version,
            expires: format_rfc3339(self.expires),
            root: self.root.to_doc(),
            logs: self
                .logs
                .iter()
                .map(|l| LogDoc {
                    origin: l.origin().to_owned(),
                    keys: l.keys().iter().map(VerifierKey::to_vkey).collect(),
                })
                .collect(),
            witnesses: self.witnesses.iter().map(VerifierKey::to_vkey).collect(),
            quorum: self.quorum,
            revocation: self.revocation.to_doc(),
        };
        jcs::to_canonical(&doc)
    }

    /// An unsigned envelope of this root, to be signed by k root keys
    /// (and, for an update, k keys of the root it replaces).
    pub fn to_envelope(&self) -> Result<Envelope> {
        Ok(Envelope::new(ROOT_PAYLOAD_TYPE, self.to_payload()?))
    }

    fn from_payload(what: &str, payload: &[u8]) -> Result<Self> {
        let doc: RootDoc = read_canonical(what, payload)?;
        let expires = read_time(what, "expires", &doc.expires)?;
        let mut logs = Vec::with_capacity(doc.logs.len());
        for l in doc.logs {
            let keys = l
                .keys
                .iter()
                .map(|k| VerifierKey::parse(k))
                .collect::<Result<Vec<_>>>()?;
            if keys.iter().any(|k| k.alg() != ALG_ED25519) {
                return Err(Error::invalid_config(
                    "trust root",
                    format!("log {}: a key is not a log's (type 0x01)", l.origin),
                ));
            }
            logs.push(TrustedLog::new(&l.origin, keys)?);
        }
        let witnesses = doc
            .witnesses
            .iter()
            .map(|k| VerifierKey::parse(k))
            .collect::<Result<Vec<_>>>()?;
        if let Some(w) = witnesses.iter().find(|w| w.alg() != ALG_COSIGNATURE_V1) {
            return Err(Error::invalid_config(
                "trust root",
                format!("witness {} is not a cosignature/v1 key (type 0x04)", w.name()),
            ));
        }
        TrustRoot::new(
            doc.version,
            expires,
            KeySet::from_doc("root", doc.root)?,
            logs,
            witnesses,
            doc.quorum,
            KeySet::from_doc("revocation", doc.revocation)?,
        )
    }
}

/// What the trust store keeps of the root in force: enough to report it
/// and to enforce its quorum in `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootInForce {
    /// Its version.
    pub version: u64,
    /// When it expires (unix seconds).
    pub expires: u64,
    /// The quorum every verification must meet.
    pub quorum: Quorum,
}

/// A trust root read from its envelope bytes: the envelope (signatures as
/// they are) and the root it carries, its signatures not yet counted.
#[derive(Debug, Clone)]
pub struct SignedRoot {
    /// The envelope.
    pub envelope: Envelope,
    /// The root.
    pub root: TrustRoot,
}

impl SignedRoot {
    /// The canonical bytes of the envelope (what is installed).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.envelope.to_bytes()
    }

    /// Adds `key`'s signature (root keys of this root or of the one it
    /// replaces).
    pub fn sign(&mut self, key: &impl KeySigner) -> Result<()> {
        self.envelope.sign(key)
    }
}

/// Reads a trust root envelope: size bound, canonical envelope, payload
/// type, canonical payload with every field known and none twice, every
/// rule of [`TrustRoot::new`]. Signatures are not counted here.
pub fn open_root(bytes: &[u8]) -> Result<SignedRoot> {
    let what = "trust root";
    let envelope = open_envelope(what, bytes, MAX_ROOT_SIZE, ROOT_PAYLOAD_TYPE)?;
    let root = TrustRoot::from_payload(what, &envelope.payload)?;
    Ok(SignedRoot { envelope, root })
}

/// The one decision on a trust root (spec/trust-store.md §9.2): `bytes`
/// must be a root signed by k of its own root keys and, when `trusted` is
/// the root in force (with its envelope's bytes), by k of that root's keys
/// too, with a higher version (the same version only with the same bytes:
/// a reinstall); then it must not have expired at `now`. The first root
/// (`trusted` is `None`) is taken as given: the operator chose the file,
/// as when a key is imported.
pub fn verify_root(bytes: &[u8], trusted: Option<(&TrustRoot, &[u8])>, now: u64) -> Result<TrustRoot> {
    let signed = open_root(bytes)?;
    let new = signed.root;
    let what = format!("trust root version {}", new.version);
    if let Some((old, old_bytes)) = trusted {
        if new.version < old.version || (new.version == old.version && bytes != old_bytes) {
            return Err(Error::Rollback {
                what: "trust root",
                offered: new.version,
                installed: old.version,
            });
        }
        old.root.check(
            &signed.envelope,
            &format!("{what} (by the keys of root version {})", old.version),
            now,
        )?;
    }
    new.root.check(&signed.envelope, &what, now)?;
    new.check_expiry(now)?;
    Ok(new)
}

/// A key revoked by a revocation list, from `after` on if it says when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokedKey {
    /// The key's fingerprint.
    pub fingerprint: Fingerprint,
    /// Unix time from which its signatures stop counting (the time of
    /// verification, as validity windows); `None`: at once, for every
    /// bundle.
    pub after: Option<u64>,
}

/// A revocation list's content (spec/trust-store.md §10.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationList {
    version: u64,
    issued: u64,
    next_update: u64,
    keys: BTreeMap<Fingerprint, Option<u64>>,
    releases: BTreeSet<Digest>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationDoc {
    version: u64,
    issued: String,
    next_update: String,
    keys: Vec<RevokedKeyDoc>,
    releases: Vec<Digest>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokedKeyDoc {
    fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

impl RevocationList {
    /// A list. Refused (exit 78): version 0, `next_update` not after
    /// `issued`, a key or digest listed twice.
    pub fn new(
        version: u64,
        issued: u64,
        next_update: u64,
        keys: Vec<RevokedKey>,
        releases: Vec<Digest>,
    ) -> Result<Self> {
        let invalid = |reason: String| Error::invalid_config("revocation list", reason);
        if version == 0 {
            return Err(invalid("version 0: versions start at 1".into()));
        }
        if next_update <= issued {
            return Err(invalid("next_update is not after issued".into()));
        }
        let mut map = BTreeMap::new();
        for k in keys {
            if map.insert(k.fingerprint, k.after).is_some() {
                return Err(invalid(format!("key {} is listed twice", k.fingerprint)));
            }
        }
        let mut set = BTreeSet::new();
        for d in releases {
            if !set.insert(d) {
                return Err(invalid(format!("release {d} is listed twice")));
            }
        }
        Ok(RevocationList {
            version,
            issued,
            next_update,
            keys: map,
            releases: set,
        })
    }

    /// The version (each new list must be higher).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When it was issued (unix seconds).
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// When the next list is due (unix seconds): past it, the list is stale.
    pub fn next_update(&self) -> u64 {
        self.next_update
    }

    /// The revoked keys.
    pub fn keys(&self) -> impl Iterator<Item = RevokedKey> + '_ {
        self.keys.iter().map(|(f, a)| RevokedKey {
            fingerprint: *f,
            after: *a,
        })
    }

    /// The revoked releases (release envelope or image manifest digests).
    pub fn releases(&self) -> impl Iterator<Item = &Digest> {
        self.releases.iter()
    }

    /// Whether `fp`'s signatures no longer count at `now`.
    pub fn revokes_key(&self, fp: &Fingerprint, now: u64) -> bool {
        self.revoked_from(fp)
            .is_some_and(|after| after.is_none_or(|t| now >= t))
    }

    /// Whether the list names `fp`, and from when: `Some(None)` at once,
    /// for every bundle; `Some(Some(T))` from `T` on (judged by the tally
    /// at the time the release is known to have existed,
    /// [`super::TallyTime`]: a release the witnesses saw before `T` was
    /// signed before the compromise the entry records).
    pub fn revoked_from(&self, fp: &Fingerprint) -> Option<Option<u64>> {
        self.keys.get(fp).copied()
    }

    /// Whether `digest` (a release envelope's or an image manifest's) is revoked.
    pub fn revokes_release(&self, digest: &Digest) -> bool {
        self.releases.contains(digest)
    }

    /// The canonical payload (RFC 8785).
    pub fn to_payload(&self) -> Result<Vec<u8>> {
        let doc = RevocationDoc {
            version: self.version,
            issued: format_rfc3339(self.issued),
            next_update: format_rfc3339(self.next_update),
            keys: self
                .keys
                .iter()
                .map(|(f, a)| RevokedKeyDoc {
                    fingerprint: f.to_hex(),
                    after: a.map(format_rfc3339),
                })
                .collect(),
            releases: self.releases.iter().copied().collect(),
        };
        jcs::to_canonical(&doc)
    }

    /// An unsigned envelope of this list, to be signed by k revocation keys.
    pub fn to_envelope(&self) -> Result<Envelope> {
        Ok(Envelope::new(REVOCATION_PAYLOAD_TYPE, self.to_payload()?))
    }

    fn from_payload(what: &str, payload: &[u8]) -> Result<Self> {
        let doc: RevocationDoc = read_canonical(what, payload)?;
        let mut keys = Vec::with_capacity(doc.keys.len());
        for k in doc.keys {
            let fingerprint = Fingerprint::from_hex(&k.fingerprint).ok_or_else(|| {
                Error::malformed(what, format!("{:?} is not a 64-hex key fingerprint", k.fingerprint))
            })?;
            let after = k.after.map(|a| read_time(what, "after", &a)).transpose()?;
            keys.push(RevokedKey { fingerprint, after });
        }
        // Sorted and distinct, as written: one spelling per list.
        let sorted = |v: &[String]| v.windows(2).all(|w| w[0] < w[1]);
        let fps: Vec<String> = keys.iter().map(|k| k.fingerprint.to_hex()).collect();
        let digests: Vec<String> = doc.releases.iter().map(Digest::to_string).collect();
        if !sorted(&fps) || !sorted(&digests) {
            return Err(Error::malformed(what, "keys and releases must be sorted, each once"));
        }
        RevocationList::new(
            doc.version,
            read_time(what, "issued", &doc.issued)?,
            read_time(what, "next_update", &doc.next_update)?,
            keys,
            doc.releases,
        )
        .map_err(|e| Error::malformed(what, e.to_string()))
    }
}

/// A revocation list read from its envelope bytes, signatures not yet counted.
#[derive(Debug, Clone)]
pub struct SignedRevocation {
    /// The envelope.
    pub envelope: Envelope,
    /// The list.
    pub list: RevocationList,
}

/// Reads a revocation list envelope (as [`open_root`] reads a root).
pub fn open_revocation(bytes: &[u8]) -> Result<SignedRevocation> {
    let what = "revocation list";
    let envelope = open_envelope(what, bytes, MAX_REVOCATION_SIZE, REVOCATION_PAYLOAD_TYPE)?;
    let list = RevocationList::from_payload(what, &envelope.payload)?;
    Ok(SignedRevocation { envelope, list })
}

/// The one decision on a revocation list (spec/trust-store.md §10.2):
/// signed by k of the revocation keys of `root` (the root in force), and
/// not older than `highest`, the highest version this host has seen (the
/// same version only with the same bytes, `installed`). Staleness is not
/// decided here but at each verification, against the policy's bound.
pub fn verify_revocation(
    bytes: &[u8],
    root: &TrustRoot,
    highest: Option<(u64, &[u8])>,
    now: u64,
) -> Result<RevocationList> {
    let signed = open_revocation(bytes)?;
    let list = signed.list;
    if let Some((version, installed)) = highest {
        if list.version < version || (list.version == version && bytes != installed) {
            return Err(Error::Rollback {
                what: "revocation list",
                offered: list.version,
                installed: version,
            });
        }
    }
    root.revocation.check(
        &signed.envelope,
        &format!("revocation list version {}", list.version),
        now,
    )?;
    Ok(list)
}

/// Opens a signed document's envelope: bounded, canonical, of `payload_type`.
fn open_envelope(what: &str, bytes: &[u8], max: u64, payload_type: &str) -> Result<Envelope> {
    if bytes.len() as u64 > max {
        return Err(Error::malformed(
            what,
            format!("{} bytes, more than {max}", bytes.len()),
        ));
    }
    let envelope = Envelope::parse(what, bytes)?;
    if envelope.payload_type != payload_type {
        return Err(Error::malformed(
            what,
            format!("payloadType {:?} is not {payload_type}", envelope.payload_type),
        ));
    }
    Ok(envelope)
}

/// Reads a canonical JSON payload into `T`: the bytes must be the RFC 8785
/// form of themselves (so no key twice, no other spelling: a second
/// reading of the same bytes cannot differ), and every field known.
fn read_canonical<T: for<'de> Deserialize<'de>>(what: &str, payload: &[u8]) -> Result<T> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| Error::malformed(what, format!("payload is not JSON: {e}")))?;
    if jcs::to_vec(&value)? != payload {
        return Err(Error::malformed(what, "payload is not canonical JSON (RFC 8785)"));
    }
    serde_json::from_value(value).map_err(|e| Error::malformed(what, e.to_string()))
}

/// An RFC 3339 time in its one spelling (UTC, `Z`, whole seconds).
fn read_time(what: &str, field: &str, s: &str) -> Result<u64> {
    match parse_rfc3339(s) {
        Some(t) if format_rfc3339(t) == s => Ok(t),
        _ => Err(Error::malformed(
            what,
            format!("{field} {s:?} is not an RFC 3339 UTC time such as 2027-01-01T00:00:00Z"),
        )),
    }
}

#[cfg(test)]
mod tests;
