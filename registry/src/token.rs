//! Identity tokens: what `docker login` stores for a registry whose token
//! server hands out OAuth2 refresh tokens (Azure Container Registry,
//! registries behind an OIDC login): `identitytoken` in the auth file, or
//! user `<token>` from a credential helper.
//!
//! Such a token is not a password and is never shown to the registry. It
//! is exchanged at the registry's token server, named by the challenge of
//! `GET /v2/` (`WWW-Authenticate: Bearer realm="…",service="…"`), with the
//! OAuth2 refresh grant of distribution's token specification: `POST realm`
//! with the form `grant_type=refresh_token`, `service`, `scope`,
//! `client_id`, `refresh_token`. The access token it answers is then used
//! as a plain bearer token. `oci-client` does only the password grant
//! (`GET realm` with basic credentials), so this module does the exchange.

use std::time::Duration;

use oci_client::errors::OciDistributionError;
use oci_client::RegistryOperation;

use crate::client::{CONNECT_TIMEOUT, READ_TIMEOUT};
use crate::error::Error;
use crate::retry::with_retry;

/// The `client_id` sent with every exchange (the specification requires
/// one; it names the client in the token server's logs).
const CLIENT_ID: &str = "cerro-torre";

/// Token answers are small; anything larger is not one.
const MAX_ANSWER: usize = 64 * 1024;

/// Where to exchange the token: a `Bearer` challenge's `realm` and `service`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub realm: String,
    pub service: Option<String>,
}

/// The `Bearer` challenge among the `WWW-Authenticate` value's challenges.
pub(crate) fn bearer_challenge(header: &str) -> Option<Challenge> {
    http_auth::ChallengeParser::new(header)
        .filter_map(Result::ok)
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|c| {
            let param = |name: &str| {
                c.params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            Some(Challenge {
                realm: param("realm")?,
                service: param("service"),
            })
        })
}

/// The scope asked for: pulling needs `pull`, pushing `pull,push` (a push
/// checks what is already there).
pub(crate) fn scope(repository: &str, op: RegistryOperation) -> String {
    match op {
        RegistryOperation::Pull => format!("repository:{repository}:pull"),
        RegistryOperation::Push => format!("repository:{repository}:pull,push"),
    }
}

/// An access token, and how long the token server said it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Access {
    pub token: String,
    pub lifetime: Duration,
}

/// The lifetime of a token whose answer gives none (distribution's token
/// specification).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

impl Access {
    /// When to exchange again: a quarter of the lifetime (at most 30 s)
    /// before it ends, so no request goes out with a token about to lapse.
    pub fn renew_after(&self) -> Duration {
        let margin = (self.lifetime / 4).min(Duration::from_secs(30));
        self.lifetime.saturating_sub(margin)
    }
}

/// The access token of a token server's answer: OAuth2's `access_token`,
/// or distribution's `token`, with its `expires_in`.
pub(crate) fn access_token(body: &[u8]) -> Result<Access, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the token server answered no JSON: {e}"))?;
    let token = ["access_token", "token"]
        .iter()
        .find_map(|k| v.get(*k).and_then(|t| t.as_str()).filter(|t| !t.is_empty()))
        .map(str::to_owned)
        .ok_or_else(|| "the token server's answer holds no access_token".to_owned())?;
    let lifetime = v
        .get("expires_in")
        .and_then(serde_json::Value::as_u64)
        .map_or(DEFAULT_LIFETIME, Duration::from_secs);
    Ok(Access { token, lifetime })
}

