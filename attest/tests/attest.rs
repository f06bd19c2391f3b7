//! Reading layers for an SBOM: whiteouts and opaque directories applied in
//! layer order, hard links, gzip layers, package databases, and a layer that
//! does not match its digest refused.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Write;

use cerro_attest::layers::scan;
use cerro_attest::packages::PackageKind;
use cerro_core::digest::Digest;
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;

const STATUS: &[u8] = b"Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: amd64\n\nPackage: removed\nStatus: deinstall ok config-files\nVersion: 1\n";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn tar_with(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn whiteouts_hard_links_gzip_and_package_databases() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path()).unwrap();
    b.layer_tar(&[
        ("etc/os-release", 0o644, b"ID=debian\nVERSION_ID=\"12\"\n"),
        ("var/lib/dpkg/status", 0o644, STATUS),
        ("old.txt", 0o644, b"old"),
        ("cache/a", 0o644, b"a"),
        ("cache/b", 0o644, b"b"),
        ("keep/c", 0o644, b"c"),
    ])
    .unwrap();
    use tar::EntryType::{Link, Regular};
    let layer2 = tar_with(&[
        ("./.wh.old.txt", Regular, b"", None),
        ("cache/.wh..wh..opq", Regular, b"", None),
        ("cache/new", Regular, b"fresh", None),
        ("bin/tool", Regular, b"#!/bin/sh\n", None),
        ("bin/tool-alias", Link, b"", Some("bin/tool")),
    ]);
    b.layer_raw(
        &gzip(&layer2),
        "application/vnd.oci.image.layer.v1.tar+gzip",
        Digest::of(&layer2),
    )
    .unwrap();
    b.finish(basic_config(&["/bin/tool"]), None).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap();

    let c = scan(&image).unwrap();
    let paths: Vec<&str> = c.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "bin/tool",
            "bin/tool-alias",
            "cache/new",
            "etc/os-release",
            "keep/c",
            "var/lib/dpkg/status"
        ]
    );
    let tool = &c.files[0];
    assert_eq!(tool.sha256, Digest::of(b"#!/bin/sh\n"));
    assert_eq!(c.files[1].sha256, tool.sha256, "a hard link has its target's content");
    assert_eq!(c.files[1].sha1, tool.sha1);
    assert_eq!(c.distro.as_deref(), Some("debian"));
    assert_eq!(c.packages.len(), 1);
    assert_eq!(c.packages[0].name, "base-files");
    assert_eq!(c.packages[0].kind, PackageKind::Deb);
}

#[test]
fn a_layer_that_does_not_match_its_digest_is_not_described() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path()).unwrap();
    let digest = b.layer_tar(&[("f", 0o644, b"content")]).unwrap().digest;
    b.finish(basic_config(&["/f"]), None).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap();
    let blob = dir.path().join("blobs/sha256").join(digest.hex());
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[600] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let err = scan(&image).unwrap_err();
    assert!(matches!(err, cerro_core::Error::DigestMismatch { .. }), "{err}");
}
