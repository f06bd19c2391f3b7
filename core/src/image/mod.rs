//! OCI images: the media types Cerro Torre accepts and the parts of an image
//! manifest it needs (config and layers, by digest and size).
//!
//! Every reader of OCI JSON in the workspace (the packer reading a source
//! image, the bundle reader, the registry client, the containerd shim) goes
//! through [`parse_manifest`], [`parse_index`] and [`parse_config`], which
//! first refuse any document Go's JSON decoder could read differently
//! ([`strict`]), so an image accepted at pack time is exactly one the
//! verifier accepts and the one the runtimes run.

pub mod layout;
pub mod source;
pub mod strict;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// OCI image manifest.
pub const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest v2 schema 2.
pub const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image config.
pub const MT_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker image config.
pub const MT_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Uncompressed OCI layer.
pub const MT_OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Image manifest media types accepted.
pub const MANIFEST_TYPES: &[&str] = &[MT_OCI_MANIFEST, MT_DOCKER_MANIFEST];
/// Config media types accepted.
pub const CONFIG_TYPES: &[&str] = &[MT_OCI_CONFIG, MT_DOCKER_CONFIG];
/// Layer media types accepted.
pub const LAYER_TYPES: &[&str] = &[
    MT_OCI_LAYER_TAR,
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// Largest manifest, index or config blob read into memory.
pub const MAX_JSON_BLOB: u64 = 4 << 20;

/// A content-addressed blob reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobRef {
    /// Media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// Digest.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
}

impl BlobRef {
    fn from_descriptor(what: &str, d: &Descriptor) -> Result<Self> {
        Ok(BlobRef {
            media_type: d.media_type().to_string(),
            digest: Digest::parse(d.digest().as_ref())
                .map_err(|_| Error::malformed(what, format!("digest {} is not sha256:<hex>", d.digest())))?,
            size: d.size(),
        })
    }
}

/// What an image manifest references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageParts {
    /// The config blob.
    pub config: BlobRef,
    /// The layers, in order.
    pub layers: Vec<BlobRef>,
}

impl ImageParts {
    /// Config then layers, each distinct digest once, in manifest order.
    pub fn blobs(&self) -> Vec<&BlobRef> {
        let mut out: Vec<&BlobRef> = Vec::with_capacity(self.layers.len() + 1);
        for b in std::iter::once(&self.config).chain(self.layers.iter()) {
            if !out.iter().any(|o| o.digest == b.digest) {
                out.push(b);
            }
        }
        out
    }
}

/// Parses an image manifest whose descriptor said `media_type`, refusing
/// unknown media types for the manifest, the config and every layer.
pub fn parse_manifest(what: &str, bytes: &[u8], media_type: &str) -> Result<ImageParts> {
    if !MANIFEST_TYPES.contains(&media_type) {
        let hint = if media_type == MT_OCI_INDEX || media_type == MT_DOCKER_LIST {
            " (a multi-platform index: pick one platform's manifest)"
        } else {
            ""
        };
        return Err(Error::malformed(
            what,
            format!("unsupported manifest media type {media_type:?}{hint}"),
        ));
    }
    strict::check(what, bytes, strict::DocKind::Manifest)?;
    let m =
        ImageManifest::from_reader(bytes).map_err(|e| Error::malformed(what, format!("not an image manifest: {e}")))?;
    if m.schema_version() != 2 {
        return Err(Error::malformed(what, "schemaVersion must be 2"));
    }
    if let Some(mt) = m.media_type() {
        if mt.to_string() != media_type {
            return Err(Error::malformed(
                what,
                format!("manifest says mediaType {mt} but its descriptor says {media_type}"),
            ));
        }
    }
    let config = BlobRef::from_descriptor(what, m.config())?;
    if !CONFIG_TYPES.contains(&config.media_type.as_str()) {
        return Err(Error::malformed(
            what,
            format!("unknown config media type {:?}", config.media_type),
        ));
    }
    let mut layers = Vec::with_capacity(m.layers().len());
    for d in m.layers() {
        let l = BlobRef::from_descriptor(what, d)?;
        if !LAYER_TYPES.contains(&l.media_type.as_str()) {
            return Err(Error::malformed(
                what,
                format!("unknown layer media type {:?}", l.media_type),
            ));
        }
        layers.push(l);
    }
    Ok(ImageParts { config, layers })
}

