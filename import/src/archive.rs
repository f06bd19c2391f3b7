//! `debian:PKG[=VERSION]`: a source package taken from a Debian archive
//! through the archive's own chain of trust, every link checked before the
//! next is used (spec/import.md §2.6):
//!
//! 1. `dists/SUITE/InRelease`, clearsigned, verified by `gpgv` against the
//!    keyring (Debian's archive keyring by default); its signed text is
//!    the Release, which must name the suite asked for, be dated no later
//!    than now (with a small skew) and, when it has `Valid-Until`, not be
//!    past it (a mirror replaying an old Release is refused).
//! 2. `main/source/Sources.xz` (or `.gz`), its size and SHA-256 those of
//!    the Release's `SHA256` field, checked while it streams in (never
//!    more bytes than the Release gives); decompressed with a bound and,
//!    when the Release lists the uncompressed index, checked against that
//!    too.
//! 3. The stanza of the package: the highest version, or the one asked
//!    for; two stanzas of one version are refused as ambiguous.
//! 4. The `.dsc` and the files the stanza lists, each bounded by and
//!    checked against the stanza's `Checksums-Sha256`; then the local
//!    importer ([`crate::debian::import_dsc`]) reads the downloaded `.dsc`
//!    and checks its files again against the `.dsc`'s own lists.
//!
//! The network is not here: the caller hands a [`Fetch`] (in `ct`, the
//! bounded transport of `cerro-registry`, the only crate that talks to
//! the network). This module decides what to fetch, how much of it may
//! come, and whether what came is what the signed chain names.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::deb822::{parse_paragraph, Paragraph};
use crate::debian::{check_source_name, file_list, import_dsc, one_line, split_version};
use crate::error::{ImportError, IoContext, Result};
use crate::files::{check_relative_path, MAX_SOURCE_FILE};
use crate::pgp::unarmour;
use crate::{Imported, Options};

/// Largest `InRelease` read: Debian's main archive's are about 150 KiB.
pub const MAX_INRELEASE: u64 = 8 << 20;
/// Largest compressed Sources index fetched (bookworm's main is about 9 MiB).
pub const MAX_SOURCES_COMPRESSED: u64 = 256 << 20;
/// Most bytes a Sources index may decompress to (bookworm's main is about 50 MiB).
pub const MAX_SOURCES: u64 = 1 << 30;
/// Largest stanza kept from a Sources index (real ones are a few KiB).
pub const MAX_STANZA: usize = 1 << 20;
/// How far in the future a Release's `Date` may be (clocks differ a little).
pub const MAX_FUTURE_SKEW: u64 = 300;
/// Debian's archive keyring (package `debian-archive-keyring`).
pub const DEBIAN_ARCHIVE_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// The mirror when the machine's apt configuration names none.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// The one network operation the chain needs, supplied by the caller.
pub trait Fetch {
    /// Writes the file at `path` (relative to the mirror's root, such as
    /// `dists/bookworm/InRelease`) into `sink`, failing as soon as more than
    /// `limit` bytes arrive. `Ok(false)`: the mirror has no such file (404).
    fn fetch(&mut self, path: &str, limit: u64, sink: &mut dyn Write) -> cerro_core::Result<bool>;
}

/// What to take from which archive.
#[derive(Debug, Clone)]
pub struct Request {
    /// The source package.
    pub package: String,
    /// The version asked for (`=VERSION`); the highest when `None`.
    pub version: Option<String>,
    /// The suite or codename (`bookworm`).
    pub suite: String,
    /// The mirror's URL, as recorded in the evidence.
    pub mirror: String,
    /// The keyring the InRelease must verify under.
    pub keyring: PathBuf,
    /// Unix seconds now, for `Date` and `Valid-Until`.
    pub now: u64,
    /// The directory the downloaded files are written to (it must exist).
    pub work: PathBuf,
}

/// The archive's chain, as recorded in the evidence (`archive`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ArchiveEvidence {
    /// The mirror's URL.
    pub mirror: String,
    /// The suite asked for.
    pub suite: String,
    /// The InRelease and what its signature and dates said.
    pub release: ReleaseEvidence,
    /// The Sources index, as fetched and as decompressed.
    pub sources: Vec<ChainLink>,
    /// The stanza chosen.
    pub stanza: StanzaEvidence,
    /// The `.dsc` and the files it names, as fetched.
    pub files: Vec<ChainLink>,
}

