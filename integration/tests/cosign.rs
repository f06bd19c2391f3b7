//! cosign as the judge of ECDSA P-256 interop (issue #14, spec/interop.md):
//! real cosign 3.x from Debian sid's package (`scripts/sid-package`,
//! cached by version under `~/.cache/cerro-torre/sid`), offline (`--tlog-upload=false`,
//! `--insecure-ignore-tlog`), on files and a loopback registry.
//!
//! - A key `cosign generate-key-pair` made, imported from `cosign.pub`,
//!   trusted; its `cosign sign-blob` signature over the DSSE PAE of ct's
//!   release statement, put in the envelope, verifies in `ct verify` and
//!   counts (with a ct Ed25519 key: threshold 2). Refused: another cosign
//!   key's signature under its key id (2), a signature over other bytes (2),
//!   the high-S twin cosign itself accepts (2), raw `r||s` (2), the key
//!   untrusted (3).
//! - The reverse: ct's P-256 signature verifies with `cosign verify-blob`
//!   over the PAE, and ct's release envelope, unchanged, with `cosign
//!   verify-blob-attestation` against the image manifest; wrong key, other
//!   bytes, other artifact refused by cosign.
//! - `ct fetch` of an image cosign signed and attested on a loopback
//!   registry: exit 5, naming the cosign referrers and tags.
//! - `ct push --sign`: a P-256 key as a Sigstore bundle referrer, an
//!   Ed25519 key in the legacy `.sig` tag, each accepted by `cosign verify
//!   --key` for that key only.
//! - `ct pack docker://REF --cosign-key`: cosign's own image signatures
//!   (both layouts, P-256 and Ed25519) taken as input and carried as
//!   evidence that `ct verify` checks again; refusals by exit code.
//!
//! Skips, saying why, when cosign cannot be had (no network, no cache).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cerro_core::bundle::{self, BundleContents, NoExtract, RELEASE_ATTESTATION};
use cerro_core::dsse::{Envelope, Signature};
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::key::ecdsa_p256_low_s;
use cerro_core::statement::RELEASE_PREDICATE_TYPE;
use cerro_integration::registry::TestRegistry;
use cerro_integration::sid::sid_tool;
use cerro_integration::{ct, ct_status, run};
use serde_json::Value;

/// cosign, or `None` after saying why the test is skipped.
fn cosign() -> Option<PathBuf> {
    match sid_tool("cosign", "usr/bin/cosign") {
        Ok(p) => Some(p),
        Err(why) => {
            eprintln!("SKIPPED: cosign from Debian sid cannot be had here: {why}");
            None
        }
    }
}

/// Runs cosign with a private HOME (its caches) and COSIGN_PASSWORD set.
fn cosign_run(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir.join("cosign-home"))
        .env("COSIGN_PASSWORD", "pw")
        .env_remove("COSIGN_KEY")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "cosign failed: {text}");
    text
}

/// A key pair `cosign generate-key-pair` writes into `dir` (created).
fn cosign_keys(bin: &Path, dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    ok(&cosign_run(bin, dir, &["generate-key-pair"]));
    assert!(fs::read_to_string(dir.join("cosign.pub"))
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
}

/// `cosign sign-blob` of `file` with `dir/cosign.key`: the DER signature.
fn sign_blob(bin: &Path, dir: &Path, file: &Path) -> Vec<u8> {
    let sig = dir.join("blob.sig");
    let _ = fs::remove_file(&sig);
    ok(&cosign_run(
        bin,
        dir,
        &[
            "sign-blob",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--use-signing-config=false",
            "--new-bundle-format=false",
            "--yes",
            "--output-signature",
            sig.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
    ));
    B64.decode(fs::read_to_string(&sig).unwrap().trim()).unwrap()
}

/// `cosign verify-blob --key KEY --signature SIG FILE` (offline): success?
fn verify_blob(bin: &Path, dir: &Path, key: &Path, sig: &[u8], file: &Path) -> bool {
    let sig_file = dir.join("check.sig");
    fs::write(&sig_file, B64.encode(sig)).unwrap();
    cosign_run(
        bin,
        dir,
        &[
            "verify-blob",
            "--key",
            key.to_str().unwrap(),
            "--signature",
            sig_file.to_str().unwrap(),
            "--insecure-ignore-tlog=true",
            file.to_str().unwrap(),
        ],
    )
    .status
    .success()
}

/// A one-layer OCI layout at `dir` and its image manifest's blob path.
fn layout(dir: &Path) -> PathBuf {
    let mut b = LayoutBuilder::new(dir).unwrap();
    b.layer_tar(&[("etc/motd", 0o644, b"cosign interop\n")]).unwrap();
    b.finish(basic_config(&["/bin/true"]), Some("1")).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.display())).unwrap();
    dir.join("blobs/sha256").join(image.manifest.digest.hex())
}

fn release(bundle_path: &Path) -> Envelope {
    let b = bundle::read_bundle(&mut fs::File::open(bundle_path).unwrap(), &mut NoExtract).unwrap();
    b.release().unwrap().envelope.clone()
}

