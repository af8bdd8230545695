//! The lasso: linear regression with an L1 penalty on the diabetes data,
//! swept from strong to none, showing which coefficients it sets to zero.
//!
//! Run: `cargo run --release --example lasso` (add `--out DIR` to choose
//! where the plot goes; the default is `target/`). Measured: 2.8 s of wall
//! time (1.4 s of CPU) on a 2-core machine shared with other builds; most
//! of it is the smallest strengths, where gradient descent needs thousands
//! of steps, and the subgradient comparison.
//!
//! 442 patients, 10 measurements (age, sex, bmi, blood pressure, six serum
//! values), target: disease progression after a year. Every column and the
//! target are standardised (mean 0, standard deviation 1), so coefficients
//! are comparable and no intercept is needed. For each strength `lambda`
//! we minimise
//!
//! ```text
//! 1/2 mean((x w - y)^2) + lambda * sum |w_j|
//! ```
//!
//! by proximal gradient descent (ISTA): a gradient step on the squared
//! error (tape + SGD), then the "soft threshold" `w <- sign(w) max(|w| -
//! lr lambda, 0)`, the exact minimiser of the L1 term near the new point.
//! It sets small weights to exactly zero. Putting `lambda * l1_penalty`
//! into the loss instead (a subgradient step) also shrinks them, but a
//! weight that should be zero then jumps across zero by `lr lambda` each
//! step and never lands on it: the example shows this at one strength.
//!
//! Strengths run from the largest (every weight zero) down to 0, each fit
//! starting from the last one ("warm start", as glmnet does). The last
//! fit, at strength 0, is ordinary least squares.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::{Path, PathBuf};
use tapegrad::data::{CsvOptions, read_csv};
use tapegrad::nn::loss::l1_penalty;
use tapegrad::nn::{Forward, Linear};
use tapegrad::optim::{Optimizer, Sgd};
use tapegrad::plot::LineChart;
use tapegrad::{Tape, Tensor};

/// The column names of `diabetes.csv`, in order.
pub const FEATURES: [&str; 10] = [
    "age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6",
];

/// What to run.
pub struct Config {
    /// Penalty strengths to fit, in the order given (warm-started).
    pub strengths: Vec<f64>,
    /// At most this many proximal steps per strength.
    pub max_steps: usize,
    /// Print the table and the subgradient comparison.
    pub verbose: bool,
    /// Where to write `lasso_paths.svg`, if anywhere.
    pub out: Option<PathBuf>,
}

/// One fitted strength.
pub struct Fit {
    /// The penalty strength `lambda`.
    pub strength: f64,
    /// The ten standardised coefficients.
    pub coefficients: Vec<f64>,
    /// Objective (half mean squared error + penalty) at the first step.
    pub first_loss: f64,
    /// Objective at the end.
    pub last_loss: f64,
    /// Proximal steps taken.
    pub steps: usize,
}

/// What one run reached.
pub struct Outcome {
    /// The smallest strength at which every coefficient is zero.
    pub lambda_max: f64,
    /// One fit per strength, in the order of `Config::strengths`.
    pub fits: Vec<Fit>,
}

/// The diabetes data, every column and the target standardised:
/// inputs `[442, 10]` and targets `[442, 1]`.
pub fn load() -> (Tensor<f64>, Tensor<f64>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/diabetes.csv");
    let data = read_csv::<f64>(path, &CsvOptions::default()).expect("examples/data/diabetes.csv");
    let (n, p) = (data.inputs().shape()[0], data.inputs().shape()[1]);
    let mut x = data.inputs().to_vec();
    for j in 0..p {
        let col: Vec<f64> = (0..n).map(|i| x[i * p + j]).collect();
        let (mean, sd) = mean_sd(&col);
        for i in 0..n {
            x[i * p + j] = (x[i * p + j] - mean) / sd;
        }
    }
    let (mean, sd) = mean_sd(data.targets().as_slice());
    let y = data.targets().as_slice().iter().map(|t| (t - mean) / sd);
    (
        Tensor::from_vec(x, &[n, p]).expect("n x p values"),
        Tensor::from_vec(y.collect(), &[n, 1]).expect("n values"),
    )
}

