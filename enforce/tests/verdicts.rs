//! The verdict cache (#15): a warm start takes the large blobs' digests
//! from the last full read of the same, unchanged bundle file (the audit
//! record says `"blobs": "cached"`), and still checks everything the trust
//! store, the revocation list and the policy decide: a key revoked, a
//! release revoked or a stricter policy refuses the next start, cached or
//! not. A bundle file changed in place or replaced is read in full again
//! (and refused if its bytes are not the signed ones); a corrupt entry, or
//! one another user could have written, is ignored: the start re-reads
//! everything, never admits on the entry's word.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use cerro_core::bundle::{read_bundle_file, NoExtract};
use cerro_core::digest::Digest;
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::policy_interface::NoPolicy;
use cerro_core::testing::manifest_for;
use cerro_core::trust::home::Home;
use cerro_enforce::testing::FakeSelinux;
use cerro_enforce::{decide, Blobs, BundleStore, Config, Decision, Mode, Request};

/// Later than any file this test writes by more than the two seconds a
/// file must have settled for its read to be cached.
const NOW: u64 = 1_800_000_000;

static NO_SELINUX: std::sync::LazyLock<FakeSelinux> = std::sync::LazyLock::new(FakeSelinux::disabled);

struct Fx {
    _dir: tempfile::TempDir,
    cfg: Config,
    image: Digest,
    stored: PathBuf,
    /// Where a layer's data starts in the stored file.
    layer_at: u64,
}

fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut b = LayoutBuilder::new(&d.join("img")).unwrap();
    // Large enough to be hashed by the pool's positioned reads (the blobs
    // a cache entry lets a start skip).
    let big: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    b.layer_tar(&[("big.bin", 0o644, &big)]).unwrap();
    b.finish(basic_config(&["/bin/true"]), Some("1")).unwrap();
    let image = SourceImage::open(&format!("oci:{}", d.join("img").display())).unwrap();
    let home = Home::new(d.join("home"));
    home.generate_key("k", None).unwrap();
    let key = home.load_signing_key("k", None).unwrap();
    let manifest = manifest_for(&image, "cached", "1");
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
    let bundle = read_bundle_file(&std::fs::File::open(&path).unwrap(), &mut NoExtract).unwrap();
    let layer = image.parts.layers[0].digest;
    let layer_at = bundle.blob_offsets().into_iter().find(|(_, d)| *d == layer).unwrap().0;
    let v = cerro_core::verify::verify(bundle, &home.load_trust().unwrap(), &NoPolicy, NOW).unwrap();
    let cfg = Config {
        home: d.join("home"),
        store: d.join("store"),
        policy: None,
        audit_log: d.join("audit.log"),
        mode: Mode::Enforce,
    };
    let stored = BundleStore::new(&cfg.store)
        .add(&path, &v, cerro_enforce::Rollback::Refuse)
        .unwrap()
        .path;
    Fx {
        image: image.manifest.digest,
        cfg,
        stored,
        layer_at,
        _dir: dir,
    }
}

fn start(fx: &Fx) -> Decision {
    let images = [fx.image];
    decide(
        &fx.cfg,
        &Request {
            component: "test",
            container: Some("c1"),
            images: &images,
            bundle: None,
            now: NOW,
            selinux: &*NO_SELINUX,
            given_labels: None,
            lookup_error: None,
            rootfs_chain: None,
            pull: false,
        },
    )
}

fn last_record(fx: &Fx) -> serde_json::Value {
    let text = std::fs::read_to_string(&fx.cfg.audit_log).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// The one entry of the cache.
fn entry(fx: &Fx) -> PathBuf {
    let mut all: Vec<PathBuf> = std::fs::read_dir(fx.cfg.store.join("verdicts"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

/// Cold, then warm: the second start reuses the blob digests.
fn warm(fx: &Fx) {
    let d = start(fx);
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(d.blobs, Some(Blobs::Hashed));
    let d = start(fx);
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(d.blobs, Some(Blobs::Cached));
    assert_eq!(last_record(fx)["blobs"], "cached");
}

#[test]
fn a_warm_start_reuses_the_blob_digests_and_says_so() {
    let fx = fixture();
    warm(&fx);
    assert_eq!(start(&fx).blobs, Some(Blobs::Cached));
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&fx.cfg.audit_log)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["blobs"], "hashed");
    // The cache is private to the deciding user.
    let m = std::fs::metadata(entry(&fx)).unwrap();
    assert_eq!(m.permissions().mode() & 0o077, 0);
}

#[test]
fn a_key_revoked_after_the_verdict_refuses_the_next_start() {
    let fx = fixture();
    warm(&fx);
    Home::new(&fx.cfg.home)
        .update_key("k", |k| k.revoked_at = Some(1))
        .unwrap();
    let d = start(&fx);
    assert!(!d.allowed, "{}", d.reason);
    assert_eq!(d.check, Some("signer_not_trusted"), "{}", d.reason);
    // Refused although the blob digests were still the cached ones: what
    // the trust store decides is never cached.
    assert_eq!(d.blobs, Some(Blobs::Cached));
}

#[test]
fn a_stricter_policy_after_the_verdict_refuses_the_next_start() {
    let mut fx = fixture();
    warm(&fx);
    let p = fx.cfg.home.join("policy.json");
    std::fs::write(
        &p,
        r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}],"threshold":2}}"#,
    )
    .unwrap();
    fx.cfg.policy = Some(p);
    let d = start(&fx);
    assert_eq!((d.allowed, d.check), (false, Some("policy_rejection")), "{}", d.reason);
}

