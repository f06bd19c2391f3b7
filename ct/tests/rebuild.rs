//! `ct rebuild` through the real binary (spec/attestations.md §4): an
//! identical rebuild is signed and added to the bundle, and a policy's
//! `require_attestations.rebuilt_by` counts it in `ct verify`, `ct explain`
//! and the runtime's decision (`ct verify --as-runtime`); a rebuild with
//! one file changed in its layer is caught, the layer and the file named,
//! and nothing is signed. The tests run as root (the daemons' ownership
//! checks pass on the temporary directories).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use cerro_core::image::layout::{basic_config, LayoutBuilder};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// The image `image` (one layer holding hello.txt), keys `release`,
    /// `r1`, `r2`, and `b.ctp` packed from it, signed by `release`.
    fn new() -> Self {
        let env = Env {
            dir: tempfile::tempdir().unwrap(),
        };
        env.layout("image", &[("hello.txt", b"hello\n")]);
        for k in ["release", "r1", "r2"] {
            env.expect(&[], 0, &["keygen", "--id", k]);
        }
        let image = env.oci("image");
        env.expect(&[], 0, &["pack", &image, "-o", &env.s("b.ctp"), "--key", "release"]);
        env
    }

    /// An OCI layout `name` with one layer of these files, tagged 1.0: the
    /// same files give the same bytes (the builder is deterministic), as a
    /// reproducible rebuild does.
    fn layout(&self, name: &str, files: &[(&str, &[u8])]) {
        let mut b = LayoutBuilder::new(&self.path(name)).unwrap();
        let files: Vec<(&str, u32, &[u8])> = files.iter().map(|(p, c)| (*p, 0o644, *c)).collect();
        b.layer_tar(&files).unwrap();
        b.finish(basic_config(&["/hello.txt"]), Some("1.0")).unwrap();
    }

    fn oci(&self, name: &str) -> String {
        format!("oci:{}:1.0", self.path(name).display())
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

    /// The `rebuilds` of `ct explain --json` (with `policy`, if given).
    fn rebuilds(&self, bundle: &str, policy: Option<&str>) -> Vec<serde_json::Value> {
        let mut args = vec!["explain", bundle, "--json"];
        if let Some(p) = policy {
            args.extend(["--policy", p]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_ct"))
            .args(&args)
            .env("CERRO_HOME", self.path("home"))
            .env_remove("CERRO_POLICY")
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["rebuilds"].as_array().unwrap().clone()
    }
}

/// Whether `name` is on this process's PATH.
fn which(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

const TWO_REBUILDERS: &str = r#"{"version":"1","default_action":"allow",
  "require_attestations":{"rebuilt_by":{"threshold":2,"signers":[{"key_id":"r1"},{"key_id":"r2"}]}}}"#;

#[test]
fn a_matching_rebuild_is_signed_added_and_counted_by_the_policy() {
    let env = Env::new();
    let b = env.s("b.ctp");
    let b2 = env.s("b2.ctp");
    fs::write(env.path("two.json"), TWO_REBUILDERS).unwrap();
    let two = env.s("two.json");
    env.layout("rebuilt", &[("hello.txt", b"hello\n")]);
    let rebuilt = env.oci("rebuilt");

    let before = fs::read(&b).unwrap();
    let out = env.expect(&[], 0, &["rebuild", &b, "--compare", &rebuilt, "--key", "r1"]);
    assert!(out.contains("config      sha256:") && out.contains("matches"), "{out}");
    assert!(
        out.contains("rebuild attestation rebuilds/") && out.contains("signed by r1"),
        "{out}"
    );
    let after = fs::read(&b).unwrap();
    assert_ne!(before, after, "added in place");
    // -o writes elsewhere and leaves the input as it was.
    env.expect(
        &[],
        0,
        &["rebuild", &b, "--compare", &rebuilt, "--key", "r2", "-o", &b2],
    );
    assert_eq!(fs::read(&b).unwrap(), after);
    assert_eq!(env.rebuilds(&b, None).len(), 1);
    assert_eq!(env.rebuilds(&b2, None).len(), 2);

    // Two rebuilders meet the threshold; one does not.
    let out = env.expect(&[], 0, &["verify", &b2, "--policy", &two]);
    // In member order: by fingerprint, which keygen makes at random.
    assert!(
        out.contains("signed by release, rebuilt by r1, r2") || out.contains("signed by release, rebuilt by r2, r1"),
        "{out}"
    );
    let out = env.expect(&[], 4, &["verify", &b, "--policy", &two]);
    assert!(
        out.contains("policy rejection by rule require_attestations.rebuilt_by: 1 of 2 required distinct rebuilder(s)"),
        "{out}"
    );
    // Rebuilding again with the same key replaces its attestation.
    env.expect(&[], 0, &["rebuild", &b2, "--compare", &rebuilt, "--key", "r1"]);
    assert_eq!(env.rebuilds(&b2, None).len(), 2);

    // ct explain: who, when, the result, and whether each counts.
    let out = env.expect(&[], 0, &["explain", &b2, "--policy", &two]);
    assert!(out.contains("rebuilds\n"), "{out}");
    for k in ["r1", "r2"] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(k) && l.contains("PASSED"))
            .unwrap_or_else(|| panic!("{k}: {out}"));
        assert!(line.contains("by https://cerro-torre.org/ct-rebuild at 20"), "{line}");
        assert!(line.ends_with("counts under the policy"), "{line}");
    }
    let json = env.rebuilds(&b2, Some(&two));
    assert!(
        json.iter()
            .all(|r| r["status"] == "verified" && r["policy"]["status"] == "counted"),
        "{json:?}"
    );

    // A co-signature of the release keeps the rebuilds: they bind its
    // statement, which co-signing does not change.
    env.expect(&[], 0, &["keygen", "--id", "cosigner"]);
    env.expect(&[], 0, &["sign", &b2, "--key", "cosigner"]);
    env.expect(&[], 0, &["verify", &b2, "--policy", &two]);

    // The runtime applies the same policy: refused before the rebuilds,
    // allowed with them.
    let policy = [("CERRO_POLICY", two.clone())];
    env.expect(&[], 0, &["load", &b]);
    let out = env.expect(&policy, 4, &["verify", "--as-runtime", &b]);
    assert!(out.contains("require_attestations.rebuilt_by"), "{out}");
    env.expect(&[], 0, &["load", &b2, "--allow-older"]);
    let out = env.expect(&policy, 0, &["verify", "--as-runtime", &b2]);
    assert!(out.contains("verdict     ALLOWED"), "{out}");

    // A revoked rebuilder no longer counts.
    env.expect(&[], 0, &["key", "revoke", "r2"]);
    let out = env.expect(&[], 4, &["verify", &b2, "--policy", &two]);
    assert!(out.contains("r2: revoked"), "{out}");
    let out = env.expect(&[], 4, &["explain", &b2, "--policy", &two]);
    assert!(out.contains("does not count under the policy (revoked)"), "{out}");
}

