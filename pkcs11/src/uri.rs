//! PKCS#11 URIs (RFC 7512): which module, token and key object a key
//! reference names, and where its PIN comes from.
//!
//! ```text
//! pkcs11:token=release;object=ct-2026?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin
//! ```
//!
//! Read strictly, so that one URI names one thing: an attribute given
//! twice, an unknown attribute, a malformed percent escape or a value that
//! is not UTF-8 (other than `id`, which is bytes) is refused, not skipped.
//! `pin-value` is refused too: a PIN in a URI ends up in shell history,
//! `ps` output and the trust store's key reference. The PIN comes from
//! `pin-source` (a file) or the environment, never from the command line.
//! Error messages name the attribute, never the URI's text, so nothing
//! secret a user pasted is printed back.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Which kind of object `type=` asks for. Only key objects can sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `type=private`: the private key (what signs).
    Private,
    /// `type=public`: the public key (what `ct key import --pkcs11` reads).
    Public,
}

/// A parsed PKCS#11 URI: the path attributes that select a token and an
/// object, and the query attributes ct uses (`module-path`, `pin-source`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenUri {
    /// `token`: the token label.
    pub token: Option<String>,
    /// `manufacturer`: the token's manufacturer id.
    pub manufacturer: Option<String>,
    /// `serial`: the token's serial number.
    pub serial: Option<String>,
    /// `model`: the token's model.
    pub model: Option<String>,
    /// `slot-id`: the slot's number.
    pub slot_id: Option<u64>,
    /// `slot-description`.
    pub slot_description: Option<String>,
    /// `slot-manufacturer`.
    pub slot_manufacturer: Option<String>,
    /// `library-manufacturer`: the module's manufacturer id.
    pub library_manufacturer: Option<String>,
    /// `library-description`: the module's description.
    pub library_description: Option<String>,
    /// `object`: the key's label (CKA_LABEL).
    pub object: Option<String>,
    /// `id`: the key's CKA_ID (bytes, percent-encoded).
    pub id: Option<Vec<u8>>,
    /// `type`.
    pub object_type: Option<ObjectType>,
    /// `module-path`: the PKCS#11 module (shared library) to load.
    pub module_path: Option<PathBuf>,
    /// `pin-source`: a file holding the PIN (`file:` URI or absolute path).
    pub pin_source: Option<PathBuf>,
}

/// The scheme prefix.
pub const SCHEME: &str = "pkcs11:";

/// The longest URI read (a key reference is one short line).
const MAX_URI: usize = 4096;

fn bad(reason: impl Into<String>) -> Error {
    Error::Uri { reason: reason.into() }
}

