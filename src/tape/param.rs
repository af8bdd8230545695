//! [`Param`]: a named tensor a model learns, with a stable [`ParamId`].
//!
//! It lives beside the tape, not in `nn`, because the tape
//! binds parameters ([`Tape::param`](crate::Tape::param)) and [`Grads`](crate::Grads)
//! files their gradients under the id: the layers build on parameters, the
//! tape must not build on layers. `nn` re-exports both names.

use crate::tensor::{Float, Tensor};
use std::sync::atomic::{AtomicU64, Ordering};

/// A parameter's identity: unique within the process, stable for its life.
///
/// Optimisers key their state (momenta) by it and [`Grads`](crate::Grads)
/// files parameter gradients under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParamId(pub u64);

static NEXT_PARAM_ID: AtomicU64 = AtomicU64::new(1);

impl ParamId {
    /// A fresh id, never handed out before in this process.
    pub fn fresh() -> Self {
        ParamId(NEXT_PARAM_ID.fetch_add(1, Ordering::Relaxed))
    }
}

/// A tensor a model learns: a value, a name, a stable [`ParamId`], and
/// whether it is trainable (a frozen parameter gets no gradient and
/// optimisers leave it alone).
///
/// Bind it to a tape with [`Tape::param`](crate::Tape::param), which shares
/// the storage rather than copying it.
///
/// Cloning keeps the id: a clone is a snapshot of the same parameter (used to
/// restore a model), not a new one.
#[derive(Clone, Debug)]
pub struct Param<T: Float = f32> {
    id: ParamId,
    name: String,
    value: Tensor<T>,
    trainable: bool,
}

impl<T: Float> Param<T> {
    /// A trainable parameter with a fresh id.
    pub fn new(name: impl Into<String>, value: Tensor<T>) -> Self {
        Param {
            id: ParamId::fresh(),
            name: name.into(),
            value,
            trainable: true,
        }
    }

    /// The parameter's id.
    pub fn id(&self) -> ParamId {
        self.id
    }

    /// The parameter's own name (a module gives it its dotted path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames the parameter.
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// The current value.
    pub fn value(&self) -> &Tensor<T> {
        &self.value
    }

    /// The value, mutably (optimisers write through this).
    pub fn value_mut(&mut self) -> &mut Tensor<T> {
        &mut self.value
    }

    /// The shape of the value.
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// Whether gradients flow to this parameter and optimisers update it.
    pub fn is_trainable(&self) -> bool {
        self.trainable
    }

    /// Freezes (`false`) or unfreezes (`true`) the parameter.
    pub fn set_trainable(&mut self, trainable: bool) {
        self.trainable = trainable;
    }
}
