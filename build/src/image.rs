//! The built packages' files as one deterministic layer, and the OCI image
//! layout around it (spec/build.md §4).
//!
//! Determinism: entries sorted by path (a parent before what it holds),
//! owner root (0:0, names `root`), every mtime
//! SOURCE_DATE_EPOCH, GNU tar headers, an uncompressed layer (no
//! compressor version can change its bytes), the JSON documents in RFC 8785
//! form. The same packages give the same layer, config and image digest.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use serde_json::{json, Value};

use crate::error::{BuildError, Result};

/// The image manifest's media type (core's; the provenance names it).
pub use cerro_core::image::MT_OCI_MANIFEST as MANIFEST_MEDIA_TYPE;

/// Most bytes of file content the layer holds (it is built in memory).
pub const MAX_LAYER_CONTENT: u64 = 2 << 30;

/// One entry of a [`Tree`]: what it holds (its mode and mtime beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// A symbolic link and its target.
    Symlink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    node: Node,
    mode: u32,
    mtime: u64,
}

/// The files of several packages' data tarballs, merged.
#[derive(Debug, Default)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
    content: u64,
}

/// `./usr/bin/` → `usr/bin`; `.` or `./` → None (the root is not an entry).
fn clean(path: &[u8]) -> Result<Option<String>> {
    let s = std::str::from_utf8(path).map_err(|_| BuildError::Output {
        what: String::from_utf8_lossy(path).into_owned(),
        reason: "a path that is not UTF-8".into(),
    })?;
    let s = s.strip_prefix("./").unwrap_or(s);
    let s = s.strip_prefix('/').unwrap_or(s);
    let s = s.trim_end_matches('/');
    if s.is_empty() || s == "." {
        return Ok(None);
    }
    if s.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(BuildError::Output {
            what: s.to_owned(),
            reason: "an empty, \".\" or \"..\" path component".into(),
        });
    }
    Ok(Some(s.to_owned()))
}

