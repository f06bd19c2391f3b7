//! What every package format says about the package, read from the
//! verified bundle only (the signed manifest, the image config's platform,
//! the member digests): never from the host, so the same bundle gives the
//! same metadata anywhere.

use cerro_core::bundle::{Bundle, MANIFEST_PATH, RELEASE_ATTESTATION};
use cerro_core::timestamp::format_rfc3339;
use cerro_core::{Error, Result};

use crate::layout::Prefix;
use crate::Format;

/// Debian's name for the image's platform (`dpkg-architecture -L`).
pub(crate) fn debian_arch(b: &Bundle) -> Result<&'static str> {
    let c = &b.config;
    let arch = match (c.architecture.as_str(), c.variant.as_deref()) {
        ("amd64", _) => "amd64",
        ("arm64", _) => "arm64",
        ("arm", Some("v7") | None) => "armhf",
        ("arm", Some("v6" | "v5")) => "armel",
        ("386", _) => "i386",
        ("ppc64le", _) => "ppc64el",
        ("s390x", _) => "s390x",
        ("riscv64", _) => "riscv64",
        ("mips64le", _) => "mips64el",
        ("loong64", _) => "loong64",
        _ => return Err(unmapped(b, "Debian")),
    };
    linux(b)?;
    Ok(arch)
}

/// RPM's name for the image's platform (`uname -m` style).
pub(crate) fn rpm_arch(b: &Bundle) -> Result<&'static str> {
    let c = &b.config;
    let arch = match (c.architecture.as_str(), c.variant.as_deref()) {
        ("amd64", _) => "x86_64",
        ("arm64", _) => "aarch64",
        ("arm", Some("v7") | None) => "armv7hl",
        ("arm", Some("v6")) => "armv6hl",
        ("386", _) => "i686",
        ("ppc64le", _) => "ppc64le",
        ("s390x", _) => "s390x",
        ("riscv64", _) => "riscv64",
        ("loong64", _) => "loongarch64",
        _ => return Err(unmapped(b, "RPM")),
    };
    linux(b)?;
    Ok(arch)
}

fn linux(b: &Bundle) -> Result<()> {
    if b.config.os != "linux" {
        return Err(Error::malformed(
            "image config",
            format!("os {:?}: only linux images export as packages", b.config.os),
        ));
    }
    Ok(())
}

fn unmapped(b: &Bundle, to: &str) -> Error {
    Error::malformed(
        "image config",
        format!(
            "architecture {:?}{} has no {to} name",
            b.config.architecture,
            b.config
                .variant
                .as_deref()
                .map(|v| format!(" variant {v:?}"))
                .unwrap_or_default()
        ),
    )
}

/// The one-line summary (the manifest's, else a sentence naming the package).
pub(crate) fn summary(b: &Bundle) -> String {
    b.manifest
        .package
        .summary
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| format!("{} exported by Cerro Torre", b.manifest.package.name))
}

/// The paragraph every format carries after the summary.
pub(crate) fn description(b: &Bundle) -> Vec<String> {
    let mut lines = vec![
        "Exported by Cerro Torre from a verified bundle: the root file".to_owned(),
        "system of the OCI image".to_owned(),
        format!("{}.", b.image.digest),
    ];
    if let Some(p) = &b.manifest.provenance {
        lines.push(format!("Upstream: {}", p.upstream));
        if let Some(i) = &p.imported_from {
            lines.push(format!("Imported from: {i}"));
        }
    }
    lines
}

/// The digest of the release envelope member (what a log entry names).
pub(crate) fn release_digest(b: &Bundle) -> String {
    b.member(RELEASE_ATTESTATION)
        .map(|m| m.digest.to_string())
        .unwrap_or_default()
}

/// The bundle's provenance as the exported package records it
/// (`/usr/share/doc/PKG/cerro-torre.json`, OSTree commit metadata),
/// RFC 8785 JSON: facts of the bundle only (no verdict of this host's
/// trust store, which another host would not share).
pub(crate) fn provenance_json(b: &Bundle, format: Format, prefix: &Prefix, epoch: u64) -> Result<Vec<u8>> {
    let signers: Vec<&str> = b
        .release()
        .map(|r| r.envelope.signatures.iter().map(|s| s.keyid.as_str()).collect())
        .unwrap_or_default();
    let mut v = serde_json::json!({
        "exported_by": "cerro-torre",
        "format": format.name(),
        "prefix": prefix.display(),
        "time": format_rfc3339(epoch),
        "package": {
            "name": b.manifest.package.name,
            "version": b.manifest.package.version,
        },
        "image": {
            "digest": b.image.digest.to_string(),
            "mediaType": b.image.media_type,
            "layers": b.parts.layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>(),
        },
        "bundle": {
            "release": release_digest(b),
            "manifest": b.member(MANIFEST_PATH).map(|m| m.digest.to_string()),
            "signers": signers,
        },
    });
    if let Some(p) = &b.manifest.provenance {
        v["provenance"] = serde_json::to_value(p).map_err(|e| Error::malformed("manifest.toml", e.to_string()))?;
    }
    if let Some(r) = &b.reference {
        v["image"]["reference"] = serde_json::Value::String(r.clone());
    }
    let mut out = cerro_core::jcs::to_vec(&v)?;
    out.push(b'\n');
    Ok(out)
}
