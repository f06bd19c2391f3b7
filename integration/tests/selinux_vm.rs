//! SELinux enforcing, for real: Debian's own kernel and refpolicy booted under
//! qemu (`integration/vm/`), with two bundles this build packs and signs —
//! `web` (listen tcp/8080, write /var/lib/web) and `batch` (no capabilities) —
//! their modules installed inside the machine by `ct selinux install` (and
//! `ct doctor` naming their domains), and processes run in their domains by
//! `runcon`, by runc and by `cerro-runtime` with `process.selinuxLabel`, by
//! podman with the hook (which refuses another package's labels), and by
//! containerd through the shim (`ctr run --runtime io.cerro.v1`). One boot
//! runs every check (`integration/vm/selinux-checks.sh`, which only
//! reports); this test judges what it reported: the domain each process ran
//! in, the port it could bind and the one it could not, the declared volume
//! writable and `/etc` not, chown (a capability root has and the manifest
//! did not declare) refused, two containers of one package at different MCS
//! categories kept apart, the audit records of the hook and the shim naming
//! the domain, the kernel's `avc: denied … permissive=0` records, and
//! `ct selinux suggest` turning the refused port and capability into the
//! missing `[capabilities]` lines, which, repacked and reinstalled, let both
//! succeed.
//!
//! The image is built once and cached under `target/fixtures/selinux-vm/`
//! (`integration/vm/build-image`, keyed by its inputs). Skipped, saying so,
//! only where qemu cannot be installed (`scripts/install-deps` installs it).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cerro_integration::{bin, busybox_image, ct, ct_bin, is_root, run, target_dir};

fn vm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vm")
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Debian's refpolicy module store as plain CIL, extracted once into target/
/// (the same directory selinux-gen's and ct's tests use).
fn refpolicy_cil() -> PathBuf {
    let dir = target_dir().join("fixtures/refpolicy-cil");
    if dir.join(".complete").exists() {
        return dir;
    }
    let store = Path::new("/var/lib/selinux/default/active/modules");
    assert!(
        store.exists(),
        "selinux-policy-default is not installed: run scripts/install-deps"
    );
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    for prio in fs::read_dir(store).unwrap().flatten() {
        for m in fs::read_dir(prio.path()).unwrap().flatten() {
            let cil = m.path().join("cil");
            if cil.exists() {
                let out = run(Command::new("bunzip2").arg("-c").arg(&cil));
                fs::write(dir.join(format!("{}.cil", m.file_name().to_string_lossy())), out.stdout).unwrap();
            }
        }
    }
    fs::write(dir.join(".complete"), "").unwrap();
    dir
}

/// What the payload reported: `name: value` lines, each name's values in order.
fn parse(results: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in results.lines() {
        if let Some((k, v)) = line.trim_end_matches('\r').split_once(": ") {
            m.entry(k.to_owned()).or_default().push(v.to_owned());
        }
    }
    m
}

struct Report {
    map: BTreeMap<String, Vec<String>>,
    text: String,
}

impl Report {
    fn one(&self, k: &str) -> &str {
        match self.map.get(k).map(Vec::as_slice) {
            Some([v]) => v,
            other => panic!("{k}: expected one value, got {other:?}\n{}", self.text),
        }
    }
    fn out(&self, k: &str) -> String {
        self.map
            .get(&format!("{k}.out"))
            .map(|v| v.join("\n"))
            .unwrap_or_default()
    }
    fn rc(&self, k: &str) -> i32 {
        self.one(&format!("{k}.rc")).parse().unwrap()
    }
    /// `k` ran and succeeded.
    fn ok(&self, k: &str) {
        assert_eq!(self.rc(k), 0, "{k}: {}\n{}", self.out(k), self.text);
    }
    /// `k` was refused by the kernel with EACCES.
    fn refused(&self, k: &str) {
        assert_ne!(self.rc(k), 0, "{k} was not refused: {}\n{}", self.out(k), self.text);
        assert!(
            self.out(k).contains("Permission denied"),
            "{k}: not EACCES: {}\n{}",
            self.out(k),
            self.text
        );
    }
    /// An AVC denial record containing every one of `parts`, refused (not permissive).
    fn avc(&self, parts: &[&str]) {
        let avcs = self.map.get("avc").cloned().unwrap_or_default();
        assert!(
            avcs.iter()
                .any(|a| a.contains("permissive=0") && parts.iter().all(|p| a.contains(p))),
            "no avc denial with {parts:?} among:\n{}",
            avcs.join("\n")
        );
    }
}

