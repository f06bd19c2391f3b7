//! `ct trust root init|sign|install|show`: the signed trust root
//! (`cerro_core::trust::root`, spec/trust-store.md §9). The rules are
//! core's (`verify_root`, `Home::install_root`); this module only reads
//! arguments, files and keys.

use std::path::Path;

use anyhow::{Context as _, Result};
use cerro_core::file::{read_bounded, write_atomic};
use cerro_core::timestamp::{format_rfc3339, parse_rfc3339};
use cerro_core::tlog::{TrustedLog, VerifierKey};
use cerro_core::trust::root::{open_root, KeySet, Quorum, TrustRoot, MAX_ROOT_SIZE};
use cerro_core::trust::Fingerprint;
use cerro_core::{Error, ExitCode};
use serde_json::json;

use crate::cli::{RootCommand, TrustCommand};
use crate::ctx::Ctx;

/// Runs a `ct trust` command.
pub fn run(ctx: &Ctx, cmd: TrustCommand) -> Result<ExitCode> {
    match cmd {
        TrustCommand::Root(r) => root(ctx, r),
    }
}

fn root(ctx: &Ctx, cmd: RootCommand) -> Result<ExitCode> {
    match cmd {
        RootCommand::Init {
            output,
            version,
            expires,
            root_keys,
            threshold,
            revocation_keys,
            revocation_threshold,
            logs,
            witnesses,
            quorum_logs,
            quorum_witnesses,
        } => {
            let expires = parse_rfc3339(&expires).ok_or_else(|| {
                Error::invalid_config("--expires", format!("{expires:?} is not an RFC 3339 date-time"))
            })?;
            let store = ctx.home.load_trust()?;
            let keyset = |role: &str, ids: &[String], k: usize| -> Result<KeySet> {
                let keys = ids
                    .iter()
                    .map(|id| {
                        store
                            .get(id)
                            .map(|e| (id.clone(), e.public.clone()))
                            .ok_or_else(|| Error::UnknownKey { id: id.clone() })
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                Ok(KeySet::new(role, keys, k)?)
            };
            let logs = logs
                .iter()
                .map(|v| {
                    let k = VerifierKey::parse(v)?;
                    TrustedLog::new(k.name(), vec![k.clone()])
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let witnesses = witnesses
                .iter()
                .map(|v| VerifierKey::parse(v))
                .collect::<Result<Vec<_>, Error>>()?;
            let root = TrustRoot::new(
                version,
                expires,
                keyset("root", &root_keys, threshold)?,
                logs,
                witnesses,
                Quorum {
                    logs: quorum_logs,
                    witnesses: quorum_witnesses,
                },
                keyset("revocation", &revocation_keys, revocation_threshold)?,
            )?;
            if output.exists() {
                return Err(Error::OutputExists { path: output }.into());
            }
            write_atomic(&output, &root.to_envelope()?.to_bytes()?, 0o644)?;
            println!(
                "wrote trust root version {version} to {} (unsigned: {threshold} of {} root keys must sign it: ct trust root sign)",
                output.display(),
                root_keys.len()
            );
            Ok(ExitCode::Valid)
        }
        RootCommand::Sign { file, keys } => {
            let bytes = read_bounded(&file, MAX_ROOT_SIZE, "trust root")?;
            let mut signed = open_root(&bytes)?;
            for key in ctx.signers(&keys)? {
                signed.sign(&key)?;
            }
            write_atomic(&file, &signed.to_bytes()?, 0o644)?;
            println!(
                "signed trust root version {} with {}: {} signature(s)",
                signed.root.version(),
                keys.join(", "),
                signed.envelope.signatures.len()
            );
            Ok(ExitCode::Valid)
        }
        RootCommand::Install { file } => {
            let bytes = read_bounded(&file, MAX_ROOT_SIZE, "trust root")?;
            let (root, changed) = ctx.home.install_root(&bytes, ctx.now()?)?;
            println!(
                "{} trust root version {} (expires {}); root keys {} of {}: {}",
                if changed { "installed" } else { "already installed:" },
                root.version(),
                format_rfc3339(root.expires()),
                root.root_keys().threshold(),
                root.root_keys().keys().len(),
                root.root_keys()
                    .keys()
                    .iter()
                    .map(|(id, k)| format!("{id} {}", Fingerprint::of(k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(ExitCode::Valid)
        }
        RootCommand::Show { file, json } => show(ctx, file.as_deref(), json),
    }
}

fn show(ctx: &Ctx, file: Option<&Path>, as_json: bool) -> Result<ExitCode> {
    let bytes = match file {
        Some(f) => read_bounded(f, MAX_ROOT_SIZE, "trust root")?,
        None => match ctx.home.trust_root_bytes()? {
            Some(b) => b,
            None => {
                println!("no trust root installed (trust.toml's logs and witnesses apply)");
                return Ok(ExitCode::Valid);
            }
        },
    };
    let signed = open_root(&bytes).context("reading the trust root")?;
    let r = &signed.root;
    let now = ctx.now()?;
    let state = ctx.home.trust_state()?;
    let keys = |ks: &KeySet| {
        ks.keys()
            .iter()
            .map(
                |(id, k)| json!({"id": id, "type": k.algorithm().as_str(), "fingerprint": Fingerprint::of(k).to_hex()}),
            )
            .collect::<Vec<_>>()
    };
    let doc = json!({
        "version": r.version(),
        "highest_version_installed": state.root_version,
        "expires": format_rfc3339(r.expires()),
        "expired": now >= r.expires(),
        "root": {"threshold": r.root_keys().threshold(), "keys": keys(r.root_keys())},
        "logs": r.logs().iter().map(|l| json!({"origin": l.origin(), "keys": l.keys().iter().map(VerifierKey::to_vkey).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        "witnesses": r.witnesses().iter().map(VerifierKey::to_vkey).collect::<Vec<_>>(),
        "quorum": {"logs": r.quorum().logs, "witnesses": r.quorum().witnesses},
        "revocation": {"threshold": r.revocation_keys().threshold(), "keys": keys(r.revocation_keys())},
        "signatures": signed.envelope.signatures.iter().map(|s| s.keyid.clone()).collect::<Vec<_>>(),
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::Valid);
    }
    println!(
        "trust root version {} (highest installed {}), expires {}{}",
        r.version(),
        state.root_version,
        format_rfc3339(r.expires()),
        if now >= r.expires() { " EXPIRED" } else { "" }
    );
    for (role, ks) in [("root", r.root_keys()), ("revocation", r.revocation_keys())] {
        println!("{role} keys ({} of {}):", ks.threshold(), ks.keys().len());
        for (id, k) in ks.keys() {
            println!("  {id:<20} {} {}", k.algorithm(), Fingerprint::of(k));
        }
    }
    for l in r.logs() {
        for k in l.keys() {
            println!("log         {} {}", l.origin(), k.to_vkey());
        }
    }
    for w in r.witnesses() {
        println!("witness     {}", w.to_vkey());
    }
    println!(
        "quorum      {} log(s), each with {} witness cosignature(s)",
        r.quorum().logs,
        r.quorum().witnesses
    );
    println!("signatures  {}", signed.envelope.signatures.len());
    Ok(ExitCode::Valid)
}
