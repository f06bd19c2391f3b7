//! The client against hostile servers written here (std `TcpListener`,
//! one thread a server): endless bodies, redirects off the registry's
//! site, token servers that must not be given a secret.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cerro_core::digest::Digest;
use cerro_core::image::{BlobRef, MANIFEST_TYPES, MAX_JSON_BLOB};
use oci_client::RegistryOperation;

use crate::client::{Options, Registry};
use crate::error::Error;
use crate::transport::MAX_ANSWER;

/// What a server answers to one request.
enum Reply {
    /// These bytes (a whole response), then the connection is closed.
    Bytes(String),
    /// This head, then zeros until the client hangs up or `ENDLESS` bytes.
    Endless(String),
}

/// Bytes an endless body goes on for at most (far past every limit).
const ENDLESS: u64 = 256 << 20;

/// A server on `ip`: the request heads it saw and the body bytes it sent.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    sent: Arc<AtomicU64>,
}

impl Server {
    fn start(ip: &str, answer: impl Fn(&str, u16) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(AtomicU64::new(0));
        let (log, count) = (Arc::clone(&requests), Arc::clone(&sent));
        let answer = Arc::new(answer);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (log, count, answer) = (Arc::clone(&log), Arc::clone(&count), Arc::clone(&answer));
                std::thread::spawn(move || serve(conn, port, &log, &count, &*answer));
            }
        });
        Server { port, requests, sent }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(
    mut conn: TcpStream,
    port: u16,
    log: &Mutex<Vec<String>>,
    sent: &AtomicU64,
    answer: &(dyn Fn(&str, u16) -> Reply + Send + Sync),
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    // Read the request body, so that closing does not reset the connection.
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let _ = std::io::copy(&mut (&mut conn).take(length), &mut std::io::sink());
    log.lock().unwrap().push(head.clone());
    match answer(&head, port) {
        Reply::Bytes(r) => {
            let _ = conn.write_all(r.as_bytes());
        }
        Reply::Endless(h) => {
            if conn.write_all(h.as_bytes()).is_err() {
                return;
            }
            let zeros = vec![b'0'; 64 << 10];
            while sent.load(Ordering::SeqCst) < ENDLESS {
                if conn.write_all(&zeros).is_err() {
                    return;
                }
                sent.fetch_add(zeros.len() as u64, Ordering::SeqCst);
            }
        }
    }
}

