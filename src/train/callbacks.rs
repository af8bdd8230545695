//! The callbacks that come with the trainer: [`EarlyStopping`],
//! [`Checkpoint`] and [`DivergenceGuard`].

use super::history::Record;
use super::{Callback, Context, Control, ModelSnapshot};
use crate::error::{Error, Result};
use crate::optim::OptimizerState;
use crate::tensor::Float;
use std::path::PathBuf;

/// Stops training when a metric of the epoch records (by default
/// `val_loss`) has not improved for `patience` epochs.
///
/// An epoch improves on the best so far when its metric is lower by more
/// than `min_delta` (higher, after [`maximize`](Self::maximize)).
///
/// ```
/// use tapegrad::train::EarlyStopping;
/// let stop = EarlyStopping::new("val_accuracy").maximize().patience(5);
/// # let _ = stop;
/// ```
#[derive(Clone, Debug)]
pub struct EarlyStopping {
    monitor: String,
    maximize: bool,
    patience: usize,
    min_delta: f64,
    best: Option<f64>,
    wait: usize,
    stopped_epoch: Option<usize>,
}

impl EarlyStopping {
    /// Watches the epoch metric `monitor` (`"val_loss"`, `"loss"`,
    /// `"val_accuracy"`, ...), lower is better, patience 3, no margin.
    pub fn new(monitor: impl Into<String>) -> Self {
        EarlyStopping {
            monitor: monitor.into(),
            maximize: false,
            patience: 3,
            min_delta: 0.0,
            best: None,
            wait: 0,
            stopped_epoch: None,
        }
    }

    /// Higher is better (an accuracy).
    pub fn maximize(mut self) -> Self {
        self.maximize = true;
        self
    }

    /// Epochs without improvement tolerated before stopping (at least 1).
    ///
    /// # Panics
    /// If `patience` is 0.
    pub fn patience(mut self, patience: usize) -> Self {
        assert!(patience > 0, "EarlyStopping: patience must be at least 1");
        self.patience = patience;
        self
    }

    /// The margin an improvement must beat (`>= 0`).
    ///
    /// # Panics
    /// If it is negative or not finite.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        assert!(
            min_delta.is_finite() && min_delta >= 0.0,
            "EarlyStopping: min_delta {min_delta} must be finite and >= 0"
        );
        self.min_delta = min_delta;
        self
    }

    /// The best value seen so far.
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// The epoch (from 0) after which it stopped training, if it did.
    pub fn stopped_epoch(&self) -> Option<usize> {
        self.stopped_epoch
    }
}

impl<T: Float> Callback<T> for EarlyStopping {
    /// # Errors
    /// [`Error::Metric`] if the epoch record lacks the monitored metric.
    fn on_epoch_end(&mut self, ctx: &mut Context<'_, T>, record: &Record) -> Result<Control> {
        let Some(v) = record.get(&self.monitor) else {
            return Err(Error::Metric {
                name: self.monitor.clone(),
                available: record.values.iter().map(|(n, _)| n.clone()).collect(),
            });
        };
        let improved = match self.best {
            None => !v.is_nan(),
            Some(b) if self.maximize => v > b + self.min_delta,
            Some(b) => v < b - self.min_delta,
        };
        if improved {
            self.best = Some(v);
            self.wait = 0;
            return Ok(Control::Continue);
        }
        self.wait += 1;
        if self.wait < self.patience {
            return Ok(Control::Continue);
        }
        self.stopped_epoch = Some(record.epoch);
        ctx.report(format!(
            "early stopping: {} has not improved on {} for {} epoch(s)",
            self.monitor,
            self.best.unwrap_or(f64::NAN),
            self.wait
        ));
        Ok(Control::Stop)
    }
}

/// Saves a checkpoint ([`train::save_checkpoint`](crate::train::save_checkpoint):
/// model, optimiser state and [`TrainState`](super::TrainState)) to one
/// file, replaced atomically each time: every `n` steps, after each epoch,
/// or both.
///
/// The model is saved at its evaluation point
/// ([`Optimizer::to_eval_point`](crate::optim::Optimizer::to_eval_point):
/// the average `x` for a schedule-free optimiser, the parameters as they
/// are for any other), and training continues from the training point
/// unchanged; the optimiser's state records where the model was, so a run
/// resumed from the file moves back to the exact training point.
///
/// ```
/// use tapegrad::train::Checkpoint;
/// let every_epoch = Checkpoint::each_epoch("run.ckpt.safetensors");
/// let every_500 = Checkpoint::every_steps("run.ckpt.safetensors", 500);
/// # let _ = (every_epoch, every_500);
/// ```
#[derive(Clone, Debug)]
pub struct Checkpoint {
    path: PathBuf,
    every_steps: Option<usize>,
    each_epoch: bool,
    saved: usize,
}

