//! The decision, without a runtime: allowed with a stored bundle, refused
//! without one, for another image, after revocation, under a policy; audit
//! mode allows but records; an unwritable audit log refuses; the record
//! names the SELinux domain or says why the container runs unconfined, and
//! a module the host has not loaded (or podman labels that are not the
//! bundle's domain) refuses.

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
use cerro_enforce::{decide, BundleStore, Config, GivenLabels, Mode, Request, SelinuxHost, SelinuxMode, SelinuxStatus};

const NOW: u64 = 1_800_000_000;

struct Fx {
    _dir: tempfile::TempDir,
    cfg: Config,
    image: Digest,
}

/// A host without SELinux (as the machine these tests run on).
#[derive(Debug)]
struct NoSelinux;

impl SelinuxHost for NoSelinux {
    fn status(&self) -> SelinuxStatus {
        SelinuxStatus::Disabled("SELinux is not enabled in this kernel".into())
    }
    fn check_context(&self, _: &str) -> std::io::Result<()> {
        panic!("no context is checked without SELinux")
    }
}

/// An enforcing MCS host whose policy has the types of `loaded` modules.
#[derive(Debug)]
struct Enforcing {
    loaded: &'static [&'static str],
}

impl SelinuxHost for Enforcing {
    fn status(&self) -> SelinuxStatus {
        SelinuxStatus::Enabled {
            mode: Some(SelinuxMode::Enforcing),
            mls: true,
        }
    }
    fn check_context(&self, context: &str) -> std::io::Result<()> {
        let ty = context.split(':').nth(2).unwrap_or_default();
        if self
            .loaded
            .iter()
            .any(|m| ty == format!("{m}_t") || ty == format!("{m}_file_t"))
        {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(22))
        }
    }
}

fn fixture() -> Fx {
    fixture_with(false)
}

/// The fixture; with `module`, the bundle carries `selinux/ct_hello.cil`.
fn fixture_with(module: bool) -> Fx {
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
    let cil = cerro_selinux::generate(&manifest, None).unwrap();
    let modules = [(cil.member_path(), cil.cil.into_bytes())];
    cerro_core::pack::PackRequest {
        image: &image,
        manifest: &manifest,
        keys: &[key],
        mtime: 0,
        selinux: if module { &modules[..] } else { &[] },
        extra: &[],
        diff_ids: &cerro_core::pack::LayerDiffIds::of_uncompressed(&image).unwrap(),
    }
    .write(&mut out)
    .unwrap();
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
        selinux: &NoSelinux,
        given_labels: None,
        lookup_error: None,
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
    assert_eq!(
        log[0]["confinement"],
        serde_json::json!({"kind": "unconfined", "reason": "SELinux is not enabled in this kernel"})
    );
}

#[test]
fn without_selinux_a_bundle_with_a_module_runs_unconfined_and_the_record_says_why() {
    let fx = fixture_with(true);
    let d = decide(&fx.cfg, &ask(&[fx.image], None));
    assert!(d.allowed && d.verified, "{}", d.reason);
    assert!(
        d.reason
            .ends_with("; unconfined (SELinux is not enabled in this kernel)"),
        "{}",
        d.reason
    );
    let log = audit(&fx.cfg);
    assert_eq!(log[0]["confinement"]["kind"], "unconfined");
    assert_eq!(log[0]["confinement"]["reason"], "SELinux is not enabled in this kernel");
}

#[test]
fn with_selinux_the_record_names_the_bundle_domain() {
    let fx = fixture_with(true);
    let host = Enforcing { loaded: &["ct_hello"] };
    let d = decide(
        &fx.cfg,
        &Request {
            selinux: &host,
            ..ask(&[fx.image], None)
        },
    );
    assert!(d.allowed && d.verified, "{}", d.reason);
    assert!(d.reason.ends_with("; SELinux domain ct_hello_t"), "{}", d.reason);
    assert_eq!(
        audit(&fx.cfg)[0]["confinement"],
        serde_json::json!({
            "kind": "domain",
            "module": "ct_hello",
            "domain": "ct_hello_t",
            "process_label": "system_u:system_r:ct_hello_t:s0",
            "mount_label": "system_u:object_r:ct_hello_file_t:s0",
            "mode": "enforcing",
        })
    );

    // Without a module in the bundle: unconfined, and the record says so.
    let fx = fixture_with(false);
    let d = decide(
        &fx.cfg,
        &Request {
            selinux: &host,
            ..ask(&[fx.image], None)
        },
    );
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(
        audit(&fx.cfg)[0]["confinement"]["reason"],
        "the bundle carries no SELinux module (selinux/ct_hello.cil)"
    );
}

