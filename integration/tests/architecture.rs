//! The architecture, checked: the dependency rules of `ARCHITECTURE.md`
//! ("Dependencies that must never exist" and "Who talks to the network")
//! read against `cargo metadata`, so they cannot drift silently.
//!
//! Two rules, both over *normal* dependencies only (dev- and
//! build-dependencies are not linked into what ships):
//!
//! 1. [`NEVER`]: no workspace crate reaches a forbidden workspace crate,
//!    directly or through other workspace crates. A failure names the path,
//!    e.g. `cerro-enforce -> cerro-policy -> cerro-selinux`.
//! 2. [`NETWORK`]: no workspace crate depends on a network crate, directly or
//!    through any chain of crates.io crates, except `cerro-registry` (the one
//!    crate that talks to registries) and the allowances of
//!    [`NETWORK_ALLOWED`]. A crate that depends on `cerro-registry` or
//!    `cerro-tlog` ([`GATEWAYS`]) is judged by rule 1 (only `ct` may), so
//!    the walk does not go through them.
//!
//! The rules are data, mirrored one for one in `ARCHITECTURE.md`. The unit
//! checks at the end feed synthetic metadata with forbidden edges, so the
//! checker is shown to fail when it should.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

/// Matches any workspace crate (other than the rule's other side).
const ANY: &str = "*";

/// A dependency that must never exist. `except` lists the crates a
/// wildcard side does not cover.
#[derive(Debug)]
struct Never {
    from: &'static str,
    to: &'static str,
    except: &'static [&'static str],
    why: &'static str,
}

/// The dependencies that must never exist (ARCHITECTURE.md, "Dependencies
/// that must never exist").
const NEVER: &[Never] = &[
    Never {
        from: "cerro-core",
        to: ANY,
        except: &[],
        why: "core knows no front end, no runtime, no network: it depends on no workspace crate",
    },
    Never {
        from: "cerro-policy",
        to: "ct",
        except: &[],
        why: "policy knows no front end",
    },
    Never {
        from: "cerro-policy",
        to: "cerro-shim",
        except: &[],
        why: "policy knows no front end",
    },
    Never {
        from: "cerro-policy",
        to: "cerro-hook",
        except: &[],
        why: "policy knows no front end",
    },
    Never {
        from: "cerro-policy",
        to: "cerro-enforce",
        except: &[],
        why: "policy knows no front end and no host: it takes bytes and a time, the host service calls it",
    },
    Never {
        from: ANY,
        to: "cerro-registry",
        except: &["ct"],
        why: "only the registry crate talks to the network, and only the ct front end drives it \
              (the shim, the hook and the libraries never fetch)",
    },
    Never {
        from: ANY,
        to: "cerro-tlog",
        except: &["ct"],
        why: "the log crate serves HTTP (its write side): only the ct front end runs it (`ct log serve`); \
              libraries, the shim and the hook never link a server",
    },
    Never {
        from: "cerro-tlog",
        to: ANY,
        except: &["cerro-core"],
        why: "the log stores and serves core's formats: it links cerro-core and nothing else of ours",
    },
    Never {
        from: "cerro-enforce",
        to: "cerro-selinux",
        except: &[],
        why: "enforcement links no CIL generator: module and type names come from cerro-core \
              (naming.rs); cerro-selinux is only a dev-dependency of enforce and shim",
    },
    Never {
        from: "cerro-runtime",
        to: ANY,
        except: &[],
        why: "the runtime binary links no workspace crate: the shim drives it as a program \
              (libcontainer clones its caller and needs a single-threaded process)",
    },
    Never {
        from: ANY,
        to: "ct",
        except: &[],
        why: "nothing depends on a front end (ct is a binary over the libraries)",
    },
    Never {
        from: ANY,
        to: "cerro-shim",
        except: &[],
        why: "nothing depends on a front end (other runtimes link cerro-enforce, not the shim)",
    },
    Never {
        from: ANY,
        to: "cerro-hook",
        except: &[],
        why: "nothing depends on a front end",
    },
    Never {
        from: ANY,
        to: "cerro-image-verifier",
        except: &[],
        why: "nothing depends on a front end (containerd runs the image verifier as a program)",
    },
    Never {
        from: ANY,
        to: "cerro-enforce-c",
        except: &[],
        why: "nothing depends on the C ABI: Rust callers link cerro-enforce itself",
    },
    Never {
        from: "cerro-enforce-c",
        to: ANY,
        except: &["cerro-core", "cerro-enforce", "cerro-policy"],
        why: "the C ABI decides through cerro-enforce like the shim and the hook \
              (cerro-policy only through it): nothing else",
    },
    Never {
        from: "cerro-image-verifier",
        to: ANY,
        except: &["cerro-core", "cerro-enforce", "cerro-policy"],
        why: "the pull-time gate decides through cerro-enforce like the shim and the hook \
              (cerro-policy only through it): no registry client, no generator, no front end",
    },
    Never {
        from: "cerro-export",
        to: ANY,
        except: &["cerro-core", "cerro-policy"],
        why: "the exporter takes the verifier's proof and writes files: it verifies nothing, decides nothing, \
              and reaches no registry, log or front end",
    },
    Never {
        from: "cerro-import",
        to: ANY,
        except: &["cerro-core"],
        why: "the importers read recipes as data into core's draft manifest: they link cerro-core and \
              nothing else of ours (no network: fetching debian:PKG would go through cerro-registry, driven by ct)",
    },
    Never {
        from: ANY,
        to: "cerro-pkcs11",
        except: &["ct"],
        why: "only the ct front end signs with token keys: the shim, the hook, the image verifier and the \
              libraries verify, and never load a vendor's PKCS#11 module into their process",
    },
    Never {
        from: "cerro-pkcs11",
        to: ANY,
        except: &["cerro-core"],
        why: "the token signer implements core's KeySigner and reads core's key types: nothing else of ours",
    },
    Never {
        from: "cerro-build",
        to: ANY,
        except: &["cerro-core", "cerro-import"],
        why: "the builder checks sources through the importer's one check and writes an image layout: it signs \
              nothing (ct pack does), verifies no bundle, and reaches no registry, log or front end",
    },
];

