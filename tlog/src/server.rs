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

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::store::{check_entry, Log, MAX_BATCH};
use crate::{Error, IoContext as _, Result};

/// The largest request body read: an entry is 110 bytes.
pub const MAX_BODY: usize = 1024;

/// The most connections served at once; more are answered `503`.
pub const MAX_CONNECTIONS: usize = 512;

/// How long a client has to send its request headers, and its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most entries waiting for the writer at once.
const QUEUE: usize = 4 * MAX_BATCH;

type Reply = oneshot::Sender<std::result::Result<Vec<u8>, (StatusCode, String)>>;

/// Serves the write side of `log` on `listener` until the process ends.
/// `ready` is called with the bound address once connections are accepted
/// (so `--listen 127.0.0.1:0` can be used and reported).
pub fn serve(log: Log, listener: TcpListener, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let addr = listener.local_addr().ctx("reading the address of", log.dir())?;
    listener
        .set_nonblocking(true)
        .ctx("configuring the listener of", log.dir())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .ctx("starting the server runtime for", log.dir())?;
    let (tx, rx) = mpsc::channel::<(Vec<u8>, Reply)>(QUEUE);
    let dir = log.dir().to_path_buf();
    let writer = std::thread::Builder::new()
        .name("tlog-writer".into())
        .spawn(move || write_batches(log, rx))
        .ctx("starting the writer thread of", &dir)?;
    let r = rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).ctx("listening on", &dir)?;
        ready(addr);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                // A connection that failed before it was accepted (reset,
                // out of descriptors): the next one may succeed.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let tx = tx.clone();
            let permit = slots.clone().try_acquire_owned().ok();
            tokio::spawn(async move {
                let busy = permit.is_none();
                let service = hyper::service::service_fn(move |req| {
                    let tx = tx.clone();
                    async move { Ok::<_, Infallible>(handle(req, tx, busy).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(READ_TIMEOUT)
                    // One request per connection: with the header and
                    // body timeouts, no connection outlives its request.
                    .keep_alive(false)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    });
    drop(writer);
    r
}

/// The writer: takes every queued entry as one batch, appends it, and
/// answers each request with its proof (or the error).
fn write_batches(mut log: Log, mut rx: mpsc::Receiver<(Vec<u8>, Reply)>) {
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
            Ok(first) => match log.proofs(first, first + batch.len() as u64) {
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

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

async fn handle(req: Request<Incoming>, tx: mpsc::Sender<(Vec<u8>, Reply)>, busy: bool) -> Response<Full<Bytes>> {
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
    let body = Limited::new(req.into_body(), MAX_BODY);
    let entry = match tokio::time::timeout(READ_TIMEOUT, body.collect()).await {
        Ok(Ok(b)) => b.to_bytes().to_vec(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("an entry is at most {MAX_BODY} bytes\n"),
            );
        }
        Ok(Err(e)) => return text(StatusCode::BAD_REQUEST, format!("reading the body: {e}\n")),
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time\n"),
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
