//! The extremes of the reductions, hard and soft: `max`, `min`, their
//! smooth relative `logsumexp`, and the non-differentiable `argmax` /
//! `argmin` (see the family's tour in `mod.rs`).
//!
//! `max` and `min` pass the gradient to the elements equal to the extreme,
//! split evenly among ties; that choice is a constant of the graph, so their
//! recorded rule is a product with a constant weight and their second
//! derivative is 0, and in forward mode the tangent is the same weighted
//! sum of the input's tangent. `logsumexp`'s derivative is the softmax,
//! recorded from the output var so that it differentiates again.

use super::{Op, ReduceOp, all_axes};
use crate::tape::{AuxRange, BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::keepdim_shape;
use crate::tensor::shape::resolve_axis;
use crate::tensor::{Float, Tensor};

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
pub(super) fn extreme_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axes: AuxRange, name: &str) {
    let (x, out, g, axes) = (ctx.input(0), ctx.output(), ctx.grad_out(), ctx.aux(axes));
    let (hit, ties) = hits(x, out, axes, name);
    // The kept-axes shape (reduced axes of size 1) broadcasts against `x`.
    let gk = g.reshape(&keepdim_shape(x.shape(), axes));
    ctx.add(0, &hit * &(&gk / &ties));
}

/// Where `x` equals its extreme `out` over `axes` (1, else 0; `x`'s shape),
/// and how many elements tie for each extreme (the kept-axes shape).
fn hits<T: Float>(
    x: &Tensor<T>,
    out: &Tensor<T>,
    axes: &[usize],
    name: &str,
) -> (Tensor<T>, Tensor<T>) {
    let out_k = out.reshape(&keepdim_shape(x.shape(), axes));
    let hit = x.zip_map(&out_k, name, |x, m| if x == m { T::ONE } else { T::ZERO });
    let ties = hit.sum_over(axes, true);
    (hit, ties)
}

/// The weight each element of `x` has in its extreme `out` (over `axes`):
/// `1 / ties` at the elements equal to it, 0 elsewhere; `x`'s shape.
fn tie_weights<T: Float>(x: &Tensor<T>, out: &Tensor<T>, axes: &[usize]) -> Tensor<T> {
    let (hit, ties) = hits(x, out, axes, "max/min");
    &hit / &ties
}

/// On the tape: the same weights as the plain rule, read as a constant
/// (which element is the extreme does not change under a small move away
/// from ties), times the gradient: linear in `g`, 0 as a function of `x`.
pub(super) fn extreme_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, axes: AuxRange) {
    let (x, out, axes) = (ctx.input(0).value(), ctx.output().value(), ctx.aux(axes));
    let w = ctx.constant(tie_weights(&x, &out, &axes));
    let gk = ctx.grad_out().reshape(&keepdim_shape(x.shape(), &axes));
    ctx.add(0, gk * w);
}

/// Forward mode: the tangent of the extreme is the tangent of the element
/// that is the extreme (the mean of the tied elements' tangents on ties,
/// the transpose of the plain rule).
pub(super) fn extreme_jvp<T: Float>(
    ctx: &JvpCtx<'_, T>,
    axes: AuxRange,
    keepdim: bool,
) -> Tensor<T> {
    let axes = ctx.aux(axes);
    let w = tie_weights(ctx.input(0), ctx.output(), axes);
    (&w * &ctx.tangent_or_zeros(0)).sum_over(axes, keepdim)
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
pub(super) fn logsumexp_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axes: AuxRange) {
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

/// On the tape: `e^(x - out) / sum e^(x - out)` times the gradient, with
/// the output as a var, so that differentiating again gives the softmax's
/// Jacobian `p_i ([i = j] - p_j)`. As in the plain rule, dividing by the
/// sum (ideally one) removes the output's rounding. A group whose elements
/// are all -inf (output -inf) gets 0, not NaN: its output is replaced by 0
/// there (a constant choice), and its sum, 0, by 1.
pub(super) fn logsumexp_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, axes: AuxRange) {
    let (x, g, axes) = (ctx.input(0), ctx.grad_out(), ctx.aux(axes));
    let keep = keepdim_shape(&x.shape(), &axes);
    let mut out_k = ctx.output().reshape(&keep);
    let lse = out_k.value();
    let empty = lse.as_slice().contains(&T::NEG_INFINITY).then(|| {
        lse.map(|l| {
            if l == T::NEG_INFINITY {
                T::ONE
            } else {
                T::ZERO
            }
        })
    });
    if let Some(mask) = &empty {
        let zero = ctx.constant(Tensor::scalar(T::ZERO));
        out_k = ctx.constant(mask.clone()).where_(zero, out_k);
    }
    let signed: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
    let e = (x - out_k).exp();
    let mut total = e.sum_axes(&signed, true);
    if let Some(mask) = empty {
        total = total + ctx.constant(mask);
    }
    ctx.add(0, e * (g.reshape(&keep) / total));
}

/// Forward mode: `sum_i p_i dx_i`, `p` the softmax of the plain rule, in
/// the output's shape (with or without kept axes).
pub(super) fn logsumexp_jvp<T: Float>(ctx: &JvpCtx<'_, T>, axes: AuxRange) -> Tensor<T> {
    let (x, out, axes) = (ctx.input(0), ctx.output(), ctx.aux(axes));
    let out_k = out.reshape(&keepdim_shape(x.shape(), axes));
    let p = x.zip_map(&out_k, "logsumexp", |x, l| {
        if x == T::NEG_INFINITY {
            T::ZERO
        } else {
            (x - l).exp()
        }
    });
    let total = p.sum_over(axes, true);
    let dot = (&p * &ctx.tangent_or_zeros(0)).sum_over(axes, true);
    let dy = dot.zip_map(
        &total,
        "logsumexp",
        |d, s| if s > T::ZERO { d / s } else { d },
    );
    dy.reshape(out.shape())
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
