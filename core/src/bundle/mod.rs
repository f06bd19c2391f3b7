//! The `.ctp` bundle: one tar, written deterministically, read in one
//! streaming pass. The format is specified in `spec/bundle-format.md`.
//!
//! Members, in this order and no other:
//!
//! ```text
//! manifest.toml                         the package manifest (canonical TOML)
//! attestations/<name>.dsse.json         DSSE envelopes, sorted by name
//! selinux/<module>.cil                  SELinux policy modules, sorted by name
//! transparency/<hex>.tlog-proof         tlog-proofs, one per log, sorted by name
//!                                       (<hex>: SHA-256 of the log's origin); not signed
//! rebuilds/<key id>.dsse.json           rebuild attestations (SLSA VSA), one per key, sorted
//!                                       by name; not bound by the release, signed by their own
//!                                       key (`crate::rebuild`); of a multi-platform bundle one
//!                                       per key and platform: <key id>-<os>-<arch>[-<variant>]
//! oci-layout/oci-layout                 {"imageLayoutVersion":"1.0.0"}
//! oci-layout/index.json                 one image manifest (or image index) descriptor (RFC 8785)
//! oci-layout/blobs/sha256/<hex>         the manifest, then the config, then each
//!                                       distinct layer in manifest order; for an
//!                                       image index: the index, then for each
//!                                       platform its manifest, config and layers
//! ```
//!
//! Every member is a regular file with mode 0644, uid/gid 0, empty owner
//! names and the same mtime (SOURCE_DATE_EPOCH, else 0).

mod assemble;
mod reader;
mod writer;

pub use assemble::{Assembly, Skeleton, Unpulled};
pub use reader::{
    read_bundle, read_bundle_file, read_bundle_file_vouched, Attestation, Bundle, Extract, LogProof, Member, NoExtract,
    PlatformImage, MAX_ATTESTATIONS, MAX_ATTESTATION_BYTES,
};
pub use writer::{
    add_rebuild_to_file, member_header, rewrite_proofs_to_file, rewrite_rebuilds_to_file, write_bundle,
    write_bundle_file, BundleContents,
};
pub(crate) use writer::{write_bundle_file_measured, write_bundle_measured};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Path of the package manifest.
pub const MANIFEST_PATH: &str = "manifest.toml";
/// Prefix of attestation members.
pub const ATTESTATIONS_PREFIX: &str = "attestations/";
/// The release attestation every bundle must carry.
pub const RELEASE_ATTESTATION: &str = "attestations/release.dsse.json";
/// Prefix of SELinux policy module members.
pub const SELINUX_PREFIX: &str = "selinux/";
/// Largest SELinux module accepted.
pub const MAX_SELINUX_SIZE: u64 = 1 << 20;
/// Most `selinux/` modules a bundle may carry (`ct pack` writes one; each is
/// held in memory while the bundle is read, before any signature is checked).
pub const MAX_SELINUX_MODULES: usize = 8;
/// Most bytes all `selinux/` modules together may hold.
pub const MAX_SELINUX_BYTES: u64 = 4 << 20;
/// Prefix of the transparency-log proof members (spec/bundle-format.md
/// §3.4): unsigned, verified against the trust store's logs.
pub const TRANSPARENCY_PREFIX: &str = "transparency/";
/// Suffix of a proof member: the c2sp.org/tlog-proof text.
pub const TLOG_PROOF_SUFFIX: &str = ".tlog-proof";
/// Most proofs a bundle may carry (one per log; each is held in memory and
/// costs one or two signature checks and a Merkle path at verification).
pub const MAX_TLOG_PROOFS: usize = 16;
/// The layout marker file.
pub const LAYOUT_PATH: &str = "oci-layout/oci-layout";
/// The layout index.
pub const INDEX_PATH: &str = "oci-layout/index.json";
/// Prefix of blob members.
pub const BLOB_PREFIX: &str = "oci-layout/blobs/sha256/";

/// Largest `index.json` or `oci-layout` accepted.
pub const MAX_INDEX_SIZE: u64 = 1 << 20;

/// What a member path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MemberKind {
    Manifest,
    Attestation,
    Selinux,
    TlogProof,
    Rebuild,
    Layout,
    Index,
    Blob(Digest),
}

