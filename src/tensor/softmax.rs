//! Softmax, log-softmax and cross-entropy kernels, all numerically stable:
//! the maximum along the axis is subtracted before exponentiating, so no
//! `exp` sees a positive argument and logits of 1000 stay finite.
//!
//! A softmax along axis `a` of a tensor sees it as `[outer, len, inner]`
//! (`len` the size of axis `a`); each `[len, inner]` block is independent.
//! Inside a block, the loops run over whole `inner`-long rows so that they
//! stay contiguous whatever the axis.

use super::parallel::for_each_chunk;
use super::simd::vectorize;
use super::{Float, Shape, Tensor, worth_parallel};

/// Elements one task handles at least (whole blocks or rows), so that the
/// dispatch to wide vectors is paid once for many short rows.
const TASK_ELEMS: usize = 4096;

/// Independent partial results per reduction: the loops over a row keep
/// `LANES` running maxima or sums (one vector's worth), combined at the
/// end, so that they vectorise without reordering a single sum.
const LANES: usize = 8;

/// `(outer, len, inner)` of a tensor seen along `axis`; a 0-d tensor is one
/// block of one element (as PyTorch allows `softmax` of a scalar).
pub(crate) fn axis_layout(dims: &[usize], axis: usize) -> (usize, usize, usize) {
    if dims.is_empty() {
        return (1, 1, 1);
    }
    let outer = dims[..axis].iter().product();
    let inner = dims[axis + 1..].iter().product();
    (outer, dims[axis], inner)
}

/// Scratch rows reused across the blocks one worker handles.
type Scratch<T> = (Vec<T>, Vec<T>);

/// The work on one `[len, inner]` block: `block(scratch, o, inputs, out,
/// inner)` for block `o`, its slices of the inputs and of the output.
/// Implementations are `#[inline(always)]`, so that the whole loop lands
/// inside pulp's wide function (a closure this large would not be inlined
/// there and would run as baseline SSE code).
trait BlockKernel<T: Float>: Copy + Sync + Send {
    fn block(self, s: &mut Scratch<T>, o: usize, src: &[&[T]], dst: &mut [T], inner: usize);
}

/// Consecutive blocks from `first` on, as one unit of work for `pulp`.
struct Blocks<'a, T: Float, K> {
    kernel: K,
    inputs: &'a [&'a Tensor<T>],
    scratch: &'a mut Scratch<T>,
    dst: &'a mut [T],
    first: usize,
    block: usize,
    inner: usize,
}

impl<T: Float, K: BlockKernel<T>> pulp::WithSimd for Blocks<'_, T, K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let block = self.block;
        for (k, dst) in self.dst.chunks_mut(block).enumerate() {
            let o = self.first + k;
            let srcs: smallvec::SmallVec<[&[T]; 2]> = self
                .inputs
                .iter()
                .map(|t| &t.as_slice()[o * block..(o + 1) * block])
                .collect();
            self.kernel.block(self.scratch, o, &srcs, dst, self.inner);
        }
    }
}

/// Runs `kernel` over the `[len, inner]` blocks of the output; `inputs`
/// are tensors of the same shape as the output. Blocks are handed out
/// several at a time, each batch through pulp's dispatch.
fn each_block<T: Float, K: BlockKernel<T>>(
    inputs: &[&Tensor<T>],
    axis: usize,
    kernel: K,
) -> Tensor<T> {
    let x = inputs[0];
    let (_, len, inner) = axis_layout(x.shape(), axis);
    let block = len * inner;
    let per_task = (TASK_ELEMS / block.max(1)).max(1);
    let mut result = Tensor::pooled_zeros(Shape::from_slice(x.shape()));
    let parallel = worth_parallel(x.numel());
    for_each_chunk(
        result.as_mut_slice(),
        block * per_task,
        parallel,
        || (Vec::with_capacity(inner), Vec::with_capacity(inner)),
        |scratch, c, dst| {
            pulp::Arch::new().dispatch(Blocks {
                kernel,
                inputs,
                scratch,
                dst,
                first: c * per_task,
                block,
                inner,
            })
        },
    );
    result
}

/// `max(m, v)`, keeping NaN from either side.
#[inline(always)]
fn max_nan<T: Float>(m: T, v: T) -> T {
    if v > m || v.is_nan() { v } else { m }
}

