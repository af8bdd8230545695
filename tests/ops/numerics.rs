//! Numerical robustness of the f32 paths (issue 18, point 5): softmax,
//! log-softmax, logsumexp, cross-entropy, BCE with logits, variance, layer
//! norm and batch norm on large-magnitude inputs (logits of +-1e4, rows
//! with one dominant value, values near 1e4 with a spread of 1e-2).
//!
//! Each test runs the crate in f32 and compares, values and gradients,
//! with a reference computed here in f64 with the textbook stable formulas
//! (max-shift, two-pass variance) on the very same inputs (the f32 values,
//! widened): so the only differences are the f32 kernels' own rounding,
//! and each tolerance is derived from what correctly rounded f32 steps can
//! reach (unit roundoff u = 2^-24 ~ 6e-8), with some room, in a comment.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::nn::loss::{self, BceWithLogitsOptions, CrossEntropyOptions, Reduction};
use tapegrad::{Tape, Tensor};

/// `n` values of `f32` (as `f64`), from `f` of a uniform draw in `[0, 1)`.
fn draws(n: usize, seed: u64, f: impl Fn(f64) -> f64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let u = Tensor::<f64>::rand_uniform(&[n], 0.0, 1.0, &mut rng);
    u.as_slice().iter().map(|&u| f(u) as f32 as f64).collect()
}

/// Standard normal draws, rounded to f32.
fn normals(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let z = Tensor::<f64>::randn(&[n], &mut rng);
    z.as_slice().iter().map(|&z| z as f32 as f64).collect()
}

fn f32_tensor(v: &[f64], dims: &[usize]) -> Tensor<f32> {
    Tensor::from_vec(v.iter().map(|&x| x as f32).collect(), dims).unwrap()
}

fn widen(t: &Tensor<f32>) -> Vec<f64> {
    t.as_slice().iter().map(|&x| x as f64).collect()
}

/// Asserts `|got - want| <= tol(i)` element by element.
fn assert_close(what: &str, got: &[f64], want: &[f64], tol: impl Fn(usize) -> f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol(i),
            "{what}[{i}]: f32 {g:e} vs f64 {w:e} (diff {:e}, tolerance {:e})",
            (g - w).abs(),
            tol(i)
        );
    }
}

/// Rows of logits with large magnitudes, `c` per row: uniform in
/// `[-1e4, 1e4]`; one dominant value over zeros; a near tie at 1e4
/// (offsets of a few units, which only survive if `x - max` is exact); and
/// a row near -1e4 (where `e^x` alone underflows).
fn big_logits(c: usize) -> (Vec<f64>, usize) {
    let mut x = draws(c, 1, |u| 2e4 * u - 1e4);
    x.extend((0..c).map(|j| if j == 2 { 1e4 } else { 0.0 }));
    x.extend(draws(c, 2, |u| 1e4 - 8.0 * u));
    x.extend(draws(c, 3, |u| -1e4 + 5.0 * u));
    x.extend(draws(c, 4, |u| if u < 0.5 { 1e4 } else { -1e4 } + u));
    (x, 5)
}

/// Softmax of each `c`-row in f64, with the maximum subtracted.
fn softmax_ref(x: &[f64], c: usize) -> Vec<f64> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(c) {
        let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let e: Vec<f64> = row.iter().map(|&v| (v - m).exp()).collect();
        let s: f64 = e.iter().sum();
        y.extend(e.iter().map(|e| e / s));
    }
    y
}

/// `ln sum exp` of each `c`-row in f64: `m + ln sum e^(x - m)`.
fn lse_ref(x: &[f64], c: usize) -> Vec<f64> {
    x.chunks(c)
        .map(|row| {
            let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            m + row.iter().map(|&v| (v - m).exp()).sum::<f64>().ln()
        })
        .collect()
}

