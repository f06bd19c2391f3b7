//! The container's SELinux process label: the one place `cerro-runtime`
//! writes to the kernel's security attributes.
//!
//! libcontainer 0.7 applies `linux.mountLabel` itself (as a `context=`
//! option of the mounts it makes, when `/sys/fs/selinux` exists) but not
//! `process.selinuxLabel`. [`LabelExecutor`] does that part: it writes the
//! label to `/proc/thread-self/attr/exec` of the container's init, so the
//! kernel runs the container's process in that domain at its `execve`.
//!
//! It writes twice, and either failure stops the container:
//! - in `validate` (during `create`, inside the container, before the
//!   init reports ready): write the label, then clear it. A label the
//!   kernel refuses (a type the loaded policy lacks: `EINVAL`; no
//!   SELinux at all) fails `create`, with the label in the message,
//!   before anything runs. Clearing keeps the label off whatever the init
//!   may spawn before the exec (start hooks).
//! - in `exec` (after `start`): write it again, then exec. If that write
//!   fails the init exits without running the process.
//!
//! The write goes through [`AttrWriter`], so tests substitute it.

use std::fs::OpenOptions;
use std::io::{self, Write};

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

/// The calling thread's exec attribute (procfs).
pub const EXEC_ATTR: &str = "/proc/thread-self/attr/exec";

/// Writes the calling thread's exec security attribute.
pub trait AttrWriter: Send + Sync {
    /// Writes `value` in one `write` (an empty value clears the attribute).
    fn write_exec(&self, value: &[u8]) -> io::Result<()>;
}

/// The real attribute: [`EXEC_ATTR`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcAttr;

impl AttrWriter for ProcAttr {
    fn write_exec(&self, value: &[u8]) -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).open(EXEC_ATTR)?;
        // One write, even of nothing: the kernel takes the whole value from
        // a single write (no partial writes), and a zero-length one clears
        // it (as libselinux's `setexeccon(NULL)`).
        let n = f.write(value)?;
        if n != value.len() {
            return Err(io::Error::other(format!("short write ({n} of {} bytes)", value.len())));
        }
        Ok(())
    }
}

/// Runs the container's process with `process.selinuxLabel` as its exec
/// label, then delegates to `inner` (libcontainer's `DefaultExecutor`). A
/// spec without a label is left to `inner` untouched.
#[derive(Clone)]
pub struct LabelExecutor<W, E> {
    writer: W,
    inner: E,
}

impl<W, E> std::fmt::Debug for LabelExecutor<W, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelExecutor").finish_non_exhaustive()
    }
}

impl<W, E> LabelExecutor<W, E> {
    /// Labels through `writer`, executes with `inner`.
    pub fn new(writer: W, inner: E) -> Self {
        LabelExecutor { writer, inner }
    }
}

/// The spec's process label, if it names one (empty counts as none).
fn process_label(spec: &Spec) -> Option<&str> {
    spec.process()
        .as_ref()
        .and_then(|p| p.selinux_label().as_deref())
        .filter(|l| !l.is_empty())
}

fn refused(label: &str, e: &io::Error) -> String {
    format!("cannot set the SELinux process label {label} ({EXEC_ATTR}): {e}")
}

impl<W, E> Executor for LabelExecutor<W, E>
where
    W: AttrWriter + Clone + 'static,
    E: Executor + Clone + 'static,
{
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        self.inner.validate(spec)?;
        if let Some(label) = process_label(spec) {
            self.writer
                .write_exec(label.as_bytes())
                .and_then(|()| self.writer.write_exec(b""))
                .map_err(|e| ExecutorValidationError::ArgValidationError(refused(label, &e)))?;
        }
        Ok(())
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(label) = process_label(spec) {
            self.writer
                .write_exec(label.as_bytes())
                .map_err(|e| ExecutorError::Other(refused(label, &e)))?;
        }
        self.inner.exec(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use libcontainer::oci_spec::runtime::{ProcessBuilder, SpecBuilder};

    /// Records what would have been written to attr/exec, and the exec;
    /// fails every write with `errno` if set.
    #[derive(Clone, Default)]
    struct Recorder {
        log: Arc<Mutex<Vec<String>>>,
        errno: Option<i32>,
    }

    impl AttrWriter for Recorder {
        fn write_exec(&self, value: &[u8]) -> io::Result<()> {
            if let Some(e) = self.errno {
                return Err(io::Error::from_raw_os_error(e));
            }
            self.log
                .lock()
                .unwrap()
                .push(format!("attr/exec {:?}", String::from_utf8_lossy(value)));
            Ok(())
        }
    }

    impl Executor for Recorder {
        fn exec(&self, _: &Spec) -> Result<(), ExecutorError> {
            self.log.lock().unwrap().push("exec".into());
            Ok(())
        }
        fn validate(&self, _: &Spec) -> Result<(), ExecutorValidationError> {
            self.log.lock().unwrap().push("validate".into());
            Ok(())
        }
    }

    fn spec(label: Option<&str>) -> Spec {
        let mut p = ProcessBuilder::default().args(vec!["/bin/true".to_owned()]);
        if let Some(l) = label {
            p = p.selinux_label(l.to_owned());
        }
        SpecBuilder::default().process(p.build().unwrap()).build().unwrap()
    }

    const LABEL: &str = "system_u:system_r:ct_hello_t:s0";

    #[test]
    fn the_label_is_written_exactly_before_the_exec() {
        let rec = Recorder::default();
        let x = LabelExecutor::new(rec.clone(), rec.clone());
        x.validate(&spec(Some(LABEL))).unwrap();
        x.exec(&spec(Some(LABEL))).unwrap();
        assert_eq!(
            *rec.log.lock().unwrap(),
            [
                "validate",
                "attr/exec \"system_u:system_r:ct_hello_t:s0\"",
                "attr/exec \"\"",
                "attr/exec \"system_u:system_r:ct_hello_t:s0\"",
                "exec",
            ]
        );
    }

    #[test]
    fn without_a_label_nothing_is_written() {
        let rec = Recorder::default();
        let x = LabelExecutor::new(rec.clone(), rec.clone());
        x.validate(&spec(None)).unwrap();
        x.exec(&spec(None)).unwrap();
        x.exec(&spec(Some(""))).unwrap();
        assert_eq!(*rec.log.lock().unwrap(), ["validate", "exec", "exec"]);
    }

    #[test]
    fn a_refused_label_stops_the_container_and_is_named() {
        let inner = Recorder::default();
        let writer = Recorder {
            errno: Some(22), // EINVAL: the policy has no such type
            ..Default::default()
        };
        let x = LabelExecutor::new(writer, inner.clone());
        let e = x.validate(&spec(Some(LABEL))).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "cannot set the SELinux process label {LABEL} (/proc/thread-self/attr/exec): {}",
                io::Error::from_raw_os_error(22)
            )
        );
        let e = x.exec(&spec(Some(LABEL))).unwrap_err().to_string();
        assert!(e.contains(LABEL), "{e}");
        // The process was never executed.
        assert_eq!(*inner.log.lock().unwrap(), ["validate"]);
    }

    #[test]
    fn this_kernel_refuses_a_selinux_label() {
        // The machine this project is tested on has no SELinux: the real
        // attribute refuses the label, which is what stops a container.
        // (On a host with SELinux this label's type is unknown: refused too.)
        let e = ProcAttr
            .write_exec(b"system_u:system_r:ct_no_such_module_t:s0")
            .unwrap_err();
        assert!(
            matches!(e.raw_os_error(), Some(22) | Some(13) | Some(2)),
            "unexpected: {e}"
        );
    }
}
