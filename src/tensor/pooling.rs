//! Max and average pooling on `[N, C, H, W]` tensors, described by the same
//! [`Geom`] as a depthwise convolution (see `conv.rs`).

use super::geom::Geom;
use super::parallel::for_each_chunk;
use super::{Float, worth_parallel};
use std::ops::Range;

/// The input rows (or columns) under output `o`'s window, clipped to `0..n`.
fn window(o: usize, s: usize, p: usize, k: usize, n: usize) -> Range<usize> {
    let start = o * s;
    start.saturating_sub(p)..(start + k).saturating_sub(p).min(n)
}

/// Runs `f(i, src_i, dst_i)` for each of the `N * C` planes, `dst_i`
/// written in place; in parallel when the work is large.
fn each_plane<T: Float>(
    src: &[T],
    src_plane: usize,
    dst: &mut [T],
    dst_plane: usize,
    f: impl Fn(usize, &[T], &mut [T]) + Sync + Send,
) {
    let parallel = worth_parallel(src.len().max(dst.len()));
    for_each_chunk(
        dst,
        dst_plane,
        parallel,
        || (),
        |_, i, d| f(i, &src[i * src_plane..(i + 1) * src_plane], d),
    );
}

/// Flat index (within its plane) of the largest input under output
/// `(oy, ox)`'s window; the first one on ties, a NaN if there is one.
#[inline(always)]
fn window_argmax<T: Float>(plane: &[T], g: &Geom, oy: usize, ox: usize) -> usize {
    if g.ph == 0 && g.pw == 0 {
        // Without padding every window lies wholly inside the plane (the
        // output size is rounded down), so no tap needs clipping. ReLU
        // outputs tie often, so the choice is written without
        // short-circuits, which lets it compile to selects, not branches.
        let base = oy * g.sh * g.w + ox * g.sw;
        let (mut best, mut best_v) = (base, plane[base]);
        for ky in 0..g.kh {
            let row = base + ky * g.w;
            for (i, &v) in plane[row..row + g.kw].iter().enumerate() {
                let better = !best_v.is_nan() & ((v > best_v) | v.is_nan());
                best = if better { row + i } else { best };
                best_v = if better { v } else { best_v };
            }
        }
        return best;
    }
    let mut best: Option<(usize, T)> = None;
    for iy in window(oy, g.sh, g.ph, g.kh, g.h) {
        for ix in window(ox, g.sw, g.pw, g.kw, g.w) {
            let i = iy * g.w + ix;
            let v = plane[i];
            best = match best {
                Some((_, b)) if b.is_nan() || !(v > b || v.is_nan()) => best,
                _ => Some((i, v)),
            };
        }
    }
    best.expect("tapegrad bug: empty pooling window").0
}

/// The larger of two values, or a NaN if either is one.
#[inline(always)]
fn nan_max<T: Float>(a: T, b: T) -> T {
    if (a >= b) | a.is_nan() { a } else { b }
}

/// Max pooling forward: `[N, C, H, W] -> out [N, C, OH, OW]` (overwritten).
pub(crate) fn max_pool2d<T: Float>(x: &[T], g: &Geom, out: &mut [T]) {
    let out = &mut out[..g.batch * g.c_in * g.out_plane()];
    each_plane(x, g.in_plane(), out, g.out_plane(), |_, plane, out| {
        if (g.kh, g.kw, g.sh, g.sw, g.ph, g.pw) == (2, 2, 2, 2, 0, 0) {
            // The common 2x2 / stride 2 case, by column pairs without index
            // checks; the taps are folded in the same order as below.
            for (oy, out) in out.chunks_mut(g.ow).enumerate() {
                let (top, bottom) = plane[2 * oy * g.w..(2 * oy + 2) * g.w].split_at(g.w);
                let taps = top.chunks_exact(2).zip(bottom.chunks_exact(2));
                for ((t, b), o) in taps.zip(out.iter_mut()) {
                    *o = nan_max(nan_max(nan_max(t[0], t[1]), b[0]), b[1]);
                }
            }
            return;
        }
        if g.ph == 0 && g.pw == 0 {
            // Only the values are needed here: fold each tap into a whole
            // output row at a time (the backward pass finds the argmax).
            for (oy, out) in out.chunks_mut(g.ow).enumerate() {
                for ky in 0..g.kh {
                    let src = &plane[(oy * g.sh + ky) * g.w..];
                    for kx in 0..g.kw {
                        for (ox, o) in out.iter_mut().enumerate() {
                            let v = src[ox * g.sw + kx];
                            *o = if ky + kx == 0 { v } else { nan_max(*o, v) };
                        }
                    }
                }
            }
            return;
        }
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                out[oy * g.ow + ox] = plane[window_argmax(plane, g, oy, ox)];
            }
        }
    });
}

