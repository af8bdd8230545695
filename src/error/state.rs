//! [`StateError`]: why an optimiser state does not fit an optimiser or a
//! model, the detail of an
//! [`Error::OptimizerState`](super::Error::OptimizerState). It lives here,
//! beside [`Error`](super::Error), so that the error type depends on no
//! module that returns it; `optim` re-exports it.

/// Why an [`OptimizerState`](crate::optim::OptimizerState) cannot be loaded into an optimiser for a model.
///
/// Loading checks everything first, so after any of these errors the
/// optimiser is exactly as it was.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The state comes from another kind of optimiser.
    #[error("optimizer state: saved by {found}, cannot load into {expected}")]
    WrongOptimizer {
        /// This optimiser's type name.
        expected: String,
        /// The name recorded in the state.
        found: String,
    },
    /// A hyperparameter differs, is missing from the state, or is not one
    /// this optimiser has (`expected` or `found` is `None` for the last two).
    #[error("optimizer state: {}", hyperparameter(.name, *.expected, *.found))]
    Hyperparameter {
        /// Its name.
        name: String,
        /// This optimiser's value.
        expected: Option<f64>,
        /// The state's value.
        found: Option<f64>,
    },
    /// The saved learning rate is negative or not finite.
    #[error("optimizer state: learning rate {0} is not a finite number >= 0")]
    BadLr(f64),
    /// The state names a parameter the model does not have.
    #[error("optimizer state: the model has no parameter '{0}'")]
    UnknownParam(String),
    /// A parameter's state lacks a tensor this optimiser keeps.
    #[error("optimizer state: '{param}' has no '{tensor}' tensor")]
    MissingTensor {
        /// The parameter's dotted name.
        param: String,
        /// The tensor's name (`exp_avg`).
        tensor: String,
    },
    /// A parameter's state holds a tensor this optimiser does not keep
    /// (saved with other options, such as AMSGrad or momentum).
    #[error("optimizer state: '{param}' has a '{tensor}' tensor this optimizer does not keep")]
    UnexpectedTensor {
        /// The parameter's dotted name.
        param: String,
        /// The tensor's name.
        tensor: String,
    },
    /// A state tensor's shape differs from its parameter's.
    #[error(
        "optimizer state: '{param}.{tensor}' has shape {found:?} but the parameter has shape {expected:?}"
    )]
    ShapeMismatch {
        /// The parameter's dotted name.
        param: String,
        /// The tensor's name.
        tensor: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The saved tensor's shape.
        found: Vec<usize>,
    },
    /// A scalar kept for the whole model (D-Adaptation's step-size estimate
    /// `d`, schedule-free's `weight_sum`) is missing, not one this optimiser
    /// keeps, not finite, or out of its range.
    #[error("optimizer state: scalar '{name}' {problem}")]
    Scalar {
        /// Its name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// The sentence for a hyperparameter that does not fit.
fn hyperparameter(name: &str, expected: Option<f64>, found: Option<f64>) -> String {
    match (expected, found) {
        (Some(e), Some(s)) => format!("{name} is {s} in the state but {e} here"),
        (Some(e), None) => format!("{name} (here {e}) is missing from the state"),
        (None, Some(s)) => format!("unknown hyperparameter {name} = {s}"),
        (None, None) => format!("hyperparameter {name} does not fit"),
    }
}
