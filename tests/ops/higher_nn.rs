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

// ---- losses -------------------------------------------------------------

#[test]
fn fused_losses_have_second_derivatives_and_tangents() {
    use tapegrad::nn::loss::{self, CrossEntropyOptions, Reduction};
    let logits = randn(&[3, 4], 4);
    let x = randn(&[2, 3], 5);
    let t = randn(&[2, 3], 6);
    // Targets in (0, 1) for the binary cross-entropy.
    let p = tensor![[0.1, 0.9, 0.5], [0.3, 0.7, 0.2]];
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        (
            "cross_entropy",
            |v| v[0].cross_entropy(&[0, 3, 1]),
            vec![logits.clone()],
        ),
        (
            "cross_entropy of a square",
            |v| v[0].square().cross_entropy(&[2, 2, 0]),
            vec![logits.clone()],
        ),
        (
            "cross_entropy one row",
            |v| v[0].cross_entropy(&[1]),
            vec![tensor![[0.2, -0.4, 1.1]]],
        ),
        (
            "nn::loss::cross_entropy sum",
            |v| {
                let opts = CrossEntropyOptions::default().reduction(Reduction::Sum);
                loss::cross_entropy(v[0], &[3, 0, 2], &opts)
            },
            vec![logits.clone()],
        ),
        (
            "mse_loss",
            |v| v[0].mse_loss(v[1]),
            vec![x.clone(), t.clone()],
        ),
        (
            "mse_loss against a constant",
            |v| {
                v[0].mse_loss(
                    v[0].tape()
                        .constant(tensor![[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]]),
                )
            },
            vec![x.clone()],
        ),
        (
            "mse_loss of a product",
            |v| (v[0] * v[1]).mse_loss(v[1]),
            vec![x.clone(), t.clone()],
        ),
        (
            "nn::loss::mse_loss sum",
            |v| loss::mse_loss(v[0], v[1], Reduction::Sum),
            vec![x.clone(), t.clone()],
        ),
        (
            "bce_with_logits",
            |v| v[0].binary_cross_entropy_with_logits(v[1]),
            vec![x.clone(), p.clone()],
        ),
        (
            "bce_with_logits of a product",
            |v| (v[0] * v[1]).binary_cross_entropy_with_logits(v[1]),
            vec![x.clone(), p.clone()],
        ),
    ];
    for (name, f, inputs) in cases {
        both(name, f, &inputs);
    }
}

#[test]
fn loss_second_derivatives_match_hand_derivations() {
    // Cross-entropy of one row [a, 0] against class 0 is -ln s(a):
    // first derivative s - 1, second s (1 - s).
    let a = -0.3;
    let s = sigmoid(a);
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[a, 0.0]]);
    let pick = tape.constant(tensor![[1.0, 0.0]]);
    let d1 = tape.grad(x.cross_entropy(&[0]), &[x])[0];
    assert!((d1.value().get(&[0, 0]) - (s - 1.0)).abs() < 1e-12);
    let d2 = tape.grad((d1 * pick).sum(), &[x])[0];
    assert!((d2.value().get(&[0, 0]) - s * (1.0 - s)).abs() < 1e-12);
    // mse over n = 2 elements: d2/dx_i dx_i = 2 / n = 1, d2/dx_i dt_i = -1.
    let x = tape.var(tensor![0.5, -2.0]);
    let t = tape.var(tensor![1.0, 1.0]);
    let g = tape.grad(x.mse_loss(t), &[x, t]);
    let h = tape.grad(g[0].sum(), &[x, t]);
    assert_eq!(h[0].value().to_vec(), vec![1.0, 1.0]);
    assert_eq!(h[1].value().to_vec(), vec![-1.0, -1.0]);
    // Binary cross-entropy with logits, one element: d2/dx2 = s (1 - s),
    // d2/dx dt = -1.
    let x = tape.var(tensor![a]);
    let t = tape.var(tensor![0.25]);
    let g = tape.grad(x.binary_cross_entropy_with_logits(t), &[x, t]);
    let h = tape.grad(g[0].sum(), &[x, t]);
    assert!((h[0].item() - s * (1.0 - s)).abs() < 1e-12);
    assert!((h[1].item() + 1.0).abs() < 1e-12);
    // Forward mode: the tangent of mse along (dx, dt) = <2 (x - t) / n, dx - dt>.
    let tape = Tape::<f64>::new();
    let x = tape.dual(tensor![0.5, -2.0], tensor![1.0, 2.0]);
    let t = tape.dual(tensor![1.0, 1.0], tensor![0.5, 0.0]);
    // (x - t) = [-0.5, -3], (dx - dt) = [0.5, 2]: -0.25 - 6 = -6.25.
    assert!((x.mse_loss(t).tangent().item() + 6.25).abs() < 1e-12);
}

// ---- normalisation ------------------------------------------------------

