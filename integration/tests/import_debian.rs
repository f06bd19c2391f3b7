//! `ct import` of Debian source packages, judged by Debian's own tools:
//! a package built offline by `dpkg-source -b` in the test, and (when the
//! mirror can be reached) bookworm's `hello` fetched by `apt-get source`
//! under a private apt configuration (scripts/debian-source). Judges:
//! `dpkg-source -x` extracts the same .dsc and `dpkg-parsechangelog` gives
//! the same name and version; python-debian's `Dsc` reads the same fields;
//! `gpgv` (through `--keyring`) decides signatures. Each hostile recipe is
//! refused with its exit code, naming the field, and writes nothing.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cerro_core::digest::Digest;
use cerro_integration::{ct_status, pyvenv, require, run};
use serde_json::Value;

/// Builds source package `greet 1.0-1` (3.0 (quilt), two patches) in `dir`
/// with `dpkg-source -b`; returns the .dsc's path.
fn build_greet(dir: &Path) -> PathBuf {
    require("dpkg-source");
    let src = dir.join("greet-1.0");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("greet.c"), "int main(){return 0;}\n").unwrap();
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "-czf",
            "greet_1.0.orig.tar.gz",
            "greet-1.0",
        ])
        .current_dir(dir));
    let deb = src.join("debian");
    fs::create_dir_all(deb.join("patches")).unwrap();
    fs::create_dir_all(deb.join("source")).unwrap();
    fs::write(deb.join("source/format"), "3.0 (quilt)\n").unwrap();
    fs::write(
        deb.join("control"),
        "Source: greet\nSection: misc\nPriority: optional\nMaintainer: Test <test@example.org>\n\
         Build-Depends: debhelper-compat (= 13)\nStandards-Version: 4.6.2\nHomepage: https://example.org/greet\n\n\
         Package: greet\nArchitecture: any\nDescription: greets\n Greets.\n",
    )
    .unwrap();
    fs::write(
        deb.join("changelog"),
        "greet (1.0-1) unstable; urgency=medium\n\n  * Initial.\n\n -- Test <test@example.org>  Sat, 05 Dec 2026 00:00:00 +0000\n",
    )
    .unwrap();
    fs::write(
        deb.join("copyright"),
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Source: https://example.org/greet/greet-1.0.tar.gz\n\nFiles: *\nCopyright: 2026 Test\nLicense: MIT\n",
    )
    .unwrap();
    fs::write(
        deb.join("patches/01-exit.patch"),
        "--- a/greet.c\n+++ b/greet.c\n@@ -1 +1 @@\n-int main(){return 0;}\n+int main(){return 1;}\n",
    )
    .unwrap();
    fs::write(
        deb.join("patches/02-two.patch"),
        "--- a/greet.c\n+++ b/greet.c\n@@ -1 +1 @@\n-int main(){return 1;}\n+int main(){return 2;}\n",
    )
    .unwrap();
    // 02 applies only after 01: the series gives the order (with a comment and an option).
    fs::write(
        deb.join("patches/series"),
        "01-exit.patch\n# a comment\n02-two.patch -p1\n",
    )
    .unwrap();
    run(Command::new("dpkg-source").args(["-b", "greet-1.0"]).current_dir(dir));
    dir.join("greet_1.0-1.dsc")
}

fn import(home: &Path, args: &[&str]) -> (i32, String) {
    let mut a = vec!["import"];
    a.extend_from_slice(args);
    ct_status(home, &a)
}

