//! `ct doctor`, `ct version`, `ct man`, `ct completions`.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use anyhow::Result;
use cerro_core::statement::{RELEASE_PREDICATE_TYPE, STATEMENT_TYPE};
use cerro_core::ExitCode;
use cerro_enforce::{KernelSelinux, SelinuxHost as _, SelinuxMode, SelinuxStatus};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::ctx::{source_date_epoch, Ctx};

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
            println!("also print a report whose \"exit_code\" and \"error_kind\" repeat it.");
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

pub fn doctor(ctx: &Ctx) -> Result<ExitCode> {
    let mut problems = 0;
    let mut report = |ok: bool, what: String| {
        if !ok {
            problems += 1;
        }
        println!("[{}] {what}", if ok { "ok  " } else { "FAIL" });
    };
    let root = ctx.home.root();
    match fs::metadata(root) {
        Ok(m) => {
            let mode = m.permissions().mode() & 0o777;
            report(
                mode & 0o022 == 0,
                format!("state directory {} (mode {mode:o})", root.display()),
            );
        }
        Err(_) => println!(
            "[info] state directory {} does not exist yet (ct keygen creates it)",
            root.display()
        ),
    }
    match ctx.home.load_trust() {
        Ok(store) => {
            let keys: Vec<_> = store.keys().collect();
            report(true, format!("trust store: {} key(s)", keys.len()));
            for k in keys {
                let p = ctx.home.private_path(&k.id);
                if let Ok(m) = fs::metadata(&p) {
                    let mode = m.permissions().mode() & 0o777;
                    report(
                        mode & 0o077 == 0,
                        format!("private key {} (mode {mode:o})", p.display()),
                    );
                }
                if k.revoked_at.is_some() {
                    println!("[info] key {} is revoked", k.id);
                }
            }
        }
        Err(e) => report(false, format!("trust store: {e}")),
    }
    match source_date_epoch() {
        Ok(t) => report(true, format!("SOURCE_DATE_EPOCH: bundles get mtime {t}")),
        Err(e) => report(false, e.to_string()),
    }
    let cpu = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let sha_ni = cpu.split_whitespace().any(|w| w == "sha_ni");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "[info] {cores} core(s) for hashing; SHA extensions {}",
        if sha_ni {
            "present"
        } else {
            "absent (hashing is slower)"
        }
    );
    println!("[info] {}", selinux_line(&KernelSelinux::default().status()));
    Ok(if problems == 0 {
        ExitCode::Valid
    } else {
        ExitCode::Config
    })
}

/// What `ct doctor` says about confinement: whether the shim and the hook
/// would run containers in their bundle's SELinux domain on this host.
fn selinux_line(status: &SelinuxStatus) -> String {
    match status {
        SelinuxStatus::Disabled(reason) => format!(
            "{reason}: containers run unconfined (the shim and the hook apply no SELinux domain, and the audit log says so)"
        ),
        SelinuxStatus::Enabled { mode, .. } => {
            let mode = match mode {
                Some(SelinuxMode::Enforcing) => "enforcing",
                Some(SelinuxMode::Permissive) => "permissive (denials are logged, not enforced)",
                None => "enabled (mode unknown)",
            };
            format!(
                "SELinux is {mode}: containers run confined in their bundle's domain (ct_<package>_t); \
                 one whose module is not loaded is refused (ct selinux install BUNDLE)"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctor_says_whether_containers_are_confined() {
        let off = selinux_line(&SelinuxStatus::Disabled("SELinux is not enabled in this kernel".into()));
        assert!(
            off.starts_with("SELinux is not enabled in this kernel: containers run unconfined"),
            "{off}"
        );
        let on = selinux_line(&SelinuxStatus::Enabled {
            mode: Some(SelinuxMode::Enforcing),
            mls: true,
        });
        assert!(on.starts_with("SELinux is enforcing: containers run confined"), "{on}");
        assert!(!on.contains("unconfined"), "{on}");
    }
}