/// The maximum of a row (NaN if it holds one; `-inf` if empty).
#[inline(always)]
fn row_max<T: Float>(row: &[T]) -> T {
    let mut acc = [T::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = max_nan(acc[i], c[i]);
        }
    }
    acc.iter()
        .chain(rest)
        .fold(T::NEG_INFINITY, |m, &v| max_nan(m, v))
}

/// `sum_i f(a[i], b[i])` over two rows of the same length, with
/// [`LANES`] partial sums combined at the end.
#[inline(always)]
pub(super) fn row_sum<T: Float>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> T {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::ZERO; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (ca, cb) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += f(ca[i], cb[i]);
        }
    }
    let mut s = acc.iter().fold(T::ZERO, |s, &v| s + v);
    for (&x, &y) in ra.iter().zip(rb) {
        s += f(x, y);
    }
    s
}

/// `y = e^(x - m)` over a row, returning `sum y` ([`LANES`] partial sums).
#[inline(always)]
fn exp_row<T: Float>(x: &[T], m: T, y: &mut [T]) -> T {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &mut y[..n]);
    let mut acc = [T::ZERO; LANES];
    let mut cy = y.chunks_exact_mut(LANES);
    let cx = x.chunks_exact(LANES);
    let rx = cx.remainder();
    for (cx, cy) in cx.zip(&mut cy) {
        for i in 0..LANES {
            cy[i] = (cx[i] - m).exp();
            acc[i] += cy[i];
        }
    }
    let mut s = acc.iter().fold(T::ZERO, |s, &v| s + v);
    for (y, &x) in cy.into_remainder().iter_mut().zip(rx) {
        *y = (x - m).exp();
        s += *y;
    }
    s
}

/// The maximum of each column of `x [len, inner]` into `m`.
#[inline(always)]
fn column_max<T: Float>(x: &[T], inner: usize, m: &mut Vec<T>) {
    m.clear();
    m.extend_from_slice(&x[..inner]);
    for row in x.chunks(inner).skip(1) {
        for (m, &v) in m.iter_mut().zip(row) {
            *m = max_nan(*m, v);
        }
    }
}

/// `softmax` (or `log_softmax` when `log`) of one contiguous row.
#[inline(always)]
fn softmax_row<T: Float>(x: &[T], y: &mut [T], log: bool) {
    let m = row_max(x);
    let s = exp_row(x, m, y);
    if log {
        // log_softmax = (x - m) - ln sum exp(x - m)
        let lse = s.ln();
        for (y, &x) in y.iter_mut().zip(x) {
            *y = (x - m) - lse;
        }
    } else {
        let r = T::ONE / s;
        y.iter_mut().for_each(|y| *y *= r);
    }
}

/// The forward kernel: softmax (or log-softmax when `log`) of each block;
/// with `causal > 0` (the last axis only, blocks being rows of `[.., Lq,
/// Lk]` with `Lq = causal`), row `i` covers keys `0..=i` and the later
/// ones get weight exactly 0.
#[derive(Clone, Copy)]
struct Forward {
    log: bool,
    causal: usize,
}

impl<T: Float> BlockKernel<T> for Forward {
    #[inline(always)]
    fn block(self, (m, s): &mut Scratch<T>, o: usize, src: &[&[T]], y: &mut [T], inner: usize) {
        let (x, log) = (src[0], self.log);
        if self.causal > 0 {
            let seen = (o % self.causal + 1).min(x.len());
            softmax_row(&x[..seen], &mut y[..seen], log);
            y[seen..].fill(T::ZERO);
            return;
        }
        if inner == 1 {
            return softmax_row(x, y, log);
        }
        column_max(x, inner, m);
        s.clear();
        s.resize(inner, T::ZERO);
        if log {
            // log_softmax = (x - m) - ln sum exp(x - m)
            for row in x.chunks(inner) {
                for i in 0..inner {
                    s[i] += (row[i] - m[i]).exp();
                }
            }
            s.iter_mut().for_each(|s| *s = s.ln());
            for (yr, row) in y.chunks_mut(inner).zip(x.chunks(inner)) {
                for i in 0..inner {
                    yr[i] = (row[i] - m[i]) - s[i];
                }
            }
        } else {
            for (yr, row) in y.chunks_mut(inner).zip(x.chunks(inner)) {
                for i in 0..inner {
                    yr[i] = (row[i] - m[i]).exp();
                    s[i] += yr[i];
                }
            }
            s.iter_mut().for_each(|s| *s = T::ONE / *s);
            for yr in y.chunks_mut(inner) {
                yr.iter_mut().zip(s.iter()).for_each(|(y, &r)| *y *= r);
            }
        }
    }
}

