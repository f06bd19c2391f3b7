//! `cerro-hook`: an OCI prestart hook (hooks 1.0.0, for podman's hooks.d)
//! that lets a container start only if its image is attested by trusted
//! signers, through the same decision as the containerd shim
//! (`cerro_enforce::decide`).
//!
//! The runtime gives the container's state on stdin; the hook finds the image
//! from podman's storage, decides, and exits 0 to allow or non-zero — with
//! the reason on stderr — to refuse. A container whose image storage cannot
//! name (`podman run --rootfs`, an unknown storage layout) is refused. It
//! needs no PATH and no terminal. Configuration comes from the environment
//! its hooks.d JSON sets (`CERRO_HOME`, `CERRO_STORE`, `CERRO_POLICY`,
//! `CERRO_MODE`, `CERRO_AUDIT_LOG`, `CERRO_ALLOW_BUNDLE_ANNOTATION`), and
//! is refused if the trust root or store is not root's alone
//! (`Config::for_daemon`).
//!
//! The `io.cerro.bundle` annotation is ignored unless the hooks.d JSON sets
//! `CERRO_ALLOW_BUNDLE_ANNOTATION=1`: podman copies an image's manifest
//! annotations into the container's, so the image's publisher can set it.
//! Even when allowed it only chooses which stored bundle to verify: the
//! path must be inside the bundle store, the file regular, and the bundle
//! must attest the image podman names (see [`explicit_bundle`]).
//!
//! Confinement: runc has read the OCI config before a prestart hook runs,
//! so the hook cannot set the container's SELinux labels. On a host with
//! SELinux, the decision checks that the labels podman chose
//! (`process.selinuxLabel`, `linux.mountLabel`) carry the bundle's domain
//! and content types, and refuses otherwise, naming the `--security-opt`
//! options to pass; without SELinux, the record says the container runs
//! unconfined.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cerro_enforce::{refuse_without_clock, Config, Host, KernelSelinux, Request};
use cerro_hook::{labels, parse_state, podman, HookError, State, MAX_STATE};

use cerro_core::naming::BUNDLE_ANNOTATION;

/// The hooks.d `env` switch that lets [`BUNDLE_ANNOTATION`] be used at all.
const ALLOW_ANNOTATION: &str = "CERRO_ALLOW_BUNDLE_ANNOTATION";

fn refuse(code: u8, msg: &str) -> ExitCode {
    eprintln!("cerro-hook: refused: {msg}");
    ExitCode::from(code.max(1))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Refusal::Decided(d)) => refuse(d.exit_code, &d.reason),
        Err(Refusal::Error(e)) => refuse(e.exit_code().code(), &e.to_string()),
    }
}

/// Why the container may not start: the decision's refusal (its exit code
/// came from the one table when it was decided), or the hook's own error.
enum Refusal {
    Decided(Box<cerro_enforce::Decision>),
    Error(HookError),
}

impl<E: Into<HookError>> From<E> for Refusal {
    fn from(e: E) -> Self {
        Refusal::Error(e.into())
    }
}

