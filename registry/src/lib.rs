//! `cerro-registry`: Cerro Torre bundles in OCI registries.
//!
//! `push` stores a `.ctp` bundle as OCI 1.1 content: the image itself
//! (manifest, config and layers byte for byte, so any registry client can
//! pull it) and, beside it, an artifact of type [`ARTIFACT_TYPE`] whose
//! `subject` is the image manifest and whose layers are the bundle members
//! that cannot be derived from the image (`manifest.toml`, attestations,
//! SELinux modules, transparency proofs, rebuild attestations). `fetch` finds that artifact through the referrers API
//! (or the `sha256-<hex>` tag fallback of registries without it) and
//! rebuilds the bundle byte for byte, with the deterministic writer of
//! `cerro-core`. A multi-platform bundle is stored as the multi-arch image
//! it carries (each platform manifest, then the image index under the tag)
//! with the artifact a referrer of the index (spec/bundle-format.md §15.1).
//!
//! Boundaries: this is the only crate of the workspace that talks to the
//! network, on its own reqwest clients (`transport`: every answer read
//! with a bound, redirects kept on the registry's site, secrets only to
//! allowed token servers); `oci-client` only parses references. It never
//! decides whether a bundle is trusted: `fetch` checks the release
//! signature's cheap facts against the caller's trust store before any
//! image blob is downloaded ([`cerro_core::precheck`]), hands back an
//! uncommitted file plus the bundle read from it, and the caller verifies
//! it in full (trust store, policy); [`Pending::commit`] takes that proof.
//! Blobs are streamed from and to files, never held whole in memory, and
//! bounded by their descriptors ([`MAX_IMAGE_BYTES`] in all); only the
//! small members (manifests, configs, envelopes, bounded in size) are.

#[cfg(test)]
mod answer;
mod auth;
mod client;
pub mod cosign;
mod error;
mod fetch;
#[cfg(test)]
mod hostile;
pub mod mirror;
mod progress;
mod push;
mod reference;
mod retry;
pub mod tlog;
mod tls;
mod token;
mod transport;

pub use auth::{credentials_for, default_auth_files, Credentials, Secret};
pub use client::{Options, Registry};
pub use error::Error;
pub use fetch::{
    fetch, inspect, parse_artifact_manifest, pull_image, tree, ArtifactLayer, ArtifactManifest, Fetched, Found,
    Inspected, Pending, Skipped, Tree, MAX_CANDIDATES, MAX_IMAGE_BYTES,
};
pub use progress::{NoProgress, Progress};
pub use push::{push, push_signed, ImageSignatures, Pushed};
pub use tls::{cert_dirs, load_cas};

/// `artifactType` of the artifact that carries a bundle's non-image members.
pub const ARTIFACT_TYPE: &str = "application/vnd.cerro-torre.bundle.v1+json";
/// Media type of the artifact's config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cerro-torre.bundle.config.v1+json";
/// Media type of `manifest.toml`.
pub const MT_TOML: &str = "application/toml";
/// Media type of a DSSE envelope.
pub const MT_DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// Media type of a SELinux CIL module.
pub const MT_CIL: &str = "application/vnd.cerro-torre.selinux.cil";
/// Media type of a transparency-log proof (c2sp.org/tlog-proof text).
pub const MT_TLOG_PROOF: &str = "application/vnd.cerro-torre.tlog-proof";
/// Media type of a rebuild attestation (`rebuilds/<key id>.dsse.json`, or
/// of one platform of a multi-platform bundle
/// `rebuilds/<key id>-<os>-<arch>[-<variant>].dsse.json`: a DSSE envelope
/// of a SLSA VSA). Not [`MT_DSSE`]: the member is outside the
/// release signature and has its own bounds (spec/bundle-format.md §15).
pub const MT_REBUILD: &str = "application/vnd.cerro-torre.rebuild.v1+json";
/// The annotation naming each artifact layer's bundle path.
pub const TITLE: &str = "org.opencontainers.image.title";

/// The tag of the referrers fallback index of `digest` (`sha256:<hex>` →
/// `sha256-<hex>`), per the OCI distribution spec's referrers tag schema.
pub fn fallback_tag(digest: &cerro_core::digest::Digest) -> String {
    format!("sha256-{}", digest.hex())
}
