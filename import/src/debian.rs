//! Debian source packages: a local `.dsc` and the files beside it.
//!
//! Order of the checks: the `.dsc` is read (bounded) and hashed; its
//! OpenPGP armour is taken apart ([`crate::pgp`]) and, with a keyring,
//! the signature verified by `gpgv`; the signed text is parsed as one
//! strict deb822 paragraph ([`crate::deb822`]); `Files` and
//! `Checksums-Sha256` (and `Checksums-Sha1` when present) must list the
//! same files with the same sizes; each file is then read once and its
//! size, SHA-256 and SHA-1 compared; the file set must be the one the
//! `Format` prescribes. Only then is the debian tarball opened, for
//! `debian/patches/series`, the patches it lists (each hashed, in order)
//! and the upstream URL of `debian/copyright`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use cerro_core::manifest::{validate_name, validate_version, Package, Patch, Provenance};
use serde_json::Value;

use crate::deb822::{parse_paragraph, Field, Paragraph};
use crate::error::{ImportError, Result};
use crate::evidence::{Evidence, FileEvidence, SignatureEvidence};
use crate::files::{check_name, check_relative_path, measure, parse_hex, read_recipe, MAX_SOURCE_FILE};
use crate::pgp::unarmour;
use crate::{tarball, Imported, Options};

/// Largest `debian/patches/series`.
const MAX_SERIES: u64 = 1 << 16;
/// Largest patch read.
const MAX_PATCH: u64 = 64 << 20;
/// Largest `debian/copyright` read.
const MAX_COPYRIGHT: u64 = 1 << 20;
/// Most patches in a series.
const MAX_PATCHES: usize = 4096;
/// Most files a `.dsc` may list.
const MAX_FILES: usize = 64;

/// One line of a file list: name, size, digest (hex).
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) hex: String,
}

/// What a file of the source package is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// `SRC_UPV.orig.tar.EXT`
    Orig,
    /// `SRC_UPV.orig-COMP.tar.EXT`
    OrigComponent,
    /// `….asc` beside an orig tarball
    OrigSignature,
    /// `SRC_V.debian.tar.EXT`
    DebianTar,
    /// `SRC_V.tar.EXT` (native)
    Native,
    /// `SRC_V.diff.gz` (format 1.0)
    Diff,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Orig => "upstream",
            Role::OrigComponent => "upstream-component",
            Role::OrigSignature => "upstream-signature",
            Role::DebianTar => "debian",
            Role::Native => "native",
            Role::Diff => "debian-diff",
        }
    }
}

const TAR_EXT: [&str; 4] = ["gz", "xz", "bz2", "lzma"];

/// Classifies `name` for source `src`, version without epoch `v`, upstream version `upv`.
fn role_of(name: &str, src: &str, v: &str, upv: &str) -> Option<Role> {
    let orig = format!("{src}_{upv}.orig");
    if let Some(rest) = name.strip_prefix(&orig) {
        let (rest, asc) = match rest.strip_suffix(".asc") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (comp, ext) = if let Some(e) = rest.strip_prefix(".tar.") {
            (false, e)
        } else if let Some(r) = rest.strip_prefix('-') {
            let (c, e) = r.split_once(".tar.")?;
            if c.is_empty() || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-') {
                return None;
            }
            (true, e)
        } else {
            return None;
        };
        if !TAR_EXT.contains(&ext) {
            return None;
        }
        return Some(match (comp, asc) {
            (_, true) => Role::OrigSignature,
            (false, false) => Role::Orig,
            (true, false) => Role::OrigComponent,
        });
    }
    let base = format!("{src}_{v}");
    let rest = name.strip_prefix(&base)?;
    if let Some(e) = rest.strip_prefix(".debian.tar.") {
        return TAR_EXT.contains(&e).then_some(Role::DebianTar);
    }
    if let Some(e) = rest.strip_prefix(".tar.") {
        return TAR_EXT.contains(&e).then_some(Role::Native);
    }
    (rest == ".diff.gz").then_some(Role::Diff)
}

