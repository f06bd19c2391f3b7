//! Crash safety of `ct fetch` against a real registry (Debian's
//! `docker-registry`): killed with SIGKILL at a random point of its run, it
//! leaves the output either as it was (absent, or the previous bundle) or
//! the complete fetched bundle, never part of one; `ct`'s home is untouched;
//! and the next fetch into the same place succeeds (a temporary file left by
//! the kill is never read). The other commands' loop is ct/tests/crash_safety.rs.
//!
//! Kill points come from a seeded xorshift generator over the measured run
//! time; the seed is printed and `CT_CRASH_SEED=N` replays it
//! (`CT_CRASH_ITERATIONS` sets the number of kills, default 40). A second
//! test kills at every file step instead (strace's fault injection).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use cerro_core::testing::{seed_from_env, Rng};
use cerro_integration::registry::{packed_busybox, TestRegistry};
use cerro_integration::{ct, ct_status, require, run};

/// The output directory after a kill: `f.ctp` is absent or `old` (what was
/// there before), or the complete `new` and it verifies; anything else is a
/// temporary file (counted). `Err` says what is wrong.
fn check(home: &Path, out_dir: &Path, old: Option<&[u8]>, new: &[u8]) -> Result<usize, String> {
    let mut strays = 0;
    for e in fs::read_dir(out_dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name == "f.ctp" {
            continue;
        }
        if name.starts_with(".f.ctp.") && name.ends_with(".tmp") {
            strays += 1;
            continue;
        }
        return Err(format!("unexpected file {name}"));
    }
    let f = out_dir.join("f.ctp");
    match (fs::read(&f).ok(), old) {
        (None, None) => return Ok(strays),
        (None, Some(_)) => return Err("the previous bundle disappeared".into()),
        (Some(now), Some(old)) if now == old => return Ok(strays),
        (Some(now), _) if now != new => {
            return Err(format!(
                "f.ctp is neither the previous bundle nor the fetched one: {} of {} bytes",
                now.len(),
                new.len()
            ))
        }
        _ => {}
    }
    let (code, out) = ct_status(home, &["verify", f.to_str().unwrap()]);
    if code != 0 {
        return Err(format!("f.ctp does not verify: {out}"));
    }
    Ok(strays)
}

