//! Writing OCI image layouts: used by `ct unpack`'s tests, `ct demo`'s
//! embedded sample image and the benchmark fixtures. Output is
//! deterministic: layers are tars with fixed metadata, JSON is RFC 8785.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::{BlobRef, MT_OCI_CONFIG, MT_OCI_INDEX, MT_OCI_LAYER_TAR, MT_OCI_MANIFEST, OCI_LAYOUT_FILE, REF_NAME};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::jcs;

/// Builds an OCI layout directory one blob at a time.
#[derive(Debug)]
pub struct LayoutBuilder {
    dir: PathBuf,
    layers: Vec<BlobRef>,
    /// Digest of each layer uncompressed (the config's `rootfs.diff_ids`).
    diff_ids: Vec<Digest>,
}

struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A file for a layer tar: path, mode, content.
pub type LayerFile<'a> = (&'a str, u32, &'a [u8]);

impl LayoutBuilder {
    /// Starts a layout in `dir` (created if needed).
    pub fn new(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir.join("blobs").join("sha256")).ctx("creating", dir)?;
        Ok(LayoutBuilder {
            dir: dir.to_path_buf(),
            layers: Vec::new(),
            diff_ids: Vec::new(),
        })
    }

    fn blob_writer(&self) -> Result<(HashingWriter<BufWriter<File>>, PathBuf)> {
        let tmp = self.dir.join("blobs").join(".incoming");
        let f = File::create(&tmp).ctx("creating", &tmp)?;
        Ok((
            HashingWriter {
                inner: BufWriter::with_capacity(1 << 20, f),
                hasher: Hasher::new(),
            },
            tmp,
        ))
    }

    fn commit_blob(&self, w: HashingWriter<BufWriter<File>>, tmp: &Path) -> Result<(Digest, u64)> {
        let HashingWriter { mut inner, hasher } = w;
        inner.flush().ctx("writing", tmp)?;
        let (digest, size) = hasher.finish();
        let dest = self.dir.join("blobs").join("sha256").join(digest.hex());
        fs::rename(tmp, &dest).ctx("renaming blob into", &dest)?;
        Ok((digest, size))
    }

    /// Writes a small blob.
    pub fn blob(&self, bytes: &[u8]) -> Result<BlobRef> {
        let digest = Digest::of(bytes);
        let dest = self.dir.join("blobs").join("sha256").join(digest.hex());
        fs::write(&dest, bytes).ctx("writing", &dest)?;
        Ok(BlobRef {
            media_type: String::new(),
            digest,
            size: bytes.len() as u64,
        })
    }

    /// Adds an uncompressed layer holding `files` (parent directories are not added).
    pub fn layer_tar(&mut self, files: &[LayerFile<'_>]) -> Result<&BlobRef> {
        let entries: Vec<(&str, u32, u64, Box<dyn Read + '_>)> = files
            .iter()
            .map(|(p, m, c)| (*p, *m, c.len() as u64, Box::new(*c) as Box<dyn Read>))
            .collect();
        self.layer_stream(entries)
    }

    /// Adds an uncompressed layer whose files are streamed from readers
    /// (`path, mode, size, reader`): no file is held in memory.
    pub fn layer_stream<'r>(&mut self, files: Vec<(&str, u32, u64, Box<dyn Read + 'r>)>) -> Result<&BlobRef> {
        let (w, tmp) = self.blob_writer()?;
        let mut b = tar::Builder::new(w);
        for (path, mode, size, reader) in files {
            let mut h = tar::Header::new_gnu();
            h.set_path(path).map_err(|e| Error::malformed(path, e.to_string()))?;
            h.set_size(size);
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append(&h, reader).ctx("writing layer to", &tmp)?;
        }
        let w = b.into_inner().ctx("finishing layer", &tmp)?;
        let (digest, size) = self.commit_blob(w, &tmp)?;
        Ok(self.push_layer(
            BlobRef {
                media_type: MT_OCI_LAYER_TAR.to_owned(),
                digest,
                size,
            },
            digest,
        ))
    }

    /// Adds a layer blob as given (e.g. a gzip-compressed tar) with its media
    /// type and the digest of its uncompressed content (its diff id).
    pub fn layer_raw(&mut self, bytes: &[u8], media_type: &str, diff_id: Digest) -> Result<&BlobRef> {
        let mut blob = self.blob(bytes)?;
        blob.media_type = media_type.to_owned();
        Ok(self.push_layer(blob, diff_id))
    }

    /// Records a layer whose blob is already in the layout under its digest
    /// (copied there and checked by the caller: `ct build --base` carries a
    /// base image's layers byte for byte, streamed, never held in memory).
    /// Refused when no blob of that size is there.
    pub fn layer_present(&mut self, blob: BlobRef, diff_id: Digest) -> Result<&BlobRef> {
        let p = self.dir.join("blobs").join("sha256").join(blob.digest.hex());
        let size = fs::metadata(&p).ctx("reading metadata of", &p)?.len();
        if size != blob.size {
            return Err(Error::SizeMismatch {
                what: format!("blob {}", blob.digest),
                expected: blob.size,
                actual: size,
            });
        }
        Ok(self.push_layer(blob, diff_id))
    }

    /// Records a layer (in order) and its diff id.
    fn push_layer(&mut self, blob: BlobRef, diff_id: Digest) -> &BlobRef {
        self.diff_ids.push(diff_id);
        let i = self.layers.len();
        self.layers.push(blob);
        &self.layers[i]
    }

    /// Adds an existing uncompressed layer tar (copied, hashed as it streams).
    pub fn layer_from_tar(&mut self, tar_file: &Path) -> Result<&BlobRef> {
        let (mut w, tmp) = self.blob_writer()?;
        let mut src = File::open(tar_file).ctx("opening", tar_file)?;
        io::copy(&mut src, &mut w).ctx("copying layer from", tar_file)?;
        let (digest, size) = self.commit_blob(w, &tmp)?;
        Ok(self.push_layer(
            BlobRef {
                media_type: MT_OCI_LAYER_TAR.to_owned(),
                digest,
                size,
            },
            digest,
        ))
    }

    /// Writes config, manifest, `index.json` and `oci-layout`. `config` is
    /// the image config (its `rootfs.diff_ids` are filled in from the
    /// uncompressed layers). Returns the manifest descriptor.
    pub fn finish(self, config: serde_json::Value, ref_name: Option<&str>) -> Result<BlobRef> {
        let dir = self.dir.clone();
        let m = self.finish_image(config)?;
        let mut desc = serde_json::json!({"mediaType": m.media_type, "digest": m.digest.to_string(), "size": m.size});
        if let Some(r) = ref_name {
            desc["annotations"] = serde_json::json!({ REF_NAME: r });
        }
        write_top_index(&dir, desc)?;
        Ok(m)
    }

    /// Writes config and manifest only (no `index.json`): one platform of
    /// a multi-platform image, which [`write_platform_index`] then lists.
    /// Returns the manifest descriptor.
    pub fn finish_image(self, config: serde_json::Value) -> Result<BlobRef> {
        self.finish_image_annotated(config, None)
    }

    /// [`Self::finish_image`], the manifest carrying `annotations` (an
    /// object of strings, e.g. `org.opencontainers.image.base.digest`).
    pub fn finish_image_annotated(
        self,
        mut config: serde_json::Value,
        annotations: Option<serde_json::Value>,
    ) -> Result<BlobRef> {
        config["rootfs"] = serde_json::json!({
            "type": "layers",
            "diff_ids": self.diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        });
        let mut cfg = self.blob(&jcs::to_vec(&config)?)?;
        cfg.media_type = MT_OCI_CONFIG.to_owned();
        let mut manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": cfg.media_type, "digest": cfg.digest.to_string(), "size": cfg.size},
            "layers": self.layers.iter().map(|l| serde_json::json!({
                "mediaType": l.media_type, "digest": l.digest.to_string(), "size": l.size,
            })).collect::<Vec<_>>(),
        });
        if let Some(a) = annotations {
            manifest["annotations"] = a;
        }
        let manifest = jcs::to_vec(&manifest)?;
        let mut m = self.blob(&manifest)?;
        m.media_type = MT_OCI_MANIFEST.to_owned();
        Ok(m)
    }
}

