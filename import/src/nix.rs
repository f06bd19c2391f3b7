//! Nix store derivations (`.drv`, the ATerm `Derive(…)` form Nix writes),
//! read strictly: exactly the syntax Nix prints (no whitespace, only the
//! escapes `\"`, `\\`, `\n`, `\r`, `\t`), every map and set in strictly
//! ascending order as Nix writes them (so a duplicate output, input or
//! environment variable is refused, naming the field), store paths of the
//! form `/nix/store/<32 base-32>-<name>` with no `..`. Own parser rather
//! than the `nix-derivation` crate: that one accepts what it can read,
//! including duplicates, and the refusal is the point here.

use std::collections::BTreeMap;
use std::path::Path;

use cerro_core::digest::Digest;
use cerro_core::manifest::{validate_name, validate_version, Package, Provenance};
use serde_json::{json, Value};

use crate::error::{ImportError, Result};
use crate::evidence::{Evidence, FileEvidence};
use crate::{Imported, Options};

/// Largest `.drv` read.
pub const MAX_DRV: u64 = 16 << 20;

/// One output: name, store path, hash algorithm and hash (fixed-output derivations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `out`, `dev`…
    pub name: String,
    /// Its store path (empty for content-addressed floating outputs).
    pub path: String,
    /// `sha256`, `r:sha256`… or empty.
    pub hash_algo: String,
    /// Hex, or empty.
    pub hash: String,
}

/// A parsed derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derivation {
    /// Outputs, by name.
    pub outputs: Vec<Output>,
    /// Input derivations and the outputs used of each.
    pub input_drvs: Vec<(String, Vec<String>)>,
    /// Input sources (store paths).
    pub input_srcs: Vec<String>,
    /// `x86_64-linux`…
    pub system: String,
    /// The builder program.
    pub builder: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The environment, by name.
    pub env: Vec<(String, String)>,
}

struct P<'a> {
    recipe: &'a str,
    s: &'a [u8],
    at: usize,
}

impl P<'_> {
    fn refuse(&self, field: &str, reason: impl Into<String>) -> ImportError {
        ImportError::refused(self.recipe, field, format!("{} (at byte {})", reason.into(), self.at))
    }
    fn expect(&mut self, field: &str, lit: &str) -> Result<()> {
        if self.s.get(self.at..self.at + lit.len()) == Some(lit.as_bytes()) {
            self.at += lit.len();
            Ok(())
        } else {
            Err(self.refuse(field, format!("expected {lit:?}")))
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn string(&mut self, field: &str) -> Result<String> {
        self.expect(field, "\"")?;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.at) else {
                return Err(self.refuse(field, "unterminated string"));
            };
            self.at += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.s.get(self.at).copied();
                    self.at += 1;
                    out.push(match e {
                        Some(b'"') => b'"',
                        Some(b'\\') => b'\\',
                        Some(b'n') => b'\n',
                        Some(b'r') => b'\r',
                        Some(b't') => b'\t',
                        _ => return Err(self.refuse(field, "an escape Nix does not write")),
                    });
                }
                b'\n' | b'\r' | b'\t' => {
                    return Err(self.refuse(field, "a raw newline, return or tab (Nix escapes them)"))
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.refuse(field, "a string that is not UTF-8"))
    }
    /// `[item,item,…]`
    fn list<T>(&mut self, field: &str, mut item: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        self.expect(field, "[")?;
        let mut out = Vec::new();
        if self.eat(b']') {
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            if self.eat(b']') {
                return Ok(out);
            }
            self.expect(field, ",")?;
        }
    }
}

/// Refuses keys that are not strictly ascending (a duplicate, or an order Nix does not write).
fn ascending<'a>(recipe: &str, field: &str, keys: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut prev: Option<&str> = None;
    for k in keys {
        if let Some(p) = prev {
            if p == k {
                return Err(ImportError::refused(recipe, field, format!("{k:?} is given twice")));
            }
            if p > k {
                return Err(ImportError::refused(
                    recipe,
                    field,
                    format!("{k:?} after {p:?}: not in the sorted order Nix writes"),
                ));
            }
        }
        prev = Some(k);
    }
    Ok(())
}

