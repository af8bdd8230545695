//! Fused losses: cross-entropy, mean squared error, binary cross-entropy
//! with logits. Gradients against finite differences in f64; values against
//! hand derivations and against the unfused formulas; stability at large
//! logits.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::check::gradcheck;
use tapegrad::{Tape, Tensor, tensor};

fn randn(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(dims, &mut StdRng::seed_from_u64(seed))
}

fn uniform(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform(dims, 0.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

// ---------------------------------------------------------------- cross_entropy

#[test]
fn cross_entropy_grad_matches_finite_differences() {
    let cases: &[(&[usize], &[usize])] = &[
        (&[4, 5], &[0, 4, 2, 2]),
        (&[1, 3], &[1]),
        (&[3, 1], &[0, 0, 0]),
    ];
    for (k, &(dims, targets)) in cases.iter().enumerate() {
        let x = randn(dims, k as u64);
        gradcheck(|v| v[0].cross_entropy(targets), &[x]).unwrap();
    }
}

#[test]
fn cross_entropy_of_uniform_logits_is_ln_c() {
    // Equal logits give every class probability 1/C, so each row's loss is
    // -ln(1/C) = ln C, and so is the mean. The gradient (softmax - onehot)/N
    // is (1/C - 1)/N at the target and 1/(C N) elsewhere.
    let (n, c) = (3, 7);
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::full(&[n, c], 2.5));
    let loss = x.cross_entropy(&[0, 6, 3]);
    assert_eq!(loss.shape().as_slice(), &[] as &[usize]);
    assert!((loss.item() - (c as f64).ln()).abs() < 1e-12);
    let g = loss.backward();
    let dx = g.wrt(x);
    let (nf, cf) = (n as f64, c as f64);
    assert!((dx.get(&[1, 6]) - (1.0 / cf - 1.0) / nf).abs() < 1e-15);
    assert!((dx.get(&[1, 0]) - 1.0 / (cf * nf)).abs() < 1e-15);
}

#[test]
fn cross_entropy_equals_mean_negative_log_softmax_at_targets() {
    let x = randn(&[4, 6], 9);
    let targets = [5, 0, 3, 3];
    let tape = Tape::<f64>::new();
    let xv = tape.var(x);
    let loss = xv.cross_entropy(&targets).item();
    let ls = xv.log_softmax(-1).value();
    let want = -targets
        .iter()
        .enumerate()
        .map(|(i, &t)| ls.get(&[i, t]))
        .sum::<f64>()
        / 4.0;
    assert!((loss - want).abs() < 1e-12, "{loss} vs {want}");
}

#[test]
fn cross_entropy_of_huge_logits_stays_finite() {
    // Row 0 bets 1000 on class 0 and is right: loss ln(1 + e^-1000) = 0.
    // Row 1 bets 1000 on class 1 but the target is 0: loss 1000 - (-1000) +
    // ln(1 + e^-2000) = 2000. Mean: 1000.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[1000.0, 0.0], [-1000.0, 1000.0]]);
    let loss = x.cross_entropy(&[0, 0]);
    assert_eq!(loss.item(), 1000.0);
    let g = loss.backward();
    // Row 1's gradient: (softmax - onehot) / 2 = ([0, 1] - [1, 0]) / 2.
    assert_eq!(g.wrt(x).to_vec(), vec![0.0, 0.0, -0.5, 0.5]);
    // f32 as well.
    let tape = Tape::<f32>::new();
    let x = tape.var(tensor![[1000.0f32, -1000.0, 0.0]]);
    let loss = x.cross_entropy(&[1]);
    assert_eq!(loss.item(), 2000.0);
    assert!(loss.backward().wrt(x).all_finite());
}

#[test]
#[should_panic(
    expected = "cross_entropy: target 5 is out of range for logits of shape [2, 5] (classes 0..5)"
)]
fn cross_entropy_target_out_of_range_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(Tensor::zeros(&[2, 5])).cross_entropy(&[1, 5]);
}

#[test]
#[should_panic(expected = "cross_entropy: 3 targets for logits of shape [2, 5]")]
fn cross_entropy_target_count_mismatch_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(Tensor::zeros(&[2, 5])).cross_entropy(&[1, 2, 3]);
}

