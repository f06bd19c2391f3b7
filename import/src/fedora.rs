//! RPM `.spec` files (Fedora's recipes), read as data: the preamble's tags
//! up to the first section, with the macros a preamble commonly uses
//! expanded and anything needing rpm's evaluator refused.
//!
//! Read: `Tag: value` lines (tag names case-insensitive; a tag other than
//! the repeatable dependency tags given twice is refused), `%global NAME
//! BODY` and `%define NAME BODY` (no arguments, no continuation lines, a
//! macro defined twice refused), blank lines and `#` comments. Reading
//! stops at the first section (`%description`, `%prep`, `%package`…): the
//! rest is build steps and file lists, never run by `ct import`. In values,
//! `%%`, `%NAME`, `%{NAME}` of a macro defined before (by `%global`,
//! `%define`, or the `Name`, `Version`, `Release`, `Epoch` tags read before)
//! and `%{?NAME}` (empty when undefined, as `%{?dist}` is off Fedora) are
//! expanded. Refused, with the line: `%(…)` shell expansion, `%{lua:…}`,
//! `%[…]` expressions, `%{NAME:…}`, `%{!?…}`, `%{?NAME:…}`, a macro not
//! defined before (rpm's built-ins such as `%{_datadir}` depend on the
//! host's configuration), and any other `%` statement (`%if`, `%bcond_with`…).
//!
//! A `.spec` carries no digests: the files it names that lie beside it are
//! hashed (`upstream_hash`, every patch), and a patch not beside it is
//! refused. Judged by `rpmspec -q`/`rpmspec -P` in the tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cerro_core::manifest::{validate_name, validate_version, Package, Patch, Provenance};
use serde_json::Value;

use crate::error::{ImportError, Result};
use crate::evidence::{Evidence, FileEvidence};
use crate::files::{check_name, measure, read_recipe, MAX_SOURCE_FILE};
use crate::{Imported, Options};

/// Tags that may be given more than once.
const REPEATABLE: [&str; 10] = [
    "buildrequires",
    "buildconflicts",
    "requires",
    "provides",
    "conflicts",
    "obsoletes",
    "recommends",
    "suggests",
    "exclusivearch",
    "excludearch",
];

/// Section names: the preamble ends at the first.
const SECTIONS: [&str; 20] = [
    "description",
    "prep",
    "build",
    "install",
    "check",
    "clean",
    "files",
    "changelog",
    "package",
    "pre",
    "post",
    "preun",
    "postun",
    "pretrans",
    "posttrans",
    "verifyscript",
    "triggerin",
    "triggerun",
    "generate_buildrequires",
    "conf",
];

/// The preamble of a `.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    /// Tag (lower case) → (tag as written, expanded values, line of the first).
    pub tags: BTreeMap<String, (String, Vec<String>, usize)>,
    /// Macros defined (`%global`, `%define`, and the tags rpm defines).
    pub macros: BTreeMap<String, String>,
}

impl Spec {
    /// The single value of `tag` (lower case).
    pub fn get(&self, tag: &str) -> Option<&str> {
        self.tags.get(tag).and_then(|(_, v, _)| v.first()).map(String::as_str)
    }
}

fn ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f == '_' || f.is_ascii_alphabetic()) && c.all(|x| x == '_' || x.is_ascii_alphanumeric())
}

