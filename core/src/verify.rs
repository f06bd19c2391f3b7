//! The verification decision. [`verify`] is the only way to obtain a
//! [`Verified`] value, so code that needs a trusted bundle takes
//! `&Verified<Bundle>` and cannot forget a check.
//!
//! Order of checks (each failure stops, with its exit code). The cheap trust
//! facts come first, so a bundle no trusted key signed costs one signature
//! check per known key and nothing else (no payload parsing):
//! 1. a release attestation is present (5);
//!    Then the revocation list in force (spec/trust-store.md §10.3): it
//!    must not be past its next update, nor (with the policy's
//!    `revocation.max_age_hours`) issued longer ago or missing (7); the
//!    release envelope and the image manifest must not be on it (7);
//!    Then every transparency-log proof the bundle carries from a log in
//!    the trust store must verify for this release's entry (6); proofs
//!    from other logs are reported and not counted (spec/transparency.md
//!    §12). They are cheap trust facts (at most
//!    [`crate::bundle::MAX_TLOG_PROOFS`] small members, each a few
//!    signature checks) and give trusted time: the time by which the
//!    witness quorum ([`time_quorum`]) vouches the release existed
//!    ([`crate::tlog::existed_by`]), which the tally and the policy need;
//! 2. its payloadType is in-toto (10); each signature by a key in the trust
//!    store is checked over the DSSE PAE with RFC 8032 strict rules; one
//!    that does not verify is reported and does not count (anyone on the
//!    path can append junk signatures: they must not make a valid bundle
//!    unverifiable, as in TUF);
//! 3. at least one distinct, non-revoked, in-window key trusted `full` or
//!    higher signed it validly (3; 2 when none did and a known key's
//!    signature was invalid); `valid_until` and a revocation list's dated
//!    entry are judged at trusted time when it is earlier than now
//!    ([`TallyTime`], spec/trust-store.md §7), so a key that expired after
//!    the witnesses saw the release still counts;
//! 4. the payload is canonical JSON (10) and the release statement binds
//!    this bundle: subject (name = package, digest = image manifest), the
//!    digests of `manifest.toml`, `oci-layout`, `index.json` and
//!    `selinux/*`, the statement of every other attestation, and the
//!    config's `rootfs.diff_ids` (1 on a digest that differs; 10 on a
//!    statement that names other things);
//! 5. every other attestation is a canonical in-toto statement about this
//!    image (10); it is trusted through the release statement that binds
//!    it, not through signatures of its own;
//!    5b. a cosign signature evidence statement
//!    ([`crate::cosign_signature`]) verifies again from the bytes it
//!    records (1, 2, 3 or 10);
//! 6. (the proofs were verified after step 1)
//!    with a signed trust root installed, at least its quorum of distinct
//!    logs, each with its quorum of witness cosignatures, proved it (4,
//!    rule `trust_root.quorum`; spec/trust-store.md §9.3);
//! 7. every rebuild attestation (`rebuilds/`, [`crate::rebuild`]) by a key
//!    the trust store knows has its signature checked and, if it verifies,
//!    its statement checked against this release; one that fails is
//!    reported and not counted (anyone can add or break one: it must not
//!    make a valid bundle unverifiable), one by an unknown key is not
//!    checked. Of a multi-platform bundle only the rebuilds of the
//!    platform admitted here (this host's, [`crate::image::Platform::is_host`], as the
//!    runtime hooks select it) are counted. None refuses the bundle here;
//! 8. the deployment policy allows it (4), given the verified proofs, the
//!    same trusted time and the rebuilders whose attestation verified
//!    (counted by `require_attestations.rebuilt_by`).
//!
//! Blob digests were already checked while the bundle was read.

use std::ops::Deref;

use serde::Serialize;

use crate::bundle::{Attestation, Bundle, Member, Unpulled, ATTESTATIONS_PREFIX, BLOB_PREFIX, TRANSPARENCY_PREFIX};
use crate::digest::Digest;
use crate::dsse::IN_TOTO_PAYLOAD_TYPE;
use crate::error::{Error, ExitCode};
use crate::image::{choose_platform, BlobRef, Platform};
use crate::jcs;
use crate::policy_interface::{Policy, PolicyDecision, PolicyInput};
use crate::statement::{ImageDescriptor, ReleaseStatement, Statement, STATEMENT_TYPE};
use crate::tlog::{release_entry_for, VerifiedTlogProof};
use crate::trust::{Fingerprint, SignerVerdict, TallyTime, TrustLevel, TrustStore};

/// A value that passed [`verify`]. Only this module can build one.
#[derive(Debug)]
pub struct Verified<T> {
    inner: T,
    report: Report,
}

impl<T> Verified<T> {
    /// How it was verified.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The verified value.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Short name of the check.
    pub check: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was compared.
    pub detail: String,
}

/// What the bundle claims.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// Image reference, if any.
    pub reference: Option<String>,
    /// The image manifest descriptor.
    pub image: BlobRef,
    /// The config descriptor (of a multi-platform image: the first
    /// platform's).
    pub config: BlobRef,
    /// The layers (of a multi-platform image: the first platform's).
    pub layers: Vec<BlobRef>,
    /// A multi-platform image's platforms, in index order (absent for a
    /// single image).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformSummary>,
    /// Every member with its digest.
    pub members: Vec<Member>,
    /// The attestations: member, predicate type, number of signatures.
    pub attestations: Vec<AttestationInfo>,
}

/// One platform of a multi-platform image as listed by `ct explain`.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformSummary {
    /// `os/architecture[/variant]`.
    pub platform: String,
    /// Its image manifest descriptor.
    pub manifest: BlobRef,
    /// Its number of layers.
    pub layers: usize,
}

/// One attestation as listed by `ct explain`.
#[derive(Debug, Clone, Serialize)]
pub struct AttestationInfo {
    /// Bundle member.
    pub path: String,
    /// The statement's predicateType (empty if the payload is not a statement).
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// Number of signatures on the envelope.
    pub signatures: usize,
}

