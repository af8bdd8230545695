//! `nn::loss`: every loss under every reduction against finite differences
//! in f64, hand-derived values, the fused and composite cross-entropy paths
//! against each other, and the L1 / L2 penalties' gradients.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::check::gradcheck;
use tapegrad::nn::loss::{self, BceWithLogitsOptions, CrossEntropyOptions, KlReduction, Reduction};
use tapegrad::{Float, Module, Param, Tape, Tensor, Var, tensor};

const REDUCTIONS: [Reduction; 3] = [Reduction::None, Reduction::Mean, Reduction::Sum];

fn randn(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(dims, &mut StdRng::seed_from_u64(seed))
}

fn uniform(dims: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform(dims, lo, hi, &mut StdRng::seed_from_u64(seed))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + b.abs())
}

fn assert_all_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(close(*g, *w), "{got:?} vs {want:?}");
    }
}

/// Shapes for elementwise losses: 0-d, size-1 axes, and ordinary ones.
const SHAPES: [&[usize]; 5] = [&[], &[1], &[5], &[3, 1], &[2, 3]];

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

// ---------------------------------------------------------------- regression losses

type Elementwise = for<'t> fn(Var<'t, f64>, Var<'t, f64>, Reduction) -> Var<'t, f64>;

fn regression_losses() -> [(&'static str, Elementwise); 6] {
    [
        ("mse", |x, y, r| loss::mse_loss(x, y, r)),
        ("l1", |x, y, r| loss::l1_loss(x, y, r)),
        ("huber(0.7)", |x, y, r| loss::huber_loss(x, y, 0.7, r)),
        ("smooth_l1(1.5)", |x, y, r| {
            loss::smooth_l1_loss(x, y, 1.5, r)
        }),
        ("smooth_l1(0)", |x, y, r| loss::smooth_l1_loss(x, y, 0.0, r)),
        ("huber(1)", |x, y, r| loss::huber_loss(x, y, 1.0, r)),
    ]
}

#[test]
fn regression_loss_grads_match_finite_differences_on_both_sides() {
    for (name, f) in regression_losses() {
        for (k, dims) in SHAPES.into_iter().enumerate() {
            // Differences spread over [-3, 3]: both Huber regions are hit.
            let x = randn(dims, 40 + k as u64).map(|v| 1.5 * v);
            let y = randn(dims, 50 + k as u64).map(|v| 1.5 * v);
            for r in REDUCTIONS {
                gradcheck(|v| f(v[0], v[1], r), &[x.clone(), y.clone()])
                    .unwrap_or_else(|e| panic!("{name} {dims:?} {r:?}: {e}"));
            }
        }
    }
}

#[test]
fn regression_loss_reductions_agree_with_each_other() {
    let (x, y) = (randn(&[3, 4], 60), randn(&[3, 4], 61));
    let tape = Tape::<f64>::new();
    let (xv, yv) = (tape.var(x), tape.constant(y));
    for (name, f) in regression_losses() {
        let none = f(xv, yv, Reduction::None).value();
        assert_eq!(none.shape(), &[3, 4], "{name}");
        let total: f64 = none.as_slice().iter().sum();
        assert!(close(f(xv, yv, Reduction::Sum).item(), total), "{name}");
        assert!(
            close(f(xv, yv, Reduction::Mean).item(), total / 12.0),
            "{name}"
        );
    }
}

#[test]
fn mse_and_l1_match_hand_values() {
    // d = x - y = [1, -2, 0.5]: squares [1, 4, 0.25], absolute [1, 2, 0.5].
    // Gradients of the sums: 2d = [2, -4, 1] and sign(d) = [1, -1, 1].
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![2.0, 0.0, 1.0]);
    let y = tape.constant(tensor![1.0, 2.0, 0.5]);
    let mse = loss::mse_loss(x, y, Reduction::Sum);
    assert_eq!(mse.item(), 5.25);
    assert_eq!(mse.backward().wrt(x).to_vec(), vec![2.0, -4.0, 1.0]);
    let l1 = loss::l1_loss(x, y, Reduction::Sum);
    assert_eq!(l1.item(), 3.5);
    assert_eq!(l1.backward().wrt(x).to_vec(), vec![1.0, -1.0, 1.0]);
}

