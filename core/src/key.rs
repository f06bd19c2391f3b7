//! The two key types a trust store holds and a bundle is signed with:
//! Ed25519 (RFC 8032, the default) and ECDSA P-256 with SHA-256 (FIPS 186-5,
//! the key type `cosign generate-key-pair` writes).
//!
//! Everything that depends on the algorithm is here, behind [`PublicKey`]
//! and [`SecretKey`]: the SPKI encoding the key id is computed over, PEM
//! import and export, the DSSE signature encoding, signing and the strict
//! verification rules (spec/bundle-format.md §4.3, spec/trust-store.md §2).
//!
//! Signatures are deterministic for both algorithms (Ed25519 by design,
//! ECDSA by RFC 6979 §3.2 with HMAC-SHA-256), so a bundle packed twice with
//! the same inputs is byte-identical. ECDSA signatures are ASN.1 DER
//! `Ecdsa-Sig-Value` (RFC 3279 §2.2.3, as X.509 and DSSE/cosign write them),
//! and only the low-S form is accepted, so nobody but the signer can make a
//! second valid encoding of a signature (the one-meaning rule; Ed25519 gets
//! the same from `verify_strict`).

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::Verifier as _;
use pkcs8::der::pem::LineEnding;
use pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, SecretDocument};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The largest DSSE signature of any algorithm, in bytes: a DER P-256
/// `Ecdsa-Sig-Value` is at most `30 46 02 21 <33> 02 21 <33>` = 72 bytes.
pub const MAX_SIGNATURE_LEN: usize = 72;

/// A key algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// Ed25519 (RFC 8032), 64-byte signatures, verified with the strict rules.
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256; DER signatures, low-S only.
    EcdsaP256,
}

impl Algorithm {
    /// Every algorithm, default first.
    pub const ALL: [Algorithm; 2] = [Algorithm::Ed25519, Algorithm::EcdsaP256];

    /// The name `ct keygen --type`, `ct key list` and `--json` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256 => "ecdsa-p256",
        }
    }

    /// The name people read ("Ed25519", "ECDSA P-256").
    pub fn display_name(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::EcdsaP256 => "ECDSA P-256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| Error::invalid_config("key type", format!("unknown key type {s:?} (ed25519, ecdsa-p256)")))
    }
}

/// A public key of either algorithm.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ECDSA P-256.
    EcdsaP256(p256::ecdsa::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.algorithm(), hex::encode(self.spki_der()))
    }
}

impl From<ed25519_dalek::VerifyingKey> for PublicKey {
    fn from(k: ed25519_dalek::VerifyingKey) -> Self {
        PublicKey::Ed25519(k)
    }
}

impl From<p256::ecdsa::VerifyingKey> for PublicKey {
    fn from(k: p256::ecdsa::VerifyingKey) -> Self {
        PublicKey::EcdsaP256(k)
    }
}

/// Anything that is, or has, a public key: lets the key id, PEM and
/// verification helpers take either algorithm's own key type or a
/// [`PublicKey`].
pub trait AsPublicKey {
    /// The public key.
    fn public_key(&self) -> PublicKey;
}

impl AsPublicKey for PublicKey {
    fn public_key(&self) -> PublicKey {
        self.clone()
    }
}

impl AsPublicKey for ed25519_dalek::VerifyingKey {
    fn public_key(&self) -> PublicKey {
        PublicKey::Ed25519(*self)
    }
}

impl AsPublicKey for p256::ecdsa::VerifyingKey {
    fn public_key(&self) -> PublicKey {
        PublicKey::EcdsaP256(*self)
    }
}

