//! The exporters on images made here, layer by layer: whiteouts and opaque
//! directories applied as a runtime applies them, hostile layer paths
//! refused or kept inside the root, hard links, a bundle changed after it
//! was verified (nothing written), and the same bytes twice.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use cerro_core::bundle::{read_bundle_file, Bundle, NoExtract};
use cerro_core::digest::Digest;
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::image::MT_OCI_LAYER_TAR;
use cerro_core::testing::manifest_for;
use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};
use cerro_core::verify::Verified;
use cerro_core::ExitCode;
use cerro_export::{export, Format, Options};

/// One tar entry of a test layer.
enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    Fifo(&'a str),
}

/// A raw (uncompressed) layer. Names are written into the header as given
/// (the tar crate would refuse `..`): hostile layers are what is tested.
fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        let (name, kind, data, link): (&str, _, &[u8], Option<&str>) = match e {
            E::File(p, d) => (p, tar::EntryType::Regular, d, None),
            E::Dir(p) => (p, tar::EntryType::Directory, b"", None),
            E::Symlink(p, t) => (p, tar::EntryType::Symlink, b"", Some(t)),
            E::HardLink(p, t) => (p, tar::EntryType::Link, b"", Some(t)),
            E::Fifo(p) => (p, tar::EntryType::Fifo, b"", None),
        };
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            old.linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_mtime(1);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Packs an image of these layers in `dir` as NAME.ctp and verifies it.
fn bundle(dir: &Path, name: &str, layers: &[Vec<u8>]) -> (PathBuf, Verified<Bundle>) {
    bundle_version(dir, name, layers, "1.0-1")
}

/// [`bundle`] with the package version `version`.
fn bundle_version(dir: &Path, name: &str, layers: &[Vec<u8>], version: &str) -> (PathBuf, Verified<Bundle>) {
    let layout = dir.join(format!("{name}-layout"));
    let mut b = LayoutBuilder::new(&layout).unwrap();
    for l in layers {
        b.layer_raw(l, MT_OCI_LAYER_TAR, Digest::of(l)).unwrap();
    }
    let mut config = basic_config(&["/bin/true"]);
    config["created"] = serde_json::json!("2026-01-02T03:04:05Z");
    b.finish(config, Some("1")).unwrap();
    let image = SourceImage::open(&format!("oci:{}:1", layout.display())).unwrap();
    let manifest = manifest_for(&image, "layered", version);
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let path = dir.join(format!("{name}.ctp"));
    cerro_core::pack::PackRequest {
        image: &image,
        manifest: &manifest,
        keys: std::slice::from_ref(&key),
        mtime: 0,
        selinux: &[],
        extra: &[],
        diff_ids: &cerro_core::pack::LayerDiffIds::of_uncompressed(&image).unwrap(),
    }
    .write(&mut File::create(&path).unwrap())
    .unwrap();
    (path.clone(), verified(&path, &key))
}

fn verified(path: &Path, key: &ed25519_dalek::SigningKey) -> Verified<Bundle> {
    let mut t = TrustStore::new();
    t.insert(KeyEntry::new("k", key.verifying_key(), TrustLevel::Full))
        .unwrap();
    cerro_core::verify::verify(
        read_bundle_file(&File::open(path).unwrap(), &mut NoExtract).unwrap(),
        &t,
        &cerro_core::policy_interface::NoPolicy,
        1,
    )
    .unwrap()
}

/// The data.tar.gz of a .deb: path → (entry type, link target, bytes).
fn deb_data(deb: &Path) -> BTreeMap<String, (tar::EntryType, Option<String>, Vec<u8>)> {
    let mut ar = ar::Archive::new(File::open(deb).unwrap());
    let mut names = Vec::new();
    while let Some(e) = ar.next_entry() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.header().identifier().to_vec()).unwrap();
        names.push(name.clone());
        if name == "data.tar.gz" {
            let mut out = BTreeMap::new();
            let mut t = tar::Archive::new(flate2::read::GzDecoder::new(&mut e));
            for entry in t.entries().unwrap() {
                let mut entry = entry.unwrap();
                let p = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
                let p = p.trim_start_matches("./").trim_end_matches('/').to_owned();
                let kind = entry.header().entry_type();
                let link = entry
                    .link_name_bytes()
                    .map(|l| String::from_utf8(l.into_owned()).unwrap());
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                out.insert(p, (kind, link, data));
            }
            return out;
        }
    }
    panic!("no data.tar.gz in {}: {names:?}", deb.display());
}

