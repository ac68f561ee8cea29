//! Heap cost of building a curvature approximation, the memory side of the comparison metrics.
//!
//! [`Counting`] is the system allocator with two counters, live and peak heap bytes (two relaxed
//! atomic operations per allocation). Install it as the program's global allocator, then
//! [`measure`] reports how far the heap rose while a computation ran and how much it still holds
//! at the end, which is the result's own storage.
//!
//! # Examples
//!
//! ```
//! use fisherlab_fisher::heap::{Counting, measure};
//!
//! #[global_allocator]
//! static ALLOCATOR: Counting = Counting;
//!
//! // a 1 000 × 1 000 matrix of f64 holds 8 MB
//! let (m, usage) = measure(|| vec![0.0f64; 1_000_000]);
//! assert!(usage.peak >= 8_000_000 && usage.kept >= 8_000_000);
//! drop(m);
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting live and peak heap bytes.
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

/// Run `f`, measuring its heap use. Meaningful when [`Counting`] is the global allocator and
/// nothing else allocates meanwhile; without it both figures are 0.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let kept = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    (out, Usage { peak, kept })
}
