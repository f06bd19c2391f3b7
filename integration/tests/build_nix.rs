//! `ct build` of a Nix store derivation for real (spec/build.md §7): a
//! derivation made by Debian's `nix-bin` offline (`nix-instantiate` into a
//! private store, no nixpkgs), imported, built twice — the same blobs, the
//! same image digest — the layer's tree compared with what `nix-store
//! --realise` makes of the same derivation in its own store (the judge),
//! the output's NAR hash ct computed compared with `nix-store --dump` and
//! `nix-store --query --hash`, packed, verified and rebuilt with `ct
//! rebuild` (and a derivation whose output differs from build to build
//! caught by it, the output and the file named); a derivation edited after the import is refused
//! before anything runs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use cerro_core::digest::Digest;
use cerro_integration::{ct, ct_status, is_root, require, run, statement_in};
use serde_json::Value;

const GREET: &str = r#"builtins.derivation {
  name = "greet-1.0";
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "mkdir $out && echo hi > $out/greeting && ln -s greeting $out/link && cat $src > $out/src" ];
  src = ./src.txt;
  url = "https://example.org/greet-1.0.tar.gz";
}
"#;

fn nix(dir: &Path, program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("NIX_CONF_DIR", dir.join("conf"))
        .env("HOME", dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .current_dir(dir);
    c
}

/// The derivation instantiated into `dir/root`: its store path and file.
fn instantiate(dir: &Path) -> (String, PathBuf) {
    instantiate_expr(dir, GREET)
}

/// The derivation of Nix expression `expr` instantiated into `dir/root`.
fn instantiate_expr(dir: &Path, expr: &str) -> (String, PathBuf) {
    fs::create_dir_all(dir.join("conf")).unwrap();
    fs::write(
        dir.join("conf/nix.conf"),
        "sandbox = true\nbuild-users-group =\nsubstituters =\nsandbox-paths = /bin/sh=/bin/busybox\n\
         experimental-features = nix-command\n",
    )
    .unwrap();
    fs::write(dir.join("src.txt"), "hello\n").unwrap();
    fs::write(dir.join("greet.nix"), expr).unwrap();
    let root = format!("local?root={}", dir.join("root").display());
    let out = run(nix(dir, "nix-instantiate").args(["--store", &root, "greet.nix"]));
    let store_path = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let file = dir.join("root").join(store_path.trim_start_matches('/'));
    (store_path, file)
}

/// Every entry of a layer: path → (mode, contents or link target).
fn entries(layer: &[u8]) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for e in tar::Archive::new(layer).entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        assert_eq!((h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()), (0, 0, 1));
        let path = e.path().unwrap().display().to_string();
        let body = match e.link_name().unwrap() {
            Some(t) => t.display().to_string().into_bytes(),
            None => {
                let mut b = Vec::new();
                e.read_to_end(&mut b).unwrap();
                b
            }
        };
        out.insert(path.trim_end_matches('/').to_owned(), (h.mode().unwrap(), body));
    }
    out
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    fs::read(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap()
}

