//! The task logic of the shim, in plain types: what containerd's Task
//! service asks, independent of the `containerd-shim` crate version (the
//! ttrpc adapter is `glue.rs`). One container per shim process in practice,
//! but the map allows several.
//!
//! `create` decides first — find the image from containerd, then one call
//! to the decision — and only an allowed container reaches the backend,
//! with the decision's SELinux labels in its spec and root mount.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::SystemTime;

use cerro_enforce::{KernelSelinux, SelinuxHost};

use crate::confine::{label_config, label_rootfs};
use crate::containerd::ImageSource;
use crate::error::ShimError;
use crate::runtime::{Backend, Mount, Spec, Stdio};
use crate::settings::{spec_annotations, FileSettings, RuntimeBinary, Settings};
use crate::{verify_image_on, Decision, BUNDLE_ANNOTATION};

/// Exit status reported for a container that was killed by delete before
/// its exit was seen (SIGKILL, as runc's shim reports).
const KILLED: u32 = 128 + 9;
/// How many exits of not-yet-registered pids are remembered.
const EARLY_EXITS: usize = 64;

/// A create request.
#[derive(Debug, Clone)]
pub struct CreateTask {
    /// Container id.
    pub id: String,
    /// The OCI bundle directory.
    pub bundle: PathBuf,
    /// The root file system's mounts.
    pub rootfs: Vec<Mount>,
    /// Streams.
    pub stdio: Stdio,
    /// Settings from the runtime options (`ConfigPath`), if any.
    pub options: FileSettings,
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created; its init waits for start.
    Created,
    /// Started.
    Running,
    /// Its init exited.
    Stopped,
}

/// What `state` reports.
#[derive(Debug, Clone)]
pub struct TaskState {
    /// Container id.
    pub id: String,
    /// Bundle.
    pub bundle: PathBuf,
    /// Init pid.
    pub pid: u32,
    /// Status.
    pub status: Status,
    /// Streams.
    pub stdio: Stdio,
    /// Exit status, once stopped.
    pub exit_status: u32,
    /// When it stopped.
    pub exited_at: Option<SystemTime>,
}

#[derive(Debug)]
struct Entry {
    bundle: PathBuf,
    pid: u32,
    status: Status,
    stdio: Stdio,
    exit: Option<(u32, SystemTime)>,
    runtime: RuntimeBinary,
}

