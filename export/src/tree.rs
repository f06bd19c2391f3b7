//! The image's root file system, flattened: its layers applied in order,
//! as a runtime applies them, into one sorted tree that the package
//! writers (`deb`, `rpm`, `ostree`) walk.
//!
//! Each layer is read once from the bundle (hashed against its verified
//! digest as it is read), decompressed into an unnamed spool file, and its
//! tar headers indexed in the same pass: the tree holds paths, modes, link
//! targets and where each file's bytes are in its spool, never file data.
//!
//! Applying a layer (the OCI image spec's changeset rules): its whiteouts
//! first, against the layers below (`.wh.NAME` removes `NAME` and what is
//! under it; `.wh..wh..opq` empties its directory), then its entries in
//! tar order. A non-directory replaces a directory with its subtree; a
//! directory over a directory keeps the children. A hard link takes its
//! target's content as it is when the link is applied.
//!
//! Hostile paths: an entry or hard-link target with a `..` component, a
//! NUL, or longer than the limit is refused (exit 10) naming the layer; a
//! leading `/` or `./` is dropped, as tar does. An entry is placed by
//! resolving its parent directories through the tree as it stands,
//! following symbolic links inside the root (an absolute target starts at
//! the root, `..` stops there; at most [`crate::Limits::hops`] links), as
//! a runtime extracting the layer into a root does: so the finished tree has
//! no entry under a symbolic link, and a package made from it writes only
//! under its own root, whatever its links point to. Device nodes, FIFOs and
//! sockets are left out (a package manager does not create them) and
//! reported.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;

use cerro_core::image::BlobRef;
use cerro_core::{Error, Result};

use crate::source::BlobSource;
use crate::Limits;

/// What a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory.
    Dir,
    /// A regular file: its bytes are `size` bytes at `offset` in spool `layer`.
    File { layer: usize, offset: u64, size: u64 },
    /// A symbolic link with this target (as written in the layer).
    Symlink(String),
}

/// One entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// What it is.
    pub(crate) kind: Kind,
    /// Permission bits (`0o7777`).
    pub(crate) mode: u32,
}

/// The flattened root file system: paths relative to the root, without a
/// leading or trailing `/`, sorted bytewise (a directory before what it
/// holds).
#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) nodes: BTreeMap<String, Node>,
    spools: Vec<File>,
    /// Entries no package format can hold, by path.
    pub(crate) left_out: Vec<String>,
}

/// How a layer is compressed, from its media type.
fn decompressor<'a>(blob: &BlobRef, r: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mt = blob.media_type.as_str();
    if mt.ends_with(".tar") {
        Ok(Box::new(r))
    } else if mt.ends_with("+gzip") || mt.ends_with(".tar.gzip") {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            r,
        ))))
    } else if mt.ends_with("+zstd") {
        let d = zstd::stream::read::Decoder::new(r)
            .map_err(|e| Error::malformed(format!("layer {}", blob.digest), format!("zstd: {e}")))?;
        Ok(Box::new(d))
    } else {
        Err(Error::malformed(
            format!("layer {}", blob.digest),
            format!("media type {mt:?} is not a tar, tar+gzip or tar+zstd layer"),
        ))
    }
}

/// Copies everything read into the spool, counting against the byte cap.
struct Tee<'a, R> {
    inner: R,
    spool: &'a mut File,
    total: &'a mut u64,
    cap: u64,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.total += n as u64;
        if *self.total > self.cap {
            return Err(std::io::Error::other(format!(
                "the layers hold more than {} bytes uncompressed",
                self.cap
            )));
        }
        self.spool.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// One entry of a layer, as indexed.
#[derive(Debug)]
enum Change {
    Whiteout(String),
    Opaque(String),
    Add(String, Node),
    HardLink(String, String),
    LeftOut(String),
    /// Not content (AUFS metadata): dropped silently.
    Skip,
}

