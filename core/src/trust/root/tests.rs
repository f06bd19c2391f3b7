//! The trust root's and revocation list's rules, each refusal with its kind
//! and exit code (spec/trust-store.md §9–10).

use ed25519_dalek::SigningKey;

use super::*;
use crate::dsse::Signature;
use crate::tlog::{Ed25519Cosigner, Ed25519NoteSigner, NoteSigner as _};
use crate::trust::home::{Home, REVOCATION_FILE, ROOT_FILE};
use crate::ExitCode;

const NOW: u64 = 1_800_000_000;
const YEAR: u64 = 365 * 86_400;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn keyset(role: &str, seeds: &[u8], k: usize) -> KeySet {
    KeySet::new(
        role,
        seeds
            .iter()
            .map(|s| (format!("{role}-{s}"), PublicKey::from(key(*s).verifying_key())))
            .collect(),
        k,
    )
    .unwrap()
}

fn log(seed: u8) -> TrustedLog {
    let name = format!("log{seed}.example/releases");
    let s = Ed25519NoteSigner::from_seed(&name, &[seed; 32]).unwrap();
    TrustedLog::new(&name, vec![s.verifier_key().clone()]).unwrap()
}

fn witness(seed: u8) -> VerifierKey {
    Ed25519Cosigner::from_seed(&format!("w{seed}.example"), &[seed; 32])
        .unwrap()
        .verifier_key()
        .clone()
}

/// Root keys 1, 2, 3 (2 of 3), revocation keys 20, 21 (2 of 2).
fn root_v(version: u64, root_seeds: &[u8]) -> TrustRoot {
    TrustRoot::new(
        version,
        NOW + YEAR,
        keyset("root", root_seeds, 2),
        vec![log(10), log(11)],
        vec![witness(12), witness(13)],
        Quorum { logs: 2, witnesses: 1 },
        keyset("revocation", &[20, 21], 2),
    )
    .unwrap()
}

fn signed(root: &TrustRoot, seeds: &[u8]) -> Vec<u8> {
    let mut env = root.to_envelope().unwrap();
    for s in seeds {
        env.sign(&key(*s)).unwrap();
    }
    env.to_bytes().unwrap()
}

fn refused(e: &Error, kind: &str, code: ExitCode) {
    assert_eq!(e.kind().as_str(), kind, "{e}");
    assert_eq!(e.exit_code(), code, "{e}");
}

#[test]
fn a_root_needs_k_distinct_valid_signatures_of_its_own_keys() {
    let root = root_v(1, &[1, 2, 3]);
    let ok = verify_root(&signed(&root, &[1, 3]), None, NOW).unwrap();
    assert_eq!(ok, root);
    // k - 1.
    let e = verify_root(&signed(&root, &[2]), None, NOW).unwrap_err();
    refused(&e, "signer_not_trusted", ExitCode::SignerNotTrusted);
    assert!(e.to_string().contains("1 of 2"), "{e}");
    // A key outside the role does not count.
    let e = verify_root(&signed(&root, &[2, 9]), None, NOW).unwrap_err();
    refused(&e, "signer_not_trusted", ExitCode::SignerNotTrusted);
    // A signature under a root key's id by another key does not count.
    let mut env = root.to_envelope().unwrap();
    env.sign(&key(1)).unwrap();
    let mut forged = env.clone();
    forged.sign(&key(9)).unwrap();
    let sig9 = forged
        .signatures
        .iter()
        .find(|s| s.keyid == Fingerprint::of(&key(9).verifying_key()).to_hex())
        .unwrap()
        .sig
        .clone();
    env.signatures.push(Signature {
        keyid: Fingerprint::of(&key(2).verifying_key()).to_hex(),
        sig: sig9,
    });
    let e = verify_root(&env.to_bytes().unwrap(), None, NOW).unwrap_err();
    refused(&e, "signer_not_trusted", ExitCode::SignerNotTrusted);
    assert!(e.to_string().contains("invalid signature by root-2"), "{e}");
    // One key's signature twice counts once.
    let mut env = root.to_envelope().unwrap();
    env.sign(&key(1)).unwrap();
    let twice = env.signatures[0].clone();
    env.signatures.push(twice);
    let e = verify_root(&env.to_bytes().unwrap(), None, NOW).unwrap_err();
    refused(&e, "signer_not_trusted", ExitCode::SignerNotTrusted);
    assert!(e.to_string().contains("duplicate"), "{e}");
}

