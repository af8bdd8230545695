//! [`WarmupStableDecay`] (WSD): a warm-up, a constant rate for as long as
//! training goes on, and a cool-down that can be decided on later.
//!
//! The point of WSD is that the stable phase has no planned end: a run can
//! be checkpointed anywhere in it and a cool-down started from any of
//! those checkpoints (the trainer's `cooldown` resumes one), so one long run gives the finished models of many
//! training lengths. [`Cooldown`] says how long the cool-down is and its
//! [`CooldownShape`]; [`WarmupStableDecay::with_cooldown`] places it.

use super::{LrSchedule, ScheduleError, check};
use std::f64::consts::PI;

/// How the rate falls during a cool-down, as a function of its progress
/// `p` in `(0, 1]` (see [`WarmupStableDecay`] for where `p` comes from):
/// the rate is `η_final + (η − η_final) · g(p)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CooldownShape {
    /// `g(p) = 1 − p`: a straight line.
    Linear,
    /// `g(p) = (1 + cos(π p)) / 2`: half a cosine, as
    /// [`CosineAnnealingLr`](super::CosineAnnealingLr).
    Cosine,
    /// `g(p) = 1 − √p`: falls fastest at the start ("1-sqrt" in Hägele et
    /// al., "Scaling Laws and Compute-Optimal Training Beyond Fixed
    /// Training Durations", 2024, where it did best).
    Sqrt,
}

impl CooldownShape {
    /// `g(p)`, from 1 at `p = 0` to 0 at `p = 1`.
    pub fn factor(self, p: f64) -> f64 {
        match self {
            CooldownShape::Linear => 1.0 - p,
            CooldownShape::Cosine => (1.0 + (PI * p).cos()) / 2.0,
            CooldownShape::Sqrt => 1.0 - p.sqrt(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            CooldownShape::Linear => "linear",
            CooldownShape::Cosine => "cosine",
            CooldownShape::Sqrt => "sqrt",
        }
    }
}

/// A cool-down without its start: `steps` steps of `shape` down to
/// `final_lr`. Where it starts is given when it is placed, by
/// [`WarmupStableDecay::with_cooldown`] or by the step a resumed run is
/// at (the trainer's `cooldown`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cooldown {
    /// The number of cool-down steps `D` (at least 1).
    pub steps: usize,
    /// How the rate falls.
    pub shape: CooldownShape,
    /// The rate of the last cool-down step and after, `η_final` (at most
    /// the peak rate).
    pub final_lr: f64,
}

impl Cooldown {
    /// `steps` steps of `shape` down to 0 (set another floor with
    /// [`final_lr`](Self::final_lr)). Checked when placed.
    pub fn new(shape: CooldownShape, steps: usize) -> Self {
        Cooldown {
            steps,
            shape,
            final_lr: 0.0,
        }
    }

    /// Sets the rate the cool-down ends at.
    pub fn final_lr(mut self, final_lr: f64) -> Self {
        self.final_lr = final_lr;
        self
    }
}

/// Warmup-stable-decay: a linear warm-up over `W` steps, then the peak
/// rate `η` for as long as no cool-down is placed; with a cool-down of `D`
/// steps starting at step `S` (`S ≥ W`):
///
/// ```text
/// η_t = η · (t + 1) / W                               t < W          (warm-up)
/// η_t = η                                             W ≤ t < S      (stable)
/// η_t = η_f + (η − η_f) · g((t − S + 1) / D)          S ≤ t < S + D  (cool-down)
/// η_t = η_f                                           t ≥ S + D
/// ```
///
/// with `g` the [`CooldownShape`] (`1 − p`, `(1 + cos πp)/2` or `1 − √p`)
/// and `η_f` the cool-down's `final_lr`. The warm-up's last step `W − 1`
/// already has `η`; the cool-down's first step `S` is already below `η`
/// and its last step `S + D − 1` is exactly `η_f`, so a run of `S + D`
/// steps ([`end`](Self::end)) ends on the final rate. `W = 0` means no
/// warm-up.
///
/// Hu et al., "MiniCPM: Unveiling the Potential of Small Language Models
/// with Scalable Training Strategies", 2024; Hägele et al., "Scaling Laws
/// and Compute-Optimal Training Beyond Fixed Training Durations", 2024.
/// PyTorch has no WSD class (it is built from `LinearLR`, `ConstantLR` and
/// `LambdaLR` in a `SequentialLR`), so the name says what it does.
///
/// ```
/// use tapegrad::schedule::{Cooldown, CooldownShape, LrSchedule, WarmupStableDecay};
/// let stable = WarmupStableDecay::new(1.0, 4)?;
/// assert_eq!(stable.lr_at(0), 0.25); // 1 · 1/4
/// assert_eq!(stable.lr_at(3), 1.0);
/// assert_eq!(stable.lr_at(1_000_000), 1.0); // no end planned
/// let planned = stable.with_cooldown(10, Cooldown::new(CooldownShape::Linear, 4))?;
/// assert_eq!(planned.lr_at(9), 1.0);
/// assert_eq!(planned.lr_at(10), 0.75); // 1 − 1/4
/// assert_eq!(planned.lr_at(13), 0.0);
/// assert_eq!(planned.end(), Some(14));
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct WarmupStableDecay {
    lr: f64,
    warmup_steps: usize,
    /// The cool-down and its start step `S`.
    cooldown: Option<(usize, Cooldown)>,
}

