//! The hostile bundles of `core/tests/data/<attack-name>/`, replayed.
//!
//! Each folder (tough's `tests/data` layout) holds one attack: `bundle.ctp`,
//! the hostile bytes, and `expect.json`, what `cerro-core` (and so
//! `ct verify`) must answer: the stage that refuses it (`read` or
//! `verify`), the exit code, the error kind, a fragment of the message, the
//! keys to trust and the clock to verify at, and one line saying what the
//! attack is. They are stored rather than built in each test so other
//! implementations, the fuzzers (`fuzz/corpus/bundle/`) and reviewers can
//! use the same bytes.
//!
//! The builders below make every folder deterministically (fixed key seeds,
//! fixed mtime, fixed image). After a change of format, rewrite them with
//! `CERRO_WRITE_FIXTURES=1 cargo test -p cerro-core --test attacks`, then
//! review the diff of the `expect.json` files: `stored_fixtures_match_their_builders`
//! fails until then. Folders with `"signed": true` carry a release
//! statement and change with its format; the tar-level attacks carry no
//! attestation and depend only on the tar layout and `manifest.toml`.

#![allow(clippy::unwrap_used)]
// One `push` per attack, with the setup of the next between them.
#![allow(clippy::vec_init_then_push)]

mod common;

use std::collections::BTreeMap;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use cerro_core::bundle::{
    self, blob_path, Bundle, BundleContents, NoExtract, INDEX_PATH, LAYOUT_PATH, MANIFEST_PATH, RELEASE_ATTESTATION,
};
use cerro_core::digest::Digest;
use cerro_core::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::image::{BlobRef, MT_OCI_LAYER_TAR, MT_OCI_MANIFEST};
use cerro_core::manifest::{ImageRef, PackageManifest};
use cerro_core::pack;
use cerro_core::policy_interface::NoPolicy;
use cerro_core::statement::{ImageDescriptor, MemberDigest, PackageId, ReleaseStatement};
use cerro_core::trust::home::{parse_public_pem, public_pem};
use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};
use cerro_core::{jcs, verify, Error};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tempfile::TempDir;

use common::{key, noise, pax_record, tar_members, RawTar, MTIME};

/// The clock every fixture is verified at.
const NOW: u64 = 1_750_000_000;
/// The reference of the fixture image.
const REF: &str = "hello-2.10";
const DRAFT: &str = "[package]\nname = \"hello\"\nversion = \"2.10-3\"\nsummary = \"greets the world\"\n";
/// The environment variable that rewrites the stored fixtures.
const WRITE: &str = "CERRO_WRITE_FIXTURES";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("data")
}

// ---------------------------------------------------------------------------
// expect.json
// ---------------------------------------------------------------------------

/// What a fixture must give. Stored as `expect.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// One line: what the attack is.
    attack: String,
    /// `read` (the bundle reader refuses it) or `verify` (it reads, and
    /// verification refuses it, or accepts it where `exit_code` is 0).
    stage: String,
    /// The documented exit code (`ct verify`'s exit status).
    exit_code: u8,
    /// `Error::kind()` (the `error_kind` of `ct verify --json`); absent when
    /// the bundle is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_kind: Option<String>,
    /// A fragment the error message contains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_contains: Option<String>,
    /// For an accepted bundle: how many distinct signers count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signers_counted: Option<usize>,
    /// Whether the bundle carries a signed release statement (and so must be
    /// regenerated when the statement format changes).
    signed: bool,
    /// The trust store to verify with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    trust: Vec<TrustedKey>,
    /// The clock (unix seconds) to verify at.
    now: u64,
}

/// One key of the trust store of a fixture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustedKey {
    id: String,
    /// SPKI PEM, as `ct key import` reads it.
    public_key: String,
    level: TrustLevel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_until: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<u64>,
}

impl TrustedKey {
    fn full(id: &str, k: &SigningKey) -> Self {
        TrustedKey {
            id: id.into(),
            public_key: public_pem(&k.verifying_key()),
            level: TrustLevel::Full,
            valid_from: None,
            valid_until: None,
            revoked_at: None,
        }
    }
}

