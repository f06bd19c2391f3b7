//! Deterministic bundle writing. The same contents give the same bytes: the
//! member order is fixed, and every header field is a function of the
//! member's path, size and the bundle's mtime.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::sync::Arc;

use super::{blob_path, tlog_proof_path, Bundle, INDEX_PATH, LAYOUT_PATH, MANIFEST_PATH, MAX_TLOG_PROOFS};
use crate::error::{Error, Result};
use crate::hashpool::{HashPool, CHUNK};
use crate::image::source::SourceImage;
use crate::image::{bundle_index, BlobRef, OCI_LAYOUT_FILE};
use crate::pack::MeasuredBlobs;
use crate::rebuild::{Rebuild, MAX_REBUILDS, MAX_REBUILD_SIZE};
use crate::tlog::TlogProof;

/// Everything a bundle holds.
#[derive(Debug)]
pub struct BundleContents<'a> {
    /// Canonical `manifest.toml` bytes.
    pub manifest_toml: Vec<u8>,
    /// `(path, bytes)` of each attestation member.
    pub attestations: Vec<(String, Vec<u8>)>,
    /// `(selinux/<name>.cil, text)` of each SELinux policy module.
    pub selinux: Vec<(String, Vec<u8>)>,
    /// Transparency-log proofs, at most one per log (origin), at most
    /// [`MAX_TLOG_PROOFS`]; written as `transparency/<hex>.tlog-proof`
    /// sorted by path, outside every signed digest.
    pub transparency: Vec<TlogProof>,
    /// Rebuild attestations, at most one per key, at most
    /// [`crate::rebuild::MAX_REBUILDS`]; written as
    /// `rebuilds/<key id>.dsse.json` sorted by path, outside every signed
    /// digest (each is signed by its own key).
    pub rebuilds: Vec<Rebuild>,
    /// The image whose layout is packed.
    pub image: &'a SourceImage,
    /// The mtime of every member.
    pub mtime: u64,
}

/// Writes a bundle to `out`. Blobs are streamed from the source image and
/// hashed on all cores while being written; if any blob does not match its
/// digest the error is returned and `out` must be discarded.
pub fn write_bundle(contents: &BundleContents<'_>, out: &mut dyn Write) -> Result<()> {
    write_impl(contents, Out::Stream(out), None)
}

/// [`write_bundle`], copying the blobs in `measured` without hashing them
/// again while their source is unchanged (see [`MeasuredBlobs`]); a blob
/// whose source changed after it was measured is hashed as it is copied,
/// and one that changes while it is copied is refused (the bytes are gone).
pub(crate) fn write_bundle_measured(
    contents: &BundleContents<'_>,
    out: &mut dyn Write,
    measured: &MeasuredBlobs,
) -> Result<()> {
    write_impl(contents, Out::Stream(out), Some(measured))
}

/// [`write_bundle`] into a file (readable and writable). Blob data is copied
/// by the kernel (`copy_file_range`), and the pool's workers hash what
/// landed in the output file with positioned reads: what is checked is
/// exactly what the bundle holds, and this thread never touches the bytes.
pub fn write_bundle_file(contents: &BundleContents<'_>, out: &mut File) -> Result<()> {
    let written = Arc::new(
        out.try_clone()
            .map_err(|e| Error::io("duplicating handle of", "bundle", e))?,
    );
    write_impl(contents, Out::File(out, written), None)
}

/// [`write_bundle_file`], copying the blobs in `measured` without hashing
/// them again while their source is unchanged (see [`MeasuredBlobs`]): the
/// source's identity is checked when the blob is opened and after it is
/// copied; if it differs either time, the copy in the bundle is hashed and
/// a mismatch refused, as for a blob not measured.
pub(crate) fn write_bundle_file_measured(
    contents: &BundleContents<'_>,
    out: &mut File,
    measured: &MeasuredBlobs,
) -> Result<()> {
    let written = Arc::new(
        out.try_clone()
            .map_err(|e| Error::io("duplicating handle of", "bundle", e))?,
    );
    write_impl(contents, Out::File(out, written), Some(measured))
}

