//! Which image a podman (containers/storage) container runs, found from the
//! OCI bundle path the runtime hands the hook — no flag from the user.
//!
//! podman's bundle is `<graph root>/<driver>-containers/<id>/userdata`;
//! `<driver>-containers/containers.json` maps the container to its image
//! id, and `<driver>-images/images.json` maps the image id to its manifest
//! digest(s) (`digest`, and every `manifest-sha256:…` big-data name).

use std::path::Path;

use cerro_core::digest::Digest;
use serde::{Deserialize, Serialize};

use crate::HookError;

/// What the hook uses of one `containers.json` entry (other fields ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// The container id.
    pub id: String,
    /// The id of the image it was created from.
    pub image: String,
}

/// What the hook uses of one `images.json` entry (other fields ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The image id.
    pub id: String,
    /// The manifest digest podman recorded, if any.
    #[serde(default)]
    pub digest: Option<String>,
    /// Names of the image's big-data items (`manifest-sha256:<hex>` for
    /// each manifest podman stored).
    #[serde(default, rename = "big-data-names")]
    pub big_data_names: Vec<String>,
}

/// Largest storage metadata file read.
pub const MAX_JSON: u64 = 64 << 20;

/// Parses `containers.json` (a JSON array of containers).
pub fn parse_containers(bytes: &[u8]) -> Result<Vec<Container>, HookError> {
    serde_json::from_slice(bytes).map_err(|e| HookError::ImageUnknown(e.to_string()))
}

/// Parses `images.json` (a JSON array of images).
pub fn parse_images(bytes: &[u8]) -> Result<Vec<Image>, HookError> {
    serde_json::from_slice(bytes).map_err(|e| HookError::ImageUnknown(e.to_string()))
}

impl Image {
    /// The manifest digests the entry records, each once, in order: its
    /// `digest` and every `manifest-sha256:<hex>` big-data name (entries
    /// that are not valid digests are ignored).
    pub fn manifest_digests(&self) -> Vec<Digest> {
        let named = self.digest.iter().filter_map(|d| Digest::parse(d).ok());
        let big = self
            .big_data_names
            .iter()
            .filter_map(|n| n.strip_prefix("manifest-sha256:").and_then(Digest::from_hex));
        let mut out: Vec<Digest> = Vec::new();
        for d in named.chain(big) {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }
}

/// Reads `path` (at most [`MAX_JSON`] bytes, measured while reading) and
/// parses it with `parse`.
fn read_json<T>(path: &Path, parse: fn(&[u8]) -> Result<T, HookError>) -> Result<T, HookError> {
    let bytes = cerro_core::file::read_bounded(path, MAX_JSON, &path.display().to_string())
        .map_err(|e| HookError::ImageUnknown(e.to_string()))?;
    parse(&bytes).map_err(|e| HookError::ImageUnknown(format!("{}: {e}", path.display())))
}

/// The manifest digest(s) of the image container `id` (bundle at `bundle`) runs.
pub fn image_digests(bundle: &Path, id: &str) -> Result<Vec<Digest>, HookError> {
    // <root>/<driver>-containers/<id>/userdata
    let containers_dir = bundle.parent().and_then(Path::parent).ok_or_else(|| {
        HookError::ImageUnknown(format!("{} is not a containers/storage bundle path", bundle.display()))
    })?;
    let dir_name = containers_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let driver = dir_name.strip_suffix("-containers").ok_or_else(|| {
        HookError::ImageUnknown(format!("{} is not a containers/storage bundle path", bundle.display()))
    })?;
    let root = containers_dir
        .parent()
        .ok_or_else(|| HookError::ImageUnknown(format!("{} has no storage root", bundle.display())))?;
    let containers = read_json(&containers_dir.join("containers.json"), parse_containers)?;
    let c = containers
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| HookError::ImageUnknown(format!("container {id} is not in {}", containers_dir.display())))?;
    let images = read_json(&root.join(format!("{driver}-images")).join("images.json"), parse_images)?;
    let img = images.iter().find(|i| i.id == c.image).ok_or_else(|| {
        HookError::ImageUnknown(format!("image {} of container {id} is not in the image store", c.image))
    })?;
    let out = img.manifest_digests();
    if out.is_empty() {
        return Err(HookError::ImageUnknown(format!(
            "image {} records no manifest digest",
            c.image
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;

    const M: &str = "sha256:56166f0806c78c9c254e29961a6e7ab2737905c070e659ca64c7d3e137d6a4b9";

    fn storage(dir: &Path, images: &str) -> std::path::PathBuf {
        let ctrs = dir.join("overlay-containers");
        let bundle = ctrs.join("c1").join("userdata");
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(
            ctrs.join("containers.json"),
            r#"[{"id":"c1","image":"img1","names":["x"]}]"#,
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("overlay-images")).unwrap();
        std::fs::write(dir.join("overlay-images/images.json"), images).unwrap();
        bundle
    }

    #[test]
    fn finds_the_manifest_digests_of_the_container_image() {
        let dir = tempfile::tempdir().unwrap();
        let other = format!("manifest-sha256:{}", "ab".repeat(32));
        let bundle = storage(
            dir.path(),
            &format!(r#"[{{"id":"img1","digest":"{M}","big-data-names":["manifest","{other}"]}}]"#),
        );
        let got = image_digests(&bundle, "c1").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].to_string(), M);
    }

    #[test]
    fn refuses_what_it_cannot_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = storage(dir.path(), r#"[{"id":"img1"}]"#);
        assert!(image_digests(&bundle, "c1")
            .unwrap_err()
            .to_string()
            .contains("no manifest digest"));
        assert!(image_digests(&bundle, "c2").unwrap_err().to_string().contains("not in"));
        assert!(image_digests(Path::new("/"), "c1").is_err());
        assert!(image_digests(&dir.path().join("elsewhere/c1/userdata"), "c1").is_err());
        std::fs::write(dir.path().join("overlay-images/images.json"), "not json").unwrap();
        assert!(image_digests(&bundle, "c1").is_err());
    }
}
