//! Certificate authorities for registries with private certificates, found
//! where podman, skopeo and docker look: a `certs.d` directory per registry.

use std::path::{Path, PathBuf};

use cerro_core::Error;

/// The directories searched for `registry` (`host[:port]`), in order:
/// `cert_dir` alone if given (skopeo's `--cert-dir`); else
/// `$HOME/.config/containers/certs.d/<registry>`,
/// `/etc/containers/certs.d/<registry>` and `/etc/docker/certs.d/<registry>`.
pub fn cert_dirs(registry: &str, cert_dir: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    if let Some(d) = cert_dir {
        return vec![d.to_path_buf()];
    }
    let mut dirs = Vec::new();
    if let Some(h) = env("HOME") {
        dirs.push(Path::new(&h).join(".config/containers/certs.d").join(registry));
    }
    dirs.push(Path::new("/etc/containers/certs.d").join(registry));
    dirs.push(Path::new("/etc/docker/certs.d").join(registry));
    dirs
}

/// Every `*.crt` (PEM) in `dirs`, sorted by name within each directory.
/// A directory that does not exist is skipped, unless `required` (a
/// directory named on the command line must exist); a file that is not a
/// PEM certificate is an error naming it.
pub fn load_cas(dirs: &[PathBuf], required: bool) -> Result<Vec<(PathBuf, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => return Err(Error::io("reading certificate directory", dir, e)),
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        files.sort();
        for f in files {
            let pem = std::fs::read(&f).map_err(|e| Error::io("reading", &f, e))?;
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(Error::invalid_config(f.display().to_string(), "not a PEM certificate"));
            }
            out.push((f, pem));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn searches_certs_d_like_podman_unless_a_directory_is_given() {
        let env = |k: &str| (k == "HOME").then(|| "/home/u".to_owned());
        assert_eq!(
            cert_dirs("r.example:5000", None, env),
            vec![
                PathBuf::from("/home/u/.config/containers/certs.d/r.example:5000"),
                PathBuf::from("/etc/containers/certs.d/r.example:5000"),
                PathBuf::from("/etc/docker/certs.d/r.example:5000"),
            ]
        );
        assert_eq!(
            cert_dirs("r", Some(Path::new("/tmp/c")), env),
            vec![PathBuf::from("/tmp/c")]
        );
    }

    #[test]
    fn loads_crt_files_and_refuses_what_is_not_pem() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        std::fs::write(
            d.join("b.crt"),
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(
            d.join("a.crt"),
            "-----BEGIN CERTIFICATE-----\nMIIA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(d.join("client.key"), "not read").unwrap();
        let cas = load_cas(std::slice::from_ref(&d), true).unwrap();
        let names: Vec<_> = cas.iter().map(|(p, _)| p.file_name().unwrap().to_owned()).collect();
        assert_eq!(names, ["a.crt", "b.crt"]);
        assert!(load_cas(&[d.join("missing")], false).unwrap().is_empty());
        assert_eq!(
            load_cas(&[d.join("missing")], true).unwrap_err().exit_code(),
            cerro_core::ExitCode::Io
        );
        std::fs::write(d.join("c.crt"), "garbage").unwrap();
        let e = load_cas(&[d], true).unwrap_err();
        assert!(e.to_string().contains("c.crt"), "{e}");
    }
}
