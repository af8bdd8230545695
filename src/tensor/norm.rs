//! Normalisation kernels shared by layer norm and batch norm.
//!
//! Both bring groups of elements to zero mean and unit (biased) variance.
//! Seen as `[outer, groups, inner]`, group `g` is every element `[o, g, i]`:
//! - layer norm over the last `D` elements is `[1, rows, D]` (a group is a row);
//! - batch norm of `[N, C, *]` is `[N, C, S]` (a group is a channel, `S` the
//!   product of the trailing axes).
//!
//! Statistics are computed several groups per task and the elementwise
//! passes go over `inner`-long runs (whose group is their index modulo
//! `groups`), each batch inside [`vectorize`]; sums keep several partial
//! sums so that they vectorise, in an order fixed by the shape alone.

use super::parallel::for_each_chunk;
use super::simd::vectorize;
use super::{Float, worth_parallel};

/// Elements one task handles at least (whole runs or groups), so that the
/// dispatch to wide vectors is paid once for many short runs.
const TASK_ELEMS: usize = 4096;

/// Independent partial sums per reduction (one vector's worth), combined
/// at the end, so that the sums vectorise without reordering a single sum.
const LANES: usize = 8;

/// How a tensor splits into normalisation groups; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Groups {
    pub outer: usize,
    pub groups: usize,
    pub inner: usize,
}

impl Groups {
    /// Elements in each group.
    pub(crate) fn size(&self) -> usize {
        self.outer * self.inner
    }

    fn parallel(&self) -> bool {
        worth_parallel(self.outer * self.groups * self.inner)
    }

    /// The `inner`-long runs of group `g` in `x`.
    #[inline(always)]
    fn runs<'a, T>(&self, x: &'a [T], g: usize) -> impl Iterator<Item = &'a [T]> {
        let Groups { groups, inner, .. } = *self;
        (0..self.outer).map(move |o| &x[(o * groups + g) * inner..][..inner])
    }

    /// Writes `f(g, start, dst_run)` over every run of `dst` (`start` its
    /// offset, `g` its group), several runs per task inside [`vectorize`].
    fn map_runs<T: Float>(&self, dst: &mut [T], f: impl Fn(usize, usize, &mut [T]) + Sync + Send) {
        let (groups, inner) = (self.groups, self.inner);
        let per_task = (TASK_ELEMS / inner.max(1)).max(1);
        for_each_chunk(
            dst,
            inner * per_task,
            self.parallel(),
            || (),
            |_, c, d| {
                vectorize(|| {
                    for (j, d) in d.chunks_mut(inner).enumerate() {
                        let k = c * per_task + j;
                        f(k % groups, k * inner, d);
                    }
                })
            },
        );
    }

    /// `f(g)` for every group, in order, several groups per task inside
    /// [`vectorize`].
    fn map_groups<R: Copy + Default + Send>(&self, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
        let per_task = (TASK_ELEMS / self.size().max(1)).max(1);
        let mut out = vec![R::default(); self.groups];
        for_each_chunk(
            &mut out,
            per_task,
            self.parallel(),
            || (),
            |_, c, o| {
                vectorize(|| {
                    for (j, r) in o.iter_mut().enumerate() {
                        *r = f(c * per_task + j);
                    }
                })
            },
        );
        out
    }

    /// `(sum f(a), sum f2(a, b))` over group `g` of `a` and `b` (same
    /// layout), each with [`LANES`] partial sums; the sum order depends
    /// only on the layout, not on threads.
    #[inline(always)]
    fn sums<T: Float>(
        &self,
        a: &[T],
        b: &[T],
        g: usize,
        f: impl Fn(T) -> T,
        f2: impl Fn(T, T) -> T,
    ) -> (T, T) {
        let mut acc = [T::ZERO; LANES];
        let mut acc2 = [T::ZERO; LANES];
        for (ra, rb) in self.runs(a, g).zip(self.runs(b, g)) {
            let (ca, cb) = (ra.chunks_exact(LANES), rb.chunks_exact(LANES));
            let (ta, tb) = (ca.remainder(), cb.remainder());
            for (ca, cb) in ca.zip(cb) {
                for i in 0..LANES {
                    acc[i] += f(ca[i]);
                    acc2[i] += f2(ca[i], cb[i]);
                }
            }
            for (i, (&x, &y)) in ta.iter().zip(tb).enumerate() {
                acc[i] += f(x);
                acc2[i] += f2(x, y);
            }
        }
        let total = |acc: [T; LANES]| acc.iter().fold(T::ZERO, |s, &v| s + v);
        (total(acc), total(acc2))
    }
}

/// The normalised values and the statistics behind them.
pub(crate) struct Normalized<T> {
    /// `(x - mean) * rstd`, shaped like the input.
    pub xhat: Vec<T>,
    /// Per-group mean.
    pub mean: Vec<T>,
    /// Per-group biased variance (divided by the group size).
    pub var: Vec<T>,
    /// Per-group `1 / sqrt(var + eps)`.
    pub rstd: Vec<T>,
}

