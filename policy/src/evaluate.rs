//! Evaluation: every rule the policy has, in one fixed order; the first
//! that fails decides, and its name is the decision's `rule`.
//!
//! 1. `require_attestations.provenance`, `.sbom`, `.rebuilt_by` (distinct
//!    rebuilder keys whose rebuild attestation verified for this release,
//!    through `TrustStore::tally`; then `.rebuilt_by.signers[i].required`),
//!    then `transparency.logs` (distinct trusted logs whose proof
//!    verified, counted by core's verification)
//! 2. `registries.blocked`, then `registries.allowed`
//! 3. `pin.NAME.digest` (only for a pinned package name)
//! 4. `time.max_age_days`
//! 5. `signers`: `signers.threshold_from` (the group exists), then the count
//!    through `TrustStore::tally` (`signers.denied[i]` when a dated denial
//!    names a signer of a bundle without a build time; else
//!    `signers.threshold` or `signers.threshold_from` when too few keys
//!    count), then `signers.allowed[i].required`
//! 6. `pin.NAME.signers`
//! 7. all passed: with a `signers` section, allow, naming its threshold
//!    rule; without one, `default_action` decides.
//!
//! Cheap structural rules come first so a refusal names the most basic
//! problem; pinned signers come after the count because they are checked
//! against the keys it counted.

use std::cell::RefCell;
use std::collections::BTreeSet;

use cerro_core::bundle::{Bundle, RELEASE_ATTESTATION};
use cerro_core::policy_interface::{Policy, PolicyDecision, PolicyInput};
use cerro_core::timestamp::{format_rfc3339, parse_rfc3339};
use cerro_core::trust::{Fingerprint, KeyEntry, Tally, TallyTime};
use cerro_core::verify::BASELINE_LEVEL;
use serde_json::Value;

use crate::document::{Action, Denial, DeploymentPolicy, RebuiltBy};
use crate::{glob_match, CYCLONEDX_BOM, SLSA_PROVENANCE_V1, SPDX_DOCUMENT};

const DAY: u64 = 86_400;

/// What the rules look at, read once from a bundle whose attestations have
/// all been verified (signatures, trusted signer, subject = this image).
#[derive(Debug, Clone)]
pub struct Facts {
    /// `predicateType` of every attestation other than the release one.
    pub predicate_types: Vec<String>,
    /// The build time in Unix seconds, from the signed SLSA provenance's
    /// `finishedOn`, or why there is none (a full sentence).
    pub build_time: Result<u64, String>,
    /// The image references registry rules match, deduplicated.
    pub references: Vec<String>,
    /// Where `references` came from.
    pub references_from: &'static str,
}

