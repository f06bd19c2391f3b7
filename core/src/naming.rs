//! Names the bundle format owns: the SELinux module a package's bundle
//! carries (`selinux/<module>.cil`) and the types that module declares, and
//! the annotation that names a bundle explicitly.
//!
//! They live here, not in the CIL generator (`cerro-selinux`), because both
//! ends of the format need them: `ct pack` names the module it generates,
//! and what runs containers (`cerro-enforce`, the shim, the hook) finds the
//! module of a package and labels its container with these types without
//! linking the generator.
//!
//! # The module name, and why it is injective
//!
//! A package name `p` matches `^[a-z][a-z0-9+.-]{1,127}$` and does not end
//! in a separator ([`crate::manifest::validate_name`]), so it is a sequence
//! of alphanumeric *blocks* `b0 s1 b1 … sk bk` (each `bi` a maximal non-empty
//! run of `[a-z0-9]`, `b0` starting with a letter) separated by *runs*
//! `si`, maximal non-empty runs of `-`, `.` and `+`. SELinux identifiers have
//! only `[a-z0-9_]` to offer. The module name is `ct_` followed by
//! `E(p) = b0 T(s1) b1 … T(sk) bk`, where
//!
//! * `T(si) = "_"` when `si` is a single `-` (so `hello-world` gives
//!   `ct_hello_world`, as most names read), except before a last block that is
//!   one of the role words `file`, `ro`, `rw`, `exec` (see below);
//! * otherwise `T(si) = "__" + code(si) + "_"`, where `code` writes each
//!   separator as one letter: `-` → `h`, `.` → `d`, `+` → `p`. So `web.app`
//!   gives `ct_web__d_app`, `web+app` `ct_web__p_app`, `web--app`
//!   `ct_web__hh_app`, `my-file` `ct_my__h_file`.
//!
//! **Injective.** [`package_of_module`] reads a module name back, left to
//! right with no backtracking: a block; then either the end, or `_` followed
//! by a letter or digit (a single `-`), or `__`, one or more of `h d p`, and
//! `_` (the run they spell); then the next block. Every step has exactly one
//! choice, and it undoes `E` step by step, so `package_of_module(module_name(p))
//! = p` for every valid `p`: two packages never share a module name. No
//! truncation is involved: a name whose module name would be longer than
//! [`MODULE_NAME_MAX`] is refused ([`module_name`] errs, so `ct pack`
//! refuses the package with that message).
//!
//! **Types do not collide either.** The module `m` declares `m_t` and
//! `m_<w>_t` for each role word `w` ([`ContainerTypes`]). Suppose
//! `ct_E(p)[_x]_t = ct_E(q)[_y]_t` for roles `x`, `y` (absent, or a role
//! word). If both are absent or both present, the last `_`-separated
//! component (role words contain no `_`) gives `x = y` and then
//! `E(p) = E(q)`, so `p = q`. If only `y` is present, `E(p) = E(q) + "_" + y`:
//! `p`'s last block is the role word `y`, so by the exception above `E(p)`
//! ends in `__<code>_y`, and `E(q)` would end in `__<code>`, which the
//! reader refuses (it needs a `_` after the code): `E(q)` is not a module
//! name of any package. The `optional` block names `m_from_<runtime>` end in
//! a runtime word, never `_t`, and differ from each other in their last
//! component, so the same argument covers them. Tested exhaustively over
//! short names built from letters, digits, separators and the role words.
//!
//! **Limit.** A module name is at most [`MODULE_NAME_MAX`] (64) characters,
//! the bundle's member grammar for `selinux/<name>.cil`
//! (`[a-z][a-z0-9_]{0,63}`); the longest identifier derived from it,
//! `<module>_from_container_runtime`, stays far below CIL's 255.

use crate::manifest::validate_name;
use crate::{Error, Result};

/// The container annotation that names a bundle file explicitly (the
/// podman hook and the containerd shim read it).
pub const BUNDLE_ANNOTATION: &str = "io.cerro.bundle";

