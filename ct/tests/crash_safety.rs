//! Crash safety: `ct` killed with SIGKILL at a random point of `keygen`,
//! `sign` (in place), `load` and the trust edits (`key trust`, `key revoke`,
//! `key import`) never leaves a partial file. After every kill each file is
//! either its old content or the complete new one, the trust root loads
//! (trust.toml parses and every public key matches its fingerprint), every
//! stored bundle verifies and is the old or the new bundle, and the next
//! command succeeds: a temporary file left behind by the kill is never read.
//!
//! The kill points are drawn by a seeded xorshift generator over the
//! command's whole run time (measured once per command first); the seed is
//! printed, and `CT_CRASH_SEED=N` replays a run. `CT_CRASH_ITERATIONS`
//! changes the number of kills per command (default 30), and
//! `CT_CRASH_COMMANDS=sign,key revoke` runs only those. `ct fetch` needs a
//! registry: its loop is in integration/tests/crash_fetch.rs.
//!
//! A second test kills at every step instead of at random times: strace's
//! fault injection delivers SIGKILL at each write, fsync, rename, copy and
//! unlink the command makes (`sigkill_at_every_file_step`; strace is in
//! scripts/install-deps). Random kills rarely land inside a write of a few
//! hundred bytes; this does, every time.
//!
//! The checker is itself tested: a trust.toml cut short (at a line boundary,
//! where it still parses, and mid-line), a stored bundle cut short, and a
//! key file cut short are each reported.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::testing::{seed_from_env, Rng};

