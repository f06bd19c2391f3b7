//! End-to-end tests of the `.ctp` bundle through the public API of
//! `cerro-core`: pack → read → verify, determinism, tamper detection in every
//! member, hostile tars, signature and trust failures, and co-signing.
//!
//! Every failure test asserts the exact error variant *and* its documented
//! exit code (as the enum and as the number): scripts and runtimes branch on
//! those numbers, so a change in either is a contract change.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Read;
use std::path::{Path, PathBuf};

use cerro_core::bundle::{
    self, blob_path, Bundle, BundleContents, NoExtract, INDEX_PATH, LAYOUT_PATH, MANIFEST_PATH, RELEASE_ATTESTATION,
};
use cerro_core::digest::Digest;
use cerro_core::dsse::{self, Envelope};
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::image::{bundle_index, BlobRef, MT_OCI_CONFIG, MT_OCI_LAYER_TAR, MT_OCI_MANIFEST, OCI_LAYOUT_FILE};
use cerro_core::manifest::{ImageRef, PackageManifest};
use cerro_core::pack;
use cerro_core::policy_interface::NoPolicy;
use cerro_core::trust::{Fingerprint, KeyEntry, SignerStatus, TallyTime, TrustLevel, TrustStore};
use cerro_core::verify::{self, Verified};
use cerro_core::{jcs, Error, ExitCode};
use ed25519_dalek::SigningKey;
use serde_json::json;
use tempfile::TempDir;

use common::{key, noise, pax_record, tar_members, RawTar, TarMember, MTIME};

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/// The clock value every verification runs at.
const NOW: u64 = 1_750_000_000;
const MIB: usize = 1 << 20;
/// The reference the fixture image is named by in its layout.
const REF: &str = "hello-2.10";
/// A user-written manifest: `[image]` is filled in from the packed image.
const DRAFT: &str = "[package]\nname = \"hello\"\nversion = \"2.10-3\"\nsummary = \"greets the world\"\n";
/// A layer media type that `cerro-core` accepts but never looks inside.
const MT_GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

// ---------------------------------------------------------------------------
// Fixture: an OCI layout with three layers
// ---------------------------------------------------------------------------

