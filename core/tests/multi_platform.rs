//! Multi-platform images (#15): a bundle of an image index carries every
//! platform the index names, and its release statement binds the index and
//! each platform manifest (with its platform and diff_ids). Tested with a
//! two-platform index (amd64 + arm64) built here by hand; the arm64 content
//! need not run. Refusals: a partial index (a platform's blobs missing), an
//! index entry whose config says another platform, an index naming a
//! platform twice or no platform, a statement that drops a platform.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use cerro_core::bundle::{self, Bundle, BundleContents, NoExtract, RELEASE_ATTESTATION};
use cerro_core::digest::Digest;
use cerro_core::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use cerro_core::image::layout::{platform_config, write_platform_index, LayoutBuilder};
use cerro_core::image::source::SourceImage;
use cerro_core::image::{BlobRef, Platform, MT_OCI_INDEX};
use cerro_core::pack::{LayerDiffIds, PackRequest};
use cerro_core::policy_interface::NoPolicy;
use cerro_core::statement::ReleaseStatement;
use cerro_core::testing::manifest_for;
use cerro_core::trust::{KeyEntry, TrustLevel, TrustStore};
use cerro_core::verify::{verify, Verified};
use cerro_core::{jcs, Error, ExitCode};
use ed25519_dalek::SigningKey;

const NOW: u64 = 1_750_000_000;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn trust() -> TrustStore {
    let mut t = TrustStore::new();
    t.insert(KeyEntry::new("k", key().verifying_key(), TrustLevel::Full))
        .unwrap();
    t
}

fn platform(arch: &str) -> Platform {
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: None,
    }
}

/// One platform's image in `dir`: a shared layer, one of its own, and a
/// config saying `config_arch`. Returns the manifest descriptor.
fn platform_image(dir: &Path, arch: &str, config_arch: &str) -> BlobRef {
    let mut b = LayoutBuilder::new(dir).unwrap();
    b.layer_tar(&[("etc/motd", 0o644, b"shared by every platform\n")])
        .unwrap();
    b.layer_tar(&[("bin/app", 0o755, format!("binary for {arch}\n").as_bytes())])
        .unwrap();
    b.finish_image(platform_config("linux", config_arch, &["/bin/app"]))
        .unwrap()
}

/// A two-platform layout (amd64, arm64) at `dir`; returns the index.
fn two_platforms(dir: &Path) -> BlobRef {
    let amd = platform_image(dir, "amd64", "amd64");
    let arm = platform_image(dir, "arm64", "arm64");
    write_platform_index(dir, &[(amd, platform("amd64")), (arm, platform("arm64"))], Some("1")).unwrap()
}

fn open(dir: &Path) -> SourceImage {
    SourceImage::open(&format!("oci:{}:1", dir.display())).unwrap()
}

fn pack(image: &SourceImage) -> Result<Vec<u8>, Error> {
    let manifest = manifest_for(image, "motd", "1");
    let mut out = Vec::new();
    PackRequest {
        image,
        manifest: &manifest,
        keys: &[key()],
        mtime: 0,
        selinux: &[],
        extra: &[],
        diff_ids: &LayerDiffIds::of_uncompressed(image)?,
    }
    .write(&mut out)?;
    Ok(out)
}

fn read(bytes: &[u8]) -> Result<Bundle, Error> {
    bundle::read_bundle(&mut &bytes[..], &mut NoExtract)
}

fn check(bytes: &[u8]) -> Result<Verified<Bundle>, Error> {
    verify(read(bytes)?, &trust(), &NoPolicy, NOW).map_err(|r| r.error)
}

