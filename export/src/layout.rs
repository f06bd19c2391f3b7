//! Where the image's tree lands in a package (`--prefix`), and the one
//! writer of it as a tar (a .deb's data.tar, the input of `ostree commit
//! --tree=tar=`): entries sorted, `./` first, directories before what they
//! hold, owner root (0:0), every mtime the export time, hard links of the
//! image kept as hard links.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use cerro_core::{Error, Result};
use md5::Digest as _;

use crate::tree::{Kind, Tree};

/// A validated install prefix: absolute, no `.`/`..`/empty component;
/// stored without its leading and trailing `/` (empty for `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefix(String);

impl Prefix {
    /// Parses `--prefix` (default `/`).
    pub(crate) fn parse(p: Option<&str>) -> Result<Prefix> {
        let p = p.unwrap_or("/");
        let bad = |why: &str| Error::invalid_config("--prefix", format!("{p:?}: {why}"));
        let rest = p.strip_prefix('/').ok_or_else(|| bad("not an absolute path"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(Prefix(String::new()));
        }
        if rest.split('/').any(|c| c.is_empty() || c == "." || c == "..")
            || rest.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(bad("empty, \".\" or \"..\" component, or a space or control character"));
        }
        Ok(Prefix(rest.to_owned()))
    }

    /// The install path of tree path `p` (no leading `/`).
    pub(crate) fn place(&self, p: &str) -> String {
        if self.0.is_empty() {
            p.to_owned()
        } else {
            format!("{}/{p}", self.0)
        }
    }

    /// The directories the prefix itself consists of (`opt`, `opt/x`).
    pub(crate) fn dirs(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for c in self.0.split('/').filter(|c| !c.is_empty()) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(c);
            out.push(cur.clone());
        }
        out
    }

    /// A symbolic link's target once relocated: an absolute target points
    /// into the prefix; a relative one is kept.
    pub(crate) fn link(&self, target: &str) -> String {
        match target.strip_prefix('/') {
            Some(rest) if !self.0.is_empty() => format!("/{}/{rest}", self.0),
            _ => target.to_owned(),
        }
    }

    /// The prefix as an absolute path.
    pub(crate) fn display(&self) -> String {
        format!("/{}", self.0)
    }
}

/// What writing the tree measured.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// `(install path, MD5 hex)` of every regular file, sorted by path.
    pub(crate) md5sums: Vec<(String, String)>,
    /// Sum of regular file sizes, each rounded up to KiB, plus one KiB per
    /// other entry (dpkg's Installed-Size).
    pub(crate) installed_kib: u64,
}

/// Extra files a format adds under the root (`/usr/share/doc/PKG/…`): install
/// path (no leading `/`) and bytes; merged into the walk in order.
pub(crate) type Extra = Vec<(String, Vec<u8>)>;

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username("root")
        .map_err(|e| Error::malformed("tar", e.to_string()))?;
    h.set_groupname("root")
        .map_err(|e| Error::malformed("tar", e.to_string()))?;
    h.set_size(size);
    h.set_mtime(mtime);
    Ok(h)
}

/// Hashes what passes through with MD5.
struct Md5Read<'a, R> {
    inner: R,
    md5: &'a mut md5::Md5,
}

impl<R: Read> Read for Md5Read<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        Ok(n)
    }
}

/// One entry of a package's file list.
pub(crate) enum Item<'a> {
    /// A directory the prefix or an extra file needs.
    Dir(u32),
    /// An entry of the image's tree (its tree path, its node).
    Node(&'a str, &'a crate::tree::Node),
    /// A file the format adds.
    Extra(&'a [u8]),
}

