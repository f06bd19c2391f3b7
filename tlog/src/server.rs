//! The log's write side over HTTP/1.1 (`ct log serve`), on a listener the
//! operator names. The read side is the directory itself, served by any
//! static HTTP server (tlog-tiles); this server serves no file.
//!
//! `POST /add` with the entry as the body (exactly a release entry,
//! spec/transparency.md §1; at most [`MAX_BODY`] bytes). The answer comes
//! after the batch holding the entry is durable (its bundles, tiles and
//! checkpoint fsynced, see [`crate::store`]): `200` with
//! `Content-Type: text/plain; charset=utf-8` and the entry's proof in the
//! c2sp.org/tlog-proof format: its index, its inclusion path, and the
//! checkpoint of that batch signed by the log (witness cosignatures are
//! added by whoever collects them; the tiles give proofs for any later
//! checkpoint). Refusals, with a one-line reason as the body: `400` not a
//! release entry, `413` body too large, `404` another path, `405` another
//! method on `/add`, `408` a body not sent in time, `503` the log has
//! stopped after a failed append (restart it) or the connection limit is
//! reached.
//!
//! One request per connection (no keep-alive): with the 10 s bounds on
//! headers and body, an idle or slow client holds a connection slot for
//! at most that long.
//!
//! Batching without a timer: one thread owns the [`Log`]; while it appends
//! one batch, requests queue, and the next batch takes every queued entry
//! (up to [`crate::store::MAX_BATCH`]). One fsync sequence then serves them
//! all.

use std::net::{SocketAddr, TcpListener};

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use tokio::sync::{mpsc, oneshot};

pub use crate::http::MAX_CONNECTIONS;
use crate::http::{text, Answer};
use crate::store::{check_entry, Log, MAX_BATCH};
use crate::witnessing::{Outcome, Witnessing};
use crate::{Error, IoContext as _, Result};

/// The largest request body read: an entry is 110 bytes.
pub const MAX_BODY: usize = 1024;

/// The most entries waiting for the writer at once.
const QUEUE: usize = 4 * MAX_BATCH;

type Reply = oneshot::Sender<std::result::Result<Vec<u8>, (StatusCode, String)>>;

/// Serves the write side of `log` on `listener` until the process ends.
/// `ready` is called with the bound address once connections are accepted
/// (so `--listen 127.0.0.1:0` can be used and reported).
pub fn serve(log: Log, listener: TcpListener, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    serve_witnessed(log, Witnessing::new(Vec::new())?, |_| {}, listener, ready)
}

/// [`serve`], asking `witnesses` to cosign each batch's checkpoint before
/// the batch is answered (see [`crate::witnessing`]); `warn` is told, in a
/// line, each witness that did not cosign and why.
pub fn serve_witnessed(
    log: Log,
    witnesses: Witnessing,
    warn: impl Fn(String) + Send + 'static,
    listener: TcpListener,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let (tx, rx) = mpsc::channel::<(Vec<u8>, Reply)>(QUEUE);
    let dir = log.dir().to_path_buf();
    let writer = std::thread::Builder::new()
        .name("tlog-writer".into())
        .spawn(move || write_batches(log, witnesses, warn, rx))
        .ctx("starting the writer thread of", &dir)?;
    let r = crate::http::serve(listener, &dir, ready, move |req, busy| handle(req, tx.clone(), busy));
    drop(writer);
    r
}

/// The proofs of entries `[first, first + n)` of a durable batch, under its
/// checkpoint with what cosignatures the witnesses gave it.
fn proofs_witnessed(
    log: &mut Log,
    witnesses: &mut Witnessing,
    warn: &impl Fn(String),
    first: u64,
    n: u64,
) -> Result<Vec<cerro_core::tlog::TlogProof>> {
    if !witnesses.is_empty() {
        for (name, outcome) in witnesses.cosign(log) {
            if let Outcome::Failed(why) = outcome {
                warn(format!("witness {name} did not cosign tree size {}: {why}", log.size()));
            }
        }
    }
    log.proofs(first, first + n)
}

/// The writer: takes every queued entry as one batch, appends it, and
/// answers each request with its proof (or the error).
fn write_batches(
    mut log: Log,
    mut witnesses: Witnessing,
    warn: impl Fn(String),
    mut rx: mpsc::Receiver<(Vec<u8>, Reply)>,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let entries: Vec<Vec<u8>> = batch.iter().map(|(e, _)| e.clone()).collect();
        match log.append(&entries) {
            Ok(first) => match proofs_witnessed(&mut log, &mut witnesses, &warn, first, batch.len() as u64) {
                Ok(proofs) => {
                    for ((_, reply), p) in batch.into_iter().zip(proofs) {
                        let _ = reply.send(Ok(p.to_bytes()));
                    }
                }
                // The batch is durable but its proofs could not be read
                // back: the entries are in the log; say so.
                Err(e) => {
                    for (i, (_, reply)) in batch.into_iter().enumerate() {
                        let msg = format!(
                            "entry {} was appended, but its proof could not be read: {e}",
                            first + i as u64
                        );
                        let _ = reply.send(Err((StatusCode::INTERNAL_SERVER_ERROR, msg)));
                    }
                }
            },
            Err(e) => {
                let status = match e {
                    Error::Entry { .. } => StatusCode::BAD_REQUEST,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                };
                for (_, reply) in batch {
                    let _ = reply.send(Err((status, e.to_string())));
                }
            }
        }
    }
}

async fn handle(req: Request<Incoming>, tx: mpsc::Sender<(Vec<u8>, Reply)>, busy: bool) -> Answer {
    if busy {
        return text(StatusCode::SERVICE_UNAVAILABLE, "too many connections\n");
    }
    if req.uri().path() != "/add" {
        return text(StatusCode::NOT_FOUND, "not found: the write side has only POST /add\n");
    }
    if req.method() != Method::POST {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "POST the entry to /add\n");
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let entry = match crate::http::body(req, MAX_BODY, "an entry").await {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    if let Err(e) = check_entry(&entry) {
        return text(StatusCode::BAD_REQUEST, format!("{e}\n"));
    }
    let (reply, answer) = oneshot::channel();
    if tx.send((entry, reply)).await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the log's writer has stopped\n");
    }
    match answer.await {
        Ok(Ok(proof)) => text(StatusCode::OK, proof),
        Ok(Err((status, msg))) => text(status, format!("{msg}\n")),
        Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "the log's writer has stopped\n"),
    }
}
