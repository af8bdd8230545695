//! [`ConstantLr`]: the same rate at every step.

use super::{LrSchedule, ScheduleError, check};

/// The same rate at every step: `η_t = η₀`.
///
/// PyTorch: no scheduler (a bare optimiser); `ConstantLR` with `factor = 1`.
///
/// ```
/// use tapegrad::schedule::{ConstantLr, LrSchedule};
/// let s = ConstantLr::new(0.01)?;
/// assert_eq!(s.lr_at(0), 0.01);
/// assert_eq!(s.lr_at(1_000_000), 0.01);
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantLr {
    lr: f64,
}

impl ConstantLr {
    /// The rate `lr` at every step.
    ///
    /// # Errors
    /// `lr` negative or not finite.
    pub fn new(lr: f64) -> Result<Self, ScheduleError> {
        Ok(ConstantLr {
            lr: check::rate("ConstantLr", "lr", lr)?,
        })
    }
}

impl LrSchedule for ConstantLr {
    fn lr_at(&self, _step: usize) -> f64 {
        self.lr
    }

    fn describe(&self) -> String {
        format!("ConstantLr(lr = {})", self.lr)
    }
}