#[test]
fn a_two_platform_index_packs_and_verifies_with_every_platform_bound() {
    let dir = tempfile::tempdir().unwrap();
    let index = two_platforms(dir.path());
    let image = open(dir.path());
    assert_eq!(image.manifest, index);
    assert_eq!(image.platforms.len(), 2);
    let bytes = pack(&image).unwrap();
    // Deterministic, like every bundle.
    assert_eq!(bytes, pack(&open(dir.path())).unwrap());

    let v = check(&bytes).unwrap();
    assert_eq!(v.image.media_type, MT_OCI_INDEX);
    assert_eq!(v.image.digest, index.digest);
    let got: Vec<(Platform, Digest)> = v
        .platforms
        .iter()
        .map(|p| (p.platform.clone(), p.manifest.digest))
        .collect();
    assert_eq!(
        got,
        vec![
            (platform("amd64"), image.platforms[0].manifest.digest),
            (platform("arm64"), image.platforms[1].manifest.digest),
        ]
    );
    // The statement: the index and each platform manifest as subjects,
    // each platform with its own diff_ids.
    let release = v.release().unwrap();
    let st = ReleaseStatement::parse_release("r", &release.envelope.payload).unwrap();
    let subjects: Vec<(String, Digest)> = st
        .subject
        .iter()
        .map(|s| (s.name.clone(), s.sha256_digest().unwrap()))
        .collect();
    assert_eq!(
        subjects,
        vec![
            ("motd".to_owned(), index.digest),
            ("motd@linux/amd64".to_owned(), image.platforms[0].manifest.digest),
            ("motd@linux/arm64".to_owned(), image.platforms[1].manifest.digest),
        ]
    );
    let bound = st.predicate.platforms.unwrap();
    assert_eq!(bound.len(), 2);
    assert_eq!(bound[1].diff_ids, v.platforms[1].config.diff_ids);
    assert_ne!(bound[0].diff_ids, bound[1].diff_ids);
    assert!(st.predicate.diff_ids.is_empty());
    // Every blob of every platform is a member, the shared layer once.
    let blobs = v
        .members
        .iter()
        .filter(|m| m.path.starts_with(bundle::BLOB_PREFIX))
        .count();
    // index + 2 × (manifest + config + own layer) + 1 shared layer
    assert_eq!(blobs, 1 + 2 * 3 + 1);
}

#[test]
fn a_partial_index_is_refused_at_pack() {
    let dir = tempfile::tempdir().unwrap();
    two_platforms(dir.path());
    let image = open(dir.path());
    // skopeo copy without --all leaves the other platforms out.
    let arm = &image.platforms[1].manifest;
    std::fs::remove_file(dir.path().join("blobs/sha256").join(arm.digest.hex())).unwrap();
    let e = SourceImage::open(&format!("oci:{}:1", dir.path().display())).unwrap_err();
    assert!(e.to_string().contains("linux/arm64"), "{e}");
    assert!(e.to_string().contains("every platform"), "{e}");
    // A layer of one platform missing: the bundle cannot be written.
    let dir = tempfile::tempdir().unwrap();
    two_platforms(dir.path());
    let image = open(dir.path());
    let own = image.platforms[1].parts.layers[1].digest;
    std::fs::remove_file(dir.path().join("blobs/sha256").join(own.hex())).unwrap();
    assert!(pack(&image).is_err());
}

#[test]
fn an_index_entry_whose_config_says_another_platform_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let amd = platform_image(dir.path(), "amd64", "amd64");
    // Listed as arm64, but its config is amd64's: a host would run what
    // was signed for the other platform.
    let liar = platform_image(dir.path(), "arm64", "amd64");
    write_platform_index(
        dir.path(),
        &[(amd, platform("amd64")), (liar, platform("arm64"))],
        Some("1"),
    )
    .unwrap();
    let e = pack(&open(dir.path())).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    assert!(e.to_string().contains("linux/arm64"), "{e}");
}

