//! [`CosineAnnealingWarmRestarts`]: cosine annealing that restarts, each period
//! `t_mult` times longer than the last (SGDR).

use super::cosine::cosine_between;
use super::{LrSchedule, ScheduleError, check};

/// Cosine annealing from `lr` to `eta_min` that jumps back to `lr` at each
/// restart; the first period lasts `t_0` steps and each next one `t_mult`
/// times longer:
///
/// ```text
/// η_t = η_min + (η₀ − η_min) · (1 + cos(π · T_cur / T_i)) / 2
/// T_i   = t_0 · t_mult^i          the length of the i-th period
/// T_cur = t − t_0 · (1 + t_mult + … + t_mult^(i−1))   steps since restart i
/// ```
///
/// Restarts happen at steps `t_0`, `t_0 + t_0·t_mult`, ... where
/// `T_cur = 0` and the rate is `lr` again. The rate never quite reaches
/// `eta_min`: the last step of a period has `T_cur = T_i − 1`.
///
/// PyTorch: `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts` (defaults
/// `t_mult = 1`, `eta_min = 0`); Loshchilov & Hutter, "SGDR: Stochastic
/// Gradient Descent with Warm Restarts", ICLR 2017.
///
/// ```
/// use tapegrad::schedule::{CosineAnnealingWarmRestarts, LrSchedule};
/// let s = CosineAnnealingWarmRestarts::new(1.0, 4, 2, 0.0)?;
/// assert_eq!(s.lr_at(0), 1.0);
/// assert_eq!(s.lr_at(4), 1.0);  // first restart; the next period has 8 steps
/// assert_eq!(s.lr_at(12), 1.0); // second restart
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealingWarmRestarts {
    lr: f64,
    t_0: usize,
    t_mult: usize,
    eta_min: f64,
}

impl CosineAnnealingWarmRestarts {
    /// Anneals from `lr` towards `eta_min`, restarting after `t_0` steps,
    /// then after `t_0 · t_mult` more, and so on.
    ///
    /// # Errors
    /// `lr` or `eta_min` negative or not finite; `eta_min > lr`; `t_0` or
    /// `t_mult` zero.
    pub fn new(lr: f64, t_0: usize, t_mult: usize, eta_min: f64) -> Result<Self, ScheduleError> {
        const NAME: &str = "CosineAnnealingWarmRestarts";
        let lr = check::rate(NAME, "lr", lr)?;
        let eta_min = check::rate(NAME, "eta_min", eta_min)?;
        Ok(CosineAnnealingWarmRestarts {
            lr,
            t_0: check::period(NAME, "t_0", t_0)?,
            t_mult: check::period(NAME, "t_mult", t_mult)?,
            eta_min: check::at_most(NAME, "eta_min", eta_min, "lr", lr)?,
        })
    }

    /// The period containing `step`: `(steps since its restart, its length)`.
    fn position(&self, step: usize) -> (usize, usize) {
        if self.t_mult == 1 {
            return (step % self.t_0, self.t_0);
        }
        // Periods grow geometrically, so this loop runs O(log step) times.
        let (mut start, mut len) = (0usize, self.t_0);
        while step - start >= len {
            start += len;
            len = len.saturating_mul(self.t_mult);
        }
        (step - start, len)
    }
}

impl LrSchedule for CosineAnnealingWarmRestarts {
    fn lr_at(&self, step: usize) -> f64 {
        let (t_cur, t_i) = self.position(step);
        cosine_between(self.lr, self.eta_min, t_cur, t_i)
    }

    fn describe(&self) -> String {
        format!(
            "CosineAnnealingWarmRestarts(lr = {}, t_0 = {}, t_mult = {}, eta_min = {})",
            self.lr, self.t_0, self.t_mult, self.eta_min
        )
    }
}