/// `softmax` (or `log_softmax` when `log`) of `x` along `axis` (resolved).
pub(crate) fn softmax<T: Float>(x: &Tensor<T>, axis: usize, log: bool) -> Tensor<T> {
    each_block(&[x], axis, Forward { log, causal: 0 })
}

/// Softmax over the last axis of `x [.., Lq, Lk]` (at least 2 axes) where
/// query `i` sees keys `0..=i` only: the same as adding `-inf` after the
/// diagonal first, without the addition.
pub(crate) fn causal_softmax<T: Float>(x: &Tensor<T>) -> Tensor<T> {
    let nd = x.ndim();
    let causal = x.shape()[nd - 2];
    if causal == 0 {
        return Tensor::pooled_zeros(Shape::from_slice(x.shape()));
    }
    each_block(&[x], nd - 1, Forward { log: false, causal })
}

/// The input gradient of one contiguous row; see [`softmax_backward`].
#[inline(always)]
fn softmax_backward_row<T: Float>(y: &[T], g: &[T], dx: &mut [T], log: bool) {
    if log {
        let s = row_sum(g, g, |g, _| g);
        for (d, (&y, &g)) in dx.iter_mut().zip(y.iter().zip(g)) {
            *d = g - y.exp() * s;
        }
    } else {
        let s = row_sum(g, y, |g, y| g * y);
        for (d, (&y, &g)) in dx.iter_mut().zip(y.iter().zip(g)) {
            *d = y * (g - s);
        }
    }
}

/// The input gradient of `softmax` (or `log_softmax` when `log`) along
/// `axis`, from the op's output `y` and the incoming gradient `g`:
/// - softmax: `y * (g - sum(g * y))`;
/// - log_softmax: `g - exp(y) * sum(g)`;
///
/// with the sums along the axis.
pub(crate) fn softmax_backward<T: Float>(
    y: &Tensor<T>,
    g: &Tensor<T>,
    axis: usize,
    log: bool,
) -> Tensor<T> {
    each_block(&[y, g], axis, Backward { log, causal: 0 })
}

/// The input gradient of [`causal_softmax`] (softmax's rule, the hidden
/// keys, whose weight is 0, getting 0 without being visited).
pub(crate) fn causal_softmax_backward<T: Float>(y: &Tensor<T>, g: &Tensor<T>) -> Tensor<T> {
    let nd = y.ndim();
    let causal = y.shape()[nd - 2];
    if causal == 0 {
        return Tensor::pooled_zeros(Shape::from_slice(y.shape()));
    }
    each_block(&[y, g], nd - 1, Backward { log: false, causal })
}

/// The backward kernel; see [`softmax_backward`]. `causal` as in
/// [`Forward`].
#[derive(Clone, Copy)]
struct Backward {
    log: bool,
    causal: usize,
}

impl<T: Float> BlockKernel<T> for Backward {
    #[inline(always)]
    fn block(self, (s, _): &mut Scratch<T>, o: usize, src: &[&[T]], dx: &mut [T], inner: usize) {
        let (y, g, log) = (src[0], src[1], self.log);
        if self.causal > 0 {
            let seen = (o % self.causal + 1).min(y.len());
            softmax_backward_row(&y[..seen], &g[..seen], &mut dx[..seen], log);
            dx[seen..].fill(T::ZERO);
            return;
        }
        if inner == 1 {
            return softmax_backward_row(y, g, dx, log);
        }
        s.clear();
        s.resize(inner, T::ZERO);
        for (yr, gr) in y.chunks(inner).zip(g.chunks(inner)) {
            for i in 0..inner {
                s[i] += if log { gr[i] } else { gr[i] * yr[i] };
            }
        }
        let rows = dx
            .chunks_mut(inner)
            .zip(y.chunks(inner).zip(g.chunks(inner)));
        for (dr, (yr, gr)) in rows {
            for i in 0..inner {
                dr[i] = if log {
                    gr[i] - yr[i].exp() * s[i]
                } else {
                    yr[i] * (gr[i] - s[i])
                };
            }
        }
    }
}

