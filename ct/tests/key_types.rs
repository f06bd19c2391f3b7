//! Key types through the real `ct` binary (issue #14): `ct keygen --type
//! ecdsa-p256` (plain and encrypted), `ct key list`/`import`/`export` and
//! `ct explain` naming the algorithm, byte-identical packs with a P-256
//! key, and k-of-n with one key of each type passing a threshold-2 policy
//! (one alone refused, exit 4).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use cerro_core::image::layout::{basic_config, LayoutBuilder};
use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        let mut b = LayoutBuilder::new(&env.path("image")).unwrap();
        b.layer_tar(&[("hello.txt", 0o644, b"hello\n")]).unwrap();
        b.finish(basic_config(&["/hello.txt"]), Some("1.0")).unwrap();
        env
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn s(&self, p: &str) -> String {
        self.path(p).display().to_string()
    }

    fn run(&self, home: &str, vars: &[(&str, &str)], args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ct"));
        c.args(args)
            .env("CERRO_HOME", self.path(home))
            .env_remove("CERRO_PASSPHRASE")
            .env("SOURCE_DATE_EPOCH", "1700000000");
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn expect_in(&self, home: &str, vars: &[(&str, &str)], code: i32, args: &[&str]) -> String {
        let out = self.run(home, vars, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "ct {args:?} gave:\n{text}");
        text
    }

    fn expect(&self, code: i32, args: &[&str]) -> String {
        self.expect_in("home", &[], code, args)
    }
}

fn key_line<'a>(list: &'a str, id: &str) -> &'a str {
    list.lines().find(|l| l.starts_with(&format!("{id} "))).unwrap()
}

#[test]
fn ecdsa_p256_keys_from_keygen_to_a_threshold_of_two() {
    let env = Env::new();
    let out = env.expect(0, &["keygen", "--id", "ec", "--type", "ecdsa-p256"]);
    assert!(out.contains("type        ecdsa-p256"), "{out}");
    let out = env.expect(0, &["keygen", "--id", "ed"]);
    assert!(out.contains("type        ed25519"), "{out}");
    let pem = fs::read_to_string(env.path("home/private/ec.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    // Encrypted, as Ed25519 keys are.
    env.expect_in(
        "home",
        &[("CERRO_PASSPHRASE", "pw")],
        0,
        &["keygen", "--id", "ece", "--type", "ecdsa-p256", "--encrypt"],
    );
    let pem = fs::read_to_string(env.path("home/private/ece.key")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), "{pem}");
    // An unknown type is a usage error, not a key.
    let out = env.run("home", &[], &["keygen", "--id", "r", "--type", "rsa"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(!env.path("home/private/r.key").exists());

    let list = env.expect(0, &["key", "list"]);
    assert!(key_line(&list, "ec").contains(" ecdsa-p256 "), "{list}");
    assert!(key_line(&list, "ed").contains(" ed25519 "), "{list}");
    let json: Value = serde_json::from_str(&env.expect(0, &["key", "list", "--json"])).unwrap();
    let types: Vec<_> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["id"].as_str().unwrap(), k["type"].as_str().unwrap()))
        .collect();
    assert_eq!(types, [("ec", "ecdsa-p256"), ("ece", "ecdsa-p256"), ("ed", "ed25519")]);

    // Export, import elsewhere: same fingerprint, type named, untrusted.
    let pub_pem = env.s("ec.pub");
    env.expect(0, &["key", "export", "ec", "-o", &pub_pem]);
    assert!(fs::read_to_string(&pub_pem)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----\n"));
    let out = env.expect_in("other", &[], 0, &["key", "import", &pub_pem, "--id", "ec"]);
    assert!(out.contains("type        ecdsa-p256"), "{out}");
    let fp = |home: &str, id: &str| {
        let j: Value = serde_json::from_str(&env.expect_in(home, &[], 0, &["key", "list", "--json"])).unwrap();
        let k = j.as_array().unwrap().iter().find(|k| k["id"] == id).unwrap().clone();
        assert_eq!(k["type"], "ecdsa-p256");
        k["fingerprint"].as_str().unwrap().to_owned()
    };
    assert_eq!(fp("other", "ec"), fp("home", "ec"));
    // Not a key: configuration error, as before.
    fs::write(
        env.path("junk.pub"),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    env.expect_in("other", &[], 78, &["key", "import", &env.s("junk.pub"), "--id", "junk"]);

    // Packs with a P-256 key are byte-identical (RFC 6979).
    let image = format!("oci:{}:1.0", env.path("image").display());
    let (a, b) = (env.s("a.ctp"), env.s("b.ctp"));
    env.expect(0, &["pack", &image, "-o", &a, "--key", "ec"]);
    env.expect(0, &["pack", &image, "-o", &b, "--key", "ec"]);
    assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());

    // One key of each type: threshold 2 met; the P-256 key alone is not.
    let policy = env.s("p.json");
    fs::write(
        &policy,
        r#"{"version":"1","default_action":"deny","signers":{"allowed":[{"key_id":"*"}],"threshold":2}}"#,
    )
    .unwrap();
    let out = env.expect(4, &["verify", &a, "--policy", &policy]);
    assert!(out.contains("1 of 2"), "{out}");
    env.expect(0, &["sign", &a, "--key", "ed"]);
    env.expect(0, &["verify", &a, "--policy", &policy]);
    let out = env.expect(0, &["explain", &a, "--policy", &policy]);
    assert!(
        out.contains("valid ECDSA P-256 signature") && out.contains("valid Ed25519 signature"),
        "{out}"
    );
    let ec_line = out.lines().find(|l| l.trim_start().starts_with("ec ")).unwrap();
    assert!(ec_line.contains("ecdsa-p256") && ec_line.contains("counted"), "{out}");
    // Packed with both keys at once: it verifies the same way.
    let both = env.s("both.ctp");
    env.expect(0, &["pack", &image, "-o", &both, "--key", "ed", "--key", "ec"]);
    env.expect(0, &["verify", &both, "--policy", &policy]);
    // The encrypted P-256 key signs with its passphrase, refuses without.
    env.expect(78, &["sign", &both, "--key", "ece"]);
    env.expect_in(
        "home",
        &[("CERRO_PASSPHRASE", "pw")],
        0,
        &["sign", &both, "--key", "ece"],
    );
    let report: Value = serde_json::from_str(&env.expect(0, &["explain", &both, "--json"])).unwrap();
    let counted = report["signers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "counted")
        .count();
    assert_eq!(counted, 3, "{report}");
}
