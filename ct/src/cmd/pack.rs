//! `ct pack` and `ct sign`.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use cerro_attest::{AttestOptions, ImageSource, SbomFormat};
use cerro_core::bundle::{read_bundle_file, NoExtract};
use cerro_core::file::AtomicFile;
use cerro_core::image::source::SourceImage;
use cerro_core::image::{choose_platform, Platform};
use cerro_core::key::KeySigner;
use cerro_core::manifest::{ImageRef, PackageManifest};
use cerro_core::pack::PackRequest;
use cerro_core::{Error, ExitCode};

use crate::cli::SbomFormatArg;
use crate::ctx::{source_date_epoch, Ctx};
use crate::progress::Local;

/// The tag of a registry reference (`host/repo:tag` → `tag`), else `latest`.
fn tag_of(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let name = last.split('@').next().unwrap_or(last);
    match name.split_once(':') {
        Some((_, tag)) if !tag.is_empty() => tag.to_owned(),
        _ => "latest".to_owned(),
    }
}

/// Which attestations to add besides the release statement.
pub struct Attest<'a> {
    pub sbom: Option<SbomFormatArg>,
    pub provenance: bool,
    /// The target SELinux policy's CIL (for port and device types).
    pub selinux_policy: Option<&'a Path>,
    /// `--cosign-key`: the public key a cosign signature of the image must
    /// verify with (docker://REF only); the evidence is carried.
    pub cosign_key: Option<&'a Path>,
}

/// The pack pipeline, written once (`ct pack` and `ct demo` call it): the
/// attestations read from the layers (SBOM and diff_ids in one pass, the
/// provenance), the SELinux module generated from the manifest against
/// `selinux` (the target policy, if known), the release statement signed by
/// `keys`, the bundle written to `output` atomically (`opts.time` is every
/// member's mtime). `evidence`: more statements to carry and bind (the
/// cosign signature evidence of `--cosign-key`).
pub(crate) fn write_bundle<K: KeySigner>(
    src: &SourceImage,
    manifest: &PackageManifest,
    keys: &[K],
    opts: &AttestOptions,
    selinux: Option<&cerro_selinux::HostPolicy>,
    output: &Path,
    evidence: &[(String, Vec<u8>)],
) -> Result<()> {
    let mut out = AtomicFile::create(output, 0o644)?;
    // Progress on a terminal: the layers' one pass counts its bytes; the
    // bundle writer (kernel copy, hashed on its workers) gets a spinner.
    // A multi-platform image's pass reads every platform's layers (each its
    // SBOM and diff_ids, which the statement binds).
    let total = if src.platforms.is_empty() {
        src.parts.layers.iter().map(|l| l.size).sum()
    } else {
        src.platforms.iter().flat_map(|p| &p.parts.layers).map(|l| l.size).sum()
    };
    let reading = Local::bytes("layers", total);
    let mut attested = cerro_attest::statements_with(manifest, src, opts, &|n| reading.advance(n))?;
    reading.finish();
    attested.statements.extend(evidence.iter().cloned());
    let module = cerro_selinux::generate(manifest, selinux).map_err(Error::from)?;
    let writing = Local::spinner(&format!("writing {}", output.display()));
    PackRequest {
        image: src,
        manifest,
        keys,
        mtime: opts.time,
        selinux: &[(module.member_path(), module.cil.into_bytes())],
        extra: &attested.statements,
        diff_ids: &attested.diff_ids,
    }
    .write_file(out.file())?;
    out.commit_unsynced()?;
    writing.finish();
    Ok(())
}

/// The SELinux module of `manifest`, generated against the target policy
/// in `policy` (or `$CERRO_SELINUX_POLICY`) when one is given.
pub fn selinux_module(manifest: &PackageManifest, policy: Option<&Path>) -> Result<cerro_selinux::GeneratedModule> {
    let host = super::selinux::host_policy(policy)?;
    Ok(cerro_selinux::generate(manifest, host.as_ref()).map_err(Error::from)?)
}

/// The transports `ct pack` reads (skopeo's syntax, `TRANSPORT:…`).
const TRANSPORTS: [&str; 4] = ["oci", "oci-archive", "docker-archive", "docker"];

