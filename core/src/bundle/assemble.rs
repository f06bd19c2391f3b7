//! A bundle written out of order: for `ct fetch`, whose blobs arrive from
//! the network concurrently and in no particular order.
//!
//! The sequential writer needs each blob in member order; waiting for that
//! order would mean downloading one layer at a time, or staging every layer
//! in a temporary file and copying it again. But every offset of a bundle is
//! a function of the member sizes alone, and those are known as soon as the
//! image manifest is: so [`Assembly::start`] writes the small members and
//! every blob's header at once, sizes the file, and each blob's data is then
//! written straight to its place as it arrives ([`Assembly::write`]), hashed
//! on the pool's workers from the very buffers written. The result is the
//! same file, byte for byte, as [`super::write_bundle`] produces from the
//! same contents (tested), written and hashed once.
//!
//! [`Assembly::finish`] returns the [`Bundle`] only when every blob had
//! exactly its descriptor's size and digest; the rest of the file (headers,
//! padding, small members, end marker) is then read back through the same
//! checks as [`super::read_bundle_file`] applies, skipping only the rehash
//! of the blob data this assembly hashed itself.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::reader::{read_assembled, Bundle};
use super::writer::{member_header, Head};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::hashpool::{HashPool, Job, CHUNK};
use crate::image::{index_blob_sequence, parse_manifest, parse_platform_index, BlobRef, ImageParts, MT_OCI_INDEX};

/// Everything a bundle holds except the config and layer data.
#[derive(Debug, Clone)]
pub struct Skeleton {
    /// Canonical `manifest.toml` bytes.
    pub manifest_toml: Vec<u8>,
    /// `(path, bytes)` of each attestation member.
    pub attestations: Vec<(String, Vec<u8>)>,
    /// `(selinux/<name>.cil, text)` of each SELinux policy module.
    pub selinux: Vec<(String, Vec<u8>)>,
    /// `(transparency/<hex>.tlog-proof, bytes)` of each transparency-log
    /// proof (unsigned members: the reader parses them and checks their
    /// names when the assembled bundle is read back, `verify` checks them).
    pub transparency: Vec<(String, Vec<u8>)>,
    /// `(rebuilds/<key id>.dsse.json, bytes)` of each rebuild attestation
    /// (unsigned by the release, like the proofs: the reader parses them and
    /// checks their names and count when the assembled bundle is read back).
    pub rebuilds: Vec<(String, Vec<u8>)>,
    /// Descriptor of the image manifest.
    pub image: BlobRef,
    /// `org.opencontainers.image.ref.name` of the image, if any.
    pub reference: Option<String>,
    /// The image manifest bytes (checked against `image`).
    pub manifest_bytes: Vec<u8>,
    /// Of a multi-platform image (`image` an image index): the bytes of
    /// each platform manifest the index names, in index order, each checked
    /// against the index's descriptor; empty for a single image.
    pub platform_manifests: Vec<Vec<u8>>,
    /// The mtime of every member.
    pub mtime: u64,
}

/// One config or layer blob: where its data goes and how much has come.
struct Slot {
    blob: BlobRef,
    /// Offset of its data in the bundle.
    offset: u64,
    /// Bytes accepted so far (written or pending).
    received: u64,
    /// Bytes not yet handed to the pool (at most one chunk).
    pending: Vec<u8>,
    /// Its hashing job, started with its first chunk.
    job: Option<Job>,
    /// Whether it is an image config (read and parsed when the bundle is
    /// read back, so never left out by [`Assembly::finish_unpulled`]).
    config: bool,
}

/// A bundle file being filled in; see the module documentation.
pub struct Assembly {
    file: Arc<File>,
    slots: Vec<Slot>,
    pool: HashPool,
    /// Where the blobs come from, for messages ("from 127.0.0.1:5000/app").
    origin: String,
    len: u64,
}

