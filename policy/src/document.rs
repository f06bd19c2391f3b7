//! The policy document: its types, its parser and every load-time check.
//!
//! [`DeploymentPolicy`] can only be built by [`DeploymentPolicy::from_json`],
//! which refuses what is ambiguous or could never be satisfied, and then
//! makes defaults explicit; evaluation can therefore rely on every invariant
//! listed in `spec/policy.md` §3 without re-checking it.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use cerro_core::digest::Digest;
use cerro_core::manifest::validate_name;
use cerro_core::timestamp::{format_rfc3339, parse_rfc3339};
use cerro_core::trust::{validate_key_id, Fingerprint, KeyEntry, TrustLevel};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{glob_match, PolicyError};

/// What to do when no signer rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Use the bundle.
    Allow,
    /// Refuse it.
    Deny,
}

impl Action {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// A date-time in a policy: written as RFC 3339, kept as unix seconds, and
/// written back in UTC (`2026-01-01T00:00:00Z`) by the normalised form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub u64);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rfc3339(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_rfc3339(&s).map(Timestamp).ok_or_else(|| {
            de::Error::custom(format!(
                "{s:?} is not an RFC 3339 date-time on or after 1970 (e.g. 2026-01-01T00:00:00Z)"
            ))
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_rfc3339(self.0))
    }
}

/// Whether a key id glob or a fingerprint names `key` (either suffices).
fn names_key(key_id: Option<&str>, fingerprint: Option<&str>, key: &KeyEntry) -> bool {
    key_id.is_some_and(|g| glob_match(g, &key.id)) || fingerprint.is_some_and(|f| f == key.fingerprint.to_hex())
}

/// Checks a matcher's shape: at least one selector, a well-formed fingerprint.
fn check_matcher(at: &str, key_id: Option<&str>, fingerprint: Option<&str>) -> Result<(), String> {
    match (key_id, fingerprint) {
        (None, None) => Err(format!("{at}: a signer entry needs key_id or fingerprint")),
        (_, Some(f)) if Fingerprint::from_hex(f).is_none() => {
            Err(format!("{at}: fingerprint {f:?} is not 64 lowercase hex digits"))
        }
        _ => Ok(()),
    }
}

/// An entry of `signers.allowed`: a key-id glob or an exact fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedSigner {
    /// Glob over local key ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Exact SHA-256 fingerprint (64 lowercase hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// A key matching this entry must be among the counted signers.
    #[serde(default)]
    pub required: bool,
}

impl AllowedSigner {
    /// Whether this entry names `key`.
    pub fn matches(&self, key: &KeyEntry) -> bool {
        names_key(self.key_id.as_deref(), self.fingerprint.as_deref(), key)
    }
}

/// An entry of `signers.denied`, optionally limited to bundles built in
/// `[after, before)`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeniedSigner {
    /// Glob over local key ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Exact SHA-256 fingerprint (64 lowercase hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Denied for bundles built at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Timestamp>,
    /// Denied for bundles built before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Timestamp>,
}

/// Whether a denied entry excludes a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The entry does not apply.
    No,
    /// The key is denied.
    Yes,
    /// The entry names the key but is dated, and the bundle has no build time.
    Undecidable,
}

impl DeniedSigner {
    /// Whether this entry names `key`, whatever the dates.
    pub fn matches(&self, key: &KeyEntry) -> bool {
        names_key(self.key_id.as_deref(), self.fingerprint.as_deref(), key)
    }

    /// Whether it denies `key` for a bundle built at `build_time` (its
    /// signed claim) and, when witnesses vouch for it, known to exist by
    /// `witnessed` (trusted time, spec/policy.md §1.7).
    ///
    /// `after`: the bundle's own build time is its signer's word, so a key
    /// denied after a date could date its new builds before it. With
    /// trusted time the entry applies unless the witnesses saw the release
    /// before `after` (`witnessed < after`): a build made before the date
    /// but logged only after it is denied too (fail closed). `before`
    /// keeps the signed build time (the witnessed time bounds a release's
    /// creation from above only, never from below).
    pub fn denies(&self, key: &KeyEntry, build_time: Option<u64>, witnessed: Option<u64>) -> Denial {
        if !self.matches(key) {
            return Denial::No;
        }
        if self.after.is_none() && self.before.is_none() {
            return Denial::Yes;
        }
        let after_ok = match (self.after, witnessed, build_time) {
            (None, _, _) => true,
            (Some(a), Some(w), _) => w >= a.0,
            (Some(a), None, Some(t)) => t >= a.0,
            (Some(_), None, None) => return Denial::Undecidable,
        };
        let before_ok = match (self.before, build_time) {
            (None, _) => true,
            (Some(b), Some(t)) => t < b.0,
            (Some(_), None) => return Denial::Undecidable,
        };
        if after_ok && before_ok {
            Denial::Yes
        } else {
            Denial::No
        }
    }
}