#[test]
fn an_index_naming_a_platform_twice_or_none_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = platform_image(dir.path(), "amd64", "amd64");
    let b = platform_image(dir.path(), "amd64-2", "amd64");
    write_platform_index(
        dir.path(),
        &[(a.clone(), platform("amd64")), (b, platform("amd64"))],
        Some("1"),
    )
    .unwrap();
    let e = SourceImage::open(&format!("oci:{}:1", dir.path().display())).unwrap_err();
    assert!(e.to_string().contains("listed twice"), "{e}");
    write_platform_index(dir.path(), &[(a, platform("unknown"))], Some("1")).unwrap();
    let e = SourceImage::open(&format!("oci:{}:1", dir.path().display())).unwrap_err();
    assert!(e.to_string().contains("names no platform"), "{e}");
}

/// Re-signs `bytes` with its release statement edited by `edit`.
fn resign(bytes: &[u8], dir: &Path, edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let b = read(bytes).unwrap();
    let release = b.release().unwrap();
    let mut st: serde_json::Value = serde_json::from_slice(&release.envelope.payload).unwrap();
    edit(&mut st);
    let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, jcs::to_vec(&st).unwrap());
    env.sign(&key()).unwrap();
    let image = open(dir);
    let mut out = Vec::new();
    bundle::write_bundle(
        &BundleContents {
            manifest_toml: b.manifest.to_canonical_toml().unwrap().into_bytes(),
            attestations: vec![(RELEASE_ATTESTATION.to_owned(), env.to_bytes().unwrap())],
            selinux: Vec::new(),
            transparency: Vec::new(),
            rebuilds: Vec::new(),
            image: &image,
            mtime: 0,
        },
        &mut out,
    )
    .unwrap();
    out
}

#[test]
fn a_statement_that_does_not_bind_every_platform_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    two_platforms(dir.path());
    let bytes = pack(&open(dir.path())).unwrap();
    // Only the amd64 platform bound (and its subject): the arm64 blobs
    // would be carried but not signed.
    let dropped = resign(&bytes, dir.path(), |st| {
        st["predicate"]["platforms"].as_array_mut().unwrap().pop();
        st["subject"].as_array_mut().unwrap().pop();
    });
    let e = check(&dropped).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    assert!(
        e.to_string().contains("binds 1 platform(s), the image index names 2"),
        "{e}"
    );
    // No platforms at all: a statement of a single image over an index.
    let single = resign(&bytes, dir.path(), |st| {
        st["predicate"].as_object_mut().unwrap().remove("platforms");
        st["subject"].as_array_mut().unwrap().truncate(1);
    });
    let e = check(&single).unwrap_err();
    assert!(e.to_string().contains("binds no platforms"), "{e}");
    // Another diffIds for arm64: its layers are not what was signed.
    let swapped = resign(&bytes, dir.path(), |st| {
        let p = st["predicate"]["platforms"].as_array_mut().unwrap();
        let amd = p[0]["diffIds"].clone();
        p[1]["diffIds"] = amd;
    });
    let e = check(&swapped).unwrap_err();
    assert!(e.to_string().contains("diffIds"), "{e}");
    // The untouched re-signed statement verifies (the edits above are what failed).
    check(&resign(&bytes, dir.path(), |_| {})).unwrap();
}

#[test]
fn a_bundle_with_a_platform_blob_swapped_is_refused_when_read() {
    let dir = tempfile::tempdir().unwrap();
    two_platforms(dir.path());
    let image = open(dir.path());
    let mut bytes = pack(&image).unwrap();
    // Flip one byte of the arm64 platform's own layer data.
    let own = image.platforms[1].parts.layers[1].digest;
    let path = bundle::blob_path(&own);
    let at = bytes.windows(path.len()).position(|w| w == path.as_bytes()).unwrap();
    bytes[at + 512 + 10] ^= 1;
    let e = read(&bytes).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::DigestMismatch, "{e}");
}

