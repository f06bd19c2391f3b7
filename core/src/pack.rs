//! Packing and co-signing: the two ways a bundle is written.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Take, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::bundle::{
    write_bundle, write_bundle_file, write_bundle_file_measured, write_bundle_measured, Bundle, BundleContents,
    INDEX_PATH, LAYOUT_PATH, MANIFEST_PATH, RELEASE_ATTESTATION,
};
use crate::digest::{Digest, Hasher};
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::error::{Error, Result};
use crate::image::source::SourceImage;
use crate::image::{bundle_index, parse_config, BlobRef, OCI_LAYOUT_FILE};
use crate::jcs;
use crate::key::{KeySigner, SecretKey};
use crate::manifest::PackageManifest;
use crate::statement::{ImageDescriptor, MemberDigest, PackageId, PlatformBinding, ReleaseStatement};
use crate::verify::check_binding;

/// Builds the release statement for `image` described by `manifest`,
/// binding `selinux` modules, the `attestations` that travel with it
/// (`(member path, statement payload)`) and the layers' `diff_ids`.
pub fn release_statement(
    manifest: &PackageManifest,
    image: &SourceImage,
    selinux: &[(String, Vec<u8>)],
    attestations: &[(String, Vec<u8>)],
    diff_ids: &LayerDiffIds,
) -> Result<ReleaseStatement> {
    let toml = manifest.to_canonical_toml()?;
    let index = bundle_index(&image.manifest, image.reference.as_deref())?;
    let mut members = vec![
        MemberDigest {
            path: MANIFEST_PATH.into(),
            digest: Digest::of(toml.as_bytes()),
        },
        MemberDigest {
            path: LAYOUT_PATH.into(),
            digest: Digest::of(OCI_LAYOUT_FILE),
        },
        MemberDigest {
            path: INDEX_PATH.into(),
            digest: Digest::of(&index),
        },
    ];
    members.extend(selinux.iter().map(|(path, text)| MemberDigest {
        path: path.clone(),
        digest: Digest::of(text),
    }));
    let bound = attestations
        .iter()
        .map(|(path, payload)| MemberDigest {
            path: path.clone(),
            digest: Digest::of(payload),
        })
        .collect();
    let package = PackageId {
        name: manifest.package.name.clone(),
        version: manifest.package.version.clone(),
    };
    let top = ImageDescriptor {
        media_type: image.manifest.media_type.clone(),
        digest: image.manifest.digest,
        size: image.manifest.size,
    };
    if image.platforms.is_empty() {
        return Ok(ReleaseStatement::release(
            package,
            top,
            diff_ids.check_config(image)?,
            members,
            bound,
        ));
    }
    // A multi-platform image: every platform manifest the index names is
    // bound, with the diff_ids measured from its own layers.
    if diff_ids.platforms.len() != image.platforms.len() {
        return Err(Error::malformed(
            format!("image index {}", image.manifest.digest),
            format!(
                "{} platform(s) measured for {} in the index",
                diff_ids.platforms.len(),
                image.platforms.len()
            ),
        ));
    }
    let mut platforms = Vec::with_capacity(image.platforms.len());
    for (i, (p, ids)) in image.platforms.iter().zip(&diff_ids.platforms).enumerate() {
        let view = image
            .platform_image(i)
            .ok_or_else(|| Error::malformed("image index", format!("no platform {i}")))?;
        let checked = LayerDiffIds::measured(ids.clone()).check_config(&view)?;
        let what = format!("image config {} ({})", p.parts.config.digest, p.platform);
        let config = parse_config(&what, &view.read_blob_small(&p.parts.config)?)?;
        if !p.platform.matches_config(&config) {
            return Err(Error::malformed(
                what,
                format!(
                    "the index says platform {}, the config says {}/{}{}",
                    p.platform,
                    config.os,
                    config.architecture,
                    config.variant.as_deref().map(|v| format!("/{v}")).unwrap_or_default()
                ),
            ));
        }
        platforms.push(PlatformBinding {
            platform: p.platform.clone(),
            image: ImageDescriptor {
                media_type: p.manifest.media_type.clone(),
                digest: p.manifest.digest,
                size: p.manifest.size,
            },
            diff_ids: checked,
        });
    }
    Ok(ReleaseStatement::release(package, top, Vec::new(), members, bound).with_platforms(platforms))
}

