//! `startup-bench`: what the start-time decision costs (#15). `ctr run --rm`
//! of an attested busybox image through `io.cerro.v1` (the shim deciding,
//! `cerro-runtime` running it) against `io.containerd.runc.v2`, cold (no
//! cached verdict: `<store>/verdicts` removed before each run) and warm (the
//! blob digests from the verdict cache), for a small image and one with a
//! 200 MiB layer; then each shim's resident memory with one container
//! running. Prints medians and the ratios against their targets.
//!
//! Usage (as root, from `bench/startup`, which builds the binaries):
//! `startup-bench [--runs N] [--big-mib N]`. It starts a private containerd
//! (the integration tests' harness) under a temporary directory and removes
//! everything when it ends.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cerro_integration::containerd::{Containerd, Flavour};
use cerro_integration::{bin, ct, is_root, run, umoci};

const CERRO: &str = "io.cerro.v1";
const RUNC: &str = "io.containerd.runc.v2";
/// Shims of each runtime whose resident memory is measured (the median is
/// reported).
const RSS_SAMPLES: usize = 3;

fn main() -> Result<()> {
    let mut runs = 5usize;
    let mut big_mib = 200u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().context("--runs needs a value")?.parse()?,
            "--big-mib" => big_mib = args.next().context("--big-mib needs a value")?.parse()?,
            _ => bail!("usage: startup-bench [--runs N] [--big-mib N]"),
        }
    }
    if !is_root() {
        bail!("startup-bench runs containerd: run it as root");
    }
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let dir = tempfile::Builder::new().prefix("cerro-startup-").tempdir()?;
    let d = dir.path();
    let (home, store) = (d.join("home"), d.join("store"));
    let ctd = Containerd::start_with(
        d,
        &[
            ("CERRO_HOME", &home),
            ("CERRO_STORE", &store),
            ("CERRO_AUDIT_LOG", &d.join("audit.log")),
            ("CERRO_RUNTIME_ROOT", &d.join("runtime")),
        ],
        &Flavour::System,
        "",
    );
    run(ct(&home).args(["keygen", "--id", "bench"]));
    let small = attested(&ctd, d, &home, &store, "small", 0)?;
    let big = attested(&ctd, d, &home, &store, "big", big_mib)?;

    // Both shims' binaries start from the same page-cache state: none of
    // their pages cached. A binary just linked or copied (the cerro shim,
    // here) has every page in the cache, written there, where a node's
    // installed shim has the pages its starts read; the kernel maps the
    // cached pages around each fault of a starting process, so the shim's
    // resident text follows that state (the same cerro binary measured
    // 6.5 MiB right after a copy, 5.9 MiB from this state).
    for shim in [bin("containerd-shim-cerro-v1"), on_path("containerd-shim-runc-v2")?] {
        evict(&shim)?;
    }
    println!("startup: ctr run --rm IMAGE /bin/busybox true, median of {runs} run(s), containerd 1.6");
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "image", "runc-v2", "cerro cold", "cerro warm"
    );
    let mut ratios = Vec::new();
    for (name, image) in [("busybox", &small), (&*format!("busybox + {big_mib} MiB"), &big)] {
        // Unpacked into a snapshot once, before anything is timed.
        start(&ctd, RUNC, image, "prime")?;
        let runc = median(runs, || start(&ctd, RUNC, image, "runc"))?;
        let cold = median(runs, || {
            let _ = fs::remove_dir_all(store.join("verdicts"));
            start(&ctd, CERRO, image, "cold")
        })?;
        start(&ctd, CERRO, image, "fill")?;
        let warm = median(runs, || start(&ctd, CERRO, image, "warm"))?;
        println!("{name:<28} {:>8.0}ms {:>8.0}ms {:>8.0}ms", ms(runc), ms(cold), ms(warm));
        ratios.push((name.to_owned(), ms(cold) / ms(runc), ms(warm) / ms(runc)));
    }
    let cached = fs::read_to_string(d.join("audit.log"))?
        .lines()
        .filter(|l| l.contains(r#""blobs":"cached""#))
        .count();
    println!("(audit records with \"blobs\":\"cached\": {cached})");
    println!();
    for (i, (name, cold, warm)) in ratios.iter().enumerate() {
        let (tc, tw) = if i == 0 {
            (" (target <= 1.30)", " (target <= 1.05)")
        } else {
            ("", "")
        };
        println!("{name:<28} cold/runc {cold:.2}{tc}   warm/runc {warm:.2}{tw}");
    }
    // The median of RSS_SAMPLES shims of each: one shim's resident text
    // depends on which of the binary's pages the page cache holds (the
    // kernel maps cached pages around each fault), so single samples of the
    // same binary differ by up to a fifth.
    let (mut runc_all, mut cerro_all) = (Vec::new(), Vec::new());
    for i in 0..RSS_SAMPLES {
        runc_all.push(shim_rss(&ctd, RUNC, &small, "containerd-shim-runc-v2", i)?);
        cerro_all.push(shim_rss(&ctd, CERRO, &small, "containerd-shim-cerro-v1", i)?);
    }
    println!("shim RSS samples (KiB): runc-v2 {runc_all:?}, cerro {cerro_all:?}");
    runc_all.sort_unstable();
    cerro_all.sort_unstable();
    let (rss_runc, rss_cerro) = (runc_all[RSS_SAMPLES / 2], cerro_all[RSS_SAMPLES / 2]);
    println!(
        "shim RSS, one container (median of {RSS_SAMPLES}): runc-v2 {} KiB, cerro {} KiB, cerro/runc {:.2} (target <= 0.50)",
        rss_runc,
        rss_cerro,
        rss_cerro as f64 / rss_runc as f64
    );
    drop(ctd);
    Ok(())
}

/// The file `name` on the PATH.
fn on_path(name: &str) -> Result<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} not found on the PATH"))
}

