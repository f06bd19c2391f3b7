//! Independent rebuilds: a party that rebuilt a released image and got the
//! same config and layers says so in a signed SLSA verification summary
//! (VSA v1) carried in the bundle as `rebuilds/<key id>.dsse.json`
//! (spec/bundle-format.md §3.5, spec/attestations.md §4).
//!
//! Why a member of its own: every `attestations/*.dsse.json` is trusted only
//! through the release statement that binds it (§7.3), and a rebuilder
//! comes after the release was signed, so it cannot add one without a new
//! release signature. A rebuild member is, like a transparency proof, added
//! after signing and bound by no signed digest: it is trusted only through
//! its own signature, by a key a policy names
//! (`require_attestations.rebuilt_by`), and it binds itself to this exact
//! release: its subjects are the image-manifest digest and the SHA-256 of
//! the release statement (the payload of `attestations/release.dsse.json`),
//! so it cannot be moved to another image or another release of the same
//! image. Co-signing the release does not change its payload, so a rebuild
//! stays valid across `ct sign`.
//!
//! The member's name is a function of its one signer's key (the SPKI
//! fingerprint), so a bundle carries at most one rebuild per key and a new
//! one by the same key replaces the old.
//!
//! A multi-platform bundle (its image is an index) is rebuilt one platform
//! at a time: the rebuild of one platform is named
//! `rebuilds/<key id>-<os>-<arch>[-<variant>].dsse.json` (one per key and
//! platform) and its image subject is that platform's manifest, which the
//! index the release statement binds names; the release subject is
//! unchanged, so it is bound to this release all the same. A platform
//! rebuild counts only where that platform is the one admitted (this
//! host's: `crate::verify`), and one moved to another platform's name names
//! another manifest, so it fails. On a single image the member names no
//! platform, and on an index it must name one.
//!
//! What is checked where: [`Rebuild::parse`] (the reader) checks the
//! envelope's shape (canonical, exactly one signature, whose key id is the
//! member's name); `verify` checks the signature of a key the trust store
//! knows, then [`check_summary`] checks the statement: strict JSON, RFC 8785,
//! exactly the statement [`expected_summary`] builds for this bundle with the
//! signer's verifier id and time. Nothing else is accepted, so a reader that
//! counts a rebuild knows exactly what it says.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, RELEASE_ATTESTATION};
use crate::digest::Digest;
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::error::{Error, Result};
use crate::image::Platform;
use crate::jcs;
use crate::key::KeySigner;
use crate::statement::{Statement, Subject, STATEMENT_TYPE};
use crate::timestamp::{format_rfc3339, parse_rfc3339};
use crate::trust::Fingerprint;
use crate::verify::Verified;

/// Prefix of the rebuild members.
pub const REBUILDS_PREFIX: &str = "rebuilds/";
/// Suffix of a rebuild member (a DSSE envelope).
pub const REBUILD_SUFFIX: &str = ".dsse.json";
/// Most rebuild members a bundle may carry: each is held in memory and
/// costs one signature check (by a known key) and one parse.
pub const MAX_REBUILDS: usize = 16;
/// Largest rebuild member accepted, in bytes. A VSA lists the bundle's
/// attestations (at most 64 paths and digests): about 12 KiB of statement,
/// 16 KiB of envelope; 64 KiB leaves room and bounds the work.
pub const MAX_REBUILD_SIZE: u64 = 64 << 10;
/// `predicateType` of a SLSA verification summary v1.
pub const VSA_PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";
/// `predicate.policy.uri`: what was verified, and the version of this
/// claim (the comparison of spec/attestations.md §4.2). A reader refuses
/// to count another value, so a later version fails closed here.
pub const REBUILD_POLICY_URI: &str = "https://cerro-torre.org/rebuild/v1";
/// `predicate.verifiedLevels`: the one property verified (a custom value:
/// the VSA reserves the `SLSA_` prefix for SLSA's own tracks).
pub const REBUILT_LEVEL: &str = "CERRO_TORRE_REBUILT";
/// `predicate.slsaVersion`.
pub const SLSA_VERSION: &str = "1.0";
/// `predicate.verificationResult`: only a rebuild that matched is signed.
pub const PASSED: &str = "PASSED";
/// `predicate.verifier.id` when the rebuilder names none.
pub const DEFAULT_VERIFIER_ID: &str = "https://cerro-torre.org/ct-rebuild";
/// Longest `verifier.id` accepted.
pub const MAX_VERIFIER_ID: usize = 1024;

