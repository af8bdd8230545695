//! [`ReduceLrOnPlateau`]: cut the rate when a metric stops improving.

use super::{LrSchedule, ScheduleError, check};

/// Whether a smaller or a larger metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PlateauMode {
    /// Smaller is better (a loss). The default.
    #[default]
    Min,
    /// Larger is better (an accuracy).
    Max,
}

/// How far past the best a metric must go to count as an improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ThresholdMode {
    /// By a fraction of the best: `best · (1 ∓ threshold)`. The default.
    #[default]
    Rel,
    /// By a fixed amount: `best ∓ threshold`.
    Abs,
}

/// The optional arguments of [`ReduceLrOnPlateau`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlateauOptions {
    /// Whether the metric should fall or rise (default [`PlateauMode::Min`]).
    pub mode: PlateauMode,
    /// The rate is multiplied by this on a plateau, in `(0, 1)` (default 0.1).
    pub factor: f64,
    /// Observations without improvement tolerated before a cut (default 10).
    pub patience: usize,
    /// The margin an improvement must beat, `>= 0` (default 1e-4).
    pub threshold: f64,
    /// Whether `threshold` is relative or absolute (default [`ThresholdMode::Rel`]).
    pub threshold_mode: ThresholdMode,
    /// Observations after a cut during which bad ones are not counted (default 0).
    pub cooldown: usize,
    /// The rate is never cut below this (default 0).
    pub min_lr: f64,
    /// A cut smaller than this is skipped (default 1e-8).
    pub eps: f64,
}

impl Default for PlateauOptions {
    fn default() -> Self {
        PlateauOptions {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

/// Multiplies the rate by `factor` when the observed metric has not improved
/// for more than `patience` observations.
///
/// At each [`observe`](LrSchedule::observe) with metric `a` (in `Min` mode,
/// relative threshold `θ`):
///
/// ```text
/// improved  ⇔  a < best · (1 − θ)        (Max: a > best · (1 + θ); Abs: best ∓ θ)
/// improved:      best ← a, bad ← 0         otherwise: bad ← bad + 1
/// in cooldown:   cooldown ← cooldown − 1, bad ← 0
/// bad > patience:
///     η ← max(η · factor, min_lr)   (skipped if it would change η by eps or less)
///     cooldown ← options.cooldown, bad ← 0
/// ```
///
/// `best` starts at `+∞` (`−∞` for `Max`), so the first metric always
/// improves; a NaN metric never does. As in PyTorch, the relative threshold
/// is taken of `best` as it is, so for negative metrics in `Min` mode it
/// asks for less than it does for positive ones.
///
/// The schedule keeps the steps at which it cut the rate, so
/// [`lr_at`](LrSchedule::lr_at) stays pure: it gives the rate that was (or
/// is) in force at any step, and a plot after training shows the real
/// history. A cut decided by `observe(step, _)` applies from `step` on
/// (`step` = the number of optimiser steps taken when the metric was
/// measured).
///
/// PyTorch: `torch.optim.lr_scheduler.ReduceLROnPlateau` (defaults in
/// [`PlateauOptions`]).
///
/// ```
/// use tapegrad::schedule::{LrSchedule, PlateauOptions, ReduceLrOnPlateau};
/// let options = PlateauOptions { patience: 1, factor: 0.5, ..Default::default() };
/// let mut s = ReduceLrOnPlateau::new(1.0, options)?;
/// for (epoch, loss) in [3.0, 2.0, 2.0, 2.0].into_iter().enumerate() {
///     s.observe(10 * (epoch + 1), loss); // 10 steps per epoch
/// }
/// // Two epochs without improvement (> patience) after the best at step 20: cut at step 40.
/// assert_eq!((s.lr_at(39), s.lr_at(40)), (1.0, 0.5));
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceLrOnPlateau {
    lr: f64,
    options: PlateauOptions,
    current: f64,
    best: f64,
    bad: usize,
    cooldown_left: usize,
    /// `(first step, rate from then on)`, in increasing step order.
    cuts: Vec<(usize, f64)>,
}

impl ReduceLrOnPlateau {
    /// Starts at `lr` and cuts it as the observed metric stalls.
    ///
    /// # Errors
    /// `lr` or `min_lr` negative or not finite; `min_lr > lr`; `factor`
    /// outside `(0, 1)`; `threshold` or `eps` negative or not finite.
    pub fn new(lr: f64, options: PlateauOptions) -> Result<Self, ScheduleError> {
        const NAME: &str = "ReduceLrOnPlateau";
        let lr = check::rate(NAME, "lr", lr)?;
        check::strict_decay(NAME, "factor", options.factor)?;
        check::non_negative(NAME, "threshold", options.threshold)?;
        check::non_negative(NAME, "eps", options.eps)?;
        let min_lr = check::rate(NAME, "min_lr", options.min_lr)?;
        check::at_most(NAME, "min_lr", min_lr, "lr", lr)?;
        let best = match options.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        };
        Ok(ReduceLrOnPlateau {
            lr,
            options,
            current: lr,
            best,
            bad: 0,
            cooldown_left: 0,
            cuts: Vec::new(),
        })
    }

    /// The rate now, after every metric observed so far.
    pub fn current_lr(&self) -> f64 {
        self.current
    }

    /// The best metric observed so far (`±∞` before the first).
    pub fn best(&self) -> f64 {
        self.best
    }

    /// Observations since the last improvement that count towards patience.
    pub fn num_bad_epochs(&self) -> usize {
        self.bad
    }

    /// Whether bad observations are being ignored after a recent cut.
    pub fn in_cooldown(&self) -> bool {
        self.cooldown_left > 0
    }

    /// The cuts so far: `(step from which it applies, new rate)`.
    pub fn cuts(&self) -> &[(usize, f64)] {
        &self.cuts
    }

    fn improves(&self, a: f64) -> bool {
        let (best, th) = (self.best, self.options.threshold);
        match (self.options.mode, self.options.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - th),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - th,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (1.0 + th),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + th,
        }
    }
}

impl LrSchedule for ReduceLrOnPlateau {
    fn lr_at(&self, step: usize) -> f64 {
        match self.cuts.partition_point(|&(from, _)| from <= step) {
            0 => self.lr,
            n => self.cuts[n - 1].1,
        }
    }

    /// Counts `metric` as an improvement or not and cuts the rate from
    /// `step` on after too long a plateau. Steps should not decrease between
    /// calls; a smaller one is treated as the largest seen so far.
    fn observe(&mut self, step: usize, metric: f64) {
        if self.improves(metric) {
            self.best = metric;
            self.bad = 0;
        } else {
            self.bad += 1;
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad = 0;
        }
        if self.bad > self.options.patience {
            let new = (self.current * self.options.factor).max(self.options.min_lr);
            if self.current - new > self.options.eps {
                self.current = new;
                let from = self.cuts.last().map_or(step, |&(last, _)| step.max(last));
                if self.cuts.last().is_some_and(|&(last, _)| last == from) {
                    self.cuts.pop();
                }
                self.cuts.push((from, new));
            }
            self.cooldown_left = self.options.cooldown;
            self.bad = 0;
        }
    }

    fn describe(&self) -> String {
        let o = &self.options;
        format!(
            "ReduceLrOnPlateau(lr = {}, {:?}, factor = {}, patience = {}, threshold = {} {:?}, \
             cooldown = {}, min_lr = {})",
            self.lr,
            o.mode,
            o.factor,
            o.patience,
            o.threshold,
            o.threshold_mode,
            o.cooldown,
            o.min_lr
        )
    }
}
