//! A transparency-log witness (`ct witness`), speaking C2SP tlog-witness v1
//! (spec/transparency.md §13): logs send it their new checkpoint with a
//! consistency proof from the last checkpoint it cosigned for them; it
//! cosigns (tlog-cosignature v1, with its timestamp) only a checkpoint that
//! extends that one, so a log cannot show two histories to parties that
//! require this witness's cosignature.
//!
//! What it keeps: for each log it is configured with, the latest checkpoint
//! it cosigned, one file per log in its directory, replaced atomically and
//! fsynced before the cosignature is returned ("The witness MUST persist the
//! new checkpoint before responding"). The check against that checkpoint
//! and its replacement happen under one lock ("checking the old size
//! against the latest checkpoint and persisting the new checkpoint must be
//! performed atomically"). A directory is made by [`Witness::init`] and
//! opened only if it was: a witness whose state is lost would cosign from
//! size 0 again, a fork included, so losing the directory means retiring
//! the witness key, never starting over with it silently.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cerro_core::digest::Digest;
use cerro_core::tlog::checkpoint::SignedCheckpoint;
use cerro_core::tlog::merkle::{self, Hash};
use cerro_core::tlog::note::{Ed25519Cosigner, VerifierKey, ALG_ED25519, MAX_NOTE_BYTES};
use cerro_core::tlog::witness::{AddCheckpoint, MAX_REQUEST_BYTES, SIZE_CONTENT_TYPE};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};

use crate::http::{text, typed, Answer};
use crate::{Error, IoContext as _, Result};

/// The file [`Witness::init`] writes: the witness's verifier key. Its
/// presence says the directory holds this witness's whole state.
pub const MARKER: &str = "witness.vkey";

/// A log the witness cosigns for: its origin and the key(s) its
/// checkpoints are signed with.
#[derive(Debug, Clone)]
pub struct WitnessedLog {
    origin: String,
    keys: Vec<VerifierKey>,
}

impl WitnessedLog {
    /// A log from its verifier key(s); the origin is the keys' name (one
    /// name for all, Ed25519 note keys only).
    pub fn from_keys(keys: Vec<VerifierKey>) -> Result<Self> {
        let origin = keys
            .first()
            .map(|k| k.name().to_owned())
            .ok_or_else(|| cerro_core::Error::invalid_config("witness", "a log with no key"))?;
        if let Some(k) = keys.iter().find(|k| k.name() != origin || k.alg() != ALG_ED25519) {
            return Err(cerro_core::Error::invalid_config(
                "witness",
                format!("log key {} is not an Ed25519 note key named {origin}", k.to_vkey()),
            )
            .into());
        }
        Ok(WitnessedLog { origin, keys })
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// What the witness answers a request with: an HTTP status, the content
/// type, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    fn text(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into_bytes(),
        }
    }
}

/// The latest checkpoint cosigned for one log, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Latest {
    size: u64,
    root: Hash,
    /// The timestamp of that cosignature: later ones are never earlier
    /// (verifiers take cosignature times as when a release existed).
    time: u64,
}

/// A witness over its state directory (locked while it is open).
#[derive(Debug)]
pub struct Witness {
    dir: PathBuf,
    _lock: File,
    cosigner: Ed25519Cosigner,
    logs: BTreeMap<String, WitnessedLog>,
    latest: Mutex<BTreeMap<String, Latest>>,
}

/// The state file of the log with origin `origin`: named by the SHA-256 of
/// the origin, so any origin is a safe file name.
fn state_file(dir: &Path, origin: &str) -> PathBuf {
    dir.join(format!("log-{}.checkpoint", Digest::of(origin.as_bytes()).hex()))
}

impl Witness {
    /// Makes `dir` (new or empty) a witness directory for `cosigner`.
    pub fn init(dir: &Path, cosigner: &Ed25519Cosigner) -> Result<()> {
        cerro_core::file::create_dir(dir, 0o700)?;
        let mut entries = std::fs::read_dir(dir).ctx("reading", dir)?;
        if entries.next().is_some() {
            return Err(Error::NotEmpty { dir: dir.to_path_buf() });
        }
        let vkey = format!("{}\n", cosigner.verifier_key().to_vkey());
        cerro_core::file::write_atomic(&dir.join(MARKER), vkey.as_bytes(), 0o644)?;
        Ok(())
    }

