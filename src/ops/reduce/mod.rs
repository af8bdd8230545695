//! Reductions over axes: `sum`, `mean`, `max`, `min`, `var`, `logsumexp`,
//! and the non-differentiable `argmax` / `argmin`.
//!
//! Every reduction comes in two forms: over all elements (`x.sum()`, a 0-d
//! result) and over chosen axes (`x.sum_axes(&[0, -1], keepdim)`, negative
//! axes counting from the end). An empty axes list reduces nothing: it is
//! not a shorthand for "all".
//!
//! The axes are resolved when the op is recorded and stored on the tape
//! ([`AuxRange`]), so each op value stays `Copy`. Backward rules reshape the
//! incoming gradient to the kept-axes shape (reduced axes of size 1), after
//! which it broadcasts against the input like any elementwise operand.
//!
//! Each op is one section: its `Var` methods (all elements, then chosen
//! axes), which call the forward kernel, then its backward rule, the rule
//! recorded on the tape (`_backward_on_tape`, for `Tape::grad`) and the
//! forward-mode rule (`_jvp`). This file holds the enum, its dispatch and
//! the moments (`sum`, `mean`, `var`); `extreme.rs` holds `max`, `min`,
//! `logsumexp`, `argmax` and `argmin`.

use super::Op;
use crate::tape::{AuxRange, BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::shape::resolve_axes;
use crate::tensor::{Float, Tensor};
use crate::tensor::{keepdim_shape, reduced_count};
use extreme::{
    extreme_backward, extreme_backward_on_tape, extreme_jvp, logsumexp_backward,
    logsumexp_backward_on_tape, logsumexp_jvp,
};
use smallvec::SmallVec;
use std::fmt;

mod extreme;

/// The reductions. `axes` are resolved (sorted, unique, non-negative) and
/// stored on the tape; `keepdim` keeps each reduced axis with size 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// `sum x` over `axes`.
    Sum {
        /// Where the reduced axes are stored on the tape.
        axes: AuxRange,
        /// Whether reduced axes stay, with size 1.
        keepdim: bool,
    },
    /// `sum x / N` over `axes`, `N` the number of elements combined.
    Mean {
        /// Where the reduced axes are stored on the tape.
        axes: AuxRange,
        /// Whether reduced axes stay, with size 1.
        keepdim: bool,
    },
    /// The largest element over `axes`.
    Max {
        /// Where the reduced axes are stored on the tape.
        axes: AuxRange,
        /// Whether reduced axes stay, with size 1.
        keepdim: bool,
    },
    /// The smallest element over `axes`.
    Min {
        /// Where the reduced axes are stored on the tape.
        axes: AuxRange,
        /// Whether reduced axes stay, with size 1.
        keepdim: bool,
    },
    /// `sum (x - mean)^2 / (N - correction)` over `axes`.
    Var {
        /// Where the reduced axes are stored on the tape.
        axes: AuxRange,
        /// Subtracted from `N` in the divisor (0: population, 1: sample).
        correction: usize,
        /// Whether reduced axes stay, with size 1.
        keepdim: bool,
    },
    /// `ln sum exp x` over `axes`, computed without overflow.
    LogSumExp {
        /// Where the reduced axes are stored on the tape.
        axes: AuxRange,
        /// Whether reduced axes stay, with size 1.
        keepdim: bool,
    },
    /// Index of the largest element along one axis (no gradient).
    ArgMax {
        /// The resolved axis.
        axis: usize,
        /// Whether the axis stays, with size 1.
        keepdim: bool,
    },
    /// Index of the smallest element along one axis (no gradient).
    ArgMin {
        /// The resolved axis.
        axis: usize,
        /// Whether the axis stays, with size 1.
        keepdim: bool,
    },
}

