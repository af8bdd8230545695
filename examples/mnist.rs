//! MNIST (60,000 training and 10,000 test images of handwritten digits)
//! with an MLP or a small CNN.
//!
//! Run: `cargo run --release --example mnist` (the MLP), or
//! `cargo run --release --example mnist -- --model cnn`. Options:
//! `--epochs N`, `--out DIR` (default `target/mnist`).
//!
//! Adam with a one-cycle schedule (warm up, then anneal), accuracy on the
//! test set after every epoch, loss and accuracy plots, and the trained
//! weights saved as safetensors in the output folder.
//!
//! The images ship gzip-compressed in `examples/data/mnist/`; `flate2`
//! decompresses them and `tapegrad::data::read_idx` parses the IDX format.

use flate2::read::GzDecoder;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::error::Error;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tapegrad::data::{DataLoader, Dataset, TensorDataset, read_idx};
use tapegrad::io::save_safetensors;
use tapegrad::nn::{Conv2d, Flatten, Forward, Linear, MaxPool2d, Relu, Sequential};
use tapegrad::optim::{Adam, Optimizer};
use tapegrad::plot::LineChart;
use tapegrad::schedule::{LrSchedule, OneCycle};
use tapegrad::{Module, Tape, Tensor};

/// Which network to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// 784-256-128-10 with ReLU.
    Mlp,
    /// conv 1->16 3x3, ReLU, max-pool 2; conv 16->32 3x3, ReLU, max-pool 2;
    /// linear 800->10 (the network of benchmark W4).
    Cnn,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The network.
    pub arch: Arch,
    /// Passes over the training images.
    pub epochs: usize,
    /// Use only the first `n` training images (the smoke test's shortcut).
    pub train_limit: Option<usize>,
    /// Where plots and weights go; `None` writes nothing.
    pub out: Option<PathBuf>,
    /// Print a line per epoch.
    pub verbose: bool,
}

/// What one run reached.
pub struct Outcome {
    /// Mean training loss over the first 10 steps.
    pub first_loss: f64,
    /// Mean training loss over the last 10 steps.
    pub last_loss: f64,
    /// Test accuracy after each epoch.
    pub test_accuracy: Vec<f64>,
}

/// Reads one gzip-compressed IDX file of `examples/data/mnist/`.
fn read_gz(name: &str) -> Result<Tensor, Box<dyn Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data/mnist")
        .join(name);
    let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(read_idx(GzDecoder::new(BufReader::new(file)), &path)?)
}

/// The training or test set: images as `[n, 1, 28, 28]`, standardised with
/// the training set's mean and deviation (0.1307 and 0.3081 on a 0..1
/// scale), and labels as numbers.
pub fn load(train: bool) -> Result<TensorDataset, Box<dyn Error>> {
    let prefix = if train { "train" } else { "t10k" };
    let images = read_gz(&format!("{prefix}-images-idx3-ubyte.gz"))?;
    let labels = read_gz(&format!("{prefix}-labels-idx1-ubyte.gz"))?;
    let n = images.shape()[0];
    if labels.shape() != [n] {
        return Err(format!("{n} images but labels of shape {:?}", labels.shape()).into());
    }
    let (mean, std) = (0.1307, 0.3081);
    let images = images.map(|p| (p / 255.0 - mean) / std);
    Ok(TensorDataset::new(images.reshape(&[n, 1, 28, 28]), labels))
}

/// The network, with its parameters drawn from `rng`.
pub fn build(arch: Arch, rng: &mut StdRng) -> Sequential {
    match arch {
        Arch::Mlp => Sequential::new()
            .add(Flatten)
            .add(Linear::new(784, 256, rng))
            .add(Relu)
            .add(Linear::new(256, 128, rng))
            .add(Relu)
            .add(Linear::new(128, 10, rng)),
        Arch::Cnn => Sequential::new()
            .add(Conv2d::new(1, 16, (3, 3), rng))
            .add(Relu)
            .add(MaxPool2d::new((2, 2)))
            .add(Conv2d::new(16, 32, (3, 3), rng))
            .add(Relu)
            .add(MaxPool2d::new((2, 2)))
            .add(Flatten)
            .add(Linear::new(800, 10, rng)),
    }
}

/// Fraction of `data` the model classifies right, in evaluation mode, a
/// thousand images at a time (one tape for all 10,000 would hold every
/// activation at once).
pub fn accuracy(model: &Sequential, data: &TensorDataset) -> f64 {
    let mut hits = 0;
    for batch in DataLoader::new(data, 1000).epoch() {
        let tape = Tape::eval();
        let logits = model.forward(tape.constant(batch.inputs.clone())).value();
        let predicted = logits.argmax_axis(-1, false);
        hits += predicted
            .as_slice()
            .iter()
            .zip(batch.labels())
            .filter(|(p, y)| **p as usize == *y)
            .count();
    }
    hits as f64 / data.len() as f64
}

