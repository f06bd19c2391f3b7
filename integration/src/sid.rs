//! Tools from Debian sid's packages (cosign 3.x for the interop tests),
//! fetched by `scripts/sid-package` under a private apt configuration,
//! extracted with `dpkg-deb -x` and cached under `target/fixtures/sid`
//! keyed by the package version; never installed into the system.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The program `binary` (a path inside the package, e.g. `usr/bin/cosign`)
/// of Debian sid's `package`, or why it cannot be had here (no network and
/// no cached copy, no such package): the caller skips with that message.
pub fn sid_tool(package: &str, binary: &str) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/sid-package");
    let dest = crate::target_dir().join("fixtures/sid");
    let out = Command::new(&script)
        .arg(package)
        .arg(&dest)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let bin = dir.join(binary);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} has no {binary}", dir.display()))
    }
}
