//! `ct import SOURCE -o manifest.toml`: a distribution recipe read as data
//! into a draft manifest and its evidence (spec/import.md). The work is
//! `cerro_import::import`; this writes the two files, only after it succeeded.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use cerro_core::file::AtomicFile;
use cerro_core::ExitCode;
use cerro_import::{Options, Source};

/// The evidence file beside `output`: `manifest.toml` → `manifest.evidence.json`.
fn default_evidence(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!("{stem}.evidence.json"))
}

pub fn import(
    source: &str,
    output: &Path,
    evidence: Option<&Path>,
    keyring: Option<&Path>,
    upstream: Option<&str>,
) -> Result<ExitCode> {
    let evidence_path = evidence.map_or_else(|| default_evidence(output), Path::to_path_buf);
    if evidence_path == output {
        bail!("--evidence and --output name the same file {}", output.display());
    }
    let src = Source::parse(source)?;
    let opts = Options {
        keyring: keyring.map(Path::to_path_buf),
        upstream: upstream.map(str::to_string),
    };
    let imported = cerro_import::import(&src, &opts)?;
    let manifest = imported.manifest_toml()?;
    let ev = imported.evidence_json()?;
    // Both files are complete before either is renamed into place.
    let mut ev_file = AtomicFile::create(&evidence_path, 0o644)?;
    ev_file
        .write_all(&ev)
        .with_context(|| format!("writing {}", evidence_path.display()))?;
    let mut m_file = AtomicFile::create(output, 0o644)?;
    m_file
        .write_all(manifest.as_bytes())
        .with_context(|| format!("writing {}", output.display()))?;
    ev_file.commit()?;
    m_file.commit()?;
    let d = &imported.draft;
    let from = d
        .provenance
        .as_ref()
        .and_then(|p| p.imported_from.clone())
        .unwrap_or_default();
    let patches = d.provenance.as_ref().map_or(0, |p| p.patches.len());
    let signature = imported.evidence.signature.as_ref().map(|s| s.status);
    println!(
        "{}: {} {} from {from}: {} file(s) checked, {patches} patch(es){}; evidence in {}",
        output.display(),
        d.package.name,
        d.package.version,
        imported.evidence.files.len(),
        signature.map(|s| format!(", signature {s}")).unwrap_or_default(),
        evidence_path.display()
    );
    Ok(ExitCode::Valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_lies_beside_the_manifest() {
        assert_eq!(
            default_evidence(Path::new("out/manifest.toml")),
            PathBuf::from("out/manifest.evidence.json")
        );
        assert_eq!(default_evidence(Path::new("m")), PathBuf::from("m.evidence.json"));
    }
}
