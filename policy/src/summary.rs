//! A policy in one English paragraph (`ct policy show`), written from the
//! parsed document so it cannot drift from what the engine enforces.

use crate::document::{Action, AllowedSigner, DeniedSigner, DeploymentPolicy};
use crate::SLSA_PROVENANCE_V1;

fn list(items: &[String], joiner: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {joiner} {last}", init.join(", ")),
    }
}

fn quoted(globs: &[String]) -> Vec<String> {
    globs.iter().map(|g| format!("\"{g}\"")).collect()
}

fn who(key_id: Option<&str>, fingerprint: Option<&str>) -> String {
    let mut names = Vec::new();
    if let Some(g) = key_id {
        names.push(format!("key id \"{g}\""));
    }
    if let Some(f) = fingerprint {
        names.push(format!("fingerprint {}…", f.get(..16).unwrap_or(f)));
    }
    names.join(" or ")
}

fn allowed(a: &AllowedSigner) -> String {
    who(a.key_id.as_deref(), a.fingerprint.as_deref())
}

fn denied(d: &DeniedSigner) -> String {
    let mut s = who(d.key_id.as_deref(), d.fingerprint.as_deref());
    match (d.after, d.before) {
        (Some(a), Some(b)) => s.push_str(&format!(" for bundles built from {a} until before {b}")),
        (Some(a), None) => s.push_str(&format!(" for bundles built at or after {a}")),
        (None, Some(b)) => s.push_str(&format!(" for bundles built before {b}")),
        (None, None) => {}
    }
    s
}

impl DeploymentPolicy {
    /// One paragraph saying what the policy allows, rule by rule in the
    /// order they are checked.
    pub fn summary(&self) -> String {
        let d = &self.0;
        let mut s: Vec<String> = Vec::new();
        if let Some(r) = &d.require_attestations {
            let mut need = Vec::new();
            if r.provenance {
                need.push(format!("SLSA provenance ({SLSA_PROVENANCE_V1})"));
            }
            if r.sbom {
                need.push("an SBOM (SPDX or CycloneDX)".to_owned());
            }
            if !need.is_empty() {
                s.push(format!("A bundle must carry {}.", list(&need, "and")));
            }
            if let Some(rb) = &r.rebuilt_by {
                let names: Vec<String> = rb.signers.iter().map(allowed).collect();
                s.push(format!(
                    "At least {} distinct key(s) among {}, each trusted at least {}, must have rebuilt this very release and signed that they got the same config and layers (rebuild attestations in the bundle).",
                    rb.threshold,
                    list(&names, "or"),
                    rb.min_trust
                ));
            }
        }
        if let Some(t) = &d.transparency {
            s.push(format!(
                "Its release must be proven logged by {} distinct transparency log(s) of the trust store (proofs carried in the bundle, verified offline){}.",
                t.logs,
                if t.witnesses > 0 {
                    format!(
                        ", each checkpoint cosigned by at least {} distinct witness(es) of the trust store",
                        t.witnesses
                    )
                } else {
                    String::new()
                }
            ));
        }
        if let Some(r) = &d.revocation {
            s.push(format!(
                "Nothing verifies while the host's signed revocation list is missing or was issued more than {} hour(s) ago.",
                r.max_age_hours
            ));
        }
        if let Some(r) = &d.registries {
            let mut parts = Vec::new();
            if let Some(a) = &r.allowed {
                parts.push(format!("match {}", list(&quoted(a), "or")));
            }
            if !r.blocked.is_empty() {
                parts.push(format!("match none of {}", list(&quoted(&r.blocked), "or")));
            }
            s.push(format!(
                "Every image reference it names (from its provenance, else its own ref.name) must {}.",
                parts.join(" and ")
            ));
        }
        for (name, pin) in d.pin.iter().flatten() {
            let by = pin
                .signers
                .as_ref()
                .map(|v| format!(", signed by {}", list(v, "and")))
                .unwrap_or_default();
            s.push(format!("Package {name} must be image {}{by}.", pin.digest));
        }
        if let Some(t) = &d.time {
            s.push(format!(
                "It must have been built within the last {} day(s) (the finishedOn of its signed SLSA provenance); a bundle without a build time is refused.",
                t.max_age_days
            ));
        }
        match &d.signers {
            Some(sg) => {
                let count = match (&sg.threshold_from, sg.threshold) {
                    (Some(g), _) => format!("as many distinct keys of trust-store group {g} as its threshold requires"),
                    (None, n) => format!("at least {} distinct key(s)", n.unwrap_or(1)),
                };
                let mut line = format!(
                    "Its release attestation must be signed by {count}, each trusted at least {}",
                    sg.min_trust
                );
                if let Some(a) = &sg.allowed {
                    let names: Vec<String> = a.iter().map(allowed).collect();
                    line.push_str(&format!(" and matching {}", list(&names, "or")));
                }
                if !sg.denied.is_empty() {
                    let names: Vec<String> = sg.denied.iter().map(denied).collect();
                    line.push_str(&format!(", not counting {}", list(&names, "or")));
                }
                let required: Vec<String> = sg.allowed.iter().flatten().filter(|a| a.required).map(allowed).collect();
                if !required.is_empty() {
                    line.push_str(&format!("; among them must be {}", list(&required, "and")));
                }
                line.push_str(". Unknown, revoked, expired and not-yet-valid keys never count, and each key counts once.");
                s.push(line);
                s.push("When all of this holds the bundle is allowed; the first rule that fails refuses it (exit 4).".into());
            }
            None => s.push(match d.default_action {
                Action::Allow => "It has no signer rule, so a bundle that passes the rules above (and the baseline: one fully trusted signer) is allowed.".into(),
                Action::Deny => "It has no signer rule and default_action is deny, so every bundle is refused.".into(),
            }),
        }
        s.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use crate::DeploymentPolicy;

    #[test]
    fn summaries_name_every_rule() {
        let p = DeploymentPolicy::from_json(
            "p",
            br#"{"version":"1","signers":{"allowed":[{"key_id":"rel-*","required":true},{"key_id":"ops"}],
                "denied":[{"key_id":"old","after":"2025-01-01T00:00:00Z"}],"threshold":2},
                "registries":{"allowed":["r.example/*"],"blocked":["r.example/tmp/*"]},
                "require_attestations":{"provenance":true,"sbom":true,
                    "rebuilt_by":{"threshold":2,"signers":[{"key_id":"rb-*"},{"key_id":"ci"}],"min_trust":"marginal"}},
                "time":{"max_age_days":30}}"#,
        )
        .unwrap();
        let s = p.summary();
        for want in [
            "SLSA provenance",
            "an SBOM",
            "\"r.example/*\"",
            "none of \"r.example/tmp/*\"",
            "last 30 day(s)",
            "at least 2 distinct key(s)",
            "key id \"rel-*\" or key id \"ops\"",
            "not counting key id \"old\" for bundles built at or after 2025-01-01T00:00:00Z",
            "among them must be key id \"rel-*\"",
            "At least 2 distinct key(s) among key id \"rb-*\" or key id \"ci\", each trusted at least marginal, must have rebuilt this very release",
        ] {
            assert!(s.contains(want), "{want:?} not in: {s}");
        }
        let deny = DeploymentPolicy::from_json("p", br#"{"version":"1"}"#).unwrap();
        assert!(deny.summary().contains("every bundle is refused"));
    }
}
