//! 2-d convolution on `[N, C, H, W]` tensors (im2col + GEMM). The window
//! geometry it shares with pooling is in `geom.rs`, the pooling kernels in
//! `pooling.rs`.
//!
//! A convolution unfolds each sample's input into a column matrix (im2col):
//! one row per (input channel, kernel row, kernel column), one column per
//! output position. The output of a group of channels is then the product
//! `weight [C_out/g, C_in/g * kH * kW] x cols [C_in/g * kH * kW, OH * OW]`,
//! which the GEMM kernel does well. The backward pass reuses the same
//! matrices: the weight gradient is `grad_out x cols^T`, and the input
//! gradient is `weight^T x grad_out` folded back onto the input (col2im).
//!
//! Samples are independent, so large batches are spread over rayon threads,
//! one sample per task, each with its own column buffer.

use super::Float;
use super::geom::valid_outputs;
use super::linalg::{MatLayout, gemm_into};
use super::parallel::{for_each_chunk, map_indices};
use std::ops::Range;

pub(crate) use super::geom::Geom;
pub(crate) use super::pooling::{
    avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward, max_pool2d_pick,
};

/// Multiply-adds below which a convolution stays on the calling thread.
const CONV_PARALLEL_WORK: usize = 1 << 18;

/// Partial weight gradients summed at the end of a parallel backward pass.
/// A fixed count (not the thread count) keeps the sum's rounding the same
/// on every machine.
const WEIGHT_GRAD_PARTS: usize = 16;

/// The conv-specific sizes and choices of a geometry.
impl Geom {
    fn cin_g(&self) -> usize {
        self.c_in / self.groups
    }

    fn cout_g(&self) -> usize {
        self.c_out / self.groups
    }

    /// Rows of a group's column matrix: `C_in/g * kH * kW`.
    fn col_rows(&self) -> usize {
        self.cin_g() * self.kh * self.kw
    }

    /// A 1x1 kernel with stride 1 and no padding: the column matrix is the
    /// input itself, so im2col and col2im are skipped.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }

    /// Enough work to be worth splitting the batch (whatever the thread
    /// count: the weight gradient's partial sums follow this, so that its
    /// rounding does not depend on the threads).
    fn conv_large(&self) -> bool {
        self.batch > 1
            && self.batch * self.c_out * self.out_plane() * self.col_rows() >= CONV_PARALLEL_WORK
    }

    /// Split the batch over threads: large, and rayon has more than one.
    fn conv_parallel(&self) -> bool {
        self.conv_large() && rayon::current_num_threads() > 1
    }

    /// No padding and unit column stride: every row of a column matrix is
    /// a run of whole input rows' pieces, copied without clipping.
    fn unpadded_rows(&self) -> bool {
        self.ph == 0 && self.pw == 0 && self.sw == 1
    }
}

/// Unfolds `c` channels `[c, H, W]` into `cols [c * kH * kW, OH * OW]`.
fn im2col<T: Float>(x: &[T], c: usize, g: &Geom, cols: &mut [T]) {
    let ohw = g.out_plane();
    if g.unpadded_rows() {
        // Each output row's taps are one contiguous piece of an input row:
        // straight copies, nothing to clip or zero.
        let rows = cols[..c * g.kh * g.kw * ohw].chunks_exact_mut(ohw);
        for (r, dst) in rows.enumerate() {
            let (ci, k) = (r / (g.kh * g.kw), r % (g.kh * g.kw));
            let (ki, kj) = (k / g.kw, k % g.kw);
            let src = &x[ci * g.in_plane() + ki * g.dh * g.w + kj * g.dw..];
            for (oy, out) in dst.chunks_exact_mut(g.ow).enumerate() {
                out.copy_from_slice(&src[oy * g.sh * g.w..][..g.ow]);
            }
        }
        return;
    }
    for ci in 0..c {
        let plane = &x[ci * g.in_plane()..(ci + 1) * g.in_plane()];
        for ki in 0..g.kh {
            let rows = valid_outputs(g.oh, g.sh, ki * g.dh, g.ph, g.h);
            for kj in 0..g.kw {
                let r = (ci * g.kh + ki) * g.kw + kj;
                let dst = &mut cols[r * ohw..(r + 1) * ohw];
                let xs = valid_outputs(g.ow, g.sw, kj * g.dw, g.pw, g.w);
                for oy in 0..g.oh {
                    let out = &mut dst[oy * g.ow..(oy + 1) * g.ow];
                    if !rows.contains(&oy) {
                        out.fill(T::ZERO);
                        continue;
                    }
                    let src = &plane[(oy * g.sh + ki * g.dh - g.ph) * g.w..][..g.w];
                    out[..xs.start].fill(T::ZERO);
                    out[xs.end..].fill(T::ZERO);
                    if g.sw == 1 {
                        let from = xs.start + kj * g.dw - g.pw;
                        out[xs.clone()].copy_from_slice(&src[from..from + xs.len()]);
                    } else {
                        for ox in xs.clone() {
                            out[ox] = src[ox * g.sw + kj * g.dw - g.pw];
                        }
                    }
                }
            }
        }
    }
}

