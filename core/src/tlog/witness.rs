//! The request of C2SP tlog-witness v1 `add-checkpoint`: what a log sends a
//! witness (its checkpoint, and a consistency proof from the size the
//! witness last cosigned), parsed strictly and written back byte for byte.
//! The witness's decision is in `cerro-tlog` (`witness.rs`); the format is
//! here, beside the checkpoint and note formats it is made of.

use super::checkpoint::{parse_decimal, SignedCheckpoint};
use super::merkle::Hash;
use super::note::{b64_decode, b64_encode, MAX_NOTE_BYTES};
use crate::error::{Error, Result};

/// tlog-witness §add-checkpoint: "The client MUST NOT send more than 63
/// consistency proof lines."
pub const MAX_PROOF_LINES: usize = 63;

/// The largest request accepted: the old size line, 63 proof lines (44
/// base64 characters and a newline each), the empty line, and a checkpoint
/// note at its bound.
pub const MAX_REQUEST_BYTES: usize = 32 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_BYTES;

/// tlog-witness §add-checkpoint: the content type of a `409 Conflict`
/// body (the witness's latest size).
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

fn malformed(reason: impl Into<String>) -> Error {
    Error::malformed("tlog-witness add-checkpoint request", reason)
}

/// An `add-checkpoint` request body. Nothing in it is trusted: the witness
/// verifies the checkpoint's signature and the proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    old: u64,
    proof: Vec<Hash>,
    checkpoint: SignedCheckpoint,
}

impl AddCheckpoint {
    /// A request: `checkpoint`, with `proof` from the tree of `old`
    /// leaves the witness last cosigned (empty when `old` is 0).
    pub fn new(old: u64, proof: Vec<Hash>, checkpoint: SignedCheckpoint) -> Result<Self> {
        if proof.len() > MAX_PROOF_LINES {
            return Err(malformed(format!(
                "more than {MAX_PROOF_LINES} consistency proof lines"
            )));
        }
        Ok(AddCheckpoint { old, proof, checkpoint })
    }

    /// §add-checkpoint: "The request body MUST be a sequence of an old size
    /// line, zero or more consistency proof lines, and an empty line,
    /// followed by a checkpoint. Each line MUST terminate in a newline
    /// character (U+000A)."
    pub fn parse(body: &[u8]) -> Result<Self> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(malformed(format!("over {MAX_REQUEST_BYTES} bytes")));
        }
        let mut at = 0;
        let mut line = || -> Result<&[u8]> {
            let rest = body.get(at..).unwrap_or_default();
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| malformed("a line does not end with a newline"))?;
            at += end + 1;
            Ok(rest.get(..end).unwrap_or_default())
        };
        // "The old size line MUST consist of the string `old`, a single
        // space (0x20), and the tree size of the previous checkpoint encoded
        // as an ASCII decimal with no leading zeroes (unless the size is
        // zero, in which case the encoding MUST be `0`)."
        let old = line()?
            .strip_prefix(b"old ")
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(parse_decimal)
            .ok_or_else(|| malformed("the first line is not `old <size>`"))?;
        // "Each consistency proof line MUST encode a single hash in base64."
        let mut proof = Vec::new();
        loop {
            let l = line()?;
            if l.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(malformed(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                )));
            }
            let hash: Hash = std::str::from_utf8(l)
                .ok()
                .and_then(b64_decode)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| malformed("a proof line is not one base64 32-byte hash"))?;
            proof.push(hash);
        }
        let checkpoint = SignedCheckpoint::parse(body.get(at..).unwrap_or_default())?;
        Ok(AddCheckpoint { old, proof, checkpoint })
    }

    /// The request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(b64_encode(h).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint.to_bytes());
        out
    }

    /// The size of the tree the witness last cosigned, as the log says.
    pub fn old(&self) -> u64 {
        self.old
    }

    /// The consistency proof from `old` to the checkpoint's size.
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The checkpoint to cosign.
    pub fn checkpoint(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }
}

