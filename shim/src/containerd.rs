//! Which image a container runs, asked of containerd itself.
//!
//! The OCI spec in the task's bundle does not name the image, so the shim
//! asks containerd's gRPC API (the `-address` containerd started it with,
//! in the shim's namespace):
//!
//! 1. `Containers/Get(id)` → the container record's `image` (a name), its
//!    `snapshotter` and `snapshot_key`;
//! 2. `Images/Get(name)` → the image's target descriptor; an index is read
//!    (`Content/Read`, digest checked) and narrowed to this platform's
//!    manifest(s);
//! 3. the binding: each candidate manifest and its config are read from the
//!    content store (digests checked), the chain id of the config's
//!    `rootfs.diff_ids` is computed, and it must equal the parent of the
//!    container's snapshot (`Snapshots/Stat`). So a name re-pointed after the
//!    container was made, or a root file system not made from the image, is
//!    not taken for the attested image.
//! 4. the act: the mounts of the container's snapshot
//!    (`Snapshots/Mounts(snapshotter, snapshot_key)`), which the task must
//!    mount and nothing else: containerd passes on whatever root file
//!    system mounts the `Tasks/Create` caller sent, so the shim compares
//!    them with these (`task.rs`) before it decides.
//!
//! Every failure is an error, which the caller turns into a refusal (fail
//! closed). The few messages are declared here with `prost` rather than
//! generated from containerd's protos: unknown fields are skipped, so the
//! subset stays compatible with containerd 1.6 to 2.x.

use std::path::PathBuf;
use std::time::Duration;

use cerro_core::digest::Digest;
use cerro_core::image::{
    chain_id, host_architecture, parse_config, parse_index, parse_manifest, select_platform, MT_DOCKER_LIST,
    MT_OCI_INDEX,
};
use tonic::transport::{Channel, Endpoint};

use crate::backend::Mount;
use crate::error::ShimError;

/// The gRPC metadata key that carries the namespace.
const NAMESPACE_HEADER: &str = "containerd-namespace";
/// Largest manifest, index or config read from the content store.
const MAX_BLOB: i64 = 4 << 20;
/// How long one lookup may take in all.
const TIMEOUT: Duration = Duration::from_secs(20);

/// What the shim learnt of a container's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    /// The image name of the container record.
    pub name: String,
    /// The manifest digest(s) it runs, most specific first.
    pub digests: Vec<Digest>,
    /// The container's snapshot, `snapshotter/key` (for messages).
    pub snapshot: String,
    /// The mounts of that snapshot as containerd's snapshotter gives them:
    /// the root file system the task must mount.
    pub rootfs: Vec<Mount>,
    /// The chain id of the layers under that snapshot (its parent), which
    /// the decision compares with the chain of the signed diffIds.
    pub chain: Option<Digest>,
}

/// Finds the image a container runs. The shim's one source of truth about
/// images; behind a trait so the task logic can be tested without containerd.
pub trait ImageSource: Send + Sync {
    /// The image container `id` runs.
    fn image_of(&self, id: &str) -> Result<ContainerImage, ShimError>;
}

/// containerd's gRPC API at `socket`, in `namespace`.
#[derive(Debug, Clone)]
pub struct Containerd {
    socket: PathBuf,
    namespace: String,
}

impl Containerd {
    /// The API at `address` (a socket path, `unix://` allowed).
    pub fn new(address: &str, namespace: &str) -> Self {
        Containerd {
            socket: PathBuf::from(address.strip_prefix("unix://").unwrap_or(address)),
            namespace: namespace.to_owned(),
        }
    }
}

impl ImageSource for Containerd {
    fn image_of(&self, id: &str) -> Result<ContainerImage, ShimError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ShimError::io("starting the gRPC client for", &self.socket, e))?;
        rt.block_on(async {
            match tokio::time::timeout(TIMEOUT, self.lookup(id)).await {
                Ok(r) => r,
                Err(_) => Err(err("lookup", format!("no answer within {}s", TIMEOUT.as_secs()))),
            }
        })
    }
}

fn err(call: impl Into<String>, message: impl std::fmt::Display) -> ShimError {
    ShimError::Containerd {
        call: call.into(),
        message: message.to_string(),
    }
}

