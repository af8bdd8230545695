//! Matrix product, batched over leading axes that broadcast.
//!
//! The backward rule multiplies by transposed operands without copying them:
//! [`Tensor::matmul_t`] reads an operand's last two axes transposed through
//! its strides. Where batch axes were broadcast, the rule produces one
//! gradient per batch entry and the tape sums them back to the operand's
//! shape, as for any broadcasting op.
//!
//! Each op is one section: its `Var` method, its forward, then its rules:
//! backward, the backward recorded on the tape (`Tape::grad`; products of
//! vars with transposed vars, which broadcast and sum back the same way)
//! and forward mode (`d(a b) = da b + a db`).

use super::Op;
use crate::tape::{BackwardCtx, GraphCtx, JvpCtx, Var};
use crate::tensor::{Float, MatLayout, Tensor, gemm_into, worth_parallel_gemm};
use std::fmt;

/// The matrix-product ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulOp {
    /// `a @ b` over the last two axes, batched over the others.
    Matmul,
    /// `x @ w^T (+ b)`: a linear layer, with `w` stored `[out, in]` as
    /// PyTorch stores it and read transposed in place; inputs `[x, w]` or
    /// `[x, w, b]`.
    Linear,
}

impl MatmulOp {
    /// Adds each input's share of the gradient, skipping inputs that need
    /// none (a product with constant data computes only the other side).
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            MatmulOp::Matmul => matmul_backward(ctx),
            MatmulOp::Linear => linear_backward(ctx),
        }
    }

    /// Records each input's share of the gradient on the tape, as vars
    /// (for [`Tape::grad`](crate::Tape::grad)); both ops have one.
    pub(crate) fn backward_on_tape<T: Float>(self, ctx: &mut GraphCtx<'_, '_, T>) {
        match self {
            MatmulOp::Matmul => matmul_backward_on_tape(ctx),
            MatmulOp::Linear => linear_backward_on_tape(ctx),
        }
    }

    /// The forward-mode rule: the output's tangent from the inputs' (see
    /// [`JvpCtx`]): the product rule, one product per input with a tangent.
    pub(crate) fn jvp<T: Float>(self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        match self {
            MatmulOp::Matmul => matmul_jvp(ctx),
            MatmulOp::Linear => linear_jvp(ctx),
        }
    }
}

impl fmt::Display for MatmulOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatmulOp::Matmul => f.write_str("matmul"),
            MatmulOp::Linear => f.write_str("linear"),
        }
    }
}

// ---- matmul -------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// Matrix product `self @ other`, batched over leading axes.
    ///
    /// Forward: `y[.., i, j] = sum_k a[.., i, k] b[.., k, j]`.
    /// Derivatives: `da = g b^T`, `db = a^T g` (computed with transposed
    /// reads, no copies), summed over batch axes that were broadcast.
    ///
    /// Shapes: `[.., m, k] x [.., k, n] -> [.., m, n]`; both operands need
    /// at least 2 axes, and the leading (batch) axes broadcast as NumPy's,
    /// so `[2, 1, 3, 4] x [5, 4, 2] -> [2, 5, 3, 2]`.
    ///
    /// # Panics
    /// If an operand has fewer than 2 axes, the inner sizes differ
    /// (`matmul: inner dimensions differ: [2, 3] x [4, 5]`), or the batch
    /// axes do not broadcast (`matmul: batch dimensions [2] and [3] do not
    /// broadcast: [2, 3, 4] x [3, 4, 5]`).
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let a = tape.var(tensor![[1.0, 2.0]]);      // 1 x 2
    /// let b = tape.var(tensor![[3.0], [4.0]]);    // 2 x 1
    /// let y = a.matmul(b);                         // [[1*3 + 2*4]]
    /// assert_eq!(y.item(), 11.0);
    /// let g = y.sum().backward();
    /// assert_eq!(g.wrt(a).to_vec(), vec![3.0, 4.0]); // g b^T
    /// assert_eq!(g.wrt(b).to_vec(), vec![1.0, 2.0]); // a^T g
    /// ```
    pub fn matmul(self, other: Var<'t, T>) -> Var<'t, T> {
        self.tape
            .apply(Op::Matmul(MatmulOp::Matmul), &[self, other], |v| {
                v[0].matmul(v[1])
            })
    }
}

