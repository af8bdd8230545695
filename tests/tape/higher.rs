//! Derivatives of derivatives (`Tape::grad`) and forward mode (`Tape::dual`)
//! for the elementwise families (unary, scalar, binary), each op checked by
//! `check::gradgradcheck` (recorded gradients equal the plain ones, and
//! their own derivatives match finite differences) and `check::jvpcheck`
//! (tangents against finite differences and `<J v, u> = <v, Jᵀ u>`), plus
//! values derived by hand.

use tapegrad::check::{gradgradcheck, jvpcheck};
use tapegrad::{Tape, Tensor, Var, tensor};

type F = for<'t> fn(&[Var<'t, f64>]) -> Var<'t, f64>;

/// Points away from every op's kinks and domain edges: `x^2 + 0.5 > 0`
/// for the ops that need positive inputs, none near 0 for abs and relu.
fn point() -> Tensor<f64> {
    tensor![[0.7, -1.3, 2.1], [-0.4, 1.6, -2.2]]
}

fn positive() -> Tensor<f64> {
    tensor![[0.7, 1.3, 2.1], [0.4, 1.6, 0.9]]
}

fn both(name: &str, f: F, x: Tensor<f64>) {
    gradgradcheck(f, std::slice::from_ref(&x))
        .unwrap_or_else(|r| panic!("{name}: second order: {r}"));
    jvpcheck(f, &[x]).unwrap_or_else(|r| panic!("{name}: forward mode: {r}"));
}

#[test]
fn every_unary_op_has_second_derivatives_and_tangents() {
    let cases: Vec<(&str, F, Tensor<f64>)> = vec![
        ("neg", |v| -v[0], point()),
        ("exp", |v| v[0].exp(), point()),
        ("ln", |v| v[0].ln(), positive()),
        ("sqrt", |v| v[0].sqrt(), positive()),
        ("square", |v| v[0].square(), point()),
        ("recip", |v| v[0].recip(), point()),
        ("abs", |v| v[0].abs(), point()),
        ("sin", |v| v[0].sin(), point()),
        ("cos", |v| v[0].cos(), point()),
        ("tanh", |v| v[0].tanh(), point()),
        ("sigmoid", |v| v[0].sigmoid(), point()),
        ("relu", |v| v[0].relu(), point()),
        ("leaky_relu", |v| v[0].leaky_relu(0.1), point()),
        ("elu", |v| v[0].elu(0.8), point()),
        ("gelu", |v| v[0].gelu(), point()),
        (
            "gelu_tanh",
            |v| v[0].gelu_with(tapegrad::ops::GeluApprox::Tanh),
            point(),
        ),
        ("silu", |v| v[0].silu(), point()),
        ("softplus", |v| v[0].softplus(), point()),
        ("clamp", |v| v[0].clamp(-1.0, 1.5), point()),
    ];
    for (name, f, x) in cases {
        both(name, f, x);
    }
}

#[test]
fn every_scalar_op_has_second_derivatives_and_tangents() {
    let cases: Vec<(&str, F, Tensor<f64>)> = vec![
        ("add", |v| v[0] + 1.5, point()),
        ("sub", |v| v[0] - 1.5, point()),
        ("mul", |v| v[0] * 2.5, point()),
        ("div", |v| v[0] / 4.0, point()),
        ("rsub", |v| 3.0 - v[0], point()),
        ("rdiv", |v| 2.0 / v[0], point()),
        ("powf", |v| v[0].powf(2.5), positive()),
        ("powf negative", |v| v[0].powf(-1.5), positive()),
    ];
    for (name, f, x) in cases {
        both(name, f, x);
    }
}

#[test]
fn every_binary_op_has_second_derivatives_and_tangents_with_broadcasting() {
    // [2, 3] against [3]: b is broadcast, so its gradients are summed back.
    let a = point();
    let b = tensor![0.9, -0.6, 1.7];
    let bp = tensor![0.9, 0.6, 1.7];
    let cases: Vec<(&str, F, Tensor<f64>, Tensor<f64>)> = vec![
        ("add", |v| v[0] + v[1], a.clone(), b.clone()),
        ("sub", |v| v[0] - v[1], a.clone(), b.clone()),
        ("mul", |v| v[0] * v[1], a.clone(), b.clone()),
        ("div", |v| v[0] / v[1], a.clone(), b.clone()),
        ("pow", |v| v[0].pow(v[1]), positive(), b.clone()),
        ("maximum", |v| v[0].maximum(v[1]), a.clone(), b.clone()),
        ("minimum", |v| v[0].minimum(v[1]), a.clone(), bp.clone()),
    ];
    for (name, f, x, y) in cases {
        gradgradcheck(f, &[x.clone(), y.clone()])
            .unwrap_or_else(|r| panic!("{name}: second order: {r}"));
        jvpcheck(f, &[x, y]).unwrap_or_else(|r| panic!("{name}: forward mode: {r}"));
    }
    // Mixed second derivatives through products of the inputs: (a b)^2.
    gradgradcheck(|v| (v[0] * v[1]) * v[0] * v[1], &[a, b])
        .unwrap_or_else(|r| panic!("mul: mixed: {r}"));
}

