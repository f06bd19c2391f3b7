//! `ct witness`: a transparency-log witness (crate `cerro-tlog`, module
//! `witness`; spec/transparency.md §13): its key, its state directory, and
//! `POST /add-checkpoint` over HTTP (and our read endpoint, `GET
//! /checkpoint/<hex>`, for monitors).

use std::io::Write as _;
use std::net::TcpListener;

use anyhow::Result;
use cerro_core::tlog::VerifierKey;
use cerro_core::ExitCode;
use cerro_tlog::key;
use cerro_tlog::witness::{Witness, WitnessedLog};

use crate::cli::WitnessCommand;
use crate::ctx::Ctx;

/// Whether `cmd` runs without a state directory (it runs a witness, not
/// the trust in witnesses).
pub fn standalone(cmd: &WitnessCommand) -> bool {
    matches!(
        cmd,
        WitnessCommand::Keygen { .. } | WitnessCommand::Init { .. } | WitnessCommand::Serve { .. }
    )
}

/// Runs a `ct witness` command that runs a witness; its errors map through
/// the one table.
pub fn run(cmd: &WitnessCommand) -> Result<ExitCode> {
    run_witness(cmd)?;
    Ok(ExitCode::Valid)
}

/// Runs a `ct witness` command on the trust store.
pub fn run_home(ctx: &Ctx, cmd: &WitnessCommand) -> Result<ExitCode> {
    match cmd {
        WitnessCommand::Trust { vkey } => {
            let key = VerifierKey::parse(vkey)?;
            let shown = key.to_vkey();
            let name = key.name().to_owned();
            let old = ctx.home.update_trust(|s| s.set_witness(key))?;
            println!(
                "{} witness {name} with key {shown}",
                if old.is_some() { "replaced" } else { "trusted" }
            );
            Ok(ExitCode::Valid)
        }
        WitnessCommand::Untrust { name } => {
            ctx.home.update_trust(|s| {
                s.remove_witness(name).map(|_| ()).ok_or_else(|| {
                    cerro_core::Error::invalid_config(
                        "transparency witness",
                        format!("no trusted witness is named {name:?}"),
                    )
                })
            })?;
            println!("no longer trusting witness {name}");
            Ok(ExitCode::Valid)
        }
        WitnessCommand::List { json } => {
            let store = ctx.home.load_trust()?;
            if ctx.home.trust_root_bytes()?.is_some() {
                eprintln!(
                    "note: a signed trust root is installed: its witnesses apply, not these of trust.toml (ct trust root show)"
                );
            }
            let keys: Vec<String> = store.witnesses().map(VerifierKey::to_vkey).collect();
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "witnesses": keys }))?
                );
            } else {
                for k in keys {
                    println!("{k}");
                }
            }
            Ok(ExitCode::Valid)
        }
        WitnessCommand::Keygen { .. } | WitnessCommand::Init { .. } | WitnessCommand::Serve { .. } => run(cmd),
    }
}

fn run_witness(cmd: &WitnessCommand) -> cerro_tlog::Result<()> {
    match cmd {
        WitnessCommand::Keygen { name, output } => {
            let cosigner = key::generate_cosigner(name)?;
            key::write(output, &cosigner)?;
            println!("{}", cosigner.verifier_key().to_vkey());
            Ok(())
        }
        WitnessCommand::Init { dir, key: k } => {
            let cosigner = key::read_cosigner(k)?;
            Witness::init(dir, &cosigner)?;
            println!("{}", cosigner.verifier_key().to_vkey());
            Ok(())
        }
        WitnessCommand::Serve {
            dir,
            key: k,
            logs,
            listen,
        } => {
            let logs = logs
                .iter()
                .map(|v| WitnessedLog::from_keys(vec![VerifierKey::parse(v)?]))
                .collect::<cerro_tlog::Result<Vec<_>>>()?;
            let witness = Witness::open(dir, key::read_cosigner(k)?, logs)?;
            let listener = TcpListener::bind(*listen).map_err(|source| cerro_tlog::Error::Io {
                op: "listening on",
                path: listen.to_string().into(),
                source,
            })?;
            let vkey = witness.verifier_key().to_vkey();
            cerro_tlog::witness::serve(witness, listener, |addr| {
                println!("ct witness {vkey}: listening on http://{addr} (POST /add-checkpoint, GET /checkpoint/<hex>)");
                let _ = std::io::stdout().flush();
            })
        }
        WitnessCommand::Trust { .. } | WitnessCommand::Untrust { .. } | WitnessCommand::List { .. } => {
            // Dispatched to `run_home` (they need the state directory).
            Err(cerro_tlog::Error::Core(cerro_core::Error::invalid_config(
                "ct witness",
                "this command needs the state directory",
            )))
        }
    }
}
