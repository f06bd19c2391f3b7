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

/// The options of `debian:PKG`.
pub struct Archive<'a> {
    /// `--suite`.
    pub suite: &'a str,
    /// `--mirror`.
    pub mirror: Option<&'a str>,
    /// `--download-dir`.
    pub download_dir: Option<&'a Path>,
}

/// The fetcher of `cerro_import::archive`: the registry crate's bounded
/// mirror client (the only crate that makes network requests).
struct MirrorFetch(cerro_registry::mirror::Mirror);

impl cerro_import::archive::Fetch for MirrorFetch {
    fn fetch(&mut self, path: &str, limit: u64, sink: &mut dyn Write) -> cerro_core::Result<bool> {
        self.0.get_into(path, limit, sink).map_err(cerro_core::Error::from)
    }
}

/// `debian:PKG[=VERSION]`: the chain InRelease → Sources → .dsc from the
/// mirror, checked by `cerro_import::archive`, into `--download-dir` or a
/// temporary directory removed afterwards.
fn from_archive(
    package: &str,
    version: Option<&str>,
    keyring: Option<&Path>,
    archive: &Archive<'_>,
    opts: &Options,
) -> Result<cerro_import::Imported> {
    let mirror_url = match archive.mirror {
        Some(m) => m.trim_end_matches('/').to_owned(),
        None => cerro_import::archive::mirror_from_apt(Path::new("/etc/apt"))
            .unwrap_or_else(|| cerro_import::archive::DEFAULT_MIRROR.to_owned()),
    };
    let mirror = cerro_registry::mirror::Mirror::new(&mirror_url)?;
    let temp;
    let work = match archive.download_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.to_path_buf()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("ct-import-")
                .tempdir()
                .context("creating a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let req = cerro_import::archive::Request {
        package: package.to_owned(),
        version: version.map(str::to_owned),
        suite: archive.suite.to_owned(),
        mirror: mirror_url,
        keyring: keyring.map_or_else(
            || PathBuf::from(cerro_import::archive::DEBIAN_ARCHIVE_KEYRING),
            Path::to_path_buf,
        ),
        now: cerro_core::clock::unix_now()?,
        work,
    };
    Ok(cerro_import::archive::import_from_archive(
        &req,
        &mut MirrorFetch(mirror),
        opts,
    )?)
}

pub fn import(
    source: &str,
    output: &Path,
    evidence: Option<&Path>,
    keyring: Option<&Path>,
    upstream: Option<&str>,
    archive: &Archive<'_>,
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
    let imported = match &src {
        Source::DebianArchive { package, version } => {
            from_archive(package, version.as_deref(), keyring, archive, &opts)?
        }
        other => cerro_import::import(other, &opts)?,
    };
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