    /// Opens the witness directory `dir` (made by [`Witness::init`] for
    /// this key) to cosign for `logs`, reading the latest checkpoint of
    /// each. A directory made for another key, or a state file that does
    /// not parse or names another log, is refused: the witness does not
    /// start on state it cannot trust.
    pub fn open(dir: &Path, cosigner: Ed25519Cosigner, logs: Vec<WitnessedLog>) -> Result<Self> {
        let marker = dir.join(MARKER);
        let corrupt = |reason: String| Error::Corrupt {
            dir: dir.to_path_buf(),
            reason,
        };
        let found = match cerro_core::file::read_bounded(&marker, 4096, "the witness marker") {
            Ok(b) => b,
            Err(_) if !marker.exists() => {
                return Err(corrupt(format!(
                    "no {MARKER}: not a witness directory (ct witness init makes one; a witness whose state is lost must get a new key)"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let want = format!("{}\n", cosigner.verifier_key().to_vkey());
        if found != want.as_bytes() {
            return Err(corrupt(format!(
                "it belongs to another witness key ({MARKER} is not {})",
                want.trim_end()
            )));
        }
        let lock = crate::store::lock(dir)?;
        let mut by_origin = BTreeMap::new();
        for l in logs {
            let origin = l.origin.clone();
            if by_origin.insert(origin.clone(), l).is_some() {
                return Err(
                    cerro_core::Error::invalid_config("witness", format!("log {origin} is given twice")).into(),
                );
            }
        }
        let mut latest = BTreeMap::new();
        for origin in by_origin.keys() {
            let path = state_file(dir, origin);
            if !path.exists() {
                continue;
            }
            let bytes = cerro_core::file::read_bounded(&path, MAX_NOTE_BYTES as u64, "a witness state file")?;
            let cp = SignedCheckpoint::parse(&bytes).map_err(|e| corrupt(format!("{}: {e}", path.display())))?;
            if cp.checkpoint().origin() != origin {
                return Err(corrupt(format!("{} is not a checkpoint of {origin}", path.display())));
            }
            // The file holds this witness's own cosignature: its time is
            // the floor of the next one.
            let time = cp
                .note()
                .verify(std::slice::from_ref(cosigner.verifier_key()))
                .ok()
                .and_then(|v| v.first().and_then(|s| s.timestamp))
                .ok_or_else(|| corrupt(format!("{} does not carry this witness's cosignature", path.display())))?;
            latest.insert(
                origin.clone(),
                Latest {
                    size: cp.checkpoint().size(),
                    root: *cp.checkpoint().root(),
                    time,
                },
            );
        }
        Ok(Witness {
            dir: dir.to_path_buf(),
            _lock: lock,
            cosigner,
            logs: by_origin,
            latest: Mutex::new(latest),
        })
    }

    /// The witness's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The witness's verifier key (cosignature/v1).
    pub fn verifier_key(&self) -> &VerifierKey {
        self.cosigner.verifier_key()
    }

    /// The size and root of the latest checkpoint cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Option<(u64, Hash)> {
        let latest = self.latest.lock().ok()?;
        latest.get(origin).map(|l| (l.size, l.root))
    }

    /// Our read endpoint (`GET /checkpoint/<hex>`, spec/transparency.md
    /// §13.4; tlog-witness leaves the "Monitor Retrieval Mechanism" TBD):
    /// the latest checkpoint this witness cosigned for the log whose
    /// origin's SHA-256 is `origin_hex` (64 lowercase hex digits), as the
    /// log signed it plus this witness's cosignature, byte for byte as
    /// persisted. 404 for an unknown log or one never cosigned, 400 for a
    /// name that is not such a digest.
    pub fn latest_checkpoint(&self, origin_hex: &str) -> Reply {
        if origin_hex.len() != 64 || !origin_hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Reply::text(400, "expected /checkpoint/<64 lowercase hex of SHA-256(origin)>");
        }
        let Some(origin) = self.logs.keys().find(|o| Digest::of(o.as_bytes()).hex() == origin_hex) else {
            return Reply::text(404, "this witness does not witness that log");
        };
        // Under the lock: never a file half way through a replacement.
        let Ok(latest) = self.latest.lock() else {
            return Reply::text(500, "the witness's state lock is poisoned");
        };
        if !latest.contains_key(origin) {
            return Reply::text(404, format!("no checkpoint of {origin} cosigned yet"));
        }
        let path = state_file(&self.dir, origin);
        match cerro_core::file::read_bounded(&path, MAX_NOTE_BYTES as u64, "a witness state file") {
            Ok(body) => Reply {
                status: 200,
                content_type: "text/plain; charset=utf-8",
                body,
            },
            Err(e) => Reply::text(500, format!("reading the checkpoint: {e}")),
        }
    }

    /// tlog-witness §add-checkpoint: checks the request `body` and, when
    /// every check passes, persists its checkpoint and answers with this
    /// witness's cosignature made at `now` (POSIX seconds). Each refusal
    /// is the status the spec gives it.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Reply {
        let req = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(e) => return Reply::text(400, e.to_string()),
        };
        let cp = req.checkpoint().checkpoint();
        // "If the checkpoint origin is unknown, the witness MUST respond
        // with a "404 Not Found" HTTP status code."
        let Some(log) = self.logs.get(cp.origin()) else {
            return Reply::text(404, format!("unknown log {:?}", cp.origin()));
        };
        // "it MUST ignore signatures from unknown keys [...] If none of the
        // signatures verify against a trusted public key, the witness MUST
        // respond with a "403 Forbidden" HTTP status code."
        if req.checkpoint().note().verify(&log.keys).is_err() {
            return Reply::text(403, format!("no signature of {} verifies", log.origin));
        }
        // "The old size MUST be equal to or lower than the checkpoint size.
        // Otherwise, the witness MUST respond with a "400 Bad Request"."
        if req.old() > cp.size() {
            return Reply::text(
                400,
                format!("old size {} is above the checkpoint's {}", req.old(), cp.size()),
            );
        }
        let Ok(mut latest) = self.latest.lock() else {
            return Reply::text(500, "the witness's state lock is poisoned");
        };
        let known = latest.get(cp.origin()).copied();
        let stored = known.map_or(0, |l| l.size);
        // "The witness MUST check that the old size matches the size of the
        // latest checkpoint it cosigned for the checkpoint's origin (or zero
        // if it never cosigned a checkpoint for that origin). If it doesn't
        // match, the witness MUST respond with a "409 Conflict" [...] The
        // response body MUST consist of the tree size of the latest cosigned
        // checkpoint in decimal, followed by a newline."
        if req.old() != stored {
            return Reply {
                status: 409,
                content_type: SIZE_CONTENT_TYPE,
                body: format!("{stored}\n").into_bytes(),
            };
        }
        // "The proof MUST be empty if the old size is zero." Otherwise
        // "the consistency proof lines MUST encode a Merkle Consistency
        // Proof from the old size to the checkpoint size [...] If [it]
        // doesn't verify, the witness MUST respond with a "422"."
        match known {
            Some(prev) if req.old() == cp.size() => {
                // "If the old size matches the checkpoint size, the witness
                // MUST check that the root hashes are also identical. If
                // they don't match, [...] "409 Conflict"."
                if prev.root != *cp.root() {
                    return Reply {
                        status: 409,
                        content_type: SIZE_CONTENT_TYPE,
                        body: format!("{stored}\n").into_bytes(),
                    };
                }
                if !req.proof().is_empty() {
                    return Reply::text(422, "a proof between equal sizes must be empty");
                }
            }
            Some(prev) => {
                if let Err(e) = merkle::verify_consistency(req.old(), cp.size(), &prev.root, cp.root(), req.proof()) {
                    return Reply::text(422, e.to_string());
                }
            }
            None => {
                if !req.proof().is_empty() {
                    return Reply::text(422, "the proof must be empty when the old size is 0");
                }
                if cp.size() == 0 && *cp.root() != merkle::empty_root() {
                    return Reply::text(422, "a tree of size 0 has the empty root (RFC 9162 §2.1.1)");
                }
            }
        }
        // Never a cosignature dated before the last one for this log: its
        // time is what verifiers take as when the log held this tree.
        if let Some(prev) = known.filter(|p| now < p.time) {
            return Reply::text(
                503,
                format!(
                    "the clock reads {now}, before this witness's last cosignature of {} ({})",
                    cp.origin(),
                    prev.time
                ),
            );
        }
        let line = match self.cosigner.cosign(req.checkpoint().note().text(), now) {
            Ok(sig) => format!("{}\n", sig.to_line()),
            Err(e) => return Reply::text(500, format!("cosigning: {e}")),
        };
        // Persist before answering, under the lock: the checkpoint as the
        // log signed it, with this cosignature (its time survives restarts).
        let mut stored = req.checkpoint().clone();
        if let Err(e) = stored.add_cosignatures(line.as_bytes(), self.cosigner.verifier_key()) {
            return Reply::text(500, format!("cosigning: {e}"));
        }
        if let Err(e) = cerro_core::file::write_atomic(&state_file(&self.dir, cp.origin()), &stored.to_bytes(), 0o644) {
            return Reply::text(500, format!("persisting the checkpoint: {e}"));
        }
        latest.insert(
            cp.origin().to_owned(),
            Latest {
                size: cp.size(),
                root: *cp.root(),
                time: now,
            },
        );
        Reply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: line.into_bytes(),
        }
    }
}

