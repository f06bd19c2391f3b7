//! `cerro-runtime events ID`: the container's cgroup statistics as runc's
//! `events` prints them: with `--stats` one event and exit; without, one
//! event every `--interval` (Go duration syntax, default `5s`) until the
//! container has stopped.
//!
//! An event is runc's `types.Event`, `{"type":"stats","id":ID,"data":…}`,
//! `data` its `types.Stats` (cpu usage and throttling, memory entries with
//! their `limit` and `failcnt`, `raw` from `memory.stat`, pids, blkio,
//! hugetlb), converted from what libcgroups reads; fields runc omits when
//! zero (Go's `omitempty`) are omitted here too. What is not reported:
//! `intel_rdt` and `network_interfaces` (runc reads the container's
//! network namespace; this runtime does not), and runc's `oom` events in
//! the stream (containerd's shims watch OOM kills themselves). Unlike
//! runc, which goes on printing errors for a container that has gone, the
//! stream ends (status 0) once the container is stopped.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use libcgroups::common::CgroupManager;
use libcgroups::stats::{BlkioDeviceStat, MemoryData, Stats};
use libcontainer::container::ContainerStatus;
use serde_json::{json, Map, Value};

/// The statistics of container `id` now, as runc's event object.
pub fn stats_event(root: &Path, id: &str) -> Result<Value> {
    let c = crate::load(root, id)?;
    let manager = crate::update::cgroup_of(&c, id)?;
    let stats = manager
        .stats()
        .with_context(|| format!("reading the cgroup statistics of container {id}"))?;
    Ok(json!({"type": "stats", "id": id, "data": runc_stats(&stats)}))
}

