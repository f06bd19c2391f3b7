//! `gen-image DIR [--size-mib N] [--layers N]`: writes the benchmark's OCI
//! image layout (default 1024 MiB in 8 layers) to DIR and prints its
//! manifest digest. `gen-image DIR --layer-tar FILE` instead writes a
//! one-layer image of an existing uncompressed tar (the debootstrapped
//! Debian root of `bench/run --debian`).
//!
//! Each layer is an uncompressed tar holding one file of pseudo-random
//! bytes from a splitmix64 generator. The data is *incompressible*, so
//! neither the page cache, the disk nor any compression step can make the
//! benchmark look better than real image layers of that size; and it is
//! *deterministic* (fixed seeds, fixed tar metadata, RFC 8785 JSON), so
//! every run and every machine packs byte-identical inputs with the same
//! manifest digest. Layers are streamed from the generator through
//! `LayoutBuilder::layer_stream`: no layer is ever held in memory.

use std::io::{self, Read};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use cerro_core::image::layout::{basic_config, LayoutBuilder};

/// An endless stream of splitmix64 output (little-endian), seeded per layer.
#[derive(Debug)]
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Read for SplitMix64 {
    /// Fills all of `buf`; never ends (callers bound it with `take`).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let n = rest.len();
        rest.copy_from_slice(&self.next_u64().to_le_bytes()[..n]);
        Ok(buf.len())
    }
}

fn parse_num(flag: &str, v: Option<String>) -> Result<u64> {
    let v = v.with_context(|| format!("{flag} needs a value"))?;
    v.parse().with_context(|| format!("{flag}: not a number: {v}"))
}

fn main() -> Result<()> {
    const USAGE: &str = "usage: gen-image DIR [--size-mib N] [--layers N] | gen-image DIR --layer-tar FILE";
    let (mut dir, mut size_mib, mut layers) = (None::<PathBuf>, 1024u64, 8u64);
    let mut layer_tar = None::<PathBuf>;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size-mib" => size_mib = parse_num("--size-mib", args.next())?,
            "--layers" => layers = parse_num("--layers", args.next())?,
            "--layer-tar" => layer_tar = Some(args.next().context("--layer-tar needs a file")?.into()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ if a.starts_with('-') || dir.is_some() => bail!("unexpected argument {a}\n{USAGE}"),
            _ => dir = Some(a.into()),
        }
    }
    let dir = dir.context(USAGE)?;
    if let Some(tar) = layer_tar {
        let mut b = LayoutBuilder::new(&dir)?;
        b.layer_from_tar(&tar)?;
        let manifest = b.finish(basic_config(&["/bin/sh"]), Some("bench"))?;
        println!("{}", manifest.digest);
        return Ok(());
    }
    if layers == 0 {
        bail!("--layers must be at least 1");
    }
    let per_layer = size_mib * (1 << 20) / layers;

    let mut b = LayoutBuilder::new(&dir)?;
    for i in 0..layers {
        let path = format!("data/layer-{i}.bin");
        let rng = SplitMix64 {
            state: 0xC0FF_EE00_0000_0000 ^ i,
        };
        // `take`: the tar builder copies until EOF.
        b.layer_stream(vec![(path.as_str(), 0o644, per_layer, Box::new(rng.take(per_layer)))])?;
    }
    let manifest = b.finish(basic_config(&["/bin/true"]), Some("bench"))?;
    println!("{}", manifest.digest);
    Ok(())
}
