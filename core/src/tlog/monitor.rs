//! What a monitor decides (spec/transparency.md §11): given the checkpoint
//! a log serves, the tiles it serves, and checkpoints of that log other
//! parties saw (the monitor's own last view, each witness's latest
//! cosigned checkpoint, the checkpoint in a bundle's proof), whether they
//! can all be views of one append-only tree. Two checkpoints signed by the
//! log's key that cannot is a split view: the log showed different
//! histories to different parties, and the two signed notes are the
//! evidence. Fetching is the caller's (`cerro-registry`); here only bytes
//! and checks.

use serde::Serialize;

use super::checkpoint::SignedCheckpoint;
use super::merkle::{self, Hash};
use super::note::b64_encode;
use super::proof::TrustedLog;
use super::tiles::TileHashes;
use crate::error::{Error, Result};

/// A checkpoint and who served it ("log https://…", "witness https://…",
/// "the monitor's state", "the proof in bundle.ctp").
#[derive(Debug, Clone)]
pub struct Observed {
    /// Who served it, for the report.
    pub source: String,
    /// The checkpoint as served.
    pub checkpoint: SignedCheckpoint,
}

/// A root hash as a checkpoint writes it (base64).
pub fn root_base64(root: &Hash) -> String {
    b64_encode(root)
}

/// One side of a split view: who served which tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct View {
    /// Who served it.
    pub source: String,
    /// Its tree size.
    pub size: u64,
    /// Its root hash, base64 (as in the checkpoint).
    pub root: String,
}

impl View {
    fn of(o: &Observed) -> Self {
        let cp = o.checkpoint.checkpoint();
        View {
            source: o.source.clone(),
            size: cp.size(),
            root: b64_encode(cp.root()),
        }
    }
}

impl std::fmt::Display for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} served size {} root {}", self.source, self.size, self.root)
    }
}

/// Two checkpoints, both signed by the log, that are not views of one
/// append-only tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SplitView {
    /// The log's origin.
    pub origin: String,
    /// One checkpoint.
    pub a: View,
    /// The other.
    pub b: View,
    /// Which check failed.
    pub reason: String,
}

impl SplitView {
    /// As an error ([`Error::TlogSplitView`], exit 6).
    pub fn to_error(&self) -> Error {
        Error::TlogSplitView {
            origin: self.origin.clone(),
            detail: format!("{}; {}: {}", self.a, self.b, self.reason),
        }
    }
}

/// What [`compare`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Every pair that cannot be one tree (empty: no split view seen).
    pub split_views: Vec<SplitView>,
    /// Checkpoints left out, and why (another origin, or no valid
    /// signature by the log: not the log's word, so no evidence either way).
    pub ignored: Vec<(String, String)>,
}

/// Whether `cp` is a checkpoint of `log` signed by one of its keys
/// (signatures by other keys, e.g. witnesses', are ignored).
pub fn signed_by(log: &TrustedLog, cp: &SignedCheckpoint) -> Result<()> {
    if cp.checkpoint().origin() != log.origin() {
        return Err(Error::TlogUntrustedLog {
            origin: cp.checkpoint().origin().to_owned(),
        });
    }
    cp.note().verify(log.keys()).map(|_| ()).map_err(|e| match e {
        Error::NoteNotSigned { keys, .. } => Error::NoteNotSigned {
            note: format!("checkpoint of log {}", log.origin()),
            keys,
        },
        other => other,
    })
}

