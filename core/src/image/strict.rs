//! One meaning for signed OCI JSON: the strict reader every manifest, index
//! and config goes through before it is interpreted.
//!
//! `ct` reads these documents with serde (keys case-sensitive, the *first*
//! spelling of a field is the only one it sees, unknown keys ignored), while
//! containerd, podman, skopeo and CRI-O read them with Go's `encoding/json`
//! (a struct field matches any key that case-folds to its name, and the
//! *last* duplicate wins). A manifest with `"layers":[A]` followed by
//! `"Layers":[B]` is then A to us and B to every Go runtime, under one
//! digest. Rather than picking an interpretation, this module refuses every
//! document that two readers could read differently:
//!
//! - a key that appears twice in one object, at any depth (also in maps such
//!   as `annotations`: Go keeps the last, serde_json would too, but another
//!   reader may keep the first);
//! - in an object whose Go type is a struct, two keys that fold to the same
//!   name, or a key that folds to a known field without being spelled like
//!   it (`Layers`, `SCHEMAVERSION`), or a key with non-ASCII characters
//!   (Go folds `K` (U+212A) to `k`, `ſ` (U+017F) to `s`, `İ` (U+0130) to `i`: a
//!   non-ASCII key can alias an ASCII field);
//! - fields of the other document type: an index with `config` or `layers`,
//!   an image manifest with `manifests` (the CVE-2021-41190 class, where one
//!   blob is read as a manifest by one client and as an index by another).
//!
//! Unknown, unambiguous keys stay allowed, as the OCI image spec requires.
//! Nesting depth is bounded by serde_json's recursion limit (128) and size
//! by the callers' [`super::MAX_JSON_BLOB`].

use std::collections::{HashMap, HashSet};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Result};

