//! Second order (`Tape::grad`, recorded rules) and forward mode
//! (`Tape::dual`) for the mask ops (comparisons, `where_`) and the
//! reductions (`max`, `min`, `var`, `logsumexp`, `argmax`, `argmin`; `sum`
//! and `mean` are in `tests/tape/higher.rs`), each op checked by
//! `check::gradgradcheck` and `check::jvpcheck` over several axes, with and
//! without kept axes, plus values derived by hand: Hessians of `var` and
//! `logsumexp`, tangents and gradients on ties.

use tapegrad::check::{gradgradcheck, jvpcheck};
use tapegrad::{Tape, Tensor, Var, func, tensor};

type F = for<'t> fn(&[Var<'t, f64>]) -> Var<'t, f64>;

/// Both checks, naming the case on failure.
fn both(name: &str, f: F, inputs: &[Tensor<f64>]) {
    gradgradcheck(f, inputs).unwrap_or_else(|r| panic!("{name}: second order: {r}"));
    jvpcheck(f, inputs).unwrap_or_else(|r| panic!("{name}: forward mode: {r}"));
}

/// A [2, 3, 4] point with no two elements equal (no ties anywhere) and none
/// near the thresholds the mask tests use.
fn cube() -> Tensor<f64> {
    let data: Vec<f64> = (0..24)
        .map(|i| ((i * 7 % 24) as f64 - 11.3) * 0.17)
        .collect();
    Tensor::from_vec(data, &[2, 3, 4]).unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() < 1e-10 * (1.0 + b.abs()),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn comparisons_pass_nothing_back_and_have_zero_tangent() {
    let x = tensor![[0.7, -1.3, 2.1], [-0.4, 1.6, -2.2]];
    let y = tensor![0.2, -1.0, 1.0];
    let cases: Vec<(&str, F)> = vec![
        ("gt", |v| v[0].gt(v[1]) * v[0].square()),
        ("ge", |v| v[0].ge(0.1) * v[0].sin() + v[1]),
        ("lt", |v| v[0].lt(v[1]) * v[1].exp() * v[0]),
        ("le", |v| v[1].le(v[0]) * v[0] * v[1]),
        ("eq", |v| v[0].eq(v[1]) + v[0].tanh() * v[1]),
        ("ne", |v| v[0].ne(v[1]) * v[0].square() * v[1]),
    ];
    for (name, f) in cases {
        both(name, f, &[x.clone(), y.clone()]);
    }
    // The tangent of a comparison alone is zero.
    let tape = Tape::<f64>::new();
    let a = tape.dual(x.clone(), Tensor::ones(&[2, 3]));
    assert_eq!(a.gt(0.0).tangent().to_vec(), vec![0.0; 6]);
}

#[test]
fn third_derivative_through_maximum_passes_its_comparison_masks() {
    // Regression: maximum's recorded rule multiplies by comparison masks,
    // and a second `tape.grad` through them used to stop at the comparison
    // ("cannot be recorded on the tape"). y = max(x, 0)^3 at x = 0.7:
    // y' = 3x^2, y'' = 6x, y''' = 6.
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(0.7));
    let y = x.maximum(0.0).powf(3.0);
    let d1 = tape.grad(y, &[x])[0];
    let d2 = tape.grad(d1, &[x])[0];
    let d3 = tape.grad(d2, &[x])[0];
    close(d1.item(), 3.0 * 0.49, "y'");
    close(d2.item(), 6.0 * 0.7, "y''");
    close(d3.item(), 6.0, "y'''");
}

