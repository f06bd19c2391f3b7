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
