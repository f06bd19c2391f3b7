//! Nix: the imported store derivation copied into a private store (with the
//! paths it names), checked again there, and realised by `nix-store
//! --realise` under a private configuration (sandbox on, no substituters)
//! in a fresh network namespace; each output path is recorded by its NAR
//! hash (computed by ct, [`nar`]) and its tree, as the NAR sees it, is the
//! layer (spec/build.md §7).

use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use cerro_core::manifest::DraftManifest;
use serde_json::json;

use crate::error::{BuildError, Result};
use crate::host::{run_ok, Cmd, Host};
use crate::{image, nar, provenance, BuildOutput, Named, OciTarget, Options};

/// The configuration of the private Nix: the sandbox on (a build sees only
/// its inputs and `/bin/sh`, busybox), no substituter (nothing is
/// downloaded: every input is in the store or built), no build users (root
/// builds in the sandbox).
const NIX_CONF: &str = "sandbox = true\nbuild-users-group =\nsubstituters =\n\
                        sandbox-paths = /bin/sh=/bin/busybox\nexperimental-features = nix-command\n";

/// Every store file's mtime (Nix canonicalises them to 1): the image's
/// `created` and the layer's clamp.
pub const EPOCH: u64 = 1;

/// Debian's name of a Nix system's architecture (what the image's platform
/// is derived from).
pub fn debian_arch(system: &str) -> Option<&'static str> {
    match system {
        "x86_64-linux" => Some("amd64"),
        "aarch64-linux" => Some("arm64"),
        "i686-linux" => Some("i386"),
        "armv7l-linux" => Some("armhf"),
        "riscv64-linux" => Some("riscv64"),
        "powerpc64le-linux" => Some("ppc64el"),
        _ => None,
    }
}

/// `/nix/store/NAME` → `NAME`, when NAME is one plain component.
fn store_name(path: &str) -> Option<&str> {
    path.strip_prefix("/nix/store/")
        .filter(|n| !n.is_empty() && !n.contains('/') && !n.starts_with('.'))
}

/// The store root holding `NAME` in `sources`: `sources` itself (a root,
/// `sources/nix/store/NAME`) or, when `sources` is a root's `nix/store`,
/// its grandparent.
fn store_root(sources: &Path, name: &str) -> (PathBuf, PathBuf) {
    if sources.ends_with("nix/store") && sources.join(name).exists() {
        if let Some(root) = sources.parent().and_then(Path::parent) {
            return (root.to_path_buf(), sources.join(name));
        }
    }
    (sources.to_path_buf(), sources.join("nix/store").join(name))
}

fn import_check(drv: &Path, want: &cerro_core::manifest::Provenance) -> Result<cerro_import::Imported> {
    let opts = cerro_import::Options {
        keyring: None,
        upstream: Some(want.upstream.clone()),
    };
    let got = cerro_import::nix::import_drv(drv, &opts)?;
    crate::same_sources(drv, &got, want)?;
    Ok(got)
}

fn nix_cmd(step: &'static str, program: &str, work: &Path, log: &Path) -> Cmd {
    Cmd::new(step, program, log)
        .env("NIX_CONF_DIR", &work.join("conf").display().to_string())
        .env("HOME", &work.display().to_string())
        .env("XDG_CACHE_HOME", &work.join("cache").display().to_string())
}

