//! Confinement: the SELinux domain a verified bundle's container runs in.
//!
//! A bundle carries the module `ct_<package>` (`selinux/<module>.cil`,
//! bound by its signed release statement), which declares the process
//! domain `<module>_t` and the content type `<module>_file_t`
//! ([`cerro_core::naming::ContainerTypes`]). When the host has SELinux, the
//! container must run in that domain, its files under that type:
//!
//! | host | bundle | confinement |
//! |---|---|---|
//! | SELinux disabled (not in the kernel, not mounted, no policy) | any | `unconfined`, with that reason |
//! | SELinux enabled | no module for its package | `unconfined`: "the bundle carries no SELinux module" |
//! | SELinux enabled | module not loaded in the kernel's policy | refused (`confinement`, exit 78): `run ct selinux install BUNDLE` |
//! | SELinux enabled | module loaded | `domain`: process label `system_u:system_r:<module>_t:s0`, mount label `system_u:object_r:<module>_file_t:s0` |
//!
//! The level is `s0` when the policy is MLS/MCS (`/sys/fs/selinux/mls` is
//! `1`, as with Debian's `selinux-policy-default`), none otherwise: one
//! fixed level, no per-container categories (the domain, not MCS, is what
//! separates Cerro Torre containers).
//!
//! "Loaded" is asked of the kernel exactly as libselinux's
//! `security_check_context` does: writing the label to selinuxfs's
//! `context` node fails with `EINVAL` for a type the policy lacks. The
//! runtime's own label write at exec is the last check (it fails the same
//! way), so a module removed between the decision and the start still
//! refuses.
//!
//! The host is reached only through [`SelinuxHost`], so tests substitute it;
//! [`KernelSelinux`] is the real one.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use cerro_core::bundle::{Bundle, SELINUX_PREFIX};
use cerro_core::naming::{module_name, ContainerTypes};
use cerro_core::verify::Verified;
use serde::Serialize;

use crate::EnforceError;

/// The SELinux user and role of a Cerro Torre container's process.
pub const PROCESS_USER_ROLE: &str = "system_u:system_r";
/// The SELinux user and role of its files.
pub const OBJECT_USER_ROLE: &str = "system_u:object_r";
/// The one level used on an MLS/MCS policy.
pub const LEVEL: &str = "s0";

/// Whether SELinux enforces or only logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SelinuxMode {
    /// Denials are enforced.
    Enforcing,
    /// Denials are only logged: the domain is applied but confines nothing.
    Permissive,
}

/// The host's SELinux, as confinement needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelinuxStatus {
    /// No SELinux: why (one phrase, for the audit record and `ct doctor`).
    Disabled(String),
    /// A policy is loaded.
    Enabled {
        /// Enforcing or permissive (`None`: selinuxfs could not say).
        mode: Option<SelinuxMode>,
        /// Whether the policy has MLS/MCS levels (contexts end in `:s0`).
        mls: bool,
    },
}

