//! [`OptimizerState`]: an optimiser's memory as plain data, keyed by
//! parameter name, and [`StateError`], why a state does not fit.

use crate::tensor::{Float, Tensor};
use std::collections::BTreeMap;
use std::fmt;

/// Everything an optimiser remembers between steps, as plain data: what a
/// checkpoint saves and what [`Optimizer::load_state`] restores.
///
/// Parameters are keyed by their dotted name (`layers.0.weight`), not by
/// [`ParamId`](crate::ParamId): ids are handed out per process, names are
/// the same in every run that builds the same model.
///
/// [`Optimizer::load_state`]: super::Optimizer::load_state
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<T: Float = f32> {
    /// The optimiser's type name (`"Adam"`); a state loads only into the
    /// same kind of optimiser.
    pub optimizer: String,
    /// How many times `step` has been called.
    pub steps: u64,
    /// The base learning rate when the state was taken (restored on load,
    /// since a schedule or a divergence guard may have moved it).
    pub lr: f64,
    /// The hyperparameters that shape the update (`beta1`, `eps`,
    /// `weight_decay`, flags as 0 or 1), by name. On load they must equal
    /// the optimiser's own: resuming with other settings is refused rather
    /// than silently mixed.
    pub hyperparameters: BTreeMap<String, f64>,
    /// Per-parameter state, by dotted name. Parameters that have never been
    /// updated (frozen, or never given a gradient) have no entry.
    pub params: BTreeMap<String, ParamState<T>>,
}

/// One parameter's part of an [`OptimizerState`].
#[derive(Clone, Debug, PartialEq)]
pub struct ParamState<T: Float = f32> {
    /// How many updates this parameter has had (Adam's bias correction and
    /// Adagrad's rate decay count these, as PyTorch's per-parameter `step`).
    pub step: u64,
    /// The state tensors by PyTorch's names (`exp_avg`, `exp_avg_sq`,
    /// `momentum_buffer`, ...), each of the parameter's shape.
    pub tensors: BTreeMap<String, Tensor<T>>,
}

/// Why an [`OptimizerState`] cannot be loaded into an optimiser for a model.
///
/// Loading checks everything first, so after any of these errors the
/// optimiser is exactly as it was.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StateError {
    /// The state comes from another kind of optimiser.
    WrongOptimizer {
        /// This optimiser's type name.
        expected: String,
        /// The name recorded in the state.
        found: String,
    },
    /// A hyperparameter differs, is missing from the state, or is not one
    /// this optimiser has (`expected` or `found` is `None` for the last two).
    Hyperparameter {
        /// Its name.
        name: String,
        /// This optimiser's value.
        expected: Option<f64>,
        /// The state's value.
        found: Option<f64>,
    },
    /// The saved learning rate is negative or not finite.
    BadLr(f64),
    /// The state names a parameter the model does not have.
    UnknownParam(String),
    /// A parameter's state lacks a tensor this optimiser keeps.
    MissingTensor {
        /// The parameter's dotted name.
        param: String,
        /// The tensor's name (`exp_avg`).
        tensor: String,
    },
    /// A parameter's state holds a tensor this optimiser does not keep
    /// (saved with other options, such as AMSGrad or momentum).
    UnexpectedTensor {
        /// The parameter's dotted name.
        param: String,
        /// The tensor's name.
        tensor: String,
    },
    /// A state tensor's shape differs from its parameter's.
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
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "optimizer state: ")?;
        match self {
            StateError::WrongOptimizer { expected, found } => {
                write!(f, "saved by {found}, cannot load into {expected}")
            }
            StateError::Hyperparameter {
                name,
                expected,
                found,
            } => match (expected, found) {
                (Some(e), Some(s)) => write!(f, "{name} is {s} in the state but {e} here"),
                (Some(e), None) => write!(f, "{name} (here {e}) is missing from the state"),
                (None, Some(s)) => write!(f, "unknown hyperparameter {name} = {s}"),
                (None, None) => write!(f, "hyperparameter {name} does not fit"),
            },
            StateError::BadLr(lr) => write!(f, "learning rate {lr} is not a finite number >= 0"),
            StateError::UnknownParam(name) => write!(f, "the model has no parameter '{name}'"),
            StateError::MissingTensor { param, tensor } => {
                write!(f, "'{param}' has no '{tensor}' tensor")
            }
            StateError::UnexpectedTensor { param, tensor } => {
                write!(
                    f,
                    "'{param}' has a '{tensor}' tensor this optimizer does not keep"
                )
            }
            StateError::ShapeMismatch {
                param,
                tensor,
                expected,
                found,
            } => write!(
                f,
                "'{param}.{tensor}' has shape {found:?} but the parameter has shape {expected:?}"
            ),
        }
    }
}

impl std::error::Error for StateError {}