impl Expect {
    fn refused(stage: &str, attack: &str, err: &Error, message: &str) -> Self {
        Expect {
            attack: attack.into(),
            stage: stage.into(),
            exit_code: err.exit_code().code(),
            error_kind: Some(err.check().into()),
            message_contains: (!message.is_empty()).then(|| message.into()),
            signers_counted: None,
            signed: false,
            trust: Vec::new(),
            now: NOW,
        }
    }

    /// Refused by the bundle reader with `Error::Malformed` (exit 10).
    fn malformed(attack: &str, message: &str) -> Self {
        Self::refused("read", attack, &Error::malformed("", ""), message)
    }

    fn trust_store(&self) -> TrustStore {
        let mut t = TrustStore::new();
        for k in &self.trust {
            let mut e = KeyEntry::new(&k.id, parse_public_pem(&k.public_key, &k.id).unwrap(), k.level);
            e.valid_from = k.valid_from;
            e.valid_until = k.valid_until;
            e.revoked_at = k.revoked_at;
            t.insert(e).unwrap();
        }
        t
    }
}

// ---------------------------------------------------------------------------
// The fixture image and its bundles
// ---------------------------------------------------------------------------

/// A small image (one layer of three files, a few KiB in all), so each
/// stored bundle stays around ten KiB.
struct Fixture {
    _dir: TempDir,
    image: SourceImage,
    manifest: PackageManifest,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let mut b = LayoutBuilder::new(&layout).unwrap();
    b.layer_tar(&[
        ("etc/hostname", 0o644, b"cerro\n"),
        ("usr/bin/hello", 0o755, b"#!/bin/sh\necho 'Hello, world!'\n"),
        (
            "usr/share/doc/hello/README",
            0o644,
            b"GNU hello, packed by the attack fixtures.\n",
        ),
    ])
    .unwrap();
    b.finish(basic_config(&["/usr/bin/hello"]), Some(REF)).unwrap();
    let image = SourceImage::open(&format!("oci:{}:{REF}", layout.display())).unwrap();
    let manifest = PackageManifest::from_draft(
        DRAFT,
        ImageRef {
            digest: image.manifest.digest,
            reference: image.reference.clone(),
        },
    )
    .unwrap();
    Fixture {
        _dir: dir,
        image,
        manifest,
    }
}

impl Fixture {
    fn pack(&self, keys: &[SigningKey]) -> Vec<u8> {
        let mut out = Vec::new();
        pack::pack(&self.image, &self.manifest, keys, MTIME, &mut out).unwrap();
        out
    }

    /// The bundle with exactly `attestations` (none: an unsigned bundle,
    /// which reads but never verifies).
    fn write(&self, attestations: Vec<(String, Vec<u8>)>) -> Vec<u8> {
        self.write_with(&self.manifest, attestations)
    }

    fn write_with(&self, manifest: &PackageManifest, attestations: Vec<(String, Vec<u8>)>) -> Vec<u8> {
        let mut out = Vec::new();
        bundle::write_bundle(
            &BundleContents {
                manifest_toml: manifest.to_canonical_toml().unwrap().into_bytes(),
                attestations,
                selinux: Vec::new(),
                transparency: Vec::new(),
                rebuilds: Vec::new(),
                image: &self.image,
                mtime: MTIME,
            },
            &mut out,
        )
        .unwrap();
        out
    }

    /// The release envelope of a bundle packed with `keys`.
    fn release(&self, keys: &[SigningKey]) -> Envelope {
        let b = bundle::read_bundle(&mut &self.pack(keys)[..], &mut NoExtract).unwrap();
        b.release().unwrap().envelope.clone()
    }

    /// A release statement for this image binding `members` (path, bytes).
    fn statement(&self, members: &[(&str, &[u8])]) -> ReleaseStatement {
        ReleaseStatement::release(
            PackageId {
                name: self.manifest.package.name.clone(),
                version: self.manifest.package.version.clone(),
            },
            ImageDescriptor {
                media_type: self.image.manifest.media_type.clone(),
                digest: self.image.manifest.digest,
                size: self.image.manifest.size,
            },
            self.image.parts.layers.iter().map(|l| l.digest).collect(),
            members
                .iter()
                .map(|(path, bytes)| MemberDigest {
                    path: (*path).into(),
                    digest: Digest::of(bytes),
                })
                .collect(),
            Vec::new(),
        )
    }
}

