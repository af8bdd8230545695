//! Property tests over random tensor programs (issue 18, point 3).
//!
//! A program is a list of leaf shapes, a seed for the leaf values, and a
//! list of op descriptors ([`Step`]): an op kind, which earlier values it
//! reads (indices taken modulo the number of values so far, so leaves and
//! intermediates are reused and gradients accumulate) and a few small
//! integers that the interpreter maps onto valid arguments for the shapes
//! at hand (axes, sizes, broadcast patterns, indices). Where an op needs a
//! particular shape, the operand is first brought to it with shape ops
//! (flatten, repeat by concat, narrow, reshape), which are under test too.
//! Every program is therefore valid, and proptest's shrinking, which works
//! on the descriptors, ends at a minimal failing program.
//!
//! Every differentiable op of the crate has a kind ([`Kind`]): elementwise
//! unary and scalar ops, binary ops with two-way broadcasting and `where_`,
//! the reductions over all elements or over axes (with and without
//! `keepdim`), batched and broadcast `matmul` and `linear`, the shape ops,
//! softmax, log-softmax, causal softmax, convolution, both poolings, layer
//! and batch norm, the two attention-head products, dropout, the fused
//! losses and the composite ones of `nn::loss`. (`detach` and the
//! comparisons are left out as ops of their own: they have no derivative
//! to check; comparisons appear as the mask of `where_`.)
//!
//! For each program, with leaf values rounded to `f32` precision so both
//! runs see the same numbers:
//! 1. the f64 backward pass matches central finite differences
//!    (`check::gradcheck_with`, step 1e-6, `|a - n| <= 1e-5 + 1e-4 |n|`);
//! 2. the f32 run matches the f64 run, values and gradients, within
//!    `1e-3 * max(1, max |f64 tensor|)` per element (a norm-wise relative
//!    bound: programs sum, subtract and normalise, so element-wise relative
//!    error is not bounded, but each f32 op's error is at most a few ulp of
//!    its inputs' magnitude, ~1e-7, and programs of a few ops amplify that
//!    far less than 1e4 unless they are ill-conditioned, see below).
//!
//! Domains are kept by construction: `ln`, `sqrt`, reciprocals, divisors,
//! non-integer powers and bases of `pow` read `x^2 + 0.5`. Points where the
//! program is not differentiable (relu, abs or clamp at a kink, ties of
//! max, min or max-pool between different functions, the mask of `where_`
//! at 0, a huber threshold) are rejected, not special-cased per op: when
//! check 1 fails, the worst element's one-sided differences are compared,
//! and disagreement (a kink within the step, or curvature too high for it)
//! rejects the case; when check 2 fails, the f64 program is re-run on
//! inputs perturbed by a relative 1e-6, and if that moves its results by
//! more than the tolerance, the case is ill-conditioned (or next to a kink)
//! and is rejected. Programs whose values exceed 100 in magnitude are
//! rejected too (they make finite differences inaccurate). Rejections are
//! counted and printed; a real bug shows as a failure with the shrunk
//! program.
//!
//! The run is seeded (ChaCha, fixed seed) and reproducible. The number of
//! cases comes from `PROPTEST_CASES` (default 4000, about two seconds in
//! release). Long run:
//!
//! `PROPTEST_CASES=200000 cargo test --release --test suite props:: -- --nocapture`
//!
//! (about a minute; `PROPTEST_RNG_SEED=<u64>` explores other programs).
//!
//! 3. forward mode agrees with reverse mode on the same program: with every
//!    leaf a dual (`Tape::dual`) with a random tangent `v`, the output's
//!    tangent `J v` satisfies `<J v, u> = <v, Jᵀ u>` for a random `u`, to
//!    `1e-9` of the sum of the products' magnitudes (an exact identity, so
//!    no case is rejected for it).
//!
//! The interpreter ([`run`]) is generic over [`Value`]; forward mode needs
//! no value type of its own, since tangents ride on the tape's vars.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestRunner};
use rand::SeedableRng;
use std::cell::RefCell;
use tapegrad::check::{GradcheckOptions, gradcheck_with};
use tapegrad::nn::loss::{self, BceWithLogitsOptions, CrossEntropyOptions, KlReduction, Reduction};
use tapegrad::ops::Conv2dOptions;
use tapegrad::{Float, Tape, Tensor, Var};

