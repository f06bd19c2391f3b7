#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cerro_fuzz_checks::front_ends::podman_storage(
    data,
    cerro_hook::podman::parse_containers,
    cerro_hook::podman::parse_images,
    cerro_hook::podman::Image::manifest_digests,
));
