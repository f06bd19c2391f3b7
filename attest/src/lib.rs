//! `cerro-attest`: the attestations `ct pack` makes besides the release
//! statement — an SBOM (SPDX 2.3 or CycloneDX 1.5) read from the image's
//! layers, and SLSA provenance v1. Each is returned as the canonical payload
//! of an in-toto Statement v1 whose subject is the image manifest digest;
//! `cerro-core` wraps and signs them like the release statement.
//!
//! This is its own crate so that the verifier's dependencies (what the shim
//! and the hook link) stay small: decompression and package databases are
//! needed to describe an image, never to decide whether it may run.

pub mod cyclonedx;
pub mod layers;
pub mod packages;
pub mod provenance;
pub mod spdx;

use serde_json::{json, Value};

use cerro_core::digest::Digest;
use cerro_core::image::source::{SourceImage, SourcePlatform};
use cerro_core::image::Platform;
use cerro_core::jcs;
use cerro_core::manifest::PackageManifest;
use cerro_core::pack::LayerDiffIds;
use cerro_core::statement::STATEMENT_TYPE;
use cerro_core::{Error, Result};

pub use provenance::ImageSource;

pub use cerro_core::statement::{CYCLONEDX_BOM, PROVENANCE_PATH, SBOM_PATH, SLSA_PROVENANCE_V1, SPDX_DOCUMENT};

/// Which SBOM format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomFormat {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.5 JSON.
    CycloneDx,
}

/// What an SBOM describes.
#[derive(Debug, Clone)]
pub struct SbomSubject<'a> {
    /// Package name.
    pub name: &'a str,
    /// Package version.
    pub version: &'a str,
    /// Image manifest digest.
    pub image: Digest,
    /// Creation time (SOURCE_DATE_EPOCH).
    pub time: u64,
    /// Version of ct.
    pub tool_version: &'a str,
}

/// What to attest besides the release.
#[derive(Debug, Clone)]
pub struct AttestOptions {
    /// Write an SBOM in this format (None: no SBOM).
    pub sbom: Option<SbomFormat>,
    /// Write SLSA provenance, describing this source.
    pub provenance: Option<ImageSource>,
    /// The SLSA provenance predicate `ct build` wrote for this very image
    /// (spec/build.md §5): with `provenance` set, it is signed instead of the
    /// generic ct-pack predicate, which knows only the image it was given.
    pub build_provenance: Option<Value>,
    /// Version of the packing tool.
    pub tool_version: String,
    /// SOURCE_DATE_EPOCH.
    pub time: u64,
}

fn statement(
    manifest: &PackageManifest,
    image: &SourceImage,
    predicate_type: &str,
    predicate: Value,
) -> Result<Vec<u8>> {
    statement_around(manifest, image, predicate_type, &jcs::to_vec(&predicate)?)
}

/// The canonical in-toto statement around a predicate already in canonical
/// bytes (the SPDX document, written without a `Value` tree): the names in
/// RFC 8785 order, checked by [`jcs::write_object`].
fn statement_around(
    manifest: &PackageManifest,
    image: &SourceImage,
    predicate_type: &str,
    predicate: &[u8],
) -> Result<Vec<u8>> {
    statement_with_subjects(predicate_type, predicate, &subjects_of(manifest, image, None)?)
}

/// The canonical subjects of a statement about `image`: the image, named
/// the package; with `platform`, also that platform's manifest, named
/// `<package>@<os>/<architecture>[/<variant>]` as in the release statement.
fn subjects_of(
    manifest: &PackageManifest,
    image: &SourceImage,
    platform: Option<(&SourceImage, &Platform)>,
) -> Result<Vec<u8>> {
    let name = &manifest.package.name;
    let mut subjects = vec![json!({"name": name, "digest": {"sha256": image.manifest.digest.hex()}})];
    if let Some((view, p)) = platform {
        let mut at = format!("{name}@{}/{}", p.os, p.architecture);
        if let Some(v) = &p.variant {
            at.push('/');
            at.push_str(v);
        }
        subjects.push(json!({"name": at, "digest": {"sha256": view.manifest.digest.hex()}}));
    }
    jcs::to_vec(&Value::Array(subjects))
}

/// The canonical in-toto statement of `predicate_type` around `predicate`
/// (canonical bytes) for the canonical `subjects`.
fn statement_with_subjects(predicate_type: &str, predicate: &[u8], subjects: &[u8]) -> Result<Vec<u8>> {
    let mut ty = Vec::new();
    jcs::write_str(STATEMENT_TYPE, &mut ty);
    let mut pt = Vec::new();
    jcs::write_str(predicate_type, &mut pt);
    let mut out = Vec::with_capacity(predicate.len() + 512);
    jcs::write_object(
        &[
            ("_type", &ty),
            ("predicate", predicate),
            ("predicateType", &pt),
            ("subject", subjects),
        ],
        &mut out,
    )?;
    Ok(out)
}

