//! The decision: find the bundle that attests the container's image, verify
//! it now (current trust store, current policy), work out its confinement
//! (the bundle's SELinux domain, or why there is none), and record the
//! outcome. Any doubt refuses: a runtime that cannot name the image (even
//! with a bundle named explicitly: a bundle alone binds nothing), no
//! bundle, an unreadable one or one that is not a regular file, a bundle
//! for another image, a bad or untrusted signature, a policy rule, a
//! broken or unreadable configuration, a SELinux module the host has not
//! loaded, runtime labels that are not the bundle's domain, an audit log
//! that cannot be written (or is a symbolic link).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use cerro_core::bundle::{Bundle, RELEASE_ATTESTATION};
use cerro_core::digest::Digest;
use cerro_core::timestamp::format_rfc3339;
use cerro_core::verify::{verify, Verified};
use cerro_core::{Error, ExitCode};
use serde::Serialize;

use crate::config::{Config, Mode};
use crate::confinement::{confinement, Confinement, GivenLabels, SelinuxHost, SelinuxStatus};
use crate::host::{load_policy, load_trust};
use crate::store::BundleStore;
use crate::verdicts::{Blobs, Verdicts};
use crate::EnforceError;

/// What is being started.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Who asks: `shim`, `hook`, `ct`.
    pub component: &'a str,
    /// The container id, if there is one.
    pub container: Option<&'a str>,
    /// The image manifest digest(s) the container runs (a runtime may know
    /// several names for one image). Empty when the runtime could not say:
    /// that always refuses, even with [`Request::bundle`] set, since a
    /// bundle that verifies says nothing about what the container runs.
    pub images: &'a [Digest],
    /// A bundle named explicitly (e.g. the `io.cerro.bundle` annotation),
    /// instead of the store's entry. It only chooses the bundle: it must
    /// still attest one of `images`, and be a regular file (it is opened
    /// without blocking, so a FIFO cannot hang the start).
    pub bundle: Option<&'a Path>,
    /// Unix time of the decision.
    pub now: u64,
    /// The host's SELinux ([`crate::KernelSelinux`] on a host).
    pub selinux: &'a dyn SelinuxHost,
    /// Labels the runtime has already chosen (the hook: podman's, from the
    /// OCI config), which must then be the bundle's domain. `None` when the
    /// caller applies the decision's labels itself (the shim).
    pub given_labels: Option<&'a GivenLabels>,
    /// Why the runtime could not say which image the container runs, if
    /// it could not (`images` is then empty): recorded at the head of the
    /// decision's reason, so the audit log says what went wrong.
    pub lookup_error: Option<&'a str>,
    /// The chain id of the layers the runtime mounts the container's root
    /// file system from (the shim: its snapshot's parent), if it knows it.
    /// It must then be the chain of the release statement's signed diffIds
    /// (verification checked the config's `rootfs.diff_ids` equal them), so
    /// the root file system is tied to signed values, not to a config the
    /// runtime was handed.
    pub rootfs_chain: Option<&'a Digest>,
    /// The image is being pulled, not a container started (the pull-time
    /// gate): an image index a multi-platform bundle attests is admitted
    /// as a whole, every platform of it bound and verified; which platform
    /// manifest runs is decided at start, where this is `false`.
    pub pull: bool,
}

