//! Reading layers for an SBOM: whiteouts and opaque directories applied in
//! layer order, hard links, gzip layers, package databases, and a layer that
//! does not match its digest refused.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Write;

use cerro_attest::layers::{diff_ids, scan, scan_spread, scan_with, FileDigests, Spread};
use cerro_attest::packages::PackageKind;
use cerro_core::digest::Digest;
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::pack::LayerDiffIds;

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
    for spread in [Spread::OneThreadPerLayer, Spread::WithinLayers] {
        let err = scan_spread(&image, FileDigests::Sha256AndSha1, spread, &|_| {}).unwrap_err();
        assert!(
            matches!(err, cerro_core::Error::DigestMismatch { .. }),
            "{spread:?}: {err}"
        );
    }
}

fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(data))
}

/// Bytes that do not repeat within a chunk (so a misplaced chunk boundary
/// changes the digest).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

/// The one pass per layer, stage by stage: files larger than the reader's
/// and the lanes' chunks, thousands of small and empty files batched to the
/// SHA-1 lane, a gzip and a zstd layer whose diff_ids come from the
/// decompressing lane — every digest is checked against a direct
/// computation, and `--no-sbom`'s measurement agrees with the SBOM pass.
#[test]
fn one_pass_digests_agree_with_direct_hashing_across_chunks_batches_and_compressions() {
    let big = pattern(3 * (1 << 20) + 12_345, 7);
    let small: Vec<(String, Vec<u8>)> = (0..5000)
        .map(|i| (format!("small/{i:05}"), pattern(i % 700, i as u8)))
        .collect();
    let mut entries: Vec<(&str, tar::EntryType, &[u8], Option<&str>)> =
        vec![("big.bin", tar::EntryType::Regular, &big, None)];
    for (p, d) in &small {
        entries.push((p, tar::EntryType::Regular, d, None));
    }
    let plain = tar_with(&entries);
    let gz_tar = tar_with(&[("gz/file", tar::EntryType::Regular, &big[..2_000_000], None)]);
    let zst_tar = tar_with(&[("zst/file", tar::EntryType::Regular, &big[1000..], None)]);
    let zst = zstd::stream::encode_all(&zst_tar[..], 1).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path()).unwrap();
    b.layer_raw(&plain, "application/vnd.oci.image.layer.v1.tar", Digest::of(&plain))
        .unwrap();
    b.layer_raw(
        &gzip(&gz_tar),
        "application/vnd.oci.image.layer.v1.tar+gzip",
        Digest::of(&gz_tar),
    )
    .unwrap();
    b.layer_raw(
        &zst,
        "application/vnd.oci.image.layer.v1.tar+zstd",
        Digest::of(&zst_tar),
    )
    .unwrap();
    b.finish(basic_config(&["/big.bin"]), None).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap();

    let c = scan(&image).unwrap();
    // Every way of spreading the pass over the cores gives the same contents.
    for spread in [Spread::OneThreadPerLayer, Spread::WithinLayers] {
        let other = scan_spread(&image, FileDigests::Sha256AndSha1, spread, &|_| {}).unwrap();
        assert_eq!(other.files, c.files, "{spread:?}");
        assert_eq!(other.diff_ids, c.diff_ids, "{spread:?}");
        assert_eq!(other.packages, c.packages, "{spread:?}");
    }
    let expected_ids = vec![Digest::of(&plain), Digest::of(&gz_tar), Digest::of(&zst_tar)];
    assert_eq!(c.diff_ids, LayerDiffIds::measured(expected_ids.clone()));
    assert_eq!(diff_ids(&image).unwrap(), LayerDiffIds::measured(expected_ids));
    assert_eq!(c.files.len(), 5003);
    let by_path = |p: &str| c.files.iter().find(|f| f.path == p).unwrap();
    for (path, data) in [
        ("big.bin", &big[..]),
        ("gz/file", &big[..2_000_000]),
        ("zst/file", &big[1000..]),
    ]
    .into_iter()
    .chain(small.iter().map(|(p, d)| (p.as_str(), &d[..])))
    {
        let f = by_path(path);
        assert_eq!(f.size, data.len() as u64, "{path}");
        assert_eq!(f.sha256, Digest::of(data), "{path}");
        assert_eq!(f.sha1.as_deref(), Some(sha1_hex(data).as_str()), "{path}");
    }

    // CycloneDX needs no SHA-1: the pass skips it, and an SPDX document
    // cannot be made from such contents.
    let no_sha1 = scan_with(&image, FileDigests::Sha256, &|_| {}).unwrap();
    assert!(no_sha1.files.iter().all(|f| f.sha1.is_none()));
    assert_eq!(
        no_sha1.files.iter().map(|f| f.sha256).collect::<Vec<_>>(),
        c.files.iter().map(|f| f.sha256).collect::<Vec<_>>()
    );
    let subject = cerro_attest::SbomSubject {
        name: "t",
        version: "1",
        image: image.manifest.digest,
        time: 0,
        tool_version: "0",
    };
    assert!(cerro_attest::spdx::document(&subject, &no_sha1).is_err());
    assert!(cerro_attest::spdx::document(&subject, &c).is_ok());
}

