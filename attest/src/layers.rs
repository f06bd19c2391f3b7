//! Reading an image's layers without extracting them: every regular file
//! with its SHA-256 (and SHA-1 when the SBOM format needs it: SPDX 2.3
//! does), the package databases, and each layer's digest and diff_id.
//!
//! Each layer is read once, in one streaming pass (no layer is ever held in
//! memory): the blob bytes are hashed as they are read (its digest), then
//! decompressed and walked as a tar, each file's SHA-256 (and SHA-1)
//! computed and the package databases picked up as they stream by; a
//! compressed layer's decompressed stream is hashed too (its diff_id; an
//! uncompressed layer's diff_id is its digest). Several layers are read at
//! once, one per core, largest first, each pass on one thread over blocks
//! small enough to stay in that core's cache through all its hashes. A
//! layer larger than its core's share of the image (a one-layer image) is
//! instead spread over the cores: an uncompressed one by file (the reading
//! thread walks the headers, workers hash the bodies from the chunks read:
//! [`split`]), a compressed one in stages on threads of their own (read,
//! decompress and parse, hash), joined by bounded channels. The reader's measure of each blob
//! (digest and source identity, `cerro_core::pack::MeasuredBlobs`) travels
//! with the diff_ids, so the bundle writer copies an unchanged blob without
//! hashing it again. Whiteouts are applied in layer order, as a runtime
//! would.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

use sha1::{Digest as _, Sha1};

use super::packages::{os_release, parse_apk_installed, parse_dpkg_status, parse_rpmdb_sqlite, OsPackage};
use cerro_core::digest::{Digest, Hasher};
use cerro_core::image::source::SourceImage;
use cerro_core::image::BlobRef;
use cerro_core::pack::{BlobMeter, LayerDiffIds, MeasuredBlob, MeasuredBlobs};
use cerro_core::{Error, Result};

mod split;

/// Largest package database or os-release file read into memory.
const MAX_DB: u64 = 64 << 20;

/// Bytes read from a layer blob per step when the pass is split into
/// stages: small, so a chunk handed to the next stage is still in the
/// shared cache when it is read there (1 MiB chunks cost 10 % more CPU on
/// the Debian image; bench/README.md).
const CHUNK: usize = 128 << 10;

/// Bytes a hashing lane receives per message (file data, decompressed data).
const BLOCK: usize = 64 << 10;

/// Bytes read and hashed per step when a layer's whole pass runs on one
/// thread: small enough that a block stays in the core's L2 cache through
/// the three hashes of it (blob SHA-256, file SHA-256, file SHA-1).
const INLINE_BLOCK: usize = 128 << 10;

/// Messages in flight between two stages of a layer's pass: memory stays
/// bounded (under a MiB per layer being read) whatever the layer's size.
const DEPTH: usize = 4;

/// Which digests of every file the SBOM needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileDigests {
    /// SHA-256 only (CycloneDX).
    Sha256,
    /// SHA-256 and SHA-1 (SPDX 2.3 requires SHA-1 for every file).
    Sha256AndSha1,
}

/// A regular file of the image's final filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path without a leading `/` or `./`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: Digest,
    /// SHA-1 of the content, lowercase hex ([`FileDigests::Sha256AndSha1`] only).
    pub sha1: Option<String>,
}

/// What an SBOM is made from.
#[derive(Debug, Clone)]
pub struct ImageContents {
    /// Regular files of the final filesystem, sorted by path.
    pub files: Vec<FileEntry>,
    /// Installed packages, sorted.
    pub packages: Vec<OsPackage>,
    /// os-release `ID` (e.g. `debian`, `alpine`).
    pub distro: Option<String>,
    /// os-release `VERSION_ID`.
    pub distro_version: Option<String>,
    /// Every layer's diff_id, measured in the same pass.
    pub diff_ids: LayerDiffIds,
}

/// Files whose content is kept (package databases, os-release).
fn interesting(path: &str) -> bool {
    matches!(
        path,
        "var/lib/dpkg/status"
            | "lib/apk/db/installed"
            | "etc/os-release"
            | "usr/lib/os-release"
            | "var/lib/rpm/rpmdb.sqlite"
            | "usr/lib/sysimage/rpm/rpmdb.sqlite"
    ) || (path.starts_with("var/lib/dpkg/status.d/") && !path.ends_with(".md5sums"))
}

