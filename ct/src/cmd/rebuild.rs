//! `ct rebuild BUNDLE (--compare IMAGE | --sources DIR) --key KEY`: any
//! party rebuilds a released image by its own means (`--compare`) or with
//! `cerro_build::build` from the signed manifest and the sources in `DIR`,
//! and compares it with the bundle's; on a match it
//! signs a rebuild attestation (a SLSA verification summary bound to this
//! release, `cerro_core::rebuild`) and adds it to the bundle.
//!
//! Only a `Verified<Bundle>` is compared ([`compare`]): a rebuilder vouches
//! for a release whose signatures it checked. The match is decided on
//! digests alone: the config's and every layer's, the rebuilt ones measured
//! from their bytes here (the candidate's own manifest is not trusted), the
//! bundle's as verified. On a mismatch the differing layers are opened and
//! their files compared (path, size, digest), for a person to read; with
//! `diffoscope` installed its report is added. Nothing is signed then.
//!
//! A multi-platform bundle is rebuilt one platform at a time: the rebuilt
//! image is compared with the bundle's manifest for `--platform`, by
//! default the platform the rebuilt image's own config says, and the
//! rebuild attestation signed binds that platform's manifest
//! (`rebuilds/<key id>-<os>-<arch>[-<variant>].dsse.json`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result};
use cerro_core::bundle::{add_rebuild_to_file, Bundle, NoExtract};
use cerro_core::digest::{Digest, Hasher};
use cerro_core::image::source::SourceImage;
use cerro_core::image::{choose_platform, parse_config, BlobRef, ImageParts, Platform};
use cerro_core::rebuild::sign_platform_rebuild;
use cerro_core::verify::Verified;
use cerro_core::{Error, ExitCode};

use crate::ctx::Ctx;
use crate::output::printable;

/// What `ct rebuild` was asked.
pub struct RebuildArgs<'a> {
    pub bundle: &'a Path,
    pub compare: Option<&'a str>,
    pub sources: Option<&'a Path>,
    pub base: Option<&'a str>,
    pub key: &'a str,
    pub output: Option<&'a Path>,
    pub verifier_id: &'a str,
    pub policy: Option<&'a Path>,
    /// `os/arch[/variant]`: the platform of a multi-platform bundle to
    /// compare (default: the rebuilt image's own).
    pub platform: Option<&'a str>,
}

/// Most differing files listed per layer (the count of the rest is given).
const MAX_LISTED: usize = 40;
/// Most tar entries read from one layer for the file comparison.
const MAX_ENTRIES: usize = 1_000_000;
/// Most lines of diffoscope's report printed.
const MAX_DIFFOSCOPE_LINES: usize = 200;

