//! C2SP signed-note v1 (c2sp.org/signed-note): notes, signature lines,
//! verifier keys (`name+hex8+base64`) and Ed25519 signing.
//!
//! The spec's rules this module applies, quoted where they are enforced:
//! strict parsing (a note is refused rather than read two ways), bounded
//! sizes, and "Verifiers MUST ignore signatures from unknown keys".

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// The largest note accepted, in bytes. §Format: "Verifiers SHOULD apply a
/// maximum limit to the number of signatures in a note (or, equivalently,
/// to the overall size of a note), but MUST accept at least up to 16
/// signatures. Remember that post-quantum signatures can be up to nearly
/// 5kB in size." 16 ML-DSA-44 cosignature lines are about 53 KiB.
pub const MAX_NOTE_BYTES: usize = 128 * 1024;

/// The most signature lines accepted on one note (at least 16, see above).
pub const MAX_SIGNATURES: usize = 100;

/// Signature type byte of Ed25519 note signatures (§Signature types: "0x01 —
/// Ed25519 signatures as specified by this document").
pub const ALG_ED25519: u8 = 0x01;

/// Signature type byte of timestamped Ed25519 checkpoint cosignatures
/// (§Signature types: "0x04 — Timestamped Ed25519 checkpoint cosignatures,
/// as specified by c2sp.org/tlog-cosignature").
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

const EM_DASH_SPACE: &str = "\u{2014} ";

fn malformed(reason: impl Into<String>) -> Error {
    Error::malformed("signed note", reason)
}

/// Standard base64 (RFC 4648 §4) with padding, refusing non-canonical
/// encodings, so each value has exactly one spelling.
pub(crate) fn b64_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

pub(crate) fn b64_encode(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// §Format: "Key names MUST be non-empty and MUST NOT contain any Unicode
/// spaces or plus (U+002B) characters." (Rust's `char::is_whitespace` is
/// Unicode's White_Space property, as Go's `unicode.IsSpace`.)
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// §Signatures: "key ID = SHA-256(key name || 0x0A || signature type ||
/// public key)[:4]", big-endian.
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, alg]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// §Format: "Signed notes MUST be valid UTF-8 and MUST NOT contain any ASCII
/// control characters (those below U+0020) other than newline."
fn check_characters(s: &str) -> Result<()> {
    if s.chars().any(|c| c < ' ' && c != '\n') {
        return Err(malformed("a control character other than newline"));
    }
    Ok(())
}

/// One signature line: `— <key name> base64(32-bit key ID || signature)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// The key name on the line.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID (the first four bytes of the base64 blob).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature bytes after the key ID.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The line, without its newline.
    pub fn to_line(&self) -> String {
        let mut blob = Vec::with_capacity(4 + self.signature.len());
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(&self.signature);
        format!("{EM_DASH_SPACE}{} {}", self.name, b64_encode(&blob))
    }

    fn parse_line(line: &str) -> Result<Self> {
        let rest = line
            .strip_prefix(EM_DASH_SPACE)
            .ok_or_else(|| malformed("a signature line does not start with an em dash and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| malformed("a signature line has no space between key name and signature"))?;
        if !valid_key_name(name) {
            return Err(malformed(format!("invalid key name {name:?} on a signature line")));
        }
        // §Format: "Signatures are the base64 encoding of 4+n bytes."
        let blob =
            b64_decode(b64).ok_or_else(|| malformed(format!("the signature of {name} is not canonical base64")))?;
        if blob.len() < 5 {
            return Err(malformed(format!("the signature of {name} is shorter than 5 bytes")));
        }
        let (id, sig) = blob.split_at(4);
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
            signature: sig.to_vec(),
        })
    }
}

