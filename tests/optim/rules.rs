//! Each optimiser's first five steps against an independent f64 reference.
//!
//! The problem: one parameter `w` of shape [3], starting at (1, -2, 0.5),
//! with loss `Σ c_i w_i² + d_i w_i`, so `∂L/∂w_i = 2 c_i w_i + d_i`. The
//! library's gradients come from the tape at every step; the reference
//! computes them by that formula and applies the update rule written out by
//! hand from its documentation (PyTorch's `torch.optim` pages, the Lion
//! paper), one scalar at a time, without calling the library.

use tapegrad::optim::{Adadelta, Adagrad, Adam, AdamW, Lion, Optimizer, RmsProp, Sgd};
use tapegrad::{Param, Tape, Tensor};

const W0: [f64; 3] = [1.0, -2.0, 0.5];
const C: [f64; 3] = [0.5, 2.0, 1.0];
const D: [f64; 3] = [0.1, -0.3, 0.0];
const STEPS: usize = 5;

/// The parameter after each of the first five library steps.
fn library(mut opt: impl Optimizer<f64>) -> Vec<[f64; 3]> {
    let mut w = Param::new("w", Tensor::from_vec(W0.to_vec(), &[3]).unwrap());
    let mut out = Vec::new();
    for _ in 0..STEPS {
        let grads = {
            let tape = Tape::<f64>::new();
            let x = tape.param(&w);
            let c = tape.constant(Tensor::from_vec(C.to_vec(), &[3]).unwrap());
            let d = tape.constant(Tensor::from_vec(D.to_vec(), &[3]).unwrap());
            (c * x * x + d * x).sum().backward()
        };
        opt.step(&mut w, &grads);
        out.push(w.value().to_vec().try_into().unwrap());
    }
    out
}

/// The parameter after each of five reference steps; `update(t, w, g)`
/// applies step `t` (from 1) to all three elements.
fn reference(mut update: impl FnMut(i32, &mut [f64; 3], [f64; 3])) -> Vec<[f64; 3]> {
    let mut w = W0;
    let mut out = Vec::new();
    for t in 1..=STEPS as i32 {
        let g = std::array::from_fn(|i| 2.0 * C[i] * w[i] + D[i]);
        update(t, &mut w, g);
        out.push(w);
    }
    out
}

#[track_caller]
fn assert_close(got: &[[f64; 3]], want: &[[f64; 3]]) {
    for (t, (a, b)) in got.iter().zip(want).enumerate() {
        for i in 0..3 {
            let tol = 1e-12 * b[i].abs().max(1.0);
            assert!(
                (a[i] - b[i]).abs() <= tol,
                "step {}, element {i}: library {} vs reference {}\nlibrary:   {got:?}\nreference: {want:?}",
                t + 1,
                a[i],
                b[i]
            );
        }
    }
    // The steps must move the parameter, or the comparison proves little.
    assert!(got[STEPS - 1] != W0);
}

/// PyTorch SGD: g += λw; b = g on the first step, else μb + (1-τ)g;
/// nesterov: g + μb, else b; w -= γ · that.
fn sgd_reference(lr: f64, mu: f64, tau: f64, wd: f64, nesterov: bool) -> Vec<[f64; 3]> {
    let mut b = [0.0; 3];
    reference(|t, w, g| {
        for i in 0..3 {
            let g = g[i] + wd * w[i];
            let mut d = g;
            if mu != 0.0 {
                b[i] = if t == 1 {
                    g
                } else {
                    mu * b[i] + (1.0 - tau) * g
                };
                d = if nesterov { g + mu * b[i] } else { b[i] };
            }
            w[i] -= lr * d;
        }
    })
}

#[test]
fn sgd_plain_matches_reference() {
    assert_close(
        &library(Sgd::new(0.1)),
        &sgd_reference(0.1, 0.0, 0.0, 0.0, false),
    );
}

