//! `ct build --base oci:DIR[:REF]` (spec/build.md §10): the built packages
//! installed with `dpkg --root` into a base image's root, and the new layer
//! exactly the difference the install made.
//!
//! Order of work, so a refusal costs nothing: the base is opened through
//! core's image reader (strict JSON, manifest and config checked against
//! their digests) and its platform compared with the build's; every layer
//! is copied into the working directory, hashed as it is copied (a blob
//! that is not its digest is refused) and applied into `WORK/base` (its
//! uncompressed bytes hashed against the config's `diff_ids`) — all before
//! the build runs. After the build, `WORK/base` is copied to `WORK/target`,
//! the packages are installed into it in the build's network-less
//! namespace, the files that only record *when* are put back, and the two
//! trees are compared into one deterministic layer.
//!
//! Boundaries: the base is unauthenticated input from the user: paths with
//! `..`, entries under a symbolic link, devices and FIFOs are refused, and
//! the unpacked size is bounded ([`MAX_UNPACKED`]) before anything else is
//! done with it. Nothing of the base is trusted for what it says about
//! itself beyond what the digests bind.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use cerro_core::digest::{Digest, Hasher};
use cerro_core::image::source::SourceImage;
use cerro_core::image::BlobRef;
use serde_json::{json, Value};

use crate::error::{BuildError, Result};
use crate::host::{run_ok, Cmd, Host};

/// Most bytes the base's layers may hold uncompressed, all together.
pub const MAX_UNPACKED: u64 = 4 << 30;

/// Files that only record *when* (or that the install step placed): after
/// the install they are put back as the base has them (removed when it has
/// none), so two installs a second apart give the same layer.
pub const RESTORED: &[&str] = &[
    "usr/sbin/policy-rc.d",
    "var/log/dpkg.log",
    "var/log/alternatives.log",
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/diversions-old",
    "var/lib/dpkg/statoverride-old",
    "var/cache/ldconfig/aux-cache",
];

/// Directory whose `*.dat-old` files are restored too (debconf's backups).
const DEBCONF_CACHE: &str = "var/cache/debconf";

