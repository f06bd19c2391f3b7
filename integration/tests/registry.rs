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
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cerro_integration::registry::{packed_busybox, TestRegistry};
use cerro_integration::{ct, ct_status, require, run, statement_in};

/// A registry, a scratch directory, a `ct` home and a busybox bundle
/// packed there: where every test here starts.
struct Scene {
    reg: TestRegistry,
    dir: tempfile::TempDir,
    home: PathBuf,
    bundle: PathBuf,
    digest: String,
}

fn scene(note: &str) -> Scene {
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (bundle, digest) = packed_busybox(dir.path(), &home, note);
    Scene {
        reg,
        dir,
        home,
        bundle,
        digest,
    }
}

/// `ct fetch REFERENCE -o OUT EXTRA…` in `home`: (exit code, output).
fn fetch(home: &Path, reference: &str, out: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["fetch", reference, "-o", out];
    args.extend_from_slice(extra);
    ct_status(home, &args)
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
    let Scene {
        reg,
        dir,
        home,
        bundle,
        digest,
    } = scene("");
    let d = dir.path();
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
    let (status, _, body) = reg
        .get(
            "/v2/cerro/busybox/manifests/1.35",
            "application/vnd.oci.image.manifest.v1+json",
        )
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, fs::read(d.join("img/blobs/sha256").join(hex)).unwrap());

    // distribution 2.8 has no referrers API; the artifact is listed under the tag fallback.
    let (status, _, _) = reg
        .get(&format!("/v2/cerro/busybox/referrers/{digest}"), "*/*")
        .unwrap();
    assert_eq!(
        status, 404,
        "this registry has grown a referrers API: test the API path too"
    );
    let (status, _, body) = reg
        .get(
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
    let (status, _, body) = reg
        .get(
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
    let (code, out) = fetch(&home, &reference, &s("fetched.ctp"), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(Command::new("cmp")
        .arg(&bundle)
        .arg(d.join("fetched.ctp"))
        .status()
        .unwrap()
        .success());
    // By digest too.
    let by_digest = format!("{}/cerro/busybox@{digest}", reg.host());
    let (code, out) = fetch(&home, &by_digest, &s("fetched2.ctp"), &[]);
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
    let Scene {
        reg, dir, home, digest, ..
    } = scene("tamper");
    let d = dir.path();
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
    let (code, out) = fetch(&home, &reference, target.to_str().unwrap(), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("digest mismatch"), "{out}");
    assert!(!target.exists());
    assert_eq!(
        fs::read_dir(&out_dir).unwrap().count(),
        0,
        "temporary files left behind"
    );
}

/// A bundle that no key of this trust store signed is refused from its
/// release envelope alone: the registry never sees a request for the image
/// config or a layer (the "endless data" a hostile registry could send).
/// With the signer trusted, the same fetch downloads them.
#[test]
fn an_untrusted_bundle_is_refused_before_any_layer_is_downloaded() {
    let Scene {
        reg,
        dir,
        home,
        bundle,
        digest,
    } = scene("untrusted");
    let d = dir.path();
    run(ct(&home).args([
        "push",
        bundle.to_str().unwrap(),
        &format!("{}/cerro/untrusted:1", reg.host()),
    ]));
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(d.join("img/blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap(),
    )
    .unwrap();
    let mut image_blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
    for l in manifest["layers"].as_array().unwrap() {
        image_blobs.push(l["digest"].as_str().unwrap().to_owned());
    }
    let blob_requests = |log: &ProxyLog| -> Vec<String> {
        log.requests
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| r.lines().next().map(str::to_owned))
            .filter(|line| line.contains("/blobs/"))
            .collect()
    };

    // A trust store holding another key only.
    let stranger = d.join("stranger");
    run(ct(&stranger).args(["keygen", "--id", "someone-else"]));
    let (port, log) = proxy(reg.port, Faults::default());
    let out_dir = d.join("out");
    fs::create_dir(&out_dir).unwrap();
    let target = out_dir.join("f.ctp");
    let reference = format!("127.0.0.1:{port}/cerro/untrusted:1");
    let (code, out) = fetch(&stranger, &reference, target.to_str().unwrap(), &[]);
    assert_eq!(code, 3, "{out}");
    assert!(!target.exists());
    assert_eq!(fs::read_dir(&out_dir).unwrap().count(), 0, "files left behind");
    let requested = blob_requests(&log);
    // The artifact's small members were read (the check had its input)…
    assert!(!requested.is_empty(), "no blob was requested at all");
    // …but not one image blob.
    for blob in &image_blobs {
        assert!(
            !requested.iter().any(|r| r.contains(blob.as_str())),
            "{blob} was requested before the signature was checked: {requested:#?}"
        );
    }
    assert!(out.contains("no layer was downloaded"), "{out}");

    // The maintainer's own trust store: the image blobs are fetched.
    let (port, log) = proxy(reg.port, Faults::default());
    let (code, out) = fetch(
        &home,
        &format!("127.0.0.1:{port}/cerro/untrusted:1"),
        target.to_str().unwrap(),
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let requested = blob_requests(&log);
    for blob in &image_blobs {
        assert!(
            requested.iter().any(|r| r.contains(blob.as_str())),
            "{blob}: {requested:#?}"
        );
    }
}

#[test]
fn unreachable_registry_exits_12() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    run(ct(&home).args(["keygen", "--id", "k"]));
    // A port nobody listens on (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target = dir.path().join("x.ctp");
    let (code, out) = fetch(&home, &format!("127.0.0.1:{port}/a/b:c"), target.to_str().unwrap(), &[]);
    assert_eq!(code, 12, "{out}");
    assert!(out.contains("network error"), "{out}");
    assert!(!target.exists());
}

#[test]
fn server_errors_are_retried_then_reported_with_exit_12() {
    let Scene {
        reg, dir, home, bundle, ..
    } = scene("flaky");
    let d = dir.path();
    let bundle = bundle.to_str().unwrap();

    // Two 503s, then the registry: the push goes through after the backoff.
    let (port, log) = proxy(
        reg.port,
        Faults {
            refuse_first: 2,
            ..Faults::default()
        },
    );
    let (code, out) = ct_status(&home, &["push", bundle, &format!("127.0.0.1:{port}/cerro/flaky:1")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(log.refused.load(Ordering::SeqCst), 2);
    let (code, out) = fetch(
        &home,
        &format!("127.0.0.1:{port}/cerro/flaky:1"),
        &d.join("f.ctp").display().to_string(),
        &[],
    );
    assert_eq!(code, 0, "{out}");

    // A registry that keeps failing: exit 12 with its message, after the
    // retries, and no output file.
    let (port, log) = proxy(
        reg.port,
        Faults {
            refuse_first: usize::MAX,
            ..Faults::default()
        },
    );
    let target = d.join("never.ctp");
    let (code, out) = fetch(
        &home,
        &format!("127.0.0.1:{port}/cerro/flaky:1"),
        target.to_str().unwrap(),
        &[],
    );
    assert_eq!(code, 12, "{out}");
    assert!(out.contains("503") && out.contains("busy, sry"), "{out}");
    assert!(!target.exists());
    // The first request (the /v2/ probe of the login) is answered 503 on
    // every attempt: one connection without retries, four with them.
    let n = log.refused.load(Ordering::SeqCst);
    assert!(n >= 4, "{n} connections: the first request was not retried");
}

/// The failures [`proxy`] injects between ct and the registry.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// Answer the first this many connections `503 Service Unavailable`.
    refuse_first: usize,
    /// Close the first connection whose response passes this many bytes (0: never).
    cut_after: usize,
    /// Send responses at most this many bytes per second (0: unthrottled).
    rate: usize,
}

/// What [`proxy`] saw and did.
#[derive(Default)]
struct ProxyLog {
    /// Connections answered 503.
    refused: AtomicUsize,
    /// Every request head the client sent, in order.
    requests: Mutex<Vec<String>>,
    /// Whether the one connection cut has happened.
    cut: AtomicBool,
}

/// A TCP proxy in front of the registry on `upstream` that injects `faults`
/// and records what passes.
fn proxy(upstream: u16, faults: Faults) -> (u16, Arc<ProxyLog>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(ProxyLog::default());
    let shared = Arc::clone(&log);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { return };
            if shared.refused.load(Ordering::SeqCst) < faults.refuse_first {
                shared.refused.fetch_add(1, Ordering::SeqCst);
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
            let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let up_log = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 << 10];
                while let Ok(n) = c_in.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]);
                    if text.contains(" HTTP/1.1\r\n") {
                        up_log.requests.lock().unwrap().push(text.into_owned());
                    }
                    if s_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_out.shutdown(std::net::Shutdown::Write);
            });
            let down_log = Arc::clone(&shared);
            let (mut s_in, mut c_out) = (server, client);
            std::thread::spawn(move || {
                let rate = faults.rate;
                let mut buf = vec![0u8; if rate > 0 { (rate / 20).max(1) } else { 64 << 10 }];
                let mut sent = 0usize;
                while let Ok(n) = s_in.read(&mut buf) {
                    if n == 0 || c_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                    if faults.cut_after > 0 && sent > faults.cut_after && !down_log.cut.swap(true, Ordering::SeqCst) {
                        let _ = c_out.shutdown(std::net::Shutdown::Both);
                        let _ = s_in.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    if rate > 0 {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                let _ = c_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, log)
}

#[test]
fn a_connection_cut_mid_blob_is_resumed_where_it_stopped() {
    let Scene {
        reg, dir, home, bundle, ..
    } = scene("resume");
    let d = dir.path();
    let bundle = bundle.to_str().unwrap();
    run(ct(&home).args(["push", bundle, &format!("{}/cerro/resume:1", reg.host())]));

    // The busybox layer is about 1 MiB: cut its response after 300 KiB.
    let (port, log) = proxy(
        reg.port,
        Faults {
            cut_after: 300 << 10,
            ..Faults::default()
        },
    );
    let out = d.join("f.ctp");
    let (code, text) = fetch(
        &home,
        &format!("127.0.0.1:{port}/cerro/resume:1"),
        out.to_str().unwrap(),
        &[],
    );
    assert_eq!(code, 0, "{text}");
    assert!(log.cut.load(Ordering::SeqCst), "the proxy never cut a response");
    assert_eq!(
        fs::read(&out).unwrap(),
        fs::read(bundle).unwrap(),
        "resumed fetch is not byte-identical"
    );
    // The retry asked only for the rest of the blob, not for all of it again.
    let requests = log.requests.lock().unwrap().clone();
    let resumed: Vec<&String> = requests
        .iter()
        .filter(|r| {
            r.lines().any(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("range: bytes=")
                    .is_some_and(|v| !v.starts_with("0-"))
            })
        })
        .collect();
    assert_eq!(resumed.len(), 1, "expected one ranged retry: {requests:#?}");
    assert!(leftovers(d).is_empty(), "{:?}", leftovers(d));
}

/// Kills a `ct fetch` through a slow link once it is writing the bundle
/// (its temporary file exists, or, where the file has no name until it is
/// complete (O_TMPFILE), an image layer is being downloaded): the process
/// dies of the signal and leaves nothing in the directory.
#[test]
fn an_interrupted_fetch_leaves_no_file_behind() {
    use std::os::unix::process::ExitStatusExt;
    let Scene {
        reg,
        dir,
        home,
        bundle,
        digest,
    } = scene("interrupt");
    let d = dir.path();
    run(ct(&home).args([
        "push",
        bundle.to_str().unwrap(),
        &format!("{}/cerro/slow:1", reg.host()),
    ]));
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(d.join("img/blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap(),
    )
    .unwrap();
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    // 200 KB/s: the 1 MiB layer takes seconds.
    let (port, log) = proxy(
        reg.port,
        Faults {
            rate: 200_000,
            ..Faults::default()
        },
    );
    for (signal, number) in [("INT", 2), ("TERM", 15), ("HUP", 1)] {
        let out_dir = d.join(format!("out-{signal}"));
        fs::create_dir(&out_dir).unwrap();
        let seen = log.requests.lock().unwrap().len();
        let layer_requested = || {
            log.requests.lock().unwrap()[seen..]
                .iter()
                .any(|r| layers.iter().any(|l| r.contains(l.as_str())))
        };
        let mut child = ct(&home)
            .args([
                "fetch",
                &format!("127.0.0.1:{port}/cerro/slow:1"),
                "-o",
                out_dir.join("f.ctp").to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while fs::read_dir(&out_dir).unwrap().next().is_none() && !layer_requested() {
            assert!(Instant::now() < deadline, "the fetch never started writing the bundle");
            assert!(child.try_wait().unwrap().is_none(), "ct fetch ended before the signal");
            std::thread::sleep(Duration::from_millis(20));
        }
        run(Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]));
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(number), "SIG{signal}: {status:?}");
        let left: Vec<_> = fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "SIG{signal} left {left:?}");
    }
}

/// On a terminal (a pseudo-terminal from util-linux's `script`) push and
/// fetch draw a progress bar on stderr; into a pipe they print none.
#[test]
fn progress_bars_on_a_terminal_only() {
    require("script");
    let Scene {
        reg, dir, home, bundle, ..
    } = scene("progress");
    let d = dir.path();
    let reference = format!("{}/cerro/progress:1", reg.host());
    let ct = cerro_integration::ct_bin();
    let on_tty = |args: &str| {
        let out = run(Command::new("script")
            .args(["-qec", &format!("{} {args}", ct.display()), "/dev/null"])
            .env("CERRO_HOME", &home)
            .env("TERM", "xterm"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let pushed = on_tty(&format!("push {} {reference}", bundle.display()));
    assert!(pushed.contains("pushing") && pushed.contains("MiB"), "{pushed:?}");
    let fetched = on_tty(&format!("fetch {reference} -o {}", d.join("tty.ctp").display()));
    assert!(fetched.contains("fetching") && fetched.contains("MiB"), "{fetched:?}");
    assert_eq!(fs::read(d.join("tty.ctp")).unwrap(), fs::read(&bundle).unwrap());

    // Not a terminal: no bar, no control characters.
    let (code, piped) = fetch(&home, &reference, d.join("p.ctp").to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{piped}");
    assert!(!piped.contains("fetching") && !piped.contains('\u{1b}'), "{piped:?}");
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with
/// openssl in `dir`: (CA directory holding `ca.crt`, server cert, server key).
fn tls_material(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    require("openssl");
    let d = dir.join(name);
    let ca_dir = d.join("ca");
    fs::create_dir_all(&ca_dir).unwrap();
    let p = |f: &str| d.join(f).to_str().unwrap().to_owned();
    let ca_crt = ca_dir.join("ca.crt").to_str().unwrap().to_owned();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/CN={name} CA"),
        "-keyout",
        &p("ca.key"),
        "-out",
        &ca_crt,
    ]));
    run(Command::new("openssl").args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("srv.key"),
        "-out",
        &p("srv.csr"),
    ]));
    fs::write(
        d.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &p("srv.csr"),
        "-CA",
        &ca_crt,
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-extfile",
        &p("ext"),
        "-out",
        &p("srv.crt"),
    ]));
    (ca_dir, d.join("srv.crt"), d.join("srv.key"))
}

