//! micrograd's demo, rebuilt: a small MLP separates two interleaving moons.
//!
//! Run: `cargo run --release --example moons` (add `--out PATH` to choose
//! where the picture goes; the default is `target/moons.svg`).
//!
//! 100 points on two noisy half circles, labelled -1 and +1; a 2-16-16-1
//! MLP with ReLU; the hinge (SVM) loss plus a small L2 penalty on every
//! parameter; plain SGD on the whole set each step, with a learning rate
//! falling linearly from 1.0 to 0.1. It reaches 100% training accuracy,
//! and the decision boundary is drawn as an SVG picture.

use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::StandardNormal;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tapegrad::nn::loss::{Reduction, hinge_loss, l2_penalty};
use tapegrad::nn::{Forward, Linear, Relu, Sequential};
use tapegrad::optim::{Optimizer, Sgd};
use tapegrad::schedule::{LambdaLr, LrSchedule};
use tapegrad::{Module, Tape, Tensor, train};

/// Weight of the L2 penalty (micrograd's `alpha`).
const ALPHA: f64 = 1e-4;

/// What one run reached.
pub struct Outcome {
    /// Total loss (hinge + penalty) at the first step.
    pub first_loss: f64,
    /// Total loss at the last step.
    pub last_loss: f64,
    /// Training accuracy of the final model.
    pub accuracy: f64,
}

/// `n` points (`[n, 2]`) on two interleaving half circles with Gaussian
/// noise of standard deviation `noise`, and their labels (`[n, 1]`): -1 for
/// the upper moon, +1 for the lower one.
fn make_moons<R: Rng + ?Sized>(n: usize, noise: f64, rng: &mut R) -> (Tensor<f64>, Tensor<f64>) {
    let (mut xy, mut labels) = (Vec::with_capacity(2 * n), Vec::with_capacity(n));
    let upper = n / 2;
    for i in 0..n {
        // Spread each moon's points evenly over the angles 0..pi.
        let (k, count, label) = if i < upper {
            (i, upper, -1.0)
        } else {
            (i - upper, n - upper, 1.0)
        };
        let t = std::f64::consts::PI * k as f64 / (count.max(2) - 1) as f64;
        // Upper moon: the arc of the unit circle; lower moon: the same arc
        // turned over and shifted right by 1, down by 0.5 into its mouth.
        let (x, y) = if label < 0.0 {
            (t.cos(), t.sin())
        } else {
            (1.0 - t.cos(), 0.5 - t.sin())
        };
        let nx: f64 = rng.sample(StandardNormal);
        let ny: f64 = rng.sample(StandardNormal);
        xy.extend([x + noise * nx, y + noise * ny]);
        labels.push(label);
    }
    (
        Tensor::from_vec(xy, &[n, 2]).expect("n x 2 values"),
        Tensor::from_vec(labels, &[n, 1]).expect("n values"),
    )
}

/// The model's scores for `points` (`[n, 2]`), recorded without gradients.
fn scores(model: &Sequential<f64>, points: &Tensor<f64>) -> Vec<f64> {
    let tape = Tape::eval();
    model
        .forward(tape.constant(points.clone()))
        .value()
        .to_vec()
}

/// Fraction of points whose score has the sign of their label.
fn accuracy(scores: &[f64], labels: &Tensor<f64>) -> f64 {
    let hits = scores
        .iter()
        .zip(labels.as_slice())
        .filter(|(s, y)| (**s > 0.0) == (**y > 0.0))
        .count();
    hits as f64 / scores.len() as f64
}

