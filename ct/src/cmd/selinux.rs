//! `ct selinux generate | suggest | install | check`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};
use cerro_core::bundle::{read_bundle_file, NoExtract};
use cerro_core::file::write_atomic;
use cerro_core::manifest::{ImageRef, PackageManifest};
use cerro_core::{Error, ExitCode};

use super::pack::selinux_module;
use crate::cli::SelinuxCommand;
use crate::ctx::Ctx;

/// The target policy's CIL directory: `given`, else `$CERRO_SELINUX_POLICY`.
fn policy_dir_of(given: Option<&Path>) -> Option<PathBuf> {
    given.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("CERRO_SELINUX_POLICY")
            .filter(|v| !v.is_empty())
            .map(Into::into)
    })
}

/// [`policy_dir_of`], required.
fn policy_dir(given: Option<&Path>) -> Result<PathBuf> {
    policy_dir_of(given).ok_or_else(|| {
        Error::invalid_config(
            "--selinux-policy",
            "the target policy's CIL is needed: --selinux-policy DIR or $CERRO_SELINUX_POLICY",
        )
        .into()
    })
}

/// The host's policy as CIL, from `given` or `$CERRO_SELINUX_POLICY` (the
/// inputs `ct pack` and `ct selinux generate` take), if either is set.
pub(crate) fn host_policy(given: Option<&Path>) -> Result<Option<cerro_selinux::HostPolicy>> {
    match policy_dir_of(given) {
        Some(d) => Ok(Some(cerro_selinux::HostPolicy::load(&d).map_err(Error::from)?)),
        None => Ok(None),
    }
}

/// A manifest from a TOML file (a draft is fine: no image needed) or a bundle.
fn load_manifest(input: &Path) -> Result<PackageManifest> {
    let f = File::open(input).map_err(|e| Error::io("opening", input, e))?;
    if let Ok(b) = read_bundle_file(&f, &mut NoExtract) {
        return Ok(b.manifest);
    }
    let text = std::fs::read_to_string(input).map_err(|e| Error::io("reading", input, e))?;
    let placeholder = ImageRef {
        digest: cerro_core::digest::Digest::of(b""),
        reference: None,
    };
    PackageManifest::from_draft(&text, placeholder).with_context(|| format!("in {}", input.display()))
}