// ---------------------------------------------------------------------------
// The attacks
// ---------------------------------------------------------------------------

struct Attack {
    name: &'static str,
    bundle: Vec<u8>,
    expect: Expect,
}

fn attack(name: &'static str, bundle: Vec<u8>, expect: Expect) -> Attack {
    Attack { name, bundle, expect }
}

/// Tar-level attacks on the unsigned bundle: refused by the reader before
/// any attestation is looked at.
fn tar_attacks(fx: &Fixture) -> Vec<Attack> {
    let unsigned = fx.write(Vec::new());
    let members = tar_members(&unsigned);
    assert!(RawTar::new().members(&members).finish() == unsigned);
    let layer = fx.image.parts.layers[0].clone();
    let layer_path = blob_path(&layer.digest);
    let mut out = Vec::new();

    out.push(attack(
        "not-a-tar",
        noise(3, 4096),
        Expect::malformed(
            "random bytes: the first header's checksum fails",
            "corrupt or truncated tar",
        ),
    ));

    out.push(attack(
        "path-traversal",
        RawTar::new().members(&members[..4]).file("../evil", b"x").finish(),
        Expect::malformed(
            "a member named ../evil after valid members: an extractor would write outside its directory",
            "unsafe member path",
        ),
    ));

    out.push(attack(
        "absolute-path",
        RawTar::new().file("/etc/passwd", b"root::0:0::/:/bin/sh\n").finish(),
        Expect::malformed("a member with an absolute path (/etc/passwd)", "unsafe member path"),
    ));

    out.push(attack(
        "symlink-member",
        RawTar::new()
            .header(MANIFEST_PATH, 0, tar::EntryType::Symlink, "/etc/passwd")
            .members(&members[1..])
            .finish(),
        Expect::malformed(
            "manifest.toml as a symbolic link to /etc/passwd (an extractor would follow it)",
            "symbolic link",
        ),
    ));

    out.push(attack(
        "hardlink-member",
        RawTar::new()
            .header(MANIFEST_PATH, 0, tar::EntryType::Link, "/etc/shadow")
            .members(&members[1..])
            .finish(),
        Expect::malformed("manifest.toml as a hard link to /etc/shadow", "hard link"),
    ));

    out.push(attack(
        "duplicate-member",
        RawTar::new().members(&members[..1]).members(&members).finish(),
        Expect::malformed(
            "manifest.toml twice: one tool would read the first copy, another the last",
            "duplicate",
        ),
    ));

    out.push(attack(
        "unexpected-member",
        RawTar::new().members(&members).file("extra.txt", b"hi").finish(),
        Expect::malformed(
            "a member the format does not define, after a complete bundle",
            "unexpected member",
        ),
    ));

    // A PAX record growing the layer by 600 bytes: the tar crate and GNU tar
    // would hash one byte range while the ustar header says another.
    let mut t = RawTar::new();
    for m in &members {
        if m.path != layer_path {
            t.file(&m.path, &m.data);
            continue;
        }
        let smuggled = m.data.len() + 600;
        let record = pax_record("size", &smuggled.to_string());
        t.header("PaxHeaders/blob", record.len() as u64, tar::EntryType::XHeader, "")
            .data(&record);
        let mut data = m.data.clone();
        data.resize(smuggled, b'!');
        t.header(&m.path, m.data.len() as u64, tar::EntryType::Regular, "")
            .data(&data);
    }
    out.push(attack(
        "pax-size-override",
        t.finish(),
        Expect::malformed(
            "a PAX header overriding a layer's size: 600 bytes smuggled past the ustar size",
            "PAX extension entry",
        ),
    ));

    out.push(attack(
        "gnu-long-name",
        RawTar::new()
            .header("././@LongLink", 14, tar::EntryType::GNULongName, "")
            .data(b"manifest.toml\0")
            .members(&members)
            .finish(),
        Expect::malformed(
            "a GNU long-name entry renaming the next member",
            "GNU long-name extension entry",
        ),
    ));

    // The layer's descriptor is genuine; its header claims 1 TiB.
    let mut t = RawTar::new();
    for m in &members {
        if m.path == layer_path {
            t.header(&m.path, 1 << 40, tar::EntryType::Regular, "").data(&m.data);
        } else {
            t.file(&m.path, &m.data);
        }
    }
    out.push(attack(
        "blob-size-mismatch",
        t.unfinished(),
        Expect::refused(
            "read",
            "a layer whose tar header claims 1 TiB against its descriptor's size: refused before any data is read",
            &Error::SizeMismatch {
                what: String::new(),
                expected: 0,
                actual: 0,
            },
            "size mismatch",
        ),
    ));

    // A manifest, config and layer descriptor that all claim 1 TiB, then 4 KiB.
    let config_desc = &fx.image.parts.config;
    let config = members
        .iter()
        .find(|m| m.path == blob_path(&config_desc.digest))
        .unwrap();
    let huge = BlobRef {
        media_type: MT_OCI_LAYER_TAR.into(),
        digest: Digest::of(b"never sent"),
        size: 1 << 40,
    };
    let manifest_json = jcs::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": config_desc.media_type, "digest": config_desc.digest.to_string(), "size": config_desc.size},
        "layers": [{"mediaType": huge.media_type, "digest": huge.digest.to_string(), "size": huge.size}],
    }))
    .unwrap();
    let desc = BlobRef {
        media_type: MT_OCI_MANIFEST.into(),
        digest: Digest::of(&manifest_json),
        size: manifest_json.len() as u64,
    };
    let toml = PackageManifest::from_draft(
        DRAFT,
        ImageRef {
            digest: desc.digest,
            reference: None,
        },
    )
    .unwrap()
    .to_canonical_toml()
    .unwrap();
    let mut t = RawTar::new();
    t.file(MANIFEST_PATH, toml.as_bytes())
        .file(LAYOUT_PATH, cerro_core::image::OCI_LAYOUT_FILE)
        .file(INDEX_PATH, &cerro_core::image::bundle_index(&desc, None).unwrap())
        .file(&blob_path(&desc.digest), &manifest_json)
        .file(&config.path, &config.data)
        .header(&blob_path(&huge.digest), 1 << 40, tar::EntryType::Regular, "")
        .data(&noise(4, 4096));
    out.push(attack(
        "huge-size-claim",
        t.unfinished(),
        Expect::malformed(
            "a layer of 1 TiB by descriptor and header, followed by 4 KiB: nothing of the claimed size is allocated",
            "truncated",
        ),
    ));

    out.push(attack(
        "huge-manifest-claim",
        RawTar::new()
            .header(MANIFEST_PATH, 100 << 20, tar::EntryType::Regular, "")
            .data(&members[0].data)
            .finish(),
        Expect::malformed(
            "manifest.toml claiming 100 MiB: refused by its size bound before it is read into memory",
            "more than",
        ),
    ));

    out.push(attack(
        "truncated-bundle",
        unsigned[..unsigned.len() / 2].to_vec(),
        Expect::malformed("the bundle cut in half", ""),
    ));

    out.push(attack(
        "truncated-end-marker",
        unsigned[..unsigned.len() - 512].to_vec(),
        Expect::malformed(
            "every member whole, one of the two end-of-archive blocks missing",
            "end-of-archive marker",
        ),
    ));

    let mut appended = unsigned.clone();
    appended.extend_from_slice(b"smuggled");
    out.push(attack(
        "appended-data",
        appended,
        Expect::malformed(
            "bytes after the end-of-archive marker, past every digest",
            "end-of-archive marker",
        ),
    ));

    let manifest_member = &members[0];
    let pad = manifest_member.data_pos + manifest_member.data.len();
    assert!(!pad.is_multiple_of(512), "manifest.toml fills its last block");
    let mut padded = unsigned.clone();
    padded[pad] = b'!';
    out.push(attack(
        "non-zero-padding",
        padded,
        Expect::malformed(
            "a byte hidden in the tar padding after manifest.toml, covered by no digest",
            "non-zero tar padding",
        ),
    ));

    let mut replaced = unsigned.clone();
    let m = members.iter().find(|m| m.path == layer_path).unwrap();
    replaced[m.data_pos..m.data_pos + m.data.len()].copy_from_slice(&noise(10, m.data.len()));
    out.push(attack(
        "replaced-layer",
        replaced,
        Expect::refused(
            "read",
            "a layer's bytes replaced by others of the same length: the tar stays valid, the digest does not",
            &Error::DigestMismatch {
                what: String::new(),
                expected: layer.digest,
                actual: layer.digest,
            },
            &layer_path,
        ),
    ));

    out
}

