//! One connection to one repository: the distribution API calls this
//! crate makes, each wrapped in the retry policy and turned into [`Error`].
//! Requests go out on this crate's own reqwest clients
//! ([`crate::transport`]): bounded bodies, redirects kept on the
//! registry's site, secrets only to allowed token servers.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cerro_core::digest::Digest;
use cerro_core::image::{BlobRef, MAX_JSON_BLOB, MT_OCI_INDEX};
use futures_util::Stream;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciImageIndex;
use oci_client::{Reference, RegistryOperation};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{RequestBuilder, StatusCode, Url};

use crate::auth::{credentials_for, default_auth_files, Credentials, Secret};
use crate::error::{network, Error};
use crate::progress::{NoProgress, Progress};
use crate::retry::with_retry;
use crate::tls::{cert_dirs, load_cas};
use crate::token::{self, Login, Session};
use crate::transport::{self, failure, read_bounded, same_site, success, Fail};

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Plain HTTP even for a registry that is not on the loopback interface.
    pub insecure: bool,
    /// Auth files to read credentials from; empty: [`default_auth_files`].
    pub auth_files: Vec<PathBuf>,
    /// Directory of `*.crt` CA certificates to trust for this registry
    /// (else the `certs.d` directories of [`crate::tls::cert_dirs`]).
    pub cert_dir: Option<PathBuf>,
}

/// A repository of a registry, with credentials resolved and a runtime to
/// drive the asynchronous client from synchronous callers.
pub struct Registry {
    /// Every request but blob downloads (redirects: same site only).
    http: reqwest::Client,
    /// Blob downloads (redirects: same site, or HTTPS to a CDN).
    blob_http: reqwest::Client,
    /// `http[s]://host[:port]/` of the registry.
    base: Url,
    pub(crate) reference: Reference,
    login: Login,
    /// What the last login gave, for which operation, and when it is to
    /// be renewed (bearer tokens).
    session: Mutex<Option<(RegistryOperation, Session, Option<Instant>)>>,
    /// Where the credentials came from, or that there were none: added to
    /// the message when the registry refuses them.
    auth_note: String,
    rt: tokio::runtime::Runtime,
    /// The reference as the user wrote it (for messages).
    pub(crate) shown: String,
    progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("reference", &self.shown)
            .finish_non_exhaustive()
    }
}

/// Bytes read per request body chunk when streaming a blob from a file.
const CHUNK: u64 = 1 << 20;

