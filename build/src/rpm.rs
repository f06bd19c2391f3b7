//! SRPMs: `rpmbuild --rebuild` of the source package the manifest names by
//! digest, with rpm's reproducibility macros, in a clean root entered as
//! the Debian builds enter theirs (spec/build.md §8): a cached
//! debootstrapped root holding Debian's `rpm` (keyed as the Debian roots
//! are, [`crate::debian::root_key`]), an overlay of it, fresh mount,
//! network, PID, IPC and UTS namespaces with only a loopback interface, a
//! cleared environment; the built packages' files are the layer.
//!
//! What "clean" cannot mean here: Debian has no RPM distribution, so the
//! SRPM's `BuildRequires` (Fedora package names) cannot be installed into
//! the root or checked against its (empty) rpm database. The build runs
//! with `--nodeps` on what a Debian `buildd` root holds, and the
//! provenance records the `BuildRequires` as not resolved.

use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use cerro_core::manifest::DraftManifest;
use serde_json::json;

use crate::error::{BuildError, Result};
use crate::host::{run_ok, Cmd, Host};
use crate::{image, provenance, BuildOutput, Named, OciTarget, Options};

/// The Debian packages of an SRPM's root, besides `--variant=buildd`'s:
/// what the root's cache key names.
pub const ROOT_PACKAGES: [&str; 1] = ["rpm"];

/// Run inside `unshare --mount --net --pid --ipc --uts --fork`, as
/// `debian.rs`'s script: the overlay of the cached root (never written)
/// and the build's upper directory, `/proc`, the network check, then
/// `rpmbuild --rebuild --nodeps` chrooted with a cleared environment.
/// Arguments: root, work dir, SOURCE_DATE_EPOCH, the SRPM's name (in
/// `/build`), then rpmbuild's `--define`s.
const IN_NAMESPACE: &str = concat!(
    r#"set -eu
lower=$1 work=$2 sde=$3 srpm=$4
shift 4
"#,
    crate::debian::enter_root!(),
    r#"exec chroot "$work/merged" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/build LC_ALL=C.UTF-8 TZ=UTC \
  SOURCE_DATE_EPOCH="$sde" rpmbuild --rebuild --nodeps "$@" "/build/$srpm"
"#
);

/// Most bytes of a source package read.
const MAX_SRPM: u64 = 4 << 30;

/// The macros that make two builds of one SRPM give the same packages
/// (rpm 4.18: build time and file mtimes from SOURCE_DATE_EPOCH, a fixed
/// build host).
pub const MACROS: [(&str, &str); 3] = [
    ("use_source_date_epoch_as_buildtime", "1"),
    ("clamp_mtime_to_source_date_epoch", "1"),
    ("_buildhost", "reproducible"),
];

fn digest_of(path: &Path) -> Result<Digest> {
    Ok(Digest::of(&cerro_core::file::read_bounded(
        path,
        MAX_SRPM,
        "source package",
    )?))
}

/// The SRPM's digest is the manifest's.
fn check(path: &Path, name: &str, want: &Digest) -> Result<Digest> {
    let got = digest_of(path)?;
    if got != *want {
        return Err(BuildError::SourceMismatch {
            what: format!("{name} (provenance.imported_from_hash)"),
            expected: want.to_string(),
            actual: got.to_string(),
        });
    }
    Ok(got)
}