/// Bytes copied per step in file mode.
const SPAN: u64 = 16 << 20;

enum Out<'o> {
    Stream(&'o mut dyn Write),
    File(&'o mut File, Arc<File>),
}

impl Out<'_> {
    fn w(&mut self) -> &mut dyn Write {
        match self {
            Out::Stream(s) => &mut **s,
            Out::File(f, _) => &mut **f,
        }
    }
}

/// The members before the config and layers, which are all held in
/// memory: the package manifest, attestations and SELinux modules (each
/// group sorted by path), the layout marker, the index and the image
/// manifest. Shared by the sequential writer and [`super::Assembly`], so
/// both lay out the same bytes.
pub(super) struct Head<'a> {
    pub manifest_toml: &'a [u8],
    pub attestations: &'a [(String, Vec<u8>)],
    pub selinux: &'a [(String, Vec<u8>)],
    pub transparency: &'a [(String, Vec<u8>)],
    pub rebuilds: &'a [(String, Vec<u8>)],
    pub image: &'a BlobRef,
    pub reference: Option<&'a str>,
    pub manifest_bytes: &'a [u8],
    pub mtime: u64,
}

impl Head<'_> {
    pub(super) fn write(&self, out: &mut dyn Write) -> Result<()> {
        let mtime = self.mtime;
        member(out, MANIFEST_PATH, self.manifest_toml, mtime)?;
        let mut atts: Vec<&(String, Vec<u8>)> = self.attestations.iter().collect();
        atts.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, bytes) in atts {
            member(out, path, bytes, mtime)?;
        }
        let mut modules: Vec<&(String, Vec<u8>)> = self.selinux.iter().collect();
        modules.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, bytes) in modules {
            member(out, path, bytes, mtime)?;
        }
        let mut proofs: Vec<&(String, Vec<u8>)> = self.transparency.iter().collect();
        proofs.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, bytes) in proofs {
            member(out, path, bytes, mtime)?;
        }
        let mut rebuilds: Vec<&(String, Vec<u8>)> = self.rebuilds.iter().collect();
        rebuilds.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, bytes) in rebuilds {
            member(out, path, bytes, mtime)?;
        }
        member(out, LAYOUT_PATH, OCI_LAYOUT_FILE, mtime)?;
        let index = bundle_index(self.image, self.reference)?;
        member(out, INDEX_PATH, &index, mtime)?;
        member(out, &blob_path(&self.image.digest), self.manifest_bytes, mtime)
    }
}

/// The proof members of `proofs`: `(path, bytes)` sorted by path, refusing
/// two proofs from one log (the reader would refuse the duplicate member)
/// and more than [`MAX_TLOG_PROOFS`].
pub(super) fn proof_members(proofs: &[TlogProof]) -> Result<Vec<(String, Vec<u8>)>> {
    if proofs.len() > MAX_TLOG_PROOFS {
        return Err(Error::malformed(
            "bundle",
            format!("{} transparency proofs, more than {MAX_TLOG_PROOFS}", proofs.len()),
        ));
    }
    let mut out: Vec<(String, Vec<u8>)> = proofs
        .iter()
        .map(|p| (tlog_proof_path(p.checkpoint().checkpoint().origin()), p.to_bytes()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::malformed(
            "bundle",
            format!("two transparency proofs from one log ({})", w[0].0),
        ));
    }
    Ok(out)
}

/// The rebuild members of `rebuilds`: `(path, bytes)` sorted by path,
/// refusing two by one key (the reader would refuse the duplicate member),
/// more than [`MAX_REBUILDS`] and one larger than [`MAX_REBUILD_SIZE`].
pub(super) fn rebuild_members(rebuilds: &[Rebuild]) -> Result<Vec<(String, Vec<u8>)>> {
    if rebuilds.len() > MAX_REBUILDS {
        return Err(Error::malformed(
            "bundle",
            format!("{} rebuild attestations, more than {MAX_REBUILDS}", rebuilds.len()),
        ));
    }
    let mut out = Vec::with_capacity(rebuilds.len());
    for r in rebuilds {
        let bytes = r.to_bytes()?;
        if bytes.len() as u64 > MAX_REBUILD_SIZE {
            return Err(Error::malformed(
                &r.path,
                format!(
                    "{} bytes, more than the {MAX_REBUILD_SIZE} a rebuild member may hold",
                    bytes.len()
                ),
            ));
        }
        out.push((r.path.clone(), bytes));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::malformed(
            "bundle",
            format!("two rebuild attestations by one key ({})", w[0].0),
        ));
    }
    Ok(out)
}