/// Attacks on signatures, statements and trust: the bundle reads, and the
/// verification refuses it.
fn signed_attacks(fx: &Fixture) -> Vec<Attack> {
    let alice = key(1);
    let mallory = key(2);
    let trust_alice = vec![TrustedKey::full("alice", &alice)];
    let signed = |mut e: Expect, trust: Vec<TrustedKey>| {
        e.signed = true;
        e.stage = "verify".into();
        e.trust = trust;
        e
    };
    let release = fx.release(std::slice::from_ref(&alice));
    let mut out = Vec::new();

    out.push(attack(
        "valid-bundle",
        fx.pack(std::slice::from_ref(&alice)),
        signed(
            Expect {
                attack: "control: a valid bundle signed by a trusted key (not an attack)".into(),
                stage: String::new(),
                exit_code: 0,
                error_kind: None,
                message_contains: None,
                signers_counted: Some(1),
                signed: true,
                trust: Vec::new(),
                now: NOW,
            },
            trust_alice.clone(),
        ),
    ));

    let mut spaced = release.to_bytes().unwrap();
    spaced.insert(1, b' ');
    let mut e = Expect::malformed(
        "the release envelope re-encoded with a space: a second spelling of signed bytes",
        "not in canonical form",
    );
    e.signed = true;
    e.trust = trust_alice.clone();
    out.push(attack(
        "non-canonical-envelope",
        fx.write(vec![(RELEASE_ATTESTATION.into(), spaced)]),
        e,
    ));

    let value: serde_json::Value = serde_json::from_slice(&release.payload).unwrap();
    let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, serde_json::to_vec_pretty(&value).unwrap());
    env.sign(&alice).unwrap();
    out.push(attack(
        "non-canonical-payload",
        fx.write(vec![(RELEASE_ATTESTATION.into(), env.to_bytes().unwrap())]),
        signed(
            Expect::malformed(
                "a validly signed release statement that is not canonical JSON",
                "not canonical JSON",
            ),
            trust_alice.clone(),
        ),
    ));

    // Sign a statement that binds manifest.toml and oci-layout but not
    // index.json: the index could then be swapped without a signature noticing.
    let toml = fx.manifest.to_canonical_toml().unwrap();
    let st = fx.statement(&[
        (MANIFEST_PATH, toml.as_bytes()),
        (LAYOUT_PATH, cerro_core::image::OCI_LAYOUT_FILE),
    ]);
    let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, jcs::to_canonical(&st).unwrap());
    env.sign(&alice).unwrap();
    out.push(attack(
        "unbound-member",
        fx.write(vec![(RELEASE_ATTESTATION.into(), env.to_bytes().unwrap())]),
        signed(
            Expect::malformed(
                "a signed release statement that does not bind index.json",
                "index.json is not bound by the statement",
            ),
            trust_alice.clone(),
        ),
    ));

    // manifest.toml changed (another summary) under the original signature.
    let mut edited = fx.manifest.clone();
    edited.package.summary = Some("greets the world, and more".into());
    out.push(attack(
        "modified-manifest",
        fx.write_with(&edited, vec![(RELEASE_ATTESTATION.into(), release.to_bytes().unwrap())]),
        signed(
            Expect::refused(
                "verify",
                "manifest.toml edited after signing: its digest no longer matches the statement's",
                &Error::DigestMismatch {
                    what: String::new(),
                    expected: fx.image.manifest.digest,
                    actual: fx.image.manifest.digest,
                },
                MANIFEST_PATH,
            ),
            trust_alice.clone(),
        ),
    ));

    let sig_err = Error::SignerNotTrusted {
        envelope: String::new(),
        counted: 0,
        required: 1,
        details: String::new(),
    };
    out.push(attack(
        "unknown-signer",
        fx.pack(std::slice::from_ref(&mallory)),
        signed(
            Expect::refused(
                "verify",
                "signed only by a key the trust store does not know",
                &sig_err,
                "0 of 1 required",
            ),
            trust_alice.clone(),
        ),
    ));

    let mut expired = TrustedKey::full("alice", &alice);
    expired.valid_until = Some(NOW - 1);
    out.push(attack(
        "expired-key",
        fx.pack(std::slice::from_ref(&alice)),
        signed(
            Expect::refused(
                "verify",
                "signed by a trusted key whose validity ended before the verification time",
                &sig_err,
                "expired",
            ),
            vec![expired],
        ),
    ));

    let mut revoked = TrustedKey::full("alice", &alice);
    revoked.level = TrustLevel::Ultimate;
    revoked.revoked_at = Some(NOW - 10);
    out.push(attack(
        "revoked-key",
        fx.pack(std::slice::from_ref(&alice)),
        signed(
            Expect::refused(
                "verify",
                "signed by a key revoked before the verification time (ultimate trust does not help)",
                &sig_err,
                "revoked",
            ),
            vec![revoked],
        ),
    ));

    let mut env = release.clone();
    env.signatures[0].sig[10] ^= 0x01;
    out.push(attack(
        "tampered-signature",
        fx.write(vec![(RELEASE_ATTESTATION.into(), env.to_bytes().unwrap())]),
        signed(
            Expect::refused(
                "verify",
                "one bit of a trusted key's signature flipped: an attack, not an unknown signer",
                &Error::SignatureInvalid {
                    key: String::new(),
                    fingerprint: String::new(),
                    envelope: String::new(),
                },
                "does not verify",
            ),
            trust_alice.clone(),
        ),
    ));

    // One key's signature twice, to look like two signers.
    let mut env = release.clone();
    env.signatures.push(env.signatures[0].clone());
    let mut both = trust_alice.clone();
    both.push(TrustedKey::full("bob", &key(3)));
    out.push(attack(
        "duplicate-signature",
        fx.write(vec![(RELEASE_ATTESTATION.into(), env.to_bytes().unwrap())]),
        signed(
            Expect {
                attack: "alice's signature carried twice: accepted (one valid signer suffices without a policy) but counted once"
                    .into(),
                stage: String::new(),
                exit_code: 0,
                error_kind: None,
                message_contains: None,
                signers_counted: Some(1),
                signed: true,
                trust: Vec::new(),
                now: NOW,
            },
            both,
        ),
    ));

    out.push(attack(
        "missing-release-attestation",
        fx.write(Vec::new()),
        signed(
            Expect::refused(
                "verify",
                "no release attestation at all: the bundle reads but never verifies",
                &Error::MissingAttestation(String::new()),
                RELEASE_ATTESTATION,
            ),
            trust_alice.clone(),
        ),
    ));

    let mut env = Envelope::new("text/plain", release.payload.clone());
    env.sign(&alice).unwrap();
    out.push(attack(
        "wrong-payload-type",
        fx.write(vec![(RELEASE_ATTESTATION.into(), env.to_bytes().unwrap())]),
        signed(
            Expect::malformed("a signed envelope whose payloadType is not in-toto", "payloadType"),
            trust_alice,
        ),
    ));

    out
}

