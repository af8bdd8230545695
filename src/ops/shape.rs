//! Shape and data movement: reshape and its relatives, broadcast, transpose
//! and permute, narrow, concat and stack, index_select, gather and pad.
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
//! Each op is one section: its `Var` method, then its backward rule.

use super::Op;
use crate::tape::{AuxRange, BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::shape::resolve_axis;
use crate::tensor::{Float, Tensor};
use std::fmt;

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
            ShapeOp::Pad { pads, .. } => pad_backward(ctx, pads),
        }
    }

    /// Records each input's share of the gradient on the tape, as vars
    /// (for [`Tape::grad`](crate::Tape::grad)); an op without such a rule
    /// panics, naming itself.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        ctx.unsupported()
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]); an op without one panics, naming itself.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        ctx.unsupported()
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

// ---- narrow -------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Elements `start..start + len` along `axis`, all of every other axis
    /// (PyTorch's `narrow`): `[4, 5].narrow(1, 1, 3)` is `[4, 3]`. A copy.
    ///
    /// Derivative: the gradient padded with zeros back to the input's size
    /// along `axis` (elements outside the slice do not affect the output).
    ///
    /// # Panics
    /// If the axis is out of range or `start + len` exceeds its size.
    pub fn narrow(self, axis: isize, start: usize, len: usize) -> Var<'t, T> {
        let a = resolve_axis("narrow", axis, &self.shape());
        self.shape_op(
            ShapeOp::Narrow {
                axis: a,
                start,
                len,
            },
            |x| x.narrow(axis, start, len),
        )
    }
}

/// `narrow`'s rule: elements outside the slice did not reach the output,
/// so the gradient is padded back with zeros.
fn narrow_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axis: usize, start: usize, len: usize) {
    let g = ctx.grad_out();
    let size = ctx.input(0).shape()[axis];
    let mut pads = vec![(0, 0); g.ndim()];
    pads[axis] = (start, size - start - len);
    ctx.add(0, g.pad(&pads, T::ZERO));
}

// ---- concat -------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// The vars joined along an existing `axis`; shapes must agree on every
    /// other axis, and the result's size along `axis` is the sum of theirs.
    ///
    /// Derivative: each input gets the stretch of the gradient that covers
    /// it (a narrow of the gradient).
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor, Var};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.var(tensor![[1., 2.]]);
    /// let b = tape.var(tensor![[3., 4.], [5., 6.]]);
    /// let c = Var::concat(&[a, b], 0); // [1, 2] ++ [2, 2] -> [3, 2]
    /// assert_eq!(c.value().to_vec(), vec![1., 2., 3., 4., 5., 6.]);
    /// ```
    ///
    /// # Panics
    /// If `vars` is empty, the axis is out of range, or shapes differ off the axis.
    pub fn concat(vars: &[Var<'t, T>], axis: isize) -> Var<'t, T> {
        let first = vars
            .first()
            .unwrap_or_else(|| panic!("concat: no vars to join"));
        let a = resolve_axis("concat", axis, &first.shape());
        first.tape.apply(Op::Shape(ShapeOp::Concat(a)), vars, |v| {
            Tensor::concat(v, axis)
        })
    }
}

/// `concat`'s rule: each input gets its own stretch of the gradient.
fn concat_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axis: usize) {
    let g = ctx.grad_out();
    let mut start = 0;
    for i in 0..ctx.num_inputs() {
        let len = ctx.input(i).shape()[axis];
        if ctx.needs(i) {
            ctx.add(i, g.narrow(axis as isize, start, len));
        }
        start += len;
    }
}

// ---- stack --------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// The vars, all of one shape, stacked along a new axis inserted at
    /// `axis` (`0..=ndim`): three `[2, 3]` vars stacked at axis 1 make
    /// `[2, 3, 3]`, and 0-d vars stack into a 1-d var.
    ///
    /// Derivative: input `i` gets slice `i` of the gradient along `axis`.
    ///
    /// # Panics
    /// If `vars` is empty, the shapes differ, or the axis is out of range.
    pub fn stack(vars: &[Var<'t, T>], axis: isize) -> Var<'t, T> {
        let first = vars
            .first()
            .unwrap_or_else(|| panic!("stack: no vars to join"));
        let a = crate::tensor::layout::resolve_insert_axis("stack", axis, &first.shape());
        first.tape.apply(Op::Shape(ShapeOp::Stack(a)), vars, |v| {
            Tensor::stack(v, axis)
        })
    }
}

/// `stack`'s rule: input `i` gets slice `i` of the gradient.
fn stack_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axis: usize) {
    let g = ctx.grad_out();
    for i in 0..ctx.num_inputs() {
        if ctx.needs(i) {
            let gi = g.narrow(axis as isize, i, 1).squeeze(axis as isize);
            ctx.add(i, gi);
        }
    }
}

