//! The client side of a transparency log's write API: `POST /add` of
//! `ct log serve` (spec/transparency.md §10.3), which answers, once the
//! entry is durable, with its c2sp.org/tlog-proof; and of the read sides a
//! monitor uses ([`ReadSide`]): a log's tlog-tiles (`checkpoint`,
//! `tile/<L>/<N>[.p/<W>]`) and a witness's latest cosigned checkpoint (our
//! `GET /checkpoint/<hex>`, §13.4); and a producer's requests to witnesses
//! ([`cosign`]: C2SP tlog-witness `add-checkpoint`, §12.1.1, the protocol
//! being core's `tlog::witness::ask_witnesses`). Here because this is the
//! one crate that makes network requests (ARCHITECTURE.md); core only
//! parses and verifies what comes back (`cerro_core::tlog::monitor`).
//!
//! Bounds: the answer is read with [`crate::transport::read_bounded`] at
//! most [`MAX_PROOF_BYTES`] (a proof's own bound); connecting takes at most
//! the transport's connect timeout, and the whole exchange at most
//! [`SUBMIT_TIMEOUT`]; redirects stay on the log's site. Nothing is
//! returned that does not verify: the proof must be for this entry, under a
//! checkpoint signed by the key the caller trusts for that log.

use std::time::Duration;

use cerro_core::digest::Digest;
use cerro_core::tlog::merkle::{self, Hash};
use cerro_core::tlog::note::ALG_COSIGNATURE_V1;
use cerro_core::tlog::proof::MAX_PROOF_BYTES;
use cerro_core::tlog::tiles::TileHashes;
use cerro_core::tlog::witness::{ask_witnesses, Exchange};
use cerro_core::tlog::{SignedCheckpoint, TlogProof, TlogTrust, TrustedLog, VerifiedTlogProof, VerifierKey};
use reqwest::Url;

use crate::error::Error;
use crate::transport::{self, Fail};

/// The longest one submission may take, answer included: the log answers
/// once the entry's batch is fsynced, which takes milliseconds to seconds.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(60);

/// A log to submit to: where its write side is, and the key its
/// checkpoints must be signed with (the key's name is the log's origin,
/// C2SP's convention, which `ct log keygen` follows), or none: then the
/// trust store's logs decide which origin and key the answer must have.
#[derive(Debug, Clone)]
pub struct LogEndpoint {
    /// The log's write side, e.g. `http://127.0.0.1:8080` (`/add` is appended).
    pub url: Url,
    /// The log's verifier key (Ed25519, type 0x01), if given.
    pub key: Option<VerifierKey>,
}

impl LogEndpoint {
    /// `URL` or `URL=VKEY` (`ct … --log`): an http(s) URL without query
    /// or fragment, and a C2SP verifier key (`name+hex8+base64`) of a log.
    /// The URL ends at the first `=` (a verifier key may end in `=`).
    pub fn parse(arg: &str) -> Result<Self, Error> {
        let (url, key) = match arg.split_once('=') {
            Some((u, k)) => (u, Some(k)),
            None => (arg, None),
        };
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
        let key = match key {
            Some(k) => {
                let key = VerifierKey::parse(k)?;
                // Refuses a key that is not a log's (type 0x01).
                TrustedLog::new(key.name(), vec![key.clone()])?;
                Some(key)
            }
            None => None,
        };
        Ok(LogEndpoint { url: parsed, key })
    }

    /// `<url>/add`.
    fn add_url(&self) -> Url {
        let mut u = self.url.clone();
        let path = format!("{}/add", u.path().trim_end_matches('/'));
        u.set_path(&path);
        u
    }

    /// What the answer is verified against: the given key's log alone,
    /// else `store` (the trust store's logs).
    fn trust(&self, store: Option<&TlogTrust>) -> Result<TlogTrust, Error> {
        match (&self.key, store) {
            (Some(k), _) => Ok(TlogTrust::logs_only(vec![TrustedLog::new(k.name(), vec![k.clone()])?])?),
            (None, Some(t)) => Ok(t.clone()),
            (None, None) => Err(cerro_core::Error::invalid_config(
                "transparency log",
                format!(
                    "no key to check the proof of {} by: give --log URL=VKEY, or trust the log first (ct log trust VKEY)",
                    self.url
                ),
            )
            .into()),
        }
    }
}

