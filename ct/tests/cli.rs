//! The `ct` command-line contract, exercised through the real binary: each
//! documented exit code, key management, co-signing against a policy
//! threshold, unpack, diff, and PEM interop with openssl.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::io::Read;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cerro_core::image::layout::{basic_config, LayoutBuilder};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        // A three-layer image, one layer above the 1 MiB hashing chunk.
        let mut b = LayoutBuilder::new(&env.path("image")).unwrap();
        b.layer_tar(&[("hello.txt", 0o644, b"hello\n")]).unwrap();
        let big: Vec<u8> = (0..1_500_001u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        b.layer_tar(&[("big.bin", 0o644, &big)]).unwrap();
        b.layer_tar(&[("etc/motd", 0o644, b"welcome\n")]).unwrap();
        b.finish(basic_config(&["/hello.txt"]), Some("1.0")).unwrap();
        env
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn image(&self) -> String {
        format!("oci:{}:1.0", self.path("image").display())
    }

    /// Runs ct with `home` as CERRO_HOME.
    fn ct_in(&self, home: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ct"))
            .args(args)
            .env("CERRO_HOME", self.path(home))
            .env_remove("CERRO_PASSPHRASE")
            .env_remove("SOURCE_DATE_EPOCH")
            .output()
            .unwrap()
    }

    fn ct(&self, args: &[&str]) -> Output {
        self.ct_in("home", args)
    }

    /// Runs ct and asserts its exit code; returns stdout + stderr.
    fn expect(&self, code: i32, args: &[&str]) -> String {
        self.expect_in("home", code, args)
    }

    fn expect_in(&self, home: &str, code: i32, args: &[&str]) -> String {
        let out = self.ct_in(home, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "ct {args:?} gave:\n{text}");
        text
    }

    fn s(&self, p: &str) -> String {
        self.path(p).display().to_string()
    }

    /// keygen alice + pack signed by alice.
    fn packed(&self) -> String {
        self.expect(0, &["keygen", "--id", "alice"]);
        let out = self.s("b.ctp");
        self.expect(0, &["pack", &self.image(), "-o", &out, "--key", "alice"]);
        out
    }
}

/// Offsets and sizes of each member's data.
fn members(bytes: &[u8]) -> Vec<(String, u64, u64)> {
    let mut ar = tar::Archive::new(bytes);
    ar.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path().unwrap().display().to_string(), e.raw_file_position(), e.size())
        })
        .collect()
}

/// Rewrites a bundle's tar with `edit` applied to each (path, data); `None` drops the member.
fn rewrite(src: &Path, dst: &Path, edit: impl Fn(&str, Vec<u8>) -> Vec<(String, Vec<u8>)>) {
    let bytes = fs::read(src).unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    let mut b = tar::Builder::new(Vec::new());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        for (p, d) in edit(&path, data) {
            let h = cerro_core::bundle::member_header(&p, d.len() as u64, 0).unwrap();
            b.append(&h, &d[..]).unwrap();
        }
    }
    fs::write(dst, b.into_inner().unwrap()).unwrap();
}

#[test]
fn pack_verify_explain_round_trip() {
    let env = Env::new();
    let b = env.packed();
    let out = env.expect(0, &["verify", &b]);
    assert!(out.contains("valid:"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&env.expect(0, &["verify", &b, "--json"])).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["bundle"]["layers"].as_array().unwrap().len(), 3);
    let explain = env.expect(0, &["explain", &b]);
    for want in ["layer 3", "alice", "counted", "VALID"] {
        assert!(explain.contains(want), "explain lacks {want}:\n{explain}");
    }
}