fn ok(body: &str) -> Reply {
    Reply::Bytes(format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

fn status(code: &str, headers: &str) -> Reply {
    Reply::Bytes(format!(
        "HTTP/1.1 {code}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    ))
}

/// An endless body, without a `Content-Length` (ends when the server closes).
fn endless() -> Reply {
    Reply::Endless("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".into())
}

/// A client of `127.0.0.1:port/cerro/x:1` with credentials from `auth_file`.
fn connect(port: u16, auth_file: &Path) -> Registry {
    Registry::connect(
        &format!("127.0.0.1:{port}/cerro/x:1"),
        &Options {
            auth_files: vec![auth_file.to_path_buf()],
            ..Options::default()
        },
    )
    .unwrap()
}

fn no_auth_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("absent.json");
    (d, f)
}

/// Far less than an endless body: the client stopped reading it early
/// (the kernel's socket buffers take a few MiB more than it read).
fn stopped_early(server: &Server) {
    let sent = server.sent.load(Ordering::SeqCst);
    assert!(sent < 64 << 20, "the client read {sent} bytes of an endless body");
}

fn too_large(e: &Error, limit: u64) {
    assert!(e.to_string().contains(&format!("larger than {limit} bytes")), "{e}");
}

#[test]
fn an_endless_manifest_is_refused_past_its_limit() {
    let server = Server::start("127.0.0.1", |head, _| {
        if head.starts_with("GET /v2/ ") {
            ok("{}")
        } else {
            endless()
        }
    });
    let (_d, auth) = no_auth_file();
    let reg = connect(server.port, &auth);
    let e = reg
        .block_on(async {
            reg.authorize(RegistryOperation::Pull).await?;
            reg.pull_manifest(&reg.reference, MANIFEST_TYPES).await
        })
        .unwrap_err();
    stopped_early(&server);
    too_large(&e, MAX_JSON_BLOB);
    assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Malformed);
}

#[test]
fn a_manifest_announcing_too_many_bytes_is_refused_before_its_body() {
    let server = Server::start("127.0.0.1", |head, _| {
        if head.starts_with("GET /v2/ ") {
            ok("{}")
        } else {
            Reply::Endless("HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n".into())
        }
    });
    let (_d, auth) = no_auth_file();
    let reg = connect(server.port, &auth);
    let e = reg
        .block_on(async {
            reg.authorize(RegistryOperation::Pull).await?;
            reg.pull_manifest(&reg.reference, MANIFEST_TYPES).await
        })
        .unwrap_err();
    stopped_early(&server);
    too_large(&e, MAX_JSON_BLOB);
}

#[test]
fn an_endless_referrers_index_is_refused_past_its_limit() {
    // No referrers API (404): the fallback tag's index is endless.
    let server = Server::start("127.0.0.1", |head, _| {
        if head.starts_with("GET /v2/ ") {
            ok("{}")
        } else if head.contains("/referrers/") {
            status("404 Not Found", "")
        } else {
            endless()
        }
    });
    let (_d, auth) = no_auth_file();
    let reg = connect(server.port, &auth);
    let e = reg
        .block_on(async {
            reg.authorize(RegistryOperation::Pull).await?;
            reg.referrers(&Digest::of(b"image"), crate::ARTIFACT_TYPE).await
        })
        .unwrap_err();
    stopped_early(&server);
    too_large(&e, MAX_JSON_BLOB);
    assert!(server.requests().iter().any(|r| r.contains("/manifests/sha256-")));
}

#[test]
fn a_referrers_index_that_go_reads_differently_is_refused() {
    // `"Manifests"` after `"manifests"`: Go's decoder keeps the last, serde
    // the first; one index, two lists of artifacts. Refused, not picked.
    let d = Digest::of(b"artifact");
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":10,"artifactType":"{}"}}],"Manifests":[]}}"#,
        crate::ARTIFACT_TYPE
    );
    let server = Server::start("127.0.0.1", move |head, _| {
        if head.starts_with("GET /v2/ ") {
            ok("{}")
        } else {
            ok(&index)
        }
    });
    let (_d, auth) = no_auth_file();
    let reg = connect(server.port, &auth);
    let e = reg
        .block_on(async {
            reg.authorize(RegistryOperation::Pull).await?;
            reg.referrers(&Digest::of(b"image"), crate::ARTIFACT_TYPE).await
        })
        .unwrap_err();
    assert!(e.to_string().contains("differ only in case"), "{e}");
    assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Malformed);
}

#[test]
fn an_endless_token_answer_is_refused_past_its_limit() {
    let server = Server::start("127.0.0.1", |head, port| {
        if head.starts_with("GET /v2/ ") {
            status(
                "401 Unauthorized",
                &format!("WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"r\"\r\n"),
            )
        } else {
            endless()
        }
    });
    let (_d, auth) = no_auth_file();
    let reg = connect(server.port, &auth);
    let e = reg.block_on(reg.authorize(RegistryOperation::Pull)).unwrap_err();
    stopped_early(&server);
    too_large(&e, MAX_ANSWER);
    assert!(server.requests().iter().any(|r| r.starts_with("GET /token?")));
}