/// Draws the predicted class over a `cells x cells` grid covering the
/// points, with the points on top, as a hand-written SVG document.
fn decision_svg(model: &Sequential<f64>, points: &Tensor<f64>, labels: &Tensor<f64>) -> String {
    const CELLS: usize = 60;
    const SIZE: f64 = 480.0;
    let p = points.as_slice();
    let bound = |axis: usize, pick: fn(f64, f64) -> f64, start: f64| {
        p.iter().skip(axis).step_by(2).copied().fold(start, pick)
    };
    let (x0, x1) = (
        bound(0, f64::min, f64::INFINITY) - 0.5,
        bound(0, f64::max, f64::NEG_INFINITY) + 0.5,
    );
    let (y0, y1) = (
        bound(1, f64::min, f64::INFINITY) - 0.5,
        bound(1, f64::max, f64::NEG_INFINITY) + 0.5,
    );
    // Data to picture coordinates (the picture's y axis points down).
    let px = |x: f64| (x - x0) / (x1 - x0) * SIZE;
    let py = |y: f64| (y1 - y) / (y1 - y0) * SIZE;

    // Evaluate the model at the centre of every cell, in one batch.
    let (dx, dy) = ((x1 - x0) / CELLS as f64, (y1 - y0) / CELLS as f64);
    let mut grid = Vec::with_capacity(2 * CELLS * CELLS);
    for row in 0..CELLS {
        for col in 0..CELLS {
            grid.extend([x0 + (col as f64 + 0.5) * dx, y0 + (row as f64 + 0.5) * dy]);
        }
    }
    let grid = Tensor::from_vec(grid, &[CELLS * CELLS, 2]).expect("grid points");
    let grid_scores = scores(model, &grid);

    let cell = SIZE / CELLS as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" viewBox="0 0 {SIZE} {SIZE}">"#
    );
    for (i, s) in grid_scores.iter().enumerate() {
        let (row, col) = (i / CELLS, i % CELLS);
        let fill = if *s > 0.0 { "#f4c2c2" } else { "#c2d4f4" };
        // Cell (row, col) spans y0 + row*dy .. y0 + (row+1)*dy: its top edge
        // in the picture is the larger y. Overlap by a hair to hide seams.
        let _ = writeln!(
            svg,
            r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{fill}"/>"#,
            px(x0 + col as f64 * dx),
            py(y0 + (row + 1) as f64 * dy),
            cell + 0.5,
            cell + 0.5
        );
    }
    for (xy, y) in p.chunks(2).zip(labels.as_slice()) {
        let fill = if *y > 0.0 { "#c0392b" } else { "#2c5aa0" };
        let _ = writeln!(
            svg,
            r#"<circle cx="{:.2}" cy="{:.2}" r="4" fill="{fill}" stroke="black" stroke-width="0.8"/>"#,
            px(xy[0]),
            py(xy[1])
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Trains for `steps` full-batch SGD steps and reports; `verbose` prints
/// loss and accuracy every 10 steps; with `out` the decision boundary is
/// written there as SVG.
pub fn run(steps: usize, verbose: bool, out: Option<&Path>) -> Outcome {
    let mut rng = StdRng::seed_from_u64(1337);
    let (points, labels) = make_moons(100, 0.1, &mut rng);

    let mut model = Sequential::<f64>::new()
        .add(Linear::new(2, 16, &mut rng))
        .add(Relu)
        .add(Linear::new(16, 16, &mut rng))
        .add(Relu)
        .add(Linear::new(16, 1, &mut rng));
    if verbose {
        print!("{}", model.summary());
    }
    // micrograd's rate: 1.0 - 0.9 k / steps, a straight line from 1 to 0.1.
    let total = steps.max(1) as f64;
    let schedule =
        LambdaLr::new(1.0, move |k| 1.0 - 0.9 * k as f64 / total).expect("valid schedule");
    let mut opt = Sgd::new(schedule.lr_at(0));

    let (mut first_loss, mut last_loss) = (f64::NAN, f64::NAN);
    let tape = Tape::<f64>::new();
    for k in 0..steps {
        opt.set_lr(schedule.lr_at(k));
        let mut acc = 0.0;
        let loss = train::step(&mut model, &mut opt, |m| {
            let s = m.forward(tape.constant(points.clone()));
            acc = accuracy(s.value().as_slice(), &labels);
            let hinge = hinge_loss(s, tape.constant(labels.clone()), Reduction::Mean);
            hinge + l2_penalty(&tape, m) * ALPHA
        });
        if k == 0 {
            first_loss = loss;
        }
        last_loss = loss;
        if verbose && (k % 10 == 0 || k + 1 == steps) {
            println!(
                "step {k:>3}  lr {:.3}  loss {loss:.4}  accuracy {:.0}%",
                opt.lr(),
                100.0 * acc
            );
        }
    }
    let outcome = Outcome {
        first_loss,
        last_loss,
        accuracy: accuracy(&scores(&model, &points), &labels),
    };
    if verbose {
        println!("final training accuracy {:.0}%", 100.0 * outcome.accuracy);
    }
    if let Some(out) = out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).expect("create the output folder");
        }
        std::fs::write(out, decision_svg(&model, &points, &labels)).expect("write the SVG");
        if verbose {
            println!("decision boundary written to {}", out.display());
        }
    }
    outcome
}

#[path = "common/args.rs"]
pub mod args;

/// The one flag, `--out PATH`: the SVG file to write.
pub fn out_path(a: &mut args::Args) -> PathBuf {
    a.value(
        "--out",
        "PATH",
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/moons.svg"),
        "the SVG of the decision boundary",
    )
}

#[allow(dead_code)]
fn main() {
    let out = args::parse(
        "moons",
        "micrograd's two-moons demo: an MLP, hinge loss, SGD with a decaying rate.",
        out_path,
    );
    let start = std::time::Instant::now();
    run(100, true, Some(&out));
    println!("done in {:.2} s", start.elapsed().as_secs_f64());
}