/// Judges what a container's check script printed (`NAME STATUS` lines, and
/// the commands' own messages on the same stream): the declared port held open until its timeout killed it (143),
/// the undeclared one refused, the volume written, the image's own `/etc`
/// refused by the kernel (EACCES, not a missing directory), the other
/// container's file (MCS) refused, and — for runtimes that give root
/// `CAP_CHOWN`, so only SELinux can refuse it — chown refused (EPERM) and
/// /dev/null written.
fn container_saw(who: &str, out: &str, chown: bool) {
    let mut checks = vec![
        ("listen8080", Some(143)),
        ("listen8081", None),
        ("volume", Some(0)),
        ("etc", None),
        ("mcs", None),
    ];
    if chown {
        checks.push(("chown", None));
        // The runtime's /dev/null, labelled with the container's type.
        checks.push(("devnull", Some(0)));
    }
    for (name, want) in checks {
        let rc: i32 = out
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{who}: no {name:?} in {out}"));
        match want {
            Some(w) => assert_eq!(rc, w, "{who} {name}: {out}"),
            None => assert_ne!(rc, 0, "{who} {name} was not refused: {out}"),
        }
    }
    let said = |parts: &[&str]| out.lines().any(|l| parts.iter().all(|p| l.contains(p)));
    assert!(
        said(&["/etc", "Permission denied"]),
        "{who}: /etc not refused by the kernel: {out}"
    );
    assert!(said(&["/data/b.txt", "Permission denied"]), "{who}: b.txt: {out}");
    if chown {
        assert!(said(&["chown: ", "Operation not permitted"]), "{who}: chown: {out}");
    }
}

/// The audit records a front end wrote (`KEY: JSON` lines of the report)
/// that allowed (`allowed`) or refused the container.
fn audit(r: &Report, key: &str, allowed: bool) -> Vec<serde_json::Value> {
    r.map
        .get(key)
        .into_iter()
        .flatten()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{key}: {e}: {l}")))
        .filter(|v| v["allowed"] == allowed)
        .collect()
}

/// Packs `oci:IMG:1` with `manifest` into `out`, signed by the key `vm` of `home`.
fn pack(home: &Path, img: &Path, manifest: &Path, out: &Path, policy: &Path) {
    let o = run(ct(home).args([
        "pack",
        &format!("oci:{}:1", img.display()),
        "-o",
        &out.display().to_string(),
        "--key",
        "vm",
        "--manifest",
        &manifest.display().to_string(),
        "--selinux-policy",
        &policy.display().to_string(),
    ]));
    assert!(o.status.success());
}

/// Copies `src` without its debug information (the payload disk is read under emulation).
fn stripped(src: &Path, dst: &Path) {
    let ok = Command::new("strip")
        .arg("-o")
        .arg(dst)
        .arg(src)
        .status()
        .unwrap()
        .success();
    if !ok {
        fs::copy(src, dst).unwrap();
    }
}

