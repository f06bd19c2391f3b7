//! `cerro-build`: `ct build MANIFEST -o oci:DIR:TAG` (spec/build.md).
//!
//! Builds an imported source (a draft manifest from `ct import`) from the
//! files its provenance names by digest, in a clean root that cannot reach
//! the network, into an OCI image layout whose one layer holds the built
//! packages' files (or, with a base image, [`base`], the base's layers plus
//! what installing the packages into it changed), byte-reproducibly, with
//! a SLSA provenance v1 predicate beside it for `ct pack`.
//!
//! Order of work, so a refusal costs nothing: the manifest is read, the
//! sources are checked by the importer's one check (the `.dsc`'s digest
//! against the manifest, every file against the `.dsc`) — a missing file or
//! a digest that differs is refused before anything runs — then copied into
//! a private directory and checked again there (the bytes the build reads
//! are the bytes checked), then the root is prepared (cached), then the
//! build runs. Every program runs through [`host::Host`]; a failed step
//! names itself and keeps its log.
//!
//! Boundaries: the only network use is preparing a root (debootstrap and
//! apt, from the machine's own apt mirror); the build itself runs in a
//! fresh network namespace, checked to hold no interface but the loopback.
//! Debian source packages (`[build].system = "debian"`), Nix store
//! derivations (`"nix"`, [`nix`]) and RPM source packages (`"rpm"` with a
//! `.src.rpm` recipe, [`rpm`]) are built; other manifests are refused
//! (exit 10).

pub mod base;
pub mod debian;
mod error;
pub mod host;
pub mod image;
pub mod nar;
pub mod nix;
pub mod provenance;
pub mod rpm;

use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use cerro_core::manifest::{DraftManifest, Provenance};

pub use error::{BuildError, Result};
pub use image::OciTarget;
pub use provenance::Named;

/// Where roots are cached and where they come from.
#[derive(Debug, Clone)]
pub struct Options {
    /// The cache of prepared roots (`~/.cache/cerro-torre/build-roots`).
    pub cache: PathBuf,
    /// Suite, mirror and architecture of the root.
    pub origin: debian::Origin,
    /// The version recorded as the builder's (`ct`'s).
    pub tool_version: String,
    /// The image the packages are installed into (`--base oci:DIR[:REF]`,
    /// spec/build.md §10); `None`: the image holds the packages' files only.
    pub base: Option<String>,
}

impl Options {
    /// The machine's: the cache under `$XDG_CACHE_HOME` (else
    /// `$HOME/.cache`), the mirror and suite of its apt configuration
    /// (`/etc/apt/sources.list.d/*.sources`, else `/etc/apt/sources.list`;
    /// Debian's `deb.debian.org` and `bookworm` when it names none), the
    /// architecture `dpkg --print-architecture` gives.
    pub fn from_host(host: &dyn host::Host, tool_version: &str) -> Result<Options> {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from("/var/cache"))
            .join("cerro-torre/build-roots");
        let mut sources = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
            let mut names: Vec<PathBuf> = dir
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "sources"))
                .collect();
            names.sort();
            sources.extend(names.iter().filter_map(|p| std::fs::read_to_string(p).ok()));
        }
        let list = std::fs::read_to_string("/etc/apt/sources.list").ok();
        let (mirror, suite) = debian::origin_from_apt(&sources, list.as_deref())
            .unwrap_or_else(|| ("http://deb.debian.org/debian".into(), "bookworm".into()));
        let tmp = tempfile::NamedTempFile::new().map_err(|e| BuildError::io("creating", std::env::temp_dir(), e))?;
        let out = tmp.path().with_extension("arch");
        host::run_ok(
            host,
            &host::Cmd::new("architecture", "dpkg", tmp.path())
                .arg("--print-architecture")
                .stdout_to(&out),
        )?;
        let arch = std::fs::read_to_string(&out).unwrap_or_default().trim().to_owned();
        let _ = std::fs::remove_file(&out);
        if arch.is_empty() || !arch.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(BuildError::Output {
                what: "dpkg --print-architecture".into(),
                reason: format!("{arch:?} is not an architecture"),
            });
        }
        Ok(Options {
            cache,
            origin: debian::Origin { suite, mirror, arch },
            tool_version: tool_version.to_owned(),
            base: None,
        })
    }
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The image manifest's digest (what `oci:DIR:TAG` now names).
    pub image: Digest,
    /// The config's digest.
    pub config: Digest,
    /// The one layer's digest (its diff_id too: it is not compressed).
    pub layer: Digest,
    /// The binary packages built, sorted by name (for Nix, the output
    /// paths, each with the SHA-256 of its NAR).
    pub packages: Vec<Named>,
    /// SOURCE_DATE_EPOCH (from `debian/changelog`).
    pub source_date_epoch: u64,
    /// The SLSA provenance v1 predicate.
    pub provenance: serde_json::Value,
    /// Where it was written (`DIR/cerro-build/sha256-HEX.provenance.json`).
    pub provenance_path: PathBuf,
    /// The cache key of the root used.
    pub root_key: String,
}