#[test]
fn a_blob_longer_than_its_descriptor_is_refused_at_the_first_extra_byte() {
    let server = Server::start("127.0.0.1", |head, _| {
        if head.starts_with("GET /v2/ ") {
            ok("{}")
        } else {
            endless()
        }
    });
    let (_d, auth) = no_auth_file();
    let reg = connect(server.port, &auth);
    let blob = BlobRef {
        media_type: "application/octet-stream".into(),
        digest: Digest::of(b"0123456789"),
        size: 10,
    };
    let mut got = 0u64;
    let e = reg
        .block_on(async {
            reg.authorize(RegistryOperation::Pull).await?;
            reg.download(&blob, |data| {
                got += data.len() as u64;
                Ok(got)
            })
            .await
        })
        .unwrap_err();
    assert_eq!(
        cerro_core::Error::from(e).exit_code(),
        cerro_core::ExitCode::DigestMismatch
    );
    assert!(got <= 10, "{got} bytes handed on for a 10-byte blob");
    stopped_early(&server);
}

/// A registry whose every manifest or blob answer redirects to `to`
/// (formatted with the request path).
fn redirecting(to: String) -> Server {
    Server::start("127.0.0.1", move |head, _| {
        if head.starts_with("GET /v2/ ") {
            return ok("{}");
        }
        let path = head.split_whitespace().nth(1).unwrap_or("/");
        status("302 Found", &format!("Location: {to}{path}\r\n"))
    })
}

#[test]
fn redirects_off_the_registry_s_site_are_not_followed() {
    let elsewhere = Server::start("127.0.0.1", |_, _| ok("{}"));
    let registry = redirecting(format!("http://127.0.0.1:{}", elsewhere.port));
    let (_d, auth) = no_auth_file();
    let reg = connect(registry.port, &auth);
    let e = reg
        .block_on(async {
            reg.authorize(RegistryOperation::Pull).await?;
            reg.pull_manifest(&reg.reference, MANIFEST_TYPES).await
        })
        .unwrap_err();
    assert!(e.to_string().contains("leaves the registry's site"), "{e}");
    // A blob download may go on to a CDN, but over HTTPS only.
    let blob = BlobRef {
        media_type: "application/octet-stream".into(),
        digest: Digest::of(b"{}"),
        size: 2,
    };
    let e = reg.block_on(reg.download_small(&blob)).unwrap_err();
    assert!(e.to_string().contains("leaves the registry's site"), "{e}");
    assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Network);
    assert!(elsewhere.requests().is_empty(), "{:?}", elsewhere.requests());
}

#[test]
fn redirects_on_the_registry_s_site_are_followed() {
    let registry = Server::start("127.0.0.1", |head, port| {
        if head.starts_with("GET /v2/ ") || head.starts_with("GET /moved ") {
            ok("{}")
        } else {
            status(
                "307 Temporary Redirect",
                &format!("Location: http://127.0.0.1:{port}/moved\r\n"),
            )
        }
    });
    let (_d, auth) = no_auth_file();
    let reg = connect(registry.port, &auth);
    let bytes = reg
        .block_on(async {
            reg.authorize(RegistryOperation::Pull).await?;
            reg.pull_manifest(&reg.reference, MANIFEST_TYPES).await
        })
        .unwrap();
    assert_eq!(bytes.as_deref(), Some(&b"{}"[..]));
}