/// `src` rewritten to `dst` with its release envelope's signatures `sigs`.
fn with_release_signatures(src: &Path, dst: &Path, sigs: Vec<Signature>) {
    let b = bundle::read_bundle(&mut fs::File::open(src).unwrap(), &mut NoExtract).unwrap();
    let image = SourceImage::open_bundle(src).unwrap();
    let attestations = b
        .attestations
        .iter()
        .map(|a| {
            let mut env = a.envelope.clone();
            if a.path == RELEASE_ATTESTATION {
                env.signatures = sigs.clone();
            }
            (a.path.clone(), env.to_bytes().unwrap())
        })
        .collect();
    bundle::write_bundle(
        &BundleContents {
            manifest_toml: b.manifest.to_canonical_toml().unwrap().into_bytes(),
            attestations,
            selinux: b.selinux.clone(),
            transparency: Vec::new(),
            rebuilds: Vec::new(),
            image: &image,
            mtime: b.mtime,
        },
        &mut fs::File::create(dst).unwrap(),
    )
    .unwrap();
}

fn fingerprint(home: &Path, id: &str) -> String {
    let out = run(ct(home).args(["key", "list", "--json"]));
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    let k = keys.as_array().unwrap().iter().find(|k| k["id"] == id).unwrap();
    k["fingerprint"].as_str().unwrap().to_owned()
}

/// The high-S twin `(r, n − s)` of a low-S DER signature.
fn high_s(sig: &[u8]) -> Vec<u8> {
    let parsed = p256::ecdsa::Signature::from_der(sig).unwrap();
    let (r, s) = parsed.split_scalars();
    p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes())
        .unwrap()
        .to_der()
        .as_bytes()
        .to_vec()
}

