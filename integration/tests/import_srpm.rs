//! `ct import fedora:FILE.src.rpm`: RPM source packages built by the test
//! with `rpmbuild -bs` (the reproducibility macros of DEPENDENCIES.md),
//! read as data. Judges: `rpm -qp --qf` gives the same name, epoch,
//! version, release, licence, URL, summary, build dependencies and file
//! digests; `rpm -K` says the digests are OK. Hostile packages — truncated,
//! a payload file whose digest is not the header's, a header path with
//! `..`, a header changed after its digest — are refused with their exit
//! codes and write nothing.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cerro_core::digest::Digest;
use cerro_integration::{ct_status, require, run};
use serde_json::Value;

/// Builds `greet-2:1.0-1.src.rpm` in `top` with rpmbuild; `patch` is the
/// content of `b.patch`. Returns the package's path.
fn build(top: &Path, patch: &str) -> PathBuf {
    build_with(top, patch, &[])
}

/// [`build`] with more `--define`s (such as the payload's compression).
fn build_with(top: &Path, patch: &str, defines: &[&str]) -> PathBuf {
    require("rpmbuild");
    fs::create_dir_all(top.join("SOURCES")).unwrap();
    fs::create_dir_all(top.join("SPECS")).unwrap();
    fs::write(top.join("SOURCES/greet-1.0.tar.gz"), b"not really a tarball\n").unwrap();
    fs::write(top.join("SOURCES/a.patch"), "--- a/x\n+++ b/x\n").unwrap();
    fs::write(top.join("SOURCES/b.patch"), patch).unwrap();
    fs::write(top.join("SOURCES/extra.conf"), "x = 1\n").unwrap();
    // Patch1 is written before Patch0: the order is the numbers', not the lines'.
    fs::write(
        top.join("SPECS/greet.spec"),
        "%global upver 1.0\nName: greet\nEpoch: 2\nVersion: %{upver}\nRelease: 1\nSummary: greets politely\n\
         License: MIT AND BSD-3-Clause\nURL: https://example.org/greet\n\
         Source0: https://example.org/greet/%{name}-%{version}.tar.gz\nSource1: extra.conf\n\
         Patch1: b.patch\nPatch0: a.patch\nBuildRequires: gcc\nBuildRequires: make >= 4.0, pkgconfig(zlib)\n\
         BuildRequires: (python3 or python2)\n\n%description\nGreets.\n\n%prep\n%autosetup\n",
    )
    .unwrap();
    run(Command::new("rpmbuild")
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("-bs")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args([
            "--define",
            "use_source_date_epoch_as_buildtime 1",
            "--define",
            "_buildhost reproducible",
            "--define",
            "clamp_mtime_to_source_date_epoch 1",
        ])
        .args(defines.iter().flat_map(|d| ["--define", d]))
        .arg(top.join("SPECS/greet.spec")));
    top.join("SRPMS/greet-1.0-1.src.rpm")
}

fn rpm_q(srpm: &Path, qf: &str) -> String {
    require("rpm");
    String::from_utf8(run(Command::new("rpm").args(["-qp", "--qf", qf]).arg(srpm)).stdout).unwrap()
}

fn import(home: &Path, srpm: &Path, out: &Path) -> (i32, String) {
    ct_status(
        home,
        &[
            "import",
            &format!("fedora:{}", srpm.display()),
            "-o",
            out.to_str().unwrap(),
        ],
    )
}

/// Where the payload starts: after the lead, the signature header (padded
/// to 8) and the header.
fn payload_offset(b: &[u8]) -> usize {
    let size = |at: usize| {
        let n = u32::from_be_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        let h = u32::from_be_bytes(b[at + 12..at + 16].try_into().unwrap()) as usize;
        16 + n * 16 + h
    };
    let header = (96 + size(96)).next_multiple_of(8);
    header + size(header)
}

/// Refused with `code`, naming each of `needles`, writing nothing.
fn refused(home: &Path, srpm: &Path, code: i32, needles: &[&str]) {
    let out = srpm.with_extension("toml");
    let (got, text) = import(home, srpm, &out);
    assert_eq!(got, code, "{}: {text}", srpm.display());
    for n in needles {
        assert!(text.contains(n), "{n:?} not in: {text}");
    }
    assert!(!out.exists(), "a refused import wrote {}", out.display());
}