/// The layer media types a base may use.
const LAYER_TYPES: &[&str] = &[
    cerro_core::image::MT_OCI_LAYER_TAR,
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/// A base image, opened and checked (manifest and config against their
/// digests, the platform against the build's); its layers are checked as
/// [`BaseImage::unpack`] copies them.
#[derive(Debug)]
pub struct BaseImage {
    /// What the user named it (`oci:DIR[:REF]`), for messages.
    pub spec: String,
    /// The reference (`REF`, else the index's `org.opencontainers.image.ref.name`).
    pub reference: Option<String>,
    /// The image manifest's digest: what the provenance records.
    pub manifest: Digest,
    /// The config, as JSON (checked by core's strict reader).
    pub config: Value,
    /// The layers, in order.
    pub layers: Vec<BlobRef>,
    /// Their uncompressed digests (the config's `rootfs.diff_ids`).
    pub diff_ids: Vec<Digest>,
    source: SourceImage,
}

fn refused(what: &str, reason: impl Into<String>) -> BuildError {
    BuildError::Core(cerro_core::Error::malformed(format!("the base {what}"), reason.into()))
}

impl BaseImage {
    /// Opens `spec` (`oci:DIR[:REF]`) as the base of a build for the Debian
    /// architecture `debian_arch`. A multi-platform base is resolved to the
    /// build's platform. Refused (exit 10): another transport, no image of
    /// the build's platform, a config of another platform, a layer media
    /// type other than tar or tar+gzip, `diff_ids` that do not match the
    /// layers in number.
    pub fn open(spec: &str, debian_arch: &str) -> Result<BaseImage> {
        if !spec.starts_with("oci:") {
            return Err(refused(spec, "is not an oci:DIR[:REF] layout"));
        }
        let image = SourceImage::open(spec)?;
        let (arch, variant) = crate::image::oci_platform(debian_arch);
        let image = if image.platforms.is_empty() {
            image
        } else {
            let i = image
                .platforms
                .iter()
                .position(|p| p.platform.os == "linux" && p.platform.architecture == arch)
                .ok_or_else(|| refused(spec, format!("has no image for linux/{arch}")))?;
            image
                .platform_image(i)
                .ok_or_else(|| refused(spec, "platform image cannot be read"))?
        };
        let config_bytes = image.read_blob_small(&image.parts.config)?;
        let what = format!("config {}", image.parts.config.digest);
        let parsed = cerro_core::image::parse_config(&what, &config_bytes)?;
        let platform_ok = parsed.os == "linux"
            && parsed.architecture == arch
            && match (&parsed.variant, variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
        if !platform_ok {
            return Err(refused(
                spec,
                format!(
                    "is for {}/{}{}, the build is for linux/{arch}{}",
                    parsed.os,
                    parsed.architecture,
                    parsed.variant.as_deref().map(|v| format!("/{v}")).unwrap_or_default(),
                    variant.map(|v| format!("/{v}")).unwrap_or_default()
                ),
            ));
        }
        if parsed.diff_ids.len() != image.parts.layers.len() {
            return Err(refused(
                spec,
                format!(
                    "config lists {} diff_ids for {} layers",
                    parsed.diff_ids.len(),
                    image.parts.layers.len()
                ),
            ));
        }
        if image.parts.layers.is_empty() {
            return Err(refused(spec, "has no layer"));
        }
        for l in &image.parts.layers {
            if !LAYER_TYPES.contains(&l.media_type.as_str()) {
                return Err(refused(
                    spec,
                    format!(
                        "layer {} has media type {:?} (only tar and tar+gzip)",
                        l.digest, l.media_type
                    ),
                ));
            }
        }
        let config: Value = serde_json::from_slice(&config_bytes).map_err(|e| refused(spec, format!("config: {e}")))?;
        Ok(BaseImage {
            spec: spec.to_owned(),
            reference: image.reference.clone(),
            manifest: image.manifest.digest,
            config,
            layers: image.parts.layers.clone(),
            diff_ids: parsed.diff_ids,
            source: image,
        })
    }

    /// The name the provenance and the manifest annotation give it:
    /// `oci:REF` (never the local directory), else `oci:@DIGEST`.
    pub fn name(&self) -> String {
        match &self.reference {
            Some(r) => format!("oci:{r}"),
            None => format!("oci:@{}", self.manifest),
        }
    }

    /// Copies every layer into `blobs` (hashed as it is copied: a blob that
    /// is not its digest is refused, exit 1) and applies them in order into
    /// `root` (which must not exist), checking each layer's uncompressed
    /// bytes against its diff_id. Returns the copied blobs' paths.
    pub fn unpack(&self, blobs: &Path, root: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(blobs).map_err(|e| BuildError::io("creating", blobs, e))?;
        std::fs::create_dir(root).map_err(|e| BuildError::io("creating", root, e))?;
        let mut paths = Vec::with_capacity(self.layers.len());
        let mut budget = MAX_UNPACKED;
        for (blob, diff_id) in self.layers.iter().zip(&self.diff_ids) {
            let path = blobs.join(blob.digest.hex());
            let mut out = File::create(&path).map_err(|e| BuildError::io("creating", &path, e))?;
            let mut r = self.source.open_blob(blob)?;
            let mut h = Hasher::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = r
                    .read(&mut buf)
                    .map_err(|e| BuildError::io("reading the base's blob", blob.digest.to_string(), e))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .map_err(|e| BuildError::io("writing", &path, e))?;
            }
            let (actual, size) = h.finish();
            if actual != blob.digest || size != blob.size {
                return Err(BuildError::Core(cerro_core::Error::DigestMismatch {
                    what: format!("layer {} of the base {}", blob.digest, self.spec),
                    expected: blob.digest,
                    actual,
                }));
            }
            apply_layer(&path, blob, diff_id, root, &mut budget)?;
            paths.push(path);
        }
        let status = root.join("var/lib/dpkg/status");
        if !std::fs::symlink_metadata(&status).is_ok_and(|m| m.is_file()) {
            return Err(refused(&self.spec, "has no dpkg database (var/lib/dpkg/status)"));
        }
        Ok(paths)
    }
}

/// Hashes what is read through it and counts it against a budget.
struct Counted<'a, R> {
    inner: R,
    hasher: Hasher,
    budget: &'a mut u64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > *self.budget {
            return Err(std::io::Error::other(format!(
                "the base's layers hold more than {MAX_UNPACKED} bytes uncompressed"
            )));
        }
        *self.budget -= n as u64;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn decompressed<'a>(blob: &BlobRef, f: File) -> Box<dyn Read + 'a> {
    let r = BufReader::with_capacity(1 << 16, f);
    if blob.media_type.ends_with("gzip") {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else {
        Box::new(r)
    }
}

/// A layer path, relative, without `./` or a trailing `/`; `None` for the
/// root. A `..`, empty or `.` component inside is refused.
fn clean(layer: &str, raw: &[u8]) -> Result<Option<String>> {
    let s = std::str::from_utf8(raw)
        .map_err(|_| refused(layer, format!("path {:?} is not UTF-8", String::from_utf8_lossy(raw))))?;
    let s = s.strip_prefix("./").unwrap_or(s);
    let s = s.trim_start_matches('/').trim_end_matches('/');
    if s.is_empty() || s == "." {
        return Ok(None);
    }
    if s.split('/').any(|c| c.is_empty() || c == "." || c == "..") || s.contains('\0') {
        return Err(refused(
            layer,
            format!("path {s:?} has an empty, \".\" or \"..\" component"),
        ));
    }
    Ok(Some(s.to_owned()))
}

/// `root/path`'s parent directories exist as real directories (not
/// symbolic links, which could lead out of the root), or are missing.
fn parents_inside(layer: &str, root: &Path, path: &str) -> Result<()> {
    let mut cur = root.to_path_buf();
    let parts: Vec<&str> = path.split('/').collect();
    for c in &parts[..parts.len().saturating_sub(1)] {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => {
                return Err(refused(
                    layer,
                    format!(
                        "{path:?} lies under {:?}, which is not a directory",
                        cur.strip_prefix(root).unwrap_or(&cur)
                    ),
                ))
            }
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// Removes `root/path` (not following a link), if present.
fn remove_path(root: &Path, path: &str) -> Result<()> {
    let p = root.join(path);
    match std::fs::symlink_metadata(&p) {
        Ok(m) if m.file_type().is_dir() => std::fs::remove_dir_all(&p).map_err(|e| BuildError::io("removing", &p, e)),
        Ok(_) => std::fs::remove_file(&p).map_err(|e| BuildError::io("removing", &p, e)),
        Err(_) => Ok(()),
    }
}

/// Applies one layer into `root`, as a runtime does: its whiteouts first
/// (against the layers below: `.wh.NAME` removes `NAME`, `.wh..wh..opq`
/// empties its directory), then its entries in order, owners, modes and
/// mtimes kept. The uncompressed bytes must be `diff_id`.
fn apply_layer(blob_path: &Path, blob: &BlobRef, diff_id: &Digest, root: &Path, budget: &mut u64) -> Result<()> {
    let layer = format!("layer {}", blob.digest);
    let open = || File::open(blob_path).map_err(|e| BuildError::io("opening", blob_path, e));
    // Pass 1: the whiteouts.
    {
        let mut ar = tar::Archive::new(decompressed(blob, open()?));
        let entries = ar.entries().map_err(|e| refused(&layer, format!("not a tar: {e}")))?;
        for e in entries {
            let e = e.map_err(|e| refused(&layer, format!("not a tar: {e}")))?;
            let Some(path) = clean(&layer, &e.path_bytes())? else {
                continue;
            };
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            let Some(target) = name.strip_prefix(".wh.") else {
                continue;
            };
            parents_inside(&layer, root, &path)?;
            if target == ".wh..opq" {
                let d = root.join(dir);
                if let Ok(list) = std::fs::read_dir(&d) {
                    for child in list {
                        let child = child.map_err(|x| BuildError::io("listing", &d, x))?;
                        let name = child.file_name();
                        let rel = Path::new(dir).join(&name);
                        remove_path(root, &rel.to_string_lossy())?;
                    }
                }
            } else if target.is_empty() || target.starts_with(".wh.") {
                return Err(refused(&layer, format!("whiteout {path:?} names nothing")));
            } else {
                let rel = if dir.is_empty() {
                    target.to_owned()
                } else {
                    format!("{dir}/{target}")
                };
                remove_path(root, &rel)?;
            }
        }
    }
    // Pass 2: the entries, the uncompressed stream hashed and counted.
    let counted = Counted {
        inner: decompressed(blob, open()?),
        hasher: Hasher::new(),
        budget,
    };
    let mut ar = tar::Archive::new(counted);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_preserve_mtime(true);
    ar.set_unpack_xattrs(true);
    ar.set_overwrite(true);
    {
        let entries = ar.entries().map_err(|e| refused(&layer, format!("not a tar: {e}")))?;
        for e in entries {
            let mut e = e.map_err(|e| refused(&layer, format!("not a tar: {e}")))?;
            let Some(path) = clean(&layer, &e.path_bytes())? else {
                continue;
            };
            let name = path.rsplit('/').next().unwrap_or(&path);
            if name.starts_with(".wh.") {
                continue;
            }
            let kind = e.header().entry_type();
            if !(kind.is_dir() || kind.is_file() || kind.is_symlink() || kind.is_hard_link()) {
                if matches!(kind, tar::EntryType::XGlobalHeader | tar::EntryType::XHeader) {
                    continue;
                }
                return Err(refused(
                    &layer,
                    format!("{path:?} is a {kind:?} entry (only files, directories and links)"),
                ));
            }
            parents_inside(&layer, root, &path)?;
            if kind.is_hard_link() {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| refused(&layer, format!("hard link {path:?} has no target")))?;
                let target = clean(&layer, &target)?
                    .ok_or_else(|| refused(&layer, format!("hard link {path:?} to the root")))?;
                parents_inside(&layer, root, &target)?;
                match std::fs::symlink_metadata(root.join(&target)) {
                    Ok(m) if m.file_type().is_file() => {}
                    _ => {
                        return Err(refused(
                            &layer,
                            format!("hard link {path:?} to {target:?}, which is not a file seen before"),
                        ))
                    }
                }
            }
            let ok = e.unpack_in(root).map_err(|x| {
                // tar's error names the path; the cause is its source.
                let cause = std::error::Error::source(&x)
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default();
                refused(&layer, format!("{path:?}: {x}{cause}"))
            })?;
            if !ok {
                return Err(refused(&layer, format!("{path:?} would land outside the root")));
            }
        }
    }
    let mut counted = ar.into_inner();
    std::io::copy(&mut counted, &mut std::io::sink()).map_err(|e| refused(&layer, e.to_string()))?;
    let (actual, _) = counted.hasher.finish();
    if actual != *diff_id {
        return Err(BuildError::Core(cerro_core::Error::DigestMismatch {
            what: format!("{layer} uncompressed (the config's diff_id)"),
            expected: *diff_id,
            actual,
        }));
    }
    Ok(())
}

/// `dpkg --root` of `debs` (file names in the build directory) into
/// `WORK/target`, a copy of `WORK/base`, in the build's namespace over the
/// cached root; then [`RESTORED`] put back. `policy-rc.d` refuses service
/// starts for the duration.
pub fn install(
    host: &dyn Host,
    root: &Path,
    work: &Path,
    epoch: u64,
    debs: &[String],
    log: &Path,
) -> Result<Vec<String>> {
    let base = work.join("base");
    let target = work.join("target");
    run_ok(host, &Cmd::new("install", "cp", log).arg("-a").arg(&base).arg(&target))?;
    for d in debs {
        if !d.ends_with(".deb") || !d.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+~-".contains(&b)) {
            return Err(BuildError::Output {
                what: d.clone(),
                reason: "not a package file name dpkg-buildpackage writes".into(),
            });
        }
    }
    let sbin = target.join("usr/sbin");
    if std::fs::symlink_metadata(&sbin).is_ok_and(|m| m.is_dir()) {
        let p = sbin.join("policy-rc.d");
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, "#!/bin/sh\nexit 101\n").map_err(|e| BuildError::io("writing", &p, e))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| BuildError::io("writing", &p, e))?;
    }
    crate::debian::in_namespace(host, "install", root, work, Some(epoch), &debs.join(" "), log)?;
    restore(&base, &target)
}

