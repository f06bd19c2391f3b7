//! `ct selinux` and the module in the bundle: hostile manifest values are
//! refused naming the field, generation is byte-identical, the module rides
//! in the bundle bound by the release statement, and altering it is caught;
//! `ct selinux install` installs only the module regenerated from the signed
//! manifest, refusing hand-written, modified and extra modules.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cerro_core::bundle::{read_bundle_file, NoExtract};
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::pack::PackRequest;
use cerro_core::trust::home::Home;

fn ct(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ct"))
        .args(args)
        .env("CERRO_HOME", home)
        .env_remove("CERRO_SELINUX_POLICY")
        .output()
        .unwrap()
}

fn all(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Packs a one-file image (entrypoint `/ENTRY`) with `d/m.toml` into `d/b.ctp`, signed by a new key `k`.
fn pack_with_manifest(d: &std::path::Path, entry: &str) {
    let mut lb = LayoutBuilder::new(&d.join("img")).unwrap();
    lb.layer_tar(&[(entry, 0o755, b"#!/bin/sh\n")]).unwrap();
    lb.finish(basic_config(&[&format!("/{entry}")]), Some("1")).unwrap();
    assert!(ct(d, &["keygen", "--id", "k"]).status.success());
    let s = |p: &str| d.join(p).display().to_string();
    let p = ct(
        d,
        &[
            "pack",
            &format!("oci:{}:1", s("img")),
            "-o",
            &s("b.ctp"),
            "--key",
            "k",
            "--manifest",
            &s("m.toml"),
        ],
    );
    assert!(p.status.success(), "{}", all(&p));
}

#[test]
fn hostile_capabilities_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.toml");
    let out = dir.path().join("x.cil");
    for (caps, field) in [
        ("listen = [\"tcp/0\"]", "capabilities.listen[0]"),
        ("listen = [\"tcp/65536\"]", "capabilities.listen[0]"),
        ("connect = [\"icmp/1\"]", "capabilities.connect[0]"),
        ("read = [\"etc/app\"]", "capabilities.read[0]"),
        (
            "write = [\"/var/lib/app\\\")(allow evil_t self (process (execmem)))\"]",
            "capabilities.write[0]",
        ),
        ("write = [\"/var/lib/a\\nb\"]", "capabilities.write[0]"),
        ("write = [\"/var/lib/a\\u0000b\"]", "capabilities.write[0]"),
        ("exec = [\"/usr/bin/(x)\"]", "capabilities.exec[0]"),
        ("devices = [\"/dev/../etc/shadow\"]", "capabilities.devices[0]"),
        ("linux = [\"CAP_SYS_ADMIN\"]", "capabilities.linux[0]"),
        ("linux = [\"ROOT\"]", "capabilities.linux[0]"),
        ("surprise = [\"x\"]", "surprise"),
    ] {
        fs::write(
            &m,
            format!("[package]\nname = \"web\"\nversion = \"1\"\n[capabilities]\n{caps}\n"),
        )
        .unwrap();
        let o = ct(
            dir.path(),
            &["selinux", "generate", m.to_str().unwrap(), "-o", out.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(10), "{caps}: {}", all(&o));
        assert!(all(&o).contains(field), "{caps}: {}", all(&o));
        assert!(!out.exists(), "{caps}: nothing is written");
    }
}

#[test]
fn modules_are_deterministic_bound_in_the_bundle_and_tamper_evident() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &str| d.join(p).display().to_string();
    let m = d.join("m.toml");
    fs::write(
        &m,
        "[package]\nname = \"batch\"\nversion = \"1\"\n[capabilities]\nwrite = [\"/var/lib/batch\"]\nlinux = [\"CHOWN\"]\n",
    )
    .unwrap();
    let a = ct(d, &["selinux", "generate", &s("m.toml"), "-o", "-"]);
    let b = ct(d, &["selinux", "generate", &s("m.toml"), "-o", "-"]);
    assert!(a.status.success(), "{}", all(&a));
    assert_eq!(a.stdout, b.stdout);

    pack_with_manifest(d, "job");
    let explain = all(&ct(d, &["explain", &s("b.ctp")]));
    assert!(
        explain.contains("selinux/ct_batch.cil") && explain.contains("VALID"),
        "{explain}"
    );
    // The module in the bundle is the one `ct selinux generate` writes.
    let from_bundle = ct(d, &["selinux", "generate", &s("b.ctp"), "-o", "-"]);
    assert_eq!(from_bundle.stdout, a.stdout);

    // Altering the module (same length, still UTF-8) fails verification.
    let mut bytes = fs::read(d.join("b.ctp")).unwrap();
    let text = String::from_utf8_lossy(&a.stdout).into_owned();
    let at = bytes.windows(8).position(|w| w == b"(allow c").unwrap() + 1;
    assert!(text.contains("(allow c"));
    bytes[at] = b'A';
    fs::write(d.join("t.ctp"), &bytes).unwrap();
    let v = ct(d, &["verify", &s("t.ctp")]);
    assert_eq!(v.status.code(), Some(1), "{}", all(&v));
    assert!(all(&v).contains("selinux/ct_batch.cil"), "{}", all(&v));
}