/// The outcome, as written to the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// RFC 3339 time.
    pub time: String,
    /// Who asked.
    pub component: String,
    /// Container id.
    pub container: Option<String>,
    /// The image digest(s) the container runs.
    pub images: Vec<Digest>,
    /// May the container start? (In audit mode: always true.)
    pub allowed: bool,
    /// Did verification pass? (Differs from `allowed` only in audit mode.)
    pub verified: bool,
    /// Enforce or audit.
    pub mode: Mode,
    /// The deployment policy that applied: its path, or
    /// [`NO_POLICY`] when none is configured.
    pub policy: String,
    /// The bundle consulted.
    pub bundle: Option<PathBuf>,
    /// Digest of the bundle's release attestation (identifies its content).
    pub attestation: Option<Digest>,
    /// Package name and version.
    pub package: Option<String>,
    /// Key ids (or fingerprints) of the signers that counted.
    pub signers: Vec<String>,
    /// How the bundle's blobs were checked: `hashed` (every blob read and
    /// hashed) or `cached` (the large blobs' digests from the verdict
    /// cache, the file unchanged since they were hashed; signatures, trust,
    /// revocation and policy checked as always: `verdicts.rs`). `None`
    /// when no bundle was read.
    pub blobs: Option<Blobs>,
    /// Name of the failed check (`digest_mismatch`, `signer_not_trusted`, …).
    pub check: Option<&'static str>,
    /// The documented exit code of the verification outcome.
    pub exit_code: u8,
    /// One line: why.
    pub reason: String,
    /// What confines the container beyond the decision: its bundle's
    /// SELinux domain, or `unconfined` and why. `None` when it does not
    /// start (refused in enforce mode).
    pub confinement: Option<Confinement>,
    /// The proof the acts take; `None` when the container must not start.
    #[serde(skip)]
    admission: Option<Admission>,
}

impl Decision {
    /// The admission, if the container may start: what container create,
    /// label writing and the runtime backend require, so a start that was
    /// not decided does not compile. `allowed` and `verified` are the
    /// record's view of the same outcome.
    pub fn admission(&self) -> Option<&Admission> {
        self.admission.as_ref()
    }
}

/// Proof that [`decide`] let a container start, with the confinement it
/// must start in. Only [`decide`] builds one (its fields are private and it
/// has no public constructor), as rustls's `...Verified` markers; audit
/// mode's "allowed anyway" is an admission too, but says so
/// ([`Admission::audit_override`]) and carries no bundle's domain.
#[derive(Debug, Clone)]
pub struct Admission {
    confinement: Confinement,
    audit_override: bool,
    container: Option<String>,
    image: Option<Digest>,
}

impl Admission {
    /// The container it admits ([`Request::container`]): an act checks it
    /// is acting on that container (the hook: the OCI state's id), so an
    /// admission decided for one container cannot start another.
    pub fn container(&self) -> Option<&str> {
        self.container.as_deref()
    }

    /// The image manifest digest it admits: the verified bundle's image,
    /// one of [`Request::images`] (an audit override: the first of them, if
    /// the runtime named any).
    pub fn image(&self) -> Option<&Digest> {
        self.image.as_ref()
    }

    /// What confines the container: the bundle's SELinux domain, or
    /// unconfined and why.
    pub fn confinement(&self) -> &Confinement {
        &self.confinement
    }

    /// True when verification failed and audit mode let it start anyway.
    pub fn audit_override(&self) -> bool {
        self.audit_override
    }

    /// An admission for tests of the acts (a backend, label writing), never
    /// built in release code: only with the `test-util` feature, which only
    /// dev-dependencies turn on.
    #[cfg(feature = "test-util")]
    pub fn for_tests(confinement: Confinement) -> Self {
        Admission {
            confinement,
            audit_override: false,
            container: None,
            image: None,
        }
    }
}

/// The `policy` of a decision taken without a deployment policy: the
/// verifier's baseline decides (one valid signature by a non-revoked key
/// trusted `full` or `ultimate`).
pub const NO_POLICY: &str = "no deployment policy: baseline of one full signer";

/// The verified outcome before mode and audit are applied.
struct Outcome {
    bundle: Option<PathBuf>,
    /// The image the verified bundle attests.
    image: Option<Digest>,
    attestation: Option<Digest>,
    package: Option<String>,
    signers: Vec<String>,
    blobs: Option<Blobs>,
    result: Result<Confinement, EnforceError>,
}

fn refuse(bundle: Option<PathBuf>, e: Error) -> Outcome {
    Outcome {
        bundle,
        image: None,
        attestation: None,
        package: None,
        signers: Vec::new(),
        blobs: None,
        result: Err(EnforceError::Core(e)),
    }
}

