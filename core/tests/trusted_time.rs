//! Trusted time and key validity (spec/trust-store.md §7,
//! spec/transparency.md §12.3): a key's `valid_until` is judged at the
//! time the witness quorum vouches the release existed, when that is
//! earlier than now, so a release witnessed while its key was valid keeps
//! verifying after the key expires; without such a quorum (no proofs, or a
//! policy and root that require no witness) it is judged at now, as before.
//! `valid_from` and a local revocation are judged at now whatever the
//! witnesses saw. The precheck (`ct fetch`, before any layer) has no proofs:
//! it lets an expired key through provisionally, never a revoked one.

#![allow(clippy::unwrap_used)]

mod common;

use cerro_core::bundle::{self, Bundle, BundleContents, NoExtract};
use cerro_core::image::source::SourceImage;
use cerro_core::pack;
use cerro_core::policy_interface::{NoPolicy, Policy, PolicyDecision, PolicyInput};
use cerro_core::testing::one_file_image;
use cerro_core::tlog::{
    merkle, release_entry, Checkpoint, Ed25519Cosigner, Ed25519NoteSigner, NoteSigner as _, SignedCheckpoint, TlogProof,
};
use cerro_core::trust::{KeyEntry, SignerStatus, TimeNote, TrustLevel, TrustStore};
use cerro_core::verify::{self, Report};
use cerro_core::ExitCode;
use tempfile::TempDir;

use common::{key, MTIME};

const NOW: u64 = 1_750_000_000;
/// k1's `valid_until`: a day before now.
const EXPIRED: u64 = NOW - 86_400;
const ORIGIN: &str = "a.example/log";

/// A policy that only asks for witnesses (what `transparency` with
/// `logs`/`witnesses` says to the verifier) and allows what reaches it,
/// so the verifier's own tally is what these tests see.
struct Witnessed {
    logs: usize,
    witnesses: usize,
    /// What the policy was told: trusted time.
    seen: std::cell::Cell<Option<Option<u64>>>,
}

fn witnessed(logs: usize, witnesses: usize) -> Witnessed {
    Witnessed {
        logs,
        witnesses,
        seen: std::cell::Cell::new(None),
    }
}

impl Policy for Witnessed {
    fn evaluate(&self, input: &PolicyInput<'_>) -> PolicyDecision {
        self.seen.set(Some(input.existed_by));
        PolicyDecision {
            allowed: true,
            rule: "test".into(),
            reason: "allowed".into(),
        }
    }
    fn log_quorum(&self) -> usize {
        self.logs
    }
    fn witness_quorum(&self) -> usize {
        self.witnesses
    }
}

struct Fx {
    _dir: TempDir,
    image: SourceImage,
    bundle: Bundle,
    log: Ed25519NoteSigner,
    witnesses: Vec<Ed25519Cosigner>,
}

fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let (image, manifest) = one_file_image(
        &dir.path().join("layout"),
        ("hello.txt", b"hello\n"),
        "/hello.txt",
        "hello-1",
        ("hello", "1.0"),
    );
    let mut plain = Vec::new();
    pack::pack(&image, &manifest, &[key(1)], MTIME, &mut plain).unwrap();
    let bundle = bundle::read_bundle(&mut &plain[..], &mut NoExtract).unwrap();
    Fx {
        _dir: dir,
        image,
        bundle,
        log: Ed25519NoteSigner::from_seed(ORIGIN, &[11; 32]).unwrap(),
        witnesses: (1..=3u8)
            .map(|w| Ed25519Cosigner::from_seed(&format!("w{w}.example"), &[100 + w; 32]).unwrap())
            .collect(),
    }
}

