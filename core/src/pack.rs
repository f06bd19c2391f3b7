//! Packing and co-signing: the two ways a bundle is written.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;

use crate::bundle::{
    write_bundle, write_bundle_file, Bundle, BundleContents, INDEX_PATH, LAYOUT_PATH, MANIFEST_PATH,
    RELEASE_ATTESTATION,
};
use crate::digest::Digest;
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use crate::error::{Error, Result};
use crate::image::source::SourceImage;
use crate::image::{bundle_index, parse_config, OCI_LAYOUT_FILE};
use crate::jcs;
use crate::manifest::PackageManifest;
use crate::statement::{ImageDescriptor, MemberDigest, PackageId, ReleaseStatement};
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
    Ok(ReleaseStatement::release(
        PackageId {
            name: manifest.package.name.clone(),
            version: manifest.package.version.clone(),
        },
        ImageDescriptor {
            media_type: image.manifest.media_type.clone(),
            digest: image.manifest.digest,
            size: image.manifest.size,
        },
        diff_ids.check_config(image)?,
        members,
        bound,
    ))
}

/// The digest of every layer of an image uncompressed, in layer order,
/// measured from the layer bytes (not copied from the config): what the
/// release statement binds after checking the config's `rootfs.diff_ids`
/// agree. Compressed layers are measured by the caller, which decompresses
/// them anyway (`cerro_attest::layers`); uncompressed ones are their own
/// diff_id ([`LayerDiffIds::of_uncompressed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDiffIds(Vec<Digest>);

impl LayerDiffIds {
    /// Diff ids measured by decompressing each layer of the image, in order.
    pub fn measured(diff_ids: Vec<Digest>) -> Self {
        LayerDiffIds(diff_ids)
    }

    /// The diff ids of an image whose layers are all uncompressed tars (a
    /// layer's digest is then its diff_id); refuses a compressed layer.
    pub fn of_uncompressed(image: &SourceImage) -> Result<Self> {
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
            .map(LayerDiffIds)
    }

    /// Checks the image config's `rootfs.diff_ids` (read strictly) against
    /// these measured values: a config that names other layers than the
    /// ones shipped would make the runtimes' snapshot names disagree with
    /// what was signed.
    fn check_config(&self, image: &SourceImage) -> Result<Vec<Digest>> {
        let what = format!("image config {}", image.parts.config.digest);
        let bytes = image.read_blob_small(&image.parts.config)?;
        let config = parse_config(&what, &bytes)?;
        if config.diff_ids.len() != self.0.len() || self.0.len() != image.parts.layers.len() {
            return Err(Error::malformed(
                what,
                format!(
                    "rootfs.diff_ids has {} entries for {} layer(s)",
                    config.diff_ids.len(),
                    image.parts.layers.len()
                ),
            ));
        }
        for (i, (claimed, measured)) in config.diff_ids.iter().zip(&self.0).enumerate() {
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
        Ok(self.0.clone())
    }
}

/// Packs `image` with `manifest`, signed by every key in `keys`, into `out`.
/// With the same inputs, keys and `mtime`, the output is byte-identical.
pub fn pack(
    image: &SourceImage,
    manifest: &PackageManifest,
    keys: &[SigningKey],
    mtime: u64,
    out: &mut dyn Write,
) -> Result<()> {
    pack_into(image, manifest, keys, mtime, Target::Stream(out))
}

/// [`pack`] into a file: blob data is copied by the kernel and hashed from
/// the output on all cores (see [`write_bundle_file`]). Same bytes as [`pack`].
pub fn pack_to_file(
    image: &SourceImage,
    manifest: &PackageManifest,
    keys: &[SigningKey],
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
}

/// A complete pack request: the release statement plus any other
/// statements (SBOM, provenance), every envelope signed by every key.
#[derive(Debug)]
pub struct PackRequest<'a> {
    /// The image.
    pub image: &'a SourceImage,
    /// Its package manifest.
    pub manifest: &'a PackageManifest,
    /// Signing keys (at least one).
    pub keys: &'a [SigningKey],
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

impl PackRequest<'_> {
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
                env.sign(k);
            }
            attestations.push((path, env.to_bytes()?));
        }
        out.write(&BundleContents {
            manifest_toml: manifest.to_canonical_toml()?.into_bytes(),
            attestations,
            selinux: self.selinux.to_vec(),
            image,
            mtime: self.mtime,
        })
    }
}

fn pack_into(
    image: &SourceImage,
    manifest: &PackageManifest,
    keys: &[SigningKey],
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
pub fn cosign(bundle: &Bundle, path: &Path, key: &SigningKey, out: &mut dyn Write) -> Result<()> {
    cosign_into(bundle, path, key, Target::Stream(out))
}

/// [`cosign`] into a file (kernel copy, hashing from the output).
pub fn cosign_to_file(bundle: &Bundle, path: &Path, key: &SigningKey, out: &mut File) -> Result<()> {
    cosign_into(bundle, path, key, Target::File(out))
}

fn cosign_into(bundle: &Bundle, path: &Path, key: &SigningKey, out: Target<'_>) -> Result<()> {
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
            env.sign(key);
        }
        attestations.push((a.path.clone(), env.to_bytes()?));
    }
    out.write(&BundleContents {
        manifest_toml: bundle.manifest.to_canonical_toml()?.into_bytes(),
        attestations,
        selinux: bundle.selinux.clone(),
        image: &image,
        mtime: bundle.mtime,
    })
}
