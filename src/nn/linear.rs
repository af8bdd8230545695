//! [`Linear`]: `y = x W^T + b`.

use super::{Forward, Param, init};
use crate::Module;
use crate::tape::Var;
use crate::tensor::Float;
use rand::Rng;

/// A fully connected layer, `y = x W^T + b`, on the last axis of `x`.
///
/// `weight` is `[out, in]` and `bias` `[out]`, as in PyTorch, so weights
/// move between the two unchanged. Default init matches PyTorch's:
/// both drawn from `U(-1/sqrt(in), 1/sqrt(in))`.
///
/// ```
/// use tapegrad::nn::{Forward, Linear};
/// use tapegrad::{Tape, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let fc = Linear::<f32>::new(3, 2, &mut rng);
/// let tape = Tape::new();
/// let y = fc.forward(tape.constant(Tensor::zeros(&[5, 3])));
/// assert_eq!(y.shape().as_slice(), &[5, 2]);
/// ```
#[derive(Module, Clone, Debug)]
pub struct Linear<T: Float = f32> {
    /// `[out, in]`.
    pub weight: Param<T>,
    /// `[out]`, if the layer has a bias.
    pub bias: Option<Param<T>>,
}

impl<T: Float> Linear<T> {
    /// A layer from `in_features` to `out_features` with a bias.
    pub fn new<R: Rng + ?Sized>(in_features: usize, out_features: usize, rng: &mut R) -> Self {
        let bound = 1.0 / (in_features.max(1) as f64).sqrt();
        let weight = init::uniform(&[out_features, in_features], -bound, bound, rng);
        let bias = init::uniform(&[out_features], -bound, bound, rng);
        Linear {
            weight: Param::new("weight", weight),
            bias: Some(Param::new("bias", bias)),
        }
    }

    /// The same layer without a bias.
    pub fn without_bias(mut self) -> Self {
        self.bias = None;
        self
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[0]
    }
}

impl<T: Float> Forward<T> for Linear<T> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let tape = x.tape();
        let w = tape.param(&self.weight);
        let b = self.bias.as_ref().map(|b| tape.param(b));
        x.linear(w, b)
    }
}