fn deb(dir: &Path, bundle: &Path, v: &Verified<Bundle>, name: &str) -> cerro_core::Result<PathBuf> {
    let out = dir.join(name);
    export(v, bundle, &Options::new(Format::Deb, &out)).map(|_| out)
}

#[test]
fn a_whiteout_in_a_later_layer_removes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = layer(&[
        E::Dir("etc/"),
        E::File("etc/motd", b"old\n"),
        E::File("etc/keep", b"kept\n"),
        E::Dir("var/"),
        E::Dir("var/cache/"),
        E::File("var/cache/a", b"a"),
        E::Dir("var/cache/sub/"),
        E::File("var/cache/sub/b", b"b"),
        E::Dir("opt/"),
        E::File("opt/tool", b"tool"),
    ]);
    let top = layer(&[
        E::File("etc/.wh.motd", b""),
        E::File("var/cache/.wh..wh..opq", b""),
        E::File("var/cache/new", b"new"),
        // A directory replaced by a file takes its subtree with it.
        E::File("opt", b"now a file"),
        // Whiteout and re-creation in one layer: the whiteout is for the layers below.
        E::File(".wh.extra", b""),
        E::File("extra", b"same layer"),
    ]);
    let (path, v) = bundle(d, "wh", &[base, top]);
    let out = deb(d, &path, &v, "wh.deb").unwrap();
    let t = deb_data(&out);
    assert!(!t.contains_key("etc/motd"), "{:?}", t.keys());
    assert_eq!(t["etc/keep"].2, b"kept\n");
    assert!(!t.contains_key("var/cache/a") && !t.contains_key("var/cache/sub/b") && !t.contains_key("var/cache/sub"));
    assert_eq!(t["var/cache/new"].2, b"new");
    assert_eq!(t["opt"].2, b"now a file");
    assert!(!t.contains_key("opt/tool"));
    assert_eq!(t["extra"].2, b"same layer");
    assert!(t.keys().all(|k| !k.contains(".wh.")), "{:?}", t.keys());
}

#[test]
fn hostile_layer_paths_never_leave_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // ".." in an entry or a hard link: refused (exit 10), nothing written.
    for (name, l) in [
        ("dotdot", layer(&[E::File("../escape", b"x")])),
        ("inner-dotdot", layer(&[E::Dir("a/"), E::File("a/../../escape", b"x")])),
        (
            "hardlink",
            layer(&[E::File("a", b"x"), E::HardLink("b", "../../etc/passwd")]),
        ),
    ] {
        let (path, v) = bundle(d, name, &[l]);
        let e = deb(d, &path, &v, &format!("{name}.deb")).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Malformed, "{name}: {e}");
        assert!(e.to_string().contains(".."), "{name}: {e}");
        assert!(!d.join(format!("{name}.deb")).exists(), "{name}");
    }
    // An absolute path lands under the root, as tar puts it.
    let (path, v) = bundle(d, "abs", &[layer(&[E::File("/abs/file", b"abs")])]);
    let t = deb_data(&deb(d, &path, &v, "abs.deb").unwrap());
    assert_eq!(t["abs/file"].2, b"abs");
    // Symbolic links that point out of the root: the links are kept as
    // they are, and what a later layer writes "through" them is placed
    // where a runtime extracting into a root places it, inside the root.
    let (path, v) = bundle(
        d,
        "links",
        &[
            layer(&[
                E::Symlink("up", "../../../../tmp"),
                E::Symlink("abs", "/etc"),
                E::Symlink("loop1", "loop2"),
                E::Symlink("loop2", "loop1"),
            ]),
            layer(&[E::File("up/pwned", b"1"), E::File("abs/pwned", b"2")]),
        ],
    );
    let t = deb_data(&deb(d, &path, &v, "links.deb").unwrap());
    assert_eq!(t["tmp/pwned"].2, b"1");
    assert_eq!(t["etc/pwned"].2, b"2");
    assert_eq!(t["up"].1.as_deref(), Some("../../../../tmp"));
    assert!(
        t.keys().all(|k| !k.starts_with("up/") && !k.starts_with("abs/")),
        "{:?}",
        t.keys()
    );
    // A symbolic-link loop: refused after 40 hops, not followed forever.
    let (path, v) = bundle(
        d,
        "loop",
        &[layer(&[
            E::Symlink("l1", "l2"),
            E::Symlink("l2", "l1"),
            E::File("l1/x", b""),
        ])],
    );
    let e = deb(d, &path, &v, "loop.deb").unwrap_err();
    assert!(e.to_string().contains("symbolic links"), "{e}");
}