/// Folds `cols [c * kH * kW, OH * OW]` back onto `c` channels, adding into
/// `dx [c, H, W]`: the adjoint of [`im2col`].
fn col2im<T: Float>(cols: &[T], c: usize, g: &Geom, dx: &mut [T]) {
    let ohw = g.out_plane();
    if g.unpadded_rows() {
        // The adjoint of im2col's copies: contiguous slice adds.
        let rows = cols[..c * g.kh * g.kw * ohw].chunks_exact(ohw);
        for (r, src) in rows.enumerate() {
            let (ci, k) = (r / (g.kh * g.kw), r % (g.kh * g.kw));
            let (ki, kj) = (k / g.kw, k % g.kw);
            let dst = &mut dx[ci * g.in_plane() + ki * g.dh * g.w + kj * g.dw..];
            for (oy, s) in src.chunks_exact(g.ow).enumerate() {
                let d = &mut dst[oy * g.sh * g.w..][..g.ow];
                d.iter_mut().zip(s).for_each(|(d, &s)| *d += s);
            }
        }
        return;
    }
    for ci in 0..c {
        let plane = &mut dx[ci * g.in_plane()..(ci + 1) * g.in_plane()];
        for ki in 0..g.kh {
            let rows = valid_outputs(g.oh, g.sh, ki * g.dh, g.ph, g.h);
            for kj in 0..g.kw {
                let r = (ci * g.kh + ki) * g.kw + kj;
                let src = &cols[r * ohw..(r + 1) * ohw];
                let xs = valid_outputs(g.ow, g.sw, kj * g.dw, g.pw, g.w);
                for oy in rows.clone() {
                    let dst = &mut plane[(oy * g.sh + ki * g.dh - g.ph) * g.w..][..g.w];
                    let src = &src[oy * g.ow..(oy + 1) * g.ow];
                    if g.sw == 1 {
                        // Contiguous on both sides: a slice add, which vectorises.
                        let from = xs.start + kj * g.dw - g.pw;
                        let dst = &mut dst[from..from + xs.len()];
                        dst.iter_mut()
                            .zip(&src[xs.clone()])
                            .for_each(|(d, &s)| *d += s);
                    } else {
                        for ox in xs.clone() {
                            dst[ox * g.sw + kj * g.dw - g.pw] += src[ox];
                        }
                    }
                }
            }
        }
    }
}

/// `conv2d` forward: `x [N, C_in, H, W]`, `weight [C_out, C_in/g, kH, kW]`,
/// optional `bias [C_out]`; writes `out [N, C_out, OH, OW]` row-major
/// (whatever it held is overwritten).
pub(crate) fn conv2d<T: Float>(x: &[T], weight: &[T], bias: Option<&[T]>, g: &Geom, out: &mut [T]) {
    let (k, ohw, cin_g, cout_g) = (g.col_rows(), g.out_plane(), g.cin_g(), g.cout_g());
    let per_in = g.c_in * g.in_plane();
    let out = &mut out[..g.batch * g.c_out * ohw];
    let cols_len = if g.pointwise() { 0 } else { k * ohw };
    for_each_chunk(
        out,
        g.c_out * ohw,
        g.conv_parallel(),
        || vec![T::ZERO; cols_len],
        |cols, n, out| {
            for gi in 0..g.groups {
                let xs = &x[n * per_in + gi * cin_g * g.in_plane()..];
                let cols: &[T] = if g.pointwise() {
                    xs
                } else {
                    im2col(xs, cin_g, g, cols);
                    cols
                };
                gemm_into(
                    cout_g,
                    ohw,
                    k,
                    &mut out[gi * cout_g * ohw..(gi + 1) * cout_g * ohw],
                    &weight[gi * cout_g * k..],
                    MatLayout::row_major(k),
                    cols,
                    MatLayout::row_major(ohw),
                    false,
                );
            }
            if let Some(b) = bias {
                for (plane, &b) in out.chunks_mut(ohw).zip(b) {
                    plane.iter_mut().for_each(|v| *v += b);
                }
            }
        },
    );
}