/// The full account of a verification, passed or failed (`ct explain`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The bundle's claims.
    pub bundle: Summary,
    /// Checks in the order they ran.
    pub checks: Vec<Check>,
    /// The verdict on each signature of the release envelope.
    pub signers: Vec<SignerVerdict>,
    /// Signatures by known keys that did not verify (not counted).
    pub invalid_signatures: Vec<InvalidSignature>,
    /// Each transparency-log proof the bundle carries, in member order,
    /// and what became of it (filled when the proofs are checked).
    pub transparency: Vec<LogProofReport>,
    /// cosign signature evidence the bundle carries, each checked again
    /// offline (spec/attestations.md §5).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cosign: Vec<crate::cosign_signature::EvidenceInfo>,
    /// Each rebuild attestation the bundle carries, in member order, and
    /// what became of it (filled once the release statement verified).
    pub rebuilds: Vec<RebuildReport>,
    /// The policy's decision, if the policy was reached.
    pub policy: Option<PolicyDecision>,
    /// True when every check passed.
    pub valid: bool,
    /// The process exit code this outcome maps to.
    pub exit_code: u8,
    /// Machine-readable name of the failed check, if any.
    pub error_kind: Option<&'static str>,
    /// One-line result.
    pub message: String,
}

/// One transparency-log proof as `ct explain` lists it. Origin, index and
/// tree size are read from the proof; they are facts only when `status`
/// is `verified`.
#[derive(Debug, Clone, Serialize)]
pub struct LogProofReport {
    /// The checkpoint's origin (the log).
    pub origin: String,
    /// The entry's index in the log.
    pub index: u64,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// What became of it.
    pub status: LogProofStatus,
    /// The trusted witnesses whose cosignature of the checkpoint verified,
    /// with the time each says it cosigned (empty unless verified).
    pub witnesses: Vec<WitnessReport>,
}

/// A witness cosignature that verified (see [`LogProofReport`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitnessReport {
    /// The witness's name (its key's name in the trust store).
    pub name: String,
    /// When it cosigned, by its own clock (POSIX seconds).
    pub timestamp: u64,
}

/// One rebuild attestation as `ct explain` lists it. Verifier and time are
/// the rebuilder's word, shown only when its signature and statement
/// verified.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    /// The member path.
    pub path: String,
    /// The signer's fingerprint (its name).
    pub fingerprint: String,
    /// The signer's local key id, when the trust store knows it.
    pub key_id: Option<String>,
    /// What became of it.
    pub status: RebuildStatus,
    /// Why it failed (`status` `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `verifier.id` (verified only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifier: Option<String>,
    /// `timeVerified`, unix seconds (verified only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_verified: Option<u64>,
    /// The verdict of the policy's `require_attestations.rebuilt_by` count
    /// on this signer (absent when no policy rule counts rebuilds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<SignerVerdict>,
}

/// See [`RebuildReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebuildStatus {
    /// Signed by a known key, about this release: handed to the policy.
    Verified,
    /// By a key the trust store does not know: not checked, cannot count.
    UnknownKey,
    /// By a known key, and its signature or statement does not verify for
    /// this release: not counted.
    Failed,
    /// Signed by a known key, about this release, but of a platform of a
    /// multi-platform bundle that is not the one admitted here (this
    /// host's): verified, not counted.
    OtherPlatform,
}

/// See [`LogProofReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogProofStatus {
    /// From a trusted log, and it verified for this release: counted.
    Verified,
    /// From a log the trust store does not list: not checked, not counted.
    UntrustedLog,
    /// From a trusted log, and it does not verify: the bundle is refused.
    Failed,
}

/// A signature by a key in the trust store that does not verify over its
/// envelope. It does not count; it does not refuse a bundle that other
/// signatures make valid either.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidSignature {
    /// Local key id.
    pub key_id: String,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The envelope member.
    pub envelope: String,
}

/// A failed verification: the error and everything learned before it.
#[derive(Debug)]
pub struct Rejected {
    /// What failed.
    pub error: Error,
    /// The report up to the failure.
    pub report: Report,
}

/// Minimum trust level for a signature to count without a policy.
pub const BASELINE_LEVEL: TrustLevel = TrustLevel::Full;

/// Which witness quorum defines trusted time (spec/policy.md §1.7), as
/// `(logs, witnesses)`: the policy's `transparency` rule when it requires
/// witnesses, else the signed trust root's quorum when it does, else none
/// (a log's own word carries no time).
pub fn time_quorum(policy: &dyn Policy, trust: &TrustStore) -> Option<(usize, usize)> {
    let (logs, witnesses) = (policy.log_quorum(), policy.witness_quorum());
    if logs > 0 && witnesses > 0 {
        return Some((logs, witnesses));
    }
    trust
        .root()
        .map(|r| r.quorum)
        .filter(|q| q.logs > 0 && q.witnesses > 0)
        .map(|q| (q.logs, q.witnesses))
}

/// Trusted time of a release whose proofs `logs` verified: the one value
/// the tally and the policy use ([`crate::tlog::existed_by`] under
/// [`time_quorum`]).
pub fn trusted_time(logs: &[VerifiedTlogProof], policy: &dyn Policy, trust: &TrustStore) -> Option<u64> {
    time_quorum(policy, trust).and_then(|(l, w)| crate::tlog::existed_by(logs, l, w))
}

/// Verifies `bundle` against `trust` and `policy` at unix time `now`.
pub fn verify(
    bundle: Bundle,
    trust: &TrustStore,
    policy: &dyn Policy,
    now: u64,
) -> Result<Verified<Bundle>, Box<Rejected>> {
    verify_for(bundle, trust, policy, now, None)
}

/// [`verify`], with the rebuilds of platform `rebuilds_for` counted
/// instead of this host's (`ct verify --platform`: an operator checking a
/// bundle for another node's architecture). `None` is this host's, what
/// the runtimes admit. A platform the bundle does not have is refused
/// ([`rebuild_platform`], exit 78) before anything is checked.
pub fn verify_for(
    bundle: Bundle,
    trust: &TrustStore,
    policy: &dyn Policy,
    now: u64,
    rebuilds_for: Option<&Platform>,
) -> Result<Verified<Bundle>, Box<Rejected>> {
    let content = Check {
        check: "content digests",
        ok: true,
        detail: format!(
            "{} members read; image manifest, config and {} layer(s) match their digests",
            bundle.members.len(),
            bundle.parts.layers.len()
        ),
    };
    let report = decide(&bundle, content, trust, policy, now, rebuilds_for)?;
    Ok(Verified { inner: bundle, report })
}

/// Verifies a bundle assembled without its layers (`ct verify
/// docker://REF`) by the same checks as [`verify`]: every one but the
/// layers' content, which the report says were not checked. The result
/// only informs: nothing that stores, commits or runs a bundle takes a
/// `Verified<Unpulled>`.
pub fn verify_unpulled(
    unpulled: Unpulled,
    trust: &TrustStore,
    policy: &dyn Policy,
    now: u64,
) -> Result<Verified<Unpulled>, Box<Rejected>> {
    verify_unpulled_for(unpulled, trust, policy, now, None)
}

