//! Differentiable ops, one file per family, one place per op: an op's
//! `Var` method, its forward computation and its backward rule are written
//! together, so an op's derivative is found by opening one file.
//!
//! Elementwise families are tables, one entry per op (the macros that expand
//! them are in `elementwise.rs`):
//!
//! - `unary.rs`: functions of one var (`exp`, `tanh`, `relu`, `gelu`, ...);
//! - `scalar.rs`: arithmetic with a plain number (`x + 1.0`, `2.0 / x`, `powf`);
//! - `binary.rs`: `+ - * /` between vars, `pow`, `maximum`, `minimum`.
//!
//! The other families are sections, one per op, always in the same order:
//! the public `Var` method, then its forward (when it is more than a kernel
//! call), then its backward rule, `fn <op>_backward`:
//!
//! - `mask.rs`: comparisons, `where_`, and `dropout` (a product with a
//!   random mask, with no rule of its own);
//! - `reduce/`: `sum`, `mean`, `var` (`mod.rs`, with the enum), `max`,
//!   `min`, `logsumexp`, `argmax` (`extreme.rs`);
//! - `matmul.rs`: batched matrix product and the fused `linear`;
//! - `shape/`: reshape, permute, ... (`mod.rs`, with the enum), narrow,
//!   concat, stack, pad (`slice.rs`), index_select, gather and their
//!   adjoints index_add, scatter_add (`index.rs`);
//! - `softmax.rs`: softmax, log-softmax, causal softmax;
//! - `conv.rs`: convolution and pooling;
//! - `norm.rs`: layer and batch normalisation;
//! - `heads.rs`: the per-head products of multi-head attention;
//! - `loss.rs`: fused, numerically stable losses.
//!
//! Each family has its own enum in its own file ([`UnaryOp`],
//! [`ReduceOp`], ...): a small `Copy` value that a tape node stores, so that
//! nodes cost no allocation and can be printed. At the top of a section
//! family's file, under the enum, are its `backward` (one line per op,
//! calling the op's rule) and its `Display` (the name printed tapes, DOT
//! output and profiles show). [`Op`] wraps the families, and the tape's
//! reverse sweep dispatches on the family only (`Op::backward`).
//!
//! # Adding an op
//!
//! An elementwise function of one var is one entry in `unary.rs`:
//!
//! ```text
//! /// `x / (1 + |x|)`. Derivative: `1 / (1 + |x|)^2`.
//! pub fn softsign() -> Softsign {
//!     name: "softsign",
//!     forward: |x| x / (T::ONE + x.abs()),
//!     backward: |g, x, _out| chain(g, x, |x| {
//!         let d = T::ONE + x.abs();
//!         T::ONE / (d * d)
//!     }),
//!     on_tape: |g, x, _out| g / (x.abs() + T::ONE).square(),
//! }
//! ```
//!
//! That is the variant `UnaryOp::Softsign`, the method `x.softsign()` with
//! these docs, the printed name, the forward, the rule, the same rule over
//! vars (`on_tape`, for [`Tape::grad`](crate::Tape::grad): gradients that
//! can be differentiated again) and, generated from the rule, the
//! forward-mode one; nothing else changes (a binary op is an entry in `binary.rs` the same way). Any other
//! op:
//!
//! 1. a variant in its family's enum, with a doc line, and its printed name
//!    in the enum's `Display`;
//! 2. a section: the public `Var` method (doc: formula, derivative, shapes,
//!    `# Panics`), which checks shapes and records the op with
//!    `tape.apply(op, inputs, forward)`, the forward calling a kernel from
//!    `tensor/`; then `fn <op>_backward`, which reads the [`BackwardCtx`]
//!    (`input`, `output`, `grad_out`, `aux`, `needs`) and adds each input's
//!    gradient with `add` (which sums a broadcast gradient back to the
//!    input's shape);
//! 3. under it, `fn <op>_backward_on_tape`: the same rule written with vars
//!    through differentiable ops ([`GraphCtx`](crate::tape::GraphCtx): the
//!    same `input`, `output`, `grad_out`, `add`, as vars), so that
//!    [`Tape::grad`](crate::Tape::grad) can differentiate it again; and
//!    `fn <op>_jvp`: the output's tangent from the inputs' tangents
//!    ([`JvpCtx`](crate::tape::JvpCtx), for forward mode);
//! 4. one line each in the family's `backward`, `backward_on_tape` and
//!    `jvp`, calling those rules;
//! 5. in both cases, a test in `tests/` against the derivative worked out by
//!    hand, `check::gradcheck` (finite differences in f64), and
//!    `check::gradgradcheck` and `check::jvpcheck` for the other two rules.
//!
//! # Which ops have which rules
//!
//! Every op has all three: the plain backward, the recorded backward
//! (second and higher derivatives through `Tape::grad`) and forward mode.
//! Ops without a gradient (comparisons, `argmax`, `argmin`) pass nothing
//! back and have tangent 0. A few rules needed ops of their own, each with
//! all three rules in turn: `normal_cdf` (gelu's recorded derivative),
//! `index_add` and `scatter_add` (the adjoints of `index_select` and
//! `gather`), and in `conv/grads.rs` the input and weight gradients of a
//! convolution and the gradient spreads of both poolings. An op added
//! without the other two rules would panic in `Tape::grad` or forward mode,
//! naming itself, rather than give a wrong answer.
//!
//! Two kinds of node are not ops of these families, and the tape runs
//! their rules itself: a user's [`Function`](crate::tape::Function)
//! (recorded by [`Tape::call`](crate::Tape::call), with the rules the user
//! wrote; the optional two panic, naming it, when absent) and a
//! checkpointed block ([`Tape::checkpoint`](crate::Tape::checkpoint),
//! whose rules are those of the ops inside it, run again).
//!
//! [`BackwardCtx`]: crate::tape::BackwardCtx

