//! SRPMs: `rpmbuild --rebuild` of the source package the manifest names by
//! digest, with rpm's reproducibility macros, in a fresh network namespace;
//! the built packages' files are the layer (spec/build.md §8).
//!
//! Debian has no RPM distribution to bootstrap a clean root from, so this
//! build uses the host's `rpmbuild` and tools, and `--nodeps` (the host's
//! rpm database is empty: `BuildRequires` cannot be checked against it).

use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use cerro_core::manifest::DraftManifest;
use serde_json::json;

use crate::error::{BuildError, Result};
use crate::host::{run_ok, Cmd, Host};
use crate::{image, provenance, BuildOutput, Named, OciTarget, Options};

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
        for d in ["rpm", "tmp"] {
            let p = work.join(d);
            std::fs::create_dir_all(&p).map_err(|e| BuildError::io("creating", &p, e))?;
        }
        let srpm = work.join(&name);
        std::fs::copy(sources.join(&name), &srpm).map_err(|e| BuildError::io("copying", sources.join(&name), e))?;
        let srpm_digest = check(&srpm, &name, &want_digest)?;
        // rpm's own digests of the header and payload.
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

        let home = work.display().to_string();
        let mut cmd = Cmd::new("build", "unshare", &log)
            .args(["--net", "--fork", "--", "sh", "-c", crate::debian::NETLESS_EXEC, "sh"])
            .arg(work)
            .args(["rpmbuild", "--rebuild", "--nodeps", "--define"])
            .arg(format!("_topdir {}", work.join("rpm").display()))
            .arg("--define")
            .arg(format!("_tmppath {}", work.join("tmp").display()));
        for (k, v) in MACROS {
            cmd = cmd.arg("--define").arg(format!("{k} {v}"));
        }
        let cmd = cmd
            .arg(&srpm)
            .env("SOURCE_DATE_EPOCH", &epoch.to_string())
            .env("HOME", &home)
            .env("TZ", "UTC")
            .env("LC_ALL", "C.UTF-8");
        crate::debian::netless_status(host.run(&cmd)?, "build", work, &log)?;

        let rpms = built_rpms(&work.join("rpm/RPMS"))?;
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
                "isolation": "unshare --net; only a loopback interface; the host's rpmbuild, --nodeps",
                "commands": ["rpm -K --nosignature", "rpmbuild --rebuild --nodeps", "rpm2archive -n"],
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
            root_key: String::new(),
        })
    })
}
