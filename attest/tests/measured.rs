//! The layers' pass measures every layer blob it reads (digest and source
//! identity, for the bundle writer), with the SBOM and without it: an
//! uncompressed layer's diff_id is its digest as read, never assumed.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Duration;

use cerro_attest::layers::{diff_ids, scan_with, FileDigests};
use cerro_core::digest::Digest;
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::pack::LayerDiffIds;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// An uncompressed layer and a gzip one; returns the tars (diff_ids).
fn layout(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    let mut b = LayoutBuilder::new(dir).unwrap();
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    t.append_data(&mut h, "etc/motd", &b"hello\n"[..]).unwrap();
    let plain = t.into_inner().unwrap();
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    t.append_data(&mut h, "bin/x", &b"abc"[..]).unwrap();
    let gz = t.into_inner().unwrap();
    b.layer_raw(&plain, "application/vnd.oci.image.layer.v1.tar", Digest::of(&plain))
        .unwrap();
    b.layer_raw(
        &gzip(&gz),
        "application/vnd.oci.image.layer.v1.tar+gzip",
        Digest::of(&gz),
    )
    .unwrap();
    b.finish(basic_config(&["/bin/x"]), None).unwrap();
    (plain, gz)
}

#[test]
fn both_passes_measure_every_layer_blob_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, gz) = layout(dir.path());
    let image = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap();
    let expected = LayerDiffIds::measured(vec![Digest::of(&plain), Digest::of(&gz)]);

    // Just written: measured, but too fresh for the measure to vouch for
    // the source (the writer will hash them).
    let fresh = diff_ids(&image).unwrap();
    assert_eq!(fresh, expected);
    assert!(fresh.blobs().is_empty());

    // Old enough (two whole seconds, see cerro_core::pack): both layers,
    // from both passes.
    std::thread::sleep(Duration::from_millis(3_500));
    let no_sbom = diff_ids(&image).unwrap();
    assert_eq!(no_sbom, expected);
    assert_eq!(no_sbom.blobs().len(), 2);
    let sbom = scan_with(&image, FileDigests::Sha256, &|_| {}).unwrap();
    assert_eq!(sbom.diff_ids, expected);
    assert_eq!(sbom.diff_ids.blobs().len(), 2);
}

#[test]
fn the_pass_without_sbom_reads_an_uncompressed_layer_and_refuses_a_wrong_one() {
    // Before, the diff_id of an uncompressed layer was its digest, taken
    // from the manifest without reading it; now it is measured.
    let dir = tempfile::tempdir().unwrap();
    let (plain, _) = layout(dir.path());
    let p = dir.path().join("blobs/sha256").join(Digest::of(&plain).hex());
    let mut bytes = std::fs::read(&p).unwrap();
    let at = bytes.windows(6).position(|w| w == b"hello\n").unwrap();
    bytes[at] = b'j';
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&p, perm).unwrap();
    std::fs::write(&p, &bytes).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap();
    let e = diff_ids(&image).unwrap_err();
    assert!(matches!(e, cerro_core::Error::DigestMismatch { .. }), "{e}");
}
