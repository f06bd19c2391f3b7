//! `oci` (an OCI image layout directory) and `oci-archive` (a tar of one):
//! the image's blobs exactly as the bundle holds them (so the image digest
//! is the verified one), `oci-layout`, and an `index.json` naming the image
//! with `org.opencontainers.image.ref.name` (the bundle's reference, else
//! the package version), in RFC 8785 form.
//!
//! The archive's entries are sorted (`blobs/`, `blobs/sha256/`, each blob
//! by digest, `index.json`, `oci-layout`), directories 0755 and files 0644,
//! owned by 0:0 with empty owner names, every mtime the export time: the
//! same bundle gives the same bytes.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

use cerro_core::file::AtomicFile;
use cerro_core::image::{bundle_index, OCI_LAYOUT_FILE};
use cerro_core::{Error, Result};

use crate::source::BlobSource;
use crate::{staging_dir_beside, ustar};

/// `index.json` of the exported layout.
fn index(src: &BlobSource<'_>) -> Result<Vec<u8>> {
    let v = src.verified();
    let name = v
        .reference
        .clone()
        .unwrap_or_else(|| v.manifest.package.version.clone());
    bundle_index(&v.image, Some(&name))
}

/// The blob digests of the image, sorted (manifest, config, layers; each once).
fn blobs(src: &BlobSource<'_>) -> Vec<cerro_core::digest::Digest> {
    let v = src.verified();
    let mut all: Vec<_> = std::iter::once(v.image.digest)
        .chain(v.parts.blobs().into_iter().map(|b| b.digest))
        .collect();
    all.sort();
    all.dedup();
    all
}

/// Writes the layout as a directory at `out` (which must not exist): built
/// in a directory beside it and renamed into place once every blob matched.
pub(crate) fn write_dir(src: &BlobSource<'_>, out: &Path) -> Result<()> {
    if out.exists() {
        return Err(Error::OutputExists { path: out.to_owned() });
    }
    let staging = staging_dir_beside(out)?;
    let root = staging.path();
    let blob_dir = root.join("blobs").join("sha256");
    fs::create_dir_all(&blob_dir).map_err(|e| Error::io("creating", &blob_dir, e))?;
    let p = root.join("oci-layout");
    fs::write(&p, OCI_LAYOUT_FILE).map_err(|e| Error::io("writing", p, e))?;
    let p = root.join("index.json");
    fs::write(&p, index(src)?).map_err(|e| Error::io("writing", p, e))?;
    for d in blobs(src) {
        let p = blob_dir.join(d.hex());
        let mut f = fs::File::create(&p).map_err(|e| Error::io("creating", &p, e))?;
        let mut r = src.blob(&d)?;
        std::io::copy(&mut r, &mut f).map_err(|e| r.error(e))?;
        r.finish()?;
        f.sync_all().map_err(|e| Error::io("syncing", &p, e))?;
    }
    let kept = staging.keep();
    fs::rename(&kept, out).map_err(|e| {
        let _ = fs::remove_dir_all(&kept);
        Error::io("renaming the staging directory to", out, e)
    })
}

/// Writes the layout as a tar at `out`, atomically.
pub(crate) fn write_archive(src: &BlobSource<'_>, out: &Path, mtime: u64) -> Result<()> {
    let mut file = AtomicFile::create(out, 0o644)?;
    {
        let mut tar = tar::Builder::new(BufWriter::new(file.file()));
        let io = |e| Error::io("writing", out, e);
        tar.append(&ustar("blobs/", tar::EntryType::Directory, 0o755, 0, mtime)?, &[][..])
            .map_err(io)?;
        tar.append(
            &ustar("blobs/sha256/", tar::EntryType::Directory, 0o755, 0, mtime)?,
            &[][..],
        )
        .map_err(io)?;
        for d in blobs(src) {
            let mut r = src.blob(&d)?;
            let size = r.len();
            let h = ustar(
                &format!("blobs/sha256/{}", d.hex()),
                tar::EntryType::Regular,
                0o644,
                size,
                mtime,
            )?;
            tar.append(&h, &mut r).map_err(|e| r.error(e))?;
            r.finish()?;
        }
        let index = index(src)?;
        tar.append(
            &ustar("index.json", tar::EntryType::Regular, 0o644, index.len() as u64, mtime)?,
            index.as_slice(),
        )
        .map_err(io)?;
        tar.append(
            &ustar(
                "oci-layout",
                tar::EntryType::Regular,
                0o644,
                OCI_LAYOUT_FILE.len() as u64,
                mtime,
            )?,
            OCI_LAYOUT_FILE,
        )
        .map_err(io)?;
        let mut w = tar.into_inner().map_err(io)?;
        w.flush().map_err(io)?;
    }
    file.commit()
}
