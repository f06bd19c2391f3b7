//! `cerro-enforce`: whether a container may start, decided the same way by
//! every front end — the containerd shim, the podman hook, and any other
//! runtime that links this crate (Vörðr).
//!
//! The inputs are an image manifest digest (what the container runs) and the
//! host's configuration ([`Config`]: trust store, bundle store, deployment
//! policy, mode). The answer is a [`Decision`], always appended to the audit
//! log as one JSON line. The verification itself is `cerro_core::verify`
//! with a `cerro_policy::DeploymentPolicy`: this crate only finds the bundle
//! that attests the image, works out the container's [`Confinement`] (the
//! bundle's SELinux domain, or why it runs unconfined) and records the
//! outcome. It also holds the one reader of a container's OCI runtime config
//! ([`RuntimeConfig`], `runtime_spec.rs`), which both front ends decide on.
//! Applying the labels is the front end's job (the shim writes
//! them into the OCI config, its runtime sets the exec label; the hook
//! checks podman's); this crate starts nothing and links no runtime.

mod config;
pub mod confinement;
mod decide;
mod error;
mod host;
pub mod runtime_spec;
mod store;
/// Test doubles (`FakeSelinux`), for tests only.
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
mod verdicts;

pub use config::{check_daemon_owned, Config, Layout, Mode, Overrides, SYSTEM_HOME, SYSTEM_STORE};
pub use confinement::{Confinement, GivenLabels, KernelSelinux, SelinuxHost, SelinuxMode, SelinuxStatus};
pub use decide::{decide, preview, refuse_without_clock, Admission, Decision, Request, NO_POLICY};
pub use error::EnforceError;
pub use host::{read_bundle, Checked, Clock, Host};
pub use runtime_spec::RuntimeConfig;
pub use store::{BundleStore, Rollback, StoredBundle};
pub use verdicts::Blobs;
