//! Fused, numerically stable losses, each reduced to its mean (a 0-d var).
//!
//! A loss built from primitives would store every intermediate and, for
//! cross-entropy, overflow in `exp` (in f32, once a logit passes 88); the fused forms
//! here compute the loss in one pass with the stable formula and have a
//! one-line backward rule.
//!
//! Each loss is one section: its `Var` method, then its rules: backward,
//! on the tape (the same formula with vars, for
//! [`Tape::grad`](crate::Tape::grad)), and forward mode. A loss is a
//! scalar, so its tangent is its gradient dotted with the inputs' tangents:
//! each forward-mode rule is its backward formula (with `g = 1`) and a dot
//! product.

use super::Op;
use super::unary::UnaryOp;
use crate::tape::{AuxRange, BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::shape::assert_same_shape;
use crate::tensor::softmax as kernels;
use crate::tensor::{Float, Tensor};
use std::fmt;

/// The fused losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossOp {
    /// `cross_entropy`: input `[logits]`; the class indices are on the
    /// tape's side buffer.
    CrossEntropy {
        /// Where the targets are stored.
        targets: AuxRange,
    },
    /// `mse_loss`: inputs `[x, target]`.
    Mse,
    /// `binary_cross_entropy_with_logits`: inputs `[logits, target]`.
    BceWithLogits,
}

impl LossOp {
    /// Adds each input's share of the gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            LossOp::CrossEntropy { targets } => cross_entropy_backward(ctx, targets),
            LossOp::Mse => mse_loss_backward(ctx),
            LossOp::BceWithLogits => bce_with_logits_backward(ctx),
        }
    }

    /// Records each input's share of the gradient on the tape, as vars
    /// (for [`Tape::grad`](crate::Tape::grad)); an op without such a rule
    /// panics, naming itself.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        match self {
            LossOp::CrossEntropy { targets } => cross_entropy_backward_on_tape(ctx, targets),
            LossOp::Mse => mse_loss_backward_on_tape(ctx),
            LossOp::BceWithLogits => bce_with_logits_backward_on_tape(ctx),
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]); an op without one panics, naming itself.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        match self {
            LossOp::CrossEntropy { targets } => cross_entropy_jvp(ctx, targets),
            LossOp::Mse => mse_loss_jvp(ctx),
            LossOp::BceWithLogits => bce_with_logits_jvp(ctx),
        }
    }
}

impl fmt::Display for LossOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LossOp::CrossEntropy { .. } => "cross_entropy",
            LossOp::Mse => "mse_loss",
            LossOp::BceWithLogits => "binary_cross_entropy_with_logits",
        })
    }
}

/// `<a, b>`, the sum of the elementwise product, as a 0-d tensor.
fn dot<T: Float>(a: &Tensor<T>, b: &Tensor<T>) -> Tensor<T> {
    (a * b).sum_all()
}

/// The mean of `f(x, t)` over two same-shape tensors, as a 0-d tensor.
fn mean_of<T: Float>(
    x: &Tensor<T>,
    t: &Tensor<T>,
    op: &str,
    f: impl Fn(T, T) -> T + Sync + Copy,
) -> Tensor<T> {
    let total = x.zip_map(t, op, f).sum_all().item();
    Tensor::scalar(total / T::from_usize(x.numel()))
}

// ---- cross_entropy ------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Cross-entropy of `self` (logits `[N, C]`) against class indices
    /// `targets` (`N` of them, each below `C`), averaged over the batch:
    /// `mean_i (ln sum_j e^(x_ij) - x_i,t_i)`, i.e. the negative
    /// log-likelihood of `log_softmax(x)`, computed in one stable pass
    /// (the row maximum is subtracted first). Output: a 0-d var.
    ///
    /// Derivative: `(softmax(x) - onehot(t)) / N`.
    ///
    /// # Panics
    /// If the logits are not 2-d, `targets.len() != N`, or a target is `>= C`.
    ///
    /// ```
    /// # use tapegrad::{Tape, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let logits = tape.var(Tensor::zeros(&[2, 4]));
    /// // uniform logits: every class has probability 1/4, so the loss is ln 4
    /// let loss = logits.cross_entropy(&[0, 3]);
    /// assert!((loss.item() - 4f64.ln()).abs() < 1e-12);
    /// ```
    pub fn cross_entropy(self, targets: &[usize]) -> Var<'t, T> {
        let xs = self.shape();
        assert!(
            xs.len() == 2,
            "cross_entropy: logits must be [N, C]: got {xs:?}"
        );
        assert!(
            targets.len() == xs[0],
            "cross_entropy: {} targets for logits of shape {xs:?}",
            targets.len()
        );
        if let Some(&t) = targets.iter().find(|&&t| t >= xs[1]) {
            panic!(
                "cross_entropy: target {t} is out of range for logits of shape {xs:?} (classes 0..{})",
                xs[1]
            );
        }
        let range = self.tape.push_aux(targets);
        self.tape.apply(
            Op::Loss(LossOp::CrossEntropy { targets: range }),
            &[self],
            |v| {
                let mut loss = Tensor::pooled_zeros(Default::default());
                loss.as_mut_slice()[0] = kernels::cross_entropy(v[0].as_slice(), xs[1], targets);
                loss
            },
        )
    }
}