/// Compares `served`, the checkpoint `log` serves now, with `others`, and
/// each of `others` with one another:
///
/// 1. `served` must be signed by the log, and `tiles` (read for its size)
///    must hash to its root: else the log's own answer is refused
///    ([`Error::NoteNotSigned`], [`Error::TlogProofMismatch`]), and nothing
///    is compared.
/// 2. Each of `others` not signed by the log is left out (reported in
///    [`Comparison::ignored`]).
/// 3. One of the same size as `served` must have its root; a smaller one
///    must be consistent with it: the consistency proof computed from the
///    tiles (RFC 9162 §2.1.4.1) must verify from it to `served`
///    (§2.1.4.2); a larger one is a log that shrank. Two of `others` of the
///    same size must have the same root.
///
/// Each failure of 3 is a [`SplitView`].
pub fn compare(
    log: &TrustedLog,
    served: &Observed,
    others: &[Observed],
    tiles: &mut TileHashes<'_>,
) -> Result<Comparison> {
    signed_by(log, &served.checkpoint)?;
    let new = served.checkpoint.checkpoint();
    if tiles.size() != new.size() {
        return Err(Error::malformed(
            "tile read",
            format!(
                "tiles read for size {}, the checkpoint's is {}",
                tiles.size(),
                new.size()
            ),
        ));
    }
    let from_tiles = tiles.range(0, new.size())?;
    if from_tiles != *new.root() {
        return Err(Error::TlogProofMismatch {
            proof: format!("the tiles {} serves at tree size {}", served.source, new.size()),
            reason: "they do not hash to the checkpoint's root".to_owned(),
        });
    }
    let mut out = Comparison::default();
    let mut kept: Vec<&Observed> = Vec::new();
    for o in others {
        match signed_by(log, &o.checkpoint) {
            Ok(()) => kept.push(o),
            Err(e) => out.ignored.push((o.source.clone(), e.to_string())),
        }
    }
    let split = |a: &Observed, b: &Observed, reason: String| SplitView {
        origin: log.origin().to_owned(),
        a: View::of(a),
        b: View::of(b),
        reason,
    };
    for o in &kept {
        let old = o.checkpoint.checkpoint();
        if let Some(reason) = inconsistency(old.size(), old.root(), new.size(), new.root(), tiles)? {
            out.split_views.push(split(o, served, reason));
        }
    }
    for (i, a) in kept.iter().enumerate() {
        for b in &kept[i + 1..] {
            let (ca, cb) = (a.checkpoint.checkpoint(), b.checkpoint.checkpoint());
            if ca.size() == cb.size() && ca.root() != cb.root() {
                out.split_views
                    .push(split(a, b, "the same tree size with different root hashes".to_owned()));
            }
        }
    }
    Ok(out)
}

