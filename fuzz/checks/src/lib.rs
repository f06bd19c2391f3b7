//! The properties Cerro Torre's fuzz targets check, one function per parser
//! of untrusted bytes.
//!
//! Each `pub fn <target>(data: &[u8])` feeds `data` to one parser and
//! panics only if a property is broken: the parser panicked, a value it
//! accepted does not survive encode → parse unchanged (the rustls fuzzers'
//! round trip), or two readers of the same bytes disagree. A refusal
//! (`Err`) is a correct outcome for hostile input, never a failure.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` are one line each over
//! these functions, so the same checks run in two places: under libFuzzer
//! (nightly, `bench/fuzz`) to search for new inputs, and in the stable test
//! suite (`tests/corpus.rs`), which replays every stored corpus file and
//! regression in seconds. Panicking is the contract here (it is how
//! libFuzzer learns of a failure), hence `expect` and `assert!` below.
//!
//! The hook's OCI state and podman storage readers and the registry's
//! artifact manifest reader are checked in [`front_ends`], whose functions
//! take the parser as an argument (nothing may link a front end or the
//! registry crate); they are not in [`TARGETS`]. The shim's cgroup and
//! mountinfo text readers are compiled in by path (`cgroup`). Core's
//! transparency-log parsers are in [`tlog`]; `ct import`'s recipe readers
//! in [`import`].

mod cgroup;
pub use cgroup::cgroup;
pub mod front_ends;
pub mod import;
pub use import::{apkbuild, debian_archive, dsc, nix_drv, rpm_spec, srpm};
pub mod tlog;
pub use tlog::{tlog_checkpoint, tlog_entry_bundle, tlog_note, tlog_proof, tlog_tiles};
pub mod trust_root;
pub use trust_root::{revocation_list, trust_root};

use std::io::{Seek as _, Write as _};

use cerro_core::bundle::{self, NoExtract};
use cerro_core::digest::Digest;
use cerro_core::dsse::Envelope;
use cerro_core::image::source::SourceImage;
use cerro_core::image::{self, BlobRef, MT_OCI_INDEX, MT_OCI_MANIFEST};
use cerro_core::manifest::PackageManifest;
use cerro_core::policy_interface::NoPolicy;
use cerro_core::statement::ReleaseStatement;
use cerro_core::trust::{home, KeyEntry, TrustLevel, TrustStore};
use cerro_core::{jcs, timestamp, verify};
use cerro_policy::DeploymentPolicy;
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

/// A check: panics if `data` breaks a property of its parser.
pub type Check = fn(&[u8]);

/// Every target, by the name of its corpus directory and fuzz target.
pub const TARGETS: &[(&str, Check)] = &[
    ("bundle", bundle),
    ("dsse", dsse),
    ("statement", statement),
    ("manifest_toml", manifest_toml),
    ("policy_json", policy_json),
    ("oci_index", oci_index),
    ("oci_manifest", oci_manifest),
    ("oci_config", oci_config),
    ("jcs", jcs_round_trip),
    ("avc_suggest", avc_suggest),
    ("text_fields", text_fields),
    ("os_packages", os_packages),
    ("image_archive", image_archive),
    ("cgroup", cgroup),
    ("tlog_note", tlog_note),
    ("tlog_checkpoint", tlog_checkpoint),
    ("tlog_proof", tlog_proof),
    ("tlog_entry_bundle", tlog_entry_bundle),
    ("tlog_tiles", tlog_tiles),
    ("runtime_config", runtime_config),
    ("trust_root", trust_root),
    ("revocation_list", revocation_list),
    ("dsc", dsc),
    ("apkbuild", apkbuild),
    ("nix_drv", nix_drv),
    ("rpm_spec", rpm_spec),
    ("srpm", srpm),
    ("debian_archive", debian_archive),
    ("cosign_signature", cosign_signature),
    ("layer_scan", layer_scan),
];

/// The clock every verification in these checks runs at (the one the
/// attack fixtures and the seed bundles are made for).
pub const NOW: u64 = 1_750_000_000;