/// Max pooling backward: each output's gradient goes to its window's
/// argmax. `out` is the forward's output: with 2x2 windows, stride 2 and no
/// padding (the common case), the argmax is the first tap equal to the
/// output (or the first NaN when the output is NaN), which is cheaper than
/// scanning for the maximum again; other shapes search the input. The
/// gradient is added into `dx`, which the caller zeroes.
pub(crate) fn max_pool2d_backward<T: Float>(
    x: &[T],
    out: &[T],
    grad_out: &[T],
    g: &Geom,
    dx: &mut [T],
) {
    let dx = &mut dx[..x.len()];
    let fast = (g.kh, g.kw, g.sh, g.sw, g.ph, g.pw) == (2, 2, 2, 2, 0, 0);
    each_plane(grad_out, g.out_plane(), dx, g.in_plane(), |i, gp, dx| {
        let plane = &x[i * g.in_plane()..(i + 1) * g.in_plane()];
        if fast {
            let op = &out[i * g.out_plane()..(i + 1) * g.out_plane()];
            max_pool_2x2_backward(plane, op, gp, g, dx);
            return;
        }
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                dx[window_argmax(plane, g, oy, ox)] += gp[oy * g.ow + ox];
            }
        }
    });
}

/// Max pooling's tangent map, the transpose of [`max_pool2d_backward`]'s
/// scatter: each output takes `t` at its window's winner in `x` (the input
/// the backward pass routes that output's gradient to, the first one on
/// ties); writes `out` (overwritten).
pub(crate) fn max_pool2d_pick<T: Float>(x: &[T], t: &[T], g: &Geom, out: &mut [T]) {
    let out = &mut out[..g.batch * g.c_in * g.out_plane()];
    each_plane(t, g.in_plane(), out, g.out_plane(), |i, tp, op| {
        let plane = &x[i * g.in_plane()..(i + 1) * g.in_plane()];
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                op[oy * g.ow + ox] = tp[window_argmax(plane, g, oy, ox)];
            }
        }
    });
}

/// One plane of [`max_pool2d_backward`] for 2x2 windows, stride 2, no
/// padding. The windows do not overlap, so each input gets at most one
/// gradient: the four taps are written, not added, without branches. The
/// inputs no window covers (a last odd row or column) keep their zeros.
fn max_pool_2x2_backward<T: Float>(plane: &[T], out: &[T], gp: &[T], g: &Geom, dx: &mut [T]) {
    let (w, ow) = (g.w, g.ow);
    for oy in 0..g.oh {
        let (top, bottom) = plane[2 * oy * w..(2 * oy + 2) * w].split_at(w);
        let (dtop, dbottom) = dx[2 * oy * w..(2 * oy + 2) * w].split_at_mut(w);
        // Pairs of columns, walked by iterators so that no index is checked.
        let taps = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        let dtaps = dtop.chunks_exact_mut(2).zip(dbottom.chunks_exact_mut(2));
        let outs = out[oy * ow..(oy + 1) * ow]
            .iter()
            .zip(&gp[oy * ow..(oy + 1) * ow]);
        for (((t, b), (dt, db)), (&o, &gv)) in taps.zip(dtaps).zip(outs) {
            // A tap wins if it equals the maximum; when the maximum is NaN,
            // only NaN taps can (no other tap equals it).
            let hit = |v: T| (v == o) | v.is_nan();
            let ha = hit(t[0]);
            let hb = !ha & hit(t[1]);
            let hc = !ha & !hb & hit(b[0]);
            let hd = !ha & !hb & !hc;
            dt[0] = if ha { gv } else { T::ZERO };
            dt[1] = if hb { gv } else { T::ZERO };
            db[0] = if hc { gv } else { T::ZERO };
            db[1] = if hd { gv } else { T::ZERO };
        }
    }
}

