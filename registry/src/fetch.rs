//! `ct fetch`: a bundle rebuilt from a registry, byte for byte, in one pass.
//!
//! The small members (image manifest, artifact manifest and its layers) come
//! first and fix every offset of the bundle. The release signature is then
//! checked against the trust store ([`cerro_core::precheck`]) and the image
//! size against [`MAX_IMAGE_BYTES`]: a bundle no trusted key signed costs
//! no layer download.
//!
//! A registry may list several bundles of one image (every push through
//! the referrers API adds one; anyone who can push can add more, and a
//! stale mirror lists old ones). The order of that list is not signed, so
//! it decides nothing: every listed bundle artifact (at most
//! [`MAX_CANDIDATES`]) is examined on its small members only (release
//! envelope prechecked, signed build time read), the ones that fail are
//! skipped (and named in [`Fetched::skipped`]), and the one with the newest
//! signed build time is taken (`Choice`). An older, validly signed bundle
//! listed last is therefore not a rollback. A bundle the registry does not
//! list at all cannot be chosen: against a registry that hides the newest
//! bundle, the store's rollback rule (`ct load`) is the defence. Only then are the config and layers downloaded
//! concurrently, each written straight to its place in the output file and
//! hashed as it arrives ([`cerro_core::bundle::Assembly`]). No temporary
//! layout, no second copy, no second read of the layers.

use std::cell::RefCell;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use cerro_core::bundle::{
    Assembly, Bundle, Member, Skeleton, Unpulled, MAX_ATTESTATION_BYTES, MAX_SELINUX_SIZE, MAX_TLOG_PROOFS,
    RELEASE_ATTESTATION,
};
use cerro_core::digest::{Digest, Hasher};
use cerro_core::dsse::MAX_ENVELOPE_SIZE;
use cerro_core::file::AtomicFile;
use cerro_core::image::{
    bundle_index, choose_platform, index_blob_sequence, parse_manifest, parse_platform_index, BlobRef, ImageParts,
    Platform, PlatformManifest, MANIFEST_TYPES, MAX_JSON_BLOB, MT_DOCKER_LIST, MT_OCI_INDEX, MT_OCI_MANIFEST,
    OCI_LAYOUT_FILE,
};
use cerro_core::manifest::MAX_MANIFEST_SIZE;
use cerro_core::statement::{ReleaseStatement, PROVENANCE_PATH, SLSA_PROVENANCE_V1};
use cerro_core::tlog::proof::MAX_PROOF_BYTES;
use cerro_core::trust::TrustStore;
use cerro_core::verify::Verified;
use cerro_core::Error as CoreError;
use futures_util::{StreamExt, TryStreamExt};
use oci_client::RegistryOperation;
use serde_json::Value;

use crate::client::Registry;
use crate::error::Error;
use crate::push::layer_media_type;
use crate::{ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, MT_CIL, MT_DSSE, MT_REBUILD, MT_TLOG_PROOF, MT_TOML, TITLE};
use cerro_core::rebuild::{path_signer, MAX_REBUILDS, MAX_REBUILD_SIZE};

/// Largest artifact config accepted.
const MAX_CONFIG: u64 = 64 << 10;

/// Largest image accepted by `ct fetch` and `ct pack docker://`: the sum of
/// the sizes its manifest gives its config and layers (of an image index:
/// of every platform's manifest, config and layers, each once), checked
/// before the output file is sized or any of them is requested (64 GiB).
pub const MAX_IMAGE_BYTES: u64 = 64 << 30;

/// Most bundle artifacts of one image `fetch` examines. A referrers list
/// naming more is refused (exit 10), not cut short: which ones were left
/// out would be the lister's choice, and so would the bundle taken. Each
/// candidate costs at most one artifact manifest, one config, one release
/// envelope and one provenance envelope (all bounded) before any layer.
pub const MAX_CANDIDATES: usize = 16;

/// Blobs downloaded (or uploaded) at once. Layers are independent requests; on a fast
/// link one stream cannot keep both the network and the hashing busy.
pub(crate) const PARALLEL: usize = 4;

/// A bundle fetched into a temporary file beside the output, read back and
/// structurally checked, its release signature prechecked, but not yet
/// verified ([`cerro_core::verify::verify`]). Dropped without
/// [`Pending::commit`], it leaves nothing.
#[derive(Debug)]
pub struct Fetched {
    /// The bundle as assembled and read back.
    pub bundle: Bundle,
    /// The artifact manifest it came from.
    pub artifact: Digest,
    /// Its signed build time (the provenance's `finishedOn`, bound by the
    /// release statement), `None` if it has none.
    pub built: Option<u64>,
    /// The other listed bundle artifacts that failed their examination
    /// (release precheck, artifact manifest, provenance binding) and were
    /// not considered, each with the reason.
    pub skipped: Vec<Skipped>,
    /// The rebuilt file, not yet at the output path.
    pub pending: Pending,
}

/// A listed bundle artifact `fetch` did not consider, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The artifact manifest's digest.
    pub artifact: Digest,
    /// The error its examination gave.
    pub reason: String,
}

/// The rebuilt bundle file waiting beside the output path.
#[derive(Debug)]
pub struct Pending {
    file: AtomicFile,
    /// What was written: the image it carries, every member's path, size
    /// and digest, and the mtime of their (canonical) headers: together,
    /// every byte of the file.
    image: Digest,
    members: Vec<Member>,
    mtime: u64,
}

impl Pending {
    /// Moves the bundle to the output path. It takes the proof that this
    /// very bundle was verified: a [`Verified`] bundle whose image and
    /// members (path, size, digest) and mtime, hence every byte of the file,
    /// are the ones written, so an unverified or another bundle cannot be
    /// committed.
    pub fn commit(self, verified: &Verified<Bundle>) -> Result<(), Error> {
        if verified.image.digest != self.image || verified.members != self.members || verified.mtime != self.mtime {
            return Err(CoreError::malformed(
                self.file.path().display().to_string(),
                format!(
                    "not committed: the verified bundle (image {}) is not the one fetched (image {})",
                    verified.image.digest, self.image
                ),
            )
            .into());
        }
        Ok(self.file.commit_unsynced()?)
    }
}

/// What the artifact's layers contribute to the rebuilt bundle.
struct ArtifactParts {
    manifest_toml: Vec<u8>,
    attestations: Vec<(String, Vec<u8>)>,
    selinux: Vec<(String, Vec<u8>)>,
    transparency: Vec<(String, Vec<u8>)>,
    rebuilds: Vec<(String, Vec<u8>)>,
}

/// A bundle artifact manifest, read ([`parse_artifact_manifest`]): the
/// config and the layers it says the artifact carries, each bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactManifest {
    /// The artifact config (a [`CONFIG_MEDIA_TYPE`] of at most 64 KiB).
    pub config: BlobRef,
    /// The layers, in order: each a bundle member (`title`) of the media
    /// type its path requires, within that member's size limit.
    pub layers: Vec<ArtifactLayer>,
}

/// One layer of a bundle artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactLayer {
    /// The bundle member path (its `org.opencontainers.image.title`).
    pub title: String,
    /// The blob (media type checked against the path).
    pub blob: BlobRef,
}

fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Error {
    CoreError::malformed(what, reason).into()
}