#[test]
fn huber_is_quadratic_inside_and_linear_outside() {
    // delta = 1, d = [0.5, -3, 2]:
    // inside: 0.5 * 0.25 = 0.125, gradient d = 0.5;
    // outside: 1 * (3 - 0.5) = 2.5 with gradient -1, and 1 * (2 - 0.5) = 1.5
    // with gradient +1.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![0.5, -3.0, 2.0]);
    let y = tape.constant(Tensor::zeros(&[3]));
    let l = loss::huber_loss(x, y, 1.0, Reduction::None);
    assert_eq!(l.value().to_vec(), vec![0.125, 2.5, 1.5]);
    let g = l.sum().backward();
    assert_eq!(g.wrt(x).to_vec(), vec![0.5, -1.0, 1.0]);
    // delta = 4: all inside, 0.5 d^2 = [0.125, 4.5, 2].
    let l = loss::huber_loss(x, y, 4.0, Reduction::None);
    assert_eq!(l.value().to_vec(), vec![0.125, 4.5, 2.0]);
}

#[test]
fn smooth_l1_is_huber_over_beta_and_l1_at_zero() {
    // beta = 2, d = [1, -3]: 0.5 * 1 / 2 = 0.25 with gradient d / beta = 0.5;
    // 3 - 1 = 2 with gradient -1.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.0, -3.0]);
    let y = tape.constant(Tensor::zeros(&[2]));
    let l = loss::smooth_l1_loss(x, y, 2.0, Reduction::None);
    assert_eq!(l.value().to_vec(), vec![0.25, 2.0]);
    assert_eq!(l.sum().backward().wrt(x).to_vec(), vec![0.5, -1.0]);
    let huber = loss::huber_loss(x, y, 2.0, Reduction::None).value();
    assert_eq!(huber.to_vec(), vec![0.5, 4.0]); // beta times the above
    let zero = loss::smooth_l1_loss(x, y, 0.0, Reduction::None).value();
    assert_eq!(zero.to_vec(), vec![1.0, 3.0]);
}

#[test]
#[should_panic(expected = "huber_loss: delta must be positive: got 0")]
fn huber_rejects_a_zero_delta() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[2]));
    let _ = loss::huber_loss(x, x, 0.0, Reduction::Mean);
}

#[test]
#[should_panic(expected = "l1_loss: shapes differ: [2, 3] and [3]")]
fn l1_rejects_different_shapes() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[2, 3]));
    let y = tape.var(Tensor::zeros(&[3]));
    let _ = loss::l1_loss(x, y, Reduction::Mean);
}

// ---------------------------------------------------------------- bce with logits

#[test]
fn bce_with_logits_grads_match_finite_differences() {
    for (k, dims) in SHAPES.into_iter().enumerate() {
        let x = randn(dims, 70 + k as u64).map(|v| 3.0 * v);
        let t = uniform(dims, 0.0, 1.0, 80 + k as u64);
        // One weight per class (last axis); a 0-d target takes a 0-d weight.
        let p_dims = &dims[dims.len().saturating_sub(1)..];
        let p = uniform(p_dims, 0.5, 3.0, 90 + k as u64);
        for reduction in REDUCTIONS {
            for pos_weight in [None, Some(p.clone())] {
                let opts = BceWithLogitsOptions {
                    reduction,
                    pos_weight,
                };
                gradcheck(
                    |v| loss::binary_cross_entropy_with_logits(v[0], v[1], &opts),
                    &[x.clone(), t.clone()],
                )
                .unwrap_or_else(|e| panic!("{dims:?} {opts:?}: {e}"));
            }
        }
    }
}

#[test]
fn bce_with_logits_pos_weight_scales_the_positive_term() {
    // x = 0: s = 1/2, so -ln s = -ln(1 - s) = ln 2. With p = 3:
    // target 1 loses 3 ln 2, target 0 loses ln 2. Logit gradients:
    // (1 - y) s - p y (1 - s) = -1.5 and 0.5.
    let l2 = 2f64.ln();
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![0.0, 0.0]);
    let t = tape.constant(tensor![1.0, 0.0]);
    let opts = BceWithLogitsOptions::default()
        .pos_weight(tensor![3.0])
        .reduction(Reduction::None);
    let l = loss::binary_cross_entropy_with_logits(x, t, &opts);
    assert_all_close(&l.value().to_vec(), &[3.0 * l2, l2]);
    assert_all_close(&l.sum().backward().wrt(x).to_vec(), &[-1.5, 0.5]);
}

#[test]
fn bce_with_logits_composite_agrees_with_the_fused_mean() {
    let x = randn(&[4, 3], 95).map(|v| 4.0 * v);
    let t = uniform(&[4, 3], 0.0, 1.0, 96);
    let tape = Tape::<f64>::new();
    let (xv, tv) = (tape.var(x), tape.constant(t));
    let opts = BceWithLogitsOptions::default();
    let fused = loss::binary_cross_entropy_with_logits(xv, tv, &opts).item();
    let none = loss::binary_cross_entropy_with_logits(xv, tv, &opts.reduction(Reduction::None));
    let ones = loss::binary_cross_entropy_with_logits(
        xv,
        tv,
        &BceWithLogitsOptions::default().pos_weight(Tensor::ones(&[3])),
    );
    assert!(close(none.mean().item(), fused));
    assert!(close(ones.item(), fused));
}