/// Crates that speak HTTP, HTTP/2 or gRPC.
const NETWORK: &[&str] = &["reqwest", "hyper", "oci-client", "tonic", "h2"];

/// Workspace crates allowed to reach some network crates, and why.
const NETWORK_ALLOWED: &[(&str, &[&str], &str)] = &[
    (
        "cerro-registry",
        NETWORK,
        "the one crate that talks to registries (its own bounded transport on reqwest; oci-client parses references)",
    ),
    (
        "cerro-tlog",
        &["hyper", "h2"],
        "the log's write side (`ct log serve`, tlog/src/server.rs) and the witness (`ct witness serve`, \
         tlog/src/witness.rs): HTTP/1.1 servers on hyper (features http1, server and client) on the listener \
         the operator names; its only requests go to the witnesses the operator names (`ct log serve \
         --witness`, tlog/src/witnessing.rs). h2 is in its resolved graph only because cargo unifies hyper's \
         features with reqwest's",
    ),
    (
        "cerro-shim",
        &["tonic", "hyper", "h2"],
        "containerd's gRPC API (shim/src/containerd.rs) over the unix socket containerd started the shim \
         with: a local socket, never a network address; tonic runs on hyper and h2",
    ),
];

/// Workspace crates that use the network themselves and whose dependents
/// rule 1 restricts to `ct`: the network walk of a dependent stops at them.
const GATEWAYS: &[&str] = &["cerro-registry", "cerro-tlog"];

/// The dependency graph of the metadata, as far as these rules care.
#[derive(Debug, Clone)]
struct Graph {
    /// Workspace crate names.
    workspace: BTreeSet<String>,
    /// Normal dependencies between workspace crates, by name.
    ws_edges: BTreeMap<String, BTreeSet<String>>,
    /// Normal direct dependencies of each workspace crate, by name (all crates).
    direct: BTreeMap<String, BTreeSet<String>>,
    /// The resolved graph's normal edges, by package id.
    resolved: BTreeMap<String, Vec<String>>,
    /// Package id → name.
    names: BTreeMap<String, String>,
    /// Workspace crate name → package id.
    ws_ids: BTreeMap<String, String>,
}

fn is_normal(kind: &Value) -> bool {
    kind.is_null()
}

