//! `ct demo`: the main job end to end on an embedded sample image, in a
//! private state directory (the user's keys are never touched), through
//! the same code as the commands it shows: the pack pipeline
//! (`pack::write_bundle`) and the host service's `verify_file`.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use cerro_attest::{AttestOptions, ImageSource, SbomFormat};
use cerro_core::bundle::NoExtract;
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::manifest::{ImageRef, PackageManifest};
use cerro_core::trust::home::Home;
use cerro_core::{Error, ExitCode};
use cerro_enforce::{Config, Host, Mode};

use crate::ctx::source_date_epoch;
use crate::output;

const SAMPLE_MANIFEST: &str = r#"[package]
name = "hello-cerro"
version = "1.0.0"
summary = "A tiny sample image embedded in ct"
license = "Apache-2.0"

[provenance]
upstream = "https://example.org/hello-cerro-1.0.0.tar.gz"

[build]
system = "oci"
reproducible = true

[runtime]
entrypoint = ["/bin/sh", "-c", "cat /hello.txt"]
"#;

fn sample_image(dir: &Path) -> Result<()> {
    let mut b = LayoutBuilder::new(dir)?;
    b.layer_tar(&[
        ("hello.txt", 0o644, b"Hello from a Cerro Torre attested image.\n"),
        ("etc/os-release", 0o644, b"NAME=\"hello-cerro\"\nVERSION_ID=1.0.0\n"),
    ])?;
    let notes = "Layers are content-addressed; the release statement binds them.\n".repeat(64);
    b.layer_tar(&[("usr/share/doc/hello-cerro/NOTES", 0o644, notes.as_bytes())])?;
    b.finish(basic_config(&["/bin/sh", "-c", "cat /hello.txt"]), Some("1.0.0"))?;
    Ok(())
}

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

pub fn run(keep: Option<&Path>) -> Result<ExitCode> {
    let tmp;
    let work = match keep {
        Some(p) => {
            fs::create_dir_all(p).map_err(|e| Error::io("creating", p, e))?;
            p.to_path_buf()
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("ct-demo-")
                .tempdir()
                .map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
            tmp.path().to_path_buf()
        }
    };
    let home = Home::new(work.join("home"));
    let image_dir = work.join("image");
    let bundle_path = work.join("hello-cerro.ctp");
    let tampered_path = work.join("hello-cerro-tampered.ctp");
    println!(
        "ct demo: working in {} (private CERRO_HOME: {})",
        work.display(),
        home.root().display()
    );

    step(1, "ct keygen --id demo-maintainer");
    let key = match home.generate_key("demo-maintainer", None) {
        Ok(e) => e,
        Err(Error::KeyExists { .. }) => home
            .load_trust()?
            .get("demo-maintainer")
            .cloned()
            .context("demo key vanished")?,
        Err(e) => return Err(e.into()),
    };
    println!(
        "key demo-maintainer, fingerprint {}, trust {}",
        key.fingerprint, key.level
    );

    step(2, "build the embedded sample image (OCI layout, 2 layers)");
    if image_dir.exists() {
        fs::remove_dir_all(&image_dir).map_err(|e| Error::io("removing", &image_dir, e))?;
    }
    sample_image(&image_dir)?;
    let src = SourceImage::open(&format!("oci:{}:1.0.0", image_dir.display()))?;
    println!("image {} with {} layers", src.manifest.digest, src.parts.layers.len());

    step(
        3,
        "ct pack oci:image:1.0.0 -o hello-cerro.ctp --key demo-maintainer --manifest hello.toml",
    );
    let manifest = PackageManifest::from_draft(
        SAMPLE_MANIFEST,
        ImageRef {
            digest: src.manifest.digest,
            reference: src.reference.clone(),
        },
    )?;
    let signing = home.load_signing_key("demo-maintainer", None)?;
    let time = source_date_epoch()?;
    let attest = AttestOptions {
        sbom: Some(SbomFormat::Spdx),
        provenance: Some(ImageSource {
            transport: "oci".into(),
            reference: src.reference.clone(),
        }),
        build_provenance: None,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        time,
    };
    super::pack::write_bundle(&src, &manifest, &[signing], &attest, None, &bundle_path, &[])?;
    let size = fs::metadata(&bundle_path).map(|m| m.len()).unwrap_or(0);
    println!("wrote {} ({size} bytes)", bundle_path.display());

    // The host service, as ct verify uses it, over the demo's private state
    // (no deployment policy), and over an empty trust root for step 7.
    let host_of = |home: &Path| {
        Host::with_system_clock(Config {
            home: home.to_path_buf(),
            store: work.join("store"),
            policy: None,
            audit_log: work.join("store").join("audit.log"),
            mode: Mode::Enforce,
        })
    };
    let trusting = host_of(home.root());
    let stranger = host_of(&work.join("stranger"));
    let check = |path: &Path,
                 host: &Host|
     -> Result<Result<cerro_core::verify::Report, (Error, cerro_core::verify::Report)>, Error> {
        Ok(match host.verify_file(path, &mut NoExtract)? {
            Ok(v) => Ok(v.report().clone()),
            Err(r) => Err((r.error, r.report)),
        })
    };

    step(4, "ct verify hello-cerro.ctp");
    let report = match check(&bundle_path, &trusting)? {
        Ok(r) => r,
        Err((e, _)) => bail!("the demo bundle did not verify: {e}"),
    };
    println!("{}", report.message);

    step(5, "ct explain hello-cerro.ctp");
    print!("{}", output::explain(&report));

    step(6, "flip one byte of the last layer, then ct verify the tampered copy");
    let mut bytes = fs::read(&bundle_path).map_err(|e| Error::io("reading", &bundle_path, e))?;
    let offset = last_member_offset(&bundle_path)?;
    bytes[offset as usize] ^= 0x20;
    fs::write(&tampered_path, &bytes).map_err(|e| Error::io("writing", &tampered_path, e))?;
    let refused_tamper = match check(&tampered_path, &trusting) {
        Err(e) => {
            println!("refused (exit {}): {e}", e.exit_code().code());
            e.exit_code() == ExitCode::DigestMismatch
        }
        Ok(Err((e, _))) => {
            println!("refused (exit {}): {e}", e.exit_code().code());
            true
        }
        Ok(Ok(_)) => false,
    };

    step(
        7,
        "verify the untouched bundle on a host that does not trust demo-maintainer",
    );
    let refused_untrusted = match check(&bundle_path, &stranger)? {
        Err((e, _)) => {
            println!("refused (exit {}): {e}", e.exit_code().code());
            e.exit_code() == ExitCode::SignerNotTrusted
        }
        Ok(_) => false,
    };

    if !(refused_tamper && refused_untrusted) {
        bail!("the demo expected both refusals above");
    }
    println!("\ndemo complete: the signed bundle verified; tampering and an untrusted signer were refused.");
    if keep.is_some() {
        println!("files kept in {}", work.display());
    }
    Ok(ExitCode::Valid)
}

/// Offset of the last byte of the last member's data (the last layer).
fn last_member_offset(path: &Path) -> Result<u64> {
    let f = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let mut ar = tar::Archive::new(BufReader::new(f));
    let mut last = None;
    for e in ar.entries().context("reading the demo bundle")? {
        let e = e.context("reading the demo bundle")?;
        last = Some(e.raw_file_position() + e.size().saturating_sub(1));
    }
    last.context("the demo bundle is empty")
}