/// The host's SELinux: its status, and the kernel's check of a context.
pub trait SelinuxHost: std::fmt::Debug {
    /// Whether SELinux is enabled, in which mode.
    fn status(&self) -> SelinuxStatus;
    /// Succeeds if the loaded policy knows `context` (every type in it is
    /// declared): the kernel answers `EINVAL` otherwise.
    fn check_context(&self, context: &str) -> io::Result<()>;
    /// The SELinux context of the file at `path` (not following a last
    /// symbolic link), for `ct doctor`'s check of the image stores' labels.
    /// Hosts that cannot say answer `Unsupported`.
    fn file_label(&self, path: &Path) -> io::Result<String> {
        let _ = path;
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// The running kernel's SELinux, through selinuxfs and procfs under `root`
/// (`/` on a host; another directory in tests).
#[derive(Debug, Clone)]
pub struct KernelSelinux {
    root: PathBuf,
}

impl Default for KernelSelinux {
    fn default() -> Self {
        KernelSelinux {
            root: PathBuf::from("/"),
        }
    }
}

impl KernelSelinux {
    /// The SELinux seen under `root` instead of `/` (`sys/fs/selinux/…`,
    /// `proc/filesystems`, `proc/self/attr/current`).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        KernelSelinux { root: root.into() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim_matches(|c: char| c.is_whitespace() || c == '\0').to_owned())
}

impl SelinuxHost for KernelSelinux {
    /// As libselinux's `is_selinux_enabled`: selinuxfs is mounted at
    /// `/sys/fs/selinux` and a policy is loaded (a process context other
    /// than `kernel`); the mode is `/sys/fs/selinux/enforce`.
    fn status(&self) -> SelinuxStatus {
        let Some(enforce) = read_trimmed(&self.path("sys/fs/selinux/enforce")) else {
            let listed = read_trimmed(&self.path("proc/filesystems"))
                .is_some_and(|t| t.lines().any(|l| l.split_whitespace().last() == Some("selinuxfs")));
            return SelinuxStatus::Disabled(if listed {
                "SELinux is in the kernel but selinuxfs is not mounted on /sys/fs/selinux".into()
            } else {
                "SELinux is not enabled in this kernel".into()
            });
        };
        if read_trimmed(&self.path("proc/self/attr/current")).as_deref() == Some("kernel") {
            return SelinuxStatus::Disabled("SELinux has no policy loaded".into());
        }
        let mode = match enforce.as_str() {
            "1" => Some(SelinuxMode::Enforcing),
            "0" => Some(SelinuxMode::Permissive),
            _ => None,
        };
        let mls = read_trimmed(&self.path("sys/fs/selinux/mls")).as_deref() != Some("0");
        SelinuxStatus::Enabled { mode, mls }
    }

    fn check_context(&self, context: &str) -> io::Result<()> {
        let node = self.path("sys/fs/selinux/context");
        let mut f = OpenOptions::new().read(true).write(true).open(&node)?;
        // One write of the whole context, NUL-terminated (as libselinux).
        let mut buf = context.as_bytes().to_vec();
        buf.push(0);
        f.write_all(&buf)
    }

    /// The `security.selinux` attribute of `path` under this host's root.
    fn file_label(&self, path: &Path) -> io::Result<String> {
        let p = self.root.join(path.strip_prefix("/").unwrap_or(path));
        // A context is short; the kernel answers ERANGE past the buffer.
        let mut buf = vec![0u8; 4096];
        let n = rustix::fs::lgetxattr(&p, "security.selinux", &mut buf[..])?;
        buf.truncate(n);
        Ok(String::from_utf8_lossy(&buf).trim_end_matches('\0').to_owned())
    }
}

/// How a container is confined beyond the decision itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Confinement {
    /// No Cerro Torre domain is applied (the runtime's defaults hold).
    Unconfined {
        /// Why: SELinux disabled on the host, no module in the bundle, …
        reason: String,
    },
    /// The container runs in its bundle's SELinux domain.
    Domain {
        /// The module (`ct_<package>`).
        module: String,
        /// The process domain type.
        domain: String,
        /// The full process context (OCI `process.selinuxLabel`).
        process_label: String,
        /// The full context of its files (OCI `linux.mountLabel`).
        mount_label: String,
        /// Enforcing or permissive (`null`: unknown).
        mode: Option<SelinuxMode>,
    },
}

impl Confinement {
    /// The short form for messages: `domain ct_x_t` or `unconfined (reason)`.
    pub fn summary(&self) -> String {
        match self {
            Confinement::Unconfined { reason } => format!("unconfined ({reason})"),
            Confinement::Domain { domain, .. } => format!("SELinux domain {domain}"),
        }
    }

