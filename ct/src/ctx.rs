//! What every command needs from the environment, gathered once: the state
//! directory, the clock, the passphrase source. `cerro-core` itself reads no
//! environment.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use cerro_core::trust::home::Home;
use cerro_core::Error;
use zeroize::Zeroizing;

use crate::cli::Cli;

pub struct Ctx {
    pub home: Home,
    passphrase_file: Option<PathBuf>,
}

impl Ctx {
    pub fn new(cli: &Cli) -> Result<Self> {
        let root = match &cli.home {
            Some(h) => h.clone(),
            None => Home::resolve(|k| std::env::var_os(k))?,
        };
        Ok(Ctx {
            home: Home::new(root),
            passphrase_file: cli.passphrase_file.clone(),
        })
    }

    /// Current unix time; a clock that cannot be read is an error (exit
    /// 78), never 0 (at the epoch every expired key would count again).
    pub fn now(&self) -> Result<u64> {
        Ok(cerro_core::clock::unix_now()?)
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
            .map_err(|_| Error::Config(format!("SOURCE_DATE_EPOCH={v:?} is not a unix time")).into()),
        _ => Ok(0),
    }
}
