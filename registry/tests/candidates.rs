//! `fetch` chooses among the bundles a registry lists, against a real
//! registry (Debian's `docker-registry`, distribution 2.8, started by
//! [`TestRegistry`]; it has no referrers API, so the list is the
//! `sha256-<hex>` fallback index, which anyone who can push rewrites at
//! will). The order of that list is not signed: an older, validly signed
//! bundle listed last must not be taken over a newer one, and a listed
//! bundle whose release signature fails is skipped, not fatal.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use cerro_core::image::source::SourceImage;
use cerro_core::image::{MT_OCI_INDEX, MT_OCI_MANIFEST};
use cerro_core::statement::{Subject, PROVENANCE_PATH, SLSA_PROVENANCE_V1, STATEMENT_TYPE};
use cerro_core::testing::{manifest_for, one_file_image};
use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};
use cerro_core::ExitCode;
use cerro_integration::registry::TestRegistry;
use cerro_registry::{fallback_tag, Options, Registry, ARTIFACT_TYPE, MAX_CANDIDATES};
use ed25519_dalek::SigningKey;

const REPO: &str = "cerro/motd";
const NOW: u64 = 1_900_000_000;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn trust() -> TrustStore {
    let mut t = TrustStore::new();
    t.insert(KeyEntry::new("k", key().verifying_key(), TrustLevel::Full))
        .unwrap();
    t
}

/// A bundle of the one small image in `dir/layout` (made once), signed by
/// [`key`], whose provenance says it finished at `finished` (RFC 3339).
fn bundle(dir: &Path, name: &str, finished: &str) -> PathBuf {
    let layout = dir.join("layout");
    let (image, manifest) = if layout.exists() {
        let image = SourceImage::open(&format!("oci:{}:1", layout.display())).unwrap();
        let manifest = manifest_for(&image, "motd", "1");
        (image, manifest)
    } else {
        one_file_image(&layout, ("etc/motd", b"same image\n"), "/bin/true", "1", ("motd", "1"))
    };
    let provenance = serde_json::json!({
        "_type": STATEMENT_TYPE,
        "subject": [Subject::sha256("motd", &image.manifest.digest)],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {"runDetails": {"metadata": {"finishedOn": finished}}},
    });
    let extra = vec![(
        PROVENANCE_PATH.to_owned(),
        cerro_core::jcs::to_vec(&provenance).unwrap(),
    )];
    let path = dir.join(name);
    cerro_core::pack::PackRequest {
        image: &image,
        manifest: &manifest,
        keys: std::slice::from_ref(&key()),
        mtime: 0,
        selinux: &[],
        extra: &extra,
        diff_ids: &cerro_core::pack::LayerDiffIds::of_uncompressed(&image).unwrap(),
    }
    .write(&mut File::create(&path).unwrap())
    .unwrap();
    path
}

/// `path` with one character of its release envelope's signature changed
/// (same size, so the tar stays well formed): a signature by the trusted
/// key that does not verify.
fn with_bad_signature(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let member = b"attestations/release.dsse.json";
    let header = bytes.windows(member.len()).position(|w| w == member).unwrap();
    let at = header
        + bytes[header..]
            .windows(7)
            .position(|w| w == b"\"sig\":\"")
            .expect("a signature in the release envelope")
        + 7
        + 20;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    fs::write(path, bytes).unwrap();
}

fn connect(reg: &TestRegistry, dir: &Path) -> Registry {
    Registry::connect(
        &format!("{}/{REPO}:1", reg.host()),
        &Options {
            auth_files: vec![dir.join("no-auth.json")],
            ..Options::default()
        },
    )
    .unwrap()
}

/// Pushes `bundle` and returns its artifact manifest's index entry.
fn push(reg: &TestRegistry, dir: &Path, bundle: &Path) -> (serde_json::Value, Digest) {
    let pushed = cerro_registry::push(bundle, &connect(reg, dir)).unwrap();
    let (status, _, body) = reg
        .get(&format!("/v2/{REPO}/manifests/{}", pushed.artifact), MT_OCI_MANIFEST)
        .unwrap();
    assert_eq!(status, 200);
    let entry = serde_json::json!({
        "mediaType": MT_OCI_MANIFEST,
        "digest": pushed.artifact.to_string(),
        "size": body.len(),
        "artifactType": ARTIFACT_TYPE,
    });
    (entry, pushed.image)
}

/// Replaces the referrers fallback index of `image` by one listing
/// `entries` in this order, as anyone who can push may.
fn list(reg: &TestRegistry, image: &Digest, entries: &[serde_json::Value]) {
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": entries,
    }))
    .unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", reg.port)).unwrap();
    write!(
        s,
        "PUT /v2/{REPO}/manifests/{} HTTP/1.0\r\nHost: {}\r\nContent-Type: {MT_OCI_INDEX}\r\nContent-Length: {}\r\n\r\n",
        fallback_tag(image),
        reg.host(),
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 201") || answer.starts_with("HTTP/1.1 201"),
        "{answer}"
    );
}