#[test]
fn hard_links_fifos_and_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (path, v) = bundle(
        d,
        "hl",
        &[layer(&[
            E::Dir("bin/"),
            E::File("bin/tool", b"#!/bin/sh\n"),
            E::HardLink("bin/alias", "bin/tool"),
            E::Symlink("bin/abs", "/bin/tool"),
            E::Fifo("run/fifo"),
        ])],
    );
    let out = d.join("hl.deb");
    let mut opts = Options::new(Format::Deb, &out);
    opts.prefix = Some("/opt/layered".into());
    let done = export(&v, &path, &opts).unwrap();
    assert_eq!(done.left_out, vec!["run/fifo".to_owned()]);
    let t = deb_data(&out);
    // One content, two names: the first name in order (bin/alias) carries
    // the bytes, the second is a hard link to it, after it.
    let (alias, tool) = (&t["opt/layered/bin/alias"], &t["opt/layered/bin/tool"]);
    assert_eq!(
        (alias.0, alias.2.as_slice()),
        (tar::EntryType::Regular, &b"#!/bin/sh\n"[..])
    );
    assert_eq!(tool.0, tar::EntryType::Link);
    assert_eq!(tool.1.as_deref(), Some("opt/layered/bin/alias"));
    // Absolute links point into the prefix.
    assert_eq!(t["opt/layered/bin/abs"].1.as_deref(), Some("/opt/layered/bin/tool"));
    assert!(t.contains_key("opt") && t.contains_key("opt/layered"));
    assert!(!t.contains_key("run/fifo") && !t.contains_key("opt/layered/run/fifo"));
    // A prefix or branch the format has no use for is refused.
    let mut o = Options::new(Format::OciArchive, d.join("x.tar"));
    o.prefix = Some("/opt".into());
    assert_eq!(export(&v, &path, &o).unwrap_err().exit_code(), ExitCode::Config);
    let mut o = Options::new(Format::Deb, d.join("x.deb"));
    o.branch = Some("b".into());
    assert_eq!(export(&v, &path, &o).unwrap_err().exit_code(), ExitCode::Config);
    // Bad prefixes are a configuration error.
    for bad in ["relative", "/a/../b", "/a//b"] {
        let mut o = Options::new(Format::Deb, d.join("bad.deb"));
        o.prefix = Some(bad.into());
        let e = export(&v, &path, &o).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Config, "{bad}: {e}");
    }
}

/// `export_with` tells its progress every blob byte it reads back, and
/// the output is the same as without it (#11: `ct export`'s bar).
#[test]
fn progress_counts_the_blob_bytes_read_back() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (path, v) = bundle(d, "bar", &[layer(&[E::File("big", &big)])]);
    let blobs: u64 = v
        .members
        .iter()
        .filter(|m| m.path.starts_with(cerro_core::bundle::BLOB_PREFIX))
        .map(|m| m.size)
        .sum();
    for f in [Format::Oci, Format::Deb] {
        let seen = AtomicU64::new(0);
        let out = d.join(format!("p.{}", f.name()));
        cerro_export::export_with(&v, &path, &Options::new(f, &out), &|n| {
            seen.fetch_add(n, Ordering::Relaxed);
        })
        .unwrap();
        let seen = seen.into_inner();
        // The OCI layout copies every blob (and reads its manifest and
        // config once more to lay it out); a package reads the layers and
        // the small config and manifest.
        let least = if f == Format::Oci { blobs } else { big.len() as u64 };
        assert!(seen >= least && seen <= 2 * blobs, "{}: {seen} of {blobs}", f.name());
    }
}

#[test]
fn same_bundle_same_bytes_and_the_signed_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (path, v) = bundle(d, "same", &[layer(&[E::File("f", b"x")])]);
    for f in [Format::OciArchive, Format::Deb, Format::Rpm] {
        let a = d.join(format!("a.{}", f.name()));
        let b = d.join(format!("b.{}", f.name()));
        let done = export(&v, &path, &Options::new(f, &a)).unwrap();
        // No provenance: the image config's created time.
        assert_eq!(done.epoch, 1_767_323_045);
        export(&v, &path, &Options::new(f, &b)).unwrap();
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap(), "{}", f.name());
    }
}

