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
//! Every key can switch enforcement off (`mode`, `home`, `store`, `policy`),
//! hide it (`audit_log`) or run another program as root (`runtime`,
//! `runtime_root`), and the path is the task's caller's choice under `ctr`,
//! nerdctl or any containerd API client. So the file is only read from where
//! the host's administrator put it ([`OptionsTrust`]): under
//! `/etc/containerd`, `/etc/cerro-torre` or the directory the daemon's own
//! environment names in `CERRO_SHIM_OPTIONS_DIR`, owned by root, and with
//! neither it nor a directory between it and that place writable by group
//! or others. Any other file refuses the task, before it is read.
//!
//! Unknown keys are an error (a misspelt `polcy` must not silently mean
//! "no policy"). A file that is not valid TOML is refused naming the path,
//! line and column only: the error goes back to the client, and must not
//! quote a line of whatever file it named. Other option types (runc's) are
//! ignored.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cerro_enforce::{Config, RuntimeConfig};
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
    /// Parses the options file's text; `path` only names it in errors,
    /// which say where the text is wrong but never repeat it.
    fn parse(path: &Path, text: &str) -> Result<Self, ShimError> {
        toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let (line, column) = line_column(text, s.start);
                    format!(" at line {line}, column {column}")
                })
                .unwrap_or_default();
            // The message of an unknown key names the key, and a type
            // error quotes the value: only the kind of error is kept.
            let what = if e.message().starts_with("unknown field") {
                "an unknown key (the keys are home, store, policy, audit_log, mode, runtime, runtime_root)"
            } else {
                "not valid TOML runtime options"
            };
            ShimError::Config(format!(
                "runtime options file {}: {what}{at} (its contents are not repeated here)",
                path.display()
            ))
        })
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

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// The environment variable naming one more directory the runtime options
/// files may be read from (besides [`TRUSTED_OPTIONS_DIRS`]). The shim gets
/// containerd's environment, which a containerd API client cannot change.
pub const OPTIONS_DIR_ENV: &str = "CERRO_SHIM_OPTIONS_DIR";

/// The daemon configuration directories runtime options files may be read
/// from.
pub const TRUSTED_OPTIONS_DIRS: [&str; 2] = ["/etc/containerd", "/etc/cerro-torre"];

/// Where a task's runtime options file may come from: a file (after
/// symbolic links are resolved) strictly inside one of `dirs`, owned by
/// `owner`, not writable by group or others, and no directory from that
/// one down to the file writable by group or others or owned by another
/// user. Why: the path is chosen by whoever creates the task, and the
/// file's keys decide whether enforcement happens at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionsTrust {
    dirs: Vec<PathBuf>,
    owner: u32,
}

impl OptionsTrust {
    /// The daemon's rule: [`TRUSTED_OPTIONS_DIRS`] and `$CERRO_SHIM_OPTIONS_DIR`
    /// (if set), owned by root.
    pub fn for_daemon(env: impl Fn(&str) -> Option<OsString>) -> Self {
        let mut dirs: Vec<PathBuf> = TRUSTED_OPTIONS_DIRS.iter().map(PathBuf::from).collect();
        if let Some(d) = env(OPTIONS_DIR_ENV).filter(|d| !d.is_empty()) {
            dirs.push(PathBuf::from(d));
        }
        OptionsTrust { dirs, owner: 0 }
    }

    /// Files in `dirs` owned by `owner` (tests, which may not run as root).
    pub fn new(dirs: Vec<PathBuf>, owner: u32) -> Self {
        OptionsTrust { dirs, owner }
    }

