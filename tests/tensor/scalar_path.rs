//! One-element tensors made by kernels hold their element inline (no
//! buffer, no pool): these tests check that ops on them give the values
//! and gradients of the general (buffer) path, against hand computations
//! in plain `f64` and against the same ops on two-element tensors.

use crate::common;

use common::assert_close;
use tapegrad::ops::GeluApprox;
use tapegrad::{Tape, Tensor, Var};

/// W1's chain, `y = tanh(1.01 y + 0.1)` `steps` times, on `x`; returns the
/// values of `y` and the gradient of `sum(y)`.
fn chain(x: Tensor<f64>, steps: usize) -> (Vec<f64>, Vec<f64>) {
    let tape = Tape::<f64>::new();
    let x = tape.var(x);
    let mut y = x;
    for _ in 0..steps {
        y = (y * 1.01 + 0.1).tanh();
    }
    let g = y.sum().backward();
    (y.value().to_vec(), g.wrt(x).to_vec())
}

#[test]
fn scalar_chain_matches_hand_computation_and_buffer_path() {
    // By hand: y_k = tanh(1.01 y_{k-1} + 0.1), dy_k/dy_{k-1} = 1.01 (1 - y_k^2).
    let (mut y, mut dy) = (0.5f64, 1.0f64);
    for _ in 0..50 {
        y = (1.01 * y + 0.1).tanh();
        dy *= 1.01 * (1.0 - y * y);
    }
    let (v1, g1) = chain(Tensor::from_vec(vec![0.5], &[1]).unwrap(), 50);
    assert_close(&v1, &[y], 1e-12);
    assert_close(&g1, &[dy], 1e-12);
    // Two equal elements go through buffers; each must match.
    let (v2, g2) = chain(Tensor::from_vec(vec![0.5, 0.5], &[2]).unwrap(), 50);
    assert_close(&v2, &[y, y], 1e-12);
    assert_close(&g2, &[dy, dy], 1e-12);
    // A 0-d scalar too.
    let (v0, g0) = chain(Tensor::scalar(0.5), 50);
    assert_close(&v0, &[y], 1e-12);
    assert_close(&g0, &[dy], 1e-12);
}

#[test]
fn one_element_results_broadcast_against_matrices() {
    let tape = Tape::<f64>::new();
    let s = tape.var(Tensor::from_vec(vec![1.5], &[1]).unwrap());
    let t = tape.var(Tensor::scalar(-0.5));
    let m_data = vec![1., 2., 3., 4., 5., 6.];
    let m = tape.var(Tensor::from_vec(m_data.clone(), &[2, 3]).unwrap());
    // `s * 2.0` and `t + 1.0` are kernel results of one element (inline).
    let (s2, t1) = (s * 2.0, t + 1.0);
    let z = s2 * m + t1; // z = 2 s M + (t + 1)
    assert_eq!(z.shape().as_slice(), &[2, 3]);
    let want: Vec<f64> = m_data.iter().map(|v| 3.0 * v + 0.5).collect();
    assert_close(&z.value().to_vec(), &want, 1e-12);
    let g = (z * z).sum().backward();
    // d/dz sum z^2 = 2z; dz/ds = 2M; dz/dt = 1; dz/dM = 2s = 3.
    let dz: Vec<f64> = want.iter().map(|z| 2.0 * z).collect();
    let ds: f64 = dz.iter().zip(&m_data).map(|(d, m)| d * 2.0 * m).sum();
    let dt: f64 = dz.iter().sum();
    assert_eq!(g.wrt(s).shape(), &[1]);
    assert_eq!(g.wrt(t).shape(), &[] as &[usize]);
    assert_close(&g.wrt(s).to_vec(), &[ds], 1e-9);
    assert_close(&g.wrt(t).to_vec(), &[dt], 1e-9);
    let dm: Vec<f64> = dz.iter().map(|d| d * 3.0).collect();
    assert_close(&g.wrt(m).to_vec(), &dm, 1e-9);
}

#[test]
fn scalar_and_one_element_shapes_combine() {
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::scalar(3.0)); // []
    let b = tape.var(Tensor::from_vec(vec![4.0], &[1]).unwrap()); // [1]
    let p = (a * 1.0) * (b * 1.0); // [] x [1] -> [1]
    assert_eq!(p.shape().as_slice(), &[1]);
    assert_eq!(p.item(), 12.0);
    let g = p.backward();
    // Each gradient keeps its input's shape: d(ab)/da = b, d(ab)/db = a.
    assert_eq!(g.wrt(a).shape(), &[] as &[usize]);
    assert_eq!(g.wrt(a).item(), 4.0);
    assert_eq!(g.wrt(b).shape(), &[1]);
    assert_eq!(g.wrt(b).item(), 3.0);
}

#[test]
fn one_element_results_copy_on_write() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(2.0));
    let v = (x * 3.0).value();
    let mut w = v.clone();
    w.as_mut_slice()[0] = -1.0;
    assert_eq!(
        v.item(),
        6.0,
        "writing a clone must not change the original"
    );
    assert_eq!(w.item(), -1.0);
    assert_eq!(v.reshape(&[1, 1]).get(&[0, 0]), 6.0);
    assert_eq!(v.clone().into_vec(), vec![6.0]);
    assert_eq!(v, Tensor::scalar(6.0));
}

