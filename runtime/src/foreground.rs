//! `cerro-runtime run` without `--detach`: wait for the container's init
//! as runc does in the foreground, forwarding the signals this process
//! gets to it (a Ctrl-C, a `kill` of the runtime, a SIGTERM from a
//! supervisor reach the container), and return its exit status (128 +
//! the signal for one killed by a signal, as a shell reports it).
//!
//! No thread and no handler: every signal is blocked and taken with
//! `sigwait`. The init is this process's child (libcontainer clones it as
//! a sibling of its intermediate process, so its parent is us). The order
//! avoids the lost-wakeup race: signals are blocked first, then children
//! are reaped without blocking, and only then does it wait; a SIGCHLD that
//! arrives after the reap stays pending until `sigwait` takes it.

use anyhow::{bail, Context as _, Result};
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Blocks every signal in this (single-threaded) process. Call it after
/// the container is created and before it is started: libcontainer does
/// not reset the signal mask of the processes it clones, so blocking
/// before the create would leave the container's process with every
/// signal blocked (hooks are spawned by Rust's `Command`, which resets the
/// mask in the child). An init that dies before the start is still seen:
/// `wait` reaps before it waits.
pub fn block_signals() -> Result<()> {
    SigSet::all().thread_block().context("blocking signals to forward them")
}

/// Waits for `init`, forwarding signals; its exit status.
pub fn wait(init: Pid) -> Result<i32> {
    let all = SigSet::all();
    loop {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == init => return Ok(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => return Ok(128 + sig as i32),
                Ok(WaitStatus::StillAlive) => break,
                // Another child (libcontainer's intermediate process).
                Ok(_) => continue,
                Err(Errno::ECHILD) => bail!("the container's init {init} is not a child of this process"),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).with_context(|| format!("waiting for the container's init {init}")),
            }
        }
        match all.wait().context("waiting for a signal")? {
            Signal::SIGCHLD => {}
            // Terminal size changes need a terminal this command does not
            // relay; SIGURG is noise (Go runtimes preempt with it).
            Signal::SIGWINCH | Signal::SIGURG => {}
            // The init may be gone already (its SIGCHLD is pending).
            sig => {
                let _ = kill(init, sig);
            }
        }
    }
}
