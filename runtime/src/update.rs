//! `cerro-runtime update --resources FILE ID`: new cgroup limits for a
//! container that exists (created, running or paused), as `runc update
//! --resources` sets them. FILE holds an OCI `linux.resources` object
//! (JSON), what containerd passes with a task update (`ctr task update`,
//! CRI's UpdateContainerResources): libcgroups' manager applies it to the
//! container's cgroup, without touching its freezer state.
//!
//! What can change: `memory`, `cpu` (shares, quota, period, realtime, cpus,
//! mems), `pids`, `blockIO`, `hugepageLimits`, and on cgroup v2 `unified`.
//! What cannot is refused, unless the request only repeats the container's
//! own configuration (CRI sends the whole `linux.resources` of the spec):
//! `devices` (a new device rule set would be written over the running
//! container's, and on cgroup v1 that begins by denying every device),
//! `network` and `rdma` (not applied by libcgroups), and `unified` on a
//! cgroup v1 host (ignored there: accepting it would claim a limit that is
//! not set).

use std::io::Read as _;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use libcgroups::common::{
    create_cgroup_manager, get_cgroup_setup, AnyCgroupManager, CgroupConfig, CgroupManager, CgroupSetup, ControllerOpt,
};
use libcontainer::container::ContainerStatus;
use libcontainer::oci_spec::runtime::{LinuxResources, Spec};

/// Reads the `linux.resources` object in `file` (`-`: stdin).
pub fn read_resources(file: &Path) -> Result<LinuxResources> {
    let mut bytes = Vec::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).context("reading stdin")?;
    } else {
        bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    }
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not an OCI linux.resources object", file.display()))
}

/// What of `requested` can be applied to a container configured with
/// `configured` (its `config.json`'s `linux.resources`) on a host with
/// cgroup v2 (`unified`) or v1: the request without the parts that only
/// repeat the configuration, or why it cannot be applied.
pub fn applicable(
    requested: &LinuxResources,
    configured: Option<&LinuxResources>,
    unified: bool,
) -> Result<LinuxResources, String> {
    let mut apply = requested.clone();
    // Each fixed field: absent, or what the container already has.
    if !unchanged(requested.devices(), configured.and_then(|c| c.devices().as_ref())) {
        return Err(refused("devices", "the device rules of a created container are fixed"));
    }
    apply.set_devices(None);
    if !unchanged(requested.network(), configured.and_then(|c| c.network().as_ref())) {
        return Err(refused("network", "net_cls/net_prio are not updated by this runtime"));
    }
    apply.set_network(None);
    if !unchanged(requested.rdma(), configured.and_then(|c| c.rdma().as_ref())) {
        return Err(refused("rdma", "the rdma controller is not supported by this runtime"));
    }
    apply.set_rdma(None);
    if !unified {
        let asks = requested.unified().as_ref().is_some_and(|u| !u.is_empty());
        if asks && !unchanged(requested.unified(), configured.and_then(|c| c.unified().as_ref())) {
            return Err(refused("unified", "it needs cgroup v2 and this host has cgroup v1"));
        }
        apply.set_unified(None);
    }
    Ok(apply)
}

/// Whether the request leaves a field as the container has it.
fn unchanged<T: PartialEq>(asked: &Option<T>, have: Option<&T>) -> bool {
    asked.as_ref().is_none_or(|a| Some(a) == have)
}

fn refused(field: &str, why: &str) -> String {
    format!(
        "cannot update linux.resources.{field} ({why}); memory, cpu, pids, blockIO, hugepageLimits \
         and (cgroup v2) unified can be updated"
    )
}

/// The manager of container `c`'s cgroup (`ps`, `update`, `events`).
pub(crate) fn cgroup_of(c: &libcontainer::container::Container, id: &str) -> Result<AnyCgroupManager> {
    create_cgroup_manager(CgroupConfig {
        cgroup_path: c.spec()?.cgroup_path,
        systemd_cgroup: c.systemd(),
        container_name: id.to_owned(),
    })
    .with_context(|| format!("the cgroup of container {id}"))
}

/// The pids in container `id`'s cgroup (`ps`).
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let c = crate::load(root, id)?;
    let manager = cgroup_of(&c, id)?;
    let mut pids: Vec<i32> = manager
        .get_all_pids()
        .with_context(|| format!("reading the pids of container {id}"))?
        .into_iter()
        .map(|p| p.as_raw())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Applies `requested` to container `id`'s cgroup.
