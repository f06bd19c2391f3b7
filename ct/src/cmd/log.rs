//! `ct log`: a transparency log (crate `cerro-tlog`, spec/transparency.md
//! §10): its key, a new log directory, and its write side over HTTP (the
//! read side is the directory, served by any static HTTP server); entering
//! a bundle's release in logs and embedding their proofs (`submit`, and
//! `ct pack --log`, §12); and the logs the trust store trusts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;

use anyhow::Result;
use cerro_core::bundle::{read_bundle_file, rewrite_proofs_to_file, NoExtract, RELEASE_ATTESTATION};
use cerro_core::file::AtomicFile;
use cerro_core::tlog::{release_entry_for, NoteSigner as _, TlogProof, VerifierKey};
use cerro_core::{Error, ExitCode};
use cerro_registry::tlog::{LogEndpoint, WitnessEndpoint, WitnessOutcome};
use cerro_tlog::{key, Log};
use serde_json::json;

use crate::cli::LogCommand;
use crate::ctx::Ctx;

/// Whether `cmd` runs without a state directory (it runs a log, not a
/// client of one).
pub fn standalone(cmd: &LogCommand) -> bool {
    matches!(
        cmd,
        LogCommand::Keygen { .. } | LogCommand::Init { .. } | LogCommand::Serve { .. }
    )
}

/// Runs a `ct log` command that uses the state directory (trust store).
pub fn run_home(ctx: &Ctx, cmd: &LogCommand) -> Result<ExitCode> {
    match cmd {
        LogCommand::Submit {
            bundle,
            logs,
            witnesses,
        } => submit(ctx, bundle, &endpoints(logs)?, &witness_endpoints(witnesses)?),
        LogCommand::Trust { vkey, origin, url } => {
            let key = VerifierKey::parse(vkey)?;
            let origin = origin.clone().unwrap_or_else(|| key.name().to_owned());
            let shown = key.to_vkey();
            let old = ctx.home.update_trust(|s| {
                let old = s.set_log(&origin, vec![key])?;
                if let Some(u) = url {
                    s.set_log_url(&origin, u)?;
                }
                Ok(old)
            })?;
            println!(
                "{} transparency log {origin} with key {shown}{}",
                if old.is_some() { "replaced" } else { "trusted" },
                url.as_deref().map(|u| format!(", read at {u}")).unwrap_or_default()
            );
            Ok(ExitCode::Valid)
        }
        LogCommand::Monitor {
            logs,
            witnesses,
            state,
            json,
        } => super::monitor::monitor(ctx, logs, witnesses, state.as_deref(), *json),
        LogCommand::Untrust { origin } => {
            ctx.home.update_trust(|s| {
                s.remove_log(origin).map(|_| ()).ok_or_else(|| {
                    Error::invalid_config("transparency log", format!("no trusted log has origin {origin:?}"))
                })
            })?;
            println!("no longer trusting transparency log {origin}");
            Ok(ExitCode::Valid)
        }
        LogCommand::List { json } => {
            let store = ctx.home.load_trust()?;
            if ctx.home.trust_root_bytes()?.is_some() {
                eprintln!(
                    "note: a signed trust root is installed: its logs apply, not these of trust.toml (ct trust root show)"
                );
            }
            if *json {
                let logs: Vec<_> = store
                    .logs()
                    .map(|l| json!({"origin": l.origin(), "keys": l.keys().iter().map(VerifierKey::to_vkey).collect::<Vec<_>>(), "url": store.log_url(l.origin())}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&json!({ "logs": logs }))?);
            } else {
                for l in store.logs() {
                    for k in l.keys() {
                        println!("{}  {}", l.origin(), k.to_vkey());
                    }
                }
            }
            Ok(ExitCode::Valid)
        }
        LogCommand::Keygen { .. } | LogCommand::Init { .. } | LogCommand::Serve { .. } => run(cmd),
    }
}

/// The `--log URL[=VKEY]` arguments, each checked (before any work).
pub fn endpoints(args: &[String]) -> Result<Vec<LogEndpoint>> {
    Ok(args
        .iter()
        .map(|a| LogEndpoint::parse(a))
        .collect::<Result<Vec<_>, _>>()?)
}