#[test]
fn a_derivation_is_built_twice_identically_and_matches_nix_store_realise() {
    if !is_root() {
        eprintln!("SKIPPED: Nix's sandbox needs root here");
        return;
    }
    require("nix-instantiate");
    require("busybox");
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let (store_path, drv) = instantiate(d);
    let home = d.join("home");
    let manifest = d.join("greet.toml");
    run(ct(&home).args([
        "import",
        &format!("nix:{}", drv.display()),
        "-o",
        &manifest.display().to_string(),
    ]));
    let s = |p: &str| d.join(p).display().to_string();
    let build = |out: &str| {
        let (code, text) = ct_status(
            &home,
            &[
                "build",
                &s("greet.toml"),
                "--sources",
                &s("root"),
                "-o",
                &format!("oci:{}:1.0", s(out)),
            ],
        );
        assert_eq!(code, 0, "{text}");
    };
    build("a");
    build("b");
    let index_a = json(&d.join("a/index.json"));
    let index_b = json(&d.join("b/index.json"));
    assert_eq!(index_a, index_b);
    let digest = index_a["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest_a = json(&d.join("a/blobs/sha256").join(digest.trim_start_matches("sha256:")));
    let layer_digest = manifest_a["layers"][0]["digest"].as_str().unwrap();
    assert_eq!(blob(&d.join("a"), layer_digest), blob(&d.join("b"), layer_digest));
    let config =
        serde_json::from_slice::<Value>(&blob(&d.join("a"), manifest_a["config"]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(config["created"], "1970-01-01T00:00:01Z");
    assert_eq!(config["architecture"], "amd64");

    // The judge: nix-store --realise of the same derivation in the source
    // store gives the same output path and the same tree.
    let root = format!("local?root={}", s("root"));
    let out = run(nix(d, "nix-store").args(["--store", &root, "--realise", &store_path]));
    let out_path = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let realised = d.join("root").join(out_path.trim_start_matches('/'));
    let layer = entries(&blob(&d.join("a"), layer_digest));
    let name = out_path.trim_start_matches('/');
    let mut want = BTreeMap::new();
    want.insert("nix".to_owned(), (0o755, Vec::new()));
    want.insert("nix/store".to_owned(), (0o755, Vec::new()));
    want.insert(name.to_owned(), (0o555, Vec::new()));
    for f in ["greeting", "src"] {
        want.insert(format!("{name}/{f}"), (0o444, fs::read(realised.join(f)).unwrap()));
    }
    let link = fs::read_link(realised.join("link")).unwrap();
    want.insert(format!("{name}/link"), (0o777, link.display().to_string().into_bytes()));
    assert_eq!(layer, want);
    assert_eq!(layer[&format!("{name}/greeting")].1, b"hi\n");

    // The provenance names the derivation by digest; ct pack signs it, ct verify accepts.
    let p = json(&d.join("a/cerro-build").join(format!(
        "sha256-{}.provenance.json",
        digest.trim_start_matches("sha256:")
    )));
    assert_eq!(
        p["buildDefinition"]["buildType"],
        "https://cerro-torre.org/buildtypes/ct-build-nix/v1"
    );
    let m = fs::read_to_string(&manifest).unwrap();
    let drv_hash = p["buildDefinition"]["resolvedDependencies"][0]["digest"]["sha256"]
        .as_str()
        .unwrap();
    assert!(
        m.contains(&format!("imported_from_hash = \"sha256:{drv_hash}\"")),
        "{m}"
    );
    let output = &p["runDetails"]["byproducts"][1];
    assert_eq!(output["name"], out_path.as_str());
    // The output by its NAR, as ct computed it, judged by Nix: the SHA-256
    // of `nix-store --dump` of the realised path, and the hash Nix's own
    // database holds for it (`nix-store --query --hash`, Nix's base-32).
    let dump = run(Command::new("nix-store").arg("--dump").arg(&realised));
    let nar_hex = Digest::of(&dump.stdout).hex();
    assert_eq!(output["digest"]["sha256"], nar_hex.as_str(), "{output}");
    assert_eq!(output["mediaType"], "application/x-nix-nar");
    let q = run(nix(d, "nix-store").args(["--store", &root, "--query", "--hash", &out_path]));
    let nix_hash = String::from_utf8(q.stdout).unwrap().trim().to_owned();
    assert!(nix_hash.starts_with("sha256:"), "{nix_hash}");
    assert_eq!(output["annotations"]["narHash"], nix_hash.as_str(), "{output}");
    run(ct(&home).args(["keygen", "--id", "builder"]));
    run(ct(&home).args([
        "pack",
        &format!("oci:{}:1.0", s("a")),
        "--manifest",
        &s("greet.toml"),
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

    // ct rebuild from the same store: the image and the output's NAR match.
    run(ct(&home).args(["keygen", "--id", "rebuilder"]));
    let (code, text) = ct_status(
        &home,
        &[
            "rebuild",
            &s("greet.ctp"),
            "--sources",
            &s("root"),
            "--key",
            "rebuilder",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("output {out_path} nar sha256:{nar_hex} matches")),
        "{text}"
    );

    // The derivation edited after the import (its builder's argument): refused, nothing built.
    let text = fs::read_to_string(&drv).unwrap();
    fs::write(&drv, text.replace("echo hi", "echo ho")).unwrap();
    let (code, text) = ct_status(
        &home,
        &[
            "build",
            &s("greet.toml"),
            "--sources",
            &s("root"),
            "-o",
            &format!("oci:{}:1.0", s("c")),
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("imported_from_hash"), "{text}");
    assert!(!d.join("c").exists());
}

/// A derivation whose output differs from build to build (the kernel's
/// random UUID, which Nix's sandbox does not hide): a planted difference.
const NOISY: &str = r#"builtins.derivation {
  name = "noisy-1.0";
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "mkdir $out && cat /proc/sys/kernel/random/uuid > $out/noise" ];
  url = "https://example.org/noisy-1.0.tar.gz";
}
"#;

#[test]
fn a_rebuild_whose_output_differs_is_named_and_nothing_is_signed() {
    if !is_root() {
        eprintln!("SKIPPED: Nix's sandbox needs root here");
        return;
    }
    require("nix-instantiate");
    require("busybox");
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let s = |p: &str| d.join(p).display().to_string();
    let (store_path, drv) = instantiate_expr(d, NOISY);
    let home = d.join("home");
    run(ct(&home).args(["import", &format!("nix:{}", drv.display()), "-o", &s("noisy.toml")]));
    let (code, text) = ct_status(
        &home,
        &[
            "build",
            &s("noisy.toml"),
            "--sources",
            &s("root"),
            "-o",
            &format!("oci:{}:1.0", s("a")),
        ],
    );
    assert_eq!(code, 0, "{text}");
    run(ct(&home).args(["keygen", "--id", "builder"]));
    run(ct(&home).args([
        "pack",
        &format!("oci:{}:1.0", s("a")),
        "--manifest",
        &s("noisy.toml"),
        "--key",
        "builder",
        "-o",
        &s("noisy.ctp"),
    ]));
    let p = statement_in(&d.join("noisy.ctp"), "attestations/provenance.dsse.json")["predicate"].clone();
    let output = &p["runDetails"]["byproducts"][1];
    let out_path = output["name"].as_str().unwrap().to_owned();
    assert!(out_path.ends_with("-noisy-1.0"), "{output} ({store_path})");
    let ours = output["digest"]["sha256"].as_str().unwrap().to_owned();

    run(ct(&home).args(["keygen", "--id", "rebuilder"]));
    let before = fs::read(d.join("noisy.ctp")).unwrap();
    let (code, text) = ct_status(
        &home,
        &[
            "rebuild",
            &s("noisy.ctp"),
            "--sources",
            &s("root"),
            "--key",
            "rebuilder",
        ],
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "output {out_path} DIFFERS: bundle nar sha256:{ours}, rebuilt nar sha256:"
        )),
        "{text}"
    );
    assert!(text.contains("layer 1 DIFFERS"), "{text}");
    assert!(text.contains("noise"), "the differing file is named: {text}");
    assert_eq!(
        fs::read(d.join("noisy.ctp")).unwrap(),
        before,
        "nothing was signed or added"
    );
}