#[test]
fn derivatives_of_derivatives_match_hand_derivations() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(0.8));
    // y = sin(x) e^x: y' = (sin + cos) e^x, y'' = 2 cos(x) e^x,
    // y''' = 2 (cos - sin) e^x.
    let y = x.sin() * x.exp();
    let d1 = tape.grad(y, &[x])[0];
    let d2 = tape.grad(d1, &[x])[0];
    let d3 = tape.grad(d2, &[x])[0];
    let (s, c, e) = (0.8f64.sin(), 0.8f64.cos(), 0.8f64.exp());
    assert!((d1.item() - (s + c) * e).abs() < 1e-12);
    assert!((d2.item() - 2.0 * c * e).abs() < 1e-12);
    assert!((d3.item() - 2.0 * (c - s) * e).abs() < 1e-12);
    // The plain backward of a recorded gradient is the next derivative.
    assert!((d2.backward().wrt(x).item() - 2.0 * (c - s) * e).abs() < 1e-12);
}

#[test]
fn mixed_partials_are_symmetric() {
    // f(a, b) = a^2 b^3: d2f/da db = 6 a b^2 both ways.
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::scalar(1.5));
    let b = tape.var(Tensor::scalar(-0.5));
    let f = a.square() * b.powf(3.0);
    let g = tape.grad(f, &[a, b]);
    let dab = tape.grad(g[0], &[b])[0].item();
    let dba = tape.grad(g[1], &[a])[0].item();
    let expected = 6.0 * 1.5 * 0.25;
    assert!((dab - expected).abs() < 1e-12, "{dab}");
    assert!((dba - expected).abs() < 1e-12, "{dba}");
}

#[test]
fn grad_with_respect_to_an_unused_var_is_zero_and_intermediates_work() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.0, 2.0]);
    let unused = tape.var(tensor![5.0]);
    let h = x.exp();
    let y = (h * h).sum();
    let g = tape.grad(y, &[unused, h]);
    assert_eq!(g[0].value().to_vec(), vec![0.0]);
    // dy/dh = 2h.
    let h_value = h.value();
    let expected: Vec<f64> = h_value.as_slice().iter().map(|v| 2.0 * v).collect();
    assert_eq!(g[1].value().to_vec(), expected);
}

#[test]
fn forward_mode_matches_hand_derivations() {
    let tape = Tape::<f64>::new();
    // d/dt of (x + t v)^2 sin at t = 0, elementwise: (2 x sin x + x^2 cos x) v.
    let (x, v) = (tensor![0.5, -1.0], tensor![2.0, 3.0]);
    let xv = tape.dual(x.clone(), v.clone());
    let y = xv.square() * xv.sin();
    let got = y.tangent().to_vec();
    for ((&got, &x), &v) in got.iter().zip(x.as_slice()).zip(v.as_slice()) {
        let want = (2.0 * x * x.sin() + x * x * x.cos()) * v;
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
    // A constant operand has no tangent; a var made without dual neither.
    let c = tape.constant(tensor![4.0, 4.0]);
    assert_eq!((xv * c).tangent().to_vec(), vec![8.0, 12.0]);
    let plain = tape.var(tensor![1.0, 1.0]);
    assert_eq!(plain.exp().tangent().to_vec(), vec![0.0, 0.0]);
}

#[test]
fn a_reset_forgets_forward_mode() {
    let mut tape = Tape::<f64>::new();
    {
        let x = tape.dual(tensor![1.0], tensor![1.0]);
        assert_eq!(x.exp().tangent().to_vec(), vec![1.0f64.exp()]);
    }
    assert!(tape.is_forward_mode());
    tape.reset();
    assert!(!tape.is_forward_mode());
    let y = tape.var(tensor![1.0]).exp();
    assert_eq!(y.tangent().to_vec(), vec![0.0]);
}
