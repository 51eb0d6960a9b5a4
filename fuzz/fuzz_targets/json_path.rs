//! cargo-fuzz target `json_path`: see `loadprobe_fuzz::json_path` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadprobe_fuzz::json_path(data));
