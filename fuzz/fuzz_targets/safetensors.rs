#![no_main]
//! Fuzz target: see `fisherlab_io::fuzz::safetensors`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fisherlab_io::fuzz::safetensors(data);
});
