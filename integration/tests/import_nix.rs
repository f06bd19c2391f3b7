//! `ct import` of Nix store derivations made by Debian's `nix-bin` offline
//! (`nix-instantiate` of `builtins.derivation` expressions into a private
//! store, no nixpkgs), judged by `nix show-derivation`: the evidence's
//! fields are its JSON, value for value. Hand-edited hostile derivations
//! are refused naming the field, with nothing written.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cerro_core::digest::Digest;
use cerro_integration::{ct_status, require, run};
use serde_json::Value;

/// A private Nix: configuration, store root and home in `dir`.
struct Nix {
    dir: PathBuf,
}

impl Nix {
    fn new(dir: &Path) -> Nix {
        require("nix-instantiate");
        fs::create_dir_all(dir.join("conf")).unwrap();
        fs::write(
            dir.join("conf/nix.conf"),
            "sandbox = true\nbuild-users-group =\nsubstituters =\nsandbox-paths = /bin/sh=/bin/busybox\n\
             experimental-features = nix-command\n",
        )
        .unwrap();
        Nix { dir: dir.to_path_buf() }
    }
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("NIX_CONF_DIR", self.dir.join("conf"))
            .env("HOME", &self.dir)
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .arg("--store")
            .arg(self.store_uri())
            .current_dir(&self.dir);
        c
    }
    fn store_uri(&self) -> String {
        format!("local?root={}", self.dir.join("root").display())
    }
    /// Instantiates `expr` (written to NAME.nix): the .drv's store path and its file.
    fn instantiate(&self, name: &str, expr: &str) -> (String, PathBuf) {
        fs::write(self.dir.join(format!("{name}.nix")), expr).unwrap();
        let out = run(self.cmd("nix-instantiate").arg(format!("{name}.nix")));
        let store_path = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let file = self.dir.join("root").join(store_path.trim_start_matches('/'));
        (store_path, file)
    }
    fn show(&self, store_path: &str) -> Value {
        let out = run(self.cmd("nix").args(["show-derivation", store_path]));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v[store_path].clone()
    }
}

fn import(home: &Path, args: &[&str]) -> (i32, String) {
    let mut a = vec!["import"];
    a.extend_from_slice(args);
    ct_status(home, &a)
}

const GREET: &str = r#"builtins.derivation {
  name = "greet-1.0";
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "echo \"hi\\there\" > $out; cat $src >> $out" ];
  src = ./src.txt;
  url = "https://example.org/greet-1.0.tar.gz";
  weird = "tab\there\nnewline \"quoted\" back\\slash";
}
"#;

