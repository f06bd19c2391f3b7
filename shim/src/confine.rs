//! Applying the decision's confinement to a task, before the runtime sees
//! it. For a bundle's SELinux domain ([`Confinement::Domain`]):
//!
//! - `config.json` gets `process.selinuxLabel` (the domain: `cerro-runtime`
//!   writes it to the init's `attr/exec` before the exec, and fails the
//!   container if the kernel refuses it), and its `tmpfs` and `devpts`
//!   mounts (`/dev`, `/dev/shm`, `/run`, `/dev/pts`) get `context="<mount
//!   label>"`, as runc labels them. Not `linux.mountLabel`: libcontainer
//!   0.7 adds that to every mount but proc and sysfs, and the kernel
//!   refuses a `context=` on `mqueue` (its superblock is the IPC
//!   namespace's, made before the mount: "Same superblock, different
//!   security settings"), so no confined container started (seen in the
//!   enforcing VM, integration/tests/selinux_vm.rs); a `mountLabel` already
//!   there (CRI's `seLinuxOptions`) is removed for the same reason. A
//!   `selinuxLabel` already there is replaced: the signed bundle's domain is
//!   the container's confinement.
//! - the root file system's mounts get `context="<mount label>"`, so the
//!   container's files carry the content type its domain may execute. Bind
//!   mounts take no such option (the kernel ignores data on a bind): a
//!   bind-mounted root keeps its labels, and on an enforcing host its
//!   entrypoint will not run in the domain (the exec fails: fail closed).
//!
//! [`Confinement::Unconfined`] changes nothing.
//!
//! A process exec'd into a confined container runs in the same domain
//! ([`pin_exec_label`]): containerd copies the container's
//! `process.selinuxLabel` into the exec spec, and the shim fills it in when
//! a client left it out and refuses another one, so an exec cannot step
//! out of the domain the decision gave the container.

use std::path::Path;

use cerro_enforce::Confinement;

use crate::backend::Mount;
use crate::error::ShimError;

/// Sets the OCI config's SELinux labels in `bundle` from the admission,
/// reading `config.json` first ([`label_config_from`] with what it read).
#[cfg(test)]
pub fn label_config(bundle: &Path, admission: &cerro_enforce::Admission) -> Result<(), ShimError> {
    if !matches!(admission.confinement(), Confinement::Domain { .. }) {
        return Ok(());
    }
    label_config_from(bundle, crate::settings::read_config(bundle)?.bytes(), admission)
}

/// Writes `bundle/config.json` as `config` (the bytes the decision was
/// taken on, read once by the one reader, `cerro_enforce::RuntimeConfig`,
/// through `settings::read_config`) with the SELinux labels of the
/// admission's domain; an unconfined admission leaves the file as it is.
/// So the runtime gets the document that was decided on, not one read
/// again later.
///
/// The labels are written by editing those bytes as a `serde_json::Value`,
/// not by re-serialising the parsed `oci_spec::runtime::Spec`: a rewrite
/// must keep every other field as the manager wrote it (fields `oci_spec`
/// does not model, or models with defaults it would then write out), and
/// the one reader has already refused a document that is not a runtime
/// config before any label is written.
pub fn label_config_from(bundle: &Path, config: &[u8], admission: &cerro_enforce::Admission) -> Result<(), ShimError> {
    let c = admission.confinement();
    let Confinement::Domain {
        process_label,
        mount_label,
        ..
    } = c
    else {
        return Ok(());
    };
    let path = bundle.join("config.json");
    // The whole document is edited as JSON, not through `oci_spec`'s types:
    // a rewrite must keep every field the runtime reads, byte for byte
    // apart from the two labels.
    let mut spec: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| ShimError::InvalidArgument(format!("{}: {e}", path.display())))?;
    let object = |v: &mut serde_json::Value, key: &str| -> Result<(), ShimError> {
        let root = v
            .as_object_mut()
            .ok_or_else(|| ShimError::InvalidArgument(format!("{}: not a JSON object", path.display())))?;
        let entry = root
            .entry(key)
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if !entry.is_object() {
            return Err(ShimError::InvalidArgument(format!(
                "{}: {key} is not an object",
                path.display()
            )));
        }
        Ok(())
    };
    object(&mut spec, "process")?;
    object(&mut spec, "linux")?;
    spec["process"]["selinuxLabel"] = process_label.clone().into();
    if let Some(linux) = spec["linux"].as_object_mut() {
        linux.remove("mountLabel");
    }
    if let Some(mounts) = spec.get_mut("mounts").and_then(serde_json::Value::as_array_mut) {
        for m in mounts {
            label_mount(m, mount_label).map_err(|e| ShimError::InvalidArgument(format!("{}: {e}", path.display())))?;
        }
    }
    let out = serde_json::to_vec(&spec).map_err(|e| ShimError::InvalidArgument(e.to_string()))?;
    cerro_core::file::write_atomic(&path, &out, 0o644)
        .map_err(|e| ShimError::io("writing the OCI spec", &path, std::io::Error::other(e.to_string())))
}

