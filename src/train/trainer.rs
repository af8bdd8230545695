//! [`Trainer`]: the training loop.
//!
//! `fit` sets up a `Run` (the model, the optimiser and the run's
//! bookkeeping, borrowed or owned for the length of one call), then
//! `run` loops over epochs, `train_batch` takes one step (its update
//! through the crate's one `update`, see `step.rs`) and `end_epoch`
//! validates, records and lets the schedule observe.

use super::history::{History, Record};
use super::progress::{Progress, Reporter};
use super::step::{Clip, update};
use super::{Callback, Context, Control, EpochSums, StepOutput, TrainState};
use crate::data::{Batch, DataLoader, Dataset};
use crate::error::Result;
use crate::nn::Module;
use crate::optim::Optimizer;
use crate::schedule::{Cooldown, LrSchedule, WarmupStableDecay};
use crate::tape::Tape;
use crate::tensor::Float;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Instant;

/// Runs epochs of training: forward and loss (your closure), backward,
/// clipping, the optimiser step at the scheduled rate, metrics,
/// validation, progress and callbacks. Build it, then call
/// [`fit`](Self::fit).
///
/// Each step, in order:
/// 1. the rate `schedule.lr_at(step) × lr_scale` is set on the optimiser
///    (without a schedule, the optimiser's rate at the start of the run
///    stands for `lr_at`); `lr_scale` is 1 unless a
///    [`DivergenceGuard`](super::DivergenceGuard) cut it, and the cut
///    persists through the schedule;
/// 2. a fresh tape seeded with [`TrainState::tape_seed`] records your
///    closure's forward pass and loss;
/// 3. callbacks see the loss ([`Callback::on_loss`]) and may skip the
///    update;
/// 4. backward, [`Clip`], `optimizer.step`: the point where gradients
///    could be combined across workers;
/// 5. the step's [`Record`] (`loss`, `lr`, `accuracy`, your metrics,
///    `examples_per_sec`), then [`Callback::on_step_end`].
///
/// After each epoch: the validation set (if any) is run through the same
/// closure on an evaluation tape, the epoch's [`Record`] is written (means
/// over its examples, `val_` metrics, `lr`, `examples_per_sec`,
/// `seconds`), the schedule observes `val_loss` (or the training loss
/// without validation), and [`Callback::on_epoch_end`] runs.
///
/// ## Evaluation point
/// Validation runs at the optimiser's evaluation point
/// ([`Optimizer::to_eval_point`]: the average `x` of a schedule-free
/// optimiser; the parameters as they are for every other), and training
/// then continues from the training point exactly as it was.
/// [`Checkpoint`](super::Checkpoint) saves at the evaluation point too.
/// `fit` starts by moving the model to the training point and leaves it at
/// the evaluation point when it returns, ready to use or save.
///
/// ## Stopping at a step, and cooling down from a checkpoint
/// [`max_steps`](Self::max_steps) ends a run after a given step (counted
/// over the whole run), whatever the epoch. [`cooldown`](Self::cooldown)
/// is for [`WarmupStableDecay`]: resume from a checkpoint written at any
/// step `S` of the stable phase, place the cool-down at `S` and run its
/// steps, then stop; the rates and parameters are those of a run that had
/// planned that cool-down from the start, bit for bit.
///
/// ```no_run
/// # use tapegrad::nn::Linear;
/// # use tapegrad::optim::Adam;
/// # use tapegrad::data::{DataLoader, TensorDataset};
/// # use tapegrad::tape::Tape;
/// # use tapegrad::data::Batch;
/// # use tapegrad::train::StepOutput;
/// # fn loss<'t>(m: &Linear, t: &'t Tape, b: &Batch) -> StepOutput<'t> { unimplemented!() }
/// # fn demo(model: &mut Linear, opt: &mut Adam, loader: &mut DataLoader<'_, f32, TensorDataset>) -> tapegrad::Result<()> {
/// use tapegrad::schedule::{Cooldown, CooldownShape, WarmupStableDecay};
/// use tapegrad::train::{Checkpoint, Trainer, load_checkpoint};
///
/// // The long run: warm-up, then 1e-3 with no end planned, a checkpoint every 1000 steps.
/// let wsd = WarmupStableDecay::new(1e-3, 500)?;
/// Trainer::new(1000)
///     .schedule(wsd.clone())
///     .callback(Checkpoint::every_steps("stable.ckpt.safetensors", 1000))
///     .fit(model, opt, loader, loss)?;
/// // Later: a finished model from the checkpoint, with 200 steps of 1-sqrt cool-down.
/// let state = load_checkpoint("stable.ckpt.safetensors", model, opt)?;
/// Trainer::new(1000)
///     .resume(state)
///     .cooldown(wsd, Cooldown::new(CooldownShape::Sqrt, 200))
///     .fit(model, opt, loader, loss)?;
/// # Ok(()) }
/// ```
pub struct Trainer<'a, T: Float = f32> {
    epochs: usize,
    clip: Option<Clip>,
    schedule: Option<Box<dyn LrSchedule + 'a>>,
    callbacks: Vec<Box<dyn Callback<T> + 'a>>,
    validation: Option<(&'a dyn Dataset<T>, usize)>,
    progress: Progress,
    seed: u64,
    anomaly_mode: bool,
    resume: Option<TrainState>,
    last_state: Option<TrainState>,
    max_steps: Option<usize>,
    /// A WSD schedule whose cool-down starts where the run starts.
    cooldown: Option<(WarmupStableDecay, Cooldown)>,
}