/// A file as the parser found it, with its digests or where they will be.
#[derive(Debug, Clone)]
enum Found {
    /// SHA-256 known; its SHA-1 is the `sha1`-th digest of the layer's
    /// SHA-1 lane, known once the lane has finished.
    Hashed {
        size: u64,
        sha256: Digest,
        sha1: Option<usize>,
    },
    /// Both digests (and the size hashed) are in slot `slot` of the split
    /// pass's results ([`split`]).
    Slot(usize),
}

#[derive(Default)]
struct LayerScan {
    diff_id: Option<Digest>,
    /// The blob, as the reader measured it (the writer need not hash it again).
    measured: Option<MeasuredBlob>,
    deleted: Vec<String>,
    opaque: Vec<String>,
    files: BTreeMap<String, FileEntry>,
    kept: BTreeMap<String, Vec<u8>>,
}

fn normalise(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let s = s.trim_start_matches("./").trim_start_matches('/');
    s.trim_end_matches('/').to_owned()
}

/// How a layer's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

fn compression(blob: &BlobRef) -> Result<Compression> {
    let mt = blob.media_type.as_str();
    if mt.ends_with("+gzip") || mt.ends_with(".tar.gzip") {
        Ok(Compression::Gzip)
    } else if mt.ends_with("+zstd") {
        Ok(Compression::Zstd)
    } else if mt.ends_with(".tar") {
        Ok(Compression::None)
    } else {
        Err(Error::malformed(
            format!("layer {}", blob.digest),
            format!("cannot read layers of media type {mt}"),
        ))
    }
}

/// One message of a layer's blob to its parser: a chunk, or the read error
/// that ended the blob early.
type Chunk = std::io::Result<Vec<u8>>;

/// The parser's end of the channel from the blob reader: a buffered reader
/// over the chunks as they come, each given back for reuse once consumed.
struct ChanReader {
    rx: Receiver<Chunk>,
    back: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}

impl ChanReader {
    fn new(rx: Receiver<Chunk>, back: Sender<Vec<u8>>) -> Self {
        ChanReader {
            rx,
            back,
            cur: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

impl BufRead for ChanReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.pos >= self.cur.len() && !self.done {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.cur, chunk);
                    // The reader may have stopped (it has read the whole blob).
                    let _ = self.back.send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => self.done = true,
            }
        }
        Ok(self.cur.get(self.pos..).unwrap_or_default())
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.cur.len());
    }
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// What a hashing lane is sent: bytes, and the offsets in them where an
/// item (a file) ends. Small files are batched many to a message, so a
/// layer of thousands of small files costs a few hundred messages, not a
/// few per file.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    cuts: Vec<usize>,
}

/// The sending side of a lane, batching up to [`CHUNK`] bytes or
/// [`MAX_CUTS`] items per message; the lane gives the buffers back for
/// reuse (no fresh allocation, so no page faults, per message).
struct LaneSender {
    tx: SyncSender<Batch>,
    back: Receiver<Vec<u8>>,
    batch: Batch,
}

/// Items per batch at most (empty files add no bytes).
const MAX_CUTS: usize = 4096;

impl LaneSender {
    fn data(&mut self, bytes: &[u8]) {
        if self.batch.data.capacity() == 0 {
            self.batch.data = self.back.try_recv().unwrap_or_default();
            self.batch.data.clear();
            self.batch.data.reserve(CHUNK.max(bytes.len()));
        }
        self.batch.data.extend_from_slice(bytes);
        if self.batch.data.len() >= CHUNK {
            self.flush();
        }
    }

    fn cut(&mut self) {
        self.batch.cuts.push(self.batch.data.len());
        if self.batch.cuts.len() >= MAX_CUTS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.data.is_empty() && self.batch.cuts.is_empty() {
            return;
        }
        // A lane that hung up has failed; its join reports it.
        let _ = self.tx.send(std::mem::take(&mut self.batch));
    }
}

impl Drop for LaneSender {
    fn drop(&mut self) {
        self.flush();
    }
}

/// A hash a lane computes.
trait LaneHash: Default {
    type Out: Send;
    fn feed(&mut self, bytes: &[u8]);
    fn done(self) -> Self::Out;
}