/// An auth file holding identity token `tok` for `127.0.0.1:port`.
fn identity_auth_file(d: &Path, port: u16) -> std::path::PathBuf {
    let f = d.join("auth.json");
    std::fs::write(
        &f,
        format!(r#"{{"auths":{{"127.0.0.1:{port}":{{"identitytoken":"tok"}}}}}}"#),
    )
    .unwrap();
    f
}

#[test]
fn an_identity_token_is_not_sent_to_a_plain_http_realm_on_another_host() {
    // 127.0.0.2 is loopback too, but not the registry's host.
    let token_server = Server::start("127.0.0.2", |_, _| ok(r#"{"access_token":"a"}"#));
    let realm = format!("http://127.0.0.2:{}/token", token_server.port);
    for realm in [realm.as_str(), "http://token.example/token"] {
        let challenge = format!("WWW-Authenticate: Bearer realm=\"{realm}\",service=\"r\"\r\n");
        let registry = Server::start("127.0.0.1", move |_, _| status("401 Unauthorized", &challenge));
        let d = tempfile::tempdir().unwrap();
        let reg = connect(registry.port, &identity_auth_file(d.path(), registry.port));
        let e = reg.block_on(reg.authorize(RegistryOperation::Pull)).unwrap_err();
        assert!(e.to_string().contains("an identity token is sent only to"), "{e}");
    }
    assert!(token_server.requests().is_empty(), "{:?}", token_server.requests());
}

#[test]
fn an_identity_token_goes_to_a_plain_http_realm_on_the_loopback_registry_s_host() {
    let registry = Server::start("127.0.0.1", |head, port| {
        if head.starts_with("POST /token ") {
            ok(r#"{"access_token":"a","expires_in":300}"#)
        } else {
            status(
                "401 Unauthorized",
                &format!("WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\"\r\n"),
            )
        }
    });
    let d = tempfile::tempdir().unwrap();
    let reg = connect(registry.port, &identity_auth_file(d.path(), registry.port));
    reg.block_on(reg.authorize(RegistryOperation::Pull)).unwrap();
    assert!(registry.requests().iter().any(|r| r.starts_with("POST /token ")));
}

#[test]
fn an_image_larger_than_the_cap_is_refused_before_any_blob_is_requested() {
    // An image manifest whose one layer claims a petabyte.
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":2}},"layers":[{{"mediaType":"{}","digest":"{}","size":{}}}]}}"#,
        cerro_core::image::MT_OCI_MANIFEST,
        cerro_core::image::MT_OCI_CONFIG,
        Digest::of(b"{}"),
        cerro_core::image::MT_OCI_LAYER_TAR,
        Digest::of(b"layer"),
        1u64 << 50
    );
    let server = Server::start("127.0.0.1", move |head, _| {
        if head.starts_with("GET /v2/ ") || head.contains("/manifests/") {
            ok(&manifest)
        } else {
            endless()
        }
    });
    let (d, auth) = no_auth_file();
    let reg = connect(server.port, &auth);
    let e = crate::fetch::pull_image(&reg, &d.path().join("layout"), "x", None).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("more than the {} accepted", crate::MAX_IMAGE_BYTES)),
        "{e}"
    );
    assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Malformed);
    let requests = server.requests();
    assert!(!requests.iter().any(|r| r.contains("/blobs/")), "{requests:#?}");
}

/// `ct pack --cosign-key` reads an image's cosign signatures bounded: a
/// referrer listed larger than a signature manifest is not requested, a
/// `.sig` layer claiming more than a signature layer is not downloaded
/// (each refused as malformed, exit 10), and a list naming more referrers
/// than are examined is refused before any is read.
#[test]
fn cosign_signatures_past_their_bounds_are_not_downloaded() {
    use cerro_core::cosign_signature::{MAX_BLOB, MAX_MANIFEST, SIMPLE_SIGNING_TYPE};
    let image = Digest::of(b"the image");
    let hex = image.hex();
    let referrer = |i: usize, size: u64| {
        format!(
            r#"{{"mediaType":"{}","digest":"{}","size":{size},"artifactType":"{}"}}"#,
            cerro_core::image::MT_OCI_MANIFEST,
            Digest::of(format!("referrer {i}").as_bytes()),
            crate::cosign::SIGSTORE_BUNDLE_TYPE
        )
    };
    let index = |n: usize, size: u64| {
        let entries: Vec<String> = (0..n).map(|i| referrer(i, size)).collect();
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
            cerro_core::image::MT_OCI_INDEX,
            entries.join(",")
        )
    };
    let sig_image = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":2}},"layers":[{{"mediaType":"{SIMPLE_SIGNING_TYPE}","digest":"{}","size":{},"annotations":{{"dev.cosignproject.cosign/signature":"AA=="}}}}]}}"#,
        cerro_core::image::MT_OCI_MANIFEST,
        cerro_core::image::MT_OCI_CONFIG,
        Digest::of(b"{}"),
        Digest::of(b"payload"),
        MAX_BLOB + 1
    );
    let serve = move |listed: String| {
        let (hex, sig_image) = (hex.clone(), sig_image.clone());
        Server::start("127.0.0.1", move |head, _| {
            if head.starts_with("GET /v2/ ") {
                ok("{}")
            } else if head.contains(&format!("/manifests/sha256-{hex} ")) {
                ok(&listed)
            } else if head.contains(&format!("/manifests/sha256-{hex}.sig ")) {
                ok(&sig_image)
            } else if head.contains("/referrers/") {
                status("404 Not Found", "")
            } else {
                endless()
            }
        })
    };
    let key = cerro_core::key::PublicKey::from(*p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap().verifying_key());

    let server = serve(index(1, MAX_MANIFEST + 1));
    let (_d, auth) = no_auth_file();
    let reg = connect(server.port, &auth);
    let e = crate::cosign::image_signature(&reg, &image, &key, "k.pub").unwrap_err();
    assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Malformed);
    let requests = server.requests();
    assert!(
        !requests
            .iter()
            .any(|r| r.contains("/blobs/") || r.contains("/manifests/sha256:")),
        "{requests:#?}"
    );

    let server = serve(index(crate::cosign::MAX_SIGNATURE_REFERRERS + 1, 100));
    let reg = connect(server.port, &auth);
    let e = crate::cosign::image_signature(&reg, &image, &key, "k.pub").unwrap_err();
    assert!(e.to_string().contains("more than the 32 examined"), "{e}");
    assert!(!server.requests().iter().any(|r| r.contains("/manifests/sha256:")));
}

