#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cerro_fuzz_checks::layer_scan(data));
