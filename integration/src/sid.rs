//! Debian sid's packages (containerd 2.x for the shim, verifier and CRI
//! tests; cosign 3.x and notation 1.3.x for the interop tests), fetched by
//! `scripts/sid-package` under a private apt configuration, extracted with
//! `dpkg-deb -x` and cached by package version; never installed into the
//! system, sid never added to its sources.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The extracted tree of Debian sid's `package` (its `usr/bin/…` below
/// it), or why it cannot be had here (no network and no cached copy, no
/// such package: the script's exit 2): the caller skips with that message.
/// Any other failure of the script is a broken test machine and panics.
pub fn sid_package(package: &str) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/sid-package");
    let out = Command::new(&script)
        .arg(package)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    match out.status.code() {
        Some(0) => Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())),
        Some(2) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        _ => panic!(
            "scripts/sid-package {package} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The program `binary` (a path inside the package, e.g. `usr/bin/cosign`)
/// of Debian sid's `package`, or why it cannot be had here.
pub fn sid_tool(package: &str, binary: &str) -> Result<PathBuf, String> {
    let dir = sid_package(package)?;
    let bin = dir.join(binary);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("{} has no {binary}", dir.display()))
    }
}
