//! Neural-network ops: softmax and log-softmax, dropout, and (in sibling
//! files) convolution and pooling (`conv.rs`) and normalisation (`norm.rs`).
//!
//! All of them are fused: one node per call, with a forward kernel from
//! `tensor/` and a backward rule written for the whole op, which is both
//! faster and more stable than chaining primitives (a softmax built as
//! `exp(x) / sum(exp(x))` overflows in f32 once a logit passes 88; this one
//! subtracts the maximum first and never does).
//! [`NnOp::backward`] has one arm per op; the arms for the sibling files call
//! the rule written next to that op's forward.

use super::Op;
use super::conv::{self, Conv2dArgs, Pool2dArgs};
use super::heads;
use super::norm;
use crate::tape::{BackwardCtx, Var};
use crate::tensor::shape::{Shape, resolve_axis};
use crate::tensor::softmax as kernels;
use crate::tensor::{Float, Tensor};
use std::fmt;

/// The neural-network ops. Sizes are stored as small integers and `eps` as
/// `f64`, so the op stays `Copy` and no larger than the other families'.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NnOp {
    /// `softmax` along an axis (resolved; 0 for a 0-d input).
    Softmax {
        /// The axis the probabilities sum to 1 along.
        axis: u32,
    },
    /// `log_softmax` along an axis (resolved; 0 for a 0-d input).
    LogSoftmax {
        /// The axis normalised over.
        axis: u32,
    },
    /// `causal_softmax` over the last axis of `[.., Lq, Lk]`.
    CausalSoftmax,
    /// `conv2d`; inputs `[x, weight]` or `[x, weight, bias]`.
    Conv2d(Conv2dArgs),
    /// `max_pool2d`; input `[x]`.
    MaxPool2d(Pool2dArgs),
    /// `avg_pool2d` (padding counted in the divisor); input `[x]`.
    AvgPool2d(Pool2dArgs),
    /// `layer_norm` over the trailing `dims` axes; inputs `[x]`, then the
    /// weight and the bias if present.
    LayerNorm {
        /// How many trailing axes are normalised together.
        dims: u32,
        /// Added to the variance before the square root.
        eps: f64,
        /// Whether a weight input follows `x`.
        weight: bool,
        /// Whether a bias input follows (after the weight, if any).
        bias: bool,
    },
    /// `head_scores`: per-head `q k^T` of `[N, L, E]` queries and keys;
    /// inputs `[q, k]`.
    HeadScores {
        /// Heads the features split into.
        heads: u32,
    },
    /// `head_mix`: per-head attention weights times values, heads merged;
    /// inputs `[p, v]`.
    HeadMix {
        /// Heads the features split into.
        heads: u32,
    },
    /// `batch_norm` with batch statistics (training mode); inputs `[x]`,
    /// then the weight and the bias if present.
    BatchNorm {
        /// Added to the variance before the square root.
        eps: f64,
        /// Whether a weight input follows `x`.
        weight: bool,
        /// Whether a bias input follows (after the weight, if any).
        bias: bool,
    },
}

impl NnOp {
    /// Adds each input's share of the gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            // softmax: dx = y * (g - sum(g * y)) along the axis
            NnOp::Softmax { axis } => {
                let dx =
                    kernels::softmax_backward(ctx.output(), ctx.grad_out(), axis as usize, false);
                ctx.add(0, dx);
            }
            // log_softmax: dx = g - softmax(x) * sum(g), with softmax(x) = exp(y)
            NnOp::LogSoftmax { axis } => {
                let dx =
                    kernels::softmax_backward(ctx.output(), ctx.grad_out(), axis as usize, true);
                ctx.add(0, dx);
            }
            // as softmax's: the hidden keys have y = 0, hence dx = 0
            NnOp::CausalSoftmax => {
                let dx = kernels::causal_softmax_backward(ctx.output(), ctx.grad_out());
                ctx.add(0, dx);
            }
            NnOp::Conv2d(args) => conv::conv2d_backward(args, ctx),
            NnOp::MaxPool2d(args) => conv::max_pool2d_backward(args, ctx),
            NnOp::AvgPool2d(args) => conv::avg_pool2d_backward(args, ctx),
            NnOp::LayerNorm {
                dims,
                eps,
                weight,
                bias,
            } => norm::layer_norm_backward(dims as usize, eps, weight, bias, ctx),
            NnOp::BatchNorm { eps, weight, bias } => {
                norm::batch_norm_backward(eps, weight, bias, ctx)
            }
            NnOp::HeadScores { heads } => heads::head_scores_backward(heads as usize, ctx),
            NnOp::HeadMix { heads } => heads::head_mix_backward(heads as usize, ctx),
        }
    }
}

