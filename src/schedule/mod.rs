//! Learning-rate schedules: how the rate changes as training goes.
//!
//! Every schedule implements [`LrSchedule`]. Its core is **pure**:
//! [`lr_at(step)`](LrSchedule::lr_at) gives the rate for a step without
//! changing anything, so a schedule can be plotted, tested or inspected
//! before (and without) training. Schedules that react to a metric
//! ([`ReduceLrOnPlateau`]) also take [`observe`](LrSchedule::observe) calls,
//! which change the rates of later steps.
//!
//! ## How a training loop uses a schedule
//! ```
//! use tapegrad::schedule::{CosineAnnealingLr, LinearWarmup, LrSchedule};
//!
//! let mut schedule = LinearWarmup::new(CosineAnnealingLr::new(0.1, 90, 1e-4)?, 10, 0.01)?;
//! let steps_per_epoch = 25;
//! for step in 0..100 {
//!     let lr = schedule.lr_at(step); // 1. set the optimiser's rate for this step
//!     assert!(lr > 0.0 && lr <= 0.1);
//!     // 2. forward, backward, optimiser step with `lr` ...
//!     let steps_done = step + 1;
//!     if steps_done % steps_per_epoch == 0 {
//!         let validation_loss = 1.0 / steps_done as f64;
//!         schedule.observe(steps_done, validation_loss); // 3. at each epoch end
//!     }
//! }
//! schedule.plot(100, std::env::temp_dir().join("warmup_cosine.svg"))?;
//! # Ok::<(), tapegrad::Error>(())
//! ```
//! `step` counts optimiser steps from 0. Schedules that PyTorch steps once
//! per epoch (`StepLr`, `CosineAnnealingLr`, ...) work the same way here with
//! `step` meaning whatever unit their periods were given in: pass the epoch
//! index instead if the periods are in epochs.
//!
//! ## Construction
//! Constructors check their arguments and return
//! `Result<Self, `[`ScheduleError`]`>`: a negative or non-finite rate, a
//! zero period, a decay factor outside its range or milestones that do not
//! increase are errors that name the schedule, the argument and the reason.
//! `ScheduleError` converts into [`crate::Error`] with `?`.
//!
//! ## The schedules, from simple to complex
//! Formulas and defaults follow PyTorch's `torch.optim.lr_scheduler` closed
//! forms; each type's doc gives its formula and the PyTorch class it
//! matches. `η₀` is the base rate the schedule is built with and `t` the
//! step.
//!
//! - [`ConstantLr`]; step decays [`StepLr`] and [`MultiStepLr`]; smooth
//!   decays [`ExponentialLr`] and [`PolynomialLr`]; any closure with
//!   [`LambdaLr`];
//! - [`CosineAnnealingLr`] to a floor, and [`CosineAnnealingWarmRestarts`] (SGDR);
//! - [`LinearWarmup`] in front of any schedule;
//! - cycles: [`CyclicLr`] (CLR) and [`OneCycleLr`] (1cycle);
//! - [`SequentialLr`] to join schedules at milestones;
//! - [`WarmupStableDecay`] (WSD): warm-up, a stable rate with no planned
//!   end, and a [`Cooldown`] placed when the run is to end, also from a
//!   checkpoint of the stable phase (`train::Trainer::cooldown`);
//! - [`ReduceLrOnPlateau`], driven by a metric through `observe`.
//!
//! ## Names
//! A schedule is named as its PyTorch class, in Rust's casing (`LR`
//! becomes `Lr`): `torch.optim.lr_scheduler.CosineAnnealingLR` is
//! [`CosineAnnealingLr`] here, `ReduceLROnPlateau` is [`ReduceLrOnPlateau`],
//! so code carried to or from PyTorch finds the same names. Three notes:
//!
//! - **[`LinearWarmup`] is an exception**: PyTorch has no warm-up class
//!   (it builds one from `LinearLR` and `SequentialLR`), so the name says
//!   what it does, and it wraps any schedule rather than joining two.
//! - **[`WarmupStableDecay`] is the other**: no PyTorch class either
//!   (PyTorch chains `LinearLR`, `ConstantLR` and a `LambdaLR` in a
//!   `SequentialLR`); its companions are [`Cooldown`] and [`CooldownShape`].
//! - [`ConstantLr`] is PyTorch's `ConstantLR` with `factor = 1` (a fixed
//!   rate); PyTorch's scaled start, `factor < 1` for `total_iters` steps,
//!   is a [`SequentialLr`] of two `ConstantLr`s.
//!
//! Companion types keep the short stem (`CyclicMode`, `OneCycleOptions`,
//! `PlateauOptions`), and so do the files (`cosine.rs` holds
//! `CosineAnnealingLr`, `plateau.rs` `ReduceLrOnPlateau`, as `step.rs`
//! holds `StepLr`).
//!
//! Not a schedule but its companion: `train::LrFinder`, the LR range test,
//! finds the rate to start from. It trains, so it lives with the training
//! loop; this module needs nothing but the plots.