/// The member path of the rebuild signed by the key `fp`:
/// `rebuilds/<64 lowercase hex>.dsse.json` (83 bytes: no long-name header needed).
pub fn rebuild_path(fp: &Fingerprint) -> String {
    format!("{REBUILDS_PREFIX}{}{REBUILD_SUFFIX}", fp.to_hex())
}

/// Longest rebuild member path: a ustar name field (the bundle writes
/// plain headers, no long-name extension), which leaves 17 bytes for a
/// platform (`-linux-arm64-v8` is 15).
pub const MAX_REBUILD_PATH: usize = 100;

/// Whether `part` may be a platform component of a member name: lowercase
/// ASCII letters and digits only, so the `-` between components is never
/// part of one and a name parses one way only.
fn name_part(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// The member path of the rebuild of `platform` (of a multi-platform
/// bundle) signed by the key `fp`:
/// `rebuilds/<64 lowercase hex>-<os>-<arch>[-<variant>].dsse.json`.
/// Refuses a platform whose components are not lowercase letters and
/// digits, or whose name would be longer than [`MAX_REBUILD_PATH`].
pub fn platform_rebuild_path(fp: &Fingerprint, platform: &Platform) -> std::result::Result<String, String> {
    let mut parts = vec![platform.os.as_str(), platform.architecture.as_str()];
    parts.extend(platform.variant.as_deref());
    if let Some(bad) = parts.iter().find(|p| !name_part(p)) {
        return Err(format!(
            "platform {platform}: {bad:?} is not lowercase letters and digits, so it cannot name a rebuild member"
        ));
    }
    let path = format!("{REBUILDS_PREFIX}{}-{}{REBUILD_SUFFIX}", fp.to_hex(), parts.join("-"));
    if path.len() > MAX_REBUILD_PATH {
        return Err(format!(
            "platform {platform}: the rebuild member name would be {} bytes, more than {MAX_REBUILD_PATH}",
            path.len()
        ));
    }
    Ok(path)
}

/// The signer and the platform (none for a single image's rebuild) a
/// rebuild member's path names, if the path is one: exactly what
/// [`rebuild_path`] or [`platform_rebuild_path`] writes.
pub fn parse_path(path: &str) -> Option<(Fingerprint, Option<Platform>)> {
    if path.len() > MAX_REBUILD_PATH {
        return None;
    }
    let name = path.strip_prefix(REBUILDS_PREFIX)?.strip_suffix(REBUILD_SUFFIX)?;
    let (hex, rest) = name.split_at_checked(64)?;
    let fp = Fingerprint::from_hex(hex)?;
    if rest.is_empty() {
        return Some((fp, None));
    }
    let parts: Vec<&str> = rest.strip_prefix('-')?.split('-').collect();
    if !parts.iter().all(|p| name_part(p)) {
        return None;
    }
    let platform = match parts.as_slice() {
        [os, arch] => Platform {
            os: (*os).to_owned(),
            architecture: (*arch).to_owned(),
            variant: None,
        },
        [os, arch, variant] => Platform {
            os: (*os).to_owned(),
            architecture: (*arch).to_owned(),
            variant: Some((*variant).to_owned()),
        },
        _ => return None,
    };
    Some((fp, Some(platform)))
}

/// The signer a rebuild member's path names, if the path is one (of a
/// single image or of one platform).
pub fn path_signer(path: &str) -> Option<Fingerprint> {
    parse_path(path).map(|(fp, _)| fp)
}

/// A rebuild member as read: an envelope with exactly one signature, by the
/// key its path names. Nothing in it is trusted until `verify` checked the
/// signature and [`check_summary`] the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuild {
    /// Member path (`rebuilds/<hex>[-<os>-<arch>[-<variant>]].dsse.json`).
    pub path: String,
    /// The one signature's key (the path's hex).
    pub signer: Fingerprint,
    /// The platform its path names (a multi-platform bundle's rebuild of
    /// one platform), none for a single image's.
    pub platform: Option<Platform>,
    /// The envelope (`to_bytes` gives back the member's bytes).
    pub envelope: Envelope,
}

