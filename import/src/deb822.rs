//! A strict reader of one deb822 paragraph (deb822(5)), as a `.dsc`
//! carries: `Field: value` lines with continuation lines, read as data.
//!
//! Stricter than dpkg where two readers could disagree: a field given
//! twice (field names are case-insensitive, so `Version` and `version` are
//! one field) is refused, as are comments, a continuation line before any
//! field, a second paragraph, carriage returns and other control
//! characters. Own parser rather than `deb822-lossless`: that crate keeps
//! duplicate fields (it is lossless), and the refusal is the point here.

use crate::error::{ImportError, Result};

/// Most fields in one paragraph.
pub const MAX_FIELDS: usize = 512;

/// One field: its name as written, its value, and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name as written.
    pub name: String,
    /// The value: the first line (trimmed), then each continuation line
    /// (trimmed) after a `\n`; a continuation line of `.` alone is empty.
    pub value: String,
    /// 1-based line number of the field's first line in the text parsed.
    pub line: usize,
}

impl Field {
    /// The value's lines after the first (the entries of a multi-line field
    /// such as `Files`), empty ones skipped.
    pub fn continuation_lines(&self) -> impl Iterator<Item = &str> {
        self.value.split('\n').skip(1).filter(|l| !l.is_empty())
    }
}

/// One paragraph, fields in the order written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Paragraph {
    /// The fields.
    pub fields: Vec<Field>,
}

impl Paragraph {
    /// The field named `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// Parses exactly one paragraph (blank lines before and after allowed).
/// `recipe` names the input in errors, which name the field or line.
pub fn parse_paragraph(recipe: &str, text: &str) -> Result<Paragraph> {
    let mut p = Paragraph::default();
    let mut ended = false;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line_field = || format!("line {n}");
        if let Some(c) = raw.chars().find(|c| c.is_control() && *c != '\t') {
            return Err(ImportError::refused(
                recipe,
                line_field(),
                format!("control character U+{:04X}", c as u32),
            ));
        }
        if raw.trim().is_empty() {
            if !p.fields.is_empty() {
                ended = true;
            }
            continue;
        }
        if ended {
            return Err(ImportError::refused(
                recipe,
                line_field(),
                "a second paragraph (one is expected)",
            ));
        }
        if raw.starts_with(' ') || raw.starts_with('\t') {
            let Some(last) = p.fields.last_mut() else {
                return Err(ImportError::refused(
                    recipe,
                    line_field(),
                    "a continuation line before any field",
                ));
            };
            let t = raw.trim();
            last.value.push('\n');
            if t != "." {
                last.value.push_str(t);
            }
            continue;
        }
        if raw.starts_with('#') {
            return Err(ImportError::refused(recipe, line_field(), "comments are not allowed"));
        }
        let Some((name, value)) = raw.split_once(':') else {
            return Err(ImportError::refused(recipe, line_field(), "not a 'Field: value' line"));
        };
        let name_ok =
            !name.is_empty() && !name.starts_with('-') && name.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b':');
        if !name_ok {
            return Err(ImportError::refused(
                recipe,
                line_field(),
                format!("{name:?} is not a field name"),
            ));
        }
        if let Some(prev) = p.get(name) {
            return Err(ImportError::refused(
                recipe,
                name,
                format!(
                    "given twice (lines {} and {n}; field names are case-insensitive)",
                    prev.line
                ),
            ));
        }
        if p.fields.len() >= MAX_FIELDS {
            return Err(ImportError::refused(
                recipe,
                line_field(),
                format!("more than {MAX_FIELDS} fields"),
            ));
        }
        p.fields.push(Field {
            name: name.to_string(),
            value: value.trim().to_string(),
            line: n,
        });
    }
    if p.fields.is_empty() {
        return Err(ImportError::refused(recipe, "paragraph", "no fields"));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_continuations() {
        let p = parse_paragraph(
            "t",
            "\nFormat: 3.0 (quilt)\nSource: hello\nFiles:\n abc 1 a.tar.gz\n .\n def 2 b.tar.xz\nX-Y:  v  \n\n\n",
        )
        .unwrap();
        assert_eq!(p.get("source").unwrap().value, "hello");
        assert_eq!(p.get("FILES").unwrap().value, "\nabc 1 a.tar.gz\n\ndef 2 b.tar.xz");
        let lines: Vec<_> = p.get("Files").unwrap().continuation_lines().collect();
        assert_eq!(lines, ["abc 1 a.tar.gz", "def 2 b.tar.xz"]);
        assert_eq!(p.get("X-Y").unwrap().value, "v");
        assert_eq!(p.get("Format").unwrap().line, 2);
    }

    #[test]
    fn duplicate_fields_are_refused_naming_the_field() {
        for text in [
            "Source: a\nSource: b\n",
            "Source: a\nsource: b\n",
            "Version: 1\nVERSION: 1\n",
        ] {
            let e = parse_paragraph("t", text).unwrap_err();
            assert_eq!(e.exit_code().code(), 10);
            assert!(e.to_string().contains("given twice"), "{e}");
        }
        let e = parse_paragraph("t", "Source: a\nVersion: 1\nversion: 2\n").unwrap_err();
        assert!(
            e.to_string().starts_with("t: version: given twice (lines 2 and 3"),
            "{e}"
        );
    }

    #[test]
    fn ambiguous_shapes_are_refused() {
        for text in [
            " leading continuation\n",
            "Source: a\n\nSource2: b\n",
            "# comment\nSource: a\n",
            "Source: a\r\n",
            "no colon\n",
            ": empty name\n",
            "-Dash: x\n",
            "",
            "\n\n",
            "Sou rce: a\n",
        ] {
            assert!(parse_paragraph("t", text).is_err(), "{text:?}");
        }
    }
}
