//! Generated modules against Debian's reference policy, judged by the real
//! tools: secilc compiles each with the whole policy (so every neverallow of
//! the policy and of the module is checked), and sesearch queries the
//! compiled policy for both sides of each declaration.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use cerro_core::manifest::PackageManifest;
use cerro_selinux::{generate, HostPolicy};

/// Debian's refpolicy module store as plain CIL, extracted once into target/.
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
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for prio in std::fs::read_dir(store).unwrap().flatten() {
        let Ok(mods) = std::fs::read_dir(prio.path()) else {
            continue;
        };
        for m in mods.flatten() {
            let cil = m.path().join("cil");
            if !cil.exists() {
                continue; // disabled module
            }
            let out = Command::new("bunzip2")
                .arg("-c")
                .arg(&cil)
                .output()
                .expect("bunzip2 (bzip2) is installed");
            assert!(out.status.success());
            std::fs::write(dir.join(format!("{}.cil", m.file_name().to_string_lossy())), out.stdout).unwrap();
        }
    }
    std::fs::write(dir.join(".complete"), "").unwrap();
    dir
}

fn manifest(name: &str, caps: &str) -> PackageManifest {
    let d = format!("sha256:{}", "0".repeat(64));
    PackageManifest::parse(&format!(
        "[package]\nname = \"{name}\"\nversion = \"1\"\n\n{caps}\n[image]\ndigest = \"{d}\"\n"
    ))
    .unwrap()
}

/// Compiles the policy plus the image store module (installed with every
/// package module) plus `modules`; returns the binary policy path or
/// secilc's complaint.
fn compile(work: &Path, modules: &[(&str, &str)]) -> Result<PathBuf, String> {
    let store = cerro_selinux::image_store::module().unwrap();
    let mut all = vec![(store.name.as_str(), store.cil.as_str())];
    all.extend_from_slice(modules);
    compile_only(work, &all)
}

/// Compiles the policy plus exactly `modules`.
fn compile_only(work: &Path, modules: &[(&str, &str)]) -> Result<PathBuf, String> {
    let cil = refpolicy_cil();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&cil)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cil"))
        .collect();
    files.sort();
    for (name, text) in modules {
        let p = work.join(format!("{name}.cil"));
        std::fs::write(&p, text).unwrap();
        files.push(p);
    }
    let out = work.join("policy.bin");
    let r = Command::new("secilc")
        .arg("-o")
        .arg(&out)
        .arg("-f")
        .arg("/dev/null")
        .args(&files)
        .output()
        .expect("secilc is installed by scripts/install-deps");
    if r.status.success() {
        Ok(out)
    } else {
        Err(String::from_utf8_lossy(&r.stderr).into_owned())
    }
}

