//! [`StepLr`]: multiply the rate by `gamma` every `step_size` steps.

use super::{LrSchedule, ScheduleError, check};

/// Multiplies the rate by `gamma` every `step_size` steps:
///
/// ```text
/// η_t = η₀ · γ^⌊t / step_size⌋
/// ```
///
/// PyTorch: `torch.optim.lr_scheduler.StepLR` (default `gamma = 0.1`).
///
/// ```
/// use tapegrad::schedule::{LrSchedule, StepLr};
/// let s = StepLr::new(0.1, 30, 0.1)?;
/// assert_eq!(s.lr_at(29), 0.1);
/// assert!((s.lr_at(30) - 0.01).abs() < 1e-15);
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct StepLr {
    lr: f64,
    step_size: usize,
    gamma: f64,
}

impl StepLr {
    /// Starts at `lr` and multiplies by `gamma` at steps `step_size`,
    /// `2 · step_size`, ...
    ///
    /// # Errors
    /// `lr` negative or not finite; `step_size` zero; `gamma` outside
    /// `(0, 1]`.
    pub fn new(lr: f64, step_size: usize, gamma: f64) -> Result<Self, ScheduleError> {
        Ok(StepLr {
            lr: check::rate("StepLr", "lr", lr)?,
            step_size: check::period("StepLr", "step_size", step_size)?,
            gamma: check::decay("StepLr", "gamma", gamma)?,
        })
    }
}

impl LrSchedule for StepLr {
    fn lr_at(&self, step: usize) -> f64 {
        let decays = (step / self.step_size) as f64;
        self.lr * self.gamma.powf(decays)
    }

    fn describe(&self) -> String {
        format!(
            "StepLr(lr = {}, step_size = {}, gamma = {})",
            self.lr, self.step_size, self.gamma
        )
    }
}
