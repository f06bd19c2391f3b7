//! `cerro-shim`: the containerd shim v2 `containerd-shim-cerro-v1`
//! (runtime type `io.cerro.v1`), and the library other runtimes link to
//! take the same decision.
//!
//! The shim refuses to create a container unless the image it runs is
//! attested: at every task create it asks containerd which image the
//! container was made from (and checks that the container's snapshot was
//! made from that image's layers and that the task mounts that snapshot and
//! nothing else), then calls [`decide`] — the one
//! decision of Cerro Torre, shared with the podman hook — which finds the
//! bundle filed for that image digest in the bundle store, verifies it now
//! against the current trust store and policy, and appends the decision to
//! the audit log. Only an allowed container reaches the OCI runtime
//! (`cerro-runtime`, on youki's libcontainer), and when the host has
//! SELinux it reaches it in its bundle's domain: the decision's labels go
//! into the task's OCI config and root file system mount (`confine.rs`),
//! and the runtime sets the process label at exec. What this crate does not do:
//! verify anything itself, or run libcontainer in its own multi-threaded
//! process.
//!
//! # For other runtimes
//!
//! A runtime that knows the manifest digest of the image it is about to
//! run calls [`verify_image`] (or [`decide`] with its own component name):
//!
//! ```no_run
//! use cerro_shim::{verify_image, Config, Digest};
//!
//! let cfg = Config::for_daemon(|k| std::env::var_os(k)).expect("configuration");
//! let image = Digest::parse("sha256:56166f0806c78c9c254e29961a6e7ab2737905c070e659ca64c7d3e137d6a4b9").unwrap();
//! let d = verify_image(&cfg, Some("container-1"), &[image], None);
//! if !d.allowed {
//!     eprintln!("refused ({}): {}", d.check.unwrap_or("?"), d.reason);
//! }
//! ```
//!
//! The task service itself is [`TaskService`] (via [`Service`], the
//! `containerd-shim` `Shim`); [`run`] is the binary's whole `main`.
//!
//! # Layout
//! Cut along containerd's seams, as its runc shim (`rust-extensions`
//! `crates/runc-shim`: `service.rs`, `task.rs`, `container.rs`,
//! `processes.rs`), plus the admission it does not have:
//! - `service.rs` (+ `service/metrics.rs`): the ttrpc service, the
//!   `containerd-shim` 0.11 `Shim` and `Task` traits (task API v2, what
//!   containerd 1.6 and 1.7 speak) as conversions around `task.rs`.
//! - `task.rs`: the task table and the lifecycle of its processes (init
//!   and execs) in plain types. Processes exec'd into a running container
//!   are not verified again (the container was, at create).
//! - `admission.rs`: whether a task may be created: settings, the root
//!   file system tied to the image's snapshot (`bind_rootfs`), the one
//!   decision; its `Admission` is what the backend takes.
//! - `create.rs`: where a create runs: the decision and the backend's
//!   create together (`decide_and_create`), in a short-lived child of the
//!   task server (`decide-and-create`), so the long-lived server never
//!   maps the verification.
//! - `backend.rs`: the container backend (the `cerro-runtime` binary).
//! - `containerd.rs`: the client of containerd's API: which image a
//!   container runs and its snapshot (the OCI documents are read by
//!   `cerro_core::image`'s strict reader).
//! - `exec.rs`: an exec request's checks (exec id, process spec).
//! - `console.rs`: terminals: the pty master from the runtime's console
//!   socket, copied to and from the task's FIFOs, resized.
//! - `confine.rs`: the decision's SELinux labels into the OCI config and
//!   the root file system's mount options.
//! - `cgroup.rs`: a container's cgroup, found and read for its metrics
//!   (v1 and v2).
//! - `settings.rs`: configuration from the environment and runtime options.
//! - `host.rs`: the shim's side effects on the host (root file system
//!   mounts, signals to exec'd processes, reads of procfs and cgroupfs)
//!   behind one trait, `Host`, with a recording double for tests.
//! - `testing.rs` (tests only): the fixtures `task.rs` and `admission.rs`
//!   share (a recording backend, containerd's answer, an attested image).