/// The digest of every layer of an image uncompressed, in layer order,
/// measured from the layer bytes (not copied from the config): what the
/// release statement binds after checking the config's `rootfs.diff_ids`
/// agree. Compressed layers are measured by the caller, which decompresses
/// them anyway (`cerro_attest::layers`); uncompressed ones are their own
/// diff_id ([`LayerDiffIds::of_uncompressed`]).
///
/// It may also carry the [`MeasuredBlobs`] of the pass that measured the
/// ids: the bundle writer then copies those blobs without hashing them a
/// second time, as long as their source is unchanged (see
/// [`MeasuredBlobs`]). Two values are equal when their diff ids are.
#[derive(Debug, Clone)]
pub struct LayerDiffIds {
    ids: Vec<Digest>,
    /// A multi-platform image's: each platform's ids, in index order.
    platforms: Vec<Vec<Digest>>,
    blobs: MeasuredBlobs,
}

impl PartialEq for LayerDiffIds {
    fn eq(&self, other: &Self) -> bool {
        self.ids == other.ids && self.platforms == other.platforms
    }
}

impl Eq for LayerDiffIds {}

impl LayerDiffIds {
    /// Diff ids measured by decompressing each layer of the image, in order.
    pub fn measured(diff_ids: Vec<Digest>) -> Self {
        LayerDiffIds {
            ids: diff_ids,
            platforms: Vec::new(),
            blobs: MeasuredBlobs::default(),
        }
    }

    /// Diff ids measured in a pass that also measured `blobs` (each from
    /// a [`BlobMeter`]): the writer may skip re-hashing those.
    pub fn measured_with(diff_ids: Vec<Digest>, blobs: MeasuredBlobs) -> Self {
        LayerDiffIds {
            ids: diff_ids,
            platforms: Vec::new(),
            blobs,
        }
    }

    /// The diff ids of a multi-platform image: one measurement of each
    /// platform's layers ([`SourceImage::platform_image`]), in index order;
    /// their measured blobs together.
    pub fn of_platforms(each: Vec<LayerDiffIds>) -> Self {
        let mut blobs = MeasuredBlobs::default();
        for e in &each {
            blobs.by_digest.extend(e.blobs.by_digest.iter().map(|(d, i)| (*d, *i)));
        }
        LayerDiffIds {
            ids: each.first().map(|e| e.ids.clone()).unwrap_or_default(),
            platforms: each.into_iter().map(|e| e.ids).collect(),
            blobs,
        }
    }

    /// The blobs measured with these ids (empty unless [`Self::measured_with`]).
    pub fn blobs(&self) -> &MeasuredBlobs {
        &self.blobs
    }

    /// The diff ids of an image whose layers are all uncompressed tars (a
    /// layer's digest is then its diff_id); refuses a compressed layer.
    /// Nothing is measured here: the writer hashes every layer as it copies
    /// it (no [`MeasuredBlobs`]), which checks each of these digests.
    pub fn of_uncompressed(image: &SourceImage) -> Result<Self> {
        if !image.platforms.is_empty() {
            let mut each = Vec::with_capacity(image.platforms.len());
            for i in 0..image.platforms.len() {
                let view = image
                    .platform_image(i)
                    .ok_or_else(|| Error::malformed("image index", format!("no platform {i}")))?;
                each.push(Self::of_uncompressed(&view)?);
            }
            return Ok(Self::of_platforms(each));
        }
        image
            .parts
            .layers
            .iter()
            .map(|l| {
                if l.media_type.ends_with(".tar") {
                    Ok(l.digest)
                } else {
                    Err(Error::malformed(
                        format!("layer {}", l.digest),
                        format!(
                            "{} is compressed: its diff_id must be measured by decompressing it",
                            l.media_type
                        ),
                    ))
                }
            })
            .collect::<Result<Vec<_>>>()
            .map(LayerDiffIds::measured)
    }

