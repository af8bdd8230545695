//! Cross-entropy and NLL: gradients for every option, hand values, the fused path against the composite one, and the refusals.

use super::*;

// ---------------------------------------------------------------- cross-entropy

/// Class-loss cases: (shape [N, C], targets).
const CLASS_CASES: [(&[usize], &[usize]); 3] = [
    (&[4, 5], &[0, 4, 2, 2]),
    (&[1, 3], &[1]),
    (&[3, 1], &[0, 0, 0]),
];

#[test]
fn cross_entropy_grads_match_finite_differences_for_every_option() {
    for (k, (dims, targets)) in CLASS_CASES.into_iter().enumerate() {
        let c = dims[1];
        let x = randn(dims, k as u64);
        let w = uniform(&[c], 0.2, 2.0, 100 + k as u64);
        for reduction in REDUCTIONS {
            for eps in [0.0, 0.15] {
                for weight in [None, Some(w.clone())] {
                    let opts = CrossEntropyOptions {
                        reduction,
                        label_smoothing: eps,
                        weight,
                    };
                    gradcheck(
                        |v| loss::cross_entropy(v[0], targets, &opts),
                        std::slice::from_ref(&x),
                    )
                    .unwrap_or_else(|r| panic!("{dims:?} {opts:?}: {r}"));
                }
            }
        }
    }
}

#[test]
fn cross_entropy_of_uniform_logits_with_label_smoothing() {
    // Equal logits: logp = -ln C for every class, so both the target term
    // and the smoothing term are ln C, and any mix of them is ln C.
    // Gradient: softmax - q with q = (1 - eps) onehot + eps / C, over N:
    // at the target 1/C - (1 - eps) - eps/C = (1 - eps)(1/C - 1), elsewhere
    // 1/C - eps/C = (1 - eps)/C.
    let (n, c, eps) = (2usize, 4usize, 0.3);
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::full(&[n, c], -0.7));
    let opts = CrossEntropyOptions::default().label_smoothing(eps);
    let l = loss::cross_entropy(x, &[3, 1], &opts);
    assert!(close(l.item(), (c as f64).ln()));
    let g = l.backward();
    let (nf, cf) = (n as f64, c as f64);
    assert!(close(
        g.wrt(x).get(&[0, 3]),
        (1.0 - eps) * (1.0 / cf - 1.0) / nf
    ));
    assert!(close(g.wrt(x).get(&[0, 0]), (1.0 - eps) / cf / nf));
}

#[test]
fn cross_entropy_with_label_smoothing_mixes_with_uniform() {
    // Logits [0, ln 3]: softmax [1/4, 3/4], logp = [-ln 4, ln 3 - ln 4].
    // Target 1, eps = 0.2, C = 2:
    // 0.8 * (ln 4 - ln 3) + 0.1 * (ln 4 + ln 4 - ln 3).
    let (l3, l4) = (3f64.ln(), 4f64.ln());
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[0.0, 3f64.ln()]]);
    let opts = CrossEntropyOptions::default().label_smoothing(0.2);
    let l = loss::cross_entropy(x, &[1], &opts);
    assert!(close(l.item(), 0.8 * (l4 - l3) + 0.1 * (2.0 * l4 - l3)));
    // softmax - q with q = [0.1, 0.9]: [0.25 - 0.1, 0.75 - 0.9]
    assert_all_close(&l.backward().wrt(x).to_vec(), &[0.15, -0.15]);
}

#[test]
fn cross_entropy_with_class_weights_is_the_weighted_mean() {
    // Row 0: equal logits, target 1: -logp = ln 2, weight 0.5.
    // Row 1: logits [0, ln 3], target 0: -logp = ln 4 = 2 ln 2, weight 2.
    // Weighted mean: (0.5 ln 2 + 2 * 2 ln 2) / (0.5 + 2) = 1.8 ln 2.
    let l2 = 2f64.ln();
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[1.0, 1.0], [0.0, 3f64.ln()]]);
    let w = tensor![2.0, 0.5];
    let opts = CrossEntropyOptions::default().weight(w.clone());
    let l = loss::cross_entropy(x, &[1, 0], &opts);
    assert!(close(l.item(), 1.8 * l2));
    // Sum: 4.5 ln 2. None: [0.5 ln 2, 4 ln 2].
    let sum = loss::cross_entropy(x, &[1, 0], &opts.clone().reduction(Reduction::Sum));
    assert!(close(sum.item(), 4.5 * l2));
    let none = loss::cross_entropy(x, &[1, 0], &opts.clone().reduction(Reduction::None));
    assert_all_close(&none.value().to_vec(), &[0.5 * l2, 4.0 * l2]);
    // Gradient of the mean, row 0: w[1] (softmax - onehot) / 2.5 =
    // 0.5 * [0.5, -0.5] / 2.5 = [0.1, -0.1].
    let g = l.backward();
    assert_all_close(&g.wrt(x).to_vec()[..2], &[0.1, -0.1]);

    // With smoothing as well (PyTorch): the smoothing term of a row is
    // -sum_c w[c] logp[c], and the mean divides it by the same 2.5.
    // Row 0: 2.5 ln 2. Row 1: 2 ln 4 + 0.5 (ln 4 - ln 3).
    let eps = 0.4;
    let smooth = 2.5 * l2 + 2.0 * 4f64.ln() + 0.5 * (4f64.ln() - 3f64.ln());
    let want = (1.0 - eps) * 1.8 * l2 + eps / 2.0 * smooth / 2.5;
    let l = loss::cross_entropy(x, &[1, 0], &opts.label_smoothing(eps));
    assert!(close(l.item(), want), "{} vs {want}", l.item());
}