mod admission;
mod backend;
mod cgroup;
mod cgroup_text;
mod confine;
mod console;
mod containerd;
mod create;
mod error;
mod exec;
mod service;

mod host;
mod settings;
mod task;
#[cfg(test)]
mod testing;

use std::path::Path;

pub use admission::bind_rootfs;
pub use backend::{Backend, CommandRuntime, ExecSpec, Mount, PlainSpawner, Spawner, Started, Stdio};
pub use cerro_core::digest::Digest;
pub use cerro_enforce::{
    decide, BundleStore, Config, Confinement, Decision, KernelSelinux, Mode, Request, SelinuxHost,
};
pub use cgroup::{
    BlkioEntry, Cgroup, IoEntry, MemoryEntry, Metrics, Pids, V1Blkio, V1Cpu, V1Memory, V1Metrics, V2Memory, V2Metrics,
};
pub use console::{Console, ConsoleSocket};
pub use containerd::{ContainerImage, Containerd, ImageSource};
pub use create::{decide_and_create, Creation, Made};
pub use error::{ErrorClass, ShimError};
pub use exec::{ExecId, ExecTask};
#[cfg(any(test, feature = "test-util"))]
pub use host::RecordingHost;
pub use host::{Host, SystemHost};
pub use service::{run, Service, TaskService, RUNTIME_ID};
pub use settings::{FileSettings, OptionsTrust, RuntimeBinary, Settings, OPTIONS_DIR_ENV, TRUSTED_OPTIONS_DIRS};
pub use task::{CreateTask, Status, TaskState, Tasks};

/// The component name the shim's decisions carry in the audit log.
pub const COMPONENT: &str = "shim";
/// The OCI annotation that names a bundle explicitly (the bundle format
/// owns the name). It only chooses which bundle is verified: the bundle must
/// still attest the container's image.
pub use cerro_core::naming::BUNDLE_ANNOTATION;

/// Decides, now, whether a container running image `images` (its manifest
/// digest(s)) may start, with `bundle` instead of the store's entry if
/// given; the decision is appended to the audit log. The same function the
/// shim uses ([`decide`] with component `shim`, this host's SELinux): never
/// panics, and any doubt refuses in enforce mode. The decision's
/// `confinement` is what the caller must apply (the labels of a
/// [`Confinement::Domain`]).
pub fn verify_image(cfg: &Config, container: Option<&str>, images: &[Digest], bundle: Option<&Path>) -> Decision {
    let host = cerro_enforce::Host::with_system_clock(cfg.clone());
    verify_image_on(&KernelSelinux::default(), &host, container, images, bundle, None, None)
}

/// [`verify_image`] on `host` (its configuration and its clock: the system
/// clock, `cerro_core::clock::unix_now`, read once here), with the host's
/// SELinux given (tests substitute it).
fn verify_image_on(
    selinux: &dyn SelinuxHost,
    host: &cerro_enforce::Host,
    container: Option<&str>,
    images: &[Digest],
    bundle: Option<&Path>,
    lookup_error: Option<&str>,
    rootfs_chain: Option<&Digest>,
) -> Decision {
    // A clock that cannot be read refuses (exit 78), never reads as 0.
    let now = match host.now() {
        Ok(n) => n,
        Err(e) => return cerro_enforce::refuse_without_clock(host.config(), COMPONENT, container, images, e),
    };
    host.decide(&Request {
        component: COMPONENT,
        container,
        images,
        bundle,
        now,
        selinux,
        // The shim sets the labels itself, from the decision.
        given_labels: None,
        lookup_error,
        rootfs_chain,
        pull: false,
    })
}
