//! C2SP tlog-checkpoint v1 (c2sp.org/tlog-checkpoint) and the Ed25519
//! cosignature/v1 of C2SP tlog-cosignature (c2sp.org/tlog-cosignature).

use super::merkle::Hash;
use super::note::{b64_decode, b64_encode, Ed25519Cosigner, NoteSigner, SignedNote, VerifierKey, ALG_COSIGNATURE_V1};
use crate::error::{Error, Result};

fn malformed(reason: impl Into<String>) -> Error {
    Error::malformed("checkpoint", reason)
}

/// The note text of a checkpoint (tlog-checkpoint §Note text): "a sequence
/// of at least three non-empty lines": origin, tree size, root hash, then
/// optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines (their use is "NOT
    /// RECOMMENDED, as they are not auditable by log monitors").
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self> {
        let cp = Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        };
        // Round-trips through the parser, so only parseable ones are built.
        Checkpoint::parse_text(&cp.to_text())
    }

    /// Parses the note text of a checkpoint, refusing:
    /// - an empty origin ("The origin MUST be non-empty");
    /// - a tree size that is not "the ASCII decimal representation of the
    ///   number of leaves in the tree, with no leading zeroes (unless the tree
    ///   is empty, in which case the tree size is `0`)", or above 2^64 - 1;
    /// - a root hash that is not canonical base64 of 32 bytes ("the base64
    ///   encoding of the root of the RFC 6962 Merkle hash tree");
    /// - an empty line ("Extension lines, if any, MUST be non-empty");
    /// - text not ending in a newline.
    pub fn parse_text(text: &str) -> Result<Self> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| malformed("the note text does not end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(malformed("empty origin line"));
        }
        let size = lines.next().ok_or_else(|| malformed("no tree size line"))?;
        let size = parse_decimal(size)
            .ok_or_else(|| malformed(format!("tree size {size:?} is not a decimal without leading zeroes")))?;
        let root = lines.next().ok_or_else(|| malformed("no root hash line"))?;
        let root: Hash = b64_decode(root)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed("the root hash is not canonical base64 of 32 bytes"))?;
        let mut extensions = Vec::new();
        for l in lines {
            if l.is_empty() {
                return Err(malformed("an empty extension line"));
            }
            extensions.push(l.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The note text (ends with a newline).
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, b64_encode(&self.root));
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// The origin line: the log's identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines (opaque).
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }
}

/// An ASCII decimal with no leading zeroes ("0" itself allowed), within u64.
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// A checkpoint with its signed note. The note text is the checkpoint's
/// text byte for byte (parsed from it, never re-serialised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: SignedNote,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint: a signed note whose text is a checkpoint.
    /// Signatures are not verified here (see `TlogProof::verify`).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let note = SignedNote::parse(bytes)?;
        let checkpoint = Checkpoint::parse_text(note.text())?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Signs `checkpoint` with the log's key.
    pub fn sign(checkpoint: Checkpoint, log: &dyn NoteSigner) -> Result<Self> {
        let note = SignedNote::sign(&checkpoint.to_text(), &[log])?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Adds a witness's cosignature/v1 made at `timestamp` (POSIX seconds).
    pub fn cosign(&mut self, witness: &Ed25519Cosigner, timestamp: u64) -> Result<()> {
        let sig = witness.cosign(self.note.text(), timestamp)?;
        self.note.add_signature(sig)
    }

    /// Takes a witness's answer to `add-checkpoint` (tlog-witness: "a
    /// sequence of one or more note signature lines [...] cosignatures from
    /// the witness key(s) on the checkpoint") into this checkpoint: as the
    /// spec suggests, the lines are appended to the note and verified with
    /// the witness's key `witness` alone ("The client MUST ignore any
    /// cosignatures from unknown keys"); the lines by that key that verify
    /// are kept, replacing an earlier line by it. Refused when no line by
    /// `witness` verifies, or one does not: nothing is added then.
    pub fn add_cosignatures(&mut self, answer: &[u8], witness: &VerifierKey) -> Result<()> {
        if witness.alg() != ALG_COSIGNATURE_V1 {
            return Err(Error::invalid_config(
                "witness",
                format!("{} is not a cosignature/v1 key (type 0x04)", witness.to_vkey()),
            ));
        }
        let mut bytes = self.note.text().as_bytes().to_vec();
        bytes.push(b'\n');
        bytes.extend_from_slice(answer);
        let answered = SignedNote::parse(&bytes)?;
        // At least one line by the key verified, and none by it failed.
        answered.verify(std::slice::from_ref(witness))?;
        let mut note = self.note.clone();
        note.remove_signatures_by(witness.name(), witness.key_id());
        // A note holds at most one line per key (the parser refuses more).
        for sig in answered
            .signatures()
            .iter()
            .filter(|s| s.name() == witness.name() && s.key_id() == witness.key_id())
        {
            note.add_signature(sig.clone())?;
        }
        self.note = note;
        Ok(())
    }

    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note (text and signature lines).
    pub fn note(&self) -> &SignedNote {
        &self.note
    }

    /// The signed checkpoint as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.note.to_bytes()
    }
}

/// tlog-cosignature §Ed25519 signed message: "two newline (U+000A)
/// terminated lines (one header line and one timestamp line) followed by the
/// whole note body of the cosigned checkpoint (including the final newline,
/// but not including any signature lines). The header line MUST be the fixed
/// string `cosignature/v1` [...]. The timestamp line MUST consist of the
/// string `time`, a single space (0x20), and
/// `timestamped_signature.timestamp` encoded as an ASCII decimal with no
/// leading zeroes." Extension lines "if present MUST be included in the
/// cosigned message": they are part of the note text.
pub(crate) fn cosignature_message(timestamp: u64, text: &str) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{text}").into_bytes()
}

/// tlog-cosignature §Format: the `timestamped_signature` structure, "u64
/// timestamp" big-endian then "opaque ed25519_signature[64]"; the timestamp
/// "MUST NOT exceed 2^63 - 1". `None` when the bytes are not that.
pub(crate) fn split_cosignature(sig: &[u8]) -> Option<(u64, ed25519_dalek::Signature)> {
    if sig.len() != 8 + 64 {
        return None;
    }
    let (ts, s) = sig.split_at(8);
    let ts = u64::from_be_bytes(ts.try_into().ok()?);
    if ts > i64::MAX as u64 {
        return None;
    }
    Some((ts, ed25519_dalek::Signature::from_slice(s).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specs_example_checkpoint_text_parses_and_round_trips() {
        let text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse_text(text).unwrap();
        assert_eq!(cp.origin(), "example.com/behind-the-sofa");
        assert_eq!(cp.size(), 20852163);
        assert_eq!(cp.to_text(), text);
    }

    #[test]
    fn malformed_checkpoint_texts_are_refused() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        for text in [
            format!("\n1\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            "o\n1\nAAAA\n".to_owned(),
            format!("o\n1\n{root}"),
            format!("o\n1\n{root}\n\next\n"),
            "o\n1\n".to_owned(),
        ] {
            let e = Checkpoint::parse_text(&text).unwrap_err();
            assert_eq!(e.check(), "malformed", "{text:?}");
        }
        assert!(Checkpoint::parse_text(&format!("o\n0\n{root}\next one\n")).is_ok());
    }
}