/// Puts back [`RESTORED`] (and debconf's `*.dat-old`) as `base` has them.
/// Returns the paths restored, sorted.
fn restore(base: &Path, target: &Path) -> Result<Vec<String>> {
    let mut paths: BTreeSet<String> = RESTORED.iter().map(|p| (*p).to_owned()).collect();
    for tree in [base, target] {
        if let Ok(list) = std::fs::read_dir(tree.join(DEBCONF_CACHE)) {
            for e in list.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.ends_with(".dat-old") {
                    paths.insert(format!("{DEBCONF_CACHE}/{n}"));
                }
            }
        }
    }
    let mut done = Vec::new();
    for p in &paths {
        let (b, t) = (base.join(p), target.join(p));
        let had = std::fs::symlink_metadata(&b).ok();
        let has = std::fs::symlink_metadata(&t).ok();
        if had.is_none() && has.is_none() {
            continue;
        }
        remove_path(target, p)?;
        if let Some(m) = had {
            if !m.file_type().is_file() {
                return Err(BuildError::Output {
                    what: p.clone(),
                    reason: "the base holds it as something other than a file".into(),
                });
            }
            std::fs::copy(&b, &t).map_err(|e| BuildError::io("restoring", &t, e))?;
            std::fs::set_permissions(&t, m.permissions()).map_err(|e| BuildError::io("restoring", &t, e))?;
            std::os::unix::fs::lchown(&t, Some(m.uid()), Some(m.gid()))
                .map_err(|e| BuildError::io("restoring", &t, e))?;
        }
        done.push(p.clone());
    }
    Ok(done)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    File(u64),
    Symlink(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
}

