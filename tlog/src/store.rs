//! The log directory: C2SP tlog-tiles' static layout, append-only.
//!
//! ```text
//! DIR/checkpoint                      the signed checkpoint (tlog-checkpoint)
//! DIR/tile/<L>/<N>[.p/<W>]            hash tiles (core's tiles::tile_path)
//! DIR/tile/entries/<N>[.p/<W>]        entry bundles (core's tiles::entries_path)
//! ```
//!
//! Nothing else is in the directory, so it can be served as it is. The
//! log's private key is not in it (the operator names its file).
//!
//! **Append** ([`Log::append`], one batch): the entry bundles, then the
//! tiles, level by level, are each written to a new file, fsynced and
//! renamed into place (`cerro_core::file::write_atomic`, which also
//! fsyncs the directory; a directory created for them is fsynced into its
//! parent); then the checkpoint for the new size is signed and replaces the
//! old one the same way; only then does `append` return. A crash before the
//! checkpoint's rename leaves the old checkpoint, which the tiles and
//! bundles of its size still match: files beyond it were never covered by a
//! signed checkpoint and the next batch rewrites them. A crash after it
//! leaves the new checkpoint with every file it covers already durable.
//! So what `append` acknowledged survives, and every checkpoint the log
//! ever wrote is a prefix of the next: the tree never forks.
//!
//! **Restart** ([`Log::open`]): the checkpoint is read and its signature
//! verified with the log's key; the partial tiles of its size at every
//! level, and its partial entry bundle, are read; the root they give must be
//! the checkpoint's, and the partial bundle's entries must hash to the
//! partial level-0 tile. Anything else is refused ([`Error::Corrupt`]).
//! A complete checkpoint a kill left under its temporary name is adopted,
//! and files a killed batch wrote past the checkpoint are removed.
//! [`Log::verify_all`] rereads every bundle and tile.
//!
//! Partial tiles (tlog-tiles §Partial Tiles): "Logs MUST serve partial tiles
//! corresponding to tree sizes for which a checkpoint was produced, but MAY
//! delete any partial tile once the corresponding full tile is either
//! available": the partial tiles and bundles of a tile that a batch filled
//! are deleted after that batch's checkpoint is durable, never before.
//!
//! One writer per directory: the directory itself is locked (`flock`) for
//! as long as the [`Log`] lives.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use cerro_core::tlog::merkle::{self, Hash};
use cerro_core::tlog::note::{Ed25519NoteSigner, NoteSigner as _, VerifierKey, MAX_NOTE_BYTES};
use cerro_core::tlog::tiles::{self, TILE_WIDTH};
use cerro_core::tlog::{
    release_entry_for, revocation_entry_for, Checkpoint, SignedCheckpoint, TlogProof, RELEASE_ENTRY_PREFIX,
    REVOCATION_ENTRY_PREFIX,
};

use crate::{Error, IoContext as _, Result};

/// The checkpoint's path below the log directory (tlog-tiles §Checkpoints).
pub const CHECKPOINT: &str = "checkpoint";

/// The most entries one batch takes (16 full tiles).
pub const MAX_BATCH: usize = 4096;

/// Tile levels of a tree of at most 2^64 - 1 leaves (8 bits per level).
const LEVELS: usize = 8;