/// A registry whose bundle artifact lists a rebuild attestation layer
/// larger than the bundle reader takes (64 KiB + 1): the fetch is refused
/// on the artifact manifest (exit 10), naming the layer, and no blob, the
/// rebuild layer's included, is requested.
#[test]
fn a_rebuild_layer_past_its_bound_is_refused_before_any_download() {
    use cerro_core::image::MT_OCI_MANIFEST;
    use cerro_core::rebuild::MAX_REBUILD_SIZE;
    let image = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MT_OCI_MANIFEST}","config":{{"mediaType":"{}","digest":"{}","size":2}},"layers":[{{"mediaType":"{}","digest":"{}","size":5}}]}}"#,
        cerro_core::image::MT_OCI_CONFIG,
        Digest::of(b"{}"),
        cerro_core::image::MT_OCI_LAYER_TAR,
        Digest::of(b"layer"),
    );
    let image_digest = Digest::of(image.as_bytes());
    let rebuild = format!("rebuilds/{}.dsse.json", "ab".repeat(32));
    let artifact = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MT_OCI_MANIFEST}","artifactType":"{}","config":{{"mediaType":"{}","digest":"{}","size":40}},"layers":[{{"mediaType":"{}","digest":"{}","size":100,"annotations":{{"{}":"manifest.toml"}}}},{{"mediaType":"{}","digest":"{}","size":{},"annotations":{{"{}":"{rebuild}"}}}}],"subject":{{"mediaType":"{MT_OCI_MANIFEST}","digest":"{image_digest}","size":{}}}}}"#,
        crate::ARTIFACT_TYPE,
        crate::CONFIG_MEDIA_TYPE,
        Digest::of(b"config"),
        crate::MT_TOML,
        Digest::of(b"toml"),
        crate::TITLE,
        crate::MT_REBUILD,
        Digest::of(b"rebuild"),
        MAX_REBUILD_SIZE + 1,
        crate::TITLE,
        image.len(),
    );
    let artifact_digest = Digest::of(artifact.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{MT_OCI_MANIFEST}","digest":"{artifact_digest}","size":{},"artifactType":"{}"}}]}}"#,
        artifact.len(),
        crate::ARTIFACT_TYPE
    );
    let server = Server::start("127.0.0.1", move |head, _| {
        if head.starts_with("GET /v2/ ") {
            ok("{}")
        } else if head.contains("/referrers/") {
            ok(&index)
        } else if head.contains(&format!("/manifests/{artifact_digest}")) {
            ok(&artifact)
        } else if head.contains("/manifests/") {
            ok(&image)
        } else {
            endless()
        }
    });
    let (d, auth) = no_auth_file();
    let reg = connect(server.port, &auth);
    let out = d.path().join("out.ctp");
    let trust = cerro_core::trust::TrustStore::new();
    let e = crate::fetch::fetch(&reg, &out, &trust, 0, &mut |_| {}).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains(&rebuild) && msg.contains(&(MAX_REBUILD_SIZE + 1).to_string()),
        "{msg}"
    );
    assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Malformed);
    let requests = server.requests();
    assert!(!requests.iter().any(|r| r.contains("/blobs/")), "{requests:#?}");
    assert!(!out.exists());
}

