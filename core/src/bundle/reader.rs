//! Reading a bundle in one streaming pass.
//!
//! Small members (manifest, envelopes, index, image manifest) are read into
//! memory under fixed size bounds checked *before* allocation; every other
//! blob is streamed in chunks to the hash pool and, for `unpack`, to a sink.
//! Nothing is trusted until it is hashed: a blob member's name is its
//! claimed digest, and the returned [`Bundle`] exists only if every claim held.

use std::cell::Cell;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use serde::Serialize;

use super::{classify, member_header, MemberKind, MAX_INDEX_SIZE, RELEASE_ATTESTATION};
use crate::digest::Digest;
use crate::dsse::{Envelope, MAX_ENVELOPE_SIZE};
use crate::error::{Error, Result};
use crate::hashpool::{HashPool, Sink, CHUNK};
use crate::image::{
    bundle_index, parse_config, parse_index, parse_manifest, parse_platform_index, BlobRef, ImageConfig, ImageParts,
    Platform, MAX_JSON_BLOB, MT_OCI_INDEX, OCI_LAYOUT_FILE,
};
use crate::manifest::{PackageManifest, MAX_MANIFEST_SIZE};
use crate::tlog::proof::MAX_PROOF_BYTES;
use crate::tlog::TlogProof;

/// One member as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Path in the tar.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of its content.
    pub digest: Digest,
}

/// A parsed attestation envelope.
#[derive(Debug, Clone)]
pub struct Attestation {
    /// Member path.
    pub path: String,
    /// The envelope.
    pub envelope: Envelope,
}

/// A transparency-log proof member (`transparency/<hex>.tlog-proof`),
/// parsed; its path is the one [`super::tlog_proof_path`] gives its
/// checkpoint's origin. Not verified: see [`crate::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogProof {
    /// Member path.
    pub path: String,
    /// The proof (`to_bytes` gives back the member's bytes).
    pub proof: TlogProof,
}

/// A bundle whose structure and content digests are consistent. Nothing
/// about its signatures or signers has been checked: see [`crate::verify`].
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The package manifest.
    pub manifest: PackageManifest,
    /// Every member, in tar order.
    pub members: Vec<Member>,
    /// Attestation envelopes, sorted by path.
    pub attestations: Vec<Attestation>,
    /// SELinux policy modules (`selinux/<name>.cil`, bound by the release
    /// statement like `manifest.toml`), sorted by path: (path, CIL text).
    pub selinux: Vec<(String, Vec<u8>)>,
    /// Transparency-log proofs, one per log, sorted by path. Not bound by
    /// the release statement: they prove that the release envelope is in a
    /// log, and are verified, not signed.
    pub transparency: Vec<LogProof>,
    /// Rebuild attestations (`rebuilds/<key id>.dsse.json`), one per key,
    /// of a multi-platform bundle one per key and platform
    /// (`rebuilds/<key id>-<os>-<arch>[-<variant>].dsse.json`), sorted by
    /// path. Not bound by the release statement: each is trusted only
    /// through its own signature and binds itself to this release
    /// (`crate::rebuild`); parsed, not verified.
    pub rebuilds: Vec<crate::rebuild::Rebuild>,
    /// Descriptor of the image manifest.
    pub image: BlobRef,
    /// `org.opencontainers.image.ref.name` of the image, if any.
    pub reference: Option<String>,
    /// Config and layers.
    pub parts: ImageParts,
    /// The image config, parsed strictly (its `rootfs.diff_ids` are checked
    /// against the signed ones by [`crate::verify`]).
    pub config: ImageConfig,
    /// A multi-platform bundle (`image` is then an image index): every
    /// platform the index names, in index order, each with its manifest,
    /// config and layers all read and hashed (`parts` and `config` above
    /// are then the first platform's). Empty for a single image.
    pub platforms: Vec<PlatformImage>,
    /// The mtime shared by every member.
    pub mtime: u64,
}

impl Bundle {
    /// The member at `path`.
    pub fn member(&self, path: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.path == path)
    }

    /// The release attestation, if present.
    pub fn release(&self) -> Option<&Attestation> {
        self.attestations.iter().find(|a| a.path == RELEASE_ATTESTATION)
    }

    /// Where each blob's data starts in the bundle file, with its digest:
    /// the canonical layout fixes every offset from the members' sizes
    /// (a header of 512 bytes, then the data padded to 512). What
    /// [`read_bundle_file_vouched`] takes.
    pub fn blob_offsets(&self) -> Vec<(u64, Digest)> {
        let mut at = 0u64;
        let mut out = Vec::new();
        for m in &self.members {
            let data = at + 512;
            if m.path.starts_with(super::BLOB_PREFIX) {
                out.push((data, m.digest));
            }
            at = data + m.size.div_ceil(512) * 512;
        }
        out
    }
}