/// Parses a file-list field (`Files`, `Checksums-Sha256`, `Checksums-Sha1`):
/// `HEX SIZE NAME` per line, `hex_len` bytes of digest.
pub(crate) fn file_list(recipe: &str, f: &Field, hex_len: usize) -> Result<Vec<Listed>> {
    let mut out: Vec<Listed> = Vec::new();
    if !f.value.split('\n').next().unwrap_or("").is_empty() {
        return Err(ImportError::refused(recipe, &f.name, "text on the field's first line"));
    }
    for line in f.continuation_lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [hexs, size, name] = parts.as_slice() else {
            return Err(ImportError::refused(
                recipe,
                &f.name,
                format!("{line:?} is not 'DIGEST SIZE NAME'"),
            ));
        };
        parse_hex(recipe, &f.name, hexs, hex_len)?;
        let size_ok =
            !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) && (size.len() == 1 || !size.starts_with('0'));
        let size: u64 = size
            .parse()
            .ok()
            .filter(|_| size_ok)
            .ok_or_else(|| ImportError::refused(recipe, &f.name, format!("{size:?} is not a size")))?;
        check_name(recipe, &f.name, name)?;
        if out.iter().any(|l| l.name == *name) {
            return Err(ImportError::refused(recipe, &f.name, format!("{name} is listed twice")));
        }
        if out.len() >= MAX_FILES {
            return Err(ImportError::refused(
                recipe,
                &f.name,
                format!("more than {MAX_FILES} files"),
            ));
        }
        out.push(Listed {
            name: name.to_string(),
            size,
            hex: hexs.to_string(),
        });
    }
    if out.is_empty() {
        return Err(ImportError::refused(recipe, &f.name, "lists no file"));
    }
    Ok(out)
}

fn required<'a>(recipe: &str, p: &'a Paragraph, name: &str) -> Result<&'a Field> {
    p.get(name)
        .ok_or_else(|| ImportError::refused(recipe, name, "missing (a .dsc must have it)"))
}

pub(crate) fn one_line<'a>(recipe: &str, f: &'a Field) -> Result<&'a str> {
    if f.value.contains('\n') || f.value.is_empty() {
        return Err(ImportError::refused(recipe, &f.name, "must be one non-empty line"));
    }
    Ok(&f.value)
}

/// Debian's source package name rule (Policy §5.6.1).
pub(crate) fn check_source_name(recipe: &str, name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.'));
    if !ok {
        return Err(ImportError::refused(
            recipe,
            "Source",
            format!("{name:?} is not a Debian source package name"),
        ));
    }
    validate_name(name).map_err(|e| ImportError::refused(recipe, "Source", e.to_string()))
}

/// Splits a Debian version into (without epoch, upstream version).
pub(crate) fn split_version(recipe: &str, version: &str) -> Result<(String, String)> {
    validate_version(version).map_err(|e| ImportError::refused(recipe, "Version", e.to_string()))?;
    let no_epoch = match version.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => rest,
        Some(_) => {
            return Err(ImportError::refused(
                recipe,
                "Version",
                format!("{version:?}: bad epoch"),
            ))
        }
        None => version,
    };
    let upstream = match no_epoch.rsplit_once('-') {
        Some((u, _)) => u,
        None => no_epoch,
    };
    if upstream.is_empty() || !upstream.as_bytes()[0].is_ascii_digit() || no_epoch.contains(':') {
        return Err(ImportError::refused(
            recipe,
            "Version",
            format!("{version:?}: the upstream version must start with a digit"),
        ));
    }
    Ok((no_epoch.to_string(), upstream.to_string()))
}

