//! Shape and data-movement ops: gradients against finite differences, values
//! worked out by hand, and the wording of shape errors.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::check::gradcheck;
use tapegrad::{Tape, Tensor, Var, tensor};

/// Gradchecks `f` at standard normal inputs of the given shapes.
fn check<F>(f: F, shapes: &[&[usize]])
where
    F: for<'t> Fn(&[Var<'t, f64>]) -> Var<'t, f64>,
{
    let mut rng = StdRng::seed_from_u64(0x5eed + shapes.len() as u64);
    let inputs: Vec<Tensor<f64>> = shapes.iter().map(|s| Tensor::randn(s, &mut rng)).collect();
    if let Err(report) = gradcheck(f, &inputs) {
        panic!("inputs of shapes {shapes:?}: {report}");
    }
}

/// `0, 1, 2, ...` in the given shape.
fn iota(dims: &[usize]) -> Tensor<f64> {
    let n: usize = dims.iter().product();
    Tensor::from_vec((0..n).map(|i| i as f64).collect(), dims).unwrap()
}

// ---------------------------------------------------------------- reshapes

#[test]
fn reshape_grad_matches_finite_difference() {
    let cases: [(&[usize], &[usize]); 5] = [
        (&[2, 3], &[3, 2]),
        (&[2, 1, 3], &[6]),
        (&[], &[1, 1]),
        (&[1], &[]),
        (&[4], &[2, 1, 2]),
    ];
    for (from, to) in cases {
        check(|v| v[0].reshape(to), &[from]);
        // Something nonlinear after the reshape, so the gradient is not constant.
        check(|v| v[0].reshape(to).tanh() * v[0].reshape(to), &[from]);
    }
}

#[test]
fn reshape_and_relatives_share_storage() {
    let tape = Tape::<f64>::new();
    let x = tape.var(iota(&[2, 1, 3]));
    let views = [
        x.reshape(&[3, 2]),
        x.flatten(0, -1),
        x.squeeze(1),
        x.unsqueeze(0),
    ];
    for y in views {
        assert!(y.value().shares_storage(&x.value()));
    }
}

#[test]
fn flatten_merges_the_axes_between_start_and_end() {
    let tape = Tape::<f64>::new();
    let x = tape.var(iota(&[2, 3, 4]));
    assert_eq!(x.flatten(1, -1).shape().as_slice(), &[2, 12]);
    assert_eq!(x.flatten(0, 1).shape().as_slice(), &[6, 4]);
    assert_eq!(x.flatten(-1, -1).shape().as_slice(), &[2, 3, 4]);
    assert_eq!(x.flatten(0, -1).shape().as_slice(), &[24]);
    // A 0-d var counts as [1], as in PyTorch.
    let s = tape.var(Tensor::scalar(2.0));
    assert_eq!(s.flatten(0, -1).shape().as_slice(), &[1]);
}

#[test]
fn flatten_grad_matches_finite_difference() {
    check(|v| v[0].flatten(1, -1), &[&[2, 3, 2]]);
    check(|v| v[0].flatten(-3, -2).sin(), &[&[2, 1, 3]]);
    check(|v| v[0].flatten(0, -1), &[&[]]);
}

#[test]
fn squeeze_and_unsqueeze_grads_match_finite_difference() {
    check(|v| v[0].squeeze(-2), &[&[2, 1, 3]]);
    check(|v| v[0].squeeze(0), &[&[1]]);
    check(|v| v[0].unsqueeze(0), &[&[]]);
    check(|v| v[0].unsqueeze(-1) * v[0].unsqueeze(-1), &[&[2, 3]]);
    check(|v| v[0].unsqueeze(1).squeeze(1), &[&[3, 1]]);
}

#[test]
fn unsqueeze_axis_counts_insert_positions() {
    let tape = Tape::<f64>::new();
    let x = tape.var(iota(&[2, 3]));
    assert_eq!(x.unsqueeze(0).shape().as_slice(), &[1, 2, 3]);
    assert_eq!(x.unsqueeze(2).shape().as_slice(), &[2, 3, 1]);
    assert_eq!(x.unsqueeze(-1).shape().as_slice(), &[2, 3, 1]);
    assert_eq!(x.unsqueeze(-3).shape().as_slice(), &[1, 2, 3]);
}

