//! The cheap trust facts of a bundle, checked before its image is
//! downloaded (TUF's "endless data" lesson: spend nothing on content whose
//! signature is not yet known to be good).
//!
//! `ct fetch` has the release envelope (a small artifact layer) long
//! before the first image layer; [`release_signed`] looks at it alone:
//! the envelope parses, the signatures of keys the trust store knows
//! verify over its PAE, at least one of them counts at the baseline level
//! ([`crate::verify::BASELINE_LEVEL`]), and the statement's subject is the
//! image being fetched. Passing it proves nothing about the rest of the
//! bundle: the full [`crate::verify::verify`] still runs on the assembled
//! bundle before anything is committed. Failing it refuses with the error
//! (and exit code) the full verification would give for the same fault.
//!
//! Trusted time (spec/trust-store.md §7): the full verification judges a
//! key's `valid_until` at the time the witnesses vouch the release existed,
//! which only the bundle's `transparency/` proofs give, and the precheck
//! runs without them. So a key past its `valid_until` counts here
//! *provisionally* ([`TallyTime::before_proofs`]; its verdict says so) and
//! the full verification, with the proofs, decides before anything is
//! committed; a key that is not yet valid, revoked locally or by the
//! revocation list (dated entries judged at now, the strict reading) is
//! still refused here. Why not fetch the proofs first: that would need
//! the policy's witness quorum in the registry client and proof
//! verification per listed candidate before any signature is known good;
//! deferring only expiry keeps the precheck a pure signature check. What
//! it lets through is bounded: a signature that verifies under a key this
//! host trusted (not anyone's), for an image of at most the registry
//! client's size bound, which the full verification then refuses unless
//! witnesses saw the release before the key expired. A compromised key is
//! revoked (locally or by a dated list entry), never merely expired, and
//! that still stops here before any layer is downloaded.

use crate::bundle::{Attestation, RELEASE_ATTESTATION};
use crate::digest::Digest;
use crate::dsse::{Envelope, MAX_ENVELOPE_SIZE};
use crate::error::{Error, Result};
use crate::image::PlatformManifest;
use crate::statement::{PlatformBinding, ReleaseStatement};
use crate::trust::{TallyTime, TrustStore};

/// Checks the release envelope `release` (the bytes of
/// `attestations/release.dsse.json`, `None` if the bundle has none) of a
/// bundle for image manifest `image` against `trust` at unix time `now`.
/// Returns the number of distinct trusted signers counted.
///
/// A signature by a known key that does not verify is not counted here
/// (whether it fails the bundle is the full verification's decision);
/// signatures by unknown keys are never checked. The statement is parsed
/// only after a trusted signer was found.
pub fn release_signed(release: Option<&[u8]>, image: &Digest, trust: &TrustStore, now: u64) -> Result<usize> {
    release_signed_for(release, image, &[], trust, now)
}

/// [`release_signed`] for the image a registry holds: `image` is the top
/// manifest's digest and `platforms` the platform manifests it names when
/// it is an image index (empty for a single image manifest). A release
/// statement of a multi-platform image names the index and then each
/// platform manifest (spec/bundle-format.md §5.5); when its index is not
/// the registry's, the refusal names each platform added, removed or
/// swapped against the signed ones (exit 1: a binding does not match), so
/// an index rewritten in the registry is reported as such, not as an
/// unreadable bundle.
pub fn release_signed_for(
    release: Option<&[u8]>,
    image: &Digest,
    platforms: &[PlatformManifest],
    trust: &TrustStore,
    now: u64,
) -> Result<usize> {
    let what = RELEASE_ATTESTATION;
    let bytes = release.ok_or_else(|| Error::MissingAttestation(format!("the bundle has no {RELEASE_ATTESTATION}")))?;
    if bytes.len() as u64 > MAX_ENVELOPE_SIZE {
        return Err(Error::malformed(what, format!("larger than {MAX_ENVELOPE_SIZE} bytes")));
    }
    let att = Attestation {
        path: what.to_owned(),
        envelope: Envelope::parse(what, bytes)?,
    };
    // The same signature check and tally as the full verification.
    let (mut checks, mut invalid, mut verdicts) = (Vec::new(), Vec::new(), Vec::new());
    // Before the proofs: a key past its `valid_until` counts
    // provisionally (see the module doc).
    crate::verify::baseline(
        &att,
        trust,
        TallyTime::before_proofs(now),
        &mut checks,
        &mut invalid,
        &mut verdicts,
    )?;
    let env = &att.envelope;
    let statement = ReleaseStatement::parse_release(what, &env.payload)?;
    let subjects = match &statement.predicate.platforms {
        // The index, then one subject per platform manifest (their names
        // and the rest of the binding are the full verification's).
        Some(signed) => 1 + signed.len(),
        None => 1,
    };
    let (Some(subject), true) = (statement.subject.first(), statement.subject.len() == subjects) else {
        return Err(Error::malformed(
            what,
            if subjects == 1 {
                "the release statement must have exactly one subject".to_owned()
            } else {
                format!(
                    "the release statement must have {subjects} subjects (the image index and each platform manifest)"
                )
            },
        ));
    };
    let signed_image = subject.sha256_digest();
    if signed_image != Some(*image) {
        if let (Some(signed), Some(signed_image), false) =
            (&statement.predicate.platforms, signed_image, platforms.is_empty())
        {
            return Err(Error::DigestMismatch {
                what: format!(
                    "the image index in the registry vs the signed one ({})",
                    index_changes(signed, platforms)
                ),
                expected: signed_image,
                actual: *image,
            });
        }
        let kind = |multi: bool| if multi { "an image index" } else { "an image manifest" };
        let (signs, holds) = (statement.predicate.platforms.is_some(), !platforms.is_empty());
        let why = if signs == holds {
            String::new()
        } else {
            format!(" (it signs {}, the registry holds {})", kind(signs), kind(holds))
        };
        return Err(Error::malformed(
            what,
            format!("the release statement's subject is not the image {image}{why}"),
        ));
    }
    Ok(verdicts.iter().filter(|v| v.counted()).count())
}

