//! C2SP tlog-tiles (c2sp.org/tlog-tiles): tile and entry-bundle paths,
//! partial-tile widths, and the entry-bundle encoding. Paths and bytes
//! only: writing and serving them is the log's job.

use crate::error::{Error, Result};

/// "Full tiles MUST be exactly 256 hashes wide, or 8,192 bytes."
pub const TILE_WIDTH: u64 = 256;

/// The largest entry an entry bundle can hold (its length is a uint16).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

fn bad(what: &str, reason: String) -> Error {
    Error::malformed(what, reason)
}

/// "`<N>` is the index of the tile within the level. It MUST be a
/// non-negative integer encoded into zero-padded 3-digit path elements. All
/// but the last path element MUST begin with an `x`. For example, index
/// 1234067 will be encoded as `x001/x234/067`." and "The `.p/<W>` suffix
/// is only present for partial tiles [...] `<W>` is the width of the tile,
/// a decimal ASCII integer between 1 and 255". `width` is the number of
/// hashes (or entries): 256 for a full tile.
fn index_path(n: u64, width: u64) -> Result<String> {
    if width == 0 || width > TILE_WIDTH {
        return Err(bad("tile path", format!("width {width} is not in 1..=256")));
    }
    let mut parts = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        parts.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    parts.reverse();
    let mut p = parts.join("/");
    if width < TILE_WIDTH {
        p.push_str(&format!(".p/{width}"));
    }
    Ok(p)
}

/// The path of tile `n` at `level` with `width` hashes, below the log's
/// prefix: `tile/<L>/<N>[.p/<W>]`, where `<L>` "MUST be a decimal ASCII
/// integer between 0 and 63".
pub fn tile_path(level: u8, n: u64, width: u64) -> Result<String> {
    if level > 63 {
        return Err(bad("tile path", format!("level {level} is above 63")));
    }
    Ok(format!("tile/{level}/{}", index_path(n, width)?))
}

/// The path of entry bundle `n` with `width` entries: `tile/entries/<N>[.p/<W>]`.
pub fn entries_path(n: u64, width: u64) -> Result<String> {
    Ok(format!("tile/entries/{}", index_path(n, width)?))
}

/// "The partial tile at level *l* for a tree of size *s* has `floor(s /
/// 256**l) mod 256` entries." 0 means there is none ("Empty tiles MUST NOT
/// be served"). Level 0 also gives the width of the last entry bundle.
pub fn partial_width(tree_size: u64, level: u8) -> u64 {
    let shift = 8 * u32::from(level);
    if shift >= 64 {
        return 0;
    }
    (tree_size >> shift) % TILE_WIDTH
}

/// An entry bundle: "sequences of big-endian uint16 length-prefixed log
/// entries", at most 256 of them.
pub fn encode_entry_bundle(entries: &[&[u8]]) -> Result<Vec<u8>> {
    if entries.is_empty() || entries.len() as u64 > TILE_WIDTH {
        return Err(bad("entry bundle", format!("{} entries, not 1..=256", entries.len())));
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for e in entries {
        let len = u16::try_from(e.len())
            .map_err(|_| bad("entry bundle", format!("an entry of {} bytes, above 65535", e.len())))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle that must hold exactly `width` entries (the width
/// its path names), refusing a truncated entry, trailing bytes, or another
/// count.
pub fn parse_entry_bundle(bytes: &[u8], width: u64) -> Result<Vec<&[u8]>> {
    if width == 0 || width > TILE_WIDTH {
        return Err(bad("entry bundle", format!("width {width} is not in 1..=256")));
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if out.len() as u64 == width {
            return Err(bad("entry bundle", format!("bytes after the {width} entries")));
        }
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| bad("entry bundle", "a truncated length".into()))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(bad("entry bundle", "a truncated entry".into()));
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    if out.len() as u64 != width {
        return Err(bad(
            "entry bundle",
            format!("{} entries where the path says {width}", out.len()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_specs_examples() {
        assert_eq!(tile_path(0, 1234067, 256).unwrap(), "tile/0/x001/x234/067");
        assert_eq!(tile_path(1, 0, 17).unwrap(), "tile/1/000.p/17");
        assert_eq!(tile_path(63, 1000, 256).unwrap(), "tile/63/x001/000");
        assert_eq!(entries_path(5, 112).unwrap(), "tile/entries/005.p/112");
        assert_eq!(
            entries_path(u64::MAX, 256).unwrap(),
            "tile/entries/x018/x446/x744/x073/x709/x551/615"
        );
        assert!(tile_path(64, 0, 256).is_err());
        assert!(tile_path(0, 0, 0).is_err());
        assert!(tile_path(0, 0, 257).is_err());
    }

    /// "a tree of size 70,000 will be represented by 273 full level 0 tiles,
    /// one partial level 0 tile of width 112, one full level 1 tile, one
    /// partial level 1 tile of width 17, and one partial level 2 tile of
    /// width 1. Note that a tree of size 256 will be represented by a full
    /// level 0 tile and a partial level 1 tile of width 1."
    #[test]
    fn partial_widths_follow_the_specs_examples() {
        assert_eq!(70_000 / 256, 273);
        assert_eq!([0, 1, 2, 3].map(|l| partial_width(70_000, l)), [112, 17, 1, 0]);
        assert_eq!([0, 1, 2].map(|l| partial_width(256, l)), [0, 1, 0]);
        assert_eq!(partial_width(u64::MAX, 63), 0);
        assert_eq!(partial_width(u64::MAX, 7), 255);
    }

    #[test]
    fn entry_bundles_round_trip_and_refuse_what_does_not_fit() {
        let big = vec![7u8; MAX_ENTRY_BYTES];
        let entries: Vec<&[u8]> = vec![b"", b"a", &big];
        let b = encode_entry_bundle(&entries).unwrap();
        assert_eq!(&b[..5], &[0, 0, 0, 1, b'a']);
        assert_eq!(parse_entry_bundle(&b, 3).unwrap(), entries);
        assert!(parse_entry_bundle(&b, 2).is_err());
        assert!(parse_entry_bundle(&b, 4).is_err());
        assert!(parse_entry_bundle(&b[..b.len() - 1], 3).is_err());
        assert!(parse_entry_bundle(&b[..1], 1).is_err());
        assert!(encode_entry_bundle(&[&vec![0u8; MAX_ENTRY_BYTES + 1]]).is_err());
        assert!(encode_entry_bundle(&[]).is_err());
        assert!(encode_entry_bundle(&vec![&b""[..]; 257]).is_err());
    }
}
