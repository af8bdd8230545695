//! [`PolynomialLr`]: decay to zero along a power of the remaining fraction.

use super::{LrSchedule, ScheduleError, check};

/// Decays the rate to 0 over `total_iters` steps along a polynomial, then
/// stays at 0:
///
/// ```text
/// η_t = η₀ · (1 − min(t, T) / T)^p        T = total_iters, p = power
/// ```
///
/// PyTorch: `torch.optim.lr_scheduler.PolynomialLR` (defaults
/// `total_iters = 5`, `power = 1`: a straight line to 0).
///
/// ```
/// use tapegrad::schedule::{LrSchedule, PolynomialLr};
/// let s = PolynomialLr::new(1.0, 4, 2.0)?;
/// assert_eq!(s.lr_at(2), 0.25); // (1 - 2/4)^2
/// assert_eq!(s.lr_at(9), 0.0);
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct PolynomialLr {
    lr: f64,
    total_iters: usize,
    power: f64,
}

impl PolynomialLr {
    /// Decays from `lr` at step 0 to 0 at step `total_iters`.
    ///
    /// # Errors
    /// `lr` negative or not finite; `total_iters` zero; `power` not finite
    /// or `<= 0`.
    pub fn new(lr: f64, total_iters: usize, power: f64) -> Result<Self, ScheduleError> {
        Ok(PolynomialLr {
            lr: check::rate("PolynomialLr", "lr", lr)?,
            total_iters: check::period("PolynomialLr", "total_iters", total_iters)?,
            power: check::positive("PolynomialLr", "power", power)?,
        })
    }
}

impl LrSchedule for PolynomialLr {
    fn lr_at(&self, step: usize) -> f64 {
        let done = step.min(self.total_iters) as f64 / self.total_iters as f64;
        self.lr * (1.0 - done).powf(self.power)
    }

    fn describe(&self) -> String {
        format!(
            "PolynomialLr(lr = {}, total_iters = {}, power = {})",
            self.lr, self.total_iters, self.power
        )
    }
}
