//! Where the shim takes its configuration from: the environment containerd
//! gives it (containerd's own, e.g. a systemd unit's `Environment=`), and the
//! runtime options containerd passes with each task.
//!
//! containerd passes a non-runc runtime's options as
//! `runtimeoptions.v1.Options { type_url, config_path }`: CRI fills it from
//! the runtime's `[...runtimes.cerro.options] ConfigPath = "…"`, and
//! `ctr run --runtime-config-path FILE` does too. `config_path` names a TOML
//! file whose keys override the environment:
//!
//! ```toml
//! home = "/etc/cerro-torre"           # CERRO_HOME: trust store
//! store = "/var/lib/cerro-torre/store" # CERRO_STORE: bundle store
//! policy = "/etc/cerro-torre/policy.json" # CERRO_POLICY
//! audit_log = "/var/log/cerro-torre/audit.log" # CERRO_AUDIT_LOG
//! mode = "enforce"                    # CERRO_MODE: enforce | audit
//! runtime = "/usr/bin/cerro-runtime"  # CERRO_RUNTIME: the OCI runtime binary
//! runtime_root = "/run/cerro-runtime" # CERRO_RUNTIME_ROOT: its state directory
//! ```
//!
//! Unknown keys are an error (a misspelt `polcy` must not silently mean
//! "no policy"). Other option types (runc's) are ignored.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cerro_enforce::Config;
use serde::{Deserialize, Serialize};

use crate::error::ShimError;

/// The protobuf type of the generic runtime options (CRI and `ctr`).
pub const RUNTIME_OPTIONS_TYPE: &str = "runtimeoptions.v1.Options";
/// Largest runtime options file read.
const MAX_TOML: u64 = 1 << 20;

/// `runtimeoptions.v1.Options` (containerd's `pkg/runtimeoptions/v1`).
#[derive(Clone, PartialEq, prost::Message)]
struct RuntimeOptions {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(string, tag = "2")]
    config_path: String,
}

/// The keys of the runtime options file.
#[derive(Debug, Default, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Trust store (`CERRO_HOME`).
    pub home: Option<PathBuf>,
    /// Bundle store (`CERRO_STORE`).
    pub store: Option<PathBuf>,
    /// Deployment policy (`CERRO_POLICY`).
    pub policy: Option<PathBuf>,
    /// Audit log (`CERRO_AUDIT_LOG`).
    pub audit_log: Option<PathBuf>,
    /// `enforce` or `audit` (`CERRO_MODE`).
    pub mode: Option<String>,
    /// The OCI runtime binary (`CERRO_RUNTIME`).
    pub runtime: Option<PathBuf>,
    /// The runtime's state directory (`CERRO_RUNTIME_ROOT`).
    pub runtime_root: Option<PathBuf>,
}

impl FileSettings {
    /// Reads the file `config_path` names.
    pub fn read(path: &Path) -> Result<Self, ShimError> {
        let len = std::fs::metadata(path)
            .map_err(|e| ShimError::io("reading runtime options", path, e))?
            .len();
        if len > MAX_TOML {
            return Err(ShimError::Config(format!(
                "{}: larger than {MAX_TOML} bytes",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| ShimError::io("reading runtime options", path, e))?;
        toml::from_str(&text).map_err(|e| ShimError::Config(format!("{}: {e}", path.display())))
    }

    /// The value for an environment variable name, if the file sets it.
    fn get(&self, key: &str) -> Option<OsString> {
        let p = |v: &Option<PathBuf>| v.as_ref().map(|p| p.clone().into_os_string());
        match key {
            "CERRO_HOME" => p(&self.home),
            "CERRO_STORE" => p(&self.store),
            "CERRO_POLICY" => p(&self.policy),
            "CERRO_AUDIT_LOG" => p(&self.audit_log),
            "CERRO_MODE" => self.mode.clone().map(OsString::from),
            "CERRO_RUNTIME" => p(&self.runtime),
            "CERRO_RUNTIME_ROOT" => p(&self.runtime_root),
            _ => None,
        }
    }
}

/// Decodes the `options` of a create request (`type_url`, protobuf bytes)
/// into the settings file it names, if any.
pub fn from_options(type_url: &str, value: &[u8]) -> Result<FileSettings, ShimError> {
    if type_url.trim_start_matches('/').rsplit('/').next() != Some(RUNTIME_OPTIONS_TYPE) {
        // Empty, or another runtime's options (runc's): nothing for us.
        return Ok(FileSettings::default());
    }
    let o = <RuntimeOptions as prost::Message>::decode(value)
        .map_err(|e| ShimError::Config(format!("bad {RUNTIME_OPTIONS_TYPE}: {e}")))?;
    if o.config_path.is_empty() {
        return Ok(FileSettings::default());
    }
    FileSettings::read(Path::new(&o.config_path))
}

/// Everything a task needs to know about the host: the enforcement
/// configuration and the runtime binary.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Trust store, bundle store, policy, audit log, mode.
    pub enforce: Config,
    /// The OCI runtime binary and its state directory.
    pub runtime: RuntimeBinary,
}

/// The state directory of `cerro-runtime` unless configured.
pub const DEFAULT_RUNTIME_ROOT: &str = "/run/cerro-runtime";

impl Settings {
    /// Resolves the settings: the file's keys first, then `env`, then the
    /// daemon defaults (`/etc/cerro-torre`, `/var/lib/cerro-torre/store`).
    pub fn resolve(file: &FileSettings, env: impl Fn(&str) -> Option<OsString>) -> Result<Self, ShimError> {
        let lookup = |k: &str| file.get(k).or_else(|| env(k)).filter(|v| !v.is_empty());
        let enforce = Config::for_daemon(lookup).map_err(|e| ShimError::Config(e.to_string()))?;
        let runtime = lookup("CERRO_RUNTIME")
            .map(PathBuf::from)
            .unwrap_or_else(default_runtime);
        let runtime_root = lookup("CERRO_RUNTIME_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNTIME_ROOT));
        Ok(Settings {
            enforce,
            runtime: RuntimeBinary {
                path: runtime,
                root: runtime_root,
            },
        })
    }
}

/// `cerro-runtime` beside the shim's own executable (how they are
/// installed together), else whatever `PATH` finds.
fn default_runtime() -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|e| e.with_file_name("cerro-runtime"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("cerro-runtime"))
}

/// The OCI runtime a task uses: saved in the bundle at create, since the
/// `delete` action (a new shim process, after a crash) must use the same.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuntimeBinary {
    /// The runtime binary.
    pub path: PathBuf,
    /// Its state directory (`--root`).
    pub root: PathBuf,
}

/// The file in the bundle directory holding [`RuntimeBinary`].
pub const SAVED_FILE: &str = "cerro-shim.json";

impl RuntimeBinary {
    /// Writes `bundle/cerro-shim.json`.
    pub fn write(&self, bundle: &Path) -> Result<(), ShimError> {
        let path = bundle.join(SAVED_FILE);
        let bytes = serde_json::to_vec(self).map_err(|e| ShimError::Config(e.to_string()))?;
        std::fs::write(&path, bytes).map_err(|e| ShimError::io("writing", path, e))
    }

