//! Progress of the bytes moving to or from a registry. This crate only
//! counts; drawing (a bar on a terminal, nothing otherwise) is the front
//! end's business.

/// Receives byte counts while blobs are uploaded or downloaded. Called from
/// the network thread: implementations must be cheap.
pub trait Progress: Send + Sync {
    /// A transfer of `total` bytes begins; `what` is "pushing", "fetching"…
    fn start(&self, what: &str, total: u64);
    /// `bytes` more have moved.
    fn advance(&self, bytes: u64);
    /// The transfer is over.
    fn finish(&self);
}

/// Reports nothing (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}
