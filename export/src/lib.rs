//! Exporters: a verified bundle leaves as an OCI image layout (`oci`), an
//! OCI archive (`oci-archive`), a Debian package (`deb`), an RPM package
//! (`rpm`) or an OSTree commit (`ostree`). Specified in `spec/export.md`.
//!
//! Boundaries. [`export`] takes the verifier's proof, `&Verified<Bundle>`,
//! so an unverified bundle cannot be exported by construction; it verifies
//! nothing itself and makes no proof. It reads the bundle file back and
//! holds it to the verified member list (`source.rs`: every header where
//! the list puts it, every blob hashed as it is read), writes only into a
//! temporary file or directory beside the output, and renames it into place
//! once everything it read matched: a failure, or a bundle changed since it
//! was verified, leaves nothing at the output.
//!
//! Reproducible: the same bundle gives the same bytes. Every time written is
//! the bundle's signed build time ([`epoch`]), every owner 0, every listing
//! sorted. Streamed: layers are decompressed into unnamed spool files, never
//! held in memory (the rpm payload is the exception the `rpm` crate imposes,
//! bounded by [`Limits::rpm_payload`]). Bounded: entries, path lengths,
//! symbolic-link hops and uncompressed bytes are capped ([`Limits`]).
//!
//! Errors are `cerro_core::Error`, so exit codes come from core's one table.

mod deb;
mod layout;
mod meta;
mod oci;
mod ostree;
mod rpm;
mod source;

pub use source::Progress;
mod tree;

use std::path::{Path, PathBuf};

use cerro_core::bundle::Bundle;
use cerro_core::image::MAX_JSON_BLOB;
use cerro_core::verify::Verified;
use cerro_core::{Error, Result};

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An OCI image layout directory.
    Oci,
    /// A tar of an OCI image layout.
    OciArchive,
    /// A Debian binary package.
    Deb,
    /// An RPM v4 binary package.
    Rpm,
    /// A commit in an OSTree repository.
    Ostree,
}

impl Format {
    /// Every format, as `ct export --format` names it.
    pub const ALL: [(Format, &'static str); 5] = [
        (Format::Oci, "oci"),
        (Format::OciArchive, "oci-archive"),
        (Format::Deb, "deb"),
        (Format::Rpm, "rpm"),
        (Format::Ostree, "ostree"),
    ];

    /// The name `ct export --format` takes.
    pub fn name(self) -> &'static str {
        Format::ALL.iter().find(|(f, _)| *f == self).map_or("?", |(_, n)| n)
    }
}

/// Caps on the work an export may do. The bundle is verified, but a signed
/// layer can still be a decompression bomb or a million empty files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries across all layers.
    pub entries: usize,
    /// Most uncompressed layer bytes in total.
    pub bytes: u64,
    /// Longest path or link target, in bytes.
    pub path: usize,
    /// Most symbolic links followed resolving one path (Linux's 40).
    pub hops: usize,
    /// Largest rpm payload (the `rpm` crate builds it in memory).
    pub rpm_payload: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries: 1 << 20,
            bytes: 64 << 30,
            path: 4096,
            hops: 40,
            rpm_payload: 2 << 30,
        }
    }
}

/// What [`export`] is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The format.
    pub format: Format,
    /// Where: a file (`oci-archive`, `deb`, `rpm`), a directory that must
    /// not exist (`oci`), or an OSTree repository (`ostree`, created as a
    /// bare-user repository when it does not exist).
    pub out: PathBuf,
    /// Where the image's root file system lands in a package (`deb`,
    /// `rpm`, `ostree`): `/` by default.
    pub prefix: Option<String>,
    /// The OSTree branch (default `cerro/<name>/<version>`).
    pub branch: Option<String>,
    /// The caps.
    pub limits: Limits,
}

impl Options {
    /// `format` to `out`, with the defaults.
    pub fn new(format: Format, out: impl Into<PathBuf>) -> Self {
        Options {
            format,
            out: out.into(),
            prefix: None,
            branch: None,
            limits: Limits::default(),
        }
    }
}

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The format.
    pub format: Format,
    /// Where.
    pub out: PathBuf,
    /// The time written into it (POSIX seconds).
    pub epoch: u64,
    /// The OSTree commit id, for `ostree`.
    pub commit: Option<String>,
    /// Entries of the image left out because the format cannot hold them
    /// (device nodes, FIFOs, sockets), by path.
    pub left_out: Vec<String>,
}

/// Exports the bundle read from `bundle`, verified as `verified`, as
/// `opts` asks. Returns only once the output is complete and in place;
/// on any error nothing is left at `opts.out`.
pub fn export(verified: &Verified<Bundle>, bundle: &Path, opts: &Options) -> Result<Exported> {
    export_with(verified, bundle, opts, &|_| {})
}

