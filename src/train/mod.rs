//! Training: the [`Trainer`] loop, its [`Callback`]s, metrics and the
//! [`History`] of a run.
//!
//! A [`Trainer`] runs epochs over a [`DataLoader`](crate::data::DataLoader).
//! You give it one closure that records the forward pass and the loss on a
//! tape and returns a [`StepOutput`]; the trainer does the rest: backward,
//! optional clipping, the optimiser step with the rate an
//! [`LrSchedule`](crate::schedule::LrSchedule) sets, metrics, validation,
//! the progress bar and the callbacks.
//!
//! ```
//! use tapegrad::data::{DataLoader, TensorDataset};
//! use tapegrad::nn::{Forward, Linear};
//! use tapegrad::optim::Sgd;
//! use tapegrad::train::{Progress, StepOutput, Trainer};
//! use tapegrad::{Tensor, tensor};
//! use rand::SeedableRng;
//!
//! // two classes on a line: x < 0 is class 0, x > 0 is class 1
//! let x = tensor![[-2.0f32], [-1.0], [-0.5], [0.5], [1.0], [2.0]];
//! let y = tensor![0.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
//! let data = TensorDataset::new(x, y);
//! let mut model = Linear::new(1, 2, &mut rand::rngs::StdRng::seed_from_u64(0));
//! let mut opt = Sgd::new(0.5);
//! let mut loader = DataLoader::new(&data, 3).shuffle(0);
//! let history = Trainer::new(30)
//!     .progress(Progress::Quiet)
//!     .fit(&mut model, &mut opt, &mut loader, |model, tape, batch| {
//!         let logits = model.forward(tape.constant(batch.inputs.clone()));
//!         let labels = batch.labels();
//!         StepOutput::new(logits.cross_entropy(&labels)).accuracy(logits, &labels)
//!     })?;
//! assert_eq!(history.last_epoch("accuracy"), Some(1.0));
//! # Ok::<(), tapegrad::Error>(())
//! ```
//!
//! ## Reproducible, and resumable bit for bit
//! Nothing in a run draws from a random stream that lives across steps:
//! the shuffle order of epoch `e` is seeded with `mix(seed, e)` and the
//! tape of each step (dropout) with `mix(seed, e, step)`
//! ([`TrainState::shuffle_seed`], [`TrainState::tape_seed`]). A
//! checkpoint therefore need not (and, for `StdRng`, could not portably)
//! store a generator: the seed, the epoch and the step recreate every
//! random number of the rest of the run. With the running sums of the
//! epoch under way ([`TrainState::epoch_sums`]) and the metrics the
//! schedule observed, a resumed run continues exactly as the
//! uninterrupted one would have, even from a checkpoint taken mid-epoch
//! (see [`train::save_checkpoint`](crate::train::save_checkpoint)).
//!
//! ## Files
//! - `trainer.rs`: [`Trainer`], the loop;
//! - `callbacks.rs`: [`EarlyStopping`], [`Checkpoint`], [`DivergenceGuard`];
//! - `checkpoint.rs` (and `checkpoint/`): [`save_checkpoint`] and
//!   [`load_checkpoint`], a run in one safetensors file;
//! - `history.rs`: [`History`], CSV, JSON lines and plots;
//! - `sums.rs`: [`EpochSums`], the running sums behind an epoch's means;
//! - `progress.rs`: the progress bar and log lines.

mod callbacks;
pub mod checkpoint;
mod history;
mod lr_finder;
mod progress;
mod step;
mod sums;
mod trainer;

pub use callbacks::{Checkpoint, DivergenceGuard, EarlyStopping};
pub use checkpoint::{load_checkpoint, save_checkpoint};
pub use history::{Event, History, Record};
pub use lr_finder::{LrFinder, LrFinderReport, SuggestionRule};
pub use progress::Progress;
#[cfg(feature = "mpi")]
pub(crate) use step::update_with;
pub use step::{Clip, step};
pub use sums::EpochSums;
pub use trainer::Trainer;

use crate::error::Result;
use crate::nn::Module;
use crate::optim::Optimizer;
use crate::tape::Var;
use crate::tensor::Float;

/// What the step closure of [`Trainer::fit`] returns: the loss to
/// minimise, and what to measure besides it.
///
/// A bare loss converts into one (`loss.into()`); add accuracy with
/// [`accuracy`](Self::accuracy) and any other number with
/// [`metric`](Self::metric). The trainer averages every metric over the
/// examples of an epoch (weighting each batch by its size), and over the
/// validation set with the prefix `val_`.
pub struct StepOutput<'t, T: Float = f32> {
    /// The scalar loss that backward starts from.
    pub loss: Var<'t, T>,
    correct: Option<(usize, usize)>,
    metrics: Vec<(String, f64)>,
}