/// The skeleton `ct fetch` builds from a registry for the bundle `packed`
/// of `image`: everything but the config and layer data.
fn skeleton(packed: &Bundle, image: &SourceImage) -> bundle::Skeleton {
    bundle::Skeleton {
        manifest_toml: packed.manifest.to_canonical_toml().unwrap().into_bytes(),
        attestations: packed
            .attestations
            .iter()
            .map(|a| (a.path.clone(), a.envelope.to_bytes().unwrap()))
            .collect(),
        selinux: Vec::new(),
        transparency: Vec::new(),
        rebuilds: Vec::new(),
        image: image.manifest.clone(),
        reference: packed.reference.clone(),
        manifest_bytes: image.manifest_bytes.clone(),
        platform_manifests: image.platforms.iter().map(|p| p.manifest_bytes.clone()).collect(),
        mtime: packed.mtime,
    }
}

fn layout_blob(dir: &Path, digest: &Digest) -> Vec<u8> {
    std::fs::read(dir.join("blobs/sha256").join(digest.hex())).unwrap()
}

/// A registry fetch of a multi-platform bundle (#15): the platform
/// manifests placed from the skeleton, every config and layer written in
/// any order, gives the packed bytes exactly; without the layers (`ct
/// verify docker://REF`), every platform's config is still read, and the
/// result verifies with the layers listed as not checked. Platform
/// manifest bytes that are not the index's are refused.
#[test]
fn a_multi_platform_bundle_assembles_to_the_packed_bytes() {
    let dir = tempfile::tempdir().unwrap();
    two_platforms(dir.path());
    let image = open(dir.path());
    let bytes = pack(&image).unwrap();
    let packed = read(&bytes).unwrap();
    let skel = skeleton(&packed, &image);

    let out = tempfile::tempfile().unwrap();
    let mut asm = bundle::Assembly::start(&skel, &out, "from the test").unwrap();
    let blobs: Vec<BlobRef> = asm.blobs().cloned().collect();
    // Two configs and three distinct layers (one shared): the platform
    // manifests are not slots, their bytes are known.
    assert_eq!(blobs.len(), 5);
    assert_eq!(asm.configs().len(), 2);
    for (i, b) in blobs.iter().enumerate().rev() {
        asm.write(i, &layout_blob(dir.path(), &b.digest)).unwrap();
    }
    let assembled = asm.finish().unwrap();
    assert_eq!(assembled.platforms.len(), 2);
    let mut got = Vec::new();
    let mut f = &out;
    std::io::Seek::rewind(&mut f).unwrap();
    std::io::Read::read_to_end(&mut f, &mut got).unwrap();
    assert_eq!(got, bytes);

    let out = tempfile::tempfile().unwrap();
    let mut asm = bundle::Assembly::start(&skel, &out, "from the test").unwrap();
    for i in asm.configs() {
        let b = asm.blobs().nth(i).cloned().unwrap();
        asm.write(i, &layout_blob(dir.path(), &b.digest)).unwrap();
    }
    let unpulled = asm.finish_unpulled().unwrap();
    assert_eq!(unpulled.not_pulled.len(), 3);
    cerro_core::verify::verify_unpulled(unpulled, &trust(), &NoPolicy, NOW).unwrap();

    // The arm64 manifest's bytes given as the amd64 one's.
    let mut bad = skeleton(&packed, &image);
    bad.platform_manifests[0] = bad.platform_manifests[1].clone();
    let e = bundle::Assembly::start(&bad, &out, "x").unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::DigestMismatch, "{e}");
    assert!(e.to_string().contains("(linux/amd64)"), "{e}");
    // One platform manifest missing.
    let mut bad = skeleton(&packed, &image);
    bad.platform_manifests.pop();
    let e = bundle::Assembly::start(&bad, &out, "x").unwrap_err();
    assert!(e.to_string().contains("2 platform manifest(s), 1 given"), "{e}");
}