/// A compressed layer that does not match its digest is refused as such,
/// even though its decompressed tar would parse.
#[test]
fn a_compressed_layer_that_does_not_match_its_digest_is_not_described() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path()).unwrap();
    let t = tar_with(&[("f", tar::EntryType::Regular, b"content", None)]);
    let digest = b
        .layer_raw(&gzip(&t), "application/vnd.oci.image.layer.v1.tar+gzip", Digest::of(&t))
        .unwrap()
        .digest;
    b.finish(basic_config(&["/f"]), None).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap();
    let blob = dir.path().join("blobs/sha256").join(digest.hex());
    let mut bytes = std::fs::read(&blob).unwrap();
    // The gzip header's mtime: the stream still decompresses to the same tar.
    bytes[4] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    for err in [
        scan(&image).unwrap_err(),
        diff_ids(&image).unwrap_err(),
        scan_spread(&image, FileDigests::Sha256AndSha1, Spread::OneThreadPerLayer, &|_| {}).unwrap_err(),
        scan_spread(&image, FileDigests::Sha256AndSha1, Spread::WithinLayers, &|_| {}).unwrap_err(),
    ] {
        assert!(matches!(err, cerro_core::Error::DigestMismatch { .. }), "{err}");
    }
}

/// The SPDX document is written straight to canonical bytes (no `Value`
/// tree): re-canonicalising it with core's JCS changes no byte, whatever
/// the file names and package fields hold (quotes, backslashes, controls,
/// non-ASCII, characters above U+FFFF), and it reads back as SPDX 2.3 with
/// one file entry and one relationship per file.
#[test]
fn the_spdx_document_is_written_in_its_canonical_form() {
    use cerro_attest::layers::{FileEntry, ImageContents};
    use cerro_attest::packages::OsPackage;

    let names = [
        "etc/os-release",
        "usr/bin/\"quoted\"",
        "usr/share/back\\slash",
        "tmp/control\u{1}\u{1f}\t\n\r\u{8}\u{c}",
        "opt/caf\u{e9}/\u{20ac}/\u{fb33}/\u{1f600}",
        "x/\u{2028}\u{ffff}\u{e000}",
    ];
    let files: Vec<FileEntry> = names
        .iter()
        .enumerate()
        .map(|(i, p)| FileEntry {
            path: (*p).to_owned(),
            size: i as u64,
            sha256: Digest::of(p.as_bytes()),
            sha1: Some(sha1_hex(p.as_bytes())),
        })
        .collect();
    let pkg = |name: &str, source: Option<&str>, license: Option<&str>| OsPackage {
        kind: PackageKind::Deb,
        name: name.into(),
        version: "1.0-1\"\\".into(),
        arch: Some("amd64".into()),
        source: source.map(Into::into),
        license: license.map(Into::into),
    };
    let contents = ImageContents {
        files,
        packages: vec![
            pkg("a", None, None),
            pkg("b\u{1f600}", Some("src\n"), Some("GPL-2.0+ \"x\"")),
        ],
        distro: Some("debian".into()),
        distro_version: Some("12".into()),
        diff_ids: LayerDiffIds::measured(vec![]),
    };
    let subject = cerro_attest::SbomSubject {
        name: "n\"\u{e000}",
        version: "1\\2",
        image: Digest::of(b"image"),
        time: 1_700_000_000,
        tool_version: "0.1.0",
    };
    let bytes = cerro_attest::spdx::canonical(&subject, &contents).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(cerro_core::jcs::to_vec(&value).unwrap(), bytes);
    assert_eq!(cerro_attest::spdx::document(&subject, &contents).unwrap(), value);
    assert_eq!(value["spdxVersion"], "SPDX-2.3");
    let spdx_files = value["files"].as_array().unwrap();
    assert_eq!(spdx_files.len(), names.len());
    for (i, (f, name)) in spdx_files.iter().zip(names).enumerate() {
        assert_eq!(f["SPDXID"], format!("SPDXRef-File-{i}"));
        assert_eq!(f["fileName"], format!("./{name}"));
        assert_eq!(f["checksums"][0]["checksumValue"], sha1_hex(name.as_bytes()));
        assert_eq!(f["checksums"][1]["checksumValue"], Digest::of(name.as_bytes()).hex());
    }
    // DESCRIBES, then CONTAINS for each package, then for each file.
    let rels = value["relationships"].as_array().unwrap();
    assert_eq!(rels.len(), 1 + 2 + names.len());
    assert_eq!(rels[0]["relationshipType"], "DESCRIBES");
    assert_eq!(rels[2]["relatedSpdxElement"], "SPDXRef-Package-1");
    assert_eq!(rels[3]["relatedSpdxElement"], "SPDXRef-File-0");
    assert_eq!(value["packages"][2]["sourceInfo"], "built from source package src\n");
}

