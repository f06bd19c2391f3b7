//! Deterministic bundle writing. The same contents give the same bytes: the
//! member order is fixed, and every header field is a function of the
//! member's path, size and the bundle's mtime.

use std::io::{Read, Write};

use super::{blob_path, INDEX_PATH, LAYOUT_PATH, MANIFEST_PATH};
use crate::error::{Error, Result};
use crate::hashpool::{HashPool, CHUNK};
use crate::image::source::SourceImage;
use crate::image::{bundle_index, OCI_LAYOUT_FILE};

/// Everything a bundle holds.
#[derive(Debug)]
pub struct BundleContents<'a> {
    /// Canonical `manifest.toml` bytes.
    pub manifest_toml: Vec<u8>,
    /// `(path, bytes)` of each attestation member.
    pub attestations: Vec<(String, Vec<u8>)>,
    /// The image whose layout is packed.
    pub image: &'a SourceImage,
    /// The mtime of every member.
    pub mtime: u64,
}

/// Writes a bundle to `out`. Blobs are streamed from the source image and
/// hashed on all cores while being written; if any blob does not match its
/// digest the error is returned and `out` must be discarded.
pub fn write_bundle(contents: &BundleContents<'_>, out: &mut dyn Write) -> Result<()> {
    let mut w = TarWriter {
        out,
        mtime: contents.mtime,
    };
    w.member(MANIFEST_PATH, &contents.manifest_toml)?;
    let mut atts: Vec<&(String, Vec<u8>)> = contents.attestations.iter().collect();
    atts.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, bytes) in atts {
        w.member(path, bytes)?;
    }
    let image = contents.image;
    w.member(LAYOUT_PATH, OCI_LAYOUT_FILE)?;
    w.member(INDEX_PATH, &bundle_index(&image.manifest, image.reference.as_deref())?)?;
    w.member(&blob_path(&image.manifest.digest), &image.manifest_bytes)?;

    let mut pool = HashPool::new();
    let mut expected = Vec::new();
    for blob in image.parts.blobs() {
        let path = blob_path(&blob.digest);
        let mut src = image.open_blob(blob)?;
        w.header(&path, blob.size)?;
        let job = pool.start(None);
        let mut copied = 0u64;
        loop {
            let mut buf = pool.buffer();
            buf.resize(CHUNK, 0);
            let n = read_full(&mut src, &mut buf).map_err(|e| Error::io("reading blob", blob.digest.to_string(), e))?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            copied += n as u64;
            if copied > blob.size {
                break;
            }
            w.out.write_all(&buf).map_err(|e| Error::io("writing", "bundle", e))?;
            pool.feed(&job, buf);
        }
        pool.end(job);
        if copied != blob.size {
            return Err(Error::SizeMismatch {
                what: format!("source blob {}", blob.digest),
                expected: blob.size,
                actual: copied,
            });
        }
        w.pad(blob.size)?;
        expected.push(blob.digest);
    }
    let outcomes = pool.finish();
    for (want, got) in expected.iter().zip(outcomes) {
        let got = got.ok_or_else(|| Error::malformed("source image", format!("blob {want} was not hashed")))?;
        if got.digest != *want {
            return Err(Error::DigestMismatch {
                what: format!("source blob {want}"),
                expected: *want,
                actual: got.digest,
            });
        }
    }
    // End of archive: two zero blocks.
    w.out
        .write_all(&[0u8; 1024])
        .map_err(|e| Error::io("writing", "bundle", e))?;
    w.out.flush().map_err(|e| Error::io("writing", "bundle", e))
}

/// The one header a member at `path` of `size` bytes may have: GNU format,
/// regular file, mode 0644, uid/gid 0, no owner names, the bundle's mtime.
/// The reader compares every header with this, byte for byte.
pub fn member_header(path: &str, size: u64, mtime: u64) -> Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).map_err(|e| Error::malformed(path, e.to_string()))?;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

struct TarWriter<'o> {
    out: &'o mut dyn Write,
    mtime: u64,
}

impl TarWriter<'_> {
    fn header(&mut self, path: &str, size: u64) -> Result<()> {
        let h = member_header(path, size, self.mtime)?;
        self.out
            .write_all(h.as_bytes())
            .map_err(|e| Error::io("writing", "bundle", e))
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.out
                .write_all(&[0u8; 512][..512 - rem])
                .map_err(|e| Error::io("writing", "bundle", e))?;
        }
        Ok(())
    }

    fn member(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.header(path, bytes.len() as u64)?;
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io("writing", "bundle", e))?;
        self.pad(bytes.len() as u64)
    }
}
