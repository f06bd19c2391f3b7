//! A container's cgroup: where it is (from its init's `/proc/PID/cgroup`
//! and this process's mount table) and what its processes have used (the
//! controllers' files), for the task's `Stats` (`ctr task metrics`, CRI
//! container stats). Read by the shim itself, as containerd's runc shim
//! does: reading files needs no runtime process, and kubelet asks often.
//!
//! Both hierarchies are read: cgroup v2 (one directory: `memory.current`,
//! `memory.stat`, `cpu.stat`, `pids.current`, `io.stat`, …) and cgroup v1
//! (one directory a controller: `memory.usage_in_bytes`, `cpuacct.usage`,
//! `pids.current`, `blkio.throttle.*`, …; also a hybrid host, whose
//! controllers are all v1). The readings are plain values here; `service`
//! turns them into containerd's `io.containerd.cgroups.v1.Metrics` or
//! `io.containerd.cgroups.v2.Metrics`.
//!
//! A file that is missing (a controller not enabled, an older kernel) or a
//! line that does not parse leaves that value out; a cgroup of which no
//! file can be read is an error (it is gone: the container stopped).
//!
//! Every file is read through the shim's [`Host`] (bounded: the kernel's
//! text, but a whole file is never trusted to be small); the parsers of
//! that text ([`Cgroup::locate`], [`flat`], [`blkio_entries`],
//! [`io_entries`]) are in `cgroup_text.rs`, a file of pure functions that
//! the fuzz checks compile too (`fuzz/checks` target `cgroup`).
//!
//! # Why not `libcgroups`
//! youki's `libcgroups` (0.7, which `cerro-runtime` links) was checked as
//! the reader and cannot serve the metrics containerd's types carry as
//! this shim returns them:
//! - Its statistics come only from a manager's `stats()` (the
//!   per-controller readers are private modules), which is all or nothing:
//!   one file missing fails the whole reading. On cgroup v2 that is a
//!   `cpu.stat` without `nr_periods` (the cpu controller not enabled in the
//!   parent's `cgroup.subtree_control`, where `cpu.stat` has only the usage
//!   lines), a missing `memory.swap.current` (no swap accounting) or any
//!   `hugetlb.*` file of a page size the kernel has; on v1 any missing
//!   `memory.memsw.*` or `memory.kmem.*` file. This reader leaves the value
//!   out and reports the rest, as containerd's own reader does.
//! - It drops values containerd's messages have: cgroup v2
//!   `memory.events` (containerd's `MemoryEvents`: `low`, `high`, `max`,
//!   `oom`, `oom_kill`) becomes one fail count (`oom`).
//! - It cannot locate a *process's* cgroup: v1 `Manager::new` joins a
//!   given path under each controller's mount point, ignoring the mount's
//!   root (a nested or namespaced mount), and v2 takes a path; the shim has
//!   the init's pid, so `locate` (over `/proc/PID/cgroup` and the mount
//!   table) is needed either way.
//! - It panics on input the shim must survive: v1 memory indexes
//!   `memory.stat` with `stats["cache"]`, v2 io slices `&value[7..]` after
//!   a 6-byte prefix check; the shim's ttrpc threads must not panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::cgroup_text::{blkio_entries, flat, io_entries, BlkioEntry, Cgroup, Flat, IoEntry};
use crate::error::ShimError;
use crate::host::Host;

/// Largest `/proc/PID/cgroup` read (one line a hierarchy).
const MAX_PROC_CGROUP: u64 = 64 << 10;
/// Largest mount table read (a host with many containers has thousands of
/// mounts, ~150 bytes each).
const MAX_MOUNTINFO: u64 = 16 << 20;
/// Largest cgroup file read (`memory.stat` is a few KiB; `io.stat` and
/// `cpuacct.usage_percpu` grow with devices and CPUs).
const MAX_CGROUP_FILE: u64 = 1 << 20;