/// tlog-witness §add-checkpoint, a `409 Conflict`: "The response body
/// MUST consist of the tree size of the latest cosigned checkpoint in
/// decimal, followed by a newline." `None` for anything else (a leading
/// zero, a sign, no newline, another line).
pub fn parse_conflict_size(body: &[u8]) -> Option<u64> {
    std::str::from_utf8(body)
        .ok()
        .and_then(|t| t.strip_suffix('\n'))
        .and_then(parse_decimal)
}

/// One HTTP exchange with a witness, as a transport reports it: the status
/// and the body (read with a bound), or why there was none.
pub type Exchange = std::result::Result<(u16, Vec<u8>), String>;

/// What became of one witness asked by [`ask_witnesses`]: the body of its
/// `200 OK` (its cosignature lines, not yet verified: the caller adds them
/// with [`SignedCheckpoint::add_cosignatures`], which verifies them under
/// the witness's key), or why it gave none, in one line.
pub type Asked = std::result::Result<Vec<u8>, String>;

/// One round of requests, `(witness index, add-checkpoint body)`.
pub type Round = Vec<(usize, Vec<u8>)>;

/// The client side of tlog-witness `add-checkpoint`, for any transport: the
/// log asking its witnesses after each batch (`cerro-tlog`, `ct log serve
/// --witness`) and a producer asking them about the checkpoint its proof
/// reaches (`cerro-registry`, `ct log submit --witness`) both run this, so
/// the protocol is written once; each brings its own HTTP client (the
/// architecture keeps the two crates apart, and core makes no request).
///
/// Asks the witness `i` to cosign `checkpoint` with a consistency proof
/// from `known[i]`, the size it last cosigned as far as the caller knows
/// (0 when it does not: "If a client doesn't have information on the
/// latest cosigned checkpoint, it MAY initially make a request with a old
/// size of zero to obtain it"). A `409 Conflict` whose body is a size
/// other than the one sent is asked once more, with a proof from that
/// size, which becomes `known[i]`; a witness that cosigned is at the
/// checkpoint's size after. `proof(old, new)` gives the RFC 9162 §2.1.4
/// consistency proof (called only for `0 < old < new`); `post` sends one
/// round of request bodies, `(witness index, body)`, to `/add-checkpoint`
/// of each (all at once if it likes) and returns their exchanges in any
/// order. At most two rounds, so at most two requests a witness.
pub fn ask_witnesses(
    checkpoint: &SignedCheckpoint,
    known: &mut [u64],
    proof: &mut dyn FnMut(u64, u64) -> std::result::Result<Vec<Hash>, String>,
    post: &mut dyn FnMut(Round) -> Vec<(usize, Exchange)>,
) -> Vec<Asked> {
    let size = checkpoint.checkpoint().size();
    let mut out: Vec<Option<Asked>> = vec![None; known.len()];
    for _round in 0..2 {
        let mut requests = Vec::new();
        for (i, old) in known.iter().enumerate() {
            if out.get(i).is_some_and(Option::is_some) {
                continue;
            }
            match request_body(*old, checkpoint, proof) {
                Ok(body) => requests.push((i, body)),
                Err(e) => {
                    if let Some(o) = out.get_mut(i) {
                        *o = Some(Err(format!("no consistency proof from size {old} to {size}: {e}")));
                    }
                }
            }
        }
        if requests.is_empty() {
            break;
        }
        for (i, reply) in post(requests) {
            // An index not asked this round (a transport answering twice,
            // or for another witness) is ignored.
            if out.get(i).is_none_or(Option::is_some) {
                continue;
            }
            let Some(old) = known.get_mut(i) else { continue };
            let decided = match reply {
                Ok((200, body)) => Some(Ok(body)),
                Ok((409, body)) => match parse_conflict_size(&body) {
                    Some(m) if m > size => Some(Err(format!(
                        "409 Conflict: it has cosigned a tree of {m} entries of {}, larger than this checkpoint's {size}, and cosigns no older one (the log has grown since, or it is forked)",
                        checkpoint.checkpoint().origin()
                    ))),
                    Some(m) if m != *old => {
                        *old = m;
                        None
                    }
                    Some(_) => Some(Err(format!(
                        "409 Conflict at size {old}: it holds another tree of that size (a fork of {})",
                        checkpoint.checkpoint().origin()
                    ))),
                    None => Some(Err("409 Conflict without a tree size".into())),
                },
                Ok((status, body)) => Some(Err(refusal(status, &body))),
                Err(e) => Some(Err(e)),
            };
            if let (Some(d), Some(o)) = (decided, out.get_mut(i)) {
                *o = Some(d);
            }
        }
        if out.iter().all(Option::is_some) {
            break;
        }
    }
    let mut asked: Vec<Asked> = out
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err("409 Conflict twice: it moved on while asked".into())))
        .collect();
    for (a, old) in asked.iter_mut().zip(known.iter_mut()) {
        if a.is_ok() {
            *old = size;
        }
    }
    asked
}

