//! One uncompressed layer read alone (a one-layer image), spread over the
//! cores by file rather than by hash.
//!
//! The reading thread reads the blob in chunks (the blob's SHA-256 is
//! computed as they are read, by the caller's `BlobMeter`) and walks the
//! tar's headers; it never copies a file's body. Each regular file's body
//! is handed, as slices of the chunk it lies in, to one hashing worker,
//! which computes the file's SHA-256 and SHA-1 over each slice while it is
//! in that core's cache. A worker with enough work queued is passed over:
//! the reading thread then hashes the file itself, so every core stays busy
//! whatever the mix of file sizes.
//!
//! Before (three stages on threads of their own, each chunk copied into
//! the next stage's batch and every hash reading it from another core's
//! cache), the Debian image's pass cost 0.55 s of CPU on two cores against
//! 0.47 s on one thread; the split by file does not copy and keeps both
//! hashes of a file on one core (bench/README.md).

use std::cell::RefCell;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use sha1::{Digest as _, Sha1};

use super::{Progress, CHUNK, DEPTH};
use cerro_core::digest::{Digest, Hasher};

/// Bytes hashed by one hash before the other hashes them (both digests of
/// a slice are computed while it is in the core's first-level cache).
const SUB: usize = 16 << 10;

/// Bytes queued for a worker beyond which the reading thread hashes the
/// next file itself.
const QUEUED: u64 = 2 * CHUNK as u64;

/// The digests of one file's body.
#[derive(Debug, Clone)]
pub(super) struct Digests {
    pub sha256: Digest,
    pub size: u64,
    pub sha1: Option<String>,
}

/// One file's hashes in progress.
pub(super) struct FileHash {
    slot: usize,
    s256: Hasher,
    s1: Option<Sha1>,
}

impl FileHash {
    fn new(slot: usize, sha1: bool) -> Self {
        FileHash {
            slot,
            s256: Hasher::new(),
            s1: sha1.then(Sha1::new),
        }
    }

    pub(super) fn feed(&mut self, bytes: &[u8]) {
        for part in bytes.chunks(SUB) {
            self.s256.update(part);
            if let Some(s1) = self.s1.as_mut() {
                s1.update(part);
            }
        }
    }

    fn done(self) -> (usize, Digests) {
        let (sha256, size) = self.s256.finish();
        let sha1 = self.s1.map(|s| hex::encode(s.finalize()));
        (self.slot, Digests { sha256, size, sha1 })
    }
}

/// A part of a file's body in a chunk: `start` is the file's slot when this
/// is its first part, `last` when it is its last.
struct Piece {
    from: usize,
    to: usize,
    start: Option<usize>,
    last: bool,
}

/// What a worker is sent: a chunk and the parts of file bodies in it.
struct Message {
    chunk: Arc<Vec<u8>>,
    pieces: Vec<Piece>,
}

/// A worker's loop: the digests of every file whose parts it was sent,
/// each file's parts in order (a file goes to one worker, whole).
fn worker(rx: Receiver<Message>, queued: &AtomicU64, sha1: bool) -> Vec<(usize, Digests)> {
    let mut out = Vec::new();
    let mut cur: Option<FileHash> = None;
    for msg in rx {
        for p in msg.pieces {
            if let Some(slot) = p.start {
                cur = Some(FileHash::new(slot, sha1));
            }
            if let Some(h) = cur.as_mut() {
                h.feed(msg.chunk.get(p.from..p.to).unwrap_or_default());
            }
            queued.fetch_sub((p.to - p.from) as u64, Ordering::Relaxed);
            if p.last {
                // A file whose first part never came is left without
                // digests; the walk's caller refuses it ("not hashed").
                if let Some(h) = cur.take() {
                    out.push(h.done());
                }
            }
        }
    }
    out
}

/// A worker as the reading thread sees it.
struct Lane {
    tx: SyncSender<Message>,
    queued: Arc<AtomicU64>,
    pieces: Vec<Piece>,
}

/// Where the body being passed over is hashed.
enum Target {
    Worker(usize),
    Here(Box<FileHash>),
}

/// The regular file whose body starts at the cursor.
struct Body {
    slot: usize,
    left: u64,
    target: Target,
    started: bool,
}