/// `cross_entropy`'s rule: `dx = g (softmax(x) - onehot(t)) / N`.
fn cross_entropy_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, targets: AuxRange) {
    let g = ctx.grad_out().item();
    let (x, t) = (ctx.input(0), ctx.aux(targets));
    let mut dx = Tensor::pooled_zeros(x.shape().into());
    kernels::cross_entropy_backward(x.as_slice(), x.shape()[1], t, g, dx.as_mut_slice());
    ctx.add(0, dx);
}

/// On the tape: `(softmax(x) - onehot(t)) * g / N`, the one-hot rows a
/// constant.
fn cross_entropy_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, targets: AuxRange) {
    let (x, g, t) = (ctx.input(0), ctx.grad_out(), ctx.aux(targets));
    let dims = x.shape();
    let mut onehot = Tensor::zeros(&dims);
    for (i, &c) in t.iter().enumerate() {
        onehot.set(&[i, c], T::ONE);
    }
    let onehot = ctx.constant(onehot);
    ctx.add(
        0,
        (x.softmax(1) - onehot) * (g * (T::ONE / T::from_usize(dims[0]))),
    );
}

/// Forward mode: `<(softmax(x) - onehot(t)) / N, dx>`.
fn cross_entropy_jvp<T: Float>(ctx: &JvpCtx<'_, T>, targets: AuxRange) -> Tensor<T> {
    let (x, t) = (ctx.input(0), ctx.aux(targets));
    let mut grad = Tensor::zeros(x.shape());
    kernels::cross_entropy_backward(x.as_slice(), x.shape()[1], t, T::ONE, grad.as_mut_slice());
    dot(&grad, &ctx.tangent_or_zeros(0))
}

// ---- mse_loss -----------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Mean squared error between `self` and `target` (same shape):
    /// `mean((x - t)^2)`. Output: a 0-d var.
    ///
    /// Derivatives: `2 (x - t) / n` for `x` and the negation for `t` (`n`
    /// the element count), so a var target also gets its gradient.
    ///
    /// # Panics
    /// If the shapes differ.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![1.0, 2.0]);
    /// let t = tape.constant(tensor![0.0, 4.0]);
    /// let loss = x.mse_loss(t); // (1 + 4) / 2
    /// assert_eq!(loss.item(), 2.5);
    /// assert_eq!(loss.backward().wrt(x).to_vec(), vec![1.0, -2.0]);
    /// ```
    pub fn mse_loss(self, target: Var<'t, T>) -> Var<'t, T> {
        assert_same_shape("mse_loss", &self.shape(), &target.shape());
        self.tape
            .apply(Op::Loss(LossOp::Mse), &[self, target], |v| {
                mean_of(v[0], v[1], "mse_loss", |x, t| (x - t) * (x - t))
            })
    }
}

/// `mse_loss`'s rule: `dx = 2 g (x - t) / n`, `dt = -dx`.
fn mse_loss_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>) {
    let g = ctx.grad_out().item();
    let (x, t) = (ctx.input(0), ctx.input(1));
    let k = T::from_f64(2.0) * g / T::from_usize(x.numel());
    let dx = x.zip_map(t, "mse_loss", |x, t| k * (x - t));
    if ctx.needs(1) {
        ctx.add(1, -&dx);
    }
    ctx.add(0, dx);
}