/// The request body for a witness at `old`: no proof from 0 or from the
/// checkpoint's own size (tlog-witness: the proof is empty then).
fn request_body(
    old: u64,
    checkpoint: &SignedCheckpoint,
    proof: &mut dyn FnMut(u64, u64) -> std::result::Result<Vec<Hash>, String>,
) -> std::result::Result<Vec<u8>, String> {
    let size = checkpoint.checkpoint().size();
    let hashes = if old == 0 || old == size {
        Vec::new()
    } else if old > size {
        return Err(format!("the witness is at size {old}, past the checkpoint"));
    } else {
        proof(old, size)?
    };
    AddCheckpoint::new(old, hashes, checkpoint.clone())
        .map(|r| r.to_bytes())
        .map_err(|e| e.to_string())
}

/// A witness's refusal in one line: the status with the spec's meaning
/// (tlog-witness §add-checkpoint) and the start of its body.
fn refusal(status: u16, body: &[u8]) -> String {
    let meaning = match status {
        403 => " Forbidden (no signature by the key it knows for this log verifies)",
        404 => " Not Found (it does not witness this log's origin)",
        409 => " Conflict",
        422 => " Unprocessable Entity (the consistency proof does not lead to its checkpoint: a fork, or a bad proof)",
        _ => "",
    };
    let text = String::from_utf8_lossy(body.get(..200).unwrap_or(body));
    let text: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.is_empty() {
        format!("HTTP {status}{meaning}")
    } else {
        format!("HTTP {status}{meaning}: {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::checkpoint::Checkpoint;
    use super::super::merkle;
    use super::super::note::Ed25519NoteSigner;
    use super::*;

    fn signed(size: u64) -> SignedCheckpoint {
        let log = Ed25519NoteSigner::from_seed("example.com/log", &[7; 32]).unwrap();
        let leaves: Vec<Hash> = (0..size).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();
        SignedCheckpoint::sign(
            Checkpoint::new("example.com/log", size, merkle::root(&leaves)).unwrap(),
            &log,
        )
        .unwrap()
    }

    #[test]
    fn a_request_round_trips_byte_for_byte() {
        let r = AddCheckpoint::new(3, vec![[1; 32], [2; 32]], signed(5)).unwrap();
        let bytes = r.to_bytes();
        assert!(bytes.starts_with(b"old 3\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"));
        let back = AddCheckpoint::parse(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.to_bytes(), bytes);
        let empty = AddCheckpoint::new(0, vec![], signed(0)).unwrap();
        assert_eq!(AddCheckpoint::parse(&empty.to_bytes()).unwrap(), empty);
    }

    #[test]
    fn malformed_requests_are_refused() {
        let cp = String::from_utf8(signed(2).to_bytes()).unwrap();
        let many = format!(
            "old 1\n{}\n{cp}",
            vec!["AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; 64].join("\n")
        );
        for body in [
            format!("old 01\n\n{cp}"),
            format!("old -1\n\n{cp}"),
            format!("old 1 \n\n{cp}"),
            format!("Old 1\n\n{cp}"),
            format!("old 1\n{cp}"),
            format!("old 1\nAQEB\n\n{cp}"),
            format!("old 1\nnot base64!\n\n{cp}"),
            "old 1".to_owned(),
            "old 1\n\n".to_owned(),
            many,
        ] {
            assert!(AddCheckpoint::parse(body.as_bytes()).is_err(), "{body:?}");
        }
        assert!(AddCheckpoint::parse(&vec![b'\n'; MAX_REQUEST_BYTES + 1]).is_err());
    }

    /// What a witness answers is taken into the checkpoint only when it is
    /// that witness's cosignature of this checkpoint.
    #[test]
    fn a_witness_answer_is_taken_only_when_it_verifies() {
        use super::super::note::{Ed25519Cosigner, SignedNote};
        let w = Ed25519Cosigner::from_seed("w.example", &[9; 32]).unwrap();
        let other = Ed25519Cosigner::from_seed("w.example", &[8; 32]).unwrap();
        let mut cp = signed(4);
        let text = cp.note().text().to_owned();
        let answer = |c: &Ed25519Cosigner, t: u64| format!("{}\n", c.cosign(&text, t).unwrap().to_line());
        cp.add_cosignatures(answer(&w, 10).as_bytes(), w.verifier_key())
            .unwrap();
        assert_eq!(cp.note().signatures().len(), 2);
        // Again, later: the line is replaced, not repeated.
        cp.add_cosignatures(answer(&w, 11).as_bytes(), w.verifier_key())
            .unwrap();
        assert_eq!(cp.note().signatures().len(), 2);
        let v = SignedNote::parse(&cp.to_bytes())
            .unwrap()
            .verify(&[w.verifier_key().clone()])
            .unwrap();
        assert_eq!(v[0].timestamp, Some(11));
        // Another key with the same name, a tampered line, another
        // checkpoint's cosignature, not a signature line: refused, unchanged.
        let before = cp.clone();
        let mut tampered = answer(&w, 12).into_bytes();
        let n = tampered.len();
        tampered[n - 4] ^= 1;
        let elsewhere = format!("{}\n", w.cosign(signed(5).note().text(), 12).unwrap().to_line());
        for bad in [
            answer(&other, 12).into_bytes(),
            tampered,
            elsewhere.into_bytes(),
            b"hello\n".to_vec(),
        ] {
            assert!(
                cp.add_cosignatures(&bad, w.verifier_key()).is_err(),
                "{}",
                String::from_utf8_lossy(&bad)
            );
            assert_eq!(cp, before);
        }
    }
    #[test]
    fn a_conflict_body_is_one_decimal_line() {
        assert_eq!(parse_conflict_size(b"0\n"), Some(0));
        assert_eq!(parse_conflict_size(b"1234\n"), Some(1234));
        for bad in [
            &b"12"[..],
            b"012\n",
            b"-1\n",
            b"1\n\n",
            b" 1\n",
            b"1 \n",
            b"\n",
            b"",
            b"\xff\n",
        ] {
            assert_eq!(parse_conflict_size(bad), None, "{bad:?}");
        }
    }

    /// The client's side of the protocol, over a scripted transport: the
    /// first request is `old 0` with no proof; a 409 with the witness's size
    /// is asked once more with the proof from that size; every refusal is
    /// reported with its status, and no witness is asked more than twice.
    #[test]
    fn witnesses_are_asked_from_zero_then_from_the_size_a_conflict_names() {
        let cp = signed(5);
        let proof_from_3 = vec![[3; 32], [4; 32]];
        // What each witness answers, round by round.
        let script = |i: usize, round: usize| -> Exchange {
            match (i, round) {
                (0, 0) => Ok((200, b"cosig\n".to_vec())),
                (1, 0) => Ok((409, b"3\n".to_vec())),
                (1, 1) => Ok((200, b"later\n".to_vec())),
                (2, _) => Ok((422, b"bad proof".to_vec())),
                (3, _) => Ok((403, Vec::new())),
                (4, _) => Ok((409, b"9\n".to_vec())),
                (5, _) => Ok((409, b"0\n".to_vec())),
                (6, _) => Ok((409, b"003\n".to_vec())),
                (7, _) => Err("connecting to w7: refused".into()),
                (8, 0) => Ok((409, b"2\n".to_vec())),
                (8, _) => Ok((409, b"4\n".to_vec())),
                _ => Ok((500, b"?".to_vec())),
            }
        };
        let mut known = vec![0u64; 9];
        let mut sent: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut round = 0;
        let mut proofs = Vec::new();
        let asked = ask_witnesses(
            &cp,
            &mut known,
            &mut |old, new| {
                proofs.push((old, new));
                Ok(if old == 3 {
                    proof_from_3.clone()
                } else {
                    vec![[old as u8; 32]]
                })
            },
            &mut |batch| {
                let r = round;
                round += 1;
                sent.extend(batch.iter().cloned());
                batch.into_iter().map(|(i, _)| (i, script(i, r))).collect()
            },
        );
        assert_eq!(asked[0], Ok(b"cosig\n".to_vec()));
        assert_eq!(asked[1], Ok(b"later\n".to_vec()));
        let err = |i: usize| asked[i].clone().unwrap_err();
        assert!(err(2).starts_with("HTTP 422 Unprocessable Entity"), "{}", err(2));
        assert!(err(2).ends_with(": bad proof"), "{}", err(2));
        assert!(err(3).starts_with("HTTP 403 Forbidden"), "{}", err(3));
        assert!(
            err(4).contains("a tree of 9 entries of example.com/log, larger than this checkpoint's 5"),
            "{}",
            err(4)
        );
        assert!(err(5).contains("another tree of that size"), "{}", err(5));
        assert!(err(6).contains("without a tree size"), "{}", err(6));
        assert_eq!(err(7), "connecting to w7: refused");
        assert!(err(8).contains("twice"), "{}", err(8));
        // Cosigned: at the checkpoint's size; refused: where they said.
        assert_eq!(known, vec![5, 5, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(round, 2);
        assert_eq!(proofs, vec![(3, 5), (2, 5)]);
        // Round one: every witness `old 0`, no proof, the checkpoint.
        let first = AddCheckpoint::new(0, vec![], cp.clone()).unwrap().to_bytes();
        assert!(sent[..9].iter().all(|(_, b)| *b == first));
        // Round two: only the two that named a new size, with the proof.
        let again: Vec<_> = sent[9..].iter().map(|(i, _)| *i).collect();
        assert_eq!(again, vec![1, 8]);
        let second = AddCheckpoint::parse(&sent[9].1).unwrap();
        assert_eq!((second.old(), second.proof()), (3, &proof_from_3[..]));
        assert!(sent[9].1.starts_with(b"old 3\nAwMD"));
    }

    /// A witness already at the checkpoint's size gets no proof; one whose
    /// proof cannot be made is reported, not asked.
    #[test]
    fn no_proof_at_the_same_size_and_a_missing_proof_is_reported() {
        let cp = signed(5);
        let mut known = vec![5, 2];
        let mut sent = Vec::new();
        let asked = ask_witnesses(&cp, &mut known, &mut |_, _| Err("no read side".into()), &mut |batch| {
            sent.extend(batch.iter().cloned());
            batch
                .into_iter()
                .map(|(i, _)| (i, Ok((200, b"x\n".to_vec()))))
                .collect()
        });
        assert_eq!(asked[0], Ok(b"x\n".to_vec()));
        assert_eq!(
            asked[1],
            Err("no consistency proof from size 2 to 5: no read side".into())
        );
        assert_eq!(sent.len(), 1);
        assert!(sent[0].1.starts_with(b"old 5\n\n"));
    }
}
