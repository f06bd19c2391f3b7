//! The log's side of C2SP tlog-witness: after each batch, the log sends
//! its new checkpoint to the witnesses its operator named (`ct log serve
//! --witness URL=VKEY`), each with a consistency proof from the size that
//! witness last cosigned, and adds the cosignatures that verify to the
//! checkpoint it publishes and to the proofs it answers with
//! (spec/transparency.md §13.2). "When producing a new checkpoint, the log
//! reaches out to witnesses to request cosignatures over it, providing a
//! consistency proof."
//!
//! The protocol (the requests, the 409 retry, reading the answers) is
//! core's `cerro_core::tlog::witness::ask_witnesses`, which a producer's
//! `ct log submit --witness` runs too (in `cerro-registry`, over its
//! client); this module brings the log's proofs and its HTTP/1.1 client:
//! `cerro-tlog` may not link `cerro-registry`, nor the reverse.
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
use cerro_core::tlog::note::{VerifierKey, ALG_COSIGNATURE_V1};
use cerro_core::tlog::witness::{ask_witnesses, Exchange};
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
    /// says what became of each witness (in the order given). The protocol
    /// (the `old` size, the 409 retry from the witness's size) is core's
    /// [`ask_witnesses`], the one a producer's `ct log submit --witness`
    /// runs too; the proofs come from this log's own tiles.
    pub fn cosign(&mut self, log: &mut Log) -> Vec<(String, Outcome)> {
        let checkpoint = log.checkpoint().clone();
        let size = checkpoint.checkpoint().size();
        let mut known: Vec<u64> = self.witnesses.iter().map(|w| w.known).collect();
        let targets: Vec<(String, String)> = self
            .witnesses
            .iter()
            .map(|w| (w.authority.clone(), format!("{}/add-checkpoint", w.prefix)))
            .collect();
        let rt = &self.rt;
        let asked = {
            let log: &Log = log;
            ask_witnesses(
                &checkpoint,
                &mut known,
                &mut |old, new| log.consistency_proof(old, new).map_err(|e| e.to_string()),
                &mut |requests| {
                    rt.block_on(async {
                        let mut set = tokio::task::JoinSet::new();
                        for (i, body) in requests {
                            let Some((authority, path)) = targets.get(i).cloned() else {
                                continue;
                            };
                            set.spawn(async move { (i, post(&authority, &path, body).await) });
                        }
                        let mut out = Vec::new();
                        while let Some(r) = set.join_next().await {
                            if let Ok(r) = r {
                                out.push(r);
                            }
                        }
                        out
                    })
                },
            )
        };
        let taken: Vec<(Vec<u8>, VerifierKey)> = self
            .witnesses
            .iter()
            .zip(&asked)
            .filter_map(|(w, a)| a.as_ref().ok().map(|body| (body.clone(), w.key.clone())))
            .collect();
        let mut added = log.add_cosignatures(&taken).into_iter();
        let mut out = Vec::with_capacity(self.witnesses.len());
        for ((w, asked), old) in self.witnesses.iter_mut().zip(asked).zip(known) {
            let outcome = match asked {
                Ok(_) => match added.next() {
                    Some(Ok(())) => {
                        w.known = size;
                        Outcome::Cosigned
                    }
                    Some(Err(e)) => Outcome::Failed(format!("its answer was not taken: {e}")),
                    None => Outcome::Failed("its answer was not taken".into()),
                },
                Err(why) => {
                    // Where it said it is, for the next batch's request.
                    w.known = old.min(size);
                    Outcome::Failed(why)
                }
            };
            out.push((w.key.name().to_owned(), outcome));
        }
        out
    }
}

/// POSTs `body` to `http://authority/path`, within [`TIMEOUT`], reading at
/// most [`MAX_ANSWER`] bytes of the answer.
async fn post(authority: &str, path: &str, body: Vec<u8>) -> Exchange {
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
