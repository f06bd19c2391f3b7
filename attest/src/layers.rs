//! Reading an image's layers without extracting them: every regular file
//! with its SHA-256 and SHA-1 (SPDX 2.3 requires SHA-1 for files), and the
//! package databases. Layers are decompressed and hashed as they stream, one
//! layer per core; whiteouts are applied in layer order, as a runtime would.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use sha1::{Digest as _, Sha1};

use super::packages::{os_release, parse_apk_installed, parse_dpkg_status, parse_rpmdb_sqlite, OsPackage};
use cerro_core::digest::{Digest, Hasher};
use cerro_core::image::source::SourceImage;
use cerro_core::image::BlobRef;
use cerro_core::pack::LayerDiffIds;
use cerro_core::{Error, Result};

/// Largest package database or os-release file read into memory.
const MAX_DB: u64 = 64 << 20;

/// A regular file of the image's final filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path without a leading `/` or `./`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content.
    pub sha256: Digest,
    /// SHA-1 of the content, lowercase hex.
    pub sha1: String,
}

/// What an SBOM is made from.
#[derive(Debug, Clone)]
pub struct ImageContents {
    /// Regular files of the final filesystem, sorted by path.
    pub files: Vec<FileEntry>,
    /// Installed packages, sorted.
    pub packages: Vec<OsPackage>,
    /// os-release `ID` (e.g. `debian`, `alpine`).
    pub distro: Option<String>,
    /// os-release `VERSION_ID`.
    pub distro_version: Option<String>,
    /// Every layer's diff_id, measured in the same pass.
    pub diff_ids: LayerDiffIds,
}

/// Files whose content is kept (package databases, os-release).
fn interesting(path: &str) -> bool {
    matches!(
        path,
        "var/lib/dpkg/status"
            | "lib/apk/db/installed"
            | "etc/os-release"
            | "usr/lib/os-release"
            | "var/lib/rpm/rpmdb.sqlite"
            | "usr/lib/sysimage/rpm/rpmdb.sqlite"
    ) || (path.starts_with("var/lib/dpkg/status.d/") && !path.ends_with(".md5sums"))
}

#[derive(Default)]
struct LayerScan {
    diff_id: Option<Digest>,
    deleted: Vec<String>,
    opaque: Vec<String>,
    files: BTreeMap<String, FileEntry>,
    kept: BTreeMap<String, Vec<u8>>,
}

fn normalise(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let s = s.trim_start_matches("./").trim_start_matches('/');
    s.trim_end_matches('/').to_owned()
}

fn decompressed<'r>(blob: &BlobRef, r: impl Read + 'r) -> Result<Box<dyn Read + 'r>> {
    let r = BufReader::with_capacity(1 << 20, r);
    let mt = blob.media_type.as_str();
    if mt.ends_with("+gzip") || mt.ends_with(".tar.gzip") {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(r)))
    } else if mt.ends_with("+zstd") {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(r).map_err(|e| {
            Error::malformed(format!("layer {}", blob.digest), format!("zstd: {e}"))
        })?))
    } else if mt.ends_with(".tar") {
        Ok(Box::new(r))
    } else {
        Err(Error::malformed(
            format!("layer {}", blob.digest),
            format!("cannot read layers of media type {mt}"),
        ))
    }
}

fn scan_layer(image: &SourceImage, blob: &BlobRef) -> Result<LayerScan> {
    let what = format!("layer {}", blob.digest);
    let raw = image.open_blob(blob)?;
    // The compressed bytes are hashed too: a layer that does not match its
    // digest must not be described.
    let mut verifying = VerifyingReader {
        inner: raw,
        hasher: Hasher::new(),
    };
    let mut scan = LayerScan::default();
    let mut uncompressed = Hasher::new();
    let parsed = (|| -> Result<()> {
        let mut ar = tar::Archive::new(HashingReader {
            inner: decompressed(blob, &mut verifying)?,
            hasher: &mut uncompressed,
        });
        let entries = ar
            .entries()
            .map_err(|e| Error::malformed(&what, format!("not a tar: {e}")))?;
        let mut buf = vec![0u8; 256 << 10];
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::malformed(&what, format!("corrupt tar: {e}")))?;
            let path = normalise(&entry.path_bytes());
            let (dir, name) = match path.rsplit_once('/') {
                Some((d, n)) => (d.to_owned(), n.to_owned()),
                None => (String::new(), path.clone()),
            };
            if name == ".wh..wh..opq" {
                scan.opaque.push(dir);
                continue;
            }
            if let Some(target) = name.strip_prefix(".wh.") {
                scan.deleted.push(if dir.is_empty() {
                    target.to_owned()
                } else {
                    format!("{dir}/{target}")
                });
                continue;
            }
            let kind = entry.header().entry_type();
            if kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|l| normalise(&l))
                    .ok_or_else(|| Error::malformed(&what, format!("hard link {path:?} without target")))?;
                if let Some(t) = scan.files.get(&target).cloned() {
                    scan.files.insert(path.clone(), FileEntry { path, ..t });
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let keep = interesting(&path);
            let size = entry.size();
            if keep && size > MAX_DB {
                return Err(Error::malformed(&what, format!("{path} is larger than {MAX_DB} bytes")));
            }
            let mut kept = Vec::new();
            let (mut s256, mut s1) = (Hasher::new(), Sha1::new());
            loop {
                let n = entry
                    .read(&mut buf)
                    .map_err(|e| Error::malformed(&what, format!("reading {path}: {e}")))?;
                if n == 0 {
                    break;
                }
                s256.update(&buf[..n]);
                s1.update(&buf[..n]);
                if keep {
                    kept.extend_from_slice(&buf[..n]);
                }
            }
            let (sha256, size) = s256.finish();
            if keep {
                scan.kept.insert(path.clone(), kept);
            }
            scan.files.insert(
                path.clone(),
                FileEntry {
                    path,
                    size,
                    sha256,
                    sha1: hex::encode(s1.finalize()),
                },
            );
        }
        // The diff_id covers the whole uncompressed stream, past the tar's
        // end-of-archive blocks.
        std::io::copy(&mut ar.into_inner(), &mut std::io::sink())
            .map_err(|e| Error::malformed(&what, format!("decompressing: {e}")))?;
        Ok(())
    })();
    // Drain what the tar reader left (padding, trailing blocks, or all of it
    // after a parse error) so the digest covers the blob: a layer that is not
    // the one named is reported as such, whatever else is wrong with it.
    std::io::copy(&mut verifying, &mut std::io::sink()).map_err(|e| Error::io("reading", &what, e))?;
    let (digest, _) = verifying.hasher.finish();
    if digest != blob.digest {
        return Err(Error::DigestMismatch {
            what,
            expected: blob.digest,
            actual: digest,
        });
    }
    parsed.map(|()| {
        scan.diff_id = Some(uncompressed.finish().0);
        scan
    })
}

