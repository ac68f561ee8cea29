//! The system allocator with two counters, live and peak heap bytes, so `compare` can report
//! what each approximation costs in memory. Counting is two relaxed atomic operations per
//! allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The counting allocator.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

/// Heap use of one computation.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Highest heap above the level at the start, in bytes.
    pub peak: usize,
    /// Heap still held at the end (the result's own storage), in bytes.
    pub kept: usize,
}

/// Run `f`, measuring its heap use (meaningful when nothing else allocates meanwhile).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let kept = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    (out, Usage { peak, kept })
}

#[cfg(test)]
mod tests {
    use super::measure;

    #[test]
    fn held_and_freed_buffers_are_counted_at_their_size() {
        // this binary's tests run under the counting allocator (main.rs installs it); other
        // tests allocate at the same time, hence 8 MiB margins around 64 MiB and a few tries
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
}
