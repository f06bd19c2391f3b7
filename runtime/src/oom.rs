//! `process.oomScoreAdj`, and why a container cannot get it.
//!
//! libcontainer writes the value to `/proc/self/oom_score_adj` of this
//! process before it clones the container (children inherit it), as runc
//! does. The kernel lets a process lower its score below what it was given
//! only with CAP_SYS_RESOURCE (`EACCES` otherwise). containerd's CRI asks
//! for `-998` for every pod sandbox, so on a host whose root lacks that
//! capability (a container, a user namespace, this project's CI machine)
//! every pod fails, with runc as with libcontainer, and both say nothing
//! useful: libcontainer "io error", runc "can't get final child's PID from
//! pipe: EOF". containerd's answer is its CRI option
//! `restrict_oom_score_adj = true`, which asks for no less than its own
//! score; runc (and this runtime) then run the pod unchanged.
//!
//! [`apply`] makes the same write first, here, so that a refusal fails the
//! container (fail closed, as runc) with the value, the reason and the
//! remedy in the message; libcontainer's own write that follows sets the
//! same value again.

use std::io::Write as _;

use anyhow::{bail, Context as _, Result};

/// The file the kernel takes a process's OOM score adjustment from.
const OOM_SCORE_ADJ: &str = "/proc/self/oom_score_adj";

/// Sets this process's OOM score adjustment to `value`, or says why not.
pub fn apply(value: Option<i32>) -> Result<()> {
    let Some(value) = value else {
        return Ok(());
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .open(OOM_SCORE_ADJ)
        .and_then(|mut f| f.write_all(value.to_string().as_bytes()));
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => bail!(
            "cannot set process.oomScoreAdj {value} ({OOM_SCORE_ADJ}: {e}): a score this low needs \
             CAP_SYS_RESOURCE, which this runtime lacks (a container or user namespace); under \
             containerd's CRI set `restrict_oom_score_adj = true` in the \
             [plugins.\"io.containerd.grpc.v1.cri\"] section, as runc needs too"
        ),
        Err(e) => Err(e).with_context(|| format!("setting process.oomScoreAdj {value} ({OOM_SCORE_ADJ})")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nothing_asked_nothing_written() {
        apply(None).unwrap();
    }

    #[test]
    fn the_current_score_can_always_be_set_again() {
        let now: i32 = std::fs::read_to_string(OOM_SCORE_ADJ).unwrap().trim().parse().unwrap();
        apply(Some(now)).unwrap();
    }
}
