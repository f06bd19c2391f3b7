//! `ct import debian:PKG[=VERSION]`: a source package taken from an
//! archive through its chain of trust (spec/import.md §2.6).
//!
//! Offline: the test makes its own archive — a native source package
//! built by `dpkg-source -b`, its Sources stanza written by
//! `dpkg-scansources`, a Release listing the index's digests, clearsigned
//! into InRelease by a throwaway gpg key (a private GNUPGHOME) — and serves
//! it with Debian's nginx on 127.0.0.1. apt judges the archive (`apt-get
//! source --download-only` under a private configuration takes the same
//! files, and refuses the expired Release and the other key's signature as
//! ct does); `dpkg-source -x` extracts what ct downloaded. Each broken link
//! of the chain is refused with its exit code from the one table and
//! writes nothing.
//!
//! Online (skipped with a message when the mirror cannot be reached):
//! bookworm's `hello` through the machine's mirror and Debian's archive
//! keyring, the files judged by `dpkg-source -x` and by the `.dsc` apt
//! fetches (scripts/debian-source).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use cerro_core::digest::Digest;
use cerro_integration::tlog::nginx;
use cerro_integration::{ct_status, pyvenv, require, run};
use serde_json::Value;

/// Builds the native source package `greet 1.0` in `dir` with `dpkg-source
/// -b`; returns the names of its files (.dsc first).
fn build_greet(dir: &Path, version: &str) -> Vec<String> {
    require("dpkg-source");
    let src = dir.join(format!("greet-{version}"));
    let deb = src.join("debian");
    fs::create_dir_all(deb.join("source")).unwrap();
    fs::write(src.join("greet.c"), "int main(){return 0;}\n").unwrap();
    fs::write(deb.join("source/format"), "3.0 (native)\n").unwrap();
    fs::write(
        deb.join("control"),
        "Source: greet\nSection: misc\nPriority: optional\nMaintainer: Test <test@example.org>\n\
         Standards-Version: 4.6.2\nHomepage: https://example.org/greet\n\n\
         Package: greet\nArchitecture: any\nDescription: greets\n Greets.\n",
    )
    .unwrap();
    fs::write(
        deb.join("changelog"),
        format!(
            "greet ({version}) unstable; urgency=medium\n\n  * Initial.\n\n -- Test <test@example.org>  Sat, 05 Dec 2026 00:00:00 +0000\n"
        ),
    )
    .unwrap();
    run(Command::new("dpkg-source")
        .args(["-b", &format!("greet-{version}")])
        .current_dir(dir));
    vec![format!("greet_{version}.dsc"), format!("greet_{version}.tar.xz")]
}

/// A throwaway OpenPGP signing key in `gnupg`; its public keyring is written to `keyring`.
fn gpg_key(gnupg: &Path, uid: &str, keyring: &Path) {
    require("gpg");
    fs::create_dir_all(gnupg).unwrap();
    run(gpg(gnupg).args(["--quick-gen-key", uid, "ed25519", "sign", "never"]));
    let out = run(gpg(gnupg).args(["--export", uid]));
    fs::write(keyring, out.stdout).unwrap();
}

