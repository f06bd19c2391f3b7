//! Nix's archive format (NAR) of a store path, written by ct itself: the
//! bytes `nix-store --dump PATH` writes, streamed into SHA-256, so a Nix
//! output is recorded by the digest Nix itself gives it (`nix-store --query
//! --hash`, the `narHash` of `nix path-info`) without trusting Nix to say
//! it. The same walk adds the path to the image's tree as the NAR sees it
//! (spec/build.md §7): a NAR holds no owner, no time and of the mode only
//! "executable", so the layer built from that view depends on the output's
//! contents alone, whatever store or file system it was realised in.
//!
//! The format (Eelco Dolstra's thesis, §5.2.1; Nix's `src/libutil/archive.cc`):
//! every string is its length as a little-endian u64, its bytes, and zeros
//! to a multiple of 8; the archive is `"nix-archive-1"` and the root node; a
//! node is `( type regular [executable ""] contents BYTES )`, `( type
//! symlink target TARGET )` or `( type directory { entry ( name NAME node
//! NODE ) }* )`, the entries in byte order of their names.

use std::io::{Read, Write};
use std::path::Path;

use cerro_core::digest::Digest;
use sha2::{Digest as _, Sha256};

use crate::error::{BuildError, Result};
use crate::image::{Node, Tree};

/// Nix's base-32 alphabet (no e, o, u, t).
const NIX32: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Most bytes of one file read at a time.
const CHUNK: usize = 1 << 20;

/// `digest` in Nix's base-32 (`nix-store --query --hash` prints
/// `sha256:` and this): the bits taken five at a time from the end.
pub fn nix32(digest: &Digest) -> String {
    let bytes = digest.as_bytes();
    let len = (bytes.len() * 8).div_ceil(5);
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let (i, j) = (b / 8, b % 8);
        let lo = u16::from(bytes[i]) >> j;
        let hi = bytes.get(i + 1).map_or(0, |x| u16::from(*x) << (8 - j));
        out.push(char::from(NIX32[usize::from((lo | hi) & 0x1f)]));
    }
    out
}

/// The NAR hash as Nix prints it: `sha256:` and [`nix32`].
pub fn nar_hash_string(digest: &Digest) -> String {
    format!("sha256:{}", nix32(digest))
}

fn put(w: &mut impl Write, s: &[u8]) -> std::io::Result<()> {
    w.write_all(&(s.len() as u64).to_le_bytes())?;
    w.write_all(s)?;
    pad(w, s.len() as u64)
}

fn pad(w: &mut impl Write, len: u64) -> std::io::Result<()> {
    let rest = (8 - len % 8) % 8;
    w.write_all(&[0u8; 8][..rest as usize])
}

/// Writes the NAR of `src` (not followed if a link) to `w` and, when `tree`
/// is given, adds every node to it under layer path `at`: directories 0555,
/// files 0444 or 0555 (executable), links 0777, every mtime `mtime` (what a
/// store path holds after Nix's canonicalisation).
pub fn write(src: &Path, w: &mut impl Write, mut tree: Option<(&mut Tree, &str, u64)>) -> Result<()> {
    let io = |e: std::io::Error| BuildError::io("writing the NAR of", src, e);
    put(w, b"nix-archive-1").map_err(io)?;
    node(src, w, &mut tree)
}

/// The SHA-256 of the NAR of `src` (what `nix-store --dump src | sha256sum`
/// gives), adding it to `tree` as [`write`] does.
pub fn hash(src: &Path, tree: Option<(&mut Tree, &str, u64)>) -> Result<Digest> {
    let mut h = HashWriter(Sha256::new());
    write(src, &mut h, tree)?;
    Ok(Digest::from_bytes(h.0.finalize().into()))
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn utf8<'a>(src: &Path, what: &str, b: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(b).map_err(|_| BuildError::Output {
        what: src.display().to_string(),
        reason: format!("{what} that is not UTF-8 (a layer path must be)"),
    })
}