#[test]
fn f32_softmax_of_huge_logits_matches_f64_values_and_gradients() {
    let c = 13;
    let (x, rows) = big_logits(c);
    let g = normals(x.len(), 10);
    let tape = Tape::<f32>::new();
    let xv = tape.var(f32_tensor(&x, &[rows, c]));
    let y = xv.softmax(-1);
    let dx = widen(y.backward_with(f32_tensor(&g, &[rows, c])).wrt(xv));
    let p = softmax_ref(&x, c);
    // Each probability is e^(x - m) (x - m exact: Sterbenz, or so negative
    // that the result underflows either way), a sum of 13 and a division:
    // relative error below (2 + 13 + 1) u ~ 1e-6, so 1e-5 relative; 1e-40
    // absolute for f32's subnormals (their spacing is 1.4e-45).
    assert_close("softmax", &widen(&y.value()), &p, |i| 1e-5 * p[i] + 1e-40);
    // dx = y (g - sum g y): the bracket is off by at most a few u of
    // max |g| per row, so the error is 1e-5 (y max|g| + |dx|).
    let mut want = Vec::new();
    let mut gmax = Vec::new();
    for (pr, gr) in p.chunks(c).zip(g.chunks(c)) {
        let s: f64 = pr.iter().zip(gr).map(|(p, g)| p * g).sum();
        want.extend(pr.iter().zip(gr).map(|(p, g)| p * (g - s)));
        gmax.extend(std::iter::repeat_n(
            gr.iter().fold(0.0f64, |m, g| m.max(g.abs())),
            c,
        ));
    }
    assert_close("softmax grad", &dx, &want, |i| {
        1e-5 * (p[i] * gmax[i] + want[i].abs()) + 1e-40
    });
}

#[test]
fn f32_log_softmax_of_huge_logits_matches_f64_values_and_gradients() {
    let c = 11;
    let (x, rows) = big_logits(c);
    let g = normals(x.len(), 11);
    let tape = Tape::<f32>::new();
    let xv = tape.var(f32_tensor(&x, &[rows, c]));
    let y = xv.log_softmax(-1);
    let dx = widen(y.backward_with(f32_tensor(&g, &[rows, c])).wrt(xv));
    let lse = lse_ref(&x, c);
    let want: Vec<f64> = x.iter().enumerate().map(|(i, v)| v - lse[i / c]).collect();
    // y = (x - m) - ln s: x - m exact, ln s (s in [1, 11]) good to a few u
    // absolute, and the subtraction rounds to u |y|: within 1e-6 (1 + |y|).
    assert_close("log_softmax", &widen(&y.value()), &want, |i| {
        1e-6 * (1.0 + want[i].abs())
    });
    // dx = g - e^y sum g: e^y has relative error ~ u |y| for |y| small (where
    // it matters), so 1e-5 (|g| + e^y |sum g|).
    let mut dwant = Vec::new();
    let mut scale = Vec::new();
    for (yr, gr) in want.chunks(c).zip(g.chunks(c)) {
        let s: f64 = gr.iter().sum();
        dwant.extend(yr.iter().zip(gr).map(|(y, g)| g - y.exp() * s));
        scale.extend(yr.iter().zip(gr).map(|(y, g)| g.abs() + y.exp() * s.abs()));
    }
    assert_close("log_softmax grad", &dx, &dwant, |i| 1e-5 * scale[i] + 1e-30);
}

#[test]
fn f32_logsumexp_of_huge_logits_matches_f64_values_and_gradients() {
    let c = 9;
    let (x, rows) = big_logits(c);
    let g = normals(rows, 12);
    let tape = Tape::<f32>::new();
    let xv = tape.var(f32_tensor(&x, &[rows, c]));
    let l = xv.logsumexp_axes(&[-1], false);
    let dx = widen(l.backward_with(f32_tensor(&g, &[rows])).wrt(xv));
    let want = lse_ref(&x, c);
    // m + ln s: the result rounds to u |l| (5e-4 at 1e4), ln s adds a few u:
    // 1e-6 (1 + |l|).
    assert_close("logsumexp", &widen(&l.value()), &want, |i| {
        1e-6 * (1.0 + want[i].abs())
    });
    // The gradient is g * softmax. Read naively off the rounded output as
    // e^(x - l), it would carry l's error of up to 5e-4 into every
    // probability (relative); softmax accuracy is 1e-5 relative, as above.
    let p = softmax_ref(&x, c);
    let dwant: Vec<f64> = p.iter().enumerate().map(|(i, p)| p * g[i / c]).collect();
    assert_close("logsumexp grad", &dx, &dwant, |i| {
        1e-5 * dwant[i].abs() + 1e-40
    });
    // Also over the leading axis (the strided path) of the transpose.
    let xt = xv.transpose(0, 1); // [c, rows], reduce axis 0
    let lt = xt.logsumexp_axes(&[0], true);
    assert_close("logsumexp axis 0", &widen(&lt.value()), &want, |i| {
        1e-6 * (1.0 + want[i].abs())
    });
}