impl ReduceOp {
    /// The op's name in messages and printed tapes.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum { .. } => "sum",
            ReduceOp::Mean { .. } => "mean",
            ReduceOp::Max { .. } => "max",
            ReduceOp::Min { .. } => "min",
            ReduceOp::Var { .. } => "var",
            ReduceOp::LogSumExp { .. } => "logsumexp",
            ReduceOp::ArgMax { .. } => "argmax",
            ReduceOp::ArgMin { .. } => "argmin",
        }
    }

    /// Adds the input's share of the gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            ReduceOp::Sum { axes, .. } => sum_backward(ctx, axes),
            ReduceOp::Mean { axes, .. } => mean_backward(ctx, axes),
            ReduceOp::Max { axes, .. } | ReduceOp::Min { axes, .. } => {
                extreme_backward(ctx, axes, self.name())
            }
            ReduceOp::Var {
                axes, correction, ..
            } => var_backward(ctx, axes, correction),
            ReduceOp::LogSumExp { axes, .. } => logsumexp_backward(ctx, axes),
            // Recorded without gradient, so never reached.
            ReduceOp::ArgMax { .. } | ReduceOp::ArgMin { .. } => {}
        }
    }

    /// Records each input's share of the gradient on the tape, as vars
    /// (for [`Tape::grad`](crate::Tape::grad)); every reduction has one.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        match self {
            ReduceOp::Sum { axes, .. } => sum_backward_on_tape(ctx, axes),
            ReduceOp::Mean { axes, .. } => mean_backward_on_tape(ctx, axes),
            ReduceOp::Max { axes, .. } | ReduceOp::Min { axes, .. } => {
                extreme_backward_on_tape(ctx, axes)
            }
            ReduceOp::Var {
                axes, correction, ..
            } => var_backward_on_tape(ctx, axes, correction),
            ReduceOp::LogSumExp { axes, .. } => logsumexp_backward_on_tape(ctx, axes),
            // No gradient: nothing to record.
            ReduceOp::ArgMax { .. } | ReduceOp::ArgMin { .. } => {}
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]); every reduction has one.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        match self {
            ReduceOp::Sum { axes, keepdim } => sum_jvp(ctx, axes, keepdim),
            ReduceOp::Mean { axes, keepdim } => mean_jvp(ctx, axes, keepdim),
            ReduceOp::Max { axes, keepdim } | ReduceOp::Min { axes, keepdim } => {
                extreme_jvp(ctx, axes, keepdim)
            }
            ReduceOp::Var {
                axes,
                correction,
                keepdim,
            } => var_jvp(ctx, axes, correction, keepdim),
            ReduceOp::LogSumExp { axes, .. } => logsumexp_jvp(ctx, axes),
            // Piecewise constant indices: tangent 0.
            ReduceOp::ArgMax { .. } | ReduceOp::ArgMin { .. } => {
                Tensor::zeros(ctx.output().shape())
            }
        }
    }
}

impl fmt::Display for ReduceOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReduceOp::Var { correction, .. } => write!(f, "var[correction={correction}]"),
            ReduceOp::ArgMax { axis, .. } | ReduceOp::ArgMin { axis, .. } => {
                write!(f, "{}[axis={axis}]", self.name())
            }
            op => f.write_str(op.name()),
        }
    }
}

/// The axes `0, 1, ..., ndim - 1`: what the all-element forms reduce.
pub(super) fn all_axes(ndim: usize) -> SmallVec<[isize; 4]> {
    (0..ndim as isize).collect()
}

impl<'t, T: Float> Var<'t, T> {
    /// Resolves `axes` (panicking with `name` and the shape if one is out of
    /// range or repeated), stores them on the tape, and records the op
    /// `make` returns, computing it with `forward` over the resolved axes.
    fn reduce(
        self,
        name: &str,
        axes: &[isize],
        make: impl FnOnce(AuxRange) -> ReduceOp,
        forward: impl FnOnce(&Tensor<T>, &[usize]) -> Tensor<T>,
    ) -> Var<'t, T> {
        let axes = resolve_axes(name, axes, &self.shape());
        let op = make(self.tape.push_aux(&axes));
        self.tape
            .apply(Op::Reduce(op), &[self], |v| forward(v[0], &axes))
    }
}

