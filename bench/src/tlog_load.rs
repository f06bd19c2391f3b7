//! `tlog-load`: what `bench/tlog` times on a running log. Appends `--entries`
//! release entries to the log at `URL` over `--clients` concurrent
//! connections (each `POST /add` answered once its batch is durable and
//! cosigned), checks every answer is a proof that verifies, then verifies
//! the proofs again in a loop. Prints two lines:
//!
//! ```text
//! appends N clients C seconds S per_second R
//! verifications N seconds S per_second R
//! ```
//!
//! Usage: `tlog-load URL=LOGVKEY [--witness VKEY]… [--entries N] [--clients C]`.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use cerro_core::tlog::{release_entry, TlogProof, TlogTrust, TrustedLog, VerifierKey};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let target = args
        .next()
        .context("usage: tlog-load URL=LOGVKEY [--witness VKEY]… [--entries N] [--clients C]")?;
    let (mut entries, mut clients, mut witnesses) = (2000usize, 16usize, Vec::new());
    while let Some(a) = args.next() {
        let v = args.next().with_context(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--entries" => entries = v.parse()?,
            "--clients" => clients = v.parse()?,
            "--witness" => witnesses.push(VerifierKey::parse(&v)?),
            _ => bail!("unknown argument {a}"),
        }
    }
    let (url, vkey) = target.split_once('=').context("URL=LOGVKEY")?;
    let addr: SocketAddr = url.trim_start_matches("http://").trim_end_matches('/').parse()?;
    let log = VerifierKey::parse(vkey)?;
    let k = witnesses.len();
    let trusted = TrustedLog::new(log.name(), vec![log.clone()])?;
    let trust = if k == 0 {
        TlogTrust::logs_only(vec![trusted])?
    } else {
        TlogTrust::new(vec![trusted], witnesses, k)?
    };
    // A run-specific prefix: the log refuses no duplicate, but distinct
    // entries make each proof distinct.
    let salt = std::process::id();
    let entry = |i: usize| release_entry(format!("bench {salt} {i}").as_bytes());

    let start = Instant::now();
    let per = entries.div_ceil(clients.max(1));
    let proofs: Vec<(usize, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let entry = &entry;
                s.spawn(move || -> Result<Vec<(usize, Vec<u8>)>> {
                    let mut out = Vec::new();
                    for i in (c * per)..((c + 1) * per).min(entries) {
                        let a = cerro_integration::tlog::try_http(addr, "POST", "/add", &entry(i))?;
                        if a.status != 200 {
                            bail!("entry {i}: HTTP {}: {}", a.status, a.text());
                        }
                        out.push((i, a.body));
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().map_err(|_| anyhow::anyhow!("a client panicked"))??);
        }
        Ok::<_, anyhow::Error>(all)
    })?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "appends {} clients {clients} seconds {secs:.3} per_second {:.1}",
        proofs.len(),
        proofs.len() as f64 / secs
    );

    let parsed: Vec<(Vec<u8>, TlogProof)> = proofs
        .iter()
        .map(|(i, p)| Ok((entry(*i), TlogProof::parse(p)?)))
        .collect::<Result<_>>()?;
    for (e, p) in &parsed {
        p.verify(e, &trust)
            .context("a proof the log answered does not verify")?;
    }
    let rounds = 5;
    let start = Instant::now();
    for _ in 0..rounds {
        for (e, p) in &parsed {
            p.verify(e, &trust)?;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = rounds * parsed.len();
    println!("verifications {n} seconds {secs:.3} per_second {:.1}", n as f64 / secs);
    Ok(())
}