pub fn rebuild(ctx: &Ctx, a: &RebuildArgs<'_>) -> Result<ExitCode> {
    // The key first: a wrong id or passphrase fails before any work.
    // Through the one resolver: a key file or a key on a PKCS#11 token.
    let key = ctx
        .signers(&[a.key.to_owned()])?
        .pop()
        .ok_or_else(|| Error::invalid_config("ct rebuild --key", "no key"))?;
    cerro_core::rebuild::check_verifier_id(a.verifier_id)
        .map_err(|why| Error::invalid_config("ct rebuild --verifier-id", why))?;
    let verified = match verified(ctx, a.bundle, a.policy)? {
        Ok(v) => v,
        Err(r) => {
            eprintln!(
                "ct: refused {}: {}; nothing was rebuilt or signed",
                a.bundle.display(),
                printable(&r.error.to_string())
            );
            return Ok(r.error.exit_code());
        }
    };
    // The image to compare: the one the rebuilder made by their own means
    // (--compare), or one `ct build` makes now from the manifest the
    // release signers signed and the sources in --sources, into a scratch
    // layout that lives until the comparison is done.
    let scratch;
    // A Nix rebuild's output paths against the release's, by NAR digest.
    let mut outputs = Vec::new();
    let spec = match a.compare {
        Some(spec) => spec.to_owned(),
        None => {
            let sources = a.sources.ok_or_else(|| {
                Error::invalid_config(
                    "ct rebuild",
                    "give --sources DIR (the source files the bundle's manifest names, e.g. ct import's \
                     --download-dir) to rebuild with ct build, or --compare IMAGE for an image you rebuilt",
                )
            })?;
            scratch = tempfile::Builder::new()
                .prefix(".ct-rebuild.")
                .tempdir()
                .map_err(|e| Error::io("creating a scratch directory for", "the rebuild", e))?;
            let target =
                cerro_build::OciTarget::parse(&format!("oci:{}:rebuild", scratch.path().join("image").display()))?;
            let m = &verified.manifest;
            let draft = cerro_core::manifest::DraftManifest {
                package: m.package.clone(),
                provenance: m.provenance.clone(),
                build: m.build.clone(),
                runtime: m.runtime.clone(),
                capabilities: m.capabilities.clone(),
                image: None,
            };
            let mut opts = cerro_build::Options::from_host(&cerro_build::host::System, env!("CARGO_PKG_VERSION"))?;
            opts.base = recorded_base(&verified, a.base)?;
            let built = cerro_build::build_with(&draft, sources, &target, &opts, &cerro_build::host::System)
                .with_context(|| format!("rebuilding {} {} with ct build", m.package.name, m.package.version))?;
            eprintln!(
                "ct: rebuilt {} {} from {} into {} (image {})",
                printable(&m.package.name),
                printable(&m.package.version),
                sources.display(),
                scratch.path().display(),
                built.image
            );
            outputs = cerro_build::nix::compare_outputs(&release_provenance(&verified), &built.provenance);
            format!("oci:{}:rebuild", scratch.path().join("image").display())
        }
    };
    let spec = spec.as_str();
    let candidate = SourceImage::open(spec).with_context(|| format!("opening the rebuilt image {spec}"))?;
    let comparison = compare(&verified, &candidate, a.platform)?;
    for l in comparison.lines() {
        println!("{}", printable(&l));
    }
    let hex = |d: &Option<Digest>| d.map_or("none".to_owned(), |d| d.to_string());
    for o in &outputs {
        let line = if o.same() {
            format!("output {} nar {} matches", o.name, hex(&o.ours))
        } else if o.unrecorded() {
            format!(
                "output {} nar {} (the release records no NAR digest for it: not compared)",
                o.name,
                hex(&o.theirs)
            )
        } else {
            format!(
                "output {} DIFFERS: bundle nar {}, rebuilt nar {}",
                o.name,
                hex(&o.ours),
                hex(&o.theirs)
            )
        };
        println!("{}", printable(&line));
    }
    let outputs_differ = outputs.iter().any(|o| !o.same() && !o.unrecorded());
    if comparison.matches() && outputs_differ {
        eprintln!(
            "ct: the rebuilt image matches {} but its Nix outputs' NAR digests differ from the release's provenance: nothing was signed",
            a.bundle.display()
        );
        return Ok(ExitCode::DigestMismatch);
    }
    if !comparison.matches() {
        let source = SourceImage::open_bundle(a.bundle)?;
        for d in comparison.differing() {
            println!("{}", printable(&d.title()));
            if d.what == "config" {
                println!("  the image configs differ (ct unpack both and compare the config blobs)");
                continue;
            }
            match file_differences(&source, d.ours.as_ref(), &candidate, d.theirs.as_ref()) {
                Ok(lines) => {
                    for l in lines {
                        println!("  {}", printable(&l));
                    }
                }
                Err(e) => println!("  (files not compared: {})", printable(&e.to_string())),
            }
            if let (Some(ours), Some(theirs)) = (&d.ours, &d.theirs) {
                for l in diffoscope(&source, ours, &candidate, theirs) {
                    println!("  {}", printable(&l));
                }
            }
        }
        eprintln!(
            "ct: the rebuilt image {spec} differs from {} ({}): nothing was signed",
            a.bundle.display(),
            comparison.summary()
        );
        return Ok(ExitCode::DigestMismatch);
    }
    let now = ctx.now()?;
    let rebuild = sign_platform_rebuild(&verified, comparison.platform.as_ref(), &key, a.verifier_id, now)?;
    let dest = a.output.unwrap_or(a.bundle);
    let path = rebuild.path.clone();
    add_rebuild_to_file(&verified, a.bundle, rebuild, dest)?;
    let of = comparison
        .platform
        .as_ref()
        .map_or(String::new(), |p| format!(" for platform {p}"));
    println!(
        "rebuilt {} {} ({}){}: the config and {} layer(s) match; rebuild attestation {path} signed by {} written to {}",
        printable(&verified.manifest.package.name),
        printable(&verified.manifest.package.version),
        comparison.manifests.0,
        printable(&of),
        comparison.pairs.len() - 1,
        a.key,
        dest.display()
    );
    Ok(ExitCode::Valid)
}