const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// Checks that `entry` is a Cerro Torre log entry, exactly as
/// `cerro_core::tlog::release_entry` writes it: the prefix line and
/// `sha256:<64 lowercase hex>` (spec/transparency.md §1). A log holds this
/// short digest, never the envelope; any other bytes are refused.
pub fn check_entry(entry: &[u8]) -> Result<()> {
    let bad = |reason: &str| Error::Entry {
        reason: reason.to_owned(),
    };
    let text = std::str::from_utf8(entry).map_err(|_| bad("not UTF-8"))?;
    // A release's entry, or a revocation list's (spec/trust-store.md §10.4).
    type MakeEntry = fn(&Digest) -> Vec<u8>;
    let kinds: [(&str, MakeEntry); 2] = [
        (RELEASE_ENTRY_PREFIX, release_entry_for),
        (REVOCATION_ENTRY_PREFIX, revocation_entry_for),
    ];
    let (digest, make) = kinds
        .iter()
        .find_map(|(prefix, make)| {
            text.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('\n'))
                .and_then(|r| r.strip_suffix('\n'))
                .map(|d| (d, make))
        })
        .ok_or_else(|| {
            bad(&format!(
                "not the two lines `{RELEASE_ENTRY_PREFIX}` (or `{REVOCATION_ENTRY_PREFIX}`) and `sha256:<hex>`"
            ))
        })?;
    let d = Digest::parse(digest).map_err(|_| bad("the second line is not `sha256:<64 hex>`"))?;
    if make(&d) != entry {
        return Err(bad("not in its one spelling (lowercase hex)"));
    }
    Ok(())
}

/// An open log: its directory (locked), key, checkpoint, and the right edge
/// of its tree (the partial tile at each level and the partial entry
/// bundle), which is all an append needs.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    /// Holds the directory's `flock` while the log is open.
    _lock: File,
    signer: Ed25519NoteSigner,
    checkpoint: SignedCheckpoint,
    /// `partial[l]`: the hashes of the partial tile at level `l` for the
    /// checkpoint's size (`partial_width(size, l)` of them; none when 0).
    partial: Vec<Vec<Hash>>,
    /// The entries of the partial entry bundle.
    partial_entries: Vec<Vec<u8>>,
    /// Set by a failed append: nothing more is accepted (see [`Error::Stopped`]).
    stopped: bool,
}

impl Log {
    /// Starts a new, empty log in `dir` (created if missing; it must be
    /// empty) whose origin is the key's name, and writes its checkpoint of
    /// size 0.
    pub fn create(dir: &Path, signer: Ed25519NoteSigner) -> Result<Self> {
        cerro_core::file::create_dir(dir, DIR_MODE)?;
        let lock = lock(dir)?;
        if fs::read_dir(dir).ctx("listing", dir)?.next().is_some() {
            return Err(Error::NotEmpty { dir: dir.to_path_buf() });
        }
        let cp = Checkpoint::new(signer.verifier_key().name(), 0, merkle::empty_root())?;
        let checkpoint = SignedCheckpoint::sign(cp, &signer)?;
        let log = Log {
            dir: dir.to_path_buf(),
            _lock: lock,
            signer,
            checkpoint,
            partial: vec![Vec::new(); LEVELS],
            partial_entries: Vec::new(),
            stopped: false,
        };
        log.write(CHECKPOINT, &log.checkpoint.to_bytes())?;
        Ok(log)
    }

    /// Opens the log in `dir` with its key, reading the state back from
    /// the directory (see the module's documentation), and refusing one
    /// whose checkpoint is not signed by `signer`'s key for its name, or
    /// whose tiles and bundles disagree with its checkpoint.
    pub fn open(dir: &Path, signer: Ed25519NoteSigner) -> Result<Self> {
        let lock = lock(dir)?;
        let bytes =
            cerro_core::file::read_bounded(&dir.join(CHECKPOINT), MAX_NOTE_BYTES as u64, "the log's checkpoint")?;
        let checkpoint = verified_checkpoint(dir, &signer, &bytes)?;
        let mut log = Log {
            dir: dir.to_path_buf(),
            _lock: lock,
            signer,
            checkpoint,
            partial: vec![Vec::new(); LEVELS],
            partial_entries: Vec::new(),
            stopped: false,
        };
        log.adopt_leftover_checkpoint()?;
        log.load_right_edge()?;
        log.remove_uncommitted()?;
        Ok(log)
    }

