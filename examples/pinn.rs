//! A physics-informed network: a small MLP `u(x)` learns to solve
//! `u'' = -u` on `[0, 2π]` with `u(0) = 0`, `u'(0) = 1` (solution `sin x`)
//! from the equation alone, with no sample of the solution.
//!
//! Run: `cargo run --release --example pinn` (flags: `--steps N` Adam
//! steps, default 5000; `--points N` collocation points, default 64;
//! `--width N` hidden units per layer, default 32; `--lr RATE` the starting
//! rate, default 0.01, cosine-annealed to a hundredth of it; `--length L`
//! the interval `[0, L]`, default 2π; `--seed N`, default 0; `-- --help`
//! lists them). Measured on the 2-core build machine: see the README's
//! examples table.
//!
//! The loss is the equation's residual at the collocation points plus the
//! two initial conditions:
//!
//! `mean((u''(xᵢ) + u(xᵢ))²) + u(0)² + (u'(0) - 1)²`.
//!
//! `u'` and `u''` come from the tape itself, with
//! [`Tape::grad`](tapegrad::Tape::grad) twice: each `u(xᵢ)` depends on
//! `xᵢ` alone, so the gradient of `Σᵢ u(xᵢ)` with respect to the batch of
//! points is `u'(xᵢ)` at every point at once, and the gradient of
//! `Σᵢ u'(xᵢ)` is `u''(xᵢ)`. Both are recorded on the tape, so the loss,
//! which uses them, is differentiated with respect to the weights by the
//! ordinary backward pass: third derivatives of the network, mixed in `x`
//! and the weights, without a line of calculus written by hand.
//!
//! After training, the network is compared with `sin x` on a fine grid
//! (the max and RMS error are printed), and so are its derivative and the
//! residual.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;
use tapegrad::nn::{Forward, Linear, Sequential, Tanh};
use tapegrad::optim::{Adam, Optimizer};
use tapegrad::schedule::{CosineAnnealingLr, LrSchedule};
use tapegrad::{Tape, Tensor, Var, train};

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Adam steps (each on the whole set of collocation points).
    pub steps: usize,
    /// Collocation points, evenly spaced over `[0, length]` (the first at 0).
    pub points: usize,
    /// Hidden units in each of the two hidden layers.
    pub width: usize,
    /// The starting learning rate (cosine-annealed to a hundredth of it).
    pub lr: f64,
    /// The interval is `[0, length]`.
    pub length: f64,
    /// Seeds the weights.
    pub seed: u64,
    /// Print progress and the result.
    pub verbose: bool,
}

/// What one run reached.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The loss at the first step.
    pub first_loss: f64,
    /// The loss at the last step.
    pub final_loss: f64,
    /// `max |u(x) - sin x|` over the evaluation grid.
    pub max_error: f64,
    /// The root mean square of `u(x) - sin x` over the grid.
    pub rms_error: f64,
    /// `max |u'(x) - cos x|` over the grid.
    pub max_derivative_error: f64,
    /// `max |u''(x) + u(x)|` over the grid: the equation's own residual.
    pub max_residual: f64,
    /// Wall time of the training loop, in seconds.
    pub seconds: f64,
}

/// Points on the evaluation grid (including both ends).
pub const GRID: usize = 1001;

/// `n` points evenly spaced over `[0, length]`, as an `[n, 1]` tensor.
pub fn linspace(n: usize, length: f64) -> Tensor<f64> {
    let step = length / (n.max(2) - 1) as f64;
    let xs: Vec<f64> = (0..n).map(|i| i as f64 * step).collect();
    Tensor::from_vec(xs, &[n, 1]).expect("n values")
}

/// The network `u`: 1 input, two tanh layers of `width`, 1 output. Tanh
/// (not ReLU): `u''` of a ReLU network is zero almost everywhere.
pub fn network(width: usize, seed: u64) -> Sequential<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(1, width, &mut rng))
        .add(Tanh)
        .add(Linear::new(width, width, &mut rng))
        .add(Tanh)
        .add(Linear::new(width, 1, &mut rng))
}

/// `u`, `u'` and `u''` at the points of `x` (an `[n, 1]` var), the last two
/// recorded on the tape so that they can be differentiated again.
pub fn derivatives<'t>(model: &Sequential<f64>, x: Var<'t, f64>) -> [Var<'t, f64>; 3] {
    let tape = x.tape();
    let u = model.forward(x);
    // u(x_i) depends on x_i alone: d/dx_i of sum_j u(x_j) is u'(x_i).
    let du = tape.grad(u.sum(), &[x])[0];
    let d2u = tape.grad(du.sum(), &[x])[0];
    [u, du, d2u]
}

