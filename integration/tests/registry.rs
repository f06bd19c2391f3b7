//! End to end against a real registry: Debian's `docker-registry`
//! (distribution 2.8, which has no referrers API) started on 127.0.0.1 with
//! a private storage directory. `ct push` / `ct fetch` round trips, the
//! referrers tag fallback, skopeo pulling what `ct push` stored, and a
//! registry serving a tampered blob.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cerro_integration::{busybox_image, ct, ct_status, require, run, statement_in};

/// A `docker-registry` process, killed when dropped (also when a test panics).
struct RegistryGuard {
    child: Child,
    port: u16,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl RegistryGuard {
    fn start() -> Self {
        require("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("storage");
        fs::create_dir_all(&root).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                root.display()
            ),
        )
        .unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let guard = RegistryGuard {
            child,
            port,
            root,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((status, _)) = guard.try_get("/v2/", "*/*") {
                if status == 200 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        guard
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A minimal HTTP/1.0 GET: (status, body).
    fn try_get(&self, path: &str, accept: &str) -> Option<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: {}\r\nAccept: {accept}\r\n\r\n",
            self.host()
        )
        .ok()?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).ok()?;
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&resp[..split]).into_owned();
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, resp[split + 4..].to_vec()))
    }

    /// The file holding blob `hex` in the registry's filesystem storage.
    fn blob_file(&self, hex: &str) -> PathBuf {
        self.root
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A busybox image packed and signed by `maintainer` in `home`: (bundle, image manifest digest).
fn packed_busybox(d: &Path, home: &Path, note: &str) -> (PathBuf, String) {
    busybox_image(d, "img", "busybox", note);
    run(ct(home).args(["keygen", "--id", "maintainer"]));
    let bundle = d.join("bb.ctp");
    let image = format!("oci:{}:busybox", d.join("img").display());
    run(ct(home).args(["pack", &image, "-o", bundle.to_str().unwrap(), "--key", "maintainer"]));
    let index: serde_json::Value = serde_json::from_slice(&fs::read(d.join("img/index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    (bundle, digest)
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn push_fetch_round_trip_referrers_fallback_and_skopeo() {
    let reg = RegistryGuard::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let (bundle, digest) = packed_busybox(d, &home, "");
    let s = |p: &str| d.join(p).display().to_string();
    let reference = format!("{}/cerro/busybox:1.35", reg.host());

    let (code, out) = ct_status(&home, &["push", &s("bb.ctp"), &reference]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&digest), "{out}");
    assert!(out.contains(", 0 already present"), "{out}");

    // Pushed again: the registry has every blob, none is sent again.
    let (code, out) = ct_status(&home, &["push", &s("bb.ctp"), &reference]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("(0 blob(s) uploaded"), "{out}");

    // The image is there unchanged: REF resolves to the very manifest bytes.
    let hex = digest.trim_start_matches("sha256:");
    let (status, body) = reg
        .try_get(
            "/v2/cerro/busybox/manifests/1.35",
            "application/vnd.oci.image.manifest.v1+json",
        )
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, fs::read(d.join("img/blobs/sha256").join(hex)).unwrap());

    // distribution 2.8 has no referrers API; the artifact is listed under the tag fallback.
    let (status, _) = reg
        .try_get(&format!("/v2/cerro/busybox/referrers/{digest}"), "*/*")
        .unwrap();
    assert_eq!(
        status, 404,
        "this registry has grown a referrers API: test the API path too"
    );
    let (status, body) = reg
        .try_get(
            &format!("/v2/cerro/busybox/manifests/sha256-{hex}"),
            "application/vnd.oci.image.index.v1+json",
        )
        .unwrap();
    assert_eq!(status, 200);
    let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "pushing twice lists the bundle once: {index}");
    assert_eq!(entries[0]["artifactType"], "application/vnd.cerro-torre.bundle.v1+json");
    let artifact = entries[0]["digest"].as_str().unwrap();
    let (status, body) = reg
        .try_get(
            &format!("/v2/cerro/busybox/manifests/{artifact}"),
            "application/vnd.oci.image.manifest.v1+json",
        )
        .unwrap();
    assert_eq!(status, 200);
    let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(m["subject"]["digest"], digest.as_str());
    let titles: Vec<&str> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["annotations"]["org.opencontainers.image.title"].as_str().unwrap())
        .collect();
    assert_eq!(titles[0], "manifest.toml");
    assert!(titles.contains(&"attestations/release.dsse.json"), "{titles:?}");

    // Fetched back: verified, and byte-identical to what was pushed.
    let (code, out) = ct_status(&home, &["fetch", &reference, "-o", &s("fetched.ctp")]);
    assert_eq!(code, 0, "{out}");
    assert!(Command::new("cmp")
        .arg(&bundle)
        .arg(d.join("fetched.ctp"))
        .status()
        .unwrap()
        .success());
    // By digest too.
    let by_digest = format!("{}/cerro/busybox@{digest}", reg.host());
    let (code, out) = ct_status(&home, &["fetch", &by_digest, "-o", &s("fetched2.ctp")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(fs::read(&bundle).unwrap(), fs::read(d.join("fetched2.ctp")).unwrap());
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));

    // A host that does not trust the signer gets exit 3 and no file.
    let stranger = d.join("stranger");
    run(ct(&stranger).args(["keygen", "--id", "someone-else"]));
    let (code, out) = ct_status(&stranger, &["fetch", &reference, "-o", &s("untrusted.ctp")]);
    assert_eq!(code, 3, "{out}");
    assert!(!d.join("untrusted.ctp").exists());
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));

    // skopeo copies what ct pushed, and it is the same image.
    require("skopeo");
    run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("oci:{}:copied", s("skopeo")),
    ]));
    let index: serde_json::Value = serde_json::from_slice(&fs::read(d.join("skopeo/index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());

    // `ct pack docker://REF` packs straight from the registry: the same image,
    // and provenance naming the registry reference.
    let (code, out) = ct_status(
        &home,
        &[
            "pack",
            &format!("docker://{reference}"),
            "-o",
            &s("from-registry.ctp"),
            "--key",
            "maintainer",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = ct_status(&home, &["explain", &s("from-registry.ctp"), "--json"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["bundle"]["image"]["digest"], digest.as_str());
    assert_eq!(report["bundle"]["reference"], "1.35");
    let st = statement_in(&d.join("from-registry.ctp"), "attestations/provenance.dsse.json");
    assert_eq!(
        st["predicate"]["buildDefinition"]["resolvedDependencies"][0]["uri"],
        format!("docker://{reference}").as_str()
    );
    // A reference that does not exist is a network error (exit 12), and nothing is written.
    let (code, out) = ct_status(
        &home,
        &[
            "pack",
            &format!("docker://{}/cerro/absent:1", reg.host()),
            "-o",
            &s("absent.ctp"),
            "--key",
            "maintainer",
        ],
    );
    assert_eq!(code, 12, "{out}");
    assert!(!d.join("absent.ctp").exists());
}

#[test]
fn tampered_blob_in_the_registry_is_refused_and_nothing_is_written() {
    let reg = RegistryGuard::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let (_, digest) = packed_busybox(d, &home, "tamper");
    let s = |p: &str| d.join(p).display().to_string();
    let reference = format!("{}/cerro/tamper:1", reg.host());
    run(ct(&home).args(["push", &s("bb.ctp"), &reference]));

    // Flip one byte in the middle of the layer as the registry stores it;
    // distribution serves it as stored, under the original digest.
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(d.join("img/blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let file = reg.blob_file(layer);
    let mut bytes = fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&file, bytes).unwrap();

    let out_dir = d.join("out");
    fs::create_dir(&out_dir).unwrap();
    let target = out_dir.join("fetched.ctp");
    let (code, out) = ct_status(&home, &["fetch", &reference, "-o", target.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("digest mismatch"), "{out}");
    assert!(!target.exists());
    assert_eq!(
        fs::read_dir(&out_dir).unwrap().count(),
        0,
        "temporary files left behind"
    );
}

#[test]
fn unreachable_registry_exits_12() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    run(ct(&home).args(["keygen", "--id", "k"]));
    // A port nobody listens on (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target = dir.path().join("x.ctp");
    let (code, out) = ct_status(
        &home,
        &[
            "fetch",
            &format!("127.0.0.1:{port}/a/b:c"),
            "-o",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 12, "{out}");
    assert!(out.contains("network error"), "{out}");
    assert!(!target.exists());
}

/// A TCP proxy in front of the registry that answers the first `fail`
/// connections with `503 Service Unavailable`, then forwards bytes as is.
fn flaky_proxy(upstream: u16, fail: usize) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let refused = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { return };
            if counter.load(Ordering::SeqCst) < fail {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = client.read(&mut buf);
                let _ = client.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\nConnection: close\r\n\r\nbusy, sry",
                );
                continue;
            }
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let mut server = server;
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, refused)
}

#[test]
fn server_errors_are_retried_then_reported_with_exit_12() {
    let reg = RegistryGuard::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let (bundle, _) = packed_busybox(d, &home, "flaky");
    let bundle = bundle.to_str().unwrap();

    // Two 503s, then the registry: the push goes through after the backoff.
    let (port, refused) = flaky_proxy(reg.port, 2);
    let (code, out) = ct_status(&home, &["push", bundle, &format!("127.0.0.1:{port}/cerro/flaky:1")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 2);
    let (code, out) = ct_status(
        &home,
        &[
            "fetch",
            &format!("127.0.0.1:{port}/cerro/flaky:1"),
            "-o",
            &d.join("f.ctp").display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{out}");

    // A registry that keeps failing: exit 12 with its message, after the
    // retries, and no output file.
    let (port, refused) = flaky_proxy(reg.port, usize::MAX);
    let target = d.join("never.ctp");
    let (code, out) = ct_status(
        &home,
        &[
            "fetch",
            &format!("127.0.0.1:{port}/cerro/flaky:1"),
            "-o",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 12, "{out}");
    assert!(out.contains("503") && out.contains("busy, sry"), "{out}");
    assert!(!target.exists());
    // Without retries: oci-client's /v2/ probe (whose status it ignores)
    // and one probe + request for the manifest, 3 connections at most.
    // With four attempts (each preceded by a probe) there are 9.
    let n = refused.load(std::sync::atomic::Ordering::SeqCst);
    assert!(n > 4, "{n} connections: the manifest request was not retried");
}
