//! Resuming is bit-identical at every stop point, also with a schedule
//! that reads the epoch's mean loss ([`ReduceLrOnPlateau`] without a
//! validation set).
//!
//! Before the running epoch sums travelled in the checkpoint, a resumed
//! epoch's mean covered only the batches run after the resume: after a
//! checkpoint taken right after an epoch's last batch it was 0/0 = NaN,
//! which the plateau schedule counted as a bad epoch and cut the rate on.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::PathBuf;
use tapegrad::data::{Batch, DataLoader, TensorDataset};
use tapegrad::nn::{Dropout, Forward, Linear, Relu, Sequential};
use tapegrad::optim::Adam;
use tapegrad::schedule::{PlateauOptions, ReduceLrOnPlateau};
use tapegrad::train::load_checkpoint;
use tapegrad::train::{
    Callback, Checkpoint, Context, Control, History, Record, StepOutput, TrainState, Trainer,
};
use tapegrad::{Module, Tape, Tensor};

/// 20 points of three classes: with batches of 6, four batches an epoch,
/// the last of 2 (so the epoch mean weights batches unequally).
fn data() -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(4);
    let noise = Tensor::<f32>::randn(&[20, 2], &mut rng);
    let centres = [[0.0, 1.5], [1.5, -1.0], [-1.5, -1.0]];
    let x: Vec<f32> = (0..40)
        .map(|i| centres[(i / 2) % 3][i % 2] + 0.8 * noise.as_slice()[i])
        .collect();
    let y: Vec<f32> = (0..20).map(|i| (i % 3) as f32).collect();
    TensorDataset::new(
        Tensor::from_vec(x, &[20, 2]).unwrap(),
        Tensor::from_vec(y, &[20]).unwrap(),
    )
}

const EPOCHS: usize = 4;
const STEPS: usize = 16;
const LR: f64 = 0.1;

fn model(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(2, 8, &mut rng))
        .add(Relu)
        .add(Dropout::new(0.1))
        .add(Linear::new(8, 3, &mut rng))
}

/// Loss, accuracy and a metric of the trainer's own kind (a per-batch mean).
fn classify<'t>(model: &Sequential, tape: &'t Tape, batch: &Batch) -> StepOutput<'t> {
    let logits = model.forward(tape.constant(batch.inputs.clone()));
    let labels = batch.labels();
    let mean_abs = logits
        .value()
        .as_slice()
        .iter()
        .map(|v| v.abs() as f64)
        .sum::<f64>()
        / logits.value().numel() as f64;
    StepOutput::new(logits.cross_entropy(&labels))
        .accuracy(logits, &labels)
        .metric("mean_abs_logit", mean_abs)
}

/// PyTorch's default threshold, no patience: every epoch that does not
/// improve on the best (a NaN never does) halves the rate.
fn plateau() -> ReduceLrOnPlateau {
    let options = PlateauOptions {
        patience: 0,
        factor: 0.5,
        ..PlateauOptions::default()
    };
    ReduceLrOnPlateau::new(LR, options).unwrap()
}

/// Stops once the run has taken `.0` steps (from `on_step_end`), or once
/// `.1` epochs are complete (from `on_epoch_end`).
struct StopAt(Option<usize>, Option<usize>);