/// `max` and `ln sum exp(x - max)` of one row.
#[inline(always)]
fn row_lse<T: Float>(row: &[T]) -> (T, T) {
    let m = row_max(row);
    let s = row_sum(row, row, |v, _| (v - m).exp());
    (m, s.ln())
}

/// Cross-entropy of row `i` of `logits [N, classes]` against `targets[i]`.
#[inline(always)]
fn row_loss<T: Float>(logits: &[T], classes: usize, targets: &[usize], i: usize) -> T {
    let row = &logits[i * classes..(i + 1) * classes];
    let (m, lse) = row_lse(row);
    (m - row[targets[i]]) + lse
}

/// Mean cross-entropy of `logits [N, C]` (row-major) against class indices:
/// `mean_i (ln sum_j e^(x_ij) - x_i,t_i)`, computed as
/// `(m_i - x_i,t_i) + ln sum_j e^(x_ij - m_i)` with `m_i` the row maximum.
///
/// The per-row losses are summed in order, so the result does not depend
/// on the thread count. `targets` must already be checked against `C`.
pub(crate) fn cross_entropy<T: Float>(logits: &[T], classes: usize, targets: &[usize]) -> T {
    let n = targets.len();
    let total = if worth_parallel(logits.len()) {
        // Losses by batches of rows over the threads, then summed in row
        // order as below, so the result does not depend on the thread count.
        let per_task = (TASK_ELEMS / classes.max(1)).max(1);
        let mut losses = vec![T::ZERO; n];
        for_each_chunk(
            &mut losses,
            per_task,
            true,
            || (),
            |_, c, out| {
                vectorize(|| {
                    for (k, l) in out.iter_mut().enumerate() {
                        *l = row_loss(logits, classes, targets, c * per_task + k);
                    }
                })
            },
        );
        losses.into_iter().fold(T::ZERO, |s, l| s + l)
    } else {
        // No list of losses in the small case (no allocation).
        vectorize(|| (0..n).fold(T::ZERO, |s, i| s + row_loss(logits, classes, targets, i)))
    };
    total / T::from_usize(n)
}

/// Gradient of [`cross_entropy`] with respect to the logits, times `scale`
/// (the incoming gradient): `scale * (softmax(x_i) - onehot(t_i)) / N`.
pub(crate) fn cross_entropy_backward<T: Float>(
    logits: &[T],
    classes: usize,
    targets: &[usize],
    scale: T,
    dx: &mut [T],
) {
    let parallel = worth_parallel(logits.len());
    let per_row = scale / T::from_usize(targets.len());
    let per_task = (TASK_ELEMS / classes.max(1)).max(1);
    for_each_chunk(
        dx,
        classes * per_task,
        parallel,
        || (),
        |_, c, dx| {
            vectorize(|| {
                for (k, d) in dx.chunks_mut(classes).enumerate() {
                    let i = c * per_task + k;
                    let row = &logits[i * classes..(i + 1) * classes];
                    let (m, lse) = row_lse(row);
                    for (d, &v) in d.iter_mut().zip(row) {
                        *d = per_row * (v - m - lse).exp();
                    }
                    d[targets[i]] -= per_row;
                }
            })
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_along_a_middle_axis_matches_per_column_formula() {
        // x [1, 2, 2]: along axis 1 the columns are (0, ln 2) and (ln 3, 0).
        let x = Tensor::<f64>::from_vec(vec![0.0, 3f64.ln(), 2f64.ln(), 0.0], &[1, 2, 2]).unwrap();
        let y = softmax(&x, 1, false);
        // column 0: e^0 / (e^0 + e^ln2) = 1/3; column 1: 3 / (3 + 1) = 3/4
        let want = [1.0 / 3.0, 0.75, 2.0 / 3.0, 0.25];
        for (a, b) in y.as_slice().iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
