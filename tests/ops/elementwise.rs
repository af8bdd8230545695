//! Unary and binary elementwise ops: finite-difference gradchecks in f64,
//! known answers, and f32 agreeing with f64.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tapegrad::check::gradcheck;
use tapegrad::ops::GeluApprox;
use tapegrad::{Float, Tape, Tensor, Var};

const SHAPES: &[&[usize]] = &[&[], &[1], &[5], &[2, 3], &[3, 1, 2]];

/// Random values in [lo, hi] kept at least `gap` away from each kink point,
/// so that finite differences never straddle a corner of relu, abs or clamp.
fn sample(
    dims: &[usize],
    lo: f64,
    hi: f64,
    kinks: &[f64],
    gap: f64,
    rng: &mut StdRng,
) -> Tensor<f64> {
    let n: usize = dims.iter().product();
    let data = (0..n)
        .map(|_| {
            loop {
                let x = rng.random_range(lo..hi);
                if kinks.iter().all(|k| (x - k).abs() > gap) {
                    break x;
                }
            }
        })
        .collect();
    Tensor::from_vec(data, dims).unwrap()
}

fn check_unary(
    name: &str,
    lo: f64,
    hi: f64,
    kinks: &[f64],
    f: impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64>,
) {
    let mut rng = StdRng::seed_from_u64(7);
    for dims in SHAPES {
        let x = sample(dims, lo, hi, kinks, 0.01, &mut rng);
        if let Err(report) = gradcheck(|v| f(v[0]), &[x]) {
            panic!("{name} on {dims:?}: {report}");
        }
    }
}

#[test]
fn unary_ops_match_finite_differences() {
    check_unary("neg", -2.0, 2.0, &[], |x| -x);
    check_unary("exp", -2.0, 2.0, &[], |x| x.exp());
    check_unary("ln", 0.2, 3.0, &[], |x| x.ln());
    check_unary("sqrt", 0.2, 3.0, &[], |x| x.sqrt());
    check_unary("square", -2.0, 2.0, &[], |x| x.square());
    check_unary("recip", 0.3, 3.0, &[], |x| x.recip());
    check_unary("abs", -2.0, 2.0, &[0.0], |x| x.abs());
    check_unary("sin", -3.0, 3.0, &[], |x| x.sin());
    check_unary("cos", -3.0, 3.0, &[], |x| x.cos());
    check_unary("tanh", -3.0, 3.0, &[], |x| x.tanh());
    check_unary("sigmoid", -5.0, 5.0, &[], |x| x.sigmoid());
    check_unary("relu", -2.0, 2.0, &[0.0], |x| x.relu());
    check_unary("leaky_relu", -2.0, 2.0, &[0.0], |x| x.leaky_relu(0.1));
    check_unary("elu", -2.0, 2.0, &[0.0], |x| x.elu(1.3));
    check_unary("gelu", -3.0, 3.0, &[], |x| x.gelu());
    check_unary("gelu_tanh", -3.0, 3.0, &[], |x| {
        x.gelu_with(GeluApprox::Tanh)
    });
    check_unary("silu", -4.0, 4.0, &[], |x| x.silu());
    check_unary("softplus", -30.0, 30.0, &[], |x| x.softplus());
    check_unary("clamp", -2.0, 2.0, &[-0.5, 0.7], |x| x.clamp(-0.5, 0.7));
    check_unary("powf", 0.2, 2.0, &[], |x| x.powf(2.7));
    check_unary("scalar arithmetic", 0.2, 2.0, &[], |x| {
        (3.0 - x) * 2.5 + 1.0 / x - x / 4.0
    });
}

fn check_binary(
    name: &str,
    lo: f64,
    hi: f64,
    f: impl for<'t> Fn(Var<'t, f64>, Var<'t, f64>) -> Var<'t, f64>,
) {
    let mut rng = StdRng::seed_from_u64(11);
    // Equal shapes, a 0-d operand, and two-sided broadcasting.
    let pairs: &[(&[usize], &[usize])] = &[
        (&[], &[]),
        (&[4], &[4]),
        (&[2, 3], &[]),
        (&[], &[3]),
        (&[3, 1], &[1, 4]),
        (&[2, 1, 3], &[4, 1]),
        (&[2, 3], &[3]),
    ];
    for (da, db) in pairs {
        let a = sample(da, lo, hi, &[], 0.0, &mut rng);
        let b = sample(db, lo, hi, &[], 0.0, &mut rng);
        if let Err(report) = gradcheck(|v| f(v[0], v[1]), &[a, b]) {
            panic!("{name} on {da:?} and {db:?}: {report}");
        }
    }
}

