//! Issue 17's cost target: a Hessian-vector product against one gradient,
//! on a 784-256-10 ReLU MLP with mean cross-entropy over a batch of 128,
//! with respect to the first layer's weight (200,704 elements).
//!
//! - `gradient`: forward, backward (the plain sweep);
//! - `hvp`: forward, the recorded gradient (`Tape::grad`), `<g, v>`, and a
//!   plain backward through it: `H v`, reverse over reverse.
//!
//! The ratio of the two is the figure (target: at most 4).
//!
//! `RAYON_NUM_THREADS=1 taskset -c 0 cargo bench --bench hvp`

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::hint::black_box;
use tapegrad::{Tape, Tensor, Var};

struct Mlp {
    x: Tensor<f32>,
    y: Vec<usize>,
    w1: Tensor<f32>,
    b1: Tensor<f32>,
    w2: Tensor<f32>,
    b2: Tensor<f32>,
}

impl Mlp {
    fn new() -> Self {
        let mut rng = StdRng::seed_from_u64(17);
        let mut u = |dims: &[usize], s: f32| Tensor::rand_uniform(dims, -s, s, &mut rng);
        Mlp {
            x: u(&[128, 784], 1.0),
            y: (0..128).map(|i| (i * 7) % 10).collect(),
            w1: u(&[256, 784], 0.036),
            b1: u(&[256], 0.036),
            w2: u(&[10, 256], 0.0625),
            b2: u(&[10], 0.0625),
        }
    }

    /// The loss as a function of the first layer's weight `w1`.
    fn loss<'t>(&self, w1: Var<'t, f32>) -> Var<'t, f32> {
        let tape = w1.tape();
        let c = |t: &Tensor<f32>| tape.constant(t.clone());
        let h = c(&self.x).linear(w1, Some(c(&self.b1))).relu();
        h.linear(c(&self.w2), Some(c(&self.b2)))
            .cross_entropy(&self.y)
    }
}

fn hvp(c: &mut Criterion) {
    let mlp = Mlp::new();
    let v = Tensor::<f32>::rand_uniform(&[256, 784], -1.0, 1.0, &mut StdRng::seed_from_u64(3));
    let mut group = c.benchmark_group("hvp_mlp_784_256_10_b128");
    group.bench_function("gradient", |b| {
        let mut tape = Tape::<f32>::new();
        b.iter(|| {
            tape.reset();
            let w1 = tape.var(mlp.w1.clone());
            let g = mlp.loss(w1).backward();
            black_box(g.wrt(w1).as_slice()[0])
        })
    });
    group.bench_function("hvp", |b| {
        let mut tape = Tape::<f32>::new();
        b.iter(|| {
            tape.reset();
            let w1 = tape.var(mlp.w1.clone());
            let g = tape.grad(mlp.loss(w1), &[w1])[0];
            let hv = (g * tape.constant(v.clone())).sum().backward();
            black_box(hv.wrt(w1).as_slice()[0])
        })
    });
    group.finish();
}

criterion_group!(benches, hvp);
criterion_main!(benches);