impl PublicKey {
    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
            PublicKey::EcdsaP256(_) => Algorithm::EcdsaP256,
        }
    }

    /// The DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7): for Ed25519 the
    /// RFC 8410 form, for P-256 the RFC 5480 form with `id-ecPublicKey`,
    /// `secp256r1` and the uncompressed point — the bytes `openssl pkey
    /// -pubin -outform DER` writes and `cosign.pub` holds. The key id is
    /// SHA-256 of these bytes.
    pub fn spki_der(&self) -> Vec<u8> {
        // Encoding a valid key as SPKI cannot fail: both are fixed-size.
        let der = match self {
            PublicKey::Ed25519(k) => k.to_public_key_der(),
            PublicKey::EcdsaP256(k) => k.to_public_key_der(),
        };
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`), LF line ends.
    pub fn to_pem(&self) -> String {
        let pem = match self {
            PublicKey::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
            PublicKey::EcdsaP256(k) => k.to_public_key_pem(LineEnding::LF),
        };
        pem.unwrap_or_default()
    }

    /// Parses a PEM SubjectPublicKeyInfo of either algorithm (what `ct key
    /// export`, `openssl pkey -pubout` and `cosign generate-key-pair` write).
    ///
    /// Refused: a small-order Ed25519 key (it verifies forged signatures
    /// under lax rules), and a P-256 key whose DER is not the canonical
    /// SPKI [`PublicKey::spki_der`] writes (a compressed point, explicit
    /// curve parameters): the key id is the hash of those bytes, so one key
    /// must have one encoding. `what` names the source in errors.
    pub fn from_pem(pem: &str, what: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidPublicKey {
            what: what.to_owned(),
            reason,
        };
        let pem = pem.trim();
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            if k.is_weak() {
                return Err(invalid("refusing a small-order Ed25519 public key".into()));
            }
            return Ok(PublicKey::Ed25519(k));
        }
        match p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            Ok(k) => {
                let key = PublicKey::EcdsaP256(k);
                let given = pkcs8::Document::from_pem(pem)
                    .map(|(_, d)| d.as_bytes().to_vec())
                    .unwrap_or_default();
                if given != key.spki_der() {
                    return Err(invalid(
                        "a P-256 public key must be the canonical SubjectPublicKeyInfo \
                         (named curve secp256r1, uncompressed point)"
                            .into(),
                    ));
                }
                Ok(key)
            }
            Err(e) => Err(invalid(format!(
                "not a PEM Ed25519 or ECDSA P-256 public key (SubjectPublicKeyInfo): {e}"
            ))),
        }
    }

    /// Verifies `sig` over `message` with the strict rules: Ed25519 per
    /// RFC 8032 §5.1.7 with canonical `S` and no small-order keys
    /// (`verify_strict`); ECDSA P-256 over SHA-256(message) with the
    /// signature in strict DER (re-encoding gives the same bytes) and `s` in
    /// the lower half of the group order. Returns why it does not verify.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> std::result::Result<(), SignatureRefusal> {
        match self {
            PublicKey::Ed25519(k) => {
                let bytes = <[u8; 64]>::try_from(sig).map_err(|_| SignatureRefusal::Encoding)?;
                let sig = ed25519_dalek::Signature::from_bytes(&bytes);
                k.verify_strict(message, &sig).map_err(|_| SignatureRefusal::Mismatch)
            }
            PublicKey::EcdsaP256(k) => {
                let parsed = p256::ecdsa::Signature::from_der(sig).map_err(|_| SignatureRefusal::Encoding)?;
                if parsed.to_der().as_bytes() != sig {
                    return Err(SignatureRefusal::Encoding);
                }
                // normalize_s changes exactly the high-S signatures.
                if parsed.normalize_s().to_der().as_bytes() != sig {
                    return Err(SignatureRefusal::HighS);
                }
                k.verify(message, &parsed).map_err(|_| SignatureRefusal::Mismatch)
            }
        }
    }
}

/// Why a signature does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureRefusal {
    /// Not the algorithm's encoding: not 64 bytes for Ed25519, not strict
    /// DER `Ecdsa-Sig-Value` for ECDSA (indefinite or padded lengths,
    /// non-minimal integers, trailing bytes, `r` or `s` out of range).
    Encoding,
    /// An ECDSA signature whose `s` is in the upper half of the group order:
    /// the valid twin `(r, n − s)` of a low-S signature, refused so that a
    /// signature has one encoding (BIP 62's rule; Go's `ecdsa.VerifyASN1`
    /// accepts it, ct does not).
    HighS,
    /// Well-formed, but not a signature of this message by this key.
    Mismatch,
}

impl fmt::Display for SignatureRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureRefusal::Encoding => "not in the algorithm's canonical signature encoding",
            SignatureRefusal::HighS => "high-S ECDSA signature (only the low-S form is accepted)",
            SignatureRefusal::Mismatch => "does not verify",
        })
    }
}

/// A private key of either algorithm.
pub enum SecretKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// ECDSA P-256.
    EcdsaP256(p256::ecdsa::SigningKey),
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({:?})", self.public())
    }
}

impl From<ed25519_dalek::SigningKey> for SecretKey {
    fn from(k: ed25519_dalek::SigningKey) -> Self {
        SecretKey::Ed25519(k)
    }
}

