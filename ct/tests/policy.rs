//! Deployment policies through the real `ct` binary: threshold groups
//! (k-1 refused, k accepted; duplicate, outside, revoked and expired keys
//! not counted), every rule's refusal (exit 4, the rule named on stderr),
//! `ct explain --policy`, key validity windows and groups, and
//! `ct policy init | show | check` on the shipped examples.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cerro_core::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::timestamp::format_rfc3339;
use cerro_core::trust::home::Home;
use serde_json::{json, Value};

const SLSA: &str = "https://slsa.dev/provenance/v1";
const SPDX: &str = "https://spdx.dev/Document";

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

    fn image(&self) -> String {
        format!("oci:{}:1.0", self.path("image").display())
    }

    /// Runs ct with CERRO_HOME = `home` and the extra environment `vars`.
    fn run(&self, vars: &[(&str, &str)], args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ct"));
        c.args(args)
            .env("CERRO_HOME", self.path("home"))
            .env_remove("CERRO_PASSPHRASE")
            .env_remove("SOURCE_DATE_EPOCH");
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// Runs ct, asserts its exit code, returns (stdout, stderr).
    fn expect_with(&self, vars: &[(&str, &str)], code: i32, args: &[&str]) -> (String, String) {
        let out = self.run(vars, args);
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(out.status.code(), Some(code), "ct {args:?} gave:\n{o}{e}");
        (o, e)
    }

    fn expect(&self, code: i32, args: &[&str]) -> String {
        let (o, e) = self.expect_with(&[], code, args);
        format!("{o}{e}")
    }

    /// Writes `text` as a policy file and returns its path.
    fn policy(&self, name: &str, text: &str) -> String {
        let p = self.s(name);
        fs::write(&p, text).unwrap();
        p
    }

    /// Packs the image signed by `keys`, with SOURCE_DATE_EPOCH `epoch` if given.
    fn pack(&self, out: &str, keys: &[&str], epoch: Option<u64>) -> String {
        let out = self.s(out);
        let image = self.image();
        let mut args = vec!["pack", &image, "-o", &out];
        for k in keys {
            args.extend(["--key", *k]);
        }
        let e = epoch.map(|e| e.to_string());
        let vars: Vec<(&str, &str)> = e.iter().map(|e| ("SOURCE_DATE_EPOCH", e.as_str())).collect();
        self.expect_with(&vars, 0, &args);
        out
    }

    /// The verified report of `bundle` (signers need not satisfy any policy).
    fn report(&self, bundle: &str) -> Value {
        serde_json::from_str(&self.expect(0, &["explain", bundle, "--json"])).unwrap()
    }

    /// `ct verify BUNDLE --policy POLICY`, expecting a refusal by `rule`.
    fn refused_by(&self, bundle: &str, policy: &str, rule: &str) -> String {
        let (_, err) = self.expect_with(&[], 4, &["verify", bundle, "--policy", policy]);
        assert!(
            err.contains(&format!("policy rejection by rule {rule}:")),
            "stderr does not name {rule}:\n{err}"
        );
        err
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Rewrites the bundle `src` into `dst`: the release attestation kept, the
/// other attestations kept only if `keep_others`, `extra` added (members in
/// path order), and `edit_release` applied to the release envelope.
fn rebuild(
    env: &Env,
    src: &str,
    dst: &str,
    keep_others: bool,
    extra: Vec<(String, Vec<u8>)>,
    edit_release: impl Fn(Vec<u8>) -> Vec<u8>,
) {
    let bytes = fs::read(src).unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    let (mut head, mut atts, mut tail) = (Vec::new(), extra, Vec::new());
    let mut mtime = 0;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        mtime = e.header().mtime().unwrap();
        let path = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if path == "attestations/release.dsse.json" {
            atts.push((path, edit_release(data)));
        } else if path.starts_with("attestations/") {
            if keep_others {
                atts.push((path, data));
            }
        } else if path == "manifest.toml" {
            head.push((path, data));
        } else {
            tail.push((path, data));
        }
    }
    atts.sort_by(|a, b| a.0.cmp(&b.0));
    let atts = rebind(env, atts);
    let mut b = tar::Builder::new(Vec::new());
    for (p, d) in head.into_iter().chain(atts).chain(tail) {
        let h = cerro_core::bundle::member_header(&p, d.len() as u64, mtime).unwrap();
        b.append(&h, &d[..]).unwrap();
    }
    fs::write(dst, b.into_inner().unwrap()).unwrap();
}

/// The release statement re-made to bind exactly the other attestations of
/// `atts` (as `ct pack` would have), re-signed by the keys that signed it.
fn rebind(env: &Env, mut atts: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    let bound: Vec<Value> = atts
        .iter()
        .filter(|(p, _)| p != "attestations/release.dsse.json")
        .map(|(p, d)| {
            let e = Envelope::parse(p, d).unwrap();
            json!({"path": p, "digest": cerro_core::digest::Digest::of(&e.payload).to_string()})
        })
        .collect();
    let home = Home::new(env.path("home"));
    let trust = home.load_trust().unwrap();
    for (p, d) in atts.iter_mut().filter(|(p, _)| p == "attestations/release.dsse.json") {
        let mut e = Envelope::parse(p, d).unwrap();
        let mut st: Value = serde_json::from_slice(&e.payload).unwrap();
        if st["predicate"]["attestations"] == json!(bound) {
            continue;
        }
        st["predicate"]["attestations"] = json!(bound);
        e.payload = cerro_core::jcs::to_vec(&st).unwrap();
        let signers: Vec<String> = e.signatures.drain(..).map(|s| s.keyid).collect();
        for fp in signers {
            let fp = cerro_core::trust::Fingerprint::from_hex(&fp).unwrap();
            let id = trust.by_fingerprint(&fp).unwrap().id.clone();
            e.sign(&home.load_signing_key(&id, None).unwrap()).unwrap();
        }
        *d = e.to_bytes().unwrap();
    }
    atts
}

/// An envelope holding a statement about `digest`, signed by `key_id` of the
/// env's home.
fn attestation(env: &Env, key_id: &str, digest: &str, predicate_type: &str, predicate: Value) -> Vec<u8> {
    let st = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "image", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    let mut e = Envelope::new(IN_TOTO_PAYLOAD_TYPE, cerro_core::jcs::to_vec(&st).unwrap());
    e.sign(&Home::new(env.path("home")).load_signing_key(key_id, None).unwrap())
        .unwrap();
    e.to_bytes().unwrap()
}

fn provenance(finished_on: &str, uri: &str) -> Value {
    json!({
        "buildDefinition": {"buildType": "https://example.org/b/v1", "externalParameters": {},
                            "resolvedDependencies": [{"uri": uri}]},
        "runDetails": {"builder": {"id": "https://example.org/builder"},
                       "metadata": {"finishedOn": finished_on}},
    })
}

#[test]
fn threshold_from_a_three_of_five_group() {
    let env = Env::new();
    for k in ["r1", "r2", "r3", "r4", "r5", "outsider"] {
        env.expect(0, &["keygen", "--id", k]);
    }
    let out = env.expect(
        0,
        &[
            "key",
            "group",
            "set",
            "release",
            "--threshold",
            "3",
            "r1",
            "r2",
            "r3",
            "r4",
            "r5",
        ],
    );
    assert!(out.contains("group release: 3 of 5 key(s)"), "{out}");
    let policy = env.policy("p.json", r#"{"version":"1","signers":{"threshold_from":"release"}}"#);
    let b = env.pack("b.ctp", &["r1", "r2"], None);

    // k-1 distinct group signers: refused, naming the rule.
    let err = env.refused_by(&b, &policy, "signers.threshold_from");
    assert!(
        err.contains("2 of 3 required distinct signer(s) of group release (3 of 5)"),
        "{err}"
    );
    // A trusted key outside the group does not count.
    env.expect(0, &["sign", &b, "--key", "outsider"]);
    let err = env.refused_by(&b, &policy, "signers.threshold_from");
    assert!(
        err.contains("outsider: excluded by signers.threshold_from (not in group release)"),
        "{err}"
    );
    // A second copy of every signature (r1, r2, outsider) counts nothing more.
    let dup = env.s("dup.ctp");
    rebuild(&env, &b, &dup, true, vec![], |bytes| {
        let mut e = Envelope::parse("release", &bytes).unwrap();
        let copies = e.signatures.clone();
        e.signatures.extend(copies);
        e.to_bytes().unwrap()
    });
    let err = env.refused_by(&dup, &policy, "signers.threshold_from");
    assert!(err.contains("duplicate signature") && err.contains("2 of 3"), "{err}");
    // k distinct group signers: accepted.
    env.expect(0, &["sign", &b, "--key", "r3"]);
    env.expect(0, &["verify", &b, "--policy", &policy]);
    let out = env.expect(0, &["explain", &b, "--policy", &policy]);
    assert!(out.contains("rule signers.threshold_from -> allow"), "{out}");
    // A revoked member no longer counts.
    env.expect(0, &["key", "revoke", "r3"]);
    let err = env.refused_by(&b, &policy, "signers.threshold_from");
    assert!(err.contains("r3: revoked"), "{err}");
    // Another member restores k; then its window closes and it stops counting.
    env.expect(0, &["sign", &b, "--key", "r4"]);
    env.expect(0, &["verify", &b, "--policy", &policy]);
    env.expect(
        0,
        &[
            "key",
            "trust",
            "r4",
            "ultimate",
            "--valid-until",
            "2020-01-01T00:00:00Z",
        ],
    );
    let err = env.refused_by(&b, &policy, "signers.threshold_from");
    assert!(err.contains("r4: expired"), "{err}");
    // A window that has not opened yet does not count either.
    let later = (now() + 86_400).to_string();
    env.expect(
        0,
        &[
            "key",
            "trust",
            "r4",
            "ultimate",
            "--valid-from",
            &later,
            "--valid-until",
            "none",
        ],
    );
    let err = env.refused_by(&b, &policy, "signers.threshold_from");
    assert!(err.contains("r4: not yet valid"), "{err}");
    env.expect(0, &["key", "trust", "r4", "ultimate", "--valid-from", "none"]);
    env.expect(0, &["verify", &b, "--policy", &policy]);
    // The explain view names the deciding rule of a refusal too.
    env.expect(
        0,
        &[
            "key",
            "group",
            "set",
            "release",
            "--threshold",
            "4",
            "r1",
            "r2",
            "r3",
            "r4",
            "r5",
        ],
    );
    let out = env.expect(4, &["explain", &b, "--policy", &policy]);
    assert!(out.contains("rule signers.threshold_from -> deny"), "{out}");
    // A group the trust store does not define: refused, fail closed.
    env.expect(0, &["key", "group", "remove", "release"]);
    let err = env.refused_by(&b, &policy, "signers.threshold_from");
    assert!(err.contains("group \"release\" is not defined"), "{err}");
}

#[test]
fn groups_and_validity_windows_on_the_command_line() {
    let env = Env::new();
    for k in ["a", "b", "c"] {
        env.expect(0, &["keygen", "--id", k]);
    }
    // Refused groups: exit 78, nothing written.
    for (args, want) in [
        (&["x", "--threshold", "0", "a", "b"][..], "at least 1"),
        (&["x", "--threshold", "3", "a", "b"][..], "more than its 2 key(s)"),
        (
            &["x", "--threshold", "1", "a", "nobody"][..],
            "\"nobody\", which is not in the trust store",
        ),
        (&["x", "--threshold", "1", "a", "a"][..], "twice"),
        (&["../x", "--threshold", "1", "a"][..], "group name"),
    ] {
        let mut full = vec!["key", "group", "set"];
        full.extend(args);
        let out = env.expect(78, &full);
        assert!(out.contains(want), "{args:?}: {out}");
    }
    env.expect(64, &["key", "group", "set", "x", "--threshold", "1"]);
    assert!(env.expect(0, &["key", "group", "list"]).contains("no groups"));
    env.expect(0, &["key", "group", "set", "ops", "--threshold", "2", "a", "b", "c"]);
    let list: Value = serde_json::from_str(&env.expect(0, &["key", "group", "list", "--json"])).unwrap();
    assert_eq!(list, json!([{"name": "ops", "threshold": 2, "keys": ["a", "b", "c"]}]));
    let out = env.expect(0, &["key", "group", "set", "ops", "--threshold", "1", "c"]);
    assert!(out.contains("(replaced)"), "{out}");
    env.expect(0, &["key", "group", "remove", "ops"]);
    env.expect(78, &["key", "group", "remove", "ops"]);

    // Validity windows: RFC 3339 or unix seconds; shown by key list.
    env.expect(0, &["key", "trust", "b", "full", "--valid-until", "1577836800"]);
    env.expect(
        0,
        &["key", "trust", "c", "full", "--valid-from", "2999-01-01T00:00:00+01:00"],
    );
    let list = env.expect(0, &["key", "list"]);
    let line = |id: &str| {
        list.lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap()
            .to_owned()
    };
    assert!(
        line("b").contains("EXPIRED") && line("b").contains("valid ..2020-01-01T00:00:00Z"),
        "{list}"
    );
    assert!(
        line("c").contains("NOT-YET-VALID") && line("c").contains("valid 2998-12-31T23:00:00Z.."),
        "{list}"
    );
    assert!(!line("a").contains("valid"), "{list}");
    let json: Value = serde_json::from_str(&env.expect(0, &["key", "list", "--json"])).unwrap();
    assert_eq!(json[1]["valid_until"], 1_577_836_800);
    // An inverted window, or a time that is neither format, is refused.
    env.expect(
        78,
        &["key", "trust", "c", "full", "--valid-until", "2998-01-01T00:00:00Z"],
    );
    env.expect(78, &["key", "trust", "a", "full", "--valid-from", "yesterday"]);
    env.expect(78, &["key", "trust", "a", "full", "--valid-from", "2026-01-01"]);
}

#[test]
fn each_rule_refuses_with_exit_4_and_names_itself() {
    let env = Env::new();
    env.expect(0, &["keygen", "--id", "alice"]);
    env.expect(0, &["keygen", "--id", "bob"]);
    let recent = now() - 2 * 86_400;
    let b = env.pack("b.ctp", &["alice"], Some(recent));
    let report = env.report(&b);
    let name = report["bundle"]["name"].as_str().unwrap().to_owned();
    let digest = report["bundle"]["image"]["digest"].as_str().unwrap().to_owned();
    let other = format!("sha256:{}", "ab".repeat(32));
    let any = r#""signers":{"allowed":[{"key_id":"*"}]}"#;
    let p = |file: &str, body: &str| {
        let sep = if body.is_empty() { "" } else { "," };
        env.policy(file, &format!(r#"{{"version":"1"{sep}{body}}}"#))
    };

    // `b` as packed: signed provenance with finishedOn = SOURCE_DATE_EPOCH,
    // two days ago. A bundle without extra attestations, which therefore has
    // no build time (its tar mtime is recent but unsigned, so never used);
    // one with signed provenance (finished an hour ago) and an SBOM; and one
    // packed without SOURCE_DATE_EPOCH, whose provenance gives the epoch.
    let bare = env.s("bare.ctp");
    rebuild(&env, &b, &bare, false, vec![], |r| r);
    let rich = env.s("rich.ctp");
    let finished = format_rfc3339(now() - 3_600);
    rebuild(
        &env,
        &b,
        &rich,
        false,
        vec![
            (
                "attestations/provenance.dsse.json".into(),
                attestation(
                    &env,
                    "alice",
                    &digest,
                    SLSA,
                    provenance(&finished, "docker://registry.example.org/team/hello:1.0"),
                ),
            ),
            (
                "attestations/sbom.dsse.json".into(),
                attestation(&env, "alice", &digest, SPDX, json!({})),
            ),
        ],
        |r| r,
    );
    let timeless = env.pack("timeless.ctp", &["alice"], None);

    let (b, bare, rich, timeless) = (b.as_str(), bare.as_str(), rich.as_str(), timeless.as_str());
    let pin_digest = format!(r#""pin":{{"{name}":{{"digest":"{other}"}}}},{any}"#);
    let pin_signers = format!(r#""pin":{{"{name}":{{"digest":"{digest}","signers":["bob"]}}}},{any}"#);
    // (policy file, body, refused bundle, allowed bundle, rule)
    let cases: Vec<(&str, String, &str, Option<&str>, String)> = vec![
        ("d.json", String::new(), bare, None, "default_action".into()),
        (
            "t.json",
            r#""signers":{"allowed":[{"key_id":"*"}],"threshold":2}"#.into(),
            bare,
            None,
            "signers.threshold".into(),
        ),
        (
            "a.json",
            r#""signers":{"allowed":[{"key_id":"bob"}]}"#.into(),
            bare,
            None,
            "signers.threshold".into(),
        ),
        (
            "r.json",
            r#""signers":{"allowed":[{"key_id":"*"},{"key_id":"bob","required":true}]}"#.into(),
            bare,
            None,
            "signers.allowed[1].required".into(),
        ),
        (
            "n.json",
            r#""signers":{"allowed":[{"key_id":"*"}],"denied":[{"key_id":"alice"}]}"#.into(),
            bare,
            None,
            "signers.threshold".into(),
        ),
        (
            "dd.json",
            r#""signers":{"allowed":[{"key_id":"*"}],"denied":[{"key_id":"alice","after":"2020-01-01T00:00:00Z"}]}"#
                .into(),
            bare,
            None,
            "signers.denied[0]".into(),
        ),
        (
            "g.json",
            r#""signers":{"threshold_from":"nope"}"#.into(),
            bare,
            None,
            "signers.threshold_from".into(),
        ),
        (
            "ra.json",
            format!(r#""registries":{{"allowed":["registry.example.org/*"]}},{any}"#),
            bare,
            Some(rich),
            "registries.allowed".into(),
        ),
        (
            "rb.json",
            format!(r#""registries":{{"blocked":["*/team/*"]}},{any}"#),
            rich,
            Some(bare),
            "registries.blocked".into(),
        ),
        (
            "ap.json",
            format!(r#""require_attestations":{{"provenance":true}},{any}"#),
            bare,
            Some(rich),
            "require_attestations.provenance".into(),
        ),
        (
            "as.json",
            format!(r#""require_attestations":{{"sbom":true}},{any}"#),
            bare,
            Some(rich),
            "require_attestations.sbom".into(),
        ),
        (
            "at.json",
            format!(r#""require_attestations":{{"transparency_log":true}},{any}"#),
            rich,
            None,
            "transparency.logs".into(),
        ),
        ("pd.json", pin_digest, bare, None, format!("pin.{name}.digest")),
        ("ps.json", pin_signers, bare, None, format!("pin.{name}.signers")),
        (
            "ma.json",
            format!(r#""time":{{"max_age_days":1}},{any}"#),
            b,
            Some(rich),
            "time.max_age_days".into(),
        ),
        (
            "mt.json",
            format!(r#""time":{{"max_age_days":30}},{any}"#),
            bare,
            Some(b),
            "time.max_age_days".into(),
        ),
        (
            "me.json",
            format!(r#""time":{{"max_age_days":30}},{any}"#),
            timeless,
            Some(b),
            "time.max_age_days".into(),
        ),
    ];
    for (file, body, refused, allowed, rule) in cases {
        let policy = p(file, &body);
        let err = env.refused_by(refused, &policy, &rule);
        if ["dd.json", "mt.json", "me.json"].contains(&file) {
            assert!(err.contains("the bundle has no build time"), "{err}");
            assert!(!err.contains("mtime"), "{err}");
        }
        if file == "ma.json" {
            assert!(err.contains("(provenance finishedOn), 2 day(s) ago"), "{err}");
        }
        let out = env.expect(4, &["explain", refused, "--policy", &policy]);
        assert!(out.contains(&format!("policy      rule {rule} -> deny")), "{out}");
        if let Some(ok) = allowed {
            env.expect(0, &["verify", ok, "--policy", &policy]);
        }
    }
    // The denied and allowed filters name themselves in the threshold's reason.
    let err = env.refused_by(bare, &env.s("n.json"), "signers.threshold");
    assert!(err.contains("alice: excluded by signers.denied[0]"), "{err}");
    let err = env.refused_by(bare, &env.s("a.json"), "signers.threshold");
    assert!(
        err.contains("alice: excluded by signers.allowed (no entry matches)"),
        "{err}"
    );
    // --json carries the decision.
    let out = env.run(&[], &["verify", bare, "--json", "--policy", &env.s("ap.json")]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["exit_code"], 4);
    assert_eq!(json["policy"]["rule"], "require_attestations.provenance");
    assert_eq!(json["policy"]["allowed"], false);
}

#[test]
fn policy_init_show_and_check() {
    let env = Env::new();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/examples");
    for name in ["strict.json", "permissive.json"] {
        let file = examples.join(name).display().to_string();
        let out = env.expect(0, &["policy", "check", &file]);
        assert!(out.contains("valid policy"), "{out}");
        // init prints exactly the shipped example.
        let flag = format!("--{}", name.trim_end_matches(".json"));
        let (printed, _) = env.expect_with(&[], 0, &["policy", "init", &flag]);
        assert_eq!(printed, fs::read_to_string(examples.join(name)).unwrap());
    }
    let (starter, _) = env.expect_with(&[], 0, &["policy", "init"]);
    let starter_file = env.policy("starter.json", &starter);
    env.expect(0, &["policy", "check", &starter_file]);
    env.expect(64, &["policy", "init", "--strict", "--permissive"]);

    // show: normalised JSON (defaults explicit) that reads back, then English.
    let file = env.policy(
        "p.json",
        r#"{"version":"1","signers":{"allowed":[{"key_id":"rel-*"}]}}"#,
    );
    let (out, _) = env.expect_with(&[], 0, &["policy", "show", &file]);
    let (json, summary) = out.split_once("\n\n").unwrap();
    let v: Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["default_action"], "deny");
    assert_eq!(v["signers"]["threshold"], 1);
    assert_eq!(v["signers"]["min_trust"], "full");
    assert!(summary.contains("at least 1 distinct key(s)"), "{summary}");
    let normalised = env.policy("n.json", json);
    env.expect(0, &["policy", "check", &normalised]);

    // check: 78 with the reason, 11 for an unreadable file.
    let bad = env.policy(
        "bad.json",
        r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}],"threshold":2,"threshold_from":"g"}}"#,
    );
    let out = env.expect(78, &["policy", "check", &bad]);
    assert!(out.contains("invalid policy") && out.contains("both given"), "{out}");
    env.expect(11, &["policy", "check", &env.s("missing.json")]);
    // Policy commands need no state directory.
    let out = Command::new(env!("CARGO_BIN_EXE_ct"))
        .args(["policy", "check", &starter_file])
        .env_remove("CERRO_HOME")
        .env_remove("HOME")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    assert!(out.status.success());
}
