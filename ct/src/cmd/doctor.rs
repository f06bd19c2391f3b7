//! `ct doctor`: whether this host is set up as the shim and the hook need
//! (their paths agree with `ct`'s, files root-owned, hooks.d, SELinux).

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use cerro_core::timestamp::format_rfc3339;
use cerro_core::ExitCode;
use cerro_enforce::{check_daemon_owned, Config, KernelSelinux, SelinuxHost as _, SelinuxMode, SelinuxStatus};

use crate::ctx::{source_date_epoch, Ctx};

pub fn doctor(ctx: &Ctx) -> Result<ExitCode> {
    let mut problems = 0;
    let mut report = |ok: bool, what: String| {
        if !ok {
            problems += 1;
        }
        println!("[{}] {what}", if ok { "ok  " } else { "FAIL" });
    };
    let root = ctx.home.root();
    match fs::metadata(root) {
        Ok(m) => {
            let mode = m.permissions().mode() & 0o777;
            report(
                mode & 0o022 == 0,
                format!("state directory {} (mode {mode:o})", root.display()),
            );
        }
        Err(_) => println!(
            "[info] state directory {} does not exist yet (ct keygen creates it)",
            root.display()
        ),
    }
    match ctx.home.load_trust() {
        Ok(store) => {
            let keys: Vec<_> = store.keys().collect();
            report(true, format!("trust store: {} key(s)", keys.len()));
            for k in keys {
                let p = ctx.home.private_path(&k.id);
                if let Ok(m) = fs::metadata(&p) {
                    let mode = m.permissions().mode() & 0o777;
                    report(
                        mode & 0o077 == 0,
                        format!("private key {} (mode {mode:o})", p.display()),
                    );
                }
                if k.revoked_at.is_some() {
                    println!("[info] key {} is revoked", k.id);
                }
            }
        }
        Err(e) => report(false, format!("trust store: {e}")),
    }
    // The trust in force, as verification loads it now: a signed root
    // (expiry, rollback) and its revocation list (next update).
    match ctx
        .now()
        .and_then(|now| Ok((now, ctx.home.load_for_verification(now)?)))
    {
        Ok((now, store)) => {
            if let Some(r) = store.root() {
                report(
                    true,
                    format!(
                        "signed trust root version {}, expires {}",
                        r.version,
                        format_rfc3339(r.expires)
                    ),
                );
            }
            if let Some(l) = store.revocation() {
                report(
                    now < l.next_update(),
                    format!(
                        "revocation list version {}, issued {}, next update {} (stale from then on: ct revocation fetch)",
                        l.version(),
                        format_rfc3339(l.issued()),
                        format_rfc3339(l.next_update())
                    ),
                );
            }
        }
        Err(e) => report(false, format!("trust in force: {e}")),
    }
    match source_date_epoch() {
        Ok(t) => report(true, format!("SOURCE_DATE_EPOCH: bundles get mtime {t}")),
        Err(e) => report(false, e.to_string()),
    }
    let cpu = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let sha_ni = cpu.split_whitespace().any(|w| w == "sha_ni");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "[info] {cores} core(s) for hashing; SHA extensions {}",
        if sha_ni {
            "present"
        } else {
            "absent (hashing is slower)"
        }
    );
    let selinux = KernelSelinux::default();
    let status = selinux.status();
    println!("[info] {}", selinux_line(&status));
    if let SelinuxStatus::Enabled { mls, .. } = status {
        let mut checks = domain_checks(Path::new("/"), &selinux, mls);
        checks.extend(image_store_checks(&selinux));
        for line in checks {
            match line {
                Check::Ok(what) => report(true, what),
                Check::Fail(what) => report(false, what),
                Check::Info(what) => println!("[info] {what}"),
            }
        }
    }
    let dirs: Vec<&Path> = PODMAN_HOOKS_DIRS.iter().map(Path::new).collect();
    let mine = ctx.config(None)?;
    let mut lines = path_agreement(&mine, ctx.euid(), &dirs);
    lines.extend(daemon_checks(&dirs));
    for line in lines {
        match line {
            Check::Ok(what) => report(true, what),
            Check::Fail(what) => report(false, what),
            Check::Info(what) => println!("[info] {what}"),
        }
    }
    Ok(if problems == 0 {
        ExitCode::Valid
    } else {
        ExitCode::Config
    })
}