fn check(cfg: &Config, req: &Request<'_>) -> Outcome {
    let trust = match load_trust(cfg, req.now) {
        Ok(t) => t,
        Err(e) => return refuse(None, e),
    };
    // Configured (`CERRO_POLICY`, or a `<home>/policy.json` that is there,
    // even unreadable): any failure to read it refuses.
    let policy = match load_policy(cfg.policy.as_deref()) {
        Ok(p) => p,
        Err(e) => return refuse(None, e),
    };
    // No image, no decision: an explicit bundle alone binds nothing (a
    // `podman run --rootfs` container has no image, and would otherwise
    // start on the strength of any bundle that verifies).
    if req.images.is_empty() {
        return refuse(
            None,
            Error::MissingAttestation(format!(
                "no bundle in the store ({}) attests an image the runtime did not name; \
                 a bundle named explicitly does not say what the container runs",
                cfg.store.display()
            )),
        );
    }
    let store = BundleStore::new(&cfg.store);
    let path = match req.bundle {
        Some(p) => p.to_path_buf(),
        None => match req.images.iter().map(|d| store.path_for(d)).find(|p| p.exists()) {
            Some(p) => p,
            None => {
                let names: Vec<String> = req.images.iter().map(Digest::to_string).collect();
                return refuse(
                    None,
                    Error::MissingAttestation(format!(
                        "no bundle in the store ({}) attests image {}",
                        cfg.store.display(),
                        names.join(" / ")
                    )),
                );
            }
        },
    };
    let verdicts = Verdicts::new(&cfg.store);
    let (bundle, blobs, pending) = match verdicts.read(&path, req.now) {
        Ok(b) => b,
        Err(e) => return refuse(Some(path), e),
    };
    let attestation = bundle.member(RELEASE_ATTESTATION).map(|m| m.digest);
    let package = Some(format!(
        "{} {}",
        bundle.manifest.package.name, bundle.manifest.package.version
    ));
    let image = bundle.image.digest;
    match verify(bundle, &trust, policy.as_ref(), req.now) {
        Err(r) => Outcome {
            bundle: Some(path),
            image: None,
            attestation,
            package,
            signers: Vec::new(),
            blobs: Some(blobs),
            result: Err(EnforceError::Core(r.error)),
        },
        Ok(v) => {
            // Only a bundle that verified is remembered (its blob digests
            // are right either way; a refused one need not be fast).
            if let Some(p) = pending {
                verdicts.record(p);
            }
            let signers = v
                .report()
                .signers
                .iter()
                .filter(|s| s.counted())
                .map(|s| s.key_id.clone().unwrap_or_else(|| s.fingerprint.clone()))
                .collect();
            let selected = match selected_image(&v, image, req.images, req.pull) {
                Ok(s) => s,
                Err(e) => {
                    return Outcome {
                        bundle: Some(path),
                        image: None,
                        attestation,
                        package,
                        signers,
                        blobs: Some(blobs),
                        result: Err(EnforceError::Core(e)),
                    }
                }
            };
            let signed_chain = cerro_core::image::chain_id(selected.diff_ids);
            let image = selected.manifest;
            let result = if !req.images.contains(&image) {
                Err(EnforceError::Core(match req.images.first() {
                    Some(expected) => Error::DigestMismatch {
                        what: "the bundle's image vs the container's image".into(),
                        expected: *expected,
                        actual: image,
                    },
                    // Refused above already; kept total without indexing.
                    None => Error::MissingAttestation("no image to bind the bundle to".into()),
                }))
            } else if let Some(chain) = req.rootfs_chain.filter(|c| Some(**c) != signed_chain) {
                Err(EnforceError::Core(match signed_chain {
                    Some(signed) => Error::DigestMismatch {
                        what: "the container's root file system layers (snapshot chain id) vs the signed diffIds"
                            .into(),
                        expected: signed,
                        actual: *chain,
                    },
                    None => Error::malformed("bundle", "the signed image has no layers to mount"),
                }))
            } else {
                confinement(&v, req.selinux).and_then(|c| match req.given_labels {
                    Some(given) => c.check_given(given).map(|()| c),
                    None => Ok(c),
                })
            };
            Outcome {
                bundle: Some(path),
                image: Some(image),
                attestation,
                package,
                signers,
                blobs: Some(blobs),
                result,
            }
        }
    }
}

