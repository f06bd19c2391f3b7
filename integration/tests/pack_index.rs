//! `ct pack docker://REF` of a multi-platform image (#15), against Debian's
//! `docker-registry` (distribution 2.8) on 127.0.0.1. The image index is
//! put there by skopeo (`copy --all`, the judge of what the registry holds)
//! from a two-platform layout built here (this host's busybox and a stub
//! for the other architecture).
//!
//! - By default every platform is packed: the bundle's image is the index
//!   the tag names (its digest is the one `skopeo inspect --raw` hashes
//!   to), it verifies, and `ct explain` and `ct sbom --platform` show both
//!   platforms.
//! - `--platform linux/ARCH` packs that platform's manifest alone (the
//!   bundle's image is its digest), from the registry and from the layout
//!   alike; a platform the index lacks is refused (exit 78) naming the
//!   ones it has, and so is a malformed `--platform`.
//! - A Docker manifest list is refused naming it (exit 10) unless one
//!   platform is asked for.
//! - A layer changed in the registry is refused (exit 1) with nothing
//!   written: no bundle, no pulled layout left in `$TMPDIR`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use cerro_core::image::{host_architecture, MT_DOCKER_LIST};
use cerro_integration::registry::TestRegistry;
use cerro_integration::{ct, ct_status, multi_platform_image, require, run};
use serde_json::Value;

fn other_arch() -> &'static str {
    if host_architecture() == "arm64" {
        "amd64"
    } else {
        "arm64"
    }
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The descriptor the bundle's `oci-layout/index.json` names (its image).
fn bundle_image(bundle: &Path) -> Value {
    let mut ar = tar::Archive::new(fs::File::open(bundle).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("oci-layout/index.json") {
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            return json_of(&bytes)["manifests"][0].clone();
        }
    }
    panic!("{} has no oci-layout/index.json", bundle.display());
}