impl Rebuild {
    /// Parses a rebuild member: a canonical DSSE envelope (spec §6.1) with
    /// exactly one signature whose `keyid` is the hex of the path.
    pub fn parse(path: &str, bytes: &[u8]) -> Result<Self> {
        let (signer, platform) = parse_path(path).ok_or_else(|| {
            Error::malformed(
                path,
                "not a rebuilds/<key id>.dsse.json or rebuilds/<key id>-<os>-<arch>[-<variant>].dsse.json member",
            )
        })?;
        if bytes.len() as u64 > MAX_REBUILD_SIZE {
            return Err(Error::malformed(
                path,
                format!(
                    "{} bytes, more than the {MAX_REBUILD_SIZE} a rebuild member may hold",
                    bytes.len()
                ),
            ));
        }
        let envelope = Envelope::parse(path, bytes)?;
        let [sig] = envelope.signatures.as_slice() else {
            return Err(Error::malformed(
                path,
                format!(
                    "a rebuild attestation carries exactly one signature, by the key its name gives (it has {})",
                    envelope.signatures.len()
                ),
            ));
        };
        if sig.keyid != signer.to_hex() {
            return Err(Error::malformed(
                path,
                format!("signed by {}, but its name says {}", sig.keyid, signer.to_hex()),
            ));
        }
        Ok(Rebuild {
            path: path.to_owned(),
            signer,
            platform,
            envelope,
        })
    }

    /// The member's bytes (the canonical envelope).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.envelope.to_bytes()
    }
}

/// `predicate.verifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VsaVerifier {
    /// Who rebuilt (a URI of the rebuilder's choosing; the key is what counts).
    pub id: String,
}

/// `predicate.policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VsaPolicy {
    /// Always [`REBUILD_POLICY_URI`].
    pub uri: String,
}

/// An entry of `predicate.inputAttestations`: one attestation of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VsaInput {
    /// Its member path.
    pub uri: String,
    /// `{"sha256": hex}` of its payload (the statement).
    pub digest: BTreeMap<String, String>,
}

/// The VSA v1 predicate, with exactly the fields spec/attestations.md §4
/// defines (no `dependencyLevels`, no `verifier.version`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationSummary {
    /// Who rebuilt.
    pub verifier: VsaVerifier,
    /// When, RFC 3339 in UTC (`2026-01-01T00:00:00Z`), the rebuilder's word.
    #[serde(rename = "timeVerified")]
    pub time_verified: String,
    /// The image: `pkg:oci/<package>@sha256%3A<hex>` ([`resource_uri`]).
    #[serde(rename = "resourceUri")]
    pub resource_uri: String,
    /// What was compared: [`REBUILD_POLICY_URI`].
    pub policy: VsaPolicy,
    /// Every attestation of the bundle, by path, with its statement's digest.
    #[serde(rename = "inputAttestations")]
    pub input_attestations: Vec<VsaInput>,
    /// Always [`PASSED`].
    #[serde(rename = "verificationResult")]
    pub verification_result: String,
    /// Always `[`[`REBUILT_LEVEL`]`]`.
    #[serde(rename = "verifiedLevels")]
    pub verified_levels: Vec<String>,
    /// Always [`SLSA_VERSION`].
    #[serde(rename = "slsaVersion")]
    pub slsa_version: String,
}

/// A rebuild statement: an in-toto Statement v1 with a VSA predicate.
pub type RebuildStatement = Statement<VerificationSummary>;

/// What a rebuild that verified says, beyond "same bytes".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildClaim {
    /// `verifier.id`.
    pub verifier: String,
    /// `timeVerified`, unix seconds.
    pub time_verified: u64,
}

/// The package URL of the rebuilt image `image` (the bundle's image, or
/// one platform's manifest): `pkg:oci/<name>@sha256%3A<hex>` (purl: the
/// version's `:` and a name's `+` percent-encoded; package names hold
/// nothing else that needs it).
pub fn resource_uri(bundle: &Bundle, image: &Digest) -> String {
    format!(
        "pkg:oci/{}@sha256%3A{}",
        bundle.manifest.package.name.replace('+', "%2B"),
        image.hex()
    )
}