/// Reads a draft manifest (as `ct import` writes it): TOML with only the
/// keys of spec/manifest-format.md, validated.
pub fn read_manifest(path: &Path) -> Result<DraftManifest> {
    let bytes = cerro_core::file::read_bounded(path, cerro_core::manifest::MAX_MANIFEST_SIZE, "manifest")?;
    let text = String::from_utf8(bytes).map_err(|_| BuildError::Manifest {
        field: "manifest",
        reason: format!("{} is not UTF-8", path.display()),
    })?;
    let m: DraftManifest = toml::from_str(&text).map_err(|e| {
        cerro_core::Error::malformed(
            path.display().to_string(),
            e.to_string().split_whitespace().collect::<Vec<_>>().join(" "),
        )
    })?;
    m.validate()?;
    Ok(m)
}

/// Builds `manifest` from the files in `sources` into `out`, on this
/// machine (see [`build_with`]).
pub fn build(manifest: &DraftManifest, sources: &Path, out: &OciTarget) -> Result<BuildOutput> {
    let opts = Options::from_host(&host::System, env!("CARGO_PKG_VERSION"))?;
    build_with(manifest, sources, out, &opts, &host::System)
}

/// The recipe a manifest names: `[provenance].imported_from =
/// "PREFIX:NAME.EXT"` (a plain file name) with its `imported_from_hash`.
fn recipe_of<'m>(manifest: &'m DraftManifest, prefix: &str, ext: &str) -> Result<(&'m Provenance, String)> {
    let p = manifest.provenance.as_ref().ok_or(BuildError::Manifest {
        field: "provenance",
        reason: "absent: the sources are named there".into(),
    })?;
    let from = p.imported_from.as_deref().unwrap_or_default();
    let name = from
        .strip_prefix(prefix)
        .filter(|n| n.ends_with(ext) && !n.contains('/') && !n.starts_with('.'))
        .ok_or_else(|| BuildError::Manifest {
            field: "provenance.imported_from",
            reason: format!("{from:?} is not {prefix}NAME{ext}"),
        })?;
    if p.imported_from_hash.is_none() {
        return Err(BuildError::Manifest {
            field: "provenance.imported_from_hash",
            reason: "absent: the .dsc must be named by its digest".into(),
        });
    }
    Ok((p, name.to_owned()))
}

/// Checks the `.dsc` at `dsc` and the files beside it (the importer's one
/// check) and that they are the ones `want` names. Returns the import.
fn check_sources(dsc: &Path, want: &Provenance) -> Result<cerro_import::Imported> {
    let opts = cerro_import::Options {
        keyring: None,
        upstream: Some(want.upstream.clone()),
    };
    let got = cerro_import::debian::import_dsc(dsc, &opts)?;
    same_sources(dsc, &got, want)?;
    Ok(got)
}

