//! The HTTP/1.1 plumbing the log's write side and the witness share: one
//! accept loop with a connection limit, one request per connection, bounded
//! time to send headers and body, bounded bodies, plain-text answers.

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use crate::{IoContext as _, Result};

/// The most connections served at once; more are answered `503`.
pub const MAX_CONNECTIONS: usize = 512;

/// How long a client has to send its request headers, and its body.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer: status, content type, body.
pub(crate) type Answer = Response<Full<Bytes>>;

/// A plain-text answer.
pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Answer {
    typed(status, "text/plain; charset=utf-8", body)
}

/// An answer with the given content type.
pub(crate) fn typed(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// Reads a request body of at most `max` bytes within [`READ_TIMEOUT`], or
/// the answer refusing it (`413`, `400`, `408`).
pub(crate) async fn body(req: Request<Incoming>, max: usize, what: &str) -> std::result::Result<Vec<u8>, Answer> {
    let body = Limited::new(req.into_body(), max);
    match tokio::time::timeout(READ_TIMEOUT, body.collect()).await {
        Ok(Ok(b)) => Ok(b.to_bytes().to_vec()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{what} is at most {max} bytes\n"),
        )),
        Ok(Err(e)) => Err(text(StatusCode::BAD_REQUEST, format!("reading the body: {e}\n"))),
        Err(_) => Err(text(StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time\n")),
    }
}

/// Serves `handle` on `listener` until the process ends; `ready` is called
/// with the bound address once connections are accepted (so `--listen
/// 127.0.0.1:0` can be used and reported). `handle` is told whether the
/// connection is over the limit (it should answer `503` at once). `what`
/// names the service in errors.
pub(crate) fn serve<F, Fut>(listener: TcpListener, what: &Path, ready: impl FnOnce(SocketAddr), handle: F) -> Result<()>
where
    F: Fn(Request<Incoming>, bool) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let addr = listener.local_addr().ctx("reading the address of", what)?;
    listener
        .set_nonblocking(true)
        .ctx("configuring the listener of", what)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .ctx("starting the server runtime for", what)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).ctx("listening on", what)?;
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
            let handle = handle.clone();
            let permit = slots.clone().try_acquire_owned().ok();
            tokio::spawn(async move {
                let busy = permit.is_none();
                let service = hyper::service::service_fn(move |req| {
                    let handle = handle.clone();
                    async move { Ok::<_, Infallible>(handle(req, busy).await) }
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
    })
}