fn all_attacks() -> Vec<Attack> {
    let fx = fixture();
    let mut v = tar_attacks(&fx);
    v.extend(signed_attacks(&fx));
    v
}

// ---------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------

fn expect_json(e: &Expect) -> String {
    serde_json::to_string_pretty(e).unwrap() + "\n"
}

fn stored() -> BTreeMap<String, (Vec<u8>, Expect)> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let bundle = std::fs::read(dir.join("bundle.ctp")).unwrap();
        let expect: Expect = serde_json::from_slice(&std::fs::read(dir.join("expect.json")).unwrap())
            .unwrap_or_else(|e| panic!("{name}/expect.json: {e}"));
        out.insert(name, (bundle, expect));
    }
    out
}

/// Reads `bytes` both ways the reader can (a stream, a file), which must agree.
fn read_both(bytes: &[u8]) -> Result<Bundle, Error> {
    let streamed = bundle::read_bundle(&mut &bytes[..], &mut NoExtract);
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f.rewind().unwrap();
    let filed = bundle::read_bundle_file(&f, &mut NoExtract);
    match (&streamed, &filed) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(a.exit_code(), b.exit_code(), "{a} / {b}"),
        _ => panic!("the stream and file readers disagree: {streamed:?} / {filed:?}"),
    }
    streamed
}