/// The InRelease.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReleaseEvidence {
    /// Its path on the mirror.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// `sha256:…` of the bytes verified.
    pub sha256: String,
    /// The primary fingerprints of the keys whose signatures verified.
    pub signed_by: Vec<String>,
    /// `gpgv, keyring sha256:…`.
    pub verified_with: String,
    /// Its `Suite` and `Codename`.
    pub suite: String,
    /// Its `Codename`.
    pub codename: String,
    /// Its `Date`, as written.
    pub date: String,
    /// Its `Valid-Until`, as written, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

/// One file of the chain: where it was fetched, what it is, and what it
/// was checked against.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChainLink {
    /// The path on the mirror (for a decompressed index: the Release's name for it).
    pub path: String,
    /// Its size.
    pub size: u64,
    /// `sha256:…`.
    pub sha256: String,
    /// What vouched for the size and digest (`InRelease SHA256`, `Sources Checksums-Sha256`).
    pub checked_against: String,
}

/// The stanza chosen from the Sources index.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StanzaEvidence {
    /// `Package`.
    pub package: String,
    /// `Version`.
    pub version: String,
    /// `Directory`.
    pub directory: String,
    /// The other versions the index has of the package.
    pub other_versions: Vec<String>,
}

/// Parses `PKG[=VERSION]` (the part after `debian:`).
pub fn parse_package_arg(arg: &str) -> Result<(String, Option<String>)> {
    let what = format!("debian:{arg}");
    let (pkg, version) = match arg.split_once('=') {
        Some((p, v)) => (p, Some(v)),
        None => (arg, None),
    };
    check_source_name(&what, pkg).map_err(|e| ImportError::InvalidSource {
        what: what.clone(),
        reason: e.to_string(),
    })?;
    if let Some(v) = version {
        split_version(&what, v).map_err(|e| ImportError::InvalidSource {
            what: what.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok((pkg.to_owned(), version.map(str::to_owned)))
}

/// A suite or codename: letters, digits, `-`, `.`, `_` (it becomes a path on the mirror).
pub fn check_suite(suite: &str) -> Result<()> {
    let ok = !suite.is_empty()
        && suite.len() <= 64
        && !suite.starts_with('.')
        && suite
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(ImportError::InvalidSource {
            what: format!("--suite {suite:?}"),
            reason: "a suite is letters, digits, '-', '.' and '_'".into(),
        })
    }
}

/// The mirror this machine's apt uses, found as `scripts/debian-source`
/// finds it: the first `URIs:` entry (not a security archive) of the
/// deb822 files in `etc_apt/sources.list.d/*.sources` (in name order),
/// else the first such URL of a `deb` line of `etc_apt/sources.list`.
/// Unreadable files are skipped: this only chooses a default.
pub fn mirror_from_apt(etc_apt: &Path) -> Option<String> {
    let read = |p: &Path| -> Option<String> {
        let bytes = cerro_core::file::read_bounded(p, 1 << 20, &p.display().to_string()).ok()?;
        String::from_utf8(bytes).ok()
    };
    let usable = |u: &str| (u.starts_with("http://") || u.starts_with("https://")) && !u.contains("security");
    let mut files: Vec<PathBuf> = std::fs::read_dir(etc_apt.join("sources.list.d"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sources"))
        .collect();
    files.sort();
    for f in files {
        let Some(text) = read(&f) else { continue };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("URIs:") {
                if let Some(u) = rest.split_whitespace().find(|u| usable(u)) {
                    return Some(u.trim_end_matches('/').to_owned());
                }
            }
        }
    }
    let text = read(&etc_apt.join("sources.list"))?;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        if let Some(u) = words.find(|w| usable(w)) {
            return Some(u.trim_end_matches('/').to_owned());
        }
    }
    None
}

/// A sink that writes to a file and hashes what it writes.
struct HashingFile {
    file: File,
    path: PathBuf,
    hash: Sha256,
    size: u64,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// What a fetch measured.
struct Fetched {
    path: PathBuf,
    size: u64,
    digest: Digest,
}

/// Fetches `remote` into `dest`, at most `limit` bytes, hashing it as it
/// comes. A file the mirror does not have is an I/O error naming it (exit 11).
fn fetch_to(fetch: &mut dyn Fetch, remote: &str, limit: u64, dest: &Path) -> Result<Fetched> {
    let file = File::create(dest).ctx("creating", dest)?;
    let mut sink = HashingFile {
        file,
        path: dest.to_path_buf(),
        hash: Sha256::new(),
        size: 0,
    };
    let found = fetch.fetch(remote, limit, &mut sink)?;
    if !found {
        return Err(ImportError::Io {
            op: "fetching",
            path: PathBuf::from(remote),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "the mirror has no such file (404)"),
        });
    }
    sink.file.sync_all().ctx("writing", &sink.path)?;
    Ok(Fetched {
        path: sink.path,
        size: sink.size,
        digest: Digest::from_bytes(sink.hash.finalize().into()),
    })
}

/// Fetches `remote` and checks it against `size` and `hex` (its SHA-256),
/// as `vouched_by` gives them: never more than `size` bytes are taken.
fn fetch_checked(
    fetch: &mut dyn Fetch,
    remote: &str,
    (size, hex): (u64, &str),
    dest: &Path,
    vouched_by: &str,
) -> Result<Fetched> {
    let got = fetch_to(fetch, remote, size, dest)?;
    let what = format!("{vouched_by}: {remote}");
    if got.size != size {
        return Err(ImportError::SizeMismatch {
            what,
            expected: size,
            actual: got.size,
        });
    }
    if got.digest.hex() != hex {
        return Err(ImportError::DigestMismatch {
            what,
            algorithm: "sha256",
            expected: hex.to_owned(),
            actual: got.digest.hex(),
        });
    }
    Ok(got)
}

/// A Release's `SHA256` entries by path: (size, hex).
type Index = BTreeMap<String, (u64, String)>;

/// The Release, read from the signed text of a verified InRelease.
#[derive(Debug)]
struct Release {
    suite: String,
    codename: String,
    date: String,
    valid_until: Option<String>,
    by_hash: bool,
    sha256: Index,
}

/// Reads the Release fields needed and checks suite and dates.
fn read_release(name: &str, body: &str, req: &Request) -> Result<Release> {
    let p = parse_paragraph(name, body)?;
    let field = |f: &str| -> Result<Option<String>> {
        match p.get(f) {
            Some(x) => Ok(Some(one_line(name, x)?.to_owned())),
            None => Ok(None),
        }
    };
    let suite = field("Suite")?.unwrap_or_default();
    let codename = field("Codename")?.unwrap_or_default();
    if suite != req.suite && codename != req.suite {
        return Err(ImportError::ReleaseNotValid {
            release: name.into(),
            reason: format!(
                "it is the Release of suite {suite:?} (codename {codename:?}), not of {:?}: a mirror may not \
                 serve one suite's Release for another",
                req.suite
            ),
        });
    }
    let date = field("Date")?.ok_or_else(|| ImportError::refused(name, "Date", "missing"))?;
    let date_s =
        parse_rfc2822(&date).ok_or_else(|| ImportError::refused(name, "Date", format!("{date:?} is not a date")))?;
    if date_s > req.now.saturating_add(MAX_FUTURE_SKEW) {
        return Err(ImportError::ReleaseNotValid {
            release: name.into(),
            reason: format!(
                "its Date {date} is {} s in the future (at most {MAX_FUTURE_SKEW} s of clock skew is allowed)",
                date_s - req.now
            ),
        });
    }
    let valid_until = field("Valid-Until")?;
    if let Some(v) = &valid_until {
        let until = parse_rfc2822(v)
            .ok_or_else(|| ImportError::refused(name, "Valid-Until", format!("{v:?} is not a date")))?;
        if req.now > until {
            return Err(ImportError::ReleaseNotValid {
                release: name.into(),
                reason: format!(
                    "it expired: Valid-Until {v} passed {} s ago (a mirror serving an old Release is refused)",
                    req.now - until
                ),
            });
        }
    }
    let by_hash = field("Acquire-By-Hash")?.is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let sha256 = release_index(name, &p)?;
    Ok(Release {
        suite,
        codename,
        date,
        valid_until,
        by_hash,
        sha256,
    })
}

/// The Release's `SHA256` field: `HEX SIZE PATH` lines, each path once.
fn release_index(name: &str, p: &Paragraph) -> Result<Index> {
    let f = p
        .get("SHA256")
        .ok_or_else(|| ImportError::refused(name, "SHA256", "missing: the Release gives no SHA-256 digests"))?;
    let mut out = Index::new();
    for line in f.continuation_lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [hex, size, path] = parts.as_slice() else {
            return Err(ImportError::refused(
                name,
                "SHA256",
                format!("{line:?} is not 'DIGEST SIZE PATH'"),
            ));
        };
        crate::files::parse_hex(name, "SHA256", hex, 32)?;
        let size: u64 = size
            .parse()
            .ok()
            .filter(|_| size.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| ImportError::refused(name, "SHA256", format!("{size:?} is not a size")))?;
        check_relative_path(name, "SHA256", path)?;
        if out.insert((*path).to_owned(), (size, (*hex).to_owned())).is_some() {
            return Err(ImportError::refused(name, "SHA256", format!("{path} is listed twice")));
        }
    }
    Ok(out)
}

/// Unix seconds of an RFC 2822 date as Release files write it
/// (`Sat, 10 Aug 2024 09:28:04 UTC`, or with `+0000`/`GMT`; the weekday optional).
pub fn parse_rfc2822(s: &str) -> Option<u64> {
    let s = s.split_once(", ").map_or(s, |(_, r)| r);
    let w: Vec<&str> = s.split_whitespace().collect();
    let [day, mon, year, time, zone] = w.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == mon)? as u32 + 1;
    let year: i64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let t: Vec<u32> = time.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [h, m, sec] = t.as_slice() else { return None };
    if *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    let offset: i64 = match *zone {
        "UTC" | "GMT" | "Z" => 0,
        z => {
            let (sign, digits) = match z.as_bytes().first()? {
                b'+' => (1, &z[1..]),
                b'-' => (-1, &z[1..]),
                _ => return None,
            };
            if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let hh: i64 = digits[..2].parse().ok()?;
            let mm: i64 = digits[2..].parse().ok()?;
            sign * (hh * 3600 + mm * 60)
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * i64::from(mo) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + i64::from(*h) * 3600 + i64::from(*m) * 60 + i64::from(*sec) - offset;
    u64::try_from(secs).ok()
}

/// Verifies the InRelease at `path` with `gpgv` against `keyring`: at
/// least one good signature (`GOODSIG` and `VALIDSIG`) and no bad one, as
/// apt requires; signatures by keys the keyring does not hold are
/// ignored (Debian signs with several keys). An expired or revoked key's
/// signature does not count. Returns the primary fingerprints of the good
/// signatures and the keyring's digest.
fn verify_inrelease(name: &str, path: &Path, keyring: &Path) -> Result<(Vec<String>, Digest)> {
    let (out, kr_digest) = crate::pgp::gpgv(path, keyring, "check the archive's signature")?;
    let status = String::from_utf8_lossy(&out.stdout);
    let mut good = 0;
    let mut bad = false;
    let mut valid: Vec<String> = Vec::new();
    for line in status.lines() {
        let mut w = line.split_whitespace();
        if w.next() != Some("[GNUPG:]") {
            continue;
        }
        match w.next() {
            Some("GOODSIG") => good += 1,
            Some("VALIDSIG") => {
                // VALIDSIG <fpr> <date> <ts> <expire> <ver> <res> <pkalgo> <hashalgo> <class> <primary-fpr>
                let fields: Vec<&str> = w.collect();
                if let Some(f) = fields.get(9).or(fields.first()) {
                    valid.push((*f).to_owned());
                }
            }
            Some("BADSIG") => bad = true,
            _ => {}
        }
    }
    let stderr_text = String::from_utf8_lossy(&out.stderr);
    let joined: Vec<&str> = stderr_text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let detail = cerro_core::text::printable_within(&joined.join("; "), 2000);
    if bad {
        return Err(ImportError::SignatureInvalid {
            recipe: name.into(),
            detail,
        });
    }
    if good == 0 || valid.is_empty() {
        return Err(ImportError::SignerNotTrusted {
            recipe: name.into(),
            keyring: keyring.to_path_buf(),
            detail,
        });
    }
    valid.sort();
    valid.dedup();
    Ok((valid, kr_digest))
}

/// A reader that fails once more than `left` bytes went through it.
struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| std::io::Error::other(format!("it decompresses to more than {} bytes", self.limit)))?;
        Ok(n)
    }
}