/// The seed of the one key the checks trust (`alice`, level full): the
/// seed bundles are signed with it, so the fuzzer starts from bundles
/// that reach every stage of `verify`.
pub const TRUSTED_KEY_SEED: u8 = 1;

/// The origin of the one transparency log the checks trust: the seed
/// bundles carry a proof from it, so the fuzzer reaches proof verification.
pub const TRUSTED_LOG: &str = "log.fuzz.example";

/// The seed of [`TRUSTED_LOG`]'s note key.
pub const TRUSTED_LOG_SEED: u8 = 2;

/// The trust store of [`bundle`]: `alice` ([`TRUSTED_KEY_SEED`]) at full,
/// and the log [`TRUSTED_LOG`].
pub fn trust_store() -> TrustStore {
    use cerro_core::tlog::{Ed25519NoteSigner, NoteSigner as _};
    let alice = SigningKey::from_bytes(&[TRUSTED_KEY_SEED; 32]);
    let mut t = TrustStore::new();
    t.insert(KeyEntry::new("alice", alice.verifying_key(), TrustLevel::Full))
        .expect("one key with a valid id is accepted");
    let log = Ed25519NoteSigner::from_seed(TRUSTED_LOG, &[TRUSTED_LOG_SEED; 32]).expect("a valid key name");
    t.set_log(TRUSTED_LOG, vec![log.verifier_key().clone()])
        .expect("one log with an Ed25519 key is accepted");
    t
}

/// The bundle reader, both ways it reads, then the verifier.
///
/// `read_bundle` (a stream) and `read_bundle_file` (positioned reads and
/// parallel hashing) must reach the same decision on the same bytes: the
/// same bundle, or both a refusal. What either accepts then
/// goes through `verify` against [`trust_store`] at [`NOW`], which must
/// return cleanly, with a report that agrees with its error.
pub fn bundle(data: &[u8]) {
    let streamed = bundle::read_bundle(&mut &data[..], &mut NoExtract);

    let mut file = tempfile::tempfile().expect("creating a temporary file");
    file.write_all(data).expect("writing the temporary file");
    file.rewind().expect("rewinding the temporary file");
    let filed = bundle::read_bundle_file(&file, &mut NoExtract);

    match (&streamed, &filed) {
        (Ok(a), Ok(b)) => assert_eq!(
            format!("{a:?}"),
            format!("{b:?}"),
            "stream and file readers read different bundles"
        ),
        // Both refuse, with one exit code: a member's padding is judged
        // when the reader has passed it, in both
        // (fuzz/regressions/bundle/stream-vs-file-exit-code).
        (Err(a), Err(b)) => assert_eq!(
            a.exit_code(),
            b.exit_code(),
            "stream and file readers refuse with different exit codes: {a} / {b}"
        ),
        (Ok(_), Err(e)) => panic!("the stream reader accepts what the file reader refuses: {e}"),
        (Err(e), Ok(_)) => panic!("the file reader accepts what the stream reader refuses: {e}"),
    }

    if let Ok(b) = streamed {
        match verify::verify(b, &trust_store(), &NoPolicy, NOW) {
            Ok(v) => assert!(v.report().valid && v.report().exit_code == 0),
            Err(r) => {
                assert!(!r.report.valid);
                assert_eq!(r.report.exit_code, r.error.exit_code().code());
                assert_eq!(r.report.error_kind, Some(r.error.check()));
            }
        }
    }
}

/// DSSE envelope: only its canonical form parses, so what parses
/// re-encodes to exactly the input, and parses again to the same envelope.
pub fn dsse(data: &[u8]) {
    let Ok(env) = Envelope::parse("fuzz", data) else {
        return;
    };
    let bytes = env.to_bytes().expect("a parsed envelope re-encodes");
    assert!(bytes == data, "a parsed envelope re-encodes to other bytes");
    let again = Envelope::parse("fuzz", &bytes).expect("a re-encoded envelope parses");
    assert_eq!(again, env);
    let _ = env.pae();
}

