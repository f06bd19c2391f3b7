//! The shim's only direct system calls: mounting a task's root file system
//! into its bundle and taking it down again, and signalling an exec'd
//! process. (Cloning, namespaces and
//! cgroups happen in the `cerro-runtime` process, never in the shim, which
//! is multi-threaded.) No `unsafe` here: `nix` and containerd's
//! `mount_rootfs` (which packs long overlay `lowerdir` lists under the
//! one-page mount data limit) wrap the calls.

use std::path::Path;

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::backend::Mount;
use crate::error::ShimError;

/// Mounts `mounts` in order on `target` (containerd's rootfs mounts: an
/// overlay of the snapshot, or a bind mount).
pub fn mount_rootfs(mounts: &[Mount], target: &Path) -> Result<(), ShimError> {
    std::fs::create_dir_all(target).map_err(|e| ShimError::io("creating", target, e))?;
    for m in mounts {
        let fs_type = Some(m.fs_type.as_str()).filter(|t| !t.is_empty());
        let source = Some(m.source.as_str()).filter(|s| !s.is_empty());
        containerd_shim::mount::mount_rootfs(fs_type, source, &m.options, target).map_err(|e| {
            ShimError::io(
                "mounting the root file system on",
                target,
                std::io::Error::other(format!("{} {}: {e}", m.fs_type, m.source)),
            )
        })?;
    }
    Ok(())
}

/// Unmounts everything mounted on `target` (lazily, so a process still
/// holding it cannot fail the delete); absent or unmounted is fine.
pub fn unmount_rootfs(target: &Path) -> Result<(), ShimError> {
    loop {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue, // stacked mounts: take them all down
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(ShimError::io("unmounting", target, std::io::Error::from(e))),
        }
    }
}

/// Sends `signal` to process `pid` (an exec'd process: runc's shim signals
/// those itself, the runtime only knows the container's init).
pub fn signal(pid: u32, signal: u32) -> Result<(), ShimError> {
    let sig = i32::try_from(signal)
        .ok()
        .and_then(|s| Signal::try_from(s).ok())
        .ok_or_else(|| ShimError::InvalidArgument(format!("signal {signal}")))?;
    let pid = i32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ShimError::InvalidArgument(format!("pid {pid}")))?;
    kill(Pid::from_raw(pid), sig)
        .map_err(|e| ShimError::io("signalling", format!("/proc/{pid}"), std::io::Error::from(e)))
}
