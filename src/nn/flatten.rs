//! [`Flatten`]: every axis after the first merged into one.

use super::Forward;
use super::activation::impl_module_without_params;
use crate::tape::Var;
use crate::tensor::Float;

/// Merges every axis but the batch axis, as PyTorch's `nn.Flatten()` (its
/// defaults `start_dim=1, end_dim=-1`): `[N, d1, d2, ...]` becomes
/// `[N, d1 * d2 * ...]`, in row-major order, sharing the storage. A 2-d
/// input passes through unchanged. Typically between a CNN's last pooling
/// layer and its first `Linear`. No parameters.
///
/// ```
/// use tapegrad::nn::{Flatten, Forward};
/// use tapegrad::{Tape, Tensor};
/// let tape = Tape::<f32>::new();
/// let y = Flatten.forward(tape.constant(Tensor::zeros(&[2, 3, 4, 5])));
/// assert_eq!(y.shape().as_slice(), &[2, 60]);
/// ```
///
/// # Panics
/// In `forward`, if the input has fewer than 2 axes (as PyTorch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flatten;

impl_module_without_params!(Flatten);

impl<T: Float> Forward<T> for Flatten {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let dims = x.shape();
        assert!(
            dims.len() >= 2,
            "Flatten: input must have a batch axis and at least one more: got {dims:?}"
        );
        x.flatten(1, -1)
    }
}