/// The image manifest a rebuild of `platform` (none: the bundle's single
/// image) binds: the bundle's image, or the manifest its index names for
/// exactly that platform. Refuses a platform on a single image, none on an
/// index, and a platform the index does not name (naming those it does).
pub fn rebuilt_image(bundle: &Bundle, platform: Option<&Platform>) -> std::result::Result<Digest, String> {
    match (platform, bundle.platforms.is_empty()) {
        (None, true) => Ok(bundle.image.digest),
        (Some(p), true) => Err(format!(
            "it names platform {p}, but the bundle's image is a single image, not an index"
        )),
        (None, false) => Err(format!(
            "the bundle's image is an index of {} platforms and the rebuild names none \
             (a platform's rebuild is rebuilds/<key id>-<os>-<arch>[-<variant>].dsse.json)",
            bundle.platforms.len()
        )),
        (Some(p), false) => bundle
            .platforms
            .iter()
            .find(|b| b.platform == *p)
            .map(|b| b.manifest.digest)
            .ok_or_else(|| {
                let have: Vec<String> = bundle.platforms.iter().map(|b| b.platform.to_string()).collect();
                format!("the bundle has no platform {p} (it has {})", have.join(", "))
            }),
    }
}

/// Refuses a `verifier.id` that is not a plain absolute URI: a scheme
/// (`[a-z][a-z0-9+.-]*:`), then printable ASCII without spaces, at most
/// [`MAX_VERIFIER_ID`] bytes.
pub fn check_verifier_id(id: &str) -> std::result::Result<(), String> {
    let Some((scheme, rest)) = id.split_once(':') else {
        return Err(format!("verifier id {id:?} is not a URI (no scheme)"));
    };
    let scheme_ok = scheme.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
        && scheme
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'+' | b'.' | b'-'));
    if !scheme_ok || rest.is_empty() {
        return Err(format!("verifier id {id:?} is not an absolute URI"));
    }
    if id.len() > MAX_VERIFIER_ID {
        return Err(format!(
            "verifier id is {} bytes, more than {MAX_VERIFIER_ID}",
            id.len()
        ));
    }
    if !id.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(format!(
            "verifier id {id:?} holds a space, a control or a non-ASCII character"
        ));
    }
    Ok(())
}

/// The one statement a rebuild of `bundle` (of its `platform` on a
/// multi-platform bundle) by `verifier` at `time` may be
/// (spec/attestations.md §4): subjects the image manifest (the bundle's,
/// or the platform's: [`rebuilt_image`]; named as the package) and the
/// release statement (named `attestations/release.dsse.json`, its
/// payload's SHA-256), the VSA fields fixed but the verifier and the time.
/// Refuses a bundle without a release attestation (5), and a platform
/// [`rebuilt_image`] refuses (10).
pub fn expected_summary(
    bundle: &Bundle,
    platform: Option<&Platform>,
    verifier: &str,
    time: u64,
) -> Result<RebuildStatement> {
    let image = rebuilt_image(bundle, platform).map_err(|why| Error::malformed("rebuild", why))?;
    let release = bundle
        .release()
        .ok_or_else(|| Error::MissingAttestation("the bundle has no attestations/release.dsse.json".into()))?;
    let mut inputs: Vec<VsaInput> = bundle
        .attestations
        .iter()
        .map(|a| VsaInput {
            uri: a.path.clone(),
            digest: BTreeMap::from([("sha256".to_owned(), Digest::of(&a.envelope.payload).hex())]),
        })
        .collect();
    inputs.sort_by(|a, b| a.uri.cmp(&b.uri));
    Ok(Statement {
        type_: STATEMENT_TYPE.to_owned(),
        subject: vec![
            Subject::sha256(&bundle.manifest.package.name, &image),
            Subject::sha256(RELEASE_ATTESTATION, &Digest::of(&release.envelope.payload)),
        ],
        predicate_type: VSA_PREDICATE_TYPE.to_owned(),
        predicate: VerificationSummary {
            verifier: VsaVerifier {
                id: verifier.to_owned(),
            },
            time_verified: format_rfc3339(time),
            resource_uri: resource_uri(bundle, &image),
            policy: VsaPolicy {
                uri: REBUILD_POLICY_URI.to_owned(),
            },
            input_attestations: inputs,
            verification_result: PASSED.to_owned(),
            verified_levels: vec![REBUILT_LEVEL.to_owned()],
            slsa_version: SLSA_VERSION.to_owned(),
        },
    })
}