impl Callback for StopAt {
    fn on_step_end(&mut self, ctx: &mut Context<'_>, _: &Record) -> tapegrad::Result<Control> {
        Ok(match self.0 {
            Some(n) if ctx.state.step >= n => Control::Stop,
            _ => Control::Continue,
        })
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, _: &Record) -> tapegrad::Result<Control> {
        Ok(match self.1 {
            Some(n) if ctx.state.epoch >= n => Control::Stop,
            _ => Control::Continue,
        })
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bits(m: &Sequential) -> Vec<Vec<u32>> {
    m.parameters()
        .iter()
        .map(|p| p.value().as_slice().iter().map(|v| v.to_bits()).collect())
        .collect()
}

/// A record's values as bits, without the timings.
fn values(r: &Record) -> Vec<(String, u64)> {
    r.values
        .iter()
        .filter(|(n, _)| n != "examples_per_sec" && n != "seconds")
        .map(|(n, v)| (n.clone(), v.to_bits()))
        .collect()
}

/// One run of `trainer` with the plateau schedule: its history and where
/// it ended.
fn run(
    trainer: Trainer<'_>,
    m: &mut Sequential,
    opt: &mut Adam,
    loader_seed: u64,
) -> (History, TrainState) {
    let data = data();
    let mut loader = DataLoader::new(&data, 6).shuffle(loader_seed);
    let mut trainer = trainer.schedule(plateau()).quiet();
    let history = trainer.fit(m, opt, &mut loader, classify).unwrap();
    (history, trainer.state().unwrap().clone())
}

/// Runs to the stop, then resumes a fresh model, optimiser, loader and
/// trainer from the checkpoint at `path`; returns what differs from the
/// straight run (nothing, bit for bit, is `None`).
fn resume_differs(
    path: &std::path::Path,
    first: Trainer<'_>,
    straight: &(Vec<Vec<u32>>, History, TrainState),
) -> Option<String> {
    let mut m = model(1);
    let mut opt = Adam::new(LR);
    let (before, _) = run(first.seed(7), &mut m, &mut opt, 0);
    let mut m = model(99);
    let mut opt = Adam::new(LR);
    let state = load_checkpoint(path, &mut m, &mut opt).unwrap();
    let (after, end) = run(Trainer::new(EPOCHS).resume(state), &mut m, &mut opt, 12345);

    let (params, full, full_end) = straight;
    let lrs = |steps: &[Record]| -> Vec<u64> {
        steps
            .iter()
            .map(|r| r.get("lr").unwrap().to_bits())
            .collect()
    };
    let mut steps = before.steps.clone();
    steps.extend(after.steps.iter().cloned());
    let mut epochs = before.epochs.clone();
    epochs.extend(after.epochs.iter().cloned());
    let epoch_values =
        |e: &[Record]| -> Vec<_> { e.iter().map(|r| (r.epoch, r.step, values(r))).collect() };
    let obs = |s: &TrainState| -> Vec<(usize, u64)> {
        s.observations
            .iter()
            .map(|&(k, v)| (k, v.to_bits()))
            .collect()
    };
    if epoch_values(&epochs) != epoch_values(&full.epochs) {
        Some(format!(
            "epoch records {:?} vs {:?}",
            epochs.iter().map(|r| r.get("loss")).collect::<Vec<_>>(),
            full.epochs
                .iter()
                .map(|r| r.get("loss"))
                .collect::<Vec<_>>()
        ))
    } else if lrs(&steps) != lrs(&full.steps) {
        Some("step rates".into())
    } else if obs(&end) != obs(full_end) || (end.epoch, end.step) != (full_end.epoch, full_end.step)
    {
        Some("observed metrics or end".into())
    } else if &bits(&m) != params {
        Some("final parameters".into())
    } else {
        None
    }
}

#[test]
fn resume_from_every_stop_point_is_bit_identical_with_reduce_on_plateau() {
    let dir = temp_dir("resume-every-stop");
    let mut m = model(1);
    let mut opt = Adam::new(LR);
    let (full, end) = run(Trainer::new(EPOCHS).seed(7), &mut m, &mut opt, 0);
    assert_eq!(full.steps.len(), STEPS);
    // The schedule did act (it cut the rate after epoch 2's loss failed to
    // improve on epoch 1's), so a wrong observation would show.
    let rates = full.epoch_series("lr");
    assert_eq!(rates[2].1, LR);
    assert!(rates[3].1 < LR, "{rates:?}");
    let straight = (bits(&m), full, end);

    // After every step, including each epoch's last (steps 4, 8, 12, 16),
    // where the checkpoint is taken before the epoch's record is made.
    let mut differ = Vec::new();
    for k in 1..=STEPS {
        let path = dir.join(format!("step{k}.safetensors"));
        let first = Trainer::new(EPOCHS)
            .callback(Checkpoint::every_steps(&path, k))
            .callback(StopAt(Some(k), None));
        if let Some(what) = resume_differs(&path, first, &straight) {
            differ.push(format!("stop after step {k}: {what}"));
        }
    }
    // After each epoch's record, from an epoch checkpoint.
    for e in 1..EPOCHS {
        let path = dir.join(format!("epoch{e}.safetensors"));
        let first = Trainer::new(EPOCHS)
            .callback(Checkpoint::each_epoch(&path))
            .callback(StopAt(None, Some(e)));
        if let Some(what) = resume_differs(&path, first, &straight) {
            differ.push(format!("stop after epoch {e}: {what}"));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        differ.is_empty(),
        "{} of {} stop points differ:\n{}",
        differ.len(),
        STEPS + EPOCHS - 1,
        differ.join("\n")
    );
}

#[test]
fn a_mid_epoch_checkpoint_holds_the_sums_of_the_epochs_batches_so_far() {
    let dir = temp_dir("resume-sums");
    let path = dir.join("run.safetensors");
    let mut m = model(1);
    let mut opt = Adam::new(LR);
    let first = Trainer::new(EPOCHS)
        .seed(7)
        .callback(Checkpoint::every_steps(&path, 6))
        .callback(StopAt(Some(6), None));
    let (history, _) = run(first, &mut m, &mut opt, 0);
    let state = load_checkpoint(&path, &mut model(2), &mut Adam::new(LR)).unwrap();
    // Step 6 is the second batch of epoch 1 (batches 4 and 5 of the run).
    assert_eq!((state.epoch, state.batch, state.step), (1, 2, 6));
    let sums = &state.epoch_sums;
    assert_eq!(sums.examples(), 12);
    let loss = |i: usize| history.steps[i].get("loss").unwrap();
    let want = 0.0 + loss(4) * 6.0 + loss(5) * 6.0;
    assert_eq!(sums.loss_sum().to_bits(), want.to_bits());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_rollback_skips_the_diverged_batch_in_the_epoch_mean_and_keeps_the_others() {
    use tapegrad::train::DivergenceGuard;
    let data = data();
    let mut m = model(1);
    let mut opt = Adam::new(LR);
    let mut loader = DataLoader::new(&data, 6);
    // The third batch's loss is NaN (ln of -1 added), once.
    let mut calls = 0;
    let history = Trainer::new(1)
        .callback(DivergenceGuard::new())
        .quiet()
        .fit(&mut m, &mut opt, &mut loader, |m, tape, batch| {
            calls += 1;
            let out = classify(m, tape, batch);
            if calls == 3 {
                let nan = tape.constant(Tensor::scalar(-1.0)).ln();
                return StepOutput::new(out.loss + nan);
            }
            out
        })
        .unwrap();
    assert_eq!(history.steps.len(), 4);
    assert_eq!(history.steps[2].get("skipped"), Some(1.0));
    assert!(history.steps[2].get("loss").unwrap().is_nan());
    assert!(
        history.events[0]
            .message
            .contains("rolled model and optimiser back")
    );
    // The epoch mean counts batches 0, 1 and 3 (6, 6 and 2 examples): the
    // rollback undid step 1's update, but its loss was measured and stays.
    let loss = |i: usize| history.steps[i].get("loss").unwrap();
    let want = (0.0 + loss(0) * 6.0 + loss(1) * 6.0 + loss(3) * 2.0) / 14.0;
    let got = history.epochs[0].get("loss").unwrap();
    assert_eq!(got.to_bits(), want.to_bits(), "{got} vs {want}");
}
