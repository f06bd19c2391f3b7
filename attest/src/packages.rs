//! Installed-package databases found in image layers: dpkg's `status`
//! (and distroless `status.d/*`) and apk's `installed`. Only what an SBOM
//! needs is kept: name, version, architecture, source, licence.

/// Which package manager a package came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PackageKind {
    /// dpkg (Debian, Ubuntu).
    Deb,
    /// apk (Alpine).
    Apk,
    /// rpm (Fedora, RHEL, SUSE…).
    Rpm,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OsPackage {
    /// Package manager.
    pub kind: PackageKind,
    /// Binary package name.
    pub name: String,
    /// Version as the package manager spells it.
    pub version: String,
    /// Architecture, if recorded.
    pub arch: Option<String>,
    /// Source package, if different from the name.
    pub source: Option<String>,
    /// Licence as recorded (apk only; dpkg does not record one).
    pub license: Option<String>,
}

impl OsPackage {
    /// The package URL (purl spec): `pkg:deb/<distro>/<name>@<version>?arch=<arch>`.
    pub fn purl(&self, distro: &str) -> String {
        let ty = match self.kind {
            PackageKind::Deb => "deb",
            PackageKind::Apk => "apk",
            PackageKind::Rpm => "rpm",
        };
        let mut p = format!("pkg:{ty}/{}/{}@{}", enc(distro), enc(&self.name), enc(&self.version));
        let mut q = Vec::new();
        if let Some(a) = &self.arch {
            q.push(format!("arch={}", enc(a)));
        }
        if let Some(s) = &self.source {
            q.push(format!("upstream={}", enc(s)));
        }
        if !q.is_empty() {
            p.push('?');
            p.push_str(&q.join("&"));
        }
        p
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses deb822 paragraphs into (field, value) lists; continuation lines
/// are folded into the previous field.
fn paragraphs(text: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = cur.last_mut() {
                last.1.push('\n');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            cur.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Installed packages of a dpkg `status` file (those whose Status ends in
/// `installed`).
pub fn parse_dpkg_status(text: &str) -> Vec<OsPackage> {
    let mut out = Vec::new();
    for p in paragraphs(text) {
        let get = |k: &str| {
            p.iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let (Some(name), Some(version)) = (get("Package"), get("Version")) else {
            continue;
        };
        // Distroless status.d files have no Status field: they list installed packages only.
        if let Some(status) = get("Status") {
            if status.split_whitespace().last() != Some("installed") {
                continue;
            }
        }
        let source = get("Source")
            .map(|s| s.split_whitespace().next().unwrap_or_default().to_owned())
            .filter(|s| !s.is_empty() && *s != name);
        out.push(OsPackage {
            kind: PackageKind::Deb,
            name,
            version,
            arch: get("Architecture"),
            source,
            license: None,
        });
    }
    out
}

/// Installed packages of an apk `installed` database.
pub fn parse_apk_installed(text: &str) -> Vec<OsPackage> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let get = |k: char| {
            block
                .lines()
                .find(|l| l.len() > 2 && l.starts_with(k) && l.as_bytes()[1] == b':')
                .map(|l| l[2..].to_owned())
        };
        let (Some(name), Some(version)) = (get('P'), get('V')) else {
            continue;
        };
        let source = get('o').filter(|o| *o != name);
        out.push(OsPackage {
            kind: PackageKind::Apk,
            name,
            version,
            arch: get('A'),
            source,
            license: get('L'),
        });
    }
    out
}

/// rpm header tags this reader uses.
const RPMTAG_NAME: u32 = 1000;
const RPMTAG_VERSION: u32 = 1001;
const RPMTAG_RELEASE: u32 = 1002;
const RPMTAG_EPOCH: u32 = 1003;
const RPMTAG_LICENSE: u32 = 1014;
const RPMTAG_ARCH: u32 = 1022;
const RPMTAG_SOURCERPM: u32 = 1044;
const RPM_INT32: u32 = 4;
const RPM_STRING: u32 = 6;
const RPM_I18NSTRING: u32 = 9;

fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parses one header blob as the rpm database stores it (`headerExport`:
/// index count and data length, big-endian, then 16-byte index entries
/// `tag type offset count`, then the data store). Hostile input: every
/// offset is bounds-checked; a malformed header is `None`, never a panic.
pub fn parse_rpm_header(blob: &[u8]) -> Option<OsPackage> {
    let il = be32(blob, 0)? as usize;
    let dl = be32(blob, 4)? as usize;
    let index_end = 8usize.checked_add(il.checked_mul(16)?)?;
    let data = blob.get(index_end..index_end.checked_add(dl)?)?;
    let string = |tag: u32| -> Option<String> {
        (0..il).find_map(|i| {
            let e = 8 + i * 16;
            if be32(blob, e)? != tag {
                return None;
            }
            let ty = be32(blob, e + 4)?;
            let off = be32(blob, e + 8)? as usize;
            match ty {
                RPM_STRING | RPM_I18NSTRING => {
                    let rest = data.get(off..)?;
                    let end = rest.iter().position(|b| *b == 0)?;
                    String::from_utf8(rest[..end].to_vec()).ok()
                }
                RPM_INT32 => be32(data, off).map(|v| v.to_string()),
                _ => None,
            }
        })
    };
    let name = string(RPMTAG_NAME)?;
    let version = string(RPMTAG_VERSION)?;
    let release = string(RPMTAG_RELEASE);
    let epoch = string(RPMTAG_EPOCH);
    let mut full = version;
    if let Some(r) = release {
        full = format!("{full}-{r}");
    }
    if let Some(e) = epoch.filter(|e| e != "0") {
        full = format!("{e}:{full}");
    }
    // SOURCERPM is "name-version-release.src.rpm": keep the name part.
    let source = string(RPMTAG_SOURCERPM).and_then(|s| {
        let stem = s.strip_suffix(".src.rpm")?;
        let mut parts = stem.rsplitn(3, '-');
        let (_rel, _ver, n) = (parts.next()?, parts.next()?, parts.next()?);
        (n != name).then(|| n.to_owned())
    });
    Some(OsPackage {
        kind: PackageKind::Rpm,
        name,
        version: full,
        arch: string(RPMTAG_ARCH),
        source,
        license: string(RPMTAG_LICENSE),
    })
}

/// Installed packages of an rpm sqlite database (`rpmdb.sqlite`, rpm ≥ 4.16:
/// Fedora 33+, RHEL 9). The Berkeley DB `Packages` format of older systems
/// is not read. `gpg-pubkey` pseudo-packages are skipped.
pub fn parse_rpmdb_sqlite(db: &[u8]) -> Result<Vec<OsPackage>, String> {
    let mut tmp = tempfile::NamedTempFile::new().map_err(|e| format!("temporary file: {e}"))?;
    std::io::Write::write_all(&mut tmp, db).map_err(|e| format!("temporary file: {e}"))?;
    let conn = rusqlite::Connection::open_with_flags(
        tmp.path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("not an sqlite database: {e}"))?;
    let mut stmt = conn
        .prepare("SELECT blob FROM Packages")
        .map_err(|e| format!("no Packages table: {e}"))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .map_err(|e| format!("reading Packages: {e}"))?;
    let mut out = Vec::new();
    for blob in rows {
        let blob = blob.map_err(|e| format!("reading Packages: {e}"))?;
        match parse_rpm_header(&blob) {
            Some(p) if p.name != "gpg-pubkey" => out.push(p),
            Some(_) => {}
            None => return Err("a package header is malformed".into()),
        }
    }
    Ok(out)
}

/// `ID` and `VERSION_ID` of an os-release file.
pub fn os_release(text: &str) -> (Option<String>, Option<String>) {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .map(|v| v.trim().trim_matches('"').to_owned())
    };
    (get("ID"), get("VERSION_ID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_keeps_installed_packages() {
        let text = "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\nDescription: shell\n multi-line\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: libc6\nStatus: install ok installed\nSource: glibc (2.36-9)\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n";
        let p = parse_dpkg_status(text);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "bash");
        assert_eq!(p[1].source.as_deref(), Some("glibc"));
        assert_eq!(
            p[1].purl("debian"),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc"
        );
    }

    #[test]
    fn apk_installed() {
        let text = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nC:Q1def=\nP:busybox-binsh\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\no:busybox\n";
        let p = parse_apk_installed(text);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].source, None);
        assert_eq!(p[1].source.as_deref(), Some("busybox"));
        assert_eq!(p[1].license.as_deref(), Some("GPL-2.0-only"));
    }

    /// Builds a header blob the way rpm's headerExport lays it out.
    fn header(entries: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, ty, value) in entries {
            index.extend_from_slice(&tag.to_be_bytes());
            index.extend_from_slice(&ty.to_be_bytes());
            index.extend_from_slice(&(data.len() as u32).to_be_bytes());
            index.extend_from_slice(&1u32.to_be_bytes());
            data.extend_from_slice(value);
        }
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    #[test]
    fn rpm_headers() {
        let h = header(&[
            (RPMTAG_NAME, RPM_STRING, b"bash\0"),
            (RPMTAG_VERSION, RPM_STRING, b"5.2.26\0"),
            (RPMTAG_RELEASE, RPM_STRING, b"1.fc40\0"),
            (RPMTAG_EPOCH, RPM_INT32, &2u32.to_be_bytes()),
            (RPMTAG_ARCH, RPM_STRING, b"x86_64\0"),
            (RPMTAG_LICENSE, RPM_STRING, b"GPL-3.0-or-later\0"),
            (RPMTAG_SOURCERPM, RPM_STRING, b"bash-5.2.26-1.fc40.src.rpm\0"),
        ]);
        let p = parse_rpm_header(&h).unwrap();
        assert_eq!((p.name.as_str(), p.version.as_str()), ("bash", "2:5.2.26-1.fc40"));
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
        assert_eq!(p.source, None);
        assert_eq!(p.purl("fedora"), "pkg:rpm/fedora/bash@2%3A5.2.26-1.fc40?arch=x86_64");
        // Every truncation and a lying index are refused without a panic.
        for cut in 0..h.len() {
            let _ = parse_rpm_header(&h[..cut]);
        }
        let mut lying = h.clone();
        lying[8 + 8..8 + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_rpm_header(&lying).is_none());
        let mut huge = h;
        huge[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_rpm_header(&huge).is_none());
    }

    #[test]
    fn os_release_fields() {
        let (id, v) = os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n");
        assert_eq!(id.as_deref(), Some("debian"));
        assert_eq!(v.as_deref(), Some("12"));
    }
}