/// Signs the rebuild of a verified bundle: the statement of
/// [`expected_summary`] (RFC 8785) in a DSSE envelope signed by `key`,
/// named by `key`'s fingerprint. Only a `Verified<Bundle>` is accepted: a
/// rebuilder vouches for a release it has checked. The caller has compared
/// the images (`ct rebuild`). A single image's rebuild; see
/// [`sign_platform_rebuild`] for one platform of an index.
pub fn sign_rebuild(bundle: &Verified<Bundle>, key: &impl KeySigner, verifier: &str, time: u64) -> Result<Rebuild> {
    sign_platform_rebuild(bundle, None, key, verifier, time)
}

/// [`sign_rebuild`] of `platform` of a multi-platform bundle (none: of its
/// single image), named [`platform_rebuild_path`]: its image subject is
/// that platform's manifest. The caller compared that platform's image.
pub fn sign_platform_rebuild(
    bundle: &Verified<Bundle>,
    platform: Option<&Platform>,
    key: &impl KeySigner,
    verifier: &str,
    time: u64,
) -> Result<Rebuild> {
    check_verifier_id(verifier).map_err(|why| Error::invalid_config("ct rebuild --verifier-id", why))?;
    let statement = expected_summary(bundle, platform, verifier, time)?;
    let signer = Fingerprint::of(&key.public_key());
    let path = match platform {
        None => rebuild_path(&signer),
        Some(p) => platform_rebuild_path(&signer, p).map_err(|why| Error::malformed("rebuild", why))?,
    };
    let mut envelope = Envelope::new(IN_TOTO_PAYLOAD_TYPE, jcs::to_canonical(&statement)?);
    envelope.sign(key)?;
    let rebuild = Rebuild {
        path,
        signer,
        platform: platform.cloned(),
        envelope,
    };
    // What is written is what the reader accepts.
    Rebuild::parse(&rebuild.path, &rebuild.to_bytes()?)
}

