//! What the generator needs to know about the target policy: the type that
//! labels a port (`portcon`) and a device node (`filecon`). Read from the
//! policy's CIL (e.g. Debian's module store, extracted by
//! `scripts/selinux-policy-cil`), never guessed: binding tcp/8080 on Debian's
//! reference policy means `http_cache_port_t`, and a module that named any
//! other type would not let the container bind it.

use std::collections::BTreeMap;
use std::path::Path;

use cerro_core::capabilities::Proto;

use crate::SelinuxError;

/// Port and device labels of a policy.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// (proto, low, high) → type, as declared.
    ports: Vec<(Proto, u16, u16, String)>,
    /// Literal device path → type.
    devices: BTreeMap<String, String>,
}

fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            '(' | ')' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn context_type(t: &[String]) -> Option<String> {
    let i = t.iter().position(|x| x == "object_r")?;
    t.get(i + 1).cloned()
}

impl HostPolicy {
    /// Reads every `*.cil` file in `dir`.
    pub fn load(dir: &Path) -> Result<Self, SelinuxError> {
        let mut p = HostPolicy::default();
        let entries = std::fs::read_dir(dir).map_err(|e| SelinuxError::Io(dir.display().to_string(), e))?;
        let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files.iter().filter(|f| f.extension().is_some_and(|x| x == "cil")) {
            let text = std::fs::read_to_string(f).map_err(|e| SelinuxError::Io(f.display().to_string(), e))?;
            p.add_cil(&text);
        }
        if p.ports.is_empty() {
            return Err(SelinuxError::Policy(format!(
                "{}: no portcon statements: not a policy's CIL",
                dir.display()
            )));
        }
        Ok(p)
    }

    /// Adds the portcon and filecon statements of one CIL text.
    pub fn add_cil(&mut self, text: &str) {
        for line in text.lines().map(str::trim) {
            if line.starts_with("(portcon ") {
                let t = tokens(line);
                let proto = match t.get(2).map(String::as_str) {
                    Some("tcp") => Proto::Tcp,
                    Some("udp") => Proto::Udp,
                    _ => continue,
                };
                let (lo, hi) = if t.get(3).map(String::as_str) == Some("(") {
                    (
                        t.get(4).and_then(|x| x.parse().ok()),
                        t.get(5).and_then(|x| x.parse().ok()),
                    )
                } else {
                    let n = t.get(3).and_then(|x| x.parse().ok());
                    (n, n)
                };
                if let (Some(lo), Some(hi), Some(ty)) = (lo, hi, context_type(&t)) {
                    self.ports.push((proto, lo, hi, ty));
                }
            } else if line.starts_with("(filecon \"/dev/") {
                let t = tokens(line);
                let Some(path) = t.get(2).map(|p| p.trim_matches('"').to_owned()) else {
                    continue;
                };
                if path
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
                {
                    if let Some(ty) = context_type(&t) {
                        self.devices.insert(path, ty);
                    }
                }
            }
        }
    }

    /// The type labelling `proto/port`: an exact portcon, else the narrowest
    /// range containing it, else `port_t` (the initial SID of unlabelled ports).
    pub fn port_type(&self, proto: Proto, port: u16) -> String {
        self.ports
            .iter()
            .filter(|(p, lo, hi, _)| *p == proto && *lo <= port && port <= *hi)
            .min_by_key(|(_, lo, hi, _)| hi - lo)
            .map(|(_, _, _, t)| t.clone())
            .unwrap_or_else(|| "port_t".to_owned())
    }

    /// The type labelling device node `path`, if the policy names it.
    pub fn device_type(&self, path: &str) -> Option<&str> {
        self.devices.get(path).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_portcon_and_device_filecon() {
        let mut p = HostPolicy::default();
        p.add_cil(
            "(portcon tcp 8080 (system_u object_r http_cache_port_t ((s0) (s0))))\n\
             (portcon tcp (1024 32767) (system_u object_r unreserved_port_t ((s0) (s0))))\n\
             (portcon udp 53 (system_u object_r dns_port_t ((s0) (s0))))\n\
             (filecon \"/dev/fuse\" char (system_u object_r fuse_device_t ((s0) (s0))))\n\
             (filecon \"/dev/.*\" any (system_u object_r device_t ((s0) (s0))))\n",
        );
        assert_eq!(p.port_type(Proto::Tcp, 8080), "http_cache_port_t");
        assert_eq!(p.port_type(Proto::Tcp, 9000), "unreserved_port_t");
        assert_eq!(p.port_type(Proto::Udp, 53), "dns_port_t");
        assert_eq!(p.port_type(Proto::Udp, 9000), "port_t");
        assert_eq!(p.device_type("/dev/fuse"), Some("fuse_device_t"));
        assert_eq!(p.device_type("/dev/.*"), None);
    }
}
