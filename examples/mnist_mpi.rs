//! MNIST with an MLP, data-parallel across processes over MPI.
//!
//! Run (OpenMPI: `apt-get install openmpi-bin libopenmpi-dev libclang-dev`):
//!
//! ```text
//! cargo build --release --features mpi --example mnist_mpi
//! RAYON_NUM_THREADS=1 mpirun -np 2 target/release/examples/mnist_mpi
//! ```
//!
//! (`--oversubscribe` for more ranks than cores, `--allow-run-as-root` as
//! root; `--hostfile hosts` or Slurm's `srun -n N` across machines: see the
//! README's "Training on several machines".) Every rank loads the bundled
//! MNIST subset, takes its own part of each shuffled epoch
//! (`DataLoader::shard`) and computes gradients on it; `DataParallel::step`
//! averages them across ranks before the Adam step, so every rank holds the
//! same model, bit for bit. Only rank 0 prints. The global batch (`--batch`)
//! is split across the ranks, so the run takes the same steps on any number
//! of ranks.
//!
//! Options: `--epochs N` (3), `--batch N` (128, global), `--hidden N` (128),
//! `--lr X` (1e-3), `--bucket-kib N` (4096, gradient bucket size).

#[path = "common/args.rs"]
mod args;

use flate2::read::GzDecoder;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;
use tapegrad::data::{DataLoader, Dataset, TensorDataset, read_idx};
use tapegrad::dist::DataParallel;
use tapegrad::nn::{Forward, Linear};
use tapegrad::optim::Adam;
use tapegrad::{Module, Tape, Tensor, Var};

struct Config {
    epochs: usize,
    batch: usize,
    hidden: usize,
    lr: f64,
    bucket_kib: usize,
}

fn config(a: &mut args::Args) -> Config {
    Config {
        epochs: a.value("--epochs", "N", "3", "passes over the training set"),
        batch: a.value(
            "--batch",
            "N",
            "128",
            "global batch size, split across the ranks",
        ),
        hidden: a.value("--hidden", "N", "128", "hidden layer width"),
        lr: a.value("--lr", "X", "1e-3", "Adam's learning rate"),
        bucket_kib: a.value(
            "--bucket-kib",
            "N",
            "4096",
            "gradient bucket size for the all-gather",
        ),
    }
}

#[derive(Module)]
struct Mlp {
    l1: Linear,
    l2: Linear,
}

impl Mlp {
    fn logits<'t>(&self, tape: &'t Tape, x: &Tensor) -> Var<'t> {
        let n = x.shape()[0];
        let x = tape.constant(x.reshape(&[n, 784]));
        self.l2.forward(self.l1.forward(x).relu())
    }
}

fn load(prefix: &str) -> TensorDataset {
    let read = |name: String| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/data/mnist")
            .join(name);
        let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        read_idx::<f32>(GzDecoder::new(BufReader::new(file)), &path)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let images =
        read(format!("{prefix}-images-idx3-ubyte.gz")).map(|p| (p / 255.0 - 0.1307) / 0.3081);
    TensorDataset::new(images, read(format!("{prefix}-labels-idx1-ubyte.gz")))
}

fn main() {
    let cfg = args::parse("mnist_mpi", "MNIST, data-parallel over MPI.", config);
    let dp = DataParallel::init()
        .unwrap_or_else(|e| panic!("{e}"))
        .bucket_bytes(cfg.bucket_kib << 10);
    let (rank, ranks) = (dp.rank(), dp.size());
    if cfg.batch % ranks != 0 {
        if dp.is_root() {
            eprintln!("--batch {} does not split across {ranks} ranks", cfg.batch);
        }
        std::process::exit(2);
    }
    let (train, test) = (load("train"), load("t10k"));
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(rank as u64);
    let mut model = Mlp {
        l1: Linear::new(784, cfg.hidden, &mut rng),
        l2: Linear::new(cfg.hidden, 10, &mut rng),
    };
    // Each rank initialised its own way: rank 0's weights win.
    dp.sync_model(&mut model).unwrap_or_else(|e| panic!("{e}"));
    let mut opt = Adam::new(cfg.lr);
    let mut loader = DataLoader::new(&train, cfg.batch / ranks)
        .shuffle(0)
        .drop_last(true)
        .shard(rank, ranks);
    if dp.is_root() {
        println!(
            "{ranks} ranks x batch {} ({} global), {} steps per epoch",
            cfg.batch / ranks,
            cfg.batch,
            loader.num_batches()
        );
    }
    let tape = Tape::new();
    let start = Instant::now();
    for epoch in 1..=cfg.epochs {
        let (mut sum, mut steps) = (0.0, 0);
        for b in loader.epoch() {
            let labels = b.labels();
            sum += dp.step(&mut model, &mut opt, |m: &Mlp| {
                m.logits(&tape, &b.inputs).cross_entropy(&labels)
            });
            steps += 1;
        }
        if dp.is_root() {
            println!(
                "epoch {epoch}: mean loss {:.4} ({:.1} s)",
                sum / steps as f64,
                start.elapsed().as_secs_f64()
            );
        }
    }
    if dp.is_root() {
        let tape = Tape::eval();
        let logits = model.logits(&tape, test.inputs()).value();
        let predicted = logits.argmax_axis(-1, false);
        let hits = predicted
            .as_slice()
            .iter()
            .zip(test.targets().as_slice())
            .filter(|(p, y)| p == y)
            .count();
        println!(
            "test accuracy {:.2}% ({} images)",
            100.0 * hits as f64 / test.len() as f64,
            test.len()
        );
    }
}
