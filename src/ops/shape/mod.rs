//! Shape and data movement: reshape and its relatives, broadcast, transpose
//! and permute, narrow, concat and stack, index_select, gather and pad, and
//! the scatter-adds `index_add` and `scatter_add`.
//!
//! None of these ops does arithmetic, so every backward rule moves the
//! gradient back to where its element came from: the inverse reshape, the
//! inverse permutation, a zero-padded slice, a scatter-add. Elements read
//! more than once (broadcast, repeated indices) get the sum of their
//! gradients.
//!
//! Axes are `isize` (negative counts from the end) and are resolved before
//! recording, so the op values on the tape hold plain `usize` axes. Lists
//! (a permutation, indices, pads) are stored on the tape with `push_aux`.
//!
//! Each op is one section: its `Var` method, then its backward rule, its
//! rule recorded on the tape (`_backward_on_tape`, for `Tape::grad`: the
//! same movement with the vars' ops) and its forward-mode rule (`_jvp`:
//! every op here is linear, so the tangent moves like the value). This
//! file holds the enum, its dispatch and the views (reshape to permute);
//! `slice.rs` holds narrow, concat, stack and pad, `index.rs` the indexing
//! ops and their adjoints.

use super::Op;
use crate::tape::{AuxRange, BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::shape::resolve_axis;
use crate::tensor::{Float, Tensor};
use index::{
    gather_backward, gather_backward_on_tape, gather_jvp, index_add_backward,
    index_add_backward_on_tape, index_add_jvp, index_select_backward,
    index_select_backward_on_tape, index_select_jvp, scatter_add_backward,
    scatter_add_backward_on_tape, scatter_add_jvp,
};
use slice::{
    concat_backward, concat_backward_on_tape, concat_jvp, narrow_backward, narrow_backward_on_tape,
    narrow_jvp, pad_backward, pad_backward_on_tape, pad_jvp, stack_backward,
    stack_backward_on_tape, stack_jvp,
};
use std::fmt;

mod index;
mod slice;

/// The shape and data-movement ops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeOp {
    /// The same elements under a new shape.
    Reshape,
    /// Axes `.0..=.1` merged into one.
    Flatten(usize, usize),
    /// Size-1 axis removed.
    Squeeze(usize),
    /// Size-1 axis inserted.
    Unsqueeze(usize),
    /// Repeated along size-1 and new leading axes.
    BroadcastTo,
    /// Two axes swapped.
    Transpose(usize, usize),
    /// Axes reordered; the permutation is on the tape.
    Permute(AuxRange),
    /// `start..start + len` along `axis`.
    Narrow {
        /// The sliced axis.
        axis: usize,
        /// First element kept.
        start: usize,
        /// Elements kept.
        len: usize,
    },
    /// The inputs joined along an existing axis.
    Concat(usize),
    /// The inputs joined along a new axis.
    Stack(usize),
    /// Slices picked by index along `axis`; the indices are on the tape.
    IndexSelect {
        /// The indexed axis.
        axis: usize,
        /// The indices.
        index: AuxRange,
    },
    /// One element per index along `axis`; the tape holds the index shape
    /// (one entry per input axis) followed by the indices.
    Gather {
        /// The indexed axis.
        axis: usize,
        /// Index shape, then indices.
        index: AuxRange,
    },
    /// Slices added into a base by index along `axis` (inputs `[base,
    /// source]`); the indices are on the tape.
    IndexAdd {
        /// The indexed axis.
        axis: usize,
        /// The indices.
        index: AuxRange,
    },
    /// Elements added into a base at gather's positions (inputs `[base,
    /// source]`); the tape holds the index shape, then the indices.
    ScatterAdd {
        /// The indexed axis.
        axis: usize,
        /// Index shape, then indices.
        index: AuxRange,
    },
    /// Constant padding; the tape holds `before, after` for each axis.
    Pad {
        /// `(before, after)` pairs, flattened.
        pads: AuxRange,
        /// The fill value.
        value: f64,
    },
}