#[test]
fn a_cosign_key_is_trusted_and_its_signature_over_the_pae_counted() {
    let Some(bin) = cosign() else { return };
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let home = d.join("home");
    layout(&d.join("image"));
    run(ct(&home).args(["keygen", "--id", "mine"]));
    let packed = d.join("b.ctp");
    run(ct(&home).args([
        "pack",
        &format!("oci:{}", d.join("image").display()),
        "-o",
        packed.to_str().unwrap(),
        "--key",
        "mine",
        "--no-sbom",
    ]));

    // cosign's key, imported from cosign.pub as it is, then trusted.
    let ck = d.join("cosign");
    cosign_keys(&bin, &ck);
    let out = run(ct(&home).args([
        "key",
        "import",
        ck.join("cosign.pub").to_str().unwrap(),
        "--id",
        "cosign",
    ]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ecdsa-p256"));
    run(ct(&home).args(["key", "trust", "cosign", "full"]));
    let keyid = fingerprint(&home, "cosign");

    // cosign signs the PAE of ct's release envelope.
    let env = release(&packed);
    let pae = d.join("release.pae");
    fs::write(&pae, env.pae()).unwrap();
    let from_cosign = sign_blob(&bin, &ck, &pae);
    let low = ecdsa_p256_low_s(&from_cosign).expect("cosign writes DER");
    assert!(verify_blob(&bin, d, &ck.join("cosign.pub"), &low, &pae));
    let mut sigs = env.signatures.clone();
    sigs.push(Signature {
        keyid: keyid.clone(),
        sig: low.clone(),
    });
    let both = d.join("both.ctp");
    with_release_signatures(&packed, &both, sigs);
    let (code, out) = ct_status(&home, &["verify", both.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let report: Value =
        serde_json::from_str(&ct_status(&home, &["explain", both.to_str().unwrap(), "--json"]).1).unwrap();
    let mut counted: Vec<_> = report["signers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "counted")
        .map(|s| format!("{} {}", s["key_id"].as_str().unwrap(), s["algorithm"].as_str().unwrap()))
        .collect();
    counted.sort();
    assert_eq!(counted, ["cosign ecdsa-p256", "mine ed25519"], "{report}");
    // A threshold of two distinct keys: met with both, not with ct's alone.
    let policy = d.join("p.json");
    fs::write(
        &policy,
        r#"{"version":"1","default_action":"deny","signers":{"allowed":[{"key_id":"*"}],"threshold":2}}"#,
    )
    .unwrap();
    let (code, out) = ct_status(
        &home,
        &["verify", both.to_str().unwrap(), "--policy", policy.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = ct_status(
        &home,
        &["verify", packed.to_str().unwrap(), "--policy", policy.to_str().unwrap()],
    );
    assert_eq!(code, 4, "{out}");

    // cosign's signature alone counts (baseline of one trusted signer).
    let only = d.join("only.ctp");
    let alone = |sig: Vec<u8>| {
        with_release_signatures(
            &packed,
            &only,
            vec![Signature {
                keyid: keyid.clone(),
                sig,
            }],
        );
        ct_status(&home, &["verify", only.to_str().unwrap()])
    };
    let (code, out) = alone(low.clone());
    assert_eq!(code, 0, "{out}");

    // Refusals, each an invalid signature by a known key (exit 2).
    let other = d.join("other");
    cosign_keys(&bin, &other);
    let wrong_key = ecdsa_p256_low_s(&sign_blob(&bin, &other, &pae)).unwrap();
    let tampered_pae = d.join("tampered.pae");
    fs::write(&tampered_pae, [env.pae(), b" ".to_vec()].concat()).unwrap();
    let tampered = ecdsa_p256_low_s(&sign_blob(&bin, &ck, &tampered_pae)).unwrap();
    let high = high_s(&low);
    // cosign (Go's ecdsa.VerifyASN1) takes the high-S twin; ct does not.
    assert!(verify_blob(&bin, d, &ck.join("cosign.pub"), &high, &pae));
    let raw = p256::ecdsa::Signature::from_der(&low).unwrap().to_bytes().to_vec();
    for (what, sig) in [
        ("another cosign key's signature", wrong_key),
        ("a signature over other bytes", tampered),
        ("the high-S twin", high),
        ("raw r||s", raw),
    ] {
        let (code, out) = alone(sig);
        assert_eq!(code, 2, "{what}: {out}");
        assert!(out.contains("signature"), "{what}: {out}");
    }
    let (_, explain) = ct_status(&home, &["explain", only.to_str().unwrap()]);
    assert!(explain.contains("ECDSA P-256 signature"), "{explain}");
    // The key no longer trusted: its valid signature does not count (3).
    let (code, out) = alone(low);
    assert_eq!(code, 0, "{out}");
    run(ct(&home).args(["key", "trust", "cosign", "untrusted"]));
    let (code, out) = ct_status(&home, &["verify", only.to_str().unwrap()]);
    assert_eq!(code, 3, "{out}");
}

#[test]
fn ct_p256_envelopes_verify_under_cosign() {
    let Some(bin) = cosign() else { return };
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let home = d.join("home");
    let manifest = layout(&d.join("image"));
    run(ct(&home).args(["keygen", "--id", "ec", "--type", "ecdsa-p256"]));
    let packed = d.join("b.ctp");
    run(ct(&home).args([
        "pack",
        &format!("oci:{}", d.join("image").display()),
        "-o",
        packed.to_str().unwrap(),
        "--key",
        "ec",
        "--no-sbom",
    ]));
    let public = d.join("ec.pub");
    run(ct(&home).args(["key", "export", "ec", "-o", public.to_str().unwrap()]));
    let env = release(&packed);
    let pae = d.join("release.pae");
    fs::write(&pae, env.pae()).unwrap();
    let sig = env.signatures[0].sig.clone();

    // The signature over the PAE, with cosign verify-blob.
    assert!(verify_blob(&bin, d, &public, &sig, &pae));
    let other = d.join("other");
    cosign_keys(&bin, &other);
    assert!(!verify_blob(&bin, d, &other.join("cosign.pub"), &sig, &pae));
    let tampered = d.join("tampered.pae");
    fs::write(&tampered, [env.pae(), b" ".to_vec()].concat()).unwrap();
    assert!(!verify_blob(&bin, d, &public, &sig, &tampered));

    // The release envelope as ct wrote it, with verify-blob-attestation
    // (its statement's subject is the image manifest).
    let envelope = d.join("release.dsse.json");
    fs::write(&envelope, env.to_bytes().unwrap()).unwrap();
    let attest = |key: &Path, artifact: &Path| {
        cosign_run(
            &bin,
            d,
            &[
                "verify-blob-attestation",
                "--key",
                key.to_str().unwrap(),
                "--signature",
                envelope.to_str().unwrap(),
                "--type",
                RELEASE_PREDICATE_TYPE,
                "--insecure-ignore-tlog=true",
                artifact.to_str().unwrap(),
            ],
        )
    };
    ok(&attest(&public, &manifest));
    assert!(!attest(&other.join("cosign.pub"), &manifest).status.success());
    assert!(!attest(&public, &d.join("image/index.json")).status.success());
}

#[test]
fn ct_fetch_of_an_image_cosign_signed_exits_5_naming_cosign() {
    let Some(bin) = cosign() else { return };
    cerro_integration::require("skopeo");
    let reg = TestRegistry::start();
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k"]));
    layout(&d.join("image"));
    let reference = format!("{}/plain/img:1", reg.host());
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("oci:{}", d.join("image").display()),
        &format!("docker://{reference}"),
    ]));
    // The digest of the manifest as the registry holds it (skopeo may
    // rewrite it on the way).
    let (status, _, body) = reg
        .get("/v2/plain/img/manifests/1", cerro_core::image::MT_OCI_MANIFEST)
        .unwrap();
    assert_eq!(status, 200);
    let image = cerro_core::digest::Digest::of(&body);
    let by_digest = format!("{}/plain/img@{image}", reg.host());
    let ck = d.join("cosign");
    cosign_keys(&bin, &ck);
    fs::write(ck.join("predicate.json"), "{\"built\":\"here\"}").unwrap();
    let offline = [
        "--key",
        "cosign.key",
        "--tlog-upload=false",
        "--use-signing-config=false",
        "--allow-insecure-registry",
        "--allow-http-registry",
        "--yes",
    ];
    // cosign 3's own layout (a Sigstore bundle referrer), then the legacy tags.
    ok(&cosign_run(
        &bin,
        &ck,
        &[&["sign"][..], &offline, &[&by_digest]].concat(),
    ));
    ok(&cosign_run(
        &bin,
        &ck,
        &[
            &["attest", "--type", "custom", "--predicate", "predicate.json"][..],
            &offline,
            &[&by_digest],
        ]
        .concat(),
    ));
    ok(&cosign_run(
        &bin,
        &ck,
        &[&["sign", "--new-bundle-format=false"][..], &offline, &[&by_digest]].concat(),
    ));
    ok(&cosign_run(
        &bin,
        &ck,
        &[
            &[
                "attest",
                "--new-bundle-format=false",
                "--type",
                "custom",
                "--predicate",
                "predicate.json",
            ][..],
            &offline,
            &[&by_digest],
        ]
        .concat(),
    ));
    let target = d.join("f.ctp");
    let (code, out) = ct_status(&home, &["fetch", &reference, "-o", target.to_str().unwrap()]);
    assert_eq!(code, 5, "{out}");
    for part in [
        "no Cerro Torre bundle",
        "1 cosign signature (Sigstore bundle, application/vnd.dev.sigstore.bundle.v0.3+json)",
        "1 cosign attestation https://cosign.sigstore.dev/attestation/v1 (Sigstore bundle, application/vnd.dev.sigstore.bundle.v0.3+json)",
        &format!("1 cosign signature (legacy tag sha256-{}.sig)", image.hex()),
        &format!("1 cosign attestation (legacy tag sha256-{}.att)", image.hex()),
    ] {
        assert!(out.contains(part), "missing {part:?} in: {out}");
    }
    assert!(!target.exists());

    // `ct tree` lists the same four, one line each, and verify docker://
    // refuses as fetch does (5), having downloaded nothing.
    let (code, out) = ct_status(&home, &["tree", &reference]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[0].ends_with(&image.to_string()), "{out}");
    for part in [
        "cosign signature (Sigstore bundle, application/vnd.dev.sigstore.bundle.v0.3+json) sha256:",
        "cosign attestation https://cosign.sigstore.dev/attestation/v1 (Sigstore bundle, application/vnd.dev.sigstore.bundle.v0.3+json) sha256:",
        &format!("cosign signature (legacy tag sha256-{0}.sig) sha256:", image.hex()),
        &format!("cosign attestation (legacy tag sha256-{0}.att) sha256:", image.hex()),
    ] {
        assert!(lines[1..].iter().any(|l| l.contains(part)), "missing {part:?} in: {out}");
    }
    assert!(lines[4].starts_with("└── "), "{out}");
    let (code, out) = ct_status(&home, &["verify", &format!("docker://{reference}")]);
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("1 cosign signature (Sigstore bundle"), "{out}");
}

/// `ct push` publishes what cosign reads (spec/interop.md §2.7), and the
/// two tools' artifacts survive each other's pushes. A bundle signed by a
/// ct P-256 key and a ct Ed25519 key: `cosign verify-attestation --key`
/// accepts the P-256 key through the Sigstore bundle referrers (cosign 3's
/// default) and the Ed25519 key through the legacy `.att` tag
/// (`--new-bundle-format=false`: cosign's bundle path cannot verify
/// Ed25519, sigstore/cosign#5074), for the release and the provenance.
/// Refused by cosign: another key, and the `.att` image moved to another
/// image's tag (the statement's subject is not that image). Then cosign
/// signs and attests the same image both ways; `ct push` again; each tool
/// still verifies its own, and `ct fetch` rebuilds the identical bundle.
/// `ct push --sign` with each key: `cosign verify --key` accepts the image
/// (P-256 through a Sigstore bundle, Ed25519 through the `.sig` tag), and
/// `ct pack --cosign-key` reads both back.
#[test]
fn ct_push_is_read_by_cosign_and_both_tools_artifacts_survive() {
    let Some(bin) = cosign() else { return };
    cerro_integration::require("skopeo");
    cerro_integration::require("curl");
    let reg = TestRegistry::start();
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let home = d.join("home");
    layout(&d.join("image"));
    run(ct(&home).args(["keygen", "--id", "ec", "--type", "ecdsa-p256"]));
    run(ct(&home).args(["keygen", "--id", "ed"]));
    let packed = d.join("b.ctp");
    run(ct(&home).args([
        "pack",
        &format!("oci:{}", d.join("image").display()),
        "-o",
        packed.to_str().unwrap(),
        "--key",
        "ec",
        "--key",
        "ed",
    ]));
    for k in ["ec", "ed"] {
        run(ct(&home).args(["key", "export", k, "-o", d.join(format!("{k}.pub")).to_str().unwrap()]));
    }
    let reference = format!("{}/ct/app:1", reg.host());
    run(ct(&home).args(["push", packed.to_str().unwrap(), &reference]));
    let image = release(&packed);
    let image = {
        let st: Value = serde_json::from_slice(&image.payload).unwrap();
        st["subject"][0]["digest"]["sha256"].as_str().unwrap().to_owned()
    };
    let remote = [
        "--insecure-ignore-tlog=true",
        "--allow-insecure-registry",
        "--allow-http-registry",
    ];
    let verify_att = |key: &Path, kind: &str, legacy: bool, target: &str| -> Output {
        let mut args = vec!["verify-attestation", "--key", key.to_str().unwrap(), "--type", kind];
        args.extend_from_slice(&remote);
        if legacy {
            args.push("--new-bundle-format=false");
        }
        args.push(target);
        cosign_run(&bin, d, &args)
    };
    const PROVENANCE: &str = "https://slsa.dev/provenance/v1";
    for kind in [RELEASE_PREDICATE_TYPE, PROVENANCE] {
        ok(&verify_att(&d.join("ec.pub"), kind, false, &reference));
        ok(&verify_att(&d.join("ec.pub"), kind, true, &reference));
        ok(&verify_att(&d.join("ed.pub"), kind, true, &reference));
    }
    // `ct push --sign`: the image signed as `cosign sign` signs it, which
    // `cosign verify --key` accepts for that key only: a P-256 key in a
    // Sigstore bundle referrer; an Ed25519 key in the legacy `.sig` tag,
    // where cosign verifies pure Ed25519 (spec/interop.md §2.7).
    run(ct(&home).args(["push", packed.to_str().unwrap(), &reference, "--sign", "ec"]));
    let cosign_verify_with = |key: &Path, legacy: bool| {
        let mut args = vec!["verify", "--key", key.to_str().unwrap()];
        args.extend_from_slice(&remote);
        if legacy {
            args.push("--new-bundle-format=false");
        }
        args.push(&reference);
        cosign_run(&bin, d, &args)
    };
    let cosign_verify = |key: &Path| cosign_verify_with(key, false);
    ok(&cosign_verify(&d.join("ec.pub")));
    assert!(!cosign_verify(&d.join("ed.pub")).status.success());
    assert!(!cosign_verify_with(&d.join("ed.pub"), true).status.success());
    run(ct(&home).args(["push", packed.to_str().unwrap(), &reference, "--sign", "ed"]));
    ok(&cosign_verify_with(&d.join("ed.pub"), true));
    assert!(!cosign_verify_with(&d.join("ec.pub"), true).status.success());
    ok(&cosign_verify(&d.join("ec.pub")));
    // Pushed again: the `.sig` layer is not repeated.
    run(ct(&home).args(["push", packed.to_str().unwrap(), &reference, "--sign", "ed"]));
    let (_, _, sig_image) = reg
        .get(
            &format!("/v2/ct/app/manifests/sha256-{image}.sig"),
            cerro_core::image::MT_OCI_MANIFEST,
        )
        .unwrap();
    let sig_image: Value = serde_json::from_slice(&sig_image).unwrap();
    assert_eq!(sig_image["layers"].as_array().unwrap().len(), 1, "{sig_image}");
    // And ct reads its own image signatures as cosign input.
    for (key, scheme) in [("ed", "ed25519"), ("ec", "ecdsa-p256-sha256")] {
        let out = d.join(format!("in-{key}.ctp"));
        run(ct(&home).args([
            "pack",
            &format!("docker://{reference}"),
            "-o",
            out.to_str().unwrap(),
            "--key",
            "ed",
            "--no-sbom",
            "--cosign-key",
            d.join(format!("{key}.pub")).to_str().unwrap(),
        ]));
        let (_, explain) = ct_status(&home, &["explain", out.to_str().unwrap()]);
        assert!(explain.contains(&format!("scheme {scheme}")), "{explain}");
    }

    let ck = d.join("cosign");
    cosign_keys(&bin, &ck);
    let theirs = ck.join("cosign.pub");
    assert!(!cosign_verify(&theirs).status.success());
    assert!(!verify_att(&theirs, RELEASE_PREDICATE_TYPE, false, &reference)
        .status
        .success());
    assert!(!verify_att(&theirs, RELEASE_PREDICATE_TYPE, true, &reference)
        .status
        .success());

    // The `.att` image put under another image's tag: cosign refuses it there.
    let other_dir = d.join("other");
    let mut b = LayoutBuilder::new(&other_dir).unwrap();
    b.layer_tar(&[("etc/motd", 0o644, b"another image\n")]).unwrap();
    b.finish(basic_config(&["/bin/true"]), Some("1")).unwrap();
    let other_ref = format!("{}/ct/other:1", reg.host());
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("oci:{}", other_dir.display()),
        &format!("docker://{other_ref}"),
    ]));
    let (_, _, other_manifest) = reg
        .get("/v2/ct/other/manifests/1", cerro_core::image::MT_OCI_MANIFEST)
        .unwrap();
    let other = cerro_core::digest::Digest::of(&other_manifest);
    let (status, _, att) = reg
        .get(
            &format!("/v2/ct/app/manifests/sha256-{image}.att"),
            cerro_core::image::MT_OCI_MANIFEST,
        )
        .unwrap();
    assert_eq!(status, 200);
    // Its blobs must be in the other repository too (cross-repository mount).
    let att_v: Value = serde_json::from_slice(&att).unwrap();
    let mut digests = vec![att_v["config"]["digest"].as_str().unwrap().to_owned()];
    for l in att_v["layers"].as_array().unwrap() {
        digests.push(l["digest"].as_str().unwrap().to_owned());
    }
    for dg in digests {
        run(Command::new("curl").args([
            "-sf",
            "-X",
            "POST",
            &format!(
                "http://{}/v2/ct/other/blobs/uploads/?mount={dg}&from=ct/app",
                reg.host()
            ),
        ]));
    }
    let att_file = d.join("att.json");
    fs::write(&att_file, &att).unwrap();
    run(Command::new("curl").args([
        "-sf",
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {}", cerro_core::image::MT_OCI_MANIFEST),
        "--data-binary",
        &format!("@{}", att_file.display()),
        &format!("http://{}/v2/ct/other/manifests/sha256-{}.att", reg.host(), other.hex()),
    ]));
    let moved = verify_att(&d.join("ed.pub"), RELEASE_PREDICATE_TYPE, true, &other_ref);
    let why = String::from_utf8_lossy(&moved.stderr);
    assert!(
        !moved.status.success() && why.contains("no matching subject digest"),
        "{why}"
    );

    // cosign signs and attests the same image, both formats; ct pushes again.
    fs::write(ck.join("predicate.json"), "{\"built\":\"here\"}").unwrap();
    let by_digest = format!("{}/ct/app@sha256:{image}", reg.host());
    let offline = [
        "--key",
        "cosign.key",
        "--tlog-upload=false",
        "--use-signing-config=false",
        "--allow-insecure-registry",
        "--allow-http-registry",
        "--yes",
    ];
    let attest = ["attest", "--type", "custom", "--predicate", "predicate.json"];
    ok(&cosign_run(&bin, &ck, &[&attest[..], &offline, &[&by_digest]].concat()));
    ok(&cosign_run(
        &bin,
        &ck,
        &[&attest[..], &["--new-bundle-format=false"], &offline, &[&by_digest]].concat(),
    ));
    ok(&cosign_run(
        &bin,
        &ck,
        &[&["sign"][..], &offline, &[&by_digest]].concat(),
    ));
    let fetched = d.join("f.ctp");
    run(ct(&home).args(["fetch", &reference, "-o", fetched.to_str().unwrap()]));
    assert!(
        fs::read(&fetched).unwrap() == fs::read(&packed).unwrap(),
        "fetch after cosign's pushes"
    );
    run(ct(&home).args(["push", packed.to_str().unwrap(), &reference]));
    ok(&verify_att(&theirs, "custom", false, &reference));
    ok(&verify_att(&theirs, "custom", true, &reference));
    ok(&cosign_verify(&theirs));
    ok(&cosign_verify(&d.join("ec.pub")));
    ok(&verify_att(
        &d.join("ec.pub"),
        RELEASE_PREDICATE_TYPE,
        false,
        &reference,
    ));
    ok(&verify_att(&d.join("ed.pub"), RELEASE_PREDICATE_TYPE, true, &reference));
    fs::remove_file(&fetched).unwrap();
    run(ct(&home).args(["fetch", &reference, "-o", fetched.to_str().unwrap()]));
    assert!(
        fs::read(&fetched).unwrap() == fs::read(&packed).unwrap(),
        "fetch after both"
    );
    // ct tree names all of them.
    let (code, out) = ct_status(&home, &["tree", &reference]);
    assert_eq!(code, 0, "{out}");
    for part in [
        "Cerro Torre bundle",
        "cosign signature (Sigstore bundle",
        "cosign attestation https://cosign.sigstore.dev/attestation/v1 (Sigstore bundle",
        "cosign attestation https://cerro-torre.org/attestation/release/v2 (Sigstore bundle",
        "cosign attestation (legacy tag",
    ] {
        assert!(out.contains(part), "missing {part:?}: {out}");
    }
}