/// One platform image of a multi-platform bundle.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// Its image manifest descriptor, as the index lists it.
    pub manifest: BlobRef,
    /// The platform the index names (its config says the same).
    pub platform: Platform,
    /// Its config and layers.
    pub parts: ImageParts,
    /// Its config, parsed strictly.
    pub config: ImageConfig,
}

impl AsRef<Platform> for PlatformImage {
    fn as_ref(&self) -> &Platform {
        &self.platform
    }
}

/// Receives the image layout while the bundle is read (for `ct unpack`).
pub trait Extract {
    /// `oci-layout` or `index.json`, with their bytes.
    fn layout_file(&mut self, name: &str, bytes: &[u8]) -> Result<()>;
    /// Where to copy a blob's bytes; `None` to only hash it.
    fn blob(&mut self, digest: &Digest) -> Result<Option<Sink>>;
}

/// Extracts nothing.
#[derive(Debug, Default)]
pub struct NoExtract;

impl Extract for NoExtract {
    fn layout_file(&mut self, _: &str, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn blob(&mut self, _: &Digest) -> Result<Option<Sink>> {
        Ok(None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Start,
    Manifest,
    Attestations,
    Selinux,
    Transparency,
    Rebuilds,
    Layout,
    Index,
    Blobs,
}

fn truncated(path: &str, e: std::io::Error) -> Error {
    Error::malformed(path, format!("cannot read member data (truncated bundle?): {e}"))
}

/// Memory reserved for a member's data before any of it has arrived.
const FIRST_RESERVE: u64 = 64 << 10;

/// Reads a member of `size` bytes (its header's claim, at most `limit`)
/// whole, through [`read_claimed`].
fn read_small(entry: &mut impl Read, path: &str, size: u64, limit: u64) -> Result<Vec<u8>> {
    if size > limit {
        return Err(Error::malformed(
            path,
            format!("member claims {size} bytes, more than the {limit} allowed"),
        ));
    }
    let buf = read_claimed(entry, size).map_err(|e| truncated(path, e))?;
    if buf.len() as u64 != size {
        return Err(Error::malformed(path, "truncated member"));
    }
    Ok(buf)
}

/// Up to `size` bytes of `r` (fewer if it ends first). The claimed size is
/// not trusted with memory: the buffer grows with the data actually read,
/// doubling from [`FIRST_RESERVE`] and never past `size`, so a header
/// claiming 32 MiB over 4 KiB of data reserves 64 KiB, not 32 MiB (and a
/// true 32 MiB member gets exactly 32 MiB, not the 64 MiB `read_to_end`'s
/// doubling could reach).
fn read_claimed(r: &mut impl Read, size: u64) -> std::io::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    let mut data = r.take(size);
    while (buf.len() as u64) < size {
        let start = buf.len();
        let room = usize::try_from((size - start as u64).min((start as u64).max(FIRST_RESERVE)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "member too large"))?;
        buf.reserve_exact(room);
        buf.resize(start + room, 0);
        let mut filled = 0;
        while filled < room {
            match data.read(&mut buf[start + filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(start + filled);
        if filled < room {
            break;
        }
    }
    Ok(buf)
}

/// Reads a manifest or config blob whole (at most [`MAX_JSON_BLOB`]),
/// checks it is `digest` and hands it to `extract`: both are parsed, so
/// they are held in memory rather than streamed through the hash pool.
fn read_json_blob(
    entry: &mut impl Read,
    path: &str,
    size: u64,
    digest: Digest,
    extract: &mut dyn Extract,
) -> Result<Vec<u8>> {
    let bytes = read_small(entry, path, size, MAX_JSON_BLOB)?;
    let actual = Digest::of(&bytes);
    if actual != digest {
        return Err(Error::DigestMismatch {
            what: path.to_owned(),
            expected: digest,
            actual,
        });
    }
    if let Some(mut sink) = extract.blob(&digest)? {
        sink.write_all(&bytes)
            .map_err(|e| Error::io("extracting", path.to_owned(), e))?;
        sink.flush().map_err(|e| Error::io("extracting", path.to_owned(), e))?;
    }
    Ok(bytes)
}

/// Passes bytes through to the tar reader, checking that those in the
/// current padding region (after the last member's data, up to the next
/// 512-byte boundary) are zero. The tar crate skips padding unseen.
struct PaddingWatch<'a> {
    inner: &'a mut dyn Read,
    pos: u64,
    region: &'a Cell<(u64, u64)>,
    dirty: &'a Cell<Option<u64>>,
}

impl Read for PaddingWatch<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let (start, end) = self.region.get();
        let (lo, hi) = (self.pos.max(start), (self.pos + n as u64).min(end));
        if lo < hi {
            let slice = &buf[(lo - self.pos) as usize..(hi - self.pos) as usize];
            if let Some(i) = slice.iter().position(|b| *b != 0) {
                if self.dirty.get().is_none() {
                    self.dirty.set(Some(lo + i as u64));
                }
            }
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Reads and checks a bundle from `input`, handing the layout to `extract`.
///
/// Returns only if: every member is a regular file with a safe, expected
/// path, in the canonical order, at most once; `oci-layout` and `index.json`
/// are canonical; every blob hashes to its name and has its descriptor's
/// size; the layout holds exactly the blobs of its one image; the manifest
/// and envelopes parse.
pub fn read_bundle(input: &mut dyn Read, extract: &mut dyn Extract) -> Result<Bundle> {
    let padding = Cell::new((0u64, 0u64));
    let dirty = Cell::new(None);
    let mut ar = tar::Archive::new(PaddingWatch {
        inner: input,
        pos: 0,
        region: &padding,
        dirty: &dirty,
    });
    let entries = ar
        .entries()
        .map_err(|e| Error::malformed("bundle", format!("not a tar archive: {e}")))?
        .raw(true);
    let bundle = read_entries(
        entries,
        extract,
        &Mode::Stream {
            padding: &padding,
            dirty: &dirty,
        },
    )?;
    if let Some(at) = dirty.get() {
        return Err(Error::malformed(
            "bundle",
            format!("non-zero tar padding at offset {at}"),
        ));
    }
    check_end_marker(ar.into_inner().inner)?;
    Ok(bundle)
}

/// [`read_bundle`] for a bundle in a file: the same checks, but large blobs
/// are hashed by the pool's workers with positioned reads while this thread
/// moves on to the next header, so several layers are hashed at once. Each
/// byte is still read once.
pub fn read_bundle_file(file: &File, extract: &mut dyn Extract) -> Result<Bundle> {
    let shared = Arc::new(
        file.try_clone()
            .map_err(|e| Error::io("duplicating handle of", "bundle", e))?,
    );
    let mut ar = tar::Archive::new(FileCursor { file, pos: 0 });
    let entries = ar
        .entries_with_seek()
        .map_err(|e| Error::malformed("bundle", format!("not a tar archive: {e}")))?
        .raw(true);
    let bundle = read_entries(entries, extract, &Mode::File(shared))?;
    check_end_marker(&mut ar.into_inner())?;
    Ok(bundle)
}

/// [`read_bundle_file`], except that the data of each blob listed in
/// `vouched` (data offset, digest: [`Bundle::blob_offsets`] of an earlier
/// read of this very file) is not hashed again. Every other check is made:
/// every header, the order, the small members parsed and the manifest and
/// config hashed, every other blob hashed. For a caller that knows the file
/// has not changed since it was read in full (a verdict cache keyed by the
/// file's identity); the blob's name must still be the digest vouched for.
pub fn read_bundle_file_vouched(file: &File, vouched: &[(u64, Digest)]) -> Result<Bundle> {
    let file = Arc::new(
        file.try_clone()
            .map_err(|e| Error::io("duplicating handle of", "bundle", e))?,
    );
    read_assembled(&file, vouched)
}

/// [`read_bundle_file`] for a file an [`super::Assembly`] wrote: the same
/// checks, except that the data of each blob listed in `hashed` (data
/// offset, digest) is not hashed again: the assembly hashed exactly the
/// bytes it wrote there and found that digest.
pub(super) fn read_assembled(file: &Arc<File>, hashed: &[(u64, Digest)]) -> Result<Bundle> {
    let mut ar = tar::Archive::new(FileCursor { file, pos: 0 });
    let entries = ar
        .entries_with_seek()
        .map_err(|e| Error::malformed("bundle", format!("not a tar archive: {e}")))?
        .raw(true);
    let bundle = read_entries(
        entries,
        &mut NoExtract,
        &Mode::Assembled {
            file: Arc::clone(file),
            hashed,
        },
    )?;
    check_end_marker(&mut ar.into_inner())?;
    Ok(bundle)
}

/// The tar reader stops at end of input or at the first zero block, so
/// without this a bundle cut short inside its end-of-archive marker, or with
/// bytes appended after it, would read as valid. The writer ends every
/// bundle with exactly two zero blocks; the first was consumed.
fn check_end_marker(rest_of_input: &mut dyn Read) -> Result<()> {
    let mut rest = Vec::with_capacity(513);
    rest_of_input
        .take(513)
        .read_to_end(&mut rest)
        .map_err(|e| Error::malformed("bundle", format!("cannot read the end-of-archive marker: {e}")))?;
    if rest != [0u8; 512] {
        return Err(Error::malformed(
            "bundle",
            "truncated or damaged end-of-archive marker, or data after it (expected exactly two zero blocks at the end)",
        ));
    }
    Ok(())
}

/// How member data is reached.
enum Mode<'m> {
    /// Sequentially; padding is checked by [`PaddingWatch`] as it passes.
    Stream {
        padding: &'m Cell<(u64, u64)>,
        dirty: &'m Cell<Option<u64>>,
    },
    /// By position in a file; padding is read and checked explicitly, at
    /// the point where the stream reader has read past it (the next
    /// header, or the end), so both give one error for one bundle.
    File(Arc<File>),
    /// As `File`, for a file whose blobs at these data offsets were hashed
    /// while an [`super::Assembly`] wrote them.
    Assembled {
        file: Arc<File>,
        hashed: &'m [(u64, Digest)],
    },
}

/// Most attestation members a bundle may carry (each is held in memory).
pub const MAX_ATTESTATIONS: usize = 64;

/// Most bytes all attestation members together may hold.
pub const MAX_ATTESTATION_BYTES: u64 = 128 << 20;

/// Blobs at least this large are hashed by positioned reads in file mode.
const POSITIONED_MIN: u64 = CHUNK as u64;

/// A `Read + Seek` view of a file that uses positioned reads, so it shares
/// no offset with the hashing workers' handle.
struct FileCursor<'f> {
    file: &'f File,
    pos: u64,
}

impl Read for FileCursor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for FileCursor<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.file.metadata()?.len().checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek out of range"))?;
        Ok(self.pos)
    }
}

fn check_padding_at(file: &File, start: u64, end: u64) -> Result<()> {
    let mut buf = [0u8; 512];
    let len = (end - start) as usize;
    file.read_exact_at(&mut buf[..len], start)
        .map_err(|e| Error::malformed("bundle", format!("truncated tar padding at offset {start}: {e}")))?;
    if let Some(i) = buf[..len].iter().position(|b| *b != 0) {
        return Err(Error::malformed(
            "bundle",
            format!("non-zero tar padding at offset {}", start + i as u64),
        ));
    }
    Ok(())
}

fn read_entries<R: Read>(entries: tar::Entries<'_, R>, extract: &mut dyn Extract, mode: &Mode<'_>) -> Result<Bundle> {
    let mut phase = Phase::Start;
    let mut seen: HashSet<String> = HashSet::new();
    let mut members = Vec::new();
    let mut manifest = None;
    let mut attestations: Vec<Attestation> = Vec::new();
    let mut attestation_bytes = 0u64;
    let mut selinux: Vec<(String, Vec<u8>)> = Vec::new();
    let mut selinux_bytes = 0u64;
    let mut transparency: Vec<LogProof> = Vec::new();
    let mut rebuilds: Vec<crate::rebuild::Rebuild> = Vec::new();
    let mut index: Option<(BlobRef, Option<String>)> = None;
    let mut images: Vec<ImageState> = Vec::new();
    let mut expected: Vec<(BlobRef, Role)> = Vec::new();
    let mut next_blob = 0usize;
    let mut mtime = None;
    let mut pool = HashPool::new();
    let mut streamed: Vec<(usize, BlobRef)> = Vec::new();
    // File modes: the padding after the last member seen, not yet checked.
    let mut file_padding: Option<(u64, u64)> = None;

    for entry in entries {
        let mut entry = entry.map_err(|e| Error::malformed("bundle", format!("corrupt or truncated tar: {e}")))?;
        let path = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| Error::malformed("bundle", "member path is not UTF-8"))?;
        let header = entry.header();
        let kind_byte = header.entry_type();
        if !kind_byte.is_file() {
            let what = match kind_byte {
                tar::EntryType::Symlink => "a symbolic link",
                tar::EntryType::Link => "a hard link",
                tar::EntryType::Directory => "a directory",
                tar::EntryType::GNULongName | tar::EntryType::GNULongLink => "a GNU long-name extension entry",
                tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => "a PAX extension entry",
                _ => "not a regular file",
            };
            return Err(Error::malformed("bundle", format!("member {path:?} is {what}")));
        }
        let kind = classify(&path)?;
        if !seen.insert(path.clone()) {
            return Err(Error::malformed("bundle", format!("duplicate member {path:?}")));
        }
        let size = header
            .entry_size()
            .map_err(|e| Error::malformed(&path, e.to_string()))?;
        let this_mtime = header.mtime().map_err(|e| Error::malformed(&path, e.to_string()))?;
        if *mtime.get_or_insert(this_mtime) != this_mtime {
            return Err(Error::malformed(&path, "member mtime differs from the bundle's"));
        }
        // Every header byte is fixed by (path, size, mtime), and the padding
        // after the data must be zero: with the data hashed and bound, no
        // byte of the file is left unaccounted for.
        if member_header(&path, size, this_mtime)?.as_bytes() != header.as_bytes() {
            return Err(Error::malformed(
                &path,
                "tar header is not the canonical one (mode, owner, format)",
            ));
        }
        let data_start = entry.raw_file_position();
        let pad = (data_start + size, (data_start + size).div_ceil(512) * 512);
        match mode {
            Mode::Stream { padding, dirty } => {
                if let Some(at) = dirty.get() {
                    return Err(Error::malformed(
                        "bundle",
                        format!("non-zero tar padding at offset {at}"),
                    ));
                }
                padding.set(pad);
            }
            // The padding before this header, judged here as the stream
            // reader judges it (it has only now been read past): one exit
            // code for one bundle, from a pipe or a file.
            Mode::File(file) | Mode::Assembled { file, .. } => {
                if let Some((start, end)) = file_padding.replace(pad) {
                    check_padding_at(file, start, end)?;
                }
            }
        }
        let member_phase = match kind {
            MemberKind::Manifest => Phase::Manifest,
            MemberKind::Attestation => Phase::Attestations,
            MemberKind::Selinux => Phase::Selinux,
            MemberKind::TlogProof => Phase::Transparency,
            MemberKind::Rebuild => Phase::Rebuilds,
            MemberKind::Layout => Phase::Layout,
            MemberKind::Index => Phase::Index,
            MemberKind::Blob(_) => Phase::Blobs,
        };
        let repeatable = matches!(
            member_phase,
            Phase::Attestations | Phase::Selinux | Phase::Transparency | Phase::Rebuilds | Phase::Blobs
        );
        if member_phase < phase || (member_phase == phase && !repeatable) {
            return Err(Error::malformed("bundle", format!("member {path:?} is out of order")));
        }
        if member_phase > Phase::Manifest && manifest.is_none() {
            return Err(Error::malformed("bundle", "manifest.toml must be the first member"));
        }
        if member_phase > Phase::Index && index.is_none() {
            return Err(Error::malformed(
                "bundle",
                "oci-layout/index.json must precede the blobs",
            ));
        }
        if member_phase == Phase::Index && !seen.contains(super::LAYOUT_PATH) {
            return Err(Error::malformed(
                "bundle",
                "oci-layout/oci-layout must precede index.json",
            ));
        }
        phase = member_phase;

        match kind {
            MemberKind::Manifest => {
                let bytes = read_small(&mut entry, &path, size, MAX_MANIFEST_SIZE)?;
                let text = std::str::from_utf8(&bytes).map_err(|_| Error::malformed(&path, "not UTF-8"))?;
                let m = PackageManifest::parse(text)?;
                if m.to_canonical_toml()?.as_bytes() != bytes.as_slice() {
                    return Err(Error::malformed(&path, "not in canonical form"));
                }
                manifest = Some(m);
                members.push(Member {
                    path,
                    size,
                    digest: Digest::of(&bytes),
                });
            }
            MemberKind::Attestation => {
                if attestations.len() >= MAX_ATTESTATIONS {
                    return Err(Error::malformed(
                        "bundle",
                        format!("more than {MAX_ATTESTATIONS} attestations"),
                    ));
                }
                if let Some(last) = attestations.last() {
                    if last.path >= path {
                        return Err(Error::malformed(
                            "bundle",
                            format!("attestation {path:?} is out of order"),
                        ));
                    }
                }
                let bytes = read_small(&mut entry, &path, size, MAX_ENVELOPE_SIZE)?;
                attestation_bytes += size;
                if attestation_bytes > MAX_ATTESTATION_BYTES {
                    return Err(Error::malformed("bundle", "attestations exceed 128 MiB in total"));
                }
                let envelope = Envelope::parse(&path, &bytes)?;
                members.push(Member {
                    path: path.clone(),
                    size,
                    digest: Digest::of(&bytes),
                });
                attestations.push(Attestation { path, envelope });
            }
            MemberKind::Selinux => {
                if selinux
                    .last()
                    .is_some_and(|(last, _): &(String, Vec<u8>)| *last >= path)
                {
                    return Err(Error::malformed("bundle", format!("{path:?} is out of order")));
                }
                if selinux.len() >= super::MAX_SELINUX_MODULES {
                    return Err(Error::malformed(
                        "bundle",
                        format!("more than {} selinux/ modules", super::MAX_SELINUX_MODULES),
                    ));
                }
                selinux_bytes = selinux_bytes.saturating_add(size);
                if selinux_bytes > super::MAX_SELINUX_BYTES {
                    return Err(Error::malformed(
                        "bundle",
                        format!("selinux/ modules hold more than {} bytes", super::MAX_SELINUX_BYTES),
                    ));
                }
                let bytes = read_small(&mut entry, &path, size, super::MAX_SELINUX_SIZE)?;
                if std::str::from_utf8(&bytes).is_err() {
                    return Err(Error::malformed(&path, "not UTF-8"));
                }
                members.push(Member {
                    path: path.clone(),
                    size,
                    digest: Digest::of(&bytes),
                });
                selinux.push((path, bytes));
            }
            MemberKind::TlogProof => {
                if transparency.last().is_some_and(|last| last.path >= path) {
                    return Err(Error::malformed("bundle", format!("{path:?} is out of order")));
                }
                if transparency.len() >= super::MAX_TLOG_PROOFS {
                    return Err(Error::malformed(
                        "bundle",
                        format!("more than {} transparency/ proofs", super::MAX_TLOG_PROOFS),
                    ));
                }
                // The claimed size is checked against the bound before any
                // byte is read (read_small); the proof parser bounds itself too.
                let bytes = read_small(&mut entry, &path, size, MAX_PROOF_BYTES as u64)?;
                let proof = TlogProof::parse(&bytes).map_err(|e| Error::malformed(&path, e.to_string()))?;
                let origin = proof.checkpoint().checkpoint().origin();
                if super::tlog_proof_path(origin) != path {
                    return Err(Error::malformed(
                        &path,
                        format!(
                            "a proof from log {origin:?} must be named {}",
                            super::tlog_proof_path(origin)
                        ),
                    ));
                }
                members.push(Member {
                    path: path.clone(),
                    size,
                    digest: Digest::of(&bytes),
                });
                transparency.push(LogProof { path, proof });
            }
            MemberKind::Rebuild => {
                use crate::rebuild::{Rebuild, MAX_REBUILDS, MAX_REBUILD_SIZE};
                if rebuilds.last().is_some_and(|last| last.path >= path) {
                    return Err(Error::malformed("bundle", format!("{path:?} is out of order")));
                }
                if rebuilds.len() >= MAX_REBUILDS {
                    return Err(Error::malformed(
                        "bundle",
                        format!("more than {MAX_REBUILDS} rebuilds/ attestations"),
                    ));
                }
                // The claimed size against the bound before any byte is read.
                let bytes = read_small(&mut entry, &path, size, MAX_REBUILD_SIZE)?;
                let rebuild = Rebuild::parse(&path, &bytes)?;
                members.push(Member {
                    path: path.clone(),
                    size,
                    digest: Digest::of(&bytes),
                });
                rebuilds.push(rebuild);
            }
            MemberKind::Layout => {
                let bytes = read_small(&mut entry, &path, size, 4096)?;
                if bytes != OCI_LAYOUT_FILE {
                    return Err(Error::malformed(
                        &path,
                        "must be exactly {\"imageLayoutVersion\":\"1.0.0\"}",
                    ));
                }
                extract.layout_file("oci-layout", &bytes)?;
                members.push(Member {
                    path,
                    size,
                    digest: Digest::of(&bytes),
                });
            }
            MemberKind::Index => {
                let bytes = read_small(&mut entry, &path, size, MAX_INDEX_SIZE)?;
                let entries = parse_index(&path, &bytes)?;
                let [one] = entries.as_slice() else {
                    return Err(Error::malformed(&path, "must describe exactly one image manifest"));
                };
                if bundle_index(&one.manifest, one.ref_name.as_deref())? != bytes {
                    return Err(Error::malformed(&path, "not in canonical form (RFC 8785)"));
                }
                index = Some((one.manifest.clone(), one.ref_name.clone()));
                extract.layout_file("index.json", &bytes)?;
                members.push(Member {
                    path,
                    size,
                    digest: Digest::of(&bytes),
                });
            }
            MemberKind::Blob(digest) => {
                let Some((top, _)) = &index else {
                    return Err(Error::malformed("bundle", "blob before index.json"));
                };
                if expected.is_empty() {
                    expected.push((top.clone(), Role::Top));
                }
                let Some((want, role)) = expected.get(next_blob).cloned() else {
                    let dup = expected.iter().any(|(b, _)| b.digest == digest);
                    let why = if dup {
                        "duplicate blob"
                    } else {
                        "blob not referenced by the image"
                    };
                    return Err(Error::malformed("bundle", format!("{why}: {path:?}")));
                };
                if want.digest != digest {
                    if role == Role::Top {
                        return Err(Error::malformed(
                            "bundle",
                            format!(
                                "expected the image manifest {} as first blob, found {path:?}",
                                top.digest
                            ),
                        ));
                    }
                    let why = if expected.iter().any(|(b, _)| b.digest == digest) {
                        "blob out of order or duplicated"
                    } else {
                        "blob not referenced by the image"
                    };
                    return Err(Error::malformed("bundle", format!("{why}: {path:?}")));
                }
                if size != want.size {
                    return Err(Error::SizeMismatch {
                        what: path,
                        expected: want.size,
                        actual: size,
                    });
                }
                next_blob += 1;
                match role {
                    Role::Top if top.media_type == MT_OCI_INDEX => {
                        // A multi-platform image: the index, then each
                        // platform manifest with its config and layers.
                        let bytes = read_json_blob(&mut entry, &path, size, digest, extract)?;
                        for (i, e) in parse_platform_index(&path, &bytes)?.into_iter().enumerate() {
                            expected.push((e.manifest.clone(), Role::Manifest(i)));
                            images.push(ImageState::new(e.manifest, Some(e.platform)));
                        }
                        members.push(Member { path, size, digest });
                        continue;
                    }
                    Role::Top | Role::Manifest(_) => {
                        let i = match role {
                            Role::Manifest(i) => i,
                            _ => {
                                images.push(ImageState::new(top.clone(), None));
                                0
                            }
                        };
                        let bytes = read_json_blob(&mut entry, &path, size, digest, extract)?;
                        let media_type = images.get(i).map_or("", |s| s.manifest.media_type.as_str());
                        let p = parse_manifest(&path, &bytes, media_type)?;
                        insert_parts(&mut expected, next_blob, i, &p, role != Role::Top)?;
                        if let Some(s) = images.get_mut(i) {
                            s.parts = Some(p);
                        }
                        members.push(Member { path, size, digest });
                        continue;
                    }
                    Role::Config(i) => {
                        // The config comes right after its manifest: it is small,
                        // and its rootfs.diff_ids are what the runtimes name the
                        // image's snapshots by, so it is read and parsed (strictly).
                        let bytes = read_json_blob(&mut entry, &path, size, digest, extract)?;
                        let c = parse_config(&path, &bytes)?;
                        let Some(state) = images.get_mut(i) else {
                            return Err(Error::malformed(&path, "config of no image"));
                        };
                        let layers = state.parts.as_ref().map_or(0, |p| p.layers.len());
                        if c.diff_ids.len() != layers {
                            return Err(Error::malformed(
                                &path,
                                format!("rootfs.diff_ids has {} entries for {layers} layer(s)", c.diff_ids.len()),
                            ));
                        }
                        if let Some(p) = state.platform.as_ref().filter(|p| !p.matches_config(&c)) {
                            return Err(Error::malformed(
                                &path,
                                format!(
                                    "the index says platform {p}, the image config says {}",
                                    Platform {
                                        os: c.os.clone(),
                                        architecture: c.architecture.clone(),
                                        variant: c.variant.clone(),
                                    }
                                ),
                            ));
                        }
                        state.config = Some(c);
                        members.push(Member { path, size, digest });
                        continue;
                    }
                    Role::Layer => {}
                }
                if let Mode::Assembled { hashed, .. } = mode {
                    if hashed.contains(&(data_start, digest)) {
                        members.push(Member { path, size, digest });
                        continue;
                    }
                }
                let sink = extract.blob(&digest)?;
                let positioned = match mode {
                    Mode::File(file) | Mode::Assembled { file, .. } => Some(file),
                    Mode::Stream { .. } => None,
                };
                if let (Some(file), true) = (positioned, size >= POSITIONED_MIN) {
                    let id = pool.start_region(Arc::clone(file), data_start, size, sink);
                    streamed.push((id, want.clone()));
                    members.push(Member { path, size, digest });
                    continue;
                }
                let job = pool.start(sink);
                let mut remaining = size;
                while remaining > 0 {
                    let mut buf = pool.buffer();
                    let want_len = remaining.min(CHUNK as u64) as usize;
                    buf.resize(want_len, 0);
                    entry.read_exact(&mut buf).map_err(|e| truncated(&path, e))?;
                    remaining -= want_len as u64;
                    pool.feed(&job, buf);
                }
                streamed.push((job.id(), want.clone()));
                pool.end(job);
                members.push(Member { path, size, digest });
            }
        }
    }

