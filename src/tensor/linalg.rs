//! Matrix multiply. The `gemm` crate supplies the kernels (it picks AVX2,
//! FMA or AVX-512 code at run time), so one binary runs well on any x86-64.
//!
//! Operands are described by strides, which is how matmul's backward pass
//! multiplies by a transposed matrix without ever copying it.

use super::shape::{Shape, numel, try_broadcast_shapes};
use super::strided::broadcast_strides;
use super::{Float, Tensor};
use rayon::prelude::*;

/// How a matrix sits in a slice: element `(i, j)` is at
/// `i * row_stride + j * col_stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatLayout {
    /// Distance between vertically adjacent elements.
    pub row_stride: usize,
    /// Distance between horizontally adjacent elements.
    pub col_stride: usize,
}

impl MatLayout {
    /// A row-major matrix with `cols` columns.
    pub fn row_major(cols: usize) -> Self {
        MatLayout {
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns, read in place.
    pub fn transposed(cols: usize) -> Self {
        MatLayout {
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Largest offset touched by an `rows x cols` matrix, plus one.
    fn extent(self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * self.row_stride + (cols - 1) * self.col_stride + 1
        }
    }
}

/// Work (multiply-adds) below which a product runs on the calling thread.
const GEMM_PARALLEL_WORK: usize = 1 << 18;

/// Whether `work` multiply-adds are worth splitting over the pool from
/// here: enough work, a second thread, and not already on a pool thread.
pub(crate) fn worth_parallel_gemm(work: usize) -> bool {
    work >= GEMM_PARALLEL_WORK
        && rayon::current_num_threads() > 1
        && rayon::current_thread_index().is_none()
}

/// `dst (m x n, row-major) = a (m x k) * b (k x n)`, or `+=` when
/// `accumulate` is set.
///
/// # Panics
/// If a slice is too short for the sizes and layouts given.
#[allow(clippy::too_many_arguments)]
pub fn gemm_into<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    a: &[T],
    la: MatLayout,
    b: &[T],
    lb: MatLayout,
    accumulate: bool,
) {
    assert!(
        dst.len() >= m * n,
        "gemm: destination holds {} < {m} x {n}",
        dst.len()
    );
    assert!(
        a.len() >= la.extent(m, k),
        "gemm: left operand too short for {m} x {k}"
    );
    assert!(
        b.len() >= lb.extent(k, n),
        "gemm: right operand too short for {k} x {n}"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::ZERO);
        }
        return;
    }
    // A product called from a pool thread is already one of several pieces
    // of parallel work (a sample of a convolution, one of a layer's two
    // backward products): splitting it again only adds hand-offs.
    let parallelism = if worth_parallel_gemm(m * n * k) {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above prove that every offset the kernel reads,
    // `i * row_stride + j * col_stride` for i < rows and j < cols, lies inside
    // `a` and `b`, and that the m x n row-major destination lies inside `dst`.
    // `dst` is borrowed mutably, so it cannot alias `a` or `b`. T is f32 or
    // f64, which the gemm crate supports (it dispatches on the type id).
    // With `read_dst == false`, alpha is ignored and dst is overwritten.
    #[allow(unsafe_code)] // the crate's one unsafe call; see SAFETY above
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            la.col_stride as isize,
            la.row_stride as isize,
            b.as_ptr(),
            lb.col_stride as isize,
            lb.row_stride as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Shapes of a (batched) matrix product: batch dims broadcast, inner dims agree.
///
/// Returns `(batch_shape, m, k, n)`.
///
/// # Panics
/// If either operand has fewer than 2 axes, the inner sizes differ, or the
/// batch axes do not broadcast; each message names matmul and both full
/// shapes.
pub(crate) fn matmul_dims(a: &[usize], b: &[usize]) -> (Shape, usize, usize, usize) {
    assert!(
        a.len() >= 2 && b.len() >= 2,
        "matmul: both operands need at least 2 axes: {a:?} x {b:?}"
    );
    let (m, k) = (a[a.len() - 2], a[a.len() - 1]);
    let (k2, n) = (b[b.len() - 2], b[b.len() - 1]);
    assert!(k == k2, "matmul: inner dimensions differ: {a:?} x {b:?}");
    let (ba, bb) = (&a[..a.len() - 2], &b[..b.len() - 2]);
    let batch = try_broadcast_shapes(ba, bb).unwrap_or_else(|| {
        panic!("matmul: batch dimensions {ba:?} and {bb:?} do not broadcast: {a:?} x {b:?}")
    });
    (batch, m, k, n)
}

impl<T: Float> Tensor<T> {
    /// Matrix product, batched over leading axes that broadcast.
    ///
    /// `[.., m, k] x [.., k, n] -> [.., m, n]`. With `ta` or `tb` set, the
    /// last two axes of that operand are read transposed (no copy is made):
    /// `matmul_t(b, false, true)` is `a @ b^T`.
    ///
    /// # Panics
    /// If an operand has fewer than 2 axes, the inner sizes differ, or the
    /// batch axes do not broadcast.
    pub fn matmul_t(&self, other: &Tensor<T>, ta: bool, tb: bool) -> Tensor<T> {
        let sa = transposed_dims(self.shape(), ta);
        let sb = transposed_dims(other.shape(), tb);
        let (batch, m, k, n) = matmul_dims(&sa, &sb);
        let mut out_shape = batch.clone();
        out_shape.extend_from_slice(&[m, n]);
        let mut result = Tensor::pooled_zeros(out_shape);
        let out = result.as_mut_slice();
        let layout = |cols_stored: usize, t: bool| {
            if t {
                MatLayout::transposed(cols_stored)
            } else {
                MatLayout::row_major(cols_stored)
            }
        };
        let la = layout(self.shape()[self.ndim() - 1], ta);
        let lb = layout(other.shape()[other.ndim() - 1], tb);
        let (a, b) = (self.as_slice(), other.as_slice());
        let (ma, mb) = (m * k, k * n);
        let bsa = broadcast_strides(&self.shape()[..self.ndim() - 2], &batch);
        let bsb = broadcast_strides(&other.shape()[..other.ndim() - 2], &batch);
        let batches = numel(&batch);
        // Offsets of batch entry t's operands, from its index over `batch`.
        let offsets = |t: usize| {
            let (mut oa, mut ob, mut rem) = (0, 0, t);
            for ax in (0..batch.len()).rev() {
                let i = rem % batch[ax];
                rem /= batch[ax];
                oa += i * bsa[ax] * ma;
                ob += i * bsb[ax] * mb;
            }
            (oa, ob)
        };
        let product = |t: usize, out: &mut [T]| {
            let (oa, ob) = offsets(t);
            gemm_into(m, n, k, out, &a[oa..], la, &b[ob..], lb, false);
        };
        // Many small products (attention heads) go one per task; a few large
        // ones are split inside the GEMM instead. Either way each entry is
        // computed the same way, so the result does not depend on threads.
        let mn = (m * n).max(1);
        if batches > 1 && m * n * k < GEMM_PARALLEL_WORK && worth_parallel_gemm(batches * m * n * k)
        {
            out.par_chunks_mut(mn)
                .enumerate()
                .for_each(|(t, o)| product(t, o));
        } else {
            for (t, o) in out.chunks_mut(mn).enumerate().take(batches) {
                product(t, o);
            }
        }
        result
    }

    /// Matrix product `self @ other`; see [`matmul_t`](Tensor::matmul_t).
    pub fn matmul(&self, other: &Tensor<T>) -> Tensor<T> {
        self.matmul_t(other, false, false)
    }
}

fn transposed_dims(s: &[usize], t: bool) -> Shape {
    let mut s = Shape::from_slice(s);
    let n = s.len();
    if t && n >= 2 {
        s.swap(n - 2, n - 1);
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::Tensor;

    #[test]
    fn matmul_matches_hand_product_and_transposes_in_place() {
        let a = Tensor::<f64>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[2, 3]).unwrap();
        let b = Tensor::<f64>::from_vec(vec![1., 0., 0., 1., 1., 1.], &[3, 2]).unwrap();
        // [[1+0+3, 0+2+3], [4+0+6, 0+5+6]]
        assert_eq!(a.matmul(&b).to_vec(), vec![4., 5., 10., 11.]);
        // a @ a^T = [[14, 32], [32, 77]]
        assert_eq!(
            a.matmul_t(&a, false, true).to_vec(),
            vec![14., 32., 32., 77.]
        );
        // a^T @ a is 3 x 3; its corner is 1*1 + 4*4
        let ata = a.matmul_t(&a, true, false);
        assert_eq!(ata.shape(), &[3, 3]);
        assert_eq!(ata.get(&[0, 0]), 17.);
    }

    #[test]
    #[should_panic(expected = "matmul: inner dimensions differ: [2, 3] x [4, 5]")]
    fn inner_mismatch_names_both_shapes() {
        Tensor::<f32>::zeros(&[2, 3]).matmul(&Tensor::zeros(&[4, 5]));
    }

    #[test]
    #[should_panic(
        expected = "matmul: batch dimensions [2] and [5] do not broadcast: [2, 3, 4] x [5, 4, 6]"
    )]
    fn batch_mismatch_names_both_full_shapes() {
        Tensor::<f32>::zeros(&[2, 3, 4]).matmul(&Tensor::zeros(&[5, 4, 6]));
    }
}