/// Gradient of `conv2d` with respect to its input: for each sample and
/// group, `weight^T x grad_out` folded back with col2im, added into `dx
/// [N, C_in, H, W]` (which the caller zeroes).
pub(crate) fn conv2d_input_grad<T: Float>(grad_out: &[T], weight: &[T], g: &Geom, dx: &mut [T]) {
    let (k, ohw, cin_g, cout_g) = (g.col_rows(), g.out_plane(), g.cin_g(), g.cout_g());
    let per_out = g.c_out * ohw;
    let dx = &mut dx[..g.batch * g.c_in * g.in_plane()];
    let cols_len = if g.pointwise() { 0 } else { k * ohw };
    for_each_chunk(
        dx,
        g.c_in * g.in_plane(),
        g.conv_parallel(),
        || vec![T::ZERO; cols_len],
        |dcols, n, dx| {
            for gi in 0..g.groups {
                let dst = &mut dx[gi * cin_g * g.in_plane()..(gi + 1) * cin_g * g.in_plane()];
                let product = |dst: &mut [T]| {
                    gemm_into(
                        k,
                        ohw,
                        cout_g,
                        dst,
                        &weight[gi * cout_g * k..],
                        MatLayout::transposed(k),
                        &grad_out[n * per_out + gi * cout_g * ohw..],
                        MatLayout::row_major(ohw),
                        false,
                    )
                };
                if g.pointwise() {
                    product(dst);
                } else {
                    product(dcols);
                    col2im(dcols, cin_g, g, dst);
                }
            }
        },
    );
}

/// Gradient of `conv2d` with respect to its weight: `grad_out x cols^T`
/// summed over the batch. In parallel, the batch is cut into a fixed number
/// of runs whose partial sums are added in order.
pub(crate) fn conv2d_weight_grad<T: Float>(x: &[T], grad_out: &[T], g: &Geom) -> Vec<T> {
    let (k, ohw, cin_g, cout_g) = (g.col_rows(), g.out_plane(), g.cin_g(), g.cout_g());
    let (per_in, per_out) = (g.c_in * g.in_plane(), g.c_out * ohw);
    let len = g.c_out * k;
    let samples = |range: Range<usize>| {
        let mut dw = vec![T::ZERO; len];
        let mut cols = vec![T::ZERO; if g.pointwise() { 0 } else { k * ohw }];
        for n in range {
            for gi in 0..g.groups {
                let xs = &x[n * per_in + gi * cin_g * g.in_plane()..];
                let cols: &[T] = if g.pointwise() {
                    xs
                } else {
                    im2col(xs, cin_g, g, &mut cols);
                    &cols
                };
                gemm_into(
                    cout_g,
                    k,
                    ohw,
                    &mut dw[gi * cout_g * k..(gi + 1) * cout_g * k],
                    &grad_out[n * per_out + gi * cout_g * ohw..],
                    MatLayout::row_major(ohw),
                    cols,
                    MatLayout::transposed(ohw),
                    true,
                );
            }
        }
        dw
    };
    if !g.conv_large() {
        return samples(0..g.batch);
    }
    let parts = g.batch.min(WEIGHT_GRAD_PARTS);
    let partials = map_indices(parts, g.conv_parallel(), |p| {
        samples(p * g.batch / parts..(p + 1) * g.batch / parts)
    });
    let mut partials = partials.into_iter();
    let mut dw = partials.next().unwrap_or_else(|| vec![T::ZERO; len]);
    for part in partials {
        dw.iter_mut().zip(&part).for_each(|(a, &b)| *a += b);
    }
    dw
}

/// Gradient of `conv2d`'s bias: `grad_out [N, C_out, OH, OW]` summed over
/// `N, OH, OW`. Each plane is summed in eight interleaved partial sums,
/// which the compiler turns into one vector register (a single running sum
/// could not be reordered, so would not vectorise), then the planes are
/// added in batch order.
pub(crate) fn conv2d_bias_grad<T: Float>(grad_out: &[T], g: &Geom) -> Vec<T> {
    let ohw = g.out_plane();
    let mut db = vec![T::ZERO; g.c_out];
    if ohw == 0 {
        return db;
    }
    for (i, plane) in grad_out.chunks_exact(ohw).enumerate() {
        db[i % g.c_out] += plane_sum(plane);
    }
    db
}

