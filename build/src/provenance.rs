//! The SLSA provenance v1 predicate of a build (spec/build.md §5): every
//! source file by digest, the builder, the build environment (the Debian
//! `.buildinfo`, whole), the outputs (each package and the image). No local
//! path and no clock reading is recorded: what differs between two builds
//! of the same manifest is only what the `.buildinfo` itself records.

use base64::Engine as _;
use cerro_core::digest::Digest;
use cerro_core::manifest::DraftManifest;
use serde_json::{json, Value};

/// The build type of a Debian build.
pub const BUILD_TYPE_DEBIAN: &str = "https://cerro-torre.org/buildtypes/ct-build-debian/v1";
/// The build type of a Nix build.
pub const BUILD_TYPE_NIX: &str = "https://cerro-torre.org/buildtypes/ct-build-nix/v1";
/// The build type of an SRPM rebuild.
pub const BUILD_TYPE_RPM: &str = "https://cerro-torre.org/buildtypes/ct-build-rpm/v1";

/// The file name of the predicate `ct build` writes for image `image`,
/// inside the layout's `cerro-build/` directory, where `ct pack oci:DIR:TAG`
/// looks for it.
pub fn file_name(image: &Digest) -> String {
    format!("sha256-{}.provenance.json", image.hex())
}

/// A named file and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// File name.
    pub name: String,
    /// SHA-256 of its bytes.
    pub digest: Digest,
}

/// What the predicate records.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The manifest built.
    pub manifest: &'a DraftManifest,
    /// [`BUILD_TYPE_DEBIAN`] or [`BUILD_TYPE_NIX`].
    pub build_type: &'a str,
    /// The recipe and the files it names, as checked before use, with
    /// their roles (`recipe`, `source`).
    pub sources: &'a [(Named, &'a str)],
    /// How it was built (root, isolation, commands), SOURCE_DATE_EPOCH
    /// among them as `sourceDateEpoch`.
    pub internal: Value,
    /// What the build made besides the image (packages, store paths, the
    /// `.buildinfo`), as SLSA resource descriptors.
    pub byproducts: Vec<Value>,
    /// The image: its tag and manifest digest.
    pub image: (&'a str, Digest),
    /// The layer's digest.
    pub layer: Digest,
    /// `ct`'s version.
    pub tool_version: &'a str,
}

pub(crate) fn sha(d: &Digest) -> Value {
    json!({"sha256": d.hex()})
}

/// A built package as a byproduct.
pub(crate) fn package(p: &Named, media_type: &str) -> Value {
    json!({"name": p.name, "digest": sha(&p.digest), "mediaType": media_type, "annotations": {"role": "package"}})
}

/// A text file recorded whole (the `.buildinfo`).
pub(crate) fn recorded(n: &Named, bytes: &[u8], role: &str) -> Value {
    json!({
        "name": n.name,
        "digest": sha(&n.digest),
        "mediaType": "text/plain",
        "content": base64::engine::general_purpose::STANDARD.encode(bytes),
        "annotations": {"role": role},
    })
}

/// The predicate.
pub fn predicate(f: Facts<'_>) -> Value {
    let m = f.manifest;
    let deps: Vec<Value> = f
        .sources
        .iter()
        .map(|(n, role)| json!({"name": n.name, "digest": sha(&n.digest), "annotations": {"role": role}}))
        .collect();
    let mut by = vec![json!({
        "name": format!("oci:{}", f.image.0),
        "digest": sha(&f.image.1),
        "mediaType": crate::image::MANIFEST_MEDIA_TYPE,
        "annotations": {"role": "image", "layer": f.layer.to_string()},
    })];
    by.extend(f.byproducts);
    let provenance = m.provenance.as_ref();
    json!({
        "buildDefinition": {
            "buildType": f.build_type,
            "externalParameters": {
                "package": {"name": m.package.name, "version": m.package.version},
                "source": provenance.and_then(|p| p.imported_from.clone()),
                "upstream": provenance.map(|p| p.upstream.clone()),
            },
            "internalParameters": f.internal,
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {
                "id": format!("https://cerro-torre.org/ct-build@v{}", f.tool_version),
                "version": {"ct": f.tool_version},
            },
            "metadata": {
                "invocationId": format!("{}@{}#{}", m.package.name, m.package.version, f.image.1),
            },
            "byproducts": by,
        },
    })
}

/// The image digest a predicate says it built (its `image` byproduct), so
/// `ct pack` can refuse a predicate about another image.
pub fn image_of(predicate: &Value) -> Option<Digest> {
    predicate
        .pointer("/runDetails/byproducts")?
        .as_array()?
        .iter()
        .find(|b| b.pointer("/annotations/role").and_then(Value::as_str) == Some("image"))?
        .pointer("/digest/sha256")
        .and_then(Value::as_str)
        .and_then(Digest::from_hex)
}
