//! Alpine `APKBUILD`s, read as data: the top-level assignments, never run
//! by a shell.
//!
//! An `APKBUILD` is a shell script. Its declarative part — `pkgname=`,
//! `pkgver=`, `source="…"`, `sha512sums="…"` — is read here by a small
//! reader of POSIX assignment words: single and double quotes, backslash
//! escapes and line continuations, and `$name` / `${name}` of a variable
//! assigned earlier in the file. Anything that would need evaluation is
//! refused with its line: command substitution (`$(…)`, backquotes),
//! arithmetic (`$((…))`), parameter expansion with an operator
//! (`${v%.*}`, `${v:-x}`, `${v//a/b}`), a variable not assigned before
//! (including abuild's own `$CARCH`, `$srcdir`), special parameters, a
//! command or compound statement at top level (`case`, `if`, `export`),
//! two words after `=`, a variable assigned twice. Function definitions
//! (`build() {` … a line `}`) are skipped unread: they are build steps,
//! which `ct import` never runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cerro_core::manifest::{validate_name, validate_version, Package, Patch, Provenance};
use serde_json::Value;

use crate::error::{ImportError, Result};
use crate::evidence::{Evidence, FileEvidence};
use crate::files::{check_name, measure, parse_hex, read_recipe, MAX_SOURCE_FILE};
use crate::{Imported, Options};

/// Most variables assigned at top level.
const MAX_VARS: usize = 1024;
/// Largest value after expansion.
const MAX_VALUE: usize = 1 << 20;
/// Most bytes of all values together (expansions can repeat a value).
const MAX_TOTAL: usize = 4 << 20;

/// The top-level assignments of an `APKBUILD`, in order, and the functions it defines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignments {
    /// Variable → (value, line of the assignment).
    pub vars: BTreeMap<String, (String, usize)>,
    /// Names of the functions defined (not read).
    pub functions: Vec<String>,
}

struct Reader<'a> {
    recipe: &'a str,
    chars: Vec<char>,
    at: usize,
    line: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }
    fn peek2(&self) -> Option<char> {
        self.chars.get(self.at + 1).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.at).copied()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }
    fn refuse(&self, line: usize, reason: impl Into<String>) -> ImportError {
        ImportError::refused(self.recipe, format!("line {line}"), reason)
    }
    fn skip_to_eol(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }
    fn identifier(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            let ok = c == '_' || c.is_ascii_alphabetic() || (!s.is_empty() && c.is_ascii_digit());
            if !ok {
                break;
            }
            s.push(c);
            self.bump();
        }
        s
    }

    /// `$…` after the `$`: the value of an earlier variable, or a refusal.
    fn expansion(&mut self, vars: &BTreeMap<String, (String, usize)>, out: &mut String) -> Result<()> {
        let line = self.line;
        let name = match self.peek() {
            Some('(') => return Err(self.refuse(line, "command substitution or arithmetic ($(…)) needs evaluation")),
            Some('{') => {
                self.bump();
                let name = self.identifier();
                if self.peek() != Some('}') || name.is_empty() {
                    return Err(self.refuse(
                        line,
                        format!("parameter expansion ${{{name}…}} with an operator needs evaluation"),
                    ));
                }
                self.bump();
                name
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => self.identifier(),
            Some(c) if c.is_ascii_digit() || "@*#?-$!".contains(c) => {
                return Err(self.refuse(line, format!("special parameter ${c} needs evaluation")))
            }
            _ => {
                out.push('$');
                return Ok(());
            }
        };
        match vars.get(&name) {
            Some((v, _)) => {
                if out.len() + v.len() > MAX_VALUE {
                    return Err(self.refuse(line, format!("a value longer than {MAX_VALUE} bytes")));
                }
                out.push_str(v);
                Ok(())
            }
            None => Err(self.refuse(
                line,
                format!("${name} is not a variable assigned earlier in the file (its value would need evaluation)"),
            )),
        }
    }

    /// One assignment word after `=`, up to unquoted whitespace.
    fn word(&mut self, vars: &BTreeMap<String, (String, usize)>) -> Result<String> {
        let mut out = String::new();
        let start = self.line;
        if self.peek() == Some('~') {
            return Err(self.refuse(start, "tilde expansion needs evaluation"));
        }
        loop {
            if out.len() > MAX_VALUE {
                return Err(self.refuse(start, format!("a value longer than {MAX_VALUE} bytes")));
            }
            let Some(c) = self.peek() else { break };
            match c {
                ' ' | '\t' | '\n' => break,
                ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                    return Err(self.refuse(self.line, format!("shell operator {c:?}: not a plain assignment")))
                }
                '`' => return Err(self.refuse(self.line, "command substitution (`…`) needs evaluation")),
                '\'' => {
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('\'') => break,
                            Some(ch) => out.push(ch),
                            None => return Err(self.refuse(start, "unterminated single quote")),
                        }
                    }
                }
                '"' => {
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('"') => break,
                            Some('\\') => match self.peek() {
                                Some('\n') => {
                                    self.bump();
                                }
                                Some(e @ ('$' | '`' | '"' | '\\')) => {
                                    self.bump();
                                    out.push(e);
                                }
                                _ => out.push('\\'),
                            },
                            Some('$') => self.expansion(vars, &mut out)?,
                            Some('`') => {
                                return Err(self.refuse(self.line, "command substitution (`…`) needs evaluation"))
                            }
                            Some(ch) => out.push(ch),
                            None => return Err(self.refuse(start, "unterminated double quote")),
                        }
                    }
                }
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some('\n') => {}
                        Some(ch) => out.push(ch),
                        None => return Err(self.refuse(start, "a backslash at the end of the file")),
                    }
                }
                '$' => {
                    self.bump();
                    self.expansion(vars, &mut out)?;
                }
                _ => {
                    self.bump();
                    out.push(c);
                }
            }
        }
        Ok(out)
    }
}

