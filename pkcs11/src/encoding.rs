//! The bytes a token speaks, turned into core's types: curve parameters
//! (CKA_EC_PARAMS), public points (CKA_EC_POINT) and raw ECDSA signatures.

use cerro_core::key::{Algorithm, PublicKey};

/// DER OID 1.2.840.10045.3.1.7 (secp256r1, prime256v1): CKA_EC_PARAMS of
/// a P-256 key.
pub const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// DER OID 1.3.101.112 (id-Ed25519, RFC 8410): CKA_EC_PARAMS of an Ed25519
/// key as PKCS#11 3.0 writes it (and SoftHSM2 2.6 takes).
pub const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// The other spelling PKCS#11 3.0 allows for Ed25519: PrintableString
/// "edwards25519" (some tokens write it).
const ED25519_PARAMS_NAME: &[u8] = b"\x13\x0cedwards25519";

/// The curve parameters to generate a key of `algorithm` with.
pub fn params_of(algorithm: Algorithm) -> &'static [u8] {
    match algorithm {
        Algorithm::Ed25519 => ED25519_PARAMS,
        Algorithm::EcdsaP256 => P256_PARAMS,
    }
}

/// The algorithm of a key with these parameters, if ct has it.
pub fn algorithm_of(params: &[u8]) -> Option<Algorithm> {
    match params {
        P256_PARAMS => Some(Algorithm::EcdsaP256),
        ED25519_PARAMS | ED25519_PARAMS_NAME => Some(Algorithm::Ed25519),
        _ => None,
    }
}

/// The point's bytes from CKA_EC_POINT: a DER OCTET STRING as PKCS#11
/// specifies (`04 len point`), or the bare point some tokens return. The
/// lengths tell the two apart: a P-256 point is 65 bytes (`04 ‖ X ‖ Y`),
/// an Ed25519 one 32.
fn point_bytes(algorithm: Algorithm, ec_point: &[u8]) -> Option<&[u8]> {
    let len = match algorithm {
        Algorithm::Ed25519 => 32,
        Algorithm::EcdsaP256 => 65,
    };
    match ec_point {
        [0x04, l, rest @ ..] if usize::from(*l) == len && rest.len() == len => Some(rest),
        bare if bare.len() == len => Some(bare),
        _ => None,
    }
}

/// The public key of a token object, through core's PEM reader so that a
/// token key obeys the same rules as an imported one (no small-order
/// Ed25519 point, the canonical P-256 encoding). `None` if the point is
/// not one of `algorithm`.
pub fn public_key(algorithm: Algorithm, ec_point: &[u8]) -> Option<PublicKey> {
    let point = point_bytes(algorithm, ec_point)?;
    let key = match algorithm {
        Algorithm::Ed25519 => {
            PublicKey::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&<[u8; 32]>::try_from(point).ok()?).ok()?)
        }
        Algorithm::EcdsaP256 => PublicKey::EcdsaP256(p256::ecdsa::VerifyingKey::from_sec1_bytes(point).ok()?),
    };
    PublicKey::from_pem(&key.to_pem(), "token key").ok()
}

/// A token's raw ECDSA P-256 signature (`r ‖ s`, 32 bytes each, as
/// CKM_ECDSA returns it) in ct's DSSE encoding: strict DER, low-S
/// (spec/interop.md §3). `None` if it is not 64 bytes or `r`/`s` is out of
/// range.
pub fn p256_der_low_s(raw: &[u8]) -> Option<Vec<u8>> {
    let sig = p256::ecdsa::Signature::from_slice(raw).ok()?;
    Some(sig.normalize_s().to_der().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cerro_core::key::KeySigner as _;

    #[test]
    fn raw_signatures_become_low_s_der_that_core_accepts() {
        let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let public = key.public_key();
        for i in 0u8..16 {
            let m = [i; 3];
            let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&key, &m);
            // The high twin (r, n − s) of each: a token may return either.
            let high = if sig.normalize_s() == sig {
                let s = -*sig.s();
                p256::ecdsa::Signature::from_scalars(sig.r(), s).unwrap()
            } else {
                sig
            };
            for raw in [sig.to_bytes(), high.to_bytes()] {
                let der = p256_der_low_s(&raw).unwrap();
                public.verify(&m, &der).unwrap();
            }
        }
        assert_eq!(p256_der_low_s(&[0; 64]), None);
        assert_eq!(p256_der_low_s(&[1; 63]), None);
    }

    #[test]
    fn points_in_either_form_and_bad_ones() {
        let p = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
        let point = p.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        let der = [&[0x04, 65][..], &point].concat();
        let want = p.public_key();
        assert_eq!(public_key(Algorithm::EcdsaP256, &der).unwrap(), want);
        assert_eq!(public_key(Algorithm::EcdsaP256, &point).unwrap(), want);
        let compressed = p.verifying_key().to_sec1_point(true).as_bytes().to_vec();
        assert!(public_key(Algorithm::EcdsaP256, &compressed).is_none());
        assert!(public_key(Algorithm::Ed25519, &der).is_none());

        let e = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let raw = e.verifying_key().to_bytes();
        let want = e.public_key();
        assert_eq!(
            public_key(Algorithm::Ed25519, &[&[0x04, 32][..], &raw].concat()).unwrap(),
            want
        );
        assert_eq!(public_key(Algorithm::Ed25519, &raw).unwrap(), want);
        // A small-order point (the identity) is refused as on import.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(public_key(Algorithm::Ed25519, &identity).is_none());

        assert_eq!(algorithm_of(P256_PARAMS), Some(Algorithm::EcdsaP256));
        assert_eq!(algorithm_of(ED25519_PARAMS), Some(Algorithm::Ed25519));
        assert_eq!(algorithm_of(b"\x13\x0cedwards25519"), Some(Algorithm::Ed25519));
        assert_eq!(algorithm_of(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]), None);
        // P-384
    }
}
