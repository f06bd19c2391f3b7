//! Retrying registry calls that failed for reasons that may pass: 5xx
//! answers, refused or reset connections, timeouts. Anything else (4xx,
//! bad digests, auth) is final: repeating it would only delay the error.

use std::future::Future;
use std::time::Duration;

use oci_client::errors::OciDistributionError;

/// Waits before each retry: three retries after the first attempt.
pub(crate) const BACKOFF_MS: [u64; 3] = [200, 400, 800];

/// Whether `e` is worth another attempt.
pub(crate) fn is_retryable(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ServerError { code, .. } => retryable_status(*code),
        OciDistributionError::RequestError(r) => {
            r.is_connect()
                || r.is_timeout()
                || r.status().is_some_and(|s| retryable_status(s.as_u16()))
                || io_kind_in_chain(r).is_some_and(retryable_io)
        }
        OciDistributionError::IoError(io) => retryable_io(io.kind()),
        _ => false,
    }
}

/// 5xx: the registry failed, not the request.
pub(crate) fn retryable_status(code: u16) -> bool {
    (500..600).contains(&code)
}

/// Transport failures a second attempt may not meet.
pub(crate) fn retryable_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        ConnectionReset | ConnectionAborted | ConnectionRefused | BrokenPipe | UnexpectedEof | TimedOut | Interrupted
    )
}

fn io_kind_in_chain(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = c.source();
    }
    None
}

/// The most useful one-line text of `e`: the registry's own error messages
/// when it sent some, else the transport error with its causes.
pub(crate) fn message(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::RegistryError { envelope, url } => {
            let msgs: Vec<String> = envelope
                .errors
                .iter()
                .map(|x| format!("{:?}: {}", x.code, x.message))
                .collect();
            format!("{} ({url})", msgs.join("; "))
        }
        OciDistributionError::ServerError { code, url, message } => {
            format!("HTTP {code} from {url}: {}", message.trim())
        }
        other => {
            let mut s = other.to_string();
            let mut cur = std::error::Error::source(other);
            while let Some(c) = cur {
                let t = c.to_string();
                if !s.contains(&t) {
                    s.push_str(": ");
                    s.push_str(&t);
                }
                cur = c.source();
            }
            s
        }
    }
}

/// An error that says whether another attempt may meet a different fate.
pub(crate) trait Transient {
    /// Whether the failure may pass (a 5xx, a cut connection).
    fn transient(&self) -> bool;
}

impl Transient for OciDistributionError {
    fn transient(&self) -> bool {
        is_retryable(self)
    }
}

/// Runs `attempt` until it succeeds, fails for a final reason, or the
/// backoff schedule is used up. `attempt` is called afresh each time, so a
/// streamed upload re-opens its source.
pub(crate) async fn with_retry<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    E: Transient,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut waits = BACKOFF_MS.iter();
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if e.transient() => match waits.next() {
                Some(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::cell::Cell;
    use std::io::{Error as IoError, ErrorKind};

    fn server(code: u16) -> OciDistributionError {
        OciDistributionError::ServerError {
            code,
            url: "http://r/v2/".into(),
            message: "boom".into(),
        }
    }

    #[test]
    fn only_5xx_and_transport_failures_are_retried() {
        assert!(is_retryable(&server(500)));
        assert!(is_retryable(&server(503)));
        assert!(!is_retryable(&server(404)));
        assert!(!is_retryable(&server(401)));
        assert!(is_retryable(&OciDistributionError::IoError(IoError::from(
            ErrorKind::ConnectionReset
        ))));
        assert!(!is_retryable(&OciDistributionError::IoError(IoError::from(
            ErrorKind::PermissionDenied
        ))));
        assert!(!is_retryable(&OciDistributionError::AuthenticationFailure("no".into())));
        assert!(!is_retryable(&OciDistributionError::UnauthorizedError {
            url: "u".into()
        }));
        let envelope: oci_client::errors::OciEnvelope =
            serde_json::from_str(r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#)
                .unwrap();
        let e = OciDistributionError::RegistryError {
            envelope,
            url: "http://r/v2/x/blobs/sha256:00".into(),
        };
        assert!(!is_retryable(&e));
        assert!(message(&e).contains("blob unknown to registry"), "{}", message(&e));
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn retries_follow_the_schedule_then_give_up() {
        let calls = Cell::new(0);
        let r: Result<(), OciDistributionError> = block_on(with_retry(|| {
            calls.set(calls.get() + 1);
            async { Err(server(502)) }
        }));
        assert!(r.is_err());
        assert_eq!(calls.get(), 1 + BACKOFF_MS.len());

        let calls = Cell::new(0);
        let r: Result<(), OciDistributionError> = block_on(with_retry(|| {
            calls.set(calls.get() + 1);
            async { Err(server(400)) }
        }));
        assert!(r.is_err());
        assert_eq!(calls.get(), 1, "a 4xx is final");

        let calls = Cell::new(0);
        let r = block_on(with_retry(|| {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(OciDistributionError::IoError(IoError::from(ErrorKind::ConnectionReset)))
                } else {
                    Ok::<_, OciDistributionError>(n)
                }
            }
        }));
        assert_eq!(r.unwrap(), 3);
    }
}