/// Percent-decodes `value` (RFC 3986 §2.1).
fn decode(name: &str, value: &str) -> Result<Vec<u8>> {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                // Two hex digits exactly (from_str_radix alone takes "+f").
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(format!("attribute {name}: a malformed percent escape")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn text(name: &str, value: &str) -> Result<String> {
    let bytes = decode(name, value)?;
    let s = String::from_utf8(bytes).map_err(|_| bad(format!("attribute {name} is not UTF-8")))?;
    if s.chars().any(char::is_control) {
        return Err(bad(format!("attribute {name} holds a control character")));
    }
    Ok(s)
}

fn set<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(bad(format!("attribute {name} is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// Where a `pin-source` points: `file:/abs`, `file:///abs` or `/abs`.
fn pin_path(value: &str) -> Result<PathBuf> {
    let v = text("pin-source", value)?;
    let path = if let Some(rest) = v.strip_prefix("file://") {
        // file:///abs (empty authority) or file://localhost/abs.
        rest.strip_prefix("localhost").unwrap_or(rest).to_owned()
    } else if let Some(rest) = v.strip_prefix("file:") {
        rest.to_owned()
    } else {
        v
    };
    if !path.starts_with('/') {
        return Err(bad(
            "pin-source must be an absolute file: URI or path (file:/run/user/1000/pin)",
        ));
    }
    Ok(PathBuf::from(path))
}

impl TokenUri {
    /// Parses a `pkcs11:` URI. See the module documentation for what is
    /// refused.
    pub fn parse(uri: &str) -> Result<Self> {
        if uri.len() > MAX_URI {
            return Err(bad(format!("longer than {MAX_URI} bytes")));
        }
        let rest = uri
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("does not start with pkcs11:"))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        if path.contains('#') || query.is_some_and(|q| q.contains('#')) {
            return Err(bad("a fragment (#…) is not part of a PKCS#11 URI"));
        }
        let mut u = TokenUri::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| bad(format!("path attribute {attr:?} has no value")))?;
            match name {
                "token" => set(&mut u.token, name, text(name, value)?)?,
                "manufacturer" => set(&mut u.manufacturer, name, text(name, value)?)?,
                "serial" => set(&mut u.serial, name, text(name, value)?)?,
                "model" => set(&mut u.model, name, text(name, value)?)?,
                "slot-description" => set(&mut u.slot_description, name, text(name, value)?)?,
                "slot-manufacturer" => set(&mut u.slot_manufacturer, name, text(name, value)?)?,
                "library-manufacturer" => set(&mut u.library_manufacturer, name, text(name, value)?)?,
                "library-description" => set(&mut u.library_description, name, text(name, value)?)?,
                "object" => set(&mut u.object, name, text(name, value)?)?,
                "id" => set(&mut u.id, name, decode(name, value)?)?,
                "slot-id" => {
                    let t = text(name, value)?;
                    let n = t
                        .parse::<u64>()
                        .ok()
                        .filter(|_| !t.starts_with('+'))
                        .ok_or_else(|| bad("slot-id is not a decimal number"))?;
                    set(&mut u.slot_id, name, n)?
                }
                "type" => {
                    let t = match text(name, value)?.as_str() {
                        "private" => ObjectType::Private,
                        "public" => ObjectType::Public,
                        other => {
                            return Err(bad(format!(
                                "type={other:?}: only key objects sign (type=private or type=public)"
                            )))
                        }
                    };
                    set(&mut u.object_type, name, t)?
                }
                "library-version" => return Err(bad("library-version is not supported")),
                other => return Err(bad(format!("unknown path attribute {other:?}"))),
            }
        }
        for attr in query.into_iter().flat_map(|q| q.split('&')).filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| bad(format!("query attribute {attr:?} has no value")))?;
            match name {
                "module-path" => {
                    let p = text(name, value)?;
                    if !p.starts_with('/') {
                        return Err(bad("module-path must be an absolute path"));
                    }
                    set(&mut u.module_path, name, PathBuf::from(p))?
                }
                "pin-source" => set(&mut u.pin_source, name, pin_path(value)?)?,
                "pin-value" => {
                    return Err(bad(
                        "pin-value is refused: a PIN on the command line is seen by ps and kept in shell \
                         history; use pin-source=file:PATH or $CERRO_PKCS11_PIN",
                    ))
                }
                "module-name" => {
                    return Err(bad(
                        "module-name is not supported: give the module's file with module-path=/…/module.so",
                    ))
                }
                other => return Err(bad(format!("unknown query attribute {other:?}"))),
            }
        }
        Ok(u)
    }

    /// Whether the URI names a key object (by label or id): signing and
    /// key generation need one.
    pub fn names_object(&self) -> bool {
        self.object.is_some() || self.id.is_some()
    }

    /// The object as people read it: `object="…"`, `id=%01…`, or both.
    pub fn object_name(&self) -> String {
        let mut parts = Vec::new();
        if let Some(o) = &self.object {
            parts.push(format!("object={o:?}"));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id={}", encode_bytes(id)));
        }
        if parts.is_empty() {
            "any object".to_owned()
        } else {
            parts.join(";")
        }
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved set and the
/// few characters RFC 7512 allows unescaped in values.
fn encode_bytes(v: &[u8]) -> String {
    let mut out = String::with_capacity(v.len());
    for &b in v {
        if b.is_ascii_alphanumeric() || b"-._~:[]@!$'()*+,/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URI in its one written form (attributes in RFC 7512's order,
/// values percent-encoded where needed): what a key reference stores.
impl fmt::Display for TokenUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut path: Vec<String> = Vec::new();
        let mut push = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                path.push(format!("{name}={}", encode_bytes(v.as_bytes())));
            }
        };
        push("library-description", &self.library_description);
        push("library-manufacturer", &self.library_manufacturer);
        push("manufacturer", &self.manufacturer);
        push("model", &self.model);
        push("object", &self.object);
        push("serial", &self.serial);
        push("slot-description", &self.slot_description);
        push("slot-manufacturer", &self.slot_manufacturer);
        push("token", &self.token);
        if let Some(id) = &self.id {
            path.push(format!("id={}", encode_bytes(id)));
        }
        if let Some(n) = self.slot_id {
            path.push(format!("slot-id={n}"));
        }
        if let Some(t) = self.object_type {
            path.push(format!(
                "type={}",
                match t {
                    ObjectType::Private => "private",
                    ObjectType::Public => "public",
                }
            ));
        }
        write!(f, "{SCHEME}{}", path.join(";"))?;
        let mut query = Vec::new();
        if let Some(p) = &self.module_path {
            query.push(format!(
                "module-path={}",
                encode_bytes(p.as_os_str().as_encoded_bytes())
            ));
        }
        if let Some(p) = &self.pin_source {
            query.push(format!(
                "pin-source=file:{}",
                encode_bytes(p.as_os_str().as_encoded_bytes())
            ));
        }
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_rfc_examples_and_ours_parse() {
        let u = TokenUri::parse(
            "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;\
             model=1.0;object=my-certificate;type=private;id=%69%95%3E%5C%F4%BD%EC%91;serial=\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/token",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("The Software PKCS#11 Softtoken"));
        assert_eq!(u.manufacturer.as_deref(), Some("Snake Oil, Inc."));
        assert_eq!(u.serial.as_deref(), Some(""));
        assert_eq!(u.object.as_deref(), Some("my-certificate"));
        assert_eq!(u.object_type, Some(ObjectType::Private));
        assert_eq!(
            u.id.as_deref(),
            Some(&[0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91][..])
        );
        assert_eq!(u.module_path, Some(PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")));
        assert_eq!(u.pin_source, Some(PathBuf::from("/etc/token")));
        // The written form reads back as the same URI.
        assert_eq!(TokenUri::parse(&u.to_string()).unwrap(), u);
        for (src, pin) in [
            ("pkcs11:object=a?pin-source=file:///run/p", "/run/p"),
            ("pkcs11:object=a?pin-source=file://localhost/run/p", "/run/p"),
            ("pkcs11:object=a?pin-source=/run/p", "/run/p"),
        ] {
            assert_eq!(TokenUri::parse(src).unwrap().pin_source, Some(PathBuf::from(pin)));
        }
        let bare = TokenUri::parse("pkcs11:").unwrap();
        assert!(!bare.names_object());
        assert_eq!(TokenUri::parse("pkcs11:slot-id=3;id=%01").unwrap().slot_id, Some(3));
    }

    #[test]
    fn ambiguous_or_secret_bearing_uris_are_refused_without_echoing_them() {
        for (uri, why) in [
            ("pkcs11:object=a;object=b", "given twice"),
            ("pkcs11:object=a?module-path=/a&module-path=/b", "given twice"),
            ("pkcs11:objekt=a", "unknown path attribute"),
            ("pkcs11:object=a?x-vendor=1", "unknown query attribute"),
            ("pkcs11:object=%zz", "percent escape"),
            ("pkcs11:object=%4", "percent escape"),
            ("pkcs11:object=%+f", "percent escape"),
            ("pkcs11:object=%ff", "not UTF-8"),
            ("pkcs11:object=a%0Ab", "control character"),
            ("pkcs11:object=a;type=cert", "only key objects"),
            ("pkcs11:slot-id=-1", "decimal"),
            ("pkcs11:object=a?module-path=lib.so", "absolute"),
            ("pkcs11:object=a?pin-source=pin.txt", "absolute"),
            ("pkcs11:object=a?module-name=softhsm2", "module-path"),
            ("pkcs11:object", "has no value"),
            ("pkcs11:object=a#frag", "fragment"),
            ("pkcs12:object=a", "does not start with pkcs11:"),
        ] {
            let e = TokenUri::parse(uri).unwrap_err().to_string();
            assert!(e.contains(why), "{uri}: {e}");
        }
        let e = TokenUri::parse("pkcs11:object=a?pin-value=123456").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("pin-value is refused") && !msg.contains("123456"), "{msg}");
        assert_eq!(e.kind(), cerro_core::Kind::TokenUri);
        let long = format!("pkcs11:object={}", "a".repeat(MAX_URI));
        assert!(TokenUri::parse(&long).is_err());
    }
}