    let manifest = manifest.ok_or_else(|| Error::malformed("bundle", "missing member manifest.toml"))?;
    if !seen.contains(super::LAYOUT_PATH) {
        return Err(Error::malformed("bundle", "missing member oci-layout/oci-layout"));
    }
    let (image, reference) = index.ok_or_else(|| Error::malformed("bundle", "missing member oci-layout/index.json"))?;
    if expected.is_empty() {
        return Err(Error::malformed(
            "bundle",
            format!("missing blob {} (image manifest)", image.digest),
        ));
    }
    if let Some((missing, role)) = expected.get(next_blob) {
        let what = match role {
            Role::Top | Role::Manifest(_) => " (image manifest)",
            Role::Config(_) => " (config)",
            Role::Layer => "",
        };
        return Err(Error::malformed(
            "bundle",
            format!("missing blob {}{what}", missing.digest),
        ));
    }
    let mut read = Vec::with_capacity(images.len());
    for s in images {
        let (Some(parts), Some(config)) = (s.parts, s.config) else {
            return Err(Error::malformed(
                "bundle",
                format!("image {} is incomplete", s.manifest.digest),
            ));
        };
        read.push((s.manifest, s.platform, parts, config));
    }
    let Some((_, _, parts, config)) = read.first().cloned() else {
        return Err(Error::malformed("bundle", "the bundle holds no image"));
    };
    let platforms: Vec<PlatformImage> = read
        .into_iter()
        .filter_map(|(manifest, platform, parts, config)| {
            platform.map(|platform| PlatformImage {
                manifest,
                platform,
                parts,
                config,
            })
        })
        .collect();
    let outcomes = pool.finish();
    for (id, blob) in streamed {
        let path = super::blob_path(&blob.digest);
        let outcome = outcomes
            .get(id)
            .and_then(|o| o.as_ref())
            .ok_or_else(|| Error::malformed(&path, "blob was not hashed"))?;
        if let Some(e) = &outcome.read_error {
            return Err(Error::malformed(
                &path,
                format!("cannot read member data (truncated bundle?): {e}"),
            ));
        }
        if let Some(e) = &outcome.sink_error {
            return Err(Error::io(
                "extracting",
                path,
                std::io::Error::new(e.kind(), e.to_string()),
            ));
        }
        if outcome.digest != blob.digest {
            return Err(Error::DigestMismatch {
                what: path,
                expected: blob.digest,
                actual: outcome.digest,
            });
        }
    }
    // The last member's padding: where `read_bundle` checks it, after
    // everything above.
    if let (Mode::File(file) | Mode::Assembled { file, .. }, Some((start, end))) = (mode, file_padding) {
        check_padding_at(file, start, end)?;
    }
    Ok(Bundle {
        manifest,
        members,
        attestations,
        selinux,
        transparency,
        rebuilds,
        image,
        reference,
        parts,
        config,
        platforms,
        mtime: mtime.unwrap_or(0),
    })
}

