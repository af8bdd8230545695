//! W4: one training step of a small CNN on a batch of 64 x 1 x 28 x 28:
//! conv 1->16 3x3 + ReLU + max-pool 2; conv 16->32 3x3 + ReLU + max-pool 2;
//! flatten (800) -> linear 10; mean cross-entropy; backward; SGD (lr 0.01).
//! ms per step. Same definition as the peers' `cnn_step`
//! (`../shared/peers/py/bench_torch.py`); inputs as in `benches/common`.
//!
//! `RAYON_NUM_THREADS=1 taskset -c 0 cargo bench --bench cnn` and
//! `RAYON_NUM_THREADS=2 cargo bench --bench cnn`.

mod common;

use common::Inputs;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tapegrad::ops::Conv2dOptions;
use tapegrad::optim::Sgd;
use tapegrad::{Param, Tape, Tensor, train};

const BATCH: usize = 64;
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
        let conv = Conv2dOptions::default();
        let h = tape.constant(x.clone()).conv2d(p(0), Some(p(1)), conv);
        let h = h.relu().max_pool2d((2, 2), (2, 2), (0, 0));
        let h = h.conv2d(p(2), Some(p(3)), conv).relu();
        let h = h
            .max_pool2d((2, 2), (2, 2), (0, 0))
            .reshape(&[BATCH, 32 * 5 * 5]);
        h.linear(p(4), Some(p(5))).cross_entropy(y)
    })
}

fn cnn_step(c: &mut Criterion) {
    let mut inputs = Inputs::new(1234);
    let layers: [(&str, &[usize], usize); 3] = [
        ("cnn_c1", &[16, 1, 3, 3], 9),
        ("cnn_c2", &[32, 16, 3, 3], 16 * 9),
        ("cnn_fc", &[10, 800], 800),
    ];
    let mut params = Vec::new();
    for (name, dims, fan_in) in layers {
        let (w, b) = inputs.layer(name, dims, fan_in);
        params.push(Param::new(format!("{name}.weight"), w));
        params.push(Param::new(format!("{name}.bias"), b));
    }
    let x = inputs.f32("cnn_x", &[BATCH, 1, 28, 28], common::Init::Normal(1.0));
    let y = inputs.labels("cnn_y", &[BATCH], 10);
    let mut opt = Sgd::new(LR);
    let mut tape = Tape::new();
    let loss0 = step(&mut tape, &mut params, &x, &y, &mut opt);
    eprintln!("check: W4 loss0 = {loss0}");
    common::profile_steps("W4", &mut tape, |t| {
        step(t, &mut params, &x, &y, &mut opt);
    });

    let mut group = c.benchmark_group("cnn");
    group.bench_function("step_b64_28x28", |b| {
        b.iter(|| black_box(step(&mut tape, &mut params, &x, &y, &mut opt)))
    });
    group.finish();
}

criterion_group!(benches, cnn_step);
criterion_main!(benches);
