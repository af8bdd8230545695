//! Softmax, log-softmax and cross-entropy kernels, all numerically stable:
//! the maximum along the axis is subtracted before exponentiating, so no
//! `exp` sees a positive argument and logits of 1000 stay finite.
//!
//! A softmax along axis `a` of a tensor sees it as `[outer, len, inner]`
//! (`len` the size of axis `a`); each `[len, inner]` block is independent.
//! Inside a block, the loops run over whole `inner`-long rows so that they
//! stay contiguous whatever the axis.

use super::parallel::{for_each_chunk, map_indices};
use super::{Float, Shape, Tensor, worth_parallel};

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

/// Runs `f(scratch, block_in..., block_out)` over the `[len, inner]` blocks
/// of the output; `inputs` are tensors of the same shape as the output.
fn each_block<T: Float>(
    inputs: &[&Tensor<T>],
    axis: usize,
    f: impl Fn(&mut Scratch<T>, &[&[T]], &mut [T], usize) + Sync + Send,
) -> Tensor<T> {
    let x = inputs[0];
    let (_, len, inner) = axis_layout(x.shape(), axis);
    let block = len * inner;
    let mut out = vec![T::ZERO; x.numel()];
    let parallel = worth_parallel(x.numel());
    for_each_chunk(
        &mut out,
        block,
        parallel,
        || (Vec::with_capacity(inner), Vec::with_capacity(inner)),
        |s, o, dst| {
            let srcs: smallvec::SmallVec<[&[T]; 2]> = inputs
                .iter()
                .map(|t| &t.as_slice()[o * block..(o + 1) * block])
                .collect();
            f(s, &srcs, dst, inner);
        },
    );
    Tensor::from_parts(Shape::from_slice(x.shape()), out)
}

/// The maximum of each column of `x [len, inner]` into `m`.
fn column_max<T: Float>(x: &[T], inner: usize, m: &mut Vec<T>) {
    m.clear();
    m.extend_from_slice(&x[..inner]);
    for row in x.chunks(inner).skip(1) {
        for (m, &v) in m.iter_mut().zip(row) {
            if v > *m || v.is_nan() {
                *m = v;
            }
        }
    }
}

/// `softmax` (or `log_softmax` when `log`) of `x` along `axis` (resolved).
pub(crate) fn softmax<T: Float>(x: &Tensor<T>, axis: usize, log: bool) -> Tensor<T> {
    each_block(&[x], axis, |(m, s), src, y, inner| {
        let x = src[0];
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
    })
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
    each_block(&[y, g], axis, |(s, _), src, dx, inner| {
        let (y, g) = (src[0], src[1]);
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
    })
}

/// `max` and `ln sum exp(x - max)` of one row.
fn row_lse<T: Float>(row: &[T]) -> (T, T) {
    let m = row.iter().fold(
        T::NEG_INFINITY,
        |m, &v| if v > m || v.is_nan() { v } else { m },
    );
    let s: T = row.iter().map(|&v| (v - m).exp()).sum();
    (m, s.ln())
}

/// Mean cross-entropy of `logits [N, C]` (row-major) against class indices:
/// `mean_i (ln sum_j e^(x_ij) - x_i,t_i)`, computed as
/// `(m_i - x_i,t_i) + ln sum_j e^(x_ij - m_i)` with `m_i` the row maximum.
///
/// The per-row losses are summed in order, so the result does not depend
/// on the thread count. `targets` must already be checked against `C`.
pub(crate) fn cross_entropy<T: Float>(logits: &[T], classes: usize, targets: &[usize]) -> T {
    let parallel = worth_parallel(logits.len());
    let loss = |i: usize| {
        let row = &logits[i * classes..(i + 1) * classes];
        let (m, lse) = row_lse(row);
        (m - row[targets[i]]) + lse
    };
    // Summed in row order either way, so the result does not depend on
    // the thread count; the small case needs no list of losses.
    let total = if parallel {
        map_indices(targets.len(), true, loss)
            .into_iter()
            .sum::<T>()
    } else {
        (0..targets.len()).map(loss).sum::<T>()
    };
    total / T::from_usize(targets.len())
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
    for_each_chunk(
        dx,
        classes,
        parallel,
        || (),
        |_, i, d| {
            let row = &logits[i * classes..(i + 1) * classes];
            let (m, lse) = row_lse(row);
            for (d, &v) in d.iter_mut().zip(row) {
                *d = per_row * (v - m - lse).exp();
            }
            d[targets[i]] -= per_row;
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
