//! `cerro-import`: distribution recipes read as data into draft Cerro Torre
//! manifests (`ct import SOURCE -o manifest.toml`, spec/import.md).
//!
//! Each importer parses one recipe format — a Debian source package's
//! `.dsc` with the files beside it ([`debian`]), an Alpine `APKBUILD`
//! ([`alpine`]), a Nix store derivation ([`nix`]), an RPM `.spec`
//! ([`fedora`]) or `.src.rpm` ([`srpm`]); `debian:PKG` from an archive
//! ([`archive`]) — and returns an
//! [`Imported`]: the draft manifest (`[package]`, `[provenance]` with the
//! upstream source and its digest, the recipe and its digest, every patch
//! with its digest in order, `[build]`) and the [`Evidence`] of what was
//! checked, kept for the provenance attestation.
//!
//! Boundaries: a recipe is never executed (an `APKBUILD` is read as
//! assignments, not run by a shell; a value that would need evaluation is
//! refused with its line). Every input is bounded before it is parsed. No
//! network: only `cerro-registry` may fetch; for `debian:PKG`, [`archive`]
//! decides what to fetch and checks what came, the caller's fetcher
//! fetches. The one program run is the OpenPGP verifier (`gpgv`): when the
//! user gives a keyring ([`debian::verify_clearsigned`]), and on an
//! archive's InRelease. Nothing is
//! written: the front end writes the draft and the evidence only after an
//! import succeeded. The same input gives the same draft and evidence,
//! byte for byte.

pub mod alpine;
pub mod archive;
pub mod deb822;
pub mod debian;
pub mod debversion;
mod error;
mod evidence;
pub mod fedora;
mod files;
pub mod nix;
pub mod pgp;
pub mod srpm;
mod tarball;

use std::path::{Path, PathBuf};

pub use error::{ImportError, Result};
pub use evidence::{Evidence, FileEvidence, SignatureEvidence};

use cerro_core::manifest::DraftManifest;

/// What an import produced: the draft manifest and the evidence behind it.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The draft manifest (validated: [`DraftManifest::to_toml`] succeeds).
    pub draft: DraftManifest,
    /// What was checked.
    pub evidence: Evidence,
}

impl Imported {
    /// The result of every importer: a draft of `package` imported from a
    /// recipe as `provenance` says, to be built by `system` (`debian`,
    /// `alpine`, `nix`, `rpm`), validated as `ct pack` would validate it
    /// (nothing is returned, so nothing written, otherwise).
    pub(crate) fn new(
        package: cerro_core::manifest::Package,
        provenance: cerro_core::manifest::Provenance,
        system: &str,
        evidence: Evidence,
    ) -> Result<Imported> {
        let draft = DraftManifest {
            package,
            provenance: Some(provenance),
            build: Some(cerro_core::manifest::Build {
                system: Some(system.to_owned()),
                builder: None,
                reproducible: None,
            }),
            runtime: None,
            capabilities: None,
            image: None,
        };
        draft.validate()?;
        Ok(Imported { draft, evidence })
    }

    /// The draft as TOML (the canonical order of spec/manifest-format.md §6).
    pub fn manifest_toml(&self) -> Result<String> {
        Ok(self.draft.to_toml()?)
    }

    /// The evidence as JSON (keys in a fixed order, two-space indent, a
    /// final newline): the same import gives the same bytes.
    pub fn evidence_json(&self) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(&self.evidence).map_err(|e| ImportError::InvalidSource {
            what: "evidence".into(),
            reason: e.to_string(),
        })?;
        out.push(b'\n');
        Ok(out)
    }
}

/// Which importer a SOURCE argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local `.dsc` (`debian:FILE.dsc` or a path ending in `.dsc`).
    DebianDsc(PathBuf),
    /// `debian:PKG[=VERSION]`: fetched from an archive through its chain of
    /// trust ([`archive::import_from_archive`], with the caller's network).
    DebianArchive {
        /// The source package.
        package: String,
        /// The version asked for, else the highest.
        version: Option<String>,
    },
    /// An `APKBUILD` (`alpine:FILE`, or a file named `APKBUILD`).
    Alpine(PathBuf),
    /// A store derivation (`nix:FILE.drv` or a path ending in `.drv`).
    NixDrv(PathBuf),
    /// An RPM spec file (`fedora:FILE.spec` or a path ending in `.spec`).
    RpmSpec(PathBuf),
    /// An RPM source package (`fedora:FILE.src.rpm` or a path ending in `.src.rpm`).
    RpmSrpm(PathBuf),
}