/// Exchanges `identity_token` for an access token to `op` on `repository`
/// of the registry at `base` (`http[s]://host[:port]`), with `http` (the
/// registry's TLS settings). `source` names where the token came from, for
/// the message when it is refused.
pub(crate) async fn exchange(
    http: &reqwest::Client,
    base: &str,
    repository: &str,
    op: RegistryOperation,
    identity_token: &str,
    source: &str,
) -> Result<Access, Error> {
    let fail = |message: String| Error::Network {
        op: "authenticating to",
        target: base.to_owned(),
        message,
    };
    let ping = with_retry(|| async { answered(http.get(format!("{base}/v2/")).send().await) })
        .await
        .map_err(|e| fail(crate::retry::message(&e)))?;
    let challenge = ping
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(bearer_challenge)
        .ok_or_else(|| {
            fail(format!(
                "the credentials from {source} are an identity token, but the registry asks for no bearer \
                 token (HTTP {} to /v2/): nothing to exchange it at",
                ping.status().as_u16()
            ))
        })?;
    let scope = scope(repository, op);
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT_ID),
        ("scope", scope.as_str()),
        ("refresh_token", identity_token),
    ];
    if let Some(service) = &challenge.service {
        form.push(("service", service));
    }
    let answer = with_retry(|| async { answered(http.post(challenge.realm.as_str()).form(&form).send().await) })
        .await
        .map_err(|e| {
            fail(format!(
                "token server {}: {}",
                challenge.realm,
                crate::retry::message(&e)
            ))
        })?;
    let status = answer.status();
    let body = read_bounded(answer)
        .await
        .map_err(|e| fail(format!("token server {}: {e}", challenge.realm)))?;
    if !status.is_success() {
        let said = String::from_utf8_lossy(&body);
        return Err(fail(format!(
            "the token server {} refused the identity token from {source} (HTTP {}): {}",
            challenge.realm,
            status.as_u16(),
            said.trim()
        )));
    }
    access_token(&body).map_err(|e| fail(format!("token server {}: {e}", challenge.realm)))
}

/// The answer's body, refused past [`MAX_ANSWER`] bytes.
async fn read_bounded(mut answer: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await.map_err(|e| crate::retry::message(&e.into()))? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("answer larger than {MAX_ANSWER} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A response, or the error the retry policy judges: a transport error,
/// or a 5xx answer (the server failed, not the request).
fn answered(sent: Result<reqwest::Response, reqwest::Error>) -> Result<reqwest::Response, OciDistributionError> {
    let answer = sent?;
    if answer.status().is_server_error() {
        return Err(OciDistributionError::ServerError {
            code: answer.status().as_u16(),
            url: answer.url().to_string(),
            message: String::new(),
        });
    }
    Ok(answer)
}

/// The HTTP client for exchanges: the registry client's timeouts and
/// certificate authorities (`cas`, PEM).
pub(crate) fn http_client(cas: &[Vec<u8>]) -> Result<reqwest::Client, String> {
    let certs = cas
        .iter()
        .map(|pem| reqwest::Certificate::from_pem(pem).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .tls_certs_merge(certs)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renews_ahead_of_the_end_of_the_lifetime() {
        let after = |secs: u64| {
            Access {
                token: String::new(),
                lifetime: Duration::from_secs(secs),
            }
            .renew_after()
            .as_secs()
        };
        assert_eq!(after(3600), 3570); // 30 s ahead at most
        assert_eq!(after(60), 45); // a quarter ahead
        assert_eq!(after(0), 0); // at once
    }

    #[test]
    fn finds_the_bearer_challenge_among_others() {
        let c = bearer_challenge(
            r#"Basic realm="x", Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service.as_deref(), Some("registry.example"));
        assert_eq!(
            bearer_challenge(r#"bearer realm="https://a/t""#).unwrap(),
            Challenge {
                realm: "https://a/t".into(),
                service: None
            }
        );
        assert_eq!(bearer_challenge(r#"Basic realm="registry""#), None);
        assert_eq!(bearer_challenge(r#"Bearer service="no realm""#), None);
        assert_eq!(bearer_challenge("\u{0}garbage"), None);
    }

    #[test]
    fn asks_for_pull_or_pull_and_push() {
        assert_eq!(scope("ns/app", RegistryOperation::Pull), "repository:ns/app:pull");
        assert_eq!(scope("ns/app", RegistryOperation::Push), "repository:ns/app:pull,push");
    }

    #[test]
    fn reads_oauth2_and_distribution_answers() {
        let a = access_token(br#"{"access_token":"a1","expires_in":300}"#).unwrap();
        assert_eq!((a.token.as_str(), a.lifetime.as_secs()), ("a1", 300));
        // No expires_in: the specification's 60 seconds.
        let t = access_token(br#"{"token":"t1"}"#).unwrap();
        assert_eq!((t.token.as_str(), t.lifetime.as_secs()), ("t1", 60));
        assert_eq!(
            access_token(br#"{"access_token":"","token":"t2"}"#).unwrap().token,
            "t2"
        );
        assert!(access_token(br#"{"refresh_token":"r"}"#)
            .unwrap_err()
            .contains("no access_token"));
        assert!(access_token(b"<html>").unwrap_err().contains("no JSON"));
    }
}
