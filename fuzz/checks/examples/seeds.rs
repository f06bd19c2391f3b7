//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`
//! from what the tests store and the spec documents:
//!
//! - `bundle`: every attack fixture of `core/tests/data/` (regenerate those
//!   first: `CERRO_WRITE_FIXTURES=1 cargo test -p cerro-core --test attacks`),
//!   and the valid one with transparency-log proofs (from the log the checks
//!   trust and from another; one that does not reach its root);
//! - `dsse`, `statement`, `manifest_toml`, `oci_index`, `oci_manifest`,
//!   `jcs`: the members of those bundles;
//! - `policy_json`: the JSON examples of `spec/policy.md`;
//! - `avc_suggest`: the audit records of `selinux-gen`'s tests;
//! - `text_fields`: a key PEM, a digest, RFC 3339 times;
//! - `hook_state`, `podman_storage`, `registry_artifact`: the documents
//!   podman and `ct push` write, and hostile variants of them;
//! - `tlog_note`, `tlog_checkpoint`, `tlog_proof`, `tlog_entry_bundle`: the
//!   tlog-scales log of `core/tests/tlog-data/scales-log.json` (its signed
//!   checkpoint, keys, proofs of every entry, its entries as a bundle), the
//!   signed-note spec's and Go's examples of core's tests, keys made here,
//!   and refused variants;
//! - `cosign_signature`: cosign's two image-signature layouts, signed with
//!   the check's keys, and a Sigstore bundle with a protobuf field name.
//! - `bundle` again: the valid fixture with `rebuilds/` attestations (one
//!   by the key the checks trust, one by an unknown key, one tampered), so
//!   the fuzzer reaches their verification; `dsse` and `statement`: their
//!   envelope and statement.
//!
//! - `layer_scan`: image layers for the SBOM pass, accepted and hostile.
//!
//! Run: `cargo run -p cerro-fuzz-checks --example seeds`. Seeds are named by
//! where they come from; `cargo fuzz cmin` may rename them to their SHA-1.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use cerro_core::bundle::{BLOB_PREFIX, INDEX_PATH, MANIFEST_PATH};
use cerro_core::digest::Digest;
use cerro_core::dsse::Envelope;
use cerro_core::trust::home::public_pem;
use ed25519_dalek::SigningKey;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

struct Seeds(BTreeMap<(String, String), Vec<u8>>);

impl Seeds {
    /// Adds a seed unless the target already has the same bytes.
    fn add(&mut self, target: &str, name: &str, data: impl Into<Vec<u8>>) {
        let data = data.into();
        if !self.0.iter().any(|((t, _), d)| t == target && *d == data) {
            self.0.insert((target.into(), name.into()), data);
        }
    }
}

/// The members of a tar, by path (whatever of it the tar crate can read).
fn members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut ar = tar::Archive::new(bytes);
    let Ok(entries) = ar.entries() else { return out };
    for e in entries {
        let Ok(mut e) = e else { break };
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut data = Vec::new();
        if e.read_to_end(&mut data).is_err() {
            break;
        }
        out.push((path, data));
    }
    out
}

fn fixtures(seeds: &mut Seeds) {
    let data = root().join("core/tests/data");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("bundle.ctp").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let bundle = std::fs::read(dir.join("bundle.ctp")).unwrap();
        seeds.add("bundle", &name, bundle.clone());
        if bundle.len() > 64 << 10 {
            continue;
        }
        if name == "valid-bundle" {
            archives(seeds, &members(&bundle));
        }
        for (path, bytes) in members(&bundle) {
            let base = path.rsplit('/').next().unwrap_or_default();
            let tag = format!("{name}-{}", &base[..base.len().min(16)]);
            if path == MANIFEST_PATH {
                seeds.add("manifest_toml", &tag, bytes);
            } else if path.ends_with(".dsse.json") {
                seeds.add("dsse", &tag, bytes.clone());
                seeds.add("jcs", &format!("{tag}-envelope"), bytes.clone());
                if let Ok(env) = Envelope::parse(&path, &bytes) {
                    seeds.add("statement", &tag, env.payload.clone());
                    seeds.add("jcs", &format!("{tag}-payload"), env.payload);
                }
            } else if path == INDEX_PATH {
                seeds.add("oci_index", &tag, bytes.clone());
                seeds.add("jcs", &tag, bytes);
            } else if path.starts_with(BLOB_PREFIX) && bytes.first() == Some(&b'{') {
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                if v.get("layers").is_some() {
                    seeds.add("oci_manifest", &tag, bytes.clone());
                }
                seeds.add("jcs", &tag, bytes);
            }
        }
    }
}

