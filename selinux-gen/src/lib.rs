//! `cerro-selinux`: one SELinux policy module (CIL) per container, generated
//! from the `[capabilities]` its signed manifest declares.
//!
//! The module gives the container a process domain and file types of its
//! own and allows exactly what the capabilities need: the declared ports
//! (by the target policy's port types), the declared host paths, the
//! declared Linux capabilities and devices. `execmem`/`execstack`/`execheap`
//! are forbidden by a `neverallow` unless `exec_memory = true`. No rule names
//! another container's types. Output is deterministic: the same manifest and
//! policy give the same bytes, so the module can be signed in the bundle.
//!
//! Written for the reference policy's conventions (`domain`, `file_type`,
//! `system_r`, `object_r`), as Debian ships it; it does not need Fedora's
//! container-selinux.

pub mod admit;
pub mod cil;
mod generate;
pub mod host;
pub mod image_store;
pub mod suggest;

pub use cerro_core::naming::{module_name, ContainerTypes};
pub use generate::{generate, GeneratedModule};
pub use host::HostPolicy;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum SelinuxError {
    /// A file could not be read.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The target policy lacks something the module needs.
    #[error("target policy: {0}")]
    Policy(String),
    /// A manifest value cannot be expressed (it passed manifest validation
    /// but not the CIL writer's: a bug, refused rather than emitted).
    #[error("cannot express {0} in CIL")]
    Unrepresentable(String),
    /// The package has no module name (not a package name, or one whose
    /// module name would be over the limit: `cerro_core::naming`).
    #[error(transparent)]
    Name(cerro_core::Error),
    /// A verified bundle's SELinux members are not exactly the module
    /// regenerated from its manifest ([`admit::installable`]): what differed.
    #[error("not installable: {0}")]
    NotInstallable(String),
}

impl SelinuxError {
    /// The variant's kind, for the one exit-code table (`cerro_core::Kind::row`).
    pub fn kind(&self) -> cerro_core::Kind {
        match self {
            SelinuxError::Io(..) => cerro_core::Kind::Io,
            SelinuxError::Policy(_) => cerro_core::Kind::TargetPolicy,
            SelinuxError::Unrepresentable(_) => cerro_core::Kind::Unrepresentable,
            SelinuxError::Name(e) => e.kind(),
            SelinuxError::NotInstallable(_) => cerro_core::Kind::NotInstallable,
        }
    }
}

impl From<SelinuxError> for cerro_core::Error {
    fn from(e: SelinuxError) -> Self {
        match e {
            SelinuxError::Io(path, source) => cerro_core::Error::io("reading", path, source),
            SelinuxError::Policy(m) => cerro_core::Error::invalid_config("target policy", m),
            SelinuxError::Unrepresentable(m) => cerro_core::Error::malformed("manifest.toml", m),
            SelinuxError::Name(e) => e,
            SelinuxError::NotInstallable(m) => {
                cerro_core::Error::malformed("bundle", format!("SELinux module not installable: {m}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant keeps its kind (and so its exit code) when it leaves
    /// as a `cerro_core::Error`; the codes are the ones the mapping gave before.
    #[test]
    fn every_selinux_variant_maps_through_the_one_table() {
        let all = [
            SelinuxError::Io("/x".into(), std::io::Error::other("x")),
            SelinuxError::Policy("no type".into()),
            SelinuxError::Unrepresentable("x".into()),
            SelinuxError::Name(cerro_core::Error::malformed("manifest.toml", "name")),
            SelinuxError::NotInstallable("x".into()),
        ];
        let mut codes = Vec::new();
        for e in all {
            let kind = e.kind();
            let core = cerro_core::Error::from(e);
            assert_eq!(core.exit_code(), kind.exit_code(), "{core}");
            codes.push(core.exit_code().code());
        }
        assert_eq!(codes, [11, 78, 10, 10, 10]);
    }
}