#[test]
fn an_update_needs_the_old_and_the_new_threshold_and_a_higher_version() {
    let v1 = root_v(1, &[1, 2, 3]);
    let v1_bytes = signed(&v1, &[1, 2]);
    let trusted = Some((&v1, v1_bytes.as_slice()));
    // Rotation to keys 4, 5, 6: signed by both thresholds.
    let v2 = root_v(2, &[4, 5, 6]);
    verify_root(&signed(&v2, &[1, 2, 4, 5]), trusted, NOW).unwrap();
    // Only the new keys: the old root did not agree.
    let e = verify_root(&signed(&v2, &[4, 5, 6]), trusted, NOW).unwrap_err();
    refused(&e, "signer_not_trusted", ExitCode::SignerNotTrusted);
    assert!(e.to_string().contains("keys of root version 1"), "{e}");
    // Only the old keys: the new root is not signed by its own.
    let e = verify_root(&signed(&v2, &[1, 2, 3]), trusted, NOW).unwrap_err();
    refused(&e, "signer_not_trusted", ExitCode::SignerNotTrusted);
    // Rolled back: a lower version, even well signed.
    let v2_bytes = signed(&v2, &[1, 2, 4, 5]);
    let e = verify_root(&v1_bytes, Some((&v2, v2_bytes.as_slice())), NOW).unwrap_err();
    refused(&e, "rollback", ExitCode::Config);
    // The same version with other content.
    let other = TrustRoot::new(
        1,
        NOW + 2 * YEAR,
        keyset("root", &[1, 2, 3], 2),
        vec![],
        vec![],
        Quorum { logs: 0, witnesses: 0 },
        keyset("revocation", &[20], 1),
    )
    .unwrap();
    let e = verify_root(&signed(&other, &[1, 2]), trusted, NOW).unwrap_err();
    refused(&e, "rollback", ExitCode::Config);
    // The same bytes again: a reinstall.
    verify_root(&v1_bytes, trusted, NOW).unwrap();
}

#[test]
fn an_expired_root_is_refused_but_may_sign_its_successor() {
    let v1 = root_v(1, &[1, 2, 3]);
    let bytes = signed(&v1, &[1, 2]);
    let e = verify_root(&bytes, None, NOW + YEAR).unwrap_err();
    refused(&e, "trust_root_expired", ExitCode::Config);
    let v2 = TrustRoot::new(
        2,
        NOW + 3 * YEAR,
        keyset("root", &[1, 2, 3], 2),
        vec![],
        vec![],
        Quorum { logs: 0, witnesses: 0 },
        keyset("revocation", &[20], 1),
    )
    .unwrap();
    verify_root(&signed(&v2, &[1, 2]), Some((&v1, &bytes)), NOW + 2 * YEAR).unwrap();
}

#[test]
fn roots_are_read_in_one_spelling_only() {
    let root = root_v(1, &[1, 2, 3]);
    let payload = root.to_payload().unwrap();
    let text = String::from_utf8(payload.clone()).unwrap();
    let sign = |payload: Vec<u8>, ty: &str| {
        let mut env = Envelope::new(ty, payload);
        env.sign(&key(1)).unwrap();
        env.sign(&key(2)).unwrap();
        env.to_bytes().unwrap()
    };
    assert!(verify_root(&sign(payload.clone(), ROOT_PAYLOAD_TYPE), None, NOW).is_ok());
    let bad = [
        (sign(payload.clone(), REVOCATION_PAYLOAD_TYPE), "payloadType"),
        (sign(format!(" {text}").into_bytes(), ROOT_PAYLOAD_TYPE), "canonical"),
        (
            sign(
                format!("{},\"zzz\":1}}", &text[..text.len() - 1]).into_bytes(),
                ROOT_PAYLOAD_TYPE,
            ),
            "unknown field",
        ),
        (
            sign(
                text.replacen("\"version\":1", "\"version\":1,\"version\":2", 1)
                    .into_bytes(),
                ROOT_PAYLOAD_TYPE,
            ),
            "canonical",
        ),
        (
            sign(
                text.replace(&format_rfc3339(NOW + YEAR), "2027-01-15T08:00:00+00:00")
                    .into_bytes(),
                ROOT_PAYLOAD_TYPE,
            ),
            "RFC 3339",
        ),
    ];
    for (bytes, why) in bad {
        let e = verify_root(&bytes, None, NOW).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Malformed, "{why}: {e}");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    assert!(verify_root(&vec![b' '; MAX_ROOT_SIZE as usize + 1], None, NOW).is_err());
}