#[test]
fn binary_ops_match_finite_differences_with_broadcasting() {
    check_binary("add", -2.0, 2.0, |a, b| a + b);
    check_binary("sub", -2.0, 2.0, |a, b| a - b);
    check_binary("mul", -2.0, 2.0, |a, b| a * b);
    check_binary("div", 0.5, 2.0, |a, b| a / b);
    check_binary("pow", 0.5, 2.0, |a, b| a.pow(b));
    // Random continuous values are never tied, so max/min are smooth here.
    check_binary("maximum", -2.0, 2.0, |a, b| a.maximum(b));
    check_binary("minimum", -2.0, 2.0, |a, b| a.minimum(b));
    check_binary("where", -2.0, 2.0, |a, b| a.gt(b).where_(a * b, a - b));
}

#[test]
fn known_answer_x_squared_sin_x() {
    // d/dx x^2 sin x = 2x sin x + x^2 cos x
    let tape = Tape::<f64>::new();
    let x0 = 1.3f64;
    let x = tape.var(Tensor::scalar(x0));
    let y = x.square() * x.sin();
    let g = y.backward().wrt(x).item();
    assert!((g - (2.0 * x0 * x0.sin() + x0 * x0 * x0.cos())).abs() < 1e-12);
}

#[test]
fn maximum_splits_ties_evenly() {
    // max(a, b) at a == b: PyTorch gives each input half the gradient.
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::scalar(2.0));
    let b = tape.var(Tensor::scalar(2.0));
    let g = a.maximum(b).backward();
    assert_eq!((g.wrt(a).item(), g.wrt(b).item()), (0.5, 0.5));
}

#[test]
fn comparisons_give_masks_without_gradient() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tapegrad::tensor![-1.0, 0.0, 2.0]);
    assert_eq!(x.gt(0.0).value().to_vec(), vec![0.0, 0.0, 1.0]);
    assert_eq!(x.le(0.0).value().to_vec(), vec![1.0, 1.0, 0.0]);
    assert_eq!(x.eq(0.0).value().to_vec(), vec![0.0, 1.0, 0.0]);
    assert!(!x.ge(0.0).requires_grad());
}

#[test]
fn softplus_and_sigmoid_stay_finite_far_out() {
    let tape = Tape::<f32>::new();
    let x = tape.var(tapegrad::tensor![-1000.0f32, 1000.0]);
    assert_eq!(x.softplus().value().to_vec(), vec![0.0, 1000.0]);
    assert_eq!(x.sigmoid().value().to_vec(), vec![0.0, 1.0]);
}

/// One expression, instantiated for both dtypes.
fn expr<'t, T: Float>(x: Var<'t, T>, y: Var<'t, T>) -> Var<'t, T> {
    (x.ln() * y).tanh() + x.sqrt().gelu() - (y * T::from_f64(2.0)).sigmoid()
}

#[test]
fn f32_agrees_with_f64() {
    let mut rng = StdRng::seed_from_u64(3);
    let x64 = Tensor::<f64>::rand_uniform(&[4, 5], 0.1, 2.0, &mut rng);
    let y64 = Tensor::<f64>::rand_uniform(&[5], -1.0, 1.0, &mut rng);
    let t64 = Tape::<f64>::new();
    let (a, b) = (t64.var(x64.clone()), t64.var(y64.clone()));
    let out64 = expr(a, b);
    let seed64 = Tensor::<f64>::ones(&[4, 5]);
    let g64 = out64.backward_with(seed64);
    let t32 = Tape::<f32>::new();
    let (c, d) = (t32.var(x64.cast()), t32.var(y64.cast()));
    let out32 = expr(c, d);
    let g32 = out32.backward_with(Tensor::ones(&[4, 5]));
    let close = |p: &[f32], q: &[f64]| {
        p.iter()
            .zip(q)
            .all(|(p, q)| (*p as f64 - q).abs() < 1e-5 * (1.0 + q.abs()))
    };
    assert!(close(out32.value().as_slice(), out64.value().as_slice()));
    assert!(close(g32.wrt(c).as_slice(), g64.wrt(a).as_slice()));
    assert!(close(g32.wrt(d).as_slice(), g64.wrt(b).as_slice()));
}
