//! Where the host keeps what enforcement needs.
//!
//! | | a user (`ct`) | a root daemon (shim, hook) |
//! |---|---|---|
//! | trust store, keys | `$CERRO_HOME` or `~/.config/cerro-torre` | `$CERRO_HOME` or `/etc/cerro-torre` |
//! | bundle store | `$CERRO_STORE` or `$CERRO_HOME/store` | `$CERRO_STORE` or `/var/lib/cerro-torre/store` |
//! | policy | `$CERRO_POLICY` or `<home>/policy.json` if present | same |
//! | audit log | `$CERRO_AUDIT_LOG` or `<store>/audit.log` | same |
//! | mode | `$CERRO_MODE`: `enforce` (default) or `audit` | same |
//!
//! A daemon is told it is one (`Config::for_daemon`), so that root running
//! `ct load` and a root-run shim agree on the same system paths.

use std::ffi::OsString;
use std::path::PathBuf;

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
    /// The deployment policy, if any.
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
    /// unless `CERRO_HOME` / `CERRO_STORE` say otherwise.
    pub fn for_daemon(env: impl Fn(&str) -> Option<OsString>) -> Result<Self, EnforceError> {
        let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = set("CERRO_HOME").unwrap_or_else(|| PathBuf::from("/etc/cerro-torre"));
        let store = PathBuf::from("/var/lib/cerro-torre/store");
        Self::finish(home, store, env)
    }

    fn finish(
        home: PathBuf,
        default_store: PathBuf,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self, EnforceError> {
        let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let store = set("CERRO_STORE").unwrap_or(default_store);
        let policy = set("CERRO_POLICY").or_else(|| Some(home.join("policy.json")).filter(|p| p.exists()));
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