const NIX_BASE32: &str = "0123456789abcdfghijklmnpqrsvwxyz";

/// `/nix/store/<32 base-32 chars>-<name>`, the name of Nix's characters, not `.`-led.
fn check_store_path(recipe: &str, field: &str, p: &str) -> Result<()> {
    let ok = p.strip_prefix("/nix/store/").is_some_and(|rest| {
        let (hash, name) = rest.split_at_checked(32).unwrap_or(("", ""));
        hash.len() == 32
            && hash.chars().all(|c| NIX_BASE32.contains(c))
            && name.strip_prefix('-').is_some_and(|n| {
                !n.is_empty()
                    && n.len() <= 211
                    && !n.starts_with('.')
                    && n.chars().all(|c| c.is_ascii_alphanumeric() || "+-._?=".contains(c))
            })
    });
    if ok {
        Ok(())
    } else {
        Err(ImportError::refused(
            recipe,
            field,
            format!("{p:?} is not a store path"),
        ))
    }
}

/// Parses the ATerm text of a derivation (see the module's rules).
pub fn parse(recipe: &str, text: &[u8]) -> Result<Derivation> {
    let mut p = P { recipe, s: text, at: 0 };
    p.expect("Derive", "Derive(")?;
    let outputs = p.list("outputs", |p| {
        p.expect("outputs", "(")?;
        let name = p.string("outputs")?;
        p.expect("outputs", ",")?;
        let path = p.string("outputs")?;
        p.expect("outputs", ",")?;
        let hash_algo = p.string("outputs")?;
        p.expect("outputs", ",")?;
        let hash = p.string("outputs")?;
        p.expect("outputs", ")")?;
        Ok(Output {
            name,
            path,
            hash_algo,
            hash,
        })
    })?;
    p.expect("outputs", ",")?;
    let input_drvs = p.list("inputDrvs", |p| {
        p.expect("inputDrvs", "(")?;
        let path = p.string("inputDrvs")?;
        p.expect("inputDrvs", ",")?;
        let outs = p.list("inputDrvs", |p| p.string("inputDrvs"))?;
        p.expect("inputDrvs", ")")?;
        Ok((path, outs))
    })?;
    p.expect("inputDrvs", ",")?;
    let input_srcs = p.list("inputSrcs", |p| p.string("inputSrcs"))?;
    p.expect("inputSrcs", ",")?;
    let system = p.string("system")?;
    p.expect("system", ",")?;
    let builder = p.string("builder")?;
    p.expect("builder", ",")?;
    let args = p.list("args", |p| p.string("args"))?;
    p.expect("args", ",")?;
    let env = p.list("env", |p| {
        p.expect("env", "(")?;
        let k = p.string("env")?;
        p.expect("env", ",")?;
        let v = p.string("env")?;
        p.expect("env", ")")?;
        Ok((k, v))
    })?;
    p.expect("env", ")")?;
    if p.at != text.len() {
        return Err(p.refuse("Derive", "text after the derivation"));
    }

    ascending(recipe, "outputs", outputs.iter().map(|o| o.name.as_str()))?;
    if outputs.is_empty() {
        return Err(ImportError::refused(recipe, "outputs", "no output"));
    }
    for o in &outputs {
        if o.name.is_empty() || !o.name.chars().all(|c| c.is_ascii_alphanumeric() || "+-._".contains(c)) {
            return Err(ImportError::refused(
                recipe,
                "outputs",
                format!("{:?} is not an output name", o.name),
            ));
        }
        if !o.path.is_empty() {
            check_store_path(recipe, "outputs", &o.path)?;
        }
        let algo = o.hash_algo.strip_prefix("r:").unwrap_or(&o.hash_algo);
        let hex_len = match algo {
            "" => 0,
            "md5" => 32,
            "sha1" => 40,
            "sha256" => 64,
            "sha512" => 128,
            other => {
                return Err(ImportError::refused(
                    recipe,
                    "outputs",
                    format!("hash algorithm {other:?}"),
                ))
            }
        };
        let hex_ok = o.hash.len() == hex_len && o.hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex_ok {
            return Err(ImportError::refused(
                recipe,
                "outputs",
                format!(
                    "output {}: hash {:?} is not {hex_len} lowercase hex digits",
                    o.name, o.hash
                ),
            ));
        }
    }
    ascending(recipe, "inputDrvs", input_drvs.iter().map(|(d, _)| d.as_str()))?;
    for (d, outs) in &input_drvs {
        check_store_path(recipe, "inputDrvs", d)?;
        if !d.ends_with(".drv") {
            return Err(ImportError::refused(
                recipe,
                "inputDrvs",
                format!("{d:?} is not a .drv"),
            ));
        }
        ascending(recipe, "inputDrvs", outs.iter().map(String::as_str))?;
    }
    ascending(recipe, "inputSrcs", input_srcs.iter().map(String::as_str))?;
    for s in &input_srcs {
        check_store_path(recipe, "inputSrcs", s)?;
    }
    if system.is_empty() {
        return Err(ImportError::refused(recipe, "system", "empty"));
    }
    ascending(recipe, "env", env.iter().map(|(k, _)| k.as_str()))?;
    Ok(Derivation {
        outputs,
        input_drvs,
        input_srcs,
        system,
        builder,
        args,
        env,
    })
}

