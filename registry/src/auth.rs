//! Credentials from the auth files docker and podman write (`docker login`,
//! `podman login`): `{"auths": {"<registry>": {"auth": base64("user:pass")}}}`,
//! or `{"identitytoken": "…"}` where the registry's token server handed out
//! an OAuth2 refresh token. Both are used by [`crate::token`] (basic
//! credentials, a bearer token bought with them, or the refresh grant).

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

/// Credentials found for a registry, and where they came from (named in
/// the message when the registry refuses them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// What the registry is shown.
    pub secret: Secret,
    /// `FILE (KEY)` or `docker-credential-NAME`.
    pub source: String,
}

/// The two kinds of secret docker's auth files and credential helpers hold.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A user name and a password (or a registry token used as one).
    Password {
        /// User name.
        user: String,
        /// Password or token.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in an auth file; user
    /// `<token>` from a credential helper): never sent to the registry,
    /// only to its token server, in exchange for an access token.
    IdentityToken(String),
}

impl std::fmt::Debug for Secret {
    /// Never prints the secret itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Password { user, .. } => write!(f, "Password {{ user: {user:?}, .. }}"),
            Secret::IdentityToken(_) => f.write_str("IdentityToken(..)"),
        }
    }
}

/// The credentials for `registry` (`host[:port]`) and `repository`, from
/// the first of `files` that has any, with the precedence docker and podman
/// give them within a file: a `credHelpers` entry for the registry, then
/// the most specific `auths` key (`host/ns/repo` before `host/ns` before
/// `host`, as containers-auth.json(5) specifies), then the `credsStore`
/// helper. Missing files are skipped; a file that exists but cannot be
/// parsed is an error, not silently ignored.
pub fn credentials_for(registry: &str, repository: &str, files: &[PathBuf]) -> Result<Option<Credentials>, Error> {
    for f in files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("reading", f, e)),
        };
        let doc: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid_config(f.display().to_string(), format!("not a JSON auth file: {e}")))?;
        if let Some(helper) = doc
            .get("credHelpers")
            .and_then(|h| h.as_object())
            .and_then(|h| h.iter().find(|(k, _)| canonical(normalise(k).0) == canonical(registry)))
            .and_then(|(_, v)| v.as_str())
        {
            if let Some(c) = from_helper(helper, registry)? {
                return Ok(Some(c));
            }
        }
        if let Some(c) = from_auths(f, &doc, registry, repository)? {
            return Ok(Some(c));
        }
        if let Some(helper) = doc.get("credsStore").and_then(|h| h.as_str()) {
            if let Some(c) = from_helper(helper, registry)? {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

/// The most specific `auths` entry of `doc` that covers `registry/repository`.
fn from_auths(
    f: &Path,
    doc: &serde_json::Value,
    registry: &str,
    repository: &str,
) -> Result<Option<Credentials>, Error> {
    let Some(auths) = doc.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    let mut best: Option<(usize, &str, &serde_json::Value)> = None;
    for (key, entry) in auths {
        let (host, path) = normalise(key);
        if canonical(host) != canonical(registry) {
            continue;
        }
        // A path entry covers the repository and everything below it.
        let covers = path.is_empty()
            || repository == path
            || repository.strip_prefix(path).is_some_and(|rest| rest.starts_with('/'));
        let non_empty = |k: &str| entry.get(k).and_then(|a| a.as_str()).filter(|a| !a.is_empty());
        if !covers || (non_empty("auth").is_none() && non_empty("identitytoken").is_none()) {
            continue;
        }
        if best.is_none_or(|(len, _, _)| path.len() > len) {
            best = Some((path.len(), key, entry));
        }
    }
    let Some((_, key, entry)) = best else {
        return Ok(None);
    };
    let source = format!("{} ({key})", f.display());
    // docker prefers the identity token to the `auth` beside it.
    if let Some(token) = entry
        .get("identitytoken")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
    {
        return Ok(Some(Credentials {
            secret: Secret::IdentityToken(token.to_owned()),
            source,
        }));
    }
    let b64 = entry.get("auth").and_then(|a| a.as_str()).unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| Error::invalid_config(f.display().to_string(), format!("auth of {key:?} is not base64: {e}")))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| Error::invalid_config(f.display().to_string(), format!("auth of {key:?} is not UTF-8")))?;
    let (user, pass) = text.split_once(':').ok_or_else(|| {
        Error::invalid_config(f.display().to_string(), format!("auth of {key:?} is not user:password"))
    })?;
    Ok(Some(Credentials {
        secret: Secret::Password {
            user: user.to_owned(),
            password: pass.to_owned(),
        },
        source,
    }))
}