/// Where podman looks for hooks.d files when neither `--hooks-dir` nor a
/// containers.conf `hooks_dir` says otherwise.
const PODMAN_HOOKS_DIRS: &[&str] = &["/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d"];

/// Largest hooks.d file read.
const MAX_HOOK_JSON: u64 = 1 << 20;

/// One line of the daemon checks.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    Ok(String),
    Fail(String),
    Info(String),
}

/// A hooks.d file that runs `cerro-hook`: its path, the hook binary, and
/// the environment it gives the hook.
struct HookFile {
    json: PathBuf,
    binary: PathBuf,
    env: Vec<(String, OsString)>,
}

/// The hooks.d files in `dirs` whose hook is a `cerro-hook` (by the
/// binary's file name), and one line for each file that cannot be read.
fn find_hooks(dirs: &[&Path], lines: &mut Vec<Check>) -> Vec<HookFile> {
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(dir) else { continue };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for json in paths {
            let parsed = cerro_core::file::read_bounded(&json, MAX_HOOK_JSON, "hooks.d file")
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string()));
            let v = match parsed {
                Ok(v) => v,
                Err(e) => {
                    lines.push(Check::Fail(format!("hooks.d file {}: {e}", json.display())));
                    continue;
                }
            };
            let Some(binary) = v["hook"]["path"].as_str().map(PathBuf::from) else {
                continue;
            };
            if binary.file_name().is_none_or(|n| n != "cerro-hook") {
                continue;
            }
            let env = v["hook"]["env"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str()?.split_once('='))
                        .map(|(k, v)| (k.to_owned(), OsString::from(v)))
                        .collect()
                })
                .unwrap_or_default();
            found.push(HookFile { json, binary, env });
        }
    }
    found
}

