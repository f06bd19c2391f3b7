//! Human and JSON rendering of verification reports.
//!
//! Human output never carries a raw control character from bundle data: a
//! `predicateType` or a reference name is attacker-chosen before any
//! signature is checked, and a newline or an escape sequence in it could
//! print a fake `VALID` line or hide the real verdict on a terminal.
//! Every line goes through [`printable`]. JSON output escapes by itself.

use cerro_core::verify::Report;

pub use cerro_core::text::printable;

/// An error chain on one line: "context: cause: cause".
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    printable(&parts.join(": ")).into_owned()
}

/// JSON for an error that happened before a report existed (unreadable
/// bundle, no trust store): `kind` is the variant's stable snake_case name
/// (`cerro_core::Kind::as_str`, e.g. `unknown_key`, `not_regular_file`),
/// `error_kind` the failed check as in reports and audit records
/// (`config`, `io`, …); `error` when the error is none of ours.
pub fn error_json(e: &anyhow::Error, code: u8) -> serde_json::Value {
    let kind = crate::kind_of(e);
    serde_json::json!({
        "valid": false,
        "exit_code": code,
        "kind": kind.map_or("error", cerro_core::Kind::as_str),
        "error_kind": kind.map_or("error", cerro_core::Kind::check),
        "message": one_line(e),
    })
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "ok  "
    } else {
        "FAIL"
    }
}