/// The physics loss: the residual `u'' + u` at every point, and the
/// initial conditions `u(0) = 0`, `u'(0) = 1` at the first point (`x = 0`).
fn loss<'t>(model: &Sequential<f64>, x: Var<'t, f64>) -> Var<'t, f64> {
    let [u, du, d2u] = derivatives(model, x);
    let residual = (d2u + u).square().mean();
    let start = u.narrow(0, 0, 1).square().sum();
    let slope = (du.narrow(0, 0, 1) - 1.0).square().sum();
    residual + start + slope
}

/// Trains the network and measures it against `sin x`.
///
/// # Panics
/// If `points` is below 2 or `length` is not positive.
pub fn run(config: &Config) -> Outcome {
    assert!(config.points >= 2, "pinn: need at least 2 points");
    assert!(config.length > 0.0, "pinn: the interval must have a length");
    let mut model = network(config.width, config.seed);
    let schedule = CosineAnnealingLr::new(config.lr, config.steps.max(1), config.lr / 100.0)
        .expect("a valid schedule");
    let mut opt = Adam::new(config.lr);
    let points = linspace(config.points, config.length);
    let tape = Tape::<f64>::new();
    let start = Instant::now();
    let (mut first_loss, mut final_loss) = (f64::NAN, f64::NAN);
    for k in 0..config.steps {
        opt.set_lr(schedule.lr_at(k));
        // train::step: backward, reset the tape, then Adam's update.
        let value = train::step(&mut model, &mut opt, |m| loss(m, tape.var(points.clone())));
        if k == 0 {
            first_loss = value;
        }
        final_loss = value;
        if config.verbose && (k % 500 == 0 || k + 1 == config.steps) {
            println!("step {k:>5}  lr {:.5}  loss {value:.3e}", opt.lr());
        }
    }
    let seconds = start.elapsed().as_secs_f64();

    // Evaluation on a fine grid, on a fresh tape (u'' needs the tape).
    let grid = linspace(GRID, config.length);
    let eval = Tape::<f64>::new();
    let [u, du, d2u] = derivatives(&model, eval.var(grid.clone()));
    let (u, du, d2u) = (u.value(), du.value(), d2u.value());
    let (mut max_error, mut squares, mut max_derivative_error, mut max_residual) =
        (0.0f64, 0.0, 0.0f64, 0.0f64);
    for (i, &x) in grid.as_slice().iter().enumerate() {
        let e = u.as_slice()[i] - x.sin();
        max_error = max_error.max(e.abs());
        squares += e * e;
        max_derivative_error = max_derivative_error.max((du.as_slice()[i] - x.cos()).abs());
        max_residual = max_residual.max((d2u.as_slice()[i] + u.as_slice()[i]).abs());
    }
    let outcome = Outcome {
        first_loss,
        final_loss,
        max_error,
        rms_error: (squares / GRID as f64).sqrt(),
        max_derivative_error,
        max_residual,
        seconds,
    };
    if config.verbose {
        println!(
            "on {GRID} points of [0, {:.4}]: max |u - sin| = {:.2e}, RMS {:.2e}; \
             max |u' - cos| = {:.2e}; max |u'' + u| = {:.2e}",
            config.length,
            outcome.max_error,
            outcome.rms_error,
            outcome.max_derivative_error,
            outcome.max_residual
        );
        println!(
            "loss {:.3e} -> {:.3e} in {} steps, {:.2} s",
            outcome.first_loss, outcome.final_loss, config.steps, outcome.seconds
        );
    }
    outcome
}

#[path = "common/args.rs"]
pub mod args;

/// The flags.
pub fn config(a: &mut args::Args) -> Config {
    Config {
        steps: a.value("--steps", "N", "5000", "Adam steps"),
        points: a.value("--points", "N", "64", "collocation points"),
        width: a.value("--width", "N", "32", "hidden units per layer"),
        lr: a.value("--lr", "RATE", "0.01", "the starting learning rate"),
        length: a.value(
            "--length",
            "L",
            "6.283185307179586",
            "solve on [0, L] (default 2π)",
        ),
        seed: a.value("--seed", "N", "0", "seeds the weights"),
        verbose: true,
    }
}

#[allow(dead_code)]
fn main() {
    let config = args::parse(
        "pinn",
        "A physics-informed network solves u'' = -u, u(0) = 0, u'(0) = 1 (sin x).",
        config,
    );
    run(&config);
}
