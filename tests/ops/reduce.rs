//! Reductions: gradcheck over shapes and axes, hand-derived answers, ties,
//! numerical stability, arg-extremes and axis errors.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::check::gradcheck;
use tapegrad::{Tape, Tensor, Var, tensor};

/// Shapes with the axes to reduce over: the 0-d scalar, size-1 axes, single
/// and multiple axes, negative and unsorted axes, and the empty list (which
/// reduces nothing).
fn cases() -> Vec<(Vec<usize>, Vec<isize>)> {
    vec![
        (vec![], vec![]),
        (vec![1], vec![0]),
        (vec![1], vec![-1]),
        (vec![5], vec![0]),
        (vec![5], vec![]),
        (vec![3, 1], vec![1]),
        (vec![3, 1], vec![0, -1]),
        (vec![2, 3], vec![0]),
        (vec![2, 3], vec![-1]),
        (vec![2, 3], vec![0, 1]),
        (vec![1, 4, 1], vec![0, 2]),
        (vec![1, 4, 1], vec![1]),
        (vec![2, 3, 4], vec![-1, 0]),
        (vec![2, 3, 4], vec![1]),
        (vec![2, 3, 4], vec![-2, -3]),
        (vec![2, 3, 4], vec![0, 1, 2]),
    ]
}

/// Number of elements each output combines.
fn count(dims: &[usize], axes: &[isize]) -> usize {
    let nd = dims.len() as isize;
    axes.iter()
        .map(|&a| dims[if a < 0 { a + nd } else { a } as usize])
        .product()
}

fn check(what: &str, dims: &[usize], f: impl for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>) {
    // A fresh seed per shape keeps each case reproducible on its own.
    let mut rng = StdRng::seed_from_u64(dims.iter().fold(17, |h, &d| h * 31 + d as u64));
    let x = Tensor::<f64>::randn(dims, &mut rng);
    if let Err(report) = gradcheck(f, &[x]) {
        panic!("{what} on {dims:?}: {report}");
    }
}

#[test]
fn axis_reductions_pass_gradcheck_on_every_case() {
    for (dims, axes) in cases() {
        for keepdim in [false, true] {
            let tag = |op: &str| format!("{op}({axes:?}, keepdim={keepdim})");
            check(&tag("sum"), &dims, |v| v[0].sum_axes(&axes, keepdim));
            check(&tag("mean"), &dims, |v| v[0].mean_axes(&axes, keepdim));
            check(&tag("logsumexp"), &dims, |v| {
                v[0].logsumexp_axes(&axes, keepdim)
            });
            check(&tag("var(0)"), &dims, |v| v[0].var_axes(&axes, 0, keepdim));
            if count(&dims, &axes) > 1 {
                check(&tag("var(1)"), &dims, |v| v[0].var_axes(&axes, 1, keepdim));
            }
            // Random normal inputs have no ties, and their gaps are far
            // wider than the finite-difference step.
            if count(&dims, &axes) > 0 {
                check(&tag("max"), &dims, |v| v[0].max_axes(&axes, keepdim));
                check(&tag("min"), &dims, |v| v[0].min_axes(&axes, keepdim));
            }
        }
    }
}

#[test]
fn all_element_reductions_pass_gradcheck_and_give_0d() {
    for dims in [vec![], vec![1], vec![4], vec![3, 1], vec![2, 3, 2]] {
        check("sum", &dims, |v| v[0].sum());
        check("mean", &dims, |v| v[0].mean());
        check("max", &dims, |v| v[0].max());
        check("min", &dims, |v| v[0].min());
        check("var(0)", &dims, |v| v[0].var(0));
        check("logsumexp", &dims, |v| v[0].logsumexp());
        if dims.iter().product::<usize>() > 1 {
            check("var(1)", &dims, |v| v[0].var(1));
        }
        let tape = Tape::<f64>::new();
        let x = tape.var(Tensor::ones(&dims));
        for y in [x.sum(), x.mean(), x.max(), x.min(), x.var(0), x.logsumexp()] {
            assert_eq!(y.ndim(), 0, "{dims:?}");
        }
    }
}