/// Release statement payload: what parses survives plain and canonical
/// re-encoding unchanged. (Canonical encoding may refuse integers of
/// 2^53 or more, which the verifier never reaches: it requires a canonical
/// payload before parsing it.)
pub fn statement(data: &[u8]) {
    let Ok(st) = ReleaseStatement::parse_release("fuzz", data) else {
        return;
    };
    let plain = serde_json::to_vec(&st).expect("a parsed statement serialises");
    let again = ReleaseStatement::parse_release("fuzz", &plain).expect("a re-encoded statement parses");
    assert_eq!(again, st);
    if let Ok(canonical) = jcs::to_canonical(&st) {
        let again = ReleaseStatement::parse_release("fuzz", &canonical).expect("a canonical statement parses");
        assert_eq!(again, st);
        assert!(
            jcs::to_canonical(&again).ok().as_deref() == Some(&canonical[..]),
            "canonical form not stable"
        );
    }
}

/// `manifest.toml`: what parses (and so validates) has a canonical TOML
/// form that parses back to the same manifest and is a fixed point.
pub fn manifest_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = PackageManifest::parse(text) else {
        return;
    };
    let canonical = m.to_canonical_toml().expect("a valid manifest has a canonical form");
    let again = PackageManifest::parse(&canonical).expect("the canonical form parses");
    assert_eq!(again, m);
    assert_eq!(
        again
            .to_canonical_toml()
            .expect("a valid manifest has a canonical form"),
        canonical
    );
}

/// Deployment policy: the normalised, pretty-printed policy reads back to
/// an equal policy (what `DeploymentPolicy::to_json_pretty` promises).
pub fn policy_json(data: &[u8]) {
    let Ok(p) = DeploymentPolicy::from_json("fuzz", data) else {
        return;
    };
    let pretty = p.to_json_pretty();
    let again = DeploymentPolicy::from_json("fuzz", pretty.as_bytes()).expect("a printed policy parses");
    assert_eq!(again, p);
    assert_eq!(again.to_json_pretty(), pretty);
}

/// OCI `index.json`: each manifest entry written back as a bundle's index
/// parses to the same descriptor and reference.
pub fn oci_index(data: &[u8]) {
    let Ok(entries) = image::parse_index("fuzz", data) else {
        return;
    };
    for e in entries.iter().take(16) {
        let Ok(bytes) = image::bundle_index(&e.manifest, e.ref_name.as_deref()) else {
            continue;
        };
        let back = image::parse_index("fuzz", &bytes).expect("a written index parses");
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].manifest, e.manifest);
        assert_eq!(back[0].ref_name, e.ref_name);
    }
}

fn descriptor(b: &BlobRef) -> Value {
    json!({"mediaType": b.media_type, "digest": b.digest.to_string(), "size": b.size})
}

/// OCI image manifest, under each media type a descriptor may claim: an
/// index type is always refused; what parses as an image manifest, written
/// back as an OCI manifest, parses to the same config and layers.
pub fn oci_manifest(data: &[u8]) {
    assert!(
        image::parse_manifest("fuzz", data, MT_OCI_INDEX).is_err(),
        "an index media type was accepted as an image manifest"
    );
    for mt in image::MANIFEST_TYPES {
        let Ok(parts) = image::parse_manifest("fuzz", data, mt) else {
            continue;
        };
        let doc = json!({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": descriptor(&parts.config),
            "layers": parts.layers.iter().map(descriptor).collect::<Vec<_>>(),
        });
        let Ok(bytes) = jcs::to_vec(&doc) else {
            continue;
        };
        let back = image::parse_manifest("fuzz", &bytes, MT_OCI_MANIFEST).expect("a written manifest parses");
        assert_eq!(back, parts);
    }
}