/// What every Cerro Torre module name starts with.
pub const MODULE_PREFIX: &str = "ct_";

/// The longest module name, in bytes: the bundle's member grammar for
/// `selinux/<name>.cil` allows 64.
pub const MODULE_NAME_MAX: usize = 64;

/// The words that name a module's types besides its domain
/// (`<module>_<word>_t`): the container's content, its read-only, writable
/// and executable host paths. A single `-` before a last block equal to one
/// of them is escaped, so a package `x-file` cannot name its domain as
/// package `x` names its content type.
pub const ROLE_WORDS: [&str; 4] = ["file", "ro", "rw", "exec"];

fn code(sep: u8) -> Option<char> {
    match sep {
        b'-' => Some('h'),
        b'.' => Some('d'),
        b'+' => Some('p'),
        _ => None,
    }
}

fn uncode(c: u8) -> Option<char> {
    match c {
        b'h' => Some('-'),
        b'd' => Some('.'),
        b'p' => Some('+'),
        _ => None,
    }
}

fn is_block_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `E(p)`: the injective encoding described in the module documentation,
/// for a name already validated.
fn encode(package: &str) -> String {
    let b = package.as_bytes();
    let mut out = String::with_capacity(b.len() + 8);
    let mut i = 0;
    while i < b.len() {
        if is_block_byte(b[i]) {
            out.push(char::from(b[i]));
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_block_byte(b[i]) {
            i += 1;
        }
        let run = &b[start..i];
        let rest = &package[i..];
        let last_is_role = !rest.bytes().any(|c| !is_block_byte(c)) && ROLE_WORDS.contains(&rest);
        if run == b"-" && !last_is_role {
            out.push('_');
        } else {
            out.push_str("__");
            out.extend(run.iter().filter_map(|s| code(*s)));
            out.push('_');
        }
    }
    out
}

/// The SELinux module of package `package`: `ct_` and the injective
/// encoding of the module documentation. Errs (malformed `manifest.toml`)
/// on a name that is not a valid package name, or whose module name would
/// be longer than [`MODULE_NAME_MAX`]: such a package has no module, and
/// `ct pack` refuses it instead of cutting the name (a cut name could be
/// another package's).
pub fn module_name(package: &str) -> Result<String> {
    validate_name(package)?;
    let name = format!("{MODULE_PREFIX}{}", encode(package));
    if name.len() > MODULE_NAME_MAX {
        return Err(Error::malformed(
            "manifest.toml",
            format!(
                "package.name {package:?} gives the SELinux module name {name} of {} characters, \
                 above the limit of {MODULE_NAME_MAX}: choose a shorter name (each '.' or '+', \
                 and each run of separators other than a single '-', takes 4 characters or more)",
                name.len()
            ),
        ));
    }
    Ok(name)
}

/// The package whose module is `module`, or `None` when no package's module
/// has that name. The inverse of [`module_name`], which is what makes
/// `module_name` injective; also tells a reader which package a module in
/// an audit record belongs to.
pub fn package_of_module(module: &str) -> Option<String> {
    let b = module.strip_prefix(MODULE_PREFIX)?.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    // A block, starting with a letter.
    let block = |i: &mut usize, out: &mut String| -> bool {
        let start = *i;
        while *i < b.len() && is_block_byte(b[*i]) {
            out.push(char::from(b[*i]));
            *i += 1;
        }
        *i > start
    };
    if !b.first().is_some_and(u8::is_ascii_lowercase) || !block(&mut i, &mut out) {
        return None;
    }
    while i < b.len() {
        // Here b[i] is '_' (a block stops only at a non-block byte).
        if b[i] != b'_' {
            return None;
        }
        i += 1;
        if b.get(i) == Some(&b'_') {
            i += 1;
            let start = i;
            while let Some(c) = b.get(i).and_then(|c| uncode(*c)) {
                out.push(c);
                i += 1;
            }
            if i == start || b.get(i) != Some(&b'_') {
                return None;
            }
            i += 1;
        } else {
            out.push('-');
        }
        if !block(&mut i, &mut out) {
            return None;
        }
    }
    // Only names `module_name` gives: a valid package whose encoding is this
    // very string (a single '-' escaped where it need not be is not one).
    (module_name(&out).ok()? == module).then_some(out)
}

/// The types a module declares for its container, named after the module.
/// The one place these names are made, so the generator and what applies
/// the module at start agree. Injective across packages and roles (module
/// documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerTypes {
    /// The process domain, `<module>_t`.
    pub domain: String,
    /// The container's own content (its root file system), `<module>_file_t`.
    pub content: String,
    /// Declared read-only host paths, `<module>_ro_t`.
    pub read_only: String,
    /// Declared writable host paths (volumes), `<module>_rw_t`.
    pub writable: String,
    /// Declared executable host paths, `<module>_exec_t`.
    pub executable: String,
    module: String,
}

