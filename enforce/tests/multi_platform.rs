//! The start decision for a multi-platform image (#15): the store files the
//! bundle under its image index digest; a runtime that resolved the index
//! names the platform manifest it selected for this host and the index.
//! That manifest must be one the release statement binds, for this host's
//! platform: peers that verify the index and then run a platform manifest
//! nobody checked are refused (`platform_not_attested`, exit 5).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use cerro_core::bundle::{read_bundle_file, NoExtract};
use cerro_core::digest::Digest;
use cerro_core::image::layout::{platform_config, write_platform_index, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::image::{chain_id, host_architecture, BlobRef, Platform};
use cerro_core::policy_interface::NoPolicy;
use cerro_core::testing::manifest_for;
use cerro_core::trust::home::Home;
use cerro_enforce::testing::FakeSelinux;
use cerro_enforce::{decide, BundleStore, Config, Mode, Request};

const NOW: u64 = 1_800_000_000;

static NO_SELINUX: std::sync::LazyLock<FakeSelinux> = std::sync::LazyLock::new(FakeSelinux::disabled);

/// The architecture of the platform that is not this host's.
fn other_arch() -> &'static str {
    if host_architecture() == "arm64" {
        "amd64"
    } else {
        "arm64"
    }
}

fn linux(arch: &str) -> Platform {
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: None,
    }
}

fn platform_image(dir: &Path, arch: &str, tag: &str) -> BlobRef {
    let mut b = LayoutBuilder::new(dir).unwrap();
    b.layer_tar(&[("etc/motd", 0o644, b"shared\n")]).unwrap();
    b.layer_tar(&[("bin/app", 0o755, format!("{arch} {tag}\n").as_bytes())])
        .unwrap();
    b.finish_image(platform_config("linux", arch, &["/bin/app"])).unwrap()
}

struct Fx {
    _dir: tempfile::TempDir,
    cfg: Config,
    layout: PathBuf,
    bundle: PathBuf,
    index: Digest,
    /// This host's platform manifest, and its layers' chain id.
    host: (Digest, Digest),
    /// The other platform's.
    other: (Digest, Digest),
}

/// A two-platform index (this host's architecture and another one),
/// packed, verified and filed in the store.
fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let layout = d.join("img");
    let host = platform_image(&layout, host_architecture(), "signed");
    let other = platform_image(&layout, other_arch(), "signed");
    write_platform_index(
        &layout,
        &[(host, linux(host_architecture())), (other, linux(other_arch()))],
        Some("1"),
    )
    .unwrap();
    let image = SourceImage::open(&format!("oci:{}:1", layout.display())).unwrap();
    let home = Home::new(d.join("home"));
    home.generate_key("k", None).unwrap();
    let key = home.load_signing_key("k", None).unwrap();
    let manifest = manifest_for(&image, "multi", "1");
    let path = d.join("b.ctp");
    cerro_core::pack::PackRequest {
        image: &image,
        manifest: &manifest,
        keys: &[key],
        mtime: 0,
        selinux: &[],
        extra: &[],
        diff_ids: &cerro_core::pack::LayerDiffIds::of_uncompressed(&image).unwrap(),
    }
    .write(&mut std::fs::File::create(&path).unwrap())
    .unwrap();
    let v = cerro_core::verify::verify(
        read_bundle_file(&std::fs::File::open(&path).unwrap(), &mut NoExtract).unwrap(),
        &home.load_trust().unwrap(),
        &NoPolicy,
        NOW,
    )
    .unwrap();
    let chain = |i: usize| chain_id(&v.platforms[i].config.diff_ids).unwrap();
    let fx_host = (v.platforms[0].manifest.digest, chain(0));
    let fx_other = (v.platforms[1].manifest.digest, chain(1));
    let cfg = Config {
        home: d.join("home"),
        store: d.join("store"),
        policy: None,
        audit_log: d.join("audit.log"),
        mode: Mode::Enforce,
    };
    let stored = BundleStore::new(&cfg.store)
        .add(&path, &v, cerro_enforce::Rollback::Refuse)
        .unwrap();
    Fx {
        index: image.manifest.digest,
        bundle: stored.path,
        cfg,
        layout,
        host: fx_host,
        other: fx_other,
        _dir: dir,
    }
}

fn ask<'a>(images: &'a [Digest], chain: Option<&'a Digest>) -> Request<'a> {
    Request {
        component: "test",
        container: Some("c1"),
        images,
        bundle: None,
        now: NOW,
        selinux: &*NO_SELINUX,
        given_labels: None,
        lookup_error: None,
        rootfs_chain: chain,
        pull: false,
    }
}