impl Containerd {
    async fn channel(&self) -> Result<Channel, ShimError> {
        let socket = self.socket.clone();
        Endpoint::from_static("http://containerd.invalid")
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let socket = socket.clone();
                async move {
                    let s = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                }
            }))
            .await
            .map_err(|e| err(format!("connect {}", self.socket.display()), e))
    }

    async fn unary<Q, R>(&self, ch: &Channel, path: &'static str, what: &str, q: Q) -> Result<R, ShimError>
    where
        Q: prost::Message + Send + 'static,
        R: prost::Message + Default + Send + 'static,
    {
        let call = format!("{} {what}", path.rsplit('.').next().unwrap_or(path));
        let mut grpc = tonic::client::Grpc::new(ch.clone());
        grpc.ready().await.map_err(|e| err(&call, e))?;
        let resp = grpc
            .unary(
                self.request(q, &call)?,
                http::uri::PathAndQuery::from_static(path),
                codec(),
            )
            .await
            .map_err(|s| err(&call, status(&s)))?;
        Ok(resp.into_inner())
    }

    fn request<Q>(&self, q: Q, call: &str) -> Result<tonic::Request<Q>, ShimError> {
        let mut r = tonic::Request::new(q);
        let ns = self
            .namespace
            .parse()
            .map_err(|_| err(call, format!("bad namespace {:?}", self.namespace)))?;
        r.metadata_mut().insert(NAMESPACE_HEADER, ns);
        Ok(r)
    }

    /// A blob of the content store, whose digest is checked here.
    async fn blob(&self, ch: &Channel, digest: &str) -> Result<Vec<u8>, ShimError> {
        let call = format!("Content/Read {digest}");
        let want = Digest::parse(digest).map_err(|e| err(&call, e))?;
        let mut grpc = tonic::client::Grpc::new(ch.clone());
        grpc.ready().await.map_err(|e| err(&call, e))?;
        let q = pb::ReadContentRequest {
            digest: digest.to_owned(),
            offset: 0,
            size: 0,
        };
        let mut stream = grpc
            .server_streaming(
                self.request(q, &call)?,
                http::uri::PathAndQuery::from_static("/containerd.services.content.v1.Content/Read"),
                codec::<pb::ReadContentRequest, pb::ReadContentResponse>(),
            )
            .await
            .map_err(|s| err(&call, status(&s)))?
            .into_inner();
        let mut data = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(|s| err(&call, status(&s)))? {
            if (data.len() + chunk.data.len()) as i64 > MAX_BLOB {
                return Err(err(&call, format!("larger than {MAX_BLOB} bytes")));
            }
            data.extend_from_slice(&chunk.data);
        }
        let got = Digest::of(&data);
        if got != want {
            return Err(err(&call, format!("content has digest {got}")));
        }
        Ok(data)
    }

    async fn lookup(&self, id: &str) -> Result<ContainerImage, ShimError> {
        let ch = self.channel().await?;
        let c: pb::GetContainerResponse = self
            .unary(
                &ch,
                "/containerd.services.containers.v1.Containers/Get",
                id,
                pb::GetContainerRequest { id: id.to_owned() },
            )
            .await?;
        let c = c.container.unwrap_or_default();
        if c.image.is_empty() {
            return Err(err(
                format!("Containers/Get {id}"),
                "the container record names no image (a root file system not made from an image is not attested)",
            ));
        }
        let i: pb::GetImageResponse = self
            .unary(
                &ch,
                "/containerd.services.images.v1.Images/Get",
                &c.image,
                pb::GetImageRequest { name: c.image.clone() },
            )
            .await?;
        let target = i.image.and_then(|i| i.target).unwrap_or_default();
        let call = format!("Images/Get {}", c.image);
        let top = Digest::parse(&target.digest).map_err(|e| err(&call, e))?;
        let mut candidates: Vec<(String, String)> = Vec::new();
        if is_index(&target.media_type) {
            let index = self.blob(&ch, &target.digest).await?;
            candidates = platform_manifests(&call, &index)?;
            if candidates.is_empty() {
                return Err(err(
                    &call,
                    format!("index {top} has no manifest for linux/{}", host_architecture()),
                ));
            }
        } else {
            candidates.push((target.digest.clone(), target.media_type.clone()));
        }
        if c.snapshot_key.is_empty() {
            return Err(err(
                format!("Containers/Get {id}"),
                "the container has no snapshot, so its root file system cannot be tied to the image",
            ));
        }
        let snap: pb::StatSnapshotResponse = self
            .unary(
                &ch,
                "/containerd.services.snapshots.v1.Snapshots/Stat",
                &c.snapshot_key,
                pb::StatSnapshotRequest {
                    snapshotter: c.snapshotter.clone(),
                    key: c.snapshot_key.clone(),
                },
            )
            .await?;
        let parent = snap.info.unwrap_or_default().parent;
        let mut chains = Vec::new();
        for (m, media_type) in &candidates {
            let manifest = self.blob(&ch, m).await?;
            let parts = parse_manifest(&format!("manifest {m}"), &manifest, media_type)
                .map_err(|e| err(format!("manifest {m}"), e))?;
            let config_digest = parts.config.digest.to_string();
            let config = self.blob(&ch, &config_digest).await?;
            let chain = parse_config(&format!("config {config_digest}"), &config)
                .map_err(|e| err(format!("config {config_digest}"), e))?;
            let chain_digest = chain_id(&chain.diff_ids)
                .ok_or_else(|| err(format!("config {config_digest}"), "the image config has no layers"))?;
            let chain = chain_digest.to_string();
            if chain == parent {
                let d = Digest::parse(m).map_err(|e| err(&call, e))?;
                let mut digests = vec![d];
                if top != d {
                    digests.push(top);
                }
                let rootfs = self.snapshot_mounts(&ch, &c.snapshotter, &c.snapshot_key).await?;
                return Ok(ContainerImage {
                    name: c.image,
                    digests,
                    snapshot: format!("{}/{}", c.snapshotter, c.snapshot_key),
                    rootfs,
                    chain: Some(chain_digest),
                });
            }
            chains.push(chain);
        }
        Err(err(
            format!("Snapshots/Stat {}", c.snapshot_key),
            format!(
                "the container's root file system (snapshot parent {:?}) is not made from image {} (layers {})",
                parent,
                c.image,
                chains.join(", ")
            ),
        ))
    }
}