/// The precheck of a fetch (before any image blob): the registry's index
/// is not the signed one. It names each platform swapped, added or
/// removed (exit 1), from the release envelope and the index alone.
#[test]
fn the_precheck_names_how_the_registry_s_index_differs_from_the_signed_one() {
    use cerro_core::image::{parse_platform_index, PlatformManifest};
    use cerro_core::precheck::release_signed_for;
    let dir = tempfile::tempdir().unwrap();
    two_platforms(dir.path());
    let image = open(dir.path());
    let packed = read(&pack(&image).unwrap()).unwrap();
    let release = packed.release().unwrap().envelope.to_bytes().unwrap();
    let signed = parse_platform_index("index", &image.manifest_bytes).unwrap();
    assert_eq!(
        release_signed_for(Some(&release), &image.manifest.digest, &signed, &trust(), NOW).unwrap(),
        1
    );
    let other_index = Digest::of(b"another index");
    let refused = |listed: &[PlatformManifest]| {
        let e = release_signed_for(Some(&release), &other_index, listed, &trust(), NOW).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::DigestMismatch, "{e}");
        e.to_string()
    };
    let mut swapped = signed.clone();
    swapped[1].manifest.digest = Digest::of(b"unsigned manifest");
    let e = refused(&swapped);
    assert!(
        e.contains(&format!(
            "platform linux/arm64 swapped: the registry names {}, the signed index {}",
            Digest::of(b"unsigned manifest"),
            signed[1].manifest.digest
        )),
        "{e}"
    );
    let mut added = signed.clone();
    added.push(PlatformManifest {
        manifest: swapped[1].manifest.clone(),
        platform: platform("s390x"),
    });
    assert!(refused(&added).contains("platform linux/s390x added"));
    assert!(refused(&signed[..1]).contains("platform linux/arm64 removed"));
    let mut reordered = signed.clone();
    reordered.reverse();
    assert!(refused(&reordered).contains("in another order"));
    // A single image in the registry where the statement signs an index.
    let e = release_signed_for(Some(&release), &other_index, &[], &trust(), NOW).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::Malformed, "{e}");
    assert!(
        e.to_string()
            .contains("it signs an image index, the registry holds an image manifest"),
        "{e}"
    );
}