/// A reader that hashes what is read through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        self.size += n as u64;
        Ok(n)
    }
}

/// Whether the paragraph text names `Package: pkg` (field names are case-insensitive).
fn names_package(text: &str, pkg: &str) -> bool {
    text.lines().any(|l| {
        !l.starts_with([' ', '\t'])
            && l.split_once(':')
                .is_some_and(|(k, v)| k.eq_ignore_ascii_case("Package") && v.trim() == pkg)
    })
}

/// Reads the Sources index at `path` (`.xz` or `.gz`), bounded by
/// `limit` decompressed bytes, and returns the paragraphs naming `pkg`
/// plus the decompressed size and digest. Nothing returned is used
/// before the caller compared that digest with the Release's.
fn scan_sources(name: &str, path: &Path, limit: u64, pkg: &str) -> Result<(Vec<String>, u64, Digest)> {
    let f = File::open(path).ctx("opening", path)?;
    let decompressed: Box<dyn Read> = if name.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new_multi_decoder(f))
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut r = BufReader::new(Hashing {
        inner: Capped {
            inner: decompressed,
            left: limit,
            limit,
        },
        hash: Sha256::new(),
        size: 0,
    });
    let bad = |reason: String| ImportError::refused(name, "Sources", reason);
    let mut found = Vec::new();
    let mut para = String::new();
    let mut line = Vec::new();
    let mut paragraphs = 0usize;
    loop {
        line.clear();
        let n = (&mut r)
            .take(MAX_STANZA as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| bad(format!("cannot be read: {e}")))?;
        let end = n == 0;
        let text = std::str::from_utf8(&line).map_err(|_| bad(format!("paragraph {} is not UTF-8", paragraphs + 1)))?;
        if end || text.trim().is_empty() {
            if !para.is_empty() {
                paragraphs += 1;
                if names_package(&para, pkg) {
                    found.push(std::mem::take(&mut para));
                }
                para.clear();
            }
            if end {
                break;
            }
            continue;
        }
        if para.len() + text.len() > MAX_STANZA {
            return Err(bad(format!(
                "paragraph {} is longer than {MAX_STANZA} bytes",
                paragraphs + 1
            )));
        }
        para.push_str(text);
    }
    let h = r.into_inner();
    Ok((found, h.size, Digest::from_bytes(h.hash.finalize().into())))
}