/// Mean and (population) standard deviation.
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// `max_j |x_j . y| / n`: at or above this strength the zero vector is the
/// lasso solution (the gradient of the fit at 0 is smaller than `lambda`
/// in every coordinate, so no weight can move).
pub fn lambda_max(x: &Tensor<f64>, y: &Tensor<f64>) -> f64 {
    let xy = x.matmul_t(y, true, false);
    let n = x.shape()[0] as f64;
    xy.as_slice().iter().fold(0.0, |m, v| m.max(v.abs() / n))
}

/// Largest eigenvalue of `x^T x / n` by power iteration: the gradient of
/// the fit changes at most this fast, so steps up to `1 / L` are safe.
fn lipschitz(x: &Tensor<f64>) -> f64 {
    let gram = x.matmul_t(x, true, false).scale(1.0 / x.shape()[0] as f64);
    let mut v = Tensor::ones(&[x.shape()[1], 1]);
    let mut norm = 1.0;
    for _ in 0..200 {
        let w = gram.matmul(&v);
        norm = w.as_slice().iter().map(|a| a * a).sum::<f64>().sqrt();
        v = w.scale(1.0 / norm);
    }
    norm
}

/// `w <- sign(w) max(|w| - t, 0)`, elementwise: the proximal step of
/// `t * sum |w|`.
fn soft_threshold(w: &mut Tensor<f64>, t: f64) {
    for v in w.as_mut_slice() {
        *v = if v.abs() <= t {
            0.0
        } else {
            *v - t * v.signum()
        };
    }
}

/// Half the mean squared error of `model` on `(x, y)`, plus `lambda`
/// times the L1 penalty of its weights, and the gradients of the first
/// term only (`smooth_only`) or of both.
fn objective(
    model: &Linear<f64>,
    x: &Tensor<f64>,
    y: &Tensor<f64>,
    lambda: f64,
    smooth_only: bool,
) -> (f64, tapegrad::Grads<f64>) {
    let tape = Tape::<f64>::new();
    let fit = model
        .forward(tape.constant(x.clone()))
        .mse_loss(tape.constant(y.clone()))
        * 0.5;
    let penalty = l1_penalty(&tape, model) * lambda;
    let total = (fit + penalty).item();
    let grads = if smooth_only {
        fit.backward()
    } else {
        (fit + penalty).backward()
    };
    (total, grads)
}

/// Fits one strength from the model's current weights; stops when no
/// weight moves by more than `1e-10` in a step.
fn fit_one(
    model: &mut Linear<f64>,
    x: &Tensor<f64>,
    y: &Tensor<f64>,
    lambda: f64,
    lr: f64,
    max_steps: usize,
) -> Fit {
    let mut opt = Sgd::new(lr);
    let (mut first_loss, mut steps) = (f64::NAN, 0);
    while steps < max_steps {
        let before = model.weight.value().to_vec();
        let (loss, grads) = objective(model, x, y, lambda, true);
        if steps == 0 {
            first_loss = loss;
        }
        opt.step(model, &grads);
        soft_threshold(model.weight.value_mut(), lr * lambda);
        steps += 1;
        let moved = before
            .iter()
            .zip(model.weight.value().as_slice())
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        if moved < 1e-10 {
            break;
        }
    }
    Fit {
        strength: lambda,
        coefficients: model.weight.value().to_vec(),
        first_loss,
        last_loss: objective(model, x, y, lambda, true).0,
        steps,
    }
}

/// Sweeps the strengths and reports; see the module docs.
pub fn run(config: &Config) -> Outcome {
    let (x, y) = load();
    let lambda_max = lambda_max(&x, &y);
    let lr = 1.0 / lipschitz(&x);
    let mut rng = StdRng::seed_from_u64(0);
    // Centred data needs no intercept.
    let mut model = Linear::<f64>::new(x.shape()[1], 1, &mut rng).without_bias();
    let fits: Vec<Fit> = config
        .strengths
        .iter()
        .map(|&lambda| fit_one(&mut model, &x, &y, lambda, lr, config.max_steps))
        .collect();

    if config.verbose {
        println!(
            "{} patients, {} standardised features; step 1/L = {lr:.3}; every \
             coefficient is zero from lambda_max = {lambda_max:.4}",
            x.shape()[0],
            x.shape()[1]
        );
        print!("{:>9} {:>6}", "lambda", "steps");
        for name in FEATURES {
            print!("{name:>7}");
        }
        println!("   zero");
        for f in &fits {
            print!("{:>9.5} {:>6}", f.strength, f.steps);
            for c in &f.coefficients {
                // Exact zeros print as "." so the pattern stands out.
                if *c == 0.0 {
                    print!("{:>7}", ".");
                } else {
                    print!("{c:>7.3}");
                }
            }
            let zero: Vec<&str> = FEATURES
                .iter()
                .zip(&f.coefficients)
                .filter(|(_, c)| **c == 0.0)
                .map(|(n, _)| *n)
                .collect();
            println!("   {}", zero.join(" "));
        }
        subgradient_comparison(&x, &y, lambda_max / 10.0, lr, config.max_steps);
    }
    if let Some(dir) = &config.out {
        plot_paths(&fits, dir, config.verbose);
    }
    Outcome { lambda_max, fits }
}

