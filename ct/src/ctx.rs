//! What every command needs from the environment, gathered once: the host
//! configuration (`cerro_enforce::Config::for_ct`: the one loader, with
//! `--home` and `--policy` as its command-line layer), the clock, the
//! passphrase source. `cerro-core` itself reads no environment.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use cerro_core::trust::home::Home;
use cerro_core::Error;
use cerro_enforce::{Config, Host, Overrides};
use zeroize::Zeroizing;

use crate::cli::Cli;

pub struct Ctx {
    pub home: Home,
    /// `--home`, if given.
    home_override: Option<PathBuf>,
    /// The effective uid, which chooses the layout (root: the daemons').
    euid: u32,
    passphrase_file: Option<PathBuf>,
}

impl Ctx {
    pub fn new(cli: &Cli) -> Result<Self> {
        let euid = Config::current_euid();
        let cfg = Self::resolve(euid, cli.home.clone(), None)?;
        Ok(Ctx {
            home: Home::new(cfg.home),
            home_override: cli.home.clone(),
            euid,
            passphrase_file: cli.passphrase_file.clone(),
        })
    }

    fn resolve(euid: u32, home: Option<PathBuf>, policy: Option<&Path>) -> Result<Config, cerro_enforce::EnforceError> {
        let overrides = Overrides {
            home,
            policy: policy.map(Path::to_path_buf),
        };
        Config::for_ct(euid, &overrides, |k| std::env::var_os(k))
    }

    /// The configuration with `policy` (a command's `--policy`) on top:
    /// `--policy`, else `$CERRO_POLICY`, else `<home>/policy.json`, as the
    /// shim and the hook choose.
    pub fn config(&self, policy: Option<&Path>) -> Result<Config> {
        Ok(Self::resolve(self.euid, self.home_override.clone(), policy)?)
    }

    /// The host service over [`Ctx::config`], with the system clock.
    pub fn host(&self, policy: Option<&Path>) -> Result<Host> {
        Ok(Host::with_system_clock(self.config(policy)?))
    }

    /// The effective uid.
    pub fn euid(&self) -> u32 {
        self.euid
    }

    /// Current unix time; a clock that cannot be read is an error (exit
    /// 78), never 0 (at the epoch every expired key would count again).
    pub fn now(&self) -> Result<u64> {
        Ok(cerro_core::clock::unix_now()?)
    }

    /// What PKCS#11 keys take from the environment: `$CERRO_PKCS11_PIN`
    /// (when a URI has no `pin-source`) and `$CERRO_PKCS11_MODULE` (when
    /// it has no `module-path`).
    pub fn pkcs11_settings(&self) -> cerro_pkcs11::Settings {
        cerro_pkcs11::Settings::from_env(|k| std::env::var_os(k))
    }

    /// The signing keys `specs` name: the one resolver
    /// (`crate::signer::resolve`), key files and PKCS#11 keys alike.
    pub fn signers(&self, specs: &[String]) -> Result<Vec<crate::signer::Signer>> {
        crate::signer::resolve(self, specs)
    }

    /// The passphrase for encrypted keys, if one was given.
    pub fn passphrase(&self) -> Result<Option<Zeroizing<Vec<u8>>>> {
        if let Some(p) = &self.passphrase_file {
            let bytes = std::fs::read(p).with_context(|| format!("reading passphrase file {}", p.display()))?;
            let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes).to_vec();
            return Ok(Some(Zeroizing::new(trimmed)));
        }
        Ok(std::env::var_os("CERRO_PASSPHRASE").map(|v| Zeroizing::new(v.into_encoded_bytes())))
    }
}

/// SOURCE_DATE_EPOCH, else 0: the mtime of every bundle member.
pub fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| Error::invalid_config("SOURCE_DATE_EPOCH", format!("{v:?} is not a unix time")).into()),
        _ => Ok(0),
    }
}
