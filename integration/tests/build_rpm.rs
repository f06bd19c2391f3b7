//! `ct build` of an RPM source package for real (spec/build.md §8): an
//! SRPM made by Debian's `rpmbuild -bs` in the test, rebuilt twice by
//! `rpmbuild --rebuild` with the reproducibility macros in the cached clean
//! root (debootstrapped, Debian's `rpm` installed: the first run prepares
//! it, ≈2 min) in fresh namespaces — the same blobs, the same image
//! digest; its Fedora-only `BuildRequires` recorded as not resolved — its files judged against the spec's (`rpm -qp`
//! on the SRPM names the source; the layer holds the installed script with
//! its mode), unpacked by umoci and run, packed and verified; a changed or
//! missing SRPM refused before anything runs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::io::Read as _;
use std::path::Path;
use std::process::Command;

use cerro_core::digest::Digest;
use cerro_integration::{ct, ct_status, is_root, require, run, statement_in, umoci};
use serde_json::Value;

const SPEC: &str = "Name: greet\nVersion: 1.0\nRelease: 1\nSummary: greets\nLicense: MIT\n\
URL: https://example.org/greet\nSource0: greet.sh\nBuildArch: noarch\nBuildRequires: fedora-only-build-tool >= 2\n\n%description\nGreets.\n\n\
%prep\ncp %{SOURCE0} .\n\n%install\nmkdir -p %{buildroot}/usr/bin\ninstall -m 0755 greet.sh %{buildroot}/usr/bin/greet\n\n\
%files\n/usr/bin/greet\n\n%changelog\n* Fri Dec 31 2027 Test <test@example.org> - 1.0-1\n- Initial.\n";

const SCRIPT: &str = "#!/bin/sh\necho hi from greet\n";