#[test]
fn where_selects_gradients_and_tangents_with_broadcasting() {
    let x = tensor![[0.7, -1.3, 2.1], [-0.4, 1.6, -2.2]];
    let y = tensor![0.9, -0.6, 1.7];
    let cases: Vec<(&str, F)> = vec![
        ("where same shape", |v| {
            v[0].gt(0.0).where_(v[0].sin(), v[0].square())
        }),
        // The false branch [3] broadcast against [2, 3].
        ("where broadcast branch", |v| {
            v[0].gt(0.0).where_(v[0] * v[1], v[1].exp())
        }),
        // A [3] condition over [2, 3] branches.
        ("where broadcast cond", |v| {
            v[1].lt(0.0).where_(v[0].square(), v[0] * v[1] * v[1])
        }),
        // One var in both branches, and a repeated use of the result.
        ("where repeated", |v| {
            let w = v[0].ge(0.5).where_(v[0].tanh(), v[0].cos());
            w * w * v[1]
        }),
    ];
    for (name, f) in cases {
        both(name, f, &[x.clone(), y.clone()]);
    }
    // By hand: y = where(x > 0, x^3, -x^2) at x = [2, -3]: y'' = [12, -2],
    // tangent along v = [1, 1]: [3 x^2, -2 x] = [12, 6].
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![2.0, -3.0]);
    let y = x.gt(0.0).where_(x.powf(3.0), -x.square()).sum();
    let g = tape.grad(y, &[x])[0];
    let h = g.backward_with(Tensor::ones(&[2])).wrt(x).to_vec();
    assert_eq!(h, vec![12.0, -2.0]);
    let xd = tape.dual(tensor![2.0, -3.0], tensor![1.0, 1.0]);
    let yd = xd.gt(0.0).where_(xd.powf(3.0), -xd.square());
    assert_eq!(yd.tangent().to_vec(), vec![12.0, 6.0]);
}

#[test]
fn max_and_min_over_every_axis_choice() {
    // Each reduction times a smooth function of x, so the second
    // derivative is not trivially zero.
    let cases: Vec<(&str, F)> = vec![
        ("max all", |v| v[0].max() * v[0].sin()),
        ("min all", |v| v[0].min() * v[0].square()),
        ("max axis 0", |v| v[0].max_axes(&[0], false).square()),
        ("max axis -1 keepdim", |v| v[0].max_axes(&[-1], true) * v[0]),
        ("min axes 0, 2", |v| v[0].min_axes(&[0, 2], false).exp()),
        ("min axis 1 keepdim", |v| {
            v[0].min_axes(&[1], true) * v[0].cos()
        }),
        ("max repeated", |v| {
            let m = v[0].max_axes(&[1], false);
            m * m * v[0].min_axes(&[1], false)
        }),
    ];
    for (name, f) in cases {
        both(name, f, &[cube()]);
    }
}

#[test]
fn max_and_min_split_ties_in_both_modes() {
    // x = [1, 3, 3, 2]: the plain rule gives [0, 1/2, 1/2, 0]; the recorded
    // one must agree, the tangent is the mean of the tied tangents, and the
    // second derivative is 0.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.0, 3.0, 3.0, 2.0]);
    let m = x.max();
    let g = tape.grad(m, &[x])[0];
    assert_eq!(g.value().to_vec(), vec![0.0, 0.5, 0.5, 0.0]);
    assert_eq!(g.value().to_vec(), m.backward().wrt(x).to_vec());
    let h = tape.grad((g * x).sum(), &[x])[0];
    assert_eq!(h.value().to_vec(), vec![0.0, 0.5, 0.5, 0.0]);
    let xd = tape.dual(tensor![1.0, 3.0, 3.0, 2.0], tensor![5.0, 2.0, 4.0, 7.0]);
    assert_eq!(xd.max().tangent().item(), 3.0);
    // min over rows with a tie in the first: [[2, 1, 1], [4, 0, 5]].
    let yd = tape.dual(
        tensor![[2.0, 1.0, 1.0], [4.0, 0.0, 5.0]],
        tensor![[1.0, 2.0, 6.0], [1.0, 3.0, 1.0]],
    );
    assert_eq!(yd.min_axes(&[1], false).tangent().to_vec(), vec![4.0, 3.0]);
}

