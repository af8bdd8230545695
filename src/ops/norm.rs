//! Layer normalisation and batch normalisation (training mode), each one
//! fused node with its own backward rule.
//!
//! Both normalise groups of elements, `xhat = (x - mean) / sqrt(var + eps)`
//! with the biased variance (as PyTorch), then apply an optional affine map
//! `y = xhat * weight + bias`. They differ only in the groups (a row of the
//! trailing axes, or a channel across batch and space) and in how the
//! affine parameters broadcast; the kernels are in `tensor/norm.rs`. Each
//! op is one section: its `Var` method, then its rules: backward, on the
//! tape, forward mode.
//!
//! The recorded rules (for [`Tape::grad`](crate::Tape::grad)) recompute
//! `xhat` and `rstd` from `x` with differentiable ops (mean, square,
//! `powf(-0.5)`) and write the backward formula with them, so that its own
//! derivative reaches `x` through the statistics. The forward-mode rules
//! use that normalising is a map with a symmetric Jacobian,
//! `rstd (I - 1 1^T / n - xhat xhat^T / n)` per group: the tangent of
//! `xhat` is the backward kernel applied to the input's tangent.

use super::Op;
use crate::tape::{BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::norm::{self as kernels, Groups};
use crate::tensor::{Float, Shape, Tensor};
use std::fmt;

/// The normalisation ops. `eps` is kept as `f64` and the axis count as a
/// small integer, so the op stays `Copy` and small.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormOp {
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

impl NormOp {
    /// Adds each input's share of the gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            NormOp::LayerNorm {
                dims,
                eps,
                weight,
                bias,
            } => layer_norm_backward(dims as usize, eps, weight, bias, ctx),
            NormOp::BatchNorm { eps, weight, bias } => batch_norm_backward(eps, weight, bias, ctx),
        }
    }

    /// Records each input's share of the gradient on the tape, as vars
    /// (for [`Tape::grad`](crate::Tape::grad)); an op without such a rule
    /// panics, naming itself.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        match self {
            NormOp::LayerNorm {
                dims,
                eps,
                weight,
                bias,
            } => layer_norm_backward_on_tape(dims as usize, eps, weight, bias, ctx),
            NormOp::BatchNorm { eps, weight, bias } => {
                batch_norm_backward_on_tape(eps, weight, bias, ctx)
            }
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]); an op without one panics, naming itself.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        match self {
            NormOp::LayerNorm {
                dims,
                eps,
                weight,
                bias,
            } => layer_norm_jvp(dims as usize, eps, weight, bias, ctx),
            NormOp::BatchNorm { eps, weight, bias } => batch_norm_jvp(eps, weight, bias, ctx),
        }
    }
}

impl fmt::Display for NormOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NormOp::LayerNorm { dims, eps, .. } => write!(f, "layer_norm[dims={dims}, eps={eps}]"),
            NormOp::BatchNorm { eps, .. } => write!(f, "batch_norm[eps={eps}]"),
        }
    }
}

/// `(xhat, rstd)` of `x` over `axes` as vars: `xhat = (x - mean) * rstd`,
/// `rstd = (var + eps)^(-1/2)` with the biased variance, both kept with
/// size-1 reduced axes (`rstd`) or `x`'s shape (`xhat`).
fn normalized_on_tape<'t, T: Float>(
    x: Var<'t, T>,
    axes: &[isize],
    eps: f64,
) -> (Var<'t, T>, Var<'t, T>) {
    let xc = x - x.mean_axes(axes, true);
    let rstd = (xc.square().mean_axes(axes, true) + T::from_f64(eps)).powf(-0.5);
    (xc * rstd, rstd)
}

/// The recorded input gradient of a normalisation from `d`, the gradient
/// with respect to `xhat`: `(d - mean(d) - xhat * mean(d * xhat)) * rstd`,
/// means over `axes`.
fn normalize_backward_on_tape<'t, T: Float>(
    d: Var<'t, T>,
    xhat: Var<'t, T>,
    rstd: Var<'t, T>,
    axes: &[isize],
) -> Var<'t, T> {
    (d - d.mean_axes(axes, true) - xhat * (d * xhat).mean_axes(axes, true)) * rstd
}