const NAME: &str = "WarmupStableDecay";

impl WarmupStableDecay {
    /// A warm-up of `warmup_steps` steps to `lr`, then `lr` for ever (until
    /// a cool-down is placed).
    ///
    /// # Errors
    /// `lr` negative or not finite.
    pub fn new(lr: f64, warmup_steps: usize) -> Result<Self, ScheduleError> {
        Ok(WarmupStableDecay {
            lr: check::rate(NAME, "lr", lr)?,
            warmup_steps,
            cooldown: None,
        })
    }

    /// The same schedule with `cooldown` starting at step `start` (a
    /// cool-down placed before is replaced).
    ///
    /// # Errors
    /// `start` before the end of the warm-up; `cooldown.steps` zero;
    /// `cooldown.final_lr` negative, not finite or above the peak rate.
    pub fn with_cooldown(
        mut self,
        start: usize,
        cooldown: Cooldown,
    ) -> Result<Self, ScheduleError> {
        if start < self.warmup_steps {
            let reason = format!(
                "({start}) must not be before the end of the warm-up (step {})",
                self.warmup_steps
            );
            return Err(ScheduleError::new(NAME, "cooldown start", reason));
        }
        check::period(NAME, "cooldown steps", cooldown.steps)?;
        let final_lr = check::rate(NAME, "final_lr", cooldown.final_lr)?;
        check::at_most(NAME, "final_lr", final_lr, "lr", self.lr)?;
        self.cooldown = Some((start, cooldown));
        Ok(self)
    }

    /// The peak rate `η`.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// The warm-up's length `W`.
    pub fn warmup_steps(&self) -> usize {
        self.warmup_steps
    }

    /// The placed cool-down and its start step, if any.
    pub fn cooldown(&self) -> Option<(usize, Cooldown)> {
        self.cooldown
    }

    /// `S + D`, the number of steps of a run that ends with the placed
    /// cool-down; `None` while the stable phase has no end.
    pub fn end(&self) -> Option<usize> {
        self.cooldown.map(|(start, c)| start + c.steps)
    }
}

impl LrSchedule for WarmupStableDecay {
    fn lr_at(&self, step: usize) -> f64 {
        let w = self.warmup_steps;
        if step < w {
            return self.lr * (step + 1) as f64 / w as f64;
        }
        let Some((start, c)) = self.cooldown else {
            return self.lr;
        };
        if step < start {
            return self.lr;
        }
        let p = ((step - start + 1) as f64 / c.steps as f64).min(1.0);
        if p >= 1.0 {
            return c.final_lr;
        }
        c.final_lr + (self.lr - c.final_lr) * c.shape.factor(p)
    }

    fn describe(&self) -> String {
        let head = format!(
            "WarmupStableDecay(lr = {}, warmup_steps = {}",
            self.lr, self.warmup_steps
        );
        match self.cooldown {
            None => format!("{head}, no cool-down yet)"),
            Some((start, c)) => format!(
                "{head}, {} cool-down from {start} for {} steps to {})",
                c.shape.name(),
                c.steps,
                c.final_lr
            ),
        }
    }
}
