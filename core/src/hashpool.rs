//! Hashing on all cores while one thread streams.
//!
//! SHA-256 of one stream is sequential, but a bundle holds several blobs: the
//! reading thread hands each blob's chunks, in order, to one worker thread,
//! and different blobs go to different workers. The reader never waits for a
//! hash unless every worker's bounded queue is full, so memory stays bounded
//! (`QUEUE_DEPTH` chunks per worker) and no blob is ever held whole.
//!
//! A job may carry a sink (a file being extracted): the worker writes each
//! chunk after hashing it, which takes the write off the reading thread too.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::digest::{Digest, Hasher};

/// Size of the chunks a reader should feed.
pub const CHUNK: usize = 1 << 20;
const QUEUE_DEPTH: usize = 8;

/// Bytes read per positioned read before they are hashed: small enough to
/// be hashed while still in the core's cache.
const READ: usize = 128 << 10;

/// Where a job's bytes are copied after hashing.
pub type Sink = Box<dyn Write + Send>;

enum Msg {
    Start {
        id: usize,
        sink: Option<Sink>,
    },
    Region {
        id: usize,
        file: Arc<File>,
        offset: u64,
        size: u64,
        sink: Option<Sink>,
    },
    Data {
        id: usize,
        chunk: Vec<u8>,
    },
    Span {
        id: usize,
        file: Arc<File>,
        offset: u64,
        len: u64,
    },
    End {
        id: usize,
    },
}

/// What a finished job produced.
#[derive(Debug)]
pub struct JobOutcome {
    /// SHA-256 of every byte fed.
    pub digest: Digest,
    /// Number of bytes fed.
    pub size: u64,
    /// The first error the sink returned, if any (later chunks were not written).
    pub sink_error: Option<std::io::Error>,
    /// For a region job: the read error (a short file), if any.
    pub read_error: Option<std::io::Error>,
}

/// A job in flight: feed it chunks, then end it.
#[derive(Debug)]
pub struct Job {
    id: usize,
    worker: usize,
}

impl Job {
    /// The job's index in [`HashPool::finish`]'s result.
    pub fn id(&self) -> usize {
        self.id
    }
}

/// A fixed set of hashing threads. Dropping the pool without `finish` stops them.
pub struct HashPool {
    senders: Vec<SyncSender<Msg>>,
    queued: Arc<Vec<AtomicU64>>,
    handles: Vec<JoinHandle<Vec<(usize, JobOutcome)>>>,
    recycled: Arc<Mutex<Vec<Vec<u8>>>>,
    next_id: usize,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("threads", &self.senders.len())
            .finish()
    }
}

impl HashPool {
    /// A pool with one thread per available core (at least one).
    pub fn new() -> Self {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self::with_threads(n)
    }

    /// A pool with `threads` workers (at least one).
    pub fn with_threads(threads: usize) -> Self {
        let threads = threads.max(1);
        let queued: Arc<Vec<AtomicU64>> = Arc::new((0..threads).map(|_| AtomicU64::new(0)).collect());
        let recycled = Arc::new(Mutex::new(Vec::new()));
        let mut senders = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for w in 0..threads {
            let (tx, rx) = mpsc::sync_channel(QUEUE_DEPTH);
            let queued = Arc::clone(&queued);
            let recycled = Arc::clone(&recycled);
            handles.push(std::thread::spawn(move || worker(rx, &queued[w], &recycled)));
            senders.push(tx);
        }
        HashPool {
            senders,
            queued,
            handles,
            recycled,
            next_id: 0,
        }
    }

    /// Starts a job on the least loaded worker.
    pub fn start(&mut self, sink: Option<Sink>) -> Job {
        let worker = self.least_loaded();
        let id = self.next_id;
        self.next_id += 1;
        // A send only fails if the worker died; `finish` reports the missing job.
        let _ = self.senders[worker].send(Msg::Start { id, sink });
        Job { id, worker }
    }

    /// Starts a job that hashes `size` bytes of `file` from `offset`, read
    /// by the worker itself with positioned reads: the caller does not wait
    /// for the data. Returns the job id.
    pub fn start_region(&mut self, file: Arc<File>, offset: u64, size: u64, sink: Option<Sink>) -> usize {
        let worker = self.least_loaded();
        let id = self.next_id;
        self.next_id += 1;
        self.queued[worker].fetch_add(size, Ordering::Relaxed);
        let _ = self.senders[worker].send(Msg::Region {
            id,
            file,
            offset,
            size,
            sink,
        });
        id
    }