/// Checks the statement of a rebuild whose signature verified under a
/// known key (spec/attestations.md §4.3): the payload passes the strict
/// reader (no key twice, no case variant), is RFC 8785, parses with exactly
/// the fields of [`RebuildStatement`], and is byte for byte the statement
/// [`expected_summary`] builds for `bundle` with its own verifier id and
/// time. The error is a one-line reason (the rebuild does not count).
pub fn check_summary(bundle: &Bundle, rebuild: &Rebuild) -> std::result::Result<RebuildClaim, String> {
    let env = &rebuild.envelope;
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!(
            "payloadType {:?} is not {IN_TOTO_PAYLOAD_TYPE}",
            env.payload_type
        ));
    }
    crate::image::strict::check(
        &rebuild.path,
        &env.payload,
        crate::image::strict::DocKind::VerificationSummary,
    )
    .map_err(|e| e.to_string())?;
    let value: serde_json::Value =
        serde_json::from_slice(&env.payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    if jcs::to_vec(&value).map_err(|e| e.to_string())? != env.payload {
        return Err("payload is not canonical JSON (RFC 8785)".into());
    }
    let st: RebuildStatement = serde_json::from_slice(&env.payload)
        .map_err(|e| format!("payload is not a rebuild statement (SLSA VSA v1 as spec/attestations.md §4): {e}"))?;
    if st.type_ != STATEMENT_TYPE {
        return Err(format!("statement _type {:?} is not {STATEMENT_TYPE}", st.type_));
    }
    if st.predicate_type != VSA_PREDICATE_TYPE {
        return Err(format!(
            "predicateType {:?} is not {VSA_PREDICATE_TYPE}",
            st.predicate_type
        ));
    }
    if st.predicate.policy.uri != REBUILD_POLICY_URI {
        return Err(format!(
            "policy.uri {:?} is not {REBUILD_POLICY_URI} (a rebuild format this version does not know)",
            st.predicate.policy.uri
        ));
    }
    check_verifier_id(&st.predicate.verifier.id)?;
    let time = parse_rfc3339(&st.predicate.time_verified)
        .filter(|t| format_rfc3339(*t) == st.predicate.time_verified)
        .ok_or_else(|| {
            format!(
                "timeVerified {:?} is not an RFC 3339 time in UTC (2026-01-01T00:00:00Z)",
                st.predicate.time_verified
            )
        })?;
    let image = rebuilt_image(bundle, rebuild.platform.as_ref())?;
    let want = expected_summary(bundle, rebuild.platform.as_ref(), &st.predicate.verifier.id, time)
        .map_err(|e| e.to_string())?;
    if st.subject.first() != want.subject.first() {
        let of = rebuild
            .platform
            .as_ref()
            .map_or(String::new(), |p| format!(", platform {p}"));
        return Err(format!(
            "its subject is not this image ({} {image}{of}): a rebuild of another image",
            bundle.manifest.package.name
        ));
    }
    if st.subject != want.subject {
        return Err(
            "its subjects are not exactly this image and this release statement: a rebuild of another release".into(),
        );
    }
    if st.predicate.input_attestations != want.predicate.input_attestations {
        return Err("inputAttestations are not this bundle's attestations and their statements".into());
    }
    if st.predicate.verification_result != PASSED {
        return Err(format!(
            "verificationResult is {:?}, not {PASSED}",
            st.predicate.verification_result
        ));
    }
    if st != want {
        return Err(format!(
            "its predicate is not the one a rebuild states (resourceUri {}, verifiedLevels [{REBUILT_LEVEL}], slsaVersion {SLSA_VERSION})",
            resource_uri(bundle, &image)
        ));
    }
    // Equal as values and canonical: equal as bytes (checked, not assumed).
    if jcs::to_canonical(&want).map_err(|e| e.to_string())? != env.payload {
        return Err("payload differs from the canonical rebuild statement".into());
    }
    Ok(RebuildClaim {
        verifier: st.predicate.verifier.id,
        time_verified: time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_signers() {
        let fp = Fingerprint::of(&ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key());
        let p = rebuild_path(&fp);
        assert_eq!(p.len(), 83, "fits a tar name field (100 bytes)");
        assert_eq!(path_signer(&p), Some(fp));
        assert_eq!(parse_path(&p), Some((fp, None)));
        for (os, arch, variant) in [
            ("linux", "amd64", None),
            ("linux", "arm64", Some("v8")),
            ("windows", "arm64", Some("v8")),
        ] {
            let platform = Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(str::to_owned),
            };
            let p = platform_rebuild_path(&fp, &platform).unwrap();
            assert!(p.len() <= MAX_REBUILD_PATH, "{p}");
            assert_eq!(parse_path(&p), Some((fp, Some(platform))), "{p}");
        }
        for (os, arch, variant) in [
            ("linux", "arm-x", None),
            ("Linux", "amd64", None),
            ("linux", "", None),
            ("linux", "amd64", Some("v8.1")),
            ("linux", "amd64", Some("averylongvariant")),
        ] {
            let platform = Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(str::to_owned),
            };
            assert!(platform_rebuild_path(&fp, &platform).is_err(), "{platform}");
        }
        let hex = fp.to_hex();
        for bad in [
            format!("rebuilds/{hex}-linux.dsse.json"),
            format!("rebuilds/{hex}-.dsse.json"),
            format!("rebuilds/{hex}-linux-amd64-.dsse.json"),
            format!("rebuilds/{hex}-linux-arm64-v8-x.dsse.json"),
            format!("rebuilds/{hex}-linux-AMD64.dsse.json"),
            format!("rebuilds/{hex}_linux_amd64.dsse.json"),
            format!("rebuilds/{hex}-linux-amd64/x.dsse.json"),
            format!("rebuilds/{hex}-linux-{}.dsse.json", "a".repeat(12)),
        ] {
            assert_eq!(parse_path(&bad), None, "{bad}");
        }
        for bad in [
            "rebuilds/x.dsse.json",
            "rebuilds/0000000000000000000000000000000000000000000000000000000000000000.json",
            "rebuilds/000000000000000000000000000000000000000000000000000000000000000A.dsse.json",
        ] {
            assert_eq!(path_signer(bad), None, "{bad}");
        }
    }

    #[test]
    fn verifier_ids_are_plain_uris() {
        for ok in [DEFAULT_VERIFIER_ID, "urn:example:rebuilder", "https://a.example/r?x=1"] {
            check_verifier_id(ok).unwrap();
        }
        for bad in [
            "",
            "no-scheme",
            "Https://x",
            "https:",
            "https://a b",
            "https://a\u{1b}[8m",
            "https://\u{e9}",
            &format!("https://{}", "a".repeat(MAX_VERIFIER_ID)),
        ] {
            assert!(check_verifier_id(bad).is_err(), "{bad:?}");
        }
    }
}