    /// Checks the image config's `rootfs.diff_ids` (read strictly) against
    /// these measured values: a config that names other layers than the
    /// ones shipped would make the runtimes' snapshot names disagree with
    /// what was signed.
    fn check_config(&self, image: &SourceImage) -> Result<Vec<Digest>> {
        let what = format!("image config {}", image.parts.config.digest);
        let bytes = image.read_blob_small(&image.parts.config)?;
        let config = parse_config(&what, &bytes)?;
        if config.diff_ids.len() != self.ids.len() || self.ids.len() != image.parts.layers.len() {
            return Err(Error::malformed(
                what,
                format!(
                    "rootfs.diff_ids has {} entries for {} layer(s)",
                    config.diff_ids.len(),
                    image.parts.layers.len()
                ),
            ));
        }
        for (i, (claimed, measured)) in config.diff_ids.iter().zip(&self.ids).enumerate() {
            if claimed != measured {
                return Err(Error::DigestMismatch {
                    what: format!(
                        "{what}: rootfs.diff_ids[{i}] vs layer {} uncompressed",
                        image.parts.layers[i].digest
                    ),
                    expected: *claimed,
                    actual: *measured,
                });
            }
        }
        Ok(self.ids.clone())
    }
}

/// Seconds a source file's mtime and ctime must be older than the start
/// of its measurement for the measurement to vouch for it later (git's
/// "racy" rule): file timestamps come from a coarse clock and some file
/// systems keep whole seconds (FAT two), so a file changed just after it
/// was measured could keep the timestamps it was measured with. A change
/// after the measurement starts gets a timestamp later than these.
const RACY_SECS: i64 = 2;

/// Where a blob's bytes are read from, as `fstat` sees it: the file (device,
/// inode, size, mtime and ctime to the nanosecond) and the span of it that
/// is the blob (all of a layout's blob file, or an archive member's offset
/// and size). Rewriting the file in place changes the times, replacing it
/// changes the inode: either way the identity differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SourceIdentity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    offset: u64,
    len: u64,
}

impl SourceIdentity {
    fn of(file: &File, offset: u64, len: u64) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata()?;
        Ok(SourceIdentity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            offset,
            len,
        })
    }
}

/// A blob opened for the writer: the identity of its source at opening,
/// if a measurement vouches for that exact source.
pub(crate) struct Vouched {
    identity: SourceIdentity,
}

impl Vouched {
    /// Where the blob starts in its source file (a blob of an archive
    /// starts inside it).
    pub(crate) fn offset(&self) -> u64 {
        self.identity.offset
    }
}

/// Blobs whose digests one pack has measured from the bytes it read, each
/// with the identity of the source it read them from. Built only from
/// [`BlobMeter::finish`], which hashes every byte it hands out and checks
/// the digest, so holding an entry means "these bytes, from this unchanged
/// source, had this digest". The bundle writer copies such a blob without
/// hashing it again when the source's identity is the same when it opens
/// the blob and after it has copied it; otherwise it hashes what it wrote
/// and refuses a mismatch, as for any blob not measured. It counts both
/// (for tests and figures: [`Self::copied_unhashed`], [`Self::rehashed`]).
#[derive(Debug, Default)]
pub struct MeasuredBlobs {
    by_digest: HashMap<Digest, SourceIdentity>,
    copied_unhashed: AtomicUsize,
    rehashed: AtomicUsize,
}

impl Clone for MeasuredBlobs {
    fn clone(&self) -> Self {
        MeasuredBlobs {
            by_digest: self.by_digest.clone(),
            copied_unhashed: AtomicUsize::new(self.copied_unhashed()),
            rehashed: AtomicUsize::new(self.rehashed()),
        }
    }
}