/// Adds `context=<label>` to OCI mount `m` (JSON) when it is a `tmpfs` or
/// `devpts` mount, replacing any `context=` it has; other types, and bind
/// mounts, are left as they are (runc's rule: proc, sysfs, cgroup and
/// mqueue take no context, a bind ignores one). Unquoted: libcontainer 0.7
/// mounts these with `fsopen`/`fsconfig`, one key and value per option,
/// and the kernel takes a quoted value as a context with quotes in it
/// (`EINVAL`; only `mount(2)`'s option string strips them). The shim's level
/// is `s0`, so the label has no comma.
fn label_mount(m: &mut serde_json::Value, label: &str) -> Result<(), String> {
    let Some(m) = m.as_object_mut() else {
        return Err("a mount is not a JSON object".into());
    };
    if !matches!(m.get("type").and_then(|t| t.as_str()), Some("tmpfs" | "devpts")) {
        return Ok(());
    }
    let options = m
        .entry("options")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or("a mount's options are not an array")?;
    if options.iter().any(|o| matches!(o.as_str(), Some("bind" | "rbind"))) {
        return Ok(());
    }
    options.retain(|o| !o.as_str().is_some_and(|o| o.starts_with("context=")));
    options.push(format!("context={label}").into());
    Ok(())
}

/// The root file system's mounts with `c`'s mount label as their
/// `context=` option (replacing any), except bind mounts.
pub fn label_rootfs(mounts: &[Mount], c: &Confinement) -> Vec<Mount> {
    let Confinement::Domain { mount_label, .. } = c else {
        return mounts.to_vec();
    };
    mounts
        .iter()
        .map(|m| {
            let bind = m.fs_type == "bind" || m.options.iter().any(|o| o == "bind" || o == "rbind");
            if bind {
                return m.clone();
            }
            let mut options: Vec<String> = m
                .options
                .iter()
                .filter(|o| !o.starts_with("context="))
                .cloned()
                .collect();
            options.push(format!("context=\"{mount_label}\""));
            Mount { options, ..m.clone() }
        })
        .collect()
}

