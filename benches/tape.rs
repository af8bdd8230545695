//! W1: tape overhead. A one-element var goes 1000 times through
//! `y = tanh(y * 1.01 + 0.1)` (3 recorded ops per iteration), then `sum` and
//! backward. Divide the reported time by 3000 for nanoseconds per recorded op
//! (forward plus backward).
//!
//! `RAYON_NUM_THREADS=1 cargo bench --bench tape`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tapegrad::{Tape, Tensor};

const STEPS: usize = 1000;

/// Records the W1 chain on `tape`, backpropagates, and returns dy/dx.
fn run_chain(tape: &Tape<f32>) -> f32 {
    let x = tape.var(Tensor::from_vec(vec![0.5], &[1]).unwrap());
    let mut y = x;
    for _ in 0..STEPS {
        y = (y * 1.01 + 0.1).tanh();
    }
    y.sum().backward().wrt(x).item()
}

fn chain(c: &mut Criterion) {
    let mut group = c.benchmark_group("tape");
    // Throughput in "elements" = recorded ops, so criterion prints ops/s.
    group.throughput(Throughput::Elements(3 * STEPS as u64));
    group.bench_function("tanh_chain_1000_fresh_tape", |b| {
        b.iter(|| black_box(run_chain(&Tape::new())))
    });
    group.bench_function("tanh_chain_1000_reused_tape", |b| {
        let mut tape = Tape::<f32>::new();
        b.iter(|| {
            tape.reset();
            black_box(run_chain(&tape))
        })
    });
    group.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
