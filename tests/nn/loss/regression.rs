//! Regression losses, BCE with logits, hinge and KL divergence: gradients on both sides, hand values, reductions.

use super::*;

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
