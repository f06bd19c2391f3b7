//! `ct build MANIFEST -o oci:DIR:TAG`: an imported source built in a clean,
//! network-less root into a reproducible OCI image (spec/build.md). The work
//! is `cerro_build::build`; this reads the arguments and reports.

use std::path::Path;

use anyhow::{Context, Result};
use cerro_build::OciTarget;
use cerro_core::ExitCode;

pub fn build(manifest: &Path, output: &str, sources: Option<&Path>, base: Option<&str>) -> Result<ExitCode> {
    let target = OciTarget::parse(output)?;
    let m = cerro_build::read_manifest(manifest)?;
    let sources = match sources {
        Some(s) => s.to_path_buf(),
        None => match manifest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => Path::new(".").to_path_buf(),
        },
    };
    let mut opts = cerro_build::Options::from_host(&cerro_build::host::System, env!("CARGO_PKG_VERSION"))?;
    opts.base = base.map(str::to_owned);
    let out = cerro_build::build_with(&m, &sources, &target, &opts, &cerro_build::host::System)
        .with_context(|| format!("building {} {}", m.package.name, m.package.version))?;
    println!(
        "built {} {} into oci:{}:{} ({}, layer {}, {} package(s), SOURCE_DATE_EPOCH {}); provenance {}",
        m.package.name,
        m.package.version,
        target.dir.display(),
        target.tag,
        out.image,
        out.layer,
        out.packages.len(),
        out.source_date_epoch,
        out.provenance_path.display()
    );
    Ok(ExitCode::Valid)
}