/// Imports the `.dsc` at `path` and the files beside it.
pub fn import_dsc(path: &Path, opts: &Options) -> Result<Imported> {
    let dsc_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| ImportError::InvalidSource {
            what: path.display().to_string(),
            reason: "not a file name".into(),
        })?
        .to_string();
    let recipe = dsc_name.as_str();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (bytes, dsc_digest) = read_recipe(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ImportError::refused(recipe, "file", "not UTF-8"))?;
    let un = unarmour(recipe, text)?;

    let mut evidence = Evidence::new(
        "debian-dsc",
        FileEvidence {
            name: dsc_name.clone(),
            role: "recipe".into(),
            size: Some(bytes.len() as u64),
            sha256: Some(dsc_digest.to_string()),
            checked: vec![],
            not_checked: vec![],
        },
    );
    let issuer = un.signature.as_ref().and_then(|s| s.issuer.clone());
    evidence.signature = Some(match (&un.signature, &opts.keyring) {
        (None, None) => SignatureEvidence {
            status: "unsigned",
            issuer: None,
            fingerprint: None,
            verified_with: None,
        },
        (None, Some(k)) => {
            return Err(ImportError::SignerNotTrusted {
                recipe: recipe.into(),
                keyring: k.clone(),
                detail: "the .dsc is not signed".into(),
            })
        }
        (Some(_), None) => {
            evidence
                .notes
                .push("signature parsed, not checked: no --keyring given".into());
            SignatureEvidence {
                status: "not-checked",
                issuer,
                fingerprint: None,
                verified_with: None,
            }
        }
        (Some(_), Some(k)) => {
            let (fpr, keyring_digest) = verify_clearsigned(recipe, path, k)?;
            SignatureEvidence {
                status: "verified",
                issuer,
                fingerprint: Some(fpr),
                verified_with: Some(format!("gpgv, keyring {keyring_digest}")),
            }
        }
    });

    let p = parse_paragraph(recipe, &un.body)?;
    for f in &p.fields {
        evidence.fields.insert(f.name.clone(), Value::String(f.value.clone()));
    }
    let format = one_line(recipe, required(recipe, &p, "Format")?)?;
    let source = one_line(recipe, required(recipe, &p, "Source")?)?;
    check_source_name(recipe, source)?;
    let version = one_line(recipe, required(recipe, &p, "Version")?)?;
    let (version_ne, upstream_version) = split_version(recipe, version)?;
    if let Some(stem) = dsc_name.strip_suffix(".dsc") {
        if stem != format!("{source}_{version_ne}") {
            evidence.notes.push(format!(
                "the .dsc is named {dsc_name}, not {source}_{version_ne}.dsc as dpkg-source names it"
            ));
        }
    }

    // The file lists must agree with each other before any file is read.
    let files_md5 = file_list(recipe, required(recipe, &p, "Files")?, 16)?;
    let sha256 = file_list(recipe, required(recipe, &p, "Checksums-Sha256")?, 32)?;
    let sha1 = match p.get("Checksums-Sha1") {
        Some(f) => Some(file_list(recipe, f, 20)?),
        None => None,
    };
    let names = |l: &[Listed]| l.iter().map(|x| (x.name.clone(), x.size)).collect::<BTreeMap<_, _>>();
    let want = names(&sha256);
    for (field, other) in [("Files", Some(&files_md5)), ("Checksums-Sha1", sha1.as_ref())] {
        if let Some(o) = other {
            if names(o) != want {
                return Err(ImportError::refused(
                    recipe,
                    field,
                    "does not list the same files with the same sizes as Checksums-Sha256",
                ));
            }
        }
    }

    // The file set of the format.
    let mut roles = Vec::new();
    for l in &sha256 {
        let role = role_of(&l.name, source, &version_ne, &upstream_version).ok_or_else(|| {
            ImportError::refused(
                recipe,
                "Checksums-Sha256",
                format!("{} is not a file of source package {source} {version}", l.name),
            )
        })?;
        roles.push(role);
    }
    let count = |r: Role| roles.iter().filter(|x| **x == r).count();
    let shape_ok = match format {
        "3.0 (quilt)" => {
            count(Role::Orig) == 1 && count(Role::DebianTar) == 1 && count(Role::Native) == 0 && count(Role::Diff) == 0
        }
        "3.0 (native)" => count(Role::Native) == 1 && roles.len() == 1,
        "1.0" => {
            (count(Role::Native) == 1 && roles.len() == 1)
                || (count(Role::Orig) == 1
                    && count(Role::Diff) <= 1
                    && count(Role::DebianTar) == 0
                    && count(Role::Native) == 0
                    && count(Role::OrigComponent) == 0)
        }
        other => {
            return Err(ImportError::refused(
                recipe,
                "Format",
                format!("{other:?} is not a source format read here (1.0, 3.0 (quilt), 3.0 (native))"),
            ))
        }
    };
    if !shape_ok {
        return Err(ImportError::refused(
            recipe,
            "Checksums-Sha256",
            format!("the files listed are not those of a {format} source package"),
        ));
    }

    // Every file: size, SHA-256, SHA-1, read once.
    let mut measured = BTreeMap::new();
    for (l, role) in sha256.iter().zip(&roles) {
        let m = measure(recipe, "Checksums-Sha256", &dir, &l.name, MAX_SOURCE_FILE)?;
        if m.size != l.size {
            return Err(ImportError::SizeMismatch {
                what: format!("{recipe}: Checksums-Sha256: {}", l.name),
                expected: l.size,
                actual: m.size,
            });
        }
        if m.sha256_hex() != l.hex {
            return Err(ImportError::DigestMismatch {
                what: format!("{recipe}: Checksums-Sha256: {}", l.name),
                algorithm: "sha256",
                expected: l.hex.clone(),
                actual: m.sha256_hex(),
            });
        }
        let mut checked = vec!["size", "sha256"];
        if let Some(s1) = sha1.as_ref().and_then(|s| s.iter().find(|x| x.name == l.name)) {
            let actual = hex::encode(m.sha1);
            if actual != s1.hex {
                return Err(ImportError::DigestMismatch {
                    what: format!("{recipe}: Checksums-Sha1: {}", l.name),
                    algorithm: "sha1",
                    expected: s1.hex.clone(),
                    actual,
                });
            }
            checked.push("sha1");
        }
        evidence.files.push(FileEvidence {
            name: l.name.clone(),
            role: role.as_str().into(),
            size: Some(m.size),
            sha256: Some(m.digest().to_string()),
            checked,
            not_checked: vec!["md5"],
        });
        measured.insert(l.name.clone(), (m, *role));
    }

    // Upstream tarball, patches, the upstream URL.
    let find = |r: Role| {
        measured
            .iter()
            .find(|(_, (_, role))| *role == r)
            .map(|(n, (m, _))| (n.clone(), m.digest()))
    };
    let upstream_tar = find(Role::Orig).or_else(|| find(Role::Native));
    let mut patches = Vec::new();
    let mut copyright_source = None;
    if let Some((deb_name, _)) = find(Role::DebianTar) {
        let (p, c) = debian_tarball(recipe, &dir, &deb_name, &mut evidence)?;
        patches = p;
        copyright_source = c;
    } else if let Some((native, _)) = find(Role::Native) {
        let members = tarball::members(recipe, "Checksums-Sha256", &dir, &native, |p| {
            copyright_path(p).then_some(MAX_COPYRIGHT)
        })?;
        copyright_source = members.values().next().and_then(|c| copyright_upstream(c));
    }
    if let Some((diff, d)) = find(Role::Diff) {
        patches.push(Patch {
            name: diff.clone(),
            digest: d,
        });
        evidence.patches.push(FileEvidence {
            name: diff,
            role: "patch".into(),
            size: measured.values().find(|(_, r)| *r == Role::Diff).map(|(m, _)| m.size),
            sha256: Some(d.to_string()),
            checked: vec!["size", "sha256"],
            not_checked: vec![],
        });
    }
    if count(Role::OrigComponent) > 0 {
        evidence.notes.push(
            "additional upstream component tarballs are recorded under files, not in the manifest (it names one upstream tarball)".into(),
        );
    }

    let homepage = p
        .get("Homepage")
        .map(|f| f.value.clone())
        .filter(|h| h.contains("://") && !h.contains('\n'));
    let upstream = evidence.upstream_url(
        opts.upstream.as_ref(),
        copyright_source.clone(),
        homepage.as_ref(),
        Some("upstream URL from Homepage (debian/copyright names no Source URL)"),
        (
            recipe,
            "Homepage",
            "no upstream URL: neither debian/copyright's Source nor Homepage gives one (pass --upstream URL)",
        ),
    )?;

    let package = Package {
        name: source.to_string(),
        version: version.to_string(),
        summary: None,
        license: None,
        homepage,
    };
    let provenance = Provenance {
        upstream,
        upstream_hash: upstream_tar.map(|(_, d)| d),
        imported_from: Some(format!("debian:{dsc_name}")),
        imported_from_hash: Some(dsc_digest),
        patches,
    };
    Imported::new(package, provenance, "debian", evidence)
}