/// Whether `spec` is a bare registry reference, which `ct pack` reads as
/// `docker://spec` (as podman does): `Some(spec)` then, `None` for the
/// transport syntax. The rule, so that nothing is read two ways:
/// 1. a spec whose text before the first `:` is a transport (`oci`,
///    `oci-archive`, `docker-archive`, `docker`) is that transport (a
///    registry host named like one is written `docker://HOST:PORT/…`);
/// 2. a local path (starting with `/` or `.`, or naming a file that
///    exists) is refused: say its format, `oci:PATH`, `oci-archive:PATH`…;
/// 3. otherwise it must be fully qualified, `REGISTRY/REPOSITORY[:TAG|@DIGEST]`
///    whose first component is a registry host (has a `.` or a `:`, or is
///    `localhost`): `docker.io/library/nginx:1.26`, `127.0.0.1:5000/app:1`.
///    A short name (`nginx:1.26`) is refused rather than searched for in
///    registries the caller did not name.
fn bare_reference(spec: &str) -> Result<Option<&str>> {
    if spec.split_once(':').is_some_and(|(t, _)| TRANSPORTS.contains(&t)) {
        return Ok(None);
    }
    if spec.starts_with('/') || spec.starts_with('.') || Path::new(spec).exists() {
        bail!(Error::malformed(
            "image",
            format!(
                "{spec:?} is a local path: name its format, oci:PATH[:REF], oci-archive:PATH[:REF] or docker-archive:PATH"
            ),
        ));
    }
    match spec.split_once('/') {
        Some((host, rest)) if !rest.is_empty() && (host.contains('.') || host.contains(':') || host == "localhost") => {
            Ok(Some(spec))
        }
        _ => bail!(Error::malformed(
            "image",
            format!(
                "{spec:?}: expected a fully qualified registry reference (REGISTRY/REPOSITORY[:TAG|@DIGEST], \
                 e.g. docker.io/library/nginx:1.26) or TRANSPORT:… (oci:, oci-archive:, docker-archive:, docker://)"
            ),
        )),
    }
}

/// What `ct pack` packs: the image as the user named it, how to reach its
/// registry (docker://REF and bare references), and `--platform`.
pub struct Source<'a> {
    pub image: &'a str,
    pub registry: &'a crate::cli::RegistryArgs,
    pub platform: Option<&'a str>,
}