/// A parsed signed note: the exact note text and its signature lines.
///
/// The text is kept byte for byte as read: signatures are verified over
/// those bytes, never over a re-serialised form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a signed note (§Format), refusing:
    /// - more than [`MAX_NOTE_BYTES`] bytes or [`MAX_SIGNATURES`] signatures;
    /// - invalid UTF-8 or a control character other than newline;
    /// - a note without the blank line before the signatures, without a
    ///   signature, or not ending in a newline;
    /// - a signature line that is not `— name base64` with a valid name and
    ///   canonical base64 of at least 5 bytes;
    /// - two signature lines with the same key name and key ID (stricter than
    ///   the spec, which does not say: one key signs a note once, and a
    ///   second line could only make two readers count differently).
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(malformed(format!(
                "{} bytes, more than the {MAX_NOTE_BYTES} accepted",
                bytes.len()
            )));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| malformed("not valid UTF-8"))?;
        check_characters(s)?;
        // "The note text includes the final newline but not the separating
        // blank line. [...] the text is separated from the signatures by the
        // last empty line in the note."
        let split = s
            .rfind("\n\n")
            .ok_or_else(|| malformed("no blank line between text and signatures"))?;
        let text = &s[..split + 1];
        let sigs = &s[split + 2..];
        if sigs.is_empty() {
            return Err(malformed("no signature line"));
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(malformed("the last signature line does not end with a newline"));
        };
        let mut signatures: Vec<NoteSignature> = Vec::new();
        for line in sigs.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(malformed(format!("more than {MAX_SIGNATURES} signatures")));
            }
            let sig = NoteSignature::parse_line(line)?;
            if signatures.iter().any(|o| o.name == sig.name && o.key_id == sig.key_id) {
                return Err(malformed(format!(
                    "two signatures by key {}+{:08x}",
                    sig.name, sig.key_id
                )));
            }
            signatures.push(sig);
        }
        Ok(SignedNote {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Signs `text` with each signer, in order. The text must end with a
    /// newline and obey the note's character rules.
    pub fn sign(text: &str, signers: &[&dyn NoteSigner]) -> Result<Self> {
        check_text(text)?;
        let mut note = SignedNote {
            text: text.to_owned(),
            signatures: Vec::new(),
        };
        for s in signers {
            note.add_signature(s.sign_note(text)?)?;
        }
        Ok(note)
    }

    /// Appends one signature line (a cosignature, say). Refuses a second
    /// line by the same key, or going past [`MAX_SIGNATURES`].
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<()> {
        if self
            .signatures
            .iter()
            .any(|o| o.name == sig.name && o.key_id == sig.key_id)
        {
            return Err(malformed(format!(
                "two signatures by key {}+{:08x}",
                sig.name, sig.key_id
            )));
        }
        if self.signatures.len() == MAX_SIGNATURES {
            return Err(malformed(format!("more than {MAX_SIGNATURES} signatures")));
        }
        self.signatures.push(sig);
        Ok(())
    }

    /// Removes the signature line by the key with this name and ID, if any.
    pub fn remove_signatures_by(&mut self, name: &str, key_id: u32) {
        self.signatures.retain(|s| !(s.name == name && s.key_id == key_id));
    }

    /// The note text, including its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The note as bytes: text, blank line, one line per signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.to_line());
            s.push('\n');
        }
        s.into_bytes()
    }

    /// Verifies the note against `known` keys (§Signatures): a signature
    /// whose key name and key ID both match a known key is verified, and one
    /// that fails refuses the whole note ("clients SHOULD reject the whole
    /// note"); others are ignored ("Verifiers MUST ignore signatures from
    /// unknown keys, even if they share a name or ID (but not both) with a
    /// known key"); and "If no signature from a known key verifies
    /// successfully, clients MUST reject the note."
    ///
    /// Returns, for each verified signature, the index of its key in
    /// `known` and the cosignature timestamp if the key is a cosigner's.
    pub fn verify(&self, known: &[VerifierKey]) -> Result<Vec<VerifiedSignature>> {
        let mut out = Vec::new();
        for sig in &self.signatures {
            let Some(k) = known.iter().position(|k| k.name == sig.name && k.key_id == sig.key_id) else {
                continue;
            };
            let timestamp = known[k].verify_signature(&self.text, &sig.signature)?;
            out.push(VerifiedSignature { key: k, timestamp });
        }
        if out.is_empty() {
            return Err(Error::NoteNotSigned {
                note: "signed note".to_owned(),
                keys: known.iter().map(VerifierKey::to_vkey).collect::<Vec<_>>().join(", "),
            });
        }
        Ok(out)
    }
}