/// Why the tree (`old_size`, `old_root`) is not a prefix of the tree
/// (`new_size`, `new_root`) whose tiles are `tiles`, or `None` when it is.
fn inconsistency(
    old_size: u64,
    old_root: &Hash,
    new_size: u64,
    new_root: &Hash,
    tiles: &mut TileHashes<'_>,
) -> Result<Option<String>> {
    if old_size > new_size {
        return Ok(Some(format!(
            "the log now serves a smaller tree ({new_size}) than one it signed before ({old_size}): a log never shrinks"
        )));
    }
    if old_size == new_size {
        return Ok((old_root != new_root).then(|| "the same tree size with different root hashes".to_owned()));
    }
    if old_size == 0 {
        return Ok((*old_root != merkle::empty_root())
            .then(|| "a tree of size 0 with a root that is not the empty tree's".to_owned()));
    }
    let proof = tiles.consistency_proof(old_size)?;
    Ok(
        merkle::verify_consistency(old_size, new_size, old_root, new_root, &proof)
            .err()
            .map(|e| match e {
                Error::TlogProofMismatch { reason, .. } => format!(
                "the consistency proof from {old_size} to {new_size}, computed from the log's tiles, fails: {reason} \
                 (the tree the log serves does not extend the smaller one)"
            ),
                other => other.to_string(),
            }),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::tlog::checkpoint::Checkpoint;
    use crate::tlog::note::{Ed25519Cosigner, Ed25519NoteSigner, NoteSigner as _};
    use crate::tlog::tiles::tile_path;

    const ORIGIN: &str = "example.com/log";

    fn key() -> Ed25519NoteSigner {
        Ed25519NoteSigner::from_seed(ORIGIN, &[1; 32]).unwrap()
    }

    fn log() -> TrustedLog {
        TrustedLog::new(ORIGIN, vec![key().verifier_key().clone()]).unwrap()
    }

    fn leaves(n: u64, fork_at: Option<u64>) -> Vec<Hash> {
        (0..n)
            .map(|i| {
                let tag = u8::from(fork_at.is_some_and(|f| i >= f));
                merkle::leaf_hash(&[&i.to_be_bytes()[..], &[tag]].concat())
            })
            .collect()
    }

    fn observed(source: &str, tree: &[Hash], key: &Ed25519NoteSigner) -> Observed {
        let cp = Checkpoint::new(ORIGIN, tree.len() as u64, merkle::root(tree)).unwrap();
        Observed {
            source: source.to_owned(),
            checkpoint: SignedCheckpoint::sign(cp, key).unwrap(),
        }
    }

    fn tiles_of(leaves: &[Hash]) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut level: Vec<Hash> = leaves.to_vec();
        for l in 0u8..8 {
            if level.is_empty() {
                break;
            }
            for (t, chunk) in level.chunks(256).enumerate() {
                out.insert(tile_path(l, t as u64, chunk.len() as u64).unwrap(), chunk.concat());
            }
            level = level.chunks_exact(256).map(merkle::root).collect();
        }
        out
    }

    fn run(served_tree: &[Hash], tiles_tree: &[Hash], others: &[Observed]) -> Result<Comparison> {
        let tiles = tiles_of(tiles_tree);
        let mut fetch = |p: &str, _: u64| tiles.get(p).cloned().ok_or_else(|| Error::malformed("test", p));
        let mut th = TileHashes::new(served_tree.len() as u64, &mut fetch);
        compare(&log(), &observed("log", served_tree, &key()), others, &mut th)
    }

    #[test]
    fn a_log_that_grows_is_consistent_with_what_everyone_saw() {
        let t = leaves(700, None);
        let others = [
            observed("state", &t[..3], &key()),
            observed("w1", &t[..700], &key()),
            observed("w2", &t[..256], &key()),
        ];
        let c = run(&t, &t, &others).unwrap();
        assert_eq!(c, Comparison::default());
    }

    #[test]
    fn forks_and_shrinking_are_split_views_naming_both_sides() {
        let t = leaves(600, None);
        let fork = leaves(600, Some(300));
        // A witness saw the other branch, smaller, equal and larger.
        for (seen, want) in [
            (&fork[..400], "consistency proof from 400 to 600"),
            (&fork[..600], "same tree size with different root"),
        ] {
            let c = run(&t, &t, &[observed("witness w", seen, &key())]).unwrap();
            assert_eq!(c.split_views.len(), 1, "{c:?}");
            let s = &c.split_views[0];
            assert!(s.reason.contains(want), "{}", s.reason);
            assert_eq!((s.a.source.as_str(), s.b.source.as_str()), ("witness w", "log"));
            assert_eq!(s.b.size, 600);
            assert_eq!(s.to_error().kind(), crate::Kind::TlogSplitView);
            assert_eq!(s.to_error().exit_code(), crate::ExitCode::Transparency);
        }
        let bigger = leaves(900, None);
        let c = run(&t, &t, &[observed("state", &bigger, &key())]).unwrap();
        assert!(c.split_views[0].reason.contains("smaller tree"), "{c:?}");
        // Two others of one size that disagree, though each is older than the log's.
        let c = run(
            &t,
            &t,
            &[observed("w1", &t[..400], &key()), observed("w2", &fork[..400], &key())],
        )
        .unwrap();
        assert_eq!(c.split_views.len(), 2, "{c:?}");
        assert_eq!(c.split_views[1].a.source, "w1");
    }

    #[test]
    fn the_logs_own_answer_must_hold_and_unsigned_others_prove_nothing() {
        let t = leaves(300, None);
        // Tiles of another tree than the checkpoint's.
        let e = run(&t, &leaves(300, Some(5)), &[]).unwrap_err();
        assert_eq!(e.kind(), crate::Kind::TlogProofMismatch, "{e}");
        // The served checkpoint signed by another key.
        let impostor = Ed25519NoteSigner::from_seed(ORIGIN, &[9; 32]).unwrap();
        let tiles = tiles_of(&t);
        let mut fetch = |p: &str, _: u64| tiles.get(p).cloned().ok_or_else(|| Error::malformed("test", p));
        let mut th = TileHashes::new(300, &mut fetch);
        let e = compare(&log(), &observed("log", &t, &impostor), &[], &mut th).unwrap_err();
        assert_eq!(e.kind(), crate::Kind::NoteNotSigned, "{e}");
        // A fork signed by someone else is not the log's word: ignored.
        let fork = leaves(300, Some(1));
        let c = run(&t, &t, &[observed("w", &fork, &impostor)]).unwrap();
        assert!(c.split_views.is_empty());
        assert_eq!(c.ignored.len(), 1);
        // A witness's cosignature on the log's checkpoint does not hide the log's signature.
        let mut cosigned = observed("w", &t[..10], &key());
        let w = Ed25519Cosigner::from_seed("w", &[3; 32]).unwrap();
        cosigned.checkpoint.cosign(&w, 5).unwrap();
        assert_eq!(run(&t, &t, &[cosigned]).unwrap(), Comparison::default());
    }
}
