//! Logging in to a registry: the `GET /v2/` challenge, and the token it
//! points to, for every kind of credential.
//!
//! * A `Bearer realm="…",service="…"` challenge is answered with a token
//!   from the realm (distribution's token specification): anonymously
//!   (`GET realm?scope=…&service=…`), with a password (the same request
//!   with HTTP basic credentials), or with an identity token.
//! * Any other challenge is answered with HTTP basic credentials, when
//!   there are some.
//!
//! Identity tokens are what `docker login` stores for a registry whose
//! token server hands out OAuth2 refresh tokens (Azure Container Registry,
//! registries behind an OIDC login): `identitytoken` in the auth file, or
//! user `<token>` from a credential helper. Such a token is not a password
//! and is never shown to the registry: it is exchanged at the realm with
//! the OAuth2 refresh grant (`POST realm` with the form
//! `grant_type=refresh_token`, `service`, `scope`, `client_id`,
//! `refresh_token`).
//!
//! Secrets go only to the realms [`crate::transport::realm_verdict`]
//! allows, answers are read up to [`crate::transport::MAX_ANSWER`] bytes,
//! and redirects follow the transport's rules (a 307 cannot re-send the
//! refresh token to another site).

use std::time::Duration;

use oci_client::errors::OciDistributionError;
use oci_client::RegistryOperation;
use reqwest::header::HeaderValue;
use reqwest::Url;

use crate::error::Error;
use crate::retry::with_retry;
use crate::transport::{failure, read_bounded, realm_verdict, Fail, Secret, MAX_ANSWER};

/// The `client_id` sent with every exchange (the specification requires
/// one; it names the client in the token server's logs).
const CLIENT_ID: &str = "cerro-torre";

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

/// The credential a client logs in with.
#[derive(Clone)]
pub(crate) enum Login {
    /// None: an anonymous token, or nothing.
    Anonymous,
    /// A user name and password.
    Password {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// An identity (OAuth2 refresh) token.
    Identity(String),
}

/// What to send with each request after logging in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    /// The `Authorization` value, if the registry wants one.
    pub header: Option<HeaderValue>,
    /// For a bearer token: how long until it is to be renewed.
    pub renew_after: Option<Duration>,
}

/// Logs in for `op` on `repository` of the registry at `base`
/// (`http[s]://host[:port]/`) with `login`. `note` says where the
/// credentials came from (or that there were none), for messages.
pub(crate) async fn login(
    http: &reqwest::Client,
    base: &Url,
    repository: &str,
    op: RegistryOperation,
    login: &Login,
    note: &str,
) -> Result<Session, Error> {
    let fail = |message: String| Error::Network {
        op: "authenticating to",
        target: base.as_str().trim_end_matches('/').to_owned(),
        message,
    };
    let ping_url = base.join("v2/").map_err(|e| fail(format!("no /v2/ URL: {e}")))?;
    let ping = with_retry(|| async { answered(http.get(ping_url.clone()).send().await).await })
        .await
        .map_err(|e| fail(crate::retry::message(&e)))?;
    let status = ping.status();
    let challenge = ping
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(bearer_challenge);
    drop(ping);
    let Some(challenge) = challenge else {
        return match login {
            Login::Identity(_) => Err(fail(format!(
                "the credentials ({note}) are an identity token, but the registry asks for no bearer \
                 token (HTTP {} to /v2/): nothing to exchange it at",
                status.as_u16()
            ))),
            Login::Password { user, password } if status == reqwest::StatusCode::UNAUTHORIZED => {
                use base64::Engine as _;
                let raw = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                let mut value = HeaderValue::from_str(&format!("Basic {raw}"))
                    .map_err(|_| fail(format!("the credentials ({note}) are not a valid header")))?;
                value.set_sensitive(true);
                Ok(Session {
                    header: Some(value),
                    renew_after: None,
                })
            }
            _ => Ok(Session::default()),
        };
    };
    let realm = Url::parse(&challenge.realm)
        .map_err(|e| fail(format!("the token server {:?} is not a URL: {e}", challenge.realm)))?;
    let secret = match login {
        Login::Anonymous => Secret::None,
        Login::Password { .. } => Secret::Password,
        Login::Identity(_) => Secret::Identity,
    };
    realm_verdict(&realm, base, secret).map_err(|why| fail(format!("{why} ({note})")))?;
    let scope = scope(repository, op);
    let request = || {
        let service = challenge.service.as_deref();
        match login {
            Login::Identity(token) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("client_id", CLIENT_ID),
                    ("scope", scope.as_str()),
                    ("refresh_token", token.as_str()),
                ];
                if let Some(service) = service {
                    form.push(("service", service));
                }
                http.post(realm.clone()).form(&form)
            }
            Login::Password { .. } | Login::Anonymous => {
                let mut url = realm.clone();
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("scope", &scope);
                    if let Some(service) = service {
                        q.append_pair("service", service);
                    }
                }
                let get = http.get(url);
                match login {
                    Login::Password { user, password } => get.basic_auth(user, Some(password)),
                    _ => get,
                }
            }
        }
    };
    let answer = with_retry(|| async { answered(request().send().await).await })
        .await
        .map_err(|e| fail(format!("token server {realm}: {}", crate::retry::message(&e))))?;
    let status = answer.status();
    let body = match read_bounded(answer, MAX_ANSWER).await {
        Ok(b) => b,
        Err(Fail::TooLarge { limit }) => {
            return Err(fail(format!("token server {realm}: answer larger than {limit} bytes")))
        }
        Err(Fail::Net(e)) => return Err(fail(format!("token server {realm}: {}", crate::retry::message(&e)))),
    };
    if !status.is_success() {
        let said = String::from_utf8_lossy(&body);
        let what = match login {
            Login::Identity(_) => format!("refused the {note}"),
            _ => format!("refused authentication ({note})"),
        };
        return Err(fail(format!(
            "the token server {realm} {what} (HTTP {}): {}",
            status.as_u16(),
            said.trim()
        )));
    }
    let access = access_token(&body).map_err(|e| fail(format!("token server {realm}: {e}")))?;
    let mut value = HeaderValue::from_str(&format!("Bearer {}", access.token))
        .map_err(|_| fail(format!("token server {realm}: the token is not a valid header")))?;
    value.set_sensitive(true);
    Ok(Session {
        header: Some(value),
        renew_after: Some(access.renew_after()),
    })
}

/// A response, or the error the retry policy judges: a transport error,
/// or a 5xx answer (the server failed, not the request).
async fn answered(sent: Result<reqwest::Response, reqwest::Error>) -> Result<reqwest::Response, OciDistributionError> {
    let answer = sent?;
    if answer.status().is_server_error() {
        return Err(failure(answer).await);
    }
    Ok(answer)
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