/// Expands the macros of a value (see the module's rules).
fn expand(recipe: &str, line: usize, s: &str, macros: &BTreeMap<String, String>) -> Result<String> {
    let refuse = |why: String| ImportError::refused(recipe, format!("line {line}"), why);
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('%') {
            out.push('%');
            rest = r;
            continue;
        }
        if after.starts_with('(') || after.starts_with('[') {
            return Err(refuse(
                "%(…) and %[…] need rpm's evaluator (a shell, an expression)".into(),
            ));
        }
        if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| refuse("an unterminated %{".into()))?;
            let inner = &body[..end];
            let (optional, name) = match inner.strip_prefix('?') {
                Some(n) => (true, n),
                None => (false, inner),
            };
            if !ident(name) {
                return Err(refuse(format!("%{{{inner}}} needs rpm's evaluator")));
            }
            match (macros.get(name), optional) {
                (Some(v), _) => out.push_str(v),
                (None, true) => {}
                (None, false) => return Err(refuse(format!("%{{{name}}} is not a macro defined before"))),
            }
            rest = &body[end + 1..];
            continue;
        }
        let n: String = after
            .chars()
            .take_while(|c| *c == '_' || c.is_ascii_alphanumeric())
            .collect();
        if n.is_empty() || !ident(&n) {
            return Err(refuse(format!("a lone '%' in {s:?} (write %%)")));
        }
        match macros.get(&n) {
            Some(v) => out.push_str(v),
            None => return Err(refuse(format!("%{n} is not a macro defined before"))),
        }
        rest = &after[n.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads the preamble of `text`.
pub fn parse(recipe: &str, text: &str) -> Result<Spec> {
    let mut spec = Spec::default();
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let refuse = |why: String| ImportError::refused(recipe, format!("line {n}"), why);
        if let Some(c) = raw.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(refuse(format!("control character U+{:04X}", c as u32)));
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(stmt) = line.strip_prefix('%') {
            let word: String = stmt
                .chars()
                .take_while(|c| *c == '_' || c.is_ascii_alphanumeric())
                .collect();
            if SECTIONS.contains(&word.as_str()) {
                break;
            }
            if word == "global" || word == "define" {
                let rest = stmt[word.len()..].trim_start();
                let (name, body) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                if !ident(name) {
                    return Err(refuse(format!(
                        "%{word} {name:?}: a macro with arguments or a bad name"
                    )));
                }
                if body.trim_end().ends_with('\\') {
                    return Err(refuse(format!("%{word} {name}: a multi-line body")));
                }
                if spec.macros.contains_key(name) {
                    return Err(ImportError::refused(
                        recipe,
                        format!("%{name}"),
                        format!("defined twice (line {n})"),
                    ));
                }
                let v = expand(recipe, n, body.trim(), &spec.macros)?.trim().to_string();
                spec.macros.insert(name.to_string(), v);
                continue;
            }
            return Err(refuse(format!("%{word}: a statement that needs rpm's evaluator")));
        }
        let Some((tag, value)) = line.split_once(':') else {
            return Err(refuse("not 'Tag: value'".into()));
        };
        let base = tag.split_once('(').map_or(tag, |(b, _)| b).trim();
        if base.is_empty()
            || !base.chars().all(|c| c.is_ascii_alphanumeric())
            || !base.as_bytes()[0].is_ascii_alphabetic()
        {
            return Err(refuse(format!("{tag:?} is not a tag")));
        }
        let key = base.to_ascii_lowercase();
        // rpm expands the line, then takes the value: trimmed after expansion.
        let value = expand(recipe, n, value.trim(), &spec.macros)?.trim().to_string();
        match spec.tags.get_mut(&key) {
            Some((_, values, _)) if REPEATABLE.contains(&key.as_str()) => values.push(value.clone()),
            Some((_, _, first)) => {
                return Err(ImportError::refused(
                    recipe,
                    base,
                    format!("given twice (lines {first} and {n}; tags are case-insensitive)"),
                ))
            }
            None => {
                spec.tags
                    .insert(key.clone(), (base.to_string(), vec![value.clone()], n));
            }
        }
        if matches!(key.as_str(), "name" | "version" | "release" | "epoch") {
            spec.macros.insert(key, value);
        }
    }
    Ok(spec)
}

/// `BuildRequires` values split as rpm splits them: by commas and
/// whitespace, an operator joining its neighbours (`gettext >= 0.19`).
pub fn split_requires(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let toks: Vec<&str> = v
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .collect();
        let mut i = 0;
        while i < toks.len() {
            let op = toks
                .get(i + 1)
                .is_some_and(|t| matches!(*t, "<" | ">" | "<=" | ">=" | "=" | "=="));
            if op && i + 2 < toks.len() {
                out.push(format!("{} {} {}", toks[i], toks[i + 1], toks[i + 2]));
                i += 3;
            } else {
                out.push(toks[i].to_string());
                i += 1;
            }
        }
    }
    out
}

