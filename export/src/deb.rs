//! `deb`: a Debian binary package, written here (ar + tar, not
//! `dpkg-deb`), judged by `dpkg-deb`, `lintian` and `dpkg --root`.
//!
//! `debian-binary`, `control.tar.gz` (`./control`, `./md5sums`), then
//! `data.tar.gz`: the image's flattened root file system under the prefix
//! (`layout.rs`), plus `/usr/share/doc/PKG/copyright` (when the manifest
//! names a licence) and `/usr/share/doc/PKG/cerro-torre.json` (the
//! bundle's provenance). ar members have mode 0644, owner 0:0 and the
//! export time; gzip headers carry no time or name: the same bundle gives
//! the same bytes. data.tar.gz is spooled to an unnamed file (its size goes
//! in the ar header before it), so no layer is held in memory.

use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use cerro_core::bundle::Bundle;
use cerro_core::file::AtomicFile;
use cerro_core::{Error, Result};
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::layout::{write_tar, Extra, Prefix};
use crate::meta;
use crate::tree::Tree;
use crate::Format;

/// A Debian version: `[epoch:]upstream[-revision]`, upstream starting with
/// a digit (Debian Policy §5.6.12). The manifest's grammar is wider (`_`,
/// a leading letter): such a version is refused, not rewritten.
fn debian_version(v: &str) -> Result<&str> {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, v),
    };
    let ok = epoch.is_none_or(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()))
        && rest.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b".+~-".contains(&b))
        && (epoch.is_some() || !rest.contains(':'));
    if ok {
        Ok(v)
    } else {
        Err(Error::malformed(
            "manifest.toml",
            format!(
                "[package] version {v:?} is not a Debian version ([epoch:]upstream[-revision], starting with a digit)"
            ),
        ))
    }
}

/// The control file.
fn control(b: &Bundle, arch: &str, installed_kib: u64) -> Result<String> {
    let p = &b.manifest.package;
    let mut c = String::new();
    c.push_str(&format!("Package: {}\n", p.name));
    c.push_str(&format!("Version: {}\n", debian_version(&p.version)?));
    c.push_str(&format!("Architecture: {arch}\n"));
    c.push_str(&format!("Maintainer: {}\n", maintainer(b)));
    c.push_str(&format!("Installed-Size: {installed_kib}\n"));
    c.push_str("Section: misc\nPriority: optional\n");
    if let Some(h) = &p.homepage {
        c.push_str(&format!("Homepage: {}\n", one_line(h)));
    }
    c.push_str(&format!("X-Cerro-Torre-Image: {}\n", b.image.digest));
    c.push_str(&format!("X-Cerro-Torre-Release: {}\n", meta::release_digest(b)));
    if let Some(l) = &p.license {
        c.push_str(&format!("X-Cerro-Torre-License: {}\n", one_line(l)));
    }
    c.push_str(&format!("Description: {}\n", one_line(&meta::summary(b))));
    for l in meta::description(b) {
        c.push_str(&format!(" {}\n", one_line(&l)));
    }
    Ok(c)
}

/// The manifest has no maintainer field: the package names Cerro Torre's
/// exporter, at an address in the reserved `.invalid` domain (RFC 2606),
/// so nobody is misattributed.
fn maintainer(_: &Bundle) -> &'static str {
    "Cerro Torre exporter <export@cerro-torre.invalid>"
}

/// A control field value on one line (control characters dropped).
fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// `/usr/share/doc/PKG/copyright` in the machine-readable format (DEP-5).
fn copyright(b: &Bundle) -> Option<Vec<u8>> {
    let l = b.manifest.package.license.as_deref()?;
    let source = b
        .manifest
        .provenance
        .as_ref()
        .map(|p| p.upstream.clone())
        .or_else(|| b.manifest.package.homepage.clone())
        .unwrap_or_else(|| b.image.digest.to_string());
    Some(
        format!(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
             Upstream-Name: {}\nSource: {}\n\nFiles: *\nCopyright: the authors of {}\nLicense: {}\n",
            b.manifest.package.name,
            one_line(&source),
            b.manifest.package.name,
            one_line(l)
        )
        .into_bytes(),
    )
}

/// The changelog Debian Policy §12.7 requires (`changelog.Debian.gz` for a
/// version with a revision, else `changelog.gz`): one entry, this export.
fn changelog(b: &Bundle, epoch: u64) -> Result<(&'static str, Vec<u8>)> {
    let p = &b.manifest.package;
    let text = format!(
        "{} ({}) unstable; urgency=medium\n\n  * Exported by Cerro Torre from the verified bundle of\n    {}.\n\n -- {}  {}\n",
        p.name,
        p.version,
        b.image.digest,
        maintainer(b),
        rfc2822(epoch)
    );
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), Compression::best());
    gz.write_all(text.as_bytes())
        .map_err(|e| Error::io("compressing", "changelog", e))?;
    let bytes = gz.finish().map_err(|e| Error::io("compressing", "changelog", e))?;
    let name = if p.version.contains('-') {
        "changelog.Debian.gz"
    } else {
        "changelog.gz"
    };
    Ok((name, bytes))
}