/// The sum of `xs`, in eight interleaved partial sums.
fn plane_sum<T: Float>(xs: &[T]) -> T {
    let mut lanes = [T::ZERO; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += v;
        }
    }
    let mut s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5]))
        + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for &v in tail {
        s += v;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_outputs_are_exactly_the_taps_inside_the_input() {
        for (out, s, offset, p, n) in [
            (5, 1, 0, 2, 3),
            (4, 2, 3, 1, 6),
            (3, 3, 0, 0, 9),
            (2, 2, 4, 1, 3),
        ] {
            let brute: Vec<usize> = (0..out)
                .filter(|&o| (0..n as isize).contains(&((o * s + offset) as isize - p as isize)))
                .collect();
            let got: Vec<usize> = valid_outputs(out, s, offset, p, n).collect();
            assert_eq!(
                got, brute,
                "out {out}, stride {s}, offset {offset}, pad {p}, n {n}"
            );
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), c> = <x, col2im(c)> for any x and c: the property that
        // makes col2im the input gradient of im2col.
        let g = Geom::conv2d(&[1, 2, 5, 4], &[1, 2, 3, 2], (2, 1), (1, 2), (2, 1), 1);
        let n_in = 2 * 5 * 4;
        let n_cols = g.col_rows() * g.out_plane();
        let x: Vec<f64> = (0..n_in).map(|i| (i as f64 * 0.7).sin()).collect();
        let c: Vec<f64> = (0..n_cols).map(|i| (i as f64 * 1.3).cos()).collect();
        let mut cols = vec![0.0; n_cols];
        im2col(&x, 2, &g, &mut cols);
        let mut back = vec![0.0; n_in];
        col2im(&c, 2, &g, &mut back);
        let lhs: f64 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12, "{lhs} vs {rhs}");
    }

    #[test]
    fn im2col_matches_its_definition() {
        // cols[(c, u, v), (i, j)] = x[c, i sH + u dH - pH, j sW + v dW - pW],
        // or 0 outside the input: with no padding and unit column stride
        // (the row-copy path, with and without row stride and dilations)
        // and with padding or a column stride (the clipping path).
        for (xs, ws, s, p, d) in [
            ([2, 5, 6], [2, 3, 3], (1, 1), (0, 0), (1, 1)),
            ([1, 7, 6], [1, 2, 3], (2, 1), (0, 0), (1, 2)),
            ([3, 6, 5], [3, 2, 2], (1, 1), (0, 0), (2, 1)),
            ([2, 5, 6], [2, 3, 3], (1, 1), (1, 1), (1, 1)),
            ([2, 5, 7], [2, 2, 3], (1, 2), (0, 1), (1, 1)),
        ] {
            let g = Geom::conv2d(
                &[1, xs[0], xs[1], xs[2]],
                &[1, ws[0], ws[1], ws[2]],
                s,
                p,
                d,
                1,
            );
            let x: Vec<f64> = (0..xs.iter().product()).map(|i| i as f64 + 1.0).collect();
            let mut cols = vec![f64::NAN; g.col_rows() * g.out_plane()];
            im2col(&x, xs[0], &g, &mut cols);
            for c in 0..xs[0] {
                for (u, v) in (0..ws[1]).flat_map(|u| (0..ws[2]).map(move |v| (u, v))) {
                    for (i, j) in (0..g.oh).flat_map(|i| (0..g.ow).map(move |j| (i, j))) {
                        let y = (i * s.0 + u * d.0) as isize - p.0 as isize;
                        let z = (j * s.1 + v * d.1) as isize - p.1 as isize;
                        let inside =
                            (0..xs[1] as isize).contains(&y) && (0..xs[2] as isize).contains(&z);
                        let want = if inside {
                            x[(c * xs[1] + y as usize) * xs[2] + z as usize]
                        } else {
                            0.0
                        };
                        let r = (c * ws[1] + u) * ws[2] + v;
                        let got = cols[r * g.out_plane() + i * g.ow + j];
                        assert_eq!(
                            got, want,
                            "{xs:?} {ws:?} {s:?} {p:?} {d:?}: row {r}, ({i}, {j})"
                        );
                    }
                }
            }
            // and col2im is its adjoint on the same geometry
            let c: Vec<f64> = (0..cols.len()).map(|i| (i as f64 * 1.3).cos()).collect();
            let mut back = vec![0.0; x.len()];
            col2im(&c, xs[0], &g, &mut back);
            let lhs: f64 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() < 1e-9 * lhs.abs().max(1.0),
                "{lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn bias_grad_sums_each_channel_over_batch_and_positions() {
        // Plane sizes around the 8-lane blocks (3, 8, 13 = 8 + 5), checked
        // against a plain f64 sum over n, y, x for each channel.
        for (n, c, oh, ow) in [(2, 3, 1, 3), (3, 2, 2, 4), (2, 4, 13, 1)] {
            let g = Geom::conv2d(&[n, 1, oh, ow], &[c, 1, 1, 1], (1, 1), (0, 0), (1, 1), 1);
            let grad: Vec<f64> = (0..n * c * oh * ow)
                .map(|i| (i as f64 * 0.37).sin())
                .collect();
            let got = conv2d_bias_grad(&grad, &g);
            for (ci, &v) in got.iter().enumerate() {
                let want: f64 = (0..n)
                    .flat_map(|ni| (0..oh * ow).map(move |p| (ni * c + ci) * oh * ow + p))
                    .map(|i| grad[i])
                    .sum();
                assert!((v - want).abs() < 1e-12, "channel {ci}: {v} vs {want}");
            }
        }
    }
}