#[test]
fn sgd_momentum_and_dampening_match_reference() {
    assert_close(
        &library(Sgd::new(0.1).momentum(0.9)),
        &sgd_reference(0.1, 0.9, 0.0, 0.0, false),
    );
    assert_close(
        &library(
            Sgd::new(0.1)
                .momentum(0.8)
                .dampening(0.3)
                .weight_decay(0.05),
        ),
        &sgd_reference(0.1, 0.8, 0.3, 0.05, false),
    );
}

#[test]
fn sgd_nesterov_with_weight_decay_matches_reference() {
    assert_close(
        &library(
            Sgd::new(0.05)
                .nesterov(true)
                .momentum(0.9)
                .weight_decay(0.1),
        ),
        &sgd_reference(0.05, 0.9, 0.0, 0.1, true),
    );
}

#[test]
#[should_panic(expected = "Sgd: Nesterov momentum needs momentum > 0 and dampening 0")]
fn sgd_nesterov_without_momentum_panics_at_the_step() {
    library(Sgd::new(0.1).nesterov(true));
}

/// PyTorch Adam in its documented form: g += λw (L2) or w -= γλw (AdamW);
/// m = β₁m + (1-β₁)g; v = β₂v + (1-β₂)g²; m̂ = m/(1-β₁ᵗ);
/// w -= γ m̂ / (√(v̂) + ε) with v̂ = v/(1-β₂ᵗ). With AMSGrad PyTorch's code
/// keeps the maximum of the raw v and then divides by the current
/// (1-β₂ᵗ), so that is what the reference does.
fn adam_reference(
    lr: f64,
    (b1, b2): (f64, f64),
    eps: f64,
    wd: f64,
    decoupled: bool,
    amsgrad: bool,
) -> Vec<[f64; 3]> {
    let (mut m, mut v, mut v_max) = ([0.0; 3], [0.0; 3], [0.0f64; 3]);
    reference(|t, w, g| {
        for i in 0..3 {
            let mut g = g[i];
            if decoupled {
                w[i] -= lr * wd * w[i];
            } else {
                g += wd * w[i];
            }
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            v_max[i] = v_max[i].max(v[i]);
            let m_hat = m[i] / (1.0 - b1.powi(t));
            let second = if amsgrad { v_max[i] } else { v[i] };
            let v_hat = second / (1.0 - b2.powi(t));
            w[i] -= lr * m_hat / (v_hat.sqrt() + eps);
        }
    })
}

#[test]
fn adam_matches_reference() {
    let want = adam_reference(0.1, (0.9, 0.999), 1e-8, 0.0, false, false);
    assert_close(&library(Adam::new(0.1)), &want);
}

#[test]
fn adam_options_match_reference() {
    let opt = Adam::new(0.05).betas(0.8, 0.9).eps(1e-3).weight_decay(0.2);
    let want = adam_reference(0.05, (0.8, 0.9), 1e-3, 0.2, false, false);
    assert_close(&library(opt), &want);
}

#[test]
fn amsgrad_matches_reference_when_the_maximum_matters() {
    // With β₂ = 0.5 and a rate large enough for the gradients to shrink,
    // v falls below its running maximum within five steps.
    let want = adam_reference(0.3, (0.9, 0.5), 1e-8, 0.0, false, true);
    let plain = adam_reference(0.3, (0.9, 0.5), 1e-8, 0.0, false, false);
    assert!(want != plain, "the test problem must exercise AMSGrad");
    assert_close(
        &library(Adam::new(0.3).betas(0.9, 0.5).amsgrad(true)),
        &want,
    );
}

#[test]
fn adamw_matches_reference() {
    let want = adam_reference(0.1, (0.9, 0.999), 1e-8, 0.01, true, false);
    assert_close(&library(AdamW::new(0.1)), &want);
    let want = adam_reference(0.3, (0.9, 0.5), 1e-8, 0.5, true, true);
    let opt = AdamW::new(0.3)
        .betas(0.9, 0.5)
        .weight_decay(0.5)
        .amsgrad(true);
    assert_close(&library(opt), &want);
}

