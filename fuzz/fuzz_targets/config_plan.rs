//! cargo-fuzz target `config_plan`: see `loadprobe_fuzz::config_plan` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadprobe_fuzz::config_plan(data));