/// The base a rebuild with `ct build` must use: the one the bundle's signed
/// provenance records (`resolvedDependencies`, `role: base`), given as
/// `--base`, its manifest digest the recorded one. Refused: a recorded base
/// without `--base`, or a `--base` for a release built without one (exit
/// 78); a `--base` whose digest differs (exit 1). Checked before anything
/// is built.
fn recorded_base(bundle: &Verified<Bundle>, given: Option<&str>) -> Result<Option<String>, Error> {
    let provenance = release_provenance(bundle);
    let recorded = if provenance.is_null() {
        None
    } else {
        cerro_build::base::recorded(&provenance)
            .map_err(|why| Error::malformed(cerro_core::statement::PROVENANCE_PATH, why))?
    };
    match (recorded, given) {
        (None, None) => Ok(None),
        (None, Some(g)) => Err(Error::invalid_config(
            "ct rebuild --base",
            format!("{g}: the release records no base image (it was built without one)"),
        )),
        (Some((name, _)), None) => Err(Error::invalid_config(
            "ct rebuild --base",
            format!("the release was built on the base image {name}: give it as --base oci:DIR[:REF]"),
        )),
        (Some((name, digest)), Some(g)) => {
            let actual = cerro_core::image::source::SourceImage::open(g)?.manifest.digest;
            if actual != digest {
                return Err(Error::DigestMismatch {
                    what: format!("--base {g} (the release was built on {name})"),
                    expected: digest,
                    actual,
                });
            }
            Ok(Some(g.to_owned()))
        }
    }
}

/// The predicate of the bundle's provenance attestation (bound by the
/// verified release statement), or `null` when it has none.
fn release_provenance(bundle: &Verified<Bundle>) -> serde_json::Value {
    bundle
        .attestations
        .iter()
        .find(|a| a.path == cerro_core::statement::PROVENANCE_PATH)
        .and_then(|a| serde_json::from_slice::<serde_json::Value>(&a.envelope.payload).ok())
        .and_then(|mut st| st.get_mut("predicate").map(serde_json::Value::take))
        .unwrap_or(serde_json::Value::Null)
}

/// The bundle verified as a rebuilder checks it: its signatures against the
/// trust store at the baseline, and only with `--policy` a deployment
/// policy (the host's default policy may require the very rebuilds this
/// command adds).
fn verified(ctx: &Ctx, file: &Path, policy: Option<&Path>) -> Result<cerro_enforce::Checked> {
    let host = ctx.host(policy)?;
    let checked = if policy.is_some() {
        host.verify_file(file, &mut NoExtract)
    } else {
        host.verify_file_baseline(file, &mut NoExtract)
    };
    checked.with_context(|| format!("checking bundle {}", file.display()))
}

/// One blob of each side: the bundle's (as verified) and the rebuilt one's
/// (as measured).
#[derive(Debug, Clone)]
pub struct Pair {
    /// `config`, or `layer N` (1-based).
    pub what: String,
    /// The bundle's blob (absent: the rebuilt image has more layers).
    pub ours: Option<BlobRef>,
    /// The rebuilt blob, its digest measured from its bytes (absent: it has
    /// fewer layers).
    pub theirs: Option<BlobRef>,
}

impl Pair {
    fn same(&self) -> bool {
        matches!((&self.ours, &self.theirs), (Some(a), Some(b)) if a.digest == b.digest)
    }

    fn title(&self) -> String {
        let side = |b: &Option<BlobRef>| {
            b.as_ref()
                .map_or("none".to_owned(), |b| format!("{} ({} bytes)", b.digest, b.size))
        };
        format!(
            "{} DIFFERS: bundle {}, rebuilt {}",
            self.what,
            side(&self.ours),
            side(&self.theirs)
        )
    }
}