    /// Reads the right edge of the checkpoint's tree (the partial tile at
    /// every level and the partial bundle) and checks it against the
    /// checkpoint: the bundle's entries hash to the level-0 tile, and the
    /// edge gives the checkpoint's root.
    fn load_right_edge(&mut self) -> Result<()> {
        let size = self.size();
        let mut partial = vec![Vec::new(); LEVELS];
        for level in 0..LEVELS as u8 {
            let width = tiles::partial_width(size, level);
            if width > 0 {
                let n = (size >> (8 * u32::from(level))) / TILE_WIDTH;
                partial[usize::from(level)] = self.read_tile(level, n, width)?;
            }
        }
        let mut partial_entries = Vec::new();
        let width = tiles::partial_width(size, 0);
        if width > 0 {
            partial_entries = self.read_bundle(size / TILE_WIDTH, width)?;
            for (i, e) in partial_entries.iter().enumerate() {
                if merkle::leaf_hash(e) != partial[0][i] {
                    return Err(self.corrupt(format!(
                        "entry {} of the partial bundle does not hash to its level-0 tile",
                        size / TILE_WIDTH * TILE_WIDTH + i as u64
                    )));
                }
            }
        }
        if root_of(&partial) != *self.checkpoint.checkpoint().root() {
            return Err(self.corrupt(format!("the tiles of size {size} do not give the checkpoint's root")));
        }
        self.partial = partial;
        self.partial_entries = partial_entries;
        Ok(())
    }

    /// A kill between linking the new checkpoint under a temporary name
    /// and renaming it (`cerro_core::file`) leaves a complete checkpoint,
    /// signed by the log, as `.checkpoint.*.tmp` in the served directory.
    /// Every file of its tree was durable before it was signed, so it is
    /// adopted (renamed into place) when it verifies and is larger than the
    /// checkpoint: rolling back past a checkpoint the log signed would let
    /// that file prove a fork. If its tiles do not check out, the log is
    /// refused ([`Error::Corrupt`], the file kept for the operator). Any
    /// other leftover checkpoint file is removed.
    fn adopt_leftover_checkpoint(&mut self) -> Result<()> {
        let mut leftovers = Vec::new();
        for e in fs::read_dir(&self.dir).ctx("listing", &self.dir)? {
            let e = e.ctx("listing", &self.dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!(".{CHECKPOINT}.")) && name.ends_with(".tmp") {
                leftovers.push(e.path());
            }
        }
        let mut best: Option<(SignedCheckpoint, PathBuf)> = None;
        for p in &leftovers {
            let Ok(bytes) = cerro_core::file::read_bounded(p, MAX_NOTE_BYTES as u64, "a leftover checkpoint") else {
                continue;
            };
            let Ok(cp) = verified_checkpoint(&self.dir, &self.signer, &bytes) else {
                continue;
            };
            let larger = best.as_ref().map_or(self.size(), |(b, _)| b.checkpoint().size());
            if cp.checkpoint().size() > larger {
                best = Some((cp, p.clone()));
            }
        }
        if let Some((cp, path)) = best {
            let size = cp.checkpoint().size();
            self.checkpoint = cp;
            if let Err(e) = self.load_right_edge() {
                return Err(self.corrupt(format!(
                    "{} is a checkpoint of size {size} signed by the log, but its tree is not on disk ({e})",
                    path.display()
                )));
            }
            let to = self.dir.join(CHECKPOINT);
            fs::rename(&path, &to).ctx("adopting the leftover checkpoint", &path)?;
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .ctx("syncing directory", &self.dir)?;
        }
        for p in leftovers.iter().filter(|p| p.exists()) {
            fs::remove_file(p).ctx("removing a leftover checkpoint", p)?;
        }
        Ok(())
    }

    /// Removes the files a killed batch wrote past the checkpoint (no
    /// checkpoint covers them; the next batch would write them again with
    /// other entries): full tiles and bundles from the first one the
    /// checkpoint does not cover, and partial ones wider than the
    /// checkpoint's or of a later tile. A batch writes at most
    /// `MAX_BATCH / 256 + 1` tiles per level, in order, so the scan stops
    /// there. After this the directory serves exactly the checkpoint's tree.
    fn remove_uncommitted(&self) -> Result<()> {
        let size = self.size();
        let scan = MAX_BATCH as u64 / TILE_WIDTH + 2;
        for level in 0..LEVELS as u8 {
            let count = size >> (8 * u32::from(level));
            self.prune(|m, w| tiles::tile_path(level, m, w), count, scan)?;
        }
        self.prune(tiles::entries_path, size, scan)
    }

