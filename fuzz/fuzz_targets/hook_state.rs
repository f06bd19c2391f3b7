#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cerro_fuzz_checks::front_ends::hook_state(data, cerro_hook::parse_state));
