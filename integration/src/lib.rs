//! Helpers for the end-to-end tests: locate the built `ct`, run real tools,
//! and insist that they are installed (these tests exist to meet the real
//! components; `scripts/install-deps` installs them from Debian).

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod containerd;
pub mod cri;
pub mod registry;
pub mod sid;
pub mod softhsm;
pub mod tlog;

/// The `ct` binary of this build: `CT_BIN`, else beside the test binary
/// (`target/<profile>/deps/<test>` → `target/<profile>/ct`).
pub fn ct_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let ct = profile_dir.join("ct");
    assert!(
        ct.exists(),
        "{} not found: build it first (scripts/test runs `cargo build --workspace`)",
        ct.display()
    );
    ct
}

/// Fails the test with an install hint when `tool` is missing.
pub fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "{tool} is not installed: run scripts/install-deps");
}

/// Runs a command, panicking with its output unless it exits 0.
/// Writes an executable script at `path` through a child (`install -m 0755`),
/// never holding a write descriptor to it in this process: a test thread
/// forking meanwhile would inherit one and make the script's exec fail
/// with ETXTBSY ("Text file busy") until that child execs.
pub fn write_executable(path: &Path, text: &str) {
    let staged = path.with_extension("txt");
    std::fs::write(&staged, text).unwrap_or_else(|e| panic!("writing {}: {e}", staged.display()));
    let st = Command::new("install")
        .arg("-m")
        .arg("0755")
        .arg(&staged)
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("running install: {e}"));
    assert!(st.success(), "install {}", path.display());
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `ct` with a private state directory.
pub fn ct(home: &Path) -> Command {
    let mut c = Command::new(ct_bin());
    c.env("CERRO_HOME", home).env_remove("SOURCE_DATE_EPOCH");
    c
}

/// Runs `ct` and returns its exit code and combined output.
pub fn ct_status(home: &Path, args: &[&str]) -> (i32, String) {
    let out = ct(home).args(args).output().expect("run ct");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs `ct` with `args` under `home`, expecting exit 0; its output.
pub fn ct_ok(home: &Path, args: &[&str]) -> String {
    let (code, out) = ct_status(home, args);
    assert_eq!(code, 0, "ct {args:?}: {out}");
    out
}

/// Runs `ct` with `args` under `home`, expecting exit `code` and `needle`
/// in its output.
pub fn ct_refused(home: &Path, args: &[&str], code: i32, needle: &str) {
    let (got, out) = ct_status(home, args);
    assert_eq!(got, code, "ct {args:?}: {out}");
    assert!(out.contains(needle), "{needle:?} not in: {out}");
}

/// The `target/` directory of this build (for cached fixtures).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors().nth(3).expect("target/").to_path_buf()
}

/// The Python virtualenv holding the reference validators (see scripts/install-deps).
pub fn pyvenv() -> PathBuf {
    let venv = std::env::var_os("CERRO_PYVENV").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
        cache.join("cerro-torre/pyvenv")
    });
    assert!(
        venv.join("bin/python").exists(),
        "validator virtualenv {} missing: run scripts/install-deps",
        venv.display()
    );
    venv
}

/// Runs `integration/python/validate.py CHECK ARGS…` in the validator virtualenv.
pub fn validate(check: &str, args: &[&str]) -> Output {
    let venv = pyvenv();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/validate.py");
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(Command::new(venv.join("bin/python"))
        .arg(script)
        .arg(check)
        .args(args)
        .env("PATH", path))
}

/// The Debian mirror this machine's apt uses (from its sources), for debootstrap.
pub fn debian_mirror() -> String {
    let mut texts = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            if e.path().extension().is_some_and(|x| x == "sources") {
                texts.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    for t in &texts {
        for l in t.lines() {
            if let Some(uris) = l.strip_prefix("URIs:") {
                if let Some(u) = uris.split_whitespace().find(|u| !u.contains("security")) {
                    return u.to_owned();
                }
            }
        }
    }
    let list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    list.lines()
        .filter(|l| l.starts_with("deb "))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("http")))
        .find(|u| !u.contains("security"))
        .map(str::to_owned)
        .expect("no Debian mirror in /etc/apt/sources.list(.d)")
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

pub fn umoci(args: &[&str]) -> Command {
    let mut c = Command::new("umoci");
    c.args(args);
    c
}

/// Builds `dir/img:busybox`: one layer from umoci holding /bin/busybox and
/// /bin/sh, with an entrypoint.
pub fn busybox_layout(dir: &Path) {
    busybox_image(dir, "img", "busybox", "");
}