/// One stanza of the package, parsed strictly.
struct Stanza {
    paragraph: Paragraph,
    version: String,
    extra_source_only: bool,
}

/// The archive's signed text read alone, as `import_from_archive` reads it
/// once the InRelease verified: the Release paragraph (suite, dates, the
/// index of its files), then the choice among the Sources stanzas that
/// name the package. No network, no `gpgv`: the entry point of the fuzz
/// checks (`fuzz/checks`), which must never see a panic here. Returns the
/// chosen version.
pub fn read_signed_text(release: &str, stanzas: &[String], req: &Request) -> Result<String> {
    read_release("Release", release, req)?;
    let (stanza, _) = choose("Sources", req, stanzas)?;
    Ok(stanza.version)
}

/// Chooses the stanza: `version` when given, else the highest version
/// that is not `Extra-Source-Only`. Two stanzas of the same version (as
/// dpkg compares versions) are refused, whichever is chosen.
fn choose(name: &str, req: &Request, texts: &[String]) -> Result<(Stanza, Vec<String>)> {
    let mut stanzas = Vec::new();
    for t in texts {
        let p = parse_paragraph(name, t)?;
        let v = one_line(
            name,
            p.get("Version")
                .ok_or_else(|| ImportError::refused(name, "Version", "missing"))?,
        )?
        .to_owned();
        split_version(name, &v)?;
        let extra = p
            .get("Extra-Source-Only")
            .is_some_and(|f| f.value.eq_ignore_ascii_case("yes"));
        stanzas.push(Stanza {
            paragraph: p,
            version: v,
            extra_source_only: extra,
        });
    }
    for (i, a) in stanzas.iter().enumerate() {
        if let Some(b) = stanzas
            .iter()
            .skip(i + 1)
            .find(|b| crate::debversion::compare(&a.version, &b.version).is_eq())
        {
            return Err(ImportError::refused(
                name,
                "Version",
                format!(
                    "two stanzas of source package {} with version {} (and {}): ambiguous",
                    req.package, a.version, b.version
                ),
            ));
        }
    }
    let all: Vec<String> = stanzas.iter().map(|s| s.version.clone()).collect();
    let pick = match &req.version {
        Some(v) => stanzas
            .iter()
            .position(|s| crate::debversion::compare(&s.version, v).is_eq()),
        None => stanzas
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.extra_source_only)
            .max_by(|(_, a), (_, b)| crate::debversion::compare(&a.version, &b.version))
            .map(|(i, _)| i),
    };
    let Some(i) = pick else {
        let asked = match &req.version {
            Some(v) => format!("{}={v}", req.package),
            None => req.package.clone(),
        };
        return Err(ImportError::NotInArchive {
            what: asked,
            place: format!("{name} of {} {}", req.mirror, req.suite),
            have: if all.is_empty() {
                "no version of it".into()
            } else {
                format!("versions {}", all.join(", "))
            },
        });
    };
    let chosen = stanzas.swap_remove(i);
    let others = all.into_iter().filter(|v| *v != chosen.version).collect();
    Ok((chosen, others))
}