/// One image's (or one platform's) pass over its layers: its SBOM, pushed
/// onto `out`, if one is asked for, and its diff_ids. `platform`: the
/// multi-platform image and the platform `image` is a view of; its SBOM is
/// then `attestations/sbom-<os>-<architecture>[-<variant>].dsse.json`,
/// whose subjects are the index (the bundle's image) and this platform's
/// manifest, which the document describes.
fn attest_layers(
    manifest: &PackageManifest,
    image: &SourceImage,
    opts: &AttestOptions,
    progress: &layers::Progress<'_>,
    platform: Option<(&SourceImage, &SourcePlatform)>,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<LayerDiffIds> {
    let Some(format) = opts.sbom else {
        return layers::diff_ids_with(image, progress);
    };
    // SPDX 2.3 requires every file's SHA-1; CycloneDX does not.
    let digests = match format {
        SbomFormat::Spdx => layers::FileDigests::Sha256AndSha1,
        SbomFormat::CycloneDx => layers::FileDigests::Sha256,
    };
    let contents = layers::scan_with(image, digests, progress)?;
    let subject = SbomSubject {
        name: &manifest.package.name,
        version: &manifest.package.version,
        image: image.manifest.digest,
        time: opts.time,
        tool_version: &opts.tool_version,
    };
    let (predicate_type, predicate) = match format {
        SbomFormat::Spdx => (SPDX_DOCUMENT, spdx::canonical(&subject, &contents)?),
        SbomFormat::CycloneDx => (CYCLONEDX_BOM, jcs::to_vec(&cyclonedx::bom(&subject, &contents))?),
    };
    let (path, subjects) = match platform {
        None => (SBOM_PATH.to_owned(), subjects_of(manifest, image, None)?),
        Some((index, p)) => (
            platform_sbom_path(&p.platform)?,
            subjects_of(manifest, index, Some((image, &p.platform)))?,
        ),
    };
    out.push((path, statement_with_subjects(predicate_type, &predicate, &subjects)?));
    Ok(contents.diff_ids)
}

/// `attestations/sbom-<os>-<architecture>[-<variant>].dsse.json`: the
/// member name of one platform's SBOM (spec/bundle-format.md §3.2 names:
/// lowercase letters, digits and `-`; any other platform is refused).
pub fn platform_sbom_path(p: &Platform) -> Result<String> {
    let mut name = format!("sbom-{}-{}", p.os, p.architecture);
    if let Some(v) = &p.variant {
        name.push('-');
        name.push_str(v);
    }
    let ok = name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return Err(Error::malformed(
            "image index",
            format!(
                "platform {}/{} cannot name an SBOM member ({name:?}: lowercase letters, digits and '-', at most 64)",
                cerro_core::text::printable(&p.os),
                cerro_core::text::printable(&p.architecture)
            ),
        ));
    }
    Ok(format!("attestations/{name}.dsse.json"))
}

/// What `ct pack` signs besides the release: the statements, and the
/// layers' diff_ids the release statement binds.
#[derive(Debug, Clone)]
pub struct Attested {
    /// `(bundle member path, canonical payload)`.
    pub statements: Vec<(String, Vec<u8>)>,
    /// Every layer's diff_id, measured from its bytes (in the SBOM's pass
    /// when there is one: no layer is decompressed twice).
    pub diff_ids: LayerDiffIds,
}

/// The statements to sign and the layers' diff_ids.
pub fn statements(manifest: &PackageManifest, image: &SourceImage, opts: &AttestOptions) -> Result<Attested> {
    statements_with(manifest, image, opts, &|_| {})
}

/// [`statements`], telling `progress` the layer bytes read (each layer is
/// read once, in one pass: see [`layers`]).
pub fn statements_with(
    manifest: &PackageManifest,
    image: &SourceImage,
    opts: &AttestOptions,
    progress: &layers::Progress<'_>,
) -> Result<Attested> {
    let mut out = Vec::new();
    if let Some(src) = &opts.provenance {
        let p = match &opts.build_provenance {
            Some(built) => built.clone(),
            None => provenance::predicate(manifest, image, src, &opts.tool_version, opts.time),
        };
        out.push((
            PROVENANCE_PATH.to_owned(),
            statement(manifest, image, SLSA_PROVENANCE_V1, p)?,
        ));
    }
    let diff_ids = if image.platforms.is_empty() {
        attest_layers(manifest, image, opts, progress, None, &mut out)?
    } else {
        // A multi-platform image: each platform's layers are read once, for
        // its diff_ids (which the release statement binds) and its own SBOM.
        let mut each = Vec::with_capacity(image.platforms.len());
        for (i, p) in image.platforms.iter().enumerate() {
            let view = image
                .platform_image(i)
                .ok_or_else(|| Error::malformed("image index", format!("no platform {i}")))?;
            each.push(attest_layers(
                manifest,
                &view,
                opts,
                progress,
                Some((image, p)),
                &mut out,
            )?);
        }
        LayerDiffIds::of_platforms(each)
    };
    Ok(Attested {
        statements: out,
        diff_ids,
    })
}
