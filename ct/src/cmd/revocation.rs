//! `ct revocation publish|fetch|show`: the signed revocation list
//! (`cerro_core::trust::root`, spec/trust-store.md §10). The rules are
//! core's (`verify_revocation`, `Home::install_revocation`); fetching a URL
//! is the registry crate's (the one that makes requests).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use cerro_core::digest::Digest;
use cerro_core::file::{read_bounded, write_atomic};
use cerro_core::timestamp::{format_rfc3339, parse_rfc3339};
use cerro_core::tlog::revocation_entry_for;
use cerro_core::trust::root::{open_revocation, RevocationList, RevokedKey, MAX_REVOCATION_SIZE};
use cerro_core::trust::Fingerprint;
use cerro_core::{Error, ExitCode};
use serde_json::json;

use crate::cli::RevocationCommand;
use crate::ctx::Ctx;

/// Runs a `ct revocation` command.
pub fn run(ctx: &Ctx, cmd: RevocationCommand) -> Result<ExitCode> {
    match cmd {
        RevocationCommand::Publish {
            output,
            keys,
            revoke_keys,
            revoke,
            valid_hours,
            version,
            logs,
        } => {
            let logs = super::log::endpoints(&logs)?;
            let now = ctx.now()?;
            // The entries of the list in force, then those given.
            let installed = match ctx.home.revocation_bytes()? {
                Some(b) => Some(open_revocation(&b)?.list),
                None => None,
            };
            let mut revoked: BTreeMap<Fingerprint, Option<u64>> = installed
                .iter()
                .flat_map(|l| l.keys().map(|k| (k.fingerprint, k.after)))
                .collect();
            let mut releases: Vec<Digest> = installed.iter().flat_map(|l| l.releases().copied()).collect();
            for arg in &revoke_keys {
                let (fp, after) = match arg.split_once('@') {
                    Some((f, t)) => (
                        f,
                        Some(parse_rfc3339(t).ok_or_else(|| {
                            Error::invalid_config("--revoke-key", format!("{t:?} is not an RFC 3339 date-time"))
                        })?),
                    ),
                    None => (arg.as_str(), None),
                };
                let fp = Fingerprint::from_hex(fp).ok_or_else(|| {
                    Error::invalid_config("--revoke-key", format!("{fp:?} is not a 64-hex key fingerprint"))
                })?;
                revoked.insert(fp, after);
            }
            for d in &revoke {
                let d = Digest::parse(d)?;
                if !releases.contains(&d) {
                    releases.push(d);
                }
            }
            releases.sort();
            let state = ctx.home.trust_state()?;
            let version = match version {
                Some(v) => v,
                None => {
                    state
                        .revocation_version
                        .max(installed.as_ref().map_or(0, RevocationList::version))
                        + 1
                }
            };
            let list = RevocationList::new(
                version,
                now,
                now.saturating_add(valid_hours.saturating_mul(3600)),
                revoked
                    .into_iter()
                    .map(|(fingerprint, after)| RevokedKey { fingerprint, after })
                    .collect(),
                releases,
            )?;
            let mut env = list.to_envelope()?;
            for key in ctx.signers(&keys)? {
                env.sign(&key)?;
            }
            let bytes = env.to_bytes()?;
            // Enter it in the logs first: a list that is not logged is not written.
            let entry = revocation_entry_for(&Digest::of(&bytes));
            let store = ctx.home.load_for_verification(now)?;
            let trust = store.tlog_trust();
            let mut lines = Vec::new();
            for log in &logs {
                let (_, v) = cerro_registry::tlog::submit(log, &entry, trust.as_ref())?;
                lines.push(format!(
                    "logged in {} (entry {} at tree size {}, {})",
                    v.origin(),
                    v.index(),
                    v.tree_size(),
                    log.url
                ));
            }
            if output.exists() {
                return Err(Error::OutputExists { path: output }.into());
            }
            write_atomic(&output, &bytes, 0o644)?;
            println!(
                "wrote revocation list version {version} to {} ({} key(s), {} release(s); next update {}; {} signature(s))",
                output.display(),
                list.keys().count(),
                list.releases().count(),
                format_rfc3339(list.next_update()),
                env.signatures.len()
            );
            for l in lines {
                println!("{}", crate::output::printable(&l));
            }
            Ok(ExitCode::Valid)
        }
        RevocationCommand::Fetch { source } => {
            let bytes = if source.starts_with("http://") || source.starts_with("https://") {
                cerro_registry::tlog::get_document(&source, MAX_REVOCATION_SIZE)?
            } else {
                read_bounded(Path::new(&source), MAX_REVOCATION_SIZE, "revocation list")?
            };
            let (list, changed) = ctx.home.install_revocation(&bytes, ctx.now()?)?;
            println!(
                "{} revocation list version {} (issued {}, next update {}): {} key(s), {} release(s) revoked",
                if changed { "installed" } else { "already installed:" },
                list.version(),
                format_rfc3339(list.issued()),
                format_rfc3339(list.next_update()),
                list.keys().count(),
                list.releases().count()
            );
            Ok(ExitCode::Valid)
        }
        RevocationCommand::Show { file, json } => show(ctx, file.as_deref(), json),
    }
}

fn show(ctx: &Ctx, file: Option<&Path>, as_json: bool) -> Result<ExitCode> {
    let bytes = match file {
        Some(f) => read_bounded(f, MAX_REVOCATION_SIZE, "revocation list")?,
        None => match ctx.home.revocation_bytes()? {
            Some(b) => b,
            None => {
                println!("no revocation list installed");
                return Ok(ExitCode::Valid);
            }
        },
    };
    let signed = open_revocation(&bytes)?;
    let l = &signed.list;
    let now = ctx.now()?;
    let state = ctx.home.trust_state()?;
    if as_json {
        let doc = json!({
            "version": l.version(),
            "highest_version_installed": state.revocation_version,
            "issued": format_rfc3339(l.issued()),
            "next_update": format_rfc3339(l.next_update()),
            "past_next_update": now >= l.next_update(),
            "keys": l.keys().map(|k| json!({"fingerprint": k.fingerprint.to_hex(), "after": k.after.map(format_rfc3339)})).collect::<Vec<_>>(),
            "releases": l.releases().map(Digest::to_string).collect::<Vec<_>>(),
            "signatures": signed.envelope.signatures.iter().map(|s| s.keyid.clone()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::Valid);
    }
    println!(
        "revocation list version {} (highest installed {}), issued {}, next update {}{}",
        l.version(),
        state.revocation_version,
        format_rfc3339(l.issued()),
        format_rfc3339(l.next_update()),
        if now >= l.next_update() { " PAST" } else { "" }
    );
    for k in l.keys() {
        match k.after {
            Some(t) => println!("key      {} from {}", k.fingerprint, format_rfc3339(t)),
            None => println!("key      {}", k.fingerprint),
        }
    }
    for d in l.releases() {
        println!("release  {d}");
    }
    Ok(ExitCode::Valid)
}
