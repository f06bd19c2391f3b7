//! The HTTP rules every request to a registry (and to its token server)
//! follows, on reqwest clients this crate configures itself:
//!
//! * **Bounded bodies.** A body is read chunk by chunk and refused once it
//!   passes the limit of what it may be (a manifest, an index, a token
//!   answer: see the `MAX_*` constants); a `Content-Length` above the limit
//!   is refused before the first byte. Nothing is buffered whole first.
//! * **Redirects stay on the site.** A redirect is followed only to the
//!   same scheme, host and port as the request's first URL, at most
//!   [`MAX_REDIRECTS`] times; never from HTTPS to plain HTTP. The one
//!   exception is a blob download (content-addressed, bounded by its
//!   descriptor's size and hashed by the caller), which may also be sent
//!   on to an HTTPS URL elsewhere: registries serve blobs from a CDN
//!   (Docker Hub, GHCR, ECR), and reqwest drops the `Authorization`
//!   header on such a hop.
//! * **Secrets to token servers** go only where [`realm_verdict`] allows.

use std::time::Duration;

use oci_client::errors::{OciDistributionError, OciEnvelope};
use reqwest::{Response, Url};

use crate::retry::{is_retryable, Transient};

/// Timeouts of every connection to a registry (and its token server).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// See [`CONNECT_TIMEOUT`].
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Most redirects followed for one request.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// Largest token-server answer (and `/v2/` answer) read: token answers are
/// a few kilobytes.
pub(crate) const MAX_ANSWER: u64 = 64 << 10;

/// Bytes of an error answer kept for the message; the rest is not read.
pub(crate) const MAX_ERROR_BODY: u64 = 16 << 10;

/// Why one attempt at a request failed.
#[derive(Debug)]
pub(crate) enum Fail {
    /// The transport failed or the server answered an error status.
    Net(OciDistributionError),
    /// The body is larger than the `limit` of what it may be.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
}

impl From<OciDistributionError> for Fail {
    fn from(e: OciDistributionError) -> Self {
        Fail::Net(e)
    }
}

impl From<reqwest::Error> for Fail {
    fn from(e: reqwest::Error) -> Self {
        Fail::Net(e.into())
    }
}

impl Transient for Fail {
    fn transient(&self) -> bool {
        matches!(self, Fail::Net(e) if is_retryable(e))
    }
}

/// `host[:port]` (with the default port made explicit) of `url`.
pub(crate) fn site(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// Whether `a` and `b` have the same scheme, host and port.
pub(crate) fn same_site(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// Whether a request first sent to `first` may be redirected to `next`
/// after `hops` redirects: `Ok`, or why not. `cdn`: the request is a blob
/// download, which may also go on to an HTTPS URL on another site.
pub(crate) fn redirect_verdict(first: &Url, next: &Url, hops: usize, cdn: bool) -> Result<(), String> {
    if hops > MAX_REDIRECTS {
        return Err(format!(
            "refused a redirect from {}: more than {MAX_REDIRECTS} redirects",
            site(first)
        ));
    }
    if first.scheme() == "https" && next.scheme() != "https" {
        return Err(format!(
            "refused a redirect from {} to {}: it leaves HTTPS",
            site(first),
            site(next)
        ));
    }
    if same_site(first, next) || (cdn && next.scheme() == "https") {
        return Ok(());
    }
    Err(format!(
        "refused a redirect from {} to {}: it leaves the registry's site",
        site(first),
        site(next)
    ))
}

/// The single-threaded runtime every blocking entry point of this crate
/// drives its requests on (`target` names what it is for in the error).
pub(crate) fn runtime(target: &str) -> Result<tokio::runtime::Runtime, crate::Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| cerro_core::Error::io("starting the network runtime for", target, e).into())
}