/// Rewrites the bundle at `path` (already read as `bundle`) into `out` with
/// `proofs` as its transparency members instead of the ones it had: every
/// other member is the same bytes (the manifest, envelopes and index are
/// canonical, so writing what was read gives them back; blobs are copied
/// from the file and hashed again), so no signed byte changes. Its rebuild
/// members are kept.
pub fn rewrite_proofs_to_file(bundle: &Bundle, path: &Path, proofs: Vec<TlogProof>, out: &mut File) -> Result<()> {
    rewrite_unsigned(bundle, path, proofs, bundle.rebuilds.clone(), out)
}

/// [`rewrite_proofs_to_file`] for the rebuild members: the bundle at `path`
/// (already read as `bundle`) into `out` with `rebuilds` instead of the
/// ones it had, every other member (its proofs included) the same bytes.
pub fn rewrite_rebuilds_to_file(bundle: &Bundle, path: &Path, rebuilds: Vec<Rebuild>, out: &mut File) -> Result<()> {
    let proofs = bundle.transparency.iter().map(|p| p.proof.clone()).collect();
    rewrite_unsigned(bundle, path, proofs, rebuilds, out)
}

/// Adds `rebuild` to the bundle at `path` (already read as `bundle`),
/// replacing the one by the same key if there is one, and writes the result
/// to `dest` atomically (`dest` may be `path`: replaced in place; a reader
/// sees the old bundle or the new one, and a failure leaves `dest` as it
/// was). Nothing signed changes. Synced before it is renamed into place:
/// in place it replaces the only copy.
pub fn add_rebuild_to_file(bundle: &Bundle, path: &Path, rebuild: Rebuild, dest: &Path) -> Result<()> {
    let mut rebuilds: Vec<Rebuild> = bundle
        .rebuilds
        .iter()
        .filter(|r| r.path != rebuild.path)
        .cloned()
        .collect();
    rebuilds.push(rebuild);
    let mut out = crate::file::AtomicFile::create(dest, 0o644)?;
    rewrite_rebuilds_to_file(bundle, path, rebuilds, out.file())?;
    out.commit()
}

/// The bundle at `path` (read as `bundle`) with these unsigned members.
fn rewrite_unsigned(
    bundle: &Bundle,
    path: &Path,
    proofs: Vec<TlogProof>,
    rebuilds: Vec<Rebuild>,
    out: &mut File,
) -> Result<()> {
    let image = SourceImage::open_bundle(path)?;
    if image.manifest != bundle.image {
        return Err(Error::malformed(
            path.display().to_string(),
            "bundle changed while its unsigned members were rewritten",
        ));
    }
    let mut attestations = Vec::with_capacity(bundle.attestations.len());
    for a in &bundle.attestations {
        attestations.push((a.path.clone(), a.envelope.to_bytes()?));
    }
    write_bundle_file(
        &BundleContents {
            manifest_toml: bundle.manifest.to_canonical_toml()?.into_bytes(),
            attestations,
            selinux: bundle.selinux.clone(),
            transparency: proofs,
            rebuilds,
            image: &image,
            mtime: bundle.mtime,
        },
        out,
    )
}

