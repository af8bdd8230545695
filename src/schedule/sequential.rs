//! [`SequentialLr`]: schedules run one after another, switching at milestones.

use super::{LrSchedule, ScheduleError, check};
use std::fmt;

/// Runs schedules one after another: schedule `i` takes over at milestone
/// `i` and counts its own steps from 0 there:
///
/// ```text
/// η_t = S_i(t − m_i)    for m_i ≤ t < m_(i+1),   with m_0 = 0 and m_n = ∞
/// ```
///
/// PyTorch: `torch.optim.lr_scheduler.SequentialLR`. A metric passed to
/// [`observe`](LrSchedule::observe) goes to the schedule in charge of that
/// step, at its own step count.
///
/// ```
/// use tapegrad::schedule::{ConstantLr, CosineAnnealingLr, LrSchedule, SequentialLr};
/// // Hold 0.1 for 5 steps, then a cosine from 1.0 to 0 over 10.
/// let s = SequentialLr::new(
///     vec![Box::new(ConstantLr::new(0.1)?), Box::new(CosineAnnealingLr::new(1.0, 10, 0.0)?)],
///     vec![5],
/// )?;
/// assert_eq!((s.lr_at(4), s.lr_at(5), s.lr_at(15)), (0.1, 1.0, 0.0));
/// # Ok::<(), tapegrad::schedule::ScheduleError>(())
/// ```
pub struct SequentialLr {
    schedules: Vec<Box<dyn LrSchedule>>,
    milestones: Vec<usize>,
}

impl SequentialLr {
    /// Joins `schedules`; `milestones[i]` is the step at which
    /// `schedules[i + 1]` takes over.
    ///
    /// # Errors
    /// `schedules` empty; `milestones` not one shorter than `schedules`,
    /// containing 0, or not strictly increasing.
    pub fn new(
        schedules: Vec<Box<dyn LrSchedule>>,
        milestones: Vec<usize>,
    ) -> Result<Self, ScheduleError> {
        const NAME: &str = "SequentialLr";
        if schedules.is_empty() {
            return Err(ScheduleError::new(NAME, "schedules", "must not be empty"));
        }
        if milestones.len() + 1 != schedules.len() {
            let reason = format!(
                "must give one step for each schedule after the first: expected {}, got {}",
                schedules.len() - 1,
                milestones.len()
            );
            return Err(ScheduleError::new(NAME, "milestones", reason));
        }
        let milestones = if milestones.is_empty() {
            milestones
        } else {
            check::milestones(NAME, "milestones", milestones)?
        };
        Ok(SequentialLr {
            schedules,
            milestones,
        })
    }

    /// The schedule in charge of `step` and the step in its own count.
    fn locate(&self, step: usize) -> (usize, usize) {
        let i = self.milestones.partition_point(|&m| m <= step);
        let start = if i == 0 { 0 } else { self.milestones[i - 1] };
        (i, step - start)
    }
}

impl LrSchedule for SequentialLr {
    fn lr_at(&self, step: usize) -> f64 {
        let (i, local) = self.locate(step);
        self.schedules[i].lr_at(local)
    }

    fn observe(&mut self, step: usize, metric: f64) {
        let (i, local) = self.locate(step);
        self.schedules[i].observe(local, metric)
    }

    fn describe(&self) -> String {
        let mut parts = vec![self.schedules[0].describe()];
        for (m, s) in self.milestones.iter().zip(&self.schedules[1..]) {
            parts.push(format!("from {m}: {}", s.describe()));
        }
        format!("SequentialLr({})", parts.join(", "))
    }
}

impl fmt::Debug for SequentialLr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}
