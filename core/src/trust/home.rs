//! The on-disk state under `$CERRO_HOME`:
//!
//! ```text
//! trust.toml            key ids → fingerprint, trust level, revocation, validity;
//!                       threshold groups (k of n key ids)
//! keys/<id>.pub.pem     public keys (PEM SubjectPublicKeyInfo, Ed25519 or
//!                       ECDSA P-256)
//! root.json             the signed trust root in force, if one is installed
//! revocation.json       the signed revocation list in force, if any
//! trust-state.json      the highest root and revocation list versions seen
//! private/<id>.key      private keys, mode 0600 (PEM PKCS#8, or encrypted
//!                       PKCS#8: scrypt + AES-256-CBC, which openssl reads)
//! private/<id>.pkcs11   or, for a key whose private half never leaves a
//!                       PKCS#11 token, its RFC 7512 URI (one line, no PIN)
//! ```
//!
//! Every write is atomic. A public key file that does not match the
//! fingerprint recorded in `trust.toml` is refused: the trust decision is
//! about a fingerprint, and a swapped key file must not inherit it.
//!
//! Every read-modify-write of `trust.toml` (key generation, import,
//! [`Home::update_trust`], [`Home::update_key`], [`Home::save_trust`])
//! holds an exclusive `flock` on `trust.lock` in the directory, so two
//! edits at once (a `ct key revoke` racing a `ct key trust`, or a
//! configuration-management run) are applied one after the other and
//! neither is lost. Readers take no lock: they see the old file or the new
//! one (atomic rename).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::root::{open_revocation, open_root, verify_revocation, verify_root, RevocationList, TrustRoot};
use super::{validate_key_id, Fingerprint, KeyEntry, ThresholdGroup, TrustLevel, TrustStore};
use crate::error::{Error, IoContext, Result};
use crate::file::{create_dir, write_atomic};
use crate::key::{Algorithm, AsPublicKey, KeyFileError, PublicKey, SecretKey};
use crate::tlog::VerifierKey;

const TRUST_FILE: &str = "trust.toml";
/// The installed trust root (a DSSE envelope, spec/trust-store.md §9).
pub const ROOT_FILE: &str = "root.json";
/// The installed revocation list (a DSSE envelope, spec/trust-store.md §10).
pub const REVOCATION_FILE: &str = "revocation.json";
/// The highest versions seen (spec/trust-store.md §9.2).
pub const STATE_FILE: &str = "trust-state.json";
/// The lock file every edit of `trust.toml` holds an exclusive `flock` on.
const LOCK_FILE: &str = "trust.lock";
/// The largest PKCS#11 key reference read (a URI of one line).
const MAX_REFERENCE: u64 = 4096;

/// The exclusive lock on a trust store's edits; released when dropped
/// (closing the file releases the `flock`).
#[derive(Debug)]
struct EditLock {
    _file: File,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default)]
    keys: BTreeMap<String, TrustRecord>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    groups: BTreeMap<String, GroupRecord>,
    /// Transparency logs by origin (spec/trust-store.md §5.1).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    logs: BTreeMap<String, LogRecord>,
    /// Transparency-log witnesses by name (spec/trust-store.md §5.2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    witnesses: BTreeMap<String, WitnessRecord>,
}

/// A `[witnesses."<name>"]` table: the witness's cosignature/v1 verifier
/// key, whose name is the table's.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessRecord {
    key: String,
}

/// A `[logs."<origin>"]` table: the log's C2SP verifier keys. Witnesses
/// (keys and a per-log k-of-n) are to go beside `keys` in the same table.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogRecord {
    keys: Vec<String>,
    /// Where the log's read side is (`ct log monitor`, `ct verify
    /// --online`); absent in stores written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupRecord {
    keys: Vec<String>,
    threshold: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustRecord {
    fingerprint: String,
    level: TrustLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_until: Option<u64>,
}

/// The highest versions of the trust root and of the revocation list this
/// host has installed (0: none yet). A lower bound that only rises: an
/// installed document of a lower version is a rollback and refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustState {
    /// Highest trust root version installed.
    #[serde(default)]
    pub root_version: u64,
    /// Highest revocation list version installed.
    #[serde(default)]
    pub revocation_version: u64,
}

impl Home {
    /// A state directory at `root` (not created until something is written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }

    /// `$CERRO_HOME`, else `$XDG_CONFIG_HOME/cerro-torre`, else
    /// `$HOME/.config/cerro-torre`. `env` looks a variable up (so tests and
    /// daemons can supply their own environment).
    pub fn resolve(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf> {
        let set = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(h) = set("CERRO_HOME") {
            return Ok(PathBuf::from(h));
        }
        // The XDG base directory spec: a relative path is invalid and ignored.
        if let Some(x) = set("XDG_CONFIG_HOME").filter(|x| Path::new(x).is_absolute()) {
            return Ok(PathBuf::from(x).join("cerro-torre"));
        }
        if let Some(h) = set("HOME") {
            return Ok(PathBuf::from(h).join(".config").join("cerro-torre"));
        }
        Err(Error::invalid_config(
            "CERRO_HOME",
            "cannot locate the state directory (no CERRO_HOME, XDG_CONFIG_HOME or HOME): set CERRO_HOME",
        ))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn trust_path(&self) -> PathBuf {
        self.root.join(TRUST_FILE)
    }

    fn public_path(&self, id: &str) -> PathBuf {
        self.root.join("keys").join(format!("{id}.pub.pem"))
    }

    /// Path of the private key file of `id`.
    pub fn private_path(&self, id: &str) -> PathBuf {
        self.root.join("private").join(format!("{id}.key"))
    }

    /// Path of the PKCS#11 key reference of `id`: the URI of the token
    /// object holding its private key (spec/trust-store.md §2).
    pub fn token_reference_path(&self, id: &str) -> PathBuf {
        self.root.join("private").join(format!("{id}.pkcs11"))
    }

    /// The PKCS#11 URI recorded for key `id` by [`Home::add_token_key`],
    /// or `None` when it has none. Read as text, not interpreted here: core
    /// loads no module; `cerro-pkcs11` parses and opens it.
    pub fn token_reference(&self, id: &str) -> Result<Option<String>> {
        validate_key_id(id)?;
        let path = self.token_reference_path(id);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = crate::file::read_bounded(&path, MAX_REFERENCE, "PKCS#11 key reference")?;
        let text =
            String::from_utf8(bytes).map_err(|_| Error::invalid_config(path.display().to_string(), "not UTF-8"))?;
        let uri = text.trim();
        if !uri.starts_with("pkcs11:") || uri.contains(['\n', '\r']) {
            return Err(Error::invalid_config(
                path.display().to_string(),
                "not one line holding a pkcs11: URI",
            ));
        }
        Ok(Some(uri.to_owned()))
    }

    /// Adds key `id` whose private half stays on a PKCS#11 token: its
    /// public key at `level` (ultimate for a key generated on the token,
    /// untrusted for one imported) and `uri`, the token object's RFC 7512
    /// URI without a PIN, in `private/<id>.pkcs11`. Refused like a keygen
    /// when the id is taken (or has a private key file) and when the key is
    /// known under another id; nothing is written then.
    pub fn add_token_key(&self, id: &str, public: PublicKey, uri: &str, level: TrustLevel) -> Result<KeyEntry> {
        validate_key_id(id)?;
        if !uri.starts_with("pkcs11:") || uri.contains(['\n', '\r']) || uri.len() as u64 > MAX_REFERENCE {
            return Err(Error::invalid_config("PKCS#11 URI", "not a one-line pkcs11: URI"));
        }
        let _lock = self.lock()?;
        let mut store = self.load_trust()?;
        if store.get(id).is_some() || self.private_path(id).exists() {
            return Err(Error::KeyExists { id: id.to_owned() });
        }
        let entry = KeyEntry::new(id, public, level);
        store.insert(entry.clone())?;
        create_dir(&self.root, 0o700)?;
        create_dir(&self.root.join("private"), 0o700)?;
        write_atomic(&self.token_reference_path(id), format!("{uri}\n").as_bytes(), 0o600)?;
        self.save_locked(&store)?;
        Ok(entry)
    }

    /// Loads the trust store. A missing `trust.toml` is an empty store.
    pub fn load_trust(&self) -> Result<TrustStore> {
        let path = self.trust_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TrustStore::new()),
            Err(e) => return Err(Error::io("reading", path, e)),
        };
        let file: TrustFile = toml::from_str(&text).map_err(|e| Error::InvalidTrustStore {
            path: path.clone(),
            reason: e.to_string().trim().to_owned(),
        })?;
        let mut store = TrustStore::new();
        for (id, rec) in file.keys {
            validate_key_id(&id)?;
            let pem_path = self.public_path(&id);
            let pem = fs::read_to_string(&pem_path).ctx("reading", &pem_path)?;
            let public = parse_public_pem(&pem, &pem_path.display().to_string())?;
            let fingerprint = Fingerprint::of(&public);
            if fingerprint.to_hex() != rec.fingerprint {
                return Err(Error::InvalidTrustStore {
                    path,
                    reason: format!(
                        "{} does not match the fingerprint recorded for key {id:?}",
                        pem_path.display()
                    ),
                });
            }
            store.insert(KeyEntry {
                id,
                public,
                fingerprint,
                level: rec.level,
                revoked_at: rec.revoked_at,
                valid_from: rec.valid_from,
                valid_until: rec.valid_until,
            })?;
        }
        // Groups after keys: each must name keys the store now holds.
        for (name, rec) in file.groups {
            ThresholdGroup::new(&name, rec.keys, rec.threshold)
                .and_then(|g| store.set_group(g))
                .map_err(|e| Error::InvalidTrustStore {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
        }
        for (origin, rec) in file.logs {
            let invalid = |reason: String| Error::InvalidTrustStore {
                path: path.clone(),
                reason: format!("log {origin:?}: {reason}"),
            };
            let keys = rec
                .keys
                .iter()
                .map(|k| VerifierKey::parse(k))
                .collect::<Result<Vec<_>>>()
                .map_err(|e| invalid(e.to_string()))?;
            store.set_log(&origin, keys).map_err(|e| invalid(e.to_string()))?;
            if let Some(url) = &rec.url {
                store.set_log_url(&origin, url).map_err(|e| invalid(e.to_string()))?;
            }
        }
        // Witnesses after logs: a witness may not hold a log's key.
        for (name, rec) in file.witnesses {
            let invalid = |reason: String| Error::InvalidTrustStore {
                path: path.clone(),
                reason: format!("witness {name:?}: {reason}"),
            };
            let key = VerifierKey::parse(&rec.key).map_err(|e| invalid(e.to_string()))?;
            if key.name() != name {
                return Err(invalid(format!("its key is named {:?}", key.name())));
            }
            store.set_witness(key).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(store)
    }

    /// The trust store a verification uses at `now` (spec/trust-store.md
    /// §9.3, §10.3): `trust.toml` and its keys; with a trust root
    /// installed, the root's logs, witnesses and quorum instead of
    /// `trust.toml`'s, and the revocation list it vouches for. Fails closed:
    /// an expired root, a root or list below the highest version seen
    /// (or gone after one was installed), a list its root's revocation keys
    /// did not sign, or a list without a root refuses.
    pub fn load_for_verification(&self, now: u64) -> Result<TrustStore> {
        let mut store = self.load_trust()?;
        match self.trust_root(now)? {
            Some(root) => {
                root.apply_to(&mut store).map_err(|e| Error::InvalidTrustStore {
                    path: self.root.join(ROOT_FILE),
                    reason: e.to_string(),
                })?;
                if let Some(list) = self.revocation_list(&root, now)? {
                    store.set_revocation(list);
                }
            }
            None => {
                if fs::symlink_metadata(self.root.join(REVOCATION_FILE)).is_ok() {
                    return Err(Error::InvalidTrustStore {
                        path: self.root.join(REVOCATION_FILE),
                        reason: "a revocation list is installed but no trust root vouches for its signers".into(),
                    });
                }
            }
        }
        Ok(store)
    }

    /// The highest versions seen (all 0 before anything was installed).
    pub fn trust_state(&self) -> Result<TrustState> {
        let path = self.root.join(STATE_FILE);
        match self.read_optional(STATE_FILE, 4096)? {
            None => Ok(TrustState::default()),
            Some(b) => serde_json::from_slice(&b).map_err(|e| Error::InvalidTrustStore {
                path,
                reason: e.to_string(),
            }),
        }
    }

    fn write_state(&self, state: &TrustState) -> Result<()> {
        let bytes = crate::jcs::to_canonical(state)?;
        write_atomic(&self.root.join(STATE_FILE), &bytes, 0o644)
    }

    /// The file `name` of the state directory, at most `max` bytes, or
    /// `None` when there is none.
    fn read_optional(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>> {
        let path = self.root.join(name);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("reading the metadata of", path, e)),
            Ok(_) => crate::file::read_bounded(&path, max, name).map(Some),
        }
    }

    /// The installed trust root and its bytes, checked as at load but for
    /// the clock: signed by k of its own root keys, not below the highest
    /// version seen. An expired root can still sign its successor.
    fn installed_root(&self, now: u64) -> Result<Option<(TrustRoot, Vec<u8>)>> {
        let path = self.root.join(ROOT_FILE);
        let state = self.trust_state()?;
        let Some(bytes) = self.read_optional(ROOT_FILE, super::root::MAX_ROOT_SIZE)? else {
            if state.root_version > 0 {
                return Err(Error::InvalidTrustStore {
                    path,
                    reason: format!(
                        "trust root version {} was installed and the file is gone: reinstall it (ct trust root install)",
                        state.root_version
                    ),
                });
            }
            return Ok(None);
        };
        let signed = open_root(&bytes).map_err(|e| match e {
            Error::Malformed { reason, .. } => Error::InvalidTrustStore { path, reason },
            other => other,
        })?;
        let root = signed.root;
        root.root_keys().check(
            &signed.envelope,
            &format!("installed trust root version {}", root.version()),
            now,
        )?;
        if root.version() < state.root_version {
            return Err(Error::Rollback {
                what: "trust root",
                offered: root.version(),
                installed: state.root_version,
            });
        }
        Ok(Some((root, bytes)))
    }

    /// The trust root in force at `now`, if one is installed: refused when
    /// it has expired (TUF §5.3.10), checked at every load.
    pub fn trust_root(&self, now: u64) -> Result<Option<TrustRoot>> {
        match self.installed_root(now)? {
            None => Ok(None),
            Some((root, _)) => {
                root.check_expiry(now)?;
                Ok(Some(root))
            }
        }
    }

    /// The installed root's envelope bytes, as installed (for `ct trust
    /// root show` and to sign a successor from).
    pub fn trust_root_bytes(&self) -> Result<Option<Vec<u8>>> {
        self.read_optional(ROOT_FILE, super::root::MAX_ROOT_SIZE)
    }

    /// Installs the trust root `bytes` ([`verify_root`] against the root in
    /// force, even an expired one; the first root is taken as given), under
    /// the edit lock: the root first, then the raised version in
    /// `trust-state.json`, each atomically (a crash between leaves the new
    /// root and the old bound, which it satisfies). Returns the root and
    /// whether anything changed (the same root again changes nothing).
    pub fn install_root(&self, bytes: &[u8], now: u64) -> Result<(TrustRoot, bool)> {
        let _lock = self.lock()?;
        let mut state = self.trust_state()?;
        // A root file that is gone (its version still in the state) can be
        // replaced by a root of at least that version.
        let current = match self.trust_root_bytes()? {
            None => None,
            Some(_) => self.installed_root(now)?,
        };
        let new = verify_root(bytes, current.as_ref().map(|(r, b)| (r, b.as_slice())), now)?;
        if new.version() < state.root_version {
            return Err(Error::Rollback {
                what: "trust root",
                offered: new.version(),
                installed: state.root_version,
            });
        }
        let changed = current.as_ref().is_none_or(|(_, b)| b.as_slice() != bytes);
        if changed {
            create_dir(&self.root, 0o700)?;
            write_atomic(&self.root.join(ROOT_FILE), bytes, 0o644)?;
        }
        if state.root_version < new.version() {
            state.root_version = new.version();
            self.write_state(&state)?;
        }
        Ok((new, changed))
    }

    /// The installed revocation list, checked against `root` (the root in
    /// force): signed by k of its revocation keys, not below the highest
    /// version seen. Its freshness is `verify`'s to judge.
    pub fn revocation_list(&self, root: &TrustRoot, now: u64) -> Result<Option<RevocationList>> {
        let path = self.root.join(REVOCATION_FILE);
        let state = self.trust_state()?;
        let Some(bytes) = self.read_optional(REVOCATION_FILE, super::root::MAX_REVOCATION_SIZE)? else {
            if state.revocation_version > 0 {
                return Err(Error::InvalidTrustStore {
                    path,
                    reason: format!(
                        "revocation list version {} was installed and the file is gone: fetch a list again (ct revocation fetch)",
                        state.revocation_version
                    ),
                });
            }
            return Ok(None);
        };
        verify_revocation(&bytes, root, Some((state.revocation_version, &bytes)), now)
            .map(Some)
            .map_err(|e| match e {
                Error::Malformed { reason, .. } => Error::InvalidTrustStore { path, reason },
                other => other,
            })
    }

    /// The installed revocation list's envelope bytes, as installed.
    pub fn revocation_bytes(&self) -> Result<Option<Vec<u8>>> {
        self.read_optional(REVOCATION_FILE, super::root::MAX_REVOCATION_SIZE)
    }

    /// Installs the revocation list `bytes` ([`verify_revocation`] under
    /// the root in force, not below the highest version seen), under the
    /// edit lock, then raises the version in `trust-state.json`. Returns
    /// the list and whether anything changed.
    pub fn install_revocation(&self, bytes: &[u8], now: u64) -> Result<(RevocationList, bool)> {
        let _lock = self.lock()?;
        let root = self.trust_root(now)?.ok_or_else(|| {
            Error::invalid_config(
                "revocation list",
                "no trust root is installed: a revocation list counts only when signed by a root's revocation keys (ct trust root install)",
            )
        })?;
        let mut state = self.trust_state()?;
        let installed = self.revocation_bytes()?.unwrap_or_default();
        let installed_version = open_revocation(&installed).map(|s| s.list.version()).unwrap_or(0);
        let highest = state.revocation_version.max(installed_version);
        let floor: &[u8] = if installed_version == highest {
            installed.as_slice()
        } else {
            &[]
        };
        let list = verify_revocation(bytes, &root, (highest > 0).then_some((highest, floor)), now)?;
        let changed = installed.as_slice() != bytes;
        if changed {
            create_dir(&self.root, 0o700)?;
            write_atomic(&self.root.join(REVOCATION_FILE), bytes, 0o644)?;
        }
        if state.revocation_version < list.version() {
            state.revocation_version = list.version();
            self.write_state(&state)?;
        }
        Ok((list, changed))
    }

    /// Takes the exclusive edit lock, waiting for another edit to finish.
    /// Never nest: a second lock from the same process waits on the first.
    fn lock(&self) -> Result<EditLock> {
        create_dir(&self.root, 0o700)?;
        let path = self.root.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .ctx("opening the trust store lock", &path)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(std::io::Error::from)
            .ctx("locking the trust store", &path)?;
        Ok(EditLock { _file: file })
    }

    /// Saves the trust store (and each key's public PEM) atomically, under
    /// the edit lock. To change the store, prefer [`Home::update_trust`]:
    /// a store loaded before another edit and saved here overwrites it.
    pub fn save_trust(&self, store: &TrustStore) -> Result<()> {
        let _lock = self.lock()?;
        self.save_locked(store)
    }

    /// [`Home::save_trust`] with the edit lock already held.
    fn save_locked(&self, store: &TrustStore) -> Result<()> {
        create_dir(&self.root, 0o700)?;
        create_dir(&self.root.join("keys"), 0o755)?;
        let mut file = TrustFile::default();
        for k in store.keys() {
            let pem_path = self.public_path(&k.id);
            let pem = public_pem(&k.public);
            if fs::read_to_string(&pem_path).ok().as_deref() != Some(pem.as_str()) {
                write_atomic(&pem_path, pem.as_bytes(), 0o644)?;
            }
            file.keys.insert(
                k.id.clone(),
                TrustRecord {
                    fingerprint: k.fingerprint.to_hex(),
                    level: k.level,
                    revoked_at: k.revoked_at,
                    valid_from: k.valid_from,
                    valid_until: k.valid_until,
                },
            );
        }
        for g in store.groups() {
            file.groups.insert(
                g.name().to_owned(),
                GroupRecord {
                    keys: g.keys().to_vec(),
                    threshold: g.threshold(),
                },
            );
        }
        for l in store.logs() {
            file.logs.insert(
                l.origin().to_owned(),
                LogRecord {
                    keys: l.keys().iter().map(VerifierKey::to_vkey).collect(),
                    url: store.log_url(l.origin()).map(str::to_owned),
                },
            );
        }
        for w in store.witnesses() {
            file.witnesses
                .insert(w.name().to_owned(), WitnessRecord { key: w.to_vkey() });
        }
        let text = toml::to_string(&file).map_err(|e| Error::System {
            op: "encoding the trust store",
            reason: e.to_string(),
        })?;
        write_atomic(&self.trust_path(), text.as_bytes(), 0o644)
    }

    /// Generates an Ed25519 key pair named `id`, trusted ultimately. With a
    /// passphrase, the private key is stored encrypted.
    pub fn generate_key(&self, id: &str, passphrase: Option<&[u8]>) -> Result<KeyEntry> {
        self.generate_key_of(Algorithm::Ed25519, id, passphrase)
    }

    /// Generates a key pair of `algorithm` named `id`, trusted ultimately.
    /// With a passphrase, the private key is stored encrypted (the same
    /// PBES2 scheme for both algorithms).
    pub fn generate_key_of(&self, algorithm: Algorithm, id: &str, passphrase: Option<&[u8]>) -> Result<KeyEntry> {
        validate_key_id(id)?;
        let _lock = self.lock()?;
        let mut store = self.load_trust()?;
        if store.get(id).is_some() || self.private_path(id).exists() {
            return Err(Error::KeyExists { id: id.to_owned() });
        }
        let key = SecretKey::generate(algorithm)?;
        let pem = key.to_pkcs8_pem(passphrase)?;
        create_dir(&self.root, 0o700)?;
        create_dir(&self.root.join("private"), 0o700)?;
        write_atomic(&self.private_path(id), pem.as_bytes(), 0o600)?;
        let entry = KeyEntry::new(id, key.public(), TrustLevel::Ultimate);
        store.insert(entry.clone())?;
        self.save_locked(&store)?;
        Ok(entry)
    }

    /// Finishes a [`Home::generate_key`] that was interrupted (killed, power
    /// lost) between its two writes. The private key is written first, so an
    /// interruption can leave `private/<id>.key` without a trust entry (never
    /// a trusted key whose private key is lost), and `generate_key` then
    /// refuses the id for ever. Such a key is trusted ultimately, as
    /// `generate_key` would have done, and returned; `None` when there is
    /// nothing to finish (no private key file, or `id` already in the store).
    /// The file must be in the form asked for: a key in the clear is not
    /// kept when a passphrase is given, nor is a file that is not a key.
    pub fn resume_keygen(&self, id: &str, passphrase: Option<&[u8]>) -> Result<Option<KeyEntry>> {
        self.resume_keygen_of(Algorithm::Ed25519, id, passphrase)
    }

    /// [`Home::resume_keygen`] for a key of `algorithm`: a leftover private
    /// key of the other algorithm is refused, not adopted (the user asked
    /// for this type).
    pub fn resume_keygen_of(
        &self,
        algorithm: Algorithm,
        id: &str,
        passphrase: Option<&[u8]>,
    ) -> Result<Option<KeyEntry>> {
        validate_key_id(id)?;
        let path = self.private_path(id);
        if self.load_trust()?.get(id).is_some() || !path.exists() {
            return Ok(None);
        }
        let pem = Zeroizing::new(fs::read_to_string(&path).ctx("reading", &path)?);
        let left = |why: &str| Error::PrivateKey {
            id: id.to_owned(),
            reason: format!(
                "{} (left by an interrupted keygen?) {why}; remove it to generate a new key {id:?}",
                path.display()
            ),
        };
        let key = match (SecretKey::pem_is_encrypted(&pem), passphrase) {
            (true, Some(p)) => SecretKey::from_pkcs8_pem(&pem, Some(p)).map_err(|e| match e {
                KeyFileError::Format(e) => left(&format!("is not a PKCS#8 key: {e}")),
                _ => left("cannot be decrypted with this passphrase"),
            })?,
            (true, None) => return Err(left("is encrypted: give its passphrase with --encrypt to finish")),
            (false, Some(_)) => return Err(left("is not encrypted")),
            (false, None) => SecretKey::from_pkcs8_pem(&pem, None).map_err(|e| match e {
                KeyFileError::Format(e) => left(&format!("is not a PKCS#8 Ed25519 or ECDSA P-256 key: {e}")),
                _ => left("is not a PKCS#8 key"),
            })?,
        };
        if key.algorithm() != algorithm {
            return Err(left(&format!("is an {} key, not {}", key.algorithm(), algorithm)));
        }
        let entry = KeyEntry::new(id, key.public(), TrustLevel::Ultimate);
        // Through update_trust: the edit must not overwrite one made meanwhile.
        self.update_trust(|store| {
            store.insert(entry.clone())?;
            Ok(Some(entry))
        })
    }

    /// Loads the private key `id`, of either algorithm. Encrypted keys need
    /// `passphrase`.
    pub fn load_signing_key(&self, id: &str, passphrase: Option<&[u8]>) -> Result<SecretKey> {
        validate_key_id(id)?;
        let store = self.load_trust()?;
        let entry = store.get(id).ok_or_else(|| Error::UnknownKey { id: id.to_owned() })?;
        let path = self.private_path(id);
        let pem = match fs::read_to_string(&path) {
            Ok(p) => Zeroizing::new(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let reason = if self.token_reference_path(id).exists() {
                    format!(
                        "its private key is on a PKCS#11 token ({}): sign through ct, which opens it",
                        self.token_reference_path(id).display()
                    )
                } else {
                    format!("no private key file here ({})", path.display())
                };
                return Err(Error::PrivateKey {
                    id: id.to_owned(),
                    reason,
                });
            }
            Err(e) => return Err(Error::io("reading", path, e)),
        };
        let encrypted = SecretKey::pem_is_encrypted(&pem);
        let key = SecretKey::from_pkcs8_pem(&pem, passphrase.filter(|_| encrypted)).map_err(|e| match e {
            KeyFileError::PassphraseNeeded => Error::PassphraseNeeded {
                what: format!("encrypted key {id:?}"),
            },
            KeyFileError::WrongPassphrase => Error::WrongPassphrase { id: id.to_owned() },
            KeyFileError::Format(e) => Error::PrivateKey {
                id: id.to_owned(),
                reason: format!("{}: not a PKCS#8 Ed25519 or ECDSA P-256 key: {e}", path.display()),
            },
        })?;
        if Fingerprint::of(&key.public()) != entry.fingerprint {
            return Err(Error::PrivateKey {
                id: id.to_owned(),
                reason: format!("{} does not belong to key {id:?} in the trust store", path.display()),
            });
        }
        Ok(key)
    }

    /// Imports a public key (PEM SubjectPublicKeyInfo, Ed25519 or ECDSA
    /// P-256 — `cosign.pub` is the latter) as `id`, untrusted.
    pub fn import_key(&self, id: &str, pem: &str) -> Result<KeyEntry> {
        validate_key_id(id)?;
        let public = parse_public_pem(pem, "imported key")?;
        let _lock = self.lock()?;
        let mut store = self.load_trust()?;
        let entry = KeyEntry::new(id, public, TrustLevel::Untrusted);
        store.insert(entry.clone())?;
        self.save_locked(&store)?;
        Ok(entry)
    }

    /// Loads the store, applies `change` and saves, unless `change` fails:
    /// then nothing is written. For edits that must be validated against
    /// the whole store (groups, validity windows). Holds the edit lock from
    /// the load to the save, so a concurrent edit is never lost.
    pub fn update_trust<T>(&self, change: impl FnOnce(&mut TrustStore) -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        let mut store = self.load_trust()?;
        let out = change(&mut store)?;
        self.save_locked(&store)?;
        Ok(out)
    }

    /// Applies `change` to key `id` and saves, under the edit lock.
    pub fn update_key(&self, id: &str, change: impl FnOnce(&mut KeyEntry)) -> Result<KeyEntry> {
        let _lock = self.lock()?;
        let mut store = self.load_trust()?;
        let entry = store
            .get_mut(id)
            .ok_or_else(|| Error::UnknownKey { id: id.to_owned() })?;
        change(entry);
        let out = entry.clone();
        self.save_locked(&store)?;
        Ok(out)
    }
}

/// PEM SubjectPublicKeyInfo of `key` (what openssl, cosign and securesystemslib read).
pub fn public_pem(key: &impl AsPublicKey) -> String {
    key.public_key().to_pem()
}

/// Parses a PEM SubjectPublicKeyInfo key, Ed25519 or ECDSA P-256
/// ([`PublicKey::from_pem`]: weak Ed25519 keys and non-canonical P-256
/// encodings refused).
pub fn parse_public_pem(pem: &str, what: &str) -> Result<PublicKey> {
    PublicKey::from_pem(pem, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use std::os::unix::fs::PermissionsExt;

    /// A token key's reference: written 0600 beside where a key file would
    /// be, read back as written; refused for a taken id, a known key, a
    /// URI that is not one line; a hand-edited reference that is not a
    /// pkcs11: URI refused on read; a file key still loads only from its
    /// file, and a token key's id says where its key is.
    #[test]
    fn token_key_references() {
        let d = tempfile::tempdir().unwrap();
        let home = Home::new(d.path());
        let public = SecretKey::generate(Algorithm::EcdsaP256).unwrap().public();
        let uri = "pkcs11:object=rel;token=t?module-path=/m.so";
        let e = home
            .add_token_key("rel", public.clone(), uri, TrustLevel::Ultimate)
            .unwrap();
        assert_eq!(e.level, TrustLevel::Ultimate);
        assert_eq!(home.token_reference("rel").unwrap().as_deref(), Some(uri));
        let mode = fs::metadata(home.token_reference_path("rel"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(home.token_reference("none").unwrap(), None);
        assert!(home.token_reference("../x").is_err());
        assert!(matches!(
            home.add_token_key("rel", public.clone(), uri, TrustLevel::Ultimate),
            Err(Error::KeyExists { .. })
        ));
        assert!(matches!(
            home.add_token_key("again", public.clone(), uri, TrustLevel::Untrusted),
            Err(Error::KeyKnownAs { .. })
        ));
        assert!(
            !home.token_reference_path("again").exists(),
            "nothing written for a refused key"
        );
        for bad in ["file:/x", "pkcs11:a\nb"] {
            assert!(
                home.add_token_key("bad", public.clone(), bad, TrustLevel::Untrusted)
                    .is_err(),
                "{bad}"
            );
        }
        home.generate_key("file", None).unwrap();
        assert!(matches!(
            home.add_token_key("file", public.clone(), uri, TrustLevel::Untrusted),
            Err(Error::KeyExists { .. })
        ));
        fs::write(home.token_reference_path("rel"), "not a uri\n").unwrap();
        assert!(home.token_reference("rel").is_err());
        let e = home.load_signing_key("rel", None).unwrap_err().to_string();
        assert!(e.contains("PKCS#11 token"), "{e}");
    }

    #[test]
    fn keygen_writes_private_0600_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        let e = home.generate_key("alice", None).unwrap();
        let mode = fs::metadata(home.private_path("alice")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key = home.load_signing_key("alice", None).unwrap();
        assert_eq!(Fingerprint::of(&key.public()), e.fingerprint);
        assert_eq!(
            home.load_trust().unwrap().get("alice").unwrap().level,
            TrustLevel::Ultimate
        );
        assert!(home.generate_key("alice", None).is_err());
    }

    #[test]
    fn encrypted_keys_need_the_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.generate_key("bob", Some(b"correct horse")).unwrap();
        let text = fs::read_to_string(home.private_path("bob")).unwrap();
        assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(home.load_signing_key("bob", None).is_err());
        assert!(home.load_signing_key("bob", Some(b"wrong")).is_err());
        home.load_signing_key("bob", Some(b"correct horse")).unwrap();
    }

    #[test]
    fn groups_round_trip_and_are_validated_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        for id in ["k1", "k2", "k3"] {
            home.generate_key(id, None).unwrap();
        }
        home.update_trust(|s| {
            let g = ThresholdGroup::new("release", vec!["k1".into(), "k3".into()], 2)?;
            s.set_group(g).map(|_| ())
        })
        .unwrap();
        let text = fs::read_to_string(home.trust_path()).unwrap();
        assert!(
            text.contains("[groups.release]\nkeys = [\n    \"k1\",\n    \"k3\",\n]\nthreshold = 2\n")
                || text.contains("[groups.release]\nkeys = [\"k1\", \"k3\"]\nthreshold = 2\n"),
            "{text}"
        );
        let g = home.load_trust().unwrap().group("release").unwrap().clone();
        assert_eq!(
            (g.keys(), g.threshold()),
            (&["k1".to_string(), "k3".to_string()][..], 2)
        );
        // A failed change writes nothing.
        assert!(home
            .update_trust(|s| s.set_group(ThresholdGroup::new("bad", vec!["nobody".into()], 1)?))
            .is_err());
        assert!(home.load_trust().unwrap().group("bad").is_none());
        // A hand-edited store with a bad group does not load.
        for bad in [
            "[groups.x]\nkeys = [\"k1\"]\nthreshold = 2\n",
            "[groups.x]\nkeys = [\"k1\"]\nthreshold = 0\n",
            "[groups.x]\nkeys = [\"nobody\"]\nthreshold = 1\n",
            "[groups.x]\nkeys = [\"k1\"]\nthreshold = 1\nextra = 1\n",
        ] {
            fs::write(home.trust_path(), format!("{text}{bad}")).unwrap();
            assert!(
                matches!(home.load_trust(), Err(Error::InvalidTrustStore { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn logs_round_trip_and_are_validated_on_load() {
        use crate::tlog::{Ed25519Cosigner, Ed25519NoteSigner, NoteSigner as _};
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let a = Ed25519NoteSigner::from_seed("a.example/log", &[1; 32]).unwrap();
        let vkey = a.verifier_key().to_vkey();
        home.update_trust(|s| s.set_log("a.example/log", vec![a.verifier_key().clone()]).map(|_| ()))
            .unwrap();
        let text = fs::read_to_string(home.trust_path()).unwrap();
        assert!(
            text.contains(&format!("[logs.\"a.example/log\"]\nkeys = [\"{vkey}\"]\n"))
                || text.contains(&format!("[logs.\"a.example/log\"]\nkeys = [\n    \"{vkey}\",\n]\n")),
            "{text}"
        );
        let store = home.load_trust().unwrap();
        assert_eq!(store.log("a.example/log").unwrap().keys(), [a.verifier_key().clone()]);
        assert_eq!(store.log_url("a.example/log"), None);
        // A read URL round-trips beside the keys; a store without one still loads.
        home.update_trust(|s| s.set_log_url("a.example/log", "https://a.example/log/"))
            .unwrap();
        let with_url = fs::read_to_string(home.trust_path()).unwrap();
        assert!(with_url.contains("url = \"https://a.example/log/\""), "{with_url}");
        let store = home.load_trust().unwrap();
        assert_eq!(store.log_url("a.example/log"), Some("https://a.example/log/"));
        let mut edited = store.clone();
        for bad in ["ftp://a/", "https://", "https://u:p@a/", "https://a/?q", "https://a/ b"] {
            let e = edited.set_log_url("a.example/log", bad).unwrap_err();
            assert_eq!(e.exit_code(), crate::ExitCode::Config, "{bad}");
        }
        assert!(edited.set_log_url("other", "https://a/").is_err());
        edited.remove_log("a.example/log");
        assert_eq!(edited.log_url("a.example/log"), None);
        fs::write(home.trust_path(), &text).unwrap();
        let witness = Ed25519Cosigner::from_seed("w", &[2; 32])
            .unwrap()
            .verifier_key()
            .to_vkey();
        let b = Ed25519NoteSigner::from_seed("b", &[3; 32])
            .unwrap()
            .verifier_key()
            .to_vkey();
        for bad in [
            "[logs.x]\nkeys = []\n".to_string(),
            "[logs.x]\nkeys = [\"not a key\"]\n".to_string(),
            format!("[logs.x]\nkeys = [\"{witness}\"]\n"),
            format!("[logs.x]\nkeys = [\"{b}\"]\nwitnesses = 1\n"),
            // One key for two logs.
            format!("[logs.x]\nkeys = [\"{vkey}\"]\n"),
            format!("[logs.x]\nkeys = [\"{b}\"]\nurl = \"file:///x\"\n"),
        ] {
            fs::write(home.trust_path(), format!("{text}{bad}")).unwrap();
            assert!(
                matches!(home.load_trust(), Err(Error::InvalidTrustStore { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn witnesses_round_trip_and_are_validated_on_load() {
        use crate::tlog::{Ed25519Cosigner, Ed25519NoteSigner, NoteSigner as _};
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let log = Ed25519NoteSigner::from_seed("a.example/log", &[1; 32]).unwrap();
        let w1 = Ed25519Cosigner::from_seed("w1.example", &[2; 32]).unwrap();
        let w2 = Ed25519Cosigner::from_seed("w2.example", &[3; 32]).unwrap();
        home.update_trust(|s| {
            s.set_log("a.example/log", vec![log.verifier_key().clone()])?;
            s.set_witness(w1.verifier_key().clone())?;
            s.set_witness(w2.verifier_key().clone()).map(|_| ())
        })
        .unwrap();
        let text = fs::read_to_string(home.trust_path()).unwrap();
        assert!(
            text.contains(&format!(
                "[witnesses.\"w1.example\"]\nkey = \"{}\"\n",
                w1.verifier_key().to_vkey()
            )),
            "{text}"
        );
        let store = home.load_trust().unwrap();
        let names: Vec<&str> = store.witnesses().map(|w| w.name()).collect();
        assert_eq!(names, ["w1.example", "w2.example"]);
        assert!(store.tlog_trust().is_some());
        // The same key under another name; a log's key as a witness; a note
        // key (type 0x01); a table named unlike its key; not a key.
        let same = Ed25519Cosigner::from_seed("w3.example", &[2; 32]).unwrap();
        let logkey_as_witness = Ed25519Cosigner::from_seed("w4.example", &[1; 32]).unwrap();
        for bad in [
            format!(
                "[witnesses.\"w3.example\"]\nkey = \"{}\"\n",
                same.verifier_key().to_vkey()
            ),
            format!(
                "[witnesses.\"w4.example\"]\nkey = \"{}\"\n",
                logkey_as_witness.verifier_key().to_vkey()
            ),
            format!(
                "[witnesses.\"a.example/log\"]\nkey = \"{}\"\n",
                log.verifier_key().to_vkey()
            ),
            format!("[witnesses.\"other\"]\nkey = \"{}\"\n", w1.verifier_key().to_vkey()),
            "[witnesses.x]\nkey = \"not a key\"\n".to_string(),
            "[witnesses.x]\nkeys = []\n".to_string(),
        ] {
            fs::write(home.trust_path(), format!("{text}{bad}")).unwrap();
            assert!(
                matches!(home.load_trust(), Err(Error::InvalidTrustStore { .. })),
                "{bad}"
            );
        }
    }

    /// Many edits at once, each a read-modify-write of one counter (a key's
    /// `valid_from`): with the edit lock none is lost; without it, two
    /// edits that load the same store overwrite each other.
    #[test]
    fn concurrent_edits_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.generate_key("counter", None).unwrap();
        const THREADS: u64 = 8;
        const EDITS: u64 = 15;
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let home = home.clone();
                s.spawn(move || {
                    for i in 0..EDITS {
                        if (t + i) % 2 == 0 {
                            home.update_key("counter", |k| k.valid_from = Some(k.valid_from.unwrap_or(0) + 1))
                                .unwrap();
                        } else {
                            home.update_trust(|s| {
                                let k = s.get_mut("counter").unwrap();
                                k.valid_from = Some(k.valid_from.unwrap_or(0) + 1);
                                Ok(())
                            })
                            .unwrap();
                        }
                    }
                });
            }
            // Keys added meanwhile are kept too.
            let home = home.clone();
            s.spawn(move || {
                for i in 0..4u8 {
                    let pem = public_pem(&SigningKey::from_bytes(&[i + 10; 32]).verifying_key());
                    home.import_key(&format!("imported{i}"), &pem).unwrap();
                }
            });
        });
        let store = home.load_trust().unwrap();
        assert_eq!(store.get("counter").unwrap().valid_from, Some(THREADS * EDITS));
        assert_eq!(store.keys().count(), 5);
        assert!(dir.path().join(LOCK_FILE).exists());
    }

    #[test]
    fn import_starts_untrusted_and_swapped_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let other = SigningKey::from_bytes(&[5; 32]).verifying_key();
        let e = home.import_key("carol", &public_pem(&other)).unwrap();
        assert_eq!(e.level, TrustLevel::Untrusted);
        assert!(
            home.import_key("carol2", &public_pem(&other)).is_err(),
            "same key twice"
        );
        let swapped = SigningKey::from_bytes(&[6; 32]).verifying_key();
        fs::write(home.public_path("carol"), public_pem(&swapped)).unwrap();
        assert_eq!(home.load_trust().unwrap_err().exit_code(), crate::ExitCode::Config);
    }
}