/// Normalises each group of `x`. The variance is computed in a second pass
/// over `x - mean`, which loses no precision when the mean is large.
pub(crate) fn normalize<T: Float>(x: &[T], l: Groups, eps: T) -> Normalized<T> {
    let (mean, var, rstd) = statistics(x, l, eps);
    let mut xhat = vec![T::ZERO; x.len()];
    l.map_runs(&mut xhat, |g, start, dst| {
        let (mu, r) = (mean[g], rstd[g]);
        for (d, &v) in dst.iter_mut().zip(&x[start..]) {
            *d = (v - mu) * r;
        }
    });
    Normalized {
        xhat,
        mean,
        var,
        rstd,
    }
}

/// Per-group mean, biased variance and `1 / sqrt(var + eps)`.
fn statistics<T: Float>(x: &[T], l: Groups, eps: T) -> (Vec<T>, Vec<T>, Vec<T>) {
    let n = T::from_usize(l.size());
    let stats = l.map_groups(|g| {
        let mean = l.sums(x, x, g, |v| v, |_, _| T::ZERO).0 / n;
        let var = l
            .sums(x, x, g, |v| (v - mean) * (v - mean), |_, _| T::ZERO)
            .0
            / n;
        (mean, var)
    });
    let (mean, var): (Vec<T>, Vec<T>) = stats.into_iter().unzip();
    let rstd: Vec<T> = var.iter().map(|&v| T::ONE / (v + eps).sqrt()).collect();
    (mean, var, rstd)
}

/// [`normalize`] then `xhat * w + b` in the same pass, for parameters that
/// run along each `inner`-long run (layer norm's): `w` and `b` (each
/// optional) hold `inner` values. The same roundings as normalising, then
/// multiplying, then adding.
pub(crate) fn normalize_affine<T: Float>(
    x: &[T],
    l: Groups,
    eps: T,
    w: Option<&[T]>,
    b: Option<&[T]>,
) -> Vec<T> {
    let (mean, _, rstd) = statistics(x, l, eps);
    let inner = l.inner;
    let mut y = vec![T::ZERO; x.len()];
    l.map_runs(&mut y, |g, start, dst| {
        let (mu, r) = (mean[g], rstd[g]);
        let src = x[start..start + inner].iter().zip(dst.iter_mut());
        match (w, b) {
            (Some(w), Some(b)) => {
                for ((&v, d), (&w, &b)) in src.zip(w[..inner].iter().zip(&b[..inner])) {
                    *d = (v - mu) * r * w + b;
                }
            }
            (Some(w), None) => {
                for ((&v, d), &w) in src.zip(&w[..inner]) {
                    *d = (v - mu) * r * w;
                }
            }
            (None, Some(b)) => {
                for ((&v, d), &b) in src.zip(&b[..inner]) {
                    *d = (v - mu) * r + b;
                }
            }
            (None, None) => {
                for (&v, d) in src {
                    *d = (v - mu) * r;
                }
            }
        }
    });
    y
}

/// The gradient with respect to `x` of `xhat = (x - mean) * rstd`, given
/// `dxhat`, the gradient with respect to `xhat`:
///
/// `dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`,
///
/// means taken over each group. (The mean term comes from `x` moving the
/// mean; the last from `x` moving the variance: `d var / dx_k = 2 (x_k - mean) / n`.)
pub(crate) fn normalize_backward<T: Float>(
    xhat: &[T],
    dxhat: &[T],
    rstd: &[T],
    l: Groups,
) -> Vec<T> {
    let n = T::from_usize(l.size());
    let means = l.map_groups(|g| {
        let (a, b) = l.sums(dxhat, xhat, g, |d| d, |d, x| d * x);
        (a / n, b / n)
    });
    let mut dx = vec![T::ZERO; xhat.len()];
    l.map_runs(&mut dx, |g, start, dst| {
        let ((a, b), r) = (means[g], rstd[g]);
        let runs = xhat[start..].iter().zip(&dxhat[start..]);
        for (d, (&x, &dy)) in dst.iter_mut().zip(runs) {
            *d = r * (dy - a - x * b);
        }
    });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_groups_normalise_across_batch_and_space() {
        // [N=2, C=2, S=1]: channel 0 holds {1, 3}, channel 1 holds {10, 10}.
        let x = [1.0, 10.0, 3.0, 10.0];
        let l = Groups {
            outer: 2,
            groups: 2,
            inner: 1,
        };
        let nz = normalize(&x, l, 0.0f64);
        // channel 0: mean 2, biased var 1 -> xhat = -1, 1
        assert_eq!(nz.mean, vec![2.0, 10.0]);
        assert_eq!(nz.var, vec![1.0, 0.0]);
        assert_eq!(nz.xhat[0], -1.0);
        assert_eq!(nz.xhat[2], 1.0);
    }
}
