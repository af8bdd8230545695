//! MNIST (60,000 training and 10,000 test images of handwritten digits)
//! with an MLP or a small CNN.
//!
//! Run: `cargo run --release --example mnist` (the MLP), or
//! `cargo run --release --example mnist -- --model cnn`. Options:
//! `--epochs N`, `--out DIR` (default `target/mnist`), `--seed N` (the
//! initial weights and the shuffle of every epoch), and for other data
//! `--data DIR` with `--train-prefix` and `--test-prefix`; `-- --help`
//! lists them with their defaults.
//!
//! Any data set in MNIST's format works (Fashion-MNIST, KMNIST, EMNIST,
//! your own): four IDX files in one folder, `PREFIX-images-idx3-ubyte` and
//! `PREFIX-labels-idx1-ubyte` for the training (`train`) and test (`t10k`)
//! prefixes, each gzip-compressed (`.gz`) or not. Images may be of any
//! size `rows x cols` (the CNN needs at least 10 x 10), labels whole
//! numbers from 0; the number of classes is the largest training label
//! plus one. The pixels are standardised with the mean and deviation of
//! the training images, printed at the start (MNIST's are the well-known
//! 0.1307 and 0.3081 on a 0..1 scale). A file that does not fit is named
//! in a one-line error saying what is wrong with it.
//!
//! Measured on 2 cores: the MLP reaches 98.3% test accuracy in 4 epochs
//! (17 s, with other builds running), the CNN 98.75% in 3 epochs (35 s on
//! an idle machine). Since the training images are shuffled every epoch
//! (seed 0): MLP 98.40% (3.3 s), CNN 98.84% (15.8 s), on a quieter machine.
//!
//! One `Trainer` call: Adam with a one-cycle schedule (warm up, then
//! anneal), a progress bar, loss and accuracy on the test set after every
//! epoch; then the history's plots and CSV and the trained weights (as
//! safetensors) in the output folder.
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
use tapegrad::data::{Batch, DataLoader, Dataset, TensorDataset, read_idx};
use tapegrad::io::save_safetensors;
use tapegrad::nn::{Conv2d, Flatten, Forward, Linear, MaxPool2d, Relu, Sequential};
use tapegrad::optim::Adam;
use tapegrad::schedule::OneCycleLr;
use tapegrad::train::{Progress, StepOutput, Trainer};
use tapegrad::{Module, Tape, Tensor};

/// Which network to train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Arch {
    /// 784-256-128-10 with ReLU.
    #[default]
    Mlp,
    /// conv 1->16 3x3, ReLU, max-pool 2; conv 16->32 3x3, ReLU, max-pool 2;
    /// linear 800->10 (the network of benchmark W4).
    Cnn,
}

/// `mlp` or `cnn`, as `--model` takes it.
impl std::str::FromStr for Arch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mlp" => Ok(Arch::Mlp),
            "cnn" => Ok(Arch::Cnn),
            _ => Err("the models are mlp and cnn".to_string()),
        }
    }
}

/// What to run; `Config::default()` is the MLP on the bundled MNIST with
/// the flags' defaults, writing nothing.
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
    /// How progress is shown: a bar on a terminal, lines otherwise, or
    /// nothing.
    pub progress: Progress,
    /// The folder of the IDX files.
    pub data: PathBuf,
    /// The training files' prefix (`train`).
    pub train_prefix: String,
    /// The test files' prefix (`t10k`).
    pub test_prefix: String,
    /// Seeds the initial weights and, through the trainer, the shuffle of
    /// every epoch.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            arch: Arch::Mlp,
            epochs: 4,
            train_limit: None,
            out: None,
            progress: Progress::Auto,
            data: bundled_data(),
            train_prefix: "train".into(),
            test_prefix: "t10k".into(),
            seed: 0,
        }
    }
}

/// `examples/data/mnist`.
pub fn bundled_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/mnist")
}

/// What one run reached.
pub struct Outcome {
    /// Mean training loss over the first 10 steps.
    pub first_loss: f64,
    /// Mean training loss over the last 10 steps.
    pub last_loss: f64,
    /// Test accuracy after each epoch.
    pub test_accuracy: Vec<f64>,
    /// The standardisation used, from the training images.
    pub norm: Norm,
}

