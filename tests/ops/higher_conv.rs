//! Second derivatives (`Tape::grad`) and forward mode (`Tape::dual`) of
//! convolution and pooling, with every conv2d option (stride, padding,
//! dilation, groups, bias), through `check::gradgradcheck` and
//! `check::jvpcheck` in f64. The recorded rules use the backward maps as
//! ops of their own (conv2d's input and weight gradients, max pooling's
//! scatter and pick, average pooling's spread); gradients taken inside the
//! checked function (`grad_with` with the output as its own seed) put
//! those ops under both checks too. A few values are derived by hand.

use tapegrad::check::{gradgradcheck, jvpcheck};
use tapegrad::ops::Conv2dOptions;
use tapegrad::{Tape, Tensor, Var, tensor};

use crate::common::randn;

type F = for<'t> fn(&[Var<'t, f64>]) -> Var<'t, f64>;

fn both(name: &str, f: F, inputs: &[Tensor<f64>]) {
    gradgradcheck(f, inputs).unwrap_or_else(|r| panic!("{name}: second order: {r}"));
    jvpcheck(f, inputs).unwrap_or_else(|r| panic!("{name}: forward mode: {r}"));
}

fn opts(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dOptions {
    Conv2dOptions {
        stride: (stride, stride),
        padding: (padding, padding),
        dilation: (dilation, dilation),
        groups,
    }
}

/// The options each conv2d case uses, by index (a plain `fn` cannot
/// capture them).
const OPTS: [(usize, usize, usize, usize); 5] = [
    (1, 0, 1, 1),
    (2, 1, 1, 1),
    (1, 1, 2, 1),
    (1, 0, 1, 2),
    (2, 2, 2, 2),
];

fn conv_case<'t>(v: &[Var<'t, f64>], i: usize) -> Var<'t, f64> {
    let (s, p, d, g) = OPTS[i];
    v[0].conv2d(v[1], v.get(2).copied(), opts(s, p, d, g))
}

/// `A^T A`-style second-order function: conv2d's gradients with the output
/// itself as the seed, `IG(y, w)` plus a product with `WG(x, y)`, so that
/// both gradient ops are recorded in the checked function.
fn conv_grads<'t>(v: &[Var<'t, f64>], i: usize) -> Var<'t, f64> {
    let tape = v[0].tape();
    let y = conv_case(v, i);
    let g = tape.grad_with(y, y, &v[..2]);
    g[0] * (g[1] * v[1]).sum()
}

#[test]
fn conv2d_has_second_derivatives_and_tangents_with_every_option() {
    let x = randn(&[2, 4, 5, 5], 1);
    let w = randn(&[4, 4, 3, 3], 2);
    let wg = randn(&[4, 2, 3, 3], 3);
    let w2 = randn(&[4, 4, 2, 2], 4);
    let b = randn(&[4], 5);
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        ("default", |v| conv_case(v, 0), vec![x.clone(), w.clone()]),
        (
            "default, bias",
            |v| conv_case(v, 0),
            vec![x.clone(), w.clone(), b.clone()],
        ),
        (
            "stride 2, padding 1",
            |v| conv_case(v, 1),
            vec![x.clone(), w.clone(), b.clone()],
        ),
        (
            "dilation 2, padding 1",
            |v| conv_case(v, 2),
            vec![x.clone(), w2.clone()],
        ),
        (
            "groups 2",
            |v| conv_case(v, 3),
            vec![x.clone(), wg.clone(), b.clone()],
        ),
        (
            "all options",
            |v| conv_case(v, 4),
            vec![x.clone(), wg.clone()],
        ),
        (
            "squared",
            |v| conv_case(v, 1).square(),
            vec![x.clone(), w.clone(), b.clone()],
        ),
        (
            "gradients inside, default",
            |v| conv_grads(v, 0),
            vec![x.clone(), w.clone()],
        ),
        (
            "gradients inside, stride 2",
            |v| conv_grads(v, 1),
            vec![x.clone(), w.clone()],
        ),
        (
            "gradients inside, dilation",
            |v| conv_grads(v, 2),
            vec![x.clone(), w2.clone()],
        ),
        (
            "gradients inside, groups",
            |v| conv_grads(v, 4),
            vec![x.clone(), wg.clone()],
        ),
    ];
    for (name, f, inputs) in cases {
        both(&format!("conv2d {name}"), f, &inputs);
    }
}

