//! Checks of the signed trust root's and revocation list's readers
//! (`cerro_core::trust::root`, spec/trust-store.md §9–10): untrusted bytes
//! until their signatures are counted (a file handed to `ct trust root
//! install` or fetched by `ct revocation fetch`).

use cerro_core::key::PublicKey;
use cerro_core::trust::root::{open_revocation, open_root, verify_revocation, verify_root, KeySet, Quorum, TrustRoot};
use ed25519_dalek::SigningKey;

use crate::NOW;

/// The seeds of the root keys ([`root`]'s 2 of 2).
pub const ROOT_SEEDS: [u8; 2] = [30, 31];
/// The seed of the revocation key ([`root`]'s 1 of 1).
pub const REVOCATION_SEED: u8 = 32;

/// The root the revocation lists are checked under (and the seeds' root).
pub fn root() -> TrustRoot {
    let key = |s: u8| PublicKey::from(SigningKey::from_bytes(&[s; 32]).verifying_key());
    TrustRoot::new(
        1,
        NOW + 365 * 86_400,
        KeySet::new(
            "root",
            ROOT_SEEDS.iter().map(|s| (format!("root-{s}"), key(*s))).collect(),
            2,
        )
        .expect("root keys"),
        vec![],
        vec![],
        Quorum { logs: 0, witnesses: 0 },
        KeySet::new("revocation", vec![("rev".into(), key(REVOCATION_SEED))], 1).expect("revocation keys"),
    )
    .expect("the fuzz root")
}

/// A refusal by a reader is `malformed` (exit 10) or, for a rule of the
/// format, `config` (78); by the decision, also too few signers (3),
/// expiry or rollback (78).
fn refused_cleanly(target: &str, e: &cerro_core::Error, codes: &[u8]) {
    assert!(
        codes.contains(&e.exit_code().code()),
        "{target}: refused as {} ({}): {e}",
        e.kind(),
        e.exit_code().code()
    );
    assert!(!e.to_string().is_empty(), "{target}: an error without a message");
}

/// Trust roots: what opens writes back to the same payload and envelope
/// bytes, and the one decision answers with the root it opened or a
/// documented refusal.
pub fn trust_root(data: &[u8]) {
    let signed = match open_root(data) {
        Err(e) => return refused_cleanly("trust_root", &e, &[10, 78]),
        Ok(s) => s,
    };
    assert_eq!(
        signed.root.to_payload().expect("an opened root writes"),
        signed.envelope.payload,
        "an opened root's payload is not its canonical form"
    );
    assert_eq!(signed.to_bytes().expect("an opened envelope writes"), data);
    match verify_root(data, None, NOW) {
        Ok(r) => assert_eq!(r, signed.root),
        Err(e) => refused_cleanly("trust_root", &e, &[3, 10, 78]),
    }
}

/// Revocation lists: as [`trust_root`], checked under [`root`].
pub fn revocation_list(data: &[u8]) {
    let signed = match open_revocation(data) {
        Err(e) => return refused_cleanly("revocation_list", &e, &[10, 78]),
        Ok(s) => s,
    };
    assert_eq!(
        signed.list.to_payload().expect("an opened list writes"),
        signed.envelope.payload,
        "an opened list's payload is not its canonical form"
    );
    assert_eq!(signed.envelope.to_bytes().expect("an opened envelope writes"), data);
    match verify_revocation(data, &root(), None, NOW) {
        Ok(l) => assert_eq!(l, signed.list),
        Err(e) => refused_cleanly("revocation_list", &e, &[3, 10, 78]),
    }
}
