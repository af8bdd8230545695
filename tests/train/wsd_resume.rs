//! Warmup-stable-decay with no fixed horizon: a run of the stable phase
//! checkpoints; a cool-down resumed from that checkpoint
//! ([`Trainer::cooldown`]) gives the rates and the parameters, bit for
//! bit, of a run that planned the same cool-down from the start
//! ([`WarmupStableDecay::with_cooldown`] and [`Trainer::max_steps`]).
//! Also: `max_steps` stops mid-epoch, a checkpoint of the warm-up is
//! refused (and the resume state kept).

use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::PathBuf;
use tapegrad::data::{Batch, DataLoader, TensorDataset};
use tapegrad::nn::{Dropout, Forward, Linear, Relu, Sequential};
use tapegrad::optim::Adam;
use tapegrad::schedule::{Cooldown, CooldownShape, LrSchedule, WarmupStableDecay};
use tapegrad::train::{Checkpoint, History, StepOutput, Trainer, load_checkpoint};
use tapegrad::{Module, Tape, Tensor};

/// 22 points of two classes: batches of 5 give five batches an epoch, the
/// last of 2.
fn data() -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(8);
    let noise = Tensor::<f32>::randn(&[22, 2], &mut rng);
    let x: Vec<f32> = (0..44)
        .map(|i| if (i / 2) % 2 == 0 { 1.0 } else { -1.0 } + 0.7 * noise.as_slice()[i])
        .collect();
    let y: Vec<f32> = (0..22).map(|i| (i % 2) as f32).collect();
    TensorDataset::new(
        Tensor::from_vec(x, &[22, 2]).unwrap(),
        Tensor::from_vec(y, &[22]).unwrap(),
    )
}

fn model() -> Sequential {
    let mut rng = StdRng::seed_from_u64(3);
    Sequential::new()
        .add(Linear::new(2, 6, &mut rng))
        .add(Relu)
        .add(Dropout::new(0.2))
        .add(Linear::new(6, 2, &mut rng))
}

fn classify<'t>(model: &Sequential, tape: &'t Tape, batch: &Batch) -> StepOutput<'t> {
    let logits = model.forward(tape.constant(batch.inputs.clone()));
    let labels = batch.labels();
    StepOutput::new(logits.cross_entropy(&labels)).accuracy(logits, &labels)
}

const PEAK: f64 = 0.05;
const WARMUP: usize = 4;
/// The checkpoint's step: mid-epoch (epoch 2, batch 2).
const START: usize = 12;
const COOLDOWN: usize = 9;

fn wsd() -> WarmupStableDecay {
    WarmupStableDecay::new(PEAK, WARMUP).unwrap()
}

fn cooldown(shape: CooldownShape) -> Cooldown {
    Cooldown::new(shape, COOLDOWN).final_lr(PEAK / 100.0)
}

fn bits(m: &Sequential) -> Vec<Vec<u32>> {
    m.parameters()
        .iter()
        .map(|p| p.value().as_slice().iter().map(|v| v.to_bits()).collect())
        .collect()
}

fn lrs(h: &History) -> Vec<(usize, u64)> {
    h.steps
        .iter()
        .map(|r| (r.step, r.get("lr").unwrap().to_bits()))
        .collect()
}