/// `matmul`'s rule: `y = a b` gives `da = g b^T`, `db = a^T g` (per batch
/// entry), each computed only if wanted.
fn matmul_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>) {
    let (a, b, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    if ctx.needs(0) {
        ctx.add(0, g.matmul_t(b, false, true));
    }
    if ctx.needs(1) {
        ctx.add(1, weight_grad(a, b, g));
    }
}

/// `a^T g`, summed over batch entries where `b` was broadcast.
///
/// The common case of a 2-d `b` shared by a batched `a` (a linear layer on
/// `[batch, seq, features]`) stacks all of `a`'s rows into one matrix, so
/// the batch sum happens inside a single product instead of materialising
/// one `k x n` gradient per batch entry.
fn weight_grad<T: Float>(a: &Tensor<T>, b: &Tensor<T>, g: &Tensor<T>) -> Tensor<T> {
    if b.ndim() == 2 && a.ndim() > 2 {
        let (k, n) = (b.shape()[0], b.shape()[1]);
        let rows: usize = a.shape()[..a.ndim() - 1].iter().product();
        let a2 = a.reshape(&[rows, k]);
        let g2 = g.reshape(&[rows, n]);
        a2.matmul_t(&g2, true, false)
    } else {
        a.matmul_t(g, true, false)
    }
}

/// On the tape: `da = g b^T`, `db = a^T g`, as products of vars; `add`
/// sums them over broadcast batch axes.
fn matmul_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>) {
    let (a, b, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    if ctx.needs(0) {
        ctx.add(0, g.matmul(b.transpose(-2, -1)));
    }
    if ctx.needs(1) {
        ctx.add(1, a.transpose(-2, -1).matmul(g));
    }
}

/// Forward mode: `da b + a db`, skipping a missing tangent.
fn matmul_jvp<T: Float>(ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let (a, b) = (ctx.input(0), ctx.input(1));
    match (ctx.tangent(0), ctx.tangent(1)) {
        (Some(da), Some(db)) => &da.matmul(b) + &a.matmul(db),
        (Some(da), None) => da.matmul(b),
        (None, Some(db)) => a.matmul(db),
        (None, None) => Tensor::zeros(ctx.output().shape()),
    }
}

// ---- linear -------------------------------------------------------------

impl<'t, T: Float> Var<'t, T> {
    /// A linear map, `self @ weight^T (+ bias)`, fused into one node.
    ///
    /// `self: [.., in]`, `weight: [out, in]` (PyTorch's layout, read
    /// transposed without a copy), `bias: [out]`; the result is `[.., out]`.
    /// Derivatives: `dx = g w`, `dw = g^T x`, `db = sum of g over rows`.
    ///
    /// # Panics
    /// If the feature sizes differ (`linear: input features differ from the
    /// weight's: [4, 3] x [2, 5]`) or the bias does not have `out` elements.
    ///
    /// ```
    /// # use tapegrad::{Tape, tensor};
    /// let tape = Tape::<f64>::new();
    /// let x = tape.constant(tensor![[1.0, 2.0]]);
    /// let w = tape.var(tensor![[3.0, 4.0], [5.0, 6.0]]);
    /// let b = tape.var(tensor![0.5, -0.5]);
    /// let y = x.linear(w, Some(b));
    /// assert_eq!(y.value().to_vec(), vec![11.5, 16.5]);
    /// ```
    pub fn linear(self, weight: Var<'t, T>, bias: Option<Var<'t, T>>) -> Var<'t, T> {
        let op = Op::Matmul(MatmulOp::Linear);
        match bias {
            Some(b) => self.tape.apply(op, &[self, weight, b], |v| {
                linear_forward(v[0], v[1], Some(v[2]))
            }),
            None => self
                .tape
                .apply(op, &[self, weight], |v| linear_forward(v[0], v[1], None)),
        }
    }
}