// --------------------------------------------------------------- broadcast

#[test]
fn broadcast_to_grad_matches_finite_difference() {
    let cases: [(&[usize], &[usize]); 5] = [
        (&[3], &[2, 3]),
        (&[2, 1], &[2, 4]),
        (&[], &[2, 2]),
        (&[1, 1], &[3, 1, 2]),
        (&[2, 3], &[2, 3]),
    ];
    for (from, to) in cases {
        check(|v| v[0].broadcast_to(to), &[from]);
    }
}

#[test]
fn broadcast_to_gradient_sums_over_the_copies() {
    // y[i, j] = x[i] for j < 3, so dL/dx[i] = sum_j seed[i, j]:
    // row 0: 1 + 2 + 3 = 6, row 1: 4 + 5 + 6 = 15.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[10.], [20.]]);
    let y = x.broadcast_to(&[2, 3]);
    assert_eq!(y.value().to_vec(), vec![10., 10., 10., 20., 20., 20.]);
    let g = y.backward_with(tensor![[1., 2., 3.], [4., 5., 6.]]);
    assert_eq!(g.wrt(x).to_vec(), vec![6., 15.]);
}

// --------------------------------------------------------------- permutes

#[test]
fn permute_moves_values_as_written_by_hand() {
    let tape = Tape::<f64>::new();
    // 2-d: the transpose of [[1, 2, 3], [4, 5, 6]] is [[1, 4], [2, 5], [3, 6]].
    let x = tape.var(tensor![[1., 2., 3.], [4., 5., 6.]]);
    let xt = x.permute(&[1, 0]);
    assert_eq!(xt.shape().as_slice(), &[3, 2]);
    assert_eq!(xt.value().to_vec(), vec![1., 4., 2., 5., 3., 6.]);
    assert_eq!(x.t().value(), xt.value());
    // 3-d: x[i, j, k] = 4i + 2j + k (iota of [2, 2, 2]); y = x.permute([2, 0, 1])
    // has y[k, i, j] = x[i, j, k]. Reading y in row-major order (k, i, j):
    // k = 0: x000, x010, x100, x110 = 0, 2, 4, 6; k = 1: 1, 3, 5, 7.
    let x3 = tape.var(iota(&[2, 2, 2]));
    let y = x3.permute(&[2, 0, 1]);
    assert_eq!(y.value().to_vec(), vec![0., 2., 4., 6., 1., 3., 5., 7.]);
    // Unequal sizes: [1, 2, 3] permuted by [2, 0, 1] has shape [3, 1, 2] and
    // y[k, 0, j] = x[0, j, k] = 3j + k: k = 0: 0, 3; k = 1: 1, 4; k = 2: 2, 5.
    let y = tape.var(iota(&[1, 2, 3])).permute(&[2, 0, 1]);
    assert_eq!(y.shape().as_slice(), &[3, 1, 2]);
    assert_eq!(y.value().to_vec(), vec![0., 3., 1., 4., 2., 5.]);
}

#[test]
fn permute_and_transpose_grads_match_finite_difference() {
    check(|v| v[0].permute(&[2, 0, 1]), &[&[2, 3, 4]]);
    check(|v| v[0].permute(&[1, 2, 0]).exp(), &[&[1, 3, 2]]);
    check(|v| v[0].permute(&[0, 1]), &[&[2, 3]]);
    check(|v| v[0].permute(&[]), &[&[]]);
    check(|v| v[0].transpose(0, -1), &[&[2, 3, 4]]);
    check(|v| v[0].transpose(-2, 1), &[&[2, 1, 3]]);
    check(|v| v[0].transpose(1, 1), &[&[2, 3]]);
    check(|v| v[0].t() * v[1], &[&[3, 2], &[2, 3]]);
}

#[test]
fn permute_backward_uses_the_inverse_permutation() {
    // With perm = [1, 2, 0], y[j, k, i] = x[i, j, k]. Seeding y's gradient
    // with y's own values and permuting back must give x's values, which
    // fails if backward applied perm again instead of its inverse.
    let tape = Tape::<f64>::new();
    let x = tape.var(iota(&[2, 3, 4]));
    let y = x.permute(&[1, 2, 0]);
    let g = y.backward_with(y.value());
    assert_eq!(g.wrt(x), &x.value());
}