/// The valid fixture bundle with `transparency/` proof members: one from
/// the log `cerro_fuzz_checks::trust_store` trusts (leaf 3 of 6), one from
/// a log it does not; and the same with the trusted proof's path changed.
fn tlog_bundles(seeds: &mut Seeds) {
    use cerro_core::bundle::{member_header, tlog_proof_path, RELEASE_ATTESTATION};
    use cerro_core::tlog::{merkle, release_entry, Checkpoint, Ed25519NoteSigner, SignedCheckpoint, TlogProof};
    use cerro_fuzz_checks::{TRUSTED_LOG, TRUSTED_LOG_SEED};
    let bytes = std::fs::read(root().join("core/tests/data/valid-bundle/bundle.ctp")).unwrap();
    let env = members(&bytes)
        .into_iter()
        .find(|(p, _)| p == RELEASE_ATTESTATION)
        .unwrap()
        .1;
    let entry = release_entry(&env);
    let prove = |origin: &str, seed: u8, tamper: bool| {
        let signer = Ed25519NoteSigner::from_seed(origin, &[seed; 32]).unwrap();
        let mut leaves: Vec<merkle::Hash> = (0..6u8).map(|i| merkle::leaf_hash(&[i])).collect();
        leaves[3] = merkle::leaf_hash(&entry);
        let cp = Checkpoint::new(origin, 6, merkle::root(&leaves)).unwrap();
        let mut path = merkle::inclusion_proof(&leaves, 3).unwrap();
        if tamper {
            path[0][0] ^= 1;
        }
        let proof = TlogProof::new(3, path, SignedCheckpoint::sign(cp, &signer).unwrap()).unwrap();
        (tlog_proof_path(origin), proof.to_bytes())
    };
    let mtime = tar::Header::from_byte_slice(&bytes[..512]).mtime().unwrap();
    let with = |proofs: &[(String, Vec<u8>)]| {
        let mut proofs = proofs.to_vec();
        proofs.sort();
        let mut out = Vec::new();
        let mut at = 0;
        while bytes[at..at + 512].iter().any(|b| *b != 0) {
            let h = tar::Header::from_byte_slice(&bytes[at..at + 512]);
            let len = 512 + (h.entry_size().unwrap() as usize).div_ceil(512) * 512;
            if bytes[at..].starts_with(b"oci-layout/oci-layout\0") {
                for (path, data) in &proofs {
                    out.extend_from_slice(member_header(path, data.len() as u64, mtime).unwrap().as_bytes());
                    out.extend_from_slice(data);
                    out.resize(out.len().div_ceil(512) * 512, 0);
                }
            }
            out.extend_from_slice(&bytes[at..at + len]);
            at += len;
        }
        out.extend_from_slice(&bytes[at..]);
        out
    };
    let trusted = prove(TRUSTED_LOG, TRUSTED_LOG_SEED, false);
    let other = prove("other.fuzz.example", 3, false);
    seeds.add("bundle", "tlog-proofs", with(&[trusted.clone(), other.clone()]));
    seeds.add(
        "bundle",
        "tlog-proof-tampered",
        with(&[prove(TRUSTED_LOG, TRUSTED_LOG_SEED, true), other]),
    );
    seeds.add("tlog_proof", "bundle-member", trusted.1);
}

/// The valid fixture bundle with rebuild attestations (spec/bundle-format.md
/// §3.5): by the key `cerro_fuzz_checks::trust_store` trusts (it verifies),
/// by an unknown key (not checked), and the trusted one's with its
/// statement changed under its signature (it fails).
fn rebuild_bundles(seeds: &mut Seeds) {
    use cerro_core::bundle::member_header;
    use cerro_core::rebuild::{sign_rebuild, DEFAULT_VERIFIER_ID};
    use cerro_fuzz_checks::{trust_store, NOW, TRUSTED_KEY_SEED};
    let bytes = std::fs::read(root().join("core/tests/data/valid-bundle/bundle.ctp")).unwrap();
    let read = cerro_core::bundle::read_bundle(&mut &bytes[..], &mut cerro_core::bundle::NoExtract).unwrap();
    let v = cerro_core::verify::verify(read, &trust_store(), &cerro_core::policy_interface::NoPolicy, NOW).unwrap();
    let trusted = sign_rebuild(
        &v,
        &SigningKey::from_bytes(&[TRUSTED_KEY_SEED; 32]),
        DEFAULT_VERIFIER_ID,
        NOW,
    )
    .unwrap();
    let unknown = sign_rebuild(&v, &SigningKey::from_bytes(&[9; 32]), DEFAULT_VERIFIER_ID, NOW).unwrap();
    let mut tampered = trusted.clone();
    tampered.envelope.payload = String::from_utf8(tampered.envelope.payload.clone())
        .unwrap()
        .replace("PASSED", "FAILED")
        .into_bytes();
    let mtime = tar::Header::from_byte_slice(&bytes[..512]).mtime().unwrap();
    let with = |rebuilds: &[&cerro_core::rebuild::Rebuild]| {
        let mut members: Vec<(String, Vec<u8>)> = rebuilds
            .iter()
            .map(|r| (r.path.clone(), r.to_bytes().unwrap()))
            .collect();
        members.sort();
        let mut out = Vec::new();
        let mut at = 0;
        while bytes[at..at + 512].iter().any(|b| *b != 0) {
            let h = tar::Header::from_byte_slice(&bytes[at..at + 512]);
            let len = 512 + (h.entry_size().unwrap() as usize).div_ceil(512) * 512;
            if bytes[at..].starts_with(b"oci-layout/oci-layout\0") {
                for (path, data) in &members {
                    out.extend_from_slice(member_header(path, data.len() as u64, mtime).unwrap().as_bytes());
                    out.extend_from_slice(data);
                    out.resize(out.len().div_ceil(512) * 512, 0);
                }
            }
            out.extend_from_slice(&bytes[at..at + len]);
            at += len;
        }
        out.extend_from_slice(&bytes[at..]);
        out
    };
    seeds.add("bundle", "rebuilds", with(&[&trusted, &unknown]));
    seeds.add("bundle", "rebuild-tampered", with(&[&tampered]));
    seeds.add("dsse", "rebuild", trusted.to_bytes().unwrap());
    seeds.add("statement", "rebuild", trusted.envelope.payload.clone());
}

