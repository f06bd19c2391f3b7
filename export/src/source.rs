//! The bytes of a verified bundle, read back from its file.
//!
//! [`cerro_core::verify::verify`] returns a [`Verified<Bundle>`] holding the
//! bundle's metadata, not its blobs: the layers stay in the file. An
//! exporter reads them again, and what it reads must be what was verified,
//! not whatever the file holds by now (it may have been swapped or edited
//! since). A bundle is canonical (spec/bundle-format.md: every header fixed
//! by path, size and mtime, members in a fixed order, no byte outside a
//! member unaccounted for), so the verified member list gives every
//! member's offset; each header is compared with the canonical one there,
//! and every blob is hashed as it is read and compared with its verified
//! digest ([`BlobReader`]). The exporters write only into temporary files
//! and commit them after every blob they read has matched: a bundle changed
//! after verification leaves nothing at the output.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use cerro_core::bundle::{member_header, Bundle, BLOB_PREFIX};
use cerro_core::digest::{Digest, Hasher};
use cerro_core::verify::Verified;
use cerro_core::{Error, Result};

/// A bundle file opened for export, tied to the verification of it.
pub(crate) struct BlobSource<'v> {
    file: File,
    verified: &'v Verified<Bundle>,
    /// Told the blob bytes read, as they are read (a progress bar).
    progress: &'v Progress<'v>,
    /// Blob digest → (offset of its data in the file, size).
    blobs: HashMap<Digest, (u64, u64)>,
}

/// Told the number of bytes read, as they are read.
pub type Progress<'a> = dyn Fn(u64) + Sync + 'a;

impl std::fmt::Debug for BlobSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobSource").field("blobs", &self.blobs.len()).finish()
    }
}

impl<'v> BlobSource<'v> {
    /// Opens `path` (a regular file, without blocking) as the bundle
    /// `verified` was read from: every member header sits where the
    /// verified member list puts it and is the canonical one.
    pub(crate) fn open(path: &Path, verified: &'v Verified<Bundle>, progress: &'v Progress<'v>) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            // A FIFO named as a bundle cannot hang the export (the host
            // service's `open_regular` rule).
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Error::io("opening", path, e))?;
        let ty = file
            .metadata()
            .map_err(|e| Error::io("reading the metadata of", path, e))?
            .file_type();
        if !ty.is_file() {
            return Err(Error::NotRegularFile {
                path: path.to_owned(),
                what: "not a regular file",
            });
        }
        let mut blobs = HashMap::new();
        let mut pos = 0u64;
        let mut header = [0u8; 512];
        for m in &verified.members {
            let want = member_header(&m.path, m.size, verified.mtime)?;
            file.read_exact_at(&mut header, pos)
                .map_err(|e| Error::io("reading", path, e))?;
            if header != *want.as_bytes() {
                return Err(changed(path, &format!("the header of {} differs", m.path)));
            }
            let data = pos + 512;
            if let Some(hex) = m.path.strip_prefix(BLOB_PREFIX) {
                let d = Digest::from_hex(hex).ok_or_else(|| Error::malformed(&m.path, "not a blob path"))?;
                blobs.insert(d, (data, m.size));
            }
            pos = data + m.size.div_ceil(512) * 512;
        }
        Ok(BlobSource {
            file,
            verified,
            progress,
            blobs,
        })
    }

    /// The verified bundle.
    pub(crate) fn verified(&self) -> &'v Verified<Bundle> {
        self.verified
    }

    /// A reader of the blob `digest`, which fails rather than end unless
    /// the bytes it gave hash to `digest`.
    pub(crate) fn blob(&self, digest: &Digest) -> Result<BlobReader<'_>> {
        let (offset, size) = *self
            .blobs
            .get(digest)
            .ok_or_else(|| Error::malformed("bundle", format!("no blob {digest} among the verified members")))?;
        Ok(BlobReader {
            file: &self.file,
            progress: self.progress,
            pos: offset,
            end: offset + size,
            expected: *digest,
            hasher: Hasher::new(),
            verdict: None,
        })
    }

    /// The whole blob `digest`, at most `limit` bytes (manifest, config).
    pub(crate) fn small_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let mut r = self.blob(digest)?;
        if r.end - r.pos > limit {
            return Err(Error::malformed(
                format!("blob {digest}"),
                format!("larger than the {limit} bytes read whole"),
            ));
        }
        let mut out = Vec::with_capacity((r.end - r.pos) as usize);
        r.read_to_end(&mut out).map_err(|e| r.error(e))?;
        r.finish()?;
        Ok(out)
    }
}

fn changed(path: &Path, why: &str) -> Error {
    Error::malformed(
        path.display().to_string(),
        format!("changed after it was verified ({why}): nothing exported"),
    )
}

/// A verified blob, read by position from the bundle file and hashed as it
/// is read. At its end the digest is compared: a mismatch is an I/O error
/// to the consumer (so nothing reads a changed blob to a clean end) and
/// [`BlobReader::finish`] / [`BlobReader::error`] report it as the
/// [`Error::DigestMismatch`] it is.
pub(crate) struct BlobReader<'f> {
    file: &'f File,
    progress: &'f Progress<'f>,
    pos: u64,
    end: u64,
    expected: Digest,
    hasher: Hasher,
    verdict: Option<Digest>,
}

impl std::fmt::Debug for BlobReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader").field("expected", &self.expected).finish()
    }
}

impl BlobReader<'_> {
    /// The error to report for an I/O error `e` met while consuming this
    /// reader: the digest mismatch if that is what it was.
    pub(crate) fn error(&self, e: std::io::Error) -> Error {
        match self.verdict {
            Some(actual) if actual != self.expected => self.mismatch(actual),
            _ => Error::io("reading", format!("blob {}", self.expected), e),
        }
    }

    fn mismatch(&self, actual: Digest) -> Error {
        Error::DigestMismatch {
            what: format!("blob {} (read back after verification)", self.expected),
            expected: self.expected,
            actual,
        }
    }

    /// Bytes left to read.
    pub(crate) fn len(&self) -> u64 {
        self.end - self.pos
    }

    /// Reads what is left and checks the digest.
    pub(crate) fn finish(mut self) -> Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match self.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(self.error(e)),
            }
        }
        match self.verdict {
            Some(d) if d == self.expected => Ok(()),
            Some(d) => Err(self.mismatch(d)),
            None => Err(Error::malformed(
                format!("blob {}", self.expected),
                "not read to its end",
            )),
        }
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.end {
            let d = match self.verdict {
                Some(d) => d,
                None => {
                    let d = std::mem::take(&mut self.hasher).finish().0;
                    self.verdict = Some(d);
                    d
                }
            };
            if d != self.expected {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("blob {} changed after verification", self.expected),
                ));
            }
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.end - self.pos).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the bundle file is shorter than when it was verified",
            ));
        }
        self.hasher.update(&buf[..n]);
        self.pos += n as u64;
        (self.progress)(n as u64);
        Ok(n)
    }
}