#[test]
fn scalar_chains_do_not_fill_the_pool() {
    let mut tape = Tape::<f64>::new();
    let step = |tape: &mut Tape<f64>| {
        tape.reset();
        let x = tape.var(Tensor::from_vec(vec![0.3], &[1]).unwrap());
        let mut y = x;
        for _ in 0..100 {
            y = (y * 1.01 + 0.1).tanh();
        }
        y.sum().backward().wrt(x).item()
    };
    let first = step(&mut tape);
    let held = tapegrad::tensor::pooled_bytes();
    for _ in 0..3 {
        assert_eq!(step(&mut tape), first);
    }
    assert_eq!(tapegrad::tensor::pooled_bytes(), held);
}

/// The unary ops and scalar arithmetic, each as a function of one var.
type UnaryCase = (&'static str, fn(Var<'_, f64>) -> Var<'_, f64>);

const UNARY_CASES: &[UnaryCase] = &[
    ("neg", |x| -x),
    ("exp", |x| x.exp()),
    ("ln", |x| x.ln()),
    ("sqrt", |x| x.sqrt()),
    ("square", |x| x.square()),
    ("recip", |x| x.recip()),
    ("abs", |x| x.abs()),
    ("sin", |x| x.sin()),
    ("cos", |x| x.cos()),
    ("tanh", |x| x.tanh()),
    ("sigmoid", |x| x.sigmoid()),
    ("relu", |x| x.relu()),
    ("leaky_relu", |x| x.leaky_relu(0.1)),
    ("elu", |x| x.elu(0.7)),
    ("gelu", |x| x.gelu()),
    ("gelu_tanh", |x| x.gelu_with(GeluApprox::Tanh)),
    ("silu", |x| x.silu()),
    ("softplus", |x| x.softplus()),
    ("clamp", |x| x.clamp(-0.5, 0.5)),
    ("powf", |x| x.powf(2.5)),
    ("add", |x| x + 0.25),
    ("sub", |x| x - 0.25),
    ("mul", |x| x * 1.5),
    ("div", |x| x / 4.0),
    ("rsub", |x| 2.0 - x),
    ("rdiv", |x| 3.0 / x),
];

/// `f` on `n` copies of `v` (one element: inline results; more: buffers),
/// with the value and gradient of `sum(f(x))` per element.
fn unary_on(f: fn(Var<'_, f64>) -> Var<'_, f64>, v: f64, n: usize) -> (Vec<f64>, Vec<f64>) {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![v; n], &[n]).unwrap());
    let y = f(x);
    let g = y.sum().backward();
    (y.value().to_vec(), g.wrt(x).to_vec())
}

#[test]
fn one_element_unary_ops_match_the_buffer_path() {
    // Inside and outside clamp's range, on both sides of relu's kink.
    for &v in &[0.3, 1.7, -0.8] {
        for (name, f) in UNARY_CASES {
            if v < 0.0 && matches!(*name, "ln" | "sqrt" | "powf") {
                continue;
            }
            let (v1, g1) = unary_on(*f, v, 1);
            let (v2, g2) = unary_on(*f, v, 2);
            assert_eq!(v1.len(), 1, "{name}");
            assert_close(&[v1[0], v1[0]], &v2, 1e-15);
            assert_close(&[g1[0], g1[0]], &g2, 1e-15);
            assert!(g1[0].is_finite(), "{name} at {v}");
        }
    }
}

#[test]
fn one_element_binary_ops_match_hand_derivatives() {
    // a = 1.5, b = 0.5 (one element each, so every result is inline).
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::from_vec(vec![1.5], &[1]).unwrap());
    let b = tape.var(Tensor::from_vec(vec![0.5], &[1]).unwrap());
    let y = a * b + a / b - a.pow(b) + a.maximum(b) - (a - b).minimum(b);
    // y = ab + a/b - a^b + a - b   (max(a, b) = a; min(a - b, b) = b)
    let (av, bv) = (1.5f64, 0.5f64);
    let want = av * bv + av / bv - av.powf(bv) + av - bv;
    assert_close(&[y.item()], &[want], 1e-12);
    let g = y.backward();
    // dy/da = b + 1/b - b a^(b-1) + 1; dy/db = a - a/b^2 - a^b ln a - 1
    let da = bv + 1.0 / bv - bv * av.powf(bv - 1.0) + 1.0;
    let db = av - av / (bv * bv) - av.powf(bv) * av.ln() - 1.0;
    assert_close(&g.wrt(a).to_vec(), &[da], 1e-12);
    assert_close(&g.wrt(b).to_vec(), &[db], 1e-12);
}

#[test]
fn backward_passes_on_one_tape_start_from_clean_slots() {
    // Gradient slots are kept between passes; each pass must see only its
    // own gradients, whether its root is before or after the last one's.
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(0.5));
    let unused = tape.var(Tensor::scalar(4.0));
    let y = x * x; // dy/dx = 2x = 1
    let z = (y * 3.0).sin(); // dz/dx = cos(3x^2) 6x
    let dz = (3.0f64 * 0.25).cos() * 3.0;
    for _ in 0..2 {
        let gz = z.backward();
        assert_close(&[gz.wrt(x).item()], &[dz], 1e-12);
        assert_eq!(gz.wrt(unused).item(), 0.0);
        let gy = y.backward();
        assert_close(&[gy.wrt(x).item()], &[1.0], 1e-12);
        // Leaves keep their gradient from the last pass, for printing.
        assert_close(&[x.retained_grad().unwrap().item()], &[1.0], 1e-12);
        assert_eq!(unused.retained_grad().unwrap().item(), 0.0);
        assert!(y.retained_grad().is_none());
    }
}
