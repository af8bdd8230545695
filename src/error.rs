//! Errors from the world outside the program.
//!
//! Maths misuse panics (see the crate docs); anything read from outside (a
//! vector of the wrong length, a data file, a weights file) returns this
//! error, which says what went wrong and where.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong with input from outside the program.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A buffer's length does not match the shape it was given.
    LengthMismatch {
        /// The shape asked for.
        shape: Vec<usize>,
        /// Elements that shape holds.
        expected: usize,
        /// Elements supplied.
        got: usize,
    },
    /// A CSV file has a bad row or cannot be interpreted.
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the problem.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A learning-rate schedule was given an argument it cannot use.
    Schedule(crate::schedule::ScheduleError),
    /// An optimiser state (from a checkpoint) does not fit the optimiser or
    /// the model.
    OptimizerState(crate::optim::StateError),
    /// A chart could not be drawn.
    Plot {
        /// The file the chart was meant for.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A weights file is damaged or does not fit the model.
    Weights {
        /// The file.
        path: PathBuf,
        /// The tensor's dotted name, when the problem is with one tensor
        /// (the first of them for missing or unexpected keys).
        key: Option<String>,
        /// What is wrong, and what was expected.
        problem: crate::io::WeightsProblem,
    },
    /// An IDX file (the MNIST format) is damaged or not one we can read.
    Idx {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A checkpoint is damaged or does not fit the model, optimiser or run
    /// it is loaded into.
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// Training diverged and the divergence guard gave up.
    Diverged {
        /// The optimiser step (counted from 0) whose loss was the last straw.
        step: usize,
        /// That loss.
        loss: f64,
        /// How many rollbacks had been tried.
        rollbacks: usize,
    },
    /// A callback asked for a metric that training does not record.
    Metric {
        /// The metric asked for.
        name: String,
        /// The metrics that are recorded.
        available: Vec<String>,
    },
    /// A target cannot be a class index (negative, fractional, not finite
    /// or beyond `usize`): [`Batch::try_labels`](crate::data::Batch::try_labels).
    Label {
        /// The row of the batch (0-based) that holds it.
        row: usize,
        /// The target's value.
        value: f64,
    },
    /// A checkpoint was written in a format version this build does not
    /// read.
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
    ShapeOverflow {
        /// The shape asked for.
        dims: Vec<usize>,
    },
}

/// `Result` with tapegrad's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LengthMismatch {
                shape,
                expected,
                got,
            } => write!(
                f,
                "shape {shape:?} holds {expected} elements but {got} were given"
            ),
            Error::Csv {
                path,
                line,
                message,
            } => write!(f, "{}:{line}: {message}", path.display()),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Schedule(e) => e.fmt(f),
            Error::OptimizerState(e) => e.fmt(f),
            Error::Plot { path, message } => {
                write!(f, "{}: cannot draw chart: {message}", path.display())
            }
            Error::Weights { path, key, problem } => match key {
                Some(key) => write!(f, "{}: tensor `{key}`: {problem}", path.display()),
                None => write!(f, "{}: {problem}", path.display()),
            },
            Error::Idx { path, problem } => write!(f, "{}: {problem}", path.display()),
            Error::Checkpoint { path, message } => {
                write!(f, "{}: checkpoint: {message}", path.display())
            }
            Error::Diverged {
                step,
                loss,
                rollbacks,
            } => write!(
                f,
                "training diverged: loss {loss} at step {step} after {rollbacks} rollback(s) \
                 and learning-rate cuts; try a smaller learning rate (LrFinder suggests one)"
            ),
            Error::Metric { name, available } => write!(
                f,
                "no metric named `{name}` is recorded (recorded: {})",
                available.join(", ")
            ),
            Error::Label { row, value } => write!(
                f,
                "row {row} of the batch has target {value:?}, which is not a class index \
                 (a whole number from 0 to {})",
                usize::MAX
            ),
            Error::CheckpointVersion {
                path,
                found,
                supported,
            } => write!(
                f,
                "{}: checkpoint format version {found} is not supported: this build reads \
                 version {supported} only",
                path.display()
            ),
            Error::ShapeOverflow { dims } => write!(
                f,
                "shape {dims:?} has too many elements (their count overflows usize)"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Schedule(e) => Some(e),
            Error::OptimizerState(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::schedule::ScheduleError> for Error {
    fn from(e: crate::schedule::ScheduleError) -> Self {
        Error::Schedule(e)
    }
}

impl From<crate::optim::StateError> for Error {
    fn from(e: crate::optim::StateError) -> Self {
        Error::OptimizerState(e)
    }
}
