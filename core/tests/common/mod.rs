//! What the bundle tests (`bundle.rs`) and the stored attacks
//! (`attacks.rs`) share: deterministic noise, test keys, and tar surgery
//! (reading a bundle's members, writing a tar byte by byte).

// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::io::Read;

use ed25519_dalek::SigningKey;

/// The mtime packed into every member of the fixtures (and written by
/// [`RawTar::header`]).
pub const MTIME: u64 = 1_700_000_000;

/// Deterministic pseudo-random bytes (xorshift64*): incompressible content
/// without a `rand` dependency, identical on every run so packs can be
/// compared byte for byte.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        out.extend_from_slice(&s.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The test key of `seed`.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A member of a bundle as the `tar` crate sees it.
pub struct TarMember {
    pub path: String,
    /// Offset of the member's data in the bundle.
    pub data_pos: usize,
    pub data: Vec<u8>,
}

/// Every member of the tar `bytes`, in order.
pub fn tar_members(bytes: &[u8]) -> Vec<TarMember> {
    let mut ar = tar::Archive::new(bytes);
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            TarMember {
                path: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                data_pos: usize::try_from(e.raw_file_position()).unwrap(),
                data,
            }
        })
        .collect()
}

/// Writes a tar byte by byte, so headers can say what `tar::Builder` refuses
/// to write: unsafe paths, links, sizes larger than the data that follows.
/// Regular members come out exactly as the bundle writer writes them.
pub struct RawTar(pub Vec<u8>);

impl RawTar {
    pub fn new() -> Self {
        RawTar(Vec::new())
    }

    /// A GNU header for `path` (copied raw, unchecked) claiming `size` bytes.
    pub fn header(&mut self, path: &str, size: u64, kind: tar::EntryType, link: &str) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_entry_type(kind);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self
    }

    /// Member data and the zero padding to the next 512-byte block.
    pub fn data(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self.0.resize(self.0.len().next_multiple_of(512), 0);
        self
    }

    /// A regular file member.
    pub fn file(&mut self, path: &str, bytes: &[u8]) -> &mut Self {
        self.header(path, bytes.len() as u64, tar::EntryType::Regular, "")
            .data(bytes)
    }

    /// These members, in order.
    pub fn members(&mut self, members: &[TarMember]) -> &mut Self {
        for m in members {
            self.file(&m.path, &m.data);
        }
        self
    }

    /// Every member of the tar `bundle`, in order.
    pub fn members_of(&mut self, bundle: &[u8]) -> &mut Self {
        self.members(&tar_members(bundle))
    }

    /// The end-of-archive marker (two zero blocks), then the bytes.
    pub fn finish(&mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0u8; 1024]);
        std::mem::take(&mut self.0)
    }

    /// The bytes as they are, without an end-of-archive marker.
    pub fn unfinished(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// One PAX record, `"<len> <key>=<value>\n"`, where `<len>` counts itself.
pub fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len = format!("{len}{body}").len();
    }
    format!("{len}{body}").into_bytes()
}
