#![no_main]
//! Fuzz target: see `fisherlab_cli::fuzz::safetensors`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fisherlab_cli::fuzz::safetensors(data);
});
