//! Checks of `ct import`'s recipe readers (`cerro_import`): a `.dsc`'s
//! armour and deb822 paragraph, an APKBUILD's assignments, a Nix
//! derivation's ATerm, an RPM spec's preamble, a source RPM, a Debian
//! archive's Release and Sources text. Each parser must return (never panic) on any bytes,
//! and what it accepts must survive being written back and read again.

use cerro_import::{alpine, archive, deb822, debversion, fedora, nix, pgp, srpm, Options};

/// The `.dsc` reader: the OpenPGP armour taken apart, then the paragraph;
/// an accepted paragraph written back as deb822 parses to the same fields.
pub fn dsc(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(u) = pgp::unarmour("fuzz.dsc", text) else { return };
    let Ok(p) = deb822::parse_paragraph("fuzz.dsc", &u.body) else {
        return;
    };
    let mut out = String::new();
    for f in &p.fields {
        let mut lines = f.value.split('\n');
        out.push_str(&f.name);
        out.push(':');
        let first = lines.next().unwrap_or("");
        if !first.is_empty() {
            out.push(' ');
            out.push_str(first);
        }
        out.push('\n');
        for l in lines {
            out.push(' ');
            out.push_str(if l.is_empty() { "." } else { l });
            out.push('\n');
        }
    }
    let again = deb822::parse_paragraph("again", &out).expect("an accepted paragraph written back parses");
    let pairs = |p: &deb822::Paragraph| {
        p.fields
            .iter()
            .map(|f| (f.name.clone(), f.value.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(&p), pairs(&again), "a paragraph changed when written back");
}

/// The APKBUILD reader: accepted assignments written back single-quoted
/// read as the same values.
pub fn apkbuild(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(a) = alpine::parse("APKBUILD", text) else { return };
    let mut out = String::new();
    for (k, (v, _)) in &a.vars {
        out.push_str(k);
        out.push_str("='");
        out.push_str(&v.replace('\'', "'\\''"));
        out.push_str("'\n");
    }
    let again = alpine::parse("again", &out).expect("accepted assignments written back parse");
    let values = |a: &alpine::Assignments| {
        a.vars
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&a), values(&again), "values changed when written back");
}

/// The derivation reader accepts only what Nix writes: printing an
/// accepted derivation gives back the very bytes.
pub fn nix_drv(data: &[u8]) {
    let Ok(d) = nix::parse("fuzz.drv", data) else { return };
    assert_eq!(
        d.to_aterm(),
        data,
        "an accepted derivation is not printed back as it was read"
    );
}

/// The `.spec` reader: an accepted preamble written back (macros, then
/// tags, `%` escaped) reads as the same tags and macros.
pub fn rpm_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(s) = fedora::parse("fuzz.spec", text) else {
        return;
    };
    let esc = |v: &str| v.replace('%', "%%");
    let mut out = String::new();
    for (k, v) in &s.macros {
        if !matches!(k.as_str(), "name" | "version" | "release" | "epoch") {
            out.push_str(&format!("%global {k} {}\n", esc(v)));
        }
    }
    for (shown, values, _) in s.tags.values() {
        for v in values {
            out.push_str(&format!("{shown}: {}\n", esc(v)));
        }
    }
    let again = fedora::parse("again.spec", &out).expect("an accepted preamble written back parses");
    let tags = |s: &fedora::Spec| {
        s.tags
            .iter()
            .map(|(k, (_, v, _))| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(tags(&s), tags(&again), "tags changed when written back");
    assert_eq!(s.macros, again.macros, "macros changed when written back");
}

/// The `.src.rpm` reader (`ct import fedora:FILE.src.rpm`): lead and header
/// sizes bounded by hand, header entries within their data, every payload
/// file against the header's digest. Any bytes: an import or a refusal.
pub fn srpm(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("fuzz-1.0-1.src.rpm");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let opts = Options {
        keyring: None,
        upstream: Some("https://example.org/fuzz".into()),
    };
    if let Ok(done) = srpm::import_srpm(&path, &opts) {
        // What it accepts is a manifest the rest of ct reads.
        done.draft.validate().expect("an imported SRPM gives a valid draft");
    }
}

/// A Debian archive's signed text (`ct import debian:PKG`, after `gpgv`):
/// the Release paragraph, a blank line, then Sources stanzas separated by
/// blank lines. Any bytes: a chosen version or a refusal; and dpkg's
/// version order is a total order on the versions seen.
pub fn debian_archive(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (release, rest) = text.split_once("\n\n\n").unwrap_or((text, ""));
    let stanzas: Vec<String> = rest
        .split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .map(|s| format!("{}\n", s.trim_end_matches('\n')))
        .collect();
    let req = archive::Request {
        package: "hello".into(),
        version: None,
        suite: "bookworm".into(),
        mirror: "http://deb.example".into(),
        keyring: std::path::PathBuf::from("/nonexistent"),
        now: crate::NOW,
        work: std::env::temp_dir(),
    };
    let _ = archive::read_signed_text(release, &stanzas, &req);
    let versions: Vec<&str> = stanzas
        .iter()
        .flat_map(|s| s.lines())
        .filter_map(|l| l.strip_prefix("Version: "))
        .take(16)
        .collect();
    for a in &versions {
        assert_eq!(
            debversion::compare(a, a),
            std::cmp::Ordering::Equal,
            "{a:?} is not equal to itself"
        );
        for b in &versions {
            assert_eq!(
                debversion::compare(a, b),
                debversion::compare(b, a).reverse(),
                "dpkg's order is not antisymmetric on {a:?}, {b:?}"
            );
        }
    }
}