fn gpg(gnupg: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.env("GNUPGHOME", gnupg)
        .args(["--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""]);
    c
}

/// `date -R` of unix time `t` (the Release's date format, as written by dak).
fn rfc2822(t: i64) -> String {
    let out = run(Command::new("date")
        .env("LC_ALL", "C")
        .args(["-u", "-R", "-d", &format!("@{t}")]));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// How one mirror of the test differs from a good one.
#[derive(Default)]
struct Twist {
    /// The Release's `Suite`/`Codename` (default `test`).
    suite: Option<&'static str>,
    /// The Release's `Date` relative to now (default an hour ago).
    date: Option<i64>,
    /// The Release's `Valid-Until` relative to now (default in a week).
    valid_until: Option<i64>,
    /// Changes the Sources text before it is compressed and listed.
    sources: Option<fn(&str) -> String>,
    /// Changes the Sources.xz after the Release was signed.
    tamper_index: bool,
    /// Changes one byte of the .dsc after the index was written.
    tamper_dsc: bool,
    /// `Acquire-By-Hash: yes`, the index only under by-hash/SHA256/.
    by_hash: bool,
    /// The index as Sources.gz only.
    gz_only: bool,
}

/// Lays out a mirror under `root/name`: pool, Sources(.xz), Release signed
/// into InRelease by the key in `gnupg`, under `dists/test`.
fn mirror(root: &Path, name: &str, src: &Path, files: &[String], gnupg: &Path, t: &Twist) {
    let m = root.join(name);
    let pool = m.join("pool/main/g/greet");
    fs::create_dir_all(&pool).unwrap();
    for f in files {
        fs::copy(src.join(f), pool.join(f)).unwrap();
    }
    require("dpkg-scansources");
    let scanned = run(Command::new("dpkg-scansources").arg("pool").current_dir(&m));
    let mut sources = String::from_utf8(scanned.stdout).unwrap();
    if let Some(f) = t.sources {
        sources = f(&sources);
    }
    let dir = m.join("dists/test/main/source");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Sources"), &sources).unwrap();
    let index = if t.gz_only {
        run(Command::new("gzip").args(["-k", "-9", "-n"]).arg(dir.join("Sources")));
        "Sources.gz"
    } else {
        run(Command::new("xz").args(["-k", "-9"]).arg(dir.join("Sources")));
        "Sources.xz"
    };
    let entry = |p: &str| {
        let b = fs::read(dir.join(p)).unwrap();
        format!(" {} {} main/source/{p}\n", Digest::of(&b).hex(), b.len())
    };
    let suite = t.suite.unwrap_or("test");
    let release = format!(
        "Origin: Test\nLabel: Test\nSuite: {suite}\nCodename: {suite}\nDate: {}\nValid-Until: {}\n\
         Architectures: amd64 source\nComponents: main\nDescription: a test archive\n{}SHA256:\n{}{}",
        rfc2822(now() + t.date.unwrap_or(-3600)),
        rfc2822(now() + t.valid_until.unwrap_or(7 * 86400)),
        if t.by_hash { "Acquire-By-Hash: yes\n" } else { "" },
        entry("Sources"),
        entry(index),
    );
    if t.by_hash {
        let by = dir.join("by-hash/SHA256");
        fs::create_dir_all(&by).unwrap();
        let b = fs::read(dir.join(index)).unwrap();
        fs::write(by.join(Digest::of(&b).hex()), b).unwrap();
        fs::remove_file(dir.join(index)).unwrap();
    }
    fs::write(m.join("dists/test/Release"), release).unwrap();
    run(gpg(gnupg)
        .args(["--clearsign", "--digest-algo", "SHA512", "-o"])
        .arg(m.join("dists/test/InRelease"))
        .arg(m.join("dists/test/Release")));
    if t.tamper_index {
        // Another index of the same size: the same bytes, one flipped, recompressed would differ in size.
        let xz = dir.join("Sources.xz");
        let mut b = fs::read(&xz).unwrap();
        let i = b.len() / 2;
        b[i] ^= 1;
        fs::write(&xz, b).unwrap();
    }
    if t.tamper_dsc {
        let dsc = pool.join(&files[0]);
        let text = fs::read_to_string(&dsc).unwrap().replace(
            "Homepage: https://example.org/greet",
            "Homepage: https://exampl3.org/greet",
        );
        assert_eq!(text.len(), fs::metadata(&dsc).unwrap().len() as usize);
        fs::write(&dsc, text).unwrap();
    }
}

/// python-debian reads the downloaded InRelease and Sources index: the
/// Release's SHA-256 of the index and the stanza's directory and file
/// digests are the ones the evidence records.
fn judge_python_debian(dl: &Path, ev: &Value) {
    let arch = &ev["archive"];
    let version = arch["stanza"]["version"].as_str().unwrap();
    let package = arch["stanza"]["package"].as_str().unwrap();
    let out = run(Command::new(pyvenv().join("bin/python"))
        .arg("-c")
        .arg(
            "import json, lzma, sys\nfrom debian.deb822 import Release, Sources\n\
             with open(sys.argv[1]) as f:\n    r = Release(f)\n\
             idx = {e['name']: [e['sha256'], int(e['size'])] for e in r['SHA256']}\n\
             found = []\n\
             with lzma.open(sys.argv[2], 'rt') as f:\n    for s in Sources.iter_paragraphs(f, use_apt_pkg=False):\n\
             \x20       if s['Package'] == sys.argv[3] and s['Version'] == sys.argv[4]:\n\
             \x20           found.append({'directory': s['Directory'], 'files': [[s['Directory'] + '/' + c['name'], c['sha256'], int(c['size'])] for c in s['Checksums-Sha256']]})\n\
             print(json.dumps({'index': idx.get('main/source/Sources.xz'), 'stanzas': found}))\n",
        )
        .arg(dl.join("InRelease"))
        .arg(dl.join("Sources.xz"))
        .arg(package)
        .arg(version));
    let py: Value = serde_json::from_slice(&out.stdout).unwrap();
    let xz = &arch["sources"][0];
    assert_eq!(
        py["index"],
        serde_json::json!([
            xz["sha256"].as_str().unwrap().strip_prefix("sha256:").unwrap(),
            xz["size"]
        ]),
        "python-debian's Release"
    );
    assert_eq!(py["stanzas"].as_array().unwrap().len(), 1, "{py}");
    let stanza = &py["stanzas"][0];
    assert_eq!(stanza["directory"], arch["stanza"]["directory"]);
    let mut theirs: Vec<Value> = stanza["files"].as_array().unwrap().clone();
    let mut ours: Vec<Value> = arch["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            serde_json::json!([
                f["path"],
                f["sha256"].as_str().unwrap().strip_prefix("sha256:").unwrap(),
                f["size"]
            ])
        })
        .collect();
    theirs.sort_by_key(|v| v.to_string());
    ours.sort_by_key(|v| v.to_string());
    assert_eq!(ours, theirs, "python-debian's Sources stanza");
}

