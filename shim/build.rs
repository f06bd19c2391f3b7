//! Link flags of the shim binary (#15, "Start-up cost": the task server
//! lives as long as its pod, one per pod on every node, and is measured by
//! its resident memory).
//!
//! `-z pack-relative-relocs`: a position-independent binary carries one
//! 24-byte `R_X86_64_RELATIVE` entry per pointer in its data (27 656 of them,
//! `.rela.dyn` 650 KiB), and the dynamic loader reads the whole table at
//! every start, so all of it is resident in every shim. Packed as `DT_RELR`
//! the same relocations take a few KiB. It needs GNU ld ≥ 2.38 and glibc ≥
//! 2.36 (the binary then requires `GLIBC_ABI_DT_RELR`): Debian bookworm has
//! both. The binary stays position-independent (ASLR unchanged).
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