#[test]
fn a_root_that_could_never_be_satisfied_is_refused() {
    let ks = |k| KeySet::new("root", vec![("a".into(), PublicKey::from(key(1).verifying_key()))], k);
    assert!(ks(0).is_err() && ks(2).is_err() && ks(1).is_ok());
    assert!(KeySet::new("root", vec![], 1).is_err());
    let same = PublicKey::from(key(1).verifying_key());
    assert!(KeySet::new("root", vec![("a".into(), same.clone()), ("b".into(), same)], 1).is_err());
    let make = |quorum, logs: Vec<TrustedLog>, witnesses: Vec<VerifierKey>| {
        TrustRoot::new(
            1,
            NOW + YEAR,
            keyset("root", &[1], 1),
            logs,
            witnesses,
            quorum,
            keyset("revocation", &[2], 1),
        )
    };
    assert!(make(Quorum { logs: 2, witnesses: 0 }, vec![log(10)], vec![]).is_err());
    assert!(make(Quorum { logs: 1, witnesses: 1 }, vec![log(10)], vec![]).is_err());
    assert!(make(Quorum { logs: 0, witnesses: 1 }, vec![log(10)], vec![witness(12)]).is_err());
    // A witness holding a log's key (the store's own rule).
    let logkey_as_witness = Ed25519Cosigner::from_seed("w.example", &[10; 32])
        .unwrap()
        .verifier_key()
        .clone();
    assert!(make(Quorum { logs: 1, witnesses: 0 }, vec![log(10)], vec![logkey_as_witness]).is_err());
    assert!(make(Quorum { logs: 1, witnesses: 1 }, vec![log(10)], vec![witness(12)]).is_ok());
}

fn list(version: u64, issued: u64, keys: Vec<RevokedKey>, releases: Vec<Digest>) -> RevocationList {
    RevocationList::new(version, issued, issued + 7 * 86_400, keys, releases).unwrap()
}

fn signed_list(l: &RevocationList, seeds: &[u8]) -> Vec<u8> {
    let mut env = l.to_envelope().unwrap();
    for s in seeds {
        env.sign(&key(*s)).unwrap();
    }
    env.to_bytes().unwrap()
}

#[test]
fn a_revocation_list_needs_k_revocation_keys_and_a_higher_version() {
    let root = root_v(1, &[1, 2, 3]);
    let fp = Fingerprint::of(&key(40).verifying_key());
    let l2 = list(
        2,
        NOW,
        vec![RevokedKey {
            fingerprint: fp,
            after: None,
        }],
        vec![Digest::of(b"release")],
    );
    let b2 = signed_list(&l2, &[20, 21]);
    assert_eq!(verify_revocation(&b2, &root, None, NOW).unwrap(), l2);
    // k - 1; the root keys are not revocation keys.
    for seeds in [&[20][..], &[1, 2], &[20, 20]] {
        let e = verify_revocation(&signed_list(&l2, seeds), &root, None, NOW).unwrap_err();
        refused(&e, "signer_not_trusted", ExitCode::SignerNotTrusted);
    }
    // Older than the highest seen; the same version with other content.
    let l1 = list(1, NOW - 86_400, vec![], vec![]);
    let e = verify_revocation(&signed_list(&l1, &[20, 21]), &root, Some((2, &b2)), NOW).unwrap_err();
    refused(&e, "rollback", ExitCode::Config);
    let l2b = list(2, NOW, vec![], vec![]);
    let e = verify_revocation(&signed_list(&l2b, &[20, 21]), &root, Some((2, &b2)), NOW).unwrap_err();
    refused(&e, "rollback", ExitCode::Config);
    verify_revocation(&b2, &root, Some((2, &b2)), NOW).unwrap();
    // One spelling: unsorted entries are refused.
    let text = String::from_utf8(l2.to_payload().unwrap()).unwrap();
    assert!(text.contains("\"releases\":[\"sha256:"), "{text}");
    assert!(
        RevocationList::new(1, NOW, NOW, vec![], vec![]).is_err(),
        "next_update = issued"
    );
    let d = Digest::of(b"x");
    assert!(RevocationList::new(1, NOW, NOW + 1, vec![], vec![d, d]).is_err());
}