#[test]
fn a_release_revoked_after_the_verdict_refuses_the_next_start() {
    use cerro_core::key::PublicKey;
    use cerro_core::trust::root::{KeySet, Quorum, RevocationList, TrustRoot};
    use ed25519_dalek::SigningKey;

    let fx = fixture();
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
    let install = |version: u64, releases: Vec<Digest>| {
        let l = RevocationList::new(version, NOW - 60, NOW + 86_400, vec![], releases).unwrap();
        let mut env = l.to_envelope().unwrap();
        env.sign(&key(2)).unwrap();
        home.install_revocation(&env.to_bytes().unwrap(), NOW).unwrap();
    };
    install(1, vec![]);
    warm(&fx);
    install(2, vec![fx.image]);
    let d = start(&fx);
    assert_eq!(
        (d.allowed, d.check, d.exit_code),
        (false, Some("release_revoked"), 7),
        "{}",
        d.reason
    );
}

#[test]
fn a_bundle_changed_in_place_is_hashed_again_and_refused() {
    let fx = fixture();
    warm(&fx);
    // An attacker who can write the store's file but not the cache flips
    // one byte of the layer: same inode, same size, new ctime.
    let mut f = std::fs::OpenOptions::new().write(true).open(&fx.stored).unwrap();
    f.seek(SeekFrom::Start(fx.layer_at + 4096)).unwrap();
    let byte = std::fs::read(&fx.stored).unwrap()[(fx.layer_at + 4096) as usize];
    f.write_all(&[byte ^ 1]).unwrap();
    drop(f);
    let d = start(&fx);
    assert!(!d.allowed, "{}", d.reason);
    assert_eq!(d.blobs, None, "refused while reading: {}", d.reason);
    assert_eq!(d.check, Some("digest_mismatch"), "{}", d.reason);
    // Restored with the same bytes by a new file: a new inode, read in full.
    let bytes = std::fs::read(&fx.stored).unwrap();
    let mut fixed = bytes.clone();
    fixed[(fx.layer_at + 4096) as usize] ^= 1;
    let tmp = fx.stored.with_extension("new");
    std::fs::write(&tmp, &fixed).unwrap();
    std::fs::rename(&tmp, &fx.stored).unwrap();
    let d = start(&fx);
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(d.blobs, Some(Blobs::Hashed));
    assert_eq!(start(&fx).blobs, Some(Blobs::Cached));
}

#[test]
fn a_corrupt_or_foreign_entry_is_ignored_and_everything_hashed() {
    let fx = fixture();
    warm(&fx);
    let e = entry(&fx);
    // Corrupt: not JSON.
    std::fs::write(&e, b"{ not an entry").unwrap();
    let d = start(&fx);
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(d.blobs, Some(Blobs::Hashed));
    // Rewritten by the full read: warm again.
    assert_eq!(start(&fx).blobs, Some(Blobs::Cached));

    // An entry others could have written (group-writable) vouching for a
    // tampered file is not believed: the tampered layer is hashed, refused.
    let good = std::fs::read(&e).unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(&fx.stored).unwrap();
    f.seek(SeekFrom::Start(fx.layer_at + 100)).unwrap();
    f.write_all(b"tampered").unwrap();
    drop(f);
    // The forger's entry: the right shape, the tampered file's identity.
    let meta = std::fs::metadata(&fx.stored).unwrap();
    let mut forged: serde_json::Value = serde_json::from_slice(&good).unwrap();
    {
        use std::os::unix::fs::MetadataExt;
        forged["identity"] = serde_json::json!({
            "dev": meta.dev(), "ino": meta.ino(), "size": meta.size(),
            "mtime": [meta.mtime(), meta.mtime_nsec()], "ctime": [meta.ctime(), meta.ctime_nsec()],
        });
    }
    std::fs::write(&e, serde_json::to_vec(&forged).unwrap()).unwrap();
    std::fs::set_permissions(&e, std::fs::Permissions::from_mode(0o620)).unwrap();
    let d = start(&fx);
    assert!(!d.allowed, "{}", d.reason);
    assert_eq!(d.check, Some("digest_mismatch"), "{}", d.reason);
    // The same forged entry with a private mode is what the cache trusts
    // (the owner check is the boundary): shown here so the test above
    // fails for the mode, not for the entry's shape.
    std::fs::set_permissions(&e, std::fs::Permissions::from_mode(0o600)).unwrap();
    let d = start(&fx);
    assert_eq!(d.blobs, Some(Blobs::Cached), "{}", d.reason);
    // A cache directory others can write is not used at all.
    std::fs::set_permissions(fx.cfg.store.join("verdicts"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = start(&fx);
    assert!(!d.allowed, "{}", d.reason);
    assert_eq!(d.check, Some("digest_mismatch"), "{}", d.reason);
}
