//! Replays the fuzz corpus on stable, as ordinary tests: every file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through
//! the same check the fuzz target runs (a panic fails the test and names the
//! file). This is how CI reruns, in seconds, every input the fuzzers kept.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use cerro_core::digest::Digest;
use cerro_fuzz_checks::{front_ends, Check, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The files of `dir`, sorted (none if it does not exist).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

/// The checks of [`cerro_fuzz_checks::front_ends`], with the real parsers
/// (the fuzz targets of the same names pass the same ones).
const FRONT_END_TARGETS: &[(&str, Check)] = &[
    ("hook_state", |d| front_ends::hook_state(d, cerro_hook::parse_state)),
    ("podman_storage", |d| {
        front_ends::podman_storage(
            d,
            cerro_hook::podman::parse_containers,
            cerro_hook::podman::parse_images,
            cerro_hook::podman::Image::manifest_digests,
        )
    }),
    ("registry_artifact", |d| {
        front_ends::registry_artifact(d, cerro_registry::parse_artifact_manifest)
    }),
];

fn replay(target: &str) {
    let (_, check) = TARGETS
        .iter()
        .chain(FRONT_END_TARGETS)
        .find(|(n, _)| *n == target)
        .unwrap();
    let mut n = 0;
    for sub in ["corpus", "regressions"] {
        for f in files(&fuzz_dir().join(sub).join(target)) {
            let data = std::fs::read(&f).unwrap();
            if let Err(e) = std::panic::catch_unwind(|| check(&data)) {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("{target}: {} fails its check: {msg}", f.display());
            }
            n += 1;
        }
    }
    // A target with no corpus would pass without checking anything.
    assert!(
        n > 0,
        "no corpus for {target}: run `cargo run -p cerro-fuzz-checks --example seeds`"
    );
    println!("{target}: {n} inputs replayed");
}

/// Every target has a fuzz target and a replay test below (a new target
/// needs both).
#[test]
fn every_target_is_replayed() {
    let names: Vec<&str> = TARGETS.iter().chain(FRONT_END_TARGETS).map(|(n, _)| *n).collect();
    assert_eq!(names, REPLAYED);
    for name in names {
        let target = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(target.is_file(), "no fuzz target {}", target.display());
    }
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        const REPLAYED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*
    };
}

replay_tests!(
    bundle,
    dsse,
    statement,
    manifest_toml,
    policy_json,
    oci_index,
    oci_manifest,
    oci_config,
    jcs,
    avc_suggest,
    text_fields,
    os_packages,
    image_archive,
    cgroup,
    tlog_note,
    tlog_checkpoint,
    tlog_proof,
    tlog_entry_bundle,
    tlog_tiles,
    runtime_config,
    trust_root,
    revocation_list,
    dsc,
    apkbuild,
    nix_drv,
    rpm_spec,
    srpm,
    debian_archive,
    cosign_signature,
    layer_scan,
    hook_state,
    podman_storage,
    registry_artifact,
);

/// The front-end seeds start the fuzzers from accepted documents, not only
/// refusals: podman's state and storage and the artifact `ct push` writes
/// parse, and podman's image entry names its manifest digest.
#[test]
fn front_end_seeds_include_accepted_documents() {
    let seed = |target: &str, name: &str| std::fs::read(fuzz_dir().join("corpus").join(target).join(name)).unwrap();
    cerro_hook::parse_state(&seed("hook_state", "seed-podman")).unwrap();
    assert_eq!(
        cerro_hook::podman::parse_containers(&seed("podman_storage", "seed-containers-json"))
            .unwrap()
            .len(),
        1
    );
    let images = cerro_hook::podman::parse_images(&seed("podman_storage", "seed-images-json")).unwrap();
    assert_eq!(images[0].manifest_digests().len(), 1);
    let artifact = seed("registry_artifact", "seed-ct-push");
    let v: serde_json::Value = serde_json::from_slice(&artifact).unwrap();
    let image = cerro_core::digest::Digest::parse(v["subject"]["digest"].as_str().unwrap()).unwrap();
    let m = cerro_registry::parse_artifact_manifest("seed", &artifact, &image).unwrap();
    assert_eq!(m.layers.len(), 4);
}