/// What a blob in the expected sequence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The blob `index.json` names: an image manifest, or an image index.
    Top,
    /// The manifest of platform `i` of an index.
    Manifest(usize),
    /// The config of image `i`.
    Config(usize),
    /// A layer (of one image or several).
    Layer,
}

/// One image of the bundle while it is read.
struct ImageState {
    manifest: BlobRef,
    platform: Option<Platform>,
    parts: Option<ImageParts>,
    config: Option<ImageConfig>,
}

impl ImageState {
    fn new(manifest: BlobRef, platform: Option<Platform>) -> Self {
        ImageState {
            manifest,
            platform,
            parts: None,
            config: None,
        }
    }
}

/// Inserts image `i`'s config and layers into the expected sequence at
/// `at` (right after its manifest): the config, then each layer not already
/// expected. In a multi-platform bundle (`strict`) a config, and a layer,
/// must not be a blob expected as a manifest or config elsewhere: the
/// reader could not tell which part a blob is. A single image keeps the
/// rule of §3.1 (a config equal to a layer appears once, as the config).
fn insert_parts(
    expected: &mut Vec<(BlobRef, Role)>,
    at: usize,
    i: usize,
    parts: &ImageParts,
    strict: bool,
) -> Result<()> {
    let mut new: Vec<(BlobRef, Role)> = Vec::with_capacity(parts.layers.len() + 1);
    for (b, role) in
        std::iter::once((&parts.config, Role::Config(i))).chain(parts.layers.iter().map(|l| (l, Role::Layer)))
    {
        let old = expected.iter().chain(new.iter()).find(|(e, _)| e.digest == b.digest);
        match old {
            None => new.push((b.clone(), role)),
            Some((_, Role::Layer)) if role == Role::Layer => {}
            Some((_, Role::Config(j))) if !strict && *j == i && role == Role::Layer => {}
            Some(_) => {
                return Err(Error::malformed(
                    "bundle",
                    format!(
                        "blob {} is both a manifest or config and another part of the image",
                        b.digest
                    ),
                ))
            }
        }
    }
    let tail = expected.split_off(at.min(expected.len()));
    expected.extend(new);
    expected.extend(tail);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;
    use crate::dsse::MAX_ENVELOPE_SIZE;

    #[test]
    fn a_claimed_size_is_not_reserved_before_the_data_arrives() {
        // 4 KiB under a claim of the most an envelope may be: what was
        // read comes back, in a buffer sized by the data, not the claim.
        let data = vec![b'{'; 4096];
        let got = read_claimed(&mut &data[..], MAX_ENVELOPE_SIZE).unwrap();
        assert_eq!(got, data);
        assert!(
            got.capacity() as u64 <= FIRST_RESERVE,
            "reserved {} bytes for 4 KiB of data",
            got.capacity()
        );
        // Through read_small: a truncated member, exit 10.
        let e = read_small(
            &mut &data[..],
            "attestations/release.dsse.json",
            MAX_ENVELOPE_SIZE,
            MAX_ENVELOPE_SIZE,
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), crate::ExitCode::Malformed);
        assert!(e.to_string().contains("truncated member"), "{e}");
    }

    #[test]
    fn a_true_size_is_read_whole_into_exactly_its_size() {
        for size in [0usize, 1, 511, 64 << 10, (64 << 10) + 1, 300_000] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let got = read_small(&mut &data[..], "m", size as u64, 1 << 20).unwrap();
            assert_eq!(got, data);
            assert_eq!(got.capacity(), size, "capacity for {size} bytes");
        }
        // More data than claimed: only the claim is read.
        let got = read_claimed(&mut &[7u8; 100][..], 10).unwrap();
        assert_eq!(got, [7u8; 10]);
    }
}
