//! The OpenPGP cleartext signature framework (RFC 4880 §7) around a
//! signed recipe: recognised and taken apart as data, so the recipe's
//! fields are read from the signed text and nothing outside it.
//!
//! The signature block must parse: armour headers, base64 (the standard
//! alphabet, padded), the CRC-24 checksum when present, and one or more
//! OpenPGP signature packets (tag 2) of version 3, 4, 5 or 6 over
//! canonical text (type 0x01), nothing else. Any other shape is refused;
//! whether the signature verifies is a separate question answered with
//! the signer's keyring (`crate::debian::verify_clearsigned`).

use base64::Engine as _;

use crate::error::{ImportError, Result};

const BEGIN_SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// A recipe taken out of its armour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unarmoured {
    /// The text to parse: the whole input, or the signed text (dash-escapes removed).
    pub body: String,
    /// The signature, when the input was clearsigned.
    pub signature: Option<Signature>,
}

/// A parsed signature block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The `Hash:` armour header values.
    pub hashes: Vec<String>,
    /// The issuer of the first signature packet: its fingerprint (issuer
    /// fingerprint subpacket) or key id, upper-case hex, when it names one.
    pub issuer: Option<String>,
    /// The number of signature packets.
    pub packets: usize,
}

/// Splits a possibly clearsigned text. Unsigned text containing armour
/// lines anywhere, text before or after the armour, a malformed header or
/// signature block: refused, naming `signature` as the field.
pub fn unarmour(recipe: &str, text: &str) -> Result<Unarmoured> {
    let refuse = |reason: String| ImportError::refused(recipe, "signature", reason);
    let lines: Vec<&str> = text.split('\n').collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let starts_signed = first.and_then(|i| lines.get(i)).map(|l| l.trim_end()) == Some(BEGIN_SIGNED);
    if !starts_signed {
        if let Some(l) = lines
            .iter()
            .find(|l| l.starts_with("-----BEGIN PGP") || l.starts_with("-----END PGP"))
        {
            return Err(refuse(format!(
                "an armour line {l:?} outside a cleartext signed message"
            )));
        }
        return Ok(Unarmoured {
            body: text.to_string(),
            signature: None,
        });
    }
    let mut i = first.unwrap_or(0) + 1;
    // Armour headers of the signed message: `Hash:` only, then a blank line.
    let mut hashes = Vec::new();
    loop {
        let Some(l) = lines.get(i) else {
            return Err(refuse("the signed message ends inside its header".into()));
        };
        i += 1;
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        match l.strip_prefix("Hash: ") {
            Some(h)
                if !h.is_empty()
                    && h.split(',')
                        .all(|a| a.trim().chars().all(|c| c.is_ascii_alphanumeric())) =>
            {
                hashes.extend(h.split(',').map(|a| a.trim().to_string()))
            }
            _ => {
                return Err(refuse(format!(
                    "unexpected armour header {l:?} (only Hash: is allowed)"
                )))
            }
        }
    }
    // The signed text, dash-escaped, up to the signature block.
    let mut body = String::new();
    loop {
        let Some(l) = lines.get(i) else {
            return Err(refuse("no signature block after the signed text".into()));
        };
        i += 1;
        if l.trim_end() == BEGIN_SIGNATURE {
            break;
        }
        let text_line = if let Some(rest) = l.strip_prefix("- ") {
            rest
        } else if l.starts_with('-') {
            return Err(refuse(format!(
                "a line starting with '-' that is not dash-escaped: {l:?}"
            )));
        } else {
            l
        };
        body.push_str(text_line);
        body.push('\n');
    }
    // The signature block: armour headers, a blank line, base64, optional checksum, end line.
    loop {
        let Some(l) = lines.get(i) else {
            return Err(refuse("the signature block ends inside its header".into()));
        };
        i += 1;
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let header_ok = l.split_once(": ").is_some_and(|(k, v)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !v.is_empty()
        });
        if !header_ok {
            return Err(refuse(format!("malformed armour header {l:?} in the signature block")));
        }
    }
    let mut b64 = String::new();
    let mut checksum: Option<&str> = None;
    loop {
        let Some(l) = lines.get(i) else {
            return Err(refuse(format!("no {END_SIGNATURE} line")));
        };
        i += 1;
        let l = l.trim_end();
        if l == END_SIGNATURE {
            break;
        }
        if checksum.is_some() {
            return Err(refuse(format!("a line after the armour checksum: {l:?}")));
        }
        if let Some(c) = l.strip_prefix('=') {
            if c.len() != 4 {
                return Err(refuse(format!("malformed armour checksum {l:?}")));
            }
            checksum = Some(c);
            continue;
        }
        if l.is_empty()
            || !l
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            return Err(refuse(format!("not a base64 line in the signature block: {l:?}")));
        }
        b64.push_str(l);
    }
    if let Some(rest) = lines.get(i..) {
        if let Some(l) = rest.iter().find(|l| !l.trim().is_empty()) {
            return Err(refuse(format!("text after the signature block: {l:?}")));
        }
    }
    let packets = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| refuse(format!("the signature block is not base64: {e}")))?;
    if let Some(c) = checksum {
        let want = base64::engine::general_purpose::STANDARD
            .decode(c.as_bytes())
            .map_err(|e| refuse(format!("the armour checksum is not base64: {e}")))?;
        let got = crc24(&packets).to_be_bytes();
        if want.as_slice() != got.get(1..).unwrap_or_default() {
            return Err(refuse(
                "the armour checksum (CRC-24) does not match the signature block".into(),
            ));
        }
    }
    let (count, issuer) =
        signature_packets(&packets).map_err(|r| refuse(format!("the signature block does not parse: {r}")))?;
    Ok(Unarmoured {
        body,
        signature: Some(Signature {
            hashes,
            issuer,
            packets: count,
        }),
    })
}