/// What a cgroup has used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metrics {
    /// Read from cgroup v1 controllers.
    V1(V1Metrics),
    /// Read from a cgroup v2 directory.
    V2(V2Metrics),
}

/// Processes: `pids.current` and `pids.max` (0: no limit, as containerd
/// reports `max`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pids {
    /// Processes (and threads) in the cgroup.
    pub current: u64,
    /// Their limit; 0 when there is none.
    pub limit: u64,
}

/// cgroup v2 readings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V2Metrics {
    /// `pids.current`, `pids.max`.
    pub pids: Option<Pids>,
    /// `cpu.stat` (`usage_usec`, `user_usec`, `system_usec`, `nr_periods`,
    /// `nr_throttled`, `throttled_usec`, …).
    pub cpu: Option<Flat>,
    /// The memory controller's files.
    pub memory: Option<V2Memory>,
    /// `memory.events` (`low`, `high`, `max`, `oom`, `oom_kill`, …).
    pub memory_events: Option<Flat>,
    /// `io.stat`, one entry a device.
    pub io: Vec<IoEntry>,
}

/// cgroup v2 memory: bytes; a limit of `max` is `u64::MAX` (as containerd
/// reports it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V2Memory {
    /// `memory.stat`.
    pub stat: Flat,
    /// `memory.current`.
    pub usage: u64,
    /// `memory.max`.
    pub limit: u64,
    /// `memory.peak` (0 where the kernel has none).
    pub max_usage: u64,
    /// `memory.swap.current`.
    pub swap_usage: u64,
    /// `memory.swap.max`.
    pub swap_limit: u64,
    /// `memory.swap.peak`.
    pub swap_max_usage: u64,
}

/// cgroup v1 readings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V1Metrics {
    /// `pids.current`, `pids.max`.
    pub pids: Option<Pids>,
    /// `cpuacct.*` and the cpu controller's `cpu.stat`.
    pub cpu: Option<V1Cpu>,
    /// The memory controller's files.
    pub memory: Option<V1Memory>,
    /// The blkio controller's files.
    pub blkio: Option<V1Blkio>,
}

/// cgroup v1 CPU time, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V1Cpu {
    /// `cpuacct.usage`.
    pub total: u64,
    /// `cpuacct.stat` `user` (clock ticks, converted).
    pub user: u64,
    /// `cpuacct.stat` `system` (clock ticks, converted).
    pub kernel: u64,
    /// `cpuacct.usage_percpu`.
    pub per_cpu: Vec<u64>,
    /// The cpu controller's `cpu.stat` (`nr_periods`, `nr_throttled`,
    /// `throttled_time`).
    pub throttling: Flat,
}

/// cgroup v1 memory, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V1Memory {
    /// `memory.stat` (`cache`, `rss`, …, `total_*`, `hierarchical_memory_limit`).
    pub stat: Flat,
    /// `memory.{usage_in_bytes,limit_in_bytes,max_usage_in_bytes,failcnt}`.
    pub usage: MemoryEntry,
    /// The same of `memory.memsw.*` (memory + swap), where swap is accounted.
    pub swap: MemoryEntry,
    /// The same of `memory.kmem.*`.
    pub kernel: MemoryEntry,
    /// The same of `memory.kmem.tcp.*`.
    pub kernel_tcp: MemoryEntry,
}

/// One family of cgroup v1 memory counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryEntry {
    /// `…usage_in_bytes`.
    pub usage: u64,
    /// `…limit_in_bytes`.
    pub limit: u64,
    /// `…max_usage_in_bytes`.
    pub max: u64,
    /// `…failcnt`.
    pub failcnt: u64,
}

/// cgroup v1 block I/O.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V1Blkio {
    /// Bytes by device and operation (`…io_service_bytes_recursive`).
    pub service_bytes: Vec<BlkioEntry>,
    /// Operations by device and operation (`…io_serviced_recursive`).
    pub serviced: Vec<BlkioEntry>,
}