mod interp;
mod program;
mod steps;
use interp::*;
use program::*;
use steps::*;

/// Cases when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 4000;
/// Largest magnitude of an intermediate value; larger programs are rejected.
const MAX_VALUE: f64 = 100.0;
/// Noisy f64 runs made before an f32 mismatch counts as a failure.
const NOISE_DRAWS: u64 = 6;
/// The f32-vs-f64 tolerance, relative to `max(1, max |f64 tensor|)`.
const F32_TOL: f64 = 1e-3;

fn step() -> impl Strategy<Value = Step> {
    (
        proptest::sample::select(Kind::ALL.to_vec()),
        any::<[u8; 3]>(),
        any::<[u8; 4]>(),
    )
        .prop_map(|(kind, args, p)| Step { kind, args, p })
}

fn program() -> impl Strategy<Value = Program> {
    // Mostly small axes, sometimes one long enough for the kernels'
    // 8-lane loops and their remainders.
    let axis = prop_oneof![6 => 1usize..=4, 1 => 5usize..=11];
    let shape = proptest::collection::vec(axis, 0..=3);
    (
        proptest::collection::vec(shape, 1..=3),
        proptest::collection::vec(step(), 0..=8),
        any::<u64>(),
    )
        .prop_map(|(leaves, steps, seed)| Program {
            leaves,
            steps,
            seed,
        })
}

/// Leaf values: standard normal, rounded to f32 precision.
fn leaves(prog: &Program) -> Vec<Tensor<f64>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(prog.seed);
    let round = |t: Tensor<f64>| t.cast::<f32>().cast::<f64>();
    prog.leaves
        .iter()
        .map(|d| round(Tensor::<f64>::randn(d, &mut rng)))
        .collect()
}

/// The program's output and the gradients of `sum(w * out)`, on a tape of `T`.
fn value_and_grads<T: Elem>(prog: &Program, xs: &[Tensor<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let tape = Tape::<T>::new();
    let vars: Vec<Var<'_, T>> = xs.iter().map(|x| tape.var(x.cast())).collect();
    let out = run(prog, &vars, &mut Trace::default());
    let dims = out.shape();
    let w = contraction_weights(&dims);
    let g = out.backward_with(w.cast());
    let grads = vars.iter().map(|&v| to_f64(&g.wrt(v).to_vec())).collect();
    (to_f64(&out.value().to_vec()), grads)
}

fn to_f64<T: Float>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// [`value_and_grads`] in f64 with every value (leaves included) scaled by
/// its own `1 + u`, `u` uniform in `[-1e-6, 1e-6]`: rounding errors some
/// 10 times f32's, injected the way f32 makes them, at every op. The noise
/// factors are constants on the tape, so the backward pass carries them
/// too. A program whose results move more than the tolerance under this is
/// ill-conditioned at this point (or next to a kink), and an f32 mismatch
/// there is no evidence of a bug.
fn noisy_value_and_grads(
    prog: &Program,
    xs: &[Tensor<f64>],
    draw: u64,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let tape = Tape::<f64>::new();
    tape.seed(prog.seed ^ draw);
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.var(x.clone())).collect();
    let leaves: Vec<Noisy<'_>> = vars.iter().map(|&v| Noisy::wrap(v)).collect();
    let out = run(prog, &leaves, &mut Trace::default()).0;
    let w = contraction_weights(&out.shape());
    let g = out.backward_with(w);
    let grads = vars.iter().map(|&v| g.wrt(v).to_vec()).collect();
    (out.value().to_vec(), grads)
}

