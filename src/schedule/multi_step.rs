//! [`MultiStepLr`]: multiply the rate by `gamma` at each milestone.

use super::{LrSchedule, ScheduleError, check};

/// Multiplies the rate by `gamma` at each milestone step:
///
/// ```text
/// η_t = η₀ · γ^|{ m ∈ milestones : m ≤ t }|
/// ```
///
/// PyTorch: `torch.optim.lr_scheduler.MultiStepLR` (default `gamma = 0.1`).
/// PyTorch accepts a repeated milestone as a double decay; here milestones
/// must strictly increase (use a smaller `gamma` or a [`LambdaLr`] instead).
///
/// [`LambdaLr`]: super::LambdaLr
///
/// ```
/// use tapegrad::schedule::{LrSchedule, MultiStepLr};
/// let s = MultiStepLr::new(1.0, vec![10, 15], 0.5)?;
/// assert_eq!((s.lr_at(9), s.lr_at(10), s.lr_at(15)), (1.0, 0.5, 0.25));
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepLr {
    lr: f64,
    milestones: Vec<usize>,
    gamma: f64,
}

impl MultiStepLr {
    /// Starts at `lr` and multiplies by `gamma` at each step in `milestones`.
    ///
    /// # Errors
    /// `lr` negative or not finite; `milestones` empty, containing 0 or not
    /// strictly increasing; `gamma` outside `(0, 1]`.
    pub fn new(lr: f64, milestones: Vec<usize>, gamma: f64) -> Result<Self, ScheduleError> {
        Ok(MultiStepLr {
            lr: check::rate("MultiStepLr", "lr", lr)?,
            milestones: check::milestones("MultiStepLr", "milestones", milestones)?,
            gamma: check::decay("MultiStepLr", "gamma", gamma)?,
        })
    }
}

impl LrSchedule for MultiStepLr {
    fn lr_at(&self, step: usize) -> f64 {
        let passed = self.milestones.partition_point(|&m| m <= step);
        self.lr * self.gamma.powf(passed as f64)
    }

    fn describe(&self) -> String {
        format!(
            "MultiStepLr(lr = {}, milestones = {:?}, gamma = {})",
            self.lr, self.milestones, self.gamma
        )
    }
}
