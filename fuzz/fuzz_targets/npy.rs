#![no_main]
//! Fuzz target: see `fisherlab_io::fuzz::npy`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fisherlab_io::fuzz::npy(data);
});