/// A var whose every value is perturbed by a relative 1e-6 noise; see
/// [`noisy_value_and_grads`].
#[derive(Clone, Copy)]
struct Noisy<'t>(Var<'t, f64>);

impl<'t> Noisy<'t> {
    fn wrap(v: Var<'t, f64>) -> Self {
        let tape = v.tape();
        let noise =
            Tensor::<f64>::rand_uniform(&v.shape(), 1.0 - 1e-6, 1.0 + 1e-6, &mut *tape.rng());
        Noisy(v * tape.constant(noise))
    }
}

impl Value for Noisy<'_> {
    fn dims(&self) -> Vec<usize> {
        self.0.dims()
    }
    fn values(&self) -> Vec<f64> {
        self.0.values()
    }
    fn apply(prim: &Prim, args: &[Self]) -> Self {
        let vars: Vec<Var<'_, f64>> = args.iter().map(|a| a.0).collect();
        Noisy::wrap(Var::apply(prim, &vars))
    }
}

/// Fixed weights in `[0.5, 1.5]` contracting a non-scalar output.
fn contraction_weights(dims: &[usize]) -> Tensor<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    Tensor::<f64>::rand_uniform(dims, 0.5, 1.5, &mut rng)
}

/// The largest `|a - b| / max(1, max |b|)` over a pair of tensors.
fn scaled_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let d = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        f64::INFINITY
    } else {
        d / scale
    }
}

/// The worst [`scaled_diff`] between two runs' values and gradients.
fn run_diff(a: &(Vec<f64>, Vec<Vec<f64>>), b: &(Vec<f64>, Vec<Vec<f64>>)) -> f64 {
    let mut worst = scaled_diff(&a.0, &b.0);
    for (x, y) in a.1.iter().zip(&b.1) {
        worst = worst.max(scaled_diff(x, y));
    }
    worst
}

/// `f(x)` of the program contracted with the weights, on a constant tape.
fn objective(prog: &Program, xs: &[Tensor<f64>]) -> f64 {
    let tape = Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.constant(x.clone())).collect();
    let out = run(prog, &vars, &mut Trace::default());
    let w = contraction_weights(&out.shape());
    let y = out.value();
    y.as_slice()
        .iter()
        .zip(w.as_slice())
        .map(|(a, b)| a * b)
        .sum()
}

/// Whether the objective is smooth along element `e` of input `j` at the
/// scale of the finite-difference step: one-sided differences agree.
fn smooth_along(prog: &Program, xs: &[Tensor<f64>], j: usize, e: usize) -> bool {
    let h = 1e-6;
    // The points gradcheck used, bit for bit: where rounding decides a
    // branch, a point off by an ulp can land on the other side.
    let mut at = xs.to_vec();
    let x0 = xs[j].as_slice()[e];
    let f0 = objective(prog, &at);
    at[j].as_mut_slice()[e] = x0 + h;
    let fp = objective(prog, &at);
    at[j].as_mut_slice()[e] = x0 - h;
    let fm = objective(prog, &at);
    let (fwd, bwd) = ((fp - f0) / h, (f0 - fm) / h);
    (fwd - bwd).abs() <= 1e-3 * (1.0 + fwd.abs() + bwd.abs())
}

/// The flat index of `index` in `dims`.
fn ravel(index: &[usize], dims: &[usize]) -> usize {
    index.iter().zip(dims).fold(0, |f, (&i, &d)| f * d + i)
}

/// Counts kept across the cases of one run.
#[derive(Default)]
struct Tally {
    passed: usize,
    rejected_big: usize,
    rejected_kink: usize,
    rejected_conditioning: usize,
    kinds: Vec<usize>,
}