/// Hashes what passes through (the uncompressed layer: its diff_id).
struct HashingReader<'h, R> {
    inner: R,
    hasher: &'h mut Hasher,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The diff_id of one layer: its bytes decompressed and hashed, the
/// compressed bytes checked against the layer's digest on the way.
fn measure_layer(image: &SourceImage, blob: &BlobRef) -> Result<Digest> {
    let what = format!("layer {}", blob.digest);
    let mut verifying = VerifyingReader {
        inner: image.open_blob(blob)?,
        hasher: Hasher::new(),
    };
    let mut uncompressed = Hasher::new();
    let copied = decompressed(blob, &mut verifying).and_then(|r| {
        std::io::copy(
            &mut HashingReader {
                inner: r,
                hasher: &mut uncompressed,
            },
            &mut std::io::sink(),
        )
        .map_err(|e| Error::malformed(&what, format!("decompressing: {e}")))
    });
    std::io::copy(&mut verifying, &mut std::io::sink()).map_err(|e| Error::io("reading", &what, e))?;
    let (digest, _) = verifying.hasher.finish();
    if digest != blob.digest {
        return Err(Error::DigestMismatch {
            what,
            expected: blob.digest,
            actual: digest,
        });
    }
    copied?;
    Ok(uncompressed.finish().0)
}

/// Runs `f` on every layer, one layer per core, results in layer order.
fn each_layer<T: Send>(image: &SourceImage, f: impl Fn(&BlobRef) -> Result<T> + Sync) -> Result<Vec<T>> {
    let layers = &image.parts.layers;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<T>>>> = Mutex::new((0..layers.len()).map(|_| None).collect());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(layers.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(blob) = layers.get(i) else { break };
                let r = f(blob);
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .map_err(|_| Error::malformed("image", "a layer reader failed"))?
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::malformed("image", "a layer was not read"))?)
        .collect()
}

/// The diff_ids of every layer, measured from the bytes (in parallel), for
/// a pack without an SBOM; [`scan`] measures them in its own pass.
pub fn diff_ids(image: &SourceImage) -> Result<LayerDiffIds> {
    // An uncompressed layer is its own diff_id: its digest is checked
    // while the bundle writer copies it, so reading it here would only
    // hash it a second time.
    each_layer(image, |blob| {
        if blob.media_type.ends_with(".tar") {
            Ok(blob.digest)
        } else {
            measure_layer(image, blob)
        }
    })
    .map(LayerDiffIds::measured)
}

struct VerifyingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Scans every layer of `image` (in parallel) and merges them.
pub fn scan(image: &SourceImage) -> Result<ImageContents> {
    let results = each_layer(image, |blob| scan_layer(image, blob))?;
    let mut diff_ids = Vec::with_capacity(results.len());
    let mut files: BTreeMap<String, FileEntry> = BTreeMap::new();
    let mut kept: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for layer in results {
        diff_ids.push(
            layer
                .diff_id
                .ok_or_else(|| Error::malformed("image", "a layer was not measured"))?,
        );
        let under = |dir: &str, p: &str| dir.is_empty() || p == dir || p.starts_with(&format!("{dir}/"));
        for dir in &layer.opaque {
            files.retain(|p, _| !under(dir, p) || p == dir);
            kept.retain(|p, _| !under(dir, p) || p == dir);
        }
        for d in &layer.deleted {
            files.retain(|p, _| !under(d, p));
            kept.retain(|p, _| !under(d, p));
        }
        files.extend(layer.files);
        kept.extend(layer.kept);
    }

    let mut packages = BTreeSet::new();
    for (path, bytes) in &kept {
        let text = String::from_utf8_lossy(bytes);
        if path == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/") {
            packages.extend(parse_dpkg_status(&text));
        } else if path == "lib/apk/db/installed" {
            packages.extend(parse_apk_installed(&text));
        } else if path.ends_with("rpm/rpmdb.sqlite") {
            let found = parse_rpmdb_sqlite(bytes)
                .map_err(|e| Error::malformed(format!("image file /{path}"), format!("rpm database: {e}")))?;
            packages.extend(found);
        }
    }
    let release = kept
        .get("etc/os-release")
        .or_else(|| kept.get("usr/lib/os-release"))
        .map(|b| os_release(&String::from_utf8_lossy(b)))
        .unwrap_or((None, None));
    Ok(ImageContents {
        files: files.into_values().collect(),
        packages: packages.into_iter().collect(),
        distro: release.0,
        distro_version: release.1,
        diff_ids: LayerDiffIds::measured(diff_ids),
    })
}