/// An image index as a registry may answer it for `REF`: `entries`
/// platform manifests (`size` bytes each, by their descriptors).
fn platform_index(entries: usize, size: u64) -> String {
    let manifests: Vec<String> = (0..entries)
        .map(|i| {
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{size},"platform":{{"os":"linux","architecture":"arch{i}"}}}}"#,
                cerro_core::image::MT_OCI_MANIFEST,
                Digest::of(format!("manifest {i}").as_bytes()),
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
        cerro_core::image::MT_OCI_INDEX,
        manifests.join(",")
    )
}

/// A multi-platform image's index is read before anything else, and
/// refused from itself alone: more platforms than are read (each would
/// cost a manifest request), or an entry claiming a manifest larger than
/// a manifest may be. Neither referrers nor a manifest it names nor any
/// blob is requested (exit 10).
#[test]
fn an_index_past_its_bounds_is_refused_before_anything_it_names_is_requested() {
    let too_many = platform_index(cerro_core::image::MAX_PLATFORMS + 1, 500);
    let too_large = platform_index(2, MAX_JSON_BLOB + 1);
    for (index, needle) in [
        (too_many, "names 17 manifests, more than 16".to_owned()),
        (too_large, format!("claims {} bytes", MAX_JSON_BLOB + 1)),
    ] {
        let answer = index.clone();
        let server = Server::start("127.0.0.1", move |head, _| {
            if head.starts_with("GET /v2/ ") || head.starts_with("GET /v2/cerro/x/manifests/1 ") {
                Reply::Bytes(format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    cerro_core::image::MT_OCI_INDEX,
                    answer.len()
                ))
            } else {
                status("404 Not Found", "")
            }
        });
        let (_d, auth) = no_auth_file();
        let reg = connect(server.port, &auth);
        let e = crate::fetch::inspect(&reg, &cerro_core::trust::TrustStore::new(), 0).unwrap_err();
        assert!(e.to_string().contains(&needle), "{e}");
        assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Malformed);
        let requests = server.requests();
        let manifests = requests.iter().filter(|r| r.contains("/manifests/")).count();
        assert_eq!(manifests, 1, "{requests:#?}");
        assert!(
            !requests
                .iter()
                .any(|r| r.contains("/referrers/") || r.contains("/blobs/")),
            "{requests:#?}"
        );
    }
}