fn graph(meta: &Value) -> Graph {
    let packages = meta["packages"].as_array().expect("metadata: packages");
    let names: BTreeMap<String, String> = packages
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let member_ids: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .expect("metadata: workspace_members")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let ws_ids: BTreeMap<String, String> = member_ids
        .iter()
        .map(|id| (names[*id].clone(), (*id).to_string()))
        .collect();
    let workspace: BTreeSet<String> = ws_ids.keys().cloned().collect();

    let mut ws_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut direct: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in packages
        .iter()
        .filter(|p| member_ids.contains(p["id"].as_str().unwrap()))
    {
        let from = p["name"].as_str().unwrap().to_string();
        ws_edges.entry(from.clone()).or_default();
        direct.entry(from.clone()).or_default();
        for d in p["dependencies"].as_array().unwrap() {
            if !is_normal(&d["kind"]) {
                continue;
            }
            let to = d["name"].as_str().unwrap().to_string();
            // A path dependency naming a workspace crate is an edge between
            // workspace crates (a crates.io crate of the same name is not).
            if workspace.contains(&to) && !d["path"].is_null() {
                ws_edges.get_mut(&from).unwrap().insert(to.clone());
            }
            direct.get_mut(&from).unwrap().insert(to);
        }
    }

    let mut resolved: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let nodes = meta["resolve"]["nodes"]
        .as_array()
        .expect("metadata: resolve.nodes (run cargo metadata without --no-deps)");
    for n in nodes {
        let id = n["id"].as_str().unwrap().to_string();
        let deps = n["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| is_normal(&k["kind"])))
            .map(|d| d["pkg"].as_str().unwrap().to_string())
            .collect();
        resolved.insert(id, deps);
    }
    Graph {
        workspace,
        ws_edges,
        direct,
        resolved,
        names,
        ws_ids,
    }
}

/// Breadth-first from `start` over `edges`, not entering `stop`: the path
/// (start first) to every node reached.
fn paths(
    start: &str,
    edges: impl Fn(&str) -> Vec<String>,
    stop: impl Fn(&str) -> bool,
) -> BTreeMap<String, Vec<String>> {
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from([start.to_string()]);
    let mut seen = BTreeSet::from([start.to_string()]);
    while let Some(x) = queue.pop_front() {
        for y in edges(&x) {
            if seen.insert(y.clone()) {
                parent.insert(y.clone(), x.clone());
                if !stop(&y) {
                    queue.push_back(y);
                }
            }
        }
    }
    parent
        .keys()
        .map(|end| {
            let mut path = vec![end.clone()];
            while let Some(p) = parent.get(path.last().unwrap()) {
                path.push(p.clone());
            }
            path.reverse();
            (end.clone(), path)
        })
        .collect()
}

/// The network crates `krate` may reach ([`NETWORK_ALLOWED`]).
fn network_allowed(krate: &str) -> &'static [&'static str] {
    NETWORK_ALLOWED
        .iter()
        .find(|(k, _, _)| *k == krate)
        .map(|(_, n, _)| *n)
        .unwrap_or(&[])
}

fn side_matches(rule_side: &str, except: &[&str], name: &str, other: &str) -> bool {
    if rule_side == ANY {
        name != other && !except.contains(&name)
    } else {
        rule_side == name
    }
}

/// Every broken rule, one line each, naming the edge or path.
fn violations(meta: &Value) -> Vec<String> {
    let g = graph(meta);
    let mut out = Vec::new();

    // 1. Forbidden dependencies between workspace crates, direct or through
    // other workspace crates.
    for from in &g.workspace {
        let reached = paths(
            from,
            |x| {
                g.ws_edges
                    .get(x)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default()
            },
            |_| false,
        );
        for (to, path) in &reached {
            for rule in NEVER {
                let from_ok = side_matches(rule.from, rule.except, from, to);
                let to_ok = side_matches(rule.to, rule.except, to, from);
                if from_ok && to_ok {
                    let how = if path.len() == 2 { "depends on" } else { "reaches" };
                    out.push(format!(
                        "forbidden dependency: {from} {how} {to} ({}): {}",
                        path.join(" -> "),
                        rule.why
                    ));
                }
            }
        }
    }

    // 2. Network crates: direct, then through any chain of crates, not going
    // through a gateway (whoever depends on one answers to rule 1).
    for krate in &g.workspace {
        let ok = network_allowed(krate);
        for dep in &g.direct[krate] {
            if NETWORK.contains(&dep.as_str()) && !ok.contains(&dep.as_str()) {
                out.push(format!(
                    "network dependency: {krate} depends on {dep}: only cerro-registry talks to the network"
                ));
            }
        }
        if krate == "cerro-registry" {
            continue;
        }
        let gateway_ids: Vec<&String> = GATEWAYS.iter().filter_map(|n| g.ws_ids.get(*n)).collect();
        let reached = paths(
            &g.ws_ids[krate],
            |id| g.resolved.get(id).cloned().unwrap_or_default(),
            |id| gateway_ids.iter().any(|g| g.as_str() == id),
        );
        for (id, path) in &reached {
            let name = &g.names[id];
            let direct = path.len() == 2;
            if NETWORK.contains(&name.as_str()) && !ok.contains(&name.as_str()) && !direct {
                let shown: Vec<&str> = path.iter().map(|p| g.names[p].as_str()).collect();
                out.push(format!(
                    "network dependency: {krate} reaches {name} ({}): only cerro-registry talks to the network",
                    shown.join(" -> ")
                ));
            }
        }
    }
    out
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration/ is in the workspace root")
}