fn run() -> Result<(), Refusal> {
    let mut raw = Vec::new();
    std::io::stdin()
        .take(MAX_STATE + 1)
        .read_to_end(&mut raw)
        .map_err(HookError::Stdin)?;
    let state: State = parse_state(&raw)?;
    let cfg = Config::for_daemon(|k| std::env::var_os(k))?;
    let explicit = explicit_bundle(&state.annotations, &cfg, |k| std::env::var_os(k))?;
    // Not knowing the image is decided (and audited) with no image, which
    // refuses, with or without an explicit bundle.
    let (images, lookup_error) = match podman::image_digests(&state.bundle, &state.id) {
        Ok(d) => (d, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let given = labels::given_labels(&state.bundle)?;
    // The host service over the daemon configuration, with the one clock
    // (`cerro_core::clock::unix_now`), read once, here.
    let host = Host::with_system_clock(cfg);
    let now = match host.now() {
        Ok(n) => n,
        Err(e) => {
            let d = refuse_without_clock(host.config(), "hook", Some(&state.id), &images, e);
            return Err(Refusal::Decided(Box::new(d)));
        }
    };
    let d = host.decide(&Request {
        component: "hook",
        container: Some(&state.id),
        images: &images,
        bundle: explicit.as_deref(),
        now,
        selinux: &KernelSelinux::default(),
        given_labels: Some(&given),
        lookup_error: lookup_error.as_deref(),
        // podman's storage names the image, not the layers it mounted.
        rootfs_chain: None,
        pull: false,
    });
    let Some(admission) = d.admission() else {
        return Err(Refusal::Decided(Box::new(d)));
    };
    // The admission must be for this container (#17): one decided for
    // another container starts nothing here.
    if admission.container() != Some(state.id.as_str()) {
        return Err(HookError::WrongContainer {
            admitted: admission.container().unwrap_or("").to_owned(),
            container: state.id,
        }
        .into());
    }
    if admission.audit_override() {
        eprintln!("cerro-hook: {}", d.reason);
    }
    Ok(())
}

/// The bundle the `io.cerro.bundle` annotation names, if it may be used:
/// `None` when there is no annotation or the hooks.d JSON does not set
/// `CERRO_ALLOW_BUNDLE_ANNOTATION=1` (then it is ignored: podman copies
/// image annotations into the container's, so the image would choose).
/// When allowed, the path must resolve to a file inside the bundle store
/// (`cfg.store`, symbolic links resolved on both sides); anything else is
/// an error, which refuses. The decision then checks that the file is
/// regular and that the bundle attests the image podman names.
fn explicit_bundle(
    annotations: &std::collections::BTreeMap<String, String>,
    cfg: &Config,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Option<PathBuf>, HookError> {
    let allowed = match env(ALLOW_ANNOTATION).as_ref().and_then(|v| v.to_str()) {
        None | Some("") | Some("0") => false,
        Some("1") => true,
        Some(other) => {
            return Err(HookError::BundleAnnotation {
                setting: format!("{ALLOW_ANNOTATION}={other:?}"),
                reason: "expected 1 or 0".into(),
            })
        }
    };
    let Some(named) = annotations.get(BUNDLE_ANNOTATION).filter(|_| allowed) else {
        return Ok(None);
    };
    let setting = || format!("{BUNDLE_ANNOTATION}={named}");
    let store = cfg.store.canonicalize().map_err(|e| HookError::BundleAnnotation {
        setting: BUNDLE_ANNOTATION.to_owned(),
        reason: format!("bundle store {}: {e}", cfg.store.display()),
    })?;
    let path = Path::new(named)
        .canonicalize()
        .map_err(|e| HookError::BundleAnnotation {
            setting: setting(),
            reason: e.to_string(),
        })?;
    if !path.starts_with(&store) || path == store {
        return Err(HookError::BundleAnnotation {
            setting: setting(),
            reason: format!("not a bundle inside the bundle store ({})", store.display()),
        });
    }
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;
    use std::collections::BTreeMap;

    fn cfg(store: &Path) -> Config {
        Config {
            home: store.join("home"),
            store: store.to_path_buf(),
            policy: None,
            audit_log: store.join("audit.log"),
            mode: cerro_enforce::Mode::Enforce,
        }
    }

    fn named(p: &Path) -> BTreeMap<String, String> {
        BTreeMap::from([(BUNDLE_ANNOTATION.to_owned(), p.display().to_string())])
    }

    #[test]
    fn the_bundle_annotation_is_ignored_unless_the_hook_configuration_allows_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir_all(store.join("sha256")).unwrap();
        let inside = store.join("sha256/a.ctp");
        std::fs::write(&inside, b"x").unwrap();
        let a = named(&inside);
        let off = |_: &str| None;
        assert_eq!(explicit_bundle(&a, &cfg(&store), off).unwrap(), None);
        let zero = |_: &str| Some(OsString::from("0"));
        assert_eq!(explicit_bundle(&a, &cfg(&store), zero).unwrap(), None);
        let on = |_: &str| Some(OsString::from("1"));
        assert_eq!(
            explicit_bundle(&a, &cfg(&store), on).unwrap(),
            Some(inside.canonicalize().unwrap())
        );
        assert_eq!(explicit_bundle(&BTreeMap::new(), &cfg(&store), on).unwrap(), None);
        let yes = |_: &str| Some(OsString::from("yes"));
        assert!(explicit_bundle(&a, &cfg(&store), yes)
            .unwrap_err()
            .to_string()
            .contains("expected 1 or 0"));
    }

    #[test]
    fn an_allowed_bundle_annotation_must_name_a_file_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir_all(store.join("sha256")).unwrap();
        let on = |_: &str| Some(OsString::from("1"));
        let outside = dir.path().join("evil.ctp");
        std::fs::write(&outside, b"x").unwrap();
        for bad in [
            outside.clone(),
            store.join("sha256/../../evil.ctp"),
            store.clone(),
            dir.path().join("missing.ctp"),
        ] {
            let e = explicit_bundle(&named(&bad), &cfg(&store), on).unwrap_err().to_string();
            assert!(e.starts_with("io.cerro.bundle="), "{e}");
        }
        // A symbolic link in the store to a file outside it is outside.
        std::os::unix::fs::symlink(&outside, store.join("sha256/link.ctp")).unwrap();
        let e = explicit_bundle(&named(&store.join("sha256/link.ctp")), &cfg(&store), on)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a bundle inside the bundle store"), "{e}");
    }
}
