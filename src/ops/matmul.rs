//! Matrix product, batched over leading axes that broadcast.
//!
//! The backward rule multiplies by transposed operands without copying them:
//! [`Tensor::matmul_t`] reads an operand's last two axes transposed through
//! its strides. Where batch axes were broadcast, the rule produces one
//! gradient per batch entry and the tape sums them back to the operand's
//! shape, as for any broadcasting op.

use super::Op;
use crate::tape::{BackwardCtx, Var};
use crate::tensor::{Float, Tensor};
use std::fmt;

/// The matrix-product ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulOp {
    /// `a @ b` over the last two axes, batched over the others.
    Matmul,
}

impl MatmulOp {
    /// Computes the product.
    ///
    /// # Panics
    /// If an operand has fewer than 2 axes, the inner sizes differ, or the
    /// batch axes do not broadcast.
    pub fn forward<T: Float>(self, a: &Tensor<T>, b: &Tensor<T>) -> Tensor<T> {
        match self {
            MatmulOp::Matmul => a.matmul(b),
        }
    }

    /// Adds each input's share of the gradient, skipping inputs that need
    /// none (a product with constant data computes only the other side).
    pub(crate) fn backward<T: Float>(self, ctx: &mut BackwardCtx<'_, T>) {
        match self {
            MatmulOp::Matmul => {
                let (a, b, g) = (ctx.input(0), ctx.input(1), ctx.grad_out());
                // y = a b  =>  da = g b^T, db = a^T g  (per batch entry)
                if ctx.needs(0) {
                    ctx.add(0, g.matmul_t(b, false, true));
                }
                if ctx.needs(1) {
                    ctx.add(1, weight_grad(a, b, g));
                }
            }
        }
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

impl fmt::Display for MatmulOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatmulOp::Matmul => f.write_str("matmul"),
        }
    }
}

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
    /// axes do not broadcast.
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
        let op = MatmulOp::Matmul;
        self.tape
            .apply(Op::Matmul(op), &[self, other], |v| op.forward(v[0], v[1]))
    }
}
