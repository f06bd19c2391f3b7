//! `ct version`, `ct man`, `ct completions`: what `ct` says about itself
//! (the manual pages, with the exit-code table from `cerro_core::Kind`'s
//! documented codes, `cerro_core::ExitCode::ALL`).

use anyhow::Result;
use cerro_core::statement::{RELEASE_PREDICATE_TYPE, STATEMENT_TYPE};
use cerro_core::ExitCode;
use clap::CommandFactory;

use crate::cli::Cli;

const BUNDLE_FORMAT: &str = "1";

pub fn version(json: bool) -> Result<ExitCode> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "name": "ct",
                "version": env!("CARGO_PKG_VERSION"),
                "bundle_format": BUNDLE_FORMAT,
                "statement_type": STATEMENT_TYPE,
                "release_predicate": RELEASE_PREDICATE_TYPE,
                "signature": "ed25519",
                "signatures": cerro_core::key::Algorithm::ALL.map(|a| a.as_str()),
                "digest": "sha256",
            }))?
        );
    } else {
        println!("ct {} (bundle format {BUNDLE_FORMAT})", env!("CARGO_PKG_VERSION"));
    }
    Ok(ExitCode::Valid)
}

const TOPICS: &[(&str, &str)] = &[
    ("exit-codes", "what each exit code means"),
    ("bundle", "the .ctp bundle format (spec/bundle-format.md)"),
    ("trust", "keys, fingerprints and trust levels (spec/trust-store.md)"),
    ("policy", "deployment policies (spec/policy.md)"),
];

pub fn man(topic: Option<&str>) -> Result<ExitCode> {
    match topic {
        Some("exit-codes") => {
            println!("CT EXIT CODES\n");
            println!("Every ct command, the containerd shim and the podman hook exit with:\n");
            for (code, meaning) in cerro_core::ExitCode::ALL {
                println!("  {:>3}  {meaning}", code.code());
            }
            println!("\nA refusal names the failed check on stderr; with --json, verify and explain");
            println!("also print a report whose \"exit_code\" and \"error_kind\" repeat it; an error");
            println!("before any report also carries its \"kind\", a stable name finer than the code:\n");
            for (code, _) in cerro_core::ExitCode::ALL {
                let kinds: Vec<&str> = cerro_core::Kind::ALL
                    .iter()
                    .filter(|k| k.exit_code() == code)
                    .map(|k| k.as_str())
                    .collect();
                if !kinds.is_empty() {
                    println!("  {:>3}  {}", code.code(), kinds.join(", "));
                }
            }
        }
        Some("bundle") => println!("{}", include_str!("../../../spec/bundle-format.md")),
        Some("trust") => println!("{}", include_str!("../../../spec/trust-store.md")),
        Some("policy") => println!("{}", include_str!("../../../spec/policy.md")),
        Some(name) => {
            let cmd = Cli::command();
            let Some(sub) = cmd.find_subcommand(name).cloned() else {
                eprintln!("ct: no manual for {name:?}; topics:");
                for (t, d) in TOPICS {
                    eprintln!("  {t:<12} {d}");
                }
                return Ok(ExitCode::Usage);
            };
            let sub = sub.name(format!("ct-{name}"));
            clap_mangen::Man::new(sub).render(&mut std::io::stdout())?;
        }
        None => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
        }
    }
    Ok(ExitCode::Valid)
}

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    clap_complete::generate(shell, &mut Cli::command(), "ct", &mut std::io::stdout());
    Ok(ExitCode::Valid)
}