fn evidence(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// The fields as python-debian's `Dsc` reads them (signature stripped).
fn python_debian_fields(dsc: &Path) -> Value {
    let venv = pyvenv();
    let out = run(Command::new(venv.join("bin/python")).arg("-c").arg(
        "import json, sys\nfrom debian.deb822 import Dsc\nwith open(sys.argv[1]) as f:\n    d = Dsc(f)\nprint(json.dumps({k: d.get_as_string(k) for k in d}))\n",
    ).arg(dsc));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A value's words, line by line, empty lines dropped: how two deb822
/// readers' values are compared (one keeps a continuation line's leading
/// space, the other not).
fn words(v: &str) -> Vec<Vec<String>> {
    v.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect()
}

/// python-debian reads the same fields with the same values.
fn judge_python_debian(dsc: &Path, ev: &Value) {
    let py = python_debian_fields(dsc);
    let ours = ev["fields"].as_object().unwrap();
    let theirs = py.as_object().unwrap();
    let mut a: Vec<&String> = ours.keys().collect();
    let mut b: Vec<&String> = theirs.keys().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "field names differ from python-debian's");
    for (k, v) in theirs {
        assert_eq!(
            words(ours[k].as_str().unwrap()),
            words(v.as_str().unwrap()),
            "field {k} differs from python-debian's"
        );
    }
}

/// `dpkg-source -x` extracts the package and its changelog names the same
/// source and version as the draft.
fn judge_dpkg_source(dsc: &Path, scratch: &Path, manifest: &str) {
    let out_dir = scratch.join("x");
    run(Command::new("dpkg-source")
        .args(["--no-check", "-x"])
        .arg(dsc)
        .arg(&out_dir));
    let ch = run(Command::new("dpkg-parsechangelog")
        .arg("-l")
        .arg(out_dir.join("debian/changelog")));
    let ch = String::from_utf8_lossy(&ch.stdout);
    let field = |n: &str| {
        ch.lines()
            .find_map(|l| l.strip_prefix(&format!("{n}: ")))
            .unwrap()
            .to_string()
    };
    assert!(
        manifest.contains(&format!("name = \"{}\"\n", field("Source"))),
        "{manifest}"
    );
    assert!(
        manifest.contains(&format!("version = \"{}\"\n", field("Version"))),
        "{manifest}"
    );
}

#[test]
fn a_source_package_built_offline_is_imported_as_dpkg_and_python_debian_read_it() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let dsc = build_greet(d.path());
    let out = d.path().join("manifest.toml");
    let (code, text) = import(home.path(), &[dsc.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    let manifest = fs::read_to_string(&out).unwrap();
    let orig = Digest::of(&fs::read(d.path().join("greet_1.0.orig.tar.gz")).unwrap());
    let p1 = Digest::of(&fs::read(d.path().join("greet-1.0/debian/patches/01-exit.patch")).unwrap());
    let p2 = Digest::of(&fs::read(d.path().join("greet-1.0/debian/patches/02-two.patch")).unwrap());
    let dsc_digest = Digest::of(&fs::read(&dsc).unwrap());
    let want = format!(
        "[package]\nname = \"greet\"\nversion = \"1.0-1\"\nhomepage = \"https://example.org/greet\"\n\n\
         [provenance]\nupstream = \"https://example.org/greet/greet-1.0.tar.gz\"\nupstream_hash = \"{orig}\"\n\
         imported_from = \"debian:greet_1.0-1.dsc\"\nimported_from_hash = \"{dsc_digest}\"\n\n\
         [[provenance.patches]]\nname = \"01-exit.patch\"\ndigest = \"{p1}\"\n\n\
         [[provenance.patches]]\nname = \"02-two.patch\"\ndigest = \"{p2}\"\n\n[build]\nsystem = \"debian\"\n"
    );
    assert_eq!(manifest, want);
    // ct pack reads it back as a draft (the manifest rules hold).
    let image = cerro_core::manifest::ImageRef {
        digest: orig,
        reference: None,
    };
    cerro_core::manifest::PackageManifest::from_draft(&manifest, image).unwrap();

    let ev = evidence(&d.path().join("manifest.evidence.json"));
    assert_eq!(ev["signature"]["status"], "unsigned");
    let files = ev["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for f in files {
        assert_eq!(f["checked"], serde_json::json!(["size", "sha256", "sha1"]), "{f}");
    }
    judge_python_debian(&dsc, &ev);
    judge_dpkg_source(&dsc, d.path(), &manifest);

    // Deterministic: the same input gives the same bytes.
    let again = d.path().join("again.toml");
    let (code, text) = import(
        home.path(),
        &[&format!("debian:{}", dsc.display()), "-o", again.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(fs::read(&again).unwrap(), manifest.as_bytes());
    assert_eq!(
        fs::read(d.path().join("again.evidence.json")).unwrap(),
        fs::read(d.path().join("manifest.evidence.json")).unwrap()
    );
}

/// A copy of the package directory with the .dsc's text changed by `edit`.
fn tampered(src: &Path, dst: &Path, edit: impl Fn(&str) -> String) -> PathBuf {
    fs::create_dir_all(dst).unwrap();
    for name in ["greet_1.0.orig.tar.gz", "greet_1.0-1.debian.tar.xz"] {
        fs::copy(src.join(name), dst.join(name)).unwrap();
    }
    let dsc = dst.join("greet_1.0-1.dsc");
    fs::write(&dsc, edit(&fs::read_to_string(src.join("greet_1.0-1.dsc")).unwrap())).unwrap();
    dsc
}

/// Runs the import expecting `code`, every needle in the message, and no file written.
fn refused(home: &Path, dsc: &Path, extra: &[&str], code: i32, needles: &[&str]) {
    let out = dsc.with_file_name("out.toml");
    let mut args = vec![dsc.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (got, text) = import(home, &args);
    assert_eq!(got, code, "{text}");
    for n in needles {
        assert!(text.contains(n), "{n:?} not in: {text}");
    }
    assert!(!out.exists(), "{} written by a refused import", out.display());
    assert!(
        !dsc.with_file_name("out.evidence.json").exists(),
        "evidence written by a refused import"
    );
}

#[test]
fn hostile_source_packages_are_refused_naming_the_field_and_nothing_is_written() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let dsc = build_greet(d.path());
    let text = fs::read_to_string(&dsc).unwrap();
    let sha256_of_orig = text
        .lines()
        .find(|l| l.ends_with(" greet_1.0.orig.tar.gz") && l.split_whitespace().next().unwrap().len() == 64)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let size = fs::metadata(d.path().join("greet_1.0.orig.tar.gz"))
        .unwrap()
        .len()
        .to_string();
    let case = |name: &str| d.path().join(name);

    // A path with '..' (every list names it the same, so they agree).
    let t = tampered(d.path(), &case("dotdot"), |s| {
        s.replace(" greet_1.0.orig.tar.gz", " ../greet_1.0.orig.tar.gz")
    });
    refused(home.path(), &t, &[], 10, &["Files", "'..'"]);
    // A path with '/'.
    let t = tampered(d.path(), &case("slash"), |s| {
        s.replace(" greet_1.0.orig.tar.gz", " /tmp/greet_1.0.orig.tar.gz")
    });
    refused(home.path(), &t, &[], 10, &["Files", "'/'"]);
    // A digest of the wrong length, and one that is not hex.
    let t = tampered(d.path(), &case("short"), |s| {
        s.replace(&sha256_of_orig, &sha256_of_orig[1..])
    });
    refused(home.path(), &t, &[], 10, &["Checksums-Sha256", "64 lowercase hex"]);
    let t = tampered(d.path(), &case("nothex"), |s| {
        s.replace(&sha256_of_orig, &format!("{}zz", &sha256_of_orig[2..]))
    });
    refused(home.path(), &t, &[], 10, &["Checksums-Sha256", "64 lowercase hex"]);
    // The lists disagree with each other (one size changed).
    let t = tampered(d.path(), &case("lists"), |s| {
        s.replacen(&format!(" {size} greet_1.0.orig.tar.gz"), " 1 greet_1.0.orig.tar.gz", 1)
    });
    refused(
        home.path(),
        &t,
        &[],
        10,
        &["Checksums-Sha256", "same files with the same sizes"],
    );
    // The file list disagrees with the file: its size (every list), then its digest.
    let t = tampered(d.path(), &case("size"), |s| {
        s.replace(&format!(" {size} greet_1.0.orig.tar.gz"), " 1 greet_1.0.orig.tar.gz")
    });
    refused(
        home.path(),
        &t,
        &[],
        1,
        &["Checksums-Sha256", "greet_1.0.orig.tar.gz is", "the recipe says 1"],
    );
    let t = tampered(d.path(), &case("digest"), |s| s.to_string());
    let mut orig = fs::read(t.with_file_name("greet_1.0.orig.tar.gz")).unwrap();
    let last = orig.len() - 1;
    orig[last] ^= 1;
    fs::write(t.with_file_name("greet_1.0.orig.tar.gz"), orig).unwrap();
    refused(
        home.path(),
        &t,
        &[],
        1,
        &["Checksums-Sha256", "greet_1.0.orig.tar.gz has sha256"],
    );
    // A signature block that does not parse.
    let t = tampered(d.path(), &case("sig"), |s| {
        format!("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{s}\n-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCAAdFiEE\n=AAAA\n-----END PGP SIGNATURE-----\n")
    });
    refused(home.path(), &t, &[], 10, &["signature", "does not"]);
    // Duplicate fields, in two spellings.
    let t = tampered(d.path(), &case("dup"), |s| {
        s.replace("Version: 1.0-1\n", "Version: 1.0-1\nversion: 9.9-9\n")
    });
    refused(home.path(), &t, &[], 10, &["version: given twice"]);
    // A missing file.
    let t = tampered(d.path(), &case("missing"), |s| s.to_string());
    fs::remove_file(t.with_file_name("greet_1.0-1.debian.tar.xz")).unwrap();
    refused(home.path(), &t, &[], 11, &["greet_1.0-1.debian.tar.xz"]);
    // A keyring given, the .dsc unsigned.
    let kr = case("empty.gpg");
    fs::write(&kr, b"").unwrap();
    let t = tampered(d.path(), &case("unsigned"), |s| s.to_string());
    refused(
        home.path(),
        &t,
        &["--keyring", kr.to_str().unwrap()],
        3,
        &["not signed"],
    );
}

/// A throwaway OpenPGP key in `gnupg`, its public keyring exported to `keyring`.
fn gpg_key(gnupg: &Path, uid: &str, keyring: &Path) {
    require("gpg");
    fs::create_dir_all(gnupg).unwrap();
    let gpg = |args: &[&str]| {
        run(Command::new("gpg")
            .env("GNUPGHOME", gnupg)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args))
    };
    gpg(&["--quick-gen-key", uid, "ed25519", "sign", "never"]);
    let out = gpg(&["--export", uid]);
    fs::write(keyring, out.stdout).unwrap();
}

#[test]
fn a_signed_dsc_is_verified_with_the_keyring_given_and_refused_otherwise() {
    require("gpgv");
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let dsc = build_greet(d.path());
    let gnupg = d.path().join("gnupg");
    let keyring = d.path().join("signer.gpg");
    gpg_key(&gnupg, "Signer <signer@example.org>", &keyring);
    let other = d.path().join("other.gpg");
    gpg_key(&d.path().join("gnupg2"), "Other <other@example.org>", &other);
    run(Command::new("gpg")
        .env("GNUPGHOME", &gnupg)
        .args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--clearsign",
            "-o",
        ])
        .arg(dsc.with_extension("signed"))
        .arg(&dsc));
    fs::rename(dsc.with_extension("signed"), &dsc).unwrap();

    // Verified with the signer's keyring; the fingerprint recorded.
    let out = d.path().join("m.toml");
    let (code, text) = import(
        home.path(),
        &[
            dsc.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--keyring",
            keyring.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let ev = evidence(&d.path().join("m.evidence.json"));
    assert_eq!(ev["signature"]["status"], "verified", "{ev}");
    let fpr = ev["signature"]["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fpr.len(), 40, "{fpr}");
    assert_eq!(
        ev["signature"]["issuer"],
        fpr.as_str(),
        "the packet's issuer is the signer"
    );
    judge_python_debian(&dsc, &ev);
    judge_dpkg_source(&dsc, d.path(), &fs::read_to_string(&out).unwrap());

    // Without a keyring: parsed, recorded as not checked.
    let out2 = d.path().join("m2.toml");
    let (code, text) = import(home.path(), &[dsc.to_str().unwrap(), "-o", out2.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        evidence(&d.path().join("m2.evidence.json"))["signature"]["status"],
        "not-checked"
    );

    // Another key's keyring: exit 3. A changed signed text: exit 2.
    refused(
        home.path(),
        &dsc,
        &["--keyring", other.to_str().unwrap()],
        3,
        &["not signed by a key of"],
    );
    let t = tampered(d.path(), &d.path().join("changed"), |s| {
        s.replace(
            "Homepage: https://example.org/greet",
            "Homepage: https://evil.example/greet",
        )
    });
    refused(
        home.path(),
        &t,
        &["--keyring", keyring.to_str().unwrap()],
        2,
        &["does not verify"],
    );
}

#[test]
fn debian_hello_from_the_mirror_is_imported_and_judged() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/debian-source");
    let got = Command::new(&script).arg("hello").output().unwrap();
    match got.status.code() {
        Some(0) => {}
        Some(2) => {
            eprintln!(
                "SKIPPED: Debian's hello source cannot be had here: {}",
                String::from_utf8_lossy(&got.stderr).trim()
            );
            return;
        }
        _ => panic!(
            "scripts/debian-source hello failed: {}",
            String::from_utf8_lossy(&got.stderr)
        ),
    }
    let dsc = PathBuf::from(String::from_utf8_lossy(&got.stdout).trim());
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("hello.toml");
    let (code, text) = import(home.path(), &[dsc.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    let manifest = fs::read_to_string(&out).unwrap();
    let ev = evidence(&d.path().join("hello.evidence.json"));
    // Signed by its uploader; no keyring given: parsed and not checked.
    assert_eq!(ev["signature"]["status"], "not-checked", "{ev}");
    assert!(
        ev["signature"]["issuer"].as_str().is_some_and(|i| i.len() >= 16),
        "{ev}"
    );
    let orig = fs::read_dir(dsc.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".orig.tar.gz"))
        .unwrap();
    let orig_digest = Digest::of(&fs::read(&orig).unwrap());
    assert!(
        manifest.contains(&format!("upstream_hash = \"{orig_digest}\"")),
        "{manifest}"
    );
    assert!(manifest.starts_with("[package]\nname = \"hello\"\n"), "{manifest}");
    judge_python_debian(&dsc, &ev);
    judge_dpkg_source(&dsc, d.path(), &manifest);
}

#[test]
fn sources_that_name_no_importer_and_clashing_outputs_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m.toml");
    let o = out.to_str().unwrap();
    for (source, needle) in [
        ("notes.txt", "expected debian:FILE.dsc"),
        ("debian:Hello", "not a Debian source package name"),
        ("debian:dir/hello", "PKG[=VERSION]"),
        ("fedora:hello.rpm", "takes a .spec or a .src.rpm"),
    ] {
        let (code, text) = import(home.path(), &[source, "-o", o]);
        assert_eq!(code, 78, "{source}: {text}");
        assert!(text.contains(needle), "{source}: {needle:?} not in {text}");
    }
    let dsc = build_greet(d.path());
    let (code, text) = import(home.path(), &[dsc.to_str().unwrap(), "-o", o, "--evidence", o]);
    assert_eq!(code, 78, "{text}");
    assert!(text.contains("name the same file"), "{text}");
    assert!(!out.exists());
}
