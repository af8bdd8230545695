//! The learning-rate lesson: one small MLP on the 8x8 digits, trained with
//! SGD and with Adam at rates from far too low to far too high.
//!
//! Run: `cargo run --release --example lr_sweep` (add `--out DIR` to choose
//! where the two plots go; the default is `target/`). Measured: 2.7 s of
//! wall time (1 s of CPU) for all 22 runs, on a 2-core machine shared with
//! other builds.
//!
//! Every run starts from the same initial weights and sees the same batches
//! in the same order; only the optimiser and its rate differ. The rates go
//! from 1e-4 to 10 in half-decades (x3.16). Each run is labelled by the
//! rule in [`label`], and the table shows where each optimiser's good range
//! lies. Measured: SGD converges from 0.03 to 0.3 (and at 1 it is fastest
//! but bumpy), Adam from 3e-4 to 1e-2, ten to a hundred times lower. Adam
//! divides each step by the gradient's running size, so its rate is about
//! the distance each weight moves per step; SGD's step is the rate times
//! the gradient, and these gradients are small. Both break down the same
//! way when the rate is far too high: the loss jumps about near where it
//! started and the accuracy falls to chance.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::PathBuf;
use tapegrad::data::{CsvOptions, DataLoader, TensorDataset, read_csv};
use tapegrad::nn::{Forward, Linear, Relu, Sequential};
use tapegrad::optim::{Adam, Optimizer, Sgd};
use tapegrad::plot::LineChart;
use tapegrad::{Tape, Tensor, train};

/// The optimisers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    /// Plain SGD, no momentum.
    Sgd,
    /// Adam with the usual betas (0.9, 0.999).
    Adam,
}

/// How a run went; see [`label`] for the rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// Learning, but too slowly to get far.
    Crawling,
    /// Falling steadily to a low loss.
    Converging,
    /// Got low, but jumped back up on the way.
    Oscillating,
    /// Blew up, or jumped about without getting anywhere.
    Diverging,
}

/// What to run.
pub struct Config {
    /// Passes over the training set per run.
    pub epochs: usize,
    /// The rates to try, for both optimisers.
    pub rates: Vec<f64>,
    /// Print the table.
    pub verbose: bool,
    /// Where to write `lr_sweep_sgd.svg` and `lr_sweep_adam.svg`, if anywhere.
    pub out: Option<PathBuf>,
}

/// One training run.
pub struct Run {
    /// The optimiser.
    pub opt: Opt,
    /// Its learning rate.
    pub lr: f64,
    /// Full training-set loss after `k` steps, every third of an epoch,
    /// starting with the untrained model at `k = 0`.
    pub curve: Vec<(f64, f64)>,
    /// Test accuracy at the end.
    pub test_accuracy: f64,
    /// How it went.
    pub label: Label,
}

/// Every run, SGD's first, each in the order of `Config::rates`.
pub struct Outcome {
    /// The runs.
    pub runs: Vec<Run>,
}

impl Outcome {
    /// The rate whose run of `opt` ended at the lowest training loss.
    pub fn best_rate(&self, opt: Opt) -> f64 {
        self.runs
            .iter()
            .filter(|r| r.opt == opt && r.curve.last().is_some_and(|p| p.1.is_finite()))
            .min_by(|a, b| final_loss(a).total_cmp(&final_loss(b)))
            .map_or(f64::NAN, |r| r.lr)
    }
}

fn final_loss(run: &Run) -> f64 {
    run.curve.last().map_or(f64::NAN, |p| p.1)
}