/// The image a verified bundle admits for this request: its manifest and
/// the signed diffIds its root file system must be made of.
struct Selected<'v> {
    manifest: Digest,
    diff_ids: &'v [Digest],
}

/// Which of the verified bundle's images the container runs. A single
/// image: the bundle's (whether the runtime named it is checked by the
/// caller). A multi-platform bundle (`top` is its image index): every
/// digest the runtime named other than the index must be a platform
/// manifest the release statement binds, for this host's platform
/// (linux on `host_architecture`), and there must be one: a runtime that
/// resolved the index to a manifest nobody signed (another index with the
/// same name, a swapped entry) or to another platform's manifest is
/// refused (`platform_not_attested`, exit 5), as is one that names only
/// the index (what it runs is then unknown), except for a pull (`pull`: the
/// index as a whole, no root file system to compare).
fn selected_image<'v>(
    v: &'v Verified<Bundle>,
    top: Digest,
    images: &[Digest],
    pull: bool,
) -> Result<Selected<'v>, Error> {
    if v.platforms.is_empty() || (pull && images == [top]) {
        return Ok(Selected {
            manifest: top,
            diff_ids: &v.config.diff_ids,
        });
    }
    let bound: Vec<String> = v
        .platforms
        .iter()
        .map(|p| format!("{} {}", p.platform, p.manifest.digest))
        .collect();
    let mut chosen: Option<Selected<'v>> = None;
    for d in images.iter().filter(|d| **d != top) {
        let Some(p) = v.platforms.iter().find(|p| p.manifest.digest == *d) else {
            return Err(Error::PlatformNotAttested(format!(
                "the runtime selected manifest {d}, which is not one of the platform manifests the release \
                 statement binds for index {top} ({})",
                bound.join(", ")
            )));
        };
        if !p.platform.is_host() {
            return Err(Error::PlatformNotAttested(format!(
                "the runtime selected manifest {d}, bound for platform {}, but this host is linux/{}",
                p.platform,
                cerro_core::image::host_architecture()
            )));
        }
        chosen = Some(Selected {
            manifest: *d,
            diff_ids: &p.config.diff_ids,
        });
    }
    chosen.ok_or_else(|| {
        Error::PlatformNotAttested(format!(
            "the runtime named only the image index {top}, not the platform manifest it runs \
             (bound: {})",
            bound.join(", ")
        ))
    })
}

/// Decides whether the container may start, and appends the decision to
/// the audit log. Never panics; every failure is a refusal (in enforce mode).
pub fn decide(cfg: &Config, req: &Request<'_>) -> Decision {
    let mut d = decision(cfg, req);
    if let Err(e) = append_audit(&cfg.audit_log, &d) {
        // A decision that cannot be recorded is not taken (fail closed).
        if cfg.mode == Mode::Enforce {
            d.allowed = false;
            d.admission = None;
            d.confinement = None;
            d.check = Some(e.check());
            d.exit_code = e.exit_code().code();
            d.reason = format!("cannot write the audit log: {e}");
        }
    }
    d
}

/// What [`decide`] would decide for `req` now, by the same checks, without
/// appending to the audit log and without an [`Admission`] (a preview
/// admits nothing): `ct verify --as-runtime`.
pub fn preview(cfg: &Config, req: &Request<'_>) -> Decision {
    let mut d = decision(cfg, req);
    d.admission = None;
    d
}

