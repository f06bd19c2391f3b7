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
mod signer;

use std::process::ExitCode;

use cerro_core::{ExitCode as Code, Kind};
use clap::Parser;

/// A reader that went away (`ct man exit-codes | head`) ends `ct` as it
/// ends other Unix tools, quietly with 128 + SIGPIPE, instead of the panic
/// `println!` raises on a broken pipe: Rust ignores SIGPIPE, and setting it
/// back would take unsafe code the workspace forbids. Any other panic keeps
/// the default report.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
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
        if let Some(e) = cause.downcast_ref::<cerro_import::ImportError>() {
            return Some(e.kind());
        }
        if let Some(e) = cause.downcast_ref::<cerro_pkcs11::Error>() {
            return Some(e.kind());
        }
        if let Some(e) = cause.downcast_ref::<cerro_build::BuildError>() {
            return Some(e.kind());
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return Some(Kind::Io);
        }
    }
    None
}