/// [`verify_unpulled`] counting the rebuilds of platform `rebuilds_for`,
/// as [`verify_for`] does.
pub fn verify_unpulled_for(
    unpulled: Unpulled,
    trust: &TrustStore,
    policy: &dyn Policy,
    now: u64,
    rebuilds_for: Option<&Platform>,
) -> Result<Verified<Unpulled>, Box<Rejected>> {
    let bundle = &unpulled.bundle;
    let bytes: u64 = unpulled.not_pulled.iter().map(|b| b.size).sum();
    let content = Check {
        check: "content digests",
        ok: true,
        detail: format!(
            "{} members read; image manifest and config match their digests; {} of {} layer(s) ({bytes} bytes) \
             not downloaded, so not checked: the runtime hashes each at pull against this manifest (ct fetch checks them all)",
            bundle.members.len().saturating_sub(unpulled.not_pulled.len()),
            unpulled.not_pulled.len(),
            bundle.parts.layers.len(),
        ),
    };
    let mut report = decide(bundle, content, trust, policy, now, rebuilds_for)?;
    report.message = format!(
        "{} (layers not downloaded: {} not checked)",
        report.message,
        unpulled.not_pulled.len()
    );
    Ok(Verified {
        inner: unpulled,
        report,
    })
}

/// The checks of [`verify`] after the content check `content` (what the
/// reader established), as one report.
fn decide(
    bundle: &Bundle,
    content: Check,
    trust: &TrustStore,
    policy: &dyn Policy,
    now: u64,
    rebuilds_for: Option<&Platform>,
) -> Result<Report, Box<Rejected>> {
    let mut report = Report {
        bundle: Summary {
            name: bundle.manifest.package.name.clone(),
            version: bundle.manifest.package.version.clone(),
            reference: bundle.reference.clone(),
            image: bundle.image.clone(),
            config: bundle.parts.config.clone(),
            layers: bundle.parts.layers.clone(),
            platforms: bundle
                .platforms
                .iter()
                .map(|p| PlatformSummary {
                    platform: p.platform.to_string(),
                    manifest: p.manifest.clone(),
                    layers: p.parts.layers.len(),
                })
                .collect(),
            members: bundle.members.clone(),
            attestations: bundle
                .attestations
                .iter()
                .map(|a| AttestationInfo {
                    path: a.path.clone(),
                    predicate_type: predicate_type_of(&a.envelope.payload),
                    signatures: a.envelope.signatures.len(),
                })
                .collect(),
        },
        checks: vec![content],
        signers: Vec::new(),
        invalid_signatures: Vec::new(),
        transparency: Vec::new(),
        cosign: Vec::new(),
        rebuilds: Vec::new(),
        policy: None,
        valid: false,
        exit_code: 0,
        error_kind: None,
        message: String::new(),
    };
    match run(bundle, trust, policy, now, rebuilds_for, &mut report) {
        Ok(()) => {
            report.valid = true;
            report.exit_code = ExitCode::Valid.code();
            report.message = format!(
                "valid: {} {} ({}) signed by {}",
                report.bundle.name,
                report.bundle.version,
                bundle.image.digest,
                report
                    .signers
                    .iter()
                    .filter(|s| s.counted())
                    .map(|s| s.key_id.clone().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let logged: Vec<&str> = report
                .transparency
                .iter()
                .filter(|t| t.status == LogProofStatus::Verified)
                .map(|t| t.origin.as_str())
                .collect();
            if !logged.is_empty() {
                report.message = format!("{}, logged in {}", report.message, logged.join(", "));
            }
            let rebuilt: Vec<&str> = report
                .rebuilds
                .iter()
                .filter(|r| r.status == RebuildStatus::Verified)
                .filter_map(|r| r.key_id.as_deref())
                .collect();
            if !rebuilt.is_empty() {
                report.message = format!("{}, rebuilt by {}", report.message, rebuilt.join(", "));
            }
            Ok(report)
        }
        Err(error) => {
            report.exit_code = error.exit_code().code();
            report.error_kind = Some(error.check());
            report.message = error.to_string();
            Err(Box::new(Rejected { error, report }))
        }
    }
}

fn push(checks: &mut Vec<Check>, check: &'static str, ok: bool, detail: String) {
    checks.push(Check { check, ok, detail });
}

/// The `predicateType` of a payload, for the report, without building a
/// JSON tree of it: every other field is skipped, so an untrusted payload
/// costs no allocation beyond this string (empty if it has none).
fn predicate_type_of(payload: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Pt {
        #[serde(rename = "predicateType")]
        predicate_type: Option<String>,
    }
    serde_json::from_slice::<Pt>(payload)
        .ok()
        .and_then(|p| p.predicate_type)
        .unwrap_or_default()
}

/// Most signatures an envelope may carry: each may cost one Ed25519 check
/// before the trust decision.
pub const MAX_SIGNATURES: usize = 64;

/// The signatures of an envelope, checked where the key is known.
struct Signatures {
    /// Fingerprints of valid and unknown-key signatures (what the tally sees).
    counted: Vec<Fingerprint>,
    /// The first invalid one (for the exit code when nothing else counts).
    invalid: Option<Error>,
}

/// Checks one envelope's payload type and the signatures of keys the store
/// knows. An invalid signature is reported and left out; it does not stop
/// the check (signature stuffing must not deny service).
fn check_signatures(
    att: &Attestation,
    trust: &TrustStore,
    checks: &mut Vec<Check>,
    invalid: &mut Vec<InvalidSignature>,
) -> Result<Signatures, Error> {
    let env = &att.envelope;
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        push(
            checks,
            "attestation",
            false,
            format!("{}: payloadType {:?}", att.path, env.payload_type),
        );
        return Err(Error::malformed(
            &att.path,
            format!("payloadType must be {IN_TOTO_PAYLOAD_TYPE}"),
        ));
    }
    let pae = env.pae();
    let mut out = Signatures {
        counted: Vec::with_capacity(env.signatures.len()),
        invalid: None,
    };
    // A key whose signature verified is not checked again (a repeat still
    // reaches the tally, which reports it as a duplicate); an invalid one
    // does not stop a later valid one by the same key from counting.
    if env.signatures.len() > MAX_SIGNATURES {
        return Err(Error::malformed(
            &att.path,
            format!("{} signatures, more than {MAX_SIGNATURES}", env.signatures.len()),
        ));
    }
    let mut valid = std::collections::HashSet::new();
    for sig in &env.signatures {
        let fp = Fingerprint::from_hex(&sig.keyid)
            .ok_or_else(|| Error::malformed(&att.path, format!("keyid {:?} is not a fingerprint", sig.keyid)))?;
        if valid.contains(&fp.to_hex()) {
            out.counted.push(fp);
            continue;
        }
        if let Some(key) = trust.by_fingerprint(&fp) {
            // The key's algorithm decides the encoding and the rules
            // (spec/bundle-format.md §4.3): a signature of the other
            // algorithm's shape, a non-DER or high-S ECDSA signature is
            // invalid, as a wrong one is.
            if let Err(why) = key.public.verify(&pae, &sig.sig) {
                push(
                    checks,
                    "signature",
                    false,
                    format!(
                        "{}: {} ({fp}) {} signature {why}: not counted",
                        att.path,
                        key.id,
                        key.public.algorithm().display_name()
                    ),
                );
                invalid.push(InvalidSignature {
                    key_id: key.id.clone(),
                    fingerprint: fp.to_hex(),
                    envelope: att.path.clone(),
                });
                out.invalid.get_or_insert(Error::SignatureInvalid {
                    key: key.id.clone(),
                    fingerprint: fp.to_hex(),
                    envelope: att.path.clone(),
                });
                continue;
            }
            push(
                checks,
                "signature",
                true,
                format!(
                    "{}: {} ({fp}) valid {} signature",
                    att.path,
                    key.id,
                    key.public.algorithm().display_name()
                ),
            );
            valid.insert(fp.to_hex());
        } else {
            push(
                checks,
                "signature",
                true,
                format!("{}: {fp} not in the trust store, not checked", att.path),
            );
        }
        out.counted.push(fp);
    }
    Ok(out)
}

/// Steps 2 and 3 for one envelope: its signatures (see
/// [`check_signatures`]) and at least one distinct trusted signer at
/// [`BASELINE_LEVEL`]. The one routine for [`verify`] and for the checks
/// made before a download ([`crate::precheck`]), each with its
/// [`TallyTime`]. Returns the fingerprints the tally saw (for the policy),
/// recording checks, invalid signatures and the tally's verdicts.
pub(crate) fn baseline(
    att: &Attestation,
    trust: &TrustStore,
    at: TallyTime,
    checks: &mut Vec<Check>,
    invalid: &mut Vec<InvalidSignature>,
    verdicts: &mut Vec<SignerVerdict>,
) -> Result<Vec<Fingerprint>, Error> {
    let sigs = check_signatures(att, trust, checks, invalid)?;
    let tally = trust.tally(&sigs.counted, at, BASELINE_LEVEL, &|_| None);
    *verdicts = tally.verdicts.clone();
    if tally.counted == 0 {
        push(
            checks,
            "trusted signers",
            false,
            format!("0 of 1 required{}", tally.explain_uncounted()),
        );
        return Err(sigs.invalid.unwrap_or_else(|| Error::SignerNotTrusted {
            envelope: att.path.clone(),
            counted: 0,
            required: 1,
            details: tally.explain_uncounted(),
        }));
    }
    let notes: Vec<String> = tally
        .verdicts
        .iter()
        .filter_map(|v| Some(format!("{}: {}", v.key_id.as_deref()?, v.time?)))
        .collect();
    push(
        checks,
        "trusted signers",
        true,
        format!(
            "{} distinct trusted signer(s){}",
            tally.counted,
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            }
        ),
    );
    Ok(sigs.counted)
}

