//! The shim's side effects on the host, behind one trait ([`Host`]), as
//! youki's `Syscall`: mounting a task's root file system into its bundle
//! and taking it down again, signalling an exec'd process, and reading the
//! kernel's files about a container (`/proc/PID/cgroup`, the mount table,
//! the cgroup file system). (Cloning, namespaces, cgroup writes and the
//! process's SELinux label happen in the `cerro-runtime` process, never in
//! the shim, which is multi-threaded; the SELinux context check of the
//! decision is `cerro_enforce::SelinuxHost`, with its own double.)
//!
//! [`SystemHost`] is the real one: no `unsafe` here, `nix` and
//! containerd's `mount_rootfs` (which packs long overlay `lowerdir` lists
//! under the one-page mount data limit) wrap the calls. The logic around
//! the calls (the order of mounts, taking every stacked mount down, which
//! pids and signals are valid) is in plain functions over `&dyn Host`, so
//! the tests run it against [`RecordingHost`] (only with `cfg(test)` or the
//! `test-util` feature: release builds do not carry it) and assert on what
//! it was asked to do.

use std::io;
use std::path::Path;

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::backend::Mount;
use crate::error::ShimError;

/// The side effects the shim has on its host.
pub trait Host: Send + Sync + std::fmt::Debug {
    /// Creates directory `dir` and its parents (present is fine).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Mounts `mount` on `target` (one of containerd's rootfs mounts).
    fn mount(&self, mount: &Mount, target: &Path) -> io::Result<()>;
    /// Detaches the topmost mount on `target`: `Ok(true)` if there was
    /// one, `Ok(false)` if nothing is mounted there or it does not exist.
    fn unmount(&self, target: &Path) -> io::Result<bool>;
    /// Sends `signal` to process `pid`.
    fn kill(&self, pid: Pid, signal: Signal) -> io::Result<()>;
    /// The contents of a kernel file (procfs, cgroupfs): at most `limit`
    /// bytes, a larger one is an error (`InvalidData`).
    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>>;
    /// Whether `path` exists.
    fn exists(&self, path: &Path) -> bool;
}

/// This machine, through the system calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemHost;

impl Host for SystemHost {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn mount(&self, m: &Mount, target: &Path) -> io::Result<()> {
        let fs_type = Some(m.fs_type.as_str()).filter(|t| !t.is_empty());
        let source = Some(m.source.as_str()).filter(|s| !s.is_empty());
        containerd_shim::mount::mount_rootfs(fs_type, source, &m.options, target)
            .map_err(|e| io::Error::other(format!("{} {}: {e}", m.fs_type, m.source)))
    }

    fn unmount(&self, target: &Path) -> io::Result<bool> {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => Ok(true),
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(false),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    fn kill(&self, pid: Pid, signal: Signal) -> io::Result<()> {
        kill(pid, signal).map_err(io::Error::from)
    }

    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let f = std::fs::File::open(path)?;
        cerro_core::file::read_bounded_from(f, limit, "a kernel file").map_err(|e| match e {
            cerro_core::Error::Io { source, .. } => source,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        })
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}

/// Mounts `mounts` in order on `target` (containerd's rootfs mounts: an
/// overlay of the snapshot, or a bind mount), creating `target` first.
pub fn mount_rootfs(host: &dyn Host, mounts: &[Mount], target: &Path) -> Result<(), ShimError> {
    host.create_dir_all(target)
        .map_err(|e| ShimError::io("creating", target, e))?;
    for m in mounts {
        host.mount(m, target)
            .map_err(|e| ShimError::io("mounting the root file system on", target, e))?;
    }
    Ok(())
}

/// Unmounts everything mounted on `target` (lazily, so a process still
/// holding it cannot fail the delete); absent or unmounted is fine.
pub fn unmount_rootfs(host: &dyn Host, target: &Path) -> Result<(), ShimError> {
    // Stacked mounts: take them all down.
    while host
        .unmount(target)
        .map_err(|e| ShimError::io("unmounting", target, e))?
    {}
    Ok(())
}

/// Sends `signal` to process `pid` (an exec'd process: runc's shim signals
/// those itself, the runtime only knows the container's init). A signal
/// number Linux does not have, or a pid that is not one process (0 or
/// negative: a process group), is refused before anything is sent.
pub fn signal(host: &dyn Host, pid: u32, signal: u32) -> Result<(), ShimError> {
    let sig = i32::try_from(signal)
        .ok()
        .and_then(|s| Signal::try_from(s).ok())
        .ok_or_else(|| ShimError::InvalidArgument(format!("signal {signal}")))?;
    let pid = i32::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ShimError::InvalidArgument(format!("pid {pid}")))?;
    host.kill(Pid::from_raw(pid), sig)
        .map_err(|e| ShimError::io("signalling", format!("/proc/{pid}"), e))
}