impl From<p256::ecdsa::SigningKey> for SecretKey {
    fn from(k: p256::ecdsa::SigningKey) -> Self {
        SecretKey::EcdsaP256(k)
    }
}

/// Something that signs DSSE envelopes: either algorithm's own signing key,
/// a [`SecretKey`] (so tests and callers holding one type need no
/// conversion), or a key held elsewhere (`cerro-pkcs11`'s token signer).
pub trait KeySigner {
    /// The public half.
    fn public_key(&self) -> PublicKey;
    /// The signature of `message` in the DSSE encoding of its algorithm
    /// (spec/bundle-format.md §4.3): Ed25519's 64 bytes, or ECDSA P-256 as
    /// strict DER with low S. Deterministic for this crate's keys; a
    /// token's ECDSA draws a random nonce (spec/interop.md §2.9), so only
    /// the signed bytes, not the signature, repeat.
    fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>>;
}

impl<K: KeySigner + ?Sized> KeySigner for &K {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }
    fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>> {
        (**self).sign_message(message)
    }
}

impl KeySigner for ed25519_dalek::SigningKey {
    fn public_key(&self) -> PublicKey {
        PublicKey::Ed25519(self.verifying_key())
    }
    fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>> {
        Ok(self.sign(message).to_bytes().to_vec())
    }
}

impl KeySigner for p256::ecdsa::SigningKey {
    fn public_key(&self) -> PublicKey {
        PublicKey::EcdsaP256(*self.verifying_key())
    }
    fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>> {
        // RFC 6979 nonce (deterministic), then the low-S form: (r, n − s)
        // verifies as (r, s) does, and is the only form verification takes.
        let sig: p256::ecdsa::Signature = self.try_sign(message).map_err(|e| Error::System {
            op: "signing with an ECDSA P-256 key",
            reason: e.to_string(),
        })?;
        Ok(sig.normalize_s().to_der().as_bytes().to_vec())
    }
}

impl KeySigner for SecretKey {
    fn public_key(&self) -> PublicKey {
        self.public()
    }
    fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>> {
        match self {
            SecretKey::Ed25519(k) => k.sign_message(message),
            SecretKey::EcdsaP256(k) => k.sign_message(message),
        }
    }
}

fn randomness(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::System {
        op: "reading system randomness",
        reason: e.to_string(),
    })
}

