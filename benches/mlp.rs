//! W2: one training step of a 784-512-512-10 ReLU MLP on a batch of 128:
//! forward, mean cross-entropy from the logits, backward, SGD (lr 0.01).
//! ms per step. Same definition as the peers' `mlp_step`
//! (`../shared/peers/py/bench_torch.py`): weights `[out, in]` and inputs as
//! `make_data.py` draws them (or reads them with `PEER_DATA`, see
//! `benches/common`).
//!
//! The tape is reset and reused between steps, the steady state of a
//! training loop.
//!
//! `RAYON_NUM_THREADS=1 taskset -c 0 cargo bench --bench mlp` and
//! `RAYON_NUM_THREADS=2 cargo bench --bench mlp`.

mod common;

use common::Inputs;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tapegrad::optim::Sgd;
use tapegrad::{Param, Tape, Tensor, train};

const DIMS: [usize; 4] = [784, 512, 512, 10];
const BATCH: usize = 128;
const LR: f64 = 0.01;

/// One step through [`train::step`] (the tape, reused, is reset before the
/// update, so the update writes in place); returns the loss before the
/// update.
fn step(
    tape: &mut Tape<f32>,
    params: &mut Vec<Param<f32>>,
    x: &Tensor<f32>,
    y: &[usize],
    opt: &mut Sgd<f32>,
) -> f32 {
    let tape = &*tape;
    train::step(params, opt, |params| {
        let p = |i: usize| tape.param(&params[i]);
        let h = tape.constant(x.clone()).linear(p(0), Some(p(1))).relu();
        let h = h.linear(p(2), Some(p(3))).relu();
        h.linear(p(4), Some(p(5))).cross_entropy(y)
    })
}

fn mlp_step(c: &mut Criterion) {
    let mut inputs = Inputs::new(1234);
    let mut params = Vec::new();
    for i in 0..3 {
        let (w, b) = inputs.layer(&format!("mlp_l{}", i + 1), &[DIMS[i + 1], DIMS[i]], DIMS[i]);
        params.push(Param::new(format!("l{}.weight", i + 1), w));
        params.push(Param::new(format!("l{}.bias", i + 1), b));
    }
    let x = inputs.f32("mlp_x", &[BATCH, DIMS[0]], common::Init::Normal(1.0));
    let y = inputs.labels("mlp_y", &[BATCH], DIMS[3]);
    let mut opt = Sgd::new(LR);
    let mut tape = Tape::new();
    let loss0 = step(&mut tape, &mut params, &x, &y, &mut opt);
    eprintln!("check: W2 loss0 = {loss0}");
    common::profile_steps("W2", &mut tape, |t| {
        step(t, &mut params, &x, &y, &mut opt);
    });

    let mut group = c.benchmark_group("mlp");
    group.bench_function("step_784_512_512_10_b128", |b| {
        b.iter(|| black_box(step(&mut tape, &mut params, &x, &y, &mut opt)))
    });
    group.finish();
}

criterion_group!(benches, mlp_step);
criterion_main!(benches);