/// `index.json` naming one descriptor, and `oci-layout`.
fn write_top_index(dir: &Path, desc: serde_json::Value) -> Result<()> {
    let index = jcs::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": [desc]}))?;
    let p = dir.join("index.json");
    fs::write(&p, index).ctx("writing", &p)?;
    let p = dir.join("oci-layout");
    fs::write(&p, OCI_LAYOUT_FILE).ctx("writing", &p)?;
    Ok(())
}

/// Writes an image index blob listing `platforms` (each manifest written by
/// [`LayoutBuilder::finish_image`] into `dir`, with its platform), and an
/// `index.json` naming that index as the image `ref_name`: a
/// multi-platform image, as `docker buildx` or `skopeo copy --all` leave
/// one in a layout. Returns the index descriptor.
pub fn write_platform_index(
    dir: &Path,
    platforms: &[(BlobRef, super::Platform)],
    ref_name: Option<&str>,
) -> Result<BlobRef> {
    let manifests: Vec<serde_json::Value> = platforms
        .iter()
        .map(|(m, p)| {
            let mut platform = serde_json::json!({"os": p.os, "architecture": p.architecture});
            if let Some(v) = &p.variant {
                platform["variant"] = serde_json::json!(v);
            }
            serde_json::json!({
                "mediaType": m.media_type, "digest": m.digest.to_string(), "size": m.size, "platform": platform,
            })
        })
        .collect();
    let bytes = jcs::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": manifests,
    }))?;
    let digest = Digest::of(&bytes);
    let dest = dir.join("blobs").join("sha256").join(digest.hex());
    fs::write(&dest, &bytes).ctx("writing", &dest)?;
    let index = BlobRef {
        media_type: MT_OCI_INDEX.to_owned(),
        digest,
        size: bytes.len() as u64,
    };
    let mut desc = serde_json::json!({"mediaType": MT_OCI_INDEX, "digest": digest.to_string(), "size": index.size});
    if let Some(r) = ref_name {
        desc["annotations"] = serde_json::json!({ REF_NAME: r });
    }
    write_top_index(dir, desc)?;
    Ok(index)
}

/// A minimal image config for `os`/`architecture` running `cmd`.
pub fn platform_config(os: &str, architecture: &str, cmd: &[&str]) -> serde_json::Value {
    let mut c = basic_config(cmd);
    c["os"] = serde_json::json!(os);
    c["architecture"] = serde_json::json!(architecture);
    c
}

/// A minimal image config for `linux/amd64` running `cmd`.
pub fn basic_config(cmd: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
    })
}
