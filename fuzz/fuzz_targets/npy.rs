#![no_main]
//! Fuzz target: see `fisherlab_cli::fuzz::npy`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fisherlab_cli::fuzz::npy(data);
});
