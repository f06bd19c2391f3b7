//! `ct selinux suggest`: from AVC denials to `[capabilities]` lines — the
//! manifest-level counterpart of audit2allow. It never proposes raw allow
//! rules: what it proposes is a declaration the signers review and sign,
//! from which the module is regenerated.

use std::collections::BTreeSet;

use cerro_core::capabilities::{safe_path, Capabilities, LINUX_CAPABILITIES};

/// What the denials suggest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suggestion {
    /// The capabilities: the existing ones (if given) plus the new ones.
    pub capabilities: Capabilities,
    /// Denials that map to no declaration, one line each (for a human).
    pub unmapped: Vec<String>,
    /// Number of AVC denial records read.
    pub denials: usize,
    /// Denial records of other domains than the one asked for, not read
    /// (see [`suggest_for`]).
    pub other_domains: usize,
}

/// The value of `key=` in an audit record: a quoted string up to its closing
/// quote, or an unquoted token (which the kernel hex-encodes when the value
/// has spaces or other special characters: decoded here).
fn field(rec: &str, key: &str) -> Option<String> {
    let pat = format!(" {key}=");
    let start = rec.find(&pat)? + pat.len();
    let rest = &rec[start..];
    if let Some(q) = rest.strip_prefix('"') {
        return q.find('"').map(|end| q[..end].to_owned());
    }
    let token = rest.split_whitespace().next().unwrap_or_default();
    let is_hex = token.len() >= 2 && token.len().is_multiple_of(2) && token.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex && matches!(key, "path" | "name") {
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
            .collect();
        return bytes.and_then(|b| String::from_utf8(b).ok());
    }
    Some(token.to_owned())
}

fn perms(rec: &str) -> Vec<&str> {
    let Some(start) = rec.find('{') else { return Vec::new() };
    let Some(end) = rec[start..].find('}') else {
        return Vec::new();
    };
    rec[start + 1..start + end].split_whitespace().collect()
}

/// Reads AVC denial records (`type=AVC … avc: denied { perms } for … tclass=…`)
/// and merges what they ask for into `existing`. Every record counts,
/// whatever its domain: [`suggest_for`] reads only one container's.
pub fn suggest(log: &str, existing: Option<&Capabilities>) -> Suggestion {
    suggest_for(log, existing, None)
}

/// The type of a record's `scontext` (`user:role:TYPE[:level]`).
fn source_type(rec: &str) -> Option<String> {
    field(rec, "scontext").and_then(|c| c.split(':').nth(2).map(str::to_owned))
}