fn import(home: &Path, args: &[&str]) -> (i32, String) {
    let mut a = vec!["import"];
    a.extend_from_slice(args);
    ct_status(home, &a)
}

/// `ct import debian:PKG --mirror URL --suite test --keyring KR`, refused
/// with `code`, naming each of `needles`, writing nothing.
fn refused(home: &Path, out_dir: &Path, source: &str, mirror: &str, keyring: &Path, code: i32, needles: &[&str]) {
    let out = out_dir.join("refused.toml");
    let (got, text) = import(
        home,
        &[
            source,
            "-o",
            out.to_str().unwrap(),
            "--mirror",
            mirror,
            "--suite",
            "test",
            "--keyring",
            keyring.to_str().unwrap(),
        ],
    );
    assert_eq!(got, code, "{source} from {mirror}: {text}");
    for n in needles {
        assert!(text.contains(n), "{n:?} not in: {text}");
    }
    assert!(!out.exists(), "a refused import wrote {}", out.display());
    assert!(!out_dir.join("refused.evidence.json").exists());
}

/// apt's verdict on the mirror: `apt-get update` then `apt-get source
/// --download-only greet` under a private configuration trusting `keyring`
/// only. Returns the directory the source was downloaded into, or apt's
/// complaint.
fn apt_source(work: &Path, mirror: &str, keyring: &Path) -> Result<PathBuf, String> {
    require("apt-get");
    let a = work.join("apt");
    for d in [
        "lists/partial",
        "archives/partial",
        "etc/sources.list.d",
        "etc/preferences.d",
        "state",
        "cache",
    ] {
        fs::create_dir_all(a.join(d)).unwrap();
    }
    fs::write(a.join("state/status"), "").unwrap();
    fs::write(
        a.join("etc/sources.list"),
        format!("deb-src [signed-by={}] {mirror} test main\n", keyring.display()),
    )
    .unwrap();
    let opts = |c: &mut Command| {
        for (k, v) in [
            ("Dir::Etc::SourceList", a.join("etc/sources.list")),
            ("Dir::Etc::SourceParts", a.join("etc/sources.list.d")),
            ("Dir::Etc::Preferences", a.join("etc/preferences")),
            ("Dir::Etc::PreferencesParts", a.join("etc/preferences.d")),
            ("Dir::State", a.join("state")),
            ("Dir::State::Lists", a.join("lists")),
            ("Dir::State::Status", a.join("state/status")),
            ("Dir::Cache", a.join("cache")),
            ("Dir::Cache::Archives", a.join("archives")),
        ] {
            c.arg("-o").arg(format!("{k}={}", v.display()));
        }
        // As root apt would fetch as _apt, which cannot read the test's private directories.
        c.args([
            "-o",
            "Debug::NoLocking=true",
            "-o",
            "Acquire::Retries=0",
            "-o",
            "APT::Sandbox::User=root",
        ]);
        // apt's defaults, which a machine's configuration may turn off (snapshot mirrors).
        c.args([
            "-o",
            "Acquire::Check-Valid-Until=true",
            "-o",
            "Acquire::Check-Date=true",
        ]);
    };
    let mut up = Command::new("apt-get");
    opts(&mut up);
    let out = up.args(["-q", "update"]).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || said.contains("W: ") || said.contains("E: ") {
        return Err(said);
    }
    let dl = work.join("apt-source");
    fs::create_dir_all(&dl).unwrap();
    let mut src = Command::new("apt-get");
    opts(&mut src);
    let out = src
        .args(["-q", "source", "--download-only", "greet"])
        .current_dir(&dl)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(dl)
}

