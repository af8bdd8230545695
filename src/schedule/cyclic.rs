//! [`CyclicLr`]: triangular cycles between a low and a high rate (CLR).

use super::{LrSchedule, ScheduleError, check};

/// How the height of each cycle changes from cycle to cycle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CyclicMode {
    /// Every cycle reaches `max_lr`.
    Triangular,
    /// Each cycle is half as high as the one before.
    Triangular2,
    /// The height shrinks by `gamma` every step (not every cycle).
    ExpRange {
        /// The per-step shrink factor, in `(0, 1]` (PyTorch's default is 1).
        gamma: f64,
    },
}

/// Cycles the rate between `base_lr` and `max_lr`: up linearly for
/// `step_size_up` steps, down linearly for `step_size_down` steps, repeat:
///
/// ```text
/// L = up + down,   c = ⌊t / L⌋ (the cycle, from 0),   p = t mod L
/// s = p / up                 if p ≤ up   (rising)
/// s = (L − p) / down         otherwise   (falling)
/// η_t = base_lr + (max_lr − base_lr) · s · h
/// h = 1 (triangular),  2^(−c) (triangular2),  γ^t (exp_range)
/// ```
///
/// The peak is at `p = up`; each cycle starts (and the previous one ends)
/// at `base_lr`.
///
/// PyTorch: `torch.optim.lr_scheduler.CyclicLR` (default
/// `step_size_up = 2000`, `step_size_down = step_size_up`, mode
/// `triangular`; its momentum cycling belongs to the optimiser and is not
/// done here). Smith, "Cyclical Learning Rates for Training Neural
/// Networks", WACV 2017.
///
/// ```
/// use tapegrad::schedule::{CyclicLr, CyclicMode, LrSchedule};
/// let s = CyclicLr::new(0.0, 1.0, 2, 2, CyclicMode::Triangular2)?;
/// let lrs: Vec<f64> = (0..9).map(|t| s.lr_at(t)).collect();
/// assert_eq!(lrs, [0.0, 0.5, 1.0, 0.5, 0.0, 0.25, 0.5, 0.25, 0.0]);
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CyclicLr {
    base_lr: f64,
    max_lr: f64,
    step_size_up: usize,
    step_size_down: usize,
    mode: CyclicMode,
}

impl CyclicLr {
    /// Cycles between `base_lr` and `max_lr`, rising for `step_size_up`
    /// steps and falling for `step_size_down` (PyTorch's default makes them
    /// equal).
    ///
    /// # Errors
    /// A rate negative or not finite; `base_lr > max_lr`; a step size zero;
    /// `ExpRange`'s `gamma` outside `(0, 1]`.
    pub fn new(
        base_lr: f64,
        max_lr: f64,
        step_size_up: usize,
        step_size_down: usize,
        mode: CyclicMode,
    ) -> Result<Self, ScheduleError> {
        const NAME: &str = "CyclicLr";
        let base_lr = check::rate(NAME, "base_lr", base_lr)?;
        let max_lr = check::rate(NAME, "max_lr", max_lr)?;
        if let CyclicMode::ExpRange { gamma } = mode {
            check::decay(NAME, "gamma", gamma)?;
        }
        Ok(CyclicLr {
            base_lr: check::at_most(NAME, "base_lr", base_lr, "max_lr", max_lr)?,
            max_lr,
            step_size_up: check::period(NAME, "step_size_up", step_size_up)?,
            step_size_down: check::period(NAME, "step_size_down", step_size_down)?,
            mode,
        })
    }
}

impl LrSchedule for CyclicLr {
    fn lr_at(&self, step: usize) -> f64 {
        let (up, down) = (self.step_size_up, self.step_size_down);
        let cycle_len = up + down;
        let (cycle, p) = (step / cycle_len, step % cycle_len);
        let s = if p <= up {
            p as f64 / up as f64
        } else {
            (cycle_len - p) as f64 / down as f64
        };
        let h = match self.mode {
            CyclicMode::Triangular => 1.0,
            CyclicMode::Triangular2 => 0.5f64.powf(cycle as f64),
            CyclicMode::ExpRange { gamma } => gamma.powf(step as f64),
        };
        self.base_lr + (self.max_lr - self.base_lr) * s * h
    }

    fn describe(&self) -> String {
        format!(
            "CyclicLr(base_lr = {}, max_lr = {}, up = {}, down = {}, {:?})",
            self.base_lr, self.max_lr, self.step_size_up, self.step_size_down, self.mode
        )
    }
}