/// PyTorch RMSprop: g += λw; v = αv + (1-α)g²; centred: a = αa + (1-α)g,
/// d = √(v - a²) + ε, else d = √v + ε; momentum: b = μb + g/d, w -= γb;
/// else w -= γ g/d.
fn rmsprop_reference(lr: f64, alpha: f64, wd: f64, mu: f64, centered: bool) -> Vec<[f64; 3]> {
    let (mut v, mut a, mut b) = ([0.0; 3], [0.0; 3], [0.0; 3]);
    reference(|_, w, g| {
        for i in 0..3 {
            let g = g[i] + wd * w[i];
            v[i] = alpha * v[i] + (1.0 - alpha) * g * g;
            let mut second = v[i];
            if centered {
                a[i] = alpha * a[i] + (1.0 - alpha) * g;
                second -= a[i] * a[i];
            }
            let d = second.sqrt() + 1e-8;
            if mu > 0.0 {
                b[i] = mu * b[i] + g / d;
                w[i] -= lr * b[i];
            } else {
                w[i] -= lr * g / d;
            }
        }
    })
}

#[test]
fn rmsprop_matches_reference() {
    let want = rmsprop_reference(0.01, 0.99, 0.0, 0.0, false);
    assert_close(&library(RmsProp::new(0.01)), &want);
}

#[test]
fn rmsprop_centered_momentum_and_decay_match_reference() {
    let want = rmsprop_reference(0.01, 0.9, 0.0, 0.0, true);
    assert_close(
        &library(RmsProp::new(0.01).alpha(0.9).centered(true)),
        &want,
    );
    let want = rmsprop_reference(0.01, 0.9, 0.1, 0.7, false);
    let opt = RmsProp::new(0.01)
        .alpha(0.9)
        .momentum(0.7)
        .weight_decay(0.1);
    assert_close(&library(opt), &want);
    let want = rmsprop_reference(0.02, 0.95, 0.1, 0.5, true);
    let opt = RmsProp::new(0.02)
        .alpha(0.95)
        .centered(true)
        .momentum(0.5)
        .weight_decay(0.1);
    assert_close(&library(opt), &want);
}

/// PyTorch Adagrad: g += λw; γ_t = γ / (1 + (t-1)η); s += g²;
/// w -= γ_t g / (√s + ε).
fn adagrad_reference(lr: f64, lr_decay: f64, wd: f64, s0: f64, eps: f64) -> Vec<[f64; 3]> {
    let mut s = [s0; 3];
    reference(|t, w, g| {
        let lr_t = lr / (1.0 + f64::from(t - 1) * lr_decay);
        for i in 0..3 {
            let g = g[i] + wd * w[i];
            s[i] += g * g;
            w[i] -= lr_t * g / (s[i].sqrt() + eps);
        }
    })
}

#[test]
fn adagrad_matches_reference() {
    let want = adagrad_reference(0.1, 0.0, 0.0, 0.0, 1e-10);
    assert_close(&library(Adagrad::new(0.1)), &want);
    let want = adagrad_reference(0.1, 0.2, 0.05, 0.5, 1e-6);
    let opt = Adagrad::new(0.1)
        .lr_decay(0.2)
        .weight_decay(0.05)
        .initial_accumulator_value(0.5)
        .eps(1e-6);
    assert_close(&library(opt), &want);
}

/// PyTorch Adadelta: g += λw; v = ρv + (1-ρ)g²; Δ = √(u + ε)/√(v + ε) · g;
/// u = ρu + (1-ρ)Δ²; w -= γΔ.
fn adadelta_reference(lr: f64, rho: f64, eps: f64, wd: f64) -> Vec<[f64; 3]> {
    let (mut v, mut u) = ([0.0; 3], [0.0; 3]);
    reference(|_, w, g| {
        for i in 0..3 {
            let g = g[i] + wd * w[i];
            v[i] = rho * v[i] + (1.0 - rho) * g * g;
            let delta = ((u[i] + eps) / (v[i] + eps)).sqrt() * g;
            u[i] = rho * u[i] + (1.0 - rho) * delta * delta;
            w[i] -= lr * delta;
        }
    })
}