/// What `ct doctor` can check of the daemons' side, each check one line:
/// a hooks.d file for `cerro-hook` in podman's directories (`dirs`), its
/// binary executable and root's, and the trust root, `trust.toml`, `keys/`,
/// policy and bundle store it would use (or the shim's defaults) owned by
/// root and not group/world-writable — what the shim and the hook refuse
/// to start with ([`Config::for_daemon`]).
fn daemon_checks(dirs: &[&Path]) -> Vec<Check> {
    let mut lines = Vec::new();
    let hooks = find_hooks(dirs, &mut lines);
    if hooks.is_empty() {
        lines.push(Check::Info(format!(
            "no cerro-hook hooks.d file in {}: podman does not check containers (install hooks/cerro-hook.json; \
             a containers.conf hooks_dir is not read here)",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    let mut configs: Vec<(String, Vec<(String, OsString)>)> = Vec::new();
    for h in &hooks {
        lines.push(Check::Ok(format!(
            "podman hook {} runs {}",
            h.json.display(),
            h.binary.display()
        )));
        let exec = fs::metadata(&h.binary).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        lines.push(match (exec, check_daemon_owned(&h.binary)) {
            (Ok(true), Ok(true)) => Check::Ok(format!("hook binary {} is executable and root's", h.binary.display())),
            (Ok(false), _) => Check::Fail(format!("hook binary {} is not an executable file", h.binary.display())),
            (Err(e), _) => Check::Fail(format!("hook binary {}: {e}", h.binary.display())),
            (_, Err(e)) => Check::Fail(format!("hook binary: {e}")),
            (_, Ok(false)) => Check::Fail(format!("hook binary {} is missing", h.binary.display())),
        });
        if h.env
            .iter()
            .any(|(k, v)| k == "CERRO_ALLOW_BUNDLE_ANNOTATION" && v == "1")
        {
            lines.push(Check::Info(format!(
                "{} lets the io.cerro.bundle annotation choose a stored bundle (CERRO_ALLOW_BUNDLE_ANNOTATION=1)",
                h.json.display()
            )));
        }
        configs.push((format!("the hook's ({})", h.json.display()), h.env.clone()));
    }
    // The shim's defaults (or the only configuration there is).
    configs.push(("the daemons' default".into(), Vec::new()));
    let mut seen: Vec<PathBuf> = Vec::new();
    for (whose, env) in configs {
        let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let cfg = match Config::daemon_layout(lookup) {
            Ok(c) => c,
            Err(e) => {
                lines.push(Check::Fail(format!("{whose} configuration: {e}")));
                continue;
            }
        };
        for p in cfg.daemon_paths() {
            if seen.contains(&p) {
                continue;
            }
            lines.push(match check_daemon_owned(&p) {
                Ok(true) => Check::Ok(format!("{} is root's, not group/world-writable", p.display())),
                Ok(false) => Check::Info(format!("{} does not exist ({whose} configuration)", p.display())),
                Err(e) => Check::Fail(e.to_string()),
            });
            seen.push(p);
        }
    }
    lines
}

/// The paths `ct` uses (`mine`, resolved for effective uid `euid`) and the
/// ones the shim (its defaults: containerd's environment is not visible
/// here) and each hook found in `dirs` (its hooks.d environment) will use,
/// and whether they agree. As root they must: a bundle `ct load` files
/// elsewhere is one the daemons never see (a failure). A user's `ct` keeps
/// its own layout by design (said, not a failure).
fn path_agreement(mine: &Config, euid: u32, dirs: &[&Path]) -> Vec<Check> {
    let mut lines = vec![Check::Info(format!(
        "ct ({}) uses trust root {}, bundle store {}, policy {}",
        if euid == 0 {
            "root: the system layout"
        } else {
            "a user: the user layout"
        },
        mine.home.display(),
        mine.store.display(),
        policy_name(mine)
    ))];
    // The shim's environment is containerd's, which ct cannot see: its
    // defaults are compared, and a difference is said, not failed. A hook's
    // is in its hooks.d file: a difference as root fails.
    // (whose, environment, whether ct can see that environment)
    type Daemon = (String, Vec<(String, OsString)>, bool);
    let mut daemons: Vec<Daemon> = vec![(
        "the shim (its defaults: containerd's environment is not visible here)".into(),
        Vec::new(),
        false,
    )];
    let mut ignored = Vec::new();
    for h in find_hooks(dirs, &mut ignored) {
        daemons.push((format!("the hook ({})", h.json.display()), h.env, true));
    }
    for (whose, env, known) in daemons {
        let lookup = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let theirs = match Config::daemon_layout(lookup) {
            Ok(c) => c,
            Err(e) => {
                lines.push(Check::Fail(format!("{whose} configuration: {e}")));
                continue;
            }
        };
        lines.push(Check::Info(format!(
            "{whose} uses trust root {}, bundle store {}, policy {}",
            theirs.home.display(),
            theirs.store.display(),
            policy_name(&theirs)
        )));
        let same = theirs.home == mine.home && theirs.store == mine.store && theirs.policy == mine.policy;
        lines.push(if same {
            Check::Ok(format!("ct's trust root, bundle store and policy are {whose}'s"))
        } else if euid == 0 && known {
            Check::Fail(format!(
                "ct's paths differ from {whose}'s: ct load files bundles where it does not look \
                 (unset CERRO_HOME/CERRO_STORE/CERRO_POLICY here, or set the same for it)"
            ))
        } else if euid == 0 {
            Check::Info(format!(
                "ct's paths are not {whose}'s, unless containerd's environment sets the same CERRO_* variables"
            ))
        } else {
            Check::Info(format!(
                "ct's paths (a user's own) are not {whose}'s: load bundles for it as root (sudo ct load)"
            ))
        });
    }
    lines
}

/// The policy in force, as the audit log names it.
fn policy_name(cfg: &Config) -> String {
    match &cfg.policy {
        Some(p) => p.display().to_string(),
        None => "none (baseline of one full signer)".into(),
    }
}

/// What `ct doctor` says about confinement: whether the shim and the hook
/// would run containers in their bundle's SELinux domain on this host.
fn selinux_line(status: &SelinuxStatus) -> String {
    match status {
        SelinuxStatus::Disabled(reason) => format!(
            "{reason}: containers run unconfined (the shim and the hook apply no SELinux domain, and the audit log says so)"
        ),
        SelinuxStatus::Enabled { mode, .. } => {
            let mode = match mode {
                Some(SelinuxMode::Enforcing) => "enforcing",
                Some(SelinuxMode::Permissive) => "permissive (denials are logged, not enforced)",
                None => "enabled (mode unknown)",
            };
            format!(
                "SELinux is {mode}: containers run confined in their bundle's domain (ct_<package>_t); \
                 one whose module is not loaded is refused (ct selinux install BUNDLE)"
            )
        }
    }
}

/// The Cerro Torre modules in the host's SELinux module store (under
/// `root`: `/etc/selinux/config`'s `SELINUXTYPE`, then
/// `/var/lib/selinux/<type>/active/modules/<priority>/<module>`, where
/// `semodule -i`, and so `ct selinux install`, puts them), only names
/// `module_name` gives (`package_of_module`), sorted, each once.
fn stored_modules(root: &Path) -> std::io::Result<Vec<String>> {
    let config = fs::read_to_string(root.join("etc/selinux/config")).unwrap_or_default();
    let kind = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("SELINUXTYPE="))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.contains('/') && *t != "..")
        .unwrap_or("default");
    let store = root.join("var/lib/selinux").join(kind).join("active/modules");
    let mut found = std::collections::BTreeSet::new();
    for prio in fs::read_dir(&store)? {
        let prio = prio?;
        // Priority directories are numbers; `disabled` holds markers, not modules.
        if !prio.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(modules) = fs::read_dir(prio.path()) else {
            continue;
        };
        for m in modules.flatten() {
            let name = m.file_name().to_string_lossy().into_owned();
            if cerro_core::naming::package_of_module(&name).is_some() {
                found.insert(name);
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// What `ct doctor` says about the installed domains on an SELinux host:
/// each Cerro Torre module in the store whose domain the running policy
/// knows (the kernel's own check of the process context, as the decision
/// asks it), and a failure for one in the store the kernel does not know
/// (a container of that package would be refused).
fn domain_checks(root: &Path, selinux: &dyn cerro_enforce::SelinuxHost, mls: bool) -> Vec<Check> {
    let modules = match stored_modules(root) {
        Ok(m) => m,
        Err(e) => {
            return vec![Check::Info(format!(
                "the SELinux module store cannot be read ({e}): installed domains unknown"
            ))]
        }
    };
    if modules.is_empty() {
        return vec![Check::Info(
            "no Cerro Torre SELinux module is installed (ct selinux install BUNDLE)".into(),
        )];
    }
    let mut loaded = Vec::new();
    let mut lines = Vec::new();
    for m in &modules {
        let domain = cerro_core::naming::ContainerTypes::of(m).domain;
        let level = if mls { ":s0" } else { "" };
        match selinux.check_context(&format!(
            "{}:{domain}{level}",
            cerro_enforce::confinement::PROCESS_USER_ROLE
        )) {
            Ok(()) => loaded.push(domain),
            Err(e) => lines.push(Check::Fail(format!(
                "module {m} is installed but the running policy has no domain {domain} ({e}): \
                 run ct selinux install BUNDLE again"
            ))),
        }
    }
    if !loaded.is_empty() {
        lines.insert(
            0,
            Check::Ok(format!("installed Cerro Torre domains: {}", loaded.join(", "))),
        );
    }
    lines
}

/// What `ct doctor` says about the runtimes' layer stores on an SELinux
/// host: each must be labelled `cerro_image_t` (`cerro_selinux::image_store`),
/// or a confined container's programs are refused at their first mmap on a
/// kernel that checks the layer's own file.
fn image_store_checks(selinux: &dyn cerro_enforce::SelinuxHost) -> Vec<Check> {
    use cerro_selinux::image_store::{is_image_label, IMAGE_STORES, IMAGE_TYPE};
    IMAGE_STORES
        .iter()
        .map(|s| match selinux.file_label(Path::new(s.path)) {
            Ok(label) if is_image_label(&label) => Check::Ok(format!(
                "{}'s layer store {} is labelled {IMAGE_TYPE}",
                s.runtime, s.path
            )),
            Ok(label) => Check::Fail(format!(
                "{}'s layer store {} is labelled {}, not {IMAGE_TYPE}: confined containers' programs are \
                 refused at their first mmap on kernels that check the layer's own file (Debian 12's 6.1); \
                 ct selinux install BUNDLE labels it",
                s.runtime,
                s.path,
                cerro_core::text::printable(&label)
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::Info(format!(
                "{}'s layer store {} does not exist (ct selinux install makes and labels it where {} is installed)",
                s.runtime, s.path, s.runtime
            )),
            Err(e) => Check::Fail(format!(
                "{}'s layer store {}: label unreadable ({e})",
                s.runtime, s.path
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each daemon-side check is one line; a hooks.d file for cerro-hook is
    /// found, a binary that is not executable fails, the hook's trust root
    /// and store are checked for owner and mode (the test runs as root).
    #[test]
    fn doctor_checks_the_hook_and_the_daemon_trust_root() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let hooks = d.join("hooks.d");
        let home = d.join("home");
        let store = d.join("store");
        for p in [&hooks, &home, &store, &home.join("keys")] {
            fs::create_dir_all(p).unwrap();
        }
        fs::write(home.join("trust.toml"), "").unwrap();
        let bin = d.join("cerro-hook");
        fs::write(&bin, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(hooks.join("other.json"), r#"{"hook":{"path":"/usr/bin/other"}}"#).unwrap();
        fs::write(
            hooks.join("cerro-hook.json"),
            serde_json::json!({"version": "1.0.0", "hook": {"path": bin, "env": [
                format!("CERRO_HOME={}", home.display()),
                format!("CERRO_STORE={}", store.display()),
            ]}, "when": {"always": true}, "stages": ["prestart"]})
            .to_string(),
        )
        .unwrap();
        let lines = daemon_checks(&[&hooks, &d.join("absent")]);
        let fails = |lines: &[Check]| {
            lines
                .iter()
                .filter_map(|l| match l {
                    Check::Fail(s) => Some(s.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert!(lines.contains(&Check::Ok(format!(
            "podman hook {} runs {}",
            hooks.join("cerro-hook.json").display(),
            bin.display()
        ))));
        assert_eq!(
            fails(&lines),
            [format!("hook binary {} is not an executable file", bin.display())]
        );
        assert!(lines.contains(&Check::Ok(format!(
            "{} is root's, not group/world-writable",
            home.join("trust.toml").display()
        ))));
        assert!(lines.iter().all(|l| !format!("{l:?}").contains('\n')));

        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&store, fs::Permissions::from_mode(0o777)).unwrap();
        std::os::unix::fs::chown(home.join("keys"), Some(65534), None).unwrap();
        let lines = daemon_checks(&[&hooks]);
        let f = fails(&lines);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f[0].contains(&format!("{} is owned by uid 65534", home.join("keys").display())),
            "{f:?}"
        );
        assert!(
            f[1].contains(&format!("{} is writable by everyone", store.display())),
            "{f:?}"
        );

        // No hooks.d file: said so, not a failure.
        let lines = daemon_checks(&[&d.join("absent")]);
        assert!(matches!(&lines[0], Check::Info(s) if s.starts_with("no cerro-hook hooks.d file in")));
    }

    /// `ct doctor` says which paths the shim and each hook use and whether
    /// ct's are theirs: as root a difference fails, as a user it is said.
    #[test]
    fn doctor_says_whether_ct_and_the_daemons_agree_on_paths() {
        let dir = tempfile::tempdir().unwrap();
        let hooks = dir.path().join("hooks.d");
        fs::create_dir_all(&hooks).unwrap();
        fs::write(
            hooks.join("cerro-hook.json"),
            serde_json::json!({"version": "1.0.0", "hook": {"path": "/usr/libexec/cerro-hook", "env": [
                "CERRO_HOME=/srv/trust",
            ]}, "when": {"always": true}, "stages": ["prestart"]})
            .to_string(),
        )
        .unwrap();
        let root = Config::for_ct(0, &Default::default(), |_| None).unwrap();
        let lines = path_agreement(&root, 0, &[&hooks]);
        let shim = "the shim (its defaults: containerd's environment is not visible here)";
        assert!(lines.contains(&Check::Ok(format!(
            "ct's trust root, bundle store and policy are {shim}'s"
        ))));
        let hook = format!("the hook ({})", hooks.join("cerro-hook.json").display());
        assert!(lines.contains(&Check::Info(format!(
            "{hook} uses trust root /srv/trust, bundle store /srv/trust/store, policy none (baseline of one full signer)"
        ))));
        assert!(
            lines
                .iter()
                .any(|l| matches!(l, Check::Fail(s) if s.starts_with(&format!("ct's paths differ from {hook}'s")))),
            "{lines:?}"
        );
        // The same variables for ct: it agrees with the hook, not the shim.
        let same = Config::for_ct(0, &Default::default(), |k| {
            (k == "CERRO_HOME").then(|| OsString::from("/srv/trust"))
        })
        .unwrap();
        let lines = path_agreement(&same, 0, &[&hooks]);
        assert!(lines.contains(&Check::Ok(format!(
            "ct's trust root, bundle store and policy are {hook}'s"
        ))));
        assert!(lines.iter().all(|l| !matches!(l, Check::Fail(_))), "{lines:?}");
        // A user's own layout is not a failure.
        let user = Config::for_ct(1000, &Default::default(), |k| {
            (k == "HOME").then(|| OsString::from("/home/u"))
        })
        .unwrap();
        let lines = path_agreement(&user, 1000, &[&hooks]);
        assert!(lines.iter().all(|l| !matches!(l, Check::Fail(_))), "{lines:?}");
    }

    /// A policy that knows exactly the types listed (the kernel answers
    /// `EINVAL` for any other), recording what it was asked.
    #[derive(Debug)]
    struct Policy(Vec<&'static str>, std::sync::Mutex<Vec<String>>);

    impl cerro_enforce::SelinuxHost for Policy {
        fn status(&self) -> SelinuxStatus {
            SelinuxStatus::Enabled {
                mode: Some(SelinuxMode::Enforcing),
                mls: true,
            }
        }
        fn check_context(&self, context: &str) -> std::io::Result<()> {
            self.1.lock().unwrap().push(context.to_owned());
            match context.split(':').nth(2) {
                Some(t) if self.0.contains(&t) => Ok(()),
                _ => Err(std::io::Error::from_raw_os_error(22)),
            }
        }
    }

    /// `ct doctor` names the domains of the Cerro Torre modules in the
    /// store that the running policy knows, fails one it does not know,
    /// and reads no other module (nor the `disabled` markers).
    #[test]
    fn doctor_names_the_installed_domains() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let policy = Policy(vec!["ct_web_t", "ct_batch_t"], Default::default());
        // No store: said so, not a failure.
        let lines = domain_checks(r, &policy, true);
        assert!(
            matches!(&lines[..], [Check::Info(s)] if s.contains("installed domains unknown")),
            "{lines:?}"
        );
        fs::create_dir_all(r.join("etc/selinux")).unwrap();
        fs::write(r.join("etc/selinux/config"), "SELINUX=enforcing\nSELINUXTYPE=mine\n").unwrap();
        let store = r.join("var/lib/selinux/mine/active/modules");
        for m in [
            "100/base",
            "100/apache",
            "400/ct_web",
            "400/ct_batch",
            "400/ct_gone",
            "disabled",
        ] {
            fs::create_dir_all(store.join(m)).unwrap();
        }
        fs::write(store.join("disabled/ct_off"), "").unwrap();
        fs::create_dir_all(store.join("400/ct_Not_A_Module")).unwrap();
        let lines = domain_checks(r, &policy, true);
        assert_eq!(
            lines,
            [
                Check::Ok("installed Cerro Torre domains: ct_batch_t, ct_web_t".into()),
                Check::Fail(
                    "module ct_gone is installed but the running policy has no domain ct_gone_t \
                     (Invalid argument (os error 22)): run ct selinux install BUNDLE again"
                        .into()
                ),
            ]
        );
        assert_eq!(
            policy.1.lock().unwrap()[..],
            [
                "system_u:system_r:ct_batch_t:s0",
                "system_u:system_r:ct_gone_t:s0",
                "system_u:system_r:ct_web_t:s0"
            ]
        );
        // None of Cerro Torre's: said so.
        fs::remove_dir_all(store.join("400")).unwrap();
        let lines = domain_checks(r, &policy, false);
        assert_eq!(
            lines,
            [Check::Info(
                "no Cerro Torre SELinux module is installed (ct selinux install BUNDLE)".into()
            )]
        );
    }

    #[test]
    fn doctor_says_whether_containers_are_confined() {
        let off = selinux_line(&SelinuxStatus::Disabled("SELinux is not enabled in this kernel".into()));
        assert!(
            off.starts_with("SELinux is not enabled in this kernel: containers run unconfined"),
            "{off}"
        );
        let on = selinux_line(&SelinuxStatus::Enabled {
            mode: Some(SelinuxMode::Enforcing),
            mls: true,
        });
        assert!(on.starts_with("SELinux is enforcing: containers run confined"), "{on}");
        assert!(!on.contains("unconfined"), "{on}");
    }

    /// Labels by path: a store with the image type, one without, one absent.
    #[derive(Debug)]
    struct Labels(&'static [(&'static str, &'static str)]);

    impl cerro_enforce::SelinuxHost for Labels {
        fn status(&self) -> SelinuxStatus {
            SelinuxStatus::Enabled {
                mode: Some(SelinuxMode::Enforcing),
                mls: true,
            }
        }
        fn check_context(&self, _: &str) -> std::io::Result<()> {
            Ok(())
        }
        fn file_label(&self, path: &Path) -> std::io::Result<String> {
            self.0
                .iter()
                .find(|(p, _)| Path::new(p) == path)
                .map(|(_, l)| (*l).to_owned())
                .ok_or_else(|| std::io::ErrorKind::NotFound.into())
        }
    }

    /// `ct doctor` passes a layer store labelled `cerro_image_t`, fails one
    /// left with another label (escaped), and only notes an absent one.
    #[test]
    fn doctor_checks_the_layer_stores_labels() {
        let lines = image_store_checks(&Labels(&[
            (
                "/var/lib/containers/storage/overlay",
                "system_u:object_r:cerro_image_t:s0",
            ),
            (
                "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs",
                "system_u:object_r:var_lib_t:s0\x1b[2J",
            ),
        ]));
        assert!(
            matches!(&lines[..], [Check::Ok(a), Check::Fail(b)]
                if a.contains("podman") && b.contains("var_lib_t") && !b.contains('\x1b') && b.contains("ct selinux install")),
            "{lines:?}"
        );
        let lines = image_store_checks(&Labels(&[]));
        assert!(
            lines
                .iter()
                .all(|l| matches!(l, Check::Info(s) if s.contains("does not exist"))),
            "{lines:?}"
        );
    }
}
