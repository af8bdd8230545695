//! Issue 15's figures, under `mpirun` (feature `mpi`):
//!
//! - the gradient average (`DataParallel::average_gradients`) per step at
//!   W2's parameter shapes (MLP 784-512-512-10: 669,706 numbers) and W6's
//!   (the char transformer: 421,632), for bucket sizes from 64 KiB to
//!   16 MiB;
//! - a W2 step (batch 128 in all: 128 / ranks per rank, mean cross-entropy,
//!   backward, the average, SGD) on 1 rank and on 2: the scaling.
//!
//! ```sh
//! cargo bench --features mpi --bench allreduce --no-run
//! RAYON_NUM_THREADS=1 mpirun -np 1 <dir>/release/deps/allreduce-*
//! RAYON_NUM_THREADS=1 mpirun -np 2 <dir>/release/deps/allreduce-*
//! ```
//!
//! Rank 0 prints the median of the timed repetitions. (Not a criterion
//! bench: every rank must run the same repetitions in step.)

use std::time::Instant;
use tapegrad::dist::DataParallel;
use tapegrad::nn::{Forward, Linear};
use tapegrad::optim::Sgd;
use tapegrad::{Module, Param, Tape, Tensor};

const W2: [&[usize]; 6] = [&[512, 784], &[512], &[512, 512], &[512], &[10, 512], &[10]];
const W6_BLOCK: [&[usize]; 12] = [
    &[128],
    &[128],
    &[384, 128],
    &[384],
    &[128, 128],
    &[128],
    &[128],
    &[128],
    &[512, 128],
    &[512],
    &[128, 512],
    &[128],
];

fn w6_shapes() -> Vec<Vec<usize>> {
    let mut shapes = vec![vec![65, 128], vec![64, 128]];
    for _ in 0..2 {
        shapes.extend(W6_BLOCK.iter().map(|s| s.to_vec()));
    }
    shapes.extend([vec![128], vec![128], vec![65, 128]]);
    shapes
}

/// Median seconds of `reps` runs of `f`, every rank in step.
fn median(dp: &DataParallel, reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            dp.barrier();
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[reps / 2]
}

fn average_cost(dp: &DataParallel, name: &str, shapes: &[Vec<usize>]) {
    let params: Vec<Param> = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| Param::new(format!("p{k}"), Tensor::zeros(s)))
        .collect();
    let count: usize = shapes.iter().map(|s| s.iter().product::<usize>()).sum();
    let tape = Tape::new();
    let loss = params
        .iter()
        .map(|p| tape.param(p).sum())
        .reduce(|a, b| a + b)
        .expect("parameters");
    let grads = loss.backward();
    for kib in [64, 256, 1024, 4096, 16384] {
        let t = median(dp, 41, || {
            let mut g = grads.clone();
            dp.average_gradients_in(&params, &mut g, kib << 10);
        });
        let buckets = dp.average_gradients_in(&params, &mut grads.clone(), kib << 10);
        if dp.is_root() {
            println!(
                "average {name} ({count} numbers), bucket {kib} KiB ({buckets} buckets), {} ranks: {:.3} ms",
                dp.size(),
                t * 1e3
            );
        }
    }
}

#[derive(Module)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

fn w2_step(dp: &DataParallel) {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
    let mut model = Mlp {
        l1: Linear::new(784, 512, &mut rng),
        l2: Linear::new(512, 512, &mut rng),
        l3: Linear::new(512, 10, &mut rng),
    };
    dp.sync_model(&mut model).expect("same model");
    let mut opt = Sgd::new(0.01);
    let per_rank = 128 / dp.size();
    let x: Vec<f32> = (0..per_rank * 784)
        .map(|i| ((i * 31 % 97) as f32) / 97.0)
        .collect();
    let x = Tensor::from_vec(x, &[per_rank, 784]).expect("shape");
    let labels: Vec<usize> = (0..per_rank).map(|i| (i * 7 + dp.rank()) % 10).collect();
    let tape = Tape::new();
    let t = median(dp, 51, || {
        dp.step(&mut model, &mut opt, |m: &Mlp| {
            let h =
                m.l2.forward(m.l1.forward(tape.constant(x.clone())).relu())
                    .relu();
            m.l3.forward(h).cross_entropy(&labels)
        });
    });
    if dp.is_root() {
        println!(
            "W2 step, batch {per_rank} x {} ranks: {:.3} ms",
            dp.size(),
            t * 1e3
        );
    }
}

fn main() {
    let dp = DataParallel::init().expect("MPI starts");
    let w2: Vec<Vec<usize>> = W2.iter().map(|s| s.to_vec()).collect();
    average_cost(&dp, "W2", &w2);
    average_cost(&dp, "W6", &w6_shapes());
    w2_step(&dp);
}
