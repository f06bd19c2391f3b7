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
use cerro_core::policy_interface::NoPolicy;
use cerro_core::trust::home::Home;
use cerro_enforce::{decide, BundleStore, Config, GivenLabels, Mode, Request};

const NOW: u64 = 1_800_000_000;

struct Fx {
    _dir: tempfile::TempDir,
    cfg: Config,
    image: Digest,
}

// The host's SELinux: the shared double (`cerro_enforce::testing`), a host
// without SELinux (as the machine these tests run on) or an enforcing MCS
// host whose policy has the types of the modules given.
use cerro_enforce::testing::FakeSelinux;

static NO_SELINUX: std::sync::LazyLock<FakeSelinux> = std::sync::LazyLock::new(FakeSelinux::disabled);

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
    BundleStore::new(&cfg.store)
        .add(&path, &v, cerro_enforce::Rollback::Refuse)
        .unwrap();
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
        selinux: &*NO_SELINUX,
        given_labels: None,
        lookup_error: None,
        rootfs_chain: None,
        pull: false,
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
    let host = FakeSelinux::with_modules(&["ct_hello"]);
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
    let host = FakeSelinux::with_modules(&["ct_other"]);
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
    let host = FakeSelinux::with_modules(&["ct_hello"]);
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
    // With CERRO_HOME set and no CERRO_STORE, a daemon's store is under it,
    // as ct's is (issue 13: it kept /var/lib/cerro-torre/store, so ct and
    // the daemons disagreed).
    assert_eq!(c.store, Path::new("/h/store"));
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
        rootfs_chain: None,
        pull: false,
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

/// F4: an explicit bundle alone binds nothing. A container whose image the
/// runtime cannot name (`podman run --rootfs`) is refused even with a
/// bundle that verifies named explicitly.
#[test]
fn an_explicit_bundle_without_an_image_is_refused() {
    let mut fx = fixture();
    let stored = BundleStore::new(&fx.cfg.store).path_for(&fx.image);
    let req = Request {
        lookup_error: Some("image  of container c1 is not in the image store"),
        rootfs_chain: None,
        pull: false,
        ..ask(&[], Some(&stored))
    };
    let d = decide(&fx.cfg, &req);
    assert_eq!(
        (d.allowed, d.verified, d.check, d.exit_code),
        (false, false, Some("missing_attestation"), 5),
        "{}",
        d.reason
    );
    assert!(
        d.reason.contains("attests an image the runtime did not name"),
        "{}",
        d.reason
    );
    assert!(d.signers.is_empty() && d.package.is_none());
    // Without a lookup error either.
    let d = decide(&fx.cfg, &ask(&[], Some(&stored)));
    assert_eq!((d.allowed, d.exit_code), (false, 5), "{}", d.reason);
    // In audit mode it starts, but is not verified.
    fx.cfg.mode = Mode::Audit;
    let d = decide(&fx.cfg, &req);
    assert!(d.allowed && !d.verified, "{}", d.reason);
}

/// F4: a bundle named explicitly is opened without blocking and must be a
/// regular file: a FIFO (or a directory) is refused, it does not hang the
/// start. Before the fix the open blocked until a writer came (a writer
/// thread is started here, so the old code returned a different refusal
/// instead of hanging the test).
#[test]
fn an_explicit_bundle_that_is_not_a_regular_file_is_refused() {
    let fx = fixture();
    let fifo = fx.cfg.store.join("sha256").join("fifo.ctp");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer = fifo.clone();
    // Detached: with the fix no blocking reader ever opens the FIFO.
    std::thread::spawn(move || drop(std::fs::OpenOptions::new().write(true).open(writer)));
    let d = decide(&fx.cfg, &ask(&[fx.image], Some(&fifo)));
    assert_eq!(
        (d.allowed, d.check, d.exit_code),
        (false, Some("config"), 78),
        "{}",
        d.reason
    );
    assert!(
        d.reason.contains("a bundle must be a regular file, this is a FIFO"),
        "{}",
        d.reason
    );

    let dir = fx.cfg.store.join("sha256");
    let d = decide(&fx.cfg, &ask(&[fx.image], Some(&dir)));
    assert_eq!((d.allowed, d.exit_code), (false, 78), "{}", d.reason);
    assert!(d.reason.contains("this is a directory"), "{}", d.reason);
}

