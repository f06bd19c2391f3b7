//! Helpers for the end-to-end tests: locate the built `ct`, run real tools,
//! and insist that they are installed (these tests exist to meet the real
//! components; `scripts/install-deps` installs them from Debian).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `ct` binary of this build: `CT_BIN`, else beside the test binary
/// (`target/<profile>/deps/<test>` → `target/<profile>/ct`).
pub fn ct_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let ct = profile_dir.join("ct");
    assert!(
        ct.exists(),
        "{} not found: build it first (scripts/test runs `cargo build --workspace --bins`)",
        ct.display()
    );
    ct
}

/// Fails the test with an install hint when `tool` is missing.
pub fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "{tool} is not installed: run scripts/install-deps");
}

/// Runs a command, panicking with its output unless it exits 0.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `ct` with a private state directory.
pub fn ct(home: &Path) -> Command {
    let mut c = Command::new(ct_bin());
    c.env("CERRO_HOME", home).env_remove("SOURCE_DATE_EPOCH");
    c
}

/// Runs `ct` and returns its exit code and combined output.
pub fn ct_status(home: &Path, args: &[&str]) -> (i32, String) {
    let out = ct(home).args(args).output().expect("run ct");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
