//! Normalisation kernels shared by layer norm and batch norm.
//!
//! Both bring groups of elements to zero mean and unit (biased) variance.
//! Seen as `[outer, groups, inner]`, group `g` is every element `[o, g, i]`:
//! - layer norm over the last `D` elements is `[1, rows, D]` (a group is a row);
//! - batch norm of `[N, C, *]` is `[N, C, S]` (a group is a channel, `S` the
//!   product of the trailing axes).
//!
//! Statistics are computed one group per task; the elementwise passes go
//! over `inner`-long runs, whose group is their index modulo `groups`.

use super::parallel::{for_each_chunk, map_indices};
use super::{Float, worth_parallel};

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
    fn runs<'a, T>(&self, x: &'a [T], g: usize) -> impl Iterator<Item = &'a [T]> {
        let Groups { groups, inner, .. } = *self;
        (0..self.outer).map(move |o| &x[(o * groups + g) * inner..][..inner])
    }

    /// Writes `f(g, src_run, dst_run)` over every run of `dst`.
    fn map_runs<T: Float>(&self, dst: &mut [T], f: impl Fn(usize, usize, &mut [T]) + Sync + Send) {
        let (groups, inner) = (self.groups, self.inner);
        for_each_chunk(
            dst,
            inner,
            self.parallel(),
            || (),
            |_, k, d| f(k % groups, k * inner, d),
        );
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
    let n = T::from_usize(l.size());
    let stats = map_indices(l.groups, l.parallel(), |g| {
        let mean = l.runs(x, g).flatten().copied().sum::<T>() / n;
        let var = l
            .runs(x, g)
            .flatten()
            .map(|&v| (v - mean) * (v - mean))
            .sum::<T>()
            / n;
        (mean, var)
    });
    let (mean, var): (Vec<T>, Vec<T>) = stats.into_iter().unzip();
    let rstd: Vec<T> = var.iter().map(|&v| T::ONE / (v + eps).sqrt()).collect();
    let mut xhat = vec![T::ZERO; x.len()];
    l.map_runs(&mut xhat, |g, start, dst| {
        for (d, &v) in dst.iter_mut().zip(&x[start..]) {
            *d = (v - mean[g]) * rstd[g];
        }
    });
    Normalized {
        xhat,
        mean,
        var,
        rstd,
    }
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
    let means = map_indices(l.groups, l.parallel(), |g| {
        let (mut a, mut b) = (T::ZERO, T::ZERO);
        for (xr, dr) in l.runs(xhat, g).zip(l.runs(dxhat, g)) {
            for (&x, &d) in xr.iter().zip(dr) {
                a += d;
                b += d * x;
            }
        }
        (a / n, b / n)
    });
    let mut dx = vec![T::ZERO; xhat.len()];
    l.map_runs(&mut dx, |g, start, dst| {
        let (a, b) = means[g];
        let runs = xhat[start..].iter().zip(&dxhat[start..]);
        for (d, (&x, &dy)) in dst.iter_mut().zip(runs) {
            *d = rstd[g] * (dy - a - x * b);
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