/// RFC 4880 §6.1.
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for &b in data {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

/// Walks the packets: every one a signature packet over canonical text.
/// Returns their number and the first one's issuer.
fn signature_packets(mut data: &[u8]) -> std::result::Result<(usize, Option<String>), String> {
    if data.is_empty() {
        return Err("no packet".into());
    }
    let mut count = 0;
    let mut issuer = None;
    while !data.is_empty() {
        let (tag, body, rest) = packet(data)?;
        if tag != 2 {
            return Err(format!("packet {} has tag {tag}, not a signature (2)", count + 1));
        }
        let found = signature_body(body)?;
        if count == 0 {
            issuer = found;
        }
        count += 1;
        if count > 16 {
            return Err("more than 16 signature packets".into());
        }
        data = rest;
    }
    Ok((count, issuer))
}

/// One packet header (RFC 4880 §4.2): tag, body, the bytes after it.
fn packet(data: &[u8]) -> std::result::Result<(u8, &[u8], &[u8]), String> {
    let b = *data.first().ok_or("truncated packet")?;
    if b & 0x80 == 0 {
        return Err(format!("byte {b:#04x} is not a packet header"));
    }
    let (tag, len, hdr): (u8, usize, usize) = if b & 0x40 != 0 {
        let tag = b & 0x3f;
        let o1 = *data.get(1).ok_or("truncated length")? as usize;
        match o1 {
            0..=191 => (tag, o1, 2),
            192..=223 => {
                let o2 = *data.get(2).ok_or("truncated length")? as usize;
                (tag, ((o1 - 192) << 8) + o2 + 192, 3)
            }
            255 => {
                let l = data.get(2..6).ok_or("truncated length")?;
                (tag, u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize, 6)
            }
            _ => return Err("partial body lengths are not allowed in a signature".into()),
        }
    } else {
        let tag = (b >> 2) & 0x0f;
        match b & 3 {
            0 => (tag, *data.get(1).ok_or("truncated length")? as usize, 2),
            1 => {
                let l = data.get(1..3).ok_or("truncated length")?;
                (tag, u16::from_be_bytes([l[0], l[1]]) as usize, 3)
            }
            2 => {
                let l = data.get(1..5).ok_or("truncated length")?;
                (tag, u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize, 5)
            }
            _ => return Err("indeterminate packet length".into()),
        }
    };
    let end = hdr.checked_add(len).ok_or("length overflow")?;
    let body = data.get(hdr..end).ok_or("packet longer than the block")?;
    let rest = data.get(end..).unwrap_or_default();
    Ok((tag, body, rest))
}

/// A signature packet's body: version, type 0x01, and (v4+) the issuer.
fn signature_body(body: &[u8]) -> std::result::Result<Option<String>, String> {
    let version = *body.first().ok_or("empty signature packet")?;
    match version {
        3 => {
            // version, 5, type, time(4), key id(8), pubkey alg, hash alg, left16(2), MPIs
            if body.get(1) != Some(&5) {
                return Err("v3 signature: hashed length is not 5".into());
            }
            if body.get(2) != Some(&1) {
                return Err("not a signature over canonical text (type 0x01)".into());
            }
            let id = body.get(7..15).ok_or("truncated v3 signature")?;
            if body.len() < 19 {
                return Err("truncated v3 signature".into());
            }
            Ok(Some(hex::encode_upper(id)))
        }
        4..=6 => {
            if body.get(1) != Some(&1) {
                return Err("not a signature over canonical text (type 0x01)".into());
            }
            // version, type, pubkey alg, hash alg, hashed subpackets, unhashed subpackets.
            let wide = version == 6;
            let mut at = 4;
            let mut issuer = None;
            for _ in 0..2 {
                let (len, n) = if wide {
                    let l = body.get(at..at + 4).ok_or("truncated signature")?;
                    (u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize, 4)
                } else {
                    let l = body.get(at..at + 2).ok_or("truncated signature")?;
                    (u16::from_be_bytes([l[0], l[1]]) as usize, 2)
                };
                at += n;
                let area = body.get(at..at + len).ok_or("subpacket area longer than the packet")?;
                at += len;
                let found = subpackets(area)?;
                if issuer.is_none() || found.as_ref().is_some_and(|f| f.len() > 16) {
                    issuer = found.or(issuer);
                }
            }
            // left 16 bits of the hash, then the signature itself.
            if body.len() < at + 3 {
                return Err("truncated signature (no signature material)".into());
            }
            Ok(issuer)
        }
        v => Err(format!("signature packet version {v}")),
    }
}

/// Subpackets (RFC 4880 §5.2.3.1): the issuer fingerprint (33) or, failing
/// that, the issuer key id (16).
fn subpackets(mut area: &[u8]) -> std::result::Result<Option<String>, String> {
    let mut fpr = None;
    let mut keyid = None;
    while !area.is_empty() {
        let o1 = area[0] as usize;
        let (len, hdr) = match o1 {
            0..=191 => (o1, 1),
            192..=254 => {
                let o2 = *area.get(1).ok_or("truncated subpacket length")? as usize;
                (((o1 - 192) << 8) + o2 + 192, 2)
            }
            _ => {
                let l = area.get(1..5).ok_or("truncated subpacket length")?;
                (u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize, 5)
            }
        };
        if len == 0 {
            return Err("empty subpacket".into());
        }
        let sp = area.get(hdr..hdr + len).ok_or("subpacket longer than its area")?;
        match sp[0] & 0x7f {
            16 => keyid = sp.get(1..9).map(hex::encode_upper),
            33 => fpr = sp.get(2..).map(hex::encode_upper),
            _ => {}
        }
        area = area.get(hdr + len..).unwrap_or_default();
    }
    Ok(fpr.or(keyid))
}

/// What `gpgv --status-fd 1` said about `path` checked against `keyring`:
/// its output, and the digest of the keyring it was given (read bounded,
/// recorded in the evidence). Without `gpgv` the check cannot be made and
/// is refused (`install` says what for). The one place `gpgv` is run: a
/// `.dsc`'s signature and an archive's InRelease.
pub(crate) fn gpgv(
    path: &std::path::Path,
    keyring: &std::path::Path,
    install: &str,
) -> Result<(std::process::Output, cerro_core::digest::Digest)> {
    let kr = cerro_core::file::read_bounded(keyring, 64 << 20, &keyring.display().to_string())?;
    let out = std::process::Command::new("gpgv")
        .arg("--status-fd")
        .arg("1")
        .arg("--keyring")
        .arg(crate::files::keyring_arg(keyring)?)
        .arg("--")
        .arg(path)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| ImportError::CommandFailed {
            command: "gpgv".into(),
            message: format!("{e} (install Debian's gpgv to {install})"),
        })?;
    Ok((out, cerro_core::digest::Digest::of(&kr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc24_known_answer() {
        // RFC 4880's CRC-24 of "123456789" is 0x21CF02.
        assert_eq!(crc24(b"123456789"), 0x21CF02);
    }

    #[test]
    fn unsigned_text_passes_through() {
        let u = unarmour("t", "Source: a\n").unwrap();
        assert_eq!(u.body, "Source: a\n");
        assert!(u.signature.is_none());
    }

    #[test]
    fn broken_signature_blocks_are_refused() {
        let head = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSource: a\n";
        for bad in [
            // no signature block
            head.to_string(),
            // not base64
            format!("{head}-----BEGIN PGP SIGNATURE-----\n\n!!!!\n-----END PGP SIGNATURE-----\n"),
            // base64 of a non-signature packet (a literal data packet, tag 11)
            format!("{head}-----BEGIN PGP SIGNATURE-----\n\nyw5iAAAAAABoZWxsbw==\n-----END PGP SIGNATURE-----\n"),
            // truncated: a header promising more than there is
            format!("{head}-----BEGIN PGP SIGNATURE-----\n\niQIz\n-----END PGP SIGNATURE-----\n"),
            // no end line
            format!("{head}-----BEGIN PGP SIGNATURE-----\n\niQIz\n"),
            // text after the end
            format!("{head}-----BEGIN PGP SIGNATURE-----\n\niQIz\n-----END PGP SIGNATURE-----\nSource: b\n"),
            // an unknown header in the signed message
            "-----BEGIN PGP SIGNED MESSAGE-----\nComment: x\n\nSource: a\n".to_string(),
            // a stray signature in an unsigned text
            "Source: a\n-----BEGIN PGP SIGNATURE-----\n".to_string(),
            // an undashed line starting with '-'
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n-Source: a\n-----BEGIN PGP SIGNATURE-----\n\niQIz\n-----END PGP SIGNATURE-----\n".to_string(),
        ] {
            let e = unarmour("t", &bad).unwrap_err();
            assert_eq!(e.exit_code().code(), 10, "{bad:?}");
            assert!(e.to_string().contains("signature"), "{e}");
        }
    }
}