/// Reads the top-level assignments of `text` (see the module's rules).
pub fn parse(recipe: &str, text: &str) -> Result<Assignments> {
    let mut r = Reader {
        recipe,
        chars: text.chars().collect(),
        at: 0,
        line: 1,
    };
    for (i, l) in text.split('\n').enumerate() {
        if let Some(c) = l.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(r.refuse(i + 1, format!("control character U+{:04X}", c as u32)));
        }
    }
    let mut a = Assignments::default();
    let mut total = 0usize;
    loop {
        while matches!(r.peek(), Some(' ' | '\t' | '\n')) {
            r.bump();
        }
        match r.peek() {
            None => break,
            Some('#') => {
                r.skip_to_eol();
                continue;
            }
            _ => {}
        }
        let line = r.line;
        let name = r.identifier();
        if name.is_empty() {
            return Err(r.refuse(
                line,
                "not an assignment or a function definition (a statement needs a shell)",
            ));
        }
        if r.peek() == Some('=') {
            r.bump();
            let value = r.word(&a.vars)?;
            while matches!(r.peek(), Some(' ' | '\t')) {
                r.bump();
            }
            match r.peek() {
                None | Some('\n') => {}
                Some('#') => r.skip_to_eol(),
                Some(_) => {
                    return Err(r.refuse(
                        line,
                        format!("more than one word after {name}= (quote the value; a command or a second assignment needs a shell)"),
                    ))
                }
            }
            if let Some((_, first)) = a.vars.get(&name) {
                return Err(ImportError::refused(
                    recipe,
                    &name,
                    format!("assigned twice (lines {first} and {line})"),
                ));
            }
            if a.vars.len() >= MAX_VARS {
                return Err(r.refuse(line, format!("more than {MAX_VARS} variables")));
            }
            total += value.len();
            if total > MAX_TOTAL {
                return Err(r.refuse(line, format!("the values add up to more than {MAX_TOTAL} bytes")));
            }
            a.vars.insert(name, (value, line));
            continue;
        }
        // A function definition: NAME() {  …  } with the closing brace alone on a line.
        while matches!(r.peek(), Some(' ' | '\t')) {
            r.bump();
        }
        if r.peek() == Some('(') && r.peek2() == Some(')') {
            r.bump();
            r.bump();
            while matches!(r.peek(), Some(' ' | '\t')) {
                r.bump();
            }
            if r.peek() != Some('{') {
                return Err(r.refuse(
                    line,
                    format!("function {name}: the body must start with '{{' on the same line"),
                ));
            }
            r.skip_to_eol();
            loop {
                if r.peek().is_none() {
                    return Err(r.refuse(line, format!("function {name}: no line '}}' ends its body")));
                }
                r.bump();
                let rest: String = r
                    .chars
                    .get(r.at..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| **c != '\n')
                    .collect();
                if rest.trim_end() == "}" {
                    r.skip_to_eol();
                    break;
                }
                r.skip_to_eol();
            }
            a.functions.push(name);
            continue;
        }
        return Err(r.refuse(
            line,
            format!("{name:?} is not an assignment or a function definition (a statement needs a shell)"),
        ));
    }
    Ok(a)
}