impl Derivation {
    /// The derivation in the shape of `nix show-derivation`'s JSON (one derivation's object).
    pub fn to_json(&self) -> BTreeMap<String, Value> {
        let mut outputs = serde_json::Map::new();
        for o in &self.outputs {
            let mut v = json!({"path": o.path});
            if !o.hash_algo.is_empty() {
                v["hashAlgo"] = json!(o.hash_algo);
                v["hash"] = json!(o.hash);
            }
            outputs.insert(o.name.clone(), v);
        }
        let input_drvs: serde_json::Map<String, Value> =
            self.input_drvs.iter().map(|(d, o)| (d.clone(), json!(o))).collect();
        let env: serde_json::Map<String, Value> = self.env.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        BTreeMap::from([
            ("outputs".to_string(), Value::Object(outputs)),
            ("inputDrvs".to_string(), Value::Object(input_drvs)),
            ("inputSrcs".to_string(), json!(self.input_srcs)),
            ("system".to_string(), json!(self.system)),
            ("builder".to_string(), json!(self.builder)),
            ("args".to_string(), json!(self.args)),
            ("env".to_string(), Value::Object(env)),
        ])
    }

    /// The ATerm text Nix writes for this derivation: for every derivation
    /// [`parse`] accepts, `to_aterm(parse(bytes)) == bytes` (the fuzz check
    /// `nix_drv` holds it to that).
    pub fn to_aterm(&self) -> Vec<u8> {
        fn q(out: &mut String, s: &str) {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        fn list<T>(out: &mut String, items: &[T], mut f: impl FnMut(&mut String, &T)) {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                f(out, x);
            }
            out.push(']');
        }
        let mut o = String::from("Derive(");
        list(&mut o, &self.outputs, |o, x| {
            o.push('(');
            q(o, &x.name);
            o.push(',');
            q(o, &x.path);
            o.push(',');
            q(o, &x.hash_algo);
            o.push(',');
            q(o, &x.hash);
            o.push(')');
        });
        o.push(',');
        list(&mut o, &self.input_drvs, |o, (d, outs)| {
            o.push('(');
            q(o, d);
            o.push(',');
            list(o, outs, |o, s| q(o, s));
            o.push(')');
        });
        o.push(',');
        list(&mut o, &self.input_srcs, |o, s| q(o, s));
        o.push(',');
        q(&mut o, &self.system);
        o.push(',');
        q(&mut o, &self.builder);
        o.push(',');
        list(&mut o, &self.args, |o, s| q(o, s));
        o.push(',');
        list(&mut o, &self.env, |o, (k, v)| {
            o.push('(');
            q(o, k);
            o.push(',');
            q(o, v);
            o.push(')');
        });
        o.push(')');
        o.into_bytes()
    }