/// What differs between the signed platforms and the ones an index names,
/// platform by platform: added, removed, or another manifest (swapped);
/// when each platform names its signed manifest, the index differs in
/// order or in what else it says.
fn index_changes(signed: &[PlatformBinding], actual: &[PlatformManifest]) -> String {
    let mut changes = Vec::new();
    for s in signed {
        match actual.iter().find(|a| a.platform == s.platform) {
            None => changes.push(format!("platform {} removed", s.platform)),
            Some(a) if a.manifest.digest != s.image.digest => changes.push(format!(
                "platform {} swapped: the registry names {}, the signed index {}",
                s.platform, a.manifest.digest, s.image.digest
            )),
            Some(_) => {}
        }
    }
    for a in actual {
        if !signed.iter().any(|s| s.platform == a.platform) {
            changes.push(format!("platform {} added: {}", a.platform, a.manifest.digest));
        }
    }
    if changes.is_empty() {
        "the same platform manifests, listed in another order or with other fields".to_owned()
    } else {
        changes.join("; ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::dsse::IN_TOTO_PAYLOAD_TYPE;
    use crate::error::ExitCode;
    use crate::jcs;
    use crate::statement::{ImageDescriptor, PackageId};
    use crate::trust::{KeyEntry, TrustLevel};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn store(keys: &[(&str, &SigningKey, TrustLevel)]) -> TrustStore {
        let mut t = TrustStore::new();
        for (id, k, level) in keys {
            t.insert(KeyEntry::new(id, k.verifying_key(), *level)).unwrap();
        }
        t
    }

    /// A release envelope for `image`, signed by `keys`.
    fn envelope(image: &Digest, keys: &[&SigningKey]) -> Vec<u8> {
        let st = ReleaseStatement::release(
            PackageId {
                name: "app".into(),
                version: "1".into(),
            },
            ImageDescriptor {
                media_type: crate::image::MT_OCI_MANIFEST.into(),
                digest: *image,
                size: 100,
            },
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        let mut env = Envelope::new(
            IN_TOTO_PAYLOAD_TYPE,
            jcs::to_vec(&serde_json::to_value(&st).unwrap()).unwrap(),
        );
        for k in keys {
            env.sign(k).unwrap();
        }
        env.to_bytes().unwrap()
    }

    #[test]
    fn a_trusted_signature_over_this_image_passes() {
        let image = Digest::of(b"image");
        let (a, b) = (key(1), key(2));
        let trust = store(&[("a", &a, TrustLevel::Full), ("b", &b, TrustLevel::Full)]);
        assert_eq!(
            release_signed(Some(&envelope(&image, &[&a])), &image, &trust, 0).unwrap(),
            1
        );
        assert_eq!(
            release_signed(Some(&envelope(&image, &[&a, &b])), &image, &trust, 0).unwrap(),
            2
        );
    }

    #[test]
    fn unsigned_untrusted_and_missing_releases_are_refused_with_verify_s_exit_codes() {
        let image = Digest::of(b"image");
        let (a, stranger) = (key(1), key(9));
        let trust = store(&[("a", &a, TrustLevel::Full), ("m", &key(3), TrustLevel::Marginal)]);
        let code = |r: Result<usize>| r.unwrap_err().exit_code();
        assert_eq!(
            code(release_signed(None, &image, &trust, 0)),
            ExitCode::MissingAttestation
        );
        for signers in [vec![], vec![&stranger], vec![&key(3)]] {
            let env = envelope(&image, &signers);
            assert_eq!(
                code(release_signed(Some(&env), &image, &trust, 0)),
                ExitCode::SignerNotTrusted
            );
        }
        // A signature by a trusted key that does not verify does not count:
        // alone, it is exit 2, as the full verification says.
        let mut env: serde_json::Value = serde_json::from_slice(&envelope(&image, &[&a])).unwrap();
        env["signatures"][0]["sig"] = format!("{}==", "A".repeat(86)).into();
        let env = jcs::to_vec(&env).unwrap();
        assert_eq!(
            code(release_signed(Some(&env), &image, &trust, 0)),
            ExitCode::SignatureInvalid
        );
        // Not an envelope at all.
        assert_eq!(
            code(release_signed(Some(b"{}"), &image, &trust, 0)),
            ExitCode::Malformed
        );
    }

    #[test]
    fn a_trusted_release_of_another_image_is_refused() {
        let (image, other) = (Digest::of(b"image"), Digest::of(b"other"));
        let a = key(1);
        let trust = store(&[("a", &a, TrustLevel::Full)]);
        let e = release_signed(Some(&envelope(&other, &[&a])), &image, &trust, 0).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Malformed);
        assert!(e.to_string().contains("not the image"), "{e}");
    }
}
