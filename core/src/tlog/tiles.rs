//! C2SP tlog-tiles (c2sp.org/tlog-tiles): tile and entry-bundle paths,
//! partial-tile widths, and the entry-bundle encoding. Paths and bytes
//! only: writing and serving them is the log's job.

use std::collections::BTreeMap;

use super::merkle::{self, Hash};
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

/// The most tiles one [`TileHashes`] fetches: a consistency proof names at
/// most 2 x 64 subtrees, each built from at most two tiles per level, so
/// this is far above any honest need and stops a reader from being walked
/// through a whole log.
pub const MAX_TILES_READ: usize = 4096;

/// The hashes of a tree of `size` leaves, read from its tlog-tiles ("Full
/// tiles MUST be exactly 256 hashes wide"; the tile at level *l* holds the
/// hashes of the subtrees of height 8*l*): what a monitor needs to compute
/// a consistency proof, or a root, without the entries. The tiles come
/// from `fetch(path, bytes)`, which must return the file at `path` below
/// the log's prefix, of exactly `bytes` bytes (a tile of another length is
/// refused here too). Nothing read is trusted until a root computed from it
/// equals a signed checkpoint's root: [`TileHashes::range`]`(0, size)`.
pub struct TileHashes<'a> {
    size: u64,
    fetch: &'a mut dyn FnMut(&str, u64) -> Result<Vec<u8>>,
    tiles: BTreeMap<(u8, u64), Vec<Hash>>,
}

impl std::fmt::Debug for TileHashes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TileHashes")
            .field("size", &self.size)
            .field("tiles", &self.tiles.len())
            .finish_non_exhaustive()
    }
}

impl<'a> TileHashes<'a> {
    /// A reader of the tiles of the tree of `size` leaves.
    pub fn new(size: u64, fetch: &'a mut dyn FnMut(&str, u64) -> Result<Vec<u8>>) -> Self {
        TileHashes {
            size,
            fetch,
            tiles: BTreeMap::new(),
        }
    }

    /// The tree size the tiles are read for.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The hash of the perfect subtree of height `height` (2^height leaves)
    /// at index `index` of its level: leaves `[index * 2^height, (index + 1)
    /// * 2^height)`, which must all be in the tree.
    pub fn node(&mut self, height: u8, index: u64) -> Result<Hash> {
        let level = height / 8;
        let within = u32::from(height % 8);
        let out_of_tree = || {
            bad(
                "tile read",
                format!(
                    "no subtree of height {height} at index {index} in a tree of {}",
                    self.size
                ),
            )
        };
        // The subtree covers `count` hashes of the tile level, from `first`.
        let first = index
            .checked_shl(within)
            .filter(|f| f >> within == index)
            .ok_or_else(out_of_tree)?;
        let count = 1u64 << within;
        let stored = if u32::from(level) * 8 >= 64 {
            0
        } else {
            self.size >> (8 * u32::from(level))
        };
        let end = first.checked_add(count).ok_or_else(out_of_tree)?;
        if end > stored {
            return Err(out_of_tree());
        }
        let tile = first / TILE_WIDTH;
        let width = (stored - tile * TILE_WIDTH).min(TILE_WIDTH);
        if !self.tiles.contains_key(&(level, tile)) {
            if self.tiles.len() >= MAX_TILES_READ {
                return Err(bad("tile read", format!("more than {MAX_TILES_READ} tiles needed")));
            }
            let path = tile_path(level, tile, width)?;
            let bytes = (self.fetch)(&path, width * 32)?;
            if bytes.len() as u64 != width * 32 {
                return Err(bad(
                    "tile",
                    format!(
                        "{path} has {} bytes, not the {} of {width} hashes",
                        bytes.len(),
                        width * 32
                    ),
                ));
            }
            let hashes = bytes
                .chunks_exact(32)
                .map(|c| {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(c);
                    h
                })
                .collect();
            self.tiles.insert((level, tile), hashes);
        }
        let hashes = self.tiles.get(&(level, tile)).ok_or_else(out_of_tree)?;
        let at = usize::try_from(first % TILE_WIDTH).map_err(|_| out_of_tree())?;
        let n = usize::try_from(count).map_err(|_| out_of_tree())?;
        let part = hashes.get(at..at + n).ok_or_else(out_of_tree)?;
        Ok(merkle::root(part))
    }

