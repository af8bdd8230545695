//! W3: square f32 matrix multiply, reported as GFLOP/s (2 n^3 per product).
//!
//! Run at one and two threads:
//! `RAYON_NUM_THREADS=1 cargo bench --bench matmul` and
//! `RAYON_NUM_THREADS=2 cargo bench --bench matmul`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;
use tapegrad::Tensor;

fn matmul(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul_f32");
    let mut rng = StdRng::seed_from_u64(42);
    for n in [64usize, 256, 1024] {
        let a = Tensor::<f32>::randn(&[n, n], &mut rng);
        let b = Tensor::<f32>::randn(&[n, n], &mut rng);
        // Criterion's "elements per second" is FLOP/s here.
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        if n >= 1024 {
            group.sample_size(20);
        }
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
            bench.iter(|| black_box(a.matmul(black_box(&b))))
        });
    }
    group.finish();
}

criterion_group!(benches, matmul);
criterion_main!(benches);