fn policies(seeds: &mut Seeds) {
    let spec = std::fs::read_to_string(root().join("spec/policy.md")).unwrap();
    let hex = Digest::of(b"seed").hex();
    for (i, block) in spec.split("```json\n").skip(1).enumerate() {
        let Some((json, _)) = block.split_once("```") else {
            continue;
        };
        seeds.add("policy_json", &format!("spec-{i:02}-as-written"), json);
        // The placeholders filled in, so the example is a valid policy.
        let mut filled = String::new();
        let mut rest = json;
        while let Some(start) = rest.find('<') {
            filled.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('>') else { break };
            filled.push_str(&hex);
            rest = &rest[start + end + 1..];
        }
        filled.push_str(rest);
        seeds.add("policy_json", &format!("spec-{i:02}"), filled);
    }
    seeds.add("policy_json", "minimal", r#"{"version":"1"}"#);
}

const AVC: &[&str] = &[
    r#"type=AVC msg=audit(1700000000.1:10): avc:  denied  { name_bind } for  pid=7 comm="httpd" src=8080 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:http_cache_port_t:s0 tclass=tcp_socket permissive=0"#,
    r#"type=AVC msg=audit(1700000000.2:11): avc:  denied  { name_connect } for  pid=7 comm="httpd" dest=5432 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:postgresql_port_t:s0 tclass=tcp_socket permissive=0"#,
    r#"type=AVC msg=audit(1700000000.3:12): avc:  denied  { write } for  pid=7 comm="httpd" path="/var/lib/web/cache" dev="vda" ino=1 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:var_lib_t:s0 tclass=file permissive=0"#,
    r#"type=AVC msg=audit(1700000000.4:13): avc:  denied  { execute } for  pid=7 comm="sh" path=2F7573722F62696E2F6D7920746F6F6C dev="vda" ino=2 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:bin_t:s0 tclass=file permissive=0"#,
    r#"type=AVC msg=audit(1700000000.5:14): avc:  denied  { net_admin sys_ptrace } for  pid=7 comm="httpd" capability=12 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:system_r:ct_web_t:s0 tclass=capability permissive=0"#,
    r#"type=AVC msg=audit(1700000000.6:15): avc:  denied  { read write } for  pid=7 comm="httpd" path="/dev/fuse" dev="devtmpfs" ino=3 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:fuse_device_t:s0 tclass=chr_file permissive=0"#,
    r#"type=AVC msg=audit(1700000000.7:16): avc:  denied  { execmem } for  pid=7 comm="java" scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:system_r:ct_web_t:s0 tclass=process permissive=0"#,
];

/// A tar of `files`, as `tar::Builder` writes it.
fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, &bytes[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// An oci-archive and a docker-archive of the image of a bundle.
fn archives(seeds: &mut Seeds, bundle: &[(String, Vec<u8>)]) {
    let layout: Vec<(String, Vec<u8>)> = bundle
        .iter()
        .filter_map(|(p, b)| p.strip_prefix("oci-layout/").map(|p| (p.to_owned(), b.clone())))
        .collect();
    seeds.add("image_archive", "oci-archive", tar_of(&layout));
    let json = |p: &(String, Vec<u8>)| serde_json::from_slice::<serde_json::Value>(&p.1).ok();
    let config = layout
        .iter()
        .find(|p| json(p).is_some_and(|v| v.get("rootfs").is_some()));
    let layer = layout.iter().find(|p| p.0.starts_with("blobs/") && json(p).is_none());
    if let (Some(config), Some(layer)) = (config, layer) {
        let manifest =
            serde_json::json!([{"Config": "config.json", "RepoTags": ["hello:2.10"], "Layers": ["layer.tar"]}]);
        let files = vec![
            ("manifest.json".to_owned(), serde_json::to_vec(&manifest).unwrap()),
            ("config.json".to_owned(), config.1.clone()),
            ("layer.tar".to_owned(), layer.1.clone()),
        ];
        seeds.add("image_archive", "docker-archive", tar_of(&files));
    }
}

/// Layers for the SBOM pass: accepted ones (package databases, a hard
/// link, a GNU long name, a PAX header, a body across chunk boundaries,
/// whiteouts) and hostile ones (a body cut short, a PAX size that
/// overrides the header's, a hard link to nothing, a header checksum
/// broken, garbage after the end of the archive).
fn layer_scans(seeds: &mut Seeds) {
    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h
    }
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut b = tar::Builder::new(Vec::new());
    let status = b"Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: amd64\n";
    b.append_data(
        &mut header(tar::EntryType::Regular, status.len() as u64),
        "var/lib/dpkg/status",
        &status[..],
    )
    .unwrap();
    let release = b"ID=debian\nVERSION_ID=\"12\"\n";
    b.append_data(
        &mut header(tar::EntryType::Regular, release.len() as u64),
        "etc/os-release",
        &release[..],
    )
    .unwrap();
    b.append_data(
        &mut header(tar::EntryType::Regular, big.len() as u64),
        "big.bin",
        &big[..],
    )
    .unwrap();
    let long = format!("deep/{}/file", "d".repeat(120));
    b.append_data(&mut header(tar::EntryType::Regular, 5), &long, &b"hello"[..])
        .unwrap();
    b.append_data(&mut header(tar::EntryType::Regular, 0), "empty", &b""[..])
        .unwrap();
    let mut link = header(tar::EntryType::Link, 0);
    link.set_link_name("big.bin").unwrap();
    b.append_data(&mut link, "big-alias", &b""[..]).unwrap();
    b.append_pax_extensions([("mtime", &b"1.5"[..])]).unwrap();
    b.append_data(&mut header(tar::EntryType::Regular, 4), "pax/after", &b"pax!"[..])
        .unwrap();
    b.append_data(&mut header(tar::EntryType::Regular, 0), "gone/.wh.old", &b""[..])
        .unwrap();
    b.append_data(&mut header(tar::EntryType::Regular, 0), "cache/.wh..wh..opq", &b""[..])
        .unwrap();
    let good = b.into_inner().unwrap();
    seeds.add("layer_scan", "packages-links-long-names-pax", good.clone());

    // A body cut short, mid-way through the big file.
    seeds.add("layer_scan", "hostile-body-cut", good[..2048 + 150_000].to_vec());
    // A PAX size larger than the header's (the tar reader takes the PAX
    // one: both spreads must read the same body).
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions([("size", &b"1000"[..])]).unwrap();
    b.append_data(&mut header(tar::EntryType::Regular, 4), "f", &b"four"[..])
        .unwrap();
    b.append_data(&mut header(tar::EntryType::Regular, 3), "g", &b"abc"[..])
        .unwrap();
    seeds.add("layer_scan", "hostile-pax-size", b.into_inner().unwrap());
    // A hard link to nothing, and a header whose checksum is broken.
    let mut b = tar::Builder::new(Vec::new());
    let mut link = header(tar::EntryType::Link, 0);
    link.set_link_name("nowhere").unwrap();
    b.append_data(&mut link, "dangling", &b""[..]).unwrap();
    b.append_data(&mut header(tar::EntryType::Regular, 3), "h", &b"xyz"[..])
        .unwrap();
    let mut bad = b.into_inner().unwrap();
    seeds.add("layer_scan", "hostile-dangling-link", bad.clone());
    bad[512 + 148] ^= 0x01;
    seeds.add("layer_scan", "hostile-bad-checksum", bad);
    // Garbage after the end-of-archive blocks (hashed, never parsed).
    let mut tail = good;
    tail.extend_from_slice(b"trailing bytes after the archive");
    seeds.add("layer_scan", "trailing-garbage", tail);
}

/// Package databases as `attest`'s tests write them, and an rpm header.
fn os_packages(seeds: &mut Seeds) {
    seeds.add(
        "os_packages",
        "dpkg-status",
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\nDescription: shell\n multi-line\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: libc6\nStatus: install ok installed\nSource: glibc (2.36-9)\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n",
    );
    seeds.add(
        "os_packages",
        "apk-installed",
        "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nC:Q1def=\nP:busybox-binsh\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\no:busybox\n",
    );
    seeds.add(
        "os_packages",
        "os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
    );
    // An rpm header blob: index entries (tag, type, offset, count), then data.
    let strings: &[(u32, &str)] = &[
        (1000, "bash"),
        (1001, "5.2.26"),
        (1002, "3.fc40"),
        (1022, "x86_64"),
        (1044, "bash-5.2.26-3.fc40.src.rpm"),
    ];
    let mut index = Vec::new();
    let mut data = Vec::new();
    for (tag, s) in strings {
        for v in [*tag, 6, data.len() as u32, 1] {
            index.extend_from_slice(&v.to_be_bytes());
        }
        data.extend_from_slice(s.as_bytes());
        data.push(0);
    }
    let mut blob = Vec::new();
    blob.extend_from_slice(&(strings.len() as u32).to_be_bytes());
    blob.extend_from_slice(&(data.len() as u32).to_be_bytes());
    blob.extend_from_slice(&index);
    blob.extend_from_slice(&data);
    seeds.add("os_packages", "rpm-header", blob);
}

/// The hook's and the registry's inputs: what podman and `ct push` write,
/// and hostile variants (duplicate and case-variant keys, wrong types,
/// index keys in a manifest, sizes past the limits).
fn front_ends(seeds: &mut Seeds) {
    use serde_json::json;
    let id = "3f1c".repeat(16);
    let bundle = format!("/var/lib/containers/storage/overlay-containers/{id}/userdata");
    let state = |annotations: serde_json::Value| {
        serde_json::to_vec(&json!({
            "ociVersion": "1.0.2", "id": id, "status": "creating", "pid": 4242,
            "bundle": bundle, "annotations": annotations,
        }))
        .unwrap()
    };
    seeds.add(
        "hook_state",
        "podman",
        state(json!({"io.container.manager": "libpod", "org.opencontainers.image.stopSignal": "15"})),
    );
    seeds.add(
        "hook_state",
        "bundle-annotation",
        state(json!({"io.cerro.bundle": "/var/lib/cerro/store/sha256/ab.ctp"})),
    );
    seeds.add(
        "hook_state",
        "no-annotations",
        format!(r#"{{"ociVersion":"1.0.2","id":"c1","status":"creating","bundle":"{bundle}"}}"#),
    );
    seeds.add(
        "hook_state",
        "duplicate-id",
        format!(r#"{{"id":"c1","id":"c2","bundle":"{bundle}"}}"#),
    );
    seeds.add(
        "hook_state",
        "case-variant",
        format!(r#"{{"id":"c1","Bundle":"/etc","bundle":"{bundle}"}}"#),
    );
    seeds.add(
        "hook_state",
        "annotation-not-string",
        format!(r#"{{"id":"c1","bundle":"{bundle}","annotations":{{"a":1}}}}"#),
    );
    seeds.add("hook_state", "not-an-object", "[\"id\",\"bundle\"]");

    let digest = Digest::of(b"podman image manifest");
    seeds.add("podman_storage", "containers-json", format!(r#"[{{"id":"{id}","names":["web"],"image":"{}","layer":"{}","metadata":"{{\"image-name\":\"docker.io/library/busybox:latest\"}}","created":"2026-12-01T10:00:00Z","flags":{{"MountLabel":""}}}}]"#, "9a".repeat(32), "77".repeat(32)));
    seeds.add("podman_storage", "images-json", format!(r#"[{{"id":"{}","digest":"{digest}","names":["docker.io/library/busybox:latest"],"layer":"{}","big-data-names":["manifest-{digest}","manifest","{digest}"],"big-data-digests":{{"manifest":"{digest}"}},"created":"2026-12-01T09:00:00Z"}}]"#, "9a".repeat(32), "77".repeat(32)));
    seeds.add("podman_storage", "images-bad-digests", r#"[{"id":"i","digest":"sha256:zz","big-data-names":["manifest-sha256:","manifest-sha256:00","manifest-sha512:ab"]}]"#);
    seeds.add(
        "podman_storage",
        "duplicate-image-key",
        r#"[{"id":"i","image":"a","image":"b"}]"#,
    );
    seeds.add("podman_storage", "empty", "[]");
    seeds.add("podman_storage", "wrong-type", r#"{"id":"i","image":"a"}"#);

    let image = Digest::of(b"the image manifest");
    let layer = |title: &str, mt: &str, size: u64| {
        json!({"mediaType": mt, "digest": Digest::of(title.as_bytes()).to_string(), "size": size,
               "annotations": {"org.opencontainers.image.title": title}})
    };
    let artifact = |layers: serde_json::Value| {
        json!({
            "schemaVersion": 2,
            "mediaType": cerro_core::image::MT_OCI_MANIFEST,
            "artifactType": cerro_registry::ARTIFACT_TYPE,
            "config": {"mediaType": cerro_registry::CONFIG_MEDIA_TYPE, "digest": Digest::of(b"config").to_string(), "size": 52},
            "layers": layers,
            "subject": {"mediaType": cerro_core::image::MT_OCI_MANIFEST, "digest": image.to_string(), "size": 401},
        })
    };
    let good = artifact(json!([
        layer("manifest.toml", cerro_registry::MT_TOML, 180),
        layer("attestations/provenance.dsse.json", cerro_registry::MT_DSSE, 900),
        layer("attestations/release.dsse.json", cerro_registry::MT_DSSE, 1400),
        layer("selinux/app.cil", cerro_registry::MT_CIL, 300),
    ]));
    seeds.add("registry_artifact", "ct-push", serde_json::to_vec(&good).unwrap());
    let mut v = good.clone();
    v["manifests"] = json!([]);
    seeds.add("registry_artifact", "index-key", serde_json::to_vec(&v).unwrap());
    let mut v = good.clone();
    v["artifactType"] = json!("application/vnd.dev.cosign.artifact.sig.v1+json");
    seeds.add(
        "registry_artifact",
        "other-artifact-type",
        serde_json::to_vec(&v).unwrap(),
    );
    let text = String::from_utf8(serde_json::to_vec(&good).unwrap()).unwrap();
    seeds.add(
        "registry_artifact",
        "case-variant-layers",
        text.replacen("{", r#"{"Layers":[],"#, 1),
    );
    seeds.add(
        "registry_artifact",
        "huge-layer",
        serde_json::to_vec(&artifact(json!([layer(
            "manifest.toml",
            cerro_registry::MT_TOML,
            u64::MAX
        )])))
        .unwrap(),
    );
    seeds.add(
        "registry_artifact",
        "not-a-member",
        serde_json::to_vec(&artifact(json!([layer(
            "oci-layout/index.json",
            cerro_registry::MT_TOML,
            10
        )])))
        .unwrap(),
    );
    seeds.add(
        "registry_artifact",
        "wrong-media-type",
        serde_json::to_vec(&artifact(json!([layer(
            "selinux/app.cil",
            cerro_registry::MT_DSSE,
            10
        )])))
        .unwrap(),
    );
    let mut v = good;
    v["layers"][0]["annotations"] = json!({});
    seeds.add("registry_artifact", "untitled-layer", serde_json::to_vec(&v).unwrap());
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Core's transparency formats, from the stored tlog-scales log and the
/// examples of core's tests.
fn tlog(seeds: &mut Seeds) {
    use cerro_core::tlog::note::{Ed25519Cosigner, Ed25519NoteSigner};
    use cerro_core::tlog::{release_entry, tiles, SignedCheckpoint, TlogProof};
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("core/tests/tlog-data/scales-log.json")).unwrap()).unwrap();
    let cp = log["checkpoint"].as_str().unwrap();
    seeds.add("tlog_note", "scales-checkpoint", cp);
    seeds.add("tlog_checkpoint", "scales-checkpoint", cp);
    let text = &cp[..cp.find("\n\n").unwrap() + 1];
    seeds.add("tlog_checkpoint", "scales-text", text);
    seeds.add(
        "tlog_checkpoint",
        "spec-example-text",
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    );
    seeds.add("tlog_checkpoint", "extension-line", format!("{text}ext one\n"));
    seeds.add("tlog_checkpoint", "leading-zero", text.replacen("\n7\n", "\n07\n", 1));
    seeds.add("tlog_note", "log-vkey", log["log_vkey"].as_str().unwrap());
    for (i, w) in log["witness_vkeys"].as_array().unwrap().iter().enumerate() {
        seeds.add("tlog_note", &format!("witness-vkey-{i}"), w.as_str().unwrap());
    }
    let signed = SignedCheckpoint::parse(cp.as_bytes()).unwrap();
    for (i, path) in log["inclusion"].as_array().unwrap().iter().enumerate() {
        let hashes = path
            .as_array()
            .unwrap()
            .iter()
            .map(|h| unhex(h.as_str().unwrap()).try_into().unwrap())
            .collect();
        let p = TlogProof::new(i as u64, hashes, signed.clone()).unwrap();
        seeds.add("tlog_proof", &format!("scales-{i}"), p.to_bytes());
    }
    let p0 = String::from_utf8(TlogProof::new(0, vec![], signed.clone()).unwrap().to_bytes()).unwrap();
    seeds.add(
        "tlog_proof",
        "extra",
        p0.replacen("\nindex 0\n", "\nextra ZXh0cmEgaW5mb3JtYXRpb24=\nindex 0\n", 1),
    );
    seeds.add(
        "tlog_proof",
        "index-leading-zero",
        p0.replacen("index 0", "index 00", 1),
    );
    seeds.add("tlog_proof", "truncated", &p0[..p0.len() / 2]);

    // signed-note's and Go's examples (core/src/tlog/note.rs tests).
    seeds.add("tlog_note", "spec-note", "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n");
    seeds.add(
        "tlog_note",
        "spec-vkey",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    );
    seeds.add(
        "tlog_note",
        "go-private-key",
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
    );
    let go_text =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    let peter = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let enoch = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
    seeds.add("tlog_note", "go-two-signatures", format!("{go_text}\n{peter}{enoch}"));
    seeds.add(
        "tlog_note",
        "go-repeated-signature",
        format!("{go_text}\n{peter}{peter}"),
    );
    seeds.add(
        "tlog_note",
        "go-unexpected-line",
        format!("{go_text}\n{peter}Unexpected line.\n"),
    );
    let cosigner = Ed25519Cosigner::from_seed("w.example", &[5; 32]).unwrap();
    seeds.add("tlog_note", "cosigner-private-key", cosigner.to_private_key().as_str());
    seeds.add("tlog_note", "cosigner-vkey", cosigner.verifier_key().to_vkey());
    let signer = Ed25519NoteSigner::from_seed("log.example", &[6; 32]).unwrap();
    seeds.add("tlog_note", "log-private-key", signer.to_private_key().as_str());

    let entries: Vec<Vec<u8>> = (0..7)
        .map(|i| release_entry(format!("envelope {i}").as_bytes()))
        .collect();
    let refs: Vec<&[u8]> = entries.iter().map(|e| &e[..]).collect();
    let bundle = tiles::encode_entry_bundle(&refs).unwrap();
    let with_width = |w: u8, b: &[u8]| [&[w][..], b].concat();
    seeds.add("tlog_entry_bundle", "scales-entries", with_width(6, &bundle));
    seeds.add(
        "tlog_entry_bundle",
        "scales-entries-wrong-width",
        with_width(7, &bundle),
    );
    seeds.add(
        "tlog_entry_bundle",
        "truncated",
        with_width(6, &bundle[..bundle.len() - 1]),
    );
    seeds.add("tlog_entry_bundle", "one-entry", with_width(0, &bundle[..112]));
    seeds.add(
        "tlog_entry_bundle",
        "full-of-empty-entries",
        with_width(255, &[0u8; 512]),
    );
}

/// A trust root signed by its two root keys (accepted), by one (refused:
/// too few signers), unsigned; revocation lists signed by the revocation
/// key (accepted) and by a root key (refused).
fn trust_roots(seeds: &mut Seeds) {
    use cerro_core::trust::root::{RevocationList, RevokedKey};
    use cerro_fuzz_checks::trust_root::{root, REVOCATION_SEED, ROOT_SEEDS};
    use cerro_fuzz_checks::NOW;
    let key = |s: u8| SigningKey::from_bytes(&[s; 32]);
    let r = root();
    let mut env = r.to_envelope().unwrap();
    seeds.add("trust_root", "unsigned", env.to_bytes().unwrap());
    env.sign(&key(ROOT_SEEDS[0])).unwrap();
    seeds.add("trust_root", "one-of-two", env.to_bytes().unwrap());
    env.sign(&key(ROOT_SEEDS[1])).unwrap();
    seeds.add("trust_root", "signed", env.to_bytes().unwrap());
    let list = RevocationList::new(
        3,
        NOW - 3600,
        NOW + 86_400,
        vec![
            RevokedKey {
                fingerprint: cerro_core::trust::Fingerprint::of(&key(9).verifying_key()),
                after: None,
            },
            RevokedKey {
                fingerprint: cerro_core::trust::Fingerprint::of(&key(10).verifying_key()),
                after: Some(NOW),
            },
        ],
        vec![Digest::of(b"release")],
    )
    .unwrap();
    let mut env = list.to_envelope().unwrap();
    env.sign(&key(ROOT_SEEDS[0])).unwrap();
    seeds.add("revocation_list", "root-key", env.to_bytes().unwrap());
    let mut env = list.to_envelope().unwrap();
    env.sign(&key(REVOCATION_SEED)).unwrap();
    seeds.add("revocation_list", "signed", env.to_bytes().unwrap());
}

/// Standard base64 with padding (the seeds' Sigstore bundles and
/// signature annotations).
fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= c.len() {
                char::from(A[(n >> shift) as usize & 63])
            } else {
                '='
            });
        }
    }
    out
}

/// `cosign_signature`: cosign's two layouts, signed for the check's image
/// with its P-256 and Ed25519 keys (Ed25519 pure; the P-256 one as cosign
/// writes it), and refused variants.
fn cosign(seeds: &mut Seeds) {
    use cerro_core::cosign_signature::{SIGNATURE_ANNOTATION, SIGSTORE_BUNDLE_TYPE, SIMPLE_SIGNING_TYPE};
    use cerro_core::key::KeySigner as _;
    use cerro_fuzz_checks::{cosign_image, cosign_input, COSIGN_ED25519_SEED, COSIGN_P256_PEM};
    let image = cosign_image();
    let p256 = cerro_core::key::SecretKey::from_pkcs8_pem(COSIGN_P256_PEM, None).unwrap();
    let ed = SigningKey::from_bytes(&[COSIGN_ED25519_SEED; 32]);
    let statement = format!(
        r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{}"}},"annotations":{{}}}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{{}}}}"#,
        image.hex()
    );
    let pt = "application/vnd.in-toto+json";
    let pae = cerro_core::dsse::pae(pt, statement.as_bytes());
    for (name, ed25519, sig, hint) in [
        ("p256", false, p256.sign_message(&pae).unwrap(), p256.public()),
        (
            "ed25519",
            true,
            ed.sign_message(&pae).unwrap(),
            cerro_core::key::PublicKey::from(ed.verifying_key()),
        ),
    ] {
        let blob = format!(
            r#"{{"mediaType":"{SIGSTORE_BUNDLE_TYPE}","verificationMaterial":{{"publicKey":{{"hint":"{}"}}}},"dsseEnvelope":{{"payload":"{}","payloadType":"{pt}","signatures":[{{"sig":"{}"}}]}}}}"#,
            b64(Digest::of(&hint.spki_der()).as_bytes()),
            b64(statement.as_bytes()),
            b64(&sig)
        );
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"{SIGSTORE_BUNDLE_TYPE}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"{SIGSTORE_BUNDLE_TYPE}","digest":"{}","size":{}}}],"annotations":{{"dev.sigstore.bundle.content":"dsse-envelope","dev.sigstore.bundle.predicateType":"https://sigstore.dev/cosign/sign/v1"}},"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{image}","size":401}}}}"#,
            Digest::of(b"{}"),
            Digest::of(blob.as_bytes()),
            blob.len()
        );
        seeds.add(
            "cosign_signature",
            &format!("sigstore-bundle-{name}"),
            cosign_input(false, 0, ed25519, manifest.as_bytes(), blob.as_bytes()),
        );
        seeds.add(
            "cosign_signature",
            &format!("sigstore-bundle-{name}-proto-name"),
            cosign_input(
                false,
                0,
                ed25519,
                manifest.as_bytes(),
                blob.replace("dsseEnvelope", "dsse_envelope").as_bytes(),
            ),
        );
    }
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"registry.example/app"}},"image":{{"docker-manifest-digest":"{image}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    for (name, ed25519, sig) in [
        ("p256", false, p256.sign_message(payload.as_bytes()).unwrap()),
        ("ed25519", true, ed.sign_message(payload.as_bytes()).unwrap()),
    ] {
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":233}},"layers":[{{"mediaType":"{SIMPLE_SIGNING_TYPE}","digest":"{}","size":{},"annotations":{{"{SIGNATURE_ANNOTATION}":"{}"}}}}]}}"#,
            Digest::of(b"config"),
            Digest::of(payload.as_bytes()),
            payload.len(),
            b64(&sig)
        );
        seeds.add(
            "cosign_signature",
            &format!("legacy-tag-{name}"),
            cosign_input(true, 0, ed25519, manifest.as_bytes(), payload.as_bytes()),
        );
    }
}

fn main() {
    let mut seeds = Seeds(BTreeMap::new());
    cosign(&mut seeds);
    fixtures(&mut seeds);
    tlog_bundles(&mut seeds);
    rebuild_bundles(&mut seeds);
    policies(&mut seeds);
    for (i, line) in AVC.iter().enumerate() {
        seeds.add("avc_suggest", &format!("record-{i}"), format!("{line}\n"));
    }
    seeds.add("avc_suggest", "all", AVC.join("\n"));
    os_packages(&mut seeds);
    layer_scans(&mut seeds);
    front_ends(&mut seeds);
    tlog(&mut seeds);
    trust_roots(&mut seeds);
    let key = SigningKey::from_bytes(&[1; 32]);
    seeds.add("text_fields", "public-pem", public_pem(&key.verifying_key()));
    seeds.add("text_fields", "digest", Digest::of(b"seed").to_string());
    seeds.add("text_fields", "rfc3339-utc", "2026-01-01T00:00:00Z");
    seeds.add("text_fields", "rfc3339-offset", "2026-01-01T02:00:00.5+02:00");
    seeds.add(
        "jcs",
        "rfc8785-sorting",
        r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
    );

    let corpus = root().join("fuzz/corpus");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for ((target, name), data) in &seeds.0 {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
        *counts.entry(target).or_default() += 1;
    }
    for (target, n) in counts {
        println!("{target}: {n} seeds in {}", corpus.join(target).display());
    }
}