/// [`export`], telling `progress` the blob bytes read back from the bundle
/// as they are read (`ct export` draws a bar of them on a terminal).
pub fn export_with(
    verified: &Verified<Bundle>,
    bundle: &Path,
    opts: &Options,
    progress: &source::Progress<'_>,
) -> Result<Exported> {
    // An option the format has no use for is a mistake, not a no-op.
    if opts.prefix.is_some() && matches!(opts.format, Format::Oci | Format::OciArchive) {
        return Err(Error::invalid_config(
            "--prefix",
            "only deb, rpm and ostree take a prefix",
        ));
    }
    if opts.branch.is_some() && opts.format != Format::Ostree {
        return Err(Error::invalid_config("--branch", "only ostree takes a branch"));
    }
    let src = source::BlobSource::open(bundle, verified, progress)?;
    let epoch = epoch(&src)?;
    let mut done = Exported {
        format: opts.format,
        out: opts.out.clone(),
        epoch,
        commit: None,
        left_out: Vec::new(),
    };
    match opts.format {
        Format::Oci => oci::write_dir(&src, &opts.out)?,
        Format::OciArchive => oci::write_archive(&src, &opts.out, epoch)?,
        Format::Deb => {
            let prefix = layout::Prefix::parse(opts.prefix.as_deref())?;
            let scratch = staging_dir_beside(&opts.out)?;
            let tree = package_tree(&src, scratch.path(), &opts.limits)?;
            deb::write(verified, &tree, &prefix, epoch, &opts.out, scratch.path())?;
            done.left_out = tree.left_out;
        }
        Format::Rpm => {
            let prefix = layout::Prefix::parse(opts.prefix.as_deref())?;
            let scratch = staging_dir_beside(&opts.out)?;
            let tree = package_tree(&src, scratch.path(), &opts.limits)?;
            rpm::write(verified, &tree, &prefix, epoch, &opts.out, &opts.limits)?;
            done.left_out = tree.left_out;
        }
        Format::Ostree => {
            let prefix = layout::Prefix::parse(opts.prefix.as_deref())?;
            let branch = opts.branch.clone().unwrap_or_else(|| ostree::default_branch(verified));
            let scratch = staging_dir_beside(&opts.out)?;
            let tree = tree::Tree::read(&src, scratch.path(), &opts.limits)?;
            let commit = ostree::write(verified, &tree, &prefix, epoch, &opts.out, &branch, scratch.path())?;
            done.commit = Some(commit);
            done.left_out = tree.left_out;
        }
    }
    Ok(done)
}

/// What a `deb` or `rpm` holds (spec/export.md, "An image built on a
/// base"): the whole image tree; but for an image `ct build --base` made,
/// only the layers the build added, and of them only the files the
/// installed packages' dpkg lists name. A package of the base's operating
/// system would overwrite the target's libc and dpkg database.
fn package_tree(src: &source::BlobSource<'_>, scratch: &Path, limits: &Limits) -> Result<tree::Tree> {
    let from = base_layers(src.verified())?;
    let mut t = tree::Tree::read_from(src, scratch, limits, from)?;
    if from > 0 {
        t.keep_dpkg_listed()?;
    }
    Ok(t)
}

/// How many of the image's first layers are a base image's, as the signed
/// SLSA provenance records it (`resolvedDependencies`, `annotations.role:
/// "base"`, `annotations.layers`, written by `ct build --base`); 0 when it
/// records no base. Refused: statements that disagree, a count that is not
/// a number, or one that leaves no layer of the build's own.
pub fn base_layers(b: &Bundle) -> Result<usize> {
    let mut found: Option<u64> = None;
    for a in b
        .attestations
        .iter()
        .filter(|a| a.path != cerro_core::bundle::RELEASE_ATTESTATION)
    {
        let Ok(st) = serde_json::from_slice::<serde_json::Value>(&a.envelope.payload) else {
            continue;
        };
        if st.get("predicateType").and_then(serde_json::Value::as_str)
            != Some(cerro_core::statement::SLSA_PROVENANCE_V1)
        {
            continue;
        }
        let deps = st
            .pointer("/predicate/buildDefinition/resolvedDependencies")
            .and_then(serde_json::Value::as_array);
        for d in deps.into_iter().flatten() {
            if d.pointer("/annotations/role").and_then(serde_json::Value::as_str) != Some("base") {
                continue;
            }
            let n = d
                .pointer("/annotations/layers")
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| Error::malformed(&a.path, "a base image without its number of layers"))?;
            if found.is_some_and(|f| f != n) {
                return Err(Error::malformed(&a.path, "the provenance names different base images"));
            }
            found = Some(n);
        }
    }
    let n = found.unwrap_or(0);
    let total = b.parts.layers.len() as u64;
    if n >= total && n > 0 {
        return Err(Error::malformed(
            "image",
            format!("the provenance says {n} of its {total} layers are the base's: none is the build's"),
        ));
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// The time an export writes everywhere: the signed build time (the SLSA
/// provenance's `finishedOn`, read as the policy reads it:
/// `cerro_policy::evaluate::Facts`), else the image config's `created`
/// (signed through the image manifest), else 0. Never the bundle's tar
/// mtime, which no signature covers, and never the clock.
fn epoch(src: &source::BlobSource<'_>) -> Result<u64> {
    let v = src.verified();
    if let Ok(t) = cerro_policy::evaluate::Facts::gather(v).build_time {
        return Ok(t);
    }
    let config = src.small_blob(&v.parts.config.digest, MAX_JSON_BLOB)?;
    let created = serde_json::from_slice::<serde_json::Value>(&config)
        .ok()
        .and_then(|c| c.get("created").and_then(|t| t.as_str()).map(str::to_owned))
        .and_then(|t| cerro_core::timestamp::parse_rfc3339(&t));
    Ok(created.unwrap_or(0))
}

/// A private staging directory beside `out` (same file system, so the
/// final rename is atomic), removed on drop.
pub(crate) fn staging_dir_beside(out: &Path) -> Result<tempfile::TempDir> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tempfile::Builder::new()
        .prefix(".ct-export-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io("creating a staging directory in", parent, e))
}

/// A canonical tar header: ustar, owner 0:0 with empty names, `mode`, `mtime`.
pub(crate) fn ustar(path: &str, kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).map_err(|e| Error::malformed(path, e.to_string()))?;
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_cksum();
    Ok(h)
}
