//! Rebuild attestations through a registry (issue #18): a bundle carrying
//! two rebuilders' attestations (`rebuilds/<key id>.dsse.json`, added after
//! the release signature) is pushed to Debian's docker-registry (`ct push`,
//! one artifact layer of media type `application/vnd.cerro-torre.rebuild.v1+json`
//! each) and fetched back (`ct fetch`) byte for byte, so a `rebuilt_by`
//! policy with threshold 2 is met by the fetched bundle as by the original.
//! A later push of the same release with more rebuilds is what a fetch
//! and `ct verify docker://` take (the referrers fallback tag names the
//! newest push); a rebuild layer changed in the registry refuses the fetch.
//! A multi-platform bundle's platform rebuilds
//! (`rebuilds/<key id>-<os>-<arch>.dsse.json`, #15) travel the same way and
//! count, after the fetch, for their own platform only.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::Path;

use cerro_core::image::layout::{basic_config, platform_config, write_platform_index, LayoutBuilder};
use cerro_core::image::{host_architecture, Platform};
use cerro_integration::registry::TestRegistry;
use cerro_integration::{ct, ct_ok, ct_status, run};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The members of the bundle at `path` whose path starts with `prefix`.
fn members(path: &Path, prefix: &str) -> Vec<String> {
    let out = run(std::process::Command::new("tar").args(["-tf", s(path)]));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn rebuilds_survive_push_and_fetch_and_meet_a_rebuilt_by_policy() {
    let reg = TestRegistry::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    for name in ["image", "rebuilt"] {
        let mut b = LayoutBuilder::new(&d.join(name)).unwrap();
        b.layer_tar(&[("etc/motd", 0o644, b"rebuilt alike\n")]).unwrap();
        b.finish(basic_config(&["/bin/true"]), Some("1")).unwrap();
    }
    for k in ["release", "r1", "r2"] {
        run(ct(&home).args(["keygen", "--id", k]));
    }
    let bundle = d.join("b.ctp");
    let image = format!("oci:{}:1", s(&d.join("image")));
    let rebuilt = format!("oci:{}:1", s(&d.join("rebuilt")));
    ct_ok(
        &home,
        &["pack", &image, "-o", s(&bundle), "--key", "release", "--no-sbom"],
    );
    ct_ok(&home, &["rebuild", s(&bundle), "--compare", &rebuilt, "--key", "r1"]);
    // The same release with one rebuild: pushed first, superseded below.
    let one = d.join("one.ctp");
    fs::copy(&bundle, &one).unwrap();
    ct_ok(&home, &["rebuild", s(&bundle), "--compare", &rebuilt, "--key", "r2"]);
    assert_eq!(members(&bundle, "rebuilds/").len(), 2);
    assert_eq!(members(&one, "rebuilds/").len(), 1);

    let policy = d.join("rebuilt.json");
    fs::write(
        &policy,
        r#"{"version":"1","default_action":"allow","require_attestations":{"rebuilt_by":{"threshold":2,"signers":[{"key_id":"r1"},{"key_id":"r2"}]}}}"#,
    )
    .unwrap();
    let (code, out) = ct_status(&home, &["verify", s(&one), "--policy", s(&policy)]);
    assert_eq!(code, 4, "one rebuild does not meet threshold 2: {out}");
    assert!(out.contains("rebuilt_by"), "{out}");

    let reference = format!("{}/cerro/rebuilt:1", reg.host());
    ct_ok(&home, &["push", s(&one), &reference]);
    let fetched = d.join("fetched-one.ctp");
    ct_ok(&home, &["fetch", &reference, "-o", s(&fetched)]);
    assert!(
        fs::read(&fetched).unwrap() == fs::read(&one).unwrap(),
        "the fetched bundle is the pushed one (one rebuild), byte for byte"
    );

    // Checked in the registry (`ct verify docker://`, no layer downloaded)
    // as the fetch would take it: one rebuild, threshold 2 not met.
    let remote = format!("docker://{reference}");
    let (code, out) = ct_status(&home, &["verify", &remote, "--policy", s(&policy)]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("rebuilt_by"), "{out}");

    // The same release pushed again with both rebuilds: the fetch takes it.
    ct_ok(&home, &["push", s(&bundle), &reference]);
    let (code, out) = ct_status(&home, &["verify", &remote, "--policy", s(&policy)]);
    assert_eq!(code, 0, "{out}");
    let fetched = d.join("fetched.ctp");
    ct_ok(&home, &["fetch", &reference, "-o", s(&fetched)]);
    assert!(
        fs::read(&fetched).unwrap() == fs::read(&bundle).unwrap(),
        "the fetched bundle is the later pushed one (two rebuilds), byte for byte"
    );
    assert_eq!(members(&fetched, "rebuilds/").len(), 2);
    let (code, out) = ct_status(&home, &["verify", s(&fetched), "--policy", s(&policy)]);
    assert_eq!(code, 0, "{out}");

    // The rebuilds as the registry holds them: layers of their own media
    // type, titled with their member paths.
    let (status, _, body) = reg.get("/v2/cerro/rebuilt/tags/list", "application/json").unwrap();
    assert_eq!(status, 200);
    let tags: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let fallback = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|t| t.as_str().filter(|t| t.starts_with("sha256-") && !t.contains('.')))
        .unwrap()
        .to_owned();
    let (_, _, index) = reg
        .get(
            &format!("/v2/cerro/rebuilt/manifests/{fallback}"),
            "application/vnd.oci.image.index.v1+json",
        )
        .unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let listed: Vec<&serde_json::Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["artifactType"] == "application/vnd.cerro-torre.bundle.v1+json")
        .collect();
    assert_eq!(listed.len(), 1, "the later push replaced the earlier: {index}");
    let (_, _, artifact) = reg
        .get(
            &format!("/v2/cerro/rebuilt/manifests/{}", listed[0]["digest"].as_str().unwrap()),
            "application/vnd.oci.image.manifest.v1+json",
        )
        .unwrap();
    let artifact: serde_json::Value = serde_json::from_slice(&artifact).unwrap();
    let layers: Vec<&serde_json::Value> = artifact["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["mediaType"] == "application/vnd.cerro-torre.rebuild.v1+json")
        .collect();
    let titles: Vec<String> = layers
        .iter()
        .map(|l| {
            l["annotations"]["org.opencontainers.image.title"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(titles, members(&bundle, "rebuilds/"));

    // A rebuild layer changed in the registry: the fetch is refused, and
    // nothing is left at the output path.
    let hex = layers[0]["digest"].as_str().unwrap().trim_start_matches("sha256:");
    let file = reg.blob_file(hex);
    let mut bytes = fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&file, bytes).unwrap();
    let target = d.join("tampered.ctp");
    let (code, out) = ct_status(&home, &["fetch", &reference, "-o", s(&target)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("digest mismatch"), "{out}");
    assert!(!target.exists());
}

/// A two-platform bundle with a rebuild of each platform, by r1 (this
/// host's) and r2 (the other): `ct push` carries both as rebuild layers
/// titled with their platform member names, `ct fetch` gives the bundle
/// back byte for byte, and `ct verify` of the fetched bundle counts r1's
/// (this host's platform) and not r2's, as of the original.
#[test]
fn platform_rebuilds_survive_push_and_fetch_and_count_for_their_platform() {
    let reg = TestRegistry::start();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let home = d.join("home");
    let host = host_architecture();
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    let content = |arch: &str| format!("binary for {arch}\n");
    let multi = d.join("multi");
    let entries: Vec<_> = [host, other]
        .iter()
        .map(|arch| {
            let mut b = LayoutBuilder::new(&multi).unwrap();
            b.layer_tar(&[("bin/app", 0o755, content(arch).as_bytes())]).unwrap();
            let m = b.finish_image(platform_config("linux", arch, &["/bin/app"])).unwrap();
            let p = Platform {
                os: "linux".into(),
                architecture: (*arch).into(),
                variant: None,
            };
            (m, p)
        })
        .collect();
    write_platform_index(&multi, &entries, Some("1")).unwrap();
    // Each platform rebuilt alone, as its rebuilder has it.
    let rebuilt = |arch: &str| {
        let dir = d.join(format!("rebuilt-{arch}"));
        let mut b = LayoutBuilder::new(&dir).unwrap();
        b.layer_tar(&[("bin/app", 0o755, content(arch).as_bytes())]).unwrap();
        b.finish(platform_config("linux", arch, &["/bin/app"]), Some("1"))
            .unwrap();
        format!("oci:{}:1", s(&dir))
    };
    for k in ["release", "r1", "r2"] {
        run(ct(&home).args(["keygen", "--id", k]));
    }
    let bundle = d.join("m.ctp");
    let image = format!("oci:{}:1", s(&multi));
    ct_ok(
        &home,
        &["pack", &image, "-o", s(&bundle), "--key", "release", "--no-sbom"],
    );
    ct_ok(
        &home,
        &["rebuild", s(&bundle), "--compare", &rebuilt(host), "--key", "r1"],
    );
    ct_ok(
        &home,
        &["rebuild", s(&bundle), "--compare", &rebuilt(other), "--key", "r2"],
    );
    let names = members(&bundle, "rebuilds/");
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with(&format!("-linux-{host}.dsse.json")))
            && names.iter().any(|n| n.ends_with(&format!("-linux-{other}.dsse.json"))),
        "{names:?}"
    );

    let reference = format!("{}/cerro/multi-rebuilt:1", reg.host());
    ct_ok(&home, &["push", s(&bundle), &reference]);
    let fetched = d.join("fetched.ctp");
    ct_ok(&home, &["fetch", &reference, "-o", s(&fetched)]);
    assert!(
        fs::read(&fetched).unwrap() == fs::read(&bundle).unwrap(),
        "the fetched bundle is the pushed one, platform rebuilds and all, byte for byte"
    );
    let policy = |key: &str| {
        let p = d.join(format!("{key}.json"));
        fs::write(
            &p,
            format!(
                r#"{{"version":"1","default_action":"allow","require_attestations":{{"rebuilt_by":{{"threshold":1,"signers":[{{"key_id":"{key}"}}]}}}}}}"#
            ),
        )
        .unwrap();
        p
    };
    let (r1, r2) = (policy("r1"), policy("r2"));
    let (code, out) = ct_status(&home, &["verify", s(&fetched), "--policy", s(&r1)]);
    assert_eq!(code, 0, "this host's platform's rebuild counts: {out}");
    assert!(out.contains("rebuilt by r1"), "{out}");
    let (code, out) = ct_status(&home, &["verify", s(&fetched), "--policy", s(&r2)]);
    assert_eq!(code, 4, "the other platform's rebuild does not count here: {out}");
    assert!(
        out.contains(&format!("a rebuild of platform linux/{other}, not of this host's")),
        "{out}"
    );
    // In the registry, as the fetch takes it.
    let remote = format!("docker://{reference}");
    let (code, out) = ct_status(&home, &["verify", &remote, "--policy", s(&r1)]);
    assert_eq!(code, 0, "{out}");
}
