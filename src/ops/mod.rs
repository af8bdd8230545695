//! Differentiable ops, one file per family; each file holds its ops' forward
//! and backward side by side, so an op's derivative is found in one place.
//!
//! - `unary.rs`: elementwise functions (`exp`, `tanh`, `relu`, ...) and
//!   arithmetic with a scalar;
//! - `binary.rs`: `+ - * /`, `pow`, `maximum`, comparisons, `where_`;
//! - `reduce.rs`: `sum`, `mean`, `max`, `var`, `logsumexp`, `argmax`;
//! - `matmul.rs`: batched matrix product;
//! - `shape.rs`: reshape, permute, slice, concat, gather, pad, ...;
//! - `nn.rs`: softmax, log-softmax, dropout, and the dispatch of
//!   `conv.rs` (convolution, pooling) and `norm.rs` (layer and batch norm);
//! - `loss.rs`: fused, numerically stable losses.
//!
//! # Adding an op
//! 1. Add a variant to its family's enum, with a doc line.
//! 2. Write the public `Var` method (doc: formula, derivative, shapes,
//!    `# Panics`) that records it with `tape.apply`, calling a kernel from
//!    `tensor/` for the forward.
//! 3. Add its arm to the family's `backward`, using the [`BackwardCtx`]
//!    (`input`, `output`, `grad_out`, `add`).
//! 4. Add a gradcheck test in `tests/`.
//!
//! The tape dispatches on the family only (`Op::backward`).
//!
//! [`BackwardCtx`]: crate::tape::BackwardCtx

mod binary;
mod conv;
mod heads;
mod loss;
mod matmul;
mod nn;
mod norm;
mod reduce;
mod shape;
mod unary;

pub use binary::{BinaryOp, CmpOp, Operand};
pub use conv::{Conv2dArgs, Conv2dOptions, Pool2dArgs};
pub use loss::LossOp;
pub use matmul::MatmulOp;
pub use nn::NnOp;
pub use norm::BatchStats;
pub use reduce::ReduceOp;
pub use shape::ShapeOp;
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
    /// Elementwise functions of two inputs.
    Binary(BinaryOp),
    /// Reductions over axes.
    Reduce(ReduceOp),
    /// Matrix products.
    Matmul(MatmulOp),
    /// Shape and data movement.
    Shape(ShapeOp),
    /// Neural-network ops.
    Nn(NnOp),
    /// Fused losses.
    Loss(LossOp),
}

impl Op {
    /// Runs the backward rule of a non-leaf op.
    #[inline]
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            Op::Var | Op::Constant | Op::Param(_) | Op::Detach => {}
            Op::Unary(op) => op.backward(ctx),
            Op::Binary(op) => op.backward(ctx),
            Op::Reduce(op) => op.backward(ctx),
            Op::Matmul(op) => op.backward(ctx),
            Op::Shape(op) => op.backward(ctx),
            Op::Nn(op) => op.backward(ctx),
            Op::Loss(op) => op.backward(ctx),
        }
    }
}

impl Op {
    /// Runs the rule of a non-leaf op that records its gradient on the tape
    /// (for [`Tape::grad`](crate::Tape::grad)).
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut crate::tape::GraphCtx<'_, '_, T>) {
        match self {
            Op::Var | Op::Constant | Op::Param(_) | Op::Detach => {}
            _ => ctx.unsupported(),
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs'
    /// (`None` for a leaf or a detached value, whose tangent is zero).
    pub(crate) fn jvp<T: Float>(self, ctx: &crate::tape::JvpCtx<'_, T>) -> Option<Tensor<T>> {
        let _ = ctx;
        match self {
            Op::Var | Op::Constant | Op::Param(_) | Op::Detach => None,
            op => panic!("forward mode: {op} has no forward-mode rule"),
        }
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
            Op::Binary(op) => op.fmt(f),
            Op::Reduce(op) => op.fmt(f),
            Op::Matmul(op) => op.fmt(f),
            Op::Shape(op) => op.fmt(f),
            Op::Nn(op) => op.fmt(f),
            Op::Loss(op) => op.fmt(f),
        }
    }
}