// ---- sum ----------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Sum of all elements, as a 0-d var.
    ///
    /// Forward: `sum_i x_i`. Derivative: 1 for every element.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[1.0, 2.0], [3.0, 4.0]]);
    /// let s = x.sum();
    /// assert_eq!(s.item(), 10.0);
    /// assert_eq!(s.backward().wrt(x).to_vec(), vec![1.0; 4]);
    /// ```
    pub fn sum(self) -> Var<'t, T> {
        self.sum_axes(&all_axes(self.ndim()), false)
    }

    /// Sum over `axes` (negative counts from the end; `&[]` reduces nothing).
    ///
    /// Forward: `y = sum_{axes} x`. Derivative: 1, so each element gets the
    /// gradient of the sum it went into. Shape: the reduced axes are removed,
    /// or kept with size 1 if `keepdim`.
    ///
    /// # Panics
    /// If an axis is out of range or repeated (`sum: axis 2 is out of range
    /// for shape [2, 3]`).
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    /// assert_eq!(x.sum_axes(&[-1], false).value().to_vec(), vec![6.0, 15.0]);
    /// assert_eq!(x.sum_axes(&[0], true).shape().as_slice(), &[1, 3]);
    /// ```
    pub fn sum_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, T> {
        self.reduce(
            "sum",
            axes,
            |axes| ReduceOp::Sum { axes, keepdim },
            |x, axes| x.sum_over(axes, keepdim),
        )
    }
}

/// `sum`'s rule: every summed element moves the sum one for one, so each
/// gets the gradient of the sum it went into.
fn sum_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axes: AuxRange) {
    let (x, g, axes) = (ctx.input(0), ctx.grad_out(), ctx.aux(axes));
    ctx.add(0, g.expand_over(axes, x.shape()));
}

/// On the tape: `g`, with the reduced axes back (size 1), broadcast to `x`.
fn sum_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, axes: AuxRange) {
    let (dims, g, axes) = (ctx.input(0).shape(), ctx.grad_out(), ctx.aux(axes));
    ctx.add(
        0,
        g.reshape(&keepdim_shape(&dims, &axes)).broadcast_to(&dims),
    );
}

/// Forward mode: the sum is linear, so the tangent is the tangent's sum.
fn sum_jvp<T: Float>(ctx: &JvpCtx<'_, T>, axes: AuxRange, keepdim: bool) -> Tensor<T> {
    ctx.tangent_or_zeros(0).sum_over(ctx.aux(axes), keepdim)
}

// ---- mean ---------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Mean of all elements, as a 0-d var.
    ///
    /// Forward: `sum_i x_i / N`. Derivative: `1 / N` for every element.
    pub fn mean(self) -> Var<'t, T> {
        self.mean_axes(&all_axes(self.ndim()), false)
    }

    /// Mean over `axes`.
    ///
    /// Forward: `sum_{axes} x / N`, `N` the number of elements combined
    /// into each output (NaN if that is 0). Derivative: `1 / N`. Shape: as
    /// [`sum_axes`](Var::sum_axes).
    ///
    /// # Panics
    /// If an axis is out of range or repeated.
    pub fn mean_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, T> {
        self.reduce(
            "mean",
            axes,
            |axes| ReduceOp::Mean { axes, keepdim },
            |x, axes| x.mean_over(axes, keepdim),
        )
    }
}

/// `mean`'s rule: `d mean / dx_i = 1 / N`.
fn mean_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axes: AuxRange) {
    let (x, g, axes) = (ctx.input(0), ctx.grad_out(), ctx.aux(axes));
    let n = T::from_usize(reduced_count(x.shape(), axes));
    ctx.add(0, g.map(|g| g / n).expand_over(axes, x.shape()));
}

/// On the tape: as sum's, divided by `N`.
fn mean_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, axes: AuxRange) {
    let (dims, g, axes) = (ctx.input(0).shape(), ctx.grad_out(), ctx.aux(axes));
    let n = T::from_usize(reduced_count(&dims, &axes));
    let g = g.reshape(&keepdim_shape(&dims, &axes)).broadcast_to(&dims);
    ctx.add(0, g * (T::ONE / n));
}

