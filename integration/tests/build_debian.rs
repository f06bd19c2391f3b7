//! `ct build` of Debian source packages for real (spec/build.md): bookworm's
//! `hello` 2.10-3 (fetched by scripts/debian-source) built twice in the
//! cached clean root — byte-identical layers, the same image digest — the
//! image unpacked by umoci and its `hello` run, then `ct pack` (which signs
//! the build's provenance, not the generic one) and `ct verify`. Refusals: a
//! tampered source before anything runs; a package whose build needs the
//! network fails in its build step, the log kept.
//!
//! The first run prepares the root (debootstrap, ≈2 min) in
//! `~/.cache/cerro-torre/build-roots`; later runs reuse it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use base64::Engine as _;
use cerro_core::digest::Digest;
use cerro_integration::{ct, ct_status, debian_mirror, is_root, require, run, statement_in, umoci};
use serde_json::Value;

/// hello's sources (a .dsc and its files) copied into `dir`, or None (with
/// the reason printed) when they cannot be had or this is not root.
fn hello_sources(dir: &Path) -> Option<PathBuf> {
    if !is_root() {
        eprintln!("SKIPPED: ct build needs root (debootstrap, unshare, chroot)");
        return None;
    }
    for tool in ["debootstrap", "unshare", "dpkg-deb", "dpkg-source"] {
        require(tool);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/debian-source");
    let got = Command::new(&script).arg("hello").output().unwrap();
    match got.status.code() {
        Some(0) => {}
        Some(2) => {
            eprintln!(
                "SKIPPED: Debian's hello source cannot be had here: {}",
                String::from_utf8_lossy(&got.stderr).trim()
            );
            return None;
        }
        _ => panic!(
            "scripts/debian-source hello failed: {}",
            String::from_utf8_lossy(&got.stderr)
        ),
    }
    let dsc = PathBuf::from(String::from_utf8_lossy(&got.stdout).trim());
    fs::create_dir_all(dir).unwrap();
    for e in fs::read_dir(dsc.parent().unwrap()).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    Some(dir.join(dsc.file_name().unwrap()))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

/// The layout's image for `tag`: (manifest digest, every blob's bytes by name).
fn layout(dir: &Path) -> (String, Vec<(String, Vec<u8>)>) {
    let index = json(&dir.join("index.json"));
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let mut blobs: Vec<(String, Vec<u8>)> = fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    blobs.sort();
    (digest, blobs)
}

#[test]
fn hello_is_built_twice_identically_runs_and_is_packed_with_its_provenance() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let Some(dsc) = hello_sources(&d.join("src")) else {
        return;
    };
    let home = d.join("home");
    let manifest = d.join("hello.toml");
    run(ct(&home).args(["import", &s(&dsc), "-o", &s(&manifest)]));
    let m: toml_like::Manifest = toml_like::read(&manifest);

    let build = |out: &str| {
        let t = Instant::now();
        let (code, text) = ct_status(
            &home,
            &[
                "build",
                &s(&manifest),
                "--sources",
                &s(&d.join("src")),
                "-o",
                &format!("oci:{}:2.10-3", s(&d.join(out))),
            ],
        );
        assert_eq!(code, 0, "{text}");
        eprintln!("ct build into {out}: {:.1} s", t.elapsed().as_secs_f64());
        text
    };
    let first = build("a");
    assert!(first.contains("built hello 2.10-3"), "{first}");
    build("b");

    // Reproducible: the same blobs, byte for byte, so the same image digest.
    let (da, blobs_a) = layout(&d.join("a"));
    let (db, blobs_b) = layout(&d.join("b"));
    assert_eq!(da, db, "two builds gave two image digests");
    assert_eq!(blobs_a.len(), 3, "one layer, one config, one manifest");
    assert!(blobs_a == blobs_b, "two builds gave different blobs");

    // The config: created at SOURCE_DATE_EPOCH (hello's changelog), the build's platform.
    let img_manifest = json(&d.join("a/blobs/sha256").join(da.trim_start_matches("sha256:")));
    let config_digest = img_manifest["config"]["digest"].as_str().unwrap();
    let config = json(
        &d.join("a/blobs/sha256")
            .join(config_digest.trim_start_matches("sha256:")),
    );
    assert_eq!(config["created"], "2022-12-26T15:30:00Z", "{config}");
    let arch = run(Command::new("dpkg").arg("--print-architecture")).stdout;
    if String::from_utf8_lossy(&arch).trim() == "amd64" {
        assert_eq!(config["architecture"], "amd64");
    }

    // The layer: hello's files, owned by root, mtimes clamped; umoci
    // unpacks it and the binary runs (the host's libc: the layer holds the
    // built packages only).
    let layer_digest = img_manifest["layers"][0]["digest"].as_str().unwrap();
    let layer = fs::read(
        d.join("a/blobs/sha256")
            .join(layer_digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(layer.as_slice()).entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        assert!(h.mtime().unwrap() <= 1672068600);
        names.push(e.path().unwrap().display().to_string());
    }
    // Sorted by path (a directory's name without its `/`: a parent first).
    let mut sorted = names.clone();
    sorted.sort_by(|a, b| a.trim_end_matches('/').cmp(b.trim_end_matches('/')));
    assert_eq!(names, sorted, "layer entries are sorted");
    assert!(names.iter().any(|n| n == "usr/bin/hello"), "{names:?}");
    run(&mut umoci(&[
        "unpack",
        "--image",
        &format!("{}:2.10-3", s(&d.join("a"))),
        &s(&d.join("bundle")),
    ]));
    let out = run(Command::new(d.join("bundle/rootfs/usr/bin/hello")).env("LANG", "C"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, world!\n");

    // The provenance: every source by digest, the buildinfo, the outputs.
    let pfile = d
        .join("a/cerro-build")
        .join(format!("sha256-{}.provenance.json", da.trim_start_matches("sha256:")));
    let p = json(&pfile);
    assert_eq!(
        p["buildDefinition"]["buildType"],
        "https://cerro-torre.org/buildtypes/ct-build-debian/v1"
    );
    let deps = p["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
    let dep = |name: &str| {
        deps.iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {deps:?}"))["digest"]["sha256"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(format!("sha256:{}", dep("hello_2.10-3.dsc")), m.imported_from_hash);
    assert_eq!(format!("sha256:{}", dep("hello_2.10.orig.tar.gz")), m.upstream_hash);
    dep("hello_2.10-3.debian.tar.xz");
    assert_eq!(
        p["buildDefinition"]["internalParameters"]["sourceDateEpoch"],
        1672068600
    );
    let by = p["runDetails"]["byproducts"].as_array().unwrap();
    let image = by.iter().find(|b| b["annotations"]["role"] == "image").unwrap();
    assert_eq!(format!("sha256:{}", image["digest"]["sha256"].as_str().unwrap()), da);
    let mut debs: Vec<&str> = by
        .iter()
        .filter(|b| b["annotations"]["role"] == "package")
        .map(|b| {
            assert_eq!(b["digest"]["sha256"].as_str().unwrap().len(), 64, "{b}");
            b["name"].as_str().unwrap()
        })
        .collect();
    debs.sort();
    let a = String::from_utf8_lossy(&arch).trim().to_owned();
    assert_eq!(
        debs,
        [format!("hello-dbgsym_2.10-3_{a}.deb"), format!("hello_2.10-3_{a}.deb")]
    );
    let info = by.iter().find(|b| b["annotations"]["role"] == "buildinfo").unwrap();
    let text = base64::engine::general_purpose::STANDARD
        .decode(info["content"].as_str().unwrap())
        .unwrap();
    assert_eq!(Digest::of(&text).hex(), info["digest"]["sha256"].as_str().unwrap());
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("Source: hello") && text.contains("Installed-Build-Depends:"),
        "{text}"
    );

    // ct pack signs the build's provenance; ct verify accepts the bundle.
    run(ct(&home).args(["keygen", "--id", "builder"]));
    let bundle = d.join("hello.ctp");
    run(ct(&home).args([
        "pack",
        &format!("oci:{}:2.10-3", s(&d.join("a"))),
        "--manifest",
        &s(&manifest),
        "--key",
        "builder",
        "-o",
        &s(&bundle),
    ]));
    let (code, out) = ct_status(&home, &["verify", &s(&bundle)]);
    assert_eq!(code, 0, "{out}");
    let st = statement_in(&bundle, "attestations/provenance.dsse.json");
    assert_eq!(st["predicate"], p, "the bundle carries the build's provenance");
    assert_eq!(st["subject"][0]["digest"]["sha256"], da.trim_start_matches("sha256:"));

    // Any party rebuilds it (ct rebuild --sources: ct build from the signed
    // manifest and the sources) and vouches with a rebuild attestation; a
    // policy asking for one rebuilder is refused before and met after.
    run(ct(&home).args(["keygen", "--id", "rebuilder"]));
    let policy = d.join("rebuilt.json");
    fs::write(
        &policy,
        r#"{"version":"1","default_action":"allow","require_attestations":{"rebuilt_by":{"threshold":1,"signers":[{"key_id":"rebuilder"}]}}}"#,
    )
    .unwrap();
    let (code, out) = ct_status(&home, &["verify", &s(&bundle), "--policy", &s(&policy)]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("rebuilt_by"), "{out}");
    let t = Instant::now();
    let (code, out) = ct_status(
        &home,
        &[
            "rebuild",
            &s(&bundle),
            "--sources",
            &s(&d.join("src")),
            "--key",
            "rebuilder",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("match"), "{out}");
    eprintln!("ct rebuild --sources: {:.1} s", t.elapsed().as_secs_f64());
    let (code, out) = ct_status(&home, &["verify", &s(&bundle), "--policy", &s(&policy)]);
    assert_eq!(code, 0, "{out}");
    // Sources that are not the ones the signed manifest names: the build
    // refuses before anything runs, and nothing is signed.
    let bad = d.join("bad-src");
    fs::create_dir_all(&bad).unwrap();
    for e in fs::read_dir(d.join("src")).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, bad.join(p.file_name().unwrap())).unwrap();
    }
    let orig = bad.join("hello_2.10.orig.tar.gz");
    let mut bytes = fs::read(&orig).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&orig, bytes).unwrap();
    let before = fs::read(&bundle).unwrap();
    let (code, out) = ct_status(
        &home,
        &["rebuild", &s(&bundle), "--sources", &s(&bad), "--key", "rebuilder"],
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        fs::read(&bundle).unwrap(),
        before,
        "a refused rebuild changed the bundle"
    );

    // A provenance file about another image is refused, not signed.
    let other = d
        .join("b/cerro-build")
        .join(format!("sha256-{}.provenance.json", db.trim_start_matches("sha256:")));
    let mut forged = p.clone();
    forged["runDetails"]["byproducts"][0]["digest"]["sha256"] = Value::String("ab".repeat(32));
    fs::write(&other, serde_json::to_vec(&forged).unwrap()).unwrap();
    let (code, out) = ct_status(
        &home,
        &[
            "pack",
            &format!("oci:{}:2.10-3", s(&d.join("b"))),
            "--key",
            "builder",
            "-o",
            &s(&d.join("b.ctp")),
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the image ct build recorded"), "{out}");
    assert!(!d.join("b.ctp").exists());
}

#[test]
fn a_tampered_source_is_refused_before_anything_runs() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let Some(dsc) = hello_sources(&d.join("src")) else {
        return;
    };
    let home = d.join("home");
    let manifest = d.join("hello.toml");
    run(ct(&home).args(["import", &s(&dsc), "-o", &s(&manifest)]));
    let target = format!("oci:{}:t", s(&d.join("img")));
    let build = || {
        ct_status(
            &home,
            &["build", &s(&manifest), "-o", &target, "--sources", &s(&d.join("src"))],
        )
    };

    // One byte of the orig tarball changed: the .dsc's digest for it differs.
    let orig = d.join("src/hello_2.10.orig.tar.gz");
    let good = fs::read(&orig).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    fs::write(&orig, &bad).unwrap();
    let (code, out) = build();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("hello_2.10.orig.tar.gz"), "{out}");
    assert!(!d.join("img").exists());
    fs::write(&orig, &good).unwrap();

    // The .dsc itself changed (a field added): not the one the manifest names.
    let text = fs::read_to_string(&dsc).unwrap();
    fs::write(&dsc, text.replacen("Source: hello\n", "Source: hello\nX-Note: x\n", 1)).unwrap();
    let (code, out) = build();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("imported_from_hash"), "{out}");

    // A missing file: exit 11, naming it.
    fs::write(&dsc, text).unwrap();
    fs::remove_file(d.join("src/hello_2.10-3.debian.tar.xz")).unwrap();
    let (code, out) = build();
    assert_eq!(code, 11, "{out}");
    assert!(out.contains("hello_2.10-3.debian.tar.xz"), "{out}");
    assert!(!d.join("img").exists());
}

/// A native source package whose build connects to `addr` (the mirror's
/// address, resolved on the host); it shares hello's Build-Depends, so hello's
/// cached root serves it.
fn netprobe(dir: &Path, addr: &str) -> PathBuf {
    let src = dir.join("netprobe-1.0");
    let deb = src.join("debian");
    fs::create_dir_all(deb.join("source")).unwrap();
    fs::write(deb.join("source/format"), "3.0 (native)\n").unwrap();
    fs::write(
        deb.join("control"),
        "Source: netprobe\nSection: misc\nPriority: optional\nMaintainer: Test <test@example.org>\n\
         Build-Depends: debhelper-compat (= 13), help2man, texinfo\nStandards-Version: 4.6.2\nHomepage: https://example.org/netprobe\n\n\
         Package: netprobe\nArchitecture: all\nDescription: needs the network to build\n Connects out.\n",
    )
    .unwrap();
    fs::write(
        deb.join("changelog"),
        "netprobe (1.0) unstable; urgency=medium\n\n  * Initial.\n\n -- Test <test@example.org>  Sat, 05 Dec 2026 00:00:00 +0000\n",
    )
    .unwrap();
    fs::write(
        deb.join("rules"),
        format!(
            "#!/usr/bin/make -f\n%:\n\tdh $@\noverride_dh_auto_build:\n\tperl -MIO::Socket::INET -e 'IO::Socket::INET->new(PeerAddr => \"{addr}\", Timeout => 10) or die \"netprobe: no network: $$@\\n\"; print \"netprobe: network reached\\n\"'\n"
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("+x").arg(deb.join("rules")));
    run(Command::new("dpkg-source")
        .args(["-b", "netprobe-1.0"])
        .current_dir(dir));
    dir.join("netprobe_1.0.dsc")
}

#[test]
fn a_build_that_needs_the_network_fails_in_its_build_step() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    // hello's sources are not used: this asks for the same conditions.
    if hello_sources(&d.join("hello")).is_none() {
        return;
    }
    let host = debian_mirror();
    let host = host.split("://").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let host = if host.contains(':') { host } else { format!("{host}:80") };
    use std::net::ToSocketAddrs as _;
    let addr = host.to_socket_addrs().unwrap().find(|a| a.is_ipv4()).unwrap();
    // The host reaches it (so what stops the build is the namespace).
    let reached = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(10)).is_ok();
    assert!(
        reached,
        "the mirror {addr} is not reachable from the host, yet debootstrap used it"
    );
    let dsc = netprobe(d, &addr.to_string());
    let home = d.join("home");
    let manifest = d.join("netprobe.toml");
    run(ct(&home).args(["import", &s(&dsc), "-o", &s(&manifest)]));
    let (code, out) = ct_status(
        &home,
        &["build", &s(&manifest), "-o", &format!("oci:{}:t", s(&d.join("img")))],
    );
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("build step build failed"), "{out}");
    let log = out.split("log: ").nth(1).unwrap().split_whitespace().next().unwrap();
    let log_text = fs::read_to_string(log).unwrap();
    // (make echoes the command, which holds both messages: compare whole lines.)
    assert!(
        log_text.lines().any(|l| l.starts_with("netprobe: no network")),
        "{log_text}"
    );
    assert!(
        !log_text.lines().any(|l| l == "netprobe: network reached"),
        "{log_text}"
    );
    assert!(!d.join("img").exists());
    // The kept working directory (the log's) is this test's to remove.
    let _ = fs::remove_dir_all(Path::new(log).parent().unwrap());
}