    /// [`Log::remove_uncommitted`] for one level (or the bundles) holding
    /// `count` committed hashes (or entries).
    fn prune(&self, path: impl Fn(u64, u64) -> cerro_core::Result<String>, count: u64, scan: u64) -> Result<()> {
        let (n, w) = (count / TILE_WIDTH, count % TILE_WIDTH);
        for m in n..n.saturating_add(scan) {
            let full = self.dir.join(path(m, TILE_WIDTH)?);
            if full.is_file() {
                fs::remove_file(&full).ctx("removing an uncommitted tile", &full)?;
            }
            let one = self.dir.join(path(m, 1)?);
            let Some(partials) = one.parent().filter(|p| p.is_dir()) else {
                continue;
            };
            for e in fs::read_dir(partials).ctx("listing", partials)? {
                let e = e.ctx("listing", partials)?;
                let width = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok());
                if m > n || width.is_none_or(|width| width > w) {
                    let p = e.path();
                    fs::remove_file(&p).ctx("removing an uncommitted tile", &p)?;
                }
            }
        }
        Ok(())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The number of entries (the current checkpoint's size).
    pub fn size(&self) -> u64 {
        self.checkpoint.checkpoint().size()
    }

    /// The current signed checkpoint (the one in the directory).
    pub fn checkpoint(&self) -> &SignedCheckpoint {
        &self.checkpoint
    }

    /// Appends one batch of entries (each checked by [`check_entry`]) and
    /// returns the index of the first. When it returns `Ok`, the entries,
    /// their tiles and the checkpoint covering them are on disk (fsynced):
    /// this is the acknowledgement. An `Err` after the first write stops
    /// the log ([`Error::Stopped`] from then on); reopening it reads the
    /// state back from its checkpoint.
    pub fn append(&mut self, entries: &[Vec<u8>]) -> Result<u64> {
        if self.stopped {
            return Err(Error::Stopped);
        }
        if entries.is_empty() || entries.len() > MAX_BATCH {
            return Err(Error::Batch(entries.len()));
        }
        for e in entries {
            check_entry(e)?;
        }
        let r = self.append_checked(entries);
        if r.is_err() {
            self.stopped = true;
        }
        r
    }

    fn append_checked(&mut self, entries: &[Vec<u8>]) -> Result<u64> {
        let old = self.size();
        let new = old
            .checked_add(entries.len() as u64)
            .ok_or(Error::Batch(entries.len()))?;
        // 1. Entry bundles: the partial one completed or extended, then new ones.
        let mut bundle = self.partial_entries.clone();
        let mut n = old / TILE_WIDTH;
        let mut filled_bundles = Vec::new();
        for e in entries {
            bundle.push(e.clone());
            if bundle.len() as u64 == TILE_WIDTH {
                self.write(&tiles::entries_path(n, TILE_WIDTH)?, &encode_bundle(&bundle)?)?;
                filled_bundles.push(n);
                bundle.clear();
                n += 1;
            }
        }
        if !bundle.is_empty() {
            self.write(&tiles::entries_path(n, bundle.len() as u64)?, &encode_bundle(&bundle)?)?;
        }
        // 2. Tiles, level by level: a tile filled at one level adds its
        //    Merkle Tree Hash to the level above.
        let mut partial = self.partial.clone();
        let mut filled_tiles = Vec::new();
        let mut added: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let mut level = 0u8;
        while !added.is_empty() {
            let tile = partial.get_mut(usize::from(level)).ok_or(Error::Batch(entries.len()))?;
            let mut n = (old >> (8 * u32::from(level))) / TILE_WIDTH;
            let mut up = Vec::new();
            for h in added {
                tile.push(h);
                if tile.len() as u64 == TILE_WIDTH {
                    self.write(&tiles::tile_path(level, n, TILE_WIDTH)?, &tile.concat())?;
                    up.push(merkle::root(tile));
                    filled_tiles.push((level, n));
                    tile.clear();
                    n += 1;
                }
            }
            if !tile.is_empty() {
                self.write(&tiles::tile_path(level, n, tile.len() as u64)?, &tile.concat())?;
            }
            added = up;
            level += 1;
        }
        // 3. The checkpoint, last.
        let cp = Checkpoint::new(self.signer.verifier_key().name(), new, root_of(&partial))?;
        let checkpoint = SignedCheckpoint::sign(cp, &self.signer)?;
        self.write(CHECKPOINT, &checkpoint.to_bytes())?;
        self.checkpoint = checkpoint;
        self.partial = partial;
        self.partial_entries = bundle;
        // 4. Partial files of the tiles now full are no longer needed.
        for n in filled_bundles {
            self.remove_partials(&tiles::entries_path(n, 1)?);
        }
        for (level, n) in filled_tiles {
            self.remove_partials(&tiles::tile_path(level, n, 1)?);
        }
        Ok(old)
    }

    /// Adds witnesses' answers to the current checkpoint (each `(answer,
    /// witness key)`, see `SignedCheckpoint::add_cosignatures`) and
    /// publishes it with them: the checkpoint file is replaced atomically
    /// and fsynced, its text unchanged. Returns, per answer, whether it was
    /// taken; when the file cannot be written, none is (the checkpoint in
    /// memory stays as the file is).
    pub fn add_cosignatures(&mut self, answers: &[(Vec<u8>, VerifierKey)]) -> Vec<std::result::Result<(), String>> {
        let mut checkpoint = self.checkpoint.clone();
        let mut results: Vec<std::result::Result<(), String>> = answers
            .iter()
            .map(|(answer, key)| checkpoint.add_cosignatures(answer, key).map_err(|e| e.to_string()))
            .collect();
        if results.iter().any(|r| r.is_ok()) {
            match self.write(CHECKPOINT, &checkpoint.to_bytes()) {
                Ok(()) => self.checkpoint = checkpoint,
                Err(e) => {
                    for r in &mut results {
                        if r.is_ok() {
                            *r = Err(format!("publishing the cosigned checkpoint: {e}"));
                        }
                    }
                }
            }
        }
        results
    }

    /// Removes the `<N>.p/` directory of the partial path `one` (width 1).
    /// Best effort: the batch is already acknowledged by its checkpoint, and
    /// a partial tile left behind is still valid (the spec only allows
    /// deleting it), so a failure here is not the append's.
    fn remove_partials(&self, one: &str) {
        if let Some(dir) = Path::new(one).parent() {
            let _ = fs::remove_dir_all(self.dir.join(dir));
        }
    }

    /// The signed inclusion proof (c2sp.org/tlog-proof) of entry `index`
    /// under the current checkpoint.
    pub fn proof(&self, index: u64) -> Result<TlogProof> {
        let path = self.inclusion_proof(index, self.size())?;
        Ok(TlogProof::new(index, path, self.checkpoint.clone())?)
    }

    /// The proofs of entries `[from, to)` under the current checkpoint, as
    /// [`Log::proof`] makes them, reading each tile once (the answers to
    /// one batch).
    pub fn proofs(&self, from: u64, to: u64) -> Result<Vec<TlogProof>> {
        let size = self.size();
        if from > to || to > size {
            return Err(cerro_core::Error::malformed(
                "inclusion proof request",
                format!("entries {from}..{to} are not in the tree of {size}"),
            )
            .into());
        }
        let mut h = Hashes::new(self);
        (from..to)
            .map(|i| {
                let mut path = Vec::new();
                h.path(i, 0, size, &mut path)?;
                Ok(TlogProof::new(i, path, self.checkpoint.clone())?)
            })
            .collect()
    }

    /// The RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of
    /// the first `size` entries (at most the current size), from the tiles.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        self.check_size(size)?;
        if index >= size {
            return Err(cerro_core::Error::malformed(
                "inclusion proof request",
                format!("index {index} is not below the tree size {size}"),
            )
            .into());
        }
        let mut h = Hashes::new(self);
        let mut out = Vec::new();
        h.path(index, 0, size, &mut out)?;
        Ok(out)
    }