impl Entry {
    fn state(&self, id: &str) -> TaskState {
        TaskState {
            id: id.to_owned(),
            bundle: self.bundle.clone(),
            pid: self.pid,
            status: self.status,
            stdio: self.stdio.clone(),
            exit_status: self.exit.map(|e| e.0).unwrap_or(0),
            exited_at: self.exit.map(|e| e.1),
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<String, Entry>,
    /// Exits of pids no entry had yet (an init that died during create).
    early: Vec<(u32, u32, SystemTime)>,
}

/// The environment lookup the settings fall back to.
pub type Env = Box<dyn Fn(&str) -> Option<OsString> + Send + Sync>;

/// The host's SELinux, shared by the task threads.
pub type Selinux = Box<dyn SelinuxHost + Send + Sync>;

/// The tasks of one shim.
pub struct Tasks {
    backend: Box<dyn Backend>,
    images: Box<dyn ImageSource>,
    env: Env,
    selinux: Selinux,
    table: Mutex<Table>,
    changed: Condvar,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

impl Tasks {
    /// Tasks created by `backend`, whose images `images` finds; settings
    /// not given by runtime options come from `env`.
    pub fn new(backend: Box<dyn Backend>, images: Box<dyn ImageSource>, env: Env) -> Self {
        Tasks {
            backend,
            images,
            env,
            selinux: Box::new(KernelSelinux::default()),
            table: Mutex::new(Table::default()),
            changed: Condvar::new(),
        }
    }

    /// The same, on a host whose SELinux is `selinux` (tests).
    pub fn with_selinux(mut self, selinux: Selinux) -> Self {
        self.selinux = selinux;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic elsewhere must not wedge every later request.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The decision for container `id`: its image from containerd, then
    /// `cerro_enforce::decide`. An image that cannot be found is decided
    /// with no image and no bundle, which refuses (and is audited).
    pub fn decide(&self, settings: &Settings, id: &str, explicit: Option<&Path>) -> Decision {
        match self.images.image_of(id) {
            Ok(image) => verify_image_on(
                &*self.selinux,
                &settings.enforce,
                Some(id),
                &image.digests,
                explicit,
                None,
            ),
            Err(e) => {
                log::warn!("container {id}: {e}");
                let e = e.to_string();
                verify_image_on(&*self.selinux, &settings.enforce, Some(id), &[], None, Some(&e))
            }
        }
    }

    /// Decides, and creates the container only if allowed, confined as the
    /// decision says. Returns the init's pid.
    pub fn create(&self, req: CreateTask) -> Result<u32, ShimError> {
        if self.lock().entries.contains_key(&req.id) {
            return Err(ShimError::AlreadyExists(req.id));
        }
        let settings = Settings::resolve(&req.options, &self.env)?;
        let annotations = spec_annotations(&req.bundle)?;
        let explicit = annotations.get(BUNDLE_ANNOTATION).map(PathBuf::from);
        let d = self.decide(&settings, &req.id, explicit.as_deref());
        if !d.allowed {
            return Err(ShimError::Refused {
                container: req.id,
                check: d.check.unwrap_or("unknown"),
                exit_code: d.exit_code,
                reason: d.reason,
            });
        }
        if !d.verified {
            log::warn!("container {}: {}", req.id, d.reason);
        }
        let rootfs = match &d.confinement {
            Some(c) => {
                label_config(&req.bundle, c)?;
                label_rootfs(&req.rootfs, c)
            }
            None => req.rootfs.clone(),
        };
        settings.runtime.write(&req.bundle)?;
        let began = SystemTime::now();
        let pid = self.backend.create(&Spec {
            id: &req.id,
            bundle: &req.bundle,
            rootfs: &rootfs,
            stdio: &req.stdio,
            runtime: &settings.runtime,
        })?;
        let mut t = self.lock();
        let exit = t
            .early
            .iter()
            // Only an exit seen during this create can be this init's: an
            // older one is another process that had the same pid.
            .position(|e| e.0 == pid && e.2 >= began)
            .map(|i| t.early.remove(i))
            .map(|(_, code, at)| (code, at));
        t.entries.insert(
            req.id,
            Entry {
                bundle: req.bundle,
                pid,
                status: if exit.is_some() {
                    Status::Stopped
                } else {
                    Status::Created
                },
                stdio: req.stdio,
                exit,
                runtime: settings.runtime,
            },
        );
        Ok(pid)
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&mut Entry) -> Result<T, ShimError>) -> Result<T, ShimError> {
        let mut t = self.lock();
        let e = t
            .entries
            .get_mut(id)
            .ok_or_else(|| ShimError::NotFound(id.to_owned()))?;
        f(e)
    }

    /// Starts a created container; returns its pid.
    pub fn start(&self, id: &str) -> Result<u32, ShimError> {
        let (rt, pid) = self.with(id, |e| match e.status {
            Status::Created => Ok((e.runtime.clone(), e.pid)),
            s => Err(ShimError::InvalidArgument(format!(
                "container {id} is {s:?}, not created"
            ))),
        })?;
        self.backend.start(&rt, id)?;
        self.with(id, |e| {
            if e.status == Status::Created {
                e.status = Status::Running;
            }
            Ok(())
        })?;
        Ok(pid)
    }

    /// Signals a container; a stopped one is left alone.
    pub fn kill(&self, id: &str, signal: u32, all: bool) -> Result<(), ShimError> {
        let rt = self.with(id, |e| Ok((e.status != Status::Stopped).then(|| e.runtime.clone())))?;
        match rt {
            Some(rt) => self.backend.kill(&rt, id, signal, all),
            None => Ok(()),
        }
    }

    /// Blocks until the container's init exited; its status and time.
    pub fn wait(&self, id: &str) -> Result<(u32, SystemTime), ShimError> {
        let mut t = self.lock();
        loop {
            match t.entries.get(id) {
                None => return Err(ShimError::NotFound(id.to_owned())),
                Some(Entry { exit: Some(x), .. }) => return Ok(*x),
                Some(_) => {}
            }
            t = self.changed.wait(t).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Deletes the container (killing it if needed) and forgets it: its
    /// pid, exit status and exit time.
    pub fn delete(&self, id: &str) -> Result<(u32, u32, SystemTime), ShimError> {
        let (rt, bundle) = self.with(id, |e| Ok((e.runtime.clone(), e.bundle.clone())))?;
        self.backend.delete(&rt, id, &bundle)?;
        let mut t = self.lock();
        let e = t.entries.remove(id).ok_or_else(|| ShimError::NotFound(id.to_owned()))?;
        self.changed.notify_all();
        let (code, at) = e.exit.unwrap_or((KILLED, SystemTime::now()));
        Ok((e.pid, code, at))
    }

    /// The state of a container.
    pub fn state(&self, id: &str) -> Result<TaskState, ShimError> {
        self.with(id, |e| Ok(e.state(id)))
    }

    /// Whether no container is left (the shim may exit).
    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    /// Records that process `pid` exited with `code` (from the reaper).
    /// Returns the container whose init it was, for the exit event.
    pub fn exited(&self, pid: u32, code: u32) -> Option<TaskState> {
        let now = SystemTime::now();
        let mut t = self.lock();
        let found = t.entries.iter_mut().find(|(_, e)| e.pid == pid && e.exit.is_none());
        match found {
            Some((id, e)) => {
                e.exit = Some((code, now));
                e.status = Status::Stopped;
                let s = e.state(id);
                self.changed.notify_all();
                Some(s)
            }
            None => {
                // Perhaps an init whose create has not returned yet; also
                // every runtime command (those pids are never looked up).
                if t.early.len() >= EARLY_EXITS {
                    t.early.remove(0);
                }
                t.early.push((pid, code, now));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containerd::ContainerImage;
    use cerro_core::digest::Digest;
    use std::sync::Arc;

    type Hook = Box<dyn FnOnce() + Send>;

    #[derive(Default)]
    struct FakeBackend {
        calls: Mutex<Vec<String>>,
        /// The root file system mounts create was given.
        rootfs: Mutex<Vec<Mount>>,
        /// Runs inside create (to report an exit while it runs).
        during_create: Mutex<Option<Hook>>,
    }
    impl Backend for Arc<FakeBackend> {
        fn create(&self, s: &Spec<'_>) -> Result<u32, ShimError> {
            self.calls.lock().unwrap().push(format!("create {}", s.id));
            *self.rootfs.lock().unwrap() = s.rootfs.to_vec();
            if let Some(f) = self.during_create.lock().unwrap().take() {
                f();
            }
            Ok(77)
        }
        fn start(&self, _: &RuntimeBinary, id: &str) -> Result<(), ShimError> {
            self.calls.lock().unwrap().push(format!("start {id}"));
            Ok(())
        }
        fn kill(&self, _: &RuntimeBinary, id: &str, sig: u32, _: bool) -> Result<(), ShimError> {
            self.calls.lock().unwrap().push(format!("kill {id} {sig}"));
            Ok(())
        }
        fn delete(&self, _: &RuntimeBinary, id: &str, _: &Path) -> Result<(), ShimError> {
            self.calls.lock().unwrap().push(format!("delete {id}"));
            Ok(())
        }
    }

    struct Images(Result<Vec<Digest>, String>);
    impl ImageSource for Images {
        fn image_of(&self, _: &str) -> Result<ContainerImage, ShimError> {
            match &self.0 {
                Ok(d) => Ok(ContainerImage {
                    name: "docker.io/library/x:1".into(),
                    digests: d.clone(),
                }),
                Err(m) => Err(ShimError::Containerd {
                    call: "Containers/Get c1".into(),
                    message: m.clone(),
                }),
            }
        }
    }

    fn setup(images: Images, mode: &str) -> (tempfile::TempDir, Arc<FakeBackend>, Tasks, CreateTask) {
        setup_in(tempfile::tempdir().unwrap(), images, mode)
    }

    fn setup_in(
        dir: tempfile::TempDir,
        images: Images,
        mode: &str,
    ) -> (tempfile::TempDir, Arc<FakeBackend>, Tasks, CreateTask) {
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(bundle.join("config.json"), r#"{"ociVersion":"1.0.2"}"#).unwrap();
        let backend = Arc::new(FakeBackend::default());
        let vars: Vec<(String, OsString)> = vec![
            ("CERRO_HOME".into(), home.into()),
            ("CERRO_STORE".into(), dir.path().join("store").into()),
            ("CERRO_MODE".into(), mode.into()),
            ("CERRO_RUNTIME".into(), "/nonexistent/rt".into()),
        ];
        let env: Env = Box::new(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()));
        let tasks = Tasks::new(Box::new(backend.clone()), Box::new(images), env);
        let req = CreateTask {
            id: "c1".into(),
            bundle,
            rootfs: Vec::new(),
            stdio: Stdio::default(),
            options: FileSettings::default(),
        };
        (dir, backend, tasks, req)
    }

    /// A host with SELinux whose policy has the types of `loaded` modules;
    /// or, with `None`, a host without SELinux.
    #[derive(Debug)]
    struct Host(Option<&'static [&'static str]>);

    impl SelinuxHost for Host {
        fn status(&self) -> cerro_enforce::SelinuxStatus {
            match self.0 {
                None => cerro_enforce::SelinuxStatus::Disabled("SELinux is not enabled in this kernel".into()),
                Some(_) => cerro_enforce::SelinuxStatus::Enabled {
                    mode: Some(cerro_enforce::SelinuxMode::Enforcing),
                    mls: true,
                },
            }
        }
        fn check_context(&self, context: &str) -> std::io::Result<()> {
            let ty = context.split(':').nth(2).unwrap_or_default();
            match self.0 {
                Some(mods)
                    if mods
                        .iter()
                        .any(|m| ty == format!("{m}_t") || ty == format!("{m}_file_t")) =>
                {
                    Ok(())
                }
                _ => Err(std::io::Error::from_raw_os_error(22)),
            }
        }
    }

    /// Packs an image of package `hello` (with its SELinux module) signed
    /// by a new key in `dir/home`, files it in `dir/store`; its digest.
    fn attested(dir: &Path) -> Digest {
        use cerro_core::image::layout::{basic_config, LayoutBuilder};
        use cerro_core::image::source::SourceImage;
        use cerro_core::manifest::{ImageRef, PackageManifest};
        use cerro_core::trust::home::Home;
        let mut b = LayoutBuilder::new(&dir.join("img")).unwrap();
        b.layer_tar(&[("hello", 0o644, b"hi\n")]).unwrap();
        b.finish(basic_config(&["/hello"]), Some("1")).unwrap();
        let image = SourceImage::open(&format!("oci:{}", dir.join("img").display())).unwrap();
        let home = Home::new(dir.join("home"));
        home.generate_key("k", None).unwrap();
        let key = home.load_signing_key("k", None).unwrap();
        let manifest = PackageManifest::from_draft(
            "[package]\nname = \"hello\"\nversion = \"1\"\n",
            ImageRef {
                digest: image.manifest.digest,
                reference: image.reference.clone(),
            },
        )
        .unwrap();
        let module = cerro_selinux::generate(&manifest, None).unwrap();
        let path = dir.join("hello.ctp");
        cerro_core::pack::PackRequest {
            image: &image,
            manifest: &manifest,
            keys: &[key],
            mtime: 0,
            selinux: &[(module.member_path(), module.cil.into_bytes())],
            extra: &[],
        }
        .write(&mut std::fs::File::create(&path).unwrap())
        .unwrap();
        let trust = home.load_trust().unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let bundle = cerro_core::bundle::read_bundle_file(&f, &mut cerro_core::bundle::NoExtract).unwrap();
        let v = cerro_core::verify::verify(bundle, &trust, &cerro_core::policy::NoPolicy, 1_800_000_000).unwrap();
        crate::BundleStore::new(dir.join("store")).add(&path, &v).unwrap();
        image.manifest.digest
    }

    fn overlay() -> Vec<Mount> {
        vec![Mount {
            fs_type: "overlay".into(),
            source: "overlay".into(),
            options: vec!["lowerdir=/l".into()],
        }]
    }

    fn spec_of(bundle: &Path) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap()
    }

    #[test]
    fn with_selinux_the_container_gets_its_bundle_domain() {
        let dir = tempfile::tempdir().unwrap();
        let image = attested(dir.path());
        let (d, backend, tasks, mut req) = setup_in(dir, Images(Ok(vec![image])), "enforce");
        let tasks = tasks.with_selinux(Box::new(Host(Some(&["ct_hello"]))));
        req.rootfs = overlay();
        let bundle = req.bundle.clone();
        tasks.create(req).unwrap();
        let spec = spec_of(&bundle);
        assert_eq!(spec["process"]["selinuxLabel"], "system_u:system_r:ct_hello_t:s0");
        assert_eq!(spec["linux"]["mountLabel"], "system_u:object_r:ct_hello_file_t:s0");
        assert_eq!(
            backend.rootfs.lock().unwrap()[0].options,
            ["lowerdir=/l", "context=\"system_u:object_r:ct_hello_file_t:s0\""]
        );
        let log = audit(d.path());
        assert_eq!(log[0]["confinement"]["kind"], "domain");
        assert_eq!(log[0]["confinement"]["domain"], "ct_hello_t");
    }

    #[test]
    fn with_selinux_a_module_not_loaded_refuses_before_anything_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let image = attested(dir.path());
        let (_d, backend, tasks, req) = setup_in(dir, Images(Ok(vec![image])), "enforce");
        let tasks = tasks.with_selinux(Box::new(Host(Some(&[]))));
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
        let tasks = tasks.with_selinux(Box::new(Host(None)));
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

    fn audit(dir: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join("store/audit.log"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
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

    #[test]
    fn audit_mode_creates_anyway_and_the_lifecycle_runs() {
        let (dir, backend, tasks, req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        let bundle = req.bundle.clone();
        assert_eq!(tasks.create(req.clone()).unwrap(), 77);
        assert!(matches!(tasks.create(req).unwrap_err(), ShimError::AlreadyExists(_)));
        // The runtime to use at delete is saved in the bundle.
        assert!(RuntimeBinary::read(&bundle).is_some());
        assert_eq!(tasks.state("c1").unwrap().status, Status::Created);
        assert_eq!(tasks.start("c1").unwrap(), 77);
        assert!(tasks.start("c1").is_err());
        assert!(tasks.exited(12345, 0).is_none());
        let s = tasks.exited(77, 3).unwrap();
        assert_eq!((s.id.as_str(), s.status, s.exit_status), ("c1", Status::Stopped, 3));
        assert_eq!(tasks.wait("c1").unwrap().0, 3);
        tasks.kill("c1", 15, false).unwrap(); // stopped: nothing sent
        let (pid, code, _) = tasks.delete("c1").unwrap();
        assert_eq!((pid, code), (77, 3));
        assert!(tasks.is_empty());
        assert!(matches!(tasks.state("c1").unwrap_err(), ShimError::NotFound(_)));
        assert_eq!(*backend.calls.lock().unwrap(), ["create c1", "start c1", "delete c1"]);
        let log = audit(dir.path());
        assert_eq!(log[0]["allowed"], true);
        assert_eq!(log[0]["verified"], false);
    }

    #[test]
    fn wait_returns_when_the_reaper_reports_the_exit() {
        let (_dir, _backend, tasks, req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        tasks.create(req).unwrap();
        tasks.start("c1").unwrap();
        let tasks = Arc::new(tasks);
        let t2 = tasks.clone();
        let waiter = std::thread::spawn(move || t2.wait("c1").unwrap().0);
        std::thread::sleep(std::time::Duration::from_millis(50));
        tasks.exited(77, 137);
        assert_eq!(waiter.join().unwrap(), 137);
    }

    #[test]
    fn an_exit_seen_before_create_returned_is_kept() {
        let (_dir, backend, tasks, req) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        // An exit of the same pid from before the create is another process.
        assert!(tasks.exited(77, 9).is_none());
        assert_eq!(tasks.create(req.clone()).unwrap(), 77);
        assert_eq!(tasks.state("c1").unwrap().status, Status::Created);
        tasks.delete("c1").unwrap();
        drop(backend);
        // One reported while the backend was creating is the init's.
        let (_dir2, backend2, tasks2, req2) = setup(Images(Ok(vec![Digest::of(b"m")])), "audit");
        let tasks2 = Arc::new(tasks2);
        let t = tasks2.clone();
        *backend2.during_create.lock().unwrap() = Some(Box::new(move || {
            t.exited(77, 1);
        }));
        tasks2.create(req2).unwrap();
        let s = tasks2.state("c1").unwrap();
        assert_eq!((s.status, s.exit_status), (Status::Stopped, 1));
    }
}