/// `bytes` with the first occurrence of `from` inside `range` replaced by `to` (same length).
fn replace_in(bytes: &[u8], range: std::ops::Range<usize>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = bytes[range.clone()]
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not in the range", String::from_utf8_lossy(from)))
        + range.start;
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

#[test]
fn a_source_package_built_by_rpmbuild_is_read_as_rpm_reads_it() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let srpm = build(&d.path().join("top"), "--- a/y\n+++ b/y\n");
    let k = run(Command::new("rpm").arg("-K").arg(&srpm));
    assert!(String::from_utf8_lossy(&k.stdout).contains("digests OK"), "rpm -K");

    let out = d.path().join("greet.toml");
    let (code, text) = import(home.path(), &srpm, &out);
    assert_eq!(code, 0, "{text}");
    let manifest = fs::read_to_string(&out).unwrap();
    let ev: Value = serde_json::from_slice(&fs::read(d.path().join("greet.evidence.json")).unwrap()).unwrap();

    // rpm's view of the header.
    let q = rpm_q(
        &srpm,
        "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{LICENSE}|%{URL}|%{SUMMARY}",
    );
    let f: Vec<&str> = q.split('|').collect();
    let src = |n: &str| Digest::of(&fs::read(d.path().join("top/SOURCES").join(n)).unwrap());
    assert_eq!(
        manifest,
        format!(
            "[package]\nname = \"{}\"\nversion = \"{}:{}-{}\"\nsummary = \"{}\"\nlicense = \"{}\"\nhomepage = \"{}\"\n\n\
             [provenance]\nupstream = \"https://example.org/greet/greet-1.0.tar.gz\"\nupstream_hash = \"{}\"\n\
             imported_from = \"fedora:greet-1.0-1.src.rpm\"\nimported_from_hash = \"{}\"\n\n\
             [[provenance.patches]]\nname = \"a.patch\"\ndigest = \"{}\"\n\n\
             [[provenance.patches]]\nname = \"b.patch\"\ndigest = \"{}\"\n\n[build]\nsystem = \"rpm\"\n",
            f[0],
            f[1],
            f[2],
            f[3],
            f[6],
            f[4],
            f[5],
            src("greet-1.0.tar.gz"),
            Digest::of(&fs::read(&srpm).unwrap()),
            src("a.patch"),
            src("b.patch"),
        )
    );
    // The build dependencies as rpm prints them (rpmlib() ones are rpm's own).
    let reqs: Vec<String> = rpm_q(&srpm, "[%{REQUIRENAME} %{REQUIREFLAGS:depflags} %{REQUIREVERSION}\\n]")
        .lines()
        .filter(|l| !l.starts_with("rpmlib("))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(ev["fields"]["BuildRequires"], serde_json::json!(reqs));
    assert_eq!(reqs.len(), 4, "{reqs:?}");
    // Every file with rpm's digest and size.
    let mut files: Vec<(String, String, u64)> = rpm_q(&srpm, "[%{FILENAMES} %{FILEDIGESTS} %{FILESIZES}\\n]")
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].to_owned(), format!("sha256:{}", w[1]), w[2].parse().unwrap())
        })
        .collect();
    files.sort();
    let mut ours: Vec<(String, String, u64)> = ev["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["sha256"].as_str().unwrap().to_owned(),
                f["size"].as_u64().unwrap(),
            )
        })
        .collect();
    ours.sort();
    assert_eq!(ours, files);
    assert_eq!(ours.len(), 5);
    let roles: Vec<(&str, &str)> = ev["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["role"].as_str().unwrap()))
        .collect();
    for want in [
        ("greet-1.0.tar.gz", "upstream"),
        ("extra.conf", "source"),
        ("greet.spec", "spec"),
        ("a.patch", "patch"),
    ] {
        assert!(roles.contains(&want), "{want:?} in {roles:?}");
    }
    assert_eq!(
        ev["recipe"]["checked"],
        serde_json::json!(["header-sha256", "payload-sha256"])
    );

    // The same package with its payload in xz and in zstd (Fedora's): the
    // same files, patches and upstream.
    for (name, define) in [
        ("xz", "_source_payload w6.xzdio"),
        ("zstd", "_source_payload w19.zstdio"),
    ] {
        let p = build_with(&d.path().join(name), "--- a/y\n+++ b/y\n", &[define]);
        assert_eq!(rpm_q(&p, "%{PAYLOADCOMPRESSOR}"), name);
        let o = d.path().join(format!("{name}.toml"));
        let (code, text) = import(home.path(), &p, &o);
        assert_eq!(code, 0, "{name}: {text}");
        let m = fs::read_to_string(&o).unwrap();
        let strip = |t: &str| {
            t.lines()
                .filter(|l| !l.starts_with("imported_from_hash"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&m), strip(&manifest), "{name}");
    }

    // The same package again: the same bytes.
    let again = d.path().join("again.toml");
    assert_eq!(import(home.path(), &srpm, &again).0, 0);
    assert_eq!(fs::read(&again).unwrap(), manifest.as_bytes());
    assert_eq!(
        fs::read(d.path().join("again.evidence.json")).unwrap(),
        fs::read(d.path().join("greet.evidence.json")).unwrap()
    );
}

#[test]
fn hostile_source_packages_are_refused_and_nothing_is_written() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let good = fs::read(build(&d.path().join("a"), "--- a/y\n+++ b/y\n")).unwrap();
    // The same package with another b.patch of the same size.
    let other = fs::read(build(&d.path().join("b"), "--- a/z\n+++ b/z\n")).unwrap();
    let off = payload_offset(&good);
    assert_eq!(off, payload_offset(&other), "same-sized headers");
    let case = |name: &str, bytes: &[u8]| {
        let p = d.path().join(format!("{name}.src.rpm"));
        fs::write(&p, bytes).unwrap();
        p
    };

    // Truncated: in the lead, in a header, in the payload.
    for (i, cut) in [50, 200, off - 10].into_iter().enumerate() {
        let p = case(&format!("cut{i}"), &good[..cut]);
        refused(home.path(), &p, 10, &["truncated"]);
    }
    let p = case("cut-payload", &good[..good.len() - 40]);
    refused(home.path(), &p, 10, &["payload"]);

    // A payload file whose digest is not the header's: this header, the other payload.
    let mut spliced = good[..off].to_vec();
    spliced.extend_from_slice(&other[off..]);
    let p = case("spliced", &spliced);
    refused(home.path(), &p, 1, &["payload: b.patch", "sha256"]);
    // rpm agrees that something is wrong with it.
    let k = Command::new("rpm").arg("-K").arg(&p).output().unwrap();
    assert!(!k.status.success(), "rpm -K accepts the spliced package");

    // A header path with '..' (same length, so the header still parses).
    let p = case(
        "dotdot",
        &replace_in(&good, 96..off, b"\0greet.spec\0", b"\0../et.spec\0"),
    );
    refused(home.path(), &p, 10, &["files", "'..'"]);
    // A header index entry pointing past the header's data (the rpm crate
    // would slice past its end and panic): refused before it parses.
    let header = (96 + {
        let n = u32::from_be_bytes(good[104..108].try_into().unwrap()) as usize;
        let h = u32::from_be_bytes(good[108..112].try_into().unwrap()) as usize;
        16 + n * 16 + h
    })
    .next_multiple_of(8);
    for (name, entry) in [("sig-offset", 96 + 16), ("hdr-offset", header + 16)] {
        let mut b = good.clone();
        b[entry + 8..entry + 12].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
        let p = case(name, &b);
        refused(home.path(), &p, 10, &["entry 0", "do not fit"]);
    }
    // A header changed after its digest was taken.
    let p = case(
        "summary",
        &replace_in(&good, 96..off, b"greets politely", b"greets rudely!!"),
    );
    refused(home.path(), &p, 1, &["the header", "sha256"]);
    // A payload changed after its digest was taken (the last byte: gzip's trailer, which
    // the cpio reader stops before): the header's payload digest catches it.
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    let p = case("flipped", &flipped);
    refused(home.path(), &p, 1, &["header: the payload has sha256"]);
    // A binary package is not a source package.
    let mut binary = good.clone();
    binary[7] = 0;
    let p = case("binary", &binary);
    refused(home.path(), &p, 10, &["not a source package"]);
}