#[test]
#[should_panic(
    expected = "binary_cross_entropy_with_logits: pos_weight of shape [2, 3] does not broadcast to the target's shape [3]"
)]
fn bce_with_logits_rejects_a_pos_weight_that_grows_the_shape() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[3]));
    let opts = BceWithLogitsOptions::default().pos_weight(Tensor::ones(&[2, 3]));
    let _ = loss::binary_cross_entropy_with_logits(x, x, &opts);
}

// ---------------------------------------------------------------- hinge

#[test]
fn hinge_grads_match_finite_differences() {
    for (k, dims) in SHAPES.into_iter().enumerate() {
        let s = randn(dims, 110 + k as u64).map(|v| 2.0 * v);
        let y = randn(dims, 120 + k as u64).map(|v| if v >= 0.0 { 1.0 } else { -1.0 });
        for r in REDUCTIONS {
            let yc = y.clone();
            gradcheck(
                |v| loss::hinge_loss(v[0], v[0].tape().constant(yc.clone()), r),
                std::slice::from_ref(&s),
            )
            .unwrap();
        }
    }
}

#[test]
fn hinge_matches_micrograds_demo_loss() {
    // micrograd: mean(relu(1 - y * score)). Scores [2, 0.5, -0.25, -3] with
    // labels [1, 1, -1, 1]: margins 1 - 2, 1 - 0.5, 1 - 0.25, 1 + 3 ->
    // relu [0, 0.5, 0.75, 4], mean 5.25 / 4. Gradient -y / 4 where the
    // margin is violated: [0, -0.25, 0.25, -0.25].
    let tape = Tape::<f64>::new();
    let s = tape.var(tensor![2.0, 0.5, -0.25, -3.0]);
    let y = tape.constant(tensor![1.0, 1.0, -1.0, 1.0]);
    let l = loss::hinge_loss(s, y, Reduction::Mean);
    assert_eq!(l.item(), 5.25 / 4.0);
    assert_eq!(l.backward().wrt(s).to_vec(), vec![0.0, -0.25, 0.25, -0.25]);
}

#[test]
#[should_panic(
    expected = "hinge_loss: labels must be -1 or +1: found 0 at flat index 1 of shape [3]"
)]
fn hinge_rejects_labels_other_than_plus_minus_one() {
    let tape = Tape::<f64>::new();
    let s = tape.var(Tensor::zeros(&[3]));
    let _ = loss::hinge_loss(s, tape.constant(tensor![1.0, 0.0, -1.0]), Reduction::Mean);
}

// ---------------------------------------------------------------- kl

#[test]
fn kl_div_grads_match_finite_differences_on_both_sides() {
    let kl_reductions = [
        KlReduction::None,
        KlReduction::Mean,
        KlReduction::Sum,
        KlReduction::BatchMean,
    ];
    for (k, dims) in SHAPES.into_iter().enumerate() {
        let lq = randn(dims, 130 + k as u64);
        let p = uniform(dims, 0.05, 1.0, 140 + k as u64);
        for r in kl_reductions {
            gradcheck(|v| loss::kl_div(v[0], v[1], r), &[lq.clone(), p.clone()])
                .unwrap_or_else(|e| panic!("{dims:?} {r:?}: {e}"));
        }
    }
}