/// The tangent of `xhat * w + b` from the tangent of `xhat` and the
/// parameters' tangents (`JvpCtx` inputs `1` and `1 + weight`), the
/// parameters viewed as `param_shape`.
fn affine_jvp<T: Float>(
    ctx: &JvpCtx<'_, T>,
    xhat: &Tensor<T>,
    txhat: Option<Tensor<T>>,
    (weight, bias): (bool, bool),
    param_shape: &[usize],
) -> Tensor<T> {
    let mut t = match (txhat, weight) {
        (Some(tx), true) => &tx * &ctx.input(1).reshape(param_shape),
        (Some(tx), false) => tx,
        (None, _) => Tensor::zeros(xhat.shape()),
    };
    if weight && let Some(tw) = ctx.tangent(1) {
        t.add_assign(&(xhat * &tw.reshape(param_shape)));
    }
    if bias && let Some(tb) = ctx.tangent(1 + weight as usize) {
        t = &t + &tb.reshape(param_shape);
    }
    t
}

/// Checks an affine parameter's shape and appends it to the inputs.
fn push_param<'t, T: Float>(
    op: &str,
    what: &str,
    p: Option<Var<'t, T>>,
    want: &[usize],
    inputs: &mut Vec<Var<'t, T>>,
) {
    if let Some(p) = p {
        let s = p.shape();
        assert!(
            s.as_slice() == want,
            "{op}: {what} must have shape {want:?}: got {s:?}"
        );
        inputs.push(p);
    }
}

/// The weight and bias among an op's input values `[x, weight?, bias?]`.
fn params<'a, T: Float>(
    v: &[&'a Tensor<T>],
    weight: bool,
    bias: bool,
) -> (Option<&'a Tensor<T>>, Option<&'a Tensor<T>>) {
    let w = weight.then(|| v[1]);
    let b = bias.then(|| v[1 + weight as usize]);
    (w, b)
}

// ---- layer_norm ---------------------------------------------------------