fn copyright_path(p: &str) -> bool {
    p == "debian/copyright" || p.split_once('/').is_some_and(|(_, rest)| rest == "debian/copyright")
}

/// The first URL of the `Source` field of a machine-readable
/// `debian/copyright`'s header paragraph (DEP-5), if any.
fn copyright_upstream(c: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(c).ok()?;
    let header = text.split("\n\n").next()?;
    if !header.lines().any(|l| l.to_ascii_lowercase().starts_with("format:")) {
        return None;
    }
    let mut in_source = false;
    for line in header.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if !in_source {
                continue;
            }
        } else {
            in_source = line.to_ascii_lowercase().starts_with("source:");
            if !in_source {
                continue;
            }
        }
        let value = if line.to_ascii_lowercase().starts_with("source:") {
            &line[7..]
        } else {
            line
        };
        if let Some(url) = value.split_whitespace().find(|w| w.contains("://")) {
            let url = url.trim_matches(|c| matches!(c, '<' | '>' | ',' | ';' | '.' | '(' | ')'));
            if !url.chars().any(char::is_control) && url.len() <= 4096 {
                return Some(url.to_string());
            }
        }
    }
    None
}

/// Reads the debian tarball: `debian/patches/series` and the patches it
/// lists, in order, each hashed; and the upstream URL of `debian/copyright`.
fn debian_tarball(
    recipe: &str,
    dir: &Path,
    name: &str,
    evidence: &mut Evidence,
) -> Result<(Vec<Patch>, Option<String>)> {
    let field = "Checksums-Sha256";
    // First pass: the series and the copyright (small); second pass: the patches it names.
    let first = tarball::members(recipe, field, dir, name, |p| match p {
        "debian/patches/series" => Some(MAX_SERIES),
        "debian/copyright" => Some(MAX_COPYRIGHT),
        _ => None,
    })?;
    let copyright = first.get("debian/copyright").and_then(|c| copyright_upstream(c));
    let Some(series) = first.get("debian/patches/series") else {
        evidence
            .notes
            .push(format!("{name} has no debian/patches/series: no patches"));
        return Ok((Vec::new(), copyright));
    };
    let series =
        std::str::from_utf8(series).map_err(|_| ImportError::refused(recipe, "debian/patches/series", "not UTF-8"))?;
    let mut order: Vec<String> = Vec::new();
    for (i, line) in series.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let patch = words.next().unwrap_or("");
        for opt in words {
            if !(opt.starts_with("-p") && opt.len() > 2 && opt[2..].bytes().all(|b| b.is_ascii_digit())) {
                return Err(ImportError::refused(
                    recipe,
                    "debian/patches/series",
                    format!("line {}: option {opt:?} (only -pN is read)", i + 1),
                ));
            }
        }
        check_relative_path(recipe, "debian/patches/series", patch)?;
        if order.iter().any(|p| p == patch) {
            return Err(ImportError::refused(
                recipe,
                "debian/patches/series",
                format!("{patch} is listed twice"),
            ));
        }
        if order.len() >= MAX_PATCHES {
            return Err(ImportError::refused(
                recipe,
                "debian/patches/series",
                format!("more than {MAX_PATCHES} patches"),
            ));
        }
        order.push(patch.to_string());
    }
    let wanted: std::collections::BTreeSet<String> = order.iter().map(|p| format!("debian/patches/{p}")).collect();
    let found = tarball::members(recipe, field, dir, name, |p| wanted.contains(p).then_some(MAX_PATCH))?;
    let mut patches = Vec::new();
    for p in &order {
        let data = found.get(&format!("debian/patches/{p}")).ok_or_else(|| {
            ImportError::refused(
                recipe,
                "debian/patches/series",
                format!("{p} is listed but {name} has no debian/patches/{p}"),
            )
        })?;
        let d = Digest::of(data);
        patches.push(Patch {
            name: p.clone(),
            digest: d,
        });
        evidence.patches.push(FileEvidence {
            name: p.clone(),
            role: "patch".into(),
            size: Some(data.len() as u64),
            sha256: Some(d.to_string()),
            checked: vec![],
            not_checked: vec![],
        });
    }
    Ok((patches, copyright))
}