#[test]
fn repacking_is_byte_identical_and_honours_source_date_epoch() {
    let env = Env::new();
    let b = env.packed();
    let b2 = env.s("b2.ctp");
    env.expect(0, &["pack", &env.image(), "-o", &b2, "--key", "alice"]);
    assert_eq!(fs::read(&b).unwrap(), fs::read(&b2).unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_ct"))
        .args(["pack", &env.image(), "-o", &env.s("b3.ctp"), "--key", "alice"])
        .env("CERRO_HOME", env.path("home"))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(out.status.success());
    let b3 = fs::read(env.path("b3.ctp")).unwrap();
    assert_ne!(fs::read(&b).unwrap(), b3);
    let mut ar = tar::Archive::new(&b3[..]);
    for e in ar.entries().unwrap() {
        assert_eq!(e.unwrap().header().mtime().unwrap(), 1_700_000_000);
    }
}

#[test]
fn exit_1_for_a_tampered_layer() {
    let env = Env::new();
    let b = env.packed();
    let mut bytes = fs::read(&b).unwrap();
    let (path, off, size) = members(&bytes).into_iter().last().unwrap();
    bytes[(off + size / 2) as usize] ^= 1;
    let t = env.s("t.ctp");
    fs::write(&t, &bytes).unwrap();
    let out = env.expect(1, &["verify", &t]);
    assert!(out.contains("digest mismatch") && out.contains(&path), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&env.ct(&["verify", &t, "--json"]).stdout).as_ref()).unwrap();
    assert_eq!(json["exit_code"], 1);
    assert_eq!(json["error_kind"], "digest_mismatch");
}

#[test]
fn exit_2_for_a_forged_signature() {
    let env = Env::new();
    let b = env.packed();
    let t = env.s("t.ctp");
    rewrite(Path::new(&b), Path::new(&t), |p, d| {
        if p != "attestations/release.dsse.json" {
            return vec![(p.into(), d)];
        }
        // Swap one base64 character in the middle of the signature: same
        // length, still canonical, different signature bytes.
        let s = String::from_utf8(d).unwrap();
        let at = s.find("\"sig\":\"").unwrap() + 7 + 20;
        let mut b = s.into_bytes();
        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
        vec![(p.into(), b)]
    });
    let out = env.expect(2, &["verify", &t]);
    assert!(out.contains("does not verify") && out.contains("alice"), "{out}");
}

#[test]
fn exit_3_for_unknown_untrusted_and_revoked_signers() {
    let env = Env::new();
    let b = env.packed();
    // Unknown: a host with an empty trust store.
    let out = env.expect_in("other", 3, &["verify", &b]);
    assert!(out.contains("not in the trust store"), "{out}");
    // Imported keys start untrusted; trusted full they count.
    let pem = env.s("alice.pem");
    env.expect(0, &["key", "export", "alice", "-o", &pem]);
    env.expect_in("other", 0, &["key", "import", &pem, "--id", "alice"]);
    let out = env.expect_in("other", 3, &["verify", &b]);
    assert!(out.contains("trust level untrusted"), "{out}");
    env.expect_in("other", 0, &["key", "trust", "alice", "marginal"]);
    let out = env.expect_in("other", 3, &["verify", &b]);
    assert!(out.contains("trust level marginal"), "{out}");
    env.expect_in("other", 0, &["key", "trust", "alice", "full"]);
    env.expect_in("other", 0, &["verify", &b]);
    // Revocation takes effect at the next verify.
    env.expect_in("other", 0, &["key", "revoke", "alice"]);
    let out = env.expect_in("other", 3, &["verify", &b]);
    assert!(out.contains("revoked"), "{out}");
}

#[test]
fn exit_4_threshold_counts_distinct_trusted_cosigners() {
    let env = Env::new();
    let b = env.packed();
    env.expect(0, &["keygen", "--id", "bob"]);
    let policy = env.s("policy.json");
    fs::write(
        &policy,
        r#"{"version":"1","default_action":"deny","signers":{"allowed":[{"key_id":"*"}],"threshold":2}}"#,
    )
    .unwrap();
    // k-1 signatures: refused by the policy, naming the rule.
    let out = env.expect(4, &["verify", &b, "--policy", &policy]);
    assert!(out.contains("signers.threshold") && out.contains("1 of 2"), "{out}");
    // The same key again does not count twice (and leaves the bytes as they were).
    let before = fs::read(&b).unwrap();
    env.expect(0, &["sign", &b, "--key", "alice"]);
    assert_eq!(before, fs::read(&b).unwrap());
    env.expect(4, &["verify", &b, "--policy", &policy]);
    // k distinct signatures: accepted.
    env.expect(0, &["sign", &b, "--key", "bob"]);
    env.expect(0, &["verify", &b, "--policy", &policy]);
    // A denied signer stops counting.
    fs::write(
        &policy,
        r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}],"denied":[{"key_id":"bo?"}],"threshold":2}}"#,
    )
    .unwrap();
    let out = env.expect(4, &["verify", &b, "--policy", &policy]);
    assert!(out.contains("signers.denied"), "{out}");
    // A revoked co-signer does not count either.
    fs::write(
        &policy,
        r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}],"threshold":2}}"#,
    )
    .unwrap();
    env.expect(0, &["key", "revoke", "bob"]);
    env.expect(4, &["verify", &b, "--policy", &policy]);
    // An invalid policy is a configuration error, never a pass.
    fs::write(&policy, r#"{"version":"1","signers":{"allowed":[],"threshold":0}}"#).unwrap();
    env.expect(78, &["verify", &b, "--policy", &policy]);
}

