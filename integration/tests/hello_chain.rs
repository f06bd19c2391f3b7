//! The README's "from source to every format" block, run as a user types
//! it (issue #18): Debian's `hello` taken from this machine's mirror through
//! the archive's chain of trust, built in the cached clean root, packed with
//! the build's provenance, verified, and exported to every format — each
//! output judged by its format's own tools (dpkg-deb and dpkg, rpm, skopeo,
//! ostree).
//!
//! The commands are the README's, word for word, run in one working
//! directory (relative paths, a fresh `CERRO_HOME`). The pieces are tested
//! one by one elsewhere (import_debian_archive.rs, build_debian.rs,
//! export.rs); this test is about their joints: that what one step writes is
//! what the next reads, and that the digests the import recorded are the ones
//! the signed provenance names and the exported package carries.
//!
//! Skipped with a message when not root (ct build needs debootstrap, unshare
//! and chroot) or when the mirror cannot be reached (the import's exit 12).
//! The first run prepares the build root (debootstrap, ≈2 min) in
//! `~/.cache/cerro-torre/build-roots`, shared with build_debian.rs; later
//! runs reuse it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use cerro_core::digest::Digest;
use cerro_integration::{ct, is_root, require, run, statement_in};
use serde_json::Value;

/// The README block: each command as the tour shows it (the comments are
/// the README's business). Kept in one place so the test and the text can
/// be compared line by line.
const CHAIN: &[&str] = &[
    "ct import debian:hello --download-dir src -o hello.toml",
    "ct build hello.toml --sources src -o oci:./hello:2.10-3",
    "ct pack oci:./hello:2.10-3 -o hello.ctp --key alice --manifest hello.toml",
    "ct verify hello.ctp",
    "ct export hello.ctp --format deb -o hello.deb",
    "ct export hello.ctp --format rpm -o hello.rpm",
    "ct export hello.ctp --format oci-archive -o hello.tar",
    "ct export hello.ctp --format ostree -o ./repo",
];

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs one README line (`ct …`) in `dir` under `home`: its exit code and output.
fn line(home: &Path, dir: &Path, command: &str) -> (i32, String) {
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(args[0], "ct", "{command}");
    let t = Instant::now();
    let out = ct(home).args(&args[1..]).current_dir(dir).output().unwrap();
    eprintln!("{command}: {:.1} s", t.elapsed().as_secs_f64());
    (out.status.code().unwrap_or(-1), text(&out))
}

/// A `key = "value"` line of the draft manifest.
fn field(manifest: &str, key: &str) -> String {
    manifest
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
        .unwrap_or_else(|| panic!("no {key} in\n{manifest}"))
        .trim_end_matches('"')
        .to_owned()
}