impl Source {
    /// Parses `debian:FILE.dsc`, `alpine:APKBUILD`, `nix:FILE.drv`, or a
    /// bare path recognised by its name. `debian:PKG[=VERSION]` (fetching
    /// through InRelease → Sources → .dsc) is recognised here and imported
    /// by [`archive::import_from_archive`], which needs a fetcher.
    pub fn parse(arg: &str) -> Result<Source> {
        let bad = |reason: &str| ImportError::InvalidSource {
            what: format!("import source {arg:?}"),
            reason: reason.to_string(),
        };
        if let Some(rest) = arg.strip_prefix("debian:") {
            if rest.ends_with(".dsc") {
                return Ok(Source::DebianDsc(rest.into()));
            }
            if rest.contains('/') {
                return Err(bad(
                    "debian: takes a local FILE.dsc or a source package name PKG[=VERSION]",
                ));
            }
            let (package, version) = archive::parse_package_arg(rest)?;
            return Ok(Source::DebianArchive { package, version });
        }
        if let Some(rest) = arg.strip_prefix("alpine:") {
            return Ok(Source::Alpine(rest.into()));
        }
        if let Some(rest) = arg.strip_prefix("nix:") {
            return Ok(Source::NixDrv(rest.into()));
        }
        if let Some(rest) = arg.strip_prefix("fedora:") {
            if rest.ends_with(".spec") {
                return Ok(Source::RpmSpec(rest.into()));
            }
            if rest.ends_with(".src.rpm") {
                return Ok(Source::RpmSrpm(rest.into()));
            }
            return Err(bad("fedora: takes a .spec or a .src.rpm file"));
        }
        let p = Path::new(arg);
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".dsc") {
            Ok(Source::DebianDsc(p.into()))
        } else if name == "APKBUILD" {
            Ok(Source::Alpine(p.into()))
        } else if name.ends_with(".drv") {
            Ok(Source::NixDrv(p.into()))
        } else if name.ends_with(".spec") {
            Ok(Source::RpmSpec(p.into()))
        } else if name.ends_with(".src.rpm") {
            Ok(Source::RpmSrpm(p.into()))
        } else {
            Err(bad(
                "expected debian:FILE.dsc, debian:PKG[=VERSION], alpine:APKBUILD, nix:FILE.drv, fedora:FILE.spec or fedora:FILE.src.rpm (or a path ending in .dsc, named APKBUILD, or ending in .drv, .spec or .src.rpm)",
            ))
        }
    }
}

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// An OpenPGP keyring: a signed `.dsc` must verify under it (with
    /// `gpgv`), an unsigned one is refused. Without it a signature is
    /// parsed and recorded as not checked.
    pub keyring: Option<PathBuf>,
    /// The upstream URL, when the recipe does not say it (or to override it).
    pub upstream: Option<String>,
}

/// Imports `source`: parses the recipe, checks every file and digest it
/// names, and returns the draft and the evidence. Writes nothing.
pub fn import(source: &Source, opts: &Options) -> Result<Imported> {
    match source {
        Source::DebianDsc(p) => debian::import_dsc(p, opts),
        Source::DebianArchive { package, .. } => Err(ImportError::InvalidSource {
            what: format!("debian:{package}"),
            reason: "fetched from a mirror: use archive::import_from_archive with a fetcher".into(),
        }),
        Source::Alpine(p) => alpine::import_apkbuild(p, opts),
        Source::NixDrv(p) => nix::import_drv(p, opts),
        Source::RpmSpec(p) => fedora::import_spec(p, opts),
        Source::RpmSrpm(p) => srpm::import_srpm(p, opts),
    }
}