/// The payload must be canonical JSON: one document, one spelling (so
/// duplicate keys, other spellings and floats are refused).
fn check_canonical(att: &Attestation) -> Result<(), Error> {
    let value: serde_json::Value = serde_json::from_slice(&att.envelope.payload)
        .map_err(|e| Error::malformed(&att.path, format!("payload is not JSON: {e}")))?;
    if jcs::to_vec(&value)? != att.envelope.payload {
        return Err(Error::malformed(&att.path, "payload is not canonical JSON (RFC 8785)"));
    }
    Ok(())
}

fn run(
    bundle: &Bundle,
    trust: &TrustStore,
    policy: &dyn Policy,
    now: u64,
    rebuilds_for: Option<&Platform>,
    report: &mut Report,
) -> Result<(), Error> {
    // 0. The platform asked for, if any, is one the bundle has: a mistake
    // on the command line, named before any check runs.
    let rebuilds_for = rebuilds_for.map(|w| rebuild_platform(bundle, w)).transpose()?;
    // 1. The release attestation is present.
    let release = bundle.release().ok_or_else(|| {
        push(
            &mut report.checks,
            "release attestation",
            false,
            "attestations/release.dsse.json is absent".into(),
        );
        Error::MissingAttestation("the bundle has no attestations/release.dsse.json".into())
    })?;
    push(
        &mut report.checks,
        "release attestation",
        true,
        format!("{} ({} signature(s))", release.path, release.envelope.signatures.len()),
    );

    // 1b. The revocation list in force: fresh, and not naming this release.
    check_revocation(
        bundle,
        release,
        trust,
        policy.revocation_max_age(),
        now,
        &mut report.checks,
    )?;

    // Transparency-log proofs, offline (step 6's verification, moved
    // here): small, bounded members whose trusted time the tally needs.
    let logs = check_proofs(bundle, release, trust, report)?;
    let existed_by = trusted_time(&logs, policy, trust);
    if let Some(t) = existed_by {
        push(
            &mut report.checks,
            "trusted time",
            true,
            format!(
                "the release existed by {} (witness cosignatures)",
                crate::timestamp::format_rfc3339(t)
            ),
        );
    }

    // 2, 3. Signatures by known keys over the exact payload bytes, then the
    // baseline tally, before any look inside the payload.
    let signers = baseline(
        release,
        trust,
        TallyTime::witnessed(now, existed_by),
        &mut report.checks,
        &mut report.invalid_signatures,
        &mut report.signers,
    )?;

    // 4. The statement binds this bundle.
    check_canonical(release)?;
    let statement = ReleaseStatement::parse_release(&release.path, &release.envelope.payload)?;
    if let Err(e) = check_binding(bundle, &statement) {
        push(&mut report.checks, "statement binds bundle", false, e.to_string());
        return Err(e);
    }
    push(
        &mut report.checks,
        "statement binds bundle",
        true,
        format!(
            "subject {} = image manifest; manifest.toml, oci-layout, index.json, {} attestation(s), {} diff_id(s) match",
            bundle.image.digest,
            statement.predicate.attestations.len(),
            statement.predicate.diff_ids.len()
        ),
    );

    // 5. Every other attestation: bound by the release statement (checked
    // above, so its signers endorse it), canonical, an in-toto statement
    // about this image.
    for att in bundle.attestations.iter().filter(|a| a.path != release.path) {
        if att.envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(Error::malformed(
                &att.path,
                format!("payloadType must be {IN_TOTO_PAYLOAD_TYPE}"),
            ));
        }
        check_canonical(att)?;
        let st: Statement<serde_json::Value> = serde_json::from_slice(&att.envelope.payload)
            .map_err(|e| Error::malformed(&att.path, format!("payload is not an in-toto statement: {e}")))?;
        if st.type_ != STATEMENT_TYPE {
            return Err(Error::malformed(
                &att.path,
                format!("statement _type {:?} is not {STATEMENT_TYPE}", st.type_),
            ));
        }
        if !st
            .subject
            .iter()
            .any(|s| s.sha256_digest() == Some(bundle.image.digest))
        {
            return Err(Error::malformed(
                &att.path,
                "no subject names the bundle's image manifest",
            ));
        }
        push(
            &mut report.checks,
            "attestation",
            true,
            format!(
                "{} ({}) about this image, bound by the release statement",
                att.path, st.predicate_type
            ),
        );
        // 5b. cosign signature evidence: checked again from its bytes.
        if st.predicate_type == crate::cosign_signature::EVIDENCE_PREDICATE {
            let info = crate::cosign_signature::recheck(&att.path, &att.envelope.payload, &bundle.image.digest)
                .inspect_err(|e| push(&mut report.checks, "cosign signature evidence", false, e.to_string()))?;
            push(
                &mut report.checks,
                "cosign signature evidence",
                true,
                format!(
                    "{}: the {} signature {} ({}) verifies again with {} key {} and names this image (packed from {}); \
                     that key is the one the packer passed (--cosign-key), trusted only through the release signers' endorsement",
                    att.path,
                    info.layout.describe(),
                    info.manifest,
                    serde_json::to_value(info.scheme)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    info.algorithm,
                    info.key_id,
                    info.reference
                ),
            );
            report.cosign.push(info);
        }
    }

    // 6b. The trust root's quorum over the proofs verified above.
    check_root_quorum(trust, &logs, &mut report.checks)?;

    // 7. Rebuild attestations: checked, never refusing here.
    let (rebuilders, rebuild_failures) = check_rebuilds(bundle, trust, rebuilds_for.as_ref(), report);

    // 8. Policy.
    let input = PolicyInput {
        bundle,
        statement: &statement,
        signers: &signers,
        trust,
        now,
        logs: &logs,
        existed_by,
        rebuilders: &rebuilders,
        rebuild_failures: &rebuild_failures,
    };
    let decision = policy.evaluate(&input);
    if let Some(tally) = policy.rebuild_tally(&input) {
        // Another platform's rebuild was not handed to the tally: the
        // verdict on its key (for a rebuild of this platform) is not its.
        for r in report
            .rebuilds
            .iter_mut()
            .filter(|r| r.status != RebuildStatus::OtherPlatform)
        {
            r.policy = tally.verdicts.iter().find(|v| v.fingerprint == r.fingerprint).cloned();
        }
    }
    report.policy = Some(decision.clone());
    push(
        &mut report.checks,
        "policy",
        decision.allowed,
        format!("{}: {}", decision.rule, decision.reason),
    );
    if !decision.allowed {
        return Err(Error::PolicyRejection {
            rule: decision.rule,
            reason: decision.reason,
        });
    }
    Ok(())
}

