//! How a runtime written in Rust links the decision (runtimes in other
//! languages link `libcerro_enforce_c`, `enforce-c/`): read the daemon
//! configuration once, ask [`Host::decide`] at each container start, and
//! let only the [`Admission`] it returns (here through
//! [`Host::decide_images`], for a runtime that knows the image it runs) reach the code that creates the
//! container — so a start that skipped the check does not compile.
//!
//! ```text
//! cargo run -p cerro-enforce --example runtime -- CONTAINER_ID sha256:<manifest digest>
//! ```
//! with `CERRO_HOME`, `CERRO_STORE` and `CERRO_AUDIT_LOG` set as for the
//! shim (or the system layout). Prints what it would start, or why not, and
//! exits with the decision's code from the one table.

use std::process::ExitCode;

use cerro_core::digest::Digest;
use cerro_enforce::{Admission, Config, Confinement, Host};

/// The act: only an admission can start a container. A real runtime
/// creates the container here, with the labels of the admission's
/// confinement in its OCI config.
fn create_container(admission: &Admission) -> String {
    let image = admission.image().map(Digest::to_string).unwrap_or_default();
    let container = admission.container().unwrap_or("(no id)");
    match admission.confinement() {
        Confinement::Domain {
            process_label,
            mount_label,
            ..
        } => format!(
            "start {container} ({image}) with process.selinuxLabel {process_label}, linux.mountLabel {mount_label}"
        ),
        Confinement::Unconfined { reason } => format!("start {container} ({image}) unconfined: {reason}"),
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(container), Some(image)) = (args.next(), args.next()) else {
        eprintln!("usage: runtime CONTAINER_ID sha256:<manifest digest>");
        return ExitCode::from(64);
    };
    // Everything that is not a decision refuses too, with its code.
    let images = match Digest::parse(&image) {
        Ok(d) => [d],
        Err(e) => {
            eprintln!("refused: {e}");
            return ExitCode::from(e.exit_code().code());
        }
    };
    let config = match Config::for_daemon(|k| std::env::var_os(k)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("refused: {e}");
            return ExitCode::from(e.exit_code().code());
        }
    };
    let host = Host::with_system_clock(config);
    let decision = host.decide_images("example-runtime", Some(&container), &images, None);
    match decision.admission() {
        Some(admission) => {
            println!("{}", create_container(admission));
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "refused ({}): {}",
                decision.check.unwrap_or("refused"),
                cerro_core::text::printable(&decision.reason)
            );
            ExitCode::from(decision.exit_code.max(1))
        }
    }
}