/// The import `got` of `recipe` names the sources `want` names: the same
/// recipe digest, upstream tarball digest and patches.
fn same_sources(recipe: &Path, got: &cerro_import::Imported, want: &Provenance) -> Result<()> {
    let have = got.draft.provenance.as_ref().ok_or_else(|| BuildError::Manifest {
        field: "provenance",
        reason: "the importer gave none".into(),
    })?;
    let name = recipe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let show = |d: &Option<Digest>| d.map(|d| d.to_string()).unwrap_or_else(|| "none".into());
    if have.imported_from_hash != want.imported_from_hash {
        return Err(BuildError::SourceMismatch {
            what: format!("{name} (provenance.imported_from_hash)"),
            expected: show(&want.imported_from_hash),
            actual: show(&have.imported_from_hash),
        });
    }
    if have.upstream_hash != want.upstream_hash {
        return Err(BuildError::SourceMismatch {
            what: "the upstream tarball (provenance.upstream_hash)".into(),
            expected: show(&want.upstream_hash),
            actual: show(&have.upstream_hash),
        });
    }
    if have.patches != want.patches {
        let list = |p: &Provenance| {
            p.patches
                .iter()
                .map(|x| format!("{} {}", x.name, x.digest))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(BuildError::SourceMismatch {
            what: "provenance.patches".into(),
            expected: list(want),
            actual: list(have),
        });
    }
    Ok(())
}

fn file_digest(path: &Path) -> Result<Digest> {
    let bytes = std::fs::read(path).map_err(|e| BuildError::io("reading", path, e))?;
    Ok(Digest::of(&bytes))
}

/// Builds `manifest` (a draft as `ct import` writes it: a Debian source
/// package, a Nix store derivation or an RPM source package, by
/// `[build].system`) from the files in `sources` into the OCI layout `out`
/// (a Debian build preparing or reusing the root `opts` names), every
/// program run through `host`.
///
/// Returns only after the image and its provenance are written. On a
/// refusal nothing has run and nothing is written; when a step fails its
/// error names the step and the log, which is kept (with the build's
/// working directory) for reading.
pub fn build_with(
    manifest: &DraftManifest,
    sources: &Path,
    out: &OciTarget,
    opts: &Options,
    host: &dyn host::Host,
) -> Result<BuildOutput> {
    manifest.validate()?;
    let system = manifest.build.as_ref().and_then(|b| b.system.as_deref());
    if opts.base.is_some() && system != Some("debian") {
        return Err(BuildError::Core(cerro_core::Error::invalid_config(
            "--base",
            "only a Debian build installs its packages into a base image",
        )));
    }
    match system {
        Some("debian") => {}
        Some("nix") => return nix::build(manifest, sources, out, opts, host),
        Some("rpm") => return rpm::build(manifest, sources, out, opts, host),
        Some(other) => {
            return Err(BuildError::Manifest {
                field: "build.system",
                reason: format!("{other:?} is not built by ct build yet (only \"debian\", \"nix\" and \"rpm\")"),
            })
        }
        None => {
            return Err(BuildError::Manifest {
                field: "build.system",
                reason: "absent: ct build builds what ct import drafted".into(),
            })
        }
    }
    let (want, dsc_name) = recipe_of(manifest, "debian:", ".dsc")?;
    // The first check, on the files as given: refuses before anything runs.
    let first = check_sources(&sources.join(&dsc_name), want)?;
    in_work_dir(|work| build_in(manifest, sources, &dsc_name, &first, want, out, opts, host, work))
}

/// Runs `f` in a fresh working directory under `$TMPDIR`, removed after a
/// success and kept after a failure (the error names its log).
fn in_work_dir<T>(f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let work = tempfile::Builder::new()
        .prefix("cerro-build-")
        .tempdir()
        .map_err(|e| BuildError::io("creating a directory in", std::env::temp_dir(), e))?;
    let result = f(work.path());
    if result.is_err() {
        let _ = work.keep();
    }
    result
}

/// Writes `predicate` where `ct pack oci:DIR:TAG` finds it.
fn write_provenance(out: &OciTarget, image: &Digest, predicate: &serde_json::Value) -> Result<PathBuf> {
    let dir = out.dir.join("cerro-build");
    std::fs::create_dir_all(&dir).map_err(|e| BuildError::io("creating", &dir, e))?;
    let path = dir.join(provenance::file_name(image));
    cerro_core::file::write_atomic(&path, &cerro_core::jcs::to_vec(predicate)?, 0o644)?;
    Ok(path)
}

#[allow(clippy::too_many_arguments)]
fn build_in(
    manifest: &DraftManifest,
    sources: &Path,
    dsc_name: &str,
    first: &cerro_import::Imported,
    want: &Provenance,
    out: &OciTarget,
    opts: &Options,
    host: &dyn host::Host,
    work: &Path,
) -> Result<BuildOutput> {
    let log = work.join("build.log");
    let build_dir = debian::make_work(work)?;
    let mut names = vec![dsc_name.to_owned()];
    names.extend(first.evidence.files.iter().map(|f| f.name.clone()));
    for n in &names {
        let (from, to) = (sources.join(n), build_dir.join(n));
        std::fs::copy(&from, &to).map_err(|e| BuildError::io("copying", &from, e))?;
    }
    // The second check, on the copies the build reads.
    let checked = check_sources(&build_dir.join(dsc_name), want)?;
    let field = |n: &str| checked.evidence.fields.get(n).and_then(|v| v.as_str());
    let deps = debian::build_depends(&[
        ("Build-Depends", field("Build-Depends")),
        ("Build-Depends-Arch", field("Build-Depends-Arch")),
        ("Build-Depends-Indep", field("Build-Depends-Indep")),
    ]);
    let mut source_files = vec![(
        Named {
            name: dsc_name.to_owned(),
            digest: file_digest(&build_dir.join(dsc_name))?,
        },
        "recipe",
    )];
    for f in &checked.evidence.files {
        source_files.push((
            Named {
                name: f.name.clone(),
                digest: file_digest(&build_dir.join(&f.name))?,
            },
            "source",
        ));
    }

    // The base, read and unpacked before anything runs: a base that is not
    // what its digests say, or not of the build's platform, costs nothing.
    let base = match &opts.base {
        Some(spec) => {
            let b = base::BaseImage::open(spec, &opts.origin.arch)?;
            let blobs = b
                .unpack(&work.join("base-blobs"), &work.join("base"))
                .inspect_err(|_| {
                    // The kept working directory need not hold a refused base.
                    let _ = std::fs::remove_dir_all(work.join("base-blobs"));
                    let _ = std::fs::remove_dir_all(work.join("base"));
                })?;
            Some((b, blobs))
        }
        None => None,
    };

    let (root, key) = debian::prepared_root(host, &opts.cache, &opts.origin, &deps, &log)?;
    debian::in_namespace(host, "unpack", &root, work, None, dsc_name, &log)?;
    let changelog_path = build_dir.join("src/debian/changelog");
    let changelog = cerro_core::file::read_bounded(&changelog_path, 16 << 20, "debian/changelog")?;
    let epoch = debian::changelog_epoch(&String::from_utf8_lossy(&changelog))?;
    debian::in_namespace(host, "build", &root, work, Some(epoch), dsc_name, &log)?;

    // The outputs: every .deb beside the source, in name order.
    let mut debs = Vec::new();
    let mut buildinfo = None;
    let entries = std::fs::read_dir(&build_dir).map_err(|e| BuildError::io("listing", &build_dir, e))?;
    for e in entries {
        let e = e.map_err(|x| BuildError::io("listing", &build_dir, x))?;
        let n = e.file_name().to_string_lossy().into_owned();
        if n.ends_with(".deb") {
            debs.push(n);
        } else if n.ends_with(".buildinfo") {
            buildinfo = Some(n);
        }
    }
    debs.sort();
    if debs.is_empty() {
        return Err(BuildError::StepFailed {
            step: "build",
            status: "no .deb was built".into(),
            log,
        });
    }
    let mut tree = image::Tree::default();
    let mut packages = Vec::new();
    for (i, d) in debs.iter().enumerate() {
        let path = build_dir.join(d);
        packages.push(Named {
            name: d.clone(),
            digest: file_digest(&path)?,
        });
        if base.is_some() {
            continue; // the layer is what the install changes, below
        }
        let tar = work.join(format!("data-{i}.tar"));
        host::run_ok(
            host,
            &host::Cmd::new("extract", "dpkg-deb", &log)
                .arg("--fsys-tarfile")
                .arg(&path)
                .stdout_to(&tar),
        )?;
        let f = std::fs::File::open(&tar).map_err(|e| BuildError::io("opening", &tar, e))?;
        tree.add_tar(d, std::io::BufReader::new(f))?;
    }
    let from = want.imported_from.as_deref().unwrap_or_default();
    let mut install = None;
    let written = match &base {
        None => {
            let layer = tree.to_tar(epoch)?;
            image::write_layout(out, &layer, epoch, &opts.origin.arch, &format!("ct build {from}"))?
        }
        Some((b, blobs)) => {
            // Debug symbols stay byproducts: the image is what runs.
            let installed: Vec<String> = debs.iter().filter(|d| !d.contains("-dbgsym_")).cloned().collect();
            let restored = base::install(host, &root, work, epoch, &installed, &log)?;
            let layer = work.join("layer.tar");
            let diff = base::diff_layer(&work.join("base"), &work.join("target"), epoch, &layer)?;
            install = Some(serde_json::json!({
                "command": "dpkg --root=/target --force-unsafe-io -i",
                "dpkg": base::dpkg_version(&root),
                "packages": installed,
                "restored": restored,
                "entries": diff.entries,
                "whiteouts": diff.whiteouts,
            }));
            image::write_layout_on_base(out, b, blobs, &layer, epoch, &format!("ct build {from} --base"))?
        }
    };

    let buildinfo_bytes = match &buildinfo {
        Some(n) => {
            let p = build_dir.join(n);
            Some((
                n.clone(),
                std::fs::read(&p).map_err(|e| BuildError::io("reading", &p, e))?,
            ))
        }
        None => None,
    };
    let mut byproducts: Vec<serde_json::Value> = packages
        .iter()
        .map(|p| provenance::package(p, "application/vnd.debian.binary-package"))
        .collect();
    if let Some((n, b)) = &buildinfo_bytes {
        let named = Named {
            name: n.clone(),
            digest: Digest::of(b),
        };
        byproducts.push(provenance::recorded(&named, b, "buildinfo"));
    }
    let mut internal = serde_json::json!({
        "sourceDateEpoch": epoch,
        "root": {
            "suite": opts.origin.suite,
            "mirror": opts.origin.mirror,
            "architecture": opts.origin.arch,
            "variant": "buildd",
            "buildDepends": deps,
            "cacheKey": key,
        },
        "isolation": "unshare --mount --net --pid --ipc --uts; only a loopback interface",
        "commands": ["dpkg-source -x", "dpkg-buildpackage -us -uc -b"],
    });
    if let Some(i) = install {
        internal["install"] = i;
    }
    let mut predicate = provenance::predicate(provenance::Facts {
        manifest,
        build_type: provenance::BUILD_TYPE_DEBIAN,
        sources: &source_files,
        internal,
        byproducts,
        image: (&out.tag, written.manifest),
        layer: written.layer,
        tool_version: &opts.tool_version,
    });
    if let (Some((b, _)), Some(deps)) = (
        &base,
        predicate
            .pointer_mut("/buildDefinition/resolvedDependencies")
            .and_then(serde_json::Value::as_array_mut),
    ) {
        deps.push(base::dependency(b));
    }
    let provenance_path = write_provenance(out, &written.manifest, &predicate)?;
    Ok(BuildOutput {
        image: written.manifest,
        config: written.config,
        layer: written.layer,
        packages,
        source_date_epoch: epoch,
        provenance: predicate,
        provenance_path,
        root_key: key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Recording;

    fn opts(cache: &Path) -> Options {
        Options {
            cache: cache.to_path_buf(),
            origin: debian::Origin {
                suite: "bookworm".into(),
                mirror: "http://m/debian".into(),
                arch: "amd64".into(),
            },
            tool_version: "0".into(),
            base: None,
        }
    }

    fn manifest(text: &str) -> DraftManifest {
        toml::from_str(text).unwrap()
    }

    const BASE: &str = "[package]\nname = \"hello\"\nversion = \"2.10-3\"\n";

    #[test]
    fn manifests_without_a_debian_source_are_refused_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let target = OciTarget::parse(&format!("oci:{}:t", dir.path().join("img").display())).unwrap();
        let cases = [
            (format!("{BASE}[build]\nsystem = \"alpine\"\n"), "build.system"),
            (BASE.to_owned(), "build.system"),
            (format!("{BASE}[build]\nsystem = \"debian\"\n"), "provenance"),
            (
                format!("{BASE}[provenance]\nupstream = \"https://x/\"\nimported_from = \"debian:../x.dsc\"\n[build]\nsystem = \"debian\"\n"),
                "provenance.imported_from",
            ),
            (
                format!("{BASE}[provenance]\nupstream = \"https://x/\"\nimported_from = \"debian:x.dsc\"\n[build]\nsystem = \"debian\"\n"),
                "provenance.imported_from_hash",
            ),
        ];
        for (text, field) in cases {
            let host = Recording::new(vec![]);
            let e = build_with(&manifest(&text), dir.path(), &target, &opts(dir.path()), &host).unwrap_err();
            match &e {
                BuildError::Manifest { field: f, .. } => assert_eq!(*f, field, "{e}"),
                other => panic!("{other}"),
            }
            assert_eq!(e.exit_code(), cerro_core::ExitCode::Malformed);
            assert!(host.steps().is_empty());
            assert!(!dir.path().join("img").exists());
        }
    }

    #[test]
    fn a_base_is_refused_for_nix_and_rpm_and_when_not_an_oci_layout() {
        let dir = tempfile::tempdir().unwrap();
        let target = OciTarget::parse(&format!("oci:{}:t", dir.path().join("img").display())).unwrap();
        let mut o = opts(dir.path());
        o.base = Some(format!("oci:{}:b", dir.path().display()));
        for system in ["nix", "rpm"] {
            let text = format!(
                "{BASE}[provenance]\nupstream = \"https://x/\"\nimported_from = \"x\"\n[build]\nsystem = \"{system}\"\n"
            );
            let host = Recording::new(vec![]);
            let e = build_with(&manifest(&text), dir.path(), &target, &o, &host).unwrap_err();
            assert_eq!(e.kind(), cerro_core::Kind::InvalidConfig, "{e}");
            assert!(e.to_string().contains("--base"), "{e}");
            assert!(host.steps().is_empty());
        }
        for spec in ["docker://debian:bookworm", "oci-archive:/x.tar"] {
            let e = base::BaseImage::open(spec, "amd64").unwrap_err();
            assert_eq!(e.exit_code(), cerro_core::ExitCode::Malformed, "{e}");
        }
        // A layout that is not there: nothing to read.
        let e = base::BaseImage::open(&format!("oci:{}:b", dir.path().join("none").display()), "amd64").unwrap_err();
        assert_eq!(e.kind(), cerro_core::Kind::Io, "{e}");
        assert!(!dir.path().join("img").exists());
    }

    #[test]
    fn a_missing_dsc_is_refused_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let target = OciTarget::parse(&format!("oci:{}:t", dir.path().join("img").display())).unwrap();
        let text = format!(
            "{BASE}[provenance]\nupstream = \"https://x/\"\nimported_from = \"debian:hello_2.10-3.dsc\"\nimported_from_hash = \"sha256:{}\"\n[build]\nsystem = \"debian\"\n",
            "0".repeat(64)
        );
        let host = Recording::new(vec![]);
        let e = build_with(&manifest(&text), dir.path(), &target, &opts(dir.path()), &host).unwrap_err();
        assert_eq!(e.kind(), cerro_core::Kind::Io, "{e}");
        assert!(host.steps().is_empty());
    }

    #[test]
    fn a_changed_or_missing_srpm_or_drv_is_refused_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let target = OciTarget::parse(&format!("oci:{}:t", dir.path().join("img").display())).unwrap();
        std::fs::write(dir.path().join("g-1-1.src.rpm"), b"not the named bytes").unwrap();
        let cases = [
            ("rpm", "fedora:g-1-1.src.rpm", cerro_core::Kind::DigestMismatch),
            ("rpm", "fedora:h-1-1.src.rpm", cerro_core::Kind::Io),
            ("rpm", "fedora:g.spec", cerro_core::Kind::Malformed),
            ("nix", "nix:aaaa-g-1.drv", cerro_core::Kind::Io),
        ];
        for (system, from, kind) in cases {
            let text = format!(
                "{BASE}[provenance]\nupstream = \"https://x/\"\nimported_from = \"{from}\"\nimported_from_hash = \"sha256:{}\"\n[build]\nsystem = \"{system}\"\n",
                "0".repeat(64)
            );
            let host = Recording::new(vec![]);
            let e = build_with(&manifest(&text), dir.path(), &target, &opts(dir.path()), &host).unwrap_err();
            assert_eq!(e.kind(), kind, "{from}: {e}");
            assert!(host.steps().is_empty(), "{from}: {:?}", host.steps());
            assert!(!dir.path().join("img").exists());
        }
    }

    #[test]
    fn a_cached_root_is_reused_and_a_new_one_made_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path()).origin;
        let deps = vec!["help2man".to_owned()];
        let log = dir.path().join("log");
        let host = Recording::new(vec![]);
        // debootstrap "succeeds" and leaves what a root has.
        let made = {
            let host = Recording {
                effect: Box::new(|c: &crate::host::Cmd| {
                    if c.step == "debootstrap" {
                        let root = std::path::PathBuf::from(&c.args[3]);
                        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
                        std::fs::write(root.join("usr/bin/dpkg-buildpackage"), "").unwrap();
                    }
                }),
                ..Recording::new(vec![])
            };
            let r = debian::prepared_root(&host, dir.path(), &o, &deps, &log).unwrap();
            assert_eq!(host.steps(), ["debootstrap", "build-depends"]);
            let args = &host.ran.borrow()[1].args;
            assert_eq!(args.last().unwrap(), "help2man");
            r
        };
        let again = debian::prepared_root(&host, dir.path(), &o, &deps, &log).unwrap();
        assert_eq!(again, made);
        assert!(host.steps().is_empty(), "a cached root runs nothing");
        assert!(made.0.starts_with(dir.path()) && made.0.ends_with("root"));
    }

    #[test]
    fn a_failed_root_step_names_itself_and_its_log_and_caches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path()).origin;
        let log = dir.path().join("log");
        let host = Recording::new(vec![Some(1)]);
        let e = debian::prepared_root(&host, dir.path(), &o, &[], &log).unwrap_err();
        match &e {
            BuildError::StepFailed { step, log: l, status } => {
                assert_eq!((*step, l, status.as_str()), ("debootstrap", &log, "exit status 1"))
            }
            other => panic!("{other}"),
        }
        assert_eq!(e.exit_code(), cerro_core::ExitCode::Config);
        assert!(!dir.path().join(debian::root_key(&o, &[])).exists());
    }

    #[test]
    fn a_namespace_with_a_network_interface_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(dir.path().join("interfaces"), "lo eth0 \n").unwrap();
        let host = Recording::new(vec![Some(97)]);
        let e = debian::in_namespace(&host, "build", dir.path(), dir.path(), Some(1), "x.dsc", &log).unwrap_err();
        match &e {
            BuildError::NetworkNotIsolated { interfaces, .. } => assert_eq!(interfaces, "lo eth0"),
            other => panic!("{other}"),
        }
        let cmd = &host.ran.borrow()[0];
        assert_eq!(cmd.program, "unshare");
        assert!(cmd.args.iter().any(|a| a == "--net"));
        // A build that fails is the build step's failure.
        let host = Recording::new(vec![Some(2)]);
        let e = debian::in_namespace(&host, "build", dir.path(), dir.path(), Some(1), "x.dsc", &log).unwrap_err();
        assert!(matches!(e, BuildError::StepFailed { step: "build", .. }), "{e}");
    }
}