fn iterations() -> usize {
    std::env::var("CT_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

fn ct(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ct"));
    c.args(args)
        .env("CERRO_HOME", home)
        .env_remove("CERRO_STORE")
        .env_remove("CERRO_PASSPHRASE")
        .env_remove("SOURCE_DATE_EPOCH");
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    ct(home, args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs ct and panics unless it exits 0; returns stdout.
fn ok(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(out.status.success(), "ct {args:?} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every regular file under `root`, by path relative to it.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(st.success());
}

/// A temporary file of `AtomicFile` (`.NAME.XXXXXX.tmp`): a kill may leave
/// one behind; no command may read it.
fn is_temp(rel: &Path) -> bool {
    rel.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"))
}

/// One key as `ct key list --json` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    fingerprint: String,
    trust: String,
    revoked: bool,
    private_key: bool,
}

/// The trust root as the real loader reads it, or why it does not load.
fn keys(home: &Path) -> Result<BTreeMap<String, Key>, String> {
    let out = run(home, &["key", "list", "--json"]);
    if !out.status.success() {
        return Err(format!("the trust root does not load: {}", text(&out)));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("ct key list --json: {e}"))?;
    Ok(v.as_array()
        .ok_or("ct key list --json: not an array")?
        .iter()
        .map(|k| {
            (
                k["id"].as_str().unwrap_or_default().to_owned(),
                Key {
                    fingerprint: k["fingerprint"].as_str().unwrap_or_default().to_owned(),
                    trust: k["trust"].as_str().unwrap_or_default().to_owned(),
                    revoked: k["revoked"].as_bool().unwrap_or(false),
                    private_key: k["private_key"].as_bool().unwrap_or(false),
                },
            )
        })
        .collect())
}

/// A key file (`private/*.key`, `keys/*.pub.pem`) must hold a whole key.
fn whole_key(rel: &Path, bytes: &[u8]) -> Result<(), String> {
    use ed25519_dalek::pkcs8::{spki::DecodePublicKey, DecodePrivateKey};
    let text = String::from_utf8_lossy(bytes);
    let name = rel.to_string_lossy();
    let parsed = if rel.starts_with("home/private") {
        ed25519_dalek::SigningKey::from_pkcs8_pem(&text)
            .map(drop)
            .map_err(|e| e.to_string())
    } else if name.ends_with(".pub.pem") {
        ed25519_dalek::VerifyingKey::from_public_key_pem(&text)
            .map(drop)
            .map_err(|e| e.to_string())
    } else {
        Ok(())
    };
    parsed.map_err(|e| format!("{name} is not a whole key: {e}"))
}

/// What a command may change, and what the new version must be.
#[derive(Debug, Clone)]
struct Change {
    /// Files (relative to the state directory) the command may create or
    /// replace, each with its complete new content when that is known
    /// (`None`: not byte-reproducible, checked by meaning instead).
    files: BTreeMap<PathBuf, Option<Vec<u8>>>,
    /// The trust root after the command: each key either as before or as
    /// here (`None`: the key is new and may be absent).
    keys_after: BTreeMap<String, Option<Key>>,
}

/// The state directory `dir` holds `home/` (CERRO_HOME, with the bundle
/// store in `home/store`) and the bundles worked on. Checks it after a kill
/// of a command that would have made `change` to `before`.
fn check(
    dir: &Path,
    before: &BTreeMap<PathBuf, Vec<u8>>,
    keys_before: &BTreeMap<String, Key>,
    change: &Change,
) -> Result<usize, String> {
    let after = snapshot(dir);
    let mut strays = 0;
    for (rel, old) in before {
        match after.get(rel) {
            None => return Err(format!("{} disappeared", rel.display())),
            Some(now) if now == old => {}
            Some(now) => match change.files.get(rel) {
                None => return Err(format!("{} changed, and nothing should change it", rel.display())),
                Some(Some(new)) if now != new => {
                    return Err(format!(
                        "{} is neither the old ({} bytes) nor the new version ({} bytes): {} bytes",
                        rel.display(),
                        old.len(),
                        new.len(),
                        now.len()
                    ))
                }
                Some(_) => {}
            },
        }
    }
    for (rel, now) in &after {
        if before.contains_key(rel) {
            continue;
        }
        if is_temp(rel) {
            strays += 1;
            continue;
        }
        // The trust store's edit lock: an empty file any trust edit may create.
        if rel == Path::new("home/trust.lock") && now.is_empty() {
            continue;
        }
        match change.files.get(rel) {
            None => return Err(format!("unexpected new file {}", rel.display())),
            Some(Some(new)) if now != new => {
                return Err(format!(
                    "{} is not the complete new version ({} of {} bytes)",
                    rel.display(),
                    now.len(),
                    new.len()
                ))
            }
            Some(_) => {}
        }
    }
    // Every new or replaced key file is a whole key.
    for (rel, now) in &after {
        if is_temp(rel) || before.get(rel) == Some(now) {
            continue;
        }
        whole_key(rel, now)?;
    }
    // The trust root loads (trust.toml parses, each public key file matches
    // its fingerprint), and each key is as before or as the command makes it.
    let home = dir.join("home");
    let keys_now = keys(&home)?;
    for (id, k) in keys_before {
        let now = keys_now
            .get(id)
            .ok_or_else(|| format!("key {id} is missing from the trust root"))?;
        let edited = change.keys_after.get(id).cloned().flatten();
        if now != k && Some(now) != edited.as_ref() {
            return Err(format!("key {id} is {now:?}: neither {k:?} nor {edited:?}"));
        }
    }
    for (id, now) in &keys_now {
        if keys_before.contains_key(id) {
            continue;
        }
        match change.keys_after.get(id) {
            None => return Err(format!("unexpected key {id} in the trust root")),
            Some(Some(want)) if want != now => return Err(format!("key {id} is {now:?}, not {want:?}")),
            // A generated key is in the trust root only with its private key.
            Some(None) if !now.private_key => return Err(format!("key {id} has no private key")),
            Some(_) => {}
        }
    }
    // A trust.toml that is not the old file is the whole new one: the edit
    // is in it (a file cut short can parse and read as the old store).
    let trust = Path::new("home/trust.toml");
    if after.get(trust) != before.get(trust) {
        for (id, want) in &change.keys_after {
            let now = keys_now.get(id);
            let applied = match want {
                Some(w) => now == Some(w),
                None => now.is_some(),
            };
            if !applied {
                return Err(format!(
                    "trust.toml is not the old file, yet key {id} is not as the edit makes it: {now:?}"
                ));
            }
        }
    }
    // Every stored bundle verifies (and the store lists exactly the files in it).
    let listed = ok(&home, &["load", "--list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).map_err(|e| e.to_string())?;
    let stored: BTreeSet<&PathBuf> = after
        .keys()
        .filter(|p| p.starts_with("home/store") && !is_temp(p))
        .collect();
    let listed = listed.as_array().ok_or("load --list --json: not an array")?;
    if listed.len() != stored.len() {
        return Err(format!("the store lists {} bundles, holds {stored:?}", listed.len()));
    }
    for p in stored {
        let out = run(&home, &["verify", dir.join(p).to_str().unwrap()]);
        if !out.status.success() {
            return Err(format!("stored bundle {} does not verify: {}", p.display(), text(&out)));
        }
    }
    Ok(strays)
}

/// The shared starting point: an image, a home with alice (who signed
/// `b.ctp`, loaded into the store) and bob (both ultimate), and carol
/// imported untrusted; plus the reference results of each command.
struct Fixture {
    _tmp: tempfile::TempDir,
    /// The state every iteration starts from: `home/`, `b.ctp`, `carol.pem`, `dave.pem`.
    base: PathBuf,
    /// b.ctp co-signed by bob: what `ct sign` makes of it.
    cosigned: Vec<u8>,
    /// dave's key as `ct key import` adds it.
    dave: Key,
    scratch: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        let scratch = tmp.path().join("scratch");
        fs::create_dir_all(&base).unwrap();
        fs::create_dir_all(&scratch).unwrap();
        // Layers large enough that writing the bundle takes measurable time.
        let mut b = LayoutBuilder::new(&tmp.path().join("image")).unwrap();
        b.layer_tar(&[("hello.txt", 0o644, b"hello\n")]).unwrap();
        for n in 0..3u32 {
            let big: Vec<u8> = (0..3_000_000u32)
                .map(|i| (i.wrapping_add(n).wrapping_mul(2654435761) >> 13) as u8)
                .collect();
            b.layer_tar(&[(&format!("big{n}.bin"), 0o644, &big)]).unwrap();
        }
        b.finish(basic_config(&["/hello.txt"]), Some("1.0")).unwrap();
        let image = format!("oci:{}:1.0", tmp.path().join("image").display());

        let home = base.join("home");
        ok(&home, &["keygen", "--id", "alice"]);
        ok(&home, &["keygen", "--id", "bob"]);
        let bundle = base.join("b.ctp");
        ok(
            &home,
            &["pack", &image, "-o", bundle.to_str().unwrap(), "--key", "alice"],
        );
        ok(&home, &["load", bundle.to_str().unwrap()]);
        // Two public keys from elsewhere: carol imported, dave to import.
        let other = tmp.path().join("other");
        for id in ["carol", "dave"] {
            ok(&other, &["keygen", "--id", id]);
            let pem = base.join(format!("{id}.pem"));
            ok(&other, &["key", "export", id, "-o", pem.to_str().unwrap()]);
        }
        ok(
            &home,
            &[
                "key",
                "import",
                base.join("carol.pem").to_str().unwrap(),
                "--id",
                "carol",
            ],
        );
        let dave = Key {
            trust: "untrusted".into(),
            private_key: false,
            ..keys(&other).unwrap()["dave"].clone()
        };

        let signed = scratch.join("signed.ctp");
        fs::copy(&bundle, &signed).unwrap();
        ok(&home, &["sign", signed.to_str().unwrap(), "--key", "bob"]);
        let cosigned = fs::read(&signed).unwrap();
        assert_ne!(
            cosigned,
            fs::read(&bundle).unwrap(),
            "co-signing by bob changes the bundle"
        );
        // What `ct load` loads: the co-signed bundle (same image as the stored one).
        fs::write(base.join("b2.ctp"), &cosigned).unwrap();
        Fixture {
            _tmp: tmp,
            base,
            cosigned,
            dave,
            scratch,
        }
    }

    /// A fresh copy of the base state.
    fn fresh(&self, name: &str) -> PathBuf {
        let d = self.scratch.join(name);
        if d.exists() {
            fs::remove_dir_all(&d).unwrap();
        }
        copy_tree(&self.base, &d);
        d
    }

    fn stored_path(&self) -> PathBuf {
        let store = self.base.join("home/store/sha256");
        let name = fs::read_dir(&store).unwrap().next().unwrap().unwrap().file_name();
        Path::new("home/store/sha256").join(name)
    }
}

/// The commands to run after a kill, given the state directory and the
/// trust root then.
type Next<'a> = &'a dyn Fn(&Path, &BTreeMap<String, Key>) -> Vec<Vec<String>>;

/// One command under test.
struct Case<'a> {
    name: &'a str,
    /// Its arguments, given the state directory.
    args: &'a dyn Fn(&Path) -> Vec<String>,
    change: Change,
    /// Run after the checks, to completion: nothing the kill left behind
    /// may make them fail (the trust root shows whether the command had
    /// completed, and so what comes next).
    next: Next<'a>,
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Measures the command once, then kills it at `n` random points of its run
/// time, checking the state after each kill.
fn kill_loop(fx: &Fixture, rng: &mut Rng, case: &Case<'_>, n: usize) {
    let keys_before = keys(&fx.base.join("home")).unwrap();
    let before = snapshot(&fx.base);
    // Complete runs: how long the command takes (the median of three: the
    // first run of a binary is slow), and the check passes on each result.
    let mut times = Vec::new();
    for _ in 0..3 {
        let d = fx.fresh(case.name);
        let t = Instant::now();
        let out = ct(&d.join("home"), &strs(&(case.args)(&d))).output().unwrap();
        times.push(t.elapsed());
        assert!(out.status.success(), "{}: {}", case.name, text(&out));
        let strays = check(&d, &before, &keys_before, &case.change)
            .unwrap_or_else(|e| panic!("{}, run to completion: {e}", case.name));
        assert_eq!(strays, 0, "{}: a completed run leaves no temporary file", case.name);
    }
    times.sort();
    let full = times[1];

    let (mut killed, mut finished, mut strays) = (0, 0, 0);
    // What each kill left, by the files it changed: shows the phases hit.
    let mut phases: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..n {
        let d = fx.fresh(case.name);
        let home = d.join("home");
        // Up to 20% past the measured time: some runs finish.
        let delay = rng.below_duration(full + full / 5);
        let mut child = ct(&home, &strs(&(case.args)(&d)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            finished += 1;
        } else {
            killed += 1;
        }
        match check(&d, &before, &keys_before, &case.change) {
            Ok(s) => {
                strays += s;
                *phases.entry(phase(&d, &before, s)).or_default() += 1;
            }
            Err(e) => panic!("{} killed after {delay:?} (iteration {i}, {status}): {e}", case.name),
        }
        let keys_now = keys(&home).unwrap();
        for args in (case.next)(&d, &keys_now) {
            let out = run(&home, &strs(&args));
            assert!(
                out.status.success(),
                "{} killed after {delay:?} (iteration {i}): then ct {args:?} failed:\n{}",
                case.name,
                text(&out)
            );
        }
        check(&d, &before, &keys_before, &case.change)
            .unwrap_or_else(|e| panic!("{} killed after {delay:?} (iteration {i}), then re-run: {e}", case.name));
    }
    eprintln!(
        "crash_safety: {}: {full:?} per run, {killed} killed, {finished} finished, {strays} temporary file(s) left (never read)",
        case.name
    );
    for (p, count) in &phases {
        eprintln!("crash_safety:   {count:>3} × {p}");
    }
    assert!(killed > 0, "{}: no run was killed", case.name);
}

/// The files a killed run had changed (and whether it left a temporary file).
fn phase(dir: &Path, before: &BTreeMap<PathBuf, Vec<u8>>, strays: usize) -> String {
    let changed: Vec<String> = snapshot(dir)
        .into_iter()
        .filter(|(p, b)| !is_temp(p) && before.get(p) != Some(b))
        .map(|(p, _)| p.display().to_string())
        .collect();
    let mut out = if changed.is_empty() {
        "nothing changed".to_owned()
    } else {
        format!("changed {}", changed.join(", "))
    };
    if strays > 0 {
        out.push_str(" + temporary file");
    }
    out
}

fn path_arg(d: &Path, p: &str) -> String {
    d.join(p).display().to_string()
}

/// The commands under test, with what each may change.
fn cases(fx: &Fixture, run_case: &mut dyn FnMut(&Case<'_>)) {
    let keys0 = keys(&fx.base.join("home")).unwrap();
    let carol = keys0["carol"].clone();
    let stored = fx.stored_path();
    let trust = PathBuf::from("home/trust.toml");
    let some = |files: &[(&PathBuf, Option<Vec<u8>>)]| -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        files.iter().map(|(p, b)| ((*p).clone(), b.clone())).collect()
    };
    let keygen = Case {
        name: "keygen",
        args: &|_| vec!["keygen".into(), "--id".into(), "erin".into()],
        change: Change {
            files: some(&[
                (&trust, None),
                (&PathBuf::from("home/keys/erin.pub.pem"), None),
                (&PathBuf::from("home/private/erin.key"), None),
            ]),
            keys_after: [("erin".to_owned(), None)].into(),
        },
        // Completed: the new key signs. Killed before: keygen runs again.
        next: &|d, keys| {
            if keys.contains_key("erin") {
                vec![vec!["sign".into(), path_arg(d, "b.ctp"), "--key".into(), "erin".into()]]
            } else {
                vec![vec!["keygen".into(), "--id".into(), "erin".into()]]
            }
        },
    };

    let cosigned = fx.cosigned.clone();
    let sign = Case {
        name: "sign",
        args: &|d| vec!["sign".into(), path_arg(d, "b.ctp"), "--key".into(), "bob".into()],
        change: Change {
            files: some(&[(&PathBuf::from("b.ctp"), Some(cosigned.clone()))]),
            keys_after: BTreeMap::new(),
        },
        next: &|d, _| {
            vec![
                vec!["verify".into(), path_arg(d, "b.ctp")],
                vec!["sign".into(), path_arg(d, "b.ctp"), "--key".into(), "bob".into()],
            ]
        },
    };

    // Loading the co-signed bundle replaces the stored one (same image).
    let load = Case {
        name: "load",
        args: &|d| vec!["load".into(), path_arg(d, "b2.ctp")],
        change: Change {
            files: some(&[(&stored, Some(cosigned.clone()))]),
            keys_after: BTreeMap::new(),
        },
        next: &|d, _| vec![vec!["load".into(), path_arg(d, "b2.ctp")]],
    };

    let trust_full = Case {
        name: "key trust",
        args: &|_| vec!["key".into(), "trust".into(), "carol".into(), "full".into()],
        change: Change {
            files: some(&[(&trust, None)]),
            keys_after: [(
                "carol".to_owned(),
                Some(Key {
                    trust: "full".into(),
                    ..carol.clone()
                }),
            )]
            .into(),
        },
        next: &|_, _| vec![vec!["key".into(), "trust".into(), "carol".into(), "full".into()]],
    };

    let revoke = Case {
        name: "key revoke",
        args: &|_| vec!["key".into(), "revoke".into(), "carol".into()],
        change: Change {
            files: some(&[(&trust, None)]),
            keys_after: [(
                "carol".to_owned(),
                Some(Key {
                    revoked: true,
                    ..carol.clone()
                }),
            )]
            .into(),
        },
        next: &|_, _| vec![vec!["key".into(), "revoke".into(), "carol".into()]],
    };

    let dave_pem = fs::read(fx.base.join("dave.pem")).unwrap();
    let import = Case {
        name: "key import",
        args: &|d| {
            vec![
                "key".into(),
                "import".into(),
                path_arg(d, "dave.pem"),
                "--id".into(),
                "dave".into(),
            ]
        },
        change: Change {
            files: some(&[
                (&trust, None),
                (&PathBuf::from("home/keys/dave.pub.pem"), Some(dave_pem.clone())),
            ]),
            keys_after: [("dave".to_owned(), Some(fx.dave.clone()))].into(),
        },
        next: &|d, keys| {
            if keys.contains_key("dave") {
                vec![vec!["key".into(), "list".into()]]
            } else {
                vec![vec![
                    "key".into(),
                    "import".into(),
                    path_arg(d, "dave.pem"),
                    "--id".into(),
                    "dave".into(),
                ]]
            }
        },
    };

    let mut keygen = keygen;
    // keygen's next step signs b.ctp: allow that change too.
    keygen.change.files.insert(PathBuf::from("b.ctp"), None);
    // CT_CRASH_COMMANDS=sign,load runs only those (to replay one).
    let only = std::env::var("CT_CRASH_COMMANDS").ok();
    for case in [&keygen, &sign, &load, &trust_full, &revoke, &import] {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|c| c == case.name)) {
            continue;
        }
        run_case(case);
    }
}

#[test]
fn sigkill_never_leaves_a_partial_file_or_a_broken_trust_root() {
    let fx = Fixture::new();
    let mut rng = Rng::new(seed_from_env("CT_CRASH_SEED", "crash_safety"));
    let n = iterations();
    cases(&fx, &mut |case| kill_loop(&fx, &mut rng, case, n));
}

/// The syscalls by which a command changes files: the kill points of the
/// sweep. (`openat` is left out: most are reads, and a kill as a file is
/// created leaves what a kill at the syscall before it does, or at the
/// first write after it.)
const STEPS: &str = "write,pwrite64,fsync,fdatasync,rename,renameat,renameat2,copy_file_range,sendfile,ftruncate,linkat,unlinkat,mkdirat";

/// Every step, not just random ones: strace kills the command (SIGKILL on
/// entering the syscall) at each invocation of each syscall by which it
/// changes files, counted from a traced complete run. A syscall made more
/// than 24 times is killed at its first and last 8 and 7 evenly spaced ones.
#[test]
fn sigkill_at_every_file_step() {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("strace").is_file()));
    assert!(found, "strace is not installed: run scripts/install-deps");
    let fx = Fixture::new();
    cases(&fx, &mut |case| sweep(&fx, case));
}

fn strace(home: &Path) -> Command {
    let mut c = Command::new("strace");
    c.env("CERRO_HOME", home)
        .env_remove("CERRO_STORE")
        .env_remove("CERRO_PASSPHRASE")
        .env_remove("SOURCE_DATE_EPOCH");
    c
}

fn sweep(fx: &Fixture, case: &Case<'_>) {
    let keys_before = keys(&fx.base.join("home")).unwrap();
    let before = snapshot(&fx.base);
    let d = fx.fresh(case.name);
    let trace = fx.scratch.join(format!("{}.trace", case.name.replace(' ', "-")));
    let args = (case.args)(&d);
    let out = strace(&d.join("home"))
        .args(["-f", "-o"])
        .arg(&trace)
        .args(["-e", &format!("trace={STEPS}"), env!("CARGO_BIN_EXE_ct")])
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "strace ct {args:?}: {}", text(&out));
    // Invocations per syscall ("PID name(" lines; "<... resumed>" lines are not new calls).
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in fs::read_to_string(&trace).unwrap().lines() {
        let call = line.split_whitespace().nth(1).unwrap_or_default();
        if let Some((name, _)) = call.split_once('(') {
            *counts.entry(name.to_owned()).or_default() += 1;
        }
    }
    // Where AtomicFile writes unnamed files (O_TMPFILE), a kill leaves no
    // temporary file, except one killed at the rename that follows the link
    // naming the finished file.
    let unnamed = cerro_core::file::AtomicFile::create(&d.join("probe"), 0o600)
        .unwrap()
        .temp_path()
        .is_none();
    let mut points = 0;
    let mut phases: BTreeMap<String, usize> = BTreeMap::new();
    for (sys, &count) in &counts {
        let picks: BTreeSet<usize> = if count <= 24 {
            (1..=count).collect()
        } else {
            (1..=8)
                .chain(count - 7..=count)
                .chain((1..8).map(|k| k * count / 8))
                .collect()
        };
        for n in picks {
            let d = fx.fresh(case.name);
            let home = d.join("home");
            let status = strace(&home)
                .args(["-f", "-o", "/dev/null", "-e", &format!("trace={sys}"), "-e"])
                .arg(format!("inject={sys}:signal=KILL:when={n}"))
                .arg(env!("CARGO_BIN_EXE_ct"))
                .args((case.args)(&d))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            let at = format!("{} killed at {sys} #{n} of {count} ({status})", case.name);
            let strays = check(&d, &before, &keys_before, &case.change).unwrap_or_else(|e| panic!("{at}: {e}"));
            if unnamed && !sys.starts_with("rename") {
                assert_eq!(strays, 0, "{at}: a temporary file was left behind");
            }
            *phases.entry(phase(&d, &before, strays)).or_default() += 1;
            let keys_now = keys(&home).unwrap();
            for args in (case.next)(&d, &keys_now) {
                let out = run(&home, &strs(&args));
                assert!(out.status.success(), "{at}: then ct {args:?} failed:\n{}", text(&out));
            }
            check(&d, &before, &keys_before, &case.change).unwrap_or_else(|e| panic!("{at}, then re-run: {e}"));
            points += 1;
        }
    }
    eprintln!("crash_safety: {}: killed at {points} steps {counts:?}", case.name);
    for (p, count) in &phases {
        eprintln!("crash_safety:   {count:>3} × {p}");
    }
}

/// The checker must be able to fail: a file cut short, as a non-atomic
/// write killed halfway would leave it, is reported.
#[test]
fn the_checker_reports_files_cut_short() {
    let fx = Fixture::new();
    let keys0 = keys(&fx.base.join("home")).unwrap();
    let before = snapshot(&fx.base);
    let stored = fx.stored_path();
    let trust = PathBuf::from("home/trust.toml");
    let edit = Change {
        files: [(trust.clone(), None), (stored.clone(), None)].into(),
        keys_after: BTreeMap::new(),
    };

    // Untouched, and with a temporary file beside trust.toml: passes, the stray counted.
    let d = fx.fresh("intact");
    assert_eq!(check(&d, &before, &keys0, &edit), Ok(0));
    fs::write(d.join("home/.trust.toml.AbC123.tmp"), "[keys.alice\nfingerp").unwrap();
    assert_eq!(check(&d, &before, &keys0, &edit), Ok(1));

    // trust.toml cut at a line boundary still parses, but has lost a key.
    let toml = String::from_utf8(before[&trust].clone()).unwrap();
    let at = toml.find("[keys.carol]").expect("carol's record in trust.toml");
    let d = fx.fresh("trust-line");
    fs::write(d.join(&trust), &toml[..at]).unwrap();
    let e = check(&d, &before, &keys0, &edit).unwrap_err();
    assert!(e.contains("key carol is missing"), "{e}");

    // Cut mid-line: it no longer parses.
    let d = fx.fresh("trust-mid");
    fs::write(d.join(&trust), &toml[..at + 20]).unwrap();
    let e = check(&d, &before, &keys0, &edit).unwrap_err();
    assert!(e.contains("the trust root does not load"), "{e}");

    // Not the old file, and without the edit (here: the old one with a
    // line added): neither version.
    let d = fx.fresh("trust-other");
    fs::write(d.join(&trust), format!("{toml}\n")).unwrap();
    let revoke = Change {
        files: [(trust.clone(), None)].into(),
        keys_after: [(
            "carol".to_owned(),
            Some(Key {
                revoked: true,
                ..keys0["carol"].clone()
            }),
        )]
        .into(),
    };
    let e = check(&d, &before, &keys0, &revoke).unwrap_err();
    assert!(e.contains("yet key carol is not as the edit makes it"), "{e}");

    // A stored bundle cut short: refused by meaning (it does not verify)…
    let bytes = &before[&stored];
    for len in [bytes.len() / 2, bytes.len() - 512, 1024] {
        let d = fx.fresh("store-cut");
        fs::write(d.join(&stored), &bytes[..len]).unwrap();
        let e = check(&d, &before, &keys0, &edit).unwrap_err();
        assert!(e.contains("does not verify"), "cut to {len}: {e}");
        // …and by content when the new version is known.
        let known = Change {
            files: [(stored.clone(), Some(fx.cosigned.clone()))].into(),
            keys_after: BTreeMap::new(),
        };
        let e = check(&d, &before, &keys0, &known).unwrap_err();
        assert!(e.contains("neither the old"), "cut to {len}: {e}");
    }

    // A new file cut short, and a private key cut short.
    let d = fx.fresh("new-cut");
    let pem = PathBuf::from("home/keys/dave.pub.pem");
    let dave = fs::read(d.join("dave.pem")).unwrap();
    fs::write(d.join(&pem), &dave[..dave.len() / 2]).unwrap();
    let import = Change {
        files: [(pem.clone(), Some(dave.clone()))].into(),
        keys_after: BTreeMap::new(),
    };
    let e = check(&d, &before, &keys0, &import).unwrap_err();
    assert!(e.contains("not the complete new version"), "{e}");
    let d = fx.fresh("key-cut");
    let key = PathBuf::from("home/private/erin.key");
    let k = &before[&PathBuf::from("home/private/bob.key")];
    fs::write(d.join(&key), &k[..k.len() / 2]).unwrap();
    let keygen = Change {
        files: [(key.clone(), None)].into(),
        keys_after: BTreeMap::new(),
    };
    let e = check(&d, &before, &keys0, &keygen).unwrap_err();
    assert!(e.contains("private/erin.key is not a whole key"), "{e}");
    // A file that vanished.
    let d = fx.fresh("gone");
    fs::remove_file(d.join(&stored)).unwrap();
    let e = check(&d, &before, &keys0, &edit).unwrap_err();
    assert!(e.contains("disappeared"), "{e}");
}

/// The state a keygen killed between its two writes leaves (the private key
/// written, the trust store not yet): the next `ct keygen` of that id
/// finishes it, instead of refusing the id for ever ("already exists").
#[test]
fn keygen_finishes_a_keygen_killed_between_its_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let other = tmp.path().join("other");
    ok(&home, &["keygen", "--id", "alice"]);
    ok(&other, &["keygen", "--id", "erin"]);
    let fingerprint = keys(&other).unwrap()["erin"].fingerprint.clone();
    // Just the private key, as the kill leaves it.
    fs::create_dir_all(home.join("private")).unwrap();
    fs::copy(other.join("private/erin.key"), home.join("private/erin.key")).unwrap();
    let out = ok(&home, &["keygen", "--id", "erin"]);
    assert!(out.contains("finished the interrupted generation of key erin"), "{out}");
    let k = &keys(&home).unwrap()["erin"];
    assert_eq!(
        (k.fingerprint.as_str(), k.trust.as_str(), k.private_key),
        (fingerprint.as_str(), "ultimate", true)
    );
    // Done once: the id is taken now.
    let out = run(&home, &["keygen", "--id", "erin"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains("already exists"), "{}", text(&out));

    // A key file in the clear is not kept when encryption is asked for, and
    // a file that is no key is refused; both name the file to remove.
    fs::copy(other.join("private/erin.key"), home.join("private/frank.key")).unwrap();
    let pass = tmp.path().join("pass");
    fs::write(&pass, "correct horse\n").unwrap();
    let out = run(
        &home,
        &[
            "keygen",
            "--id",
            "frank",
            "--encrypt",
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("private/frank.key") && text(&out).contains("is not encrypted"),
        "{}",
        text(&out)
    );
    fs::write(
        home.join("private/gina.key"),
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2Vw\n",
    )
    .unwrap();
    let out = run(&home, &["keygen", "--id", "gina"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("private/gina.key") && text(&out).contains("remove it"),
        "{}",
        text(&out)
    );
    assert!(!keys(&home).unwrap().contains_key("frank"));
    assert!(!keys(&home).unwrap().contains_key("gina"));
}
