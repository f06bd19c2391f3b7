//! SBOM and provenance on a real Debian image: debootstrap (Debian) builds a
//! bookworm minbase root filesystem, `ct pack` attests it, and the reference
//! implementations judge the result: pyspdxtools (SPDX 2.3), cyclonedx-python-lib
//! (CycloneDX 1.5), securesystemslib's DSSE and in-toto-attestation (statements,
//! SLSA provenance). The SBOM must list exactly the packages dpkg says are installed.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_integration::{ct, ct_status, debian_mirror, require, run, statement_in, target_dir, validate};

/// A bookworm minbase root filesystem as one uncompressed layer tar, built
/// once and cached under target/fixtures (debootstrap takes ~30 s).
fn debian_layer() -> PathBuf {
    let cache = target_dir().join("fixtures");
    let layer = cache.join("debian-bookworm-minbase.tar");
    if layer.exists() {
        return layer;
    }
    require("debootstrap");
    fs::create_dir_all(&cache).unwrap();
    let work = tempfile::tempdir_in(&cache).unwrap();
    let rootfs = work.path().join("rootfs");
    run(Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&rootfs)
        .arg(debian_mirror()));
    let part = work.path().join("layer.tar");
    run(Command::new("tar")
        .args(["--numeric-owner", "--sort=name", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&part)
        .arg("."));
    fs::rename(&part, &layer).unwrap();
    layer
}

/// Installed packages according to dpkg itself, reading the image's status file.
fn dpkg_installed(layer: &Path) -> BTreeSet<String> {
    let admin = tempfile::tempdir().unwrap();
    let status = run(Command::new("tar").arg("-xOf").arg(layer).arg("./var/lib/dpkg/status")).stdout;
    fs::write(admin.path().join("status"), status).unwrap();
    fs::create_dir_all(admin.path().join("info")).unwrap();
    fs::create_dir_all(admin.path().join("updates")).unwrap();
    let out = run(Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.path().display()))
        .args(["-W", "-f=${db:Status-Status} ${Package}\\n"]))
    .stdout;
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("installed "))
        .map(str::to_owned)
        .collect()
}

fn pack(home: &Path, image: &str, out: &str, extra: &[&str]) {
    let mut c = ct(home);
    c.env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["pack", image, "-o", out, "--key", "builder"])
        .args(extra);
    run(&mut c);
}

fn sbom_json(home: &Path, bundle: &str, dest: &Path) -> serde_json::Value {
    let out = run(ct(home).args(["sbom", bundle])).stdout;
    fs::write(dest, &out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn debian_minbase_sbom_and_provenance_pass_the_reference_validators() {
    let layer = debian_layer();
    let expected = dpkg_installed(&layer);
    assert!(
        expected.len() > 50,
        "a minbase system has dozens of packages, dpkg says {}",
        expected.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &str| d.join(p).display().to_string();
    let mut b = LayoutBuilder::new(&d.join("img")).unwrap();
    b.layer_from_tar(&layer).unwrap();
    let image_desc = b.finish(basic_config(&["/bin/bash"]), Some("bookworm")).unwrap();
    let image = format!("oci:{}:bookworm", s("img"));
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "builder"]));
    fs::write(
        d.join("m.toml"),
        "[package]\nname = \"debian-minbase\"\nversion = \"12\"\n\n[provenance]\nupstream = \"https://deb.debian.org/debian/dists/bookworm\"\n",
    )
    .unwrap();

    // SPDX (the default).
    pack(&home, &image, &s("spdx.ctp"), &["--manifest", &s("m.toml")]);
    let spdx = sbom_json(&home, &s("spdx.ctp"), &d.join("spdx.json"));
    validate("spdx", &[&s("spdx.json")]);
    let listed: BTreeSet<String> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["SPDXID"] != "SPDXRef-Image")
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, expected, "the SBOM lists exactly dpkg's installed packages");
    let bash = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bash")
        .unwrap();
    assert!(bash["externalRefs"][0]["referenceLocator"]
        .as_str()
        .unwrap()
        .starts_with("pkg:deb/debian/bash@"));
    // Every file, with the hash of its bytes.
    let files = spdx["files"].as_array().unwrap();
    assert!(files.len() > 1000, "{} files", files.len());
    let version = run(Command::new("tar").arg("-xOf").arg(&layer).arg("./etc/debian_version")).stdout;
    let entry = files.iter().find(|f| f["fileName"] == "./etc/debian_version").unwrap();
    assert_eq!(
        entry["checksums"][1]["checksumValue"],
        cerro_core::digest::Digest::of(&version).hex()
    );

    // CycloneDX.
    pack(
        &home,
        &image,
        &s("cdx.ctp"),
        &["--manifest", &s("m.toml"), "--sbom-format", "cyclonedx"],
    );
    let cdx = sbom_json(&home, &s("cdx.ctp"), &d.join("cdx.json"));
    validate("cyclonedx", &[&s("cdx.json")]);
    let libs: BTreeSet<String> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "library")
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(libs, expected);

    // ct explain lists every attestation; verify checks them all.
    let (code, explain) = ct_status(&home, &["explain", &s("spdx.ctp")]);
    assert_eq!(code, 0, "{explain}");
    for ty in [
        "https://slsa.dev/provenance/v1",
        "https://spdx.dev/Document",
        "cerro-torre.org/attestation/release/v2",
    ] {
        assert!(explain.contains(ty), "explain lacks {ty}:\n{explain}");
    }

    // The reference DSSE implementation accepts every envelope with the exported key.
    let pem = s("builder.pem");
    run(ct(&home).args(["key", "export", "builder", "-o", &pem]));
    let keys: serde_json::Value =
        serde_json::from_slice(&run(ct(&home).args(["key", "list", "--json"])).stdout).unwrap();
    let fp = keys[0]["fingerprint"].as_str().unwrap().to_owned();
    fs::create_dir_all(d.join("x")).unwrap();
    run(Command::new("tar").args(["-C", &s("x"), "-xf", &s("spdx.ctp"), "attestations"]));
    let envelopes: Vec<String> = fs::read_dir(d.join("x/attestations"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    assert_eq!(envelopes.len(), 3);
    let mut args = vec![pem.as_str(), fp.as_str()];
    args.extend(envelopes.iter().map(String::as_str));
    validate("dsse", &args);

    // Provenance: builder, input image by digest, upstream source, SOURCE_DATE_EPOCH times.
    let st = statement_in(&d.join("spdx.ctp"), "attestations/provenance.dsse.json");
    let p = &st["predicate"];
    assert_eq!(st["subject"][0]["digest"]["sha256"], image_desc.digest.hex());
    assert!(p["runDetails"]["builder"]["id"].as_str().unwrap().contains("ct@v"));
    assert_eq!(p["runDetails"]["metadata"]["finishedOn"], "2023-11-14T22:13:20Z");
    let deps = p["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
    assert_eq!(deps[0]["digest"]["sha256"], image_desc.digest.hex());
    assert_eq!(deps[0]["uri"], "oci:bookworm");
    assert_eq!(deps[1]["uri"], "https://deb.debian.org/debian/dists/bookworm");

    // Packing the same input again is byte-identical, SBOM and provenance included.
    pack(&home, &image, &s("spdx2.ctp"), &["--manifest", &s("m.toml")]);
    assert_eq!(
        fs::read(d.join("spdx.ctp")).unwrap(),
        fs::read(d.join("spdx2.ctp")).unwrap()
    );
}