struct Archive {
    _web: cerro_integration::tlog::Killed,
    addr: SocketAddr,
    keyring: PathBuf,
    other_keyring: PathBuf,
    files: Vec<String>,
    src: PathBuf,
}

impl Archive {
    fn url(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }
}

/// Every mirror of the test under one nginx: `good`, and one per broken link.
fn archive(d: &Path) -> Archive {
    let src = d.join("src");
    fs::create_dir_all(&src).unwrap();
    let files = build_greet(&src, "1.0");
    let newer = build_greet(&src, "1.1");
    let gnupg = d.join("gnupg");
    let keyring = d.join("archive.gpg");
    gpg_key(&gnupg, "Test Archive <archive@example.org>", &keyring);
    let other_gnupg = d.join("gnupg-other");
    let other_keyring = d.join("other.gpg");
    gpg_key(&other_gnupg, "Other <other@example.org>", &other_keyring);
    let root = d.join("www");
    let m = |name: &str, t: Twist| mirror(&root, name, &src, &files, &gnupg, &t);
    m("good", Twist::default());
    m(
        "tampered-index",
        Twist {
            tamper_index: true,
            ..Twist::default()
        },
    );
    m(
        "tampered-dsc",
        Twist {
            tamper_dsc: true,
            ..Twist::default()
        },
    );
    m(
        "expired",
        Twist {
            date: Some(-30 * 86400),
            valid_until: Some(-86400),
            ..Twist::default()
        },
    );
    m(
        "future",
        Twist {
            date: Some(86400),
            ..Twist::default()
        },
    );
    m(
        "other-suite",
        Twist {
            suite: Some("unstable"),
            ..Twist::default()
        },
    );
    m(
        "duplicate",
        Twist {
            sources: Some(|s| format!("{s}\n{s}")),
            ..Twist::default()
        },
    );
    m(
        "by-hash",
        Twist {
            by_hash: true,
            ..Twist::default()
        },
    );
    m(
        "gz-only",
        Twist {
            gz_only: true,
            ..Twist::default()
        },
    );
    mirror(&root, "other-key", &src, &files, &other_gnupg, &Twist::default());
    // Two versions: the highest is taken unless one is asked for.
    let mut both = files.clone();
    both.extend(newer);
    mirror(&root, "two-versions", &src, &both, &gnupg, &Twist::default());
    let (web, addr) = nginx(&root, &d.join("nginx"));
    Archive {
        _web: web,
        addr,
        keyring,
        other_keyring,
        files,
        src,
    }
}

