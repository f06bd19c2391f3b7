//! Reading chosen members of a (compressed) tarball named by a recipe, as
//! data: nothing is extracted, every entry's path is checked, and the
//! decompressed stream, the number of entries and each member kept are bounded.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{ImportError, IoContext, Result};
use crate::files::check_relative_path;

/// Most bytes decompressed from one tarball.
pub const MAX_UNPACKED: u64 = 1 << 30;
/// Most entries in one tarball.
pub const MAX_ENTRIES: usize = 100_000;

/// A reader that fails once more than `left` bytes went through it.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| std::io::Error::other(format!("decompresses to more than {MAX_UNPACKED} bytes")))?;
        Ok(n)
    }
}

/// The decompressor for a tarball's name: `.tar.gz`, `.tar.xz`, `.tar`.
fn decompressor(recipe: &str, field: &str, name: &str, f: File) -> Result<Box<dyn Read>> {
    if name.ends_with(".tar.gz") {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(f)))
    } else if name.ends_with(".tar.xz") {
        Ok(Box::new(liblzma::read::XzDecoder::new_multi_decoder(f)))
    } else if name.ends_with(".tar") {
        Ok(Box::new(f))
    } else {
        Err(ImportError::refused(
            recipe,
            field,
            format!("{name}: unsupported compression (gzip and xz are read)"),
        ))
    }
}

/// The regular-file members of `dir/name` for which `wanted` gives a size
/// limit, by path (a leading `./` removed). A member twice, a member over
/// its limit, a wanted path that is not a regular file, or any entry whose
/// path could leave the archive's root is refused naming `field`.
pub fn members(
    recipe: &str,
    field: &str,
    dir: &Path,
    name: &str,
    wanted: impl Fn(&str) -> Option<u64>,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let path = dir.join(name);
    let f = File::open(&path).ctx("opening", &path)?;
    let r = Capped {
        inner: decompressor(recipe, field, name, f)?,
        left: MAX_UNPACKED,
    };
    let mut archive = tar::Archive::new(r);
    let bad = |reason: String| ImportError::refused(recipe, field, format!("{name}: {reason}"));
    let mut out = BTreeMap::new();
    let entries = archive.entries().map_err(|e| bad(format!("not a tar archive: {e}")))?;
    for (count, entry) in entries.enumerate() {
        if count >= MAX_ENTRIES {
            return Err(bad(format!("more than {MAX_ENTRIES} entries")));
        }
        let mut entry = entry.map_err(|e| bad(format!("unreadable tar entry: {e}")))?;
        let raw = entry.path_bytes();
        let p = std::str::from_utf8(&raw)
            .map_err(|_| bad("an entry path that is not UTF-8".into()))?
            .to_string();
        let p = p.strip_prefix("./").unwrap_or(&p).trim_end_matches('/').to_string();
        if p.is_empty() || p == "." {
            continue;
        }
        check_relative_path(recipe, field, &p)?;
        if let Some(link) = entry.link_name_bytes() {
            let l = String::from_utf8_lossy(&link).to_string();
            if entry.header().entry_type().is_hard_link() {
                check_relative_path(recipe, field, l.strip_prefix("./").unwrap_or(&l))?;
            }
        }
        let Some(limit) = wanted(&p) else { continue };
        if !entry.header().entry_type().is_file() {
            return Err(bad(format!("{p} is not a regular file")));
        }
        if out.contains_key(&p) {
            return Err(bad(format!("{p} is in the archive twice")));
        }
        let mut data = Vec::new();
        (&mut entry)
            .take(limit.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("reading {p}: {e}")))?;
        if data.len() as u64 > limit {
            return Err(bad(format!("{p} is larger than the {limit}-byte limit")));
        }
        out.insert(p, data);
    }
    Ok(out)
}