mod constant;
mod cosine;
mod cyclic;
mod exponential;
mod lambda;
mod multi_step;
mod one_cycle;
mod plateau;
mod polynomial;
mod sequential;
mod step;
mod warm_restarts;
mod warmup;
mod wsd;

// The re-exports run from simple to complex (blank lines keep rustfmt from
// sorting them).
pub use constant::ConstantLr;

pub use step::StepLr;

pub use multi_step::MultiStepLr;

pub use exponential::ExponentialLr;

pub use polynomial::PolynomialLr;

pub use lambda::LambdaLr;

pub use cosine::CosineAnnealingLr;

pub use warm_restarts::CosineAnnealingWarmRestarts;

pub use warmup::LinearWarmup;

pub use cyclic::{CyclicLr, CyclicMode};

pub use one_cycle::{Anneal, OneCycleLr, OneCycleOptions};

pub use sequential::SequentialLr;

pub use wsd::{Cooldown, CooldownShape, WarmupStableDecay};

pub use plateau::{PlateauMode, PlateauOptions, ReduceLrOnPlateau, ThresholdMode};

use crate::error::Result;
pub use crate::error::ScheduleError;
use crate::plot::LineChart;
use std::path::Path;

/// A learning rate as a function of the training step.
///
/// Implement [`lr_at`](Self::lr_at) (and [`observe`](Self::observe) if the
/// schedule reacts to a metric); the rest is provided.
pub trait LrSchedule: Send {
    /// The learning rate for step `step` (counted from 0). Pure: calling it
    /// changes nothing, and any step may be asked for in any order.
    fn lr_at(&self, step: usize) -> f64;

    /// Reports a metric (for example the validation loss at an epoch end)
    /// measured when `step` optimiser steps had been taken. Metric-driven
    /// schedules may change the rate of steps `step` and later, never of
    /// earlier ones; the default does nothing.
    fn observe(&mut self, step: usize, metric: f64) {
        let _ = (step, metric);
    }

    /// A one-line description with the schedule's arguments, used as the
    /// title of [`plot`](Self::plot).
    fn describe(&self) -> String {
        "learning-rate schedule".to_string()
    }

    /// A chart of the rate over steps `0..steps`, titled with
    /// [`describe`](Self::describe); adjust it (e.g. `.log_y()`, a
    /// `.marker(..)`, another schedule's series to compare) and save it.
    fn chart(&self, steps: usize) -> LineChart {
        let points = (0..steps).map(|t| (t as f64, self.lr_at(t)));
        LineChart::new(self.describe())
            .x_label("step")
            .y_label("learning rate")
            .series("", points)
    }

