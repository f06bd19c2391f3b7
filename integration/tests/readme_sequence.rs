//! The README's sequence, as a newcomer types it as root, with no
//! `CERRO_*` variable set: `ct keygen`, `ct pack`, `ct load --into podman`,
//! `podman run` with the shipped hooks.d file (`hooks/cerro-hook.json`,
//! only its binary path pointed at this build). `ct load` must file the
//! bundle where the hook looks (issue 13: it filed it under root's
//! `~/.config/cerro-torre/store` while the hook read
//! `/var/lib/cerro-torre/store` and trusted `/etc/cerro-torre`, so the
//! attested image was refused).
//!
//! The host's real `/etc/cerro-torre` and `/var/lib/cerro-torre` are never
//! written: the sequence runs in a private mount namespace (`unshare
//! --mount --propagation private`) with a tmpfs over each (the directories
//! are created as mount points if absent, and removed afterwards if this
//! test created them and they are still empty), and podman's configuration
//! directory `/etc/containers` replaced, in that namespace only, by a copy
//! carrying the containers.conf this machine kind needs
//! (shared/DEPENDENCIES.md), so podman needs no environment variable
//! either. podman runs the hook as its child, inside the same namespace.
//!
//! Every process of the sequence gets only `PATH` (with this build's
//! binaries first) and `HOME` (a fresh directory: a root login shell has
//! one; ct must not file anything under it). `CT_BIN` (this build's `ct`
//! by default; `cerro-hook` is taken beside it) lets the test run against
//! another build, e.g. the code before the fix, where it fails with "no
//! bundle in the store".

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::Path;
use std::process::Command;

use cerro_integration::{bin, busybox_image, ct_bin, is_root, require};

