//! Handwritten digits (8x8, 1797 images) with a small MLP, in a few seconds.
//!
//! Run: `cargo run --release --example digits` (no flags).
//!
//! The whole training loop is written out (no `Trainer`), so every step of
//! learning is in view: batches from a `DataLoader`, a forward pass on a
//! fresh tape, the loss, `backward`, and an optimiser step whose learning
//! rate a cosine schedule sets.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::data::{CsvOptions, DataLoader, Dataset, TensorDataset, read_csv};
use tapegrad::nn::{Forward, Linear, Relu, Sequential};
use tapegrad::optim::{Adam, Optimizer};
use tapegrad::schedule::{CosineAnnealingLr, LrSchedule};
use tapegrad::{Module, Tape, Tensor, train};

/// What one run reached.
pub struct Outcome {
    /// Mean training loss of the first epoch.
    pub first_loss: f64,
    /// Mean training loss of the last epoch.
    pub last_loss: f64,
    /// Accuracy on the held-out 20%.
    pub test_accuracy: f64,
}

/// Fraction of rows of `logits` whose largest entry is at the label.
fn accuracy(logits: &Tensor, labels: &[usize]) -> f64 {
    let predicted = logits.argmax_axis(-1, false);
    let hits = predicted
        .as_slice()
        .iter()
        .zip(labels)
        .filter(|(p, y)| **p as usize == **y)
        .count();
    hits as f64 / labels.len() as f64
}

/// Accuracy of the model on a whole dataset, recorded in evaluation mode.
fn evaluate(model: &Sequential, data: &TensorDataset) -> f64 {
    let tape = Tape::eval();
    let logits = model.forward(tape.constant(data.inputs().clone())).value();
    let labels: Vec<usize> = data
        .targets()
        .as_slice()
        .iter()
        .map(|&y| y as usize)
        .collect();
    accuracy(&logits, &labels)
}

/// Trains for `epochs` and reports; `verbose` prints one line per epoch.
pub fn run(epochs: usize, verbose: bool) -> Outcome {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/digits.csv");
    let all: TensorDataset =
        read_csv(path, &CsvOptions::default()).expect("examples/data/digits.csv");
    // Pixels are counts 0..16: scale them to 0..1.
    let all = TensorDataset::new(all.inputs().scale(1.0 / 16.0), all.targets().clone());
    let mut rng = StdRng::seed_from_u64(0);
    let (train, test) = all.split(0.2, &mut rng);

    let mut model = Sequential::new()
        .add(Linear::new(64, 64, &mut rng))
        .add(Relu)
        .add(Linear::new(64, 10, &mut rng));
    if verbose {
        print!("{}", model.summary());
    }
    let mut loader = DataLoader::new(&train, 32).shuffle(1);
    let schedule =
        CosineAnnealingLr::new(3e-3, epochs * loader.num_batches(), 1e-4).expect("valid schedule");
    let mut opt = Adam::new(schedule.lr_at(0));

    let (mut first_loss, mut last_loss, mut step) = (f64::NAN, f64::NAN, 0);
    // One tape for every step: `train::step` resets it after backward and
    // before the update, so each step reuses its buffers.
    let tape = Tape::new();
    for epoch in 0..epochs {
        let (mut total, mut batches) = (0.0, 0);
        for batch in loader.epoch() {
            opt.set_lr(schedule.lr_at(step));
            let loss = train::step(&mut model, &mut opt, |m| {
                let logits = m.forward(tape.constant(batch.inputs.clone()));
                logits.cross_entropy(&batch.labels())
            });
            total += loss as f64;
            batches += 1;
            step += 1;
        }
        last_loss = total / batches as f64;
        if epoch == 0 {
            first_loss = last_loss;
        }
        if verbose {
            println!(
                "epoch {:>2}  lr {:.5}  train loss {:.4}  test accuracy {:.1}%",
                epoch + 1,
                opt.lr(),
                last_loss,
                100.0 * evaluate(&model, &test)
            );
        }
    }
    let outcome = Outcome {
        first_loss,
        last_loss,
        test_accuracy: evaluate(&model, &test),
    };
    if verbose {
        println!(
            "{} training and {} test images; final test accuracy {:.1}%",
            train.len(),
            test.len(),
            100.0 * outcome.test_accuracy
        );
    }
    outcome
}

#[path = "common/args.rs"]
pub mod args;

#[allow(dead_code)]
fn main() {
    // No flags; `--help` says so, and anything else is refused.
    args::parse(
        "digits",
        "the training loop written out by hand, on the 8x8 digits.",
        |_| (),
    );
    let start = std::time::Instant::now();
    run(30, true);
    println!("done in {:.1} s", start.elapsed().as_secs_f64());
}