/// A one-layer image whose file says `text`, copied to `reference` with
/// skopeo: the manifest digest as the registry holds it.
fn image_in_registry(reg: &TestRegistry, d: &Path, text: &str, repo_tag: &str) -> cerro_core::digest::Digest {
    let dir = d.join(format!("layout-{}", repo_tag.replace(['/', ':'], "-")));
    let mut b = LayoutBuilder::new(&dir).unwrap();
    b.layer_tar(&[("etc/motd", 0o644, text.as_bytes())]).unwrap();
    b.finish(basic_config(&["/bin/true"]), Some("1")).unwrap();
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", dir.display()),
        &format!("docker://{}/{repo_tag}", reg.host()),
    ]));
    let (repo, tag) = repo_tag.split_once(':').unwrap();
    let (status, _, body) = reg
        .get(
            &format!("/v2/{repo}/manifests/{tag}"),
            cerro_core::image::MT_OCI_MANIFEST,
        )
        .unwrap();
    assert_eq!(status, 200);
    cerro_core::digest::Digest::of(&body)
}

/// PUTs `bytes` into `repo` as a blob (monolithic upload) or, with a
/// media type, as the manifest `reference`.
fn put(reg: &TestRegistry, repo: &str, bytes: &[u8], manifest: Option<(&str, &str)>) {
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), bytes).unwrap();
    let data = format!("@{}", file.path().display());
    match manifest {
        None => {
            let digest = cerro_core::digest::Digest::of(bytes);
            // Start an upload, then finish it with the whole body.
            let out = run(Command::new("curl").args([
                "-sf",
                "-D",
                "-",
                "-o",
                "/dev/null",
                "-X",
                "POST",
                &format!("http://{}/v2/{repo}/blobs/uploads/", reg.host()),
            ]));
            let head = String::from_utf8_lossy(&out.stdout).into_owned();
            let location = head
                .lines()
                .find_map(|l| l.strip_prefix("Location: ").or_else(|| l.strip_prefix("location: ")))
                .unwrap()
                .trim()
                .to_owned();
            let sep = if location.contains('?') { '&' } else { '?' };
            let url = if location.starts_with("http") {
                location.clone()
            } else {
                format!("http://{}{location}", reg.host())
            };
            run(Command::new("curl").args([
                "-sf",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/octet-stream",
                "--data-binary",
                &data,
                &format!("{url}{sep}digest={digest}"),
            ]));
        }
        Some((media_type, reference)) => {
            run(Command::new("curl").args([
                "-sf",
                "-X",
                "PUT",
                "-H",
                &format!("Content-Type: {media_type}"),
                "--data-binary",
                &data,
                &format!("http://{}/v2/{repo}/manifests/{reference}", reg.host()),
            ]));
        }
    }
}