/// Fits one strength twice, by the proximal step and by plain subgradient
/// descent on `fit + lambda * l1_penalty`, and prints both side by side.
fn subgradient_comparison(x: &Tensor<f64>, y: &Tensor<f64>, lambda: f64, lr: f64, steps: usize) {
    let mut rng = StdRng::seed_from_u64(0);
    let start = Linear::<f64>::new(x.shape()[1], 1, &mut rng).without_bias();
    let mut prox = start.clone();
    fit_one(&mut prox, x, y, lambda, lr, steps);
    let mut sub = start;
    let mut opt = Sgd::new(lr);
    for _ in 0..steps {
        let (_, grads) = objective(&sub, x, y, lambda, false);
        opt.step(&mut sub, &grads);
    }
    println!("\nat lambda = {lambda:.4}, {steps} steps each:");
    println!("{:>12} {:>12} {:>12}", "feature", "proximal", "subgradient");
    let (p, s) = (
        prox.weight.value().as_slice(),
        sub.weight.value().as_slice(),
    );
    for (j, name) in FEATURES.iter().enumerate() {
        println!("{name:>12} {:>12.6} {:>12.6}", p[j], s[j]);
    }
    let left = p
        .iter()
        .zip(s)
        .filter(|(p, _)| **p == 0.0)
        .fold(0.0f64, |m, (_, s)| m.max(s.abs()));
    println!(
        "where the proximal fit is exactly 0, the subgradient one is left at up to {left:.4}: \
         each of its steps moves a weight by lr * lambda = {:.4} towards zero and jumps across it",
        lr * lambda
    );
}

/// Coefficient paths against the strength (log axis; strength 0 cannot
/// be drawn on it and is left out).
fn plot_paths(fits: &[Fit], dir: &Path, verbose: bool) {
    std::fs::create_dir_all(dir).expect("create the output folder");
    let path = dir.join("lasso_paths.svg");
    let mut chart = LineChart::new("Lasso coefficient paths, diabetes (standardised)")
        .x_label("penalty strength lambda (log scale)")
        .y_label("coefficient")
        .log_x();
    for (j, name) in FEATURES.iter().enumerate() {
        let points = fits.iter().map(|f| (f.strength, f.coefficients[j]));
        chart = chart.series(*name, points);
    }
    chart.save_both(&path).expect("write the SVG");
    if verbose {
        println!("coefficient paths written to {}", path.display());
    }
}

/// `count` strengths from `hi` down to `hi * ratio`, evenly spaced in log,
/// then 0.
pub fn log_strengths(hi: f64, ratio: f64, count: usize) -> Vec<f64> {
    let mut s: Vec<f64> = (0..count)
        .map(|k| hi * ratio.powf(k as f64 / (count - 1) as f64))
        .collect();
    s.push(0.0);
    s
}

#[path = "common/args.rs"]
pub mod args;

/// The one flag, `--out DIR`: where the plot goes.
pub fn out_dir(a: &mut args::Args) -> PathBuf {
    a.value(
        "--out",
        "DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/target"),
        "where lasso_paths.svg goes",
    )
}

#[allow(dead_code)]
fn main() {
    let out = args::parse(
        "lasso",
        "the lasso path on the diabetes data: which coefficients reach zero as the L1 penalty grows.",
        out_dir,
    );
    let start = std::time::Instant::now();
    let (x, y) = load();
    let config = Config {
        // From just above lambda_max (where rounding cannot leave a
        // coefficient a hair away from zero) down to a thousandth of it.
        strengths: log_strengths(lambda_max(&x, &y) * (1.0 + 1e-9), 1e-3, 25),
        max_steps: 50_000,
        verbose: true,
        out: Some(out),
    };
    run(&config);
    println!("done in {:.2} s", start.elapsed().as_secs_f64());
}