/// Every path under `root` (relative, not the root itself), not
/// following links. Anything but files, directories and links is refused.
fn walk(root: &Path) -> Result<BTreeMap<String, Meta>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![String::new()];
    while let Some(dir) = todo.pop() {
        let abs = if dir.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&dir)
        };
        let list = std::fs::read_dir(&abs).map_err(|e| BuildError::io("listing", &abs, e))?;
        for e in list {
            let e = e.map_err(|x| BuildError::io("listing", &abs, x))?;
            let name = e.file_name().into_string().map_err(|n| BuildError::Output {
                what: abs.join(n).display().to_string(),
                reason: "a name that is not UTF-8".into(),
            })?;
            let rel = if dir.is_empty() { name } else { format!("{dir}/{name}") };
            let p = root.join(&rel);
            let m = std::fs::symlink_metadata(&p).map_err(|x| BuildError::io("reading", &p, x))?;
            let ft = m.file_type();
            let kind = if ft.is_dir() {
                todo.push(rel.clone());
                Kind::Dir
            } else if ft.is_file() {
                Kind::File(m.len())
            } else if ft.is_symlink() {
                Kind::Symlink(std::fs::read_link(&p).map_err(|x| BuildError::io("reading", &p, x))?)
            } else {
                return Err(BuildError::Output {
                    what: rel,
                    reason: "a device, FIFO or socket: a layer of ct build holds none".into(),
                });
            };
            out.insert(
                rel,
                Meta {
                    kind,
                    mode: m.mode() & 0o7777,
                    uid: u64::from(m.uid()),
                    gid: u64::from(m.gid()),
                },
            );
        }
    }
    Ok(out)
}

