//! Registry authentication end to end, against Debian's `docker-registry`
//! (distribution 2.8) on 127.0.0.1: credentials from the auth files docker
//! and podman write, used for HTTP basic auth (`auth: htpasswd`) and for
//! the bearer-token exchange (`auth: token`, with a token server in this
//! test that checks the credentials and signs RS256 JWTs with `openssl`).
//! Loopback registries are spoken to in plain HTTP, which distribution 2.8
//! accepts for both schemes, so no TLS is involved.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use cerro_integration::registry::{packed_busybox, TestRegistry};
use cerro_integration::{ct, require, run, write_executable};

const USER: &str = "alice";
const PASSWORD: &str = "s3cr3t:with-colon";
/// Authenticates, but holds no rights on any repository.
const OTHER_USER: &str = "mallory";
const OTHER_PASSWORD: &str = "letmein";
/// The OAuth2 refresh token (docker's "identity token") the token server
/// issued to `USER`.
const REFRESH_TOKEN: &str = "rt-alice-0123456789";
/// Another of `USER`'s, for which the server answers `expires_in: 0`: every
/// access token it buys is due for renewal at once (the JWT itself stays
/// valid for the registry).
const BRIEF_REFRESH_TOKEN: &str = "rt-alice-brief";

/// Status and `WWW-Authenticate` of an anonymous `GET /v2/`.
fn challenge(reg: &TestRegistry) -> (u16, String) {
    let (status, head, _) = reg.get("/v2/", "*/*").unwrap();
    let challenge = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, challenge)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Writes a docker/podman auth file holding `user:password` for `registry`.
fn write_auth_file(path: &Path, registry: &str, user: &str, password: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let doc = serde_json::json!({ "auths": { registry: { "auth": b64(&format!("{user}:{password}")) } } });
    fs::write(path, doc.to_string()).unwrap();
}

/// Where `ct` may look for credentials: every variable it consults is
/// set or removed, so nothing of the caller's own (`~/.docker`) leaks in.
#[derive(Default)]
struct AuthEnv {
    home: Option<PathBuf>,
    docker_config: Option<PathBuf>,
    xdg_runtime_dir: Option<PathBuf>,
    registry_auth_file: Option<PathBuf>,
    /// A directory put first on `PATH` (credential helpers).
    bin_dir: Option<PathBuf>,
}