#[test]
fn derivations_made_by_nix_are_read_as_nix_shows_them() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let nix = Nix::new(d.path());
    fs::write(d.path().join("src.txt"), "hello\n").unwrap();
    let tarball = b"the upstream tarball's bytes\n";
    let tar_digest = Digest::of(tarball);
    let fod = format!(
        "builtins.derivation {{\n  name = \"greet-src-1.0\";\n  system = \"x86_64-linux\";\n  builder = \"/bin/sh\";\n  \
         args = [ \"-c\" \"false\" ];\n  urls = \"https://example.org/greet-1.0.tar.gz https://mirror.example/greet-1.0.tar.gz\";\n  \
         outputHashMode = \"flat\";\n  outputHashAlgo = \"sha256\";\n  outputHash = \"{}\";\n}}\n",
        tar_digest.hex()
    );
    let dep =
        "let g = import ./greet.nix; in builtins.derivation {\n  pname = \"greet-wrapper\";\n  version = \"2\";\n  \
               name = \"greet-wrapper-2\";\n  system = \"x86_64-linux\";\n  builder = \"/bin/sh\";\n  \
               args = [ \"-c\" \"cp ${g} $out\" ];\n}\n";
    for (name, expr, upstream, upstream_hash, pkg) in [
        ("greet", GREET.to_string(), None, None, ("greet", "1.0")),
        ("fod", fod, None, Some(tar_digest), ("greet-src", "1.0")),
        (
            "dep",
            dep.to_string(),
            Some("https://example.org/wrapper"),
            None,
            ("greet-wrapper", "2"),
        ),
    ] {
        let (store_path, file) = nix.instantiate(name, &expr);
        let out = d.path().join(format!("{name}.toml"));
        let mut args = vec![
            format!("nix:{}", file.display()),
            "-o".into(),
            out.display().to_string(),
        ];
        if let Some(u) = upstream {
            args.extend(["--upstream".into(), u.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, text) = import(home.path(), &args);
        assert_eq!(code, 0, "{name}: {text}");
        let ev: Value =
            serde_json::from_slice(&fs::read(d.path().join(format!("{name}.evidence.json"))).unwrap()).unwrap();
        let shown = nix.show(&store_path);
        assert_eq!(
            ev["fields"], shown,
            "{name}: ct's reading differs from nix show-derivation"
        );
        let manifest = fs::read_to_string(&out).unwrap();
        assert!(
            manifest.starts_with(&format!("[package]\nname = \"{}\"\nversion = \"{}\"\n", pkg.0, pkg.1)),
            "{manifest}"
        );
        let file_name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            manifest.contains(&format!("imported_from = \"nix:{file_name}\"")),
            "{manifest}"
        );
        let drv_digest = Digest::of(&fs::read(&file).unwrap());
        assert!(
            manifest.contains(&format!("imported_from_hash = \"{drv_digest}\"")),
            "{manifest}"
        );
        match upstream_hash {
            Some(h) => assert!(manifest.contains(&format!("upstream_hash = \"{h}\"")), "{manifest}"),
            None => assert!(!manifest.contains("upstream_hash"), "{manifest}"),
        }
        if name == "dep" {
            assert_eq!(shown["inputDrvs"].as_object().unwrap().len(), 1, "{shown}");
        }
        // Deterministic.
        let again = d.path().join(format!("{name}-again.toml"));
        let mut args2 = args.clone();
        args2[2] = again.to_str().unwrap();
        let (code, text) = import(home.path(), &args2);
        assert_eq!(code, 0, "{text}");
        assert_eq!(fs::read(&again).unwrap(), manifest.as_bytes());
    }
}

#[test]
fn hostile_derivations_are_refused_naming_the_field() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let nix = Nix::new(d.path());
    fs::write(d.path().join("src.txt"), "hello\n").unwrap();
    let (_, file) = nix.instantiate("greet", GREET);
    let text = fs::read_to_string(&file).unwrap();
    let src = text
        .split("[\"/nix/store/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "dup-env",
            text.replace(
                "(\"name\",\"greet-1.0\")",
                "(\"name\",\"greet-1.0\"),(\"name\",\"evil-6.6\")",
            ),
            "env: \"name\" is given twice",
        ),
        (
            "dotdot",
            text.replace(&format!("[\"/nix/store/{src}\"]"), "[\"/nix/store/../../etc/passwd\"]"),
            "inputSrcs",
        ),
        (
            "short-hash",
            text.replacen(",\"\",\"\")", ",\"sha256\",\"0123\")", 1),
            "outputs",
        ),
        ("junk", format!("{text} "), "Derive"),
    ];
    for (case, body, needle) in cases {
        let f = d.path().join(format!("{case}-x.drv"));
        fs::write(&f, body).unwrap();
        let out = d.path().join(format!("{case}.toml"));
        let (code, msg) = import(
            home.path(),
            &[&format!("nix:{}", f.display()), "-o", out.to_str().unwrap()],
        );
        assert_eq!(code, 10, "{case}: {msg}");
        assert!(msg.contains(needle), "{case}: {needle:?} not in {msg}");
        assert!(
            !out.exists() && !d.path().join(format!("{case}.evidence.json")).exists(),
            "{case}: written"
        );
    }
}
