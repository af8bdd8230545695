//! Optimisers on whole models: convergence, frozen parameters, parameter
//! groups, determinism across thread counts, gradient clipping, misuse.
//! (The update rules themselves are checked in `optim_rules.rs`, saving
//! and loading in `optim_state.rs`.)

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::optim::{
    Adadelta, Adagrad, Adam, AdamW, AdamWScheduleFree, DAdaptAdam, GroupOptions, Lion, Optimizer,
    Prodigy, RmsProp, Sgd, SgdScheduleFree, clip_grad_norm, clip_grad_value,
};
use tapegrad::{Float, Grads, Module, Param, Tape, Tensor, tensor};

#[derive(Module)]
struct Layer<T: Float> {
    weight: Param<T>,
    bias: Param<T>,
}

#[derive(Module)]
struct Net<T: Float> {
    layer: Layer<T>,
    norm: Param<T>,
}

fn net<T: Float>(weight: Tensor<T>, bias: Tensor<T>, norm: Tensor<T>) -> Net<T> {
    Net {
        layer: Layer {
            weight: Param::new("weight", weight),
            bias: Param::new("bias", bias),
        },
        norm: Param::new("norm", norm),
    }
}

fn bits(t: &Tensor<f64>) -> Vec<u64> {
    t.as_slice().iter().map(|x| x.to_bits()).collect()
}

/// Minimises `Σ_i c_i (w_i − 1)²` over a 2 × 3 parameter from w = 0, with
/// curvatures `c` spanning two decades, and returns the final loss.
fn quadratic(opt: &mut dyn Optimizer<f64>, steps: usize) -> f64 {
    let c = tensor![[10.0, 1.0, 0.1], [5.0, 0.5, 2.0]];
    let mut w = Param::new("w", Tensor::<f64>::zeros(&[2, 3]));
    let loss_and_grads = |w: &Param<f64>| {
        let tape = Tape::new();
        let e = tape.param(w) - 1.0;
        let loss = (tape.constant(c.clone()) * e * e).sum();
        (loss.item(), loss.backward())
    };
    for _ in 0..steps {
        let (_, grads) = loss_and_grads(&w);
        opt.step(&mut w, &grads);
    }
    loss_and_grads(&w).0
}

#[test]
fn every_optimizer_converges_on_an_ill_conditioned_quadratic() {
    // The loss starts at Σc = 18.6 and its minimum is 0.
    let cases: Vec<(&str, Box<dyn Optimizer<f64>>, f64)> = vec![
        ("sgd", Box::new(Sgd::new(0.09)), 1e-6),
        (
            "sgd nesterov",
            Box::new(Sgd::new(0.02).momentum(0.9).nesterov(true)),
            1e-6,
        ),
        ("adagrad", Box::new(Adagrad::new(0.5)), 1e-6),
        ("rmsprop", Box::new(RmsProp::new(0.01)), 1e-6),
        (
            "rmsprop centred momentum",
            Box::new(RmsProp::new(0.002).centered(true).momentum(0.9)),
            1e-6,
        ),
        ("adadelta", Box::new(Adadelta::new(1.0)), 1e-6),
        ("adam", Box::new(Adam::new(0.05)), 1e-6),
        ("amsgrad", Box::new(Adam::new(0.05).amsgrad(true)), 1e-6),
        ("adamw", Box::new(AdamW::new(0.05).weight_decay(0.0)), 1e-6),
        // Sign updates move every element by the full rate, so Lion ends
        // oscillating within a few multiples of lr around the minimum:
        // |w - 1| ≈ 0.01 gives a loss of about Σc · 1e-4 ≈ 2e-3.
        ("lion", Box::new(Lion::new(0.003)), 5e-3),
    ];
    for (name, mut opt, tol) in cases {
        let loss = quadratic(&mut *opt, 500);
        assert!(loss < tol, "{name}: loss {loss} after 500 steps");
    }
}

#[test]
fn adam_and_sgd_momentum_solve_rosenbrock() {
    // f(x, y) = (1 − x)² + 100 (y − x²)², minimum 0 at (1, 1), from (−1.5, 2).
    let rosenbrock = |opt: &mut dyn Optimizer<f64>, steps: usize| {
        let mut p = Param::<f64>::new("xy", tensor![-1.5, 2.0]);
        for _ in 0..steps {
            let grads = {
                let tape = Tape::new();
                let v = tape.param(&p);
                let x = v.narrow(0, 0, 1);
                let y = v.narrow(0, 1, 1);
                let a = 1.0 - x;
                let b = y - x * x;
                (a * a + 100.0 * b * b).sum().backward()
            };
            opt.step(&mut p, &grads);
        }
        p.value().to_vec()
    };
    for (name, mut opt) in [
        ("adam", Box::new(Adam::new(0.02)) as Box<dyn Optimizer<f64>>),
        ("sgd", Box::new(Sgd::new(1e-3).momentum(0.9))),
    ] {
        let xy = rosenbrock(&mut *opt, 3000);
        assert!(
            (xy[0] - 1.0).abs() < 1e-4 && (xy[1] - 1.0).abs() < 1e-4,
            "{name}: ended at {xy:?}"
        );
    }
}