/// The strict image-config reader: what it accepts, a last-key-wins reader
/// (serde_json's `Value`, as Go's decoder) reads with the same diff_ids and
/// platform (one meaning for the bytes), and what it returns survives
/// write → parse unchanged.
pub fn oci_config(data: &[u8]) {
    let Ok(c) = image::parse_config("fuzz", data) else {
        return;
    };
    let v: Value = serde_json::from_slice(data).expect("an accepted config is JSON");
    let ids: Vec<String> = c.diff_ids.iter().map(ToString::to_string).collect();
    assert_eq!(v["rootfs"]["diff_ids"], json!(ids), "another reader sees other layers");
    assert_eq!(v["os"], json!(c.os));
    assert_eq!(v["architecture"], json!(c.architecture));
    let mut doc = json!({
        "os": c.os,
        "architecture": c.architecture,
        "rootfs": {"type": "layers", "diff_ids": ids},
    });
    if let Some(variant) = &c.variant {
        doc["variant"] = json!(variant);
    }
    let Ok(bytes) = jcs::to_vec(&doc) else {
        return;
    };
    let back = image::parse_config("fuzz", &bytes).expect("a written config parses");
    assert_eq!(back, c);
}

/// RFC 8785: the canonical form of any JSON value parses back to the same
/// value and is a fixed point.
pub fn jcs_round_trip(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(canonical) = jcs::to_vec(&value) else {
        return;
    };
    let back: Value = serde_json::from_slice(&canonical).expect("canonical JSON parses");
    assert_eq!(back, value);
    assert!(
        jcs::to_vec(&back).ok().as_deref() == Some(&canonical[..]),
        "canonical form not stable"
    );
}

/// `ct selinux suggest` over an audit log: no panic; merging the
/// suggestion into itself adds nothing; the result prints as TOML.
pub fn avc_suggest(data: &[u8]) {
    let log = String::from_utf8_lossy(data);
    let s = cerro_selinux::suggest::suggest(&log, None);
    let again = cerro_selinux::suggest::suggest(&log, Some(&s.capabilities));
    assert_eq!(
        again.capabilities, s.capabilities,
        "merging a suggestion into itself changed it"
    );
    assert_eq!(again.denials, s.denials);
    s.capabilities.to_toml().expect("a suggestion prints as TOML");
}

/// The small text formats read from files and flags: a public key PEM,
/// a digest, an RFC 3339 time. Each parsed value prints and parses back
/// to itself.
pub fn text_fields(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = home::parse_public_pem(text, "fuzz") {
        let pem = home::public_pem(&key);
        assert_eq!(home::parse_public_pem(&pem, "fuzz").expect("a printed key parses"), key);
    }
    if let Ok(d) = Digest::parse(text) {
        // One spelling per digest: digests name files in bundles.
        assert_eq!(d.to_string(), text, "a digest parsed from another spelling");
    }
    if let Some(t) = timestamp::parse_rfc3339(text) {
        assert_eq!(timestamp::parse_rfc3339(&timestamp::format_rfc3339(t)), Some(t));
    }
}

/// The package databases `ct pack` reads from image layers (an image from
/// anywhere) for the SBOM: dpkg `status`, apk `installed`, an rpm header
/// blob, `os-release`. No panic, and every package URL they lead to is
/// percent-encoded ASCII without spaces, so it cannot break the SBOM.
pub fn os_packages(data: &[u8]) {
    use cerro_attest::packages;
    let text = String::from_utf8_lossy(data);
    let (id, _) = packages::os_release(&text);
    let distro = id.unwrap_or_default();
    let mut all = packages::parse_dpkg_status(&text);
    all.extend(packages::parse_apk_installed(&text));
    all.extend(packages::parse_rpm_header(data));
    for p in all.iter().take(64) {
        let purl = p.purl(&distro);
        assert!(purl.starts_with("pkg:"), "{purl}");
        assert!(
            purl.bytes().all(|b| b.is_ascii_graphic()),
            "package URL with a space or a non-ASCII byte: {purl:?}"
        );
    }
}

