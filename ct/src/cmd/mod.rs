//! One module per command; each is a short function over the libraries.

mod build;
mod demo;
mod diff;
mod doctor;
mod export;
mod import;
mod keys;
pub mod load;
mod log;
mod man;
mod monitor;
mod pack;
mod policy;
mod rebuild;
pub(crate) mod registry;
mod revocation;
pub mod run;
mod selinux;
mod trust;
mod verify;
mod witness;

use anyhow::Result;
use cerro_core::ExitCode;

use crate::cli::{Cli, Command};
use crate::ctx::Ctx;

pub fn run(cli: Cli) -> Result<ExitCode> {
    // Commands that need no state directory.
    match &cli.command {
        Command::Version { json } => return man::version(*json),
        Command::Man { topic } => return man::man(topic.as_deref()),
        Command::Completions { shell } => return man::completions(*shell),
        Command::Demo { keep } => return demo::run(keep.as_deref()),
        Command::Policy(p) => return policy::policy(p),
        Command::Log(l) if log::standalone(l) => return log::run(l),
        Command::Witness(w) if witness::standalone(w) => return witness::run(w),
        Command::Build {
            manifest,
            output,
            sources,
            base,
        } => return build::build(manifest, output, sources.as_deref(), base.as_deref()),
        Command::Import {
            source,
            output,
            evidence,
            keyring,
            upstream,
            suite,
            mirror,
            download_dir,
        } => {
            return import::import(
                source,
                output,
                evidence.as_deref(),
                keyring.as_deref(),
                upstream.as_deref(),
                &import::Archive {
                    suite,
                    mirror: mirror.as_deref(),
                    download_dir: download_dir.as_deref(),
                },
            )
        }
        _ => {}
    }
    let ctx = Ctx::new(&cli)?;
    match cli.command {
        Command::Keygen {
            id,
            encrypt,
            key_type,
            pkcs11,
        } => keys::keygen(&ctx, &id, encrypt, &key_type, pkcs11.as_deref()),
        Command::Key(k) => keys::key(&ctx, k),
        Command::Pack {
            image,
            output,
            keys,
            manifest,
            sbom_format,
            no_sbom,
            no_provenance,
            selinux_policy,
            registry: reg,
            logs,
            witnesses,
            cosign_key,
            platform,
        } => {
            let attest = pack::Attest {
                sbom: (!no_sbom).then_some(sbom_format),
                provenance: !no_provenance,
                selinux_policy: selinux_policy.as_deref(),
                cosign_key: cosign_key.as_deref(),
            };
            // The logs are checked before anything is packed.
            let logs = log::endpoints(&logs)?;
            let witnesses = log::witness_endpoints(&witnesses)?;
            let source = pack::Source {
                image: &image,
                registry: &reg,
                platform: platform.as_deref(),
            };
            let code = pack::pack(&ctx, source, &output, &keys, manifest.as_deref(), attest)?;
            if logs.is_empty() {
                return Ok(code);
            }
            log::submit(&ctx, &output, &logs, &witnesses)
        }
        Command::Sbom { file, policy, platform } => verify::sbom(&ctx, &file, policy.as_deref(), platform.as_deref()),
        Command::Selinux(cmd) => selinux::run(&ctx, cmd),
        Command::Sign { file, key } => pack::sign(&ctx, &file, &key),
        Command::Push {
            bundle,
            reference,
            registry: reg,
            sign,
        } => registry::push(&ctx, &bundle, &reference, &reg, &sign),
        Command::Fetch {
            reference,
            output,
            registry: reg,
            policy,
        } => registry::fetch(&ctx, &reference, &output, &reg, policy.as_deref()),
        Command::Load {
            file,
            list,
            json,
            into,
            policy,
            podman_root,
            podman_runroot,
            address,
            namespace,
            allow_older,
        } => load::load(
            &ctx,
            &load::LoadArgs {
                file: file.as_deref(),
                list,
                json,
                into,
                policy: policy.as_deref(),
                podman_root: podman_root.as_deref(),
                podman_runroot: podman_runroot.as_deref(),
                address: address.as_deref(),
                namespace: &namespace,
                allow_older,
            },
        ),
        Command::Run {
            bundle,
            runtime,
            policy,
            name,
            podman_root,
            podman_runroot,
            address,
            namespace,
            command,
        } => run::run(
            &ctx,
            &run::RunArgs {
                bundle: &bundle,
                runtime,
                policy: policy.as_deref(),
                name: name.as_deref(),
                podman_root: podman_root.as_deref(),
                podman_runroot: podman_runroot.as_deref(),
                address: address.as_deref(),
                namespace: &namespace,
                command: &command,
            },
        ),
        Command::Tree {
            reference,
            registry: r,
            json,
        } => registry::tree(&reference, &r, json),
        Command::Rebuild {
            bundle,
            compare,
            sources,
            base,
            key,
            output,
            verifier_id,
            policy,
            platform,
        } => rebuild::rebuild(
            &ctx,
            &rebuild::RebuildArgs {
                bundle: &bundle,
                compare: compare.as_deref(),
                sources: sources.as_deref(),
                base: base.as_deref(),
                key: &key,
                output: output.as_deref(),
                verifier_id: &verifier_id,
                policy: policy.as_deref(),
                platform: platform.as_deref(),
            },
        ),
        Command::Verify(a) => verify::verify(&ctx, &a),
        Command::Explain(a) => verify::explain(&ctx, &a),
        Command::Unpack { file, output, policy } => verify::unpack(&ctx, &file, &output, policy.as_deref()),
        Command::Export {
            file,
            format,
            output,
            prefix,
            branch,
            policy,
        } => export::export(
            &ctx,
            &export::ExportArgs {
                file: &file,
                format: &format,
                output: &output,
                prefix: prefix.as_deref(),
                branch: branch.as_deref(),
                policy: policy.as_deref(),
            },
        ),
        Command::Diff { old, new, json } => diff::diff(&ctx, &old, &new, json),
        Command::Doctor => doctor::doctor(&ctx),
        Command::Trust(t) => trust::run(&ctx, t),
        Command::Revocation(r) => revocation::run(&ctx, r),
        Command::Log(l) => log::run_home(&ctx, &l),
        Command::Witness(w) => witness::run_home(&ctx, &w),
        Command::Version { .. }
        | Command::Man { .. }
        | Command::Completions { .. }
        | Command::Demo { .. }
        | Command::Import { .. }
        | Command::Build { .. }
        | Command::Policy(_) => {
            unreachable!("handled above")
        }
    }
}