    /// The RFC 9162 §2.1.4.1 consistency proof from the tree of `old`
    /// entries to the tree of `new` (`1 <= old <= new <=` the current size).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        self.check_size(new)?;
        if old == 0 || old > new {
            return Err(cerro_core::Error::malformed(
                "consistency proof request",
                format!("old size {old} is not in 1..={new}"),
            )
            .into());
        }
        let mut h = Hashes::new(self);
        let mut out = Vec::new();
        h.subproof(old, 0, new, true, &mut out)?;
        Ok(out)
    }

    /// The root of the tree of the first `size` entries, from the tiles.
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        self.check_size(size)?;
        if size == 0 {
            return Ok(merkle::empty_root());
        }
        Hashes::new(self).subtree(0, size)
    }

    /// The entries `[from, to)`, read from the entry bundles.
    pub fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>> {
        self.check_size(to)?;
        let mut out = Vec::new();
        let mut i = from;
        while i < to {
            let n = i / TILE_WIDTH;
            let bundle = if n < self.size() / TILE_WIDTH {
                self.read_bundle(n, TILE_WIDTH)?
            } else {
                self.partial_entries.clone()
            };
            let start = (i % TILE_WIDTH) as usize;
            let end = (to - n * TILE_WIDTH).min(TILE_WIDTH) as usize;
            let got = bundle
                .get(start..end)
                .ok_or_else(|| self.corrupt(format!("entry bundle {n} is short")))?;
            out.extend(got.iter().cloned());
            i = n * TILE_WIDTH + end as u64;
        }
        Ok(out)
    }

    /// Rereads every entry bundle and tile of the current size and checks
    /// each against the entries: the leaf hashes of the bundles, every full
    /// and partial tile at every level, and the checkpoint's root.
    pub fn verify_all(&self) -> Result<()> {
        let size = self.size();
        let entries = self.entries(0, size)?;
        let leaves: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
        let mut hashes = leaves.clone();
        for level in 0..LEVELS as u8 {
            if hashes.is_empty() {
                break;
            }
            let mut up = Vec::new();
            for (n, chunk) in hashes.chunks(TILE_WIDTH as usize).enumerate() {
                let tile = if chunk.len() as u64 == TILE_WIDTH {
                    up.push(merkle::root(chunk));
                    self.read_tile(level, n as u64, TILE_WIDTH)?
                } else {
                    self.read_tile(level, n as u64, chunk.len() as u64)?
                };
                if tile != chunk {
                    return Err(self.corrupt(format!("tile {level}/{n} disagrees with the entries")));
                }
            }
            hashes = up;
        }
        if merkle::root(&leaves) != *self.checkpoint.checkpoint().root() {
            return Err(self.corrupt("the entries do not give the checkpoint's root".into()));
        }
        Ok(())
    }

    fn check_size(&self, size: u64) -> Result<()> {
        if size > self.size() {
            return Err(cerro_core::Error::malformed(
                "tree size",
                format!("{size} is beyond the log's size {}", self.size()),
            )
            .into());
        }
        Ok(())
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::Corrupt {
            dir: self.dir.clone(),
            reason,
        }
    }

    /// Reads tile `n` of `level` with `width` hashes: exactly `32 * width` bytes.
    fn read_tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<Hash>> {
        let rel = tiles::tile_path(level, n, width)?;
        let bytes = self.read_file(&rel, 32 * width)?;
        if bytes.len() as u64 != 32 * width {
            return Err(self.corrupt(format!("{rel} has {} bytes, not {}", bytes.len(), 32 * width)));
        }
        Ok(bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect())
    }

    /// Reads entry bundle `n` with `width` entries (core's strict parser).
    fn read_bundle(&self, n: u64, width: u64) -> Result<Vec<Vec<u8>>> {
        let rel = tiles::entries_path(n, width)?;
        let bytes = self.read_file(&rel, width * (2 + tiles::MAX_ENTRY_BYTES as u64))?;
        let entries = tiles::parse_entry_bundle(&bytes, width).map_err(|e| self.corrupt(format!("{rel}: {e}")))?;
        Ok(entries.into_iter().map(<[u8]>::to_vec).collect())
    }

    fn read_file(&self, rel: &str, limit: u64) -> Result<Vec<u8>> {
        let path = self.dir.join(rel);
        match cerro_core::file::read_bounded(&path, limit, rel) {
            Ok(b) => Ok(b),
            Err(cerro_core::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(self.corrupt(format!("{rel} is missing")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes `rel` below the directory atomically and durably: the file
    /// fsynced and renamed, its directory fsynced, and any directory created
    /// for it fsynced into its parent.
    fn write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(rel);
        if let Some(parent) = Path::new(rel).parent() {
            let mut at = self.dir.clone();
            for c in parent.components() {
                let next = at.join(c);
                if !next.is_dir() {
                    match fs::create_dir(&next) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e).ctx("creating directory", &next),
                    }
                    fs::set_permissions(&next, std::os::unix::fs::PermissionsExt::from_mode(DIR_MODE))
                        .ctx("setting permissions of", &next)?;
                    File::open(&at)
                        .and_then(|d| d.sync_all())
                        .ctx("syncing directory", &at)?;
                }
                at = next;
            }
        }
        cerro_core::file::write_atomic(&path, bytes, FILE_MODE)?;
        Ok(())
    }
}

fn encode_bundle(entries: &[Vec<u8>]) -> Result<Vec<u8>> {
    let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    Ok(tiles::encode_entry_bundle(&refs)?)
}

/// Parses `bytes` as the log's checkpoint: signed by `signer`'s key, with
/// the key's name as its origin.
fn verified_checkpoint(dir: &Path, signer: &Ed25519NoteSigner, bytes: &[u8]) -> Result<SignedCheckpoint> {
    let checkpoint = SignedCheckpoint::parse(bytes)?;
    checkpoint.note().verify(std::slice::from_ref(signer.verifier_key()))?;
    let origin = checkpoint.checkpoint().origin();
    if origin != signer.verifier_key().name() {
        return Err(Error::Corrupt {
            dir: dir.to_path_buf(),
            reason: format!(
                "its checkpoint's origin is {origin:?}, not the key's name {:?}",
                signer.verifier_key().name()
            ),
        });
    }
    Ok(checkpoint)
}

/// Takes the directory's exclusive `flock` without waiting.
pub(crate) fn lock(dir: &Path) -> Result<File> {
    let f = File::open(dir).ctx("opening the log directory", dir)?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(f),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::Locked { dir: dir.to_path_buf() }),
        Err(e) => Err(std::io::Error::from(e)).ctx("locking the log directory", dir),
    }
}