    /// Checks labels a runtime already chose (podman's, given to the
    /// hook in the OCI config): in a domain, both must carry the bundle's
    /// types (their level may differ: podman adds MCS categories).
    pub fn check_given(&self, given: &GivenLabels) -> Result<(), EnforceError> {
        let Confinement::Domain {
            module,
            domain,
            mount_label,
            ..
        } = self
        else {
            return Ok(());
        };
        let content = context_type(mount_label).unwrap_or_default();
        let got_process = given.process.as_deref().and_then(context_type);
        let got_mount = given.mount.as_deref().and_then(context_type);
        if got_process == Some(domain.as_str()) && got_mount == Some(content) {
            return Ok(());
        }
        Err(EnforceError::LabelMismatch {
            module: module.clone(),
            domain: domain.clone(),
            content: content.to_owned(),
            process: given.process.clone(),
            mount: given.mount.clone(),
        })
    }
}

/// The type field of a context `user:role:type[:level]`.
pub fn context_type(context: &str) -> Option<&str> {
    context.split(':').nth(2).filter(|t| !t.is_empty())
}

/// SELinux labels a runtime has already chosen for the container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GivenLabels {
    /// `process.selinuxLabel`.
    pub process: Option<String>,
    /// `linux.mountLabel`.
    pub mount: Option<String>,
}

/// The confinement of a container running `bundle` on `host`.
pub fn confinement(bundle: &Verified<Bundle>, host: &dyn SelinuxHost) -> Result<Confinement, EnforceError> {
    confine(&bundle.manifest.package.name, &bundle.selinux, host)
}