/// Serves `witness` on `listener` (`POST /add-checkpoint`, and our read
/// endpoint `GET /checkpoint/<hex>`) until the process ends; `ready` is
/// called with the bound address.
pub fn serve(witness: Witness, listener: TcpListener, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let dir = witness.dir.clone();
    let witness = Arc::new(witness);
    crate::http::serve(listener, &dir, ready, move |req, busy| {
        handle(req, witness.clone(), busy)
    })
}

async fn handle(req: Request<Incoming>, witness: Arc<Witness>, busy: bool) -> Answer {
    if busy {
        return text(StatusCode::SERVICE_UNAVAILABLE, "too many connections\n");
    }
    if let Some(hex) = req.uri().path().strip_prefix("/checkpoint/") {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "GET /checkpoint/<hex>\n");
            r.headers_mut()
                .insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        // Off the server's thread: the lock may be held by an fsync.
        let hex = hex.to_owned();
        let reply = tokio::task::spawn_blocking(move || witness.latest_checkpoint(&hex))
            .await
            .unwrap_or_else(|_| Reply::text(500, "the witness failed"));
        let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = typed(status, reply.content_type, reply.body);
        // The latest: never from a cache.
        r.headers_mut()
            .insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return r;
    }
    if req.uri().path() != "/add-checkpoint" {
        return text(
            StatusCode::NOT_FOUND,
            "not found: the witness has POST /add-checkpoint and GET /checkpoint/<hex of SHA-256(origin)>\n",
        );
    }
    if req.method() != Method::POST {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "POST to /add-checkpoint\n");
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let body = match crate::http::body(req, MAX_REQUEST_BYTES, "an add-checkpoint request").await {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    // The clock is read per request; no clock, no cosignature (its
    // timestamp is what verifiers use as the release's time).
    let reply = tokio::task::spawn_blocking(move || match cerro_core::clock::unix_now() {
        Ok(now) => witness.add_checkpoint(&body, now),
        Err(e) => Reply::text(500, format!("no clock: {e}")),
    })
    .await
    .unwrap_or_else(|_| Reply::text(500, "the witness failed"));
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    typed(status, reply.content_type, reply.body)
}