#[test]
#[should_panic(expected = "cross_entropy: logits must be [N, C]: got [5]")]
fn cross_entropy_needs_two_axes() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(Tensor::zeros(&[5])).cross_entropy(&[1]);
}

// ---------------------------------------------------------------- mse_loss

#[test]
fn mse_loss_grads_match_finite_differences_on_both_sides() {
    let shapes: [&[usize]; 4] = [&[], &[1], &[3], &[2, 3]];
    for (k, dims) in shapes.into_iter().enumerate() {
        let (x, t) = (randn(dims, 2 * k as u64), randn(dims, 2 * k as u64 + 1));
        gradcheck(|v| v[0].mse_loss(v[1]), &[x, t]).unwrap();
    }
}

#[test]
fn mse_loss_matches_hand_values() {
    // x - t = [1, -2, 0, 3]: mean of squares (1 + 4 + 0 + 9) / 4 = 3.5;
    // d/dx = 2 (x - t) / 4 = [0.5, -1, 0, 1.5], d/dt its negation.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[2.0, 0.0], [1.0, 5.0]]);
    let t = tape.var(tensor![[1.0, 2.0], [1.0, 2.0]]);
    let loss = x.mse_loss(t);
    assert_eq!(loss.item(), 3.5);
    let g = loss.backward();
    assert_eq!(g.wrt(x).to_vec(), vec![0.5, -1.0, 0.0, 1.5]);
    assert_eq!(g.wrt(t).to_vec(), vec![-0.5, 1.0, 0.0, -1.5]);
}

#[test]
#[should_panic(expected = "mse_loss: shapes differ: [2, 3] and [3]")]
fn mse_loss_shape_mismatch_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape
        .var(Tensor::zeros(&[2, 3]))
        .mse_loss(tape.var(Tensor::zeros(&[3])));
}

// ---------------------------------------------------------------- bce with logits

#[test]
fn bce_with_logits_grads_match_finite_differences_on_both_sides() {
    let shapes: [&[usize]; 4] = [&[], &[1], &[4], &[2, 3]];
    for (k, dims) in shapes.into_iter().enumerate() {
        let x = randn(dims, 3 * k as u64).map(|v| 3.0 * v);
        let t = uniform(dims, 3 * k as u64 + 1);
        gradcheck(|v| v[0].binary_cross_entropy_with_logits(v[1]), &[x, t]).unwrap();
    }
}

#[test]
fn bce_with_logits_matches_the_unfused_formula() {
    // -t ln s(x) - (1 - t) ln(1 - s(x)), averaged, is accurate for moderate x.
    let x = randn(&[10], 5);
    let t = uniform(&[10], 6);
    let tape = Tape::<f64>::new();
    let loss = tape
        .var(x.clone())
        .binary_cross_entropy_with_logits(tape.var(t.clone()))
        .item();
    let want = x
        .as_slice()
        .iter()
        .zip(t.as_slice())
        .map(|(&x, &t)| {
            let s = 1.0 / (1.0 + (-x).exp());
            -t * s.ln() - (1.0 - t) * (1.0 - s).ln()
        })
        .sum::<f64>()
        / 10.0;
    assert!((loss - want).abs() < 1e-12, "{loss} vs {want}");
}

#[test]
fn bce_with_logits_of_huge_logits_stays_finite() {
    // x = 1000 with t = 1: max(x,0) - x t + ln(1 + e^-1000) = 0.
    // x = -1000 with t = 1: 0 + 1000 + ln(1 + e^-1000) = 1000 (the unfused
    // form would take ln of sigmoid(-1000) = 0 and give inf). Mean: 500.
    // Gradients (sigmoid(x) - t) / 2 = [0, -0.5]; for t: -x / 2 = [-500, 500].
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1000.0, -1000.0]);
    let t = tape.var(tensor![1.0, 1.0]);
    let loss = x.binary_cross_entropy_with_logits(t);
    assert_eq!(loss.item(), 500.0);
    let g = loss.backward();
    assert_eq!(g.wrt(x).to_vec(), vec![0.0, -0.5]);
    assert_eq!(g.wrt(t).to_vec(), vec![-500.0, 500.0]);
}