/// A registry serving TLS with a private CA: trusted through --cert-dir
/// (which also switches a loopback registry to HTTPS), refused with another
/// CA or without one.
#[test]
fn tls_registry_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca, crt, key) = tls_material(d, "cerro-test");
    let (other_ca, _, _) = tls_material(d, "other");
    let reg = TestRegistry::start_with(&format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        crt.display(),
        key.display()
    ));
    let home = d.join("home");
    let (bundle, _) = packed_busybox(d, &home, "tls");
    let bundle = bundle.to_str().unwrap();
    let reference = format!("{}/cerro/tls:1", reg.host());
    let ca = ca.to_str().unwrap();

    let (code, out) = ct_status(&home, &["push", bundle, &reference, "--cert-dir", ca]);
    assert_eq!(code, 0, "{out}");
    let fetched = d.join("f.ctp");
    let (code, out) = fetch(&home, &reference, fetched.to_str().unwrap(), &["--cert-dir", ca]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(fs::read(&fetched).unwrap(), fs::read(bundle).unwrap());

    // Another CA: the certificate does not verify.
    let target = d.join("never.ctp");
    let (code, out) = fetch(
        &home,
        &reference,
        target.to_str().unwrap(),
        &["--cert-dir", other_ca.to_str().unwrap()],
    );
    assert_eq!(code, 12, "{out}");
    assert!(out.to_lowercase().contains("certificate"), "{out}");
    // No CA for this loopback registry: plain HTTP, which a TLS server refuses.
    let (code, out) = fetch(&home, &reference, target.to_str().unwrap(), &[]);
    assert_eq!(code, 12, "{out}");
    assert!(!target.exists());
    // A --cert-dir that does not exist is an error of its own, before any connection.
    let (code, out) = fetch(
        &home,
        &reference,
        target.to_str().unwrap(),
        &["--cert-dir", "/nonexistent/certs"],
    );
    assert_eq!(code, 11, "{out}");
    assert!(out.contains("/nonexistent/certs"), "{out}");
}