    /// `MTH(D[start:end])` (RFC 9162 §2.1.1) of a range that starts at a
    /// multiple of the largest power of two below its length (every range
    /// of the RFC's tree, e.g. `[0, size)`), from the perfect subtrees it
    /// is made of, largest first, hashed together from the right. The empty
    /// range of the empty tree is the empty root.
    pub fn range(&mut self, start: u64, end: u64) -> Result<Hash> {
        if start == 0 && end == 0 {
            return Ok(merkle::empty_root());
        }
        if start >= end || end > self.size {
            return Err(bad(
                "tile read",
                format!("range [{start}, {end}) is not in a tree of {}", self.size),
            ));
        }
        let mut parts = Vec::new();
        let mut at = start;
        while at < end {
            let mut height = if at == 0 { 63 } else { at.trailing_zeros().min(63) };
            while height > 0 && (1u64 << height) > end - at {
                height -= 1;
            }
            parts.push(self.node(height as u8, at >> height)?);
            at += 1u64 << height;
        }
        let mut acc = parts.pop().unwrap_or_else(merkle::empty_root);
        while let Some(left) = parts.pop() {
            acc = merkle::node_hash(&left, &acc);
        }
        Ok(acc)
    }

    /// The consistency proof from the tree of `old_size` leaves to this
    /// tree ([`merkle::consistency_proof_by`] over [`TileHashes::range`]).
    pub fn consistency_proof(&mut self, old_size: u64) -> Result<Vec<Hash>> {
        let size = self.size;
        merkle::consistency_proof_by(old_size, size, &mut |a, b| self.range(a, b))
    }
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

    /// The tiles of a tree of `n` leaves as a log writes them (full tiles,
    /// and the partial tile of each level), by path.
    fn tiles_of(leaves: &[Hash]) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut level_hashes: Vec<Hash> = leaves.to_vec();
        for level in 0u8..8 {
            if level_hashes.is_empty() {
                break;
            }
            for (t, chunk) in level_hashes.chunks(256).enumerate() {
                out.insert(tile_path(level, t as u64, chunk.len() as u64).unwrap(), chunk.concat());
            }
            level_hashes = level_hashes.chunks_exact(256).map(merkle::root).collect();
        }
        out
    }

    #[test]
    fn roots_and_consistency_proofs_from_tiles_are_the_ones_from_the_leaves() {
        let all: Vec<Hash> = (0..70_000u32).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();
        for n in [1usize, 2, 255, 256, 257, 511, 512, 1000, 65_536, 65_537, 70_000] {
            let tiles = tiles_of(&all[..n]);
            let mut fetched = 0;
            let mut fetch = |p: &str, len: u64| -> Result<Vec<u8>> {
                fetched += 1;
                let t = tiles.get(p).cloned().ok_or_else(|| bad("test", format!("no {p}")))?;
                assert_eq!(t.len() as u64, len, "{p}");
                Ok(t)
            };
            let mut th = TileHashes::new(n as u64, &mut fetch);
            let new = merkle::root(&all[..n]);
            assert_eq!(th.range(0, n as u64).unwrap(), new, "{n}");
            for m in [1usize, 3, 255, 256, 300, 999, 65_536] {
                if m > n {
                    continue;
                }
                let p = th.consistency_proof(m as u64).unwrap();
                let old = merkle::root(&all[..m]);
                merkle::verify_consistency(m as u64, n as u64, &old, &new, &p).unwrap();
            }
            drop(th);
            assert!(fetched < 64, "{n}: {fetched} tiles");
        }
    }

    #[test]
    fn tiles_of_the_wrong_length_or_outside_the_tree_are_refused() {
        let all: Vec<Hash> = (0..10u32).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect();
        let mut short = |_: &str, _: u64| -> Result<Vec<u8>> { Ok(vec![0u8; 31]) };
        let mut th = TileHashes::new(10, &mut short);
        assert!(th.range(0, 10).is_err());
        let tiles = tiles_of(&all);
        let mut fetch = |p: &str, _: u64| tiles.get(p).cloned().ok_or_else(|| bad("test", p.to_owned()));
        let mut th = TileHashes::new(10, &mut fetch);
        assert!(th.range(0, 11).is_err());
        assert!(th.node(4, 0).is_err());
        assert!(th.node(63, u64::MAX).is_err());
        assert!(th.consistency_proof(11).is_err());
        assert_eq!(th.range(0, 0).unwrap(), merkle::empty_root());
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