impl LaneHash for Hasher {
    type Out = Digest;
    fn feed(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
    fn done(self) -> Digest {
        self.finish().0
    }
}

#[derive(Default)]
struct Sha1Hex(Sha1);

impl LaneHash for Sha1Hex {
    type Out = String;
    fn feed(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn done(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// A hashing lane's loop: one digest per `Cut`, in order, and a last one
/// of what came after the last `Cut` when the sender hangs up (a lane that
/// hashes one stream is never cut: its digest is the only one).
fn lane<H: LaneHash>(rx: Receiver<Batch>, back: Sender<Vec<u8>>) -> Vec<H::Out> {
    let mut out = Vec::new();
    let mut h = H::default();
    for batch in rx {
        let mut at = 0;
        for cut in batch.cuts {
            h.feed(batch.data.get(at..cut).unwrap_or_default());
            out.push(std::mem::take(&mut h).done());
            at = cut;
        }
        h.feed(batch.data.get(at..).unwrap_or_default());
        // The sender may be gone (the layer ended).
        let _ = back.send(batch.data);
    }
    out.push(h.done());
    out
}

/// Where a stream of items is hashed: on a lane thread of its own (one
/// layer read alone, spread over the cores), or right here, on the bytes
/// the parser has just touched (several layers read at once, one per core:
/// the bytes are hashed while they are still in this core's cache, which
/// on this machine kind makes each hash about 1.7× faster than hashing
/// them again after a hand-over; see bench/README.md).
enum Lane<'s, H: LaneHash> {
    Thread(LaneSender, std::thread::ScopedJoinHandle<'s, Vec<H::Out>>),
    Inline(H, Vec<H::Out>),
}

impl<'s, H: LaneHash + 's> Lane<'s, H> {
    /// A lane on a thread of `s`, or inline.
    fn start(s: &'s std::thread::Scope<'s, '_>, inline: bool) -> Self {
        if inline {
            Lane::Inline(H::default(), Vec::new())
        } else {
            let (tx, h) = spawn_lane::<H>(s);
            Lane::Thread(tx, h)
        }
    }

    fn data(&mut self, bytes: &[u8]) {
        match self {
            Lane::Thread(tx, _) => tx.data(bytes),
            Lane::Inline(h, _) => h.feed(bytes),
        }
    }

    fn cut(&mut self) {
        match self {
            Lane::Thread(tx, _) => tx.cut(),
            Lane::Inline(h, out) => out.push(std::mem::take(h).done()),
        }
    }

    /// One digest per cut and a last one of what came after the last cut,
    /// as [`lane`] gives; `None` if the lane's thread failed.
    fn finish(self) -> Option<Vec<H::Out>> {
        match self {
            Lane::Thread(tx, h) => {
                drop(tx);
                h.join().ok()
            }
            Lane::Inline(h, mut out) => {
                out.push(h.done());
                Some(out)
            }
        }
    }
}

/// Starts a hashing lane on `s`: its sender, and its handle.
fn spawn_lane<'s, H: LaneHash + 's>(
    s: &'s std::thread::Scope<'s, '_>,
) -> (LaneSender, std::thread::ScopedJoinHandle<'s, Vec<H::Out>>) {
    let (tx, rx) = sync_channel(DEPTH);
    let (back_tx, back_rx) = channel();
    let handle = s.spawn(move || lane::<H>(rx, back_tx));
    (
        LaneSender {
            tx,
            back: back_rx,
            batch: Batch::default(),
        },
        handle,
    )
}

/// Reads a decompressor in blocks, sends a copy of each block to the
/// diff_id lane, and serves them to the tar parser.
struct Tee<'l, 's, R> {
    inner: R,
    lane: &'l mut Lane<'s, Hasher>,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
}

impl<R: Read> BufRead for Tee<'_, '_, R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos >= self.len {
            self.len = self.inner.read(&mut self.buf)?;
            self.pos = 0;
            if self.len > 0 {
                self.lane.data(&self.buf[..self.len]);
            }
        }
        Ok(&self.buf[self.pos..self.len])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }
}

impl<R: Read> Read for Tee<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// What the parser does with a layer's bytes.
#[derive(Debug, Clone, Copy)]
enum Pass {
    /// Measure the diff_id only (`--no-sbom`).
    DiffId,
    /// Walk the tar and digest every file.
    Files(FileDigests),
}

/// One layer's pass: this thread reads the blob once through a
/// [`BlobMeter`], which hashes it (the digest must match, or the layer is
/// not described, whatever else is wrong with it) and records its source
/// for the bundle writer. `inline`: the parser and every hash run on this
/// thread, over each block while it is in this core's cache (the other
/// cores read other layers); otherwise (a layer read alone) an uncompressed
/// layer's files are spread over the cores ([`split_layer`]), and a
/// compressed layer's parser and hashing lanes run on threads of their own
/// over the same chunks.
/// Returns the parser's result only for a layer that is the one named.
fn read_layer(
    image: &SourceImage,
    blob: &BlobRef,
    pass: Pass,
    inline: bool,
    progress: &Progress<'_>,
) -> Result<LayerScan> {
    let what = format!("layer {}", blob.digest);
    let comp = compression(blob)?;
    let mut raw = BlobMeter::open(image, blob, &what)?;
    if let (Compression::None, Pass::Files(digests), false) = (comp, pass, inline) {
        let parsed = split_layer(&what, &mut raw, digests, progress);
        // The blob is hashed to its end whatever the walk did.
        let mut rest = Counted {
            inner: &mut raw,
            progress,
        };
        std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| Error::io("reading", &what, e))?;
        return finish_layer(raw, comp, parsed);
    }
    if inline {
        let parsed = parse_layer(
            blob,
            comp,
            std::io::BufReader::with_capacity(
                INLINE_BLOCK,
                Counted {
                    inner: &mut raw,
                    progress,
                },
            ),
            pass,
            inline,
        );
        // The blob is hashed to its end whatever the parser did (it stops
        // at the tar's end, or at an error).
        let mut rest = Counted {
            inner: &mut raw,
            progress,
        };
        std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| Error::io("reading", &what, e))?;
        return finish_layer(raw, comp, parsed);
    }
    let (tx, rx) = sync_channel::<Chunk>(DEPTH);
    let (back_tx, back_rx) = channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let parser = s.spawn(|| parse_layer(blob, comp, ChanReader::new(rx, back_tx), pass, false));
        let mut tx = Some(tx);
        let mut read_error = None;
        loop {
            let mut buf = back_rx.try_recv().unwrap_or_default();
            buf.resize(CHUNK, 0);
            match cerro_core::file::read_full(&mut raw, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    progress(n as u64);
                    // A parser that stopped (an error, or the end of the
                    // tar) takes nothing more; the blob is still hashed to
                    // its end.
                    if tx.as_ref().is_some_and(|t| t.send(Ok(buf)).is_err()) {
                        tx = None;
                    }
                }
                Err(e) => {
                    if let Some(t) = tx.take() {
                        let _ = t.send(Err(std::io::Error::new(e.kind(), e.to_string())));
                    }
                    read_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let parsed = parser
            .join()
            .unwrap_or_else(|_| Err(Error::malformed(&what, "the layer parser failed")));
        if let Some(e) = read_error {
            return Err(Error::io("reading", &what, e));
        }
        finish_layer(raw, comp, parsed)
    })
}