/// An image manifest (RFC 8785 JSON) referencing `config` and `layers`.
fn image_manifest_json(config: &BlobRef, layers: &[BlobRef]) -> Vec<u8> {
    jcs::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": config.media_type, "digest": config.digest.to_string(), "size": config.size},
        "layers": layers.iter().map(|l| json!({
            "mediaType": l.media_type, "digest": l.digest.to_string(), "size": l.size,
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// Writes config, image manifest, `index.json` and `oci-layout` for `layers`.
///
/// `LayoutBuilder::finish` only knows layers made by `layer_tar`, which are
/// always whole 512-byte tar blocks; writing the manifest here lets a fixture
/// carry blobs of any size (to exercise the bundle's tar padding after a
/// streamed blob) and any media type (to exercise refusals).
fn finish_layout(b: &LayoutBuilder, dir: &Path, layers: &[BlobRef]) -> BlobRef {
    let mut config = basic_config(&["/usr/bin/hello"]);
    config["rootfs"] = json!({
        "type": "layers",
        "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>(),
    });
    let mut cfg = b.blob(&jcs::to_vec(&config).unwrap()).unwrap();
    cfg.media_type = MT_OCI_CONFIG.into();
    let mut manifest = b.blob(&image_manifest_json(&cfg, layers)).unwrap();
    manifest.media_type = MT_OCI_MANIFEST.into();
    std::fs::write(dir.join("index.json"), bundle_index(&manifest, Some(REF)).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), OCI_LAYOUT_FILE).unwrap();
    manifest
}

/// A source image and its package manifest, ready to pack.
struct Fixture {
    /// Keeps the layout (and any bundle written next to it) alive.
    dir: TempDir,
    image: SourceImage,
    manifest: PackageManifest,
}

/// Three layers:
/// 1. a `layer_tar` of a few small files;
/// 2. a `layer_tar` holding 1.5 MiB of noise, so blobs are hashed in several
///    1 MiB chunks;
/// 3. an opaque blob of 1.5 MiB + 333 bytes, which is not a multiple of 512
///    (`layer_tar` output always is), so the bundle pads after a streamed
///    blob and the last hash chunk is partial.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let mut b = LayoutBuilder::new(&layout).unwrap();
    let small = b
        .layer_tar(&[
            ("etc/hostname", 0o644, b"cerro\n"),
            ("usr/bin/hello", 0o755, b"#!/bin/sh\necho 'Hello, world!'\n"),
            (
                "usr/share/doc/hello/README",
                0o644,
                b"GNU hello, packed by the bundle tests.\n",
            ),
        ])
        .unwrap()
        .clone();
    let big_file = noise(1, 3 * MIB / 2);
    let big = b
        .layer_tar(&[("opt/hello/data.bin", 0o644, &big_file)])
        .unwrap()
        .clone();
    let mut odd = b.blob(&noise(2, 3 * MIB / 2 + 333)).unwrap();
    odd.media_type = MT_GZIP_LAYER.into();
    let layers = [small, big, odd];
    assert!(layers.iter().any(|l| l.size > MIB as u64 && l.size % 512 != 0));
    finish_layout(&b, &layout, &layers);

    let image = SourceImage::open(&format!("oci:{}:{REF}", layout.display())).unwrap();
    assert_eq!(image.reference.as_deref(), Some(REF));
    assert_eq!(image.parts.layers.len(), 3);
    let manifest = PackageManifest::from_draft(
        DRAFT,
        ImageRef {
            digest: image.manifest.digest,
            reference: image.reference.clone(),
        },
    )
    .unwrap();
    Fixture { dir, image, manifest }
}

impl Fixture {
    /// `pack::pack` into memory.
    fn pack(&self, keys: &[SigningKey], mtime: u64) -> Vec<u8> {
        let mut out = Vec::new();
        // The third layer is opaque noise under a gzip media type: the
        // fixture's config names each layer by its own digest, which is
        // what is "measured" here (ct pack measures by decompressing).
        let diff_ids = pack::LayerDiffIds::measured(self.image.parts.layers.iter().map(|l| l.digest).collect());
        pack::PackRequest {
            image: &self.image,
            manifest: &self.manifest,
            keys,
            mtime,
            selinux: &[],
            extra: &[],
            diff_ids: &diff_ids,
        }
        .write(&mut out)
        .unwrap();
        out
    }

    /// A bundle of this image with exactly `attestations` (which need not be
    /// valid): how a tampered or unsigned bundle is made.
    fn write(&self, attestations: Vec<(String, Vec<u8>)>) -> Vec<u8> {
        let mut out = Vec::new();
        bundle::write_bundle(
            &BundleContents {
                manifest_toml: self.manifest.to_canonical_toml().unwrap().into_bytes(),
                attestations,
                selinux: Vec::new(),
                transparency: Vec::new(),
                rebuilds: Vec::new(),
                image: &self.image,
                mtime: MTIME,
            },
            &mut out,
        )
        .unwrap();
        out
    }

    /// Writes `bytes` next to the layout (co-signing reads blobs from disk).
    fn save(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

// ---------------------------------------------------------------------------
// Keys and trust
// ---------------------------------------------------------------------------

fn fingerprint(k: &SigningKey) -> Fingerprint {
    Fingerprint::of(&k.verifying_key())
}

fn entry(id: &str, k: &SigningKey, level: TrustLevel) -> KeyEntry {
    KeyEntry::new(id, k.verifying_key(), level)
}

fn store(entries: impl IntoIterator<Item = KeyEntry>) -> TrustStore {
    let mut t = TrustStore::new();
    for e in entries {
        t.insert(e).unwrap();
    }
    t
}

// ---------------------------------------------------------------------------
// Reading, verifying and asserting errors
// ---------------------------------------------------------------------------

fn read(bytes: &[u8]) -> Result<Bundle, Error> {
    bundle::read_bundle(&mut &bytes[..], &mut NoExtract)
}

/// `verify::verify` at [`NOW`] without a policy; a rejection's report must
/// agree with its error.
fn verify_with(bundle: Bundle, trust: &TrustStore) -> Result<Verified<Bundle>, Error> {
    verify::verify(bundle, trust, &NoPolicy, NOW).map_err(|r| {
        assert!(!r.report.valid);
        assert_eq!(r.report.exit_code, r.error.exit_code().code());
        assert_eq!(r.report.error_kind, Some(r.error.check()));
        r.error
    })
}

/// Read then verify: what `ct verify` does.
fn check(bytes: &[u8], trust: &TrustStore) -> Result<Verified<Bundle>, Error> {
    verify_with(read(bytes)?, trust)
}

/// The error of `r`, after checking its exit code both as the enum and as the
/// documented number.
fn expect_err<T: Debug>(r: Result<T, Error>, code: ExitCode, number: u8) -> Error {
    let e = match r {
        Ok(_) => panic!("expected an error with exit code {number}, got Ok"),
        Err(e) => e,
    };
    assert_eq!(e.exit_code(), code, "{e}");
    assert_eq!(e.exit_code().code(), number, "{e}");
    e
}

/// Asserts `Error::Malformed` (exit 10) whose message contains `needle`.
fn expect_malformed<T: Debug>(r: Result<T, Error>, needle: &str) -> Error {
    let e = expect_err(r, ExitCode::Malformed, 10);
    assert!(matches!(e, Error::Malformed { .. }), "{e:?}");
    assert!(e.to_string().contains(needle), "{needle:?} not in: {e}");
    e
}

// ---------------------------------------------------------------------------
// Tar surgery
// ---------------------------------------------------------------------------

/// The members before the blobs of a bundle around a hand-written image
/// manifest, then the manifest blob. Reading needs no attestation, so none
/// is written.
fn prelude(manifest_json: &[u8]) -> RawTar {
    let desc = BlobRef {
        media_type: MT_OCI_MANIFEST.into(),
        digest: Digest::of(manifest_json),
        size: manifest_json.len() as u64,
    };
    let toml = PackageManifest::from_draft(
        DRAFT,
        ImageRef {
            digest: desc.digest,
            reference: None,
        },
    )
    .unwrap()
    .to_canonical_toml()
    .unwrap();
    let mut t = RawTar::new();
    t.file(MANIFEST_PATH, toml.as_bytes())
        .file(LAYOUT_PATH, OCI_LAYOUT_FILE)
        .file(INDEX_PATH, &bundle_index(&desc, None).unwrap())
        .file(&blob_path(&desc.digest), manifest_json);
    t
}

/// A small, valid image config blob and its descriptor.
fn config_blob() -> (Vec<u8>, BlobRef) {
    let mut config = basic_config(&["/bin/true"]);
    // One layer, as every manifest built with this config has.
    config["rootfs"] = json!({"type": "layers", "diff_ids": [Digest::of(b"layer").to_string()]});
    let bytes = jcs::to_vec(&config).unwrap();
    let desc = BlobRef {
        media_type: MT_OCI_CONFIG.into(),
        digest: Digest::of(&bytes),
        size: bytes.len() as u64,
    };
    (bytes, desc)
}

// ---------------------------------------------------------------------------
// 1. Round trip
// ---------------------------------------------------------------------------

/// What was packed is what is verified: the same image manifest, config,
/// layers, package manifest and reference.
#[test]
fn pack_read_verify_round_trip() {
    let fx = fixture();
    let alice = key(1);
    let bytes = fx.pack(std::slice::from_ref(&alice), MTIME);
    let trust = store([entry("alice", &alice, TrustLevel::Full)]);

    let verified = check(&bytes, &trust).unwrap();
    let report = verified.report();
    assert!(report.valid, "{}", report.message);
    assert_eq!(report.exit_code, 0);
    assert_eq!(report.error_kind, None);
    assert!(report.checks.iter().all(|c| c.ok));
    assert_eq!(report.signers.len(), 1);
    assert!(report.signers[0].counted());
    assert_eq!(report.signers[0].key_id.as_deref(), Some("alice"));

    assert_eq!(verified.image, fx.image.manifest);
    assert_eq!(verified.image.digest, fx.image.manifest.digest);
    assert_eq!(verified.manifest, fx.manifest);
    assert_eq!(verified.manifest.image.digest, fx.image.manifest.digest);
    assert_eq!(verified.parts, fx.image.parts);
    assert_eq!(verified.reference.as_deref(), Some(REF));
    assert_eq!(verified.mtime, MTIME);

    // Members: manifest, release, oci-layout, index, then the image
    // manifest, config and three layers — each with its content's digest.
    let toml = fx.manifest.to_canonical_toml().unwrap();
    assert_eq!(
        verified.member(MANIFEST_PATH).unwrap().digest,
        Digest::of(toml.as_bytes())
    );
    assert_eq!(
        verified.member(LAYOUT_PATH).unwrap().digest,
        Digest::of(OCI_LAYOUT_FILE)
    );
    let mut paths = vec![
        MANIFEST_PATH.to_owned(),
        RELEASE_ATTESTATION.into(),
        LAYOUT_PATH.into(),
        INDEX_PATH.into(),
    ];
    paths.push(blob_path(&fx.image.manifest.digest));
    for b in fx.image.parts.blobs() {
        paths.push(blob_path(&b.digest));
        let m = verified.member(&blob_path(&b.digest)).unwrap();
        assert_eq!((m.digest, m.size), (b.digest, b.size));
    }
    assert_eq!(
        verified.members.iter().map(|m| m.path.clone()).collect::<Vec<_>>(),
        paths
    );
}

// ---------------------------------------------------------------------------
// 2. Determinism
// ---------------------------------------------------------------------------

/// Same inputs, same bytes: signatures are deterministic (Ed25519), the
/// envelope sorts signatures by key id, and every header field is fixed.
#[test]
fn packing_is_deterministic() {
    let fx = fixture();
    let (k1, k2) = (key(1), key(2));
    let a = fx.pack(std::slice::from_ref(&k1), MTIME);
    let b = fx.pack(std::slice::from_ref(&k1), MTIME);
    assert!(a == b, "two packs of the same inputs differ");

    // The mtime is part of every header.
    let later = fx.pack(std::slice::from_ref(&k1), MTIME + 1);
    assert!(a != later, "the mtime did not change the bytes");
    assert_eq!(later.len(), a.len());
    assert_eq!(read(&later).unwrap().mtime, MTIME + 1);

    // The order keys are given in does not matter.
    let k12 = fx.pack(&[k1.clone(), k2.clone()], MTIME);
    let k21 = fx.pack(&[k2, k1], MTIME);
    assert!(k12 == k21, "key order changed the bytes");
    assert!(k12 != a);

    // Nor does where the source layout lives.
    let elsewhere = fixture();
    assert_ne!(elsewhere.dir.path(), fx.dir.path());
    assert!(
        elsewhere.pack(std::slice::from_ref(&key(1)), MTIME) == a,
        "the layout's location changed the bytes"
    );
}

// ---------------------------------------------------------------------------
// 3. Tamper detection in every member
// ---------------------------------------------------------------------------

/// Flipping one bit anywhere in any member's data is caught: blobs by their
/// names, the other members by the signed release statement, the envelope
/// by its signature (or its canonical form).
#[test]
fn a_flipped_bit_in_any_member_is_rejected() {
    let fx = fixture();
    let alice = key(1);
    let bytes = fx.pack(std::slice::from_ref(&alice), MTIME);
    let trust = store([entry("alice", &alice, TrustLevel::Full)]);
    check(&bytes, &trust).unwrap();

    let members = tar_members(&bytes);
    assert_eq!(
        members.len(),
        9,
        "manifest, release, oci-layout, index, image manifest, config, 3 layers"
    );
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut cases = 0;
    for m in &members {
        let len = m.data.len();
        assert!(len > 0, "{}", m.path);
        let mut positions = vec![0, len / 2, len - 1];
        positions.dedup();
        for pos in positions {
            let mut copy = bytes.clone();
            copy[m.data_pos + pos] ^= 0x01;
            let err = match check(&copy, &trust) {
                Ok(_) => panic!("flipping byte {pos} of {} went unnoticed", m.path),
                Err(e) => e,
            };
            assert_ne!(err.exit_code(), ExitCode::Valid);
            *kinds.entry(err.check()).or_default() += 1;
            cases += 1;
        }
    }
    println!(
        "flipped-bit cases checked: {cases} over {} members; errors by kind: {kinds:?}",
        members.len()
    );
    assert_eq!(cases, 3 * members.len());
}

// ---------------------------------------------------------------------------
// 4. Hostile tars
// ---------------------------------------------------------------------------

/// The tar helper writes members exactly like the bundle writer, so the
/// hostile variants below differ from a real bundle only where intended.
#[test]
fn raw_tar_helper_reproduces_a_bundle() {
    let fx = fixture();
    let bytes = fx.pack(&[key(1)], MTIME);
    assert!(RawTar::new().members_of(&bytes).finish() == bytes);
}

/// Random bytes fail the first header's checksum; an empty file is a tar
/// with no members; a short file ends inside its first block.
#[test]
fn not_a_tar_is_malformed() {
    expect_malformed(read(&noise(3, 4096)), "corrupt or truncated tar");
    expect_malformed(read(&[]), "missing member manifest.toml");
    expect_malformed(read(b"manifest.toml"), "corrupt or truncated tar");
}

#[test]
fn unsafe_member_paths_are_refused() {
    for path in ["../evil", "/abs", "oci-layout/../../evil", "/etc/passwd"] {
        let bytes = RawTar::new().file(path, b"x").finish();
        expect_malformed(read(&bytes), "unsafe member path");
    }
    // Also after valid members: every member is checked, not just the first.
    let fx = fixture();
    let good = fx.pack(&[key(1)], MTIME);
    let mut t = RawTar::new();
    for m in tar_members(&good).iter().take(4) {
        t.file(&m.path, &m.data);
    }
    expect_malformed(read(&t.file("../evil", b"x").finish()), "unsafe member path");
}

#[test]
fn links_are_refused() {
    let sym = RawTar::new()
        .header(MANIFEST_PATH, 0, tar::EntryType::Symlink, "/etc/passwd")
        .finish();
    expect_malformed(read(&sym), "symbolic link");
    let hard = RawTar::new()
        .header(MANIFEST_PATH, 0, tar::EntryType::Link, "/etc/shadow")
        .finish();
    expect_malformed(read(&hard), "hard link");
}

#[test]
fn duplicate_members_are_refused() {
    let fx = fixture();
    let good = fx.pack(&[key(1)], MTIME);
    let members = tar_members(&good);
    let manifest = &members[0];
    assert_eq!(manifest.path, MANIFEST_PATH);
    let mut t = RawTar::new();
    t.file(MANIFEST_PATH, &manifest.data);
    t.members_of(&good);
    expect_malformed(read(&t.finish()), "duplicate");
}

#[test]
fn unexpected_members_are_refused() {
    let fx = fixture();
    let good = fx.pack(&[key(1)], MTIME);
    // At the end, after a complete bundle…
    let extra_last = RawTar::new().members_of(&good).file("extra.txt", b"hi").finish();
    expect_malformed(read(&extra_last), "unexpected member");
    // …and at the start.
    let extra_first = RawTar::new().file("extra.txt", b"hi").members_of(&good).finish();
    expect_malformed(read(&extra_first), "unexpected member");
}

/// Sizes are checked before anything is allocated: a header claiming far
/// more than the bundle holds gives an error, not a panic or an allocation
/// of the claimed size.
#[test]
fn huge_claimed_sizes_are_refused_without_allocating() {
    // A layer whose descriptor and header both claim 1 TiB, followed by
    // 4 KiB of data and the end of the file: the streaming read fails.
    let (config, config_desc) = config_blob();
    let huge = BlobRef {
        media_type: MT_OCI_LAYER_TAR.into(),
        digest: Digest::of(b"never sent"),
        size: 1 << 40,
    };
    let mut t = prelude(&image_manifest_json(&config_desc, std::slice::from_ref(&huge)));
    t.file(&blob_path(&config_desc.digest), &config);
    t.header(&blob_path(&huge.digest), 1 << 40, tar::EntryType::Regular, "")
        .data(&noise(4, 4096));
    expect_malformed(read(&t.unfinished()), "truncated");

    // The package manifest claiming 100 MiB: refused by its size bound.
    let fx = fixture();
    let good = fx.pack(&[key(1)], MTIME);
    let members = tar_members(&good);
    let mut t = RawTar::new();
    t.header(MANIFEST_PATH, 100 << 20, tar::EntryType::Regular, "")
        .data(&members[0].data);
    expect_malformed(read(&t.finish()), "more than");

    // The release envelope claiming 1 TiB: the same.
    let mut t = RawTar::new();
    t.file(MANIFEST_PATH, &members[0].data)
        .header(RELEASE_ATTESTATION, 1 << 40, tar::EntryType::Regular, "")
        .data(&members[1].data);
    expect_malformed(read(&t.unfinished()), "more than");

    // A real blob whose header claims 1 TiB disagrees with its descriptor
    // before any data is read: a size mismatch (exit 1, like a digest).
    let layer = &fx.image.parts.layers[2];
    let path = blob_path(&layer.digest);
    let mut t = RawTar::new();
    for m in &members {
        if m.path == path {
            t.header(&path, 1 << 40, tar::EntryType::Regular, "").data(&m.data);
        } else {
            t.file(&m.path, &m.data);
        }
    }
    let e = expect_err(read(&t.unfinished()), ExitCode::DigestMismatch, 1);
    match e {
        Error::SizeMismatch { what, expected, actual } => {
            assert_eq!((what, expected, actual), (path, layer.size, 1 << 40));
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
}

/// A PAX extended header can override a member's size: the `tar` crate (and
/// GNU tar) would then see 600 more bytes in the blob than the ustar header
/// says. The bundle writer never emits PAX headers, so any is refused rather
/// than letting `ct` hash one byte range while other tools extract another.
#[test]
fn pax_headers_are_refused() {
    let fx = fixture();
    let alice = key(1);
    let bytes = fx.pack(std::slice::from_ref(&alice), MTIME);
    let trust = store([entry("alice", &alice, TrustLevel::Full)]);
    let path = blob_path(&fx.image.parts.layers[0].digest);
    let mut t = RawTar::new();
    for m in tar_members(&bytes) {
        if m.path != path {
            t.file(&m.path, &m.data);
            continue;
        }
        let smuggled = m.data.len() + 600;
        let record = pax_record("size", &smuggled.to_string());
        t.header("PaxHeaders/blob", record.len() as u64, tar::EntryType::XHeader, "")
            .data(&record);
        let mut data = m.data.clone();
        data.resize(smuggled, b'!');
        t.header(&m.path, m.data.len() as u64, tar::EntryType::Regular, "")
            .data(&data);
    }
    expect_malformed(check(&t.finish(), &trust), "PAX extension entry");

    // Even a harmless one (a path equal to the header's) is refused.
    let record = pax_record("path", MANIFEST_PATH);
    let mut t = RawTar::new();
    t.header("PaxHeaders/manifest", record.len() as u64, tar::EntryType::XHeader, "")
        .data(&record)
        .members_of(&bytes);
    expect_malformed(check(&t.finish(), &trust), "PAX extension entry");

    // GNU long-name and long-link entries are extensions too: refused before
    // their data is read (the tar crate would otherwise read them whole).
    for kind in [tar::EntryType::GNULongName, tar::EntryType::GNULongLink] {
        let mut t = RawTar::new();
        t.header("././@LongLink", 14, kind, "")
            .data(b"manifest.toml\0")
            .members_of(&bytes);
        expect_malformed(check(&t.finish(), &trust), "GNU long-name extension entry");
    }
}

/// A bundle cut short anywhere — in a header, in a blob, in the
/// end-of-archive marker — is refused.
#[test]
fn truncated_bundles_are_refused() {
    let fx = fixture();
    let alice = key(1);
    let bytes = fx.pack(std::slice::from_ref(&alice), MTIME);
    let trust = store([entry("alice", &alice, TrustLevel::Full)]);
    let members = tar_members(&bytes);
    let big = members.iter().find(|m| m.data.len() > MIB).unwrap();
    let len = bytes.len();
    let cuts = [
        len / 2,
        len - 1,
        len - 512,
        len - 1024,
        len - 1025,
        big.data_pos + MIB + 7,
        big.data_pos - 100,
        members[3].data_pos,
        1,
    ];
    for cut in cuts {
        let e = expect_err(check(&bytes[..cut], &trust), ExitCode::Malformed, 10);
        assert!(matches!(e, Error::Malformed { .. }), "cut at {cut} of {len}: {e:?}");
    }
    // Cut inside the end-of-archive marker only, every member is whole: the
    // marker itself is what tells a complete bundle from a cut one.
    for cut in [len - 1, len - 512, len - 1024] {
        expect_malformed(check(&bytes[..cut], &trust), "end-of-archive marker");
    }
}

/// The bundle ends with exactly two zero blocks: nothing may be appended
/// (a place to smuggle bytes past every digest) and the marker must be zero.
#[test]
fn end_of_archive_marker_is_exact() {
    let fx = fixture();
    let alice = key(1);
    let bytes = fx.pack(std::slice::from_ref(&alice), MTIME);
    let trust = store([entry("alice", &alice, TrustLevel::Full)]);
    assert!(bytes.ends_with(&[0u8; 1024]));

    let mut appended = bytes.clone();
    appended.extend_from_slice(b"smuggled");
    expect_malformed(check(&appended, &trust), "end-of-archive marker");

    let mut padded = bytes.clone();
    padded.extend_from_slice(&[0u8; 512]);
    expect_malformed(check(&padded, &trust), "end-of-archive marker");

    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    expect_malformed(check(&flipped, &trust), "end-of-archive marker");
}

/// Unknown layer media types are refused when packing (the source image
/// does not open) and when reading (a hand-made bundle carrying one).
#[test]
fn unknown_layer_media_types_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = LayoutBuilder::new(dir.path()).unwrap();
    let mut layer = b.blob(b"not a layer anyone knows").unwrap();
    layer.media_type = "application/x-foo".into();
    finish_layout(&b, dir.path(), std::slice::from_ref(&layer));
    expect_malformed(
        SourceImage::open(&format!("oci:{}", dir.path().display())),
        "unknown layer media type",
    );

    let (config, config_desc) = config_blob();
    let mut t = prelude(&image_manifest_json(&config_desc, std::slice::from_ref(&layer)));
    t.file(&blob_path(&config_desc.digest), &config)
        .file(&blob_path(&layer.digest), b"not a layer anyone knows");
    expect_malformed(read(&t.finish()), "unknown layer media type");
}

// ---------------------------------------------------------------------------
// 5. Digest mismatch
// ---------------------------------------------------------------------------

/// Replacing a blob's content with other bytes of the same length keeps the
/// tar valid (only data changes), so only the digest check can catch it.
#[test]
fn replaced_blob_content_is_a_digest_mismatch() {
    let fx = fixture();
    let alice = key(1);
    let bytes = fx.pack(std::slice::from_ref(&alice), MTIME);
    let trust = store([entry("alice", &alice, TrustLevel::Full)]);
    let members = tar_members(&bytes);
    let mut blobs = vec![&fx.image.manifest];
    blobs.extend(fx.image.parts.blobs());
    assert_eq!(blobs.len(), 5);
    for (i, blob) in blobs.into_iter().enumerate() {
        let path = blob_path(&blob.digest);
        let m = members.iter().find(|m| m.path == path).unwrap();
        let mut copy = bytes.clone();
        copy[m.data_pos..m.data_pos + m.data.len()].copy_from_slice(&noise(10 + i as u64, m.data.len()));
        match expect_err(check(&copy, &trust), ExitCode::DigestMismatch, 1) {
            Error::DigestMismatch { what, expected, actual } => {
                assert_eq!(what, path);
                assert_eq!(expected, blob.digest);
                assert_ne!(actual, blob.digest);
            }
            other => panic!("expected DigestMismatch for {path}, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// 6. Signatures and signers
// ---------------------------------------------------------------------------

/// Signed by A; the store trusts only B: no trusted signer.
#[test]
fn unknown_signer_is_not_trusted() {
    let fx = fixture();
    let (a, b) = (key(1), key(2));
    let bytes = fx.pack(std::slice::from_ref(&a), MTIME);
    let trust = store([entry("bob", &b, TrustLevel::Full)]);
    let rejected = verify::verify(read(&bytes).unwrap(), &trust, &NoPolicy, NOW).unwrap_err();
    assert_eq!(rejected.report.exit_code, 3);
    assert_eq!(rejected.report.signers.len(), 1);
    assert_eq!(rejected.report.signers[0].status, SignerStatus::Unknown);
    assert_eq!(rejected.report.signers[0].fingerprint, fingerprint(&a).to_hex());
    let e = expect_err(Err::<(), _>(rejected.error), ExitCode::SignerNotTrusted, 3);
    assert!(
        matches!(e, Error::SignerNotTrusted { counted: 0, required: 1, ref envelope, .. } if envelope == RELEASE_ATTESTATION),
        "{e:?}"
    );
}

/// A known signer counts only at `full` or above.
#[test]
fn signer_below_full_trust_is_not_trusted() {
    let fx = fixture();
    let alice = key(1);
    let bytes = fx.pack(std::slice::from_ref(&alice), MTIME);
    for level in [TrustLevel::Untrusted, TrustLevel::Marginal] {
        let trust = store([entry("alice", &alice, level)]);
        let e = expect_err(check(&bytes, &trust), ExitCode::SignerNotTrusted, 3);
        assert!(
            matches!(e, Error::SignerNotTrusted { counted: 0, .. }),
            "{level}: {e:?}"
        );
        assert!(e.to_string().contains(&format!("trust level {level}")), "{e}");
    }
    for level in [TrustLevel::Full, TrustLevel::Ultimate] {
        check(&bytes, &store([entry("alice", &alice, level)])).unwrap();
    }
}

/// Revoked keys never count, whatever their level.
#[test]
fn revoked_signer_is_not_trusted() {
    let fx = fixture();
    let alice = key(1);
    let bytes = fx.pack(std::slice::from_ref(&alice), MTIME);
    let mut e = entry("alice", &alice, TrustLevel::Ultimate);
    e.revoked_at = Some(NOW - 10);
    let err = expect_err(check(&bytes, &store([e])), ExitCode::SignerNotTrusted, 3);
    assert!(matches!(err, Error::SignerNotTrusted { .. }), "{err:?}");
    assert!(err.to_string().contains("revoked"), "{err}");
}

/// Keys only count inside their validity window (bounds inclusive).
#[test]
fn signer_outside_validity_window_is_not_trusted() {
    let fx = fixture();
    let alice = key(1);
    let bytes = fx.pack(std::slice::from_ref(&alice), MTIME);

    let mut expired = entry("alice", &alice, TrustLevel::Full);
    expired.valid_until = Some(NOW - 1);
    let e = expect_err(check(&bytes, &store([expired])), ExitCode::SignerNotTrusted, 3);
    assert!(
        matches!(e, Error::SignerNotTrusted { .. }) && e.to_string().contains("expired"),
        "{e}"
    );

    let mut future = entry("alice", &alice, TrustLevel::Full);
    future.valid_from = Some(NOW + 1);
    let e = expect_err(check(&bytes, &store([future])), ExitCode::SignerNotTrusted, 3);
    assert!(
        matches!(e, Error::SignerNotTrusted { .. }) && e.to_string().contains("not yet valid"),
        "{e}"
    );

    let mut edge = entry("alice", &alice, TrustLevel::Full);
    edge.valid_from = Some(NOW);
    edge.valid_until = Some(NOW);
    check(&bytes, &store([edge])).unwrap();
}

/// A signature by a known key that does not verify is an attack, not an
/// unknown signer: it fails with its own code even though the statement and
/// every digest are intact.
#[test]
fn tampered_signature_by_known_key_is_invalid() {
    let fx = fixture();
    let alice = key(1);
    let packed = fx.pack(std::slice::from_ref(&alice), MTIME);
    let release = tar_members(&packed)
        .into_iter()
        .find(|m| m.path == RELEASE_ATTESTATION)
        .unwrap();
    let mut env = Envelope::parse(RELEASE_ATTESTATION, &release.data).unwrap();
    env.signatures[0].sig[10] ^= 0x01;
    let bytes = fx.write(vec![(RELEASE_ATTESTATION.into(), env.to_bytes().unwrap())]);

    let trust = store([entry("alice", &alice, TrustLevel::Full)]);
    let e = expect_err(check(&bytes, &trust), ExitCode::SignatureInvalid, 2);
    match e {
        Error::SignatureInvalid {
            key,
            fingerprint: fp,
            envelope,
        } => {
            assert_eq!(key, "alice");
            assert_eq!(fp, fingerprint(&alice).to_hex());
            assert_eq!(envelope, RELEASE_ATTESTATION);
        }
        other => panic!("expected SignatureInvalid, got {other:?}"),
    }

    // With the signer unknown, the signature cannot be checked and simply
    // does not count.
    let strangers = store([entry("bob", &key(2), TrustLevel::Full)]);
    expect_err(check(&bytes, &strangers), ExitCode::SignerNotTrusted, 3);

    // Sanity: the same rebuild with the untouched envelope is the packed bundle.
    assert!(fx.write(vec![(RELEASE_ATTESTATION.into(), release.data)]) == packed);
}

/// A bundle without a release attestation reads (its structure is fine) but
/// never verifies.
#[test]
fn missing_release_attestation() {
    let fx = fixture();
    let alice = key(1);
    let bytes = fx.write(Vec::new());
    let bundle = read(&bytes).unwrap();
    assert!(bundle.attestations.is_empty());
    let trust = store([entry("alice", &alice, TrustLevel::Full)]);
    let e = expect_err(verify_with(bundle, &trust), ExitCode::MissingAttestation, 5);
    assert!(matches!(e, Error::MissingAttestation(_)), "{e:?}");
}

// ---------------------------------------------------------------------------
// 7. Co-signing
// ---------------------------------------------------------------------------

/// Signing twice with the same key is idempotent, and a key signing twice
/// counts once.
#[test]
fn cosigning_with_the_same_key_counts_once() {
    let fx = fixture();
    let k1 = key(1);
    let original = fx.pack(std::slice::from_ref(&k1), MTIME);
    let path = fx.save("k1.ctp", &original);

    let mut again = Vec::new();
    pack::cosign(&read(&original).unwrap(), &path, &k1, &mut again).unwrap();
    assert!(again == original, "re-signing with the same key changed the bundle");
    assert_eq!(read(&again).unwrap().release().unwrap().envelope.signatures.len(), 1);

    // The one counting routine: the same key twice is one signer.
    let trust = store([entry("k1", &k1, TrustLevel::Full)]);
    let tally = trust.tally(
        &[fingerprint(&k1), fingerprint(&k1)],
        TallyTime::now(NOW),
        TrustLevel::Full,
        &|_| None,
    );
    assert_eq!(tally.counted, 1);
    let statuses: Vec<_> = tally.verdicts.iter().map(|v| v.status.clone()).collect();
    assert_eq!(statuses, [SignerStatus::Counted, SignerStatus::Duplicate]);

    // An envelope that really carries the same signature twice (not made by
    // `Envelope::sign`, which replaces) still verifies with one signer.
    let mut env = read(&original).unwrap().release().unwrap().envelope.clone();
    env.signatures.push(env.signatures[0].clone());
    let doubled = fx.write(vec![(RELEASE_ATTESTATION.into(), env.to_bytes().unwrap())]);
    let verified = check(&doubled, &trust).unwrap();
    let statuses: Vec<_> = verified.report().signers.iter().map(|v| v.status.clone()).collect();
    assert_eq!(statuses, [SignerStatus::Counted, SignerStatus::Duplicate]);
}

/// Packing with k1 then co-signing with k2 gives two signatures, each valid,
/// and exactly the bundle packing with both keys gives.
#[test]
fn cosigning_with_another_key_adds_a_signature() {
    let fx = fixture();
    let (k1, k2) = (key(1), key(2));
    let original = fx.pack(std::slice::from_ref(&k1), MTIME);
    let path = fx.save("k1.ctp", &original);
    let mut cosigned = Vec::new();
    pack::cosign(&read(&original).unwrap(), &path, &k2, &mut cosigned).unwrap();

    let bundle = read(&cosigned).unwrap();
    let env = &bundle.release().unwrap().envelope;
    assert_eq!(env.signatures.len(), 2);
    let pae = env.pae();
    for k in [&k1, &k2] {
        let sig = env
            .signatures
            .iter()
            .find(|s| s.keyid == fingerprint(k).to_hex())
            .unwrap();
        assert!(dsse::verify_signature(&k.verifying_key(), &pae, &sig.sig));
    }
    assert!(
        cosigned == fx.pack(&[k1.clone(), k2.clone()], MTIME),
        "co-signing differs from packing with both keys"
    );

    let both = store([entry("k1", &k1, TrustLevel::Full), entry("k2", &k2, TrustLevel::Full)]);
    let verified = verify_with(bundle, &both).unwrap();
    assert_eq!(verified.report().signers.iter().filter(|s| s.counted()).count(), 2);
    // Either signature alone is enough for the baseline.
    check(&cosigned, &store([entry("k1", &k1, TrustLevel::Full)])).unwrap();
    check(&cosigned, &store([entry("k2", &k2, TrustLevel::Full)])).unwrap();
}

// ---------------------------------------------------------------------------
// 8. Out-of-order assembly (what `ct fetch` writes)
// ---------------------------------------------------------------------------

/// The skeleton of a packed bundle: what a fetch learns before any layer.
fn skeleton_of(fx: &Fixture, packed: &Bundle) -> bundle::Skeleton {
    let attestations = packed
        .attestations
        .iter()
        .map(|a| (a.path.clone(), a.envelope.to_bytes().unwrap()))
        .collect();
    bundle::Skeleton {
        manifest_toml: fx.manifest.to_canonical_toml().unwrap().into_bytes(),
        attestations,
        selinux: Vec::new(),
        transparency: packed
            .transparency
            .iter()
            .map(|p| (p.path.clone(), p.proof.to_bytes()))
            .collect(),
        rebuilds: packed
            .rebuilds
            .iter()
            .map(|r| (r.path.clone(), r.to_bytes().unwrap()))
            .collect(),
        image: fx.image.manifest.clone(),
        reference: fx.image.reference.clone(),
        manifest_bytes: fx.image.manifest_bytes.clone(),
        platform_manifests: Vec::new(),
        mtime: MTIME,
    }
}

/// The bytes of every blob the assembly waits for, in its order.
fn blob_data(fx: &Fixture, asm: &bundle::Assembly) -> Vec<Vec<u8>> {
    asm.blobs()
        .map(|b| {
            let mut v = Vec::new();
            fx.image.open_blob(b).unwrap().read_to_end(&mut v).unwrap();
            v
        })
        .collect()
}

/// Feeds the blobs interleaved, last blob first, in odd-sized pieces (as
/// concurrent downloads deliver them).
fn feed_interleaved(asm: &mut bundle::Assembly, data: &[Vec<u8>]) {
    let mut done = vec![0usize; data.len()];
    let mut step = 1usize;
    while done.iter().zip(data).any(|(d, v)| *d < v.len()) {
        for i in (0..data.len()).rev() {
            let n = (step * 7919 % 300_001).min(data[i].len() - done[i]);
            asm.write(i, &data[i][done[i]..done[i] + n]).unwrap();
            done[i] += n;
            assert_eq!(asm.received(i), done[i] as u64);
            step += 1;
        }
    }
}

#[test]
fn assembled_bundle_is_byte_identical_to_the_written_one() {
    let fx = fixture();
    let packed_bytes = fx.pack(&[key(1)], MTIME);
    let packed = read(&packed_bytes).unwrap();
    let out = tempfile::tempfile().unwrap();
    // Whatever the file held before is gone.
    std::io::Write::write_all(&mut &out, &[0xAA; 4096]).unwrap();
    let mut asm = bundle::Assembly::start(&skeleton_of(&fx, &packed), &out, "from the test").unwrap();
    assert_eq!(asm.len(), packed_bytes.len() as u64);
    let data = blob_data(&fx, &asm);
    assert_eq!(data.len(), 4, "config and three layers");
    feed_interleaved(&mut asm, &data);
    let assembled = asm.finish().unwrap();
    let mut written = Vec::new();
    std::io::Seek::rewind(&mut &out).unwrap();
    (&out).read_to_end(&mut written).unwrap();
    assert!(written == packed_bytes, "assembled bundle differs from the written one");
    assert_eq!(format!("{assembled:?}"), format!("{packed:?}"));
    let trust = store([entry("k1", &key(1), TrustLevel::Full)]);
    verify_with(assembled, &trust).unwrap();
}

#[test]
fn assembly_refuses_a_blob_that_is_not_its_digest() {
    let fx = fixture();
    let packed = read(&fx.pack(&[key(1)], MTIME)).unwrap();
    let out = tempfile::tempfile().unwrap();
    let mut asm = bundle::Assembly::start(&skeleton_of(&fx, &packed), &out, "from the test").unwrap();
    let mut data = blob_data(&fx, &asm);
    let want = *asm.blobs().nth(2).map(|b| &b.digest).unwrap();
    data[2][1000] ^= 1;
    feed_interleaved(&mut asm, &data);
    let e = expect_err(asm.finish(), ExitCode::DigestMismatch, 1);
    assert!(
        matches!(e, Error::DigestMismatch { expected, .. } if expected == want),
        "{e:?}"
    );
    assert!(e.to_string().contains("from the test"), "{e}");
}

#[test]
fn assembly_refuses_too_many_and_too_few_bytes() {
    let fx = fixture();
    let packed = read(&fx.pack(&[key(1)], MTIME)).unwrap();
    let skel = skeleton_of(&fx, &packed);
    let out = tempfile::tempfile().unwrap();

    // One byte more than the descriptor: refused when it arrives.
    let mut asm = bundle::Assembly::start(&skel, &out, "from the test").unwrap();
    let data = blob_data(&fx, &asm);
    asm.write(1, &data[1]).unwrap();
    expect_err(asm.write(1, b"x"), ExitCode::DigestMismatch, 1);
    assert_eq!(asm.received(1), data[1].len() as u64, "the refused byte was counted");

    // One byte short: refused at the end.
    let mut asm = bundle::Assembly::start(&skel, &out, "from the test").unwrap();
    for (i, d) in data.iter().enumerate() {
        let n = if i == 3 { d.len() - 1 } else { d.len() };
        asm.write(i, &d[..n]).unwrap();
    }
    let e = expect_err(asm.finish(), ExitCode::DigestMismatch, 1);
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e:?}");

    // A blob never sent at all.
    let mut asm = bundle::Assembly::start(&skel, &out, "from the test").unwrap();
    asm.write(0, &data[0]).unwrap();
    expect_err(asm.finish(), ExitCode::DigestMismatch, 1);

    // An image manifest that is not the descriptor's.
    let mut bad = skel.clone();
    bad.manifest_bytes.push(b' ');
    expect_err(bundle::Assembly::start(&bad, &out, "x"), ExitCode::DigestMismatch, 1);
    let mut bad = skel;
    bad.manifest_bytes[0] ^= 1;
    expect_err(bundle::Assembly::start(&bad, &out, "x"), ExitCode::DigestMismatch, 1);
}

/// Assembled without its layers: the config and small members checked,
/// the layers listed as not pulled and never read, and the same
/// verification passes (and refuses an untrusted signer); a layer partly
/// written, or a config not written, is refused as `finish` refuses it.
#[test]
fn an_assembly_without_its_layers_verifies_and_lists_them() {
    let fx = fixture();
    let packed = read(&fx.pack(&[key(1)], MTIME)).unwrap();
    let skel = skeleton_of(&fx, &packed);
    let out = tempfile::tempfile().unwrap();
    let mut asm = bundle::Assembly::start(&skel, &out, "from the test").unwrap();
    let data = blob_data(&fx, &asm);
    let layers: Vec<_> = asm.blobs().skip(1).cloned().collect();
    asm.write(0, &data[0]).unwrap();
    let unpulled = asm.finish_unpulled().unwrap();
    assert_eq!(unpulled.not_pulled, layers);
    assert_eq!(
        unpulled.bundle().members,
        packed.members,
        "the same members, layers by digest"
    );
    let trust = store([entry("k1", &key(1), TrustLevel::Full)]);
    let v =
        cerro_core::verify::verify_unpulled(unpulled, &trust, &cerro_core::policy_interface::NoPolicy, NOW).unwrap();
    assert!(
        v.report().checks[0].detail.contains("3 of 3 layer(s)"),
        "{:?}",
        v.report().checks[0]
    );
    assert!(
        v.report().message.ends_with("(layers not downloaded: 3 not checked)"),
        "{}",
        v.report().message
    );

    let stranger = store([entry("k2", &key(2), TrustLevel::Full)]);
    let mut asm = bundle::Assembly::start(&skel, &out, "from the test").unwrap();
    asm.write(0, &data[0]).unwrap();
    let r = cerro_core::verify::verify_unpulled(
        asm.finish_unpulled().unwrap(),
        &stranger,
        &cerro_core::policy_interface::NoPolicy,
        NOW,
    )
    .unwrap_err();
    assert_eq!(r.error.exit_code(), ExitCode::SignerNotTrusted);

    // Part of a layer: checked, and short.
    let mut asm = bundle::Assembly::start(&skel, &out, "from the test").unwrap();
    asm.write(0, &data[0]).unwrap();
    asm.write(2, &data[2][..10]).unwrap();
    let e = expect_err(asm.finish_unpulled(), ExitCode::DigestMismatch, 1);
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e:?}");
    // No config: never taken on trust.
    let asm = bundle::Assembly::start(&skel, &out, "from the test").unwrap();
    expect_err(asm.finish_unpulled(), ExitCode::DigestMismatch, 1);
}

// ---------------------------------------------------------------------------
// One exit code whichever way a bundle is read
// ---------------------------------------------------------------------------

/// `read_bundle_file` on `bytes` (through a temporary file).
fn read_file(bytes: &[u8]) -> Result<Bundle, Error> {
    use std::io::{Seek, Write};
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f.rewind().unwrap();
    bundle::read_bundle_file(&f, &mut NoExtract)
}

/// The exit code of both readers on `bytes`, which must refuse it alike.
fn one_exit_code(bytes: &[u8], case: &str) -> ExitCode {
    match (read(bytes), read_file(bytes)) {
        (Err(a), Err(b)) => {
            assert_eq!(
                a.exit_code(),
                b.exit_code(),
                "{case}: the stream reader says {a}, the file reader {b}"
            );
            a.exit_code()
        }
        (a, b) => panic!("{case}: expected both readers to refuse: {:?} / {:?}", a.err(), b.err()),
    }
}

/// A blob whose content is replaced and a non-zero byte in the padding
/// after it (or after a later member): the stream reader has judged the
/// blob before it reads that padding, and the file reader now judges the
/// padding at the same point, so a pipe and a file give one exit code (the
/// file reader used to say 10 where the stream said 1). The stored fuzzer
/// find (fuzz/regressions/bundle/stream-vs-file-exit-code) is replayed too.
#[test]
fn stream_and_file_readers_agree_on_the_exit_code_of_dirty_padding() {
    let regression = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/bundle/stream-vs-file-exit-code");
    one_exit_code(&std::fs::read(regression).unwrap(), "the stored regression");

    let fx = fixture();
    let bytes = fx.pack(&[key(1)], MTIME);
    let members = tar_members(&bytes);
    let padded: Vec<&TarMember> = members.iter().filter(|m| m.data.len() % 512 != 0).collect();
    let mut blobs = vec![&fx.image.manifest];
    blobs.extend(fx.image.parts.blobs());
    let mut own_padding = 0;
    for (i, blob) in blobs.into_iter().enumerate() {
        let path = blob_path(&blob.digest);
        let at = members.iter().position(|m| m.path == path).unwrap();
        let m = &members[at];
        for p in padded.iter().filter(|p| p.data_pos >= m.data_pos) {
            let mut copy = bytes.clone();
            copy[m.data_pos..m.data_pos + m.data.len()].copy_from_slice(&noise(20 + i as u64, m.data.len()));
            copy[p.data_pos + p.data.len()] = 0x5a;
            let code = one_exit_code(&copy, &format!("{path} replaced, padding after {} dirty", p.path));
            if p.path == path {
                // Its own padding follows its data: the data is judged first.
                assert_eq!(code, ExitCode::DigestMismatch, "{path}");
                own_padding += 1;
            }
        }
    }
    assert!(
        own_padding >= 2,
        "the fixture has padded blobs (manifest, the odd-sized layer)"
    );
}