// ---- index_select -------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Slices along `axis` picked by index, in the order given, repeats
    /// allowed; the result's size along `axis` is `indices.len()`. With
    /// `axis = 0` on a `[vocab, dim]` table this is an embedding lookup.
    ///
    /// Derivative: a scatter-add: slice `k` of the gradient is added into
    /// input slice `indices[k]`, so a row picked twice gets both gradients;
    /// rows never picked get 0.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let table = tape.var(tensor![[1., 2.], [3., 4.], [5., 6.]]);
    /// let rows = table.index_select(0, &[2, 2, 0]);
    /// let g = rows.backward_with(Tensor::ones(&[3, 2]));
    /// assert_eq!(g.wrt(table).to_vec(), vec![1., 1., 0., 0., 2., 2.]);
    /// ```
    ///
    /// # Panics
    /// If the axis or an index is out of range.
    pub fn index_select(self, axis: isize, indices: &[usize]) -> Var<'t, T> {
        let a = resolve_axis("index_select", axis, &self.shape());
        let index = self.tape.push_aux(indices);
        self.shape_op(ShapeOp::IndexSelect { axis: a, index }, |x| {
            x.index_select(axis, indices)
        })
    }
}

/// `index_select`'s rule, a scatter-add: a row picked twice gets both
/// gradients.
fn index_select_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axis: usize, index: AuxRange) {
    let mut gx = Tensor::zeros(ctx.input(0).shape());
    gx.index_add_assign(axis as isize, ctx.aux(index), ctx.grad_out());
    ctx.add(0, gx);
}

// ---- gather -------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// One element per index along `axis`, as `torch.gather`. `index` is a
    /// row-major array of shape `index_dims` with as many axes as the input
    /// and no larger off `axis`; the result has shape `index_dims`, and for
    /// `axis = 1` of a 2-d input `out[i][j] = x[i][index[i][j]]`.
    ///
    /// Derivative: a scatter-add: each output gradient goes to the element
    /// it was read from, and elements read twice get both.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let scores = tape.var(tensor![[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]);
    /// let target = scores.gather(1, &[1, 0], &[2, 1]); // one class per row
    /// assert_eq!(target.value().to_vec(), vec![0.7, 0.5]);
    /// ```
    ///
    /// # Panics
    /// If the axis or an index is out of range, `index.len()` does not match
    /// `index_dims`, or `index_dims` does not fit the input's shape.
    pub fn gather(self, axis: isize, index: &[usize], index_dims: &[usize]) -> Var<'t, T> {
        let a = resolve_axis("gather", axis, &self.shape());
        let mut aux = index_dims.to_vec();
        aux.extend_from_slice(index);
        let r = self.tape.push_aux(&aux);
        self.shape_op(ShapeOp::Gather { axis: a, index: r }, |x| {
            x.gather(axis, index, index_dims)
        })
    }
}

/// `gather`'s rule, a scatter-add: each output gradient goes to the element
/// it was read from.
fn gather_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axis: usize, index: AuxRange) {
    let x = ctx.input(0);
    let (dims, index) = ctx.aux(index).split_at(x.ndim());
    let mut gx = Tensor::zeros(x.shape());
    gx.scatter_add_assign(axis as isize, index, dims, ctx.grad_out());
    ctx.add(0, gx);
}

// ---- pad ----------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Constant padding: `pads[i] = (before, after)` elements equal to
    /// `value` on each side of axis `i`, one pair per axis. Shape rule:
    /// axis `i` grows from `d` to `before + d + after`.
    ///
    /// Derivative: the gradient cropped to the original block (the padding
    /// is constant, so it passes nothing back).
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![1., 2.]);
    /// assert_eq!(x.pad(&[(1, 2)], 0.).value().to_vec(), vec![0., 1., 2., 0., 0.]);
    /// ```
    ///
    /// # Panics
    /// If `pads` does not have one pair per axis.
    pub fn pad(self, pads: &[(usize, usize)], value: f64) -> Var<'t, T> {
        let flat: Vec<usize> = pads.iter().flat_map(|&(b, a)| [b, a]).collect();
        let r = self.tape.push_aux(&flat);
        self.shape_op(ShapeOp::Pad { pads: r, value }, |x| {
            x.pad(pads, T::from_f64(value))
        })
    }
}

/// `pad`'s rule: the padding is constant, so only the original block gets
/// gradient.
fn pad_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, pads: AuxRange) {
    let start: Vec<usize> = ctx.aux(pads).iter().step_by(2).copied().collect();
    ctx.add(0, ctx.grad_out().crop(&start, ctx.input(0).shape()));
}