pub fn run(ctx: &Ctx, cmd: SelinuxCommand) -> Result<ExitCode> {
    match cmd {
        SelinuxCommand::Generate {
            input,
            output,
            selinux_policy,
        } => {
            let manifest = load_manifest(&input)?;
            let module = selinux_module(&manifest, selinux_policy.as_deref())?;
            if output == Path::new("-") {
                print!("{}", module.cil);
            } else {
                write_atomic(&output, module.cil.as_bytes(), 0o644)?;
                eprintln!("wrote module {} to {}", module.name, output.display());
            }
            Ok(ExitCode::Valid)
        }
        SelinuxCommand::Suggest { log, manifest } => {
            let text = std::fs::read_to_string(&log).map_err(|e| Error::io("reading", &log, e))?;
            // With a manifest, only its container's domain's denials are read.
            let (existing, domain) = match &manifest {
                Some(m) => {
                    let m = load_manifest(m)?;
                    let module = cerro_core::naming::module_name(&m.package.name)?;
                    let domain = cerro_core::naming::ContainerTypes::of(&module).domain;
                    (m.capabilities, Some(domain))
                }
                None => (None, None),
            };
            let s = cerro_selinux::suggest::suggest_for(&text, existing.as_ref(), domain.as_deref());
            s.capabilities.validate()?;
            println!("# {} AVC denial(s) read from {}", s.denials, log.display());
            if let (Some(d), n @ 1..) = (&domain, s.other_domains) {
                println!("# {n} denial(s) of other domains than {d} not read");
            }
            println!("# Review, put in the manifest, repack: the module is regenerated and signed.");
            print!("{}", s.capabilities.to_toml()?);
            for u in &s.unmapped {
                println!("# not expressible as a capability, review by hand: {u}");
            }
            Ok(ExitCode::Valid)
        }
        SelinuxCommand::Install {
            bundle,
            store_root,
            store,
            policy,
            selinux_policy,
        } => {
            let v = match super::verify::check(ctx, &bundle, policy.as_deref(), &mut NoExtract)? {
                Ok(v) => v,
                Err(r) => {
                    eprintln!("ct: refused {}: {}; nothing was installed", bundle.display(), r.error);
                    return Ok(r.error.exit_code());
                }
            };
            // A signature says who made the module, not what it does: only
            // the module regenerated from the signed [capabilities] against
            // this host's policy is installed, and only if the bundle carries
            // exactly it (cerro_selinux::admit).
            let host = host_policy(selinux_policy.as_deref())?;
            let module = match cerro_selinux::admit::installable(&v, host.as_ref()) {
                Ok(m) => m,
                Err(e) => {
                    let e = Error::from(e);
                    eprintln!("ct: refused {}: {e}; nothing was installed", bundle.display());
                    return Ok(e.exit_code());
                }
            };
            // semodule names a module after its file. The bytes written are the
            // regenerated module's (identical to the bundle's, checked above).
            // The image store module goes in the same transaction: the package
            // module does not compile without it.
            let image_store = cerro_selinux::image_store::module().map_err(Error::from)?;
            let dir = tempfile::tempdir().map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
            let mut cmd = Command::new("semodule");
            if let Some(root) = &store_root {
                cmd.arg("-p").arg(root).arg("-n");
            }
            cmd.arg("-s").arg(&store);
            for m in [&image_store, &module] {
                let p = dir.path().join(format!("{}.cil", m.name));
                std::fs::write(&p, m.cil.as_bytes()).map_err(|e| Error::io("writing", &p, e))?;
                cmd.arg("-i").arg(&p);
            }
            let out = cmd
                .output()
                .context("running semodule (Debian package semodule-utils)")?;
            if !out.status.success() {
                return Err(Error::CommandFailed {
                    command: format!("semodule -i {} -i {}", image_store.name, module.name),
                    message: cerro_selinux::admit::escape(out.stderr.trim_ascii()).to_string(),
                }
                .into());
            }
            println!(
                "installed SELinux module {} from {} (verified, identical to the module regenerated from its [capabilities]), with {}{}",
                module.name,
                bundle.display(),
                image_store.name,
                store_root.as_ref().map(|r| format!(" into {}", r.display())).unwrap_or_default()
            );
            // The running host's layer stores, labelled now that the policy
            // knows their type (not for a private policy root: that host is
            // not this one).
            if store_root.is_none() {
                if let cerro_enforce::SelinuxStatus::Enabled { .. } =
                    cerro_enforce::SelinuxHost::status(&cerro_enforce::KernelSelinux::default())
                {
                    label_image_stores()?;
                }
            }
            Ok(ExitCode::Valid)
        }
        SelinuxCommand::ImageStore { output } => {
            let m = cerro_selinux::image_store::module().map_err(Error::from)?;
            if output == Path::new("-") {
                print!("{}", m.cil);
            } else {
                write_atomic(&output, m.cil.as_bytes(), 0o644)?;
                eprintln!("wrote module {} to {}", m.name, output.display());
            }
            Ok(ExitCode::Valid)
        }
        SelinuxCommand::Check { file, selinux_policy } => {
            let dir = policy_dir(selinux_policy.as_deref())?;
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| Error::io("listing", &dir, e))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "cil"))
                .collect();
            files.sort();
            // Every package module needs the image store module (installed with it).
            let image_store = cerro_selinux::image_store::module().map_err(Error::from)?;
            let store_file = tempfile::Builder::new()
                .suffix(".cil")
                .tempfile()
                .map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
            std::fs::write(store_file.path(), image_store.cil.as_bytes())
                .map_err(|e| Error::io("writing", store_file.path(), e))?;
            if file.file_stem().is_none_or(|s| s != image_store.name.as_str()) {
                files.push(store_file.path().to_path_buf());
            }
            files.push(file.clone());
            let out = tempfile::NamedTempFile::new().map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
            let r = Command::new("secilc")
                .arg("-o")
                .arg(out.path())
                .arg("-f")
                .arg("/dev/null")
                .args(&files)
                .output()
                .context("running secilc (Debian package secilc)")?;
            if r.status.success() {
                println!(
                    "{}: compiles against {} with no neverallow violation",
                    file.display(),
                    dir.display()
                );
                Ok(ExitCode::Valid)
            } else {
                eprintln!("{}", String::from_utf8_lossy(&r.stderr).trim());
                Err(Error::malformed(file.display().to_string(), "secilc refused the module").into())
            }
        }
    }
}

/// Whether `program` is an executable file in a `$PATH` directory.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            std::fs::metadata(d.join(program)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Labels the runtimes' layer stores (`cerro_selinux::image_store`) with
/// `restorecon -R`: each that exists, and each whose runtime is installed,
/// made first with the modes the runtime makes it with, so the layers it
/// unpacks later inherit the label. A store of a runtime that is neither
/// installed nor has run is left alone, and said so.
fn label_image_stores() -> Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    for s in cerro_selinux::image_store::IMAGE_STORES {
        let path = Path::new(s.path);
        if !path.exists() {
            if !on_path(s.runtime) {
                println!(
                    "{} is not installed: its layer store {} is not labelled (ct doctor checks it)",
                    s.runtime, s.path
                );
                continue;
            }
            for (dir, mode) in s.create {
                let dir = Path::new(dir);
                if !dir.exists() {
                    std::fs::DirBuilder::new()
                        .mode(*mode)
                        .create(dir)
                        .map_err(|e| Error::io("creating", dir, e))?;
                }
            }
        }
        let out = Command::new("restorecon")
            .arg("-R")
            .arg(path)
            .output()
            .context("running restorecon (Debian package policycoreutils)")?;
        if !out.status.success() {
            return Err(Error::CommandFailed {
                command: format!("restorecon -R {}", s.path),
                message: cerro_selinux::admit::escape(out.stderr.trim_ascii()).to_string(),
            }
            .into());
        }
        println!(
            "labelled {}'s layer store {} {}",
            s.runtime,
            s.path,
            cerro_selinux::image_store::IMAGE_TYPE
        );
    }
    Ok(())
}