/// Step 7 (spec/bundle-format.md §9.2, B1-B3): each rebuild attestation.
/// By a key the trust store does not know: not checked (anyone can add
/// one), handed to the policy so that its tally says "unknown". By a known
/// key (revoked or not: the tally judges that): its signature over the
/// PAE, then, only if it verified, its statement ([`crate::rebuild::check_summary`]).
/// One that fails is reported and left out, as an invalid signature on the
/// release is: a rebuild anyone can break or move must not make a valid
/// bundle unverifiable; a policy that needs it refuses. Of a multi-platform
/// bundle, a platform's rebuild that verified is counted only when that
/// platform is this host's (the one the runtime hooks admit); another
/// platform's is reported and left out. Returns the fingerprints the
/// policy's tally sees (a key that rebuilt twice is there twice: the tally
/// counts distinct keys) and a reason for each left out (failed, or of another platform).
/// The platform of `bundle` that `wanted` (`ct verify --platform`) names,
/// by the rules of `ct pack --platform` ([`choose_platform`]: `linux/arm64`
/// selects `linux/arm64/v8`; none, or several, is refused with the
/// platforms the bundle has, exit 78). A single image's bundle has one
/// platform, its config's: any other is refused the same way.
pub fn rebuild_platform(bundle: &Bundle, wanted: &Platform) -> Result<Platform, Error> {
    if bundle.platforms.is_empty() {
        let own = Platform {
            os: bundle.config.os.clone(),
            architecture: bundle.config.architecture.clone(),
            variant: bundle.config.variant.clone(),
        };
        return if wanted.selects(&own) {
            Ok(own)
        } else {
            Err(Error::invalid_config(
                format!("--platform {wanted}"),
                format!("the bundle is a single image for platform {own}, not {wanted}"),
            ))
        };
    }
    choose_platform("the bundle", &bundle.platforms, wanted).map(|e| e.platform.clone())
}

