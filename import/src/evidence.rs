//! The evidence an import records: what was read, what was checked and
//! how, and what could not be. Serialised as JSON with its keys in the
//! order of these structs (spec/import.md §5).

use std::collections::BTreeMap;

use serde::Serialize;

/// The evidence of one import.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Evidence {
    /// `cerro-import-evidence/v1`.
    pub evidence_format: &'static str,
    /// Which importer: `debian-dsc`, `debian-archive`, `alpine-apkbuild`, `nix-drv`, `rpm-spec`, `rpm-srpm`.
    pub importer: &'static str,
    /// The recipe as read.
    pub recipe: FileEvidence,
    /// The recipe's signature, for formats that carry one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<SignatureEvidence>,
    /// `debian:PKG` only: the archive's chain (InRelease → Sources → .dsc).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<crate::archive::ArchiveEvidence>,
    /// The recipe's fields as read (values as the recipe gives them).
    pub fields: BTreeMap<String, serde_json::Value>,
    /// The files the recipe names, with what was checked of each.
    pub files: Vec<FileEvidence>,
    /// The patches, in the order they apply.
    pub patches: Vec<FileEvidence>,
    /// What was not checked, and why.
    pub notes: Vec<String>,
}

impl Evidence {
    pub(crate) fn new(importer: &'static str, recipe: FileEvidence) -> Self {
        Evidence {
            evidence_format: "cerro-import-evidence/v1",
            importer,
            recipe,
            signature: None,
            archive: None,
            fields: BTreeMap::new(),
            files: Vec::new(),
            patches: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The draft's upstream URL, the one order every importer takes: the
    /// command line's `--upstream`, else the URL the recipe gives for its
    /// source, else its homepage (with `homepage_note` recorded when
    /// given: a homepage is not the file). None of them: refused, naming
    /// `field` of `recipe`, with `missing`.
    pub(crate) fn upstream_url(
        &mut self,
        given: Option<&String>,
        source: Option<String>,
        homepage: Option<&String>,
        homepage_note: Option<&str>,
        (recipe, field, missing): (&str, &str, &str),
    ) -> Result<String, crate::ImportError> {
        match (given, source, homepage) {
            (Some(u), _, _) => {
                self.notes.push("upstream URL given on the command line".into());
                Ok(u.clone())
            }
            (None, Some(u), _) => Ok(u),
            (None, None, Some(h)) => {
                if let Some(note) = homepage_note {
                    self.notes.push(note.into());
                }
                Ok(h.clone())
            }
            (None, None, None) => Err(crate::ImportError::refused(recipe, field, missing)),
        }
    }
}

/// One file: its name, what it is, its size and SHA-256 when it was read,
/// and the recipe's claims that were compared with it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileEvidence {
    /// The file name as the recipe gives it.
    pub name: String,
    /// What it is (`recipe`, `upstream`, `upstream-signature`, `debian`, `patch`, `source`…).
    pub role: String,
    /// Its size, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// `sha256:…`, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The recipe's claims that were compared and matched (`size`, `sha256`, `sha1`, `sha512`).
    pub checked: Vec<&'static str>,
    /// Claims the recipe makes that were not compared (`md5`: a broken hash,
    /// its files are covered by the SHA-256 list), or the file itself when absent.
    pub not_checked: Vec<&'static str>,
}

/// The OpenPGP signature of a clearsigned recipe.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SignatureEvidence {
    /// `unsigned`, `not-checked` (parsed, no keyring given) or `verified`.
    pub status: &'static str,
    /// The issuer key id or fingerprint the signature packet names (hex, upper case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The primary key fingerprint the verifier reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The verifier and the keyring's SHA-256, when verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_with: Option<String>,
}