#[test]
fn exit_5_without_a_release_attestation() {
    let env = Env::new();
    let b = env.packed();
    let t = env.s("t.ctp");
    rewrite(Path::new(&b), Path::new(&t), |p, d| {
        if p.starts_with("attestations/") {
            vec![]
        } else {
            vec![(p.into(), d)]
        }
    });
    let out = env.expect(5, &["verify", &t]);
    assert!(out.contains("missing attestation"), "{out}");
}

#[test]
fn exit_10_for_hostile_bundles() {
    let env = Env::new();
    let b = env.packed();
    let t = env.s("t.ctp");
    fs::write(&t, b"this is not a tar archive at all, not even close").unwrap();
    env.expect(10, &["verify", &t]);
    for (name, want) in [
        ("../escape", "unsafe member path"),
        ("/etc/passwd", "unsafe member path"),
        ("extra.txt", "unexpected member"),
    ] {
        let mut bytes = Vec::new();
        {
            let mut builder = tar::Builder::new(&mut bytes);
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // Write the raw name so the tar crate does not sanitise it.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            builder.append(&h, &b"x"[..]).unwrap();
            builder.finish().unwrap();
        }
        fs::write(&t, &bytes).unwrap();
        for cmd in ["verify", "explain"] {
            let out = env.expect(10, &[cmd, &t]);
            assert!(out.contains(want), "{name}: {out}");
        }
        let dest = env.path("unpacked-hostile");
        env.expect(10, &["unpack", &t, "-o", &dest.display().to_string()]);
        assert!(!dest.exists());
    }
    // Truncated.
    let bytes = fs::read(&b).unwrap();
    fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    env.expect(10, &["verify", &t]);
}

#[test]
fn exit_11_64_and_78() {
    let env = Env::new();
    env.expect(11, &["verify", &env.s("does-not-exist.ctp")]);
    env.expect(64, &["verify"]);
    env.expect(64, &["no-such-command"]);
    env.expect(78, &["pack", &env.image(), "-o", &env.s("x.ctp"), "--key", "nobody"]);
    env.expect(78, &["key", "trust", "nobody", "full"]);
    env.expect(0, &["keygen", "--id", "alice"]);
    env.expect(78, &["keygen", "--id", "alice"]);
    env.expect(78, &["keygen", "--id", "../evil"]);
    env.expect(78, &["key", "trust", "alice", "absolute"]);
    let man = env.expect(0, &["man", "exit-codes"]);
    for code in [
        "  0", "  1", "  2", "  3", "  4", "  5", " 10", " 11", " 12", " 64", " 78",
    ] {
        assert!(man.contains(code), "man exit-codes lacks {code}");
    }
}

