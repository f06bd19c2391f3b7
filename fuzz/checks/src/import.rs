//! Checks of `ct import`'s recipe readers (`cerro_import`): a `.dsc`'s
//! armour and deb822 paragraph, an APKBUILD's assignments, a Nix
//! derivation's ATerm. Each parser must return (never panic) on any bytes,
//! and what it accepts must survive being written back and read again.

use cerro_import::{alpine, deb822, nix, pgp};

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