/// Checks one stored fixture against its `expect.json`.
fn replay(name: &str, bytes: &[u8], expect: &Expect) {
    let check_err = |e: &Error| {
        assert_eq!(e.exit_code().code(), expect.exit_code, "{name}: {e}");
        assert_eq!(Some(e.check()), expect.error_kind.as_deref(), "{name}: {e}");
        if let Some(needle) = &expect.message_contains {
            assert!(
                e.to_string().contains(needle.as_str()),
                "{name}: {needle:?} not in: {e}"
            );
        }
    };
    let bundle = match read_both(bytes) {
        Err(e) => {
            assert_eq!(expect.stage, "read", "{name}: refused by the reader: {e}");
            check_err(&e);
            return;
        }
        Ok(b) => b,
    };
    assert_eq!(expect.stage, "verify", "{name}: the reader accepted it");
    match verify::verify(bundle, &expect.trust_store(), &NoPolicy, expect.now) {
        Ok(v) => {
            assert_eq!(
                expect.exit_code, 0,
                "{name}: verified, but exit {} was expected",
                expect.exit_code
            );
            let counted = v.report().signers.iter().filter(|s| s.counted()).count();
            assert_eq!(Some(counted), expect.signers_counted, "{name}: counted signers");
        }
        Err(r) => {
            check_err(&r.error);
            assert_eq!(r.report.exit_code, expect.exit_code, "{name}: report");
            assert_eq!(r.report.error_kind, Some(r.error.check()), "{name}: report");
        }
    }
}

