//! The decision, without a runtime: allowed with a stored bundle, refused
//! without one, for another image, after revocation, under a policy; audit
//! mode allows but records; an unwritable audit log refuses.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use cerro_core::bundle::read_bundle_file;
use cerro_core::bundle::NoExtract;
use cerro_core::digest::Digest;
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::manifest::{ImageRef, PackageManifest};
use cerro_core::policy::NoPolicy;
use cerro_core::trust::home::Home;
use cerro_enforce::{decide, BundleStore, Config, Mode, Request};

const NOW: u64 = 1_800_000_000;

struct Fx {
    _dir: tempfile::TempDir,
    cfg: Config,
    image: Digest,
}

fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut b = LayoutBuilder::new(&d.join("img")).unwrap();
    b.layer_tar(&[("hello", 0o644, b"hi\n")]).unwrap();
    b.finish(basic_config(&["/hello"]), Some("1")).unwrap();
    let image = SourceImage::open(&format!("oci:{}", d.join("img").display())).unwrap();
    let home = Home::new(d.join("home"));
    home.generate_key("k", None).unwrap();
    let key = home.load_signing_key("k", None).unwrap();
    let manifest = PackageManifest::from_draft(
        "[package]\nname = \"hello\"\nversion = \"1\"\n",
        ImageRef {
            digest: image.manifest.digest,
            reference: image.reference.clone(),
        },
    )
    .unwrap();
    let path = d.join("b.ctp");
    let mut out = std::fs::File::create(&path).unwrap();
    cerro_core::pack::pack(&image, &manifest, &[key], 0, &mut out).unwrap();
    let trust = home.load_trust().unwrap();
    let v = cerro_core::verify::verify(
        read_bundle_file(&std::fs::File::open(&path).unwrap(), &mut NoExtract).unwrap(),
        &trust,
        &NoPolicy,
        NOW,
    )
    .unwrap();
    let cfg = Config {
        home: d.join("home"),
        store: d.join("store"),
        policy: None,
        audit_log: d.join("audit.log"),
        mode: Mode::Enforce,
    };
    BundleStore::new(&cfg.store).add(&path, &v).unwrap();
    Fx {
        image: image.manifest.digest,
        cfg,
        _dir: dir,
    }
}

fn ask<'a>(images: &'a [Digest], bundle: Option<&'a Path>) -> Request<'a> {
    Request {
        component: "test",
        container: Some("c1"),
        images,
        bundle,
        now: NOW,
    }
}

fn audit(cfg: &Config) -> Vec<serde_json::Value> {
    std::fs::read_to_string(&cfg.audit_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_stored_attested_image_is_allowed_and_logged() {
    let fx = fixture();
    let d = decide(&fx.cfg, &ask(&[fx.image], None));
    assert!(d.allowed && d.verified, "{}", d.reason);
    assert_eq!(d.signers, ["k"]);
    let log = audit(&fx.cfg);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["allowed"], true);
    assert_eq!(log[0]["images"][0], fx.image.to_string());
}

#[test]
fn refusals_name_the_check() {
    let fx = fixture();
    let other = Digest::of(b"another image");
    let d = decide(&fx.cfg, &ask(&[other], None));
    assert!(!d.allowed);
    assert_eq!((d.check, d.exit_code), (Some("missing_attestation"), 5));

    // An explicit bundle for another image than the container's.
    let stored = BundleStore::new(&fx.cfg.store).path_for(&fx.image);
    let d = decide(&fx.cfg, &ask(&[other], Some(&stored)));
    assert_eq!((d.allowed, d.check, d.exit_code), (false, Some("digest_mismatch"), 1));

    // Revoked signer.
    Home::new(&fx.cfg.home)
        .update_key("k", |k| k.revoked_at = Some(1))
        .unwrap();
    let d = decide(&fx.cfg, &ask(&[fx.image], None));
    assert_eq!(
        (d.allowed, d.check, d.exit_code),
        (false, Some("signer_not_trusted"), 3)
    );
    assert!(d.reason.contains("revoked"), "{}", d.reason);
}

#[test]
fn a_policy_applies_and_a_broken_one_refuses() {
    let mut fx = fixture();
    let p = fx.cfg.home.join("policy.json");
    std::fs::write(
        &p,
        r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}],"threshold":2}}"#,
    )
    .unwrap();
    fx.cfg.policy = Some(p.clone());
    let d = decide(&fx.cfg, &ask(&[fx.image], None));
    assert_eq!((d.allowed, d.check, d.exit_code), (false, Some("policy_rejection"), 4));
    std::fs::write(&p, "{ not a policy").unwrap();
    let d = decide(&fx.cfg, &ask(&[fx.image], None));
    assert_eq!((d.allowed, d.exit_code), (false, 78));
}

#[test]
fn audit_mode_allows_but_records_the_refusal() {
    let mut fx = fixture();
    fx.cfg.mode = Mode::Audit;
    let d = decide(&fx.cfg, &ask(&[Digest::of(b"x")], None));
    assert!(d.allowed && !d.verified);
    assert!(d.reason.starts_with("audit mode"));
    assert_eq!(audit(&fx.cfg)[0]["verified"], false);
}

#[test]
fn an_unwritable_audit_log_refuses_in_enforce_mode() {
    let mut fx = fixture();
    fx.cfg.audit_log = fx.cfg.store.join("sha256"); // a directory
    let d = decide(&fx.cfg, &ask(&[fx.image], None));
    assert!(!d.allowed);
    assert!(d.reason.contains("audit log"), "{}", d.reason);
}

#[test]
fn config_reads_the_environment() {
    let env = |k: &str| match k {
        "CERRO_HOME" => Some("/h".into()),
        "CERRO_MODE" => Some("audit".into()),
        _ => None,
    };
    let c = Config::for_daemon(env).unwrap();
    assert_eq!(c.home, Path::new("/h"));
    assert_eq!(c.store, Path::new("/var/lib/cerro-torre/store"));
    assert_eq!(c.mode, Mode::Audit);
    let bad = |k: &str| (k == "CERRO_MODE").then(|| "maybe".into());
    assert!(Config::for_daemon(bad).is_err());
}