/// [`confinement`] from the package name and the bundle's modules
/// (`(selinux/<name>.cil, text)`).
fn confine(package: &str, modules: &[(String, Vec<u8>)], host: &dyn SelinuxHost) -> Result<Confinement, EnforceError> {
    let (mode, mls) = match host.status() {
        SelinuxStatus::Disabled(reason) => return Ok(Confinement::Unconfined { reason }),
        SelinuxStatus::Enabled { mode, mls } => (mode, mls),
    };
    // A package with no module name (over the length limit) cannot carry
    // a module: `ct pack` refuses it, so it is the row "no module".
    let module = match module_name(package) {
        Ok(m) => m,
        Err(e) => {
            return Ok(Confinement::Unconfined {
                reason: format!("the bundle carries no SELinux module ({e})"),
            })
        }
    };
    let path = format!("{SELINUX_PREFIX}{module}.cil");
    let Some((_, cil)) = modules.iter().find(|(p, _)| *p == path) else {
        return Ok(Confinement::Unconfined {
            reason: format!("the bundle carries no SELinux module ({path})"),
        });
    };
    let types = ContainerTypes::of(&module);
    if !types.declared_in(&String::from_utf8_lossy(cil)) {
        return Err(EnforceError::ModuleMalformed {
            path,
            domain: types.domain,
            content: types.content,
        });
    }
    let level = if mls { format!(":{LEVEL}") } else { String::new() };
    let process_label = format!("{PROCESS_USER_ROLE}:{}{level}", types.domain);
    let mount_label = format!("{OBJECT_USER_ROLE}:{}{level}", types.content);
    for label in [&process_label, &mount_label] {
        host.check_context(label)
            .map_err(|source| EnforceError::ModuleNotLoaded {
                module: module.clone(),
                label: label.clone(),
                source,
            })?;
    }
    Ok(Confinement::Domain {
        module,
        domain: types.domain,
        process_label,
        mount_label,
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeSelinux;

    const ENFORCING: SelinuxStatus = SelinuxStatus::Enabled {
        mode: Some(SelinuxMode::Enforcing),
        mls: true,
    };

    fn module() -> Vec<(String, Vec<u8>)> {
        vec![(
            "selinux/ct_hello.cil".into(),
            b"; ct_hello\n(type ct_hello_t)\n(roletype system_r ct_hello_t)\n(type ct_hello_file_t)\n".to_vec(),
        )]
    }

    #[test]
    fn a_package_never_takes_the_domain_of_another_whose_name_differs_in_punctuation() {
        // web-app's module and types, loaded; a bundle of package web.app
        // carrying that module (its module name before names were injective).
        let host = FakeSelinux::enforcing(&["ct_web_app_t", "ct_web_app_file_t"]);
        let theirs = vec![(
            "selinux/ct_web_app.cil".to_owned(),
            b"(type ct_web_app_t)\n(type ct_web_app_file_t)\n".to_vec(),
        )];
        let c = confine("web.app", &theirs, &host).unwrap();
        assert_eq!(
            c,
            Confinement::Unconfined {
                reason: "the bundle carries no SELinux module (selinux/ct_web__d_app.cil)".into()
            }
        );
        assert!(host.checked().is_empty());
        // A name too long for a module has none, rather than a cut one.
        let long = format!("a{}", "b".repeat(61));
        match confine(&long, &theirs, &host).unwrap() {
            Confinement::Unconfined { reason } => assert!(reason.contains("above the limit of 64"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn selinux_off_is_unconfined_with_the_reason_and_checks_nothing() {
        let host = FakeSelinux::disabled();
        let c = confine("hello", &module(), &host).unwrap();
        assert_eq!(
            c,
            Confinement::Unconfined {
                reason: "SELinux is not enabled in this kernel".into()
            }
        );
        assert!(host.checked().is_empty());
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"kind": "unconfined", "reason": "SELinux is not enabled in this kernel"})
        );
    }

    #[test]
    fn selinux_on_with_a_loaded_module_gives_the_exact_labels() {
        let host = FakeSelinux::enforcing(&["ct_hello_t", "ct_hello_file_t"]);
        let c = confine("hello", &module(), &host).unwrap();
        assert_eq!(
            c,
            Confinement::Domain {
                module: "ct_hello".into(),
                domain: "ct_hello_t".into(),
                process_label: "system_u:system_r:ct_hello_t:s0".into(),
                mount_label: "system_u:object_r:ct_hello_file_t:s0".into(),
                mode: Some(SelinuxMode::Enforcing),
            }
        );
        assert_eq!(
            host.checked(),
            [
                "system_u:system_r:ct_hello_t:s0",
                "system_u:object_r:ct_hello_file_t:s0"
            ]
        );
        assert_eq!(serde_json::to_value(&c).unwrap()["kind"], "domain");
        // A policy without MLS: no level.
        let host = FakeSelinux::enforcing(&["ct_hello_t", "ct_hello_file_t"]).with_status(SelinuxStatus::Enabled {
            mode: Some(SelinuxMode::Permissive),
            mls: false,
        });
        let Confinement::Domain {
            process_label, mode, ..
        } = confine("hello", &module(), &host).unwrap()
        else {
            panic!("not a domain")
        };
        assert_eq!(
            (process_label.as_str(), mode),
            ("system_u:system_r:ct_hello_t", Some(SelinuxMode::Permissive))
        );
    }

    #[test]
    fn selinux_on_without_a_module_is_unconfined_and_says_so() {
        let host = FakeSelinux::enforcing(&[]);
        let c = confine("hello", &[], &host).unwrap();
        assert_eq!(
            c,
            Confinement::Unconfined {
                reason: "the bundle carries no SELinux module (selinux/ct_hello.cil)".into()
            }
        );
        // A module for another package is not this package's.
        let c = confine("other", &module(), &host).unwrap();
        assert!(matches!(c, Confinement::Unconfined { .. }), "{c:?}");
    }

    #[test]
    fn selinux_on_with_the_module_not_loaded_refuses_and_names_the_label() {
        let host = FakeSelinux::enforcing(&[]);
        let e = confine("hello", &module(), &host).unwrap_err();
        assert!(
            matches!(e, EnforceError::ModuleNotLoaded { ref label, .. } if label == "system_u:system_r:ct_hello_t:s0")
        );
        let msg = e.to_string();
        assert!(
            msg.starts_with("SELinux module ct_hello is not loaded on this host (the kernel refuses system_u:system_r:ct_hello_t:s0:")
                && msg.ends_with("run `ct selinux install BUNDLE` first"),
            "{msg}"
        );
        assert_eq!(e.exit_code().code(), 78);
        // Only the file type missing (a module of another version): refused too.
        let host = FakeSelinux::enforcing(&["ct_hello_t"]);
        let e = confine("hello", &module(), &host).unwrap_err();
        assert!(e.to_string().contains("system_u:object_r:ct_hello_file_t:s0"), "{e}");
    }

    #[test]
    fn a_module_without_its_types_is_refused() {
        let host = FakeSelinux::enforcing(&["ct_hello_t", "ct_hello_file_t"]);
        let bad = vec![("selinux/ct_hello.cil".to_owned(), b"(type something_else_t)\n".to_vec())];
        let e = confine("hello", &bad, &host).unwrap_err();
        assert_eq!(
            e.to_string(),
            "selinux/ct_hello.cil does not declare the types ct_hello_t and ct_hello_file_t"
        );
        assert!(host.checked().is_empty());
    }

    #[test]
    fn given_labels_must_carry_the_bundle_types() {
        let host = FakeSelinux::enforcing(&["ct_hello_t", "ct_hello_file_t"]);
        let c = confine("hello", &module(), &host).unwrap();
        // podman's labels with MCS categories: the types are what count.
        let podman = GivenLabels {
            process: Some("system_u:system_r:ct_hello_t:s0:c1,c2".into()),
            mount: Some("system_u:object_r:ct_hello_file_t:s0:c1,c2".into()),
        };
        c.check_given(&podman).unwrap();
        let default = GivenLabels {
            process: Some("system_u:system_r:container_t:s0:c1,c2".into()),
            mount: Some("system_u:object_r:container_file_t:s0:c1,c2".into()),
        };
        let msg = c.check_given(&default).unwrap_err().to_string();
        assert_eq!(
            msg,
            "the container's SELinux labels (process system_u:system_r:container_t:s0:c1,c2, mount \
             system_u:object_r:container_file_t:s0:c1,c2) are not the bundle's domain ct_hello_t (module \
             ct_hello): run it with --security-opt label=type:ct_hello_t --security-opt label=filetype:ct_hello_file_t"
        );
        let half = GivenLabels {
            process: podman.process.clone(),
            mount: None,
        };
        assert!(c.check_given(&half).is_err());
        assert!(c.check_given(&GivenLabels::default()).is_err());
        // Unconfined: whatever the runtime chose stands.
        let off = Confinement::Unconfined { reason: "x".into() };
        off.check_given(&default).unwrap();
    }

    #[test]
    fn the_kernel_status_is_read_like_libselinux() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let put = |rel: &str, text: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        let k = KernelSelinux::at(root);
        put("proc/filesystems", "nodev\tsysfs\nnodev\tproc\n\text4\n");
        assert_eq!(
            k.status(),
            SelinuxStatus::Disabled("SELinux is not enabled in this kernel".into())
        );
        put("proc/filesystems", "nodev\tsysfs\nnodev\tselinuxfs\n");
        assert_eq!(
            k.status(),
            SelinuxStatus::Disabled("SELinux is in the kernel but selinuxfs is not mounted on /sys/fs/selinux".into())
        );
        put("sys/fs/selinux/enforce", "1");
        put("sys/fs/selinux/mls", "1");
        put("proc/self/attr/current", "kernel\0");
        assert_eq!(
            k.status(),
            SelinuxStatus::Disabled("SELinux has no policy loaded".into())
        );
        put("proc/self/attr/current", "system_u:system_r:initrc_t:s0\0");
        assert_eq!(k.status(), ENFORCING);
        put("sys/fs/selinux/enforce", "0");
        put("sys/fs/selinux/mls", "0");
        assert_eq!(
            k.status(),
            SelinuxStatus::Enabled {
                mode: Some(SelinuxMode::Permissive),
                mls: false
            }
        );
        // The context check writes the label, NUL-terminated, to selinuxfs.
        put("sys/fs/selinux/context", "");
        k.check_context("system_u:system_r:ct_hello_t:s0").unwrap();
        assert_eq!(
            std::fs::read(root.join("sys/fs/selinux/context")).unwrap(),
            b"system_u:system_r:ct_hello_t:s0\0"
        );
        assert!(KernelSelinux::at(root.join("nowhere")).check_context("x").is_err());
    }

    #[test]
    fn this_host_has_no_selinux() {
        // The machine this project is tested on has no SELinux in its
        // kernel; a host with SELinux skips this.
        if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
            return;
        }
        assert!(matches!(KernelSelinux::default().status(), SelinuxStatus::Disabled(_)));
    }
}