/// Every stored folder gives what its `expect.json` says.
#[test]
fn every_stored_attack_is_refused_as_expected() {
    let stored = stored();
    assert!(
        stored.len() >= 20,
        "only {} fixtures in {}",
        stored.len(),
        data_dir().display()
    );
    for (name, (bytes, expect)) in &stored {
        replay(name, bytes, expect);
    }
    // The brief's attacks are all there.
    for name in [
        "path-traversal",
        "symlink-member",
        "duplicate-member",
        "pax-size-override",
        "huge-size-claim",
        "truncated-bundle",
        "non-canonical-envelope",
        "unbound-member",
        "unknown-signer",
        "expired-key",
    ] {
        assert!(stored.contains_key(name), "{name} missing");
    }
}

/// The stored folders are exactly what the builders make; with
/// `CERRO_WRITE_FIXTURES=1` they are rewritten from the builders instead.
#[test]
fn stored_fixtures_match_their_builders() {
    let built = all_attacks();
    if std::env::var_os(WRITE).is_some() {
        let root = data_dir();
        for a in &built {
            // The builders' expectations hold before anything is written.
            replay(a.name, &a.bundle, &a.expect);
            let dir = root.join(a.name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("bundle.ctp"), &a.bundle).unwrap();
            std::fs::write(dir.join("expect.json"), expect_json(&a.expect)).unwrap();
        }
        for name in stored().keys() {
            assert!(
                built.iter().any(|a| a.name == name),
                "{name}: stored but no longer built; delete core/tests/data/{name}"
            );
        }
        return;
    }
    let stored = stored();
    let names: Vec<&str> = built.iter().map(|a| a.name).collect();
    assert_eq!(
        stored.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut n = names.clone();
            n.sort_unstable();
            n
        },
        "stored fixtures differ from the builders' list; regenerate with {WRITE}=1"
    );
    for a in &built {
        let (bytes, expect) = &stored[a.name];
        assert!(
            *bytes == a.bundle,
            "{}/bundle.ctp differs from its builder; regenerate with {WRITE}=1 cargo test -p cerro-core --test attacks",
            a.name
        );
        assert_eq!(
            *expect, a.expect,
            "{}/expect.json differs from its builder; regenerate with {WRITE}=1",
            a.name
        );
    }
}
