//! Source images named with skopeo's transport syntax:
//! `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REF]`.
//!
//! Archives are not extracted: their tar is indexed once (member → offset,
//! size) and blobs are streamed from their offsets. A `.ctp` bundle is also a
//! source (its `oci-layout/` prefix), which is how `ct sign` rewrites one.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Take};
use std::path::{Path, PathBuf};

use super::{
    parse_config, parse_index, parse_manifest, parse_platform_index, BlobRef, ImageParts, Platform, MAX_JSON_BLOB,
    MT_OCI_CONFIG, MT_OCI_INDEX, MT_OCI_LAYER_TAR, MT_OCI_MANIFEST,
};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

/// Where blobs are read from.
#[derive(Debug, Clone)]
enum BlobStore {
    /// An OCI layout directory.
    Dir(PathBuf),
    /// A tar file: member path → (offset of data, size).
    Tar {
        path: PathBuf,
        members: HashMap<String, (u64, u64)>,
        /// digest → member path (for docker archives, whose names are not digests).
        names: HashMap<Digest, String>,
        /// Prefix of the layout inside the tar (`""` or `"oci-layout/"`).
        prefix: String,
    },
}

/// An image ready to be packed: its manifest (bytes and descriptor), the
/// parts it references, and a way to stream each blob.
#[derive(Debug, Clone)]
pub struct SourceImage {
    /// The reference it is named by, if any (`REF` of the transport, or a tag).
    pub reference: Option<String>,
    /// Descriptor of the image manifest.
    pub manifest: BlobRef,
    /// The manifest bytes (verified against `manifest.digest`).
    pub manifest_bytes: Vec<u8>,
    /// Config and layers (of a multi-platform image: the first platform's).
    pub parts: ImageParts,
    /// The platform manifests of a multi-platform image, in index order
    /// (`manifest` and `manifest_bytes` are then the image index); empty
    /// for a single image.
    pub platforms: Vec<SourcePlatform>,
    store: BlobStore,
}

/// One platform of a multi-platform source image.
#[derive(Debug, Clone)]
pub struct SourcePlatform {
    /// Its image manifest descriptor.
    pub manifest: BlobRef,
    /// The manifest bytes (verified against `manifest.digest`).
    pub manifest_bytes: Vec<u8>,
    /// The platform the index names.
    pub platform: Platform,
    /// Its config and layers.
    pub parts: ImageParts,
}

impl AsRef<super::Platform> for SourcePlatform {
    fn as_ref(&self) -> &super::Platform {
        &self.platform
    }
}

impl SourceImage {
    /// Opens an image named with transport syntax.
    pub fn open(spec: &str) -> Result<Self> {
        let (transport, rest) = spec.split_once(':').ok_or_else(|| {
            Error::malformed(
                "image",
                format!("{spec:?}: expected oci:DIR[:REF], oci-archive:FILE[:REF] or docker-archive:FILE"),
            )
        })?;
        let (path, reference) = match rest.split_once(':') {
            Some((p, r)) if !r.is_empty() => (p, Some(r.to_owned())),
            _ => (rest.trim_end_matches(':'), None),
        };
        if path.is_empty() {
            return Err(Error::malformed("image", format!("{spec:?}: empty path")));
        }
        let path = Path::new(path);
        match transport {
            "oci" => Self::open_layout(BlobStore::Dir(path.to_path_buf()), reference),
            "oci-archive" => Self::open_layout(index_tar(path, "")?, reference),
            "docker-archive" => Self::open_docker_archive(path, reference),
            "docker" => Err(Error::malformed(
                "image",
                "docker:// (registry) sources are not supported yet: copy the image with skopeo to oci:DIR first",
            )),
            other => Err(Error::malformed(
                "image",
                format!("unknown transport {other:?} in {spec:?}"),
            )),
        }
    }

    /// Opens the image inside a `.ctp` bundle (already read and checked by the caller).
    pub fn open_bundle(path: &Path) -> Result<Self> {
        Self::open_layout(index_tar(path, "oci-layout/")?, None)
    }