/// The end of one layer's pass: the digest of every byte read (the meter
/// hashed them as they were read), checked before anything else about the
/// layer, then the parser's result.
fn finish_layer(raw: BlobMeter, comp: Compression, parsed: Result<LayerScan>) -> Result<LayerScan> {
    let measured = raw.finish()?;
    let mut scan = parsed?;
    if comp == Compression::None {
        // An uncompressed layer is its own diff_id: measured just above.
        scan.diff_id = Some(measured.digest());
    }
    scan.measured = Some(measured);
    Ok(scan)
}

/// A reader that tells `progress` how many bytes it read.
struct Counted<'r, 'p, R> {
    inner: &'r mut R,
    progress: &'r Progress<'p>,
}

impl<R: Read> Read for Counted<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

/// The parser's side of one layer's pass: decompresses (the diff_id lane
/// hashes what comes out), walks the tar, hashes every regular file (its
/// SHA-1 on a lane of its own, or inline) and keeps the package databases.
fn parse_layer<R: BufRead + Send>(
    blob: &BlobRef,
    comp: Compression,
    raw: R,
    pass: Pass,
    inline: bool,
) -> Result<LayerScan> {
    let what = format!("layer {}", blob.digest);
    let block = if inline { INLINE_BLOCK } else { BLOCK };
    std::thread::scope(|s| {
        let mut diff_lane = (comp != Compression::None).then(|| Lane::<Hasher>::start(s, inline));
        let mut sha1_lane =
            matches!(pass, Pass::Files(FileDigests::Sha256AndSha1)).then(|| Lane::<Sha1Hex>::start(s, inline));
        let walked = {
            let reader: Box<dyn BufRead + Send + '_> = match (comp, diff_lane.as_mut()) {
                (Compression::None, _) | (_, None) => Box::new(raw),
                (Compression::Gzip, Some(lane)) => Box::new(Tee {
                    inner: flate2::bufread::MultiGzDecoder::new(raw),
                    lane,
                    buf: vec![0; block],
                    pos: 0,
                    len: 0,
                }),
                (Compression::Zstd, Some(lane)) => Box::new(Tee {
                    inner: zstd::stream::read::Decoder::with_buffer(raw)
                        .map_err(|e| Error::malformed(&what, format!("zstd: {e}")))?,
                    lane,
                    buf: vec![0; block],
                    pos: 0,
                    len: 0,
                }),
            };
            match pass {
                Pass::DiffId => {
                    let mut reader = reader;
                    std::io::copy(&mut reader, &mut std::io::sink())
                        .map(|_| (LayerScan::default(), BTreeMap::new()))
                        .map_err(|e| Error::malformed(&what, format!("decompressing: {e}")))
                }
                Pass::Files(_) => {
                    let mut ar = tar::Archive::new(reader);
                    let mut bodies = ReadBodies {
                        sha1: sha1_lane.as_mut(),
                        cuts: 0,
                        buf: vec![0u8; block],
                    };
                    let walked = ar
                        .entries()
                        .map_err(|e| Error::malformed(&what, format!("not a tar: {e}")))
                        .and_then(|entries| walk(&what, entries, &mut bodies));
                    drop(bodies);
                    if walked.is_ok() && comp != Compression::None {
                        // The diff_id covers the whole uncompressed stream,
                        // past the tar's end-of-archive blocks. (An
                        // uncompressed layer's diff_id is its digest, which
                        // the blob reader hashes to the end itself.)
                        std::io::copy(&mut ar.into_inner(), &mut std::io::sink())
                            .map_err(|e| Error::malformed(&what, format!("decompressing: {e}")))?;
                    }
                    walked
                }
            }
        };
        // The reader is gone: the lanes finish.
        let diff_id = match diff_lane {
            Some(lane) => Some(lane_digest(&what, lane.finish(), 0)?),
            None => None,
        };
        let sha1s = match sha1_lane {
            Some(lane) => Some(
                lane.finish()
                    .ok_or_else(|| Error::malformed(&what, "the SHA-1 lane failed"))?,
            ),
            None => None,
        };
        let (mut scan, found) = walked?;
        scan.files = resolve(&what, found, sha1s.as_deref(), &[])?;
        scan.diff_id = diff_id;
        Ok(scan)
    })
}

