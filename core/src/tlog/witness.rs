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
}