/// The `signers` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Signers {
    /// Keys that may count. Absent only with `threshold_from` (then the
    /// group's keys are the candidates); never empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<AllowedSigner>>,
    /// Keys that never count, even if allowed (optionally only for bundles
    /// built in a date range).
    #[serde(default)]
    pub denied: Vec<DeniedSigner>,
    /// Distinct counting keys required (≥ 1). Exclusive with
    /// `threshold_from`; after loading it is 1 when neither was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<usize>,
    /// A threshold group of the trust store: its keys are the candidates and
    /// its k is the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_from: Option<String>,
    /// Minimum trust level of a counting key (default `full`).
    #[serde(default = "full")]
    pub min_trust: TrustLevel,
}

fn full() -> TrustLevel {
    TrustLevel::Full
}

/// The `registries` section: globs over the image references a bundle names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Registries {
    /// Every reference must match one of these (never empty when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// No reference may match any of these; wins over `allowed`.
    #[serde(default)]
    pub blocked: Vec<String>,
}

/// `require_attestations.rebuilt_by` (spec/policy.md §1.4.1): at least
/// `threshold` distinct keys named by `signers` whose rebuild attestation
/// (a SLSA VSA in the bundle's `rebuilds/`) verifies for this release.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RebuiltBy {
    /// Distinct rebuilder keys required (1 to
    /// `cerro_core::rebuild::MAX_REBUILDS`).
    pub threshold: usize,
    /// The keys that may count, matched as `signers.allowed` entries
    /// (never empty); `required` names a rebuilder that must be among them.
    pub signers: Vec<AllowedSigner>,
    /// Minimum trust level of a counting rebuilder key (default `full`).
    #[serde(default = "full")]
    pub min_trust: TrustLevel,
}

/// The `require_attestations` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequireAttestations {
    /// SLSA provenance v1.
    #[serde(default)]
    pub provenance: bool,
    /// An SPDX or CycloneDX SBOM.
    #[serde(default)]
    pub sbom: bool,
    /// Kept for compatibility: `true` means a `transparency` section with
    /// its defaults (`{"logs": 2}`), into which loading moves it (so the
    /// normalised policy shows `transparency.logs`, and this is `false`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transparency_log: bool,
    /// Independent rebuilds (or null: none required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_by: Option<RebuiltBy>,
}

/// The `transparency` section (spec/policy.md §1.7): how many distinct
/// trusted transparency logs must prove that the release is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TransparencyRules {
    /// Distinct logs of the trust store whose proof, carried by the
    /// bundle, verified for its release envelope (≥ 1; default
    /// [`DEFAULT_LOGS`]).
    #[serde(default = "default_logs")]
    pub logs: usize,
    /// Distinct witnesses of the trust store whose cosignature of a log's
    /// checkpoint verified: a log counts toward `logs` only when its
    /// proof's checkpoint carries at least this many (k of the n the trust
    /// store lists; default 0, none).
    #[serde(default)]
    pub witnesses: usize,
}

/// Logs required when the `transparency` section does not say: two, so no
/// single log operator can vouch for a release alone.
pub const DEFAULT_LOGS: usize = 2;

fn default_logs() -> usize {
    DEFAULT_LOGS
}

/// The `revocation` section (spec/policy.md §1.8): how old the host's
/// signed revocation list may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationRules {
    /// Refuse every bundle while the revocation list in force was issued
    /// more than this many hours ago, or while none is installed (≥ 1).
    pub max_age_hours: u64,
}

/// A pin: the only image a package may be, and optionally who must have signed it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The image manifest digest.
    pub digest: Digest,
    /// Key ids or fingerprints that must all be among the counted signers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signers: Option<Vec<String>>,
}

/// The `time` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRules {
    /// Refuse bundles built more than this many days before now (≥ 1).
    pub max_age_days: u64,
}

