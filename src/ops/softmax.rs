//! Softmax, log-softmax and the causal softmax of attention scores.
//!
//! Each is one fused node, with a forward kernel from `tensor/softmax.rs`
//! and a backward rule written for the whole op, which is both faster and
//! more stable than chaining primitives (a softmax built as
//! `exp(x) / sum(exp(x))` overflows in f32 once a logit passes 88; this one
//! subtracts the maximum first and never does). Each op is one section:
//! its `Var` method, then its rules (backward, on the tape, forward mode);
//! all rules read only the output.
//!
//! The recorded rules (for [`Tape::grad`](crate::Tape::grad)) are the plain
//! ones written with differentiable vars, `y` being the op's own output, so
//! a second derivative flows through the softmax again; the forward-mode
//! rules reuse the backward kernels, softmax's Jacobian being symmetric.

use super::Op;
use crate::tape::{BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::shape::resolve_axis;
use crate::tensor::softmax as kernels;
use crate::tensor::{Float, Tensor};
use std::fmt;

/// The softmax ops. The axis is resolved and stored as a small integer, so
/// the op stays `Copy` and small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftmaxOp {
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
}

impl SoftmaxOp {
    /// Adds the input's share of the gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            SoftmaxOp::Softmax { axis } => softmax_backward(ctx, axis),
            SoftmaxOp::LogSoftmax { axis } => log_softmax_backward(ctx, axis),
            SoftmaxOp::CausalSoftmax => causal_softmax_backward(ctx),
        }
    }

    /// Records each input's share of the gradient on the tape, as vars
    /// (for [`Tape::grad`](crate::Tape::grad)); an op without such a rule
    /// panics, naming itself.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        match self {
            SoftmaxOp::Softmax { axis } => softmax_backward_on_tape(ctx, axis),
            SoftmaxOp::LogSoftmax { axis } => log_softmax_backward_on_tape(ctx, axis),
            SoftmaxOp::CausalSoftmax => causal_softmax_backward_on_tape(ctx),
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]); an op without one panics, naming itself.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        match self {
            SoftmaxOp::Softmax { axis } => softmax_jvp(ctx, axis),
            SoftmaxOp::LogSoftmax { axis } => log_softmax_jvp(ctx, axis),
            SoftmaxOp::CausalSoftmax => causal_softmax_jvp(ctx),
        }
    }
}

impl fmt::Display for SoftmaxOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SoftmaxOp::Softmax { axis } => write!(f, "softmax[axis={axis}]"),
            SoftmaxOp::LogSoftmax { axis } => write!(f, "log_softmax[axis={axis}]"),
            SoftmaxOp::CausalSoftmax => f.write_str("causal_softmax"),
        }
    }
}

/// `v` summed along `axis`, kept with size 1 (as a var, so that a rule
/// using it can be differentiated again); a 0-d `v` is its own sum.
fn sum_along<'t, T: Float>(v: Var<'t, T>, axis: u32) -> Var<'t, T> {
    if v.ndim() == 0 {
        v
    } else {
        v.sum_axes(&[axis as isize], true)
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

// ---- softmax ------------------------------------------------------------

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
            .apply(Op::Softmax(SoftmaxOp::Softmax { axis }), &[self], |v| {
                kernels::softmax(v[0], axis as usize, false)
            })
    }
}

/// `softmax`'s rule: `dx = y * (g - sum(g * y))` along the axis.
fn softmax_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axis: u32) {
    let dx = kernels::softmax_backward(ctx.output(), ctx.grad_out(), axis as usize, false);
    ctx.add(0, dx);
}

/// On the tape: the same `y * (g - sum(g * y))`, with `y` the op's output
/// (a var, so the rule's own derivative flows through softmax again).
fn softmax_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, axis: u32) {
    let (y, g) = (ctx.output(), ctx.grad_out());
    ctx.add(0, y * (g - sum_along(g * y, axis)));
}

/// Forward mode: softmax's Jacobian `diag(y) - y y^T` is symmetric, so the
/// tangent is the backward rule applied to the input's tangent,
/// `y * (t - sum(t * y))`.
fn softmax_jvp<T: Float>(ctx: &JvpCtx<'_, T>, axis: u32) -> Tensor<T> {
    let t = ctx.tangent_or_zeros(0);
    kernels::softmax_backward(ctx.output(), &t, axis as usize, false)
}

// ---- log_softmax --------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
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
            .apply(Op::Softmax(SoftmaxOp::LogSoftmax { axis }), &[self], |v| {
                kernels::softmax(v[0], axis as usize, true)
            })
    }
}

/// `log_softmax`'s rule: `dx = g - softmax(x) * sum(g)`, with `softmax(x) = e^y`.
fn log_softmax_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axis: u32) {
    let dx = kernels::softmax_backward(ctx.output(), ctx.grad_out(), axis as usize, true);
    ctx.add(0, dx);
}

/// On the tape: `g - exp(y) * sum(g)`, with `y` the op's output.
fn log_softmax_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, axis: u32) {
    let (y, g) = (ctx.output(), ctx.grad_out());
    ctx.add(0, g - y.exp() * sum_along(g, axis));
}

/// Forward mode: the Jacobian is `I - 1 p^T` (`p = exp(y)`, rows along the
/// axis), so the tangent is `t - sum(p * t)`.
fn log_softmax_jvp<T: Float>(ctx: &JvpCtx<'_, T>, axis: u32) -> Tensor<T> {
    let t = ctx.tangent_or_zeros(0);
    let pt = &ctx.output().map(T::exp) * &t;
    if t.ndim() == 0 {
        return &t - &pt;
    }
    &t - &pt.sum_over(&[axis as usize], true)
}

// ---- causal_softmax -----------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
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
        self.tape
            .apply(Op::Softmax(SoftmaxOp::CausalSoftmax), &[self], |v| {
                kernels::causal_softmax(v[0])
            })
    }
}

/// `causal_softmax`'s rule: softmax's; the hidden keys have `y = 0`, hence
/// `dx = 0` there.
fn causal_softmax_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>) {
    let dx = kernels::causal_softmax_backward(ctx.output(), ctx.grad_out());
    ctx.add(0, dx);
}

/// On the tape: softmax's rule over the last axis; the hidden keys have
/// `y = 0`, so they get 0 and their tangent never reaches the sum.
fn causal_softmax_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>) {
    let (y, g) = (ctx.output(), ctx.grad_out());
    let last = (y.ndim() - 1) as u32;
    ctx.add(0, y * (g - sum_along(g * y, last)));
}

/// Forward mode: as softmax's (the Jacobian is symmetric, and 0 in the
/// rows and columns of hidden keys).
fn causal_softmax_jvp<T: Float>(ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    kernels::causal_softmax_backward(ctx.output(), &ctx.tangent_or_zeros(0))
}