fn cargo_metadata() -> Value {
    let cargo = std::env::var_os("CARGO")
        .or_else(|| option_env!("CARGO").map(Into::into))
        .unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("running {} metadata: {e}", cargo.to_string_lossy()));
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn the_workspace_has_no_forbidden_dependency() {
    let meta = cargo_metadata();
    let g = graph(&meta);
    // The rules name these crates; a renamed crate would make a rule vacuous.
    let named: BTreeSet<&str> = NEVER
        .iter()
        .flat_map(|r| [r.from, r.to].into_iter().chain(r.except.iter().copied()))
        .chain(NETWORK_ALLOWED.iter().map(|(k, _, _)| *k))
        .filter(|n| *n != ANY)
        .collect();
    for n in &named {
        assert!(
            g.workspace.contains(*n),
            "the architecture rules name {n}, which is not a workspace crate (renamed? update ARCHITECTURE.md and NEVER)"
        );
    }
    // The checker sees the edges it should (else it would pass vacuously).
    assert!(
        g.ws_edges["ct"].contains("cerro-registry"),
        "ct -> cerro-registry not seen"
    );
    assert!(
        g.ws_edges["cerro-enforce"].contains("cerro-policy"),
        "cerro-enforce -> cerro-policy not seen"
    );
    assert!(
        g.direct["cerro-registry"].contains("reqwest"),
        "cerro-registry -> reqwest not seen"
    );

    let v = violations(&meta);
    assert!(v.is_empty(), "the architecture is broken:\n{}", v.join("\n"));
}

// ---- The checker itself, on synthetic metadata --------------------------

/// The workspace's crates, for synthetic metadata.
const CRATES: &[&str] = &[
    "cerro-core",
    "cerro-attest",
    "cerro-policy",
    "cerro-enforce",
    "cerro-selinux",
    "ct",
    "cerro-hook",
    "cerro-shim",
    "cerro-runtime",
    "cerro-registry",
    "cerro-tlog",
    "cerro-image-verifier",
    "cerro-enforce-c",
    "cerro-integration",
    "cerro-export",
    "cerro-import",
    "cerro-pkcs11",
    "cerro-build",
];

fn id(name: &str) -> String {
    if CRATES.contains(&name) {
        format!("path+file:///w/{name}#0.1.0")
    } else {
        format!("registry+https://github.com/rust-lang/crates.io-index#{name}@1.0.0")
    }
}

/// Metadata shaped like `cargo metadata --format-version 1`'s for the
/// workspace's crates plus `edges` (from, to, kind: None for normal).
fn synthetic(edges: &[(&str, &str, Option<&str>)]) -> Value {
    let mut all: BTreeSet<&str> = CRATES.iter().copied().collect();
    for (a, b, _) in edges {
        all.insert(*a);
        all.insert(*b);
    }
    let packages: Vec<Value> = all
        .iter()
        .map(|name| {
            let deps: Vec<Value> = edges
                .iter()
                .filter(|(a, _, _)| a == name)
                .map(|(_, b, kind)| {
                    let path = if CRATES.contains(b) {
                        json!(format!("/w/{b}"))
                    } else {
                        Value::Null
                    };
                    json!({ "name": b, "kind": kind, "rename": null, "target": null, "path": path })
                })
                .collect();
            json!({ "id": id(name), "name": name, "dependencies": deps })
        })
        .collect();
    let nodes: Vec<Value> = all
        .iter()
        .map(|name| {
            let mut kinds: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
            for (_, b, kind) in edges.iter().filter(|(a, _, _)| a == name) {
                kinds
                    .entry(*b)
                    .or_default()
                    .push(json!({ "kind": kind, "target": null }));
            }
            let deps: Vec<Value> = kinds
                .into_iter()
                .map(|(b, k)| json!({ "name": b.replace('-', "_"), "pkg": id(b), "dep_kinds": k }))
                .collect();
            json!({ "id": id(name), "deps": deps })
        })
        .collect();
    json!({
        "packages": packages,
        "workspace_members": CRATES.iter().copied().map(id).collect::<Vec<_>>(),
        "resolve": { "nodes": nodes, "root": null },
    })
}

