//! The package manifest (`manifest.toml`): what the builders say the image
//! is. Specified in `spec/manifest-format.md`.
//!
//! The format is a strict subset of TOML: only the tables and keys below,
//! unknown keys refused, and the bundle always carries the canonical
//! serialisation produced by [`PackageManifest::to_canonical_toml`], so the
//! digest bound in the release statement is reproducible.

use serde::{Deserialize, Serialize};

use crate::capabilities::Capabilities;
use crate::digest::Digest;
use crate::error::{Error, Result};

/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_SIZE: u64 = 1 << 20;

/// The parsed, validated package manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageManifest {
    /// What the package is.
    pub package: Package,
    /// Where its source came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// How it was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// How it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    /// What it needs from the host (the SELinux module is generated from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// The OCI image this manifest describes.
    pub image: ImageRef,
}

/// `[package]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// `^[a-z][a-z0-9+.-]{1,127}$`, not ending in `-`, `+` or `.`.
    pub name: String,
    /// 1–128 characters of `[A-Za-z0-9.+~_:-]`, starting with an alphanumeric.
    pub version: String,
    /// One line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// SPDX licence expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Project home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage: Option<String>,
}

/// `[provenance]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Upstream source URL.
    pub upstream: String,
    /// Digest of the upstream source archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_hash: Option<Digest>,
    /// The distribution source it was imported from (e.g. `debian:hello_2.10-3.dsc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<String>,
    /// Digest of the recipe `imported_from` names (the `.dsc`, `APKBUILD`,
    /// `.drv` file as read by `ct import`), so the draft names the exact
    /// bytes it came from, not only a file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from_hash: Option<Digest>,
    /// Patches applied on top of upstream, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
}

/// One `[[provenance.patches]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// File name of the patch.
    pub name: String,
    /// Digest of the patch file.
    pub digest: Digest,
}

/// `[build]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Build system or recipe kind (`debian`, `make`, `oci`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Identifier of the builder (URI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
    /// Whether the build claims to be reproducible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<bool>,
}

/// `[runtime]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// Entrypoint argv.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// User to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// `[image]`: the image by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    /// Digest of the OCI image manifest.
    pub digest: Digest,
    /// The reference it was packed from (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A manifest before `ct pack` fills in `[image]`: what a user writes, or
/// what `ct import` drafts from a distribution's recipe. Serialised with
/// the tables and keys in the order of the bundle manifest (spec/manifest-format.md §6),
/// so the same draft is always the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftManifest {
    /// What the package is.
    pub package: Package,
    /// Where its source came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// How it was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// How it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    /// What it needs from the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// The image, when the draft already names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
}

impl DraftManifest {
    /// Checks the rules of spec/manifest-format.md §3 that do not depend on
    /// the image (every rule a bundle manifest has, `[image]` aside).
    pub fn validate(&self) -> Result<()> {
        validate_parts(
            &self.package,
            self.provenance.as_ref(),
            self.build.as_ref(),
            self.runtime.as_ref(),
            self.capabilities.as_ref(),
            self.image.as_ref().and_then(|i| i.reference.as_deref()),
        )
    }

    /// The draft as TOML, validated first: the text `ct pack --manifest`
    /// reads back as this very draft.
    pub fn to_toml(&self) -> Result<String> {
        self.validate()?;
        toml::to_string(self).map_err(|e| Error::malformed("manifest", e.to_string()))
    }
}

impl PackageManifest {
    /// Parses and validates a manifest as carried in a bundle.
    pub fn parse(text: &str) -> Result<Self> {
        let m: PackageManifest =
            toml::from_str(text).map_err(|e| Error::malformed("manifest.toml", one_line(&e.to_string())))?;
        m.validate()?;
        Ok(m)
    }