#[test]
fn composites_of_reductions_pass_gradcheck() {
    // Standardising over the last axis (a layer norm without affine terms)
    // reuses x, its mean and its variance.
    check("standardise", &[3, 4], |v| {
        let x = v[0];
        let centred = x - x.mean_axes(&[-1], true);
        centred / (x.var_axes(&[-1], 0, true) + 1e-5).sqrt()
    });
    // log_softmax = x - logsumexp(x), broadcast back over the reduced axis.
    check("log_softmax", &[2, 5], |v| {
        v[0] - v[0].logsumexp_axes(&[1], true)
    });
    // A reduction of a reduction, then a square.
    check("nested", &[2, 3, 4], |v| {
        v[0].max_axes(&[2], false)
            .mean_axes(&[0], false)
            .square()
            .sum()
    });
}

#[test]
fn empty_axes_list_reduces_nothing() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[1.0, -2.0], [3.0, 4.0]]);
    let y = x.sum_axes(&[], false);
    assert_eq!(y.shape().as_slice(), &[2, 2]);
    assert_eq!(y.value(), x.value());
    // The mean over no axes divides by N = 1.
    assert_eq!(x.mean_axes(&[], true).value(), x.value());
}

#[test]
fn sum_and_mean_gradients_match_hand_values() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    // d/dx_i sum = 1
    assert_eq!(x.sum().backward().wrt(x).to_vec(), vec![1.0; 6]);
    // d/dx_i mean = 1/n, n = 6
    assert_eq!(x.mean().backward().wrt(x).to_vec(), vec![1.0 / 6.0; 6]);
    // mean over axis 0 averages pairs: 1/2 per element, output [2.5, 3.5, 4.5]
    let m = x.mean_axes(&[0], false);
    assert_eq!(m.value().to_vec(), vec![2.5, 3.5, 4.5]);
    assert_eq!(m.sum().backward().wrt(x).to_vec(), vec![0.5; 6]);
    // y = sum_j (sum_i x_ij)^2 over columns; dy/dx_ij = 2 * column sum j
    // = [10, 14, 18] repeated on both rows.
    let s = x.sum_axes(&[-2], true);
    assert_eq!(s.shape().as_slice(), &[1, 3]);
    let g = s.square().sum().backward();
    assert_eq!(g.wrt(x).to_vec(), vec![10., 14., 18., 10., 14., 18.]);
}

#[test]
fn max_and_min_split_the_gradient_among_ties() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.0, 3.0, 3.0, 2.0]);
    // Two elements tie for the maximum 3: each gets half.
    assert_eq!(x.max().backward().wrt(x).to_vec(), vec![0., 0.5, 0.5, 0.]);
    // The minimum 1 is unique: it gets all.
    assert_eq!(x.min().backward().wrt(x).to_vec(), vec![1., 0., 0., 0.]);

    // Per row: [5, 1, 5] ties at the ends; [2, 2, 0] ties at the start.
    let y = tape.var(tensor![[5.0, 1.0, 5.0], [2.0, 2.0, 0.0]]);
    let m = y.max_axes(&[1], false);
    assert_eq!(m.value().to_vec(), vec![5., 2.]);
    // Seed [2, 4]: row 0 splits 2 into 1 + 1, row 1 splits 4 into 2 + 2.
    let g = m.backward_with(tensor![2.0, 4.0]);
    assert_eq!(g.wrt(y).to_vec(), vec![1., 0., 1., 2., 2., 0.]);
    // Column minima: 2 (row 1), 1 (row 0), 0 (row 1); no ties.
    let g = y.min_axes(&[0], true).sum().backward();
    assert_eq!(g.wrt(y).to_vec(), vec![0., 1., 0., 1., 0., 1.]);
    // Three equal elements: a third each.
    let z = tape.var(Tensor::full(&[3], 7.0));
    assert_eq!(z.max().backward().wrt(z).to_vec(), vec![1.0 / 3.0; 3]);
}

