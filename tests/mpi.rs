//! Data-parallel training over MPI (feature `mpi`), run under `mpirun`:
//!
//! ```sh
//! cargo test --release --features mpi --test mpi --no-run
//! mpirun -np 2 --oversubscribe target/release/deps/mpi-<hash>
//! ```
//!
//! One process per rank runs every check in turn (MPI starts once per
//! process, so this binary has its own `main`); a failing check aborts the
//! whole job (`MPI_Abort`), so no rank is left waiting for another.
//! Run as one process (no `mpirun`), the world is that process alone and
//! the checks still hold.

use flate2::read::GzDecoder;
use std::fs::File;
use std::io::BufReader;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use tapegrad::data::{DataLoader, TensorDataset, read_idx};
use tapegrad::dist::{DataParallel, parameters_fingerprint};
use tapegrad::nn::{Forward, Linear};
use tapegrad::optim::Adam;
use tapegrad::{Module, Param, Tape, Tensor, Var, train};

#[derive(Module, Clone)]
struct Mlp {
    l1: Linear,
    l2: Linear,
}

impl Mlp {
    fn new(seed: u64, hidden: usize) -> Self {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
        Mlp {
            l1: Linear::new(784, hidden, &mut rng),
            l2: Linear::new(hidden, 10, &mut rng),
        }
    }

    fn loss<'t>(&self, tape: &'t Tape, x: &Tensor, labels: &[usize]) -> Var<'t> {
        let n = x.shape()[0];
        let x = tape.constant(x.reshape(&[n, 784]));
        self.l2
            .forward(self.l1.forward(x).relu())
            .cross_entropy(labels)
    }
}

/// The bundled MNIST training subset, pixels scaled to 0..1.
fn mnist() -> TensorDataset {
    let read = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/data/mnist")
            .join(name);
        let file = File::open(&path).expect("bundled MNIST");
        read_idx::<f32>(GzDecoder::new(BufReader::new(file)), &path).expect("bundled MNIST parses")
    };
    let images = read("train-images-idx3-ubyte.gz").map(|p| p / 255.0);
    let labels = read("train-labels-idx1-ubyte.gz");
    TensorDataset::new(images, labels)
}

/// `n` ranks with batch 128 / n each take the steps one process takes with
/// batch 128: the same losses and final parameters, to float tolerance,
/// over 50 steps; the parameters are the same bits on every rank after
/// every step.
fn data_parallel_steps_match_one_process_with_the_whole_batch(dp: &DataParallel) {
    let data = mnist();
    let (steps, batch) = (50, 128);
    assert!(
        batch % dp.size() == 0,
        "run with a number of ranks that divides 128"
    );
    // The reference: this process alone, the whole batch.
    let mut whole = Mlp::new(1, 32);
    let mut opt = Adam::new(1e-3);
    let mut loader = DataLoader::new(&data, batch).shuffle(5).drop_last(true);
    let tape = Tape::new();
    let mut reference = Vec::new();
    for b in loader.epoch().take(steps) {
        let labels = b.labels();
        reference.push(train::step(&mut whole, &mut opt, |m: &Mlp| {
            m.loss(&tape, &b.inputs, &labels)
        }));
    }
    // Data-parallel: this rank's share of each batch.
    let mut model = Mlp::new(1 + dp.rank() as u64, 32); // different on purpose: sync fixes it
    dp.sync_model(&mut model)
        .expect("same architecture on every rank");
    let mut opt = Adam::new(1e-3);
    let mut loader = DataLoader::new(&data, batch / dp.size())
        .shuffle(5)
        .drop_last(true)
        .shard(dp.rank(), dp.size());
    let tape = Tape::new();
    for (k, b) in loader.epoch().take(steps).enumerate() {
        let labels = b.labels();
        let loss = dp.step(&mut model, &mut opt, |m: &Mlp| {
            m.loss(&tape, &b.inputs, &labels)
        });
        let want = f64::from(reference[k]);
        assert!(
            (loss - want).abs() <= 1e-5 * want.abs().max(1.0),
            "step {k}: loss {loss} on {} ranks, {want} on one",
            dp.size()
        );
        dp.agree("parameters' bits", parameters_fingerprint(&model))
            .unwrap_or_else(|e| panic!("step {k}: {e}"));
    }
    let mut worst = 0.0f32;
    for (a, b) in model.parameters().iter().zip(whole.parameters()) {
        for (x, y) in a.value().as_slice().iter().zip(b.value().as_slice()) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst < 1e-5, "final parameters differ by up to {worst}");
}

