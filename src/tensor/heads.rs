//! Per-head matrix products of multi-head attention, reading and writing
//! the heads in place inside `[N, L, E]` tensors.
//!
//! Attention splits the `E` features of each position into `H` heads of
//! `d = E / H`. Head `h` of sample `s` is the `[L, d]` matrix whose row `i`
//! is `x[s, i, h*d .. (h+1)*d]`: a matrix with row stride `E`, which the
//! GEMM reads directly, so the heads need no `[N, L, H, d] -> [N, H, L, d]`
//! copy. A product whose result is such a head is formed in a small
//! scratch matrix and its rows copied into place.
//!
//! Work is split by sample (every head of a sample in one task), so each
//! product is computed the same way whatever the thread count.

use super::parallel::for_each_chunk;
use super::{Float, MatLayout, gemm_into, worth_parallel};

/// One operand of the per-head products: the matrix for sample `s`, head
/// `h` starts at `s * sample + h * head` in `data` and is read through
/// `layout`.
#[derive(Clone, Copy)]
pub(crate) struct HeadOperand<'a, T> {
    pub data: &'a [T],
    pub sample: usize,
    pub head: usize,
    pub layout: MatLayout,
}

impl<'a, T> HeadOperand<'a, T> {
    /// Head `h` of sample `s` of a `[N, L, E]` tensor (`E = heads * d`),
    /// transposed (`[d, L]`) if `t`.
    pub(crate) fn merged(data: &'a [T], l: usize, e: usize, d: usize, t: bool) -> Self {
        let layout = MatLayout {
            row_stride: if t { 1 } else { e },
            col_stride: if t { e } else { 1 },
        };
        HeadOperand {
            data,
            sample: l * e,
            head: d,
            layout,
        }
    }

    /// Matrix `[s, h]` of a `[N, H, rows, cols]` tensor, transposed if `t`.
    pub(crate) fn split(data: &'a [T], heads: usize, rows: usize, cols: usize, t: bool) -> Self {
        let layout = if t {
            MatLayout::transposed(cols)
        } else {
            MatLayout::row_major(cols)
        };
        HeadOperand {
            data,
            sample: heads * rows * cols,
            head: rows * cols,
            layout,
        }
    }

    #[inline]
    fn at(&self, s: usize, h: usize) -> &'a [T] {
        &self.data[s * self.sample + h * self.head..]
    }
}

/// `out[s, h] = a[s, h] @ b[s, h]` (`[m, k] x [k, n]`) for every sample
/// and head. With `merged` false, `out` is `[N, H, m, n]`; with `merged`
/// true it is `[N, m, H * n]`, head `h` of each row in columns
/// `h*n .. (h+1)*n`.
pub(crate) fn head_products<T: Float>(
    out: &mut [T],
    heads: usize,
    (m, n, k): (usize, usize, usize),
    a: HeadOperand<'_, T>,
    b: HeadOperand<'_, T>,
    merged: bool,
) {
    let per_sample = heads * m * n;
    if per_sample == 0 {
        return;
    }
    let parallel = worth_parallel(out.len());
    for_each_chunk(
        out,
        per_sample,
        parallel,
        || {
            if merged {
                vec![T::ZERO; m * n]
            } else {
                Vec::new()
            }
        },
        |tmp, s, out| {
            for h in 0..heads {
                let (pa, pb) = (a.at(s, h), b.at(s, h));
                if merged {
                    gemm_into(m, n, k, tmp, pa, a.layout, pb, b.layout, false);
                    let w = heads * n;
                    for (row, src) in out.chunks_exact_mut(w).zip(tmp.chunks_exact(n)) {
                        row[h * n..(h + 1) * n].copy_from_slice(src);
                    }
                } else {
                    let dst = &mut out[h * m * n..(h + 1) * m * n];
                    gemm_into(m, n, k, dst, pa, a.layout, pb, b.layout, false);
                }
            }
        },
    );
}