// ---------------------------------------------------------------- slicing

#[test]
fn narrow_grad_matches_finite_difference() {
    check(|v| v[0].narrow(1, 1, 3), &[&[4, 5]]);
    check(|v| v[0].narrow(-2, 0, 1), &[&[2, 3]]);
    check(|v| v[0].narrow(0, 0, 1), &[&[1]]);
    check(|v| v[0].narrow(2, 1, 2).square(), &[&[2, 1, 4]]);
    // An empty slice: every input gets zero gradient.
    check(|v| v[0].narrow(0, 2, 0), &[&[3, 2]]);
}

#[test]
fn narrow_gradient_is_zero_outside_the_slice() {
    let tape = Tape::<f64>::new();
    let x = tape.var(iota(&[2, 4]));
    let y = x.narrow(-1, 1, 2);
    // Columns 1 and 2 of [[0, 1, 2, 3], [4, 5, 6, 7]].
    assert_eq!(y.value().to_vec(), vec![1., 2., 5., 6.]);
    let g = y.backward_with(tensor![[1., 2.], [3., 4.]]);
    assert_eq!(g.wrt(x).to_vec(), vec![0., 1., 2., 0., 0., 3., 4., 0.]);
}

// --------------------------------------------------------- concat, stack

#[test]
fn concat_of_three_joins_values_in_order() {
    let tape = Tape::<f64>::new();
    let a = tape.var(tensor![[1., 2.]]);
    let b = tape.var(tensor![[3., 4.], [5., 6.]]);
    let c = tape.var(tensor![[7., 8.]]);
    let rows = Var::concat(&[a, b, c], 0);
    assert_eq!(rows.shape().as_slice(), &[4, 2]);
    assert_eq!(rows.value().to_vec(), vec![1., 2., 3., 4., 5., 6., 7., 8.]);
    // Along the last axis: [[1, 2]] ++ [[7, 8]] ++ [[1, 2]] = [[1, 2, 7, 8, 1, 2]].
    let cols = Var::concat(&[a, c, a], -1);
    assert_eq!(cols.value().to_vec(), vec![1., 2., 7., 8., 1., 2.]);
    // `a` appears twice, so its gradient is the sum of both stretches:
    // seed [10, 20, 30, 40, 50, 60] -> a: [10 + 50, 20 + 60], c: [30, 40].
    let g = cols.backward_with(tensor![[10., 20., 30., 40., 50., 60.]]);
    assert_eq!(g.wrt(a).to_vec(), vec![60., 80.]);
    assert_eq!(g.wrt(c).to_vec(), vec![30., 40.]);
}

#[test]
fn concat_grad_matches_finite_difference() {
    check(
        |v| Var::concat(&[v[0], v[1], v[2]], 0),
        &[&[2, 3], &[1, 3], &[4, 3]],
    );
    check(
        |v| Var::concat(&[v[0], v[1], v[2]], -1).tanh(),
        &[&[2, 1], &[2, 3], &[2, 2]],
    );
    check(
        |v| Var::concat(&[v[0], v[1], v[0]], 1),
        &[&[2, 1, 2], &[2, 3, 2]],
    );
    check(|v| Var::concat(&[v[0]], 0), &[&[3]]);
}

#[test]
fn concat_with_a_constant_sends_gradient_only_to_the_var() {
    let tape = Tape::<f64>::new();
    let c = tape.constant(tensor![1., 2.]);
    let x = tape.var(tensor![3.]);
    let y = Var::concat(&[c, x], 0);
    assert_eq!(
        y.backward_with(tensor![4., 5., 6.]).wrt(x).to_vec(),
        vec![6.]
    );
}

