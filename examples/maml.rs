//! MAML (Finn, Abbeel and Levine, 2017) on sine-wave regression: learn a
//! starting point from which one gradient step on ten points of a new sine
//! wave fits the whole wave, by differentiating through that step.
//!
//! Run: `cargo run --release --example maml` (flags: `--steps N` meta
//! steps, default 10000; `--tasks N` sine waves per meta step, default 10;
//! `--shots K` points seen per wave, default 10; `--inner-lr RATE` the
//! adaptation step, default 0.01; `--lr RATE` Adam's rate for the meta
//! step, default 0.001; `--seed N`, default 0; `-- --help` lists them).
//! Measured on the 2-core build machine: see the README's examples table.
//!
//! A task is a wave `y = A sin(x - φ)`, `A` in `[0.1, 5]`, `φ` in
//! `[0, π]`, `x` in `[-5, 5]`, as in the paper. The network (1-40-40-1,
//! ReLU) sees `K` points of it (the support set), takes one SGD step on
//! their mean squared error, `θ' = θ - α ∇L_support(θ)`, and is scored on
//! `K` other points (the query set), `L_query(θ')`. MAML trains `θ` on the
//! mean of that score over a batch of tasks. Its gradient runs through the
//! inner step, `∇θ L_query(θ - α ∇L_support(θ))`, which has the Hessian of
//! `L_support` in it: here the inner gradient is recorded on the tape with
//! [`Tape::grad`](tapegrad::Tape::grad), so the meta step's ordinary
//! backward pass differentiates through it.
//!
//! The baseline is the same network trained as long on the same waves
//! without the inner step (so it learns the average wave), then adapted
//! the same way. Both are scored on 100 new waves, on 100 evenly spaced
//! points of `[-5, 5]`, before adaptation, after the one step they were
//! trained for, and after ten.

use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use std::time::Instant;
use tapegrad::nn::Linear;
use tapegrad::optim::Adam;
use tapegrad::{Float, Module, Tape, Tensor, Var, train};

/// The network: layers applied with ReLU between them.
#[derive(Module, Clone)]
pub struct Net<T: Float = f32> {
    /// `[40, 1]`, `[40, 40]`, `[1, 40]` with their biases.
    pub layers: Vec<Linear<T>>,
}

/// The network with weights given as vars (so that they can be the
/// adapted weights `θ - α g`): `[weight, bias]` per layer, in order.
pub fn forward<'t>(weights: &[Var<'t, f32>], x: Var<'t, f32>) -> Var<'t, f32> {
    let mut h = x;
    let layers = weights.len() / 2;
    for (i, wb) in weights.chunks(2).enumerate() {
        h = h.linear(wb[0], Some(wb[1]));
        if i + 1 < layers {
            h = h.relu();
        }
    }
    h
}

/// One sine wave `y = amplitude · sin(x - phase)`.
#[derive(Clone, Copy, Debug)]
pub struct Wave {
    /// In `[0.1, 5]`.
    pub amplitude: f32,
    /// In `[0, π]`.
    pub phase: f32,
}

impl Wave {
    /// A random wave, as in the paper.
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        Wave {
            amplitude: rng.random_range(0.1..5.0),
            phase: rng.random_range(0.0..std::f32::consts::PI),
        }
    }

    /// The wave at the points of `x` (`[n, 1]`).
    pub fn at(&self, x: &Tensor<f32>) -> Tensor<f32> {
        x.map(|x| self.amplitude * (x - self.phase).sin())
    }
}

/// `k` points drawn uniformly from `[-5, 5]`, as `[k, 1]`.
fn points<R: Rng + ?Sized>(k: usize, rng: &mut R) -> Tensor<f32> {
    Tensor::rand_uniform(&[k, 1], -5.0, 5.0, rng)
}

/// One task of a meta step: support and query points with their values.
struct Task {
    support: (Tensor<f32>, Tensor<f32>),
    query: (Tensor<f32>, Tensor<f32>),
}

