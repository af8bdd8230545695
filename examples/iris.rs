//! Iris with the whole training kit: the LR range test picks the rate, one
//! `Trainer` call trains (cosine schedule, validation, early stopping,
//! divergence guard, a checkpoint each epoch), and the history and the
//! range test are written as CSV, JSON lines and SVG charts.
//!
//! Run: `cargo run --release --example iris` (files go to `target/iris/`,
//! or to `--out DIR`; `-- --help` lists the flags).
//!
//! Other data: `--data FILE.csv`, any numeric CSV with a header whose last
//! column is the class (whole numbers from 0); the input width and the
//! number of classes come from the file, `--hidden N` sets the hidden
//! layer's width and `--epochs N` the longest run. A fifth of the rows is
//! held out for validation, and the features are standardised with the
//! mean and deviation of the training rows only (the validation rows are
//! scaled by the same numbers, as new data would be).

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::{Path, PathBuf};
use tapegrad::data::{Batch, CsvOptions, DataLoader, Dataset, TensorDataset, read_csv};
use tapegrad::nn::{Forward, Linear, Relu, Sequential};
use tapegrad::optim::Adam;
use tapegrad::schedule::CosineAnnealingLr;
use tapegrad::train::LrFinder;
use tapegrad::train::{Checkpoint, DivergenceGuard, EarlyStopping, Progress, StepOutput, Trainer};
use tapegrad::{Tape, Tensor};

/// What to run; `Config::default()` is the bundled iris with the flags'
/// defaults, files in `target/iris`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The CSV file (numeric, header, the class last).
    pub data: PathBuf,
    /// The longest run, in epochs (early stopping may end it sooner).
    pub epochs: usize,
    /// The hidden layer's width.
    pub hidden: usize,
    /// Where the files go.
    pub out: PathBuf,
    /// How progress is shown.
    pub progress: Progress,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data: Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/iris.csv"),
            epochs: 60,
            hidden: 32,
            out: Path::new(env!("CARGO_MANIFEST_DIR")).join("target/iris"),
            progress: Progress::Auto,
        }
    }
}

/// What one run reached.
pub struct Outcome {
    /// The rate the range test suggested (and training used).
    pub suggested_lr: f64,
    /// Validation accuracy after the last epoch.
    pub val_accuracy: f64,
    /// Epochs run (early stopping may end the run sooner).
    pub epochs: usize,
}

/// Each feature's mean and deviation over the training rows.
pub type Stats = Vec<(f32, f32)>;

/// Splits `all` 80 / 20 (shuffled by `seed`) and standardises every
/// feature of both parts with the mean and (population) deviation of the
/// training part only; a feature constant over the training rows is only
/// centred. Returns the parts and the statistics used.
pub fn split_and_standardise(
    all: &TensorDataset,
    seed: u64,
) -> (TensorDataset, TensorDataset, Stats) {
    let (train, val) = all.split(0.2, &mut StdRng::seed_from_u64(seed));
    let (n, d) = (train.len(), all.input_shape()[0]);
    let x = train.inputs().as_slice();
    let stats: Stats = (0..d)
        .map(|j| {
            let mean = (0..n).map(|i| x[i * d + j]).sum::<f32>() / n as f32;
            let var = (0..n).map(|i| (x[i * d + j] - mean).powi(2)).sum::<f32>() / n as f32;
            (mean, if var > 0.0 { var.sqrt() } else { 1.0 })
        })
        .collect();
    let scale = |part: &TensorDataset| {
        let rows = part.len();
        let z: Vec<f32> = part
            .inputs()
            .as_slice()
            .iter()
            .enumerate()
            .map(|(k, &v)| {
                let (mean, sd) = stats[k % d];
                (v - mean) / sd
            })
            .collect();
        TensorDataset::new(
            Tensor::from_vec(z, &[rows, d]).expect("rows x features"),
            part.targets().clone(),
        )
    };
    (scale(&train), scale(&val), stats)
}

