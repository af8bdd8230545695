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
//! axes), which call the forward kernel, then its backward rule.

use super::Op;
use crate::tape::{AuxRange, BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::shape::{resolve_axes, resolve_axis};
use crate::tensor::{Float, Tensor};
use crate::tensor::{keepdim_shape, reduced_count};
use smallvec::SmallVec;
use std::fmt;

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
    /// (for [`Tape::grad`](crate::Tape::grad)); an op without such a rule
    /// panics, naming itself.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        match self {
            ReduceOp::Sum { axes, .. } => sum_backward_on_tape(ctx, axes),
            ReduceOp::Mean { axes, .. } => mean_backward_on_tape(ctx, axes),
            ReduceOp::ArgMax { .. } | ReduceOp::ArgMin { .. } => {}
            _ => ctx.unsupported(),
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]); an op without one panics, naming itself.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        match self {
            ReduceOp::Sum { axes, keepdim } => sum_jvp(ctx, axes, keepdim),
            ReduceOp::Mean { axes, keepdim } => mean_jvp(ctx, axes, keepdim),
            _ => ctx.unsupported(),
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
fn all_axes(ndim: usize) -> SmallVec<[isize; 4]> {
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

// ---- max ----------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// The largest element, as a 0-d var.
    ///
    /// Derivative: 1 at the maximum; when several elements tie for it, the
    /// gradient is split evenly among them (each gets `1 / ties`), which is
    /// PyTorch's rule for `max()` without a dimension.
    ///
    /// # Panics
    /// If the var has no elements.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![1.0, 3.0, 3.0, 2.0]);
    /// let g = x.max().backward();
    /// assert_eq!(g.wrt(x).to_vec(), vec![0.0, 0.5, 0.5, 0.0]);
    /// ```
    pub fn max(self) -> Var<'t, T> {
        self.max_axes(&all_axes(self.ndim()), false)
    }

    /// The largest element over `axes`.
    ///
    /// Derivative: 1 at the position of the maximum, 0 elsewhere; ties in
    /// one output split its gradient evenly. Shape: as
    /// [`sum_axes`](Var::sum_axes).
    ///
    /// # Panics
    /// If an axis is out of range or repeated, or the var has no elements.
    pub fn max_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, T> {
        self.reduce(
            "max",
            axes,
            |axes| ReduceOp::Max { axes, keepdim },
            |x, axes| x.max_over(axes, keepdim),
        )
    }
}

/// The rule of `max` and `min` (`name`): the gradient goes to every
/// element equal to the extreme, split evenly among ties (as PyTorch's max
/// without `dim`), which is the average of the one-hot rules of the tied
/// picks.
fn extreme_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axes: AuxRange, name: &str) {
    let (x, out, g, axes) = (ctx.input(0), ctx.output(), ctx.grad_out(), ctx.aux(axes));
    // The kept-axes shape (reduced axes of size 1) broadcasts against `x`.
    let keep = keepdim_shape(x.shape(), axes);
    let (gk, out_k) = (g.reshape(&keep), out.reshape(&keep));
    let hit = x.zip_map(&out_k, name, |x, m| if x == m { T::ONE } else { T::ZERO });
    let ties = hit.sum_over(axes, true);
    ctx.add(0, &hit * &(&gk / &ties));
}

// ---- min ----------------------------------------------------------------

// Its rule is max's, `extreme_backward`.
impl<'t, T: Float> Var<'t, T> {
    /// The smallest element, as a 0-d var; ties split the gradient evenly,
    /// as for [`max`](Var::max).
    ///
    /// # Panics
    /// If the var has no elements.
    pub fn min(self) -> Var<'t, T> {
        self.min_axes(&all_axes(self.ndim()), false)
    }

    /// The smallest element over `axes`; ties split the gradient evenly.
    /// Shape: as [`sum_axes`](Var::sum_axes).
    ///
    /// # Panics
    /// If an axis is out of range or repeated, or the var has no elements.
    pub fn min_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, T> {
        self.reduce(
            "min",
            axes,
            |axes| ReduceOp::Min { axes, keepdim },
            |x, axes| x.min_over(axes, keepdim),
        )
    }
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

