//! [`LinearWarmup`]: a linear ramp in front of any schedule.

use super::{LrSchedule, ScheduleError, check};

/// Ramps the rate linearly from `start_factor · η` up to `η` over
/// `warmup_steps` steps, then runs the wrapped schedule with its own step
/// count starting at 0:
///
/// ```text
/// η_t = inner(0) · (f + (1 − f) · t / w)    for t < w     (f = start_factor, w = warmup_steps)
/// η_t = inner(t − w)                          for t ≥ w
/// ```
///
/// The ramp ends where the wrapped schedule starts: step `w` gets
/// `inner(0)`, the last warm-up step `w − 1` gets `inner(0) · (f + (1 − f)(w − 1)/w)`.
/// `inner(0)` in the ramp is read once, when the warm-up is built, so a
/// metric-driven inner schedule that later cuts its rate does not rewrite
/// the warm-up that already happened.
///
/// PyTorch: `SequentialLR([LinearLR(start_factor, end_factor = 1,
/// total_iters = w), inner], milestones = [w])`; `LinearLR`'s default
/// `start_factor` is 1/3. Warm-up as in Goyal et al., "Accurate, Large
/// Minibatch SGD: Training ImageNet in 1 Hour", 2017.
///
/// ```
/// use tapegrad::schedule::{ConstantLr, LinearWarmup, LrSchedule};
/// let s = LinearWarmup::new(ConstantLr::new(1.0)?, 4, 0.25)?;
/// assert_eq!(s.lr_at(0), 0.25);
/// assert_eq!(s.lr_at(2), 0.625); // 0.25 + 0.75 · 2/4
/// assert_eq!(s.lr_at(4), 1.0);
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LinearWarmup<S> {
    inner: S,
    /// `inner.lr_at(0)` when built: the rate the ramp climbs to.
    peak: f64,
    warmup_steps: usize,
    start_factor: f64,
}

impl<S: LrSchedule> LinearWarmup<S> {
    /// Puts `warmup_steps` steps of linear warm-up, starting at
    /// `start_factor` times `inner`'s first rate, in front of `inner`.
    ///
    /// # Errors
    /// `warmup_steps` zero; `start_factor` outside `(0, 1]`.
    pub fn new(inner: S, warmup_steps: usize, start_factor: f64) -> Result<Self, ScheduleError> {
        const NAME: &str = "LinearWarmup";
        Ok(LinearWarmup {
            peak: inner.lr_at(0),
            inner,
            warmup_steps: check::period(NAME, "warmup_steps", warmup_steps)?,
            start_factor: check::decay(NAME, "start_factor", start_factor)?,
        })
    }

    /// The wrapped schedule.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: LrSchedule> LrSchedule for LinearWarmup<S> {
    fn lr_at(&self, step: usize) -> f64 {
        let w = self.warmup_steps;
        if step >= w {
            return self.inner.lr_at(step - w);
        }
        let f = self.start_factor;
        self.peak * (f + (1.0 - f) * step as f64 / w as f64)
    }

    /// Passes the metric to the wrapped schedule at its own step count (0
    /// for anything observed during warm-up).
    fn observe(&mut self, step: usize, metric: f64) {
        self.inner
            .observe(step.saturating_sub(self.warmup_steps), metric)
    }

    fn describe(&self) -> String {
        format!(
            "LinearWarmup(warmup_steps = {}, start_factor = {}, {})",
            self.warmup_steps,
            self.start_factor,
            self.inner.describe()
        )
    }
}
