//! The one reader of a container's OCI runtime config, `<bundle>/config.json`
//! (runtime-spec `config.md`), for every front end that decides at
//! container start: the shim reads it before its decision (annotations,
//! `root.path`, `linux.mountLabel`) and writes the decision's labels into
//! the very bytes read here; the podman hook checks the labels podman chose
//! (`process.selinuxLabel`, `linux.mountLabel`) against the bundle's domain.
//!
//! The file is written by the container manager (containerd's client,
//! podman), in a directory the caller of the manager may influence: it is
//! read with a bound counted while reading (never sized by a `metadata()`
//! taken before the read, which a writer could make stale), without
//! blocking and only if it is a regular file (a FIFO would hang the start).
//!
//! It is parsed once, as `oci_spec::runtime::Spec`: the types and version
//! (0.10) `cerro-runtime`'s libcontainer reads the same file with, so a
//! config the runtime would refuse is refused before the decision, not
//! after it. This is stricter than the hook's own reader was (it read
//! only the two labels and accepted, say, a `process` without `user` and
//! `cwd`, or a namespace type no runtime knows): the strict reading won,
//! because a config that is not a runtime-spec config is not one to admit
//! a container on, and podman's real configs (written by Go's
//! runtime-spec types, whose `user` and `cwd` are always present, and
//! validated by runc before any prestart hook runs) pass it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cerro_core::Error;

use crate::confinement::GivenLabels;
use crate::error::EnforceError;
use crate::host::open_regular;

/// Largest runtime config read (containerd's and podman's are a few KiB;
/// a large seccomp profile stays well under this).
pub const MAX_CONFIG: u64 = 4 << 20;

/// The name of the runtime config in an OCI bundle directory.
pub const CONFIG_FILE: &str = "config.json";

/// What the decision and the confinement need of a container's runtime
/// config, and the exact bytes it was read from. Only [`RuntimeConfig::read`]
/// and [`RuntimeConfig::parse`] build one, so its fields are those of a
/// config `oci_spec` accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    path: PathBuf,
    bytes: Vec<u8>,
    /// Its annotations (`io.cerro.bundle` among them).
    pub annotations: BTreeMap<String, String>,
    /// `root.path`: where the runtime takes the container's root file
    /// system from (`None`: the config has no `root`).
    pub root_path: Option<String>,
    /// `process.selinuxLabel` and `linux.mountLabel`; an empty label counts
    /// as absent, as runc treats it. containerd's client appends the mount
    /// label to the root file system's mount options as `context="…"`.
    pub labels: GivenLabels,
}

impl RuntimeConfig {
    /// Reads and parses `<bundle>/config.json`: at most [`MAX_CONFIG`]
    /// bytes (more is `Malformed`, exit 10), a regular file only, opened
    /// without blocking.
    pub fn read(bundle: &Path) -> Result<Self, EnforceError> {
        let path = bundle.join(CONFIG_FILE);
        let f = open_regular(&path)?;
        let what = path.display().to_string();
        let bytes = cerro_core::file::read_bounded_from(f, MAX_CONFIG, &what).map_err(|e| match e {
            Error::Io { op, source, .. } => Error::io(op, &path, source),
            other => other,
        })?;
        Self::parse(&path, bytes)
    }