/// The layer-norm groups of `x`: rows of the trailing `dims` axes.
fn layer_groups(x: &[usize], dims: usize) -> Groups {
    let k = x.len() - dims;
    Groups {
        outer: 1,
        groups: x[..k].iter().product(),
        inner: x[k..].iter().product(),
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Layer normalisation over the trailing axes `normalized_shape` (which
    /// must equal the input's last axes), as PyTorch's `layer_norm`:
    /// `y = (x - mean) / sqrt(var + eps) * weight + bias`, with the mean and
    /// biased variance over those axes, and `weight` and `bias` (each
    /// optional) of shape `normalized_shape`.
    ///
    /// Derivatives, with `xhat` the normalised input and `d = g * weight`:
    /// `dx = (d - mean(d) - xhat * mean(d * xhat)) / sqrt(var + eps)` (means
    /// over the normalised axes), `dweight = sum(g * xhat)` and
    /// `dbias = sum(g)` over the leading axes. Shape: unchanged.
    ///
    /// # Panics
    /// If `normalized_shape` is empty or is not the input's trailing axes,
    /// or a parameter's shape is not `normalized_shape`.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[1.0, 3.0], [5.0, 5.0]]);
    /// let y = x.layer_norm(&[2], None, None, 0.0).value();
    /// // row 0: mean 2, variance 1 -> [-1, 1]
    /// assert_eq!(y.get(&[0, 0]), -1.0);
    /// assert_eq!(y.get(&[0, 1]), 1.0);
    /// ```
    pub fn layer_norm(
        self,
        normalized_shape: &[usize],
        weight: Option<Var<'t, T>>,
        bias: Option<Var<'t, T>>,
        eps: f64,
    ) -> Var<'t, T> {
        let xs = self.shape();
        let k = normalized_shape.len();
        assert!(
            k > 0 && k <= xs.len() && xs[xs.len() - k..] == *normalized_shape,
            "layer_norm: normalized_shape {normalized_shape:?} is not the trailing axes of input {xs:?}"
        );
        let mut inputs = vec![self];
        push_param(
            "layer_norm",
            "weight",
            weight,
            normalized_shape,
            &mut inputs,
        );
        push_param("layer_norm", "bias", bias, normalized_shape, &mut inputs);
        let op = NormOp::LayerNorm {
            dims: k as u32,
            eps,
            weight: weight.is_some(),
            bias: bias.is_some(),
        };
        let d = layer_groups(&xs, k).inner;
        self.tape.apply(Op::Norm(op), &inputs, |v| {
            // The affine map is fused into the normalising pass.
            let (w, b) = params(v, weight.is_some(), bias.is_some());
            let mut y = Tensor::pooled_zeros(xs.clone());
            kernels::layer_norm_rows(
                v[0].as_slice(),
                d,
                T::from_f64(eps),
                w.map(Tensor::as_slice),
                b.map(Tensor::as_slice),
                y.as_mut_slice(),
            );
            y
        })
    }
}

/// `layer_norm`'s rule: one fused pass per block of rows
/// ([`kernels::layer_norm_rows_backward`]) gives all three gradients.
fn layer_norm_backward<T: Float>(
    dims: usize,
    eps: f64,
    weight: bool,
    bias: bool,
    ctx: &mut BackwardCtx<'_, T>,
) {
    let (x, g) = (ctx.input(0), ctx.grad_out());
    let xs = Shape::from_slice(x.shape());
    let param_shape = Shape::from_slice(&xs[xs.len() - dims..]);
    let d = layer_groups(&xs, dims).inner;
    let w = weight.then(|| ctx.input(1).as_slice());
    let mut dx = Tensor::pooled_zeros(xs);
    let (dw, db) = kernels::layer_norm_rows_backward(
        x.as_slice(),
        g.as_slice(),
        d,
        T::from_f64(eps),
        w,
        dx.as_mut_slice(),
    );
    let b_idx = 1 + weight as usize;
    if weight && ctx.needs(1) {
        ctx.add(1, Tensor::from_parts(param_shape.clone(), dw));
    }
    if bias && ctx.needs(b_idx) {
        ctx.add(b_idx, Tensor::from_parts(param_shape, db));
    }
    if ctx.needs(0) {
        ctx.add(0, dx);
    }
}

/// On the tape: `xhat` and `rstd` recomputed with vars, then
/// `dx = normalize_backward(g * weight)`, `dweight = g * xhat` and
/// `dbias = g`, which `add` sums over the leading axes.
fn layer_norm_backward_on_tape<T: Float>(
    dims: usize,
    eps: f64,
    weight: bool,
    bias: bool,
    ctx: &mut GraphCtx<'_, '_, T>,
) {
    let (x, g) = (ctx.input(0), ctx.grad_out());
    let nd = x.ndim();
    let axes: Vec<isize> = (nd - dims..nd).map(|a| a as isize).collect();
    let (xhat, rstd) = normalized_on_tape(x, &axes, eps);
    let b_idx = 1 + weight as usize;
    if weight && ctx.needs(1) {
        ctx.add(1, g * xhat);
    }
    if bias && ctx.needs(b_idx) {
        ctx.add(b_idx, g);
    }
    if ctx.needs(0) {
        let d = if weight { g * ctx.input(1) } else { g };
        ctx.add(0, normalize_backward_on_tape(d, xhat, rstd, &axes));
    }
}

/// Forward mode: `dy = dxhat * weight + xhat * dweight + dbias`, with
/// `dxhat` the normalising map's (symmetric) Jacobian applied to `dx`.
fn layer_norm_jvp<T: Float>(
    dims: usize,
    eps: f64,
    weight: bool,
    bias: bool,
    ctx: &JvpCtx<'_, T>,
) -> Tensor<T> {
    let x = ctx.input(0);
    let xs = Shape::from_slice(x.shape());
    let groups = layer_groups(&xs, dims);
    let nz = kernels::normalize(x.as_slice(), groups, T::from_f64(eps));
    let txhat = ctx.tangent(0).map(|tx| {
        let t = kernels::normalize_backward(&nz.xhat, tx.as_slice(), &nz.rstd, groups);
        Tensor::from_parts(xs.clone(), t)
    });
    let xhat = Tensor::from_parts(xs.clone(), nz.xhat);
    affine_jvp(ctx, &xhat, txhat, (weight, bias), &xs[xs.len() - dims..])
}

// ---- batch_norm ---------------------------------------------------------

/// The per-channel statistics of the batch a
/// [`batch_norm_with_stats`](Var::batch_norm_with_stats) call normalised
/// with, for a BatchNorm layer to fold into its running averages.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchStats<T: Float = f32> {
    /// Mean of each channel, `[C]`.
    pub mean: Tensor<T>,
    /// Unbiased variance of each channel (divided by `count - 1`), `[C]`:
    /// what PyTorch folds into `running_var`. The normalisation itself uses
    /// the biased variance.
    pub var: Tensor<T>,
    /// Values per channel (`N` times the spatial size).
    pub count: usize,
}

