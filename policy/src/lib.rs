//! `cerro-policy`: the deployment policy engine.
//!
//! A policy is a JSON document (`spec/policy.md`) saying which bundles may
//! be used on a host. This first version decides on signers: which keys may
//! count (`signers.allowed` / `signers.denied`, by key-id glob or
//! fingerprint), how far they must be trusted (`signers.min_trust`) and how
//! many distinct ones are needed (`signers.threshold`). Counting goes through
//! `cerro_core::trust::TrustStore::tally`, the one threshold routine, so the
//! CLI, the shim and the hook count exactly alike.
//!
//! A policy that could not mean what its author intended is refused when it
//! is loaded: unknown fields, a zero threshold, an empty allow list.

use cerro_core::policy::{Policy, PolicyDecision, PolicyInput};
use cerro_core::trust::{KeyEntry, TrustLevel};
use serde::Deserialize;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The document is not a valid policy.
    #[error("invalid policy {source_name}: {reason}")]
    Invalid {
        /// File name or other label.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<PolicyError> for cerro_core::Error {
    fn from(e: PolicyError) -> Self {
        cerro_core::Error::Config(e.to_string())
    }
}

/// What to do when no rule decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Use the bundle.
    Allow,
    /// Refuse it.
    Deny,
}

/// A signer selector: a key-id glob (`*`, `?`) or an exact fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerMatch {
    /// Glob over local key ids.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Exact SHA-256 fingerprint (64 hex).
    #[serde(default)]
    pub fingerprint: Option<String>,
}

impl SignerMatch {
    fn matches(&self, key: &KeyEntry) -> bool {
        self.key_id.as_deref().is_some_and(|g| glob_match(g, &key.id))
            || self
                .fingerprint
                .as_deref()
                .is_some_and(|f| f == key.fingerprint.to_hex())
    }
}

/// The `signers` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signers {
    /// Keys that may count. Required and non-empty.
    pub allowed: Vec<SignerMatch>,
    /// Keys that never count, even if allowed.
    #[serde(default)]
    pub denied: Vec<SignerMatch>,
    /// Distinct counting keys required (≥ 1).
    #[serde(default = "one")]
    pub threshold: usize,
    /// Minimum trust level of a counting key (default `full`).
    #[serde(default = "full")]
    pub min_trust: TrustLevel,
}

fn one() -> usize {
    1
}
fn full() -> TrustLevel {
    TrustLevel::Full
}

/// A deployment policy, version "1".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentPolicy {
    /// Must be `"1"`.
    pub version: String,
    /// Decision when no rule decides (default deny).
    #[serde(default = "deny")]
    pub default_action: Action,
    /// Signer rules.
    #[serde(default)]
    pub signers: Option<Signers>,
}

fn deny() -> Action {
    Action::Deny
}

impl DeploymentPolicy {
    /// Parses and validates a policy document. `name` labels errors.
    pub fn from_json(name: &str, bytes: &[u8]) -> Result<Self, PolicyError> {
        let invalid = |reason: String| PolicyError::Invalid {
            source_name: name.to_owned(),
            reason,
        };
        let p: DeploymentPolicy = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if p.version != "1" {
            return Err(invalid(format!(
                "version {:?} is not supported (expected \"1\")",
                p.version
            )));
        }
        if let Some(s) = &p.signers {
            if s.threshold == 0 {
                return Err(invalid("signers.threshold must be at least 1".into()));
            }
            if s.allowed.is_empty() {
                return Err(invalid(
                    "signers.allowed is empty: no signature could ever count".into(),
                ));
            }
            for m in s.allowed.iter().chain(&s.denied) {
                match (&m.key_id, &m.fingerprint) {
                    (None, None) => return Err(invalid("a signer entry needs key_id or fingerprint".into())),
                    (_, Some(f)) if cerro_core::trust::Fingerprint::from_hex(f).is_none() => {
                        return Err(invalid(format!("fingerprint {f:?} is not 64 lowercase hex digits")))
                    }
                    _ => {}
                }
            }
        }
        Ok(p)
    }
}

impl Policy for DeploymentPolicy {
    fn evaluate(&self, input: &PolicyInput<'_>) -> PolicyDecision {
        let Some(s) = &self.signers else {
            return PolicyDecision {
                allowed: self.default_action == Action::Allow,
                rule: "default_action".into(),
                reason: format!(
                    "no rule applies; default_action is {}",
                    if self.default_action == Action::Allow {
                        "allow"
                    } else {
                        "deny"
                    }
                ),
            };
        };
        let filter = |k: &KeyEntry| -> Option<String> {
            if s.denied.iter().any(|m| m.matches(k)) {
                Some("signers.denied".into())
            } else if !s.allowed.iter().any(|m| m.matches(k)) {
                Some("signers.allowed (no entry matches)".into())
            } else {
                None
            }
        };
        let tally = input.trust.tally(input.signers, input.now, s.min_trust, &filter);
        PolicyDecision {
            allowed: tally.counted >= s.threshold,
            rule: "signers.threshold".into(),
            reason: format!(
                "{} of {} required distinct signer(s) allowed and trusted at least {}{}",
                tally.counted,
                s.threshold,
                s.min_trust,
                tally.explain_uncounted()
            ),
        }
    }
}

/// Glob match with `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("release-*", "release-2026"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("*-key-*", "ops-key-1"));
        assert!(!glob_match("release-*", "debug-1"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "x"));
    }

    #[test]
    fn documents_are_checked() {
        let ok = br#"{"version":"1","default_action":"deny","signers":{"allowed":[{"key_id":"*"}],"threshold":2}}"#;
        let p = DeploymentPolicy::from_json("p", ok).unwrap();
        assert_eq!(p.signers.unwrap().threshold, 2);
        for bad in [
            &br#"{"version":"2"}"#[..],
            br#"{"version":"1","signers":{"allowed":[],"threshold":1}}"#,
            br#"{"version":"1","signers":{"allowed":[{"key_id":"*"}],"threshold":0}}"#,
            br#"{"version":"1","signers":{"allowed":[{}]}}"#,
            br#"{"version":"1","signers":{"allowed":[{"fingerprint":"xyz"}]}}"#,
            br#"{"version":"1","surprise":true}"#,
            br#"{"version":"1","default_action":"maybe"}"#,
            b"not json",
        ] {
            assert!(
                DeploymentPolicy::from_json("p", bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