impl Tree {
    /// Adds the entries of a data tarball (`dpkg-deb --fsys-tarfile`) of
    /// `package`. A path two packages ship must be the same entry (two
    /// directories may differ only in mtime). Hard links become copies of
    /// their target (which must come earlier in the tarball, as dpkg writes
    /// them), so the sorted layer never links forward.
    pub fn add_tar(&mut self, package: &str, tar: impl Read) -> Result<()> {
        let bad = |reason: String| BuildError::Output {
            what: package.to_owned(),
            reason,
        };
        let mut archive = tar::Archive::new(tar);
        let entries = archive
            .entries()
            .map_err(|e| bad(format!("reading its data tar: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(format!("reading its data tar: {e}")))?;
            let header = entry.header().clone();
            let raw = entry.path_bytes().into_owned();
            let Some(path) = clean(&raw)? else { continue };
            let mode = header.mode().map_err(|e| bad(format!("{path}: {e}")))? & 0o7777;
            let mtime = header.mtime().map_err(|e| bad(format!("{path}: {e}")))?;
            let kind = header.entry_type();
            let node = if kind.is_dir() {
                Node::Dir
            } else if kind.is_file() {
                let size = entry.size();
                self.content = self.content.saturating_add(size);
                if self.content > MAX_LAYER_CONTENT {
                    return Err(bad(format!("more than {MAX_LAYER_CONTENT} bytes of files")));
                }
                let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                entry.read_to_end(&mut data).map_err(|e| bad(format!("{path}: {e}")))?;
                Node::File(data)
            } else if kind.is_symlink() {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(format!("{path}: a symbolic link without a target")))?;
                let target = String::from_utf8(target.into_owned())
                    .map_err(|_| bad(format!("{path}: a link target that is not UTF-8")))?;
                Node::Symlink(target)
            } else if kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad(format!("{path}: a hard link without a target")))?;
                let target = clean(&target)?.ok_or_else(|| bad(format!("{path}: a hard link to the root")))?;
                match self.entries.get(&target) {
                    Some(Entry {
                        node: Node::File(d), ..
                    }) => Node::File(d.clone()),
                    _ => return Err(bad(format!("{path}: a hard link to {target}, not an earlier file"))),
                }
            } else {
                return Err(bad(format!(
                    "{path}: an entry of type {:?} (not a file, directory or link)",
                    kind
                )));
            };
            let new = Entry { node, mode, mtime };
            match self.entries.get(&path) {
                None => {
                    self.entries.insert(path, new);
                }
                Some(old) if old.node == Node::Dir && new.node == Node::Dir && old.mode == new.mode => {}
                Some(old) if old.node == new.node && old.mode == new.mode => {}
                Some(_) => return Err(bad(format!("{path}: shipped by two packages with different contents"))),
            }
        }
        Ok(())
    }

    /// Adds a directory `path` of the layer (mode 0755) unless present.
    pub fn add_dir(&mut self, path: &str, mtime: u64) {
        self.entries.entry(path.to_owned()).or_insert(Entry {
            node: Node::Dir,
            mode: 0o755,
            mtime,
        });
    }

    /// Adds the file tree at `src` (a directory, a file or a symbolic link,
    /// not followed) as layer path `at`, with its modes and mtimes.
    /// Anything but directories, regular files and symbolic links is refused.
    pub fn add_fs(&mut self, src: &Path, at: &str) -> Result<()> {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let meta = std::fs::symlink_metadata(src).map_err(|e| BuildError::io("reading", src, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        let mtime = u64::try_from(meta.mtime()).unwrap_or(0);
        let ft = meta.file_type();
        let node = if ft.is_dir() {
            Node::Dir
        } else if ft.is_file() {
            self.content = self.content.saturating_add(meta.len());
            if self.content > MAX_LAYER_CONTENT {
                return Err(BuildError::Output {
                    what: src.display().to_string(),
                    reason: format!("more than {MAX_LAYER_CONTENT} bytes of files"),
                });
            }
            Node::File(std::fs::read(src).map_err(|e| BuildError::io("reading", src, e))?)
        } else if ft.is_symlink() {
            let t = std::fs::read_link(src).map_err(|e| BuildError::io("reading", src, e))?;
            Node::Symlink(t.to_str().map(str::to_owned).ok_or_else(|| BuildError::Output {
                what: src.display().to_string(),
                reason: "a link target that is not UTF-8".into(),
            })?)
        } else {
            return Err(BuildError::Output {
                what: src.display().to_string(),
                reason: "not a file, directory or symbolic link".into(),
            });
        };
        let is_dir = node == Node::Dir;
        self.entries.insert(at.to_owned(), Entry { node, mode, mtime });
        if is_dir {
            let mut names: Vec<_> = std::fs::read_dir(src)
                .map_err(|e| BuildError::io("listing", src, e))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<std::io::Result<_>>()
                .map_err(|e| BuildError::io("listing", src, e))?;
            names.sort();
            for n in names {
                let name = n.to_str().ok_or_else(|| BuildError::Output {
                    what: src.display().to_string(),
                    reason: "a name that is not UTF-8".into(),
                })?;
                self.add_fs(&src.join(name), &format!("{at}/{name}"))?;
            }
        }
        Ok(())
    }

    /// Adds `node` as layer path `at` (a clean relative path) with `mode`
    /// and `mtime`, under the content bound; a path already present must be
    /// the same entry. For a walk that sees the tree its own way (a NAR,
    /// [`crate::nar`]) rather than as a tarball or the file system does.
    pub fn insert(&mut self, at: &str, node: Node, mode: u32, mtime: u64) -> Result<()> {
        let path = clean(at.as_bytes())?.ok_or_else(|| BuildError::Output {
            what: at.to_owned(),
            reason: "the root is not an entry".into(),
        })?;
        if let Node::File(d) = &node {
            self.content = self.content.saturating_add(d.len() as u64);
            if self.content > MAX_LAYER_CONTENT {
                return Err(BuildError::Output {
                    what: path,
                    reason: format!("more than {MAX_LAYER_CONTENT} bytes of files"),
                });
            }
        }
        let new = Entry { node, mode, mtime };
        match self.entries.get(&path) {
            None => {
                self.entries.insert(path, new);
                Ok(())
            }
            Some(old) if old.node == new.node && old.mode == new.mode => Ok(()),
            Some(_) => Err(BuildError::Output {
                what: path,
                reason: "added twice with different contents".into(),
            }),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The layer: a tar of the tree (see the module's rules), every mtime
    /// `epoch`. Clamping (`min(mtime, epoch)`) is not enough: a file made
    /// during a build whose SOURCE_DATE_EPOCH is later than the build's
    /// clock (a changelog dated today, read as noon) keeps the time it was
    /// made, and two builds a second apart differ.
    pub fn to_tar(&self, epoch: u64) -> Result<Vec<u8>> {
        let err = |p: &str, e: std::io::Error| BuildError::Output {
            what: p.to_owned(),
            reason: format!("writing the layer: {e}"),
        };
        let mut b = tar::Builder::new(Vec::new());
        for (path, e) in &self.entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(e.mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(epoch);
            h.set_username("root").map_err(|x| err(path, x))?;
            h.set_groupname("root").map_err(|x| err(path, x))?;
            match &e.node {
                Node::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, format!("{path}/"), std::io::empty())
                        .map_err(|x| err(path, x))?;
                }
                Node::File(d) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(d.len() as u64);
                    b.append_data(&mut h, path, d.as_slice()).map_err(|x| err(path, x))?;
                }
                Node::Symlink(t) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, path, t).map_err(|x| err(path, x))?;
                }
            }
        }
        b.into_inner().map_err(|e| err("(end)", e))
    }
}

