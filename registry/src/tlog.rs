//! The client side of a transparency log's write API: `POST /add` of
//! `ct log serve` (spec/transparency.md §10.3), which answers, once the
//! entry is durable, with its c2sp.org/tlog-proof. Here because this is the
//! one crate that makes network requests (ARCHITECTURE.md); core only
//! parses and verifies what comes back.
//!
//! Bounds: the answer is read with [`crate::transport::read_bounded`] at
//! most [`MAX_PROOF_BYTES`] (a proof's own bound); connecting takes at most
//! the transport's connect timeout, and the whole exchange at most
//! [`SUBMIT_TIMEOUT`]; redirects stay on the log's site. Nothing is
//! returned that does not verify: the proof must be for this entry, under a
//! checkpoint signed by the key the caller trusts for that log.

use std::time::Duration;

use cerro_core::tlog::proof::MAX_PROOF_BYTES;
use cerro_core::tlog::{TlogProof, TlogTrust, TrustedLog, VerifiedTlogProof, VerifierKey};
use reqwest::Url;

use crate::error::Error;
use crate::transport::{self, Fail};

/// The longest one submission may take, answer included: the log answers
/// once the entry's batch is fsynced, which takes milliseconds to seconds.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(60);

/// A log to submit to: where its write side is, and the key its
/// checkpoints must be signed with (the key's name is the log's origin,
/// C2SP's convention, which `ct log keygen` follows).
#[derive(Debug, Clone)]
pub struct LogEndpoint {
    /// The log's write side, e.g. `http://127.0.0.1:8080` (`/add` is appended).
    pub url: Url,
    /// The log's verifier key (Ed25519, type 0x01).
    pub key: VerifierKey,
}

impl LogEndpoint {
    /// `url` (http or https) and `key` (a C2SP verifier key,
    /// `name+hex8+base64`). A URL that is not http(s) is a usage error of
    /// its own: a bad reference (exit 78).
    pub fn new(url: &str, key: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadReference {
            reference: url.to_owned(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|e| bad(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(bad("a log's URL is http:// or https://HOST[:PORT][/PATH]".into()));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("a log's URL has no query or fragment".into()));
        }
        let key = VerifierKey::parse(key)?;
        // The trust a proof is checked against: the log alone (no witness
        // yet); refuses a key that is not a log's (type 0x01).
        TrustedLog::new(key.name(), vec![key.clone()])?;
        Ok(LogEndpoint { url: parsed, key })
    }

    /// The origin the log's checkpoints must carry.
    pub fn origin(&self) -> &str {
        self.key.name()
    }

    /// `<url>/add`.
    fn add_url(&self) -> Result<Url, Error> {
        let mut u = self.url.clone();
        let path = format!("{}/add", u.path().trim_end_matches('/'));
        u.set_path(&path);
        Ok(u)
    }
}

/// Submits `entry` (a release entry, `cerro_core::tlog::release_entry`) to
/// the log at `log` and returns its proof, once the proof verifies for
/// this entry under `log.key` ([`TlogProof::verify`]): a log that answers
/// with a proof for another entry, under another key, or whose path does
/// not reach its checkpoint's root is refused (exit 6), an answer that is
/// not a proof is malformed (exit 10), and a refusal or an unreachable log
/// is a network error (exit 12).
pub fn submit(log: &LogEndpoint, entry: &[u8]) -> Result<(TlogProof, VerifiedTlogProof), Error> {
    let url = log.add_url()?;
    let shown = url.to_string();
    let net = |message: String| Error::Network {
        op: "submitting to the transparency log",
        target: shown.clone(),
        message,
    };
    let client = transport::client(&[], false).map_err(&net)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| cerro_core::Error::io("starting the network runtime for", &shown, e))?;
    let body = rt.block_on(async {
        let exchange = async {
            let resp = client
                .post(url.clone())
                .header("content-type", "text/plain; charset=utf-8")
                .body(entry.to_vec())
                .send()
                .await
                .map_err(Fail::from)?;
            let resp = transport::success(resp).await.map_err(Fail::Net)?;
            transport::read_bounded(resp, MAX_PROOF_BYTES as u64).await
        };
        tokio::time::timeout(SUBMIT_TIMEOUT, exchange).await
    });
    let body = match body {
        Err(_) => return Err(net(format!("no answer within {} s", SUBMIT_TIMEOUT.as_secs()))),
        Ok(Err(Fail::Net(e))) => return Err(net(crate::retry::message(&e))),
        Ok(Err(Fail::TooLarge { limit })) => {
            return Err(cerro_core::Error::malformed(
                shown,
                format!("the log's answer is larger than {limit} bytes, more than any tlog-proof"),
            )
            .into())
        }
        Ok(Ok(b)) => b,
    };
    let proof = TlogProof::parse(&body)?;
    let trust = TlogTrust::logs_only(vec![TrustedLog::new(log.origin(), vec![log.key.clone()])?])?;
    let verified = proof.verify(entry, &trust)?;
    Ok((proof, verified))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cerro_core::tlog::{Ed25519NoteSigner, NoteSigner as _};

    fn vkey(name: &str) -> String {
        Ed25519NoteSigner::from_seed(name, &[7; 32])
            .unwrap()
            .verifier_key()
            .to_vkey()
    }

    #[test]
    fn endpoints_are_http_urls_with_a_log_key() {
        let k = vkey("log.example/a");
        let e = LogEndpoint::new("http://127.0.0.1:8080", &k).unwrap();
        assert_eq!(e.add_url().unwrap().as_str(), "http://127.0.0.1:8080/add");
        assert_eq!(e.origin(), "log.example/a");
        let e = LogEndpoint::new("https://log.example/a/", &k).unwrap();
        assert_eq!(e.add_url().unwrap().as_str(), "https://log.example/a/add");
        for bad in ["ftp://x/", "127.0.0.1:80", "http://x/?q=1", "file:///tmp/x"] {
            assert!(LogEndpoint::new(bad, &k).is_err(), "{bad}");
        }
        assert!(LogEndpoint::new("http://x/", "not a key").is_err());
    }
}