/// The decision before it is recorded.
fn decision(cfg: &Config, req: &Request<'_>) -> Decision {
    let o = check(cfg, req);
    let verified = o.result.is_ok();
    let (check, exit_code, mut reason) = match &o.result {
        Ok(c) => (
            None,
            ExitCode::Valid.code(),
            format!(
                "verified: {} signed by {}; {}",
                o.package.as_deref().unwrap_or("bundle"),
                o.signers.join(", "),
                c.summary()
            ),
        ),
        Err(e) => (Some(e.check()), e.exit_code().code(), e.to_string()),
    };
    if let Some(e) = req.lookup_error {
        reason = format!("cannot tell which image the container runs ({e}); {reason}");
    }
    let allowed = verified || cfg.mode == Mode::Audit;
    if !verified && cfg.mode == Mode::Audit {
        reason = format!("audit mode, allowed anyway: {reason}");
    }
    let confinement = match o.result {
        Ok(c) => Some(c),
        // Started anyway: no verified bundle's domain is applied.
        Err(_) if allowed => Some(Confinement::Unconfined {
            reason: match req.selinux.status() {
                SelinuxStatus::Disabled(reason) => reason,
                SelinuxStatus::Enabled { .. } => {
                    "audit mode: the container starts without a verified bundle's SELinux domain".into()
                }
            },
        }),
        Err(_) => None,
    };
    // The image it was decided for: the verified bundle's; for an audit
    // override, what the runtime named first.
    let image = o.image.or_else(|| req.images.first().copied());
    Decision {
        time: format_rfc3339(req.now),
        component: req.component.to_owned(),
        container: req.container.map(str::to_owned),
        images: req.images.to_vec(),
        allowed,
        verified,
        mode: cfg.mode,
        policy: policy_name(cfg),
        bundle: o.bundle,
        attestation: o.attestation,
        package: o.package,
        signers: o.signers,
        blobs: o.blobs,
        check,
        exit_code,
        reason,
        admission: confinement.clone().filter(|_| allowed).map(|c| Admission {
            confinement: c,
            audit_override: !verified,
            container: req.container.map(str::to_owned),
            image,
        }),
        confinement,
    }
}

/// What the audit record says about the policy in force.
fn policy_name(cfg: &Config) -> String {
    match &cfg.policy {
        Some(p) => p.display().to_string(),
        None => NO_POLICY.to_owned(),
    }
}

/// A refusal taken before any check, because the clock cannot be read
/// (`cerro_core::clock::unix_now` failed): nothing is verified without a
/// time to check key validity against. Recorded like any decision, with
/// the time `unknown`; it refuses in audit mode too.
pub fn refuse_without_clock(
    cfg: &Config,
    component: &str,
    container: Option<&str>,
    images: &[Digest],
    error: Error,
) -> Decision {
    let d = Decision {
        time: "unknown".into(),
        component: component.to_owned(),
        container: container.map(str::to_owned),
        images: images.to_vec(),
        allowed: false,
        verified: false,
        mode: cfg.mode,
        policy: policy_name(cfg),
        bundle: None,
        attestation: None,
        package: None,
        signers: Vec::new(),
        blobs: None,
        check: Some(error.check()),
        exit_code: error.exit_code().code(),
        reason: error.to_string(),
        confinement: None,
        admission: None,
    };
    // Refused whether or not the record is written.
    let _ = append_audit(&cfg.audit_log, &d);
    d
}

fn append_audit(path: &Path, d: &Decision) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        cerro_core::file::create_dir(dir, 0o755)?;
    }
    let mut line = serde_json::to_vec(d).map_err(|e| Error::malformed("audit record", e.to_string()))?;
    line.push(b'\n');
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        // A symbolic link planted at the log's path is refused (ELOOP),
        // not followed: root would otherwise append to any file it names.
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io("opening audit log", path, e))?;
    // One write of the whole line: O_APPEND keeps concurrent records whole.
    f.write_all(&line)
        .map_err(|e| Error::io("appending to audit log", path, e))
}