#[test]
fn kl_div_matches_hand_values_and_ignores_zero_targets() {
    // Two samples over three classes, q uniform (ln q = -ln 3):
    // p0 = [1/2, 1/2, 0]: 2 * 1/2 ln(3/2) = ln 1.5 (the zero term is 0, not NaN);
    // p1 = [1, 0, 0]: ln 3.
    // Sum ln 1.5 + ln 3; batchmean half of it; mean over 6 elements a sixth.
    let tape = Tape::<f64>::new();
    let lq = tape.var(Tensor::full(&[2, 3], -3f64.ln()));
    let p = tape.constant(tensor![[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]);
    let sum = 1.5f64.ln() + 3f64.ln();
    let kl = |r| loss::kl_div(lq, p, r).item();
    assert!(close(kl(KlReduction::Sum), sum));
    assert!(close(kl(KlReduction::BatchMean), sum / 2.0));
    assert!(close(kl(KlReduction::Mean), sum / 6.0));
    assert!(close(
        loss::kl_div(lq, p, Reduction::Sum.into()).item(),
        sum
    ));
    // d/d ln q = -p: finite everywhere, 0 where p = 0.
    let g = loss::kl_div(lq, p, KlReduction::Sum).backward();
    assert_eq!(g.wrt(lq).to_vec(), vec![-0.5, -0.5, 0.0, -1.0, 0.0, 0.0]);
    // KL(p || p) = 0 (for p > 0: ln 0 = -inf would meet 0 * inf, NaN in
    // PyTorch as well).
    let p = tape.constant(tensor![[0.25, 0.75], [0.5, 0.5]]);
    let same = loss::kl_div(p.ln(), p, KlReduction::Sum).item();
    assert_eq!(same, 0.0);
}

// ---------------------------------------------------------------- penalties

#[derive(Module)]
struct Lin<T: Float> {
    weight: Param<T>,
    bias: Param<T>,
}

#[derive(Module)]
struct Net<T: Float> {
    layers: Vec<Lin<T>>,
}

fn net() -> Net<f64> {
    let lin = |w: Tensor<f64>, b: Tensor<f64>| Lin {
        weight: Param::new("weight", w),
        bias: Param::new("bias", b),
    };
    Net {
        layers: vec![
            lin(tensor![[0.5, -2.0], [0.0, 3.0]], tensor![1.0, -1.0]),
            lin(tensor![[-0.25, 4.0]], tensor![0.75]),
        ],
    }
}

#[test]
fn l1_penalty_gradient_is_lambda_sign_w() {
    let m = net();
    let lambda = 0.3;
    let tape = Tape::<f64>::new();
    let p = loss::l1_penalty(&tape, &m);
    // |w| summed: 0.5 + 2 + 0 + 3 + 1 + 1 + 0.25 + 4 + 0.75 = 12.5
    assert_eq!(p.item(), 12.5);
    let g = (p * lambda).backward();
    for (name, param) in m.named_parameters() {
        let want: Vec<f64> = param
            .value()
            .as_slice()
            .iter()
            .map(|&w| {
                lambda
                    * if w > 0.0 {
                        1.0
                    } else if w < 0.0 {
                        -1.0
                    } else {
                        0.0
                    }
            })
            .collect();
        assert_eq!(g.of(param).to_vec(), want, "{name}");
    }
}

#[test]
fn l2_penalty_gradient_is_two_lambda_w() {
    let m = net();
    let lambda = 0.125;
    let tape = Tape::<f64>::new();
    let p = loss::l2_penalty(&tape, &m);
    // w^2 summed: 0.25 + 4 + 0 + 9 + 1 + 1 + 0.0625 + 16 + 0.5625 = 31.875
    assert_eq!(p.item(), 31.875);
    let g = (p * lambda).backward();
    for param in m.parameters() {
        let want: Vec<f64> = param
            .value()
            .as_slice()
            .iter()
            .map(|w| 2.0 * lambda * w)
            .collect();
        assert_eq!(g.of(param).to_vec(), want, "{}", param.name());
    }
}

#[test]
fn penalties_skip_frozen_and_filtered_parameters() {
    let mut m = net();
    m.layers[1].weight.set_trainable(false);
    let tape = Tape::<f64>::new();
    // Weights only, and layer 1's weight is frozen: |0.5| + |-2| + 0 + |3|.
    let p = loss::l1_penalty_where(&tape, &m, loss::not_bias);
    assert_eq!(p.item(), 5.5);
    let g = p.backward();
    assert_eq!(
        g.of(&m.layers[0].weight).to_vec(),
        vec![1.0, -1.0, 0.0, 1.0]
    );
    assert!(g.get_param(m.layers[0].bias.id()).is_none());
    assert!(g.get_param(m.layers[1].weight.id()).is_none());
    // Nothing selected: a constant 0.
    let none = loss::l2_penalty_where(&tape, &m, |_| false);
    assert_eq!(none.item(), 0.0);
    assert!(!none.requires_grad());
    assert!(loss::not_bias("layers.0.weight") && !loss::not_bias("layers.0.bias"));
    assert!(!loss::not_bias("bias") && loss::not_bias("unbias"));
}

#[test]
fn penalty_gradient_adds_to_the_forward_passs() {
    // loss = sum(w x) + lambda sum w^2 with w bound twice (forward and
    // penalty): d/dw = x + 2 lambda w.
    let w = Param::new("w", tensor![1.5, -2.0]);
    let tape = Tape::<f64>::new();
    let x = tape.constant(tensor![3.0, 5.0]);
    let fit = (tape.param(&w) * x).sum();
    let total = fit + loss::l2_penalty(&tape, &w) * 0.5;
    let g = total.backward();
    assert_eq!(g.of(&w).to_vec(), vec![3.0 + 1.5, 5.0 - 2.0]);
}