/// One uncompressed layer read alone, spread over the cores by file
/// ([`split`]): the parser's result (the caller reads `raw` to its end and
/// checks its digest first).
fn split_layer(what: &str, raw: &mut BlobMeter, digests: FileDigests, progress: &Progress<'_>) -> Result<LayerScan> {
    let sha1 = digests == FileDigests::Sha256AndSha1;
    let (walked, slots, _) = split::run(raw, sha1, progress, |chunked| {
        let mut ar = tar::Archive::new(split::Shared(chunked));
        let entries = ar
            .entries_with_seek()
            .map_err(|e| Error::malformed(what, format!("not a tar: {e}")))?;
        walk(what, entries, &mut SplitBodies(chunked))
    })
    .map_err(|e| Error::io("reading", what, e))?;
    let (mut scan, found) = walked?;
    scan.files = resolve(what, found, None, &slots)?;
    Ok(scan)
}

/// Every file's entry, its digests found where the walk left them.
fn resolve(
    what: &str,
    found: BTreeMap<String, Found>,
    sha1s: Option<&[String]>,
    slots: &[Option<split::Digests>],
) -> Result<BTreeMap<String, FileEntry>> {
    let mut files = BTreeMap::new();
    for (path, f) in found {
        let unhashed = || Error::malformed(what, format!("{path} was not hashed"));
        let entry = match f {
            Found::Hashed { size, sha256, sha1 } => {
                let sha1 = match (sha1, sha1s) {
                    (None, _) => None,
                    (Some(i), Some(all)) => Some(all.get(i).cloned().ok_or_else(unhashed)?),
                    (Some(_), None) => return Err(unhashed()),
                };
                FileEntry {
                    path: path.clone(),
                    size,
                    sha256,
                    sha1,
                }
            }
            Found::Slot(i) => {
                let d = slots.get(i).and_then(Option::as_ref).ok_or_else(unhashed)?;
                FileEntry {
                    path: path.clone(),
                    size: d.size,
                    sha256: d.sha256,
                    sha1: d.sha1.clone(),
                }
            }
        };
        files.insert(path, entry);
    }
    Ok(files)
}

