//! The host service: what every front end calls to verify a bundle file,
//! file it in the bundle store, and decide at container start, over one
//! loaded [`Config`]. `ct verify`/`explain`/`unpack`/`sbom`/`load`/`fetch`/
//! `selinux install`/`demo` and the shim and the hook are short calls on
//! it; the steps ("load the trust store, choose the policy, open, read,
//! verify") are written once, here, and [`crate::decide`] uses the same.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use cerro_core::bundle::{read_bundle_file, Bundle, Extract};
use cerro_core::digest::Digest;
use cerro_core::policy_interface::{NoPolicy, Policy};
use cerro_core::trust::home::Home;
use cerro_core::trust::TrustStore;
use cerro_core::verify::{verify, verify_for, Rejected, Verified};
use cerro_core::Error;
use cerro_policy::DeploymentPolicy;

use crate::config::Config;
use crate::confinement::KernelSelinux;
use crate::decide::{decide, preview, refuse_without_clock, Decision, Request};
use crate::store::{BundleStore, Rollback, StoredBundle};

/// Largest deployment policy read.
const MAX_POLICY: u64 = 1 << 20;

/// The outcome of verifying a bundle that could be read: the proof, or the
/// refusal with the report up to it.
pub type Checked = Result<Verified<Bundle>, Box<Rejected>>;

/// The clock a [`Host`] verifies against (`cerro_core::clock::unix_now` on
/// a host; a fixed time in tests). An error refuses, never reads as 0.
pub type Clock = Box<dyn Fn() -> Result<u64, Error> + Send + Sync>;

/// One host's enforcement: its configuration (trust root, bundle store,
/// policy, audit log, mode) and its clock. The trust store and the policy
/// are read at each call, so an edit (a revocation) counts at the next one.
pub struct Host {
    config: Config,
    clock: Clock,
    /// The platform whose rebuilds count (`ct verify --platform`); `None`:
    /// this host's, what the shim and the hook admit.
    rebuilds_for: Option<cerro_core::image::Platform>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// The host service over `config` (from [`Config::for_ct`],
    /// [`Config::for_daemon`] …), reading the time from `clock`.
    pub fn new(config: Config, clock: impl Fn() -> Result<u64, Error> + Send + Sync + 'static) -> Self {
        Host {
            config,
            clock: Box::new(clock),
            rebuilds_for: None,
        }
    }

    /// The same host verifying as if for platform `platform`: its rebuilds
    /// count instead of this host's (`ct verify --platform`, for an
    /// operator checking a bundle for another node; a platform the bundle
    /// lacks is refused, exit 78). Nothing that admits uses it.
    #[must_use]
    pub fn counting_rebuilds_for(mut self, platform: Option<cerro_core::image::Platform>) -> Self {
        self.rebuilds_for = platform;
        self
    }