impl MeasuredBlobs {
    /// Adds a blob measured by a [`BlobMeter`]. One whose source changed
    /// while it was read, or was last changed less than two whole seconds
    /// before it was (too recently to tell a later change from it by its
    /// times), adds nothing: the writer will hash it.
    pub fn add(&mut self, blob: MeasuredBlob) {
        if let Some(identity) = blob.stable {
            self.by_digest.insert(blob.digest, identity);
        }
    }

    /// How many blobs a measurement vouches for (their source stable).
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether none is vouched for.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// How many blobs the writer copied without hashing them again.
    pub fn copied_unhashed(&self) -> usize {
        self.copied_unhashed.load(Ordering::Relaxed)
    }

    /// How many blobs the writer hashed: not measured, or their source
    /// was not (or no longer) the one measured.
    pub fn rehashed(&self) -> usize {
        self.rehashed.load(Ordering::Relaxed)
    }

    /// Whether `src`, just opened for `digest`, is the source measured.
    pub(crate) fn vouch(&self, digest: &Digest, src: &mut Take<File>) -> Option<Vouched> {
        let want = self.by_digest.get(digest)?;
        let len = src.limit();
        let offset = src.get_mut().stream_position().ok()?;
        let now = SourceIdentity::of(src.get_ref(), offset, len).ok()?;
        (now == *want).then_some(Vouched { identity: now })
    }

    /// Whether the source vouched for is still the one measured, after
    /// the copy (a change during the copy shows in its times or size).
    pub(crate) fn still(&self, vouched: &Vouched, src: &Take<File>) -> bool {
        let id = vouched.identity;
        SourceIdentity::of(src.get_ref(), id.offset, id.len).is_ok_and(|now| now == id)
    }

    pub(crate) fn count(&self, unhashed: bool) {
        let c = if unhashed {
            &self.copied_unhashed
        } else {
            &self.rehashed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A blob whose digest a [`BlobMeter`] has checked from every byte of it.
#[derive(Debug, Clone)]
pub struct MeasuredBlob {
    digest: Digest,
    /// The source's identity, when it was the same before and after the
    /// read and old enough to be told apart from a later change.
    stable: Option<SourceIdentity>,
}

impl MeasuredBlob {
    /// The digest, checked against the bytes read.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Whether the writer may copy this blob without hashing it again.
    pub fn vouches_for_source(&self) -> bool {
        self.stable.is_some()
    }
}

/// Reads a blob of an image once, hashing every byte it hands out;
/// [`Self::finish`] checks the digest and size and records the identity of
/// the source (the only way to make a [`MeasuredBlob`]).
pub struct BlobMeter {
    what: String,
    blob: BlobRef,
    src: Take<File>,
    hasher: Hasher,
    opened: SourceIdentity,
    started: u64,
}

impl std::fmt::Debug for BlobMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobMeter").field("what", &self.what).finish()
    }
}

impl BlobMeter {
    /// Opens `blob` of `image` (`what` names it in errors).
    pub fn open(image: &SourceImage, blob: &BlobRef, what: &str) -> Result<Self> {
        // Read the clock before the source's times: a change after this
        // instant cannot carry the times measured (see RACY_SECS).
        let started = crate::clock::unix_now()?;
        let mut src = image.open_blob(blob)?;
        let offset = src
            .get_mut()
            .stream_position()
            .map_err(|e| Error::io("reading position in", what, e))?;
        let opened = SourceIdentity::of(src.get_ref(), offset, blob.size)
            .map_err(|e| Error::io("reading metadata of", what, e))?;
        Ok(BlobMeter {
            what: what.to_owned(),
            blob: blob.clone(),
            src,
            hasher: Hasher::new(),
            opened,
            started,
        })
    }