/// Every `*.rpm` under `dir` (one level of architecture directories), as
/// `(ARCH/NAME, path)`, sorted.
fn built_rpms(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let list = |d: &Path| -> Result<Vec<PathBuf>> {
        let rd = std::fs::read_dir(d).map_err(|e| BuildError::io("listing", d, e))?;
        rd.map(|e| e.map(|e| e.path()).map_err(|x| BuildError::io("listing", d, x)))
            .collect()
    };
    for arch in list(dir)? {
        if !arch.is_dir() {
            continue;
        }
        for p in list(&arch)? {
            if p.extension().is_some_and(|x| x == "rpm") {
                let a = arch
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let n = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((format!("{a}/{n}"), p));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Builds a manifest whose `[build].system` is `rpm` and whose recipe is a
/// source package (`imported_from = "fedora:NAME.src.rpm"`).
pub fn build(
    manifest: &DraftManifest,
    sources: &Path,
    out: &OciTarget,
    opts: &Options,
    host: &dyn Host,
) -> Result<BuildOutput> {
    let (want, name) = crate::recipe_of(manifest, "fedora:", ".src.rpm").map_err(|e| match e {
        BuildError::Manifest { field, reason } => BuildError::Manifest {
            field,
            reason: format!("{reason} (ct build rebuilds source packages; a .spec alone is not built)"),
        },
        other => other,
    })?;
    let want_digest = want.imported_from_hash.unwrap_or(Digest::from_bytes([0; 32]));
    // Refused before anything runs: a missing or different source package.
    check(&sources.join(&name), &name, &want_digest)?;
    crate::in_work_dir(|work| {
        let log = work.join("build.log");
        let build_dir = crate::debian::make_work(work)?;
        for d in ["rpm", "tmp"] {
            let p = build_dir.join(d);
            std::fs::create_dir_all(&p).map_err(|e| BuildError::io("creating", &p, e))?;
        }
        let srpm = build_dir.join(&name);
        std::fs::copy(sources.join(&name), &srpm).map_err(|e| BuildError::io("copying", sources.join(&name), e))?;
        let srpm_digest = check(&srpm, &name, &want_digest)?;
        // rpm's own digests of the header and payload, its changelog time
        // and its BuildRequires: read (not built) with the host's rpm,
        // before the root is prepared.
        run_ok(
            host,
            &Cmd::new("check", "rpm", &log).args(["-K", "--nosignature"]).arg(&srpm),
        )?;
        let when = work.join("changelogtime");
        run_ok(
            host,
            &Cmd::new("query", "rpm", &log)
                .args(["-qp", "--qf", "%{CHANGELOGTIME}"])
                .arg(&srpm)
                .stdout_to(&when),
        )?;
        let when_text = std::fs::read_to_string(&when).map_err(|e| BuildError::io("reading", &when, e))?;
        let epoch: u64 = when_text.trim().parse().map_err(|_| BuildError::Output {
            what: name.clone(),
            reason: format!("no %changelog date ({:?}): no SOURCE_DATE_EPOCH", when_text.trim()),
        })?;
        let req_path = work.join("buildrequires");
        run_ok(
            host,
            &Cmd::new("requires", "rpm", &log)
                .args(["-qp", "--requires"])
                .arg(&srpm)
                .stdout_to(&req_path),
        )?;
        let build_requires = build_requires(&cerro_core::file::read_bounded(
            &req_path,
            1 << 20,
            "rpm -qp --requires",
        )?);

        let deps: Vec<String> = ROOT_PACKAGES.iter().map(|p| (*p).to_owned()).collect();
        let (root, key) = crate::debian::prepared_root(host, &opts.cache, &opts.origin, &deps, &log)?;
        let mut cmd = crate::debian::namespaced("build", IN_NAMESPACE, &log)
            .arg(&root)
            .arg(work)
            .arg(epoch.to_string())
            .arg(&name)
            .args(["--define", "_topdir /build/rpm", "--define", "_tmppath /build/tmp"]);
        for (k, v) in MACROS {
            cmd = cmd.arg("--define").arg(format!("{k} {v}"));
        }
        crate::debian::netless_status(host.run(&cmd)?, "build", work, &log)?;

        let rpms = built_rpms(&build_dir.join("rpm/RPMS"))?;
        if rpms.is_empty() {
            return Err(BuildError::StepFailed {
                step: "build",
                status: "no package was built".into(),
                log,
            });
        }
        let mut tree = image::Tree::default();
        let mut packages = Vec::new();
        for (n, p) in &rpms {
            run_ok(host, &Cmd::new("extract", "rpm2archive", &log).arg("-n").arg(p))?;
            let tar = PathBuf::from(format!("{}.tar", p.display()));
            let f = std::fs::File::open(&tar).map_err(|e| BuildError::io("opening", &tar, e))?;
            tree.add_tar(n, std::io::BufReader::new(f))?;
            packages.push(Named {
                name: n.clone(),
                digest: digest_of(p)?,
            });
        }
        let layer = tree.to_tar(epoch)?;
        let from = want.imported_from.as_deref().unwrap_or_default();
        let written = image::write_layout(out, &layer, epoch, &opts.origin.arch, &format!("ct build {from}"))?;
        let sources = [(
            Named {
                name: name.clone(),
                digest: srpm_digest,
            },
            "recipe",
        )];
        let macros: serde_json::Map<String, serde_json::Value> =
            MACROS.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
        let predicate = provenance::predicate(provenance::Facts {
            manifest,
            build_type: provenance::BUILD_TYPE_RPM,
            sources: &sources,
            internal: json!({
                "sourceDateEpoch": epoch,
                "macros": macros,
                "architecture": opts.origin.arch,
                "root": {
                    "suite": opts.origin.suite,
                    "mirror": opts.origin.mirror,
                    "architecture": opts.origin.arch,
                    "variant": "buildd",
                    "packages": deps,
                    "cacheKey": key,
                },
                "isolation": "unshare --mount --net --pid --ipc --uts; only a loopback interface; Debian's rpmbuild in the root, --nodeps",
                "buildRequires": {
                    "declared": build_requires,
                    "resolved": false,
                    "why": "Fedora's BuildRequires cannot be installed from Debian: the root holds a Debian buildd system and Debian's rpm, its rpm database is empty, and rpmbuild runs with --nodeps",
                },
                "commands": ["rpm -K --nosignature", "rpm -qp --requires", "rpmbuild --rebuild --nodeps", "rpm2archive -n"],
            }),
            byproducts: packages
                .iter()
                .map(|p| provenance::package(p, "application/x-rpm"))
                .collect(),
            image: (&out.tag, written.manifest),
            layer: written.layer,
            tool_version: &opts.tool_version,
        });
        let provenance_path = crate::write_provenance(out, &written.manifest, &predicate)?;
        Ok(BuildOutput {
            image: written.manifest,
            config: written.config,
            layer: written.layer,
            packages,
            source_date_epoch: epoch,
            provenance: predicate,
            provenance_path,
            root_key: key,
        })
    })
}

/// The SRPM's requirements (`rpm -qp --requires`: its BuildRequires, with
/// rpm's own `rpmlib(…)` features), one a line, as rpm lists them.
fn build_requires(listed: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(listed)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Recording;

    #[test]
    fn an_srpm_is_built_in_the_cached_root_in_fresh_namespaces() {
        let dir = tempfile::tempdir().unwrap();
        let srpm = b"an srpm";
        std::fs::write(dir.path().join("g-1-1.src.rpm"), srpm).unwrap();
        let manifest: DraftManifest = toml::from_str(&format!(
            "[package]\nname = \"g\"\nversion = \"1-1\"\n[provenance]\nupstream = \"https://x/\"\n\
             imported_from = \"fedora:g-1-1.src.rpm\"\nimported_from_hash = \"{}\"\n[build]\nsystem = \"rpm\"\n",
            Digest::of(srpm)
        ))
        .unwrap();
        let opts = crate::Options {
            cache: dir.path().join("cache"),
            origin: crate::debian::Origin {
                suite: "bookworm".into(),
                mirror: "http://m/debian".into(),
                arch: "amd64".into(),
            },
            tool_version: "0".into(),
            base: None,
        };
        let target = OciTarget::parse(&format!("oci:{}:t", dir.path().join("img").display())).unwrap();
        // Each step leaves what the real one would; the build fails (exit 2).
        let host = Recording {
            effect: Box::new(|c: &Cmd| match c.step {
                "query" => std::fs::write(c.stdout.as_ref().unwrap(), "1830254400").unwrap(),
                "requires" => std::fs::write(
                    c.stdout.as_ref().unwrap(),
                    "make\nrpmlib(CompressedFileNames) <= 3.0.4-1\n",
                )
                .unwrap(),
                "debootstrap" => {
                    let root = PathBuf::from(&c.args[3]);
                    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
                    std::fs::write(root.join("usr/bin/dpkg-buildpackage"), "").unwrap();
                }
                _ => {}
            }),
            ..Recording::new(vec![Some(0), Some(0), Some(0), Some(0), Some(0), Some(2)])
        };
        let e = build(&manifest, dir.path(), &target, &opts, &host).unwrap_err();
        assert!(matches!(e, BuildError::StepFailed { step: "build", .. }), "{e}");
        assert_eq!(
            host.steps(),
            ["check", "query", "requires", "debootstrap", "build-depends", "build"]
        );
        let ran = host.ran.borrow();
        // The root holds Debian's rpm and is keyed as a Debian root is.
        assert_eq!(ran[4].args.last().unwrap(), "rpm");
        let key = crate::debian::root_key(&opts.origin, &["rpm".to_owned()]);
        let build = &ran[5];
        assert_eq!(build.program, "unshare");
        for ns in ["--mount", "--net", "--pid", "--ipc", "--uts"] {
            assert!(build.args.iter().any(|a| a == ns), "{ns}: {:?}", build.args);
        }
        let root = opts.cache.join(&key).join("root");
        assert!(build.args.iter().any(|a| *a == *root.as_os_str()), "{:?}", build.args);
        assert!(build.args.iter().any(|a| a == "use_source_date_epoch_as_buildtime 1"));
        assert!(build.args.iter().any(|a| a == "1830254400"));
        assert!(build.env.is_empty(), "the environment is set inside the root, cleared");
        assert!(!dir.path().join("img").exists());
        assert_eq!(
            build_requires(b"make\n  rpmlib(X)  <= 1\n\n"),
            ["make", "rpmlib(X) <= 1"]
        );
    }
}