impl ShapeOp {
    /// Adds each input's share of the gradient.
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            ShapeOp::Reshape
            | ShapeOp::Flatten(..)
            | ShapeOp::Squeeze(_)
            | ShapeOp::Unsqueeze(_) => reshape_backward(ctx),
            ShapeOp::BroadcastTo => broadcast_to_backward(ctx),
            ShapeOp::Transpose(a, b) => transpose_backward(ctx, a, b),
            ShapeOp::Permute(perm) => permute_backward(ctx, perm),
            ShapeOp::Narrow { axis, start, len } => narrow_backward(ctx, axis, start, len),
            ShapeOp::Concat(axis) => concat_backward(ctx, axis),
            ShapeOp::Stack(axis) => stack_backward(ctx, axis),
            ShapeOp::IndexSelect { axis, index } => index_select_backward(ctx, axis, index),
            ShapeOp::Gather { axis, index } => gather_backward(ctx, axis, index),
            ShapeOp::IndexAdd { axis, index } => index_add_backward(ctx, axis, index),
            ShapeOp::ScatterAdd { axis, index } => scatter_add_backward(ctx, axis, index),
            ShapeOp::Pad { pads, .. } => pad_backward(ctx, pads),
        }
    }

    /// Records each input's share of the gradient on the tape, as vars
    /// (for [`Tape::grad`](crate::Tape::grad)); every op here has one.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        match self {
            ShapeOp::Reshape
            | ShapeOp::Flatten(..)
            | ShapeOp::Squeeze(_)
            | ShapeOp::Unsqueeze(_) => reshape_backward_on_tape(ctx),
            ShapeOp::BroadcastTo => broadcast_to_backward_on_tape(ctx),
            ShapeOp::Transpose(a, b) => transpose_backward_on_tape(ctx, a, b),
            ShapeOp::Permute(perm) => permute_backward_on_tape(ctx, perm),
            ShapeOp::Narrow { axis, start, len } => narrow_backward_on_tape(ctx, axis, start, len),
            ShapeOp::Concat(axis) => concat_backward_on_tape(ctx, axis),
            ShapeOp::Stack(axis) => stack_backward_on_tape(ctx, axis),
            ShapeOp::IndexSelect { axis, index } => index_select_backward_on_tape(ctx, axis, index),
            ShapeOp::Gather { axis, index } => gather_backward_on_tape(ctx, axis, index),
            ShapeOp::IndexAdd { axis, index } => index_add_backward_on_tape(ctx, axis, index),
            ShapeOp::ScatterAdd { axis, index } => scatter_add_backward_on_tape(ctx, axis, index),
            ShapeOp::Pad { pads, .. } => pad_backward_on_tape(ctx, pads),
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]); every op here is linear, so it applies the op's own
    /// data movement to the tangents.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        match self {
            ShapeOp::Reshape
            | ShapeOp::Flatten(..)
            | ShapeOp::Squeeze(_)
            | ShapeOp::Unsqueeze(_) => reshape_jvp(ctx),
            ShapeOp::BroadcastTo => broadcast_to_jvp(ctx),
            ShapeOp::Transpose(a, b) => transpose_jvp(ctx, a, b),
            ShapeOp::Permute(perm) => permute_jvp(ctx, perm),
            ShapeOp::Narrow { axis, start, len } => narrow_jvp(ctx, axis, start, len),
            ShapeOp::Concat(axis) => concat_jvp(ctx, axis),
            ShapeOp::Stack(axis) => stack_jvp(ctx, axis),
            ShapeOp::IndexSelect { axis, index } => index_select_jvp(ctx, axis, index),
            ShapeOp::Gather { axis, index } => gather_jvp(ctx, axis, index),
            ShapeOp::IndexAdd { axis, index } => index_add_jvp(ctx, axis, index),
            ShapeOp::ScatterAdd { axis, index } => scatter_add_jvp(ctx, axis, index),
            ShapeOp::Pad { pads, .. } => pad_jvp(ctx, pads),
        }
    }
}

impl fmt::Display for ShapeOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ShapeOp::Reshape => f.write_str("reshape"),
            ShapeOp::Flatten(s, e) => write!(f, "flatten[{s}, {e}]"),
            ShapeOp::Squeeze(a) => write!(f, "squeeze[{a}]"),
            ShapeOp::Unsqueeze(a) => write!(f, "unsqueeze[{a}]"),
            ShapeOp::BroadcastTo => f.write_str("broadcast_to"),
            ShapeOp::Transpose(a, b) => write!(f, "transpose[{a}, {b}]"),
            ShapeOp::Permute(_) => f.write_str("permute"),
            ShapeOp::Narrow { axis, start, len } => {
                write!(f, "narrow[axis {axis}, {start}..{}]", start + len)
            }
            ShapeOp::Concat(a) => write!(f, "concat[{a}]"),
            ShapeOp::Stack(a) => write!(f, "stack[{a}]"),
            ShapeOp::IndexSelect { axis, .. } => write!(f, "index_select[{axis}]"),
            ShapeOp::Gather { axis, .. } => write!(f, "gather[{axis}]"),
            ShapeOp::IndexAdd { axis, .. } => write!(f, "index_add[{axis}]"),
            ShapeOp::ScatterAdd { axis, .. } => write!(f, "scatter_add[{axis}]"),
            ShapeOp::Pad { value, .. } => write!(f, "pad[{value}]"),
        }
    }
}

