//! The SELinux labels podman chose for the container, from the OCI config
//! in the bundle the hook is given (`<bundle>/config.json`).
//!
//! A prestart hook runs after runc has read that config, so it cannot
//! change them: the decision only checks that they are the bundle's domain
//! (podman sets them from `--security-opt label=type:…` and
//! `label=filetype:…`), and refuses otherwise.

use std::path::Path;

use cerro_enforce::GivenLabels;
use serde::Deserialize;

use crate::HookError;

/// Largest OCI config read.
pub const MAX_CONFIG: u64 = 4 << 20;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Process {
    #[serde(default)]
    selinux_label: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Linux {
    #[serde(default)]
    mount_label: Option<String>,
}

#[derive(Deserialize)]
struct Spec {
    #[serde(default)]
    process: Option<Process>,
    #[serde(default)]
    linux: Option<Linux>,
}

/// `process.selinuxLabel` and `linux.mountLabel` of `<bundle>/config.json`
/// (read up to [`MAX_CONFIG`] bytes, measured while reading).
pub fn given_labels(bundle: &Path) -> Result<GivenLabels, HookError> {
    let path = bundle.join("config.json");
    let bytes = cerro_core::file::read_bounded(&path, MAX_CONFIG, &path.display().to_string())
        .map_err(|e| HookError::ContainerConfig(e.to_string()))?;
    parse_labels(&bytes).map_err(|e| HookError::ContainerConfig(format!("{}: {e}", path.display())))
}

/// The labels of an OCI config document (empty strings count as absent,
/// as runc treats them).
pub fn parse_labels(bytes: &[u8]) -> Result<GivenLabels, serde_json::Error> {
    let spec: Spec = serde_json::from_slice(bytes)?;
    let set = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(GivenLabels {
        process: set(spec.process.unwrap_or_default().selinux_label),
        mount: set(spec.linux.unwrap_or_default().mount_label),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;

    #[test]
    fn reads_podman_labels_and_their_absence() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(
            &config,
            r#"{"ociVersion":"1.0.2","process":{"args":["sh"],"selinuxLabel":"system_u:system_r:ct_hello_t:s0:c1,c2"},
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
            r#"{"ociVersion":"1.0.2","process":{"selinuxLabel":""},"linux":{}}"#,
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
}