#[test]
fn sigkill_during_fetch_leaves_the_old_or_the_whole_bundle() {
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let (bundle, _) = packed_busybox(d, &home, "crash");
    let reference = format!("{}/cerro/crash:1", reg.host());
    run(ct(&home).args(["push", bundle.to_str().unwrap(), &reference]));
    let new = fs::read(&bundle).unwrap();
    // The previous bundle at the output: the same image co-signed by a second key.
    run(ct(&home).args(["keygen", "--id", "second"]));
    let old_path = d.join("old.ctp");
    fs::copy(&bundle, &old_path).unwrap();
    run(ct(&home).args(["sign", old_path.to_str().unwrap(), "--key", "second"]));
    let old = fs::read(&old_path).unwrap();
    assert_ne!(old, new);

    let seed = seed_from_env("CT_CRASH_SEED", "crash_fetch");
    let mut rng = Rng::new(seed);
    let n: usize = std::env::var("CT_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);

    let home_before = snapshot(&home);
    let fetch_into = |out_dir: &Path| {
        let mut c = ct(&home);
        c.args(["fetch", &reference, "-o", out_dir.join("f.ctp").to_str().unwrap()]);
        c
    };
    // Complete runs: the median time of three, and the check passes on each result.
    let mut times = Vec::new();
    for i in 0..3 {
        let out_dir = d.join(format!("measure{i}"));
        fs::create_dir(&out_dir).unwrap();
        let t = Instant::now();
        run(&mut fetch_into(&out_dir));
        times.push(t.elapsed());
        assert_eq!(check(&home, &out_dir, None, &new), Ok(0));
    }
    times.sort();
    let full = times[1];

    let (mut killed, mut finished, mut strays) = (0, 0, 0);
    // What each kill left: shows the phases hit.
    let mut phases: std::collections::BTreeMap<&str, usize> = Default::default();
    for i in 0..n {
        let out_dir = d.join(format!("out{i}"));
        fs::create_dir(&out_dir).unwrap();
        // Half the runs replace a previous bundle, half create the file.
        let previous = (i % 2 == 0).then_some(&old[..]);
        if let Some(p) = previous {
            fs::write(out_dir.join("f.ctp"), p).unwrap();
        }
        // Half the kills anywhere in the run, half in its last 40%, where
        // the bundle is written (before it, a fetch is network reads only).
        let delay = if i % 4 < 2 {
            rng.below_duration(full + full / 5)
        } else {
            full * 3 / 5 + rng.below_duration(full * 3 / 5)
        };
        let mut child = fetch_into(&out_dir)
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
        let left = check(&home, &out_dir, previous, &new)
            .unwrap_or_else(|e| panic!("fetch killed after {delay:?} (iteration {i}, {status}): {e}"));
        strays += left;
        let written = fs::read(out_dir.join("f.ctp")).ok().is_some_and(|b| b == new);
        let phase = match (written, left > 0) {
            (true, _) => "the fetched bundle in place",
            (false, true) => "output untouched + temporary file",
            (false, false) => "output untouched",
        };
        *phases.entry(phase).or_default() += 1;
        assert!(snapshot(&home) == home_before, "fetch changed ct's home");
        // The next fetch into the same place is not disturbed by what the kill left.
        run(&mut fetch_into(&out_dir));
        assert_eq!(fs::read(out_dir.join("f.ctp")).unwrap(), new);
        fs::remove_dir_all(&out_dir).unwrap();
    }
    eprintln!(
        "crash_fetch: {full:?} per run, {killed} killed, {finished} finished, {strays} temporary file(s) left (never read)"
    );
    for (p, count) in &phases {
        eprintln!("crash_fetch:   {count:>3} × {p}");
    }
    assert!(killed > 0, "no fetch was killed");
}

/// Every step, not just random ones: strace's fault injection kills
/// `ct fetch` at each write, fsync, rename, copy and unlink it makes
/// (counted from a traced complete run; a syscall made more than 24 times
/// is killed at its first and last 8 and 7 evenly spaced ones).
#[test]
fn sigkill_at_every_file_step_of_fetch() {
    require("strace");
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let (bundle, _) = packed_busybox(d, &home, "crash-steps");
    let reference = format!("{}/cerro/steps:1", reg.host());
    run(ct(&home).args(["push", bundle.to_str().unwrap(), &reference]));
    let new = fs::read(&bundle).unwrap();
    let old = b"a previous file at the output\n";
    let strace = |out_dir: &Path, extra: &[&str]| {
        let mut c = Command::new("strace");
        c.args(["-f"])
            .args(extra)
            .arg(cerro_integration::ct_bin())
            .args(["fetch", &reference, "-o", out_dir.join("f.ctp").to_str().unwrap()])
            .env("CERRO_HOME", &home)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    const STEPS: &str =
        "write,pwrite64,fsync,fdatasync,rename,renameat,renameat2,copy_file_range,sendfile,ftruncate,linkat,unlinkat";
    let out_dir = d.join("traced");
    fs::create_dir(&out_dir).unwrap();
    let trace = d.join("fetch.trace");
    let st = strace(
        &out_dir,
        &["-o", trace.to_str().unwrap(), "-e", &format!("trace={STEPS}")],
    )
    .status()
    .unwrap();
    assert!(st.success(), "traced fetch: {st}");
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for line in fs::read_to_string(&trace).unwrap().lines() {
        let call = line.split_whitespace().nth(1).unwrap_or_default();
        if let Some((name, _)) = call.split_once('(') {
            *counts.entry(name.to_owned()).or_default() += 1;
        }
    }
    let (mut points, mut replaced) = (0, 0);
    for (sys, &count) in &counts {
        let picks: std::collections::BTreeSet<usize> = if count <= 24 {
            (1..=count).collect()
        } else {
            (1..=8)
                .chain(count - 7..=count)
                .chain((1..8).map(|k| k * count / 8))
                .collect()
        };
        for n in picks {
            let out_dir = d.join(format!("{sys}-{n}"));
            fs::create_dir(&out_dir).unwrap();
            fs::write(out_dir.join("f.ctp"), old).unwrap();
            let status = strace(
                &out_dir,
                &[
                    "-o",
                    "/dev/null",
                    "-e",
                    &format!("trace={sys}"),
                    "-e",
                    &format!("inject={sys}:signal=KILL:when={n}"),
                ],
            )
            .status()
            .unwrap();
            check(&home, &out_dir, Some(old), &new)
                .unwrap_or_else(|e| panic!("fetch killed at {sys} #{n} of {count} ({status}): {e}"));
            if fs::read(out_dir.join("f.ctp")).unwrap() == new {
                replaced += 1;
            }
            run(&mut fetch_cmd(&home, &reference, &out_dir));
            assert_eq!(fs::read(out_dir.join("f.ctp")).unwrap(), new);
            points += 1;
        }
    }
    eprintln!("crash_fetch: killed at {points} steps {counts:?}; {replaced} left the fetched bundle in place");
    assert!(points > 0 && replaced < points);
}

fn fetch_cmd(home: &Path, reference: &str, out_dir: &Path) -> Command {
    let mut c = ct(home);
    c.args(["fetch", reference, "-o", out_dir.join("f.ctp").to_str().unwrap()]);
    c
}

/// The checker must be able to fail: a bundle cut short at the output,
/// a lost previous bundle and a foreign file are each reported.
#[test]
fn the_fetch_checker_reports_a_bundle_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let (bundle, _) = packed_busybox(d, &home, "checker");
    let new = fs::read(&bundle).unwrap();
    let out = d.join("out");
    fs::create_dir(&out).unwrap();
    assert_eq!(check(&home, &out, None, &new), Ok(0));
    let e = check(&home, &out, Some(b"old"), &new).unwrap_err();
    assert!(e.contains("disappeared"), "{e}");
    fs::write(out.join("f.ctp"), &new).unwrap();
    fs::write(out.join(".f.ctp.Xy12ab.tmp"), &new[..100]).unwrap();
    assert_eq!(check(&home, &out, None, &new), Ok(1));
    for len in [new.len() / 2, new.len() - 512] {
        fs::write(out.join("f.ctp"), &new[..len]).unwrap();
        let e = check(&home, &out, Some(b"old"), &new).unwrap_err();
        assert!(e.contains("neither the previous bundle nor the fetched one"), "{e}");
    }
    // Right bytes, but a trust root that does not accept them: refused too.
    fs::write(out.join("f.ctp"), &new).unwrap();
    let e = check(&d.join("empty-home"), &out, None, &new).unwrap_err();
    assert!(e.contains("does not verify"), "{e}");
    fs::write(out.join("f.ctp.part"), b"").unwrap();
    let e = check(&home, &out, None, &new).unwrap_err();
    assert!(e.contains("unexpected file"), "{e}");
}

fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}