/// Runs `ct` with `state` as `CERRO_HOME` in `env`: (exit code, output).
fn ct_auth(state: &Path, env: &AuthEnv, empty_home: &Path, args: &[&str]) -> (i32, String) {
    let mut c = ct(state);
    c.env("HOME", env.home.as_deref().unwrap_or(empty_home));
    for (var, value) in [
        ("DOCKER_CONFIG", &env.docker_config),
        ("XDG_RUNTIME_DIR", &env.xdg_runtime_dir),
        ("REGISTRY_AUTH_FILE", &env.registry_auth_file),
    ] {
        match value {
            Some(v) => c.env(var, v),
            None => c.env_remove(var),
        };
    }
    if let Some(dir) = &env.bin_dir {
        let path = std::env::var("PATH").unwrap_or_default();
        c.env("PATH", format!("{}:{path}", dir.display()));
    }
    let out = c.args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A test's common ground in `d`: `ct`'s state (`d/state`) holding the
/// busybox bundle packed under `name`, the reference it is pushed to
/// (`HOST/cerro/NAME:1`) and an empty home directory:
/// (state, bundle, reference, empty home).
fn set_up(d: &Path, reg: &TestRegistry, name: &str) -> (PathBuf, PathBuf, String, PathBuf) {
    let state = d.join("state");
    let (bundle, _) = packed_busybox(d, &state, name);
    let empty_home = d.join("empty-home");
    fs::create_dir(&empty_home).unwrap();
    (state, bundle, format!("{}/cerro/{name}:1", reg.host()), empty_home)
}

/// `$REGISTRY_AUTH_FILE` = `d/auth.json` (not written yet), nothing else.
fn with_auth_file(d: &Path) -> (PathBuf, AuthEnv) {
    let auth_file = d.join("auth.json");
    let env = AuthEnv {
        registry_auth_file: Some(auth_file.clone()),
        ..AuthEnv::default()
    };
    (auth_file, env)
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    Command::new("cmp").arg(a).arg(b).status().unwrap().success()
}

/// Asserts a refusal for want of authorization: exit 12, saying so.
fn assert_unauthorized(code: i32, out: &str) {
    eprintln!("refused: {}", out.trim());
    assert_eq!(code, 12, "{out}");
    let lower = out.to_lowercase();
    assert!(
        ["unauthorized", "not authorized", "authentication"]
            .iter()
            .any(|w| lower.contains(w)),
        "the message does not say why: {out}"
    );
}

#[test]
fn htpasswd_basic_auth_with_docker_and_podman_auth_files() {
    require("htpasswd");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // bcrypt at the minimum cost (4): distribution checks it on every request.
    let mut lines = String::new();
    for (u, p) in [(USER, PASSWORD), (OTHER_USER, OTHER_PASSWORD)] {
        let out = run(Command::new("htpasswd").args(["-nbB", "-C", "4", u, p]));
        lines.push_str(String::from_utf8(out.stdout).unwrap().trim());
        lines.push('\n');
    }
    let htpasswd = d.join("htpasswd");
    fs::write(&htpasswd, lines).unwrap();
    let reg = TestRegistry::with_auth(&format!(
        "  htpasswd:\n    realm: cerro-test\n    path: {}\n",
        htpasswd.display()
    ));
    let (status, challenge) = challenge(&reg);
    assert_eq!((status, challenge.as_str()), (401, "Basic realm=\"cerro-test\""));

    let (state, bundle, reference, empty_home) = set_up(d, &reg, "basic");
    let bundle_s = bundle.to_str().unwrap();
    let s = |p: &str| d.join(p).display().to_string();
    let ct = |env: &AuthEnv, args: &[&str]| ct_auth(&state, env, &empty_home, args);

    // No credentials anywhere: refused, and the message says so.
    let (code, out) = ct(&AuthEnv::default(), &["push", bundle_s, &reference]);
    assert_unauthorized(code, &out);
    assert!(
        out.contains(&format!("no credentials for {}/cerro/basic", reg.host())) && out.contains("podman login"),
        "{out}"
    );

    // A wrong password in ~/.docker/config.json: refused.
    let home = d.join("home");
    write_auth_file(&home.join(".docker/config.json"), &reg.host(), USER, "wrong");
    let with_home = AuthEnv {
        home: Some(home.clone()),
        ..AuthEnv::default()
    };
    let (code, out) = ct(&with_home, &["push", bundle_s, &reference]);
    assert_unauthorized(code, &out);
    let used = format!(
        "credentials from {} ({})",
        home.join(".docker/config.json").display(),
        reg.host()
    );
    assert!(out.contains(&used), "the message does not name the file used: {out}");

    // Credentials for another registry only: refused.
    let elsewhere = d.join("elsewhere/config.json");
    write_auth_file(&elsewhere, "127.0.0.1:1", USER, PASSWORD);
    let (code, out) = ct(
        &AuthEnv {
            docker_config: Some(d.join("elsewhere")),
            ..AuthEnv::default()
        },
        &["push", bundle_s, &reference],
    );
    assert_unauthorized(code, &out);

    // The right password in $DOCKER_CONFIG/config.json: pushed.
    let docker_dir = d.join("docker-config");
    write_auth_file(&docker_dir.join("config.json"), &reg.host(), USER, PASSWORD);
    let docker = AuthEnv {
        docker_config: Some(docker_dir.clone()),
        ..AuthEnv::default()
    };
    let (code, out) = ct(&docker, &["push", bundle_s, &reference]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(", 0 already present"), "{out}");

    // Fetched back with the same file, byte for byte.
    let (code, out) = ct(&docker, &["fetch", &reference, "-o", &s("docker.ctp")]);
    assert_eq!(code, 0, "{out}");
    assert!(same_bytes(&bundle, &d.join("docker.ctp")));

    // podman's $XDG_RUNTIME_DIR/containers/auth.json, keyed as podman
    // writes per-repository entries, and it comes before docker's file
    // (which holds the wrong password here).
    let runtime = d.join("run-user");
    write_auth_file(
        &runtime.join("containers/auth.json"),
        &format!("{}/cerro/basic", reg.host()),
        USER,
        PASSWORD,
    );
    let podman = AuthEnv {
        home: Some(home.clone()),
        xdg_runtime_dir: Some(runtime.clone()),
        ..AuthEnv::default()
    };
    let (code, out) = ct(&podman, &["fetch", &reference, "-o", &s("podman.ctp")]);
    assert_eq!(code, 0, "{out}");
    assert!(same_bytes(&bundle, &d.join("podman.ctp")));

    // $REGISTRY_AUTH_FILE comes first of all: a wrong password there wins.
    let override_file = d.join("override.json");
    write_auth_file(&override_file, &reg.host(), USER, "wrong");
    let (code, out) = ct(
        &AuthEnv {
            registry_auth_file: Some(override_file),
            ..podman
        },
        &["fetch", &reference, "-o", &s("override.ctp")],
    );
    assert_unauthorized(code, &out);
    assert!(!d.join("override.ctp").exists());

    // ~/.docker/config.json is found when $DOCKER_CONFIG is unset.
    write_auth_file(
        &home.join(".docker/config.json"),
        &format!("https://{}/v1/", reg.host()),
        USER,
        PASSWORD,
    );
    let (code, out) = ct(&with_home, &["fetch", &reference, "-o", &s("home.ctp")]);
    assert_eq!(code, 0, "{out}");
    assert!(same_bytes(&bundle, &d.join("home.ctp")));

    // Reading needs credentials too: anonymous and wrong-password fetches
    // are refused and write nothing.
    let (code, out) = ct(&AuthEnv::default(), &["fetch", &reference, "-o", &s("anon.ctp")]);
    assert_unauthorized(code, &out);
    assert!(!d.join("anon.ctp").exists());
    write_auth_file(&docker_dir.join("config.json"), &reg.host(), USER, "wrong");
    let (code, out) = ct(&docker, &["fetch", &reference, "-o", &s("wrong.ctp")]);
    assert_unauthorized(code, &out);
    assert!(!d.join("wrong.ctp").exists());
    // A docker credential helper (`credsStore`), speaking the helper
    // protocol: the server on stdin, JSON on stdout, exit 1 when it has none.
    let bin = d.join("bin");
    fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-cerrotest");
    write_executable(
        &helper,
        &format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server\necho \"$server\" >> {log}\n\
             if [ \"$server\" = {host} ]; then printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"; \
             else echo 'credentials not found in native keychain'; exit 1; fi\n",
            log = d.join("helper.log").display(),
            host = reg.host()
        ),
    );
    let store_dir = d.join("store-config");
    fs::create_dir(&store_dir).unwrap();
    fs::write(
        store_dir.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{}}}},"credsStore":"cerrotest"}}"#, reg.host()),
    )
    .unwrap();
    let with_helper = AuthEnv {
        docker_config: Some(store_dir.clone()),
        bin_dir: Some(bin.clone()),
        ..AuthEnv::default()
    };
    let (code, out) = ct(&with_helper, &["fetch", &reference, "-o", &s("helper.ctp")]);
    assert_eq!(code, 0, "{out}");
    assert!(same_bytes(&bundle, &d.join("helper.ctp")));
    assert_eq!(fs::read_to_string(d.join("helper.log")).unwrap().trim(), reg.host());
    // `credHelpers` names a helper per registry, before `auths`.
    fs::write(
        store_dir.join("config.json"),
        format!(
            r#"{{"auths":{{"{h}":{{"auth":"{}"}}}},"credHelpers":{{"{h}":"cerrotest"}}}}"#,
            b64(&format!("{USER}:wrong")),
            h = reg.host()
        ),
    )
    .unwrap();
    let (code, out) = ct(&with_helper, &["fetch", &reference, "-o", &s("helper2.ctp")]);
    assert_eq!(code, 0, "{out}");

    // (htpasswd has no per-user rights: mallory may read what alice pushed.)
    write_auth_file(&docker_dir.join("config.json"), &reg.host(), OTHER_USER, OTHER_PASSWORD);
    let (code, out) = ct(&docker, &["fetch", &reference, "-o", &s("mallory.ctp")]);
    assert_eq!(code, 0, "{out}");

    // An identity token for a registry that asks for basic credentials:
    // nothing to exchange it at, so refused, saying so; nothing written.
    fs::write(
        docker_dir.join("config.json"),
        serde_json::json!({ "auths": { reg.host(): { "identitytoken": REFRESH_TOKEN } } }).to_string(),
    )
    .unwrap();
    let (code, out) = ct(&docker, &["fetch", &reference, "-o", &s("token.ctp")]);
    assert_eq!(code, 12, "{out}");
    assert!(
        out.contains("are an identity token, but the registry asks for no bearer token (HTTP 401"),
        "{out}"
    );
    assert!(!d.join("token.ctp").exists());
}