#[test]
fn f32_cross_entropy_of_huge_logits_matches_f64_loss_and_gradient() {
    let c = 10;
    let (x, rows) = big_logits(c);
    // Targets: a losing class (loss ~1e4) and the dominant ones (loss ~0).
    let targets = [3, 2, 1, 0, 4];
    let tape = Tape::<f32>::new();
    let xv = tape.var(f32_tensor(&x, &[rows, c]));
    let l = xv.cross_entropy(&targets);
    let dx = widen(l.backward().wrt(xv));
    let lse = lse_ref(&x, c);
    let per_row: Vec<f64> = (0..rows).map(|i| lse[i] - x[i * c + targets[i]]).collect();
    let want = per_row.iter().sum::<f64>() / rows as f64;
    // Each row loss is (m - x_t) + ln s: exact difference plus ln s to a few
    // u; the mean of 5 adds 5 u relative: 1e-6 (1 + |loss|).
    let got = l.item() as f64;
    assert!(
        (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
        "cross_entropy {got} vs {want}"
    );
    // d = (softmax - onehot) / N: softmax to 1e-5 relative as above; at
    // the target, subtracting 1 adds one rounding of 1 (6e-8).
    let p = softmax_ref(&x, c);
    let n = rows as f64;
    let mut dwant: Vec<f64> = p.iter().map(|p| p / n).collect();
    for (i, &t) in targets.iter().enumerate() {
        dwant[i * c + t] -= 1.0 / n;
    }
    assert_close("cross_entropy grad", &dx, &dwant, |i| {
        (1e-5 * p[i] + 2e-7) / n + 1e-40
    });

    // The composite path (label smoothing goes through log_softmax), per
    // sample: (1 - eps) (-logp_t) + eps/C (-sum logp), eps = 0.1.
    let opts = CrossEntropyOptions::<f32>::default()
        .label_smoothing(0.1)
        .reduction(Reduction::None);
    let ls = widen(&loss::cross_entropy(xv, &targets, &opts).value());
    let smooth: Vec<f64> = (0..rows)
        .map(|i| {
            let logp = |j: usize| x[i * c + j] - lse[i];
            let all: f64 = (0..c).map(logp).sum();
            0.9 * -logp(targets[i]) - 0.1 / c as f64 * all
        })
        .collect();
    // Sums of 10 log-probabilities up to 2e4 each: 1e-6 relative.
    assert_close("smoothed cross_entropy", &ls, &smooth, |i| {
        1e-6 * (1.0 + smooth[i].abs())
    });
}

#[test]
fn f32_bce_with_logits_of_huge_logits_matches_f64_per_element() {
    // Logits and targets, each case on its own so the mean is the element.
    let xs = [1e4, -1e4, 1e4, -1e4, 30.0, -30.0, 1e4, 2.5, -17.0, 9999.5];
    let ts = [0.999, 0.999, 0.0, 1.0, 0.3, 0.7, 0.5, 1.0, 0.0, 0.25];
    for (&x, &t) in xs.iter().zip(&ts) {
        let (x, t) = (x as f32 as f64, t as f32 as f64);
        let tape = Tape::<f32>::new();
        let xv = tape.var(Tensor::scalar(x as f32));
        let tv = tape.var(Tensor::scalar(t as f32));
        let l = xv.binary_cross_entropy_with_logits(tv);
        let g = l.backward();
        // max(x, 0) - x t + ln(1 + e^-|x|) in f64, where x t loses nothing.
        let want = x.max(0.0) - x * t + (-x.abs()).exp().ln_1p();
        // f32 can reach a few u of the loss: 1e-6 relative, 1e-7 absolute
        // (for losses near 0, the ln(1 + e^-|x|) term's own size). `x - x t`
        // in f32 would miss this by 5e-4 at x = 1e4, t = 0.999 (loss 10).
        let got = l.item() as f64;
        assert!(
            (got - want).abs() <= 1e-6 * want.abs() + 1e-7,
            "bce({x}, {t}): f32 {got} vs f64 {want}"
        );
        // d/dx = sigmoid(x) - t, d/dt = -x.
        let s = 1.0 / (1.0 + (-x).exp());
        let dx = g.wrt(xv).item() as f64;
        assert!(
            (dx - (s - t)).abs() <= 1e-6 * (s - t).abs() + 1e-7,
            "bce({x}, {t}) d/dx: {dx} vs {}",
            s - t
        );
        assert_eq!(g.wrt(tv).item() as f64, -x, "bce({x}, {t}) d/dt");

        // The composite per-element path (softplus) and pos_weight 2:
        // p t softplus(-x) + (1 - t) softplus(x).
        let sp = |v: f64| v.max(0.0) + (-v.abs()).exp().ln_1p();
        let opts = BceWithLogitsOptions::<f32>::default()
            .reduction(Reduction::None)
            .pos_weight(Tensor::scalar(2.0));
        let lw = loss::binary_cross_entropy_with_logits(xv, tv, &opts).item() as f64;
        let wantw = 2.0 * t * sp(-x) + (1.0 - t) * sp(x);
        assert!(
            (lw - wantw).abs() <= 1e-6 * wantw.abs() + 1e-7,
            "bce pos_weight({x}, {t}): f32 {lw} vs f64 {wantw}"
        );
    }
}

/// Values near 1e4 with spread 1e-2, rounded to f32 (about ten f32 steps
/// of 1e-3 apart: the reference sees the same rounded values).
fn clustered(n: usize, seed: u64) -> Vec<f64> {
    normals(n, seed)
        .iter()
        .map(|z| (1e4 + 1e-2 * z) as f32 as f64)
        .collect()
}

/// Mean and biased variance in f64, two passes.
fn mean_var(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (m, v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n)
}

#[test]
fn f32_variance_of_values_near_1e4_with_small_spread_matches_f64() {
    // 4 groups of 1000 along the last axis, and the same along axis 0.
    let (rows, n) = (4, 1000);
    let x = clustered(rows * n, 20);
    let tape = Tape::<f32>::new();
    let xv = tape.var(f32_tensor(&x, &[rows, n]));
    for correction in [0, 1] {
        let v = xv.var_axes(&[-1], correction, false);
        let g = normals(rows, 21);
        let dx = widen(v.backward_with(f32_tensor(&g, &[rows])).wrt(xv));
        let d = (n - correction) as f64;
        for r in 0..rows {
            let row = &x[r * n..(r + 1) * n];
            let (m, var) = mean_var(row);
            let want = var * n as f64 / d;
            // With exact deviations (x - pivot, Sterbenz) and an accurate
            // shifted mean, the variance is a sum of 1000 squares: error
            // below ~ (8 lanes) 125 u ~ 1e-5 relative; 1e-4 leaves room.
            // Summing the raw values instead misses the mean by ~1e-3,
            // a tenth of the spread, and the variance by percent.
            let got = v.value().as_slice()[r] as f64;
            assert!(
                (got - want).abs() <= 1e-4 * want,
                "var row {r} (correction {correction}): {got:e} vs {want:e}"
            );
            // d var / dx_i = 2 (x_i - m) / d, within 1e-4 of its largest.
            let grad: Vec<f64> = row.iter().map(|x| g[r] * 2.0 * (x - m) / d).collect();
            let top = grad.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            assert_close("var grad", &dx[r * n..(r + 1) * n], &grad, |_| 1e-4 * top);
        }
    }
    // Over the leading axis, and over all elements.
    let xt = tape.var(f32_tensor(&x, &[n, rows]));
    let v0 = widen(&xt.var_axes(&[0], 0, true).value());
    for (col, &got) in v0.iter().enumerate() {
        let c: Vec<f64> = (0..n).map(|i| x[i * rows + col]).collect();
        let want = mean_var(&c).1;
        assert!(
            (got - want).abs() <= 1e-4 * want,
            "var axis 0 col {col}: {got:e} vs {want:e}"
        );
    }
    let all = xv.var(0).item() as f64;
    let want = mean_var(&x).1;
    assert!(
        (all - want).abs() <= 1e-4 * want,
        "var all: {all:e} vs {want:e}"
    );
}

/// Layer norm of `d`-rows in f64: `(x - m) / sqrt(var + eps) * w + b`, and
/// the input and parameter gradients for an incoming `g`.
#[allow(clippy::type_complexity)]
fn layer_norm_ref(
    x: &[f64],
    g: &[f64],
    w: &[f64],
    b: &[f64],
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let d = w.len();
    let (mut y, mut dx) = (Vec::new(), Vec::new());
    let (mut dw, mut db) = (vec![0.0; d], vec![0.0; d]);
    for (row, gr) in x.chunks(d).zip(g.chunks(d)) {
        let (m, var) = mean_var(row);
        let r = 1.0 / (var + eps).sqrt();
        let xh: Vec<f64> = row.iter().map(|v| (v - m) * r).collect();
        y.extend((0..d).map(|j| xh[j] * w[j] + b[j]));
        let gw: Vec<f64> = (0..d).map(|j| gr[j] * w[j]).collect();
        let a = gw.iter().sum::<f64>() / d as f64;
        let c = (0..d).map(|j| gw[j] * xh[j]).sum::<f64>() / d as f64;
        dx.extend((0..d).map(|j| r * (gw[j] - a - xh[j] * c)));
        for j in 0..d {
            dw[j] += gr[j] * xh[j];
            db[j] += gr[j];
        }
    }
    (y, dx, dw, db)
}

#[test]
fn f32_layer_norm_of_values_near_1e4_with_small_spread_matches_f64() {
    for (rows, d) in [(6, 64), (3, 1000), (40, 13)] {
        let x = clustered(rows * d, 30 + d as u64);
        let g = normals(rows * d, 31);
        let w: Vec<f64> = normals(d, 32).iter().map(|z| 1.0 + 0.5 * z).collect();
        let b = normals(d, 33);
        let eps = 1e-5;
        let tape = Tape::<f32>::new();
        let xv = tape.var(f32_tensor(&x, &[rows, d]));
        let wv = tape.var(f32_tensor(&w, &[d]));
        let bv = tape.var(f32_tensor(&b, &[d]));
        let y = xv.layer_norm(&[d], Some(wv), Some(bv), eps);
        let grads = y.backward_with(f32_tensor(&g, &[rows, d]));
        let (wy, wdx, wdw, wdb) = layer_norm_ref(&x, &g, &w, &b, eps);
        // xhat is O(1): with exact deviations its error is a few u times
        // its size, plus the shifted mean's (1e-9 absolute) times
        // rstd (~100): 1e-4 absolute is room enough; a mean off by 1e-3
        // (the raw sum's rounding) would move xhat by 0.1.
        let wmax = w.iter().fold(1.0f64, |a, v| a.max(v.abs()));
        assert_close("layer_norm", &widen(&y.value()), &wy, |_| 1e-4 * wmax);
        // dx ~ rstd g w ~ 100: 1e-4 relative to the largest.
        let top = wdx.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert_close("layer_norm dx", &widen(grads.wrt(xv)), &wdx, |_| 1e-4 * top);
        // dw = sum g xhat over rows: each term to 1e-4 absolute as xhat.
        let gsum: Vec<f64> = (0..d)
            .map(|j| (0..rows).map(|r| g[r * d + j].abs()).sum())
            .collect();
        assert_close("layer_norm dw", &widen(grads.wrt(wv)), &wdw, |j| {
            1e-4 * gsum[j]
        });
        assert_close("layer_norm db", &widen(grads.wrt(bv)), &wdb, |j| {
            1e-6 * gsum[j]
        });
    }
}

#[test]
fn f32_batch_norm_of_values_near_1e4_with_small_spread_matches_f64() {
    // [N = 50, C = 3, 4]: each channel holds 200 values near 1e4.
    let (n, c, s) = (50, 3, 4);
    let x = clustered(n * c * s, 40);
    let tape = Tape::<f32>::new();
    let xv = tape.var(f32_tensor(&x, &[n, c, s]));
    let (y, stats) = xv.batch_norm_with_stats(None, None, 1e-5);
    let y = widen(&y.value());
    for ch in 0..c {
        let idx: Vec<usize> = (0..n)
            .flat_map(|i| (0..s).map(move |k| (i * c + ch) * s + k))
            .collect();
        let vals: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
        let (m, var) = mean_var(&vals);
        let r = 1.0 / (var + 1e-5).sqrt();
        // As layer norm: 1e-4 absolute on xhat, 1e-4 relative on variance.
        for &i in &idx {
            let want = (x[i] - m) * r;
            assert!(
                (y[i] - want).abs() <= 1e-4,
                "batch_norm[{i}]: {} vs {want}",
                y[i]
            );
        }
        let unbiased = var * vals.len() as f64 / (vals.len() - 1) as f64;
        let got = stats.var.as_slice()[ch] as f64;
        assert!(
            (got - unbiased).abs() <= 1e-4 * unbiased,
            "batch_norm var[{ch}]: {got:e} vs {unbiased:e}"
        );
        // The mean itself rounds to f32 (5e-4 apart near 1e4).
        assert!((stats.mean.as_slice()[ch] as f64 - m).abs() <= 1e-3);
    }
}