fn write_impl(contents: &BundleContents<'_>, mut out: Out<'_>, measured: Option<&MeasuredBlobs>) -> Result<()> {
    let mtime = contents.mtime;
    let image = contents.image;
    let proofs = proof_members(&contents.transparency)?;
    let rebuilds = rebuild_members(&contents.rebuilds)?;
    Head {
        manifest_toml: &contents.manifest_toml,
        attestations: &contents.attestations,
        selinux: &contents.selinux,
        transparency: &proofs,
        rebuilds: &rebuilds,
        image: &image.manifest,
        reference: image.reference.as_deref(),
        manifest_bytes: &image.manifest_bytes,
        mtime,
    }
    .write(out.w())?;

    let mut pool = HashPool::new();
    let mut expected = Vec::new();
    let mut deferred: Vec<Deferred> = Vec::new();
    for blob in &image.blob_sequence()? {
        let mut src = image.open_blob(blob)?;
        write_all(
            out.w(),
            member_header(&blob_path(&blob.digest), blob.size, mtime)?.as_bytes(),
        )?;
        let vouched = measured.and_then(|m| m.vouch(&blob.digest, &mut src).map(|v| (m, v)));
        if let Some((m, v)) = vouched {
            // Measured from this very source, unchanged since: copied
            // without hashing, then the source is checked again.
            match &mut out {
                Out::File(f, _) => {
                    // Into a file, the kernel copies (copy_file_range) at
                    // explicit offsets, on every core once the headers are
                    // laid out (`copy_vouched` below): the blob's place is
                    // skipped here, its padding written after it.
                    let start = f.stream_position().map_err(|e| Error::io("writing", "bundle", e))?;
                    let end = start.checked_add(blob.size).ok_or_else(|| {
                        Error::malformed("source image", format!("blob {} is too large", blob.digest))
                    })?;
                    f.seek(std::io::SeekFrom::Start(end))
                        .map_err(|e| Error::io("writing", "bundle", e))?;
                    deferred.push(Deferred {
                        digest: blob.digest,
                        size: blob.size,
                        src,
                        vouched: v,
                        at: start,
                    });
                }
                Out::Stream(o) => {
                    let copied = std::io::copy(&mut src, *o)
                        .map_err(|e| Error::io("copying blob", blob.digest.to_string(), e))?;
                    if copied != blob.size {
                        return Err(Error::SizeMismatch {
                            what: format!("source blob {}", blob.digest),
                            expected: blob.size,
                            actual: copied,
                        });
                    }
                    let unchanged = m.still(&v, &src);
                    m.count(unchanged);
                    if !unchanged {
                        // The source changed while it was copied, and a
                        // stream cannot be read back.
                        return Err(Error::malformed(
                            format!("source blob {}", blob.digest),
                            "its file changed while it was copied",
                        ));
                    }
                }
            }
            pad(out.w(), blob.size)?;
            continue;
        }
        if let Some(m) = measured {
            m.count(false);
        }
        let (id, copied) = match &mut out {
            Out::File(f, written) => {
                // Copy in spans; each span is hashed from the output while
                // the next one is copied, so hashing trails copying by one span.
                let start = f.stream_position().map_err(|e| Error::io("writing", "bundle", e))?;
                let job = pool.start(None);
                let mut copied = 0u64;
                loop {
                    let n = std::io::copy(&mut (&mut src).take(SPAN), *f)
                        .map_err(|e| Error::io("copying blob", blob.digest.to_string(), e))?;
                    if n == 0 {
                        break;
                    }
                    pool.feed_span(&job, Arc::clone(written), start + copied, n);
                    copied += n;
                }
                let id = job.id();
                pool.end(job);
                (id, copied)
            }
            Out::Stream(o) => {
                let job = pool.start(None);
                let mut copied = 0u64;
                loop {
                    let mut buf = pool.buffer();
                    buf.resize(CHUNK, 0);
                    let n = crate::file::read_full(&mut src, &mut buf)
                        .map_err(|e| Error::io("reading blob", blob.digest.to_string(), e))?;
                    if n == 0 {
                        break;
                    }
                    buf.truncate(n);
                    copied += n as u64;
                    write_all(*o, &buf)?;
                    pool.feed(&job, buf);
                }
                let id = job.id();
                pool.end(job);
                (id, copied)
            }
        };
        if copied != blob.size {
            return Err(Error::SizeMismatch {
                what: format!("source blob {}", blob.digest),
                expected: blob.size,
                actual: copied,
            });
        }
        pad(out.w(), blob.size)?;
        expected.push((id, blob.digest));
    }
    if let (Out::File(f, written), Some(m)) = (&mut out, measured) {
        for (d, unchanged) in copy_vouched(f, m, std::mem::take(&mut deferred))? {
            m.count(unchanged);
            if !unchanged {
                // The source changed while it was copied: hash what the
                // bundle holds.
                let job = pool.start(None);
                let mut at = 0u64;
                while at < d.size {
                    let n = SPAN.min(d.size - at);
                    pool.feed_span(&job, Arc::clone(written), d.at + at, n);
                    at += n;
                }
                expected.push((job.id(), d.digest));
                pool.end(job);
            }
        }
    }
    let outcomes = pool.finish();
    for (id, want) in expected {
        let got = outcomes
            .get(id)
            .and_then(|o| o.as_ref())
            .ok_or_else(|| Error::malformed("source image", format!("blob {want} was not hashed")))?;
        if let Some(e) = &got.read_error {
            return Err(Error::io(
                "re-reading written blob",
                want.to_string(),
                std::io::Error::new(e.kind(), e.to_string()),
            ));
        }
        if got.digest != want {
            return Err(Error::DigestMismatch {
                what: format!("source blob {want}"),
                expected: want,
                actual: got.digest,
            });
        }
    }
    // End of archive: two zero blocks.
    write_all(out.w(), &[0u8; 1024])?;
    out.w().flush().map_err(|e| Error::io("writing", "bundle", e))
}