/// What the token server was asked: (account, scope, granted actions).
type TokenLog = Arc<Mutex<Vec<(String, String, Vec<String>)>>>;

/// A token server for distribution's `auth: token`: `GET /token?scope=…&service=…`
/// with HTTP basic credentials, or the OAuth2 refresh grant (`POST /token`,
/// form `grant_type=refresh_token&refresh_token=…&scope=…&service=…&client_id=…`)
/// with `REFRESH_TOKEN`, logged as account `USER (refresh grant)`. `USER`
/// gets the `pull`/`push` actions it asks for, `OTHER_USER` a valid token
/// granting nothing, anyone else a 401.
/// Tokens are RS256 JWTs carrying the signing certificate in `x5c`, which
/// distribution verifies against its `rootcertbundle`.
struct TokenServer {
    port: u16,
    log: TokenLog,
}

impl TokenServer {
    fn start(key: PathBuf, cert_der: Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = TokenLog::default();
        let seen = log.clone();
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert_der);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let _ = answer(conn, &key, &x5c, &seen);
            }
        });
        TokenServer { port, log }
    }

    fn requests(&self) -> Vec<(String, String, Vec<String>)> {
        self.log.lock().unwrap().clone()
    }
}

fn answer(mut conn: TcpStream, key: &Path, x5c: &str, log: &TokenLog) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_owned());
            }
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    // GET: the parameters are the query; POST: the form in the body.
    let query = if request_line.starts_with("POST ") {
        let mut body = vec![0; length];
        std::io::Read::read_exact(&mut reader, &mut body)?;
        String::from_utf8_lossy(&body).into_owned()
    } else {
        target.split_once('?').map_or("", |(_, q)| q).to_owned()
    };
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
            .unwrap_or_default()
    };
    let (scope, service) = (param("scope"), param("service"));
    let refresh = (param("grant_type") == "refresh_token").then(|| param("refresh_token"));
    let account = if let Some(token) = refresh {
        ([REFRESH_TOKEN, BRIEF_REFRESH_TOKEN].contains(&token.as_str()) && !param("client_id").is_empty())
            .then(|| format!("{USER} (refresh grant)"))
    } else {
        authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|up| match up.split_once(':') {
                Some((u, p)) if (u, p) == (USER, PASSWORD) || (u, p) == (OTHER_USER, OTHER_PASSWORD) => {
                    Some(u.to_owned())
                }
                _ => None,
            })
    };
    let Some(account) = account else {
        log.lock().unwrap().push((String::new(), scope, Vec::new()));
        let body = r#"{"details":"incorrect username or password"}"#;
        return write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    };
    // scope = repository:NAME:ACTION[,ACTION]
    let mut access = Vec::new();
    let mut granted = Vec::new();
    if let Some(("repository", rest)) = scope.split_once(':') {
        if let Some((name, actions)) = rest.rsplit_once(':') {
            if account.starts_with(USER) {
                granted = actions
                    .split(',')
                    .filter(|a| ["pull", "push"].contains(a))
                    .map(str::to_owned)
                    .collect();
            }
            access.push(serde_json::json!({"type": "repository", "name": name, "actions": granted}));
        }
    }
    log.lock().unwrap().push((account.clone(), scope.clone(), granted));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": "cerro-test-issuer",
        "sub": account,
        "aud": service,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", log.lock().unwrap().len()),
        "access": access,
    });
    let url = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let signing_input = format!(
        "{}.{}",
        url(header.to_string().as_bytes()),
        url(claims.to_string().as_bytes())
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    openssl.stdin.take().unwrap().write_all(signing_input.as_bytes())?;
    let signed = openssl.wait_with_output()?;
    if !signed.status.success() {
        return Err(std::io::Error::other("openssl dgst -sign failed"));
    }
    let token = format!("{signing_input}.{}", url(&signed.stdout));
    let brief = param("refresh_token") == BRIEF_REFRESH_TOKEN;
    let body = serde_json::json!({"token": token, "expires_in": if brief { 0 } else { 300 }}).to_string();
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// `%XX` and `+` in a query value.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A token server with a fresh RS256 issuer key (in `d`), and a registry
/// that trusts its tokens.
fn token_registry(d: &Path) -> (TokenServer, TestRegistry) {
    let key = d.join("issuer.key");
    let cert = d.join("issuer.pem");
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=cerro-test-token-issuer", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null()));
    let der = run(Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(&cert))
    .stdout;
    let tokens = TokenServer::start(key, der);
    let reg = TestRegistry::with_auth(&format!(
        "  token:\n    realm: http://127.0.0.1:{}/token\n    service: cerro-test-registry\n    issuer: cerro-test-issuer\n    rootcertbundle: {}\n",
        tokens.port,
        cert.display()
    ));
    (tokens, reg)
}

#[test]
fn bearer_token_flow_with_credentials_from_the_auth_file() {
    require("openssl");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (tokens, reg) = token_registry(d);
    let (status, challenge) = challenge(&reg);
    assert_eq!(status, 401);
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");

    let (state, bundle, reference, empty_home) = set_up(d, &reg, "bearer");
    let bundle_s = bundle.to_str().unwrap();
    let s = |p: &str| d.join(p).display().to_string();
    let ct = |env: &AuthEnv, args: &[&str]| ct_auth(&state, env, &empty_home, args);
    let (auth_file, env) = with_auth_file(d);

    // No credentials: the token server refuses, so does ct.
    let (code, out) = ct(&AuthEnv::default(), &["push", bundle_s, &reference]);
    assert_unauthorized(code, &out);
    // A wrong password: the same.
    write_auth_file(&auth_file, &reg.host(), USER, "wrong");
    let (code, out) = ct(&env, &["push", bundle_s, &reference]);
    assert_unauthorized(code, &out);
    assert!(
        tokens.requests().iter().all(|(account, _, _)| account.is_empty()),
        "{:?}",
        tokens.requests()
    );

    // A user the token server knows but grants nothing: the registry refuses the token.
    write_auth_file(&auth_file, &reg.host(), OTHER_USER, OTHER_PASSWORD);
    let (code, out) = ct(&env, &["push", bundle_s, &reference]);
    assert_unauthorized(code, &out);

    // The right user: push and fetch through tokens, byte for byte.
    write_auth_file(&auth_file, &reg.host(), USER, PASSWORD);
    let (code, out) = ct(&env, &["push", bundle_s, &reference]);
    assert_eq!(code, 0, "{out}\n{}", reg.log());
    assert!(out.contains(", 0 already present"), "{out}");
    let (code, out) = ct(&env, &["fetch", &reference, "-o", &s("fetched.ctp")]);
    assert_eq!(code, 0, "{out}\n{}", reg.log());
    assert!(same_bytes(&bundle, &d.join("fetched.ctp")));
    let asked = tokens.requests();
    assert!(
        asked.iter().any(|(a, scope, granted)| a == USER
            && scope == "repository:cerro/bearer:pull,push"
            && granted == &["pull", "push"]),
        "no push token was issued: {asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|(a, scope, _)| a == USER && scope == "repository:cerro/bearer:pull"),
        "no pull token was issued: {asked:?}"
    );

    // Reading: anonymous, wrong password and no rights are all refused, nothing written.
    let (code, out) = ct(&AuthEnv::default(), &["fetch", &reference, "-o", &s("anon.ctp")]);
    assert_unauthorized(code, &out);
    write_auth_file(&auth_file, &reg.host(), USER, "wrong");
    let (code, out) = ct(&env, &["fetch", &reference, "-o", &s("wrong.ctp")]);
    assert_unauthorized(code, &out);
    write_auth_file(&auth_file, &reg.host(), OTHER_USER, OTHER_PASSWORD);
    let (code, out) = ct(&env, &["fetch", &reference, "-o", &s("mallory.ctp")]);
    assert_unauthorized(code, &out);
    for f in ["anon.ctp", "wrong.ctp", "mallory.ctp"] {
        assert!(!d.join(f).exists(), "{f} was written");
    }
}

/// An identity token (what `docker login` stores when the token server
/// hands out OAuth2 refresh tokens, as Azure Container Registry's does):
/// exchanged at the token server with the refresh grant, never sent to the
/// registry; from an auth file (`identitytoken`) or a credential helper
/// (user `<token>`). A token the server does not know is refused, exit 12,
/// naming where it came from.
#[test]
fn identity_tokens_are_exchanged_with_the_refresh_grant() {
    require("openssl");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (tokens, reg) = token_registry(d);
    let (state, bundle, reference, empty_home) = set_up(d, &reg, "identity");
    let bundle_s = bundle.to_str().unwrap();
    let s = |p: &str| d.join(p).display().to_string();
    let ct = |env: &AuthEnv, args: &[&str]| ct_auth(&state, env, &empty_home, args);
    let (auth_file, env) = with_auth_file(d);
    let write_token = |token: &str| {
        let doc = serde_json::json!({ "auths": { reg.host(): { "auth": "", "identitytoken": token } } });
        fs::write(&auth_file, doc.to_string()).unwrap();
    };

    // An identity token the server never issued: refused, and said whose.
    write_token("rt-forged");
    let (code, out) = ct(&env, &["push", bundle_s, &reference]);
    eprintln!("refused: {}", out.trim());
    assert_eq!(code, 12, "{out}");
    assert!(
        out.contains("refused the identity token") && out.contains(&auth_file.display().to_string()),
        "{out}"
    );

    // The issued one: push and fetch, byte for byte, through refresh grants.
    write_token(REFRESH_TOKEN);
    let (code, out) = ct(&env, &["push", bundle_s, &reference]);
    assert_eq!(code, 0, "{out}\n{}", reg.log());
    let (code, out) = ct(&env, &["fetch", &reference, "-o", &s("fetched.ctp")]);
    assert_eq!(code, 0, "{out}\n{}", reg.log());
    assert!(same_bytes(&bundle, &d.join("fetched.ctp")));
    let granted = |scope: &str| {
        tokens.requests().iter().any(|(a, sc, g)| {
            a == &format!("{USER} (refresh grant)") && sc == scope && g.iter().any(|x| scope.ends_with(x.as_str()))
        })
    };
    assert!(
        granted("repository:cerro/identity:pull,push"),
        "{:?}",
        tokens.requests()
    );
    assert!(granted("repository:cerro/identity:pull"), "{:?}", tokens.requests());
    // Every token came from the refresh grant: the identity token was never
    // offered as a password.
    assert!(
        tokens
            .requests()
            .iter()
            .all(|(a, _, _)| a.is_empty() || a.ends_with("(refresh grant)")),
        "{:?}",
        tokens.requests()
    );

    // An access token about to lapse is renewed before the next request:
    // one push, one exchange per request; none without renewal.
    write_token(BRIEF_REFRESH_TOKEN);
    let grants = || {
        tokens
            .requests()
            .iter()
            .filter(|(a, scope, _)| a.ends_with("(refresh grant)") && scope.ends_with(":pull,push"))
            .count()
    };
    let before = grants();
    let brief = format!("{}/cerro/identity:brief", reg.host());
    let (code, out) = ct(&env, &["push", bundle_s, &brief]);
    assert_eq!(code, 0, "{out}\n{}", reg.log());
    assert!(grants() - before >= 5, "{} exchanges for one push", grants() - before);
    let (code, out) = ct(&env, &["fetch", &brief, "-o", &s("brief.ctp")]);
    assert_eq!(code, 0, "{out}");
    assert!(same_bytes(&bundle, &d.join("brief.ctp")));
    write_token(REFRESH_TOKEN);
    let before = grants();
    let (code, out) = ct(
        &env,
        &["push", bundle_s, &format!("{}/cerro/identity:again", reg.host())],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(grants() - before, 1, "a 300 s token was exchanged again");

    // A credential helper answering user `<token>` holds an identity token.
    let bin = d.join("bin");
    fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-cerroid");
    write_executable(
        &helper,
        &format!("#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"<token>\",\"Secret\":\"{REFRESH_TOKEN}\"}}' \"$server\"\n"),
    );
    let config_dir = d.join("docker");
    fs::create_dir(&config_dir).unwrap();
    fs::write(
        config_dir.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"cerroid"}}}}"#, reg.host()),
    )
    .unwrap();
    let with_helper = AuthEnv {
        docker_config: Some(config_dir),
        bin_dir: Some(bin),
        ..AuthEnv::default()
    };
    let (code, out) = ct(&with_helper, &["fetch", &reference, "-o", &s("helper.ctp")]);
    assert_eq!(code, 0, "{out}");
    assert!(same_bytes(&bundle, &d.join("helper.ctp")));
    // Refused: nothing written.
    write_token("rt-forged");
    let (code, out) = ct(&env, &["fetch", &reference, "-o", &s("forged.ctp")]);
    assert_eq!(code, 12, "{out}");
    assert!(!d.join("forged.ctp").exists());
}
