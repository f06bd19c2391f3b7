//! Text from bundle data made safe to show a human. A `predicateType`, a
//! reference name or a refusal's reason can be attacker-chosen before any
//! signature is checked, and a newline or an escape sequence in it could
//! print a fake verdict or hide the real one on a terminal or in a log.
//! Every front end (`ct`, the image verifier, the C ABI) escapes through
//! this one function.

use std::borrow::Cow;

/// `s` with every control character (C0, DEL, C1, NUL included) and the
/// Unicode line and bidi controls written as `\u{…}` escapes, so it prints
/// as one inert line.
pub fn printable(s: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if bad(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`printable`], cut to at most `max` bytes (at a character boundary,
/// ending in `...` when cut): a reason a caller stores in a bounded field.
pub fn printable_within(s: &str, max: usize) -> String {
    let p = printable(s);
    if p.len() <= max {
        return p.into_owned();
    }
    let mut end = max.saturating_sub(3);
    while !p.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &p[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(printable("plain text: ok"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{202e}b\u{85}c\0d\n"), "a\\u{202e}b\\u{85}c\\u{0}d\\u{a}");
    }

    #[test]
    fn a_cut_reason_stays_within_its_bound_on_a_character_boundary() {
        assert_eq!(printable_within("short", 16), "short");
        let cut = printable_within("ééééééééé", 8);
        assert!(cut.len() <= 8, "{cut}");
        assert_eq!(cut, "éé...");
        let escaped = printable_within("\n\n\n\n", 10);
        assert!(escaped.len() <= 10 && escaped.ends_with("..."), "{escaped}");
    }
}