/// A NaN on one rank only: every rank sees the NaN loss (no rank waits
/// for another), and a rollback that every rank then takes leaves them
/// equal and finite.
fn a_nan_on_one_rank_is_seen_by_all_and_rolled_back_together(dp: &DataParallel) {
    let data = mnist();
    let mut model = Mlp::new(3, 16);
    dp.sync_model(&mut model).unwrap();
    let mut opt = Adam::new(1e-3);
    let mut loader = DataLoader::new(&data, 32).shard(dp.rank(), dp.size());
    let tape = Tape::new();
    let last = dp.size() - 1;
    for (k, b) in loader.epoch().take(6).enumerate() {
        let labels = b.labels();
        let snapshot = (model.clone(), opt.clone());
        let poison = k == 3 && dp.rank() == last;
        let loss = dp.step(&mut model, &mut opt, |m: &Mlp| {
            let l = m.loss(&tape, &b.inputs, &labels);
            if poison { l * f32::NAN } else { l }
        });
        assert_eq!(
            loss.is_nan(),
            k == 3,
            "step {k} on rank {}: loss {loss}",
            dp.rank()
        );
        if loss.is_nan() {
            (model, opt) = snapshot; // the optimiser's moments too
        }
        let fp = parameters_fingerprint(&model);
        dp.agree("parameters after the step", fp)
            .unwrap_or_else(|e| panic!("step {k}: {e}"));
    }
    assert!(
        model
            .parameters()
            .iter()
            .all(|p| p.value().as_slice().iter().all(|v| v.is_finite()))
    );
}

/// Models built differently (another width on one rank) are refused on
/// every rank with a clear error, and left as they were.
fn different_models_are_refused_on_every_rank(dp: &DataParallel) {
    if dp.size() < 2 {
        return;
    }
    let hidden = if dp.rank() == 1 { 17 } else { 16 };
    let mut model = Mlp::new(9, hidden);
    let before = parameters_fingerprint(&model);
    let err = dp
        .sync_model(&mut model)
        .expect_err("different models must be refused");
    assert_eq!(
        err.to_string(),
        "distributed: ranks [1] disagree with rank 0 on the models (parameter names and shapes)"
    );
    assert_eq!(
        parameters_fingerprint(&model),
        before,
        "a refused sync changed the model"
    );
    let seed_check = dp.agree("seed", 40 + dp.rank() as u64);
    assert!(seed_check.is_err());
}

/// The average is `(g₀ + ... + gₙ₋₁) / n` by hand, the same whatever the
/// bucket size (here 12 bytes: three f32 per bucket, so tensors split).
fn gradients_average_by_hand_in_any_bucket_size(dp: &DataParallel) {
    #[derive(Module)]
    struct Two {
        a: Param,
        b: Param,
    }
    let model = Two {
        a: Param::new("a", Tensor::zeros(&[5])),
        b: Param::new("b", Tensor::zeros(&[2, 2])),
    };
    let grads_of_rank = |dp: &DataParallel| {
        let tape = Tape::new();
        let r = dp.rank() as f32 + 1.0;
        // d/da (r a . [1, 2, 3, 4, 5]) = r [1, 2, 3, 4, 5]; d/db sum(r² b) = r².
        let w = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0], &[5]).unwrap());
        let loss = (tape.param(&model.a) * w * r).sum() + (tape.param(&model.b) * (r * r)).sum();
        loss.backward()
    };
    let n = dp.size() as f32;
    let mean_r = (1..=dp.size()).map(|r| r as f32).sum::<f32>() / n;
    let mean_r2 = (1..=dp.size()).map(|r| (r * r) as f32).sum::<f32>() / n;
    let mut big = grads_of_rank(dp);
    dp.average_gradients(&model, &mut big);
    let expected: Vec<f32> = (1..=5).map(|i| i as f32 * mean_r).collect();
    assert_eq!(big.of(&model.a).to_vec(), expected);
    assert_eq!(big.of(&model.b).to_vec(), vec![mean_r2; 4]);
    // The same through buckets of three elements: 3 buckets for 9 numbers.
    let small_dp_buckets = {
        let mut small = grads_of_rank(dp);
        let buckets = dp.average_gradients_in(&model, &mut small, 12);
        assert_eq!(small.of(&model.a).to_vec(), big.of(&model.a).to_vec());
        assert_eq!(small.of(&model.b).to_vec(), big.of(&model.b).to_vec());
        buckets
    };
    assert_eq!(small_dp_buckets, if dp.size() == 1 { 0 } else { 3 });
}

/// A check every rank runs.
type Check = fn(&DataParallel);

fn main() {
    let dp = DataParallel::init().expect("MPI starts");
    let checks: [(&str, Check); 4] = [
        (
            "data_parallel_steps_match_one_process_with_the_whole_batch",
            data_parallel_steps_match_one_process_with_the_whole_batch,
        ),
        (
            "a_nan_on_one_rank_is_seen_by_all_and_rolled_back_together",
            a_nan_on_one_rank_is_seen_by_all_and_rolled_back_together,
        ),
        (
            "different_models_are_refused_on_every_rank",
            different_models_are_refused_on_every_rank,
        ),
        (
            "gradients_average_by_hand_in_any_bucket_size",
            gradients_average_by_hand_in_any_bucket_size,
        ),
    ];
    for (name, check) in checks {
        if catch_unwind(AssertUnwindSafe(|| check(&dp))).is_err() {
            eprintln!("rank {} of {}: {name} FAILED", dp.rank(), dp.size());
            dp.abort(1);
        }
        dp.barrier();
        if dp.is_root() {
            println!("{name} ... ok ({} ranks)", dp.size());
        }
    }
}