/// Fetches `reg`'s reference into a temporary file beside `output`.
/// Every listed bundle artifact (at most [`MAX_CANDIDATES`]) is examined
/// on its small members: its release envelope must pass
/// [`cerro_core::precheck::release_signed`] against `trust` at unix time
/// `now`, and its signed build time is read ([`examine`]); of those that
/// pass, the newest is taken (`Choice`); if none passes, the last
/// listed one's error is returned (a single bundle refused is
/// [`Error::Refused`], as before). Only then, with the image at most
/// [`MAX_IMAGE_BYTES`], is any image blob requested. `on_temp` is told the
/// temporary file's path as soon as it exists, so a caller can arrange for
/// its removal should the process be killed (never called where the file
/// has no name until committed: `O_TMPFILE`, [`AtomicFile`]).
pub fn fetch(
    reg: &Registry,
    output: &Path,
    trust: &TrustStore,
    now: u64,
    on_temp: &mut dyn FnMut(&Path),
) -> Result<Fetched, Error> {
    let (skeleton, artifact, built, skipped) = reg.block_on(locate(reg, trust, now))?;

    let mut out = AtomicFile::create(output, 0o644)?;
    if let Some(temp) = out.temp_path() {
        on_temp(temp);
    }
    let asm = Assembly::start(&skeleton, out.file(), &format!("from {}", reg.shown))?;
    let asm = reg.block_on(download_all(reg, asm))?;
    let bundle = asm.finish()?;
    let pending = Pending {
        file: out,
        image: bundle.image.digest,
        members: bundle.members.clone(),
        mtime: bundle.mtime,
    };
    Ok(Fetched {
        bundle,
        artifact,
        built,
        skipped,
        pending,
    })
}

/// What `ct verify docker://REF` checks: the bundle [`fetch`] would take,
/// assembled without its layers ([`Assembly::finish_unpulled`]), in an
/// anonymous temporary file (sparse: the layers' space is never written).
#[derive(Debug)]
pub struct Inspected {
    /// The bundle, its layers not downloaded.
    pub unpulled: Unpulled,
    /// The artifact manifest it came from.
    pub artifact: Digest,
    /// The other listed bundle artifacts passed over, as [`Fetched::skipped`].
    pub skipped: Vec<Skipped>,
}

/// Chooses the bundle of `reg`'s reference as [`fetch`] does (every
/// listed bundle artifact examined, the release signature prechecked) and
/// downloads its small members, image manifest and config, never a layer.
pub fn inspect(reg: &Registry, trust: &TrustStore, now: u64) -> Result<Inspected, Error> {
    let (skeleton, artifact, _, skipped) = reg.block_on(locate(reg, trust, now))?;
    let file = tempfile::tempfile().map_err(|e| CoreError::io("creating", std::env::temp_dir(), e))?;
    let mut asm = Assembly::start(&skeleton, &file, &format!("from {}", reg.shown))?;
    // The configs (one, or one per platform of an index) are the only blobs
    // downloaded; each bounded by its manifest's descriptor (Assembly::write).
    for i in asm.configs() {
        let Some(config) = asm.blobs().nth(i).cloned() else {
            continue;
        };
        // The reader takes a config of at most MAX_JSON_BLOB: refused here,
        // before a larger one is downloaded into the temporary file.
        if config.size > cerro_core::image::MAX_JSON_BLOB {
            return Err(malformed(
                format!("image config {}", config.digest),
                format!(
                    "{} bytes, more than the {} a config may have",
                    config.size,
                    cerro_core::image::MAX_JSON_BLOB
                ),
            ));
        }
        let asm_cell = RefCell::new(asm);
        reg.block_on(reg.download(&config, |data| {
            let mut a = asm_cell.borrow_mut();
            a.write(i, data)?;
            Ok(a.received(i))
        }))?;
        asm = asm_cell.into_inner();
    }
    Ok(Inspected {
        unpulled: asm.finish_unpulled()?,
        artifact,
        skipped,
    })
}

/// The front half of [`fetch`] and [`inspect`]: the image resolved, its
/// bundle chosen among those listed, the small members downloaded; no
/// config or layer yet.
async fn locate(
    reg: &Registry,
    trust: &TrustStore,
    now: u64,
) -> Result<(Skeleton, Digest, Option<u64>, Vec<Skipped>), Error> {
    {
        reg.authorize(RegistryOperation::Pull).await?;
        let Resolved {
            image,
            bytes: manifest_bytes,
            top,
        } = resolve(reg, true).await?;
        let digest = image.digest;
        let listed: &[PlatformManifest] = match &top {
            Top::Index(entries) => entries,
            Top::Image(_) => &[],
        };

        let referrers = reg.referrers(&digest, ARTIFACT_TYPE).await?;
        if referrers.is_empty() {
            return Err(Error::NoBundle {
                reference: reg.shown.clone(),
                digest: digest.to_string(),
                artifact_type: ARTIFACT_TYPE,
                found: found_instead(reg, &digest).await,
            });
        }
        if referrers.len() > MAX_CANDIDATES {
            return Err(malformed(
                format!("referrers of {digest}"),
                format!(
                    "{} bundle artifacts listed, more than the {MAX_CANDIDATES} examined: refused rather than \
                     letting the list's order choose",
                    referrers.len()
                ),
            ));
        }
        let mut choice = Choice::default();
        for (artifact_digest, artifact_size, _) in &referrers {
            // A candidate that fails its own checks is skipped; a failure
            // to reach the registry is not (else whoever can cut a
            // connection chooses which bundle is taken).
            match examine(reg, artifact_digest, *artifact_size, &image, listed, trust, now).await {
                Err(e) if is_fatal(&e) => return Err(e),
                result => choice.offer(*artifact_digest, result),
            }
        }
        let (chosen, skipped) = choice.finish()?;
        let parts = complete(reg, &chosen).await?;
        // Only now, a trusted signer found: the platform manifests (at
        // most MAX_PLATFORMS, each within its descriptor's size).
        let (platform_manifests, blobs) = match &top {
            Top::Image(image_parts) => (Vec::new(), image_parts.blobs().into_iter().cloned().collect()),
            Top::Index(entries) => pull_platforms(reg, &image, entries).await?,
        };
        check_image_size(&image, &blobs)?;
        let skeleton = Skeleton {
            manifest_toml: parts.manifest_toml,
            attestations: parts.attestations,
            selinux: parts.selinux,
            transparency: parts.transparency,
            rebuilds: parts.rebuilds,
            image,
            reference: chosen.reference.clone(),
            manifest_bytes,
            platform_manifests,
            mtime: chosen.mtime,
        };
        Ok((skeleton, chosen.digest, chosen.built, skipped))
    }
}

pub use crate::cosign::SIGSTORE_BUNDLE_TYPE;

/// The artifact type of a Notary Project (notation) signature.
pub const NOTATION_SIGNATURE_TYPE: &str = "application/vnd.cncf.notary.signature";

/// Artifact types of SBOMs as SBOM tools attach them (SPDX, CycloneDX, syft).
const SBOM_TYPES: [&str; 6] = [
    "application/spdx+json",
    "text/spdx",
    "application/vnd.cyclonedx+json",
    "application/vnd.cyclonedx+xml",
    "application/vnd.cyclonedx",
    "application/vnd.syft+json",
];

/// How many distinct unknown artifact types the "found instead" text names.
const MAX_OTHER_TYPES: usize = 4;

/// How many referrer manifests the "found instead" text reads to name them.
const MAX_INSPECTED: usize = 8;

use crate::cosign::MT_EMPTY;

/// The predicate type cosign 3 gives the DSSE statement of a plain
/// signature (`cosign sign`), in its manifest's
/// `dev.sigstore.bundle.predicateType` annotation.
const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// What the registry holds for `image` when it holds no Cerro Torre
/// bundle: its other referrers by artifact type (through the referrers
/// API or the `sha256-<hex>` fallback index, one bounded read), and the
/// legacy cosign tags `sha256-<hex>.sig`, `.att`, `.sbom` (three bounded
/// manifest reads), and up to [`MAX_INSPECTED`] referrer manifests whose
/// entry does not say what they are. Never a referrer's layers: this says
/// what is there, it verifies none of it. A failure to
/// list is said, not raised: the fetch has already failed for want of a
/// bundle (exit 5), and the listing only informs. Artifact types come
/// from the registry: printed only when they are short printable ASCII.
async fn found_instead(reg: &Registry, image: &Digest) -> String {
    let (found, failures) = referrers_found(reg, image).await;
    let mut counts: Vec<(String, usize)> = Vec::new();
    for f in found {
        match counts.iter_mut().find(|(w, _)| *w == f.what) {
            Some((_, n)) => *n += 1,
            None => counts.push((f.what, 1)),
        }
    }
    let mut text = if counts.is_empty() {
        "found instead: nothing (no referrers, no cosign signature, attestation or SBOM tags)".to_owned()
    } else {
        let parts: Vec<String> = counts.iter().map(|(what, n)| format!("{n} {what}")).collect();
        format!("found instead: {}", parts.join(", "))
    };
    if !failures.is_empty() {
        text.push_str(&format!(" ({})", failures.join("; ")));
    }
    text
}