#[test]
fn selinux_enforcing_vm_confines_each_bundle_to_its_declared_capabilities() {
    if !on_path("qemu-system-x86_64") {
        // Installed by scripts/install-deps; tried here too, so that only a
        // machine where qemu cannot be installed skips.
        let tried = Command::new(vm_dir().join("install-qemu")).output().unwrap();
        if !on_path("qemu-system-x86_64") {
            eprintln!(
                "SKIPPED: qemu-system-x86_64 is not installed and integration/vm/install-qemu could not \
                 install it ({}): the SELinux-enforcing VM tests did not run",
                String::from_utf8_lossy(&tried.stderr).trim()
            );
            return;
        }
    }
    assert!(is_root(), "building the VM image needs root (debootstrap, chroot)");

    // The image: built once, then cached by what it is built from.
    let built = run(Command::new(vm_dir().join("build-image")).arg(target_dir()));
    let image = PathBuf::from(String::from_utf8(built.stdout).unwrap().trim());
    assert!(image.join(".complete").exists(), "{}", image.display());

    // Two signed bundles of one busybox image, declaring different capabilities.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let payload = d.join("payload");
    let home = payload.join("home");
    fs::create_dir_all(payload.join("bin")).unwrap();
    run(ct(&home).args(["keygen", "--id", "vm"]));
    busybox_image(d, "img", "1", "");
    let policy = refpolicy_cil();
    let web = "[package]\nname = \"web\"\nversion = \"1\"\n\n[capabilities]\nlisten = [\"tcp/8080\"]\nwrite = [\"/var/lib/web\"]\n";
    let batch = "[package]\nname = \"batch\"\nversion = \"1\"\n";
    fs::write(payload.join("web.toml"), web).unwrap();
    fs::write(d.join("batch.toml"), batch).unwrap();
    pack(
        &home,
        &d.join("img"),
        &payload.join("web.toml"),
        &payload.join("web.ctp"),
        &policy,
    );
    pack(
        &home,
        &d.join("img"),
        &d.join("batch.toml"),
        &payload.join("batch.ctp"),
        &policy,
    );

    // The OCI runtimes' config: runc's own template, with the check script as
    // the process, the bundle's domain at s0:c1,c2, and the volume at /data.
    let spec_dir = d.join("spec");
    fs::create_dir_all(&spec_dir).unwrap();
    run(Command::new("runc").arg("spec").current_dir(&spec_dir));
    let mut spec: serde_json::Value = serde_json::from_slice(&fs::read(spec_dir.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["/bin/sh", "/check.sh"]);
    spec["process"]["selinuxLabel"] = "system_u:system_r:ct_web_t:s0:c1,c2".into();
    spec["root"]["readonly"] = false.into();
    spec["mounts"].as_array_mut().unwrap().push(serde_json::json!(
        {"destination": "/data", "type": "bind", "source": "/var/lib/web", "options": ["rbind", "rw"]}
    ));
    fs::write(
        payload.join("oci-config.json"),
        serde_json::to_string_pretty(&spec).unwrap(),
    )
    .unwrap();

    // The payload: the checks, this build's binaries, the bundles, the trust store.
    fs::copy(vm_dir().join("selinux-checks.sh"), payload.join("run.sh")).unwrap();
    run(Command::new("cp").arg("-a").arg(d.join("img")).arg(payload.join("img")));
    stripped(&ct_bin(), &payload.join("bin/ct"));
    stripped(&bin("cerro-runtime"), &payload.join("bin/cerro-runtime"));
    stripped(&bin("cerro-hook"), &payload.join("bin/cerro-hook"));
    stripped(
        &bin("containerd-shim-cerro-v1"),
        &payload.join("bin/containerd-shim-cerro-v1"),
    );
    let tar = d.join("payload.tar");
    run(Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&payload)
        .arg("."));

    // One boot runs everything.
    let results = d.join("results");
    let boot = Command::new(vm_dir().join("run"))
        .arg(&image)
        .arg(&tar)
        .arg(&results)
        .arg("900")
        .output()
        .unwrap();
    let text = fs::read_to_string(&results).unwrap_or_default();
    let console = fs::read_to_string(results.with_extension("console")).unwrap_or_default();
    assert_eq!(
        boot.status.code(),
        Some(0),
        "the VM run failed: {}\n--- results\n{text}\n--- console (last 4000 bytes)\n{}",
        String::from_utf8_lossy(&boot.stderr),
        &console[console.len().saturating_sub(4000)..]
    );
    // What the machine reported, for the log of a passing run too.
    eprintln!("{}{text}", String::from_utf8_lossy(&boot.stderr));
    let r = Report {
        map: parse(&text),
        text: text.clone(),
    };

    // The kernel enforces, with MCS; the modules come from the signed bundles, by ct.
    assert_eq!(r.one("enforce"), "1", "{text}");
    assert_eq!(r.one("mls"), "1", "{text}");
    r.ok("install.web");
    r.ok("install.batch");
    assert!(
        r.out("install.web").contains("installed SELinux module ct_web"),
        "{text}"
    );
    let modules = r.one("modules");
    assert!(modules.contains("ct_web") && modules.contains("ct_batch"), "{modules}");
    assert!(
        r.out("doctor")
            .contains("SELinux is enforcing: containers run confined in their bundle's domain"),
        "{text}"
    );
    // It names the installed domains, as the running policy knows them.
    assert!(
        r.out("doctor")
            .contains("[ok  ] installed Cerro Torre domains: ct_batch_t, ct_web_t"),
        "{text}"
    );
    // The runtimes' layer stores, made and labelled by `ct selinux install`
    // (the image store module, installed with each package's), and checked
    // by `ct doctor`.
    for store in [
        "podman's layer store /var/lib/containers/storage/overlay",
        "containerd's layer store /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs",
    ] {
        assert!(
            r.out("install.web")
                .contains(&format!("labelled {store} cerro_image_t")),
            "{text}"
        );
        assert!(
            r.out("doctor")
                .contains(&format!("[ok  ] {store} is labelled cerro_image_t")),
            "{text}"
        );
    }
    assert!(modules.contains("cerro_store"), "{modules}");
    assert!(r.one("volume.label").contains(":ct_web_rw_t:s0"), "{text}");

    // runcon: the bundle's domain, its port and no other, its volume and not /etc.
    assert_eq!(
        r.one("runcon.listen8080.domain"),
        "system_u:system_r:ct_web_t:s0",
        "{text}"
    );
    assert!(
        r.out("runcon.listen8080").contains("rc 124"),
        "8080 was not held open: {text}"
    );
    r.refused("runcon.listen8081");
    r.avc(&["{ name_bind }", "src=8081", "scontext=system_u:system_r:ct_web_t:s0 "]);
    r.refused("runcon.batch.listen8080"); // the networkless job has no socket at all
    r.avc(&["scontext=system_u:system_r:ct_batch_t:s0 ", "tclass=tcp_socket"]);
    r.ok("runcon.volume");
    assert_eq!(r.out("runcon.volume"), "written", "{text}");
    // chown: a capability root has and the manifest did not declare.
    assert_ne!(r.rc("runcon.chown"), 0, "chown was not refused: {text}");
    assert!(r.out("runcon.chown").contains("Operation not permitted"), "{text}");
    assert_eq!(r.one("runcon.chown.owner"), "0:0", "{text}");
    r.avc(&[
        "{ chown }",
        "scontext=system_u:system_r:ct_web_t:s0 ",
        "tclass=capability",
    ]);
    r.refused("runcon.etc");
    assert_eq!(r.one("runcon.etc.exists"), "no");
    r.refused("runcon.batch.volume"); // another package's volume

    // MCS: one package, two containers at different categories.
    r.ok("mcs.b.create");
    assert!(r.one("mcs.b.label").ends_with(":ct_web_rw_t:s0:c3,c4"), "{text}");
    r.refused("mcs.a.write");
    r.refused("mcs.a.read");
    r.avc(&[
        "scontext=system_u:system_r:ct_web_t:s0:c1,c2 ",
        "tcontext=system_u:object_r:ct_web_rw_t:s0:c3,c4 ",
    ]);
    assert_eq!(r.one("mcs.b.content"), "b ", "container a changed b's file: {text}");
    r.ok("mcs.a.own"); // its stdio (pipes at s0) and its own files still work
    assert_eq!(r.out("mcs.a.own"), "a");
    r.ok("mcs.b.again");
    assert_eq!(r.out("mcs.b.again"), "b");

    // OCI runtimes with process.selinuxLabel (s0:c1,c2), the volume at /data.
    for rt in ["runc", "runtime"] {
        assert_eq!(
            r.one(&format!("{rt}.domain")),
            "system_u:system_r:ct_web_t:s0:c1,c2",
            "{rt}: {text}"
        );
        container_saw(rt, &r.out(rt), false);
    }

    // podman with the hook: the bundle's types, podman's random MCS categories.
    r.ok("podman.load");
    // Its layers inherited the store's label (one label for all: no
    // whitespace in the list): no one labelled them.
    let labels = r.one("podman.layers.labels").trim();
    assert!(
        !labels.contains(' ') && labels.ends_with(":object_r:cerro_image_t:s0"),
        "{text}"
    );
    let domain = r.one("podman.domain");
    let level = domain
        .strip_prefix("system_u:system_r:ct_web_t:s0:c")
        .unwrap_or_else(|| panic!("podman: {domain}\n{text}"));
    assert!(level.contains(','), "podman: {domain}");
    let out = r.out("podman");
    container_saw("podman", &out, true);
    assert_eq!(out.lines().last(), Some("rc 0"), "podman run failed: {out}");
    r.avc(&["{ chown }", &format!("scontext={domain} "), "tclass=capability"]);
    // The hook admitted it in the bundle's domain (its audit record), and
    // refuses a container labelled with another package's types.
    let admitted = audit(&r, "podman.audit", true);
    assert_eq!(admitted.len(), 1, "{text}");
    assert_eq!(admitted[0]["confinement"]["kind"], "domain", "{}", admitted[0]);
    assert_eq!(admitted[0]["confinement"]["domain"], "ct_web_t", "{}", admitted[0]);
    assert_eq!(admitted[0]["confinement"]["mode"], "enforcing", "{}", admitted[0]);
    let wrong = r.out("podman.wrong");
    assert_eq!(r.rc("podman.wrong"), 126, "{text}"); // podman: the OCI runtime failed
    assert!(!wrong.contains("must-not-run"), "{wrong}");
    assert!(
        wrong.contains("are not the bundle's domain ct_web_t")
            && wrong.contains("--security-opt label=type:ct_web_t --security-opt label=filetype:ct_web_file_t"),
        "{wrong}"
    );
    let refused = audit(&r, "podman.audit", false);
    assert_eq!(refused.len(), 1, "{text}");
    assert_eq!(refused[0]["check"], "confinement", "{}", refused[0]);

    // containerd and the shim: the bundle's domain at s0, as the shim sets it.
    r.ok("shim.load");
    let labels = r.one("shim.layers.labels").trim();
    assert!(
        !labels.contains(' ') && labels.ends_with(":object_r:cerro_image_t:s0"),
        "{text}"
    );
    assert_eq!(r.one("shim.domain"), "system_u:system_r:ct_web_t:s0", "{text}");
    // ctr's own stdout: the container's first line (relayed through the
    // runtime's pipe: the domain may not write containerd's FIFO), then its status.
    assert_eq!(
        r.out("shim.ctr").lines().collect::<Vec<_>>(),
        ["stdout-reached", "rc 0"],
        "ctr run: {text}"
    );
    container_saw("shim", &r.out("shim"), true);
    // Its chown refused by the kernel too: runcon's and the shim's records.
    let chowns = r.map["avc"]
        .iter()
        .filter(|a| {
            a.contains("{ chown }")
                && a.contains("scontext=system_u:system_r:ct_web_t:s0 ")
                && a.contains("permissive=0")
        })
        .count();
    assert_eq!(chowns, 2, "{text}");
    let admitted = audit(&r, "shim.audit", true);
    assert_eq!(admitted.len(), 1, "{text}");
    assert_eq!(
        admitted[0]["confinement"],
        serde_json::json!({"kind": "domain", "module": "ct_web", "domain": "ct_web_t",
            "process_label": "system_u:system_r:ct_web_t:s0",
            "mount_label": "system_u:object_r:ct_web_file_t:s0", "mode": "enforcing"}),
        "{}",
        admitted[0]
    );

    // The refused port becomes the missing [capabilities] line; other
    // domains' denials (the getty's, the batch job's) are not read.
    r.ok("suggest");
    let s = r.out("suggest");
    assert!(s.contains("listen = [\"tcp/8080\", \"tcp/8081\"]"), "{s}");
    assert!(s.contains("of other domains than ct_web_t not read"), "{s}");
    assert!(!s.contains("scontext=system_u:system_r:ct_batch_t"), "{s}");
    // The refused chown (runcon's, podman's, the shim's) becomes the linux
    // line; the getty's checkpoint_restore, another domain's, does not.
    let linux = s
        .lines()
        .find(|l| l.starts_with("linux = "))
        .unwrap_or_else(|| panic!("no linux line: {s}"));
    assert!(linux.contains("\"CHOWN\""), "{s}");
    assert!(!linux.contains("CHECKPOINT_RESTORE"), "{s}");

    // Repacked with the suggested lines and reinstalled, the bind and the
    // chown succeed.
    let manifest = r.out("loop.manifest");
    assert!(manifest.contains("listen = [\"tcp/8080\", \"tcp/8081\"]"), "{text}");
    assert!(manifest.contains(linux), "{text}");
    r.ok("loop.pack");
    r.ok("loop.install");
    assert_eq!(r.rc("loop.listen8081"), 124, "8081 still refused: {text}");
    r.ok("loop.chown");
    assert_eq!(r.one("loop.chown.owner"), "1:1", "{text}");
}