/// One entry of `source`: the file name abuild gives it and its URL, if remote.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceEntry {
    file: String,
    url: Option<String>,
}

fn source_entries(recipe: &str, source: &str) -> Result<Vec<SourceEntry>> {
    let mut out: Vec<SourceEntry> = Vec::new();
    for tok in source.split_whitespace() {
        let (file, url) = match tok.split_once("::") {
            Some((f, u)) => (f.to_string(), Some(u.to_string())),
            None if tok.contains("://") => {
                let f = tok.rsplit('/').next().unwrap_or("").to_string();
                (f, Some(tok.to_string()))
            }
            None => (tok.to_string(), None),
        };
        if let Some(u) = &url {
            if !u.contains("://") {
                return Err(ImportError::refused(
                    recipe,
                    "source",
                    format!("{tok:?}: not a URL after '::'"),
                ));
            }
        }
        check_name(recipe, "source", &file)?;
        if out.iter().any(|e| e.file == file) {
            return Err(ImportError::refused(recipe, "source", format!("{file} is named twice")));
        }
        out.push(SourceEntry { file, url });
    }
    Ok(out)
}

/// `sha512sums`: `HEX  NAME` pairs.
fn sums(recipe: &str, text: &str) -> Result<BTreeMap<String, String>> {
    let toks: Vec<&str> = text.split_whitespace().collect();
    if !toks.len().is_multiple_of(2) {
        return Err(ImportError::refused(recipe, "sha512sums", "not 'DIGEST NAME' pairs"));
    }
    let mut out = BTreeMap::new();
    for pair in toks.chunks(2) {
        let [h, n] = pair else { continue };
        parse_hex(recipe, "sha512sums", h, 64)?;
        check_name(recipe, "sha512sums", n)?;
        if out.insert(n.to_string(), h.to_string()).is_some() {
            return Err(ImportError::refused(
                recipe,
                "sha512sums",
                format!("{n} is listed twice"),
            ));
        }
    }
    Ok(out)
}

/// The variables `ct import` reads into the manifest and the evidence.
pub const READ: [&str; 10] = [
    "pkgname",
    "pkgver",
    "pkgrel",
    "pkgdesc",
    "url",
    "license",
    "depends",
    "makedepends",
    "source",
    "sha512sums",
];