/// What one fetch gave.
struct Got {
    artifact: Digest,
    built: Option<u64>,
    skipped: Vec<cerro_registry::Skipped>,
    bytes: Vec<u8>,
}

/// Fetches, verifies and commits to `dir/out.ctp`, as `ct fetch` does.
fn fetch(reg: &TestRegistry, dir: &Path) -> Result<Got, cerro_core::Error> {
    let out = dir.join("out.ctp");
    let _ = fs::remove_file(&out);
    let fetched = cerro_registry::fetch(&connect(reg, dir), &out, &trust(), NOW, &mut |_| {})?;
    let verified =
        cerro_core::verify::verify(fetched.bundle, &trust(), &cerro_core::policy_interface::NoPolicy, NOW).unwrap();
    fetched.pending.commit(&verified)?;
    Ok(Got {
        artifact: fetched.artifact,
        built: fetched.built,
        skipped: fetched.skipped,
        bytes: fs::read(&out).unwrap(),
    })
}

fn time(s: &str) -> u64 {
    cerro_core::timestamp::parse_rfc3339(s).unwrap()
}

#[test]
fn an_older_signed_bundle_listed_last_is_not_taken_over_the_newer() {
    let reg = TestRegistry::start();
    let d = tempfile::tempdir().unwrap();
    let newer = bundle(d.path(), "newer.ctp", "2026-06-01T00:00:00Z");
    let older = bundle(d.path(), "older.ctp", "2025-01-01T00:00:00Z");
    // The newer pushed first, the older second, both listed in push order
    // (as a referrers API lists them, or as an attacker writes the list).
    let (newer_entry, image) = push(&reg, d.path(), &newer);
    let (older_entry, same) = push(&reg, d.path(), &older);
    assert_eq!(image, same, "two bundles of one image");
    list(&reg, &image, &[newer_entry.clone(), older_entry.clone()]);

    let got = fetch(&reg, d.path()).unwrap();
    assert_eq!(got.artifact.to_string(), newer_entry["digest"].as_str().unwrap());
    assert_eq!(got.built, Some(time("2026-06-01T00:00:00Z")));
    assert!(
        got.bytes == fs::read(&newer).unwrap(),
        "not the newer bundle, byte for byte"
    );
    assert!(got.skipped.is_empty(), "{:?}", got.skipped);

    // Listed the other way round: the same choice.
    list(&reg, &image, &[older_entry, newer_entry]);
    assert!(fetch(&reg, d.path()).unwrap().bytes == fs::read(&newer).unwrap());
}

#[test]
fn a_listed_bundle_with_a_bad_signature_is_skipped_and_named() {
    let reg = TestRegistry::start();
    let d = tempfile::tempdir().unwrap();
    let good = bundle(d.path(), "good.ctp", "2025-01-01T00:00:00Z");
    // Claims a later build, but its release signature does not verify.
    let forged = bundle(d.path(), "forged.ctp", "2027-01-01T00:00:00Z");
    with_bad_signature(&forged);
    let (good_entry, image) = push(&reg, d.path(), &good);
    let (forged_entry, _) = push(&reg, d.path(), &forged);
    list(&reg, &image, &[good_entry.clone(), forged_entry.clone()]);

    let got = fetch(&reg, d.path()).unwrap();
    assert!(got.bytes == fs::read(&good).unwrap(), "not the good bundle");
    assert_eq!(got.built, Some(time("2025-01-01T00:00:00Z")));
    assert_eq!(got.skipped.len(), 1, "{:?}", got.skipped);
    assert_eq!(
        got.skipped[0].artifact.to_string(),
        forged_entry["digest"].as_str().unwrap()
    );
    assert!(got.skipped[0].reason.contains("signature"), "{}", got.skipped[0].reason);

    // Listed alone, the forged one is refused with verify's exit code, and
    // no file is left.
    list(&reg, &image, &[forged_entry]);
    let e = fetch(&reg, d.path()).err().unwrap();
    assert_eq!(e.exit_code(), ExitCode::SignatureInvalid, "{e}");
    assert!(!d.path().join("out.ctp").exists());

    // More listed bundles than are examined: refused, not cut short.
    list(&reg, &image, &vec![good_entry; MAX_CANDIDATES + 1]);
    let e = fetch(&reg, d.path()).err().unwrap();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    assert!(e.to_string().contains("more than the 16 examined"), "{e}");
}
