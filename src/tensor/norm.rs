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
//!
//! Layer norm (groups that are contiguous rows) has its own fused kernels,
//! [`layer_norm_rows`] and [`layer_norm_rows_backward`]: one pass per block
//! of rows computes the statistics and the result (or all three
//! gradients), inside pulp's wide function.

use super::parallel::for_each_chunk;
use super::simd::vectorize;
use super::softmax::row_sum;
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

/// Normalises each group of `x`, as `xhat = ((x - p) - m) * rstd` with the
/// statistics of [`statistics`].
pub(crate) fn normalize<T: Float>(x: &[T], l: Groups, eps: T) -> Normalized<T> {
    let stats = statistics(x, l);
    let rstd: Vec<T> = stats
        .iter()
        .map(|s| T::ONE / (s.var + eps).sqrt())
        .collect();
    let mut xhat = vec![T::ZERO; x.len()];
    l.map_runs(&mut xhat, |g, start, dst| {
        let (s, r) = (stats[g], rstd[g]);
        for (d, &v) in dst.iter_mut().zip(&x[start..]) {
            *d = ((v - s.pivot) - s.shifted_mean) * r;
        }
    });
    Normalized {
        xhat,
        mean: stats.iter().map(|s| s.pivot + s.shifted_mean).collect(),
        var: stats.iter().map(|s| s.var).collect(),
        rstd,
    }
}

/// A group's statistics, with the mean kept as `pivot + shifted_mean`.
///
/// The pivot is one of the group's own elements, so `x - pivot` is exact
/// for values close together (Sterbenz) and the sums run over small
/// numbers: the mean of values around 1e4 with spread 1e-2 keeps its
/// digits in f32, where summing the values themselves would lose them
/// (the sum's rounding error, ~1e-3 per add at 1e6, is spread's size).
/// Deviations are then formed as `(x - pivot) - shifted_mean`, never as
/// `x - mean`: the mean rounded to f32 near 1e4 is off by up to 5e-4, which
/// would shift every deviation by that much. A group of equal values gets
/// exactly mean = the value and variance 0.
#[derive(Clone, Copy, Default)]
struct Stats<T> {
    pivot: T,
    shifted_mean: T,
    /// Biased variance (divided by the group size).
    var: T,
}

/// Per-group statistics: two passes (the shifted mean, then the squared
/// deviations), as before the pivot; the pivot costs one subtraction per
/// element and no pass.
fn statistics<T: Float>(x: &[T], l: Groups) -> Vec<Stats<T>> {
    let n = T::from_usize(l.size());
    l.map_groups(|g| {
        let pivot = l
            .runs(x, g)
            .next()
            .map_or(T::ZERO, |r| r.first().copied().unwrap_or(T::ZERO));
        let shifted_mean = l.sums(x, x, g, |v| v - pivot, |_, _| T::ZERO).0 / n;
        let dev = |v: T| (v - pivot) - shifted_mean;
        let var = l.sums(x, x, g, |v| dev(v) * dev(v), |_, _| T::ZERO).0 / n;
        Stats {
            pivot,
            shifted_mean,
            var,
        }
    })
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

/// Rows per block of the layer-norm kernels: one task's work, and the unit
/// whose parameter gradients are summed before the blocks are added in
/// order (so the sums do not depend on the thread count).
const ROW_BLOCK: usize = 32;

/// Pivot, shifted mean and `1 / sqrt(var + eps)` of one row, as
/// [`statistics`] (the row's first element as the pivot): deviations are
/// `(x - pivot) - shifted_mean`.
#[inline(always)]
fn row_stats<T: Float>(x: &[T], eps: T) -> (T, T, T) {
    let n = T::from_usize(x.len());
    let pivot = x.first().copied().unwrap_or(T::ZERO);
    let m = row_sum(x, x, |v, _| v - pivot) / n;
    let var = row_sum(x, x, |v, _| ((v - pivot) - m) * ((v - pivot) - m)) / n;
    (pivot, m, T::ONE / (var + eps).sqrt())
}

/// Runs `f(block_index, block, piece)` over `ROW_BLOCK`-row blocks of `out`
/// (rows of `d`), each with its `part`-long piece of `parts` (one per block).
fn each_row_block<T: Float>(
    out: &mut [T],
    d: usize,
    parts: &mut [T],
    part: usize,
    f: impl Fn(usize, &mut [T], &mut [T]) + Sync + Send,
) {
    let chunk = ROW_BLOCK * d;
    if out.is_empty() || d == 0 || part == 0 {
        return;
    }
    if worth_parallel(out.len()) {
        use rayon::prelude::*;
        out.par_chunks_mut(chunk)
            .zip(parts.par_chunks_mut(part))
            .enumerate()
            .for_each(|(i, (o, p))| f(i, o, p));
    } else {
        for (i, (o, p)) in out
            .chunks_mut(chunk)
            .zip(parts.chunks_mut(part))
            .enumerate()
        {
            f(i, o, p);
        }
    }
}

/// Layer norm of the `d`-long rows of `x` into `y`, fused: statistics and
/// `xhat * w + b` in one pass per row.
struct LayerNormRows<'a, T> {
    x: &'a [T],
    y: &'a mut [T],
    d: usize,
    eps: T,
    w: Option<&'a [T]>,
    b: Option<&'a [T]>,
}

