//! Fixtures for the tests of every crate that packs, verifies or decides:
//! the one-file image each of them packs, and the seeded generator of the
//! crash tests. Only built with the `test-util` feature, which only
//! dev-dependencies turn on: release builds never carry it. A fixture that
//! cannot be made is a broken test machine, so these panic with the reason.

use std::path::Path;
use std::time::Duration;

use crate::image::layout::{basic_config, LayoutBuilder};
use crate::image::source::SourceImage;
use crate::manifest::{ImageRef, PackageManifest};

/// A one-layer image laid out in `layout` (created), holding `file` (mode
/// 0644) with `contents`, running `cmd`, tagged `tag`; opened, with the
/// package manifest `name` `version` drafted for it, as `ct pack` would.
pub fn one_file_image(
    layout: &Path,
    (file, contents): (&str, &[u8]),
    cmd: &str,
    tag: &str,
    (name, version): (&str, &str),
) -> (SourceImage, PackageManifest) {
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! { panic!("{what} {}: {e}", layout.display()) };
    let mut b = LayoutBuilder::new(layout).unwrap_or_else(|e| fail("laying out", &e));
    b.layer_tar(&[(file, 0o644, contents)])
        .unwrap_or_else(|e| fail("writing the layer of", &e));
    b.finish(basic_config(&[cmd]), Some(tag))
        .unwrap_or_else(|e| fail("finishing", &e));
    let image = SourceImage::open(&format!("oci:{}:{tag}", layout.display())).unwrap_or_else(|e| fail("opening", &e));
    let manifest = manifest_for(&image, name, version);
    (image, manifest)
}

/// The package manifest `name` `version` drafted for `image`.
pub fn manifest_for(image: &SourceImage, name: &str, version: &str) -> PackageManifest {
    PackageManifest::from_draft(
        &format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\n"),
        ImageRef {
            digest: image.manifest.digest,
            reference: image.reference.clone(),
        },
    )
    .unwrap_or_else(|e| panic!("drafting the manifest of {name} {version}: {e}"))
}

/// xorshift64*: small, seeded, reproducible (kill times, batch sizes).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value: zero is made odd).
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, n)` (`0` when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A duration uniform in `[0, max)`, to the microsecond.
    pub fn below_duration(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.below(u64::try_from(max.as_micros()).unwrap_or(u64::MAX)))
    }
}

/// The seed of a randomised test: the environment variable `var` when set
/// (to replay a run), else the clock; printed with the line that replays it.
pub fn seed_from_env(var: &str, test: &str) -> u64 {
    let seed = std::env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("{test}: seed {seed} (replay with {var}={seed})");
    seed
}
