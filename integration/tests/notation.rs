//! notation as the peer for Notary Project signatures (issue #14,
//! spec/interop.md §2.4, §2.6, §6): real notation 1.3.x from Debian sid's
//! package (`scripts/sid-package notation`, cached by version under
//! `~/.cache/cerro-torre/sid`), offline, against Debian's `docker-registry`
//! 2.8 on loopback. That registry has no referrers API: notation stores its
//! signatures through the referrers tag schema (the `sha256-<hex>` fallback
//! index), the same index `ct push` writes, so the two tools edit one
//! document and must keep each other's entries.
//!
//! - `ct fetch` of an image only notation signed exits 5 naming the
//!   notation signature; `ct tree` lists it (the digest `notation list`
//!   shows); `ct verify docker://` exits 5.
//! - Both tools' artifacts survive each other: `ct push` after `notation
//!   sign` keeps notation's signature (`notation verify` under a trust
//!   policy for the test certificate still accepts, `notation list` still
//!   lists it), and `notation sign` after `ct push` keeps ct's bundle
//!   (`ct fetch` rebuilds the identical bundle); a second `ct push` of a
//!   new bundle replaces ct's entry and keeps notation's two.
//! - `notation verify` of an image only ct signed fails: ct writes no
//!   Notary Project signature (the documented limitation, §6).
//!
//! notation's configuration (test key, certificate, trust store, trust
//! policy) lives in a per-test `XDG_CONFIG_HOME`: nothing touches the
//! machine's. Skips, saying why, when notation cannot be had (no network,
//! no cache).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cerro_core::digest::Digest;
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::{MT_OCI_INDEX, MT_OCI_MANIFEST};
use cerro_integration::registry::TestRegistry;
use cerro_integration::sid::sid_tool;
use cerro_integration::{ct, ct_ok, ct_status, run};
use serde_json::Value;

const NOTATION_SIGNATURE: &str = "application/vnd.cncf.notary.signature";

/// notation with its whole configuration under one directory.
struct Notation {
    bin: PathBuf,
    dir: PathBuf,
}

impl Notation {
    /// notation, or `None` after saying why the test is skipped.
    fn new(dir: &Path) -> Option<Self> {
        match sid_tool("notation", "usr/bin/notation") {
            Ok(bin) => Some(Notation {
                bin,
                dir: dir.join("notation"),
            }),
            Err(why) => {
                eprintln!("SKIPPED: notation from Debian sid cannot be had here: {why}");
                None
            }
        }
    }

    /// Runs notation with a private config (`XDG_CONFIG_HOME`: keys,
    /// certificates, trust store, trust policy), cache and HOME, and no
    /// registry credentials from the environment.
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .args(args)
            .current_dir(&self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .env("HOME", self.dir.join("home"))
            .env_remove("NOTATION_USERNAME")
            .env_remove("NOTATION_PASSWORD")
            .env_remove("NOTATION_EXPERIMENTAL")
            .output()
            .unwrap()
    }

