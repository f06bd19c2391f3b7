//! The parsers of untrusted bytes that live outside the libraries: the
//! podman hook's (the OCI state on stdin, podman's `containers.json` and
//! `images.json`: `cerro_hook`) and the registry crate's bundle artifact
//! manifest (`cerro_registry::parse_artifact_manifest`).
//!
//! Nothing may depend on a front end or on the registry crate as a normal
//! dependency (ARCHITECTURE.md, "Dependencies that must never exist",
//! checked by `integration/tests/architecture.rs`), this crate included.
//! So these checks take the parser as an argument: the cargo-fuzz targets
//! (their own workspace, `fuzz/Cargo.toml`) and the stable corpus replay
//! (`tests/corpus.rs`, through dev-dependencies) pass the real functions.
//! The properties are the ones of the other targets: no panic, an `Err`
//! with a message is a correct outcome, and what is accepted survives
//! write → parse unchanged where a writer exists.

use std::fmt::{Debug, Display};

use cerro_core::digest::Digest;
use serde::Serialize;
use serde_json::Value;

/// A refusal must say something: an empty message is a broken error path.
fn clean_error(target: &str, e: &impl Display) {
    assert!(!e.to_string().is_empty(), "{target}: an error without a message");
}

/// `parse(data)`: a value that survives serialize → parse unchanged, or
/// a clean error. The value is returned for further checks.
fn round_trip<T, E>(target: &str, data: &[u8], parse: impl Fn(&[u8]) -> Result<T, E>) -> Option<T>
where
    T: Serialize + PartialEq + Debug,
    E: Display,
{
    match parse(data) {
        Err(e) => {
            clean_error(target, &e);
            None
        }
        Ok(v) => {
            let bytes = serde_json::to_vec(&v).expect("an accepted value serializes");
            match parse(&bytes) {
                Ok(back) => assert_eq!(back, v, "{target}: written back, it reads otherwise"),
                Err(e) => panic!("{target}: what it accepted, written back, is refused: {e}"),
            }
            Some(v)
        }
    }
}

/// The hook's OCI state reader (`cerro_hook::parse_state`): a state or a
/// clean error, and an accepted state written back reads the same.
pub fn hook_state<S, E>(data: &[u8], parse: impl Fn(&[u8]) -> Result<S, E>)
where
    S: Serialize + PartialEq + Debug,
    E: Display,
{
    round_trip("hook_state", data, parse);
}

/// podman's storage metadata (`cerro_hook::podman::parse_containers`,
/// `parse_images`): the same bytes are given to both readers; each gives
/// entries that write back unchanged, or a clean error. Every image
/// accepted yields its manifest digests (`digests`, i.e.
/// `Image::manifest_digests`) without a panic and without a duplicate.
pub fn podman_storage<C, I, E1, E2>(
    data: &[u8],
    containers: impl Fn(&[u8]) -> Result<Vec<C>, E1>,
    images: impl Fn(&[u8]) -> Result<Vec<I>, E2>,
    digests: impl Fn(&I) -> Vec<Digest>,
) where
    C: Serialize + PartialEq + Debug,
    I: Serialize + PartialEq + Debug,
    E1: Display,
    E2: Display,
{
    round_trip("podman_storage (containers.json)", data, containers);
    for image in round_trip("podman_storage (images.json)", data, images)
        .into_iter()
        .flatten()
        .take(64)
    {
        let ds = digests(&image);
        for (i, d) in ds.iter().enumerate() {
            assert!(!ds[..i].contains(d), "podman_storage: digest {d} given twice");
        }
    }
}

/// The registry's bundle artifact manifest reader
/// (`cerro_registry::parse_artifact_manifest(what, bytes, image)`), given
/// the image digest the bytes name as their subject (else a fixed one): a
/// manifest or a clean error, the same answer twice, and an accepted
/// manifest is refused for any other image (the subject binds it).
pub fn registry_artifact<M, E>(data: &[u8], parse: impl Fn(&str, &[u8], &Digest) -> Result<M, E>)
where
    M: PartialEq + Debug,
    E: Display,
{
    let fixed = Digest::of(b"fuzz image");
    let named = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|v| v.pointer("/subject/digest").and_then(Value::as_str).map(str::to_owned))
        .and_then(|s| Digest::parse(&s).ok());
    let image = named.unwrap_or(fixed);
    let first = parse("fuzz", data, &image);
    match &first {
        Err(e) => clean_error("registry_artifact", e),
        Ok(m) => {
            let again = parse("fuzz", data, &image);
            assert!(again.as_ref().ok() == Some(m), "registry_artifact: two readings differ");
            let other = if image == fixed {
                Digest::of(b"another image")
            } else {
                fixed
            };
            assert!(
                parse("fuzz", data, &other).is_err(),
                "registry_artifact: accepted for an image it does not name"
            );
        }
    }
}