#[test]
fn the_tally_does_not_count_a_key_the_list_revokes() {
    let a = KeyEntry::new("a", key(40).verifying_key(), TrustLevel::Full);
    let b = KeyEntry::new("b", key(41).verifying_key(), TrustLevel::Full);
    let fps = [a.fingerprint, b.fingerprint];
    let mut store = TrustStore::new();
    store.insert(a.clone()).unwrap();
    store.insert(b.clone()).unwrap();
    assert_eq!(
        store
            .tally(&fps, crate::trust::TallyTime::now(NOW), TrustLevel::Full, &|_| None)
            .counted,
        2
    );
    store.set_revocation(list(
        1,
        NOW,
        vec![
            RevokedKey {
                fingerprint: a.fingerprint,
                after: None,
            },
            RevokedKey {
                fingerprint: b.fingerprint,
                after: Some(NOW + 100),
            },
        ],
        vec![],
    ));
    let t = store.tally(&fps, crate::trust::TallyTime::now(NOW), TrustLevel::Full, &|_| None);
    assert_eq!(t.counted, 1);
    assert_eq!(t.verdicts[0].status, crate::trust::SignerStatus::Revoked);
    // From `after` on, b stops counting too.
    let t = store.tally(&fps, crate::trust::TallyTime::now(NOW + 100), TrustLevel::Full, &|_| {
        None
    });
    assert_eq!(t.counted, 0);
    // "From T": a release the witnesses saw before T was signed before the
    // compromise the entry records, so b counts, and the verdict says why;
    // witnessed at or after T, it does not. An undated entry (a) refuses
    // whatever the witnesses saw.
    let at = |w| crate::trust::TallyTime::witnessed(NOW + 200, Some(w));
    let t = store.tally(&fps, at(NOW + 99), TrustLevel::Full, &|_| None);
    assert_eq!(t.counted, 1);
    assert_eq!(t.verdicts[0].status, crate::trust::SignerStatus::Revoked);
    assert_eq!(
        t.verdicts[1].time,
        Some(crate::trust::TimeNote::RevokedAfterWitnessed {
            after: NOW + 100,
            witnessed: NOW + 99
        })
    );
    assert_eq!(store.tally(&fps, at(NOW + 100), TrustLevel::Full, &|_| None).counted, 0);
}

#[test]
fn the_home_installs_a_root_keeps_the_highest_version_and_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    // A store of its own in trust.toml: a root replaces its logs.
    home.update_trust(|s| s.set_log(log(30).origin(), log(30).keys().to_vec()).map(|_| ()))
        .unwrap();
    assert!(home.trust_root(NOW).unwrap().is_none());
    let v1 = root_v(1, &[1, 2, 3]);
    let v1_bytes = signed(&v1, &[1, 2]);
    assert!(home.install_root(&v1_bytes, NOW).unwrap().1);
    assert!(
        !home.install_root(&v1_bytes, NOW).unwrap().1,
        "a reinstall changes nothing"
    );
    let store = home.load_for_verification(NOW).unwrap();
    let origins: Vec<&str> = store.logs().map(|l| l.origin()).collect();
    assert_eq!(origins, ["log10.example/releases", "log11.example/releases"]);
    assert_eq!(store.witnesses().count(), 2);
    assert_eq!(store.root().unwrap().quorum, Quorum { logs: 2, witnesses: 1 });
    // trust.toml alone still lists its own log (edits are not affected).
    assert!(home.load_trust().unwrap().log(log(30).origin()).is_some());

    let v2 = root_v(2, &[1, 2, 3]);
    let v2_bytes = signed(&v2, &[1, 2]);
    home.install_root(&v2_bytes, NOW).unwrap();
    assert_eq!(home.trust_state().unwrap().root_version, 2);
    // Installing the older one is a rollback.
    let e = home.install_root(&v1_bytes, NOW).unwrap_err();
    refused(&e, "rollback", ExitCode::Config);
    // So is putting it in place by hand: the state remembers version 2.
    fs::write(dir.path().join(ROOT_FILE), &v1_bytes).unwrap();
    let e = home.load_for_verification(NOW).unwrap_err();
    refused(&e, "rollback", ExitCode::Config);
    // Deleting the root does not fall back to trust.toml.
    fs::remove_file(dir.path().join(ROOT_FILE)).unwrap();
    let e = home.load_for_verification(NOW).unwrap_err();
    refused(&e, "invalid_trust_store", ExitCode::Config);
    home.install_root(&v2_bytes, NOW).unwrap();
    home.load_for_verification(NOW).unwrap();
    // Expiry is checked at every load.
    let e = home.load_for_verification(NOW + YEAR).unwrap_err();
    refused(&e, "trust_root_expired", ExitCode::Config);
}

