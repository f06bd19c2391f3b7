//! Cerro Torre's transparency log (`ct log`): append-only storage whose
//! read side is the C2SP tlog-tiles static layout, written to a directory
//! any HTTP server, CDN or object store can serve (spec/transparency.md §10).
//!
//! - [`store`]: the log directory: batches of entries appended with entry
//!   bundles and tiles written and fsynced before the checkpoint, the
//!   checkpoint (signed with the log's note key through `cerro_core::tlog`)
//!   replaced atomically and fsynced before the append returns; restart
//!   reads the state back and refuses a directory whose tiles disagree with
//!   its checkpoint; proofs from the tiles.
//! - [`key`]: the log's key file.
//! - [`witness`]: a C2SP tlog-witness (`ct witness serve`): cosigns a
//!   log's checkpoint only when it extends the last one it cosigned for
//!   that log, persisted before it answers.
//! - [`server`]: the write side, `POST /add` over HTTP/1.1 on a listener
//!   the operator names, answering with the entry's tlog-proof once its
//!   batch is durable. (ARCHITECTURE.md: this crate and `cerro-registry`
//!   are the only ones that touch the network; only `ct` links either.)
//!
//! The formats (tile paths, entry bundles, checkpoints, notes, Merkle
//! hashing) are core's: this crate only stores and serves them.

mod http;
pub mod key;
pub mod server;
pub mod store;
pub mod witness;
pub mod witnessing;

pub use server::serve;
pub use store::{check_entry, Log};

use std::path::PathBuf;

use cerro_core::ExitCode;

/// The one error type of the log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A format error from core (a malformed checkpoint or bundle, a
    /// signature that does not verify).
    #[error(transparent)]
    Core(#[from] cerro_core::Error),
    /// Reading or writing a file of the log failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the log's (or the witness's) directory lock:
    /// two writers would fork the tree (or cosign two branches).
    #[error("{} is in use by another process (its lock is held)", dir.display())]
    Locked { dir: PathBuf },
    /// The directory's files disagree with its checkpoint (or with each
    /// other): the log refuses to serve or extend it.
    #[error("the log in {} is inconsistent: {reason}", dir.display())]
    Corrupt { dir: PathBuf, reason: String },
    /// The log's key file is unusable (its mode, its bytes).
    #[error("the log key {}: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    /// `create` on a directory that already holds something.
    #[error("{} is not an empty directory: a new log starts in an empty one", dir.display())]
    NotEmpty { dir: PathBuf },
    /// The bytes are not a log entry (spec/transparency.md §1).
    #[error("not a Cerro Torre log entry: {reason}")]
    Entry { reason: String },
    /// A batch of no entries, or more than [`store::MAX_BATCH`].
    #[error("a batch of {0} entries (1..={max} accepted)", max = store::MAX_BATCH)]
    Batch(usize),
    /// An earlier append failed part way: the files on disk may be ahead of
    /// the checkpoint, and after a failed fsync the page cache cannot be
    /// trusted. The log accepts nothing more until it is reopened (which
    /// reads the state back from the checkpoint).
    #[error("the log stopped accepting entries after a failed append: restart it")]
    Stopped,
}

impl Error {
    /// The variant's kind in the one table (`cerro_core::Kind::row`), which
    /// gives its exit code and name (no wildcard: a new variant must be named).
    pub fn kind(&self) -> cerro_core::Kind {
        use cerro_core::Kind;
        match self {
            Error::Core(e) => e.kind(),
            Error::Io { .. } => Kind::Io,
            Error::Locked { .. } => Kind::TlogLocked,
            Error::KeyFile { .. } => Kind::TlogKey,
            Error::Corrupt { .. } => Kind::TlogCorrupt,
            Error::NotEmpty { .. } => Kind::TlogNotEmpty,
            Error::Entry { .. } => Kind::TlogEntry,
            Error::Batch(_) => Kind::TlogBatch,
            Error::Stopped => Kind::TlogStopped,
        }
    }

    /// The process exit code, from the one table.
    pub fn exit_code(&self) -> ExitCode {
        self.kind().exit_code()
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Adds the operation and path to an I/O error.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant maps through the one table, to the codes it had when
    /// this crate kept its own mapping.
    #[test]
    fn every_log_variant_maps_through_the_one_table_as_before() {
        let p = || PathBuf::from("/log");
        let cases = [
            (Error::Core(cerro_core::Error::malformed("x", "y")), 10),
            (
                Error::Io {
                    op: "reading",
                    path: p(),
                    source: std::io::Error::other("x"),
                },
                11,
            ),
            (Error::Locked { dir: p() }, 78),
            (
                Error::Corrupt {
                    dir: p(),
                    reason: "r".into(),
                },
                10,
            ),
            (
                Error::KeyFile {
                    path: p(),
                    reason: "r".into(),
                },
                78,
            ),
            (Error::NotEmpty { dir: p() }, 78),
            (Error::Entry { reason: "r".into() }, 10),
            (Error::Batch(0), 10),
            (Error::Stopped, 11),
        ];
        let mut kinds = std::collections::BTreeSet::new();
        for (e, code) in &cases {
            assert_eq!(e.exit_code().code(), *code, "{e}");
            assert!(kinds.insert(e.kind()), "{e}: two variants share a kind");
        }
    }
}
