//! W3: square f32 matrix multiply, reported as GFLOP/s (2 n^3 per product).
//!
//! Run at one and two threads:
//! `RAYON_NUM_THREADS=1 cargo bench --bench matmul` and
//! `RAYON_NUM_THREADS=2 cargo bench --bench matmul`.
//!
//! The `fma_peak` group measures the limit the GEMM figures are judged
//! against: the FLOP rate of a loop of independent fused multiply-adds on
//! the widest vectors the CPU has (8 f32 lanes with AVX2), on one thread
//! and on every thread of the pool. It reports FLOP/s the same way (two
//! FLOPs per multiply-add).
//!
//! The `w2_products` group times, one at a time, the eight products a W2
//! training step makes (see `mlp.rs`), with the operand layouts the linear
//! layer uses, so that the step's time can be set against its GEMM rate.

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

/// Independent accumulators: enough to cover the FMA latency (4-5 cycles)
/// times the units (2) with vectors of 8 lanes, so the loop is bound by
/// throughput, not by the dependency chain.
const ACCUMULATORS: usize = 12;
/// Lanes per accumulator: one AVX2 vector of f32.
const LANES: usize = 8;
/// Loop trips per measured call.
const TRIPS: usize = 1 << 16;

/// `TRIPS` rounds of `acc = acc * a + b` on `ACCUMULATORS x LANES`
/// independent values. `with_simd` is inlined into pulp's function compiled
/// for AVX2 + FMA (where the CPU has them), so the multiply-adds become
/// `vfmadd` on 8-lane registers.
struct FmaLoop {
    a: f32,
    b: f32,
}

impl pulp::WithSimd for FmaLoop {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f32 {
        let (a, b) = (self.a, self.b);
        let mut acc = [[1.0f32; LANES]; ACCUMULATORS];
        for _ in 0..TRIPS {
            for row in acc.iter_mut() {
                for x in row.iter_mut() {
                    *x = x.mul_add(a, b);
                }
            }
        }
        acc.iter().flatten().sum()
    }
}

fn fma_loop(a: f32, b: f32) -> f32 {
    pulp::Arch::new().dispatch(FmaLoop { a, b })
}

fn fma_peak(c: &mut Criterion) {
    let mut group = c.benchmark_group("fma_peak");
    let flops_per_call = (2 * ACCUMULATORS * LANES * TRIPS) as u64;
    let threads = rayon::current_num_threads();
    // a and b keep the values bounded (x -> 0.5 x + 0.5 has fixed point 1).
    group.throughput(Throughput::Elements(flops_per_call));
    group.bench_function("1_thread", |bench| {
        bench.iter(|| black_box(fma_loop(black_box(0.5), black_box(0.5))))
    });
    group.throughput(Throughput::Elements(flops_per_call * threads as u64));
    group.bench_function(BenchmarkId::new("all_threads", threads), |bench| {
        bench.iter(|| {
            rayon::broadcast(|_| black_box(fma_loop(black_box(0.5), black_box(0.5))));
        })
    });
    group.finish();
}

/// The products of one W2 step (784-512-512-10, batch 128, see `mlp.rs`),
/// one at a time, as the linear layer issues them: the forward `x W^T`
/// reads the weight transposed in place, the weight gradient `g^T x` reads
/// the output gradient transposed, the input gradient `g W` is row-major.
/// Shows which shapes a GEMM kernel handles well; FLOP/s as above.
fn w2_products(c: &mut Criterion) {
    use tapegrad::tensor::{MatLayout, gemm_into};
    const BATCH: usize = 128;
    let mut group = c.benchmark_group("w2_products");
    let mut rng = StdRng::seed_from_u64(7);
    let mut run = |name: &str, (m, n, k): (usize, usize, usize), la, lb| {
        let a = Tensor::<f32>::randn(&[m * k], &mut rng).to_vec();
        let b = Tensor::<f32>::randn(&[k * n], &mut rng).to_vec();
        let mut dst = vec![0.0f32; m * n];
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        group.bench_function(name, |bench| {
            bench.iter(|| {
                gemm_into(
                    m,
                    n,
                    k,
                    &mut dst,
                    black_box(&a),
                    la,
                    black_box(&b),
                    lb,
                    false,
                )
            })
        });
    };
    for (i, (fan_in, fan_out)) in [(784, 512), (512, 512), (512, 10)].into_iter().enumerate() {
        let l = i + 1;
        // y [B, out] = x [B, in] W^T (W is [out, in]).
        run(
            &format!("l{l}_forward_{BATCH}x{fan_in}x{fan_out}"),
            (BATCH, fan_out, fan_in),
            MatLayout::row_major(fan_in),
            MatLayout::transposed(fan_in),
        );
        // dW [out, in] = g^T x (g is [B, out]).
        run(
            &format!("l{l}_weight_grad"),
            (fan_out, fan_in, BATCH),
            MatLayout::transposed(fan_out),
            MatLayout::row_major(fan_in),
        );
        // dx [B, in] = g W; the first layer's input needs none.
        if l > 1 {
            run(
                &format!("l{l}_input_grad"),
                (BATCH, fan_in, fan_out),
                MatLayout::row_major(fan_out),
                MatLayout::row_major(fan_in),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, matmul, fma_peak, w2_products);
criterion_main!(benches);
