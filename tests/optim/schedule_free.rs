//! Schedule-free SGD and AdamW: steps against the arithmetic written out,
//! the exact switch between the training point `y` and the evaluation
//! point `x`, the refusal to step at `x`, and training at the default
//! rate.

use tapegrad::optim::{AdamWScheduleFree, Optimizer, SgdScheduleFree};
use tapegrad::{Grads, Param, Tape, Tensor, tensor};

/// Gradient of `θ²`: `2θ`.
fn square_grads(w: &Param<f64>) -> Grads<f64> {
    let tape = Tape::new();
    let x = tape.param(w);
    (x * x).sum().backward()
}

/// One step on `θ²`.
fn step(opt: &mut dyn Optimizer<f64>, w: &mut Param<f64>) {
    let g = square_grads(w);
    opt.step(w, &g);
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-13 * b.abs().max(1e-300)
}

#[test]
fn sgd_schedule_free_three_steps_by_hand() {
    // lr 0.1, momentum 0.9, two warm-up steps, θ0 = 1, loss θ².
    let mut w = Param::new("w", tensor![1.0f64]);
    let mut opt = SgdScheduleFree::<f64>::new(0.1).warmup_steps(2);
    // Step 1 (k = 0): γ = 0.1 · 1/2 = 0.05, lr_max = 0.05, weight
    // 0.05² = 0.0025 = the whole sum, so c = 1. g = 2:
    // z = 1 − 0.05 · 2 = 0.9, x = 0 · 1 + 1 · 0.9 = 0.9, y = 0.9.
    step(&mut opt, &mut w);
    assert!(close(w.value().item(), 0.9));
    // Step 2 (k = 1): γ = 0.1, lr_max = 0.1, weight 0.01, sum 0.0125, c =
    // 0.8. g = 1.8: z = 0.9 − 0.18 = 0.72, x = 0.2 · 0.9 + 0.8 · 0.72 =
    // 0.756, y = 0.9 · 0.756 + 0.1 · 0.72 = 0.7524.
    step(&mut opt, &mut w);
    assert!(close(w.value().item(), 0.7524), "{}", w.value().item());
    // Step 3 (k = 2): weight 0.01, sum 0.0225, c = 4/9. g = 1.5048:
    // z = 0.72 − 0.15048 = 0.56952, x = 5/9 · 0.756 + 4/9 · 0.56952 =
    // 0.42 + 0.25312 = 0.67312, y = 0.9 · 0.67312 + 0.1 · 0.56952 = 0.66276.
    step(&mut opt, &mut w);
    assert!(close(w.value().item(), 0.66276), "{}", w.value().item());
    let s = opt.state(&w);
    assert!(close(s.params["w"].tensors["z"].item(), 0.56952));
    assert!(close(s.params["w"].tensors["x"].item(), 0.67312));
    assert!(close(s.scalars["weight_sum"], 0.0225));
    assert_eq!((s.scalars["lr_max"], s.scalars["train_mode"]), (0.1, 1.0));

    // The evaluation point is x; the training point comes back bit for bit.
    let y_bits = w.value().item().to_bits();
    opt.to_eval_point(&mut w);
    assert!(opt.at_eval_point());
    assert!(close(w.value().item(), 0.67312));
    opt.to_eval_point(&mut w); // twice is once
    assert!(close(w.value().item(), 0.67312));
    opt.to_train_point(&mut w);
    assert!(!opt.at_eval_point());
    assert_eq!(w.value().item().to_bits(), y_bits);
}

#[test]
fn adamw_schedule_free_two_steps_by_hand() {
    // lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.1, θ0 = 1.
    let (b1, b2, eps, wd, lr) = (0.9f64, 0.999f64, 1e-8, 0.1, 0.1);
    let mut w = Param::new("w", tensor![1.0f64]);
    let mut opt = AdamWScheduleFree::<f64>::new(lr).weight_decay(wd);
    // Step 1: c = 1, bias correction 1 − β₂. g = 2, v = 0.004,
    // √(v / 0.001) = 2, u = 2/(2 + ε) + 0.1 · 1 ≈ 1.1, z = x = y = 1 − 0.1 u.
    step(&mut opt, &mut w);
    let v1 = (1.0 - b2) * 4.0;
    let u1 = 2.0 / ((v1 / (1.0 - b2)).sqrt() + eps) + wd * 1.0;
    let z1 = 1.0 - lr * u1;
    assert!(close(w.value().item(), z1));
    assert!((z1 - 0.89).abs() < 1e-8);
    // Step 2: weights 0.01 and 0.01, so c = 1/2; g = 2 z1.
    step(&mut opt, &mut w);
    let g2 = 2.0 * z1;
    let v2 = b2 * v1 + (1.0 - b2) * g2 * g2;
    let u2 = g2 / ((v2 / (1.0 - b2 * b2)).sqrt() + eps) + wd * z1;
    let z2 = z1 - lr * u2;
    let x2 = 0.5 * z1 + 0.5 * z2;
    let y2 = b1 * x2 + (1.0 - b1) * z2;
    assert!(close(w.value().item(), y2), "{} vs {y2}", w.value().item());
    opt.to_eval_point(&mut w);
    assert!(close(w.value().item(), x2));
}

