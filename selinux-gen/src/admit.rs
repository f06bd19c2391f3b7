//! Which module of a verified bundle may be installed on a host.
//!
//! A signature says who made the bundle, not that its CIL is what
//! `ct pack` generates: a module signed by one `full` key could declare
//! `(typepermissive init_t)` or be named `base` and replace the
//! distribution's. So the module installed is never taken on trust: it is
//! regenerated from the verified manifest's `[capabilities]` against the
//! host's policy, and the bundle must carry exactly that module, byte for
//! byte, under the package's name, and nothing else.

use cerro_core::bundle::{Bundle, SELINUX_PREFIX};
use cerro_core::manifest::PackageManifest;
use cerro_core::naming::module_name;
use cerro_core::verify::Verified;

use crate::host::HostPolicy;
use crate::{generate, GeneratedModule, SelinuxError};

/// Longest excerpt of a line quoted in a refusal.
const EXCERPT: usize = 80;

/// `s` with every byte outside printable ASCII written as an escape, cut
/// to [`EXCERPT`] characters: text from a refused module is never printed
/// as it is (no control characters, no terminal escapes, no bidi overrides).
pub fn escape(s: &[u8]) -> String {
    let mut out = String::new();
    for (n, b) in s.iter().enumerate() {
        if n == EXCERPT {
            out.push_str("...");
            break;
        }
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(char::from(*b)),
            b'\t' => out.push_str("\\t"),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The first line where `found` and `expected` differ: its number (from 1)
/// and both lines, escaped (`(end of module)` past the last line).
fn first_difference(found: &[u8], expected: &[u8]) -> (usize, String, String) {
    let mut f = found.split_inclusive(|b| *b == b'\n');
    let mut e = expected.split_inclusive(|b| *b == b'\n');
    let mut n = 1;
    loop {
        match (f.next(), e.next()) {
            (Some(a), Some(b)) if a == b => n += 1,
            (a, b) => {
                let show = |l: Option<&[u8]>| {
                    l.map_or_else(
                        || "(end of module)".to_owned(),
                        |l| match l.strip_suffix(b"\n") {
                            Some(l) => format!("\"{}\"", escape(l)),
                            None => format!("\"{}\" (no final newline)", escape(l)),
                        },
                    )
                };
                return (n, show(a), show(b));
            }
        }
    }
}

/// The module to install from `verified`: the act of installing takes the
/// verifier's proof, so a bundle nobody verified cannot reach `semodule`.
/// See [`check_members`] for what is refused.
pub fn installable(verified: &Verified<Bundle>, policy: Option<&HostPolicy>) -> Result<GeneratedModule, SelinuxError> {
    check_members(&verified.manifest, &verified.selinux, policy)
}

/// The module to install from a verified bundle: the one regenerated from
/// `manifest` against `policy`, provided `members` (the bundle's
/// `(selinux/<name>.cil, bytes)`) are exactly that one module. Refuses
/// ([`SelinuxError::NotInstallable`], naming what differed) a bundle with no
/// module, more than one, one named other than `ct_<package>`
/// ([`module_name`]), or one whose bytes differ from the regenerated
/// module (the first differing line is quoted, escaped). Errs as
/// [`generate`] does when the manifest cannot be generated against
/// `policy` (declared ports or devices and no policy).
fn check_members(
    manifest: &PackageManifest,
    members: &[(String, Vec<u8>)],
    policy: Option<&HostPolicy>,
) -> Result<GeneratedModule, SelinuxError> {
    let package = &manifest.package.name;
    let name = module_name(package).map_err(SelinuxError::Name)?;
    let expected_path = format!("{SELINUX_PREFIX}{name}.cil");
    let listed = || {
        members
            .iter()
            .map(|(p, _)| escape(p.as_bytes()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found = match members {
        [] => {
            return Err(SelinuxError::NotInstallable(format!(
                "the bundle carries no SELinux module (expected {expected_path})"
            )))
        }
        [(path, bytes)] if *path == expected_path => bytes,
        [(_, _)] => {
            return Err(SelinuxError::NotInstallable(format!(
                "the bundle's module {} is not named after its package {package}: only {expected_path} is installed",
                listed()
            )))
        }
        _ => {
            return Err(SelinuxError::NotInstallable(format!(
                "the bundle carries {} SELinux modules ({}): only one, {expected_path}, is installed",
                members.len(),
                listed()
            )))
        }
    };
    let module = generate(manifest, policy)?;
    if found.as_slice() != module.cil.as_bytes() {
        let (line, got, want) = first_difference(found, module.cil.as_bytes());
        return Err(SelinuxError::NotInstallable(format!(
            "{expected_path} differs from the module regenerated from the signed [capabilities] \
             against this host's policy: line {line} is {got}, regenerated {want}"
        )));
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;
    use cerro_core::digest::Digest;
    use cerro_core::manifest::ImageRef;

    fn manifest(name: &str, caps: &str) -> PackageManifest {
        PackageManifest::from_draft(
            &format!("[package]\nname = \"{name}\"\nversion = \"1\"\n{caps}"),
            ImageRef {
                digest: Digest::of(b""),
                reference: None,
            },
        )
        .unwrap()
    }

    fn refused(r: Result<GeneratedModule, SelinuxError>) -> String {
        match r {
            Err(e @ SelinuxError::NotInstallable(_)) => {
                let core: cerro_core::Error = e.into();
                assert_eq!(core.exit_code(), cerro_core::ExitCode::Malformed);
                core.to_string()
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn only_the_regenerated_module_under_the_package_name() {
        let m = manifest("web-app", "[capabilities]\nwrite = [\"/var/lib/web\"]\n");
        let good = generate(&m, None).unwrap();
        let member = |p: &str, t: &[u8]| (p.to_owned(), t.to_vec());
        let ok = check_members(&m, &[member("selinux/ct_web_app.cil", good.cil.as_bytes())], None).unwrap();
        assert_eq!(ok, good);

        let msg = refused(check_members(&m, &[], None));
        assert!(msg.contains("carries no SELinux module"), "{msg}");

        let msg = refused(check_members(
            &m,
            &[member("selinux/base.cil", good.cil.as_bytes())],
            None,
        ));
        assert!(
            msg.contains("selinux/base.cil is not named after its package web-app"),
            "{msg}"
        );

        let two = [
            member("selinux/ct_web_app.cil", good.cil.as_bytes()),
            member("selinux/sshd.cil", b"(typepermissive init_t)\n"),
        ];
        let msg = refused(check_members(&m, &two, None));
        assert!(
            msg.contains("2 SELinux modules (selinux/ct_web_app.cil, selinux/sshd.cil)"),
            "{msg}"
        );

        // One added rule, with a terminal escape in it: refused, quoted escaped.
        let evil = good.cil.replace(
            "(type ct_web_app_t)\n",
            "(type ct_web_app_t)\n(typepermissive init_t) ; \u{1b}[2J\n",
        );
        let msg = refused(check_members(
            &m,
            &[member("selinux/ct_web_app.cil", evil.as_bytes())],
            None,
        ));
        assert!(msg.contains("differs from the module regenerated"), "{msg}");
        assert!(msg.contains("\"(typepermissive init_t) ; \\x1b[2J\""), "{msg}");
        assert!(
            msg.contains("regenerated \"(roletype system_r ct_web_app_t)\""),
            "{msg}"
        );
        assert!(!msg.contains('\u{1b}'), "{msg}");

        // A module for another package's capabilities, same name: refused.
        let wider = generate(&manifest("web-app", "[capabilities]\nlinux = [\"SYS_ADMIN\"]\n"), None).unwrap();
        let msg = refused(check_members(
            &m,
            &[member("selinux/ct_web_app.cil", wider.cil.as_bytes())],
            None,
        ));
        assert!(msg.contains("differs"), "{msg}");

        // Truncated: the end of the module is named.
        let cut = &good.cil.as_bytes()[..good.cil.len() / 2];
        let cut = &cut[..=cut.iter().rposition(|b| *b == b'\n').unwrap()];
        let msg = refused(check_members(&m, &[member("selinux/ct_web_app.cil", cut)], None));
        assert!(msg.contains("is (end of module), regenerated \"("), "{msg}");
    }

    #[test]
    fn ports_need_the_hosts_policy() {
        let m = manifest("web", "[capabilities]\nlisten = [\"tcp/8080\"]\n");
        let mut p = HostPolicy::default();
        p.add_cil("(portcon tcp 8080 (system_u object_r http_cache_port_t ((s0) (s0))))\n");
        let good = generate(&m, Some(&p)).unwrap();
        let members = [("selinux/ct_web.cil".to_owned(), good.cil.clone().into_bytes())];
        assert!(matches!(
            check_members(&m, &members, None),
            Err(SelinuxError::Policy(_))
        ));
        assert_eq!(check_members(&m, &members, Some(&p)).unwrap(), good);
        // Generated for a policy that labels the port otherwise: refused.
        let mut other = HostPolicy::default();
        other.add_cil("(portcon tcp 8080 (system_u object_r http_port_t ((s0) (s0))))\n");
        let msg = refused(check_members(&m, &members, Some(&other)));
        assert!(
            msg.contains("http_cache_port_t") && msg.contains("http_port_t"),
            "{msg}"
        );
    }

    #[test]
    fn escape_keeps_only_printable_ascii() {
        assert_eq!(
            escape(b"a\"b\\c\td\n\x1b\xe2\x80\xae"),
            "a\\\"b\\\\c\\td\\x0a\\x1b\\xe2\\x80\\xae"
        );
        assert_eq!(escape(&[b'x'; 100]).len(), EXCERPT + 3);
    }
}