    /// Draws the rate over steps `0..steps` and writes it to `path`, as SVG
    /// or PNG by its extension. (Through a `&dyn LrSchedule`, call
    /// `chart(steps).save(path)`; `chart(steps).save_both(path)` writes
    /// both.)
    ///
    /// # Errors
    /// As [`LineChart::save`]: the path must end in `.svg` or `.png`,
    /// `steps` must be at least 1, and the file must be writable.
    fn plot(&self, steps: usize, path: impl AsRef<Path>) -> Result<()>
    where
        Self: Sized,
    {
        self.chart(steps).save(path)
    }
}

impl<S: LrSchedule + ?Sized> LrSchedule for Box<S> {
    fn lr_at(&self, step: usize) -> f64 {
        (**self).lr_at(step)
    }

    fn observe(&mut self, step: usize, metric: f64) {
        (**self).observe(step, metric)
    }

    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Argument checks shared by the constructors; each returns the value it
/// checked so that constructors read as a list of fields.
pub(crate) mod check {
    use super::ScheduleError;

    type Checked<T> = Result<T, ScheduleError>;

    /// A learning rate: finite and `>= 0`.
    pub fn rate(schedule: &'static str, argument: &'static str, v: f64) -> Checked<f64> {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            let reason = format!("must be a finite rate >= 0, got {v}");
            Err(ScheduleError::new(schedule, argument, reason))
        }
    }

    /// A finite number strictly greater than 0.
    pub fn positive(schedule: &'static str, argument: &'static str, v: f64) -> Checked<f64> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            let reason = format!("must be finite and > 0, got {v}");
            Err(ScheduleError::new(schedule, argument, reason))
        }
    }

    /// A finite number `>= 0`.
    pub fn non_negative(schedule: &'static str, argument: &'static str, v: f64) -> Checked<f64> {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            let reason = format!("must be finite and >= 0, got {v}");
            Err(ScheduleError::new(schedule, argument, reason))
        }
    }

    /// A multiplier in `(0, 1]`: shrinks the rate or keeps it.
    pub fn decay(schedule: &'static str, argument: &'static str, v: f64) -> Checked<f64> {
        if v > 0.0 && v <= 1.0 {
            Ok(v)
        } else {
            let reason = format!("must be in (0, 1], got {v}");
            Err(ScheduleError::new(schedule, argument, reason))
        }
    }

    /// A multiplier in `(0, 1)`: must actually shrink the rate.
    pub fn strict_decay(schedule: &'static str, argument: &'static str, v: f64) -> Checked<f64> {
        if v > 0.0 && v < 1.0 {
            Ok(v)
        } else {
            let reason = format!("must be in (0, 1), got {v}");
            Err(ScheduleError::new(schedule, argument, reason))
        }
    }

    /// A period or count of steps: at least 1.
    pub fn period(schedule: &'static str, argument: &'static str, n: usize) -> Checked<usize> {
        if n >= 1 {
            Ok(n)
        } else {
            Err(ScheduleError::new(
                schedule,
                argument,
                "must be at least 1, got 0",
            ))
        }
    }

    /// Steps that are non-empty, start after 0 and strictly increase.
    pub fn milestones(
        schedule: &'static str,
        argument: &'static str,
        m: Vec<usize>,
    ) -> Checked<Vec<usize>> {
        let fail = |reason: String| Err(ScheduleError::new(schedule, argument, reason));
        if m.is_empty() {
            return fail("must not be empty".to_string());
        }
        if m[0] == 0 {
            return fail(format!("must be after step 0, got {m:?}"));
        }
        if let Some(w) = m.windows(2).find(|w| w[0] >= w[1]) {
            return fail(format!(
                "must strictly increase, got {} then {} in {m:?}",
                w[0], w[1]
            ));
        }
        Ok(m)
    }

    /// `low <= high`, for a floor and the rate it lies under.
    pub fn at_most(
        schedule: &'static str,
        argument: &'static str,
        low: f64,
        other: &'static str,
        high: f64,
    ) -> Checked<f64> {
        if low <= high {
            Ok(low)
        } else {
            let reason = format!("({low}) must not exceed {other} ({high})");
            Err(ScheduleError::new(schedule, argument, reason))
        }
    }
}