#[test]
fn a_step_at_the_evaluation_point_panics_and_changes_nothing() {
    let mut w = Param::new("w", tensor![1.0f64, -1.0]);
    let mut opt = AdamWScheduleFree::<f64>::default();
    step(&mut opt, &mut w);
    opt.to_eval_point(&mut w);
    let (at_x, state) = (w.value().to_vec(), opt.state(&w));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        step(&mut opt, &mut w);
    }));
    let e = r.unwrap_err();
    let m = e.downcast_ref::<String>().unwrap();
    assert!(m.contains("to_train_point"), "{m}");
    assert_eq!(w.value().to_vec(), at_x);
    assert_eq!(opt.state(&w), state);
}

#[test]
fn a_state_saved_at_the_evaluation_point_resumes_bit_for_bit() {
    // 6 steps straight, against 3 steps, a switch to x, the state and the
    // model (at x) carried to a fresh optimiser and model, the switch back
    // and 3 more steps.
    for make in [
        || Box::new(SgdScheduleFree::<f64>::new(0.2).weight_decay(0.01)) as Box<dyn Optimizer<f64>>,
        || Box::new(AdamWScheduleFree::<f64>::new(0.05).warmup_steps(2)) as Box<dyn Optimizer<f64>>,
    ] {
        let mut w = Param::new("w", tensor![1.0f64, -0.5, 2.0]);
        let mut opt = make();
        for _ in 0..6 {
            step(&mut opt, &mut w);
        }
        let mut w2 = Param::new("w", tensor![1.0f64, -0.5, 2.0]);
        let mut opt2 = make();
        for _ in 0..3 {
            step(&mut opt2, &mut w2);
        }
        opt2.to_eval_point(&mut w2);
        let (saved, at_x) = (opt2.state(&w2), w2.value().clone());
        assert_eq!(saved.scalars["train_mode"], 0.0);
        let mut w3 = Param::new("w", at_x);
        let mut opt3 = make();
        opt3.load_state(&w3, &saved).unwrap();
        assert!(opt3.at_eval_point());
        opt3.to_train_point(&mut w3);
        for _ in 0..3 {
            step(&mut opt3, &mut w3);
        }
        let bits = |t: &Tensor<f64>| t.as_slice().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(w3.value()), bits(w.value()), "{}", saved.optimizer);
        assert_eq!(opt3.state(&w3), opt.state(&w));
    }
}

/// `Σ_i c_i (w_i − t_i)²` from w = 0, curvatures a decade apart: the loss at
/// the evaluation point after `steps` steps.
fn quadratic(opt: &mut dyn Optimizer<f64>, steps: usize) -> f64 {
    let c = Tensor::from_vec(vec![1.0, 0.1, 0.5], &[3]).unwrap();
    let t = Tensor::from_vec(vec![1.0, -2.0, 0.5], &[3]).unwrap();
    let mut w = Param::new("w", Tensor::<f64>::zeros(&[3]));
    let loss = |w: &Param<f64>| {
        let tape = Tape::new();
        let e = tape.param(w) - tape.constant(t.clone());
        let l = (tape.constant(c.clone()) * e * e).sum();
        (l.item(), l.backward())
    };
    for _ in 0..steps {
        let (_, g) = loss(&w);
        opt.step(&mut w, &g);
    }
    opt.to_eval_point(&mut w);
    loss(&w).0
}

#[test]
fn both_train_at_their_default_rates_without_a_schedule() {
    // The loss starts at 1 + 0.4 + 0.125 = 1.525.
    let mut sgd = SgdScheduleFree::<f64>::default();
    let end = quadratic(&mut sgd, 300);
    assert!(end < 1e-6, "SgdScheduleFree: {end}");
    // AdamW moves each element by about lr per step: 2 / 0.0025 = 800
    // steps to cover the distance at the default rate, after which the
    // average x (of all steps, equally weighted) forgets the early ones at
    // a rate of 1/k. The same holds at ten and a hundred times the rate,
    // sooner.
    for (lr, steps) in [(0.0025, 6000), (0.025, 1000), (0.25, 1000)] {
        let end = quadratic(&mut AdamWScheduleFree::<f64>::new(lr), steps);
        assert!(
            end < 1e-4,
            "AdamWScheduleFree at {lr}: {end} after {steps} steps"
        );
    }
}

/// A builder call that must panic, and a word its message must hold.
type Case = (&'static str, Box<dyn Fn()>);

#[test]
fn builders_panic_on_nonsense() {
    let cases: Vec<Case> = vec![
        (
            "momentum",
            Box::new(|| drop(SgdScheduleFree::<f32>::default().momentum(1.0))),
        ),
        (
            "r",
            Box::new(|| drop(SgdScheduleFree::<f32>::default().r(-1.0))),
        ),
        (
            "weight_lr_power",
            Box::new(|| drop(AdamWScheduleFree::<f32>::default().weight_lr_power(f64::NAN))),
        ),
        (
            "beta1",
            Box::new(|| drop(AdamWScheduleFree::<f32>::default().betas(1.5, 0.9))),
        ),
        (
            "eps",
            Box::new(|| drop(AdamWScheduleFree::<f32>::default().eps(-1.0))),
        ),
    ];
    for (name, f) in cases {
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err(name);
        let m = e.downcast_ref::<String>().unwrap();
        assert!(m.contains(name), "{m}");
    }
}