#[test]
fn frozen_and_gradientless_params_are_untouched() {
    let mut m = net(tensor![1.0, 2.0], tensor![3.0], tensor![4.0, 5.0]);
    m.norm.set_trainable(false);
    let before = (bits(m.layer.bias.value()), bits(m.norm.value()));
    let mut opt = Adam::new(0.1);
    for _ in 0..3 {
        let grads = {
            let tape = Tape::new();
            // bias is never bound, so it has no gradient; norm is frozen,
            // so binding it records no gradient either
            let loss = (tape.param(&m.layer.weight) * 2.0).sum() + tape.param(&m.norm).sum();
            loss.backward()
        };
        opt.step(&mut m, &grads);
    }
    assert!(m.layer.weight.value().get(&[0]) < 1.0, "weight must move");
    assert_eq!((bits(m.layer.bias.value()), bits(m.norm.value())), before);
    // Only the updated parameter has state.
    let state = opt.state(&m);
    assert_eq!(state.params.keys().collect::<Vec<_>>(), ["layer.weight"]);

    // Frozen after backward: its gradient exists but the step skips it.
    let grads = {
        let tape = Tape::new();
        (tape.param(&m.layer.weight) * 2.0).sum().backward()
    };
    m.layer.weight.set_trainable(false);
    let w = bits(m.layer.weight.value());
    opt.step(&mut m, &grads);
    assert_eq!(bits(m.layer.weight.value()), w);
    assert_eq!(opt.state(&m).params["layer.weight"].step, 3);
}

/// Gradients of `Σ_params Σ_i s_i θ_i`: each gradient is the constant `s`
/// of its parameter (0 gives zero gradients, which still count as present).
fn constant_grads(m: &Net<f64>, s: f64) -> Grads<f64> {
    let tape = Tape::new();
    let loss = (tape.param(&m.layer.weight) * s).sum()
        + (tape.param(&m.layer.bias) * s).sum()
        + (tape.param(&m.norm) * s).sum();
    loss.backward()
}

#[test]
fn groups_apply_their_own_weight_decay() {
    // AdamW with zero gradients: m = v = 0, so the Adam part is 0 and only
    // the decoupled decay moves a parameter, by the factor (1 − γλ).
    let mut m = net(tensor![1.0, -2.0], tensor![3.0], tensor![0.5]);
    let no_decay = GroupOptions {
        weight_decay: Some(0.0),
        ..GroupOptions::default()
    };
    let mut opt = AdamW::new(0.1)
        .weight_decay(0.2)
        .group(|n| n.ends_with("bias") || n.contains("norm"), no_decay);
    for _ in 0..3 {
        let grads = constant_grads(&m, 0.0);
        opt.step(&mut m, &grads);
    }
    let keep: f64 = 1.0 - 0.1 * 0.2;
    let w = m.layer.weight.value().to_vec();
    assert!((w[0] - keep.powi(3)).abs() < 1e-15 && (w[1] + 2.0 * keep.powi(3)).abs() < 1e-15);
    assert_eq!(m.layer.bias.value().to_vec(), [3.0]);
    assert_eq!(m.norm.value().to_vec(), [0.5]);
}

#[test]
fn groups_scale_or_fix_the_rate_and_the_first_match_wins() {
    // SGD on gradients of 1: each step subtracts the parameter's rate.
    let mut m = net(tensor![0.0], tensor![0.0], tensor![0.0]);
    let mut opt = Sgd::new(0.1)
        .group(
            |n| n.ends_with("bias"),
            GroupOptions {
                lr_scale: 0.5,
                ..GroupOptions::default()
            },
        )
        .group(
            |n| n.starts_with("layer") || n == "norm",
            GroupOptions {
                lr: Some(0.01),
                ..GroupOptions::default()
            },
        );
    let values = |m: &Net<f64>| {
        [
            m.layer.weight.value().item(),
            m.layer.bias.value().item(),
            m.norm.value().item(),
        ]
    };
    let grads = constant_grads(&m, 1.0);
    opt.step(&mut m, &grads);
    // weight: second group (fixed 0.01); bias: first group (0.1 · 0.5),
    // though the second matches too; norm: second group.
    assert_eq!(values(&m), [-0.01, -0.05, -0.01]);
    opt.set_lr(1.0);
    let grads = constant_grads(&m, 1.0);
    opt.step(&mut m, &grads);
    // A scaled rate follows set_lr; a fixed one does not.
    assert_eq!(values(&m), [-0.02, -0.05 - 0.5, -0.02]);
}