#[test]
fn layer_norm_has_second_derivatives_and_tangents_with_every_option() {
    let x2 = randn(&[3, 4], 7);
    let x3 = randn(&[2, 3, 4], 8);
    let w = randn(&[4], 9);
    let b = randn(&[4], 10);
    let w34 = randn(&[3, 4], 11);
    let b34 = randn(&[3, 4], 12);
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        (
            "plain",
            |v| v[0].layer_norm(&[4], None, None, 1e-5),
            vec![x2.clone()],
        ),
        (
            "3-d",
            |v| v[0].layer_norm(&[4], None, None, 1e-5),
            vec![x3.clone()],
        ),
        (
            "weight and bias",
            |v| v[0].layer_norm(&[4], Some(v[1]), Some(v[2]), 1e-5),
            vec![x3.clone(), w.clone(), b.clone()],
        ),
        (
            "weight only",
            |v| v[0].layer_norm(&[4], Some(v[1]), None, 1e-5),
            vec![x2.clone(), w.clone()],
        ),
        (
            "bias only, large eps",
            |v| v[0].layer_norm(&[4], None, Some(v[1]), 0.5),
            vec![x2.clone(), b.clone()],
        ),
        (
            "two trailing axes",
            |v| v[0].layer_norm(&[3, 4], Some(v[1]), Some(v[2]), 1e-5),
            vec![x3.clone(), w34.clone(), b34.clone()],
        ),
        (
            "squared output",
            |v| v[0].layer_norm(&[4], Some(v[1]), None, 1e-5).square(),
            vec![x2.clone(), w.clone()],
        ),
    ];
    for (name, f, inputs) in cases {
        both(&format!("layer_norm {name}"), f, &inputs);
    }
}

#[test]
fn batch_norm_has_second_derivatives_and_tangents_with_every_option() {
    let x2 = randn(&[4, 3], 13);
    let x4 = randn(&[2, 3, 2, 2], 14);
    let w = randn(&[3], 15);
    let b = randn(&[3], 16);
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        (
            "[N, C]",
            |v| v[0].batch_norm(None, None, 1e-5),
            vec![x2.clone()],
        ),
        (
            "[N, C] weight and bias",
            |v| v[0].batch_norm(Some(v[1]), Some(v[2]), 1e-5),
            vec![x2.clone(), w.clone(), b.clone()],
        ),
        (
            "[N, C, H, W]",
            |v| v[0].batch_norm(None, None, 1e-5),
            vec![x4.clone()],
        ),
        (
            "[N, C, H, W] weight and bias",
            |v| v[0].batch_norm(Some(v[1]), Some(v[2]), 1e-5),
            vec![x4.clone(), w.clone(), b.clone()],
        ),
        (
            "with_stats, weight only, large eps",
            |v| v[0].batch_norm_with_stats(Some(v[1]), None, 0.5).0,
            vec![x4.clone(), w.clone()],
        ),
        (
            "with_stats, bias only",
            |v| v[0].batch_norm_with_stats(None, Some(v[1]), 1e-5).0 * v[0],
            vec![x2.clone(), b.clone()],
        ),
    ];
    for (name, f, inputs) in cases {
        both(&format!("batch_norm {name}"), f, &inputs);
    }
}

#[test]
fn layer_norm_second_derivative_matches_hand_derivation() {
    // Two elements [a, b], u = (a - b) / 2: y0 = u / sqrt(u^2 + eps), so
    // dy0/da = eps / (2 (u^2 + eps)^(3/2)) and
    // d2y0/da2 = -3 eps u / (4 (u^2 + eps)^(5/2)).
    let (a, b, eps) = (0.9, 0.1, 0.3);
    let u: f64 = (a - b) / 2.0;
    let r = u * u + eps;
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[a, b]]);
    let pick = tape.constant(tensor![[1.0, 0.0]]);
    let y0 = (x.layer_norm(&[2], None, None, eps) * pick).sum();
    let d1 = tape.grad(y0, &[x])[0];
    assert!((d1.value().get(&[0, 0]) - eps / (2.0 * r.powf(1.5))).abs() < 1e-12);
    let d2 = tape.grad((d1 * pick).sum(), &[x])[0];
    let want = -3.0 * eps * u / (4.0 * r.powf(2.5));
    assert!((d2.value().get(&[0, 0]) - want).abs() < 1e-12);
    // Forward mode along [1, 0]: dy0 = dy0/da.
    let tape = Tape::<f64>::new();
    let x = tape.dual(tensor![[a, b]], tensor![[1.0, 0.0]]);
    let ty = x.layer_norm(&[2], None, None, eps).tangent();
    assert!((ty.get(&[0, 0]) - eps / (2.0 * r.powf(1.5))).abs() < 1e-12);
}

// ---- attention heads ----------------------------------------------------

#[test]
fn head_products_have_second_derivatives_and_tangents() {
    let q = randn(&[2, 3, 4], 17);
    let k = randn(&[2, 2, 4], 18);
    let v = randn(&[2, 2, 4], 19);
    let p = randn(&[2, 2, 3, 2], 20);
    let qq = randn(&[1, 3, 4], 21);
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        (
            "head_scores",
            |v| v[0].head_scores(v[1], 2),
            vec![q.clone(), k.clone()],
        ),
        (
            "head_scores one head",
            |v| v[0].head_scores(v[1], 1),
            vec![q.clone(), k.clone()],
        ),
        (
            "head_scores q q",
            |v| v[0].head_scores(v[0], 4),
            vec![qq.clone()],
        ),
        (
            "head_mix",
            |v| v[0].head_mix(v[1], 2),
            vec![p.clone(), v.clone()],
        ),
        (
            "head_mix of squares",
            |v| v[0].square().head_mix(v[1].square(), 2),
            vec![p.clone(), v.clone()],
        ),
        (
            "attention",
            |v| v[0].head_scores(v[1], 2).softmax(-1).head_mix(v[2], 2),
            vec![q.clone(), k.clone(), v.clone()],
        ),
        (
            "causal self-attention",
            |v| v[0].head_scores(v[0], 2).causal_softmax().head_mix(v[0], 2),
            vec![qq.clone()],
        ),
    ];
    for (name, f, inputs) in cases {
        both(name, f, &inputs);
    }
}