/// `ct pack docker://` of an image index (#15): the 64 GiB cap is over
/// every platform together. Two platforms whose layers each claim 40 GiB
/// (each under the cap) are refused once their manifests are read,
/// before any blob is requested (exit 10); and an index past its own
/// bounds is refused before any manifest it names is requested.
#[test]
fn an_index_pulled_for_pack_is_bounded_over_all_its_platforms() {
    let platform_manifest = |i: u8| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":2}},"layers":[{{"mediaType":"{}","digest":"{}","size":{}}}]}}"#,
            cerro_core::image::MT_OCI_MANIFEST,
            cerro_core::image::MT_OCI_CONFIG,
            Digest::of(&[b'c', i]),
            cerro_core::image::MT_OCI_LAYER_TAR,
            Digest::of(&[b'l', i]),
            40u64 << 30
        )
    };
    let manifests: Vec<String> = (0..2).map(platform_manifest).collect();
    let entries: Vec<String> = manifests
        .iter()
        .zip(["amd64", "arm64"])
        .map(|(m, arch)| {
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"{arch}"}}}}"#,
                cerro_core::image::MT_OCI_MANIFEST,
                Digest::of(m.as_bytes()),
                m.len()
            )
        })
        .collect();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
        cerro_core::image::MT_OCI_INDEX,
        entries.join(",")
    );
    let reply = |body: &str, mt: &str| {
        Reply::Bytes(format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {mt}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    };
    let served = (index.clone(), manifests.clone());
    let server = Server::start("127.0.0.1", move |head, _| {
        let (index, manifests) = &served;
        if head.starts_with("GET /v2/ ") || head.starts_with("GET /v2/cerro/x/manifests/1 ") {
            return reply(index, cerro_core::image::MT_OCI_INDEX);
        }
        for m in manifests {
            if head.starts_with(&format!("GET /v2/cerro/x/manifests/{} ", Digest::of(m.as_bytes()))) {
                return reply(m, cerro_core::image::MT_OCI_MANIFEST);
            }
        }
        status("404 Not Found", "")
    });
    let (d, auth) = no_auth_file();
    let reg = connect(server.port, &auth);
    let layout = d.path().join("layout");
    let e = crate::fetch::pull_image(&reg, &layout, "x", None).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("more than the {} accepted", crate::MAX_IMAGE_BYTES)),
        "{e}"
    );
    assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Malformed);
    let requests = server.requests();
    assert_eq!(
        requests.iter().filter(|r| r.contains("/manifests/")).count(),
        3,
        "{requests:#?}"
    );
    assert!(!requests.iter().any(|r| r.contains("/blobs/")), "{requests:#?}");
    assert!(!layout.join("index.json").exists());
    // One platform of the two is within the cap: only its manifest and
    // blobs are asked for (here absent: exit 12).
    let before = server.requests().len();
    let one = cerro_core::image::Platform::parse("linux/arm64").unwrap();
    let e = crate::fetch::pull_image(&reg, &d.path().join("one"), "x", Some(&one)).unwrap_err();
    assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Network);
    let requests = server.requests()[before..].to_vec();
    let first = Digest::of(manifests[0].as_bytes()).to_string();
    assert!(
        requests.iter().any(|r| r.contains("/blobs/"))
            && !requests.iter().any(|r| r.contains(&first)
                || r.contains(&Digest::of(&[b'c', 0]).to_string())
                || r.contains(&Digest::of(&[b'l', 0]).to_string())),
        "{requests:#?}"
    );

    // Past its own bounds: no manifest it names is requested.
    for (index, needle) in [
        (
            platform_index(cerro_core::image::MAX_PLATFORMS + 1, 500),
            "names 17 manifests, more than 16".to_owned(),
        ),
        (
            platform_index(2, MAX_JSON_BLOB + 1),
            format!("claims {} bytes", MAX_JSON_BLOB + 1),
        ),
    ] {
        let server = Server::start("127.0.0.1", move |head, _| {
            if head.starts_with("GET /v2/ ") || head.starts_with("GET /v2/cerro/x/manifests/1 ") {
                reply(&index, cerro_core::image::MT_OCI_INDEX)
            } else {
                status("404 Not Found", "")
            }
        });
        let reg = connect(server.port, &auth);
        let e = crate::fetch::pull_image(&reg, &d.path().join("bounded"), "x", None).unwrap_err();
        assert!(e.to_string().contains(&needle), "{e}");
        assert_eq!(cerro_core::Error::from(e).exit_code(), cerro_core::ExitCode::Malformed);
        let requests = server.requests();
        assert_eq!(
            requests.iter().filter(|r| r.contains("/manifests/")).count(),
            1,
            "{requests:#?}"
        );
    }
}
