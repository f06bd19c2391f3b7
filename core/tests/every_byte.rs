//! Every byte of a bundle is accounted for: flipping any single bit of the
//! file — tar headers, member data, padding, end-of-archive marker — makes
//! reading or verification fail. Exhaustive over a small bundle.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use cerro_core::bundle::{read_bundle, read_bundle_file, NoExtract};
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::manifest::{ImageRef, PackageManifest};
use cerro_core::policy_interface::NoPolicy;
use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};
use ed25519_dalek::SigningKey;

#[test]
fn flipping_any_bit_of_a_bundle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path()).unwrap();
    b.layer_tar(&[("a.txt", 0o644, b"alpha\n")]).unwrap();
    b.layer_tar(&[("b.txt", 0o600, b"bravo bravo\n")]).unwrap();
    b.finish(basic_config(&["/a.txt"]), Some("v1")).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap();
    let manifest = PackageManifest::from_draft(
        "[package]\nname = \"tiny\"\nversion = \"1\"\n",
        ImageRef {
            digest: image.manifest.digest,
            reference: image.reference.clone(),
        },
    )
    .unwrap();
    let key = SigningKey::from_bytes(&[42; 32]);
    let mut bundle = Vec::new();
    cerro_core::pack::pack(&image, &manifest, std::slice::from_ref(&key), 7, &mut bundle).unwrap();

    let mut trust = TrustStore::new();
    trust
        .insert(KeyEntry::new("k", key.verifying_key(), TrustLevel::Full))
        .unwrap();
    let accepts = |bytes: &[u8]| {
        read_bundle(&mut &bytes[..], &mut NoExtract)
            .ok()
            .map(|b| cerro_core::verify::verify(b, &trust, &NoPolicy, 0).is_ok())
            .unwrap_or(false)
    };
    assert!(accepts(&bundle), "the untouched bundle verifies");

    let mut accepted = Vec::new();
    let mut copy = bundle.clone();
    for i in 0..copy.len() {
        copy[i] ^= 0x01;
        if accepts(&copy) {
            accepted.push(i);
        }
        copy[i] ^= 0x01;
    }
    assert!(
        accepted.is_empty(),
        "{} of {} flipped bytes were accepted, first at {:?}",
        accepted.len(),
        copy.len(),
        &accepted[..accepted.len().min(10)]
    );
    // Cut anywhere, the bundle is refused too.
    for cut in (0..bundle.len()).step_by(97).chain([bundle.len() - 1]) {
        assert!(!accepts(&bundle[..cut]), "truncated at {cut} accepted");
    }

    // The same, reading from a file (positioned reads, padding read explicitly).
    let path = dir.path().join("flipped.ctp");
    let accepts_file = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        read_bundle_file(&f, &mut NoExtract)
            .ok()
            .map(|b| cerro_core::verify::verify(b, &trust, &NoPolicy, 0).is_ok())
            .unwrap_or(false)
    };
    assert!(accepts_file(&bundle));
    for i in 0..copy.len() {
        copy[i] ^= 0x80;
        assert!(!accepts_file(&copy), "file mode accepted a flip at {i}");
        copy[i] ^= 0x80;
    }
    for cut in (0..bundle.len()).step_by(211) {
        assert!(!accepts_file(&bundle[..cut]), "file mode accepted a cut at {cut}");
    }
}

/// Large blobs in a file are hashed by positioned reads on the workers:
/// damage inside them, and truncation inside them, are still caught.
#[test]
fn positioned_hashing_of_large_blobs_catches_damage() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(&dir.path().join("img")).unwrap();
    let big: Vec<u8> = (0..3_000_017u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    b.layer_tar(&[("big", 0o644, &big)]).unwrap();
    b.layer_tar(&[("big2", 0o644, &big[..2_100_000])]).unwrap();
    b.finish(basic_config(&["/big"]), None).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.path().join("img").display())).unwrap();
    let manifest = PackageManifest::from_draft(
        "[package]\nname = \"big\"\nversion = \"1\"\n",
        ImageRef {
            digest: image.manifest.digest,
            reference: None,
        },
    )
    .unwrap();
    let key = SigningKey::from_bytes(&[3; 32]);
    let mut bundle = Vec::new();
    cerro_core::pack::pack(&image, &manifest, std::slice::from_ref(&key), 0, &mut bundle).unwrap();
    // Packing into a file (kernel copy, hashing from the output) gives the same bytes.
    let mut f = tempfile::tempfile().unwrap();
    cerro_core::pack::pack_to_file(&image, &manifest, &[key], 0, &mut f).unwrap();
    let mut from_file = Vec::new();
    std::io::Seek::rewind(&mut f).unwrap();
    std::io::Read::read_to_end(&mut f, &mut from_file).unwrap();
    assert_eq!(from_file, bundle);
    let path = dir.path().join("b.ctp");
    let read = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        read_bundle_file(&std::fs::File::open(&path).unwrap(), &mut NoExtract)
    };
    let ok = read(&bundle).unwrap();
    assert_eq!(ok.parts.layers.len(), 2);
    let n = bundle.len();
    for at in [n / 4, n / 2, n - 3000, n - 1100] {
        let mut copy = bundle.clone();
        copy[at] ^= 0x10;
        assert!(read(&copy).is_err(), "flip at {at} accepted");
        assert!(read(&bundle[..at]).is_err(), "cut at {at} accepted");
    }
}