#[test]
fn var_with_corrections_axes_and_keepdim() {
    let cases: Vec<(&str, F)> = vec![
        ("var all population", |v| v[0].var(0)),
        ("var all sample", |v| v[0].var(1) * v[0].sum()),
        ("var axis 0", |v| v[0].var_axes(&[0], 1, false).square()),
        ("var axis -1 keepdim", |v| {
            v[0].var_axes(&[-1], 0, true) * v[0]
        }),
        ("var axes 0, 2", |v| v[0].var_axes(&[0, 2], 1, false).sqrt()),
        ("var repeated", |v| {
            let s = v[0].var_axes(&[1], 0, true);
            s * s * v[0].sin()
        }),
    ];
    for (name, f) in cases {
        both(name, f, &[cube()]);
    }
    // By hand: var(x) with correction c over N elements has the Hessian
    // 2 / (N - c) (I - 1/N), whatever x.
    let x: Tensor<f64> = tensor![0.3, -1.2, 2.0, 0.5];
    for c in [0usize, 1] {
        let h = func::hessian(move |v: Var<'_, f64>| v.var(c), &x).to_vec();
        let d = 2.0 / (4 - c) as f64;
        for i in 0..4 {
            for j in 0..4 {
                let want = d * (f64::from(i == j) - 0.25);
                close(h[i * 4 + j], want, &format!("var({c}) Hessian [{i}, {j}]"));
            }
        }
    }
}

#[test]
fn logsumexp_over_axes_and_its_hessian() {
    let cases: Vec<(&str, F)> = vec![
        ("logsumexp all", |v| v[0].logsumexp()),
        ("logsumexp axis 0", |v| {
            v[0].logsumexp_axes(&[0], false).square()
        }),
        ("logsumexp axis -1 keepdim", |v| {
            v[0].logsumexp_axes(&[-1], true) * v[0]
        }),
        ("logsumexp axes 1, 2", |v| {
            v[0].logsumexp_axes(&[1, 2], false).sin()
        }),
        ("logsumexp large", |v| {
            (v[0] * 300.0).logsumexp_axes(&[1], false)
        }),
    ];
    for (name, f) in cases {
        both(name, f, &[cube()]);
    }
    // By hand: the Hessian of ln sum e^x is diag(p) - p p^T, p = softmax(x).
    let x: Tensor<f64> = tensor![0.3, -1.2, 2.0];
    let z: f64 = x.as_slice().iter().map(|v| v.exp()).sum();
    let p: Vec<f64> = x.as_slice().iter().map(|v| v.exp() / z).collect();
    let h = func::hessian(|v: Var<'_, f64>| v.logsumexp(), &x).to_vec();
    for i in 0..3 {
        for j in 0..3 {
            let want = if i == j { p[i] } else { 0.0 } - p[i] * p[j];
            close(h[i * 3 + j], want, &format!("logsumexp Hessian [{i}, {j}]"));
        }
    }
    // Tangent: sum p_i v_i.
    let tape = Tape::<f64>::new();
    let xd = tape.dual(x.clone(), tensor![1.0, 2.0, -1.0]);
    close(
        xd.logsumexp().tangent().item(),
        p[0] + 2.0 * p[1] - p[2],
        "logsumexp tangent",
    );
}

#[test]
fn logsumexp_of_an_all_minus_infinity_group_records_zero_gradients() {
    let tape = Tape::<f64>::new();
    let ninf = f64::NEG_INFINITY;
    let x = tape.var(tensor![[ninf, ninf], [0.0, ninf]]);
    let y = x.logsumexp_axes(&[1], false);
    let seed = tape.constant(tensor![1.0, 1.0]);
    let g = tape.grad_with(y, seed, &[x])[0];
    assert_eq!(g.value().to_vec(), vec![0.0, 0.0, 1.0, 0.0]);
    assert_eq!(
        g.value().to_vec(),
        y.backward_with(tensor![1.0, 1.0]).wrt(x).to_vec()
    );
}

#[test]
fn argmax_and_argmin_are_constants_in_both_modes() {
    let cases: Vec<(&str, F)> = vec![
        ("argmax", |v| v[0] * v[0].argmax(-1, true)),
        ("argmin", |v| v[0].square() * v[0].argmin(0, true)),
        ("argmax no keepdim", |v| {
            v[0].sum_axes(&[1], false) * v[0].argmax(1, false)
        }),
    ];
    for (name, f) in cases {
        both(name, f, &[cube()]);
    }
    let tape = Tape::<f64>::new();
    let x = tape.dual(cube(), Tensor::ones(&[2, 3, 4]));
    assert_eq!(x.argmax(1, false).tangent().to_vec(), vec![0.0; 8]);
    assert_eq!(x.argmin(-1, true).tangent().shape(), &[2, 3, 1]);
}