/// The document as written. Private: only [`DeploymentPolicy::from_json`]
/// turns one into a policy, after checking it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Document {
    pub(crate) version: String,
    #[serde(default = "deny")]
    pub(crate) default_action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) signers: Option<Signers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) registries: Option<Registries>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) require_attestations: Option<RequireAttestations>,
    #[serde(default, deserialize_with = "unique_map", skip_serializing_if = "Option::is_none")]
    pub(crate) pin: Option<BTreeMap<String, Pin>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) time: Option<TimeRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) transparency: Option<TransparencyRules>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revocation: Option<RevocationRules>,
}

fn deny() -> Action {
    Action::Deny
}

/// A JSON object into a map, refusing a repeated member name (which a plain
/// map would resolve silently by keeping the last).
fn unique_map<'de, D, T>(d: D) -> Result<Option<BTreeMap<String, T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<BTreeMap<String, T>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object mapping package names to pins, or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = m.next_entry::<String, T>()? {
                if out.contains_key(&k) {
                    return Err(de::Error::custom(format!("duplicate pin {k:?}")));
                }
                out.insert(k, v);
            }
            Ok(Some(out))
        }
    }
    d.deserialize_option(V(PhantomData))
}

impl Document {
    /// Every load-time refusal of `spec/policy.md` §3 that the types alone
    /// do not enforce. The message names the field.
    fn check(&self) -> Result<(), String> {
        if self.version != "1" {
            return Err(format!("version {:?} is not supported (expected \"1\")", self.version));
        }
        if let Some(s) = &self.signers {
            if s.threshold == Some(0) {
                return Err("signers.threshold must be at least 1".into());
            }
            if s.threshold.is_some() && s.threshold_from.is_some() {
                return Err(
                    "signers.threshold and signers.threshold_from are both given: use one (threshold_from takes the group's threshold)"
                        .into(),
                );
            }
            if let Some(g) = &s.threshold_from {
                if validate_key_id(g).is_err() {
                    return Err(format!("signers.threshold_from {g:?} is not a group name"));
                }
            }
            match &s.allowed {
                Some(a) if a.is_empty() => return Err("signers.allowed is empty: no signature could ever count".into()),
                None if s.threshold_from.is_none() => {
                    return Err("signers needs allowed or threshold_from: no signature could ever count".into())
                }
                _ => {}
            }
            for (i, m) in s.allowed.iter().flatten().enumerate() {
                check_matcher(
                    &format!("signers.allowed[{i}]"),
                    m.key_id.as_deref(),
                    m.fingerprint.as_deref(),
                )?;
            }
            for (i, m) in s.denied.iter().enumerate() {
                let at = format!("signers.denied[{i}]");
                check_matcher(&at, m.key_id.as_deref(), m.fingerprint.as_deref())?;
                if let (Some(a), Some(b)) = (m.after, m.before) {
                    if a >= b {
                        return Err(format!(
                            "{at}: after {a} is not earlier than before {b}: the entry could never apply"
                        ));
                    }
                }
            }
        }
        if let Some(r) = &self.registries {
            if r.allowed.is_none() && r.blocked.is_empty() {
                return Err("registries names no allowed or blocked pattern".into());
            }
            if r.allowed.as_ref().is_some_and(Vec::is_empty) {
                return Err("registries.allowed is empty: no image could ever be allowed".into());
            }
            for (field, list) in [
                ("allowed", r.allowed.as_deref().unwrap_or_default()),
                ("blocked", r.blocked.as_slice()),
            ] {
                if let Some(i) = list.iter().position(String::is_empty) {
                    return Err(format!("registries.{field}[{i}] is an empty pattern"));
                }
            }
        }
        for (name, pin) in self.pin.iter().flatten() {
            if validate_name(name).is_err() {
                return Err(format!(
                    "pin {name:?} is not a package name (^[a-z][a-z0-9+.-]{{1,127}}$, see spec/manifest-format.md)"
                ));
            }
            if let Some(signers) = &pin.signers {
                if signers.is_empty() {
                    return Err(format!("pin.{name}.signers is empty: omit it to pin the digest only"));
                }
                if let Some(bad) = signers.iter().find(|s| validate_key_id(s).is_err()) {
                    return Err(format!(
                        "pin.{name}.signers: {bad:?} is neither a key id nor a fingerprint"
                    ));
                }
            }
        }
        if self.time.is_some_and(|t| t.max_age_days == 0) {
            return Err("time.max_age_days must be at least 1".into());
        }
        if self.revocation.is_some_and(|r| r.max_age_hours == 0) {
            return Err("revocation.max_age_hours must be at least 1".into());
        }
        // Hours to seconds must not overflow (ten thousand years is plenty).
        if self.revocation.is_some_and(|r| r.max_age_hours > 87_600_000) {
            return Err("revocation.max_age_hours must be at most 87600000".into());
        }
        if self.transparency.is_some_and(|t| t.logs == 0) {
            return Err("transparency.logs must be at least 1: omit the section to require no log".into());
        }
        if let Some(r) = self.require_attestations.as_ref().and_then(|r| r.rebuilt_by.as_ref()) {
            let max = cerro_core::rebuild::MAX_REBUILDS;
            if r.threshold == 0 {
                return Err("require_attestations.rebuilt_by.threshold must be at least 1".into());
            }
            if r.threshold > max {
                return Err(format!(
                    "require_attestations.rebuilt_by.threshold {} is more than the {max} rebuild attestations a bundle may carry: it could never be met",
                    r.threshold
                ));
            }
            if r.signers.is_empty() {
                return Err("require_attestations.rebuilt_by.signers is empty: no rebuild could ever count".into());
            }
            for (i, m) in r.signers.iter().enumerate() {
                check_matcher(
                    &format!("require_attestations.rebuilt_by.signers[{i}]"),
                    m.key_id.as_deref(),
                    m.fingerprint.as_deref(),
                )?;
            }
        }
        if self.transparency.is_some() && self.require_attestations.as_ref().is_some_and(|r| r.transparency_log) {
            return Err(
                "require_attestations.transparency_log and transparency are both given: use transparency.logs alone"
                    .into(),
            );
        }
        Ok(())
    }