/// Drops `file`'s pages from the page cache (`dd iflag=nocache count=0`:
/// `posix_fadvise(POSIX_FADV_DONTNEED)` on the whole file; pages mapped by
/// a running process stay).
fn evict(file: &Path) -> Result<()> {
    let out = Command::new("dd")
        .arg(format!("if={}", file.display()))
        .args(["iflag=nocache", "count=0", "status=none"])
        .output()?;
    if !out.status.success() {
        bail!(
            "dd iflag=nocache {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(runs: usize, mut f: impl FnMut() -> Result<Duration>) -> Result<Duration> {
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        all.push(f()?);
    }
    all.sort();
    Ok(all[all.len() / 2])
}

/// `ctr run --rm --runtime RUNTIME IMAGE ID /bin/busybox true`, timed.
fn start(ctd: &Containerd, runtime: &str, image: &str, id: &str) -> Result<Duration> {
    let t0 = Instant::now();
    let out = ctd
        .ctr()
        .args(["run", "--rm", "--runtime", runtime, image, id, "/bin/busybox", "true"])
        .stdin(Stdio::null())
        .output()?;
    let took = t0.elapsed();
    if !out.status.success() {
        bail!(
            "ctr run --runtime {runtime} {image} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            ctd.log()
        );
    }
    Ok(took)
}

/// Builds `d/NAME` (busybox, and a file of `mib` MiB of pseudo-random
/// bytes), packs and loads it (`ct load --into containerd`); its name.
fn attested(ctd: &Containerd, d: &Path, home: &Path, store: &Path, name: &str, mib: u64) -> Result<String> {
    let img = d.join(name).display().to_string();
    let rootfs = d.join(format!("{name}-rootfs"));
    let r = rootfs.display().to_string();
    run(&mut umoci(&["init", "--layout", &img]));
    run(&mut umoci(&["new", "--image", &format!("{img}:{name}")]));
    run(&mut umoci(&["unpack", "--image", &format!("{img}:{name}"), &r]));
    let bin = rootfs.join("rootfs/bin");
    fs::create_dir_all(&bin)?;
    fs::copy("/bin/busybox", bin.join("busybox")).context("copying /bin/busybox (busybox-static)")?;
    if mib > 0 {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..mib << 17)
            .flat_map(|_| {
                // splitmix64
                x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                (z ^ (z >> 31)).to_le_bytes()
            })
            .collect();
        fs::write(rootfs.join("rootfs/big.bin"), data)?;
    }
    run(&mut umoci(&["repack", "--image", &format!("{img}:{name}"), &r]));
    let bundle = d.join(format!("{name}.ctp"));
    run(ct(home).args([
        "pack",
        &format!("oci:{img}:{name}"),
        "-o",
        &bundle.display().to_string(),
        "--key",
        "bench",
        "--no-sbom",
    ]));
    let before = images(ctd)?;
    run(ct(home).env("CERRO_STORE", store).args([
        "load",
        &bundle.display().to_string(),
        "--into",
        "containerd",
        "--address",
        &ctd.socket.display().to_string(),
    ]));
    images(ctd)?
        .into_iter()
        .find(|i| !before.contains(i))
        .context("ct load imported no image")
}

fn images(ctd: &Containerd) -> Result<Vec<String>> {
    let out = run(ctd.ctr().args(["images", "ls", "-q"]));
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// The resident memory (KiB) of the shim `binary` serving one running
/// container of `image` through `runtime`.
fn shim_rss(ctd: &Containerd, runtime: &str, image: &str, binary: &str, sample: usize) -> Result<u64> {
    let id = format!("rss-{}-{sample}", binary.len());
    run(ctd.ctr().args([
        "run",
        "-d",
        "--runtime",
        runtime,
        image,
        &id,
        "/bin/busybox",
        "sleep",
        "60",
    ]));
    // Let the shim settle after the start before it is measured.
    std::thread::sleep(Duration::from_millis(500));
    let socket = ctd.socket.display().to_string();
    let mut rss = None;
    for p in fs::read_dir("/proc")?.flatten() {
        let cmdline = fs::read(p.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline);
        if text.contains(binary) && text.contains(&socket) {
            let status = fs::read_to_string(p.path().join("status")).unwrap_or_default();
            rss = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok());
            if rss.is_some() {
                // Where the memory goes, for whoever profiles the shim.
                if let Some(dir) = std::env::var_os("STARTUP_BENCH_SMAPS") {
                    let dir = Path::new(&dir);
                    let _ = fs::copy(p.path().join("smaps"), dir.join(format!("{binary}.{sample}.smaps")));
                    // Its threads, by name (each has a stack and, with
                    // glibc's defaults, a malloc arena).
                    let mut threads: Vec<String> = fs::read_dir(p.path().join("task"))
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|t| fs::read_to_string(t.path().join("comm")).unwrap_or_default())
                        .collect();
                    threads.sort();
                    let _ = fs::write(dir.join(format!("{binary}.{sample}.threads")), threads.concat());
                }
                break;
            }
        }
    }
    let _ = Command::new("timeout")
        .arg("30")
        .arg(ctd.flavour.ctr())
        .arg("--address")
        .arg(&ctd.socket)
        .args(["task", "kill", "-s", "KILL", &id])
        .output();
    std::thread::sleep(Duration::from_millis(300));
    let _ = ctd.ctr().args(["task", "rm", "-f", &id]).output();
    let _ = ctd.ctr().args(["containers", "rm", &id]).output();
    rss.with_context(|| format!("no {binary} process found for {socket}"))
}