#[test]
fn suggest_turns_denials_into_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    fs::write(
        &log,
        "type=AVC msg=audit(1.1:1): avc:  denied  { name_bind } for  pid=7 comm=\"httpd\" src=8443 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:http_port_t:s0 tclass=tcp_socket permissive=0\n\
         type=AVC msg=audit(1.2:2): avc:  denied  { write } for  pid=7 comm=\"httpd\" path=\"/var/lib/web\" scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:var_lib_t:s0 tclass=dir permissive=0\n\
         type=AVC msg=audit(1.3:3): avc:  denied  { checkpoint_restore } for  pid=8 comm=\"agetty\" capability=40 scontext=system_u:system_r:getty_t:s0 tcontext=system_u:system_r:getty_t:s0 tclass=capability2 permissive=0\n",
    )
    .unwrap();
    let m = dir.path().join("m.toml");
    fs::write(
        &m,
        "[package]\nname = \"web\"\nversion = \"1\"\n[capabilities]\nlisten = [\"tcp/8080\"]\n",
    )
    .unwrap();
    let o = ct(
        dir.path(),
        &[
            "selinux",
            "suggest",
            log.to_str().unwrap(),
            "--manifest",
            m.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", all(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("[capabilities]"), "{out}");
    assert!(out.contains("listen = [\"tcp/8080\", \"tcp/8443\"]"), "{out}");
    assert!(out.contains("write = [\"/var/lib/web\"]"), "{out}");
    assert!(!out.contains("(allow"), "never raw rules: {out}");
    // Another domain's denial (a getty's) is not the package's capability.
    assert!(!out.contains("CHECKPOINT_RESTORE"), "{out}");
    assert!(
        out.contains("# 1 denial(s) of other domains than ct_web_t not read"),
        "{out}"
    );
}

/// A private policy root: a copy of the host's store and configuration, so
/// the host policy is never touched (semodule -p ROOT -n).
fn private_root(d: &Path) -> PathBuf {
    assert!(
        Path::new("/var/lib/selinux/default").exists(),
        "selinux-policy-default is not installed: run scripts/install-deps"
    );
    let root = d.join("root");
    for (from, to) in [
        ("/var/lib/selinux/default", "var/lib/selinux"),
        ("/etc/selinux/default", "etc/selinux"),
    ] {
        fs::create_dir_all(root.join(to)).unwrap();
        let ok = Command::new("cp")
            .args(["-a", from])
            .arg(root.join(to))
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let _ = fs::copy("/etc/selinux/semanage.conf", root.join("etc/selinux/semanage.conf"));
    root
}

/// The modules installed in the private root.
fn modules(root: &Path) -> Vec<String> {
    let o = Command::new("semodule")
        .arg("-p")
        .arg(root)
        .args(["-s", "default", "-l"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", all(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect::<Vec<_>>()
}

/// Writes `out`: the image and manifest of `d/b.ctp`, carrying `selinux`
/// instead of the generated module, signed by `k` (so it verifies: only the
/// install check stands between it and the host's policy).
fn repack(d: &Path, out: &str, selinux: &[(&str, &[u8])]) {
    let path = d.join("b.ctp");
    let image = SourceImage::open_bundle(&path).unwrap();
    let bundle = read_bundle_file(&fs::File::open(&path).unwrap(), &mut NoExtract).unwrap();
    let key = Home::new(d).load_signing_key("k", None).unwrap();
    let selinux: Vec<(String, Vec<u8>)> = selinux.iter().map(|(p, t)| ((*p).to_owned(), t.to_vec())).collect();
    // Read and write: the writer re-reads what it wrote to hash it.
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(d.join(out))
        .unwrap();
    PackRequest {
        image: &image,
        manifest: &bundle.manifest,
        keys: &[key],
        mtime: 1,
        selinux: &selinux,
        extra: &[],
        diff_ids: &cerro_core::pack::LayerDiffIds::of_uncompressed(&image).unwrap(),
    }
    .write_file(&mut f)
    .unwrap();
    let v = ct(d, &["verify", d.join(out).to_str().unwrap()]);
    assert!(v.status.success(), "{out} verifies: {}", all(&v));
}

#[test]
fn install_refuses_any_module_but_the_one_regenerated_from_the_signed_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &str| d.join(p).display().to_string();
    let root = private_root(d);
    fs::write(
        d.join("m.toml"),
        "[package]\nname = \"svc\"\nversion = \"1\"\n[capabilities]\nwrite = [\"/var/lib/svc\"]\n",
    )
    .unwrap();
    pack_with_manifest(d, "svc");
    let honest = ct(d, &["selinux", "generate", &s("m.toml"), "-o", "-"]).stdout;
    let before = modules(&root);

    // A hand-written module replacing the distribution's base module.
    repack(d, "base.ctp", &[("selinux/base.cil", b"(typepermissive init_t)\n")]);
    // The generated module with one rule added (and a terminal escape).
    let mut modified = honest.clone();
    modified.extend_from_slice(b"(typepermissive init_t) ; \x1b]0;owned\x07\n");
    repack(d, "modified.ctp", &[("selinux/ct_svc.cil", &modified)]);
    // The honest module plus a second one.
    repack(
        d,
        "two.ctp",
        &[
            ("selinux/ct_svc.cil", &honest),
            ("selinux/sshd.cil", b"(typepermissive init_t)\n"),
        ],
    );
    for (bundle, says) in [
        (
            "modified.ctp",
            "selinux/ct_svc.cil differs from the module regenerated from the signed [capabilities]",
        ),
        ("two.ctp", "selinux/sshd.cil"),
        (
            "base.ctp",
            "selinux/base.cil is not named after its package svc: only selinux/ct_svc.cil is installed",
        ),
    ] {
        let o = ct(d, &["selinux", "install", &s(bundle), "--store-root", &s("root")]);
        let out = all(&o);
        assert_eq!(o.status.code(), Some(10), "{bundle}: {out}");
        assert!(out.contains(says), "{bundle}: {out}");
        assert!(out.contains("nothing was installed"), "{bundle}: {out}");
        assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{bundle}: {out:?}");
        assert_eq!(modules(&root), before, "{bundle}: nothing installed");
    }
    // What differed is named, escaped.
    let o = all(&ct(
        d,
        &["selinux", "install", &s("modified.ctp"), "--store-root", &s("root")],
    ));
    assert!(
        o.contains("is \"(typepermissive init_t) ; \\x1b]0;owned\\x07\", regenerated (end of module)"),
        "{o}"
    );
}

#[test]
fn install_loads_only_a_verified_module_into_a_private_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &str| d.join(p).display().to_string();
    let root = private_root(d);

    fs::write(
        d.join("m.toml"),
        "[package]\nname = \"svc\"\nversion = \"1\"\n[capabilities]\nwrite = [\"/var/lib/svc\"]\n",
    )
    .unwrap();
    pack_with_manifest(d, "svc");

    // A tampered bundle installs nothing.
    let mut bytes = fs::read(d.join("b.ctp")).unwrap();
    let at = bytes.windows(8).position(|w| w == b"(allow c").unwrap() + 1;
    bytes[at] = b'A';
    fs::write(d.join("t.ctp"), &bytes).unwrap();
    let t = ct(d, &["selinux", "install", &s("t.ctp"), "--store-root", &s("root")]);
    assert_eq!(t.status.code(), Some(1), "{}", all(&t));
    assert!(!modules(&root).iter().any(|m| m == "ct_svc"));

    // The honest bundle installs its one module, under the package's name.
    let i = ct(d, &["selinux", "install", &s("b.ctp"), "--store-root", &s("root")]);
    assert!(i.status.success(), "{}", all(&i));
    assert!(all(&i).contains("installed SELinux module ct_svc from"), "{}", all(&i));
    assert!(modules(&root).iter().any(|m| m == "ct_svc"), "{:?}", modules(&root));
    // With the image store module, in the same transaction (the package
    // module does not compile without it); a private root's host is not
    // this one: no layer store is labelled.
    assert!(all(&i).contains("with cerro_store into"), "{}", all(&i));
    assert!(
        modules(&root).iter().any(|m| m == "cerro_store"),
        "{:?}",
        modules(&root)
    );
    assert!(!all(&i).contains("layer store"), "{}", all(&i));
}

/// Debian's refpolicy module store as plain CIL, extracted once into
/// target/ (shared with selinux-gen/tests/refpolicy.rs).
fn refpolicy_cil() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let dir = target.join("fixtures/refpolicy-cil");
    if dir.join(".complete").exists() {
        return dir;
    }
    let store = Path::new("/var/lib/selinux/default/active/modules");
    assert!(
        store.exists(),
        "selinux-policy-default is not installed: run scripts/install-deps"
    );
    // Extract beside it, then rename: a concurrent test never sees half a policy.
    // (target/fixtures may not exist yet on a fresh machine: the rename needs it.)
    fs::create_dir_all(dir.parent().unwrap()).unwrap();
    let tmp = tempfile::tempdir_in(&target).unwrap();
    for prio in fs::read_dir(store).unwrap().flatten() {
        let Ok(mods) = fs::read_dir(prio.path()) else {
            continue;
        };
        for m in mods.flatten() {
            let cil = m.path().join("cil");
            if !cil.exists() {
                continue; // disabled module
            }
            let out = Command::new("bunzip2").arg("-c").arg(&cil).output().unwrap();
            assert!(out.status.success());
            fs::write(
                tmp.path().join(format!("{}.cil", m.file_name().to_string_lossy())),
                out.stdout,
            )
            .unwrap();
        }
    }
    fs::write(tmp.path().join(".complete"), "").unwrap();
    let _ = fs::rename(tmp.keep(), &dir);
    assert!(dir.join(".complete").exists());
    dir
}

#[test]
fn install_regenerates_declared_ports_against_the_hosts_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &str| d.join(p).display().to_string();
    let root = private_root(d);
    let policy = refpolicy_cil();
    let policy = policy.to_str().unwrap();
    fs::write(
        d.join("m.toml"),
        "[package]\nname = \"web.app\"\nversion = \"1\"\n[capabilities]\nlisten = [\"tcp/8080\"]\n",
    )
    .unwrap();
    // Packed against Debian's refpolicy: tcp/8080 is http_cache_port_t.
    assert!(ct(d, &["keygen", "--id", "k"]).status.success());
    let mut lb = LayoutBuilder::new(&d.join("img")).unwrap();
    lb.layer_tar(&[("web", 0o755, b"#!/bin/sh\n")]).unwrap();
    lb.finish(basic_config(&["/web"]), Some("1")).unwrap();
    let p = ct(
        d,
        &[
            "pack",
            &format!("oci:{}:1", s("img")),
            "-o",
            &s("b.ctp"),
            "--key",
            "k",
            "--manifest",
            &s("m.toml"),
            "--selinux-policy",
            policy,
        ],
    );
    assert!(p.status.success(), "{}", all(&p));
    let install = |extra: &[&str]| {
        let mut args = vec!["selinux", "install", &s("b.ctp"), "--store-root", &s("root")]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        ct(d, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let before = modules(&root);

    // Without the host's policy the module cannot be regenerated.
    let o = install(&[]);
    assert_eq!(o.status.code(), Some(78), "{}", all(&o));
    assert!(all(&o).contains("--selinux-policy DIR"), "{}", all(&o));
    // Against a policy that labels 8080 otherwise, it is not this host's module.
    fs::create_dir(d.join("other")).unwrap();
    fs::write(
        d.join("other/ports.cil"),
        "(portcon tcp 8080 (system_u object_r http_port_t ((s0) (s0))))\n",
    )
    .unwrap();
    let o = install(&["--selinux-policy", &s("other")]);
    assert_eq!(o.status.code(), Some(10), "{}", all(&o));
    assert!(
        all(&o).contains("selinux/ct_web__d_app.cil differs") && all(&o).contains("http_port_t"),
        "{}",
        all(&o)
    );
    assert_eq!(modules(&root), before);

    // Against the host's policy: installed, under the package's own name.
    let o = install(&["--selinux-policy", policy]);
    assert!(o.status.success(), "{}", all(&o));
    assert!(
        modules(&root).iter().any(|m| m == "ct_web__d_app"),
        "{:?}",
        modules(&root)
    );
}
