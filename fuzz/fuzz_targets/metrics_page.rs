//! cargo-fuzz target `metrics_page`: see `loadprobe_fuzz::metrics_page` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadprobe_fuzz::metrics_page(data));