/// Verifies the clearsigned `.dsc` at `path` with `gpgv` against
/// `keyring` (a keyring file as Debian ships them: `gpg --export` output
/// or a keybox). Returns the signing key's fingerprint and the keyring's
/// SHA-256. `gpgv` reads the very file parsed; its status lines decide:
/// `VALIDSIG` verified, `BADSIG` exit 2, no key of the keyring (`NO_PUBKEY`,
/// `ERRSIG`) exit 3. Without `gpgv` the import is refused: the user asked
/// for a check that cannot be made.
pub fn verify_clearsigned(recipe: &str, path: &Path, keyring: &Path) -> Result<(String, Digest)> {
    let (out, kr_digest) = crate::pgp::gpgv(path, keyring, "check signatures with --keyring")?;
    let status = String::from_utf8_lossy(&out.stdout);
    let mut valid = None;
    let mut bad = false;
    let mut missing = false;
    for line in status.lines() {
        let mut w = line.split_whitespace();
        if w.next() != Some("[GNUPG:]") {
            continue;
        }
        match w.next() {
            Some("VALIDSIG") => {
                // VALIDSIG <fpr> <date> <ts> <expire> <ver> <res> <pkalgo> <hashalgo> <class> <primary-fpr>
                let fields: Vec<&str> = w.collect();
                let primary = fields.get(9).or(fields.first()).map(|s| s.to_string());
                valid = primary;
            }
            Some("BADSIG") => bad = true,
            Some("NO_PUBKEY") | Some("ERRSIG") => missing = true,
            _ => {}
        }
    }
    let stderr_text = String::from_utf8_lossy(&out.stderr);
    let joined: Vec<&str> = stderr_text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let stderr = cerro_core::text::printable_within(&joined.join("; "), 2000);
    if bad {
        return Err(ImportError::SignatureInvalid {
            recipe: recipe.into(),
            detail: stderr,
        });
    }
    match valid {
        Some(fpr) if out.status.success() && !missing => Ok((fpr, kr_digest)),
        _ if missing => Err(ImportError::SignerNotTrusted {
            recipe: recipe.into(),
            keyring: keyring.to_path_buf(),
            detail: stderr,
        }),
        _ => Err(ImportError::SignatureInvalid {
            recipe: recipe.into(),
            detail: stderr,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        let r = |n| role_of(n, "hello", "2.10-3", "2.10");
        assert_eq!(r("hello_2.10.orig.tar.gz"), Some(Role::Orig));
        assert_eq!(r("hello_2.10.orig.tar.gz.asc"), Some(Role::OrigSignature));
        assert_eq!(r("hello_2.10.orig-docs.tar.xz"), Some(Role::OrigComponent));
        assert_eq!(r("hello_2.10-3.debian.tar.xz"), Some(Role::DebianTar));
        assert_eq!(r("hello_2.10-3.diff.gz"), Some(Role::Diff));
        assert_eq!(r("hello_2.10-3.tar.xz"), Some(Role::Native));
        for n in [
            "hello_2.10.orig.tar.zip",
            "other_2.10.orig.tar.gz",
            "hello_2.10-3.debian.tar.gz.sig",
            "hello.tar.gz",
        ] {
            assert_eq!(r(n), None, "{n}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(
            split_version("r", "1:2.10-3").unwrap(),
            ("2.10-3".into(), "2.10".into())
        );
        assert_eq!(split_version("r", "2.10").unwrap(), ("2.10".into(), "2.10".into()));
        assert_eq!(
            split_version("r", "1.0-1-2").unwrap(),
            ("1.0-1-2".into(), "1.0-1".into())
        );
        for bad in ["x:1-1", "a1-1", "1:2:3-1", "", "1 2"] {
            assert!(split_version("r", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn copyright_source_url() {
        let c = b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: hello\nSource: https://ftp.gnu.org/gnu/hello/\n\nFiles: *\nCopyright: x\n";
        assert_eq!(copyright_upstream(c).as_deref(), Some("https://ftp.gnu.org/gnu/hello/"));
        let c = b"Format: x\nSource:\n Taken from <https://example.org/a.tar.gz>.\n";
        assert_eq!(copyright_upstream(c).as_deref(), Some("https://example.org/a.tar.gz"));
        assert_eq!(
            copyright_upstream(b"This package was debianized by...\nhttps://x/\n"),
            None
        );
    }

    #[test]
    fn file_lists_with_bad_digests_or_sizes_are_refused() {
        let f = |v: &str| Field {
            name: "Checksums-Sha256".into(),
            value: v.into(),
            line: 1,
        };
        let d = "a".repeat(64);
        file_list("r", &f(&format!("\n{d} 10 a_1.orig.tar.gz")), 32).unwrap();
        for bad in [
            format!("\n{} 10 a.tar.gz", "a".repeat(63)),
            format!("\n{} 10 a.tar.gz", "A".repeat(64)),
            format!("\n{} 10 a.tar.gz", "g".repeat(64)),
            format!("\n{d} -1 a.tar.gz"),
            format!("\n{d} 010 a.tar.gz"),
            format!("\n{d} 99999999999999999999999 a.tar.gz"),
            format!("\n{d} 10 ../a.tar.gz"),
            format!("\n{d} 10 /etc/passwd"),
            format!("\n{d} 10 a.tar.gz\n{d} 10 a.tar.gz"),
            format!("\n{d} 10"),
            format!("{d} 10 a.tar.gz"),
            "\n".to_string(),
        ] {
            let e = file_list("r", &f(&bad), 32).unwrap_err();
            assert!(e.to_string().contains("Checksums-Sha256"), "{e}");
            assert_eq!(e.exit_code().code(), 10);
        }
    }
}
