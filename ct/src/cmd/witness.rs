//! `ct witness`: a transparency-log witness (crate `cerro-tlog`, module
//! `witness`; spec/transparency.md §13): its key, its state directory, and
//! `POST /add-checkpoint` over HTTP.

use std::io::Write as _;
use std::net::TcpListener;

use anyhow::Result;
use cerro_core::tlog::VerifierKey;
use cerro_core::ExitCode;
use cerro_tlog::key;
use cerro_tlog::witness::{Witness, WitnessedLog};

use crate::cli::WitnessCommand;

/// Runs a `ct witness` command; its errors map through the one table.
pub fn run(cmd: &WitnessCommand) -> Result<ExitCode> {
    run_witness(cmd)?;
    Ok(ExitCode::Valid)
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
                println!("ct witness {vkey}: listening on http://{addr} (POST /add-checkpoint)");
                let _ = std::io::stdout().flush();
            })
        }
    }
}