#[test]
fn cross_entropy_reductions_agree_with_each_other() {
    let x = randn(&[5, 3], 7);
    let targets = [2, 0, 1, 1, 0];
    let tape = Tape::<f64>::new();
    let xv = tape.var(x);
    for opts in [
        CrossEntropyOptions::default(),
        CrossEntropyOptions::default().label_smoothing(0.1),
    ] {
        let ce = |r| loss::cross_entropy(xv, &targets, &opts.clone().reduction(r));
        let none = ce(Reduction::None).value();
        assert_eq!(none.shape(), &[5]);
        let total: f64 = none.as_slice().iter().sum();
        assert!(close(ce(Reduction::Sum).item(), total));
        assert!(close(ce(Reduction::Mean).item(), total / 5.0));
    }
}

#[test]
fn fused_cross_entropy_agrees_with_log_softmax_and_gather() {
    // Without weights or smoothing the mean goes through the fused op; the
    // same loss via nll_loss(log_softmax) is the composite path.
    let x = randn(&[6, 4], 11);
    let targets = [3, 0, 0, 2, 1, 3];
    for reduction in [Reduction::Mean, Reduction::Sum] {
        let tape = Tape::<f64>::new();
        let xv = tape.var(x.clone());
        let opts = CrossEntropyOptions::default().reduction(reduction);
        let fused = loss::cross_entropy(xv, &targets, &opts);
        let composite = loss::nll_loss(xv.log_softmax(-1), &targets, None, reduction);
        assert!(close(fused.item(), composite.item()));
        let gf = fused.backward().wrt(xv).to_vec();
        let gc = composite.backward().wrt(xv).to_vec();
        for (a, b) in gf.iter().zip(&gc) {
            assert!((a - b).abs() < 1e-14, "{gf:?} vs {gc:?}");
        }
    }
    // The fused path is a single node after the logits.
    let tape = Tape::<f64>::new();
    let xv = tape.var(x);
    let _ = loss::cross_entropy(xv, &targets, &CrossEntropyOptions::default());
    assert_eq!(tape.len(), 2);
}

#[test]
#[should_panic(expected = "cross_entropy: label_smoothing must be in [0, 1]: got 1.5")]
fn cross_entropy_rejects_label_smoothing_above_one() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[2, 3]));
    let opts = CrossEntropyOptions::default().label_smoothing(1.5);
    let _ = loss::cross_entropy(x, &[0, 1], &opts);
}

#[test]
#[should_panic(expected = "cross_entropy: class weights must have shape [C] = [3]: got [2]")]
fn cross_entropy_rejects_weights_of_the_wrong_length() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[2, 3]));
    let opts = CrossEntropyOptions::default().weight(tensor![1.0, 2.0]);
    let _ = loss::cross_entropy(x, &[0, 1], &opts);
}

#[test]
#[should_panic(
    expected = "cross_entropy: target 3 is out of range for logits of shape [2, 3] (classes 0..3)"
)]
fn cross_entropy_rejects_a_target_out_of_range_on_the_composite_path() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[2, 3]));
    let opts = CrossEntropyOptions::default().reduction(Reduction::None);
    let _ = loss::cross_entropy(x, &[0, 3], &opts);
}

// ---------------------------------------------------------------- nll

#[test]
fn nll_loss_grads_match_finite_differences() {
    for (k, (dims, targets)) in CLASS_CASES.into_iter().enumerate() {
        let x = randn(dims, 20 + k as u64);
        let w = uniform(&[dims[1]], 0.2, 2.0, 30 + k as u64);
        for reduction in REDUCTIONS {
            for weight in [None, Some(&w)] {
                gradcheck(
                    |v| loss::nll_loss(v[0], targets, weight, reduction),
                    std::slice::from_ref(&x),
                )
                .unwrap();
            }
        }
    }
}

#[test]
fn nll_loss_picks_the_targets_log_probabilities() {
    // -(-1 * 2 + -3 * 1) / (2 + 1) with weights [1, 2] at targets [1, 0]...
    // row 0 picks -1 (weight w[1] = 2), row 1 picks -3 (weight w[0] = 1):
    // weighted mean (2 * 1 + 1 * 3) / 3 = 5/3; gradient -w[t] / 3 at targets.
    let tape = Tape::<f64>::new();
    let lp = tape.var(tensor![[-0.5, -1.0], [-3.0, -0.1]]);
    let w = tensor![1.0, 2.0];
    let l = loss::nll_loss(lp, &[1, 0], Some(&w), Reduction::Mean);
    assert!(close(l.item(), 5.0 / 3.0));
    assert_all_close(
        &l.backward().wrt(lp).to_vec(),
        &[0.0, -2.0 / 3.0, -1.0 / 3.0, 0.0],
    );
}

#[test]
#[should_panic(expected = "nll_loss: 1 targets for log-probabilities of shape [2, 3]")]
fn nll_loss_rejects_a_target_count_mismatch() {
    let tape = Tape::<f64>::new();
    let _ = loss::nll_loss(
        tape.var(Tensor::zeros(&[2, 3])),
        &[0],
        None,
        Reduction::Mean,
    );
}