/// A minimal Debian base image as an OCI layout (`oci:DIR:bookworm`):
/// `debootstrap --variant=minbase` of bookworm from this machine's mirror,
/// one uncompressed layer (GNU tar, sorted, numeric owners, `dev`, `proc`
/// and `sys` empty), written with core's layout writer. Made once and
/// cached beside the build roots (`build-roots/base-KEY/layout`, KEY
/// naming the variant, suite, mirror and architecture, as the roots are
/// keyed), renamed into place only when complete; tests only read it.
fn minbase_layout() -> PathBuf {
    use cerro_core::image::layout::LayoutBuilder;
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
        .join("cerro-torre/build-roots");
    let mirror = debian_mirror();
    let arch = String::from_utf8(run(Command::new("dpkg").arg("--print-architecture")).stdout).unwrap();
    let about = format!(
        "variant: minbase\nsuite: bookworm\nmirror: {mirror}\narchitecture: {}\n",
        arch.trim()
    );
    let key = &Digest::of(about.as_bytes()).hex()[..32];
    let dir = cache.join(format!("base-{key}"));
    let layout = dir.join("layout");
    if layout.join("index.json").exists() {
        return layout;
    }
    fs::create_dir_all(&cache).unwrap();
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-base-")
        .tempdir_in(&cache)
        .unwrap();
    let root = tmp.path().join("root");
    let t = Instant::now();
    run(Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--arch={}", arch.trim()), "bookworm"])
        .arg(&root)
        .arg(&mirror));
    let tar = tmp.path().join("layer.tar");
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--numeric-owner",
            "--mtime=@1672068600",
            "--format=gnu",
            "--exclude=./dev/*",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
            "-C",
        ])
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    let mut b = LayoutBuilder::new(&tmp.path().join("layout")).unwrap();
    b.layer_from_tar(&tar).unwrap();
    b.finish(
        serde_json::json!({
            "architecture": cerro_core::image::host_architecture(),
            "os": "linux",
            "created": "2022-12-26T15:30:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/bash"]},
            "history": [{"created": "2022-12-26T15:30:00Z", "created_by": "debootstrap --variant=minbase bookworm"}],
        }),
        Some("bookworm"),
    )
    .unwrap();
    fs::remove_dir_all(&root).unwrap();
    fs::remove_file(&tar).unwrap();
    fs::write(tmp.path().join("key"), about).unwrap();
    if fs::rename(tmp.path(), &dir).is_ok() {
        let _ = tmp.keep();
    }
    eprintln!("minbase layout made in {:.1} s", t.elapsed().as_secs_f64());
    layout
}