/// The containers.conf of this machine kind (as `tests/podman.rs` writes
/// it), with the hooks directory.
fn containers_conf(hooks: &Path) -> String {
    format!(
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
         [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
         lock_type = \"file\"\nhooks_dir = [\"{}\"]\n",
        hooks.display()
    )
}

#[test]
fn the_readme_sequence_runs_an_attested_image_with_no_environment() {
    assert!(is_root(), "this test mounts in a private namespace: run it as root");
    for tool in ["podman", "runc", "unshare", "mount"] {
        require(tool);
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &Path| p.display().to_string();

    // The images: one to sign, one nobody signed (built outside the
    // sequence: they are the newcomer's inputs).
    busybox_image(d, "attested", "good", "signed");
    busybox_image(d, "plain", "other", "never signed");
    let home = d.join("root-home");
    fs::create_dir_all(&home).unwrap();

    // The shipped hooks.d file, pointed at this build's hook; its
    // environment is the shipped one.
    let hooks = d.join("hooks.d");
    fs::create_dir_all(&hooks).unwrap();
    let mut hook: serde_json::Value = serde_json::from_str(include_str!("../../hooks/cerro-hook.json")).unwrap();
    hook["hook"]["path"] = s(&bin("cerro-hook")).into();
    fs::write(hooks.join("cerro-hook.json"), hook.to_string()).unwrap();
    fs::write(d.join("containers.conf"), containers_conf(&hooks)).unwrap();

    let created: Vec<&str> = ["/etc/cerro-torre", "/var/lib/cerro-torre"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    for p in &created {
        fs::create_dir_all(p).unwrap();
    }

    let script = r#"
set -u
D=$1
podman() { command podman --root "$D/storage" --runroot "$D/run" --tmpdir "$D/podman-tmp" \
    --network-config-dir "$D/networks" "$@"; }
trap 'podman system reset --force >/dev/null 2>&1' EXIT
step() { echo "== $*"; }
fail() { echo "FAILED: $*"; exit 1; }
mkdir -p "$D/podman-tmp" "$D/networks" "$D/etc-containers"
mount -t tmpfs -o mode=0755 tmpfs /etc/cerro-torre || fail "tmpfs on /etc/cerro-torre"
mount -t tmpfs -o mode=0755 tmpfs /var/lib/cerro-torre || fail "tmpfs on /var/lib/cerro-torre"
if [ -d /etc/containers ]; then cp -a /etc/containers/. "$D/etc-containers/"; fi
cp "$D/containers.conf" "$D/etc-containers/containers.conf"
mount --bind "$D/etc-containers" /etc/containers || fail "bind /etc/containers"

step ct keygen --id alice
ct keygen --id alice || fail keygen
step ct pack
ct pack "oci:$D/attested:good" -o "$D/hello.ctp" --key alice || fail pack
step ct load --into podman
ct load "$D/hello.ctp" --into podman --podman-root "$D/storage" --podman-runroot "$D/run" || fail load
step ct load --list
ct load --list
step ct verify --as-runtime
ct verify --as-runtime "$D/hello.ctp"; echo "as-runtime exit $?"
step ct doctor
ct doctor; echo "doctor exit $?"
step podman run attested
podman run --rm --net none localhost/good:latest echo attested-hello; echo "attested exit $?"
step podman run plain
tar -C "$D/plain" -cf "$D/plain.tar" . && podman load -i "$D/plain.tar" >/dev/null || fail "podman load"
podman run --rm --net none localhost/other:latest echo must-not-run; echo "plain exit $?"
step stored
ls /var/lib/cerro-torre/store/sha256/ 2>&1
step audit
cat /var/lib/cerro-torre/store/audit.log 2>&1
step trust
ls /etc/cerro-torre/keys/ 2>&1
exit 0
"#;
    let path = format!(
        "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        s(ct_bin().parent().unwrap())
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh"])
        .arg(d)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", &home)
        .current_dir(d)
        .output()
        .unwrap();
    for p in &created {
        let _ = fs::remove_dir(p); // only if still empty: nothing escaped the namespace
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Only the namespace's setup fails the script; the steps are judged below.
    assert!(out.status.success(), "the sequence failed:\n{text}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let section = |name: &str| {
        let start = stdout
            .find(&format!("== {name}\n"))
            .unwrap_or_else(|| panic!("no step {name}:\n{text}"));
        let rest = &stdout[start..];
        let end = rest[3..].find("\n== ").map(|e| e + 4).unwrap_or(rest.len());
        rest[..end].to_owned()
    };

    // ct filed the bundle where the hook looks, and trusted what it trusts.
    let load = section("ct load --into podman");
    assert!(
        load.contains("into /var/lib/cerro-torre/store/sha256/"),
        "ct load filed it elsewhere:\n{text}"
    );
    assert_eq!(
        section("stored").lines().filter(|l| l.ends_with(".ctp")).count(),
        1,
        "{text}"
    );
    assert!(section("trust").contains("alice.pub.pem"), "{text}");
    // Nothing under root's HOME (podman may keep its own files there).
    assert!(
        !home.join(".config/cerro-torre").exists(),
        "ct wrote under HOME:\n{text}"
    );

    // ct verify --as-runtime says what the shim would decide here, and ct
    // doctor that ct's paths are the hook's.
    let as_runtime = section("ct verify --as-runtime");
    assert!(as_runtime.contains("as-runtime exit 0"), "{text}");
    assert!(as_runtime.contains("verdict     ALLOWED"), "{text}");
    assert!(as_runtime.contains("(this bundle)"), "{text}");
    let doctor = section("ct doctor");
    assert!(
        doctor.contains("[ok  ] ct's trust root, bundle store and policy are the shim"),
        "{text}"
    );

    // The attested image runs; the unattested one is refused by the hook.
    let attested = section("podman run attested");
    assert!(
        attested.contains("attested-hello") && attested.contains("attested exit 0"),
        "{text}"
    );
    let plain = section("podman run plain");
    assert!(!plain.contains("plain exit 0"), "{text}");
    assert!(
        text.contains("cerro-hook: refused") && text.contains("no bundle in the store"),
        "{text}"
    );

    // The hook recorded both decisions in the system store's audit log.
    let audit = section("audit");
    let records: Vec<serde_json::Value> = audit
        .lines()
        .skip(1)
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let allowed: Vec<bool> = records.iter().map(|r| r["allowed"].as_bool().unwrap()).collect();
    assert_eq!(allowed, [true, false], "{audit}");
    assert!(records.iter().all(|r| r["component"] == "hook"), "{audit}");
}