fn fit(trainer: &mut Trainer<'_>, m: &mut Sequential, opt: &mut Adam) -> tapegrad::Result<History> {
    let data = data();
    let mut loader = DataLoader::new(&data, 5).shuffle(0);
    trainer.fit(m, opt, &mut loader, classify)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-wsd-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn cooldown_resumed_from_a_stable_checkpoint_equals_the_planned_run() {
    let dir = temp_dir("resume");
    for shape in [
        CooldownShape::Linear,
        CooldownShape::Cosine,
        CooldownShape::Sqrt,
    ] {
        // Planned from the start: S = 12, D = 9, stop after step 21.
        let planned = wsd().with_cooldown(START, cooldown(shape)).unwrap();
        assert_eq!(planned.end(), Some(START + COOLDOWN));
        let (mut m, mut opt) = (model(), Adam::new(0.0));
        let mut trainer = Trainer::new(100)
            .seed(5)
            .schedule(planned.clone())
            .max_steps(START + COOLDOWN)
            .quiet();
        let full = fit(&mut trainer, &mut m, &mut opt).unwrap();
        let full_bits = bits(&m);
        assert_eq!(full.steps.len(), START + COOLDOWN);
        let last = full.steps.last().unwrap().get("lr").unwrap();
        assert_eq!(
            last,
            PEAK / 100.0,
            "the last cool-down step is at the floor"
        );

        // The stable phase, with no end planned, checkpointing every 12
        // steps; it runs on past the checkpoint (to step 17), as a real
        // long run would.
        let path = dir.join(format!("stable-{shape:?}.safetensors"));
        let (mut m, mut opt) = (model(), Adam::new(0.0));
        let mut trainer = Trainer::new(100)
            .seed(5)
            .schedule(wsd())
            .callback(Checkpoint::every_steps(&path, START))
            .max_steps(17)
            .quiet();
        let stable = fit(&mut trainer, &mut m, &mut opt).unwrap();
        assert_eq!(stable.steps.len(), 17);
        assert!(
            stable.steps[WARMUP..]
                .iter()
                .all(|r| r.get("lr") == Some(PEAK))
        );

        // The cool-down from the checkpoint, into a fresh model and optimiser.
        let (mut m, mut opt) = (model(), Adam::new(0.0));
        let state = load_checkpoint(&path, &mut m, &mut opt).unwrap();
        assert_eq!((state.step, state.epoch, state.batch), (START, 2, 2));
        let mut trainer = Trainer::new(100)
            .resume(state)
            .cooldown(wsd(), cooldown(shape))
            .quiet();
        let resumed = fit(&mut trainer, &mut m, &mut opt).unwrap();

        // Rates: the planned run's, step for step, and below the peak from S on.
        assert_eq!(lrs(&resumed), lrs(&full)[START..], "{shape:?} rates");
        assert_eq!(lrs(&stable)[..START], lrs(&full)[..START]);
        for r in &resumed.steps {
            assert_eq!(r.get("lr").unwrap(), planned.lr_at(r.step));
            assert!(r.get("lr").unwrap() < PEAK);
        }
        // Parameters: bit for bit, and the run ended where the plan did.
        assert_eq!(bits(&m), full_bits, "{shape:?} parameters");
        assert_eq!(trainer.state().unwrap().step, START + COOLDOWN);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn max_steps_stops_mid_epoch_and_counts_steps_before_a_resume() {
    let (mut m, mut opt) = (model(), Adam::new(0.01));
    let mut trainer = Trainer::new(100).max_steps(7).quiet();
    let h = fit(&mut trainer, &mut m, &mut opt).unwrap();
    // Five batches an epoch: one whole epoch (with its record), two steps of the next.
    assert_eq!(h.steps.len(), 7);
    assert_eq!(h.epochs.len(), 1);
    let state = trainer.state().unwrap().clone();
    assert_eq!((state.epoch, state.batch, state.step), (1, 2, 7));
    // The limit counts the whole run: resumed with max_steps(10), three more.
    let mut trainer = Trainer::new(100).max_steps(10).resume(state).quiet();
    let h = fit(&mut trainer, &mut m, &mut opt).unwrap();
    let steps: Vec<usize> = h.steps.iter().map(|r| r.step).collect();
    assert_eq!(steps, [7, 8, 9]);
    // Ending on an epoch's last batch keeps that epoch's record.
    let (mut m, mut opt) = (model(), Adam::new(0.01));
    let h = fit(
        &mut Trainer::new(100).max_steps(10).quiet(),
        &mut m,
        &mut opt,
    )
    .unwrap();
    assert_eq!((h.steps.len(), h.epochs.len()), (10, 2));
}

#[test]
fn cooldown_from_a_warmup_checkpoint_is_refused_and_the_state_kept() {
    let dir = temp_dir("warmup");
    let path = dir.join("early.safetensors");
    let (mut m, mut opt) = (model(), Adam::new(0.0));
    let mut trainer = Trainer::new(100)
        .schedule(wsd())
        .callback(Checkpoint::every_steps(&path, 3))
        .max_steps(3)
        .quiet();
    fit(&mut trainer, &mut m, &mut opt).unwrap();
    let state = load_checkpoint(&path, &mut m, &mut opt).unwrap();
    assert_eq!(state.step, 3);
    let before = bits(&m);
    let mut trainer = Trainer::new(100)
        .resume(state.clone())
        .cooldown(wsd(), cooldown(CooldownShape::Sqrt))
        .quiet();
    let err = fit(&mut trainer, &mut m, &mut opt).unwrap_err().to_string();
    assert!(err.contains("warm-up"), "{err}");
    assert_eq!(bits(&m), before, "nothing trained");
    // A later schedule replaces the cool-down; the kept state resumes.
    let mut trainer = trainer.schedule(wsd()).max_steps(5);
    let h = fit(&mut trainer, &mut m, &mut opt).unwrap();
    assert_eq!(h.steps.first().unwrap().step, 3);
    assert_eq!(h.steps.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