#[test]
fn adadelta_matches_reference() {
    let want = adadelta_reference(1.0, 0.9, 1e-6, 0.0);
    assert_close(&library(Adadelta::default()), &want);
    let want = adadelta_reference(0.5, 0.8, 1e-3, 0.1);
    let opt = Adadelta::new(0.5).rho(0.8).eps(1e-3).weight_decay(0.1);
    assert_close(&library(opt), &want);
}

/// Lion (Chen et al. 2023, Algorithm 2): c = β₁m + (1-β₁)g;
/// w -= γ(sign(c) + λw); m = β₂m + (1-β₂)g.
fn lion_reference(lr: f64, (b1, b2): (f64, f64), wd: f64) -> Vec<[f64; 3]> {
    let mut m = [0.0; 3];
    reference(|_, w, g| {
        for i in 0..3 {
            let c = b1 * m[i] + (1.0 - b1) * g[i];
            let sign = if c == 0.0 { 0.0 } else { c.signum() };
            w[i] -= lr * (sign + wd * w[i]);
            m[i] = b2 * m[i] + (1.0 - b2) * g[i];
        }
    })
}

#[test]
fn lion_matches_reference() {
    let want = lion_reference(1e-4, (0.9, 0.99), 0.0);
    assert_close(&library(Lion::default()), &want);
    // A rate large enough to flip signs within five steps, and decay.
    let want = lion_reference(0.4, (0.5, 0.9), 0.3);
    let opt = Lion::new(0.4).betas(0.5, 0.9).weight_decay(0.3);
    assert_close(&library(opt), &want);
}

#[test]
fn defaults_are_pytorchs() {
    // lr defaults of torch.optim (and the Lion paper); each optimiser's
    // other defaults are checked through the reference tests above and the
    // hyperparameters recorded in its state.
    let w = Param::<f64>::new("w", Tensor::zeros(&[1]));
    let lr = |o: &dyn Optimizer<f64>| o.lr();
    assert_eq!(lr(&Sgd::default()), 1e-3);
    assert_eq!(lr(&Adam::default()), 1e-3);
    assert_eq!(lr(&AdamW::default()), 1e-3);
    assert_eq!(lr(&RmsProp::default()), 1e-2);
    assert_eq!(lr(&Adagrad::default()), 1e-2);
    assert_eq!(lr(&Adadelta::default()), 1.0);
    assert_eq!(lr(&Lion::default()), 1e-4);
    let hyper = |o: &dyn Optimizer<f64>| o.state(&w).hyperparameters;
    let h = hyper(&AdamW::default());
    assert_eq!(
        (
            h["beta1"],
            h["beta2"],
            h["eps"],
            h["weight_decay"],
            h["amsgrad"]
        ),
        (0.9, 0.999, 1e-8, 0.01, 0.0)
    );
    assert_eq!(hyper(&Adam::default())["weight_decay"], 0.0);
    let h = hyper(&RmsProp::default());
    assert_eq!((h["alpha"], h["eps"], h["momentum"]), (0.99, 1e-8, 0.0));
    let h = hyper(&Adagrad::default());
    assert_eq!(
        (h["lr_decay"], h["initial_accumulator_value"], h["eps"]),
        (0.0, 0.0, 1e-10)
    );
    let h = hyper(&Adadelta::default());
    assert_eq!((h["rho"], h["eps"]), (0.9, 1e-6));
    let h = hyper(&Lion::default());
    assert_eq!((h["beta1"], h["beta2"]), (0.9, 0.99));
}