impl<'t, T: Float> Var<'t, T> {
    /// Records `op` on this var, computing it with `forward`.
    fn shape_op(self, op: ShapeOp, forward: impl FnOnce(&Tensor<T>) -> Tensor<T>) -> Var<'t, T> {
        self.tape.apply(Op::Shape(op), &[self], |v| forward(v[0]))
    }
}

// ---- reshape, flatten, squeeze, unsqueeze -------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// The same elements, in the same row-major order, under a new shape
    /// with as many elements. Shares the storage (no copy).
    ///
    /// Derivative: the gradient reshaped back to the input's shape.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[1., 2., 3.], [4., 5., 6.]]);
    /// let y = x.reshape(&[3, 2]);
    /// assert_eq!(y.value().get(&[1, 0]), 3.0);
    /// assert!(y.value().shares_storage(&x.value()));
    /// ```
    ///
    /// # Panics
    /// If the element counts differ.
    pub fn reshape(self, dims: &[usize]) -> Var<'t, T> {
        self.shape_op(ShapeOp::Reshape, |x| x.reshape(dims))
    }

    /// Axes `start..=end` merged into one (PyTorch's `flatten`). Shape rule:
    /// `[N, C, H, W].flatten(1, -1)` is `[N, C*H*W]`; `flatten(0, -1)` gives
    /// a 1-d var, and a 0-d var counts as shape `[1]`. Shares the storage.
    ///
    /// Derivative: the gradient reshaped back.
    ///
    /// # Panics
    /// If an axis is out of range or `start` comes after `end`.
    pub fn flatten(self, start: isize, end: isize) -> Var<'t, T> {
        let d = self.shape();
        let d: &[usize] = if d.is_empty() { &[1] } else { &d };
        let (s, e) = (
            resolve_axis("flatten", start, d),
            resolve_axis("flatten", end, d),
        );
        self.shape_op(ShapeOp::Flatten(s, e), |x| x.flatten(start, end))
    }

    /// The size-1 axis `axis` removed: `[2, 1, 3].squeeze(1)` is `[2, 3]`.
    /// Shares the storage.
    ///
    /// Derivative: the gradient reshaped back.
    ///
    /// # Panics
    /// If the axis is out of range or its size is not 1 (PyTorch would
    /// silently do nothing; here that is a bug worth hearing about).
    pub fn squeeze(self, axis: isize) -> Var<'t, T> {
        let a = resolve_axis("squeeze", axis, &self.shape());
        self.shape_op(ShapeOp::Squeeze(a), |x| x.squeeze(axis))
    }

    /// A size-1 axis inserted before `axis` (`0..=ndim`; `-1` appends):
    /// `[2, 3].unsqueeze(1)` is `[2, 1, 3]`. Shares the storage.
    ///
    /// Derivative: the gradient reshaped back.
    ///
    /// # Panics
    /// If the axis is out of range.
    pub fn unsqueeze(self, axis: isize) -> Var<'t, T> {
        let a = crate::tensor::layout::resolve_insert_axis("unsqueeze", axis, &self.shape());
        self.shape_op(ShapeOp::Unsqueeze(a), |x| x.unsqueeze(axis))
    }
}

/// The rule of `reshape`, `flatten`, `squeeze` and `unsqueeze`: the same
/// elements in the same order, so the gradient is reshaped back.
fn reshape_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>) {
    ctx.add(0, ctx.grad_out().reshape(ctx.input(0).shape()));
}

/// On the tape: the same reshape back, recorded.
fn reshape_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>) {
    let g = ctx.grad_out().reshape(&ctx.input(0).shape());
    ctx.add(0, g);
}

/// Forward mode: the tangent under the output's shape.
fn reshape_jvp<T: Float>(ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    ctx.tangent_or_zeros(0).reshape(ctx.output().shape())
}

