//! [`ExponentialLr`]: multiply the rate by `gamma` every step.

use super::{LrSchedule, ScheduleError, check};

/// Multiplies the rate by `gamma` every step:
///
/// ```text
/// η_t = η₀ · γ^t
/// ```
///
/// PyTorch: `torch.optim.lr_scheduler.ExponentialLR`. A `gamma` above 1
/// grows the rate, as the LR range test does (Smith, "Cyclical Learning
/// Rates for Training Neural Networks", 2017).
///
/// ```
/// use tapegrad::schedule::{ExponentialLr, LrSchedule};
/// let s = ExponentialLr::new(1.0, 0.5)?;
/// assert_eq!(s.lr_at(3), 0.125);
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialLr {
    lr: f64,
    gamma: f64,
}

impl ExponentialLr {
    /// Starts at `lr` and multiplies by `gamma` each step.
    ///
    /// # Errors
    /// `lr` negative or not finite; `gamma` not finite or `<= 0`.
    pub fn new(lr: f64, gamma: f64) -> Result<Self, ScheduleError> {
        Ok(ExponentialLr {
            lr: check::rate("ExponentialLr", "lr", lr)?,
            gamma: check::positive("ExponentialLr", "gamma", gamma)?,
        })
    }
}

impl LrSchedule for ExponentialLr {
    fn lr_at(&self, step: usize) -> f64 {
        self.lr * self.gamma.powf(step as f64)
    }

    fn describe(&self) -> String {
        format!("ExponentialLr(lr = {}, gamma = {})", self.lr, self.gamma)
    }
}