/// Trains as `config` says and reports.
pub fn run(config: &Config) -> Result<Outcome, Box<dyn Error>> {
    let start = Instant::now();
    let mut train = load(true)?;
    if let Some(n) = config.train_limit {
        train = train.subset(&(0..n.min(train.len())).collect::<Vec<_>>());
    }
    let test = load(false)?;
    let mut rng = StdRng::seed_from_u64(0);
    let mut model = build(config.arch, &mut rng);
    if config.verbose {
        println!(
            "{} training and {} test images loaded in {:.1} s",
            train.len(),
            test.len(),
            start.elapsed().as_secs_f64()
        );
        print!("{}", model.summary());
    }

    let mut loader = DataLoader::new(&train, 128).shuffle(1);
    let total_steps = config.epochs * loader.num_batches();
    // One cycle: the rate climbs to its peak over the first 30% of steps,
    // then anneals to nearly zero, which suits a short fixed budget.
    let schedule = OneCycle::new(3e-3, total_steps)?;
    let mut opt = Adam::new(schedule.lr_at(0));

    let (mut losses, mut lrs, mut accuracies) = (Vec::new(), Vec::new(), Vec::new());
    let mut step = 0;
    for epoch in 0..config.epochs {
        let epoch_start = Instant::now();
        let (mut total, mut batches) = (0.0, 0);
        for batch in loader.epoch() {
            opt.set_lr(schedule.lr_at(step));
            let grads = {
                let tape = Tape::new();
                let logits = model.forward(tape.constant(batch.inputs.clone()));
                let loss = logits.cross_entropy(&batch.labels());
                let value = loss.item() as f64;
                total += value;
                losses.push((step as f64, value));
                loss.backward()
            };
            lrs.push((step as f64, opt.lr()));
            opt.step(&mut model, &grads);
            batches += 1;
            step += 1;
        }
        let epoch_loss = total / batches as f64;
        let acc = accuracy(&model, &test);
        accuracies.push(acc);
        if config.verbose {
            let seconds = epoch_start.elapsed().as_secs_f64();
            println!(
                "epoch {}/{}  train loss {epoch_loss:.4}  test accuracy {:.2}%  {:.0} images/s",
                epoch + 1,
                config.epochs,
                100.0 * acc,
                train.len() as f64 / seconds,
            );
        }
    }

    if let Some(dir) = &config.out {
        std::fs::create_dir_all(dir)?;
        LineChart::new("MNIST training loss")
            .x_label("step")
            .y_label("cross-entropy")
            .log_y()
            .series("loss", losses.iter().copied())
            .save(dir.join("loss.svg"))?;
        LineChart::new("MNIST test accuracy")
            .x_label("epoch")
            .y_label("accuracy")
            .series(
                "test",
                accuracies
                    .iter()
                    .enumerate()
                    .map(|(i, &a)| ((i + 1) as f64, a)),
            )
            .save(dir.join("accuracy.svg"))?;
        LineChart::new("learning rate (one cycle)")
            .x_label("step")
            .y_label("rate")
            .series("lr", lrs)
            .save(dir.join("lr.svg"))?;
        let weights = dir.join(format!("{:?}.safetensors", config.arch).to_lowercase());
        save_safetensors(&model, &weights)?;
        if config.verbose {
            println!("plots and weights written to {}", dir.display());
        }
    }
    let k = losses.len().min(10);
    let mean = |points: &[(f64, f64)]| points.iter().map(|p| p.1).sum::<f64>() / k as f64;
    let (first_loss, last_loss) = (mean(&losses[..k]), mean(&losses[losses.len() - k..]));
    if config.verbose {
        println!("done in {:.1} s", start.elapsed().as_secs_f64());
    }
    Ok(Outcome {
        first_loss,
        last_loss,
        test_accuracy: accuracies,
    })
}

/// `--model mlp|cnn`, `--epochs N`, `--out DIR`.
fn parse_args() -> Result<Config, Box<dyn Error>> {
    let mut config = Config {
        arch: Arch::Mlp,
        epochs: 0,
        train_limit: None,
        out: Some(PathBuf::from("target/mnist")),
        verbose: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => {
                config.arch = match value()?.as_str() {
                    "mlp" => Arch::Mlp,
                    "cnn" => Arch::Cnn,
                    other => return Err(format!("--model: `{other}` is not mlp or cnn").into()),
                }
            }
            "--epochs" => config.epochs = value()?.parse()?,
            "--out" => config.out = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    if config.epochs == 0 {
        config.epochs = match config.arch {
            Arch::Mlp => 4,
            Arch::Cnn => 3,
        };
    }
    Ok(config)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    run(&parse_args()?)?;
    Ok(())
}
