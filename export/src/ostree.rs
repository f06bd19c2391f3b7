//! `ostree`: a commit in an OSTree repository, made by the `ostree` CLI
//! from the tree as a tar (`layout.rs` `write_tar`, the same writer as a
//! .deb's data.tar, uncompressed, in an unnamed-until-needed spool beside
//! the repository), judged by `ostree fsck` and by the commit id.
//!
//! `ostree commit --tree=tar=… --parent=none --timestamp=@EPOCH
//! --owner-uid=0 --owner-gid=0 --no-xattrs --canonical-permissions`, with
//! a fixed subject and the bundle's provenance as commit metadata
//! (`cerro-torre.*` strings): the commit id depends only on the bundle, so
//! the same bundle gives the same commit id in any repository. A repository
//! that does not exist is created (`archive` mode, which needs no
//! privilege and no xattrs). OSTree writes objects, then moves the branch:
//! a failed commit leaves the branch where it was.

use std::path::Path;
use std::process::Command;

use cerro_core::bundle::Bundle;
use cerro_core::{Error, Result};

use crate::layout::{write_tar, Extra, Prefix};
use crate::meta;
use crate::tree::Tree;
use crate::Format;

/// Most bytes of an `ostree` command's output kept for a message.
const MAX_OUTPUT: usize = 4096;

fn ostree(args: &[String]) -> Result<String> {
    let out = Command::new("ostree")
        .args(args)
        .output()
        .map_err(|e| Error::CommandFailed {
            command: "ostree".into(),
            message: format!("cannot run it (install Debian's ostree): {e}"),
        })?;
    let text = |b: &[u8]| {
        let s = String::from_utf8_lossy(b);
        s.chars().take(MAX_OUTPUT).collect::<String>()
    };
    if !out.status.success() {
        return Err(Error::CommandFailed {
            command: format!("ostree {}", args.first().map(String::as_str).unwrap_or("")),
            message: format!("{}: {}", out.status, text(&out.stderr).trim()),
        });
    }
    Ok(text(&out.stdout))
}

/// The default branch: `cerro/NAME/VERSION` (`:` and `~`, which a ref may
/// not hold, become `_`).
pub(crate) fn default_branch(b: &Bundle) -> String {
    let clean = |s: &str| s.replace([':', '~'], "_");
    format!(
        "cerro/{}/{}",
        clean(&b.manifest.package.name),
        clean(&b.manifest.package.version)
    )
}

/// Commits the tree to branch `branch` of the repository `repo` and returns
/// the commit id.
pub(crate) fn write(
    b: &Bundle,
    tree: &Tree,
    prefix: &Prefix,
    epoch: u64,
    repo: &Path,
    branch: &str,
    scratch: &Path,
) -> Result<String> {
    if branch.is_empty()
        || branch.starts_with(['/', '-', '.'])
        || branch.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        || !branch
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-/".contains(&c))
    {
        return Err(Error::invalid_config(
            "--branch",
            format!("{branch:?} is not an OSTree ref name"),
        ));
    }
    let tar_path = scratch.join("tree.tar");
    let file = std::fs::File::create(&tar_path).map_err(|e| Error::io("creating", &tar_path, e))?;
    let extra: Extra = Vec::new();
    let (w, _) = write_tar(
        tree,
        prefix,
        &extra,
        epoch,
        std::io::BufWriter::with_capacity(1 << 20, file),
        "the tree for ostree",
    )?;
    w.into_inner()
        .map_err(|e| Error::io("writing", &tar_path, e.into_error()))?
        .sync_all()
        .map_err(|e| Error::io("writing", &tar_path, e))?;

    let repo_arg = format!("--repo={}", repo.display());
    if !repo.join("config").exists() {
        ostree(&["init".into(), repo_arg.clone(), "--mode=archive".into()])?;
    }
    let p = &b.manifest.package;
    let provenance = String::from_utf8(meta::provenance_json(b, Format::Ostree, prefix, epoch)?)
        .map_err(|_| Error::malformed("provenance", "not UTF-8"))?;
    let mut args = vec![
        "commit".to_owned(),
        repo_arg,
        format!("--branch={branch}"),
        "--parent=none".into(),
        format!("--timestamp=@{epoch}"),
        format!("--subject={} {}", p.name, p.version),
        format!("--body={}", meta::description(b).join("\n")),
        "--owner-uid=0".into(),
        "--owner-gid=0".into(),
        "--no-xattrs".into(),
        "--canonical-permissions".into(),
        format!("--tree=tar={}", tar_path.display()),
        format!("--add-metadata-string=cerro-torre.image={}", b.image.digest),
        format!("--add-metadata-string=cerro-torre.release={}", meta::release_digest(b)),
        format!("--add-metadata-string=cerro-torre.package={}", p.name),
        format!("--add-metadata-string=cerro-torre.version={}", p.version),
        format!("--add-metadata-string=cerro-torre.provenance={}", provenance.trim_end()),
    ];
    if let Some(prov) = &b.manifest.provenance {
        args.push(format!("--add-metadata-string=cerro-torre.upstream={}", prov.upstream));
    }
    let out = ostree(&args)?;
    let commit = out.trim().to_owned();
    if commit.len() != 64 || !commit.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::CommandFailed {
            command: "ostree commit".into(),
            message: format!("printed {commit:?}, not a commit id"),
        });
    }
    Ok(commit)
}