mod binary;
mod conv;
mod elementwise;
mod heads;
mod loss;
mod mask;
mod matmul;
mod norm;
mod reduce;
mod scalar;
mod shape;
mod softmax;
mod unary;

pub use binary::{BinaryOp, Operand};
pub use conv::{Conv2dArgs, Conv2dOptions, ConvOp, Pool2dArgs};
pub use heads::HeadsOp;
pub use loss::LossOp;
pub use mask::{CmpOp, MaskOp};
pub use matmul::MatmulOp;
pub use norm::{BatchStats, NormOp};
pub use reduce::ReduceOp;
pub use scalar::ScalarOp;
pub use shape::ShapeOp;
pub use softmax::SoftmaxOp;
pub use unary::{GeluApprox, UnaryOp};

use crate::tape::{BackwardCtx, ParamId};
use crate::tensor::{Float, Tensor};
use std::fmt;

/// What made a node: a small `Copy` value (family, variant, scalar
/// arguments), so nodes cost no allocation and can be printed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// A leaf whose gradient is wanted (`tape.var`).
    Var,
    /// A leaf without gradient (`tape.constant`).
    Constant,
    /// A bound model parameter (`tape.param`).
    Param(ParamId),
    /// A copy cut from the graph (`var.detach()`).
    Detach,
    /// Elementwise functions of one input.
    Unary(UnaryOp),
    /// Arithmetic with a constant.
    Scalar(ScalarOp),
    /// Elementwise functions of two inputs.
    Binary(BinaryOp),
    /// Comparisons and mask selection.
    Mask(MaskOp),
    /// Reductions over axes.
    Reduce(ReduceOp),
    /// Matrix products.
    Matmul(MatmulOp),
    /// Shape and data movement.
    Shape(ShapeOp),
    /// Softmax and log-softmax.
    Softmax(SoftmaxOp),
    /// Convolution and pooling.
    Conv(ConvOp),
    /// Layer and batch normalisation.
    Norm(NormOp),
    /// The products of multi-head attention.
    Heads(HeadsOp),
    /// Fused losses.
    Loss(LossOp),
    /// A call of a user-defined [`Function`](crate::tape::Function): the
    /// tape keeps the function, by `id`, and dispatches its rules itself.
    Custom {
        /// Which of the tape's calls.
        id: u32,
        /// The function's name.
        name: &'static str,
    },
    /// A checkpointed block (`tape.checkpoint`): the tape keeps the block,
    /// by `id`, and runs it again during backward.
    Checkpoint {
        /// Which of the tape's blocks.
        id: u32,
    },
}

impl Op {
    /// Runs the backward rule of a non-leaf op.
    #[inline]
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            Op::Var | Op::Constant | Op::Param(_) | Op::Detach => {}
            Op::Unary(op) => op.backward(ctx),
            Op::Scalar(op) => op.backward(ctx),
            Op::Binary(op) => op.backward(ctx),
            Op::Mask(op) => op.backward(ctx),
            Op::Reduce(op) => op.backward(ctx),
            Op::Matmul(op) => op.backward(ctx),
            Op::Shape(op) => op.backward(ctx),
            Op::Softmax(op) => op.backward(ctx),
            Op::Conv(op) => op.backward(ctx),
            Op::Norm(op) => op.backward(ctx),
            Op::Heads(op) => op.backward(ctx),
            Op::Loss(op) => op.backward(ctx),
            Op::Custom { .. } | Op::Checkpoint { .. } => {
                unreachable!("the tape runs custom functions' and checkpoints' rules")
            }
        }
    }
}

