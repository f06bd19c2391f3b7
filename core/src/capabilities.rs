//! The `[capabilities]` table of the package manifest: what the container
//! needs from the host, declared by its builders and signed with it. The
//! SELinux generator (`cerro-selinux`) turns it into a policy module that
//! allows exactly this; a manifest without the table gets the tightest one.
//!
//! Every value ends up inside a CIL S-expression or a file-context regular
//! expression, so the grammar is deliberately narrow: a value that could
//! break out of a string or an expression (quotes, parentheses, newlines,
//! NUL, regex metacharacters) is refused here, naming the field.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `[capabilities]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Ports the container binds: `tcp/N` or `udp/N`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// Ports it connects to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connect: Vec<String>,
    /// Host paths beyond its own image content that it reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<String>,
    /// Host paths (volumes) it writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<String>,
    /// Binaries other than its entrypoint that it may execute.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exec: Vec<String>,
    /// capabilities(7) names without `CAP_`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linux: Vec<String>,
    /// Device nodes it opens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// execmem / execstack / execheap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_memory: Option<bool>,
}

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Linux capabilities by number (capabilities(7)); the index is the bit.
pub const LINUX_CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

fn bad(field: &str, i: usize, v: &str, why: &str) -> Error {
    Error::malformed("manifest.toml", format!("capabilities.{field}[{i}] = {v:?}: {why}"))
}

/// Parses `tcp/N` / `udp/N` (N in 1..=65535, no sign, no leading zero).
pub fn parse_port(v: &str) -> Option<(Proto, u16)> {
    let (p, n) = v.split_once('/')?;
    let proto = match p {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return None,
    };
    if n.is_empty() || n.len() > 5 || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u32 = n.parse().ok()?;
    (1..=65535).contains(&port).then_some((proto, port as u16))
}

/// A path safe to put in a CIL string and a file-context regex: absolute,
/// `[A-Za-z0-9._@+-]` components, no `.`/`..`/empty components.
pub fn safe_path(v: &str) -> bool {
    v.len() <= 4096
        && v.starts_with('/')
        && v.len() > 1
        && v[1..].split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'+' | b'-'))
        })
}

impl Capabilities {
    /// The `[capabilities]` table as canonical TOML (as it appears in a manifest).
    pub fn to_toml(&self) -> Result<String> {
        #[derive(Serialize)]
        struct Wrap<'a> {
            capabilities: &'a Capabilities,
        }
        toml::to_string(&Wrap { capabilities: self }).map_err(|e| Error::malformed("capabilities", e.to_string()))
    }

    /// Checks every value; the error names the field and the value.
    pub fn validate(&self) -> Result<()> {
        for (field, list) in [("listen", &self.listen), ("connect", &self.connect)] {
            for (i, v) in list.iter().enumerate() {
                if parse_port(v).is_none() {
                    return Err(bad(field, i, v, "expected tcp/N or udp/N with N from 1 to 65535"));
                }
            }
        }
        for (field, list) in [
            ("read", &self.read),
            ("write", &self.write),
            ("exec", &self.exec),
            ("devices", &self.devices),
        ] {
            for (i, v) in list.iter().enumerate() {
                if !safe_path(v) {
                    return Err(bad(
                        field,
                        i,
                        v,
                        "expected an absolute path of [A-Za-z0-9._@+-] components (no quotes, parentheses, spaces, wildcards, control characters, . or ..)",
                    ));
                }
                if field == "devices" && !v.starts_with("/dev/") {
                    return Err(bad(field, i, v, "devices must be under /dev/"));
                }
            }
        }
        for (i, v) in self.linux.iter().enumerate() {
            if !LINUX_CAPABILITIES.contains(&v.as_str()) {
                let hint = if v.starts_with("CAP_") {
                    " (write it without the CAP_ prefix)"
                } else {
                    ""
                };
                return Err(bad("linux", i, v, &format!("not a capabilities(7) name{hint}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(parse_port("tcp/8080"), Some((Proto::Tcp, 8080)));
        assert_eq!(parse_port("udp/53"), Some((Proto::Udp, 53)));
        for bad in [
            "tcp/0",
            "tcp/65536",
            "tcp/080",
            "tcp/-1",
            "tcp/+1",
            "sctp/1",
            "tcp",
            "tcp/",
            "8080",
            "tcp/8080 ",
        ] {
            assert_eq!(parse_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn hostile_values_are_refused_naming_the_field() {
        let cases: [(&str, Capabilities); 8] = [
            (
                "listen[0]",
                Capabilities {
                    listen: vec!["tcp/0".into()],
                    ..Default::default()
                },
            ),
            (
                "connect[0]",
                Capabilities {
                    connect: vec!["tcp/70000".into()],
                    ..Default::default()
                },
            ),
            (
                "read[0]",
                Capabilities {
                    read: vec!["etc/app".into()],
                    ..Default::default()
                },
            ),
            (
                "write[0]",
                Capabilities {
                    write: vec!["/var/lib/app\")(allow".into()],
                    ..Default::default()
                },
            ),
            (
                "write[0]",
                Capabilities {
                    write: vec!["/var/lib/a\nb".into()],
                    ..Default::default()
                },
            ),
            (
                "exec[0]",
                Capabilities {
                    exec: vec!["/usr/bin/../bin/sh".into()],
                    ..Default::default()
                },
            ),
            (
                "devices[0]",
                Capabilities {
                    devices: vec!["/etc/fuse".into()],
                    ..Default::default()
                },
            ),
            (
                "linux[0]",
                Capabilities {
                    linux: vec!["CAP_NET_ADMIN".into()],
                    ..Default::default()
                },
            ),
        ];
        for (field, caps) in cases {
            let e = caps.validate().unwrap_err();
            assert_eq!(e.exit_code(), crate::ExitCode::Malformed);
            assert!(e.to_string().contains(&format!("capabilities.{field}")), "{e}");
        }
        for nul in ["/var/\0x", "/var/(x)", "/var/x y", "/var/*", "/var/x;y", "/"] {
            assert!(!safe_path(nul), "{nul:?}");
        }
    }
}