#[test]
fn pooling_has_second_derivatives_and_tangents() {
    // Random normal values: no ties, so the winners stay put under the
    // finite differences' steps.
    let x = randn(&[2, 3, 5, 5], 6);
    let x4 = randn(&[1, 2, 4, 4], 7);
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        (
            "max 2x2",
            |v| v[0].max_pool2d((2, 2), (2, 2), (0, 0)),
            vec![x4.clone()],
        ),
        (
            "max 3x3 stride 2 padding 1",
            |v| v[0].max_pool2d((3, 3), (2, 2), (1, 1)),
            vec![x.clone()],
        ),
        (
            "max overlapping, squared",
            |v| v[0].max_pool2d((2, 3), (1, 1), (0, 1)).square(),
            vec![x.clone()],
        ),
        (
            "avg 2x2",
            |v| v[0].avg_pool2d((2, 2), (2, 2), (0, 0)),
            vec![x4.clone()],
        ),
        (
            "avg 3x3 stride 2 padding 1, squared",
            |v| v[0].avg_pool2d((3, 3), (2, 2), (1, 1)).square(),
            vec![x.clone()],
        ),
        (
            "max gradient inside",
            |v| {
                let y = v[0].max_pool2d((3, 3), (2, 2), (1, 1));
                v[0].tape().grad_with(y, y.square(), &[v[0]])[0]
            },
            vec![x.clone()],
        ),
        (
            "max 2x2 gradient inside",
            |v| {
                let y = v[0].max_pool2d((2, 2), (2, 2), (0, 0));
                v[0].tape().grad_with(y, y.square(), &[v[0]])[0] * v[0]
            },
            vec![x4.clone()],
        ),
        (
            "avg gradient inside",
            |v| {
                let y = v[0].avg_pool2d((3, 3), (2, 2), (1, 1));
                v[0].tape().grad_with(y, y.square(), &[v[0]])[0]
            },
            vec![x.clone()],
        ),
        (
            "conv, tanh, max pool, avg pool",
            |v| {
                let h = v[0].conv2d(v[1], None, opts(1, 1, 1, 1)).tanh();
                h.max_pool2d((2, 2), (2, 2), (0, 0))
                    .avg_pool2d((2, 2), (1, 1), (0, 0))
            },
            vec![x4.clone(), randn(&[3, 2, 3, 3], 8)],
        ),
    ];
    for (name, f, inputs) in cases {
        both(name, f, &inputs);
    }
}

#[test]
fn conv_and_pooling_derivatives_match_hand_derivations() {
    // A 2x2 kernel over a 2x2 input: y = <x, w>. dy/dx = w, and
    // d/dw <dy/dx, c> = c: the mixed second derivative is the identity.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[[[1.0, 2.0], [3.0, 4.0]]]]);
    let w = tape.var(tensor![[[[0.5, -1.0], [2.0, 0.25]]]]);
    let y = x.conv2d(w, None, Conv2dOptions::default()).sum();
    let dx = tape.grad(y, &[x])[0];
    assert_eq!(dx.value().to_vec(), vec![0.5, -1.0, 2.0, 0.25]);
    let c = tape.constant(tensor![[[[1.0, 10.0], [100.0, 1000.0]]]]);
    let h = tape.grad((dx * c).sum(), &[x, w]);
    assert_eq!(h[0].value().to_vec(), vec![0.0; 4]);
    assert_eq!(h[1].value().to_vec(), vec![1.0, 10.0, 100.0, 1000.0]);
    // Forward mode: d<x, w> along (dx, dw) = <dx, w> + <x, dw>.
    let tape = Tape::<f64>::new();
    let x = tape.dual(
        tensor![[[[1.0, 2.0], [3.0, 4.0]]]],
        tensor![[[[1.0, 0.0], [0.0, 1.0]]]],
    );
    let w = tape.dual(
        tensor![[[[0.5, -1.0], [2.0, 0.25]]]],
        tensor![[[[0.0, 1.0], [0.0, 0.0]]]],
    );
    let b = tape.dual(tensor![0.0], tensor![3.0]);
    let y = x.conv2d(w, Some(b), Conv2dOptions::default());
    // (0.5 + 0.25) + 2 + 3
    assert_eq!(y.tangent().to_vec(), vec![5.75]);
    // Max pooling's tangent is the winner's: 5 wins, its tangent is 20.
    let x = tape.dual(
        tensor![[[[1.0, 5.0], [3.0, 2.0]]]],
        tensor![[[[10.0, 20.0], [30.0, 40.0]]]],
    );
    assert_eq!(
        x.max_pool2d((2, 2), (2, 2), (0, 0)).tangent().to_vec(),
        vec![20.0]
    );
    // Average pooling's: the mean of the tangents, 25.
    assert_eq!(
        x.avg_pool2d((2, 2), (2, 2), (0, 0)).tangent().to_vec(),
        vec![25.0]
    );
    // y = max^2 over a window: d2y/dx_win^2 = 2, 0 elsewhere.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[[[1.0, 5.0], [3.0, 2.0]]]]);
    let y = x.max_pool2d((2, 2), (2, 2), (0, 0)).square().sum();
    let d1 = tape.grad(y, &[x])[0];
    assert_eq!(d1.value().to_vec(), vec![0.0, 10.0, 0.0, 0.0]);
    let d2 = tape.grad(d1.sum(), &[x])[0];
    assert_eq!(d2.value().to_vec(), vec![0.0, 2.0, 0.0, 0.0]);
}
