//! [`Constant`]: the same rate at every step.

use super::{LrSchedule, ScheduleError, check};

/// The same rate at every step: `η_t = η₀`.
///
/// PyTorch: no scheduler (a bare optimiser); `ConstantLR` with `factor = 1`.
///
/// ```
/// use tapegrad::schedule::{Constant, LrSchedule};
/// let s = Constant::new(0.01)?;
/// assert_eq!(s.lr_at(0), 0.01);
/// assert_eq!(s.lr_at(1_000_000), 0.01);
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    lr: f64,
}

impl Constant {
    /// The rate `lr` at every step.
    ///
    /// # Errors
    /// `lr` negative or not finite.
    pub fn new(lr: f64) -> Result<Self, ScheduleError> {
        Ok(Constant {
            lr: check::rate("Constant", "lr", lr)?,
        })
    }
}

impl LrSchedule for Constant {
    fn lr_at(&self, _step: usize) -> f64 {
        self.lr
    }

    fn describe(&self) -> String {
        format!("Constant(lr = {})", self.lr)
    }
}
