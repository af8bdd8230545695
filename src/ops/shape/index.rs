//! Indexing (see the family's tour in `mod.rs`): `index_select` and
//! `gather`, and their adjoints `index_add` and `scatter_add`, each the
//! other's backward rule, so that every rule here can be recorded on the
//! tape and differentiated again. All four are linear: in forward mode the
//! tangent is moved like the value.

use super::ShapeOp;
use crate::ops::Op;
use crate::tape::{AuxRange, BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::shape::resolve_axis;
use crate::tensor::{Float, Tensor};

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
pub(super) fn index_select_backward<T: Float>(
    ctx: &mut BackwardCtx<'_, T>,
    axis: usize,
    index: AuxRange,
) {
    let mut gx = Tensor::zeros(ctx.input(0).shape());
    gx.index_add_assign(axis as isize, ctx.aux(index), ctx.grad_out());
    ctx.add(0, gx);
}

/// On the tape: the same scatter-add, recorded as [`Var::index_add`] into
/// zeros (whose own rule is this op again: the pair is adjoint).
pub(super) fn index_select_backward_on_tape<T: Float>(
    ctx: &mut GraphCtx<'_, '_, T>,
    axis: usize,
    index: AuxRange,
) {
    let zeros = ctx.constant(Tensor::zeros(&ctx.input(0).shape()));
    let g = zeros.index_add(axis as isize, &ctx.aux(index), ctx.grad_out());
    ctx.add(0, g);
}

/// Forward mode: the same slices of the tangent.
pub(super) fn index_select_jvp<T: Float>(
    ctx: &JvpCtx<'_, T>,
    axis: usize,
    index: AuxRange,
) -> Tensor<T> {
    ctx.tangent_or_zeros(0)
        .index_select(axis as isize, ctx.aux(index))
}

// ---- index_add ----------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// `self` with the slices of `source` added along `axis`: slice `k` of
    /// `source` goes into slice `indices[k]`, and repeated indices add up
    /// (PyTorch's out-of-place `index_add`). The adjoint of
    /// [`index_select`](Var::index_select), which is its rule.
    ///
    /// Derivatives: `self` gets the gradient unchanged, `source` gets
    /// `g.index_select(axis, indices)`.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let base = tape.var(Tensor::zeros(&[3, 2]));
    /// let rows = tape.var(tensor![[1., 2.], [3., 4.]]);
    /// let y = base.index_add(0, &[2, 2], rows);
    /// assert_eq!(y.value().to_vec(), vec![0., 0., 0., 0., 4., 6.]);
    /// ```
    ///
    /// # Panics
    /// If the axis or an index is out of range, or `source` is not `self`'s
    /// shape with `indices.len()` along `axis`.
    pub fn index_add(self, axis: isize, indices: &[usize], source: Var<'t, T>) -> Var<'t, T> {
        let a = resolve_axis("index_add", axis, &self.shape());
        let index = self.tape.push_aux(indices);
        let op = Op::Shape(ShapeOp::IndexAdd { axis: a, index });
        self.tape.apply(op, &[self, source], |v| {
            let mut out = v[0].clone();
            out.index_add_assign(axis, indices, v[1]);
            out
        })
    }
}

/// `index_add`'s rule: the base passes straight through; each source slice
/// reached the output slice it was added into.
pub(super) fn index_add_backward<T: Float>(
    ctx: &mut BackwardCtx<'_, T>,
    axis: usize,
    index: AuxRange,
) {
    let g = ctx.grad_out();
    if ctx.needs(1) {
        ctx.add(1, g.index_select(axis as isize, ctx.aux(index)));
    }
    if ctx.needs(0) {
        ctx.add(0, g.clone());
    }
}

/// On the tape: the same, with [`Var::index_select`].
pub(super) fn index_add_backward_on_tape<T: Float>(
    ctx: &mut GraphCtx<'_, '_, T>,
    axis: usize,
    index: AuxRange,
) {
    let g = ctx.grad_out();
    if ctx.needs(1) {
        ctx.add(1, g.index_select(axis as isize, &ctx.aux(index)));
    }
    ctx.add(0, g);
}

/// Forward mode: the linear map applied to the tangents.
pub(super) fn index_add_jvp<T: Float>(
    ctx: &JvpCtx<'_, T>,
    axis: usize,
    index: AuxRange,
) -> Tensor<T> {
    let mut t = ctx.tangent_or_zeros(0);
    t.index_add_assign(axis as isize, ctx.aux(index), &ctx.tangent_or_zeros(1));
    t
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
pub(super) fn gather_backward<T: Float>(
    ctx: &mut BackwardCtx<'_, T>,
    axis: usize,
    index: AuxRange,
) {
    let x = ctx.input(0);
    let (dims, index) = ctx.aux(index).split_at(x.ndim());
    let mut gx = Tensor::zeros(x.shape());
    gx.scatter_add_assign(axis as isize, index, dims, ctx.grad_out());
    ctx.add(0, gx);
}

/// On the tape: the same scatter-add, recorded as [`Var::scatter_add`] into
/// zeros (whose own rule is a gather: the pair is adjoint).
pub(super) fn gather_backward_on_tape<T: Float>(
    ctx: &mut GraphCtx<'_, '_, T>,
    axis: usize,
    index: AuxRange,
) {
    let x = ctx.input(0);
    let aux = ctx.aux(index);
    let (dims, index) = aux.split_at(x.ndim());
    let zeros = ctx.constant(Tensor::zeros(&x.shape()));
    let g = zeros.scatter_add(axis as isize, index, dims, ctx.grad_out());
    ctx.add(0, g);
}

/// Forward mode: the same elements of the tangent.
pub(super) fn gather_jvp<T: Float>(ctx: &JvpCtx<'_, T>, axis: usize, index: AuxRange) -> Tensor<T> {
    let (dims, index) = ctx.aux(index).split_at(ctx.input(0).ndim());
    ctx.tangent_or_zeros(0).gather(axis as isize, index, dims)
}

// ---- scatter_add --------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// `self` with each element of `source` (shape `index_dims`) added at
    /// the position [`gather`](Var::gather) would read it from, repeated
    /// positions adding up (PyTorch's out-of-place `scatter_add`): for
    /// `axis = 1` of a 2-d input, `out[i][index[i][j]] += source[i][j]`.
    /// The adjoint of `gather`, which is its rule.
    ///
    /// Derivatives: `self` gets the gradient unchanged, `source` gets
    /// `g.gather(axis, index, index_dims)`.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor, Tensor};
    /// let tape = Tape::<f64>::new();
    /// let base = tape.var(Tensor::zeros(&[2, 3]));
    /// let src = tape.var(tensor![[1.], [2.]]);
    /// let y = base.scatter_add(1, &[2, 0], &[2, 1], src);
    /// assert_eq!(y.value().to_vec(), vec![0., 0., 1., 2., 0., 0.]);
    /// ```
    ///
    /// # Panics
    /// As [`gather`](Var::gather), and if `source`'s shape is not
    /// `index_dims`.
    pub fn scatter_add(
        self,
        axis: isize,
        index: &[usize],
        index_dims: &[usize],
        source: Var<'t, T>,
    ) -> Var<'t, T> {
        let a = resolve_axis("scatter_add", axis, &self.shape());
        let mut aux = index_dims.to_vec();
        aux.extend_from_slice(index);
        let r = self.tape.push_aux(&aux);
        let op = Op::Shape(ShapeOp::ScatterAdd { axis: a, index: r });
        self.tape.apply(op, &[self, source], |v| {
            let mut out = v[0].clone();
            out.scatter_add_assign(axis, index, index_dims, v[1]);
            out
        })
    }
}