/// F18: a symbolic link planted at the audit log's path is not followed:
/// the decision refuses (enforce mode) and the link's target is untouched.
#[test]
fn a_symlink_at_the_audit_log_path_is_refused() {
    let mut fx = fixture();
    let target = fx.cfg.store.join("victim");
    std::fs::write(&target, b"").unwrap();
    let link = fx.cfg.store.join("audit-link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    fx.cfg.audit_log = link;
    let d = decide(&fx.cfg, &ask(&[fx.image], None));
    assert_eq!(
        (d.allowed, d.check, d.exit_code),
        (false, Some("io"), 11),
        "{}",
        d.reason
    );
    assert!(d.reason.starts_with("cannot write the audit log"), "{}", d.reason);
    assert_eq!(std::fs::read(&target).unwrap(), b"");
}

/// The daemon's environment for the fixture's paths.
fn daemon_env(fx: &Fx) -> impl Fn(&str) -> Option<std::ffi::OsString> + '_ {
    move |k: &str| match k {
        "CERRO_HOME" => Some(fx.cfg.home.clone().into()),
        "CERRO_STORE" => Some(fx.cfg.store.clone().into()),
        "CERRO_AUDIT_LOG" => Some(fx.cfg.audit_log.clone().into()),
        _ => None,
    }
}

/// F12: `<home>/policy.json` that is there but cannot be read (a dangling
/// symbolic link, a directory) refuses; before, it silently dropped to the
/// baseline. Nothing there means the baseline, and the record says so.
#[test]
fn a_default_policy_that_cannot_be_read_refuses() {
    let fx = fixture();
    let cfg = Config::for_daemon(daemon_env(&fx)).unwrap();
    assert_eq!(cfg.policy, None);
    let d = decide(&cfg, &ask(&[fx.image], None));
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(d.policy, cerro_enforce::NO_POLICY);
    assert_eq!(
        audit(&cfg)[0]["policy"],
        "no deployment policy: baseline of one full signer"
    );

    let p = fx.cfg.home.join("policy.json");
    std::os::unix::fs::symlink(fx.cfg.home.join("gone.json"), &p).unwrap();
    let cfg = Config::for_daemon(daemon_env(&fx)).unwrap();
    assert_eq!(cfg.policy.as_deref(), Some(p.as_path()));
    let d = decide(&cfg, &ask(&[fx.image], None));
    assert_eq!(
        (d.allowed, d.check, d.exit_code),
        (false, Some("io"), 11),
        "{}",
        d.reason
    );
    assert!(d.reason.contains("policy.json"), "{}", d.reason);
    assert_eq!(audit(&cfg)[1]["policy"], p.display().to_string());

    std::fs::remove_file(&p).unwrap();
    std::fs::create_dir(&p).unwrap();
    let cfg = Config::for_user(daemon_env(&fx)).unwrap();
    assert_eq!(cfg.policy.as_deref(), Some(p.as_path()));
    let d = decide(&cfg, &ask(&[fx.image], None));
    assert!(!d.allowed, "{}", d.reason);
}