fn node(src: &Path, w: &mut impl Write, tree: &mut Option<(&mut Tree, &str, u64)>) -> Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::fs::PermissionsExt as _;
    let io = |op: &'static str| move |e: std::io::Error| BuildError::io(op, src, e);
    let meta = std::fs::symlink_metadata(src).map_err(io("reading"))?;
    let ft = meta.file_type();
    put(w, b"(").map_err(io("writing the NAR of"))?;
    put(w, b"type").map_err(io("writing the NAR of"))?;
    if ft.is_file() {
        let exec = meta.permissions().mode() & 0o100 != 0;
        put(w, b"regular").map_err(io("writing the NAR of"))?;
        if exec {
            put(w, b"executable").map_err(io("writing the NAR of"))?;
            put(w, b"").map_err(io("writing the NAR of"))?;
        }
        put(w, b"contents").map_err(io("writing the NAR of"))?;
        // The length first, then the bytes as read, then the padding: the
        // length read must be the length written (a file that changes
        // while it is read is refused, not hashed half-old).
        let len = meta.len();
        w.write_all(&len.to_le_bytes()).map_err(io("writing the NAR of"))?;
        let mut f = std::fs::File::open(src).map_err(io("opening"))?;
        let keep = tree.is_some();
        let mut data = Vec::new();
        let mut buf = vec![0u8; CHUNK.min(usize::try_from(len).unwrap_or(CHUNK)).max(1)];
        let mut got = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(io("reading"))?;
            if n == 0 {
                break;
            }
            got += n as u64;
            if got > len {
                break;
            }
            w.write_all(&buf[..n]).map_err(io("writing the NAR of"))?;
            if keep {
                data.extend_from_slice(&buf[..n]);
            }
        }
        if got != len {
            return Err(BuildError::Output {
                what: src.display().to_string(),
                reason: format!("{got} bytes read where its size was {len}: it changed while being read"),
            });
        }
        pad(w, len).map_err(io("writing the NAR of"))?;
        if let Some((t, at, mtime)) = tree {
            t.insert(at, Node::File(data), if exec { 0o555 } else { 0o444 }, *mtime)?;
        }
    } else if ft.is_symlink() {
        let target = std::fs::read_link(src).map_err(io("reading"))?;
        let bytes = target.as_os_str().as_bytes();
        put(w, b"symlink").map_err(io("writing the NAR of"))?;
        put(w, b"target").map_err(io("writing the NAR of"))?;
        put(w, bytes).map_err(io("writing the NAR of"))?;
        if let Some((t, at, mtime)) = tree {
            let target = utf8(src, "a link target", bytes)?.to_owned();
            t.insert(at, Node::Symlink(target), 0o777, *mtime)?;
        }
    } else if ft.is_dir() {
        put(w, b"directory").map_err(io("writing the NAR of"))?;
        if let Some((t, at, mtime)) = tree {
            t.insert(at, Node::Dir, 0o555, *mtime)?;
        }
        let mut names: Vec<Vec<u8>> = std::fs::read_dir(src)
            .map_err(io("listing"))?
            .map(|e| e.map(|e| e.file_name().as_bytes().to_vec()))
            .collect::<std::io::Result<_>>()
            .map_err(io("listing"))?;
        names.sort();
        for name in names {
            put(w, b"entry").map_err(io("writing the NAR of"))?;
            put(w, b"(").map_err(io("writing the NAR of"))?;
            put(w, b"name").map_err(io("writing the NAR of"))?;
            put(w, &name).map_err(io("writing the NAR of"))?;
            put(w, b"node").map_err(io("writing the NAR of"))?;
            let child = src.join(std::ffi::OsStr::from_bytes(&name));
            match tree {
                Some((t, at, mtime)) => {
                    let sub = format!("{at}/{}", utf8(&child, "a name", &name)?);
                    node(&child, w, &mut Some((&mut **t, sub.as_str(), *mtime)))?;
                }
                None => node(&child, w, &mut None)?,
            }
            put(w, b")").map_err(io("writing the NAR of"))?;
        }
    } else {
        return Err(BuildError::Output {
            what: src.display().to_string(),
            reason: "not a file, directory or symbolic link (a NAR holds nothing else)".into(),
        });
    }
    put(w, b")").map_err(io("writing the NAR of"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(out: &mut Vec<u8>, x: &[u8]) {
        put(out, x).unwrap();
    }

    #[test]
    fn nix32_is_nixs_encoding() {
        // `nix hash to-base32 --type sha256` of the SHA-256 of "" (Nix's own
        // known answer, tests/hash.sh).
        let d = Digest::of(b"");
        assert_eq!(nix32(&d), "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
        assert_eq!(nix32(&d).len(), 52);
    }

    #[test]
    fn a_tree_is_written_as_nix_writes_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("b"), b"hi\n").unwrap();
        std::fs::write(p.join("a"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(p.join("a"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("b", p.join("c")).unwrap();
        let mut want = Vec::new();
        for x in [&b"nix-archive-1"[..], b"(", b"type", b"directory"] {
            s(&mut want, x);
        }
        for x in [&b"entry"[..], b"(", b"name", b"a", b"node", b"(", b"type", b"regular"] {
            s(&mut want, x);
        }
        for x in [&b"executable"[..], b"", b"contents", b"#!/bin/sh\n", b")", b")"] {
            s(&mut want, x);
        }
        for x in [&b"entry"[..], b"(", b"name", b"b", b"node", b"(", b"type", b"regular"] {
            s(&mut want, x);
        }
        for x in [&b"contents"[..], b"hi\n", b")", b")"] {
            s(&mut want, x);
        }
        for x in [&b"entry"[..], b"(", b"name", b"c", b"node", b"(", b"type", b"symlink"] {
            s(&mut want, x);
        }
        for x in [&b"target"[..], b"b", b")", b")", b")"] {
            s(&mut want, x);
        }
        // The padding: "hi\n" is 3 bytes, padded with 5 zeros.
        assert!(want.windows(16).any(|w| w == b"\x03\0\0\0\0\0\0\0hi\n\0\0\0\0\0"));
        let mut got = Vec::new();
        let mut tree = Tree::default();
        write(&p, &mut got, Some((&mut tree, "nix/store/x", 1))).unwrap();
        assert_eq!(got, want);
        assert_eq!(hash(&p, None).unwrap(), Digest::of(&want));
        // The layer holds the NAR's view: modes from "executable" alone.
        let layer = tree.to_tar(1).unwrap();
        let mut seen = Vec::new();
        for e in tar::Archive::new(layer.as_slice()).entries().unwrap() {
            let e = e.unwrap();
            seen.push((e.path().unwrap().display().to_string(), e.header().mode().unwrap()));
        }
        assert_eq!(
            seen,
            [
                ("nix/store/x/".to_owned(), 0o555),
                ("nix/store/x/a".to_owned(), 0o555),
                ("nix/store/x/b".to_owned(), 0o444),
                ("nix/store/x/c".to_owned(), 0o777),
            ]
        );
        // A mode the NAR does not record does not change the layer.
        std::fs::set_permissions(p.join("b"), std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut again = Tree::default();
        assert_eq!(
            hash(&p, Some((&mut again, "nix/store/x", 1))).unwrap(),
            Digest::of(&want)
        );
        assert_eq!(again.to_tar(1).unwrap(), layer);
    }

    #[test]
    fn a_fifo_is_refused_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("f");
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(ok.success());
        let e = hash(d.path(), None).unwrap_err();
        assert!(e.to_string().contains("/f"), "{e}");
        assert_eq!(e.kind(), cerro_core::Kind::Unrepresentable);
    }
}
