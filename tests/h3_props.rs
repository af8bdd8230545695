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
//! `PROPTEST_CASES=200000 cargo test --release --test h3_props -- --nocapture`
//!
//! (about a minute; `PROPTEST_RNG_SEED=<u64>` explores other programs).
//!
//! The interpreter ([`run`]) is generic over [`Value`], which reverse mode
//! implements for `Var`; a forward-mode (JVP) value, a primal with its
//! tangent, would implement the same trait, and the same programs would
//! then check `J v` against finite differences along `v`.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestRunner};
use rand::SeedableRng;
use std::cell::RefCell;
use tapegrad::check::{GradcheckOptions, gradcheck_with};
use tapegrad::nn::loss::{self, BceWithLogitsOptions, CrossEntropyOptions, KlReduction, Reduction};
use tapegrad::ops::Conv2dOptions;
use tapegrad::{Float, Tape, Tensor, Var};

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
        "h3_props: {cases} cases: {} passed; rejected: {} too large, {} at a kink, {} ill-conditioned",
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
    println!("h3_props: op kinds run {:?}", {
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

/// One op descriptor: the kind, the earlier values it reads (indices modulo
/// the values so far) and parameters the interpreter maps onto the shapes.
#[derive(Clone, Debug)]
struct Step {
    kind: Kind,
    args: [u8; 3],
    p: [u8; 4],
}

/// Leaf shapes, the seed of the leaf values, and the steps; the output is
/// the last value.
#[derive(Clone, Debug)]
struct Program {
    leaves: Vec<Vec<usize>>,
    steps: Vec<Step>,
    seed: u64,
}

/// A concrete op with every argument resolved: what a [`Value`] applies.
#[derive(Clone, Debug)]
enum Prim {
    /// An elementwise op of one input, with its scalar argument if any.
    Unary(Kind, f64),
    Clamp(f64, f64),
    /// `+ - * /`, `pow`, `maximum`, `minimum` of `[a, b]`.
    Binary(Kind),
    /// `[cond, a, b]`: `a` where `cond > 0`, else `b`.
    Where,
    /// `axes: None` is the all-element form.
    Reduce {
        kind: Kind,
        axes: Option<Vec<isize>>,
        keepdim: bool,
        correction: usize,
    },
    Matmul,
    /// `[x, w]` or `[x, w, b]`.
    Linear,
    Reshape(Vec<usize>),
    Flatten(isize, isize),
    Squeeze(isize),
    Unsqueeze(isize),
    BroadcastTo(Vec<usize>),
    Transpose(isize, isize),
    Permute(Vec<usize>),
    Narrow(isize, usize, usize),
    Concat(isize),
    Stack(isize),
    IndexSelect(isize, Vec<usize>),
    Gather(isize, Vec<usize>, Vec<usize>),
    Pad(Vec<(usize, usize)>, f64),
    Softmax(isize),
    LogSoftmax(isize),
    CausalSoftmax,
    /// `[x, w]` or `[x, w, b]`.
    Conv2d(Conv2dOptions),
    Pool {
        max: bool,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
    },
    /// `[x, weight?, bias?]`.
    LayerNorm {
        dims: Vec<usize>,
        weight: bool,
        bias: bool,
    },
    BatchNorm {
        weight: bool,
        bias: bool,
    },
    HeadScores(usize),
    HeadMix(usize),
    Dropout(f64, u64),
    CrossEntropy(Vec<usize>),
    Mse,
    Bce,
    NnCrossEntropy {
        targets: Vec<usize>,
        smoothing: f64,
        weight: Option<Vec<f64>>,
        reduction: Reduction,
    },
    NllLoss {
        targets: Vec<usize>,
        weight: Option<Vec<f64>>,
        reduction: Reduction,
    },
    L1(Reduction),
    Huber(f64, Reduction),
    SmoothL1(f64, Reduction),
    /// Labels (±1, the input's shape) are a constant.
    Hinge(Vec<f64>, Reduction),
    KlDiv(KlReduction),
    /// `pos_weight`, over the last axis, is a constant.
    NnBce {
        pos_weight: Option<Vec<f64>>,
        reduction: Reduction,
    },
}

/// What the interpreter needs of a value. Reverse mode: `Var`. A forward
/// mode value (primal and tangent) would implement it the same way.
trait Value: Copy {
    fn dims(&self) -> Vec<usize>;
    fn values(&self) -> Vec<f64>;
    fn apply(prim: &Prim, args: &[Self]) -> Self;
}

fn tensor<T: Float>(data: &[f64], dims: &[usize]) -> Tensor<T> {
    Tensor::from_vec(data.iter().map(|&v| T::from_f64(v)).collect(), dims).unwrap()
}

/// The element types, with the scalar-on-the-left operators (`s - x`,
/// `s / x`), which the crate defines for `f32` and `f64` only.
trait Elem: Float {
    fn rsub(s: f64, x: Var<'_, Self>) -> Var<'_, Self>;
    fn rdiv(s: f64, x: Var<'_, Self>) -> Var<'_, Self>;
}

impl Elem for f32 {
    fn rsub(s: f64, x: Var<'_, f32>) -> Var<'_, f32> {
        s as f32 - x
    }
    fn rdiv(s: f64, x: Var<'_, f32>) -> Var<'_, f32> {
        s as f32 / x
    }
}

impl Elem for f64 {
    fn rsub(s: f64, x: Var<'_, f64>) -> Var<'_, f64> {
        s - x
    }
    fn rdiv(s: f64, x: Var<'_, f64>) -> Var<'_, f64> {
        s / x
    }
}

impl<T: Elem> Value for Var<'_, T> {
    fn dims(&self) -> Vec<usize> {
        self.shape().to_vec()
    }

    fn values(&self) -> Vec<f64> {
        to_f64(self.value().as_slice())
    }

    fn apply(prim: &Prim, a: &[Self]) -> Self {
        use Kind as K;
        let x = a[0];
        let tape = x.tape();
        let opt = |i: usize| a.get(i).copied();
        match prim {
            Prim::Unary(k, s) => {
                let s = *s;
                match k {
                    K::Neg => -x,
                    K::Exp => x.exp(),
                    K::Ln => x.ln(),
                    K::Sqrt => x.sqrt(),
                    K::Square => x.square(),
                    K::Recip => x.recip(),
                    K::Abs => x.abs(),
                    K::Sin => x.sin(),
                    K::Cos => x.cos(),
                    K::Tanh => x.tanh(),
                    K::Sigmoid => x.sigmoid(),
                    K::Relu => x.relu(),
                    K::LeakyRelu => x.leaky_relu(s),
                    K::Elu => x.elu(s),
                    K::Gelu => x.gelu(),
                    K::GeluTanh => x.gelu_with(tapegrad::ops::GeluApprox::Tanh),
                    K::Silu => x.silu(),
                    K::Softplus => x.softplus(),
                    K::AddScalar => x + T::from_f64(s),
                    K::MulScalar => x * T::from_f64(s),
                    K::ScalarSub => T::rsub(s, x),
                    K::ScalarDiv => T::rdiv(s, x),
                    K::PowScalar => x.powf(s),
                    other => unreachable!("{other:?} is not unary"),
                }
            }
            Prim::Clamp(lo, hi) => x.clamp(*lo, *hi),
            Prim::Binary(k) => {
                let y = a[1];
                match k {
                    K::Add => x + y,
                    K::Sub => x - y,
                    K::Mul => x * y,
                    K::Div => x / y,
                    K::Pow => x.pow(y),
                    K::Maximum => x.maximum(y),
                    K::Minimum => x.minimum(y),
                    other => unreachable!("{other:?} is not binary"),
                }
            }
            Prim::Where => x.gt(0.0).where_(a[1], a[2]),
            Prim::Reduce {
                kind,
                axes,
                keepdim,
                correction,
            } => {
                let k = *keepdim;
                match (kind, axes) {
                    (K::Sum, None) => x.sum(),
                    (K::Mean, None) => x.mean(),
                    (K::Max, None) => x.max(),
                    (K::Min, None) => x.min(),
                    (K::Var, None) => x.var(*correction),
                    (K::LogSumExp, None) => x.logsumexp(),
                    (K::Sum, Some(ax)) => x.sum_axes(ax, k),
                    (K::Mean, Some(ax)) => x.mean_axes(ax, k),
                    (K::Max, Some(ax)) => x.max_axes(ax, k),
                    (K::Min, Some(ax)) => x.min_axes(ax, k),
                    (K::Var, Some(ax)) => x.var_axes(ax, *correction, k),
                    (K::LogSumExp, Some(ax)) => x.logsumexp_axes(ax, k),
                    (other, _) => unreachable!("{other:?} is not a reduction"),
                }
            }
            Prim::Matmul => x.matmul(a[1]),
            Prim::Linear => x.linear(a[1], opt(2)),
            Prim::Reshape(d) => x.reshape(d),
            Prim::Flatten(s, e) => x.flatten(*s, *e),
            Prim::Squeeze(ax) => x.squeeze(*ax),
            Prim::Unsqueeze(ax) => x.unsqueeze(*ax),
            Prim::BroadcastTo(d) => x.broadcast_to(d),
            Prim::Transpose(i, j) => x.transpose(*i, *j),
            Prim::Permute(p) => x.permute(p),
            Prim::Narrow(ax, s, l) => x.narrow(*ax, *s, *l),
            Prim::Concat(ax) => Var::concat(a, *ax),
            Prim::Stack(ax) => Var::stack(a, *ax),
            Prim::IndexSelect(ax, idx) => x.index_select(*ax, idx),
            Prim::Gather(ax, idx, d) => x.gather(*ax, idx, d),
            Prim::Pad(p, v) => x.pad(p, *v),
            Prim::Softmax(ax) => x.softmax(*ax),
            Prim::LogSoftmax(ax) => x.log_softmax(*ax),
            Prim::CausalSoftmax => x.causal_softmax(),
            Prim::Conv2d(o) => x.conv2d(a[1], opt(2), *o),
            Prim::Pool {
                max,
                kernel,
                stride,
                padding,
            } => {
                if *max {
                    x.max_pool2d(*kernel, *stride, *padding)
                } else {
                    x.avg_pool2d(*kernel, *stride, *padding)
                }
            }
            Prim::LayerNorm { dims, weight, bias } => {
                let w = weight.then(|| a[1]);
                let b = bias.then(|| a[1 + *weight as usize]);
                x.layer_norm(dims, w, b, 1e-5)
            }
            Prim::BatchNorm { weight, bias } => {
                let w = weight.then(|| a[1]);
                let b = bias.then(|| a[1 + *weight as usize]);
                x.batch_norm(w, b, 1e-5)
            }
            Prim::HeadScores(h) => x.head_scores(a[1], *h),
            Prim::HeadMix(h) => x.head_mix(a[1], *h),
            Prim::Dropout(p, seed) => x.dropout(*p, &mut rand::rngs::StdRng::seed_from_u64(*seed)),
            Prim::CrossEntropy(t) => x.cross_entropy(t),
            Prim::Mse => x.mse_loss(a[1]),
            Prim::Bce => x.binary_cross_entropy_with_logits(a[1]),
            Prim::NnCrossEntropy {
                targets,
                smoothing,
                weight,
                reduction,
            } => {
                let mut opts = CrossEntropyOptions::<T>::default()
                    .label_smoothing(*smoothing)
                    .reduction(*reduction);
                if let Some(w) = weight {
                    opts = opts.weight(tensor(w, &[w.len()]));
                }
                loss::cross_entropy(x, targets, &opts)
            }
            Prim::NllLoss {
                targets,
                weight,
                reduction,
            } => {
                let w = weight.as_ref().map(|w| tensor::<T>(w, &[w.len()]));
                loss::nll_loss(x, targets, w.as_ref(), *reduction)
            }
            Prim::L1(r) => loss::l1_loss(x, a[1], *r),
            Prim::Huber(d, r) => loss::huber_loss(x, a[1], *d, *r),
            Prim::SmoothL1(b, r) => loss::smooth_l1_loss(x, a[1], *b, *r),
            Prim::Hinge(labels, r) => {
                let l = tape.constant(tensor(labels, &x.dims()));
                loss::hinge_loss(x, l, *r)
            }
            Prim::KlDiv(r) => loss::kl_div(x, a[1], *r),
            Prim::NnBce {
                pos_weight,
                reduction,
            } => {
                let mut opts = BceWithLogitsOptions::<T>::default().reduction(*reduction);
                if let Some(p) = pos_weight {
                    opts = opts.pos_weight(tensor(p, &[p.len()]));
                }
                loss::binary_cross_entropy_with_logits(x, a[1], &opts)
            }
        }
    }
}

/// What a run saw: the largest magnitude of any value it made (infinite
/// for a NaN or infinity) and the kinds of its steps.
#[derive(Default)]
struct Trace {
    max_abs: f64,
    kinds: Vec<Kind>,
}

/// Runs a program on its leaves.
fn run<V: Value>(prog: &Program, leaves: &[V], t: &mut Trace) -> V {
    let mut vals: Vec<V> = leaves.to_vec();
    for s in &prog.steps {
        let pick = |i: usize| vals[s.args[i] as usize % vals.len()];
        let (a, b, c) = (pick(0), pick(1), pick(2));
        t.kinds.push(s.kind);
        let out = step_value(t, s, a, b, c);
        vals.push(out);
    }
    // A fresh node, never a leaf (dropout with p = 0 returns its input):
    // `Grads` has no entry for the vars recorded after the root of a
    // backward pass, so `grads.wrt` would panic for those (see
    // `backward_from_an_early_leaf_gives_later_leaves_zero_gradients`).
    let out = *vals.last().expect("a program has a leaf");
    ap(t, Prim::Unary(Kind::MulScalar, 1.0), &[out])
}

/// Applies a concrete op, noting the size of its result.
fn ap<V: Value>(t: &mut Trace, prim: Prim, args: &[V]) -> V {
    let out = V::apply(&prim, args);
    for v in out.values() {
        t.max_abs = t.max_abs.max(if v.is_finite() {
            v.abs()
        } else {
            f64::INFINITY
        });
    }
    out
}

fn numel(d: &[usize]) -> usize {
    d.iter().product()
}

/// `1..=3` from a parameter.
fn size(p: u8) -> usize {
    1 + p as usize % 3
}

/// A scalar argument in `[-2, 2)`.
fn scalar(p: u8) -> f64 {
    (p as f64 - 128.0) / 64.0
}

/// Axis `p / 2 mod nd`, written negatively when `p` is odd.
fn axis(p: u8, nd: usize) -> isize {
    let a = (p as usize / 2) % nd;
    if p & 1 == 1 {
        a as isize - nd as isize
    } else {
        a as isize
    }
}

/// `v` brought to `dims`: flattened, repeated (concat) if too short,
/// cut (narrow) if too long, and reshaped.
fn fit<V: Value>(t: &mut Trace, v: V, dims: &[usize]) -> V {
    let have = v.dims();
    if have == dims {
        return v;
    }
    let (n, m) = (numel(&have), numel(dims));
    if n == m {
        return ap(t, Prim::Reshape(dims.to_vec()), &[v]);
    }
    let mut flat = if have.len() == 1 {
        v
    } else {
        ap(t, Prim::Reshape(vec![n]), &[v])
    };
    let mut len = n;
    if n < m {
        let reps = m.div_ceil(n);
        flat = ap(t, Prim::Concat(0), &vec![flat; reps]);
        len = n * reps;
    }
    if len > m {
        flat = ap(t, Prim::Narrow(0, 0, m), &[flat]);
    }
    if dims.len() == 1 {
        flat
    } else {
        ap(t, Prim::Reshape(dims.to_vec()), &[flat])
    }
}

/// `x^2 + 0.5`: a positive input for ops with a restricted domain.
fn pos<V: Value>(t: &mut Trace, v: V) -> V {
    let sq = ap(t, Prim::Unary(Kind::Square, 0.0), &[v]);
    ap(t, Prim::Unary(Kind::AddScalar, 0.5), &[sq])
}

fn at_least_1d<V: Value>(t: &mut Trace, v: V) -> V {
    if v.dims().is_empty() {
        ap(t, Prim::Unsqueeze(0), &[v])
    } else {
        v
    }
}

fn reduction(p: u8) -> Reduction {
    [Reduction::Mean, Reduction::Sum, Reduction::None][p as usize % 3]
}

/// Operands of a binary op, broadcasting both ways: per axis of `a`, 2 bits
/// of `p[1..3]` make `b`'s size 1, `a`'s size 1, or neither; `p[3]` drops
/// leading axes of `b`, and an odd `p[0]` gives `b` an extra leading axis.
fn broadcast_pair<V: Value>(t: &mut Trace, a: V, b: V, p: [u8; 4]) -> (V, V) {
    let d = a.dims();
    let bits = p[1] as u32 | (p[2] as u32) << 8;
    let (mut da, mut db) = (d.clone(), d.clone());
    for i in 0..d.len().min(8) {
        match (bits >> (2 * i)) & 3 {
            1 => db[i] = 1,
            2 => da[i] = 1,
            _ => {}
        }
    }
    let drop = p[3] as usize % (d.len() + 1);
    let mut db = db[drop..].to_vec();
    if drop == 0 && p[0] & 1 == 1 {
        db.insert(0, 2);
    }
    (fit(t, a, &da), fit(t, b, &db))
}

/// A shape of `n` elements over `p[0] % 4` axes (at least one if `n > 1`).
fn refactor(n: usize, p: [u8; 4]) -> Vec<usize> {
    let mut nd = p[0] as usize % 4;
    if nd == 0 && n > 1 {
        nd = 1;
    }
    let mut dims = vec![1; nd];
    let (mut rest, mut f, mut i) = (n, 2, 0);
    while rest > 1 {
        if rest % f == 0 {
            dims[(p[1] as usize + i * (1 + p[2] as usize)) % nd] *= f;
            rest /= f;
            i += 1;
        } else {
            f += 1;
        }
    }
    dims
}

/// The permutation of `0..n` with Lehmer code `code` (mod n!).
fn lehmer(mut code: usize, n: usize) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..n).collect();
    let mut perm = Vec::with_capacity(n);
    for k in (1..=n).rev() {
        perm.push(pool.remove(code % k));
        code /= k;
    }
    perm
}

/// Class-loss targets: `n` indices below `c`.
fn targets(n: usize, c: usize, p: u8, q: u8) -> Vec<usize> {
    (0..n)
        .map(|i| (p as usize + i * (q as usize | 1)) % c)
        .collect()
}

fn step_value<V: Value>(t: &mut Trace, s: &Step, a: V, b: V, c: V) -> V {
    use Kind as K;
    let p = s.p;
    let unary = |t: &mut Trace, k: Kind, arg: f64, x: V| ap(t, Prim::Unary(k, arg), &[x]);
    match s.kind {
        K::Neg
        | K::Exp
        | K::Square
        | K::Abs
        | K::Sin
        | K::Cos
        | K::Tanh
        | K::Sigmoid
        | K::Relu
        | K::Gelu
        | K::GeluTanh
        | K::Silu
        | K::Softplus => unary(t, s.kind, 0.0, a),
        K::Ln | K::Sqrt | K::Recip => {
            let x = pos(t, a);
            unary(t, s.kind, 0.0, x)
        }
        K::LeakyRelu => unary(t, s.kind, 0.01 + p[0] as f64 / 256.0, a),
        K::Elu => unary(t, s.kind, 0.5 + p[0] as f64 / 128.0, a),
        K::Clamp => {
            let (lo, hi) = (-0.25 - p[0] as f64 / 128.0, 0.25 + p[1] as f64 / 128.0);
            ap(t, Prim::Clamp(lo, hi), &[a])
        }
        K::AddScalar | K::MulScalar | K::ScalarSub => unary(t, s.kind, scalar(p[0]), a),
        K::ScalarDiv => {
            let x = pos(t, a);
            unary(t, s.kind, scalar(p[0]), x)
        }
        K::PowScalar => {
            let e = [2.0, 3.0, 0.5, -1.5, 1.7, -1.0][p[0] as usize % 6];
            let x = if e == 2.0 || e == 3.0 { a } else { pos(t, a) };
            unary(t, s.kind, e, x)
        }
        K::Add | K::Sub | K::Mul | K::Div | K::Pow | K::Maximum | K::Minimum => {
            let (x, y) = broadcast_pair(t, a, b, p);
            let x = if s.kind == K::Pow { pos(t, x) } else { x };
            let y = if s.kind == K::Div { pos(t, y) } else { y };
            ap(t, Prim::Binary(s.kind), &[x, y])
        }
        K::Where => {
            let (x, y) = broadcast_pair(t, a, b, p);
            let cond = fit(t, c, &x.dims());
            ap(t, Prim::Where, &[cond, x, y])
        }
        K::Sum | K::Mean | K::Max | K::Min | K::Var | K::LogSumExp => {
            let d = a.dims();
            let nd = d.len();
            let axes = (!p[0].is_multiple_of(4)).then(|| {
                let mut ax: Vec<usize> = (0..nd).filter(|&i| (p[1] >> (i % 8)) & 1 == 1).collect();
                if p[2] & 4 != 0 {
                    ax.reverse();
                }
                ax
            });
            let count: usize = match &axes {
                None => numel(&d),
                Some(ax) => ax.iter().map(|&i| d[i]).product(),
            };
            let signed = |i: usize| {
                if p[2] & 1 == 1 {
                    i as isize - nd as isize
                } else {
                    i as isize
                }
            };
            let correction = if count > 1 {
                (p[2] >> 1) as usize & 1
            } else {
                0
            };
            let prim = Prim::Reduce {
                kind: s.kind,
                axes: axes.map(|ax| ax.into_iter().map(signed).collect()),
                keepdim: p[3] & 1 == 1,
                correction,
            };
            ap(t, prim, &[a])
        }
        K::Matmul => {
            let (m, k, n) = (size(p[0]), size(p[0] / 3), size(p[1]));
            let (b1, b2) = (1 + p[2] as usize % 2, 1 + (p[2] as usize / 2) % 3);
            let (da, db) = match p[3] % 4 {
                0 => (vec![m, k], vec![k, n]),
                1 => (vec![b1, m, k], vec![k, n]),
                2 => (vec![m, k], vec![b2, k, n]),
                _ => (vec![b1, 1, m, k], vec![b2, k, n]),
            };
            let (x, y) = (fit(t, a, &da), fit(t, b, &db));
            ap(t, Prim::Matmul, &[x, y])
        }
        K::Linear => {
            let (inf, outf) = (size(p[0]), size(p[1]));
            let mut dx = match p[2] % 3 {
                0 => vec![],
                1 => vec![size(p[3])],
                _ => vec![2, size(p[3])],
            };
            dx.push(inf);
            let x = fit(t, a, &dx);
            let w = fit(t, b, &[outf, inf]);
            if p[3] & 8 != 0 {
                let bias = fit(t, c, &[outf]);
                ap(t, Prim::Linear, &[x, w, bias])
            } else {
                ap(t, Prim::Linear, &[x, w])
            }
        }
        K::Reshape => {
            let dims = refactor(numel(&a.dims()), p);
            ap(t, Prim::Reshape(dims), &[a])
        }
        K::Flatten => {
            let nd = a.dims().len().max(1);
            let st = p[0] as usize % nd;
            let e = st + p[1] as usize % (nd - st);
            let e = if p[2] & 1 == 1 {
                e as isize - nd as isize
            } else {
                e as isize
            };
            ap(t, Prim::Flatten(st as isize, e), &[a])
        }
        K::Squeeze => {
            let d = a.dims();
            let ones: Vec<usize> = (0..d.len()).filter(|&i| d[i] == 1).collect();
            if ones.is_empty() {
                let ax = p[0] as usize % (d.len() + 1);
                let u = ap(t, Prim::Unsqueeze(ax as isize), &[a]);
                ap(t, Prim::Squeeze(ax as isize), &[u])
            } else {
                let ax = ones[p[0] as usize % ones.len()];
                let ax = if p[1] & 1 == 1 {
                    ax as isize - d.len() as isize
                } else {
                    ax as isize
                };
                ap(t, Prim::Squeeze(ax), &[a])
            }
        }
        K::Unsqueeze => {
            let nd = a.dims().len();
            let ax = p[0] as usize % (nd + 1);
            let ax = if ax == nd && p[1] & 1 == 1 {
                -1
            } else {
                ax as isize
            };
            ap(t, Prim::Unsqueeze(ax), &[a])
        }
        K::BroadcastTo => {
            let d = a.dims();
            let mut target: Vec<usize> = (0..p[0] as usize % 3).map(|i| size(p[1] >> i)).collect();
            for (i, &n) in d.iter().enumerate() {
                target.push(if n == 1 { size(p[2] >> (i % 8)) } else { n });
            }
            ap(t, Prim::BroadcastTo(target), &[a])
        }
        K::Transpose => {
            let x = at_least_1d(t, a);
            let nd = x.dims().len();
            ap(t, Prim::Transpose(axis(p[0], nd), axis(p[1], nd)), &[x])
        }
        K::Permute => {
            let x = at_least_1d(t, a);
            let perm = lehmer(p[0] as usize + 256 * p[1] as usize, x.dims().len());
            ap(t, Prim::Permute(perm), &[x])
        }
        K::Narrow => {
            let x = at_least_1d(t, a);
            let d = x.dims();
            let ax = axis(p[0], d.len());
            let n = d[ax.rem_euclid(d.len() as isize) as usize];
            let st = p[1] as usize % n;
            let len = 1 + p[2] as usize % (n - st);
            ap(t, Prim::Narrow(ax, st, len), &[x])
        }
        K::Concat => {
            let x = at_least_1d(t, a);
            let d = x.dims();
            let ax = axis(p[0], d.len());
            let mut db = d.clone();
            db[ax.rem_euclid(d.len() as isize) as usize] = size(p[1]);
            let y = fit(t, b, &db);
            let args = if p[2] & 1 == 1 {
                vec![x, y, x]
            } else {
                vec![x, y]
            };
            ap(t, Prim::Concat(ax), &args)
        }
        K::Stack => {
            let d = a.dims();
            let y = fit(t, b, &d);
            let ax = (p[0] as usize % (d.len() + 1)) as isize;
            let args = if p[2] & 1 == 1 {
                vec![a, y, a]
            } else {
                vec![a, y]
            };
            ap(t, Prim::Stack(ax), &args)
        }
        K::IndexSelect => {
            let x = at_least_1d(t, a);
            let d = x.dims();
            let ax = axis(p[0], d.len());
            let n = d[ax.rem_euclid(d.len() as isize) as usize];
            let len = 1 + p[1] as usize % 4;
            let idx = (0..len)
                .map(|i| (p[2] as usize + i * (p[3] as usize + 1)) % n)
                .collect();
            ap(t, Prim::IndexSelect(ax, idx), &[x])
        }
        K::Gather => {
            let x = at_least_1d(t, a);
            let d = x.dims();
            let ax = axis(p[0], d.len());
            let r = ax.rem_euclid(d.len() as isize) as usize;
            let mut idims = d.clone();
            for (j, n) in idims.iter_mut().enumerate() {
                if j == r {
                    *n = size(p[1]);
                } else if (p[2] >> (j % 8)) & 1 == 1 {
                    *n = (*n - 1).max(1);
                }
            }
            let idx = (0..numel(&idims))
                .map(|i| (p[3] as usize + 5 * i) % d[r])
                .collect();
            ap(t, Prim::Gather(ax, idx, idims), &[x])
        }
        K::Pad => {
            let nd = a.dims().len();
            let pads = (0..nd)
                .map(|i| {
                    (
                        ((p[0] >> (i % 8)) & 1) as usize,
                        ((p[1] >> (i % 8)) % 3) as usize,
                    )
                })
                .collect();
            ap(t, Prim::Pad(pads, scalar(p[2])), &[a])
        }
        K::Softmax | K::LogSoftmax => {
            let nd = a.dims().len();
            let ax = if nd == 0 {
                -((p[0] & 1) as isize)
            } else {
                axis(p[0], nd)
            };
            let prim = if s.kind == K::Softmax {
                Prim::Softmax(ax)
            } else {
                Prim::LogSoftmax(ax)
            };
            ap(t, prim, &[a])
        }
        K::CausalSoftmax => {
            let x = if a.dims().len() < 2 {
                fit(t, a, &[size(p[0]), size(p[1])])
            } else {
                a
            };
            ap(t, Prim::CausalSoftmax, &[x])
        }
        K::Conv2d => {
            let bit = |v: u8, i: u32| ((v >> i) & 1) as usize;
            let g = 1 + bit(p[0], 0);
            let (cin, cout) = (g * (1 + bit(p[0], 1)), g * (1 + bit(p[0], 2)));
            let (kh, kw) = (size(p[1]), size(p[1] / 3));
            let opts = Conv2dOptions {
                stride: (1 + bit(p[2], 0), 1 + bit(p[2], 1)),
                padding: (bit(p[2], 2), bit(p[2], 3)),
                dilation: (1 + bit(p[2], 4), 1 + bit(p[2], 5)),
                groups: g,
            };
            let side = |k: usize, dil: usize, pad: usize, extra: usize| {
                (dil * (k - 1) + 1).saturating_sub(2 * pad).max(1) + extra
            };
            let h = side(kh, opts.dilation.0, opts.padding.0, bit(p[3], 0));
            let w = side(kw, opts.dilation.1, opts.padding.1, bit(p[3], 1));
            let x = fit(t, a, &[1 + bit(p[3], 2), cin, h, w]);
            let wt = fit(t, b, &[cout, cin / g, kh, kw]);
            if p[3] & 8 != 0 {
                let bias = fit(t, c, &[cout]);
                ap(t, Prim::Conv2d(opts), &[x, wt, bias])
            } else {
                ap(t, Prim::Conv2d(opts), &[x, wt])
            }
        }
        K::MaxPool2d | K::AvgPool2d => {
            let bit = |v: u8, i: u32| ((v >> i) & 1) as usize;
            let kernel = (size(p[0]), size(p[0] / 3));
            let stride = (1 + bit(p[1], 0), 1 + bit(p[1], 1));
            let padding = (
                bit(p[1], 2).min(kernel.0 / 2),
                bit(p[1], 3).min(kernel.1 / 2),
            );
            let h = (kernel.0 - 2 * padding.0).max(1) + bit(p[2], 0);
            let w = (kernel.1 - 2 * padding.1).max(1) + bit(p[2], 1);
            let x = fit(t, a, &[1 + bit(p[3], 0), 1 + bit(p[3], 1), h, w]);
            let max = s.kind == K::MaxPool2d;
            ap(
                t,
                Prim::Pool {
                    max,
                    kernel,
                    stride,
                    padding,
                },
                &[x],
            )
        }
        K::LayerNorm => {
            let x = at_least_1d(t, a);
            let d = x.dims();
            let k = 1 + p[0] as usize % d.len();
            let dims = d[d.len() - k..].to_vec();
            let (weight, bias) = (p[1] & 1 == 1, p[1] & 2 == 2);
            let mut args = vec![x];
            if weight {
                args.push(fit(t, b, &dims));
            }
            if bias {
                args.push(fit(t, c, &dims));
            }
            ap(t, Prim::LayerNorm { dims, weight, bias }, &args)
        }
        K::BatchNorm => {
            let d = a.dims();
            let ok = d.len() >= 2 && numel(&d) / d[1] >= 2;
            let x = if ok {
                a
            } else {
                fit(t, a, &[2, size(p[0]), size(p[1])])
            };
            let ch = x.dims()[1];
            let (weight, bias) = (p[2] & 1 == 1, p[2] & 2 == 2);
            let mut args = vec![x];
            if weight {
                args.push(fit(t, b, &[ch]));
            }
            if bias {
                args.push(fit(t, c, &[ch]));
            }
            ap(t, Prim::BatchNorm { weight, bias }, &args)
        }
        K::HeadScores | K::HeadMix => {
            let h = 1 + p[0] as usize % 2;
            let e = h * size(p[1]);
            let n = 1 + p[2] as usize % 2;
            let (lq, lk) = (size(p[3]), size(p[3] / 3));
            if s.kind == K::HeadScores {
                let (q, k) = (fit(t, a, &[n, lq, e]), fit(t, b, &[n, lk, e]));
                ap(t, Prim::HeadScores(h), &[q, k])
            } else {
                let (w, v) = (fit(t, a, &[n, h, lq, lk]), fit(t, b, &[n, lk, e]));
                ap(t, Prim::HeadMix(h), &[w, v])
            }
        }
        K::Dropout => {
            let prob = [0.0, 0.25, 0.5][p[0] as usize % 3];
            ap(t, Prim::Dropout(prob, p[1] as u64), &[a])
        }
        K::CrossEntropy | K::NnCrossEntropy | K::NllLoss => {
            let (n, cl) = (size(p[0]), 1 + size(p[1]));
            let x = fit(t, a, &[n, cl]);
            let tg = targets(n, cl, p[2], p[3]);
            let weight =
                (p[1] & 0x40 != 0).then(|| (0..cl).map(|j| 0.5 + j as f64 / 4.0).collect());
            match s.kind {
                K::CrossEntropy => ap(t, Prim::CrossEntropy(tg), &[x]),
                K::NnCrossEntropy => {
                    let smoothing = [0.0, 0.1, 0.3][(p[0] as usize / 3) % 3];
                    let prim = Prim::NnCrossEntropy {
                        targets: tg,
                        smoothing,
                        weight,
                        reduction: reduction(p[0] / 9),
                    };
                    ap(t, prim, &[x])
                }
                _ => {
                    let lp = ap(t, Prim::LogSoftmax(-1), &[x]);
                    let prim = Prim::NllLoss {
                        targets: tg,
                        weight,
                        reduction: reduction(p[0] / 3),
                    };
                    ap(t, prim, &[lp])
                }
            }
        }
        K::Mse | K::L1Loss | K::Huber | K::SmoothL1 => {
            let y = fit(t, b, &a.dims());
            let r = reduction(p[1]);
            let prim = match s.kind {
                K::Mse => Prim::Mse,
                K::L1Loss => Prim::L1(r),
                K::Huber => Prim::Huber(0.5 + p[0] as f64 / 128.0, r),
                _ => Prim::SmoothL1([0.0, 0.5, 1.0][p[0] as usize % 3], r),
            };
            ap(t, prim, &[a, y])
        }
        K::Bce | K::NnBce => {
            let y = fit(t, b, &a.dims());
            let target = ap(t, Prim::Unary(Kind::Sigmoid, 0.0), &[y]);
            if s.kind == K::Bce {
                return ap(t, Prim::Bce, &[a, target]);
            }
            let d = a.dims();
            let pos_weight = (p[0] & 1 == 1 && !d.is_empty())
                .then(|| (0..d[d.len() - 1]).map(|j| 0.5 + j as f64).collect());
            let prim = Prim::NnBce {
                pos_weight,
                reduction: reduction(p[1]),
            };
            ap(t, prim, &[a, target])
        }
        K::Hinge => {
            let n = numel(&a.dims());
            let labels = (0..n)
                .map(|i| {
                    if (p[0] as usize + i * (p[1] as usize | 1)) & 2 == 0 {
                        1.0
                    } else {
                        -1.0
                    }
                })
                .collect();
            ap(t, Prim::Hinge(labels, reduction(p[2])), &[a])
        }
        K::KlDiv => {
            let x = at_least_1d(t, a);
            let lq = ap(t, Prim::LogSoftmax(-1), &[x]);
            let y = fit(t, b, &x.dims());
            let target = ap(t, Prim::Softmax(-1), &[y]);
            let r = [
                KlReduction::None,
                KlReduction::Mean,
                KlReduction::Sum,
                KlReduction::BatchMean,
            ][p[0] as usize % 4];
            ap(t, Prim::KlDiv(r), &[lq, target])
        }
    }
}

/// Known issue, kept out of the random programs above: a backward pass from
/// a var leaf gives no entry to the vars recorded after it, so `wrt` panics
/// for them instead of returning zeros as `Grads` documents ("a leaf the
/// loss does not depend on gets zeros"). The sweep runs from the root down,
/// so it never meets the later leaves. `gradcheck(|v| v[0], &[x, y])` hits
/// it. Not fixed here (src/tape belongs to another helper).
#[test]
#[ignore = "known issue in src/tape/backward.rs: later leaves get no gradient entry"]
fn backward_from_an_early_leaf_gives_later_leaves_zero_gradients() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(1.0));
    let y = tape.var(Tensor::scalar(2.0));
    let g = x.backward();
    assert_eq!(g.wrt(x).item(), 1.0);
    assert_eq!(g.wrt(y).item(), 0.0);
}