/// A note text one may sign: it ends with a newline and has no control
/// character other than newline (§Format).
fn check_text(text: &str) -> Result<()> {
    if !text.ends_with('\n') {
        return Err(malformed("the note text does not end with a newline"));
    }
    check_characters(text)?;
    if text.len() > MAX_NOTE_BYTES {
        return Err(malformed("the note text is too long"));
    }
    Ok(())
}

/// One signature that verified (see [`SignedNote::verify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Index of the key in the slice given to `verify`.
    pub key: usize,
    /// The cosignature's timestamp (POSIX seconds), for cosigner keys.
    pub timestamp: Option<u64>,
}

/// A verifier key (§Verifier keys): `<key name>+hex(32-bit key ID)+base64(
/// signature type || public key)`, restricted to the two types Cerro Torre
/// uses: Ed25519 note signatures (logs) and Ed25519 cosignature/v1
/// (witnesses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key_id: u32,
    alg: u8,
    key: VerifyingKey,
}

impl VerifierKey {
    /// A verifier key for `name` and an Ed25519 public key, with the key ID
    /// the specs prescribe for `alg` ([`ALG_ED25519`] or
    /// [`ALG_COSIGNATURE_V1`]).
    pub fn new(name: &str, alg: u8, key: VerifyingKey) -> Result<Self> {
        if !valid_key_name(name) {
            return Err(Error::invalid_config(
                "note key",
                format!("invalid note key name {name:?}"),
            ));
        }
        if alg != ALG_ED25519 && alg != ALG_COSIGNATURE_V1 {
            return Err(Error::invalid_config("note key", format!(
                "note key {name}: signature type 0x{alg:02x} is not supported (0x01 Ed25519, 0x04 Ed25519 cosignature/v1)"
            )));
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            key_id: key_id(name, alg, key.as_bytes()),
            alg,
            key,
        })
    }

    /// Parses `name+hex8+base64`. The key ID must be the one computed from
    /// name, type and key (signed-note §Ed25519 signatures: "The key ID is
    /// generated as recommended above"; tlog-cosignature: "The key ID for
    /// Ed25519 cosignatures MUST be computed as [...]"), written as 8
    /// lowercase hex digits ("fixed length lowercase Base 16").
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid_config("note key", format!("verifier key {s:?}: {why}"));
        let (name, rest) = s.split_once('+').ok_or_else(|| bad("no '+' after the key name"))?;
        let (hex8, b64) = rest.split_once('+').ok_or_else(|| bad("no '+' after the key ID"))?;
        if hex8.len() != 8 || !hex8.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad("the key ID is not 8 lowercase hex digits"));
        }
        let id = u32::from_str_radix(hex8, 16).map_err(|_| bad("the key ID is not hex"))?;
        let blob = b64_decode(b64).ok_or_else(|| bad("the key is not canonical base64"))?;
        let (alg, raw) = blob.split_first().ok_or_else(|| bad("the key is empty"))?;
        let raw: [u8; 32] = raw.try_into().map_err(|_| bad("an Ed25519 public key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&raw).map_err(|_| bad("not an Ed25519 public key"))?;
        let vk = VerifierKey::new(name, *alg, key)?;
        if vk.key_id != id {
            return Err(bad(&format!(
                "the key ID should be {:08x} for this name, type and key",
                vk.key_id
            )));
        }
        Ok(vk)
    }

    /// The `name+hex8+base64` form.
    pub fn to_vkey(&self) -> String {
        let mut blob = vec![self.alg];
        blob.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, b64_encode(&blob))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature type byte.
    pub fn alg(&self) -> u8 {
        self.alg
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Verifies one signature of this key over `text`; for a cosigner key,
    /// returns the cosignature's timestamp.
    fn verify_signature(&self, text: &str, sig: &[u8]) -> Result<Option<u64>> {
        let invalid = || Error::NoteSignatureInvalid {
            key: format!("{}+{:08x}", self.name, self.key_id),
        };
        match self.alg {
            ALG_ED25519 => {
                let sig = Signature::from_slice(sig).map_err(|_| invalid())?;
                self.key.verify_strict(text.as_bytes(), &sig).map_err(|_| invalid())?;
                Ok(None)
            }
            _ => {
                let (timestamp, sig) = super::checkpoint::split_cosignature(sig).ok_or_else(invalid)?;
                let msg = super::checkpoint::cosignature_message(timestamp, text);
                self.key.verify_strict(&msg, &sig).map_err(|_| invalid())?;
                Ok(Some(timestamp))
            }
        }
    }
}

/// Parses a private key in the form of Go's golang.org/x/mod/sumdb/note
/// (and transparency-dev/formats for cosigners): `PRIVATE+KEY+<name>+<hex8
/// key ID>+base64(type || 32-byte Ed25519 seed)`, for signature type `alg`.
/// The key ID must be the one of the derived public key. Errors never
/// repeat the key.
fn parse_private_key(s: &str, alg: u8) -> Result<(String, SigningKey)> {
    let bad = |why: &str| Error::invalid_config("note key", format!("note private key: {why}"));
    let rest = s
        .strip_prefix("PRIVATE+KEY+")
        .ok_or_else(|| bad("does not start with PRIVATE+KEY+"))?;
    let (name, rest) = rest.split_once('+').ok_or_else(|| bad("no '+' after the key name"))?;
    let (hex8, b64) = rest.split_once('+').ok_or_else(|| bad("no '+' after the key ID"))?;
    let id = Some(hex8)
        .filter(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or_else(|| bad("the key ID is not 8 lowercase hex digits"))?;
    let blob = zeroize::Zeroizing::new(b64_decode(b64).ok_or_else(|| bad("the key is not canonical base64"))?);
    if blob.len() != 33 || blob[0] != alg {
        return Err(bad(&format!("not a type 0x{alg:02x} key of a 32-byte Ed25519 seed")));
    }
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&blob[1..]);
    let key = SigningKey::from_bytes(&seed);
    let vkey = VerifierKey::new(name, alg, key.verifying_key())?;
    if vkey.key_id != id {
        return Err(bad(&format!("the key ID of {name} does not match its key")));
    }
    Ok((name.to_owned(), key))
}

fn format_private_key(vkey: &VerifierKey, key: &SigningKey) -> zeroize::Zeroizing<String> {
    let mut blob = zeroize::Zeroizing::new(vec![vkey.alg]);
    blob.extend_from_slice(&key.to_bytes());
    zeroize::Zeroizing::new(format!(
        "PRIVATE+KEY+{}+{:08x}+{}",
        vkey.name,
        vkey.key_id,
        b64_encode(&blob)
    ))
}

/// Something that signs note texts: a log key or a witness (cosigner) key.
pub trait NoteSigner {
    /// The verifier key of this signer.
    fn verifier_key(&self) -> &VerifierKey;
    /// One signature line over `text`.
    fn sign_note(&self, text: &str) -> Result<NoteSignature>;
}

/// An Ed25519 note signer (type 0x01): what a log signs its checkpoints with.
pub struct Ed25519NoteSigner {
    key: SigningKey,
    vkey: VerifierKey,
}

impl std::fmt::Debug for Ed25519NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519NoteSigner")
            .field("vkey", &self.vkey.to_vkey())
            .finish_non_exhaustive()
    }
}