impl Facts {
    /// Reads the facts of `bundle`.
    ///
    /// Build time: the SLSA provenance `finishedOn` if the provenance gives
    /// one other than the epoch (several provenance statements must agree;
    /// an unreadable date is no time), else none. Only the provenance counts
    /// because it is signed: the members' tar mtime is outside every signed
    /// digest, so anyone could rewrite it without breaking verification.
    ///
    /// References: every `docker://` or `oci://` URI among the provenance's
    /// `buildDefinition.resolvedDependencies` (scheme removed); if there is
    /// none, the bundle's own `org.opencontainers.image.ref.name`.
    pub fn gather(bundle: &Bundle) -> Facts {
        let statements: Vec<Value> = bundle
            .attestations
            .iter()
            .filter(|a| a.path != RELEASE_ATTESTATION)
            .filter_map(|a| serde_json::from_slice(&a.envelope.payload).ok())
            .collect();
        let predicate_types = statements
            .iter()
            .filter_map(|s| s.get("predicateType").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let provenance: Vec<&Value> = statements
            .iter()
            .filter(|s| s.get("predicateType").and_then(Value::as_str) == Some(SLSA_PROVENANCE_V1))
            .collect();

        let mut references: Vec<String> = Vec::new();
        for p in &provenance {
            let deps = p
                .pointer("/predicate/buildDefinition/resolvedDependencies")
                .and_then(Value::as_array);
            for uri in deps
                .into_iter()
                .flatten()
                .filter_map(|d| d.get("uri").and_then(Value::as_str))
            {
                if let Some(r) = uri.strip_prefix("docker://").or_else(|| uri.strip_prefix("oci://")) {
                    if !references.iter().any(|x| x == r) {
                        references.push(r.to_owned());
                    }
                }
            }
        }
        let references_from = if !references.is_empty() {
            "from the provenance's resolvedDependencies"
        } else if let Some(r) = &bundle.reference {
            references.push(r.clone());
            "the bundle's org.opencontainers.image.ref.name"
        } else {
            "none"
        };

        Facts {
            predicate_types,
            build_time: build_time(&provenance),
            references,
            references_from,
        }
    }

    fn has(&self, types: &[&str]) -> bool {
        self.predicate_types.iter().any(|t| types.contains(&t.as_str()))
    }
}

fn build_time(provenance: &[&Value]) -> Result<u64, String> {
    const NONE: &str = "the bundle has no build time";
    let mut times = BTreeSet::new();
    for p in provenance {
        match p.pointer("/predicate/runDetails/metadata/finishedOn") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => match parse_rfc3339(s) {
                // The epoch is what a build without SOURCE_DATE_EPOCH
                // writes: no time.
                Some(0) => {}
                Some(t) => {
                    times.insert(t);
                }
                None => return Err(format!("{NONE}: its provenance's finishedOn {s:?} is not RFC 3339")),
            },
            Some(_) => return Err(format!("{NONE}: its provenance's finishedOn is not a string")),
        }
    }
    match (times.len(), times.first()) {
        (1, Some(&secs)) => Ok(secs),
        (0, _) if provenance.is_empty() => Err(format!(
            "{NONE}: it carries no SLSA provenance attestation, the only signed source of one"
        )),
        (0, _) => Err(format!(
            "{NONE}: its provenance gives no runDetails.metadata.finishedOn other than the epoch"
        )),
        _ => Err(format!(
            "{NONE}: its provenance attestations give different finishedOn times"
        )),
    }
}

/// A failed rule.
struct Refusal {
    rule: String,
    reason: String,
}

fn refuse(rule: impl Into<String>, reason: impl Into<String>) -> Refusal {
    Refusal {
        rule: rule.into(),
        reason: reason.into(),
    }
}

impl Policy for DeploymentPolicy {
    fn evaluate(&self, input: &PolicyInput<'_>) -> PolicyDecision {
        self.decide(input).unwrap_or_else(|r| PolicyDecision {
            allowed: false,
            rule: r.rule,
            reason: r.reason,
        })
    }

    /// `revocation.max_age_hours` in seconds: core's `verify` enforces it
    /// before any signature is checked (spec/policy.md §1.8).
    fn revocation_max_age(&self) -> Option<u64> {
        self.0.revocation.map(|r| r.max_age_hours.saturating_mul(3600))
    }

    fn witness_quorum(&self) -> usize {
        self.0.transparency.as_ref().map_or(0, |t| t.witnesses)
    }

    /// `transparency.logs` (0 without the section): with
    /// `transparency.witnesses` it defines trusted time, which core
    /// computes once and passes in `PolicyInput::existed_by`.
    fn log_quorum(&self) -> usize {
        self.0.transparency.as_ref().map_or(0, |t| t.logs)
    }

    fn rebuild_tally(&self, input: &PolicyInput<'_>) -> Option<Tally> {
        self.rebuilt_by().map(|r| rebuild_tally(r, input))
    }
}

/// The count of `require_attestations.rebuilt_by`: the rebuilders whose
/// attestation verified (or whose key is unknown: the tally says so),
/// through the one routine, at `min_trust`, only keys its `signers` name.
/// A rebuild is signed after the release and carries no trusted time of
/// its own: keys are judged now (an expired or revoked rebuilder does not
/// count).
fn rebuild_tally(r: &RebuiltBy, input: &PolicyInput<'_>) -> Tally {
    let filter = |k: &KeyEntry| -> Option<String> {
        (!r.signers.iter().any(|m| m.matches(k)))
            .then(|| "require_attestations.rebuilt_by.signers (no entry matches)".to_owned())
    };
    input
        .trust
        .tally(input.rebuilders, TallyTime::now(input.now), r.min_trust, &filter)
}