/// `oci:DIR:TAG`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciTarget {
    /// The layout directory (created when absent).
    pub dir: PathBuf,
    /// The tag (`org.opencontainers.image.ref.name`).
    pub tag: String,
}

impl OciTarget {
    /// Parses `oci:DIR:TAG`. DIR holds no `:` (the first `:` after the
    /// transport ends it, as `ct pack oci:DIR:TAG` reads it); the tag is
    /// what OCI allows a tag to be (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
    pub fn parse(s: &str) -> std::result::Result<OciTarget, cerro_core::Error> {
        let bad = |why: &str| cerro_core::Error::invalid_config("-o", format!("{s:?}: {why} (expected oci:DIR:TAG)"));
        let rest = s.strip_prefix("oci:").ok_or_else(|| bad("not an oci: target"))?;
        let (dir, tag) = rest.split_once(':').ok_or_else(|| bad("no tag"))?;
        let ok_tag = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphanumeric() || c == '_' || (i > 0 && (c == '.' || c == '-')));
        if dir.is_empty() || !ok_tag {
            return Err(bad("an empty directory or a tag OCI does not allow"));
        }
        Ok(OciTarget {
            dir: PathBuf::from(dir),
            tag: tag.to_owned(),
        })
    }
}

/// What was written into the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The image manifest's digest (the image digest).
    pub manifest: Digest,
    /// The config's digest.
    pub config: Digest,
    /// The layer's digest (also its diff_id: it is not compressed).
    pub layer: Digest,
}

/// OCI platform of a Debian architecture: `(architecture, variant)`.
pub fn oci_platform(debian_arch: &str) -> (String, Option<&'static str>) {
    match debian_arch {
        "i386" => ("386".into(), None),
        "armhf" => ("arm".into(), Some("v7")),
        "armel" => ("arm".into(), Some("v5")),
        "arm64" => ("arm64".into(), Some("v8")),
        "ppc64el" => ("ppc64le".into(), None),
        "mips64el" => ("mips64le".into(), None),
        other => (other.to_owned(), None),
    }
}

/// Writes the image (one layer, its config, its manifest) into the layout at
/// `target.dir` with core's layout writer, tagged `target.tag` (replacing
/// an earlier image of that tag; other tags' entries kept, in their order).
pub fn write_layout(
    target: &OciTarget,
    layer: &[u8],
    epoch: u64,
    debian_arch: &str,
    created_by: &str,
) -> Result<Written> {
    use cerro_core::image::layout::LayoutBuilder;
    use cerro_core::image::MT_OCI_LAYER_TAR;
    let dir = &target.dir;
    let created = cerro_core::timestamp::format_rfc3339(epoch);
    let (arch, variant) = oci_platform(debian_arch);
    let mut b = LayoutBuilder::new(dir)?;
    // Uncompressed: the layer is its own diff_id.
    let layer_d = Digest::of(layer);
    b.layer_raw(layer, MT_OCI_LAYER_TAR, layer_d)?;
    let mut config = json!({
        "architecture": arch,
        "os": "linux",
        "created": created,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "history": [{"created": created, "created_by": created_by}],
    });
    let mut platform = json!({"architecture": arch, "os": "linux"});
    if let Some(v) = variant {
        config["variant"] = json!(v);
        platform["variant"] = json!(v);
    }
    let manifest = b.finish_image(config)?;
    let config_d = index_image(target, &manifest, platform)?;
    Ok(Written {
        manifest: manifest.digest,
        config: config_d,
        layer: layer_d,
    })
}

