//! The log's side of C2SP tlog-witness: after each batch, the log sends
//! its new checkpoint to the witnesses its operator named (`ct log serve
//! --witness URL=VKEY`), each with a consistency proof from the size that
//! witness last cosigned, and adds the cosignatures that verify to the
//! checkpoint it publishes and to the proofs it answers with
//! (spec/transparency.md §13.2). "When producing a new checkpoint, the log
//! reaches out to witnesses to request cosignatures over it, providing a
//! consistency proof."
//!
//! These are the only requests this crate makes: to the addresses the
//! operator configured, over plain HTTP/1.1, bounded in time
//! ([`TIMEOUT`] per witness, all witnesses at once) and in size
//! ([`MAX_ANSWER`]). A witness that does not answer, refuses or answers
//! with something that does not verify costs this batch its cosignature,
//! nothing else: the batch is already durable, and the verifier's policy
//! decides how many cosignatures it needs.

use std::time::Duration;

use bytes::Bytes;
use cerro_core::tlog::checkpoint::SignedCheckpoint;
use cerro_core::tlog::merkle::Hash;
use cerro_core::tlog::note::{VerifierKey, ALG_COSIGNATURE_V1};
use cerro_core::tlog::witness::AddCheckpoint;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use crate::store::Log;
use crate::{Error, Result};

/// How long one witness has to answer one request, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read from a witness: its cosignature lines (one per
/// witness key; a line is under 200 bytes).
pub const MAX_ANSWER: usize = 16 * 1024;

/// A witness the log asks: where, and its key.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// `host:port` to connect to.
    authority: String,
    /// The submission prefix's path (no trailing `/`).
    prefix: String,
    key: VerifierKey,
    /// The size of the last checkpoint of this log it cosigned, as far as
    /// the log knows (learned from its answers; 0 until then).
    known: u64,
}

