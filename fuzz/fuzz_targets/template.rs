//! cargo-fuzz target `template`: see `loadprobe_fuzz::template` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| loadprobe_fuzz::template(data));
