//! The bundle writer copies a blob without hashing it again only when the
//! same pack measured its digest from the same, unchanged source
//! (`MeasuredBlobs`): a blob changed on disk after it was measured (same
//! size, new bytes; or a new file in its place) is hashed and refused,
//! never written into a bundle whose signed digests it does not match; an
//! unchanged one is not hashed again, and the bundle is byte for byte the
//! one the hashing writer makes.

#![allow(clippy::unwrap_used)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cerro_core::digest::Digest;
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::manifest::{ImageRef, PackageManifest};
use cerro_core::pack::{BlobMeter, LayerDiffIds, MeasuredBlobs, PackRequest};
use cerro_core::Error;
use ed25519_dalek::SigningKey;

/// Two uncompressed layers (one of 5 MiB, so a copy spans many reads);
/// returns the layout and the paths of the layer blob files.
fn layout(dir: &Path) -> Vec<PathBuf> {
    let big: Vec<u8> = (0..5u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut b = LayoutBuilder::new(dir).unwrap();
    let l1 = b.layer_tar(&[("big.bin", 0o644, &big)]).unwrap().digest;
    let l2 = b.layer_tar(&[("etc/motd", 0o644, b"hello\n")]).unwrap().digest;
    b.finish(basic_config(&["/bin/true"]), Some("1.0")).unwrap();
    [l1, l2]
        .iter()
        .map(|d| {
            let p = dir.join("blobs/sha256").join(d.hex());
            // Writable for the tests that change it (before it is measured:
            // a chmod is a change too).
            let mut perm = std::fs::metadata(&p).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&p, perm).unwrap();
            p
        })
        .collect()
}

fn open(dir: &Path) -> SourceImage {
    SourceImage::open(&format!("oci:{}:1.0", dir.display())).unwrap()
}

/// What the SBOM's pass does for each layer: read it once through a meter.
fn measure(image: &SourceImage) -> LayerDiffIds {
    let mut blobs = MeasuredBlobs::default();
    let mut ids = Vec::new();
    for l in &image.parts.layers {
        let mut m = BlobMeter::open(image, l, "layer").unwrap();
        std::io::copy(&mut m, &mut std::io::sink()).unwrap();
        let measured = m.finish().unwrap();
        ids.push(measured.digest());
        blobs.add(measured);
    }
    LayerDiffIds::measured_with(ids, blobs)
}

fn manifest(image: &SourceImage) -> PackageManifest {
    let image_ref = ImageRef {
        digest: image.manifest.digest,
        reference: image.reference.clone(),
    };
    PackageManifest::from_draft("[package]\nname = \"motd\"\nversion = \"1.0\"\n", image_ref).unwrap()
}

/// Packs into a fresh file (the kernel-copy writer); the bytes, or the error.
fn pack_file(image: &SourceImage, ids: &LayerDiffIds, out: &Path) -> Result<Vec<u8>, Error> {
    let keys = [SigningKey::from_bytes(&[7; 32])];
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .unwrap();
    PackRequest {
        image,
        manifest: &manifest(image),
        keys: &keys,
        mtime: 1_750_000_000,
        selinux: &[],
        extra: &[],
        diff_ids: ids,
    }
    .write_file(&mut f)?;
    let mut bytes = Vec::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_end(&mut bytes).unwrap();
    Ok(bytes)
}

/// Packs into a stream (the reading-and-writing writer).
fn pack_stream(image: &SourceImage, ids: &LayerDiffIds) -> Result<Vec<u8>, Error> {
    let keys = [SigningKey::from_bytes(&[7; 32])];
    let mut out = Vec::new();
    PackRequest {
        image,
        manifest: &manifest(image),
        keys: &keys,
        mtime: 1_750_000_000,
        selinux: &[],
        extra: &[],
        diff_ids: ids,
    }
    .write(&mut out)?;
    Ok(out)
}

/// Waits until files written now are old enough for a measurement to vouch
/// for them (the racy-timestamp margin of two whole seconds, plus the
/// second being truncated). Not a timed assertion: waiting longer changes
/// nothing.
fn age_files() {
    std::thread::sleep(Duration::from_millis(3_500));
}

