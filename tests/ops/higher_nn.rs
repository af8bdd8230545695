//! Second derivatives (`Tape::grad`) and forward mode (`Tape::dual`) of the
//! fused nn families: softmax, losses, normalisation and the attention-head
//! products. Every op, with several shapes and options, goes through
//! `check::gradgradcheck` (recorded gradients equal the plain ones, and
//! their own derivatives match finite differences) and `check::jvpcheck`
//! (tangents against finite differences and `<J v, u> = <v, Jᵀ u>`), in
//! f64; a few values are derived by hand.

use tapegrad::check::{gradgradcheck, jvpcheck};
use tapegrad::{Tape, Tensor, Var, tensor};

use crate::common::randn;

type F = for<'t> fn(&[Var<'t, f64>]) -> Var<'t, f64>;

/// Both checks of `f` at `inputs`, the failure naming the case.
fn both(name: &str, f: F, inputs: &[Tensor<f64>]) {
    gradgradcheck(f, inputs).unwrap_or_else(|r| panic!("{name}: second order: {r}"));
    jvpcheck(f, inputs).unwrap_or_else(|r| panic!("{name}: forward mode: {r}"));
}

fn sigmoid(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

// ---- softmax ------------------------------------------------------------

#[test]
fn softmax_family_has_second_derivatives_and_tangents() {
    let m = randn(&[3, 4], 1);
    let t = randn(&[2, 3, 4], 2);
    let cases: Vec<(&str, F, Tensor<f64>)> = vec![
        ("softmax -1", |v| v[0].softmax(-1), m.clone()),
        ("softmax 0", |v| v[0].softmax(0), m.clone()),
        ("softmax 3-d axis 1", |v| v[0].softmax(1), t.clone()),
        ("softmax 1-d", |v| v[0].softmax(0), tensor![0.3, -1.2, 0.8]),
        (
            "softmax 0-d",
            |v| v[0].softmax(-1) * v[0],
            Tensor::scalar(0.7),
        ),
        ("log_softmax -1", |v| v[0].log_softmax(-1), m.clone()),
        ("log_softmax 0", |v| v[0].log_softmax(0), m.clone()),
        ("log_softmax 3-d axis 1", |v| v[0].log_softmax(1), t.clone()),
        (
            "log_softmax 0-d",
            |v| v[0].log_softmax(0) + v[0],
            Tensor::scalar(0.7),
        ),
        (
            "causal_softmax square",
            |v| v[0].causal_softmax(),
            t.clone(),
        ),
        ("causal_softmax 2-d", |v| v[0].causal_softmax(), m.clone()),
        (
            "causal_softmax 4-d",
            |v| v[0].causal_softmax(),
            randn(&[2, 2, 3, 3], 3),
        ),
        // Nonlinear around the op: its output meets its input again.
        ("softmax * x", |v| v[0].softmax(-1) * v[0], m.clone()),
        (
            "log_softmax squared",
            |v| v[0].log_softmax(-1).square(),
            m.clone(),
        ),
        (
            "causal_softmax * x",
            |v| v[0].causal_softmax() * v[0],
            t.clone(),
        ),
    ];
    for (name, f, x) in cases {
        both(name, f, &[x]);
    }
}

#[test]
fn softmax_second_derivatives_and_tangents_match_hand_derivations() {
    // softmax([a, 0])[0] is the sigmoid s(a): s' = s(1-s), s'' = s'(1-2s).
    let a = 0.6;
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![a, 0.0]);
    let pick = tape.constant(tensor![1.0, 0.0]);
    let y = (x.softmax(0) * pick).sum();
    let d1 = tape.grad(y, &[x])[0];
    let d2 = tape.grad((d1 * pick).sum(), &[x])[0];
    let s = sigmoid(a);
    assert!((d1.value().get(&[0]) - s * (1.0 - s)).abs() < 1e-12);
    assert!((d1.value().get(&[1]) + s * (1.0 - s)).abs() < 1e-12);
    assert!((d2.value().get(&[0]) - s * (1.0 - s) * (1.0 - 2.0 * s)).abs() < 1e-12);
    // log_softmax([a, 0])[0] = ln s(a): first derivative 1 - s, second -s(1-s).
    let z = (x.log_softmax(0) * pick).sum();
    let e1 = tape.grad(z, &[x])[0];
    let e2 = tape.grad((e1 * pick).sum(), &[x])[0];
    assert!((e1.value().get(&[0]) - (1.0 - s)).abs() < 1e-12);
    assert!((e2.value().get(&[0]) + s * (1.0 - s)).abs() < 1e-12);
    // Forward mode along [1, 0]: d/da s(a) = s(1-s), and for [0, 1] the negation.
    let tape = Tape::<f64>::new();
    let x = tape.dual(tensor![a, 0.0], tensor![1.0, 0.0]);
    let ty = x.softmax(0).tangent();
    assert!((ty.get(&[0]) - s * (1.0 - s)).abs() < 1e-12);
    assert!((ty.get(&[1]) + s * (1.0 - s)).abs() < 1e-12);
}