/// `ct pack`: `source` signed by `key_ids` into `output`, with the
/// attestations `attest` asks for.
pub fn pack(
    ctx: &Ctx,
    source: Source<'_>,
    output: &Path,
    key_ids: &[String],
    manifest: Option<&Path>,
    attest: Attest<'_>,
) -> Result<ExitCode> {
    let Source {
        image,
        registry,
        platform,
    } = source;
    // The platform asked for is read before anything else is (a bad one: 78).
    let platform = super::verify::parse_platform(platform)?;
    // Every key opened (files read, tokens logged in) before the image is.
    let keys = ctx.signers(key_ids)?;
    // The cosign key is read before anything is pulled (a bad file: 78).
    let cosign_key = match attest.cosign_key {
        Some(path) => {
            if !image.starts_with("docker://") && bare_reference(image).ok().flatten().is_none() {
                bail!(Error::invalid_config(
                    "--cosign-key",
                    "checks a cosign signature in a registry: the image must be docker://REF",
                ));
            }
            let pem = cerro_core::file::read_bounded(path, 64 << 10, &path.display().to_string())?;
            let pem = String::from_utf8(pem)
                .map_err(|_| Error::invalid_config(path.display().to_string(), "not a PEM public key"))?;
            let key = cerro_core::key::PublicKey::from_pem(&pem, &path.display().to_string())?;
            Some((path, key))
        }
        None => None,
    };
    let mut checked = None;
    // docker://REF: pull the image into a private layout first (every blob
    // hashed as it streams), then pack it like any other layout.
    // The pulled layout lives until this function returns (packing reads it).
    // Removed on SIGINT/SIGTERM/SIGHUP too, not only when dropped.
    let mut _pulled: Option<(tempfile::TempDir, crate::signals::Cleanup)> = None;
    // A bare registry reference is docker://REF, as podman reads it.
    let image = match bare_reference(image)? {
        Some(r) => format!("docker://{r}"),
        None => image.to_owned(),
    };
    let (image, registry_ref) = match image.strip_prefix("docker://") {
        Some(r) => {
            let dir = tempfile::Builder::new()
                .prefix("ct-pull-")
                .tempdir()
                .map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
            let tag = tag_of(r);
            let reg = super::registry::connect(r, registry)?;
            let cleanup = crate::signals::Cleanup::install();
            cleanup.watch(dir.path());
            let pulled = cerro_registry::pull_image(&reg, dir.path(), &tag, platform.as_ref()).map_err(Error::from)?;
            if let Some((path, key)) = &cosign_key {
                // The signature must name the digest pulled, whatever the
                // tag says now.
                let name = format!("--cosign-key {}", path.display());
                let c =
                    cerro_registry::cosign::image_signature(&reg, &pulled.digest, key, &name).map_err(Error::from)?;
                eprintln!(
                    "cosign signature of {} ({}, {}) verified with {}",
                    pulled.digest,
                    c.manifest_digest(),
                    c.artifact().layout.describe(),
                    path.display()
                );
                checked = Some(c);
            }
            let spec = format!("oci:{}:{tag}", dir.path().display());
            _pulled = Some((dir, cleanup));
            (spec, Some(r.to_owned()))
        }
        None => (image.to_owned(), None),
    };
    let image = image.as_str();
    let src = SourceImage::open(image).with_context(|| format!("opening image {image}"))?;
    let src = match &platform {
        Some(p) => one_platform(src, p)?,
        None => src,
    };
    let image_ref = ImageRef {
        digest: src.manifest.digest,
        reference: src.reference.clone(),
    };
    let manifest = match manifest {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io("reading", p, e))?;
            PackageManifest::from_draft(&text, image_ref).with_context(|| format!("in {}", p.display()))?
        }
        None => default_manifest(
            &registry_ref
                .as_deref()
                .map(|r| format!("docker:{}", r.rsplit('/').next().unwrap_or(r)))
                .unwrap_or_else(|| image.to_owned()),
            image_ref,
        )?,
    };
    let mtime = source_date_epoch()?;
    let transport = match &registry_ref {
        Some(_) => "docker".to_owned(),
        None => image.split_once(':').map(|(t, _)| t).unwrap_or(image).to_owned(),
    };
    let opts = AttestOptions {
        sbom: attest.sbom.map(|f| match f {
            SbomFormatArg::Spdx => SbomFormat::Spdx,
            SbomFormatArg::Cyclonedx => SbomFormat::CycloneDx,
        }),
        provenance: attest.provenance.then(|| ImageSource {
            transport,
            reference: registry_ref.clone().or_else(|| src.reference.clone()),
        }),
        build_provenance: match (&registry_ref, attest.provenance) {
            (None, true) => build_provenance(image, &src.manifest.digest)?,
            _ => None,
        },
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        time: mtime,
    };
    let mut evidence = Vec::new();
    if let (Some(c), Some(r)) = (&checked, &registry_ref) {
        if c.image() != src.manifest.digest {
            bail!(Error::DigestMismatch {
                what: "the image packed vs the one whose cosign signature was checked".into(),
                expected: c.image(),
                actual: src.manifest.digest,
            });
        }
        evidence.push((
            cerro_core::cosign_signature::EVIDENCE_PATH.to_owned(),
            cerro_core::cosign_signature::evidence_statement(c, &manifest.package.name, r)?,
        ));
    }
    let host = super::selinux::host_policy(attest.selinux_policy)?;
    write_bundle(&src, &manifest, &keys, &opts, host.as_ref(), output, &evidence)?;
    let what = match src.platforms.as_slice() {
        [] => format!("{}, {} layer(s)", src.manifest.digest, src.parts.layers.len()),
        platforms => format!(
            "image index {}, {} platform(s): {}",
            src.manifest.digest,
            platforms.len(),
            platforms
                .iter()
                .map(|p| p.platform.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    println!(
        "packed {} {} ({what}) into {} signed by {}",
        manifest.package.name,
        manifest.package.version,
        output.display(),
        key_ids.join(", ")
    );
    Ok(ExitCode::Valid)
}

/// `--platform P`: of a multi-platform image, the one platform image `P`
/// selects (`choose_platform`: none or several refused, naming those the
/// index has), packed as a single image; a single image only if its config
/// says it is for `P` (else its bundle would claim a platform the image is
/// not for). A `docker://` index was already narrowed by the pull.
fn one_platform(src: SourceImage, wanted: &Platform) -> Result<SourceImage> {
    if src.platforms.is_empty() {
        let what = format!("image config {}", src.parts.config.digest);
        let config = cerro_core::image::parse_config(&what, &src.read_blob_small(&src.parts.config)?)?;
        let is = Platform {
            os: config.os,
            architecture: config.architecture,
            variant: config.variant,
        };
        if !wanted.selects(&is) {
            bail!(Error::invalid_config(
                format!("--platform {wanted}"),
                format!("image {} is for platform {is} only", src.manifest.digest),
            ));
        }
        return Ok(src);
    }
    let chosen = choose_platform(&format!("image index {}", src.manifest.digest), &src.platforms, wanted)?;
    src.platforms
        .iter()
        .position(|e| std::ptr::eq(e, chosen))
        .and_then(|i| src.platform_image(i))
        .ok_or_else(|| Error::malformed("image index", format!("platform {} is not in it", chosen.platform)).into())
}

/// The provenance `ct build` wrote beside `oci:DIR[:REF]` for the image
/// `digest` (`DIR/cerro-build/sha256-HEX.provenance.json`, spec/build.md
/// §5), if any. One that names another image is refused: the layout was
/// changed after the build.
fn build_provenance(image: &str, digest: &cerro_core::digest::Digest) -> Result<Option<serde_json::Value>> {
    let Some(rest) = image.strip_prefix("oci:") else {
        return Ok(None);
    };
    let dir = rest.split_once(':').map_or(rest, |(d, _)| d);
    let path = Path::new(dir)
        .join("cerro-build")
        .join(cerro_build::provenance::file_name(digest));
    if !path.exists() {
        return Ok(None);
    }
    let bytes = cerro_core::file::read_bounded(&path, 16 << 20, "build provenance")?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::malformed(path.display().to_string(), e.to_string()))?;
    match cerro_build::provenance::image_of(&value) {
        Some(d) if d == *digest => Ok(Some(value)),
        other => Err(Error::DigestMismatch {
            what: format!("{}: the image ct build recorded vs the image packed", path.display()),
            expected: other.unwrap_or(cerro_core::digest::Digest::from_bytes([0; 32])),
            actual: *digest,
        }
        .into()),
    }
}

/// A manifest for an image packed without `--manifest`: the name from the
/// image's file name, the version from its reference (else "0").
fn default_manifest(image: &str, image_ref: ImageRef) -> Result<PackageManifest> {
    let path = image.split_once(':').map(|(_, r)| r).unwrap_or(image);
    let path = path.split(':').next().unwrap_or(path);
    let stem = Path::new(path)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = stem.split('.').next().unwrap_or("").to_ascii_lowercase();
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches(|c: char| c == '-' || c.is_ascii_digit()).to_owned();
    if name.len() < 2 {
        name = "image".into();
    }
    let version = image_ref
        .reference
        .as_deref()
        .filter(|r| cerro_core::manifest::validate_version(r).is_ok())
        .unwrap_or("0")
        .to_owned();
    let text = format!("[package]\nname = {name:?}\nversion = {version:?}\n");
    eprintln!("note: no --manifest given; describing the image as {name} {version}");
    Ok(PackageManifest::from_draft(&text, image_ref)?)
}

pub fn sign(ctx: &Ctx, file: &Path, key_id: &str) -> Result<ExitCode> {
    let key = crate::signer::resolve_one(ctx, key_id)?;
    let f = File::open(file).map_err(|e| Error::io("opening", file, e))?;
    let bundle = read_bundle_file(&f, &mut NoExtract)?;
    let mut out = AtomicFile::create(file, 0o644)?;
    cerro_core::pack::cosign_to_file(&bundle, file, &key, out.file())?;
    // Signing in place replaces the only copy: synced, so a power cut
    // leaves the old bundle or the new one, never neither.
    out.commit()?;
    let n = bundle.release().map(|r| r.envelope.signatures.len()).unwrap_or(0);
    println!(
        "signed the release attestation of {} with {key_id} (it had {n} signature(s)); it binds every other attestation, which are copied unchanged",
        file.display()
    );
    Ok(ExitCode::Valid)
}

#[cfg(test)]
mod bare_reference_tests {
    use super::bare_reference;

    #[test]
    fn a_bare_reference_is_docker_and_nothing_is_read_two_ways() {
        for r in [
            "docker.io/library/nginx:1.26",
            "127.0.0.1:5000/app:1",
            "localhost/app",
            "registry.example/a/b@sha256:0dd2bd6ca51a8ff74944986229b1d3f9ba929a5846dcd643e77d59bbcd32df6a",
        ] {
            assert_eq!(bare_reference(r).ok().flatten(), Some(r), "{r}");
        }
        for t in [
            "oci:/tmp/x:good",
            "oci-archive:x.tar",
            "docker-archive:x.tar:a",
            "docker://docker.io/library/nginx:1.26",
            "oci:5000/x",
        ] {
            assert_eq!(bare_reference(t).ok().flatten(), None, "{t}");
        }
        for (bad, why) in [
            ("/tmp/layout", "is a local path"),
            ("./layout", "is a local path"),
            ("Cargo.toml", "is a local path"),
            ("nginx:1.26", "expected a fully qualified registry reference"),
            ("library/nginx", "expected a fully qualified registry reference"),
            ("docker.io/", "expected a fully qualified registry reference"),
        ] {
            let e = bare_reference(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
