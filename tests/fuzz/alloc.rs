//! The fuzz binary's global allocator: it passes every call to the system
//! allocator and, on the thread that asked for it, measures one region of
//! code ([`measure`]): the largest single allocation (a reallocation counts
//! as an allocation of its new size) and the peak of live bytes above what
//! was live when the region began.
//!
//! Counters are per thread, so the targets, which the test harness runs on
//! several threads at once, do not see each other's allocations. A block
//! allocated inside a region and freed on another thread (the loaders do
//! not hand work to other threads) would be missed, not miscounted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// What one measured region allocated.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// The largest single allocation or reallocation, in bytes.
    pub largest: usize,
    /// The peak of live bytes above the region's start, in bytes.
    pub peak: usize,
}

/// A thread's counters while it measures.
#[derive(Clone, Copy)]
struct Counters {
    on: bool,
    live: i64,
    peak: i64,
    largest: usize,
}

const IDLE: Counters = Counters {
    on: false,
    live: 0,
    peak: 0,
    largest: 0,
};

thread_local! {
    // Const-initialised and without a destructor, so reaching it never
    // allocates and never fails while the thread lives.
    static COUNTERS: Cell<Counters> = const { Cell::new(IDLE) };
}

/// Records `freed` bytes released and `taken` bytes allocated in one call.
fn record(freed: usize, taken: usize) {
    let _ = COUNTERS.try_with(|c| {
        let mut s = c.get();
        if !s.on {
            return;
        }
        s.live += taken as i64 - freed as i64;
        s.peak = s.peak.max(s.live);
        s.largest = s.largest.max(taken);
        c.set(s);
    });
}

/// Runs `f`, measuring what it allocates on this thread.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    COUNTERS.with(|c| c.set(Counters { on: true, ..IDLE }));
    let out = f();
    let s = COUNTERS.with(|c| c.replace(IDLE));
    let usage = Usage {
        largest: s.largest,
        peak: s.peak.max(0) as usize,
    };
    (out, usage)
}

/// The counting allocator (installed in `main.rs`).
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the bookkeeping only touches a const-initialised
// thread-local `Cell` and never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(0, layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(0, layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(layout.size(), new_size);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(layout.size(), 0);
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}