#[cfg(test)]
mod tests {
    use cerro_core::tlog::checkpoint::Checkpoint;
    use cerro_core::tlog::note::{Ed25519NoteSigner, NoteSigner as _, SignedNote};

    use super::*;

    const ORIGIN: &str = "example.com/log";

    fn log_key() -> Ed25519NoteSigner {
        Ed25519NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap()
    }

    fn cosigner() -> Ed25519Cosigner {
        Ed25519Cosigner::from_seed("example.com/witness", &[2; 32]).unwrap()
    }

    fn leaves(n: u64, fork_at: Option<u64>) -> Vec<Hash> {
        (0..n)
            .map(|i| {
                let tag = if fork_at.is_some_and(|f| i >= f) { 1u8 } else { 0 };
                merkle::leaf_hash(&[&i.to_be_bytes()[..], &[tag]].concat())
            })
            .collect()
    }

    fn checkpoint(tree: &[Hash], key: &Ed25519NoteSigner) -> SignedCheckpoint {
        SignedCheckpoint::sign(
            Checkpoint::new(key.verifier_key().name(), tree.len() as u64, merkle::root(tree)).unwrap(),
            key,
        )
        .unwrap()
    }

    /// The request adding `tree`'s checkpoint after `old` leaves of it.
    fn request(tree: &[Hash], old: u64, key: &Ed25519NoteSigner) -> Vec<u8> {
        let proof = if old == 0 || old == tree.len() as u64 {
            vec![]
        } else {
            merkle::consistency_proof(tree, old).unwrap()
        };
        AddCheckpoint::new(old, proof, checkpoint(tree, key))
            .unwrap()
            .to_bytes()
    }