/// `Sat, 05 Dec 2026 07:09:31 +0000` (a changelog's date).
fn rfc2822(secs: u64) -> String {
    let t = cerro_core::timestamp::format_rfc3339(secs);
    // YYYY-MM-DDTHH:MM:SSZ (never anything else for a u64 in range).
    let part = |r: std::ops::Range<usize>| t.get(r).unwrap_or("00");
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((secs / 86_400) % 7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .get(part(5..7).parse::<usize>().unwrap_or(1).saturating_sub(1))
    .copied()
    .unwrap_or("Jan");
    format!(
        "{weekday}, {} {month} {} {} +0000",
        part(8..10),
        part(0..4),
        t.get(11..19).unwrap_or("00:00:00")
    )
}

/// A gzip stream with no name and no time in its header.
fn gzip<W: Write>(w: W) -> GzEncoder<W> {
    flate2::GzBuilder::new().mtime(0).write(w, Compression::default())
}

fn ar_header(name: &str, size: u64, mtime: u64) -> ar::Header {
    let mut h = ar::Header::new(name.as_bytes().to_vec(), size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mode(0o100644);
    h
}

/// Writes the .deb of `tree` to `out`, atomically.
pub(crate) fn write(b: &Bundle, tree: &Tree, prefix: &Prefix, epoch: u64, out: &Path, scratch: &Path) -> Result<()> {
    let arch = meta::debian_arch(b)?;
    debian_version(&b.manifest.package.version)?;
    let name = &b.manifest.package.name;
    let doc = format!("usr/share/doc/{name}");
    let mut extra: Extra = vec![(
        format!("{doc}/cerro-torre.json"),
        meta::provenance_json(b, Format::Deb, prefix, epoch)?,
    )];
    if let Some(c) = copyright(b) {
        extra.push((format!("{doc}/copyright"), c));
    }
    let (log_name, log) = changelog(b, epoch)?;
    extra.push((format!("{doc}/{log_name}"), log));
    // data.tar.gz, spooled.
    let io = |what: &'static str| move |e: std::io::Error| Error::io(what, out, e);
    let spool = tempfile::tempfile_in(scratch).map_err(|e| Error::io("creating a spool file in", scratch, e))?;
    let (gz, written) = write_tar(
        tree,
        prefix,
        &extra,
        epoch,
        gzip(BufWriter::with_capacity(1 << 20, spool)),
        "data.tar.gz",
    )?;
    let mut data = gz
        .finish()
        .map_err(io("compressing data.tar.gz for"))?
        .into_inner()
        .map_err(|e| Error::io("writing data.tar.gz for", out, e.into_error()))?;
    let data_len = data.seek(SeekFrom::End(0)).map_err(io("measuring data.tar.gz for"))?;
    data.seek(SeekFrom::Start(0)).map_err(io("reading data.tar.gz for"))?;

    // control.tar.gz, in memory (a few lines per file).
    let control = control(b, arch, written.installed_kib)?;
    let mut md5sums = String::new();
    for (p, h) in &written.md5sums {
        md5sums.push_str(&format!("{h}  {p}\n"));
    }
    let mut ctl = tar::Builder::new(gzip(Vec::new()));
    let cio = |e: std::io::Error| Error::io("writing control.tar.gz for", out, e);
    for (path, kind, mode, bytes) in [
        ("./", tar::EntryType::Directory, 0o755, &[][..]),
        ("./control", tar::EntryType::Regular, 0o644, control.as_bytes()),
        ("./md5sums", tar::EntryType::Regular, 0o644, md5sums.as_bytes()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("root").map_err(cio)?;
        h.set_groupname("root").map_err(cio)?;
        h.set_size(bytes.len() as u64);
        h.set_mtime(epoch);
        ctl.append_data(&mut h, path, bytes).map_err(cio)?;
    }
    let ctl = ctl.into_inner().map_err(cio)?.finish().map_err(cio)?;

    let mut file = AtomicFile::create(out, 0o644)?;
    {
        let mut w = ar::Builder::new(BufWriter::new(file.file()));
        let aio = |e: std::io::Error| Error::io("writing", out, e);
        w.append(&ar_header("debian-binary", 4, epoch), &b"2.0\n"[..])
            .map_err(aio)?;
        w.append(&ar_header("control.tar.gz", ctl.len() as u64, epoch), ctl.as_slice())
            .map_err(aio)?;
        w.append(&ar_header("data.tar.gz", data_len, epoch), (&mut data).take(data_len))
            .map_err(aio)?;
        w.into_inner().map_err(aio)?.flush().map_err(aio)?;
    }
    file.commit()
}