impl<'a, T: Float> Trainer<'a, T> {
    /// A trainer for `epochs` epochs: no clipping, no schedule (the
    /// optimiser's rate), no callbacks, no validation, [`Progress::Auto`],
    /// seed 0.
    pub fn new(epochs: usize) -> Self {
        Trainer {
            epochs,
            clip: None,
            schedule: None,
            callbacks: Vec::new(),
            validation: None,
            progress: Progress::Auto,
            seed: 0,
            anomaly_mode: false,
            resume: None,
            last_state: None,
            max_steps: None,
            cooldown: None,
        }
    }

    /// Turns on the tape's anomaly mode for every training step (see
    /// [`Tape::set_anomaly_mode`]): the first op of a step that produces a
    /// NaN or an infinity, in forward or backward, is reported as an event
    /// (printed unless quiet, and kept in [`History::events`]), naming the
    /// op and its node. It checks every value, so it slows training: use it
    /// to find where a divergence starts. Off by default.
    pub fn anomaly_mode(mut self, on: bool) -> Self {
        self.anomaly_mode = on;
        self
    }

    /// Sets the number of epochs (the total, counting those before a
    /// resume).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Clips gradients before each step.
    ///
    /// # Panics
    /// If the bound is not finite and > 0.
    pub fn clip(mut self, clip: Clip) -> Self {
        let (Clip::Norm(v) | Clip::Value(v)) = clip;
        assert!(
            v.is_finite() && v > 0.0,
            "Trainer::clip: bound {v} must be finite and > 0"
        );
        self.clip = Some(clip);
        self
    }

    /// Sets the learning rate of every step from `schedule` (steps counted
    /// over the whole run).
    pub fn schedule(mut self, schedule: impl LrSchedule + 'a) -> Self {
        self.cooldown = None;
        self.schedule = Some(Box::new(schedule));
        self
    }

    /// Ends the run once `steps` training steps have been taken (counted
    /// over the whole run, those before a resume included), even in the
    /// middle of an epoch; that epoch then gets no record (as when a
    /// callback stops the run), and [`state`](Self::state) is where a later
    /// resume continues. The epoch count still bounds the run too.
    pub fn max_steps(mut self, steps: usize) -> Self {
        self.max_steps = Some(steps);
        self
    }

    /// Runs `schedule` (built as for the run that wrote the checkpoint)
    /// with `cooldown` placed at the step the next [`fit`](Self::fit)
    /// starts from (the [`resume`](Self::resume)d state's step, else 0),
    /// and stops after the cool-down's last step: the same as
    /// `.schedule(schedule.with_cooldown(start, cooldown)?)
    /// .max_steps(start + cooldown.steps)`, with `start` read from the
    /// checkpoint. Each `fit` places the cool-down anew at its own start
    /// and sets [`max_steps`](Self::max_steps) to its end (overriding one
    /// given before). Replaces any [`schedule`](Self::schedule) (and is
    /// replaced by a later one); set the epochs high enough for the
    /// cool-down's steps.
    ///
    /// `fit` returns the [`ScheduleError`](crate::schedule::ScheduleError)
    /// of [`WarmupStableDecay::with_cooldown`] if the start is inside the
    /// warm-up or the cool-down is invalid, before training (the resume
    /// state is kept for another try).
    pub fn cooldown(mut self, schedule: WarmupStableDecay, cooldown: Cooldown) -> Self {
        self.schedule = None;
        self.cooldown = Some((schedule, cooldown));
        self
    }