/// One artifact the registry holds for an image ([`tree`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Found {
    /// What it is, in words (`Cerro Torre bundle`, `cosign signature (…)`,
    /// `SBOM (…)`, `other referrer (…)`): printable ASCII only.
    pub what: String,
    /// Its manifest's digest.
    pub digest: Digest,
    /// How it is attached: `referrer`, or the legacy tag's name.
    pub via: String,
}

/// The artifacts the registry holds for an image ([`tree`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tree {
    /// The image manifest.
    pub image: BlobRef,
    /// Its referrers (referrers API or the `sha256-<hex>` fallback index),
    /// then the legacy cosign tags, in the registry's order.
    pub found: Vec<Found>,
    /// What could not be listed (said, not raised).
    pub failures: Vec<String>,
}

/// `ct tree REF`: what the registry holds for the image `reg` names
/// (as `cosign tree`): Cerro Torre bundles, cosign signatures and
/// attestations (Sigstore bundles and legacy tags), notation signatures,
/// SBOMs, other referrers. Nothing found is verified: this says what is there.
pub fn tree(reg: &Registry) -> Result<Tree, Error> {
    reg.block_on(async {
        reg.authorize(RegistryOperation::Pull).await?;
        let image = resolve(reg, true).await?.image;
        let (found, failures) = referrers_found(reg, &image.digest).await;
        Ok(Tree { image, found, failures })
    })
}

/// The artifacts listed for `image`, classified (see [`found_instead`] for
/// the bounds), and what could not be listed.
async fn referrers_found(reg: &Registry, image: &Digest) -> (Vec<Found>, Vec<String>) {
    let mut found: Vec<Found> = Vec::new();
    let mut failures = Vec::new();
    match reg.referrers_of(image, None).await {
        Ok(list) => {
            let mut other_types: Vec<String> = Vec::new();
            let mut inspected = 0usize;
            for (digest, _, media_type, artifact_type) in list {
                let mut t = artifact_type.unwrap_or(media_type);
                let mut predicate = None;
                // An index entry may carry the config's media type (the
                // empty descriptor) rather than the manifest's artifactType,
                // as cosign 3 writes the fallback index; and a Sigstore
                // bundle is a signature or an attestation only by its
                // manifest's annotation. Read the manifest (bounded, digest
                // checked), at most MAX_INSPECTED of them.
                if (t == MT_EMPTY || t == SIGSTORE_BUNDLE_TYPE || t == MT_OCI_MANIFEST) && inspected < MAX_INSPECTED {
                    inspected += 1;
                    if let Ok(Some(bytes)) = reg.pull_manifest(&reg.at_digest(&digest), MANIFEST_TYPES).await {
                        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                            let own = v.get("artifactType").and_then(Value::as_str).or_else(|| {
                                v.pointer("/config/mediaType")
                                    .and_then(Value::as_str)
                                    .filter(|c| *c != MT_EMPTY)
                            });
                            // The entry's own type stands when it has one.
                            if let Some(own) = own.filter(|_| t != SIGSTORE_BUNDLE_TYPE) {
                                t = own.to_owned();
                            }
                            predicate = v
                                .pointer("/annotations/dev.sigstore.bundle.predicateType")
                                .and_then(Value::as_str)
                                .map(str::to_owned);
                        }
                    }
                }
                let printable = |t: &str| t.len() <= 100 && t.bytes().all(|b| b.is_ascii_graphic());
                let what = match t.as_str() {
                    SIGSTORE_BUNDLE_TYPE => match predicate.as_deref() {
                        Some(COSIGN_SIGN_PREDICATE) => format!("cosign signature (Sigstore bundle, {t})"),
                        Some(p) if printable(p) => format!("cosign attestation {p} (Sigstore bundle, {t})"),
                        _ => format!("cosign signature or attestation (Sigstore bundle, {t})"),
                    },
                    ARTIFACT_TYPE => format!("Cerro Torre bundle ({t})"),
                    NOTATION_SIGNATURE_TYPE => format!("notation signature ({t})"),
                    t if SBOM_TYPES.contains(&t) => format!("SBOM ({t})"),
                    t if printable(t) => {
                        let known = other_types.iter().any(|o| o == t);
                        if !known && other_types.len() < MAX_OTHER_TYPES {
                            other_types.push(t.to_owned());
                        }
                        if other_types.iter().any(|o| o == t) {
                            format!("other referrer ({t})")
                        } else {
                            "other referrer".to_owned()
                        }
                    }
                    _ => "other referrer (unprintable type)".to_owned(),
                };
                found.push(Found {
                    what,
                    digest,
                    via: "referrer".to_owned(),
                });
            }
        }
        Err(e) => failures.push(format!("listing referrers failed: {e}")),
    }
    let hex = image.hex();
    for (suffix, what) in [
        ("sig", "cosign signature (legacy tag"),
        ("att", "cosign attestation (legacy tag"),
        ("sbom", "SBOM (legacy cosign tag"),
    ] {
        let tag = format!("sha256-{hex}.{suffix}");
        match reg.pull_manifest(&reg.at_tag(&tag), MANIFEST_TYPES).await {
            Ok(Some(bytes)) => found.push(Found {
                what: format!("{what} {tag})"),
                digest: Digest::of(&bytes),
                via: tag,
            }),
            Ok(None) => {}
            Err(e) => failures.push(format!("reading tag {tag} failed: {e}")),
        }
    }
    (found, failures)
}

/// Whether an error examining one candidate stops the fetch (the registry
/// or the local disk failed) rather than skipping that candidate (its
/// content failed a check).
fn is_fatal(e: &Error) -> bool {
    match e {
        Error::Network { .. } | Error::BadReference { .. } | Error::NoBundle { .. } => true,
        Error::Core(c) => matches!(c, CoreError::Io { .. } | CoreError::Network { .. }),
        Error::Refused(_) => false,
    }
}

/// A listed bundle artifact whose small members passed the checks that
/// come before any layer download.
#[derive(Debug)]
struct Candidate {
    digest: Digest,
    manifest: ArtifactManifest,
    mtime: u64,
    reference: Option<String>,
    /// The signed build time, if the bundle has one.
    built: Option<u64>,
    /// Layers already downloaded (release, provenance), by index.
    held: Vec<Option<Vec<u8>>>,
}

/// The choice among the examined candidates, offered in listing order: the
/// one with the newest signed build time; a candidate with a build time is
/// newer than one without, and among equals the later listed wins (the
/// order a push through the referrers API gives, when nothing signed tells
/// them apart). A candidate that loses is dropped at once, with the
/// members it downloaded, so at most two are held. The failed ones are
/// kept as [`Skipped`]; with none passing, the last listed one's error.
#[derive(Default)]
struct Choice {
    best: Option<Candidate>,
    skipped: Vec<Skipped>,
    last_error: Option<Error>,
}

impl Choice {
    fn offer(&mut self, digest: Digest, result: Result<Candidate, Error>) {
        match result {
            Ok(c) => {
                if self.best.as_ref().is_none_or(|b| c.built >= b.built) {
                    self.best = Some(c);
                }
            }
            Err(e) => {
                self.skipped.push(Skipped {
                    artifact: digest,
                    reason: e.to_string(),
                });
                self.last_error = Some(e);
            }
        }
    }

    fn finish(self) -> Result<(Candidate, Vec<Skipped>), Error> {
        match (self.best, self.last_error) {
            (Some(b), _) => Ok((b, self.skipped)),
            (None, Some(e)) => Err(e),
            (None, None) => Err(malformed("fetch", "no bundle artifact to examine")),
        }
    }
}