/// The batch-norm groups of `x [N, C, *]`: channels, and the shape the
/// `[C]` parameters broadcast as (`[C, 1, .., 1]`, one 1 per trailing axis).
fn batch_groups(x: &[usize]) -> (Groups, Shape) {
    let mut param: Shape = smallvec::smallvec![1; x.len() - 1];
    param[0] = x[1];
    let groups = Groups {
        outer: x[0],
        groups: x[1],
        inner: x[2..].iter().product(),
    };
    (groups, param)
}

/// `xhat * weight + bias`, the parameters viewed as `param_shape`.
fn affine<T: Float>(
    xhat: Tensor<T>,
    weight: Option<&Tensor<T>>,
    bias: Option<&Tensor<T>>,
    param_shape: &[usize],
) -> Tensor<T> {
    let y = match weight {
        Some(w) => &xhat * &w.reshape(param_shape),
        None => xhat,
    };
    match bias {
        Some(b) => &y + &b.reshape(param_shape),
        None => y,
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Batch normalisation in training mode, as PyTorch's `batch_norm` with
    /// `training=True`: `x [N, C]` or `[N, C, *]` is normalised per channel
    /// (axis 1) with the mean and biased variance over every other axis,
    /// then scaled by `weight [C]` and shifted by `bias [C]` (each optional).
    ///
    /// Derivatives: as [`layer_norm`](Var::layer_norm)'s, with the means
    /// taken per channel. Shape: unchanged.
    ///
    /// This returns only the output; a BatchNorm layer that keeps running
    /// statistics calls [`batch_norm_with_stats`](Var::batch_norm_with_stats)
    /// instead, which returns the batch's mean and unbiased variance from
    /// the same pass.
    ///
    /// # Panics
    /// If the input has fewer than 2 axes, a channel has only one value
    /// (its variance is undefined, as in PyTorch), or a parameter is not `[C]`.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// // channel 0 holds {1, 3}: mean 2, biased variance 1
    /// let x = tape.var(tensor![[1.0, 7.0], [3.0, 7.0]]);
    /// let y = x.batch_norm(None, None, 0.0).value();
    /// assert_eq!((y.get(&[0, 0]), y.get(&[1, 0])), (-1.0, 1.0));
    /// ```
    pub fn batch_norm(
        self,
        weight: Option<Var<'t, T>>,
        bias: Option<Var<'t, T>>,
        eps: f64,
    ) -> Var<'t, T> {
        self.batch_norm_with_stats(weight, bias, eps).0
    }

    /// [`batch_norm`](Var::batch_norm), also returning the batch statistics
    /// (per-channel mean and unbiased variance) for updating running
    /// averages. The statistics are plain tensors, outside the graph.
    ///
    /// # Panics
    /// As [`batch_norm`](Var::batch_norm).
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[1.0, 7.0], [3.0, 7.0]]);
    /// let (_, stats) = x.batch_norm_with_stats(None, None, 1e-5);
    /// // channel 0: mean 2, unbiased variance ((1-2)^2 + (3-2)^2) / (2 - 1) = 2
    /// assert_eq!(stats.mean.to_vec(), vec![2.0, 7.0]);
    /// assert_eq!(stats.var.to_vec(), vec![2.0, 0.0]);
    /// ```
    pub fn batch_norm_with_stats(
        self,
        weight: Option<Var<'t, T>>,
        bias: Option<Var<'t, T>>,
        eps: f64,
    ) -> (Var<'t, T>, BatchStats<T>) {
        let xs = self.shape();
        assert!(
            xs.len() >= 2,
            "batch_norm: input must be [N, C, ...]: got {xs:?}"
        );
        let (groups, param_shape) = batch_groups(&xs);
        let count = groups.size();
        assert!(
            count > 1,
            "batch_norm: training needs more than one value per channel: input {xs:?}"
        );
        let mut inputs = vec![self];
        push_param("batch_norm", "weight", weight, &xs[1..2], &mut inputs);
        push_param("batch_norm", "bias", bias, &xs[1..2], &mut inputs);
        let op = NormOp::BatchNorm {
            eps,
            weight: weight.is_some(),
            bias: bias.is_some(),
        };
        let mut stats = None;
        let y = self.tape.apply(Op::Norm(op), &inputs, |v| {
            let nz = kernels::normalize(v[0].as_slice(), groups, T::from_f64(eps));
            let unbias = T::from_usize(count) / T::from_usize(count - 1);
            stats = Some(BatchStats {
                mean: Tensor::from_parts(Shape::from_slice(&xs[1..2]), nz.mean),
                var: Tensor::from_parts(
                    Shape::from_slice(&xs[1..2]),
                    nz.var.iter().map(|&v| v * unbias).collect(),
                ),
                count,
            });
            let xhat = Tensor::from_parts(xs.clone(), nz.xhat);
            let (w, b) = params(v, weight.is_some(), bias.is_some());
            affine(xhat, w, b, &param_shape)
        });
        (
            y,
            stats.expect("tapegrad bug: batch_norm forward did not run"),
        )
    }
}