/// `scatter_add`'s rule: the base passes straight through; each source
/// element reached the position it was added at.
pub(super) fn scatter_add_backward<T: Float>(
    ctx: &mut BackwardCtx<'_, T>,
    axis: usize,
    index: AuxRange,
) {
    let g = ctx.grad_out();
    if ctx.needs(1) {
        let (dims, index) = ctx.aux(index).split_at(g.ndim());
        ctx.add(1, g.gather(axis as isize, index, dims));
    }
    if ctx.needs(0) {
        ctx.add(0, g.clone());
    }
}

/// On the tape: the same, with [`Var::gather`].
pub(super) fn scatter_add_backward_on_tape<T: Float>(
    ctx: &mut GraphCtx<'_, '_, T>,
    axis: usize,
    index: AuxRange,
) {
    let g = ctx.grad_out();
    if ctx.needs(1) {
        let aux = ctx.aux(index);
        let (dims, index) = aux.split_at(g.ndim());
        ctx.add(1, g.gather(axis as isize, index, dims));
    }
    ctx.add(0, g);
}

/// Forward mode: the linear map applied to the tangents.
pub(super) fn scatter_add_jvp<T: Float>(
    ctx: &JvpCtx<'_, T>,
    axis: usize,
    index: AuxRange,
) -> Tensor<T> {
    let mut t = ctx.tangent_or_zeros(0);
    let (dims, index) = ctx.aux(index).split_at(t.ndim());
    t.scatter_add_assign(axis as isize, index, dims, &ctx.tangent_or_zeros(1));
    t
}
