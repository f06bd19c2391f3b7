//! `ct log monitor` and `ct verify --online` (spec/transparency.md §11):
//! the checkpoints of the trusted logs, fetched from their read sides and
//! from witnesses (`cerro_registry::tlog::ReadSide`), compared by core
//! (`cerro_core::tlog::monitor::compare`) with what was seen before: the
//! monitor's last view, each witness's latest cosigned checkpoint, or a
//! bundle's proof.

use std::path::{Path, PathBuf};

use anyhow::Result;
use cerro_core::bundle::Bundle;
use cerro_core::digest::Digest;
use cerro_core::tlog::monitor::{compare, Comparison, Observed};
use cerro_core::tlog::note::MAX_NOTE_BYTES;
use cerro_core::tlog::tiles::TileHashes;
use cerro_core::tlog::{SignedCheckpoint, TrustedLog, VerifierKey};
use cerro_core::trust::TrustStore;
use cerro_core::verify::{LogProofStatus, Report};
use cerro_core::{Error, ExitCode, Kind};
use cerro_registry::tlog::ReadSide;
use serde_json::json;

use crate::ctx::Ctx;
use crate::output::printable;

/// The state file of the log `origin`: its last checkpoint this monitor
/// saw, named by the SHA-256 of the origin (any origin is a safe name).
fn state_file(dir: &Path, origin: &str) -> PathBuf {
    dir.join(format!("log-{}.checkpoint", Digest::of(origin.as_bytes()).hex()))
}

/// The trusted log `origin` and its read URL, or why it cannot be read.
fn readable<'a>(store: &'a TrustStore, origin: &str) -> Result<(&'a TrustedLog, &'a str), Error> {
    let log = store.log(origin).ok_or_else(|| {
        Error::invalid_config(
            "transparency log",
            format!("{origin} is not a trusted log (ct log trust)"),
        )
    })?;
    let url = store.log_url(origin).ok_or_else(|| {
        Error::invalid_config(
            "transparency log",
            format!("log {origin} has no read URL in the trust store: ct log trust VKEY --url URL"),
        )
    })?;
    Ok((log, url))
}

/// Fetches `log`'s checkpoint and compares it with `others` over the tiles
/// it serves for that size. A log that grows between the checkpoint and
/// the tiles may have deleted a partial tile meanwhile (tlog-tiles allows
/// it once the full tile exists): a read that fails is tried once more
/// from a fresh checkpoint.
fn check_log(log: &TrustedLog, url: &str, others: &[Observed]) -> Result<(Observed, Comparison), Error> {
    let reader = ReadSide::new(url)?;
    let attempt = || -> Result<(Observed, Comparison), Error> {
        let served = Observed {
            source: format!("log {url}"),
            checkpoint: reader.log_checkpoint()?,
        };
        let mut fetch = reader.tile_fetcher();
        let mut tiles = TileHashes::new(served.checkpoint.checkpoint().size(), &mut fetch);
        let cmp = compare(log, &served, others, &mut tiles)?;
        Ok((served, cmp))
    };
    match attempt() {
        Err(e) if e.kind() == Kind::Network => attempt(),
        other => other,
    }
}

fn view(o: &Observed) -> serde_json::Value {
    let cp = o.checkpoint.checkpoint();
    json!({
        "source": o.source,
        "size": cp.size(),
        "root": cerro_core::tlog::monitor::root_base64(cp.root()),
    })
}

