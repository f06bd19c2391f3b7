//! The one error type of `cerro-enforce`. A refused image is a
//! [`crate::Decision`], not an error: these are the failures behind a
//! refusal (the core's, a bundle that cannot be confined) and the host
//! configuration's. Every variant names its [`Kind`], whose row in the one
//! table (`cerro_core::Kind::row`) gives the exit code and the audit check.

use std::path::PathBuf;

use cerro_core::{ExitCode, Kind};

/// Everything that can go wrong in `cerro-enforce`.
#[derive(Debug, thiserror::Error)]
pub enum EnforceError {
    /// From the core (I/O with context, malformed bundle, verification,
    /// configuration values).
    #[error(transparent)]
    Core(#[from] cerro_core::Error),
    /// From the policy engine.
    #[error(transparent)]
    Policy(#[from] cerro_policy::PolicyError),
    /// A daemon's trust root, policy or store that another user can change.
    #[error("{} {reason}", path.display())]
    UnsafeOwnership {
        /// The path.
        path: PathBuf,
        /// Whose it is, what to do (one sentence, after the path).
        reason: String,
    },

    /// The bundle's module is not in the host's policy.
    #[error(
        "SELinux module {module} is not loaded on this host (the kernel refuses {label}: {source}); \
         run `ct selinux install BUNDLE` first"
    )]
    ModuleNotLoaded {
        /// The module.
        module: String,
        /// The label the kernel refused.
        label: String,
        /// Its answer.
        #[source]
        source: std::io::Error,
    },
    /// The module does not declare the types its name promises.
    #[error("{path} does not declare the types {domain} and {content}")]
    ModuleMalformed {
        /// The member.
        path: String,
        /// The domain it should declare.
        domain: String,
        /// The content type it should declare.
        content: String,
    },
    /// The runtime chose other labels than the bundle's domain.
    #[error(
        "the container's SELinux labels (process {}, mount {}) are not the bundle's domain {domain} \
         (module {module}): run it with --security-opt label=type:{domain} --security-opt label=filetype:{content}",
        .process.as_deref().unwrap_or("none"),
        .mount.as_deref().unwrap_or("none")
    )]
    LabelMismatch {
        /// The module.
        module: String,
        /// Its domain.
        domain: String,
        /// Its content type.
        content: String,
        /// The process label given.
        process: Option<String>,
        /// The mount label given.
        mount: Option<String>,
    },
}

impl EnforceError {
    /// The variant's kind (no wildcard: a new variant must be named).
    pub fn kind(&self) -> Kind {
        match self {
            EnforceError::Core(e) => e.kind(),
            EnforceError::Policy(e) => e.kind(),
            EnforceError::UnsafeOwnership { .. } => Kind::UnsafeOwnership,
            EnforceError::ModuleNotLoaded { .. } => Kind::ModuleNotLoaded,
            EnforceError::ModuleMalformed { .. } => Kind::ModuleMalformed,
            EnforceError::LabelMismatch { .. } => Kind::LabelMismatch,
        }
    }

    /// The documented exit code, from the one table.
    pub fn exit_code(&self) -> ExitCode {
        self.kind().exit_code()
    }

    /// The check named in audit records (`confinement` for the bundle's domain).
    pub fn check(&self) -> &'static str {
        self.kind().check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant through the one table, with the codes and audit checks
    /// the three types this enum replaced gave (EnforceError: 78 for policy
    /// and configuration; ConfinementError: 78, check `confinement`).
    #[test]
    fn every_enforce_variant_maps_through_the_one_table_as_before() {
        let all = [
            EnforceError::Core(cerro_core::Error::malformed("x", "y")),
            EnforceError::Policy(cerro_policy::PolicyError::Invalid {
                source_name: "p".into(),
                reason: "r".into(),
            }),
            EnforceError::UnsafeOwnership {
                path: "/etc/cerro-torre".into(),
                reason: "is owned by uid 1000".into(),
            },
            EnforceError::ModuleNotLoaded {
                module: "ct_x".into(),
                label: "l".into(),
                source: std::io::Error::other("no"),
            },
            EnforceError::ModuleMalformed {
                path: "selinux/ct_x.cil".into(),
                domain: "d".into(),
                content: "c".into(),
            },
            EnforceError::LabelMismatch {
                module: "ct_x".into(),
                domain: "d".into(),
                content: "c".into(),
                process: None,
                mount: None,
            },
        ];
        let got: Vec<(u8, &str)> = all.iter().map(|e| (e.exit_code().code(), e.check())).collect();
        assert_eq!(
            got,
            [
                (10, "malformed"),
                (78, "config"),
                (78, "config"),
                (78, "confinement"),
                (78, "confinement"),
                (78, "confinement"),
            ]
        );
        for e in &all {
            assert_eq!(e.exit_code(), e.kind().exit_code());
        }
    }
}
