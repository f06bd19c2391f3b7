//! DSSE envelopes (Dead Simple Signing Envelope, v1).
//!
//! Signatures are over PAE(payloadType, payload) of the raw payload bytes,
//! exactly as the DSSE specification and the in-toto/securesystemslib
//! verifiers compute it. The envelope is serialised canonically (RFC 8785)
//! with signatures sorted by key id, so signing is deterministic.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::jcs;
use crate::key::{AsPublicKey, KeySigner, MAX_SIGNATURE_LEN};
use crate::trust::Fingerprint;

/// Largest envelope accepted, in bytes.
pub const MAX_ENVELOPE_SIZE: u64 = 32 << 20;

/// The payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// DSSE pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The signer's key fingerprint (64 lowercase hex, see [`Fingerprint`]).
    pub keyid: String,
    /// The signature in its algorithm's encoding (spec/bundle-format.md
    /// §4.3): 64 bytes for Ed25519, ASN.1 DER `Ecdsa-Sig-Value` for ECDSA
    /// P-256. Which one is known only from the key the keyid names.
    pub sig: Vec<u8>,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The raw payload bytes (what was signed, after PAE).
    pub payload: Vec<u8>,
    /// The payload's media type.
    pub payload_type: String,
    /// Signatures, sorted by key id.
    pub signatures: Vec<Signature>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEnvelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<WireSignature>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSignature {
    keyid: String,
    sig: String,
}

impl Envelope {
    /// A new, unsigned envelope.
    pub fn new(payload_type: &str, payload: Vec<u8>) -> Self {
        Envelope {
            payload,
            payload_type: payload_type.to_owned(),
            signatures: Vec::new(),
        }
    }

    /// Parses an envelope. `what` names the member for error messages.
    ///
    /// The bytes must be the envelope's canonical serialisation: any other
    /// spelling (whitespace, key order, base64 variant) is refused, so every
    /// byte of the member is accounted for.
    pub fn parse(what: &str, bytes: &[u8]) -> Result<Self> {
        let wire: WireEnvelope =
            serde_json::from_slice(bytes).map_err(|e| Error::malformed(what, format!("not a DSSE envelope: {e}")))?;
        let payload = B64
            .decode(&wire.payload)
            .map_err(|e| Error::malformed(what, format!("payload is not standard base64: {e}")))?;
        let mut signatures = Vec::with_capacity(wire.signatures.len());
        for s in wire.signatures {
            if Fingerprint::from_hex(&s.keyid).is_none() {
                return Err(Error::malformed(
                    what,
                    format!("signature keyid {:?} is not a 64-hex key fingerprint", s.keyid),
                ));
            }
            let sig = B64
                .decode(&s.sig)
                .map_err(|e| Error::malformed(what, format!("signature of {} is not base64: {e}", s.keyid)))?;
            // Bounded before any key is looked up: 64 bytes (Ed25519) or a
            // DER ECDSA P-256 signature (8 to 72 bytes).
            if !(8..=MAX_SIGNATURE_LEN).contains(&sig.len()) {
                return Err(Error::malformed(
                    what,
                    format!(
                        "signature of {} is {} bytes, not an Ed25519 (64) or DER ECDSA P-256 (8 to {MAX_SIGNATURE_LEN}) signature",
                        s.keyid,
                        sig.len()
                    ),
                ));
            }
            signatures.push(Signature { keyid: s.keyid, sig });
        }
        let env = Envelope {
            payload,
            payload_type: wire.payload_type,
            signatures,
        };
        if env.to_bytes()? != bytes {
            return Err(Error::malformed(
                what,
                "envelope is not in canonical form (RFC 8785, signatures sorted by keyid)",
            ));
        }
        Ok(env)
    }