/// Examines one listed bundle artifact on its small members only: the
/// artifact manifest ([`parse_artifact_manifest`]), its config, the release
/// envelope (which must pass [`cerro_core::precheck::release_signed`],
/// else [`Error::Refused`]) and, if the release statement binds one, the
/// provenance envelope, whose statement must be the one bound and whose
/// `finishedOn` is the signed build time.
async fn examine(
    reg: &Registry,
    digest: &Digest,
    size: u64,
    image: &BlobRef,
    platforms: &[PlatformManifest],
    trust: &TrustStore,
    now: u64,
) -> Result<Candidate, Error> {
    let bytes = reg
        .pull_manifest(&reg.at_digest(digest), &[MT_OCI_MANIFEST])
        .await?
        .ok_or_else(|| Error::Network {
            op: "pulling artifact",
            target: digest.to_string(),
            message: "listed as a referrer but absent".into(),
        })?;
    if bytes.len() as u64 != size {
        return Err(CoreError::SizeMismatch {
            what: format!("artifact manifest {digest}"),
            expected: size,
            actual: bytes.len() as u64,
        }
        .into());
    }
    let what = format!("artifact manifest {digest}");
    let manifest = parse_artifact_manifest(&what, &bytes, &image.digest)?;
    let config = reg.download_small(&manifest.config).await?;
    let (mtime, reference) = parse_artifact_config(&config)?;

    // The release envelope first: for a bundle no trusted key signed,
    // nothing else is downloaded.
    let mut held: Vec<Option<Vec<u8>>> = vec![None; manifest.layers.len()];
    let release_at = manifest.layers.iter().position(|l| l.title == RELEASE_ATTESTATION);
    if let Some(i) = release_at {
        held[i] = Some(reg.download_small(&manifest.layers[i].blob).await?);
    }
    let release = release_at.and_then(|i| held[i].as_deref());
    cerro_core::precheck::release_signed_for(release, &image.digest, platforms, trust, now).map_err(Error::Refused)?;
    let bound = release.map(bound_provenance).transpose()?.flatten();
    let mut built = None;
    if let Some(bound) = bound {
        let i = manifest
            .layers
            .iter()
            .position(|l| l.title == PROVENANCE_PATH)
            .ok_or_else(|| {
                malformed(
                    &what,
                    format!("the release statement binds {PROVENANCE_PATH}, which it lacks"),
                )
            })?;
        let prov = reg.download_small(&manifest.layers[i].blob).await?;
        built = signed_build_time(&prov, &bound)?;
        held[i] = Some(prov);
    }
    Ok(Candidate {
        digest: *digest,
        manifest,
        mtime,
        reference,
        built,
        held,
    })
}

/// The digest the release statement (in envelope `release`, already
/// prechecked) binds for the provenance statement, if it binds one.
fn bound_provenance(release: &[u8]) -> Result<Option<Digest>, Error> {
    let env = cerro_core::dsse::Envelope::parse(RELEASE_ATTESTATION, release)?;
    let st = ReleaseStatement::parse_release(RELEASE_ATTESTATION, &env.payload)?;
    Ok(st
        .predicate
        .attestations
        .iter()
        .find(|a| a.path == PROVENANCE_PATH)
        .map(|a| a.digest))
}

/// The build time the provenance envelope `prov` gives, once its statement
/// is the one the release statement bound (`bound`): its
/// `runDetails.metadata.finishedOn` as unix seconds (`None` if absent or
/// the epoch, which a build without `SOURCE_DATE_EPOCH` writes). The same
/// reading as the policy's build-time fact.
fn signed_build_time(prov: &[u8], bound: &Digest) -> Result<Option<u64>, Error> {
    let env = cerro_core::dsse::Envelope::parse(PROVENANCE_PATH, prov)?;
    let actual = Digest::of(&env.payload);
    if actual != *bound {
        return Err(CoreError::DigestMismatch {
            what: format!("{PROVENANCE_PATH}'s statement (bound by the release statement)"),
            expected: *bound,
            actual,
        }
        .into());
    }
    let st: Value = serde_json::from_slice(&env.payload).map_err(|e| malformed(PROVENANCE_PATH, e.to_string()))?;
    if st.get("predicateType").and_then(Value::as_str) != Some(SLSA_PROVENANCE_V1) {
        return Err(malformed(
            PROVENANCE_PATH,
            format!("its predicateType is not {SLSA_PROVENANCE_V1}"),
        ));
    }
    match st.pointer("/predicate/runDetails/metadata/finishedOn") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match cerro_core::timestamp::parse_rfc3339(s) {
            Some(0) => Ok(None),
            Some(t) => Ok(Some(t)),
            None => Err(malformed(PROVENANCE_PATH, format!("finishedOn {s:?} is not RFC 3339"))),
        },
        Some(_) => Err(malformed(PROVENANCE_PATH, "finishedOn is not a string")),
    }
}

/// Downloads the chosen candidate's remaining layers (all small, each
/// bounded by [`parse_artifact_manifest`]).
async fn complete(reg: &Registry, c: &Candidate) -> Result<ArtifactParts, Error> {
    let what = format!("artifact manifest {}", c.digest);
    let (mut attestations, mut selinux, mut transparency, mut rebuilds, mut manifest_toml) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), None);
    for (layer, held) in c.manifest.layers.iter().zip(&c.held) {
        let bytes = match held {
            Some(b) => b.clone(),
            None => reg.download_small(&layer.blob).await?,
        };
        match layer.blob.media_type.as_str() {
            MT_TOML if manifest_toml.is_none() => manifest_toml = Some(bytes),
            MT_TOML => return Err(malformed(&what, "two manifest.toml layers")),
            MT_DSSE => attestations.push((layer.title.clone(), bytes)),
            MT_TLOG_PROOF => transparency.push((layer.title.clone(), bytes)),
            MT_REBUILD => rebuilds.push((layer.title.clone(), bytes)),
            _ => selinux.push((layer.title.clone(), bytes)),
        }
    }
    Ok(ArtifactParts {
        manifest_toml: manifest_toml.ok_or_else(|| malformed(&what, "no manifest.toml layer"))?,
        attestations,
        selinux,
        transparency,
        rebuilds,
    })
}

/// Refuses an image whose `blobs` (its config and layers; of an image
/// index, every platform's manifest, config and layers) add up to more
/// than [`MAX_IMAGE_BYTES`] (before any file is sized for them).
fn check_image_size(image: &BlobRef, blobs: &[BlobRef]) -> Result<(), Error> {
    let total = blobs
        .iter()
        .try_fold(0u64, |sum, b| sum.checked_add(b.size))
        .unwrap_or(u64::MAX);
    if total > MAX_IMAGE_BYTES {
        return Err(malformed(
            format!("image manifest {}", image.digest),
            format!("its config and layers add up to {total} bytes, more than the {MAX_IMAGE_BYTES} accepted"),
        ));
    }
    Ok(())
}

