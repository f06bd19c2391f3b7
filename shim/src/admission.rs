//! Admission: whether a task may be created, and in what confinement —
//! everything `Tasks/Create` does before the backend is called, apart from
//! the task table (`task.rs`) and the backend (`backend.rs`). containerd's
//! runc shim has no such step; it is where this shim differs from it.
//!
//! [`Admitter::admit`] resolves the task's settings (runtime options over
//! the environment), reads the bundle's `config.json`, asks containerd
//! which image the container runs, ties the task's root file system to
//! that image's snapshot ([`bind_rootfs`]), then takes the one decision
//! (`verify_image_on`, i.e. `cerro_enforce::decide`). Only an allowed task
//! gets an [`Admitted`]: the decision's [`Admission`] (the proof the
//! backend's `Spec` requires), with the decision's SELinux labels already
//! written into `config.json` and put on the root file system's mounts.
//!
//! The decision is about the image, so the shim first ties what it will
//! run to it ([`bind_rootfs`]): the root file system mounts of the create
//! request must be the container's snapshot's (`Snapshots/Mounts`, plus
//! the `context=` mount label containerd's client appends), there must be
//! some (none would leave `<bundle>/rootfs` as it is), and `config.json`'s
//! `root.path` must be that `rootfs` directory (libcontainer would take an
//! absolute path anywhere). Any mismatch is decided as an image that
//! cannot be found: refused in enforce mode, audited in both.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cerro_enforce::{Admission, Confinement, KernelSelinux, SelinuxHost};

use crate::backend::Mount;
use crate::confine::{label_config_from, label_rootfs};
use crate::containerd::{ContainerImage, ImageSource};
use crate::error::ShimError;
use crate::settings::{read_config, BundleSpec, Settings};
use crate::task::CreateTask;
use crate::{verify_image_on, Decision, BUNDLE_ANNOTATION};

/// The environment lookup the settings fall back to.
pub type Env = Box<dyn Fn(&str) -> Option<OsString> + Send + Sync>;

/// The host's SELinux, shared by the task threads.
pub type Selinux = Box<dyn SelinuxHost + Send + Sync>;

/// What an allowed create hands on to the task table and the backend.
#[derive(Debug)]
pub struct Admitted {
    /// The task's settings (its runtime binary among them).
    pub settings: Settings,
    /// The decision's proof that the container may start, and its
    /// confinement.
    pub admission: Admission,
    /// The root file system's mounts, with the domain's mount label.
    pub rootfs: Vec<Mount>,
    /// The SELinux domain's process label (`None`: unconfined); the
    /// container's execs run in it too.
    pub process_label: Option<String>,
}

/// Decides whether tasks may be created: where images are looked up, the
/// environment the settings fall back to, and the host's SELinux.
pub struct Admitter {
    images: Box<dyn ImageSource>,
    env: Env,
    selinux: Selinux,
}

impl std::fmt::Debug for Admitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admitter").finish_non_exhaustive()
    }
}

impl Admitter {
    /// Images from `images`, settings not given by runtime options from
    /// `env`, this host's SELinux.
    pub fn new(images: Box<dyn ImageSource>, env: Env) -> Self {
        Admitter {
            images,
            env,
            selinux: Box::new(KernelSelinux::default()),
        }
    }

    /// The same, on a host whose SELinux is `selinux` (tests).
    pub fn set_selinux(&mut self, selinux: Selinux) {
        self.selinux = selinux;
    }

    /// The decision for the task `task` (its bundle's spec `spec`): its
    /// image from containerd, the task's root file system tied to that
    /// image's snapshot ([`bind_rootfs`]), then `cerro_enforce::decide`. An
    /// image that cannot be found or a root file system that is not its
    /// snapshot is decided with no image and no bundle, which refuses (and
    /// is audited).
    pub fn decide(&self, settings: &Settings, task: &CreateTask, spec: &BundleSpec) -> Decision {
        let id = task.id.as_str();
        let explicit = spec.annotations.get(BUNDLE_ANNOTATION).map(PathBuf::from);
        let found = self.images.image_of(id).and_then(|image| {
            bind_rootfs(task, spec, &image).map_err(|message| ShimError::Containerd {
                call: format!("Tasks/Create {id}"),
                message,
            })?;
            Ok(image)
        });
        match found {
            Ok(image) => verify_image_on(
                &*self.selinux,
                &settings.enforce,
                Some(id),
                &image.digests,
                explicit.as_deref(),
                None,
                image.chain.as_ref(),
            ),
            Err(e) => {
                log::warn!("container {id}: {e}");
                let e = e.to_string();
                verify_image_on(&*self.selinux, &settings.enforce, Some(id), &[], None, Some(&e), None)
            }
        }
    }

