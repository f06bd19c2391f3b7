//! CycloneDX 1.5 JSON BOMs (validated in the tests by cyclonedx-python-lib's
//! JSON schema validator).

use serde_json::{json, Value};

use super::layers::ImageContents;
use super::SbomSubject;
use cerro_core::digest::Digest;
use cerro_core::timestamp::format_rfc3339 as rfc3339;

/// A deterministic RFC 4122 (version 5 shaped) UUID derived from `seed`.
fn uuid(seed: &str) -> String {
    let h = Digest::of(seed.as_bytes()).hex();
    let mut b: Vec<char> = h[..32].chars().collect();
    b[12] = '5';
    b[16] = ['8', '9', 'a', 'b'][(b[16].to_digit(16).unwrap_or(0) & 3) as usize];
    let s: String = b.into_iter().collect();
    format!("{}-{}-{}-{}-{}", &s[..8], &s[8..12], &s[12..16], &s[16..20], &s[20..32])
}

/// The CycloneDX BOM for an image.
pub fn bom(subject: &SbomSubject<'_>, contents: &ImageContents) -> Value {
    let distro = contents.distro.clone().unwrap_or_else(|| "unknown".into());
    let mut components: Vec<Value> = contents
        .packages
        .iter()
        .map(|p| {
            let purl = p.purl(&distro);
            let mut c = json!({
                "type": "library",
                "bom-ref": purl,
                "name": p.name,
                "version": p.version,
                "purl": purl,
            });
            if let Some(l) = &p.license {
                c["licenses"] = json!([{"license": {"name": l}}]);
            }
            c
        })
        .collect();
    components.extend(contents.files.iter().map(|f| {
        // CycloneDX needs no SHA-1: `ct pack --sbom-format cyclonedx` does
        // not compute it (SHA-1 is listed when the scan measured it).
        let mut hashes = Vec::with_capacity(2);
        if let Some(sha1) = &f.sha1 {
            hashes.push(json!({"alg": "SHA-1", "content": sha1}));
        }
        hashes.push(json!({"alg": "SHA-256", "content": f.sha256.hex()}));
        json!({
            "type": "file",
            "bom-ref": format!("file:{}", f.path),
            "name": f.path,
            "hashes": hashes,
        })
    }));
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid(&format!("{}@{}#{}", subject.name, subject.version, subject.image))),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(subject.time),
            "tools": {"components": [{"type": "application", "name": "ct", "version": subject.tool_version}]},
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": subject.name,
                "version": subject.version,
                "hashes": [{"alg": "SHA-256", "content": subject.image.hex()}],
            },
        },
        "components": components,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid_shape() {
        let u = super::uuid("x");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "5");
        assert!("89ab".contains(&u[19..20]));
    }
}