/// Today's allowed shape, as in ARCHITECTURE.md.
const ALLOWED: &[(&str, &str, Option<&str>)] = &[
    ("cerro-attest", "cerro-core", None),
    ("cerro-policy", "cerro-core", None),
    ("cerro-selinux", "cerro-core", None),
    ("cerro-enforce", "cerro-core", None),
    ("cerro-enforce", "cerro-policy", None),
    ("cerro-enforce", "cerro-selinux", Some("dev")),
    ("cerro-registry", "cerro-core", None),
    ("cerro-registry", "reqwest", None),
    ("cerro-registry", "oci-client", None),
    ("reqwest", "hyper", None),
    ("hyper", "h2", None),
    ("cerro-hook", "cerro-core", None),
    ("cerro-hook", "cerro-enforce", None),
    ("cerro-shim", "cerro-core", None),
    ("cerro-shim", "cerro-enforce", None),
    ("cerro-image-verifier", "cerro-core", None),
    ("cerro-image-verifier", "cerro-enforce", None),
    ("cerro-enforce-c", "cerro-core", None),
    ("cerro-enforce-c", "cerro-enforce", None),
    ("cerro-shim", "cerro-selinux", Some("dev")),
    ("cerro-shim", "tonic", None),
    ("tonic", "hyper", None),
    ("ct", "cerro-core", None),
    ("ct", "cerro-attest", None),
    ("ct", "cerro-policy", None),
    ("ct", "cerro-enforce", None),
    ("ct", "cerro-selinux", None),
    ("ct", "cerro-registry", None),
    ("ct", "cerro-tlog", None),
    ("cerro-tlog", "cerro-core", None),
    ("cerro-tlog", "hyper", None),
    ("cerro-integration", "cerro-core", None),
    ("cerro-export", "cerro-core", None),
    ("cerro-export", "cerro-policy", None),
    ("ct", "cerro-export", None),
    ("ct", "cerro-pkcs11", None),
    ("cerro-pkcs11", "cerro-core", None),
    ("cerro-pkcs11", "cryptoki", None),
    ("cerro-core", "sha2", None),
    ("cerro-core", "serde_json", Some("build")),
];

