//! Slicing and joining (see the family's tour in `mod.rs`): `narrow`,
//! `concat`, `stack` and `pad`. Each rule moves the gradient back to the
//! stretch its elements came from (a zero-padded slice, a narrow, a crop);
//! the recorded rules do the same with the vars' own ops, and in forward
//! mode the tangent moves like the value (constant padding has tangent 0).

use super::ShapeOp;
use crate::ops::Op;
use crate::tape::{AuxRange, BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::shape::resolve_axis;
use crate::tensor::{Float, Tensor};

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
pub(super) fn narrow_backward<T: Float>(
    ctx: &mut BackwardCtx<'_, T>,
    axis: usize,
    start: usize,
    len: usize,
) {
    let g = ctx.grad_out();
    let size = ctx.input(0).shape()[axis];
    let mut pads = vec![(0, 0); g.ndim()];
    pads[axis] = (start, size - start - len);
    ctx.add(0, g.pad(&pads, T::ZERO));
}

/// On the tape: the recorded gradient padded back with zeros.
pub(super) fn narrow_backward_on_tape<T: Float>(
    ctx: &mut GraphCtx<'_, '_, T>,
    axis: usize,
    start: usize,
    len: usize,
) {
    let g = ctx.grad_out();
    let size = ctx.input(0).shape()[axis];
    let mut pads = vec![(0, 0); g.ndim()];
    pads[axis] = (start, size - start - len);
    ctx.add(0, g.pad(&pads, 0.0));
}

/// Forward mode: the same slice of the tangent.
pub(super) fn narrow_jvp<T: Float>(
    ctx: &JvpCtx<'_, T>,
    axis: usize,
    start: usize,
    len: usize,
) -> Tensor<T> {
    ctx.tangent_or_zeros(0).narrow(axis as isize, start, len)
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
pub(super) fn concat_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axis: usize) {
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

/// On the tape: each input gets its own stretch of the recorded gradient.
pub(super) fn concat_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, axis: usize) {
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

/// Forward mode: the tangents joined like the values (zeros for an input
/// without one).
pub(super) fn concat_jvp<T: Float>(ctx: &JvpCtx<'_, T>, axis: usize) -> Tensor<T> {
    let tangents = every_tangent(ctx);
    Tensor::concat(&tangents.iter().collect::<Vec<_>>(), axis as isize)
}

/// Every input's tangent, zeros for an input without one.
fn every_tangent<T: Float>(ctx: &JvpCtx<'_, T>) -> Vec<Tensor<T>> {
    (0..ctx.num_inputs())
        .map(|i| ctx.tangent_or_zeros(i))
        .collect()
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
pub(super) fn stack_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, axis: usize) {
    let g = ctx.grad_out();
    for i in 0..ctx.num_inputs() {
        if ctx.needs(i) {
            let gi = g.narrow(axis as isize, i, 1).squeeze(axis as isize);
            ctx.add(i, gi);
        }
    }
}

/// On the tape: input `i` gets slice `i` of the recorded gradient.
pub(super) fn stack_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, axis: usize) {
    let g = ctx.grad_out();
    for i in 0..ctx.num_inputs() {
        if ctx.needs(i) {
            let gi = g.narrow(axis as isize, i, 1).squeeze(axis as isize);
            ctx.add(i, gi);
        }
    }
}

/// Forward mode: the tangents stacked like the values.
pub(super) fn stack_jvp<T: Float>(ctx: &JvpCtx<'_, T>, axis: usize) -> Tensor<T> {
    let tangents = every_tangent(ctx);
    Tensor::stack(&tangents.iter().collect::<Vec<_>>(), axis as isize)
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
pub(super) fn pad_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>, pads: AuxRange) {
    let start: Vec<usize> = ctx.aux(pads).iter().step_by(2).copied().collect();
    ctx.add(0, ctx.grad_out().crop(&start, ctx.input(0).shape()));
}

/// On the tape: the recorded gradient cropped, one narrow per padded axis.
pub(super) fn pad_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>, pads: AuxRange) {
    let (pads, dims) = (ctx.aux(pads), ctx.input(0).shape());
    let mut g = ctx.grad_out();
    for (a, &d) in dims.iter().enumerate() {
        if pads[2 * a] + pads[2 * a + 1] > 0 {
            g = g.narrow(a as isize, pads[2 * a], d);
        }
    }
    ctx.add(0, g);
}

/// Forward mode: the padding is constant, so the tangent is padded with 0.
pub(super) fn pad_jvp<T: Float>(ctx: &JvpCtx<'_, T>, pads: AuxRange) -> Tensor<T> {
    let pairs: Vec<(usize, usize)> = ctx.aux(pads).chunks(2).map(|p| (p[0], p[1])).collect();
    ctx.tangent_or_zeros(0).pad(&pairs, T::ZERO)
}
