//! Finding the container's program the way runc does.
//!
//! libcontainer 0.7's `DefaultExecutor::validate` refuses any process
//! whose environment has no `PATH` ("PATH environment variable is not
//! set"), even when `args[0]` is an absolute path, and wants the
//! other-execute bit. runc runs such a process: its init resolves
//! `args[0]` with Go's `exec.LookPath` (runc 1.1
//! `libcontainer/standard_init_linux.go`), which takes a name containing a
//! `/` as it is and searches `$PATH` only for a bare name. Images whose
//! config sets no `Env` and an absolute entrypoint are common (a pause
//! image is one, and containerd's CRI adds no default `PATH` to a
//! sandbox), so [`RuncLookup`] puts runc's rule in front of the executor:
//!
//! - a name with a `/` must be a regular file with an execute bit
//!   (`mode & 0o111`, as Go's `findExecutable`), relative names taken
//!   from the working directory;
//! - a bare name is searched in the process's `PATH` (the last `PATH=`
//!   entry, which is the one the process sees), an empty element meaning
//!   the working directory; with no `PATH` it is not found, as in runc.
//!
//! The exec itself stays the inner executor's (`execvp`, which execs a name
//! containing `/` directly and searches the `PATH` the init set up).

use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

/// Validates `args[0]` with runc's rule, then executes with `inner`.
#[derive(Clone, Debug)]
pub struct RuncLookup<E> {
    inner: E,
}

impl<E> RuncLookup<E> {
    /// Checks the program with runc's rule; `inner` executes it.
    pub fn new(inner: E) -> Self {
        RuncLookup { inner }
    }
}

/// Whether `p` is a regular file with an execute bit (Go's `findExecutable`).
fn executable(p: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let m = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if m.is_dir() {
        return Err(format!("{}: is a directory", p.display()));
    }
    if m.permissions().mode() & 0o111 == 0 {
        return Err(format!("{}: permission denied (no execute bit)", p.display()));
    }
    Ok(())
}

/// The program `name` names, given the process's environment `env`
/// (`KEY=VALUE` entries), or why there is none (runc's wording).
pub fn look_path(name: &str, env: &[String]) -> Result<PathBuf, String> {
    if name.is_empty() {
        return Err("the process has an empty args[0]".into());
    }
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).map(|()| p).map_err(|e| format!("exec: {name:?}: {e}"));
    }
    let path = env.iter().rev().find_map(|e| e.strip_prefix("PATH="));
    for dir in path
        .unwrap_or("")
        .split(':')
        .filter(|_| path.is_some_and(|p| !p.is_empty()))
    {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        if executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(format!("exec: {name:?}: executable file not found in $PATH"))
}

impl<E> Executor for RuncLookup<E>
where
    E: Executor + Clone + 'static,
{
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| ExecutorValidationError::ArgValidationError("the spec has no process".into()))?;
        let Some(name) = process.args().as_ref().and_then(|a| a.first()) else {
            return Err(ExecutorValidationError::ArgValidationError(
                "the process has no args".into(),
            ));
        };
        let env = process.env().clone().unwrap_or_default();
        look_path(name, &env)
            .map(drop)
            .map_err(ExecutorValidationError::ArgValidationError)
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        self.inner.exec(spec)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn dir_with(name: &str, mode: u32) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        d
    }

    #[test]
    fn an_absolute_program_runs_without_path() {
        let d = dir_with("pause", 0o755);
        let p = d.path().join("pause").display().to_string();
        assert_eq!(look_path(&p, &[]).unwrap(), PathBuf::from(&p));
        // An owner-only execute bit is enough (Go's 0o111), unlike libcontainer's 0o001.
        let d = dir_with("own", 0o700);
        let p = d.path().join("own").display().to_string();
        assert!(look_path(&p, &["HOME=/".into()]).is_ok());
    }

    #[test]
    fn a_bare_name_needs_path() {
        let d = dir_with("tool", 0o755);
        let e = look_path("tool", &[]).unwrap_err();
        assert!(e.contains("executable file not found in $PATH"), "{e}");
        let e = look_path("tool", &["PATH=".into()]).unwrap_err();
        assert!(e.contains("not found"), "{e}");
        let path = format!("PATH=/nonexistent:{}", d.path().display());
        assert_eq!(look_path("tool", &[path]).unwrap(), d.path().join("tool"));
        // The last PATH is the one the process sees.
        let two = vec![format!("PATH={}", d.path().display()), "PATH=/nonexistent".into()];
        assert!(look_path("tool", &two).is_err());
    }

    #[test]
    fn what_cannot_run_is_refused_with_the_reason() {
        let d = dir_with("data", 0o644);
        let p = d.path().join("data").display().to_string();
        assert!(look_path(&p, &[]).unwrap_err().contains("no execute bit"));
        let dir = d.path().display().to_string() + "/";
        assert!(look_path(&dir, &[]).unwrap_err().contains("is a directory"));
        assert!(look_path("/nonexistent/x", &[]).is_err());
        assert!(look_path("", &[]).is_err());
    }
}
