//! `ct`: the Cerro Torre command-line tool. Parses arguments and calls
//! `cerro-core` / `cerro-policy`; each command lives in its own module under
//! `cmd/`. Errors become the documented exit codes in one place
//! ([`exit_code_of`]).

mod cli;
mod cmd;
mod ctx;
mod output;
mod progress;
mod signals;

use std::process::ExitCode;

use cerro_core::ExitCode as Code;
use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => ExitCode::SUCCESS,
                _ => ExitCode::from(Code::Usage.code()),
            };
        }
    };
    match cmd::run(cli) {
        Ok(code) => ExitCode::from(code.code()),
        Err(e) => {
            eprintln!("ct: {}", output::one_line(&e));
            ExitCode::from(exit_code_of(&e).code())
        }
    }
}

/// The exit code of an error: the first `cerro_core::Error` in the chain
/// decides; a bare I/O error is an I/O failure; anything else is a
/// configuration problem.
pub fn exit_code_of(e: &anyhow::Error) -> Code {
    for cause in e.chain() {
        if let Some(core) = cause.downcast_ref::<cerro_core::Error>() {
            return core.exit_code();
        }
        if cause.downcast_ref::<cerro_policy::PolicyError>().is_some() {
            return Code::Config;
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return Code::Io;
        }
    }
    Code::Config
}