/// The transparency seeds start the fuzzers from accepted documents: the
/// tlog-scales proofs verify (for the release entry of `envelope <i>`), its
/// signed checkpoint carries the log's and the witnesses' valid signatures,
/// and the entry-bundle seed holds its seven entries.
#[test]
fn tlog_seeds_include_accepted_documents() {
    use cerro_core::tlog::note::{SignedNote, VerifierKey};
    use cerro_core::tlog::{release_entry, tiles, TlogProof, TlogTrust, TrustedLog};
    use cerro_fuzz_checks::tlog::{SCALES_LOG_VKEY, SCALES_WITNESS_VKEYS};
    let seed = |target: &str, name: &str| std::fs::read(fuzz_dir().join("corpus").join(target).join(name)).unwrap();
    let vkey = |s: &str| VerifierKey::parse(s).unwrap();
    let trust = TlogTrust::new(
        vec![TrustedLog::new("scales.example/log", vec![vkey(SCALES_LOG_VKEY)]).unwrap()],
        SCALES_WITNESS_VKEYS.iter().map(|k| vkey(k)).collect(),
        3,
    )
    .unwrap();
    for i in 0..7u64 {
        let p = TlogProof::parse(&seed("tlog_proof", &format!("seed-scales-{i}"))).unwrap();
        let v = p
            .verify(&release_entry(format!("envelope {i}").as_bytes()), &trust)
            .unwrap();
        assert_eq!((v.index(), v.tree_size(), v.witnesses().len()), (i, 7, 3));
    }
    let note = SignedNote::parse(&seed("tlog_note", "seed-scales-checkpoint")).unwrap();
    let keys: Vec<VerifierKey> = std::iter::once(SCALES_LOG_VKEY)
        .chain(SCALES_WITNESS_VKEYS)
        .map(vkey)
        .collect();
    assert_eq!(note.verify(&keys).unwrap().len(), 4);
    let bundle = seed("tlog_entry_bundle", "seed-scales-entries");
    assert_eq!(tiles::parse_entry_bundle(&bundle[1..], 7).unwrap().len(), 7);
}

/// The bundle seeds with transparency-log proofs reach proof verification
/// against the checks' trust store: the one with a proof from the trusted
/// log (and one from a log it does not list) verifies, counting one log;
/// the one whose trusted proof was changed is refused with exit 6.
#[test]
fn tlog_bundle_seeds_reach_proof_verification() {
    use cerro_core::bundle::{read_bundle, NoExtract};
    use cerro_core::policy_interface::NoPolicy;
    use cerro_core::verify::{verify, LogProofStatus};
    let seed = |name: &str| std::fs::read(fuzz_dir().join("corpus/bundle").join(name)).unwrap();
    let b = read_bundle(&mut &seed("seed-tlog-proofs")[..], &mut NoExtract).unwrap();
    assert_eq!(b.transparency.len(), 2);
    let v = verify(b, &cerro_fuzz_checks::trust_store(), &NoPolicy, cerro_fuzz_checks::NOW).unwrap();
    let mut st: Vec<_> = v
        .report()
        .transparency
        .iter()
        .map(|t| (t.origin.as_str(), t.status))
        .collect();
    st.sort_by_key(|t| t.0);
    assert_eq!(
        st,
        [
            (cerro_fuzz_checks::TRUSTED_LOG, LogProofStatus::Verified),
            ("other.fuzz.example", LogProofStatus::UntrustedLog)
        ]
    );
    let b = read_bundle(&mut &seed("seed-tlog-proof-tampered")[..], &mut NoExtract).unwrap();
    let r = verify(b, &cerro_fuzz_checks::trust_store(), &NoPolicy, cerro_fuzz_checks::NOW).unwrap_err();
    assert_eq!(r.error.exit_code().code(), 6, "{}", r.error);
}