impl std::fmt::Debug for Assembly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assembly")
            .field("blobs", &self.slots.len())
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Writes the chunks of one blob at consecutive offsets (the pool's worker
/// owns it, after hashing each chunk).
struct PositionedWriter {
    file: Arc<File>,
    pos: u64,
}

impl Write for PositionedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write_all_at(buf, self.pos)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn round_up(n: u64) -> u64 {
    n.div_ceil(512) * 512
}

/// What a blob after the top manifest is, to the assembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placed {
    /// Platform manifest `i` of an index: its bytes are known, written at once.
    Manifest(usize),
    /// An image config (a slot, always downloaded).
    Config,
    /// A layer (a slot).
    Layer,
}

/// `bytes` are what descriptor `want` names (size, then digest).
fn check_bytes(what: &str, want: &BlobRef, bytes: &[u8]) -> Result<()> {
    if bytes.len() as u64 != want.size {
        return Err(Error::SizeMismatch {
            what: what.to_owned(),
            expected: want.size,
            actual: bytes.len() as u64,
        });
    }
    let actual = Digest::of(bytes);
    if actual != want.digest {
        return Err(Error::DigestMismatch {
            what: what.to_owned(),
            expected: want.digest,
            actual,
        });
    }
    Ok(())
}

impl Assembly {
    /// Lays the bundle out in `file` (truncated first): everything but the
    /// config and layer data is written now. `origin` names where the blobs
    /// come from, in error messages.
    pub fn start(skeleton: &Skeleton, file: &File, origin: &str) -> Result<Assembly> {
        let image = &skeleton.image;
        let what = format!("image manifest {}", image.digest);
        check_bytes(&what, image, &skeleton.manifest_bytes)?;
        // The config and layer blobs in member order, each with whether it
        // is a config, and the platform manifests (bytes known now) placed
        // among them.
        let mut sequence: Vec<(BlobRef, Placed)> = Vec::new();
        if image.media_type == MT_OCI_INDEX {
            let entries = parse_platform_index(&what, &skeleton.manifest_bytes)?;
            if entries.len() != skeleton.platform_manifests.len() {
                return Err(Error::malformed(
                    &what,
                    format!(
                        "the index names {} platform manifest(s), {} given",
                        entries.len(),
                        skeleton.platform_manifests.len()
                    ),
                ));
            }
            let mut parts = Vec::with_capacity(entries.len());
            for (e, bytes) in entries.iter().zip(&skeleton.platform_manifests) {
                let what = format!("image manifest {} ({})", e.manifest.digest, e.platform);
                check_bytes(&what, &e.manifest, bytes)?;
                parts.push(parse_manifest(&what, bytes, &e.manifest.media_type)?);
            }
            let platforms: Vec<(&BlobRef, &ImageParts)> = entries.iter().map(|e| &e.manifest).zip(&parts).collect();
            for blob in index_blob_sequence(&image.digest, &platforms)? {
                let placed = match entries.iter().position(|e| e.manifest.digest == blob.digest) {
                    Some(i) => Placed::Manifest(i),
                    None if parts.iter().any(|p| p.config.digest == blob.digest) => Placed::Config,
                    None => Placed::Layer,
                };
                sequence.push((blob, placed));
            }
        } else {
            if !skeleton.platform_manifests.is_empty() {
                return Err(Error::malformed(&what, "platform manifests given for a single image"));
            }
            let parts = parse_manifest(&what, &skeleton.manifest_bytes, &image.media_type)?;
            for (i, blob) in parts.blobs().into_iter().enumerate() {
                let placed = if i == 0 { Placed::Config } else { Placed::Layer };
                sequence.push((blob.clone(), placed));
            }
        }

        let mut head = Vec::new();
        Head {
            manifest_toml: &skeleton.manifest_toml,
            attestations: &skeleton.attestations,
            selinux: &skeleton.selinux,
            transparency: &skeleton.transparency,
            rebuilds: &skeleton.rebuilds,
            image,
            reference: skeleton.reference.as_deref(),
            manifest_bytes: &skeleton.manifest_bytes,
            mtime: skeleton.mtime,
        }
        .write(&mut head)?;

        let mut pos = head.len() as u64;
        let mut slots = Vec::new();
        let mut headers = Vec::new();
        let mut known: Vec<(u64, &[u8])> = Vec::new();
        for (blob, placed) in sequence {
            let header = member_header(&super::blob_path(&blob.digest), blob.size, skeleton.mtime)?;
            headers.push((pos, header));
            let size = blob.size;
            match placed {
                Placed::Manifest(i) => {
                    if let Some(bytes) = skeleton.platform_manifests.get(i) {
                        known.push((pos + 512, bytes));
                    }
                }
                Placed::Config | Placed::Layer => slots.push(Slot {
                    blob,
                    offset: pos + 512,
                    received: 0,
                    pending: Vec::new(),
                    job: None,
                    config: placed == Placed::Config,
                }),
            }
            pos = (pos + 512)
                .checked_add(round_up(size))
                .ok_or_else(|| Error::malformed(&what, "blob sizes overflow"))?;
        }
        // Padding and the end-of-archive marker are the zeros of the sized file.
        let len = pos + 1024;
        let io = |e| Error::io("writing", "bundle", e);
        file.set_len(0).map_err(io)?;
        file.set_len(len).map_err(io)?;
        file.write_all_at(&head, 0).map_err(io)?;
        for (at, header) in headers {
            file.write_all_at(header.as_bytes(), at).map_err(io)?;
        }
        for (at, bytes) in known {
            file.write_all_at(bytes, at).map_err(io)?;
        }
        let file = Arc::new(
            file.try_clone()
                .map_err(|e| Error::io("duplicating handle of", "bundle", e))?,
        );
        Ok(Assembly {
            file,
            slots,
            pool: HashPool::new(),
            origin: origin.to_owned(),
            len,
        })
    }