    /// Runs notation, expecting exit 0; its combined output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        let text = text(&out);
        assert!(
            out.status.success(),
            "notation {args:?} failed ({}): {text}",
            out.status
        );
        text
    }

    /// A test key and self-signed certificate (`notation cert
    /// generate-test`, RSA 2048, valid a day), the default signing key, its
    /// certificate in the CA trust store `ct-test`, and a trust policy
    /// trusting that store for every registry, strict.
    fn setup(&self) {
        fs::create_dir_all(self.dir.join("home")).unwrap();
        self.ok(&["cert", "generate-test", "--default", "ct-test"]);
        assert!(self
            .dir
            .join("config/notation/truststore/x509/ca/ct-test/ct-test.crt")
            .is_file());
        let policy = self.dir.join("trustpolicy.json");
        fs::write(
            &policy,
            r#"{"version": "1.0", "trustPolicies": [{"name": "ct-test", "registryScopes": ["*"],
               "signatureVerification": {"level": "strict"}, "trustStores": ["ca:ct-test"],
               "trustedIdentities": ["*"]}]}"#,
        )
        .unwrap();
        self.ok(&["policy", "import", "--force", policy.to_str().unwrap()]);
    }

    /// `notation sign` over plain HTTP, the signature format given.
    fn sign(&self, reference: &str, format: &str, extra: &[&str]) -> String {
        self.ok(&[
            &["sign", "--insecure-registry", "--signature-format", format][..],
            extra,
            &[reference],
        ]
        .concat())
    }

    /// The signature manifests `notation list` shows for `reference`.
    fn list(&self, reference: &str) -> Vec<String> {
        let out = self.ok(&["list", "--insecure-registry", reference]);
        out.split_whitespace()
            .filter(|w| w.starts_with("sha256:") && w.len() == 71)
            .map(str::to_owned)
            .collect()
    }

    fn verify(&self, reference: &str) -> Output {
        self.cmd(&["verify", "--insecure-registry", reference])
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A one-layer image in the registry at `repo:1` (from an OCI layout,
/// through skopeo): the digest the registry holds it under.
fn image_in(reg: &TestRegistry, d: &Path, repo: &str, note: &[u8]) -> Digest {
    cerro_integration::require("skopeo");
    let dir = d.join(format!("layout-{}", repo.replace('/', "-")));
    let mut b = LayoutBuilder::new(&dir).unwrap();
    b.layer_tar(&[("etc/motd", 0o644, note)]).unwrap();
    b.finish(basic_config(&["/bin/true"]), Some("1")).unwrap();
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", dir.display()),
        &format!("docker://{}/{repo}:1", reg.host()),
    ]));
    let (status, _, body) = reg.get(&format!("/v2/{repo}/manifests/1"), MT_OCI_MANIFEST).unwrap();
    assert_eq!(status, 200);
    Digest::of(&body)
}

/// The entries of the image's `sha256-<hex>` fallback index.
fn fallback_entries(reg: &TestRegistry, repo: &str, image: &Digest) -> Vec<Value> {
    let (status, _, body) = reg
        .get(&format!("/v2/{repo}/manifests/sha256-{}", image.hex()), MT_OCI_INDEX)
        .unwrap();
    assert_eq!(status, 200);
    let index: Value = serde_json::from_slice(&body).unwrap();
    index["manifests"].as_array().unwrap().clone()
}