/// The exec process spec `spec` (JSON) running in `process_label`, the
/// domain of a confined container (`None`: unconfined, the spec is left
/// as it is): a missing or empty `selinuxLabel` is set to it, another
/// label is refused.
pub fn pin_exec_label(spec: &[u8], process_label: Option<&str>, what: &str) -> Result<Vec<u8>, ShimError> {
    let Some(label) = process_label else {
        return Ok(spec.to_vec());
    };
    let mut v: serde_json::Value = serde_json::from_slice(spec)
        .map_err(|e| ShimError::InvalidArgument(format!("exec process spec: not JSON: {e}")))?;
    let process = v
        .as_object_mut()
        .ok_or_else(|| ShimError::InvalidArgument("exec process spec: not a JSON object".into()))?;
    match process.get("selinuxLabel").and_then(|l| l.as_str()) {
        Some(l) if l == label => return Ok(spec.to_vec()),
        Some(l) if !l.is_empty() => {
            return Err(ShimError::InvalidArgument(format!(
                "{what} asks for SELinux label {l}, not its container's {label}: refused"
            )))
        }
        _ => {}
    }
    process.insert("selinuxLabel".into(), label.into());
    serde_json::to_vec(&v).map_err(|e| ShimError::InvalidArgument(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_runs_in_its_containers_domain_or_not_at_all() {
        const L: &str = "system_u:system_r:ct_hello_t:s0";
        let pinned = |spec: &str| -> serde_json::Value {
            serde_json::from_slice(&pin_exec_label(spec.as_bytes(), Some(L), "exec e1").unwrap()).unwrap()
        };
        assert_eq!(pinned(r#"{"args":["sh"]}"#)["selinuxLabel"], L);
        assert_eq!(pinned(r#"{"args":["sh"],"selinuxLabel":""}"#)["selinuxLabel"], L);
        assert_eq!(
            pinned(&format!(r#"{{"args":["sh"],"selinuxLabel":"{L}"}}"#))["args"][0],
            "sh"
        );
        let e = pin_exec_label(
            br#"{"args":["sh"],"selinuxLabel":"system_u:system_r:unconfined_t:s0"}"#,
            Some(L),
            "exec e1 in container c1",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "invalid request: exec e1 in container c1 asks for SELinux label \
                 system_u:system_r:unconfined_t:s0, not its container's {L}: refused"
            )
        );
        // Unconfined: left as it is, byte for byte.
        let spec = br#"{"args":["sh"],"selinuxLabel":"x"}"#;
        assert_eq!(pin_exec_label(spec, None, "exec e1").unwrap(), spec);
    }

    fn domain() -> Confinement {
        Confinement::Domain {
            module: "ct_hello".into(),
            domain: "ct_hello_t".into(),
            process_label: "system_u:system_r:ct_hello_t:s0".into(),
            mount_label: "system_u:object_r:ct_hello_file_t:s0".into(),
            mode: None,
        }
    }

    fn unconfined() -> Confinement {
        Confinement::Unconfined {
            reason: "SELinux is not enabled in this kernel".into(),
        }
    }

    #[test]
    fn a_domain_sets_both_labels_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["/bin/sh"],
                "selinuxLabel":"system_u:system_r:spc_t:s0"},
                "linux":{"namespaces":[{"type":"pid"}]},"annotations":{"a":"b"}}"#,
        )
        .unwrap();
        label_config(dir.path(), &cerro_enforce::Admission::for_tests(domain())).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        assert_eq!(v["process"]["selinuxLabel"], "system_u:system_r:ct_hello_t:s0");
        assert!(v["linux"].get("mountLabel").is_none(), "{v}");
        assert_eq!(v["process"]["args"][0], "/bin/sh");
        assert_eq!(v["linux"]["namespaces"][0]["type"], "pid");
        assert_eq!(v["annotations"]["a"], "b");
        // A spec without process or linux sections gets them.
        std::fs::write(&config, r#"{"ociVersion":"1.0.2"}"#).unwrap();
        label_config(dir.path(), &cerro_enforce::Admission::for_tests(domain())).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        assert_eq!(v["process"]["selinuxLabel"], "system_u:system_r:ct_hello_t:s0");
        // Malformed sections are refused, not overwritten.
        std::fs::write(&config, r#"{"ociVersion":"1.0.2","process":7}"#).unwrap();
        assert!(label_config(dir.path(), &cerro_enforce::Admission::for_tests(domain())).is_err());
    }

    /// The mounts that get a new superblock (tmpfs, devpts) carry the
    /// mount label; mqueue (the IPC namespace's superblock, which the kernel
    /// will not relabel), proc, sysfs and binds do not, and no
    /// `linux.mountLabel` is left for libcontainer to add to all of them.
    #[test]
    fn a_domain_labels_tmpfs_and_devpts_mounts_only() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["/bin/sh"]},
                "linux":{"mountLabel":"system_u:object_r:container_file_t:s0:c1,c2"},"mounts":[
                {"destination":"/proc","type":"proc","source":"proc","options":["nosuid"]},
                {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]},
                {"destination":"/dev/pts","type":"devpts","source":"devpts",
                 "options":["newinstance","context=\"system_u:object_r:etc_t:s0\""]},
                {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nodev"]},
                {"destination":"/sys","type":"sysfs","source":"sysfs","options":["ro"]},
                {"destination":"/run","type":"tmpfs","source":"tmpfs"},
                {"destination":"/data","type":"bind","source":"/srv","options":["rbind","rw"]},
                {"destination":"/tmp","type":"tmpfs","source":"/t","options":["rbind"]}]}"#,
        )
        .unwrap();
        label_config(dir.path(), &cerro_enforce::Admission::for_tests(domain())).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        let label = "context=system_u:object_r:ct_hello_file_t:s0";
        let options: Vec<serde_json::Value> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["options"].clone())
            .collect();
        assert_eq!(
            options,
            [
                serde_json::json!(["nosuid"]),
                serde_json::json!(["nosuid", "mode=755", label]),
                serde_json::json!(["newinstance", label]),
                serde_json::json!(["nodev"]),
                serde_json::json!(["ro"]),
                serde_json::json!([label]),
                serde_json::json!(["rbind", "rw"]),
                serde_json::json!(["rbind"]),
            ]
        );
        assert!(v["linux"].get("mountLabel").is_none(), "{v}");
        // A mount that is not an object, or options that are not a list:
        // refused (by the one reader already, and by the rewrite).
        for bad in [r#"[7]"#, r#"[{"type":"tmpfs","options":"rw"}]"#] {
            std::fs::write(&config, format!(r#"{{"ociVersion":"1.0.2","mounts":{bad}}}"#)).unwrap();
            assert!(label_config(dir.path(), &cerro_enforce::Admission::for_tests(domain())).is_err());
        }
    }

    #[test]
    fn unconfined_leaves_the_spec_alone() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        let text = r#"{"ociVersion":"1.0.2","process":{"args":["/bin/sh"]}}"#;
        std::fs::write(&config, text).unwrap();
        label_config(dir.path(), &cerro_enforce::Admission::for_tests(unconfined())).unwrap();
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
    }

    #[test]
    fn the_root_file_system_gets_the_mount_label() {
        let overlay = Mount {
            fs_type: "overlay".into(),
            source: "overlay".into(),
            options: vec![
                "index=off".into(),
                "context=\"system_u:object_r:container_file_t:s0:c1,c2\"".into(),
                "lowerdir=/l".into(),
            ],
        };
        let bind = Mount {
            fs_type: "bind".into(),
            source: "/snap".into(),
            options: vec!["rbind".into(), "rw".into()],
        };
        let got = label_rootfs(&[overlay.clone(), bind.clone()], &domain());
        assert_eq!(
            got[0].options,
            [
                "index=off",
                "lowerdir=/l",
                "context=\"system_u:object_r:ct_hello_file_t:s0\""
            ]
        );
        assert_eq!(got[1], bind);
        assert_eq!(label_rootfs(std::slice::from_ref(&overlay), &unconfined()), [overlay]);
    }

    #[test]
    fn a_config_larger_than_the_bound_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        let big = format!(r#"{{"ociVersion":"1.0.2","hostname":"{}"}}"#, "a".repeat(4 << 20));
        std::fs::write(&config, &big).unwrap();
        let e = label_config(dir.path(), &cerro_enforce::Admission::for_tests(domain())).unwrap_err();
        assert!(matches!(e, ShimError::InvalidArgument(_)), "{e}");
        assert!(e.to_string().contains("larger than the 4194304-byte limit"), "{e}");
        assert_eq!(std::fs::read(&config).unwrap(), big.as_bytes());
    }
}
