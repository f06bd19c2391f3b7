//! Human and JSON rendering of verification reports.

use cerro_core::verify::Report;

/// An error chain on one line: "context: cause: cause".
pub fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

/// JSON for an error that happened before a report existed (unreadable bundle).
pub fn error_json(e: &anyhow::Error, code: u8) -> serde_json::Value {
    let kind = e
        .chain()
        .find_map(|c| c.downcast_ref::<cerro_core::Error>())
        .map(|c| c.kind())
        .unwrap_or("error");
    serde_json::json!({
        "valid": false,
        "exit_code": code,
        "error_kind": kind,
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
        s.push_str(&l);
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
        line(format!("  {who:<20} {level:<9} {status:<14} {}", v.fingerprint));
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
    line(format!(
        "verdict     {} (exit {}): {}",
        if report.valid { "VALID" } else { "REFUSED" },
        report.exit_code,
        report.message
    ));
    s
}