    /// Adds a callback (called after those added before it).
    pub fn callback(mut self, callback: impl Callback<T> + 'a) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }

    /// Evaluates on `data` after every epoch, in batches of `batch_size`.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn validation(mut self, data: &'a dyn Dataset<T>, batch_size: usize) -> Self {
        assert!(
            batch_size > 0,
            "Trainer::validation: batch size must be > 0"
        );
        self.validation = Some((data, batch_size));
        self
    }

    /// Sets how progress is shown.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Shows nothing: `progress(Progress::Quiet)`.
    pub fn quiet(self) -> Self {
        self.progress(Progress::Quiet)
    }

    /// Sets the base seed from which each epoch's shuffle and each step's
    /// tape are seeded (see the [module docs](super)); 0 by default.
    ///
    /// The seed reaches the shuffle only if the loader shuffles: a loader
    /// made with [`DataLoader::shuffle`](crate::data::DataLoader::shuffle)
    /// (whatever seed it was given) is reseeded at the start of every epoch
    /// with [`TrainState::shuffle_seed`](super::TrainState::shuffle_seed),
    /// which derives from this seed and the epoch; a loader made without it
    /// keeps the dataset's order, and the seed then changes only the tapes'
    /// generators (dropout). It does not touch the model's initial
    /// parameters, which were drawn before the trainer saw them.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Continues a run from `state` (from
    /// [`train::load_checkpoint`](crate::train::load_checkpoint), which also
    /// restored the model and the optimiser): the next [`fit`](Self::fit)
    /// starts at `state`'s epoch and batch, with its seed and rate scale,
    /// and replays its observations into the schedule, which should be
    /// fresh (built as for the first run).
    ///
    /// The returned [`History`] holds the resumed part only (with the
    /// run's step and epoch numbers); after a mid-epoch checkpoint, that
    /// epoch's record still averages over all its batches, those before
    /// the checkpoint included ([`TrainState::epoch_sums`]), so it and the
    /// schedule's observations are the uninterrupted run's, bit for bit
    /// (its `examples_per_sec` and `seconds` count only the resumed part).
    /// Callback state (early stopping's patience, the divergence guard's
    /// smoothed loss and last good state) starts afresh.
    pub fn resume(mut self, state: TrainState) -> Self {
        self.resume = Some(state);
        self
    }

    /// Where the last [`fit`](Self::fit) ended (`None` before one ends).
    pub fn state(&self) -> Option<&TrainState> {
        self.last_state.as_ref()
    }

