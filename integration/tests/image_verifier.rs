//! `cerro-image-verifier`, containerd 2.x's pull-time gate
//! (`io.containerd.image-verifier.v1`, bindir plugin).
//!
//! First through a harness that calls it as containerd's bindir plugin
//! does (argv `-name REF -digest sha256:… -stdin-media-type
//! application/vnd.oci.descriptor.v1+json`, one descriptor JSON line on
//! stdin, the first 32 KiB of stdout as the reason, exit 0 allows): an
//! image whose bundle is in the store and verifies is allowed; an image
//! with no bundle, a tampered store entry, a revoked signer, an image
//! index no bundle attests, a descriptor of another digest or a malformed
//! one, and doubtful arguments are blocked with the reason; an image index
//! a multi-platform bundle attests is allowed; every decision is audited
//! with component `image-verifier`.
//!
//! Then for real: Debian sid's containerd 2.1 (skipped, saying so, when it
//! cannot be had) with the verifier in its `bin_dir`, pulling with `ctr
//! images pull` (the transfer service, which calls verifiers) from a
//! loopback registry: the attested image is pulled, the unattested one is
//! blocked with the verifier's reason in ctr's error and is not in
//! containerd's image store; the same through CRI's PullImage, as kubelet
//! pulls.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use cerro_integration::containerd::{text, Containerd, Flavour};
use cerro_integration::registry::TestRegistry;
use cerro_integration::{attested_and_plain_images, bin, ct, flip_in_last_member, is_root, require, run};

const DESCRIPTOR: &str = "application/vnd.oci.descriptor.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// What containerd's bindir plugin gets back from one verifier run.
#[derive(Debug)]
struct Judgement {
    code: Option<i32>,
    /// At most 32 KiB of stdout, as containerd reads it.
    reason: String,
    stderr: String,
}

/// The state a daemon's verifier reads: trust store, bundle store, audit
/// log under `d` (passed in the environment, as containerd passes its own).
fn env(d: &Path) -> Vec<(&'static str, std::path::PathBuf)> {
    vec![
        ("CERRO_HOME", d.join("home")),
        ("CERRO_STORE", d.join("store")),
        ("CERRO_AUDIT_LOG", d.join("audit.log")),
    ]
}

/// Runs the verifier as containerd's bindir plugin does.
fn call(d: &Path, args: &[&str], stdin: &[u8]) -> Judgement {
    let mut child = Command::new(bin("cerro-image-verifier"))
        .args(args)
        .env_clear()
        .envs(env(d))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A verifier may stop reading early (a refused descriptor): not an error.
    let _ = input.write_all(stdin);
    drop(input);
    let mut reason = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .take(32 * 1024)
        .read_to_end(&mut reason)
        .unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    Judgement {
        code: status.code(),
        reason: String::from_utf8_lossy(&reason).into_owned(),
        stderr,
    }
}

/// A descriptor line as containerd writes it.
fn descriptor(media_type: &str, digest: &str, size: u64) -> Vec<u8> {
    format!(
        "{}\n",
        serde_json::json!({"mediaType": media_type, "digest": digest, "size": size})
    )
    .into_bytes()
}

/// `-name REF -digest DIGEST -stdin-media-type …` with the descriptor of
/// `digest`: the verifier's judgement.
fn verify(d: &Path, name: &str, digest: &str) -> Judgement {
    call(
        d,
        &["-name", name, "-digest", digest, "-stdin-media-type", DESCRIPTOR],
        &descriptor(MANIFEST, digest, 400),
    )
}

/// The manifest digest of `layout:tag` (an OCI layout with one image).
fn manifest_digest(layout: &Path) -> String {
    let index: serde_json::Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_owned()
}

/// The attested and the plain busybox images under `d`, the bundle of the
/// first filed in the store with `ct load`.
fn scene(d: &Path) -> std::path::PathBuf {
    let home = d.join("home");
    let bundle = attested_and_plain_images(d, &home);
    run(ct(&home)
        .env("CERRO_STORE", d.join("store"))
        .args(["load", bundle.to_str().unwrap()]));
    bundle
}