fn check_rebuilds(
    bundle: &Bundle,
    trust: &TrustStore,
    rebuilds_for: Option<&Platform>,
    report: &mut Report,
) -> (Vec<Fingerprint>, Vec<String>) {
    // Whose rebuilds count: the platform asked for, else this host's.
    let admitted = rebuilds_for.map_or_else(
        || format!("this host's (linux/{})", crate::image::host_architecture()),
        |p| format!("{p}'s (--platform)"),
    );
    let mut counted = Vec::with_capacity(bundle.rebuilds.len());
    let mut failures = Vec::new();
    for r in &bundle.rebuilds {
        let key = trust.by_fingerprint(&r.signer);
        let mut line = RebuildReport {
            path: r.path.clone(),
            fingerprint: r.signer.to_hex(),
            key_id: key.map(|k| k.id.clone()),
            status: RebuildStatus::UnknownKey,
            reason: None,
            verifier: None,
            time_verified: None,
            policy: None,
        };
        let Some(key) = key else {
            push(
                &mut report.checks,
                "rebuild",
                true,
                format!("{}: key {} is not in the trust store: not checked", r.path, r.signer),
            );
            counted.push(r.signer);
            report.rebuilds.push(line);
            continue;
        };
        let outcome = r
            .envelope
            .signatures
            .first()
            .ok_or_else(|| "no signature".to_owned())
            .and_then(|sig| {
                key.public.verify(&r.envelope.pae(), &sig.sig).map_err(|why| {
                    format!(
                        "{} signature by {} {why}",
                        key.public.algorithm().display_name(),
                        key.id
                    )
                })
            })
            .and_then(|()| crate::rebuild::check_summary(bundle, r));
        match outcome {
            Ok(claim) => {
                // A rebuild of one platform vouches for that platform's
                // image only: it counts where that platform is admitted.
                let other = r.platform.as_ref().filter(|p| match rebuilds_for {
                    Some(wanted) => *p != wanted,
                    None => !p.is_host(),
                });
                let of = r
                    .platform
                    .as_ref()
                    .map_or(String::new(), |p| format!(" for platform {p}"));
                push(
                    &mut report.checks,
                    "rebuild",
                    true,
                    format!(
                        "{}: {} rebuilt this release{of} and got the same config and layers ({}, {}){}",
                        r.path,
                        key.id,
                        claim.verifier,
                        crate::timestamp::format_rfc3339(claim.time_verified),
                        if other.is_some() {
                            format!("; not counted: the platform counted is {admitted}")
                        } else {
                            String::new()
                        }
                    ),
                );
                line.status = if other.is_some() {
                    RebuildStatus::OtherPlatform
                } else {
                    RebuildStatus::Verified
                };
                line.verifier = Some(claim.verifier);
                line.time_verified = Some(claim.time_verified);
                match other {
                    None => counted.push(r.signer),
                    Some(p) => failures.push(format!(
                        "{} ({}): a rebuild of platform {p}, not of {admitted}",
                        r.path, key.id
                    )),
                }
            }
            Err(why) => {
                push(
                    &mut report.checks,
                    "rebuild",
                    false,
                    format!("{}: {}: {why}: not counted", r.path, key.id),
                );
                failures.push(format!("{} ({}): {why}", r.path, key.id));
                line.status = RebuildStatus::Failed;
                line.reason = Some(why);
            }
        }
        report.rebuilds.push(line);
    }
    (counted, failures)
}

/// Step 1b (spec/trust-store.md §10.3): the revocation list in force must
/// be fresh — before its `next_update`, and, when the policy bounds its
/// age, issued at most `max_age` seconds ago (with such a bound and no
/// list, the host knows nothing of revocations: refused) — and must name
/// neither this release's envelope nor its image manifest. Revoked keys
/// are not counted later by [`TrustStore::tally`].
fn check_revocation(
    bundle: &Bundle,
    release: &Attestation,
    trust: &TrustStore,
    max_age: Option<u64>,
    now: u64,
    checks: &mut Vec<Check>,
) -> Result<(), Error> {
    use crate::timestamp::format_rfc3339;
    let Some(list) = trust.revocation() else {
        return match max_age {
            None => Ok(()),
            Some(_) => {
                let e = Error::RevocationStale {
                    reason: "the policy sets revocation.max_age_hours and no revocation list is installed".into(),
                };
                push(checks, "revocation", false, e.to_string());
                Err(e)
            }
        };
    };
    let stale = if now >= list.next_update() {
        Some(format!(
            "version {} was due to be replaced at {} (now {})",
            list.version(),
            format_rfc3339(list.next_update()),
            format_rfc3339(now)
        ))
    } else {
        max_age.filter(|m| now > list.issued().saturating_add(*m)).map(|m| {
            format!(
                "version {} was issued at {}, more than revocation.max_age_hours ({}) before now ({})",
                list.version(),
                format_rfc3339(list.issued()),
                m / 3600,
                format_rfc3339(now)
            )
        })
    };
    if let Some(reason) = stale {
        let e = Error::RevocationStale { reason };
        push(checks, "revocation", false, e.to_string());
        return Err(e);
    }
    let envelope = bundle
        .member(&release.path)
        .ok_or_else(|| Error::malformed("bundle", "the release attestation is not among the members"))?
        .digest;
    for (what, digest) in [("release envelope", envelope), ("image manifest", bundle.image.digest)] {
        if list.revokes_release(&digest) {
            let e = Error::ReleaseRevoked {
                what,
                digest,
                version: list.version(),
            };
            push(checks, "revocation", false, e.to_string());
            return Err(e);
        }
    }
    push(
        checks,
        "revocation",
        true,
        format!(
            "revocation list version {} (issued {}, next update {}) names neither the release nor the image",
            list.version(),
            format_rfc3339(list.issued()),
            format_rfc3339(list.next_update())
        ),
    );
    Ok(())
}

/// Step 6b (spec/trust-store.md §9.3): with a signed trust root in force,
/// its quorum binds every verification, with or without a deployment
/// policy: at least `quorum.logs` distinct logs proved the release, each
/// under a checkpoint `quorum.witnesses` distinct trusted witnesses
/// cosigned (counted by [`crate::tlog::logs_with_witnesses`], as the
/// policy's `transparency` rule counts).
fn check_root_quorum(trust: &TrustStore, logs: &[VerifiedTlogProof], checks: &mut Vec<Check>) -> Result<(), Error> {
    let Some(root) = trust.root() else {
        return Ok(());
    };
    let q = root.quorum;
    if q.logs == 0 {
        return Ok(());
    }
    let counted = crate::tlog::logs_with_witnesses(logs, q.witnesses);
    if counted.len() < q.logs {
        let e = Error::PolicyRejection {
            rule: "trust_root.quorum".into(),
            reason: format!(
                "{} of {} distinct trusted logs required by trust root version {} prove the release, each with {} witness cosignature(s)",
                counted.len(),
                q.logs,
                root.version,
                q.witnesses
            ),
        };
        push(checks, "trust root quorum", false, e.to_string());
        return Err(e);
    }
    push(
        checks,
        "trust root quorum",
        true,
        format!(
            "{} distinct logs with at least {} witness cosignature(s) (trust root version {} requires {})",
            counted.len(),
            q.witnesses,
            root.version,
            q.logs
        ),
    );
    Ok(())
}

