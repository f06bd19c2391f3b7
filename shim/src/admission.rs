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

use cerro_enforce::{Admission, Confinement, KernelSelinux, RuntimeConfig, SelinuxHost};

use crate::backend::Mount;
use crate::confine::{label_config_from, label_rootfs};
use crate::containerd::{ContainerImage, ImageSource};
use crate::error::ShimError;
use crate::settings::{read_config, Settings};
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
    pub fn decide(&self, settings: &Settings, task: &CreateTask, spec: &RuntimeConfig) -> Decision {
        let id = task.id.as_str();
        let explicit = spec.annotations.get(BUNDLE_ANNOTATION).map(PathBuf::from);
        let found = self.images.image_of(id).and_then(|image| {
            bind_rootfs(task, spec, &image).map_err(|message| ShimError::Containerd {
                call: format!("Tasks/Create {id}"),
                message,
            })?;
            Ok(image)
        });
        // The host service over this task's configuration, with the one clock.
        let host = cerro_enforce::Host::with_system_clock(settings.enforce.clone());
        match found {
            Ok(image) => verify_image_on(
                &*self.selinux,
                &host,
                Some(id),
                &image.digests,
                explicit.as_deref(),
                None,
                image.chain.as_ref(),
            ),
            Err(e) => {
                log::warn!("container {id}: {e}");
                let e = e.to_string();
                verify_image_on(&*self.selinux, &host, Some(id), &[], None, Some(&e), None)
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
        let spec = read_config(&req.bundle)?;
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
        for_container(admission, &req.id)?;
        if admission.audit_override() {
            log::warn!("container {}: {}", req.id, d.reason);
        }
        let c = admission.confinement();
        label_config_from(&req.bundle, spec.bytes(), admission)?;
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

/// The admission must be for the task being created: a decision taken for
/// another container (a cached or misrouted one) does not let this one
/// start. `decide` names the container it was asked about; only an
/// admission that names `id` is accepted.
fn for_container(admission: &Admission, id: &str) -> Result<(), ShimError> {
    if admission.container() == Some(id) {
        return Ok(());
    }
    Err(ShimError::Refused {
        container: id.to_owned(),
        check: "admission",
        exit_code: cerro_core::ExitCode::PolicyRejection.code(),
        reason: format!(
            "the admission is for container {:?}, not {id:?}",
            admission.container().unwrap_or("(none)")
        ),
    })
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
pub fn bind_rootfs(task: &CreateTask, spec: &RuntimeConfig, image: &ContainerImage) -> Result<(), String> {
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
    let label = spec.labels.mount.as_ref().map(|l| format!("context=\"{l}\""));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use cerro_core::digest::Digest;
    use cerro_enforce::testing::FakeSelinux;

    #[test]
    fn an_admission_for_another_container_does_not_create_this_one() {
        // `Admission::for_tests` names no container, as one decided for
        // some other request would not name this one.
        let a = cerro_enforce::Admission::for_tests(Confinement::Unconfined { reason: "test".into() });
        match for_container(&a, "c1") {
            Err(ShimError::Refused {
                container,
                check,
                exit_code,
                reason,
            }) => {
                assert_eq!((container.as_str(), check, exit_code), ("c1", "admission", 4));
                assert!(reason.contains("not \"c1\""), "{reason}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_snapshot_of_an_attested_image_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let image = attested(dir.path());
        let (d, backend, tasks, req) = setup_in(dir, Images(Ok(vec![image])), "enforce");
        let tasks = tasks.with_selinux(Box::new(FakeSelinux::disabled()));
        tasks.create(req).unwrap();
        assert_eq!(*backend.calls.lock().unwrap(), ["create c1"]);
        assert_eq!(*backend.rootfs.lock().unwrap(), overlay());
        assert_eq!(audit(d.path())[0]["verified"], true);
    }

    #[test]
    fn a_root_file_system_other_than_the_snapshot_is_refused() {
        // A bind mount of a directory of the client's choosing.
        let (msg, record) = refused_create(|r| {
            r.rootfs = vec![Mount {
                fs_type: "bind".into(),
                source: "/evil".into(),
                options: vec!["rbind".into(), "rw".into()],
            }]
        });
        let want = "root file system mount 1 of the create request (bind /evil rbind,rw) is not the container's \
                    snapshot overlayfs/c1 (overlay overlay lowerdir=/l)";
        assert!(msg.contains("missing_attestation") && msg.contains(want), "{msg}");
        assert!(record["reason"].as_str().unwrap().contains(want), "{record}");
        // Another lower directory; an option more; a mount more.
        for (rootfs, want) in [
            (
                vec![Mount {
                    options: vec!["lowerdir=/evil".into()],
                    ..overlay()[0].clone()
                }],
                "(overlay overlay lowerdir=/evil) is not the container's snapshot",
            ),
            (
                vec![Mount {
                    options: vec!["lowerdir=/l".into(), "upperdir=/evil".into()],
                    ..overlay()[0].clone()
                }],
                "(overlay overlay lowerdir=/l,upperdir=/evil) is not",
            ),
            (
                [overlay(), overlay()].concat(),
                "the create request has 2 root file system mount(s), the container's snapshot overlayfs/c1 has 1",
            ),
        ] {
            let (msg, _) = refused_create(|r| r.rootfs = rootfs);
            assert!(msg.contains(want), "{msg}");
        }
    }

    #[test]
    fn no_root_file_system_mounts_is_refused_in_enforce_mode() {
        let (msg, _) = refused_create(|r| r.rootfs.clear());
        assert!(
            msg.contains(
                "the create request has no root file system mounts, so <bundle>/rootfs would be used as it is"
            ),
            "{msg}"
        );
    }

    #[test]
    fn a_root_path_other_than_the_bundles_rootfs_is_refused() {
        for (spec, want) in [
            (
                r#"{"ociVersion":"1.0.2","root":{"path":"/evil"}}"#,
                "config.json's root.path is \"/evil\", not the bundle's \"rootfs\"",
            ),
            (
                r#"{"ociVersion":"1.0.2","root":{"path":"../other/rootfs"}}"#,
                "root.path is \"../other/rootfs\"",
            ),
            (r#"{"ociVersion":"1.0.2"}"#, "config.json has no root.path"),
        ] {
            let (msg, _) = refused_create(|r| std::fs::write(r.bundle.join("config.json"), spec).unwrap());
            assert!(msg.contains(want), "{msg}");
        }
        // The bundle's rootfs by its absolute path is the same directory.
        let dir = tempfile::tempdir().unwrap();
        let image = attested(dir.path());
        let (_d, _backend, tasks, req) = setup_in(dir, Images(Ok(vec![image])), "enforce");
        let tasks = tasks.with_selinux(Box::new(FakeSelinux::disabled()));
        let abs = req.bundle.join("rootfs").display().to_string();
        std::fs::write(
            req.bundle.join("config.json"),
            serde_json::json!({"ociVersion": "1.0.2", "root": {"path": abs}}).to_string(),
        )
        .unwrap();
        tasks.create(req).unwrap();
    }

    #[test]
    fn the_mount_label_containerd_appends_is_accepted_and_nothing_else() {
        let label = "system_u:object_r:container_file_t:s0:c1,c2";
        let spec = serde_json::json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                                      "linux": {"mountLabel": label}})
        .to_string();
        let labelled = |l: &str| {
            let mut m = overlay();
            m[0].options.push(format!("context=\"{l}\""));
            m
        };
        // What containerd's client sends with that spec.
        let dir = tempfile::tempdir().unwrap();
        let image = attested(dir.path());
        let (_d, backend, tasks, mut req) = setup_in(dir, Images(Ok(vec![image])), "enforce");
        let tasks = tasks.with_selinux(Box::new(FakeSelinux::disabled()));
        std::fs::write(req.bundle.join("config.json"), &spec).unwrap();
        req.rootfs = labelled(label);
        tasks.create(req).unwrap();
        assert_eq!(*backend.rootfs.lock().unwrap(), labelled(label));
        // Another label, or a label the spec does not have: refused.
        let (msg, _) = refused_create(|r| {
            std::fs::write(r.bundle.join("config.json"), &spec).unwrap();
            r.rootfs = labelled("system_u:object_r:etc_t:s0");
        });
        assert!(msg.contains("is not the container's snapshot"), "{msg}");
        let (msg, _) = refused_create(|r| r.rootfs = labelled(label));
        assert!(msg.contains("is not the container's snapshot"), "{msg}");
    }

    #[test]
    fn in_audit_mode_a_root_file_system_that_is_not_the_snapshot_runs_and_is_recorded() {
        let (dir, backend, tasks, mut req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        req.rootfs.clear();
        tasks.create(req).unwrap();
        assert_eq!(*backend.calls.lock().unwrap(), ["create c1"]);
        let log = audit(dir.path());
        assert_eq!(
            (log[0]["allowed"].as_bool(), log[0]["verified"].as_bool()),
            (Some(true), Some(false))
        );
        assert!(
            log[0]["reason"]
                .as_str()
                .unwrap()
                .contains("no root file system mounts"),
            "{}",
            log[0]
        );
    }

    #[test]
    fn with_selinux_the_container_gets_its_bundle_domain() {
        let dir = tempfile::tempdir().unwrap();
        let image = attested(dir.path());
        let (d, backend, tasks, mut req) = setup_in(dir, Images(Ok(vec![image])), "enforce");
        let tasks = tasks.with_selinux(Box::new(FakeSelinux::with_modules(&["ct_hello"])));
        req.rootfs = overlay();
        let bundle = req.bundle.clone();
        tasks.create(req).unwrap();
        let spec = spec_of(&bundle);
        assert_eq!(spec["process"]["selinuxLabel"], "system_u:system_r:ct_hello_t:s0");
        assert!(spec["linux"].get("mountLabel").is_none(), "{spec}");
        assert_eq!(
            backend.rootfs.lock().unwrap()[0].options,
            ["lowerdir=/l", "context=\"system_u:object_r:ct_hello_file_t:s0\""]
        );
        let log = audit(d.path());
        assert_eq!(log[0]["confinement"]["kind"], "domain");
        assert_eq!(log[0]["confinement"]["domain"], "ct_hello_t");
    }

    /// containerd's answer, after `config.json` was changed behind the
    /// decision's back (between the read it was decided on and the act).
    struct Rewriting(PathBuf, Digest);
    impl ImageSource for Rewriting {
        fn image_of(&self, id: &str) -> Result<ContainerImage, ShimError> {
            std::fs::write(&self.0, r#"{"ociVersion":"1.0.2","root":{"path":"/evil"}}"#).unwrap();
            Images(Ok(vec![self.1])).image_of(id)
        }
    }

    #[test]
    fn the_config_decided_on_is_the_config_labelled() {
        let dir = tempfile::tempdir().unwrap();
        let image = attested(dir.path());
        let config = dir.path().join("bundle/config.json");
        let (_d, backend, tasks, req) = setup_with(dir, Box::new(Rewriting(config.clone(), image)), "enforce");
        let tasks = tasks.with_selinux(Box::new(FakeSelinux::with_modules(&["ct_hello"])));
        tasks.create(req).unwrap();
        assert_eq!(*backend.calls.lock().unwrap(), ["create c1"]);
        // The spec read once, with the labels: not the rewrite.
        let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        assert_eq!(spec["root"]["path"], "rootfs");
        assert_eq!(spec["process"]["selinuxLabel"], "system_u:system_r:ct_hello_t:s0");
    }

    #[test]
    fn with_selinux_a_module_not_loaded_refuses_before_anything_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let image = attested(dir.path());
        let (_d, backend, tasks, req) = setup_in(dir, Images(Ok(vec![image])), "enforce");
        let tasks = tasks.with_selinux(Box::new(FakeSelinux::with_modules(&[])));
        let bundle = req.bundle.clone();
        let msg = tasks.create(req).unwrap_err().to_string();
        assert!(
            msg.starts_with(
                "cerro-torre refused container c1 (confinement, exit 78): SELinux module ct_hello is not loaded"
            ) && msg.contains("ct selinux install BUNDLE"),
            "{msg}"
        );
        assert!(backend.calls.lock().unwrap().is_empty());
        assert!(spec_of(&bundle)["process"].is_null());
    }

    #[test]
    fn without_selinux_the_spec_gets_no_labels_and_the_record_says_unconfined() {
        let dir = tempfile::tempdir().unwrap();
        let image = attested(dir.path());
        let (d, backend, tasks, mut req) = setup_in(dir, Images(Ok(vec![image])), "enforce");
        let tasks = tasks.with_selinux(Box::new(FakeSelinux::disabled()));
        req.rootfs = overlay();
        let bundle = req.bundle.clone();
        tasks.create(req).unwrap();
        let spec = spec_of(&bundle);
        assert!(spec["process"]["selinuxLabel"].is_null() && spec["linux"]["mountLabel"].is_null());
        assert_eq!(*backend.rootfs.lock().unwrap(), overlay());
        assert_eq!(
            audit(d.path())[0]["confinement"],
            serde_json::json!({"kind": "unconfined", "reason": "SELinux is not enabled in this kernel"})
        );
    }

    #[test]
    fn an_image_without_a_bundle_is_refused_before_anything_is_created() {
        let (dir, backend, tasks, req) = setup(Images(Ok(vec![Digest::of(b"m")])), "enforce");
        let e = tasks.create(req).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("missing_attestation") && msg.contains("no bundle in the store"),
            "{msg}"
        );
        assert!(backend.calls.lock().unwrap().is_empty());
        assert!(tasks.is_empty());
        let log = audit(dir.path());
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["component"], "shim");
        assert_eq!(log[0]["container"], "c1");
        assert_eq!(log[0]["allowed"], false);
    }

    #[test]
    fn an_unknown_image_is_refused_and_says_why() {
        let (dir, backend, tasks, req) = setup(Images(Err("NotFound: container \"c1\" not found".into())), "enforce");
        let msg = tasks.create(req).unwrap_err().to_string();
        assert!(msg.contains("cannot tell which image the container runs"), "{msg}");
        assert!(msg.contains("not found"), "{msg}");
        assert!(backend.calls.lock().unwrap().is_empty());
        let record = &audit(dir.path())[0];
        assert_eq!(record["images"], serde_json::json!([]));
        // The audit record says why, not only the shim's error.
        assert!(
            record["reason"]
                .as_str()
                .unwrap()
                .contains("container \"c1\" not found"),
            "{record}"
        );
    }

    #[test]
    fn an_explicit_bundle_does_not_stand_in_for_an_unknown_image() {
        let (_dir, backend, tasks, req) = setup(Images(Err("no image".into())), "enforce");
        std::fs::write(
            req.bundle.join("config.json"),
            r#"{"ociVersion":"1.0.2","annotations":{"io.cerro.bundle":"/some/bundle.ctp"}}"#,
        )
        .unwrap();
        let msg = tasks.create(req).unwrap_err().to_string();
        assert!(msg.contains("no bundle in the store"), "{msg}");
        assert!(backend.calls.lock().unwrap().is_empty());
    }
}
