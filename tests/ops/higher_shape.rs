//! Second order (`Tape::grad`, recorded rules) and forward mode
//! (`Tape::dual`) for the shape and data-movement ops, each checked by
//! `check::gradgradcheck` and `check::jvpcheck` (composed with a smooth
//! function, so that second derivatives are not all zero) over several
//! shapes and axes, repeated inputs and repeated indices, plus a Hessian
//! derived by hand for the scatter-adds.

use tapegrad::check::{gradgradcheck, jvpcheck};
use tapegrad::{Tape, Tensor, Var, func, tensor};

type F = for<'t> fn(&[Var<'t, f64>]) -> Var<'t, f64>;

fn both(name: &str, f: F, inputs: &[Tensor<f64>]) {
    gradgradcheck(f, inputs).unwrap_or_else(|r| panic!("{name}: second order: {r}"));
    jvpcheck(f, inputs).unwrap_or_else(|r| panic!("{name}: forward mode: {r}"));
}

fn mat() -> Tensor<f64> {
    tensor![[0.7, -1.3, 2.1], [-0.4, 1.6, -2.2]]
}

fn cube() -> Tensor<f64> {
    let data: Vec<f64> = (0..24)
        .map(|i| ((i * 7 % 24) as f64 - 11.3) * 0.17)
        .collect();
    Tensor::from_vec(data, &[2, 3, 4]).unwrap()
}

#[test]
fn views_reshape_flatten_squeeze_unsqueeze() {
    let cases: Vec<(&str, F, Tensor<f64>)> = vec![
        (
            "reshape",
            |v| v[0].reshape(&[3, 2]).sin() * v[0].reshape(&[3, 2]),
            mat(),
        ),
        ("reshape 0-d", |v| v[0].reshape(&[1, 6]).square(), mat()),
        ("flatten 1..", |v| v[0].flatten(1, -1).tanh(), cube()),
        (
            "flatten all",
            |v| v[0].flatten(0, -1).square().sin(),
            cube(),
        ),
        (
            "squeeze",
            |v| v[0].unsqueeze(1).squeeze(1).exp() * v[0],
            mat(),
        ),
        (
            "unsqueeze end",
            |v| v[0].unsqueeze(-1).square() * v[0].unsqueeze(2),
            mat(),
        ),
    ];
    for (name, f, x) in cases {
        both(name, f, &[x]);
    }
}

#[test]
fn broadcast_transpose_permute() {
    let b = tensor![0.9, -0.6, 1.7];
    let col = tensor![[0.4], [-1.1]];
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        (
            "broadcast leading",
            |v| v[0].broadcast_to(&[4, 2, 3]).sin() * v[1],
            vec![b.clone(), mat()],
        ),
        (
            "broadcast size-1",
            |v| v[0].broadcast_to(&[2, 3]).square() * v[1],
            vec![col.clone(), mat()],
        ),
        (
            "transpose",
            |v| v[0].transpose(0, -1).sin() * v[0].transpose(2, 0),
            vec![cube()],
        ),
        ("t", |v| v[0].t().square() * v[0].t(), vec![mat()]),
        (
            "permute",
            |v| v[0].permute(&[2, 0, 1]).tanh().square(),
            vec![cube()],
        ),
        (
            "permute thrice",
            |v| {
                let p = [1, 2, 0];
                v[0].permute(&p).permute(&p).permute(&p).exp() * v[0]
            },
            vec![cube()],
        ),
    ];
    for (name, f, x) in cases {
        both(name, f, &x);
    }
}