/// F13: a daemon refuses a trust root, `trust.toml`, `keys/`, policy or
/// store that is not root's alone (sshd's StrictModes); `ct` (a user) does
/// not check. Needs root to chown (the test machine runs tests as root).
#[test]
fn a_daemon_refuses_trust_roots_others_can_change() {
    use std::os::unix::fs::PermissionsExt;
    let fx = fixture();
    let policy = fx.cfg.home.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}],"threshold":1}}"#,
    )
    .unwrap();
    assert!(Config::for_daemon(daemon_env(&fx)).is_ok());
    let chmod = |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    let cases: [(std::path::PathBuf, u32, u32); 5] = [
        (fx.cfg.home.clone(), 0o777, 0o700),
        (fx.cfg.home.join("trust.toml"), 0o664, 0o644),
        (fx.cfg.home.join("keys"), 0o757, 0o755),
        (fx.cfg.store.clone(), 0o1777, 0o755),
        (policy.clone(), 0o666, 0o644),
    ];
    for (path, bad, good) in &cases {
        chmod(path, *bad);
        let e = Config::for_daemon(daemon_env(&fx)).unwrap_err();
        assert_eq!(e.exit_code(), cerro_core::ExitCode::Config);
        assert!(
            e.to_string().contains(&format!("{} is writable by", path.display())),
            "{e}"
        );
        // A user's ct does not check.
        Config::for_user(daemon_env(&fx)).unwrap();
        chmod(path, *good);
    }
    for (path, _, _) in &cases {
        std::os::unix::fs::chown(path, Some(65534), None).unwrap();
        let e = Config::for_daemon(daemon_env(&fx)).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("{} is owned by uid 65534, not root", path.display())),
            "{e}"
        );
        std::os::unix::fs::chown(path, Some(0), None).unwrap();
    }
    assert!(Config::for_daemon(daemon_env(&fx)).is_ok());
}

/// F12: without a readable clock nothing is decided; the refusal is
/// recorded (time `unknown`) and holds in audit mode too.
#[test]
fn a_refusal_without_a_clock_is_recorded_and_holds_in_audit_mode() {
    let mut fx = fixture();
    fx.cfg.mode = Mode::Audit;
    let e = cerro_core::clock::unix_seconds(std::time::UNIX_EPOCH - std::time::Duration::from_secs(1)).unwrap_err();
    let d = cerro_enforce::refuse_without_clock(&fx.cfg, "test", Some("c1"), &[fx.image], e);
    assert_eq!(
        (d.allowed, d.verified, d.check, d.exit_code),
        (false, false, Some("config"), 78)
    );
    let rec = &audit(&fx.cfg)[0];
    assert_eq!(rec["time"], "unknown");
    assert_eq!(rec["allowed"], false);
    assert!(rec["reason"].as_str().unwrap().contains("clock"), "{rec}");
}

#[test]
fn the_root_file_system_must_be_the_chain_of_the_signed_diff_ids() {
    let fx = fixture();
    let stored = BundleStore::new(&fx.cfg.store).path_for(&fx.image);
    let bundle = cerro_core::bundle::read_bundle_file(
        &std::fs::File::open(&stored).unwrap(),
        &mut cerro_core::bundle::NoExtract,
    )
    .unwrap();
    let signed = cerro_core::image::chain_id(&bundle.config.diff_ids).unwrap();
    // The snapshot the runtime mounts is made of the signed layers: allowed.
    let d = decide(
        &fx.cfg,
        &Request {
            rootfs_chain: Some(&signed),
            pull: false,
            ..ask(&[fx.image], None)
        },
    );
    assert!(d.allowed && d.verified, "{}", d.reason);
    // Any other chain (layers a differently read config named): refused.
    let other = Digest::of(b"layers nobody signed");
    let d = decide(
        &fx.cfg,
        &Request {
            rootfs_chain: Some(&other),
            pull: false,
            ..ask(&[fx.image], None)
        },
    );
    assert!(!d.allowed && !d.verified, "{}", d.reason);
    assert_eq!(d.check, Some("digest_mismatch"));
    assert_eq!(d.exit_code, 1);
    assert!(d.reason.contains("signed diffIds"), "{}", d.reason);
}

#[test]
fn only_a_decision_to_start_carries_an_admission() {
    let mut fx = fixture();
    // Verified: the admission carries the confinement, no override.
    let d = decide(&fx.cfg, &ask(&[fx.image], None));
    let a = d.admission().expect("an allowed start carries its admission");
    assert!(!a.audit_override());
    assert_eq!(Some(a.confinement()), d.confinement.as_ref());
    // Refused: nothing for the acts to take.
    let other = Digest::of(b"an image nobody attested");
    let d = decide(&fx.cfg, &ask(&[other], None));
    assert!(!d.allowed && d.admission().is_none());
    // Audit mode starts it anyway, and the admission says it is an override.
    fx.cfg.mode = Mode::Audit;
    let d = decide(&fx.cfg, &ask(&[other], None));
    assert!(d.allowed && !d.verified);
    assert!(d.admission().expect("audit mode admits").audit_override());
}