    fn open(dir: &Path) -> Witness {
        let log = WitnessedLog::from_keys(vec![log_key().verifier_key().clone()]).unwrap();
        Witness::open(dir, cosigner(), vec![log]).unwrap()
    }

    fn new_witness() -> (tempfile::TempDir, Witness) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("w");
        Witness::init(&dir, &cosigner()).unwrap();
        let w = open(&dir);
        (tmp, w)
    }

    /// A 200's body is this witness's cosignature of the checkpoint: it
    /// verifies under the witness's key with the given timestamp.
    fn assert_cosigned(reply: &Reply, tree: &[Hash], now: u64) {
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
        let mut note = checkpoint(tree, &log_key()).to_bytes();
        note.extend_from_slice(&reply.body);
        let note = SignedNote::parse(&note).unwrap();
        let v = note.verify(&[cosigner().verifier_key().clone()]).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].timestamp, Some(now));
    }

    #[test]
    fn cosigns_a_log_that_grows_and_nothing_that_forks() {
        let (_tmp, w) = new_witness();
        let t3 = leaves(3, None);
        let t7 = leaves(7, None);
        assert_cosigned(&w.add_checkpoint(&request(&t3, 0, &log_key()), 100), &t3, 100);
        assert_cosigned(&w.add_checkpoint(&request(&t7, 3, &log_key()), 101), &t7, 101);
        assert_eq!(w.latest(ORIGIN), Some((7, merkle::root(&t7))));
        // The same checkpoint again: cosigned again, with the new time.
        assert_cosigned(&w.add_checkpoint(&request(&t7, 7, &log_key()), 102), &t7, 102);

        // An old size that is not the latest cosigned: 409 with the size.
        let r = w.add_checkpoint(&request(&leaves(9, None), 3, &log_key()), 103);
        assert_eq!(
            (r.status, r.content_type, &r.body[..]),
            (409, SIZE_CONTENT_TYPE, &b"7\n"[..])
        );
        // A fork at the same size: 409.
        let fork7 = leaves(7, Some(5));
        let r = w.add_checkpoint(&request(&fork7, 7, &log_key()), 103);
        assert_eq!((r.status, &r.body[..]), (409, &b"7\n"[..]));
        // A fork that grew: its proof from 7 does not reach the stored root.
        let fork9 = leaves(9, Some(5));
        let r = w.add_checkpoint(&request(&fork9, 7, &log_key()), 103);
        assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
        // A proof with a flipped hash: 422.
        let t9 = leaves(9, None);
        let mut proof = merkle::consistency_proof(&t9, 7).unwrap();
        proof[0][0] ^= 1;
        let body = AddCheckpoint::new(7, proof, checkpoint(&t9, &log_key()))
            .unwrap()
            .to_bytes();
        assert_eq!(w.add_checkpoint(&body, 103).status, 422);
        // A clock behind the last cosignature: 503, nothing cosigned.
        assert_eq!(w.add_checkpoint(&request(&t7, 7, &log_key()), 101).status, 503);
        // None of these moved the witness, and its read endpoint still
        // serves size 7 as the log signed it, with its cosignature.
        assert_eq!(w.latest(ORIGIN), Some((7, merkle::root(&t7))));
        let hex = Digest::of(ORIGIN.as_bytes()).hex();
        let r = w.latest_checkpoint(&hex);
        assert_eq!(r.status, 200);
        let served = SignedCheckpoint::parse(&r.body).unwrap();
        assert_eq!(served.checkpoint(), checkpoint(&t7, &log_key()).checkpoint());
        let v = served.note().verify(&[cosigner().verifier_key().clone()]).unwrap();
        assert_eq!(v[0].timestamp, Some(102));
        served.note().verify(&[log_key().verifier_key().clone()]).unwrap();
        assert_eq!(w.latest_checkpoint(&"0".repeat(64)).status, 404);
        assert_eq!(w.latest_checkpoint(&hex.to_uppercase()).status, 400);
        assert_eq!(w.latest_checkpoint("x").status, 400);
        assert_cosigned(&w.add_checkpoint(&request(&t9, 7, &log_key()), 104), &t9, 104);
    }

    #[test]
    fn refusals_carry_the_status_the_spec_gives_them() {
        let (_tmp, w) = new_witness();
        let t3 = leaves(3, None);
        // Unknown origin: 404.
        let other = Ed25519NoteSigner::from_seed("example.com/other", &[3; 32]).unwrap();
        assert_eq!(w.add_checkpoint(&request(&t3, 0, &other), 1).status, 404);
        // The log's name signed by another key: 403.
        let impostor = Ed25519NoteSigner::from_seed(ORIGIN, &[4; 32]).unwrap();
        assert_eq!(w.add_checkpoint(&request(&t3, 0, &impostor), 1).status, 403);
        // Old size above the checkpoint's: 400. Malformed: 400.
        let body = AddCheckpoint::new(4, vec![], checkpoint(&t3, &log_key()))
            .unwrap()
            .to_bytes();
        assert_eq!(w.add_checkpoint(&body, 1).status, 400);
        assert_eq!(w.add_checkpoint(b"old 1\n", 1).status, 400);
        // A proof sent with old size 0: 422.
        let body = AddCheckpoint::new(0, vec![[0; 32]], checkpoint(&t3, &log_key()))
            .unwrap()
            .to_bytes();
        assert_eq!(w.add_checkpoint(&body, 1).status, 422);
        // A size-0 checkpoint must carry the empty root.
        let bad0 = SignedCheckpoint::sign(Checkpoint::new(ORIGIN, 0, [9; 32]).unwrap(), &log_key()).unwrap();
        assert_eq!(
            w.add_checkpoint(&AddCheckpoint::new(0, vec![], bad0).unwrap().to_bytes(), 1)
                .status,
            422
        );
        assert_eq!(w.latest(ORIGIN), None);
        // Nothing cosigned yet: nothing to read.
        assert_eq!(w.latest_checkpoint(&Digest::of(ORIGIN.as_bytes()).hex()).status, 404);
    }

    #[test]
    fn the_latest_checkpoint_survives_a_restart_and_the_directory_is_guarded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("w");
        // Not initialised: refused.
        std::fs::create_dir(&dir).unwrap();
        let log = || vec![WitnessedLog::from_keys(vec![log_key().verifier_key().clone()]).unwrap()];
        let e = Witness::open(&dir, cosigner(), log()).unwrap_err();
        assert!(e.to_string().contains("not a witness directory"), "{e}");
        Witness::init(&dir, &cosigner()).unwrap();
        assert!(matches!(Witness::init(&dir, &cosigner()), Err(Error::NotEmpty { .. })));
        let t5 = leaves(5, None);
        {
            let w = open(&dir);
            assert_eq!(w.add_checkpoint(&request(&t5, 0, &log_key()), 1).status, 200);
            // One process at a time.
            assert!(matches!(
                Witness::open(&dir, cosigner(), log()),
                Err(Error::Locked { .. })
            ));
        }
        let w = open(&dir);
        assert_eq!(w.latest(ORIGIN), Some((5, merkle::root(&t5))));
        // The time of its last cosignature survived too.
        assert_eq!(w.add_checkpoint(&request(&t5, 5, &log_key()), 0).status, 503);
        assert_eq!(w.add_checkpoint(&request(&t5, 5, &log_key()), 1).status, 200);
        let r = w.add_checkpoint(&request(&leaves(6, Some(2)), 0, &log_key()), 2);
        assert_eq!((r.status, &r.body[..]), (409, &b"5\n"[..]));
        drop(w);
        // Another witness key on this directory: refused.
        let other = Ed25519Cosigner::from_seed("example.com/witness", &[5; 32]).unwrap();
        let e = Witness::open(&dir, other, log()).unwrap_err();
        assert!(e.to_string().contains("another witness key"), "{e}");
    }
}