#[test]
fn the_writer_trusts_a_measure_only_of_the_unchanged_source() {
    let tmp = tempfile::tempdir().unwrap();
    let (same, in_place, replaced) = (
        tmp.path().join("same"),
        tmp.path().join("in-place"),
        tmp.path().join("replaced"),
    );
    layout(&same);
    let in_place_blobs = layout(&in_place);
    let replaced_blobs = layout(&replaced);
    // The same image as an archive: its blobs are members of one file.
    let archive = tmp.path().join("image.tar");
    let mut t = tar::Builder::new(File::create(&archive).unwrap());
    t.append_dir_all(".", &same).unwrap();
    t.into_inner().unwrap().sync_all().unwrap();
    age_files();

    // Unchanged: both layers copied without a second hash (the config, not
    // measured, is hashed), and the bundle is the one the writer makes
    // when it hashes everything (no measure), in both writers.
    let image = open(&same);
    let ids = measure(&image);
    let trusted = pack_file(&image, &ids, &tmp.path().join("a.ctp")).unwrap();
    assert_eq!(ids.blobs().copied_unhashed(), 2);
    assert_eq!(ids.blobs().rehashed(), 1);
    let all_ids: Vec<Digest> = image.parts.layers.iter().map(|l| l.digest).collect();
    let hashed = pack_file(
        &image,
        &LayerDiffIds::measured(all_ids.clone()),
        &tmp.path().join("b.ctp"),
    )
    .unwrap();
    assert!(trusted == hashed, "the bundle differs when the writer skips the hash");
    let streamed = pack_stream(&image, &ids).unwrap();
    assert_eq!(ids.blobs().copied_unhashed(), 4);
    assert!(streamed == hashed, "the streamed bundle differs");

    // From the archive: each member measured at its offset; then one byte
    // of the archive changed in place (the first layer's data), so every
    // member's source changed: all hashed, and the changed layer refused.
    let image = SourceImage::open(&format!("oci-archive:{}:1.0", archive.display())).unwrap();
    let ids = measure(&image);
    let from_archive = pack_file(&image, &ids, &tmp.path().join("e.ctp")).unwrap();
    assert_eq!(ids.blobs().copied_unhashed(), 2);
    assert!(from_archive == hashed, "the bundle from the archive differs");
    let ids = measure(&image);
    let mut bytes = std::fs::read(&archive).unwrap();
    let big = (0..64u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect::<Vec<u8>>();
    let at = bytes.windows(64).position(|w| w == &big[..]).unwrap() + 100_000;
    bytes[at] ^= 1;
    let mut f = OpenOptions::new().write(true).open(&archive).unwrap();
    f.write_all(&bytes).unwrap();
    drop(f);
    let e = pack_file(&image, &ids, &tmp.path().join("f.ctp")).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    assert_eq!(ids.blobs().copied_unhashed(), 0);

    // Same size, new bytes, changed in place after the measure: the writer
    // sees new times, hashes the copy and refuses it.
    let image = open(&in_place);
    let ids = measure(&image);
    {
        let mut f = OpenOptions::new().write(true).open(&in_place_blobs[0]).unwrap();
        f.seek(SeekFrom::Start(4096)).unwrap();
        f.write_all(b"not what was measured").unwrap();
    }
    let e = pack_file(&image, &ids, &tmp.path().join("c.ctp")).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    // Only the other layer, unchanged, was copied unhashed.
    assert_eq!(ids.blobs().copied_unhashed(), 1);
    let e = pack_stream(&image, &ids).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");

    // A new file (new inode) renamed over the measured one, same size.
    let image = open(&replaced);
    let ids = measure(&image);
    let mut bytes = std::fs::read(&replaced_blobs[1]).unwrap();
    let at = bytes.windows(6).position(|w| w == b"hello\n").unwrap();
    bytes[at..at + 6].copy_from_slice(b"HELLO\n");
    let new = replaced.join("blobs/new");
    std::fs::write(&new, &bytes).unwrap();
    std::fs::rename(&new, &replaced_blobs[1]).unwrap();
    let e = pack_file(&image, &ids, &tmp.path().join("d.ctp")).unwrap_err();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{e}");
    // The first layer, unchanged, was still copied unhashed.
    assert_eq!(ids.blobs().copied_unhashed(), 1);
}

#[test]
fn a_source_changed_just_before_its_measure_is_hashed_again() {
    // Written a moment ago: a change made now could keep the same times
    // (coarse timestamps), so the measure does not vouch for the source.
    let tmp = tempfile::tempdir().unwrap();
    for blob in layout(tmp.path()) {
        // Changed now (a chmod sets the ctime), measured right after.
        let perm = std::fs::metadata(&blob).unwrap().permissions();
        std::fs::set_permissions(&blob, perm).unwrap();
    }
    let image = open(tmp.path());
    let ids = measure(&image);
    let bytes = pack_file(&image, &ids, &tmp.path().join("a.ctp")).unwrap();
    assert_eq!(ids.blobs().copied_unhashed(), 0);
    assert_eq!(ids.blobs().rehashed(), 3);
    assert!(!bytes.is_empty());
}

#[test]
fn a_meter_refuses_a_blob_that_does_not_match_its_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let blobs = layout(tmp.path());
    let image = open(tmp.path());
    let mut f = OpenOptions::new().write(true).open(&blobs[0]).unwrap();
    f.seek(SeekFrom::Start(1000)).unwrap();
    f.write_all(b"x").unwrap();
    drop(f);
    let mut m = BlobMeter::open(&image, &image.parts.layers[0], "layer").unwrap();
    std::io::copy(&mut m, &mut std::io::sink()).unwrap();
    assert!(matches!(m.finish().unwrap_err(), Error::DigestMismatch { .. }));
}
