//! End to end on a real OCI image: umoci (Debian) builds a layout holding
//! Debian's busybox-static, `ct` packs, verifies and unpacks it, and umoci
//! reads the unpacked layout back.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::process::Command;

use cerro_integration::{busybox_layout, ct, ct_status, flip_in_last_member, is_root, run, umoci};

#[test]
fn busybox_image_round_trip_through_umoci() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    busybox_layout(d);
    let home = d.join("home");
    let s = |p: &str| d.join(p).display().to_string();
    let image = format!("oci:{}:busybox", s("img"));

    run(ct(&home).args(["keygen", "--id", "maintainer"]));
    let manifest = d.join("busybox.toml");
    fs::write(
        &manifest,
        "[package]\nname = \"busybox\"\nversion = \"1.35.0-4\"\nsummary = \"Debian busybox-static\"\n\n\
         [provenance]\nupstream = \"https://busybox.net/downloads/busybox-1.35.0.tar.bz2\"\nimported_from = \"debian:busybox_1.35.0-4.dsc\"\n\n\
         [runtime]\nentrypoint = [\"/bin/busybox\"]\n",
    )
    .unwrap();
    let m = manifest.display().to_string();
    let pack = |src: &str, out: &str, extra: &[&str]| {
        run(ct(&home)
            .args(["pack", src, "-o", &s(out), "--key", "maintainer", "--manifest", &m])
            .args(extra))
    };
    pack(&image, "bb.ctp", &[]);
    let (code, out) = ct_status(&home, &["verify", &s("bb.ctp")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("busybox 1.35.0-4"), "{out}");

    // The bundle's image is the one umoci wrote: same manifest digest.
    let index: serde_json::Value = serde_json::from_slice(&fs::read(d.join("img/index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let (_, explain) = ct_status(&home, &["explain", &s("bb.ctp"), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&explain).unwrap();
    assert_eq!(report["bundle"]["image"]["digest"], digest.as_str());
    assert_eq!(
        report["bundle"]["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );

    // Packing again gives the same bytes; so does packing the same layout from
    // an oci-archive, but for the provenance, which records the transport.
    pack(&image, "bb2.ctp", &[]);
    assert_eq!(
        fs::read(d.join("bb.ctp")).unwrap(),
        fs::read(d.join("bb2.ctp")).unwrap()
    );
    run(Command::new("tar").args(["-C", &s("img"), "-cf", &s("img.tar"), "."]));
    let archive = format!("oci-archive:{}:busybox", s("img.tar"));
    pack(&archive, "bb3.ctp", &["--no-provenance"]);
    pack(&image, "bb4.ctp", &["--no-provenance"]);
    assert_eq!(
        fs::read(d.join("bb4.ctp")).unwrap(),
        fs::read(d.join("bb3.ctp")).unwrap()
    );

    // Unpack, and umoci accepts the layout ct wrote: busybox comes back intact.
    run(ct(&home).args(["unpack", &s("bb.ctp"), "-o", &s("out")]));
    let rootless: &[&str] = if is_root() { &[] } else { &["--rootless"] };
    run(umoci(&["unpack"])
        .args(rootless)
        .args(["--image", &format!("{}:busybox", s("out")), &s("check")]));
    assert_eq!(
        fs::read(d.join("check/rootfs/bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );

    // One flipped bit in the compressed busybox layer is refused, and nothing is unpacked.
    flip_in_last_member(&d.join("bb.ctp"), &d.join("bad.ctp"));
    let (code, out) = ct_status(&home, &["verify", &s("bad.ctp")]);
    assert_eq!(code, 1, "{out}");
    let (code, _) = ct_status(&home, &["unpack", &s("bad.ctp"), "-o", &s("out-bad")]);
    assert_eq!(code, 1);
    assert!(!d.join("out-bad").exists());
}

#[test]
fn docker_archive_packs_with_diff_ids_as_layer_digests() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    busybox_layout(d);
    let s = |p: &str| d.join(p).display().to_string();
    // Make a `docker save`-style archive from the layout: uncompressed layer,
    // the config as is (its rootfs.diff_ids name the uncompressed layers).
    let index: serde_json::Value = serde_json::from_slice(&fs::read(d.join("img/index.json")).unwrap()).unwrap();
    let mdigest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(d.join("img/blobs/sha256").join(&mdigest)).unwrap()).unwrap();
    let cdigest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let ldigest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let da = d.join("da");
    fs::create_dir_all(da.join("layer0")).unwrap();
    let layer = run(Command::new("zcat").arg(d.join("img/blobs/sha256").join(&ldigest))).stdout;
    fs::write(da.join("layer0/layer.tar"), &layer).unwrap();
    fs::copy(
        d.join("img/blobs/sha256").join(&cdigest),
        da.join(format!("{cdigest}.json")),
    )
    .unwrap();
    fs::write(
        da.join("manifest.json"),
        serde_json::json!([{"Config": format!("{cdigest}.json"), "RepoTags": ["busybox:1.35"], "Layers": ["layer0/layer.tar"]}])
            .to_string(),
    )
    .unwrap();
    run(Command::new("tar").args(["-C", &s("da"), "-cf", &s("da.tar"), "."]));

    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k"]));
    run(ct(&home).args([
        "pack",
        &format!("docker-archive:{}", s("da.tar")),
        "-o",
        &s("da.ctp"),
        "--key",
        "k",
    ]));
    let (code, out) = ct_status(&home, &["explain", &s("da.ctp"), "--json"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(d.join("img/blobs/sha256").join(&cdigest)).unwrap()).unwrap();
    assert_eq!(report["bundle"]["layers"][0]["digest"], config["rootfs"]["diff_ids"][0]);
    assert_eq!(
        report["bundle"]["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(report["bundle"]["reference"], "busybox:1.35");
    assert_eq!(report["bundle"]["layers"][0]["size"], layer.len());

    // A docker archive whose layer does not match its diff id is refused at pack time.
    let mut bad = layer.clone();
    bad[700] ^= 1;
    fs::write(da.join("layer0/layer.tar"), &bad).unwrap();
    run(Command::new("tar").args(["-C", &s("da"), "-cf", &s("da-bad.tar"), "."]));
    let (code, out) = ct_status(
        &home,
        &[
            "pack",
            &format!("docker-archive:{}", s("da-bad.tar")),
            "-o",
            &s("bad.ctp"),
            "--key",
            "k",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(!d.join("bad.ctp").exists(), "no partial bundle is left behind");
}