/// Downloads every config and layer blob into the assembly, [`PARALLEL`]
/// at a time, reporting progress as bytes arrive.
async fn download_all(reg: &Registry, asm: Assembly) -> Result<Assembly, Error> {
    let blobs: Vec<BlobRef> = asm.blobs().cloned().collect();
    let progress = reg.progress();
    progress.start("fetching", blobs.iter().map(|b| b.size).sum());
    let asm = RefCell::new(asm);
    futures_util::stream::iter(blobs.iter().enumerate())
        .map(|(i, blob)| {
            let asm = &asm;
            reg.download(blob, move |data| {
                let mut a = asm.borrow_mut();
                a.write(i, data)?;
                progress.advance(data.len() as u64);
                Ok(a.received(i))
            })
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    progress.finish();
    Ok(asm.into_inner())
}

/// What a reference resolves to: its top manifest (descriptor and bytes)
/// and what that is.
struct Resolved {
    image: BlobRef,
    bytes: Vec<u8>,
    top: Top,
}

/// An image manifest, or an image index of a multi-platform image.
enum Top {
    /// A single image's config and layers.
    Image(ImageParts),
    /// The platform manifests an index names (at most
    /// [`cerro_core::image::MAX_PLATFORMS`], each at most
    /// [`cerro_core::image::MAX_JSON_BLOB`]), none yet pulled.
    Index(Vec<PlatformManifest>),
}

/// Resolves the reference to its top manifest, read strictly; an OCI image
/// index only with `index` (a bundle may hold one). An index is read by
/// core's one reader of them ([`parse_platform_index`]: 1 to 16 image
/// manifests, each with a platform, none twice), and each entry's size is
/// bounded before any of them is requested.
async fn resolve(reg: &Registry, index: bool) -> Result<Resolved, Error> {
    resolve_accepting(reg, if index { &[MT_OCI_INDEX] } else { &[] }).await
}

/// [`resolve`], taking as an index any of `indexes` (media types of
/// indexes: the OCI one, and for `ct pack docker://` the Docker manifest
/// list too, so that it is seen and named rather than left to the
/// registry, which may answer a client that does not accept a list with
/// one platform's manifest it chose).
async fn resolve_accepting(reg: &Registry, indexes: &[&str]) -> Result<Resolved, Error> {
    let mut accepted = MANIFEST_TYPES.to_vec();
    accepted.extend_from_slice(indexes);
    let index = !indexes.is_empty();
    let manifest_bytes = reg
        .pull_manifest(&reg.reference, &accepted)
        .await?
        .ok_or_else(|| Error::Network {
            op: "resolving",
            target: reg.shown.clone(),
            message: "no such manifest in the registry".into(),
        })?;
    let digest = Digest::of(&manifest_bytes);
    let declared = match cerro_core::image::declared_media_type(&format!("image manifest {digest}"), &manifest_bytes) {
        Ok(d) => d,
        // Not an image manifest to the strict reader: an image index, if
        // that reader takes it for one and it says so.
        Err(e) if index => {
            let what = format!("image index {digest}");
            let said =
                if cerro_core::image::strict::check(&what, &manifest_bytes, cerro_core::image::strict::DocKind::Index)
                    .is_ok()
                {
                    serde_json::from_slice::<Value>(&manifest_bytes)
                        .ok()
                        .and_then(|v| v.get("mediaType").and_then(Value::as_str).map(str::to_owned))
                } else {
                    None
                };
            match said {
                Some(mt) if indexes.contains(&mt.as_str()) => Some(mt),
                _ => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let image = BlobRef {
        media_type: declared.unwrap_or_else(|| MT_OCI_MANIFEST.to_owned()),
        digest,
        size: manifest_bytes.len() as u64,
    };
    let top = if indexes.contains(&image.media_type.as_str()) {
        let what = format!("image index {digest}");
        let entries = parse_platform_index(&what, &manifest_bytes)?;
        if let Some(e) = entries.iter().find(|e| e.manifest.size > MAX_JSON_BLOB) {
            return Err(malformed(
                what,
                format!(
                    "the manifest of platform {} ({}) claims {} bytes, more than the {MAX_JSON_BLOB} a manifest may have",
                    e.platform, e.manifest.digest, e.manifest.size
                ),
            ));
        }
        Top::Index(entries)
    } else {
        Top::Image(parse_manifest(
            &format!("image manifest {digest}"),
            &manifest_bytes,
            &image.media_type,
        )?)
    };
    Ok(Resolved {
        image,
        bytes: manifest_bytes,
        top,
    })
}

/// Pulls the platform manifests of the index `index` names (`entries`, in
/// index order), each by digest within its descriptor's size, which it
/// must have exactly (the digest is checked by the pull), and parses it.
/// Returns their bytes and every blob a bundle of the index carries after
/// it (spec/bundle-format.md §5.5).
async fn pull_platforms(
    reg: &Registry,
    index: &BlobRef,
    entries: &[PlatformManifest],
) -> Result<(Vec<Vec<u8>>, Vec<BlobRef>), Error> {
    let mut bytes = Vec::with_capacity(entries.len());
    let mut parts = Vec::with_capacity(entries.len());
    for e in entries {
        let what = format!("image manifest {} ({})", e.manifest.digest, e.platform);
        let b = reg
            .pull_manifest_within(&reg.at_digest(&e.manifest.digest), MANIFEST_TYPES, e.manifest.size)
            .await?
            .ok_or_else(|| Error::Network {
                op: "pulling",
                target: what.clone(),
                message: format!("named by the image index {}, but absent", index.digest),
            })?;
        if b.len() as u64 != e.manifest.size {
            return Err(CoreError::SizeMismatch {
                what,
                expected: e.manifest.size,
                actual: b.len() as u64,
            }
            .into());
        }
        parts.push(parse_manifest(&what, &b, &e.manifest.media_type)?);
        bytes.push(b);
    }
    let platforms: Vec<(&BlobRef, &ImageParts)> = entries.iter().map(|e| &e.manifest).zip(&parts).collect();
    let blobs = index_blob_sequence(&index.digest, &platforms)?;
    Ok((bytes, blobs))
}

/// Pulls the image `reg` names (no bundle needed) into the OCI layout
/// directory `dir`, named `ref_name` in its index: what `ct pack docker://`
/// packs. Returns the descriptor `index.json` names.
///
/// - An image manifest: it, its config and its layers.
/// - An OCI image index, without `platform`: the index (the digest the tag
///   names, which `ct verify docker://` and the shim see), every platform
///   manifest within its descriptor's size ([`pull_platforms`]), and every
///   config and layer once (a layer shared by platforms once): the layout
///   of a multi-platform image, which `ct pack` binds whole.
/// - An index (OCI, or a Docker manifest list) with `platform`: the one
///   platform manifest it selects ([`choose_platform`]; none or several is
///   refused, naming the platforms the index has), its config and layers.
///   The layout then names that manifest, as a single image.
/// - A Docker manifest list without `platform` is refused, naming it: a
///   bundle binds OCI image indexes only.
///
/// Nothing is requested beyond the index and manifests before the sizes
/// the manifests give add up within [`MAX_IMAGE_BYTES`]. Blobs are
/// downloaded concurrently, each hashed as it streams to disk; one that is
/// not what its digest says is refused.
pub fn pull_image(reg: &Registry, dir: &Path, ref_name: &str, platform: Option<&Platform>) -> Result<BlobRef, Error> {
    let blobs_dir = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs_dir).map_err(|e| CoreError::io("creating", &blobs_dir, e))?;
    let write = |digest: &Digest, bytes: &[u8]| {
        let path = blobs_dir.join(digest.hex());
        fs::write(&path, bytes).map_err(|e| Error::from(CoreError::io("writing", &path, e)))
    };
    let image = reg.block_on(async {
        reg.authorize(RegistryOperation::Pull).await?;
        let r = resolve_accepting(reg, &[MT_OCI_INDEX, MT_DOCKER_LIST]).await?;
        match r.top {
            Top::Image(parts) => {
                let blobs: Vec<BlobRef> = parts.blobs().into_iter().cloned().collect();
                check_image_size(&r.image, &blobs)?;
                write(&r.image.digest, &r.bytes)?;
                download_to_files(reg, &blobs_dir, &blobs).await?;
                Ok::<_, Error>(r.image)
            }
            Top::Index(entries) => {
                let what = if r.image.media_type == MT_DOCKER_LIST {
                    format!("Docker manifest list {} of {}", r.image.digest, reg.shown)
                } else {
                    format!("image index {} of {}", r.image.digest, reg.shown)
                };
                // What index.json will name: the index, or the one platform
                // manifest asked for.
                let (named, chosen) = match platform {
                    Some(p) => {
                        let c = choose_platform(&what, &entries, p)?.clone();
                        (c.manifest.clone(), vec![c])
                    }
                    None if r.image.media_type == MT_DOCKER_LIST => {
                        return Err(malformed(
                            what,
                            format!(
                                "a bundle binds an OCI image index ({MT_OCI_INDEX}), not a Docker manifest list \
                                 ({MT_DOCKER_LIST}): pack one platform (--platform OS/ARCH), or convert the list \
                                 (skopeo copy --all --format oci docker://REF oci:DIR:REF) and pack oci:DIR:REF"
                            ),
                        ))
                    }
                    None => (r.image.clone(), entries),
                };
                // The manifests are pulled within their descriptors' sizes
                // (bounded by resolve), then the blobs they name summed.
                let (bytes, blobs) = pull_platforms(reg, &r.image, &chosen).await?;
                check_image_size(&named, &blobs)?;
                if named.digest == r.image.digest {
                    write(&r.image.digest, &r.bytes)?;
                }
                for (c, b) in chosen.iter().zip(&bytes) {
                    write(&c.manifest.digest, b)?;
                }
                let rest: Vec<BlobRef> = blobs
                    .into_iter()
                    .filter(|b| !chosen.iter().any(|c| c.manifest.digest == b.digest))
                    .collect();
                download_to_files(reg, &blobs_dir, &rest).await?;
                Ok(named)
            }
        }
    })?;
    fs::write(dir.join("index.json"), bundle_index(&image, Some(ref_name))?)
        .map_err(|e| CoreError::io("writing", dir.join("index.json"), e))?;
    fs::write(dir.join("oci-layout"), OCI_LAYOUT_FILE)
        .map_err(|e| CoreError::io("writing", dir.join("oci-layout"), e))?;
    Ok(image)
}

/// Streams each blob of `blobs` (configs and layers, each once) into
/// `blobs_dir/<hex>.part`, [`PARALLEL`] at a time, hashing it as it goes,
/// and gives it its digest name only once it matched.
async fn download_to_files(reg: &Registry, blobs_dir: &Path, blobs: &[BlobRef]) -> Result<(), Error> {
    let progress = reg.progress();
    progress.start("pulling", blobs.iter().map(|b| b.size).sum());
    futures_util::stream::iter(blobs.iter())
        .map(|blob| async move {
            let part = blobs_dir.join(format!("{}.part", blob.digest.hex()));
            let file = fs::File::create(&part).map_err(|e| CoreError::io("creating", &part, e))?;
            let state = RefCell::new((file, Hasher::new()));
            reg.download(blob, |data| {
                let (file, hasher) = &mut *state.borrow_mut();
                hasher.update(data);
                file.write_all(data).map_err(|e| CoreError::io("writing", &part, e))?;
                progress.advance(data.len() as u64);
                Ok(hasher.len())
            })
            .await?;
            let (actual, _) = state.into_inner().1.finish();
            if actual != blob.digest {
                return Err(Error::from(CoreError::DigestMismatch {
                    what: format!("blob {} from {}", blob.digest, reg.shown),
                    expected: blob.digest,
                    actual,
                }));
            }
            let name = blobs_dir.join(blob.digest.hex());
            fs::rename(&part, &name).map_err(|e| CoreError::io("renaming", &part, e))?;
            Ok(())
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    progress.finish();
    Ok(())
}

/// Reads a bundle artifact manifest (`what` names it in errors) of image
/// manifest `image`: an image manifest by core's strict reader (no
/// duplicate, case-variant or index keys, as for the image's own), of
/// [`ARTIFACT_TYPE`], whose subject is `image`, with a
/// [`CONFIG_MEDIA_TYPE`] config of at most 64 KiB and layers that are
/// bundle members, each titled, of the media type its path requires and
/// within its size limit, all together within the bundle's attestation
/// budget. Bytes from the registry: never panics, every fault is an error.
pub fn parse_artifact_manifest(what: &str, bytes: &[u8], image: &Digest) -> Result<ArtifactManifest, Error> {
    cerro_core::image::strict::check(what, bytes, cerro_core::image::strict::DocKind::Manifest)?;
    let m: Value = serde_json::from_slice(bytes).map_err(|e| malformed(what, e.to_string()))?;
    if m.get("artifactType").and_then(Value::as_str) != Some(ARTIFACT_TYPE) {
        return Err(malformed(what, format!("artifactType is not {ARTIFACT_TYPE}")));
    }
    let subject = m.get("subject").and_then(|s| s.get("digest")).and_then(Value::as_str);
    if subject != Some(image.to_string().as_str()) {
        return Err(malformed(what, format!("its subject is not the image {image}")));
    }
    let (cfg_digest, cfg_size, cfg_type) = parse_descriptor(what, m.get("config"))?;
    if cfg_type != CONFIG_MEDIA_TYPE || cfg_size > MAX_CONFIG {
        return Err(malformed(
            what,
            format!("config is not a {CONFIG_MEDIA_TYPE} of at most {MAX_CONFIG} bytes"),
        ));
    }
    let mut total = 0u64;
    let mut proofs = 0usize;
    let mut last_rebuild: Option<String> = None;
    let mut rebuild_count = 0usize;
    let mut layers = Vec::new();
    let listed = m
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(what, "no layers"))?;
    for l in listed {
        let (d, size, mt) = parse_descriptor(what, Some(l))?;
        let title = l
            .get("annotations")
            .and_then(|a| a.get(TITLE))
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(what, format!("layer {d} has no {TITLE}")))?
            .to_owned();
        let expected_type = layer_media_type(&title)
            .ok_or_else(|| malformed(what, format!("layer {title:?} is not a bundle member it may carry")))?;
        if mt != expected_type {
            return Err(malformed(
                what,
                format!("layer {title:?} has media type {mt}, expected {expected_type}"),
            ));
        }
        if expected_type == MT_TLOG_PROOF {
            // Proofs have their own budget: at most the reader's count,
            // each within a proof's bound (the reader parses them).
            proofs += 1;
            if proofs > MAX_TLOG_PROOFS || size > MAX_PROOF_BYTES as u64 {
                return Err(malformed(
                    what,
                    format!("layer {title:?}: more than {MAX_TLOG_PROOFS} proofs, or {size} bytes, more than a proof may have"),
                ));
            }
            layers.push(ArtifactLayer {
                title,
                blob: blob_ref(d, size, mt),
            });
            continue;
        }
        if expected_type == MT_REBUILD {
            // Rebuild attestations (spec/bundle-format.md §3.5) are bounded
            // as the bundle reader bounds the members, before any download:
            // a name the reader takes (`rebuilds/<key id hex>.dsse.json`, or
            // a platform's `rebuilds/<key id hex>-<os>-<arch>[-<variant>].dsse.json`),
            // in bundle order with no member twice, at most MAX_REBUILDS, each
            // within MAX_REBUILD_SIZE, outside the attestation budget (they
            // are not the release's). Their content is parsed when the
            // assembled bundle is read back.
            rebuild_count += 1;
            if path_signer(&title).is_none() {
                return Err(malformed(
                    what,
                    format!(
                        "layer {title:?} is not a rebuild member name \
                         (rebuilds/<key id>.dsse.json or rebuilds/<key id>-<os>-<arch>[-<variant>].dsse.json)"
                    ),
                ));
            }
            if last_rebuild.as_ref().is_some_and(|last| *last >= title) {
                return Err(malformed(
                    what,
                    format!("rebuild layer {title:?} repeats a member or is out of bundle order"),
                ));
            }
            if rebuild_count > MAX_REBUILDS || size > MAX_REBUILD_SIZE {
                return Err(malformed(
                    what,
                    format!(
                        "layer {title:?}: more than {MAX_REBUILDS} rebuild attestations, or {size} bytes, more than \
                         the {MAX_REBUILD_SIZE} one may have"
                    ),
                ));
            }
            last_rebuild = Some(title.clone());
            layers.push(ArtifactLayer {
                title,
                blob: blob_ref(d, size, mt),
            });
            continue;
        }
        let limit = match expected_type {
            MT_TOML => MAX_MANIFEST_SIZE,
            MT_DSSE => MAX_ENVELOPE_SIZE,
            MT_CIL => MAX_SELINUX_SIZE,
            _ => 0,
        };
        total = total.saturating_add(size);
        if size > limit || total > MAX_ATTESTATION_BYTES + MAX_MANIFEST_SIZE {
            return Err(malformed(
                what,
                format!("layer {title:?} claims {size} bytes, more than allowed"),
            ));
        }
        layers.push(ArtifactLayer {
            title,
            blob: blob_ref(d, size, mt),
        });
    }
    Ok(ArtifactManifest {
        config: blob_ref(cfg_digest, cfg_size, cfg_type),
        layers,
    })
}

/// The artifact config's (unsigned) tar mtime and image reference.
fn parse_artifact_config(config: &[u8]) -> Result<(u64, Option<String>), Error> {
    let cfg: Value = serde_json::from_slice(config).map_err(|e| malformed("artifact config", e.to_string()))?;
    if cfg.get("format").and_then(Value::as_str) != Some("1") {
        return Err(malformed(
            "artifact config",
            "unknown format (this ct reads format \"1\")",
        ));
    }
    let mtime = cfg
        .get("mtime")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("artifact config", "no mtime"))?;
    let reference = match cfg.get("reference") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("artifact config", "reference is neither a string nor null")),
    };
    Ok((mtime, reference))
}

fn blob_ref(digest: Digest, size: u64, media_type: String) -> BlobRef {
    BlobRef {
        media_type,
        digest,
        size,
    }
}

fn parse_descriptor(what: &str, d: Option<&Value>) -> Result<(Digest, u64, String), Error> {
    let d = d.ok_or_else(|| malformed(what, "missing descriptor"))?;
    let digest = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(what, "descriptor without digest"))?;
    let digest = Digest::parse(digest)?;
    let size = d
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed(what, "descriptor without size"))?;
    let mt = d
        .get("mediaType")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(what, "descriptor without mediaType"))?;
    Ok((digest, size, mt.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use cerro_core::bundle::{read_bundle_file, NoExtract};
    use cerro_core::image::layout::{basic_config, LayoutBuilder};
    use cerro_core::image::source::SourceImage;
    use cerro_core::manifest::{ImageRef, PackageManifest};
    use cerro_core::policy_interface::NoPolicy;
    use cerro_core::trust::{KeyEntry, TrustLevel};
    use ed25519_dalek::SigningKey;

    use super::*;

    /// Proof layers (spec/transparency.md §12.4) are taken with their own
    /// bounds: two pass; one past the reader's count, one larger than a
    /// proof, or a proof path of another media type are refused.
    #[test]
    fn proof_layers_are_taken_within_their_own_bounds() {
        use cerro_core::bundle::tlog_proof_path;
        use serde_json::json;
        let image = Digest::of(b"image");
        let layer = |title: &str, mt: &str, size: u64| {
            json!({"mediaType": mt, "digest": Digest::of(title.as_bytes()).to_string(), "size": size,
                   "annotations": {TITLE: title}})
        };
        let manifest = |layers: Vec<Value>| {
            serde_json::to_vec(&json!({
                "schemaVersion": 2, "mediaType": MT_OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
                "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": Digest::of(b"c").to_string(), "size": 10},
                "layers": layers,
                "subject": {"mediaType": MT_OCI_MANIFEST, "digest": image.to_string(), "size": 5},
            }))
            .unwrap()
        };
        let proof = |i: usize, size: u64| layer(&tlog_proof_path(&format!("log{i}.example")), MT_TLOG_PROOF, size);
        let with = |extra: Vec<Value>| {
            let mut l = vec![layer("manifest.toml", MT_TOML, 100)];
            l.extend(extra);
            parse_artifact_manifest("artifact", &manifest(l), &image)
        };
        let m = with(vec![proof(1, 500), proof(2, 500)]).unwrap();
        assert_eq!(
            m.layers.iter().filter(|l| l.blob.media_type == MT_TLOG_PROOF).count(),
            2
        );
        assert!(with((0..=MAX_TLOG_PROOFS).map(|i| proof(i, 500)).collect()).is_err());
        assert!(with(vec![proof(1, MAX_PROOF_BYTES as u64 + 1)]).is_err());
        assert!(with(vec![layer(&tlog_proof_path("x"), MT_DSSE, 10)]).is_err());
    }

    /// Rebuild layers (spec/bundle-format.md §3.5, §15) are bounded as the
    /// bundle reader bounds the members: two (of two keys, in bundle order)
    /// pass; one more than MAX_REBUILDS, one larger than MAX_REBUILD_SIZE,
    /// a name the reader refuses, a key twice, the wrong order, or a rebuild
    /// path of another media type are refused before any download.
    #[test]
    fn rebuild_layers_are_taken_within_the_reader_s_bounds() {
        use serde_json::json;
        let image = Digest::of(b"image");
        let layer = |title: &str, mt: &str, size: u64| {
            json!({"mediaType": mt, "digest": Digest::of(title.as_bytes()).to_string(), "size": size,
                   "annotations": {TITLE: title}})
        };
        let manifest = |layers: Vec<Value>| {
            serde_json::to_vec(&json!({
                "schemaVersion": 2, "mediaType": MT_OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
                "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": Digest::of(b"c").to_string(), "size": 10},
                "layers": layers,
                "subject": {"mediaType": MT_OCI_MANIFEST, "digest": image.to_string(), "size": 5},
            }))
            .unwrap()
        };
        let path = |i: usize| format!("rebuilds/{i:064x}.dsse.json");
        let rebuild = |i: usize, size: u64| layer(&path(i), MT_REBUILD, size);
        let with = |extra: Vec<Value>| {
            let mut l = vec![layer("manifest.toml", MT_TOML, 100)];
            l.extend(extra);
            parse_artifact_manifest("artifact", &manifest(l), &image)
        };
        let m = with(vec![rebuild(1, 2000), rebuild(2, MAX_REBUILD_SIZE)]).unwrap();
        let titles: Vec<&str> = m
            .layers
            .iter()
            .filter(|l| l.blob.media_type == MT_REBUILD)
            .map(|l| l.title.as_str())
            .collect();
        assert_eq!(titles, [path(1), path(2)]);
        // Sixteen pass, outside the attestation budget; seventeen do not.
        assert!(with((1..=MAX_REBUILDS).map(|i| rebuild(i, MAX_REBUILD_SIZE)).collect()).is_ok());
        let e = with((1..=MAX_REBUILDS + 1).map(|i| rebuild(i, 500)).collect()).unwrap_err();
        assert!(e.to_string().contains("more than 16 rebuild attestations"), "{e}");
        let e = with(vec![rebuild(1, MAX_REBUILD_SIZE + 1)]).unwrap_err();
        assert!(e.to_string().contains("65537 bytes"), "{e}");
        assert_eq!(CoreError::from(e).exit_code(), cerro_core::ExitCode::Malformed);
        for bad in [
            "rebuilds/x.dsse.json",
            "rebuilds/000000000000000000000000000000000000000000000000000000000000000A.dsse.json",
            "rebuilds/sub/0000000000000000000000000000000000000000000000000000000000000000.dsse.json",
            "rebuilds/0000000000000000000000000000000000000000000000000000000000000000.json",
        ] {
            let e = with(vec![layer(bad, MT_REBUILD, 10)]).unwrap_err();
            assert!(e.to_string().contains("not a rebuild member name"), "{bad}: {e}");
        }
        let e = with(vec![rebuild(1, 10), rebuild(1, 10)]).unwrap_err();
        assert!(e.to_string().contains("repeats a member"), "{e}");
        // One key's rebuilds of two platforms and of the whole, in bundle
        // order (`-` sorts before `.`), pass; a platform name out of order
        // does not.
        let of = |p: &str| layer(&format!("rebuilds/{:064x}-{p}.dsse.json", 1), MT_REBUILD, 10);
        assert!(with(vec![of("linux-amd64"), of("linux-arm64-v8"), rebuild(1, 10)]).is_ok());
        assert!(with(vec![of("linux-arm64-v8"), of("linux-amd64")]).is_err());
        assert!(with(vec![rebuild(2, 10), rebuild(1, 10)]).is_err());
        // A rebuild path as a DSSE layer, a rebuild type on an attestation path.
        assert!(with(vec![layer(&path(1), MT_DSSE, 10)]).is_err());
        assert!(with(vec![layer("attestations/x.dsse.json", MT_REBUILD, 10)]).is_err());
    }

    /// Two bundles of one small image, signed by different keys, both
    /// verified against a store trusting both keys.
    fn two_verified(dir: &Path) -> (Vec<u8>, Verified<Bundle>, Verified<Bundle>) {
        let layout = dir.join("layout");
        let mut b = LayoutBuilder::new(&layout).unwrap();
        b.layer_tar(&[("etc/hostname", 0o644, b"cerro\n")]).unwrap();
        b.finish(basic_config(&["/bin/sh"]), Some("app")).unwrap();
        let image = SourceImage::open(&format!("oci:{}:app", layout.display())).unwrap();
        let manifest = PackageManifest::from_draft(
            "[package]\nname = \"app\"\nversion = \"1\"\nsummary = \"a test\"\n",
            ImageRef {
                digest: image.manifest.digest,
                reference: image.reference.clone(),
            },
        )
        .unwrap();
        let (ka, kb) = (SigningKey::from_bytes(&[1; 32]), SigningKey::from_bytes(&[2; 32]));
        let mut trust = TrustStore::new();
        trust
            .insert(KeyEntry::new("a", ka.verifying_key(), TrustLevel::Full))
            .unwrap();
        trust
            .insert(KeyEntry::new("b", kb.verifying_key(), TrustLevel::Full))
            .unwrap();
        let mut packed = Vec::new();
        for (i, key) in [ka, kb].into_iter().enumerate() {
            let path = dir.join(format!("{i}.ctp"));
            let mut out = Vec::new();
            cerro_core::pack::pack(&image, &manifest, &[key], 1_700_000_000, &mut out).unwrap();
            fs::write(&path, &out).unwrap();
            let bundle = read_bundle_file(&fs::File::open(&path).unwrap(), &mut NoExtract).unwrap();
            let verified = cerro_core::verify::verify(bundle, &trust, &NoPolicy, 1_750_000_000).unwrap();
            packed.push((out, verified));
        }
        let (b_, vb) = packed.pop().unwrap();
        let (a, va) = packed.pop().unwrap();
        drop(b_);
        (a, va, vb)
    }

    /// `bytes` waiting at `output`, as `fetch` leaves a bundle.
    fn pending(output: &Path, bytes: &[u8], of: &Bundle) -> Pending {
        let mut file = AtomicFile::create(output, 0o644).unwrap();
        file.file().write_all(bytes).unwrap();
        Pending {
            file,
            image: of.image.digest,
            members: of.members.clone(),
            mtime: of.mtime,
        }
    }

    #[test]
    fn commit_takes_the_proof_of_this_very_bundle() {
        let d = tempfile::tempdir().unwrap();
        let (bytes_a, verified_a, verified_b) = two_verified(d.path());
        assert_eq!(
            verified_a.image.digest, verified_b.image.digest,
            "same image, other bundle"
        );
        let output = d.path().join("out.ctp");

        // The proof of another bundle of the same image is refused, and
        // nothing is left at the output path.
        let e = pending(&output, &bytes_a, &verified_a).commit(&verified_b).unwrap_err();
        assert!(e.to_string().contains("is not the one fetched"), "{e}");
        assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Malformed);
        assert!(!output.exists());
        assert_eq!(
            fs::read_dir(d.path())
                .unwrap()
                .filter(|e| { e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.') })
                .count(),
            0,
            "temporary file left behind"
        );

        // Its own proof commits it.
        pending(&output, &bytes_a, &verified_a).commit(&verified_a).unwrap();
        assert_eq!(fs::read(&output).unwrap(), bytes_a);
    }

    fn candidate(n: u8, built: Option<u64>) -> Candidate {
        Candidate {
            digest: Digest::of(&[n]),
            manifest: ArtifactManifest {
                config: blob_ref(Digest::of(b"config"), 10, CONFIG_MEDIA_TYPE.into()),
                layers: Vec::new(),
            },
            mtime: 0,
            reference: None,
            built,
            held: Vec::new(),
        }
    }

    fn refused(n: u8) -> (Digest, Result<Candidate, Error>) {
        (
            Digest::of(&[n]),
            Err(Error::Refused(CoreError::MissingAttestation(format!("candidate {n}")))),
        )
    }

    #[test]
    fn the_newest_signed_build_is_chosen_whatever_the_order() {
        let ok = |n, built| (Digest::of(&[n]), Ok(candidate(n, built)));
        let choose = |list: Vec<(Digest, Result<Candidate, Error>)>| {
            let mut choice = Choice::default();
            for (d, r) in list {
                choice.offer(d, r);
            }
            choice.finish()
        };
        let pick = |list| {
            let (c, skipped) = choose(list).unwrap();
            (
                c.digest,
                skipped.iter().map(|s: &Skipped| s.artifact).collect::<Vec<_>>(),
            )
        };
        // Newest build, wherever it is listed.
        assert_eq!(pick(vec![ok(1, Some(200)), ok(2, Some(100))]).0, Digest::of(&[1]));
        assert_eq!(pick(vec![ok(2, Some(100)), ok(1, Some(200))]).0, Digest::of(&[1]));
        // A build time beats none; among equals the later listed.
        assert_eq!(pick(vec![ok(1, Some(1)), ok(2, None)]).0, Digest::of(&[1]));
        assert_eq!(pick(vec![ok(1, None), ok(2, None)]).0, Digest::of(&[2]));
        assert_eq!(pick(vec![ok(1, Some(5)), ok(2, Some(5))]).0, Digest::of(&[2]));
        // Failed candidates are skipped and named.
        assert_eq!(
            pick(vec![ok(1, Some(1)), refused(2), ok(3, None)]),
            (Digest::of(&[1]), vec![Digest::of(&[2])])
        );
        // None passing: the last listed one's error.
        let e = choose(vec![refused(1), refused(2)]).unwrap_err();
        assert!(e.to_string().contains("candidate 2"), "{e}");
    }

    #[test]
    fn the_build_time_is_read_only_from_the_bound_provenance() {
        let statement = |finished: serde_json::Value| {
            let st = serde_json::json!({
                "_type": cerro_core::statement::STATEMENT_TYPE,
                "subject": [],
                "predicateType": SLSA_PROVENANCE_V1,
                "predicate": {"runDetails": {"metadata": {"finishedOn": finished}}},
            });
            cerro_core::jcs::to_vec(&st).unwrap()
        };
        let envelope = |payload: &[u8]| {
            cerro_core::dsse::Envelope::new(cerro_core::dsse::IN_TOTO_PAYLOAD_TYPE, payload.to_vec())
                .to_bytes()
                .unwrap()
        };
        let p = statement("2026-01-01T00:00:00Z".into());
        assert_eq!(
            signed_build_time(&envelope(&p), &Digest::of(&p)).unwrap(),
            Some(1_767_225_600)
        );
        // Another statement than the one the release binds: refused.
        let e = signed_build_time(&envelope(&p), &Digest::of(b"other")).unwrap_err();
        assert_eq!(CoreError::from(e).exit_code(), cerro_core::ExitCode::DigestMismatch);
        // The epoch and no time are no build time; a bad one is refused.
        let epoch = statement("1970-01-01T00:00:00Z".into());
        assert_eq!(signed_build_time(&envelope(&epoch), &Digest::of(&epoch)).unwrap(), None);
        let none = statement(serde_json::Value::Null);
        assert_eq!(signed_build_time(&envelope(&none), &Digest::of(&none)).unwrap(), None);
        let bad = statement("yesterday".into());
        assert!(signed_build_time(&envelope(&bad), &Digest::of(&bad)).is_err());
    }
}