impl Containerd {
    /// The mounts of snapshot `key` of `snapshotter` (`Snapshots/Mounts`):
    /// what containerd's own client puts in a `Tasks/Create` request.
    async fn snapshot_mounts(&self, ch: &Channel, snapshotter: &str, key: &str) -> Result<Vec<Mount>, ShimError> {
        let r: pb::MountsResponse = self
            .unary(
                ch,
                "/containerd.services.snapshots.v1.Snapshots/Mounts",
                key,
                pb::MountsRequest {
                    snapshotter: snapshotter.to_owned(),
                    key: key.to_owned(),
                },
            )
            .await?;
        let mut out = Vec::with_capacity(r.mounts.len());
        for m in r.mounts {
            if !m.target.is_empty() {
                // The shim mounts a root file system on the bundle's rootfs
                // only: a snapshot that needs targets cannot be reproduced.
                return Err(err(
                    format!("Snapshots/Mounts {key}"),
                    format!(
                        "the snapshot's {} mount has target {:?}, which this shim does not support",
                        m.r#type, m.target
                    ),
                ));
            }
            out.push(Mount {
                fs_type: m.r#type,
                source: m.source,
                options: m.options,
            });
        }
        Ok(out)
    }
}

fn codec<Q, R>() -> tonic_prost::ProstCodec<Q, R>
where
    Q: prost::Message + Send + 'static,
    R: prost::Message + Default + Send + 'static,
{
    tonic_prost::ProstCodec::default()
}

