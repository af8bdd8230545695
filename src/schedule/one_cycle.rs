//! [`OneCycleLr`]: one warm-up to a high rate, then a long anneal far below
//! the start (1cycle).

use super::{LrSchedule, ScheduleError, check};
use std::f64::consts::PI;

/// How [`OneCycleLr`] moves between two rates within a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Anneal {
    /// Half a cosine: `b + (a − b) · (1 + cos(π · x)) / 2` (the default).
    #[default]
    Cos,
    /// A straight line: `a + (b − a) · x`.
    Linear,
}

impl Anneal {
    /// From `a` at `x = 0` to `b` at `x = 1`.
    fn between(self, a: f64, b: f64, x: f64) -> f64 {
        match self {
            Anneal::Cos => b + (a - b) * (1.0 + (PI * x).cos()) / 2.0,
            Anneal::Linear => a + (b - a) * x,
        }
    }
}

/// The optional arguments of [`OneCycleLr`], with PyTorch's defaults.
///
/// ```
/// use tapegrad::schedule::OneCycleOptions;
/// let options = OneCycleOptions { pct_start: 0.25, ..Default::default() };
/// assert_eq!(options.div_factor, 25.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneCycleOptions {
    /// Fraction of the steps spent rising to `max_lr` (default 0.3).
    pub pct_start: f64,
    /// The start rate is `max_lr / div_factor` (default 25).
    pub div_factor: f64,
    /// The final rate is the start rate `/ final_div_factor` (default 1e4).
    pub final_div_factor: f64,
    /// The shape of each phase (default [`Anneal::Cos`]).
    pub anneal: Anneal,
    /// Come back down to the start rate before annealing to the final rate,
    /// in three phases instead of two (default `false`).
    pub three_phase: bool,
}

impl Default for OneCycleOptions {
    fn default() -> Self {
        OneCycleOptions {
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
            anneal: Anneal::Cos,
            three_phase: false,
        }
    }
}

/// The 1cycle policy: rise from `max_lr / div_factor` to `max_lr`, then
/// anneal to a rate far below the start, over `total_steps` steps.
///
/// With `T = total_steps`, `q = pct_start`, `η_start = max_lr / div_factor`,
/// `η_end = η_start / final_div_factor` and phases that end at (fractional)
/// steps `e₁ = qT − 1` and `e₂ = T − 1`:
///
/// ```text
/// η_t = anneal(η_start, max_lr, t / e₁)                 for t ≤ e₁
/// η_t = anneal(max_lr, η_end, (t − e₁) / (e₂ − e₁))     for t > e₁
/// anneal(a, b, x) = b + (a − b) · (1 + cos(π x)) / 2     (Anneal::Cos)
/// ```
///
/// With `three_phase`, the phases end at `qT − 1`, `2qT − 2` and `T − 1` and
/// go `η_start → max_lr → η_start → η_end`. Steps past the end hold `η_end`
/// (PyTorch raises an error there instead).
///
/// PyTorch: `torch.optim.lr_scheduler.OneCycleLR` (defaults in
/// [`OneCycleOptions`]; its momentum cycling belongs to the optimiser and is
/// not done here). Smith & Topin, "Super-Convergence: Very Fast Training of
/// Neural Networks Using Large Learning Rates", 2018; Smith, "A disciplined
/// approach to neural network hyper-parameters: Part 1", 2018.
///
/// ```
/// use tapegrad::schedule::{LrSchedule, OneCycleLr};
/// let s = OneCycleLr::new(1.0, 100)?;
/// assert!((s.lr_at(0) - 1.0 / 25.0).abs() < 1e-15);
/// assert!((s.lr_at(29) - 1.0).abs() < 1e-15); // e₁ = 0.3 · 100 − 1 = 29
/// assert!((s.lr_at(99) - 1.0 / 25.0 / 1e4).abs() < 1e-15);
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleLr {
    max_lr: f64,
    total_steps: usize,
    options: OneCycleOptions,
    /// `(end step, rate at the start of the phase, rate at its end)`.
    phases: Vec<(f64, f64, f64)>,
}

impl OneCycleLr {
    /// 1cycle up to `max_lr` over `total_steps` steps, with PyTorch's
    /// defaults (see [`OneCycleOptions`]).
    ///
    /// # Errors
    /// As [`with_options`](Self::with_options).
    pub fn new(max_lr: f64, total_steps: usize) -> Result<Self, ScheduleError> {
        Self::with_options(max_lr, total_steps, OneCycleOptions::default())
    }

    /// 1cycle up to `max_lr` over `total_steps` steps.
    ///
    /// # Errors
    /// `max_lr` negative or not finite; `div_factor` or `final_div_factor`
    /// not finite or `<= 0`; `pct_start` outside `(0, 1)`, or leaving a
    /// phase without steps (`pct_start · total_steps` must exceed 1, and in
    /// three phases `2 · pct_start · total_steps` must be under
    /// `total_steps + 1`).
    pub fn with_options(
        max_lr: f64,
        total_steps: usize,
        options: OneCycleOptions,
    ) -> Result<Self, ScheduleError> {
        const NAME: &str = "OneCycleLr";
        let max_lr = check::rate(NAME, "max_lr", max_lr)?;
        let total_steps = check::period(NAME, "total_steps", total_steps)?;
        let div = check::positive(NAME, "div_factor", options.div_factor)?;
        let final_div = check::positive(NAME, "final_div_factor", options.final_div_factor)?;
        let q = options.pct_start;
        if !(q > 0.0 && q < 1.0) {
            let reason = format!("must be in (0, 1), got {q}");
            return Err(ScheduleError::new(NAME, "pct_start", reason));
        }
        let start_lr = max_lr / div;
        let end_lr = start_lr / final_div;
        let t = total_steps as f64;
        let phases = if options.three_phase {
            vec![
                (q * t - 1.0, start_lr, max_lr),
                (2.0 * q * t - 2.0, max_lr, start_lr),
                (t - 1.0, start_lr, end_lr),
            ]
        } else {
            vec![(q * t - 1.0, start_lr, max_lr), (t - 1.0, max_lr, end_lr)]
        };
        let mut previous_end = 0.0;
        for (i, &(end, _, _)) in phases.iter().enumerate() {
            if end <= previous_end {
                let reason = format!(
                    "= {q} leaves phase {} of {} without steps when total_steps = {total_steps}",
                    i + 1,
                    phases.len()
                );
                return Err(ScheduleError::new(NAME, "pct_start", reason));
            }
            previous_end = end;
        }
        Ok(OneCycleLr {
            max_lr,
            total_steps,
            options,
            phases,
        })
    }
}

impl LrSchedule for OneCycleLr {
    fn lr_at(&self, step: usize) -> f64 {
        let t = step.min(self.total_steps - 1) as f64;
        let anneal = self.options.anneal;
        let last = self.phases.len() - 1;
        let mut start = 0.0;
        for &(end, from, to) in &self.phases[..last] {
            if t <= end {
                return anneal.between(from, to, (t - start) / (end - start));
            }
            start = end;
        }
        let (end, from, to) = self.phases[last];
        anneal.between(from, to, (t - start) / (end - start))
    }

    fn describe(&self) -> String {
        let o = &self.options;
        format!(
            "OneCycleLr(max_lr = {}, total_steps = {}, pct_start = {}, div_factor = {}, \
             final_div_factor = {}{})",
            self.max_lr,
            self.total_steps,
            o.pct_start,
            o.div_factor,
            o.final_div_factor,
            if o.three_phase { ", three_phase" } else { "" }
        )
    }
}
