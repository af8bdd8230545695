//! Second order (`Tape::grad`, recorded rules) and forward mode
//! (`Tape::dual`) for `matmul` (with batch broadcasting on either side)
//! and `linear` (with and without bias, 1-d to 3-d inputs), checked by
//! `check::gradgradcheck` and `check::jvpcheck`, plus the Hessian of a
//! quadratic form derived by hand.

use tapegrad::check::{gradgradcheck, jvpcheck};
use tapegrad::{Tape, Tensor, Var, func, tensor};

type F = for<'t> fn(&[Var<'t, f64>]) -> Var<'t, f64>;

fn both(name: &str, f: F, inputs: &[Tensor<f64>]) {
    gradgradcheck(f, inputs).unwrap_or_else(|r| panic!("{name}: second order: {r}"));
    jvpcheck(f, inputs).unwrap_or_else(|r| panic!("{name}: forward mode: {r}"));
}

/// Deterministic values of shape `dims`, all different, in about [-1, 1].
fn arr(dims: &[usize], seed: usize) -> Tensor<f64> {
    let n: usize = dims.iter().product();
    let data = (0..n)
        .map(|i| (((i * 37 + seed * 11) % 97) as f64 / 48.5 - 1.0) * 0.9 + 0.05)
        .collect();
    Tensor::from_vec(data, dims).unwrap()
}

#[test]
fn matmul_with_batch_broadcasting() {
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        (
            "2-d",
            |v| v[0].matmul(v[1]).tanh(),
            vec![arr(&[2, 3], 1), arr(&[3, 4], 2)],
        ),
        (
            "2-d squared",
            |v| v[0].matmul(v[1]).square(),
            vec![arr(&[2, 3], 3), arr(&[3, 2], 4)],
        ),
        (
            "both broadcast",
            |v| v[0].matmul(v[1]).sin(),
            vec![arr(&[2, 1, 3, 4], 5), arr(&[5, 4, 2], 6)],
        ),
        (
            "shared b",
            |v| v[0].matmul(v[1]).square(),
            vec![arr(&[3, 2, 3], 7), arr(&[3, 2], 8)],
        ),
        (
            "shared a",
            |v| v[0].matmul(v[1]).tanh(),
            vec![arr(&[2, 3], 9), arr(&[4, 3, 2], 10)],
        ),
        (
            "repeated a a",
            |v| v[0].matmul(v[0]).matmul(v[1]).sin(),
            vec![arr(&[3, 3], 11), arr(&[3, 2], 12)],
        ),
        (
            "a a^T",
            |v| v[0].matmul(v[0].t()).square() * v[1],
            vec![arr(&[2, 3], 13), arr(&[2, 2], 14)],
        ),
    ];
    for (name, f, x) in cases {
        both(name, f, &x);
    }
}

#[test]
fn linear_with_and_without_bias() {
    let cases: Vec<(&str, F, Vec<Tensor<f64>>)> = vec![
        (
            "no bias",
            |v| v[0].linear(v[1], None).tanh(),
            vec![arr(&[4, 3], 1), arr(&[2, 3], 2)],
        ),
        (
            "bias",
            |v| v[0].linear(v[1], Some(v[2])).square(),
            vec![arr(&[4, 3], 3), arr(&[2, 3], 4), arr(&[2], 5)],
        ),
        (
            "3-d input, bias",
            |v| v[0].linear(v[1], Some(v[2])).sin(),
            vec![arr(&[2, 3, 3], 6), arr(&[4, 3], 7), arr(&[4], 8)],
        ),
        (
            "1-d input",
            |v| v[0].linear(v[1], Some(v[2])).square() * v[2],
            vec![arr(&[3], 9), arr(&[2, 3], 10), arr(&[2], 11)],
        ),
        (
            "two layers, repeated weight",
            |v| v[0].linear(v[1], None).tanh().linear(v[1], None).square(),
            vec![arr(&[2, 3], 12), arr(&[3, 3], 13)],
        ),
    ];
    for (name, f, x) in cases {
        both(name, f, &x);
    }
}

#[test]
fn quadratic_form_hessian_is_a_plus_a_transpose() {
    // f(x) = x^T A x through two matmuls: H = A + A^T, whatever x.
    let a: Tensor<f64> = tensor![[1.0, 2.0, -1.0], [0.5, -3.0, 4.0], [2.5, 0.0, 1.5]];
    let x: Tensor<f64> = tensor![[0.3], [-1.2], [2.0]];
    let ac = a.clone();
    let h = func::hessian(
        move |x: Var<'_, f64>| {
            let a = x.tape().constant(ac);
            x.t().matmul(a.matmul(x)).sum()
        },
        &x,
    );
    assert_eq!(h.shape(), &[3, 1, 3, 1]);
    let (h, av) = (h.to_vec(), a.to_vec());
    for i in 0..3 {
        for j in 0..3 {
            assert_eq!(h[i * 3 + j], av[i * 3 + j] + av[j * 3 + i], "H[{i}, {j}]");
        }
    }
    // Forward mode: d(x^T A x)[v] = v^T A x + x^T A v.
    let tape = Tape::<f64>::new();
    let v: Tensor<f64> = tensor![[1.0], [0.0], [-1.0]];
    let xd = tape.dual(x.clone(), v.clone());
    let ab = tape.constant(a.clone());
    let y = xd.t().matmul(ab.matmul(xd));
    let (xs, vs) = (x.to_vec(), v.to_vec());
    let mut want = 0.0;
    for i in 0..3 {
        for j in 0..3 {
            want += (vs[i] * xs[j] + xs[i] * vs[j]) * av[i * 3 + j];
        }
    }
    assert!((y.tangent().item() - want).abs() < 1e-12);
}

#[test]
fn linear_forward_mode_matches_hand_derivation() {
    // y = x W^T + b with tangents on W and b only: dy = x dW^T + db.
    let tape = Tape::<f64>::new();
    let x = tape.constant(tensor![[1.0, 2.0]]);
    let w = tape.dual(
        tensor![[3.0, 4.0], [5.0, 6.0]],
        tensor![[1.0, 0.0], [0.0, 1.0]],
    );
    let b = tape.dual(tensor![0.5, -0.5], tensor![10.0, 20.0]);
    assert_eq!(x.linear(w, Some(b)).tangent().to_vec(), vec![11.0, 22.0]);
    assert_eq!(x.linear(w, None).tangent().to_vec(), vec![1.0, 2.0]);
}