    /// Reads it back (None if create never got that far).
    pub fn read(bundle: &Path) -> Option<Self> {
        let bytes = std::fs::read(bundle.join(SAVED_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// The annotations of the OCI spec in `bundle` (`config.json`).
pub fn spec_annotations(bundle: &Path) -> Result<BTreeMap<String, String>, ShimError> {
    #[derive(Deserialize)]
    struct Spec {
        #[serde(default)]
        annotations: Option<BTreeMap<String, String>>,
    }
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).map_err(|e| ShimError::io("reading the OCI spec", &path, e))?;
    let spec: Spec =
        serde_json::from_slice(&bytes).map_err(|e| ShimError::InvalidArgument(format!("{}: {e}", path.display())))?;
    Ok(spec.annotations.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn file_keys_override_the_environment_and_daemon_defaults_fill_the_rest() {
        let file = FileSettings {
            store: Some("/srv/store".into()),
            mode: Some("audit".into()),
            ..Default::default()
        };
        let s = Settings::resolve(&file, env_of(&[("CERRO_HOME", "/h"), ("CERRO_STORE", "/ignored")])).unwrap();
        assert_eq!(s.enforce.home, Path::new("/h"));
        assert_eq!(s.enforce.store, Path::new("/srv/store"));
        assert_eq!(s.enforce.audit_log, Path::new("/srv/store/audit.log"));
        assert_eq!(s.enforce.mode, cerro_enforce::Mode::Audit);
        assert_eq!(s.runtime.root, Path::new(DEFAULT_RUNTIME_ROOT));
        let d = Settings::resolve(&FileSettings::default(), env_of(&[])).unwrap();
        assert_eq!(d.enforce.home, Path::new("/etc/cerro-torre"));
        assert_eq!(d.enforce.store, Path::new("/var/lib/cerro-torre/store"));
    }

    #[test]
    fn a_bad_mode_is_a_configuration_error() {
        let file = FileSettings {
            mode: Some("permissive".into()),
            ..Default::default()
        };
        let e = Settings::resolve(&file, env_of(&[])).unwrap_err();
        assert!(e.to_string().contains("permissive"), "{e}");
    }

    #[test]
    fn runtime_options_name_a_toml_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cerro.toml");
        std::fs::write(&path, "home = \"/h\"\nruntime = \"/bin/rt\"\n").unwrap();
        let msg = RuntimeOptions {
            type_url: String::new(),
            config_path: path.display().to_string(),
        };
        let bytes = prost::Message::encode_to_vec(&msg);
        let got = from_options("runtimeoptions.v1.Options", &bytes).unwrap();
        assert_eq!(got.home.as_deref(), Some(Path::new("/h")));
        assert_eq!(got.runtime.as_deref(), Some(Path::new("/bin/rt")));
        // Another runtime's options type, or none: nothing.
        assert_eq!(
            from_options("containerd.runc.v1.Options", &bytes).unwrap(),
            FileSettings::default()
        );
        assert_eq!(from_options("", &[]).unwrap(), FileSettings::default());
        // A misspelt key is an error, not a silent default.
        std::fs::write(&path, "polcy = \"/p\"\n").unwrap();
        assert!(from_options("runtimeoptions.v1.Options", &bytes).is_err());
        // Garbage protobuf is an error.
        assert!(from_options("runtimeoptions.v1.Options", &[0xff, 0xff]).is_err());
    }

    #[test]
    fn reads_spec_annotations_and_saved_settings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion":"1.0.2","annotations":{"io.cerro.bundle":"/b.ctp"}}"#,
        )
        .unwrap();
        let a = spec_annotations(dir.path()).unwrap();
        assert_eq!(a.get("io.cerro.bundle").map(String::as_str), Some("/b.ctp"));
        assert!(RuntimeBinary::read(dir.path()).is_none());
        let saved = RuntimeBinary {
            path: "/bin/rt".into(),
            root: "/run/rt".into(),
        };
        saved.write(dir.path()).unwrap();
        assert_eq!(RuntimeBinary::read(dir.path()), Some(saved));
        std::fs::write(dir.path().join("config.json"), "{").unwrap();
        assert!(spec_annotations(dir.path()).is_err());
    }
}
