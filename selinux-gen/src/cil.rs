//! A small typed writer for CIL (the SELinux Common Intermediate Language).
//!
//! Policy text is never assembled from string templates: every identifier
//! is an [`Ident`] (checked against CIL's symbol grammar) and every string a
//! [`Str`] (refusing what could end it), so no value from a manifest can
//! add a statement or close an expression early.

use std::fmt::Write as _;

/// A CIL identifier: `[A-Za-z][A-Za-z0-9_]*` (no dots: they are CIL's
/// namespace separator), at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ident(String);

impl Ident {
    /// Checks `s` against the identifier grammar.
    pub fn new(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let ok = (1..=255).contains(&b.len())
            && b[0].is_ascii_alphabetic()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
        ok.then(|| Ident(s.to_owned()))
    }

    /// The identifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A quoted CIL string. Refuses `"`, `\\` and every control character:
/// nothing can end the string early.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Str(String);

impl Str {
    /// Checks `s`.
    pub fn new(s: &str) -> Option<Self> {
        let ok = s.len() <= 4096 && !s.chars().any(|c| c.is_control() || matches!(c, '"' | '\\'));
        ok.then(|| Str(s.to_owned()))
    }

    /// The file-context regular expression matching `path` exactly, or
    /// `path` and everything under it (`subtree`). Only paths of
    /// `[A-Za-z0-9._@+/-]` are accepted; `.` and `+` are escaped, the one
    /// place a backslash enters a string.
    pub fn path_regex(path: &str, subtree: bool) -> Option<Self> {
        if !cerro_core::capabilities::safe_path(path) {
            return None;
        }
        let mut r = String::with_capacity(path.len() + 8);
        for c in path.chars() {
            if matches!(c, '.' | '+') {
                r.push('\\');
            }
            r.push(c);
        }
        if subtree {
            r.push_str("(/.*)?");
        }
        Some(Str(r))
    }
}

/// An S-expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// An identifier or keyword.
    Ident(Ident),
    /// A number.
    Num(u32),
    /// A quoted string.
    Str(Str),
    /// A parenthesised list.
    List(Vec<Expr>),
}

impl From<Ident> for Expr {
    fn from(i: Ident) -> Self {
        Expr::Ident(i)
    }
}

impl From<&Ident> for Expr {
    fn from(i: &Ident) -> Self {
        Expr::Ident(i.clone())
    }
}

impl From<Str> for Expr {
    fn from(s: Str) -> Self {
        Expr::Str(s)
    }
}

impl From<u32> for Expr {
    fn from(n: u32) -> Self {
        Expr::Num(n)
    }
}

impl From<Vec<Expr>> for Expr {
    fn from(v: Vec<Expr>) -> Self {
        Expr::List(v)
    }
}

/// A keyword or built-in name known at compile time (`allow`, `file`,
/// `read`…). Panics in tests only if a literal in this crate is wrong.
pub fn kw(s: &'static str) -> Expr {
    match Ident::new(s) {
        Some(i) => Expr::Ident(i),
        // Literals are fixed at compile time and covered by tests; an
        // invalid one is a programming error, written as an empty list so
        // that secilc rejects the module rather than this process panicking.
        None => Expr::List(Vec::new()),
    }
}

/// A list of keywords.
pub fn kws(items: &[&'static str]) -> Expr {
    Expr::List(items.iter().map(|s| kw(s)).collect())
}

impl Expr {
    fn write(&self, out: &mut String) {
        match self {
            Expr::Ident(i) => out.push_str(&i.0),
            Expr::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Expr::Str(s) => {
                out.push('"');
                out.push_str(&s.0);
                out.push('"');
            }
            Expr::List(items) => {
                out.push('(');
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    e.write(out);
                }
                out.push(')');
            }
        }
    }
}

/// A CIL module: statements, one per line, plus comment lines at the top.
#[derive(Debug, Default)]
pub struct Module {
    header: Vec<String>,
    statements: Vec<Expr>,
}

impl Module {
    /// Adds a header comment line (checked: no newline can end it early).
    pub fn comment(&mut self, line: &str) {
        self.header.push(line.replace(|c: char| c.is_control(), " "));
    }

    /// Adds a statement.
    pub fn push(&mut self, e: impl Into<Expr>) {
        self.statements.push(e.into());
    }

    /// The module text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for h in &self.header {
            out.push_str("; ");
            out.push_str(h);
            out.push('\n');
        }
        for s in &self.statements {
            s.write(&mut out);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_are_checked() {
        assert!(Ident::new("ct_web_t").is_some());
        for bad in ["", "1a", "a.b", "a b", "a)", "a\"", "ä"] {
            assert!(Ident::new(bad).is_none(), "{bad}");
        }
        assert!(Str::new("/var/lib/app(/.*)?").is_some());
        for bad in ["a\"b", "a\nb", "a\\b", "a\0b"] {
            assert!(Str::new(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn path_regexes_escape_and_refuse() {
        let r = Str::path_regex("/var/lib/app.d+x", true).unwrap();
        assert_eq!(r.0, "/var/lib/app\\.d\\+x(/.*)?");
        for bad in ["relative", "/a/../b", "/a\"b", "/a(b", "/a b", "/a*"] {
            assert!(Str::path_regex(bad, false).is_none(), "{bad}");
        }
    }

    #[test]
    fn renders_s_expressions() {
        let mut m = Module::default();
        m.comment("hello\n(evil)");
        let t = Ident::new("ct_x_t").unwrap();
        m.push(vec![kw("type"), t.clone().into()]);
        m.push(vec![
            kw("allow"),
            t.clone().into(),
            kw("self"),
            vec![kw("process"), kws(&["fork"])].into(),
        ]);
        assert_eq!(
            m.render(),
            "; hello (evil)\n(type ct_x_t)\n(allow ct_x_t self (process (fork)))\n"
        );
        for k in ["allow", "type", "process", "file", "tcp_socket", "name_bind", "execmem"] {
            assert!(matches!(kw(k), Expr::Ident(_)), "{k}");
        }
    }
}
