//! in-toto Statement v1 and the Cerro Torre release predicate.
//!
//! The release statement is the heart of a bundle: its subject is the OCI
//! image manifest digest, and its predicate binds the digest of every other
//! member that is not content-addressed (`manifest.toml`, `oci-layout`,
//! `index.json`, `selinux/*.cil`), the statement of every other attestation
//! (SBOM, provenance) and the image's layer diff_ids. With the blobs named by
//! their digests, a signature over this statement covers every byte of the
//! bundle, so whoever signs the release endorses the whole set: an
//! attestation added later is refused, and a co-signer signs only this.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::Platform;

/// `_type` of in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of the release predicate.
pub const RELEASE_PREDICATE_TYPE: &str = "https://cerro-torre.org/attestation/release/v2";

/// `predicateType` of SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// `predicateType` of an SPDX document.
pub const SPDX_DOCUMENT: &str = "https://spdx.dev/Document";
/// `predicateType` of a CycloneDX BOM.
pub const CYCLONEDX_BOM: &str = "https://cyclonedx.org/bom";
/// Bundle member of the provenance attestation `ct pack` writes.
pub const PROVENANCE_PATH: &str = "attestations/provenance.dsse.json";
/// Bundle member of the SBOM attestation `ct pack` writes.
pub const SBOM_PATH: &str = "attestations/sbom.dsse.json";

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement<P> {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate's type URI.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate.
    pub predicate: P,
}

/// A statement subject (in-toto ResourceDescriptor with name and digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    /// Name of the artefact.
    pub name: String,
    /// Algorithm → lowercase hex.
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject with one SHA-256 digest.
    pub fn sha256(name: &str, digest: &Digest) -> Self {
        Subject {
            name: name.to_owned(),
            digest: BTreeMap::from([("sha256".to_owned(), digest.hex())]),
        }
    }

    /// The subject's SHA-256, if it has one and it is well formed.
    pub fn sha256_digest(&self) -> Option<Digest> {
        self.digest.get("sha256").and_then(|h| Digest::from_hex(h))
    }
}

/// The release predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasePredicate {
    /// Package name and version, as in `manifest.toml`.
    pub package: PackageId,
    /// The image: manifest media type, digest and size.
    pub image: ImageDescriptor,
    /// The image's layers uncompressed, in order: the config's
    /// `rootfs.diff_ids`, checked at pack against the bytes of every layer.
    /// Runtimes name the image's snapshots by the chain of these, so an
    /// enforcement point compares its snapshot with signed values.
    #[serde(rename = "diffIds")]
    pub diff_ids: Vec<Digest>,
    /// Every non-blob, non-attestation member of the bundle, by path.
    pub members: Vec<MemberDigest>,
    /// Every attestation other than this one, by member path, with the
    /// SHA-256 of its statement (the DSSE payload, not the envelope, so
    /// adding a signature to it does not change the binding).
    pub attestations: Vec<MemberDigest>,
    /// A multi-platform image (`image` is then the image index): every
    /// platform manifest the index names, in index order, with its
    /// platform and its layers' diff_ids (`diffIds` above is then empty).
    /// Absent for a single image, so its statement is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Vec<PlatformBinding>>,
}

/// One platform manifest of a multi-platform image, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformBinding {
    /// The platform the index names for it.
    pub platform: Platform,
    /// The image manifest: media type, digest, size.
    pub image: ImageDescriptor,
    /// Its layers uncompressed, in order (its config's `rootfs.diff_ids`,
    /// checked at pack against the bytes of every layer).
    #[serde(rename = "diffIds")]
    pub diff_ids: Vec<Digest>,
}

/// Name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageId {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
}

/// An OCI descriptor of the image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageDescriptor {
    /// Manifest media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Manifest digest.
    pub digest: Digest,
    /// Manifest size in bytes.
    pub size: u64,
}

/// A bound member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberDigest {
    /// Path inside the bundle.
    pub path: String,
    /// Its digest.
    pub digest: Digest,
}

/// A release statement.
pub type ReleaseStatement = Statement<ReleasePredicate>;

impl ReleaseStatement {
    /// Builds the release statement for a bundle's contents.
    pub fn release(
        package: PackageId,
        image: ImageDescriptor,
        diff_ids: Vec<Digest>,
        mut members: Vec<MemberDigest>,
        mut attestations: Vec<MemberDigest>,
    ) -> Self {
        members.sort_by(|a, b| a.path.cmp(&b.path));
        attestations.sort_by(|a, b| a.path.cmp(&b.path));
        Statement {
            type_: STATEMENT_TYPE.to_owned(),
            subject: vec![Subject::sha256(&package.name, &image.digest)],
            predicate_type: RELEASE_PREDICATE_TYPE.to_owned(),
            predicate: ReleasePredicate {
                package,
                image,
                diff_ids,
                members,
                attestations,
                platforms: None,
            },
        }
    }

    /// Makes this the statement of a multi-platform image: binds every
    /// platform manifest (`predicate.platforms`) and adds each manifest's
    /// digest as a subject after the index's (named
    /// `<package>@<os>/<architecture>[/<variant>]`), so a tool that only
    /// matches subjects also sees every platform manifest as attested.
    pub fn with_platforms(mut self, platforms: Vec<PlatformBinding>) -> Self {
        let name = self.predicate.package.name.clone();
        self.subject.extend(
            platforms
                .iter()
                .map(|p| Subject::sha256(&format!("{name}@{}", p.platform), &p.image.digest)),
        );
        self.predicate.diff_ids = Vec::new();
        self.predicate.platforms = Some(platforms);
        self
    }

    /// Parses a release statement payload, checking its types.
    pub fn parse_release(what: &str, payload: &[u8]) -> Result<Self> {
        let st: ReleaseStatement = serde_json::from_slice(payload)
            .map_err(|e| Error::malformed(what, format!("payload is not a release statement: {e}")))?;
        if st.type_ != STATEMENT_TYPE {
            return Err(Error::malformed(
                what,
                format!("statement _type {:?} is not {STATEMENT_TYPE}", st.type_),
            ));
        }
        if st.predicate_type != RELEASE_PREDICATE_TYPE {
            return Err(Error::malformed(
                what,
                format!("predicateType {:?} is not {RELEASE_PREDICATE_TYPE}", st.predicate_type),
            ));
        }
        Ok(st)
    }
}
