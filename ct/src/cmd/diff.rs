//! `ct diff OLD NEW`: what changed between two bundles. Both are read with
//! full integrity checks (a diff of a corrupt bundle would be a lie), but
//! trust is not evaluated: diffing is how a reviewer decides whether to sign.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use anyhow::{Context as _, Result};
use cerro_core::bundle::{read_bundle_file, Bundle, NoExtract};
use cerro_core::{Error, ExitCode};
use serde_json::Value;

use crate::ctx::Ctx;

fn read(path: &Path) -> Result<Bundle> {
    let f = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    read_bundle_file(&f, &mut NoExtract).with_context(|| format!("reading bundle {}", path.display()))
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(
                    &if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    },
                    v,
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

fn signers(ctx: &Ctx, b: &Bundle) -> Vec<String> {
    let trust = ctx.home.load_trust().unwrap_or_default();
    let mut out: Vec<String> = b
        .release()
        .map(|r| {
            r.envelope
                .signatures
                .iter()
                .map(|s| {
                    let name = cerro_core::trust::Fingerprint::from_hex(&s.keyid)
                        .and_then(|fp| trust.by_fingerprint(&fp).map(|k| k.id.clone()));
                    match name {
                        Some(n) => format!("{n} ({})", s.keyid),
                        None => s.keyid.clone(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    out.dedup();
    out
}

pub fn diff(ctx: &Ctx, old: &Path, new: &Path, json: bool) -> Result<ExitCode> {
    let (a, b) = (read(old)?, read(new)?);
    let mut fields = BTreeMap::new();
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &serde_json::to_value(&a.manifest)?, &mut fa);
    flatten("", &serde_json::to_value(&b.manifest)?, &mut fb);
    for k in fa.keys().chain(fb.keys()) {
        let (x, y) = (fa.get(k), fb.get(k));
        if x != y {
            fields.insert(k.clone(), (x.cloned(), y.cloned()));
        }
    }
    let la: Vec<_> = a.parts.layers.iter().map(|l| l.digest).collect();
    let lb: Vec<_> = b.parts.layers.iter().map(|l| l.digest).collect();
    let removed: Vec<_> = la.iter().filter(|d| !lb.contains(d)).collect();
    let added: Vec<_> = lb.iter().filter(|d| !la.contains(d)).collect();
    let (sa, sb) = (signers(ctx, &a), signers(ctx, &b));
    let signers_removed: Vec<_> = sa.iter().filter(|s| !sb.contains(s)).collect();
    let signers_added: Vec<_> = sb.iter().filter(|s| !sa.contains(s)).collect();

    if json {
        let v = serde_json::json!({
            "image": {"old": a.image.digest, "new": b.image.digest, "same": a.image.digest == b.image.digest},
            "config": {"old": a.parts.config.digest, "new": b.parts.config.digest},
            "layers": {"removed": removed, "added": added, "old_count": la.len(), "new_count": lb.len()},
            "manifest": fields.iter().map(|(k, (x, y))| serde_json::json!({"field": k, "old": x, "new": y})).collect::<Vec<_>>(),
            "signers": {"removed": signers_removed, "added": signers_added},
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::Valid);
    }
    if a.image.digest == b.image.digest {
        println!("image     same ({})", a.image.digest);
    } else {
        println!("image     {} -> {}", a.image.digest, b.image.digest);
    }
    if a.parts.config.digest != b.parts.config.digest {
        println!("config    {} -> {}", a.parts.config.digest, b.parts.config.digest);
    }
    println!(
        "layers    {} -> {} ({} removed, {} added)",
        la.len(),
        lb.len(),
        removed.len(),
        added.len()
    );
    for d in &removed {
        println!("  - {d}");
    }
    for d in &added {
        println!("  + {d}");
    }
    if fields.is_empty() {
        println!("manifest  no field differs");
    } else {
        println!("manifest");
        for (k, (x, y)) in &fields {
            println!(
                "  {k}: {} -> {}",
                x.as_deref().unwrap_or("(absent)"),
                y.as_deref().unwrap_or("(absent)")
            );
        }
    }
    if signers_removed.is_empty() && signers_added.is_empty() {
        println!("signers   same");
    } else {
        println!("signers");
        for s in &signers_removed {
            println!("  - {s}");
        }
        for s in &signers_added {
            println!("  + {s}");
        }
    }
    Ok(ExitCode::Valid)
}