/// `USER_HZ`: the unit of `cpuacct.stat` (100 on every Linux
/// architecture containerd supports; containerd assumes it too).
const CLOCK_TICKS: u64 = 100;

impl Cgroup {
    /// The cgroup of process `pid`, as this process sees the hierarchies.
    pub fn of_pid(host: &dyn Host, pid: u32) -> Result<Self, ShimError> {
        let read = |path: &Path, limit: u64| -> Result<String, ShimError> {
            let bytes = host.read(path, limit).map_err(|e| ShimError::io("reading", path, e))?;
            // Both are the kernel's text; a path in them that is not UTF-8
            // cannot name a cgroup this reader finds, so it reads as `?`.
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let cgroups = read(Path::new(&format!("/proc/{pid}/cgroup")), MAX_PROC_CGROUP)?;
        let mountinfo = read(Path::new("/proc/self/mountinfo"), MAX_MOUNTINFO)?;
        Self::locate(&cgroups, &mountinfo).map_err(|e| ShimError::Cgroup(format!("process {pid}: {e}")))
    }

    /// What the cgroup's processes have used, now.
    pub fn metrics(&self, host: &dyn Host) -> Result<Metrics, ShimError> {
        match self {
            Cgroup::Unified(dir) => read_v2(host, dir).map(Metrics::V2),
            Cgroup::Legacy(dirs) => read_v1(host, dirs).map(Metrics::V1),
        }
    }
}

/// A file's text, `None` when it cannot be read (missing controller) or
/// is not text.
fn text(host: &dyn Host, path: &Path) -> Option<String> {
    String::from_utf8(host.read(path, MAX_CGROUP_FILE).ok()?).ok()
}

/// A single number; `max` is `max_as`.
fn number(host: &dyn Host, path: &Path, max_as: u64) -> Option<u64> {
    let t = text(host, path)?;
    match t.trim() {
        "max" => Some(max_as),
        n => n.parse().ok(),
    }
}

fn flat_file(host: &dyn Host, path: &Path) -> Option<Flat> {
    text(host, path).map(|t| flat(&t))
}

/// Reads a cgroup v2 directory.
pub fn read_v2(host: &dyn Host, dir: &Path) -> Result<V2Metrics, ShimError> {
    if !host.exists(&dir.join("cgroup.procs")) && !host.exists(&dir.join("memory.current")) {
        return Err(ShimError::Cgroup(format!("{} is not a cgroup (gone?)", dir.display())));
    }
    let f = |name: &str| dir.join(name);
    let pids = number(host, &f("pids.current"), 0).map(|current| Pids {
        current,
        limit: number(host, &f("pids.max"), 0).unwrap_or(0),
    });
    let memory = number(host, &f("memory.current"), u64::MAX).map(|usage| V2Memory {
        stat: flat_file(host, &f("memory.stat")).unwrap_or_default(),
        usage,
        limit: number(host, &f("memory.max"), u64::MAX).unwrap_or(u64::MAX),
        max_usage: number(host, &f("memory.peak"), u64::MAX).unwrap_or(0),
        swap_usage: number(host, &f("memory.swap.current"), u64::MAX).unwrap_or(0),
        swap_limit: number(host, &f("memory.swap.max"), u64::MAX).unwrap_or(0),
        swap_max_usage: number(host, &f("memory.swap.peak"), u64::MAX).unwrap_or(0),
    });
    let io = text(host, &f("io.stat")).map(|t| io_entries(&t)).unwrap_or_default();
    Ok(V2Metrics {
        pids,
        cpu: flat_file(host, &f("cpu.stat")),
        memory,
        memory_events: flat_file(host, &f("memory.events")),
        io,
    })
}

/// Reads cgroup v1 controller directories (by controller name).
pub fn read_v1(host: &dyn Host, dirs: &BTreeMap<String, PathBuf>) -> Result<V1Metrics, ShimError> {
    let file = |controller: &str, name: &str| dirs.get(controller).map(|d| d.join(name));
    let num = |controller: &str, name: &str, max_as: u64| file(controller, name).and_then(|p| number(host, &p, max_as));
    let pids = num("pids", "pids.current", 0).map(|current| Pids {
        current,
        limit: num("pids", "pids.max", 0).unwrap_or(0),
    });
    let cpu = num("cpuacct", "cpuacct.usage", 0).map(|total| {
        let stat = file("cpuacct", "cpuacct.stat")
            .and_then(|p| flat_file(host, &p))
            .unwrap_or_default();
        let ns = |k: &str| {
            stat.get(k)
                .copied()
                .unwrap_or(0)
                .saturating_mul(1_000_000_000 / CLOCK_TICKS)
        };
        V1Cpu {
            total,
            user: ns("user"),
            kernel: ns("system"),
            per_cpu: file("cpuacct", "cpuacct.usage_percpu")
                .and_then(|p| text(host, &p))
                .map(|t| t.split_whitespace().filter_map(|n| n.parse().ok()).collect())
                .unwrap_or_default(),
            throttling: file("cpu", "cpu.stat")
                .and_then(|p| flat_file(host, &p))
                .unwrap_or_default(),
        }
    });
    let entry = |prefix: &str| MemoryEntry {
        usage: num("memory", &format!("{prefix}usage_in_bytes"), 0).unwrap_or(0),
        limit: num("memory", &format!("{prefix}limit_in_bytes"), 0).unwrap_or(0),
        max: num("memory", &format!("{prefix}max_usage_in_bytes"), 0).unwrap_or(0),
        failcnt: num("memory", &format!("{prefix}failcnt"), 0).unwrap_or(0),
    };
    let memory = num("memory", "memory.usage_in_bytes", 0).map(|_| V1Memory {
        stat: file("memory", "memory.stat")
            .and_then(|p| flat_file(host, &p))
            .unwrap_or_default(),
        usage: entry("memory."),
        swap: entry("memory.memsw."),
        kernel: entry("memory.kmem."),
        kernel_tcp: entry("memory.kmem.tcp."),
    });
    let blkio = dirs.get("blkio").filter(|d| host.exists(d)).map(|d| {
        // The proportional (CFQ/BFQ) files, else the throttle ones, which
        // count every device (containerd's choice too).
        let pick = |names: [&str; 2]| {
            names
                .iter()
                .map(|n| text(host, &d.join(n)).map(|t| blkio_entries(&t)).unwrap_or_default())
                .find(|v| !v.is_empty())
                .unwrap_or_default()
        };
        V1Blkio {
            service_bytes: pick([
                "blkio.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes_recursive",
            ]),
            serviced: pick(["blkio.io_serviced_recursive", "blkio.throttle.io_serviced_recursive"]),
        }
    });
    if pids.is_none() && cpu.is_none() && memory.is_none() {
        let where_ = dirs.get("memory").or_else(|| dirs.values().next());
        return Err(ShimError::Cgroup(format!(
            "no counters readable in {} (gone?)",
            where_.map(|p| p.display().to_string()).unwrap_or_default()
        )));
    }
    Ok(V1Metrics {
        pids,
        cpu,
        memory,
        blkio,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup_text::unescape;
    use crate::host::RecordingHost;

    /// The cgroup files of `dir`, as the recording host serves them.
    fn write(host: &RecordingHost, dir: &Path, files: &[(&str, &str)]) {
        for (name, body) in files {
            host.put(dir.join(name), *body);
        }
    }

    #[test]
    fn a_v2_directory_is_read() {
        let host = RecordingHost::new();
        let d = Path::new("/sys/fs/cgroup/default/c1");
        write(
            &host,
            d,
            &[
                ("cgroup.procs", "42\n"),
                ("memory.current", "1236992\n"),
                ("memory.max", "max\n"),
                ("memory.peak", "2000000\n"),
                (
                    "memory.stat",
                    "anon 364544\nfile 8192\nkernel_stack 16384\npgfault 420\nbogus line here\nfile_dirty x\n",
                ),
                ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
                (
                    "cpu.stat",
                    "usage_usec 15329\nuser_usec 4567\nsystem_usec 10762\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
                ),
                ("pids.current", "2\n"),
                ("pids.max", "max\n"),
                (
                    "io.stat",
                    "8:0 rbytes=1024 wbytes=4096 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=7 wbytes=0 rios=1 wios=0\nnot-a-device rbytes=1\n",
                ),
            ],
        );
        let m = read_v2(&host, d).unwrap();
        assert_eq!(m.pids, Some(Pids { current: 2, limit: 0 }));
        let mem = m.memory.unwrap();
        assert_eq!(
            (mem.usage, mem.limit, mem.max_usage, mem.swap_usage),
            (1236992, u64::MAX, 2000000, 0)
        );
        assert_eq!(mem.stat["anon"], 364544);
        assert_eq!(mem.stat["pgfault"], 420);
        assert!(!mem.stat.contains_key("bogus") && !mem.stat.contains_key("file_dirty"));
        assert_eq!(m.memory_events.unwrap()["oom_kill"], 1);
        let cpu = m.cpu.unwrap();
        assert_eq!(
            (cpu["usage_usec"], cpu["user_usec"], cpu["system_usec"]),
            (15329, 4567, 10762)
        );
        assert_eq!(
            m.io,
            [
                IoEntry {
                    major: 8,
                    minor: 0,
                    rbytes: 1024,
                    wbytes: 4096,
                    rios: 1,
                    wios: 2
                },
                IoEntry {
                    major: 253,
                    minor: 1,
                    rbytes: 7,
                    wbytes: 0,
                    rios: 1,
                    wios: 0
                },
            ]
        );
        // A limit, and controllers that are not enabled.
        write(&host, d, &[("memory.max", "64000000\n"), ("pids.max", "99\n")]);
        host.remove(&d.join("io.stat"));
        host.remove(&d.join("cpu.stat"));
        let m = read_v2(&host, d).unwrap();
        assert_eq!(m.memory.unwrap().limit, 64000000);
        assert_eq!(m.pids.unwrap().limit, 99);
        assert!(m.cpu.is_none() && m.io.is_empty());
        // A cgroup that is gone.
        let e = read_v2(&host, &d.join("gone")).unwrap_err();
        assert!(e.to_string().contains("is not a cgroup (gone?)"), "{e}");
    }

    #[test]
    fn v1_controllers_are_read() {
        let host = RecordingHost::new();
        let d = Path::new("/sys/fs/cgroup");
        let dirs: BTreeMap<String, PathBuf> = ["memory", "cpu", "cpuacct", "pids", "blkio", "freezer"]
            .iter()
            .map(|c| (c.to_string(), d.join(c).join("default/c1")))
            .collect();
        write(
            &host,
            &dirs["memory"],
            &[
                ("memory.usage_in_bytes", "811008\n"),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.max_usage_in_bytes", "1000000\n"),
                ("memory.failcnt", "0\n"),
                ("memory.memsw.usage_in_bytes", "811008\n"),
                (
                    "memory.stat",
                    "cache 4096\nrss 200704\ntotal_cache 4096\ntotal_rss 200704\n",
                ),
            ],
        );
        write(
            &host,
            &dirs["cpuacct"],
            &[
                ("cpuacct.usage", "12345678\n"),
                ("cpuacct.stat", "user 3\nsystem 1\n"),
                ("cpuacct.usage_percpu", "12000000 345678 \n"),
            ],
        );
        write(
            &host,
            &dirs["cpu"],
            &[("cpu.stat", "nr_periods 5\nnr_throttled 1\nthrottled_time 999\n")],
        );
        write(&host, &dirs["pids"], &[("pids.current", "1\n"), ("pids.max", "max\n")]);
        write(
            &host,
            &dirs["blkio"],
            &[
                ("blkio.io_service_bytes_recursive", "Total 0\n"),
                (
                    "blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 4096\n8:0 Write 0\n8:0 Total 4096\nTotal 4096\n",
                ),
            ],
        );
        let m = read_v1(&host, &dirs).unwrap();
        assert_eq!(m.pids, Some(Pids { current: 1, limit: 0 }));
        let cpu = m.cpu.unwrap();
        assert_eq!((cpu.total, cpu.user, cpu.kernel), (12345678, 30_000_000, 10_000_000));
        assert_eq!(cpu.per_cpu, [12000000, 345678]);
        assert_eq!(cpu.throttling["throttled_time"], 999);
        let mem = m.memory.unwrap();
        assert_eq!(
            mem.usage,
            MemoryEntry {
                usage: 811008,
                limit: 9223372036854771712,
                max: 1000000,
                failcnt: 0
            }
        );
        assert_eq!(mem.swap.usage, 811008);
        assert_eq!(mem.kernel, MemoryEntry::default());
        assert_eq!(mem.stat["total_rss"], 200704);
        let blkio = m.blkio.unwrap();
        assert_eq!(blkio.service_bytes.len(), 3);
        assert_eq!(
            blkio.service_bytes[0],
            BlkioEntry {
                op: "Read".into(),
                major: 8,
                minor: 0,
                value: 4096
            }
        );
        assert!(blkio.serviced.is_empty());
        // All gone: an error, not zeros.
        let gone: BTreeMap<String, PathBuf> = [("memory".to_owned(), d.join("nope"))].into();
        let e = read_v1(&host, &gone).unwrap_err();
        assert!(e.to_string().contains("no counters readable"), "{e}");
    }

    const HYBRID_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /mnt/with\\040space rw - ext4 /dev/sda1 rw
";

    #[test]
    fn the_cgroup_of_a_process_is_found_in_either_hierarchy() {
        let proc_cgroup = "9:name=systemd:/default/c1\n8:pids:/default/c1\n6:freezer:/default/c1\n\
                           4:memory:/default/c1\n1:cpu,cpuacct:/default/c1\n0::/default/c1\n";
        let Cgroup::Legacy(dirs) = Cgroup::locate(proc_cgroup, HYBRID_MOUNTS).unwrap() else {
            panic!("hybrid hosts are read through v1")
        };
        assert_eq!(dirs["memory"], Path::new("/sys/fs/cgroup/memory/default/c1"));
        assert_eq!(dirs["cpuacct"], Path::new("/sys/fs/cgroup/cpu,cpuacct/default/c1"));
        assert_eq!(dirs["cpu"], dirs["cpuacct"]);
        assert_eq!(dirs["freezer"], Path::new("/sys/fs/cgroup/freezer/default/c1"));
        // Pure v2.
        let v2 = "40 23 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            Cgroup::locate("0::/default/c1\n", v2).unwrap(),
            Cgroup::Unified("/sys/fs/cgroup/default/c1".into())
        );
        // A mount of a sub-tree (a nested container) and a path outside it.
        let sub = "40 23 0:30 /kubepods /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            Cgroup::locate("0::/kubepods/pod1/c1\n", sub).unwrap(),
            Cgroup::Unified("/sys/fs/cgroup/pod1/c1".into())
        );
        assert!(Cgroup::locate("0::/kubepodsX/c1\n", sub).is_err());
        // Outside the reader's cgroup namespace: refused, not resolved upwards.
        let e = Cgroup::locate("0::/../../c1\n", v2).unwrap_err();
        assert!(e.contains("outside this cgroup namespace"), "{e}");
        assert!(Cgroup::locate("0::/c1\n", "").is_err());
        assert_eq!(unescape("/mnt/with\\040space"), "/mnt/with space");
    }
}