/// Submits `entry` (a release entry, `cerro_core::tlog::release_entry`) to
/// `log` and returns its proof, once the proof verifies for this entry
/// ([`TlogProof::verify`]) under the log's given key, else under `store`'s
/// logs: a log that answers with a proof for another entry, under another
/// key or origin, or whose path does not reach its checkpoint's root is
/// refused (exit 6), an answer that is not a proof is malformed (exit 10),
/// and a refusal or an unreachable log is a network error (exit 12).
pub fn submit(
    log: &LogEndpoint,
    entry: &[u8],
    store: Option<&TlogTrust>,
) -> Result<(TlogProof, VerifiedTlogProof), Error> {
    let trust = log.trust(store)?;
    let url = log.add_url();
    let shown = url.to_string();
    let net = |message: String| Error::Network {
        op: "submitting to the transparency log",
        target: shown.clone(),
        message,
    };
    let client = transport::client(&[], false, true).map_err(&net)?;
    let rt = transport::runtime(&shown)?;
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
    let verified = proof.verify(entry, &trust)?;
    Ok((proof, verified))
}

/// The longest a [`get_document`] may take.
pub const GET_TIMEOUT: Duration = Duration::from_secs(60);

/// Fetches a small signed document published over HTTP(S), such as a
/// revocation list (`ct revocation fetch URL`): `GET url`, the body read
/// with a bound of `max` bytes, within [`GET_TIMEOUT`], redirects on the
/// same site only. Nothing is trusted here: the caller verifies what comes
/// back (core's `verify_revocation`) before it is used.
pub fn get_document(url: &str, max: u64) -> Result<Vec<u8>, Error> {
    let bad = |reason: String| Error::BadReference {
        reference: url.to_owned(),
        reason,
    };
    let parsed = Url::parse(url).map_err(|e| bad(format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(bad("not an http:// or https:// URL".into()));
    }
    let net = |message: String| Error::Network {
        op: "fetching",
        target: url.to_owned(),
        message,
    };
    let client = transport::client(&[], false, true).map_err(&net)?;
    let rt = transport::runtime(url)?;
    let body = rt.block_on(async {
        let exchange = async {
            let resp = client.get(parsed.clone()).send().await.map_err(Fail::from)?;
            let resp = transport::success(resp).await.map_err(Fail::Net)?;
            transport::read_bounded(resp, max).await
        };
        tokio::time::timeout(GET_TIMEOUT, exchange).await
    });
    match body {
        Err(_) => Err(net(format!("no answer within {} s", GET_TIMEOUT.as_secs()))),
        Ok(Err(Fail::Net(e))) => Err(net(crate::retry::message(&e))),
        Ok(Err(Fail::TooLarge { limit })) => {
            Err(cerro_core::Error::malformed(url, format!("the answer is larger than {limit} bytes")).into())
        }
        Ok(Ok(b)) => Ok(b),
    }
}

/// The longest one read (a checkpoint or a tile) may take, connection
/// included.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest checkpoint read from a log or a witness: a checkpoint is a
/// few lines and a signature line per signer; 16 KiB holds over a hundred
/// cosignatures.
pub const MAX_CHECKPOINT_BYTES: u64 = 16 * 1024;

/// The read side of a log (its tlog-tiles prefix) or of a witness (its
/// monitoring prefix), over this crate's bounded transport: each answer
/// read with a bound before it is held (a checkpoint at most
/// [`MAX_CHECKPOINT_BYTES`], a tile exactly its size), each request within
/// [`READ_TIMEOUT`], redirects kept on the site. Nothing it returns is
/// trusted: the caller verifies checkpoints under the log's key and tiles
/// against a signed root (`cerro_core::tlog::monitor::compare`).
#[derive(Debug)]
pub struct ReadSide {
    base: Url,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl ReadSide {
    /// The read side at `url` (`http://` or `https://`, no query or
    /// fragment); nothing is requested yet.
    pub fn new(url: &str) -> Result<Self, Error> {
        let base = LogEndpoint::parse(url)?.url;
        let (client, rt) = transport::reader("preparing to read", url)?;
        Ok(ReadSide { base, client, rt })
    }

    /// The URL it reads under.
    pub fn url(&self) -> &Url {
        &self.base
    }

    /// `GET <base>/<path>`, at most `limit` bytes; `None` for a 404.
    fn get(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, Error> {
        let mut url = self.base.clone();
        url.set_path(&format!("{}/{path}", self.base.path().trim_end_matches('/')));
        let shown = url.to_string();
        let net = |message: String| Error::Network {
            op: "reading",
            target: shown.clone(),
            message,
        };
        let body = self.rt.block_on(async {
            let exchange = async {
                let resp = self.client.get(url.clone()).send().await.map_err(Fail::from)?;
                if resp.status() == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                let resp = transport::success(resp).await.map_err(Fail::Net)?;
                transport::read_bounded(resp, limit).await.map(Some)
            };
            tokio::time::timeout(READ_TIMEOUT, exchange).await
        });
        match body {
            Err(_) => Err(net(format!("no answer within {} s", READ_TIMEOUT.as_secs()))),
            Ok(Err(Fail::Net(e))) => Err(net(crate::retry::message(&e))),
            Ok(Err(Fail::TooLarge { limit })) => Err(cerro_core::Error::malformed(
                shown,
                format!("the answer is larger than the {limit} bytes it may be"),
            )
            .into()),
            Ok(Ok(b)) => Ok(b),
        }
    }

    /// A log's `checkpoint` (tlog-tiles: "the latest checkpoint"), parsed,
    /// not verified. A log with none is a network error (exit 12).
    pub fn log_checkpoint(&self) -> Result<SignedCheckpoint, Error> {
        let bytes = self
            .get("checkpoint", MAX_CHECKPOINT_BYTES)?
            .ok_or_else(|| Error::Network {
                op: "reading",
                target: format!("{}/checkpoint", self.base.as_str().trim_end_matches('/')),
                message: "404 Not Found: not a log's read side".to_owned(),
            })?;
        Ok(SignedCheckpoint::parse(&bytes)?)
    }

    /// A tile of the log, which must be exactly `len` bytes ("Full tiles
    /// MUST be exactly 256 hashes wide"; a partial tile its width): more is
    /// refused as it arrives (exit 10), less after it.
    pub fn tile(&self, path: &str, len: u64) -> Result<Vec<u8>, Error> {
        let bytes = self.get(path, len)?.ok_or_else(|| Error::Network {
            op: "reading",
            target: format!("{}/{path}", self.base.as_str().trim_end_matches('/')),
            message: "404 Not Found (the log may have grown meanwhile: run again)".to_owned(),
        })?;
        if bytes.len() as u64 != len {
            return Err(cerro_core::Error::malformed(path, format!("{} bytes, not {len}", bytes.len())).into());
        }
        Ok(bytes)
    }

    /// A witness's latest cosigned checkpoint of the log `origin` (`GET
    /// <base>/checkpoint/<hex of SHA-256(origin)>`, §13.4), parsed, not
    /// verified; `None` when it has none (404).
    pub fn witness_checkpoint(&self, origin: &str) -> Result<Option<SignedCheckpoint>, Error> {
        let path = format!("checkpoint/{}", Digest::of(origin.as_bytes()).hex());
        match self.get(&path, MAX_CHECKPOINT_BYTES)? {
            Some(bytes) => Ok(Some(SignedCheckpoint::parse(&bytes)?)),
            None => Ok(None),
        }
    }

    /// [`ReadSide::tile`] as the fetch function of
    /// `cerro_core::tlog::tiles::TileHashes`.
    pub fn tile_fetcher(&self) -> impl FnMut(&str, u64) -> cerro_core::Result<Vec<u8>> + '_ {
        move |path, len| self.tile(path, len).map_err(cerro_core::Error::from)
    }
}

/// The longest one witness may take to answer one `add-checkpoint`,
/// connection included (tlog-witness: a witness answers at once).
pub const WITNESS_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer read from a witness: its cosignature lines (one per
/// witness key, each under 200 bytes), or a short refusal.
pub const MAX_WITNESS_ANSWER: u64 = 16 * 1024;

/// A witness a producer asks (`ct log submit --witness URL=VKEY`): its
/// tlog-witness submission prefix (`/add-checkpoint` is appended) and its
/// cosignature/v1 verifier key.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// The submission prefix.
    pub url: Url,
    /// The witness's key (type 0x04).
    pub key: VerifierKey,
}

impl WitnessEndpoint {
    /// `URL=VKEY`: an http(s) URL without query or fragment, and a C2SP
    /// cosignature/v1 verifier key. The URL ends at the first `=`.
    pub fn parse(arg: &str) -> Result<Self, Error> {
        let (url, key) = arg.split_once('=').ok_or_else(|| Error::BadReference {
            reference: arg.to_owned(),
            reason: "a witness is URL=VKEY: its URL and its cosignature/v1 verifier key".into(),
        })?;
        let url = LogEndpoint::parse(url)
            .map_err(|e| match e {
                Error::BadReference { reference, reason } => Error::BadReference {
                    reference,
                    reason: reason.replace("a log's URL", "a witness's URL"),
                },
                other => other,
            })?
            .url;
        let key = VerifierKey::parse(key)?;
        if key.alg() != ALG_COSIGNATURE_V1 {
            return Err(cerro_core::Error::invalid_config(
                "witness",
                format!("{}: not a cosignature/v1 key (type 0x04)", key.to_vkey()),
            )
            .into());
        }
        Ok(WitnessEndpoint { url, key })
    }

    /// `<url>/add-checkpoint`.
    fn add_url(&self) -> Url {
        let mut u = self.url.clone();
        let path = format!("{}/add-checkpoint", u.path().trim_end_matches('/'));
        u.set_path(&path);
        u
    }

    /// The witness as messages name it: `name (URL)`.
    pub fn shown(&self) -> String {
        format!("{} ({})", self.key.name(), self.url)
    }
}

/// What became of one witness asked by [`cosign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessOutcome {
    /// Its cosignature was already on the checkpoint (the log collected
    /// it): not asked.
    Already,
    /// It cosigned, and the cosignature verified under its key and was
    /// added.
    Cosigned,
    /// It did not, or its answer did not verify: why, in one line (the
    /// HTTP status when it answered).
    Refused(String),
}

/// Whether a verified cosignature by `key` is on `checkpoint`.
fn cosigned_by(checkpoint: &SignedCheckpoint, key: &VerifierKey) -> bool {
    checkpoint
        .note()
        .verify(std::slice::from_ref(key))
        .is_ok_and(|v| !v.is_empty())
}

/// Collects cosignatures of `proof`'s checkpoint from `witnesses` that
/// have not already cosigned it, asking each directly with C2SP
/// tlog-witness (`POST <url>/add-checkpoint`, the protocol in
/// `cerro_core::tlog::witness::ask_witnesses`, shared with the log's own
/// witnessing): first from `old 0`, then, on a `409 Conflict` naming the
/// size the witness last cosigned, once more with a consistency proof from
/// that size, computed from the log's tlog-tiles read side at `read` (the
/// trust store's URL of the log; without one, such a witness is reported).
/// Every answer is verified (cosignature/v1 over this checkpoint under the
/// witness's given key) before its line is added; the new lines are added
/// in the order of the witnesses' key names and IDs, whatever order the
/// witnesses were given or answered in. The inclusion proof is unchanged:
/// adding a cosignature changes no signed byte of the checkpoint or the
/// release. Returns the proof with the cosignatures added, and each
/// witness's outcome in the order given; a refusal is an outcome, not an
/// error (the caller decides whether the quorum is met).
pub fn cosign(
    proof: &TlogProof,
    witnesses: &[WitnessEndpoint],
    read: Option<&str>,
) -> Result<(TlogProof, Vec<WitnessOutcome>), Error> {
    let checkpoint = proof.checkpoint();
    // Decided as they come: already there, refused, then the answers
    // that verify.
    let mut outcomes: Vec<Option<WitnessOutcome>> = witnesses
        .iter()
        .map(|w| cosigned_by(checkpoint, &w.key).then_some(WitnessOutcome::Already))
        .collect();
    let ask: Vec<usize> = (0..witnesses.len())
        .filter(|&i| outcomes.get(i).is_some_and(Option::is_none))
        .collect();
    let finish = |outcomes: Vec<Option<WitnessOutcome>>| -> Vec<WitnessOutcome> {
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| WitnessOutcome::Refused("not asked".into())))
            .collect()
    };
    if ask.is_empty() {
        return Ok((proof.clone(), finish(outcomes)));
    }
    let client = transport::client(&[], false, true).map_err(|message| Error::Network {
        op: "preparing to ask the witnesses",
        target: read.unwrap_or_default().to_owned(),
        message,
    })?;
    let rt = transport::runtime("the witnesses")?;
    let urls: Vec<Url> = ask
        .iter()
        .filter_map(|&i| witnesses.get(i))
        .map(WitnessEndpoint::add_url)
        .collect();
    // The log's read side, opened on the first 409 that needs a proof.
    let mut side: Option<ReadSide> = None;
    let mut proof_from = |old: u64, new: u64| -> std::result::Result<Vec<Hash>, String> {
        let url = read.ok_or_else(|| {
            format!(
                "the log {} has no read URL in the trust store to compute the proof from (ct log trust VKEY --url URL)",
                checkpoint.checkpoint().origin()
            )
        })?;
        if side.is_none() {
            side = Some(ReadSide::new(url).map_err(|e| cerro_core::Error::from(e).to_string())?);
        }
        let Some(s) = side.as_ref() else {
            return Err("no read side".into());
        };
        consistency_from_tiles(s, old, new).map_err(|e| cerro_core::Error::from(e).to_string())
    };
    let mut post = |requests: Vec<(usize, Vec<u8>)>| -> Vec<(usize, Exchange)> {
        rt.block_on(async {
            let asks = requests.into_iter().filter_map(|(i, body)| {
                let url = urls.get(i)?.clone();
                let client = client.clone();
                Some(async move { (i, post_add_checkpoint(&client, url, body).await) })
            });
            futures_util::future::join_all(asks).await
        })
    };
    let mut known = vec![0u64; ask.len()];
    let asked = ask_witnesses(checkpoint, &mut known, &mut proof_from, &mut post);
    // The answers that verify, added in the canonical order.
    let mut answered: Vec<(usize, Vec<u8>)> = Vec::new();
    for (&i, a) in ask.iter().zip(asked) {
        let outcome = match a {
            Ok(body) => {
                answered.push((i, body));
                continue;
            }
            Err(why) => WitnessOutcome::Refused(why),
        };
        if let Some(o) = outcomes.get_mut(i) {
            *o = Some(outcome);
        }
    }
    answered.sort_by(|(a, _), (b, _)| {
        let key = |i: &usize| witnesses.get(*i).map(|w| (w.key.name().to_owned(), w.key.key_id()));
        key(a).cmp(&key(b))
    });
    let mut cosigned = checkpoint.clone();
    for (i, body) in answered {
        let Some(w) = witnesses.get(i) else { continue };
        let outcome = match cosigned.add_cosignatures(&body, &w.key) {
            Ok(()) => WitnessOutcome::Cosigned,
            Err(e) => WitnessOutcome::Refused(format!(
                "its answer is not its cosignature of this checkpoint under {}: {e}",
                w.key.to_vkey()
            )),
        };
        if let Some(o) = outcomes.get_mut(i) {
            *o = Some(outcome);
        }
    }
    let out = TlogProof::new(proof.index(), proof.inclusion().to_vec(), cosigned)?;
    Ok((out, finish(outcomes)))
}