/// Reads `dir/NAME.gz` (gzip-compressed) or else `dir/NAME`.
fn read_idx_file(dir: &Path, name: &str) -> Result<Tensor, Box<dyn Error>> {
    let gz = dir.join(format!("{name}.gz"));
    let plain = dir.join(name);
    let open = |path: &Path| File::open(path).map_err(|e| format!("{}: {e}", path.display()));
    if gz.is_file() {
        let file = open(&gz)?;
        Ok(read_idx(GzDecoder::new(BufReader::new(file)), &gz)?)
    } else if plain.is_file() {
        Ok(read_idx(BufReader::new(open(&plain)?), &plain)?)
    } else {
        Err(format!(
            "{}: no file {name}.gz or {name} (see --data, --train-prefix and --test-prefix)",
            dir.display()
        )
        .into())
    }
}

/// How pixels are standardised: `(p - mean) / std`, both taken over every
/// pixel of the training images (in the files' own units: 0..255 for
/// bytes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Norm {
    /// Mean pixel.
    pub mean: f64,
    /// Standard deviation of the pixels (population).
    pub std: f64,
}

impl Norm {
    /// The mean and deviation of `images`.
    ///
    /// # Errors
    /// If every pixel is the same (nothing to standardise by).
    pub fn of(images: &Tensor, what: &str) -> Result<Norm, String> {
        let xs = images.as_slice();
        let n = xs.len().max(1) as f64;
        let mean = xs.iter().map(|&p| p as f64).sum::<f64>() / n;
        let var = xs.iter().map(|&p| (p as f64 - mean).powi(2)).sum::<f64>() / n;
        if var.is_finite() && var > 0.0 {
            Ok(Norm {
                mean,
                std: var.sqrt(),
            })
        } else {
            Err(format!(
                "{what}: every pixel is {mean}: nothing to standardise by or learn from"
            ))
        }
    }
}

/// One split's images `[n, rows, cols]` and labels `[n]`, checked.
fn read_split(config: &Config, prefix: &str) -> Result<(Tensor, Tensor), Box<dyn Error>> {
    let dir = &config.data;
    let images_name = format!("{prefix}-images-idx3-ubyte");
    let labels_name = format!("{prefix}-labels-idx1-ubyte");
    let images = read_idx_file(dir, &images_name)?;
    let labels = read_idx_file(dir, &labels_name)?;
    let at = |name: &str| dir.join(name).display().to_string();
    if images.ndim() != 3 || images.shape()[0] == 0 {
        return Err(format!(
            "{}: images must be an IDX array [n, rows, cols] with n > 0, got shape {:?}",
            at(&images_name),
            images.shape()
        )
        .into());
    }
    let n = images.shape()[0];
    if labels.shape() != [n] {
        return Err(format!(
            "{}: {n} images in {images_name} need labels of shape [{n}], got {:?}",
            at(&labels_name),
            labels.shape()
        )
        .into());
    }
    if let Some(bad) = labels
        .as_slice()
        .iter()
        .find(|&&l| l < 0.0 || l.fract() != 0.0)
    {
        return Err(format!(
            "{}: labels must be whole numbers from 0, found {bad}",
            at(&labels_name)
        )
        .into());
    }
    Ok((images, labels))
}

/// Standardised `[n, 1, rows, cols]` images with their labels.
fn dataset(images: Tensor, labels: Tensor, norm: Norm) -> TensorDataset {
    let (n, h, w) = (images.shape()[0], images.shape()[1], images.shape()[2]);
    let (mean, std) = (norm.mean as f32, norm.std as f32);
    let images = images.map(|p| (p - mean) / std);
    TensorDataset::new(images.reshape(&[n, 1, h, w]), labels)
}

/// The data `config` names, ready to train on.
pub struct Data {
    /// Training images `[n, 1, rows, cols]` (the first `train_limit` only)
    /// and labels.
    pub train: TensorDataset,
    /// Test images and labels, standardised as the training ones.
    pub test: TensorDataset,
    /// The standardisation, from the training images used.
    pub norm: Norm,
    /// Image size `(rows, cols)`.
    pub size: (usize, usize),
    /// Number of classes: the largest training label plus one.
    pub classes: usize,
}