/// Forward mode: the tangent's mean.
fn mean_jvp<T: Float>(ctx: &JvpCtx<'_, T>, axes: AuxRange, keepdim: bool) -> Tensor<T> {
    ctx.tangent_or_zeros(0).mean_over(ctx.aux(axes), keepdim)
}

// ---- var ----------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Variance of all elements, as a 0-d var; see [`var_axes`](Var::var_axes).
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![1.0, 2.0, 3.0, 4.0]);
    /// // mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5
    /// assert_eq!(x.var(0).item(), 1.25);
    /// assert!((x.var(1).item() - 5.0 / 3.0).abs() < 1e-15);
    /// ```
    pub fn var(self, correction: usize) -> Var<'t, T> {
        self.var_axes(&all_axes(self.ndim()), correction, false)
    }

    /// Variance over `axes`, as PyTorch's `var(dim, correction=...)`.
    ///
    /// Forward: `sum (x - mean)^2 / (N - correction)`, `N` the number of
    /// elements combined into each output; `correction` 0 gives the
    /// population variance, 1 the unbiased sample variance. Where
    /// `N <= correction` the divisor is 0 and the result is infinite or NaN.
    /// Derivative: `2 (x_i - mean) / (N - correction)`. Shape: as
    /// [`sum_axes`](Var::sum_axes).
    ///
    /// # Panics
    /// If an axis is out of range or repeated.
    pub fn var_axes(self, axes: &[isize], correction: usize, keepdim: bool) -> Var<'t, T> {
        self.reduce(
            "var",
            axes,
            |axes| ReduceOp::Var {
                axes,
                correction,
                keepdim,
            },
            |x, axes| x.var_over(axes, correction, keepdim),
        )
    }
}

/// `var`'s rule. With `m` the mean and `d = N - correction`,
/// `d/dx_i sum_j (x_j - m)^2 / d = 2 (x_i - m) / d - (2 / (N d)) sum_j (x_j - m)`,
/// and the last sum is 0. The deviations are those the forward pass used
/// (around a pivot), accurate when the mean is large.
fn var_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axes: AuxRange, correction: usize) {
    let (x, g, axes) = (ctx.input(0), ctx.grad_out(), ctx.aux(axes));
    let gk = g.reshape(&keepdim_shape(x.shape(), axes));
    let d = T::from_usize(reduced_count(x.shape(), axes).saturating_sub(correction));
    let dev = x.deviations(&x.centered_over(axes));
    let two = T::from_f64(2.0);
    ctx.add(0, &dev * &gk.map(|g| two * g / d));
}

/// On the tape: `2 (x - mean) g / d`, with the mean recorded as a var, so
/// that the second derivative sees `d(x_i - mean)/dx_j = [i = j] - 1 / N`.
fn var_backward_on_tape<T: Float>(
    ctx: &mut GraphCtx<'_, '_, T>,
    axes: AuxRange,
    correction: usize,
) {
    let (x, g, axes) = (ctx.input(0), ctx.grad_out(), ctx.aux(axes));
    let dims = x.shape();
    let d = T::from_usize(reduced_count(&dims, &axes).saturating_sub(correction));
    let signed: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
    let dev = x - x.mean_axes(&signed, true);
    let gk = g.reshape(&keepdim_shape(&dims, &axes));
    ctx.add(0, dev * (gk * (T::from_f64(2.0) / d)));
}

/// Forward mode: `sum 2 (x - mean) dx / d` (the mean's own tangent drops
/// out, as the deviations sum to 0).
fn var_jvp<T: Float>(
    ctx: &JvpCtx<'_, T>,
    axes: AuxRange,
    correction: usize,
    keepdim: bool,
) -> Tensor<T> {
    let (x, axes) = (ctx.input(0), ctx.aux(axes));
    let d = T::from_usize(reduced_count(x.shape(), axes).saturating_sub(correction));
    let dev = x.deviations(&x.centered_over(axes));
    let two = T::from_f64(2.0);
    (&dev * &ctx.tangent_or_zeros(0))
        .sum_over(axes, keepdim)
        .map(|s| two * s / d)
}