fn get_json(reg: &TestRegistry, path: &str, accept: &str) -> Value {
    let (status, _, body) = reg.get(path, accept).unwrap();
    assert_eq!(status, 200, "{path}");
    serde_json::from_slice(&body).unwrap()
}

/// `ct pack docker://REF --cosign-key K.pub` (spec/interop.md §2.8) against
/// real cosign 3.1.1 signatures on a loopback registry. Accepted: cosign's
/// P-256 signature in both layouts (Sigstore bundle referrer, legacy `.sig`
/// tag) and an Ed25519 key imported into cosign (which signs Ed25519ph).
/// Refused, each with its exit code: no signature (5), another key (3), a
/// Sigstore bundle marked as this key's whose signature was tampered with
/// (2), a valid signature moved from another image (1). The evidence goes
/// in the bundle: `ct verify` and `ct explain` check it again offline in a
/// copy of the file and after `ct push` + `ct fetch`; a tampered evidence
/// statement breaks the release binding (1).
#[test]
fn ct_pack_takes_a_cosign_signed_image_only_with_the_key() {
    let Some(bin) = cosign() else { return };
    cerro_integration::require("skopeo");
    cerro_integration::require("curl");
    cerro_integration::require("openssl");
    let reg = TestRegistry::start();
    let d = tempfile::tempdir().unwrap();
    let d = d.path();
    let home = d.join("home");
    run(ct(&home).args(["keygen", "--id", "k"]));
    let host = reg.host();
    let signed = image_in_registry(&reg, d, "signed\n", "in/app:1");
    let legacy = image_in_registry(&reg, d, "legacy\n", "in/app:2");
    let tampered = image_in_registry(&reg, d, "tampered\n", "in/app:3");
    let moved = image_in_registry(&reg, d, "moved\n", "in/app:4");
    let ed_image = image_in_registry(&reg, d, "ed25519\n", "in/app:5");
    let ck = d.join("cosign");
    cosign_keys(&bin, &ck);
    let other = d.join("other");
    cosign_keys(&bin, &other);
    // An Ed25519 key, imported into cosign (generate-key-pair makes P-256 only).
    let ed = d.join("ed");
    fs::create_dir_all(&ed).unwrap();
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(ed.join("ed.pem")));
    ok(&cosign_run(&bin, &ed, &["import-key-pair", "--key", "ed.pem"]));
    let sign = |dir: &Path, key: &str, legacy_format: bool, image: &cerro_core::digest::Digest| {
        let target = format!("{host}/in/app@{image}");
        let mut args = vec![
            "sign",
            "--key",
            key,
            "--tlog-upload=false",
            "--use-signing-config=false",
            "--allow-insecure-registry",
            "--allow-http-registry",
            "--yes",
        ];
        if legacy_format {
            args.push("--new-bundle-format=false");
        }
        args.push(&target);
        ok(&cosign_run(&bin, dir, &args));
    };
    let pack = |tag: &str, key: &Path, out: &str| {
        ct_status(
            &home,
            &[
                "pack",
                &format!("docker://{host}/in/app:{tag}"),
                "-o",
                d.join(out).to_str().unwrap(),
                "--key",
                "k",
                "--no-sbom",
                "--cosign-key",
                key.to_str().unwrap(),
            ],
        )
    };
    let cosign_pub = ck.join("cosign.pub");

    // No signature at all: 5.
    let (code, out) = pack("1", &cosign_pub, "none.ctp");
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("no cosign signature of image"), "{out}");

    // cosign 3's default layout: accepted with its key, refused with another.
    sign(&ck, "cosign.key", false, &signed);
    let (code, out) = pack("1", &cosign_pub, "signed.ctp");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Sigstore bundle referrer"), "{out}");
    let (code, out) = pack("1", &other.join("cosign.pub"), "wrong.ctp");
    assert_eq!(code, 3, "{out}");
    assert!(!d.join("wrong.ctp").exists());

    // The legacy layout alone: accepted.
    sign(&ck, "cosign.key", true, &legacy);
    let (code, out) = pack("2", &cosign_pub, "legacy.ctp");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("legacy .sig tag"), "{out}");
    let (code, out) = pack("2", &other.join("cosign.pub"), "wrong.ctp");
    assert_eq!(code, 3, "{out}");

    // Ed25519: cosign signs Ed25519ph in both layouts; ct takes it.
    sign(&ed, "import-cosign.key", false, &ed_image);
    sign(&ed, "import-cosign.key", true, &ed_image);
    let (code, out) = pack("5", &ed.join("import-cosign.pub"), "ed.ctp");
    assert_eq!(code, 0, "{out}");
    let (_, explain) = ct_status(&home, &["explain", d.join("ed.ctp").to_str().unwrap()]);
    assert!(explain.contains("scheme ed25519ph"), "{explain}");

    // A Sigstore bundle whose key hint names this key, its signature
    // changed: 2. (The referrer is rewritten and listed in place of cosign's.)
    sign(&ck, "cosign.key", false, &tampered);
    let index_path = format!("/v2/in/app/manifests/sha256-{}", tampered.hex());
    let index = get_json(&reg, &index_path, cerro_core::image::MT_OCI_INDEX);
    let referrer_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let mut referrer = get_json(
        &reg,
        &format!("/v2/in/app/manifests/{referrer_digest}"),
        cerro_core::image::MT_OCI_MANIFEST,
    );
    let blob_digest = referrer["layers"][0]["digest"].as_str().unwrap().to_owned();
    let (_, _, blob) = reg.get(&format!("/v2/in/app/blobs/{blob_digest}"), "*/*").unwrap();
    let mut bundle: Value = serde_json::from_slice(&blob).unwrap();
    let mut sig = B64
        .decode(bundle["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = Value::String(B64.encode(&sig));
    let new_blob = serde_json::to_vec(&bundle).unwrap();
    put(&reg, "in/app", &new_blob, None);
    referrer["layers"][0]["digest"] = Value::String(cerro_core::digest::Digest::of(&new_blob).to_string());
    referrer["layers"][0]["size"] = Value::from(new_blob.len());
    let new_referrer = serde_json::to_vec(&referrer).unwrap();
    let new_referrer_digest = cerro_core::digest::Digest::of(&new_referrer);
    put(
        &reg,
        "in/app",
        &new_referrer,
        Some((cerro_core::image::MT_OCI_MANIFEST, &new_referrer_digest.to_string())),
    );
    let mut index = index;
    index["manifests"][0]["digest"] = Value::String(new_referrer_digest.to_string());
    index["manifests"][0]["size"] = Value::from(new_referrer.len());
    put(
        &reg,
        "in/app",
        &serde_json::to_vec(&index).unwrap(),
        Some((cerro_core::image::MT_OCI_INDEX, &format!("sha256-{}", tampered.hex()))),
    );
    let (code, out) = pack("3", &cosign_pub, "tampered.ctp");
    assert_eq!(code, 2, "{out}");

    // A valid signature of another image put under this image's `.sig` tag: 1.
    let (_, _, sig_manifest) = reg
        .get(
            &format!("/v2/in/app/manifests/sha256-{}.sig", legacy.hex()),
            cerro_core::image::MT_OCI_MANIFEST,
        )
        .unwrap();
    put(
        &reg,
        "in/app",
        &sig_manifest,
        Some((
            cerro_core::image::MT_OCI_MANIFEST,
            &format!("sha256-{}.sig", moved.hex()),
        )),
    );
    let (code, out) = pack("4", &cosign_pub, "moved.ctp");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&legacy.to_string()), "{out}");

    // The evidence, checked again offline: in the packer's home, in a copy
    // verified elsewhere (a store trusting only the release key), and
    // after push + fetch.
    let packed = d.join("signed.ctp");
    let (code, out) = ct_status(&home, &["verify", packed.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, explain) = ct_status(&home, &["explain", packed.to_str().unwrap()]);
    assert_eq!(code, 0, "{explain}");
    assert!(
        explain.contains("cosign signature evidence (checked again offline)"),
        "{explain}"
    );
    assert!(
        explain.contains("trusted only through the release signers' endorsement"),
        "{explain}"
    );
    let report: Value =
        serde_json::from_str(&ct_status(&home, &["explain", packed.to_str().unwrap(), "--json"]).1).unwrap();
    assert_eq!(report["cosign"][0]["layout"], "sigstore-bundle", "{report}");
    assert_eq!(report["cosign"][0]["scheme"], "ecdsa-p256-sha256", "{report}");
    let elsewhere = d.join("elsewhere");
    let copy = d.join("copy.ctp");
    fs::copy(&packed, &copy).unwrap();
    let k_pub = d.join("k.pub");
    run(ct(&home).args(["key", "export", "k", "-o", k_pub.to_str().unwrap()]));
    run(ct(&elsewhere).args(["key", "import", k_pub.to_str().unwrap(), "--id", "k"]));
    run(ct(&elsewhere).args(["key", "trust", "k", "full"]));
    let (code, out) = ct_status(&elsewhere, &["verify", copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    run(ct(&home).args(["push", packed.to_str().unwrap(), &format!("{host}/out/app:1")]));
    let fetched = d.join("fetched.ctp");
    run(ct(&elsewhere).args(["fetch", &format!("{host}/out/app:1"), "-o", fetched.to_str().unwrap()]));
    assert!(fs::read(&fetched).unwrap() == fs::read(&packed).unwrap());
    let (_, explain) = ct_status(&elsewhere, &["explain", fetched.to_str().unwrap()]);
    assert!(explain.contains("cosign signature evidence"), "{explain}");

    // The evidence statement changed (one byte of the recorded bundle's
    // base64), the release envelope kept: the binding refuses it (1).
    let b = bundle::read_bundle(&mut fs::File::open(&packed).unwrap(), &mut NoExtract).unwrap();
    let image = SourceImage::open_bundle(&packed).unwrap();
    let attestations = b
        .attestations
        .iter()
        .map(|a| {
            let mut env = a.envelope.clone();
            if a.path == cerro_core::cosign_signature::EVIDENCE_PATH {
                let text = String::from_utf8(env.payload.clone()).unwrap();
                let at = text.find("\"blob\":\"").unwrap() + 20;
                let mut bytes = text.into_bytes();
                bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
                env.payload = bytes;
            }
            (a.path.clone(), env.to_bytes().unwrap())
        })
        .collect();
    let forged = d.join("forged.ctp");
    bundle::write_bundle(
        &BundleContents {
            manifest_toml: b.manifest.to_canonical_toml().unwrap().into_bytes(),
            attestations,
            selinux: b.selinux.clone(),
            transparency: Vec::new(),
            rebuilds: Vec::new(),
            image: &image,
            mtime: b.mtime,
        },
        &mut fs::File::create(&forged).unwrap(),
    )
    .unwrap();
    let (code, out) = ct_status(&home, &["verify", forged.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("cosign-signature.dsse.json"), "{out}");
}