/// Labels a loss curve (full training-set loss at evenly spaced steps,
/// the first point before any step). With `start` the first loss and `end`
/// the last, the first rule that holds wins:
///
/// 1. **diverging**: some loss is not finite; or `end >= start`; or
///    `end > start / 2` and at least a quarter of the moves from one point
///    to the next went up. Too large a rate does not always blow the loss
///    up: the steps can also knock the network into a state it cannot
///    leave (dead ReLUs, saturated softmax), where the loss hovers near
///    its start and jitters.
/// 2. **crawling**: `end > start / 2`: it fell almost every time, but has
///    not even halved the loss.
/// 3. **oscillating**: somewhere the loss rose from one point to the next
///    by more than 25% and by more than 1% of `start`. A good rate wobbles
///    by a few percent from batch to batch; a jump of a quarter on the
///    whole training set means a step overshot. (The second condition
///    keeps wobbles near zero loss, 0.01 -> 0.013, from counting.)
/// 4. **converging**: otherwise.
pub fn label(curve: &[f64]) -> Label {
    let (start, end) = (curve[0], curve[curve.len() - 1]);
    let moves = curve.len().saturating_sub(1).max(1);
    let ups = curve.windows(2).filter(|w| w[1] > w[0]).count();
    if curve.iter().any(|l| !l.is_finite())
        || end >= start
        || (end > start / 2.0 && 4 * ups >= moves)
    {
        Label::Diverging
    } else if end > start / 2.0 {
        Label::Crawling
    } else if curve
        .windows(2)
        .any(|w| w[1] > 1.25 * w[0] && w[1] - w[0] > 0.01 * start)
    {
        Label::Oscillating
    } else {
        Label::Converging
    }
}

/// The digits, scaled to 0..1, split 80/20 as in the digits example.
fn load() -> (TensorDataset, TensorDataset) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/digits.csv");
    let all: TensorDataset =
        read_csv(path, &CsvOptions::default()).expect("examples/data/digits.csv");
    let all = TensorDataset::new(all.inputs().scale(1.0 / 16.0), all.targets().clone());
    all.split(0.2, &mut StdRng::seed_from_u64(0))
}

/// Mean cross-entropy and accuracy of the model on a whole dataset.
fn evaluate(model: &Sequential, data: &TensorDataset) -> (f64, f64) {
    let tape = Tape::eval();
    let labels: Vec<usize> = data
        .targets()
        .as_slice()
        .iter()
        .map(|&y| y as usize)
        .collect();
    let logits = model.forward(tape.constant(data.inputs().clone()));
    let predicted: Tensor = logits.value().argmax_axis(-1, false);
    let hits = predicted
        .as_slice()
        .iter()
        .zip(&labels)
        .filter(|(p, y)| **p as usize == **y)
        .count();
    let loss = logits.cross_entropy(&labels).item() as f64;
    (loss, hits as f64 / labels.len() as f64)
}

/// The 64-64-10 MLP, with the same initial weights every time.
fn initial_model() -> Sequential {
    let mut rng = StdRng::seed_from_u64(0);
    Sequential::new()
        .add(Linear::new(64, 64, &mut rng))
        .add(Relu)
        .add(Linear::new(64, 10, &mut rng))
}

/// One run from the shared initial model.
fn train(opt: Opt, lr: f64, epochs: usize, data: &(TensorDataset, TensorDataset)) -> Run {
    let (train, test) = data;
    let mut model = initial_model();
    let mut optimiser: Box<dyn Optimizer> = match opt {
        Opt::Sgd => Box::new(Sgd::new(lr)),
        Opt::Adam => Box::new(Adam::new(lr)),
    };
    // The same seed every run: the same batches in the same order.
    let mut loader = DataLoader::new(train, 32).shuffle(1);
    let every = loader.num_batches().div_ceil(3);
    let mut curve = vec![(0.0, evaluate(&model, train).0)];
    let mut step = 0;
    let tape = Tape::new();
    'epochs: for _ in 0..epochs {
        for batch in loader.epoch() {
            train::step(&mut model, &mut *optimiser, |m| {
                let logits = m.forward(tape.constant(batch.inputs.clone()));
                logits.cross_entropy(&batch.labels())
            });
            step += 1;
            if step % every == 0 {
                let loss = evaluate(&model, train).0;
                curve.push((step as f64, loss));
                // Once the loss is not a number, nothing more can happen.
                if !loss.is_finite() {
                    break 'epochs;
                }
            }
        }
    }
    let losses: Vec<f64> = curve.iter().map(|p| p.1).collect();
    Run {
        opt,
        lr,
        label: label(&losses),
        test_accuracy: evaluate(&model, test).1,
        curve,
    }
}

/// Rates from `lo` to `hi`, both powers of ten, in half-decades.
pub fn half_decades(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().round() as i32 * 2, hi.log10().round() as i32 * 2);
    (a..=b).map(|k| 10f64.powf(k as f64 / 2.0)).collect()
}