/// Checks one program; `Err(reject)` for the cases excluded above.
fn check(prog: &Program, tally: &RefCell<Tally>) -> Result<(), TestCaseError> {
    let xs = leaves(prog);
    // Values first: finite and not too large.
    let mut trace = Trace::default();
    {
        let tape = Tape::<f64>::new();
        let vars: Vec<Var<'_, f64>> = xs.iter().map(|x| tape.constant(x.clone())).collect();
        run(prog, &vars, &mut trace);
    }
    if trace.max_abs > MAX_VALUE {
        tally.borrow_mut().rejected_big += 1;
        return Err(TestCaseError::reject("values too large"));
    }
    // 1. backward against central differences, in f64.
    let opts = GradcheckOptions {
        eps: 1e-6,
        atol: 1e-5,
        rtol: 1e-4,
    };
    if let Err(report) = gradcheck_with(|v| run(prog, v, &mut Trace::default()), &xs, opts) {
        let w = report
            .worst
            .clone()
            .expect("a failing report names an element");
        let e = ravel(&w.index, xs[w.input].shape());
        if !smooth_along(prog, &xs, w.input, e) {
            tally.borrow_mut().rejected_kink += 1;
            return Err(TestCaseError::reject("not differentiable at this point"));
        }
        return Err(TestCaseError::fail(format!("f64 gradcheck: {report}")));
    }
    // 2. f32 against f64.
    let r64 = value_and_grads::<f64>(prog, &xs);
    let r32 = value_and_grads::<f32>(prog, &xs);
    let diff = run_diff(&r32, &r64);
    if diff > F32_TOL {
        // A few noise draws: one may miss a branch flip (a `where_` mask
        // or relu input that is 0 up to rounding) that f32 took.
        let sensitivity = (0..NOISE_DRAWS)
            .map(|k| run_diff(&noisy_value_and_grads(prog, &xs, k), &r64))
            .fold(0.0, f64::max);
        if sensitivity > F32_TOL / 2.0 {
            tally.borrow_mut().rejected_conditioning += 1;
            return Err(TestCaseError::reject("ill-conditioned"));
        }
        return Err(TestCaseError::fail(format!(
            "f32 differs from f64 by {diff:.3e} (scaled); the f64 run moves by only \
             {sensitivity:.3e} under relative noise of 1e-6 on every value\nf32 {r32:?}\nf64 {r64:?}"
        )));
    }
    // 3. forward mode against reverse mode: <J v, u> = <v, J^T u>.
    if let Err(message) = jvp_identity(prog, &xs) {
        return Err(TestCaseError::fail(message));
    }
    let mut t = tally.borrow_mut();
    t.passed += 1;
    if t.kinds.is_empty() {
        t.kinds = vec![0; Kind::ALL.len()];
    }
    for k in trace.kinds {
        t.kinds[k as usize] += 1;
    }
    Ok(())
}

/// Forward mode on the program's own tape (every leaf a dual with a random
/// tangent `v`) against reverse mode on it: `<J v, u>` must equal
/// `sum_j <v_j, (J^T u)_j>` for a random `u`, to rounding (both sides are
/// exact sums of the same products in another order; no finite step is
/// involved, so kinks do not matter).
fn jvp_identity(prog: &Program, xs: &[Tensor<f64>]) -> Result<(), String> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(prog.seed ^ 0x9e37_79b9);
    let vs: Vec<Tensor<f64>> = xs
        .iter()
        .map(|x| Tensor::rand_uniform(x.shape(), -1.0, 1.0, &mut rng))
        .collect();
    let tape = Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = xs
        .iter()
        .zip(&vs)
        .map(|(x, v)| tape.dual(x.clone(), v.clone()))
        .collect();
    let out = run(prog, &vars, &mut Trace::default());
    let jv = out.tangent();
    let u = Tensor::<f64>::rand_uniform(&out.shape(), -1.0, 1.0, &mut rng);
    let dot = |a: &Tensor<f64>, b: &Tensor<f64>| -> (f64, f64) {
        let pairs = a.as_slice().iter().zip(b.as_slice());
        pairs.fold((0.0, 0.0), |(s, m), (x, y)| (s + x * y, m + (x * y).abs()))
    };
    let (lhs, lhs_scale) = dot(&jv, &u);
    let grads = out.backward_with(u);
    let (mut rhs, mut rhs_scale) = (0.0, 0.0);
    for (&x, v) in vars.iter().zip(&vs) {
        let (d, m) = dot(grads.wrt(x), v);
        rhs += d;
        rhs_scale += m;
    }
    let tol = 1e-9 * (1.0 + lhs_scale.max(rhs_scale));
    if (lhs - rhs).abs() <= tol {
        Ok(())
    } else {
        Err(format!(
            "forward mode: <J v, u> = {lhs:e} but <v, J^T u> = {rhs:e} (tolerance {tol:e})"
        ))
    }
}

