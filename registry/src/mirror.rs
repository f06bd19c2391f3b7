//! The client of a Debian archive mirror (`ct import debian:PKG`): plain
//! `GET`s under the mirror's URL on this crate's bounded transport, each
//! answer streamed into the caller's sink and refused as soon as it passes
//! the bound the caller gives (the size the signed chain names).
//!
//! Nothing here is trusted or parsed: `cerro_import::archive` decides what
//! to fetch, how much of it may come, and checks every byte that came
//! against the archive's signed Release before it is used.

use std::io::Write;
use std::time::Duration;

use reqwest::Url;

use crate::transport::{self, Fail};
use crate::Error;

/// The longest one download may go without a byte arriving is the
/// transport's read timeout; this bounds the whole of one small request
/// (the InRelease) and the connection of a large one.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A Debian mirror (`http://deb.debian.org/debian`): a base URL and a client.
#[derive(Debug)]
pub struct Mirror {
    base: Url,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Mirror {
    /// The mirror at `url` (`http://` or `https://`, no query or fragment);
    /// nothing is requested yet.
    pub fn new(url: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::BadReference {
            reference: url.to_owned(),
            reason: reason.to_owned(),
        };
        let base = Url::parse(url).map_err(|e| bad(&format!("not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(bad("a mirror is an http:// or https:// URL"));
        }
        if base.query().is_some() || base.fragment().is_some() || !base.username().is_empty() {
            return Err(bad("a mirror URL has no query, fragment or user name"));
        }
        let (client, rt) = transport::reader("preparing to read", url)?;
        Ok(Mirror { base, client, rt })
    }

    /// The mirror's URL.
    pub fn url(&self) -> &Url {
        &self.base
    }

    /// `GET <mirror>/<path>` into `sink`, refused once more than `limit`
    /// bytes arrive (before any when the answer announces more); `false`
    /// for a 404. `path` is relative (`dists/bookworm/InRelease`); a path
    /// that is absolute or has a `..` component is refused.
    pub fn get_into(&self, path: &str, limit: u64, sink: &mut dyn Write) -> Result<bool, Error> {
        if path.starts_with('/') || path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(Error::BadReference {
                reference: path.to_owned(),
                reason: "not a relative path under the mirror".into(),
            });
        }
        let mut url = self.base.clone();
        url.set_path(&format!("{}/{path}", self.base.path().trim_end_matches('/')));
        let shown = url.to_string();
        let net = |message: String| Error::Network {
            op: "fetching",
            target: shown.clone(),
            message,
        };
        let mut write_error = None;
        let outcome = self.rt.block_on(async {
            let resp = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get(url.clone()).send())
                .await
                .map_err(|_| None)?
                .map_err(|e| Some(Fail::from(e)))?;
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok(false);
            }
            let mut resp = transport::success(resp).await.map_err(|e| Some(Fail::Net(e)))?;
            if resp.content_length().is_some_and(|n| n > limit) {
                return Err(Some(Fail::TooLarge { limit }));
            }
            let mut got = 0u64;
            while let Some(chunk) = resp.chunk().await.map_err(|e| Some(Fail::from(e)))? {
                got += chunk.len() as u64;
                if got > limit {
                    return Err(Some(Fail::TooLarge { limit }));
                }
                if let Err(e) = sink.write_all(&chunk) {
                    write_error = Some(e);
                    return Err(None);
                }
            }
            Ok(true)
        });
        if let Some(e) = write_error {
            return Err(cerro_core::Error::io("writing what was fetched from", shown, e).into());
        }
        match outcome {
            Ok(found) => Ok(found),
            Err(None) => Err(net(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))),
            Err(Some(Fail::Net(e))) => Err(net(crate::retry::message(&e))),
            Err(Some(Fail::TooLarge { limit })) => Err(cerro_core::Error::malformed(
                shown,
                format!("the answer is larger than the {limit} bytes it may be"),
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Serves one HTTP answer on a loopback port; returns the mirror URL.
    fn answer_once(status: &str, length: usize, body: Vec<u8>) -> String {
        format!("{}/debian", crate::answer::answer_once(status, length, body))
    }

    #[test]
    fn answers_are_bounded_and_a_missing_file_is_false() {
        let m = Mirror::new(&answer_once("200 OK", 5, b"hello".to_vec())).unwrap();
        let mut out = Vec::new();
        assert!(m.get_into("dists/x/InRelease", 5, &mut out).unwrap());
        assert_eq!(out, b"hello");

        // Announced larger than the bound: refused before the body (exit 10).
        let m = Mirror::new(&answer_once("200 OK", 6, b"hello!".to_vec())).unwrap();
        let e = m.get_into("a", 5, &mut Vec::new()).unwrap_err();
        assert_eq!(cerro_core::Error::from(e).exit_code().code(), 10);

        let m = Mirror::new(&answer_once("404 Not Found", 0, Vec::new())).unwrap();
        assert!(!m.get_into("a", 5, &mut Vec::new()).unwrap());

        let m = Mirror::new(&answer_once("500 Oops", 0, Vec::new())).unwrap();
        let e = m.get_into("a", 5, &mut Vec::new()).unwrap_err();
        assert_eq!(cerro_core::Error::from(e).exit_code().code(), 12);
    }

    #[test]
    fn paths_stay_under_the_mirror_and_urls_are_plain() {
        let m = Mirror::new("http://127.0.0.1:9/debian").unwrap();
        for bad in ["/etc/passwd", "../x", "a//b", "a/./b", ""] {
            assert!(m.get_into(bad, 1, &mut Vec::new()).is_err(), "{bad}");
        }
        for bad in ["ftp://m/debian", "m/debian", "http://u@m/debian", "http://m/debian?x=1"] {
            assert!(Mirror::new(bad).is_err(), "{bad}");
        }
    }
}