/// An image layer as `ct pack`'s SBOM pass reads it
/// (`cerro_attest::layers`): `data` as the one uncompressed layer of an
/// image, its digest its own. The pass spread over the cores by file (the
/// tar crate seeking over bodies that workers hash from shared chunks) and
/// the pass on one thread (every body read through the tar reader) must
/// agree: both refuse, or both describe the same files with the same
/// digests, the same packages and diff_ids. With a gzip layer of the same
/// tar, the compressed stages agree too.
pub fn layer_scan(data: &[u8]) {
    use cerro_attest::layers::Spread;
    use std::io::Write as _;
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).expect("compressing in memory");
        e.finish().expect("compressing in memory")
    };
    for (bytes, media_type) in [
        (data.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
        (gz, "application/vnd.oci.image.layer.v1.tar+gzip"),
    ] {
        let split = scan_layer(&bytes, media_type, Digest::of(data), Spread::WithinLayers);
        let one = scan_layer(&bytes, media_type, Digest::of(data), Spread::OneThreadPerLayer);
        match (split, one) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.files, b.files, "{media_type}: the spreads describe different files");
                assert_eq!(a.packages, b.packages, "{media_type}");
                assert_eq!(a.diff_ids, b.diff_ids, "{media_type}");
                assert_eq!(
                    a.diff_ids,
                    cerro_core::pack::LayerDiffIds::measured(vec![Digest::of(data)]),
                    "{media_type}"
                );
            }
            (Err(_), Err(_)) => {}
            (a, b) => panic!(
                "{media_type}: one spread accepted what the other refused: {:?} / {:?}",
                a.err(),
                b.err()
            ),
        }
    }
}

/// The SBOM pass over an image whose one layer is `bytes` (of
/// `media_type`, uncompressed digest `diff_id`), spread as `spread` says.
pub fn scan_layer(
    bytes: &[u8],
    media_type: &str,
    diff_id: Digest,
    spread: cerro_attest::layers::Spread,
) -> cerro_core::Result<cerro_attest::layers::ImageContents> {
    use cerro_core::image::layout::{basic_config, LayoutBuilder};
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut b = LayoutBuilder::new(dir.path()).expect("a layout in the temporary directory");
    b.layer_raw(bytes, media_type, diff_id).expect("writing the layer");
    b.finish(basic_config(&["/x"]), None).expect("writing the image");
    let image = SourceImage::open(&format!("oci:{}", dir.path().display())).expect("opening the image just written");
    cerro_attest::layers::scan_spread(
        &image,
        cerro_attest::layers::FileDigests::Sha256AndSha1,
        spread,
        &|_| {},
    )
}

/// The image archives `ct pack` reads (`oci-archive:FILE`,
/// `docker-archive:FILE`): their tar index, `index.json`/`manifest.json`,
/// image manifest and config. An opened image's manifest bytes hash to its
/// descriptor, and every blob opens as exactly its descriptor's size.
pub fn image_archive(data: &[u8]) {
    let mut file = tempfile::NamedTempFile::new().expect("creating a temporary file");
    file.write_all(data).expect("writing the temporary file");
    let path = file.path().to_str().expect("temporary paths are UTF-8");
    assert!(!path.contains(':'), "{path}");
    for transport in ["oci-archive", "docker-archive"] {
        let Ok(img) = SourceImage::open(&format!("{transport}:{path}")) else {
            continue;
        };
        assert_eq!(Digest::of(&img.manifest_bytes), img.manifest.digest, "{transport}");
        assert_eq!(img.manifest_bytes.len() as u64, img.manifest.size, "{transport}");
        for blob in img.parts.blobs() {
            if let Ok(mut r) = img.open_blob(blob) {
                let n = std::io::copy(&mut r, &mut std::io::sink()).expect("reading a blob of the temporary file");
                assert!(
                    n <= blob.size,
                    "{transport}: blob {} longer than its descriptor",
                    blob.digest
                );
            }
        }
    }
}