#[cfg(any(test, feature = "test-util"))]
pub use recording::RecordingHost;

#[cfg(any(test, feature = "test-util"))]
mod recording {
    use std::collections::BTreeMap;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, MutexGuard};

    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    use super::Host;
    use crate::backend::Mount;

    /// A host that does nothing but record what it is asked to do, in
    /// order, as one line a call (`mkdir PATH`, `mount TYPE SOURCE OPTIONS
    /// on PATH`, `umount PATH`, `kill PID SIGNAL`, `read PATH`). It keeps a
    /// mount table (so unmounting stops when nothing is left), serves the
    /// files it was given, and can be told to fail a mount.
    #[derive(Debug, Default)]
    pub struct RecordingHost {
        state: Mutex<State>,
    }

    #[derive(Debug, Default)]
    struct State {
        calls: Vec<String>,
        files: BTreeMap<PathBuf, Vec<u8>>,
        mounted: BTreeMap<PathBuf, usize>,
        mounts_until_failure: Option<usize>,
    }

    impl RecordingHost {
        /// A host with no files and nothing mounted.
        pub fn new() -> Self {
            Self::default()
        }

        fn state(&self) -> MutexGuard<'_, State> {
            self.state.lock().unwrap_or_else(|p| p.into_inner())
        }

        /// Serves `contents` for `path` (and its directories exist).
        pub fn with_file(self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
            self.put(path, contents);
            self
        }

        /// Serves `contents` for `path` from now on (replacing a file).
        pub fn put(&self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
            self.state().files.insert(path.into(), contents.into());
        }

        /// Serves `path` no more (a controller disabled, a cgroup gone).
        pub fn remove(&self, path: &Path) {
            self.state().files.remove(path);
        }

        /// Lets `n` mounts succeed, then fails every other one (`EINVAL`).
        pub fn failing_mounts_after(self, n: usize) -> Self {
            self.state().mounts_until_failure = Some(n);
            self
        }

        /// What it was asked to do so far, in order.
        pub fn calls(&self) -> Vec<String> {
            self.state().calls.clone()
        }

        /// How many mounts are stacked on `target` now.
        pub fn mounted(&self, target: &Path) -> usize {
            self.state().mounted.get(target).copied().unwrap_or(0)
        }
    }

    impl Host for RecordingHost {
        fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
            self.state().calls.push(format!("mkdir {}", dir.display()));
            Ok(())
        }

        fn mount(&self, m: &Mount, target: &Path) -> io::Result<()> {
            let mut s = self.state();
            s.calls.push(format!(
                "mount {} {} {} on {}",
                m.fs_type,
                m.source,
                m.options.join(","),
                target.display()
            ));
            match &mut s.mounts_until_failure {
                Some(0) => return Err(io::Error::from_raw_os_error(22)),
                Some(n) => *n -= 1,
                None => {}
            }
            *s.mounted.entry(target.to_path_buf()).or_default() += 1;
            Ok(())
        }

        fn unmount(&self, target: &Path) -> io::Result<bool> {
            let mut s = self.state();
            s.calls.push(format!("umount {}", target.display()));
            match s.mounted.get_mut(target) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    Ok(true)
                }
                _ => Ok(false),
            }
        }

        fn kill(&self, pid: Pid, signal: Signal) -> io::Result<()> {
            self.state().calls.push(format!("kill {pid} {signal}"));
            Ok(())
        }

        fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
            let mut s = self.state();
            s.calls.push(format!("read {}", path.display()));
            match s.files.get(path) {
                Some(b) if b.len() as u64 > limit => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("larger than the {limit}-byte limit"),
                )),
                Some(b) => Ok(b.clone()),
                None => Err(io::Error::from_raw_os_error(2)),
            }
        }

        fn exists(&self, path: &Path) -> bool {
            self.state().files.keys().any(|f| f.starts_with(path))
        }
    }
}