/// Builders for every optimiser, with the options that add state.
fn every_optimizer<T: Float>() -> Vec<Box<dyn Optimizer<T>>> {
    vec![
        Box::new(Sgd::new(0.01).momentum(0.9).weight_decay(1e-3)),
        Box::new(Sgd::new(0.01).momentum(0.9).nesterov(true)),
        Box::new(Adagrad::new(0.01).lr_decay(0.1)),
        Box::new(
            RmsProp::new(0.01)
                .centered(true)
                .momentum(0.5)
                .weight_decay(0.1),
        ),
        Box::new(Adadelta::new(1.0)),
        Box::new(Adam::new(0.01).amsgrad(true).weight_decay(1e-2)),
        Box::new(Adam::new(0.01)),
        Box::new(AdamW::new(0.01)),
        Box::new(Lion::new(1e-3).weight_decay(0.1)),
        Box::new(Prodigy::default().weight_decay(0.01)),
        Box::new(
            Prodigy::default()
                .decouple(false)
                .weight_decay(0.01)
                .safeguard_warmup(true),
        ),
        Box::new(DAdaptAdam::default()),
        Box::new(DAdaptAdam::default().decouple(true).weight_decay(0.01)),
        Box::new(
            SgdScheduleFree::new(0.01)
                .weight_decay(1e-3)
                .warmup_steps(2),
        ),
        Box::new(AdamWScheduleFree::new(0.01).weight_decay(0.01)),
    ]
}

#[test]
fn one_and_two_threads_give_identical_bits() {
    // Sizes span several 32K chunks, a ragged last chunk and a tiny tensor.
    let sizes = [40_003usize, 33_000, 7];
    let mut rng = StdRng::seed_from_u64(7);
    let init: Vec<Tensor<f32>> = sizes
        .iter()
        .map(|&n| Tensor::randn(&[n], &mut rng))
        .collect();
    let scale: Vec<Tensor<f32>> = sizes
        .iter()
        .map(|&n| Tensor::randn(&[n], &mut rng))
        .collect();
    let run = |threads: usize, k: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut params: Vec<Param<f32>> =
                init.iter().map(|t| Param::new("p", t.clone())).collect();
            let mut opt = every_optimizer::<f32>().swap_remove(k);
            let mut norms = Vec::new();
            for _ in 0..3 {
                let mut grads = {
                    let tape = Tape::new();
                    let mut loss = tape.constant(Tensor::scalar(0.0));
                    for (p, s) in params.iter().zip(&scale) {
                        let x = tape.param(p);
                        loss = loss + (x * x * tape.constant(s.clone())).sum();
                    }
                    loss.backward()
                };
                norms.push(clip_grad_norm(&mut grads, 100.0).to_bits());
                opt.step(&mut params, &grads);
            }
            let values: Vec<Vec<u32>> = params
                .iter()
                .map(|p| p.value().as_slice().iter().map(|x| x.to_bits()).collect())
                .collect();
            (values, norms)
        })
    };
    for k in 0..every_optimizer::<f32>().len() {
        let (one, two) = (run(1, k), run(2, k));
        assert!(one == two, "optimizer #{k} differs between 1 and 2 threads");
    }
}

#[test]
fn clip_grad_norm_scales_all_parameter_gradients_together() {
    let a = Param::<f64>::new("a", tensor![0.0, 0.0]);
    let b = Param::<f64>::new("b", tensor![0.0]);
    let grads_of = || {
        let tape = Tape::new();
        let v = tape.var(tensor![0.0]);
        let loss = (tape.param(&a) * tape.constant(tensor![3.0, 4.0])).sum()
            + (tape.param(&b) * 12.0).sum()
            + (v * 100.0).sum();
        let grads = loss.backward();
        let var_grad = grads.wrt(v).clone();
        (grads, var_grad)
    };
    // Gradients (3, 4) and (12): ‖g‖ = √(9 + 16 + 144) = 13. The var's
    // gradient (100) is not a parameter's and takes no part.
    let (mut grads, var_grad) = grads_of();
    let norm = clip_grad_norm(&mut grads, 6.5);
    assert_eq!(norm, 13.0);
    let f = 6.5 / (13.0 + 1e-6);
    assert_eq!(grads.of(&a).to_vec(), [3.0 * f, 4.0 * f]);
    assert_eq!(grads.of(&b).to_vec(), [12.0 * f]);
    assert_eq!(grads.tensors().next().unwrap(), &var_grad);
    // Below the limit nothing changes.
    let (mut grads, _) = grads_of();
    assert_eq!(clip_grad_norm(&mut grads, 13.5), 13.0);
    assert_eq!(grads.of(&a).to_vec(), [3.0, 4.0]);
}