/// The digest of a finished lane.
fn lane_digest(what: &str, all: Option<Vec<Digest>>, i: usize) -> Result<Digest> {
    all.and_then(|v| v.get(i).copied())
        .ok_or_else(|| Error::malformed(what, "the diff_id lane failed"))
}

/// Where the walker has the regular files' bodies hashed.
trait Bodies<R: Read> {
    /// Hashes the body of `entry`, a regular file the walker does not keep.
    fn body(&mut self, what: &str, path: &str, entry: &mut tar::Entry<'_, R>) -> Result<Found>;
    /// Hashes a kept file, already read.
    fn kept(&mut self, bytes: &[u8]) -> Found;
}

/// Bodies read through the tar reader: SHA-256 here, SHA-1 on its lane
/// (a thread of its own, or inline).
struct ReadBodies<'l, 's> {
    sha1: Option<&'l mut Lane<'s, Sha1Hex>>,
    cuts: usize,
    buf: Vec<u8>,
}

impl ReadBodies<'_, '_> {
    fn hashed(&mut self, size: u64, sha256: Digest) -> Found {
        let sha1 = self.sha1.as_deref_mut().map(|lane| {
            lane.cut();
            self.cuts += 1;
            self.cuts - 1
        });
        Found::Hashed { size, sha256, sha1 }
    }
}

impl<R: Read> Bodies<R> for ReadBodies<'_, '_> {
    fn body(&mut self, what: &str, path: &str, entry: &mut tar::Entry<'_, R>) -> Result<Found> {
        let mut s256 = Hasher::new();
        loop {
            let n = entry
                .read(&mut self.buf)
                .map_err(|e| Error::malformed(what, format!("reading {path}: {e}")))?;
            if n == 0 {
                break;
            }
            let bytes = self.buf.get(..n).unwrap_or_default();
            s256.update(bytes);
            if let Some(lane) = self.sha1.as_deref_mut() {
                lane.data(bytes);
            }
        }
        let (sha256, size) = s256.finish();
        Ok(self.hashed(size, sha256))
    }

    fn kept(&mut self, bytes: &[u8]) -> Found {
        let mut s256 = Hasher::new();
        s256.update(bytes);
        if let Some(lane) = self.sha1.as_deref_mut() {
            lane.data(bytes);
        }
        let (sha256, size) = s256.finish();
        self.hashed(size, sha256)
    }
}

/// Bodies passed over by the split pass's reader, each hashed by a worker
/// or by the reading thread ([`split`]).
struct SplitBodies<'c, 'p, S>(&'c std::cell::RefCell<split::Chunked<'p, S>>);

impl<S: Read, R: Read> Bodies<R> for SplitBodies<'_, '_, S> {
    fn body(&mut self, what: &str, path: &str, entry: &mut tar::Entry<'_, R>) -> Result<Found> {
        {
            let mut c = self.0.borrow_mut();
            if c.position() == entry.raw_file_position() {
                return Ok(Found::Slot(c.assign(entry.size())));
            }
        }
        // Not at the reader's cursor (the tar reader read past the header):
        // read it through the tar reader instead, hashed here.
        let mut h = self.0.borrow_mut().hash_here();
        let mut buf = vec![0u8; BLOCK];
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| Error::malformed(what, format!("reading {path}: {e}")))?;
            if n == 0 {
                break;
            }
            h.feed(buf.get(..n).unwrap_or_default());
        }
        Ok(Found::Slot(self.0.borrow_mut().hashed_here(h)))
    }

    fn kept(&mut self, bytes: &[u8]) -> Found {
        let mut c = self.0.borrow_mut();
        let mut h = c.hash_here();
        h.feed(bytes);
        Found::Slot(c.hashed_here(h))
    }
}