#[test]
fn with_selinux_a_module_not_loaded_refuses() {
    let mut fx = fixture_with(true);
    let host = Enforcing { loaded: &["ct_other"] };
    let images = [fx.image];
    let req = Request {
        selinux: &host,
        ..ask(&images, None)
    };
    let d = decide(&fx.cfg, &req);
    assert_eq!((d.allowed, d.check, d.exit_code), (false, Some("confinement"), 78));
    assert!(
        d.reason
            .starts_with("SELinux module ct_hello is not loaded on this host")
            && d.reason.contains("system_u:system_r:ct_hello_t:s0")
            && d.reason.contains("ct selinux install BUNDLE"),
        "{}",
        d.reason
    );
    let log = audit(&fx.cfg);
    assert_eq!(log[0]["check"], "confinement");
    assert!(log[0]["confinement"].is_null());

    // Audit mode: starts, verified false, and nothing claims a domain.
    fx.cfg.mode = Mode::Audit;
    let d = decide(&fx.cfg, &req);
    assert!(d.allowed && !d.verified);
    let log = audit(&fx.cfg);
    assert_eq!(
        log[1]["confinement"],
        serde_json::json!({
            "kind": "unconfined",
            "reason": "audit mode: the container starts without a verified bundle's SELinux domain"
        })
    );
}

#[test]
fn given_labels_that_are_not_the_bundle_domain_refuse() {
    let fx = fixture_with(true);
    let host = Enforcing { loaded: &["ct_hello"] };
    let podman_default = GivenLabels {
        process: Some("system_u:system_r:container_t:s0:c1,c2".into()),
        mount: Some("system_u:object_r:container_file_t:s0:c1,c2".into()),
    };
    let d = decide(
        &fx.cfg,
        &Request {
            selinux: &host,
            given_labels: Some(&podman_default),
            ..ask(&[fx.image], None)
        },
    );
    assert_eq!((d.allowed, d.check, d.exit_code), (false, Some("confinement"), 78));
    assert!(
        d.reason
            .ends_with("--security-opt label=type:ct_hello_t --security-opt label=filetype:ct_hello_file_t"),
        "{}",
        d.reason
    );
    let right = GivenLabels {
        process: Some("system_u:system_r:ct_hello_t:s0:c1,c2".into()),
        mount: Some("system_u:object_r:ct_hello_file_t:s0:c1,c2".into()),
    };
    let d = decide(
        &fx.cfg,
        &Request {
            selinux: &host,
            given_labels: Some(&right),
            ..ask(&[fx.image], None)
        },
    );
    assert!(d.allowed, "{}", d.reason);
    // Without SELinux, podman's (absent) labels are not checked.
    let d = decide(
        &fx.cfg,
        &Request {
            given_labels: Some(&GivenLabels::default()),
            ..ask(&[fx.image], None)
        },
    );
    assert!(d.allowed, "{}", d.reason);
}

#[test]
fn refusals_name_the_check() {
    let fx = fixture();
    let other = Digest::of(b"another image");
    let d = decide(&fx.cfg, &ask(&[other], None));
    assert!(!d.allowed);
    assert_eq!((d.check, d.exit_code), (Some("missing_attestation"), 5));
    // A container that does not start claims no confinement.
    assert!(d.confinement.is_none());
    assert!(audit(&fx.cfg)[0]["confinement"].is_null());

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
    // Without SELinux on the host, that is the reason it runs unconfined.
    assert_eq!(
        audit(&fx.cfg)[0]["confinement"]["reason"],
        "SELinux is not enabled in this kernel"
    );
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

/// A runtime that could not say which image runs: the refusal's audit
/// record says why, in enforce mode; audit mode starts it and says so too.
#[test]
fn an_image_lookup_failure_is_in_the_audit_record() {
    let mut fx = fixture_with(false);
    let req = Request {
        lookup_error: Some("container c1 not found in namespace k8s.io"),
        ..ask(&[], None)
    };
    let d = decide(&fx.cfg, &req);
    assert!(!d.allowed);
    let rec = &audit(&fx.cfg)[0];
    let reason = rec["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("cannot tell which image the container runs (container c1 not found in namespace k8s.io); "),
        "{reason}"
    );
    assert_eq!(rec["allowed"], false);
    assert_eq!(rec["images"], serde_json::json!([]));

    fx.cfg.mode = Mode::Audit;
    let d = decide(&fx.cfg, &req);
    assert!(d.allowed && !d.verified);
    let rec = &audit(&fx.cfg)[1];
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("not found in namespace k8s.io"),
        "{rec}"
    );
}
