//! A real OCI registry for the tests: Debian's `docker-registry`
//! (distribution 2.8, no referrers API) on 127.0.0.1 with a private storage
//! directory, and the bundle the registry tests push.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{busybox_image, ct, require, run};

/// A `docker-registry` process, killed when dropped (also when a test panics).
#[derive(Debug)]
pub struct TestRegistry {
    child: Child,
    pub port: u16,
    root: PathBuf,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// An open registry (anonymous push and pull).
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// A registry with `auth_yaml` as its `auth:` section (indented body).
    pub fn with_auth(auth_yaml: &str) -> Self {
        Self::start_with(&format!("auth:\n{auth_yaml}"))
    }

    /// A registry whose config ends with `extra` (YAML continuing the
    /// `http:` section, e.g. its `tls:`, or further top-level sections).
    pub fn start_with(extra: &str) -> Self {
        require("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("storage");
        fs::create_dir_all(&root).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = dir.path().join("config.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
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
        let guard = TestRegistry { child, port, root, dir };
        // Up once /v2/ answers at all (with auth on, a 401 and a challenge).
        let deadline = Instant::now() + Duration::from_secs(20);
        while guard.get("/v2/", "*/*").is_none() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer on port {port}: {}",
                guard.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        guard
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A minimal anonymous HTTP/1.0 GET: (status, head, body).
    pub fn get(&self, path: &str, accept: &str) -> Option<(u16, String, Vec<u8>)> {
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
        Some((status, head, resp[split + 4..].to_vec()))
    }

    /// A minimal anonymous HTTP/1.0 PUT of `body` as `content_type` (a
    /// manifest: `/v2/NAME/manifests/REF`): (status, head).
    pub fn put(&self, path: &str, content_type: &str, body: &[u8]) -> Option<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            s,
            "PUT {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            self.host(),
            body.len()
        )
        .ok()?;
        s.write_all(body).ok()?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).ok()?;
        let head = String::from_utf8_lossy(&resp).into_owned();
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, head))
    }

    /// The file holding blob `hex` in the registry's filesystem storage.
    pub fn blob_file(&self, hex: &str) -> PathBuf {
        self.root
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// What the registry logged.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A busybox image (its build note `note`) packed and signed by
/// `maintainer` in `home`: (bundle, image manifest digest).
pub fn packed_busybox(d: &Path, home: &Path, note: &str) -> (PathBuf, String) {
    busybox_image(d, "img", "busybox", note);
    run(ct(home).args(["keygen", "--id", "maintainer"]));
    let bundle = d.join("bb.ctp");
    let image = format!("oci:{}:busybox", d.join("img").display());
    run(ct(home).args(["pack", &image, "-o", bundle.to_str().unwrap(), "--key", "maintainer"]));
    let index: serde_json::Value = serde_json::from_slice(&fs::read(d.join("img/index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    (bundle, digest)
}