/// Right after step 1 (bundle-format.md §9.2 T1-T2, before the signers
/// are counted: trusted time comes from these proofs): every proof from a
/// log the trust store lists must verify for
/// this release's entry (spec/transparency.md §1: the digest of the exact
/// bytes of `attestations/release.dsse.json`) under that log's keys
/// (§6.1); one that does not refuses the bundle (exit 6: a wrong key, a
/// path that does not reach the checkpoint's root, another release's
/// entry). A proof from a log the store does not list is reported and not
/// counted: anyone can add a proof from a log of their own, and it proves
/// nothing to this host. Returns the verified proofs, one per log (the
/// reader allows one proof per origin, and the store one key per log).
fn check_proofs(
    bundle: &Bundle,
    release: &Attestation,
    trust: &TrustStore,
    report: &mut Report,
) -> Result<Vec<VerifiedTlogProof>, Error> {
    if bundle.transparency.is_empty() {
        return Ok(Vec::new());
    }
    let envelope = bundle
        .member(&release.path)
        .ok_or_else(|| Error::malformed("bundle", "the release attestation is not among the members"))?;
    let entry = release_entry_for(&envelope.digest);
    let tlog = trust.tlog_trust();
    let mut verified = Vec::with_capacity(bundle.transparency.len());
    for p in &bundle.transparency {
        let cp = p.proof.checkpoint().checkpoint();
        let mut line = LogProofReport {
            origin: cp.origin().to_owned(),
            index: p.proof.index(),
            tree_size: cp.size(),
            status: LogProofStatus::UntrustedLog,
            witnesses: Vec::new(),
        };
        let Some(tlog) = tlog.as_ref().filter(|t| t.has_log(cp.origin())) else {
            push(
                &mut report.checks,
                "transparency",
                true,
                format!("{}: log {} is not in the trust store: not counted", p.path, cp.origin()),
            );
            report.transparency.push(line);
            continue;
        };
        match p.proof.verify(&entry, tlog) {
            Ok(v) => {
                push(
                    &mut report.checks,
                    "transparency",
                    true,
                    format!(
                        "{}: entry {} of log {} at tree size {} proves this release envelope",
                        p.path,
                        v.index(),
                        v.origin(),
                        v.tree_size()
                    ),
                );
                line.status = LogProofStatus::Verified;
                line.witnesses = v
                    .witnesses()
                    .iter()
                    .map(|c| WitnessReport {
                        name: c.witness.clone(),
                        timestamp: c.timestamp,
                    })
                    .collect();
                report.transparency.push(line);
                verified.push(v);
            }
            Err(e) => {
                push(&mut report.checks, "transparency", false, format!("{}: {e}", p.path));
                line.status = LogProofStatus::Failed;
                report.transparency.push(line);
                return Err(e);
            }
        }
    }
    Ok(verified)
}

/// Most entries `predicate.members` or `predicate.attestations` may list:
/// a bundle has four fixed members, at most [`crate::bundle::MAX_SELINUX_MODULES`]
/// modules and [`crate::bundle::MAX_ATTESTATIONS`] attestations.
pub const MAX_BOUND: usize = 4 + crate::bundle::MAX_SELINUX_MODULES + crate::bundle::MAX_ATTESTATIONS;

