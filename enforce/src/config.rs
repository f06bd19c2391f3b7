//! Where the host keeps what enforcement needs: the one configuration
//! loader of every front end (`ct`, the shim, the hook, other runtimes).
//!
//! # Precedence (one order, for every value)
//!
//! 1. a command-line override ([`Overrides`]: `ct --home`, `ct … --policy`;
//!    for the shim, the per-task runtime options file plays this part: it
//!    is chosen per invocation, and only a root-owned file in a trusted
//!    directory is read, `shim/src/settings.rs`);
//! 2. the environment (`CERRO_*`, below; a daemon's comes from its unit or
//!    hooks.d file; an empty value counts as unset);
//! 3. files found on disk: `<home>/policy.json`;
//! 4. the built-in defaults of the layout.
//!
//! # The two layouts
//!
//! | | user layout (`ct` run by a user, euid ≠ 0) | system layout (`ct` run as root, the shim, the hook) |
//! |---|---|---|
//! | trust store, keys (`home`) | `--home`, `$CERRO_HOME`, `$XDG_CONFIG_HOME/cerro-torre`, `~/.config/cerro-torre` | `--home`, `$CERRO_HOME`, `/etc/cerro-torre` |
//! | bundle store | `$CERRO_STORE`, `<home>/store` | `$CERRO_STORE`; `<home>/store` when `--home` or `$CERRO_HOME` chose the home; `/var/lib/cerro-torre/store` |
//! | deployment policy | `--policy`, `$CERRO_POLICY`, `<home>/policy.json` unless nothing is at that path | same |
//! | audit log | `$CERRO_AUDIT_LOG`, `<store>/audit.log` | same |
//! | mode | `$CERRO_MODE`: `enforce` (default) or `audit` | same |
//!
//! One host, one set of paths: root's `ct` ([`Config::for_ct`] with euid
//! 0) resolves exactly as the shim and the hook ([`Config::for_daemon`]), so
//! `ct load` as root files the bundle where they look and trusts what they
//! trust, whatever `$HOME` says; and with the same `CERRO_HOME` (and no
//! `CERRO_STORE`) all of them use `$CERRO_HOME/store`. A user who is not
//! root keeps a private layout under `~/.config/cerro-torre`: the daemons
//! never read it (loading for them takes root: `sudo ct load`), and `ct
//! doctor` says whether `ct`'s paths are the daemons'.
//!
//! # Fail closed
//!
//! A policy that is configured but cannot be read refuses every start.
//! `<home>/policy.json` counts as configured as soon as there is anything
//! at its path (a file that cannot be read or stat'ed, a dangling symbolic
//! link); only "nothing there" (`NotFound`) means no deployment policy, and
//! every audit record then says so ([`crate::NO_POLICY`]). That is not a
//! way around the policy: a daemon's trust root must be root-owned and not
//! group/world-writable ([`check_daemon_owned`]), so whoever can delete
//! `policy.json` from it can also rewrite `trust.toml`.
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

/// The system layout's trust root (`home`).
pub const SYSTEM_HOME: &str = "/etc/cerro-torre";
/// The system layout's bundle store.
pub const SYSTEM_STORE: &str = "/var/lib/cerro-torre/store";

/// Refuse, or only record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A refused image does not start.
    Enforce,
    /// A refused image starts; the refusal is logged. For rolling out a policy.
    Audit,
}

/// Which defaults apply (the table in this module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// A user's own state under `~/.config/cerro-torre`.
    User,
    /// The host's: `/etc/cerro-torre` and `/var/lib/cerro-torre/store`,
    /// what the shim and the hook use.
    System,
}

impl Layout {
    /// The layout of a process with effective uid `euid`: root's is the
    /// system's, anyone else's their own.
    pub fn for_euid(euid: u32) -> Self {
        if euid == 0 {
            Layout::System
        } else {
            Layout::User
        }
    }
}