/// Builds `dir/NAME:TAG` the same way, with `/note` holding `note` so that
/// images with different notes have different digests.
pub fn busybox_image(dir: &Path, name: &str, tag: &str, note: &str) {
    require("umoci");
    assert!(
        Path::new("/bin/busybox").exists(),
        "busybox-static is not installed: run scripts/install-deps"
    );
    let img = dir.join(name).display().to_string();
    let bundle = dir.join(format!("{name}-rootfs")).display().to_string();
    let rootless: &[&str] = if is_root() { &[] } else { &["--rootless"] };
    run(&mut umoci(&["init", "--layout", &img]));
    run(&mut umoci(&["new", "--image", &format!("{img}:{tag}")]));
    run(umoci(&["unpack"])
        .args(rootless)
        .args(["--image", &format!("{img}:{tag}"), &bundle]));
    let bin = dir.join(format!("{name}-rootfs/rootfs/bin"));
    if !note.is_empty() {
        fs::write(dir.join(format!("{name}-rootfs/rootfs/note")), note).unwrap();
    }
    fs::create_dir_all(&bin).unwrap();
    fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", bin.join("sh")).unwrap();
    run(umoci(&["repack"])
        .args(rootless)
        .args(["--image", &format!("{img}:{tag}"), &bundle]));
    run(&mut umoci(&[
        "config",
        "--image",
        &format!("{img}:{tag}"),
        "--config.entrypoint",
        "/bin/busybox",
        "--config.cmd",
        "echo",
        "--config.cmd",
        "hello",
    ]));
}

/// A two-platform image (#15) at `d/NAME`, ref `multi`: this host's
/// platform is the busybox image `busybox_image` makes (it runs), the other
/// platform's is a stub (it need not run: `ctr images import` keeps only
/// this host's content). Returns (index, host manifest) digests.
pub fn multi_platform_image(d: &Path, name: &str, note: &str) -> (String, String) {
    use cerro_core::image::layout::{platform_config, write_platform_index, LayoutBuilder};
    use cerro_core::image::{host_architecture, BlobRef, Platform, MT_OCI_MANIFEST};
    busybox_image(d, name, "one", note);
    let layout = d.join(name);
    let index: serde_json::Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let desc = &index["manifests"][0];
    let host = BlobRef {
        media_type: MT_OCI_MANIFEST.to_owned(),
        digest: cerro_core::digest::Digest::parse(desc["digest"].as_str().unwrap()).unwrap(),
        size: desc["size"].as_u64().unwrap(),
    };
    let other_arch = if host_architecture() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let mut b = LayoutBuilder::new(&layout).unwrap();
    b.layer_tar(&[("bin/app", 0o755, b"not for this host\n")]).unwrap();
    let other = b
        .finish_image(platform_config("linux", other_arch, &["/bin/app"]))
        .unwrap();
    let linux = |arch: &str| Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: None,
    };
    let idx = write_platform_index(
        &layout,
        &[(host.clone(), linux(host_architecture())), (other, linux(other_arch))],
        Some("multi"),
    )
    .unwrap();
    (idx.digest.to_string(), host.digest.to_string())
}

/// Copies a bundle, flipping one bit a third of the way into its last member (a layer).
pub fn flip_in_last_member(src: &Path, dst: &Path) {
    let mut bytes = fs::read(src).unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    let (off, size) = ar
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.raw_file_position(), e.size())
        })
        .last()
        .unwrap();
    bytes[(off + size / 3) as usize] ^= 0x01;
    fs::write(dst, bytes).unwrap();
}

/// A binary of this build, beside `ct` (e.g. `cerro-hook`).
pub fn bin(name: &str) -> PathBuf {
    let p = ct_bin().with_file_name(name);
    assert!(
        p.exists(),
        "{} not found: build the workspace's binaries first",
        p.display()
    );
    p
}

/// The in-toto statement carried by DSSE envelope `member` of `bundle`
/// (read from the tar, payload decoded).
pub fn statement_in(bundle: &Path, member: &str) -> serde_json::Value {
    use base64::Engine as _;
    use std::io::Read as _;
    let f = fs::File::open(bundle).unwrap();
    let mut ar = tar::Archive::new(f);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some(member) {
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            let env: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let payload = base64::engine::general_purpose::STANDARD
                .decode(env["payload"].as_str().unwrap())
                .unwrap();
            return serde_json::from_slice(&payload).unwrap();
        }
    }
    panic!("{} has no member {member}", bundle.display());
}

/// The enforcement fixture: `d/attested:good` packed into `d/good.ctp`,
/// signed by a new key `maintainer` in `home`, and `d/plain:other`, an image
/// nobody signed. Returns the bundle path.
pub fn attested_and_plain_images(d: &Path, home: &Path) -> PathBuf {
    busybox_image(d, "attested", "good", "signed");
    busybox_image(d, "plain", "other", "never signed");
    run(ct(home).args(["keygen", "--id", "maintainer"]));
    let bundle = d.join("good.ctp");
    let image = format!("oci:{}:good", d.join("attested").display());
    run(ct(home).args([
        "pack",
        &image,
        "-o",
        &bundle.display().to_string(),
        "--key",
        "maintainer",
    ]));
    bundle
}

/// The confinement every audit record claims on this machine kind, which
/// has no SELinux in its kernel: a container that started ran unconfined
/// and its record says so and why; a refused one claims no confinement.
pub fn assert_unconfined_when_allowed(records: &[serde_json::Value]) {
    for r in records {
        if r["allowed"] == true {
            assert_eq!(
                r["confinement"],
                serde_json::json!({"kind": "unconfined", "reason": "SELinux is not enabled in this kernel"}),
                "{r}"
            );
        } else {
            assert!(r["confinement"].is_null(), "{r}");
        }
    }
}