/// `sesearch -A` rules matching the arguments.
fn rules(policy: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new("sesearch")
        .arg("-A")
        .args(args)
        .arg(policy)
        .output()
        .expect("sesearch (setools)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| l.starts_with("allow"))
        .collect()
}

#[test]
fn three_services_compile_and_allow_exactly_what_they_declare() {
    let work = tempfile::tempdir().unwrap();
    let host = HostPolicy::load(&refpolicy_cil()).unwrap();
    let web = generate(
        &manifest("web", "[capabilities]\nlisten = [\"tcp/8080\"]\n"),
        Some(&host),
    )
    .unwrap();
    let batch = generate(&manifest("batch", ""), Some(&host)).unwrap();
    let svc = generate(
        &manifest(
            "svc",
            "[capabilities]\nwrite = [\"/var/lib/app\"]\nconnect = [\"tcp/5432\"]\nlinux = [\"NET_BIND_SERVICE\"]\n",
        ),
        Some(&host),
    )
    .unwrap();
    let jit = generate(
        &manifest("jit", "[capabilities]\nexec_memory = true\ndevices = [\"/dev/fuse\"]\n"),
        Some(&host),
    )
    .unwrap();
    let policy = compile(
        work.path(),
        &[
            (&web.name, &web.cil),
            (&batch.name, &batch.cil),
            (&svc.name, &svc.cil),
            (&jit.name, &jit.cil),
        ],
    )
    .unwrap_or_else(|e| panic!("secilc refused the generated modules:\n{e}\n{}\n{}", web.cil, svc.cil));

    // The web server may bind tcp/8080 (http_cache_port_t in refpolicy) and nothing else.
    let bind = rules(&policy, &["-s", "ct_web_t", "-c", "tcp_socket", "-p", "name_bind"]);
    assert_eq!(bind, ["allow ct_web_t http_cache_port_t:tcp_socket name_bind;"]);
    assert!(rules(
        &policy,
        &["-s", "ct_web_t", "-t", "postgresql_port_t", "-c", "tcp_socket"]
    )
    .is_empty());
    assert!(rules(&policy, &["-s", "ct_web_t", "-c", "tcp_socket", "-p", "name_connect"]).is_empty());

    // Each container runs its own image's binaries and the shared image
    // store's layers (which Debian's 6.1 checks on mmap), in its own domain,
    // and nothing of the host's.
    for (d, content) in [("ct_web_t", "ct_web_file_t"), ("ct_batch_t", "ct_batch_file_t")] {
        assert_eq!(
            rules(&policy, &["-s", d, "-c", "file", "-p", "execute_no_trans"]),
            [
                "allow cerro_container_domain cerro_image_t:file { entrypoint execute execute_no_trans getattr map open read };".to_owned(),
                format!("allow {d} {content}:file {{ entrypoint execute execute_no_trans getattr map open read }};"),
            ]
        );
        // Layers are read, never written, by a container.
        assert!(
            rules(&policy, &["-s", d, "-t", "cerro_image_t", "-p", "write"]).is_empty(),
            "{d}"
        );
        assert!(
            rules(&policy, &["-s", d, "-t", "cerro_image_t", "-p", "create"]).is_empty(),
            "{d}"
        );
    }
    // The runtimes manage the layers they unpack.
    assert!(!rules(
        &policy,
        &["-s", "initrc_t", "-t", "cerro_image_t", "-c", "file", "-p", "create"]
    )
    .is_empty());

    // The batch worker has no network at all.
    for class in ["tcp_socket", "udp_socket"] {
        assert!(
            rules(&policy, &["-s", "ct_batch_t", "-c", class])
                .iter()
                .all(|r| !r.contains("self")),
            "{class}"
        );
        assert!(rules(&policy, &["-s", "ct_batch_t", "-c", class, "-p", "name_bind"]).is_empty());
    }

    // The service writes its volume, not /etc; connects to postgres only.
    assert!(!rules(
        &policy,
        &["-s", "ct_svc_t", "-t", "ct_svc_rw_t", "-c", "file", "-p", "write"]
    )
    .is_empty());
    assert!(rules(&policy, &["-s", "ct_svc_t", "-t", "etc_t", "-c", "file", "-p", "write"]).is_empty());
    assert_eq!(
        rules(&policy, &["-s", "ct_svc_t", "-c", "tcp_socket", "-p", "name_connect"]),
        ["allow ct_svc_t postgresql_port_t:tcp_socket name_connect;"]
    );
    assert_eq!(
        rules(&policy, &["-s", "ct_svc_t", "-t", "ct_svc_t", "-c", "capability"]),
        ["allow ct_svc_t ct_svc_t:capability net_bind_service;"]
    );

    // No executable memory unless declared.
    for t in ["ct_web_t", "ct_batch_t", "ct_svc_t"] {
        assert!(
            rules(&policy, &["-s", t, "-c", "process", "-p", "execmem"]).is_empty(),
            "{t}"
        );
    }
    assert!(!rules(&policy, &["-s", "ct_jit_t", "-c", "process", "-p", "execmem"]).is_empty());
    assert!(!rules(
        &policy,
        &["-s", "ct_jit_t", "-t", "fuse_device_t", "-c", "chr_file", "-p", "open"]
    )
    .is_empty());

    // The runtime hands over to the container's domain, also under
    // no_new_privs, from the runtime domains this policy has (Debian's has
    // no container module: that optional block is left out, and the rest
    // still compiles); the container gets nothing back on the runtime but
    // its descriptors, pipes and the exit signal.
    for runtime in ["initrc_t", "unconfined_t"] {
        assert_eq!(
            rules(
                &policy,
                &["-s", runtime, "-t", "ct_web_t", "-c", "process", "-p", "transition"]
            )
            .len(),
            1,
            "{runtime}"
        );
        assert_eq!(
            rules(
                &policy,
                &[
                    "-s",
                    runtime,
                    "-t",
                    "ct_web_t",
                    "-c",
                    "process2",
                    "-p",
                    "nnp_transition"
                ]
            )
            .len(),
            1,
            "{runtime}"
        );
        assert!(!rules(
            &policy,
            &["-s", runtime, "-t", "ct_web_file_t", "-c", "file", "-p", "execute"]
        )
        .is_empty());
        let back: Vec<String> = rules(&policy, &["-s", "ct_web_t", "-t", runtime])
            .into_iter()
            // Rules of this module (the policy's own rules for every `domain` aside).
            .filter(|r| r.starts_with("allow ct_web_t "))
            .filter(|r| !r.contains(":fd use") && !r.contains(":fifo_file") && !r.contains(":process sigchld"))
            .collect();
        assert!(
            back.is_empty(),
            "ct_web_t gets more than its hand-over on {runtime}: {back:?}"
        );
    }
    assert!(rules(&policy, &["-s", "ct_web_t", "-c", "process", "-p", "transition"]).is_empty());
    assert!(web.cil.contains("(optional ct_web_from_container_runtime"));

    // No module grants anything on another container's types.
    for (name, text) in [
        (&web.name, &web.cil),
        (&batch.name, &batch.cil),
        (&svc.name, &svc.cil),
        (&jit.name, &jit.cil),
    ] {
        for other in ["ct_web_", "ct_batch_", "ct_svc_", "ct_jit_"] {
            if !name.starts_with(other.trim_end_matches('_')) {
                assert!(!text.contains(other), "{name} mentions {other}");
            }
        }
    }
}

/// MCS keeps two containers of one package apart only for domains in
/// `mcs_constrained_type`: refpolicy's MCS constraints end in
/// `(neq t1 mcs_constrained_type)`, exempting every other domain. Without the
/// attribute a container at s0:c1,c2 writes another's s0:c3,c4 file (seen in
/// the enforcing VM, integration/tests/selinux_vm.rs).
#[test]
fn every_container_domain_is_subject_to_the_mcs_constraints() {
    let work = tempfile::tempdir().unwrap();
    let host = HostPolicy::load(&refpolicy_cil()).unwrap();
    let web = generate(
        &manifest(
            "web",
            "[capabilities]\nlisten = [\"tcp/8080\"]\nwrite = [\"/var/lib/web\"]\n",
        ),
        Some(&host),
    )
    .unwrap();
    let batch = generate(&manifest("batch", ""), Some(&host)).unwrap();
    let policy = compile(work.path(), &[(&web.name, &web.cil), (&batch.name, &batch.cil)]).unwrap();
    let out = Command::new("seinfo")
        .args(["-a", "mcs_constrained_type", "-x"])
        .arg(&policy)
        .output()
        .expect("seinfo (setools)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let members: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .collect();
    for domain in ["ct_web_t", "ct_batch_t"] {
        assert!(members.iter().any(|m| m == domain), "{domain} not in {members:?}");
    }
    // Only the domains: the file types stay unconstrained objects.
    for ty in ["ct_web_file_t", "ct_web_rw_t", "ct_batch_file_t"] {
        assert!(!members.iter().any(|m| m == ty), "{ty} in {members:?}");
    }
}

#[test]
fn the_neverallow_holds_against_a_tampered_module() {
    let work = tempfile::tempdir().unwrap();
    let web = generate(&manifest("web", ""), None).unwrap();
    let tampered = format!("{}(allow ct_web_t self (process (execmem)))\n", web.cil);
    let err = compile(work.path(), &[(&web.name, &tampered)]).unwrap_err();
    assert!(err.to_lowercase().contains("neverallow"), "{err}");
}

#[test]
fn generation_is_deterministic_and_needs_the_policy_only_for_ports_and_devices() {
    let m = manifest(
        "web",
        "[capabilities]\nread = [\"/etc/app\", \"/etc/app\"]\nlinux = [\"CHOWN\", \"BPF\"]\n",
    );
    let a = generate(&m, None).unwrap();
    assert_eq!(a, generate(&m, None).unwrap());
    assert_eq!(a.member_path(), "selinux/ct_web.cil");
    assert!(a.cil.contains("(filecon \"/etc/app(/.*)?\" any"));
    assert!(a.cil.contains("(allow ct_web_t self (capability2 (bpf)))"));
    assert_eq!(a.cil.matches("/etc/app").count(), 1, "duplicates are merged");
    let ports = manifest("web", "[capabilities]\nlisten = [\"tcp/8080\"]\n");
    assert!(generate(&ports, None).unwrap_err().to_string().contains("port labels"));
}

/// A package module does not load without the image store module: its
/// programs would be refused at their first mprotect on a 6.1 kernel, so it
/// must not compile alone (`ct selinux install` installs both together).
#[test]
fn a_package_module_needs_the_image_store_module() {
    let work = tempfile::tempdir().unwrap();
    let web = generate(&manifest("web", ""), None).unwrap();
    let err = compile_only(work.path(), &[(&web.name, &web.cil)]).unwrap_err();
    assert!(err.contains("Failed to resolve typeattributeset"), "{err}");
    let store = cerro_selinux::image_store::module().unwrap();
    compile_only(work.path(), &[(&store.name, &store.cil), (&web.name, &web.cil)]).unwrap();
}