/// Every entry of a package, by install path (no leading `/`), sorted: the
/// prefix's directories, the tree under the prefix, the extra files (which
/// win over an image file of the same path) and their parent directories.
pub(crate) fn items<'a>(tree: &'a Tree, prefix: &Prefix, extra: &'a Extra) -> Result<BTreeMap<String, Item<'a>>> {
    let mut items: BTreeMap<String, Item<'a>> = BTreeMap::new();
    for d in prefix.dirs() {
        items.insert(d, Item::Dir(0o755));
    }
    for (p, n) in &tree.nodes {
        items.insert(prefix.place(p), Item::Node(p, n));
    }
    for (p, bytes) in extra {
        let mut cur = String::new();
        for c in p
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, d)| d)
            .unwrap_or(&[])
        {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(c);
            match items.entry(cur.clone()).or_insert(Item::Dir(0o755)) {
                Item::Dir(_) | Item::Node(_, crate::tree::Node { kind: Kind::Dir, .. }) => {}
                _ => {
                    return Err(Error::malformed(
                        "image",
                        format!("/{cur} is not a directory: cannot add /{p}"),
                    ))
                }
            }
        }
        if let Some(Item::Node(_, n)) = items.get(p.as_str()) {
            if n.kind == Kind::Dir {
                return Err(Error::malformed(
                    "image",
                    format!("/{p} is a directory: cannot add it as a file"),
                ));
            }
        }
        items.insert(p.clone(), Item::Extra(bytes));
    }
    Ok(items)
}

/// Writes `tree` under `prefix`, with `extra` files and the directories
/// they need, as a tar into `out`.
pub(crate) fn write_tar<W: Write>(
    tree: &Tree,
    prefix: &Prefix,
    extra: &Extra,
    mtime: u64,
    out: W,
    what: &str,
) -> Result<(W, Written)> {
    let io = |e: std::io::Error| Error::io("writing", what.to_owned(), e);
    let mut tar = tar::Builder::new(out);
    let mut written = Written::default();
    let items = items(tree, prefix, extra)?;
    let links = tree.hard_links();
    let mut root = header(tar::EntryType::Directory, 0o755, 0, mtime)?;
    tar.append_data(&mut root, "./", &[][..]).map_err(io)?;
    for (path, item) in &items {
        match item {
            Item::Dir(mode) => {
                let mut h = header(tar::EntryType::Directory, *mode, 0, mtime)?;
                tar.append_data(&mut h, format!("./{path}/"), &[][..]).map_err(io)?;
                written.installed_kib += 1;
            }
            Item::Extra(bytes) => {
                let mut h = header(tar::EntryType::Regular, 0o644, bytes.len() as u64, mtime)?;
                tar.append_data(&mut h, format!("./{path}"), *bytes).map_err(io)?;
                written.md5sums.push((path.clone(), hex(&md5::Md5::digest(bytes))));
                written.installed_kib += (bytes.len() as u64).div_ceil(1024);
            }
            Item::Node(tree_path, node) => match &node.kind {
                Kind::Dir => {
                    let mut h = header(tar::EntryType::Directory, node.mode, 0, mtime)?;
                    tar.append_data(&mut h, format!("./{path}/"), &[][..]).map_err(io)?;
                    written.installed_kib += 1;
                }
                Kind::Symlink(target) => {
                    let mut h = header(tar::EntryType::Symlink, 0o777, 0, mtime)?;
                    tar.append_link(&mut h, format!("./{path}"), prefix.link(target))
                        .map_err(io)?;
                    written.installed_kib += 1;
                }
                Kind::File { size, .. } => {
                    let mut md5 = md5::Md5::new();
                    if let Some(first) = links.get(tree_path) {
                        let mut h = header(tar::EntryType::Link, node.mode, 0, mtime)?;
                        tar.append_link(&mut h, format!("./{path}"), prefix.place(first))
                            .map_err(io)?;
                        // Same content as its first name: hash it again
                        // from the spool (md5sums lists every name).
                        let mut c = tree.content(&node.kind)?;
                        std::io::copy(
                            &mut Md5Read {
                                inner: &mut c,
                                md5: &mut md5,
                            },
                            &mut std::io::sink(),
                        )
                        .map_err(io)?;
                    } else {
                        let mut h = header(tar::EntryType::Regular, node.mode, *size, mtime)?;
                        let c = tree.content(&node.kind)?;
                        tar.append_data(
                            &mut h,
                            format!("./{path}"),
                            Md5Read {
                                inner: c,
                                md5: &mut md5,
                            },
                        )
                        .map_err(io)?;
                        written.installed_kib += size.div_ceil(1024);
                    }
                    written.md5sums.push((path.clone(), hex(&md5.finalize())));
                }
            },
        }
    }
    let out = tar.into_inner().map_err(io)?;
    Ok((out, written))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
