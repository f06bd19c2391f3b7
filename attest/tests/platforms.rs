//! A multi-platform image's SBOMs (#15): one per platform, each describing
//! that platform's files, named after the platform and bound to the index
//! and to that platform's manifest; the bundle they go into verifies.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use cerro_attest::{statements, AttestOptions, SbomFormat};
use cerro_core::bundle::{read_bundle, NoExtract};
use cerro_core::digest::Digest;
use cerro_core::image::layout::{platform_config, write_platform_index, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::image::{BlobRef, Platform};
use cerro_core::pack::PackRequest;
use cerro_core::policy_interface::NoPolicy;
use cerro_core::testing::manifest_for;
use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};
use cerro_core::verify::verify;
use ed25519_dalek::SigningKey;

fn platform(arch: &str, variant: Option<&str>) -> Platform {
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: variant.map(Into::into),
    }
}

fn platform_image(dir: &Path, arch: &str, variant: Option<&str>) -> BlobRef {
    let mut b = LayoutBuilder::new(dir).unwrap();
    b.layer_tar(&[("etc/motd", 0o644, b"shared by every platform\n")])
        .unwrap();
    b.layer_tar(&[("bin/app", 0o755, format!("binary for {arch}\n").as_bytes())])
        .unwrap();
    let mut config = platform_config("linux", arch, &["/bin/app"]);
    if let Some(v) = variant {
        config["variant"] = serde_json::json!(v);
    }
    b.finish_image(config).unwrap()
}

fn payload(statements: &[(String, Vec<u8>)], path: &str) -> serde_json::Value {
    let (_, bytes) = statements
        .iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("no {path}"));
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn every_platform_gets_its_own_sbom_bound_to_the_index_and_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let amd = platform_image(dir.path(), "amd64", None);
    let arm = platform_image(dir.path(), "arm64", Some("v8"));
    let index = write_platform_index(
        dir.path(),
        &[
            (amd.clone(), platform("amd64", None)),
            (arm.clone(), platform("arm64", Some("v8"))),
        ],
        Some("1"),
    )
    .unwrap();
    let image = SourceImage::open(&format!("oci:{}:1", dir.path().display())).unwrap();
    let manifest = manifest_for(&image, "motd", "1");
    for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
        let opts = AttestOptions {
            sbom: Some(format),
            provenance: None,
            build_provenance: None,
            tool_version: "test".into(),
            time: 0,
        };
        let attested = statements(&manifest, &image, &opts).unwrap();
        let paths: Vec<&str> = attested.statements.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "attestations/sbom-linux-amd64.dsse.json",
                "attestations/sbom-linux-arm64-v8.dsse.json"
            ]
        );
        for (path, manifest_blob, at, arch) in [
            (
                "attestations/sbom-linux-amd64.dsse.json",
                &amd,
                "motd@linux/amd64",
                "amd64",
            ),
            (
                "attestations/sbom-linux-arm64-v8.dsse.json",
                &arm,
                "motd@linux/arm64/v8",
                "arm64",
            ),
        ] {
            let st = payload(&attested.statements, path);
            assert_eq!(
                st["subject"],
                serde_json::json!([
                    {"name": "motd", "digest": {"sha256": index.digest.hex()}},
                    {"name": at, "digest": {"sha256": manifest_blob.digest.hex()}},
                ]),
                "{path}"
            );
            // The document lists this platform's own binary, not the other's.
            let text = st["predicate"].to_string();
            let own = Digest::of(format!("binary for {arch}\n").as_bytes()).hex();
            let other =
                Digest::of(format!("binary for {}\n", if arch == "amd64" { "arm64" } else { "amd64" }).as_bytes())
                    .hex();
            assert!(text.contains(&own), "{path}: {format:?} lacks its own file");
            assert!(
                !text.contains(&other),
                "{path}: {format:?} lists the other platform's file"
            );
            assert!(
                text.contains(&manifest_blob.digest.hex()),
                "{path}: describes its platform manifest"
            );
        }

        // The bundle verifies with both SBOMs bound by the release.
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut out = Vec::new();
        PackRequest {
            image: &image,
            manifest: &manifest,
            keys: std::slice::from_ref(&key),
            mtime: 0,
            selinux: &[],
            extra: &attested.statements,
            diff_ids: &attested.diff_ids,
        }
        .write(&mut out)
        .unwrap();
        let mut trust = TrustStore::new();
        trust
            .insert(KeyEntry::new("k", key.verifying_key(), TrustLevel::Full))
            .unwrap();
        let bundle = read_bundle(&mut &out[..], &mut NoExtract).unwrap();
        let verified = verify(bundle, &trust, &NoPolicy, 1_750_000_000)
            .map_err(|r| r.error)
            .unwrap();
        let carried: Vec<&str> = verified.attestations.iter().map(|a| a.path.as_str()).collect();
        assert!(
            carried.contains(&"attestations/sbom-linux-arm64-v8.dsse.json"),
            "{carried:?}"
        );
    }
}

#[test]
fn a_platform_that_cannot_name_a_member_is_refused() {
    for p in [
        platform("AMD64", None),
        platform("amd64", Some("v_8")),
        platform(&"a".repeat(64), None),
    ] {
        assert!(cerro_attest::platform_sbom_path(&p).is_err(), "{p:?}");
    }
    assert_eq!(
        cerro_attest::platform_sbom_path(&platform("386", None)).unwrap(),
        "attestations/sbom-linux-386.dsse.json"
    );
}