    /// Parses `bytes`, read from `path` (which only names it in errors), as
    /// `oci_spec::runtime::Spec`.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<Self, EnforceError> {
        // One meaning for the bytes: runc reads them with Go's encoding/json
        // (keys folded, the last duplicate wins), this reader with serde
        // (exact keys, the first spelling taken). A `"Process"` beside
        // `"process"`, or an annotation given twice, could hand runc another
        // label or bundle than the one decided on: refuse what the two could
        // read differently (core's strict reader, as for OCI image JSON).
        cerro_core::image::strict::check(
            &path.display().to_string(),
            &bytes,
            cerro_core::image::strict::DocKind::RuntimeConfig,
        )?;
        let spec: oci_spec::runtime::Spec =
            serde_json::from_slice(&bytes).map_err(|e| Error::malformed(path.display().to_string(), e.to_string()))?;
        let set = |v: Option<&String>| v.filter(|s| !s.is_empty()).cloned();
        let labels = GivenLabels {
            process: set(spec.process().as_ref().and_then(|p| p.selinux_label().as_ref())),
            mount: set(spec.linux().as_ref().and_then(|l| l.mount_label().as_ref())),
        };
        Ok(RuntimeConfig {
            annotations: spec.annotations().clone().unwrap_or_default().into_iter().collect(),
            root_path: spec.root().as_ref().map(|r| r.path().to_string_lossy().into_owned()),
            labels,
            path: path.to_owned(),
            bytes,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes it was parsed from: what a front end that rewrites the
    /// config (the shim, with the decision's labels) must start from, so
    /// the runtime gets the document that was decided on, not one read
    /// again later.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) {
        std::fs::write(dir.join(CONFIG_FILE), text).unwrap();
    }

    fn refusal(dir: &Path) -> String {
        let e = RuntimeConfig::read(dir).unwrap_err();
        assert_eq!(e.exit_code(), cerro_core::ExitCode::Malformed, "{e}");
        e.to_string()
    }

    #[test]
    fn reads_what_the_decision_and_the_confinement_need() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/",
            "selinuxLabel":"system_u:system_r:ct_hello_t:s0:c1,c2"},"root":{"path":"rootfs"},
            "linux":{"mountLabel":"system_u:object_r:ct_hello_file_t:s0:c1,c2","namespaces":[]},
            "annotations":{"io.cerro.bundle":"/b.ctp"}}"#;
        write(dir.path(), text);
        let c = RuntimeConfig::read(dir.path()).unwrap();
        assert_eq!(c.annotations.get("io.cerro.bundle").map(String::as_str), Some("/b.ctp"));
        assert_eq!(c.root_path.as_deref(), Some("rootfs"));
        assert_eq!(
            c.labels,
            GivenLabels {
                process: Some("system_u:system_r:ct_hello_t:s0:c1,c2".into()),
                mount: Some("system_u:object_r:ct_hello_file_t:s0:c1,c2".into()),
            }
        );
        assert_eq!(c.bytes(), text.as_bytes());
        assert_eq!(c.path(), dir.path().join("config.json"));
        // Nothing but the version: no root, no labels, no annotations.
        write(dir.path(), r#"{"ociVersion":"1.0.2"}"#);
        let c = RuntimeConfig::read(dir.path()).unwrap();
        assert_eq!(
            (c.annotations.is_empty(), c.root_path, c.labels),
            (true, None, GivenLabels::default())
        );
        // Empty labels are absent (podman without SELinux).
        write(
            dir.path(),
            r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","selinuxLabel":""},
                "linux":{"mountLabel":""}}"#,
        );
        assert_eq!(RuntimeConfig::read(dir.path()).unwrap().labels, GivenLabels::default());
    }

    /// runc reads config.json with Go (keys folded, the last duplicate
    /// wins); serde took the first exact spelling. Each of these once gave
    /// the decision one label, root or bundle and runc another; now each is
    /// refused as ambiguous, naming the key.
    #[test]
    fn a_config_go_and_serde_would_read_differently_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let process =
            r#""process":{"user":{"uid":0,"gid":0},"cwd":"/","selinuxLabel":"system_u:system_r:ct_hello_t:s0"}"#;
        for (text, why) in [
            (
                format!(
                    r#"{{"ociVersion":"1.0.2",{process},"Process":{{"user":{{"uid":0,"gid":0}},"cwd":"/","selinuxLabel":"unconfined_u:unconfined_r:unconfined_t:s0"}}}}"#
                ),
                "Process",
            ),
            (
                r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"cwd":"/","selinuxLabel":"a","SelinuxLabel":"b"}}"#.into(),
                "SelinuxLabel",
            ),
            (
                r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"Root":{"path":"/"}}"#.into(),
                "Root",
            ),
            (
                r#"{"ociVersion":"1.0.2","linux":{"mountLabel":"a","MOUNTLABEL":"b"}}"#.into(),
                "MOUNTLABEL",
            ),
            (
                r#"{"ociVersion":"1.0.2","annotations":{"io.cerro.bundle":"/a.ctp","io.cerro.bundle":"/b.ctp"}}"#.into(),
                "duplicate key",
            ),
            (
                format!(r#"{{"ociVersion":"1.0.2",{process},"process":{{"user":{{"uid":0,"gid":0}},"cwd":"/"}}}}"#),
                "duplicate key",
            ),
        ] {
            write(dir.path(), &text);
            let msg = refusal(dir.path());
            assert!(msg.contains(why), "{text}: {msg}");
        }
        // Unknown keys that alias nothing stay allowed, as the spec says.
        write(
            dir.path(),
            &format!(r#"{{"ociVersion":"1.0.2",{process},"io.example/extension":{{"X":1}}}}"#),
        );
        assert!(RuntimeConfig::read(dir.path()).is_ok());
    }

    /// The hook's own reader accepted these (it read two labels and
    /// nothing else); the one reader refuses them as the runtime would.
    #[test]
    fn what_the_runtime_would_refuse_is_refused_though_the_hook_once_accepted_it() {
        let dir = tempfile::tempdir().unwrap();
        for (text, why) in [
            (
                r#"{"ociVersion":"1.0.2","process":{"args":["sh"],"selinuxLabel":"l"},"linux":{}}"#,
                "missing field `user`",
            ),
            (
                r#"{"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},"selinuxLabel":""}}"#,
                "missing field `cwd`",
            ),
            (
                r#"{"ociVersion":"1.0.2","linux":{"mountLabel":"m","namespaces":[{"type":"bogus"}]}}"#,
                "bogus",
            ),
            (r#"{"ociVersion":"1.0.2","process":7}"#, "invalid type"),
            ("{", "EOF"),
        ] {
            write(dir.path(), text);
            let msg = refusal(dir.path());
            assert!(
                msg.starts_with(&format!("malformed {}: ", dir.path().join("config.json").display())),
                "{msg}"
            );
            assert!(msg.contains(why), "{text}: {msg}");
        }
    }

    #[test]
    fn a_config_larger_than_the_bound_is_refused_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let big = format!(
            r#"{{"ociVersion":"1.0.2","hostname":"{}"}}"#,
            "a".repeat(MAX_CONFIG as usize)
        );
        write(dir.path(), &big);
        assert!(refusal(dir.path()).contains("larger than the 4194304-byte limit"));
        // A sparse file claiming the size reads the same.
        let f = std::fs::File::create(dir.path().join(CONFIG_FILE)).unwrap();
        f.set_len(MAX_CONFIG + 1).unwrap();
        assert!(refusal(dir.path()).contains("larger than the 4194304-byte limit"));
    }

    #[test]
    fn only_a_regular_file_is_read_and_a_fifo_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let e = RuntimeConfig::read(&dir.path().join("missing")).unwrap_err();
        assert!(
            matches!(e, EnforceError::Core(Error::Io { .. })) && e.to_string().contains("missing/config.json"),
            "{e}"
        );
        assert!(std::process::Command::new("mkfifo")
            .arg(dir.path().join(CONFIG_FILE))
            .status()
            .unwrap()
            .success());
        let e = RuntimeConfig::read(dir.path()).unwrap_err();
        assert!(matches!(e, EnforceError::Core(Error::NotRegularFile { .. })), "{e}");
    }
}