/// Imports the `.spec` at `path` and the local files it names.
pub fn import_spec(path: &Path, opts: &Options) -> Result<Imported> {
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    let recipe = file.as_str();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (bytes, digest) = read_recipe(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ImportError::refused(recipe, "file", "not UTF-8"))?;
    let spec = parse(recipe, text)?;
    let need = |t: &str, shown: &str| {
        spec.get(t)
            .ok_or_else(|| ImportError::refused(recipe, shown, "missing (a .spec must have it)"))
    };
    let name = need("name", "Name")?;
    validate_name(name).map_err(|e| ImportError::refused(recipe, "Name", e.to_string()))?;
    let version = need("version", "Version")?;
    let release = need("release", "Release")?;
    let full = match spec.get("epoch") {
        Some(e) => format!("{e}:{version}-{release}"),
        None => format!("{version}-{release}"),
    };
    validate_version(&full).map_err(|e| ImportError::refused(recipe, "Version", e.to_string()))?;

    let mut evidence = Evidence::new(
        "rpm-spec",
        FileEvidence {
            name: file.clone(),
            role: "recipe".into(),
            size: Some(bytes.len() as u64),
            sha256: Some(digest.to_string()),
            checked: vec![],
            not_checked: vec![],
        },
    );
    for (shown, values, _) in spec.tags.values() {
        let v = if values.len() == 1 && !REPEATABLE.contains(&shown.to_ascii_lowercase().as_str()) {
            Value::String(values[0].clone())
        } else {
            Value::Array(values.iter().cloned().map(Value::String).collect())
        };
        evidence.fields.insert(shown.clone(), v);
    }
    if let Some(br) = spec.tags.get("buildrequires") {
        evidence.fields.insert(
            "BuildRequires (split)".into(),
            Value::Array(split_requires(&br.1).into_iter().map(Value::String).collect()),
        );
    }
    evidence
        .notes
        .push("a .spec gives no digests: the files beside it are hashed, not checked against a claim".into());

    // SourceN and PatchN, by number (Source = Source0, Patch = Patch0).
    let numbered = |prefix: &str| -> Result<Vec<(u32, String, String)>> {
        let mut v = Vec::new();
        for (k, (shown, values, _)) in &spec.tags {
            let Some(num) = k.strip_prefix(prefix) else { continue };
            let n: u32 = if num.is_empty() {
                0
            } else {
                num.parse()
                    .map_err(|_| ImportError::refused(recipe, shown.as_str(), "not a number after the tag"))?
            };
            if v.iter().any(|(m, _, _): &(u32, String, String)| *m == n) {
                return Err(ImportError::refused(
                    recipe,
                    shown.as_str(),
                    format!("{prefix} {n} is given twice"),
                ));
            }
            v.push((n, shown.clone(), values[0].clone()));
        }
        v.sort();
        Ok(v)
    };
    let base_name = |recipe: &str, shown: &str, v: &str| -> Result<String> {
        let name = if v.contains("://") {
            v.rsplit('/').next().unwrap_or("").to_string()
        } else {
            v.to_string()
        };
        check_name(recipe, shown, &name)?;
        Ok(name)
    };
    let sources = numbered("source")?;
    let mut upstream_url = None;
    let mut upstream_hash = None;
    for (n, shown, v) in &sources {
        let fname = base_name(recipe, shown, v)?;
        let present = dir.join(&fname).is_file();
        let mut fe = FileEvidence {
            name: fname.clone(),
            role: if *n == 0 { "upstream".into() } else { "source".into() },
            size: None,
            sha256: None,
            checked: vec![],
            not_checked: vec![],
        };
        if present {
            let m = measure(recipe, shown, &dir, &fname, MAX_SOURCE_FILE)?;
            fe.size = Some(m.size);
            fe.sha256 = Some(m.digest().to_string());
            if *n == 0 {
                upstream_hash = Some(m.digest());
            }
        } else if *n == 0 {
            evidence.notes.push(format!(
                "{fname} is not beside the .spec: the manifest has no upstream_hash"
            ));
        }
        if *n == 0 && v.contains("://") {
            upstream_url = Some(v.clone());
        }
        evidence.files.push(fe);
    }
    let mut patches = Vec::new();
    for (_, shown, v) in numbered("patch")? {
        let fname = base_name(recipe, &shown, &v)?;
        let m = measure(recipe, &shown, &dir, &fname, MAX_SOURCE_FILE)?;
        patches.push(Patch {
            name: fname.clone(),
            digest: m.digest(),
        });
        evidence.patches.push(FileEvidence {
            name: fname,
            role: "patch".into(),
            size: Some(m.size),
            sha256: Some(m.digest().to_string()),
            checked: vec![],
            not_checked: vec![],
        });
    }
    let homepage = spec.get("url").filter(|u| u.contains("://")).map(str::to_string);
    let upstream = evidence.upstream_url(
        opts.upstream.as_ref(),
        upstream_url,
        homepage.as_ref(),
        None,
        (
            recipe,
            "Source0",
            "no upstream URL: Source0 is not a URL and there is no URL tag (pass --upstream URL)",
        ),
    )?;
    let package = Package {
        name: name.to_string(),
        version: full,
        summary: spec.get("summary").map(str::to_string),
        license: spec.get("license").map(str::to_string),
        homepage,
    };
    let provenance = Provenance {
        upstream,
        upstream_hash,
        imported_from: Some(format!("fedora:{file}")),
        imported_from_hash: Some(digest),
        patches,
    };
    Imported::new(package, provenance, "rpm", evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_and_macros() {
        let s = parse(
            "t.spec",
            "%global v 2.12\nName: hello\nVersion: %{v}\nRelease: 1%{?dist}\nSource0: https://x.org/%{name}-%version.tar.gz\n\
             BuildRequires: gcc, make\nBuildRequires: gettext >= 0.19\nSummary: 100%% sure\n\n%description\n%if 0\n%(rm -rf /)\n",
        )
        .unwrap();
        assert_eq!(s.get("version"), Some("2.12"));
        assert_eq!(s.get("release"), Some("1"));
        assert_eq!(s.get("source0"), Some("https://x.org/hello-2.12.tar.gz"));
        assert_eq!(s.get("summary"), Some("100% sure"));
        // Trimmed after expansion, as rpm does (a fuzz finding: the check
        // wrote the value back and read it trimmed).
        let t = parse("t.spec", "Summary: x %{?nothere}  \n").unwrap();
        assert_eq!(t.get("summary"), Some("x"));
        assert_eq!(
            split_requires(&s.tags["buildrequires"].1),
            ["gcc", "make", "gettext >= 0.19"]
        );
    }

    #[test]
    fn what_needs_evaluation_is_refused_with_its_line() {
        for (text, needle) in [
            ("Name: a\nVersion: %(cat VERSION)\n", "line 2"),
            ("Version: %{lua: print(1)}\n", "line 1"),
            ("Version: %[1+1]\n", "line 1"),
            ("Release: 1%{!?dist:x}\n", "line 1"),
            ("Release: 1%{?dist:x}\n", "line 1"),
            ("Source0: %{_datadir}/x\n", "line 1"),
            ("\n%if 0%{?fedora}\nName: a\n%endif\n", "line 2"),
            ("%bcond_with x\n", "line 1"),
            ("%define f(x) y\n", "line 1"),
            ("%global a b \\\n", "line 1"),
            ("Name: a\nname: b\n", "name: given twice"),
            ("%global a 1\n%global a 2\n", "%a: defined twice"),
            ("just text\n", "line 1"),
            ("Version: 5%\n", "line 1"),
        ] {
            let e = parse("t.spec", text).unwrap_err();
            assert_eq!(e.exit_code().code(), 10, "{text:?}");
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
        }
    }
}