/// Runs the sweep and reports; see the module docs.
pub fn run(config: &Config) -> Outcome {
    let data = load();
    let mut runs = Vec::new();
    for opt in [Opt::Sgd, Opt::Adam] {
        for &lr in &config.rates {
            runs.push(train(opt, lr, config.epochs, &data));
        }
    }
    let outcome = Outcome { runs };
    if config.verbose {
        print_table(&outcome, config.epochs);
    }
    if let Some(dir) = &config.out {
        std::fs::create_dir_all(dir).expect("create the output folder");
        for opt in [Opt::Sgd, Opt::Adam] {
            let name = format!("{opt:?}").to_lowercase();
            let path = dir.join(format!("lr_sweep_{name}.svg"));
            plot(&outcome, opt, &path);
            if config.verbose {
                println!("loss curves written to {}", path.display());
            }
        }
    }
    outcome
}

fn print_table(outcome: &Outcome, epochs: usize) {
    println!("{epochs} epochs of batches of 32 per run; training loss on the whole training set");
    println!(
        "{:>6} {:>9} {:>11} {:>9} {:>13}  curve (loss / starting loss)",
        "opt", "lr", "final loss", "test acc", "label"
    );
    for r in &outcome.runs {
        println!(
            "{:>6} {:>9.1e} {:>11.4} {:>8.1}% {:>13}  {}",
            format!("{:?}", r.opt),
            r.lr,
            final_loss(r),
            100.0 * r.test_accuracy,
            format!("{:?}", r.label).to_lowercase(),
            sparkline(&r.curve)
        );
    }
    for opt in [Opt::Sgd, Opt::Adam] {
        let good: Vec<f64> = outcome
            .runs
            .iter()
            .filter(|r| r.opt == opt && r.label == Label::Converging)
            .map(|r| r.lr)
            .collect();
        let range = match (good.first(), good.last()) {
            (Some(lo), Some(hi)) => format!("{lo:.1e} .. {hi:.1e}"),
            _ => "none".to_string(),
        };
        println!(
            "{opt:?}: converging from {range}; lowest final loss at lr {:.1e}",
            outcome.best_rate(opt)
        );
    }
}

/// The curve in block characters, one per point: the height is the loss
/// as a fraction of the starting loss, from 0 (lowest) to 1.4 and above
/// (full block); `!` marks a loss that is not finite.
fn sparkline(curve: &[(f64, f64)]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let start = curve[0].1;
    curve
        .iter()
        .map(|&(_, l)| {
            if !l.is_finite() {
                return '!';
            }
            let level = (l / start / 1.4 * 7.0).round().clamp(0.0, 7.0);
            BLOCKS[level as usize]
        })
        .collect()
}

/// One chart per optimiser; losses above 10 (far above the untrained
/// model's ln 10 = 2.3) are drawn at 10, so that diverging runs show as a
/// line along the top instead of squashing the rest.
fn plot(outcome: &Outcome, opt: Opt, path: &std::path::Path) {
    const CAP: f64 = 10.0;
    let mut chart = LineChart::new(format!(
        "{opt:?} on digits: training loss at each learning rate"
    ))
    .x_label("step")
    .y_label("training loss (log scale, capped at 10)")
    .log_y();
    for r in outcome.runs.iter().filter(|r| r.opt == opt) {
        let points = r
            .curve
            .iter()
            .map(|&(s, l)| (s, if l.is_finite() { l.min(CAP) } else { CAP }));
        chart = chart.series(format!("{:.0e}", r.lr), points);
    }
    chart.save_both(path).expect("write the SVG");
}

#[path = "common/args.rs"]
pub mod args;

/// The one flag, `--out DIR`: where the charts go.
pub fn out_dir(a: &mut args::Args) -> PathBuf {
    a.value(
        "--out",
        "DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/target"),
        "where lr_sweep_sgd.svg and lr_sweep_adam.svg go",
    )
}

#[allow(dead_code)]
fn main() {
    let out = args::parse(
        "lr_sweep",
        "SGD and Adam on digits from far too low to far too high a learning rate.",
        out_dir,
    );
    let start = std::time::Instant::now();
    run(&Config {
        epochs: 10,
        rates: half_decades(1e-4, 10.0),
        verbose: true,
        out: Some(out),
    });
    println!("done in {:.1} s", start.elapsed().as_secs_f64());
}