/// A client for a server outside the registry protocol (a transparency
/// log, a witness, a Debian mirror): the system's roots, no CDN
/// redirects, and the runtime to drive it; `op` and `target` name it in
/// the error.
pub(crate) fn reader(
    op: &'static str,
    target: &str,
) -> Result<(reqwest::Client, tokio::runtime::Runtime), crate::Error> {
    let client = client(&[], false, true).map_err(|message| crate::Error::Network {
        op,
        target: target.to_owned(),
        message,
    })?;
    Ok((client, runtime(target)?))
}

/// A client with the registry's certificate authorities (`cas`, PEM), the
/// timeouts, and the redirect policy of [`redirect_verdict`] (`cdn`: for
/// blob downloads). With `system_roots`, the system's roots too; without,
/// `cas` only: for a plain-HTTP registry on the loopback interface, which
/// needs no TLS at all, loading and parsing the system's some 150 roots
/// (about 20 ms) would be the slowest part of its small requests.
pub(crate) fn client(cas: &[Vec<u8>], cdn: bool, system_roots: bool) -> Result<reqwest::Client, String> {
    let certs = cas
        .iter()
        .map(|pem| reqwest::Certificate::from_pem(pem).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        let verdict = match attempt.previous().first() {
            Some(first) => redirect_verdict(first, attempt.url(), attempt.previous().len(), cdn),
            None => Err("a redirect without an origin".to_owned()),
        };
        match verdict {
            Ok(()) => attempt.follow(),
            Err(why) => attempt.error(why),
        }
    });
    let builder = reqwest::Client::builder();
    let builder = if system_roots {
        builder.tls_certs_merge(certs)
    } else {
        builder.tls_certs_only(certs)
    };
    builder
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .redirect(policy)
        .user_agent(concat!("cerro-torre/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// What the token server may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secret {
    /// Nothing (an anonymous token).
    None,
    /// A password (the OAuth2 password grant, docker's `GET realm`).
    Password,
    /// An identity (refresh) token: long-lived, the most guarded.
    Identity,
}

/// Whether `realm`, named by the challenge of the registry at `registry`
/// (`http[s]://host[:port]/`), may be asked for a token with `secret`:
/// an HTTPS realm always; a plain-HTTP realm only for a plain-HTTP
/// registry (never a downgrade), and with a secret only on the registry's
/// own host, and for an identity token only if that host is the loopback
/// interface (a plain-HTTP registry elsewhere came from `--insecure`: a
/// password is sent there anyway, a refresh token is not).
pub(crate) fn realm_verdict(realm: &Url, registry: &Url, secret: Secret) -> Result<(), String> {
    match realm.scheme() {
        "https" => return Ok(()),
        "http" => {}
        other => return Err(format!("the token server {realm} is not an http(s) URL ({other})")),
    }
    if registry.scheme() == "https" {
        return Err(format!(
            "the HTTPS registry names a plain-HTTP token server {realm}: refused"
        ));
    }
    let same_host = realm.host_str().is_some() && realm.host_str() == registry.host_str();
    let loopback = registry.host_str().is_some_and(crate::client::is_loopback);
    match secret {
        Secret::None => Ok(()),
        Secret::Password if same_host => Ok(()),
        Secret::Identity if same_host && loopback => Ok(()),
        Secret::Password => Err(format!(
            "the registry names a plain-HTTP token server on another host ({realm}): credentials are sent \
             over plain HTTP only to the registry's own host"
        )),
        Secret::Identity => Err(format!(
            "the registry names a plain-HTTP token server {realm}: an identity token is sent only to an \
             HTTPS token server, or over plain HTTP to the host of a loopback registry"
        )),
    }
}

/// The body of `resp`, refused past `limit` bytes (before reading any of
/// it if the answer announces more).
pub(crate) async fn read_bounded(mut resp: Response, limit: u64) -> Result<Vec<u8>, Fail> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(Fail::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Fail::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most `limit` bytes of the body of `resp` (the rest is not read).
async fn read_prefix(mut resp: Response, limit: u64) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = usize::try_from(limit).unwrap_or(usize::MAX).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..room.min(chunk.len())]);
        if body.len() as u64 >= limit {
            break;
        }
    }
    body
}