impl DeploymentPolicy {
    fn rebuilt_by(&self) -> Option<&RebuiltBy> {
        self.0.require_attestations.as_ref()?.rebuilt_by.as_ref()
    }
}

impl DeploymentPolicy {
    fn decide(&self, input: &PolicyInput<'_>) -> Result<PolicyDecision, Refusal> {
        let doc = &self.0;
        let facts = Facts::gather(input.bundle);
        let mut passed: Vec<String> = Vec::new();

        // 1. Required attestations.
        if let Some(req) = &doc.require_attestations {
            if req.provenance {
                let rule = "require_attestations.provenance";
                if !facts.has(&[SLSA_PROVENANCE_V1]) {
                    return Err(refuse(
                        rule,
                        format!("the bundle carries no attestation with predicateType {SLSA_PROVENANCE_V1}"),
                    ));
                }
                passed.push(rule.into());
            }
            if req.sbom {
                let rule = "require_attestations.sbom";
                if !facts.has(&[SPDX_DOCUMENT, CYCLONEDX_BOM]) {
                    return Err(refuse(
                        rule,
                        format!(
                            "the bundle carries no SBOM attestation (predicateType {SPDX_DOCUMENT} or {CYCLONEDX_BOM})"
                        ),
                    ));
                }
                passed.push(rule.into());
            }
            if let Some(r) = &req.rebuilt_by {
                let rule = "require_attestations.rebuilt_by";
                let tally = rebuild_tally(r, input);
                if tally.counted < r.threshold {
                    let failed = if input.rebuild_failures.is_empty() {
                        String::new()
                    } else {
                        format!("; not counted: {}", input.rebuild_failures.join("; "))
                    };
                    return Err(refuse(
                        rule,
                        format!(
                            "{} of {} required distinct rebuilder(s) named by rebuilt_by.signers and trusted at least {} rebuilt this release ({} rebuild attestation(s) carried){}{failed}",
                            tally.counted,
                            r.threshold,
                            r.min_trust,
                            input.bundle.rebuilds.len(),
                            tally.explain_uncounted(),
                        ),
                    ));
                }
                let counted = counted_keys(input, &tally.verdicts);
                for (i, a) in r.signers.iter().enumerate().filter(|(_, a)| a.required) {
                    let rule = format!("require_attestations.rebuilt_by.signers[{i}].required");
                    if !counted.iter().any(|k| a.matches(k)) {
                        return Err(refuse(
                            rule,
                            format!("no counted rebuilder matches this entry (counted: {})", ids(&counted)),
                        ));
                    }
                    passed.push(rule);
                }
                passed.push(rule.into());
            }
        }
        if let Some(t) = &doc.transparency {
            let rule = "transparency.logs";
            // Core verified each proof against the trust store's logs and
            // passes only those, one per origin, one key per log: counting
            // distinct origins counts distinct logs (and keys). Each proof
            // lists the distinct trusted witnesses whose cosignature of its
            // checkpoint verified; a log counts only with enough of them.
            let origins = cerro_core::tlog::logs_with_witnesses(input.logs, t.witnesses);
            if origins.len() < t.logs {
                let carried = input.bundle.transparency.len();
                let short: Vec<String> = input
                    .logs
                    .iter()
                    .filter(|l| l.witnesses().len() < t.witnesses)
                    .map(|l| format!("{} ({} of {})", l.origin(), l.witnesses().len(), t.witnesses))
                    .collect();
                return Err(refuse(
                    rule,
                    format!(
                        "{} of {} required distinct trusted transparency logs prove the release{}{}",
                        origins.len(),
                        t.logs,
                        if short.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; checkpoints without the {} witness cosignature(s) required: {}",
                                t.witnesses,
                                short.join(", ")
                            )
                        },
                        if carried > input.logs.len() {
                            format!(
                                " (the bundle carries {carried} proof(s); those from logs outside the trust store do not count)"
                            )
                        } else {
                            String::new()
                        }
                    ),
                ));
            }
            passed.push(rule.into());
        }
        // Trusted time, computed once by core (`cerro_core::tlog::existed_by`
        // under `cerro_core::verify::time_quorum`): the same value the
        // verifier's tally judged key expiry at.
        let witnessed = input.existed_by;

        // 2. Registries: blocked wins over allowed.
        if let Some(reg) = &doc.registries {
            let from = facts.references_from;
            for r in &facts.references {
                if let Some(g) = reg.blocked.iter().find(|g| glob_match(g, r)) {
                    return Err(refuse(
                        "registries.blocked",
                        format!("image reference {r:?} ({from}) matches blocked pattern {g:?}"),
                    ));
                }
            }
            if !reg.blocked.is_empty() {
                passed.push("registries.blocked".into());
            }
            if let Some(allowed) = &reg.allowed {
                let rule = "registries.allowed";
                if facts.references.is_empty() {
                    return Err(refuse(
                        rule,
                        "the bundle names no image reference (no docker:// or oci:// resolvedDependencies in a provenance attestation, no org.opencontainers.image.ref.name)",
                    ));
                }
                if let Some(r) = facts
                    .references
                    .iter()
                    .find(|r| !allowed.iter().any(|g| glob_match(g, r)))
                {
                    return Err(refuse(
                        rule,
                        format!("image reference {r:?} ({from}) matches no allowed pattern"),
                    ));
                }
                passed.push(rule.into());
            }
        }

        // 3. Pinned digest.
        let name = &input.bundle.manifest.package.name;
        let pin = doc.pin.as_ref().and_then(|p| p.get(name));
        if let Some(pin) = pin {
            let rule = format!("pin.{name}.digest");
            if pin.digest != input.bundle.image.digest {
                return Err(refuse(
                    rule,
                    format!(
                        "{name} is pinned to image {} but this bundle's image is {}",
                        pin.digest, input.bundle.image.digest
                    ),
                ));
            }
            passed.push(rule);
        }

        // 4. Age.
        if let Some(t) = &doc.time {
            let rule = "time.max_age_days";
            let built = *facts.build_time.as_ref().map_err(|why| refuse(rule, why.clone()))?;
            // Witnesses saw the release by `w`: it is at least that old,
            // whatever build time its signer claims.
            if let Some(w) = witnessed {
                let seen = input.now.saturating_sub(w);
                if seen > t.max_age_days.saturating_mul(DAY) {
                    return Err(refuse(
                        rule,
                        format!(
                            "witnessed {} (trusted time: transparency-log witness cosignatures), {} day(s) ago; at most {} allowed",
                            format_rfc3339(w),
                            seen / DAY,
                            t.max_age_days
                        ),
                    ));
                }
            }
            let age = input.now.saturating_sub(built);
            if age > t.max_age_days.saturating_mul(DAY) {
                return Err(refuse(
                    rule,
                    format!(
                        "built {} (provenance finishedOn), {} day(s) ago; at most {} allowed",
                        format_rfc3339(built),
                        age / DAY,
                        t.max_age_days
                    ),
                ));
            }
            passed.push(rule.into());
        }

        // 5. Signers, counted by the trust store's one routine.
        let (counted, positive): (Vec<&KeyEntry>, Option<(String, String)>) = match &doc.signers {
            None => {
                let tally = input
                    .trust
                    .tally(input.signers, input.tally_time(), BASELINE_LEVEL, &|_| None);
                (counted_keys(input, &tally.verdicts), None)
            }
            Some(s) => {
                let group = match &s.threshold_from {
                    None => None,
                    Some(g) => Some(input.trust.group(g).ok_or_else(|| {
                        refuse(
                            "signers.threshold_from",
                            format!("group {g:?} is not defined in the trust store (ct key group list)"),
                        )
                    })?),
                };
                let threshold = group.map(|g| g.threshold()).or(s.threshold).unwrap_or(1);
                let built = facts.build_time.as_ref().ok().copied();
                // The first dated denial that named a signer when the bundle
                // has no build time: recorded here, refused after the count.
                let undecided: RefCell<Option<(usize, String)>> = RefCell::new(None);
                let filter = |k: &KeyEntry| -> Option<String> {
                    for (i, d) in s.denied.iter().enumerate() {
                        match d.denies(k, built, witnessed) {
                            Denial::No => {}
                            Denial::Yes => return Some(format!("signers.denied[{i}]")),
                            Denial::Undecidable => {
                                undecided.borrow_mut().get_or_insert_with(|| (i, k.id.clone()));
                                return Some(format!("signers.denied[{i}] (no build time)"));
                            }
                        }
                    }
                    if let Some(g) = group {
                        if !g.contains(k) {
                            return Some(format!("signers.threshold_from (not in group {})", g.name()));
                        }
                    }
                    match &s.allowed {
                        Some(allowed) if !allowed.iter().any(|m| m.matches(k)) => {
                            Some("signers.allowed (no entry matches)".into())
                        }
                        _ => None,
                    }
                };
                let tally = input
                    .trust
                    .tally(input.signers, input.tally_time(), s.min_trust, &filter);
                if let Some((i, id)) = undecided.into_inner() {
                    let why = facts.build_time.as_ref().err().cloned().unwrap_or_default();
                    return Err(refuse(
                        format!("signers.denied[{i}]"),
                        format!("{why}, so whether signer {id} is denied (entry dated after/before) cannot be decided"),
                    ));
                }
                let (rule, of_group) = match group {
                    Some(g) => (
                        "signers.threshold_from",
                        format!(" of group {} ({} of {})", g.name(), g.threshold(), g.keys().len()),
                    ),
                    None => ("signers.threshold", String::new()),
                };
                let summary = format!(
                    "{} of {} required distinct signer(s){of_group} allowed and trusted at least {}{}",
                    tally.counted,
                    threshold,
                    s.min_trust,
                    tally.explain_uncounted()
                );
                if tally.counted < threshold {
                    return Err(refuse(rule, summary));
                }
                let counted = counted_keys(input, &tally.verdicts);
                for (i, a) in s.allowed.iter().flatten().enumerate().filter(|(_, a)| a.required) {
                    let rule = format!("signers.allowed[{i}].required");
                    if !counted.iter().any(|k| a.matches(k)) {
                        let who = a
                            .key_id
                            .iter()
                            .map(|g| format!("key id {g:?}"))
                            .chain(a.fingerprint.iter().map(|f| format!("fingerprint {f}")))
                            .collect::<Vec<_>>()
                            .join(" or ");
                        return Err(refuse(
                            rule,
                            format!("no counted signer matches {who} (counted: {})", ids(&counted)),
                        ));
                    }
                    passed.push(rule);
                }
                (counted, Some((rule.to_owned(), summary)))
            }
        };

        // 6. Pinned signers, among the keys just counted.
        if let Some(signers) = pin.and_then(|p| p.signers.as_ref()) {
            let rule = format!("pin.{name}.signers");
            if let Some(missing) = signers
                .iter()
                .find(|s| !counted.iter().any(|k| k.id == **s || k.fingerprint.to_hex() == **s))
            {
                return Err(refuse(
                    rule,
                    format!(
                        "{name} must be signed by {missing}, which is not among the counted signers ({})",
                        ids(&counted)
                    ),
                ));
            }
            passed.push(rule);
        }

        // 7. The decision.
        let also = if passed.is_empty() {
            String::new()
        } else {
            format!("; passed {}", passed.join(", "))
        };
        Ok(match positive {
            Some((rule, summary)) => PolicyDecision {
                allowed: true,
                rule,
                reason: format!("{summary}{also}"),
            },
            None => PolicyDecision {
                allowed: doc.default_action == Action::Allow,
                rule: "default_action".into(),
                reason: format!(
                    "no {}rule applies; default_action is {}{also}",
                    if passed.is_empty() { "" } else { "signer " },
                    doc.default_action.as_str()
                ),
            },
        })
    }
}

/// The keys behind the counted verdicts of a tally.
fn counted_keys<'t>(input: &PolicyInput<'t>, verdicts: &[cerro_core::trust::SignerVerdict]) -> Vec<&'t KeyEntry> {
    verdicts
        .iter()
        .filter(|v| v.counted())
        .filter_map(|v| Fingerprint::from_hex(&v.fingerprint))
        .filter_map(|fp| input.trust.by_fingerprint(&fp))
        .collect()
}

fn ids(keys: &[&KeyEntry]) -> String {
    if keys.is_empty() {
        "none".into()
    } else {
        keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests;
