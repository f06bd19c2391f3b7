//! `ct verify`, `ct explain`, `ct unpack`: one read, one verify, three views.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use cerro_core::bundle::RELEASE_ATTESTATION;
use cerro_core::bundle::{Extract, NoExtract};
use cerro_core::digest::Digest;
use cerro_core::hashpool::Sink;
use cerro_core::image::{choose_platform, Platform};
use cerro_core::{Error, ExitCode};
use cerro_enforce::{Checked, Config, Host, KernelSelinux, Request};

use crate::cli::VerifyArgs;
use crate::ctx::Ctx;
use crate::output;
use crate::progress::{Counted, Local};

/// Reads `file` (handing the layout to `extract`) and verifies it: the
/// host service's `verify_file`, with the policy chosen as the shim and the
/// hook choose it (`--policy`, else `$CERRO_POLICY`, else
/// `<home>/policy.json`). The outer error is a bundle that could not be
/// read at all (or a configuration that cannot be used).
pub(crate) fn check(ctx: &Ctx, file: &Path, policy: Option<&Path>, extract: &mut dyn Extract) -> Result<Checked> {
    let host = ctx.host(policy)?;
    host.verify_file(file, extract)
        .with_context(|| format!("checking bundle {}", file.display()))
}

/// [`check`] extracting nothing, counting the rebuilds of `platform`
/// (`--platform`; `None`: this host's), with a spinner on a terminal while
/// the bundle is read (cleared before anything is printed).
fn check_only(ctx: &Ctx, file: &Path, policy: Option<&Path>, platform: Option<Platform>) -> Result<Checked> {
    let host = ctx.host(policy)?.counting_rebuilds_for(platform);
    let spinner = Local::spinner(&format!("verifying {}", file.display()));
    let checked = host
        .verify_file(file, &mut NoExtract)
        .with_context(|| format!("checking bundle {}", file.display()));
    spinner.finish();
    checked
}

/// Reads a `--platform` argument (`ct pack`, `ct verify`, `ct explain`,
/// `ct sbom`): `os/arch[/variant]`, else 78. Which platform of an image or
/// bundle it names is [`cerro_core::image::choose_platform`]'s one rule.
pub(crate) fn parse_platform(platform: Option<&str>) -> Result<Option<Platform>> {
    platform
        .map(|p| {
            Platform::parse(p).ok_or_else(|| {
                Error::invalid_config(
                    "--platform",
                    format!(
                        "{:?} is not OS/ARCH[/VARIANT] (e.g. linux/amd64, linux/arm64/v8)",
                        output::printable(p)
                    ),
                )
                .into()
            })
        })
        .transpose()
}

/// The registry reference of a `docker://REF` argument.
fn remote_reference(file: &Path) -> Option<&str> {
    file.to_str()?.strip_prefix("docker://")
}

pub fn verify(ctx: &Ctx, a: &VerifyArgs) -> Result<ExitCode> {
    if a.as_runtime {
        return as_runtime(a);
    }
    if let Some(reference) = remote_reference(&a.file) {
        return verify_remote(ctx, a, reference);
    }
    let outcome =
        match parse_platform(a.platform.as_deref()).and_then(|p| check_only(ctx, &a.file, a.policy.as_deref(), p)) {
            Ok(o) => o,
            Err(e) if a.json => {
                let code = crate::exit_code_of(&e);
                println!("{}", output::error_json(&e, code.code()));
                eprintln!("ct: {}", output::one_line(&e));
                return Ok(code);
            }
            Err(e) => return Err(e),
        };
    match outcome {
        Ok(v) => {
            // Only with --online, and only once everything offline passed.
            let online = if a.online {
                let store = ctx.host(a.policy.as_deref())?.trust()?;
                match super::monitor::online(&store, &v, v.report(), &a.file) {
                    Ok(lines) => lines,
                    Err(e) => {
                        let code = e.exit_code();
                        if a.json {
                            let e = anyhow::Error::from(e);
                            println!("{}", output::error_json(&e, code.code()));
                            eprintln!("ct: refused {}: {}", a.file.display(), output::one_line(&e));
                        } else {
                            eprintln!(
                                "ct: refused {}: {}",
                                a.file.display(),
                                output::printable(&e.to_string())
                            );
                        }
                        return Ok(code);
                    }
                }
            } else {
                Vec::new()
            };
            if a.json {
                println!("{}", serde_json::to_string_pretty(v.report())?);
                for l in &online {
                    eprintln!("{}", output::printable(l));
                }
            } else {
                println!("{}", output::printable(&v.report().message));
                for l in &online {
                    println!("{}", output::printable(l));
                }
            }
            Ok(ExitCode::Valid)
        }
        Err(r) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r.report)?);
            }
            eprintln!(
                "ct: refused {}: {}",
                a.file.display(),
                output::printable(&r.error.to_string())
            );
            Ok(r.error.exit_code())
        }
    }
}

