//! Which image a podman (containers/storage) container runs, found from the
//! OCI bundle path the runtime hands the hook — no flag from the user.
//!
//! podman's bundle is `<graph root>/<driver>-containers/<id>/userdata`;
//! `<driver>-containers/containers.json` maps the container to its image
//! id, and `<driver>-images/images.json` maps the image id to its manifest
//! digest(s) (`digest`, and every `manifest-sha256:…` big-data name).

use std::path::Path;

use cerro_core::digest::Digest;
use serde::Deserialize;

#[derive(Deserialize)]
struct Container {
    id: String,
    image: String,
}

#[derive(Deserialize)]
struct Image {
    id: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default, rename = "big-data-names")]
    big_data_names: Vec<String>,
}

/// Largest storage metadata file read.
const MAX_JSON: u64 = 64 << 20;

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len > MAX_JSON {
        return Err(format!("{}: larger than {MAX_JSON} bytes", path.display()));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The manifest digest(s) of the image container `id` (bundle at `bundle`) runs.
pub fn image_digests(bundle: &Path, id: &str) -> Result<Vec<Digest>, String> {
    // <root>/<driver>-containers/<id>/userdata
    let containers_dir = bundle
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not a containers/storage bundle path", bundle.display()))?;
    let dir_name = containers_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let driver = dir_name
        .strip_suffix("-containers")
        .ok_or_else(|| format!("{} is not a containers/storage bundle path", bundle.display()))?;
    let root = containers_dir
        .parent()
        .ok_or_else(|| format!("{} has no storage root", bundle.display()))?;
    let containers: Vec<Container> = read_json(&containers_dir.join("containers.json"))?;
    let c = containers
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| format!("container {id} is not in {}", containers_dir.display()))?;
    let images: Vec<Image> = read_json(&root.join(format!("{driver}-images")).join("images.json"))?;
    let img = images
        .iter()
        .find(|i| i.id == c.image)
        .ok_or_else(|| format!("image {} of container {id} is not in the image store", c.image))?;
    let mut out: Vec<Digest> = Vec::new();
    let named = img.digest.iter().filter_map(|d| Digest::parse(d).ok());
    let big = img
        .big_data_names
        .iter()
        .filter_map(|n| n.strip_prefix("manifest-sha256:").and_then(Digest::from_hex));
    for d in named.chain(big) {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.is_empty() {
        return Err(format!("image {} records no manifest digest", c.image));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
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
        assert!(image_digests(&bundle, "c1").unwrap_err().contains("no manifest digest"));
        assert!(image_digests(&bundle, "c2").unwrap_err().contains("not in"));
        assert!(image_digests(Path::new("/"), "c1").is_err());
        assert!(image_digests(&dir.path().join("elsewhere/c1/userdata"), "c1").is_err());
        std::fs::write(dir.path().join("overlay-images/images.json"), "not json").unwrap();
        assert!(image_digests(&bundle, "c1").is_err());
    }
}