/// The root of the tree whose right edge is `partial` (the partial tile at
/// each level). The tree of `s = sum(w_l * 256^l)` leaves is, by RFC 9162
/// §2.1.1's split at the largest power of two, the perfect subtrees of the
/// binary expansion of `s`, largest first, hashed together from the right.
/// Each is the Merkle Tree Hash of `2^j` consecutive hashes of one partial
/// tile (the full tiles are inside the hashes of the level above).
fn root_of(partial: &[Vec<Hash>]) -> Hash {
    let mut perfect = Vec::new();
    for tile in partial.iter().rev() {
        let mut at = 0usize;
        for bit in (0..8).rev() {
            let n = 1usize << bit;
            if tile.len() & n != 0 {
                perfect.push(merkle::root(&tile[at..at + n]));
                at += n;
            }
        }
    }
    let Some(mut acc) = perfect.pop() else {
        return merkle::empty_root();
    };
    while let Some(left) = perfect.pop() {
        acc = merkle::node_hash(&left, &acc);
    }
    acc
}

/// The largest power of two below `n` (`n > 1`), RFC 9162 §2.1.1's `k`.
fn split(n: u64) -> u64 {
    let mut k = 1u64;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// Merkle Tree Hashes of subtrees, read from the tiles (with a cache of the
/// tiles read for one proof).
struct Hashes<'a> {
    log: &'a Log,
    tiles: HashMap<(u8, u64), Vec<Hash>>,
}

