//! A cgroup's readings as containerd's metrics types, packed in an `Any`
//! the way containerd's own shims answer `Stats`:
//! `io.containerd.cgroups.v1.Metrics` for a cgroup v1 (or hybrid) host,
//! `io.containerd.cgroups.v2.Metrics` for cgroup v2. `ctr task metrics`
//! prints either; CRI's container stats (`kubectl top`) read the CPU and
//! memory fields of both.

use containerd_shim::protos::cgroups::metrics as v1;
use containerd_shim::protos::cgroups_v2::metrics as v2;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{MessageField, MessageFull};

use crate::cgroup::{Flat, MemoryEntry, Metrics, V1Metrics, V2Metrics};
use crate::error::ShimError;

/// Copies the values of `flat` named like the fields into them.
macro_rules! from_flat {
    ($target:expr, $flat:expr, $($field:ident),* $(,)?) => {
        $(
            if let Some(v) = $flat.get(stringify!($field)) {
                $target.$field = *v;
            }
        )*
    };
}

/// The metrics message of `m`, in an `Any` whose type URL is the
/// message's full name (what containerd's `typeurl` resolves).
pub fn to_any(m: &Metrics) -> Result<Any, ShimError> {
    match m {
        Metrics::V1(m) => pack(&to_v1(m)),
        Metrics::V2(m) => pack(&to_v2(m)),
    }
}

fn pack<M: MessageFull>(m: &M) -> Result<Any, ShimError> {
    let mut any = Any::new();
    any.type_url = M::descriptor().full_name().to_owned();
    any.value = m
        .write_to_bytes()
        .map_err(|e| ShimError::Cgroup(format!("encoding {}: {e}", any.type_url)))?;
    Ok(any)
}

fn to_v2(m: &V2Metrics) -> v2::Metrics {
    let mut out = v2::Metrics::new();
    if let Some(p) = m.pids {
        let mut s = v2::PidsStat::new();
        s.current = p.current;
        s.limit = p.limit;
        out.pids = MessageField::some(s);
    }
    if let Some(stat) = &m.cpu {
        let mut c = v2::CPUStat::new();
        from_flat!(
            c,
            stat,
            usage_usec,
            user_usec,
            system_usec,
            nr_periods,
            nr_throttled,
            throttled_usec,
            nr_bursts,
            burst_usec
        );
        out.cpu = MessageField::some(c);
    }
    if let Some(mem) = &m.memory {
        let mut s = v2::MemoryStat::new();
        from_flat!(
            s,
            mem.stat,
            anon,
            file,
            kernel_stack,
            slab,
            sock,
            shmem,
            file_mapped,
            file_dirty,
            file_writeback,
            anon_thp,
            inactive_anon,
            active_anon,
            inactive_file,
            active_file,
            unevictable,
            slab_reclaimable,
            slab_unreclaimable,
            pgfault,
            pgmajfault,
            workingset_refault,
            workingset_activate,
            workingset_nodereclaim,
            pgrefill,
            pgscan,
            pgsteal,
            pgactivate,
            pgdeactivate,
            pglazyfree,
            pglazyfreed,
            thp_fault_alloc,
            thp_collapse_alloc,
        );
        s.usage = mem.usage;
        s.usage_limit = mem.limit;
        s.max_usage = mem.max_usage;
        s.swap_usage = mem.swap_usage;
        s.swap_limit = mem.swap_limit;
        s.swap_max_usage = mem.swap_max_usage;
        out.memory = MessageField::some(s);
    }
    if let Some(ev) = &m.memory_events {
        let mut e = v2::MemoryEvents::new();
        from_flat!(e, ev, low, high, max, oom, oom_kill, oom_group_kill);
        out.memory_events = MessageField::some(e);
    }
    if !m.io.is_empty() {
        let mut io = v2::IOStat::new();
        io.usage =
            m.io.iter()
                .map(|d| {
                    let mut e = v2::IOEntry::new();
                    (e.major, e.minor, e.rbytes, e.wbytes, e.rios, e.wios) =
                        (d.major, d.minor, d.rbytes, d.wbytes, d.rios, d.wios);
                    e
                })
                .collect();
        out.io = MessageField::some(io);
    }
    out
}

fn entry(e: &MemoryEntry) -> MessageField<v1::MemoryEntry> {
    let mut m = v1::MemoryEntry::new();
    (m.usage, m.limit, m.max, m.failcnt) = (e.usage, e.limit, e.max, e.failcnt);
    MessageField::some(m)
}

/// `memory.stat`'s names where they differ from the message's.
fn v1_memory_stat(s: &mut v1::MemoryStat, stat: &Flat) {
    from_flat!(
        s,
        stat,
        cache,
        rss,
        rss_huge,
        mapped_file,
        dirty,
        writeback,
        inactive_anon,
        active_anon,
        inactive_file,
        active_file,
        unevictable,
        hierarchical_memory_limit,
        total_cache,
        total_rss,
        total_rss_huge,
        total_mapped_file,
        total_dirty,
        total_writeback,
        total_inactive_anon,
        total_active_anon,
        total_inactive_file,
        total_active_file,
        total_unevictable,
    );
    let g = |k: &str| stat.get(k).copied().unwrap_or(0);
    s.pg_pg_in = g("pgpgin");
    s.pg_pg_out = g("pgpgout");
    s.pg_fault = g("pgfault");
    s.pg_maj_fault = g("pgmajfault");
    s.total_pg_pg_in = g("total_pgpgin");
    s.total_pg_pg_out = g("total_pgpgout");
    s.total_pg_fault = g("total_pgfault");
    s.total_pg_maj_fault = g("total_pgmajfault");
    s.hierarchical_swap_limit = g("hierarchical_memsw_limit");
}