#[test]
fn stack_of_three_adds_an_axis() {
    let tape = Tape::<f64>::new();
    let a = tape.var(tensor![1., 2.]);
    let b = tape.var(tensor![3., 4.]);
    let c = tape.var(tensor![5., 6.]);
    // At axis 0 the inputs are rows: [[1, 2], [3, 4], [5, 6]].
    let s0 = Var::stack(&[a, b, c], 0);
    assert_eq!(s0.shape().as_slice(), &[3, 2]);
    assert_eq!(s0.value().to_vec(), vec![1., 2., 3., 4., 5., 6.]);
    // At axis 1 (= -1) they are columns: [[1, 3, 5], [2, 4, 6]].
    let s1 = Var::stack(&[a, b, c], -1);
    assert_eq!(s1.shape().as_slice(), &[2, 3]);
    assert_eq!(s1.value().to_vec(), vec![1., 3., 5., 2., 4., 6.]);
    // Backward hands column k to input k: seed [[1, 2, 3], [4, 5, 6]].
    let g = s1.backward_with(tensor![[1., 2., 3.], [4., 5., 6.]]);
    assert_eq!(g.wrt(a).to_vec(), vec![1., 4.]);
    assert_eq!(g.wrt(b).to_vec(), vec![2., 5.]);
    assert_eq!(g.wrt(c).to_vec(), vec![3., 6.]);
    // 0-d vars stack into a vector.
    let s = Var::stack(
        &[tape.var(Tensor::scalar(7.)), tape.var(Tensor::scalar(8.))],
        0,
    );
    assert_eq!(s.value().to_vec(), vec![7., 8.]);
}

#[test]
fn stack_grad_matches_finite_difference() {
    for axis in [0, 1, 2, -1, -3] {
        check(
            |v| Var::stack(&[v[0], v[1], v[2]], axis),
            &[&[2, 3], &[2, 3], &[2, 3]],
        );
    }
    check(|v| Var::stack(&[v[0], v[1], v[2]], 0), &[&[], &[], &[]]);
    check(
        |v| Var::stack(&[v[0], v[1], v[0]], 1).sin(),
        &[&[1, 2], &[1, 2]],
    );
}

// ------------------------------------------------------- index_select

#[test]
fn index_select_gradient_accumulates_over_repeated_indices() {
    // rows = table[[1, 3, 1, 1]]: row 1 is read three times (output rows 0,
    // 2, 3) and row 3 once (output row 1), rows 0 and 2 never. With seed
    // rows s0..s3 = [1, 2], [3, 4], [5, 6], [7, 8]:
    //   grad row 1 = s0 + s2 + s3 = [1 + 5 + 7, 2 + 6 + 8] = [13, 16]
    //   grad row 3 = s1 = [3, 4]; rows 0 and 2: [0, 0].
    let tape = Tape::<f64>::new();
    let table = tape.var(iota(&[4, 2]));
    let rows = table.index_select(0, &[1, 3, 1, 1]);
    assert_eq!(rows.value().to_vec(), vec![2., 3., 6., 7., 2., 3., 2., 3.]);
    let g = rows.backward_with(tensor![[1., 2.], [3., 4.], [5., 6.], [7., 8.]]);
    assert_eq!(
        g.wrt(table).to_vec(),
        vec![0., 0., 13., 16., 0., 0., 3., 4.]
    );
}

#[test]
fn index_select_grad_matches_finite_difference() {
    check(|v| v[0].index_select(0, &[2, 0, 2, 1]), &[&[3, 4]]);
    check(|v| v[0].index_select(-1, &[1, 1, 0]), &[&[2, 3]]);
    check(|v| v[0].index_select(1, &[0, 0]).exp(), &[&[2, 1, 3]]);
    check(|v| v[0].index_select(0, &[]), &[&[3, 2]]);
    check(|v| v[0].index_select(0, &[0, 0, 0]), &[&[1]]);
}

// ------------------------------------------------------------- gather

#[test]
fn gather_picks_one_element_per_index() {
    // Along axis 1: out[i][j] = x[i][index[i][j]] with
    // x = [[1, 2, 3], [4, 5, 6]], index = [[2, 2], [0, 1]] -> [[3, 3], [4, 5]].
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[1., 2., 3.], [4., 5., 6.]]);
    let y = x.gather(1, &[2, 2, 0, 1], &[2, 2]);
    assert_eq!(y.value().to_vec(), vec![3., 3., 4., 5.]);
    // x[0][2] is read twice, so it gets seed[0][0] + seed[0][1] = 1 + 2;
    // x[1][0] gets 3 and x[1][1] gets 4; the rest were never read.
    let g = y.backward_with(tensor![[1., 2.], [3., 4.]]);
    assert_eq!(g.wrt(x).to_vec(), vec![0., 0., 3., 3., 4., 0.]);
}