/// The bundle's image against a rebuilt one: the config, then every layer
/// in order.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Config first, then layers.
    pub pairs: Vec<Pair>,
    /// The image manifests' digests (informative: annotations may differ):
    /// of a multi-platform bundle, the compared platform's.
    pub manifests: (Digest, Digest),
    /// The platform of a multi-platform bundle compared (none: a single
    /// image's bundle).
    pub platform: Option<Platform>,
}

impl Comparison {
    /// Config and every layer equal, and as many layers.
    pub fn matches(&self) -> bool {
        self.pairs.iter().all(Pair::same)
    }

    fn differing(&self) -> impl Iterator<Item = &Pair> {
        self.pairs.iter().filter(|p| !p.same())
    }

    fn summary(&self) -> String {
        let names: Vec<&str> = self.differing().map(|p| p.what.as_str()).collect();
        format!("{} differ", names.join(", "))
    }

    fn lines(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.pairs.len() + 1);
        for p in self.pairs.iter().filter(|p| p.same()) {
            if let Some(b) = &p.ours {
                out.push(format!("{:<11} {} matches", p.what, b.digest));
            }
        }
        out.push(format!(
            "{:<11} bundle {}, rebuilt {}{}",
            "manifest",
            self.manifests.0,
            self.manifests.1,
            if self.manifests.0 == self.manifests.1 {
                " (the same)"
            } else {
                " (not compared: only the config and the layers are)"
            }
        ));
        out
    }
}

/// Compares the verified bundle's image with `candidate`: the config and
/// each layer, by digest, the candidate's measured from its bytes (a blob
/// that is not what its own manifest says is refused, exit 1: the rebuilt
/// layout is damaged). The one entry point for a rebuilt image, whoever
/// built it: `ct build`'s output will come here too.
///
/// Of a multi-platform bundle one platform is compared: `platform`
/// (`os/arch[/variant]`, chosen by `choose_platform`'s rule as every
/// `--platform` is: none or several, 78), else the one the candidate's
/// config names (one the bundle does not carry: 5), naming those it has. A candidate that is itself an index is compared by its manifest
/// for that platform, and needs `platform`. A single image's bundle takes
/// a single image, and no `platform`.
pub fn compare(
    bundle: &Verified<Bundle>,
    candidate: &SourceImage,
    platform: Option<&str>,
) -> Result<Comparison, Error> {
    if bundle.platforms.is_empty() {
        if !candidate.platforms.is_empty() {
            return Err(Error::malformed(
                "ct rebuild",
                "the rebuilt image is a multi-platform index and the bundle a single image: compare the one platform's image",
            ));
        }
        if let Some(p) = platform {
            return Err(Error::invalid_config(
                "ct rebuild --platform",
                format!(
                    "{}: the bundle is a single image ({}/{}), not an index of platforms",
                    printable(p),
                    printable(&bundle.config.os),
                    printable(&bundle.config.architecture)
                ),
            ));
        }
        return pair_up(
            &bundle.parts,
            candidate,
            &candidate.parts,
            (bundle.image.digest, candidate.manifest.digest),
            None,
        );
    }
    let ours = match (platform, candidate.platforms.is_empty()) {
        // Named on the command line: the one rule of every `--platform`
        // (`linux/arm64` selects `linux/arm64/v8`; none or several: 78).
        (Some(p), _) => {
            let wanted = Platform::parse(p).ok_or_else(|| {
                Error::invalid_config(
                    "--platform",
                    format!("{:?} is not OS/ARCH[/VARIANT] (e.g. linux/amd64, linux/arm64/v8)", printable(p)),
                )
            })?;
            choose_platform(
                &format!("the bundle's image index {}", bundle.image.digest),
                &bundle.platforms,
                &wanted,
            )?
        }
        // The rebuilt image's own platform, as its config says it: one the
        // bundle does not carry is not attested (5).
        (None, true) => {
            let config = parse_config(
                &format!("rebuilt image config {}", candidate.parts.config.digest),
                &candidate.read_blob_small(&candidate.parts.config)?,
            )?;
            let name = Platform {
                os: config.os,
                architecture: config.architecture,
                variant: config.variant,
            }
            .to_string();
            bundle
                .platforms
                .iter()
                .find(|p| p.platform.to_string() == name)
                .ok_or_else(|| {
                    let have: Vec<String> = bundle.platforms.iter().map(|p| p.platform.to_string()).collect();
                    Error::PlatformNotAttested(format!(
                        "the bundle has no platform {} to compare the rebuilt image with (it has {})",
                        printable(&name),
                        printable(&have.join(", "))
                    ))
                })?
        }
        (None, false) => {
            return Err(Error::invalid_config(
                "ct rebuild",
                "the rebuilt image is a multi-platform index: name the platform to compare with --platform os/arch[/variant]",
            ))
        }
    };
    let name = ours.platform.to_string();
    let (theirs_parts, theirs_manifest) = if candidate.platforms.is_empty() {
        (&candidate.parts, candidate.manifest.digest)
    } else {
        let p = candidate
            .platforms
            .iter()
            .find(|p| p.platform.to_string() == name)
            .ok_or_else(|| {
                Error::malformed(
                    "ct rebuild",
                    format!("the rebuilt image's index has no platform {}", printable(&name)),
                )
            })?;
        (&p.parts, p.manifest.digest)
    };
    pair_up(
        &ours.parts,
        candidate,
        theirs_parts,
        (ours.manifest.digest, theirs_manifest),
        Some(ours.platform.clone()),
    )
}