    fn names(&self) -> String {
        self.dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Reads the options file at `path`, if it is where options may come
    /// from; else refuses without reading it.
    pub fn read(&self, path: &Path) -> Result<FileSettings, ShimError> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let refuse = |why: String| {
            ShimError::Config(format!(
                "runtime options file {}: {why}; per-task options can switch enforcement off, so they are only \
                 read from a file owned by uid {} and writable by it alone, under {} (set {OPTIONS_DIR_ENV} in \
                 containerd's environment for another directory)",
                path.display(),
                self.owner,
                self.names()
            ))
        };
        if !path.is_absolute() {
            return Err(refuse("not an absolute path".into()));
        }
        let real = std::fs::canonicalize(path).map_err(|e| refuse(format!("cannot be resolved ({e})")))?;
        let base = self
            .dirs
            .iter()
            .filter_map(|d| std::fs::canonicalize(d).ok())
            .find(|d| real.starts_with(d) && real != *d)
            .ok_or_else(|| refuse(format!("{} is not under a trusted directory", real.display())))?;
        let owned_and_closed = |what: &Path, meta: &std::fs::Metadata| -> Result<(), ShimError> {
            if meta.uid() != self.owner {
                return Err(refuse(format!("{} is owned by uid {}", what.display(), meta.uid())));
            }
            if meta.permissions().mode() & 0o022 != 0 {
                return Err(refuse(format!(
                    "{} is writable by group or others (mode {:o})",
                    what.display(),
                    meta.permissions().mode() & 0o7777
                )));
            }
            Ok(())
        };
        // The trusted directory and every one below it on the way.
        let mut dir = base.clone();
        let parent = real.parent().unwrap_or(&base);
        let below = parent.strip_prefix(&base).unwrap_or(Path::new(""));
        for part in std::iter::once(None).chain(below.components().map(Some)) {
            if let Some(p) = part {
                dir.push(p);
            }
            let meta = std::fs::symlink_metadata(&dir).map_err(|e| ShimError::io("checking", &dir, e))?;
            owned_and_closed(&dir, &meta)?;
        }
        // The file itself, checked on the open descriptor that is read.
        // Opened without blocking (a FIFO would wait for a writer) and
        // without following a link put there since it was resolved.
        let file = {
            use nix::fcntl::OFlag;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW).bits())
                .open(&real)
                .map_err(|e| ShimError::io("reading runtime options", &real, e))?
        };
        let meta = file
            .metadata()
            .map_err(|e| ShimError::io("reading runtime options", &real, e))?;
        if !meta.is_file() {
            return Err(refuse(format!("{} is not a regular file", real.display())));
        }
        owned_and_closed(&real, &meta)?;
        let bytes = cerro_core::file::read_bounded_from(file, MAX_TOML, "runtime options")
            .map_err(|e| ShimError::Config(format!("runtime options file {}: {e}", path.display())))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            ShimError::Config(format!(
                "runtime options file {}: not UTF-8 (at byte {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ))
        })?;
        FileSettings::parse(path, &text)
    }
}

