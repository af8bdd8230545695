//! After warm-up, a training step on a reset tape makes no heap allocations
//! of its own: values and gradients come from the buffer pool the tape
//! refills, the optimiser keeps its state between steps, and parameter names
//! are built in reused buffers. Counted with a global allocator that counts
//! every allocation, on every thread.
//!
//! The step is W2's (an MLP with ReLU, mean cross-entropy from logits,
//! backward, SGD) at a smaller size, with the first layer's weight above
//! the size where kernels go parallel, so that those paths are counted too.
//!
//! What remains comes from the `gemm` crate (0.19), which has no way to be
//! handed memory: `gemm_common::gemm::gemm_basic_generic` allocates, on
//! every call that reaches its packed kernel (anything but `k <= 2`, a
//! matrix-vector product or an output of at most 16 x 16 from contiguous
//! rows), `did_pack_lhs = alloc::vec![false; mc / MR]` unconditionally
//! (gemm.rs line 490), its packing buffer `MemBuffer::new(..)` when it packs
//! the right operand or pre-packs the left (lines 425-440), and one more
//! `vec![false; mc / MR]` per extra thread in each parallel block (line
//! 654). No argument (strides, parallelism, the packing thresholds) removes
//! the first. So the test counts the allocations that the step's eight
//! products make when issued straight to `tensor::gemm_into`, with the same
//! sizes and layouts as the linear layers issue them, and asserts that the
//! step makes exactly that many: one more anywhere (tape, kernels,
//! optimiser, names) fails it. Measured on the project's machine (2
//! threads): 75 allocations per warm step before the buffer pool, 22 after
//! it (16 in gemm, 6 for names), 16 once names were built in reused
//! buffers. In debug builds the test also finds where each allocation comes
//! from (by its backtrace) and asserts that all are inside gemm.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tapegrad::optim::{Optimizer, Sgd};
use tapegrad::tensor::{MatLayout, gemm_into};
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

/// One matrix product: `(m, n, k, left layout, right layout, accumulate)`.
type Product = (usize, usize, usize, MatLayout, MatLayout, bool);

/// The products of one step, as the linear op issues them for a layer with
/// `w: [out, in]` and `rows` input rows: forward `x w^T` (accumulating onto
/// the bias), backward `dx = g w` (not for the first layer, whose input is
/// a constant) and `dw = g^T x`.
fn products() -> Vec<Product> {
    let mut out = Vec::new();
    for i in 0..3 {
        let (inf, outf) = (DIMS[i], DIMS[i + 1]);
        let (row, tr) = (MatLayout::row_major, MatLayout::transposed);
        out.push((BATCH, outf, inf, row(inf), tr(inf), true));
        if i > 0 {
            out.push((BATCH, inf, outf, row(outf), row(inf), false));
        }
        out.push((outf, inf, BATCH, tr(outf), row(inf), false));
    }
    out
}

/// The heap allocations the `gemm` crate makes for `products` alone, when
/// warm: the same calls on plain buffers allocated beforehand.
fn gemm_allocations(products: &[Product]) -> Vec<usize> {
    let bufs: Vec<_> = products
        .iter()
        .map(|&(m, n, k, ..)| {
            (
                vec![0.5f32; m * n],
                vec![0.25f32; m * k],
                vec![0.75f32; k * n],
            )
        })
        .collect();
    let mut bufs = bufs;
    let mut run = || {
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        for (&(m, n, k, la, lb, acc), (dst, a, b)) in products.iter().zip(&mut bufs) {
            gemm_into(m, n, k, dst, a, la, b, lb, acc);
        }
        ALLOCATIONS.load(Ordering::SeqCst) - before
    };
    for _ in 0..3 {
        run();
    }
    (0..5).map(|_| run()).collect()
}

#[test]
fn a_warm_training_step_allocates_only_inside_gemm() {
    // Inside a pool of its own, so that rayon hands jobs between its
    // workers' own deques: a job sent into the pool from outside goes
    // through rayon's global queue (crossbeam-deque's `Injector`), which
    // allocates a new block for every 63 jobs, so that a step made from the
    // main thread would make one more allocation now and then (rayon's, not
    // ours). Two threads, so that the parallel paths run on any machine.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(warm_steps_allocate_only_inside_gemm);
}

fn warm_steps_allocate_only_inside_gemm() {
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
    let products = products();
    let in_gemm = gemm_allocations(&products);
    println!("heap allocations per warm step: {counts:?}; the step's products alone: {in_gemm:?}");
    // Training on one fixed batch: the loss must fall.
    assert!(last < first, "loss {first} -> {last}");
    // At least one per product (`did_pack_lhs`), whatever the thread count.
    let expected = *in_gemm.iter().min().unwrap();
    assert!(expected >= products.len(), "{in_gemm:?}");
    assert!(
        counts.iter().all(|&c| c == expected),
        "warm steps made {counts:?} allocations; the gemm crate alone makes {expected}"
    );

    if cfg!(debug_assertions) {
        // Where each allocation of one more step comes from. (Release
        // builds inline too much for backtraces to tell.)
        TRACE.store(true, Ordering::SeqCst);
        step(&mut tape, &mut params, &x, &y, &mut opt);
        TRACE.store(false, Ordering::SeqCst);
        let traces = std::mem::take(&mut *TRACES.lock().unwrap());
        let total = traces.len();
        let others: Vec<String> = traces
            .into_iter()
            .filter(|t| !t.contains("gemm_common::"))
            .collect();
        println!("of {total}, outside gemm: {}", others.len());
        assert!(
            others.is_empty(),
            "{} allocations from outside the gemm crate; the first:\n{}",
            others.len(),
            others[0]
        );
        assert_eq!(total, expected);
    }
}
