//! `rpm`: an RPM v4 binary package (for rpm 4.x), built with the `rpm`
//! crate, judged by `rpm -K`, `rpm -qpi`, `rpm -qplv`.
//!
//! The same file list as the .deb (`layout.rs` `items`: the image's tree
//! under the prefix, plus `/usr/share/doc/NAME/cerro-torre.json`), owned by
//! root, every time the export time (`source_date`), build host
//! `cerro-torre`, gzip payload: the same bundle gives the same bytes. Image
//! hard links become an RPM hard-link set.
//!
//! Not streamed: the `rpm` crate builds the payload in memory, so the
//! files' total size is capped ([`crate::Limits::rpm_payload`]) before any
//! file is read.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use cerro_core::bundle::Bundle;
use cerro_core::file::AtomicFile;
use cerro_core::{Error, Result};

use crate::layout::{items, Extra, Item, Prefix};
use crate::meta;
use crate::tree::{Kind, Tree};
use crate::{Format, Limits};

/// `[epoch:]version[-release]` → (epoch, version, release): RPM's version
/// may not hold `-`; the part after the last `-` is the release (`1` when
/// there is none). Characters RPM refuses are refused, not rewritten.
fn evr(v: &str) -> Result<(Option<u32>, &str, &str)> {
    let bad = || {
        Error::malformed(
            "manifest.toml",
            format!("[package] version {v:?} does not map to an RPM [epoch:]version[-release]"),
        )
    };
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (Some(e.parse::<u32>().map_err(|_| bad())?), r),
        None => (None, v),
    };
    let (version, release) = rest.rsplit_once('-').unwrap_or((rest, "1"));
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+~^".contains(&b));
    if ok(version) && ok(release) {
        Ok((epoch, version, release))
    } else {
        Err(bad())
    }
}

fn rpm_err(out: &Path) -> impl Fn(::rpm::Error) -> Error + '_ {
    move |e| Error::malformed(out.display().to_string(), format!("building the rpm: {e}"))
}

/// Writes the .rpm of `tree` to `out`, atomically.
pub(crate) fn write(b: &Bundle, tree: &Tree, prefix: &Prefix, epoch: u64, out: &Path, limits: &Limits) -> Result<()> {
    let arch = meta::rpm_arch(b)?;
    let p = &b.manifest.package;
    let (e, version, release) = evr(&p.version)?;
    let extra: Extra = vec![(
        format!("usr/share/doc/{}/cerro-torre.json", p.name),
        meta::provenance_json(b, Format::Rpm, prefix, epoch)?,
    )];
    let items = items(tree, prefix, &extra)?;
    let total: u64 = items
        .values()
        .map(|i| match i {
            Item::Node(_, n) => match n.kind {
                Kind::File { size, .. } => size,
                _ => 0,
            },
            Item::Extra(bytes) => bytes.len() as u64,
            Item::Dir(_) => 0,
        })
        .sum();
    if total > limits.rpm_payload {
        return Err(Error::malformed(
            "image",
            format!(
                "{total} bytes of files: more than the {} an rpm export builds in memory",
                limits.rpm_payload
            ),
        ));
    }
    let err = rpm_err(out);
    let config = ::rpm::BuildConfig::v4()
        .source_date(u32::try_from(epoch).unwrap_or(u32::MAX))
        .compression(::rpm::CompressionType::Gzip);
    let license = p.license.clone().unwrap_or_else(|| "NOASSERTION".to_owned());
    let mut builder = ::rpm::PackageBuilder::new(&p.name, version, &license, arch, &meta::summary(b));
    builder
        .using_config(config)
        .release(release)
        .description(meta::description(b).join("\n"))
        .build_host("cerro-torre")
        .vendor("Cerro Torre export")
        .packager(format!("Cerro Torre (image {})", b.image.digest))
        .group("Unspecified");
    if let Some(e) = e {
        builder.epoch(e);
    }
    if let Some(h) = &p.homepage {
        builder.url(h.clone());
    }
    if let Some(prov) = &b.manifest.provenance {
        builder.vcs(prov.upstream.clone());
    }
    let links = tree.hard_links();
    let linked: std::collections::BTreeSet<&str> = links.values().copied().collect();
    for (path, item) in &items {
        let at = format!("/{path}");
        match item {
            Item::Dir(mode) => {
                builder
                    .with_dir_entry(
                        ::rpm::FileOptions::dir(at)
                            .permissions(*mode as u16)
                            .user("root")
                            .group("root"),
                    )
                    .map_err(&err)?;
            }
            Item::Extra(bytes) => {
                builder
                    .with_file_contents(
                        bytes.to_vec(),
                        ::rpm::FileOptions::new(at)
                            .permissions(0o644)
                            .user("root")
                            .group("root"),
                    )
                    .map_err(&err)?;
            }
            Item::Node(tree_path, node) => match &node.kind {
                Kind::Dir => {
                    builder
                        .with_dir_entry(
                            ::rpm::FileOptions::dir(at)
                                .permissions(node.mode as u16)
                                .user("root")
                                .group("root"),
                        )
                        .map_err(&err)?;
                }
                Kind::Symlink(target) => {
                    builder
                        .with_symlink(
                            ::rpm::FileOptions::symlink(at, prefix.link(target))
                                .user("root")
                                .group("root"),
                        )
                        .map_err(&err)?;
                }
                Kind::File { size, .. } => {
                    let mut bytes = Vec::with_capacity(usize::try_from(*size).unwrap_or(0));
                    tree.content(&node.kind)?
                        .read_to_end(&mut bytes)
                        .map_err(|e| Error::io("reading the spool of", format!("/{tree_path}"), e))?;
                    let mut o = ::rpm::FileOptions::new(at)
                        .permissions(node.mode as u16)
                        .user("root")
                        .group("root");
                    let set = links
                        .get(tree_path)
                        .copied()
                        .or(linked.contains(tree_path).then_some(*tree_path));
                    if let Some(first) = set {
                        o = o.hardlink(first.to_owned());
                    }
                    builder.with_file_contents(bytes, o).map_err(&err)?;
                }
            },
        }
    }
    let pkg = builder.build().map_err(&err)?;
    let mut file = AtomicFile::create(out, 0o644)?;
    {
        let mut w = BufWriter::new(file.file());
        pkg.write(&mut w).map_err(&err)?;
        w.flush().map_err(|e| Error::io("writing", out, e))?;
    }
    file.commit()
}
