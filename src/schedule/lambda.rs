//! [`LambdaLr`]: the base rate times a factor computed by a closure.

use super::{LrSchedule, ScheduleError, check};
use std::fmt;

/// The base rate times a factor from a closure:
///
/// ```text
/// η_t = η₀ · f(t)
/// ```
///
/// PyTorch: `torch.optim.lr_scheduler.LambdaLR`. With `lr = 1.0` the
/// closure gives the rate itself. The closure should be pure (the same
/// step, the same factor) so that [`lr_at`](LrSchedule::lr_at) stays pure;
/// its output is not checked, so a closure that returns NaN gives NaN rates.
///
/// ```
/// use tapegrad::schedule::{LambdaLr, LrSchedule};
/// // Inverse square-root decay after 100 warm-up steps (as in "Attention Is All You Need").
/// let s = LambdaLr::new(1.0, |t| ((t + 1) as f64 / 100.0).min(10.0 / ((t + 1) as f64).sqrt()))?;
/// assert_eq!(s.lr_at(99), 1.0);
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
#[derive(Clone)]
pub struct LambdaLr<F> {
    lr: f64,
    factor: F,
}

impl<F: Fn(usize) -> f64 + Send> LambdaLr<F> {
    /// The rate `lr · factor(step)`.
    ///
    /// # Errors
    /// `lr` negative or not finite.
    pub fn new(lr: f64, factor: F) -> Result<Self, ScheduleError> {
        Ok(LambdaLr {
            lr: check::rate("LambdaLr", "lr", lr)?,
            factor,
        })
    }
}

impl<F: Fn(usize) -> f64 + Send> LrSchedule for LambdaLr<F> {
    fn lr_at(&self, step: usize) -> f64 {
        self.lr * (self.factor)(step)
    }

    fn describe(&self) -> String {
        format!("LambdaLr(lr = {})", self.lr)
    }
}

impl<F> fmt::Debug for LambdaLr<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LambdaLr")
            .field("lr", &self.lr)
            .finish_non_exhaustive()
    }
}
