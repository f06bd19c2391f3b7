//! `sbom-scan IMAGE [--cyclonedx]`: the SBOM's pass over an image alone
//! (`cerro_attest::layers::scan_with`: every layer read once, every file's
//! SHA-256 and, for SPDX, SHA-1, the package databases), for `bench/run`
//! to time against `sha256sum` + `sha1sum` of the unpacked files. Prints
//! the number of files and packages found.

use anyhow::{bail, Context, Result};
use cerro_attest::layers::{scan_with, FileDigests};
use cerro_core::image::source::SourceImage;

fn main() -> Result<()> {
    const USAGE: &str = "usage: sbom-scan IMAGE [--cyclonedx]";
    let (mut image, mut digests) = (None::<String>, FileDigests::Sha256AndSha1);
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--cyclonedx" => digests = FileDigests::Sha256,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ if a.starts_with('-') || image.is_some() => bail!("unexpected argument {a}\n{USAGE}"),
            _ => image = Some(a),
        }
    }
    let image = image.context(USAGE)?;
    let src = SourceImage::open(&image).with_context(|| format!("opening {image}"))?;
    let contents = scan_with(&src, digests, &|_| {})?;
    println!("{} files, {} packages", contents.files.len(), contents.packages.len());
    Ok(())
}
