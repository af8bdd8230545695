//! [`OptimizerState`]: an optimiser's memory as plain data, keyed by
//! parameter name, and [`StateError`], why a state does not fit.

use crate::tensor::{Float, Tensor};
use std::collections::BTreeMap;

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
    /// Scalars the optimiser keeps for the whole model and updates as it
    /// trains (D-Adaptation's and Prodigy's step-size estimate `d`,
    /// schedule-free's averaging weights), by name; empty for most
    /// optimisers. On load the names must be the optimiser's own.
    pub scalars: BTreeMap<String, f64>,
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
