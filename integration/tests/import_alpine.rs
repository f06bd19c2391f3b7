//! `ct import` of Alpine APKBUILDs, read as data and judged by a shell:
//! `dash` sources the same file with a cleared environment and prints the
//! variables ct read; they must agree. Values that need evaluation, and
//! other hostile recipes, are refused naming the line or variable, with
//! nothing written.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::fs;
use std::path::Path;
use std::process::Command;

use cerro_core::digest::Digest;
use cerro_integration::{ct_status, require, run};
use serde_json::Value;

/// The variables ct reads, in `cerro_import::alpine::READ`'s order.
const READ: [&str; 10] = [
    "pkgname",
    "pkgver",
    "pkgrel",
    "pkgdesc",
    "url",
    "license",
    "depends",
    "makedepends",
    "source",
    "sha512sums",
];

fn sha512sum(dir: &Path, file: &str) -> String {
    let out = run(Command::new("sha512sum").arg(file).current_dir(dir));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// An APKBUILD in Alpine's style, with its upstream tarball and patch beside it.
fn fixture(dir: &Path) {
    fs::write(
        dir.join("hello-2.12.tar.gz"),
        b"not really a tarball, but bytes with a digest\n",
    )
    .unwrap();
    fs::write(
        dir.join("fix-greeting.patch"),
        b"--- a/src/hello.c\n+++ b/src/hello.c\n@@ -1 +1 @@\n-a\n+b\n",
    )
    .unwrap();
    let tar = sha512sum(dir, "hello-2.12.tar.gz");
    let patch = sha512sum(dir, "fix-greeting.patch");
    let text = format!(
        r#"# Contributor: Test <test@example.org>
# Maintainer: Test <test@example.org>
pkgname=hello
pkgver=2.12
pkgrel=1
pkgdesc="The GNU \"Hello, world\" program"
url="https://www.gnu.org/software/hello/"
arch="all"
license='GPL-3.0-or-later'
depends=""
makedepends="gettext-dev
	texinfo"
subpackages="$pkgname-doc $pkgname-lang"
source="https://ftp.gnu.org/gnu/hello/hello-$pkgver.tar.gz
	fix-greeting.patch
	"
builddir="$srcdir/$pkgname-$pkgver"

build() {{
	./configure \
		--build=$CBUILD \
		--prefix=/usr
	make -j$(nproc)
}}

check() {{
	make check
}}

package() {{
	make DESTDIR="$pkgdir" install
}}

sha512sums="
{tar}  hello-2.12.tar.gz
{patch}  fix-greeting.patch
"
"#
    );
    // builddir uses $srcdir, which abuild sets: that line alone would be refused.
    let text = text.replace("builddir=\"$srcdir/$pkgname-$pkgver\"\n", "");
    fs::write(dir.join("APKBUILD"), text).unwrap();
}

/// The variables as dash sees them after sourcing the file in a cleared environment.
fn dash_values(dir: &Path) -> Vec<String> {
    require("dash");
    let script = format!(
        ". ./APKBUILD; printf '%s\\0' {}",
        READ.iter().map(|v| format!("\"${v}\"")).collect::<Vec<_>>().join(" ")
    );
    let out = run(Command::new("env").args(["-i", "dash", "-c", &script]).current_dir(dir));
    let s = String::from_utf8(out.stdout).unwrap();
    let mut v: Vec<String> = s.split('\0').map(str::to_string).collect();
    v.pop();
    v
}

fn import(home: &Path, args: &[&str]) -> (i32, String) {
    let mut a = vec!["import"];
    a.extend_from_slice(args);
    ct_status(home, &a)
}

#[test]
fn an_apkbuild_is_read_as_dash_reads_it() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let apkbuild = d.path().join("APKBUILD");
    let out = d.path().join("m.toml");
    let (code, text) = import(
        home.path(),
        &[&format!("alpine:{}", apkbuild.display()), "-o", out.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{text}");
    let ev: Value = serde_json::from_slice(&fs::read(d.path().join("m.evidence.json")).unwrap()).unwrap();
    let dash = dash_values(d.path());
    assert_eq!(dash.len(), READ.len());
    for (name, theirs) in READ.iter().zip(&dash) {
        let ours = ev["fields"][name].as_str().unwrap_or("");
        assert_eq!(ours, theirs, "{name}: ct read {ours:?}, dash {theirs:?}");
    }
    let tar = Digest::of(&fs::read(d.path().join("hello-2.12.tar.gz")).unwrap());
    let patch = Digest::of(&fs::read(d.path().join("fix-greeting.patch")).unwrap());
    let recipe = Digest::of(&fs::read(&apkbuild).unwrap());
    let want = format!(
        "[package]\nname = \"hello\"\nversion = \"2.12-r1\"\nsummary = 'The GNU \"Hello, world\" program'\n\
         license = \"GPL-3.0-or-later\"\nhomepage = \"https://www.gnu.org/software/hello/\"\n\n\
         [provenance]\nupstream = \"https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz\"\nupstream_hash = \"{tar}\"\n\
         imported_from = \"alpine:hello-2.12-r1/APKBUILD\"\nimported_from_hash = \"{recipe}\"\n\n\
         [[provenance.patches]]\nname = \"fix-greeting.patch\"\ndigest = \"{patch}\"\n\n[build]\nsystem = \"alpine\"\n"
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), want);

    // Deterministic.
    let again = d.path().join("again.toml");
    let (code, text) = import(
        home.path(),
        &[apkbuild.to_str().unwrap(), "-o", again.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(fs::read(&again).unwrap(), want.as_bytes());
}

/// A copy of the fixture with the APKBUILD's text changed by `edit`, imported: refused with `code`.
fn refused(home: &Path, base: &Path, case: &str, edit: impl Fn(&str) -> String, code: i32, needles: &[&str]) {
    let dir = base.join(case);
    fs::create_dir_all(&dir).unwrap();
    fixture(&dir);
    let a = dir.join("APKBUILD");
    fs::write(&a, edit(&fs::read_to_string(&a).unwrap())).unwrap();
    let out = dir.join("out.toml");
    let (got, text) = import(home, &[a.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(got, code, "{case}: {text}");
    for n in needles {
        assert!(text.contains(n), "{case}: {n:?} not in {text}");
    }
    assert!(
        !out.exists() && !dir.join("out.evidence.json").exists(),
        "{case}: written"
    );
}

#[test]
fn hostile_apkbuilds_are_refused_naming_the_line_or_variable() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let h = home.path();
    let b = d.path();
    refused(
        h,
        b,
        "cmdsubst",
        |s| s.replace("pkgver=2.12", "pkgver=$(cat VERSION)"),
        10,
        &["line 4", "needs evaluation"],
    );
    refused(
        h,
        b,
        "backquote",
        |s| s.replace("pkgrel=1", "pkgrel=`echo 1`"),
        10,
        &["line 5", "needs evaluation"],
    );
    refused(
        h,
        b,
        "arith",
        |s| s.replace("pkgrel=1", "pkgrel=$((0+1))"),
        10,
        &["line 5"],
    );
    refused(
        h,
        b,
        "operator",
        |s| s.replace("pkgdesc=\"The", "pkgdesc=\"${pkgname%l*} The"),
        10,
        &["line 6", "operator"],
    );
    refused(
        h,
        b,
        "unknown",
        |s| s.replace("depends=\"\"", "depends=\"$CARCH\""),
        10,
        &["line 10", "$CARCH"],
    );
    refused(
        h,
        b,
        "statement",
        |s| s.replace("arch=\"all\"", "arch=\"all\"\n[ -n \"$x\" ] && arch=x86_64"),
        10,
        &["line 9"],
    );
    refused(
        h,
        b,
        "twice",
        |s| s.replace("arch=\"all\"", "arch=\"all\"\npkgver=9.9"),
        10,
        &["pkgver: assigned twice"],
    );
    refused(
        h,
        b,
        "dotdot",
        |s| s.replace("\tfix-greeting.patch\n\t\"", "\t../fix-greeting.patch\n\t\""),
        10,
        &["source", "'..'"],
    );
    refused(
        h,
        b,
        "short",
        |s| {
            let i = s.find("  hello-2.12.tar.gz").unwrap();
            format!("{}{}", &s[..i - 1], &s[i..])
        },
        10,
        &["sha512sums", "128 lowercase hex"],
    );
    refused(
        h,
        b,
        "sums",
        |s| s.replace("  fix-greeting.patch\n\"", "  other.patch\n\""),
        10,
        &["sha512sums", "exactly the files"],
    );
    // The patch beside the recipe is not the one its digest names.
    let dir = b.join("patched");
    fs::create_dir_all(&dir).unwrap();
    fixture(&dir);
    fs::write(dir.join("fix-greeting.patch"), b"something else\n").unwrap();
    let out = dir.join("out.toml");
    let (got, text) = import(
        h,
        &[dir.join("APKBUILD").to_str().unwrap(), "-o", out.to_str().unwrap()],
    );
    assert_eq!(got, 1, "{text}");
    assert!(text.contains("sha512sums: fix-greeting.patch has sha512"), "{text}");
    assert!(!out.exists());
}