/// Whether `registry` (`host[:port]`) is on this machine: such registries
/// are spoken to in plain HTTP without `--insecure` (as docker and podman do).
pub(crate) fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Registry {
    /// Parses `reference` (`host[:port]/repo[:tag|@digest]`) and prepares a
    /// client: credentials from the auth files, HTTPS unless `insecure` or
    /// the registry is on the loopback interface.
    pub fn connect(reference: &str, opts: &Options) -> Result<Self, Error> {
        let parsed: Reference = crate::reference::parse(reference).map_err(|reason| Error::BadReference {
            reference: reference.to_owned(),
            reason,
        })?;
        let registry = parsed.resolve_registry().to_owned();
        let files = if opts.auth_files.is_empty() {
            default_auth_files(|k| std::env::var(k).ok())
        } else {
            opts.auth_files.clone()
        };
        let (login, auth_note) = match credentials_for(&registry, parsed.repository(), &files)? {
            Some(Credentials {
                secret: Secret::Password { user, password },
                source,
            }) => (Login::Password { user, password }, format!("credentials from {source}")),
            Some(Credentials {
                secret: Secret::IdentityToken(token),
                source,
            }) => (Login::Identity(token), format!("identity token from {source}")),
            None => {
                let read: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                (
                    Login::Anonymous,
                    format!(
                        "no credentials for {registry}/{} in {}; log in with `podman login {registry}` or `docker login {registry}`",
                        parsed.repository(),
                        if read.is_empty() { "any auth file".to_owned() } else { read.join(", ") }
                    ),
                )
            }
        };
        let env = |k: &str| std::env::var(k).ok();
        let cas = load_cas(
            &cert_dirs(&registry, opts.cert_dir.as_deref(), env),
            opts.cert_dir.is_some(),
        )?;
        // Loopback registries are plain HTTP, as docker and podman treat
        // them, unless a CA is configured for them: then TLS is intended.
        let plain_http = opts.insecure || (is_loopback(&registry) && cas.is_empty());
        let scheme = if plain_http { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{registry}/")).map_err(|e| Error::BadReference {
            reference: reference.to_owned(),
            reason: format!("{registry} is not a host[:port]: {e}"),
        })?;
        let pems: Vec<Vec<u8>> = cas.into_iter().map(|(_, pem)| pem).collect();
        let setup = |message: String| Error::Network {
            op: "setting up a client for",
            target: registry.clone(),
            message,
        };
        // A plain-HTTP loopback registry speaks no TLS (an HTTPS redirect
        // or token realm from it fails closed, for want of roots).
        let system_roots = !(plain_http && is_loopback(&registry));
        let http = transport::client(&pems, false, system_roots).map_err(setup)?;
        let blob_http = transport::client(&pems, true, system_roots).map_err(setup)?;
        let rt = transport::runtime(&registry)?;
        Ok(Registry {
            http,
            blob_http,
            base,
            reference: parsed,
            login,
            session: Mutex::new(None),
            auth_note,
            rt,
            shown: reference.to_owned(),
            progress: Arc::new(NoProgress),
        })
    }

    /// Reports the bytes of every later upload or download to `progress`.
    pub fn set_progress(&mut self, progress: Arc<dyn Progress>) {
        self.progress = progress;
    }

    pub(crate) fn progress(&self) -> &Arc<dyn Progress> {
        &self.progress
    }

    /// A registry error, with a hint about credentials when it is an
    /// authentication refusal.
    fn net(&self, op: &'static str, target: impl Into<String>, e: &OciDistributionError) -> Error {
        let mut err = network(op, target, e);
        if is_auth_refusal(e) {
            if let Error::Network { message, .. } = &mut err {
                message.push_str(&format!(" ({})", self.auth_note));
            }
        }
        err
    }

    /// [`Registry::net`], or a body larger than it may be (malformed).
    fn fail(&self, op: &'static str, target: impl Into<String>, f: &Fail) -> Error {
        match f {
            Fail::Net(e) => self.net(op, target, e),
            Fail::TooLarge { limit } => cerro_core::Error::malformed(
                target.into(),
                format!("the registry's answer is larger than {limit} bytes"),
            )
            .into(),
        }
    }

    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// This repository at `digest`.
    pub(crate) fn at_digest(&self, digest: &Digest) -> Reference {
        Reference::with_digest(
            self.reference.registry().to_owned(),
            self.reference.repository().to_owned(),
            digest.to_string(),
        )
    }

    /// This repository at `tag`.
    pub(crate) fn at_tag(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.reference.registry().to_owned(),
            self.reference.repository().to_owned(),
            tag.to_owned(),
        )
    }

    /// `/v2/<repository>/<rest>` on the registry.
    fn url(&self, rest: &str) -> Result<Url, Error> {
        self.base
            .join(&format!("v2/{}/{rest}", self.reference.repository()))
            .map_err(|e| Error::BadReference {
                reference: self.shown.clone(),
                reason: format!("no URL for {rest}: {e}"),
            })
    }

    /// The manifest URL of `target` (its digest if it names one, else its tag).
    fn manifest_url(&self, target: &Reference) -> Result<Url, Error> {
        let at = target.digest().or(target.tag()).unwrap_or("latest");
        self.url(&format!("manifests/{at}"))
    }

    /// `request` with the session's `Authorization`, sent.
    async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, OciDistributionError> {
        let header = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|(_, s, _)| s.header.clone());
        let request = match header {
            Some(h) => request.header(AUTHORIZATION, h),
            None => request,
        };
        Ok(request.send().await?)
    }

    /// Logs in for `op` (see [`crate::token`]).
    pub(crate) async fn authorize(&self, op: RegistryOperation) -> Result<(), Error> {
        let session = token::login(
            &self.http,
            &self.base,
            self.reference.repository(),
            op,
            &self.login,
            &self.auth_note,
        )
        .await?;
        let renew_at = session.renew_after.map(|d| Instant::now() + d);
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some((op, session, renew_at));
        Ok(())
    }

    /// Logs in again before a request once the bearer token is about to
    /// lapse, so long pushes and fetches are not refused halfway.
    async fn keep_authorized(&self) -> Result<(), Error> {
        let due = match &*self.session.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((op, _, Some(at))) if Instant::now() >= *at => Some(*op),
            _ => None,
        };
        match due {
            Some(op) => self.authorize(op).await,
            None => Ok(()),
        }
    }

    pub(crate) async fn blob_exists(&self, digest: &Digest) -> Result<bool, Error> {
        self.keep_authorized().await?;
        let d = digest.to_string();
        let url = self.url(&format!("blobs/{d}"))?;
        with_retry(|| async {
            let resp = self.send(self.http.head(url.clone())).await?;
            match resp.status() {
                s if s.is_success() => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                _ => Err(failure(resp).await),
            }
        })
        .await
        .map_err(|e| self.net("checking blob", &d, &e))
    }

    /// Starts an upload: where to `PUT` the blob, and whether the session's
    /// credentials may go there (the registry's own site).
    async fn start_upload(&self) -> Result<(Url, bool), OciDistributionError> {
        let url = self
            .url("blobs/uploads/")
            .map_err(|e| OciDistributionError::UrlParseError(e.to_string()))?;
        let resp = success(self.send(self.http.post(url.clone()).header(CONTENT_LENGTH, 0)).await?).await?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or(OciDistributionError::RegistryNoLocationError)?;
        let target = url
            .join(location)
            .map_err(|e| OciDistributionError::UrlParseError(format!("{location}: {e}")))?;
        transport::redirect_verdict(&self.base, &target, 0, true)
            .map_err(|why| OciDistributionError::SpecViolationError(format!("upload location {location}: {why}")))?;
        let ours = same_site(&self.base, &target);
        Ok((target, ours))
    }

    /// Uploads `body` (`size` bytes) as blob `digest`, monolithically.
    async fn upload(&self, body: reqwest::Body, size: u64, digest: &str) -> Result<(), OciDistributionError> {
        let (mut target, ours) = self.start_upload().await?;
        target.query_pairs_mut().append_pair("digest", digest);
        let put = self
            .http
            .put(target)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body);
        let sent = if ours { self.send(put).await? } else { put.send().await? };
        success(sent).await.map(|_| ())
    }

    /// Uploads `size` bytes at `offset` of `path` as blob `digest`, streamed
    /// (one chunk in memory at a time). The registry checks the digest.
    pub(crate) async fn push_file_range(
        &self,
        path: &Path,
        offset: u64,
        size: u64,
        digest: &Digest,
    ) -> Result<(), Error> {
        self.keep_authorized().await?;
        let d = digest.to_string();
        with_retry(|| {
            let stream = file_range(path.to_path_buf(), offset, size, Arc::clone(&self.progress));
            self.upload(reqwest::Body::wrap_stream(stream), size, &d)
        })
        .await
        .map_err(|e| self.net("pushing blob", &d, &e))
    }

    /// Uploads a small blob held in memory.
    pub(crate) async fn push_bytes(&self, bytes: &[u8], digest: &Digest) -> Result<(), Error> {
        self.keep_authorized().await?;
        let d = digest.to_string();
        let data = Bytes::copy_from_slice(bytes);
        with_retry(|| self.upload(reqwest::Body::from(data.clone()), data.len() as u64, &d))
            .await
            .map_err(|e| self.net("pushing blob", &d, &e))
    }

    /// Stores manifest `bytes`, exactly as given, at `target`.
    pub(crate) async fn push_manifest(&self, target: &Reference, bytes: &[u8], media_type: &str) -> Result<(), Error> {
        self.keep_authorized().await?;
        let ct = HeaderValue::from_str(media_type).map_err(|_| {
            cerro_core::Error::malformed("manifest", format!("media type {media_type:?} is not a header value"))
        })?;
        let url = self.manifest_url(target)?;
        let body = Bytes::copy_from_slice(bytes);
        with_retry(|| async {
            let put = self
                .http
                .put(url.clone())
                .header(CONTENT_TYPE, ct.clone())
                .body(body.clone());
            success(self.send(put).await?).await.map(|_| ())
        })
        .await
        .map_err(|e| self.net("pushing manifest", target.whole(), &e))
    }

    /// GET `url` accepting `accept`, its body bounded by `limit`.
    async fn get_bounded(&self, url: &Url, accept: &str, limit: u64) -> Result<Vec<u8>, Fail> {
        with_retry(|| async {
            let resp = self.send(self.http.get(url.clone()).header(ACCEPT, accept)).await?;
            let resp = success(resp).await?;
            read_bounded(resp, limit).await
        })
        .await
    }

    /// The manifest at `target` (raw bytes, at most
    /// [`cerro_core::image::MAX_JSON_BLOB`]), or `None` if the registry
    /// has none there. Its digest is checked when `target` names one.
    pub(crate) async fn pull_manifest(&self, target: &Reference, accepted: &[&str]) -> Result<Option<Vec<u8>>, Error> {
        self.pull_manifest_within(target, accepted, MAX_JSON_BLOB).await
    }

    /// [`Registry::pull_manifest`] read up to `limit` bytes (a descriptor's
    /// size, itself at most [`cerro_core::image::MAX_JSON_BLOB`]): what a
    /// descriptor names is refused as soon as the answer runs past it.
    pub(crate) async fn pull_manifest_within(
        &self,
        target: &Reference,
        accepted: &[&str],
        limit: u64,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.keep_authorized().await?;
        let url = self.manifest_url(target)?;
        match self
            .get_bounded(&url, &accepted.join(", "), limit.min(MAX_JSON_BLOB))
            .await
        {
            Ok(bytes) => {
                if let Some(want) = target.digest() {
                    let want = Digest::parse(want)?;
                    let actual = Digest::of(&bytes);
                    if actual != want {
                        return Err(cerro_core::Error::DigestMismatch {
                            what: format!("manifest {}", target.whole()),
                            expected: want,
                            actual,
                        }
                        .into());
                    }
                }
                Ok(Some(bytes))
            }
            Err(Fail::Net(e)) if is_not_found(&e) => Ok(None),
            Err(f) => Err(self.fail("pulling manifest", target.whole(), &f)),
        }
    }

    /// Referrer descriptors of `subject` with `artifact_type`, through the
    /// referrers API or, on registries without it (404), the tag fallback.
    /// Either index is read up to [`cerro_core::image::MAX_JSON_BLOB`].
    pub(crate) async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: &str,
    ) -> Result<Vec<(Digest, u64, String)>, Error> {
        Ok(self
            .referrers_of(subject, Some(artifact_type))
            .await?
            .into_iter()
            .filter(|r| r.3.as_deref() == Some(artifact_type))
            .map(|(d, size, media_type, _)| (d, size, media_type))
            .collect())
    }

    /// Every referrer descriptor of `subject` (with `artifact_type`, only
    /// those of that type are asked for): digest, size, media type and
    /// artifact type as the index gives it.
    pub(crate) async fn referrers_of(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<(Digest, u64, String, Option<String>)>, Error> {
        self.keep_authorized().await?;
        let mut url = self.url(&format!("referrers/{subject}"))?;
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let bytes = match self.get_bounded(&url, MT_OCI_INDEX, MAX_JSON_BLOB).await {
            Ok(b) => b,
            Err(Fail::Net(e)) if is_not_found(&e) => {
                match self
                    .pull_manifest(&self.at_tag(&crate::fallback_tag(subject)), &[MT_OCI_INDEX])
                    .await?
                {
                    Some(b) => b,
                    None => return Ok(Vec::new()),
                }
            }
            Err(f) => return Err(self.fail("listing referrers of", subject.to_string(), &f)),
        };
        // Read as every OCI reader must agree to read it (core's strict reader).
        let what = format!("referrers index of {subject}");
        cerro_core::image::strict::check(&what, &bytes, cerro_core::image::strict::DocKind::Index)?;
        let index: OciImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| cerro_core::Error::malformed(&what, e.to_string()))?;
        let mut out = Vec::new();
        for m in index.manifests {
            let Ok(d) = Digest::parse(&m.digest) else { continue };
            let Ok(size) = u64::try_from(m.size) else { continue };
            out.push((d, size, m.media_type, m.artifact_type));
        }
        Ok(out)
    }

    /// Streams blob `blob` to `write`, which is handed the bytes as they
    /// arrive and answers how many bytes of the blob it now holds. A
    /// connection cut or a 5xx is retried with backoff, resuming where the
    /// data stopped (an HTTP range request); `write` never sees a byte twice,
    /// nor more bytes than the descriptor's size (the download is refused
    /// first). The digest is not checked here: `write`'s owner hashes what
    /// it got.
    pub(crate) async fn download(
        &self,
        blob: &BlobRef,
        mut write: impl FnMut(&[u8]) -> Result<u64, cerro_core::Error>,
    ) -> Result<(), Error> {
        if blob.size == 0 {
            return Ok(());
        }
        let url = self.url(&format!("blobs/{}", blob.digest))?;
        let mut waits = crate::retry::BACKOFF_MS.iter();
        let mut received = 0u64;
        loop {
            self.keep_authorized().await?;
            match self.download_from(&url, blob, &mut received, &mut write).await {
                Ok(()) => return Ok(()),
                Err(Attempt::Transient(e)) => match waits.next() {
                    Some(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
                    None => return Err(self.net("pulling blob", blob.digest.to_string(), &e)),
                },
                Err(Attempt::Final(e)) => return Err(e),
            }
        }
    }

    /// One request for the rest of a blob, from byte `*received`.
    async fn download_from(
        &self,
        url: &Url,
        blob: &BlobRef,
        received: &mut u64,
        write: &mut impl FnMut(&[u8]) -> Result<u64, cerro_core::Error>,
    ) -> Result<(), Attempt> {
        let size = blob.size;
        let too_much = |actual: u64| {
            Attempt::Final(
                cerro_core::Error::SizeMismatch {
                    what: format!("blob {} from {}", blob.digest, self.shown),
                    expected: size,
                    actual,
                }
                .into(),
            )
        };
        // Always a range request: a registry that honours it answers 206;
        // one that ignores it sends the whole blob, and the part already
        // held is skipped.
        let request = self
            .blob_http
            .get(url.clone())
            .header(RANGE, format!("bytes={received}-"));
        let mut resp = match self.send(request).await {
            Ok(r) => r,
            Err(e) if crate::retry::is_retryable(&e) => return Err(Attempt::Transient(e)),
            Err(e) => return Err(Attempt::Final(self.net("pulling blob", blob.digest.to_string(), &e))),
        };
        let mut skip = match resp.status() {
            StatusCode::PARTIAL_CONTENT => 0,
            s if s.is_success() => *received,
            _ => {
                let e = failure(resp).await;
                return Err(if crate::retry::is_retryable(&e) {
                    Attempt::Transient(e)
                } else {
                    Attempt::Final(self.net("pulling blob", blob.digest.to_string(), &e))
                });
            }
        };
        // Refused before the first byte when the answer announces more
        // than the descriptor's size.
        if let Some(n) = resp.content_length() {
            if n.saturating_add(*received).saturating_sub(skip) > size {
                return Err(too_much(n.saturating_add(*received).saturating_sub(skip)));
            }
        }
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                // A connection cut mid-body: resume from here.
                Err(e) => return Err(Attempt::Transient(OciDistributionError::RequestError(e))),
            };
            let mut data = &chunk[..];
            if skip > 0 {
                let k = usize::try_from(skip).unwrap_or(usize::MAX).min(data.len());
                data = &data[k..];
                skip -= k as u64;
            }
            if data.is_empty() {
                continue;
            }
            let after = received.saturating_add(data.len() as u64);
            if after > size {
                return Err(too_much(after));
            }
            *received = write(data).map_err(|e| Attempt::Final(e.into()))?;
        }
        if *received < size {
            return Err(Attempt::Transient(OciDistributionError::IoError(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the body ended after {received} of {size} bytes"),
            ))));
        }
        Ok(())
    }

    /// A small blob (a config, an envelope), whose size the caller bounded,
    /// downloaded into memory and checked against its digest.
    pub(crate) async fn download_small(&self, blob: &BlobRef) -> Result<Vec<u8>, Error> {
        let what = || format!("blob {} from {}", blob.digest, self.shown);
        let mut bytes = Vec::new();
        self.download(blob, |data| {
            bytes.extend_from_slice(data);
            Ok(bytes.len() as u64)
        })
        .await?;
        let actual = Digest::of(&bytes);
        if actual != blob.digest {
            return Err(cerro_core::Error::DigestMismatch {
                what: what(),
                expected: blob.digest,
                actual,
            }
            .into());
        }
        Ok(bytes)
    }
}