/// On the tape: `dx = (x - t) * 2 g / n`, `dt = -dx`.
fn mse_loss_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>) {
    let (x, t, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    let k = T::from_f64(2.0) / T::from_usize(x.shape().iter().product());
    let dx = (x - t) * (g * k);
    if ctx.needs(1) {
        ctx.add(1, -dx);
    }
    ctx.add(0, dx);
}

/// Forward mode: `<2 (x - t) / n, dx - dt>`.
fn mse_loss_jvp<T: Float>(ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let (x, t) = (ctx.input(0), ctx.input(1));
    let k = T::from_f64(2.0) / T::from_usize(x.numel());
    let grad = x.zip_map(t, "mse_loss", |x, t| k * (x - t));
    let dir = match (ctx.tangent(0), ctx.tangent(1)) {
        (Some(a), Some(b)) => a - b,
        (Some(a), None) => a.clone(),
        (None, Some(b)) => -b,
        (None, None) => return Tensor::zeros(&[]),
    };
    dot(&grad, &dir)
}

// ---- binary_cross_entropy_with_logits -----------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Binary cross-entropy of logits `self` against targets in `[0, 1]`
    /// (same shape), averaged: `mean(-t ln s(x) - (1 - t) ln(1 - s(x)))`
    /// with `s` the sigmoid, computed in the stable form
    /// `max(x, 0) - x t + ln(1 + e^-|x|)`, which never overflows (the first
    /// two terms taken as `x (1 - t)` for `x > 0`, else `-x t`, which does
    /// not cancel for large `x`).
    /// Output: a 0-d var.
    ///
    /// Derivatives: `(sigmoid(x) - t) / n` for the logits and `-x / n` for
    /// the target.
    ///
    /// # Panics
    /// If the shapes differ.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![0.0]);
    /// let t = tape.constant(tensor![1.0]);
    /// // sigmoid(0) = 1/2, so the loss is -ln(1/2) = ln 2
    /// let loss = x.binary_cross_entropy_with_logits(t);
    /// assert!((loss.item() - 2f64.ln()).abs() < 1e-15);
    /// ```
    pub fn binary_cross_entropy_with_logits(self, target: Var<'t, T>) -> Var<'t, T> {
        let op = "binary_cross_entropy_with_logits";
        assert_same_shape(op, &self.shape(), &target.shape());
        self.tape
            .apply(Op::Loss(LossOp::BceWithLogits), &[self, target], |v| {
                // max(x, 0) - x t, written as x (1 - t) or -x t: for a large
                // x and t near 1, `x - x t` would cancel the digits of x t
                // (x = 1e4, t = 0.999 in f32: a loss of 10 off by 5e-4).
                mean_of(v[0], v[1], op, |x, t| {
                    let linear = if x > T::ZERO {
                        x * (T::ONE - t)
                    } else {
                        -x * t
                    };
                    linear + (-x.abs()).exp().ln_1p()
                })
            })
    }
}

/// `binary_cross_entropy_with_logits`' rule: `dx = g (sigmoid(x) - t) / n`,
/// `dt = -g x / n`.
fn bce_with_logits_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>) {
    let g = ctx.grad_out().item();
    let (x, t) = (ctx.input(0), ctx.input(1));
    let k = g / T::from_usize(x.numel());
    if ctx.needs(0) {
        let s = UnaryOp::Sigmoid.forward(x);
        ctx.add(0, s.zip_map(t, "bce_with_logits", |s, t| k * (s - t)));
    }
    if ctx.needs(1) {
        ctx.add(1, x * -k);
    }
}

/// On the tape: `dx = (sigmoid(x) - t) * g / n`, `dt = -x * g / n`.
fn bce_with_logits_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>) {
    let (x, t, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    let k = g * (T::ONE / T::from_usize(x.shape().iter().product()));
    if ctx.needs(0) {
        ctx.add(0, (x.sigmoid() - t) * k);
    }
    if ctx.needs(1) {
        ctx.add(1, -(x * k));
    }
}

/// Forward mode: `<(sigmoid(x) - t) / n, dx> - <x / n, dt>`.
fn bce_with_logits_jvp<T: Float>(ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let (x, t) = (ctx.input(0), ctx.input(1));
    let k = T::ONE / T::from_usize(x.numel());
    let mut total = T::ZERO;
    if let Some(tx) = ctx.tangent(0) {
        let s = UnaryOp::Sigmoid.forward(x);
        let grad = s.zip_map(t, "bce_with_logits", |s, t| k * (s - t));
        total += dot(&grad, tx).item();
    }
    if let Some(tt) = ctx.tangent(1) {
        total -= dot(x, tt).item() * k;
    }
    Tensor::scalar(total)
}