impl SecretKey {
    /// Its algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            SecretKey::Ed25519(_) => Algorithm::Ed25519,
            SecretKey::EcdsaP256(_) => Algorithm::EcdsaP256,
        }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        match self {
            SecretKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            SecretKey::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
        }
    }

    /// A new key from the system's randomness.
    pub fn generate(algorithm: Algorithm) -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        match algorithm {
            Algorithm::Ed25519 => {
                randomness(seed.as_mut())?;
                Ok(SecretKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)))
            }
            Algorithm::EcdsaP256 => {
                // Rejection sampling (FIPS 186-5 A.2.2): a scalar of 0 or ≥ n
                // is drawn again; the chance is about 2^-32 per draw.
                for _ in 0..64 {
                    randomness(seed.as_mut())?;
                    if let Ok(k) = p256::ecdsa::SigningKey::from_slice(seed.as_ref()) {
                        return Ok(SecretKey::EcdsaP256(k));
                    }
                }
                Err(Error::System {
                    op: "generating an ECDSA P-256 key",
                    reason: "the system's randomness gave no valid scalar in 64 draws".into(),
                })
            }
        }
    }

    /// The private key as PEM PKCS#8 (RFC 5958), encrypted with `passphrase`
    /// when given (PBES2: scrypt + AES-256-CBC, which openssl reads). Ed25519
    /// is written as PKCS#8 v1 without the public key (OpenSSL 3.0 refuses
    /// the v2 form); P-256 as RFC 5915 `ECPrivateKey` inside PKCS#8.
    pub fn to_pkcs8_pem(&self, passphrase: Option<&[u8]>) -> Result<Zeroizing<String>> {
        let der: SecretDocument = match self {
            SecretKey::Ed25519(k) => {
                let v1 = ed25519_dalek::pkcs8::KeypairBytes {
                    secret_key: k.to_bytes(),
                    public_key: None,
                };
                v1.to_pkcs8_der()
            }
            SecretKey::EcdsaP256(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| Error::System {
            op: "encoding the private key",
            reason: e.to_string(),
        })?;
        let pem = match passphrase {
            None => der.to_pem("PRIVATE KEY", LineEnding::LF).map_err(|e| e.to_string()),
            Some(p) => pkcs8::PrivateKeyInfoRef::try_from(der.as_bytes())
                .map_err(|e| e.to_string())
                .and_then(|info| info.encrypt(p).map_err(|e| e.to_string()))
                .and_then(|enc| {
                    enc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
                        .map_err(|e| e.to_string())
                }),
        }
        .map_err(|reason| Error::System {
            op: "encoding the private key",
            reason,
        })?;
        Ok(pem)
    }

    /// Parses a PEM PKCS#8 private key of either algorithm. An encrypted
    /// one (`ENCRYPTED PRIVATE KEY`) needs `passphrase`: decrypted once,
    /// then read as either algorithm. The error is the reason, for the
    /// caller to put in its own error (it knows the key id and file).
    pub fn from_pkcs8_pem(pem: &str, passphrase: Option<&[u8]>) -> std::result::Result<Self, KeyFileError> {
        let (label, doc) = SecretDocument::from_pem(pem.trim()).map_err(|e| KeyFileError::Format(e.to_string()))?;
        let plain = match label {
            "ENCRYPTED PRIVATE KEY" => {
                let p = passphrase.ok_or(KeyFileError::PassphraseNeeded)?;
                pkcs8::EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes())
                    .map_err(|e| KeyFileError::Format(e.to_string()))?
                    .decrypt(p)
                    .map_err(|_| KeyFileError::WrongPassphrase)?
            }
            "PRIVATE KEY" => doc,
            other => return Err(KeyFileError::Format(format!("PEM label {other:?}, not PRIVATE KEY"))),
        };
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(plain.as_bytes()) {
            return Ok(SecretKey::Ed25519(k));
        }
        p256::ecdsa::SigningKey::from_pkcs8_der(plain.as_bytes())
            .map(SecretKey::EcdsaP256)
            .map_err(|e| KeyFileError::Format(format!("not a PKCS#8 Ed25519 or ECDSA P-256 key: {e}")))
    }

    /// Whether a PEM private key is the encrypted form.
    pub fn pem_is_encrypted(pem: &str) -> bool {
        pem.contains("BEGIN ENCRYPTED PRIVATE KEY")
    }
}

/// Why a private key file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileError {
    /// Encrypted, and no passphrase was given.
    PassphraseNeeded,
    /// Encrypted, and the passphrase does not decrypt it.
    WrongPassphrase,
    /// Not a PEM PKCS#8 key of a supported algorithm.
    Format(String),
}

