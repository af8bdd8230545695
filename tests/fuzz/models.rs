//! The models the weight and checkpoint targets load into, and exact
//! snapshots of what a load may change: every parameter and buffer (name,
//! shape, bits, trainable flag) and an optimiser's whole state (every
//! number as its bits), so that "unchanged" means bit for bit, NaN
//! included. Also the short training run that gives checkpoints (and a
//! history) to start from.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use tapegrad::data::{Batch, DataLoader, TensorDataset};
use tapegrad::nn::{BatchNorm1d, Forward, Linear, Relu, Sequential};
use tapegrad::optim::{Adam, Optimizer, OptimizerState};
use tapegrad::schedule::{PlateauOptions, ReduceLrOnPlateau};
use tapegrad::train::{
    Callback, Context, Control, History, Record, StepOutput, TrainState, Trainer,
};
use tapegrad::{Module, Tape, Tensor};

/// Two linear layers around a batch norm (parameters and buffers).
#[derive(Module)]
pub struct Small {
    pub fc1: Linear,
    pub bn: BatchNorm1d,
    pub fc2: Linear,
}

/// The PyTorch fixture's model (`tests/fixtures/batch_norm.safetensors`).
#[derive(Module)]
pub struct Torch {
    pub fc: Linear,
    pub bn: BatchNorm1d,
}

/// One 64 x 64 layer: a seed of 16 KiB, so that caps proportional to the
/// file's length are tested beyond their constant.
#[derive(Module)]
pub struct Wide {
    pub fc: Linear,
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn small(seed: u64) -> Small {
    let mut r = rng(seed);
    Small {
        fc1: Linear::new(3, 4, &mut r),
        bn: BatchNorm1d::new(4),
        fc2: Linear::new(4, 2, &mut r),
    }
}

pub fn torch(seed: u64) -> Torch {
    Torch {
        fc: Linear::new(3, 2, &mut rng(seed)),
        bn: BatchNorm1d::new(2),
    }
}

pub fn wide(seed: u64) -> Wide {
    Wide {
        fc: Linear::new(64, 64, &mut rng(seed)),
    }
}

/// One tensor of a model as it stands: shape, bits, trainable flag
/// (`None` for a buffer).
pub type Entry = (Vec<usize>, Vec<u32>, Option<bool>);

/// Every parameter and buffer of `model` by dotted name.
pub fn snapshot(model: &dyn Module<f32>) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    model.visit("", &mut |name, p| {
        let bits = p.value().as_slice().iter().map(|v| v.to_bits()).collect();
        out.insert(
            name.to_owned(),
            (p.shape().to_vec(), bits, Some(p.is_trainable())),
        );
    });
    model.visit_buffers("", &mut |name, b| {
        let bits = b.as_slice().iter().map(|v| v.to_bits()).collect();
        out.insert(name.to_owned(), (b.shape().to_vec(), bits, None));
    });
    out
}

/// An optimiser's state as bytes, every number by its bits.
pub fn state_bytes(s: &OptimizerState<f32>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |b: &[u8]| {
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
    };
    put(s.optimizer.as_bytes());
    put(&s.steps.to_le_bytes());
    put(&s.lr.to_bits().to_le_bytes());
    for (k, v) in &s.hyperparameters {
        put(k.as_bytes());
        put(&v.to_bits().to_le_bytes());
    }
    for (param, ps) in &s.params {
        put(param.as_bytes());
        put(&ps.step.to_le_bytes());
        for (name, t) in &ps.tensors {
            put(name.as_bytes());
            for d in t.shape() {
                put(&d.to_le_bytes());
            }
            let bits: Vec<u8> = t
                .as_slice()
                .iter()
                .flat_map(|v| v.to_bits().to_le_bytes())
                .collect();
            put(&bits);
        }
    }
    out
}

/// The names whose entries differ between two snapshots.
pub fn changed(before: &BTreeMap<String, Entry>, after: &BTreeMap<String, Entry>) -> Vec<String> {
    let mut names: Vec<String> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    names.extend(after.keys().filter(|k| !before.contains_key(*k)).cloned());
    names
}

/// A model for checkpoints: three linear layers and a batch norm (`width`
/// 2 gives a file of about 3 KiB with Adam's state, `width` 64 one of
/// about 60 KiB).
pub fn sequential(width: usize, seed: u64) -> Sequential {
    let mut r = rng(seed);
    Sequential::new()
        .add(Linear::new(2, width, &mut r))
        .add(BatchNorm1d::new(width))
        .add(Relu)
        .add(Linear::new(width, width, &mut r))
        .add(Relu)
        .add(Linear::new(width, 3, &mut r))
}

/// Stops the run once it has taken this many steps.
struct StopAt(usize);

impl Callback for StopAt {
    fn on_step_end(&mut self, ctx: &mut Context<'_>, _: &Record) -> tapegrad::Result<Control> {
        Ok(if ctx.state.step >= self.0 {
            Control::Stop
        } else {
            Control::Continue
        })
    }
}

/// Trains `model` with `opt` under a plateau schedule for `steps` steps
/// (stopping mid-epoch, so that the state has epoch sums with a metric and
/// the schedule's observations); the run's state and history.
pub fn train(
    model: &mut Sequential,
    opt: &mut Adam,
    data_seed: u64,
    steps: usize,
) -> (TrainState, History) {
    let mut r = rng(data_seed);
    let x = Tensor::<f32>::randn(&[10, 2], &mut r);
    let y: Vec<f32> = (0..10).map(|i| (i % 3) as f32).collect();
    let data = TensorDataset::new(x, Tensor::from_vec(y, &[10]).unwrap());
    let mut loader = DataLoader::new(&data, 4).shuffle(data_seed);
    let plateau = ReduceLrOnPlateau::new(opt.lr(), PlateauOptions::default()).unwrap();
    let mut trainer = Trainer::new(100)
        .seed(data_seed)
        .schedule(plateau)
        .callback(StopAt(steps))
        .quiet();
    let history = trainer
        .fit(
            model,
            opt,
            &mut loader,
            |m: &Sequential, tape: &Tape, batch: &Batch| {
                let logits = m.forward(tape.constant(batch.inputs.clone()));
                let labels = batch.labels();
                StepOutput::new(logits.cross_entropy(&labels))
                    .accuracy(logits, &labels)
                    .metric("half", 0.5)
            },
        )
        .unwrap();
    (trainer.state().unwrap().clone(), history)
}