fn last_audit(cfg: &Config) -> serde_json::Value {
    let text = std::fs::read_to_string(&cfg.audit_log).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn the_host_platform_manifest_of_an_attested_index_is_admitted() {
    let fx = fixture();
    // What the shim passes: the selected manifest first, then the index.
    let images = [fx.host.0, fx.index];
    let d = decide(&fx.cfg, &ask(&images, Some(&fx.host.1)));
    assert!(d.allowed && d.verified, "{}", d.reason);
    // The admission names the platform manifest the container runs.
    assert_eq!(d.admission().unwrap().image(), Some(&fx.host.0));
    // The root file system must be the selected platform's signed layers.
    let d = decide(&fx.cfg, &ask(&images, Some(&fx.other.1)));
    assert!(!d.allowed, "{}", d.reason);
    assert_eq!(d.check, Some("digest_mismatch"), "{}", d.reason);
}

#[test]
fn the_other_platform_manifest_is_refused_on_this_host() {
    let fx = fixture();
    let images = [fx.other.0, fx.index];
    let d = decide(&fx.cfg, &ask(&images, Some(&fx.other.1)));
    assert!(!d.allowed && !d.verified, "{}", d.reason);
    assert_eq!(d.check, Some("platform_not_attested"), "{}", d.reason);
    assert_eq!(d.exit_code, 5);
    assert!(d.reason.contains(&format!("linux/{}", other_arch())), "{}", d.reason);
    assert!(d.reason.contains("this host is"), "{}", d.reason);
    assert_eq!(last_audit(&fx.cfg)["check"], "platform_not_attested");
}

#[test]
fn a_third_manifest_not_bound_by_the_statement_is_refused() {
    let fx = fixture();
    // Same platform, other content: a manifest the index does not name
    // (or an index with the same name re-pointed), which nobody signed.
    let third = platform_image(&fx.layout, host_architecture(), "unsigned");
    let images = [third.digest, fx.index];
    let d = decide(&fx.cfg, &ask(&images, None));
    assert!(!d.allowed, "{}", d.reason);
    assert_eq!(d.check, Some("platform_not_attested"), "{}", d.reason);
    assert!(d.reason.contains(&third.digest.to_string()), "{}", d.reason);
    assert!(d.reason.contains("not one of the platform manifests"), "{}", d.reason);
}

#[test]
fn an_index_whose_host_manifest_is_swapped_is_refused() {
    let fx = fixture();
    // Another index: the other platform's entry unchanged, this host's
    // swapped for a manifest nobody signed. The runtime resolves it and
    // selects the swapped manifest.
    let swapped = platform_image(&fx.layout, host_architecture(), "swapped");
    let other = SourceImage::open(&format!("oci:{}:1", fx.layout.display()))
        .unwrap()
        .platforms[1]
        .manifest
        .clone();
    let index2 = write_platform_index(
        &fx.layout,
        &[
            (swapped.clone(), linux(host_architecture())),
            (other, linux(other_arch())),
        ],
        Some("1"),
    )
    .unwrap();
    // No bundle is filed under the new index: refused.
    let images = [swapped.digest, index2.digest];
    let d = decide(&fx.cfg, &ask(&images, None));
    assert!(!d.allowed, "{}", d.reason);
    assert_eq!(d.check, Some("missing_attestation"), "{}", d.reason);
    // With the attested bundle named explicitly (or a runtime naming the
    // attested index beside the manifest it runs): the manifest is not bound.
    let images = [swapped.digest, fx.index];
    let d = decide(&fx.cfg, &ask(&images, None));
    assert_eq!(d.check, Some("platform_not_attested"), "{}", d.reason);
    let images = [swapped.digest, index2.digest];
    let d = decide(
        &fx.cfg,
        &Request {
            bundle: Some(&fx.bundle),
            ..ask(&images, None)
        },
    );
    assert!(!d.allowed, "{}", d.reason);
    assert_eq!(d.check, Some("platform_not_attested"), "{}", d.reason);
}

#[test]
fn a_runtime_naming_only_the_index_is_refused() {
    let fx = fixture();
    let images = [fx.index];
    let d = decide(&fx.cfg, &ask(&images, None));
    assert!(!d.allowed, "{}", d.reason);
    assert_eq!(d.check, Some("platform_not_attested"), "{}", d.reason);
    assert!(d.reason.contains("named only the image index"), "{}", d.reason);
}

#[test]
fn a_pull_of_the_attested_index_is_admitted_a_start_on_it_alone_is_not() {
    let fx = fixture();
    let host = cerro_enforce::Host::new(fx.cfg.clone(), || Ok(NOW));
    // The pull-time gate sees the index containerd pulls: every platform
    // of it is bound and verified, so the pull is admitted.
    let d = host.decide_pull("image-verifier", &fx.index);
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(last_audit(&fx.cfg)["component"], "image-verifier");
    // A pull of a manifest the index does not name, with no bundle of its
    // own, is not.
    let d = host.decide_pull("image-verifier", &Digest::of(b"not attested"));
    assert!(!d.allowed, "{}", d.reason);
    assert_eq!(d.check, Some("missing_attestation"), "{}", d.reason);
    // A start naming only the index is refused (which platform runs?).
    let d = host.decide_images("shim", Some("c1"), &[fx.index], None);
    assert_eq!(d.check, Some("platform_not_attested"), "{}", d.reason);
}