#[test]
fn narrow_concat_stack_pad() {
    let b = tensor![[0.9, -0.6, 1.7]];
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        (
            "narrow",
            |v| v[0].narrow(1, 1, 2).square().sin(),
            vec![mat()],
        ),
        (
            "narrow axis 0",
            |v| {
                let a = v[0].narrow(0, 1, 1).narrow(-1, 1, 3);
                a.exp() * v[0].narrow(0, 0, 1).narrow(-1, 0, 3)
            },
            vec![cube()],
        ),
        (
            "concat axis 0",
            |v| Var::concat(&[v[0], v[1]], 0).square().sin(),
            vec![mat(), b.clone()],
        ),
        (
            "concat repeated",
            |v| Var::concat(&[v[0], v[1].square(), v[0]], 0).tanh(),
            vec![mat(), b.clone()],
        ),
        (
            "concat last",
            |v| Var::concat(&[v[0], v[0].sin()], -1).square(),
            vec![cube()],
        ),
        (
            "stack 0",
            |v| Var::stack(&[v[0], v[1]], 0).square() * v[0],
            vec![mat(), mat().map(|x| x * 0.5)],
        ),
        (
            "stack 1 repeated",
            |v| Var::stack(&[v[0], v[0], v[1]], 1).sin().square(),
            vec![mat(), mat()],
        ),
        (
            "stack last",
            |v| Var::stack(&[v[0].exp(), v[0]], -1).square(),
            vec![cube()],
        ),
        (
            "pad",
            |v| v[0].pad(&[(1, 0), (2, 1)], 0.5).square().sin(),
            vec![mat()],
        ),
        (
            "pad one axis",
            |v| v[0].pad(&[(0, 0), (0, 2), (1, 1)], 0.0).exp() * 2.0,
            vec![cube()],
        ),
    ];
    for (name, f, x) in cases {
        both(name, f, &x);
    }
}

#[test]
fn index_select_gather_and_their_adjoints() {
    let src = tensor![[0.3, -0.8], [1.2, 0.5]];
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        (
            "index_select rows",
            |v| v[0].index_select(0, &[1, 1, 0]).square().sin(),
            vec![mat()],
        ),
        (
            "index_select cols",
            |v| v[0].index_select(-1, &[2, 0, 2, 2]).exp() * 0.5,
            vec![cube()],
        ),
        (
            "gather",
            |v| v[0].gather(1, &[2, 0, 1, 1], &[2, 2]).square() * 3.0,
            vec![mat()],
        ),
        (
            "gather 3-d",
            |v| {
                v[0].gather(2, &[0, 3, 3, 1, 2, 0], &[1, 3, 2])
                    .sin()
                    .square()
            },
            vec![cube()],
        ),
        (
            "index_add",
            |v| v[0].index_add(1, &[2, 2], v[1]).square() * v[0],
            vec![mat(), src.clone()],
        ),
        (
            "scatter_add",
            |v| v[0].scatter_add(1, &[2, 0, 1, 2], &[2, 2], v[1]).sin() * v[0],
            vec![mat(), src.clone()],
        ),
    ];
    for (name, f, x) in cases {
        both(name, f, &x);
    }
}

#[test]
fn scatter_adds_have_the_hand_derived_hessian_and_forward() {
    // f(x) = sum(index_select(x, [0, 0, 1])^2): element 0 read twice, 1 once,
    // 2 never, so H = diag(4, 2, 0), through the recorded scatter-add.
    let x: Tensor<f64> = tensor![0.5, -1.5, 2.0];
    let h = func::hessian(
        |v: Var<'_, f64>| v.index_select(0, &[0, 0, 1]).square().sum(),
        &x,
    );
    assert_eq!(h.to_vec(), vec![4., 0., 0., 0., 2., 0., 0., 0., 0.]);
    let h = func::hessian(
        |v: Var<'_, f64>| v.gather(0, &[2, 2, 2, 1], &[4]).square().sum(),
        &x,
    );
    assert_eq!(h.to_vec(), vec![0., 0., 0., 0., 2., 0., 0., 0., 6.]);
    // index_add's tangent: the base's plus the source's, added by index.
    let tape = Tape::<f64>::new();
    let base = tape.dual(Tensor::zeros(&[3]), tensor![1.0, 1.0, 1.0]);
    let s = tape.dual(tensor![5.0, 6.0], tensor![10.0, 20.0]);
    assert_eq!(
        base.index_add(0, &[2, 2], s).tangent().to_vec(),
        vec![1.0, 1.0, 31.0]
    );
    assert_eq!(
        base.scatter_add(0, &[0, 0], &[2], s).tangent().to_vec(),
        vec![31.0, 1.0, 1.0]
    );
    // Their plain gradients: the base's is g, the source's the selection.
    let b = tape.var(Tensor::zeros(&[3]));
    let src = tape.var(tensor![5.0, 6.0]);
    let y = b.index_add(0, &[2, 0], src);
    let g = y.backward_with(tensor![1.0, 2.0, 3.0]);
    assert_eq!(g.wrt(b).to_vec(), vec![1.0, 2.0, 3.0]);
    assert_eq!(g.wrt(src).to_vec(), vec![3.0, 1.0]);
}
