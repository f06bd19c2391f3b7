//! SLSA provenance v1 (`https://slsa.dev/provenance/v1`) for a pack: who
//! built the bundle (builder id and version), from what (the input image by
//! reference and digest, the manifest's upstream source and patches as
//! resolved dependencies), and when (SOURCE_DATE_EPOCH, so repacking is
//! reproducible).

use serde_json::{json, Value};

use cerro_core::digest::Digest;
use cerro_core::image::source::SourceImage;
use cerro_core::manifest::PackageManifest;
use cerro_core::timestamp::format_rfc3339 as rfc3339;

/// The build type this predicate describes.
pub const BUILD_TYPE: &str = "https://cerro-torre.org/buildtypes/ct-pack/v1";

/// How the packed image was named on the command line, minus local paths
/// (which would make provenance differ between machines for the same input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSource {
    /// `oci`, `oci-archive`, `docker-archive` or `docker` (a registry).
    pub transport: String,
    /// The reference (tag or ref name), if any.
    pub reference: Option<String>,
}

fn sha256(d: &Digest) -> Value {
    json!({"sha256": d.hex()})
}

/// The SLSA v1 predicate.
pub fn predicate(
    manifest: &PackageManifest,
    image: &SourceImage,
    source: &ImageSource,
    tool_version: &str,
    time: u64,
) -> Value {
    let image_uri = match &source.reference {
        // A registry image is named as skopeo and the policy engine name it.
        Some(r) if source.transport == "docker" => format!("docker://{r}"),
        Some(r) => format!("{}:{r}", source.transport),
        None => source.transport.clone(),
    };
    let mut deps = vec![json!({
        "uri": image_uri,
        "digest": sha256(&image.manifest.digest),
        "mediaType": image.manifest.media_type,
    })];
    if let Some(p) = &manifest.provenance {
        let mut up = json!({"uri": p.upstream, "annotations": {"role": "upstream-source"}});
        if let Some(h) = &p.upstream_hash {
            up["digest"] = sha256(h);
        }
        deps.push(up);
        if let Some(from) = &p.imported_from {
            let mut dep = json!({"uri": from, "annotations": {"role": "imported-from"}});
            if let Some(h) = &p.imported_from_hash {
                dep["digest"] = sha256(h);
            }
            deps.push(dep);
        }
        for patch in &p.patches {
            deps.push(json!({"name": patch.name, "digest": sha256(&patch.digest), "annotations": {"role": "patch"}}));
        }
    }
    let mut external = json!({
        "image": {"transport": source.transport, "reference": source.reference},
        "package": {"name": manifest.package.name, "version": manifest.package.version},
    });
    if let Some(b) = &manifest.build {
        external["build"] = json!({"system": b.system, "builder": b.builder, "reproducible": b.reproducible});
    }
    json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": {"sourceDateEpoch": time},
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {
                "id": format!("https://cerro-torre.org/ct@v{tool_version}"),
                "version": {"ct": tool_version},
            },
            "metadata": {
                "invocationId": format!("{}@{}#{}", manifest.package.name, manifest.package.version, image.manifest.digest),
                "startedOn": rfc3339(time),
                "finishedOn": rfc3339(time),
            },
        },
    })
}