/// Decodes the `options` of a create request (`type_url`, protobuf bytes)
/// into the settings of the file it names, if any, read only if `trust`
/// allows it.
pub fn from_options(type_url: &str, value: &[u8], trust: &OptionsTrust) -> Result<FileSettings, ShimError> {
    if type_url.trim_start_matches('/').rsplit('/').next() != Some(RUNTIME_OPTIONS_TYPE) {
        // Empty, or another runtime's options (runc's): nothing for us.
        return Ok(FileSettings::default());
    }
    let o = <RuntimeOptions as prost::Message>::decode(value)
        .map_err(|e| ShimError::Config(format!("bad {RUNTIME_OPTIONS_TYPE}: {e}")))?;
    if o.config_path.is_empty() {
        return Ok(FileSettings::default());
    }
    trust.read(Path::new(&o.config_path))
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
        let enforce = Config::for_daemon(lookup)?;
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
        let bytes = cerro_core::file::read_bounded(&bundle.join(SAVED_FILE), MAX_SAVED, SAVED_FILE).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Largest saved [`RuntimeBinary`] read back.
const MAX_SAVED: u64 = 64 << 10;

/// The task's OCI runtime config, `bundle/config.json`, read and parsed by
/// the one reader of it (`cerro_enforce::RuntimeConfig::read`: at most 4
/// MiB counted while reading, parsed as `oci_spec::runtime::Spec`, the
/// types the runtime reads it with). What the shim decides on and what it
/// rewrites with the decision's labels both come from this one read. A
/// file that cannot be read is an I/O error; one too large or not a
/// runtime config is an invalid request.
pub fn read_config(bundle: &Path) -> Result<RuntimeConfig, ShimError> {
    RuntimeConfig::read(bundle).map_err(|e| match e {
        cerro_enforce::EnforceError::Core(cerro_core::Error::Io { path, source, .. }) => {
            ShimError::io("reading the OCI spec", path, source)
        }
        other => ShimError::InvalidArgument(other.to_string()),
    })
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

    /// The encoded `runtimeoptions.v1.Options` naming `path`.
    fn options_naming(path: &Path) -> Vec<u8> {
        prost::Message::encode_to_vec(&RuntimeOptions {
            type_url: String::new(),
            config_path: path.display().to_string(),
        })
    }

    /// A trusted directory `dir/etc` (mode 0755) and the rule trusting it
    /// for files of the user running the test.
    fn trusted(dir: &Path) -> (PathBuf, OptionsTrust) {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let etc = dir.join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let uid = std::fs::metadata(&etc).unwrap().uid();
        (etc.clone(), OptionsTrust::new(vec![etc], uid))
    }

    fn write_mode(path: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    const OPTIONS: &str = "runtimeoptions.v1.Options";

    #[test]
    fn runtime_options_name_a_toml_file_in_a_trusted_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (etc, trust) = trusted(dir.path());
        let path = etc.join("cerro.toml");
        write_mode(&path, "home = \"/h\"\nruntime = \"/bin/rt\"\n", 0o644);
        let bytes = options_naming(&path);
        let got = from_options(OPTIONS, &bytes, &trust).unwrap();
        assert_eq!(got.home.as_deref(), Some(Path::new("/h")));
        assert_eq!(got.runtime.as_deref(), Some(Path::new("/bin/rt")));
        // Another runtime's options type, or none: nothing.
        assert_eq!(
            from_options("containerd.runc.v1.Options", &bytes, &trust).unwrap(),
            FileSettings::default()
        );
        assert_eq!(from_options("", &[], &trust).unwrap(), FileSettings::default());
        // Garbage protobuf is an error.
        assert!(from_options(OPTIONS, &[0xff, 0xff], &trust).is_err());
        // Below the trusted directory too, through directories as closed.
        let sub = etc.join("sub");
        std::fs::create_dir(&sub).unwrap();
        write_mode(&sub.join("o.toml"), "mode = \"audit\"\n", 0o600);
        let got = from_options(OPTIONS, &options_naming(&sub.join("o.toml")), &trust).unwrap();
        assert_eq!(got.mode.as_deref(), Some("audit"));
    }

    /// The refusal of `path` under `trust`: a configuration error that
    /// says why and never what the file holds.
    fn refused(path: &Path, trust: &OptionsTrust, why: &str) -> String {
        let e = from_options(OPTIONS, &options_naming(path), trust).unwrap_err();
        assert!(matches!(e, ShimError::Config(_)), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(why), "{msg}");
        assert!(!msg.contains("audit\""), "{msg}");
        msg
    }

    #[test]
    fn options_outside_the_trusted_directories_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let (etc, trust) = trusted(dir.path());
        // A file the client chose, anywhere else: the daemon's rule trusts
        // /etc/containerd, /etc/cerro-torre and CERRO_SHIM_OPTIONS_DIR only.
        let mine = dir.path().join("mine.toml");
        write_mode(&mine, "mode = \"audit\"\n", 0o644);
        let daemon = OptionsTrust::for_daemon(env_of(&[]));
        let msg = refused(&mine, &daemon, "is not under a trusted directory");
        assert!(
            msg.contains("/etc/containerd, /etc/cerro-torre") && msg.contains("CERRO_SHIM_OPTIONS_DIR"),
            "{msg}"
        );
        refused(&mine, &trust, "is not under a trusted directory");
        // What the environment names is trusted too.
        let env_dir = dir.path().join("etc").display().to_string();
        let with_env = OptionsTrust::for_daemon(move |k| (k == OPTIONS_DIR_ENV).then(|| OsString::from(&env_dir)));
        assert!(with_env.dirs.contains(&etc));
        // /etc/shadow, say: refused before it is read.
        let msg = refused(
            Path::new("/etc/shadow"),
            &daemon,
            "/etc/shadow is not under a trusted directory",
        );
        assert!(!msg.contains("root:"), "{msg}");
        // Relative, `..` out of the directory, a symbolic link out of it.
        refused(Path::new("etc/x.toml"), &trust, "not an absolute path");
        refused(&etc.join("../mine.toml"), &trust, "is not under a trusted directory");
        std::os::unix::fs::symlink(&mine, etc.join("link.toml")).unwrap();
        refused(&etc.join("link.toml"), &trust, "is not under a trusted directory");
        // The directory itself is not a file in it.
        refused(&etc, &trust, "is not under a trusted directory");
        refused(&etc.join("absent.toml"), &trust, "cannot be resolved");
    }

    #[test]
    fn options_anyone_else_could_write_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (etc, trust) = trusted(dir.path());
        let path = etc.join("o.toml");
        for mode in [0o664, 0o646, 0o666] {
            write_mode(&path, "mode = \"audit\"\n", mode);
            refused(&path, &trust, "is writable by group or others");
        }
        write_mode(&path, "mode = \"audit\"\n", 0o644);
        // Another owner (the rule's owner is not the file's).
        let other = OptionsTrust::new(vec![etc.clone()], trust.owner + 1);
        refused(&path, &other, "is owned by uid");
        // A directory on the way that others may write to.
        let sub = etc.join("open");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        write_mode(&sub.join("o.toml"), "mode = \"audit\"\n", 0o644);
        refused(
            &sub.join("o.toml"),
            &trust,
            "open is writable by group or others (mode 777)",
        );
        // The trusted directory itself too.
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o775)).unwrap();
        refused(&path, &trust, "etc is writable by group or others");
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Not a regular file.
        let fifo = etc.join("fifo.toml");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o644)).unwrap();
        refused(&fifo, &trust, "is not a regular file");
        assert!(from_options(OPTIONS, &options_naming(&path), &trust).is_ok());
    }

    #[test]
    fn a_bad_options_file_is_refused_naming_the_place_not_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let (etc, trust) = trusted(dir.path());
        let path = etc.join("o.toml");
        // Not TOML (the first line of /etc/shadow, say).
        write_mode(
            &path,
            "mode = \"enforce\"\nroot:$6$secret-hash:19000:0:99999:7:::\n",
            0o600,
        );
        let msg = refused(&path, &trust, "not valid TOML runtime options at line 2, column ");
        assert!(!msg.contains("secret") && !msg.contains("root:"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        // A misspelt key is an error, not a silent default; the key is not quoted.
        write_mode(&path, "home = \"/h\"\nmdoe = \"audit\"\n", 0o600);
        let msg = refused(&path, &trust, "an unknown key");
        assert!(msg.contains("at line 2, column 1"), "{msg}");
        assert!(!msg.contains("mdoe"), "{msg}");
        // A value of the wrong type is not quoted either.
        write_mode(&path, "mode = 31337\n", 0o600);
        let msg = refused(&path, &trust, "not valid TOML runtime options at line 1");
        assert!(!msg.contains("31337"), "{msg}");
        // Not UTF-8.
        std::fs::write(&path, b"mode = \"\xff\"\n").unwrap();
        refused(&path, &trust, "not UTF-8 (at byte 8)");
        // Too large.
        write_mode(&path, &"#".repeat(MAX_TOML as usize + 1), 0o600);
        refused(&path, &trust, "limit");
    }

    #[test]
    fn reads_the_spec_and_saved_settings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"mountLabel":"m_t"},
                "annotations":{"io.cerro.bundle":"/b.ctp"}}"#,
        )
        .unwrap();
        let spec = read_config(dir.path()).unwrap();
        assert_eq!(
            spec.annotations.get("io.cerro.bundle").map(String::as_str),
            Some("/b.ctp")
        );
        assert_eq!(spec.root_path.as_deref(), Some("rootfs"));
        assert_eq!(spec.labels.mount.as_deref(), Some("m_t"));
        std::fs::write(dir.path().join("config.json"), r#"{"ociVersion":"1.0.2"}"#).unwrap();
        let spec = read_config(dir.path()).unwrap();
        assert_eq!(
            (spec.annotations.is_empty(), spec.root_path, spec.labels),
            (true, None, cerro_enforce::GivenLabels::default())
        );
        assert!(RuntimeBinary::read(dir.path()).is_none());
        let saved = RuntimeBinary {
            path: "/bin/rt".into(),
            root: "/run/rt".into(),
        };
        saved.write(dir.path()).unwrap();
        assert_eq!(RuntimeBinary::read(dir.path()), Some(saved));
        std::fs::write(dir.path().join("config.json"), "{").unwrap();
        assert!(read_config(dir.path()).is_err());
    }

    #[test]
    fn the_spec_is_read_bounded_and_with_the_runtimes_types() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        // Larger than the bound: refused, not read whole.
        let big = format!(
            r#"{{"ociVersion":"1.0.2","hostname":"{}"}}"#,
            "a".repeat(cerro_enforce::runtime_spec::MAX_CONFIG as usize)
        );
        std::fs::write(&config, big).unwrap();
        let e = read_config(dir.path()).unwrap_err();
        assert!(matches!(e, ShimError::InvalidArgument(_)), "{e}");
        assert!(e.to_string().contains("larger than the 4194304-byte limit"), "{e}");
        // What libcontainer would refuse (a namespace it does not know) is
        // refused here, before the decision.
        std::fs::write(
            &config,
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"bogus"}]}}"#,
        )
        .unwrap();
        let e = read_config(dir.path()).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        // A real containerd spec's fields are all understood.
        std::fs::write(
            &config,
            r#"{"ociVersion":"1.1.0","process":{"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/",
                "capabilities":{"bounding":["CAP_CHOWN"]},"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],
                "noNewPrivileges":true},"root":{"path":"rootfs"},"hostname":"c1",
                "mounts":[{"destination":"/proc","type":"proc","source":"proc"}],
                "linux":{"namespaces":[{"type":"pid"},{"type":"mount"}],"mountLabel":"m_t",
                "maskedPaths":["/proc/kcore"],"cgroupsPath":"/default/c1"},"annotations":{"a":"b"}}"#,
        )
        .unwrap();
        let spec = read_config(dir.path()).unwrap();
        assert_eq!(
            (
                spec.root_path.as_deref(),
                spec.labels.mount.as_deref(),
                spec.annotations["a"].as_str()
            ),
            (Some("rootfs"), Some("m_t"), "b")
        );
    }
}
