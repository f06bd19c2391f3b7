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

    #[test]
    fn os_release_fields() {
        let (id, v) = os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n");
        assert_eq!(id.as_deref(), Some("debian"));
        assert_eq!(v.as_deref(), Some("12"));
    }
}