/// The cosign seeds start the fuzzer from accepted signatures (both
/// layouts, both key types), so it reaches the evidence round trip.
#[test]
fn cosign_seeds_include_accepted_signatures() {
    use cerro_core::cosign_signature::{check, Artifact, Layout};
    for (name, legacy, ed25519) in [
        ("seed-sigstore-bundle-p256", false, false),
        ("seed-sigstore-bundle-ed25519", false, true),
        ("seed-legacy-tag-p256", true, false),
        ("seed-legacy-tag-ed25519", true, true),
    ] {
        let data = std::fs::read(fuzz_dir().join("corpus/cosign_signature").join(name)).unwrap();
        let rest = &data[3..];
        let split = cerro_fuzz_checks::COSIGN_SPLIT;
        let at = rest.windows(split.len()).position(|w| w == split).unwrap();
        let key = if ed25519 {
            cerro_core::key::PublicKey::from(
                ed25519_dalek::SigningKey::from_bytes(&[cerro_fuzz_checks::COSIGN_ED25519_SEED; 32]).verifying_key(),
            )
        } else {
            cerro_core::key::SecretKey::from_pkcs8_pem(cerro_fuzz_checks::COSIGN_P256_PEM, None)
                .unwrap()
                .public()
        };
        let artifact = Artifact {
            layout: if legacy {
                Layout::LegacyTag
            } else {
                Layout::SigstoreBundle
            },
            manifest: rest[..at].to_vec(),
            blob: rest[at + split.len()..].to_vec(),
            layer: 0,
        };
        check(artifact, &key, &cerro_fuzz_checks::cosign_image()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

/// The importer seeds start the fuzzers from accepted inputs as well as
/// refusals: the source RPM imports, the archive text chooses hello's
/// highest version, and two spellings of one version are refused.
#[test]
fn import_seeds_include_accepted_documents() {
    let seed = |target: &str, name: &str| fuzz_dir().join("corpus").join(target).join(name);
    let opts = cerro_import::Options {
        keyring: None,
        upstream: Some("https://example.org/fuzz".into()),
    };
    let got = cerro_import::srpm::import_srpm(&seed("srpm", "seed-greet"), &opts).unwrap();
    assert_eq!(got.draft.package.name, "greet");
    assert!(cerro_import::srpm::import_srpm(&seed("srpm", "seed-truncated"), &opts).is_err());
    // The SBOM pass's layers: the accepted one is described (its packages
    // and hard link), a cut body and a broken header are refused, by both
    // spreads.
    use cerro_attest::layers::Spread;
    let tar = "application/vnd.oci.image.layer.v1.tar";
    let layer = |name: &str| std::fs::read(seed("layer_scan", name)).unwrap();
    for spread in [Spread::WithinLayers, Spread::OneThreadPerLayer] {
        let good = layer("seed-packages-links-long-names-pax");
        let c = cerro_fuzz_checks::scan_layer(&good, tar, Digest::of(&good), spread).unwrap();
        assert_eq!(c.packages.len(), 1, "{spread:?}");
        let paths: Vec<&str> = c.files.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths.contains(&"big-alias") && paths.iter().any(|p| p.starts_with("deep/")),
            "{paths:?}"
        );
        for bad in ["seed-hostile-body-cut", "seed-hostile-bad-checksum"] {
            let b = layer(bad);
            assert!(
                cerro_fuzz_checks::scan_layer(&b, tar, Digest::of(&b), spread).is_err(),
                "{bad} {spread:?}"
            );
        }
    }
    let text = |name: &str| std::fs::read_to_string(seed("debian_archive", name)).unwrap();
    let split = |t: &str| -> (String, Vec<String>) {
        let (r, rest) = t.split_once("\n\n\n").unwrap();
        let stanzas = rest
            .split("\n\n")
            .filter(|s| !s.trim().is_empty())
            .map(|s| format!("{}\n", s.trim_end_matches('\n')))
            .collect();
        (r.to_owned(), stanzas)
    };
    let req = cerro_import::archive::Request {
        package: "hello".into(),
        version: None,
        suite: "bookworm".into(),
        mirror: "http://deb.example".into(),
        keyring: "/nonexistent".into(),
        now: cerro_fuzz_checks::NOW,
        work: std::env::temp_dir(),
    };
    let (r, s) = split(&text("seed-two-versions"));
    assert_eq!(cerro_import::archive::read_signed_text(&r, &s, &req).unwrap(), "2.10-3");
    for refused in ["seed-duplicate-version", "seed-expired", "seed-other-suite"] {
        let (r, s) = split(&text(refused));
        assert!(
            cerro_import::archive::read_signed_text(&r, &s, &req).is_err(),
            "{refused}"
        );
    }
}
