//! The verdict cache: what a start may reuse from the last full read of the
//! same bundle file, so a warm start does not hash every layer again.
//!
//! What is cached is the one part of a verdict that nothing but the bundle
//! file's bytes decides: "the blob at data offset O of this file hashes to
//! the digest its member is named by". Everything the trust store, the
//! policy, the revocation list, the clock or the host decides is decided
//! again at every start, from the file: the small members are read and
//! parsed, the manifest and config blobs hashed, every signature checked
//! against the trust store in force, the revocation list and the policy
//! applied (so a revocation takes effect at the next start, cached or
//! not). Only the large blobs' hashing is skipped.
//!
//! An entry vouches for one bundle path and the exact file it read there:
//! device, inode, size, and mtime and ctime to the nanosecond, taken with
//! `fstat` on the descriptor that is then read (no second lookup of the
//! path). A writer of the store's bundle file changes at least its ctime,
//! which no unprivileged process can set back, and a replaced file has
//! another inode; a file changed within two seconds before the read is not
//! cached at all (its timestamps could not tell a later change in the same
//! clock tick from it: git's "racy" rule, as core's `MeasuredBlobs`), and
//! the identity is compared again after the read. The entry also names this
//! crate's version and the entry format, so an upgrade reads every blob
//! again.
//!
//! Entries live in `<store>/verdicts/`, one file per bundle path (named by
//! the SHA-256 of the path), written atomically. They are used only if the
//! directory and the entry are owned by this process's effective uid and
//! writable by no one else (mode `go-w`), the entry is a regular file read
//! without following a symbolic link, at most 1 MiB, and parses. Any doubt
//! (missing, unreadable, foreign owner, bad mode, corrupt, another file,
//! another version) ignores the entry: the bundle is hashed in full, never
//! admitted on a guess. An entry can only skip hashing; it can never make
//! a start succeed that the full read would refuse, except by vouching for
//! blob bytes an attacker changed in place without changing the file's
//! identity, which needs root (and root can change the store anyway).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use cerro_core::bundle::{read_bundle_file, read_bundle_file_vouched, Bundle, NoExtract};
use cerro_core::digest::Digest;
use cerro_core::Error;
use serde::{Deserialize, Serialize};

use crate::host::open_regular;

/// The entry format; an entry of another format is ignored.
const FORMAT: u32 = 1;
/// Largest entry read (a bundle has at most a few thousand blobs).
const MAX_ENTRY: u64 = 1 << 20;
/// Seconds a bundle file's mtime and ctime must be older than the
/// decision's time for its read to be cached.
const RACY_SECS: i64 = 2;

/// How the blobs of a bundle were checked at this start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Blobs {
    /// Every blob was hashed (no usable cache entry).
    Hashed,
    /// The large blobs' digests came from the verdict cache (the file is
    /// the one they were hashed from); everything else was checked.
    Cached,
}

/// The identity of an open file, as `fstat` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(file: &File, path: &Path) -> Result<Self, Error> {
        let m = file
            .metadata()
            .map_err(|e| Error::io("reading the metadata of", path, e))?;
        Ok(Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }

    /// Changed long enough before `now` to be told apart from a change
    /// after the read.
    fn settled(&self, now: u64) -> bool {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        self.mtime.0.saturating_add(RACY_SECS) < now && self.ctime.0.saturating_add(RACY_SECS) < now
    }
}

/// One cache entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    format: u32,
    version: String,
    path: PathBuf,
    identity: Identity,
    /// (data offset, digest) of every blob hashed.
    blobs: Vec<(u64, Digest)>,
}

/// The cache of one bundle store.
#[derive(Debug, Clone)]
pub(crate) struct Verdicts {
    dir: PathBuf,
}

impl Verdicts {
    /// The cache of the store at `store`.
    pub(crate) fn new(store: &Path) -> Self {
        Verdicts {
            dir: store.join("verdicts"),
        }
    }

    fn entry_path(&self, bundle: &Path) -> PathBuf {
        let name = Digest::of(bundle.as_os_str().as_encoded_bytes()).hex();
        self.dir.join(format!("{name}.json"))
    }

    /// Reads the bundle at `path` (a regular file only, without blocking),
    /// with the blob digests of a usable entry instead of hashing those
    /// blobs; returns the bundle, how its blobs were checked, and what to
    /// [`Verdicts::record`] once it verified.
    pub(crate) fn read(&self, path: &Path, now: u64) -> Result<(Bundle, Blobs, Option<Pending>), Error> {
        let file = open_regular(path)?;
        let before = Identity::of(&file, path)?;
        if let Some(entry) = self.lookup(path, &before) {
            if let Ok(bundle) = read_bundle_file_vouched(&file, &entry.blobs) {
                // Changed while it was read: the skipped blobs are not
                // known to be the ones hashed; read it all again.
                if Identity::of(&file, path).is_ok_and(|after| after == before) {
                    return Ok((bundle, Blobs::Cached, None));
                }
            }
        }
        let bundle = read_bundle_file(&file, &mut NoExtract)?;
        let after = Identity::of(&file, path)?;
        let pending = (after == before && before.settled(now)).then(|| Pending {
            entry: Entry {
                format: FORMAT,
                version: env!("CARGO_PKG_VERSION").to_owned(),
                path: path.to_owned(),
                identity: before,
                blobs: bundle.blob_offsets(),
            },
        });
        Ok((bundle, Blobs::Hashed, pending))
    }

    /// The entry for `path` if it is usable for the file with `identity`.
    fn lookup(&self, path: &Path, identity: &Identity) -> Option<Entry> {
        if !owned_safely(&std::fs::symlink_metadata(&self.dir).ok()?, true) {
            return None;
        }
        let p = self.entry_path(path);
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&p)
            .ok()?;
        if !owned_safely(&f.metadata().ok()?, false) {
            return None;
        }
        let mut bytes = Vec::new();
        f.take(MAX_ENTRY + 1).read_to_end(&mut bytes).ok()?;
        if bytes.len() as u64 > MAX_ENTRY {
            return None;
        }
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        (entry.format == FORMAT
            && entry.version == env!("CARGO_PKG_VERSION")
            && entry.path == path
            && entry.identity == *identity)
            .then_some(entry)
    }

    /// Writes the entry of a bundle that verified. Best effort: a cache
    /// that cannot be written costs the next start a full read, nothing else.
    pub(crate) fn record(&self, pending: Pending) {
        let _ = self.write(&pending.entry);
    }

    fn write(&self, entry: &Entry) -> Result<(), Error> {
        cerro_core::file::create_dir(&self.dir, 0o700)?;
        let m = std::fs::symlink_metadata(&self.dir).map_err(|e| Error::io("checking", &self.dir, e))?;
        if !owned_safely(&m, true) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(entry).map_err(|e| Error::malformed("verdict cache entry", e.to_string()))?;
        cerro_core::file::write_atomic(&self.entry_path(&entry.path), &bytes, 0o600)
    }
}

/// An entry to write once the bundle it describes has verified.
#[derive(Debug)]
pub(crate) struct Pending {
    entry: Entry,
}

/// Owned by this process's effective uid, writable by no one else, and a
/// directory (`dir`) or a regular file, not a symbolic link.
fn owned_safely(m: &std::fs::Metadata, dir: bool) -> bool {
    let kind = if dir { m.is_dir() } else { m.is_file() };
    kind && m.uid() == crate::Config::current_euid() && m.mode() & 0o022 == 0
}
