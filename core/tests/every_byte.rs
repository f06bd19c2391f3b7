//! Every byte of a bundle is accounted for: flipping any single bit of the
//! file — tar headers, member data, padding, end-of-archive marker — makes
//! reading or verification fail. Exhaustive over a small bundle.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use cerro_core::bundle::{read_bundle, NoExtract};
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::manifest::{ImageRef, PackageManifest};
use cerro_core::policy::NoPolicy;
use cerro_core::trust::{Fingerprint, KeyEntry, TrustLevel, TrustStore};
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
    let public = key.verifying_key();
    trust
        .insert(KeyEntry {
            id: "k".into(),
            fingerprint: Fingerprint::of(&public),
            public,
            level: TrustLevel::Full,
            revoked_at: None,
            valid_from: None,
            valid_until: None,
        })
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
}