    /// The canonical serialisation (RFC 8785), signatures sorted by key id.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut sigs: Vec<&Signature> = self.signatures.iter().collect();
        sigs.sort_by(|a, b| a.keyid.cmp(&b.keyid).then_with(|| a.sig.cmp(&b.sig)));
        let wire = WireEnvelope {
            payload: B64.encode(&self.payload),
            payload_type: self.payload_type.clone(),
            signatures: sigs
                .into_iter()
                .map(|s| WireSignature {
                    keyid: s.keyid.clone(),
                    sig: B64.encode(&s.sig),
                })
                .collect(),
        };
        jcs::to_canonical(&wire)
    }

    /// The bytes every signature covers.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// Adds (or replaces) the signature of `key`, of either algorithm.
    /// Both are deterministic (Ed25519 by design, ECDSA by RFC 6979), so
    /// signing the same envelope with the same key gives the same bytes.
    pub fn sign(&mut self, key: &impl KeySigner) -> Result<()> {
        let keyid = Fingerprint::of(&key.public_key()).to_hex();
        let sig = key.sign_message(&self.pae())?;
        self.signatures.retain(|s| s.keyid != keyid);
        self.signatures.push(Signature { keyid, sig });
        self.signatures.sort_by(|a, b| a.keyid.cmp(&b.keyid));
        Ok(())
    }
}

/// Verifies one signature with the strict rules of its key's algorithm
/// ([`crate::key::PublicKey::verify`]: for Ed25519 RFC 8032 with no
/// small-order keys and canonical `S`; for ECDSA P-256 strict DER, low-S).
pub fn verify_signature(key: &impl AsPublicKey, message: &[u8], sig: &[u8]) -> bool {
    key.public_key().verify(message, sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn sign_parse_round_trip_and_canonical_check() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}".to_vec());
        env.sign(&key).unwrap();
        env.sign(&key).unwrap();
        assert_eq!(env.signatures.len(), 1);
        let bytes = env.to_bytes().unwrap();
        let back = Envelope::parse("t", &bytes).unwrap();
        assert_eq!(back, env);
        assert!(verify_signature(
            &key.verifying_key(),
            &back.pae(),
            &back.signatures[0].sig
        ));
        // The same document with a space is not canonical.
        let mut spaced = bytes.clone();
        spaced.insert(1, b' ');
        assert!(Envelope::parse("t", &spaced).is_err());
        // A different payload type breaks the signature.
        let mut other = back.clone();
        other.payload_type.push('x');
        assert!(!verify_signature(
            &key.verifying_key(),
            &other.pae(),
            &other.signatures[0].sig
        ));
    }

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// RFC 8032 §7.1 tests 1–3: keys, deterministic signatures, verification.
    #[test]
    fn rfc8032_vectors() {
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
            (
                "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
                "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
                "af82",
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
            ),
        ];
        for (sk, pk, msg, sig) in cases {
            let key = SigningKey::from_bytes(&h(sk).try_into().unwrap());
            assert_eq!(key.verifying_key().to_bytes().to_vec(), h(pk));
            let got = key.sign(&h(msg)).to_bytes().to_vec();
            assert_eq!(got, h(sig));
            assert!(verify_signature(&key.verifying_key(), &h(msg), &got));
            let mut bad = got.clone();
            bad[10] ^= 1;
            assert!(!verify_signature(&key.verifying_key(), &h(msg), &bad));
            assert!(!verify_signature(&key.verifying_key(), b"other", &got));
        }
    }

    /// Malleability: S + L (non-canonical scalar) must be refused.
    #[test]
    fn non_canonical_s_is_refused() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let mut sig = key.sign(b"m").to_bytes();
        let l = h("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        let mut carry = 0u16;
        for i in 0..32 {
            let v = sig[32 + i] as u16 + l[i] as u16 + carry;
            sig[32 + i] = v as u8;
            carry = v >> 8;
        }
        assert!(!verify_signature(&key.verifying_key(), b"m", &sig));
    }

    /// Small-order public keys: the identity point "verifies" R = identity,
    /// S = 0 for every message under lax rules; strict rules refuse it.
    #[test]
    fn small_order_keys_are_refused() {
        let mut ident = [0u8; 32];
        ident[0] = 1;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&ident).unwrap();
        assert!(key.is_weak());
        let mut sig = [0u8; 64];
        sig[0] = 1;
        assert!(!verify_signature(&key, b"anything", &sig));
    }
}
