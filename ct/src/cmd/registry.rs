//! `ct push` and `ct fetch`: bundles in OCI registries (the network code is
//! in `cerro-registry`; this module adds the verification before a fetched
//! bundle is written).

use std::path::Path;

use anyhow::Result;
use cerro_core::ExitCode;
use cerro_registry::{Options, Registry};

use crate::cli::RegistryArgs;
use crate::ctx::Ctx;
use crate::signals::Cleanup;

/// A client for `reference`, with a progress bar when stderr is a terminal.
pub(crate) fn connect(reference: &str, args: &RegistryArgs) -> Result<Registry> {
    let opts = Options {
        insecure: args.insecure,
        cert_dir: args.cert_dir.clone(),
        ..Options::default()
    };
    let mut reg = Registry::connect(reference, &opts).map_err(cerro_core::Error::from)?;
    reg.set_progress(crate::progress::for_stderr());
    Ok(reg)
}

pub fn push(ctx: &Ctx, bundle: &Path, reference: &str, args: &RegistryArgs, sign: &[String]) -> Result<ExitCode> {
    // The keys first: a key that cannot be opened refuses before anything
    // is sent.
    let keys = ctx.signers(sign)?;
    let reg = connect(reference, args)?;
    // ECDSA P-256: cosign's sign statement in a Sigstore bundle referrer.
    // Ed25519: the legacy `.sig` layout, the only one where cosign 3.1
    // verifies Ed25519 (sigstore/cosign#5074; spec/interop.md §2.7).
    let signer = |image: &cerro_core::digest::Digest, repository: &str| {
        let mut out = cerro_registry::ImageSignatures::default();
        for k in &keys {
            use cerro_core::key::{Algorithm, KeySigner as _};
            match k.public_key().algorithm() {
                Algorithm::EcdsaP256 => {
                    let mut env = cerro_core::dsse::Envelope {
                        payload: cerro_registry::cosign::sign_statement(image)?,
                        payload_type: cerro_core::dsse::IN_TOTO_PAYLOAD_TYPE.to_owned(),
                        signatures: Vec::new(),
                    };
                    env.sign(k)?;
                    out.sigstore.push(env);
                }
                Algorithm::Ed25519 => {
                    let payload = cerro_registry::cosign::simple_signing_payload(repository, image)?;
                    let sig = k.sign_message(&payload)?;
                    out.legacy.push((payload, sig));
                }
            }
        }
        Ok(out)
    };
    let pushed = cerro_registry::push_signed(bundle, &reg, &signer).map_err(cerro_core::Error::from)?;
    // A multi-platform bundle: the index, and the platform manifests it names.
    let image = if pushed.platforms.is_empty() {
        format!("image {}", pushed.image)
    } else {
        let names: Vec<String> = pushed.platforms.iter().map(|(p, d)| format!("{p} {d}")).collect();
        format!("image index {} ({})", pushed.image, names.join(", "))
    };
    println!(
        "pushed {} to {reference}: {image}, bundle artifact {} ({} blob(s) uploaded, {} already present)",
        bundle.display(),
        pushed.artifact,
        pushed.uploaded,
        pushed.skipped
    );
    Ok(ExitCode::Valid)
}

/// Fetches, verifies against this trust store (and `policy`), and only then
/// writes `output`: a refused or interrupted fetch leaves nothing there. The
/// release signature is checked before the image layers are downloaded.
pub fn fetch(
    ctx: &Ctx,
    reference: &str,
    output: &Path,
    args: &RegistryArgs,
    policy: Option<&Path>,
) -> Result<ExitCode> {
    // The policy is read (and refused if broken) before anything is fetched.
    let host = ctx.host(policy)?;
    host.policy()?;
    let trust = host.trust()?;
    let reg = connect(reference, args)?;
    let cleanup = Cleanup::install();
    let now = host.now()?;
    let fetched = match cerro_registry::fetch(&reg, output, &trust, now, &mut |tmp| cleanup.watch(tmp)) {
        Ok(f) => f,
        // The release signature was refused before any layer was downloaded.
        Err(cerro_registry::Error::Refused(e)) => {
            eprintln!("ct: refused {reference}: {e}; no layer was downloaded and nothing was written");
            return Ok(e.exit_code());
        }
        Err(e) => return Err(cerro_core::Error::from(e).into()),
    };
    let artifact = fetched.artifact;
    // Other bundles listed for the image and passed over: say which and why
    // (a registry listing an older or forged bundle is worth knowing about).
    for s in &fetched.skipped {
        eprintln!(
            "ct: skipped bundle artifact {} listed for {reference}: {}",
            s.artifact,
            crate::output::printable(&s.reason)
        );
    }
    match host.verify_bundle(fetched.bundle)? {
        Ok(v) => {
            fetched.pending.commit(&v).map_err(cerro_core::Error::from)?;
            println!(
                "fetched {} {} ({}, bundle artifact {artifact}) to {}",
                v.manifest.package.name,
                v.manifest.package.version,
                v.image.digest,
                output.display()
            );
            Ok(ExitCode::Valid)
        }
        Err(r) => {
            eprintln!("ct: refused {reference}: {}; nothing was written", r.error);
            Ok(r.error.exit_code())
        }
    }
}

/// `ct tree REF`: what the registry holds for the image, one line each
/// (types from the registry printed only when printable: `cerro-registry`).
pub fn tree(reference: &str, args: &RegistryArgs, json: bool) -> Result<ExitCode> {
    let reg = connect(reference, args)?;
    let t = cerro_registry::tree(&reg).map_err(cerro_core::Error::from)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&t)?);
        return Ok(ExitCode::Valid);
    }
    println!("{reference} {}", t.image.digest);
    if t.found.is_empty() {
        println!("└── nothing: no referrers, no cosign signature, attestation or SBOM tags");
    }
    for (i, f) in t.found.iter().enumerate() {
        let branch = if i + 1 == t.found.len() {
            "└──"
        } else {
            "├──"
        };
        let via = if f.via == "referrer" {
            "referrer".to_owned()
        } else {
            format!("tag {}", f.via)
        };
        println!("{branch} {} {} ({via})", crate::output::printable(&f.what), f.digest);
    }
    for e in &t.failures {
        eprintln!("ct: {}", crate::output::printable(e));
    }
    Ok(ExitCode::Valid)
}