    /// Parses a manifest written by a user for `ct pack`, where `[image]` may
    /// be absent (it is filled in from the packed image) but, when present,
    /// must name that image.
    pub fn from_draft(text: &str, image: ImageRef) -> Result<Self> {
        let d: DraftManifest =
            toml::from_str(text).map_err(|e| Error::malformed("manifest", one_line(&e.to_string())))?;
        if let Some(declared) = &d.image {
            if declared.digest != image.digest {
                return Err(Error::DigestMismatch {
                    what: "manifest [image].digest vs the image packed".into(),
                    expected: declared.digest,
                    actual: image.digest,
                });
            }
        }
        if let Some(r) = d.image.as_ref().and_then(|i| i.reference.as_ref()) {
            if Some(r) != image.reference.as_ref() {
                return Err(Error::malformed(
                    "manifest",
                    format!(
                        "[image].reference {r:?} is not the packed image's reference {:?}",
                        image.reference
                    ),
                ));
            }
        }
        let m = PackageManifest {
            package: d.package,
            provenance: d.provenance,
            build: d.build,
            runtime: d.runtime,
            capabilities: d.capabilities,
            image,
        };
        m.validate()?;
        Ok(m)
    }

    /// The canonical TOML text carried in bundles.
    pub fn to_canonical_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::malformed("manifest", e.to_string()))
    }

    /// Enforces the naming rules of `spec/manifest-format.md`.
    pub fn validate(&self) -> Result<()> {
        validate_parts(
            &self.package,
            self.provenance.as_ref(),
            self.build.as_ref(),
            self.runtime.as_ref(),
            self.capabilities.as_ref(),
            self.image.reference.as_deref(),
        )
    }
}

/// The rules of spec/manifest-format.md §3, shared by the bundle manifest
/// and the draft (one check, one place).
fn validate_parts(
    p: &Package,
    provenance: Option<&Provenance>,
    build: Option<&Build>,
    runtime: Option<&Runtime>,
    capabilities: Option<&Capabilities>,
    image_reference: Option<&str>,
) -> Result<()> {
    validate_name(&p.name)?;
    validate_version(&p.version)?;
    let mut lines: Vec<(&str, &str)> = Vec::new();
    lines.extend(p.summary.as_deref().map(|v| ("package.summary", v)));
    lines.extend(p.license.as_deref().map(|v| ("package.license", v)));
    lines.extend(p.homepage.as_deref().map(|v| ("package.homepage", v)));
    lines.extend(image_reference.map(|v| ("image.reference", v)));
    if let Some(pr) = provenance {
        lines.push(("provenance.upstream", &pr.upstream));
        lines.extend(pr.imported_from.as_deref().map(|v| ("provenance.imported_from", v)));
        lines.extend(pr.patches.iter().map(|x| ("provenance.patches.name", x.name.as_str())));
        if !pr.upstream.contains("://") {
            return Err(Error::malformed("manifest.toml", "provenance.upstream must be a URL"));
        }
    }
    if let Some(b) = build {
        lines.extend(b.system.as_deref().map(|v| ("build.system", v)));
        lines.extend(b.builder.as_deref().map(|v| ("build.builder", v)));
    }
    if let Some(r) = runtime {
        lines.extend(r.entrypoint.iter().map(|v| ("runtime.entrypoint", v.as_str())));
        lines.extend(r.user.as_deref().map(|v| ("runtime.user", v)));
    }
    for (field, value) in lines {
        check_line(field, value)?;
    }
    if let Some(c) = capabilities {
        c.validate()?;
    }
    if let Some(h) = &p.homepage {
        if !h.contains("://") {
            return Err(Error::malformed("manifest.toml", "package.homepage must be a URL"));
        }
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn check_line(field: &str, v: &str) -> Result<()> {
    if v.len() > 4096 || v.chars().any(char::is_control) {
        return Err(Error::malformed(
            "manifest.toml",
            format!("{field} must be one line of at most 4096 bytes"),
        ));
    }
    Ok(())
}

/// Package names: `^[a-z][a-z0-9+.-]{1,127}$`, not ending in `-`, `+` or `.`.
pub fn validate_name(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let ok = (2..=128).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'.' | b'-'))
        && !matches!(bytes[bytes.len() - 1], b'-' | b'+' | b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::malformed(
            "manifest.toml",
            format!("package.name {name:?} must match ^[a-z][a-z0-9+.-]{{1,127}}$ and not end in '-', '+' or '.'"),
        ))
    }
}

