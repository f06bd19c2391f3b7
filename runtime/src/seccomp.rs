//! The container's seccomp filter for processes exec'd into it.
//!
//! libcontainer 0.7 builds an exec'd process's spec from the container's
//! namespaces, cgroup path, personality and time offsets only (its tenant
//! builder's `adapt_spec_for_tenant`): `linux.seccomp` is dropped, so
//! without this module `cerro-runtime exec` would run a process with none
//! of the container's syscall filtering, which runc does not do.
//! [`SeccompExecutor`] loads the container's profile in the exec'd process
//! right before its `execve` (where libcontainer loads it for a container's
//! init when `noNewPrivileges` is set), and a filter that cannot be loaded
//! stops the process before it runs.
//!
//! At that point the process has dropped its capabilities: without
//! `CAP_SYS_ADMIN` the kernel loads a filter only with `no_new_privs` set.
//! If the first load is refused, the executor sets `no_new_privs` and loads
//! again (what libseccomp does by default, and what libcontainer turns
//! off). So a process exec'd into a filtered container may run with
//! `no_new_privs` where runc would not have set it: stricter, never looser.
//!
//! A profile with `SCMP_ACT_NOTIFY` rules needs a listener that receives
//! the notification descriptor; the exec path has none, so such a profile
//! is refused (see `exec.rs`), not loaded without its listener.

use libcontainer::oci_spec::runtime::{LinuxSeccomp, Spec};
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

/// Loads seccomp filters into the calling thread (tests substitute it).
pub trait FilterLoader: Send + Sync {
    /// Loads `profile`; the error says why not.
    fn load(&self, profile: &LinuxSeccomp) -> Result<(), String>;
    /// Sets the calling thread's `no_new_privs` bit.
    fn set_no_new_privs(&self) -> Result<(), String>;
}

/// The kernel, through libseccomp (libcontainer's profile translation).
#[derive(Debug, Clone, Copy, Default)]
pub struct Libseccomp;

impl FilterLoader for Libseccomp {
    fn load(&self, profile: &LinuxSeccomp) -> Result<(), String> {
        match libcontainer::seccomp::initialize_seccomp(profile) {
            Ok(None) => Ok(()),
            // Refused before we get here (`exec::refusal`); never keep a
            // notification descriptor nobody listens on.
            Ok(Some(fd)) => {
                let _ = nix::unistd::close(fd);
                Err("the profile has SCMP_ACT_NOTIFY rules".into())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn set_no_new_privs(&self) -> Result<(), String> {
        nix::sys::prctl::set_no_new_privs().map_err(|e| e.to_string())
    }
}

/// Loads the container's seccomp profile (if it has one) right before
/// `inner` executes the process.
#[derive(Clone)]
pub struct SeccompExecutor<L, E> {
    profile: Option<LinuxSeccomp>,
    loader: L,
    inner: E,
}

impl<L, E> std::fmt::Debug for SeccompExecutor<L, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeccompExecutor")
            .field("filtered", &self.profile.is_some())
            .finish_non_exhaustive()
    }
}

impl<L, E> SeccompExecutor<L, E> {
    /// Loads `profile` (the container's `linux.seccomp`) through `loader`,
    /// then executes with `inner`. `None`: nothing is loaded.
    pub fn new(profile: Option<LinuxSeccomp>, loader: L, inner: E) -> Self {
        SeccompExecutor { profile, loader, inner }
    }
}

impl<L, E> Executor for SeccompExecutor<L, E>
where
    L: FilterLoader + Clone + 'static,
    E: Executor + Clone + 'static,
{
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        self.inner.validate(spec)
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(profile) = &self.profile {
            let refused =
                |e: String| ExecutorError::Other(format!("cannot apply the container's seccomp profile: {e}"));
            if let Err(first) = self.loader.load(profile) {
                // Without CAP_SYS_ADMIN the kernel wants no_new_privs first.
                self.loader
                    .set_no_new_privs()
                    .map_err(|e| refused(format!("{first}; setting no_new_privs: {e}")))?;
                self.loader.load(profile).map_err(refused)?;
            }
        }
        self.inner.exec(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use libcontainer::oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompBuilder, ProcessBuilder, SpecBuilder};

    /// Records loads, no_new_privs and the exec; `refuse` loads fail until
    /// no_new_privs is set (a process without CAP_SYS_ADMIN), `broken` ones always.
    #[derive(Clone, Default)]
    struct Recorder {
        log: Arc<Mutex<Vec<&'static str>>>,
        nnp: Arc<Mutex<bool>>,
        refuse: bool,
        broken: bool,
    }

    impl FilterLoader for Recorder {
        fn load(&self, _: &LinuxSeccomp) -> Result<(), String> {
            if self.broken || (self.refuse && !*self.nnp.lock().unwrap()) {
                self.log.lock().unwrap().push("load refused");
                return Err("Permission denied".into());
            }
            self.log.lock().unwrap().push("load");
            Ok(())
        }
        fn set_no_new_privs(&self) -> Result<(), String> {
            *self.nnp.lock().unwrap() = true;
            self.log.lock().unwrap().push("no_new_privs");
            Ok(())
        }
    }

    impl Executor for Recorder {
        fn exec(&self, _: &Spec) -> Result<(), ExecutorError> {
            self.log.lock().unwrap().push("exec");
            Ok(())
        }
        fn validate(&self, _: &Spec) -> Result<(), ExecutorValidationError> {
            Ok(())
        }
    }

    fn profile() -> LinuxSeccomp {
        LinuxSeccompBuilder::default()
            .default_action(LinuxSeccompAction::ScmpActErrno)
            .build()
            .unwrap()
    }

    fn spec() -> Spec {
        let p = ProcessBuilder::default().args(vec!["/bin/true".to_owned()]);
        SpecBuilder::default().process(p.build().unwrap()).build().unwrap()
    }

    #[test]
    fn the_filter_is_loaded_right_before_the_exec() {
        let rec = Recorder::default();
        SeccompExecutor::new(Some(profile()), rec.clone(), rec.clone())
            .exec(&spec())
            .unwrap();
        assert_eq!(*rec.log.lock().unwrap(), ["load", "exec"]);
    }

    #[test]
    fn without_cap_sys_admin_no_new_privs_is_set_and_the_load_retried() {
        let rec = Recorder {
            refuse: true,
            ..Default::default()
        };
        SeccompExecutor::new(Some(profile()), rec.clone(), rec.clone())
            .exec(&spec())
            .unwrap();
        assert_eq!(
            *rec.log.lock().unwrap(),
            ["load refused", "no_new_privs", "load", "exec"]
        );
    }

    #[test]
    fn a_filter_that_cannot_be_loaded_stops_the_process() {
        let rec = Recorder {
            broken: true,
            ..Default::default()
        };
        let e = SeccompExecutor::new(Some(profile()), rec.clone(), rec.clone())
            .exec(&spec())
            .unwrap_err()
            .to_string();
        assert_eq!(e, "cannot apply the container's seccomp profile: Permission denied");
        assert!(
            !rec.log.lock().unwrap().contains(&"exec"),
            "{:?}",
            rec.log.lock().unwrap()
        );
    }

    #[test]
    fn without_a_profile_nothing_is_loaded() {
        let rec = Recorder::default();
        SeccompExecutor::new(None, rec.clone(), rec.clone())
            .exec(&spec())
            .unwrap();
        assert_eq!(*rec.log.lock().unwrap(), ["exec"]);
    }
}