/// #17: the admission names what it admits, the container and the image
/// of the request it was decided for, so an act can check it is acting on
/// that container (the hook: the id in its OCI state).
#[test]
fn an_admission_names_the_container_and_the_image_it_admits() {
    let mut fx = fixture();
    let other = Digest::of(b"another name for nothing");
    let d = decide(&fx.cfg, &ask(&[other, fx.image], None));
    let a = d.admission().expect("admitted");
    assert_eq!(a.container(), Some("c1"));
    // The image the verified bundle attests, not merely the first named.
    assert_eq!(a.image(), Some(&fx.image));
    let images = [fx.image];
    let mut req = ask(&images, None);
    req.container = Some("c2");
    let d = decide(&fx.cfg, &req);
    assert_eq!(d.admission().unwrap().container(), Some("c2"));
    req.container = None;
    let d = decide(&fx.cfg, &req);
    assert_eq!(d.admission().unwrap().container(), None);
    // An audit override names the container and the image the runtime named.
    fx.cfg.mode = Mode::Audit;
    let d = decide(&fx.cfg, &ask(&[other], None));
    let a = d.admission().expect("audit mode admits");
    assert!(a.audit_override());
    assert_eq!((a.container(), a.image()), (Some("c1"), Some(&other)));
}

/// The host service: `verify_file` is the verification every front end
/// runs, `file` the store's add, and `decide`/`preview` the decision, the
/// preview unrecorded and admitting nothing.
#[test]
fn the_host_service_verifies_files_and_previews_the_decision() {
    use cerro_enforce::{Host, Rollback};
    let fx = fixture();
    let host = Host::new(fx.cfg.clone(), || Ok(NOW));
    let stored = BundleStore::new(&fx.cfg.store).path_for(&fx.image);
    let copy = fx.cfg.home.join("copy.ctp");
    std::fs::copy(&stored, &copy).unwrap();
    std::fs::remove_file(&stored).unwrap();
    let v = host.verify_file(&copy, &mut NoExtract).unwrap().unwrap();
    assert_eq!(v.image.digest, fx.image);
    let filed = host.file(&copy, &v, Rollback::Refuse).unwrap();
    assert_eq!(filed.path, stored);
    assert_eq!(std::fs::read(&stored).unwrap(), std::fs::read(&copy).unwrap());

    let p = host.preview(&ask(&[fx.image], None));
    assert!(p.allowed && p.verified, "{}", p.reason);
    assert!(p.admission().is_none(), "a preview admits nothing");
    assert!(!fx.cfg.audit_log.exists(), "a preview is not recorded");
    let d = host.decide(&ask(&[fx.image], None));
    assert!(d.admission().is_some());
    assert_eq!(audit(&fx.cfg).len(), 1);

    // A FIFO is refused, not read (one opening rule for ct and the daemons).
    let fifo = fx.cfg.store.join("fifo.ctp");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let e = host.verify_file(&fifo, &mut NoExtract).unwrap_err();
    assert!(e.to_string().contains("FIFO"), "{e}");

    // A clock that cannot be read refuses; it never reads as 0.
    let broken = Host::new(fx.cfg.clone(), || {
        Err(cerro_core::Error::Clock {
            reason: "no clock".into(),
        })
    });
    assert!(broken.verify_file(&stored, &mut NoExtract).is_err());

    // A configured policy that cannot be read is an error, not the baseline.
    let mut cfg = fx.cfg.clone();
    cfg.policy = Some(fx.cfg.home.join("missing-policy.json"));
    let e = Host::new(cfg, || Ok(NOW))
        .verify_file(&stored, &mut NoExtract)
        .unwrap_err();
    assert_eq!(e.exit_code(), cerro_core::ExitCode::Io, "{e}");
}