/// Reads and checks the training and test files of `config.data`.
///
/// # Errors
/// One line naming the file and what is wrong: missing, not IDX, images
/// not `[n, rows, cols]`, labels not `[n]` or not whole numbers from 0,
/// test images of another size than the training ones, a test label the
/// training set lacks, training images all alike.
pub fn load(config: &Config) -> Result<Data, Box<dyn Error>> {
    let (mut images, mut labels) = read_split(config, &config.train_prefix)?;
    if let Some(limit) = config.train_limit {
        let n = images.shape()[0].min(limit.max(1));
        images = images.narrow(0, 0, n);
        labels = labels.narrow(0, 0, n);
    }
    let (test_images, test_labels) = read_split(config, &config.test_prefix)?;
    let size = (images.shape()[1], images.shape()[2]);
    if test_images.shape()[1..] != images.shape()[1..] {
        return Err(format!(
            "{}: test images are {:?}, the training images {} x {}",
            config
                .data
                .join(format!("{}-images-idx3-ubyte", config.test_prefix))
                .display(),
            &test_images.shape()[1..],
            size.0,
            size.1
        )
        .into());
    }
    let max = |t: &Tensor| t.as_slice().iter().fold(0.0f32, |m, &l| m.max(l)) as usize;
    let classes = (max(&labels) + 1).max(2);
    if max(&test_labels) >= classes {
        return Err(format!(
            "{}: test label {} is not among the training set's {classes} classes",
            config
                .data
                .join(format!("{}-labels-idx1-ubyte", config.test_prefix))
                .display(),
            max(&test_labels)
        )
        .into());
    }
    let norm = Norm::of(&images, &format!("{} training images", config.train_prefix))?;
    Ok(Data {
        train: dataset(images, labels, norm),
        test: dataset(test_images, test_labels, norm),
        norm,
        size,
        classes,
    })
}

/// The side of the CNN's last feature map for an input side `n`: two
/// rounds of a 3x3 convolution (`n - 2`) and a 2x2 max-pool (halved,
/// rounded down); `None` if that leaves nothing.
fn cnn_side(n: usize) -> Option<usize> {
    let once = |n: usize| n.checked_sub(2).map(|m| m / 2).filter(|&m| m > 0);
    once(n).and_then(once)
}

/// The network for `rows x cols` images and `classes` classes, with its
/// parameters drawn from `rng` (for MNIST: 784-256-128-10, and the CNN's
/// last layer 800 -> 10).
///
/// # Errors
/// If the CNN is asked for images smaller than 10 x 10.
pub fn build(
    arch: Arch,
    (rows, cols): (usize, usize),
    classes: usize,
    rng: &mut StdRng,
) -> Result<Sequential, String> {
    Ok(match arch {
        Arch::Mlp => Sequential::new()
            .add(Flatten)
            .add(Linear::new(rows * cols, 256, rng))
            .add(Relu)
            .add(Linear::new(256, 128, rng))
            .add(Relu)
            .add(Linear::new(128, classes, rng)),
        Arch::Cnn => {
            let (Some(h), Some(w)) = (cnn_side(rows), cnn_side(cols)) else {
                return Err(format!(
                    "the CNN needs images of at least 10 x 10, these are {rows} x {cols} (try --model mlp)"
                ));
            };
            Sequential::new()
                .add(Conv2d::new(1, 16, (3, 3), rng))
                .add(Relu)
                .add(MaxPool2d::new((2, 2)))
                .add(Conv2d::new(16, 32, (3, 3), rng))
                .add(Relu)
                .add(MaxPool2d::new((2, 2)))
                .add(Flatten)
                .add(Linear::new(32 * h * w, classes, rng))
        }
    })
}

/// Cross-entropy and accuracy of one batch: the step the trainer runs, on
/// training tapes for the updates and on evaluation tapes for the test set.
fn step<'t>(model: &Sequential, tape: &'t Tape, batch: &Batch) -> StepOutput<'t> {
    let logits = model.forward(tape.constant(batch.inputs.clone()));
    let labels = batch.labels();
    StepOutput::new(logits.cross_entropy(&labels)).accuracy(logits, &labels)
}

