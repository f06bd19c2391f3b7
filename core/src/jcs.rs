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
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
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

/// RFC 8785 §3.2.2.2 string escaping: `"` `\\` and the short escapes
/// `\b \t \n \f \r`; other controls as `\u00xx` (lowercase); everything else
/// verbatim UTF-8.
fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
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
}
