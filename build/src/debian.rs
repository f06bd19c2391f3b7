//! Debian: the clean root (debootstrap `--variant=buildd` plus exactly the
//! Build-Depends, cached), then `dpkg-source -x` and `dpkg-buildpackage
//! -us -uc -b` in an overlay of it, in fresh mount, network, PID, IPC and
//! UTS namespaces (spec/build.md §3).

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::error::{BuildError, Result};
use crate::host::{run_ok, Cmd, Host};

/// Exit status of the namespace script when an interface other than the
/// loopback is visible: the build would reach the network.
const NOT_ISOLATED: i32 = 97;

/// The start of every step in a build root, after `lower` (the cached
/// root) and `work` are set: the overlay of the root (never written) and
/// the step's upper directory, `/proc`, and the network check (only `lo`,
/// or exit 97). One text for the Debian and the SRPM steps.
macro_rules! enter_root {
    () => {
        r#"mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/upper,workdir=$work/ovl" "$work/merged"
mount -t proc proc "$work/merged/proc"
ifs=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/self/net/dev | tr '\n' ' ')
printf '%s\n' "$ifs" > "$work/interfaces"
for i in $ifs; do [ "$i" = lo ] || exit 97; done
"#
    };
}
pub(crate) use enter_root;

/// Run inside `unshare --mount --net --pid --ipc --uts --fork`: the overlay
/// of the cached root (never written) and the build's own upper directory,
/// `/proc`, the network check, then one step chrooted with a cleared
/// environment. Arguments: root, work dir, step, SOURCE_DATE_EPOCH, .dsc
/// (for `install`: the package files, `WORK/target` bind-mounted at
/// `/target` for `dpkg --root`).
const IN_NAMESPACE: &str = concat!(
    r#"set -eu
lower=$1 work=$2 step=$3 sde=$4 dsc=$5
"#,
    enter_root!(),
    r#"set -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/build LC_ALL=C.UTF-8 TZ=UTC
case $step in
unpack) exec chroot "$work/merged" "$@" sh -c 'cd /build && dpkg-source -x "$1" src' sh "$dsc" ;;
build) exec chroot "$work/merged" "$@" SOURCE_DATE_EPOCH="$sde" sh -c 'cd /build/src && dpkg-buildpackage -us -uc -b' ;;
install) mkdir -p "$work/merged/target"
  mount --bind "$work/target" "$work/merged/target"
  # $dsc holds the package file names, one word each (checked by the caller).
  # shellcheck disable=SC2086
  exec chroot "$work/merged" "$@" SOURCE_DATE_EPOCH="$sde" DEBIAN_FRONTEND=noninteractive \
    sh -c 'cd /build && dpkg --root=/target --force-unsafe-io -i "$@"' sh $dsc ;;
*) exit 64 ;;
esac
"#
);

/// The interface check alone, then `exec "$@"`: for steps that need no
/// chroot (Nix's own sandbox isolates the rest). Arguments: work dir, the
/// program and its arguments.
pub(crate) const NETLESS_EXEC: &str = r#"set -eu
work=$1; shift
ifs=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/self/net/dev | tr '\n' ' ')
printf '%s\n' "$ifs" > "$work/interfaces"
for i in $ifs; do [ "$i" = lo ] || exit 97; done
exec "$@"
"#;

/// Installs the Build-Depends into a fresh root (network allowed: this
/// prepares the root, it builds nothing). Arguments: root, dependencies.
const INSTALL_DEPENDS: &str = r#"set -eu
root=$1 deps=$2
mount --make-rprivate /
mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf"
rc=0
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get -q update && apt-get -q -y --no-install-recommends satisfy "$1" && apt-get clean' sh "$deps" || rc=$?
rm -f "$root/etc/resolv.conf"
umount "$root/proc"
exit $rc
"#;

/// Where the root comes from: the machine's apt configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The suite (`bookworm`).
    pub suite: String,
    /// The mirror (`http://deb.debian.org/debian`).
    pub mirror: String,
    /// The Debian architecture (`amd64`).
    pub arch: String,
}

/// The first non-security mirror and its first suite in apt's deb822
/// `.sources` texts, else in a one-line `sources.list`.
pub fn origin_from_apt(sources: &[String], list: Option<&str>) -> Option<(String, String)> {
    for text in sources {
        for para in text.split("\n\n") {
            let field = |name: &str| {
                para.lines()
                    .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
                    .map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            };
            let types = field("Types").unwrap_or_default();
            let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
                continue;
            };
            if !types.iter().any(|t| t == "deb") {
                continue;
            }
            if let (Some(u), Some(s)) = (uris.iter().find(|u| !u.contains("security")), suites.first()) {
                return Some((u.trim_end_matches('/').to_owned(), s.clone()));
            }
        }
    }
    for line in list.unwrap_or("").lines() {
        let mut w = line.split_whitespace().filter(|w| !w.starts_with('['));
        if w.next() != Some("deb") {
            continue;
        }
        if let (Some(u), Some(s)) = (w.next(), w.next()) {
            if u.starts_with("http") && !u.contains("security") {
                return Some((u.trim_end_matches('/').to_owned(), s.to_owned()));
            }
        }
    }
    None
}