impl Fx {
    /// The bundle with one proof from the log, its checkpoint cosigned by
    /// witness `i` at `t` for each `(i, t)`; no proof for `None`.
    fn with_proof(&self, cosigned: Option<&[(usize, u64)]>) -> Bundle {
        let proofs = cosigned.map(|cs| {
            let env = self.bundle.release().unwrap().envelope.to_bytes().unwrap();
            let mut leaves: Vec<merkle::Hash> = (0..6u8).map(|i| merkle::leaf_hash(&[i])).collect();
            leaves[3] = merkle::leaf_hash(&release_entry(&env));
            let cp = Checkpoint::new(ORIGIN, 6, merkle::root(&leaves)).unwrap();
            let mut signed = SignedCheckpoint::sign(cp, &self.log).unwrap();
            for (i, t) in cs {
                signed.cosign(&self.witnesses[*i], *t).unwrap();
            }
            TlogProof::new(3, merkle::inclusion_proof(&leaves, 3).unwrap(), signed).unwrap()
        });
        let mut out = Vec::new();
        bundle::write_bundle(
            &BundleContents {
                manifest_toml: self.bundle.manifest.to_canonical_toml().unwrap().into_bytes(),
                attestations: self
                    .bundle
                    .attestations
                    .iter()
                    .map(|a| (a.path.clone(), a.envelope.to_bytes().unwrap()))
                    .collect(),
                selinux: Vec::new(),
                transparency: proofs.into_iter().collect(),
                rebuilds: Vec::new(),
                image: &self.image,
                mtime: MTIME,
            },
            &mut out,
        )
        .unwrap();
        bundle::read_bundle(&mut &out[..], &mut NoExtract).unwrap()
    }

    /// k1 (the signer) trusted `full` with `edit` applied; the log and the
    /// three witnesses trusted.
    fn trust(&self, edit: impl FnOnce(&mut KeyEntry)) -> TrustStore {
        let mut t = TrustStore::new();
        let mut k = KeyEntry::new("k1", key(1).verifying_key(), TrustLevel::Full);
        edit(&mut k);
        t.insert(k).unwrap();
        t.set_log(ORIGIN, vec![self.log.verifier_key().clone()]).unwrap();
        for w in &self.witnesses {
            t.set_witness(w.verifier_key().clone()).unwrap();
        }
        t
    }
}

fn expired(k: &mut KeyEntry) {
    k.valid_until = Some(EXPIRED);
}

type Outcome = Result<Report, Box<(ExitCode, Report)>>;

fn run(b: Bundle, trust: &TrustStore, policy: &dyn Policy) -> Outcome {
    verify::verify(b, trust, policy, NOW)
        .map(|v| v.report().clone())
        .map_err(|r| Box::new((r.error.exit_code(), r.report)))
}

#[track_caller]
fn refused_3(r: Outcome, status: SignerStatus) {
    let Err(refused) = r else {
        panic!("verification should have refused");
    };
    let (code, report) = *refused;
    assert_eq!(code, ExitCode::SignerNotTrusted, "{}", report.message);
    assert_eq!(report.signers[0].status, status, "{}", report.message);
    assert_eq!(report.signers[0].time, None);
}