    fn open_layout(store: BlobStore, reference: Option<String>) -> Result<Self> {
        let index_bytes = store.read_small("index.json")?;
        let entries = parse_index("index.json", &index_bytes)?;
        let entry = match &reference {
            Some(r) => entries
                .iter()
                .find(|e| e.ref_name.as_deref() == Some(r.as_str()))
                .ok_or_else(|| Error::malformed("index.json", format!("no image named {r:?}")))?,
            None => match entries.as_slice() {
                [one] => one,
                [] => return Err(Error::malformed("index.json", "the layout holds no image")),
                _ => {
                    return Err(Error::malformed(
                        "index.json",
                        "the layout holds several images: name one (oci:DIR:REF)",
                    ))
                }
            },
        };
        let manifest = entry.manifest.clone();
        let reference = reference.or_else(|| entry.ref_name.clone());
        if manifest.size > MAX_JSON_BLOB {
            return Err(Error::malformed("image manifest", "larger than 4 MiB"));
        }
        let manifest_bytes = store.read_blob_verified(&manifest)?;
        if manifest.media_type == MT_OCI_INDEX {
            return Self::open_index(store, reference, manifest, manifest_bytes);
        }
        let parts = parse_manifest(
            &format!("image manifest {}", manifest.digest),
            &manifest_bytes,
            &manifest.media_type,
        )?;
        Ok(SourceImage {
            reference,
            manifest,
            manifest_bytes,
            parts,
            platforms: Vec::new(),
            store,
        })
    }

    /// A multi-platform image: the index (already read and its digest
    /// checked) and every platform manifest it names, each read, checked
    /// and parsed. A platform whose manifest is not in the layout (a
    /// partial copy) is refused: a bundle carries every platform.
    fn open_index(store: BlobStore, reference: Option<String>, index: BlobRef, index_bytes: Vec<u8>) -> Result<Self> {
        let what = format!("image index {}", index.digest);
        let entries = parse_platform_index(&what, &index_bytes)?;
        let mut platforms = Vec::with_capacity(entries.len());
        for e in entries {
            if e.manifest.size > MAX_JSON_BLOB {
                return Err(Error::malformed(
                    format!("image manifest {} ({})", e.manifest.digest, e.platform),
                    "larger than 4 MiB",
                ));
            }
            let bytes = store.read_blob_verified(&e.manifest).map_err(|err| {
                Error::malformed(
                    &what,
                    format!(
                        "the manifest of platform {} ({}) cannot be read: {err} \
                         (every platform the index names must be in the layout)",
                        e.platform, e.manifest.digest
                    ),
                )
            })?;
            let parts = parse_manifest(
                &format!("image manifest {} ({})", e.manifest.digest, e.platform),
                &bytes,
                &e.manifest.media_type,
            )?;
            platforms.push(SourcePlatform {
                manifest: e.manifest,
                manifest_bytes: bytes,
                platform: e.platform,
                parts,
            });
        }
        let parts = platforms
            .first()
            .map(|p| p.parts.clone())
            .ok_or_else(|| Error::malformed(&what, "the image index names no manifest"))?;
        Ok(SourceImage {
            reference,
            manifest: index,
            manifest_bytes: index_bytes,
            parts,
            platforms,
            store,
        })
    }

    /// Platform `i` of a multi-platform image as a single image (its
    /// manifest and parts, the same blob source), for what reads one
    /// image's layers (diff_ids, SBOM).
    pub fn platform_image(&self, i: usize) -> Option<SourceImage> {
        let p = self.platforms.get(i)?;
        Some(SourceImage {
            reference: self.reference.clone(),
            manifest: p.manifest.clone(),
            manifest_bytes: p.manifest_bytes.clone(),
            parts: p.parts.clone(),
            platforms: Vec::new(),
            store: self.store.clone(),
        })
    }

    /// The blobs a bundle of this image carries after its top manifest
    /// (spec/bundle-format.md §5.2), in order: a single image's config and
    /// distinct layers; for a multi-platform image, for each platform in
    /// index order its manifest, its config and its layers not already
    /// listed. A config or manifest digest that appears twice is refused
    /// (the reader could not tell which part it is).
    pub fn blob_sequence(&self) -> Result<Vec<BlobRef>> {
        if self.platforms.is_empty() {
            return Ok(self.parts.blobs().into_iter().cloned().collect());
        }
        let platforms: Vec<(&BlobRef, &ImageParts)> = self.platforms.iter().map(|p| (&p.manifest, &p.parts)).collect();
        super::index_blob_sequence(&self.manifest.digest, &platforms)
    }

