//! The shim's readers of a container's cgroup (`Cgroup::locate` over
//! `/proc/PID/cgroup` and the mount table, and the controllers' file
//! formats), which read text the kernel writes about processes a container
//! controls.
//!
//! The parsers are `shim/src/cgroup_text.rs`, compiled here from the same
//! file rather than through a dependency on `cerro-shim`: nothing may
//! depend on a front end (`integration/tests/architecture.rs`), and the
//! fuzz build stays free of the shim's gRPC stack. That file uses `std`
//! only, for this reason.

use std::path::{Component, Path};

#[path = "../../../shim/src/cgroup_text.rs"]
#[allow(dead_code)] // the shim's own helpers (`unescape` for its tests)
mod cgroup_text;

use cgroup_text::{blkio_entries, flat, io_entries, Cgroup};

/// `data` is `/proc/PID/cgroup`, a NUL, then `/proc/self/mountinfo` (no NUL:
/// both are `data`); the whole of it is also one controller file.
///
/// - `locate` answers or refuses, and a cgroup it locates is under a
///   cgroup mount point of the mount table without climbing out of it: no
///   `..` in the directory that the mount point does not have itself (a
///   `/proc/PID/cgroup` path cannot walk out of the cgroup file system).
/// - `flat` (`memory.stat`, `cpu.stat`, …), `blkio_entries` (v1 blkio
///   files) and `io_entries` (v2 `io.stat`) take any text; what they read
///   survives write → read unchanged.
pub fn cgroup(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (proc_cgroup, mountinfo) = text.split_once('\0').unwrap_or((&text, &text));
    if let Ok(c) = Cgroup::locate(proc_cgroup, mountinfo) {
        let dirs: Vec<&Path> = match &c {
            Cgroup::Unified(d) => vec![d.as_path()],
            Cgroup::Legacy(m) => m.values().map(|d| d.as_path()).collect(),
        };
        assert!(!dirs.is_empty(), "a located cgroup has a directory");
        let climbs = |p: &Path| p.components().filter(|c| *c == Component::ParentDir).count();
        // A `..` can only come from the mount table's text (mount points
        // are octal-escaped there: `\056` is a dot).
        let table_climbs = mountinfo.replace("\\056", ".").matches("..").count();
        for d in dirs {
            assert!(
                climbs(d) <= table_climbs,
                "{} climbs out of its mount ({proc_cgroup:?})",
                d.display()
            );
        }
    }

    let map = flat(&text);
    for k in map.keys() {
        assert!(!k.is_empty() && !k.contains(char::is_whitespace), "flat key {k:?}");
    }
    let written: String = map.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    assert_eq!(flat(&written), map, "flat does not survive a round trip");

    let blkio = blkio_entries(&text);
    let written: String = blkio
        .iter()
        .map(|e| format!("{}:{} {} {}\n", e.major, e.minor, e.op, e.value))
        .collect();
    assert_eq!(
        blkio_entries(&written),
        blkio,
        "blkio entries do not survive a round trip"
    );

    let io = io_entries(&text);
    let written: String = io
        .iter()
        .map(|e| {
            format!(
                "{}:{} rbytes={} wbytes={} rios={} wios={}\n",
                e.major, e.minor, e.rbytes, e.wbytes, e.rios, e.wios
            )
        })
        .collect();
    assert_eq!(io_entries(&written), io, "io.stat entries do not survive a round trip");
}