#[test]
fn an_expired_key_counts_only_for_a_release_witnessed_before_it_expired() {
    let fx = fixture();
    let trust = fx.trust(expired);
    let early = [(0, EXPIRED - 100), (1, EXPIRED - 50)];

    // No proof, with or without a witness requirement: judged at now.
    refused_3(run(fx.with_proof(None), &trust, &NoPolicy), SignerStatus::Expired);
    refused_3(
        run(fx.with_proof(None), &trust, &witnessed(1, 2)),
        SignerStatus::Expired,
    );
    // Witnessed early, but nothing requires witnesses (no policy, no
    // trust root): a log's own word carries no time.
    refused_3(
        run(fx.with_proof(Some(&early)), &trust, &NoPolicy),
        SignerStatus::Expired,
    );
    refused_3(
        run(fx.with_proof(Some(&early)), &trust, &witnessed(1, 0)),
        SignerStatus::Expired,
    );

    // Two witnesses required and both cosigned before valid_until: counted,
    // and the report says why. The policy sees the same trusted time.
    let p = witnessed(1, 2);
    let r = run(fx.with_proof(Some(&early)), &trust, &p).unwrap();
    assert!(r.valid);
    assert_eq!(r.signers[0].status, SignerStatus::Counted);
    let note = TimeNote::ExpiredAfterWitnessed {
        valid_until: EXPIRED,
        witnessed: EXPIRED - 50,
    };
    assert_eq!(r.signers[0].time, Some(note));
    assert_eq!(p.seen.get(), Some(Some(EXPIRED - 50)));
    let detail = &r.checks.iter().find(|c| c.check == "trusted signers").unwrap().detail;
    assert!(detail.contains(&format!("k1: {note}")), "{detail}");
    assert!(detail.contains("after the release was witnessed at"), "{detail}");
    assert!(r.checks.iter().any(|c| c.check == "trusted time"));
    let json = serde_json::to_value(&r.signers[0]).unwrap();
    assert_eq!(json["time"]["kind"], "expired_after_witnessed");
    // The bound is inclusive: witnessed at valid_until still counts.
    run(
        fx.with_proof(Some(&[(0, EXPIRED), (1, EXPIRED)])),
        &trust,
        &witnessed(1, 2),
    )
    .unwrap();

    // Cosigned after valid_until: refused.
    refused_3(
        run(
            fx.with_proof(Some(&[(0, EXPIRED + 1), (1, EXPIRED + 60)])),
            &trust,
            &witnessed(1, 2),
        ),
        SignerStatus::Expired,
    );
    // k of n: the second earliest cosignature is the time two witnesses
    // vouch for; one early witness alone does not make it early.
    refused_3(
        run(
            fx.with_proof(Some(&[(0, EXPIRED - 100), (1, EXPIRED + 60), (2, NOW)])),
            &trust,
            &witnessed(1, 2),
        ),
        SignerStatus::Expired,
    );
    // Fewer cosignatures than required: no trusted time at all.
    refused_3(
        run(fx.with_proof(Some(&[(0, EXPIRED - 100)])), &trust, &witnessed(1, 2)),
        SignerStatus::Expired,
    );
    // More logs required than prove it: no trusted time either.
    refused_3(
        run(fx.with_proof(Some(&early)), &trust, &witnessed(2, 2)),
        SignerStatus::Expired,
    );
}

#[test]
fn trusted_time_does_not_save_a_key_not_yet_valid_or_revoked() {
    let fx = fixture();
    let early = [(0, NOW - 1000), (1, NOW - 900)];
    let p = witnessed(1, 2);
    // Not yet valid: judged at now, as before (trusted time is an upper
    // bound on when the release was made, never a lower one, so it cannot
    // say a release came after valid_from; only now can).
    let trust = fx.trust(|k| k.valid_from = Some(NOW + 10));
    refused_3(run(fx.with_proof(Some(&early)), &trust, &p), SignerStatus::NotYetValid);
    let trust = fx.trust(|k| k.valid_from = Some(NOW - 950));
    let r = run(fx.with_proof(Some(&early)), &trust, &p).unwrap();
    assert_eq!(
        (r.signers[0].status.clone(), r.signers[0].time),
        (SignerStatus::Counted, None)
    );
    // A local revocation refuses always, whenever it happened.
    let trust = fx.trust(|k| k.revoked_at = Some(NOW - 10));
    refused_3(run(fx.with_proof(Some(&early)), &trust, &p), SignerStatus::Revoked);
}

#[test]
fn the_precheck_defers_expiry_to_the_full_verification_and_nothing_else() {
    let fx = fixture();
    let env = fx.bundle.release().unwrap().envelope.to_bytes().unwrap();
    let image = fx.bundle.image.digest;
    let check =
        |edit: fn(&mut KeyEntry)| cerro_core::precheck::release_signed(Some(&env), &image, &fx.trust(edit), NOW);
    assert_eq!(check(expired).unwrap(), 1);
    for edit in [
        (|k: &mut KeyEntry| k.revoked_at = Some(NOW - 10)) as fn(&mut KeyEntry),
        |k| k.valid_from = Some(NOW + 10),
    ] {
        assert_eq!(check(edit).unwrap_err().exit_code(), ExitCode::SignerNotTrusted);
    }
}