/// Whether two files hold the same bytes.
fn same_content(a: &Path, b: &Path) -> Result<bool> {
    let mut fa = BufReader::new(File::open(a).map_err(|e| BuildError::io("reading", a, e))?);
    let mut fb = BufReader::new(File::open(b).map_err(|e| BuildError::io("reading", b, e))?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut fa, &mut ba).map_err(|e| BuildError::io("reading", a, e))?;
        let m = read_full(&mut fb, &mut bb).map_err(|e| BuildError::io("reading", b, e))?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// One entry of the new layer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// The target's entry at this path, as it is there.
    Put(Meta),
    /// `.wh.NAME`: the base's entry removed.
    Whiteout,
}

/// What the layer holds: how many entries of each sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Diff {
    /// Entries written from the target.
    pub entries: usize,
    /// Whiteouts.
    pub whiteouts: usize,
}

/// The difference from `base` to `target` as a layer written to `out`
/// (spec/build.md §10 step 3): a path only in the target, or whose type,
/// mode, owner, group, content or link target differs, with every parent
/// of such a path; a whiteout for each path only in the base whose parent
/// stayed; entries sorted by path, GNU headers, numeric owners, every mtime
/// `epoch`, uncompressed.
pub fn diff_layer(base: &Path, target: &Path, epoch: u64, out: &Path) -> Result<Diff> {
    let b = walk(base)?;
    let t = walk(target)?;
    let mut changes: BTreeMap<String, Change> = BTreeMap::new();
    let mut content = 0u64;
    for (p, m) in &t {
        let changed = match b.get(p) {
            None => true,
            Some(o) if o.mode != m.mode || o.uid != m.uid || o.gid != m.gid => true,
            Some(o) => match (&o.kind, &m.kind) {
                (Kind::Dir, Kind::Dir) => false,
                (Kind::File(x), Kind::File(y)) => x != y || !same_content(&base.join(p), &target.join(p))?,
                (Kind::Symlink(x), Kind::Symlink(y)) => x != y,
                _ => true,
            },
        };
        if changed {
            if let Kind::File(n) = m.kind {
                content = content.saturating_add(n);
                if content > crate::image::MAX_LAYER_CONTENT {
                    return Err(BuildError::Output {
                        what: "the install".into(),
                        reason: format!("changed more than {} bytes of files", crate::image::MAX_LAYER_CONTENT),
                    });
                }
            }
            // A directory that replaced something else: what was below is gone.
            changes.insert(p.clone(), Change::Put(m.clone()));
        }
    }
    for p in b.keys() {
        if t.contains_key(p) && matches!((&b[p].kind, &t[p].kind), (Kind::Dir, Kind::Dir)) {
            continue;
        }
        if t.contains_key(p) {
            // Replaced by another kind: the Put above overwrites it (a
            // directory replaced by a file loses its children, which a
            // runtime's extraction does too).
            continue;
        }
        let (dir, name) = p.rsplit_once('/').unwrap_or(("", p.as_str()));
        if !dir.is_empty() && !t.contains_key(dir) {
            continue; // its removed parent's whiteout covers it
        }
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        changes.insert(wh, Change::Whiteout);
    }
    // Every parent of an entry, as the target has it.
    let keys: Vec<String> = changes.keys().cloned().collect();
    for k in keys {
        let mut cur = k.as_str();
        while let Some((dir, _)) = cur.rsplit_once('/') {
            if !changes.contains_key(dir) {
                let m = t.get(dir).ok_or_else(|| BuildError::Output {
                    what: dir.to_owned(),
                    reason: "a parent of a changed path is not in the installed tree".into(),
                })?;
                changes.insert(dir.to_owned(), Change::Put(m.clone()));
            }
            cur = dir;
        }
    }
    let err = |p: &str, e: std::io::Error| BuildError::Output {
        what: p.to_owned(),
        reason: format!("writing the layer: {e}"),
    };
    let f = File::create(out).map_err(|e| BuildError::io("creating", out, e))?;
    let mut w = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, f));
    let mut diff = Diff::default();
    for (path, c) in &changes {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(epoch);
        match c {
            Change::Whiteout => {
                diff.whiteouts += 1;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_uid(0);
                h.set_gid(0);
                h.set_size(0);
                w.append_data(&mut h, path, std::io::empty())
                    .map_err(|x| err(path, x))?;
            }
            Change::Put(m) => {
                diff.entries += 1;
                h.set_mode(m.mode);
                h.set_uid(m.uid);
                h.set_gid(m.gid);
                match &m.kind {
                    Kind::Dir => {
                        h.set_entry_type(tar::EntryType::Directory);
                        h.set_size(0);
                        w.append_data(&mut h, format!("{path}/"), std::io::empty())
                            .map_err(|x| err(path, x))?;
                    }
                    Kind::File(_) => {
                        let p = target.join(path);
                        let file = File::open(&p).map_err(|e| BuildError::io("reading", &p, e))?;
                        let len = file.metadata().map_err(|e| BuildError::io("reading", &p, e))?.len();
                        h.set_entry_type(tar::EntryType::Regular);
                        h.set_size(len);
                        w.append_data(&mut h, path, file.take(len)).map_err(|x| err(path, x))?;
                    }
                    Kind::Symlink(to) => {
                        h.set_entry_type(tar::EntryType::Symlink);
                        h.set_size(0);
                        w.append_link(&mut h, path, to).map_err(|x| err(path, x))?;
                    }
                }
            }
        }
    }
    let mut inner = w.into_inner().map_err(|e| err("(end)", e))?;
    inner.flush().map_err(|e| BuildError::io("writing", out, e))?;
    Ok(diff)
}

