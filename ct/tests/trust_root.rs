//! The signed trust root and the signed revocation list through the real
//! `ct` binary (issue #12, spec/trust-store.md §9–10): `ct trust root
//! init|sign|install|show`, `ct revocation publish|fetch|show`, and `ct
//! verify` refusing, each with its documented exit code: k-1 root
//! signatures and a wrong key's (3), a rolled-back root (78), an expired
//! root (78), a revoked release (7) or key (3) in a fresh list, a stale
//! list (7), an older list (78).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::timestamp::format_rfc3339;
use cerro_core::trust::home::Home;
use cerro_core::trust::root::{RevocationList, TrustRoot};
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

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ct"))
            .args(args)
            .env("CERRO_HOME", self.path("home"))
            .env_remove("CERRO_PASSPHRASE")
            .env_remove("CERRO_POLICY")
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap()
    }

    fn expect(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "ct {args:?} gave:\n{text}");
        text
    }

    /// `ct verify --json`'s report (or error): exit code and kind.
    fn verify(&self, bundle: &str) -> (i32, String, Value) {
        let out = self.run(&["verify", bundle, "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let kind = v["kind"].as_str().or(v["error_kind"].as_str()).unwrap_or("").to_owned();
        (out.status.code().unwrap(), kind, v)
    }
}

fn now() -> u64 {
    cerro_core::clock::unix_now().unwrap()
}

const YEAR: u64 = 365 * 86_400;

fn init_root(env: &Env, out: &str, version: u64, root_keys: &[&str]) {
    let expires = format_rfc3339(now() + YEAR);
    let version = version.to_string();
    let mut args = vec![
        "trust",
        "root",
        "init",
        "-o",
        out,
        "--root-version",
        &version,
        "--expires",
        &expires,
        "--threshold",
        "2",
        "--revocation-key",
        "rev-1",
        "--revocation-key",
        "rev-2",
        "--revocation-threshold",
        "2",
    ];
    for k in root_keys {
        args.extend(["--root-key", *k]);
    }
    env.expect(0, &args);
}

#[test]
fn trust_root_and_revocation_list_from_init_to_every_refusal() {
    let env = Env::new();
    for id in ["root-1", "root-2", "root-3", "rev-1", "rev-2", "rel"] {
        env.expect(0, &["keygen", "--id", id]);
    }
    let image = format!("oci:{}:1.0", env.path("image").display());
    let b = env.s("b.ctp");
    env.expect(0, &["pack", &image, "-o", &b, "--key", "rel"]);
    assert_eq!(env.verify(&b).0, 0);
    env.expect(0, &["trust", "root", "show"]);

    // Version 1: k-1 signatures are refused, k install it.
    let r1 = env.s("r1.json");
    init_root(&env, &r1, 1, &["root-1", "root-2", "root-3"]);
    env.expect(0, &["trust", "root", "sign", &r1, "--key", "root-1"]);
    let out = env.expect(3, &["trust", "root", "install", &r1]);
    assert!(out.contains("1 of 2"), "{out}");
    // A signature by a key that is not a root key does not count.
    env.expect(0, &["trust", "root", "sign", &r1, "--key", "rel"]);
    env.expect(3, &["trust", "root", "install", &r1]);
    env.expect(0, &["trust", "root", "sign", &r1, "--key", "root-3"]);
    let out = env.expect(0, &["trust", "root", "install", &r1]);
    assert!(out.contains("installed trust root version 1"), "{out}");
    let show: Value = serde_json::from_str(&env.expect(0, &["trust", "root", "show", "--json"])).unwrap();
    assert_eq!(
        (show["version"].as_u64(), show["expired"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(
        env.verify(&b).0,
        0,
        "a root without a quorum changes nothing for this bundle"
    );

    // Version 2 drops root-3: signed by 2 of version 1's keys and 2 of its own.
    let r2 = env.s("r2.json");
    init_root(&env, &r2, 2, &["root-1", "root-2"]);
    env.expect(0, &["trust", "root", "sign", &r2, "--key", "root-1", "--key", "root-2"]);
    env.expect(0, &["trust", "root", "install", &r2]);
    // Rolled back to version 1: refused, by install and by hand.
    let out = env.expect(78, &["trust", "root", "install", &r1]);
    assert!(out.contains("rollback"), "{out}");
    let installed = fs::read(env.path("home/root.json")).unwrap();
    fs::copy(&r1, env.path("home/root.json")).unwrap();
    let (code, kind, _) = env.verify(&b);
    assert_eq!((code, kind.as_str()), (78, "rollback"));
    fs::write(env.path("home/root.json"), &installed).unwrap();
    assert_eq!(env.verify(&b).0, 0);

    // Revocation lists: k-1 refused; a fresh list revoking the image.
    let report = env.verify(&b).2;
    let image_digest = report["bundle"]["image"]["digest"].as_str().unwrap().to_owned();
    let l1 = env.s("l1.json");
    env.expect(
        0,
        &[
            "revocation",
            "publish",
            "-o",
            &l1,
            "--key",
            "rev-1",
            "--revoke",
            &image_digest,
        ],
    );
    env.expect(3, &["revocation", "fetch", &l1]);
    let l2 = env.s("l2.json");
    env.expect(
        0,
        &[
            "revocation",
            "publish",
            "-o",
            &l2,
            "--key",
            "rev-1",
            "--key",
            "rev-2",
            "--revoke",
            &image_digest,
        ],
    );
    let out = env.expect(0, &["revocation", "fetch", &l2]);
    assert!(out.contains("installed revocation list version 1"), "{out}");
    let (code, kind, v) = env.verify(&b);
    assert_eq!((code, kind.as_str()), (7, "release_revoked"), "{v}");
    let show = env.expect(0, &["revocation", "show"]);
    assert!(show.contains(&image_digest), "{show}");

    // The next list keeps the entries and adds the release key.
    let fp = {
        let j: Value = serde_json::from_str(&env.expect(0, &["key", "list", "--json"])).unwrap();
        j.as_array().unwrap().iter().find(|k| k["id"] == "rel").unwrap()["fingerprint"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let l3 = env.s("l3.json");
    env.expect(
        0,
        &[
            "revocation",
            "publish",
            "-o",
            &l3,
            "--key",
            "rev-1",
            "--key",
            "rev-2",
            "--revoke-key",
            &fp,
        ],
    );
    env.expect(0, &["revocation", "fetch", &l3]);
    let (code, kind, v) = env.verify(&b);
    assert_eq!((code, kind.as_str()), (7, "release_revoked"), "still revoked: {v}");
    // An older list is refused.
    let out = env.expect(78, &["revocation", "fetch", &l2]);
    assert!(out.contains("rollback"), "{out}");

    // Lists made with the library: a fresh one revoking only the key,
    // then a stale one (past its next update), signed by the revocation keys.
    let home = Home::new(env.path("home"));
    let sign_list = |l: RevocationList, name: &str| {
        let mut e = l.to_envelope().unwrap();
        for id in ["rev-1", "rev-2"] {
            e.sign(&home.load_signing_key(id, None).unwrap()).unwrap();
        }
        fs::write(env.path(name), e.to_bytes().unwrap()).unwrap();
        env.s(name)
    };
    let rel = cerro_core::trust::Fingerprint::from_hex(&fp).unwrap();
    let revoked_key = cerro_core::trust::root::RevokedKey {
        fingerprint: rel,
        after: None,
    };
    let l4 = sign_list(
        RevocationList::new(10, now() - 60, now() + 86_400, vec![revoked_key], vec![]).unwrap(),
        "l4.json",
    );
    env.expect(0, &["revocation", "fetch", &l4]);
    let (code, kind, v) = env.verify(&b);
    assert_eq!((code, kind.as_str()), (3, "signer_not_trusted"), "{v}");
    let l5 = sign_list(
        RevocationList::new(11, now() - 3 * 86_400, now() - 86_400, vec![], vec![]).unwrap(),
        "l5.json",
    );
    env.expect(0, &["revocation", "fetch", &l5]);
    let (code, kind, v) = env.verify(&b);
    assert_eq!((code, kind.as_str()), (7, "revocation_stale"), "{v}");
    // ct doctor says so, and shows the root in force.
    let doctor = String::from_utf8(env.run(&["doctor"]).stdout).unwrap();
    assert!(doctor.contains("[ok  ] signed trust root version 2"), "{doctor}");
    assert!(doctor.contains("[FAIL] revocation list version 11"), "{doctor}");
    // A fresh list, and a policy bounding its age to an hour: a list
    // issued two hours ago is stale too.
    let l6 = sign_list(
        RevocationList::new(12, now() - 2 * 3600, now() + 86_400, vec![], vec![]).unwrap(),
        "l6.json",
    );
    env.expect(0, &["revocation", "fetch", &l6]);
    assert_eq!(env.verify(&b).0, 0);
    let policy = env.s("p.json");
    fs::write(
        &policy,
        r#"{"version":"1","default_action":"allow","revocation":{"max_age_hours":1}}"#,
    )
    .unwrap();
    let out = env.run(&["verify", &b, "--policy", &policy]);
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));

    // An expired root (put in place by hand: install refuses it): every
    // verification fails closed.
    let base = cerro_core::trust::root::open_root(&fs::read(&r2).unwrap())
        .unwrap()
        .root;
    let reroot = |version: u64, expires: u64| {
        let r = TrustRoot::new(
            version,
            expires,
            base.root_keys().clone(),
            vec![],
            vec![],
            base.quorum(),
            base.revocation_keys().clone(),
        )
        .unwrap();
        let mut e = r.to_envelope().unwrap();
        for id in ["root-1", "root-2"] {
            e.sign(&home.load_signing_key(id, None).unwrap()).unwrap();
        }
        (r, e.to_bytes().unwrap())
    };
    let (expired, bytes) = reroot(3, now() - 60);
    fs::write(env.path("home/root.json"), &bytes).unwrap();
    let (code, kind, v) = env.verify(&b);
    assert_eq!((code, kind.as_str()), (78, "trust_root_expired"), "{v}");
    let show: Value = serde_json::from_str(&env.expect(0, &["trust", "root", "show", "--json"])).unwrap();
    assert_eq!(show["expired"].as_bool(), Some(true));
    // The expired root still signs its successor, which installs.
    let (_, bytes) = reroot(4, now() + YEAR);
    fs::write(env.path("r4.json"), &bytes).unwrap();
    assert_eq!(expired.version(), 3);
    env.expect(0, &["trust", "root", "install", &env.s("r4.json")]);
    assert_eq!(env.verify(&b).0, 0);
}
