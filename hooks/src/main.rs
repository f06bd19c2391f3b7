//! `cerro-hook`: an OCI prestart hook (hooks 1.0.0, for podman's hooks.d)
//! that lets a container start only if its image is attested by trusted
//! signers, through the same decision as the containerd shim
//! (`cerro_enforce::decide`).
//!
//! The runtime gives the container's state on stdin; the hook finds the image
//! from podman's storage (or the `io.cerro.bundle` annotation names a bundle),
//! decides, and exits 0 to allow or non-zero — with the reason on stderr — to
//! refuse. It needs no PATH and no terminal. Configuration comes from the
//! environment its hooks.d JSON sets (`CERRO_HOME`, `CERRO_STORE`,
//! `CERRO_POLICY`, `CERRO_MODE`, `CERRO_AUDIT_LOG`).
//!
//! Confinement: runc has read the OCI config before a prestart hook runs,
//! so the hook cannot set the container's SELinux labels. On a host with
//! SELinux, the decision checks that the labels podman chose
//! (`process.selinuxLabel`, `linux.mountLabel`) carry the bundle's domain
//! and content types, and refuses otherwise, naming the `--security-opt`
//! options to pass; without SELinux, the record says the container runs
//! unconfined.

mod labels;
mod podman;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use cerro_enforce::{decide, Config, KernelSelinux, Request};
use serde::Deserialize;

/// The annotation that names a bundle explicitly.
const BUNDLE_ANNOTATION: &str = "io.cerro.bundle";
/// Largest state document read from stdin.
const MAX_STATE: u64 = 1 << 20;

#[derive(Deserialize)]
struct State {
    id: String,
    bundle: PathBuf,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

fn refuse(code: u8, msg: &str) -> ExitCode {
    eprintln!("cerro-hook: refused: {msg}");
    ExitCode::from(code.max(1))
}

fn main() -> ExitCode {
    let mut raw = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_STATE + 1).read_to_end(&mut raw) {
        return refuse(
            cerro_core::ExitCode::Io.code(),
            &format!("cannot read the OCI state: {e}"),
        );
    }
    let state: State = match serde_json::from_slice(&raw) {
        Ok(s) => s,
        Err(e) => {
            return refuse(
                cerro_core::ExitCode::Malformed.code(),
                &format!("bad OCI state on stdin: {e}"),
            )
        }
    };
    let cfg = match Config::for_daemon(|k| std::env::var_os(k)) {
        Ok(c) => c,
        Err(e) => return refuse(e.exit_code().code(), &e.to_string()),
    };
    let explicit = state.annotations.get(BUNDLE_ANNOTATION).map(PathBuf::from);
    // With an explicit bundle the image may be unknown: the bundle's own
    // image is then the one verified. Without one, not knowing the image is
    // decided (and audited) with no image, which refuses in enforce mode.
    let (images, lookup_error) = match podman::image_digests(&state.bundle, &state.id) {
        Ok(d) => (d, None),
        Err(_) if explicit.is_some() => (Vec::new(), None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let given = match labels::given_labels(&state.bundle) {
        Ok(l) => l,
        Err(e) => {
            return refuse(
                cerro_core::ExitCode::Io.code(),
                &format!("cannot read the container's OCI config: {e}"),
            )
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let d = decide(
        &cfg,
        &Request {
            component: "hook",
            container: Some(&state.id),
            images: &images,
            bundle: explicit.as_deref(),
            now,
            selinux: &KernelSelinux::default(),
            given_labels: Some(&given),
            lookup_error: lookup_error.as_deref(),
        },
    );
    if d.allowed {
        if !d.verified {
            eprintln!("cerro-hook: {}", d.reason);
        }
        ExitCode::SUCCESS
    } else {
        refuse(d.exit_code, &d.reason)
    }
}