/// The `mediaType` an image manifest declares, read through [`strict`]
/// (so a duplicate or case-variant `mediaType` is refused, not picked):
/// for a client that got the manifest without a descriptor (a registry
/// answer) and must choose the type [`parse_manifest`] checks against.
pub fn declared_media_type(what: &str, bytes: &[u8]) -> Result<Option<String>> {
    strict::check(what, bytes, strict::DocKind::Manifest)?;
    #[derive(serde::Deserialize)]
    struct Declared {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Declared>(bytes)
        .map(|d| d.media_type)
        .map_err(|e| Error::malformed(what, format!("not an image manifest: {e}")))
}

/// The annotation naming an image in an OCI layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One manifest entry of an `index.json`.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    /// The manifest descriptor.
    pub manifest: BlobRef,
    /// Its `org.opencontainers.image.ref.name`.
    pub ref_name: Option<String>,
    /// The platform it is for, if the index says.
    pub platform: Option<Platform>,
}

/// An index entry's platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// `os` (`linux`).
    pub os: String,
    /// `architecture`, GOARCH naming (`amd64`, `arm64`).
    pub architecture: String,
    /// `variant` (`v8`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// This host's platform: `linux` on [`host_architecture`] (no variant
    /// is required: an index may name one, which any host of that
    /// architecture is taken to run, as containerd's default matcher does
    /// for the variants it knows).
    pub fn is_host(&self) -> bool {
        self.os == "linux" && self.architecture == host_architecture()
    }

    /// Whether an image config says it is for this platform (`os`,
    /// `architecture` and `variant` equal): an index entry whose image is
    /// for another platform would make a host run what was signed for
    /// another one.
    pub fn matches_config(&self, config: &ImageConfig) -> bool {
        self.os == config.os && self.architecture == config.architecture && self.variant == config.variant
    }
}