pub fn update(root: &Path, id: &str, requested: &LinuxResources) -> Result<()> {
    let c = crate::load(root, id)?;
    match c.status() {
        ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused => {}
        s => bail!("cannot update container {id}: it is {}", s.to_string().to_lowercase()),
    }
    let config = c.bundle().join("config.json");
    let spec = Spec::load(&config).with_context(|| format!("reading {}", config.display()))?;
    let configured = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let setup = get_cgroup_setup().context("finding the host's cgroup setup")?;
    let apply = applicable(requested, configured, matches!(setup, CgroupSetup::Unified))
        .map_err(|why| anyhow::anyhow!("container {id}: {why}"))?;
    // The memory controller rewrites `memory.oom_control` whenever memory
    // limits are given: keep the container's setting unless asked.
    let disable_oom_killer = requested
        .memory()
        .as_ref()
        .and_then(|m| m.disable_oom_killer())
        .or_else(|| {
            configured
                .and_then(|r| r.memory().as_ref())
                .and_then(|m| m.disable_oom_killer())
        })
        .unwrap_or(false);
    let manager = cgroup_of(&c, id)?;
    manager
        .apply(&ControllerOpt {
            resources: &apply,
            disable_oom_killer,
            oom_score_adj: None,
            freezer_state: None,
        })
        .with_context(|| format!("updating the cgroup of container {id}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    /// What containerd 1.6's CRI keeps in the spec (deny all, then allow
    /// the defaults) and resends whole with UpdateContainerResources.
    const CONFIGURED: &str = r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}],
        "memory":{"limit":100000000},"network":{"classID":7}}"#;

    #[test]
    fn limits_pass_and_repeated_fixed_fields_are_dropped() {
        // `ctr task update --memory-limit`: only memory.
        let a = applicable(&res(r#"{"memory":{"limit":64000000}}"#), Some(&res(CONFIGURED)), false).unwrap();
        assert_eq!(a.memory().as_ref().unwrap().limit(), Some(64000000));
        // CRI: the whole resources, devices and network unchanged.
        let cri = r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}],
            "memory":{"limit":64000000},"cpu":{"shares":512,"quota":50000,"period":100000},"pids":{"limit":99},"network":{"classID":7}}"#;
        let a = applicable(&res(cri), Some(&res(CONFIGURED)), false).unwrap();
        assert!(a.devices().is_none() && a.network().is_none());
        assert_eq!(a.cpu().as_ref().unwrap().shares(), Some(512));
        assert_eq!(a.pids().as_ref().unwrap().limit(), 99);
        // Unified passes on cgroup v2.
        let a = applicable(&res(r#"{"unified":{"memory.high":"50000000"}}"#), None, true).unwrap();
        assert_eq!(a.unified().as_ref().unwrap()["memory.high"], "50000000");
        // An empty object asks nothing.
        assert_eq!(applicable(&res("{}"), None, false).unwrap(), LinuxResources::default());
    }

    #[test]
    fn what_cannot_be_applied_is_refused_by_name() {
        let cases = [
            (
                r#"{"devices":[{"allow":true,"access":"rwm"}]}"#,
                true,
                "linux.resources.devices",
            ),
            (r#"{"network":{"classID":8}}"#, true, "linux.resources.network"),
            (r#"{"rdma":{"mlx5_0":{"hcaHandles":3}}}"#, true, "linux.resources.rdma"),
            (
                r#"{"unified":{"memory.high":"50000000"}}"#,
                false,
                "linux.resources.unified (it needs cgroup v2 and this host has cgroup v1)",
            ),
        ];
        for (json, unified, want) in cases {
            let e = applicable(&res(json), Some(&res(CONFIGURED)), unified).unwrap_err();
            assert!(e.starts_with(&format!("cannot update {want}")), "{json}: {e}");
            assert!(e.ends_with("memory, cpu, pids, blockIO, hugepageLimits and (cgroup v2) unified can be updated"));
        }
        // A container without devices in its config: any device rule is a change.
        assert!(applicable(&res(r#"{"devices":[]}"#), None, false).is_err());
    }

    #[test]
    fn a_file_that_is_not_linux_resources_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.json");
        std::fs::write(&f, r#"{"memory":{"limit":"lots"}}"#).unwrap();
        let e = read_resources(&f).unwrap_err();
        assert!(
            format!("{e:#}").contains("is not an OCI linux.resources object"),
            "{e:#}"
        );
        std::fs::write(&f, r#"{"memory":{"limit":64000000}}"#).unwrap();
        assert_eq!(
            read_resources(&f).unwrap().memory().as_ref().unwrap().limit(),
            Some(64000000)
        );
    }
}
