//! One connection to one repository: the `oci-client` calls this crate
//! makes, each wrapped in the retry policy and turned into [`Error`].

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cerro_core::digest::Digest;
use cerro_core::image::BlobRef;
use futures_util::{Stream, StreamExt};
use oci_client::client::{BlobResponse, Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::auth::{credentials_for, default_auth_files, Credentials, Secret};
use crate::error::{network, Error};
use crate::progress::{NoProgress, Progress};
use crate::retry::with_retry;
use crate::tls::{cert_dirs, load_cas};
use crate::token;

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
    client: Client,
    pub(crate) reference: Reference,
    auth: RegistryAuth,
    /// An identity token, exchanged for an access token at each
    /// [`Registry::authorize`] instead of `auth`.
    identity: Option<IdentityLogin>,
    /// With an identity token: the operation authorized last and when its
    /// access token is to be renewed.
    renewal: std::sync::Mutex<Option<(RegistryOperation, Instant)>>,
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

/// An identity token and what its exchange needs.
struct IdentityLogin {
    token: String,
    /// Where it came from, for the message when it is refused.
    source: String,
    /// With the registry's certificate authorities.
    http: reqwest::Client,
    /// `http[s]://host[:port]` of the registry.
    base: String,
}

/// Timeouts of every connection to a registry (and its token server).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// See [`CONNECT_TIMEOUT`].
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(120);

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
        let parsed: Reference = reference.parse().map_err(|e| Error::BadReference {
            reference: reference.to_owned(),
            reason: format!("{e}"),
        })?;
        let registry = parsed.resolve_registry().to_owned();
        let files = if opts.auth_files.is_empty() {
            default_auth_files(|k| std::env::var(k).ok())
        } else {
            opts.auth_files.clone()
        };
        let mut identity_token = None;
        let (auth, auth_note) = match credentials_for(&registry, parsed.repository(), &files)? {
            Some(Credentials {
                secret: Secret::Password { user, password },
                source,
            }) => (
                RegistryAuth::Basic(user, password),
                format!("credentials from {source}"),
            ),
            Some(Credentials {
                secret: Secret::IdentityToken(token),
                source,
            }) => {
                let note = format!("identity token from {source}");
                identity_token = Some((token, source));
                (RegistryAuth::Anonymous, note)
            }
            None => {
                let read: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                (
                    RegistryAuth::Anonymous,
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
        let protocol = if plain_http {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let identity = match identity_token {
            Some((token, source)) => {
                let pems: Vec<Vec<u8>> = cas.iter().map(|(_, pem)| pem.clone()).collect();
                let http = token::http_client(&pems).map_err(|message| Error::Network {
                    op: "setting up a client for",
                    target: registry.clone(),
                    message,
                })?;
                let scheme = if plain_http { "http" } else { "https" };
                Some(IdentityLogin {
                    token,
                    source,
                    http,
                    base: format!("{scheme}://{registry}"),
                })
            }
            None => None,
        };
        let extra_root_certificates = cas
            .into_iter()
            .map(|(_, data)| Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            })
            .collect();
        let client = Client::try_from(ClientConfig {
            protocol,
            use_monolithic_push: true,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            platform_resolver: None,
            extra_root_certificates,
            ..Default::default()
        })
        .map_err(|e| network("setting up a client for", &registry, &e))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| cerro_core::Error::io("starting the network runtime for", &registry, e))?;
        Ok(Registry {
            client,
            reference: parsed,
            auth,
            identity,
            renewal: std::sync::Mutex::new(None),
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

    /// Logs in (basic credentials, or the bearer token they buy) for `op`.
    /// An identity token is exchanged for an access token instead (see
    /// [`Registry::keep_authorized`]).
    pub(crate) async fn authorize(&self, op: RegistryOperation) -> Result<(), Error> {
        if let Some(id) = &self.identity {
            return self.exchange_identity(id, op).await;
        }
        with_retry(|| self.client.auth(&self.reference, &self.auth, op))
            .await
            .map(|_| ())
            .map_err(|e| self.net("authenticating to", self.reference.resolve_registry(), &e))
    }

    /// Exchanges the identity token for an access token to `op` and hands
    /// it to the client; a push's token (scope `pull,push`) serves the
    /// push's own reads too.
    async fn exchange_identity(&self, id: &IdentityLogin, op: RegistryOperation) -> Result<(), Error> {
        let access = token::exchange(
            &id.http,
            &id.base,
            self.reference.repository(),
            op,
            &id.token,
            &id.source,
        )
        .await?;
        let renew_at = Instant::now() + access.renew_after();
        let bearer = RegistryAuth::Bearer(access.token);
        let ops: &[RegistryOperation] = match op {
            RegistryOperation::Push => &[RegistryOperation::Push, RegistryOperation::Pull],
            RegistryOperation::Pull => &[RegistryOperation::Pull],
        };
        for o in ops {
            self.client
                .auth(&self.reference, &bearer, *o)
                .await
                .map_err(|e| self.net("authenticating to", self.reference.resolve_registry(), &e))?;
        }
        *self.renewal.lock().unwrap_or_else(|p| p.into_inner()) = Some((op, renew_at));
        Ok(())
    }

    /// Renews an identity token's access token that is about to lapse,
    /// before a request: unlike a password, whose bearer tokens oci-client
    /// fetches again when they expire, an access token handed to it is
    /// used as it is, so a long push or fetch would otherwise be refused
    /// halfway. Nothing to do for other credentials.
    async fn keep_authorized(&self) -> Result<(), Error> {
        let Some(id) = &self.identity else {
            return Ok(());
        };
        let due = *self.renewal.lock().unwrap_or_else(|p| p.into_inner());
        match due {
            Some((op, at)) if Instant::now() >= at => self.exchange_identity(id, op).await,
            _ => Ok(()),
        }
    }

    pub(crate) async fn blob_exists(&self, digest: &Digest) -> Result<bool, Error> {
        self.keep_authorized().await?;
        let d = digest.to_string();
        with_retry(|| self.client.blob_exists(&self.reference, &d))
            .await
            .map_err(|e| self.net("checking blob", &d, &e))
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
            self.client.push_blob_stream(&self.reference, stream, &d, Some(size))
        })
        .await
        .map(|_| ())
        .map_err(|e| self.net("pushing blob", &d, &e))
    }

    /// Uploads a small blob held in memory.
    pub(crate) async fn push_bytes(&self, bytes: &[u8], digest: &Digest) -> Result<(), Error> {
        self.keep_authorized().await?;
        let d = digest.to_string();
        let data = Bytes::copy_from_slice(bytes);
        with_retry(|| self.client.push_blob(&self.reference, data.clone(), &d))
            .await
            .map(|_| ())
            .map_err(|e| self.net("pushing blob", &d, &e))
    }

    /// Stores manifest `bytes`, exactly as given, at `target`.
    pub(crate) async fn push_manifest(&self, target: &Reference, bytes: &[u8], media_type: &str) -> Result<(), Error> {
        self.keep_authorized().await?;
        let ct = http::HeaderValue::from_str(media_type).map_err(|_| {
            cerro_core::Error::malformed("manifest", format!("media type {media_type:?} is not a header value"))
        })?;
        let body = Bytes::copy_from_slice(bytes);
        with_retry(|| self.client.push_manifest_raw(target, body.clone(), ct.clone()))
            .await
            .map(|_| ())
            .map_err(|e| self.net("pushing manifest", target.whole(), &e))
    }

    /// The manifest at `target` (raw bytes), or `None` if the registry
    /// has none there. Its digest is checked when `target` names one.
    pub(crate) async fn pull_manifest(&self, target: &Reference, accepted: &[&str]) -> Result<Option<Vec<u8>>, Error> {
        self.keep_authorized().await?;
        match with_retry(|| self.client.pull_manifest_raw(target, &self.auth, accepted)).await {
            Ok((bytes, _)) => {
                if bytes.len() as u64 > cerro_core::image::MAX_JSON_BLOB {
                    return Err(cerro_core::Error::malformed(target.whole(), "manifest larger than 4 MiB").into());
                }
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
                Ok(Some(bytes.to_vec()))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.net("pulling manifest", target.whole(), &e)),
        }
    }

    /// Referrer descriptors of `subject` with `artifact_type`, through the
    /// referrers API or, on registries without it, the tag fallback.
    pub(crate) async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: &str,
    ) -> Result<Vec<(Digest, u64, String)>, Error> {
        self.keep_authorized().await?;
        let at = self.at_digest(subject);
        let index = with_retry(|| self.client.pull_referrers(&at, Some(artifact_type)))
            .await
            .map_err(|e| self.net("listing referrers of", subject.to_string(), &e))?;
        let mut out = Vec::new();
        for m in index.manifests {
            if m.artifact_type.as_deref() != Some(artifact_type) {
                continue;
            }
            let Ok(d) = Digest::parse(&m.digest) else { continue };
            let Ok(size) = u64::try_from(m.size) else { continue };
            out.push((d, size, m.media_type));
        }
        Ok(out)
    }

    /// Streams blob `blob` to `write`, which is handed the bytes as they
    /// arrive and answers how many bytes of the blob it now holds. A
    /// connection cut or a 5xx is retried with backoff, resuming where the
    /// data stopped (an HTTP range request); `write` never sees a byte twice.
    /// Neither the digest nor the size is trusted here: `write`'s owner
    /// hashes what it got and refuses more bytes than the descriptor says.
    pub(crate) async fn download(
        &self,
        blob: &BlobRef,
        mut write: impl FnMut(&[u8]) -> Result<u64, cerro_core::Error>,
    ) -> Result<(), Error> {
        let desc = OciDescriptor {
            media_type: blob.media_type.clone(),
            digest: blob.digest.to_string(),
            size: i64::try_from(blob.size)
                .map_err(|_| cerro_core::Error::malformed("descriptor", "size out of range"))?,
            ..Default::default()
        };
        let mut waits = crate::retry::BACKOFF_MS.iter();
        let mut received = 0u64;
        loop {
            self.keep_authorized().await?;
            match self.download_from(&desc, blob.size, &mut received, &mut write).await {
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
        desc: &OciDescriptor,
        size: u64,
        received: &mut u64,
        write: &mut impl FnMut(&[u8]) -> Result<u64, cerro_core::Error>,
    ) -> Result<(), Attempt> {
        // Always a range request: a registry that honours it answers 206 and
        // oci-client leaves the hashing to us (it would otherwise hash every
        // byte a second time); one that ignores it sends the whole blob, and
        // the part already held is skipped.
        let response = self
            .client
            .pull_blob_stream_partial(&self.reference, desc, *received, None)
            .await;
        let (mut stream, mut skip) = match response {
            Ok(BlobResponse::Partial(s)) => (s, 0),
            Ok(BlobResponse::Full(s)) => (s, *received),
            Err(e) if crate::retry::is_retryable(&e) => return Err(Attempt::Transient(e)),
            Err(e) => return Err(Attempt::Final(self.net("pulling blob", desc.digest.clone(), &e))),
        };
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                // oci-client's own end-of-body digest check (on a full
                // response): every byte was passed on, and the owner's hash
                // will name what was actually served.
                Err(e) if e.get_ref().is_some_and(|i| i.is::<oci_client::errors::DigestError>()) => return Ok(()),
                // A connection cut mid-body: resume from here.
                Err(e) => return Err(Attempt::Transient(OciDistributionError::IoError(e))),
            };
            let mut data = &chunk[..];
            if skip > 0 {
                let k = usize::try_from(skip).unwrap_or(usize::MAX).min(data.len());
                data = &data[k..];
                skip -= k as u64;
            }
            if !data.is_empty() {
                *received = write(data).map_err(|e| Attempt::Final(e.into()))?;
            }
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
            if (bytes.len() + data.len()) as u64 > blob.size {
                return Err(cerro_core::Error::SizeMismatch {
                    what: what(),
                    expected: blob.size,
                    actual: (bytes.len() + data.len()) as u64,
                });
            }
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
) -> impl Stream<Item = Result<Bytes, OciDistributionError>> + Send + 'static {
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