impl Checkpoint {
    /// Saves to `path` after each epoch (validation and schedule included).
    pub fn each_epoch(path: impl Into<PathBuf>) -> Self {
        Checkpoint {
            path: path.into(),
            every_steps: None,
            each_epoch: true,
            saved: 0,
        }
    }

    /// Saves to `path` after every `n`-th step (steps counted over the
    /// run), possibly mid-epoch.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn every_steps(path: impl Into<PathBuf>, n: usize) -> Self {
        assert!(n > 0, "Checkpoint::every_steps: n must be at least 1");
        Checkpoint {
            path: path.into(),
            every_steps: Some(n),
            each_epoch: false,
            saved: 0,
        }
    }

    /// Also saves after each epoch.
    pub fn and_each_epoch(mut self) -> Self {
        self.each_epoch = true;
        self
    }

    /// How many checkpoints this callback has written.
    pub fn saved(&self) -> usize {
        self.saved
    }

    fn save<T: Float>(&mut self, ctx: &mut Context<'_, T>) -> Result<()> {
        ctx.optimizer.to_eval_point(&mut *ctx.model);
        let saved =
            crate::train::save_checkpoint(&self.path, &*ctx.model, &*ctx.optimizer, ctx.state);
        ctx.optimizer.to_train_point(&mut *ctx.model);
        saved?;
        self.saved += 1;
        Ok(())
    }
}

impl<T: Float> Callback<T> for Checkpoint {
    fn on_step_end(&mut self, ctx: &mut Context<'_, T>, _: &Record) -> Result<Control> {
        if self
            .every_steps
            .is_some_and(|n| ctx.state.step.is_multiple_of(n))
        {
            self.save(ctx)?;
        }
        Ok(Control::Continue)
    }

    fn on_epoch_end(&mut self, ctx: &mut Context<'_, T>, _: &Record) -> Result<Control> {
        if self.each_epoch {
            self.save(ctx)?;
        }
        Ok(Control::Continue)
    }
}

/// Rescues a run whose loss blows up: when a step's loss is NaN or
/// infinite, or lifts the smoothed loss above `factor` times its best so
/// far, it
/// rolls the model and the optimiser back to the last good state (kept in
/// memory), multiplies the learning rate by `cut` (through
/// [`TrainState::lr_scale`](super::TrainState::lr_scale), so the cut
/// holds whatever the schedule says next), skips that batch, reports it
/// and goes on. After `max_rollbacks` rollbacks the next divergence ends
/// the run with [`Error::Diverged`].
///
/// The smoothed loss is an exponential moving average of the step losses
/// (weight 0.9 on the past, bias-corrected), so one noisy batch near a
/// loss of zero does not count as divergence while a blow-up does; the
/// factor test starts after `warmup` steps, the NaN test at once. A good state is remembered every
/// `every` steps: the parameters and optimiser state *before* an update
/// whose forward pass gave a good loss.
///
/// Parameters and buffers (batch-norm running statistics) are restored.
/// The epoch's running sums ([`EpochSums`](super::EpochSums), behind its
/// mean loss) are not: the diverged batch is skipped, so it is never
/// counted, while the losses of the steps whose updates the rollback undid
/// stay counted, as they stay in the step records (they were measured
/// before those updates). An epoch whose every batch was skipped has a
/// NaN mean loss, which a plateau schedule counts as no improvement.
///
/// Its smoothed loss and last good state live in memory only: a run
/// resumed from a checkpoint starts them afresh.
#[derive(Clone, Debug)]
pub struct DivergenceGuard<T: Float = f32> {
    factor: f64,
    cut: f64,
    max_rollbacks: usize,
    every: usize,
    warmup: usize,
    rollbacks: usize,
    ema: f64,
    seen: usize,
    best: f64,
    since_snapshot: usize,
    snapshot: Option<Snapshot<T>>,
}

/// A remembered good state.
#[derive(Clone, Debug)]
struct Snapshot<T: Float> {
    step: usize,
    model: ModelSnapshot<T>,
    optimizer: OptimizerState<T>,
}