/// `ct verify docker://REF` checks the pushed bundle in the registry without
/// downloading a layer (the proxy sees the config requested, never a
/// layer), and says plainly what it did not check: a layer tampered with in
/// the registry still verifies there, and `ct fetch` (which hashes every
/// layer) refuses it. Refused as `ct verify` refuses: a stranger's trust
/// store (3, before the config is read), a policy asking for two signers
/// (4), an image with no bundle (5).
#[test]
fn verify_in_the_registry_downloads_no_layer_and_says_so() {
    let Scene {
        reg,
        dir,
        home,
        bundle,
        digest,
    } = scene("remote");
    let d = dir.path();
    let s = |p: &str| d.join(p).display().to_string();
    run(ct(&home).args([
        "push",
        bundle.to_str().unwrap(),
        &format!("{}/cerro/remote:1", reg.host()),
    ]));
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(d.join("img/blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap(),
    )
    .unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    let blob_requests = |log: &ProxyLog| -> Vec<String> {
        log.requests
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| r.lines().next().map(str::to_owned))
            .filter(|line| line.contains("/blobs/"))
            .collect()
    };

    let (port, log) = proxy(reg.port, Faults::default());
    let remote = format!("docker://127.0.0.1:{port}/cerro/remote:1");
    let (code, out) = ct_status(&home, &["verify", &remote]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("valid: ") && out.contains("(layers not downloaded: 1 not checked)"),
        "{out}"
    );
    assert!(
        out.contains("not checked: the content of 1 layer(s)")
            && out.contains(&format!("ct fetch 127.0.0.1:{port}/cerro/remote:1 checks them all")),
        "{out}"
    );
    let requested = blob_requests(&log);
    assert!(requested.iter().any(|r| r.contains(&config)), "{requested:#?}");
    for l in &layers {
        assert!(
            !requested.iter().any(|r| r.contains(l.as_str())),
            "{l} downloaded: {requested:#?}"
        );
    }
    // The machine-readable report carries the same account.
    let (code, out) = ct_status(&home, &["verify", &remote, "--json"]);
    assert_eq!(code, 0, "{out}");
    let start = out.find('{').unwrap();
    let end = out.rfind('}').unwrap();
    let report: serde_json::Value = serde_json::from_str(&out[start..=end]).unwrap();
    assert_eq!(report["valid"], true, "{out}");
    assert!(
        report["checks"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("1 of 1 layer(s)"),
        "{out}"
    );

    // A layer changed in the registry: not seen here (and said so), seen by fetch.
    let file = reg.blob_file(layers[0].trim_start_matches("sha256:"));
    let mut bytes = fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(&file, bytes).unwrap();
    let (code, out) = ct_status(&home, &["verify", &remote]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not checked: the content of 1 layer(s)"), "{out}");
    let (code, out) = fetch(&home, &format!("127.0.0.1:{port}/cerro/remote:1"), &s("f.ctp"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("digest mismatch"), "{out}");

    // A stranger's trust store: refused from the release envelope alone.
    let stranger = d.join("stranger");
    run(ct(&stranger).args(["keygen", "--id", "someone-else"]));
    let (port, log) = proxy(reg.port, Faults::default());
    let (code, out) = ct_status(
        &stranger,
        &["verify", &format!("docker://127.0.0.1:{port}/cerro/remote:1")],
    );
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("no layer was downloaded"), "{out}");
    let requested = blob_requests(&log);
    assert!(!requested.iter().any(|r| r.contains(&config)), "{requested:#?}");

    // A policy the bundle does not satisfy.
    fs::write(
        d.join("two.json"),
        r#"{"version":"1","default_action":"deny","signers":{"allowed":[{"key_id":"*"}],"threshold":2}}"#,
    )
    .unwrap();
    let (code, out) = ct_status(&home, &["verify", &remote, "--policy", &s("two.json")]);
    assert_eq!(code, 4, "{out}");

    // An image with no Cerro Torre bundle.
    require("skopeo");
    run(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:busybox", s("img")),
        &format!("docker://{}/cerro/plain:1", reg.host()),
    ]));
    let (code, out) = ct_status(&home, &["verify", &format!("docker://{}/cerro/plain:1", reg.host())]);
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("found instead: nothing (no referrers, no cosign"), "{out}");

    // `ct tree`: the bundle artifact ct pushed and the legacy cosign tag
    // it wrote (an Ed25519 signer: no Sigstore bundle referrer); nothing
    // for the plain image.
    let (code, out) = ct_status(&home, &["tree", &format!("{}/cerro/remote:1", reg.host())]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[1].starts_with("├── Cerro Torre bundle (application/vnd.cerro-torre.bundle.v1+json) sha256:"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("└── cosign attestation (legacy tag sha256-"),
        "{out}"
    );
    let (code, out) = ct_status(&home, &["tree", &format!("{}/cerro/plain:1", reg.host()), "--json"]);
    assert_eq!(code, 0, "{out}");
    let t: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(t["found"], serde_json::json!([]), "{out}");

    // explain reads files only, and says what to use instead.
    let (code, out) = ct_status(&home, &["explain", &remote]);
    assert_eq!(code, 78, "{out}");
    assert!(out.contains("ct verify docker://REF"), "{out}");
}