fn task<R: Rng + ?Sized>(k: usize, rng: &mut R) -> Task {
    let wave = Wave::sample(rng);
    let (xs, xq) = (points(k, rng), points(k, rng));
    Task {
        support: (wave.at(&xs), xs),
        query: (wave.at(&xq), xq),
    }
}

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Meta steps (Adam steps on the meta loss).
    pub steps: usize,
    /// Waves per meta step.
    pub tasks: usize,
    /// Points per support set and per query set (`K`).
    pub shots: usize,
    /// The adaptation step `α`.
    pub inner_lr: f64,
    /// Adam's rate for the meta step.
    pub lr: f64,
    /// Seeds the weights, the training waves and the test waves.
    pub seed: u64,
    /// Print progress and the result.
    pub verbose: bool,
}

/// Mean squared error on the test waves of one trained network.
#[derive(Clone, Copy, Debug)]
pub struct Scores {
    /// Before adapting.
    pub before: f64,
    /// After one adaptation step (what MAML trains for).
    pub one_step: f64,
    /// After ten.
    pub ten_steps: f64,
}

/// What one run reached.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// The MAML-trained network.
    pub maml: Scores,
    /// The network trained on the waves without the inner step.
    pub baseline: Scores,
    /// Wall time of MAML's training, in seconds.
    pub maml_seconds: f64,
    /// Wall time of the baseline's training, in seconds.
    pub baseline_seconds: f64,
}

/// A 1-40-40-1 network.
pub fn network(seed: u64) -> Net {
    let mut rng = StdRng::seed_from_u64(seed);
    Net {
        layers: vec![
            Linear::new(1, 40, &mut rng),
            Linear::new(40, 40, &mut rng),
            Linear::new(40, 1, &mut rng),
        ],
    }
}

/// The network's weights as vars of `tape`, `[weight, bias]` per layer.
fn weights<'t>(net: &Net, tape: &'t Tape<f32>) -> Vec<Var<'t, f32>> {
    net.layers
        .iter()
        .flat_map(|l| {
            let b = l.bias.as_ref().expect("every layer has a bias");
            [tape.param(&l.weight), tape.param(b)]
        })
        .collect()
}

/// One SGD step of size `alpha` on the support loss, recorded on the tape:
/// `θ - α ∇L(θ)` as vars, differentiable in `θ`.
pub fn adapt<'t>(
    theta: &[Var<'t, f32>],
    x: Var<'t, f32>,
    y: Var<'t, f32>,
    alpha: f32,
) -> Vec<Var<'t, f32>> {
    let loss = forward(theta, x).mse_loss(y);
    let grads = x.tape().grad(loss, theta);
    theta
        .iter()
        .zip(&grads)
        .map(|(&w, &g)| w - g * alpha)
        .collect()
}

/// Trains `net` for `config.steps` meta steps; with `meta` false, the
/// baseline (no inner step, the network fit to every point directly).
/// Returns the wall time.
fn train(net: &mut Net, config: &Config, meta: bool, rng: &mut StdRng) -> f64 {
    let mut opt = Adam::new(config.lr);
    let tape = Tape::<f32>::new();
    let alpha = config.inner_lr as f32;
    let start = Instant::now();
    for k in 0..config.steps {
        let tasks: Vec<Task> = (0..config.tasks).map(|_| task(config.shots, rng)).collect();
        let loss = train::step(net, &mut opt, |m| {
            let theta = weights(m, &tape);
            let mut total = tape.constant(Tensor::scalar(0.0));
            for t in &tasks {
                let c = |v: &Tensor<f32>| tape.constant(v.clone());
                let ((ys, xs), (yq, xq)) = (&t.support, &t.query);
                let score = if meta {
                    let fast = adapt(&theta, c(xs), c(ys), alpha);
                    forward(&fast, c(xq)).mse_loss(c(yq))
                } else {
                    // Both sets are training data for the baseline.
                    forward(&theta, c(xs)).mse_loss(c(ys)) + forward(&theta, c(xq)).mse_loss(c(yq))
                };
                total = total + score;
            }
            total / config.tasks as f32
        });
        if config.verbose && (k % 500 == 0 || k + 1 == config.steps) {
            let name = if meta { "maml" } else { "baseline" };
            println!("{name:>8} step {k:>5}  loss {loss:.4}");
        }
    }
    start.elapsed().as_secs_f64()
}

