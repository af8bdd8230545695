//! NumPy-style printing of tensors.

use super::{Float, Tensor};
use std::fmt;

impl<T: Float> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({:?}, {:?})", self.shape(), self.as_slice())
    }
}