    fn open_docker_archive(path: &Path, reference: Option<String>) -> Result<Self> {
        let store = index_tar(path, "")?;
        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(rename = "Config")]
            config: String,
            #[serde(rename = "RepoTags", default)]
            repo_tags: Option<Vec<String>>,
            #[serde(rename = "Layers")]
            layers: Vec<String>,
        }
        let what = "docker-archive manifest.json";
        let list: Vec<Entry> = serde_json::from_slice(&store.read_small("manifest.json")?)
            .map_err(|e| Error::malformed(what, e.to_string()))?;
        let entry = match &reference {
            Some(r) => list
                .iter()
                .find(|e| e.repo_tags.iter().flatten().any(|t| t == r))
                .ok_or_else(|| Error::malformed(what, format!("no image tagged {r:?}")))?,
            None => match list.as_slice() {
                [one] => one,
                _ => {
                    return Err(Error::malformed(
                        what,
                        "expected exactly one image: name one (docker-archive:FILE:REF)",
                    ))
                }
            },
        };
        let config_bytes = store.read_small(&entry.config)?;
        let cfg = parse_config("docker-archive config", &config_bytes)?;
        if cfg.diff_ids.len() != entry.layers.len() {
            return Err(Error::malformed(
                "docker-archive config",
                "rootfs.diff_ids does not match the layer count",
            ));
        }
        let BlobStore::Tar {
            path: tar_path,
            members,
            mut names,
            prefix,
        } = store
        else {
            return Err(Error::malformed(what, "not a tar"));
        };
        let config = BlobRef {
            media_type: MT_OCI_CONFIG.to_owned(),
            digest: Digest::of(&config_bytes),
            size: config_bytes.len() as u64,
        };
        names.insert(config.digest, entry.config.clone());
        let mut layers = Vec::with_capacity(entry.layers.len());
        for (name, diff_id) in entry.layers.iter().zip(&cfg.diff_ids) {
            let (_, size) = members
                .get(name.trim_start_matches("./"))
                .ok_or_else(|| Error::malformed(what, format!("layer {name:?} is not in the archive")))?;
            names.insert(*diff_id, name.trim_start_matches("./").to_owned());
            layers.push(BlobRef {
                media_type: MT_OCI_LAYER_TAR.to_owned(),
                digest: *diff_id,
                size: *size,
            });
        }
        // The OCI manifest skopeo would write for this image: uncompressed
        // layers named by their diff ids, the config unchanged.
        let manifest_bytes = crate::jcs::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": config.media_type, "digest": config.digest.to_string(), "size": config.size},
            "layers": layers.iter().map(|l| serde_json::json!({
                "mediaType": l.media_type, "digest": l.digest.to_string(), "size": l.size,
            })).collect::<Vec<_>>(),
        }))?;
        let manifest = BlobRef {
            media_type: MT_OCI_MANIFEST.to_owned(),
            digest: Digest::of(&manifest_bytes),
            size: manifest_bytes.len() as u64,
        };
        let reference = reference.or_else(|| entry.repo_tags.iter().flatten().next().cloned());
        Ok(SourceImage {
            reference,
            manifest,
            manifest_bytes,
            parts: ImageParts { config, layers },
            platforms: Vec::new(),
            store: BlobStore::Tar {
                path: tar_path,
                members,
                names,
                prefix,
            },
        })
    }

    /// Opens a blob for streaming. The caller must hash what it reads and
    /// compare with `blob.digest`: the source is not trusted.
    pub fn open_blob(&self, blob: &BlobRef) -> Result<Take<File>> {
        self.store.open_blob(&blob.digest, blob.size)
    }

    /// Reads a small blob (at most [`MAX_JSON_BLOB`]: a config) whole,
    /// checking its digest and size.
    pub fn read_blob_small(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        if blob.size > MAX_JSON_BLOB {
            return Err(Error::malformed(format!("blob {}", blob.digest), "larger than 4 MiB"));
        }
        self.store.read_blob_verified(blob)
    }
}