    /// [`Host::new`] with the system clock (`cerro_core::clock::unix_now`).
    pub fn with_system_clock(config: Config) -> Self {
        Self::new(config, cerro_core::clock::unix_now)
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The time now; a clock that cannot be read is an error (exit 78).
    pub fn now(&self) -> Result<u64, Error> {
        (self.clock)()
    }

    /// The trust store as verification uses it now (`<home>/trust.toml`,
    /// `keys/`, and the signed trust root and revocation list when
    /// installed: `Home::load_for_verification`); missing: empty.
    pub fn trust(&self) -> Result<TrustStore, Error> {
        load_trust(&self.config, self.now()?)
    }

    /// The deployment policy (the one selection rule: `--policy`, else
    /// `$CERRO_POLICY`, else `<home>/policy.json` if anything is there;
    /// see `config.rs`), read fail-closed; the baseline when none.
    pub fn policy(&self) -> Result<Box<dyn Policy>, Error> {
        load_policy(self.config.policy.as_deref())
    }

    /// The bundle store.
    pub fn store(&self) -> BundleStore {
        BundleStore::new(&self.config.store)
    }

    /// Opens `path` (a regular file only, without blocking), reads it in
    /// one pass (handing the image layout to `extract`) and verifies it
    /// against the trust store and policy, now. The outer error is a
    /// configuration, clock or bundle that could not be read at all; the
    /// inner one a bundle that was read and refused.
    pub fn verify_file(&self, path: &Path, extract: &mut dyn Extract) -> Result<Checked, Error> {
        let policy = self.policy()?;
        let trust = self.trust()?;
        let bundle = read_bundle(path, extract)?;
        Ok(verify_for(
            bundle,
            &trust,
            policy.as_ref(),
            self.now()?,
            self.rebuilds_for.as_ref(),
        ))
    }

    /// [`Host::verify_file`] at the baseline: the trust store, no
    /// deployment policy. What `ct rebuild` checks before it adds a rebuild
    /// attestation, which the host's own policy may be the one to require.
    pub fn verify_file_baseline(&self, path: &Path, extract: &mut dyn Extract) -> Result<Checked, Error> {
        let trust = self.trust()?;
        let bundle = read_bundle(path, extract)?;
        Ok(verify(
            bundle,
            &trust,
            &cerro_core::policy_interface::NoPolicy,
            self.now()?,
        ))
    }

    /// Verifies a bundle already read (`ct fetch`'s, assembled from a
    /// registry) as [`Host::verify_file`] does.
    pub fn verify_bundle(&self, bundle: Bundle) -> Result<Checked, Error> {
        let policy = self.policy()?;
        let trust = self.trust()?;
        Ok(verify(bundle, &trust, policy.as_ref(), self.now()?))
    }

    /// Verifies a bundle assembled without its layers (`ct verify
    /// docker://REF`) against the same trust store and policy, now
    /// ([`cerro_core::verify::verify_unpulled`]): a verdict to report,
    /// which nothing here files or runs.
    pub fn verify_unpulled(
        &self,
        unpulled: cerro_core::bundle::Unpulled,
    ) -> Result<Result<Verified<cerro_core::bundle::Unpulled>, Box<Rejected>>, Error> {
        let policy = self.policy()?;
        let trust = self.trust()?;
        Ok(cerro_core::verify::verify_unpulled_for(
            unpulled,
            &trust,
            policy.as_ref(),
            self.now()?,
            self.rebuilds_for.as_ref(),
        ))
    }

    /// Files `source`, verified as `verified`, in the bundle store under its
    /// image digest ([`BundleStore::add`]: the stored copy is read back and
    /// must be the verified bundle; an older bundle for the same image is
    /// refused unless `rollback` allows it).
    pub fn file(&self, source: &Path, verified: &Verified<Bundle>, rollback: Rollback) -> Result<StoredBundle, Error> {
        self.store().add(source, verified, rollback)
    }

    /// The decision at container start ([`crate::decide`]: recorded in the
    /// audit log; its `admission()` is what the acts take).
    pub fn decide(&self, req: &Request<'_>) -> Decision {
        decide(&self.config, req)
    }

    /// What [`Host::decide`] would decide, by the same checks, unrecorded and
    /// admitting nothing ([`crate::preview`]).
    pub fn preview(&self, req: &Request<'_>) -> Decision {
        preview(&self.config, req)
    }

    /// [`Host::decide`] for a caller that knows only which image(s) a
    /// container runs and, perhaps, the bundle that attests them (the image
    /// verifier, the C ABI, a runtime linking this crate): the kernel's
    /// SELinux, no labels chosen beforehand, the time read from this host's
    /// clock, whose failure refuses and is audited
    /// ([`crate::refuse_without_clock`]).
    pub fn decide_images(
        &self,
        component: &str,
        container: Option<&str>,
        images: &[Digest],
        bundle: Option<&Path>,
    ) -> Decision {
        self.decide_stage(component, container, images, bundle, false)
    }

    /// [`Host::decide_images`] for an image being pulled (the pull-time
    /// gate, `cerro-image-verifier`): the same decision, except that an
    /// image index attested by a multi-platform bundle is admitted as a
    /// whole ([`Request::pull`]); the start decides which platform runs.
    pub fn decide_pull(&self, component: &str, image: &Digest) -> Decision {
        self.decide_stage(component, None, std::slice::from_ref(image), None, true)
    }

    fn decide_stage(
        &self,
        component: &str,
        container: Option<&str>,
        images: &[Digest],
        bundle: Option<&Path>,
        pull: bool,
    ) -> Decision {
        let now = match self.now() {
            Ok(now) => now,
            Err(e) => return refuse_without_clock(&self.config, component, container, images, e),
        };
        self.decide(&Request {
            component,
            container,
            images,
            bundle,
            now,
            selinux: &KernelSelinux::default(),
            given_labels: None,
            lookup_error: None,
            rootfs_chain: None,
            pull,
        })
    }
}

/// The trust store of `cfg` as verification uses it at `now`: with an
/// installed trust root its logs, witnesses and quorum, and its revocation
/// list; an expired or rolled-back root or list refuses (fail closed).
pub(crate) fn load_trust(cfg: &Config, now: u64) -> Result<TrustStore, Error> {
    Home::new(&cfg.home).load_for_verification(now)
}

/// The deployment policy at `path` (bounded read; any failure is an
/// error, never the baseline), or the baseline when there is none.
pub(crate) fn load_policy(path: Option<&Path>) -> Result<Box<dyn Policy>, Error> {
    match path {
        None => Ok(Box::new(NoPolicy)),
        Some(p) => {
            let bytes = cerro_core::file::read_bounded(p, MAX_POLICY, "deployment policy")?;
            Ok(Box::new(DeploymentPolicy::from_json(&p.display().to_string(), &bytes)?))
        }
    }
}

/// Opens the bundle at `path` (a regular file only, without blocking: a
/// FIFO or a device cannot hang the caller) and reads it in one pass,
/// every digest checked; not verified.
pub fn read_bundle(path: &Path, extract: &mut dyn Extract) -> Result<Bundle, Error> {
    read_bundle_file(&open_regular(path)?, extract)
}

/// Opens a bundle: without blocking (`O_NONBLOCK`, so a FIFO or a device
/// named as a bundle cannot hang the start), and only if it is a regular
/// file. `O_NONBLOCK` changes nothing for the reads of a regular file.
pub(crate) fn open_regular(path: &Path) -> Result<File, Error> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io("opening", path, e))?;
    let ty = f
        .metadata()
        .map_err(|e| Error::io("reading the metadata of", path, e))?
        .file_type();
    if !ty.is_file() {
        let what = if ty.is_fifo() {
            "a FIFO"
        } else if ty.is_dir() {
            "a directory"
        } else if ty.is_char_device() || ty.is_block_device() {
            "a device"
        } else if ty.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(Error::NotRegularFile {
            path: path.to_owned(),
            what,
        });
    }
    Ok(f)
}