impl WitnessEndpoint {
    /// `URL=VKEY`: the witness's submission prefix (`http://host:port`
    /// with an optional path) and its cosignature/v1 verifier key.
    pub fn parse(arg: &str) -> Result<Self> {
        let bad = |why: &str| -> Error {
            cerro_core::Error::invalid_config(
                "witness",
                format!("{arg:?}: {why} (expected http://HOST:PORT[/PATH]=VKEY)"),
            )
            .into()
        };
        let (url, vkey) = arg.split_once('=').ok_or_else(|| bad("no verifier key"))?;
        let key = VerifierKey::parse(vkey).map_err(|e| bad(&e.to_string()))?;
        if key.alg() != ALG_COSIGNATURE_V1 {
            return Err(bad("the key is not a cosignature/v1 key (type 0x04)"));
        }
        let rest = url.strip_prefix("http://").ok_or_else(|| bad("not an http:// URL"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty()
            || !authority.contains(':')
            || authority.contains('@')
            || path.contains(['?', '#'])
            || !authority.chars().chain(path.chars()).all(|c| c.is_ascii_graphic())
        {
            return Err(bad("a URL of the form http://HOST:PORT[/PATH]"));
        }
        Ok(WitnessEndpoint {
            authority: authority.to_owned(),
            prefix: path.trim_end_matches('/').to_owned(),
            key,
            known: 0,
        })
    }

    /// The witness's key.
    pub fn key(&self) -> &VerifierKey {
        &self.key
    }
}

/// What became of one witness for one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It cosigned; the cosignature verified and was added.
    Cosigned,
    /// It did not; why (for the operator's log).
    Failed(String),
}

/// The witnesses of a log, with a runtime for asking them.
#[derive(Debug)]
pub struct Witnessing {
    witnesses: Vec<WitnessEndpoint>,
    rt: tokio::runtime::Runtime,
}

/// One answer: HTTP status and body.
type Answer = std::result::Result<(u16, Vec<u8>), String>;

impl Witnessing {
    /// The log's witnesses.
    pub fn new(witnesses: Vec<WitnessEndpoint>) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|source| Error::Io {
                op: "starting the witness client runtime",
                path: "(witnesses)".into(),
                source,
            })?;
        Ok(Witnessing { witnesses, rt })
    }

    /// Whether there is any witness to ask.
    pub fn is_empty(&self) -> bool {
        self.witnesses.is_empty()
    }

    /// Asks every witness to cosign `log`'s current checkpoint, adds the
    /// cosignatures that verify to it (published with the checkpoint), and
    /// says what became of each witness (in the order given).
    pub fn cosign(&mut self, log: &mut Log) -> Vec<(String, Outcome)> {
        let checkpoint = log.checkpoint().clone();
        let size = checkpoint.checkpoint().size();
        let mut outcomes: Vec<Option<Outcome>> = vec![None; self.witnesses.len()];
        let mut answers: Vec<Option<Vec<u8>>> = vec![None; self.witnesses.len()];
        // At most two rounds: a witness that answers 409 with the size it
        // last cosigned is asked again with a proof from that size ("If a
        // client doesn't have information on the latest cosigned
        // checkpoint, it MAY initially make a request with a old size of
        // zero to obtain it").
        for _round in 0..2 {
            let mut requests = Vec::new();
            for (i, w) in self.witnesses.iter().enumerate() {
                if outcomes[i].is_some() {
                    continue;
                }
                match request(log, w.known, &checkpoint) {
                    Ok(body) => requests.push((i, w.authority.clone(), format!("{}/add-checkpoint", w.prefix), body)),
                    Err(e) => {
                        outcomes[i] = Some(Outcome::Failed(format!(
                            "no consistency proof from size {}: {e}",
                            w.known
                        )))
                    }
                }
            }
            if requests.is_empty() {
                break;
            }
            let replies = self.rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for (i, authority, path, body) in requests {
                    set.spawn(async move { (i, post(&authority, &path, body).await) });
                }
                let mut out = Vec::new();
                while let Some(r) = set.join_next().await {
                    if let Ok(r) = r {
                        out.push(r);
                    }
                }
                out
            });
            for (i, reply) in replies {
                let w = &mut self.witnesses[i];
                match reply {
                    Ok((200, body)) => answers[i] = Some(body),
                    // "The response body MUST consist of the tree size of
                    // the latest cosigned checkpoint in decimal, followed by
                    // a newline."
                    Ok((409, body)) => match std::str::from_utf8(&body)
                        .ok()
                        .and_then(|t| t.strip_suffix('\n'))
                        .and_then(|t| t.parse::<u64>().ok())
                    {
                        Some(m) if m > size => {
                            outcomes[i] = Some(Outcome::Failed(format!(
                                "it cosigned a tree of {m} entries of this log, larger than this log's {size}: this log lost entries or is forked"
                            )))
                        }
                        Some(m) if m != w.known => w.known = m,
                        Some(_) => {
                            outcomes[i] = Some(Outcome::Failed(format!(
                                "409 Conflict at size {}: it holds another tree of that size (a fork)",
                                w.known
                            )))
                        }
                        None => outcomes[i] = Some(Outcome::Failed("409 without a tree size".into())),
                    },
                    Ok((status, body)) => {
                        let why = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_owned();
                        outcomes[i] = Some(Outcome::Failed(format!("HTTP {status}: {why}")));
                    }
                    Err(e) => outcomes[i] = Some(Outcome::Failed(e)),
                }
            }
            if answers.iter().zip(&outcomes).all(|(a, o)| a.is_some() || o.is_some()) {
                break;
            }
        }
        let taken: Vec<(Vec<u8>, VerifierKey)> = self
            .witnesses
            .iter()
            .zip(&answers)
            .filter_map(|(w, a)| a.as_ref().map(|body| (body.clone(), w.key.clone())))
            .collect();
        let mut added = log.add_cosignatures(&taken).into_iter();
        let mut out = Vec::with_capacity(self.witnesses.len());
        for (i, w) in self.witnesses.iter_mut().enumerate() {
            let outcome = if answers[i].is_some() {
                match added.next() {
                    Some(Ok(())) => {
                        w.known = size;
                        Outcome::Cosigned
                    }
                    Some(Err(e)) => Outcome::Failed(format!("its answer was not taken: {e}")),
                    None => Outcome::Failed("its answer was not taken".into()),
                }
            } else {
                outcomes[i]
                    .clone()
                    .unwrap_or_else(|| Outcome::Failed("no answer".into()))
            };
            out.push((w.key.name().to_owned(), outcome));
        }
        out
    }
}

/// The add-checkpoint request for `checkpoint` to a witness at `old`.
fn request(log: &Log, old: u64, checkpoint: &SignedCheckpoint) -> Result<Vec<u8>> {
    let size = checkpoint.checkpoint().size();
    let proof: Vec<Hash> = if old == 0 || old == size {
        Vec::new()
    } else {
        log.consistency_proof(old, size)?
    };
    Ok(AddCheckpoint::new(old, proof, checkpoint.clone())?.to_bytes())
}

/// POSTs `body` to `http://authority/path`, within [`TIMEOUT`], reading at
/// most [`MAX_ANSWER`] bytes of the answer.
async fn post(authority: &str, path: &str, body: Vec<u8>) -> Answer {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .map_err(|e| format!("connecting to {authority}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP with {authority}: {e}"))?;
        tokio::spawn(conn);
        let len = body.len();
        let mut req = Request::new(Full::new(Bytes::from(body)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = path.parse().map_err(|e| format!("the path {path:?}: {e}"))?;
        let h = req.headers_mut();
        h.insert(
            HOST,
            HeaderValue::from_str(authority).map_err(|e| format!("the host {authority:?}: {e}"))?,
        );
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("asking {authority}: {e}"))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {authority}: {e}"))?
            .to_bytes()
            .to_vec();
        Ok((status, body))
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("{authority} did not answer within {} s", TIMEOUT.as_secs())))
}
