//! [`LayerNorm`]: normalisation over the trailing axes of each example.

use super::{Forward, Param};
use crate::Module;
use crate::tape::Var;
use crate::tensor::{Float, Tensor};

/// Layer normalisation (Ba et al. 2016), as PyTorch's `nn.LayerNorm`:
/// `y = (x - mean) / sqrt(var + eps) * weight + bias`, with mean and biased
/// variance over the trailing `normalized_shape` axes.
///
/// Default init: `weight` ones, `bias` zeros (PyTorch's); `eps = 1e-5`.
#[derive(Module, Clone, Debug)]
pub struct LayerNorm<T: Float = f32> {
    /// Scale, of shape `normalized_shape` (absent without an affine part).
    pub weight: Option<Param<T>>,
    /// Shift, of shape `normalized_shape`.
    pub bias: Option<Param<T>>,
    #[module(skip)]
    normalized_shape: Vec<usize>,
    #[module(skip)]
    eps: f64,
}

impl<T: Float> LayerNorm<T> {
    /// Normalises over trailing axes of these sizes, with a learned scale and shift.
    pub fn new(normalized_shape: &[usize]) -> Self {
        LayerNorm {
            weight: Some(Param::new("weight", Tensor::ones(normalized_shape))),
            bias: Some(Param::new("bias", Tensor::zeros(normalized_shape))),
            normalized_shape: normalized_shape.to_vec(),
            eps: 1e-5,
        }
    }

    /// Without the learned scale and shift.
    pub fn without_affine(mut self) -> Self {
        self.weight = None;
        self.bias = None;
        self
    }

    /// Sets the variance floor `eps`.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

impl<T: Float> Forward<T> for LayerNorm<T> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let tape = x.tape();
        let w = self.weight.as_ref().map(|p| tape.param(p));
        let b = self.bias.as_ref().map(|p| tape.param(p));
        x.layer_norm(&self.normalized_shape, w, b, self.eps)
    }
}