/// A one-layer image's uncompressed layer is spread over the cores by file
/// (its bodies handed to hashing workers as slices of the chunks read, or
/// hashed by the reading thread when the workers are busy): package
/// databases kept, a hard link to a file a worker hashes, a GNU long name
/// and a PAX header before a body, files across chunk boundaries — the
/// same contents as the one-thread pass, every digest checked directly.
#[test]
fn a_layer_spread_by_file_gives_the_one_thread_contents() {
    use tar::EntryType::{Link, Regular};
    let long = format!("deep/{}/file", "d".repeat(150));
    let big = pattern(700_000, 3);
    let mut owned: Vec<(String, Vec<u8>)> = vec![
        ("var/lib/dpkg/status".into(), STATUS.to_vec()),
        ("etc/os-release".into(), b"ID=debian\nVERSION_ID=\"12\"\n".to_vec()),
        (long.clone(), pattern(200_000, 9)),
        ("big.bin".into(), big.clone()),
    ];
    for i in 0..3000 {
        owned.push((format!("f/{i:04}"), pattern((i * 37) % 5000, i as u8)));
    }
    let mut entries: Vec<(&str, tar::EntryType, &[u8], Option<&str>)> =
        owned.iter().map(|(p, d)| (p.as_str(), Regular, &d[..], None)).collect();
    entries.push(("big-alias", Link, b"", Some("big.bin")));
    let mut plain = tar_with(&entries);
    // A PAX extended header before a file (as GNU tar writes for long
    // names or precise times): its body is read by the tar reader, the
    // next file's body by the workers.
    {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("mtime", &b"1.5"[..])]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(4);
        h.set_mode(0o644);
        b.append_data(&mut h, "pax/after", &b"pax!"[..]).unwrap();
        let pax = b.into_inner().unwrap();
        // Insert before the end-of-archive blocks.
        let end = plain.len() - 1024;
        let mut with = plain[..end].to_vec();
        with.extend_from_slice(&pax);
        plain = with;
        owned.push(("pax/after".into(), b"pax!".to_vec()));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path()).unwrap();
    b.layer_raw(&plain, "application/vnd.oci.image.layer.v1.tar", Digest::of(&plain))
        .unwrap();
    b.finish(basic_config(&["/big.bin"]), None).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap();

    let split = scan_spread(&image, FileDigests::Sha256AndSha1, Spread::WithinLayers, &|_| {}).unwrap();
    let one = scan_spread(&image, FileDigests::Sha256AndSha1, Spread::OneThreadPerLayer, &|_| {}).unwrap();
    assert_eq!(split.files, one.files);
    assert_eq!(split.diff_ids, one.diff_ids);
    assert_eq!(split.packages, one.packages);
    assert_eq!(split.distro.as_deref(), Some("debian"));
    assert_eq!(split.packages.len(), 1);
    assert_eq!(split.files.len(), owned.len() + 1);
    for (path, data) in &owned {
        let f = split.files.iter().find(|f| &f.path == path).unwrap();
        assert_eq!(f.size, data.len() as u64, "{path}");
        assert_eq!(f.sha256, Digest::of(data), "{path}");
        assert_eq!(f.sha1.as_deref(), Some(sha1_hex(data).as_str()), "{path}");
    }
    let alias = split.files.iter().find(|f| f.path == "big-alias").unwrap();
    assert_eq!(alias.sha256, Digest::of(&big), "a hard link has its target's content");
    let cdx = scan_spread(&image, FileDigests::Sha256, Spread::WithinLayers, &|_| {}).unwrap();
    assert!(cdx.files.iter().all(|f| f.sha1.is_none()));
}

/// A tar cut inside a file's body (its digest is the cut bytes': the layer
/// is what the manifest says) is refused as a corrupt tar by every way of
/// spreading the pass, never described with a shorter file.
#[test]
fn a_tar_cut_inside_a_body_is_refused_by_every_spread() {
    let body = pattern(600_000, 5);
    let full = tar_with(&[("a", tar::EntryType::Regular, &body, None)]);
    let cut = &full[..512 + 400_000];
    let dir = tempfile::tempdir().unwrap();
    let mut b = LayoutBuilder::new(dir.path()).unwrap();
    b.layer_raw(cut, "application/vnd.oci.image.layer.v1.tar", Digest::of(cut))
        .unwrap();
    b.finish(basic_config(&["/a"]), None).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.path().display())).unwrap();
    for spread in [Spread::Auto, Spread::OneThreadPerLayer, Spread::WithinLayers] {
        let err = scan_spread(&image, FileDigests::Sha256AndSha1, spread, &|_| {}).unwrap_err();
        assert!(matches!(err, cerro_core::Error::Malformed { .. }), "{spread:?}: {err}");
    }
}