#[test]
fn random_programs_have_backward_matching_finite_differences_and_f32_matching_f64() {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    config.rng_algorithm = RngAlgorithm::ChaCha;
    // A fixed seed unless PROPTEST_RNG_SEED asks for another one.
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x7a9e_67ad);
    }
    config.max_global_rejects = config.cases;
    config.failure_persistence = None;
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let tally = RefCell::new(Tally::default());
    let result = runner.run(&program(), |prog| check(&prog, &tally));
    let t = tally.into_inner();
    println!(
        "props: {cases} cases: {} passed; rejected: {} too large, {} at a kink, {} ill-conditioned",
        t.passed, t.rejected_big, t.rejected_kink, t.rejected_conditioning
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // Every op kind ran in some accepted program.
    let never: Vec<Kind> = Kind::ALL
        .iter()
        .copied()
        .filter(|&k| t.kinds.get(k as usize).is_none_or(|&n| n == 0))
        .collect();
    println!("props: op kinds run {:?}", {
        let mut v: Vec<(Kind, usize)> = Kind::ALL
            .iter()
            .map(|&k| (k, t.kinds[k as usize]))
            .collect();
        v.sort_by_key(|x| x.1);
        v
    });
    assert!(
        cases < 200 || never.is_empty(),
        "op kinds never run in an accepted program: {never:?}"
    );
}

// ---------------------------------------------------------------------------
// Programs, their concrete ops, and the interpreter.

macro_rules! kinds {
    ($($k:ident),* $(,)?) => {
        /// The op kinds a [`Step`] can name: every differentiable op.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Kind { $($k),* }
        impl Kind {
            /// Every kind, simplest first (shrinking moves towards the front).
            const ALL: &'static [Kind] = &[$(Kind::$k),*];
        }
    };
}

kinds!(
    Add,
    Mul,
    Sub,
    Neg,
    Exp,
    Ln,
    Sqrt,
    Square,
    Recip,
    Abs,
    Sin,
    Cos,
    Tanh,
    Sigmoid,
    Relu,
    LeakyRelu,
    Elu,
    Gelu,
    GeluTanh,
    Silu,
    Softplus,
    Clamp,
    AddScalar,
    MulScalar,
    ScalarSub,
    ScalarDiv,
    PowScalar,
    Div,
    Pow,
    Maximum,
    Minimum,
    Where,
    Sum,
    Mean,
    Max,
    Min,
    Var,
    LogSumExp,
    Matmul,
    Linear,
    Reshape,
    Flatten,
    Squeeze,
    Unsqueeze,
    BroadcastTo,
    Transpose,
    Permute,
    Narrow,
    Concat,
    Stack,
    IndexSelect,
    Gather,
    Pad,
    Softmax,
    LogSoftmax,
    CausalSoftmax,
    Conv2d,
    MaxPool2d,
    AvgPool2d,
    LayerNorm,
    BatchNorm,
    HeadScores,
    HeadMix,
    Dropout,
    CrossEntropy,
    Mse,
    Bce,
    NnCrossEntropy,
    NllLoss,
    L1Loss,
    Huber,
    SmoothL1,
    Hinge,
    KlDiv,
    NnBce,
);
