#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cerro_fuzz_checks::front_ends::registry_artifact(
    data,
    cerro_registry::parse_artifact_manifest
));