/// Asks `docker-credential-<helper> get` (the docker credential helper
/// protocol: the server on stdin, `{"Username","Secret"}` on stdout). A
/// helper that has nothing for the server says so and exits non-zero.
fn from_helper(helper: &str, registry: &str) -> Result<Option<Credentials>, Error> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(Error::invalid_config(
            "credential helper",
            format!("name {helper:?} is not a plain name"),
        ));
    }
    let program = format!("docker-credential-{helper}");
    let server = if canonical(registry) == "index.docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    let child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        // Not installed: as if it held nothing (an anonymous pull may still work).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::CommandFailed {
                command: program.clone(),
                message: format!("cannot run it: {e}"),
            })
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(server.as_bytes()).map_err(|e| Error::CommandFailed {
            command: program.clone(),
            message: e.to_string(),
        })?;
    }
    let out = child.wait_with_output().map_err(|e| Error::CommandFailed {
        command: program.clone(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        // "credentials not found in native keychain": nothing stored.
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| Error::CommandFailed {
        command: program.clone(),
        message: format!("answered no JSON: {e}"),
    })?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_owned();
    let (user, password) = (field("Username"), field("Secret"));
    if user.is_empty() && password.is_empty() {
        return Ok(None);
    }
    // The helper protocol's way of saying "this is an identity token".
    let secret = if user == "<token>" {
        Secret::IdentityToken(password)
    } else {
        Secret::Password { user, password }
    };
    Ok(Some(Credentials {
        secret,
        source: program,
    }))
}

/// Docker Hub's names as one: docker writes `https://index.docker.io/v1/`,
/// podman `docker.io`, and references resolve to `index.docker.io`.
fn canonical(registry: &str) -> &str {
    match registry {
        "docker.io" | "registry-1.docker.io" => "index.docker.io",
        r => r,
    }
}

/// `https://host:port/v1/` → (`host:port`, ""), `host:port/ns/repo` →
/// (`host:port`, `ns/repo`): podman allows per-repository entries.
fn normalise(key: &str) -> (&str, &str) {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let (host, path) = k.split_once('/').unwrap_or((k, ""));
    // docker's legacy `https://host/v1/` names the registry, not a path.
    let path = path.trim_end_matches('/');
    let path = if key.starts_with("http") && (path == "v1" || path == "v2") {
        ""
    } else {
        path
    };
    (host, path)
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
        let user = |r: &str, repo: &str, files: &[PathBuf]| {
            credentials_for(r, repo, files).unwrap().map(|c| match c.secret {
                Secret::Password { user, password } => format!("{user}:{password}"),
                Secret::IdentityToken(t) => format!("token {t}"),
            })
        };
        assert_eq!(
            user("quay.example:8443", "team/app", &files).as_deref(),
            Some("alice:s3:cret")
        );
        assert_eq!(
            user("quay.example:8443", "team/app/sub", &files).as_deref(),
            Some("alice:s3:cret")
        );
        // A repository entry does not cover its siblings.
        assert_eq!(user("quay.example:8443", "team/other", &files), None);
        assert_eq!(user("quay.example:8443", "team/application", &files), None);
        assert_eq!(user("index.docker.io", "library/x", &files).as_deref(), Some("bob:pw"));
        assert_eq!(user("127.0.0.1:5000", "a", &files).as_deref(), Some("carol:pw2"));
        // credsStore "x" is not installed: no credentials, no error.
        assert_eq!(user("127.0.0.1:5001", "a", &files), None);
        let c = credentials_for("127.0.0.1:5000", "a", &files).unwrap().unwrap();
        assert_eq!(c.source, format!("{} (127.0.0.1:5000)", docker.display()));

        // The most specific key wins, whatever the order in the file.
        let nested = dir.path().join("nested.json");
        std::fs::write(
            &nested,
            format!(
                r#"{{"auths":{{"r.example":{{"auth":"{}"}},"r.example/ns/app":{{"auth":"{}"}},"r.example/ns":{{"auth":"{}"}}}}}}"#,
                b64("host:1"),
                b64("repo:3"),
                b64("ns:2")
            ),
        )
        .unwrap();
        let nested = std::slice::from_ref(&nested);
        assert_eq!(user("r.example", "ns/app", nested).as_deref(), Some("repo:3"));
        assert_eq!(user("r.example", "ns/lib", nested).as_deref(), Some("ns:2"));
        assert_eq!(user("r.example", "other", nested).as_deref(), Some("host:1"));

        // `podman login docker.io` writes "docker.io"; references to Docker
        // Hub resolve to "index.docker.io".
        let hub = dir.path().join("hub.json");
        std::fs::write(
            &hub,
            format!(r#"{{"auths":{{"docker.io":{{"auth":"{}"}}}}}}"#, b64("dave:pw3")),
        )
        .unwrap();
        assert_eq!(
            user("index.docker.io", "library/busybox", std::slice::from_ref(&hub)).as_deref(),
            Some("dave:pw3")
        );
        assert_eq!(user("docker.io.example", "x", &[hub]), None);

        // A helper name that could be a path is refused.
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"credsStore":"../../bin/sh"}"#).unwrap();
        let e = credentials_for("x", "y", &[bad]).unwrap_err();
        assert_eq!(e.exit_code(), cerro_core::ExitCode::Config);

        std::fs::write(&docker, "not json").unwrap();
        let e = credentials_for("x", "y", &[docker]).unwrap_err();
        assert_eq!(e.exit_code(), cerro_core::ExitCode::Config);
    }

    #[test]
    fn identity_tokens_are_told_from_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.json");
        // `docker login` against an OAuth2 token server: an identity token,
        // preferred to the `auth` beside it; an entry with neither is no entry.
        std::fs::write(
            &f,
            r#"{"auths":{"acr.example":{"auth":"","identitytoken":"eyJ.refresh"},
                "both.example":{"auth":"dTpw","identitytoken":"rt"},
                "none.example":{"auth":"","identitytoken":""}}}"#,
        )
        .unwrap();
        let files = std::slice::from_ref(&f);
        let c = credentials_for("acr.example", "app", files).unwrap().unwrap();
        assert_eq!(c.secret, Secret::IdentityToken("eyJ.refresh".into()));
        assert_eq!(c.source, format!("{} (acr.example)", f.display()));
        let c = credentials_for("both.example", "app", files).unwrap().unwrap();
        assert_eq!(c.secret, Secret::IdentityToken("rt".into()));
        assert_eq!(credentials_for("none.example", "app", files).unwrap(), None);
        // The secret never shows in debug output.
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("rt\"") && shown.contains("IdentityToken(..)"),
            "{shown}"
        );
        let p = Secret::Password {
            user: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{p:?}").contains("hunter2"));
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
