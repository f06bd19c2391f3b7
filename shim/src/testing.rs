//! Test fixtures of the task table and the admission (`task.rs`,
//! `admission.rs`): a backend that records its calls, containerd's answer,
//! a bundle directory and environment, an attested image in a store.

use std::ffi::OsString;
use std::path::Path;
use std::sync::{Arc, Mutex};

use cerro_core::digest::Digest;

use crate::admission::Env;
use crate::backend::{Backend, ExecSpec, Mount, Spec, Started, Stdio};
use crate::cgroup::Metrics;
use crate::containerd::{ContainerImage, ImageSource};
use crate::error::ShimError;
use crate::settings::{FileSettings, RuntimeBinary};
use crate::task::{CreateTask, Tasks};

pub(crate) type Hook = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub(crate) struct FakeBackend {
    pub(crate) calls: Mutex<Vec<String>>,
    /// The root file system mounts create was given.
    pub(crate) rootfs: Mutex<Vec<Mount>>,
    /// Runs inside create (to report an exit while it runs).
    pub(crate) during_create: Mutex<Option<Hook>>,
    /// Runs inside exec (to report an exit while it runs).
    pub(crate) during_exec: Mutex<Option<Hook>>,
    /// The error exec returns, if any.
    pub(crate) exec_error: Mutex<Option<String>>,
    /// The process spec the last exec was given.
    pub(crate) exec_spec: Mutex<Vec<u8>>,
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
    fn exec(&self, s: &ExecSpec<'_>) -> Result<Started, ShimError> {
        let args = serde_json::from_slice::<serde_json::Value>(s.process).unwrap()["args"].clone();
        let tty = if s.stdio.terminal { " (terminal)" } else { "" };
        self.calls
            .lock()
            .unwrap()
            .push(format!("exec {} {} {args}{tty}", s.id, s.exec_id));
        *self.exec_spec.lock().unwrap() = s.process.to_vec();
        if let Some(f) = self.during_exec.lock().unwrap().take() {
            f();
        }
        match self.exec_error.lock().unwrap().clone() {
            Some(m) => Err(ShimError::Runtime {
                command: "exec".into(),
                message: m,
            }),
            None => Ok(Started::pid(88)),
        }
    }
    fn signal(&self, pid: u32, sig: u32) -> Result<(), ShimError> {
        self.calls.lock().unwrap().push(format!("signal {pid} {sig}"));
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
    fn pause(&self, _: &RuntimeBinary, id: &str) -> Result<(), ShimError> {
        self.calls.lock().unwrap().push(format!("pause {id}"));
        Ok(())
    }
    fn resume(&self, _: &RuntimeBinary, id: &str) -> Result<(), ShimError> {
        self.calls.lock().unwrap().push(format!("resume {id}"));
        Ok(())
    }
    fn update(&self, _: &RuntimeBinary, id: &str, _: &Path, resources: &[u8]) -> Result<(), ShimError> {
        let r = String::from_utf8_lossy(resources);
        self.calls.lock().unwrap().push(format!("update {id} {r}"));
        Ok(())
    }
    fn stats(&self, pid: u32) -> Result<Metrics, ShimError> {
        self.calls.lock().unwrap().push(format!("stats {pid}"));
        Ok(Metrics::V2(crate::cgroup::V2Metrics {
            pids: Some(crate::cgroup::Pids { current: 1, limit: 0 }),
            ..Default::default()
        }))
    }
}

pub(crate) struct Images(pub(crate) Result<Vec<Digest>, String>);
impl ImageSource for Images {
    fn image_of(&self, _: &str) -> Result<ContainerImage, ShimError> {
        match &self.0 {
            Ok(d) => Ok(ContainerImage {
                name: "docker.io/library/x:1".into(),
                digests: d.clone(),
                snapshot: "overlayfs/c1".into(),
                rootfs: overlay(),
                chain: None,
            }),
            Err(m) => Err(ShimError::Containerd {
                call: "Containers/Get c1".into(),
                message: m.clone(),
            }),
        }
    }
}

/// The spec containerd writes: the root file system in `rootfs`.
pub(crate) const SPEC: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"}}"#;

pub(crate) fn setup(images: Images, mode: &str) -> (tempfile::TempDir, Arc<FakeBackend>, Tasks, CreateTask) {
    setup_in(tempfile::tempdir().unwrap(), images, mode)
}

pub(crate) fn setup_in(
    dir: tempfile::TempDir,
    images: Images,
    mode: &str,
) -> (tempfile::TempDir, Arc<FakeBackend>, Tasks, CreateTask) {
    setup_with(dir, Box::new(images), mode)
}

pub(crate) fn setup_with(
    dir: tempfile::TempDir,
    images: Box<dyn ImageSource>,
    mode: &str,
) -> (tempfile::TempDir, Arc<FakeBackend>, Tasks, CreateTask) {
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let bundle = dir.path().join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::write(bundle.join("config.json"), SPEC).unwrap();
    let backend = Arc::new(FakeBackend::default());
    let vars: Vec<(String, OsString)> = vec![
        ("CERRO_HOME".into(), home.into()),
        ("CERRO_STORE".into(), dir.path().join("store").into()),
        ("CERRO_MODE".into(), mode.into()),
        ("CERRO_RUNTIME".into(), "/nonexistent/rt".into()),
    ];
    let env: Env = Box::new(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()));
    let tasks = Tasks::new(Box::new(backend.clone()), images, env);
    let req = CreateTask {
        id: "c1".into(),
        bundle,
        rootfs: overlay(),
        stdio: Stdio::default(),
        options: FileSettings::default(),
    };
    (dir, backend, tasks, req)
}

/// Packs an image of package `hello` (with its SELinux module) signed
/// by a new key in `dir/home`, files it in `dir/store`; its digest.
pub(crate) fn attested(dir: &Path) -> Digest {
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
        diff_ids: &cerro_core::pack::LayerDiffIds::of_uncompressed(&image).unwrap(),
    }
    .write(&mut std::fs::File::create(&path).unwrap())
    .unwrap();
    let trust = home.load_trust().unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let bundle = cerro_core::bundle::read_bundle_file(&f, &mut cerro_core::bundle::NoExtract).unwrap();
    let v = cerro_core::verify::verify(bundle, &trust, &cerro_core::policy_interface::NoPolicy, 1_800_000_000).unwrap();
    crate::BundleStore::new(dir.join("store"))
        .add(&path, &v, cerro_enforce::Rollback::Refuse)
        .unwrap();
    image.manifest.digest
}

/// The container's snapshot's mounts (what the fake containerd says).
pub(crate) fn overlay() -> Vec<Mount> {
    vec![Mount {
        fs_type: "overlay".into(),
        source: "overlay".into(),
        options: vec!["lowerdir=/l".into()],
    }]
}

/// Creates `req` with an attested image in enforce mode and returns the
/// error and the audit record; nothing may have reached the runtime.
pub(crate) fn refused_create(change: impl FnOnce(&mut CreateTask)) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let image = attested(dir.path());
    let (d, backend, tasks, mut req) = setup_in(dir, Images(Ok(vec![image])), "enforce");
    change(&mut req);
    let e = tasks.create(req).unwrap_err();
    assert!(matches!(e, ShimError::Refused { .. }), "{e:?}");
    assert!(backend.calls.lock().unwrap().is_empty());
    assert!(tasks.is_empty());
    let log = audit(d.path());
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["allowed"], false);
    assert_eq!(log[0]["images"], serde_json::json!([]));
    (e.to_string(), log[0].clone())
}

pub(crate) fn spec_of(bundle: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap()
}

pub(crate) fn audit(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("store/audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
