//! SPDX 2.3 JSON documents (no maintained crate writes them; the tests run
//! the reference validator, `pyspdxtools`, on what this produces).

use serde_json::{json, Value};
use sha1::{Digest as _, Sha1};

use super::layers::{FileEntry, ImageContents};
use super::SbomSubject;
use cerro_core::jcs;
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
/// [`super::layers::FileDigests::Sha256AndSha1`]), as a JSON value: the
/// document [`canonical`] writes, read back.
pub fn document(subject: &SbomSubject<'_>, contents: &ImageContents) -> Result<Value> {
    serde_json::from_slice(&canonical(subject, contents)?)
        .map_err(|e| Error::malformed("SPDX document", format!("reading back what was written: {e}")))
}

/// The SPDX element id of the image package.
const IMAGE_ID: &str = "SPDXRef-Image";

/// The canonical JSON bytes (RFC 8785) of [`value`].
fn canon(value: &Value) -> Result<Vec<u8>> {
    jcs::to_vec(value)
}

/// A canonical JSON string.
fn string(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    jcs::write_str(s, &mut out);
    out
}

/// One `CONTAINS` relationship from the image, canonical.
fn contains(related: &str, out: &mut Vec<u8>) -> Result<()> {
    jcs::write_object(
        &[
            ("relatedSpdxElement", &string(related)),
            ("relationshipType", b"\"CONTAINS\""),
            ("spdxElementId", &string(IMAGE_ID)),
        ],
        out,
    )
}

/// A canonical JSON array of `n` items, each written by `item`.
fn array(n: usize, per_item: usize, mut item: impl FnMut(usize, &mut Vec<u8>) -> Result<()>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(2 + n.saturating_mul(per_item));
    out.push(b'[');
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        item(i, &mut out)?;
    }
    out.push(b']');
    Ok(out)
}

/// The SPDX document for an image, as the canonical JSON bytes (RFC 8785)
/// the SBOM statement carries.
///
/// An image has thousands of files (a Debian base: 5,000; a desktop image:
/// 100,000), each an object in `files` and one in `relationships`, and
/// `ct pack` waits for this document before it can sign. So the per-file
/// objects are written straight to canonical bytes, names listed in their
/// canonical order ([`jcs::write_object`] refuses any other), instead of
/// as a `Value` tree sorted and copied again; the small parts are `Value`s
/// canonicalised by [`jcs::to_vec`]. The tests check that re-canonicalising
/// the result changes no byte.
pub fn canonical(subject: &SbomSubject<'_>, contents: &ImageContents) -> Result<Vec<u8>> {
    let distro = contents.distro.clone().unwrap_or_else(|| "unknown".into());
    let mut packages = vec![json!({
        "SPDXID": IMAGE_ID,
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
    for (i, p) in contents.packages.iter().enumerate() {
        let mut pkg = json!({
            "SPDXID": format!("SPDXRef-Package-{i}"),
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
    }
    let files = array(contents.files.len(), 300, |i, out| {
        let f = contents
            .files
            .get(i)
            .ok_or_else(|| Error::malformed("SPDX document", "file index"))?;
        let mut checksums = Vec::with_capacity(160);
        checksums.push(b'[');
        jcs::write_object(
            &[("algorithm", b"\"SHA1\""), ("checksumValue", &string(sha1(f)?))],
            &mut checksums,
        )?;
        checksums.push(b',');
        let sha256 = string(&f.sha256.hex());
        jcs::write_object(
            &[("algorithm", b"\"SHA256\""), ("checksumValue", &sha256)],
            &mut checksums,
        )?;
        checksums.push(b']');
        jcs::write_object(
            &[
                ("SPDXID", &string(&format!("SPDXRef-File-{i}"))),
                ("checksums", &checksums),
                ("copyrightText", b"\"NOASSERTION\""),
                ("fileName", &string(&format!("./{}", f.path))),
                ("licenseConcluded", b"\"NOASSERTION\""),
            ],
            out,
        )
    })?;
    // DESCRIBES the image; the image CONTAINS each package, then each file.
    let (np, nf) = (contents.packages.len(), contents.files.len());
    let relationships = array(1 + np + nf, 110, |i, out| match i {
        0 => {
            out.extend_from_slice(&canon(&json!({
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": IMAGE_ID,
            }))?);
            Ok(())
        }
        i if i <= np => contains(&format!("SPDXRef-Package-{}", i - 1), out),
        i => contains(&format!("SPDXRef-File-{}", i - 1 - np), out),
    })?;
    let mut out = Vec::with_capacity(files.len() + relationships.len() + 4096);
    jcs::write_object(
        &[
            ("SPDXID", b"\"SPDXRef-DOCUMENT\""),
            (
                "creationInfo",
                &canon(&json!({
                    "created": rfc3339(subject.time),
                    "creators": [format!("Tool: cerro-torre-ct-{}", subject.tool_version)],
                }))?,
            ),
            ("dataLicense", b"\"CC0-1.0\""),
            ("documentDescribes", &canon(&json!([IMAGE_ID]))?),
            (
                "documentNamespace",
                &string(&format!(
                    "https://cerro-torre.org/spdx/{}-{}-{}",
                    subject.name,
                    subject.version,
                    subject.image.hex()
                )),
            ),
            ("files", &files),
            ("name", &string(&format!("{}-{}", subject.name, subject.version))),
            ("packages", &canon(&Value::Array(packages))?),
            ("relationships", &relationships),
            ("spdxVersion", b"\"SPDX-2.3\""),
        ],
        &mut out,
    )?;
    Ok(out)
}
