//! `ct load`: verify a bundle, file it in the bundle store under its image
//! digest (where the shim and the hook look: as root, ct's configuration is
//! theirs, `cerro_enforce::Config::for_ct`), and optionally import its image
//! into podman or containerd. Verification and filing are the host
//! service's (`verify_file`, `file`).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use cerro_core::bundle::{Bundle, NoExtract};
use cerro_core::verify::Verified;
use cerro_core::{Error, ExitCode};

use super::verify::StageDir;
use crate::ctx::Ctx;

/// Where `--into` imports the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Into {
    /// `podman load` (with --podman-root / --podman-runroot when given).
    Podman,
    /// `ctr images import` (address from --address or CONTAINERD_ADDRESS).
    Containerd,
}

/// Options of `ct load`.
pub struct LoadArgs<'a> {
    pub file: Option<&'a Path>,
    pub list: bool,
    pub json: bool,
    pub into: Option<Into>,
    pub policy: Option<&'a Path>,
    pub podman_root: Option<&'a Path>,
    pub podman_runroot: Option<&'a Path>,
    pub address: Option<&'a str>,
    pub namespace: &'a str,
    /// Replace a stored bundle built later than this one (rollback).
    pub allow_older: bool,
}

pub fn load(ctx: &Ctx, a: &LoadArgs<'_>) -> Result<ExitCode> {
    if a.list {
        // The one configuration: as root, the store the shim and the hook read.
        let host = ctx.host(a.policy)?;
        let cfg = host.config();
        let store = host.store();
        let entries = store.list()?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&entries)?);
        } else if entries.is_empty() {
            println!("the bundle store {} is empty", cfg.store.display());
        } else {
            for e in entries {
                println!("{}  {:>12}  {}", e.image, e.size, e.path.display());
            }
        }
        return Ok(ExitCode::Valid);
    }
    let Some(file) = a.file else {
        bail!(Error::invalid_config("ct load", "needs a bundle, or --list"));
    };
    match verify_file_import(ctx, file, a, &mut std::io::stdout())? {
        Loaded::Refused(code) => Ok(code),
        Loaded::Done(_) => Ok(ExitCode::Valid),
    }
}

/// What [`verify_file_import`] did.
pub enum Loaded {
    /// The bundle did not verify or could not be filed (the reason is on
    /// stderr): nothing was filed or imported.
    Refused(ExitCode),
    /// Verified, filed in the store and, with `--into`, imported.
    Done(Box<Verified<Bundle>>),
}

/// Verifies `file`, files it in the store and, with `a.into`, imports its
/// image: `ct load` and `ct run`. What it did and the runtime's own output
/// go to `report` (stdout for `ct load`; `ct run` keeps stdout for the
/// container's output).
pub fn verify_file_import(ctx: &Ctx, file: &Path, a: &LoadArgs<'_>, report: &mut dyn Write) -> Result<Loaded> {
    // The one configuration: as root, the store the shim and the hook read.
    let host = ctx.host(a.policy)?;
    let staging = tempfile::Builder::new()
        .prefix("ct-load-")
        .tempdir()
        .map_err(|e| Error::io("creating a staging directory in", std::env::temp_dir(), e))?;
    let layout = staging.path().join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).map_err(|e| Error::io("creating", &layout, e))?;
    let outcome = if a.into.is_some() {
        let mut stage = StageDir::new(layout.clone(), file, "unpacking");
        let checked = host.verify_file(file, &mut stage);
        stage.bar.finish();
        checked
    } else {
        let spinner = crate::progress::Local::spinner(&format!("verifying {}", file.display()));
        let checked = host.verify_file(file, &mut NoExtract);
        spinner.finish();
        checked
    }
    .with_context(|| format!("checking bundle {}", file.display()))?;
    let v = match outcome {
        Ok(v) => v,
        Err(r) => {
            eprintln!(
                "ct: refused {}: {}; nothing was loaded",
                file.display(),
                crate::output::printable(&r.error.to_string())
            );
            return Ok(Loaded::Refused(r.error.exit_code()));
        }
    };
    let rollback = if a.allow_older {
        cerro_enforce::Rollback::Allow
    } else {
        cerro_enforce::Rollback::Refuse
    };
    let stored = match host.file(file, &v, rollback) {
        Ok(s) => s,
        Err(e @ Error::PolicyRejection { .. }) => {
            eprintln!("ct: refused {}: {e}", file.display());
            return Ok(Loaded::Refused(e.exit_code()));
        }
        Err(e) => return Err(e.into()),
    };
    writeln!(
        report,
        "loaded {} {} ({}) into {}",
        v.manifest.package.name,
        v.manifest.package.version,
        v.image.digest,
        stored.path.display()
    )
    .context("writing the report")?;
    if let Some(into) = a.into {
        let archive = staging.path().join("image.tar");
        write_archive(&layout, &archive)?;
        let mut cmd = match into {
            Into::Podman => {
                let mut c = Command::new("podman");
                if let Some(r) = a.podman_root {
                    c.arg("--root").arg(r);
                }
                if let Some(r) = a.podman_runroot {
                    c.arg("--runroot").arg(r);
                }
                c.arg("load").arg("-i").arg(&archive);
                c
            }
            Into::Containerd => {
                let address = a
                    .address
                    .map(str::to_owned)
                    .or_else(|| std::env::var("CONTAINERD_ADDRESS").ok())
                    .unwrap_or_else(|| "/run/containerd/containerd.sock".into());
                let mut c = Command::new("ctr");
                c.args(["--address", &address, "--namespace", a.namespace, "images", "import"])
                    .arg(&archive);
                c
            }
        };
        let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
        if !out.status.success() {
            bail!(Error::CommandFailed {
                command: format!("{cmd:?}"),
                message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        write!(report, "{}", String::from_utf8_lossy(&out.stdout)).context("writing the report")?;
    }
    Ok(Loaded::Done(Box::new(v)))
}

/// The verified layout as an oci-archive (what podman and ctr import).
fn write_archive(layout: &Path, archive: &Path) -> Result<()> {
    let f = fs::File::create(archive).map_err(|e| Error::io("creating", archive, e))?;
    let mut b = tar::Builder::new(f);
    b.mode(tar::HeaderMode::Deterministic);
    b.append_dir_all(".", layout)
        .map_err(|e| Error::io("archiving", layout, e))?;
    b.into_inner().map_err(|e| Error::io("writing", archive, e))?;
    Ok(())
}