/// `ct verify docker://REF`: the bundle `ct fetch` would take, checked by
/// the same verification except the layers' content, which is not
/// downloaded: the release signature (prechecked before anything else is
/// read), its binding to the image manifest's digest and to the config's
/// `diff_ids`, the transparency proofs, the trust store and the policy. A
/// refusal has `ct verify`'s exit codes; nothing is written.
fn verify_remote(ctx: &Ctx, a: &VerifyArgs, reference: &str) -> Result<ExitCode> {
    let platform = parse_platform(a.platform.as_deref())?;
    let host = ctx.host(a.policy.as_deref())?.counting_rebuilds_for(platform);
    host.policy()?;
    let trust = host.trust()?;
    let reg = super::registry::connect(reference, &a.registry)?;
    let refuse = |error: &Error, report: Option<&cerro_core::verify::Report>| -> Result<ExitCode> {
        let code = error.exit_code();
        if a.json {
            match report {
                Some(r) => println!("{}", serde_json::to_string_pretty(r)?),
                None => println!("{}", output::error_json(&anyhow::anyhow!("{error}"), code.code())),
            }
        }
        eprintln!(
            "ct: refused {reference}: {}; no layer was downloaded",
            output::printable(&error.to_string())
        );
        Ok(code)
    };
    let inspected = match cerro_registry::inspect(&reg, &trust, host.now()?) {
        Ok(i) => i,
        Err(cerro_registry::Error::Refused(e)) => return refuse(&e, None),
        Err(e) => {
            let e = Error::from(e);
            return refuse(&e, None);
        }
    };
    for s in &inspected.skipped {
        eprintln!(
            "ct: skipped bundle artifact {} listed for {reference}: {}",
            s.artifact,
            output::printable(&s.reason)
        );
    }
    let artifact = inspected.artifact;
    let v = match host.verify_unpulled(inspected.unpulled)? {
        Ok(v) => v,
        Err(r) => return refuse(&r.error, Some(&r.report)),
    };
    let online = if a.online {
        match super::monitor::online(&trust, v.bundle(), v.report(), &a.file) {
            Ok(lines) => lines,
            Err(e) => return refuse(&e, None),
        }
    } else {
        Vec::new()
    };
    let not_checked = format!(
        "not checked: the content of {} layer(s) ({} bytes), which were not downloaded: the runtime \
         hashes each at pull against the verified manifest {}; ct fetch {reference} checks them all",
        v.not_pulled.len(),
        v.not_pulled.iter().map(|b| b.size).sum::<u64>(),
        v.bundle().image.digest
    );
    if a.json {
        println!("{}", serde_json::to_string_pretty(v.report())?);
        eprintln!("{not_checked}");
        for l in &online {
            eprintln!("{}", output::printable(l));
        }
    } else {
        println!(
            "{} (bundle artifact {artifact})",
            output::printable(&v.report().message)
        );
        println!("{not_checked}");
        for l in &online {
            println!("{}", output::printable(l));
        }
    }
    Ok(ExitCode::Valid)
}