/// Walks the tar of one layer: whiteouts, hard links, regular files.
fn walk<'a, R: Read + 'a>(
    what: &str,
    entries: impl Iterator<Item = std::io::Result<tar::Entry<'a, R>>>,
    bodies: &mut impl Bodies<R>,
) -> Result<(LayerScan, BTreeMap<String, Found>)> {
    let mut scan = LayerScan::default();
    let mut files: BTreeMap<String, Found> = BTreeMap::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::malformed(what, format!("corrupt tar: {e}")))?;
        let path = normalise(&entry.path_bytes());
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (d.to_owned(), n.to_owned()),
            None => (String::new(), path.clone()),
        };
        if name == ".wh..wh..opq" {
            scan.opaque.push(dir);
            continue;
        }
        if let Some(target) = name.strip_prefix(".wh.") {
            scan.deleted.push(if dir.is_empty() {
                target.to_owned()
            } else {
                format!("{dir}/{target}")
            });
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|l| normalise(&l))
                .ok_or_else(|| Error::malformed(what, format!("hard link {path:?} without target")))?;
            if let Some(t) = files.get(&target).cloned() {
                files.insert(path, t);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let found = if interesting(&path) {
            let size = entry.size();
            if size > MAX_DB {
                return Err(Error::malformed(what, format!("{path} is larger than {MAX_DB} bytes")));
            }
            let mut kept = Vec::new();
            (&mut entry)
                .take(MAX_DB)
                .read_to_end(&mut kept)
                .map_err(|e| Error::malformed(what, format!("reading {path}: {e}")))?;
            let found = bodies.kept(&kept);
            scan.kept.insert(path.clone(), kept);
            found
        } else {
            bodies.body(what, &path, &mut entry)?
        };
        files.insert(path, found);
    }
    Ok((scan, files))
}

/// Told the number of layer bytes read, as they are read (a progress bar).
pub type Progress<'a> = dyn Fn(u64) + Sync + 'a;

/// Runs `f` on every layer, one layer per core, results in layer order.
/// The largest layers start first (so a large layer is not left to finish
/// alone at the end), and `f` is told whether to read its layer `inline`
/// (its whole pass on one thread): yes unless the layer is more than its
/// core's share of the image, which is then spread over the cores instead.
fn each_layer<T: Send>(
    image: &SourceImage,
    spread: Spread,
    f: impl Fn(&BlobRef, bool) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let layers = &image.parts.layers;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = cores.min(layers.len().max(1));
    let total: u64 = layers.iter().map(|l| l.size).sum();
    let mut order: Vec<usize> = (0..layers.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(layers.get(i).map_or(0, |l| l.size)));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..layers.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some((i, blob)) = order
                    .get(next.fetch_add(1, Ordering::Relaxed))
                    .and_then(|&i| Some((i, layers.get(i)?)))
                {
                    let inline = match spread {
                        Spread::Auto => cores == 1 || blob.size.saturating_mul(cores as u64) <= total,
                        Spread::OneThreadPerLayer => true,
                        Spread::WithinLayers => false,
                    };
                    let r = f(blob, inline);
                    if let Ok(mut v) = results.lock() {
                        v[i] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .map_err(|_| Error::malformed("image", "a layer reader failed"))?
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::malformed("image", "a layer was not read"))?)
        .collect()
}

/// The diff_ids of every layer, measured from the bytes (in parallel), for
/// a pack without an SBOM; [`scan`] measures them in its own pass.
pub fn diff_ids(image: &SourceImage) -> Result<LayerDiffIds> {
    diff_ids_with(image, &|_| {})
}

/// [`diff_ids`], telling `progress` the compressed bytes read.
pub fn diff_ids_with(image: &SourceImage, progress: &Progress<'_>) -> Result<LayerDiffIds> {
    // Every layer is read and its digest measured here, so the writer can
    // copy it without hashing it again (an uncompressed layer's diff_id is
    // its digest, measured, never assumed); a compressed one is
    // decompressed for its diff_id in the same read.
    let layers = each_layer(image, Spread::Auto, |blob, inline| {
        if blob.media_type.ends_with(".tar") {
            let measured = measure(image, blob, progress)?;
            Ok((measured.digest(), measured))
        } else {
            let scan = read_layer(image, blob, Pass::DiffId, inline, progress)?;
            let what = || Error::malformed(format!("layer {}", blob.digest), "not measured");
            Ok((scan.diff_id.ok_or_else(what)?, scan.measured.ok_or_else(what)?))
        }
    })?;
    let mut blobs = MeasuredBlobs::default();
    let mut ids = Vec::with_capacity(layers.len());
    for (id, measured) in layers {
        ids.push(id);
        blobs.add(measured);
    }
    Ok(LayerDiffIds::measured_with(ids, blobs))
}

