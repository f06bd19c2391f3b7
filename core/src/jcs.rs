//! RFC 8785 JSON Canonicalization Scheme (JCS) for the documents this crate
//! writes and signs.
//!
//! Canonical bytes make signed payloads and bundle members reproducible and
//! let the reader refuse any re-encoding of a member (a second spelling of
//! the same document is a flipped byte that must not go unnoticed).
//!
//! Scope: objects, arrays, strings, booleans, null and integers of magnitude
//! below 2^53. Non-integral numbers never occur in Cerro Torre documents and
//! are refused rather than formatted with ECMAScript's number algorithm.

use serde_json::Value;

use crate::error::{Error, Result};

/// Serialises `value` to its RFC 8785 canonical form.
pub fn to_vec(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out)?;
    Ok(out)
}

/// Serialises any `Serialize` type to canonical JSON.
pub fn to_canonical<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    let v = serde_json::to_value(value).map_err(|e| Error::malformed("json document", e.to_string()))?;
    to_vec(&v)
}

const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<()> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE_INTEGER) {
                out.extend_from_slice(u.to_string().as_bytes());
            } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER) {
                out.extend_from_slice(i.to_string().as_bytes());
            } else {
                return Err(Error::malformed(
                    "json document",
                    format!("number {n} is not an integer of magnitude below 2^53"),
                ));
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // RFC 8785 §3.2.3: sort by the UTF-16 code units of the names.
            // serde_json's map (a BTreeMap: no `preserve_order` in this
            // workspace) iterates in UTF-8 byte order, which is code point
            // order; UTF-16 order differs from it only for a name with a
            // character from U+E000 up (UTF-8 lead byte 0xEE and above),
            // so only such a map is sorted again.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if map.keys().any(|k| k.bytes().any(|b| b >= 0xEE)) {
                entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            }
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_value(v, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Writes `s` as a canonical JSON string (RFC 8785 §3.2.2.2), for writers
/// that emit a large canonical document without building a `Value` tree
/// (the SPDX SBOM's per-file entries). Whatever such a writer emits, its
/// tests check it is what [`to_vec`] makes of the same document.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    write_string(s, out);
}

/// Writes a canonical JSON object whose names the caller gives already in
/// RFC 8785 §3.2.3 order, each with its value's canonical bytes. Names out
/// of order are refused: a writer that lists them wrong fails its first
/// test instead of signing a non-canonical document.
pub fn write_object(entries: &[(&str, &[u8])], out: &mut Vec<u8>) -> Result<()> {
    if entries
        .windows(2)
        .any(|w| w[0].0.encode_utf16().cmp(w[1].0.encode_utf16()) != std::cmp::Ordering::Less)
    {
        return Err(Error::malformed("json document", "object names not in canonical order"));
    }
    out.push(b'{');
    for (i, (name, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        out.extend_from_slice(value);
    }
    out.push(b'}');
    Ok(())
}

/// RFC 8785 §3.2.2.2 string escaping: `"` `\\` and the short escapes
/// `\b \t \n \f \r`; other controls as `\u00xx` (lowercase); everything else
/// verbatim UTF-8.
///
/// Runs of bytes that need no escape are copied whole: an SBOM or an
/// envelope's base64 payload is megabytes of such runs, and `ct pack` writes
/// it on its critical path. Only ASCII bytes are ever escaped, and a byte of
/// a multi-byte UTF-8 sequence is never ASCII, so cutting runs at escaped
/// bytes never splits a character.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(run..i).unwrap_or_default());
        run = i + 1;
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{:04x}", b).as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
    }
    out.extend_from_slice(bytes.get(run..).unwrap_or_default());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        let v: Value = serde_json::from_str(s).unwrap();
        String::from_utf8(to_vec(&v).unwrap()).unwrap()
    }

    #[test]
    fn rfc8785_sorting_example() {
        // RFC 8785 §3.2.3: property names sorted by UTF-16 code units.
        let input = r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#;
        let want = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canon(input), want);
    }

    #[test]
    fn whitespace_literals_and_escapes() {
        assert_eq!(
            canon("{ \"b\" : [ 1 , true , null ] , \"a\" : \"x\\u001fy\\n\\/\" }"),
            "{\"a\":\"x\\u001fy\\n/\",\"b\":[1,true,null]}"
        );
        assert_eq!(canon("-42"), "-42");
    }

    #[test]
    fn refuses_non_integers() {
        let v: Value = serde_json::from_str("1.5").unwrap();
        assert!(to_vec(&v).is_err());
        let v: Value = serde_json::from_str("18446744073709551615").unwrap();
        assert!(to_vec(&v).is_err());
    }

    /// The escaping as RFC 8785 §3.2.2.2 states it, one character at a time:
    /// the run-copying `write_string` must agree with it on every string.
    fn reference(s: &str) -> Vec<u8> {
        let mut out = vec![b'"'];
        for c in s.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\u{8}' => out.extend_from_slice(b"\\b"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\u{c}' => out.extend_from_slice(b"\\f"),
                '\r' => out.extend_from_slice(b"\\r"),
                c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
                c => out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes()),
            }
        }
        out.push(b'"');
        out
    }

    #[test]
    fn names_are_in_utf16_order_whether_or_not_the_map_order_is_kept() {
        // Below U+E000 the map's byte order is the UTF-16 order; above it,
        // a supplementary character (a surrogate pair, 0xD83D…) sorts before
        // U+E000..U+FFFF in UTF-16 but after them in UTF-8.
        assert_eq!(
            canon(r#"{"b":1,"a":2,"\u00e9":3,"Z":4}"#),
            "{\"Z\":4,\"a\":2,\"b\":1,\"\u{e9}\":3}"
        );
        assert_eq!(
            canon(r#"{"\uffff":1,"\ud83d\ude00":2,"\ue000":3,"a":4}"#),
            "{\"a\":4,\"\u{1f600}\":2,\"\u{e000}\":3,\"\u{ffff}\":1}"
        );
    }

    #[test]
    fn an_object_written_by_hand_must_list_its_names_in_canonical_order() {
        let mut out = Vec::new();
        write_object(
            &[("Z", b"1"), ("a", b"\"x\""), ("\u{1f600}", b"[]"), ("\u{e000}", b"{}")],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, "{\"Z\":1,\"a\":\"x\",\"\u{1f600}\":[],\"\u{e000}\":{}}".as_bytes());
        for wrong in [
            &[("a", &b"1"[..]), ("Z", b"2")][..],
            &[("a", b"1"), ("a", b"2")],
            &[("\u{e000}", b"1"), ("\u{1f600}", b"2")],
        ] {
            assert!(write_object(wrong, &mut Vec::new()).is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn run_copying_escapes_exactly_as_the_rfc_states() {
        let alphabet: Vec<char> = (0u32..0x80)
            .filter_map(char::from_u32)
            .chain(['\u{80}', '\u{f6}', '\u{2028}', '\u{20ac}', '\u{fb33}', '\u{1f600}'])
            .collect();
        // Every character alone and between others, then seeded random strings.
        let mut cases: Vec<String> = vec![String::new()];
        for &c in &alphabet {
            cases.push(c.to_string());
            cases.push(format!("ab{c}cd{c}"));
            cases.push(format!("{c}\u{20ac}{c}"));
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 0..400 {
            let s: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            cases.push(s);
        }
        for s in cases {
            let mut got = Vec::new();
            write_string(&s, &mut got);
            assert_eq!(got, reference(&s), "escaping {s:?}");
        }
    }
}