/// [`suggest`], reading only the denials whose `scontext` type is `domain`
/// (when given). A whole host's audit log holds every domain's denials (a
/// getty's `checkpoint_restore`, udev's, another container's ports): read
/// unfiltered against a manifest, they became that package's capabilities
/// (seen in the enforcing VM). Records of other domains are counted in
/// `other_domains`, not read.
pub fn suggest_for(log: &str, existing: Option<&Capabilities>, domain: Option<&str>) -> Suggestion {
    let mut caps = existing.cloned().unwrap_or_default();
    let mut sets: [BTreeSet<String>; 7] = Default::default();
    for (set, list) in sets.iter_mut().zip([
        &caps.listen,
        &caps.connect,
        &caps.read,
        &caps.write,
        &caps.exec,
        &caps.linux,
        &caps.devices,
    ]) {
        set.extend(list.iter().cloned());
    }
    let [listen, connect, read, write, exec, linux, devices] = &mut sets;
    let mut unmapped = Vec::new();
    let mut denials = 0;
    let mut other_domains = 0;
    for rec in log.lines().filter(|l| l.contains("avc:") && l.contains("denied")) {
        if let Some(d) = domain {
            if source_type(rec).as_deref() != Some(d) {
                other_domains += 1;
                continue;
            }
        }
        denials += 1;
        let class = field(rec, "tclass").unwrap_or_default();
        let class = class.as_str();
        let ps = perms(rec);
        let path = field(rec, "path").filter(|p| safe_path(p));
        let mut mapped = true;
        match class {
            "tcp_socket" | "udp_socket" => {
                let proto = &class[..3];
                if ps.contains(&"name_bind") {
                    match field(rec, "src") {
                        Some(p) => {
                            listen.insert(format!("{proto}/{p}"));
                        }
                        None => mapped = false,
                    }
                } else if ps.contains(&"name_connect") {
                    match field(rec, "dest") {
                        Some(p) => {
                            connect.insert(format!("{proto}/{p}"));
                        }
                        None => mapped = false,
                    }
                } else {
                    mapped = false;
                }
            }
            "capability" | "capability2" => {
                for p in &ps {
                    let name = p.to_ascii_uppercase();
                    if LINUX_CAPABILITIES.contains(&name.as_str()) {
                        linux.insert(name);
                    } else {
                        mapped = false;
                    }
                }
            }
            "process" if ps.iter().any(|p| matches!(*p, "execmem" | "execstack" | "execheap")) => {
                caps.exec_memory = Some(true);
            }
            "chr_file" | "blk_file" => match &path {
                Some(p) if p.starts_with("/dev/") => {
                    devices.insert(p.clone());
                }
                _ => mapped = false,
            },
            "file" | "dir" | "lnk_file" => match &path {
                Some(p) if ps.iter().any(|x| matches!(*x, "execute" | "execute_no_trans")) => {
                    exec.insert(p.clone());
                }
                Some(p)
                    if ps.iter().any(|x| {
                        matches!(
                            *x,
                            "write"
                                | "append"
                                | "create"
                                | "add_name"
                                | "remove_name"
                                | "unlink"
                                | "rename"
                                | "setattr"
                        )
                    }) =>
                {
                    write.insert(p.clone());
                }
                Some(p) => {
                    read.insert(p.clone());
                }
                None => mapped = false,
            },
            _ => mapped = false,
        }
        if !mapped {
            let what = format!(
                "{{ {} }} on {} (scontext={}, tcontext={})",
                ps.join(" "),
                if class.is_empty() { "?" } else { class },
                field(rec, "scontext").unwrap_or_else(|| "?".into()),
                field(rec, "tcontext").unwrap_or_else(|| "?".into())
            );
            unmapped.push(what);
        }
    }
    let [listen, connect, read, write, exec, linux, devices] = sets;
    caps.listen = listen.into_iter().collect();
    caps.connect = connect.into_iter().collect();
    caps.read = read.into_iter().collect();
    caps.write = write.into_iter().collect();
    caps.exec = exec.into_iter().collect();
    caps.linux = linux.into_iter().collect();
    caps.devices = devices.into_iter().collect();
    unmapped.sort();
    unmapped.dedup();
    Suggestion {
        capabilities: caps,
        unmapped,
        denials,
        other_domains,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"type=AVC msg=audit(1700000000.1:10): avc:  denied  { name_bind } for  pid=7 comm="httpd" src=8080 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:http_cache_port_t:s0 tclass=tcp_socket permissive=0
type=AVC msg=audit(1700000000.2:11): avc:  denied  { name_connect } for  pid=7 comm="httpd" dest=5432 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:postgresql_port_t:s0 tclass=tcp_socket permissive=0
type=AVC msg=audit(1700000000.3:12): avc:  denied  { write } for  pid=7 comm="httpd" path="/var/lib/web/cache" dev="vda" ino=1 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:var_lib_t:s0 tclass=file permissive=0
type=AVC msg=audit(1700000000.4:13): avc:  denied  { net_admin } for  pid=7 comm="httpd" capability=12 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:system_r:ct_web_t:s0 tclass=capability permissive=0
type=AVC msg=audit(1700000000.5:14): avc:  denied  { execmem } for  pid=7 comm="java" scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:system_r:ct_web_t:s0 tclass=process permissive=0
type=AVC msg=audit(1700000000.6:15): avc:  denied  { read } for  pid=7 comm="httpd" name="x" dev="vda" ino=2 scontext=system_u:system_r:ct_web_t:s0 tcontext=system_u:object_r:etc_t:s0 tclass=file permissive=0
type=AVC msg=audit(1700000000.7:16): avc:  denied  { write } for  pid=7 comm="sh" path="/tmp/a b" scontext=x tcontext=y tclass=file permissive=0
type=AVC msg=audit(1700000000.8:17): avc:  denied  { write } for  pid=7 comm="sh" path=2F746D702F6120622F63 scontext=x tcontext=y tclass=file permissive=0
type=AVC msg=audit(1700000000.9:18): avc:  denied  { open } for  pid=7 comm="sh" path=2F6574632F617070 scontext=x tcontext=y tclass=file permissive=0
type=SYSCALL msg=audit(1700000000.7:16): arch=c000003e syscall=2 success=no
"#;

    #[test]
    fn denials_become_declarations_never_rules() {
        let existing = Capabilities {
            listen: vec!["tcp/8080".into()],
            ..Default::default()
        };
        let s = suggest(LOG, Some(&existing));
        assert_eq!(s.denials, 9);
        let c = &s.capabilities;
        assert_eq!(c.listen, ["tcp/8080"], "already declared: merged, not repeated");
        assert_eq!(c.connect, ["tcp/5432"]);
        assert_eq!(c.write, ["/var/lib/web/cache"]);
        assert_eq!(c.read, ["/etc/app"], "hex-encoded paths are decoded");
        assert_eq!(c.linux, ["NET_ADMIN"]);
        assert_eq!(c.exec_memory, Some(true));
        c.validate().unwrap();
        // A denial without a full path, and unsafe paths (quoted or hex), are reported, not guessed.
        assert_eq!(s.unmapped.len(), 2, "identical reports are merged: {:?}", s.unmapped);
    }

    /// Records as the kernel logs them without auditd (from the enforcing VM):
    /// a getty's and another container's denials beside the web server's.
    const HOST_LOG: &str = r#"[   19.29] audit: type=1400 audit(1796442940.060:7): avc:  denied  { checkpoint_restore } for  pid=264 comm="agetty" capability=40  scontext=system_u:system_r:getty_t:s0 tcontext=system_u:system_r:getty_t:s0 tclass=capability2 permissive=0
[   95.45] audit: type=1400 audit(1796443016.220:31): avc:  denied  { name_bind } for  pid=517 comm="busybox" src=8081 scontext=system_u:system_r:ct_web_t:s0:c1,c2 tcontext=system_u:object_r:transproxy_port_t:s0 tclass=tcp_socket permissive=0
[   95.46] audit: type=1400 audit(1796443016.230:32): avc:  denied  { name_bind } for  pid=518 comm="busybox" src=9090 scontext=system_u:system_r:ct_batch_t:s0 tcontext=system_u:object_r:port_t:s0 tclass=tcp_socket permissive=0
"#;

    #[test]
    fn only_the_containers_own_denials_are_read() {
        let s = suggest_for(HOST_LOG, None, Some("ct_web_t"));
        assert_eq!((s.denials, s.other_domains), (1, 2));
        assert_eq!(s.capabilities.listen, ["tcp/8081"]);
        assert!(s.capabilities.linux.is_empty(), "{:?}", s.capabilities.linux);
        assert!(s.unmapped.is_empty(), "{:?}", s.unmapped);
        // Unfiltered, every domain's denial became a capability.
        let all = suggest(HOST_LOG, None);
        assert_eq!(all.capabilities.linux, ["CHECKPOINT_RESTORE"]);
        assert_eq!(all.capabilities.listen, ["tcp/8081", "tcp/9090"]);
    }
}