impl<T: Float> Default for DivergenceGuard<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> DivergenceGuard<T> {
    /// Factor 10, cut 0.1, 3 rollbacks, a good state every step, no warm-up.
    pub fn new() -> Self {
        DivergenceGuard {
            factor: 10.0,
            cut: 0.1,
            max_rollbacks: 3,
            every: 1,
            warmup: 0,
            rollbacks: 0,
            ema: 0.0,
            seen: 0,
            best: f64::INFINITY,
            since_snapshot: 0,
            snapshot: None,
        }
    }

    /// A smoothed loss above `factor` × its best counts as divergence.
    ///
    /// # Panics
    /// Unless `factor > 1`.
    pub fn factor(mut self, factor: f64) -> Self {
        assert!(factor > 1.0, "DivergenceGuard: factor {factor} must be > 1");
        self.factor = factor;
        self
    }

    /// Each rollback multiplies the learning rate by `cut`.
    ///
    /// # Panics
    /// Unless `0 < cut < 1`.
    pub fn cut(mut self, cut: f64) -> Self {
        assert!(
            cut > 0.0 && cut < 1.0,
            "DivergenceGuard: cut {cut} must be in (0, 1)"
        );
        self.cut = cut;
        self
    }

    /// Rollbacks allowed before giving up.
    pub fn max_rollbacks(mut self, n: usize) -> Self {
        self.max_rollbacks = n;
        self
    }

    /// Remembers a good state every `n` steps (1: every step, the safest;
    /// larger saves copying on big models).
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn every(mut self, n: usize) -> Self {
        assert!(n > 0, "DivergenceGuard: every must be at least 1");
        self.every = n;
        self
    }

    /// Steps before the factor test starts (NaN and infinity are caught
    /// from the first step).
    pub fn warmup(mut self, steps: usize) -> Self {
        self.warmup = steps;
        self
    }

    /// Rollbacks so far.
    pub fn rollbacks(&self) -> usize {
        self.rollbacks
    }

    fn remember(&mut self, ctx: &Context<'_, T>) {
        self.snapshot = Some(Snapshot {
            step: ctx.state.step,
            model: ModelSnapshot::take(&*ctx.model),
            optimizer: ctx.optimizer.state(&*ctx.model),
        });
        self.since_snapshot = 0;
    }

    fn restore(&self, ctx: &mut Context<'_, T>) -> Result<usize> {
        let snap = self
            .snapshot
            .as_ref()
            .expect("tapegrad bug: DivergenceGuard has no snapshot (on_train_start not called)");
        ctx.optimizer.load_state(&*ctx.model, &snap.optimizer)?;
        snap.model.restore(ctx.model);
        Ok(snap.step)
    }
}

impl<T: Float> Callback<T> for DivergenceGuard<T> {
    fn on_train_start(&mut self, ctx: &mut Context<'_, T>) -> Result<()> {
        self.remember(ctx);
        Ok(())
    }

    /// # Errors
    /// [`Error::Diverged`] after too many rollbacks.
    fn on_loss(&mut self, ctx: &mut Context<'_, T>, loss: f64) -> Result<Control> {
        const BETA: f64 = 0.9;
        let ema = BETA * self.ema + (1.0 - BETA) * loss;
        let smoothed = ema / (1.0 - BETA.powi(self.seen as i32 + 1));
        let exploded = self.seen >= self.warmup && smoothed > self.factor * self.best;
        if loss.is_finite() && !exploded {
            self.seen += 1;
            self.ema = ema;
            self.best = self.best.min(smoothed);
            if self.since_snapshot + 1 >= self.every {
                self.remember(ctx);
            } else {
                self.since_snapshot += 1;
            }
            return Ok(Control::Continue);
        }
        if self.rollbacks >= self.max_rollbacks {
            return Err(Error::Diverged {
                step: ctx.state.step,
                loss,
                rollbacks: self.rollbacks,
            });
        }
        self.rollbacks += 1;
        let back_to = self.restore(ctx)?;
        ctx.state.lr_scale *= self.cut;
        let why = if loss.is_finite() {
            format!(
                "above {} x the best smoothed loss {:.4}",
                self.factor, self.best
            )
        } else {
            "is not finite".to_string()
        };
        let scale = ctx.state.lr_scale;
        ctx.report(format!(
            "divergence guard: loss {loss} {why}; rolled model and optimiser back to \
             step {back_to}, learning rate now x{scale:e} of the schedule \
             (rollback {} of {})",
            self.rollbacks, self.max_rollbacks
        ));
        Ok(Control::SkipStep)
    }
}