enum Attempt {
    Transient(OciDistributionError),
    Final(Error),
}

fn is_auth_refusal(e: &OciDistributionError) -> bool {
    let status = |code: u16| code == 401 || code == 403;
    match e {
        OciDistributionError::AuthenticationFailure(_) | OciDistributionError::UnauthorizedError { .. } => true,
        OciDistributionError::ServerError { code, .. } => status(*code),
        OciDistributionError::RequestError(r) => r.status().is_some_and(|s| status(s.as_u16())),
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|x| matches!(x.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)),
        _ => false,
    }
}

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            matches!(
                x.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NotFound | OciErrorCode::NameUnknown
            )
        }),
        _ => false,
    }
}

/// `size` bytes at `offset` of `path`, as a stream of chunks read on demand.
fn file_range(
    path: PathBuf,
    offset: u64,
    size: u64,
    progress: Arc<dyn Progress>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::try_unfold((None::<File>, 0u64), move |(file, done)| {
        let path = path.clone();
        let progress = Arc::clone(&progress);
        async move {
            if done >= size {
                return Ok(None);
            }
            let f = match file {
                Some(f) => f,
                None => File::open(&path)?,
            };
            let n = CHUNK.min(size - done) as usize;
            let mut buf = vec![0u8; n];
            f.read_exact_at(&mut buf, offset + done)?;
            progress.advance(n as u64);
            Ok(Some((Bytes::from(buf), (Some(f), done + n as u64))))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_recognised() {
        for r in [
            "127.0.0.1:5000",
            "localhost:5000",
            "localhost",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in [
            "registry.example:5000",
            "10.0.0.1:5000",
            "localhost.example",
            "index.docker.io",
        ] {
            assert!(!is_loopback(r), "{r}");
        }
    }
}