/// The config and each layer of `ours` (as verified) against `theirs` of
/// `candidate` (measured).
fn pair_up(
    ours: &ImageParts,
    candidate: &SourceImage,
    theirs: &ImageParts,
    manifests: (Digest, Digest),
    platform: Option<Platform>,
) -> Result<Comparison, Error> {
    let mut pairs = Vec::with_capacity(ours.layers.len() + 1);
    pairs.push(Pair {
        what: "config".into(),
        ours: Some(ours.config.clone()),
        theirs: Some(measured(candidate, &theirs.config)?),
    });
    let n = ours.layers.len().max(theirs.layers.len());
    for i in 0..n {
        let measured_layer = match theirs.layers.get(i) {
            Some(b) => Some(measured(candidate, b)?),
            None => None,
        };
        pairs.push(Pair {
            what: format!("layer {}", i + 1),
            ours: ours.layers.get(i).cloned(),
            theirs: measured_layer,
        });
    }
    Ok(Comparison {
        pairs,
        manifests,
        platform,
    })
}

/// `blob` of `image` as its bytes are: hashed here, refused if its
/// manifest named other bytes.
fn measured(image: &SourceImage, blob: &BlobRef) -> Result<BlobRef, Error> {
    let mut r = image.open_blob(blob)?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r
            .read(&mut buf)
            .map_err(|e| Error::io("reading rebuilt blob", blob.digest.to_string(), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let (digest, size) = h.finish();
    if digest != blob.digest || size != blob.size {
        return Err(Error::DigestMismatch {
            what: format!("rebuilt image blob {} (its layout is damaged)", blob.digest),
            expected: blob.digest,
            actual: digest,
        });
    }
    Ok(blob.clone())
}

/// One entry of a layer as compared: kind, mode, size, content digest or
/// link target.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    size: u64,
    content: String,
}

impl Entry {
    fn show(&self) -> String {
        format!("{} {:o}, {} bytes, {}", self.kind, self.mode, self.size, self.content)
    }
}

/// The entries of a layer (decompressed by its media type), by path.
fn entries(image: &SourceImage, blob: &BlobRef) -> Result<BTreeMap<String, Entry>, Error> {
    let raw = image.open_blob(blob)?;
    let what = format!("layer {}", blob.digest);
    let reader: Box<dyn Read> = if blob.media_type.ends_with("+gzip") || blob.media_type.ends_with(".tar.gzip") {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else if blob.media_type.ends_with("+zstd") {
        Box::new(zstd::stream::read::Decoder::new(raw).map_err(|e| Error::io("decompressing", &what, e))?)
    } else {
        Box::new(raw)
    };
    let mut ar = tar::Archive::new(reader);
    let mut out = BTreeMap::new();
    for e in ar.entries().map_err(|e| Error::malformed(&what, e.to_string()))? {
        let mut e = e.map_err(|e| Error::malformed(&what, format!("not a tar: {e}")))?;
        if out.len() >= MAX_ENTRIES {
            return Err(Error::malformed(&what, format!("more than {MAX_ENTRIES} entries")));
        }
        let path = String::from_utf8_lossy(&e.path_bytes())
            .trim_start_matches("./")
            .to_owned();
        let h = e.header();
        let mode = h.mode().unwrap_or(0);
        let size = h.size().unwrap_or(0);
        let ty = h.entry_type();
        let (kind, content) = if ty.is_file() {
            let mut hasher = Hasher::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = e.read(&mut buf).map_err(|err| Error::io("reading", &what, err))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            ("file", hasher.finish().0.to_string())
        } else if ty.is_symlink() || ty.is_hard_link() {
            let target = e
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            (
                if ty.is_symlink() { "symlink" } else { "hard link" },
                format!("-> {target}"),
            )
        } else if ty.is_dir() {
            ("directory", String::new())
        } else {
            ("special", String::new())
        };
        out.insert(
            path,
            Entry {
                kind,
                mode,
                size,
                content,
            },
        );
    }
    Ok(out)
}

/// The files that differ between two layers, one line each (at most
/// [`MAX_LISTED`], then how many more).
fn file_differences(
    ours_image: &SourceImage,
    ours: Option<&BlobRef>,
    theirs_image: &SourceImage,
    theirs: Option<&BlobRef>,
) -> Result<Vec<String>, Error> {
    let (Some(ours), Some(theirs)) = (ours, theirs) else {
        return Ok(vec!["the images have different numbers of layers".into()]);
    };
    let a = entries(ours_image, ours)?;
    let b = entries(theirs_image, theirs)?;
    let mut lines = Vec::new();
    let mut total = 0usize;
    let mut add = |l: String| {
        total += 1;
        if lines.len() < MAX_LISTED {
            lines.push(l);
        }
    };
    for (path, e) in &a {
        match b.get(path) {
            None => add(format!("only in the bundle: /{path} ({})", e.show())),
            Some(f) if f != e => add(format!("changed: /{path}: bundle {}; rebuilt {}", e.show(), f.show())),
            Some(_) => {}
        }
    }
    for (path, f) in &b {
        if !a.contains_key(path) {
            add(format!("only in the rebuilt image: /{path} ({})", f.show()));
        }
    }
    if total == 0 {
        lines.push(
            "every file is the same (path, type, mode, size, content): the tar headers differ (times, owners, order)"
                .into(),
        );
    } else if total > lines.len() {
        lines.push(format!("and {} more", total - lines.len()));
    }
    Ok(lines)
}

/// diffoscope's report on two layers, when it is installed (Debian
/// `diffoscope-minimal`): an extra for a person, never required. Empty when
/// it is not installed.
fn diffoscope(ours_image: &SourceImage, ours: &BlobRef, theirs_image: &SourceImage, theirs: &BlobRef) -> Vec<String> {
    let Some(program) = find_program("diffoscope") else {
        return Vec::new();
    };
    let run = || -> Result<Vec<String>, Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("creating", "a temporary directory", e))?;
        let copy = |image: &SourceImage, blob: &BlobRef, name: &str| -> Result<PathBuf, Error> {
            let p = dir.path().join(name);
            let mut f = File::create(&p).map_err(|e| Error::io("creating", &p, e))?;
            std::io::copy(&mut image.open_blob(blob)?, &mut f).map_err(|e| Error::io("writing", &p, e))?;
            Ok(p)
        };
        let a = copy(ours_image, ours, "bundle-layer")?;
        let b = copy(theirs_image, theirs, "rebuilt-layer")?;
        let out = Command::new(&program)
            .arg("--text")
            .arg("-")
            .arg("--no-progress")
            .arg(&a)
            .arg(&b)
            .output()
            .map_err(|e| Error::io("running", &program, e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines: Vec<String> = vec!["diffoscope:".into()];
        lines.extend(text.lines().take(MAX_DIFFOSCOPE_LINES).map(|l| format!("  {l}")));
        if text.lines().count() > MAX_DIFFOSCOPE_LINES {
            lines.push(format!("  (cut at {MAX_DIFFOSCOPE_LINES} lines)"));
        }
        Ok(lines)
    };
    run().unwrap_or_else(|e| vec![format!("diffoscope could not compare the layers: {e}")])
}

/// `name` on `PATH`, if there.
fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}