    /// Trains `model` with `optimizer` on the batches of `loader` and
    /// returns what was recorded.
    ///
    /// `step` records one batch's forward pass and loss on the tape it is
    /// given and returns a [`StepOutput`]; it must not depend on anything
    /// but its arguments for a run to be reproducible. A shuffling loader is
    /// reseeded every epoch from the trainer's seed.
    ///
    /// Each call is a new run from epoch 0 (unless [`resume`](Self::resume)
    /// was called before it); [`state`](Self::state) tells where it ended.
    ///
    /// # Errors
    /// The first error from a callback: [`Error::Diverged`](crate::Error::Diverged)
    /// from a [`DivergenceGuard`](super::DivergenceGuard) that gave up, an
    /// I/O error from a [`Checkpoint`](super::Checkpoint), ...
    ///
    /// # Panics
    /// If the loss is not a scalar, or as the closure panics.
    pub fn fit<M, O, D, F>(
        &mut self,
        model: &mut M,
        optimizer: &mut O,
        loader: &mut DataLoader<'_, T, D>,
        mut step: F,
    ) -> Result<History>
    where
        M: Module<T>,
        O: Optimizer<T>,
        D: Dataset<T> + ?Sized,
        F: for<'t> FnMut(&M, &'t Tape<T>, &Batch<T>) -> StepOutput<'t, T>,
    {
        let state = self
            .resume
            .take()
            .unwrap_or_else(|| TrainState::new(self.seed, optimizer.lr()));
        if let Some((schedule, cooldown)) = &self.cooldown {
            match schedule.clone().with_cooldown(state.step, *cooldown) {
                Ok(placed) => {
                    self.max_steps = Some(state.step + cooldown.steps);
                    self.schedule = Some(Box::new(placed));
                }
                Err(e) => {
                    self.resume = Some(state);
                    return Err(e.into());
                }
            }
        }
        if let Some(schedule) = self.schedule.as_mut() {
            for &(at, metric) in &state.observations {
                schedule.observe(at, metric);
            }
        }
        // A model left at its evaluation point (by the last fit, or loaded
        // from a checkpoint saved there) trains from its training point.
        optimizer.to_train_point(model);
        let mut run = Run {
            model,
            optimizer,
            state,
            history: History::default(),
            reporter: Reporter::new(self.progress, self.epochs),
        };
        let result = self.run(&mut run, loader, &mut step);
        run.optimizer.to_eval_point(&mut *run.model);
        run.reporter.finish();
        run.history.events = std::mem::take(&mut run.reporter.events);
        self.last_state = Some(run.state);
        result.map(|()| run.history)
    }

    /// The loop of [`fit`](Self::fit): epochs of batches, callbacks at the
    /// start and the end.
    fn run<M, O, D, F>(
        &mut self,
        run: &mut Run<'_, M, O>,
        loader: &mut DataLoader<'_, T, D>,
        step: &mut F,
    ) -> Result<()>
    where
        M: Module<T>,
        O: Optimizer<T>,
        D: Dataset<T> + ?Sized,
        F: for<'t> FnMut(&M, &'t Tape<T>, &Batch<T>) -> StepOutput<'t, T>,
    {
        for cb in self.callbacks.iter_mut() {
            cb.on_train_start(&mut context!(run))?;
        }
        // One tape for the whole run, reset by every update, so that
        // steady-state steps reuse its buffers.
        let tape = Tape::new();
        tape.set_anomaly_mode(self.anomaly_mode);
        let batches = loader.num_batches();
        let max_steps = self.max_steps;
        let done = |state: &TrainState| max_steps.is_some_and(|m| state.step >= m);
        'epochs: while run.state.epoch < self.epochs && !done(&run.state) {
            if loader.rng().is_some() {
                loader.set_rng(StdRng::seed_from_u64(run.state.shuffle_seed()));
            }
            let started = Instant::now();
            // Examples run by this call (the sums may hold some from before a resume).
            let mut examples = 0;
            let left = batches.saturating_sub(run.state.batch);
            run.reporter.start_epoch(run.state.epoch, left);
            for batch in loader.epoch().skip(run.state.batch) {
                if done(&run.state) {
                    break 'epochs;
                }
                examples += batch.len();
                if self.train_batch(run, &tape, &batch, step)? == Control::Stop {
                    break 'epochs;
                }
            }
            if self.end_epoch(run, step, started, examples)? == Control::Stop {
                break;
            }
        }
        for cb in self.callbacks.iter_mut() {
            cb.on_train_end(&mut context!(run))?;
        }
        Ok(())
    }

    /// One step on `batch`: the scheduled rate, the forward pass and loss
    /// on `tape`, the callbacks' say on the loss, the update (unless a
    /// callback skips it), the step's record and `on_step_end`.
    fn train_batch<M, O, F>(
        &mut self,
        run: &mut Run<'_, M, O>,
        tape: &Tape<T>,
        batch: &Batch<T>,
        step: &mut F,
    ) -> Result<Control>
    where
        M: Module<T>,
        O: Optimizer<T>,
        F: for<'t> FnMut(&M, &'t Tape<T>, &Batch<T>) -> StepOutput<'t, T>,
    {
        let started = Instant::now();
        let base = match &self.schedule {
            Some(s) => s.lr_at(run.state.step),
            None => run.state.base_lr,
        };
        let lr = base * run.state.lr_scale;
        run.optimizer.set_lr(lr);
        tape.seed(run.state.tape_seed());
        let out = step(&*run.model, tape, batch);
        let loss = out.loss.item().to_f64();
        let mut control = Control::Continue;
        for cb in self.callbacks.iter_mut() {
            control = control.max(cb.on_loss(&mut context!(run), loss)?);
        }
        let mut record = Record::new(run.state.epoch, run.state.step);
        record.set("loss", loss);
        if let Some((hits, n)) = out.correct() {
            record.set("accuracy", hits as f64 / n as f64);
        }
        for (name, v) in out.metrics() {
            record.set(name.clone(), *v);
        }
        let applied = control == Control::Continue;
        let anomaly = if applied {
            let sums = &mut run.state.epoch_sums;
            sums.add(out.correct(), out.metrics(), loss, batch.len());
            update(&mut *run.model, &mut *run.optimizer, out.loss, self.clip)
        } else {
            let anomaly = tape.anomaly();
            tape.clear();
            anomaly
        };
        if let Some(anomaly) = anomaly {
            let (epoch, at) = (run.state.epoch, run.state.step);
            run.reporter.event(epoch, at, format!("anomaly: {anomaly}"));
        }
        record.set("lr", lr);
        let speed = batch.len() as f64 / started.elapsed().as_secs_f64().max(1e-9);
        record.set("examples_per_sec", speed);
        if !applied {
            record.set("skipped", 1.0);
        }
        run.state.step += 1;
        run.state.batch += 1;
        run.reporter.step(loss, lr, speed);
        run.history.steps.push(record);
        let record = run.history.steps.last().expect("just pushed");
        for cb in self.callbacks.iter_mut() {
            control = control.max(cb.on_step_end(&mut context!(run), record)?);
        }
        Ok(control)
    }

    /// The end of an epoch that began at `started` and ran `examples`
    /// examples in this call: validation, the epoch's record, the
    /// schedule's observation, `on_epoch_end`.
    fn end_epoch<M, O, F>(
        &mut self,
        run: &mut Run<'_, M, O>,
        step: &mut F,
        started: Instant,
        examples: usize,
    ) -> Result<Control>
    where
        M: Module<T>,
        O: Optimizer<T>,
        F: for<'t> FnMut(&M, &'t Tape<T>, &Batch<T>) -> StepOutput<'t, T>,
    {
        let state = &mut run.state;
        let mut record = state.epoch_sums.record(state.epoch, state.step);
        if let Some((data, batch_size)) = self.validation {
            run.optimizer.to_eval_point(&mut *run.model);
            let val = evaluate(&*run.model, data, batch_size, step);
            run.optimizer.to_train_point(&mut *run.model);
            let values = val.record(0, 0).values.into_iter();
            record
                .values
                .extend(values.map(|(n, v)| (format!("val_{n}"), v)));
        }
        record.set("lr", run.optimizer.lr());
        let seconds = started.elapsed().as_secs_f64();
        record.set("examples_per_sec", examples as f64 / seconds.max(1e-9));
        record.set("seconds", seconds);
        if let Some(schedule) = self.schedule.as_mut() {
            let metric = record
                .get("val_loss")
                .or(record.get("loss"))
                .unwrap_or(f64::NAN);
            schedule.observe(state.step, metric);
            state.observations.push((state.step, metric));
        }
        state.epoch += 1;
        state.batch = 0;
        state.epoch_sums = EpochSums::new();
        run.reporter.end_epoch(&record);
        run.history.epochs.push(record);
        let record = run.history.epochs.last().expect("just pushed");
        let mut control = Control::Continue;
        for cb in self.callbacks.iter_mut() {
            control = control.max(cb.on_epoch_end(&mut context!(run), record)?);
        }
        Ok(control)
    }
}

