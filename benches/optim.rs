//! W5: one Adam step over 10 million f32 parameters in 10 tensors of 1M,
//! with given gradients; ms per step. Settings as the peer scripts
//! (`../shared/peers/py/common.py`): parameters `randn · 0.01`, gradients
//! `randn · 1e-3`, lr 1e-3, betas (0.9, 0.999), eps 1e-8.
//!
//! Adam reads the parameter, the gradient and two moments and writes the
//! parameter and the moments: 28 bytes per parameter, so this measures how
//! close the fused kernel comes to memory bandwidth.
//!
//! `RAYON_NUM_THREADS=1 cargo bench --bench optim` and
//! `RAYON_NUM_THREADS=2 cargo bench --bench optim`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;
use tapegrad::optim::{Adam, Optimizer};
use tapegrad::{Param, Tape, Tensor};

const TENSORS: usize = 10;
const SIZE: usize = 1_000_000;

fn adam_step(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut params: Vec<Param<f32>> = (0..TENSORS)
        .map(|i| {
            Param::new(
                format!("p{i}"),
                Tensor::randn(&[SIZE], &mut rng).scale(0.01),
            )
        })
        .collect();
    let given: Vec<Tensor<f32>> = (0..TENSORS)
        .map(|_| Tensor::randn(&[SIZE], &mut rng).scale(1e-3))
        .collect();
    // The gradient of Σ_i Σ p_i · g_i with respect to p_i is g_i.
    let grads = {
        let tape = Tape::new();
        let mut loss = tape.constant(Tensor::scalar(0.0));
        for (p, g) in params.iter().zip(&given) {
            loss = loss + (tape.param(p) * tape.constant(g.clone())).sum();
        }
        loss.backward()
    };
    let mut opt = Adam::new(1e-3).betas(0.9, 0.999).eps(1e-8);
    // The first step allocates the moments; time the steady state.
    opt.step(&mut params, &grads);

    let mut group = c.benchmark_group("optim");
    group.throughput(Throughput::Elements((TENSORS * SIZE) as u64));
    group.sample_size(30);
    group.bench_function("adam_step_10x1M_f32", |b| {
        b.iter(|| opt.step(black_box(&mut params), black_box(&grads)))
    });
    group.finish();
}

criterion_group!(benches, adam_step);
criterion_main!(benches);
