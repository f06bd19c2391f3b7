//! RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs.
//!
//! Written here rather than taken from `ct-merkle` (which builds with the
//! same `sha2`): `ct-merkle` verifies from leaf *values* and generates proofs
//! only from an in-memory tree of values, while a log (and its tiles) keeps
//! leaf *hashes*; and the verifier should not rest on an unaudited crate's
//! index arithmetic. `ct-merkle` is kept as a judge in the tests instead
//! (`core/tests/tlog_merkle.rs`), beside pymerkle and tlog-scales
//! (`integration/tests/tlog_judges.rs`).
//!
//! Every function is total: no panic on any size, index or proof length.

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A SHA-256 node hash of the tree.
pub type Hash = [u8; 32];

/// The most hashes an inclusion or consistency proof can have: a tree of at
/// most 2^64 - 1 leaves is at most 64 levels high, and a consistency proof
/// adds at most one hash to that.
pub const MAX_PROOF_HASHES: usize = 65;

/// RFC 9162 §2.1.1: "The hash of an empty list is the hash of an empty
/// string: MTH({}) = HASH()."
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// RFC 9162 §2.1.1: "The hash of a list with one entry (also known as a
/// leaf hash) is: MTH({d[0]}) = HASH(0x00 || d[0])."
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// RFC 9162 §2.1.1: "MTH(D_n) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))".
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 9162 §2.1.1: "For n > 1, let k be the largest power of two smaller
/// than n (i.e., k < n <= 2k)." Callers guarantee `n > 1`.
fn split(n: usize) -> usize {
    let mut k = 1usize;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The Merkle Tree Hash of the leaves whose leaf hashes are given (RFC 9162
/// §2.1.1), over the whole slice.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof of leaf `index` in the tree of all of `leaves`
/// (RFC 9162 §2.1.3.1):
///
/// > Given an ordered list of n inputs to the tree, D_n = {d[0], d[1], ...,
/// > d[n-1]}, the Merkle inclusion proof PATH(m, D_n) for the (m+1)th input
/// > d[m], 0 <= m < n, is defined as follows: The proof for the single leaf
/// > in a tree with a one-element input list D[1] = {d[0]} is empty:
/// > PATH(0, {d[0]}) = {}. For n > 1, let k be the largest power of two
/// > smaller than n. The proof for the (m+1)th element d[m] in a list of n > m
/// > elements is then defined recursively as: PATH(m, D_n) = PATH(m, D[0:k])
/// > : MTH(D[k:n]) for m < k; and PATH(m, D_n) = PATH(m - k, D[k:n]) :
/// > MTH(D[0:k]) for m >= k.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>> {
    let m = usize::try_from(index)
        .ok()
        .filter(|m| *m < leaves.len())
        .ok_or_else(|| {
            Error::malformed(
                "inclusion proof request",
                format!("index {index} is not below the tree size {}", leaves.len()),
            )
        })?;
    let mut out = Vec::new();
    path(m, leaves, &mut out);
    Ok(out)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// The consistency proof from the tree of the first `old_size` leaves to the
/// tree of all of `leaves` (RFC 9162 §2.1.4.1):
///
/// > PROOF(m, D_n) = SUBPROOF(m, D_n, true). [...] The subproof for m = n is
/// > empty if m is the value for which PROOF was originally requested [...]:
/// > SUBPROOF(m, D[m], true) = {}. Otherwise, the subproof for m = n is the
/// > Merkle Tree Hash committing inputs D[0:m]: SUBPROOF(m, D[m], false) =
/// > {MTH(D[m])}. For m < n, let k be the largest power of two smaller than
/// > n. [...] If m <= k, the right subtree entries D[k:n] only exist in the
/// > current tree. [...] SUBPROOF(m, D_n, b) = SUBPROOF(m, D[0:k], b) :
/// > MTH(D[k:n]). If m > k, the left subtree entries D[0:k] are identical in
/// > both trees. [...] SUBPROOF(m, D_n, b) = SUBPROOF(m - k, D[k:n], false) :
/// > MTH(D[0:k]).
///
/// `old_size` must be in `1..=leaves.len()` (the RFC defines no proof from
/// the empty tree); equal sizes give the empty proof.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>> {
    let m = usize::try_from(old_size)
        .ok()
        .filter(|m| *m >= 1 && *m <= leaves.len())
        .ok_or_else(|| {
            Error::malformed(
                "consistency proof request",
                format!("old size {old_size} is not in 1..={}", leaves.len()),
            )
        })?;
    let mut out = Vec::new();
    subproof(m, leaves, true, &mut out);
    Ok(out)
}

fn subproof(m: usize, d: &[Hash], b: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !b {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], b, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// The consistency proof from the tree of `old_size` leaves to the tree of
/// `new_size` leaves (RFC 9162 §2.1.4.1, the same recursion as
/// [`consistency_proof`]), for a party that does not hold the leaves but
/// can get the Merkle Tree Hash of any subtree the recursion names:
/// `mth(start, end)` must return `MTH(D[start:end])` (a monitor reads them
/// from a log's tiles, `super::tiles::TileHashes::range`). Each range asked
/// for starts at a multiple of the largest power of two below its length,
/// as in the RFC's tree. `old_size` must be in `1..=new_size`.
pub fn consistency_proof_by(
    old_size: u64,
    new_size: u64,
    mth: &mut dyn FnMut(u64, u64) -> Result<Hash>,
) -> Result<Vec<Hash>> {
    if old_size == 0 || old_size > new_size {
        return Err(Error::malformed(
            "consistency proof request",
            format!("old size {old_size} is not in 1..={new_size}"),
        ));
    }
    let mut out = Vec::new();
    subproof_by(old_size, 0, new_size, true, mth, &mut out)?;
    Ok(out)
}

/// [`subproof`] over the subtree `D[start:start+n]`, by subtree hashes.
fn subproof_by(
    m: u64,
    start: u64,
    n: u64,
    b: bool,
    mth: &mut dyn FnMut(u64, u64) -> Result<Hash>,
    out: &mut Vec<Hash>,
) -> Result<()> {
    if m == n {
        if !b {
            out.push(mth(start, start + n)?);
        }
        return Ok(());
    }
    let k = split_u64(n);
    if m <= k {
        subproof_by(m, start, k, b, mth, out)?;
        out.push(mth(start + k, start + n)?);
    } else {
        subproof_by(m - k, start + k, n - k, false, mth, out)?;
        out.push(mth(start, start + k)?);
    }
    Ok(())
}

/// [`split`] for sizes that may not fit a `usize`; `n > 1`. Computed from
/// the bit length, not by doubling: above 2^63 doubling wraps to 0 and
/// would never stop (a checkpoint's size is the log's to choose).
fn split_u64(n: u64) -> u64 {
    1u64 << (63 - n.saturating_sub(1).max(1).leading_zeros())
}

fn mismatch(what: String, reason: &str) -> Error {
    Error::TlogProofMismatch {
        proof: what,
        reason: reason.to_owned(),
    }
}

/// Verifies that `leaf` (a leaf hash) is leaf `index` of the tree of
/// `size` leaves whose root is `root`, following RFC 9162 §2.1.3.2 step by
/// step (quoted in the body). Any failure is [`Error::TlogProofMismatch`].
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<()> {
    let what = || format!("inclusion proof of leaf {index} in a tree of {size}");
    // 1. "Compare leaf_index from the inclusion_proof_v2 structure against
    //    tree_size. If leaf_index is greater than or equal to tree_size, then
    //    fail the proof verification."
    if index >= size {
        return Err(mismatch(what(), "the index is not below the tree size"));
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(mismatch(what(), "the proof has more hashes than any tree is high"));
    }
    // 2. "Set fn to leaf_index and sn to tree_size - 1."
    let mut fnn = index;
    let mut sn = size - 1;
    // 3. "Set r to hash."
    let mut r = *leaf;
    // 4. "For each value p in the inclusion_path array:"
    for p in proof {
        // a. "If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0 {
            return Err(mismatch(what(), "the proof is longer than the path to the root"));
        }
        // b. "If LSB(fn) is set, or if fn is equal to sn, then:"
        if fnn & 1 == 1 || fnn == sn {
            // i. "Set r to HASH(0x01 || p || r)."
            r = node_hash(p, &r);
            // ii. "If LSB(fn) is not set, then right-shift both fn and sn
            //     equally until either LSB(fn) is set or fn is 0."
            while fnn & 1 == 0 && fnn != 0 {
                fnn >>= 1;
                sn >>= 1;
            }
        } else {
            // "Otherwise: i. Set r to HASH(0x01 || r || p)."
            r = node_hash(&r, p);
        }
        // c. "Finally, right-shift both fn and sn one time."
        fnn >>= 1;
        sn >>= 1;
    }
    // 5. "Compare sn to 0. Compare r against the root_hash. If sn is equal
    //    to 0 and r and the root_hash are equal, then the log has proven the
    //    inclusion of hash. Otherwise, fail the proof verification."
    if sn != 0 {
        return Err(mismatch(what(), "the proof is shorter than the path to the root"));
    }
    if r != *root {
        return Err(mismatch(what(), "the proof does not reach the root hash"));
    }
    Ok(())
}

/// Verifies that the tree of `new_size` leaves with root `new_root` extends
/// the tree of `old_size` leaves with root `old_root`, following RFC 9162
/// §2.1.4.2 step by step (quoted in the body), with `0 < old_size <=
/// new_size`. Equal sizes are consistent exactly when the roots are equal
/// and the proof is empty (the RFC's algorithm assumes `first < second`).
/// Any failure is [`Error::TlogProofMismatch`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    let what = || format!("consistency proof from tree size {old_size} to {new_size}");
    if old_size == 0 || old_size > new_size {
        return Err(mismatch(what(), "the sizes are not 0 < old <= new"));
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(mismatch(what(), "the proof has more hashes than any tree is high"));
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(mismatch(what(), "a proof between equal sizes must be empty"));
        }
        if old_root != new_root {
            return Err(mismatch(what(), "equal sizes with different root hashes"));
        }
        return Ok(());
    }
    // 1. "If consistency_path is an empty array, stop and fail the proof
    //    verification."
    if proof.is_empty() {
        return Err(mismatch(what(), "the proof is empty"));
    }
    // 2. "If first is an exact power of 2, then prepend first_hash to the
    //    consistency_path array."
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof.iter());
    // 3. "Set fn to first - 1 and sn to second - 1."
    let mut fnn = old_size - 1;
    let mut sn = new_size - 1;
    // 4. "If LSB(fn) is set, then right-shift both fn and sn equally until
    //    LSB(fn) is not set."
    while fnn & 1 == 1 {
        fnn >>= 1;
        sn >>= 1;
    }
    // 5. "Set both fr and sr to the first value in the consistency_path array."
    let mut fr = *path[0];
    let mut sr = *path[0];
    // 6. "For each subsequent value c in the consistency_path array:"
    for c in &path[1..] {
        // a. "If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0 {
            return Err(mismatch(what(), "the proof is longer than the path to the root"));
        }
        // b. "If LSB(fn) is set, or if fn is equal to sn, then:"
        if fnn & 1 == 1 || fnn == sn {
            // i. "Set fr to HASH(0x01 || c || fr)."
            fr = node_hash(c, &fr);
            // ii. "Set sr to HASH(0x01 || c || sr)."
            sr = node_hash(c, &sr);
            // iii. "If LSB(fn) is not set, then right-shift both fn and sn
            //      equally until either LSB(fn) is set or fn is 0."
            while fnn & 1 == 0 && fnn != 0 {
                fnn >>= 1;
                sn >>= 1;
            }
        } else {
            // "Otherwise: i. Set sr to HASH(0x01 || sr || c)."
            sr = node_hash(&sr, c);
        }
        // c. "Finally, right-shift both fn and sn one time."
        fnn >>= 1;
        sn >>= 1;
    }
    // 7. "After completing iterating through the consistency_path array as
    //    described above, verify that the fr calculated is equal to the
    //    first_hash supplied, that the sr calculated is equal to the
    //    second_hash supplied, and that sn is 0."
    if sn != 0 {
        return Err(mismatch(what(), "the proof is shorter than the path to the root"));
    }
    if fr != *old_root {
        return Err(mismatch(what(), "the proof does not reach the old root hash"));
    }
    if sr != *new_root {
        return Err(mismatch(what(), "the proof does not reach the new root hash"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
    }

    #[test]
    fn every_generated_proof_verifies_and_a_flipped_bit_does_not() {
        let all = leaves(40);
        for n in 1..=all.len() {
            let d = &all[..n];
            let r = root(d);
            for i in 0..n {
                let p = inclusion_proof(d, i as u64).unwrap();
                verify_inclusion(&d[i], i as u64, n as u64, &p, &r).unwrap();
                if n > 1 {
                    let other = (i + 1) % n;
                    assert!(verify_inclusion(&d[other], i as u64, n as u64, &p, &r).is_err());
                }
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 0x80;
                    let e = verify_inclusion(&d[i], i as u64, n as u64, &bad, &r).unwrap_err();
                    assert_eq!(e.check(), "tlog_proof_mismatch");
                }
            }
            for m in 1..=n {
                let p = consistency_proof(d, m as u64).unwrap();
                verify_consistency(m as u64, n as u64, &root(&d[..m]), &r, &p).unwrap();
                if m < n {
                    let mut bad = p.clone();
                    bad[0][31] ^= 1;
                    assert!(verify_consistency(m as u64, n as u64, &root(&d[..m]), &r, &bad).is_err());
                    let other = root(&d[1..m + 1]);
                    assert!(verify_consistency(m as u64, n as u64, &other, &r, &p).is_err());
                }
            }
        }
    }

    #[test]
    fn proofs_by_subtree_hashes_are_the_proofs_from_the_leaves() {
        let all = leaves(40);
        for n in 1..=all.len() {
            for m in 1..=n {
                let mut mth = |a: u64, b: u64| -> Result<Hash> { Ok(root(&all[a as usize..b as usize])) };
                let by = consistency_proof_by(m as u64, n as u64, &mut mth).unwrap();
                assert_eq!(by, consistency_proof(&all[..n], m as u64).unwrap(), "{m} -> {n}");
            }
        }
        let mut mth = |_: u64, _: u64| -> Result<Hash> { Ok([0; 32]) };
        assert!(consistency_proof_by(0, 3, &mut mth).is_err());
        // Sizes above 2^63 (found by the tlog_tiles fuzz target: doubling
        // to find the split wrapped to 0 and never ended).
        let p = consistency_proof_by((1 << 63) + 5, u64::MAX, &mut mth).unwrap();
        assert!(p.len() <= MAX_PROOF_HASHES, "{}", p.len());
        assert_eq!(split_u64(2), 1);
        assert_eq!(split_u64(3), 2);
        assert_eq!(split_u64(4), 2);
        assert_eq!(split_u64(5), 4);
        assert_eq!(split_u64(u64::MAX), 1 << 63);
        assert_eq!(split_u64((1 << 63) + 1), 1 << 63);
        assert!(consistency_proof_by(4, 3, &mut mth).is_err());
    }

    #[test]
    fn out_of_range_requests_and_sizes_are_errors_not_panics() {
        let d = leaves(3);
        assert!(inclusion_proof(&d, 3).is_err());
        assert!(inclusion_proof(&[], 0).is_err());
        assert!(consistency_proof(&d, 0).is_err());
        assert!(consistency_proof(&d, 4).is_err());
        let r = root(&d);
        assert!(verify_inclusion(&d[0], u64::MAX, u64::MAX, &[r; 64], &r).is_err());
        assert!(verify_inclusion(&d[0], 0, 0, &[], &r).is_err());
        assert!(verify_consistency(0, 3, &r, &r, &[]).is_err());
        assert!(verify_consistency(1, u64::MAX, &r, &r, &[r; 65]).is_err());
        assert!(verify_consistency(4, 3, &r, &r, &[]).is_err());
        assert!(verify_consistency(3, 3, &r, &r, &[r]).is_err());
    }

    #[test]
    fn the_empty_tree_and_one_leaf_have_the_rfc_roots() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // RFC 6962 test vector (certificate-transparency's testdata): the leaf hash of the empty entry.
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(root(&[leaf_hash(b"")]), leaf_hash(b""));
    }
}
