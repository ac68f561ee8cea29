//! The counting allocator against buffers of known size.

use fisherlab_fisher::heap::{Counting, measure};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn held_and_freed_buffers_are_counted_at_their_size() {
    // expected figures are the buffers' own sizes; other tests of this binary may allocate at
    // the same time, hence 8 MiB margins around 64 MiB and a few tries
    const MIB: usize = 1 << 20;
    let ok = (0..5).any(|_| {
        let (v, held) = measure(|| vec![1u8; 64 * MIB]);
        drop(v);
        let ((), freed) = measure(|| {
            let v = vec![1u8; 64 * MIB];
            std::hint::black_box(&v);
        });
        held.peak >= 64 * MIB
            && held.kept >= 56 * MIB
            && held.kept <= 72 * MIB
            && freed.peak >= 64 * MIB
            && freed.kept < 8 * MIB
    });
    assert!(ok, "the counters never matched the buffers' sizes");
}