#[test]
fn variance_matches_hand_computation_for_both_corrections() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.0, 2.0, 3.0, 4.0]);
    // mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5
    let v0 = x.var(0);
    let v1 = x.var(1);
    assert_eq!(v0.item(), 5.0 / 4.0);
    assert_eq!(v1.item(), 5.0 / 3.0);
    // d var / dx_i = 2 (x_i - 2.5) / (N - correction): deviations -1.5, -0.5, 0.5, 1.5
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-15);
    let g0 = v0.backward();
    assert!(close(&g0.wrt(x).to_vec(), &[-0.75, -0.25, 0.25, 0.75]));
    let g1 = v1.backward();
    assert!(close(
        &g1.wrt(x).to_vec(),
        &[-1.0, -1.0 / 3.0, 1.0 / 3.0, 1.0]
    ));

    // Rows [1, 2, 3] and [4, 6, 8]: means 2 and 6, squared deviations sum to
    // 2 and 8; divided by 3 - 1 = 2: 1 and 4; by 3: 2/3 and 8/3.
    let y = tape.var(tensor![[1.0, 2.0, 3.0], [4.0, 6.0, 8.0]]);
    assert_eq!(y.var_axes(&[-1], 1, false).value().to_vec(), vec![1.0, 4.0]);
    let p = y.var_axes(&[1], 0, true);
    assert_eq!(p.shape().as_slice(), &[2, 1]);
    assert!(close(&p.value().to_vec(), &[2.0 / 3.0, 8.0 / 3.0]));

    // A constant has zero variance and zero gradient.
    let c = tape.var(Tensor::full(&[5], 3.0));
    let vc = c.var(1);
    assert_eq!(vc.item(), 0.0);
    assert_eq!(vc.backward().wrt(c).to_vec(), vec![0.0; 5]);
    // One element with correction 1 divides 0 by 0, as PyTorch.
    assert!(tape.var(Tensor::scalar(2.0)).var(1).item().is_nan());
}

#[test]
fn logsumexp_is_stable_for_large_and_small_inputs() {
    let tape = Tape::<f64>::new();
    // ln(e^1000 + e^1000) = 1000 + ln 2; the softmax is [1/2, 1/2].
    // (The softmax is read off the output, e^(x - y), so it carries the
    // rounding of y at magnitude 1000: about 1e-13.)
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-12);
    let x = tape.var(tensor![1000.0, 1000.0]);
    let y = x.logsumexp();
    assert!((y.item() - (1000.0 + 2f64.ln())).abs() < 1e-12);
    assert!(close(&y.backward().wrt(x).to_vec(), &[0.5, 0.5]));
    // The same far below: e^-1000 underflows to 0 without the shift.
    let x = tape.var(tensor![-1000.0, -1000.0]);
    let y = x.logsumexp();
    assert!((y.item() - (-1000.0 + 2f64.ln())).abs() < 1e-12);
    assert!(close(&y.backward().wrt(x).to_vec(), &[0.5, 0.5]));
    // Rows [0, ln 3] and [1000, 0]: ln(1 + 3) = ln 4 with softmax [1/4, 3/4];
    // 1000 + ln(1 + e^-1000) = 1000 with softmax [1, e^-1000].
    let x = tape.var(tensor![[0.0, 3f64.ln()], [1000.0, 0.0]]);
    let y = x.logsumexp_axes(&[-1], false);
    let v = y.value().to_vec();
    assert!((v[0] - 4f64.ln()).abs() < 1e-15 && v[1] == 1000.0);
    let g = y.sum().backward().wrt(x).to_vec();
    assert!(close(&g, &[0.25, 0.75, 1.0, 0.0]));

    // f32 overflows e^x at about 88.7.
    let tape = Tape::<f32>::new();
    let x = tape.var(tensor![100.0f32, 100.0]);
    let y = x.logsumexp();
    assert!((y.item() - (100.0 + 2f32.ln())).abs() < 1e-4);
    assert!(y.backward().wrt(x).all_finite());
}

