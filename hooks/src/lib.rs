//! The parsers of untrusted input behind `cerro-hook` (the podman prestart
//! hook, `src/main.rs`), as a library so the fuzz targets and their stable
//! corpus replay (`fuzz/checks`) can reach them: the OCI state on stdin
//! ([`parse_state`]) and podman's storage metadata (`containers.json`,
//! `images.json`: [`podman`]). The labels in the container's OCI config
//! ([`labels`]) are read by the host service's one reader of it
//! (`cerro_enforce::RuntimeConfig`), not parsed here. Every file is read with a bound
//! ([`cerro_core::file::read_bounded`]) and every parser returns an error,
//! never panics, on any bytes.
//!
//! Nothing but the hook binary links this library for its decisions (a
//! front end is no dependency of anything: ARCHITECTURE.md); the fuzz
//! crates reach it only as a dev-dependency or from their own workspace.

mod error;
pub mod labels;
pub mod podman;

pub use error::HookError;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Largest state document read from stdin.
pub const MAX_STATE: u64 = 1 << 20;

/// What the hook uses of the OCI runtime state it is given on stdin
/// (runtime-spec `state`; other fields are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The container id.
    pub id: String,
    /// The bundle directory (podman: `<root>/<driver>-containers/<id>/userdata`).
    pub bundle: PathBuf,
    /// The container's annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// Parses the OCI state document (at most [`MAX_STATE`] bytes).
pub fn parse_state(bytes: &[u8]) -> Result<State, HookError> {
    if bytes.len() as u64 > MAX_STATE {
        return Err(HookError::BadState(format!("larger than {MAX_STATE} bytes")));
    }
    serde_json::from_slice(bytes).map_err(|e| HookError::BadState(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;

    #[test]
    fn the_state_parses_and_refuses_what_it_should() {
        let s = parse_state(
            br#"{"ociVersion":"1.0.2","id":"c1","status":"creating","pid":1,"bundle":"/b","annotations":{"a":"b"}}"#,
        )
        .unwrap();
        assert_eq!(s.id, "c1");
        assert_eq!(s.bundle, PathBuf::from("/b"));
        assert_eq!(s.annotations.get("a").map(String::as_str), Some("b"));
        assert!(parse_state(br#"{"id":"c1"}"#)
            .unwrap_err()
            .to_string()
            .contains("bundle"));
        assert!(parse_state(br#"{"id":"c1","id":"c2","bundle":"/b"}"#)
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
        let mut big = br#"{"id":"c1","bundle":"/b"}"#.to_vec();
        big.resize(MAX_STATE as usize + 1, b' ');
        assert!(parse_state(&big).unwrap_err().to_string().contains("larger than"));
    }
}
