//! What an exec request carries, checked before anything is stored: the
//! exec id (it names files in the bundle) and the OCI `process` object
//! containerd sends (written for `cerro-runtime exec --process`).
//!
//! An exec'd process is not verified again: it runs in a container whose
//! image was verified at create (see `spec/enforcement.md`, "Exec").

use std::fmt;

use crate::backend::Stdio;
use crate::error::ShimError;

/// containerd's longest identifier (`identifiers.Validate`).
const MAX_ID: usize = 76;
/// Largest process spec accepted (containerd's are a few KiB).
const MAX_SPEC: usize = 1 << 20;

/// An exec id, as containerd validates identifiers: alphanumeric words
/// joined by single `.`, `_` or `-`, at most 76 bytes. So it is safe in a
/// file name (`exec.<id>.json`): no `/`, no `..`, never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExecId(String);

impl ExecId {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<ExecId, ShimError> {
        let bad = |why: &str| Err(ShimError::InvalidArgument(format!("exec id {s:?} {why}")));
        if s.is_empty() {
            return bad("is empty");
        }
        if s.len() > MAX_ID {
            return bad(&format!("is longer than {MAX_ID} bytes"));
        }
        let mut prev_sep = true; // no separator first
        for c in s.chars() {
            let sep = matches!(c, '.' | '_' | '-');
            if !(c.is_ascii_alphanumeric() || sep) || (sep && prev_sep) {
                return bad("is not alphanumeric words joined by single '.', '_' or '-'");
            }
            prev_sep = sep;
        }
        if prev_sep {
            return bad("ends with a separator");
        }
        Ok(ExecId(s.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An exec request (`ctr task exec`, CRI's exec and exec probes).
#[derive(Debug, Clone)]
pub struct ExecTask {
    /// The container.
    pub id: String,
    /// The exec id (any string: checked by [`Tasks::exec`](crate::Tasks::exec)).
    pub exec_id: String,
    /// The process's streams (FIFO paths); `terminal` if asked for.
    pub stdio: Stdio,
    /// The OCI `process` object, JSON, as containerd sends it.
    pub spec: Vec<u8>,
}

/// Checks the process spec: a JSON object with a non-empty `args`, whose
/// `terminal` agrees with the request's, and which reads as the runtime
/// will read it: `oci_spec::runtime::Process`, the type libcontainer loads
/// the file given to `cerro-runtime exec --process` with. Returns whether
/// it asks for a terminal.
///
/// Why the runtime-spec type fits: containerd's clients send a copy of the
/// container's own `process` (ctr's `tasks/exec.go`: `pspec :=
/// spec.Process`, then `Terminal`, `Args` and, if given, `Cwd`; CRI's exec
/// likewise), marshalled by Go's runtime-spec types, whose `user` and `cwd`
/// have no `omitempty`: both are always sent, and the rest is what the
/// container's config already passed at create. So a spec the runtime
/// would refuse is refused here, before anything is stored, rather than
/// when the exec starts. The shape checks come first, with their own
/// messages; the bytes are kept as sent (`confine::pin_exec_label` edits
/// them as JSON, so no field is re-serialised).
pub fn check_process(spec: &[u8], terminal: bool) -> Result<bool, ShimError> {
    let bad = |why: String| Err(ShimError::InvalidArgument(format!("exec process spec: {why}")));
    if spec.len() > MAX_SPEC {
        return bad(format!("larger than {MAX_SPEC} bytes"));
    }
    let v: serde_json::Value = match serde_json::from_slice(spec) {
        Ok(v) => v,
        Err(e) => return bad(format!("not JSON: {e}")),
    };
    let Some(obj) = v.as_object() else {
        return bad("not a JSON object".into());
    };
    let args_ok = obj
        .get("args")
        .and_then(|a| a.as_array())
        .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x.is_string()));
    if !args_ok {
        return bad("no args".into());
    }
    let in_spec = obj.get("terminal").and_then(|t| t.as_bool()).unwrap_or(false);
    if in_spec != terminal {
        return bad(format!(
            "terminal is {in_spec} in the spec but {terminal} in the request"
        ));
    }
    // From the bytes, not the `Value`: a duplicated key is refused, as the
    // runtime's reading refuses it, not resolved to the last one.
    if let Err(e) = serde_json::from_slice::<oci_spec::runtime::Process>(spec) {
        return bad(format!("not a runtime-spec process: {e}"));
    }
    Ok(terminal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_ids_are_containerd_identifiers() {
        for ok in ["e1", "exec-1", "a.b_c-d", "0", &"x".repeat(76)] {
            assert_eq!(ExecId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "../x", "a/b", "-a", "a-", "a..b", "a b", "é", &"x".repeat(77), "."] {
            let e = ExecId::parse(bad).unwrap_err();
            assert!(matches!(e, ShimError::InvalidArgument(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn the_process_spec_is_checked() {
        let ok = br#"{"user":{"uid":0,"gid":0},"args":["sh","-c","exit 7"],"cwd":"/","env":["PATH=/bin"]}"#;
        assert!(!check_process(ok, false).unwrap());
        assert!(check_process(
            br#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"terminal":true}"#,
            true
        )
        .unwrap());
        let msg = |spec: &[u8], t| check_process(spec, t).unwrap_err().to_string();
        assert_eq!(
            msg(b"[]", false),
            "invalid request: exec process spec: not a JSON object"
        );
        assert_eq!(
            msg(br#"{"args":[]}"#, false),
            "invalid request: exec process spec: no args"
        );
        assert_eq!(
            msg(br#"{"cwd":"/"}"#, false),
            "invalid request: exec process spec: no args"
        );
        assert!(msg(b"{", false).contains("not JSON"));
        assert_eq!(
            msg(br#"{"args":["sh"],"terminal":true}"#, false),
            "invalid request: exec process spec: terminal is true in the spec but false in the request"
        );
        assert!(msg(&vec![b' '; MAX_SPEC + 1], false).contains("larger than"));
    }

    /// What ctr and CRI send (a copy of the container's `process`, from Go's
    /// runtime-spec types) is read; what the runtime's types refuse is
    /// refused before anything is stored.
    #[test]
    fn the_process_spec_reads_as_the_runtime_reads_it() {
        let containerd = br#"{"user":{"uid":0,"gid":0,"additionalGids":[10]},"args":["sh"],"env":["PATH=/bin"],
            "cwd":"/","capabilities":{"bounding":["CAP_CHOWN"],"effective":["CAP_CHOWN"],"permitted":["CAP_CHOWN"]},
            "rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"noNewPrivileges":true,
            "selinuxLabel":"system_u:system_r:ct_hello_t:s0"}"#;
        assert!(!check_process(containerd, false).unwrap());
        let msg = |spec: &[u8]| check_process(spec, false).unwrap_err().to_string();
        for (spec, why) in [
            (&br#"{"args":["sh"],"cwd":"/"}"#[..], "missing field `user`"),
            (br#"{"user":{"uid":0,"gid":0},"args":["sh"]}"#, "missing field `cwd`"),
            (
                br#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"rlimits":[{"type":"RLIMIT_BOGUS","hard":1,"soft":1}]}"#,
                "RLIMIT_BOGUS",
            ),
            (
                br#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"cwd":"/"}"#,
                "duplicate field `cwd`",
            ),
        ] {
            let m = msg(spec);
            assert!(
                m.starts_with("invalid request: exec process spec: not a runtime-spec process: ") && m.contains(why),
                "{m}"
            );
        }
    }
}
