#![no_main]
//! Fuzz target: see `fisherlab_cli::fuzz::expression`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fisherlab_cli::fuzz::expression(data);
});