/// A multi-platform image (#15): the pull of its index, which a
/// multi-platform bundle in the store attests, is allowed (the start picks
/// and checks the platform); the pull of a platform manifest alone, which
/// has no bundle of its own, is not.
#[test]
fn image_verifier_allows_an_attested_multi_platform_index() {
    assert!(
        is_root(),
        "the verifier reads a daemon's root-owned configuration: run as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let (index, host) = cerro_integration::multi_platform_image(d, "multi", "signed");
    run(ct(&home).args(["keygen", "--id", "maintainer"]));
    let bundle = d.join("multi.ctp");
    let image = format!("oci:{}:multi", d.join("multi").display());
    run(ct(&home).args(["pack", &image, "-o", bundle.to_str().unwrap(), "--key", "maintainer"]));
    run(ct(&home)
        .env("CERRO_STORE", d.join("store"))
        .args(["load", bundle.to_str().unwrap()]));
    let size = fs::metadata(d.join("multi/blobs/sha256").join(&index[7..]))
        .unwrap()
        .len();
    let ok = call(
        d,
        &[
            "-name",
            "registry.example/multi:1",
            "-digest",
            &index,
            "-stdin-media-type",
            DESCRIPTOR,
        ],
        &descriptor("application/vnd.oci.image.index.v1+json", &index, size),
    );
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert!(ok.reason.contains("verified:"), "{ok:?}");
    let manifest_alone = verify(d, "registry.example/multi@host", &host);
    assert_eq!(manifest_alone.code, Some(5), "{manifest_alone:?}");
    assert!(
        manifest_alone.reason.contains("no bundle in the store"),
        "{manifest_alone:?}"
    );
}

fn audit(d: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(d.join("audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn image_verifier_allows_only_attested_digests() {
    assert!(
        is_root(),
        "the verifier reads a daemon's root-owned configuration: run as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scene(d);
    let good = manifest_digest(&d.join("attested"));
    let plain = manifest_digest(&d.join("plain"));

    // Attested: allowed, the reason says what verified.
    let ok = verify(d, "registry.example/attested:good", &good);
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert!(
        ok.reason.contains("verified:") && ok.reason.contains("maintainer"),
        "{ok:?}"
    );

    // No bundle: blocked, the reason names the image, the check and why.
    let no = verify(d, "registry.example/plain:other", &plain);
    assert_eq!(no.code, Some(5), "{no:?}");
    assert!(
        no.reason.starts_with(&format!(
            "cerro-torre refused image {plain} (missing_attestation, exit 5): registry.example/plain:other: missing attestation: no bundle in the store"
        )),
        "{no:?}"
    );
    assert!(no.stderr.contains("no bundle in the store"), "{no:?}");

    // An image index (a multi-platform pull) that no bundle attests.
    let index = call(
        d,
        &["-name", "x", "-digest", &plain, "-stdin-media-type", DESCRIPTOR],
        &descriptor("application/vnd.oci.image.index.v1+json", &plain, 300),
    );
    assert_eq!(index.code, Some(5), "{index:?}");
    assert!(
        index
            .reason
            .contains("(an image index: attest it with a multi-platform bundle"),
        "{index:?}"
    );

    // The descriptor must be of the digest on the command line: an
    // attested digest does not launder another descriptor, nor the reverse.
    let swapped = call(
        d,
        &["-name", "x", "-digest", &good, "-stdin-media-type", DESCRIPTOR],
        &descriptor(MANIFEST, &plain, 400),
    );
    assert_eq!(swapped.code, Some(10), "{swapped:?}");
    assert!(
        swapped
            .reason
            .contains(&format!("it names {plain}, the command line {good}")),
        "{swapped:?}"
    );
    // Malformed, empty, doubtful: blocked.
    for (args, stdin, code, want) in [
        (
            vec!["-digest", good.as_str(), "-stdin-media-type", DESCRIPTOR],
            b"{not json".to_vec(),
            10,
            "not a JSON object",
        ),
        (
            vec!["-digest", good.as_str(), "-stdin-media-type", DESCRIPTOR],
            Vec::new(),
            10,
            "not a JSON object",
        ),
        (
            vec!["-name", "x", "-stdin-media-type", DESCRIPTOR],
            descriptor(MANIFEST, &good, 1),
            78,
            "no -digest",
        ),
        (
            vec![
                "-digest",
                good.as_str(),
                "-digest",
                good.as_str(),
                "-stdin-media-type",
                DESCRIPTOR,
            ],
            descriptor(MANIFEST, &good, 1),
            78,
            "given more than once",
        ),
        (
            vec!["-digest", good.as_str(), "-stdin-media-type", "application/json"],
            descriptor(MANIFEST, &good, 1),
            78,
            "only application/vnd.oci.descriptor.v1+json is read",
        ),
    ] {
        let j = call(d, &args, &stdin);
        assert_eq!(j.code, Some(code), "{args:?}: {j:?}");
        assert!(j.reason.contains(want), "{args:?}: {j:?}");
    }
    // Unknown flags (a later containerd's) are ignored.
    let future = call(
        d,
        &[
            "-name",
            "x",
            "-future-flag",
            "v",
            "-digest",
            &good,
            "-stdin-media-type",
            DESCRIPTOR,
            "-other",
        ],
        &descriptor(MANIFEST, &good, 400),
    );
    assert_eq!(future.code, Some(0), "{future:?}");

    // A tampered store entry: blocked as a digest mismatch.
    let stored = d
        .join("store/sha256")
        .join(format!("{}.ctp", good.trim_start_matches("sha256:")));
    let pristine = fs::read(&stored).unwrap();
    flip_in_last_member(&stored, &stored);
    let bad = verify(d, "x", &good);
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert!(bad.reason.contains("(digest_mismatch, exit 1)"), "{bad:?}");
    fs::write(&stored, pristine).unwrap();

    // Revoking the only signer blocks the next pull.
    run(ct(&d.join("home")).args(["key", "revoke", "maintainer"]));
    let revoked = verify(d, "x", &good);
    assert_ne!(revoked.code, Some(0), "{revoked:?}");
    assert!(
        revoked.reason.contains("signer_not_trusted") && revoked.reason.contains("revoked"),
        "{revoked:?}"
    );

    // Every decision the verifier took is audited (not the ones refused
    // before a decision: bad arguments or descriptor).
    let seen: Vec<(String, bool)> = audit(d)
        .iter()
        .map(|r| {
            assert_eq!(r["component"], "image-verifier", "{r}");
            assert!(r["container"].is_null(), "{r}");
            (
                r["images"][0].as_str().unwrap().to_owned(),
                r["allowed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (good.clone(), true),
            (plain.clone(), false),
            (plain.clone(), false),
            (good.clone(), true),
            (good.clone(), false),
            (good.clone(), false)
        ]
    );
}

/// A configuration the daemon's verifier cannot trust blocks every pull:
/// a trust root writable by others.
#[test]
fn image_verifier_blocks_on_an_untrusted_configuration() {
    use std::os::unix::fs::PermissionsExt;
    assert!(
        is_root(),
        "the verifier reads a daemon's root-owned configuration: run as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scene(d);
    let good = manifest_digest(&d.join("attested"));
    assert_eq!(verify(d, "x", &good).code, Some(0));
    fs::set_permissions(d.join("home"), fs::Permissions::from_mode(0o777)).unwrap();
    let j = verify(d, "x", &good);
    assert_ne!(j.code, Some(0), "{j:?}");
    assert!(
        j.reason.contains("cerro-torre refused the pull (") && j.reason.contains("writable"),
        "{j:?}"
    );
}

#[test]
fn containerd2_pulls_only_attested_images() {
    assert!(is_root(), "containerd needs root");
    let Some(sid) = Flavour::sid() else {
        return;
    };
    require("skopeo");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scene(d);
    let good = manifest_digest(&d.join("attested"));
    let plain = manifest_digest(&d.join("plain"));
    let reg = TestRegistry::start();
    push_both(d, &reg);
    // The verifier in the plugin's bin_dir (the harness's config points
    // it at d/image-verifiers); containerd runs it with its environment.
    let verifiers = d.join("image-verifiers");
    fs::create_dir(&verifiers).unwrap();
    fs::copy(bin("cerro-image-verifier"), verifiers.join("cerro-image-verifier")).unwrap();
    let vars = env(d);
    let env_refs: Vec<(&str, &Path)> = vars.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let ctd = Containerd::start_with(d, &env_refs, &sid, "");

    let pull = |image: &str| {
        Command::new("timeout")
            .arg("120")
            .arg(ctd.flavour.ctr())
            .arg("--address")
            .arg(&ctd.socket)
            .args(["images", "pull", "--plain-http", image])
            .output()
            .unwrap()
    };
    let images = || text(&run(ctd.ctr().args(["images", "ls", "-q"])));

    let ok = pull(&format!("{}/attested:good", reg.host()));
    assert!(ok.status.success(), "{}\n{}", text(&ok), ctd.log());
    assert!(images().contains("attested:good"), "{}", images());

    let refused = pull(&format!("{}/plain:other", reg.host()));
    assert!(!refused.status.success(), "{}", text(&refused));
    let out = text(&refused);
    assert!(
        out.contains(&format!(
            "cerro-torre refused image {plain} (missing_attestation, exit 5)"
        )) && out.contains("no bundle in the store"),
        "{out}\n{}",
        ctd.log()
    );
    assert!(!images().contains("plain:other"), "{}", images());

    // The verifier decided both, through the daemon's configuration.
    let seen: Vec<(String, bool)> = audit(d)
        .iter()
        .map(|r| {
            (
                r["images"][0].as_str().unwrap().to_owned(),
                r["allowed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [(good, true), (plain, false)]);

    // `--local` (the client-side pull) calls no verifier: the gate is the
    // transfer service's, and the start-time gate (the shim) remains.
    let local = Command::new("timeout")
        .arg("120")
        .arg(ctd.flavour.ctr())
        .arg("--address")
        .arg(&ctd.socket)
        .args([
            "images",
            "pull",
            "--local",
            "--plain-http",
            &format!("{}/plain:other", reg.host()),
        ])
        .output()
        .unwrap();
    assert!(local.status.success(), "{}", text(&local));
    assert_eq!(audit(d).len(), 2, "a --local pull ran the verifier");
}

/// Pushes the attested and the plain image of `d` to `reg`.
fn push_both(d: &Path, reg: &TestRegistry) {
    for (layout, tag) in [("attested", "good"), ("plain", "other")] {
        run(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", d.join(layout).display()),
            &format!("docker://{}/{layout}:{tag}", reg.host()),
        ]));
    }
}

/// Kubernetes' pull: CRI's PullImage on containerd 2.1 (which pulls
/// through the transfer service, so the verifier is called), as kubelet
/// calls it, against the loopback registry (plain HTTP through the
/// registry host configuration, `certs.d/HOST/hosts.toml`).
#[test]
fn cri_containerd2_pull_image_is_gated() {
    use cerro_integration::cri::{CriConfig, CriContainerd};
    assert!(is_root(), "containerd needs root");
    let Some(sid) = Flavour::sid() else {
        return;
    };
    require("skopeo");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    scene(d);
    let good = manifest_digest(&d.join("attested"));
    let plain = manifest_digest(&d.join("plain"));
    let reg = TestRegistry::start();
    push_both(d, &reg);
    let verifiers = d.join("image-verifiers");
    fs::create_dir(&verifiers).unwrap();
    fs::copy(bin("cerro-image-verifier"), verifiers.join("cerro-image-verifier")).unwrap();
    let hosts = d.join("certs.d").join(reg.host());
    fs::create_dir_all(&hosts).unwrap();
    fs::write(
        hosts.join("hosts.toml"),
        format!(
            "server = \"http://{h}\"\n[host.\"http://{h}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            h = reg.host()
        ),
    )
    .unwrap();
    let vars = env(d);
    let env_refs: Vec<(&str, &Path)> = vars.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let ctd = CriContainerd::start_on(
        d,
        &CriConfig {
            sandbox_image: &format!("{}/none/pause:1", reg.host()),
            restrict_oom_score_adj: true,
            env: &env_refs,
            cni_bin_dir: None,
        },
        &sid,
    );
    let pulled = ctd.ok(
        "PullImage",
        serde_json::json!({"image": {"image": format!("{}/attested:good", reg.host())}}),
    );
    assert!(
        pulled["imageRef"].as_str().is_some_and(|r| r.starts_with("sha256:")),
        "{pulled}"
    );
    let refused = ctd
        .call(
            "PullImage",
            serde_json::json!({"image": {"image": format!("{}/plain:other", reg.host())}}),
        )
        .expect_err("the unattested image was pulled");
    assert!(
        refused.message.contains(&format!(
            "cerro-torre refused image {plain} (missing_attestation, exit 5)"
        )) && refused.message.contains("no bundle in the store"),
        "{refused}\n{}",
        ctd.log()
    );
    let listed = ctd.ok("ListImages", serde_json::json!({}));
    let tags: Vec<&str> = listed["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["repoTags"].as_array().unwrap().iter().filter_map(|t| t.as_str()))
        .collect();
    assert!(tags.iter().any(|t| t.ends_with("/attested:good")), "{tags:?}");
    assert!(!tags.iter().any(|t| t.ends_with("/plain:other")), "{tags:?}");
    let seen: Vec<(String, bool)> = audit(d)
        .iter()
        .map(|r| {
            (
                r["images"][0].as_str().unwrap().to_owned(),
                r["allowed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [(good, true), (plain, false)]);
}