pub fn explain(ctx: &Ctx, a: &VerifyArgs) -> Result<ExitCode> {
    if a.as_runtime {
        return as_runtime(a);
    }
    if remote_reference(&a.file).is_some() {
        return Err(Error::invalid_config(
            "ct explain",
            "explains a bundle file: for an image in a registry, ct verify docker://REF, or ct fetch it first",
        )
        .into());
    }
    let outcome =
        match parse_platform(a.platform.as_deref()).and_then(|p| check_only(ctx, &a.file, a.policy.as_deref(), p)) {
            Ok(o) => o,
            Err(e) => {
                let code = crate::exit_code_of(&e);
                if a.json {
                    println!("{}", output::error_json(&e, code.code()));
                } else {
                    println!("bundle      {}", a.file.display());
                    println!("verdict     REFUSED (exit {}): {}", code.code(), output::one_line(&e));
                }
                return Ok(code);
            }
        };
    let (report, code) = match &outcome {
        Ok(v) => (v.report(), ExitCode::Valid),
        Err(r) => (&r.report, r.error.exit_code()),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("bundle      {}", a.file.display());
        print!("{}", output::explain(report));
    }
    // With --online, as verify: only once everything offline passed.
    if let (true, Ok(v)) = (a.online, &outcome) {
        let store = ctx.host(a.policy.as_deref())?.trust()?;
        match super::monitor::online(&store, v, v.report(), &a.file) {
            Ok(lines) => {
                for l in lines {
                    let l = output::printable(&l);
                    if a.json {
                        eprintln!("{l}");
                    } else {
                        println!("{l}");
                    }
                }
            }
            Err(e) => {
                let code = e.exit_code();
                let e = anyhow::Error::from(e);
                if a.json {
                    println!("{}", output::error_json(&e, code.code()));
                } else {
                    println!(
                        "verdict     REFUSED online (exit {}): {}",
                        code.code(),
                        output::one_line(&e)
                    );
                }
                return Ok(code);
            }
        }
    }
    Ok(code)
}

/// Writes the layout into a staging directory; only blob names derived
/// from validated digests are ever created, so nothing can escape it.
/// `bar` counts the blob bytes written (a bar on a terminal, else nothing).
pub(crate) struct StageDir {
    pub(crate) dir: PathBuf,
    pub(crate) bar: Local,
}

impl StageDir {
    /// A staging directory for the layout of `bundle`, with a byte bar of
    /// its size labelled `what` on a terminal.
    pub(crate) fn new(dir: PathBuf, bundle: &Path, what: &str) -> StageDir {
        let total = fs::metadata(bundle).map(|m| m.len()).unwrap_or(0);
        StageDir {
            dir,
            bar: Local::bytes(what, total),
        }
    }
}

impl Extract for StageDir {
    fn layout_file(&mut self, name: &str, bytes: &[u8]) -> cerro_core::Result<()> {
        let p = self.dir.join(match name {
            "oci-layout" => "oci-layout",
            _ => "index.json",
        });
        fs::write(&p, bytes).map_err(|e| Error::io("writing", p, e))
    }

    fn blob(&mut self, digest: &Digest) -> cerro_core::Result<Option<Sink>> {
        let p = self.dir.join("blobs").join("sha256").join(digest.hex());
        let f = File::create(&p).map_err(|e| Error::io("creating", p, e))?;
        Ok(Some(Box::new(Counted {
            inner: f,
            bar: self.bar.clone(),
        })))
    }
}

