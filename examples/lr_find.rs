//! The learning-rate range test on the 8x8 digits, then the proof: short
//! training runs at the suggested rate, ten times below it and ten times
//! above it, side by side.
//!
//! Run: `cargo run --release --example lr_find` (a few seconds; charts in
//! `target/lr_find/`, or the folder given as the first argument).
//!
//! The range test trains for a few dozen steps while the rate grows
//! exponentially, watches the smoothed loss, and suggests the rate where
//! the loss falls fastest. It leaves the model and the optimiser exactly as
//! they were, so the same model then trains for real. The test is only a
//! guide: the table shows what the suggestion is worth.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::Path;
use tapegrad::Tape;
use tapegrad::data::{Batch, CsvOptions, DataLoader, TensorDataset, read_csv};
use tapegrad::nn::{Forward, Linear, Relu, Sequential};
use tapegrad::optim::Sgd;
use tapegrad::plot::LineChart;
use tapegrad::train::LrFinder;
use tapegrad::train::{Progress, StepOutput, Trainer};

/// One training run at a fixed rate.
pub struct Run {
    /// What the rate is: `"suggested / 10"`, `"suggested"`, `"suggested x 10"`.
    pub label: &'static str,
    /// The rate.
    pub lr: f64,
    /// Mean training loss of each epoch.
    pub losses: Vec<f64>,
    /// Accuracy on the held-out images after the last epoch.
    pub val_accuracy: f64,
}

/// What the example found.
pub struct Outcome {
    /// The range test's suggestion (steepest descent of the smoothed loss).
    pub suggested: f64,
    /// The three runs, lowest rate first.
    pub runs: Vec<Run>,
}

/// The digits (pixels scaled to 0..1), split 80/20.
fn digits() -> (TensorDataset, TensorDataset) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/digits.csv");
    let all: TensorDataset = read_csv(path, &CsvOptions::default()).expect("digits.csv");
    let all = TensorDataset::new(all.inputs().scale(1.0 / 16.0), all.targets().clone());
    all.split(0.2, &mut StdRng::seed_from_u64(0))
}

/// The same freshly initialised 64-32-10 MLP every time it is called.
fn model() -> Sequential {
    let mut rng = StdRng::seed_from_u64(1);
    Sequential::new()
        .add(Linear::new(64, 32, &mut rng))
        .add(Relu)
        .add(Linear::new(32, 10, &mut rng))
}

fn step<'t>(model: &Sequential, tape: &'t Tape, batch: &Batch) -> StepOutput<'t> {
    let logits = model.forward(tape.constant(batch.inputs.clone()));
    let labels = batch.labels();
    StepOutput::new(logits.cross_entropy(&labels)).accuracy(logits, &labels)
}

/// Runs the range test with plain SGD, plots it to `out`, then trains the
/// model for `epochs` at the suggestion and at ten times either side.
pub fn run(epochs: usize, out: &Path, verbose: bool) -> Outcome {
    std::fs::create_dir_all(out).expect("output folder");
    let (train, val) = digits();
    let mut loader = DataLoader::new(&train, 32).shuffle(0);

    let mut net = model();
    let mut opt = Sgd::new(0.0);
    let report = LrFinder::new(1e-4, 10.0, 100)
        .expect("a valid range")
        .run(&mut net, &mut opt, &mut loader, |m, tape, batch| {
            step(m, tape, batch).loss
        })
        .expect("the range test");
    report
        .chart()
        .save_both(out.join("range_test.svg"))
        .expect("range test chart");
    let suggested = report.suggestion().expect("the loss fell somewhere");
    if verbose {
        println!(
            "range test: {} steps from 1e-4 to 10{}; steepest descent at {:.2e}, \
             a tenth of the minimum at {:.2e}",
            report.lrs.len(),
            if report.stopped_early {
                " (stopped early: the loss blew up)"
            } else {
                ""
            },
            suggested,
            report.min_loss_lr.unwrap_or(f64::NAN)
        );
    }

    let mut runs = Vec::new();
    let mut chart = LineChart::new("digits: SGD at the suggested rate and 10x either side")
        .x_label("epoch")
        .y_label("training loss")
        .log_y();
    for (label, lr) in [
        ("suggested / 10", suggested / 10.0),
        ("suggested", suggested),
        ("suggested x 10", suggested * 10.0),
    ] {
        let mut net = model();
        let mut opt = Sgd::new(lr);
        let history = Trainer::new(epochs)
            .validation(&val, 512)
            .progress(Progress::Quiet)
            .seed(2)
            .fit(&mut net, &mut opt, &mut loader, step)
            .expect("training at a fixed rate");
        let losses: Vec<f64> = history
            .epoch_series("loss")
            .into_iter()
            .map(|p| p.1)
            .collect();
        chart = chart.series(
            format!("{label} ({lr:.1e})"),
            losses.iter().enumerate().map(|(i, &l)| ((i + 1) as f64, l)),
        );
        runs.push(Run {
            label,
            lr,
            losses,
            val_accuracy: history.last_epoch("val_accuracy").unwrap_or(0.0),
        });
    }
    chart.save_both(out.join("runs.svg")).expect("runs chart");

    if verbose {
        println!(
            "\n{:<16} {:>9} {:>11} {:>11} {:>9}",
            "run", "lr", "first loss", "last loss", "val acc"
        );
        for r in &runs {
            let last = r.losses.last().copied().unwrap_or(f64::NAN);
            println!(
                "{:<16} {:>9.2e} {:>11.4} {:>11.4} {:>8.1}%",
                r.label,
                r.lr,
                r.losses[0],
                last,
                100.0 * r.val_accuracy
            );
        }
        println!("\ncharts: {}", out.display());
    }
    Outcome { suggested, runs }
}

#[path = "common/args.rs"]
pub mod args;

/// The one argument, `[DIR]`: where the charts go.
pub fn out_dir(a: &mut args::Args) -> std::path::PathBuf {
    a.positional(
        "DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/lr_find"),
        "where range_test.svg and runs.svg go",
    )
}

#[allow(dead_code)]
fn main() {
    let out = args::parse(
        "lr_find",
        "the learning-rate range test on digits, then training at its suggestion and ten times either side.",
        out_dir,
    );
    let start = std::time::Instant::now();
    run(10, &out, true);
    println!("done in {:.1} s", start.elapsed().as_secs_f64());
}