/// Reads a blob through a [`BlobMeter`] only to measure its digest.
fn measure(image: &SourceImage, blob: &BlobRef, progress: &Progress<'_>) -> Result<MeasuredBlob> {
    let what = format!("layer {}", blob.digest);
    let mut meter = BlobMeter::open(image, blob, &what)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = cerro_core::file::read_full(&mut meter, &mut buf).map_err(|e| Error::io("reading", &what, e))?;
        if n == 0 {
            break;
        }
        progress(n as u64);
    }
    meter.finish()
}

/// Scans every layer of `image` (in parallel) and merges them, with SHA-256
/// and SHA-1 of every file.
pub fn scan(image: &SourceImage) -> Result<ImageContents> {
    scan_with(image, FileDigests::Sha256AndSha1, &|_| {})
}

/// Scans every layer of `image` (in parallel, each read once) and merges
/// them, with the file digests `digests`, telling `progress` the bytes read.
pub fn scan_with(image: &SourceImage, digests: FileDigests, progress: &Progress<'_>) -> Result<ImageContents> {
    scan_spread(image, digests, Spread::Auto, progress)
}

/// How a pass spreads its work over the cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// One thread per layer, except a layer larger than its core's share
    /// of the image, which is spread over the cores (what `ct pack` does).
    Auto,
    /// Every layer's pass on one thread.
    OneThreadPerLayer,
    /// Every layer's pass in stages on threads of their own.
    WithinLayers,
}

/// [`scan_with`], spreading the work as `spread` says (the tests and the
/// benchmark compare the ways; every way gives the same contents).
pub fn scan_spread(
    image: &SourceImage,
    digests: FileDigests,
    spread: Spread,
    progress: &Progress<'_>,
) -> Result<ImageContents> {
    let results = each_layer(image, spread, |blob, inline| {
        read_layer(image, blob, Pass::Files(digests), inline, progress)
    })?;
    let mut diff_ids = Vec::with_capacity(results.len());
    let mut blobs = MeasuredBlobs::default();
    let mut files: BTreeMap<String, FileEntry> = BTreeMap::new();
    let mut kept: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for layer in results {
        diff_ids.push(
            layer
                .diff_id
                .ok_or_else(|| Error::malformed("image", "a layer was not measured"))?,
        );
        if let Some(m) = layer.measured {
            blobs.add(m);
        }
        let under = |dir: &str, p: &str| dir.is_empty() || p == dir || p.starts_with(&format!("{dir}/"));
        for dir in &layer.opaque {
            files.retain(|p, _| !under(dir, p) || p == dir);
            kept.retain(|p, _| !under(dir, p) || p == dir);
        }
        for d in &layer.deleted {
            files.retain(|p, _| !under(d, p));
            kept.retain(|p, _| !under(d, p));
        }
        files.extend(layer.files);
        kept.extend(layer.kept);
    }

    let mut packages = BTreeSet::new();
    for (path, bytes) in &kept {
        let text = String::from_utf8_lossy(bytes);
        if path == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/") {
            packages.extend(parse_dpkg_status(&text));
        } else if path == "lib/apk/db/installed" {
            packages.extend(parse_apk_installed(&text));
        } else if path.ends_with("rpm/rpmdb.sqlite") {
            let found = parse_rpmdb_sqlite(bytes)
                .map_err(|e| Error::malformed(format!("image file /{path}"), format!("rpm database: {e}")))?;
            packages.extend(found);
        }
    }
    let release = kept
        .get("etc/os-release")
        .or_else(|| kept.get("usr/lib/os-release"))
        .map(|b| os_release(&String::from_utf8_lossy(b)))
        .unwrap_or((None, None));
    Ok(ImageContents {
        files: files.into_values().collect(),
        packages: packages.into_iter().collect(),
        distro: release.0,
        distro_version: release.1,
        diff_ids: LayerDiffIds::measured_with(diff_ids, blobs),
    })
}