    /// Checks the digest and size of what was read (the whole blob must
    /// have been read) and records the source's identity if it is stable.
    pub fn finish(self) -> Result<MeasuredBlob> {
        let (digest, size) = self.hasher.finish();
        if digest != self.blob.digest {
            return Err(Error::DigestMismatch {
                what: self.what,
                expected: self.blob.digest,
                actual: digest,
            });
        }
        if size != self.blob.size {
            return Err(Error::SizeMismatch {
                what: self.what,
                expected: self.blob.size,
                actual: size,
            });
        }
        let after = SourceIdentity::of(self.src.get_ref(), self.opened.offset, self.opened.len).ok();
        let started = i64::try_from(self.started).unwrap_or(i64::MAX);
        let old = |t: (i64, i64)| t.0.saturating_add(RACY_SECS) < started;
        let stable = after
            .filter(|a| *a == self.opened && old(a.mtime) && old(a.ctime))
            .map(|_| self.opened);
        Ok(MeasuredBlob { digest, stable })
    }
}

impl Read for BlobMeter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.src.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Packs `image` with `manifest`, signed by every key in `keys`, into `out`.
/// With the same inputs, keys and `mtime`, the output is byte-identical.
pub fn pack<K: KeySigner>(
    image: &SourceImage,
    manifest: &PackageManifest,
    keys: &[K],
    mtime: u64,
    out: &mut dyn Write,
) -> Result<()> {
    pack_into(image, manifest, keys, mtime, Target::Stream(out))
}

/// [`pack`] into a file: blob data is copied by the kernel and hashed from
/// the output on all cores (see [`write_bundle_file`]). Same bytes as [`pack`].
pub fn pack_to_file<K: KeySigner>(
    image: &SourceImage,
    manifest: &PackageManifest,
    keys: &[K],
    mtime: u64,
    out: &mut File,
) -> Result<()> {
    pack_into(image, manifest, keys, mtime, Target::File(out))
}

/// Where a bundle is written.
enum Target<'o> {
    Stream(&'o mut dyn Write),
    File(&'o mut File),
}

impl Target<'_> {
    fn write(self, contents: &BundleContents<'_>) -> Result<()> {
        match self {
            Target::Stream(w) => write_bundle(contents, w),
            Target::File(f) => write_bundle_file(contents, f),
        }
    }

    /// [`Self::write`], trusting the digests `measured` vouches for.
    fn write_measured(self, contents: &BundleContents<'_>, measured: &MeasuredBlobs) -> Result<()> {
        match self {
            Target::Stream(w) => write_bundle_measured(contents, w, measured),
            Target::File(f) => write_bundle_file_measured(contents, f, measured),
        }
    }
}

/// A complete pack request: the release statement plus any other
/// statements (SBOM, provenance), every envelope signed by every key
/// (keys of either algorithm, in any mix: [`KeySigner`]).
#[derive(Debug)]
pub struct PackRequest<'a, K: KeySigner = SecretKey> {
    /// The image.
    pub image: &'a SourceImage,
    /// Its package manifest.
    pub manifest: &'a PackageManifest,
    /// Signing keys (at least one).
    pub keys: &'a [K],
    /// mtime of every member (SOURCE_DATE_EPOCH).
    pub mtime: u64,
    /// SELinux policy modules to carry (and bind in the release statement):
    /// `(selinux/<name>.cil, CIL text)`, e.g. from `cerro-selinux`.
    pub selinux: &'a [(String, Vec<u8>)],
    /// More statements to sign and carry: `(attestations/<name>.dsse.json,
    /// canonical in-toto Statement v1 payload)`, e.g. from `cerro-attest`.
    /// The release statement binds each payload's digest.
    pub extra: &'a [(String, Vec<u8>)],
    /// The layers' diff ids, measured from their bytes.
    pub diff_ids: &'a LayerDiffIds,
}