pub fn unpack(ctx: &Ctx, file: &Path, output: &Path, policy: Option<&Path>) -> Result<ExitCode> {
    if output.exists() {
        let empty = fs::read_dir(output).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !empty {
            return Err(Error::OutputExists {
                path: output.to_owned(),
            }
            .into());
        }
    }
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".ct-unpack-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io("creating a staging directory in", &parent, e))?;
    let blobs = staging.path().join("blobs").join("sha256");
    fs::create_dir_all(&blobs).map_err(|e| Error::io("creating", &blobs, e))?;
    let mut stage = StageDir::new(staging.path().to_path_buf(), file, "unpacking");
    let checked = check(ctx, file, policy, &mut stage);
    stage.bar.finish();
    match checked? {
        Ok(v) => {
            if output.exists() {
                fs::remove_dir(output).map_err(|e| Error::io("replacing", output, e))?;
            }
            let staged = staging.keep();
            fs::rename(&staged, output).map_err(|e| Error::io("renaming staging directory to", output, e))?;
            println!(
                "unpacked {} {} ({}) to {}",
                v.manifest.package.name,
                v.manifest.package.version,
                v.image.digest,
                output.display()
            );
            Ok(ExitCode::Valid)
        }
        Err(r) => {
            eprintln!(
                "ct: refused {}: {}; nothing was written",
                file.display(),
                output::printable(&r.error.to_string())
            );
            Ok(r.error.exit_code())
        }
    }
}