impl Op {
    /// Runs the rule of a non-leaf op that records its gradient on the tape
    /// (for [`Tape::grad`](crate::Tape::grad)).
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut crate::tape::GraphCtx<'_, '_, T>) {
        match self {
            Op::Var | Op::Constant | Op::Param(_) | Op::Detach => {}
            Op::Unary(op) => op.backward_on_tape(ctx),
            Op::Scalar(op) => op.backward_on_tape(ctx),
            Op::Binary(op) => op.backward_on_tape(ctx),
            Op::Mask(op) => op.backward_on_tape(ctx),
            Op::Reduce(op) => op.backward_on_tape(ctx),
            Op::Matmul(op) => op.backward_on_tape(ctx),
            Op::Shape(op) => op.backward_on_tape(ctx),
            Op::Softmax(op) => op.backward_on_tape(ctx),
            Op::Conv(op) => op.backward_on_tape(ctx),
            Op::Norm(op) => op.backward_on_tape(ctx),
            Op::Heads(op) => op.backward_on_tape(ctx),
            Op::Loss(op) => op.backward_on_tape(ctx),
            Op::Custom { .. } | Op::Checkpoint { .. } => {
                unreachable!("the tape runs custom functions' and checkpoints' rules")
            }
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs'
    /// (`None` for a leaf or a detached value, whose tangent is zero).
    pub(crate) fn jvp<T: Float>(self, ctx: &crate::tape::JvpCtx<'_, T>) -> Option<Tensor<T>> {
        Some(match self {
            Op::Var | Op::Constant | Op::Param(_) | Op::Detach => return None,
            Op::Unary(op) => op.jvp(ctx),
            Op::Scalar(op) => op.jvp(ctx),
            Op::Binary(op) => op.jvp(ctx),
            Op::Mask(op) => op.jvp(ctx),
            Op::Reduce(op) => op.jvp(ctx),
            Op::Matmul(op) => op.jvp(ctx),
            Op::Shape(op) => op.jvp(ctx),
            Op::Softmax(op) => op.jvp(ctx),
            Op::Conv(op) => op.jvp(ctx),
            Op::Norm(op) => op.jvp(ctx),
            Op::Heads(op) => op.jvp(ctx),
            Op::Loss(op) => op.jvp(ctx),
            Op::Custom { .. } | Op::Checkpoint { .. } => {
                unreachable!("the tape runs custom functions' and checkpoints' rules")
            }
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Var => f.write_str("var"),
            Op::Constant => f.write_str("constant"),
            Op::Param(id) => write!(f, "param#{}", id.0),
            Op::Detach => f.write_str("detach"),
            Op::Unary(op) => op.fmt(f),
            Op::Scalar(op) => op.fmt(f),
            Op::Binary(op) => op.fmt(f),
            Op::Mask(op) => op.fmt(f),
            Op::Reduce(op) => op.fmt(f),
            Op::Matmul(op) => op.fmt(f),
            Op::Shape(op) => op.fmt(f),
            Op::Softmax(op) => op.fmt(f),
            Op::Conv(op) => op.fmt(f),
            Op::Norm(op) => op.fmt(f),
            Op::Heads(op) => op.fmt(f),
            Op::Loss(op) => op.fmt(f),
            Op::Custom { name, .. } => f.write_str(name),
            Op::Checkpoint { .. } => f.write_str("checkpoint"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_op_stays_four_words() {
        // Every node stores an `Op`: a family that grew a large variant
        // would grow every node of every tape.
        let size = std::mem::size_of::<Op>();
        assert!(size <= 32, "Op is {size} bytes");
    }

    #[test]
    fn elementwise_ops_print_their_name_and_arguments() {
        assert_eq!(UnaryOp::Exp.to_string(), "exp");
        assert_eq!(UnaryOp::GeluTanh.to_string(), "gelu_tanh");
        assert_eq!(UnaryOp::LeakyRelu(0.01).to_string(), "leaky_relu[0.01]");
        assert_eq!(UnaryOp::Clamp(-1.0, 1.5).to_string(), "clamp[-1, 1.5]");
        assert_eq!(ScalarOp::RDiv(2.0).to_string(), "rdiv[2]");
        assert_eq!(BinaryOp::Maximum.to_string(), "maximum");
        assert_eq!(MaskOp::Cmp(CmpOp::Le).to_string(), "le");
    }

    #[test]
    fn fused_ops_print_their_name_and_arguments() {
        assert_eq!(
            SoftmaxOp::Softmax { axis: 1 }.to_string(),
            "softmax[axis=1]"
        );
        let op = NormOp::BatchNorm {
            eps: 1e-5,
            weight: true,
            bias: false,
        };
        assert_eq!(op.to_string(), "batch_norm[eps=0.00001]");
        assert_eq!(
            HeadsOp::HeadMix { heads: 4 }.to_string(),
            "head_mix[heads=4]"
        );
    }
}
