//! `ct verify`, `ct explain`, `ct unpack`: one read, one verify, three views.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use cerro_core::bundle::{read_bundle_file, Bundle, Extract, NoExtract};
use cerro_core::digest::Digest;
use cerro_core::hashpool::Sink;
use cerro_core::policy::{NoPolicy, Policy};
use cerro_core::verify::{verify as core_verify, Rejected, Verified};
use cerro_core::{Error, ExitCode};
use cerro_policy::DeploymentPolicy;

use crate::cli::VerifyArgs;
use crate::ctx::Ctx;
use crate::output;

pub(crate) fn load_policy(path: Option<&Path>) -> Result<Box<dyn Policy>> {
    match path {
        None => Ok(Box::new(NoPolicy)),
        Some(p) => {
            let bytes = fs::read(p).map_err(|e| Error::io("reading", p, e))?;
            Ok(Box::new(DeploymentPolicy::from_json(&p.display().to_string(), &bytes)?))
        }
    }
}

/// Reads `file` (handing the layout to `extract`) and verifies it.
/// The outer error is a bundle that could not be read at all.
pub(crate) fn check(
    ctx: &Ctx,
    file: &Path,
    policy: Option<&Path>,
    extract: &mut dyn Extract,
) -> Result<Result<Verified<Bundle>, Box<Rejected>>> {
    let policy = load_policy(policy)?;
    let trust = ctx.home.load_trust()?;
    let f = File::open(file).map_err(|e| Error::io("opening", file, e))?;
    let bundle = read_bundle_file(&f, extract).with_context(|| format!("reading bundle {}", file.display()))?;
    Ok(core_verify(bundle, &trust, policy.as_ref(), ctx.now()?))
}

pub fn verify(ctx: &Ctx, a: &VerifyArgs) -> Result<ExitCode> {
    let outcome = match check(ctx, &a.file, a.policy.as_deref(), &mut NoExtract) {
        Ok(o) => o,
        Err(e) if a.json => {
            let code = crate::exit_code_of(&e);
            println!("{}", output::error_json(&e, code.code()));
            eprintln!("ct: {}", output::one_line(&e));
            return Ok(code);
        }
        Err(e) => return Err(e),
    };
    match outcome {
        Ok(v) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(v.report())?);
            } else {
                println!("{}", output::printable(&v.report().message));
            }
            Ok(ExitCode::Valid)
        }
        Err(r) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r.report)?);
            }
            eprintln!(
                "ct: refused {}: {}",
                a.file.display(),
                output::printable(&r.error.to_string())
            );
            Ok(r.error.exit_code())
        }
    }
}

pub fn explain(ctx: &Ctx, a: &VerifyArgs) -> Result<ExitCode> {
    let outcome = match check(ctx, &a.file, a.policy.as_deref(), &mut NoExtract) {
        Ok(o) => o,
        Err(e) => {
            let code = crate::exit_code_of(&e);
            if a.json {
                println!("{}", output::error_json(&e, code.code()));
            } else {
                println!("bundle      {}", a.file.display());
                println!("verdict     REFUSED (exit {}): {}", code.code(), output::one_line(&e));
            }
            return Ok(code);
        }
    };
    let (report, code) = match &outcome {
        Ok(v) => (v.report(), ExitCode::Valid),
        Err(r) => (&r.report, r.error.exit_code()),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("bundle      {}", a.file.display());
        print!("{}", output::explain(report));
    }
    Ok(code)
}

/// Writes the layout into a staging directory; only blob names derived
/// from validated digests are ever created, so nothing can escape it.
pub(crate) struct StageDir {
    pub(crate) dir: PathBuf,
}

impl Extract for StageDir {
    fn layout_file(&mut self, name: &str, bytes: &[u8]) -> cerro_core::Result<()> {
        let p = self.dir.join(match name {
            "oci-layout" => "oci-layout",
            _ => "index.json",
        });
        fs::write(&p, bytes).map_err(|e| Error::io("writing", p, e))
    }

    fn blob(&mut self, digest: &Digest) -> cerro_core::Result<Option<Sink>> {
        let p = self.dir.join("blobs").join("sha256").join(digest.hex());
        let f = File::create(&p).map_err(|e| Error::io("creating", p, e))?;
        Ok(Some(Box::new(f)))
    }
}

pub fn unpack(ctx: &Ctx, file: &Path, output: &Path, policy: Option<&Path>) -> Result<ExitCode> {
    if output.exists() {
        let empty = fs::read_dir(output).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            return Err(Error::Config(format!("{} exists and is not an empty directory", output.display())).into());
        }
    }
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".ct-unpack-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io("creating a staging directory in", &parent, e))?;
    let blobs = staging.path().join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| Error::io("creating", &blobs, e))?;
    let mut stage = StageDir {
        dir: staging.path().to_path_buf(),
    };
    match check(ctx, file, policy, &mut stage)? {
        Ok(v) => {
            if output.exists() {
                fs::remove_dir(output).map_err(|e| Error::io("replacing", output, e))?;
            }
            let staged = staging.keep();
            fs::rename(&staged, output).map_err(|e| Error::io("renaming staging directory to", output, e))?;
            println!(
                "unpacked {} {} ({}) to {}",
                v.manifest.package.name,
                v.manifest.package.version,
                v.image.digest,
                output.display()
            );
            Ok(ExitCode::Valid)
        }
        Err(r) => {
            eprintln!(
                "ct: refused {}: {}; nothing was written",
                file.display(),
                output::printable(&r.error.to_string())
            );
            Ok(r.error.exit_code())
        }
    }
}

pub fn sbom(ctx: &Ctx, file: &Path, policy: Option<&Path>) -> Result<ExitCode> {
    let v = match check(ctx, file, policy, &mut NoExtract)? {
        Ok(v) => v,
        Err(r) => {
            eprintln!(
                "ct: refused {}: {}",
                file.display(),
                output::printable(&r.error.to_string())
            );
            return Ok(r.error.exit_code());
        }
    };
    for a in &v.attestations {
        let Ok(st) = serde_json::from_slice::<serde_json::Value>(&a.envelope.payload) else {
            continue;
        };
        let ty = st["predicateType"].as_str().unwrap_or_default();
        if ty == cerro_core::statement::SPDX_DOCUMENT || ty == cerro_core::statement::CYCLONEDX_BOM {
            println!("{}", serde_json::to_string_pretty(&st["predicate"])?);
            return Ok(ExitCode::Valid);
        }
    }
    Err(Error::MissingAttestation(format!("{} carries no SBOM attestation", file.display())).into())
}