/// `ct tree --json` of `reference`: its (what, digest, via) triples.
fn tree(home: &Path, reference: &str) -> Vec<(String, String, String)> {
    let out = ct_ok(home, &["tree", reference, "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["failures"], serde_json::json!([]), "{out}");
    v["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["what"].as_str().unwrap().to_owned(),
                f["digest"].as_str().unwrap().to_owned(),
                f["via"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn notation_signatures(found: &[(String, String, String)]) -> Vec<String> {
    let mut sigs: Vec<String> = found
        .iter()
        .filter(|(what, _, via)| what == &format!("notation signature ({NOTATION_SIGNATURE})") && via == "referrer")
        .map(|(_, d, _)| d.clone())
        .collect();
    sigs.sort();
    sigs
}

/// An image notation signed (JWS, the referrers tag schema its default):
/// `ct fetch` exits 5 and names the notation signature, `ct tree` lists it
/// under the digest `notation list` gives, `ct verify docker://` exits 5.
#[test]
fn ct_fetch_of_an_image_notation_signed_exits_5_naming_notation() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let Some(notation) = Notation::new(d) else { return };
    let reg = TestRegistry::start();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k"]));
    notation.setup();
    let image = image_in(&reg, d, "plain/img", b"notation interop\n");
    let by_digest = format!("{}/plain/img@{image}", reg.host());
    let reference = format!("{}/plain/img:1", reg.host());
    notation.sign(&by_digest, "jws", &[]);
    let listed = notation.list(&by_digest);
    assert_eq!(listed.len(), 1, "{listed:?}");
    // Stored through the referrers tag schema: distribution 2.8 has no
    // referrers API.
    let entries = fallback_entries(&reg, "plain/img", &image);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["artifactType"], NOTATION_SIGNATURE);
    assert_eq!(entries[0]["digest"], listed[0].as_str());

    let target = d.join("f.ctp");
    let (code, out) = ct_status(&home, &["fetch", &reference, "-o", target.to_str().unwrap()]);
    assert_eq!(code, 5, "{out}");
    for part in [
        "no Cerro Torre bundle",
        &format!("found instead: 1 notation signature ({NOTATION_SIGNATURE})"),
    ] {
        assert!(out.contains(part), "missing {part:?} in: {out}");
    }
    assert!(!target.exists());

    let found = tree(&home, &reference);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(notation_signatures(&found), listed);
    let out = ct_ok(&home, &["tree", &reference]);
    assert!(
        out.contains(&format!(
            "└── notation signature ({NOTATION_SIGNATURE}) {} (referrer)",
            listed[0]
        )),
        "{out}"
    );

    let (code, out) = ct_status(&home, &["verify", &format!("docker://{reference}")]);
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("1 notation signature"), "{out}");
}

/// Both tools write the image's fallback index; neither loses the other's
/// entries. notation signs (JWS), `ct push` a bundle of that image signed
/// by a P-256 key (its bundle and Sigstore bundle referrers join the
/// index), notation still lists and verifies its signature; notation signs
/// again (COSE, `--force-referrers-tag=false`: it probes for the referrers
/// API, finds none and falls back to the tag schema), `ct fetch` still
/// rebuilds the identical bundle; `ct push` of a new bundle replaces ct's
/// entry, keeps both notation signatures, and each tool verifies its own.
#[test]
fn ct_push_and_notation_sign_keep_each_others_artifacts() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let Some(notation) = Notation::new(d) else { return };
    let reg = TestRegistry::start();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "ec", "--type", "ecdsa-p256"]));
    run(ct(&home).args(["keygen", "--id", "ed"]));
    notation.setup();
    let image = image_in(&reg, d, "both/app", b"signed by both\n");
    let by_digest = format!("{}/both/app@{image}", reg.host());
    let reference = format!("{}/both/app:1", reg.host());

    notation.sign(&by_digest, "jws", &[]);
    let first = notation.list(&by_digest);
    assert_eq!(first.len(), 1, "{first:?}");
    notation.ok(&["verify", "--insecure-registry", &by_digest]);

    // ct packs the image as the registry holds it and pushes its bundle.
    let packed = d.join("b.ctp");
    ct_ok(
        &home,
        &[
            "pack",
            &format!("docker://{reference}"),
            "-o",
            packed.to_str().unwrap(),
            "--key",
            "ec",
            "--no-sbom",
        ],
    );
    ct_ok(&home, &["push", packed.to_str().unwrap(), &reference]);
    assert_eq!(notation.list(&by_digest), first);
    let out = notation.ok(&["verify", "--insecure-registry", &by_digest]);
    assert!(out.contains("Successfully verified signature"), "{out}");
    // notation's entry as notation wrote it (its annotations kept).
    let entries = fallback_entries(&reg, "both/app", &image);
    let theirs: Vec<&Value> = entries
        .iter()
        .filter(|e| e["artifactType"] == NOTATION_SIGNATURE)
        .collect();
    assert_eq!(theirs.len(), 1, "{entries:?}");
    assert_eq!(theirs[0]["digest"], first[0].as_str());
    assert!(
        theirs[0]["annotations"]["io.cncf.notary.x509chain.thumbprint#S256"].is_string(),
        "{entries:?}"
    );
    assert_eq!(
        entries.len(),
        4,
        "notation's, ct's bundle, two Sigstore bundles: {entries:?}"
    );

    // notation signs again after ct's push: ct's bundle is still there.
    notation.sign(&by_digest, "cose", &["--force-referrers-tag=false"]);
    let mut both = notation.list(&by_digest);
    both.sort();
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both.contains(&first[0]));
    let fetched = d.join("f.ctp");
    ct_ok(&home, &["fetch", &reference, "-o", fetched.to_str().unwrap()]);
    assert!(
        fs::read(&fetched).unwrap() == fs::read(&packed).unwrap(),
        "fetched bundle differs"
    );
    let out = ct_ok(&home, &["verify", &format!("docker://{reference}")]);
    assert!(out.contains("signed by ec"), "{out}");
    let found = tree(&home, &reference);
    assert_eq!(notation_signatures(&found), both);
    assert_eq!(
        found.iter().filter(|f| f.0.starts_with("Cerro Torre bundle")).count(),
        1,
        "{found:?}"
    );
    assert_eq!(
        found
            .iter()
            .filter(|f| f.0.starts_with("cosign attestation") && f.2 == "referrer")
            .count(),
        2,
        "{found:?}"
    );

    // A new bundle (another signer) pushed: ct's entry replaced, notation's
    // two kept, and both tools verify their own.
    let repacked = d.join("b2.ctp");
    ct_ok(
        &home,
        &[
            "pack",
            &format!("docker://{reference}"),
            "-o",
            repacked.to_str().unwrap(),
            "--key",
            "ed",
            "--no-sbom",
        ],
    );
    ct_ok(&home, &["push", repacked.to_str().unwrap(), &reference]);
    let mut after = notation.list(&by_digest);
    after.sort();
    assert_eq!(after, both);
    let out = notation.ok(&["verify", "--insecure-registry", &by_digest]);
    assert!(out.contains("Successfully verified signature"), "{out}");
    let found = tree(&home, &reference);
    assert_eq!(notation_signatures(&found), both);
    let bundles: Vec<_> = found.iter().filter(|f| f.0.starts_with("Cerro Torre bundle")).collect();
    assert_eq!(bundles.len(), 1, "{found:?}");
    ct_ok(&home, &["fetch", &reference, "-o", fetched.to_str().unwrap()]);
    assert!(
        fs::read(&fetched).unwrap() == fs::read(&repacked).unwrap(),
        "fetched bundle differs"
    );
    let out = ct_ok(&home, &["verify", &format!("docker://{reference}")]);
    assert!(out.contains("signed by ed"), "{out}");
}

