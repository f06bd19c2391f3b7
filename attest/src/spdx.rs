//! SPDX 2.3 JSON documents (no maintained crate writes them; the tests run
//! the reference validator, `pyspdxtools`, on what this produces).

use serde_json::{json, Value};
use sha1::{Digest as _, Sha1};

use super::layers::{FileEntry, ImageContents};
use super::SbomSubject;
use cerro_core::timestamp::format_rfc3339 as rfc3339;
use cerro_core::{Error, Result};

/// A file's SHA-1: SPDX 2.3 requires one for every file, so contents
/// scanned without them ([`super::layers::FileDigests::Sha256`]) are refused.
fn sha1(f: &FileEntry) -> Result<&str> {
    f.sha1.as_deref().ok_or_else(|| {
        Error::malformed(
            format!("image file /{}", f.path),
            "no SHA-1 measured: an SPDX document needs one per file",
        )
    })
}

/// SPDX 2.3 §7.9: SHA-1 over the sorted, concatenated SHA-1 hex values of
/// every file in the package.
fn verification_code(contents: &ImageContents) -> Result<String> {
    let mut sums: Vec<&str> = contents.files.iter().map(sha1).collect::<Result<_>>()?;
    sums.sort_unstable();
    let mut h = Sha1::new();
    for s in sums {
        h.update(s.as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// The SPDX document for an image (its files scanned with
/// [`super::layers::FileDigests::Sha256AndSha1`]).
pub fn document(subject: &SbomSubject<'_>, contents: &ImageContents) -> Result<Value> {
    let distro = contents.distro.clone().unwrap_or_else(|| "unknown".into());
    let image_id = "SPDXRef-Image";
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": subject.name,
        "versionInfo": subject.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": true,
        "packageVerificationCode": {"packageVerificationCodeValue": verification_code(contents)?},
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": subject.image.hex()}],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    for (i, p) in contents.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{i}");
        let mut pkg = json!({
            "SPDXID": id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.purl(&distro),
            }],
        });
        if let Some(src) = &p.source {
            pkg["sourceInfo"] = json!(format!("built from source package {src}"));
        }
        if let Some(l) = &p.license {
            pkg["comment"] = json!(format!("licence recorded by the package manager: {l}"));
        }
        packages.push(pkg);
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let files: Vec<Value> = contents
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| -> Result<Value> {
            let id = format!("SPDXRef-File-{i}");
            relationships.push(json!({
                "spdxElementId": image_id,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": id,
            }));
            Ok(json!({
                "SPDXID": id,
                "fileName": format!("./{}", f.path),
                "checksums": [
                    {"algorithm": "SHA1", "checksumValue": sha1(f)?},
                    {"algorithm": "SHA256", "checksumValue": f.sha256.hex()},
                ],
                "licenseConcluded": "NOASSERTION",
                "copyrightText": "NOASSERTION",
            }))
        })
        .collect::<Result<_>>()?;
    Ok(json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}-{}", subject.name, subject.version),
        "documentNamespace": format!(
            "https://cerro-torre.org/spdx/{}-{}-{}",
            subject.name, subject.version, subject.image.hex()
        ),
        "creationInfo": {
            "created": rfc3339(subject.time),
            "creators": [format!("Tool: cerro-torre-ct-{}", subject.tool_version)],
        },
        "documentDescribes": [image_id],
        "packages": packages,
        "files": files,
        "relationships": relationships,
    }))
}