#[test]
fn gather_grad_matches_finite_difference() {
    check(|v| v[0].gather(0, &[2, 0, 1, 2, 2, 0], &[2, 3]), &[&[3, 3]]);
    check(|v| v[0].gather(-1, &[1, 1, 0], &[3, 1]), &[&[3, 2]]);
    // Index smaller than the input off the axis (only the first row used).
    check(|v| v[0].gather(1, &[3, 0, 3], &[1, 3]), &[&[2, 4]]);
    check(
        |v| v[0].gather(1, &[0, 1, 1, 0, 0, 0, 1, 1], &[2, 2, 2]).sin(),
        &[&[2, 2, 2]],
    );
    check(|v| v[0].gather(0, &[0, 0], &[2]), &[&[1]]);
}

// ---------------------------------------------------------------- pad

#[test]
fn pad_grad_matches_finite_difference() {
    check(|v| v[0].pad(&[(1, 2), (0, 1)], 0.5), &[&[2, 3]]);
    check(|v| v[0].pad(&[(0, 0), (2, 0), (0, 3)], -1.0), &[&[2, 1, 2]]);
    check(|v| v[0].pad(&[], 3.0), &[&[]]);
    check(|v| v[0].pad(&[(1, 1)], 0.0).square(), &[&[1]]);
}

#[test]
fn pad_then_narrow_gives_back_the_input_and_its_gradient() {
    let tape = Tape::<f64>::new();
    let x = tape.var(iota(&[2, 3]));
    let p = x.pad(&[(1, 2), (3, 0)], 9.0);
    assert_eq!(p.shape().as_slice(), &[5, 6]);
    // Corners are padding; x[0][0] lands at [1][3].
    assert_eq!(p.value().get(&[0, 0]), 9.0);
    assert_eq!(p.value().get(&[1, 3]), 0.0);
    assert_eq!(p.value().get(&[2, 5]), 5.0);
    let back = p.narrow(0, 1, 2).narrow(1, 3, 3);
    assert_eq!(back.value(), x.value());
    // The round trip is the identity, so the gradient is the seed itself.
    let seed = tensor![[1., -2., 3.], [4., 5., -6.]];
    let g = back.backward_with(seed.clone());
    assert_eq!(g.wrt(x), &seed);
}

// ------------------------------------------------------------- mixed

#[test]
fn composite_of_shape_ops_matches_finite_difference() {
    // An attention-like shuffle: split heads, swap axes, pick rows, join.
    check(
        |v| {
            let heads = v[0].reshape(&[2, 3, 2]).permute(&[1, 0, 2]); // [3, 2, 2]
            let picked = heads.index_select(0, &[2, 0, 2]).flatten(1, -1); // [3, 4]
            let scale = v[1].unsqueeze(-1).broadcast_to(&[3, 4]);
            let mixed = picked * scale;
            Var::concat(&[mixed, mixed.narrow(0, 1, 1).tanh()], 0).pad(&[(0, 1), (1, 0)], 0.0)
        },
        &[&[4, 3], &[3]],
    );
}

#[test]
fn shape_ops_run_on_f32_tapes() {
    let tape = Tape::<f32>::new();
    let x = tape.var(tensor![[1.0f32, 2.0], [3.0, 4.0]]);
    let y = x.t().pad(&[(0, 1), (0, 0)], 0.5).index_select(0, &[2, 0]);
    assert_eq!(y.value().to_vec(), vec![0.5, 0.5, 1.0, 3.0]);
}

// ------------------------------------------------------ shape errors

#[test]
#[should_panic(expected = "reshape: cannot view [2, 3] (6 elements) as [4, 2] (8 elements)")]
fn reshape_to_a_different_element_count_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).reshape(&[4, 2]);
}