#[test]
fn a_bundle_changed_after_verification_exports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (path, v) = bundle(d, "first", &[layer(&[E::File("f", b"verified content")])]);
    // Same size, other bytes: the layer is swapped after verification.
    let (other, _) = bundle(d, "second", &[layer(&[E::File("f", b"swapped content!")])]);
    fs::copy(&other, &path).unwrap();
    for f in [Format::Oci, Format::OciArchive, Format::Deb, Format::Rpm] {
        let out = d.join(format!("out.{}", f.name()));
        let e = export(&v, &path, &Options::new(f, &out)).unwrap_err();
        assert!(
            matches!(e.exit_code(), ExitCode::DigestMismatch | ExitCode::Malformed),
            "{}: {e}",
            f.name()
        );
        assert!(!out.exists(), "{}: {} was written", f.name(), out.display());
    }
    let leftovers: Vec<_> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_rpm_keeps_hard_links_as_a_set_and_caps_its_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (path, v) = bundle(d, "rpmhl", &[layer(&[E::File("a", b"same"), E::HardLink("b", "a")])]);
    let out = d.join("hl.rpm");
    export(&v, &path, &Options::new(Format::Rpm, &out)).unwrap();
    assert!(fs::metadata(&out).unwrap().len() > 0);
    // Over the in-memory cap: refused before anything is built.
    let mut o = Options::new(Format::Rpm, d.join("big.rpm"));
    o.limits.rpm_payload = 3;
    let e = export(&v, &path, &o).unwrap_err();
    assert!(e.to_string().contains("in memory"), "{e}");
    assert!(!d.join("big.rpm").exists());
}

#[test]
fn work_is_bounded_and_versions_a_format_cannot_hold_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big = vec![0u8; 64 << 10];
    let (path, v) = bundle(
        d,
        "caps",
        &[layer(&[E::File("a", &big), E::File("b", b"x"), E::File("c", b"y")])],
    );
    // Uncompressed bytes (a decompression bomb stops here) and entries.
    let mut o = Options::new(Format::Deb, d.join("bytes.deb"));
    o.limits.bytes = 32 << 10;
    let e = export(&v, &path, &o).unwrap_err();
    assert!(e.to_string().contains("uncompressed"), "{e}");
    let mut o = Options::new(Format::Deb, d.join("entries.deb"));
    o.limits.entries = 2;
    let e = export(&v, &path, &o).unwrap_err();
    assert!(e.to_string().contains("more than 2 entries"), "{e}");
    assert!(!d.join("bytes.deb").exists() && !d.join("entries.deb").exists());

    // "v2" is a manifest version but no Debian one (a letter first), and
    // "1:2:3" a Debian version but no RPM one (":" in the version): each
    // refused, naming the field, nothing written.
    let (path, v) = bundle_version(d, "v", &[layer(&[E::File("f", b"x")])], "v2");
    let e = export(&v, &path, &Options::new(Format::Deb, d.join("v.deb"))).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    assert!(e.to_string().contains("not a Debian version"), "{e}");
    assert!(!d.join("v.deb").exists());
    let (path, v) = bundle_version(d, "colon", &[layer(&[E::File("f", b"x")])], "1:2:3");
    let e = export(&v, &path, &Options::new(Format::Rpm, d.join("c.rpm"))).unwrap_err();
    assert!(e.to_string().contains("RPM"), "{e}");
    assert!(!d.join("c.rpm").exists());
}