/// Versions: 1–128 characters of `[A-Za-z0-9.+~_:-]`, starting with an alphanumeric.
pub fn validate_version(version: &str) -> Result<()> {
    let bytes = version.as_bytes();
    let ok = (1..=128).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::malformed(
            "manifest.toml",
            format!("package.version {version:?} must be 1-128 of [A-Za-z0-9.+~_:-] starting alphanumeric"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn names() {
        for ok in ["hello", "gcc-12", "libstdc++6", "x1", "a.b+c-d"] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            "a",
            "Hello",
            "1abc",
            "abc-",
            "abc+",
            "abc.",
            "a b",
            "a_b",
            &"a".repeat(129),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions() {
        for ok in ["1", "2.10-3", "1:2.3~rc1+dfsg", "v1_2"] {
            validate_version(ok).unwrap();
        }
        for bad in ["", "-1", "1 2", "1/2", &"1".repeat(129)] {
            assert!(validate_version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trip_is_canonical() {
        let text = format!(
            "[package]\nname = \"hello\"\nversion = \"2.10-3\"\nsummary = \"greets\"\n\n[provenance]\nupstream = \"https://ftp.gnu.org/gnu/hello/hello-2.10.tar.gz\"\nupstream_hash = \"{D}\"\n\n[[provenance.patches]]\nname = \"fix.patch\"\ndigest = \"{D}\"\n\n[image]\ndigest = \"{D}\"\n"
        );
        let m = PackageManifest::parse(&text).unwrap();
        let canon = m.to_canonical_toml().unwrap();
        assert_eq!(PackageManifest::parse(&canon).unwrap(), m);
        assert_eq!(
            PackageManifest::parse(&canon).unwrap().to_canonical_toml().unwrap(),
            canon
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let base = format!("[package]\nname = \"hello\"\nversion = \"1\"\n[image]\ndigest = \"{D}\"\n");
        PackageManifest::parse(&base).unwrap();
        assert!(PackageManifest::parse(&format!("{base}extra = 1\n")).is_err());
        assert!(PackageManifest::parse(&base.replace("hello", "Hello")).is_err());
        assert!(PackageManifest::parse(&base.replace(D, "sha256:00")).is_err());
        assert!(PackageManifest::parse("[package]\nname = \"hello\"\nversion = \"1\"\n").is_err());
    }

    #[test]
    fn a_draft_is_written_in_the_canonical_order_and_read_back() {
        let text = format!(
            "[package]\nname = \"hello\"\nversion = \"2.10-3\"\n\n[provenance]\nupstream = \"https://ftp.gnu.org/gnu/hello/\"\nupstream_hash = \"{D}\"\nimported_from = \"debian:hello_2.10-3.dsc\"\nimported_from_hash = \"{D}\"\n\n[[provenance.patches]]\nname = \"a.patch\"\ndigest = \"{D}\"\n\n[build]\nsystem = \"debian\"\n"
        );
        let d: DraftManifest = toml::from_str(&text).unwrap();
        assert_eq!(d.to_toml().unwrap(), text);
        let image = ImageRef {
            digest: Digest::parse(D).unwrap(),
            reference: None,
        };
        let m = PackageManifest::from_draft(&text, image).unwrap();
        let h = m.provenance.as_ref().and_then(|p| p.imported_from_hash);
        assert_eq!(h, Some(Digest::parse(D).unwrap()));
        let mut bad = d.clone();
        bad.package.name = "Hello".into();
        assert!(bad.to_toml().is_err(), "a draft is validated before it is written");
        assert!(toml::from_str::<DraftManifest>(&text.replace(D, "sha256:00")).is_err());
    }

    #[test]
    fn draft_must_name_the_packed_image() {
        let image = ImageRef {
            digest: Digest::parse(D).unwrap(),
            reference: None,
        };
        let draft = "[package]\nname = \"hello\"\nversion = \"1\"\n";
        let m = PackageManifest::from_draft(draft, image.clone()).unwrap();
        assert_eq!(m.image.digest, image.digest);
        let other = format!("{draft}[image]\ndigest = \"sha256:{}\"\n", "0".repeat(64));
        assert!(matches!(
            PackageManifest::from_draft(&other, image),
            Err(Error::DigestMismatch { .. })
        ));
    }
}
