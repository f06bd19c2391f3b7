//! Attestations made at pack time besides the release statement: an SBOM
//! (SPDX 2.3 or CycloneDX 1.5) read from the image's layers, and SLSA
//! provenance v1. Each becomes an in-toto Statement v1 whose subject is the
//! image manifest digest, in its own DSSE envelope signed by the packing keys.

pub mod cyclonedx;
pub mod layers;
pub mod packages;
pub mod provenance;
pub mod spdx;

use serde_json::{json, Value};

use crate::digest::Digest;
use crate::error::Result;
use crate::image::source::SourceImage;
use crate::jcs;
use crate::manifest::PackageManifest;
use crate::statement::STATEMENT_TYPE;

pub use provenance::ImageSource;

/// `predicateType` of SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// `predicateType` of an SPDX document.
pub const SPDX_DOCUMENT: &str = "https://spdx.dev/Document";
/// `predicateType` of a CycloneDX BOM.
pub const CYCLONEDX_BOM: &str = "https://cyclonedx.org/bom";

/// Bundle member of the provenance attestation.
pub const PROVENANCE_PATH: &str = "attestations/provenance.dsse.json";
/// Bundle member of the SBOM attestation.
pub const SBOM_PATH: &str = "attestations/sbom.dsse.json";

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
    jcs::to_vec(&json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.package.name, "digest": {"sha256": image.manifest.digest.hex()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }))
}

/// The statements to sign: `(bundle member path, canonical payload)`.
pub fn statements(
    manifest: &PackageManifest,
    image: &SourceImage,
    opts: &AttestOptions,
) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    if let Some(src) = &opts.provenance {
        let p = provenance::predicate(manifest, image, src, &opts.tool_version, opts.time);
        out.push((
            PROVENANCE_PATH.to_owned(),
            statement(manifest, image, SLSA_PROVENANCE_V1, p)?,
        ));
    }
    if let Some(format) = opts.sbom {
        let contents = layers::scan(image)?;
        let subject = SbomSubject {
            name: &manifest.package.name,
            version: &manifest.package.version,
            image: image.manifest.digest,
            time: opts.time,
            tool_version: &opts.tool_version,
        };
        let (ty, doc) = match format {
            SbomFormat::Spdx => (SPDX_DOCUMENT, spdx::document(&subject, &contents)),
            SbomFormat::CycloneDx => (CYCLONEDX_BOM, cyclonedx::bom(&subject, &contents)),
        };
        out.push((SBOM_PATH.to_owned(), statement(manifest, image, ty, doc)?));
    }
    Ok(out)
}