/// Imports `debian:PKG[=VERSION]` from the archive `fetch` reaches.
pub fn import_from_archive(req: &Request, fetch: &mut dyn Fetch, opts: &Options) -> Result<Imported> {
    check_source_name(&format!("debian:{}", req.package), &req.package)?;
    check_suite(&req.suite)?;
    let dists = format!("dists/{}", req.suite);

    // 1. InRelease.
    let release_path = format!("{dists}/InRelease");
    let local = req.work.join("InRelease");
    let got = fetch_to(fetch, &release_path, MAX_INRELEASE, &local)?;
    let (signed_by, keyring_digest) = verify_inrelease(&release_path, &got.path, &req.keyring)?;
    let bytes = cerro_core::file::read_bounded(&got.path, MAX_INRELEASE, &release_path)?;
    if Digest::of(&bytes) != got.digest {
        return Err(ImportError::refused(
            &release_path,
            "file",
            "changed after it was verified",
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| ImportError::refused(&release_path, "file", "not UTF-8"))?;
    let un = unarmour(&release_path, text)?;
    if un.signature.is_none() {
        return Err(ImportError::SignerNotTrusted {
            recipe: release_path,
            keyring: req.keyring.clone(),
            detail: "the InRelease is not signed".into(),
        });
    }
    let release = read_release(&release_path, &un.body, req)?;

    // 2. The Sources index.
    let (index_name, (size, hex)) = ["main/source/Sources.xz", "main/source/Sources.gz"]
        .iter()
        .find_map(|n| release.sha256.get(*n).map(|e| (*n, e.clone())))
        .ok_or_else(|| {
            ImportError::refused(
                &release_path,
                "SHA256",
                "lists no main/source/Sources.xz or Sources.gz: the suite has no source index",
            )
        })?;
    if size > MAX_SOURCES_COMPRESSED {
        return Err(ImportError::refused(
            &release_path,
            "SHA256",
            format!("{index_name} is {size} bytes, more than the {MAX_SOURCES_COMPRESSED} read"),
        ));
    }
    let plain = format!("{dists}/{index_name}");
    let local_index = req.work.join(index_name.rsplit('/').next().unwrap_or("Sources"));
    let by_hash = format!(
        "{dists}/{}/by-hash/SHA256/{hex}",
        index_name.rsplit_once('/').map_or("", |(d, _)| d)
    );
    let vouch = format!("{release_path} SHA256");
    let fetched_index = if release.by_hash {
        match fetch_checked(fetch, &by_hash, (size, &hex), &local_index, &vouch) {
            Err(ImportError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                fetch_checked(fetch, &plain, (size, &hex), &local_index, &vouch)?
            }
            other => other?,
        }
    } else {
        fetch_checked(fetch, &plain, (size, &hex), &local_index, &vouch)?
    };
    let uncompressed = release.sha256.get("main/source/Sources").cloned();
    let limit = uncompressed
        .as_ref()
        .map_or(MAX_SOURCES, |(s, _)| (*s).min(MAX_SOURCES));
    let (texts, plain_size, plain_digest) = scan_sources(&plain, &fetched_index.path, limit, &req.package)?;
    let mut sources = vec![ChainLink {
        path: plain.clone(),
        size: fetched_index.size,
        sha256: fetched_index.digest.to_string(),
        checked_against: vouch.clone(),
    }];
    if let Some((s, h)) = &uncompressed {
        let what = format!("{vouch}: {dists}/main/source/Sources (decompressed {plain})");
        if plain_size != *s {
            return Err(ImportError::SizeMismatch {
                what,
                expected: *s,
                actual: plain_size,
            });
        }
        if plain_digest.hex() != *h {
            return Err(ImportError::DigestMismatch {
                what,
                algorithm: "sha256",
                expected: h.clone(),
                actual: plain_digest.hex(),
            });
        }
        sources.push(ChainLink {
            path: format!("{dists}/main/source/Sources"),
            size: plain_size,
            sha256: plain_digest.to_string(),
            checked_against: vouch.clone(),
        });
    }

    // 3. The stanza.
    let (stanza, other_versions) = choose(&plain, req, &texts)?;
    let p = &stanza.paragraph;
    let directory = one_line(
        &plain,
        p.get("Directory")
            .ok_or_else(|| ImportError::refused(&plain, "Directory", "missing"))?,
    )?
    .to_owned();
    check_relative_path(&plain, "Directory", &directory)?;
    let listed = file_list(
        &plain,
        p.get("Checksums-Sha256")
            .ok_or_else(|| ImportError::refused(&plain, "Checksums-Sha256", "missing"))?,
        32,
    )?;
    let (version_ne, _) = split_version(&plain, &stanza.version)?;
    let dsc_name = format!("{}_{version_ne}.dsc", req.package);
    if !listed.iter().any(|l| l.name == dsc_name) {
        return Err(ImportError::refused(
            &plain,
            "Checksums-Sha256",
            format!("the stanza of {} {} lists no {dsc_name}", req.package, stanza.version),
        ));
    }

    // 4. The .dsc and its files, then the local importer.
    let vouch_files = format!("{plain} Checksums-Sha256");
    let mut files = Vec::new();
    for l in &listed {
        let remote = format!("{directory}/{}", l.name);
        let bound = if l.name == dsc_name {
            crate::files::MAX_RECIPE
        } else {
            MAX_SOURCE_FILE
        };
        if l.size > bound {
            return Err(ImportError::refused(
                &plain,
                "Checksums-Sha256",
                format!("{} is {} bytes, more than the {bound} read", l.name, l.size),
            ));
        }
        let got = fetch_checked(fetch, &remote, (l.size, &l.hex), &req.work.join(&l.name), &vouch_files)?;
        files.push(ChainLink {
            path: remote,
            size: got.size,
            sha256: got.digest.to_string(),
            checked_against: vouch_files.clone(),
        });
    }
    let mut imported = import_dsc(
        &req.work.join(&dsc_name),
        &Options {
            keyring: None,
            upstream: opts.upstream.clone(),
        },
    )?;
    let named: BTreeSet<&str> = imported.evidence.files.iter().map(|f| f.name.as_str()).collect();
    let fetched: BTreeSet<&str> = listed
        .iter()
        .map(|l| l.name.as_str())
        .filter(|n| *n != dsc_name)
        .collect();
    if named != fetched {
        return Err(ImportError::refused(
            &plain,
            "Checksums-Sha256",
            format!("the stanza lists {fetched:?} beside the .dsc, the .dsc names {named:?}"),
        ));
    }
    let ev = &mut imported.evidence;
    ev.importer = "debian-archive";
    ev.notes.retain(|n| !n.starts_with("signature parsed, not checked"));
    ev.notes.push(format!(
        "the .dsc's own signature is parsed, not checked: the archive's chain vouches for it \
         ({release_path} signed, {plain} and the .dsc by digest)"
    ));
    ev.archive = Some(ArchiveEvidence {
        mirror: req.mirror.clone(),
        suite: req.suite.clone(),
        release: ReleaseEvidence {
            path: release_path,
            size: got.size,
            sha256: got.digest.to_string(),
            signed_by,
            verified_with: format!("gpgv, keyring {keyring_digest}"),
            suite: release.suite,
            codename: release.codename,
            date: release.date,
            valid_until: release.valid_until,
        },
        sources,
        stanza: StanzaEvidence {
            package: req.package.clone(),
            version: stanza.version.clone(),
            directory,
            other_versions,
        },
        files,
    });
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_dates() {
        assert_eq!(parse_rfc2822("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
        assert_eq!(parse_rfc2822("Sat, 10 Aug 2024 09:28:04 UTC"), Some(1_723_282_084));
        assert_eq!(parse_rfc2822("10 Aug 2024 09:28:04 +0000"), Some(1_723_282_084));
        assert_eq!(parse_rfc2822("Sat, 10 Aug 2024 11:28:04 +0200"), Some(1_723_282_084));
        assert_eq!(parse_rfc2822("Tue, 29 Feb 2028 00:00:00 GMT"), Some(1_835_395_200));
        for bad in [
            "",
            "Sat, 10 Aug 2024",
            "Sat, 10 Foo 2024 09:28:04 UTC",
            "Sat, 10 Aug 2024 25:28:04 UTC",
            "Sat, 10 Aug 2024 09:28:04 CEST",
            "Sat, 10 Aug 2024 09:28:04 +02",
        ] {
            assert_eq!(parse_rfc2822(bad), None, "{bad}");
        }
    }

    #[test]
    fn package_arguments() {
        assert_eq!(parse_package_arg("hello").unwrap(), ("hello".into(), None));
        assert_eq!(
            parse_package_arg("hello=2.10-3").unwrap(),
            ("hello".into(), Some("2.10-3".into()))
        );
        for bad in ["Hello", "h", "../x", "hello=", "hello=x1", "a b"] {
            let e = parse_package_arg(bad).unwrap_err();
            assert_eq!(e.exit_code().code(), 78, "{bad}: {e}");
        }
        check_suite("bookworm-updates").unwrap();
        for bad in ["", "../x", "a/b", ".x"] {
            assert!(check_suite(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn apt_mirror() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(mirror_from_apt(d.path()), None);
        std::fs::write(
            d.path().join("sources.list"),
            "# x\ndeb [arch=amd64] http://m.example/debian/ bookworm main\n",
        )
        .unwrap();
        assert_eq!(mirror_from_apt(d.path()).as_deref(), Some("http://m.example/debian"));
        std::fs::create_dir(d.path().join("sources.list.d")).unwrap();
        std::fs::write(
            d.path().join("sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://security.example/debian-security\n\nTypes: deb\nURIs: https://n.example/debian\n",
        )
        .unwrap();
        assert_eq!(mirror_from_apt(d.path()).as_deref(), Some("https://n.example/debian"));
    }

    #[test]
    fn release_index_is_strict() {
        let ok = format!("SHA256:\n {} 12 main/source/Sources.xz\n", "a".repeat(64));
        let p = parse_paragraph("r", &ok).unwrap();
        assert_eq!(release_index("r", &p).unwrap().len(), 1);
        for bad in [
            format!(
                "SHA256:\n {} 12 main/source/Sources.xz\n {} 13 main/source/Sources.xz\n",
                "a".repeat(64),
                "b".repeat(64)
            ),
            format!("SHA256:\n {} 12 ../x\n", "a".repeat(64)),
            format!("SHA256:\n {} x main/a\n", "a".repeat(64)),
            format!("SHA256:\n {} 12 main/a\n", "A".repeat(64)),
            "Date: x\n".to_string(),
        ] {
            let p = parse_paragraph("r", &bad).unwrap();
            let e = release_index("r", &p).unwrap_err();
            assert_eq!(e.exit_code().code(), 10, "{bad}");
        }
    }

    #[test]
    fn stanzas_are_chosen_by_version_and_duplicates_refused() {
        let req = |v: Option<&str>| Request {
            package: "p".into(),
            version: v.map(str::to_owned),
            suite: "s".into(),
            mirror: "m".into(),
            keyring: PathBuf::new(),
            now: 0,
            work: PathBuf::new(),
        };
        let st = |v: &str, extra: bool| {
            format!(
                "Package: p\nVersion: {v}\n{}",
                if extra { "Extra-Source-Only: yes\n" } else { "" }
            )
        };
        let texts = vec![
            st("1.0-1", false),
            st("1.10-1", false),
            st("1.9-1", false),
            st("2.0-1", true),
        ];
        let (s, others) = choose("S", &req(None), &texts).unwrap();
        assert_eq!(s.version, "1.10-1");
        assert_eq!(others, ["1.0-1", "1.9-1", "2.0-1"]);
        let (s, _) = choose("S", &req(Some("2.0-1")), &texts).unwrap();
        assert_eq!(s.version, "2.0-1");
        let e = choose("S", &req(Some("3.0-1")), &texts).err().unwrap();
        assert_eq!(e.exit_code().code(), 11);
        assert!(e.to_string().contains("p=3.0-1"), "{e}");
        let e = choose("S", &req(None), &[]).err().unwrap();
        assert_eq!(e.exit_code().code(), 11);
        for dup in [
            vec![st("1.0-1", false), st("1.0-1", false)],
            vec![st("1.0-1", false), st("0:1.0-1", false)],
        ] {
            let e = choose("S", &req(None), &dup).err().unwrap();
            assert_eq!(e.exit_code().code(), 10);
            assert!(e.to_string().contains("ambiguous"), "{e}");
        }
        // A stanza read strictly: a duplicate field is refused.
        let e = choose("S", &req(None), &["Package: p\nVersion: 1\nversion: 2\n".into()])
            .err()
            .unwrap();
        assert_eq!(e.exit_code().code(), 10);
    }

    #[test]
    fn only_stanzas_of_the_package_are_kept() {
        assert!(names_package("Package: hello\nVersion: 1\n", "hello"));
        assert!(names_package("Binary: x\npackage:  hello \n", "hello"));
        assert!(!names_package("Package: hello-traditional\n", "hello"));
        assert!(!names_package("Binary: x\n Package: hello\n", "hello"));
    }
}