/// Re-encodes an ECDSA P-256 DER signature in its low-S form: the public
/// operation anyone can apply to a valid signature (`(r, s)` → `(r, n − s)`
/// when `s > n/2`), for bringing in signatures made by tools that do not
/// normalise (Go's `crypto/ecdsa`, so cosign). `None` if `sig` is not
/// strict DER.
pub fn ecdsa_p256_low_s(sig: &[u8]) -> Option<Vec<u8>> {
    let parsed = p256::ecdsa::Signature::from_der(sig).ok()?;
    if parsed.to_der().as_bytes() != sig {
        return None;
    }
    Some(parsed.normalize_s().to_der().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p256_key(seed: u8) -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    /// RFC 6979 appendix A.2.5, P-256 with SHA-256, message "sample": the
    /// deterministic nonce gives exactly these r and s.
    #[test]
    fn rfc6979_p256_sha256_vector() {
        let x = hex::decode("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721").unwrap();
        let key = p256::ecdsa::SigningKey::from_slice(&x).unwrap();
        let sig: p256::ecdsa::Signature = key.sign(b"sample");
        let (r, s) = sig.split_bytes();
        assert_eq!(
            hex::encode_upper(r),
            "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
        );
        assert_eq!(
            hex::encode_upper(s),
            "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
        );
        // That s is high: ct writes its low twin, which verifies, and refuses
        // the high one.
        let ours = key.sign_message(b"sample").unwrap();
        let public = key.public_key();
        public.verify(b"sample", &ours).unwrap();
        let high = sig.to_der().as_bytes().to_vec();
        assert_ne!(ours, high);
        assert_eq!(public.verify(b"sample", &high), Err(SignatureRefusal::HighS));
        assert_eq!(ecdsa_p256_low_s(&high).unwrap(), ours);
        assert_eq!(ecdsa_p256_low_s(&ours).unwrap(), ours);
    }

    #[test]
    fn p256_signatures_are_deterministic_der_and_strict() {
        let key = p256_key(3);
        let a = key.sign_message(b"m").unwrap();
        assert_eq!(a, key.sign_message(b"m").unwrap());
        assert_eq!(a[0], 0x30);
        assert!(a.len() <= MAX_SIGNATURE_LEN);
        let public = key.public_key();
        public.verify(b"m", &a).unwrap();
        assert_eq!(public.verify(b"other", &a), Err(SignatureRefusal::Mismatch));
        assert_eq!(
            p256_key(4).public_key().verify(b"m", &a),
            Err(SignatureRefusal::Mismatch)
        );
        // Non-DER spellings of the same (r, s): long-form length, a padded
        // integer, trailing bytes, raw r||s.
        let mut long = vec![0x30, 0x81, a[1]];
        long.extend_from_slice(&a[2..]);
        let mut trailing = a.clone();
        trailing.push(0);
        let sig = p256::ecdsa::Signature::from_der(&a).unwrap();
        let raw = sig.to_bytes().to_vec();
        for bad in [long, trailing, raw, vec![], vec![0x30, 0x00]] {
            assert_eq!(
                public.verify(b"m", &bad),
                Err(SignatureRefusal::Encoding),
                "{}",
                hex::encode(&bad)
            );
        }
        let (r, s) = sig.split_bytes();
        let padded = der_sig(&[&[0u8][..], &r[..]].concat(), &s);
        assert_eq!(public.verify(b"m", &padded), Err(SignatureRefusal::Encoding));
        // An Ed25519 signature is not a P-256 one, and the reverse.
        let ed = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let eds = ed.sign_message(b"m").unwrap();
        assert_eq!(public.verify(b"m", &eds), Err(SignatureRefusal::Encoding));
        assert_eq!(ed.public_key().verify(b"m", &a), Err(SignatureRefusal::Encoding));
    }

    /// A DER SEQUENCE of two INTEGERs with the given content bytes, as is.
    fn der_sig(r: &[u8], s: &[u8]) -> Vec<u8> {
        let mut body = vec![0x02, r.len() as u8];
        body.extend_from_slice(r);
        body.extend_from_slice(&[0x02, s.len() as u8]);
        body.extend_from_slice(s);
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    #[test]
    fn pem_round_trips_and_refusals() {
        for key in [
            SecretKey::from(ed25519_dalek::SigningKey::from_bytes(&[5; 32])),
            SecretKey::from(p256_key(5)),
        ] {
            let public = key.public();
            let pem = public.to_pem();
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
            assert_eq!(PublicKey::from_pem(&pem, "t").unwrap(), public);
            for pass in [None, Some(&b"pw"[..])] {
                let text = key.to_pkcs8_pem(pass).unwrap();
                assert_eq!(SecretKey::pem_is_encrypted(&text), pass.is_some());
                let back = SecretKey::from_pkcs8_pem(&text, pass).unwrap();
                assert_eq!(back.public(), public);
                if pass.is_some() {
                    assert_eq!(
                        SecretKey::from_pkcs8_pem(&text, None).unwrap_err(),
                        KeyFileError::PassphraseNeeded
                    );
                    assert_eq!(
                        SecretKey::from_pkcs8_pem(&text, Some(b"no")).unwrap_err(),
                        KeyFileError::WrongPassphrase
                    );
                }
            }
        }
        // A compressed-point P-256 SPKI is the same key, another encoding.
        let k = p256_key(5);
        let point = k.verifying_key().to_sec1_point(true);
        let mut der = hex::decode("3039301306072a8648ce3d020106082a8648ce3d030107032200").unwrap();
        der.extend_from_slice(point.as_bytes());
        let pem = pkcs8::Document::try_from(der.as_slice())
            .unwrap()
            .to_pem("PUBLIC KEY", LineEnding::LF)
            .unwrap();
        let e = PublicKey::from_pem(&pem, "t").unwrap_err();
        assert!(e.to_string().contains("canonical"), "{e}");
        assert!(PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "t").is_err());
    }

    #[test]
    fn algorithm_names() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>().unwrap(), a);
        }
        assert!("rsa".parse::<Algorithm>().is_err());
        let g = SecretKey::generate(Algorithm::EcdsaP256).unwrap();
        assert_eq!(g.algorithm(), Algorithm::EcdsaP256);
        assert_eq!(
            SecretKey::generate(Algorithm::Ed25519).unwrap().algorithm(),
            Algorithm::Ed25519
        );
    }
}