/// Builds a manifest whose `[build].system` is `nix`.
pub fn build(
    manifest: &DraftManifest,
    sources: &Path,
    out: &OciTarget,
    opts: &Options,
    host: &dyn Host,
) -> Result<BuildOutput> {
    let (want, name) = crate::recipe_of(manifest, "nix:", ".drv")?;
    let (src_root, drv) = store_root(sources, &name);
    // The first check, on the derivation as given: refuses before anything runs.
    let first = import_check(&drv, want)?;
    let system = first
        .evidence
        .fields
        .get("system")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let arch = debian_arch(&system).ok_or_else(|| BuildError::Manifest {
        field: "provenance.imported_from",
        reason: format!("the derivation's system {system:?} is not one ct build knows"),
    })?;
    crate::in_work_dir(|work| {
        let log = work.join("build.log");
        for d in ["conf", "store", "cache"] {
            let p = work.join(d);
            std::fs::create_dir_all(&p).map_err(|e| BuildError::io("creating", &p, e))?;
        }
        let conf = work.join("conf/nix.conf");
        std::fs::write(&conf, NIX_CONF).map_err(|e| BuildError::io("writing", &conf, e))?;
        let store = work.join("store");
        let store_uri = format!("local?root={}", store.display());
        let drv_path = format!("/nix/store/{name}");
        // The derivation and its input closure into the private store.
        run_ok(
            host,
            &nix_cmd("copy", "nix", work, &log)
                .args(["copy", "--derivation", "--no-check-sigs", "--from"])
                .arg(format!("local?root={}", src_root.display()))
                .arg("--to")
                .arg(&store_uri)
                .arg(&drv_path),
        )?;
        // The second check, on the copy the build reads.
        let private_drv = store.join("nix/store").join(&name);
        import_check(&private_drv, want)?;
        let drv_digest =
            Digest::of(&std::fs::read(&private_drv).map_err(|e| BuildError::io("reading", &private_drv, e))?);

        let outputs_file = work.join("outputs");
        let cmd = nix_cmd("realise", "unshare", work, &log)
            .args(["--net", "--fork", "--", "sh", "-c", crate::debian::NETLESS_EXEC, "sh"])
            .arg(work)
            .args(["nix-store", "--store"])
            .arg(&store_uri)
            .arg("--realise")
            .arg(&drv_path)
            .stdout_to(&outputs_file);
        crate::debian::netless_status(host.run(&cmd)?, "realise", work, &log)?;
        let listed = std::fs::read_to_string(&outputs_file).map_err(|e| BuildError::io("reading", &outputs_file, e))?;
        let mut outputs: Vec<String> = Vec::new();
        for line in listed.lines().filter(|l| !l.trim().is_empty()) {
            let n = store_name(line.trim()).ok_or_else(|| BuildError::Output {
                what: "nix-store --realise".into(),
                reason: format!("{line:?} is not a store path"),
            })?;
            outputs.push(n.to_owned());
        }
        outputs.sort();
        if outputs.is_empty() {
            return Err(BuildError::StepFailed {
                step: "realise",
                status: "no output path".into(),
                log,
            });
        }

        // One walk of each output: its NAR hashed (the digest Nix gives it)
        // and its tree, as the NAR sees it, into the layer.
        let mut tree = image::Tree::default();
        tree.add_dir("nix", EPOCH);
        tree.add_dir("nix/store", EPOCH);
        let mut nars = Vec::with_capacity(outputs.len());
        for o in &outputs {
            let at = format!("nix/store/{o}");
            let digest = nar::hash(&store.join("nix/store").join(o), Some((&mut tree, at.as_str(), EPOCH)))?;
            nars.push(Named {
                name: format!("/nix/store/{o}"),
                digest,
            });
        }
        let layer = tree.to_tar(EPOCH)?;
        let from = want.imported_from.as_deref().unwrap_or_default();
        let written = image::write_layout(out, &layer, EPOCH, arch, &format!("ct build {from}"))?;
        let sources = [(
            Named {
                name: name.clone(),
                digest: drv_digest,
            },
            "recipe",
        )];
        let byproducts = nars.iter().map(output).collect();
        let predicate = provenance::predicate(provenance::Facts {
            manifest,
            build_type: provenance::BUILD_TYPE_NIX,
            sources: &sources,
            internal: json!({
                "sourceDateEpoch": EPOCH,
                "system": system,
                "store": "a private local store holding the derivation's closure, copied from the sources",
                "nixConf": NIX_CONF,
                "isolation": "unshare --net; only a loopback interface; Nix's sandbox",
                "commands": ["nix copy --derivation", "nix-store --realise"],
                "outputs": "each output path by the SHA-256 of its NAR (nix-store --dump), computed by ct",
            }),
            byproducts,
            image: (&out.tag, written.manifest),
            layer: written.layer,
            tool_version: &opts.tool_version,
        });
        let provenance_path = crate::write_provenance(out, &written.manifest, &predicate)?;
        Ok(BuildOutput {
            image: written.manifest,
            config: written.config,
            layer: written.layer,
            packages: nars,
            source_date_epoch: EPOCH,
            provenance: predicate,
            provenance_path,
            root_key: String::new(),
        })
    })
}

/// The media type of an output byproduct: its digest is its NAR's.
pub const NAR_MEDIA_TYPE: &str = "application/x-nix-nar";

/// An output path as a byproduct: named by its store path, its `digest`
/// the SHA-256 of its NAR, `narHash` the same in Nix's spelling (what
/// `nix-store --query --hash` prints).
fn output(n: &Named) -> serde_json::Value {
    json!({
        "name": n.name,
        "uri": format!("file://{}", n.name),
        "digest": provenance::sha(&n.digest),
        "mediaType": NAR_MEDIA_TYPE,
        "annotations": {"role": "output", "narHash": nar::nar_hash_string(&n.digest)},
    })
}