impl<'a> Hashes<'a> {
    fn new(log: &'a Log) -> Self {
        Hashes {
            log,
            tiles: HashMap::new(),
        }
    }

    /// The hashes `[from, to)` of `level` (all in one tile), from the tile
    /// files or, for the current partial tile, from memory.
    fn level_hashes(&mut self, level: u8, from: u64, to: u64) -> Result<Vec<Hash>> {
        let n = from / TILE_WIDTH;
        let full = (self.log.size() >> (8 * u32::from(level))) / TILE_WIDTH;
        if !self.tiles.contains_key(&(level, n)) {
            let tile = if n < full {
                self.log.read_tile(level, n, TILE_WIDTH)?
            } else {
                self.log.partial[usize::from(level)].clone()
            };
            self.tiles.insert((level, n), tile);
        }
        let tile = &self.tiles[&(level, n)];
        let (a, b) = ((from - n * TILE_WIDTH) as usize, (to - n * TILE_WIDTH) as usize);
        tile.get(a..b)
            .map(<[Hash]>::to_vec)
            .ok_or_else(|| self.log.corrupt(format!("tile {level}/{n} is short")))
    }

    /// MTH(D[a:b]) where the range is as RFC 9162's recursion makes them
    /// (`a` a multiple of every power of two the range splits into).
    fn subtree(&mut self, a: u64, b: u64) -> Result<Hash> {
        let n = b - a;
        if n.is_power_of_two() && a.is_multiple_of(n) {
            // A perfect subtree of height h = 8l + j: the MTH of 2^j
            // consecutive hashes of level l.
            let h = n.trailing_zeros();
            let (level, j) = ((h / 8) as u8, h % 8);
            let from = a >> (8 * u32::from(level));
            let to = from + (1u64 << j);
            let hashes = self.level_hashes(level, from, to)?;
            return Ok(merkle::root(&hashes));
        }
        let k = split(n);
        let left = self.subtree(a, a + k)?;
        let right = self.subtree(a + k, b)?;
        Ok(merkle::node_hash(&left, &right))
    }

    /// RFC 9162 §2.1.3.1 `PATH(m, D[a:b])`.
    fn path(&mut self, m: u64, a: u64, b: u64, out: &mut Vec<Hash>) -> Result<()> {
        let n = b - a;
        if n <= 1 {
            return Ok(());
        }
        let k = split(n);
        if m < k {
            self.path(m, a, a + k, out)?;
            out.push(self.subtree(a + k, b)?);
        } else {
            self.path(m - k, a + k, b, out)?;
            out.push(self.subtree(a, a + k)?);
        }
        Ok(())
    }

    /// RFC 9162 §2.1.4.1 `SUBPROOF(m, D[a:b], first)`.
    fn subproof(&mut self, m: u64, a: u64, b: u64, first: bool, out: &mut Vec<Hash>) -> Result<()> {
        let n = b - a;
        if m == n {
            if !first {
                out.push(self.subtree(a, b)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, a, a + k, first, out)?;
            out.push(self.subtree(a + k, b)?);
        } else {
            self.subproof(m - k, a + k, b, false, out)?;
            out.push(self.subtree(a, a + k)?);
        }
        Ok(())
    }
}
