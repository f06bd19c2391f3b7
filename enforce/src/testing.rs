//! Test doubles of this crate's host interfaces, for the tests of every
//! crate that decides or acts on a decision (this crate's own, the shim's,
//! the hook's). Only built with the `test-util` feature, which only
//! dev-dependencies turn on: release builds never carry them.
//!
//! [`FakeSelinux`] is the one double of [`SelinuxHost`]: a host without
//! SELinux, or an enabled one whose loaded policy knows the types listed;
//! it records every context it is asked to check.

use std::io;
use std::sync::Mutex;

use crate::confinement::{context_type, SelinuxHost, SelinuxMode, SelinuxStatus};

/// What the kernel of a host without SELinux says (and
/// [`crate::KernelSelinux`] reports on this machine kind).
pub const NOT_ENABLED: &str = "SELinux is not enabled in this kernel";

/// A host's SELinux as a test wants it. `check_context` succeeds when the
/// context's type is one the policy knows, else fails with `EINVAL` as the
/// kernel does; on a host without SELinux it panics, since nothing may ask
/// a disabled host to check a context.
#[derive(Debug)]
pub struct FakeSelinux {
    status: SelinuxStatus,
    known: Vec<String>,
    checked: Mutex<Vec<String>>,
}

impl FakeSelinux {
    /// A host without SELinux ([`NOT_ENABLED`]).
    pub fn disabled() -> Self {
        FakeSelinux {
            status: SelinuxStatus::Disabled(NOT_ENABLED.into()),
            known: Vec::new(),
            checked: Mutex::new(Vec::new()),
        }
    }

    /// An enforcing MCS host whose policy knows exactly the types `types`.
    pub fn enforcing(types: &[&str]) -> Self {
        FakeSelinux {
            status: SelinuxStatus::Enabled {
                mode: Some(SelinuxMode::Enforcing),
                mls: true,
            },
            known: types.iter().map(|t| (*t).to_owned()).collect(),
            checked: Mutex::new(Vec::new()),
        }
    }

    /// An enforcing MCS host with the modules `modules` loaded: its policy
    /// knows each module's domain `<m>_t` and file type `<m>_file_t` (what
    /// a bundle's module declares).
    pub fn with_modules(modules: &[&str]) -> Self {
        let types: Vec<String> = modules
            .iter()
            .flat_map(|m| [format!("{m}_t"), format!("{m}_file_t")])
            .collect();
        let types: Vec<&str> = types.iter().map(String::as_str).collect();
        Self::enforcing(&types)
    }

    /// The same policy under another status (permissive, no MLS).
    pub fn with_status(mut self, status: SelinuxStatus) -> Self {
        self.status = status;
        self
    }

    /// The contexts checked so far, in order.
    pub fn checked(&self) -> Vec<String> {
        self.checked.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl SelinuxHost for FakeSelinux {
    fn status(&self) -> SelinuxStatus {
        self.status.clone()
    }

    fn check_context(&self, context: &str) -> io::Result<()> {
        if let SelinuxStatus::Disabled(_) = self.status {
            panic!("no context is checked without SELinux (asked for {context})");
        }
        self.checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(context.to_owned());
        if context_type(context).is_some_and(|t| self.known.iter().any(|k| k == t)) {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(22))
        }
    }
}