impl ContainerTypes {
    /// The types of module `module` (e.g. `ct_hello`).
    pub fn of(module: &str) -> Self {
        let [file, ro, rw, exec] = ROLE_WORDS;
        ContainerTypes {
            domain: format!("{module}_t"),
            content: format!("{module}_{file}_t"),
            read_only: format!("{module}_{ro}_t"),
            writable: format!("{module}_{rw}_t"),
            executable: format!("{module}_{exec}_t"),
            module: module.to_owned(),
        }
    }

    /// The name of the module's `optional` block that hands over from
    /// runtime domain `runtime` (`container_runtime_t` →
    /// `<module>_from_container_runtime`).
    pub fn handover_block(&self, runtime: &str) -> String {
        format!("{}_from_{}", self.module, runtime.trim_end_matches("_t"))
    }

    /// Whether `cil` declares both the domain and the content type (a
    /// `(type NAME)` statement each, as the generator writes them). A check
    /// of the text only: what the loaded module allows is the business of
    /// whoever installed it (`ct selinux install` installs only the module
    /// regenerated from the signed manifest).
    pub fn declared_in(&self, cil: &str) -> bool {
        let declares = |ty: &str| {
            cil.lines()
                .any(|l| l.trim().strip_prefix("(type ").and_then(|r| r.strip_suffix(')')) == Some(ty))
        };
        declares(&self.domain) && declares(&self.content)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;
    use std::collections::HashMap;

    /// Every identifier a module of `package` declares or is known by, with
    /// its kind (module, type, block): what must never be shared.
    fn identifiers(package: &str) -> Vec<(&'static str, String)> {
        let m = module_name(package).unwrap();
        let t = ContainerTypes::of(&m);
        let mut v = vec![
            ("module", m.clone()),
            ("type", t.domain.clone()),
            ("type", t.content.clone()),
            ("type", t.read_only.clone()),
            ("type", t.writable.clone()),
            ("type", t.executable.clone()),
        ];
        for r in ["container_runtime_t", "initrc_t", "unconfined_t"] {
            v.push(("block", t.handover_block(r)));
        }
        v
    }

    #[test]
    fn readable_names_for_common_packages() {
        for (p, m) in [
            ("hello", "ct_hello"),
            ("hello-world", "ct_hello_world"),
            ("web-app", "ct_web_app"),
            ("web.app", "ct_web__d_app"),
            ("web+app", "ct_web__p_app"),
            ("web--app", "ct_web__hh_app"),
            ("python3.11", "ct_python3__d_11"),
            ("a-b.c+-d", "ct_a_b__d_c__ph_d"),
            ("my-file", "ct_my__h_file"),
            ("my-files", "ct_my_files"),
            ("file-my", "ct_file_my"),
        ] {
            assert_eq!(module_name(p).unwrap(), m, "{p}");
            assert_eq!(package_of_module(m).as_deref(), Some(p), "{m}");
        }
    }

    #[test]
    fn the_names_that_collided_before_no_longer_do() {
        let names: Vec<String> = ["web-app", "web.app", "web+app"]
            .iter()
            .map(|p| module_name(p).unwrap())
            .collect();
        assert_ne!(names[0], names[1]);
        assert_ne!(names[0], names[2]);
        assert_ne!(names[1], names[2]);
        // Sharing 57 (and 60) leading characters: distinct, not cut.
        let stem = format!("a{}", "b".repeat(58));
        let (x, y) = (format!("{stem}-x"), format!("{stem}-y"));
        assert_ne!(module_name(&x).unwrap(), module_name(&y).unwrap());
        // A package named after another's content type does not get it as its domain.
        let content = ContainerTypes::of(&module_name("ab").unwrap()).content;
        assert_ne!(ContainerTypes::of(&module_name("ab-file").unwrap()).domain, content);
    }

    #[test]
    fn too_long_names_are_refused_not_cut() {
        // 61 characters plus "ct_" is the limit.
        let fits = format!("a{}", "b".repeat(60));
        assert_eq!(module_name(&fits).unwrap().len(), MODULE_NAME_MAX);
        let long = format!("a{}", "b".repeat(61));
        let e = module_name(&long).unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::Malformed);
        assert!(e.to_string().contains("above the limit of 64"), "{e}");
        // Escapes count: 58 characters with two dots are over the limit.
        let dotted = format!("a{}.b.c", "b".repeat(53));
        assert!(module_name(&dotted).is_err());
        // The longest module name is a valid bundle member.
        let member = format!("{}{}.cil", crate::bundle::SELINUX_PREFIX, module_name(&fits).unwrap());
        assert!(crate::bundle::classify(&member).is_ok(), "{member}");
        // Not a package name at all.
        for bad in ["", "a", "A-b", "a_b", "ab-", "-ab", "a b", "ab\u{0}"] {
            assert!(module_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_reader_refuses_what_no_package_gives() {
        for m in [
            "ct_",
            "hello",
            "ct_Hello",
            "ct_1a",
            "ct_a_",
            "ct_a__",
            "ct_a__d",
            "ct_a__d_",
            "ct_a__x_b",
            "ct_a___b",
            "ct_a__h_b", // a single '-' escaped where it need not be
            "ct_a_file", // the plain form where the escape is due
        ] {
            assert_eq!(package_of_module(m), None, "{m}");
        }
    }

    /// Every valid package name made of up to five tokens (letters, digits,
    /// separators, the role words and words the derived names use): each
    /// reads back, and no two share any identifier of any kind.
    #[test]
    fn injective_over_every_short_name() {
        let tokens = ["a", "0", "-", ".", "+", "file", "rw", "exec", "h", "t"];
        let mut seen: HashMap<(&'static str, String), String> = HashMap::new();
        let mut names = vec![String::new()];
        let mut checked = 0usize;
        for _ in 0..5 {
            let mut next = Vec::new();
            for n in &names {
                for t in tokens {
                    next.push(format!("{n}{t}"));
                }
            }
            for p in &next {
                if validate_name(p).is_err() {
                    continue;
                }
                checked += 1;
                let m = module_name(p).unwrap();
                assert_eq!(package_of_module(&m).as_deref(), Some(p.as_str()), "{p} -> {m}");
                for id in identifiers(p) {
                    if let Some(other) = seen.insert(id.clone(), p.clone()) {
                        assert_eq!(&other, p, "{id:?} shared by {other} and {p}");
                    }
                }
            }
            names = next;
        }
        assert!(checked > 20_000, "{checked}");
    }

    #[test]
    fn declared_in_reads_type_statements() {
        let t = ContainerTypes::of("ct_hello_world");
        assert_eq!(
            (t.domain.as_str(), t.content.as_str()),
            ("ct_hello_world_t", "ct_hello_world_file_t")
        );
        let cil = "(type ct_hello_world_t)\n(type ct_hello_world_file_t)\n";
        assert!(t.declared_in(cil));
        assert!(!t.declared_in("(type ct_hello_world_t)\n"));
        assert!(!ContainerTypes::of("ct_other").declared_in(cil));
        assert_eq!(
            t.handover_block("container_runtime_t"),
            "ct_hello_world_from_container_runtime"
        );
    }
}