/// `ct log monitor`: see the command's help. Every log is checked (one
/// failing to answer stops the run: a monitor that cannot see is not
/// reassured); a log's state advances only when no split view was found.
pub fn monitor(
    ctx: &Ctx,
    origins: &[String],
    witnesses: &[String],
    state: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    let store = ctx.home.load_trust()?;
    let chosen: Vec<String> = if origins.is_empty() {
        store.logs().map(|l| l.origin().to_owned()).collect()
    } else {
        origins.to_vec()
    };
    if chosen.is_empty() {
        return Err(Error::invalid_config(
            "ct log monitor",
            "no trusted log to monitor (ct log trust VKEY --url URL)",
        )
        .into());
    }
    // Every argument checked before any request.
    let logs = chosen
        .iter()
        .map(|o| readable(&store, o))
        .collect::<Result<Vec<_>, _>>()?;
    let witness_sides = witnesses
        .iter()
        .map(|w| ReadSide::new(w))
        .collect::<Result<Vec<_>, _>>()?;
    let witness_keys: Vec<VerifierKey> = store.witnesses().cloned().collect();
    let dir = state.map_or_else(|| ctx.home.root().join("monitor"), Path::to_path_buf);
    cerro_core::file::create_dir(&dir, 0o700)?;

    let mut reports = Vec::new();
    let mut split = Vec::new();
    for (log, url) in logs {
        let origin = log.origin();
        let mut others = Vec::new();
        let path = state_file(&dir, origin);
        if path.exists() {
            let bytes = cerro_core::file::read_bounded(&path, MAX_NOTE_BYTES as u64, "a monitor state file")?;
            let checkpoint = SignedCheckpoint::parse(&bytes)
                .map_err(|e| Error::malformed(path.display().to_string(), e.to_string()))?;
            others.push(Observed {
                source: format!("this monitor's last view ({})", path.display()),
                checkpoint,
            });
        }
        let mut cosigners = Vec::new();
        // Witnesses before the log: an honest log publishes a checkpoint
        // before it asks its witnesses, so none is ahead of what it serves.
        for w in &witness_sides {
            let Some(checkpoint) = w.witness_checkpoint(origin)? else {
                continue;
            };
            let names: Vec<String> = checkpoint
                .note()
                .verify(&witness_keys)
                .map(|v| {
                    v.iter()
                        .filter_map(|s| witness_keys.get(s.key))
                        .map(|k| k.name().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            cosigners.push(names);
            others.push(Observed {
                source: format!("witness {}", w.url().as_str().trim_end_matches('/')),
                checkpoint,
            });
        }
        let (served, cmp) = check_log(log, url, &others)?;
        let cp = served.checkpoint.checkpoint();
        if cmp.split_views.is_empty() {
            cerro_core::file::write_atomic(&path, &served.checkpoint.to_bytes(), 0o644)?;
        }
        if !json {
            println!(
                "log {origin}: {url} serves tree size {} root {}",
                cp.size(),
                cerro_core::tlog::monitor::root_base64(cp.root())
            );
            for o in &others {
                let c = o.checkpoint.checkpoint();
                let bad = cmp
                    .split_views
                    .iter()
                    .any(|s| s.a.source == o.source || s.b.source == o.source)
                    || cmp.ignored.iter().any(|(s, _)| *s == o.source);
                if !bad {
                    println!("  consistent with {} (tree size {})", printable(&o.source), c.size());
                }
            }
            for (source, why) in &cmp.ignored {
                println!("  ignored {}: {}", printable(source), printable(why));
            }
            for s in &cmp.split_views {
                println!(
                    "  SPLIT VIEW: {}; {}: {}",
                    printable(&s.a.to_string()),
                    printable(&s.b.to_string()),
                    s.reason
                );
            }
        }
        let witness_views: Vec<serde_json::Value> = others
            .iter()
            .filter(|o| o.source.starts_with("witness "))
            .zip(&cosigners)
            .map(|(o, names)| {
                let mut v = view(o);
                v["cosigned_by"] = json!(names);
                v
            })
            .collect();
        reports.push(json!({
            "origin": origin,
            "url": url,
            "size": cp.size(),
            "root": cerro_core::tlog::monitor::root_base64(cp.root()),
            "previous": others.iter().find(|o| o.source.starts_with("this monitor")).map(view),
            "witnesses": witness_views,
            "ignored": cmp.ignored.iter().map(|(s, w)| json!({"source": s, "reason": w})).collect::<Vec<_>>(),
            "split_views": cmp.split_views,
            "state_advanced": cmp.split_views.is_empty(),
        }));
        split.extend(cmp.split_views);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "split_view": !split.is_empty(),
                "kind": (!split.is_empty()).then(|| Kind::TlogSplitView.as_str()),
                "logs": reports,
            }))?
        );
    }
    match split.first() {
        None => Ok(ExitCode::Valid),
        Some(s) => {
            for s in &split {
                eprintln!("ct: {}", printable(&s.to_error().to_string()));
            }
            Ok(s.to_error().exit_code())
        }
    }
}

/// `ct verify --online`, after the offline verification passed: for each
/// proof that verified, the log's latest checkpoint, which must be signed
/// by the log and consistent with the proof's checkpoint (a split view is
/// [`Error::TlogSplitView`], exit 6). Returns a line per log checked.
pub fn online(store: &TrustStore, bundle: &Bundle, report: &Report, file: &Path) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    for p in &bundle.transparency {
        let origin = p.proof.checkpoint().checkpoint().origin();
        let verified = report
            .transparency
            .iter()
            .any(|r| r.origin == origin && r.status == LogProofStatus::Verified);
        if !verified {
            continue;
        }
        let (log, url) = readable(store, origin)?;
        let proof = Observed {
            source: format!("the proof in {}", file.display()),
            checkpoint: p.proof.checkpoint().clone(),
        };
        let (served, cmp) = check_log(log, url, std::slice::from_ref(&proof))?;
        if let Some(s) = cmp.split_views.first() {
            return Err(s.to_error());
        }
        if let Some((_, why)) = cmp.ignored.first() {
            return Err(Error::malformed(p.path.clone(), why.clone()));
        }
        lines.push(format!(
            "online: log {origin} ({url}) serves tree size {}, consistent with the proof's checkpoint at size {}",
            served.checkpoint.checkpoint().size(),
            proof.checkpoint.checkpoint().size()
        ));
    }
    if lines.is_empty() {
        lines.push("online: no verified transparency proof to check".to_owned());
    }
    Ok(lines)
}
