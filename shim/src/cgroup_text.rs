//! The text of a container's cgroup, parsed: where its cgroup is (from
//! `/proc/PID/cgroup` and the reader's `/proc/self/mountinfo`) and the
//! controllers' file formats (flat-keyed files, v2 `io.stat`, v1 blkio
//! files). The kernel writes this text, about processes a container
//! controls, so it is never trusted to be well formed: every function
//! takes any text, never panics, and leaves out what does not parse.
//!
//! Pure functions over `std` only, with no `crate::` path: the fuzz checks
//! (`fuzz/checks/src/cgroup.rs`) compile this very file (`#[path]`), since
//! nothing may depend on the shim crate (a front end: see ARCHITECTURE.md),
//! and `cgroup.rs` reads the files (through the shim's `Host`) and turns
//! the readings into metrics.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// A flat-keyed file (`memory.stat`, `cpu.stat`, …): name → value.
pub type Flat = BTreeMap<String, u64>;

/// Where a container's cgroup is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    /// cgroup v2: its directory in the unified hierarchy.
    Unified(PathBuf),
    /// cgroup v1: its directory in each controller's hierarchy
    /// (`memory`, `cpuacct`, `pids`, `freezer`, …).
    Legacy(BTreeMap<String, PathBuf>),
}

/// One device's line of `io.stat`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoEntry {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// Bytes read.
    pub rbytes: u64,
    /// Bytes written.
    pub wbytes: u64,
    /// Read operations.
    pub rios: u64,
    /// Write operations.
    pub wios: u64,
}

/// One line of a blkio file: `MAJOR:MINOR Op value`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioEntry {
    /// `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`.
    pub op: String,
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// The count.
    pub value: u64,
}

impl Cgroup {
    /// Where the cgroup a `/proc/PID/cgroup` names is, given the reader's
    /// `/proc/self/mountinfo`. The v1 controllers when the process has
    /// any that are mounted (a v1 or hybrid host), else its v2 directory.
    pub fn locate(proc_cgroup: &str, mountinfo: &str) -> Result<Self, String> {
        let mounts = cgroup_mounts(mountinfo);
        let mut legacy = BTreeMap::new();
        let mut unified = None;
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            if controllers.is_empty() {
                if let Some(m) = mounts.iter().find(|m| m.controllers.is_none()) {
                    unified = Some(m.dir_of(path)?);
                }
                continue;
            }
            for c in controllers.split(',') {
                let mount = mounts
                    .iter()
                    .find(|m| m.controllers.as_ref().is_some_and(|cs| cs.iter().any(|x| x == c)));
                if let Some(m) = mount {
                    legacy.insert(c.to_owned(), m.dir_of(path)?);
                }
            }
        }
        const READ: [&str; 5] = ["memory", "cpu", "cpuacct", "pids", "blkio"];
        if READ.iter().any(|c| legacy.contains_key(*c)) {
            return Ok(Cgroup::Legacy(legacy));
        }
        unified
            .map(Cgroup::Unified)
            .ok_or_else(|| "no mounted cgroup hierarchy holds it".to_owned())
    }
}

/// A cgroup file system mounted in this process's mount namespace.
#[derive(Debug)]
struct CgroupMount {
    /// The directory of the hierarchy this mount shows (`/` usually).
    root: String,
    /// Where it is mounted.
    point: PathBuf,
    /// v1: its controllers (`memory`, `cpu`, `name=systemd`, …); v2: `None`.
    controllers: Option<Vec<String>>,
}

impl CgroupMount {
    /// The directory of cgroup `path` (as `/proc/PID/cgroup` names it)
    /// under this mount. A path outside the mount's root, or one that
    /// climbs (`/..`: outside the reader's cgroup namespace), is an error.
    fn dir_of(&self, path: &str) -> Result<PathBuf, String> {
        let rel = if self.root == "/" {
            Some(path)
        } else {
            path.strip_prefix(self.root.as_str())
                .filter(|r| r.is_empty() || r.starts_with('/'))
        }
        .ok_or_else(|| format!("cgroup {path} is not under the mount of {}", self.root))?;
        let mut dir = self.point.clone();
        for c in Path::new(rel).components() {
            match c {
                Component::Normal(n) => dir.push(n),
                Component::RootDir | Component::CurDir => {}
                _ => return Err(format!("cgroup {path} is outside this cgroup namespace")),
            }
        }
        Ok(dir)
    }
}

/// The cgroup mounts of a `/proc/self/mountinfo`.
fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((head, tail)) = line.split_once(" - ") else {
            continue;
        };
        let head: Vec<&str> = head.split(' ').collect();
        let tail: Vec<&str> = tail.split(' ').collect();
        let (Some(root), Some(point), Some(fs_type)) = (head.get(3), head.get(4), tail.first()) else {
            continue;
        };
        let controllers = match *fs_type {
            "cgroup2" => None,
            "cgroup" => Some(
                tail.get(2)
                    .map(|o| o.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
            ),
            _ => continue,
        };
        out.push(CgroupMount {
            root: unescape(root),
            point: PathBuf::from(unescape(point)),
            controllers,
        });
    }
    out
}

/// Undoes mountinfo's octal escapes (`\040` for a space, …).
pub(crate) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `key value` lines (`memory.stat`, `cpu.stat`, …); lines that do not
/// parse are left out. The text is the kernel's, but never trusted to be
/// well formed.
pub fn flat(text: &str) -> Flat {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (k, v) = (w.next()?, w.next()?.parse().ok()?);
            Some((k.to_owned(), v))
        })
        .collect()
}

/// `MAJOR:MINOR`.
fn device(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The lines of a cgroup v2 `io.stat`: `MAJOR:MINOR key=value …`, one a
/// device; a line without a device is left out, a key that is missing or
/// not a number reads as 0.
pub fn io_entries(text: &str) -> Vec<IoEntry> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (major, minor) = device(w.next()?)?;
            let kv: Flat = w
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_owned(), v.parse().ok()?))
                })
                .collect();
            let g = |k: &str| kv.get(k).copied().unwrap_or(0);
            Some(IoEntry {
                major,
                minor,
                rbytes: g("rbytes"),
                wbytes: g("wbytes"),
                rios: g("rios"),
                wios: g("wios"),
            })
        })
        .collect()
}

/// `MAJOR:MINOR Op value` lines of a cgroup v1 blkio file (the `Total`
/// line left out, and any other line that does not parse).
pub fn blkio_entries(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = w.as_slice() else {
                return None;
            };
            let (major, minor) = device(dev)?;
            Some(BlkioEntry {
                op: (*op).to_owned(),
                major,
                minor,
                value: value.parse().ok()?,
            })
        })
        .collect()
}