impl<'t, T: Float> StepOutput<'t, T> {
    /// Just the loss.
    pub fn new(loss: Var<'t, T>) -> Self {
        StepOutput {
            loss,
            correct: None,
            metrics: Vec::new(),
        }
    }

    /// Also measures accuracy: the fraction of rows of `logits` (`[B, C]`)
    /// whose largest entry is at the row's label.
    ///
    /// # Panics
    /// If `logits` is not `[labels.len(), C]`.
    pub fn accuracy(mut self, logits: Var<'t, T>, labels: &[usize]) -> Self {
        let value = logits.value();
        assert!(
            value.ndim() == 2 && value.shape()[0] == labels.len(),
            "StepOutput::accuracy: logits {:?} do not fit {} labels (want [B, C])",
            value.shape(),
            labels.len()
        );
        let predicted = value.argmax_axis(-1, false);
        let hits = predicted
            .as_slice()
            .iter()
            .zip(labels)
            .filter(|(p, y)| p.to_f64() as usize == **y)
            .count();
        self.correct = Some((hits, labels.len()));
        self
    }

    /// Also records `name = value` for this batch (a mean over its
    /// examples, such as a mean absolute error).
    ///
    /// # Panics
    /// If `name` is one the trainer writes itself (`loss`, `accuracy`,
    /// `lr`, `examples_per_sec`, `seconds`) or starts with `val_`.
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        let name = name.into();
        assert!(
            !RESERVED.contains(&name.as_str()) && !name.starts_with("val_"),
            "StepOutput::metric: `{name}` is a name the trainer writes itself"
        );
        self.metrics.push((name, value));
        self
    }

    /// `(correct, total)` if accuracy was measured.
    pub fn correct(&self) -> Option<(usize, usize)> {
        self.correct
    }

    /// The extra metrics, in the order they were added.
    pub fn metrics(&self) -> &[(String, f64)] {
        &self.metrics
    }
}

/// Metric names the trainer writes itself.
const RESERVED: [&str; 5] = ["loss", "accuracy", "lr", "examples_per_sec", "seconds"];

impl<'t, T: Float> From<Var<'t, T>> for StepOutput<'t, T> {
    fn from(loss: Var<'t, T>) -> Self {
        StepOutput::new(loss)
    }
}

/// What a callback asks the trainer to do next. When callbacks disagree,
/// the strongest wins (`Stop` over `SkipStep` over `Continue`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Control {
    /// Go on as usual.
    Continue,
    /// Do not apply this batch's update (from
    /// [`on_loss`](Callback::on_loss): backward and the step are skipped).
    SkipStep,
    /// End training after this point (the run returns its history).
    Stop,
}

/// Where a run is: what a checkpoint stores besides the model and the
/// optimiser, and what [`Trainer::resume`] continues from.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    /// The epoch under way, from 0 (after the last epoch: the epoch count).
    pub epoch: usize,
    /// Batches of `epoch` already done.
    pub batch: usize,
    /// Training steps taken in the whole run (one per batch, including
    /// batches whose update a callback skipped); schedules are asked for
    /// the rate of this step.
    pub step: usize,
    /// The run's base seed (shuffling and dropout derive from it).
    pub seed: u64,
    /// The multiplier the trainer applies to every scheduled rate (the
    /// divergence guard's cuts), 1 at the start.
    pub lr_scale: f64,
    /// The rate used when the trainer has no schedule (the optimiser's rate
    /// when the run started).
    pub base_lr: f64,
    /// Every metric given to the schedule's `observe`, as `(step, metric)`:
    /// a resumed run replays them so that a metric-driven schedule
    /// ([`ReduceLrOnPlateau`](crate::schedule::ReduceLrOnPlateau)) is where it
    /// was.
    pub observations: Vec<(usize, f64)>,
    /// The sums over the batches of `epoch` done so far, from which its
    /// record's means are taken: a run resumed mid-epoch (or after the
    /// epoch's last batch, before its record) starts from them, so the
    /// epoch's mean loss, which a schedule may observe, is the
    /// uninterrupted run's. Empty between epochs.
    pub epoch_sums: EpochSums,
}