/// The chain, for `ct explain`.
pub fn explain(report: &Report) -> String {
    let b = &report.bundle;
    let mut s = String::new();
    let mut line = |l: String| {
        s.push_str(&printable(&l));
        s.push('\n');
    };
    line(format!("package     {} {}", b.name, b.version));
    line(format!(
        "image       {} ({}, {} bytes){}",
        b.image.digest,
        b.image.media_type,
        b.image.size,
        b.reference.as_deref().map(|r| format!(" ref {r}")).unwrap_or_default()
    ));
    for p in &b.platforms {
        line(format!(
            "  platform  {:<16} {} ({} bytes, {} layer(s))",
            p.platform, p.manifest.digest, p.manifest.size, p.layers
        ));
    }
    if !b.platforms.is_empty() {
        line("  first platform:".into());
    }
    line(format!("  config    {} ({} bytes)", b.config.digest, b.config.size));
    for (i, l) in b.layers.iter().enumerate() {
        line(format!(
            "  layer {:<3} {} ({} bytes, {})",
            i + 1,
            l.digest,
            l.size,
            l.media_type
        ));
    }
    line("members".into());
    for m in &b.members {
        // A blob's name is its digest: print it once.
        if m.path.ends_with(&m.digest.hex()) {
            line(format!("  {} {:>12}", m.path, m.size));
        } else {
            line(format!("  {:<31} {} {:>8}", m.path, m.digest, m.size));
        }
    }
    line("attestations".into());
    for a in &b.attestations {
        line(format!(
            "  {:<36} {} ({} signature(s))",
            a.path, a.predicate_type, a.signatures
        ));
    }
    if !report.cosign.is_empty() {
        line("cosign signature evidence (checked again offline)".into());
        for c in &report.cosign {
            line(format!(
                "  {} at {} ({}), {} key {}, scheme {}",
                c.manifest,
                c.reference,
                c.layout.describe(),
                c.algorithm,
                c.key_id,
                serde_json::to_value(c.scheme)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ));
            line(format!(
                "    the key is the one the packer passed (--cosign-key): trusted only through the release signers' endorsement ({})",
                c.path
            ));
        }
    }
    if !report.transparency.is_empty() {
        line("transparency logs".into());
        for t in &report.transparency {
            let status = match t.status {
                cerro_core::verify::LogProofStatus::Verified => "verified",
                cerro_core::verify::LogProofStatus::UntrustedLog => "not trusted, not counted",
                cerro_core::verify::LogProofStatus::Failed => "FAILED",
            };
            line(format!(
                "  {:<36} index {} tree size {} ({status})",
                t.origin, t.index, t.tree_size
            ));
            for w in &t.witnesses {
                line(format!(
                    "    cosigned by witness {} at {}",
                    w.name,
                    cerro_core::timestamp::format_rfc3339(w.timestamp)
                ));
            }
        }
    }
    if !report.rebuilds.is_empty() {
        line("rebuilds".into());
        for r in &report.rebuilds {
            let who = r
                .key_id
                .clone()
                .unwrap_or_else(|| format!("unknown key {}", r.fingerprint));
            let (result, detail) = match r.status {
                cerro_core::verify::RebuildStatus::Verified => (
                    "PASSED".to_owned(),
                    format!(
                        "by {} at {}",
                        r.verifier.as_deref().unwrap_or("-"),
                        r.time_verified
                            .map(cerro_core::timestamp::format_rfc3339)
                            .unwrap_or_default()
                    ),
                ),
                cerro_core::verify::RebuildStatus::UnknownKey => {
                    ("not checked".to_owned(), "key not in the trust store".to_owned())
                }
                cerro_core::verify::RebuildStatus::Failed => {
                    ("FAILED".to_owned(), r.reason.clone().unwrap_or_default())
                }
                cerro_core::verify::RebuildStatus::OtherPlatform => (
                    "PASSED".to_owned(),
                    format!(
                        "by {} at {}, of another platform than the one counted (this host's, or --platform)",
                        r.verifier.as_deref().unwrap_or("-"),
                        r.time_verified
                            .map(cerro_core::timestamp::format_rfc3339)
                            .unwrap_or_default()
                    ),
                ),
            };
            let counts = match &r.policy {
                None if matches!(
                    r.status,
                    cerro_core::verify::RebuildStatus::Failed | cerro_core::verify::RebuildStatus::OtherPlatform
                ) =>
                {
                    "not counted".to_owned()
                }
                None => "no policy rule counts rebuilds".to_owned(),
                Some(v) if v.counted() => "counts under the policy".to_owned(),
                Some(v) => format!(
                    "does not count under the policy ({})",
                    serde_json::to_value(&v.status)
                        .ok()
                        .and_then(|j| j.get("status").and_then(|s| s.as_str()).map(str::to_owned))
                        .unwrap_or_default()
                ),
            };
            line(format!("  {who:<20} {result:<11} {detail}; {counts}"));
        }
    }
    line("signers".into());
    if report.signers.is_empty() {
        line("  (not evaluated)".into());
    }
    for v in &report.signers {
        let who = v.key_id.clone().unwrap_or_else(|| "unknown key".into());
        let level = v.level.map(|l| l.to_string()).unwrap_or_else(|| "-".into());
        let status = serde_json::to_value(&v.status)
            .ok()
            .and_then(|j| j.get("status").and_then(|s| s.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let algorithm = v.algorithm.unwrap_or("-");
        line(format!(
            "  {who:<20} {algorithm:<10} {level:<9} {status:<14} {}",
            v.fingerprint
        ));
        // Why a key that is expired (or revoked from a date) now counted:
        // trusted time (spec/trust-store.md §7).
        if let Some(note) = &v.time {
            line(format!("  {:<20} {note}", ""));
        }
    }
    line("checks".into());
    for c in &report.checks {
        line(format!("  [{}] {:<24} {}", mark(c.ok), c.check, c.detail));
    }
    if let Some(p) = &report.policy {
        line(format!(
            "policy      rule {} -> {}",
            p.rule,
            if p.allowed { "allow" } else { "deny" }
        ));
    }
    if !report.invalid_signatures.is_empty() {
        line("invalid signatures (not counted)".into());
        for i in &report.invalid_signatures {
            line(format!("  {:<20} {} on {}", i.key_id, i.fingerprint, i.envelope));
        }
    }
    line(format!(
        "verdict     {} (exit {}): {}",
        if report.valid { "VALID" } else { "REFUSED" },
        report.exit_code,
        report.message
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_from_bundle_data_are_escaped() {
        let fake = "x\nverdict     VALID (exit 0): valid\x1b[8m";
        let p = printable(fake);
        assert!(!p.contains('\n') && !p.contains('\x1b'), "{p}");
        assert_eq!(p, "x\\u{a}verdict     VALID (exit 0): valid\\u{1b}[8m");
        assert!(matches!(printable("plain text: ok"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(printable("a\u{202e}b\u{85}c"), "a\\u{202e}b\\u{85}c");
    }
}