#[test]
fn a_planted_difference_is_caught_named_and_not_signed() {
    let env = Env::new();
    let b = env.s("b.ctp");
    let before = fs::read(&b).unwrap();
    env.layout("rebuilt", &[("hello.txt", b"hello, world\n"), ("extra.txt", b"x")]);
    let out = env.expect(
        &[],
        1,
        &["rebuild", &b, "--compare", &env.oci("rebuilt"), "--key", "r1"],
    );
    assert!(out.contains("layer 1 DIFFERS: bundle sha256:"), "{out}");
    assert!(
        out.contains("changed: /hello.txt: bundle file 644, 6 bytes, sha256:")
            && out.contains("rebuilt file 644, 13 bytes, sha256:"),
        "{out}"
    );
    assert!(
        out.contains("only in the rebuilt image: /extra.txt (file 644, 1 bytes"),
        "{out}"
    );
    assert!(out.contains("nothing was signed"), "{out}");
    assert_eq!(fs::read(&b).unwrap(), before, "the bundle is untouched");
    // diffoscope's report, an extra (scripts/install-deps installs
    // diffoscope-minimal; without it the listing above is all).
    if which("diffoscope") {
        let report = out
            .split_once("diffoscope:")
            .map(|(_, r)| r)
            .unwrap_or_else(|| panic!("{out}"));
        assert!(report.contains("hello.txt"), "{report}");
    }
    // Without diffoscope on PATH the comparison is the same, without the extra.
    let path = format!("{}:/usr/bin:/bin", env.s("empty-path"));
    fs::create_dir_all(env.path("empty-path")).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_ct"));
    c.args(["rebuild", &b, "--compare", &env.oci("rebuilt"), "--key", "r1"])
        .env("CERRO_HOME", env.path("home"))
        .env("PATH", if which("diffoscope") { env.s("empty-path") } else { path });
    let bare = c.output().unwrap();
    assert_eq!(bare.status.code(), Some(1));
    let bare = String::from_utf8_lossy(&bare.stdout);
    assert!(
        bare.contains("changed: /hello.txt") && !bare.contains("diffoscope:"),
        "{bare}"
    );

    // A bundle that does not verify is not compared: nothing is signed.
    let mut bad = before.clone();
    let at = bad.len() - 1024 - 600;
    bad[at] ^= 1;
    fs::write(env.path("bad.ctp"), &bad).unwrap();
    env.expect(
        &[],
        1,
        &[
            "rebuild",
            &env.s("bad.ctp"),
            "--compare",
            &env.oci("image"),
            "--key",
            "r1",
        ],
    );
    assert_eq!(fs::read(env.path("bad.ctp")).unwrap(), bad, "nothing added");
    // Without --compare, until ct build lands: a clear refusal.
    let out = env.expect(&[], 78, &["rebuild", &b, "--key", "r1"]);
    assert!(
        out.contains("--sources DIR") && out.contains("--compare IMAGE"),
        "{out}"
    );
}