/// The Build-Depends (with `-Arch` and `-Indep`: a `-b` build needs both)
/// as one relation list, each relation's whitespace normalised, sorted:
/// what `apt-get satisfy` installs and what the root's cache key names.
pub fn build_depends(fields: &[(&str, Option<&str>)]) -> Vec<String> {
    let mut out: Vec<String> = fields
        .iter()
        .filter_map(|(_, v)| *v)
        .flat_map(|v| v.split(','))
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|r| !r.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The cache key of a root: suite, mirror, architecture and the sorted
/// relations, hashed.
pub fn root_key(o: &Origin, deps: &[String]) -> String {
    let mut h = Sha256::new();
    for part in [o.suite.as_str(), o.mirror.as_str(), o.arch.as_str()] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    for d in deps {
        h.update(d.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..16])
}

/// The prepared root for `deps`, from the cache under `cache` or made now
/// (logging to `log`). A root is renamed into place only when complete, so
/// a failed preparation leaves nothing a later build would take; builds
/// preparing the same root at once take turns (`KEY.lock`, `flock`).
pub fn prepared_root(
    host: &dyn Host,
    cache: &Path,
    o: &Origin,
    deps: &[String],
    log: &Path,
) -> Result<(PathBuf, String)> {
    let key = root_key(o, deps);
    let dir = cache.join(&key);
    let root = dir.join("root");
    if root.join("usr/bin/dpkg-buildpackage").exists() {
        return Ok((root, key));
    }
    std::fs::create_dir_all(cache).map_err(|e| BuildError::io("creating", cache, e))?;
    // One preparation of a root at a time, machine-wide: a second build
    // waits here, then finds the root made (CI makes it once).
    let lock_path = cache.join(format!("{key}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| BuildError::io("opening", &lock_path, e))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| BuildError::io("locking", &lock_path, e.into()))?;
    if root.join("usr/bin/dpkg-buildpackage").exists() {
        return Ok((root, key));
    }
    // A private directory beside the cache entry (two builds may prepare
    // the same root at once, in one process or several); removed unless
    // renamed into place.
    let tmp_dir = tempfile::Builder::new()
        .prefix(&format!(".tmp-{key}-"))
        .tempdir_in(cache)
        .map_err(|e| BuildError::io("creating a directory in", cache, e))?;
    let tmp = tmp_dir.path().to_path_buf();
    let tmp_root = tmp.join("root");
    run_ok(
        host,
        &Cmd::new("debootstrap", "debootstrap", log)
            .arg("--variant=buildd")
            .arg(format!("--arch={}", o.arch))
            .arg(&o.suite)
            .arg(&tmp_root)
            .arg(&o.mirror),
    )?;
    run_ok(
        host,
        &Cmd::new("build-depends", "unshare", log)
            .args(["--mount", "--fork", "--", "sh", "-c", INSTALL_DEPENDS, "sh"])
            .arg(&tmp_root)
            .arg(deps.join(", ")),
    )?;
    let about = format!(
        "suite: {}\nmirror: {}\narchitecture: {}\nbuild-depends: {}\n",
        o.suite,
        o.mirror,
        o.arch,
        deps.join(", ")
    );
    let about_path = tmp.join("key");
    std::fs::write(&about_path, about).map_err(|e| BuildError::io("writing", &about_path, e))?;
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => {
            let _ = tmp_dir.keep();
        }
        // Another build prepared the same root meanwhile: take that one
        // (dropping `tmp_dir` removes this one).
        Err(_) if root.join("usr/bin/dpkg-buildpackage").exists() => {}
        Err(e) => return Err(BuildError::io("renaming into the cache", &dir, e)),
    }
    Ok((root, key))
}

/// The build's working directories: `upper/build` holds the sources (and,
/// after the build, its outputs), `ovl` and `merged` serve the overlay.
pub fn make_work(work: &Path) -> Result<PathBuf> {
    for d in ["upper/build", "ovl", "merged"] {
        let p = work.join(d);
        std::fs::create_dir_all(&p).map_err(|e| BuildError::io("creating", &p, e))?;
    }
    Ok(work.join("upper/build"))
}

/// `sh -c SCRIPT sh` in fresh mount, network, PID, IPC and UTS namespaces:
/// how every step in a build root starts (its arguments follow).
pub(crate) fn namespaced(step: &'static str, script: &'static str, log: &Path) -> Cmd {
    Cmd::new(step, "unshare", log).args([
        "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--", "sh", "-c", script, "sh",
    ])
}

/// Runs `step` (`unpack`, `build` or `install`) in the namespaces over `root`.
pub fn in_namespace(
    host: &dyn Host,
    step: &'static str,
    root: &Path,
    work: &Path,
    epoch: Option<u64>,
    dsc: &str,
    log: &Path,
) -> Result<()> {
    let cmd = namespaced(step, IN_NAMESPACE, log)
        .arg(root)
        .arg(work)
        .arg(step)
        .arg(epoch.map(|e| e.to_string()).unwrap_or_default())
        .arg(dsc);
    netless_status(host.run(&cmd)?, step, work, log)
}

/// How a step run behind the interface check ended: the check's own exit
/// status becomes [`BuildError::NetworkNotIsolated`] (with the interfaces
/// it wrote to `work/interfaces`), any other failure the step's.
pub(crate) fn netless_status(status: crate::host::Status, step: &'static str, work: &Path, log: &Path) -> Result<()> {
    match status {
        Some(0) => Ok(()),
        Some(NOT_ISOLATED) => {
            let seen = std::fs::read_to_string(work.join("interfaces")).unwrap_or_default();
            Err(BuildError::NetworkNotIsolated {
                interfaces: seen.trim().to_owned(),
                log: log.to_path_buf(),
            })
        }
        other => Err(BuildError::StepFailed {
            step,
            status: crate::host::describe(other),
            log: log.to_path_buf(),
        }),
    }
}

/// SOURCE_DATE_EPOCH of a source tree: the date of the newest entry of
/// `debian/changelog` (its first trailer line, ` -- NAME <EMAIL>  DATE`),
/// as `dpkg-parsechangelog -STimestamp` gives it.
pub fn changelog_epoch(changelog: &str) -> Result<u64> {
    let bad = |reason: String| BuildError::Output {
        what: "debian/changelog".into(),
        reason,
    };
    let line = changelog
        .lines()
        .find(|l| l.starts_with(" -- "))
        .ok_or_else(|| bad("no trailer line (\" -- NAME <EMAIL>  DATE\")".into()))?;
    let date = line
        .split_once(">  ")
        .map(|(_, d)| d.trim())
        .ok_or_else(|| bad(format!("{line:?}: no date after the maintainer")))?;
    let t = time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc2822)
        .map_err(|e| bad(format!("{date:?}: not an RFC 2822 date: {e}")))?;
    u64::try_from(t.unix_timestamp()).map_err(|_| bad(format!("{date:?}: before 1970")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_comes_from_the_first_deb_source() {
        let s =
            "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                 Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n";
        assert_eq!(
            origin_from_apt(&[s.to_owned()], None),
            Some(("http://deb.debian.org/debian".into(), "bookworm".into()))
        );
        let l = "# x\ndeb-src http://a/debian sid main\ndeb [arch=amd64] http://m/debian/ trixie main\n";
        assert_eq!(
            origin_from_apt(&[], Some(l)),
            Some(("http://m/debian".into(), "trixie".into()))
        );
        assert_eq!(origin_from_apt(&[], Some("")), None);
    }

    #[test]
    fn build_depends_are_normalised_and_sorted() {
        let d = build_depends(&[
            ("Build-Depends", Some("debhelper-compat (= 13),\n help2man,  texinfo")),
            ("Build-Depends-Indep", None),
            ("Build-Depends-Arch", Some("help2man, libfoo-dev [amd64]")),
        ]);
        assert_eq!(
            d,
            ["debhelper-compat (= 13)", "help2man", "libfoo-dev [amd64]", "texinfo"]
        );
        let o = Origin {
            suite: "bookworm".into(),
            mirror: "http://m".into(),
            arch: "amd64".into(),
        };
        // The key names the list, not its order in the .dsc.
        let mut r = d.clone();
        r.reverse();
        assert_ne!(root_key(&o, &d), root_key(&o, &d[1..]));
        assert_eq!(
            root_key(&o, &d),
            root_key(&o, &build_depends(&[("B", Some(&r.join(",")))]))
        );
    }

    #[test]
    fn epoch_is_the_newest_changelog_entry() {
        let c = "hello (2.10-3) unstable; urgency=medium\n\n  * x\n\n -- Santiago Vila <sanvila@debian.org>  Sun, 14 Aug 2022 23:04:44 +0200\n\n\
                 hello (2.10-2) unstable; urgency=low\n\n -- A <a@b>  Mon, 01 Jan 2018 00:00:00 +0000\n";
        assert_eq!(changelog_epoch(c).unwrap(), 1660511084);
        assert!(changelog_epoch("hello (1) x\n").is_err());
        assert!(changelog_epoch(" -- A <a@b>  yesterday\n").is_err());
    }
}
