//! RPM source packages (`.src.rpm`), read as data: the header gives name,
//! version, release, licence, the sources and patches and the build
//! dependencies; the payload (a cpio archive) holds the spec, the sources
//! and the patches, each checked against the header's file digest. Nothing
//! is extracted and nothing is run (spec/import.md §4b).
//!
//! Order: the file is bounded; the lead and the two headers' sizes are
//! read and bounded by hand before the `rpm` crate parses anything (rpm's
//! own limits: 65 535 entries, 256 MiB of data per header; a truncated
//! package is refused here, not by an allocation); the header is parsed and
//! every file path it lists checked (one plain name in no directory, a
//! regular file, a SHA-256 or SHA-512 digest); the header's SHA-256 (in the
//! signature header) is compared with the header's bytes; the payload is
//! streamed, each file hashed and compared with the header's size and
//! digest; then the payload's own SHA-256 (`PAYLOADDIGEST`) is compared.
//! A signature in the signature header is not checked (noted).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use cerro_core::digest::Digest;
use cerro_core::manifest::{validate_name, validate_version, Package, Patch, Provenance};
use rpm::{DependencyFlags, DigestAlgorithm, IndexSignatureTag, IndexTag};
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};

use crate::error::{ImportError, IoContext, Result};
use crate::evidence::{Evidence, FileEvidence};
use crate::files::{check_name, MAX_SOURCE_FILE};
use crate::{Imported, Options};

/// Largest `.src.rpm` read.
pub const MAX_SRPM: u64 = 4 << 30;
/// Most entries in one header (rpm's `hdrchkTags`).
const MAX_HEADER_ENTRIES: u64 = 0xffff;
/// Most data bytes in one header (rpm's `hdrchkData`).
const MAX_HEADER_DATA: u64 = 256 << 20;
/// Most files in a source package.
const MAX_FILES: usize = 4096;
/// Most bytes all files of the payload may hold together.
const MAX_UNPACKED: u64 = 8 << 30;

const LEAD: u64 = 96;

/// Where the parts of the package lie, read from the lead and the two
/// header intros, every size bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Where the main header starts.
    header: u64,
    /// Where the payload starts (the end of the main header).
    payload: u64,
}

/// The size of a header (intro, index, data) starting at `at`, bounded.
fn header_size(recipe: &str, f: &mut File, at: u64, which: &str) -> Result<u64> {
    let mut intro = [0u8; 16];
    f.seek(SeekFrom::Start(at))
        .and_then(|_| f.read_exact(&mut intro))
        .map_err(|_| ImportError::refused(recipe, which, "truncated: the file ends inside the header"))?;
    if intro[..4] != [0x8e, 0xad, 0xe8, 0x01] {
        return Err(ImportError::refused(recipe, which, "no header magic"));
    }
    let nindex = u64::from(u32::from_be_bytes([intro[8], intro[9], intro[10], intro[11]]));
    let hsize = u64::from(u32::from_be_bytes([intro[12], intro[13], intro[14], intro[15]]));
    if nindex == 0 || nindex > MAX_HEADER_ENTRIES || hsize > MAX_HEADER_DATA {
        return Err(ImportError::refused(
            recipe,
            which,
            format!("{nindex} entries and {hsize} data bytes (at most {MAX_HEADER_ENTRIES} and {MAX_HEADER_DATA})"),
        ));
    }
    // The index entries, each within the data: the rpm crate slices the data
    // at an entry's offset and reserves its count of items unchecked (a
    // hostile entry would panic or exhaust memory there).
    let mut index = vec![0u8; usize::try_from(nindex * 16).unwrap_or(usize::MAX)];
    f.read_exact(&mut index)
        .map_err(|_| ImportError::refused(recipe, which, "truncated: the file ends inside the header"))?;
    for (i, e) in index.chunks_exact(16).enumerate() {
        let word = |k: usize| u64::from(u32::from_be_bytes([e[k], e[k + 1], e[k + 2], e[k + 3]]));
        let (tag, kind, offset, count) = (word(0), word(4), word(8), word(12));
        let item = match kind {
            0 => Some(0),
            1 | 2 | 7 => Some(1),
            3 => Some(2),
            4 => Some(4),
            5 => Some(8),
            6 | 8 | 9 => None,
            _ => {
                return Err(ImportError::refused(
                    recipe,
                    which,
                    format!("entry {i} (tag {tag}) has unknown type {kind}"),
                ))
            }
        };
        // A string takes at least its NUL byte.
        let need = count.saturating_mul(item.unwrap_or(1));
        let fits = offset <= hsize && need <= hsize - offset && (item.is_some() || count >= 1);
        if !fits {
            return Err(ImportError::refused(
                recipe,
                which,
                format!("entry {i} (tag {tag}): {count} items at offset {offset} do not fit in {hsize} data bytes"),
            ));
        }
    }
    Ok(16 + nindex * 16 + hsize)
}

