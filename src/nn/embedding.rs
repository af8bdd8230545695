//! [`Embedding`]: a learned vector per token id.

use super::{Forward, Param, init};
use crate::Module;
use crate::tape::{Tape, Var};
use crate::tensor::Float;
use rand::Rng;

/// A lookup table of `num_embeddings` vectors of size `embedding_dim`, as
/// PyTorch's `nn.Embedding`: `y[..., :] = weight[index[...], :]`.
///
/// Shapes: indices of shape `S` give `S + [embedding_dim]`; `weight` is
/// `[num_embeddings, embedding_dim]`. The lookup is
/// [`Var::index_select`] on axis 0, so the gradient of a row picked several
/// times is the sum of its gradients, and rows never picked get 0.
///
/// Default init matches PyTorch's: every weight drawn from `N(0, 1)`.
///
/// Indices are integers, which a float [`Var`] is not; pass them as a
/// slice to [`forward_indices`](Embedding::forward_indices). The
/// [`Forward`] impl (for use in [`Sequential`](super::Sequential)) reads the
/// input's values as indices instead; no gradient flows to them.
///
/// ```
/// use tapegrad::nn::Embedding;
/// use tapegrad::Tape;
/// use rand::SeedableRng;
/// let emb = Embedding::<f32>::new(10, 4, &mut rand::rngs::StdRng::seed_from_u64(0));
/// let tape = Tape::new();
/// // a batch of 2 sequences of 3 token ids
/// let y = emb.forward_indices(&tape, &[1, 5, 1, 0, 9, 9], &[2, 3]);
/// assert_eq!(y.shape().as_slice(), &[2, 3, 4]);
/// ```
///
/// # Panics
/// In the lookups, if an index is out of range, or (`forward_indices`) the
/// number of indices is not the product of `shape`, or (`forward`) an input
/// value is not a whole number.
#[derive(Module, Clone, Debug)]
pub struct Embedding<T: Float = f32> {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Param<T>,
}

impl<T: Float> Embedding<T> {
    /// A table of `num_embeddings` vectors of size `embedding_dim`.
    pub fn new<R: Rng + ?Sized>(num_embeddings: usize, embedding_dim: usize, rng: &mut R) -> Self {
        let weight = init::normal(&[num_embeddings, embedding_dim], 0.0, 1.0, rng);
        Embedding {
            weight: Param::new("weight", weight),
        }
    }

    /// The number of vectors (the vocabulary size).
    pub fn num_embeddings(&self) -> usize {
        self.weight.shape()[0]
    }

    /// The size of each vector.
    pub fn embedding_dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// Looks up `indices`, a row-major array of shape `shape`, giving
    /// `shape + [embedding_dim]`.
    pub fn forward_indices<'t>(
        &self,
        tape: &'t Tape<T>,
        indices: &[usize],
        shape: &[usize],
    ) -> Var<'t, T> {
        let n: usize = shape.iter().product();
        assert!(
            indices.len() == n,
            "Embedding: {} indices do not fill shape {shape:?}",
            indices.len()
        );
        let num = self.num_embeddings();
        if let Some(&bad) = indices.iter().find(|&&i| i >= num) {
            panic!(
                "Embedding: index {bad} is out of range for {num} embeddings: weight {:?}",
                self.weight.shape()
            );
        }
        let mut out_dims = shape.to_vec();
        out_dims.push(self.embedding_dim());
        tape.param(&self.weight)
            .index_select(0, indices)
            .reshape(&out_dims)
    }
}

impl<T: Float> Forward<T> for Embedding<T> {
    /// Reads `x`'s values as indices (each must be a whole number) and looks
    /// them up: see [`forward_indices`](Embedding::forward_indices).
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let values = x.value();
        let indices: Vec<usize> = values
            .as_slice()
            .iter()
            .map(|&v| {
                let v = v.to_f64();
                assert!(
                    v >= 0.0 && v.fract() == 0.0,
                    "Embedding: input values must be whole numbers to use as indices: got {v}"
                );
                v as usize
            })
            .collect();
        self.forward_indices(x.tape(), &indices, values.shape())
    }
}