#[test]
fn the_home_installs_a_revocation_list_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path());
    let l1 = list(1, NOW, vec![], vec![Digest::of(b"r")]);
    let b1 = signed_list(&l1, &[20, 21]);
    // No root, no list.
    let e = home.install_revocation(&b1, NOW).unwrap_err();
    refused(&e, "invalid_config", ExitCode::Config);
    home.install_root(&signed(&root_v(1, &[1, 2, 3]), &[1, 2]), NOW)
        .unwrap();
    assert!(home.install_revocation(&b1, NOW).unwrap().1);
    let store = home.load_for_verification(NOW).unwrap();
    assert!(store.revocation().unwrap().revokes_release(&Digest::of(b"r")));
    let l2 = list(2, NOW + 10, vec![], vec![]);
    let b2 = signed_list(&l2, &[20, 21]);
    home.install_revocation(&b2, NOW).unwrap();
    assert_eq!(home.trust_state().unwrap().revocation_version, 2);
    let e = home.install_revocation(&b1, NOW).unwrap_err();
    refused(&e, "rollback", ExitCode::Config);
    fs::write(dir.path().join(REVOCATION_FILE), &b1).unwrap();
    let e = home.load_for_verification(NOW).unwrap_err();
    refused(&e, "rollback", ExitCode::Config);
    fs::remove_file(dir.path().join(REVOCATION_FILE)).unwrap();
    let e = home.load_for_verification(NOW).unwrap_err();
    refused(&e, "invalid_trust_store", ExitCode::Config);
}

use std::fs;

/// Which quorum defines trusted time (spec/policy.md §1.7): the policy's
/// when it requires witnesses, else the root's when it does, else none.
#[test]
fn trusted_time_uses_the_policy_s_witness_quorum_else_the_root_s() {
    use crate::policy_interface::{NoPolicy, Policy, PolicyDecision, PolicyInput};
    use crate::verify::time_quorum;
    struct Q(usize, usize);
    impl Policy for Q {
        fn evaluate(&self, _: &PolicyInput<'_>) -> PolicyDecision {
            unreachable!("not asked")
        }
        fn log_quorum(&self) -> usize {
            self.0
        }
        fn witness_quorum(&self) -> usize {
            self.1
        }
    }
    let mut store = TrustStore::new();
    assert_eq!(time_quorum(&NoPolicy, &store), None);
    assert_eq!(time_quorum(&Q(2, 0), &store), None, "logs alone give no time");
    assert_eq!(time_quorum(&Q(1, 3), &store), Some((1, 3)));
    root_v(1, &[1, 2, 3]).apply_to(&mut store).unwrap();
    assert_eq!(time_quorum(&NoPolicy, &store), Some((2, 1)));
    assert_eq!(time_quorum(&Q(3, 0), &store), Some((2, 1)));
    assert_eq!(time_quorum(&Q(1, 3), &store), Some((1, 3)));
    // A root whose quorum asks no witness gives no time either.
    let mut store = TrustStore::new();
    TrustRoot::new(
        1,
        NOW + YEAR,
        keyset("root", &[1, 2, 3], 2),
        vec![log(10)],
        vec![],
        Quorum { logs: 1, witnesses: 0 },
        keyset("revocation", &[20, 21], 2),
    )
    .unwrap()
    .apply_to(&mut store)
    .unwrap();
    assert_eq!(time_quorum(&NoPolicy, &store), None);
}
