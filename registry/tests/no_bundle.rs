//! `fetch` of an image the registry holds without a Cerro Torre bundle
//! (issue #14): exit 5 (missing attestation, not 12), naming what it holds
//! instead — cosign Sigstore-bundle referrers, notation signatures, SBOMs,
//! other referrers, the legacy cosign `sha256-<hex>.sig`/`.att`/`.sbom`
//! tags — or saying it holds nothing. Against a real registry (Debian's
//! `docker-registry` 2.8, no referrers API: the list is the `sha256-<hex>`
//! fallback index, written here as a cosign or notation client would).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use cerro_core::image::{MT_OCI_INDEX, MT_OCI_MANIFEST};
use cerro_core::testing::one_file_image;
use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};
use cerro_core::ExitCode;
use cerro_integration::registry::TestRegistry;
use cerro_registry::{fallback_tag, Options, Registry};
use ed25519_dalek::SigningKey;

const REPO: &str = "cerro/plain";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn trust() -> TrustStore {
    let mut t = TrustStore::new();
    t.insert(KeyEntry::new("k", key().verifying_key(), TrustLevel::Full))
        .unwrap();
    t
}

fn bundle(dir: &Path) -> PathBuf {
    let (image, manifest) = one_file_image(
        &dir.join("layout"),
        ("etc/motd", b"signed elsewhere\n"),
        "/bin/true",
        "1",
        ("motd", "1"),
    );
    let path = dir.join("b.ctp");
    cerro_core::pack::pack(&image, &manifest, &[key()], 0, &mut File::create(&path).unwrap()).unwrap();
    path
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

/// PUTs `body` as the manifest `reference` (a tag) of [`REPO`].
fn put(reg: &TestRegistry, reference: &str, media_type: &str, body: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", reg.port)).unwrap();
    write!(
        s,
        "PUT /v2/{REPO}/manifests/{reference} HTTP/1.0\r\nHost: {}\r\nContent-Type: {media_type}\r\nContent-Length: {}\r\n\r\n",
        reg.host(),
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 201") || answer.starts_with("HTTP/1.1 201"),
        "{answer}"
    );
}

/// The referrers fallback index of `image`, one entry of each artifact
/// type in `types`. The registry checks that every listed manifest exists,
/// not what it is, so each entry names the image manifest itself: only the
/// descriptors are read when no bundle is listed.
fn list(reg: &TestRegistry, image: &Digest, types: &[&str]) {
    let (_, _, manifest) = reg
        .get(&format!("/v2/{REPO}/manifests/{image}"), MT_OCI_MANIFEST)
        .unwrap();
    let entries: Vec<_> = types
        .iter()
        .map(|t| {
            serde_json::json!({
                "mediaType": MT_OCI_MANIFEST,
                "digest": image.to_string(),
                "size": manifest.len(),
                "artifactType": t,
            })
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": entries,
    }))
    .unwrap();
    put(reg, &fallback_tag(image), MT_OCI_INDEX, &body);
}

fn fetch_error(reg: &TestRegistry, dir: &Path) -> cerro_core::Error {
    let out = dir.join("out.ctp");
    let e = cerro_registry::fetch(&connect(reg, dir), &out, &trust(), 1_900_000_000, &mut |_| {}).unwrap_err();
    assert!(!out.exists());
    e.into()
}

#[test]
fn an_image_without_a_bundle_is_exit_5_naming_what_the_registry_holds() {
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let pushed = cerro_registry::push(&bundle(dir.path()), &connect(&reg, dir.path())).unwrap();
    let image = pushed.image;

    // Nothing listed: exit 5, naming only the legacy cosign attestation tag
    // the push wrote (spec/interop.md §2.7; "found instead: nothing" is
    // integration/tests/registry.rs's image pushed by skopeo).
    list(&reg, &image, &[]);
    let e = fetch_error(&reg, dir.path());
    assert_eq!(e.exit_code(), ExitCode::MissingAttestation, "{e}");
    assert_eq!(e.kind().as_str(), "no_bundle");
    let text = e.to_string();
    assert!(
        text.contains("no Cerro Torre bundle")
            && text.ends_with(&format!(
                "found instead: 1 cosign attestation (legacy tag sha256-{}.att)",
                image.hex()
            )),
        "{text}"
    );

    // What cosign 3, notation and SBOM tools attach, and the legacy cosign tags.
    list(
        &reg,
        &image,
        &[
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            "application/vnd.dev.sigstore.bundle.v0.3+json",
            "application/vnd.cncf.notary.signature",
            "application/spdx+json",
            "application/vnd.example.other",
            "application/x-\u{7}bell",
        ],
    );
    let (_, _, manifest) = reg
        .get(&format!("/v2/{REPO}/manifests/{image}"), MT_OCI_MANIFEST)
        .unwrap();
    for suffix in ["sig", "att"] {
        put(
            &reg,
            &format!("sha256-{}.{suffix}", image.hex()),
            MT_OCI_MANIFEST,
            &manifest,
        );
    }
    let e = fetch_error(&reg, dir.path());
    assert_eq!(e.exit_code(), ExitCode::MissingAttestation, "{e}");
    let text = e.to_string();
    for part in [
        "2 cosign signature or attestation (Sigstore bundle, application/vnd.dev.sigstore.bundle.v0.3+json)",
        "1 notation signature (application/vnd.cncf.notary.signature)",
        "1 SBOM (application/spdx+json)",
        "1 other referrer (application/vnd.example.other)",
        "1 other referrer (unprintable type)",
        &format!("1 cosign signature (legacy tag sha256-{}.sig)", image.hex()),
        &format!("1 cosign attestation (legacy tag sha256-{}.att)", image.hex()),
    ] {
        assert!(text.contains(part), "missing {part:?} in: {text}");
    }
    assert!(!text.contains('\u{7}'), "{text:?}");
    assert!(!text.contains(".sbom"), "{text}");
    fs::remove_dir_all(dir.path().join("layout")).unwrap();
}