fn with(extra: &[(&'static str, &'static str, Option<&'static str>)]) -> Vec<String> {
    let mut edges = ALLOWED.to_vec();
    edges.extend_from_slice(extra);
    violations(&synthetic(&edges))
}

fn reported(v: &[String], needle: &str) -> bool {
    v.iter().any(|l| l.contains(needle))
}

#[test]
fn the_allowed_shape_passes() {
    let v = with(&[]);
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn a_forbidden_edge_is_reported_by_name() {
    let v = with(&[("cerro-enforce", "cerro-selinux", None)]);
    assert!(
        reported(&v, "forbidden dependency: cerro-enforce depends on cerro-selinux"),
        "{v:#?}"
    );
    assert!(reported(&v, "links no CIL generator"), "the reason is given: {v:#?}");

    let v = with(&[("cerro-core", "cerro-policy", None)]);
    assert!(reported(&v, "cerro-core depends on cerro-policy"), "{v:#?}");

    let v = with(&[("cerro-hook", "cerro-registry", None)]);
    assert!(reported(&v, "cerro-hook depends on cerro-registry"), "{v:#?}");

    let v = with(&[("cerro-runtime", "cerro-core", None)]);
    assert!(reported(&v, "cerro-runtime depends on cerro-core"), "{v:#?}");

    let v = with(&[("cerro-integration", "cerro-shim", None)]);
    assert!(reported(&v, "cerro-integration depends on cerro-shim"), "{v:#?}");

    let v = with(&[("cerro-policy", "ct", None)]);
    assert!(reported(&v, "cerro-policy depends on ct"), "{v:#?}");

    let v = with(&[("cerro-image-verifier", "cerro-registry", None)]);
    assert!(reported(&v, "cerro-image-verifier depends on cerro-registry"), "{v:#?}");
    let v = with(&[("cerro-image-verifier", "cerro-selinux", None)]);
    assert!(reported(&v, "cerro-image-verifier depends on cerro-selinux"), "{v:#?}");
    let v = with(&[("ct", "cerro-image-verifier", None)]);
    assert!(reported(&v, "ct depends on cerro-image-verifier"), "{v:#?}");
    // The exporter takes a proof; it never makes one, nor reaches a registry.
    let v = with(&[("cerro-export", "cerro-enforce", None)]);
    assert!(reported(&v, "cerro-export depends on cerro-enforce"), "{v:#?}");
    let v = with(&[("cerro-export", "cerro-registry", None)]);
    assert!(reported(&v, "cerro-export depends on cerro-registry"), "{v:#?}");
    // Token modules are loaded by ct alone; the signer links only core.
    let v = with(&[("cerro-shim", "cerro-pkcs11", None)]);
    assert!(reported(&v, "cerro-shim depends on cerro-pkcs11"), "{v:#?}");
    assert!(reported(&v, "never load a vendor's PKCS#11 module"), "{v:#?}");
    let v = with(&[("cerro-pkcs11", "cerro-policy", None)]);
    assert!(reported(&v, "cerro-pkcs11 depends on cerro-policy"), "{v:#?}");
}

#[test]
fn a_forbidden_edge_through_another_crate_is_reported_with_its_path() {
    let v = with(&[("cerro-policy", "cerro-selinux", None)]);
    assert!(
        reported(
            &v,
            "cerro-enforce reaches cerro-selinux (cerro-enforce -> cerro-policy -> cerro-selinux)"
        ),
        "{v:#?}"
    );
}

#[test]
fn dev_and_build_dependencies_are_not_links() {
    let v = with(&[
        ("cerro-core", "cerro-attest", Some("dev")),
        ("cerro-policy", "reqwest", Some("dev")),
    ]);
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn network_crates_outside_the_registry_crate_are_reported() {
    let v = with(&[("cerro-core", "reqwest", None)]);
    assert!(
        reported(&v, "network dependency: cerro-core depends on reqwest"),
        "{v:#?}"
    );

    // Through a crates.io crate.
    let v = with(&[("cerro-hook", "some-client", None), ("some-client", "hyper", None)]);
    assert!(
        reported(
            &v,
            "network dependency: cerro-hook reaches hyper (cerro-hook -> some-client -> hyper)"
        ),
        "{v:#?}"
    );

    // Through a workspace crate that is allowed some (the shim's tonic is
    // its own, not its dependents').
    let v = with(&[("cerro-policy", "tonic", None)]);
    assert!(reported(&v, "cerro-policy depends on tonic"), "{v:#?}");
    assert!(reported(&v, "cerro-enforce reaches tonic"), "{v:#?}");

    // The shim is allowed tonic, not the registry's HTTP client.
    let v = with(&[("cerro-shim", "reqwest", None)]);
    assert!(reported(&v, "cerro-shim depends on reqwest"), "{v:#?}");
}

#[test]
fn the_log_crate_serves_http_and_only_ct_links_it() {
    // Its own server is allowed; a client stack is not.
    let v = with(&[("cerro-tlog", "reqwest", None)]);
    assert!(reported(&v, "cerro-tlog depends on reqwest"), "{v:#?}");
    // Nothing but ct links it (a library would carry a server).
    let v = with(&[("cerro-enforce", "cerro-tlog", None)]);
    assert!(reported(&v, "cerro-enforce depends on cerro-tlog"), "{v:#?}");
    assert!(reported(&v, "cerro-shim reaches cerro-tlog"), "{v:#?}");
    // It links core and nothing else of ours.
    let v = with(&[("cerro-tlog", "cerro-policy", None)]);
    assert!(reported(&v, "cerro-tlog depends on cerro-policy"), "{v:#?}");
    // ct reaches hyper through it without being reported (as through the
    // registry crate); its own direct hyper would be.
    let v = with(&[("ct", "hyper", None)]);
    assert!(reported(&v, "ct depends on hyper"), "{v:#?}");
}