/// A one-layer layout `dir:t` of `files` (raw tar names, so `..` can be
/// written) with the config's architecture `arch`.
fn small_layout(dir: &Path, arch: &str, files: &[(&str, &[u8])]) -> String {
    use cerro_core::image::layout::LayoutBuilder;
    let mut w = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        h.set_cksum();
        w.append(&h, *data).unwrap();
    }
    let bytes = w.into_inner().unwrap();
    let mut b = LayoutBuilder::new(dir).unwrap();
    b.layer_raw(&bytes, cerro_core::image::MT_OCI_LAYER_TAR, Digest::of(&bytes))
        .unwrap();
    b.finish(serde_json::json!({"architecture": arch, "os": "linux"}), Some("t"))
        .unwrap();
    format!("oci:{}:t", s(dir))
}

#[test]
fn hello_built_on_a_minimal_base_runs_in_its_own_image_and_is_rebuilt_on_the_recorded_base() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let Some(dsc) = hello_sources(&d.join("src")) else {
        return;
    };
    for tool in ["runc", "umoci", "skopeo", "tar"] {
        require(tool);
    }
    let base = minbase_layout();
    let base_ref = format!("oci:{}:bookworm", s(&base));
    let home = d.join("home");
    let manifest = d.join("hello.toml");
    run(ct(&home).args(["import", &s(&dsc), "-o", &s(&manifest)]));
    let build = |base: &str, out: &str| {
        ct_status(
            &home,
            &[
                "build",
                &s(&manifest),
                "--sources",
                &s(&d.join("src")),
                "-o",
                &format!("oci:{}:2.10-3", s(&d.join(out))),
                "--base",
                base,
            ],
        )
    };

    // Bases refused before anything runs, nothing written: another
    // architecture, a layer climbing out with `..`, no dpkg database, a
    // layer blob that is not its digest.
    let host = cerro_core::image::host_architecture();
    let other = if host == "s390x" { "amd64" } else { "s390x" };
    let status: &[u8] = b"Package: x\n";
    let cases = [
        (
            small_layout(&d.join("arch"), other, &[("var/lib/dpkg/status", status)]),
            10,
            "s390x",
        ),
        (
            small_layout(&d.join("dots"), host, &[("../escape", b"x")]),
            10,
            "\"..\"",
        ),
        (
            small_layout(&d.join("nodpkg"), host, &[("etc/hostname", b"x")]),
            10,
            "no dpkg database",
        ),
    ];
    for (spec, code, needle) in &cases {
        let (got, out) = build(spec, "refused");
        assert_eq!(got, *code, "{spec}: {out}");
        assert!(
            out.contains(needle) || (*needle == "s390x" && out.contains(other)),
            "{out}"
        );
        assert!(!d.join("refused").exists(), "{spec}");
    }
    assert!(!d.join("escape").exists());
    let tampered = small_layout(&d.join("tampered"), host, &[("var/lib/dpkg/status", status)]);
    let idx: Value = json(&d.join("tampered/index.json"));
    let m = json(
        &d.join("tampered/blobs/sha256").join(
            idx["manifests"][0]["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:"),
        ),
    );
    let layer = d
        .join("tampered/blobs/sha256")
        .join(m["layers"][0]["digest"].as_str().unwrap().trim_start_matches("sha256:"));
    let mut bytes = fs::read(&layer).unwrap();
    bytes[600] ^= 1;
    fs::write(&layer, bytes).unwrap();
    let (got, out) = build(&tampered, "refused");
    assert_eq!(got, 1, "{out}");
    assert!(out.contains("digest mismatch"), "{out}");
    assert!(!d.join("refused").exists());

    // The build on the base: the base's layers, then one more.
    let t = Instant::now();
    let (code, out) = build(&base_ref, "img");
    assert_eq!(code, 0, "{out}");
    eprintln!("ct build --base: {:.1} s", t.elapsed().as_secs_f64());
    let (digest, _) = layout(&d.join("img"));
    let blob = |dg: &str| d.join("img/blobs/sha256").join(dg.trim_start_matches("sha256:"));
    let img = json(&blob(&digest));
    let base_index = json(&base.join("index.json"));
    let base_digest = base_index["manifests"][0]["digest"].as_str().unwrap();
    let base_manifest = json(
        &base
            .join("blobs/sha256")
            .join(base_digest.trim_start_matches("sha256:")),
    );
    let layers = img["layers"].as_array().unwrap();
    assert_eq!(layers.len(), base_manifest["layers"].as_array().unwrap().len() + 1);
    assert_eq!(
        layers[0], base_manifest["layers"][0],
        "the base's layer is carried unchanged"
    );
    assert_eq!(img["annotations"]["org.opencontainers.image.base.digest"], base_digest);
    assert_eq!(img["annotations"]["org.opencontainers.image.base.name"], "bookworm");
    let config = json(&blob(img["config"]["digest"].as_str().unwrap()));
    assert_eq!(config["created"], "2022-12-26T15:30:00Z");
    assert_eq!(
        config["config"]["Cmd"][0], "/bin/bash",
        "the base's config is inherited"
    );
    let inspect = run(Command::new("skopeo").args(["inspect", &format!("oci:{}:2.10-3", s(&d.join("img")))]));
    let inspect: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), layers.len(), "{inspect}");

    // The new layer is the install's difference: hello's files and dpkg's
    // record of them, every mtime SOURCE_DATE_EPOCH, nothing of the base.
    let top = fs::read(blob(layers[1]["digest"].as_str().unwrap())).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(top.as_slice()).entries().unwrap() {
        let e = e.unwrap();
        assert_eq!(e.header().mtime().unwrap(), 1672068600);
        names.push(e.path().unwrap().display().to_string());
    }
    for want in ["usr/bin/hello", "var/lib/dpkg/status", "var/lib/dpkg/info/hello.list"] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    for unwanted in ["var/log/dpkg.log", "var/lib/dpkg/status-old", "usr/sbin/policy-rc.d"] {
        assert!(!names.iter().any(|n| n == unwanted), "{unwanted} in {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.contains("libc.so") || n.contains(".wh.")),
        "{names:?}"
    );

    // It runs in its own image, on the image's own libc: runc on umoci's bundle.
    run(&mut umoci(&[
        "unpack",
        "--image",
        &format!("{}:2.10-3", s(&d.join("img"))),
        &s(&d.join("bundle")),
    ]));
    let cfg_path = d.join("bundle/config.json");
    let mut spec: Value = json(&cfg_path);
    spec["process"]["args"] = serde_json::json!(["/usr/bin/hello"]);
    spec["process"]["terminal"] = Value::Bool(false);
    fs::write(&cfg_path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let id = format!("ct-build-base-{}", std::process::id());
    let out = run(Command::new("runc")
        .args(["run", "--bundle"])
        .arg(d.join("bundle"))
        .arg(&id));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, world!\n");
    let out = run(Command::new("dpkg")
        .arg(format!("--root={}", s(&d.join("bundle/rootfs"))))
        .args(["-s", "hello"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Status: install ok installed"));

    // The provenance records the base (what ct rebuild and ct export read).
    let p = json(&d.join("img/cerro-build").join(format!(
        "sha256-{}.provenance.json",
        digest.trim_start_matches("sha256:")
    )));
    let deps = p["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
    let b = deps.iter().find(|x| x["annotations"]["role"] == "base").unwrap();
    assert_eq!(
        format!("sha256:{}", b["digest"]["sha256"].as_str().unwrap()),
        base_digest
    );
    assert_eq!(
        (b["name"].as_str().unwrap(), b["annotations"]["layers"].as_u64()),
        ("oci:bookworm", Some(1))
    );
    assert_eq!(
        p["buildDefinition"]["internalParameters"]["install"]["packages"],
        serde_json::json!([format!(
            "hello_2.10-3_{}.deb",
            String::from_utf8_lossy(&run(Command::new("dpkg").arg("--print-architecture")).stdout).trim()
        )])
    );

    // Packed and exported as a .deb: the build's files only, not the base's
    // operating system nor dpkg's record of the install.
    run(ct(&home).args(["keygen", "--id", "builder"]));
    let bundle = d.join("hello.ctp");
    run(ct(&home).args([
        "pack",
        &format!("oci:{}:2.10-3", s(&d.join("img"))),
        "--manifest",
        &s(&manifest),
        "--key",
        "builder",
        "-o",
        &s(&bundle),
    ]));
    let deb = d.join("hello.deb");
    run(ct(&home).args(["export", &s(&bundle), "--format", "deb", "-o", &s(&deb)]));
    let listing = String::from_utf8(run(Command::new("dpkg-deb").arg("-c").arg(&deb)).stdout).unwrap();
    assert!(listing.lines().any(|l| l.ends_with(" usr/bin/hello")), "{listing}");
    for unwanted in ["var/lib/dpkg", "libc.so", "bin/bash"] {
        assert!(!listing.contains(unwanted), "{unwanted} in\n{listing}");
    }

    // ct rebuild --sources builds it again, on the recorded base only: no
    // --base, or another image as the base, is refused before building
    // (nothing signed); the recorded base gives the same config and layers
    // (a second build, byte for byte the first).
    run(ct(&home).args(["keygen", "--id", "rebuilder"]));
    let before = fs::read(&bundle).unwrap();
    let rebuild = |extra: &[&str]| {
        let mut args = vec!["rebuild", bundle.to_str().unwrap(), "--sources"];
        let src = s(&d.join("src"));
        args.push(&src);
        args.extend(["--key", "rebuilder"]);
        args.extend(extra);
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ct_status(&home, &args)
    };
    let (code, out) = rebuild(&[]);
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("oci:bookworm"), "{out}");
    let wrong = format!("oci:{}:2.10-3", s(&d.join("img")));
    let (code, out) = rebuild(&["--base", &wrong]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(base_digest), "{out}");
    assert_eq!(
        fs::read(&bundle).unwrap(),
        before,
        "a refused rebuild changed the bundle"
    );
    let t = Instant::now();
    let (code, out) = rebuild(&["--base", &base_ref]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("layer 2") && out.contains("matches"), "{out}");
    eprintln!("ct rebuild --sources --base: {:.1} s", t.elapsed().as_secs_f64());
}

/// The two digests of a draft manifest the test compares with the provenance.
mod toml_like {
    use std::path::Path;

    pub struct Manifest {
        pub imported_from_hash: String,
        pub upstream_hash: String,
    }

    pub fn read(p: &Path) -> Manifest {
        let text = std::fs::read_to_string(p).unwrap();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                .unwrap()
                .trim_end_matches('"')
                .to_owned()
        };
        Manifest {
            imported_from_hash: get("imported_from_hash"),
            upstream_hash: get("upstream_hash"),
        }
    }
}