/// Reads the lead and the two header sizes; `len` is the file's length.
fn layout(recipe: &str, f: &mut File, len: u64) -> Result<Layout> {
    let mut lead = [0u8; LEAD as usize];
    f.read_exact(&mut lead)
        .map_err(|_| ImportError::refused(recipe, "lead", "truncated: shorter than an RPM lead"))?;
    if lead[..4] != [0xed, 0xab, 0xee, 0xdb] {
        return Err(ImportError::refused(
            recipe,
            "lead",
            "not an RPM package (no lead magic)",
        ));
    }
    if u16::from_be_bytes([lead[6], lead[7]]) != 1 {
        return Err(ImportError::refused(
            recipe,
            "lead",
            "a binary package, not a source package",
        ));
    }
    let sig = header_size(recipe, f, LEAD, "signature header")?;
    let header = (LEAD + sig).next_multiple_of(8);
    let main = header_size(recipe, f, header, "header")?;
    let payload = header + main;
    if payload > len {
        return Err(ImportError::refused(
            recipe,
            "header",
            format!("truncated: the header ends at byte {payload}, the file has {len}"),
        ));
    }
    Ok(Layout { header, payload })
}

/// What the spec's preamble says the header does not: Source0 (file name,
/// value as written) and the patches' file names in the order of their numbers.
type SpecOrder = (Option<(String, String)>, Vec<String>);

/// The digest of a file as the header gives it.
#[derive(Debug, Clone)]
struct Listed {
    name: String,
    size: u64,
    algorithm: &'static str,
    hex: String,
}

fn rpm_err(recipe: &str, field: &str, e: rpm::Error) -> ImportError {
    ImportError::refused(recipe, field, e.to_string())
}

/// `name OP version`, as `rpm -q --qf '%{REQUIRENAME} %{REQUIREFLAGS:depflags} %{REQUIREVERSION}'` prints it.
fn dependency(d: &rpm::Dependency) -> String {
    let f = d.flags;
    let op = match (
        f.contains(DependencyFlags::LESS),
        f.contains(DependencyFlags::GREATER),
        f.contains(DependencyFlags::EQUAL),
    ) {
        (true, false, false) => "<",
        (true, false, true) => "<=",
        (false, true, false) => ">",
        (false, true, true) => ">=",
        (false, false, true) => "=",
        _ => "",
    };
    if op.is_empty() || d.version.is_empty() {
        d.name.clone()
    } else {
        format!("{} {op} {}", d.name, d.version)
    }
}