/// What one [`Trainer::fit`] call trains and keeps: the model and the
/// optimiser (borrowed), where the run is, what it recorded, and the
/// progress display.
struct Run<'r, M, O> {
    model: &'r mut M,
    optimizer: &'r mut O,
    state: TrainState,
    history: History,
    reporter: Reporter,
}

/// The callbacks' [`Context`] over a [`Run`]'s fields (a macro rather than
/// a method, so that a record borrowed from the history can be passed
/// beside it).
macro_rules! context {
    ($run:ident) => {
        Context {
            model: &mut *$run.model,
            optimizer: &mut *$run.optimizer,
            state: &mut $run.state,
            history: &$run.history,
            reporter: &mut $run.reporter,
        }
    };
}
use context;

/// Runs `step` over `data` on evaluation tapes (no backward, nothing
/// changed) and sums up.
fn evaluate<T, M, F>(model: &M, data: &dyn Dataset<T>, batch_size: usize, step: &mut F) -> EpochSums
where
    T: Float,
    M: Module<T>,
    F: for<'t> FnMut(&M, &'t Tape<T>, &Batch<T>) -> StepOutput<'t, T>,
{
    let mut totals = EpochSums::new();
    let mut loader = DataLoader::new(data, batch_size);
    for batch in loader.epoch() {
        let tape = Tape::eval();
        let out = step(model, &tape, &batch);
        let loss = out.loss.item().to_f64();
        totals.add(out.correct(), out.metrics(), loss, batch.len());
    }
    totals
}