/// The consistency proof from the tree of `old` leaves to that of `new`,
/// from the log's tiles at `side`: read under the size of the log's latest
/// checkpoint (at least `new`), whose full tiles hold every hash of the
/// smaller trees, so the proof does not need the partial tiles of `new`,
/// which the log removes once they are full. Nothing read is trusted: a
/// wrong proof is the witness's to refuse (422).
fn consistency_from_tiles(side: &ReadSide, old: u64, new: u64) -> Result<Vec<Hash>, Error> {
    let latest = side.log_checkpoint()?.checkpoint().size();
    if latest < new {
        return Err(cerro_core::Error::malformed(
            side.url().as_str(),
            format!("the log's read side serves a tree of {latest} entries, fewer than the {new} of its proof"),
        )
        .into());
    }
    let mut fetch = side.tile_fetcher();
    let mut tiles = TileHashes::new(latest, &mut fetch);
    Ok(merkle::consistency_proof_by(old, new, &mut |a, b| tiles.range(a, b))?)
}

/// One `POST <url>` of an add-checkpoint body, within [`WITNESS_TIMEOUT`],
/// the answer read up to [`MAX_WITNESS_ANSWER`] bytes whatever its status
/// (a 409's body is the witness's size).
async fn post_add_checkpoint(client: &reqwest::Client, url: Url, body: Vec<u8>) -> Exchange {
    let shown = url.to_string();
    let exchange = async {
        let resp = client
            .post(url)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let e = oci_client::errors::OciDistributionError::from(e);
                format!("asking {shown}: {}", crate::retry::message(&e))
            })?;
        let status = resp.status().as_u16();
        match transport::read_bounded(resp, MAX_WITNESS_ANSWER).await {
            Ok(b) => Ok((status, b)),
            Err(Fail::TooLarge { limit }) => Err(format!("HTTP {status}: an answer larger than {limit} bytes")),
            Err(Fail::Net(e)) => Err(format!("reading the answer of {shown}: {}", crate::retry::message(&e))),
        }
    };
    tokio::time::timeout(WITNESS_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("{shown} did not answer within {} s", WITNESS_TIMEOUT.as_secs())))
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
    fn endpoints_are_http_urls_with_an_optional_log_key() {
        let k = vkey("log.example/a");
        let e = LogEndpoint::parse(&format!("http://127.0.0.1:8080={k}")).unwrap();
        assert_eq!(e.add_url().as_str(), "http://127.0.0.1:8080/add");
        assert_eq!(e.key.as_ref().unwrap().name(), "log.example/a");
        let e = LogEndpoint::parse("https://log.example/a/").unwrap();
        assert_eq!(e.add_url().as_str(), "https://log.example/a/add");
        assert!(e.key.is_none());
        // No key and no trusted log: nothing to check an answer by (78).
        let err = cerro_core::Error::from(e.trust(None).unwrap_err());
        assert_eq!(err.exit_code(), cerro_core::ExitCode::Config, "{err}");
        for bad in ["ftp://x/", "127.0.0.1:80", "http://x/?q", "file:///tmp/x"] {
            assert!(LogEndpoint::parse(bad).is_err(), "{bad}");
        }
        assert!(LogEndpoint::parse("http://x/=not a key").is_err());
        // A witness key (type 0x04) is not a log's.
        let w = cerro_core::tlog::Ed25519Cosigner::from_seed("w", &[8; 32]).unwrap();
        assert!(LogEndpoint::parse(&format!("http://x/={}", w.verifier_key().to_vkey())).is_err());
    }

    use crate::answer::answer_once;

    /// The read side is bounded and says what it got: a tile of another
    /// length (10, more refused as it arrives), a checkpoint over its bound
    /// (10), a 404 (a log: 12; a witness: none), a server error (12).
    #[test]
    fn reads_are_bounded_and_a_witness_without_a_checkpoint_is_none() {
        use cerro_core::tlog::{merkle, Checkpoint, SignedCheckpoint};
        let signer = Ed25519NoteSigner::from_seed("log.example/a", &[7; 32]).unwrap();
        let cp = SignedCheckpoint::sign(
            Checkpoint::new("log.example/a", 0, merkle::empty_root()).unwrap(),
            &signer,
        )
        .unwrap()
        .to_bytes();
        let side = |url: String| ReadSide::new(&url).unwrap();
        let got = side(answer_once("200 OK", cp.len(), cp.clone()))
            .log_checkpoint()
            .unwrap();
        assert_eq!(got.to_bytes(), cp);
        let got = side(answer_once("200 OK", cp.len(), cp.clone()))
            .witness_checkpoint("log.example/a")
            .unwrap();
        assert_eq!(got.map(|c| c.to_bytes()), Some(cp));
        assert!(side(answer_once("404 Not Found", 0, Vec::new()))
            .witness_checkpoint("log.example/a")
            .unwrap()
            .is_none());
        let code = |e: Error| cerro_core::Error::from(e).exit_code().code();
        let e = side(answer_once("404 Not Found", 0, Vec::new()))
            .log_checkpoint()
            .unwrap_err();
        assert_eq!(code(e), 12);
        let big = MAX_CHECKPOINT_BYTES as usize + 1;
        let e = side(answer_once("200 OK", big, vec![b'a'; big]))
            .log_checkpoint()
            .unwrap_err();
        assert_eq!(code(e), 10);
        let e = side(answer_once("200 OK", 33, vec![0; 33]))
            .tile("tile/0/000.p/1", 32)
            .unwrap_err();
        assert_eq!(code(e), 10);
        let e = side(answer_once("200 OK", 31, vec![0; 31]))
            .tile("tile/0/000.p/1", 32)
            .unwrap_err();
        assert_eq!(code(e), 10);
        assert_eq!(
            side(answer_once("200 OK", 32, vec![5; 32]))
                .tile("tile/0/000.p/1", 32)
                .unwrap(),
            vec![5; 32]
        );
        let e = side(answer_once("500 Internal Server Error", 4, b"boom".to_vec()))
            .tile("tile/0/000", 8192)
            .unwrap_err();
        assert_eq!(code(e), 12);
        assert!(ReadSide::new("ftp://x/").is_err());
    }

    /// What a log answers decides nothing until it verifies: refusals by
    /// status (12), size (10, before the body is read), form (10), and a
    /// proof that does not prove this entry under this key (6).
    #[test]
    fn answers_are_bounded_and_verified() {
        use cerro_core::tlog::{merkle, release_entry, Checkpoint, SignedCheckpoint};
        let signer = Ed25519NoteSigner::from_seed("log.example/a", &[7; 32]).unwrap();
        let k = signer.verifier_key().to_vkey();
        let entry = release_entry(b"envelope");
        let proof_of = |e: &[u8]| {
            let cp = Checkpoint::new("log.example/a", 1, merkle::leaf_hash(e)).unwrap();
            TlogProof::new(0, vec![], SignedCheckpoint::sign(cp, &signer).unwrap())
                .unwrap()
                .to_bytes()
        };
        let submit_to = |url: String| {
            let log = LogEndpoint::parse(&format!("{url}={k}")).unwrap();
            submit(&log, &entry, None).map_err(cerro_core::Error::from)
        };
        let good = proof_of(&entry);
        let (p, v) = submit_to(answer_once("200 OK", good.len(), good.clone())).unwrap();
        assert_eq!((p.to_bytes(), v.index(), v.origin()), (good, 0, "log.example/a"));

        let e = submit_to(answer_once("400 Bad Request", 4, b"nope".to_vec())).unwrap_err();
        assert_eq!(e.exit_code().code(), 12, "{e}");
        assert!(e.to_string().contains("nope"), "{e}");
        let e = submit_to(answer_once("200 OK", MAX_PROOF_BYTES + 1, Vec::new())).unwrap_err();
        assert_eq!(e.exit_code().code(), 10, "{e}");
        assert!(e.to_string().contains("larger than"), "{e}");
        let e = submit_to(answer_once("200 OK", 6, b"hello\n".to_vec())).unwrap_err();
        assert_eq!(e.exit_code().code(), 10, "{e}");
        let other = proof_of(&release_entry(b"another envelope"));
        let e = submit_to(answer_once("200 OK", other.len(), other)).unwrap_err();
        assert_eq!(e.exit_code().code(), 6, "{e}");
        assert_eq!(e.kind(), cerro_core::Kind::TlogProofMismatch, "{e}");
        let impostor = Ed25519NoteSigner::from_seed("log.example/a", &[9; 32]).unwrap();
        let cp = Checkpoint::new("log.example/a", 1, merkle::leaf_hash(&entry)).unwrap();
        let forged = TlogProof::new(0, vec![], SignedCheckpoint::sign(cp, &impostor).unwrap())
            .unwrap()
            .to_bytes();
        let e = submit_to(answer_once("200 OK", forged.len(), forged)).unwrap_err();
        assert_eq!(e.kind(), cerro_core::Kind::NoteNotSigned, "{e}");
        // Nothing listens: a network error.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = submit_to(format!("http://127.0.0.1:{port}")).unwrap_err();
        assert_eq!(e.exit_code().code(), 12, "{e}");
    }
    #[test]
    fn witness_endpoints_are_urls_with_a_cosignature_key() {
        let w = cerro_core::tlog::Ed25519Cosigner::from_seed("w.example", &[8; 32]).unwrap();
        let wk = w.verifier_key().to_vkey();
        let e = WitnessEndpoint::parse(&format!("http://127.0.0.1:9/w/={wk}")).unwrap();
        assert_eq!(e.add_url().as_str(), "http://127.0.0.1:9/w/add-checkpoint");
        assert_eq!(e.shown(), "w.example (http://127.0.0.1:9/w/)");
        // No key, a log's key, not a URL.
        let code = |e: Error| cerro_core::Error::from(e).exit_code().code();
        assert!(WitnessEndpoint::parse("http://127.0.0.1:9/").is_err());
        assert_eq!(
            code(WitnessEndpoint::parse(&format!("http://x/={}", vkey("log"))).unwrap_err()),
            78
        );
        assert!(WitnessEndpoint::parse(&format!("ftp://x/={wk}")).is_err());
    }

    /// What a witness answers is added only when it is its cosignature of
    /// this checkpoint under the key given; a refusal is an outcome with
    /// its status; a witness whose cosignature is already there is not
    /// asked (nothing listens at its address).
    #[test]
    fn cosignatures_are_verified_before_they_are_added() {
        use cerro_core::tlog::{merkle, release_entry, Checkpoint, Ed25519Cosigner};
        let signer = Ed25519NoteSigner::from_seed("log.example/a", &[7; 32]).unwrap();
        let entry = release_entry(b"envelope");
        let cp = SignedCheckpoint::sign(
            Checkpoint::new("log.example/a", 1, merkle::leaf_hash(&entry)).unwrap(),
            &signer,
        )
        .unwrap();
        let proof = TlogProof::new(0, vec![], cp.clone()).unwrap();
        let w = Ed25519Cosigner::from_seed("w.example", &[8; 32]).unwrap();
        let impostor = Ed25519Cosigner::from_seed("w.example", &[9; 32]).unwrap();
        let line = |c: &Ed25519Cosigner| format!("{}\n", c.cosign(cp.note().text(), 1_700_000_000).unwrap().to_line());
        let at = |url: String| WitnessEndpoint::parse(&format!("{url}={}", w.verifier_key().to_vkey())).unwrap();

        let good = line(&w).into_bytes();
        let (p, o) = cosign(&proof, &[at(answer_once("200 OK", good.len(), good))], None).unwrap();
        assert_eq!(o, [WitnessOutcome::Cosigned]);
        assert_eq!(p.checkpoint().note().signatures().len(), 2);
        assert_eq!((p.index(), p.inclusion()), (0, &[][..]));
        assert_eq!(p.checkpoint().note().text(), cp.note().text());

        // Already there: not asked.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (again, o) = cosign(&p, &[at(format!("http://127.0.0.1:{port}"))], None).unwrap();
        assert_eq!(o, [WitnessOutcome::Already]);
        assert_eq!(again.to_bytes(), p.to_bytes());

        let forged = line(&impostor).into_bytes();
        let (p2, o) = cosign(&proof, &[at(answer_once("200 OK", forged.len(), forged))], None).unwrap();
        assert!(
            matches!(&o[0], WitnessOutcome::Refused(why) if why.contains("not its cosignature")),
            "{o:?}"
        );
        assert_eq!(p2.to_bytes(), proof.to_bytes());

        let (_, o) = cosign(
            &proof,
            &[at(answer_once("422 Unprocessable Entity", 3, b"bad".to_vec()))],
            None,
        )
        .unwrap();
        assert!(
            matches!(&o[0], WitnessOutcome::Refused(why) if why.starts_with("HTTP 422")),
            "{o:?}"
        );
        // A 409 naming a size between 0 and the checkpoint's needs a
        // consistency proof, and no read URL is known: reported, not asked
        // again.
        let cp2 = SignedCheckpoint::sign(Checkpoint::new("log.example/a", 2, [1; 32]).unwrap(), &signer).unwrap();
        let proof2 = TlogProof::new(0, vec![[2; 32]], cp2).unwrap();
        let (_, o) = cosign(&proof2, &[at(answer_once("409 Conflict", 2, b"1\n".to_vec()))], None).unwrap();
        assert!(
            matches!(&o[0], WitnessOutcome::Refused(why) if why.contains("from size 1 to 2") && why.contains("no read URL")),
            "{o:?}"
        );
        let too_big = MAX_WITNESS_ANSWER as usize + 1;
        let (_, o) = cosign(&proof, &[at(answer_once("200 OK", too_big, vec![b'a'; too_big]))], None).unwrap();
        assert!(
            matches!(&o[0], WitnessOutcome::Refused(why) if why.contains("larger than")),
            "{o:?}"
        );
        let (_, o) = cosign(&proof, &[at(format!("http://127.0.0.1:{port}"))], None).unwrap();
        assert!(
            matches!(&o[0], WitnessOutcome::Refused(why) if why.contains("asking")),
            "{o:?}"
        );
    }
}