// ---- logsumexp ----------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// `ln sum exp x` over all elements, as a 0-d var; see
    /// [`logsumexp_axes`](Var::logsumexp_axes).
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![1000.0, 1000.0]); // e^1000 overflows; this does not
    /// let y = x.logsumexp();
    /// assert!((y.item() - (1000.0 + 2f64.ln())).abs() < 1e-12);
    /// let g = y.backward().wrt(x).to_vec(); // softmax: [1/2, 1/2]
    /// assert!(g.iter().all(|g| (g - 0.5).abs() < 1e-12));
    /// ```
    pub fn logsumexp(self) -> Var<'t, T> {
        self.logsumexp_axes(&all_axes(self.ndim()), false)
    }

    /// `ln sum exp x` over `axes`, computed as `m + ln sum exp(x - m)` with
    /// `m` the maximum, so large inputs do not overflow.
    ///
    /// Derivative: `e^(x_i - y)`, the softmax of `x` over the reduced axes.
    /// Shape: as [`sum_axes`](Var::sum_axes).
    ///
    /// # Panics
    /// If an axis is out of range or repeated.
    pub fn logsumexp_axes(self, axes: &[isize], keepdim: bool) -> Var<'t, T> {
        self.reduce(
            "logsumexp",
            axes,
            |axes| ReduceOp::LogSumExp { axes, keepdim },
            |x, axes| x.logsumexp_over(axes, keepdim),
        )
    }
}

/// `logsumexp`'s rule: `d/dx_i ln sum_j e^x_j = e^x_i / sum_j e^x_j =
/// e^(x_i - out)`, the softmax, read off the output so nothing overflows. A
/// -inf input gets 0 even where the output is -inf too.
///
/// The output is rounded to its own magnitude: near 1e4 in f32 it is off by
/// up to 5e-4, which would scale every e^(x_i - out) by up to 1 +- 5e-4.
/// That error is one factor per output (each x_i - out is exact there,
/// Sterbenz), so dividing by the sum of the e^(x_i - out), ideally 1,
/// removes it: one more pass, in a backward rule that is not a hot one.
fn logsumexp_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axes: AuxRange) {
    let (x, out, g, axes) = (ctx.input(0), ctx.output(), ctx.grad_out(), ctx.aux(axes));
    let keep = keepdim_shape(x.shape(), axes);
    let (gk, out_k) = (g.reshape(&keep), out.reshape(&keep));
    let p = x.zip_map(&out_k, "logsumexp", |x, l| {
        if x == T::NEG_INFINITY {
            T::ZERO
        } else {
            (x - l).exp()
        }
    });
    let total = p.sum_over(axes, true);
    // An all -inf group has p = 0 and total 0: it keeps 0.
    let scale = gk.zip_map(
        &total,
        "logsumexp",
        |g, s| {
            if s > T::ZERO { g / s } else { g }
        },
    );
    ctx.add(0, &p * &scale);
}

// ---- argmax, argmin -----------------------------------------------------

// No rule: the indices carry no gradient.
impl<'t, T: Float> Var<'t, T> {
    /// Index of the largest element along `axis` (the first on ties), as a
    /// float. The result carries no gradient.
    ///
    /// Shape: `axis` removed, or kept with size 1 if `keepdim`.
    ///
    /// # Panics
    /// If the axis is out of range or has size 0.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]);
    /// let i = x.argmax(-1, false);
    /// assert_eq!(i.value().to_vec(), vec![1.0, 0.0]);
    /// assert!(!i.requires_grad());
    /// ```
    pub fn argmax(self, axis: isize, keepdim: bool) -> Var<'t, T> {
        let axis = resolve_axis("argmax", axis, &self.shape());
        self.record_arg(ReduceOp::ArgMax { axis, keepdim }, |x| {
            x.argmax_axis(axis as isize, keepdim)
        })
    }

    /// Index of the smallest element along `axis` (the first on ties), as a
    /// float. The result carries no gradient.
    ///
    /// # Panics
    /// If the axis is out of range or has size 0.
    pub fn argmin(self, axis: isize, keepdim: bool) -> Var<'t, T> {
        let axis = resolve_axis("argmin", axis, &self.shape());
        self.record_arg(ReduceOp::ArgMin { axis, keepdim }, |x| {
            x.argmin_axis(axis as isize, keepdim)
        })
    }

    /// Records an index op, computed by `forward`, without gradient.
    fn record_arg(self, op: ReduceOp, forward: impl FnOnce(&Tensor<T>) -> Tensor<T>) -> Var<'t, T> {
        self.tape
            .apply(Op::Reduce(op), &[self], |v| forward(v[0]))
            .without_grad()
    }
}