impl Ed25519NoteSigner {
    /// A signer named `name` (the log's origin, by the checkpoint spec's
    /// "The log's key name in its signature line SHOULD match the origin
    /// line").
    pub fn new(name: &str, key: SigningKey) -> Result<Self> {
        let vkey = VerifierKey::new(name, ALG_ED25519, key.verifying_key())?;
        Ok(Ed25519NoteSigner { key, vkey })
    }

    /// A signer from a 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self> {
        Self::new(name, SigningKey::from_bytes(seed))
    }

    /// A signer from Go's private key form, type 0x01 (see
    /// [`Ed25519NoteSigner::to_private_key`]).
    pub fn from_private_key(s: &str) -> Result<Self> {
        let (name, key) = parse_private_key(s, ALG_ED25519)?;
        Self::new(&name, key)
    }

    /// The private key as `PRIVATE+KEY+<name>+<hex8>+base64(0x01 || seed)`,
    /// the form Go's golang.org/x/mod/sumdb/note reads and writes.
    pub fn to_private_key(&self) -> zeroize::Zeroizing<String> {
        format_private_key(&self.vkey, &self.key)
    }
}

impl NoteSigner for Ed25519NoteSigner {
    fn verifier_key(&self) -> &VerifierKey {
        &self.vkey
    }

