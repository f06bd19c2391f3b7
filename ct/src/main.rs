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

use cerro_core::{ExitCode as Code, Kind};
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

/// The exit code of an error, through the one table (`cerro_core::Kind::row`).
pub fn exit_code_of(e: &anyhow::Error) -> Code {
    kind_of(e).map_or(Code::Config, Kind::exit_code)
}

/// The kind of an error: the first error of a workspace crate in the chain
/// decides; a bare I/O error is an I/O failure; `None` for anything else
/// (a configuration problem, exit 78).
pub fn kind_of(e: &anyhow::Error) -> Option<Kind> {
    for cause in e.chain() {
        if let Some(e) = cause.downcast_ref::<cerro_core::Error>() {
            return Some(e.kind());
        }
        if let Some(e) = cause.downcast_ref::<cerro_enforce::EnforceError>() {
            return Some(e.kind());
        }
        if let Some(e) = cause.downcast_ref::<cerro_policy::PolicyError>() {
            return Some(e.kind());
        }
        if let Some(e) = cause.downcast_ref::<cerro_selinux::SelinuxError>() {
            return Some(e.kind());
        }
        if let Some(e) = cause.downcast_ref::<cerro_registry::Error>() {
            return Some(e.kind());
        }
        if let Some(e) = cause.downcast_ref::<cerro_tlog::Error>() {
            return Some(e.kind());
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return Some(Kind::Io);
        }
    }
    None
}