/// `ct` with `$TMPDIR` set to `tmp` (where `ct pack docker://` pulls).
fn ct_in(home: &Path, tmp: &Path, args: &[&str]) -> (i32, String) {
    let out = ct(home).env("TMPDIR", tmp).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn an_image_index_in_a_registry_is_packed_whole_or_by_platform() {
    require("skopeo");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &str| d.join(p).display().to_string();
    let home = d.join("home");
    let tmp = d.join("tmp");
    fs::create_dir(&tmp).unwrap();
    let reg = TestRegistry::start();
    let (index, host_manifest) = multi_platform_image(d, "img", "");
    let layout = d.join("img");
    let index_bytes = fs::read(layout.join("blobs/sha256").join(index.trim_start_matches("sha256:"))).unwrap();
    let platforms = json_of(&index_bytes)["manifests"].as_array().unwrap().clone();
    let digest_of = |arch: &str| {
        platforms
            .iter()
            .find(|p| p["platform"]["architecture"] == arch)
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(digest_of(host_architecture()), host_manifest);
    let other_manifest = digest_of(other_arch());

    // skopeo puts the index and both platforms in the registry, unchanged.
    let reference = format!("{}/cerro/idx:1", reg.host());
    run(Command::new("skopeo").args([
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{reference}"),
    ]));
    let raw = run(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    assert_eq!(cerro_core::digest::Digest::of(&raw.stdout).to_string(), index);

    // Every platform, by default (the bare reference form): the bundle's
    // image is the index the tag names.
    run(ct(&home).args(["keygen", "--id", "maintainer"]));
    let (code, out) = ct_in(
        &home,
        &tmp,
        &["pack", &reference, "-o", &s("all.ctp"), "--key", "maintainer"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&index), "{out}");
    let image = bundle_image(&d.join("all.ctp"));
    assert_eq!(image["digest"], index.as_str(), "{image}");
    assert_eq!(image["mediaType"], "application/vnd.oci.image.index.v1+json");
    let (code, out) = ct_status(&home, &["verify", &s("all.ctp")]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = ct_status(&home, &["explain", &s("all.ctp")]);
    assert_eq!(code, 0, "{out}");
    for arch in [host_architecture(), other_arch()] {
        assert!(out.contains(&format!("linux/{arch}")), "{arch}: {out}");
    }
    let (code, mine) = ct_status(
        &home,
        &[
            "sbom",
            &s("all.ctp"),
            "--platform",
            &format!("linux/{}", host_architecture()),
        ],
    );
    assert_eq!(code, 0, "{mine}");
    let (code, theirs) = ct_status(
        &home,
        &["sbom", &s("all.ctp"), "--platform", &format!("linux/{}", other_arch())],
    );
    assert_eq!(code, 0, "{theirs}");
    // The stub's only file is in its SBOM, not in busybox's.
    assert!(
        theirs.contains("bin/app") && !mine.contains("bin/app"),
        "{theirs}\n---\n{mine}"
    );
    // The bundle is what the registry names: `ct verify docker://` of the
    // tag after a push sees the same index.
    let (code, out) = ct_status(&home, &["push", &s("all.ctp"), &reference]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = ct_status(&home, &["verify", &format!("docker://{reference}")]);
    assert_eq!(code, 0, "{out}");

    // One platform: a single-platform bundle of that platform's manifest,
    // from the registry and from the layout alike.
    let other = format!("linux/{}", other_arch());
    let remote = format!("docker://{reference}");
    let (code, out) = ct_in(
        &home,
        &tmp,
        &[
            "pack",
            &remote,
            "-o",
            &s("one.ctp"),
            "--key",
            "maintainer",
            "--platform",
            &other,
        ],
    );
    assert_eq!(code, 0, "{out}");
    let image = bundle_image(&d.join("one.ctp"));
    assert_eq!(image["digest"], other_manifest.as_str(), "{image}");
    assert_eq!(image["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    let (code, out) = ct_status(&home, &["verify", &s("one.ctp")]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = ct_status(
        &home,
        &[
            "pack",
            &format!("oci:{}:multi", layout.display()),
            "-o",
            &s("one-local.ctp"),
            "--key",
            "maintainer",
            "--platform",
            &other,
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        bundle_image(&d.join("one-local.ctp"))["digest"],
        other_manifest.as_str()
    );

    // A platform the index lacks, or no platform at all: 78, nothing written.
    let (code, out) = ct_in(
        &home,
        &tmp,
        &[
            "pack",
            &remote,
            "-o",
            &s("none.ctp"),
            "--key",
            "maintainer",
            "--platform",
            "linux/s390x",
        ],
    );
    assert_eq!(code, 78, "{out}");
    assert!(
        out.contains("no image for platform linux/s390x")
            && out.contains(&format!("linux/{}", host_architecture()))
            && out.contains(&other),
        "{out}"
    );
    assert!(!d.join("none.ctp").exists());
    let (code, out) = ct_in(
        &home,
        &tmp,
        &[
            "pack",
            &remote,
            "-o",
            &s("none.ctp"),
            "--key",
            "maintainer",
            "--platform",
            "linux",
        ],
    );
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("is not OS/ARCH[/VARIANT]"), "{out}");
    // A single image asked for another platform than its own: 78.
    let (code, out) = ct_status(
        &home,
        &[
            "pack",
            &format!("oci:{}:multi", layout.display()),
            "-o",
            &s("none.ctp"),
            "--key",
            "maintainer",
            "--platform",
            "linux/s390x",
        ],
    );
    assert_eq!(code, 78, "{out}");
    let (code, out) = ct_in(
        &home,
        &tmp,
        &[
            "pack",
            &format!("docker://{}/cerro/idx@{other_manifest}", reg.host()),
            "-o",
            &s("none.ctp"),
            "--key",
            "maintainer",
            "--platform",
            &format!("linux/{}", host_architecture()),
        ],
    );
    assert_eq!(code, 78, "{out}");
    assert!(out.contains(&format!("is for platform {other} only")), "{out}");
    assert!(!d.join("none.ctp").exists());

    // A Docker manifest list of the same two manifests: refused whole
    // (a bundle binds OCI indexes), packed by platform.
    let mut list = json_of(&index_bytes);
    list["mediaType"] = Value::from(MT_DOCKER_LIST);
    let list_bytes = serde_json::to_vec(&list).unwrap();
    let (status, head) = reg
        .put("/v2/cerro/idx/manifests/list", MT_DOCKER_LIST, &list_bytes)
        .unwrap();
    assert_eq!(status, 201, "{head}");
    let listed = format!("docker://{}/cerro/idx:list", reg.host());
    let (code, out) = ct_in(
        &home,
        &tmp,
        &["pack", &listed, "-o", &s("list.ctp"), "--key", "maintainer"],
    );
    assert_eq!(code, 10, "{out}");
    assert!(
        out.contains("Docker manifest list") && out.contains("--platform"),
        "{out}"
    );
    assert!(!d.join("list.ctp").exists());
    let (code, out) = ct_in(
        &home,
        &tmp,
        &[
            "pack",
            &listed,
            "-o",
            &s("list.ctp"),
            "--key",
            "maintainer",
            "--platform",
            &other,
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(bundle_image(&d.join("list.ctp"))["digest"], other_manifest.as_str());

    // A layer of the other platform changed in the registry: hashed as it
    // streams and refused; no bundle, no pulled layout left behind.
    let m = json_of(
        &fs::read(
            layout
                .join("blobs/sha256")
                .join(other_manifest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    );
    let layer = m["layers"][0]["digest"].as_str().unwrap();
    let file = reg.blob_file(layer.trim_start_matches("sha256:"));
    let mut bytes = fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&file, &bytes).unwrap();
    let (code, out) = ct_in(
        &home,
        &tmp,
        &["pack", &remote, "-o", &s("tampered.ctp"), "--key", "maintainer"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("digest mismatch") && out.contains(layer), "{out}");
    assert!(!d.join("tampered.ctp").exists());
    assert_eq!(
        fs::read_dir(&tmp).unwrap().count(),
        0,
        "a pulled layout was left in $TMPDIR"
    );
    // The host's platform alone does not need that layer.
    let (code, out) = ct_in(
        &home,
        &tmp,
        &[
            "pack",
            &remote,
            "-o",
            &s("host.ctp"),
            "--key",
            "maintainer",
            "--platform",
            &format!("linux/{}", host_architecture()),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(bundle_image(&d.join("host.ctp"))["digest"], host_manifest.as_str());
}