/// A path as written in a layer, made relative (`/` and `./` dropped),
/// refused if it could climb out of the root.
fn clean(layer: &str, raw: &[u8], limits: &Limits) -> Result<String> {
    let s = std::str::from_utf8(raw)
        .map_err(|_| Error::malformed(layer, format!("path {:?} is not UTF-8", String::from_utf8_lossy(raw))))?;
    if s.len() > limits.path || s.contains('\0') {
        return Err(Error::malformed(
            layer,
            format!("path {s:?} is too long or holds a NUL"),
        ));
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(Error::malformed(
                    layer,
                    format!("path {s:?} climbs out of the root with \"..\""),
                ))
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

impl Tree {
    /// Reads every layer of the verified image and applies it.
    pub(crate) fn read(src: &BlobSource<'_>, scratch: &std::path::Path, limits: &Limits) -> Result<Tree> {
        Self::read_from(src, scratch, limits, 0)
    }

    /// Reads the layers from the `from`th on (the ones a build added on a
    /// base image's) and applies them. Above a base, a whiteout is refused:
    /// it removes a file of the base, which no package can express.
    pub(crate) fn read_from(
        src: &BlobSource<'_>,
        scratch: &std::path::Path,
        limits: &Limits,
        from: usize,
    ) -> Result<Tree> {
        let mut tree = Tree {
            nodes: BTreeMap::new(),
            spools: Vec::new(),
            left_out: Vec::new(),
        };
        let mut total = 0u64;
        let mut entries = 0usize;
        let layers = src.verified().parts.layers.clone();
        for blob in layers.iter().skip(from) {
            let what = format!("layer {}", blob.digest);
            let mut spool =
                tempfile::tempfile_in(scratch).map_err(|e| Error::io("creating a spool file in", scratch, e))?;
            let mut reader = src.blob(&blob.digest)?;
            let changes = {
                let tee = Tee {
                    inner: decompressor(blob, &mut reader)?,
                    spool: &mut spool,
                    total: &mut total,
                    cap: limits.bytes,
                };
                let mut ar = tar::Archive::new(tee);
                let mut changes = Vec::new();
                let iter = ar
                    .entries()
                    .map_err(|e| Error::malformed(&what, format!("not a tar: {e}")))?;
                for entry in iter {
                    let entry = entry.map_err(|e| Error::malformed(&what, format!("corrupt tar: {e}")))?;
                    entries += 1;
                    if entries > limits.entries {
                        return Err(Error::malformed(
                            &what,
                            format!("the layers hold more than {} entries", limits.entries),
                        ));
                    }
                    let change = index_entry(&what, &entry, tree.spools.len(), limits)?;
                    if let (true, Change::Whiteout(p) | Change::Opaque(p)) = (from > 0, &change) {
                        return Err(Error::malformed(
                            &what,
                            format!("removes {p:?} from the base image: a package cannot remove files"),
                        ));
                    }
                    changes.push(change);
                }
                // The rest of the stream (end-of-archive blocks, anything
                // after): read, so the blob is hashed to its end.
                std::io::copy(&mut ar.into_inner(), &mut std::io::sink())
                    .map_err(|e| Error::malformed(&what, format!("decompressing: {e}")))?;
                changes
            };
            reader.finish()?;
            tree.spools.push(spool);
            tree.apply(&what, changes, limits)?;
        }
        Ok(tree)
    }

    /// Applies one layer's changes: whiteouts against the layers below,
    /// then its entries in order.
    fn apply(&mut self, what: &str, changes: Vec<Change>, limits: &Limits) -> Result<()> {
        for c in &changes {
            match c {
                Change::Whiteout(p) => {
                    let (dir, name) = split(p);
                    if let Some(dir) = self.resolve(what, dir, limits, false)? {
                        self.remove(&join(&dir, name));
                    }
                }
                Change::Opaque(d) => {
                    if let Some(dir) = self.resolve(what, d, limits, false)? {
                        self.remove_children(&dir);
                    }
                }
                _ => {}
            }
        }
        for c in changes {
            match c {
                Change::Whiteout(_) | Change::Opaque(_) | Change::Skip => {}
                Change::LeftOut(p) => self.left_out.push(p),
                Change::Add(p, node) => {
                    if p.is_empty() {
                        // The root itself: nothing to place.
                        continue;
                    }
                    let (dir, name) = split(&p);
                    let dir = self
                        .resolve(what, dir, limits, true)?
                        .ok_or_else(|| Error::malformed(what, format!("cannot place {p:?}")))?;
                    self.place(join(&dir, name), node);
                }
                Change::HardLink(p, target) => {
                    let (tdir, tname) = split(&target);
                    let source = self
                        .resolve(what, tdir, limits, false)?
                        .map(|d| join(&d, tname))
                        .and_then(|t| self.nodes.get(&t).cloned());
                    let node = match source {
                        Some(
                            n @ Node {
                                kind: Kind::File { .. },
                                ..
                            },
                        ) => n,
                        _ => {
                            return Err(Error::malformed(
                                what,
                                format!("hard link {p:?} to {target:?}, which is not a regular file in the image"),
                            ))
                        }
                    };
                    let (dir, name) = split(&p);
                    let dir = self
                        .resolve(what, dir, limits, true)?
                        .ok_or_else(|| Error::malformed(what, format!("cannot place {p:?}")))?;
                    self.place(join(&dir, name), node);
                }
            }
        }
        Ok(())
    }

    fn place(&mut self, path: String, node: Node) {
        let keep_children = node.kind == Kind::Dir && self.nodes.get(&path).is_some_and(|n| n.kind == Kind::Dir);
        if !keep_children {
            self.remove(&path);
        }
        self.nodes.insert(path, node);
    }

    /// Removes `path` and everything under it.
    fn remove(&mut self, path: &str) {
        self.nodes.remove(path);
        self.remove_children(path);
    }

    /// Removes everything under `dir` (not `dir`; the root when empty).
    fn remove_children(&mut self, dir: &str) {
        if dir.is_empty() {
            self.nodes.clear();
            return;
        }
        // Bytewise, "dir/" .. "dir0" holds exactly the paths under dir.
        let lo = format!("{dir}/");
        let hi = format!("{dir}0");
        let doomed: Vec<String> = self.nodes.range(lo..hi).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// The directory `dir` names, its symbolic links followed inside the
    /// root. With `create`, missing directories are made (0755, as a
    /// runtime extracting a layer makes them); without, a missing one gives
    /// `None`. A path through a regular file is refused.
    fn resolve(&mut self, what: &str, dir: &str, limits: &Limits, create: bool) -> Result<Option<String>> {
        let mut todo: VecDeque<String> = dir.split('/').filter(|c| !c.is_empty()).map(str::to_owned).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0usize;
        while let Some(c) = todo.pop_front() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            let mut next = cur.clone();
            next.push(c);
            let key = next.join("/");
            match self.nodes.get(&key).map(|n| n.kind.clone()) {
                Some(Kind::Dir) => cur = next,
                Some(Kind::Symlink(target)) => {
                    hops += 1;
                    if hops > limits.hops {
                        return Err(Error::malformed(
                            what,
                            format!("more than {} symbolic links resolving {dir:?}", limits.hops),
                        ));
                    }
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    for t in target.split('/').rev().filter(|c| !c.is_empty()) {
                        todo.push_front(t.to_owned());
                    }
                }
                Some(Kind::File { .. }) => {
                    return Err(Error::malformed(
                        what,
                        format!("{dir:?} passes through the regular file {key:?}"),
                    ))
                }
                None if create => {
                    self.nodes.insert(
                        key,
                        Node {
                            kind: Kind::Dir,
                            mode: 0o755,
                        },
                    );
                    cur = next;
                }
                None => return Ok(None),
            }
        }
        Ok(Some(cur.join("/")))
    }

    /// Keeps only the paths the dpkg file lists in the tree name
    /// (`var/lib/dpkg/info/*.list`, one absolute path a line): the files of
    /// the packages installed, without dpkg's own records of the install
    /// (`status`, the lists themselves) or what maintainer scripts changed.
    /// Refused when the tree holds no list: nothing says which files are
    /// the packages'.
    pub(crate) fn keep_dpkg_listed(&mut self) -> Result<()> {
        const INFO: &str = "var/lib/dpkg/info/";
        let lists: Vec<Kind> = self
            .nodes
            .iter()
            .filter(|(p, n)| {
                p.strip_prefix(INFO)
                    .is_some_and(|n| n.ends_with(".list") && !n.contains('/'))
                    && matches!(n.kind, Kind::File { .. })
            })
            .map(|(_, n)| n.kind.clone())
            .collect();
        if lists.is_empty() {
            return Err(Error::malformed(
                "image",
                "the layers above the base hold no dpkg file list (var/lib/dpkg/info/*.list): \
                 nothing says which of their files are the packages'",
            ));
        }
        let mut keep = std::collections::BTreeSet::new();
        for k in &lists {
            if let Kind::File { size, .. } = k {
                if *size > 64 << 20 {
                    return Err(Error::malformed("image", "a dpkg file list larger than 64 MiB"));
                }
            }
            let mut text = String::new();
            self.content(k)?
                .read_to_string(&mut text)
                .map_err(|e| Error::malformed("a dpkg file list", e.to_string()))?;
            for line in text.lines() {
                let p = line.trim_start_matches('/');
                if !p.is_empty() && p != "." {
                    keep.insert(p.to_owned());
                }
            }
        }
        self.nodes.retain(|p, _| keep.contains(p));
        Ok(())
    }

    /// The bytes of a regular file.
    pub(crate) fn content(&self, kind: &Kind) -> Result<Content<'_>> {
        match kind {
            Kind::File { layer, offset, size } => Ok(Content {
                file: self
                    .spools
                    .get(*layer)
                    .ok_or_else(|| Error::malformed("tree", "no such spool"))?,
                pos: *offset,
                end: offset + size,
            }),
            _ => Err(Error::malformed("tree", "not a regular file")),
        }
    }

    /// Regular files sharing one content (hard links in the image), each
    /// after the first: path → the first path, in walking order.
    pub(crate) fn hard_links(&self) -> BTreeMap<&str, &str> {
        let mut first: BTreeMap<(usize, u64), &str> = BTreeMap::new();
        let mut links = BTreeMap::new();
        for (p, n) in &self.nodes {
            if let Kind::File { layer, offset, .. } = n.kind {
                match first.get(&(layer, offset)) {
                    Some(f) => {
                        links.insert(p.as_str(), *f);
                    }
                    None => {
                        first.insert((layer, offset), p.as_str());
                    }
                }
            }
        }
        links
    }
}

/// Indexes one tar entry of layer `layer`.
fn index_entry<R: Read>(what: &str, entry: &tar::Entry<'_, R>, layer: usize, limits: &Limits) -> Result<Change> {
    let path = clean(what, &entry.path_bytes(), limits)?;
    let (dir, name) = split(&path);
    if name == ".wh..wh..opq" {
        return Ok(Change::Opaque(dir.to_owned()));
    }
    if name.starts_with(".wh..wh.") {
        // Other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not content.
        return Ok(Change::Skip);
    }
    if let Some(target) = name.strip_prefix(".wh.") {
        return Ok(Change::Whiteout(join(dir, target)));
    }
    let h = entry.header();
    let mode = h.mode().map_err(|e| Error::malformed(what, format!("{path:?}: {e}")))? & 0o7777;
    let ty = h.entry_type();
    let link = || -> Result<String> {
        let raw = entry
            .link_name_bytes()
            .ok_or_else(|| Error::malformed(what, format!("link {path:?} without a target")))?;
        if raw.len() > limits.path || raw.contains(&0) {
            return Err(Error::malformed(
                what,
                format!("link {path:?}: target too long or holds a NUL"),
            ));
        }
        String::from_utf8(raw.into_owned())
            .map_err(|_| Error::malformed(what, format!("link {path:?}: target is not UTF-8")))
    };
    Ok(match ty {
        tar::EntryType::Directory => Change::Add(path, Node { kind: Kind::Dir, mode }),
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let size = entry.size();
            Change::Add(
                path,
                Node {
                    kind: Kind::File {
                        layer,
                        offset: entry.raw_file_position(),
                        size,
                    },
                    mode,
                },
            )
        }
        tar::EntryType::Symlink => {
            let target = link()?;
            if target.is_empty() {
                return Err(Error::malformed(
                    what,
                    format!("symbolic link {path:?} has an empty target"),
                ));
            }
            Change::Add(
                path,
                Node {
                    kind: Kind::Symlink(target),
                    mode: 0o777,
                },
            )
        }
        tar::EntryType::Link => {
            let target = clean(what, link()?.as_bytes(), limits)?;
            Change::HardLink(path, target)
        }
        _ => Change::LeftOut(path),
    })
}

/// A regular file's bytes in its spool.
#[derive(Debug)]
pub(crate) struct Content<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Content<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.end {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.end - self.pos).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "spool file cut short",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}