fn status(s: &tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

/// Whether `media_type` is an index (core's media-type names: the shim
/// keeps no list of its own).
fn is_index(media_type: &str) -> bool {
    media_type == MT_OCI_INDEX || media_type == MT_DOCKER_LIST
}

/// The manifests of an index made for linux on this architecture, with
/// their media types, read by core's strict OCI reader.
fn platform_manifests(call: &str, index: &[u8]) -> Result<Vec<(String, String)>, ShimError> {
    let entries = parse_index(&format!("{call}: index"), index).map_err(|e| err(call, e))?;
    Ok(select_platform(&entries, "linux", host_architecture())
        .into_iter()
        .map(|e| (e.manifest.digest.to_string(), e.manifest.media_type.clone()))
        .collect())
}

/// The subset of containerd's API messages used here (field numbers from
/// containerd's `api/services/{containers,images,content,snapshots}/v1`
/// and `api/types/mount.proto`).
mod pb {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetContainerRequest {
        #[prost(string, tag = "1")]
        pub id: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetContainerResponse {
        #[prost(message, optional, tag = "1")]
        pub container: Option<Container>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Container {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "3")]
        pub image: String,
        #[prost(string, tag = "6")]
        pub snapshotter: String,
        #[prost(string, tag = "7")]
        pub snapshot_key: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetImageRequest {
        #[prost(string, tag = "1")]
        pub name: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GetImageResponse {
        #[prost(message, optional, tag = "1")]
        pub image: Option<Image>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Image {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "3")]
        pub target: Option<Descriptor>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Descriptor {
        #[prost(string, tag = "1")]
        pub media_type: String,
        #[prost(string, tag = "2")]
        pub digest: String,
        #[prost(int64, tag = "3")]
        pub size: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReadContentRequest {
        #[prost(string, tag = "1")]
        pub digest: String,
        #[prost(int64, tag = "2")]
        pub offset: i64,
        #[prost(int64, tag = "3")]
        pub size: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ReadContentResponse {
        #[prost(int64, tag = "1")]
        pub offset: i64,
        #[prost(bytes = "vec", tag = "2")]
        pub data: Vec<u8>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StatSnapshotRequest {
        #[prost(string, tag = "1")]
        pub snapshotter: String,
        #[prost(string, tag = "2")]
        pub key: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StatSnapshotResponse {
        #[prost(message, optional, tag = "1")]
        pub info: Option<Info>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MountsRequest {
        #[prost(string, tag = "1")]
        pub snapshotter: String,
        #[prost(string, tag = "2")]
        pub key: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MountsResponse {
        #[prost(message, repeated, tag = "1")]
        pub mounts: Vec<Mount>,
    }
    /// `containerd.types.Mount`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Mount {
        #[prost(string, tag = "1")]
        pub r#type: String,
        #[prost(string, tag = "2")]
        pub source: String,
        #[prost(string, tag = "3")]
        pub target: String,
        #[prost(string, repeated, tag = "4")]
        pub options: Vec<String>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Info {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub parent: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_is_narrowed_to_this_platform_by_the_strict_reader() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let m = "application/vnd.oci.image.manifest.v1+json";
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[
              {{"mediaType":"{m}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"{}"}}}},
              {{"mediaType":"{m}","digest":"{}","size":1,"platform":{{"os":"linux","architecture":"s390x-not-this"}}}},
              {{"mediaType":"{m}","digest":"{}","size":1}}]}}"#,
            d('1'),
            host_architecture(),
            d('2'),
            d('3')
        );
        assert_eq!(
            platform_manifests("Images/Get x", idx.as_bytes()).unwrap(),
            [(d('1'), m.to_owned())]
        );
        assert!(platform_manifests("Images/Get x", b"{").is_err());
        // An index that also carries layers means two things: refused.
        let confused = idx.replacen("{\"schemaVersion\":2,", "{\"schemaVersion\":2,\"layers\":[],", 1);
        let e = platform_manifests("Images/Get x", confused.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("layers"), "{e}");
        assert!(is_index("application/vnd.oci.image.index.v1+json"));
        assert!(!is_index("application/vnd.oci.image.manifest.v1+json"));
    }

    #[test]
    fn an_absent_containerd_is_an_error_that_names_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("none.sock");
        let e = Containerd::new(&format!("unix://{}", sock.display()), "default")
            .image_of("c1")
            .unwrap_err();
        assert!(e.to_string().contains("none.sock"), "{e}");
    }
}