    /// Decides on `req` (its `config.json` read once); if allowed, writes
    /// the decision's labels into that `config.json` and returns what the
    /// backend needs. A refusal is
    /// [`ShimError::Refused`] (nothing was changed but the audit log).
    pub fn admit(&self, req: &CreateTask) -> Result<Admitted, ShimError> {
        let settings = Settings::resolve(&req.options, &self.env)?;
        // config.json is read once: what is decided on is what is labelled
        // and handed to the runtime.
        let config = read_config(&req.bundle)?;
        let spec = BundleSpec::parse(&req.bundle.join("config.json"), &config)?;
        let d = self.decide(&settings, req, &spec);
        // The act takes the decision's proof: no admission, no container.
        let Some(admission) = d.admission() else {
            return Err(ShimError::Refused {
                container: req.id.clone(),
                check: d.check.unwrap_or("unknown"),
                exit_code: d.exit_code,
                reason: d.reason,
            });
        };
        if admission.audit_override() {
            log::warn!("container {}: {}", req.id, d.reason);
        }
        let c = admission.confinement();
        label_config_from(&req.bundle, &config, admission)?;
        let rootfs = label_rootfs(&req.rootfs, c);
        let process_label = match c {
            Confinement::Domain { process_label, .. } => Some(process_label.clone()),
            _ => None,
        };
        Ok(Admitted {
            settings,
            admission: admission.clone(),
            rootfs,
            process_label,
        })
    }
}

/// Ties what task `task` would run to the container's image: its
/// `config.json` takes the root file system from the bundle's `rootfs`
/// directory, and the create request mounts exactly the mounts of the
/// container's snapshot there (`image.rootfs`, from containerd's
/// snapshotter, in order: type, source and options). The one difference
/// allowed is the one containerd's client makes: when the spec has a
/// `linux.mountLabel`, it appends `context="<label>"` to each mount's
/// options. An empty request is refused too: the runtime would then use
/// whatever `<bundle>/rootfs` holds. The error says what differs.
pub fn bind_rootfs(task: &CreateTask, spec: &BundleSpec, image: &ContainerImage) -> Result<(), String> {
    match spec.root_path.as_deref() {
        Some("rootfs") => {}
        Some(p) if Path::new(p) == task.bundle.join("rootfs") => {}
        Some(p) => {
            let why = "only that directory is tied to the image";
            return Err(format!(
                "config.json's root.path is {p:?}, not the bundle's \"rootfs\": {why}"
            ));
        }
        None => return Err("config.json has no root.path".into()),
    }
    if task.rootfs.is_empty() {
        return Err(format!(
            "the create request has no root file system mounts, so <bundle>/rootfs would be used as it is \
             instead of the container's snapshot {}",
            image.snapshot
        ));
    }
    if task.rootfs.len() != image.rootfs.len() {
        return Err(format!(
            "the create request has {} root file system mount(s), the container's snapshot {} has {}",
            task.rootfs.len(),
            image.snapshot,
            image.rootfs.len()
        ));
    }
    let label = spec.mount_label.as_ref().map(|l| format!("context=\"{l}\""));
    for (i, (got, want)) in task.rootfs.iter().zip(&image.rootfs).enumerate() {
        let mut options = got.options.as_slice();
        if let (Some(l), Some((last, rest))) = (&label, options.split_last()) {
            if last == l {
                options = rest;
            }
        }
        if got.fs_type != want.fs_type || got.source != want.source || options != want.options.as_slice() {
            return Err(format!(
                "root file system mount {} of the create request ({}) is not the container's snapshot {} ({})",
                i + 1,
                show_mount(got),
                image.snapshot,
                show_mount(want)
            ));
        }
    }
    Ok(())
}

/// One mount, for a message.
fn show_mount(m: &Mount) -> String {
    format!("{} {} {}", m.fs_type, m.source, m.options.join(","))
}