fn json(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

#[test]
fn an_srpm_is_rebuilt_twice_identically_runs_and_is_packed() {
    if !is_root() {
        eprintln!("SKIPPED: ct build needs root (unshare)");
        return;
    }
    require("rpmbuild");
    require("rpm2archive");
    require("debootstrap");
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let s = |p: &str| d.join(p).display().to_string();
    fs::create_dir_all(d.join("top/SOURCES")).unwrap();
    fs::write(d.join("greet.spec"), SPEC).unwrap();
    fs::write(d.join("top/SOURCES/greet.sh"), SCRIPT).unwrap();
    run(Command::new("rpmbuild")
        .args(["-bs", "--define", &format!("_topdir {}", s("top")), &s("greet.spec")])
        .env("HOME", d));
    fs::create_dir_all(d.join("src")).unwrap();
    fs::copy(
        d.join("top/SRPMS/greet-1.0-1.src.rpm"),
        d.join("src/greet-1.0-1.src.rpm"),
    )
    .unwrap();
    let srpm = fs::read(d.join("src/greet-1.0-1.src.rpm")).unwrap();
    // The draft as an SRPM importer writes it (spec/import.md; written by
    // hand here: that importer is not in this tree).
    let manifest = format!(
        "[package]\nname = \"greet\"\nversion = \"1.0-1\"\n\n[provenance]\nupstream = \"https://example.org/greet\"\n\
         imported_from = \"fedora:greet-1.0-1.src.rpm\"\nimported_from_hash = \"{}\"\n\n[build]\nsystem = \"rpm\"\n",
        Digest::of(&srpm)
    );
    fs::write(d.join("src/greet.toml"), &manifest).unwrap();
    let home = d.join("home");
    let build = |out: &str| {
        ct_status(
            &home,
            &["build", &s("src/greet.toml"), "-o", &format!("oci:{}:1.0-1", s(out))],
        )
    };
    // The changelog is dated after today, so SOURCE_DATE_EPOCH is later
    // than the build's clock: rpm clamps nothing, and the file %install
    // makes keeps the time it was made. The two builds a second apart
    // must still give the same image (they did not when the layer only
    // clamped mtimes).
    for out in ["a", "b"] {
        let (code, text) = build(out);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("1 package(s)"), "{text}");
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let index = json(&d.join("a/index.json"));
    assert_eq!(index, json(&d.join("b/index.json")), "two builds gave two images");
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let m = json(&d.join("a/blobs/sha256").join(&digest));
    let layer_hex = m["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let layer = fs::read(d.join("a/blobs/sha256").join(&layer_hex)).unwrap();
    assert_eq!(layer, fs::read(d.join("b/blobs/sha256").join(&layer_hex)).unwrap());

    // The judge: rpm's view of the SRPM gives the changelog time the image
    // is dated with; the layer holds the one file the spec installs.
    let t = run(Command::new("rpm").args(["-qp", "--qf", "%{CHANGELOGTIME}", &s("src/greet-1.0-1.src.rpm")]));
    let epoch: u64 = String::from_utf8(t.stdout).unwrap().trim().parse().unwrap();
    let config = json(
        &d.join("a/blobs/sha256")
            .join(m["config"]["digest"].as_str().unwrap().trim_start_matches("sha256:")),
    );
    assert_eq!(config["created"], "2027-12-31T12:00:00Z");
    assert_eq!(epoch, 1830254400);
    let mut files = Vec::new();
    for e in tar::Archive::new(layer.as_slice()).entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        assert_eq!(h.mtime().unwrap(), epoch, "every mtime is SOURCE_DATE_EPOCH");
        assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        files.push((e.path().unwrap().display().to_string(), h.mode().unwrap(), body));
    }
    assert_eq!(files, [("usr/bin/greet".to_owned(), 0o755, SCRIPT.as_bytes().to_vec())]);
    run(&mut umoci(&[
        "unpack",
        "--image",
        &format!("{}:1.0-1", s("a")),
        &s("bundle"),
    ]));
    let out = run(Command::new("sh").arg(d.join("bundle/rootfs/usr/bin/greet")));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi from greet\n");

    // The provenance: the SRPM by digest, the rpm built; ct pack signs it.
    let p = json(&d.join("a/cerro-build").join(format!("sha256-{digest}.provenance.json")));
    assert_eq!(
        p["buildDefinition"]["buildType"],
        "https://cerro-torre.org/buildtypes/ct-build-rpm/v1"
    );
    assert_eq!(
        p["buildDefinition"]["resolvedDependencies"][0]["digest"]["sha256"],
        Digest::of(&srpm).hex()
    );
    assert_eq!(
        p["runDetails"]["byproducts"][1]["name"],
        "noarch/greet-1.0-1.noarch.rpm"
    );
    // Built in the clean root (Debian's rpm in a buildd root, keyed as the
    // Debian roots are), in fresh namespaces; the BuildRequires, which
    // Debian cannot provide, recorded as such.
    let internal = &p["buildDefinition"]["internalParameters"];
    assert_eq!(internal["root"]["packages"], serde_json::json!(["rpm"]), "{internal}");
    assert_eq!(internal["root"]["variant"], "buildd");
    let key = internal["root"]["cacheKey"].as_str().unwrap();
    assert_eq!(key.len(), 32, "{internal}");
    assert!(
        internal["isolation"]
            .as_str()
            .unwrap()
            .starts_with("unshare --mount --net --pid --ipc --uts;"),
        "{internal}"
    );
    let declared: Vec<&str> = internal["buildRequires"]["declared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let rpm_says = run(Command::new("rpm").args(["-qp", "--requires", &s("src/greet-1.0-1.src.rpm")]));
    assert_eq!(
        declared,
        String::from_utf8(rpm_says.stdout).unwrap().lines().collect::<Vec<_>>()
    );
    assert!(declared.contains(&"fedora-only-build-tool >= 2"), "{declared:?}");
    assert_eq!(internal["buildRequires"]["resolved"], false);
    run(ct(&home).args(["keygen", "--id", "builder"]));
    run(ct(&home).args([
        "pack",
        &format!("oci:{}:1.0-1", s("a")),
        "--manifest",
        &s("src/greet.toml"),
        "--key",
        "builder",
        "-o",
        &s("greet.ctp"),
    ]));
    let (code, text) = ct_status(&home, &["verify", &s("greet.ctp")]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        statement_in(&d.join("greet.ctp"), "attestations/provenance.dsse.json")["predicate"],
        p
    );

    // A different SRPM (one byte): refused, exit 1, nothing built.
    let mut bad = srpm.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    fs::write(d.join("src/greet-1.0-1.src.rpm"), &bad).unwrap();
    let (code, text) = build("c");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("imported_from_hash"), "{text}");
    // Missing: exit 11.
    fs::remove_file(d.join("src/greet-1.0-1.src.rpm")).unwrap();
    let (code, text) = build("c");
    assert_eq!(code, 11, "{text}");
    assert!(!d.join("c").exists());
    // A .spec draft (ct import fedora:…spec) is not rebuilt: exit 10 naming the field.
    fs::write(
        d.join("src/greet.toml"),
        manifest.replace("greet-1.0-1.src.rpm", "greet.spec"),
    )
    .unwrap();
    let (code, text) = build("c");
    assert_eq!(code, 10, "{text}");
    assert!(text.contains("provenance.imported_from"), "{text}");
}