/// Trains as `config` says and reports.
pub fn run(config: &Config) -> Result<Outcome, Box<dyn Error>> {
    let start = Instant::now();
    let Data {
        train,
        test,
        norm,
        size,
        classes,
    } = load(config)?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut model = build(config.arch, size, classes, &mut rng)?;
    let quiet = config.progress == Progress::Quiet;
    if !quiet {
        println!(
            "{} training and {} test images of {} x {}, {classes} classes, loaded in {:.1} s",
            train.len(),
            test.len(),
            size.0,
            size.1,
            start.elapsed().as_secs_f64()
        );
        println!(
            "pixels standardised with the training images' mean {:.4} and deviation {:.4}",
            norm.mean, norm.std
        );
        print!("{}", model.summary());
    }

    // Shuffled every epoch, from the trainer's seed (see `Trainer::seed`).
    let mut loader = DataLoader::new(&train, 128).shuffle(config.seed);
    let total_steps = config.epochs * loader.num_batches();
    // One cycle: the rate climbs to its peak over the first 30% of steps,
    // then anneals to nearly zero, which suits a short fixed budget.
    let mut opt = Adam::new(3e-3);
    let history = Trainer::new(config.epochs)
        // A one-cycle needs a step in each of its phases: runs of fewer
        // than 4 steps (a small data set, one epoch) follow the start of a
        // 4-step cycle rather than failing.
        .schedule(OneCycleLr::new(3e-3, total_steps.max(4))?)
        .validation(&test, 1000)
        .progress(config.progress)
        .seed(config.seed)
        .fit(&mut model, &mut opt, &mut loader, step)?;

    if let Some(dir) = &config.out {
        history.plot(dir)?;
        history.write_csv(dir.join("history.csv"))?;
        let weights = dir.join(format!("{:?}.safetensors", config.arch).to_lowercase());
        save_safetensors(&model, &weights)?;
        if !quiet {
            println!("plots, history and weights written to {}", dir.display());
        }
    }
    let losses = history.step_series("loss");
    let k = losses.len().min(10);
    let mean = |points: &[(usize, f64)]| points.iter().map(|p| p.1).sum::<f64>() / k as f64;
    let test_accuracy: Vec<f64> = history
        .epoch_series("val_accuracy")
        .into_iter()
        .map(|(_, a)| a)
        .collect();
    if !quiet {
        println!(
            "test accuracy {:.2}%; done in {:.1} s",
            100.0 * test_accuracy.last().copied().unwrap_or(f64::NAN),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(Outcome {
        first_loss: mean(&losses[..k]),
        last_loss: mean(&losses[losses.len() - k..]),
        test_accuracy,
        norm,
    })
}

#[path = "common/args.rs"]
pub mod args;

/// The flags: `--model mlp|cnn`, `--epochs N`, `--out DIR`, `--seed N`,
/// `--data DIR`, `--train-prefix P`, `--test-prefix P`.
pub fn config(a: &mut args::Args) -> Config {
    let arch: Arch = a.value("--model", "mlp|cnn", "mlp", "the network");
    let epochs = a.optional(
        "--epochs",
        "N",
        "4 for mlp, 3 for cnn",
        "passes over the training images",
    );
    let out = a.value(
        "--out",
        "DIR",
        "target/mnist",
        "where the plots, history and weights go",
    );
    let data = a.optional(
        "--data",
        "DIR",
        "examples/data/mnist",
        "the folder of the IDX files (any data set in MNIST's format)",
    );
    Config {
        arch,
        epochs: epochs.unwrap_or(match arch {
            Arch::Mlp => 4,
            Arch::Cnn => 3,
        }),
        train_limit: None,
        out: Some(out),
        progress: Progress::Auto,
        data: data.unwrap_or_else(bundled_data),
        train_prefix: a.value(
            "--train-prefix",
            "P",
            "train",
            "training files P-images-idx3-ubyte[.gz], P-labels-idx1-ubyte[.gz]",
        ),
        test_prefix: a.value("--test-prefix", "P", "t10k", "test files, likewise"),
        seed: a.value(
            "--seed",
            "N",
            "0",
            "seeds the initial weights and every epoch's shuffle",
        ),
    }
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let config = args::parse(
        "mnist",
        "MNIST with an MLP or a small CNN, in one Trainer call.",
        config,
    );
    run(&config)?;
    Ok(())
}