impl Platform {
    /// Reads `os/architecture[/variant]` (`linux/arm64`, `linux/arm/v7`),
    /// the form `ct pack`, `ct sbom`, `ct verify` and `ct explain --platform` take and
    /// [`Platform`]'s `Display` writes. `None` for anything else (an empty
    /// component, more than three).
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?;
        let architecture = parts.next().filter(|p| !p.is_empty())?;
        let variant = match parts.next() {
            Some("") => return None,
            v => v.map(str::to_owned),
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant,
        })
    }

    /// Whether `self`, a platform asked for, selects `other`, one an image
    /// is for: `os` and `architecture` equal, and the variant equal unless
    /// none was asked for (`linux/arm64` selects `linux/arm64/v8`, as
    /// users write it; whether that is one platform is for
    /// [`choose_platform`] to say).
    pub fn selects(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

/// The one platform manifest of an image index (`what` names it) that
/// `wanted` selects ([`Platform::selects`]). None, or several (`linux/arm`
/// of an index with `linux/arm/v6` and `linux/arm/v7`), is refused with
/// the platforms the index names (exit 78: the command line asked for what
/// the image does not have, or not for one thing).
///
/// Entries are anything that knows its platform: an index's descriptors
/// ([`PlatformManifest`]), a source image's or a bundle's platform images.
pub fn choose_platform<'e, T: AsRef<Platform>>(what: &str, entries: &'e [T], wanted: &Platform) -> Result<&'e T> {
    let names = || {
        entries
            .iter()
            .map(|e| e.as_ref().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen: Vec<&T> = entries.iter().filter(|e| wanted.selects(e.as_ref())).collect();
    match chosen.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::invalid_config(
            format!("--platform {wanted}"),
            format!("{what} has no image for platform {wanted}; it has {}", names()),
        )),
        _ => Err(Error::invalid_config(
            format!("--platform {wanted}"),
            format!(
                "{what} has several images for platform {wanted} ({}): name the variant",
                chosen
                    .iter()
                    .map(|e| e.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Most platform manifests a multi-platform image may name (each is read
/// and parsed, and its blobs carried, so the bound is on work before any
/// signature is checked). Indexes of public images name up to about ten.
pub const MAX_PLATFORMS: usize = 16;

/// One platform manifest of an image index: its descriptor and platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformManifest {
    /// The image manifest descriptor.
    pub manifest: BlobRef,
    /// The platform the index says it is for.
    pub platform: Platform,
}

impl AsRef<Platform> for PlatformManifest {
    fn as_ref(&self) -> &Platform {
        &self.platform
    }
}

/// Parses an image index *blob* (the image of a multi-platform bundle or
/// source) into its platform manifests, refusing anything whose meaning
/// would be unclear (spec/bundle-format.md §5.5): no entry or more than
/// [`MAX_PLATFORMS`]; an entry that is not an image manifest (a nested
/// index, an artifact); an entry without a platform, or with platform
/// `unknown` (buildx's attestation manifests); one manifest digest or one
/// platform listed twice (a runtime would pick one of them, the signer
/// meant the other).
pub fn parse_platform_index(what: &str, bytes: &[u8]) -> Result<Vec<PlatformManifest>> {
    let entries = parse_index(what, bytes)?;
    if entries.is_empty() {
        return Err(Error::malformed(what, "the image index names no manifest"));
    }
    if entries.len() > MAX_PLATFORMS {
        return Err(Error::malformed(
            what,
            format!(
                "the image index names {} manifests, more than {MAX_PLATFORMS}",
                entries.len()
            ),
        ));
    }
    let mut out: Vec<PlatformManifest> = Vec::with_capacity(entries.len());
    for e in entries {
        if !MANIFEST_TYPES.contains(&e.manifest.media_type.as_str()) {
            return Err(Error::malformed(
                what,
                format!(
                    "entry {} has media type {:?}: an index may only name image manifests",
                    e.manifest.digest, e.manifest.media_type
                ),
            ));
        }
        let platform = e
            .platform
            .filter(|p| p.os != "unknown" && p.architecture != "unknown" && !p.os.is_empty())
            .ok_or_else(|| {
                Error::malformed(
                    what,
                    format!("entry {} names no platform (os and architecture)", e.manifest.digest),
                )
            })?;
        if out.iter().any(|o| o.manifest.digest == e.manifest.digest) {
            return Err(Error::malformed(
                what,
                format!("manifest {} is listed twice", e.manifest.digest),
            ));
        }
        if out.iter().any(|o| o.platform == platform) {
            return Err(Error::malformed(what, format!("platform {platform} is listed twice")));
        }
        out.push(PlatformManifest {
            manifest: e.manifest,
            platform,
        });
    }
    Ok(out)
}

/// The blobs a bundle of a multi-platform image carries after its index
/// blob `index` (spec/bundle-format.md §5.5), in order: for each platform
/// (its manifest descriptor and parts, in index order) its manifest, its
/// config and its layers not already listed. A manifest or config digest
/// that appears twice, or also as a layer, is refused (the reader could not
/// tell which part it is). The one sequence the writer lays out and a
/// registry fetch assembles ([`crate::bundle::Assembly`]).
pub fn index_blob_sequence(index: &Digest, platforms: &[(&BlobRef, &ImageParts)]) -> Result<Vec<BlobRef>> {
    let mut out: Vec<BlobRef> = Vec::new();
    let mut unique = vec![*index];
    for (manifest, parts) in platforms {
        for b in [*manifest, &parts.config] {
            if unique.contains(&b.digest) || out.iter().any(|o| o.digest == b.digest) {
                return Err(Error::malformed(
                    format!("image index {index}"),
                    format!("blob {} appears twice as a manifest or config", b.digest),
                ));
            }
            unique.push(b.digest);
            out.push(b.clone());
        }
        for l in &parts.layers {
            if unique.contains(&l.digest) {
                return Err(Error::malformed(
                    format!("image index {index}"),
                    format!("layer {} is also a manifest or config", l.digest),
                ));
            }
            if !out.iter().any(|o| o.digest == l.digest) {
                out.push(l.clone());
            }
        }
    }
    Ok(out)
}

/// This machine's architecture in GOARCH naming (what indexes say).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The entries of an index made for `os` on `architecture`, in index order.
pub fn select_platform<'i>(entries: &'i [IndexEntry], os: &str, architecture: &str) -> Vec<&'i IndexEntry> {
    entries
        .iter()
        .filter(|e| {
            e.platform
                .as_ref()
                .is_some_and(|p| p.os == os && p.architecture == architecture)
        })
        .collect()
}

/// Parses an OCI layout `index.json`.
pub fn parse_index(what: &str, bytes: &[u8]) -> Result<Vec<IndexEntry>> {
    strict::check(what, bytes, strict::DocKind::Index)?;
    let idx = ImageIndex::from_reader(bytes).map_err(|e| Error::malformed(what, format!("not an image index: {e}")))?;
    if idx.schema_version() != 2 {
        return Err(Error::malformed(what, "schemaVersion must be 2"));
    }
    idx.manifests()
        .iter()
        .map(|d| {
            Ok(IndexEntry {
                manifest: BlobRef::from_descriptor(what, d)?,
                ref_name: d.annotations().as_ref().and_then(|a| a.get(REF_NAME)).cloned(),
                platform: d.platform().as_ref().map(|p| Platform {
                    os: p.os().to_string(),
                    architecture: p.architecture().to_string(),
                    variant: p.variant().clone(),
                }),
            })
        })
        .collect()
}

/// What an image config says that verification and the runtimes depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    /// `os`.
    pub os: String,
    /// `architecture`.
    pub architecture: String,
    /// `variant`, if any.
    pub variant: Option<String>,
    /// `rootfs.diff_ids`: the digest of each layer uncompressed, in order.
    /// A runtime names its snapshots by the chain of these ([`chain_id`]).
    pub diff_ids: Vec<Digest>,
}

/// Parses an image config strictly ([`strict`]): `rootfs.type` must be
/// `layers` and every diff_id a `sha256:` digest.
pub fn parse_config(what: &str, bytes: &[u8]) -> Result<ImageConfig> {
    strict::check(what, bytes, strict::DocKind::Config)?;
    #[derive(serde::Deserialize)]
    struct RootFs {
        #[serde(rename = "type")]
        type_: String,
        diff_ids: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct Config {
        os: String,
        architecture: String,
        #[serde(default)]
        variant: Option<String>,
        rootfs: RootFs,
    }
    let c: Config =
        serde_json::from_slice(bytes).map_err(|e| Error::malformed(what, format!("not an image config: {e}")))?;
    if c.rootfs.type_ != "layers" {
        return Err(Error::malformed(
            what,
            format!("rootfs.type is {:?}, not \"layers\"", c.rootfs.type_),
        ));
    }
    let diff_ids = c
        .rootfs
        .diff_ids
        .iter()
        .map(|d| {
            Digest::parse(d).map_err(|_| Error::malformed(what, format!("rootfs.diff_ids: {d:?} is not sha256:<hex>")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ImageConfig {
        os: c.os,
        architecture: c.architecture,
        variant: c.variant,
        diff_ids,
    })
}

/// The chain id of a layer stack (OCI image spec, config.md "ChainID"):
/// `ChainID(L0) = DiffID(L0)`, `ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln))`
/// over the `sha256:<hex>` strings. `None` for no layers.
pub fn chain_id(diff_ids: &[Digest]) -> Option<Digest> {
    let (first, rest) = diff_ids.split_first()?;
    Some(
        rest.iter()
            .fold(*first, |chain, d| Digest::of(format!("{chain} {d}").as_bytes())),
    )
}

/// The `oci-layout` file content this crate writes and accepts.
pub const OCI_LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The canonical `index.json` of a bundle holding one image.
pub fn bundle_index(manifest: &BlobRef, ref_name: Option<&str>) -> Result<Vec<u8>> {
    let mut desc = serde_json::json!({
        "mediaType": manifest.media_type,
        "digest": manifest.digest.to_string(),
        "size": manifest.size,
    });
    if let Some(r) = ref_name {
        desc["annotations"] = serde_json::json!({ REF_NAME: r });
    }
    crate::jcs::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [desc],
    }))
}

#[cfg(test)]
mod declared_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_declared_media_type_is_read_strictly() {
        let m = format!(r#"{{"schemaVersion":2,"mediaType":"{MT_OCI_MANIFEST}","layers":[]}}"#);
        assert_eq!(
            declared_media_type("m", m.as_bytes()).unwrap().as_deref(),
            Some(MT_OCI_MANIFEST)
        );
        assert_eq!(declared_media_type("m", br#"{"schemaVersion":2}"#).unwrap(), None);
        // Two spellings: Go takes the last, a first-match reader the first.
        let two = format!(r#"{{"mediaType":"{MT_OCI_MANIFEST}","MediaType":"{MT_DOCKER_MANIFEST}"}}"#);
        let e = declared_media_type("m", two.as_bytes()).unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::Malformed, "{e}");
    }
}

#[cfg(test)]
mod platform_choice_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(p: &str, n: u8) -> PlatformManifest {
        PlatformManifest {
            manifest: BlobRef {
                media_type: MT_OCI_MANIFEST.into(),
                digest: crate::digest::Digest::of(&[n]),
                size: 100,
            },
            platform: Platform::parse(p).unwrap(),
        }
    }

    #[test]
    fn a_platform_is_read_as_display_writes_it() {
        for p in ["linux/amd64", "linux/arm64/v8", "windows/amd64"] {
            assert_eq!(Platform::parse(p).unwrap().to_string(), p);
        }
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/arm/",
            "linux/arm/v7/x",
            "linux//v7",
        ] {
            assert_eq!(Platform::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn one_platform_is_chosen_or_the_choice_is_refused_naming_them() {
        let entries = [
            entry("linux/amd64", 1),
            entry("linux/arm64/v8", 2),
            entry("linux/arm/v6", 3),
            entry("linux/arm/v7", 4),
        ];
        let pick = |p: &str| choose_platform("image index x", &entries, &Platform::parse(p).unwrap());
        assert_eq!(pick("linux/amd64").unwrap().manifest.digest, entries[0].manifest.digest);
        assert_eq!(pick("linux/arm64").unwrap().manifest.digest, entries[1].manifest.digest);
        assert_eq!(
            pick("linux/arm64/v8").unwrap().manifest.digest,
            entries[1].manifest.digest
        );
        assert_eq!(
            pick("linux/arm/v7").unwrap().manifest.digest,
            entries[3].manifest.digest
        );
        let e = pick("linux/s390x").unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::Config);
        let text = e.to_string();
        assert!(
            text.contains("no image for platform linux/s390x")
                && text.contains("linux/amd64, linux/arm64/v8, linux/arm/v6, linux/arm/v7"),
            "{text}"
        );
        let text = pick("linux/arm").unwrap_err().to_string();
        assert!(
            text.contains("several images") && text.contains("linux/arm/v6, linux/arm/v7"),
            "{text}"
        );
        // A variant asked for is a variant required.
        assert!(pick("linux/amd64/v3").is_err());
        assert!(pick("linux/arm64/v7").is_err());
    }
}