/// A measured blob whose place in the output file is laid out and whose
/// bytes are still to be copied there.
struct Deferred {
    digest: crate::digest::Digest,
    size: u64,
    src: std::io::Take<File>,
    vouched: crate::pack::Vouched,
    at: u64,
}

/// Copies the deferred blobs into `out` at their places, with the kernel's
/// `copy_file_range` at explicit offsets (no file position is shared
/// between threads), one worker per core taking the largest blobs first.
/// Each comes back with whether its source is still the one measured
/// (checked after its copy); a copy that comes up short is refused.
fn copy_vouched(out: &File, measured: &MeasuredBlobs, mut jobs: Vec<Deferred>) -> Result<Vec<(Deferred, bool)>> {
    jobs.sort_by_key(|d| std::cmp::Reverse(d.size));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len());
    let queue = std::sync::Mutex::new(jobs.into_iter());
    let next = || queue.lock().ok().and_then(|mut q| q.next());
    let copy_one = |d: Deferred| -> Result<(Deferred, bool)> {
        let mut from = d.vouched.offset();
        let mut to = d.at;
        let mut left = d.size;
        while left > 0 {
            let step = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
            let n = rustix::fs::copy_file_range(d.src.get_ref(), Some(&mut from), out, Some(&mut to), step)
                .map_err(|e| Error::io("copying blob", d.digest.to_string(), e.into()))?;
            if n == 0 {
                return Err(Error::SizeMismatch {
                    what: format!("source blob {}", d.digest),
                    expected: d.size,
                    actual: d.size - left,
                });
            }
            left -= n as u64;
        }
        let unchanged = measured.still(&d.vouched, &d.src);
        Ok((d, unchanged))
    };
    let results: Vec<Result<Vec<(Deferred, bool)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    while let Some(d) = next() {
                        done.push(copy_one(d)?);
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::malformed("bundle", "a blob copy failed")))
            })
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

fn write_all(out: &mut dyn Write, bytes: &[u8]) -> Result<()> {
    out.write_all(bytes).map_err(|e| Error::io("writing", "bundle", e))
}

pub(super) fn pad(out: &mut dyn Write, size: u64) -> Result<()> {
    let rem = (size % 512) as usize;
    if rem == 0 {
        return Ok(());
    }
    write_all(out, &[0u8; 512][..512 - rem])
}

fn member(out: &mut dyn Write, path: &str, bytes: &[u8], mtime: u64) -> Result<()> {
    write_all(out, member_header(path, bytes.len() as u64, mtime)?.as_bytes())?;
    write_all(out, bytes)?;
    pad(out, bytes.len() as u64)
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