    /// The config and layers still to write, in member order; `write`
    /// takes an index into this list.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobRef> {
        self.slots.iter().map(|s| &s.blob)
    }

    /// The positions (in [`Assembly::blobs`]) of the image configs: one for
    /// a single image, one per platform for an image index. What `ct verify
    /// docker://REF` downloads ([`Assembly::finish_unpulled`] needs them).
    pub fn configs(&self) -> Vec<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.config)
            .map(|(i, _)| i)
            .collect()
    }

    /// The size the bundle file will have.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the bundle has no blob to wait for beyond the manifest.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Bytes of blob `i` accepted so far (where a resumed download starts).
    pub fn received(&self, i: usize) -> u64 {
        self.slots.get(i).map_or(0, |s| s.received)
    }

    /// Appends `data` to blob `i`. More bytes than the blob's descriptor
    /// says are refused here, before any of them is written.
    pub fn write(&mut self, i: usize, data: &[u8]) -> Result<()> {
        let Some(slot) = self.slots.get_mut(i) else {
            return Err(Error::malformed("bundle assembly", format!("no blob number {i}")));
        };
        let new_len = slot.received.saturating_add(data.len() as u64);
        if new_len > slot.blob.size {
            return Err(Error::SizeMismatch {
                what: format!("blob {} {}", slot.blob.digest, self.origin),
                expected: slot.blob.size,
                actual: new_len,
            });
        }
        slot.received = new_len;
        let mut data = data;
        while !data.is_empty() {
            if slot.pending.capacity() == 0 {
                slot.pending = self.pool.buffer();
            }
            let take = (CHUNK - slot.pending.len()).min(data.len());
            slot.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if slot.pending.len() == CHUNK {
                Self::hand_over(&mut self.pool, &self.file, slot);
            }
        }
        Ok(())
    }

    /// Gives the slot's pending bytes to its hashing job (started on first use).
    fn hand_over(pool: &mut HashPool, file: &Arc<File>, slot: &mut Slot) {
        let job = slot.job.get_or_insert_with(|| {
            pool.start(Some(Box::new(PositionedWriter {
                file: Arc::clone(file),
                pos: slot.offset,
            })))
        });
        let chunk = std::mem::take(&mut slot.pending);
        if !chunk.is_empty() {
            pool.feed(job, chunk);
        }
    }

    /// Waits for the last writes and hashes, checks every blob against its
    /// descriptor, then reads the rest of the file back through the
    /// reader's checks. The file is complete and consistent if this
    /// returns; it is not yet verified against any trust store.
    pub fn finish(self) -> Result<Bundle> {
        self.finish_claiming(Vec::new())
    }

    /// [`Assembly::finish`] for a bundle whose layers were not downloaded
    /// (`ct verify docker://REF`): every layer nothing was written for is
    /// taken at its descriptor's word, not read or hashed, and listed in
    /// [`Unpulled::not_pulled`]; the configs ([`Assembly::configs`]) and
    /// every layer any byte was written for are checked as `finish` checks
    /// them.
    /// The result can be verified ([`crate::verify::verify_unpulled`]) but
    /// never stored, committed or run: those take a `Verified<Bundle>`.
    pub fn finish_unpulled(mut self) -> Result<Unpulled> {
        let mut claimed = Vec::new();
        let mut not_pulled = Vec::new();
        let mut kept = Vec::with_capacity(self.slots.len());
        for slot in std::mem::take(&mut self.slots) {
            if !slot.config && slot.received == 0 && slot.blob.size > 0 {
                claimed.push((slot.offset, slot.blob.digest));
                not_pulled.push(slot.blob);
            } else {
                kept.push(slot);
            }
        }
        self.slots = kept;
        let bundle = self.finish_claiming(claimed)?;
        Ok(Unpulled { bundle, not_pulled })
    }

    /// `finish`, the blobs at `claimed` (data offset, digest) aside.
    fn finish_claiming(mut self, mut claimed: Vec<(u64, Digest)>) -> Result<Bundle> {
        let mut ids = Vec::with_capacity(self.slots.len());
        for slot in &mut self.slots {
            Self::hand_over(&mut self.pool, &self.file, slot);
            if let Some(job) = slot.job.take() {
                ids.push(job.id());
                self.pool.end(job);
            }
        }
        let outcomes = self.pool.finish();
        let mut hashed = Vec::with_capacity(self.slots.len());
        for (slot, id) in self.slots.iter().zip(ids) {
            let what = || format!("blob {} {}", slot.blob.digest, self.origin);
            let outcome = outcomes
                .get(id)
                .and_then(|o| o.as_ref())
                .ok_or_else(|| Error::malformed(what(), "was not hashed"))?;
            if let Some(e) = &outcome.sink_error {
                return Err(Error::io(
                    "writing",
                    what(),
                    std::io::Error::new(e.kind(), e.to_string()),
                ));
            }
            if outcome.size != slot.blob.size {
                return Err(Error::SizeMismatch {
                    what: what(),
                    expected: slot.blob.size,
                    actual: outcome.size,
                });
            }
            if outcome.digest != slot.blob.digest {
                return Err(Error::DigestMismatch {
                    what: what(),
                    expected: slot.blob.digest,
                    actual: outcome.digest,
                });
            }
            hashed.push((slot.offset, slot.blob.digest));
        }
        hashed.append(&mut claimed);
        read_assembled(&self.file, &hashed)
    }
}

/// A bundle assembled without its layers ([`Assembly::finish_unpulled`]):
/// its small members, image manifest and config read and checked, its
/// layers known only by the digests the (digest-checked) image manifest
/// gives them.
#[derive(Debug)]
pub struct Unpulled {
    pub(crate) bundle: Bundle,
    /// The layers taken at their descriptors' word, in manifest order.
    pub not_pulled: Vec<BlobRef>,
}

impl Unpulled {
    /// The bundle as assembled (its layers' data never read).
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }
}