/// The tar stream of one uncompressed layer, in chunks shared with the
/// workers: a reader (headers, kept files) and a seek that passes over a
/// body, handing it to the file's hasher.
pub(super) struct Chunked<'p, R> {
    src: R,
    chunk: Arc<Vec<u8>>,
    len: usize,
    at: usize,
    pos: u64,
    /// Chunks sent to workers, reused once every worker is done with them.
    spare: Vec<Arc<Vec<u8>>>,
    body: Option<Body>,
    lanes: Vec<Lane>,
    sha1: bool,
    /// Digests of the files hashed on this thread.
    here: Vec<(usize, Digests)>,
    next_slot: usize,
    progress: &'p Progress<'p>,
}

impl<'p, R: Read> Chunked<'p, R> {
    /// Reads `src`; `sha1`: every file's SHA-1 too.
    fn new(src: R, lanes: Vec<Lane>, sha1: bool, progress: &'p Progress<'p>) -> Self {
        Chunked {
            src,
            chunk: Arc::new(Vec::new()),
            len: 0,
            at: 0,
            pos: 0,
            spare: Vec::new(),
            body: None,
            lanes,
            sha1,
            here: Vec::new(),
            next_slot: 0,
            progress,
        }
    }

    /// The stream position of the cursor.
    pub(super) fn position(&self) -> u64 {
        self.pos
    }

    /// The next file's slot.
    fn slot(&mut self) -> usize {
        self.next_slot += 1;
        self.next_slot - 1
    }

    /// The body of a regular file starts at the cursor and is `size` bytes
    /// long: hashed as the cursor passes over it; returns its slot.
    pub(super) fn assign(&mut self, size: u64) -> usize {
        let slot = self.slot();
        if size == 0 {
            self.here.push(FileHash::new(slot, self.sha1).done());
            return slot;
        }
        let idle = self
            .lanes
            .iter()
            .enumerate()
            .map(|(i, l)| (l.queued.load(Ordering::Relaxed), i))
            .min()
            .filter(|(q, _)| *q < QUEUED);
        let target = match idle {
            Some((_, i)) => {
                if let Some(l) = self.lanes.get(i) {
                    l.queued.fetch_add(size, Ordering::Relaxed);
                }
                Target::Worker(i)
            }
            None => Target::Here(Box::new(FileHash::new(slot, self.sha1))),
        };
        self.body = Some(Body {
            slot,
            left: size,
            target,
            started: false,
        });
        slot
    }

    /// A file hashed on this thread from bytes the walker reads itself (a
    /// kept file, or a body that is not where the reader expected it):
    /// feed it, then give it to [`Chunked::hashed_here`].
    pub(super) fn hash_here(&mut self) -> FileHash {
        let slot = self.slot();
        FileHash::new(slot, self.sha1)
    }

    /// Records the digests of a file hashed with [`Chunked::hash_here`].
    pub(super) fn hashed_here(&mut self, h: FileHash) -> usize {
        let (slot, d) = h.done();
        self.here.push((slot, d));
        slot
    }

    /// Sends each worker the parts of the current chunk it was given.
    fn flush(&mut self) -> std::io::Result<()> {
        for l in &mut self.lanes {
            if l.pieces.is_empty() {
                continue;
            }
            let msg = Message {
                chunk: Arc::clone(&self.chunk),
                pieces: std::mem::take(&mut l.pieces),
            };
            l.tx.send(msg)
                .map_err(|_| std::io::Error::other("a file hashing worker failed"))?;
        }
        Ok(())
    }

    /// Reads the next chunk (after the workers were sent their parts of
    /// this one); an empty chunk at the stream's end.
    fn fill(&mut self) -> std::io::Result<()> {
        self.flush()?;
        let mut next = match Arc::get_mut(&mut self.chunk) {
            Some(_) => std::mem::replace(&mut self.chunk, Arc::new(Vec::new())),
            None => {
                let i = self.spare.iter_mut().position(|c| Arc::get_mut(c).is_some());
                let old = std::mem::replace(&mut self.chunk, Arc::new(Vec::new()));
                if self.spare.len() < 4 * DEPTH * self.lanes.len().max(1) {
                    self.spare.push(old);
                }
                match i {
                    Some(i) => self.spare.swap_remove(i),
                    None => Arc::new(Vec::new()),
                }
            }
        };
        let buf = Arc::get_mut(&mut next).ok_or_else(|| std::io::Error::other("a chunk is still shared"))?;
        buf.resize(CHUNK, 0);
        let n = cerro_core::file::read_full(&mut self.src, buf)?;
        (self.progress)(n as u64);
        self.chunk = next;
        self.len = n;
        self.at = 0;
        Ok(())
    }