impl TrainState {
    /// The state at the start of a run.
    pub fn new(seed: u64, base_lr: f64) -> Self {
        TrainState {
            epoch: 0,
            batch: 0,
            step: 0,
            seed,
            lr_scale: 1.0,
            base_lr,
            observations: Vec::new(),
            epoch_sums: EpochSums::new(),
        }
    }

    /// The shuffle seed of the epoch under way: `mix(seed, epoch)`.
    pub fn shuffle_seed(&self) -> u64 {
        mix(mix(self.seed, 0x5348_5546), self.epoch as u64)
    }

    /// The seed of the tape of the step under way (dropout masks):
    /// `mix(seed, epoch, step)`.
    pub fn tape_seed(&self) -> u64 {
        mix(
            mix(mix(self.seed, 0x5441_5045), self.epoch as u64),
            self.step as u64,
        )
    }
}

/// Combines a seed with a number into a new, well-spread seed (SplitMix64's
/// finaliser over the sum), so nearby inputs give unrelated seeds.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed
        .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a [`Callback`] may look at and change.
pub struct Context<'a, T: Float = f32> {
    /// The model being trained.
    pub model: &'a mut dyn Module<T>,
    /// Its optimiser.
    pub optimizer: &'a mut dyn Optimizer<T>,
    /// Where the run is; a callback may change `lr_scale`.
    pub state: &'a mut TrainState,
    /// Everything recorded so far.
    pub history: &'a History,
    reporter: &'a mut progress::Reporter,
}

impl<T: Float> Context<'_, T> {
    /// Tells the user something (above the progress bar, or as a log line;
    /// not in quiet mode) and records it in the history's events.
    pub fn report(&mut self, message: impl Into<String>) {
        self.reporter
            .event(self.state.epoch, self.state.step, message.into());
    }
}

/// Something that watches a run and may act on it. Every method has a
/// default that does nothing, so implement only what you need.
///
/// Callbacks are called in the order they were added to the trainer.
/// An error from any of them ends the run with that error.
pub trait Callback<T: Float = f32> {
    /// Before the first step (also of a resumed run).
    fn on_train_start(&mut self, ctx: &mut Context<'_, T>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// After the forward pass of a step, with its loss, before backward
    /// and the update: return [`Control::SkipStep`] to leave them out.
    fn on_loss(&mut self, ctx: &mut Context<'_, T>, loss: f64) -> Result<Control> {
        let _ = (ctx, loss);
        Ok(Control::Continue)
    }

    /// After a step, with its record (`ctx.state.step` already counts it).
    fn on_step_end(&mut self, ctx: &mut Context<'_, T>, record: &Record) -> Result<Control> {
        let _ = (ctx, record);
        Ok(Control::Continue)
    }

    /// After an epoch and its validation, with the epoch's record
    /// (`ctx.state.epoch` already counts it).
    fn on_epoch_end(&mut self, ctx: &mut Context<'_, T>, record: &Record) -> Result<Control> {
        let _ = (ctx, record);
        Ok(Control::Continue)
    }

    /// After the last step, when the run ends without error.
    fn on_train_end(&mut self, ctx: &mut Context<'_, T>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
}

/// A model's parameter and buffer values at one moment, to put back later
/// (the divergence guard's last good state, the LR range test's restore):
/// the model's [`state`](Module::state) map, put back with
/// [`load_state`](Module::load_state). Taking one copies no data: tensors
/// share storage until written.
#[derive(Clone, Debug)]
pub(crate) struct ModelSnapshot<T: Float> {
    state: crate::nn::StateMap<T>,
}

impl<T: Float> ModelSnapshot<T> {
    /// The values of `model` now.
    pub(crate) fn take(model: &dyn Module<T>) -> Self {
        ModelSnapshot {
            state: model.state(),
        }
    }

    /// Writes the values back into `model` (the same model).
    ///
    /// # Panics
    /// If the model gained or lost parameters or buffers, or changed a
    /// shape, since (then nothing is written).
    pub(crate) fn restore(&self, model: &mut dyn Module<T>) {
        if let Err(e) = model.load_state(&self.state, crate::nn::LoadOptions::default()) {
            panic!("snapshot: the model changed since it was taken: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_epoch_and_step() {
        let mut s = TrainState::new(7, 0.1);
        let (a, t0) = (s.shuffle_seed(), s.tape_seed());
        s.step = 1;
        assert_eq!(s.shuffle_seed(), a);
        assert_ne!(s.tape_seed(), t0);
        s.epoch = 1;
        assert_ne!(s.shuffle_seed(), a);
    }
}
