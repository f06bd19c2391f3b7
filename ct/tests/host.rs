//! `ct` on one host with the shim and the hook: the same policy rule
//! (`--policy` > `$CERRO_POLICY` > `<home>/policy.json`, fail closed), the
//! same store under `$CERRO_HOME`, and `ct verify --as-runtime` saying what
//! the daemons would decide. The tests run as root (the daemons' ownership
//! checks then pass on the temporary directories).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use cerro_core::image::layout::{basic_config, LayoutBuilder};

struct Env {
    dir: tempfile::TempDir,
}

const THRESHOLD_2: &str =
    r#"{"version":"1","default_action":"deny","signers":{"allowed":[{"key_id":"*"}],"threshold":2}}"#;
const THRESHOLD_1: &str =
    r#"{"version":"1","default_action":"deny","signers":{"allowed":[{"key_id":"*"}],"threshold":1}}"#;

impl Env {
    /// A one-layer image, a key `alice` and a bundle `b.ctp` signed by it.
    fn new() -> Self {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        let mut b = LayoutBuilder::new(&env.path("image")).unwrap();
        b.layer_tar(&[("hello.txt", 0o644, b"hello\n")]).unwrap();
        b.finish(basic_config(&["/hello.txt"]), Some("1.0")).unwrap();
        env.expect(&[], 0, &["keygen", "--id", "alice"]);
        let image = format!("oci:{}:1.0", env.path("image").display());
        env.expect(&[], 0, &["pack", &image, "-o", &env.s("b.ctp"), "--key", "alice"]);
        env
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn s(&self, p: &str) -> String {
        self.path(p).display().to_string()
    }

    /// Runs ct with CERRO_HOME = `home`, no other CERRO_* variable but
    /// `vars`; asserts the exit code; returns stdout + stderr.
    fn expect(&self, vars: &[(&str, String)], code: i32, args: &[&str]) -> String {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ct"));
        c.args(args).env("CERRO_HOME", self.path("home"));
        for v in [
            "CERRO_STORE",
            "CERRO_POLICY",
            "CERRO_AUDIT_LOG",
            "CERRO_MODE",
            "CERRO_PASSPHRASE",
            "SOURCE_DATE_EPOCH",
        ] {
            c.env_remove(v);
        }
        for (k, v) in vars {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "ct {args:?} {vars:?} gave:\n{text}");
        text
    }
}

/// Issue 13: `ct verify` used only `--policy`, while the shim and the hook
/// use `$CERRO_POLICY`, else `<home>/policy.json`: on one host they could
/// disagree. Now `ct verify` (and every command that verifies) chooses as
/// they do, `--policy` first, and a configured policy that cannot be read
/// refuses.
#[test]
fn ct_chooses_the_policy_as_the_shim_and_the_hook_do() {
    let env = Env::new();
    let b = env.s("b.ctp");
    fs::write(env.path("two.json"), THRESHOLD_2).unwrap();
    fs::write(env.path("one.json"), THRESHOLD_1).unwrap();
    let two = [("CERRO_POLICY", env.s("two.json"))];
    env.expect(&[], 0, &["verify", &b]);
    // $CERRO_POLICY applies.
    let out = env.expect(&two, 4, &["verify", &b]);
    assert!(out.contains("signers.threshold"), "{out}");
    env.expect(&two, 4, &["load", &b]);
    env.expect(&two, 4, &["explain", &b]);
    // --policy wins over it.
    env.expect(&two, 0, &["verify", &b, "--policy", &env.s("one.json")]);
    // <home>/policy.json applies without either.
    fs::write(env.path("home/policy.json"), THRESHOLD_2).unwrap();
    env.expect(&[], 4, &["verify", &b]);
    env.expect(&[("CERRO_POLICY", env.s("one.json"))], 0, &["verify", &b]);
    // Configured but unreadable: refused, never the baseline.
    fs::remove_file(env.path("home/policy.json")).unwrap();
    let missing = [("CERRO_POLICY", env.s("missing.json"))];
    let out = env.expect(&missing, 11, &["verify", &b]);
    assert!(out.contains("missing.json"), "{out}");
    std::os::unix::fs::symlink(env.path("gone.json"), env.path("home/policy.json")).unwrap();
    env.expect(&[], 11, &["verify", &b]);
}

/// `ct verify --as-runtime` loads the daemons' configuration (here
/// `CERRO_HOME` for both, and no `CERRO_STORE`: the store is
/// `$CERRO_HOME/store` for ct and the daemons alike) and says what the shim
/// would decide for the bundle's image: refused before `ct load`, allowed
/// after, on the stored bundle, unrecorded; with the daemons' ownership
/// checks.
#[test]
fn verify_as_runtime_tells_what_the_daemons_would_decide() {
    let env = Env::new();
    let b = env.s("b.ctp");
    let out = env.expect(&[], 5, &["verify", "--as-runtime", &b]);
    assert!(out.contains("verdict     REFUSED (exit 5)"), "{out}");
    assert!(out.contains("stored      none"), "{out}");

    let out = env.expect(&[], 0, &["load", &b]);
    assert!(out.contains(&format!("into {}", env.s("home/store/sha256/"))), "{out}");
    let out = env.expect(&[], 0, &["verify", "--as-runtime", &b]);
    assert!(out.contains("verdict     ALLOWED"), "{out}");
    assert!(out.contains("(this bundle)"), "{out}");
    assert!(
        out.contains(&format!(
            "runtime     home {}, store {}",
            env.s("home"),
            env.s("home/store")
        )),
        "{out}"
    );
    // The decision is the JSON document on stdout (the lines go to stderr).
    let text = env.expect(&[], 0, &["verify", "--as-runtime", "--json", &b]);
    let json: serde_json::Value = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        (json["allowed"].as_bool(), json["component"].as_str()),
        (Some(true), Some("ct"))
    );
    assert!(!env.path("home/store/audit.log").exists(), "a preview is not recorded");

    // Another bundle for the same image is the one the runtime decides on.
    env.expect(&[], 0, &["keygen", "--id", "bob"]);
    let copy = env.s("copy.ctp");
    fs::copy(&b, &copy).unwrap();
    env.expect(&[], 0, &["sign", &copy, "--key", "bob"]);
    let out = env.expect(&[], 0, &["verify", "--as-runtime", &copy]);
    assert!(out.contains("is another bundle for this image"), "{out}");

    // The runtime's policy rule applies; --policy is not the runtime's.
    fs::write(env.path("two.json"), THRESHOLD_2).unwrap();
    let two = [("CERRO_POLICY", env.s("two.json"))];
    env.expect(&two, 4, &["verify", "--as-runtime", &b]);
    env.expect(&[], 64, &["verify", "--as-runtime", &b, "--policy", &env.s("two.json")]);

    // A trust root others can write: the daemons refuse it, and so does
    // the preview of their decision.
    fs::set_permissions(env.path("home"), fs::Permissions::from_mode(0o777)).unwrap();
    let out = env.expect(&[], 78, &["verify", "--as-runtime", &b]);
    assert!(out.contains("is writable by everyone"), "{out}");
}
