//! A real rpm database: rpmbuild (Debian's rpm package) builds a package,
//! rpm installs it into an sqlite rpmdb, and the SBOM lists it from the layer.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

use cerro_attest::layers::scan;
use cerro_attest::packages::PackageKind;
use cerro_core::image::layout::{basic_config, LayoutBuilder};
use cerro_core::image::source::SourceImage;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (rpm is installed by scripts/install-deps)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rpmdb_with_one_package(dir: &Path) -> Vec<u8> {
    let top = dir.join("rpmbuild");
    std::fs::create_dir_all(top.join("SPECS")).unwrap();
    std::fs::write(
        top.join("SPECS/hello.spec"),
        "Name: cerro-hello\nVersion: 1.2\nRelease: 3\nEpoch: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n\
         %description\nt\n%install\nmkdir -p %{buildroot}/usr/share/cerro-hello\necho hi > %{buildroot}/usr/share/cerro-hello/hi\n\
         %files\n/usr/share/cerro-hello/hi\n",
    )
    .unwrap();
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["-bb", "--quiet"])
        .arg(top.join("SPECS/hello.spec")));
    let db = dir.join("db");
    let rpm = |args: &[&str]| {
        let mut c = Command::new("rpm");
        c.args(["--define", "_db_backend sqlite", "--dbpath"])
            .arg(&db)
            .args(args);
        c
    };
    run(&mut rpm(&["--initdb"]));
    run(rpm(&["-i", "--justdb", "--nodeps"]).arg(top.join("RPMS/noarch/cerro-hello-1.2-3.noarch.rpm")));
    run(&mut rpm(&["-qa"]));
    std::fs::read(db.join("rpmdb.sqlite")).unwrap()
}

#[test]
fn rpm_sqlite_database_in_a_layer_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let db = rpmdb_with_one_package(dir.path());
    let mut b = LayoutBuilder::new(&dir.path().join("img")).unwrap();
    b.layer_tar(&[
        ("etc/os-release", 0o644, b"ID=fedora\nVERSION_ID=40\n"),
        ("usr/lib/sysimage/rpm/rpmdb.sqlite", 0o644, &db),
    ])
    .unwrap();
    b.finish(basic_config(&["/bin/sh"]), None).unwrap();
    let image = SourceImage::open(&format!("oci:{}", dir.path().join("img").display())).unwrap();
    let c = scan(&image).unwrap();
    assert_eq!(c.packages.len(), 1, "{:?}", c.packages);
    let p = &c.packages[0];
    assert_eq!(p.kind, PackageKind::Rpm);
    assert_eq!((p.name.as_str(), p.version.as_str()), ("cerro-hello", "1:1.2-3"));
    assert_eq!(p.arch.as_deref(), Some("noarch"));
    assert_eq!(p.license.as_deref(), Some("MIT"));
    assert_eq!(p.purl("fedora"), "pkg:rpm/fedora/cerro-hello@1%3A1.2-3?arch=noarch");
}