/// A signed trust root and revocation list in the host's home (issue #12):
/// `decide`, what the shim and the hook call, refuses (fails closed) with a
/// stale or missing list under `revocation.max_age_hours`, a revoked image
/// or key, and an expired root; a fresh list that names neither admits.
#[test]
fn decide_fails_closed_on_a_stale_list_a_revocation_and_an_expired_root() {
    use cerro_core::key::PublicKey;
    use cerro_core::trust::root::{KeySet, Quorum, RevocationList, RevokedKey, TrustRoot};
    use ed25519_dalek::SigningKey;

    let mut fx = fixture();
    let home = Home::new(&fx.cfg.home);
    let key = |s: u8| SigningKey::from_bytes(&[s; 32]);
    let set = |role: &str, s: u8| {
        KeySet::new(
            role,
            vec![(format!("{role}-1"), PublicKey::from(key(s).verifying_key()))],
            1,
        )
        .unwrap()
    };
    let root = TrustRoot::new(
        1,
        NOW + 30 * 86_400,
        set("root", 1),
        vec![],
        vec![],
        Quorum { logs: 0, witnesses: 0 },
        set("revocation", 2),
    )
    .unwrap();
    let mut env = root.to_envelope().unwrap();
    env.sign(&key(1)).unwrap();
    home.install_root(&env.to_bytes().unwrap(), NOW).unwrap();
    let policy = fx.cfg.home.join("policy.json");
    std::fs::write(
        &policy,
        br#"{"version":"1","default_action":"allow","revocation":{"max_age_hours":24}}"#,
    )
    .unwrap();
    fx.cfg.policy = Some(policy);
    let install = |version: u64, issued: u64, keys: Vec<RevokedKey>, releases: Vec<Digest>| {
        let l = RevocationList::new(version, issued, issued + 7 * 86_400, keys, releases).unwrap();
        let mut env = l.to_envelope().unwrap();
        env.sign(&key(2)).unwrap();
        home.install_revocation(&env.to_bytes().unwrap(), NOW).unwrap();
    };
    let at = |now: u64| {
        let images = [fx.image];
        let mut req = ask(&images, None);
        req.now = now;
        decide(&fx.cfg, &req)
    };
    let refused = |d: &cerro_enforce::Decision, check: &str, code: u8| {
        assert!(!d.allowed && d.admission().is_none(), "{}", d.reason);
        assert_eq!((d.check, d.exit_code), (Some(check), code), "{}", d.reason);
    };

    // The policy bounds the list's age and none is installed.
    refused(&at(NOW), "revocation_stale", 7);
    // A fresh list naming neither: admitted.
    install(1, NOW - 3600, vec![], vec![]);
    let d = at(NOW);
    assert!(d.allowed && d.admission().is_some(), "{}", d.reason);
    // The same list a day later: stale, every start refused.
    let d = at(NOW + 24 * 3600);
    refused(&d, "revocation_stale", 7);
    assert!(d.reason.contains("revocation.max_age_hours"), "{}", d.reason);
    // A fresh list revoking the image.
    install(2, NOW, vec![], vec![fx.image]);
    refused(&at(NOW + 60), "release_revoked", 7);
    // A fresh list revoking the signer's key: it no longer counts.
    let k = home.load_trust().unwrap().get("k").unwrap().fingerprint;
    install(
        3,
        NOW,
        vec![RevokedKey {
            fingerprint: k,
            after: None,
        }],
        vec![],
    );
    refused(&at(NOW + 60), "signer_not_trusted", 3);
    install(4, NOW, vec![], vec![]);
    assert!(at(NOW + 60).allowed);
    // The root expired: nothing is decided on it.
    refused(&at(NOW + 30 * 86_400), "config", 78);
    let log = audit(&fx.cfg);
    assert!(log.iter().any(|r| r["check"] == "revocation_stale"));
}