/// A JSON value that keeps every key, in order, duplicates included.
#[derive(Debug)]
enum Node {
    Scalar,
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E>(self) -> std::result::Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Node, A::Error> {
                let mut v = Vec::new();
                while let Some(n) = a.next_element()? {
                    v.push(n);
                }
                Ok(Node::Array(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<Node, A::Error> {
                let mut v = Vec::new();
                while let Some((k, n)) = a.next_entry::<String, Node>()? {
                    v.push((k, n));
                }
                Ok(Node::Object(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// What Go decodes an object into.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A struct: keys match its fields case-insensitively.
    Struct(&'static Struct),
    /// `map[string]T`: keys are exact; values have shape `T`.
    Map(&'static Shape),
    /// `[]T`.
    Array(&'static Shape),
    /// A scalar, or something not interpreted (still checked for duplicates).
    Any,
}

/// A Go struct's JSON fields and the fields it must not carry.
#[derive(Debug)]
struct Struct {
    name: &'static str,
    fields: &'static [(&'static str, Shape)],
    forbidden: &'static [&'static str],
}

const ANY: Shape = Shape::Any;
const STRINGS: Shape = Shape::Array(&ANY);
const MAP: Shape = Shape::Map(&ANY);

const PLATFORM: Struct = Struct {
    name: "platform",
    fields: &[
        ("architecture", ANY),
        ("os", ANY),
        ("os.version", ANY),
        ("os.features", STRINGS),
        ("variant", ANY),
        ("features", STRINGS),
    ],
    forbidden: &[],
};

const DESCRIPTOR: Struct = Struct {
    name: "descriptor",
    fields: &[
        ("mediaType", ANY),
        ("digest", ANY),
        ("size", ANY),
        ("urls", STRINGS),
        ("annotations", MAP),
        ("data", ANY),
        ("platform", Shape::Struct(&PLATFORM)),
        ("artifactType", ANY),
    ],
    forbidden: &[],
};
const DESCRIPTORS: Shape = Shape::Array(&Shape::Struct(&DESCRIPTOR));

const MANIFEST: Struct = Struct {
    name: "image manifest",
    fields: &[
        ("schemaVersion", ANY),
        ("mediaType", ANY),
        ("artifactType", ANY),
        ("config", Shape::Struct(&DESCRIPTOR)),
        ("layers", DESCRIPTORS),
        ("subject", Shape::Struct(&DESCRIPTOR)),
        ("annotations", MAP),
    ],
    forbidden: &["manifests"],
};

const INDEX: Struct = Struct {
    name: "image index",
    fields: &[
        ("schemaVersion", ANY),
        ("mediaType", ANY),
        ("artifactType", ANY),
        ("manifests", DESCRIPTORS),
        ("subject", Shape::Struct(&DESCRIPTOR)),
        ("annotations", MAP),
    ],
    forbidden: &["config", "layers"],
};

const HEALTHCHECK: Struct = Struct {
    name: "config.Healthcheck",
    fields: &[
        ("Test", STRINGS),
        ("Interval", ANY),
        ("Timeout", ANY),
        ("StartPeriod", ANY),
        ("StartInterval", ANY),
        ("Retries", ANY),
    ],
    forbidden: &[],
};

/// The execution parameters: OCI's `config` plus the Docker fields Go's
/// docker image types also decode (so their case variants are refused too).
const EXEC_CONFIG: Struct = Struct {
    name: "config.config",
    fields: &[
        ("User", ANY),
        ("ExposedPorts", MAP),
        ("Env", STRINGS),
        ("Entrypoint", STRINGS),
        ("Cmd", STRINGS),
        ("Volumes", MAP),
        ("WorkingDir", ANY),
        ("Labels", MAP),
        ("StopSignal", ANY),
        ("ArgsEscaped", ANY),
        ("Memory", ANY),
        ("MemorySwap", ANY),
        ("CpuShares", ANY),
        ("Healthcheck", Shape::Struct(&HEALTHCHECK)),
        ("Hostname", ANY),
        ("Domainname", ANY),
        ("AttachStdin", ANY),
        ("AttachStdout", ANY),
        ("AttachStderr", ANY),
        ("Tty", ANY),
        ("OpenStdin", ANY),
        ("StdinOnce", ANY),
        ("Image", ANY),
        ("OnBuild", STRINGS),
        ("Shell", STRINGS),
        ("NetworkDisabled", ANY),
        ("MacAddress", ANY),
        ("StopTimeout", ANY),
    ],
    forbidden: &[],
};

const ROOTFS: Struct = Struct {
    name: "config.rootfs",
    fields: &[("type", ANY), ("diff_ids", STRINGS)],
    forbidden: &[],
};

const HISTORY: Struct = Struct {
    name: "config.history",
    fields: &[
        ("created", ANY),
        ("created_by", ANY),
        ("author", ANY),
        ("comment", ANY),
        ("empty_layer", ANY),
    ],
    forbidden: &[],
};

const CONFIG: Struct = Struct {
    name: "image config",
    fields: &[
        ("created", ANY),
        ("author", ANY),
        ("architecture", ANY),
        ("os", ANY),
        ("os.version", ANY),
        ("os.features", STRINGS),
        ("variant", ANY),
        ("config", Shape::Struct(&EXEC_CONFIG)),
        ("rootfs", Shape::Struct(&ROOTFS)),
        ("history", Shape::Array(&Shape::Struct(&HISTORY))),
        // Docker's image config (`container_config` has the exec shape).
        ("container_config", Shape::Struct(&EXEC_CONFIG)),
        ("container", ANY),
        ("docker_version", ANY),
        ("id", ANY),
        ("parent", ANY),
        ("comment", ANY),
    ],
    forbidden: &["manifests", "layers", "schemaVersion"],
};

/// The OCI runtime spec's `Process` (runtime-spec specs-go/config.go):
/// `selinuxLabel` is what the hook and the shim check, so a `SelinuxLabel`
/// beside it (which runc, reading with Go, would take) must be refused.
const RT_PROCESS: Struct = Struct {
    name: "runtime config process",
    fields: &[
        ("terminal", ANY),
        ("consoleSize", ANY),
        ("user", ANY),
        ("args", STRINGS),
        ("commandLine", ANY),
        ("env", STRINGS),
        ("cwd", ANY),
        ("capabilities", ANY),
        ("rlimits", ANY),
        ("noNewPrivileges", ANY),
        ("apparmorProfile", ANY),
        ("oomScoreAdj", ANY),
        ("scheduler", ANY),
        ("selinuxLabel", ANY),
        ("ioPriority", ANY),
        ("execCPUAffinity", ANY),
    ],
    forbidden: &[],
};

const RT_ROOT: Struct = Struct {
    name: "runtime config root",
    fields: &[("path", ANY), ("readonly", ANY)],
    forbidden: &[],
};

const RT_LINUX: Struct = Struct {
    name: "runtime config linux",
    fields: &[
        ("uidMappings", ANY),
        ("gidMappings", ANY),
        ("sysctl", MAP),
        ("resources", ANY),
        ("cgroupsPath", ANY),
        ("namespaces", ANY),
        ("devices", ANY),
        ("seccomp", ANY),
        ("rootfsPropagation", ANY),
        ("maskedPaths", STRINGS),
        ("readonlyPaths", STRINGS),
        ("mountLabel", ANY),
        ("intelRdt", ANY),
        ("personality", ANY),
        ("timeOffsets", MAP),
        ("memoryPolicy", ANY),
        ("netDevices", MAP),
    ],
    forbidden: &[],
};

/// The OCI runtime spec's `Spec`: a container's `config.json`, which the
/// hook and the shim read with serde and runc (under podman) with Go.
const RUNTIME_CONFIG: Struct = Struct {
    name: "runtime config",
    fields: &[
        ("ociVersion", ANY),
        ("process", Shape::Struct(&RT_PROCESS)),
        ("root", Shape::Struct(&RT_ROOT)),
        ("hostname", ANY),
        ("domainname", ANY),
        ("mounts", ANY),
        ("hooks", ANY),
        ("annotations", MAP),
        ("linux", Shape::Struct(&RT_LINUX)),
        ("solaris", ANY),
        ("windows", ANY),
        ("vm", ANY),
        ("zos", ANY),
        ("freebsd", ANY),
    ],
    forbidden: &[],
};

const VSA_VERIFIER: Struct = Struct {
    name: "verifier",
    fields: &[("id", ANY), ("version", MAP)],
    forbidden: &[],
};

const VSA_DIGESTED: Struct = Struct {
    name: "resource descriptor",
    fields: &[("uri", ANY), ("digest", MAP)],
    forbidden: &[],
};

/// The SLSA verification summary v1 predicate (in-toto's `vsa.proto`, and
/// the spec's `verifier.version`): read with Go by in-toto and SLSA tools.
const VSA: Struct = Struct {
    name: "verification summary",
    fields: &[
        ("verifier", Shape::Struct(&VSA_VERIFIER)),
        ("timeVerified", ANY),
        ("resourceUri", ANY),
        ("policy", Shape::Struct(&VSA_DIGESTED)),
        ("inputAttestations", Shape::Array(&Shape::Struct(&VSA_DIGESTED))),
        ("verificationResult", ANY),
        ("verifiedLevels", STRINGS),
        ("dependencyLevels", MAP),
        ("slsaVersion", ANY),
    ],
    forbidden: &[],
};

// cosign's documents (spec/interop.md §2.8), read by cosign with Go:
// the Sigstore bundle with protojson (which also takes each field's proto
// name, snake_case: refused here, so one spelling is the only one), the
// in-toto statement and the simple-signing payload with encoding/json.

const SB_SIGNATURE: Struct = Struct {
    name: "Sigstore bundle DSSE signature",
    fields: &[("sig", ANY), ("keyid", ANY)],
    forbidden: &[],
};

const SB_DSSE: Struct = Struct {
    name: "Sigstore bundle dsseEnvelope",
    fields: &[
        ("payload", ANY),
        ("payloadType", ANY),
        ("signatures", Shape::Array(&Shape::Struct(&SB_SIGNATURE))),
    ],
    forbidden: &["payload_type"],
};

const SB_PUBLIC_KEY: Struct = Struct {
    name: "Sigstore bundle publicKey",
    fields: &[("hint", ANY)],
    forbidden: &[],
};

const SB_MATERIAL: Struct = Struct {
    name: "Sigstore bundle verificationMaterial",
    fields: &[
        ("publicKey", Shape::Struct(&SB_PUBLIC_KEY)),
        ("x509CertificateChain", ANY),
        ("certificate", ANY),
        ("tlogEntries", ANY),
        ("timestampVerificationData", ANY),
    ],
    forbidden: &[
        "public_key",
        "x509_certificate_chain",
        "tlog_entries",
        "timestamp_verification_data",
    ],
};

const SIGSTORE_BUNDLE: Struct = Struct {
    name: "Sigstore bundle",
    fields: &[
        ("mediaType", ANY),
        ("verificationMaterial", Shape::Struct(&SB_MATERIAL)),
        ("dsseEnvelope", Shape::Struct(&SB_DSSE)),
        ("messageSignature", ANY),
    ],
    forbidden: &[
        "media_type",
        "verification_material",
        "dsse_envelope",
        "message_signature",
    ],
};

const STATEMENT_SUBJECT: Struct = Struct {
    name: "in-toto subject",
    fields: &[("name", ANY), ("digest", MAP), ("uri", ANY), ("annotations", MAP)],
    forbidden: &[],
};

const IN_TOTO_STATEMENT: Struct = Struct {
    name: "in-toto statement",
    fields: &[
        ("_type", ANY),
        ("subject", Shape::Array(&Shape::Struct(&STATEMENT_SUBJECT))),
        ("predicateType", ANY),
        ("predicate", ANY),
    ],
    forbidden: &["predicate_type"],
};

const SS_IDENTITY: Struct = Struct {
    name: "simple signing critical.identity",
    fields: &[("docker-reference", ANY)],
    forbidden: &[],
};

const SS_IMAGE: Struct = Struct {
    name: "simple signing critical.image",
    fields: &[("docker-manifest-digest", ANY)],
    forbidden: &[],
};

const SS_CRITICAL: Struct = Struct {
    name: "simple signing critical",
    fields: &[
        ("identity", Shape::Struct(&SS_IDENTITY)),
        ("image", Shape::Struct(&SS_IMAGE)),
        ("type", ANY),
    ],
    forbidden: &[],
};

const SIMPLE_SIGNING: Struct = Struct {
    name: "simple signing payload",
    fields: &[("critical", Shape::Struct(&SS_CRITICAL)), ("optional", ANY)],
    forbidden: &[],
};

/// An in-toto Statement v1 whose predicate is a verification summary (a
/// rebuild attestation, `crate::rebuild`).
const VSA_STATEMENT: Struct = Struct {
    name: "in-toto statement",
    fields: &[
        ("_type", ANY),
        ("subject", Shape::Array(&Shape::Struct(&STATEMENT_SUBJECT))),
        ("predicateType", ANY),
        ("predicate", Shape::Struct(&VSA)),
    ],
    forbidden: &[],
};

/// Which OCI document a blob is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// An image manifest (OCI or Docker schema 2).
    Manifest,
    /// An image index (OCI or Docker manifest list).
    Index,
    /// An image config.
    Config,
    /// A container's OCI runtime `config.json` (runtime-spec `Spec`).
    RuntimeConfig,
    /// A Sigstore bundle (v0.3, as cosign writes and reads it with protojson).
    SigstoreBundle,
    /// An in-toto statement (the payload cosign signs in a Sigstore bundle).
    InTotoStatement,
    /// cosign's simple-signing payload (the legacy `.sig` tag's layer).
    SimpleSigning,
    /// An in-toto statement of a SLSA verification summary (a rebuild
    /// attestation's payload).
    VerificationSummary,
}

impl DocKind {
    fn shape(self) -> &'static Struct {
        match self {
            DocKind::Manifest => &MANIFEST,
            DocKind::Index => &INDEX,
            DocKind::Config => &CONFIG,
            DocKind::RuntimeConfig => &RUNTIME_CONFIG,
            DocKind::SigstoreBundle => &SIGSTORE_BUNDLE,
            DocKind::InTotoStatement => &IN_TOTO_STATEMENT,
            DocKind::SimpleSigning => &SIMPLE_SIGNING,
            DocKind::VerificationSummary => &VSA_STATEMENT,
        }
    }
}

/// Refuses `bytes` unless every JSON reader, Go's included, reads it as the
/// same `kind` document (see the module documentation for the rules).
/// `what` names the input in the error (exit 10).
pub fn check(what: &str, bytes: &[u8], kind: DocKind) -> Result<()> {
    let node: Node = serde_json::from_slice(bytes).map_err(|e| Error::malformed(what, format!("not JSON: {e}")))?;
    let mut path = String::new();
    walk(&node, Shape::Struct(kind.shape()), &mut path).map_err(|reason| Error::malformed(what, reason))
}

fn walk(node: &Node, shape: Shape, path: &mut String) -> std::result::Result<(), String> {
    match node {
        Node::Scalar => Ok(()),
        Node::Array(items) => {
            let item = match shape {
                Shape::Array(s) => *s,
                _ => Shape::Any,
            };
            for (i, n) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(n, item, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        Node::Object(entries) => {
            let at = |path: &str| {
                if path.is_empty() {
                    "the top level".to_owned()
                } else {
                    path.to_owned()
                }
            };
            // A set, not a scan: a 4 MiB object can hold ~700 000 keys.
            let mut seen = HashSet::with_capacity(entries.len());
            for (k, _) in entries {
                if !seen.insert(k.as_str()) {
                    return Err(format!("duplicate key {k:?} at {}", at(path)));
                }
            }
            if let Shape::Struct(s) = shape {
                check_struct(s, entries, &at(path))?;
            }
            for (k, n) in entries {
                let child = match shape {
                    Shape::Struct(s) => s.fields.iter().find(|(f, _)| f == k).map_or(Shape::Any, |(_, sh)| *sh),
                    Shape::Map(v) => *v,
                    _ => Shape::Any,
                };
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk(n, child, path)?;
                path.truncate(len);
            }
            Ok(())
        }
    }
}

fn check_struct(s: &Struct, entries: &[(String, Node)], at: &str) -> std::result::Result<(), String> {
    let mut folded: HashMap<String, &str> = HashMap::with_capacity(entries.len());
    for (k, _) in entries {
        if !k.is_ascii() {
            return Err(format!(
                "key {k:?} at {at} is not ASCII: Go's JSON decoder folds some non-ASCII letters onto ASCII field names of the {}",
                s.name
            ));
        }
        if let Some(other) = folded.insert(k.to_ascii_lowercase(), k) {
            return Err(format!(
                "keys {other:?} and {k:?} at {at} differ only in case: Go's JSON decoder reads them as one field of the {}",
                s.name
            ));
        }
        if let Some((field, _)) = s.fields.iter().find(|(f, _)| f.eq_ignore_ascii_case(k) && f != k) {
            return Err(format!(
                "key {k:?} at {at} is a case variant of the {} field {field:?}",
                s.name
            ));
        }
        if let Some(f) = s.forbidden.iter().find(|f| f.eq_ignore_ascii_case(k)) {
            return Err(format!(
                "an {} must not have a {f:?} field (a document one reader takes for another type)",
                s.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(doc: &str, kind: DocKind) -> String {
        match check("doc", doc.as_bytes(), kind) {
            Ok(()) => panic!("accepted {doc}"),
            Err(e) => {
                assert_eq!(e.exit_code(), crate::ExitCode::Malformed);
                e.to_string()
            }
        }
    }

    const D: &str = r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:00","size":1}"#;

    #[test]
    fn a_case_variant_of_layers_is_refused() {
        let doc = format!(r#"{{"schemaVersion":2,"config":{D},"layers":[{D}],"Layers":[{D}]}}"#);
        let e = refused(&doc, DocKind::Manifest);
        assert!(e.contains("\"layers\" and \"Layers\""), "{e}");
        // Alone, the variant is still refused: Go would read it as layers.
        let doc = format!(r#"{{"schemaVersion":2,"config":{D},"LAYERS":[{D}]}}"#);
        assert!(refused(&doc, DocKind::Manifest).contains("case variant"));
    }

    #[test]
    fn duplicates_are_refused_at_any_depth_and_in_maps() {
        let doc = format!(r#"{{"schemaVersion":2,"config":{D},"layers":[{D}],"layers":[]}}"#);
        assert!(refused(&doc, DocKind::Manifest).contains("duplicate key \"layers\""));
        let doc = r#"{"schemaVersion":2,"config":{"digest":"a","digest":"b"},"layers":[]}"#;
        assert!(refused(doc, DocKind::Manifest).contains("at config"));
        let doc = r#"{"schemaVersion":2,"layers":[],"annotations":{"a":"1","a":"2"}}"#;
        assert!(refused(doc, DocKind::Manifest).contains("annotations"));
        let doc = r#"{"schemaVersion":2,"layers":[{"annotations":{"x":{"y":1,"y":2}}}]}"#;
        assert!(refused(doc, DocKind::Manifest).contains("duplicate key \"y\""));
    }

    #[test]
    fn map_keys_are_exact_so_case_variants_there_are_allowed() {
        let doc = r#"{"schemaVersion":2,"layers":[],"annotations":{"a":"1","A":"2","ſ":"3"}}"#;
        check("doc", doc.as_bytes(), DocKind::Manifest).unwrap();
        let doc = r#"{"architecture":"amd64","os":"linux","config":{"Labels":{"x":"1","X":"2"}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        check("doc", doc.as_bytes(), DocKind::Config).unwrap();
    }

    #[test]
    fn non_ascii_keys_that_go_folds_onto_fields_are_refused() {
        // U+212A KELVIN SIGN folds to 'k' in Go; U+017F LONG S to 's'.
        let doc = "{\"\u{17f}chemaVersion\":2,\"layers\":[]}";
        assert!(refused(doc, DocKind::Manifest).contains("not ASCII"));
        let doc = "{\"schemaVersion\":2,\"layers\":[{\"\u{212a}ey\":1}]}";
        assert!(refused(doc, DocKind::Manifest).contains("not ASCII"));
    }

    #[test]
    fn fields_of_the_other_document_type_are_refused() {
        let e = refused(r#"{"schemaVersion":2,"manifests":[],"layers":[]}"#, DocKind::Index);
        assert!(e.contains("\"layers\""), "{e}");
        let e = refused(r#"{"schemaVersion":2,"manifests":[],"Config":{}}"#, DocKind::Index);
        assert!(e.contains("\"config\""), "{e}");
        let e = refused(r#"{"schemaVersion":2,"layers":[],"manifests":[]}"#, DocKind::Manifest);
        assert!(e.contains("\"manifests\""), "{e}");
    }

    #[test]
    fn config_fields_are_checked_in_nested_structs() {
        let doc = r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[],"Diff_IDs":[]}}"#;
        assert!(refused(doc, DocKind::Config).contains("differ only in case"));
        let doc = r#"{"architecture":"amd64","os":"linux","config":{"Env":[],"env":["X=1"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert!(refused(doc, DocKind::Config).contains("config.config"));
        let doc = r#"{"architecture":"amd64","OS":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        assert!(refused(doc, DocKind::Config).contains("case variant"));
    }

    #[test]
    fn ordinary_documents_and_unknown_keys_pass() {
        let doc = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{D},"layers":[{D}],"annotations":{{"org.opencontainers.image.created":"x"}},"x-vendor":{{"anything":[1,2]}}}}"#
        );
        check("doc", doc.as_bytes(), DocKind::Manifest).unwrap();
        let doc = r#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"d","size":1,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
        check("doc", doc.as_bytes(), DocKind::Index).unwrap();
        assert!(check("doc", b"{\"a\":", DocKind::Index).is_err());
    }
}