/// Independent rebuilds of a multi-platform bundle (#18): one per key and
/// platform, `rebuilds/<key id>-<os>-<arch>.dsse.json`, whose image subject
/// is that platform's manifest and whose release subject is unchanged.
/// `verify` counts the host platform's and reports another platform's as
/// verified but not counted; a rebuild moved to another platform's name, or
/// to the single-image name, fails; a platform the index lacks, or no
/// platform at all, is refused at signing.
#[test]
fn a_platform_rebuild_binds_its_manifest_and_counts_for_its_platform_only() {
    use cerro_core::bundle::add_rebuild_to_file;
    use cerro_core::rebuild::{
        parse_path, rebuild_path, sign_platform_rebuild, sign_rebuild, Rebuild, DEFAULT_VERIFIER_ID,
    };
    use cerro_core::verify::RebuildStatus;

    let dir = tempfile::tempdir().unwrap();
    two_platforms(dir.path());
    let bytes = pack(&open(dir.path())).unwrap();
    let v = check(&bytes).unwrap();
    let host = cerro_core::image::host_architecture();
    assert!(
        host == "amd64" || host == "arm64",
        "the index built here holds amd64 and arm64; this host is {host}"
    );
    let other = if host == "amd64" { "arm64" } else { "amd64" };
    let manifest_of = |arch: &str| {
        v.platforms
            .iter()
            .find(|p| p.platform == platform(arch))
            .unwrap()
            .manifest
            .digest
    };
    let r = SigningKey::from_bytes(&[5; 32]);
    let mut t = trust();
    t.insert(KeyEntry::new("r", r.verifying_key(), TrustLevel::Full))
        .unwrap();

    let mine = sign_platform_rebuild(&v, Some(&platform(host)), &r, DEFAULT_VERIFIER_ID, NOW).unwrap();
    let theirs = sign_platform_rebuild(&v, Some(&platform(other)), &r, DEFAULT_VERIFIER_ID, NOW).unwrap();
    assert!(
        mine.path.ends_with(&format!("-linux-{host}.dsse.json")),
        "{}",
        mine.path
    );
    assert_eq!(parse_path(&mine.path), Some((mine.signer, Some(platform(host)))));
    let st: serde_json::Value = serde_json::from_slice(&mine.envelope.payload).unwrap();
    assert_eq!(st["subject"][0]["name"], "motd");
    assert_eq!(st["subject"][0]["digest"]["sha256"], manifest_of(host).hex());
    assert_eq!(st["subject"][1]["name"], RELEASE_ATTESTATION);
    assert_eq!(
        st["subject"][1]["digest"]["sha256"],
        Digest::of(&v.release().unwrap().envelope.payload).hex()
    );
    assert_eq!(
        st["predicate"]["resourceUri"],
        format!("pkg:oci/motd@sha256%3A{}", manifest_of(host).hex())
    );

    // An index is rebuilt per platform: none, or one it lacks, is refused.
    let none = sign_rebuild(&v, &r, DEFAULT_VERIFIER_ID, NOW).unwrap_err().to_string();
    assert!(
        none.contains("an index of 2 platforms and the rebuild names none"),
        "{none}"
    );
    let lacks = sign_platform_rebuild(&v, Some(&platform("s390x")), &r, DEFAULT_VERIFIER_ID, NOW)
        .unwrap_err()
        .to_string();
    assert!(
        lacks.contains("no platform linux/s390x (it has linux/amd64, linux/arm64)"),
        "{lacks}"
    );

    // Both written by one key: two members, read back with their platforms.
    let path = dir.path().join("m.ctp");
    std::fs::write(&path, &bytes).unwrap();
    for rb in [&mine, &theirs] {
        let b = bundle::read_bundle_file(&std::fs::File::open(&path).unwrap(), &mut NoExtract).unwrap();
        add_rebuild_to_file(&b, &path, rb.clone(), &path).unwrap();
    }
    let two = std::fs::read(&path).unwrap();
    let b = read(&two).unwrap();
    assert_eq!(b.rebuilds.len(), 2);
    let statuses = |b: Bundle| -> Vec<(Option<Platform>, RebuildStatus, String)> {
        verify(b, &t, &NoPolicy, NOW)
            .unwrap()
            .report()
            .rebuilds
            .iter()
            .map(|l| {
                (
                    parse_path(&l.path).unwrap().1,
                    l.status,
                    l.reason.clone().unwrap_or_default(),
                )
            })
            .collect()
    };
    let mut got = statuses(b);
    got.sort_by_key(|(p, ..)| p.as_ref().map(|p| p.architecture.clone()));
    let mut want = vec![
        (Some(platform(host)), RebuildStatus::Verified, String::new()),
        (Some(platform(other)), RebuildStatus::OtherPlatform, String::new()),
    ];
    want.sort_by_key(|(p, ..)| p.as_ref().map(|p| p.architecture.clone()));
    assert_eq!(got, want);

    // Another platform's rebuild under this platform's name: it names
    // another manifest, so it fails (it would count here otherwise).
    let mut moved = read(&bytes).unwrap();
    moved.rebuilds = vec![Rebuild::parse(&mine.path, &theirs.to_bytes().unwrap()).unwrap()];
    let got = statuses(moved);
    assert_eq!(got[0].1, RebuildStatus::Failed);
    assert!(got[0].2.contains("a rebuild of another image"), "{:?}", got[0]);
    // Under the single-image name: an index's rebuild must name its platform.
    let mut plain = read(&bytes).unwrap();
    plain.rebuilds = vec![Rebuild::parse(&rebuild_path(&mine.signer), &mine.to_bytes().unwrap()).unwrap()];
    let got = statuses(plain);
    assert_eq!(got[0].1, RebuildStatus::Failed);
    assert!(got[0].2.contains("the rebuild names none"), "{:?}", got[0]);
}