/// The command-line layer: values a front end was given for this one
/// invocation, above the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The trust root (`ct --home`).
    pub home: Option<PathBuf>,
    /// The deployment policy (`ct verify --policy`, …).
    pub policy: Option<PathBuf>,
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
    /// The one loader: `layout`'s defaults under `env` under `overrides`
    /// (the precedence of this module's documentation). Pure but for the
    /// `stat` of `<home>/policy.json`; no ownership checks.
    pub fn resolve(
        layout: Layout,
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self, EnforceError> {
        let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let chosen_home = overrides.home.clone().or_else(|| set("CERRO_HOME"));
        let home = match (&chosen_home, layout) {
            (Some(h), _) => h.clone(),
            (None, Layout::System) => PathBuf::from(SYSTEM_HOME),
            (None, Layout::User) => Home::resolve(&env)?,
        };
        let store = match (set("CERRO_STORE"), &chosen_home, layout) {
            (Some(s), _, _) => s,
            (None, Some(_), _) | (None, None, Layout::User) => home.join("store"),
            (None, None, Layout::System) => PathBuf::from(SYSTEM_STORE),
        };
        let policy = overrides
            .policy
            .clone()
            .or_else(|| set("CERRO_POLICY"))
            .or_else(|| default_policy(&home));
        let audit_log = set("CERRO_AUDIT_LOG").unwrap_or_else(|| store.join("audit.log"));
        let mode = match env("CERRO_MODE").map(|m| m.to_string_lossy().into_owned()).as_deref() {
            None | Some("") | Some("enforce") => Mode::Enforce,
            Some("audit") => Mode::Audit,
            Some(other) => {
                return Err(cerro_core::Error::invalid_config(
                    "CERRO_MODE",
                    format!("{other:?}: expected enforce or audit"),
                )
                .into())
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

    /// `ct`'s configuration: the layout of the effective uid `euid` (root:
    /// the daemons' paths), `env`, then the command line's `overrides`.
    pub fn for_ct(
        euid: u32,
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self, EnforceError> {
        Self::resolve(Layout::for_euid(euid), overrides, env)
    }

    /// The configuration of a user's own state (the user layout), whoever
    /// runs it.
    pub fn for_user(env: impl Fn(&str) -> Option<OsString>) -> Result<Self, EnforceError> {
        Self::resolve(Layout::User, &Overrides::default(), env)
    }

    /// The configuration of a root-run daemon (shim, hook): the system
    /// layout under `env`. Refuses (exit 78) a trust root, `trust.toml`,
    /// `keys/`, policy or bundle store that is not owned by root or is
    /// group/world-writable ([`check_daemon_owned`]).
    pub fn for_daemon(env: impl Fn(&str) -> Option<OsString>) -> Result<Self, EnforceError> {
        let cfg = Self::daemon_layout(env)?;
        cfg.check_daemon_paths()?;
        Ok(cfg)
    }

    /// A daemon's paths without the ownership checks of
    /// [`Config::for_daemon`], for reporting on them (`ct doctor`). A daemon
    /// must not use this.
    pub fn daemon_layout(env: impl Fn(&str) -> Option<OsString>) -> Result<Self, EnforceError> {
        Self::resolve(Layout::System, &Overrides::default(), env)
    }

    /// The effective uid of this process (what [`Config::for_ct`] takes).
    pub fn current_euid() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    /// The paths a daemon must find root-owned and not writable by others.
    pub fn daemon_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![
            self.home.clone(),
            self.home.join("trust.toml"),
            self.home.join("keys"),
            self.home.join(cerro_core::trust::home::ROOT_FILE),
            self.home.join(cerro_core::trust::home::REVOCATION_FILE),
            self.home.join(cerro_core::trust::home::STATE_FILE),
            self.store.clone(),
        ];
        paths.extend(self.policy.clone());
        paths
    }

    /// Refuses paths a daemon must not trust ([`Config::daemon_paths`],
    /// [`check_daemon_owned`]).
    pub fn check_daemon_paths(&self) -> Result<(), EnforceError> {
        for p in self.daemon_paths() {
            check_daemon_owned(&p)?;
        }
        Ok(())
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
        return Err(EnforceError::UnsafeOwnership {
            path: path.to_owned(),
            reason: format!(
                "is owned by uid {}, not root: a daemon refuses a trust root, policy or store \
                 another user can change (chown root)",
                m.uid()
            ),
        });
    }
    let mode = m.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(EnforceError::UnsafeOwnership {
            path: path.to_owned(),
            reason: format!(
                "is writable by {} (mode {mode:o}): a daemon refuses a trust root, policy or store \
                 others can change (chmod go-w)",
                if mode & 0o002 != 0 { "everyone" } else { "its group" }
            ),
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;

    /// An environment of `vars` only.
    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
    }

    fn paths(c: &Config) -> (&Path, &Path, &Path) {
        (&c.home, &c.store, &c.audit_log)
    }

    /// The bug of issue 13: root's `ct` used `~/.config/cerro-torre` while
    /// the shim and the hook used the system paths. Root now resolves as
    /// the daemons do, whatever `HOME` says.
    #[test]
    fn root_resolves_the_daemons_system_layout() {
        let e = env(&[("HOME", "/root"), ("XDG_CONFIG_HOME", "/root/.xdg")]);
        let ct = Config::for_ct(0, &Overrides::default(), &e).unwrap();
        let daemon = Config::daemon_layout(&e).unwrap();
        assert_eq!(
            paths(&ct),
            (
                Path::new("/etc/cerro-torre"),
                Path::new("/var/lib/cerro-torre/store"),
                Path::new("/var/lib/cerro-torre/store/audit.log")
            )
        );
        assert_eq!(paths(&ct), paths(&daemon));
        // No environment at all (a unit, a hook): the same.
        let bare = Config::for_ct(0, &Overrides::default(), env(&[])).unwrap();
        assert_eq!(paths(&bare), paths(&daemon));
    }

    /// With `CERRO_HOME` set for both and no `CERRO_STORE`, `ct` and the
    /// daemons use `$CERRO_HOME/store` (the daemons kept /var/lib before).
    #[test]
    fn cerro_home_moves_the_store_for_ct_and_daemons_alike() {
        let e = env(&[("CERRO_HOME", "/h"), ("HOME", "/root")]);
        for c in [
            Config::for_ct(0, &Overrides::default(), &e).unwrap(),
            Config::for_ct(1000, &Overrides::default(), &e).unwrap(),
            Config::daemon_layout(&e).unwrap(),
        ] {
            assert_eq!(
                paths(&c),
                (Path::new("/h"), Path::new("/h/store"), Path::new("/h/store/audit.log"))
            );
        }
        // CERRO_STORE and CERRO_AUDIT_LOG win over what the home implies.
        let e = env(&[
            ("CERRO_HOME", "/h"),
            ("CERRO_STORE", "/s"),
            ("CERRO_AUDIT_LOG", "/a.log"),
        ]);
        for c in [
            Config::for_ct(0, &Overrides::default(), &e).unwrap(),
            Config::daemon_layout(&e).unwrap(),
        ] {
            assert_eq!(paths(&c), (Path::new("/h"), Path::new("/s"), Path::new("/a.log")));
        }
        // CERRO_STORE alone keeps the system trust root.
        let c = Config::daemon_layout(env(&[("CERRO_STORE", "/s")])).unwrap();
        assert_eq!(
            paths(&c),
            (
                Path::new("/etc/cerro-torre"),
                Path::new("/s"),
                Path::new("/s/audit.log")
            )
        );
    }

    /// A user who is not root keeps a private layout (XDG, else ~/.config),
    /// with the store inside it.
    #[test]
    fn a_user_keeps_a_private_layout() {
        let c = Config::for_ct(1000, &Overrides::default(), env(&[("HOME", "/home/u")])).unwrap();
        assert_eq!(
            paths(&c),
            (
                Path::new("/home/u/.config/cerro-torre"),
                Path::new("/home/u/.config/cerro-torre/store"),
                Path::new("/home/u/.config/cerro-torre/store/audit.log")
            )
        );
        let c = Config::for_ct(
            1000,
            &Overrides::default(),
            env(&[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/x")]),
        )
        .unwrap();
        assert_eq!(c.home, Path::new("/x/cerro-torre"));
        assert_eq!(c.store, Path::new("/x/cerro-torre/store"));
        // No home to be found: a configuration error, not a guess.
        let e = Config::for_ct(1000, &Overrides::default(), env(&[])).unwrap_err();
        assert!(e.to_string().contains("CERRO_HOME"), "{e}");
        assert_eq!(e.exit_code(), cerro_core::ExitCode::Config);
    }

    /// The command line beats the environment, which beats the files and
    /// the defaults.
    #[test]
    fn the_command_line_beats_the_environment_beats_files_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let file = home.join("policy.json");
        std::fs::write(&file, "{}").unwrap();
        let h = home.clone();
        let e = move |k: &str| match k {
            "CERRO_HOME" => Some(h.clone().into_os_string()),
            "CERRO_POLICY" => Some(OsString::from("/env/policy.json")),
            _ => None,
        };
        let cli = Overrides {
            home: Some(home.clone()),
            policy: Some("/cli/policy.json".into()),
        };
        for layout in [Layout::User, Layout::System] {
            let c = Config::resolve(layout, &cli, &e).unwrap();
            assert_eq!(c.policy.as_deref(), Some(Path::new("/cli/policy.json")));
            let c = Config::resolve(layout, &Overrides::default(), &e).unwrap();
            assert_eq!(c.policy.as_deref(), Some(Path::new("/env/policy.json")));
            let no_env = |k: &str| e(k).filter(|_| k != "CERRO_POLICY");
            let c = Config::resolve(layout, &Overrides::default(), no_env).unwrap();
            assert_eq!(c.policy.as_deref(), Some(file.as_path()));
        }
        // An empty variable counts as unset.
        let c = Config::resolve(
            Layout::System,
            &Overrides::default(),
            env(&[("CERRO_HOME", ""), ("CERRO_POLICY", ""), ("CERRO_STORE", "")]),
        )
        .unwrap();
        assert_eq!(c.home, Path::new("/etc/cerro-torre"));
        assert_eq!(c.store, Path::new("/var/lib/cerro-torre/store"));
        // --home beats CERRO_HOME, and moves the store with it.
        let c = Config::resolve(
            Layout::System,
            &Overrides {
                home: Some("/cli".into()),
                policy: None,
            },
            env(&[("CERRO_HOME", "/env")]),
        )
        .unwrap();
        assert_eq!(
            (c.home.as_path(), c.store.as_path()),
            (Path::new("/cli"), Path::new("/cli/store"))
        );
    }

    #[test]
    fn layout_follows_the_effective_uid() {
        assert_eq!(Layout::for_euid(0), Layout::System);
        assert_eq!(Layout::for_euid(1), Layout::User);
        assert_eq!(Layout::for_euid(65534), Layout::User);
    }
}