    fn env(&self, k: &str) -> Option<&str> {
        self.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// Nix's `parseDrvName`: the name up to the first `-` not followed by a letter, then the version.
fn split_name(name: &str) -> (&str, &str) {
    let b = name.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'-' && b.get(i + 1).is_some_and(|n| !n.is_ascii_alphabetic()) {
            return (&name[..i], &name[i + 1..]);
        }
    }
    (name, "")
}

/// Imports the derivation at `path`.
pub fn import_drv(path: &Path, opts: &Options) -> Result<Imported> {
    let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    let recipe = file.as_str();
    if !recipe.ends_with(".drv") {
        return Err(ImportError::InvalidSource {
            what: path.display().to_string(),
            reason: "a store derivation's file name ends in .drv".into(),
        });
    }
    let meta = std::fs::metadata(path).map_err(|source| ImportError::Io {
        op: "reading metadata of",
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(ImportError::refused(recipe, "file", "not a regular file"));
    }
    let bytes = cerro_core::file::read_bounded(path, MAX_DRV, recipe)?;
    let digest = Digest::of(&bytes);
    let drv = parse(recipe, &bytes)?;

    let mut evidence = Evidence::new(
        "nix-drv",
        FileEvidence {
            name: file.clone(),
            role: "recipe".into(),
            size: Some(bytes.len() as u64),
            sha256: Some(digest.to_string()),
            checked: vec![],
            not_checked: vec![],
        },
    );
    evidence.fields = drv.to_json();

    let (name, version) = match (drv.env("pname"), drv.env("version")) {
        (Some(n), Some(v)) => (n.to_string(), v.to_string()),
        _ => {
            let full = drv
                .env("name")
                .ok_or_else(|| ImportError::refused(recipe, "env", "no name"))?;
            let (n, v) = split_name(full);
            (n.to_string(), v.to_string())
        }
    };
    validate_name(&name).map_err(|e| ImportError::refused(recipe, "env.name", e.to_string()))?;
    validate_version(&version).map_err(|e| {
        ImportError::refused(
            recipe,
            "env.name",
            format!("no usable version in the derivation's name: {e}"),
        )
    })?;

    // A fixed-output derivation's flat SHA-256 is the digest of the file it fetches.
    let upstream_hash = drv
        .outputs
        .iter()
        .find(|o| o.name == "out" && o.hash_algo == "sha256")
        .and_then(|o| Digest::from_hex(&o.hash));
    if drv.outputs.iter().any(|o| o.hash_algo.starts_with("r:")) {
        evidence
            .notes
            .push("a recursive (NAR) output hash is not a file digest: not used as upstream_hash".into());
    }
    if let Some(p) = drv.env("patches").filter(|p| !p.trim().is_empty()) {
        evidence.notes.push(format!(
            "patches are store paths ({}): recorded in the env, not in the manifest (no file digest without the store)",
            p.split_whitespace().count()
        ));
    }
    let from_env = drv
        .env("url")
        .or_else(|| drv.env("urls").and_then(|u| u.split_whitespace().next()))
        .filter(|u| u.contains("://"))
        .map(str::to_string);
    let upstream = evidence.upstream_url(
        opts.upstream.as_ref(),
        from_env,
        None,
        None,
        (
            recipe,
            "env.url",
            "no upstream URL: the derivation has no url or urls (pass --upstream URL)",
        ),
    )?;
    let package = Package {
        name,
        version,
        summary: None,
        license: None,
        homepage: None,
    };
    let provenance = Provenance {
        upstream,
        upstream_hash,
        imported_from: Some(format!("nix:{file}")),
        imported_from_hash: Some(digest),
        patches: Vec::new(),
    };
    Imported::new(package, provenance, "nix", evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "/nix/store/cdmvgfly7zy4043vhfcqi4026f4w0qz1-greet-1.0";
    const SRC: &str = "/nix/store/1017cjpgpdg6f0vvqhcby1c8v2jyn7i8-src.txt";

    fn drv(env: &str) -> String {
        format!(
            "Derive([(\"out\",\"{OUT}\",\"\",\"\")],[],[\"{SRC}\"],\"x86_64-linux\",\"/bin/sh\",[\"-c\",\"echo \\\"hi\\\\there\\\" > $out\"],[{env}])"
        )
    }

    #[test]
    fn nix_output_parses() {
        let d = parse(
            "t.drv",
            drv("(\"name\",\"greet-1.0\"),(\"weird\",\"a\\tb\\nc\")").as_bytes(),
        )
        .unwrap();
        assert_eq!(d.args[1], "echo \"hi\\there\" > $out");
        assert_eq!(d.env[1].1, "a\tb\nc");
        assert_eq!(d.input_srcs, [SRC]);
        assert_eq!(split_name("greet-1.0"), ("greet", "1.0"));
        assert_eq!(split_name("foo-bar-2.1-pre"), ("foo-bar", "2.1-pre"));
        assert_eq!(split_name("nover"), ("nover", ""));
        let text = drv("(\"name\",\"greet-1.0\"),(\"weird\",\"a\\tb\\nc \\\"q\\\" \\\\\")");
        assert_eq!(parse("t.drv", text.as_bytes()).unwrap().to_aterm(), text.as_bytes());
    }

    #[test]
    fn non_canonical_or_ambiguous_derivations_are_refused() {
        let ok = drv("(\"a\",\"1\"),(\"b\",\"2\")");
        parse("t.drv", ok.as_bytes()).unwrap();
        for (bad, field) in [
            (drv("(\"a\",\"1\"),(\"a\",\"2\")"), "env"),
            (drv("(\"b\",\"1\"),(\"a\",\"2\")"), "env"),
            (drv("(\"a\",\"\\x\")"), "env"),
            (drv("(\"a\",\"raw\nnewline\")"), "env"),
            (drv("(\"a\", \"1\")"), "env"),
            (format!("{ok}\n"), "Derive"),
            (ok.replace("Derive(", "Derive ("), "Derive"),
            (
                ok.replace(SRC, "/nix/store/1017cjpgpdg6f0vvqhcby1c8v2jyn7i8-../etc"),
                "inputSrcs",
            ),
            (ok.replace(SRC, "/etc/passwd"), "inputSrcs"),
            (
                ok.replace(&format!("[\"{SRC}\"]"), &format!("[\"{SRC}\",\"{SRC}\"]")),
                "inputSrcs",
            ),
            (ok.replace("\"out\",\"/nix", "\"out\",\"/nox"), "outputs"),
            (ok.replace(",\"\",\"\")]", ",\"sha256\",\"abc\")]"), "outputs"),
            (ok.replace(",\"\",\"\")]", ",\"sha256\",\"\")]"), "outputs"),
            (ok.replace(",\"\",\"\")]", ",\"crc32\",\"00\")]"), "outputs"),
            (ok[..ok.len() - 5].to_string(), "env"),
        ] {
            let e = parse("t.drv", bad.as_bytes()).unwrap_err();
            assert_eq!(e.exit_code().code(), 10, "{bad}");
            assert!(e.to_string().starts_with(&format!("t.drv: {field}:")), "{bad}: {e}");
        }
    }
}
