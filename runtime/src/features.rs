//! `cerro-runtime features`: what this runtime supports, as the runtime
//! spec's `features.md` describes it (the JSON `runc features` prints), so
//! a caller (containerd 2.x, a test suite) can ask instead of guessing.
//!
//! Each list is what this binary really does, not what libcontainer could
//! do in another build: the hooks libcontainer runs; the mount options its
//! mount code knows (`MountOption::known_options`; no recursive `r…`
//! attributes beyond `rbind`/`r…bindable`/`r…private`/`r…shared`/`r…slave`,
//! which it takes from that list, and no `idmap`); the namespaces it
//! creates and joins; the capabilities it can set; the cgroup drivers built
//! in (v1 and v2; no systemd driver: `--systemd-cgroup` is refused); the
//! seccomp actions, operators and architectures its seccomp translation
//! maps; AppArmor (libcontainer applies `process.apparmorProfile`) and
//! SELinux (this runtime applies `process.selinuxLabel` itself, see
//! `label.rs`).

use serde_json::{json, Value};

/// The oldest runtime-spec version a `config.json` may name.
const OCI_VERSION_MIN: &str = "1.0.0";

/// The hooks run, in the spec's order.
const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

const NAMESPACES: &[&str] = &["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"];

const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const SECCOMP_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

const SECCOMP_ARCHS: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// The features document.
pub fn features() -> Value {
    let mut mount_options = libcontainer::syscall::linux::MountOption::known_options();
    mount_options.sort();
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        // The runtime-spec version the types this runtime parses
        // `config.json` with implement (oci-spec 0.10: 1.1.0).
        "ociVersionMax": libcontainer::oci_spec::runtime::VERSION,
        "hooks": HOOKS,
        "mountOptions": mount_options,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": CAPABILITIES,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                "actions": SECCOMP_ACTIONS,
                "operators": SECCOMP_OPERATORS,
                "archs": SECCOMP_ARCHS,
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
        },
        "annotations": {
            "dev.cerro-torre.runtime.version": env!("CARGO_PKG_VERSION"),
            "dev.cerro-torre.runtime.libcontainer": "0.7",
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use libcontainer::oci_spec::runtime::{
        Arch, Capability, LinuxNamespaceType, LinuxSeccompAction, LinuxSeccompOperator,
    };

    fn strings(v: &Value) -> Vec<String> {
        serde_json::from_value(v.clone()).unwrap()
    }

    /// Every name is one the spec's types (which this runtime parses
    /// `config.json` with) accept: a misspelt one would claim a feature
    /// no config can ask for.
    #[test]
    fn every_name_parses_as_the_spec_type() {
        let f = features();
        for n in strings(&f["linux"]["namespaces"]) {
            serde_json::from_value::<LinuxNamespaceType>(json!(n)).unwrap();
        }
        for c in strings(&f["linux"]["capabilities"]) {
            serde_json::from_value::<Capability>(json!(c)).unwrap();
        }
        for a in strings(&f["linux"]["seccomp"]["actions"]) {
            serde_json::from_value::<LinuxSeccompAction>(json!(a)).unwrap();
        }
        for o in strings(&f["linux"]["seccomp"]["operators"]) {
            serde_json::from_value::<LinuxSeccompOperator>(json!(o)).unwrap();
        }
        for a in strings(&f["linux"]["seccomp"]["archs"]) {
            serde_json::from_value::<Arch>(json!(a)).unwrap();
        }
        // Every mount option is one libcontainer's parser takes.
        for o in strings(&f["mountOptions"]) {
            o.parse::<libcontainer::syscall::linux::MountOption>().unwrap();
        }
        assert_eq!(f["linux"]["cgroup"]["systemd"], false);
        assert_eq!(f["ociVersionMin"], "1.0.0");
        assert_eq!(f["ociVersionMax"], "1.1.0", "{f}");
    }
}