/// Imports the `APKBUILD` at `path` and the local files it names.
pub fn import_apkbuild(path: &Path, opts: &Options) -> Result<Imported> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("APKBUILD")
        .to_string();
    let recipe = name.as_str();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (bytes, digest) = read_recipe(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ImportError::refused(recipe, "file", "not UTF-8"))?;
    let a = parse(recipe, text)?;
    let get = |v: &str| a.vars.get(v).map(|(s, _)| s.as_str());
    let need = |v: &str| get(v).ok_or_else(|| ImportError::refused(recipe, v, "missing (an APKBUILD must assign it)"));

    let mut evidence = Evidence::new(
        "alpine-apkbuild",
        FileEvidence {
            name: name.clone(),
            role: "recipe".into(),
            size: Some(bytes.len() as u64),
            sha256: Some(digest.to_string()),
            checked: vec![],
            not_checked: vec![],
        },
    );
    for v in READ {
        if let Some(val) = get(v) {
            evidence.fields.insert(v.to_string(), Value::String(val.to_string()));
        }
    }
    if !a.functions.is_empty() {
        evidence.notes.push(format!(
            "functions defined, not read and never run: {}",
            a.functions.join(", ")
        ));
    }

    let pkgname = need("pkgname")?;
    validate_name(pkgname).map_err(|e| ImportError::refused(recipe, "pkgname", e.to_string()))?;
    let pkgver = need("pkgver")?;
    let pkgrel = need("pkgrel")?;
    if pkgrel.is_empty() || !pkgrel.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ImportError::refused(
            recipe,
            "pkgrel",
            format!("{pkgrel:?} is not a number"),
        ));
    }
    let version = format!("{pkgver}-r{pkgrel}");
    validate_version(&version).map_err(|e| ImportError::refused(recipe, "pkgver", e.to_string()))?;

    let entries = source_entries(recipe, get("source").unwrap_or(""))?;
    let sums = sums(recipe, get("sha512sums").unwrap_or(""))?;
    let listed: Vec<&String> = entries.iter().map(|e| &e.file).collect();
    let summed: Vec<&String> = sums.keys().collect();
    let mut sorted = listed.clone();
    sorted.sort();
    if sorted != summed {
        return Err(ImportError::refused(
            recipe,
            "sha512sums",
            "does not name exactly the files of source",
        ));
    }

    let mut patches = Vec::new();
    let mut upstream = None;
    let mut upstream_hash = None;
    for e in &entries {
        let want = sums.get(&e.file).cloned().unwrap_or_default();
        let present = dir.join(&e.file).is_file();
        if e.url.is_some() && !present {
            evidence.files.push(FileEvidence {
                name: e.file.clone(),
                role: if upstream.is_none() {
                    "upstream".into()
                } else {
                    "source".into()
                },
                size: None,
                sha256: None,
                checked: vec![],
                not_checked: vec!["sha512"],
            });
            if upstream.is_none() {
                upstream = e.url.clone();
                evidence.notes.push(format!(
                    "{} is not beside the APKBUILD: its sha512 is recorded, not checked, and the manifest has no upstream_hash",
                    e.file
                ));
            }
            continue;
        }
        let m = measure(recipe, "source", &dir, &e.file, MAX_SOURCE_FILE)?;
        let actual = hex::encode(m.sha512);
        if actual != want {
            return Err(ImportError::DigestMismatch {
                what: format!("{recipe}: sha512sums: {}", e.file),
                algorithm: "sha512",
                expected: want,
                actual,
            });
        }
        let is_patch = e.url.is_none() && (e.file.ends_with(".patch") || e.file.ends_with(".diff"));
        let role = if e.url.is_some() && upstream.is_none() {
            upstream = e.url.clone();
            upstream_hash = Some(m.digest());
            "upstream"
        } else if is_patch {
            "patch"
        } else {
            "source"
        };
        let fe = FileEvidence {
            name: e.file.clone(),
            role: role.into(),
            size: Some(m.size),
            sha256: Some(m.digest().to_string()),
            checked: vec!["sha512"],
            not_checked: vec![],
        };
        if is_patch {
            patches.push(Patch {
                name: e.file.clone(),
                digest: m.digest(),
            });
            evidence.patches.push(fe.clone());
        }
        evidence.files.push(fe);
    }

    let homepage = get("url").filter(|u| u.contains("://")).map(str::to_string);
    let upstream = evidence.upstream_url(
        opts.upstream.as_ref(),
        upstream,
        homepage.as_ref(),
        Some("upstream URL from url (source names no remote file)"),
        (
            recipe,
            "source",
            "no upstream URL: no remote source and no url (pass --upstream URL)",
        ),
    )?;
    let package = Package {
        name: pkgname.to_string(),
        version: version.clone(),
        summary: get("pkgdesc").filter(|s| !s.is_empty()).map(str::to_string),
        license: get("license").filter(|s| !s.is_empty()).map(str::to_string),
        homepage,
    };
    let provenance = Provenance {
        upstream,
        upstream_hash,
        imported_from: Some(format!("alpine:{pkgname}-{version}/APKBUILD")),
        imported_from_hash: Some(digest),
        patches,
    };
    Imported::new(package, provenance, "alpine", evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> BTreeMap<String, String> {
        parse("APKBUILD", text)
            .unwrap()
            .vars
            .into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect()
    }

    #[test]
    fn assignments_quotes_and_expansions() {
        let v = vars(
            "# Maintainer: x\npkgname=hello\npkgver=2.12\npkgrel=0\npkgdesc=\"say \\\"hi\\\" \\$5\" # c\n\
             url='https://www.gnu.org/software/hello/'\nsource=\"https://ftp.gnu.org/gnu/hello/\\\n$pkgname-${pkgver}.tar.gz\n\tfix.patch\n\t\"\n\
             mixed=a'b c'\"$pkgname\"\\ d\nempty=\n\nbuild() {\n\t./configure --prefix=/usr $(nproc)\n\tcase x in\n\tesac\n}\n\npackage() {\n\tmake DESTDIR=\"$pkgdir\" install\n}\n",
        );
        assert_eq!(v["pkgdesc"], "say \"hi\" $5");
        assert_eq!(v["url"], "https://www.gnu.org/software/hello/");
        assert_eq!(
            v["source"],
            "https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz\n\tfix.patch\n\t"
        );
        assert_eq!(v["mixed"], "ab chello d");
        assert_eq!(v["empty"], "");
        let a = parse("APKBUILD", "f() {\n}\n").unwrap();
        assert_eq!(a.functions, ["f"]);
    }

    #[test]
    fn values_needing_evaluation_are_refused_with_their_line() {
        for (text, line) in [
            ("pkgname=a\npkgver=$(cat VERSION)\n", 2),
            ("pkgver=`cat VERSION`\n", 1),
            ("x=1\npkgrel=$((x+1))\n", 2),
            ("pkgname=a\n_v=${pkgname%.*}\n", 2),
            ("_v=${pkgname:-x}\n", 1),
            ("source=\"$srcdir/x\"\n", 1),
            ("depends=\"$CARCH\"\n", 1),
            ("a=$1\n", 1),
            ("\n\ncase \"$CARCH\" in x86_64) ;; esac\n", 3),
            ("export FOO=bar\n", 1),
            ("a=b c\n", 1),
            ("a=b; rm -rf /\n", 1),
            ("a=b && c\n", 1),
            ("a=~/x\n", 1),
            ("a=\"unterminated\n", 1),
            (". ./other\n", 1),
            ("f() {\n echo\n", 1),
            ("a=1\nb=2\r\n", 2),
        ] {
            let e = parse("APKBUILD", text).unwrap_err();
            assert_eq!(e.exit_code().code(), 10, "{text:?}");
            assert!(e.to_string().contains(&format!("line {line}")), "{text:?}: {e}");
        }
    }

    #[test]
    fn expansions_are_bounded() {
        let mut text = format!("a=\"{}\"\n", "x".repeat(1 << 19));
        for i in 0..16 {
            text.push_str(&format!("b{i}=\"$a$a\"\n"));
        }
        let e = parse("APKBUILD", &text).unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
        let e = parse("APKBUILD", &format!("{}c=\"$a$a$a\"\n", &text[..(1 << 19) + 5])).unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
    }

    #[test]
    fn a_variable_assigned_twice_is_refused_naming_it() {
        let e = parse("APKBUILD", "pkgname=a\npkgver=1\npkgname=b\n").unwrap_err();
        assert!(e.to_string().contains("pkgname: assigned twice (lines 1 and 3)"), "{e}");
    }

    #[test]
    fn sources_and_sums() {
        let e = source_entries("A", "https://x.org/a-1.tar.gz b.patch c::https://y.org/dl?id=1").unwrap();
        assert_eq!(e[0].file, "a-1.tar.gz");
        assert_eq!(e[1].url, None);
        assert_eq!(e[2].file, "c");
        for bad in [
            "../x.patch",
            "https://x.org/",
            "a/b.patch",
            "x::notaurl",
            "a.patch a.patch",
        ] {
            assert!(source_entries("A", bad).is_err(), "{bad}");
        }
        let h = "ab".repeat(64);
        sums("A", &format!("{h}  a.tar.gz\n{h}  b.patch")).unwrap();
        for bad in [
            format!("{}  a", &h[1..]),
            h.to_string(),
            format!("{}  a", h.to_uppercase()),
            format!("{h}  ../a"),
        ] {
            let e = sums("A", &bad).unwrap_err();
            assert!(e.to_string().contains("sha512sums"), "{e}");
        }
    }
}