/// Writes the image on a base (spec/build.md §10 step 4) into the layout at
/// `target.dir`: the base's layers, their blobs (`blobs`, already checked
/// against their digests) copied byte for byte, then `layer` (a tar file,
/// uncompressed); the base's config with `created`, `history` and the
/// diff_ids extended; the manifest annotated with the base's digest and
/// name. Tagged as [`write_layout`] tags.
pub fn write_layout_on_base(
    target: &OciTarget,
    base: &crate::base::BaseImage,
    blobs: &[PathBuf],
    layer: &Path,
    epoch: u64,
    created_by: &str,
) -> Result<Written> {
    use cerro_core::image::layout::LayoutBuilder;
    let dir = &target.dir;
    let created = cerro_core::timestamp::format_rfc3339(epoch);
    let mut b = LayoutBuilder::new(dir)?;
    for ((blob, diff_id), from) in base.layers.iter().zip(&base.diff_ids).zip(blobs) {
        let to = dir.join("blobs/sha256").join(blob.digest.hex());
        if std::fs::metadata(&to).map(|m| m.len()).ok() != Some(blob.size) {
            let tmp = dir.join("blobs").join(format!(".base-{}", blob.digest.hex()));
            std::fs::copy(from, &tmp).map_err(|e| BuildError::io("copying", from, e))?;
            std::fs::rename(&tmp, &to).map_err(|e| BuildError::io("renaming into", &to, e))?;
        }
        b.layer_present(blob.clone(), *diff_id)?;
    }
    let layer_d = b.layer_from_tar(layer)?.digest;
    let mut config = base.config.clone();
    config["created"] = json!(created);
    let entry = json!({"created": created, "created_by": created_by});
    match config.get_mut("history").and_then(Value::as_array_mut) {
        Some(h) => h.push(entry),
        None => config["history"] = json!([entry]),
    }
    let mut platform = json!({"architecture": config["architecture"], "os": config["os"]});
    if let Some(v) = config.get("variant") {
        platform["variant"] = v.clone();
    }
    let mut annotations = json!({"org.opencontainers.image.base.digest": base.manifest.to_string()});
    if let Some(r) = &base.reference {
        annotations["org.opencontainers.image.base.name"] = json!(r);
    }
    let manifest = b.finish_image_annotated(config, Some(annotations))?;
    let config_d = index_image(target, &manifest, platform)?;
    Ok(Written {
        manifest: manifest.digest,
        config: config_d,
        layer: layer_d,
    })
}

