//! Cerro Torre's transparency formats (`cerro_core::tlog`) against
//! independent implementations from PyPI, run in the validator virtualenv
//! (scripts/install-deps installs them): pymerkle (RFC 6962 roots and
//! inclusion proofs, 1-based indices) and tlog-scales (C2SP checkpoints,
//! Ed25519 note signatures, cosignature/v1 verification, RFC 9162 proofs).
//! The script is `integration/python/tlog_judge.py`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cerro_core::tlog::merkle::{self, Hash};
use cerro_core::tlog::tiles;
use cerro_core::tlog::{
    release_entry, Checkpoint, Ed25519Cosigner, Ed25519NoteSigner, NoteSigner, SignedCheckpoint, TlogProof, TlogTrust,
    TrustedLog, VerifierKey,
};
use serde_json::{json, Value};

/// The virtualenv's python, or `None` (with the reason printed) when the
/// judges are not installed in it: then the test is skipped, loudly.
fn judge_python() -> Option<PathBuf> {
    let python = cerro_integration::pyvenv().join("bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import tlog_scales, pymerkle"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "SKIPPED: tlog-scales or pymerkle is missing from the validator virtualenv ({}): run scripts/install-deps",
            python.display()
        );
        return None;
    }
    Some(python)
}

fn judge(python: &Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/tlog_judge.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tlog_judge.py");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().expect("tlog_judge.py output");
    writer.join().expect("stdin writer").expect("write stdin");
    assert!(
        out.status.success(),
        "tlog_judge.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hexes(v: &[Hash]) -> Vec<String> {
    v.iter().map(|h| hex(h)).collect()
}

fn map(v: &Value, key: &str) -> BTreeMap<String, Value> {
    v[key]
        .as_object()
        .unwrap_or_else(|| panic!("judge output lacks {key}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

const N: usize = 70;

#[test]
fn merkle_roots_and_proofs_agree_with_pymerkle_and_tlog_scales() {
    let Some(python) = judge_python() else { return };
    let leaves: Vec<Hash> = (0..N)
        .map(|i| merkle::leaf_hash(format!("leaf {i}").as_bytes()))
        .collect();
    let mut inclusion = BTreeMap::new();
    let mut consistency = BTreeMap::new();
    let mut roots = BTreeMap::new();
    for n in 1..=N {
        let d = &leaves[..n];
        roots.insert(n.to_string(), json!(hex(&merkle::root(d))));
        for i in 0..n {
            let p = merkle::inclusion_proof(d, i as u64).unwrap();
            inclusion.insert(format!("{i} {n}"), json!(hexes(&p)));
        }
        for m in 1..=n {
            let p = merkle::consistency_proof(d, m as u64).unwrap();
            consistency.insert(format!("{m} {n}"), json!(hexes(&p)));
        }
    }
    let ours = json!({ "inclusion": inclusion, "consistency": consistency });
    let out = judge(&python, &["merkle", &N.to_string()], ours.to_string().as_bytes());
    let theirs: Value = serde_json::from_slice(&out).expect("judge JSON");

    assert_eq!(theirs["refused"], json!([]), "the judges refused some of our proofs");
    for key in ["roots_pymerkle", "roots_scales"] {
        let r = map(&theirs, key);
        assert_eq!(r.len(), N);
        for (n, root) in &r {
            assert_eq!(root, &roots[n], "{key}: root of {n} leaves");
        }
    }
    for key in ["inclusion_pymerkle", "inclusion_scales"] {
        let p = map(&theirs, key);
        assert_eq!(p.len(), N * (N + 1) / 2);
        for (k, proof) in &p {
            assert_eq!(proof, &inclusion[k], "{key}: inclusion proof (index size) {k}");
            // And theirs verifies under ours.
            let (i, n) = k.split_once(' ').unwrap();
            let (i, n): (u64, usize) = (i.parse().unwrap(), n.parse().unwrap());
            let path: Vec<Hash> = proof
                .as_array()
                .unwrap()
                .iter()
                .map(|h| unhex(h.as_str().unwrap()).try_into().unwrap())
                .collect();
            merkle::verify_inclusion(&leaves[i as usize], i, n as u64, &path, &merkle::root(&leaves[..n])).unwrap();
        }
    }
    let c = map(&theirs, "consistency_scales");
    assert_eq!(c.len(), N * (N + 1) / 2);
    for (k, proof) in &c {
        assert_eq!(proof, &consistency[k], "tlog-scales: consistency proof (old new) {k}");
        let (m, n) = k.split_once(' ').unwrap();
        let (m, n): (usize, usize) = (m.parse().unwrap(), n.parse().unwrap());
        let path: Vec<Hash> = proof
            .as_array()
            .unwrap()
            .iter()
            .map(|h| unhex(h.as_str().unwrap()).try_into().unwrap())
            .collect();
        merkle::verify_consistency(
            m as u64,
            n as u64,
            &merkle::root(&leaves[..m]),
            &merkle::root(&leaves[..n]),
            &path,
        )
        .unwrap();
    }
}

#[test]
fn our_checkpoints_and_cosignatures_verify_under_tlog_scales() {
    let Some(python) = judge_python() else { return };
    let log = Ed25519NoteSigner::from_seed("ours.example/log", &[1; 32]).unwrap();
    let w1 = Ed25519Cosigner::from_seed("w1.ours.example", &[2; 32]).unwrap();
    let w2 = Ed25519Cosigner::from_seed("w2.ours.example", &[3; 32]).unwrap();
    let leaves: Vec<Hash> = (0..5u8).map(|i| merkle::leaf_hash(&[i])).collect();
    let cp = Checkpoint::new("ours.example/log", 5, merkle::root(&leaves)).unwrap();
    let mut signed = SignedCheckpoint::sign(cp, &log).unwrap();
    signed.cosign(&w1, 1_764_000_000).unwrap();
    signed.cosign(&w2, 1_764_000_001).unwrap();
    let vkeys = [
        log.verifier_key().to_vkey(),
        w1.verifier_key().to_vkey(),
        w2.verifier_key().to_vkey(),
    ];
    let args: Vec<&str> = std::iter::once("verify")
        .chain(vkeys.iter().map(String::as_str))
        .collect();
    let out = String::from_utf8(judge(&python, &args, &signed.to_bytes())).unwrap();
    assert_eq!(
        out, "ours.example/log ok\nw1.ours.example ok\nw2.ours.example ok\n",
        "tlog-scales on our checkpoint"
    );

    // The judge can say no: a checkpoint whose root was changed after signing.
    let text = String::from_utf8(signed.to_bytes()).unwrap();
    let root_line = text.lines().nth(2).unwrap().to_owned();
    let swapped = if root_line.starts_with('A') { "B" } else { "A" };
    let forged = text.replacen(&root_line, &format!("{swapped}{}", &root_line[1..]), 1);
    assert_ne!(forged, text);
    let out = String::from_utf8(judge(&python, &args, forged.as_bytes())).unwrap();
    assert_eq!(
        out.matches(" fail ").count(),
        3,
        "tlog-scales accepted a forged checkpoint: {out}"
    );
}

#[test]
fn tlog_scales_checkpoints_and_proofs_verify_under_ours() {
    let Some(python) = judge_python() else { return };
    let entries: Vec<Vec<u8>> = (0..11)
        .map(|i| release_entry(format!("{{\"envelope\":{i}}}").as_bytes()))
        .collect();
    let hexed: Vec<String> = entries.iter().map(|e| hex(e)).collect();
    let seed = |b: u8| hex(&[b; 32]);
    let out = judge(
        &python,
        &[
            "make",
            "judge.example/log",
            &seed(9),
            &format!("w1.judge.example:{}", seed(10)),
            &format!("w2.judge.example:{}", seed(11)),
            &format!("w3.judge.example:{}", seed(12)),
        ],
        json!(hexed).to_string().as_bytes(),
    );
    let made: Value = serde_json::from_slice(&out).expect("judge JSON");
    let log_key = VerifierKey::parse(made["log_vkey"].as_str().unwrap()).unwrap();
    assert_eq!(
        log_key,
        *Ed25519NoteSigner::from_seed("judge.example/log", &[9; 32])
            .unwrap()
            .verifier_key(),
        "tlog-scales and we derive the same vkey (name, key ID, type, key)"
    );
    let witnesses: Vec<VerifierKey> = made["witness_vkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| VerifierKey::parse(v.as_str().unwrap()).unwrap())
        .collect();
    let trust = TlogTrust::new(
        vec![TrustedLog::new("judge.example/log", vec![log_key]).unwrap()],
        witnesses,
        3,
    )
    .unwrap();
    let checkpoint = SignedCheckpoint::parse(made["checkpoint"].as_str().unwrap().as_bytes())
        .expect("tlog-scales' checkpoint parses");
    assert_eq!(checkpoint.to_bytes(), made["checkpoint"].as_str().unwrap().as_bytes());
    let proofs = made["inclusion"].as_array().unwrap();
    assert_eq!(proofs.len(), entries.len());
    for (i, (entry, p)) in entries.iter().zip(proofs).enumerate() {
        let path: Vec<Hash> = p
            .as_array()
            .unwrap()
            .iter()
            .map(|h| unhex(h.as_str().unwrap()).try_into().unwrap())
            .collect();
        let proof = TlogProof::new(i as u64, path, checkpoint.clone()).unwrap();
        let again = TlogProof::parse(&proof.to_bytes()).unwrap();
        assert_eq!(again, proof);
        let v = again.verify(entry, &trust).unwrap();
        assert_eq!(
            (v.origin(), v.index(), v.tree_size()),
            ("judge.example/log", i as u64, 11)
        );
        assert_eq!(v.witnesses().len(), 3);
        // The same proof does not prove another entry.
        let e = again.verify(&entries[(i + 1) % entries.len()], &trust).unwrap_err();
        assert_eq!(e.check(), "tlog_proof_mismatch");
    }
}

/// tlog-tiles: the tiles and entry bundles tlog-scales writes for a log of
/// 66,000 entries are exactly the paths and bytes ours name and encode
/// (full and partial tiles on levels 0 to 2, full and partial bundles).
#[test]
fn tile_paths_and_bytes_agree_with_tlog_scales() {
    let Some(python) = judge_python() else { return };
    const SIZE: u64 = 66_000;
    let out = judge(&python, &["tiles", &SIZE.to_string()], b"");
    let theirs: BTreeMap<String, String> = serde_json::from_slice(&out).expect("judge JSON");

    let entries: Vec<Vec<u8>> = (0..SIZE).map(|i| format!("entry {i}").into_bytes()).collect();
    let mut level: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e)).collect();
    let mut ours: BTreeMap<String, String> = BTreeMap::new();
    for (n, chunk) in entries.chunks(256).enumerate() {
        let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        let path = tiles::entries_path(n as u64, chunk.len() as u64).unwrap();
        ours.insert(path, hex(&tiles::encode_entry_bundle(&refs).unwrap()));
    }
    for l in 0u8.. {
        if level.is_empty() {
            break;
        }
        for (n, chunk) in level.chunks(256).enumerate() {
            let path = tiles::tile_path(l, n as u64, chunk.len() as u64).unwrap();
            ours.insert(path, hex(&chunk.concat()));
        }
        // "At level 1 and above, each hash in a tile is the Merkle Tree Hash
        // of a *full* tile at the level below."
        level = level.chunks_exact(256).map(merkle::root).collect();
    }
    assert_eq!(tiles::partial_width(SIZE, 0), 208);
    assert_eq!(
        ours.len(),
        theirs.len(),
        "tile sets differ: {:?}",
        ours.keys().zip(theirs.keys()).find(|(a, b)| a != b)
    );
    for (path, bytes) in &theirs {
        assert_eq!(ours.get(path), Some(bytes), "tile {path}");
    }
}

/// What `ct witness serve` answers a real log (`ct log serve --witness`)
/// verifies under tlog-scales: the checkpoint the log publishes, with the
/// cosignature lines its witness returned over HTTP.
#[test]
fn our_witness_servers_cosignatures_verify_under_tlog_scales() {
    let Some(python) = judge_python() else { return };
    use cerro_integration::tlog::{make_log, make_witness, serve_log, serve_witness};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let log_vkey = make_log(d, "judged.example/log", "j");
    let wv = make_witness(d, "w.judged.example", "w");
    let witness = serve_witness(d, &wv, "w", &[&log_vkey]);
    let log = serve_log(d, &log_vkey, "j", &[witness.endpoint()]);
    // Two entries, two batches: the second cosignature follows a
    // consistency proof.
    for i in 0..2u8 {
        let entry = release_entry(&[i]);
        let addr: std::net::SocketAddr = log.url.trim_start_matches("http://").parse().unwrap();
        let out = cerro_integration::tlog::http(addr, "POST", "/add", &entry);
        assert_eq!(out.status, 200, "POST /add: {}", out.text());
        let proof = TlogProof::parse(&out.body).unwrap();
        assert_eq!(
            proof.checkpoint().note().signatures().len(),
            2,
            "the log's and the witness's"
        );
    }
    let published = std::fs::read(d.join("j-log/checkpoint")).unwrap();
    let out = String::from_utf8(judge(&python, &["verify", &log_vkey, &wv], &published)).unwrap();
    assert_eq!(
        out, "judged.example/log ok\nw.judged.example ok\n",
        "tlog-scales on our witness's cosignature"
    );
}
