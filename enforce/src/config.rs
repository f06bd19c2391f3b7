//! Where the host keeps what enforcement needs.
//!
//! | | a user (`ct`) | a root daemon (shim, hook) |
//! |---|---|---|
//! | trust store, keys | `$CERRO_HOME` or `~/.config/cerro-torre` | `$CERRO_HOME` or `/etc/cerro-torre` |
//! | bundle store | `$CERRO_STORE` or `$CERRO_HOME/store` | `$CERRO_STORE` or `/var/lib/cerro-torre/store` |
//! | policy | `$CERRO_POLICY`, else `<home>/policy.json` unless nothing is at that path | same |
//! | audit log | `$CERRO_AUDIT_LOG` or `<store>/audit.log` | same |
//! | mode | `$CERRO_MODE`: `enforce` (default) or `audit` | same |
//!
//! A daemon is told it is one (`Config::for_daemon`), so that root running
//! `ct load` and a root-run shim agree on the same system paths.
//!
//! Fail closed on configuration: a policy that is configured but cannot be
//! read refuses every start. `<home>/policy.json` counts as configured as
//! soon as there is anything at its path (a file that cannot be read or
//! stat'ed, a dangling symbolic link); only "nothing there" (`NotFound`)
//! means no deployment policy, and every audit record then says so
//! ([`crate::NO_POLICY`]). That is not a way around the policy: a daemon's
//! trust root must be root-owned and not group/world-writable
//! ([`check_daemon_owned`]), so whoever can delete `policy.json` from it can
//! also rewrite `trust.toml`.
//!
//! A daemon (like sshd's StrictModes) refuses a trust root, `trust.toml`,
//! `keys/`, a policy file and a bundle store that are not owned by root or
//! that group or others can write: any of them lets their writer decide
//! what runs. Only those paths are checked, not their parents.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use cerro_core::trust::home::Home;

use crate::EnforceError;

/// Refuse, or only record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A refused image does not start.
    Enforce,
    /// A refused image starts; the refusal is logged. For rolling out a policy.
    Audit,
}

/// Enforcement configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The trust store (`trust.toml`, `keys/`).
    pub home: PathBuf,
    /// The bundle store.
    pub store: PathBuf,
    /// The deployment policy, if any (`None`: the verifier's baseline).
    pub policy: Option<PathBuf>,
    /// The audit log (JSON lines).
    pub audit_log: PathBuf,
    /// Enforce or audit.
    pub mode: Mode,
}

impl Config {
    /// The configuration of a user's `ct` (state under `$CERRO_HOME`).
    pub fn for_user(env: impl Fn(&str) -> Option<OsString>) -> Result<Self, EnforceError> {
        let home = Home::resolve(&env)?;
        let store = home.join("store");
        Self::finish(home, store, env)
    }

    /// The configuration of a root-run daemon (shim, hook): system paths
    /// unless `CERRO_HOME` / `CERRO_STORE` say otherwise. Refuses (exit 78)
    /// a trust root, `trust.toml`, `keys/`, policy or bundle store that is
    /// not owned by root or is group/world-writable ([`check_daemon_owned`]).
    pub fn for_daemon(env: impl Fn(&str) -> Option<OsString>) -> Result<Self, EnforceError> {
        let cfg = Self::daemon_layout(env)?;
        cfg.check_daemon_paths()?;
        Ok(cfg)
    }

    /// A daemon's paths without the ownership checks of
    /// [`Config::for_daemon`], for reporting on them (`ct doctor`). A daemon
    /// must not use this.
    pub fn daemon_layout(env: impl Fn(&str) -> Option<OsString>) -> Result<Self, EnforceError> {
        let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = set("CERRO_HOME").unwrap_or_else(|| PathBuf::from("/etc/cerro-torre"));
        let store = PathBuf::from("/var/lib/cerro-torre/store");
        Self::finish(home, store, env)
    }

    /// The paths a daemon must find root-owned and not writable by others.
    pub fn daemon_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![
            self.home.clone(),
            self.home.join("trust.toml"),
            self.home.join("keys"),
            self.store.clone(),
        ];
        paths.extend(self.policy.clone());
        paths
    }

    fn check_daemon_paths(&self) -> Result<(), EnforceError> {
        for p in self.daemon_paths() {
            check_daemon_owned(&p)?;
        }
        Ok(())
    }

    fn finish(
        home: PathBuf,
        default_store: PathBuf,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self, EnforceError> {
        let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let store = set("CERRO_STORE").unwrap_or(default_store);
        let policy = set("CERRO_POLICY").or_else(|| default_policy(&home));
        let audit_log = set("CERRO_AUDIT_LOG").unwrap_or_else(|| store.join("audit.log"));
        let mode = match env("CERRO_MODE").map(|m| m.to_string_lossy().into_owned()).as_deref() {
            None | Some("") | Some("enforce") => Mode::Enforce,
            Some("audit") => Mode::Audit,
            Some(other) => {
                return Err(EnforceError::Config(format!(
                    "CERRO_MODE={other:?}: expected enforce or audit"
                )))
            }
        };
        Ok(Config {
            home,
            store,
            policy,
            audit_log,
            mode,
        })
    }
}

/// `<home>/policy.json`, unless nothing is at that path. Anything else —
/// a file, a dangling symbolic link, a path that cannot be stat'ed (EACCES)
/// — is the policy, and reading it then fails closed in the decision.
fn default_policy(home: &Path) -> Option<PathBuf> {
    let p = home.join("policy.json");
    match std::fs::symlink_metadata(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        _ => Some(p),
    }
}

/// sshd's StrictModes for a path a root daemon trusts: refuses (exit 78) a
/// `path` not owned by root (uid 0) or writable by its group or others,
/// since its owner or writers would decide what runs. The path itself is
/// checked (following a symbolic link to what it names), not its parents.
/// `Ok(false)`: nothing is there (a missing trust store trusts no one, a
/// missing store attests nothing); `Ok(true)`: checked.
pub fn check_daemon_owned(path: &Path) -> Result<bool, EnforceError> {
    let m = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(cerro_core::Error::io("checking the owner of", path, e).into()),
    };
    if m.uid() != 0 {
        return Err(EnforceError::Config(format!(
            "{} is owned by uid {}, not root: a daemon refuses a trust root, policy or store \
             another user can change (chown root)",
            path.display(),
            m.uid()
        )));
    }
    let mode = m.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(EnforceError::Config(format!(
            "{} is writable by {} (mode {mode:o}): a daemon refuses a trust root, policy or store \
             others can change (chmod go-w)",
            path.display(),
            if mode & 0o002 != 0 { "everyone" } else { "its group" }
        )));
    }
    Ok(true)
}
