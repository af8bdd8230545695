//! After warm-up, a training step on a reset tape makes (almost) no heap
//! allocations: values and gradients come from the buffer pool the tape
//! refills. Counted with a global allocator that counts every allocation,
//! on every thread.
//!
//! The step is W2's (an MLP with ReLU, mean cross-entropy from logits,
//! backward, SGD) at a smaller size, with the first layer's weight above
//! the size where kernels go parallel, so that those paths are counted too.
//!
//! Measured on the project's machine (2 threads): 75 allocations per warm
//! step before the buffer pool, 22 after. All 22 come from outside the
//! tape, kernels and optimiser: the `gemm` crate allocates its packing
//! buffers on every call (16 for the step's 8 products; it has no API to
//! pass a workspace), and `Module::visit_mut` builds each parameter's
//! dotted name as a new `String` (6). In debug builds the test finds where
//! each allocation comes from (by its backtrace) and asserts that none
//! comes from anywhere else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tapegrad::optim::{Optimizer, Sgd};
use tapegrad::{Param, Tape, Tensor};

mod common;

/// Counts allocations (including reallocations) and passes them to the system.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// While set, each allocation's backtrace is kept (debug builds only).
static TRACE: AtomicBool = AtomicBool::new(false);
static TRACES: Mutex<Vec<String>> = Mutex::new(Vec::new());

thread_local! {
    /// Set while this thread captures a backtrace (which allocates itself).
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
}

fn counted() {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    if TRACE.load(Ordering::Relaxed) && !CAPTURING.with(|c| c.replace(true)) {
        let trace = std::backtrace::Backtrace::force_capture().to_string();
        TRACES.lock().unwrap().push(trace);
        CAPTURING.with(|c| c.set(false));
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counter is only an atomic increment.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const DIMS: [usize; 4] = [784, 64, 64, 10];
const BATCH: usize = 32;

/// One W2-style step; returns the loss before the update.
fn step(
    tape: &mut Tape<f32>,
    params: &mut Vec<Param<f32>>,
    x: &Tensor<f32>,
    y: &[usize],
    opt: &mut Sgd<f32>,
) -> f32 {
    let (loss, grads) = {
        let p = |i: usize| tape.param(&params[i]);
        let h = tape.constant(x.clone()).linear(p(0), Some(p(1))).relu();
        let h = h.linear(p(2), Some(p(3))).relu();
        let loss = h.linear(p(4), Some(p(5))).cross_entropy(y);
        (loss.item(), loss.backward())
    };
    // Reset before the update, so the parameters are no longer shared with
    // the tape and are written in place.
    tape.reset();
    opt.step(params, &grads);
    loss
}

#[test]
fn a_warm_training_step_allocates_almost_nothing() {
    let mut rng = common::rng(5);
    let mut params = Vec::new();
    for i in 0..3 {
        let (fan_in, fan_out) = (DIMS[i], DIMS[i + 1]);
        let b = 1.0 / (fan_in as f64).sqrt();
        let w = tapegrad::nn::init::uniform(&[fan_out, fan_in], -b, b, &mut rng);
        let bias = tapegrad::nn::init::uniform(&[fan_out], -b, b, &mut rng);
        params.push(Param::new(format!("w{i}"), w));
        params.push(Param::new(format!("b{i}"), bias));
    }
    assert!(params[0].value().numel() >= tapegrad::tensor::PARALLEL_THRESHOLD);
    let x = Tensor::<f32>::randn(&[BATCH, DIMS[0]], &mut rng);
    let y: Vec<usize> = (0..BATCH).map(|i| (i * 7) % DIMS[3]).collect();
    let mut opt = Sgd::new(0.05);
    let mut tape = Tape::new();

    let first = step(&mut tape, &mut params, &x, &y, &mut opt);
    for _ in 0..3 {
        step(&mut tape, &mut params, &x, &y, &mut opt);
    }
    let mut counts = Vec::new();
    let mut last = 0.0;
    for _ in 0..5 {
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        last = step(&mut tape, &mut params, &x, &y, &mut opt);
        counts.push(ALLOCATIONS.load(Ordering::SeqCst) - before);
    }
    println!("heap allocations per warm step: {counts:?}");
    // Training on one fixed batch: the loss must fall.
    assert!(last < first, "loss {first} -> {last}");
    // At most two per matrix product inside gemm (plus its thread
    // hand-offs) and one per parameter for its name.
    let products = 8;
    let bound = 3 * products + params.len();
    let worst = *counts.iter().max().unwrap();
    assert!(
        worst <= bound,
        "a warm step made {worst} allocations (at most {bound} expected): {counts:?}"
    );

    if cfg!(debug_assertions) {
        // Where each allocation of one more step comes from. (Release
        // builds inline too much for backtraces to tell.)
        TRACE.store(true, Ordering::SeqCst);
        step(&mut tape, &mut params, &x, &y, &mut opt);
        TRACE.store(false, Ordering::SeqCst);
        let traces = std::mem::take(&mut *TRACES.lock().unwrap());
        let (mut gemm, mut names) = (0, 0);
        let mut others = Vec::new();
        for t in traces {
            if t.contains("gemm_common::") || t.contains("dyn_stack::") {
                gemm += 1;
            } else if t.contains("nn::module::child_name") {
                names += 1;
            } else {
                others.push(t);
            }
        }
        println!(
            "of which in gemm: {gemm}, parameter names: {names}, elsewhere: {}",
            others.len()
        );
        assert!(
            others.is_empty(),
            "{} allocations from the tape, kernels or optimiser; the first:\n{}",
            others.len(),
            others[0]
        );
        assert!(names <= params.len(), "{names} name allocations");
    }
}