#[test]
fn clip_grad_norm_reports_a_non_finite_norm_and_scales_nothing() {
    let a = Param::<f64>::new("a", tensor![0.0, 0.0]);
    let tape = Tape::new();
    let mut grads = (tape.param(&a) * tape.constant(tensor![f64::INFINITY, 1.0]))
        .sum()
        .backward();
    assert_eq!(clip_grad_norm(&mut grads, 1.0), f64::INFINITY);
    assert_eq!(grads.of(&a).to_vec(), [f64::INFINITY, 1.0]);
}

#[test]
fn clip_grad_value_clamps_each_element() {
    let a = Param::<f32>::new("a", tensor![0.0, 0.0, 0.0, 0.0, 0.0]);
    let tape = Tape::new();
    let s = tape.constant(tensor![-3.0, -0.5, 0.25, 7.0, f32::NAN]);
    let mut grads = (tape.param(&a) * s).sum().backward();
    clip_grad_value(&mut grads, 0.5);
    let g = grads.of(&a).to_vec();
    assert_eq!(&g[..4], [-0.5, -0.5, 0.25, 0.5]);
    assert!(g[4].is_nan(), "NaN must pass through, got {}", g[4]);
}

#[test]
fn set_lr_changes_the_step_through_a_boxed_optimizer() {
    let mut w = Param::<f64>::new("w", tensor![1.0]);
    let mut opt: Box<dyn Optimizer<f64>> = Box::new(Sgd::new(0.1));
    let grad = |w: &Param<f64>| {
        let tape = Tape::new();
        (tape.param(w) * 2.0).sum().backward()
    };
    let g = grad(&w);
    opt.step(&mut w, &g);
    assert_eq!(w.value().item(), 1.0 - 0.1 * 2.0);
    opt.set_lr(0.0);
    assert_eq!(opt.lr(), 0.0);
    let g = grad(&w);
    opt.step(&mut w, &g);
    assert_eq!(w.value().item(), 1.0 - 0.1 * 2.0);
    assert_eq!(opt.steps(), 2);
}

#[test]
#[should_panic(
    expected = "Adam step: the gradient of 'w' has shape [2] but the parameter has shape [3]"
)]
fn a_gradient_of_the_wrong_shape_panics_with_the_name() {
    let mut w = Param::<f64>::new("w", tensor![1.0, 2.0]);
    let grads = {
        let tape = Tape::new();
        tape.param(&w).sum().backward()
    };
    *w.value_mut() = tensor![1.0, 2.0, 3.0];
    Adam::new(0.1).step(&mut w, &grads);
}

#[test]
#[should_panic(expected = "Adam: lr must be a finite number >= 0, got -0.1")]
fn a_negative_rate_panics() {
    let _ = Adam::<f32>::new(-0.1);
}

#[test]
#[should_panic(expected = "AdamW: beta2 must be in [0, 1), got 1")]
fn a_beta_of_one_panics() {
    let _ = AdamW::<f32>::new(0.1).betas(0.9, 1.0);
}

#[test]
#[should_panic(expected = "RmsProp: lr must be a finite number >= 0, got NaN")]
fn set_lr_rejects_nan() {
    RmsProp::<f32>::default().set_lr(f64::NAN);
}

#[test]
fn a_step_that_panics_changes_nothing() {
    // Two parameters; the second one's gradient no longer fits, so the step
    // panics, and it must do so before touching the first one or the state.
    let mut m = net(tensor![1.0, 2.0], tensor![3.0], tensor![4.0]);
    let mut opt = Adam::new(0.1);
    let grads = constant_grads(&m, 1.0);
    opt.step(&mut m, &grads);
    let (before, state) = (bits(m.layer.weight.value()), opt.state(&m));
    *m.norm.value_mut() = tensor![4.0, 5.0];
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        opt.step(&mut m, &grads);
    }));
    assert!(panicked.is_err());
    assert_eq!(bits(m.layer.weight.value()), before);
    *m.norm.value_mut() = tensor![4.0];
    assert_eq!(opt.state(&m), state);
    assert_eq!(opt.steps(), 1);
}