fn to_v1(m: &V1Metrics) -> v1::Metrics {
    let mut out = v1::Metrics::new();
    if let Some(p) = m.pids {
        let mut s = v1::PidsStat::new();
        s.current = p.current;
        s.limit = p.limit;
        out.pids = MessageField::some(s);
    }
    if let Some(c) = &m.cpu {
        let mut usage = v1::CPUUsage::new();
        usage.total = c.total;
        usage.user = c.user;
        usage.kernel = c.kernel;
        usage.per_cpu = c.per_cpu.clone();
        let mut t = v1::Throttle::new();
        let g = |k: &str| c.throttling.get(k).copied().unwrap_or(0);
        (t.periods, t.throttled_periods, t.throttled_time) = (g("nr_periods"), g("nr_throttled"), g("throttled_time"));
        let mut s = v1::CPUStat::new();
        s.usage = MessageField::some(usage);
        s.throttling = MessageField::some(t);
        out.cpu = MessageField::some(s);
    }
    if let Some(mem) = &m.memory {
        let mut s = v1::MemoryStat::new();
        v1_memory_stat(&mut s, &mem.stat);
        // `ctr task metrics` reads `usage` without checking it is set.
        s.usage = entry(&mem.usage);
        s.swap = entry(&mem.swap);
        s.kernel = entry(&mem.kernel);
        s.kernel_tcp = entry(&mem.kernel_tcp);
        out.memory = MessageField::some(s);
    }
    if let Some(b) = &m.blkio {
        let conv = |v: &[crate::cgroup::BlkioEntry]| {
            v.iter()
                .map(|e| {
                    let mut x = v1::BlkIOEntry::new();
                    x.op = e.op.clone();
                    (x.major, x.minor, x.value) = (e.major, e.minor, e.value);
                    x
                })
                .collect()
        };
        let mut s = v1::BlkIOStat::new();
        s.io_service_bytes_recursive = conv(&b.service_bytes);
        s.io_serviced_recursive = conv(&b.serviced);
        out.blkio = MessageField::some(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::{IoEntry, Pids, V1Cpu, V1Memory, V2Memory};
    use containerd_shim::protos::protobuf::Message;

    fn flat(kv: &[(&str, u64)]) -> Flat {
        kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn v2_readings_become_containerds_v2_metrics() {
        let m = Metrics::V2(V2Metrics {
            pids: Some(Pids { current: 3, limit: 0 }),
            cpu: Some(flat(&[("usage_usec", 15), ("user_usec", 10), ("system_usec", 5)])),
            memory: Some(V2Memory {
                stat: flat(&[("anon", 4096), ("pgfault", 7), ("unknown_key", 1)]),
                usage: 1236992,
                limit: u64::MAX,
                ..Default::default()
            }),
            memory_events: Some(flat(&[("oom_kill", 2)])),
            io: vec![IoEntry {
                major: 8,
                minor: 0,
                rbytes: 1024,
                wbytes: 2048,
                rios: 1,
                wios: 2,
            }],
        });
        let any = to_any(&m).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v2.Metrics");
        let back = v2::Metrics::parse_from_bytes(&any.value).unwrap();
        assert_eq!((back.pids.current, back.pids.limit), (3, 0));
        assert_eq!(
            (back.cpu.usage_usec, back.cpu.user_usec, back.cpu.system_usec),
            (15, 10, 5)
        );
        assert_eq!(
            (
                back.memory.usage,
                back.memory.usage_limit,
                back.memory.anon,
                back.memory.pgfault
            ),
            (1236992, u64::MAX, 4096, 7)
        );
        assert_eq!(back.memory_events.oom_kill, 2);
        assert_eq!((back.io.usage[0].major, back.io.usage[0].wbytes), (8, 2048));
    }

    #[test]
    fn v1_readings_become_containerds_v1_metrics() {
        let m = Metrics::V1(V1Metrics {
            pids: Some(Pids { current: 1, limit: 99 }),
            cpu: Some(V1Cpu {
                total: 12345678,
                user: 30_000_000,
                kernel: 10_000_000,
                per_cpu: vec![12000000, 345678],
                throttling: flat(&[("nr_periods", 5), ("throttled_time", 999)]),
            }),
            memory: Some(V1Memory {
                stat: flat(&[
                    ("total_cache", 4096),
                    ("rss", 8192),
                    ("pgpgin", 11),
                    ("hierarchical_memsw_limit", 77),
                ]),
                usage: MemoryEntry {
                    usage: 811008,
                    limit: 64000000,
                    max: 1000000,
                    failcnt: 0,
                },
                ..Default::default()
            }),
            blkio: None,
        });
        let any = to_any(&m).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v1.Metrics");
        let back = v1::Metrics::parse_from_bytes(&any.value).unwrap();
        // What `ctr task metrics` prints for v1.
        assert_eq!(back.memory.usage.usage, 811008);
        assert_eq!(back.memory.usage.limit, 64000000);
        assert_eq!(back.memory.total_cache, 4096);
        assert_eq!(
            (
                back.memory.rss,
                back.memory.pg_pg_in,
                back.memory.hierarchical_swap_limit
            ),
            (8192, 11, 77)
        );
        assert_eq!(back.cpu.usage.total, 12345678);
        assert_eq!(back.cpu.usage.per_cpu, [12000000, 345678]);
        assert_eq!(
            (back.cpu.throttling.periods, back.cpu.throttling.throttled_time),
            (5, 999)
        );
        assert_eq!((back.pids.current, back.pids.limit), (1, 99));
        assert!(back.blkio.is_none());
    }
}