#[test]
fn the_readme_chain_takes_hello_from_source_to_every_format() {
    if !is_root() {
        eprintln!("SKIPPED: ct build needs root (debootstrap, unshare, chroot)");
        return;
    }
    for tool in ["debootstrap", "unshare", "dpkg", "dpkg-deb", "rpm", "skopeo", "ostree"] {
        require(tool);
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    // The key the tour made at its top (`ct keygen --id alice`).
    run(ct(&home).args(["keygen", "--id", "alice"]));

    // 1. import: the archive's chain, the files kept in ./src.
    let (code, out) = line(&home, d, CHAIN[0]);
    if code == 12 {
        eprintln!("SKIPPED: the machine's Debian mirror cannot be reached: {out}");
        return;
    }
    assert_eq!(code, 0, "{out}");
    let manifest = fs::read_to_string(d.join("hello.toml")).unwrap();
    let version = field(&manifest, "version");
    // The README names bookworm's hello; a point release would change it.
    assert_eq!(version, "2.10-3", "the tour's tag names bookworm's hello");
    let dsc_name = format!("hello_{version}.dsc");
    assert_eq!(field(&manifest, "imported_from"), format!("debian:{dsc_name}"));
    let dsc_hash = field(&manifest, "imported_from_hash");
    let orig_hash = field(&manifest, "upstream_hash");
    // What the import recorded is what it kept: the digests of the files in ./src.
    let digest_of = |name: &str| Digest::of(&fs::read(d.join("src").join(name)).unwrap()).to_string();
    assert_eq!(digest_of(&dsc_name), dsc_hash);
    assert_eq!(digest_of("hello_2.10.orig.tar.gz"), orig_hash);
    let evidence: Value = serde_json::from_slice(&fs::read(d.join("hello.evidence.json")).unwrap()).unwrap();
    assert_eq!(evidence["archive"]["release"]["codename"], "bookworm", "{evidence}");

    // 2. build: from ./src into the layout ./hello, tag 2.10-3.
    let (code, out) = line(&home, d, CHAIN[1]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("built hello {version}")), "{out}");
    let index: Value = serde_json::from_slice(&fs::read(d.join("hello/index.json")).unwrap()).unwrap();
    let image = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "2.10-3")
        .unwrap_or_else(|| panic!("no 2.10-3 in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_owned();

    // 3. pack: the build's provenance signed, the draft manifest carried.
    let (code, out) = line(&home, d, CHAIN[2]);
    assert_eq!(code, 0, "{out}");

    // 4. verify.
    let (code, out) = line(&home, d, CHAIN[3]);
    assert_eq!(code, 0, "{out}");
    let bundle = d.join("hello.ctp");
    let st = statement_in(&bundle, "attestations/provenance.dsse.json");
    assert_eq!(
        st["subject"][0]["digest"]["sha256"],
        image.trim_start_matches("sha256:")
    );
    assert_eq!(
        st["predicate"]["buildDefinition"]["buildType"], "https://cerro-torre.org/buildtypes/ct-build-debian/v1",
        "the bundle carries ct build's provenance, not ct pack's generic one"
    );
    let deps = st["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let dep = |name: &str| {
        let x = deps
            .iter()
            .find(|x| x["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {deps:?}"));
        format!("sha256:{}", x["digest"]["sha256"].as_str().unwrap())
    };
    assert_eq!(
        dep(&dsc_name),
        dsc_hash,
        "the signed provenance names the imported .dsc"
    );
    assert_eq!(dep("hello_2.10.orig.tar.gz"), orig_hash, "…and the upstream tarball");

    // 5. deb: dpkg-deb reads it; dpkg installs it into a scratch root; hello runs.
    let (code, out) = line(&home, d, CHAIN[4]);
    assert_eq!(code, 0, "{out}");
    let deb = d.join("hello.deb");
    let info = text(&run(Command::new("dpkg-deb").arg("-I").arg(&deb)));
    for want in [
        "Package: hello",
        &format!("Version: {version}"),
        &format!("X-Cerro-Torre-Image: {image}"),
    ] {
        assert!(info.contains(want), "{want:?} not in\n{info}");
    }
    let list = text(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    assert!(list.lines().any(|l| l.ends_with(" usr/bin/hello")), "{list}");
    let root = d.join("root");
    fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let root_arg = format!("--root={}", root.display());
    run(Command::new("dpkg")
        .args([&root_arg, "--force-not-root", "--force-script-chrootless", "-i"])
        .arg(&deb));
    let status = text(&run(Command::new("dpkg").args([&root_arg, "-s", "hello"])));
    assert!(status.contains("Status: install ok installed"), "{status}");
    // The host's libc runs it (the image holds the built packages only).
    let hello = run(Command::new(root.join("usr/bin/hello")).env("LANG", "C"));
    assert_eq!(String::from_utf8_lossy(&hello.stdout), "Hello, world!\n");
    // The package records where it came from: the digests the import recorded.
    let record: Value =
        serde_json::from_slice(&fs::read(root.join("usr/share/doc/hello/cerro-torre.json")).unwrap()).unwrap();
    assert_eq!(record["image"]["digest"], image.as_str(), "{record}");
    assert_eq!(record["provenance"]["imported_from"], format!("debian:{dsc_name}"));
    assert_eq!(
        record["provenance"]["imported_from_hash"],
        dsc_hash.as_str(),
        "{record}"
    );

    // 6. rpm: rpm checks its digests and lists hello.
    let (code, out) = line(&home, d, CHAIN[5]);
    assert_eq!(code, 0, "{out}");
    let rpm = |args: &[&str]| text(&run(Command::new("rpm").args(args).arg(d.join("hello.rpm"))));
    let k = rpm(&["-K"]);
    assert!(k.contains("digests OK"), "{k}");
    let files = rpm(&["-qpl"]);
    assert!(files.lines().any(|l| l == "/usr/bin/hello"), "{files}");

    // 7. oci-archive: skopeo sees the verified image under the packed reference.
    let (code, out) = line(&home, d, CHAIN[6]);
    assert_eq!(code, 0, "{out}");
    let inspected = run(Command::new("skopeo").args([
        "inspect",
        &format!("oci-archive:{}:2.10-3", d.join("hello.tar").display()),
    ]));
    let v: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(v["Digest"], image.as_str(), "{v}");

    // 8. ostree: a commit that passes fsck, holding hello.
    let (code, out) = line(&home, d, CHAIN[7]);
    assert_eq!(code, 0, "{out}");
    let ostree = |args: &[&str]| {
        text(&run(Command::new("ostree")
            .arg(format!("--repo={}", d.join("repo").display()))
            .args(args)))
    };
    let fsck = ostree(&["fsck"]);
    assert!(fsck.contains("no errors found"), "{fsck}");
    let branch = format!("cerro/hello/{version}");
    let ls = ostree(&["ls", "-R", &branch]);
    assert!(ls.lines().any(|l| l.ends_with(" /usr/bin/hello")), "{ls}");

    eprintln!("the chain: {:.1} s", started.elapsed().as_secs_f64());
}

/// The README's block is the test's: the same commands, in the same order,
/// one contiguous run of lines.
#[test]
fn the_readme_shows_the_chain_the_test_runs() {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.adoc")).unwrap();
    let commands: Vec<String> = readme
        .lines()
        .map(|l| l.split("  #").next().unwrap_or(l).trim().to_owned())
        .collect();
    let start = commands
        .iter()
        .position(|c| c == CHAIN[0])
        .unwrap_or_else(|| panic!("README.adoc has no line {:?}", CHAIN[0]));
    assert_eq!(&commands[start..start + CHAIN.len()], CHAIN, "README.adoc's chain");
}
