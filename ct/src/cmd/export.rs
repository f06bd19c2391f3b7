//! `ct export BUNDLE --format FORMAT -o OUT`: verify as `ct verify` does,
//! then hand the proof to `cerro_export::export`. A bundle that does not
//! verify exits with verification's code and nothing is written.

use std::path::Path;

use anyhow::Result;
use cerro_core::bundle::NoExtract;
use cerro_core::ExitCode;
use cerro_export::{Format, Options};

use super::verify::check;
use crate::ctx::Ctx;
use crate::output;

/// Options of `ct export`.
pub struct ExportArgs<'a> {
    pub file: &'a Path,
    pub format: &'a str,
    pub output: &'a Path,
    pub prefix: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub policy: Option<&'a Path>,
}

pub fn export(ctx: &Ctx, a: &ExportArgs<'_>) -> Result<ExitCode> {
    let format = Format::ALL
        .iter()
        .find(|(_, n)| *n == a.format)
        .map(|(f, _)| *f)
        .ok_or_else(|| cerro_core::Error::invalid_config("--format", format!("unknown format {:?}", a.format)))?;
    // A bundle that cannot be read at all is refused like one that was
    // read and refused: its exit code, and nothing written.
    let checked = match check(ctx, a.file, a.policy, &mut NoExtract) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "ct: refused {}: {}; nothing was exported",
                a.file.display(),
                output::one_line(&e)
            );
            return Ok(crate::exit_code_of(&e));
        }
    };
    let verified = match checked {
        Ok(v) => v,
        Err(r) => {
            eprintln!(
                "ct: refused {}: {}; nothing was exported",
                a.file.display(),
                output::printable(&r.error.to_string())
            );
            return Ok(r.error.exit_code());
        }
    };
    let mut opts = Options::new(format, a.output);
    opts.prefix = a.prefix.map(str::to_owned);
    opts.branch = a.branch.map(str::to_owned);
    // Progress on a terminal: the blob bytes read back (each hashed again).
    let total = verified
        .members
        .iter()
        .filter(|m| m.path.starts_with(cerro_core::bundle::BLOB_PREFIX))
        .map(|m| m.size)
        .sum();
    let bar = crate::progress::Local::bytes("exporting", total);
    let done = cerro_export::export_with(&verified, a.file, &opts, &|n| bar.advance(n));
    bar.finish();
    let done = done?;
    let what = match &done.commit {
        Some(c) => format!("commit {c} in {}", done.out.display()),
        None => done.out.display().to_string(),
    };
    println!(
        "exported {} {} ({}) as {} to {}",
        output::printable(&verified.manifest.package.name),
        output::printable(&verified.manifest.package.version),
        verified.image.digest,
        format.name(),
        output::printable(&what)
    );
    if !done.left_out.is_empty() {
        eprintln!(
            "ct: {} entries the format cannot hold were left out (device nodes, FIFOs, sockets): {}",
            done.left_out.len(),
            output::printable(&done.left_out.join(", "))
        );
    }
    Ok(ExitCode::Valid)
}
