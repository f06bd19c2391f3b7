//! `cerro-policy`: the deployment policy engine.
//!
//! A policy is a JSON document (`spec/policy.md`, schema in
//! `spec/policy.schema.json`) saying which verified bundles may be used on a
//! host. It is consulted by `cerro_core::verify::verify` after every
//! cryptographic and baseline trust check has passed, through the
//! `cerro_core::policy_interface::Policy` trait, so `ct verify`, `ct explain`,
//! `ct unpack`, the shim and the hook decide alike.
//!
//! Rules (checked in one fixed order, the first failure decides, see
//! [`evaluate`]): required attestations, registries, pinned digests, build
//! age, signers (allow/deny lists, dated denials, thresholds and the trust
//! store's threshold groups, required signers), pinned signers, and the
//! default action. Signers are counted only through
//! `cerro_core::trust::TrustStore::tally`, the one threshold routine; this
//! crate passes it filters and never counts by itself.
//!
//! Boundaries: no I/O, no clock. The document comes in as bytes, the time as
//! `PolicyInput::now`. A policy that could not mean what its author intended
//! is refused when it is loaded ([`DeploymentPolicy::from_json`]), never at
//! evaluation; at evaluation, anything the engine cannot establish (a group
//! the trust store lacks, a bundle without a build time) refuses.

mod document;
pub mod evaluate;
mod summary;

pub use document::{
    Action, AllowedSigner, Denial, DeniedSigner, DeploymentPolicy, Pin, RebuiltBy, Registries, RequireAttestations,
    Signers, TimeRules, Timestamp,
};

/// The predicate types the policy looks for (`require_attestations`, the
/// build time and image references from provenance): the ones `ct pack` writes.
pub use cerro_core::statement::{CYCLONEDX_BOM, SLSA_PROVENANCE_V1, SPDX_DOCUMENT};

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

impl PolicyError {
    /// The variant's kind, for the one exit-code table (`cerro_core::Kind::row`).
    pub fn kind(&self) -> cerro_core::Kind {
        match self {
            PolicyError::Invalid { .. } => cerro_core::Kind::InvalidPolicy,
        }
    }
}

impl From<PolicyError> for cerro_core::Error {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Invalid { source_name, reason } => cerro_core::Error::InvalidPolicy { source_name, reason },
        }
    }
}

/// Glob match with `*` (any run of characters, including `/` and none) and
/// `?` (exactly one character); every other character matches only itself.
/// Used for key ids and image references alike, so one syntax is learnt.
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

    /// An invalid policy exits 78 (configuration) through the one table,
    /// as a `cerro_core::Error` too, and keeps its message.
    #[test]
    fn an_invalid_policy_maps_through_the_one_table() {
        let e = PolicyError::Invalid {
            source_name: "p.json".into(),
            reason: "not JSON".into(),
        };
        assert_eq!(e.kind().exit_code(), cerro_core::ExitCode::Config);
        let text = e.to_string();
        let core = cerro_core::Error::from(e);
        assert_eq!((core.kind(), core.to_string()), (cerro_core::Kind::InvalidPolicy, text));
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("release-*", "release-2026"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("*-key-*", "ops-key-1"));
        assert!(glob_match(
            "registry.example.org/*",
            "registry.example.org/team/app:1.0"
        ));
        assert!(!glob_match("release-*", "debug-1"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "x"));
    }
}