#[test]
fn a_test_archive_is_imported_through_its_chain_and_each_broken_link_refused() {
    require("gpgv");
    require("xz");
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let a = archive(d.path());

    // apt accepts the good mirror and takes the very files ct will take.
    let apt_dir = apt_source(&d.path().join("apt-good"), &a.url("good"), &a.keyring).unwrap();
    for f in &a.files {
        assert_eq!(
            fs::read(apt_dir.join(f)).unwrap(),
            fs::read(a.src.join(f)).unwrap(),
            "apt's {f}"
        );
    }

    let out = d.path().join("greet.toml");
    let dl = d.path().join("dl");
    let (code, text) = import(
        home.path(),
        &[
            "debian:greet",
            "-o",
            out.to_str().unwrap(),
            "--mirror",
            &a.url("good"),
            "--suite",
            "test",
            "--keyring",
            a.keyring.to_str().unwrap(),
            "--download-dir",
            dl.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let manifest = fs::read_to_string(&out).unwrap();
    let dsc_digest = Digest::of(&fs::read(a.src.join("greet_1.0.dsc")).unwrap());
    let tar_digest = Digest::of(&fs::read(a.src.join("greet_1.0.tar.xz")).unwrap());
    assert_eq!(
        manifest,
        format!(
            "[package]\nname = \"greet\"\nversion = \"1.0\"\nhomepage = \"https://example.org/greet\"\n\n\
             [provenance]\nupstream = \"https://example.org/greet\"\nupstream_hash = \"{tar_digest}\"\n\
             imported_from = \"debian:greet_1.0.dsc\"\nimported_from_hash = \"{dsc_digest}\"\n\n\
             [build]\nsystem = \"debian\"\n"
        )
    );
    let ev: Value = serde_json::from_slice(&fs::read(d.path().join("greet.evidence.json")).unwrap()).unwrap();
    assert_eq!(ev["importer"], "debian-archive");
    let arch = &ev["archive"];
    let inrelease = fs::read(d.path().join("www/good/dists/test/InRelease")).unwrap();
    assert_eq!(arch["release"]["sha256"], Digest::of(&inrelease).to_string().as_str());
    assert_eq!(arch["release"]["path"], "dists/test/InRelease");
    let fpr = String::from_utf8(
        run(Command::new("gpg")
            .env("GNUPGHOME", d.path().join("gnupg"))
            .args(["--with-colons", "--list-keys"]))
        .stdout,
    )
    .unwrap()
    .lines()
    .find(|l| l.starts_with("fpr:"))
    .unwrap()
    .split(':')
    .nth(9)
    .unwrap()
    .to_owned();
    assert_eq!(arch["release"]["signed_by"], serde_json::json!([fpr]));
    let xz = fs::read(d.path().join("www/good/dists/test/main/source/Sources.xz")).unwrap();
    assert_eq!(arch["sources"][0]["sha256"], Digest::of(&xz).to_string().as_str());
    assert_eq!(arch["sources"][0]["size"], xz.len());
    let plain = fs::read(d.path().join("www/good/dists/test/main/source/Sources")).unwrap();
    assert_eq!(arch["sources"][1]["sha256"], Digest::of(&plain).to_string().as_str());
    assert_eq!(arch["stanza"]["directory"], "pool/main/g/greet");
    assert_eq!(arch["files"][0]["path"], "pool/main/g/greet/greet_1.0.dsc");
    assert_eq!(arch["files"][0]["sha256"], dsc_digest.to_string().as_str());
    // dpkg-source extracts (and checks) what ct downloaded.
    let x = d.path().join("x");
    run(Command::new("dpkg-source")
        .arg("-x")
        .arg(dl.join("greet_1.0.dsc"))
        .arg(&x));
    assert!(x.join("greet.c").exists());
    judge_python_debian(&dl, &ev);

    // The same import again: the same bytes.
    let again = d.path().join("again.toml");
    let (code, text) = import(
        home.path(),
        &[
            "debian:greet",
            "-o",
            again.to_str().unwrap(),
            "--mirror",
            &a.url("good"),
            "--suite",
            "test",
            "--keyring",
            a.keyring.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(fs::read(&again).unwrap(), manifest.as_bytes());
    assert_eq!(
        fs::read(d.path().join("again.evidence.json")).unwrap(),
        fs::read(d.path().join("greet.evidence.json")).unwrap()
    );

    // A keyring given by a relative path is that file, not one in $GNUPGHOME
    // (where gpgv looks for a name without '/').
    let rel = cerro_integration::ct(home.path())
        .current_dir(d.path())
        .args([
            "import",
            "debian:greet",
            "-o",
            "rel.toml",
            "--mirror",
            &a.url("good"),
            "--suite",
            "test",
        ])
        .args(["--keyring", "archive.gpg"])
        .output()
        .unwrap();
    assert!(rel.status.success(), "{}", String::from_utf8_lossy(&rel.stderr));
    assert_eq!(fs::read(d.path().join("rel.toml")).unwrap(), manifest.as_bytes());

    // The index by hash only (Acquire-By-Hash), and as Sources.gz only: the same import.
    for name in ["by-hash", "gz-only"] {
        let o = d.path().join(format!("{name}.toml"));
        let (code, text) = import(
            home.path(),
            &[
                "debian:greet",
                "-o",
                o.to_str().unwrap(),
                "--mirror",
                &a.url(name),
                "--suite",
                "test",
                "--keyring",
                a.keyring.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "{name}: {text}");
        assert_eq!(fs::read(&o).unwrap(), manifest.as_bytes(), "{name}");
    }

    // Two versions: the highest, unless one is asked for.
    for (source, want) in [("debian:greet", "1.1"), ("debian:greet=1.0", "1.0")] {
        let o = d.path().join("v.toml");
        let (code, text) = import(
            home.path(),
            &[
                source,
                "-o",
                o.to_str().unwrap(),
                "--mirror",
                &a.url("two-versions"),
                "--suite",
                "test",
                "--keyring",
                a.keyring.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "{text}");
        assert!(
            fs::read_to_string(&o)
                .unwrap()
                .contains(&format!("version = \"{want}\"")),
            "{source}"
        );
    }

    let h = home.path();
    let o = d.path();
    let kr = &a.keyring;
    // A Sources.xz that is not the one the Release names: exit 1, naming it.
    refused(
        h,
        o,
        "debian:greet",
        &a.url("tampered-index"),
        kr,
        1,
        &["Sources.xz", "sha256", "InRelease SHA256"],
    );
    // A .dsc that is not the one the Sources index names: exit 1.
    refused(
        h,
        o,
        "debian:greet",
        &a.url("tampered-dsc"),
        kr,
        1,
        &["greet_1.0.dsc", "Checksums-Sha256"],
    );
    // Signed by a key the keyring does not hold: exit 3.
    refused(
        h,
        o,
        "debian:greet",
        &a.url("other-key"),
        kr,
        3,
        &["InRelease", "not signed by a key of"],
    );
    // With the other key's keyring, the good mirror is refused the same way.
    refused(
        h,
        o,
        "debian:greet",
        &a.url("good"),
        &a.other_keyring,
        3,
        &["not signed by a key of"],
    );
    // Expired, and dated in the future: exit 2, saying which.
    refused(
        h,
        o,
        "debian:greet",
        &a.url("expired"),
        kr,
        2,
        &["Valid-Until", "expired"],
    );
    refused(
        h,
        o,
        "debian:greet",
        &a.url("future"),
        kr,
        2,
        &["Date", "in the future"],
    );
    // Another suite's Release served for this one: exit 2.
    refused(
        h,
        o,
        "debian:greet",
        &a.url("other-suite"),
        kr,
        2,
        &["suite \"unstable\""],
    );
    // Two stanzas of one version: ambiguous, exit 10.
    refused(h, o, "debian:greet", &a.url("duplicate"), kr, 10, &["ambiguous"]);
    // Not in the archive, or not in that version: exit 11, naming what it has.
    refused(
        h,
        o,
        "debian:absent",
        &a.url("good"),
        kr,
        11,
        &["absent is not in", "no version of it"],
    );
    refused(
        h,
        o,
        "debian:greet=9.9",
        &a.url("good"),
        kr,
        11,
        &["greet=9.9 is not in", "versions 1.0"],
    );
    // A mirror with no archive at all: exit 11 (the InRelease is not there).
    refused(
        h,
        o,
        "debian:greet",
        &a.url("nothing"),
        kr,
        11,
        &["dists/test/InRelease"],
    );

    // apt refuses the same Release files.
    for (name, keyring, says) in [
        ("expired", kr, "expired"),
        ("future", kr, "not valid yet"),
        ("other-key", kr, "NO_PUBKEY"),
    ] {
        let e = apt_source(&d.path().join(format!("apt-{name}")), &a.url(name), keyring).unwrap_err();
        assert!(e.contains(says), "apt on {name}: {e}");
    }
}

#[test]
fn bookworm_hello_through_the_machines_mirror_is_imported_and_judged() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("hello.toml");
    let dl = d.path().join("dl");
    let (code, text) = import(
        home.path(),
        &[
            "debian:hello",
            "-o",
            out.to_str().unwrap(),
            "--download-dir",
            dl.to_str().unwrap(),
        ],
    );
    if code == 12 {
        eprintln!("SKIPPED: the machine's Debian mirror cannot be reached: {text}");
        return;
    }
    assert_eq!(code, 0, "{text}");
    let ev: Value = serde_json::from_slice(&fs::read(d.path().join("hello.evidence.json")).unwrap()).unwrap();
    let arch = &ev["archive"];
    assert_eq!(arch["release"]["codename"], "bookworm");
    assert!(
        arch["release"]["signed_by"].as_array().is_some_and(|s| !s.is_empty()),
        "{arch}"
    );
    let version = arch["stanza"]["version"].as_str().unwrap().to_owned();
    let dsc = dl.join(format!("hello_{version}.dsc"));
    // dpkg-source checks every file against the .dsc and extracts it.
    run(Command::new("dpkg-source").arg("-x").arg(&dsc).arg(d.path().join("x")));
    let manifest = fs::read_to_string(&out).unwrap();
    assert!(manifest.contains(&format!("version = \"{version}\"")), "{manifest}");
    judge_python_debian(&dl, &ev);
    // apt, through its own chain (scripts/debian-source), takes the same .dsc.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/debian-source");
    let got = Command::new(&script).arg("hello").output().unwrap();
    if got.status.code() == Some(0) {
        let apt_dsc = PathBuf::from(String::from_utf8_lossy(&got.stdout).trim());
        assert_eq!(fs::read(&apt_dsc).unwrap(), fs::read(&dsc).unwrap(), "apt's .dsc");
    } else {
        eprintln!(
            "apt's copy not compared: {}",
            String::from_utf8_lossy(&got.stderr).trim()
        );
    }
}