/// A multi-platform bundle is rebuilt one platform at a time (#18): each
/// platform's rebuilt image is compared with that platform's manifest (the
/// platform its config names), and the rebuild signed names the platform
/// (`rebuilds/<key id>-linux-<arch>.dsse.json`). `rebuilt_by` counts the
/// rebuilds of this host's platform only; a candidate for a platform the
/// bundle lacks is refused (5) naming those it has; a planted difference
/// is named (1); a rebuild moved to this host's platform's name fails.
#[test]
fn a_multi_platform_bundle_is_rebuilt_one_platform_at_a_time() {
    use cerro_core::image::layout::{platform_config, write_platform_index};
    use cerro_core::image::{host_architecture, Platform};
    let env = Env::new();
    let host = host_architecture();
    assert!(
        host == "amd64" || host == "arm64",
        "the index built here holds amd64 and arm64; this host is {host}"
    );
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    // One platform's image: its own binary, a config naming its platform.
    let image = |dir: &std::path::Path, arch: &str, content: &str| {
        let mut b = LayoutBuilder::new(dir).unwrap();
        b.layer_tar(&[("bin/app", 0o755, content.as_bytes())]).unwrap();
        b.finish_image(platform_config("linux", arch, &["/bin/app"])).unwrap()
    };
    let binary = |arch: &str| format!("binary for {arch}\n");
    let multi = env.path("multi");
    let entries: Vec<_> = [host, other]
        .iter()
        .map(|arch| {
            (
                image(&multi, arch, &binary(arch)),
                Platform {
                    os: "linux".into(),
                    architecture: (*arch).into(),
                    variant: None,
                },
            )
        })
        .collect();
    write_platform_index(&multi, &entries, Some("1")).unwrap();
    let m = env.s("m.ctp");
    env.expect(
        &[],
        0,
        &[
            "pack",
            &format!("oci:{}:1", multi.display()),
            "-o",
            &m,
            "--key",
            "release",
        ],
    );
    // Single-platform rebuilt images, as a rebuilder of one platform has.
    let rebuilt = |name: &str, arch: &str, content: &str| {
        let dir = env.path(name);
        let mut b = LayoutBuilder::new(&dir).unwrap();
        b.layer_tar(&[("bin/app", 0o755, content.as_bytes())]).unwrap();
        b.finish(platform_config("linux", arch, &["/bin/app"]), Some("1"))
            .unwrap();
        format!("oci:{}:1", dir.display())
    };
    let host_image = rebuilt("rebuilt-host", host, &binary(host));
    let other_image = rebuilt("rebuilt-other", other, &binary(other));
    let r1 = r#"{"version":"1","default_action":"allow",
      "require_attestations":{"rebuilt_by":{"threshold":1,"signers":[{"key_id":"r1"}]}}}"#;
    let r2 = r#"{"version":"1","default_action":"allow",
      "require_attestations":{"rebuilt_by":{"threshold":1,"signers":[{"key_id":"r2"}]}}}"#;
    fs::write(env.path("r1.json"), r1).unwrap();
    fs::write(env.path("r2.json"), r2).unwrap();
    let (r1, r2) = (env.s("r1.json"), env.s("r2.json"));

    // This host's platform, by the rebuilt image's own config.
    let out = env.expect(&[], 0, &["rebuild", &m, "--compare", &host_image, "--key", "r1"]);
    assert!(
        out.contains(&format!("for platform linux/{host}: the config and 1 layer(s) match"))
            && out.contains(&format!("-linux-{host}.dsse.json signed by r1")),
        "{out}"
    );
    let out = env.expect(&[], 0, &["verify", &m, "--policy", &r1]);
    assert!(out.contains("rebuilt by r1"), "{out}");
    // The other platform, named explicitly, by r2: verified, not counted here.
    let out = env.expect(
        &[],
        0,
        &[
            "rebuild",
            &m,
            "--compare",
            &other_image,
            "--platform",
            &format!("linux/{other}"),
            "--key",
            "r2",
        ],
    );
    assert!(out.contains(&format!("-linux-{other}.dsse.json signed by r2")), "{out}");
    let out = env.expect(&[], 4, &["verify", &m, "--policy", &r2]);
    assert!(
        out.contains("require_attestations.rebuilt_by: 0 of 1 required distinct rebuilder(s)")
            && out.contains("(2 rebuild attestation(s) carried)")
            && out.contains("; not counted: rebuilds/")
            && out.contains(&format!(
                "(r2): a rebuild of platform linux/{other}, not of this host's (linux/{host})"
            )),
        "{out}"
    );
    let json = env.rebuilds(&m, Some(&r2));
    let status = |suffix: &str| {
        json.iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix}: {json:?}"))["status"]
            .clone()
    };
    assert_eq!(status(&format!("-linux-{host}.dsse.json")), "verified");
    assert_eq!(status(&format!("-linux-{other}.dsse.json")), "other_platform");
    let out = env.expect(&[], 4, &["explain", &m, "--policy", &r2]);
    assert!(
        out.contains("of another platform than the one counted (this host's, or --platform); not counted"),
        "{out}"
    );
    // ct verify --platform (#15): an operator checking the bundle for a
    // node of the other architecture counts that platform's rebuilds, by
    // ct pack --platform's rule; the runtime's admission is untouched.
    let theirs = format!("linux/{other}");
    let out = env.expect(&[], 0, &["verify", &m, "--policy", &r2, "--platform", &theirs]);
    assert!(out.contains("rebuilt by r2") && !out.contains("r1"), "{out}");
    let out = env.expect(&[], 4, &["verify", &m, "--policy", &r1, "--platform", &theirs]);
    assert!(
        out.contains(&format!(
            "(r1): a rebuild of platform linux/{host}, not of linux/{other}'s (--platform)"
        )),
        "{out}"
    );
    let out = env.expect(&[], 0, &["explain", &m, "--policy", &r2, "--platform", &theirs]);
    assert!(out.contains("verdict     VALID (exit 0)"), "{out}");
    let out = env.expect(&[], 78, &["verify", &m, "--platform", "linux/s390x"]);
    assert!(
        out.contains("has no image for platform linux/s390x")
            && out.contains(&format!("linux/{host}"))
            && out.contains(&format!("linux/{other}")),
        "{out}"
    );
    env.expect(&[], 78, &["verify", &m, "--platform", "linux"]);
    // A single image's bundle: only its own platform.
    let b = env.s("b.ctp");
    env.expect(&[], 0, &["verify", &b, "--platform", "linux/amd64"]);
    let out = env.expect(&[], 78, &["verify", &b, "--platform", "linux/riscv64"]);
    assert!(out.contains("a single image for platform linux/amd64"), "{out}");
    // The runtime's decision (the shim and the hook admit this host's
    // platform) counts the same way.
    env.expect(&[], 0, &["load", &m]);
    let out = env.expect(&[("CERRO_POLICY", r1.clone())], 0, &["verify", "--as-runtime", &m]);
    assert!(out.contains("verdict     ALLOWED"), "{out}");
    let out = env.expect(&[("CERRO_POLICY", r2.clone())], 4, &["verify", "--as-runtime", &m]);
    assert!(out.contains("require_attestations.rebuilt_by"), "{out}");
    // r1 rebuilds the other platform too: two members of one key, counted
    // once (the host's) by a threshold of two distinct rebuilders.
    env.expect(&[], 0, &["rebuild", &m, "--compare", &other_image, "--key", "r1"]);
    assert_eq!(env.rebuilds(&m, None).len(), 3);
    fs::write(env.path("two.json"), TWO_REBUILDERS).unwrap();
    let out = env.expect(&[], 4, &["verify", &m, "--policy", &env.s("two.json")]);
    assert!(out.contains("1 of 2 required distinct rebuilder(s)"), "{out}");

    // A candidate for a platform the bundle lacks, by its config or by name.
    let before = fs::read(&m).unwrap();
    let s390x = rebuilt("rebuilt-s390x", "s390x", &binary(host));
    let out = env.expect(&[], 5, &["rebuild", &m, "--compare", &s390x, "--key", "r1"]);
    assert!(
        out.contains("the bundle has no platform linux/s390x")
            && out.contains(&format!("linux/{host}"))
            && out.contains(&format!("linux/{other}")),
        "{out}"
    );
    // Named with --platform, the rule of every --platform: 78, with the
    // platforms the bundle has.
    let out = env.expect(
        &[],
        78,
        &[
            "rebuild",
            &m,
            "--compare",
            &host_image,
            "--platform",
            "linux/s390x",
            "--key",
            "r1",
        ],
    );
    assert!(
        out.contains("has no image for platform linux/s390x") && out.contains(&format!("linux/{other}")),
        "{out}"
    );
    // A planted difference in this host's binary: named, nothing signed.
    let planted = rebuilt("rebuilt-planted", host, "a planted backdoor\n");
    let out = env.expect(&[], 1, &["rebuild", &m, "--compare", &planted, "--key", "r1"]);
    assert!(
        out.contains("layer 1 DIFFERS: bundle sha256:") && out.contains("changed: /bin/app: bundle file 755"),
        "{out}"
    );
    assert!(out.contains("nothing was signed"), "{out}");
    assert_eq!(fs::read(&m).unwrap(), before, "the bundle is untouched");

    // r2's rebuild of the other platform renamed to this host's platform:
    // it names the other platform's manifest, so it fails and r2 still
    // does not count. (amd64 and arm64 have names of one length: only the
    // tar header's name and checksum change.)
    let mut moved = before.clone();
    let json = env.rebuilds(&m, None);
    let from = json
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .find(|p| {
            p.ends_with(&format!("-linux-{other}.dsse.json")) && {
                json.iter().any(|r| r["path"] == *p.as_str() && r["key_id"] == "r2")
            }
        })
        .unwrap();
    let to = from.replace(&format!("-linux-{other}."), &format!("-linux-{host}."));
    assert_eq!(from.len(), to.len());
    let at = (0..moved.len())
        .step_by(512)
        .find(|&i| moved[i..].starts_with(from.as_bytes()))
        .unwrap();
    moved[at..at + to.len()].copy_from_slice(to.as_bytes());
    moved[at + 148..at + 156].copy_from_slice(b"        ");
    let sum: u32 = moved[at..at + 512].iter().map(|&b| u32::from(b)).sum();
    moved[at + 148..at + 156].copy_from_slice(format!("{sum:07o}\0").as_bytes());
    let mv = env.s("moved.ctp");
    fs::write(&mv, &moved).unwrap();
    let out = env.expect(&[], 4, &["verify", &mv, "--policy", &r2]);
    assert!(
        out.contains(&format!("{to} (r2): its subject is not this image"))
            && out.contains("a rebuild of another image"),
        "{out}"
    );

    // A rebuilt index is compared by its manifest for --platform, which it
    // then needs; --platform on a single image's bundle is refused.
    let index = format!("oci:{}:1", multi.display());
    let out = env.expect(&[], 78, &["rebuild", &m, "--compare", &index, "--key", "r2"]);
    assert!(out.contains("the rebuilt image is a multi-platform index"), "{out}");
    let out = env.expect(
        &[],
        0,
        &[
            "rebuild",
            &m,
            "--compare",
            &index,
            "--platform",
            &format!("linux/{host}"),
            "--key",
            "r2",
        ],
    );
    assert!(out.contains(&format!("-linux-{host}.dsse.json signed by r2")), "{out}");
    env.expect(&[], 0, &["verify", &m, "--policy", &r2]);
    assert_eq!(env.rebuilds(&m, None).len(), 4);
    let out = env.expect(
        &[],
        78,
        &[
            "rebuild",
            &env.s("b.ctp"),
            "--compare",
            &env.oci("image"),
            "--platform",
            "linux/amd64",
            "--key",
            "r1",
        ],
    );
    assert!(out.contains("the bundle is a single image"), "{out}");
}
