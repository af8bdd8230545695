//! Helpers shared by the layer tests: a tolerance comparison and a
//! convolution written straight from its definition, as the independent
//! reference that layer outputs are checked against.
//!
//! Each test file compiles this module on its own and uses only some of it.
#![allow(dead_code)]

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::Tensor;

/// A generator seeded with `seed`.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Standard normal samples in f64 from a seed.
pub fn randn(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(dims, &mut rng(seed))
}
use tapegrad::ops::Conv2dOptions;

pub fn assert_close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "element {i}: {x} vs {y}");
    }
}

/// Convolution straight from its definition, one output at a time:
/// `y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] *
/// x[n, group(o) * C_in/G + c, i*sH + u*dH - pH, j*sW + v*dW - pW]`.
pub fn conv_reference(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: Option<&Tensor<f64>>,
    o: Conv2dOptions,
) -> Tensor<f64> {
    let (xs, ws) = (x.shape(), w.shape());
    let (n, h, wd) = (xs[0], xs[2] as isize, xs[3] as isize);
    let (c_out, c_in_g, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let c_out_g = c_out / o.groups;
    let out_len = |len: isize, k: usize, s: usize, p: usize, d: usize| {
        ((len as usize + 2 * p - d * (k - 1) - 1) / s) + 1
    };
    let oh = out_len(h, kh, o.stride.0, o.padding.0, o.dilation.0);
    let ow = out_len(wd, kw, o.stride.1, o.padding.1, o.dilation.1);
    let mut out = Vec::new();
    for ni in 0..n {
        for oc in 0..c_out {
            let group = oc / c_out_g;
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b.get(&[oc]));
                    for c in 0..c_in_g {
                        for u in 0..kh {
                            for v in 0..kw {
                                let r = (i * o.stride.0 + u * o.dilation.0) as isize
                                    - o.padding.0 as isize;
                                let s = (j * o.stride.1 + v * o.dilation.1) as isize
                                    - o.padding.1 as isize;
                                if r < 0 || r >= h || s < 0 || s >= wd {
                                    continue;
                                }
                                let xv = x.get(&[ni, group * c_in_g + c, r as usize, s as usize]);
                                acc += w.get(&[oc, c, u, v]) * xv;
                            }
                        }
                    }
                    out.push(acc);
                }
            }
        }
    }
    Tensor::from_vec(out, &[n, c_out, oh, ow]).unwrap()
}