/// `cerro_enforce::RuntimeConfig::parse`, the one reader of a container's
/// runtime `config.json` (the shim's and the hook's): a clean refusal
/// (exit 10) or a value; an accepted config means for its annotations,
/// `root.path` and labels what a plain JSON reading of the same bytes
/// means (one meaning for the bytes the decision reads).
pub fn runtime_config(data: &[u8]) {
    let path = std::path::Path::new("fuzz/config.json");
    let c = match cerro_enforce::RuntimeConfig::parse(path, data.to_vec()) {
        Ok(c) => c,
        Err(e) => {
            assert_eq!(e.exit_code(), cerro_core::ExitCode::Malformed, "refused as {e}");
            return;
        }
    };
    assert_eq!(c.bytes(), data);
    let v: Value = serde_json::from_slice(data).expect("an accepted config is JSON");
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    assert_eq!(c.root_path, v["root"]["path"].as_str().map(str::to_owned));
    assert_eq!(c.labels.process, text(&v["process"]["selinuxLabel"]));
    assert_eq!(c.labels.mount, text(&v["linux"]["mountLabel"]));
    let annotations: std::collections::BTreeMap<String, String> = v["annotations"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(c.annotations, annotations);
}

/// The P-256 key of the [`cosign_signature`] check (PKCS#8, made once
/// with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`):
/// the seeds are signed with it, so the fuzzer starts from accepted
/// signatures.
pub const COSIGN_P256_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgigBkkHSMlPTUQAnM
CaCnDe8ZKZn81rJDQ73aWJlE80qhRANCAATUhbEAYPWxdwZz3OvhG/Yqu+yUUoeE
+UIlXbZ0Nwo211DEO0UHqEB2eysxvZcSJHwdhEjpDhmXj10Ta5f4Y3vu
-----END PRIVATE KEY-----
";

/// The seed of the Ed25519 key of the [`cosign_signature`] check.
pub const COSIGN_ED25519_SEED: u8 = 4;

/// The image every [`cosign_signature`] input is checked for.
pub fn cosign_image() -> Digest {
    Digest::of(b"cosign fuzz image")
}

/// Separates the manifest from the layer in a [`cosign_signature`] input.
pub const COSIGN_SPLIT: &[u8] = b"\n\n--\n\n";

/// A [`cosign_signature`] input: layout (0 Sigstore bundle, 1 legacy),
/// layer index, key (0 P-256, 1 Ed25519), then the manifest and the layer.
pub fn cosign_input(legacy: bool, layer: u8, ed25519: bool, manifest: &[u8], blob: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::from(legacy), layer, u8::from(ed25519)];
    out.extend_from_slice(manifest);
    out.extend_from_slice(COSIGN_SPLIT);
    out.extend_from_slice(blob);
    out
}

/// A cosign image signature artifact (`ct pack --cosign-key`, read from a
/// registry): never a panic; what is accepted becomes evidence that
/// [`cerro_core::cosign_signature::recheck`] accepts again for the same
/// image (same artifact, same scheme) and refuses for another.
pub fn cosign_signature(data: &[u8]) {
    use cerro_core::cosign_signature::{check, evidence_statement, recheck, Artifact, Layout, EVIDENCE_PATH};
    let [layout, layer, key, rest @ ..] = data else {
        return;
    };
    let (manifest, blob) = match rest.windows(COSIGN_SPLIT.len()).position(|w| w == COSIGN_SPLIT) {
        Some(at) => (&rest[..at], &rest[at + COSIGN_SPLIT.len()..]),
        None => (rest, &[][..]),
    };
    let key = if key % 2 == 0 {
        cerro_core::key::SecretKey::from_pkcs8_pem(COSIGN_P256_PEM, None)
            .expect("the check's P-256 key parses")
            .public()
    } else {
        cerro_core::key::PublicKey::from(SigningKey::from_bytes(&[COSIGN_ED25519_SEED; 32]).verifying_key())
    };
    let artifact = Artifact {
        layout: if layout % 2 == 0 {
            Layout::SigstoreBundle
        } else {
            Layout::LegacyTag
        },
        manifest: manifest.to_vec(),
        blob: blob.to_vec(),
        layer: usize::from(*layer),
    };
    let Ok(checked) = check(artifact, &key, &cosign_image()) else {
        return;
    };
    let st = evidence_statement(&checked, "app", "registry.example/app:1").expect("accepted evidence serialises");
    let info = recheck(EVIDENCE_PATH, &st, &cosign_image()).expect("recorded evidence checks again");
    assert_eq!(info.manifest, checked.manifest_digest());
    assert_eq!(info.scheme, checked.scheme());
    assert!(
        recheck(EVIDENCE_PATH, &st, &Digest::of(b"another image")).is_err(),
        "evidence accepted for another image"
    );
}