// ---- broadcast_to -------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// The value repeated to fill `dims`, by NumPy's broadcasting rules
    /// (size-1 axes stretch, missing leading axes are added).
    ///
    /// Derivative: the gradient summed over the repeated axes (each input
    /// element feeds every copy of itself).
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![1., 2.]);
    /// let y = x.broadcast_to(&[3, 2]);
    /// let g = y.backward_with(Tensor::ones(&[3, 2]));
    /// assert_eq!(g.wrt(x).to_vec(), vec![3., 3.]);
    /// ```
    ///
    /// # Panics
    /// If the shape does not broadcast to `dims`.
    pub fn broadcast_to(self, dims: &[usize]) -> Var<'t, T> {
        self.shape_op(ShapeOp::BroadcastTo, |x| x.broadcast_to(dims))
    }
}

/// `broadcast_to`'s rule: `add` sums the gradient over the repeated axes.
fn broadcast_to_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>) {
    ctx.add(0, ctx.grad_out().clone());
}

/// On the tape: `add` sums the recorded gradient back the same way.
fn broadcast_to_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>) {
    let g = ctx.grad_out();
    ctx.add(0, g);
}

/// Forward mode: the tangent repeated the same way.
fn broadcast_to_jvp<T: Float>(ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    ctx.tangent_or_zeros(0).broadcast_to(ctx.output().shape())
}

// ---- transpose, t -------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Axes `a` and `b` swapped (negative axes count from the end): a
    /// `[2, 3, 4]` var transposed over `(0, -1)` is `[4, 3, 2]`. A copy.
    ///
    /// Derivative: the gradient with the same two axes swapped back.
    ///
    /// # Panics
    /// If an axis is out of range.
    pub fn transpose(self, a: isize, b: isize) -> Var<'t, T> {
        let d = self.shape();
        let (ra, rb) = (
            resolve_axis("transpose", a, &d),
            resolve_axis("transpose", b, &d),
        );
        self.shape_op(ShapeOp::Transpose(ra, rb), |x| x.transpose(a, b))
    }

    /// The matrix transpose of a 2-d var, `transpose(0, 1)`.
    ///
    /// Derivative: the gradient transposed.
    ///
    /// # Panics
    /// If the var is not 2-d.
    pub fn t(self) -> Var<'t, T> {
        let d = self.shape();
        if d.len() != 2 {
            panic!("t: expects a 2-d var, got shape {d:?}");
        }
        self.transpose(0, 1)
    }
}

/// `transpose`'s rule: a swap is its own inverse.
fn transpose_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, a: usize, b: usize) {
    ctx.add(0, ctx.grad_out().transpose(a as isize, b as isize));
}

/// On the tape: the same swap, recorded.
fn transpose_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, a: usize, b: usize) {
    let g = ctx.grad_out().transpose(a as isize, b as isize);
    ctx.add(0, g);
}

/// Forward mode: the tangent transposed like the value.
fn transpose_jvp<T: Float>(ctx: &JvpCtx<'_, T>, a: usize, b: usize) -> Tensor<T> {
    ctx.tangent_or_zeros(0).transpose(a as isize, b as isize)
}

// ---- permute ------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// The axes reordered: axis `i` of the result is axis `perm[i]` of the
    /// input, so `[2, 3, 4].permute(&[2, 0, 1])` is `[4, 2, 3]`. A copy.
    ///
    /// Derivative: the gradient permuted by the inverse permutation
    /// (`inv[perm[i]] = i`).
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![[1., 2., 3.], [4., 5., 6.]]);
    /// assert_eq!(x.permute(&[1, 0]).value().to_vec(), vec![1., 4., 2., 5., 3., 6.]);
    /// ```
    ///
    /// # Panics
    /// If `perm` is not a permutation of `0..ndim`.
    pub fn permute(self, perm: &[usize]) -> Var<'t, T> {
        crate::tensor::layout::check_permutation("permute", perm, &self.shape());
        let r = self.tape.push_aux(perm);
        self.shape_op(ShapeOp::Permute(r), |x| x.permute(perm))
    }
}

/// `permute`'s rule: the gradient permuted by the inverse permutation.
fn permute_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, perm: AuxRange) {
    let perm = ctx.aux(perm);
    let mut inverse = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    ctx.add(0, ctx.grad_out().permute(&inverse));
}

/// On the tape: the recorded gradient permuted by the inverse permutation.
fn permute_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, perm: AuxRange) {
    let perm = ctx.aux(perm);
    let mut inverse = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    let g = ctx.grad_out().permute(&inverse);
    ctx.add(0, g);
}

/// Forward mode: the tangent permuted like the value.
fn permute_jvp<T: Float>(ctx: &JvpCtx<'_, T>, perm: AuxRange) -> Tensor<T> {
    ctx.tangent_or_zeros(0).permute(ctx.aux(perm))
}