impl<T: Float> pulp::WithSimd for LayerNormRows<'_, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let d = self.d;
        for (x, y) in self.x.chunks_exact(d).zip(self.y.chunks_exact_mut(d)) {
            let (p, mu, r) = row_stats(x, self.eps);
            let xy = x.iter().zip(y.iter_mut());
            match (self.w, self.b) {
                (Some(w), Some(b)) => {
                    for ((&v, y), (&w, &b)) in xy.zip(w[..d].iter().zip(&b[..d])) {
                        *y = ((v - p) - mu) * r * w + b;
                    }
                }
                (Some(w), None) => {
                    for ((&v, y), &w) in xy.zip(&w[..d]) {
                        *y = ((v - p) - mu) * r * w;
                    }
                }
                (None, Some(b)) => {
                    for ((&v, y), &b) in xy.zip(&b[..d]) {
                        *y = ((v - p) - mu) * r + b;
                    }
                }
                (None, None) => {
                    for (&v, y) in xy {
                        *y = ((v - p) - mu) * r;
                    }
                }
            }
        }
    }
}

/// Layer norm over rows of `d` (`x` holds whole rows), with the affine
/// map `xhat * w + b` (each optional, `d` values) fused in: one pass per
/// block of rows. The same values as [`normalize`] with
/// `Groups { outer: 1, groups: rows, inner: d }`, then the affine map.
pub(crate) fn layer_norm_rows<T: Float>(
    x: &[T],
    d: usize,
    eps: T,
    w: Option<&[T]>,
    b: Option<&[T]>,
    y: &mut [T],
) {
    if d == 0 {
        return;
    }
    let parallel = worth_parallel(y.len());
    for_each_chunk(
        y,
        ROW_BLOCK * d,
        parallel,
        || (),
        |_, i, y| {
            let x = &x[i * ROW_BLOCK * d..][..y.len()];
            pulp::Arch::new().dispatch(LayerNormRows { x, y, d, eps, w, b });
        },
    );
}

/// The backward pass of layer norm over one block of rows; see
/// [`layer_norm_rows_backward`].
struct LayerNormBack<'a, T> {
    x: &'a [T],
    g: &'a [T],
    w: &'a [T],
    eps: T,
    dx: &'a mut [T],
    /// `[dw (d values), db (d values)]` of this block, zeroed.
    part: &'a mut [T],
}

impl<T: Float> pulp::WithSimd for LayerNormBack<'_, T> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let d = self.w.len();
        let n = T::from_usize(d);
        let w = self.w;
        let (pw, pb) = self.part.split_at_mut(d);
        let (pw, pb) = (&mut pw[..d], &mut pb[..d]);
        let rows = self.x.chunks_exact(d).zip(self.g.chunks_exact(d));
        for ((x, g), dx) in rows.zip(self.dx.chunks_exact_mut(d)) {
            let (p, mu, r) = row_stats(x, self.eps);
            // mean(g w) and mean(g w xhat), xhat = ((x - p) - mu) r
            let a = row_sum(g, w, |g, w| g * w) / n;
            let mut acc = [T::ZERO; LANES];
            let (cg, cx, cw) = (
                g.chunks_exact(LANES),
                x.chunks_exact(LANES),
                w.chunks_exact(LANES),
            );
            let (rg, rx, rw) = (cg.remainder(), cx.remainder(), cw.remainder());
            for ((cg, cx), cw) in cg.zip(cx).zip(cw) {
                for i in 0..LANES {
                    acc[i] += cg[i] * cw[i] * (((cx[i] - p) - mu) * r);
                }
            }
            for (i, ((&g, &x), &w)) in rg.iter().zip(rx).zip(rw).enumerate() {
                acc[i] += g * w * (((x - p) - mu) * r);
            }
            let b = acc.iter().fold(T::ZERO, |s, &v| s + v) / n;
            for i in 0..d {
                let xh = ((x[i] - p) - mu) * r;
                dx[i] = r * (g[i] * w[i] - a - xh * b);
                pw[i] += g[i] * xh;
                pb[i] += g[i];
            }
        }
    }
}

