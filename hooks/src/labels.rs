//! The SELinux labels podman chose for the container, from the OCI config
//! in the bundle the hook is given (`<bundle>/config.json`).
//!
//! A prestart hook runs after runc has read that config, so it cannot
//! change them: the decision only checks that they are the bundle's domain
//! (podman sets them from `--security-opt label=type:…` and
//! `label=filetype:…`), and refuses otherwise.

use std::path::Path;

use cerro_enforce::{GivenLabels, RuntimeConfig};

use crate::HookError;

/// `process.selinuxLabel` and `linux.mountLabel` of `<bundle>/config.json`,
/// read by the one reader of it (`cerro_enforce::RuntimeConfig::read`: at
/// most 4 MiB measured while reading, parsed as `oci_spec::runtime::Spec`;
/// empty labels count as absent, as runc treats them). Any failure is
/// [`HookError::ContainerConfig`], naming the file.
pub fn given_labels(bundle: &Path) -> Result<GivenLabels, HookError> {
    RuntimeConfig::read(bundle)
        .map(|c| c.labels)
        .map_err(|e| HookError::ContainerConfig(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;
    use cerro_enforce::runtime_spec::MAX_CONFIG;

    #[test]
    fn reads_podman_labels_and_their_absence() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],
                "selinuxLabel":"system_u:system_r:ct_hello_t:s0:c1,c2"},
                "linux":{"mountLabel":"system_u:object_r:ct_hello_file_t:s0:c1,c2","namespaces":[]}}"#,
        )
        .unwrap();
        assert_eq!(
            given_labels(dir.path()).unwrap(),
            GivenLabels {
                process: Some("system_u:system_r:ct_hello_t:s0:c1,c2".into()),
                mount: Some("system_u:object_r:ct_hello_file_t:s0:c1,c2".into()),
            }
        );
        // What podman writes without SELinux: no labels (or empty ones).
        std::fs::write(
            &config,
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","selinuxLabel":""},"linux":{}}"#,
        )
        .unwrap();
        assert_eq!(given_labels(dir.path()).unwrap(), GivenLabels::default());
        std::fs::write(&config, "{").unwrap();
        assert!(given_labels(dir.path())
            .unwrap_err()
            .to_string()
            .contains("config.json"));
        assert!(given_labels(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_config_larger_than_the_bound_is_refused_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("config.json")).unwrap();
        f.set_len(MAX_CONFIG + 1).unwrap();
        let e = given_labels(dir.path()).unwrap_err().to_string();
        assert!(e.contains("larger than the 4194304-byte limit"), "{e}");
    }

    /// The hook's own reader accepted a `process` without `user` and `cwd`
    /// (it read the two labels only); the one reader refuses it as the
    /// runtime-spec types do. The strict reading won: podman writes both
    /// (Go's runtime-spec fields without `omitempty`) and runc refuses a
    /// config without `cwd` before any hook runs, so no real container is
    /// refused by it, and a config that is not one is not admitted on.
    #[test]
    fn a_config_the_runtime_spec_types_refuse_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion":"1.0.2","process":{"args":["sh"],"selinuxLabel":"system_u:system_r:ct_hello_t:s0"}}"#,
        )
        .unwrap();
        let e = given_labels(dir.path()).unwrap_err();
        assert!(matches!(e, HookError::ContainerConfig(_)), "{e:?}");
        assert_eq!(e.exit_code().code(), 11);
        let msg = e.to_string();
        assert!(
            msg.starts_with("cannot read the container's OCI config: malformed ")
                && msg.contains("config.json")
                && msg.contains("missing field `user`"),
            "{msg}"
        );
    }
}
