//! `ct import` of RPM `.spec` files, read as data and judged by rpm's own
//! reader: `rpmspec -q --srpm --qf` gives the same name, version, release,
//! licence, URL and summary, `rpmspec -q --buildrequires` the same build
//! dependencies, `rpmspec -P` the same expanded Source and Patch lines.
//! What needs rpm's evaluator is refused with its line, nothing written.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use cerro_core::digest::Digest;
use cerro_integration::{ct_status, require, run};
use serde_json::Value;

const SPEC: &str = r#"%global pkgvers 2.12
Name:           hello
Version:        %{pkgvers}
Release:        1%{?dist}
Summary:        The "Hello World" program from GNU
License:        GPL-3.0-or-later
URL:            https://www.gnu.org/software/hello/
Source0:        https://ftp.gnu.org/gnu/%{name}/%{name}-%{version}.tar.gz
Patch1:         hello-two.patch
Patch0:         hello-fix.patch
BuildRequires:  gcc, make
BuildRequires:  gettext >= 0.19

%description
The "Hello World" program.

%prep
%autosetup -p1

%build
%configure
%make_build

%install
%make_install

%files
%{_bindir}/hello

%changelog
* Sat Dec 05 2026 Test <test@example.org> - 2.12-1
- Initial
"#;

fn fixture(dir: &Path) {
    fs::write(dir.join("hello.spec"), SPEC).unwrap();
    fs::write(dir.join("hello-2.12.tar.gz"), b"upstream bytes\n").unwrap();
    fs::write(dir.join("hello-fix.patch"), b"--- a\n+++ b\n").unwrap();
    fs::write(dir.join("hello-two.patch"), b"--- c\n+++ d\n").unwrap();
}

fn import(home: &Path, args: &[&str]) -> (i32, String) {
    let mut a = vec!["import"];
    a.extend_from_slice(args);
    ct_status(home, &a)
}

#[test]
fn a_spec_is_read_as_rpmspec_reads_it() {
    require("rpmspec");
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let spec = d.path().join("hello.spec");
    let out = d.path().join("m.toml");
    let (code, text) = import(
        home.path(),
        &[&format!("fedora:{}", spec.display()), "-o", out.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{text}");
    let ev: Value = serde_json::from_slice(&fs::read(d.path().join("m.evidence.json")).unwrap()).unwrap();

    let q = run(Command::new("rpmspec")
        .args([
            "-q",
            "--srpm",
            "--qf",
            "%{name}\\n%{version}\\n%{release}\\n%{license}\\n%{url}\\n%{summary}\\n",
        ])
        .arg(&spec));
    let q = String::from_utf8(q.stdout).unwrap();
    let rpm: Vec<&str> = q.lines().collect();
    for (tag, theirs) in ["Name", "Version", "Release", "License", "URL", "Summary"]
        .iter()
        .zip(&rpm)
    {
        assert_eq!(ev["fields"][tag].as_str().unwrap(), *theirs, "{tag}");
    }
    let br = run(Command::new("rpmspec").args(["-q", "--buildrequires"]).arg(&spec));
    let theirs: BTreeSet<String> = String::from_utf8(br.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let ours: BTreeSet<String> = ev["fields"]["BuildRequires (split)"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ours, theirs);
    let parsed = run(Command::new("rpmspec").arg("-P").arg(&spec));
    let parsed = String::from_utf8(parsed.stdout).unwrap();
    for tag in ["Source0", "Patch0", "Patch1"] {
        let theirs = parsed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{tag}:")))
            .unwrap()
            .trim();
        assert_eq!(ev["fields"][tag].as_str().unwrap(), theirs, "{tag}");
    }

    let digest = |f: &str| Digest::of(&fs::read(d.path().join(f)).unwrap());
    let want = format!(
        "[package]\nname = \"hello\"\nversion = \"2.12-1\"\nsummary = 'The \"Hello World\" program from GNU'\n\
         license = \"GPL-3.0-or-later\"\nhomepage = \"https://www.gnu.org/software/hello/\"\n\n\
         [provenance]\nupstream = \"https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz\"\nupstream_hash = \"{}\"\n\
         imported_from = \"fedora:hello.spec\"\nimported_from_hash = \"{}\"\n\n\
         [[provenance.patches]]\nname = \"hello-fix.patch\"\ndigest = \"{}\"\n\n\
         [[provenance.patches]]\nname = \"hello-two.patch\"\ndigest = \"{}\"\n\n[build]\nsystem = \"rpm\"\n",
        digest("hello-2.12.tar.gz"),
        digest("hello.spec"),
        digest("hello-fix.patch"),
        digest("hello-two.patch"),
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), want);
}

#[test]
fn hostile_specs_are_refused_naming_the_line_or_tag() {
    let home = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    for (case, edit, code, needle) in [
        ("shell", SPEC.replace("%{pkgvers}", "%(cat VERSION)"), 10, "line 3"),
        ("cond", SPEC.replace("Name:", "%if 0%{?fedora}\nName:"), 10, "line 2"),
        (
            "builtin",
            SPEC.replace("hello-fix.patch", "%{_sourcedir}/hello-fix.patch"),
            10,
            "line 10",
        ),
        (
            "dotdot",
            SPEC.replace("Patch0:         hello-fix.patch", "Patch0:         ../hello-fix.patch"),
            10,
            "Patch0",
        ),
        (
            "dup",
            SPEC.replace("Release:", "version: 9\nRelease:"),
            10,
            "version: given twice",
        ),
        (
            "missing",
            SPEC.replace("hello-two.patch", "hello-three.patch"),
            11,
            "hello-three.patch",
        ),
    ] {
        let dir = d.path().join(case);
        fs::create_dir_all(&dir).unwrap();
        fixture(&dir);
        fs::write(dir.join("hello.spec"), edit).unwrap();
        let out = dir.join("out.toml");
        let (got, text) = import(
            home.path(),
            &[dir.join("hello.spec").to_str().unwrap(), "-o", out.to_str().unwrap()],
        );
        assert_eq!(got, code, "{case}: {text}");
        assert!(text.contains(needle), "{case}: {needle:?} not in {text}");
        assert!(
            !out.exists() && !dir.join("out.evidence.json").exists(),
            "{case}: written"
        );
    }
}
