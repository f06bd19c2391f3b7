//! `ct keygen` and `ct key …`.

use std::path::Path;

use anyhow::{Context as _, Result};
use cerro_core::file::write_atomic;
use cerro_core::key::Algorithm;
use cerro_core::timestamp::{format_rfc3339, parse_rfc3339};
use cerro_core::trust::home::public_pem;
use cerro_core::trust::{KeyEntry, ThresholdGroup, TrustLevel};
use cerro_core::{Error, ExitCode};
use cerro_pkcs11::{TokenUri, Tokens};

use crate::cli::{GroupCommand, KeyCommand};
use crate::ctx::Ctx;

pub fn keygen(ctx: &Ctx, id: &str, encrypt: bool, key_type: &str, pkcs11: Option<&str>) -> Result<ExitCode> {
    let algorithm: Algorithm = key_type.parse()?;
    if let Some(uri) = pkcs11 {
        return keygen_on_token(ctx, id, algorithm, uri);
    }
    let pass = if encrypt {
        Some(ctx.passphrase()?.ok_or_else(|| Error::PassphraseNeeded {
            what: "--encrypt".into(),
        })?)
    } else {
        None
    };
    let pass = pass.as_ref().map(|p| p.as_slice());
    // A keygen killed between writing the private key and the trust store
    // left the key half-made: finish it rather than refuse the id for ever.
    if let Some(entry) = ctx.home.resume_keygen_of(algorithm, id, pass)? {
        println!("finished the interrupted generation of key {id} (its private key was already written)");
        print_key(ctx, id, &entry, encrypt);
        return Ok(ExitCode::Valid);
    }
    let entry = ctx.home.generate_key_of(algorithm, id, pass)?;
    println!("generated key {id}");
    print_key(ctx, id, &entry, encrypt);
    Ok(ExitCode::Valid)
}

/// `ct keygen --pkcs11 URI`: the key pair made on the token (its private
/// half sensitive and not extractable), its public half trusted
/// ultimately, as keygen does, and the URI kept as the key's reference so
/// that `--key ID` signs on the token. The id is checked free before the
/// token is touched, so a refused keygen leaves no key on it.
fn keygen_on_token(ctx: &Ctx, id: &str, algorithm: Algorithm, uri: &str) -> Result<ExitCode> {
    cerro_core::trust::validate_key_id(id)?;
    if ctx.home.load_trust()?.get(id).is_some() || ctx.home.private_path(id).exists() {
        return Err(Error::KeyExists { id: id.to_owned() }.into());
    }
    let uri = TokenUri::parse(uri)?;
    let generated = Tokens::new(ctx.pkcs11_settings()).generate(&uri, algorithm)?;
    let reference = uri.to_string();
    let entry = ctx
        .home
        .add_token_key(id, generated.public, &reference, TrustLevel::Ultimate)
        .with_context(|| {
            format!(
                "the key {} was generated on token {:?} but not added to the trust store",
                uri.object_name(),
                generated.token
            )
        })?;
    println!(
        "generated key {id} on PKCS#11 token {:?} (sensitive, not extractable: its private key never leaves the token)",
        generated.token
    );
    println!("  type        {}", entry.public.algorithm());
    println!("  fingerprint {}", entry.fingerprint);
    println!("  trust       {}", entry.level);
    println!("  private key {reference}");
    Ok(ExitCode::Valid)
}

fn print_key(ctx: &Ctx, id: &str, entry: &KeyEntry, encrypt: bool) {
    println!("  type        {}", entry.public.algorithm());
    println!("  fingerprint {}", entry.fingerprint);
    println!("  trust       {}", entry.level);
    println!(
        "  private key {}{}",
        ctx.home.private_path(id).display(),
        if encrypt { " (encrypted)" } else { "" }
    );
}