/// Prints events for `id`: one with `once`, else one every `interval`
/// until the container has stopped.
pub fn events(root: &Path, id: &str, once: bool, interval: Duration) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    loop {
        let mut c = crate::load(root, id)?;
        c.refresh_status()?;
        if c.status() == ContainerStatus::Stopped {
            if once {
                bail!("container {id} is stopped: no statistics");
            }
            return Ok(());
        }
        let event = stats_event(root, id)?;
        // A reader that went away ends the stream.
        if writeln!(out, "{event}").and_then(|()| out.flush()).is_err() || once {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

/// libcgroups' statistics in runc's `types.Stats` shape.
pub fn runc_stats(s: &Stats) -> Value {
    let mut usage = Map::new();
    put_nonzero(&mut usage, "total", s.cpu.usage.usage_total);
    put_nonempty(&mut usage, "percpu", &s.cpu.usage.per_core_usage_total);
    put_nonempty(&mut usage, "percpu_kernel", &s.cpu.usage.per_core_usage_kernel);
    put_nonempty(&mut usage, "percpu_user", &s.cpu.usage.per_core_usage_user);
    usage.insert("kernel".into(), json!(s.cpu.usage.usage_kernel));
    usage.insert("user".into(), json!(s.cpu.usage.usage_user));
    let mut throttling = Map::new();
    put_nonzero(&mut throttling, "periods", s.cpu.throttling.periods);
    put_nonzero(&mut throttling, "throttledPeriods", s.cpu.throttling.throttled_periods);
    put_nonzero(&mut throttling, "throttledTime", s.cpu.throttling.throttled_time);

    let mut memory = Map::new();
    put_nonzero(&mut memory, "cache", s.memory.cache);
    memory.insert("usage".into(), entry(&s.memory.memory));
    memory.insert("swap".into(), entry(&s.memory.memswap));
    memory.insert("kernel".into(), entry(&s.memory.kernel));
    memory.insert("kernelTCP".into(), entry(&s.memory.kernel_tcp));
    if !s.memory.stats.is_empty() {
        let raw: std::collections::BTreeMap<_, _> = s.memory.stats.iter().collect();
        memory.insert("raw".into(), json!(raw));
    }

    let mut pids = Map::new();
    put_nonzero(&mut pids, "current", s.pids.current);
    put_nonzero(&mut pids, "limit", s.pids.limit);

    let mut blkio = Map::new();
    for (key, list) in [
        ("ioServiceBytesRecursive", &s.blkio.service_bytes),
        ("ioServicedRecursive", &s.blkio.serviced),
        ("ioQueueRecursive", &s.blkio.queued),
        ("ioServiceTimeRecursive", &s.blkio.service_time),
        ("ioWaitTimeRecursive", &s.blkio.wait_time),
        ("ioMergedRecursive", &s.blkio.merged),
        ("ioTimeRecursive", &s.blkio.time),
        ("sectorsRecursive", &s.blkio.sectors),
    ] {
        if !list.is_empty() {
            blkio.insert(key.into(), Value::Array(list.iter().map(blkio_entry).collect()));
        }
    }

    let hugetlb: Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(size, h)| {
            let mut e = Map::new();
            put_nonzero(&mut e, "usage", h.usage);
            put_nonzero(&mut e, "max", h.max_usage);
            e.insert("failcnt".into(), json!(h.fail_count));
            (size.clone(), Value::Object(e))
        })
        .collect();

    json!({
        "cpu": {"usage": usage, "throttling": throttling},
        "memory": memory,
        "pids": pids,
        "blkio": blkio,
        "hugetlb": hugetlb,
        "intel_rdt": {},
        "network_interfaces": null,
    })
}

/// runc's `MemoryEntry`: `limit` and `failcnt` always, `usage` and `max`
/// when not zero.
fn entry(m: &MemoryData) -> Value {
    let mut e = Map::new();
    e.insert("limit".into(), json!(m.limit));
    put_nonzero(&mut e, "usage", m.usage);
    put_nonzero(&mut e, "max", m.max_usage);
    e.insert("failcnt".into(), json!(m.fail_count));
    Value::Object(e)
}

fn blkio_entry(b: &BlkioDeviceStat) -> Value {
    json!({
        "major": b.major,
        "minor": b.minor,
        "op": b.op_type.clone().unwrap_or_default(),
        "value": b.value,
    })
}

fn put_nonzero(m: &mut Map<String, Value>, key: &str, v: u64) {
    if v != 0 {
        m.insert(key.into(), json!(v));
    }
}

fn put_nonempty(m: &mut Map<String, Value>, key: &str, v: &[u64]) {
    if !v.is_empty() {
        m.insert(key.into(), json!(v));
    }
}

/// A Go duration as runc's `--interval` takes it (`5s`, `100ms`,
/// `1m30s`; units ns, us, µs, ms, s, m, h), at least a millisecond.
pub fn parse_interval(s: &str) -> Result<Duration> {
    let bad = || anyhow::anyhow!("--interval {s:?} is not a duration (e.g. 5s, 500ms, 1m30s)");
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let (num, tail) = rest.split_at(digits);
        let value: f64 = num.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        let nanos = value * nanos_per;
        // Bounded: a day at most.
        if !nanos.is_finite() || nanos > 86_400e9 {
            return Err(bad());
        }
        total += Duration::from_nanos(nanos as u64);
        rest = next;
    }
    if total < Duration::from_millis(1) {
        bail!("--interval {s:?} is shorter than a millisecond");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_interval("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_interval("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "5", "s", "5x", "-1s", "10ns", "1000000h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stats_take_runcs_shape() {
        let mut s = Stats::default();
        s.cpu.usage.usage_total = 42;
        s.cpu.usage.per_core_usage_total = vec![40, 2];
        s.memory.memory = MemoryData {
            usage: 4096,
            max_usage: 8192,
            fail_count: 0,
            limit: 67_108_864,
        };
        s.memory.stats.insert("cache".into(), 0);
        s.pids.current = 1;
        s.pids.limit = 100;
        let v = runc_stats(&s);
        assert_eq!(
            v["cpu"],
            json!({"usage": {"total": 42, "percpu": [40, 2], "kernel": 0, "user": 0}, "throttling": {}})
        );
        assert_eq!(
            v["memory"]["usage"],
            json!({"limit": 67_108_864, "usage": 4096, "max": 8192, "failcnt": 0})
        );
        // Zero usage is omitted, limit and failcnt are not (runc's omitempty).
        assert_eq!(v["memory"]["swap"], json!({"limit": 0, "failcnt": 0}));
        assert_eq!(v["memory"]["raw"], json!({"cache": 0}));
        assert!(v["memory"].get("cache").is_none());
        assert_eq!(v["pids"], json!({"current": 1, "limit": 100}));
        assert_eq!(v["blkio"], json!({}));
        assert_eq!(v["hugetlb"], json!({}));
    }
}
