//! Errors from the world outside the program.
//!
//! Maths misuse panics (see the crate docs); anything read from outside (a
//! vector of the wrong length, a data file, a weights file) returns this
//! error, which says what went wrong and where.
//!
//! The details of three kinds of error are types of their own, kept here
//! beside [`Error`] and re-exported where they arise: [`WeightsProblem`]
//! (`io`), [`StateError`] (`optim`) and [`ScheduleError`] (`schedule`).
//! This module imports none of the modules that return its errors, so
//! `error` sits at the bottom of the crate's layers.

mod schedule;
mod state;
mod weights;

pub use schedule::ScheduleError;
pub use state::StateError;
pub use weights::WeightsProblem;

use std::path::PathBuf;

/// Everything that can go wrong with input from outside the program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A buffer's length does not match the shape it was given.
    #[error("shape {shape:?} holds {expected} elements but {got} were given")]
    LengthMismatch {
        /// The shape asked for.
        shape: Vec<usize>,
        /// Elements that shape holds.
        expected: usize,
        /// Elements supplied.
        got: usize,
    },
    /// A CSV file has a bad row or cannot be interpreted.
    #[error("{}:{line}: {message}", .path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the problem.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Data-parallel processes disagree (different models, seeds or
    /// configurations), or MPI could not start.
    #[error("distributed: {message}")]
    Distributed {
        /// What is wrong.
        message: String,
    },
    /// A learning-rate schedule was given an argument it cannot use.
    #[error("{0}")]
    Schedule(#[from] ScheduleError),
    /// An optimiser state (from a checkpoint) does not fit the optimiser or
    /// the model.
    #[error("{0}")]
    OptimizerState(#[from] StateError),
    /// A chart could not be drawn.
    #[error("{}: cannot draw chart: {message}", .path.display())]
    Plot {
        /// The file the chart was meant for.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A weights file is damaged or does not fit the model.
    #[error("{}: {}{problem}", .path.display(), tensor_prefix(.key.as_deref()))]
    Weights {
        /// The file.
        path: PathBuf,
        /// The tensor's dotted name, when the problem is with one tensor
        /// (the first of them for missing or unexpected keys).
        key: Option<String>,
        /// What is wrong, and what was expected.
        #[source]
        problem: WeightsProblem,
    },
    /// An IDX file (the MNIST format) is damaged or not one we can read.
    #[error("{}: {problem}", .path.display())]
    Idx {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A checkpoint is damaged or does not fit the model, optimiser or run
    /// it is loaded into.
    #[error("{}: checkpoint: {message}", .path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// Training diverged and the divergence guard gave up.
    #[error(
        "training diverged: loss {loss} at step {step} after {rollbacks} rollback(s) \
         and learning-rate cuts; try a smaller learning rate (LrFinder suggests one)"
    )]
    Diverged {
        /// The optimiser step (counted from 0) whose loss was the last straw.
        step: usize,
        /// That loss.
        loss: f64,
        /// How many rollbacks had been tried.
        rollbacks: usize,
    },
    /// A callback asked for a metric that training does not record.
    #[error("no metric named `{name}` is recorded (recorded: {})", .available.join(", "))]
    Metric {
        /// The metric asked for.
        name: String,
        /// The metrics that are recorded.
        available: Vec<String>,
    },
    /// A target cannot be a class index (negative, fractional, not finite
    /// or beyond `usize`): [`Batch::try_labels`](crate::data::Batch::try_labels).
    #[error(
        "row {row} of the batch has target {value:?}, which is not a class index \
         (a whole number from 0 to {})",
        usize::MAX
    )]
    Label {
        /// The row of the batch (0-based) that holds it.
        row: usize,
        /// The target's value.
        value: f64,
    },
    /// A checkpoint was written in a format version this build does not
    /// read.
    #[error(
        "{}: checkpoint format version {found} is not supported: this build reads \
         version {supported} only",
        .path.display()
    )]
    CheckpointVersion {
        /// The file.
        path: PathBuf,
        /// The version the file records.
        found: String,
        /// The version this build reads and writes.
        supported: String,
    },
    /// A shape has more elements than `usize` can count (a tensor of that
    /// shape could not exist).
    #[error("shape {dims:?} has too many elements (their count overflows usize)")]
    ShapeOverflow {
        /// The shape asked for.
        dims: Vec<usize>,
    },
}

/// `Result` with tapegrad's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `tensor `KEY`: ` when a weights error is about one tensor.
fn tensor_prefix(key: Option<&str>) -> String {
    key.map(|k| format!("tensor `{k}`: ")).unwrap_or_default()
}

/// Up to five names, then how many more: how errors list keys.
pub(crate) fn list(keys: &[String]) -> String {
    let shown: Vec<&str> = keys.iter().take(5).map(String::as_str).collect();
    let more = keys.len().saturating_sub(shown.len());
    if more == 0 {
        shown.join(", ")
    } else {
        format!("{}, and {more} more", shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn every_wrapped_detail_is_the_source() {
        let io = Error::Io {
            path: "w.bin".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        let weights = Error::Weights {
            path: "w.safetensors".into(),
            key: Some("fc.weight".into()),
            problem: WeightsProblem::Shape {
                expected: vec![2, 3],
                found: vec![3, 2],
            },
        };
        let state = Error::from(StateError::BadLr(f64::NAN));
        let schedule = Error::from(ScheduleError::new("StepLr", "step_size", "must be >= 1"));
        for (e, detail) in [
            (&io, "gone"),
            (
                &weights,
                "wrong shape: the model expects [2, 3], the file has [3, 2]",
            ),
            (
                &state,
                "optimizer state: learning rate NaN is not a finite number >= 0",
            ),
            (&schedule, "StepLr: step_size must be >= 1"),
        ] {
            let source = e.source().unwrap_or_else(|| panic!("{e:?} has no source"));
            assert_eq!(source.to_string(), detail);
            assert!(
                e.to_string().ends_with(detail),
                "{e} does not end with {detail}"
            );
        }
        assert_eq!(
            weights.to_string(),
            "w.safetensors: tensor `fc.weight`: wrong shape: the model expects [2, 3], \
             the file has [3, 2]"
        );
        let whole_file = Error::Weights {
            path: "w.safetensors".into(),
            key: None,
            problem: WeightsProblem::Format("truncated".into()),
        };
        assert_eq!(
            whole_file.to_string(),
            "w.safetensors: not a valid safetensors file: truncated"
        );
        assert!(Error::ShapeOverflow { dims: vec![2] }.source().is_none());
    }

    #[test]
    fn lists_name_five_keys_then_count_the_rest() {
        let keys: Vec<String> = (0..7).map(|i| format!("k{i}")).collect();
        assert_eq!(list(&keys[..2]), "k0, k1");
        assert_eq!(list(&keys), "k0, k1, k2, k3, k4, and 2 more");
        let missing = WeightsProblem::Missing {
            keys: keys[..1].to_vec(),
        };
        assert!(
            missing
                .to_string()
                .starts_with("the file lacks 1 tensor of the model: k0 ")
        );
    }
}