/// Checks that `statement` describes exactly this bundle: subject and image
/// descriptor are the bundle's image manifest, package name and version
/// match `manifest.toml`, whose `[image].digest` is the same manifest, and
/// the bound members are exactly the bundle's non-blob, non-attestation
/// members with the same digests.
pub fn check_binding(bundle: &Bundle, statement: &ReleaseStatement) -> Result<(), Error> {
    let what = "release statement";
    check_platforms(bundle, statement)?;
    // A multi-platform image's statement lists the index, then each
    // platform manifest (checked in `check_platforms`).
    let Some(subject) = statement
        .subject
        .first()
        .filter(|_| statement.subject.len() == 1 + bundle.platforms.len())
    else {
        return Err(Error::malformed(
            what,
            if bundle.platforms.is_empty() {
                "must have exactly one subject".to_owned()
            } else {
                format!(
                    "must have {} subjects (the image index and each platform manifest)",
                    1 + bundle.platforms.len()
                )
            },
        ));
    };
    if subject.name != bundle.manifest.package.name {
        return Err(Error::malformed(
            what,
            format!(
                "subject name {:?} is not the package name {:?}",
                subject.name, bundle.manifest.package.name
            ),
        ));
    }
    if subject.digest.len() != 1 {
        return Err(Error::malformed(what, "subject must carry exactly one digest (sha256)"));
    }
    let subject_digest = subject
        .sha256_digest()
        .ok_or_else(|| Error::malformed(what, "subject has no sha256 digest"))?;
    if subject_digest != bundle.image.digest {
        return Err(Error::DigestMismatch {
            what: "statement subject vs image manifest".into(),
            expected: subject_digest,
            actual: bundle.image.digest,
        });
    }
    let want = ImageDescriptor {
        media_type: bundle.image.media_type.clone(),
        digest: bundle.image.digest,
        size: bundle.image.size,
    };
    if statement.predicate.image != want {
        return Err(Error::malformed(
            what,
            "predicate.image does not describe the bundle's image manifest",
        ));
    }
    if bundle.manifest.image.digest != bundle.image.digest {
        return Err(Error::DigestMismatch {
            what: "manifest.toml [image].digest vs image manifest".into(),
            expected: bundle.manifest.image.digest,
            actual: bundle.image.digest,
        });
    }
    if bundle.manifest.image.reference != bundle.reference {
        return Err(Error::malformed(
            "manifest.toml",
            format!(
                "[image].reference {:?} differs from the layout's reference {:?}",
                bundle.manifest.image.reference, bundle.reference
            ),
        ));
    }
    for (list, name) in [
        (&statement.predicate.members, "members"),
        (&statement.predicate.attestations, "attestations"),
    ] {
        if list.len() > MAX_BOUND {
            return Err(Error::malformed(
                what,
                format!("predicate.{name} lists {} entries, more than {MAX_BOUND}", list.len()),
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(list.len());
        if list.iter().any(|m| !seen.insert(m.path.as_str())) {
            return Err(Error::malformed(what, format!("predicate.{name} binds a path twice")));
        }
    }
    check_diff_ids(bundle, statement)?;
    check_attestations(bundle, statement)?;
    let pkg = &statement.predicate.package;
    if pkg.name != bundle.manifest.package.name || pkg.version != bundle.manifest.package.version {
        return Err(Error::malformed(
            what,
            format!(
                "statement names {} {} but manifest.toml says {} {}",
                pkg.name, pkg.version, bundle.manifest.package.name, bundle.manifest.package.version
            ),
        ));
    }
    let actual: Vec<(&str, Digest)> = bundle
        .members
        .iter()
        .filter(|m| {
            !m.path.starts_with(BLOB_PREFIX)
                && !m.path.starts_with(ATTESTATIONS_PREFIX)
                && !m.path.starts_with(TRANSPARENCY_PREFIX)
                && !m.path.starts_with(crate::rebuild::REBUILDS_PREFIX)
        })
        .map(|m| (m.path.as_str(), m.digest))
        .collect();
    for (path, digest) in &actual {
        let bound = statement
            .predicate
            .members
            .iter()
            .find(|b| b.path == *path)
            .ok_or_else(|| Error::malformed(what, format!("member {path} is not bound by the statement")))?;
        if bound.digest != *digest {
            return Err(Error::DigestMismatch {
                what: (*path).to_owned(),
                expected: bound.digest,
                actual: *digest,
            });
        }
    }
    if let Some(extra) = statement
        .predicate
        .members
        .iter()
        .find(|b| !actual.iter().any(|(p, _)| *p == b.path))
    {
        return Err(Error::malformed(
            what,
            format!("binds member {} which the bundle lacks", extra.path),
        ));
    }
    Ok(())
}

/// The config's `rootfs.diff_ids` are the signed ones: the runtimes name
/// the image's snapshots by them, so they must be what the signers measured.
/// A multi-platform bundle: the statement binds exactly the platforms the
/// bundle carries (its index's, in order), each platform manifest
/// descriptor, platform and diff_ids as read, and names each manifest as a
/// subject; a single image's statement binds no platforms.
fn check_platforms(bundle: &Bundle, statement: &ReleaseStatement) -> Result<(), Error> {
    let what = "release statement";
    let Some(signed) = &statement.predicate.platforms else {
        if bundle.platforms.is_empty() {
            return Ok(());
        }
        return Err(Error::malformed(
            what,
            "the bundle holds an image index but the statement binds no platforms",
        ));
    };
    if bundle.platforms.is_empty() {
        return Err(Error::malformed(
            what,
            "predicate.platforms is present but the bundle holds one image",
        ));
    }
    if signed.len() != bundle.platforms.len() {
        return Err(Error::malformed(
            what,
            format!(
                "predicate.platforms binds {} platform(s), the image index names {}",
                signed.len(),
                bundle.platforms.len()
            ),
        ));
    }
    if !statement.predicate.diff_ids.is_empty() {
        return Err(Error::malformed(
            what,
            "predicate.diffIds must be empty for an image index (each platform has its own)",
        ));
    }
    for (i, (s, b)) in signed.iter().zip(&bundle.platforms).enumerate() {
        let want = ImageDescriptor {
            media_type: b.manifest.media_type.clone(),
            digest: b.manifest.digest,
            size: b.manifest.size,
        };
        if s.image != want || s.platform != b.platform {
            return Err(Error::malformed(
                what,
                format!(
                    "predicate.platforms[{i}] ({} {}) is not the index's manifest {} for {}",
                    s.platform, s.image.digest, b.manifest.digest, b.platform
                ),
            ));
        }
        if s.diff_ids != b.config.diff_ids {
            return Err(Error::malformed(
                what,
                format!(
                    "predicate.platforms[{i}].diffIds are not the rootfs.diff_ids of the {} config",
                    b.platform
                ),
            ));
        }
        let name = format!("{}@{}", bundle.manifest.package.name, b.platform);
        let subject = statement.subject.get(i + 1);
        if subject.map(|s| (s.name.as_str(), s.digest.len(), s.sha256_digest()))
            != Some((name.as_str(), 1, Some(b.manifest.digest)))
        {
            return Err(Error::malformed(
                what,
                format!("subject {} must be {name} with digest {}", i + 1, b.manifest.digest),
            ));
        }
    }
    Ok(())
}

fn check_diff_ids(bundle: &Bundle, statement: &ReleaseStatement) -> Result<(), Error> {
    if !bundle.platforms.is_empty() {
        // Checked per platform in `check_platforms`.
        return Ok(());
    }
    let signed = &statement.predicate.diff_ids;
    if signed.len() != bundle.parts.layers.len() {
        return Err(Error::malformed(
            "release statement",
            format!(
                "predicate.diffIds lists {} layer(s), the image has {}",
                signed.len(),
                bundle.parts.layers.len()
            ),
        ));
    }
    for (i, (s, c)) in signed.iter().zip(&bundle.config.diff_ids).enumerate() {
        if s != c {
            return Err(Error::DigestMismatch {
                what: format!("image config rootfs.diff_ids[{i}] vs the signed diffIds"),
                expected: *s,
                actual: *c,
            });
        }
    }
    Ok(())
}

/// Every attestation other than the release is bound by the release
/// statement (path and statement digest), and every bound one is present:
/// the release signers endorse exactly this set, so nothing can be added
/// (or swapped) on the way and then count as evidence.
fn check_attestations(bundle: &Bundle, statement: &ReleaseStatement) -> Result<(), Error> {
    let what = "release statement";
    let bound = &statement.predicate.attestations;
    if bound.iter().any(|b| b.path == crate::bundle::RELEASE_ATTESTATION) {
        return Err(Error::malformed(
            what,
            "predicate.attestations lists the release attestation itself",
        ));
    }
    for att in bundle
        .attestations
        .iter()
        .filter(|a| a.path != crate::bundle::RELEASE_ATTESTATION)
    {
        let b = bound.iter().find(|b| b.path == att.path).ok_or_else(|| {
            Error::malformed(
                what,
                format!("attestation {} is not bound by the release statement", att.path),
            )
        })?;
        let actual = Digest::of(&att.envelope.payload);
        if b.digest != actual {
            return Err(Error::DigestMismatch {
                what: format!("statement of {}", att.path),
                expected: b.digest,
                actual,
            });
        }
    }
    if let Some(missing) = bound
        .iter()
        .find(|b| bundle.attestations.iter().all(|a| a.path != b.path))
    {
        return Err(Error::malformed(
            what,
            format!("binds attestation {} which the bundle lacks", missing.path),
        ));
    }
    Ok(())
}