/// ct writes no Notary Project signature (spec/interop.md §6): `notation
/// verify` of an image only ct signed and pushed fails, exit 1, saying no
/// signature is associated with it (the trust policy and trust store are
/// in place, so that is the reason), and `notation list` finds none among
/// ct's referrers.
#[test]
fn notation_verify_of_an_image_only_ct_signed_finds_no_signature() {
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let Some(notation) = Notation::new(d) else { return };
    let reg = TestRegistry::start();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "ec", "--type", "ecdsa-p256"]));
    notation.setup();
    let image = image_in(&reg, d, "ct/only", b"ct only\n");
    let reference = format!("{}/ct/only:1", reg.host());
    let by_digest = format!("{}/ct/only@{image}", reg.host());
    let packed = d.join("b.ctp");
    ct_ok(
        &home,
        &[
            "pack",
            &format!("docker://{reference}"),
            "-o",
            packed.to_str().unwrap(),
            "--key",
            "ec",
            "--no-sbom",
        ],
    );
    ct_ok(&home, &["push", packed.to_str().unwrap(), &reference, "--sign", "ec"]);
    assert!(
        fallback_entries(&reg, "ct/only", &image)
            .iter()
            .all(|e| e["artifactType"] != NOTATION_SIGNATURE),
        "ct wrote a notation entry?"
    );

    let out = notation.verify(&by_digest);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("no signature is associated with"), "{said}");
    let out = notation.ok(&["list", "--insecure-registry", &by_digest]);
    assert!(out.contains("has no associated signature"), "{out}");
    assert!(notation.list(&by_digest).is_empty());
    // The same image is still ct's to verify.
    ct_ok(&home, &["verify", &format!("docker://{reference}")]);
}
