//! `ct keygen` and `ct key …`.

use std::path::Path;

use anyhow::{Context as _, Result};
use cerro_core::fsutil::write_atomic;
use cerro_core::trust::home::public_pem;
use cerro_core::trust::TrustLevel;
use cerro_core::{Error, ExitCode};

use crate::cli::KeyCommand;
use crate::ctx::Ctx;

pub fn keygen(ctx: &Ctx, id: &str, encrypt: bool) -> Result<ExitCode> {
    let pass = if encrypt {
        Some(ctx.passphrase()?.ok_or_else(|| {
            Error::Config("--encrypt needs a passphrase: --passphrase-file FILE or CERRO_PASSPHRASE".into())
        })?)
    } else {
        None
    };
    let entry = ctx.home.generate_key(id, pass.as_ref().map(|p| p.as_slice()))?;
    println!("generated key {id}");
    println!("  fingerprint {}", entry.fingerprint);
    println!("  trust       {}", entry.level);
    println!(
        "  private key {}{}",
        ctx.home.private_path(id).display(),
        if encrypt { " (encrypted)" } else { "" }
    );
    Ok(ExitCode::Valid)
}

pub fn key(ctx: &Ctx, cmd: KeyCommand) -> Result<ExitCode> {
    match cmd {
        KeyCommand::List { json } => list(ctx, json),
        KeyCommand::Export { id, output } => {
            let store = ctx.home.load_trust()?;
            let k = store
                .get(&id)
                .ok_or_else(|| Error::Config(format!("no key with id {id:?} in the trust store")))?;
            let pem = public_pem(&k.public);
            if output == Path::new("-") {
                print!("{pem}");
            } else {
                write_atomic(&output, pem.as_bytes(), 0o644)?;
                eprintln!("wrote public key {id} ({}) to {}", k.fingerprint, output.display());
            }
            Ok(ExitCode::Valid)
        }
        KeyCommand::Import { file, id } => {
            let pem = std::fs::read_to_string(&file)
                .map_err(|e| Error::io("reading", &file, e))
                .with_context(|| "importing a public key")?;
            let e = ctx.home.import_key(&id, &pem)?;
            println!("imported key {id}");
            println!("  fingerprint {}", e.fingerprint);
            println!(
                "  trust       {} (check the fingerprint, then: ct key trust {id} full)",
                e.level
            );
            Ok(ExitCode::Valid)
        }
        KeyCommand::Trust { id, level } => {
            let level: TrustLevel = level.parse()?;
            let e = ctx.home.update_key(&id, |k| k.level = level)?;
            println!("key {id} is now trusted {}", e.level);
            Ok(ExitCode::Valid)
        }
        KeyCommand::Revoke { id } => {
            let now = ctx.now();
            let e = ctx.home.update_key(&id, |k| {
                k.revoked_at.get_or_insert(now);
            })?;
            println!(
                "key {id} ({}) is revoked: its signatures no longer count",
                e.fingerprint
            );
            Ok(ExitCode::Valid)
        }
    }
}

fn list(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let store = ctx.home.load_trust()?;
    if json {
        let keys: Vec<_> = store
            .keys()
            .map(|k| {
                serde_json::json!({
                    "id": k.id,
                    "fingerprint": k.fingerprint.to_hex(),
                    "trust": k.level.as_str(),
                    "revoked": k.revoked_at.is_some(),
                    "revoked_at": k.revoked_at,
                    "valid_from": k.valid_from,
                    "valid_until": k.valid_until,
                    "private_key": ctx.home.private_path(&k.id).exists(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&keys)?);
        return Ok(ExitCode::Valid);
    }
    if store.keys().next().is_none() {
        println!("no keys (create one with: ct keygen --id NAME)");
    }
    for k in store.keys() {
        let mut flags = Vec::new();
        if ctx.home.private_path(&k.id).exists() {
            flags.push("private");
        }
        if k.revoked_at.is_some() {
            flags.push("REVOKED");
        }
        println!(
            "{:<24} {:<9} {} {}",
            k.id,
            k.level.as_str(),
            k.fingerprint,
            flags.join(",")
        );
    }
    Ok(ExitCode::Valid)
}