/// Reads `config.data`: features and whole-number classes from 0, checked.
///
/// # Errors
/// The CSV reader's (line and what is wrong), or a class that is not a
/// whole number from 0, or fewer than 10 rows (too few to hold out a fifth).
fn data(config: &Config) -> Result<(TensorDataset, usize), String> {
    let file = config.data.display();
    let all: TensorDataset =
        read_csv(&config.data, &CsvOptions::default()).map_err(|e| e.to_string())?;
    if let Some(bad) = all
        .targets()
        .as_slice()
        .iter()
        .find(|&&c| c < 0.0 || c.fract() != 0.0)
    {
        return Err(format!(
            "{file}: the last column must hold classes, whole numbers from 0: found {bad}"
        ));
    }
    if all.len() < 10 {
        return Err(format!(
            "{file}: {} rows, too few to hold out a fifth for validation (at least 10)",
            all.len()
        ));
    }
    let classes = all
        .targets()
        .as_slice()
        .iter()
        .fold(0.0f32, |m, &c| m.max(c)) as usize
        + 1;
    Ok((all, classes.max(2)))
}

/// Cross-entropy and accuracy of one batch.
fn step<'t>(model: &Sequential, tape: &'t Tape, batch: &Batch) -> StepOutput<'t> {
    let logits = model.forward(tape.constant(batch.inputs.clone()));
    let labels = batch.labels();
    StepOutput::new(logits.cross_entropy(&labels)).accuracy(logits, &labels)
}

/// Finds a rate, trains for up to `config.epochs`, and writes everything
/// to `config.out`.
///
/// # Errors
/// If the data does not fit (see `data`), before any training.
pub fn run(config: &Config) -> Result<Outcome, String> {
    let (epochs, out, progress) = (config.epochs, config.out.as_path(), config.progress);
    let (all, classes) = data(config)?;
    let (train, val, _) = split_and_standardise(&all, 0);
    std::fs::create_dir_all(out).expect("output directory");
    let mut rng = StdRng::seed_from_u64(1);
    let width = all.input_shape()[0];
    let mut model = Sequential::new()
        .add(Linear::new(width, config.hidden, &mut rng))
        .add(Relu)
        .add(Linear::new(config.hidden, classes, &mut rng));
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
    Ok(Outcome {
        suggested_lr: lr,
        val_accuracy: history.last_epoch("val_accuracy").unwrap_or(0.0),
        epochs: history.epochs.len(),
    })
}

#[path = "common/args.rs"]
pub mod args;

/// The flags: `--data FILE`, `--epochs N`, `--hidden N`, `--out DIR`.
pub fn config(a: &mut args::Args) -> Config {
    let defaults = Config::default();
    Config {
        data: a
            .optional(
                "--data",
                "FILE",
                "examples/data/iris.csv",
                "a numeric CSV with a header, the class (0, 1, ...) last",
            )
            .unwrap_or(defaults.data),
        epochs: a.value(
            "--epochs",
            "N",
            "60",
            "the longest run (early stopping may end it sooner)",
        ),
        hidden: a.value("--hidden", "N", "32", "the hidden layer's width"),
        out: a.value(
            "--out",
            "DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/iris"),
            "where the charts, history files and checkpoint go",
        ),
        progress: Progress::Auto,
    }
}

#[allow(dead_code)]
fn main() {
    let config = args::parse(
        "iris",
        "iris with the whole training kit: range test, schedule, early stopping, checkpoints.",
        config,
    );
    let o = run(&config).unwrap_or_else(|message| {
        eprintln!("iris: {message}");
        std::process::exit(1)
    });
    println!(
        "range test suggested lr {:.2e}; {} epochs; validation accuracy {:.1}%; files in {}",
        o.suggested_lr,
        o.epochs,
        100.0 * o.val_accuracy,
        config.out.display()
    );
}