/// Packs an image of `layers` whose signed SLSA provenance says its first
/// `base` layers are a base image's (as `ct build --base` records it).
fn bundle_on_base(dir: &Path, name: &str, layers: &[Vec<u8>], base: u64) -> (PathBuf, Verified<Bundle>) {
    let layout = dir.join(format!("{name}-layout"));
    let mut b = LayoutBuilder::new(&layout).unwrap();
    for l in layers {
        b.layer_raw(l, MT_OCI_LAYER_TAR, Digest::of(l)).unwrap();
    }
    let mut config = basic_config(&["/bin/true"]);
    config["created"] = serde_json::json!("2026-01-02T03:04:05Z");
    b.finish(config, Some("1")).unwrap();
    let image = SourceImage::open(&format!("oci:{}:1", layout.display())).unwrap();
    let manifest = manifest_for(&image, "layered", "1.0-1");
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "image", "digest": {"sha256": image.manifest.digest.hex()}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://cerro-torre.org/buildtypes/ct-build-debian/v1",
                "externalParameters": {},
                "resolvedDependencies": [{
                    "name": "oci:bookworm",
                    "digest": {"sha256": "ab".repeat(32)},
                    "annotations": {"role": "base", "layers": base},
                }],
            },
            "runDetails": {"builder": {"id": "https://cerro-torre.org/ct-build@v0"}},
        },
    });
    let extra = [(
        "attestations/provenance.dsse.json".to_owned(),
        cerro_core::jcs::to_vec(&statement).unwrap(),
    )];
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let path = dir.join(format!("{name}.ctp"));
    cerro_core::pack::PackRequest {
        image: &image,
        manifest: &manifest,
        keys: std::slice::from_ref(&key),
        mtime: 0,
        selinux: &[],
        extra: &extra,
        diff_ids: &cerro_core::pack::LayerDiffIds::of_uncompressed(&image).unwrap(),
    }
    .write(&mut File::create(&path).unwrap())
    .unwrap();
    (path.clone(), verified(&path, &key))
}

#[test]
fn a_package_of_an_image_built_on_a_base_holds_only_the_packages_files() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let base = layer(&[
        E::Dir("usr/"),
        E::Dir("usr/lib/"),
        E::File("usr/lib/libc.so.6", b"libc"),
        E::Dir("var/"),
        E::Dir("var/lib/"),
        E::Dir("var/lib/dpkg/"),
        E::File("var/lib/dpkg/status", b"Package: libc6\n"),
    ]);
    let list = b"/.\n/usr\n/usr/bin\n/usr/bin/hello\n";
    let top = layer(&[
        E::Dir("etc/"),
        E::File("etc/ld.so.cache", b"a maintainer script's"),
        E::Dir("usr/"),
        E::Dir("usr/bin/"),
        E::File("usr/bin/hello", b"hello"),
        E::Dir("var/"),
        E::Dir("var/lib/"),
        E::Dir("var/lib/dpkg/"),
        E::Dir("var/lib/dpkg/info/"),
        E::File("var/lib/dpkg/info/hello.list", list),
        E::File("var/lib/dpkg/status", b"Package: libc6\n\nPackage: hello\n"),
    ]);
    let (path, v) = bundle_on_base(d, "based", &[base.clone(), top.clone()], 1);
    assert_eq!(cerro_export::base_layers(&v).unwrap(), 1);
    let data = deb_data(&deb(d, &path, &v, "based.deb").unwrap());
    assert_eq!(data["usr/bin/hello"].2, b"hello");
    assert!(
        data.contains_key("usr/bin") && data.contains_key("usr"),
        "{:?}",
        data.keys()
    );
    for gone in [
        "usr/lib/libc.so.6",
        "var/lib/dpkg/status",
        "var/lib/dpkg/info/hello.list",
        "etc/ld.so.cache",
    ] {
        assert!(!data.contains_key(gone), "{gone} in {:?}", data.keys());
    }
    // The same image without a recorded base: the whole tree, as before.
    let (plain, pv) = bundle(d, "plain", &[base.clone(), top.clone()]);
    assert_eq!(cerro_export::base_layers(&pv).unwrap(), 0);
    assert!(deb_data(&deb(d, &plain, &pv, "plain.deb").unwrap()).contains_key("usr/lib/libc.so.6"));

    // Refused, nothing written: a whiteout above the base (a package cannot
    // remove a file), no dpkg file list above it, a base of every layer.
    let whiteout = layer(&[
        E::File("usr/lib/.wh.libc.so.6", b""),
        E::File("var/lib/dpkg/info/x.list", list),
    ]);
    let nolist = layer(&[E::Dir("usr/"), E::File("usr/x", b"x")]);
    for (name, layers, n, needle) in [
        ("wh", vec![base.clone(), whiteout], 1, "cannot remove"),
        ("nolist", vec![base.clone(), nolist], 1, "no dpkg file list"),
        ("all", vec![base.clone(), top.clone()], 2, "none is the build's"),
    ] {
        let (path, v) = bundle_on_base(d, name, &layers, n);
        let out = d.join(format!("{name}.deb"));
        let e = export(&v, &path, &Options::new(Format::Rpm, &out)).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Malformed, "{name}: {e}");
        assert!(e.to_string().contains(needle), "{name}: {e}");
        assert!(!out.exists(), "{name}");
    }
}