#[test]
#[should_panic(expected = "concat: shapes differ off axis 1: [2, 3] and [3, 3]")]
fn concat_of_mismatched_shapes_panics() {
    let tape = Tape::<f64>::new();
    let a = tape.var(iota(&[2, 3]));
    let b = tape.var(iota(&[3, 3]));
    let _ = Var::concat(&[a, b], 1);
}

#[test]
#[should_panic(expected = "concat: shapes differ off axis 0: [2, 3] and [2, 3, 1]")]
fn concat_of_different_ranks_panics() {
    let tape = Tape::<f64>::new();
    let _ = Var::concat(&[tape.var(iota(&[2, 3])), tape.var(iota(&[2, 3, 1]))], 0);
}

#[test]
#[should_panic(expected = "concat: no vars to join")]
fn concat_of_nothing_panics() {
    let _ = Var::<f64>::concat(&[], 0);
}

#[test]
#[should_panic(expected = "stack: shapes differ: [2] and [3]")]
fn stack_of_mismatched_shapes_panics() {
    let tape = Tape::<f64>::new();
    let _ = Var::stack(&[tape.var(iota(&[2])), tape.var(iota(&[3]))], 0);
}

#[test]
#[should_panic(expected = "index_select: index 7 is out of range for axis 0 of size 5")]
fn index_select_out_of_range_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[5, 3])).index_select(0, &[1, 7]);
}

#[test]
#[should_panic(expected = "gather: index 3 is out of range for axis -1 of size 3")]
fn gather_index_out_of_range_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).gather(-1, &[0, 3], &[2, 1]);
}

#[test]
#[should_panic(expected = "gather: index shape [3, 1] does not fit input shape [2, 3] off axis 1")]
fn gather_index_larger_than_input_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).gather(1, &[0, 0, 0], &[3, 1]);
}

#[test]
#[should_panic(expected = "gather: 3 indices given for index shape [2, 1] (2 elements)")]
fn gather_index_count_mismatch_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).gather(1, &[0, 0, 0], &[2, 1]);
}

#[test]
#[should_panic(expected = "permute: [0, 0, 1] is not a permutation of the axes of [2, 3, 4]")]
fn permute_with_a_repeated_axis_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3, 4])).permute(&[0, 0, 1]);
}

#[test]
#[should_panic(expected = "permute: [1, 0] is not a permutation of the axes of [2, 3, 4]")]
fn permute_with_too_few_axes_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3, 4])).permute(&[1, 0]);
}

#[test]
#[should_panic(expected = "transpose: axis 2 is out of range for shape [2, 3]")]
fn transpose_out_of_range_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).transpose(0, 2);
}

#[test]
#[should_panic(expected = "t: expects a 2-d var, got shape [2, 3, 4]")]
fn t_of_a_3d_var_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3, 4])).t();
}

#[test]
#[should_panic(expected = "narrow: range 2..5 is out of bounds for axis 1 of size 3: [2, 3]")]
fn narrow_past_the_end_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).narrow(1, 2, 3);
}

#[test]
#[should_panic(expected = "squeeze: axis 0 has size 2, not 1: [2, 1]")]
fn squeeze_of_a_long_axis_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 1])).squeeze(0);
}

#[test]
#[should_panic(
    expected = "unsqueeze: axis 3 is out of range for inserting an axis into shape [2, 3]"
)]
fn unsqueeze_out_of_range_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).unsqueeze(3);
}

#[test]
#[should_panic(expected = "broadcast_to: cannot broadcast [2, 3] to [3, 3]")]
fn broadcast_to_an_incompatible_shape_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).broadcast_to(&[3, 3]);
}

#[test]
#[should_panic(expected = "broadcast_to: cannot broadcast [2, 3] to [3]")]
fn broadcast_to_fewer_axes_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).broadcast_to(&[3]);
}

#[test]
#[should_panic(expected = "pad: 1 (before, after) pairs given for shape [2, 3] with 2 axes")]
fn pad_with_too_few_pairs_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).pad(&[(1, 1)], 0.0);
}

#[test]
#[should_panic(expected = "flatten: start axis 1 comes after end axis 0 in shape [2, 3]")]
fn flatten_with_reversed_axes_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(iota(&[2, 3])).flatten(1, 0);
}
