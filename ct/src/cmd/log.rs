//! `ct log`: a transparency log (crate `cerro-tlog`, spec/transparency.md
//! §10): its key, a new log directory, and its write side over HTTP. The
//! read side is the directory, served by any static HTTP server.

use std::io::Write as _;
use std::net::TcpListener;

use anyhow::Result;
use cerro_core::tlog::NoteSigner as _;
use cerro_core::ExitCode;
use cerro_tlog::{key, Log};

use crate::cli::LogCommand;

/// Runs a `ct log` command. Its errors go to `main` like every command's,
/// which maps them through the one table (`cerro_core::Kind`).
pub fn run(cmd: &LogCommand) -> Result<ExitCode> {
    run_log(cmd)?;
    Ok(ExitCode::Valid)
}

fn run_log(cmd: &LogCommand) -> cerro_tlog::Result<()> {
    match cmd {
        LogCommand::Keygen { name, output } => {
            let signer = key::generate(name)?;
            key::write(output, &signer)?;
            println!("{}", signer.verifier_key().to_vkey());
            Ok(())
        }
        LogCommand::Init { dir, key: k } => {
            let log = Log::create(dir, key::read(k)?)?;
            println!("{}", String::from_utf8_lossy(&log.checkpoint().to_bytes()).trim_end());
            Ok(())
        }
        LogCommand::Serve { dir, key: k, listen } => {
            let log = Log::open(dir, key::read(k)?)?;
            let listener = TcpListener::bind(*listen).map_err(|source| cerro_tlog::Error::Io {
                op: "listening on",
                path: listen.to_string().into(),
                source,
            })?;
            cerro_tlog::serve(log, listener, |addr| {
                println!("ct log: listening on http://{addr} (POST /add)");
                let _ = std::io::stdout().flush();
            })
        }
    }
}