/// `ct sbom FILE [--platform P]`: verify, then print the SBOM predicate. A
/// multi-platform bundle carries one SBOM per platform
/// (`attestations/sbom-<os>-<arch>[-<variant>].dsse.json`): the one for
/// `--platform` (`os/arch[/variant]`, chosen by `ct pack --platform`'s
/// rule, [`choose_platform`]: none such, or several, 78 naming those it
/// has), else this host's, is printed; with neither, the platforms it has
/// are named.
pub fn sbom(ctx: &Ctx, file: &Path, policy: Option<&Path>, platform: Option<&str>) -> Result<ExitCode> {
    let wanted = parse_platform(platform)?;
    let v = match check_only(ctx, file, policy, None)? {
        Ok(v) => v,
        Err(r) => {
            eprintln!(
                "ct: refused {}: {}",
                file.display(),
                output::printable(&r.error.to_string())
            );
            return Ok(r.error.exit_code());
        }
    };
    let mut sboms = Vec::new();
    for a in &v.attestations {
        let Ok(st) = serde_json::from_slice::<serde_json::Value>(&a.envelope.payload) else {
            continue;
        };
        let ty = st["predicateType"].as_str().unwrap_or_default();
        if ty == cerro_core::statement::SPDX_DOCUMENT || ty == cerro_core::statement::CYCLONEDX_BOM {
            sboms.push((a.path.as_str(), st));
        }
    }
    let names = || {
        v.platforms
            .iter()
            .map(|p| output::printable(&p.platform.to_string()).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let missing = |what: String| -> anyhow::Error { Error::MissingAttestation(what).into() };
    let chosen = if v.platforms.is_empty() {
        if let Some(wanted) = &wanted {
            let own = Platform {
                os: v.config.os.clone(),
                architecture: v.config.architecture.clone(),
                variant: v.config.variant.clone(),
            };
            if !wanted.selects(&own) {
                return Err(Error::invalid_config(
                    format!("--platform {}", output::printable(&wanted.to_string())),
                    format!(
                        "{} is an image for {}, not {}",
                        file.display(),
                        output::printable(&own.to_string()),
                        output::printable(&wanted.to_string())
                    ),
                )
                .into());
            }
        }
        sboms.first()
    } else {
        let i = match &wanted {
            Some(wanted) => {
                let one = choose_platform(&file.display().to_string(), &v.platforms, wanted)?;
                v.platforms
                    .iter()
                    .position(|e| std::ptr::eq(e, one))
                    .ok_or_else(|| anyhow::anyhow!("the platform chosen is not one of the bundle's"))?
            }
            None => v.platforms.iter().position(|p| p.platform.is_host()).ok_or_else(|| {
                missing(format!(
                    "{} has no image for this host: pass --platform (one of {})",
                    file.display(),
                    names()
                ))
            })?,
        };
        let target = &v.platforms[i];
        let path = cerro_attest::platform_sbom_path(&target.platform)?;
        // A bundle packed before SBOMs were per platform has one, of the
        // first platform.
        sboms.iter().find(|(p, _)| *p == path).or_else(|| {
            sboms
                .iter()
                .find(|(p, _)| i == 0 && *p == cerro_core::statement::SBOM_PATH)
        })
    };
    match chosen {
        Some((_, st)) => {
            println!("{}", serde_json::to_string_pretty(&st["predicate"])?);
            Ok(ExitCode::Valid)
        }
        None => Err(missing(format!("{} carries no SBOM attestation", file.display()))),
    }
}

/// `ct verify --as-runtime FILE`: what the shim (or the hook) would decide
/// on this host for FILE's image. The daemons' configuration is loaded as
/// they load it (`Config::for_daemon`, from this environment, with their
/// ownership checks), FILE is read only to learn its image, and the
/// decision is the shim's (`cerro_enforce::preview`: the store's entry for
/// that image, verified now against the daemons' trust store and policy,
/// its confinement on this host's SELinux), unrecorded and admitting
/// nothing. What it cannot see: a container (the hook's podman labels, the
/// shim's snapshot chain).
fn as_runtime(a: &VerifyArgs) -> Result<ExitCode> {
    let cfg = Config::for_daemon(|k| std::env::var_os(k))?;
    let host = Host::with_system_clock(cfg);
    let bundle = cerro_enforce::read_bundle(&a.file, &mut NoExtract)
        .with_context(|| format!("reading bundle {}", a.file.display()))?;
    let image = bundle.image.digest;
    let release = bundle.member(RELEASE_ATTESTATION).map(|m| m.digest);
    // A multi-platform image: what a runtime on this host would name, the
    // manifest it selects for this platform and the index (none for this
    // platform: the index alone, which the decision refuses, saying why).
    let mut images: Vec<Digest> = bundle
        .platforms
        .iter()
        .filter(|p| p.platform.is_host())
        .map(|p| p.manifest.digest)
        .collect();
    images.push(image);
    let d = match host.now() {
        Ok(now) => host.preview(&Request {
            component: "ct",
            container: None,
            images: &images,
            bundle: None,
            now,
            selinux: &KernelSelinux::default(),
            // The shim applies the decision's labels itself.
            given_labels: None,
            lookup_error: None,
            rootfs_chain: None,
            pull: false,
        }),
        Err(e) => return Err(e.into()),
    };
    let code = ExitCode::ALL
        .iter()
        .map(|(c, _)| *c)
        .find(|c| c.code() == d.exit_code)
        .unwrap_or(ExitCode::Config);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    }
    let cfg = host.config();
    let other = d.attestation.is_some() && d.attestation != release;
    let verdict = match (d.verified, d.allowed) {
        (true, _) => "ALLOWED".to_owned(),
        (false, true) => format!("REFUSED (exit {}), but audit mode starts it anyway", d.exit_code),
        (false, false) => format!("REFUSED (exit {})", d.exit_code),
    };
    let lines = [
        format!("bundle      {}", a.file.display()),
        format!("image       {image}"),
        format!(
            "runtime     home {}, store {}, policy {}, mode {}",
            cfg.home.display(),
            cfg.store.display(),
            d.policy,
            if cfg.mode == cerro_enforce::Mode::Audit {
                "audit"
            } else {
                "enforce"
            }
        ),
        format!(
            "stored      {}",
            match (&d.bundle, other) {
                (Some(p), false) => format!("{} (this bundle)", p.display()),
                (Some(p), true) => format!(
                    "{} is another bundle for this image: the runtime decides on it, not on {}",
                    p.display(),
                    a.file.display()
                ),
                (None, _) => "none: load it as root (ct load) for the runtime to find it".to_owned(),
            }
        ),
        format!("verdict     {verdict}: {}", output::printable(&d.reason)),
    ];
    for l in lines {
        if a.json {
            eprintln!("{l}");
        } else {
            println!("{l}");
        }
    }
    Ok(if d.verified { ExitCode::Valid } else { code })
}