/// Average pooling forward, dividing by the full kernel area even where the
/// window overlaps padding (PyTorch's `count_include_pad=True`); writes
/// `out` (overwritten).
pub(crate) fn avg_pool2d<T: Float>(x: &[T], g: &Geom, out: &mut [T]) {
    let out = &mut out[..g.batch * g.c_in * g.out_plane()];
    let inv_area = T::ONE / T::from_usize(g.kh * g.kw);
    each_plane(x, g.in_plane(), out, g.out_plane(), |_, plane, out| {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let mut s = T::ZERO;
                for iy in window(oy, g.sh, g.ph, g.kh, g.h) {
                    for ix in window(ox, g.sw, g.pw, g.kw, g.w) {
                        s += plane[iy * g.w + ix];
                    }
                }
                out[oy * g.ow + ox] = s * inv_area;
            }
        }
    });
}

/// Average pooling backward: each output's gradient, divided by the kernel
/// area, goes to every input under its window; added into `dx`, which the
/// caller zeroes.
pub(crate) fn avg_pool2d_backward<T: Float>(grad_out: &[T], g: &Geom, dx: &mut [T]) {
    let dx = &mut dx[..g.batch * g.c_in * g.in_plane()];
    let inv_area = T::ONE / T::from_usize(g.kh * g.kw);
    each_plane(grad_out, g.out_plane(), dx, g.in_plane(), |_, gp, dx| {
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let v = gp[oy * g.ow + ox] * inv_area;
                for iy in window(oy, g.sh, g.ph, g.kh, g.h) {
                    for ix in window(ox, g.sw, g.pw, g.kw, g.w) {
                        dx[iy * g.w + ix] += v;
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_pool_2x2_backward_matches_the_argmax_search() {
        // Odd and even sizes (odd ones leave a last row or column in no
        // window), values drawn from a few levels so that windows tie often,
        // and some NaNs: the fast path, which finds each window's winner by
        // comparing with the output, must route every gradient exactly as
        // the general search over the input does.
        for (n, c, h, w) in [(2, 3, 6, 6), (1, 2, 7, 5), (3, 1, 11, 11), (1, 1, 2, 3)] {
            let x: Vec<f64> = (0..n * c * h * w)
                .map(|i| match (i * 7919) % 23 {
                    0 => f64::NAN,
                    r => ((r % 4) as f64 - 1.0) * if r % 5 == 0 { -0.0 } else { 1.0 },
                })
                .collect();
            let g = Geom::pool2d("test", &[n, c, h, w], (2, 2), (2, 2), (0, 0));
            let mut out = vec![0.0; n * c * g.out_plane()];
            max_pool2d(&x, &g, &mut out);
            let grad: Vec<f64> = (0..out.len()).map(|i| 1.0 + i as f64).collect();
            let mut fast = vec![0.0; x.len()];
            max_pool2d_backward(&x, &out, &grad, &g, &mut fast);
            let mut slow = vec![0.0; x.len()];
            for i in 0..n * c {
                let plane = &x[i * h * w..(i + 1) * h * w];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let k = i * h * w + window_argmax(plane, &g, oy, ox);
                        let o = (i * g.oh + oy) * g.ow + ox;
                        // The forward's fast path gives the same value (the
                        // same bits: -0 and 0 tie, and the first one wins).
                        assert_eq!(out[o].to_bits(), x[k].to_bits(), "output {o}");
                        slow[k] += grad[o];
                    }
                }
            }
            assert_eq!(fast, slow, "shape {:?}", [n, c, h, w]);
        }
    }
}