/// The `--witness URL=VKEY` arguments of `ct log submit` and `ct pack`,
/// each checked (before any work).
pub fn witness_endpoints(args: &[String]) -> Result<Vec<WitnessEndpoint>> {
    Ok(args
        .iter()
        .map(|a| WitnessEndpoint::parse(a))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Enters the release of the bundle at `path` in each of `logs` and
/// rewrites the bundle (atomically, beside it) with each log's proof, which
/// replaces a proof the bundle had from the same log; proofs from other
/// logs are kept. Every proof is verified for this release before it is
/// embedded (`cerro_registry::tlog::submit`), under the key given with the
/// URL, else under the trust store's logs. Then each of `witnesses` that
/// has not cosigned a proof's checkpoint is asked to
/// (`cerro_registry::tlog::cosign`: tlog-witness, the consistency proof
/// from the log's read URL in the trust store), and the cosignatures that
/// verify are added. A witness that does not cosign is reported on stderr
/// (its name, URL and the HTTP status); the command fails only when a
/// log's checkpoint then carries fewer cosignatures by trusted witnesses
/// than the policy's `transparency.witnesses` (or a signed trust root's
/// quorum, if larger) (exit 6,
/// `tlog_witness_quorum`): the bundle would not verify under that policy,
/// so it is not written (the entries stay in the logs; running again
/// enters the release again, which a log allows). Nothing is written
/// unless every log answered and every quorum is met.
pub fn submit(ctx: &Ctx, path: &Path, logs: &[LogEndpoint], witnesses: &[WitnessEndpoint]) -> Result<ExitCode> {
    // The logs in force: a signed trust root's when one is installed.
    let store = ctx.home.load_for_verification(ctx.now()?)?;
    let trust = store.tlog_trust();
    // The witness quorum `ct verify` will ask of each log, read before any
    // log is asked: the policy's (the one selection rule: $CERRO_POLICY,
    // else <home>/policy.json; fail closed) and a signed trust root's,
    // whichever is larger (a policy may require more, never less).
    let by_root = store
        .root()
        .map_or(0, |r| if r.quorum.logs > 0 { r.quorum.witnesses } else { 0 });
    let required = ctx.host(None)?.policy()?.witness_quorum().max(by_root);
    let trusted_witnesses: Vec<VerifierKey> = store.witnesses().cloned().collect();
    let f = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let bundle = read_bundle_file(&f, &mut NoExtract)?;
    let release = bundle.member(RELEASE_ATTESTATION).ok_or_else(|| {
        Error::MissingAttestation("the bundle has no attestations/release.dsse.json to enter in a log".into())
    })?;
    let entry = release_entry_for(&release.digest);
    let mut proofs: BTreeMap<String, TlogProof> = bundle
        .transparency
        .iter()
        .map(|p| (p.proof.checkpoint().checkpoint().origin().to_owned(), p.proof.clone()))
        .collect();
    let mut lines = Vec::new();
    let mut short: Option<Error> = None;
    for log in logs {
        let (mut proof, v) = cerro_registry::tlog::submit(log, &entry, trust.as_ref())?;
        lines.push(format!(
            "logged in {} (entry {} at tree size {}, {})",
            v.origin(),
            v.index(),
            v.tree_size(),
            log.url
        ));
        if !witnesses.is_empty() {
            let (cosigned, outcomes) = cerro_registry::tlog::cosign(&proof, witnesses, store.log_url(v.origin()))?;
            proof = cosigned;
            for (w, outcome) in witnesses.iter().zip(outcomes) {
                match outcome {
                    WitnessOutcome::Already => {}
                    WitnessOutcome::Cosigned => lines.push(format!(
                        "cosigned by witness {} at tree size {}",
                        w.shown(),
                        v.tree_size()
                    )),
                    WitnessOutcome::Refused(why) => eprintln!(
                        "ct: warning: witness {} did not cosign the checkpoint of {} at tree size {}: {}",
                        crate::output::printable(&w.shown()),
                        v.origin(),
                        v.tree_size(),
                        crate::output::printable(&why)
                    ),
                }
            }
        }
        if required > 0 && short.is_none() {
            let counted = trusted_cosignatures(&proof, &trusted_witnesses)?;
            if counted < required {
                short = Some(Error::TlogWitnessQuorum {
                    origin: v.origin().to_owned(),
                    counted,
                    required,
                });
            }
        }
        proofs.insert(v.origin().to_owned(), proof);
    }
    if let Some(e) = short {
        for l in lines {
            eprintln!("{}", crate::output::printable(&l));
        }
        eprintln!(
            "ct: the policy (transparency.witnesses) or the trust root asks for {required} cosignature(s) by trusted witnesses: ask more with --witness URL=VKEY, trust theirs with ct witness trust; {} left unchanged",
            path.display()
        );
        return Err(e.into());
    }
    let mut out = AtomicFile::create(path, 0o644)?;
    rewrite_proofs_to_file(&bundle, path, proofs.into_values().collect(), out.file())?;
    // Replaces the only copy: synced, as `ct sign` does.
    out.commit()?;
    for l in lines {
        println!("{}", crate::output::printable(&l));
    }
    Ok(ExitCode::Valid)
}

/// The distinct trusted witnesses whose cosignature of `proof`'s
/// checkpoint verifies, as `ct verify` counts them for
/// `transparency.witnesses` (one line per key in a note; a trusted
/// witness's line that does not verify refuses, as it does there).
fn trusted_cosignatures(proof: &TlogProof, trusted: &[VerifierKey]) -> Result<usize, Error> {
    if trusted.is_empty() {
        return Ok(0);
    }
    match proof.checkpoint().note().verify(trusted) {
        Ok(v) => Ok(v
            .iter()
            .filter(|s| s.timestamp.is_some())
            .map(|s| s.key)
            .collect::<std::collections::BTreeSet<_>>()
            .len()),
        Err(Error::NoteNotSigned { .. }) => Ok(0),
        Err(e) => Err(e),
    }
}

/// Runs a `ct log` command. Its errors go to `main` like every command's,
/// which maps them through the one table (`cerro_core::Kind`).
pub fn run(cmd: &LogCommand) -> Result<ExitCode> {
    run_log(cmd)?;
    Ok(ExitCode::Valid)
}

fn run_log(cmd: &LogCommand) -> cerro_tlog::Result<()> {
    match cmd {
        LogCommand::Keygen { name, output } => {
            let signer = key::generate(name)?;
            key::write(output, &signer)?;
            println!("{}", signer.verifier_key().to_vkey());
            Ok(())
        }
        LogCommand::Init { dir, key: k } => {
            let log = Log::create(dir, key::read(k)?)?;
            println!("{}", String::from_utf8_lossy(&log.checkpoint().to_bytes()).trim_end());
            Ok(())
        }
        LogCommand::Submit { .. }
        | LogCommand::Trust { .. }
        | LogCommand::Untrust { .. }
        | LogCommand::List { .. }
        | LogCommand::Monitor { .. } => {
            // Dispatched to `run_home` (they need the state directory).
            Err(cerro_tlog::Error::Core(cerro_core::Error::invalid_config(
                "ct log",
                "this command needs the state directory",
            )))
        }
        LogCommand::Serve {
            dir,
            key: k,
            witnesses,
            listen,
        } => {
            let witnesses = witnesses
                .iter()
                .map(|w| cerro_tlog::witnessing::WitnessEndpoint::parse(w))
                .collect::<cerro_tlog::Result<Vec<_>>>()?;
            let witnessing = cerro_tlog::witnessing::Witnessing::new(witnesses)?;
            let log = Log::open(dir, key::read(k)?)?;
            let listener = TcpListener::bind(*listen).map_err(|source| cerro_tlog::Error::Io {
                op: "listening on",
                path: listen.to_string().into(),
                source,
            })?;
            let warn = |line: String| eprintln!("ct log: {}", crate::output::printable(&line));
            cerro_tlog::server::serve_witnessed(log, witnessing, warn, listener, |addr| {
                println!("ct log: listening on http://{addr} (POST /add)");
                let _ = std::io::stdout().flush();
            })
        }
    }
}