/// Gradients of layer norm over rows of `d`, `y = xhat * w + b` with
/// `xhat = (x - mean) * rstd` per row, given `g = dL/dy`; `w` is the weight
/// (`None`: all ones). Returns `(dx, dw, db)`, `dx` written into `dx`:
///
/// - `dx = rstd * (g w - mean(g w) - xhat * mean(g w xhat))` per row;
/// - `dw = sum over rows of g * xhat`, `db = sum over rows of g`.
///
/// One pass per block of rows, the statistics recomputed from `x` (two
/// reads of a row that is in cache anyway); the parameter sums are formed
/// per block and the blocks added in order.
pub(crate) fn layer_norm_rows_backward<T: Float>(
    x: &[T],
    g: &[T],
    d: usize,
    eps: T,
    w: Option<&[T]>,
    dx: &mut [T],
) -> (Vec<T>, Vec<T>) {
    let ones;
    let w = match w {
        Some(w) => &w[..d],
        None => {
            ones = vec![T::ONE; d];
            &ones[..]
        }
    };
    let blocks = (x.len() / d.max(1)).div_ceil(ROW_BLOCK);
    let mut parts = vec![T::ZERO; blocks * 2 * d];
    each_row_block(dx, d, &mut parts, 2 * d, |i, dx, part| {
        let at = i * ROW_BLOCK * d;
        let (x, g) = (&x[at..at + dx.len()], &g[at..at + dx.len()]);
        pulp::Arch::new().dispatch(LayerNormBack {
            x,
            g,
            w,
            eps,
            dx,
            part,
        });
    });
    let (mut dw, mut db) = (vec![T::ZERO; d], vec![T::ZERO; d]);
    for p in parts.chunks_exact(2 * d.max(1)) {
        let (pw, pb) = p.split_at(d);
        dw.iter_mut().zip(pw).for_each(|(s, &v)| *s += v);
        db.iter_mut().zip(pb).for_each(|(s, &v)| *s += v);
    }
    (dw, db)
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
    /// Rows of `d` from a fixed pseudo-random sequence (no rng needed).
    fn wave(n: usize, k: f64) -> Vec<f64> {
        (0..n).map(|i| (i as f64 * k).sin() * 3.0 + 0.5).collect()
    }

    #[test]
    fn fused_layer_norm_matches_the_general_path() {
        // 70 rows of 13: three blocks (the last partial), odd row length.
        let (rows, d) = (70, 13);
        let (x, g) = (wave(rows * d, 0.7), wave(rows * d, 1.3));
        let (w, b) = (wave(d, 2.1), wave(d, 0.3));
        let l = Groups {
            outer: 1,
            groups: rows,
            inner: d,
        };
        let eps = 1e-5;
        // General path: normalise, affine, then the shared backward rule.
        let nz = normalize(&x, l, eps);
        let mut y = vec![0.0; x.len()];
        layer_norm_rows(&x, d, eps, Some(&w), Some(&b), &mut y);
        for (i, (&y, &xh)) in y.iter().zip(&nz.xhat).enumerate() {
            let want = xh * w[i % d] + b[i % d];
            assert!((y - want).abs() < 1e-12, "y[{i}] {y} vs {want}");
        }
        let dxhat: Vec<f64> = g.iter().enumerate().map(|(i, g)| g * w[i % d]).collect();
        let want_dx = normalize_backward(&nz.xhat, &dxhat, &nz.rstd, l);
        let mut dx = vec![0.0; x.len()];
        let (dw, db) = layer_norm_rows_backward(&x, &g, d, eps, Some(&w), &mut dx);
        for (i, (a, b)) in dx.iter().zip(&want_dx).enumerate() {
            assert!((a - b).abs() < 1e-12, "dx[{i}] {a} vs {b}");
        }
        for j in 0..d {
            let sw: f64 = (0..rows).map(|r| g[r * d + j] * nz.xhat[r * d + j]).sum();
            let sb: f64 = (0..rows).map(|r| g[r * d + j]).sum();
            assert!((dw[j] - sw).abs() < 1e-12, "dw[{j}] {} vs {sw}", dw[j]);
            assert!((db[j] - sb).abs() < 1e-12, "db[{j}] {} vs {sb}", db[j]);
        }
        // Without a weight, the rule is the same with w = 1.
        let mut dx1 = vec![0.0; x.len()];
        layer_norm_rows_backward(&x, &g, d, eps, None, &mut dx1);
        let want1 = normalize_backward(&nz.xhat, &g, &nz.rstd, l);
        for (a, b) in dx1.iter().zip(&want1) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
