//! `cerro-core`: the formats and the verification decision of Cerro Torre.
//!
//! This crate owns what a `.ctp` bundle is ([`bundle`]), the package
//! manifest ([`manifest`]), DSSE envelopes and in-toto statements ([`dsse`],
//! [`statement`]), digests ([`digest`]), keys and trust ([`trust`]), and the
//! one routine that decides whether a bundle may be used ([`verify`]).
//!
//! Boundaries: no network, no container runtime, no global state. Every
//! function takes its inputs (readers, writers, a trust store, a clock value)
//! as arguments; the `ct` CLI, the containerd shim and the podman hook are
//! thin front ends over it and therefore reach the same decision.

pub mod bundle;
pub mod capabilities;
pub mod clock;
pub mod cosign_signature;
pub mod digest;
pub mod dsse;
pub mod error;
pub mod file;
pub mod hashpool;
pub mod image;
pub mod jcs;
pub mod key;
pub mod manifest;
pub mod naming;
pub mod pack;
pub mod policy_interface;
pub mod precheck;
pub mod rebuild;
pub mod statement;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod text;
pub mod timestamp;
pub mod tlog;
pub mod trust;
pub mod verify;

pub use error::{Error, ExitCode, Kind, Result};
