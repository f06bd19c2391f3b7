//! Every rule allowing and refusing, on a real packed bundle; thresholds and
//! threshold groups (k-1 refused, k accepted, duplicates, revoked, expired
//! and outside keys not counted); the fixed order; and one run end to end
//! through `cerro_core::verify::verify`.
//!
//! Most tests call `Policy::evaluate` directly with chosen signer
//! fingerprints and attestations, which is what `verify` hands the policy
//! once signatures have been checked; the end-to-end test signs for real.

use cerro_core::bundle::{self, Attestation, Bundle, NoExtract};
use cerro_core::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use cerro_core::image::source::SourceImage;
use cerro_core::manifest::PackageManifest;
use cerro_core::policy_interface::{Policy, PolicyDecision, PolicyInput};
use cerro_core::statement::ReleaseStatement;
use cerro_core::testing::one_file_image;
use cerro_core::timestamp::format_rfc3339;
use cerro_core::trust::{Fingerprint, KeyEntry, ThresholdGroup, TrustLevel, TrustStore};
use cerro_core::{jcs, pack, verify, Error, ExitCode};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

use crate::{DeploymentPolicy, CYCLONEDX_BOM, SLSA_PROVENANCE_V1, SPDX_DOCUMENT};

/// The clock of every decision: 2025-06-15T15:06:40Z.
const NOW: u64 = 1_750_000_000;
const DAY: u64 = 86_400;
/// The build time of `World::dated`: the `finishedOn` of its provenance,
/// ten days before NOW.
const BUILT: u64 = NOW - 10 * DAY;
/// The packed bundle's tar mtime (SOURCE_DATE_EPOCH): one day before NOW.
/// Unsigned, so never a build time; recent, so that using it would show.
const MTIME: u64 = NOW - DAY;
/// The layout's org.opencontainers.image.ref.name.
const REF: &str = "hello-1.0";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A one-layer image packed as package `hello`, and a trust store with keys
/// k1..k6 (seeds 1..6, all `full`) and group `release` = k1..k5, 3 of 5.
struct World {
    /// Keeps the layout alive (the end-to-end test re-packs from it).
    _dir: tempfile::TempDir,
    image: SourceImage,
    manifest: PackageManifest,
    /// The packed bundle: no attestation but the release one, mtime MTIME,
    /// hence no build time.
    bundle: Bundle,
    /// `bundle` plus a provenance attestation with finishedOn BUILT.
    dated: Bundle,
    trust: TrustStore,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let (image, manifest) = one_file_image(
        &dir.path().join("layout"),
        ("hello.txt", b"hello\n"),
        "/hello.txt",
        REF,
        ("hello", "1.0"),
    );
    let mut out = Vec::new();
    pack::pack(&image, &manifest, &[key(1)], MTIME, &mut out).unwrap();
    let bundle = bundle::read_bundle(&mut &out[..], &mut NoExtract).unwrap();
    let mut trust = TrustStore::new();
    for i in 1..=6u8 {
        trust
            .insert(KeyEntry::new(
                &format!("k{i}"),
                key(i).verifying_key(),
                TrustLevel::Full,
            ))
            .unwrap();
    }
    let members = (1..=5).map(|i| format!("k{i}")).collect();
    trust
        .set_group(ThresholdGroup::new("release", members, 3).unwrap())
        .unwrap();
    let dated = with_provenance(&bundle, Some(&format_rfc3339(BUILT)), &[]);
    World {
        _dir: dir,
        image,
        manifest,
        bundle,
        dated,
        trust,
    }
}

impl World {
    /// Fingerprints of `ids`; an id the store lacks is an unknown key.
    fn fps(&self, ids: &[&str]) -> Vec<Fingerprint> {
        ids.iter()
            .map(|id| match self.trust.get(id) {
                Some(k) => k.fingerprint,
                None => Fingerprint::of(&key(99).verifying_key()),
            })
            .collect()
    }

    fn decide_on(&self, bundle: &Bundle, policy: &str, signers: &[&str]) -> PolicyDecision {
        self.decide_logged(bundle, policy, signers, &[])
    }

    /// [`World::decide_on`] with these verified transparency proofs.
    fn decide_logged(
        &self,
        bundle: &Bundle,
        policy: &str,
        signers: &[&str],
        logs: &[cerro_core::tlog::VerifiedTlogProof],
    ) -> PolicyDecision {
        let p = DeploymentPolicy::from_json("test", policy.as_bytes()).unwrap();
        let release = bundle.release().unwrap();
        let statement = ReleaseStatement::parse_release(&release.path, &release.envelope.payload).unwrap();
        let fps = self.fps(signers);
        p.evaluate(&PolicyInput {
            bundle,
            statement: &statement,
            signers: &fps,
            trust: &self.trust,
            now: NOW,
            logs,
            existed_by: cerro_core::verify::trusted_time(logs, &p, &self.trust),
            rebuilders: &[],
            rebuild_failures: &[],
        })
    }

    fn decide(&self, policy: &str, signers: &[&str]) -> PolicyDecision {
        self.decide_on(&self.bundle, policy, signers)
    }

    fn edit_key(&mut self, id: &str, change: impl FnOnce(&mut KeyEntry)) {
        change(self.trust.get_mut(id).unwrap());
    }
}

#[track_caller]
fn allows(d: &PolicyDecision, rule: &str) {
    assert!(d.allowed, "expected allow by {rule}, got {d:?}");
    assert_eq!(d.rule, rule, "{d:?}");
}

#[track_caller]
fn refuses(d: &PolicyDecision, rule: &str, needle: &str) {
    assert!(!d.allowed, "expected refusal by {rule}, got {d:?}");
    assert_eq!(d.rule, rule, "{d:?}");
    assert!(d.reason.contains(needle), "{needle:?} not in reason: {}", d.reason);
}

/// An in-toto statement about `bundle`'s image.
fn statement_about(bundle: &Bundle, predicate_type: &str, predicate: Value) -> Vec<u8> {
    jcs::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "hello", "digest": {"sha256": bundle.image.digest.hex()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    }))
    .unwrap()
}

/// `bundle` with one more (unsigned) attestation: what the policy sees
/// after `verify` has checked it.
fn with(bundle: &Bundle, name: &str, predicate_type: &str, predicate: Value) -> Bundle {
    let mut b = bundle.clone();
    b.attestations.push(Attestation {
        path: format!("attestations/{name}.dsse.json"),
        envelope: Envelope::new(IN_TOTO_PAYLOAD_TYPE, statement_about(bundle, predicate_type, predicate)),
    });
    b
}

/// A SLSA provenance v1 predicate.
fn provenance(finished_on: Option<&str>, uris: &[&str]) -> Value {
    let deps: Vec<Value> = uris.iter().map(|u| json!({"uri": u})).collect();
    let metadata = match finished_on {
        Some(t) => json!({"finishedOn": t}),
        None => json!({}),
    };
    json!({
        "buildDefinition": {
            "buildType": "https://example.org/build/v1",
            "externalParameters": {},
            "resolvedDependencies": deps,
        },
        "runDetails": {"builder": {"id": "https://example.org/builder"}, "metadata": metadata},
    })
}

