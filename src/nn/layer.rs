//! [`Forward`]: what makes a module a layer.

use super::Module;
use crate::tape::Var;
use crate::tensor::Float;

/// A layer's forward pass: one var in, one var out, on the input's tape.
///
/// The tape carries the mode (training or evaluation, see
/// [`Tape::eval`](crate::Tape::eval)) and the generator random layers draw
/// from, so a forward pass needs nothing but its input.
pub trait Forward<T: Float = f32> {
    /// Applies the layer.
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T>;
}

/// A module that is also a layer: what [`Sequential`](crate::nn::Sequential)
/// holds. Every type that implements both traits and can cross threads is
/// a `Layer` (so that models built from layers stay `Send + Sync`).
pub trait Layer<T: Float = f32>: Module<T> + Forward<T> + Send + Sync {}

impl<T: Float, L: Module<T> + Forward<T> + Send + Sync> Layer<T> for L {}

impl<T: Float, L: Forward<T> + ?Sized> Forward<T> for Box<L> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        (**self).forward(x)
    }
}
