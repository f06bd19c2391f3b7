//! `ct run BUNDLE [--runtime podman|containerd] [-- CMD…]`: verify the
//! bundle, file it in the store and import its image (the same steps as
//! `ct load --into`, [`super::load::verify_file_import`]), then run it
//! through the enforcing path, where the runtime decides again at start:
//!
//! - podman: `podman run --rm IMAGE-ID`, with the bundle's SELinux labels
//!   (`--security-opt label=type:…,filetype:…`) when the host confines it;
//!   podman's hooks.d must hold `cerro-hook`, which decides at start.
//! - containerd: `ctr run --rm --runtime io.cerro.v1 IMAGE ID`; the shim
//!   decides at create.
//!
//! The container's output is streamed (ct's own report goes to stderr, so
//! stdout is the container's), its stdin is not attached, and `ct run`
//! exits with the container's exit code (128 + the signal that killed it).
//! A bundle that does not verify, or cannot be filed or imported, runs
//! nothing: no container is created, and the exit code is the table's, as
//! for `ct verify` (the runtime's own failures are the runtime's code,
//! e.g. podman's 125–127, with `ct:` lines on stderr saying so).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _, Result};
use cerro_core::{Error, ExitCode};
use cerro_enforce::{Confinement, KernelSelinux};

use super::load::{verify_file_import, Into, LoadArgs, Loaded};
use crate::ctx::Ctx;

/// Which runtime runs the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    /// podman, with cerro-hook in its hooks.d.
    Podman,
    /// containerd through `ctr`, with the io.cerro.v1 shim.
    Containerd,
}

/// Options of `ct run`.
pub struct RunArgs<'a> {
    pub bundle: &'a Path,
    pub runtime: Runtime,
    pub policy: Option<&'a Path>,
    pub name: Option<&'a str>,
    pub podman_root: Option<&'a Path>,
    pub podman_runroot: Option<&'a Path>,
    pub address: Option<&'a str>,
    pub namespace: &'a str,
    pub command: &'a [String],
}

/// The runtime containerd's shim registers.
const SHIM_RUNTIME: &str = "io.cerro.v1";

pub fn run(ctx: &Ctx, a: &RunArgs<'_>) -> Result<ExitCode> {
    let ran = prepare_and_run(ctx, a).with_context(|| format!("{}: nothing was run", a.bundle.display()));
    let code = match ran? {
        Ran::Refused(code) => {
            eprintln!("ct: {}: nothing was run", a.bundle.display());
            return Ok(code);
        }
        Ran::Exited(code) => code,
    };
    // The container's status, outside the table: everything this command
    // holds (staging directories) is dropped by now.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

/// What happened.
enum Ran {
    /// Nothing ran: the table's code.
    Refused(ExitCode),
    /// The container ran and exited with this status.
    Exited(i32),
}

fn prepare_and_run(ctx: &Ctx, a: &RunArgs<'_>) -> Result<Ran> {
    let load = LoadArgs {
        file: Some(a.bundle),
        list: false,
        json: false,
        into: Some(match a.runtime {
            Runtime::Podman => Into::Podman,
            Runtime::Containerd => Into::Containerd,
        }),
        policy: a.policy,
        podman_root: a.podman_root,
        podman_runroot: a.podman_runroot,
        address: a.address,
        namespace: a.namespace,
        allow_older: false,
    };
    let v = match verify_file_import(ctx, a.bundle, &load, &mut std::io::stderr())? {
        Loaded::Refused(code) => return Ok(Ran::Refused(code)),
        Loaded::Done(v) => v,
    };
    let manifest = v.image.digest;
    let short = manifest.hex().chars().take(12).collect::<String>();
    let name = a
        .name
        .map_or_else(|| format!("ct-run-{short}-{}", std::process::id()), str::to_owned);
    let mut cmd = match a.runtime {
        Runtime::Podman => {
            // The labels podman must give the container for the hook to
            // admit it on a host with SELinux (the hook checks them); none
            // without SELinux. A module the host has not loaded refuses
            // here, before anything is created.
            let labels = match cerro_enforce::confinement::confinement(&v, &KernelSelinux::default()) {
                Ok(Confinement::Domain {
                    domain, mount_label, ..
                }) => {
                    let filetype = cerro_enforce::confinement::context_type(&mount_label)
                        .unwrap_or_default()
                        .to_owned();
                    vec![format!("label=type:{domain}"), format!("label=filetype:{filetype}")]
                }
                Ok(Confinement::Unconfined { .. }) => Vec::new(),
                Err(e) => {
                    eprintln!("ct: refused {}: {e}; nothing was run", a.bundle.display());
                    return Ok(Ran::Refused(e.exit_code()));
                }
            };
            let mut c = Command::new("podman");
            if let Some(r) = a.podman_root {
                c.arg("--root").arg(r);
            }
            if let Some(r) = a.podman_runroot {
                c.arg("--runroot").arg(r);
            }
            c.args(["run", "--rm", "--name", &name]);
            for l in &labels {
                c.args(["--security-opt", l]);
            }
            // podman's image id is the config's digest (hex).
            c.arg(v.parts.config.digest.hex());
            c
        }
        Runtime::Containerd => {
            let address = containerd_address(a.address);
            let image = containerd_image(&address, a.namespace, &manifest.to_string())?;
            let mut c = Command::new("ctr");
            c.args(["--address", &address, "--namespace", a.namespace]).args([
                "run",
                "--rm",
                "--runtime",
                SHIM_RUNTIME,
                &image,
                &name,
            ]);
            c
        }
    };
    cmd.args(a.command).stdin(Stdio::null());
    eprintln!(
        "running {} {} ({manifest}) as {name}",
        v.manifest.package.name, v.manifest.package.version
    );
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    use std::os::unix::process::ExitStatusExt as _;
    Ok(Ran::Exited(
        status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1),
    ))
}

/// `--address`, else `$CONTAINERD_ADDRESS`, else containerd's default.
fn containerd_address(given: Option<&str>) -> String {
    given
        .map(str::to_owned)
        .or_else(|| std::env::var("CONTAINERD_ADDRESS").ok())
        .unwrap_or_else(|| "/run/containerd/containerd.sock".into())
}

/// The name containerd gave the imported image (ctr 1.6 and 2.x name an
/// imported archive differently): the first image whose target is the
/// verified manifest `digest`.
fn containerd_image(address: &str, namespace: &str, digest: &str) -> Result<String> {
    let mut c = Command::new("ctr");
    c.args(["--address", address, "--namespace", namespace, "images", "ls"]);
    let out = c.output().with_context(|| format!("running {c:?}"))?;
    if !out.status.success() {
        bail!(Error::CommandFailed {
            command: format!("{c:?}"),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    // REF TYPE DIGEST SIZE PLATFORMS LABELS
    let listing = String::from_utf8_lossy(&out.stdout);
    listing
        .lines()
        .skip(1)
        .find_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.get(2) == Some(&digest)).then(|| cols.first().map(|r| (*r).to_owned()))?
        })
        .ok_or_else(|| {
            Error::CommandFailed {
                command: format!("{c:?}"),
                message: format!("no image in containerd's namespace {namespace} has the verified manifest {digest}"),
            }
            .into()
        })
}