fn with_provenance(bundle: &Bundle, finished_on: Option<&str>, uris: &[&str]) -> Bundle {
    with(bundle, "provenance", SLSA_PROVENANCE_V1, provenance(finished_on, uris))
}

const ANY: &str = r#""signers":{"allowed":[{"key_id":"*"}]}"#;

fn doc(parts: &str) -> String {
    format!(r#"{{"version":"1",{parts}}}"#)
}

// ---------------------------------------------------------------------------
// default_action
// ---------------------------------------------------------------------------

#[test]
fn default_action_decides_without_signer_rules() {
    let w = world();
    refuses(
        &w.decide(r#"{"version":"1"}"#, &["k1"]),
        "default_action",
        "no rule applies; default_action is deny",
    );
    allows(
        &w.decide(&doc(r#""default_action":"allow""#), &["k1"]),
        "default_action",
    );
    // Other rules still apply first, and are named when they pass.
    let d = w.decide(
        &doc(r#""default_action":"allow","registries":{"blocked":["evil/*"]}"#),
        &["k1"],
    );
    allows(&d, "default_action");
    assert!(d.reason.contains("passed registries.blocked"), "{d:?}");
    // With signers present, default_action is not consulted.
    allows(
        &w.decide(&doc(&format!(r#""default_action":"deny",{ANY}"#)), &["k1"]),
        "signers.threshold",
    );
}

// ---------------------------------------------------------------------------
// signers: threshold, allowed, denied, min_trust, required
// ---------------------------------------------------------------------------

#[test]
fn threshold_counts_each_valid_key_once() {
    let mut w = world();
    let two = doc(r#""signers":{"allowed":[{"key_id":"*"}],"threshold":2}"#);
    refuses(&w.decide(&two, &["k1"]), "signers.threshold", "1 of 2 required");
    allows(&w.decide(&two, &["k1", "k2"]), "signers.threshold");
    refuses(
        &w.decide(&two, &["k1", "k1"]),
        "signers.threshold",
        "k1: duplicate signature",
    );
    refuses(
        &w.decide(&two, &["k1", "nobody"]),
        "signers.threshold",
        "not in the trust store",
    );
    w.edit_key("k2", |k| k.revoked_at = Some(NOW - DAY));
    refuses(&w.decide(&two, &["k1", "k2"]), "signers.threshold", "k2: revoked");
    w.edit_key("k3", |k| k.valid_until = Some(NOW - 1));
    refuses(&w.decide(&two, &["k1", "k3"]), "signers.threshold", "k3: expired");
    w.edit_key("k4", |k| k.valid_from = Some(NOW + 1));
    refuses(&w.decide(&two, &["k1", "k4"]), "signers.threshold", "k4: not yet valid");
    // The window is inclusive at both ends.
    w.edit_key("k3", |k| k.valid_until = Some(NOW));
    allows(&w.decide(&two, &["k1", "k3"]), "signers.threshold");
}

#[test]
fn min_trust_sets_the_counting_level() {
    let mut w = world();
    w.edit_key("k2", |k| k.level = TrustLevel::Marginal);
    let full = doc(r#""signers":{"allowed":[{"key_id":"*"}],"threshold":2}"#);
    refuses(
        &w.decide(&full, &["k1", "k2"]),
        "signers.threshold",
        "k2: trust level marginal",
    );
    let marginal = doc(r#""signers":{"allowed":[{"key_id":"*"}],"threshold":2,"min_trust":"marginal"}"#);
    allows(&w.decide(&marginal, &["k1", "k2"]), "signers.threshold");
}

#[test]
fn allowed_restricts_which_keys_count() {
    let w = world();
    let fp2 = w.trust.get("k2").unwrap().fingerprint.to_hex();
    let p = doc(&format!(
        r#""signers":{{"allowed":[{{"key_id":"k1"}},{{"fingerprint":"{fp2}"}}],"threshold":2}}"#
    ));
    allows(&w.decide(&p, &["k1", "k2"]), "signers.threshold");
    refuses(
        &w.decide(&p, &["k1", "k3"]),
        "signers.threshold",
        "k3: excluded by signers.allowed (no entry matches)",
    );
}

#[test]
fn denied_keys_never_count() {
    let w = world();
    let p = doc(r#""signers":{"allowed":[{"key_id":"*"}],"denied":[{"key_id":"k?"},{"key_id":"x"}]}"#);
    refuses(
        &w.decide(&p, &["k1"]),
        "signers.threshold",
        "k1: excluded by signers.denied[0]",
    );
    let p = doc(r#""signers":{"allowed":[{"key_id":"*"}],"denied":[{"key_id":"x"},{"key_id":"k2"}]}"#);
    allows(&w.decide(&p, &["k1", "k2"]), "signers.threshold");
    refuses(
        &w.decide(&p, &["k2"]),
        "signers.threshold",
        "excluded by signers.denied[1]",
    );
}

#[test]
fn dated_denials_use_the_build_time() {
    let w = world();
    let b = &w.dated;
    let at = |t: u64| format_rfc3339(t);
    let p = |field: &str, t: u64| {
        doc(&format!(
            r#""signers":{{"allowed":[{{"key_id":"*"}}],"denied":[{{"key_id":"k1","{field}":"{}"}}]}}"#,
            at(t)
        ))
    };
    // Built (provenance finishedOn) ten days ago.
    refuses(
        &w.decide_on(b, &p("after", BUILT - DAY), &["k1"]),
        "signers.threshold",
        "signers.denied[0]",
    );
    refuses(
        &w.decide_on(b, &p("after", BUILT), &["k1"]),
        "signers.threshold",
        "signers.denied[0]",
    );
    allows(&w.decide_on(b, &p("after", BUILT + 1), &["k1"]), "signers.threshold");
    refuses(
        &w.decide_on(b, &p("before", BUILT + 1), &["k1"]),
        "signers.threshold",
        "signers.denied[0]",
    );
    allows(&w.decide_on(b, &p("before", BUILT), &["k1"]), "signers.threshold");
    // Both: denied only inside [after, before).
    let window = |a: u64, b: u64| {
        doc(&format!(
            r#""signers":{{"allowed":[{{"key_id":"*"}}],"denied":[{{"key_id":"k1","after":"{}","before":"{}"}}]}}"#,
            at(a),
            at(b)
        ))
    };
    refuses(
        &w.decide_on(b, &window(BUILT - DAY, BUILT + DAY), &["k1"]),
        "signers.threshold",
        "denied[0]",
    );
    allows(
        &w.decide_on(b, &window(BUILT + 1, BUILT + DAY), &["k1"]),
        "signers.threshold",
    );
    // Another finishedOn, another decision.
    let later = with_provenance(&w.bundle, Some(&at(BUILT + 2 * DAY)), &[]);
    allows(
        &w.decide_on(&later, &p("before", BUILT + DAY), &["k1"]),
        "signers.threshold",
    );
    // No build time (no provenance; the mtime does not count): a dated
    // entry that names a signer cannot be decided.
    refuses(
        &w.decide(&p("after", BUILT), &["k1", "k2"]),
        "signers.denied[0]",
        "the bundle has no build time",
    );
    // ... but one that names no signer is irrelevant.
    allows(&w.decide(&p("after", BUILT), &["k2"]), "signers.threshold");
}

#[test]
fn required_signers_must_be_counted() {
    let mut w = world();
    let p = doc(r#""signers":{"allowed":[{"key_id":"k*"},{"key_id":"k2","required":true}]}"#);
    allows(&w.decide(&p, &["k1", "k2"]), "signers.threshold");
    refuses(
        &w.decide(&p, &["k1", "k3"]),
        "signers.allowed[1].required",
        "no counted signer matches key id \"k2\"",
    );
    // A required key that signed but does not count (revoked) is missing.
    w.edit_key("k2", |k| k.revoked_at = Some(NOW));
    refuses(
        &w.decide(&p, &["k1", "k2"]),
        "signers.allowed[1].required",
        "counted: k1",
    );
}

// ---------------------------------------------------------------------------
// Threshold groups (signers.threshold_from)
// ---------------------------------------------------------------------------

#[test]
fn threshold_from_a_three_of_five_group() {
    let mut w = world();
    let p = doc(r#""signers":{"threshold_from":"release"}"#);
    refuses(
        &w.decide(&p, &["k1", "k2"]),
        "signers.threshold_from",
        "2 of 3 required distinct signer(s) of group release (3 of 5)",
    );
    allows(&w.decide(&p, &["k1", "k2", "k3"]), "signers.threshold_from");
    allows(&w.decide(&p, &["k1", "k2", "k3", "k4", "k5"]), "signers.threshold_from");
    // A key outside the group does not count, however trusted.
    refuses(
        &w.decide(&p, &["k1", "k2", "k6"]),
        "signers.threshold_from",
        "k6: excluded by signers.threshold_from (not in group release)",
    );
    // Duplicates count once.
    refuses(
        &w.decide(&p, &["k1", "k2", "k2", "k1"]),
        "signers.threshold_from",
        "duplicate",
    );
    // Revoked and expired members do not count.
    w.edit_key("k3", |k| k.revoked_at = Some(NOW));
    refuses(
        &w.decide(&p, &["k1", "k2", "k3"]),
        "signers.threshold_from",
        "k3: revoked",
    );
    w.edit_key("k4", |k| k.valid_until = Some(NOW - DAY));
    refuses(
        &w.decide(&p, &["k1", "k2", "k4"]),
        "signers.threshold_from",
        "k4: expired",
    );
    allows(&w.decide(&p, &["k1", "k2", "k5"]), "signers.threshold_from");
    // allowed and denied narrow the group further.
    let p = doc(r#""signers":{"threshold_from":"release","allowed":[{"key_id":"k*"}],"denied":[{"key_id":"k5"}]}"#);
    refuses(
        &w.decide(&p, &["k1", "k2", "k5"]),
        "signers.threshold_from",
        "k5: excluded by signers.denied[0]",
    );
}

#[test]
fn an_unknown_group_refuses() {
    let w = world();
    let p = doc(r#""signers":{"threshold_from":"ops"}"#);
    refuses(
        &w.decide(&p, &["k1", "k2", "k3"]),
        "signers.threshold_from",
        "group \"ops\" is not defined in the trust store",
    );
}

// ---------------------------------------------------------------------------
// registries
// ---------------------------------------------------------------------------

#[test]
fn registries_match_the_bundle_reference() {
    let w = world();
    let p = |r: &str| doc(&format!(r#""registries":{r},{ANY}"#));
    allows(
        &w.decide(&p(r#"{"allowed":["hello-*"]}"#), &["k1"]),
        "signers.threshold",
    );
    refuses(
        &w.decide(&p(r#"{"allowed":["registry.example.org/*"]}"#), &["k1"]),
        "registries.allowed",
        "\"hello-1.0\" (the bundle's org.opencontainers.image.ref.name) matches no allowed pattern",
    );
    refuses(
        &w.decide(&p(r#"{"blocked":["hello-1.?"]}"#), &["k1"]),
        "registries.blocked",
        "matches blocked pattern \"hello-1.?\"",
    );
    allows(
        &w.decide(&p(r#"{"blocked":["other/*"]}"#), &["k1"]),
        "signers.threshold",
    );
    // Blocked wins over allowed.
    refuses(
        &w.decide(&p(r#"{"allowed":["*"],"blocked":["hello-*"]}"#), &["k1"]),
        "registries.blocked",
        "hello-1.0",
    );
    // No reference at all: allowed fails closed, blocked has nothing to match.
    let mut b = w.bundle.clone();
    b.reference = None;
    refuses(
        &w.decide_on(&b, &p(r#"{"allowed":["*"]}"#), &["k1"]),
        "registries.allowed",
        "names no image reference",
    );
    allows(
        &w.decide_on(&b, &p(r#"{"blocked":["*"]}"#), &["k1"]),
        "signers.threshold",
    );
}

#[test]
fn registries_prefer_the_provenance_references() {
    let w = world();
    let p = |r: &str| doc(&format!(r#""registries":{r},{ANY}"#));
    let b = with_provenance(
        &w.bundle,
        None,
        &[
            "docker://registry.example.org/team/hello:1.0",
            "git+https://example.org/hello.git",
            "oci://registry.example.org/base/debian:12",
        ],
    );
    allows(
        &w.decide_on(&b, &p(r#"{"allowed":["registry.example.org/*"]}"#), &["k1"]),
        "signers.threshold",
    );
    // The bundle's own ref.name is not used when the provenance names images.
    refuses(
        &w.decide_on(&b, &p(r#"{"allowed":["hello-*"]}"#), &["k1"]),
        "registries.allowed",
        "\"registry.example.org/team/hello:1.0\" (from the provenance's resolvedDependencies)",
    );
    // Every named image must be allowed, and any may be blocked.
    refuses(
        &w.decide_on(&b, &p(r#"{"allowed":["registry.example.org/team/*"]}"#), &["k1"]),
        "registries.allowed",
        "registry.example.org/base/debian:12",
    );
    refuses(
        &w.decide_on(&b, &p(r#"{"blocked":["*/base/*"]}"#), &["k1"]),
        "registries.blocked",
        "registry.example.org/base/debian:12",
    );
}

// ---------------------------------------------------------------------------
// require_attestations
// ---------------------------------------------------------------------------

#[test]
fn required_attestations() {
    let w = world();
    let p = |r: &str| doc(&format!(r#""require_attestations":{r},{ANY}"#));
    let prov = p(r#"{"provenance":true}"#);
    refuses(
        &w.decide(&prov, &["k1"]),
        "require_attestations.provenance",
        SLSA_PROVENANCE_V1,
    );
    let with_prov = with_provenance(&w.bundle, None, &[]);
    allows(&w.decide_on(&with_prov, &prov, &["k1"]), "signers.threshold");
    // Another predicate type is not provenance.
    let other = with(&w.bundle, "other", "https://slsa.dev/provenance/v0.2", json!({}));
    refuses(
        &w.decide_on(&other, &prov, &["k1"]),
        "require_attestations.provenance",
        "no attestation",
    );

    let sbom = p(r#"{"sbom":true,"provenance":false}"#);
    refuses(
        &w.decide(&sbom, &["k1"]),
        "require_attestations.sbom",
        "no SBOM attestation",
    );
    refuses(
        &w.decide_on(&with_prov, &sbom, &["k1"]),
        "require_attestations.sbom",
        "no SBOM",
    );
    for t in [SPDX_DOCUMENT, CYCLONEDX_BOM] {
        let b = with(&w.bundle, "sbom", t, json!({}));
        allows(&w.decide_on(&b, &sbom, &["k1"]), "signers.threshold");
    }

    // The old boolean means the transparency section with its defaults.
    refuses(
        &w.decide_on(&with_prov, &p(r#"{"transparency_log":true}"#), &["k1"]),
        "transparency.logs",
        "0 of 2 required distinct trusted transparency logs",
    );
    allows(
        &w.decide(&p(r#"{"transparency_log":false}"#), &["k1"]),
        "signers.threshold",
    );
}

// ---------------------------------------------------------------------------
// transparency

/// A proof that `entry` is the one leaf of a log named `origin`, verified
/// (the only way to get a `VerifiedTlogProof`).
fn logged(origin: &str, seed: u8, entry: &[u8]) -> cerro_core::tlog::VerifiedTlogProof {
    logged_cosigned(origin, seed, entry, &[])
}

/// [`logged`], its checkpoint cosigned by the witnesses `w<seed>` (all of
/// them trusted).
fn logged_cosigned(origin: &str, seed: u8, entry: &[u8], witnesses: &[u8]) -> cerro_core::tlog::VerifiedTlogProof {
    let at: Vec<(u8, u64)> = witnesses
        .iter()
        .enumerate()
        .map(|(i, w)| (*w, 1_700_000_000 + i as u64))
        .collect();
    logged_at(origin, seed, entry, &at)
}

/// [`logged`], cosigned by the witnesses `w<seed>` at the times given.
fn logged_at(origin: &str, seed: u8, entry: &[u8], witnesses: &[(u8, u64)]) -> cerro_core::tlog::VerifiedTlogProof {
    use cerro_core::tlog::{
        merkle, Checkpoint, Ed25519Cosigner, Ed25519NoteSigner, NoteSigner, SignedCheckpoint, TlogProof,
    };
    use cerro_core::tlog::{TlogTrust, TrustedLog};
    let signer = Ed25519NoteSigner::from_seed(origin, &[seed; 32]).unwrap();
    let cp = Checkpoint::new(origin, 1, merkle::leaf_hash(entry)).unwrap();
    let mut signed = SignedCheckpoint::sign(cp, &signer).unwrap();
    let cosigners: Vec<Ed25519Cosigner> = witnesses
        .iter()
        .map(|(w, _)| Ed25519Cosigner::from_seed(&format!("w{w}.example"), &[100 + w; 32]).unwrap())
        .collect();
    for (c, (_, t)) in cosigners.iter().zip(witnesses) {
        signed.cosign(c, *t).unwrap();
    }
    let proof = TlogProof::new(0, vec![], signed).unwrap();
    let trust = TlogTrust::counting(
        vec![TrustedLog::new(origin, vec![signer.verifier_key().clone()]).unwrap()],
        cosigners.iter().map(|c| c.verifier_key().clone()).collect(),
    )
    .unwrap();
    proof.verify(entry, &trust).unwrap()
}

#[test]
fn transparency_counts_distinct_logs() {
    let w = world();
    let p = |t: &str| doc(&format!(r#""transparency":{t},{ANY}"#));
    let e = b"entry";
    let (a, b, c) = (
        logged("a.example/log", 1, e),
        logged("b.example/log", 2, e),
        logged("c.example/log", 3, e),
    );
    let two = p("{}");
    refuses(
        &w.decide_logged(&w.bundle, &two, &["k1"], std::slice::from_ref(&a)),
        "transparency.logs",
        "1 of 2 required distinct trusted transparency logs",
    );
    // The same log twice is one log.
    refuses(
        &w.decide_logged(&w.bundle, &two, &["k1"], &[a.clone(), a.clone()]),
        "transparency.logs",
        "1 of 2",
    );
    allows(
        &w.decide_logged(&w.bundle, &two, &["k1"], &[a.clone(), b.clone()]),
        "signers.threshold",
    );
    let three = p(r#"{"logs":3}"#);
    refuses(
        &w.decide_logged(&w.bundle, &three, &["k1"], &[a.clone(), b.clone()]),
        "transparency.logs",
        "2 of 3",
    );
    allows(
        &w.decide_logged(&w.bundle, &three, &["k1"], &[a, b, c]),
        "signers.threshold",
    );
    for bad in [
        p(r#"{"logs":0}"#),
        p(r#"{"logs":2,"witnesses":-1}"#),
        p(r#"{"logs":2,"witness":1}"#),
        doc(&format!(
            r#""transparency":{{}},"require_attestations":{{"transparency_log":true}},{ANY}"#
        )),
    ] {
        assert!(DeploymentPolicy::from_json("t", bad.as_bytes()).is_err(), "{bad}");
    }
    // The boolean is normalised into the section.
    let old = DeploymentPolicy::from_json(
        "t",
        doc(&format!(r#""require_attestations":{{"transparency_log":true}},{ANY}"#)).as_bytes(),
    )
    .unwrap();
    assert_eq!(old.transparency().map(|t| t.logs), Some(2));
    let shown = old.to_json_pretty();
    assert!(!shown.contains("transparency_log"), "{shown}");
    assert_eq!(DeploymentPolicy::from_json("t", shown.as_bytes()).unwrap(), old);
}

/// With `witnesses: k`, a log counts only when k distinct trusted witnesses
/// cosigned its checkpoint; the refusal names the logs that fell short.
#[test]
fn transparency_counts_only_logs_whose_checkpoint_enough_witnesses_cosigned() {
    let w = world();
    let p = |t: &str| doc(&format!(r#""transparency":{t},{ANY}"#));
    let e = b"entry";
    let a2 = logged_cosigned("a.example/log", 1, e, &[1, 2]);
    let b1 = logged_cosigned("b.example/log", 2, e, &[3]);
    let b3 = logged_cosigned("b.example/log", 2, e, &[1, 2, 3]);
    let c0 = logged("c.example/log", 3, e);
    assert_eq!(a2.witnesses().len(), 2);
    let two_of = p(r#"{"logs":2,"witnesses":2}"#);
    let d = w.decide_logged(&w.bundle, &two_of, &["k1"], &[a2.clone(), b1.clone(), c0.clone()]);
    refuses(
        &d,
        "transparency.logs",
        "1 of 2 required distinct trusted transparency logs",
    );
    assert!(d.reason.contains("b.example/log (1 of 2)"), "{d:?}");
    assert!(d.reason.contains("c.example/log (0 of 2)"), "{d:?}");
    allows(
        &w.decide_logged(&w.bundle, &two_of, &["k1"], &[a2.clone(), b3.clone()]),
        "signers.threshold",
    );
    // Without the witnesses rule, cosignatures are not needed.
    allows(
        &w.decide_logged(&w.bundle, &p(r#"{"logs":2}"#), &["k1"], &[a2, c0]),
        "signers.threshold",
    );
    let three_of = p(r#"{"logs":1,"witnesses":3}"#);
    allows(
        &w.decide_logged(&w.bundle, &three_of, &["k1"], &[b3]),
        "signers.threshold",
    );
    refuses(
        &w.decide_logged(&w.bundle, &three_of, &["k1"], &[b1]),
        "transparency.logs",
        "0 of 1",
    );
}

/// Trusted time: with a witness requirement, a key denied after a date
/// cannot date its build before it (the witnesses saw the release later),
/// and a release witnessed long ago is old whatever build time it claims.
#[test]
fn witnessed_time_decides_dated_denials_and_bounds_the_age() {
    let w = world();
    let b = &w.dated; // its signed build time: BUILT, ten days ago
    let e = b"entry";
    let at = |t: u64| format_rfc3339(t);
    let policy = |extra: &str| {
        doc(&format!(
            r#""transparency":{{"logs":1,"witnesses":2}},"signers":{{"allowed":[{{"key_id":"*"}}]{extra}}}"#
        ))
    };
    let denied_after = |a: u64| policy(&format!(r#","denied":[{{"key_id":"k1","after":"{}"}}]"#, at(a)));
    // k1 is denied for builds from nine days ago. Its bundle says it was
    // built ten days ago; two witnesses saw it only yesterday.
    let late = logged_at("a.example/log", 1, e, &[(1, NOW - DAY), (2, NOW - DAY + 5)]);
    refuses(
        &w.decide_logged(b, &denied_after(BUILT + DAY), &["k1"], std::slice::from_ref(&late)),
        "signers.threshold",
        "signers.denied[0]",
    );
    // On its own word (no witness requirement), it would have counted.
    allows(
        &w.decide_on(
            b,
            &doc(&format!(
                r#""signers":{{"allowed":[{{"key_id":"*"}}],"denied":[{{"key_id":"k1","after":"{}"}}]}}"#,
                at(BUILT + DAY)
            )),
            &["k1"],
        ),
        "signers.threshold",
    );
    // Witnessed before the date: it counts.
    let early = logged_at("a.example/log", 1, e, &[(1, BUILT + 10), (2, BUILT + 20)]);
    allows(
        &w.decide_logged(b, &denied_after(BUILT + DAY), &["k1"], std::slice::from_ref(&early)),
        "signers.threshold",
    );
    // k of n: the second earliest cosignature is the time two witnesses
    // vouch for; one early witness alone does not make it early.
    let mixed = logged_at("a.example/log", 1, e, &[(1, BUILT + 10), (2, NOW - DAY)]);
    refuses(
        &w.decide_logged(b, &denied_after(BUILT + DAY), &["k1"], std::slice::from_ref(&mixed)),
        "signers.threshold",
        "signers.denied[0]",
    );
    // Age: twenty days allowed. Built ten days ago by its word, witnessed
    // thirty days ago: too old. Witnessed yesterday: fine.
    let aged = |proof: &cerro_core::tlog::VerifiedTlogProof| {
        let p = doc(
            r#""transparency":{"logs":1,"witnesses":2},"time":{"max_age_days":20},"signers":{"allowed":[{"key_id":"*"}]}"#,
        );
        w.decide_logged(b, &p, &["k1"], std::slice::from_ref(proof))
    };
    let old = logged_at("a.example/log", 1, e, &[(1, NOW - 30 * DAY - 1), (2, NOW - 30 * DAY)]);
    refuses(&aged(&old), "time.max_age_days", "witnessed ");
    refuses(&aged(&old), "time.max_age_days", "30 day(s) ago");
    allows(&aged(&late), "signers.threshold");
}

// ---------------------------------------------------------------------------
// pin
// ---------------------------------------------------------------------------

#[test]
fn pins_fix_the_digest_and_signers() {
    let w = world();
    let digest = w.bundle.image.digest.to_string();
    let other = format!("sha256:{}", "ab".repeat(32));
    let p = |pin: &str| doc(&format!(r#""pin":{pin},{ANY}"#));
    allows(
        &w.decide(&p(&format!(r#"{{"hello":{{"digest":"{digest}"}}}}"#)), &["k1"]),
        "signers.threshold",
    );
    refuses(
        &w.decide(&p(&format!(r#"{{"hello":{{"digest":"{other}"}}}}"#)), &["k1"]),
        "pin.hello.digest",
        &format!("hello is pinned to image {other} but this bundle's image is {digest}"),
    );
    // A pin on another package does not apply.
    allows(
        &w.decide(&p(&format!(r#"{{"goodbye":{{"digest":"{other}"}}}}"#)), &["k1"]),
        "signers.threshold",
    );
    // Pinned signers, by id or fingerprint, must be among the counted keys.
    let fp2 = w.trust.get("k2").unwrap().fingerprint.to_hex();
    let signed = p(&format!(
        r#"{{"hello":{{"digest":"{digest}","signers":["k1","{fp2}"]}}}}"#
    ));
    let d = w.decide(&signed, &["k1", "k2"]);
    allows(&d, "signers.threshold");
    assert!(d.reason.contains("passed pin.hello.digest, pin.hello.signers"), "{d:?}");
    refuses(
        &w.decide(&signed, &["k1", "k3"]),
        "pin.hello.signers",
        &format!("must be signed by {fp2}, which is not among the counted signers (k1, k3)"),
    );
    // Without a signers section the baseline count (full and above) is used.
    let baseline = doc(&format!(
        r#""default_action":"allow","pin":{{"hello":{{"digest":"{digest}","signers":["k2"]}}}}"#
    ));
    allows(&w.decide(&baseline, &["k1", "k2"]), "default_action");
    refuses(&w.decide(&baseline, &["k1"]), "pin.hello.signers", "k2");
}

// ---------------------------------------------------------------------------
// time
// ---------------------------------------------------------------------------

#[test]
fn max_age_uses_the_build_time() {
    let w = world();
    let p = |days: u64| doc(&format!(r#""time":{{"max_age_days":{days}}},{ANY}"#));
    allows(&w.decide_on(&w.dated, &p(10), &["k1"]), "signers.threshold");
    refuses(
        &w.decide_on(&w.dated, &p(9), &["k1"]),
        "time.max_age_days",
        "10 day(s) ago; at most 9 allowed",
    );
    let fresh = with_provenance(&w.bundle, Some(&format_rfc3339(NOW - DAY)), &[]);
    allows(&w.decide_on(&fresh, &p(9), &["k1"]), "signers.threshold");
    let old = with_provenance(&w.bundle, Some("2020-01-01T00:00:00Z"), &[]);
    refuses(
        &w.decide_on(&old, &p(9), &["k1"]),
        "time.max_age_days",
        "2020-01-01T00:00:00Z (provenance finishedOn)",
    );
    // No build time, or one that cannot be read: refused.
    let none = &w.bundle;
    refuses(
        &w.decide_on(none, &p(9), &["k1"]),
        "time.max_age_days",
        "the bundle has no build time",
    );
    let epoch = with_provenance(none, Some("1970-01-01T00:00:00Z"), &[]);
    refuses(
        &w.decide_on(&epoch, &p(9), &["k1"]),
        "time.max_age_days",
        "no build time",
    );
    let bad = with_provenance(none, Some("yesterday"), &[]);
    refuses(
        &w.decide_on(&bad, &p(9), &["k1"]),
        "time.max_age_days",
        "\"yesterday\" is not RFC 3339",
    );
    let two = with(
        &with_provenance(&w.bundle, Some("2025-06-01T00:00:00Z"), &[]),
        "provenance-2",
        SLSA_PROVENANCE_V1,
        provenance(Some("2025-06-02T00:00:00Z"), &[]),
    );
    refuses(
        &w.decide_on(&two, &p(9), &["k1"]),
        "time.max_age_days",
        "different finishedOn",
    );
}

#[test]
fn the_unsigned_mtime_is_never_a_build_time() {
    let w = world();
    // The packed bundle has a recent, non-zero mtime but no provenance.
    assert_eq!(w.bundle.mtime, MTIME);
    let age = doc(&format!(r#""time":{{"max_age_days":30}},{ANY}"#));
    let d = w.decide(&age, &["k1"]);
    refuses(
        &d,
        "time.max_age_days",
        "the bundle has no build time: it carries no SLSA provenance attestation",
    );
    assert!(!d.reason.contains("mtime"), "{d:?}");
    let denied =
        doc(r#""signers":{"allowed":[{"key_id":"*"}],"denied":[{"key_id":"k1","before":"2100-01-01T00:00:00Z"}]}"#);
    refuses(
        &w.decide(&denied, &["k1"]),
        "signers.denied[0]",
        "the bundle has no build time",
    );
    // Provenance without finishedOn: still none, whatever the mtime.
    let mut undated = with_provenance(&w.bundle, None, &[]);
    undated.mtime = NOW;
    refuses(
        &w.decide_on(&undated, &age, &["k1"]),
        "time.max_age_days",
        "its provenance gives no runDetails.metadata.finishedOn other than the epoch",
    );
    // With a finishedOn, a rewritten mtime changes nothing.
    let mut dated = w.dated.clone();
    dated.mtime = NOW;
    refuses(
        &w.decide_on(&dated, &doc(&format!(r#""time":{{"max_age_days":9}},{ANY}"#)), &["k1"]),
        "time.max_age_days",
        "10 day(s) ago",
    );
}

// ---------------------------------------------------------------------------
// Order
// ---------------------------------------------------------------------------

#[test]
fn the_first_failing_rule_in_the_fixed_order_decides() {
    let mut w = world();
    let other = format!("sha256:{}", "ab".repeat(32));
    let everything = doc(&format!(
        r#""signers":{{"threshold_from":"release"}},
            "registries":{{"allowed":["nowhere/*"]}},
            "require_attestations":{{"provenance":true}},
            "pin":{{"hello":{{"digest":"{other}","signers":["k6"]}}}},
            "time":{{"max_age_days":1}}"#
    ));
    // Each fix reveals the next rule in order.
    refuses(&w.decide(&everything, &["k1"]), "require_attestations.provenance", "");
    let b = with_provenance(&w.bundle, Some(&format_rfc3339(BUILT)), &["docker://somewhere/hello:1"]);
    refuses(&w.decide_on(&b, &everything, &["k1"]), "registries.allowed", "");
    let e = everything.replace("nowhere/*", "somewhere/*");
    refuses(&w.decide_on(&b, &e, &["k1"]), "pin.hello.digest", "");
    let e = e.replace(&other, &w.bundle.image.digest.to_string());
    refuses(&w.decide_on(&b, &e, &["k1"]), "time.max_age_days", "");
    let e = e.replace(r#""max_age_days":1"#, r#""max_age_days":30"#);
    w.trust.remove_group("release");
    refuses(&w.decide_on(&b, &e, &["k1"]), "signers.threshold_from", "not defined");
    let e = e.replace(
        r#""threshold_from":"release""#,
        r#""allowed":[{"key_id":"*"}],"threshold":2"#,
    );
    refuses(&w.decide_on(&b, &e, &["k1"]), "signers.threshold", "1 of 2");
    refuses(&w.decide_on(&b, &e, &["k1", "k2"]), "pin.hello.signers", "k6");
    let d = w.decide_on(&b, &e, &["k1", "k6"]);
    allows(&d, "signers.threshold");
    assert!(
        d.reason.ends_with(
            "passed require_attestations.provenance, registries.allowed, pin.hello.digest, time.max_age_days, pin.hello.signers"
        ),
        "{d:?}"
    );
}

// ---------------------------------------------------------------------------
// End to end through verify
// ---------------------------------------------------------------------------

#[test]
fn verify_applies_the_policy_to_signed_attestations() {
    let mut w = world();
    w.edit_key("k1", |k| k.level = TrustLevel::Ultimate);
    // The release signed by k1, k2 and k3, binding a provenance and an
    // SBOM: the facts the policy reads are endorsed by those signers.
    let finished = format_rfc3339(NOW - DAY);
    let extra = vec![
        (
            "attestations/provenance.dsse.json".to_string(),
            statement_about(
                &w.bundle,
                SLSA_PROVENANCE_V1,
                provenance(Some(&finished), &["docker://registry.example.org/hello:1.0"]),
            ),
        ),
        (
            "attestations/sbom.dsse.json".to_string(),
            statement_about(&w.bundle, SPDX_DOCUMENT, json!({})),
        ),
    ];
    let mut bytes = Vec::new();
    pack::PackRequest {
        image: &w.image,
        manifest: &w.manifest,
        keys: &[key(1), key(2), key(3)],
        mtime: 0,
        selinux: &[],
        extra: &extra,
        diff_ids: &pack::LayerDiffIds::of_uncompressed(&w.image).unwrap(),
    }
    .write(&mut bytes)
    .unwrap();
    let policy = DeploymentPolicy::from_json(
        "strict",
        doc(&format!(
            r#""signers":{{"threshold_from":"release","denied":[{{"key_id":"k2","before":"2020-01-01T00:00:00Z"}}]}},
                "registries":{{"allowed":["registry.example.org/*"]}},
                "require_attestations":{{"provenance":true,"sbom":true}},
                "pin":{{"hello":{{"digest":"{}","signers":["k1"]}}}},
                "time":{{"max_age_days":7}}"#,
            w.bundle.image.digest
        ))
        .as_bytes(),
    )
    .unwrap();
    let read = || bundle::read_bundle(&mut &bytes[..], &mut NoExtract).unwrap();
    let v = verify::verify(read(), &w.trust, &policy, NOW).unwrap();
    let decision = v.report().policy.clone().unwrap();
    assert_eq!(decision.rule, "signers.threshold_from", "{decision:?}");

    // Revoking one of the three release signers drops the count to k-1.
    w.edit_key("k3", |k| k.revoked_at = Some(NOW));
    let r = verify::verify(read(), &w.trust, &policy, NOW).unwrap_err();
    assert!(matches!(&r.error, Error::PolicyRejection { rule, .. } if rule == "signers.threshold_from"));
    assert_eq!(r.error.exit_code(), ExitCode::PolicyRejection);
    assert_eq!(r.report.exit_code, 4);
    assert!(r.error.to_string().contains("2 of 3 required"), "{}", r.error);
}

/// A producer reads the witness quorum the policy asks for (`ct log
/// submit --witness` fails below it): `transparency.witnesses`, 0 without
/// it, and 0 for the old `require_attestations.transparency_log` form.
#[test]
fn the_witness_quorum_is_the_transparency_sections() {
    let quorum = |parts: &str| {
        DeploymentPolicy::from_json("p.json", doc(&format!("{parts}{ANY}")).as_bytes())
            .unwrap()
            .witness_quorum()
    };
    assert_eq!(quorum(r#""transparency":{"logs":1,"witnesses":2},"#), 2);
    assert_eq!(quorum(r#""transparency":{"logs":2},"#), 0);
    assert_eq!(quorum(r#""require_attestations":{"transparency_log":true},"#), 0);
    assert_eq!(quorum(""), 0);
    assert_eq!(cerro_core::policy_interface::NoPolicy.witness_quorum(), 0);
}

// ---------------------------------------------------------------------
// require_attestations.rebuilt_by: rebuild attestations (`rebuilds/`)
// signed for real, checked by core's `verify`, counted by the policy
// through `TrustStore::tally`.

mod rebuilt_by {
    use super::*;
    use cerro_core::policy_interface::NoPolicy;
    use cerro_core::rebuild::{self, Rebuild, DEFAULT_VERIFIER_ID};
    use cerro_core::verify::{RebuildStatus, Rejected, Verified};

    /// Rebuilders k4, k5, k6 (all `full`); two of them required.
    fn policy(threshold: usize, signers: &str) -> DeploymentPolicy {
        DeploymentPolicy::from_json(
            "rebuilt.json",
            doc(&format!(
                r#""default_action":"allow","require_attestations":{{"rebuilt_by":{{"threshold":{threshold},"signers":[{signers}]}}}}"#
            ))
            .as_bytes(),
        )
        .unwrap()
    }

    const K456: &str = r#"{"key_id":"k4"},{"key_id":"k5"},{"key_id":"k6"}"#;

    /// The rebuild of `bundle` (verified first, as `ct rebuild` does) by
    /// the key of `seed`.
    fn rebuild_by(w: &World, bundle: &Bundle, seed: u8) -> Rebuild {
        let v: Verified<Bundle> = verify::verify(bundle.clone(), &w.trust, &NoPolicy, NOW).unwrap();
        rebuild::sign_rebuild(&v, &key(seed), DEFAULT_VERIFIER_ID, NOW - 3600).unwrap()
    }

    /// `bundle` carrying `rebuilds` (sorted by path, as the reader gives them).
    fn carrying(bundle: &Bundle, mut rebuilds: Vec<Rebuild>) -> Bundle {
        let mut b = bundle.clone();
        rebuilds.sort_by(|a, b| a.path.cmp(&b.path));
        b.rebuilds = rebuilds;
        b
    }

    fn rebuilt(w: &World, seeds: &[u8]) -> Bundle {
        carrying(&w.bundle, seeds.iter().map(|s| rebuild_by(w, &w.bundle, *s)).collect())
    }

    #[track_caller]
    fn refused(r: Result<Verified<Bundle>, Box<Rejected>>, rule: &str, needle: &str) -> Box<Rejected> {
        let r = r.expect_err("refused");
        match &r.error {
            Error::PolicyRejection { rule: got, reason } => {
                assert_eq!(got, rule, "{reason}");
                assert!(reason.contains(needle), "{needle:?} not in: {reason}");
            }
            other => panic!("expected a policy rejection by {rule}, got {other}"),
        }
        assert_eq!(r.error.exit_code(), ExitCode::PolicyRejection);
        r
    }

    /// The other release of the same image: version 1.1 of `hello`, so its
    /// release statement differs.
    fn other_release(w: &World) -> Bundle {
        let manifest = cerro_core::testing::manifest_for(&w.image, "hello", "1.1");
        let mut out = Vec::new();
        pack::pack(&w.image, &manifest, &[key(1)], MTIME, &mut out).unwrap();
        bundle::read_bundle(&mut &out[..], &mut NoExtract).unwrap()
    }

    #[test]
    fn two_rebuilders_meet_a_threshold_of_two_and_one_does_not() {
        let w = world();
        let p = policy(2, K456);
        let v = verify::verify(rebuilt(&w, &[4, 5]), &w.trust, &p, NOW).unwrap();
        let d = v.report().policy.clone().unwrap();
        assert!(
            d.allowed && d.reason.contains("passed require_attestations.rebuilt_by"),
            "{d:?}"
        );
        let lines = &v.report().rebuilds;
        assert_eq!(lines.len(), 2);
        for l in lines {
            assert_eq!(l.status, RebuildStatus::Verified, "{l:?}");
            assert_eq!(l.time_verified, Some(NOW - 3600));
            assert_eq!(l.verifier.as_deref(), Some(DEFAULT_VERIFIER_ID));
            assert!(l.policy.as_ref().is_some_and(|v| v.counted()), "{l:?}");
        }

        let r = refused(
            verify::verify(rebuilt(&w, &[4]), &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "1 of 2 required distinct rebuilder(s)",
        );
        assert_eq!(r.report.exit_code, 4);
        // None at all: the rule names what is missing.
        refused(
            verify::verify(w.bundle.clone(), &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "0 of 2 required distinct rebuilder(s) named by rebuilt_by.signers and trusted at least full rebuilt this release (0 rebuild attestation(s) carried)",
        );
        // Without a rebuilt_by rule, rebuilds are reported and change nothing.
        let v = verify::verify(rebuilt(&w, &[4]), &w.trust, &NoPolicy, NOW).unwrap();
        assert_eq!(v.report().rebuilds[0].status, RebuildStatus::Verified);
        assert!(v.report().rebuilds[0].policy.is_none());
    }

    /// One key counts once: two matchers naming it, or its fingerprint
    /// twice in what the policy is given, still make one rebuilder.
    #[test]
    fn the_same_key_twice_counts_once() {
        let w = world();
        let fp4 = w.trust.get("k4").unwrap().fingerprint.to_hex();
        let p = policy(2, &format!(r#"{{"key_id":"k4"}},{{"fingerprint":"{fp4}"}}"#));
        refused(
            verify::verify(rebuilt(&w, &[4]), &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "1 of 2",
        );
        // The tally itself, handed k4 twice (a bundle cannot carry two
        // rebuilds by one key: the member's name is the key's).
        let statement =
            ReleaseStatement::parse_release(RELEASE, &w.bundle.release().unwrap().envelope.payload).unwrap();
        let fps = w.fps(&["k4", "k4"]);
        let d = policy(2, K456).evaluate(&PolicyInput {
            bundle: &w.bundle,
            statement: &statement,
            signers: &w.fps(&["k1"]),
            trust: &w.trust,
            now: NOW,
            logs: &[],
            existed_by: None,
            rebuilders: &fps,
            rebuild_failures: &[],
        });
        refuses(&d, "require_attestations.rebuilt_by", "k4: duplicate signature");
        assert!(d.reason.contains("1 of 2"), "{d:?}");
    }

    const RELEASE: &str = "attestations/release.dsse.json";

    #[test]
    fn revoked_expired_unknown_unnamed_and_untrusted_rebuilders_do_not_count() {
        let mut w = world();
        let p = policy(2, K456);
        let rebuilt_45 = rebuilt(&w, &[4, 5]);
        let both = || rebuilt_45.clone();
        w.edit_key("k5", |k| k.revoked_at = Some(NOW - 10));
        refused(
            verify::verify(both(), &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "k5: revoked",
        );
        w.edit_key("k5", |k| {
            k.revoked_at = None;
            k.valid_until = Some(NOW - 10);
        });
        refused(
            verify::verify(both(), &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "k5: expired",
        );
        w.edit_key("k5", |k| {
            k.valid_until = None;
            k.level = TrustLevel::Marginal;
        });
        refused(
            verify::verify(both(), &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "k5: trust level marginal",
        );
        w.edit_key("k5", |k| k.level = TrustLevel::Full);
        // k3 is trusted but not a named rebuilder.
        refused(
            verify::verify(rebuilt(&w, &[3, 4]), &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "k3: excluded by require_attestations.rebuilt_by.signers (no entry matches)",
        );
        // A key the trust store does not know: not even checked.
        let stranger = rebuild_by(&w, &w.bundle, 99);
        let b = carrying(&w.bundle, vec![rebuild_by(&w, &w.bundle, 4), stranger]);
        let r = refused(
            verify::verify(b, &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "not in the trust store",
        );
        assert!(r.report.rebuilds.iter().any(|l| l.status == RebuildStatus::UnknownKey));
        // Required: k4 must be among them.
        let p = policy(2, r#"{"key_id":"k4","required":true},{"key_id":"k5"},{"key_id":"k6"}"#);
        refused(
            verify::verify(rebuilt(&w, &[5, 6]), &w.trust, &p, NOW),
            "require_attestations.rebuilt_by.signers[0].required",
            "counted: k5, k6",
        );
        verify::verify(rebuilt(&w, &[4, 6]), &w.trust, &p, NOW).unwrap();
    }

    /// A rebuild names this image and this release statement: moved to the
    /// other release of the same image, or to another image, it does not
    /// count (and does not refuse a bundle no rule asks it of).
    #[test]
    fn a_rebuild_moved_to_another_release_or_image_does_not_count() {
        let w = world();
        let p = policy(1, K456);
        let other = other_release(&w);
        assert_eq!(other.image.digest, w.bundle.image.digest, "same image");
        let moved = carrying(&w.bundle, vec![rebuild_by(&w, &other, 4)]);
        let r = refused(
            verify::verify(moved.clone(), &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "a rebuild of another release",
        );
        assert_eq!(r.report.rebuilds[0].status, RebuildStatus::Failed);
        let v = verify::verify(moved, &w.trust, &NoPolicy, NOW).unwrap();
        assert_eq!(v.report().rebuilds[0].status, RebuildStatus::Failed);
        assert!(v.report().checks.iter().any(|c| c.check == "rebuild" && !c.ok));

        let dir = tempfile::tempdir().unwrap();
        let (image, manifest) = one_file_image(
            &dir.path().join("other"),
            ("other.txt", b"other\n"),
            "/other.txt",
            REF,
            ("hello", "1.0"),
        );
        let mut out = Vec::new();
        pack::pack(&image, &manifest, &[key(1)], MTIME, &mut out).unwrap();
        let another = bundle::read_bundle(&mut &out[..], &mut NoExtract).unwrap();
        let moved = carrying(&w.bundle, vec![rebuild_by(&w, &another, 4)]);
        refused(
            verify::verify(moved, &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "a rebuild of another image",
        );
    }

    /// A tampered statement does not verify under its signature; a statement
    /// that says something else, even signed by the rebuilder, is not a
    /// rebuild: neither counts.
    #[test]
    fn a_tampered_or_altered_rebuild_does_not_count() {
        let w = world();
        let p = policy(1, K456);
        let good = rebuild_by(&w, &w.bundle, 4);
        let mut tampered = good.clone();
        let text = String::from_utf8(tampered.envelope.payload.clone()).unwrap();
        tampered.envelope.payload = text.replace("PASSED", "PASSEd").into_bytes();
        let r = refused(
            verify::verify(carrying(&w.bundle, vec![tampered]), &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "signature by k4",
        );
        assert!(
            r.report.rebuilds[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("does not verify")
                || r.report.rebuilds[0].reason.as_deref().unwrap().contains("invalid"),
            "{:?}",
            r.report.rebuilds[0]
        );

        // Re-signed by the rebuilder's own key, but not what a rebuild says.
        let resign = |edit: &dyn Fn(&mut Value)| {
            let mut st: Value = serde_json::from_slice(&good.envelope.payload).unwrap();
            edit(&mut st);
            let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, jcs::to_vec(&st).unwrap());
            env.sign(&key(4)).unwrap();
            carrying(
                &w.bundle,
                vec![Rebuild::parse(&good.path, &env.to_bytes().unwrap()).unwrap()],
            )
        };
        for (edit, why) in [
            (
                Box::new(|s: &mut Value| s["predicate"]["verificationResult"] = json!("FAILED"))
                    as Box<dyn Fn(&mut Value)>,
                "verificationResult is \"FAILED\"",
            ),
            (
                Box::new(|s: &mut Value| s["predicate"]["dependencyLevels"] = json!({})),
                "unknown field `dependencyLevels`",
            ),
            (
                Box::new(|s: &mut Value| s["predicate"]["policy"]["uri"] = json!("https://cerro-torre.org/rebuild/v2")),
                "a rebuild format this version does not know",
            ),
            (
                Box::new(|s: &mut Value| s["predicate"]["timeVerified"] = json!("2025-06-15T17:06:40+02:00")),
                "not an RFC 3339 time in UTC",
            ),
            (
                Box::new(|s: &mut Value| s["predicate"]["verifiedLevels"] = json!(["SLSA_BUILD_LEVEL_3"])),
                "its predicate is not the one a rebuild states",
            ),
            (
                Box::new(|s: &mut Value| s["predicate"]["inputAttestations"] = json!([])),
                "inputAttestations are not this bundle's",
            ),
            (
                Box::new(|s: &mut Value| s["subject"].as_array_mut().unwrap().truncate(1)),
                "a rebuild of another release",
            ),
            (
                Box::new(|s: &mut Value| s["predicate"]["verifier"]["id"] = json!("not a uri")),
                "is not a URI",
            ),
        ] {
            let r = refused(
                verify::verify(resign(&*edit), &w.trust, &p, NOW),
                "require_attestations.rebuilt_by",
                why,
            );
            assert_eq!(r.report.rebuilds[0].status, RebuildStatus::Failed, "{why}");
        }
        // A payload that is not canonical JSON, signed: refused as such.
        let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, [b" ".as_slice(), &good.envelope.payload].concat());
        env.sign(&key(4)).unwrap();
        let b = carrying(
            &w.bundle,
            vec![Rebuild::parse(&good.path, &env.to_bytes().unwrap()).unwrap()],
        );
        refused(
            verify::verify(b, &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "not canonical JSON",
        );
        // A duplicate key inside the statement, signed: the strict reader.
        let dup = String::from_utf8(good.envelope.payload.clone()).unwrap().replacen(
            "{\"_type\"",
            "{\"_type\":\"x\",\"_type\"",
            1,
        );
        let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, dup.into_bytes());
        env.sign(&key(4)).unwrap();
        let b = carrying(
            &w.bundle,
            vec![Rebuild::parse(&good.path, &env.to_bytes().unwrap()).unwrap()],
        );
        refused(
            verify::verify(b, &w.trust, &p, NOW),
            "require_attestations.rebuilt_by",
            "_type",
        );
    }
}