/// The output paths a predicate records, with their NAR digests (a
/// byproduct of role `output` without a well-formed digest gives `None`).
pub fn outputs_of(predicate: &serde_json::Value) -> Vec<(String, Option<Digest>)> {
    let Some(by) = predicate.pointer("/runDetails/byproducts").and_then(|b| b.as_array()) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Option<Digest>)> = by
        .iter()
        .filter(|b| b.pointer("/annotations/role").and_then(|r| r.as_str()) == Some("output"))
        .map(|b| {
            let name = b.get("name").and_then(|n| n.as_str()).unwrap_or_default().to_owned();
            let d = b
                .pointer("/digest/sha256")
                .and_then(|d| d.as_str())
                .and_then(Digest::from_hex);
            (name, d)
        })
        .collect();
    out.sort();
    out
}

/// One output path of a release against its rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputMatch {
    /// The store path.
    pub name: String,
    /// The release's NAR digest (`None`: absent from the release, or not
    /// recorded by digest).
    pub ours: Option<Digest>,
    /// The rebuild's (`None`: the rebuild made no such output).
    pub theirs: Option<Digest>,
}

impl OutputMatch {
    /// Both sides name the output by the same NAR digest.
    pub fn same(&self) -> bool {
        self.ours.is_some() && self.ours == self.theirs
    }

    /// The release names this output but not by a digest (it was built
    /// before ct recorded NAR hashes) and the rebuild made it: nothing to
    /// compare it with (the image's layer, which holds it, still is).
    pub fn unrecorded(&self) -> bool {
        self.ours.is_none() && self.theirs.is_some()
    }
}

/// The output paths of a release's provenance `ours` against those of a
/// rebuild's `theirs`, by store path, in name order: what `ct rebuild`
/// compares besides the image's blobs (a store path can match while its
/// contents differ; its NAR hash cannot).
pub fn compare_outputs(ours: &serde_json::Value, theirs: &serde_json::Value) -> Vec<OutputMatch> {
    let (a, b) = (outputs_of(ours), outputs_of(theirs));
    let mut names: Vec<&String> = a.iter().chain(b.iter()).map(|(n, _)| n).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| {
            let find = |l: &[(String, Option<Digest>)]| l.iter().find(|(m, _)| m == n).and_then(|(_, d)| *d);
            OutputMatch {
                name: n.clone(),
                ours: find(&a),
                theirs: find(&b),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_paths_and_roots() {
        assert_eq!(store_name("/nix/store/abc-x"), Some("abc-x"));
        for bad in ["/nix/store/", "/nix/store/a/b", "/tmp/x", "/nix/store/.x"] {
            assert_eq!(store_name(bad), None, "{bad}");
        }
        let (root, drv) = store_root(Path::new("/s"), "a.drv");
        assert_eq!((root, drv), (PathBuf::from("/s"), PathBuf::from("/s/nix/store/a.drv")));
        assert_eq!(debian_arch("x86_64-linux"), Some("amd64"));
        assert_eq!(debian_arch("x86_64-darwin"), None);
    }

    #[test]
    fn outputs_are_compared_by_nar_digest() {
        let (d1, d2) = (Digest::of(b"1"), Digest::of(b"2"));
        let pred = |outs: &[(&str, Digest)]| {
            let by: Vec<serde_json::Value> = outs
                .iter()
                .map(|(n, d)| {
                    output(&Named {
                        name: (*n).to_owned(),
                        digest: *d,
                    })
                })
                .chain([json!({"name": "oci:1", "digest": {"sha256": d1.hex()}, "annotations": {"role": "image"}})])
                .collect();
            json!({"runDetails": {"byproducts": by}})
        };
        let a = pred(&[("/nix/store/a-x", d1), ("/nix/store/b-y", d2)]);
        let r = compare_outputs(&a, &a);
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(OutputMatch::same));
        assert_eq!(
            a["runDetails"]["byproducts"][0]["annotations"]["narHash"],
            nar::nar_hash_string(&d1)
        );
        // A different NAR under the same store path, a missing output: named.
        let b = pred(&[("/nix/store/a-x", d2)]);
        let r = compare_outputs(&a, &b);
        assert_eq!(
            r,
            [
                OutputMatch {
                    name: "/nix/store/a-x".into(),
                    ours: Some(d1),
                    theirs: Some(d2)
                },
                OutputMatch {
                    name: "/nix/store/b-y".into(),
                    ours: Some(d2),
                    theirs: None
                },
            ]
        );
        assert!(r.iter().all(|m| !m.same()));
        // An output recorded without a digest (a release built before NAR
        // hashes were recorded) never matches, and is told apart.
        let old =
            json!({"runDetails": {"byproducts": [{"name": "/nix/store/a-x", "annotations": {"role": "output"}}]}});
        let r = compare_outputs(&old, &b);
        assert!(!r[0].same() && r[0].unrecorded());
        assert!(!compare_outputs(&a, &b)[1].unrecorded());
    }
}
