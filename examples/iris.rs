//! Iris with the whole training kit: the LR range test picks the rate, one
//! `Trainer` call trains (cosine schedule, validation, early stopping,
//! divergence guard, a checkpoint each epoch), and the history and the
//! range test are written as CSV, JSON lines and SVG charts.
//!
//! Run: `cargo run --release --example iris` (files go to `target/iris/`,
//! or to `--out DIR`; `-- --help` lists the flags).

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::Path;
use tapegrad::data::{Batch, CsvOptions, DataLoader, Dataset, TensorDataset, read_csv};
use tapegrad::nn::{Forward, Linear, Relu, Sequential};
use tapegrad::optim::Adam;
use tapegrad::schedule::CosineAnnealingLr;
use tapegrad::train::LrFinder;
use tapegrad::train::{Checkpoint, DivergenceGuard, EarlyStopping, Progress, StepOutput, Trainer};
use tapegrad::{Tape, Tensor};

/// What one run reached.
pub struct Outcome {
    /// The rate the range test suggested (and training used).
    pub suggested_lr: f64,
    /// Validation accuracy after the last epoch.
    pub val_accuracy: f64,
    /// Epochs run (early stopping may end the run sooner).
    pub epochs: usize,
}

/// Iris with each feature standardised, split 120 / 30.
fn data() -> (TensorDataset, TensorDataset) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/iris.csv");
    let all: TensorDataset =
        read_csv(path, &CsvOptions::default()).expect("examples/data/iris.csv");
    let (n, d) = (all.len(), all.input_shape()[0]);
    let x = all.inputs().as_slice();
    let mut z = x.to_vec();
    for j in 0..d {
        let mean = (0..n).map(|i| x[i * d + j]).sum::<f32>() / n as f32;
        let sd = ((0..n).map(|i| (x[i * d + j] - mean).powi(2)).sum::<f32>() / n as f32).sqrt();
        for i in 0..n {
            z[i * d + j] = (x[i * d + j] - mean) / sd;
        }
    }
    let all = TensorDataset::new(Tensor::from_vec(z, &[n, d]).unwrap(), all.targets().clone());
    all.split(0.2, &mut StdRng::seed_from_u64(0))
}

/// Cross-entropy and accuracy of one batch.
fn step<'t>(model: &Sequential, tape: &'t Tape, batch: &Batch) -> StepOutput<'t> {
    let logits = model.forward(tape.constant(batch.inputs.clone()));
    let labels = batch.labels();
    StepOutput::new(logits.cross_entropy(&labels)).accuracy(logits, &labels)
}

/// Finds a rate, trains for up to `epochs`, and writes everything to `out`.
pub fn run(epochs: usize, out: &Path, progress: Progress) -> Outcome {
    std::fs::create_dir_all(out).expect("output directory");
    let (train, val) = data();
    let mut rng = StdRng::seed_from_u64(1);
    let mut model = Sequential::new()
        .add(Linear::new(4, 32, &mut rng))
        .add(Relu)
        .add(Linear::new(32, 3, &mut rng));
    let mut opt = Adam::new(1e-3);
    let mut loader = DataLoader::new(&train, 16).shuffle(0);

    // 1. The range test, on the model and optimiser (left untouched).
    let report = LrFinder::new(1e-5, 10.0, 100)
        .expect("valid range")
        .run(&mut model, &mut opt, &mut loader, |m, tape, batch| {
            step(m, tape, batch).loss
        })
        .expect("range test");
    report
        .chart()
        .save_both(out.join("lr_finder.svg"))
        .expect("range test chart");
    let lr = report.suggestion().unwrap_or(1e-3);

    // 2. One Trainer call.
    let steps = epochs * loader.num_batches();
    let history = Trainer::new(epochs)
        .schedule(CosineAnnealingLr::new(lr, steps, lr / 100.0).expect("valid schedule"))
        .validation(&val, 64)
        .callback(EarlyStopping::new("val_loss").patience(10))
        .callback(DivergenceGuard::new())
        .callback(Checkpoint::each_epoch(out.join("checkpoint.safetensors")))
        .progress(progress)
        .seed(2)
        .fit(&mut model, &mut opt, &mut loader, step)
        .expect("training");

    // 3. What happened, as files.
    history.write_csv(out.join("history.csv")).expect("csv");
    history
        .write_jsonl(out.join("history.jsonl"))
        .expect("jsonl");
    history.plot(out.join("plots")).expect("plots");
    Outcome {
        suggested_lr: lr,
        val_accuracy: history.last_epoch("val_accuracy").unwrap_or(0.0),
        epochs: history.epochs.len(),
    }
}

#[path = "common/args.rs"]
pub mod args;

/// The one flag, `--out DIR`: where the files go.
pub fn out_dir(a: &mut args::Args) -> std::path::PathBuf {
    a.value(
        "--out",
        "DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/iris"),
        "where the charts, history files and checkpoint go",
    )
}

#[allow(dead_code)]
fn main() {
    let out = args::parse(
        "iris",
        "iris with the whole training kit: range test, schedule, early stopping, checkpoints.",
        out_dir,
    );
    let o = run(60, &out, Progress::Auto);
    println!(
        "range test suggested lr {:.2e}; {} epochs; validation accuracy {:.1}%; files in {}",
        o.suggested_lr,
        o.epochs,
        100.0 * o.val_accuracy,
        out.display()
    );
}