/// `x @ w^T + b` with `x: [.., in]`, `w: [out, in]`, `b: [out]`.
///
/// # Panics
/// If the shapes do not fit, naming `linear` and the shapes.
fn linear_forward<T: Float>(x: &Tensor<T>, w: &Tensor<T>, b: Option<&Tensor<T>>) -> Tensor<T> {
    assert!(
        w.ndim() == 2 && x.ndim() >= 1 && x.shape()[x.ndim() - 1] == w.shape()[1],
        "linear: input features differ from the weight's: {:?} x {:?}",
        x.shape(),
        w.shape()
    );
    let (out_f, in_f) = (w.shape()[0], w.shape()[1]);
    if let Some(b) = b {
        assert!(
            b.shape() == [out_f],
            "linear: bias shape {:?} does not match weight {:?}",
            b.shape(),
            w.shape()
        );
    }
    let rows = x.numel() / in_f.max(1);
    let mut dims = crate::tensor::Shape::from_slice(x.shape());
    let last = dims.len() - 1;
    dims[last] = out_f;
    let mut result = Tensor::pooled_zeros(dims);
    let out = result.as_mut_slice();
    if let Some(b) = b {
        // Start from the bias and let the product accumulate onto it.
        for row in out.chunks_exact_mut(out_f.max(1)) {
            row.copy_from_slice(b.as_slice());
        }
    }
    gemm_into(
        rows,
        out_f,
        in_f,
        out,
        x.as_slice(),
        MatLayout::row_major(in_f),
        w.as_slice(),
        MatLayout::transposed(in_f),
        b.is_some(),
    );
    result
}

/// `linear`'s rule: `y = x w^T + b` over rows of `x` gives `dx = g w`,
/// `dw = g^T x`, `db = sum_rows g`.
fn linear_backward<T: Float>(ctx: &mut BackwardCtx<'_, T>) {
    let (x, w, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    let (out_f, in_f) = (w.shape()[0], w.shape()[1]);
    let rows = x.numel() / in_f.max(1);
    let g2 = g.reshape(&[rows, out_f]);
    let input_grad = || g2.matmul(w).reshape(x.shape());
    let weight_grad = || g2.matmul_t(&x.reshape(&[rows, in_f]), true, false);
    match (ctx.needs(0), ctx.needs(1)) {
        (true, true) if worth_parallel_gemm(rows * out_f * in_f) => {
            // Two independent products: one per thread, each
            // running serially, scale better than two products
            // each split over the threads in turn.
            let (dx, dw) = rayon::join(input_grad, weight_grad);
            ctx.add(0, dx);
            ctx.add(1, dw);
        }
        (needs_x, needs_w) => {
            if needs_x {
                ctx.add(0, input_grad());
            }
            if needs_w {
                ctx.add(1, weight_grad());
            }
        }
    }
    if ctx.num_inputs() == 3 && ctx.needs(2) {
        ctx.add(2, g2.sum_axes(&[0], false));
    }
}

/// On the tape: the same three products over the rows of `x`, as vars.
fn linear_backward_on_tape<T: Float>(ctx: &mut GraphCtx<'_, '_, T>) {
    let (x, w, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
    let (dims, wd) = (x.shape(), w.shape());
    let (out_f, in_f) = (wd[0], wd[1]);
    let rows = dims.iter().product::<usize>() / in_f.max(1);
    let g2 = g.reshape(&[rows, out_f]);
    if ctx.needs(0) {
        ctx.add(0, g2.matmul(w).reshape(&dims));
    }
    if ctx.needs(1) {
        ctx.add(1, g2.t().matmul(x.reshape(&[rows, in_f])));
    }
    if ctx.num_inputs() == 3 && ctx.needs(2) {
        ctx.add(2, g2.sum_axes(&[0], false));
    }
}

/// Forward mode: `dx w^T + db` (one fused product) plus `x dw^T`, skipping
/// missing tangents.
fn linear_jvp<T: Float>(ctx: &JvpCtx<'_, T>) -> Tensor<T> {
    let (x, w) = (ctx.input(0), ctx.input(1));
    let db = if ctx.num_inputs() == 3 {
        ctx.tangent(2)
    } else {
        None
    };
    let through_x = (ctx.tangent(0).is_some() || db.is_some())
        .then(|| linear_forward(&ctx.tangent_or_zeros(0), w, db));
    let through_w = ctx.tangent(1).map(|dw| linear_forward(x, dw, None));
    match (through_x, through_w) {
        (Some(a), Some(b)) => &a + &b,
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => Tensor::zeros(ctx.output().shape()),
    }
}