/// `batch_norm`'s rule, for `y = xhat * w + b` over the channels, the
/// parameters broadcasting as `[C, 1, .., 1]`. `xhat` is recomputed from
/// the input (one pass for the statistics, one to normalise) rather than
/// kept from the forward pass.
fn batch_norm_backward<T: Float>(eps: f64, weight: bool, bias: bool, ctx: &mut BackwardCtx<'_, T>) {
    let (x, g) = (ctx.input(0), ctx.grad_out());
    let (groups, param_shape) = batch_groups(x.shape());
    let param_shape = param_shape.as_slice();
    let nz = kernels::normalize(x.as_slice(), groups, T::from_f64(eps));
    let xhat = Tensor::from_parts(Shape::from_slice(x.shape()), nz.xhat);
    let b_idx = 1 + weight as usize;
    if weight && ctx.needs(1) {
        ctx.add(1, (g * &xhat).sum_to_shape(param_shape));
    }
    if bias && ctx.needs(b_idx) {
        ctx.add(b_idx, g.sum_to_shape(param_shape));
    }
    if ctx.needs(0) {
        let dxhat = if weight {
            g * &ctx.input(1).reshape(param_shape)
        } else {
            g.clone()
        };
        let dx = kernels::normalize_backward(xhat.as_slice(), dxhat.as_slice(), &nz.rstd, groups);
        ctx.add(0, Tensor::from_parts(Shape::from_slice(x.shape()), dx));
    }
}

/// On the tape: as [`layer_norm`](Var::layer_norm)'s recorded rule, with
/// the statistics over every axis but the channels' and the parameters
/// viewed as `[C, 1, .., 1]`.
fn batch_norm_backward_on_tape<T: Float>(
    eps: f64,
    weight: bool,
    bias: bool,
    ctx: &mut GraphCtx<'_, '_, T>,
) {
    let (x, g) = (ctx.input(0), ctx.grad_out());
    let xs = x.shape();
    let (_, param_shape) = batch_groups(&xs);
    let axes: Vec<isize> = (0..xs.len() as isize).filter(|&a| a != 1).collect();
    let (xhat, rstd) = normalized_on_tape(x, &axes, eps);
    let b_idx = 1 + weight as usize;
    if weight && ctx.needs(1) {
        ctx.add(1, (g * xhat).sum_axes(&axes, false));
    }
    if bias && ctx.needs(b_idx) {
        ctx.add(b_idx, g.sum_axes(&axes, false));
    }
    if ctx.needs(0) {
        let d = if weight {
            g * ctx.input(1).reshape(&param_shape)
        } else {
            g
        };
        ctx.add(0, normalize_backward_on_tape(d, xhat, rstd, &axes));
    }
}

/// Forward mode: as [`layer_norm`](Var::layer_norm)'s, per channel.
fn batch_norm_jvp<T: Float>(eps: f64, weight: bool, bias: bool, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let x = ctx.input(0);
    let xs = Shape::from_slice(x.shape());
    let (groups, param_shape) = batch_groups(&xs);
    let nz = kernels::normalize(x.as_slice(), groups, T::from_f64(eps));
    let txhat = ctx.tangent(0).map(|tx| {
        let t = kernels::normalize_backward(&nz.xhat, tx.as_slice(), &nz.rstd, groups);
        Tensor::from_parts(xs.clone(), t)
    });
    let xhat = Tensor::from_parts(xs, nz.xhat);
    affine_jvp(ctx, &xhat, txhat, (weight, bias), &param_shape)
}