/// The version of `dpkg` installed in `root` (from its dpkg database), the
/// program that did the install: recorded in the provenance.
pub fn dpkg_version(root: &Path) -> Option<String> {
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).ok()?;
    status
        .split("\n\n")
        .find(|s| s.lines().any(|l| l == "Package: dpkg"))?
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .map(str::to_owned)
}

/// The base as a resolved dependency of the provenance: its name, its
/// manifest digest, `role: base` and how many layers it gives the image
/// (the image's first `layers` are the base's: what `ct export --format
/// deb|rpm` leaves out).
pub fn dependency(base: &BaseImage) -> Value {
    json!({
        "name": base.name(),
        "digest": crate::provenance::sha(&base.manifest),
        "mediaType": cerro_core::image::MT_OCI_MANIFEST,
        "annotations": {"role": "base", "layers": base.layers.len()},
    })
}

/// The base a provenance predicate records (`resolvedDependencies`, `role:
/// base`): its name and manifest digest. `Ok(None)` when it records none;
/// an entry that is not well formed is refused.
pub fn recorded(predicate: &Value) -> std::result::Result<Option<(String, Digest)>, String> {
    let deps = predicate
        .pointer("/buildDefinition/resolvedDependencies")
        .and_then(Value::as_array);
    let mut found = None;
    for d in deps.into_iter().flatten() {
        if d.pointer("/annotations/role").and_then(Value::as_str) != Some("base") {
            continue;
        }
        if found.is_some() {
            return Err("two base images".into());
        }
        let name = d.get("name").and_then(Value::as_str).ok_or("a base without a name")?;
        let digest = d
            .pointer("/digest/sha256")
            .and_then(Value::as_str)
            .and_then(Digest::from_hex)
            .ok_or("a base without a sha256 digest")?;
        found = Some((name.to_owned(), digest));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfile(root: &Path, p: &str, data: &[u8], mode: u32) {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn names(layer: &Path) -> Vec<(String, u64)> {
        let bytes = std::fs::read(layer).unwrap();
        tar::Archive::new(bytes.as_slice())
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().display().to_string(), e.header().mtime().unwrap())
            })
            .collect()
    }

    #[test]
    fn the_layer_is_exactly_the_difference() {
        let d = tempfile::tempdir().unwrap();
        let (b, t) = (d.path().join("b"), d.path().join("t"));
        for root in [&b, &t] {
            mkfile(root, "etc/keep", b"same", 0o644);
            mkfile(root, "usr/lib/x/y", b"same", 0o644);
            mkfile(root, "var/lib/dpkg/status", b"old", 0o644);
        }
        mkfile(&b, "etc/gone", b"x", 0o644);
        mkfile(&b, "opt/tree/a", b"x", 0o644);
        std::fs::remove_file(t.join("var/lib/dpkg/status")).unwrap();
        mkfile(&t, "var/lib/dpkg/status", b"new", 0o644);
        mkfile(&t, "usr/bin/hello", b"elf", 0o755);
        std::fs::set_permissions(t.join("etc/keep"), std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::create_dir_all(t.join("opt")).unwrap();
        // A directory whose mtime alone changed is not an entry.
        let out = d.path().join("layer.tar");
        let diff = diff_layer(&b, &t, 42, &out).unwrap();
        let got = names(&out);
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "etc/",
                "etc/.wh.gone",
                "etc/keep",
                "opt/",
                "opt/.wh.tree",
                "usr/",
                "usr/bin/",
                "usr/bin/hello",
                "var/",
                "var/lib/",
                "var/lib/dpkg/",
                "var/lib/dpkg/status"
            ]
        );
        assert!(got.iter().all(|(_, m)| *m == 42));
        assert_eq!(
            diff,
            Diff {
                entries: 10,
                whiteouts: 2
            }
        );
        // The same trees give the same bytes.
        let again = d.path().join("again.tar");
        diff_layer(&b, &t, 42, &again).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    }

    fn layer(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut w = tar::Builder::new(Vec::new());
        for (p, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_size(data.len() as u64);
            match link {
                Some(l) => {
                    h.set_size(0);
                    w.append_link(&mut h, p, l).unwrap();
                }
                None => {
                    // Raw names (the builder's own checks would refuse `..`).
                    let name = p.as_bytes();
                    h.as_old_mut().name[..name.len()].copy_from_slice(name);
                    h.set_cksum();
                    w.append(&h, *data).unwrap();
                }
            }
        }
        w.into_inner().unwrap()
    }

    fn apply(bytes: &[u8], root: &Path) -> Result<()> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        std::fs::write(&p, bytes).unwrap();
        let blob = BlobRef {
            media_type: cerro_core::image::MT_OCI_LAYER_TAR.into(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
        };
        let mut budget = MAX_UNPACKED;
        apply_layer(&p, &blob, &Digest::of(bytes), root, &mut budget)
    }

    #[test]
    fn layers_apply_with_whiteouts_and_hostile_ones_are_refused() {
        use tar::EntryType as E;
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir(&root).unwrap();
        apply(
            &layer(&[
                ("etc/", E::Directory, b"", None),
                ("etc/a", E::Regular, b"a", None),
                ("etc/b", E::Regular, b"b", None),
                ("lib", E::Symlink, b"", Some("/")),
            ]),
            &root,
        )
        .unwrap();
        apply(
            &layer(&[("etc/.wh.a", E::Regular, b"", None), ("etc/c", E::Regular, b"c", None)]),
            &root,
        )
        .unwrap();
        assert!(!root.join("etc/a").exists() && root.join("etc/b").exists() && root.join("etc/c").exists());
        apply(&layer(&[("etc/.wh..wh..opq", E::Regular, b"", None)]), &root).unwrap();
        assert_eq!(std::fs::read_dir(root.join("etc")).unwrap().count(), 0);
        for (bad, needle) in [
            (layer(&[("../x", E::Regular, b"x", None)]), "\"..\""),
            (layer(&[("lib/evil", E::Regular, b"x", None)]), "not a directory"),
            (layer(&[("dev/null", E::Char, b"", None)]), "Char"),
            (layer(&[("x", E::Link, b"", Some("nowhere"))]), "not a file seen before"),
        ] {
            let e = apply(&bad, &root).unwrap_err();
            assert_eq!(e.exit_code(), cerro_core::ExitCode::Malformed, "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
        assert!(!d.path().join("x").exists() && !Path::new("/evil").exists());
        // Bytes that are not the config's diff_id.
        let bytes = layer(&[("f", E::Regular, b"f", None)]);
        let p = d.path().join("l");
        std::fs::write(&p, &bytes).unwrap();
        let blob = BlobRef {
            media_type: cerro_core::image::MT_OCI_LAYER_TAR.into(),
            digest: Digest::of(&bytes),
            size: bytes.len() as u64,
        };
        let mut budget = MAX_UNPACKED;
        let e = apply_layer(&p, &blob, &Digest::of(b"other"), &root, &mut budget).unwrap_err();
        assert_eq!(e.kind(), cerro_core::Kind::DigestMismatch, "{e}");
    }

    #[test]
    fn the_recorded_base_is_read_back() {
        let p = json!({"buildDefinition": {"resolvedDependencies": [
            {"name": "x.dsc", "digest": {"sha256": "ab".repeat(32)}, "annotations": {"role": "recipe"}},
            {"name": "oci:bookworm", "digest": {"sha256": "cd".repeat(32)}, "annotations": {"role": "base", "layers": 1}},
        ]}});
        let (n, d) = recorded(&p).unwrap().unwrap();
        assert_eq!((n.as_str(), d.hex()), ("oci:bookworm", "cd".repeat(32)));
        assert_eq!(recorded(&json!({})).unwrap(), None);
    }
}