/// Imports the source package at `path`.
pub fn import_srpm(path: &Path, opts: &Options) -> Result<Imported> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| ImportError::InvalidSource {
            what: path.display().to_string(),
            reason: "not a file name".into(),
        })?
        .to_string();
    let recipe = file_name.as_str();
    let mut f = File::open(path).ctx("opening", path)?;
    let meta = f.metadata().ctx("reading metadata of", path)?;
    if !meta.is_file() {
        return Err(ImportError::refused(recipe, "file", "not a regular file"));
    }
    if meta.len() > MAX_SRPM {
        return Err(ImportError::refused(
            recipe,
            "file",
            format!("{} bytes, more than the {MAX_SRPM} read", meta.len()),
        ));
    }
    let lay = layout(recipe, &mut f, meta.len())?;

    // The lead and headers, bounded above, parsed by the rpm crate.
    let mut head = vec![0u8; usize::try_from(lay.payload).unwrap_or(usize::MAX)];
    f.seek(SeekFrom::Start(0)).ctx("reading", path)?;
    f.read_exact(&mut head).ctx("reading", path)?;
    let md = rpm::PackageMetadata::parse(&mut &head[..]).map_err(|e| rpm_err(recipe, "header", e))?;
    if !md.is_source_package() {
        return Err(ImportError::refused(recipe, "header", "not a source package"));
    }
    let text = |tag: IndexTag| md.header.get_entry_data_as_string(tag).ok().map(str::to_owned);
    let name = md.get_name().map_err(|e| rpm_err(recipe, "Name", e))?.to_owned();
    let version = md.get_version().map_err(|e| rpm_err(recipe, "Version", e))?.to_owned();
    let release = md.get_release().map_err(|e| rpm_err(recipe, "Release", e))?.to_owned();
    let epoch = md.header.get_entry_data_as_u32(IndexTag::RPMTAG_EPOCH).ok();
    validate_name(&name).map_err(|e| ImportError::refused(recipe, "Name", e.to_string()))?;
    let full = match epoch {
        Some(e) => format!("{e}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    validate_version(&full).map_err(|e| ImportError::refused(recipe, "Version", e.to_string()))?;

    // Every file the header lists: a plain name, a regular file, a digest.
    let entries = md.get_file_entries().map_err(|e| rpm_err(recipe, "files", e))?;
    if entries.len() > MAX_FILES {
        return Err(ImportError::refused(
            recipe,
            "files",
            format!("more than {MAX_FILES} files"),
        ));
    }
    let mut listed: BTreeMap<String, Listed> = BTreeMap::new();
    let mut total = 0u64;
    for e in &entries {
        let shown = e.path().display().to_string();
        if !e.dirname().is_empty() {
            return Err(ImportError::refused(
                recipe,
                "files",
                format!("{shown:?}: a source package's files lie in no directory"),
            ));
        }
        check_name(recipe, "files", e.basename())?;
        if u32::from(e.mode().raw_mode()) & 0o170_000 != 0o100_000 {
            return Err(ImportError::refused(
                recipe,
                "files",
                format!("{shown} is not a regular file"),
            ));
        }
        let (algorithm, hex) = match e.digest() {
            Some(d) if d.algorithm() == DigestAlgorithm::Sha2_256 => ("sha256", d.as_hex()),
            Some(d) if d.algorithm() == DigestAlgorithm::Sha2_512 => ("sha512", d.as_hex()),
            Some(d) => {
                return Err(ImportError::refused(
                    recipe,
                    "files",
                    format!(
                        "{shown}: file digest algorithm {:?} (SHA-256 and SHA-512 are read)",
                        d.algorithm()
                    ),
                ))
            }
            None => return Err(ImportError::refused(recipe, "files", format!("{shown} has no digest"))),
        };
        let size = e.size() as u64;
        if size > MAX_SOURCE_FILE {
            return Err(ImportError::refused(
                recipe,
                "files",
                format!("{shown} is larger than {MAX_SOURCE_FILE} bytes"),
            ));
        }
        total = total.saturating_add(size);
        if total > MAX_UNPACKED {
            return Err(ImportError::refused(
                recipe,
                "files",
                format!("more than {MAX_UNPACKED} bytes of files"),
            ));
        }
        let l = Listed {
            name: e.basename().to_owned(),
            size,
            algorithm,
            hex: hex.to_ascii_lowercase(),
        };
        if listed.insert(l.name.clone(), l).is_some() {
            return Err(ImportError::refused(
                recipe,
                "files",
                format!("{shown} is listed twice"),
            ));
        }
    }

    // The header's digest.
    let header_bytes = head
        .get(usize::try_from(lay.header).unwrap_or(usize::MAX)..)
        .unwrap_or_default();
    let header_hex = hex::encode(Sha256::digest(header_bytes));
    let mut checked_head = vec![];
    match md
        .signature
        .get_entry_data_as_string(IndexSignatureTag::RPMSIGTAG_SHA256)
    {
        Ok(want) if want.eq_ignore_ascii_case(&header_hex) => checked_head.push("header-sha256"),
        Ok(want) => {
            return Err(ImportError::DigestMismatch {
                what: format!("{recipe}: signature header: the header"),
                algorithm: "sha256",
                expected: want.to_owned(),
                actual: header_hex,
            })
        }
        Err(_) => {
            return Err(ImportError::refused(
                recipe,
                "signature header",
                "no SHA-256 of the header (rpm has written one since 4.6)",
            ))
        }
    }

    let mut evidence = Evidence::new(
        "rpm-srpm",
        FileEvidence {
            name: file_name.clone(),
            role: "recipe".into(),
            size: Some(meta.len()),
            sha256: None,
            checked: vec![],
            not_checked: vec![],
        },
    );

    let specs = listed
        .keys()
        .filter(|n| n.ends_with(".spec"))
        .cloned()
        .collect::<Vec<_>>();
    let [spec_name] = specs.as_slice() else {
        return Err(ImportError::refused(recipe, "files", "not exactly one .spec file"));
    };
    let mut spec_bytes: Option<Vec<u8>> = None;

    // The payload, streamed: each file against the header.
    let mut reader = rpm::PackageReader::parse(BufReader::new(File::open(path).ctx("opening", path)?))
        .map_err(|e| rpm_err(recipe, "payload", e))?;
    let mut contents: BTreeMap<String, (u64, Digest)> = BTreeMap::new();
    loop {
        let next = reader.next_file().map_err(|e| rpm_err(recipe, "payload", e))?;
        let Some(mut file) = next else { break };
        let fname = file.metadata.basename().to_owned();
        let l = listed
            .get(&fname)
            .ok_or_else(|| ImportError::refused(recipe, "payload", format!("{fname} is not in the header")))?;
        let mut s256 = Sha256::new();
        let mut s512 = Sha512::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        let mut keep = (fname == *spec_name && l.size <= crate::files::MAX_RECIPE).then(Vec::new);
        let mut r = (&mut file).take(l.size.saturating_add(1));
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ImportError::refused(recipe, "payload", format!("{fname}: {e}"))),
            };
            let chunk = buf.get(..n).unwrap_or_default();
            s256.update(chunk);
            s512.update(chunk);
            if let Some(k) = keep.as_mut() {
                k.extend_from_slice(chunk);
            }
            size += n as u64;
        }
        if keep.is_some() {
            spec_bytes = keep;
        }
        let what = format!("{recipe}: payload: {fname}");
        if size != l.size {
            return Err(ImportError::SizeMismatch {
                what,
                expected: l.size,
                actual: size,
            });
        }
        let d256: [u8; 32] = s256.finalize().into();
        let actual = match l.algorithm {
            "sha512" => hex::encode(s512.finalize()),
            _ => hex::encode(d256),
        };
        if actual != l.hex {
            return Err(ImportError::DigestMismatch {
                what,
                algorithm: l.algorithm,
                expected: l.hex.clone(),
                actual,
            });
        }
        file.finish()
            .map_err(|e| ImportError::refused(recipe, "payload", format!("{fname}: {e}")))?;
        if contents
            .insert(fname.clone(), (size, Digest::from_bytes(d256)))
            .is_some()
        {
            return Err(ImportError::refused(
                recipe,
                "payload",
                format!("{fname} is in the payload twice"),
            ));
        }
    }
    if let Some(missing) = listed.keys().find(|n| !contents.contains_key(*n)) {
        return Err(ImportError::refused(
            recipe,
            "payload",
            format!("{missing} is in the header but not in the payload"),
        ));
    }

    // The payload's own digest (of the compressed bytes).
    let mut whole = Sha256::new();
    let mut all = Sha256::new();
    let mut f = File::open(path).ctx("opening", path)?;
    let mut pos = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).ctx("reading", path),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        all.update(chunk);
        let skip = usize::try_from(lay.payload.saturating_sub(pos))
            .unwrap_or(usize::MAX)
            .min(n);
        whole.update(chunk.get(skip..).unwrap_or_default());
        pos += n as u64;
    }
    let srpm_digest = Digest::from_bytes(all.finalize().into());
    evidence.recipe.sha256 = Some(srpm_digest.to_string());
    let payload_hex = hex::encode(whole.finalize());
    match md.header.get_entry_data_as_string_array(IndexTag::RPMTAG_PAYLOADSHA256) {
        Ok(v) if v.first().is_some_and(|w| w.eq_ignore_ascii_case(&payload_hex)) => checked_head.push("payload-sha256"),
        Ok(v) => {
            return Err(ImportError::DigestMismatch {
                what: format!("{recipe}: header: the payload"),
                algorithm: "sha256",
                expected: v.first().map(|s| (*s).to_owned()).unwrap_or_default(),
                actual: payload_hex,
            })
        }
        Err(_) => evidence
            .notes
            .push("the header gives no payload digest: each file was checked against its own".into()),
    }
    evidence.recipe.checked = checked_head;
    if md
        .signature
        .get_entry_data_as_binary(IndexSignatureTag::RPMSIGTAG_RSA)
        .is_ok()
        || md
            .signature
            .get_entry_data_as_binary(IndexSignatureTag::RPMSIGTAG_PGP)
            .is_ok()
    {
        evidence.recipe.not_checked.push("signature");
        evidence
            .notes
            .push("the package's OpenPGP signature is not checked (no keyring is taken for .src.rpm)".into());
    }

    // Sources and patches, as the header names them, found in the payload.
    let names = |tag: IndexTag| -> Vec<String> {
        md.header
            .get_entry_data_as_string_array(tag)
            .map(|v| v.into_iter().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let sources = names(IndexTag::RPMTAG_SOURCE);
    let patch_names = names(IndexTag::RPMTAG_PATCH);
    let nosource = md
        .header
        .get_entry_data_as_u32_array(IndexTag::RPMTAG_NOSOURCE)
        .unwrap_or_default();
    if !nosource.is_empty() {
        evidence
            .notes
            .push(format!("NoSource: {nosource:?}: some sources are not in the package"));
    }
    for n in sources.iter().chain(&patch_names) {
        check_name(recipe, "Source", n)?;
    }
    // The numbering (Source0, the order of the patches) is in the spec, not
    // the header: read its preamble as data when it can be read.
    let mut spec_order: Option<SpecOrder> = None;
    let spec_text = spec_bytes.and_then(|b| String::from_utf8(b).ok());
    match spec_text.as_deref().map(|t| crate::fedora::parse(spec_name, t)) {
        Some(Ok(spec)) => {
            let numbered = |prefix: &str| {
                let mut v: Vec<(u32, String)> = spec
                    .tags
                    .iter()
                    .filter_map(|(k, (_, values, _))| {
                        let num = k.strip_prefix(prefix)?;
                        let n = if num.is_empty() { Some(0) } else { num.parse().ok() }?;
                        Some((n, values.first()?.clone()))
                    })
                    .collect();
                v.sort();
                v
            };
            let base = |v: &str| {
                if v.contains("://") {
                    v.rsplit('/').next().unwrap_or("").to_owned()
                } else {
                    v.to_owned()
                }
            };
            let s0 = numbered("source")
                .into_iter()
                .find(|(n, _)| *n == 0)
                .map(|(_, v)| (base(&v), v));
            let p: Vec<String> = numbered("patch").into_iter().map(|(_, v)| base(&v)).collect();
            spec_order = Some((s0, p));
        }
        Some(Err(e)) => evidence.notes.push(format!(
            "the spec's preamble is not read ({e}): Source0 and the order of the patches are not known; \
             patches in the header's order"
        )),
        None => evidence
            .notes
            .push("the spec is not UTF-8 or larger than 1 MiB: patches in the header's order".into()),
    }
    let (source0, patch_order) = match spec_order {
        Some((s0, p)) => {
            let mut a = p.clone();
            let mut b = patch_names.clone();
            a.sort();
            b.sort();
            if a != b {
                return Err(ImportError::refused(
                    recipe,
                    "Patch",
                    format!("the spec names patches {p:?}, the header {patch_names:?}"),
                ));
            }
            (s0, p)
        }
        None => (None, patch_names.clone()),
    };
    for (fname, (size, d)) in &contents {
        let Some(l) = listed.get(fname) else { continue };
        let role = if fname == spec_name {
            "spec"
        } else if source0.as_ref().is_some_and(|(n, _)| n == fname) {
            "upstream"
        } else if patch_names.contains(fname) {
            "patch"
        } else {
            "source"
        };
        evidence.files.push(FileEvidence {
            name: fname.clone(),
            role: role.into(),
            size: Some(*size),
            sha256: Some(d.to_string()),
            checked: vec!["size", l.algorithm],
            not_checked: vec![],
        });
    }
    let mut patches = Vec::new();
    for p in &patch_order {
        let (size, d) = contents.get(p).ok_or_else(|| {
            ImportError::refused(
                recipe,
                "Patch",
                format!("{p} is named by the header but not in the payload"),
            )
        })?;
        patches.push(Patch {
            name: p.clone(),
            digest: *d,
        });
        evidence.patches.push(FileEvidence {
            name: p.clone(),
            role: "patch".into(),
            size: Some(*size),
            sha256: Some(d.to_string()),
            checked: vec![],
            not_checked: vec![],
        });
    }
    let upstream_hash = source0.as_ref().and_then(|(n, _)| contents.get(n)).map(|(_, d)| *d);
    if source0.is_some() && upstream_hash.is_none() {
        evidence
            .notes
            .push("Source0 is not in the package (NoSource): no upstream_hash".into());
    }

    let requires = md.get_requires().map_err(|e| rpm_err(recipe, "BuildRequires", e))?;
    let build_requires: Vec<Value> = requires
        .iter()
        .filter(|d| !d.flags.contains(DependencyFlags::RPMLIB))
        .map(|d| Value::String(dependency(d)))
        .collect();
    let homepage = text(IndexTag::RPMTAG_URL).filter(|u| u.contains("://"));
    let license = text(IndexTag::RPMTAG_LICENSE);
    let summary = md
        .header
        .get_entry_data_as_i18n_string(IndexTag::RPMTAG_SUMMARY)
        .ok()
        .map(str::to_owned);
    let fields = &mut evidence.fields;
    fields.insert("Name".into(), Value::String(name.clone()));
    fields.insert("Version".into(), Value::String(version.clone()));
    fields.insert("Release".into(), Value::String(release.clone()));
    if let Some(e) = epoch {
        fields.insert("Epoch".into(), Value::from(e));
    }
    for (k, v) in [("License", &license), ("Summary", &summary), ("URL", &homepage)] {
        if let Some(v) = v {
            fields.insert(k.into(), Value::String(v.clone()));
        }
    }
    fields.insert("Source".into(), sources.iter().cloned().map(Value::String).collect());
    fields.insert("Patch".into(), patch_names.iter().cloned().map(Value::String).collect());
    fields.insert("BuildRequires".into(), Value::Array(build_requires));

    let upstream = evidence.upstream_url(
        opts.upstream.as_ref(),
        source0.as_ref().map(|(_, v)| v).filter(|v| v.contains("://")).cloned(),
        homepage.as_ref(),
        Some("upstream URL from the URL tag (Source0's URL is not known)"),
        (
            recipe,
            "URL",
            "no upstream URL: neither Source0 nor the URL tag gives one (pass --upstream URL)",
        ),
    )?;
    let package = Package {
        name: name.clone(),
        version: full,
        summary,
        license,
        homepage,
    };
    let provenance = Provenance {
        upstream,
        upstream_hash,
        imported_from: Some(format!("fedora:{file_name}")),
        imported_from_hash: Some(srpm_digest),
        patches,
    };
    Imported::new(package, provenance, "rpm", evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut t = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut t, bytes).unwrap();
        let f = File::open(t.path()).unwrap();
        (t, f)
    }

    fn lead() -> Vec<u8> {
        let mut l = vec![0u8; 96];
        l[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
        l[4] = 3;
        l[7] = 1;
        l
    }

    fn intro(nindex: u32, hsize: u32) -> Vec<u8> {
        let mut h = vec![0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
        h.extend(nindex.to_be_bytes());
        h.extend(hsize.to_be_bytes());
        h
    }

    #[test]
    fn sizes_are_bounded_before_anything_is_parsed() {
        // A well-formed skeleton: signature header 1 entry + 8 bytes, padded; header 1 entry + 4 bytes.
        let mut b = lead();
        b.extend(intro(1, 8));
        b.extend([0u8; 16 + 8]);
        let header = b.len() as u64;
        b.extend(intro(1, 4));
        b.extend([0u8; 16 + 4]);
        let (_t, mut f) = file(&b);
        assert_eq!(
            layout("r", &mut f, b.len() as u64).unwrap(),
            Layout {
                header,
                payload: b.len() as u64
            }
        );
        // Truncated anywhere: refused, exit 10.
        for cut in [10, 96, 100, 130, b.len() - 1] {
            let (_t, mut f) = file(&b[..cut]);
            let e = layout("r", &mut f, cut as u64).unwrap_err();
            assert_eq!(e.exit_code().code(), 10, "{cut}: {e}");
            assert!(e.to_string().contains("truncated"), "{cut}: {e}");
        }
        // A header claiming more than rpm allows.
        for (n, h) in [(0x1_0000, 4), (1, (256 << 20) + 1), (0, 4)] {
            let mut c = lead();
            c.extend(intro(n, h));
            c.extend([0u8; 64]);
            let (_t, mut f) = file(&c);
            assert_eq!(layout("r", &mut f, c.len() as u64).unwrap_err().exit_code().code(), 10);
        }
        // An index entry whose items lie beyond the data (the rpm crate would slice past its end).
        for (kind, offset, count) in [
            (4u32, 6u32, 1u32),
            (6, 9, 1),
            (5, 0, 0x2000_0000),
            (6, 0, 0),
            (10, 0, 1),
        ] {
            let mut c = lead();
            c.extend(intro(1, 8));
            c.extend([0, 0, 0, 1]);
            c.extend(kind.to_be_bytes());
            c.extend(offset.to_be_bytes());
            c.extend(count.to_be_bytes());
            c.extend([0u8; 8]);
            c.extend(intro(1, 4));
            c.extend([0u8; 16 + 4]);
            let (_t, mut f) = file(&c);
            let e = layout("r", &mut f, c.len() as u64).unwrap_err();
            assert_eq!(e.exit_code().code(), 10, "{kind} {offset} {count}: {e}");
            assert!(e.to_string().contains("entry 0"), "{e}");
        }
        // A binary package.
        let mut c = b.clone();
        c[7] = 0;
        let (_t, mut f) = file(&c);
        assert!(layout("r", &mut f, c.len() as u64)
            .unwrap_err()
            .to_string()
            .contains("binary"));
    }
}