/// Lists `manifest` in the layout's `index.json` under `target.tag`
/// (replacing an earlier image of that tag; other tags' entries kept, in
/// their order). Returns the config digest the manifest names.
fn index_image(target: &OciTarget, manifest: &cerro_core::image::BlobRef, platform: Value) -> Result<Digest> {
    use cerro_core::image::{MT_OCI_INDEX, OCI_LAYOUT_FILE, REF_NAME};
    let dir = &target.dir;
    let manifest_bytes = cerro_core::file::read_bounded(
        &dir.join("blobs/sha256").join(manifest.digest.hex()),
        4 << 20,
        "the image manifest just written",
    )?;
    let config_d = serde_json::from_slice::<Value>(&manifest_bytes)
        .ok()
        .and_then(|m| {
            m.pointer("/config/digest")
                .and_then(Value::as_str)
                .and_then(|d| Digest::parse(d).ok())
        })
        .ok_or_else(|| cerro_core::Error::malformed("the image manifest just written", "no config digest"))?;

    // The index: earlier images of other tags kept, in their order; the
    // existing index.json read as every OCI document is (core's strict
    // reader), never one way here and another in `ct pack`.
    let index_path = dir.join("index.json");
    let mut manifests: Vec<Value> = Vec::new();
    if index_path.exists() {
        let bytes = cerro_core::file::read_bounded(&index_path, 4 << 20, "index.json")?;
        cerro_core::image::strict::check("index.json", &bytes, cerro_core::image::strict::DocKind::Index)?;
        let old: Value =
            serde_json::from_slice(&bytes).map_err(|e| cerro_core::Error::malformed("index.json", e.to_string()))?;
        if let Some(list) = old.get("manifests").and_then(Value::as_array) {
            manifests.extend(
                list.iter()
                    .filter(|m| {
                        m.pointer(&format!("/annotations/{}", REF_NAME.replace('/', "~1")))
                            .and_then(Value::as_str)
                            != Some(target.tag.as_str())
                    })
                    .cloned(),
            );
        }
    }
    manifests.push(json!({
        "mediaType": manifest.media_type,
        "digest": manifest.digest.to_string(),
        "size": manifest.size,
        "annotations": {REF_NAME: target.tag},
        "platform": platform,
    }));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": manifests,
    });
    cerro_core::file::write_atomic(&dir.join("oci-layout"), OCI_LAYOUT_FILE, 0o644)?;
    cerro_core::file::write_atomic(&index_path, &cerro_core::jcs::to_vec(&index)?, 0o644)?;
    Ok(config_d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_tar(entries: &[(&str, Option<&[u8]>, u64)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, data, mtime) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(*mtime);
            match data {
                Some(d) => {
                    h.set_mode(0o644);
                    h.set_size(d.len() as u64);
                    h.set_entry_type(tar::EntryType::Regular);
                    b.append_data(&mut h, p, *d).unwrap();
                }
                None => {
                    h.set_mode(0o755);
                    h.set_size(0);
                    h.set_entry_type(tar::EntryType::Directory);
                    b.append_data(&mut h, p, std::io::empty()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn layer_is_sorted_dated_and_owned_by_root() {
        let mut t = Tree::default();
        let a = data_tar(&[
            ("./", None, 9),
            ("./usr/", None, 9),
            ("./usr/b", Some(b"b"), 5),
            ("./usr/a", Some(b"a"), 50),
        ]);
        t.add_tar("p", a.as_slice()).unwrap();
        let tar = t.to_tar(10).unwrap();
        let mut ar = tar::Archive::new(tar.as_slice());
        let got: Vec<(String, u64, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mtime().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            // Every mtime is the epoch: older ones too (a file made during a
            // build before its SOURCE_DATE_EPOCH would otherwise keep its time).
            vec![("usr/".into(), 10, 0), ("usr/a".into(), 10, 0), ("usr/b".into(), 10, 0)]
        );
        // The same input in another order gives the same bytes.
        let mut t2 = Tree::default();
        let b = data_tar(&[
            ("./usr/a", Some(b"a"), 50),
            ("./usr/", None, 9),
            ("./usr/b", Some(b"b"), 5),
        ]);
        t2.add_tar("p", b.as_slice()).unwrap();
        assert_eq!(t2.to_tar(10).unwrap(), tar);
    }

    #[test]
    fn two_packages_shipping_one_path_differently_are_refused() {
        let mut t = Tree::default();
        t.add_tar("p", data_tar(&[("./etc/x", Some(b"1"), 0)]).as_slice())
            .unwrap();
        let e = t
            .add_tar("q", data_tar(&[("./etc/x", Some(b"2"), 0)]).as_slice())
            .unwrap_err();
        assert!(e.to_string().contains("etc/x"), "{e}");
        assert_eq!(e.kind(), cerro_core::Kind::Unrepresentable);
    }

    #[test]
    fn targets_parse() {
        let t = OciTarget::parse("oci:/tmp/x:2.10-3").unwrap();
        assert_eq!((t.dir, t.tag.as_str()), (PathBuf::from("/tmp/x"), "2.10-3"));
        for bad in ["oci:/tmp/x", "docker:x:y", "oci::t", "oci:/d:-t", "oci:/d:a/b"] {
            assert!(OciTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