pub fn key(ctx: &Ctx, cmd: KeyCommand) -> Result<ExitCode> {
    match cmd {
        KeyCommand::List { json } => list(ctx, json),
        KeyCommand::Export { id, output } => {
            let store = ctx.home.load_trust()?;
            let k = store.get(&id).ok_or_else(|| Error::UnknownKey { id: id.clone() })?;
            let pem = public_pem(&k.public);
            if output == Path::new("-") {
                print!("{pem}");
            } else {
                write_atomic(&output, pem.as_bytes(), 0o644)?;
                eprintln!("wrote public key {id} ({}) to {}", k.fingerprint, output.display());
            }
            Ok(ExitCode::Valid)
        }
        KeyCommand::Import { file, id, pkcs11 } => {
            let e = match (file, pkcs11) {
                (_, Some(uri)) => {
                    let uri = TokenUri::parse(&uri)?;
                    let public = Tokens::new(ctx.pkcs11_settings()).public_key(&uri)?;
                    let reference = uri.to_string();
                    let e = ctx.home.add_token_key(&id, public, &reference, TrustLevel::Untrusted)?;
                    println!("imported key {id} from PKCS#11 token object {}", uri.object_name());
                    println!("  private key {reference}");
                    e
                }
                (Some(file), None) => {
                    let pem = std::fs::read_to_string(&file)
                        .map_err(|e| Error::io("reading", &file, e))
                        .with_context(|| "importing a public key")?;
                    let e = ctx.home.import_key(&id, &pem)?;
                    println!("imported key {id}");
                    e
                }
                (None, None) => {
                    return Err(Error::invalid_config("ct key import", "give a PEM file or --pkcs11 URI").into())
                }
            };
            println!("  type        {}", e.public.algorithm());
            println!("  fingerprint {}", e.fingerprint);
            println!(
                "  trust       {} (check the fingerprint, then: ct key trust {id} full)",
                e.level
            );
            Ok(ExitCode::Valid)
        }
        KeyCommand::Trust {
            id,
            level,
            valid_from,
            valid_until,
        } => {
            let level: TrustLevel = level.parse()?;
            let from = valid_from
                .as_deref()
                .map(|t| parse_time("--valid-from", t))
                .transpose()?;
            let until = valid_until
                .as_deref()
                .map(|t| parse_time("--valid-until", t))
                .transpose()?;
            let e = ctx.home.update_trust(|store| {
                let k = store.get_mut(&id).ok_or_else(|| Error::UnknownKey { id: id.clone() })?;
                let (f, u) = (from.unwrap_or(k.valid_from), until.unwrap_or(k.valid_until));
                if let (Some(f), Some(u)) = (f, u) {
                    if f > u {
                        return Err(Error::invalid_config(
                            format!("key {id}"),
                            format!(
                                "valid-from {} is after valid-until {}: its signatures would never count",
                                format_rfc3339(f),
                                format_rfc3339(u)
                            ),
                        ));
                    }
                }
                k.level = level;
                (k.valid_from, k.valid_until) = (f, u);
                Ok(k.clone())
            })?;
            println!("key {id} is now trusted {}{}", e.level, window(&e, ", "));
            Ok(ExitCode::Valid)
        }
        KeyCommand::Group(g) => group(ctx, g),
        KeyCommand::Revoke { id } => {
            let now = ctx.now()?;
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

/// A time given on the command line: RFC 3339, unix seconds, or `none`
/// (`Some(None)`: clear the bound).
fn parse_time(flag: &str, t: &str) -> Result<Option<u64>> {
    if t == "none" {
        return Ok(None);
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(secs) = t.parse() {
            return Ok(Some(secs));
        }
    }
    match parse_rfc3339(t) {
        Some(secs) => Ok(Some(secs)),
        None => Err(Error::invalid_config(
            flag,
            format!("{t:?} is not an RFC 3339 date-time (2026-01-01T00:00:00Z), unix seconds or \"none\""),
        )
        .into()),
    }
}

/// The validity window of `k`, for humans (empty when it has none).
fn window(k: &KeyEntry, prefix: &str) -> String {
    match (k.valid_from, k.valid_until) {
        (None, None) => String::new(),
        (f, u) => format!(
            "{prefix}valid {}..{}",
            f.map(format_rfc3339).unwrap_or_default(),
            u.map(format_rfc3339).unwrap_or_default()
        ),
    }
}

fn group(ctx: &Ctx, cmd: GroupCommand) -> Result<ExitCode> {
    match cmd {
        GroupCommand::Set { name, threshold, ids } => {
            let n = ids.len();
            let replaced = ctx.home.update_trust(|store| {
                let g = ThresholdGroup::new(&name, ids, threshold)?;
                store.set_group(g)
            })?;
            println!(
                "group {name}: {threshold} of {n} key(s){}",
                if replaced.is_some() { " (replaced)" } else { "" }
            );
        }
        GroupCommand::List { json } => {
            let store = ctx.home.load_trust()?;
            if json {
                let groups: Vec<_> = store
                    .groups()
                    .map(|g| serde_json::json!({"name": g.name(), "threshold": g.threshold(), "keys": g.keys()}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&groups)?);
            } else {
                if store.groups().next().is_none() {
                    println!("no groups (create one with: ct key group set NAME --threshold K ID...)");
                }
                for g in store.groups() {
                    println!(
                        "{:<24} {} of {}: {}",
                        g.name(),
                        g.threshold(),
                        g.keys().len(),
                        g.keys().join(", ")
                    );
                }
            }
        }
        GroupCommand::Remove { name } => {
            ctx.home.update_trust(|store| {
                store
                    .remove_group(&name)
                    .ok_or_else(|| Error::UnknownGroup { name: name.clone() })
            })?;
            println!("group {name} removed");
        }
    }
    Ok(ExitCode::Valid)
}

fn list(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let store = ctx.home.load_trust()?;
    if json {
        let keys: Vec<_> = store
            .keys()
            .map(|k| {
                serde_json::json!({
                    "id": k.id,
                    "type": k.public.algorithm().as_str(),
                    "fingerprint": k.fingerprint.to_hex(),
                    "trust": k.level.as_str(),
                    "revoked": k.revoked_at.is_some(),
                    "revoked_at": k.revoked_at,
                    "valid_from": k.valid_from,
                    "valid_until": k.valid_until,
                    "private_key": ctx.home.private_path(&k.id).exists() || ctx.home.token_reference_path(&k.id).exists(),
                    "pkcs11": ctx.home.token_reference(&k.id).ok().flatten(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&keys)?);
        return Ok(ExitCode::Valid);
    }
    if store.keys().next().is_none() {
        println!("no keys (create one with: ct keygen --id NAME)");
    }
    let now = ctx.now()?;
    for k in store.keys() {
        let mut flags = Vec::new();
        if ctx.home.private_path(&k.id).exists() {
            flags.push("private");
        } else if ctx.home.token_reference_path(&k.id).exists() {
            flags.push("private:pkcs11");
        }
        if k.revoked_at.is_some() {
            flags.push("REVOKED");
        }
        if k.valid_until.is_some_and(|t| now > t) {
            flags.push("EXPIRED");
        }
        if k.valid_from.is_some_and(|t| now < t) {
            flags.push("NOT-YET-VALID");
        }
        println!(
            "{:<24} {:<10} {:<9} {} {}{}",
            k.id,
            k.public.algorithm().as_str(),
            k.level.as_str(),
            k.fingerprint,
            flags.join(","),
            window(k, if flags.is_empty() { "" } else { " " })
        );
    }
    Ok(ExitCode::Valid)
}