    /// Makes the defaults explicit, so the normalised form means the same
    /// when read back.
    fn normalise(&mut self) {
        if let Some(r) = &mut self.require_attestations {
            if r.transparency_log {
                r.transparency_log = false;
                self.transparency = Some(TransparencyRules {
                    logs: DEFAULT_LOGS,
                    witnesses: 0,
                });
            }
        }
        if let Some(s) = &mut self.signers {
            if s.threshold.is_none() && s.threshold_from.is_none() {
                s.threshold = Some(1);
            }
        }
    }
}

/// A deployment policy, version "1", checked when loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DeploymentPolicy(pub(crate) Document);

impl DeploymentPolicy {
    /// Parses and checks a policy document. `name` labels errors (usually
    /// the file name). Refuses unknown or repeated fields, wrong types, and
    /// everything listed in `spec/policy.md` §3.
    pub fn from_json(name: &str, bytes: &[u8]) -> Result<Self, PolicyError> {
        let invalid = |reason: String| PolicyError::Invalid {
            source_name: name.to_owned(),
            reason,
        };
        let mut doc: Document = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        doc.check().map_err(invalid)?;
        doc.normalise();
        Ok(DeploymentPolicy(doc))
    }

    /// The normalised document (defaults explicit, dates in UTC), pretty
    /// printed. [`DeploymentPolicy::from_json`] reads it back to an equal policy.
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain structs, strings and integers cannot fail.
        serde_json::to_string_pretty(&self.0).unwrap_or_default()
    }

    /// The decision when there is no signer rule.
    pub fn default_action(&self) -> Action {
        self.0.default_action
    }

    /// The `signers` section.
    pub fn signers(&self) -> Option<&Signers> {
        self.0.signers.as_ref()
    }

    /// The `registries` section.
    pub fn registries(&self) -> Option<&Registries> {
        self.0.registries.as_ref()
    }

    /// The `revocation` section.
    pub fn revocation(&self) -> Option<&RevocationRules> {
        self.0.revocation.as_ref()
    }

    /// The `transparency` section (after loading, also what
    /// `require_attestations.transparency_log: true` asked for).
    pub fn transparency(&self) -> Option<&TransparencyRules> {
        self.0.transparency.as_ref()
    }

    /// The `require_attestations` section.
    pub fn require_attestations(&self) -> Option<&RequireAttestations> {
        self.0.require_attestations.as_ref()
    }

    /// The pins, by package name.
    pub fn pins(&self) -> Option<&BTreeMap<String, Pin>> {
        self.0.pin.as_ref()
    }

    /// The `time` section.
    pub fn time(&self) -> Option<&TimeRules> {
        self.0.time.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "0bf8982d5ee49723070229e068c53c3c68ef71d9c8d58dd9d11ddb5ee086122a";

    fn load(doc: &str) -> Result<DeploymentPolicy, String> {
        DeploymentPolicy::from_json("p", doc.as_bytes()).map_err(|e| e.to_string())
    }

    /// `revocation.max_age_hours` (spec/policy.md §1.8): the bound core's
    /// `verify` enforces, in seconds; 0 and absurd values refused.
    #[test]
    fn revocation_bounds_the_lists_age() {
        use cerro_core::policy_interface::Policy as _;
        let p = load(r#"{"version":"1","revocation":{"max_age_hours":24}}"#).unwrap();
        assert_eq!(p.revocation().unwrap().max_age_hours, 24);
        assert_eq!(p.revocation_max_age(), Some(86_400));
        assert_eq!(load(r#"{"version":"1"}"#).unwrap().revocation_max_age(), None);
        for (bad, why) in [
            (r#"{"version":"1","revocation":{"max_age_hours":0}}"#, "at least 1"),
            (r#"{"version":"1","revocation":{"max_age_hours":87600001}}"#, "at most"),
            (r#"{"version":"1","revocation":{}}"#, "max_age_hours"),
            (
                r#"{"version":"1","revocation":{"max_age_hours":1,"max_age_hours":2}}"#,
                "duplicate",
            ),
        ] {
            let e = load(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        // The normalised form reads back to the same policy.
        let shown = serde_json::to_vec(&p).unwrap();
        assert_eq!(DeploymentPolicy::from_json("p", &shown).unwrap(), p);
    }

    #[test]
    fn good_documents_load_and_normalise() {
        let p = load(r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}]}}"#).unwrap();
        assert_eq!(p.signers().unwrap().threshold, Some(1));
        assert_eq!(p.default_action(), Action::Deny);
        let full = format!(
            r#"{{"version":"1","default_action":"allow",
            "signers":{{"allowed":[{{"key_id":"rel-*","required":true}},{{"fingerprint":"{FP}"}}],
                        "denied":[{{"key_id":"old","after":"2025-06-01T02:00:00+02:00","before":"2026-01-01T00:00:00Z"}}],
                        "threshold_from":"release","min_trust":"marginal"}},
            "registries":{{"allowed":["registry.example.org/*"],"blocked":["registry.example.org/tmp/*"]}},
            "require_attestations":{{"provenance":true,"sbom":true,"transparency_log":false}},
            "pin":{{"hello":{{"digest":"sha256:{FP}","signers":["alice","{FP}"]}}}},
            "time":{{"max_age_days":30}}}}"#
        );
        let p = load(&full).unwrap();
        let s = p.signers().unwrap();
        assert_eq!(s.threshold, None, "threshold_from stays alone");
        assert_eq!(s.denied[0].after, Some(Timestamp(1_748_736_000)));
        let text = p.to_json_pretty();
        assert!(text.contains("\"after\": \"2025-06-01T00:00:00Z\""), "{text}");
        assert_eq!(load(&text).unwrap(), p, "the normalised form reads back");
        // Null sections are absent sections.
        let p = load(r#"{"version":"1","signers":null,"registries":null,"pin":null,"time":null}"#).unwrap();
        assert!(p.signers().is_none() && p.pins().is_none());
    }

    #[test]
    fn ambiguous_documents_are_refused() {
        let fp = FP;
        for (doc, want) in [
            (r#"{"version":"2"}"#.to_string(), "not supported"),
            (r#"{"version":1}"#.into(), "invalid type"),
            (r#"{"version":"1","surprise":true}"#.into(), "unknown field"),
            (r#"{"version":"1","default_action":"maybe"}"#.into(), "unknown variant"),
            (r#"{"version":"1","version":"1"}"#.into(), "duplicate field"),
            ("not json".into(), "expected"),
            (r#"{"version":"1","signers":{"allowed":[],"threshold":1}}"#.into(), "signers.allowed is empty"),
            (r#"{"version":"1","signers":{"threshold":1}}"#.into(), "needs allowed or threshold_from"),
            (r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}],"threshold":0}}"#.into(), "at least 1"),
            (r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}],"threshold":1.0}}"#.into(), "invalid type"),
            (r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}],"threshold":2,"threshold_from":"g"}}"#.into(), "both given"),
            (r#"{"version":"1","signers":{"threshold_from":"../g"}}"#.into(), "not a group name"),
            (r#"{"version":"1","signers":{"allowed":[{}]}}"#.into(), "signers.allowed[0]: a signer entry needs"),
            (r#"{"version":"1","signers":{"allowed":[{"fingerprint":"xyz"}]}}"#.into(), "64 lowercase hex"),
            (r#"{"version":"1","signers":{"allowed":[{"key_id":"a","after":"2025-01-01T00:00:00Z"}]}}"#.into(), "unknown field `after`"),
            (r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":[{"key_id":"b","required":true}]}}"#.into(), "unknown field `required`"),
            (r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":[{"key_id":"b","after":"2025-01-01"}]}}"#.into(), "RFC 3339"),
            (r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":[{"key_id":"b","after":"2026-01-01T00:00:00Z","before":"2025-01-01T00:00:00Z"}]}}"#.into(), "could never apply"),
            (r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"min_trust":"total"}}"#.into(), "unknown variant"),
            (r#"{"version":"1","registries":{}}"#.into(), "no allowed or blocked"),
            (r#"{"version":"1","registries":{"allowed":[]}}"#.into(), "registries.allowed is empty"),
            (r#"{"version":"1","registries":{"blocked":[""]}}"#.into(), "registries.blocked[0] is an empty pattern"),
            (r#"{"version":"1","registries":{"allowed":["*"],"mirrors":[]}}"#.into(), "unknown field"),
            (r#"{"version":"1","require_attestations":{"provenance":true,"vex":true}}"#.into(), "unknown field `vex`"),
            (r#"{"version":"1","require_attestations":{"sbom":"yes"}}"#.into(), "invalid type"),
            (r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":0,"signers":[{"key_id":"r*"}]}}}"#.into(), "rebuilt_by.threshold must be at least 1"),
            (r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":17,"signers":[{"key_id":"r*"}]}}}"#.into(), "could never be met"),
            (r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1,"signers":[]}}}"#.into(), "rebuilt_by.signers is empty"),
            (r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1}}}"#.into(), "missing field `signers`"),
            (r#"{"version":"1","require_attestations":{"rebuilt_by":{"signers":[{"key_id":"r"}]}}}"#.into(), "missing field `threshold`"),
            (r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1,"signers":[{}]}}}"#.into(), "rebuilt_by.signers[0]: a signer entry needs"),
            (r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1,"signers":[{"fingerprint":"ab"}]}}}"#.into(), "64 lowercase hex"),
            (r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1,"signers":[{"key_id":"r"}],"quorum":2}}}"#.into(), "unknown field `quorum`"),
            (r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1,"threshold":2,"signers":[{"key_id":"r"}]}}}"#.into(), "duplicate field"),
            (format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"sha256:{}"}}}}}}"#, &fp[..60]), "not sha256:<64 lowercase hex>"),
            (format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"sha512:{fp}"}}}}}}"#), "not a sha256 digest"),
            (r#"{"version":"1","pin":{"hello":{}}}"#.into(), "missing field `digest`"),
            (format!(r#"{{"version":"1","pin":{{"Hello":{{"digest":"sha256:{fp}"}}}}}}"#), "not a package name"),
            (format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"sha256:{fp}","signers":[]}}}}}}"#), "signers is empty"),
            (format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"sha256:{fp}","signers":["a b"]}}}}}}"#), "neither a key id"),
            (format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"sha256:{fp}"}},"hello":{{"digest":"sha256:{fp}"}}}}}}"#), "duplicate pin"),
            (r#"{"version":"1","time":{"max_age_days":0}}"#.into(), "at least 1"),
            (r#"{"version":"1","time":{}}"#.into(), "missing field `max_age_days`"),
            (r#"{"version":"1","time":{"max_age_days":-1}}"#.into(), "invalid value"),
        ] {
            match load(&doc) {
                Ok(_) => panic!("accepted: {doc}"),
                Err(e) => assert!(e.contains(want), "{doc}\n  gave: {e}\n  want: {want}"),
            }
        }
    }
}
