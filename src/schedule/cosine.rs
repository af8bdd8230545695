//! [`CosineAnnealingLr`]: half a cosine from the base rate down to a floor.

use super::{LrSchedule, ScheduleError, check};
use std::f64::consts::PI;

/// Follows half a cosine from `lr` down to the floor `eta_min` over `t_max`
/// steps, then stays at the floor:
///
/// ```text
/// η_t = η_min + (η₀ − η_min) · (1 + cos(π · min(t, T) / T)) / 2      T = t_max
/// ```
///
/// PyTorch: `torch.optim.lr_scheduler.CosineAnnealingLR` (default
/// `eta_min = 0`), the annealing half of SGDR (Loshchilov & Hutter, "SGDR:
/// Stochastic Gradient Descent with Warm Restarts", ICLR 2017). One
/// deliberate difference: past `t_max` PyTorch's closed form keeps following
/// the cosine back up, which is rarely what anyone wants; here the rate stays
/// at `eta_min`. For restarts use [`CosineAnnealingWarmRestarts`](super::CosineAnnealingWarmRestarts).
///
/// ```
/// use tapegrad::schedule::{CosineAnnealingLr, LrSchedule};
/// let s = CosineAnnealingLr::new(1.0, 10, 0.0)?;
/// assert!((s.lr_at(5) - 0.5).abs() < 1e-15); // halfway: cos(π/2) = 0
/// assert_eq!(s.lr_at(10), 0.0);
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealingLr {
    lr: f64,
    t_max: usize,
    eta_min: f64,
}

impl CosineAnnealingLr {
    /// Anneals from `lr` at step 0 to `eta_min` at step `t_max`.
    ///
    /// # Errors
    /// `lr` or `eta_min` negative or not finite; `eta_min > lr`; `t_max`
    /// zero.
    pub fn new(lr: f64, t_max: usize, eta_min: f64) -> Result<Self, ScheduleError> {
        const NAME: &str = "CosineAnnealingLr";
        let lr = check::rate(NAME, "lr", lr)?;
        let eta_min = check::rate(NAME, "eta_min", eta_min)?;
        Ok(CosineAnnealingLr {
            lr,
            t_max: check::period(NAME, "t_max", t_max)?,
            eta_min: check::at_most(NAME, "eta_min", eta_min, "lr", lr)?,
        })
    }
}

/// Half a cosine from `high` (at `t = 0`) to `low` (at `t = period`).
pub(crate) fn cosine_between(high: f64, low: f64, t: usize, period: usize) -> f64 {
    let phase = PI * t as f64 / period as f64;
    low + (high - low) * (1.0 + phase.cos()) / 2.0
}

impl LrSchedule for CosineAnnealingLr {
    fn lr_at(&self, step: usize) -> f64 {
        cosine_between(self.lr, self.eta_min, step.min(self.t_max), self.t_max)
    }

    fn describe(&self) -> String {
        format!(
            "CosineAnnealingLr(lr = {}, t_max = {}, eta_min = {})",
            self.lr, self.t_max, self.eta_min
        )
    }
}