/// `--json` errors carry the variant (`kind`, stable snake_case) beside the
/// exit code, the failed check (`error_kind`) and the message.
#[test]
fn json_errors_name_their_kind_beside_the_exit_code() {
    let env = Env::new();
    let b = env.packed();
    let json = |home: &str, args: &[&str]| -> (Option<i32>, serde_json::Value) {
        let out = env.ct_in(home, args);
        let v = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("ct {args:?}: no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        (out.status.code(), v)
    };
    // A directory is not a bundle: refused before any report exists.
    let (code, v) = json("home", &["verify", &env.s("image"), "--json"]);
    assert_eq!(code, Some(78), "{v}");
    assert_eq!(
        (&v["exit_code"], &v["kind"], &v["error_kind"], &v["valid"]),
        (&78.into(), &"not_regular_file".into(), &"config".into(), &false.into()),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("must be a regular file"), "{v}");
    // A missing bundle: an I/O error.
    let (code, v) = json("home", &["verify", &env.s("missing.ctp"), "--json"]);
    assert_eq!(
        (code, &v["kind"], &v["exit_code"]),
        (Some(11), &"io".into(), &11.into()),
        "{v}"
    );
    // A trust store that does not parse names the store.
    fs::write(env.path("home/trust.toml"), "keys = 1\n").unwrap();
    let (code, v) = json("home", &["verify", &b, "--json"]);
    assert_eq!(
        (code, &v["kind"], &v["error_kind"]),
        (Some(78), &"invalid_trust_store".into(), &"config".into()),
        "{v}"
    );
    // A policy that does not parse.
    fs::write(env.path("bad-policy.json"), "{").unwrap();
    let (code, v) = json(
        "other",
        &["verify", &b, "--json", "--policy", &env.s("bad-policy.json")],
    );
    assert_eq!((code, &v["kind"]), (Some(78), &"invalid_policy".into()), "{v}");
}

#[test]
fn unpack_writes_the_verified_layout_only() {
    let env = Env::new();
    let b = env.packed();
    let dest = env.path("layout");
    env.expect(0, &["unpack", &b, "-o", &dest.display().to_string()]);
    let src = cerro_core::image::source::SourceImage::open(&env.image()).unwrap();
    let back = cerro_core::image::source::SourceImage::open(&format!("oci:{}", dest.display())).unwrap();
    assert_eq!(src.manifest, back.manifest);
    assert_eq!(src.parts, back.parts);
    for blob in back.parts.blobs() {
        let data = fs::read(dest.join("blobs/sha256").join(blob.digest.hex())).unwrap();
        assert_eq!(cerro_core::digest::Digest::of(&data), blob.digest);
    }
    // A refused bundle leaves nothing behind.
    let mut bytes = fs::read(&b).unwrap();
    let (_, off, _) = members(&bytes).into_iter().last().unwrap();
    bytes[off as usize] ^= 0xff;
    let t = env.s("t.ctp");
    fs::write(&t, &bytes).unwrap();
    let dest2 = env.path("layout2");
    env.expect(1, &["unpack", &t, "-o", &dest2.display().to_string()]);
    assert!(!dest2.exists());
    let leftovers: Vec<_> = fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ct-unpack-"))
        .collect();
    assert!(leftovers.is_empty(), "staging directories left behind");
    // Refuses to write into a non-empty directory.
    env.expect(78, &["unpack", &b, "-o", &dest.display().to_string()]);
}

#[test]
fn diff_names_changed_fields_layers_and_signers() {
    let env = Env::new();
    let b = env.packed();
    env.expect(0, &["keygen", "--id", "bob"]);
    let m = env.s("m.toml");
    fs::write(
        &m,
        "[package]\nname = \"hello\"\nversion = \"2.0\"\nsummary = \"second\"\n",
    )
    .unwrap();
    let b2 = env.s("b2.ctp");
    env.expect(0, &["pack", &env.image(), "-o", &b2, "--key", "bob", "--manifest", &m]);
    let out = env.expect(0, &["diff", &b, &b2]);
    for want in [
        "package.version",
        "2.0",
        "package.summary",
        "image     same",
        "+ bob",
        "- alice",
    ] {
        assert!(out.contains(want), "diff lacks {want}:\n{out}");
    }
}

#[test]
fn encrypted_keys_need_their_passphrase() {
    let env = Env::new();
    let pass = env.path("pass");
    fs::write(&pass, "s3cret\n").unwrap();
    let p = pass.display().to_string();
    env.expect(78, &["keygen", "--id", "enc", "--encrypt"]);
    env.expect(0, &["keygen", "--id", "enc", "--encrypt", "--passphrase-file", &p]);
    let key = fs::read_to_string(env.path("home/private/enc.key")).unwrap();
    assert!(key.contains("ENCRYPTED PRIVATE KEY"));
    let out = env.expect(78, &["pack", &env.image(), "-o", &env.s("e.ctp"), "--key", "enc"]);
    assert!(out.contains("encrypted"), "{out}");
    env.expect(
        0,
        &[
            "pack",
            &env.image(),
            "-o",
            &env.s("e.ctp"),
            "--key",
            "enc",
            "--passphrase-file",
            &p,
        ],
    );
    env.expect(0, &["verify", &env.s("e.ctp")]);
}

#[test]
fn exported_keys_are_pem_spki_that_openssl_reads() {
    let env = Env::new();
    env.expect(0, &["keygen", "--id", "alice"]);
    let list: serde_json::Value = serde_json::from_str(&env.expect(0, &["key", "list", "--json"])).unwrap();
    let fp = list[0]["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["trust"], "ultimate");
    let pem = env.s("alice.pem");
    env.expect(0, &["key", "export", "alice", "-o", &pem]);
    assert!(fs::read_to_string(&pem)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    // The fingerprint is the SHA-256 of the DER SPKI, as openssl writes it.
    let der = Command::new("openssl")
        .args(["pkey", "-pubin", "-in", &pem, "-outform", "DER"])
        .output()
        .expect("openssl is installed by scripts/install-deps");
    assert!(der.status.success());
    assert_eq!(cerro_core::digest::Digest::of(&der.stdout).hex(), fp);
    // And the private key is PKCS#8 that openssl parses, mode 0600.
    use std::os::unix::fs::PermissionsExt;
    let priv_path = env.path("home/private/alice.key");
    assert_eq!(fs::metadata(&priv_path).unwrap().permissions().mode() & 0o777, 0o600);
    let ok = Command::new("openssl")
        .args(["pkey", "-in", &priv_path.display().to_string(), "-noout"])
        .status()
        .unwrap();
    assert!(ok.success());
    // The encrypted form (scrypt + AES-256-CBC PKCS#8) opens in openssl with the passphrase.
    let pass = env.path("pass");
    fs::write(&pass, "s3cret").unwrap();
    env.expect(
        0,
        &[
            "keygen",
            "--id",
            "enc",
            "--encrypt",
            "--passphrase-file",
            &pass.display().to_string(),
        ],
    );
    let ok = Command::new("openssl")
        .args([
            "pkey",
            "-in",
            &env.s("home/private/enc.key"),
            "-passin",
            "pass:s3cret",
            "-noout",
        ])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn demo_version_completions_and_man_work() {
    let env = Env::new();
    let out = env.expect(0, &["demo"]);
    assert!(out.contains("demo complete"), "{out}");
    assert!(
        out.contains("refused (exit 1)") && out.contains("refused (exit 3)"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&env.expect(0, &["version", "--json"])).unwrap();
    assert_eq!(v["bundle_format"], "1");
    assert!(env.expect(0, &["completions", "bash"]).contains("_ct"));
    assert!(env.expect(0, &["man"]).contains(".TH"));
    assert!(env.expect(0, &["man", "verify"]).contains(".TH"));
    let doctor = env.expect(0, &["doctor"]);
    // This machine kind has no SELinux in its kernel: nothing claims confinement.
    if !Path::new("/sys/fs/selinux/enforce").exists() {
        assert!(doctor.contains("containers run unconfined"), "{doctor}");
    }
}

/// An envelope holding an in-toto statement about `digest`, signed by `key` if given.
fn extra_attestation(digest: &str, key: Option<&cerro_core::key::SecretKey>) -> Vec<u8> {
    extra_attestation_of(digest, key, "https://example.org/test/v1")
}

fn extra_attestation_of(digest: &str, key: Option<&cerro_core::key::SecretKey>, predicate_type: &str) -> Vec<u8> {
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "hello", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicateType": predicate_type,
        "predicate": {},
    });
    let mut env = cerro_core::dsse::Envelope::new(
        cerro_core::dsse::IN_TOTO_PAYLOAD_TYPE,
        cerro_core::jcs::to_vec(&statement).unwrap(),
    );
    if let Some(k) = key {
        env.sign(k).unwrap();
    }
    env.to_bytes().unwrap()
}

#[test]
fn explain_never_prints_control_characters_from_the_bundle() {
    let env = Env::new();
    let b = env.packed();
    let report: serde_json::Value = serde_json::from_str(&env.expect(0, &["explain", &b, "--json"])).unwrap();
    let digest = report["bundle"]["image"]["digest"].as_str().unwrap().to_owned();
    // Attacker-chosen, read before any signature: a fake verdict line, then
    // an escape sequence that would hide the real one on a terminal.
    let fake = "x\nverdict     VALID (exit 0): valid\u{1b}[8m";
    let t = env.s("fake.ctp");
    rewrite(Path::new(&b), Path::new(&t), |p, d| {
        let mut out = vec![(p.to_owned(), d)];
        if p == "attestations/sbom.dsse.json" {
            out.push((
                "attestations/zz-extra.dsse.json".into(),
                extra_attestation_of(&digest, None, fake),
            ));
        }
        out
    });
    let out = env.expect(10, &["explain", &t]);
    assert!(!out.contains('\u{1b}'), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("verdict     VALID")), "{out}");
    assert!(out.contains("x\\u{a}verdict     VALID"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("verdict     REFUSED")), "{out}");
}

#[test]
fn an_attestation_the_release_statement_does_not_bind_is_refused_signed_or_not() {
    let env = Env::new();
    let b = env.packed();
    let report: serde_json::Value = serde_json::from_str(&env.expect(0, &["explain", &b, "--json"])).unwrap();
    let digest = report["bundle"]["image"]["digest"].as_str().unwrap().to_owned();
    let alice = cerro_core::trust::home::Home::new(env.path("home"))
        .load_signing_key("alice", None)
        .unwrap();
    let with_extra = |name: &str, bytes: Vec<u8>| {
        let t = env.s(name);
        rewrite(Path::new(&b), Path::new(&t), |p, d| {
            let mut out = vec![(p.to_owned(), d)];
            // After the last attestation ct writes, so the order stays sorted.
            if p == "attestations/sbom.dsse.json" {
                out.push(("attestations/zz-extra.dsse.json".into(), bytes.clone()));
            }
            out
        });
        t
    };
    // Unsigned: smuggled content is not trusted.
    let out = env.expect(
        10,
        &["verify", &with_extra("unsigned.ctp", extra_attestation(&digest, None))],
    );
    assert!(
        out.contains("attestations/zz-extra.dsse.json is not bound by the release statement"),
        "{out}"
    );
    // Signed by a trusted key, about this image, but added after the release
    // was signed: the release signers did not endorse it, so it is refused
    // (it could otherwise feed the policy facts of a later co-signature).
    let late = with_extra("signed.ctp", extra_attestation(&digest, Some(&alice)));
    let out = env.expect(10, &["explain", &late]);
    assert!(out.contains("not bound") && out.contains("REFUSED"), "{out}");
    // Signed, but about another image: refused.
    let other = format!("sha256:{}", "ab".repeat(32));
    env.expect(
        10,
        &[
            "verify",
            &with_extra("other.ctp", extra_attestation(&other, Some(&alice))),
        ],
    );
}

#[test]
fn manifest_strings_must_be_single_lines_and_references_agree() {
    let env = Env::new();
    env.expect(0, &["keygen", "--id", "alice"]);
    let m = env.s("m.toml");
    for bad in [
        "[package]\nname = \"hello\"\nversion = \"1\"\n[runtime]\nentrypoint = [\"/bin/sh\\nrm -rf /\"]\n",
        "[package]\nname = \"hello\"\nversion = \"1\"\n[build]\nbuilder = \"a\\u0000b\"\n",
        "[package]\nname = \"hello\"\nversion = \"1\"\nhomepage = \"not a url\"\n",
        "[package]\nname = \"hello\"\nversion = \"1\"\n[image]\nreference = \"2.0\"\n",
        "[package]\nname = \"Hello\"\nversion = \"1\"\n",
        "[package]\nname = \"hello\"\nversion = \"1\"\nsurprise = true\n",
    ] {
        fs::write(&m, bad).unwrap();
        let out = env.expect(
            10,
            &[
                "pack",
                &env.image(),
                "-o",
                &env.s("x.ctp"),
                "--key",
                "alice",
                "--manifest",
                &m,
            ],
        );
        assert!(out.contains("manifest"), "{bad}: {out}");
        assert!(!env.path("x.ctp").exists());
    }
}

/// A reader that goes away (`ct man bundle | head -n1`) ends ct quietly
/// with 141 (128 + SIGPIPE), as other Unix tools end, instead of a panic.
/// Failed before: "failed printing to stdout: Broken pipe", exit 101.
#[test]
fn a_closed_pipe_ends_ct_quietly() {
    use std::process::Stdio;
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ct"))
        .args(["man", "bundle"])
        .env("CERRO_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe while ct still has pages to write.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

/// A multi-platform bundle carries one SBOM per platform (#15): `ct sbom`
/// prints this host's, `--platform` picks another by `ct pack
/// --platform`'s rule (`linux/arm64` selects `linux/arm64/v8`), and a
/// platform the bundle does not have is refused as `ct pack` refuses it
/// (exit 78) naming the ones it has.
#[test]
fn ct_sbom_of_a_multi_platform_bundle_is_per_platform() {
    use cerro_core::image::layout::{platform_config, write_platform_index};
    use cerro_core::image::{host_architecture, Platform};
    let env = Env::new();
    let dir = env.path("multi");
    let host = host_architecture();
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    let mut entries = Vec::new();
    // The other platform has a variant, as registries' arm64 images do.
    let variant = if other == "arm64" { "v8" } else { "v2" };
    for arch in [host, other] {
        let mut b = LayoutBuilder::new(&dir).unwrap();
        b.layer_tar(&[("bin/app", 0o755, format!("binary for {arch}\n").as_bytes())])
            .unwrap();
        let mut config = platform_config("linux", arch, &["/bin/app"]);
        let variant = (arch == other).then(|| variant.to_owned());
        if let Some(v) = &variant {
            config["variant"] = serde_json::json!(v);
        }
        let m = b.finish_image(config).unwrap();
        entries.push((
            m,
            Platform {
                os: "linux".into(),
                architecture: arch.into(),
                variant,
            },
        ));
    }
    write_platform_index(&dir, &entries, Some("1")).unwrap();
    env.expect(0, &["keygen", "--id", "alice"]);
    let out = env.s("m.ctp");
    env.expect(
        0,
        &[
            "pack",
            &format!("oci:{}:1", dir.display()),
            "-o",
            &out,
            "--key",
            "alice",
        ],
    );
    let sha = |arch: &str| cerro_core::digest::Digest::of(format!("binary for {arch}\n").as_bytes()).hex();

    let mine = env.expect(0, &["sbom", &out]);
    assert!(mine.contains(&sha(host)) && !mine.contains(&sha(other)), "{mine}");
    let theirs = env.expect(0, &["sbom", &out, "--platform", &format!("linux/{other}")]);
    assert!(theirs.contains(&sha(other)) && !theirs.contains(&sha(host)), "{theirs}");
    let exact = env.expect(0, &["sbom", &out, "--platform", &format!("linux/{other}/{variant}")]);
    assert_eq!(exact, theirs);
    let none = env.expect(78, &["sbom", &out, "--platform", "linux/s390x"]);
    assert!(
        none.contains("has no image for platform linux/s390x") && none.contains(&format!("linux/{other}/{variant}")),
        "{none}"
    );
    env.expect(78, &["sbom", &out, "--platform", &format!("linux/{other}/v9")]);
    env.expect(78, &["sbom", &out, "--platform", "linux"]);
    // A single-platform bundle: --platform must be its own.
    let single = env.s("b.ctp");
    env.expect(0, &["pack", &env.image(), "-o", &single, "--key", "alice"]);
    env.expect(0, &["sbom", &single, "--platform", "linux/amd64"]);
    let wrong = env.expect(78, &["sbom", &single, "--platform", "linux/riscv64"]);
    assert!(wrong.contains("is an image for linux/amd64"), "{wrong}");
}
