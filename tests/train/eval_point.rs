//! The Trainer with optimisers whose evaluation point differs from their
//! training point (schedule-free: gradients at `y`, evaluation at the
//! average `x`): validation sees `x`, training continues from `y`
//! unchanged, checkpoints hold `x` and resume bit for bit; and the
//! learning-rate-free optimisers' scalars travel through checkpoint files.

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::PathBuf;
use tapegrad::data::{Batch, DataLoader, TensorDataset};
use tapegrad::nn::{Forward, Linear, Relu, Sequential};
use tapegrad::optim::{AdamWScheduleFree, Optimizer, Prodigy, SgdScheduleFree};
use tapegrad::train::{
    Callback, Checkpoint, Context, Control, Record, StepOutput, Trainer, load_checkpoint, step,
};
use tapegrad::{Module, Tape, Tensor};

/// 20 points of three classes; batches of 6 make four batches an epoch.
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

fn model() -> Sequential {
    model_from(1)
}

fn model_from(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(2, 6, &mut rng))
        .add(Relu)
        .add(Linear::new(6, 3, &mut rng))
}

fn classify<'t>(model: &Sequential, tape: &'t Tape, batch: &Batch) -> StepOutput<'t> {
    let logits = model.forward(tape.constant(batch.inputs.clone()));
    StepOutput::new(logits.cross_entropy(&batch.labels()))
}

fn bits(m: &Sequential) -> Vec<Vec<u32>> {
    m.parameters()
        .iter()
        .map(|p| p.value().as_slice().iter().map(|v| v.to_bits()).collect())
        .collect()
}

type Make = fn() -> Box<dyn Optimizer>;

fn schedule_free() -> [(&'static str, Make); 2] {
    [
        ("SgdScheduleFree", || Box::new(SgdScheduleFree::new(0.5))),
        ("AdamWScheduleFree", || {
            Box::new(AdamWScheduleFree::new(0.05).warmup_steps(3))
        }),
    ]
}

#[test]
fn validation_sees_x_and_training_continues_from_y_unchanged() {
    let data = data();
    for (name, make) in schedule_free() {
        // The trainer, with validation after each of 3 epochs; the closure
        // logs the parameters of every call, training (y) or validation.
        let mut m = model();
        let mut opt = make();
        let mut seen: Vec<(bool, Vec<Vec<u32>>)> = Vec::new();
        let mut loader = DataLoader::new(&data, 6);
        Trainer::new(3)
            .validation(&data, 10)
            .quiet()
            .fit(&mut m, &mut opt, &mut loader, |m, tape, batch| {
                seen.push((tape.is_training(), bits(m)));
                classify(m, tape, batch)
            })
            .unwrap();
        // fit returns at the evaluation point.
        assert!(opt.at_eval_point(), "{name}");
        let trained_x = bits(&m);

        // The same steps by hand, never evaluating: the y of every step,
        // and x at each epoch's end (switched to and straight back).
        let mut m = model();
        let mut opt = make();
        let (mut ys, mut xs) = (Vec::new(), Vec::new());
        let mut loader = DataLoader::new(&data, 6);
        for _ in 0..3 {
            for batch in loader.epoch() {
                ys.push(bits(&m));
                let tape = Tape::new();
                step(&mut m, &mut opt, |m| classify(m, &tape, &batch).loss);
            }
            opt.to_eval_point(&mut m);
            xs.push(bits(&m));
            opt.to_train_point(&mut m);
        }

        let train: Vec<_> = seen.iter().filter(|s| s.0).map(|s| s.1.clone()).collect();
        let val: Vec<_> = seen.iter().filter(|s| !s.0).map(|s| s.1.clone()).collect();
        assert_eq!(train.len(), 12);
        assert_eq!(train, ys, "{name}: training did not continue from y");
        // Two validation batches of 10 per epoch, both at that epoch's x.
        assert_eq!(val.len(), 6);
        for (e, x) in xs.iter().enumerate() {
            assert_eq!(
                &val[2 * e],
                x,
                "{name}: epoch {e} validated elsewhere than x"
            );
            assert_eq!(&val[2 * e + 1], x);
        }
        // x is not y (else the test could not tell them apart), and the
        // model fit returned is the last x.
        assert_ne!(xs[2], bits(&m));
        assert_eq!(trained_x, xs[2]);
    }
}

/// Stops once `.0` epochs are complete.
struct StopAfter(usize);

impl Callback for StopAfter {
    fn on_epoch_end(&mut self, ctx: &mut Context<'_>, _: &Record) -> tapegrad::Result<Control> {
        Ok(if ctx.state.epoch >= self.0 {
            Control::Stop
        } else {
            Control::Continue
        })
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn checkpoints_hold_x_and_resume_bit_for_bit() {
    let data = data();
    let dir = temp_dir("eval-point-resume");
    let mut all: Vec<(&str, Make)> = schedule_free().to_vec();
    all.push(("Prodigy", || {
        Box::new(Prodigy::default().weight_decay(0.01))
    }));
    for (name, make) in all {
        let path = dir.join(format!("{name}.safetensors"));
        // Four epochs straight.
        let mut m = model();
        let mut opt = make();
        let mut loader = DataLoader::new(&data, 6).shuffle(3);
        let mut trainer = Trainer::new(4).seed(5).quiet();
        trainer
            .fit(&mut m, &mut opt, &mut loader, classify)
            .unwrap();
        let (straight, straight_state) = (bits(&m), opt.state(&m));

        // Two epochs with a checkpoint after each, a fresh model and
        // optimiser loaded from the file, two more.
        let mut m = model();
        let mut opt = make();
        let mut loader = DataLoader::new(&data, 6).shuffle(3);
        Trainer::new(4)
            .seed(5)
            .quiet()
            .callback(Checkpoint::each_epoch(&path))
            .callback(StopAfter(2))
            .fit(&mut m, &mut opt, &mut loader, classify)
            .unwrap();
        let mut m2 = model_from(99);
        let mut opt2 = make();
        let state = load_checkpoint(&path, &mut m2, &mut *opt2).unwrap();
        if name.contains("ScheduleFree") {
            // The file holds the model at x, and the optimiser knows it.
            assert!(opt2.at_eval_point(), "{name}");
            let saved = opt2.state(&m2);
            m2.visit("", &mut |key, p| {
                assert_eq!(p.value(), &saved.params[key].tensors["x"], "{name} {key}");
            });
        } else {
            assert!(
                opt2.state(&m2).scalars["d"] > 1e-6,
                "{name}: d did not grow"
            );
        }
        let mut loader = DataLoader::new(&data, 6).shuffle(3);
        Trainer::new(4)
            .resume(state)
            .quiet()
            .fit(&mut m2, &mut opt2, &mut loader, classify)
            .unwrap();
        assert_eq!(bits(&m2), straight, "{name} after resuming");
        assert_eq!(opt2.state(&m2), straight_state, "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