impl<K: KeySigner> PackRequest<'_, K> {
    /// Writes the bundle to a stream.
    pub fn write(&self, out: &mut dyn Write) -> Result<()> {
        self.write_to(Target::Stream(out))
    }

    /// Writes the bundle into a file (kernel copy, hashing from the output).
    pub fn write_file(&self, out: &mut File) -> Result<()> {
        self.write_to(Target::File(out))
    }

    fn write_to(&self, out: Target<'_>) -> Result<()> {
        let (image, manifest) = (self.image, self.manifest);
        if self.keys.is_empty() {
            return Err(Error::invalid_config("pack", "packing needs at least one signing key"));
        }
        let mut payloads = vec![(
            RELEASE_ATTESTATION.to_owned(),
            jcs::to_canonical(&release_statement(
                manifest,
                image,
                self.selinux,
                self.extra,
                self.diff_ids,
            )?)?,
        )];
        payloads.extend(self.extra.iter().cloned());
        let mut attestations = Vec::with_capacity(payloads.len());
        for (path, payload) in payloads {
            let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, payload);
            for k in self.keys {
                env.sign(k)?;
            }
            attestations.push((path, env.to_bytes()?));
        }
        out.write_measured(
            &BundleContents {
                manifest_toml: manifest.to_canonical_toml()?.into_bytes(),
                attestations,
                selinux: self.selinux.to_vec(),
                transparency: Vec::new(),
                rebuilds: Vec::new(),
                image,
                mtime: self.mtime,
            },
            self.diff_ids.blobs(),
        )
    }
}

fn pack_into<K: KeySigner>(
    image: &SourceImage,
    manifest: &PackageManifest,
    keys: &[K],
    mtime: u64,
    out: Target<'_>,
) -> Result<()> {
    PackRequest {
        image,
        manifest,
        keys,
        mtime,
        selinux: &[],
        extra: &[],
        diff_ids: &LayerDiffIds::of_uncompressed(image)?,
    }
    .write_to(out)
}

/// Adds `key`'s signature to the release attestation of the bundle at
/// `path` (already read as `bundle`), writing the new bundle to `out`. The
/// statement must bind the bundle, including the statement of every other
/// attestation it carries: a co-signer signs only the release envelope,
/// which endorses exactly that set, and copies the other envelopes
/// unchanged (an attestation slipped in unbound is refused, not signed).
/// Every blob is re-hashed while copied.
pub fn cosign(bundle: &Bundle, path: &Path, key: &impl KeySigner, out: &mut dyn Write) -> Result<()> {
    cosign_into(bundle, path, key, Target::Stream(out))
}

/// [`cosign`] into a file (kernel copy, hashing from the output).
pub fn cosign_to_file(bundle: &Bundle, path: &Path, key: &impl KeySigner, out: &mut File) -> Result<()> {
    cosign_into(bundle, path, key, Target::File(out))
}

fn cosign_into(bundle: &Bundle, path: &Path, key: &impl KeySigner, out: Target<'_>) -> Result<()> {
    let release = bundle
        .release()
        .ok_or_else(|| Error::MissingAttestation("the bundle has no release attestation to co-sign".into()))?;
    let statement = ReleaseStatement::parse_release(&release.path, &release.envelope.payload)?;
    check_binding(bundle, &statement)?;
    let image = SourceImage::open_bundle(path)?;
    if image.manifest != bundle.image {
        return Err(Error::malformed(
            path.display().to_string(),
            "bundle changed while signing",
        ));
    }
    let mut attestations = Vec::with_capacity(bundle.attestations.len());
    for a in &bundle.attestations {
        let mut env = a.envelope.clone();
        if a.path == release.path {
            env.sign(key)?;
        }
        attestations.push((a.path.clone(), env.to_bytes()?));
    }
    out.write(&BundleContents {
        manifest_toml: bundle.manifest.to_canonical_toml()?.into_bytes(),
        attestations,
        selinux: bundle.selinux.clone(),
        // The release envelope changed: the logs hold the old one's entry,
        // so its proofs would refuse (exit 6). Submit the new one again.
        transparency: Vec::new(),
        // Each binds the release statement (the payload), which co-signing
        // does not change: they stay valid and are kept.
        rebuilds: bundle.rebuilds.clone(),
        image: &image,
        mtime: bundle.mtime,
    })
}