/// Classifies a member path, refusing anything outside the grammar above.
/// Unsafe paths get their own message: they are attacks, not typos.
pub(crate) fn classify(path: &str) -> Result<MemberKind> {
    if path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|c| c == ".." || c == "." || c.is_empty())
        || path.contains('\\')
        || path.contains('\0')
    {
        return Err(Error::malformed("bundle", format!("unsafe member path {path:?}")));
    }
    match path {
        MANIFEST_PATH => return Ok(MemberKind::Manifest),
        LAYOUT_PATH => return Ok(MemberKind::Layout),
        INDEX_PATH => return Ok(MemberKind::Index),
        _ => {}
    }
    if let Some(name) = path.strip_prefix(ATTESTATIONS_PREFIX) {
        if valid_attestation_name(name) {
            return Ok(MemberKind::Attestation);
        }
    }
    if let Some(name) = path.strip_prefix(SELINUX_PREFIX) {
        if valid_module_file(name) {
            return Ok(MemberKind::Selinux);
        }
    }
    if let Some(name) = path.strip_prefix(TRANSPARENCY_PREFIX) {
        if name
            .strip_suffix(TLOG_PROOF_SUFFIX)
            .is_some_and(|hex| Digest::from_hex(hex).is_some())
        {
            return Ok(MemberKind::TlogProof);
        }
    }
    if crate::rebuild::path_signer(path).is_some() {
        return Ok(MemberKind::Rebuild);
    }
    if let Some(hex) = path.strip_prefix(BLOB_PREFIX) {
        if let Some(d) = Digest::from_hex(hex) {
            return Ok(MemberKind::Blob(d));
        }
    }
    Err(Error::malformed("bundle", format!("unexpected member {path:?}")))
}

/// `[a-z0-9][a-z0-9-]{0,63}.dsse.json`
fn valid_attestation_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".dsse.json") else {
        return false;
    };
    let b = stem.as_bytes();
    (1..=64).contains(&b.len())
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// `[a-z][a-z0-9_]{0,63}.cil` (a CIL module name, also a file name).
fn valid_module_file(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".cil") else {
        return false;
    };
    let b = stem.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// The member path of the proof from the log with this origin:
/// `transparency/<64 lowercase hex of SHA-256(origin)>.tlog-proof` (88
/// bytes, like a blob path). A function of the origin, so a bundle holds at
/// most one proof per log, and a new proof from a log replaces the old one.
pub fn tlog_proof_path(origin: &str) -> String {
    format!(
        "{TRANSPARENCY_PREFIX}{}{TLOG_PROOF_SUFFIX}",
        Digest::of(origin.as_bytes()).hex()
    )
}

/// The path of a blob member.
pub fn blob_path(d: &Digest) -> String {
    format!("{BLOB_PREFIX}{}", d.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_grammar() {
        assert_eq!(classify("manifest.toml").unwrap(), MemberKind::Manifest);
        assert_eq!(classify(RELEASE_ATTESTATION).unwrap(), MemberKind::Attestation);
        let d = Digest::of(b"x");
        assert_eq!(classify(&blob_path(&d)).unwrap(), MemberKind::Blob(d));
        let proof = tlog_proof_path("log.example.org/releases");
        assert_eq!(proof.len(), 88);
        assert_eq!(classify(&proof).unwrap(), MemberKind::TlogProof);
        let rebuild = crate::rebuild::rebuild_path(&crate::trust::Fingerprint::from_hex(&d.hex()).unwrap());
        assert_eq!(classify(&rebuild).unwrap(), MemberKind::Rebuild);
        let platform = rebuild.replace(".dsse.json", "-linux-arm64-v8.dsse.json");
        assert_eq!(classify(&platform).unwrap(), MemberKind::Rebuild);
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "oci-layout/../../x",
            "./manifest.toml",
            "oci-layout//index.json",
            "attestations/Release.dsse.json",
            "attestations/x.json",
            "oci-layout/blobs/sha256/ABC",
            "transparency/x.tlog-proof",
            "transparency/0000000000000000000000000000000000000000000000000000000000000000.proof",
            "transparency/000000000000000000000000000000000000000000000000000000000000000A.tlog-proof",
            "rebuilds/x.dsse.json",
            "rebuilds/0000000000000000000000000000000000000000000000000000000000000000.json",
            "rebuilds/000000000000000000000000000000000000000000000000000000000000000A.dsse.json",
            "rebuilds/sub/0000000000000000000000000000000000000000000000000000000000000000.dsse.json",
            "other",
        ] {
            assert!(classify(bad).is_err(), "{bad}");
        }
        let msg = classify("../x").unwrap_err().to_string();
        assert!(msg.contains("unsafe member path"), "{msg}");
    }
}