/// The mean squared error of `net` on `waves`, each adapted from its own
/// `shots` support points by 0, 1 and 10 SGD steps of size `alpha`.
fn score(net: &Net, waves: &[(Wave, Tensor<f32>)], alpha: f32) -> Scores {
    let grid = Tensor::from_vec(
        (0..100).map(|i| -5.0 + 10.0 * i as f32 / 99.0).collect(),
        &[100, 1],
    )
    .expect("100 points");
    let mut sums = [0.0; 3];
    for (wave, xs) in waves {
        let ys = wave.at(xs);
        let target = wave.at(&grid);
        // The adapted weights as tensors, one SGD step at a time.
        let mut theta: Vec<Tensor<f32>> = net
            .layers
            .iter()
            .flat_map(|l| {
                let b = l.bias.as_ref().expect("every layer has a bias");
                [l.weight.value().clone(), b.value().clone()]
            })
            .collect();
        for step in 0..=10 {
            let tape = Tape::<f32>::new();
            let vars: Vec<Var<'_, f32>> = theta.iter().map(|t| tape.var(t.clone())).collect();
            if let Some(slot) = [0, 1, 10].iter().position(|&s| s == step) {
                let err = forward(&vars, tape.constant(grid.clone()))
                    .mse_loss(tape.constant(target.clone()));
                sums[slot] += f64::from(err.item());
            }
            if step == 10 {
                break;
            }
            let loss =
                forward(&vars, tape.constant(xs.clone())).mse_loss(tape.constant(ys.clone()));
            let grads = loss.backward();
            for (t, v) in theta.iter_mut().zip(&vars) {
                let g = grads.wrt(*v);
                for (w, g) in t.as_mut_slice().iter_mut().zip(g.as_slice()) {
                    *w -= alpha * g;
                }
            }
        }
    }
    let n = waves.len() as f64;
    Scores {
        before: sums[0] / n,
        one_step: sums[1] / n,
        ten_steps: sums[2] / n,
    }
}

/// Trains both networks from the same weights and scores them on the same
/// 100 new waves.
pub fn run(config: &Config) -> Outcome {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut maml = network(config.seed);
    let mut baseline = maml.clone();
    let maml_seconds = train(&mut maml, config, true, &mut rng);
    let baseline_seconds = train(&mut baseline, config, false, &mut rng);
    let mut test_rng = StdRng::seed_from_u64(config.seed ^ 0x7e57);
    let waves: Vec<(Wave, Tensor<f32>)> = (0..100)
        .map(|_| {
            let w = Wave::sample(&mut test_rng);
            (w, points(config.shots, &mut test_rng))
        })
        .collect();
    let alpha = config.inner_lr as f32;
    let outcome = Outcome {
        maml: score(&maml, &waves, alpha),
        baseline: score(&baseline, &waves, alpha),
        maml_seconds,
        baseline_seconds,
    };
    if config.verbose {
        println!(
            "test MSE on 100 new waves ({} points seen each):",
            config.shots
        );
        println!("            before  1 step  10 steps");
        for (name, s) in [("maml", outcome.maml), ("baseline", outcome.baseline)] {
            println!(
                "{name:>8}  {:>7.3} {:>7.3} {:>9.3}",
                s.before, s.one_step, s.ten_steps
            );
        }
        println!(
            "training: maml {:.1} s, baseline {:.1} s",
            outcome.maml_seconds, outcome.baseline_seconds
        );
    }
    outcome
}

#[path = "common/args.rs"]
pub mod args;

/// The flags.
pub fn config(a: &mut args::Args) -> Config {
    Config {
        steps: a.value("--steps", "N", "10000", "meta steps"),
        tasks: a.value("--tasks", "N", "10", "sine waves per meta step"),
        shots: a.value("--shots", "K", "10", "points seen per wave"),
        inner_lr: a.value("--inner-lr", "RATE", "0.01", "the adaptation step"),
        lr: a.value("--lr", "RATE", "0.001", "Adam's rate for the meta step"),
        seed: a.value("--seed", "N", "0", "seeds everything"),
        verbose: true,
    }
}

#[allow(dead_code)]
fn main() {
    let config = args::parse(
        "maml",
        "MAML on sine waves: one gradient step from ten points, differentiated through.",
        config,
    );
    run(&config);
}