impl fmt::Display for NnOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NnOp::Softmax { axis } => write!(f, "softmax[axis={axis}]"),
            NnOp::LogSoftmax { axis } => write!(f, "log_softmax[axis={axis}]"),
            NnOp::CausalSoftmax => f.write_str("causal_softmax"),
            NnOp::Conv2d(a) => write!(f, "conv2d[{a}]"),
            NnOp::MaxPool2d(a) => write!(f, "max_pool2d[{a}]"),
            NnOp::AvgPool2d(a) => write!(f, "avg_pool2d[{a}]"),
            NnOp::LayerNorm { dims, eps, .. } => write!(f, "layer_norm[dims={dims}, eps={eps}]"),
            NnOp::BatchNorm { eps, .. } => write!(f, "batch_norm[eps={eps}]"),
            NnOp::HeadScores { heads } => write!(f, "head_scores[heads={heads}]"),
            NnOp::HeadMix { heads } => write!(f, "head_mix[heads={heads}]"),
        }
    }
}

/// Resolves a softmax axis; a 0-d input accepts 0 and -1 (as PyTorch) and
/// is treated as one element.
fn softmax_axis(op: &str, axis: isize, dims: &[usize]) -> u32 {
    if dims.is_empty() && (axis == 0 || axis == -1) {
        0
    } else {
        resolve_axis(op, axis, dims) as u32
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Softmax along `axis` (negative counts from the end):
    /// `y_i = e^(x_i - m) / sum_j e^(x_j - m)`, with `m` the maximum along the
    /// axis, so large logits do not overflow.
    ///
    /// Derivative (a vector-Jacobian product along the axis):
    /// `dx = y * (g - sum(g * y))`. Shape: unchanged. A 0-d input is one
    /// element (its softmax is 1).
    ///
    /// # Panics
    /// If `axis` is out of range for the shape.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[0.0, 2f64.ln()], [1000.0, 1000.0]]);
    /// let y = x.softmax(-1).value();
    /// // e^0 : e^ln2 = 1 : 2, and equal logits share evenly even at 1000.
    /// assert!((y.get(&[0, 1]) - 2.0 / 3.0).abs() < 1e-12);
    /// assert_eq!(y.get(&[1, 0]), 0.5);
    /// ```
    pub fn softmax(self, axis: isize) -> Var<'t, T> {
        let axis = softmax_axis("softmax", axis, &self.shape());
        self.tape
            .apply(Op::Nn(NnOp::Softmax { axis }), &[self], |v| {
                kernels::softmax(v[0], axis as usize, false)
            })
    }

    /// Softmax over the last axis of `[.., Lq, Lk]` scores with a causal
    /// mask: query `i` (axis -2) sees keys `j <= i` only, and the later keys
    /// get weight exactly 0. The same values as adding `-inf` above the
    /// diagonal and taking [`softmax`](Var::softmax)`(-1)`, without building
    /// or adding the mask.
    ///
    /// Derivative: softmax's, `dx = y * (g - sum(g * y))` (0 for hidden keys).
    ///
    /// # Panics
    /// If the input has fewer than 2 axes.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[1.0, 5.0], [0.0, 0.0]]);
    /// let y = x.causal_softmax().value();
    /// // row 0 sees key 0 only; row 1 shares evenly
    /// assert_eq!(y.to_vec(), vec![1.0, 0.0, 0.5, 0.5]);
    /// ```
    pub fn causal_softmax(self) -> Var<'t, T> {
        let dims = self.shape();
        assert!(
            dims.len() >= 2,
            "causal_softmax: expects [.., Lq, Lk] scores: got {dims:?}"
        );
        self.tape.apply(Op::Nn(NnOp::CausalSoftmax), &[self], |v| {
            kernels::causal_softmax(v[0])
        })
    }

    /// Log-softmax along `axis`: `y_i = (x_i - m) - ln sum_j e^(x_j - m)`,
    /// with `m` the maximum along the axis (stable for any finite logits).
    ///
    /// Derivative: `dx = g - softmax(x) * sum(g)`, where `softmax(x) = e^y`.
    /// Shape: unchanged; a 0-d input gives 0.
    ///
    /// # Panics
    /// If `axis` is out of range for the shape.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![1000.0, 0.0]);
    /// let y = x.log_softmax(0).value();
    /// // ln(e^1000 / (e^1000 + 1)) = -ln(1 + e^-1000) = 0 in f64, and -1000 for the other.
    /// assert_eq!(y.to_vec(), vec![0.0, -1000.0]);
    /// ```
    pub fn log_softmax(self, axis: isize) -> Var<'t, T> {
        let axis = softmax_axis("log_softmax", axis, &self.shape());
        self.tape
            .apply(Op::Nn(NnOp::LogSoftmax { axis }), &[self], |v| {
                kernels::softmax(v[0], axis as usize, true)
            })
    }

    /// Dropout (training mode): each element is zeroed with probability `p`
    /// and the survivors are scaled by `1 / (1 - p)`, so the expected value
    /// is unchanged. The mask is drawn from `rng`, so a seeded generator
    /// gives the same mask every run.
    ///
    /// Recorded as `x * mask` with a constant mask, so the derivative is the
    /// mask (`1 / (1 - p)` where kept, 0 where dropped) through the product's
    /// own rule. `p == 0` returns `self` unchanged (no node, no draw);
    /// `p == 1` zeroes everything. Shape: unchanged.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`.
    ///
    /// ```
    /// # use tapegrad::{Tape, Tensor};
    /// use rand::SeedableRng;
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::ones(&[1000]));
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    /// let y = x.dropout(0.5, &mut rng).value();
    /// // survivors are scaled to 1 / (1 - 0.5) = 2
    /// assert!(y.as_slice().iter().all(|&v| v == 0.0 || v == 2.0));
    /// ```
    pub fn dropout<R: rand::Rng + ?Sized>(self, p: f64, rng: &mut R) -> Var<'t, T> {
        assert!(
            (0.0..=1.0).contains(&p),
            "dropout: p must be in [0, 1]: got {p}"
        );
        if p == 0.0 {
            return self;
        }
        let shape: Shape = self.shape();
        let scale = if p < 1.0 {
            T::from_f64(1.0 / (1.0 - p))
        } else {
            T::ZERO
        };
        // Draw in f64 so that `u < p` is exact for either element type.
        let draws = Tensor::<f64>::rand_uniform(&shape, 0.0, 1.0, rng);
        let mask = draws
            .as_slice()
            .iter()
            .map(|&u| if u < p { T::ZERO } else { scale })
            .collect();
        self * self.tape.constant(Tensor::from_parts(shape, mask))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nn_ops_are_no_larger_than_unary_ops() {
        // Nodes store an `Op`; a big variant here would grow every node.
        let nn = std::mem::size_of::<NnOp>();
        let unary = std::mem::size_of::<super::super::UnaryOp>();
        assert!(nn <= unary, "NnOp is {nn} bytes, UnaryOp {unary}");
    }

    #[test]
    fn ops_print_their_name_and_arguments() {
        assert_eq!(NnOp::Softmax { axis: 1 }.to_string(), "softmax[axis=1]");
        let op = NnOp::BatchNorm {
            eps: 1e-5,
            weight: true,
            bias: false,
        };
        assert_eq!(op.to_string(), "batch_norm[eps=0.00001]");
    }
}
