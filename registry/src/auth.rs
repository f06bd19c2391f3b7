//! Credentials from the auth files docker and podman write (`docker login`,
//! `podman login`): `{"auths": {"<registry>": {"auth": base64("user:pass")}}}`.
//! The bearer-token exchange itself (a `WWW-Authenticate: Bearer` challenge
//! answered with these credentials) is done by `oci-client`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use cerro_core::Error;

/// The auth files consulted, most specific first: `$REGISTRY_AUTH_FILE`,
/// `$XDG_RUNTIME_DIR/containers/auth.json` (podman),
/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_auth_files(env: impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(f));
    }
    if let Some(d) = env("XDG_RUNTIME_DIR") {
        files.push(Path::new(&d).join("containers/auth.json"));
    }
    match (env("DOCKER_CONFIG"), env("HOME")) {
        (Some(d), _) => files.push(Path::new(&d).join("config.json")),
        (None, Some(h)) => files.push(Path::new(&h).join(".docker/config.json")),
        (None, None) => {}
    }
    files
}

/// The `(user, password)` stored for `registry` (`host[:port]`) in the
/// first of `files` that has an entry for it. Missing files are skipped; a
/// file that exists but cannot be parsed is an error, not silently ignored.
pub fn credentials_for(registry: &str, files: &[PathBuf]) -> Result<Option<(String, String)>, Error> {
    for f in files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("reading", f, e)),
        };
        let doc: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Config(format!("{}: not a JSON auth file: {e}", f.display())))?;
        let Some(auths) = doc.get("auths").and_then(|a| a.as_object()) else {
            continue;
        };
        for (key, entry) in auths {
            if canonical(normalise(key)) != canonical(registry) {
                continue;
            }
            let Some(b64) = entry.get("auth").and_then(|a| a.as_str()) else {
                continue;
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| Error::Config(format!("{}: auth of {key:?} is not base64: {e}", f.display())))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| Error::Config(format!("{}: auth of {key:?} is not UTF-8", f.display())))?;
            let (user, pass) = text
                .split_once(':')
                .ok_or_else(|| Error::Config(format!("{}: auth of {key:?} is not user:password", f.display())))?;
            return Ok(Some((user.to_owned(), pass.to_owned())));
        }
    }
    Ok(None)
}

/// Docker Hub's names as one: docker writes `https://index.docker.io/v1/`,
/// podman `docker.io`, and references resolve to `index.docker.io`.
fn canonical(registry: &str) -> &str {
    match registry {
        "docker.io" | "registry-1.docker.io" => "index.docker.io",
        r => r,
    }
}

/// `https://host:port/v1/` and `host:port/repo` (podman allows per-repository
/// entries; this slice treats them as per-registry) → `host:port`.
fn normalise(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_docker_and_podman_auth_files() {
        let dir = tempfile::tempdir().unwrap();
        let podman = dir.path().join("auth.json");
        let docker = dir.path().join("config.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &podman,
            format!(
                r#"{{"auths":{{"quay.example:8443/team/app":{{"auth":"{}"}}}}}}"#,
                b64("alice:s3:cret")
            ),
        )
        .unwrap();
        std::fs::write(
            &docker,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"127.0.0.1:5000":{{"auth":"{}"}}}},"credsStore":"x"}}"#,
                b64("bob:pw"),
                b64("carol:pw2")
            ),
        )
        .unwrap();
        let files = vec![dir.path().join("missing.json"), podman, docker.clone()];
        assert_eq!(
            credentials_for("quay.example:8443", &files).unwrap(),
            Some(("alice".into(), "s3:cret".into()))
        );
        assert_eq!(
            credentials_for("index.docker.io", &files).unwrap(),
            Some(("bob".into(), "pw".into()))
        );
        assert_eq!(
            credentials_for("127.0.0.1:5000", &files).unwrap(),
            Some(("carol".into(), "pw2".into()))
        );
        assert_eq!(credentials_for("127.0.0.1:5001", &files).unwrap(), None);

        // `podman login docker.io` writes "docker.io"; references to Docker
        // Hub resolve to "index.docker.io".
        let hub = dir.path().join("hub.json");
        std::fs::write(
            &hub,
            format!(r#"{{"auths":{{"docker.io":{{"auth":"{}"}}}}}}"#, b64("dave:pw3")),
        )
        .unwrap();
        assert_eq!(
            credentials_for("index.docker.io", std::slice::from_ref(&hub)).unwrap(),
            Some(("dave".into(), "pw3".into()))
        );
        assert_eq!(credentials_for("docker.io.example", &[hub]).unwrap(), None);

        std::fs::write(&docker, "not json").unwrap();
        let e = credentials_for("x", &[docker]).unwrap_err();
        assert_eq!(e.exit_code(), cerro_core::ExitCode::Config);
    }

    #[test]
    fn default_files_follow_the_environment() {
        let env = |k: &str| match k {
            "XDG_RUNTIME_DIR" => Some("/run/user/1000".to_owned()),
            "HOME" => Some("/home/u".to_owned()),
            _ => None,
        };
        assert_eq!(
            default_auth_files(env),
            vec![
                PathBuf::from("/run/user/1000/containers/auth.json"),
                PathBuf::from("/home/u/.docker/config.json")
            ]
        );
    }
}