#[test]
fn logsumexp_of_all_minus_infinity_is_minus_infinity_with_zero_gradient() {
    let tape = Tape::<f64>::new();
    // A fully masked row: ln(0 + 0) = -inf; no element moves it.
    let x = tape.var(tensor![
        [f64::NEG_INFINITY, f64::NEG_INFINITY],
        [0.0, f64::NEG_INFINITY]
    ]);
    let y = x.logsumexp_axes(&[1], false);
    assert_eq!(y.value().to_vec(), vec![f64::NEG_INFINITY, 0.0]);
    let g = y.backward_with(tensor![1.0, 1.0]);
    assert_eq!(g.wrt(x).to_vec(), vec![0.0, 0.0, 1.0, 0.0]);
}

#[test]
fn argmax_and_argmin_pick_first_extremes_and_carry_no_gradient() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[0.1, 0.7, 0.7], [0.5, -0.3, 0.2]]);
    let i = x.argmax(-1, false);
    assert_eq!(i.value().to_vec(), vec![1.0, 0.0]); // first of the tied 0.7s
    assert!(!i.requires_grad());
    assert_eq!(x.argmax(0, true).shape().as_slice(), &[1, 3]);
    assert_eq!(x.argmax(0, true).value().to_vec(), vec![1.0, 0.0, 0.0]);
    assert_eq!(x.argmin(1, false).value().to_vec(), vec![0.0, 1.0]);
    assert!(!x.argmin(0, false).requires_grad());
    // Indices used as data: y = sum x * idx has dy/dx = idx (broadcast over
    // each row), and backward passes over the argmax node untouched.
    let idx = x.argmax(1, true);
    let g = (x * idx).sum().backward();
    assert_eq!(g.wrt(x).to_vec(), vec![1., 1., 1., 0., 0., 0.]);
}

#[test]
fn reductions_work_on_f32_tapes() {
    let tape = Tape::<f32>::new();
    let x = tape.var(tensor![[1.0f32, 2.0], [3.0, 4.0]]);
    let y = x.mean_axes(&[0], false).sum(); // (1+3)/2 + (2+4)/2
    assert_eq!(y.item(), 5.0);
    assert_eq!(y.backward().wrt(x).to_vec(), vec![0.5; 4]);
}

#[test]
#[should_panic(expected = "sum: axis 2 is out of range for shape [2, 3]")]
fn sum_over_missing_axis_panics_with_shape() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(Tensor::zeros(&[2, 3])).sum_axes(&[2], false);
}

#[test]
#[should_panic(expected = "max: axis -3 is out of range for shape [2, 3]")]
fn max_over_too_negative_axis_panics_with_shape() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(Tensor::zeros(&[2, 3])).max_axes(&[-3], true);
}

#[test]
#[should_panic(expected = "logsumexp: axis 0 is out of range for shape []")]
fn axis_of_a_scalar_panics_with_shape() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(Tensor::scalar(1.0)).logsumexp_axes(&[0], false);
}

#[test]
#[should_panic(expected = "var: repeated axis in [1, -1] for shape [2, 3]")]
fn repeated_axis_panics_with_shape() {
    let tape = Tape::<f64>::new();
    let _ = tape
        .var(Tensor::zeros(&[2, 3]))
        .var_axes(&[1, -1], 0, false);
}

#[test]
#[should_panic(expected = "argmax: axis 2 is out of range for shape [4, 1]")]
fn argmax_over_missing_axis_panics_with_shape() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(Tensor::zeros(&[4, 1])).argmax(2, false);
}

#[test]
#[should_panic(expected = "min: cannot reduce an empty tensor of shape [0, 3]")]
fn min_of_empty_panics_with_shape() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(Tensor::zeros(&[0, 3])).min();
}