    /// Moves the cursor up to `n` bytes within the current chunk (reading
    /// the next one first if this one is used up), copying them to `out`
    /// if given and hashing any part of the current body; 0 at the end.
    fn advance(&mut self, n: usize, out: Option<&mut [u8]>) -> std::io::Result<usize> {
        if self.at >= self.len {
            self.fill()?;
        }
        let k = n.min(self.len - self.at);
        if k == 0 {
            return Ok(0);
        }
        let (from, to) = (self.at, self.at + k);
        let bytes = self.chunk.get(from..to).unwrap_or_default();
        if let Some(out) = out {
            if let Some(dst) = out.get_mut(..k) {
                dst.copy_from_slice(bytes);
            }
        }
        if let Some(mut body) = self.body.take() {
            let take = body.left.min(k as u64) as usize;
            let last = take as u64 == body.left;
            match &mut body.target {
                Target::Here(h) => h.feed(bytes.get(..take).unwrap_or_default()),
                Target::Worker(i) => {
                    if let Some(l) = self.lanes.get_mut(*i) {
                        l.pieces.push(Piece {
                            from,
                            to: from + take,
                            start: (!body.started).then_some(body.slot),
                            last,
                        });
                    }
                }
            }
            body.started = true;
            body.left -= take as u64;
            if last {
                if let Target::Here(h) = body.target {
                    self.here.push((*h).done());
                }
            } else {
                self.body = Some(body);
            }
        }
        self.at = to;
        self.pos += k as u64;
        Ok(k)
    }

    /// Hands the workers what they were given and gives back the source.
    fn finish(mut self) -> std::io::Result<(R, Vec<(usize, Digests)>)> {
        self.flush()?;
        Ok((self.src, self.here))
    }
}

/// The walker's view of a [`Chunked`] stream (the tar crate reads and
/// seeks through a shared reference; everything happens on one thread).
pub(super) struct Shared<'c, 'p, R>(pub &'c RefCell<Chunked<'p, R>>);

impl<R: Read> Read for Shared<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len();
        self.0.borrow_mut().advance(n, Some(buf))
    }
}

impl<R: Read> Seek for Shared<'_, '_, R> {
    /// Forward only, as the tar crate skips a body; a stream that ends
    /// before the target is a truncated tar, as when the skip reads.
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let mut c = self.0.borrow_mut();
        let target = match to {
            SeekFrom::Start(n) => n,
            SeekFrom::Current(d) => c
                .pos
                .checked_add_signed(d)
                .ok_or_else(|| std::io::Error::other("seek position out of bounds"))?,
            SeekFrom::End(_) => return Err(std::io::Error::other("a layer is not read from its end")),
        };
        if target < c.pos {
            return Err(std::io::Error::other("a layer is read forward only"));
        }
        while c.pos < target {
            let want = usize::try_from(target - c.pos).unwrap_or(usize::MAX);
            if c.advance(want, None)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "unexpected EOF during skip",
                ));
            }
        }
        Ok(c.pos)
    }
}

/// Runs `walk` over the tar in `src` with `cores - 1` hashing workers (at
/// least one), every file's SHA-256 (and SHA-1 if `sha1`) computed by a
/// worker or by this thread. Returns the walk's result, the digests of
/// every slot the walk was given, and the source, positioned wherever the
/// walk stopped (the caller reads it to its end).
pub(super) fn run<R: Read + Send, T>(
    src: R,
    sha1: bool,
    progress: &Progress<'_>,
    walk: impl FnOnce(&RefCell<Chunked<'_, R>>) -> T,
) -> std::io::Result<(T, Vec<Option<Digests>>, R)> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    std::thread::scope(|s| {
        let mut lanes = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..cores.saturating_sub(1).max(1) {
            let (tx, rx) = sync_channel(DEPTH);
            let queued = Arc::new(AtomicU64::new(0));
            let q = Arc::clone(&queued);
            handles.push(s.spawn(move || worker(rx, &q, sha1)));
            lanes.push(Lane {
                tx,
                queued,
                pieces: Vec::new(),
            });
        }
        let chunked = RefCell::new(Chunked::new(src, lanes, sha1, progress));
        let walked = walk(&chunked);
        let (src, here) = chunked.into_inner().finish()?;
        // `finish` dropped the senders: the workers end.
        let mut all = here;
        for h in handles {
            all.extend(
                h.join()
                    .map_err(|_| std::io::Error::other("a file hashing worker failed"))?,
            );
        }
        let mut slots: Vec<Option<Digests>> = Vec::new();
        for (slot, d) in all {
            if slots.len() <= slot {
                slots.resize(slot + 1, None);
            }
            if let Some(s) = slots.get_mut(slot) {
                *s = Some(d);
            }
        }
        Ok((walked, slots, src))
    })
}
