//! Stub.
use std::path::Path;

use crate::{ImportError, Imported, Options, Result};

/// Not yet.
pub fn import_apkbuild(path: &Path, _opts: &Options) -> Result<Imported> {
    Err(ImportError::InvalidSource {
        what: path.display().to_string(),
        reason: "not implemented".into(),
    })
}