    fn sign_note(&self, text: &str) -> Result<NoteSignature> {
        check_text(text)?;
        Ok(NoteSignature {
            name: self.vkey.name.clone(),
            key_id: self.vkey.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        })
    }
}

/// An Ed25519 cosigner (type 0x04, tlog-cosignature v1): what a witness
/// signs checkpoints with. The timestamp is an argument: core reads no clock.
pub struct Ed25519Cosigner {
    key: SigningKey,
    vkey: VerifierKey,
}

impl std::fmt::Debug for Ed25519Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Cosigner")
            .field("vkey", &self.vkey.to_vkey())
            .finish_non_exhaustive()
    }
}

impl Ed25519Cosigner {
    /// A cosigner named `name`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self> {
        let vkey = VerifierKey::new(name, ALG_COSIGNATURE_V1, key.verifying_key())?;
        Ok(Ed25519Cosigner { key, vkey })
    }

    /// A cosigner from a 32-byte Ed25519 seed (RFC 8032 private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self> {
        Self::new(name, SigningKey::from_bytes(seed))
    }

    /// A cosigner from the private key form of transparency-dev/formats,
    /// type 0x04 (see [`Ed25519Cosigner::to_private_key`]).
    pub fn from_private_key(s: &str) -> Result<Self> {
        let (name, key) = parse_private_key(s, ALG_COSIGNATURE_V1)?;
        Self::new(&name, key)
    }

    /// The private key as `PRIVATE+KEY+<name>+<hex8>+base64(0x04 || seed)`.
    pub fn to_private_key(&self) -> zeroize::Zeroizing<String> {
        format_private_key(&self.vkey, &self.key)
    }

    /// The verifier key (type 0x04).
    pub fn verifier_key(&self) -> &VerifierKey {
        &self.vkey
    }

    /// A cosignature/v1 line over the checkpoint note `text` at `timestamp`
    /// (tlog-cosignature §Format: "`timestamp` [...] MUST NOT exceed 2^63 -
    /// 1").
    pub fn cosign(&self, text: &str, timestamp: u64) -> Result<NoteSignature> {
        check_text(text)?;
        if timestamp > i64::MAX as u64 {
            return Err(Error::malformed("cosignature", "timestamp above 2^63 - 1"));
        }
        let msg = super::checkpoint::cosignature_message(timestamp, text);
        let mut signature = timestamp.to_be_bytes().to_vec();
        signature.extend_from_slice(&self.key.sign(&msg).to_bytes());
        Ok(NoteSignature {
            name: self.vkey.name.clone(),
            key_id: self.vkey.key_id,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// signed-note §Verifier keys, Example: the spec's own key and note.
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    #[test]
    fn the_specs_example_note_verifies_under_the_specs_example_key() {
        let k = VerifierKey::parse(SPEC_VKEY).unwrap();
        assert_eq!(k.key_id(), 0x530d903a);
        assert_eq!(k.to_vkey(), SPEC_VKEY);
        let n = SignedNote::parse(SPEC_NOTE.as_bytes()).unwrap();
        assert_eq!(n.text(), "This is an example message.\n");
        assert_eq!(n.to_bytes(), SPEC_NOTE.as_bytes());
        let v = n.verify(std::slice::from_ref(&k)).unwrap();
        assert_eq!(
            v,
            vec![VerifiedSignature {
                key: 0,
                timestamp: None
            }]
        );
    }

    /// Go's reference implementation (golang.org/x/mod/sumdb/note,
    /// `example_test.go` and `note_test.go` `TestOpen`): its private key, the
    /// signature it makes (Ed25519 is deterministic, so ours must be the same
    /// bytes), two vkeys, and the notes it refuses as malformed.
    #[test]
    fn gos_sumdb_note_known_answers() {
        const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
        const PETER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        const ENOCH: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
        const TEXT: &str =
            "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
        const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

        let signer = Ed25519NoteSigner::from_private_key(PETER_SKEY).unwrap();
        assert_eq!(signer.verifier_key().to_vkey(), PETER);
        assert_eq!(signer.to_private_key().as_str(), PETER_SKEY);
        // Another key ID, or the key as a cosigner's (type 0x04), is refused.
        let wrong_id = PETER_SKEY.replace("c74f20a3", "c74f20a4");
        assert_eq!(
            Ed25519NoteSigner::from_private_key(&wrong_id).unwrap_err().check(),
            "config"
        );
        assert_eq!(
            Ed25519Cosigner::from_private_key(PETER_SKEY).unwrap_err().check(),
            "config"
        );
        let w = Ed25519Cosigner::from_seed("w.example", &[5; 32]).unwrap();
        let again = Ed25519Cosigner::from_private_key(&w.to_private_key()).unwrap();
        assert_eq!(again.verifier_key(), w.verifier_key());
        let signed = SignedNote::sign(TEXT, &[&signer]).unwrap();
        assert_eq!(
            String::from_utf8(signed.to_bytes()).unwrap(),
            format!("{TEXT}\n{PETER_SIG}")
        );

        let peter = VerifierKey::parse(PETER).unwrap();
        let enoch = VerifierKey::parse(ENOCH).unwrap();
        let both = SignedNote::parse(format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}").as_bytes()).unwrap();
        assert_eq!(both.verify(std::slice::from_ref(&peter)).unwrap().len(), 1);
        assert_eq!(both.verify(&[enoch.clone(), peter.clone()]).unwrap().len(), 2);
        assert_eq!(both.verify(&[]).unwrap_err().check(), "note_not_signed");

        let bad_name = "\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
        for msg in [
            TEXT.to_owned(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{TEXT}\n{PETER_SIG}"),
            format!("{TEXT}\n{bad_name}"),
            format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
            // Go drops a repeated signature; Cerro Torre refuses the note.
            format!("{TEXT}\n{PETER_SIG}{PETER_SIG}"),
        ] {
            let e = SignedNote::parse(msg.as_bytes()).unwrap_err();
            assert_eq!(e.check(), "malformed", "{msg:?}");
        }
        let mut invalid = format!("{TEXT}\n{PETER_SIG}").into_bytes();
        invalid.insert(0, 0xff);
        assert_eq!(SignedNote::parse(&invalid).unwrap_err().check(), "malformed");
    }

    #[test]
    fn a_key_id_that_does_not_match_name_type_and_key_is_refused() {
        let bad = SPEC_VKEY.replace("530d903a", "530d903b");
        assert_eq!(VerifierKey::parse(&bad).unwrap_err().check(), "config");
        let upper = SPEC_VKEY.replace("530d903a", "530D903A");
        assert!(VerifierKey::parse(&upper).is_err());
    }

    #[test]
    fn unknown_keys_are_ignored_and_a_note_without_a_known_signature_is_refused() {
        let other = Ed25519NoteSigner::new("example.com/foo", SigningKey::from_bytes(&[7; 32])).unwrap();
        let k = VerifierKey::parse(SPEC_VKEY).unwrap();
        // Same name, other key ID: ignored, so no known signature remains.
        let n = SignedNote::sign("This is an example message.\n", &[&other]).unwrap();
        assert_eq!(
            n.verify(std::slice::from_ref(&k)).unwrap_err().check(),
            "note_not_signed"
        );
        // Beside the spec's valid signature it is ignored.
        let mut both = SignedNote::parse(SPEC_NOTE.as_bytes()).unwrap();
        both.add_signature(n.signatures()[0].clone()).unwrap();
        assert_eq!(both.verify(std::slice::from_ref(&k)).unwrap().len(), 1);
    }

    #[test]
    fn a_known_keys_bad_signature_refuses_the_note() {
        let k = VerifierKey::parse(SPEC_VKEY).unwrap();
        let tampered = SPEC_NOTE.replace("example message", "example massage");
        let n = SignedNote::parse(tampered.as_bytes()).unwrap();
        assert_eq!(n.verify(&[k]).unwrap_err().check(), "note_signature_invalid");
    }
}
