//! The shipped examples and spec/policy.schema.json agree with the engine:
//! the schema is a valid draft 2020-12 schema, both examples pass it and
//! `DeploymentPolicy::from_json`, and on a corpus of documents the schema and
//! the engine accept and refuse the same ones, except for the few rules the
//! schema says it cannot express.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::PathBuf;

use cerro_policy::DeploymentPolicy;
use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn json(path: &str) -> Value {
    serde_json::from_slice(&std::fs::read(repo(path)).unwrap()).unwrap()
}

fn validator() -> jsonschema::Validator {
    let schema = json("spec/policy.schema.json");
    jsonschema::draft202012::meta::validate(&schema).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

const FP: &str = "0bf8982d5ee49723070229e068c53c3c68ef71d9c8d58dd9d11ddb5ee086122a";

#[test]
fn examples_pass_the_schema_and_the_engine() {
    let v = validator();
    for name in ["strict.json", "permissive.json"] {
        let path = format!("policy/examples/{name}");
        let doc = json(&path);
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{path}: {errors:?}");
        let bytes = std::fs::read(repo(&path)).unwrap();
        let p = DeploymentPolicy::from_json(name, &bytes).unwrap();
        // The normalised form passes both as well.
        let normalised: Value = serde_json::from_str(&p.to_json_pretty()).unwrap();
        assert!(v.is_valid(&normalised), "{name} normalised");
    }
}

#[test]
fn schema_and_engine_agree() {
    let v = validator();
    let d = format!("sha256:{FP}");
    let accepted = [
        r#"{"version":"1"}"#.to_string(),
        r#"{"version":"1","default_action":"allow","signers":null,"registries":null,"require_attestations":null,"pin":null,"time":null}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"*"}]}}"#.into(),
        format!(r#"{{"version":"1","signers":{{"allowed":[{{"key_id":null,"fingerprint":"{FP}","required":true}}],"threshold":2,"min_trust":"marginal"}}}}"#),
        r#"{"version":"1","signers":{"threshold_from":"release"}}"#.into(),
        r#"{"version":"1","signers":{"allowed":null,"threshold":null,"threshold_from":"release"}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":[{"key_id":"b","after":"2025-01-01T00:00:00Z","before":"2026-01-01T02:00:00+02:00"}]}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":[{"key_id":"b","after":null}]}}"#.into(),
        r#"{"version":"1","registries":{"blocked":["docker.io/*"]}}"#.into(),
        r#"{"version":"1","registries":{"allowed":["r.example/*"],"blocked":[]}}"#.into(),
        r#"{"version":"1","require_attestations":{}}"#.into(),
        r#"{"version":"1","require_attestations":{"provenance":true,"sbom":false,"transparency_log":true}}"#.into(),
        format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"{d}"}},"a.b-c+d":{{"digest":"{d}","signers":["alice","{FP}"]}}}}}}"#),
        format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"{d}","signers":null}}}}}}"#),
        r#"{"version":"1","time":{"max_age_days":30}}"#.into(),
        r#"{"version":"1","transparency":{}}"#.into(),
        r#"{"version":"1","transparency":{"logs":3},"require_attestations":{"transparency_log":false}}"#.into(),
        r#"{"version":"1","transparency":{"logs":1,"witnesses":2}}"#.into(),
        r#"{"version":"1","transparency":null}"#.into(),
        r#"{"version":"1","revocation":{"max_age_hours":24}}"#.into(),
        r#"{"version":"1","revocation":{"max_age_hours":87600000}}"#.into(),
        r#"{"version":"1","revocation":null}"#.into(),
        r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":2,"signers":[{"key_id":"rebuild-*"},{"key_id":"ci","required":true}]}}}"#.into(),
        format!(r#"{{"version":"1","require_attestations":{{"rebuilt_by":{{"threshold":16,"signers":[{{"fingerprint":"{FP}"}}],"min_trust":"marginal"}}}}}}"#),
        r#"{"version":"1","require_attestations":{"sbom":true,"rebuilt_by":null}}"#.into(),
    ];
    let refused = [
        r#"{}"#.to_string(),
        r#"{"version":"2"}"#.into(),
        r#"{"version":1}"#.into(),
        r#"{"version":"1","extra":1}"#.into(),
        r#"{"version":"1","default_action":"maybe"}"#.into(),
        r#"{"version":"1","default_action":null}"#.into(),
        r#"{"version":"1","signers":{}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[]}}"#.into(),
        r#"{"version":"1","signers":{"allowed":null}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{}]}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":null}]}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"fingerprint":"ABC"}]}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a","after":"2025-01-01T00:00:00Z"}]}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a","required":"yes"}]}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"threshold":0}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"threshold":-1}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"threshold":2,"threshold_from":"g"}}"#.into(),
        r#"{"version":"1","signers":{"threshold_from":"../g"}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"min_trust":"total"}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":null}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":[{"key_id":"b","required":true}]}}"#.into(),
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":[{"key_id":"b","after":"2025-01-01"}]}}"#
            .into(),
        r#"{"version":"1","registries":{}}"#.into(),
        r#"{"version":"1","registries":{"blocked":[]}}"#.into(),
        r#"{"version":"1","registries":{"allowed":[]}}"#.into(),
        r#"{"version":"1","registries":{"allowed":[""]}}"#.into(),
        r#"{"version":"1","registries":{"allowed":["*"],"mirrors":[]}}"#.into(),
        r#"{"version":"1","require_attestations":{"vex":true}}"#.into(),
        r#"{"version":"1","require_attestations":{"sbom":1}}"#.into(),
        r#"{"version":"1","pin":{"hello":{}}}"#.into(),
        format!(r#"{{"version":"1","pin":{{"Hello":{{"digest":"{d}"}}}}}}"#),
        format!(r#"{{"version":"1","pin":{{"hello-":{{"digest":"{d}"}}}}}}"#),
        format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"sha512:{FP}"}}}}}}"#),
        format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"{d}","signers":[]}}}}}}"#),
        format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"{d}","signers":["a b"]}}}}}}"#),
        format!(r#"{{"version":"1","pin":{{"hello":{{"digest":"{d}","extra":1}}}}}}"#),
        r#"{"version":"1","pin":[]}"#.into(),
        r#"{"version":"1","time":{}}"#.into(),
        r#"{"version":"1","time":{"max_age_days":0}}"#.into(),
        r#"{"version":"1","time":{"max_age_days":30,"min_age_days":1}}"#.into(),
        r#"{"version":"1","transparency":{"logs":0}}"#.into(),
        r#"{"version":"1","transparency":{"logs":2,"witness":1}}"#.into(),
        r#"{"version":"1","transparency":{"logs":2,"witnesses":-1}}"#.into(),
        r#"{"version":"1","transparency":{"logs":"2"}}"#.into(),
        r#"{"version":"1","revocation":{}}"#.into(),
        r#"{"version":"1","revocation":{"max_age_hours":0}}"#.into(),
        r#"{"version":"1","revocation":{"max_age_hours":87600001}}"#.into(),
        r#"{"version":"1","revocation":{"max_age_hours":24,"grace":1}}"#.into(),
        r#"{"version":"1","revocation":{"max_age_hours":"24"}}"#.into(),
        r#"{"version":"1","require_attestations":{"rebuilt_by":{}}}"#.into(),
        r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1}}}"#.into(),
        r#"{"version":"1","require_attestations":{"rebuilt_by":{"signers":[{"key_id":"r"}]}}}"#.into(),
        r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":0,"signers":[{"key_id":"r"}]}}}"#.into(),
        r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":17,"signers":[{"key_id":"r"}]}}}"#.into(),
        r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1,"signers":[]}}}"#.into(),
        r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1,"signers":[{}]}}}"#.into(),
        r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1,"signers":[{"key_id":"r"}],"min_trust":"total"}}}"#.into(),
        r#"{"version":"1","require_attestations":{"rebuilt_by":{"threshold":1,"signers":[{"key_id":"r"}],"within_days":3}}}"#.into(),
    ];
    for doc in &accepted {
        let value: Value = serde_json::from_str(doc).unwrap();
        let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "schema refuses {doc}: {errors:?}");
        DeploymentPolicy::from_json("doc", doc.as_bytes()).unwrap_or_else(|e| panic!("engine refuses {doc}: {e}"));
    }
    for doc in &refused {
        let value: Value = serde_json::from_str(doc).unwrap();
        assert!(!v.is_valid(&value), "schema accepts {doc}");
        assert!(
            DeploymentPolicy::from_json("doc", doc.as_bytes()).is_err(),
            "engine accepts {doc}"
        );
    }
    // What the schema says it cannot express: only the engine refuses.
    for doc in [
        r#"{"version":"1","version":"1"}"#,
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"threshold":2.0}}"#,
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":[{"key_id":"b","after":"2025-02-30T00:00:00Z"}]}}"#,
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":[{"key_id":"b","after":"1969-12-31T23:59:59Z"}]}}"#,
        r#"{"version":"1","signers":{"allowed":[{"key_id":"a"}],"denied":[{"key_id":"b","after":"2026-01-01T00:00:00Z","before":"2025-01-01T00:00:00Z"}]}}"#,
        r#"{"version":"1","transparency":{},"require_attestations":{"transparency_log":true}}"#,
    ] {
        assert!(
            DeploymentPolicy::from_json("doc", doc.as_bytes()).is_err(),
            "engine accepts {doc}"
        );
    }
}