    fn least_loaded(&self) -> usize {
        (0..self.senders.len())
            .min_by_key(|w| self.queued[*w].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// An empty buffer of capacity [`CHUNK`], reused from finished chunks when possible.
    pub fn buffer(&self) -> Vec<u8> {
        let reused = self.recycled.lock().ok().and_then(|mut v| v.pop());
        let mut buf = reused.unwrap_or_else(|| Vec::with_capacity(CHUNK));
        buf.clear();
        buf
    }

    /// Hands a chunk to the job's worker (blocks while that worker's queue is full).
    pub fn feed(&self, job: &Job, chunk: Vec<u8>) {
        self.queued[job.worker].fetch_add(chunk.len() as u64, Ordering::Relaxed);
        let _ = self.senders[job.worker].send(Msg::Data { id: job.id, chunk });
    }

    /// Hands the job's worker `len` bytes of `file` at `offset` to hash
    /// next, read there with positioned reads (for data just written to a
    /// file the caller does not want to read back itself).
    pub fn feed_span(&self, job: &Job, file: Arc<File>, offset: u64, len: u64) {
        self.queued[job.worker].fetch_add(len, Ordering::Relaxed);
        let _ = self.senders[job.worker].send(Msg::Span {
            id: job.id,
            file,
            offset,
            len,
        });
    }

    /// Marks the job complete.
    pub fn end(&self, job: Job) {
        let _ = self.senders[job.worker].send(Msg::End { id: job.id });
    }

    /// Waits for every job and returns their outcomes indexed by job id.
    /// A job that never ended, or whose worker died, yields `None`.
    pub fn finish(self) -> Vec<Option<JobOutcome>> {
        let HashPool {
            senders,
            handles,
            next_id,
            ..
        } = self;
        drop(senders);
        let mut out: Vec<Option<JobOutcome>> = (0..next_id).map(|_| None).collect();
        for h in handles {
            if let Ok(results) = h.join() {
                for (id, outcome) in results {
                    if let Some(slot) = out.get_mut(id) {
                        *slot = Some(outcome);
                    }
                }
            }
        }
        out
    }
}

impl Default for HashPool {
    fn default() -> Self {
        Self::new()
    }
}

struct Running {
    id: usize,
    hasher: Hasher,
    sink: Option<Sink>,
    sink_error: Option<std::io::Error>,
    read_error: Option<std::io::Error>,
}

fn worker(rx: Receiver<Msg>, queued: &AtomicU64, recycled: &Mutex<Vec<Vec<u8>>>) -> Vec<(usize, JobOutcome)> {
    let mut running: Vec<Running> = Vec::new();
    let mut span_buf: Option<Vec<u8>> = None;
    let mut done = Vec::new();
    for msg in rx {
        match msg {
            Msg::Start { id, sink } => running.push(Running {
                id,
                hasher: Hasher::new(),
                sink,
                sink_error: None,
                read_error: None,
            }),
            Msg::Region {
                id,
                file,
                offset,
                size,
                sink,
            } => done.push((id, hash_region(&file, offset, size, sink, queued))),
            Msg::Data { id, chunk } => {
                if let Some(r) = running.iter_mut().find(|r| r.id == id) {
                    r.hasher.update(&chunk);
                    if let Some(sink) = r.sink.as_mut() {
                        if let Err(e) = sink.write_all(&chunk) {
                            r.sink_error = Some(e);
                            r.sink = None;
                        }
                    }
                }
                queued.fetch_sub(chunk.len() as u64, Ordering::Relaxed);
                if let Ok(mut pool) = recycled.lock() {
                    if pool.len() < 4 * QUEUE_DEPTH {
                        pool.push(chunk);
                    }
                }
            }
            Msg::Span { id, file, offset, len } => {
                if let Some(r) = running.iter_mut().find(|r| r.id == id) {
                    let buf = span_buf.get_or_insert_with(|| vec![0u8; READ]);
                    let mut done = 0u64;
                    while done < len && r.read_error.is_none() {
                        let n = (len - done).min(READ as u64) as usize;
                        match file.read_exact_at(&mut buf[..n], offset + done) {
                            Ok(()) => r.hasher.update(&buf[..n]),
                            Err(e) => r.read_error = Some(e),
                        }
                        done += n as u64;
                    }
                }
                queued.fetch_sub(len, Ordering::Relaxed);
            }
            Msg::End { id } => {
                if let Some(pos) = running.iter().position(|r| r.id == id) {
                    let mut r = running.swap_remove(pos);
                    if let Some(mut sink) = r.sink.take() {
                        if let Err(e) = sink.flush() {
                            r.sink_error.get_or_insert(e);
                        }
                    }
                    let (digest, size) = r.hasher.finish();
                    done.push((
                        id,
                        JobOutcome {
                            digest,
                            size,
                            sink_error: r.sink_error,
                            read_error: r.read_error,
                        },
                    ));
                }
            }
        }
    }
    done
}

fn hash_region(file: &File, offset: u64, size: u64, mut sink: Option<Sink>, queued: &AtomicU64) -> JobOutcome {
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; READ];
    let (mut sink_error, mut read_error) = (None, None);
    let mut done = 0u64;
    while done < size {
        let want = (size - done).min(READ as u64) as usize;
        if let Err(e) = file.read_exact_at(&mut buf[..want], offset + done) {
            read_error = Some(e);
            break;
        }
        hasher.update(&buf[..want]);
        if let Some(s) = sink.as_mut() {
            if let Err(e) = s.write_all(&buf[..want]) {
                sink_error = Some(e);
                sink = None;
            }
        }
        done += want as u64;
        queued.fetch_sub(want as u64, Ordering::Relaxed);
    }
    queued.fetch_sub(size - done, Ordering::Relaxed);
    if let Some(mut s) = sink {
        if let Err(e) = s.flush() {
            sink_error.get_or_insert(e);
        }
    }
    let (digest, size) = hasher.finish();
    JobOutcome {
        digest,
        size,
        sink_error,
        read_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_jobs_hash_like_sequential() {
        let mut pool = HashPool::with_threads(3);
        let inputs: Vec<Vec<u8>> = (0..7u8).map(|i| vec![i; 3 * CHUNK / 2 + i as usize]).collect();
        for input in &inputs {
            let job = pool.start(None);
            for part in input.chunks(CHUNK) {
                let mut buf = pool.buffer();
                buf.extend_from_slice(part);
                pool.feed(&job, buf);
            }
            pool.end(job);
        }
        let out = pool.finish();
        assert_eq!(out.len(), inputs.len());
        for (input, outcome) in inputs.iter().zip(out) {
            let outcome = outcome.unwrap();
            assert_eq!(outcome.digest, Digest::of(input));
            assert_eq!(outcome.size, input.len() as u64);
        }
    }
}