impl BlobStore {
    /// A manifest or config blob, whole, at most [`MAX_JSON_BLOB`]: counted
    /// while reading (a file that grows after it was sized cannot pass the
    /// bound), and nothing is reserved for what a header claims.
    fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        match self {
            BlobStore::Dir(dir) => {
                let p = dir.join(name);
                crate::file::read_bounded(&p, MAX_JSON_BLOB, &p.display().to_string())
            }
            BlobStore::Tar {
                path, members, prefix, ..
            } => {
                let key = format!("{prefix}{name}");
                let (off, size) = *members
                    .get(&key)
                    .ok_or_else(|| Error::malformed(path.display().to_string(), format!("no member {key}")))?;
                let display = format!("{}:{key}", path.display());
                if size > MAX_JSON_BLOB {
                    return Err(Error::malformed(display, "larger than 4 MiB"));
                }
                crate::file::read_bounded_from(open_at(path, off, size)?, MAX_JSON_BLOB, &display)
            }
        }
    }

    fn read_blob_verified(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        let mut r = self.open_blob(&blob.digest, blob.size)?;
        let mut buf = Vec::new();
        r.by_ref()
            .take(MAX_JSON_BLOB + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("reading blob", blob.digest.to_string(), e))?;
        let actual = Digest::of(&buf);
        if actual != blob.digest {
            return Err(Error::DigestMismatch {
                what: format!("blob {}", blob.digest),
                expected: blob.digest,
                actual,
            });
        }
        if buf.len() as u64 != blob.size {
            return Err(Error::SizeMismatch {
                what: format!("blob {}", blob.digest),
                expected: blob.size,
                actual: buf.len() as u64,
            });
        }
        Ok(buf)
    }

    fn open_blob(&self, digest: &Digest, size: u64) -> Result<Take<File>> {
        match self {
            BlobStore::Dir(dir) => {
                let p = dir.join("blobs").join("sha256").join(digest.hex());
                let f = File::open(&p).ctx("opening blob", &p)?;
                let actual = f.metadata().ctx("reading metadata of", &p)?.len();
                if actual != size {
                    return Err(Error::SizeMismatch {
                        what: p.display().to_string(),
                        expected: size,
                        actual,
                    });
                }
                Ok(f.take(size))
            }
            BlobStore::Tar {
                path,
                members,
                names,
                prefix,
            } => {
                let key = match names.get(digest) {
                    Some(n) => n.clone(),
                    None => format!("{prefix}blobs/sha256/{}", digest.hex()),
                };
                let (off, actual) = *members.get(&key).ok_or_else(|| {
                    Error::malformed(path.display().to_string(), format!("blob {digest} is missing ({key})"))
                })?;
                if actual != size {
                    return Err(Error::SizeMismatch {
                        what: format!("{}:{key}", path.display()),
                        expected: size,
                        actual,
                    });
                }
                open_at(path, off, size)
            }
        }
    }
}

fn open_at(path: &Path, offset: u64, size: u64) -> Result<Take<File>> {
    let mut f = File::open(path).ctx("opening", path)?;
    f.seek(SeekFrom::Start(offset)).ctx("seeking in", path)?;
    Ok(f.take(size))
}

/// Indexes a tar's regular files by normalised path. Refuses links, unsafe
/// paths and duplicates: a source archive is untrusted input too.
fn index_tar(path: &Path, prefix: &str) -> Result<BlobStore> {
    let f = File::open(path).ctx("opening", path)?;
    let mut ar = tar::Archive::new(BufReader::new(f));
    let mut members = HashMap::new();
    let what = path.display().to_string();
    let entries = ar
        .entries()
        .map_err(|e| Error::malformed(&what, format!("not a tar archive: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::malformed(&what, format!("corrupt tar: {e}")))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = name.trim_start_matches("./").to_owned();
        if !kind.is_file() {
            return Err(Error::malformed(
                &what,
                format!("member {name:?} is not a regular file"),
            ));
        }
        if name.starts_with('/') || name.split('/').any(|c| c == "..") {
            return Err(Error::malformed(&what, format!("unsafe member path {name:?}")));
        }
        let size = entry
            .header()
            .entry_size()
            .map_err(|e| Error::malformed(&what, e.to_string()))?;
        if members
            .insert(name.clone(), (entry.raw_file_position(), size))
            .is_some()
        {
            return Err(Error::malformed(&what, format!("duplicate member {name:?}")));
        }
    }
    Ok(BlobStore::Tar {
        path: path.to_path_buf(),
        members,
        names: HashMap::new(),
        prefix: prefix.to_owned(),
    })
}