/// The error an unsuccessful answer stands for: the registry's error
/// envelope when it sent one, else its status and (the start of) its text.
pub(crate) async fn failure(resp: Response) -> OciDistributionError {
    let code = resp.status().as_u16();
    // Said when the body says nothing (a HEAD answer has none).
    let reason = resp.status().canonical_reason().unwrap_or("").to_owned();
    let url = resp.url().to_string();
    let body = read_prefix(resp, MAX_ERROR_BODY).await;
    match serde_json::from_slice::<OciEnvelope>(&body) {
        Ok(envelope) if !envelope.errors.is_empty() => OciDistributionError::RegistryError { envelope, url },
        _ => {
            let text = String::from_utf8_lossy(&body);
            OciDistributionError::ServerError {
                code,
                url,
                message: if text.trim().is_empty() {
                    reason
                } else {
                    text.into_owned()
                },
            }
        }
    }
}

/// `resp` if it is a success, else its [`failure`].
pub(crate) async fn success(resp: Response) -> Result<Response, OciDistributionError> {
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(failure(resp).await)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn redirects_stay_on_the_site_and_never_leave_https() {
        let reg = u("https://r.example/v2/a/manifests/1");
        assert!(redirect_verdict(&reg, &u("https://r.example:443/v2/b"), 1, false).is_ok());
        for (next, why) in [
            ("http://r.example/v2/b", "leaves HTTPS"),
            ("https://r.example:8443/v2/b", "leaves the registry's site"),
            ("https://other.example/v2/b", "leaves the registry's site"),
            ("http://169.254.169.254/latest/meta-data", "leaves HTTPS"),
        ] {
            let e = redirect_verdict(&reg, &u(next), 1, false).unwrap_err();
            assert!(e.contains(why), "{next}: {e}");
        }
        // Blob downloads may go on to a CDN, over HTTPS only.
        assert!(redirect_verdict(&reg, &u("https://cdn.example/x?sig=1"), 1, true).is_ok());
        assert!(redirect_verdict(&reg, &u("http://cdn.example/x"), 1, true).is_err());
        let plain = u("http://127.0.0.1:5000/v2/");
        assert!(redirect_verdict(&plain, &u("http://127.0.0.1:5000/v2/x"), 1, false).is_ok());
        assert!(redirect_verdict(&plain, &u("http://127.0.0.1:6000/v2/x"), 1, true).is_err());
        assert!(redirect_verdict(&plain, &u("http://127.0.0.1:5000/v2/x"), MAX_REDIRECTS + 1, false).is_err());
    }

    #[test]
    fn secrets_go_to_https_realms_or_the_plain_http_registrys_own_host() {
        let https = u("https://r.example/");
        let loopback = u("http://127.0.0.1:5000/");
        let insecure = u("http://10.0.0.7:5000/");
        let ok = |realm: &str, reg: &Url, s| realm_verdict(&u(realm), reg, s).is_ok();
        for s in [Secret::None, Secret::Password, Secret::Identity] {
            assert!(ok("https://auth.example/token", &https, s));
            assert!(ok("https://auth.example/token", &loopback, s));
            assert!(!ok("http://auth.example/token", &https, s), "downgrade");
            assert!(!ok("ftp://auth.example/token", &loopback, s));
        }
        assert!(ok("http://127.0.0.1:5001/token", &loopback, Secret::Identity));
        assert!(!ok("http://127.0.0.2:5001/token", &loopback, Secret::Identity));
        assert!(!ok("http://auth.example/token", &loopback, Secret::Identity));
        assert!(!ok("http://10.0.0.7:5001/token", &insecure, Secret::Identity));
        assert!(ok("http://10.0.0.7:5001/token", &insecure, Secret::Password));
        assert!(!ok("http://10.0.0.8/token", &insecure, Secret::Password));
        assert!(ok("http://10.0.0.8/token", &insecure, Secret::None));
    }
}
