//! The SELinux labels podman chose for the container, from the OCI config
//! in the bundle the hook is given (`<bundle>/config.json`).
//!
//! A prestart hook runs after runc has read that config, so it cannot
//! change them: the decision only checks that they are the bundle's domain
//! (podman sets them from `--security-opt label=type:…` and
//! `label=filetype:…`), and refuses otherwise.

use std::io::Read;
use std::path::Path;

use cerro_enforce::GivenLabels;
use serde::Deserialize;

/// Largest OCI config read.
const MAX_CONFIG: u64 = 4 << 20;

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
/// (empty strings count as absent, as runc treats them).
pub fn given_labels(bundle: &Path) -> Result<GivenLabels, String> {
    let path = bundle.join("config.json");
    let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_CONFIG + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_CONFIG {
        return Err(format!("{}: larger than {MAX_CONFIG} bytes", path.display()));
    }
    let spec: Spec = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let set = |v: Option<String>| v.filter(|s| !s.is_empty());
    Ok(GivenLabels {
        process: set(spec.process.unwrap_or_default().selinux_label),
        mount: set(spec.linux.unwrap_or_default().mount_label),
    })
}

#[cfg(test)]
mod tests {
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
        assert!(given_labels(dir.path()).unwrap_err().contains("config.json"));
        assert!(given_labels(&dir.path().join("missing")).is_err());
    }
}
