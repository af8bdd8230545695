//! [`ScheduleError`]: a schedule argument that was rejected, the detail of
//! an [`Error::Schedule`](super::Error::Schedule). It lives here, beside
//! [`Error`](super::Error), so that the error type depends on no module
//! that returns it; `schedule` re-exports it.

/// A schedule argument that was rejected: which schedule, which argument,
/// and why.
///
/// Displays as `"StepLr: step_size must be at least 1, got 0"`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{schedule}: {argument} {reason}")]
pub struct ScheduleError {
    schedule: &'static str,
    argument: &'static str,
    reason: String,
}

impl ScheduleError {
    /// An error for `argument` of `schedule`; `reason` completes the
    /// sentence "`argument` ...", e.g. "must be at least 1, got 0".
    pub fn new(schedule: &'static str, argument: &'static str, reason: impl Into<String>) -> Self {
        ScheduleError {
            schedule,
            argument,
            reason: reason.into(),
        }
    }

    /// The schedule whose constructor refused.
    pub fn schedule(&self) -> &str {
        self.schedule
    }

    /// The argument that was wrong.
    pub fn argument(&self) -> &str {
        self.argument
    }

    /// Why it was wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
