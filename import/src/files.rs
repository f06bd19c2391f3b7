//! File names a recipe gives, and the files beside it: a name is one plain
//! path component, and a file is read once, counted and hashed while read,
//! never past the size it may have.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};

use crate::error::{ImportError, IoContext, Result};

/// Largest recipe read (`.dsc`, `APKBUILD`): real ones are a few KiB.
pub const MAX_RECIPE: u64 = 1 << 20;

/// Largest file a recipe may name (a source tarball).
pub const MAX_SOURCE_FILE: u64 = 4 << 30;

/// Refuses a file name that is not one plain path component: empty, `.`,
/// `..`, a `/`, a leading `.` or `-`, whitespace, a control character, or
/// longer than 255 bytes. `field` is named in the error.
pub fn check_name(recipe: &str, field: &str, name: &str) -> Result<()> {
    let why = if name.is_empty() {
        Some("an empty file name")
    } else if name == "." || name == ".." || name.contains("..") {
        Some("a file name with '..'")
    } else if name.contains('/') {
        Some("a file name with '/' (files must lie beside the recipe)")
    } else if name.starts_with('.') || name.starts_with('-') {
        Some("a file name starting with '.' or '-'")
    } else if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("a file name with whitespace or a control character")
    } else if name.len() > 255 {
        Some("a file name longer than 255 bytes")
    } else {
        None
    };
    match why {
        Some(w) => Err(ImportError::refused(recipe, field, format!("{w}: {name:?}"))),
        None => Ok(()),
    }
}

/// Refuses a relative path inside an archive or a store that could leave
/// its root: absolute, empty components, `.` or `..` components.
pub fn check_relative_path(recipe: &str, field: &str, path: &str) -> Result<()> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        || path.chars().any(char::is_control);
    if bad {
        return Err(ImportError::refused(
            recipe,
            field,
            format!("unsafe path {path:?} (absolute, empty, '.' or '..' component)"),
        ));
    }
    Ok(())
}

/// What reading a file measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub size: u64,
    pub sha256: [u8; 32],
    pub sha1: [u8; 20],
    pub sha512: [u8; 64],
}

impl Measured {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
    pub fn digest(&self) -> cerro_core::digest::Digest {
        cerro_core::digest::Digest::from_bytes(self.sha256)
    }
}

/// Reads the regular file `dir/name` once, hashing it, and stops as soon as
/// it is longer than `limit` (refused naming `field`).
pub fn measure(recipe: &str, field: &str, dir: &Path, name: &str, limit: u64) -> Result<Measured> {
    let path = dir.join(name);
    let f = File::open(&path).ctx("opening", &path)?;
    let meta = f.metadata().ctx("reading metadata of", &path)?;
    if !meta.is_file() {
        return Err(ImportError::refused(
            recipe,
            field,
            format!("{name} is not a regular file"),
        ));
    }
    let mut s256 = Sha256::new();
    let mut s1 = Sha1::new();
    let mut s512 = Sha512::new();
    let mut size = 0u64;
    let mut r = f.take(limit.saturating_add(1));
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).ctx("reading", &path),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        s256.update(chunk);
        s1.update(chunk);
        s512.update(chunk);
        size += n as u64;
    }
    if size > limit {
        return Err(ImportError::refused(
            recipe,
            field,
            format!("{name} is larger than the {limit}-byte limit"),
        ));
    }
    Ok(Measured {
        size,
        sha256: s256.finalize().into(),
        sha1: s1.finalize().into(),
        sha512: s512.finalize().into(),
    })
}

/// Reads a recipe (bounded) and its SHA-256.
pub fn read_recipe(path: &Path) -> Result<(Vec<u8>, cerro_core::digest::Digest)> {
    let meta = std::fs::metadata(path).ctx("reading metadata of", path)?;
    if !meta.is_file() {
        return Err(ImportError::refused(
            &path.display().to_string(),
            "file",
            "the recipe is not a regular file",
        ));
    }
    let bytes = cerro_core::file::read_bounded(path, MAX_RECIPE, &path.display().to_string())?;
    let digest = cerro_core::digest::Digest::of(&bytes);
    Ok((bytes, digest))
}

/// The keyring as `gpgv --keyring` must be given it: gpgv takes a name
/// without a `/` as a file in `$GNUPGHOME` (`--keyring archive.gpg` would
/// not be the `archive.gpg` of the working directory), so a relative path
/// is made absolute.
pub fn keyring_arg(keyring: &Path) -> Result<std::path::PathBuf> {
    if keyring.is_absolute() {
        return Ok(keyring.to_path_buf());
    }
    let cwd = std::env::current_dir().ctx("reading the working directory for", keyring)?;
    Ok(cwd.join(keyring))
}

/// The lowercase hex of exactly `len` bytes, or a refusal naming `field`.
pub fn parse_hex(recipe: &str, field: &str, s: &str, len: usize) -> Result<Vec<u8>> {
    if s.len() != len * 2 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ImportError::refused(
            recipe,
            field,
            format!("{s:?} is not {} lowercase hex digits", len * 2),
        ));
    }
    hex::decode(s).map_err(|e| ImportError::refused(recipe, field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        for ok in ["hello_2.10.orig.tar.gz", "a+b~c:d.patch", "x"] {
            check_name("r", "Files", ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/etc/passwd",
            ".hidden",
            "-rf",
            "a b",
            "a\nb",
            "a..b",
        ] {
            let e = check_name("r", "Files", bad).unwrap_err();
            assert!(e.to_string().contains("Files"), "{e}");
            assert_eq!(e.exit_code().code(), 10);
        }
    }

    #[test]
    fn relative_paths() {
        check_relative_path("r", "f", "debian/patches/a.patch").unwrap();
        for bad in ["", "/x", "a//b", "./a", "a/../b", "a/.", ".."] {
            assert!(check_relative_path("r", "f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hex_of_the_wrong_length_or_case_is_refused() {
        parse_hex("r", "f", &"ab".repeat(32), 32).unwrap();
        for bad in ["ab".repeat(31), "AB".repeat(32), "zz".repeat(32), "ab".repeat(33)] {
            assert!(parse_hex("r", "f", &bad, 32).is_err());
        }
    }
}
