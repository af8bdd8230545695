//! Convolution and pooling: gradients against finite differences in f64,
//! forward values and gradients against answers worked out by hand, and the
//! threaded batch path against one sample at a time.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tapegrad::check::gradcheck;
use tapegrad::ops::Conv2dOptions;
use tapegrad::{Tape, Tensor, tensor};

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn randn(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(dims, &mut rng(seed))
}

/// Distinct values (a shuffled ramp, 0.1 apart): no pooling window has a
/// tie, and no finite-difference step can change a window's winner.
fn distinct(dims: &[usize], seed: u64) -> Tensor<f64> {
    let n: usize = dims.iter().product();
    let mut v: Vec<f64> = (0..n).map(|i| i as f64 * 0.1 - 1.0).collect();
    v.shuffle(&mut rng(seed));
    Tensor::from_vec(v, dims).unwrap()
}

fn assert_close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "element {i}: {x} vs {y}");
    }
}

// ---------------------------------------------------------------- conv2d

#[test]
fn conv2d_grads_match_finite_differences() {
    let o = Conv2dOptions::default();
    let cases: Vec<(&[usize], &[usize], bool, Conv2dOptions)> = vec![
        (&[1, 1, 4, 4], &[1, 1, 2, 2], false, o),
        (&[2, 3, 5, 4], &[2, 3, 3, 2], true, o),
        (
            &[2, 2, 5, 5],
            &[3, 2, 3, 3],
            false,
            Conv2dOptions {
                stride: (2, 2),
                ..o
            },
        ),
        (
            &[1, 2, 4, 4],
            &[2, 2, 3, 3],
            true,
            Conv2dOptions {
                padding: (1, 1),
                ..o
            },
        ),
        (
            &[1, 2, 6, 6],
            &[2, 2, 3, 3],
            false,
            Conv2dOptions {
                dilation: (2, 2),
                ..o
            },
        ),
        (
            &[2, 4, 4, 4],
            &[6, 2, 3, 3],
            true,
            Conv2dOptions { groups: 2, ..o },
        ),
        // 1x1 kernel, stride 1, no padding: the im2col-free path
        (&[2, 3, 3, 3], &[4, 3, 1, 1], true, o),
        // everything at once, unequal along height and width
        (
            &[2, 4, 6, 5],
            &[4, 2, 3, 2],
            true,
            Conv2dOptions {
                stride: (2, 1),
                padding: (1, 2),
                dilation: (2, 1),
                groups: 2,
            },
        ),
        // no padding and unit column stride (im2col copies whole row
        // pieces) with a row stride and a column dilation
        (
            &[2, 2, 7, 6],
            &[3, 2, 2, 3],
            true,
            Conv2dOptions {
                stride: (2, 1),
                dilation: (1, 2),
                ..o
            },
        ),
    ];
    for (k, (xs, ws, bias, opts)) in cases.into_iter().enumerate() {
        let seed = 10 * k as u64;
        let mut inputs = vec![randn(xs, seed), randn(ws, seed + 1)];
        if bias {
            inputs.push(randn(&[ws[0]], seed + 2));
        }
        let report = gradcheck(|v| v[0].conv2d(v[1], v.get(2).copied(), opts), &inputs);
        assert!(
            report.is_ok(),
            "case {k} ({xs:?} * {ws:?}, {opts:?}): {report:?}"
        );
    }
}

#[test]
fn conv2d_matches_hand_computation() {
    // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 2], [3, 4]], bias 1.
    // y[i, j] = 1 + x[i, j] + 2 x[i, j+1] + 3 x[i+1, j] + 4 x[i+1, j+1]:
    //   y[0, 0] = 1 + 1 + 4 + 12 + 20 = 38    y[0, 1] = 1 + 2 + 6 + 15 + 24 = 48
    //   y[1, 0] = 1 + 4 + 10 + 21 + 32 = 68   y[1, 1] = 1 + 5 + 12 + 24 + 36 = 78
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[[
        [1.0, 2.0, 3.0],
        [4.0, 5.0, 6.0],
        [7.0, 8.0, 9.0]
    ]]]);
    let w = tape.var(tensor![[[[1.0, 2.0], [3.0, 4.0]]]]);
    let b = tape.var(tensor![1.0]);
    let y = x.conv2d(w, Some(b), Conv2dOptions::default());
    assert_eq!(y.shape().as_slice(), &[1, 1, 2, 2]);
    assert_eq!(y.value().to_vec(), vec![38.0, 48.0, 68.0, 78.0]);
    // d sum(y) / d w[u, v] = sum of the 2x2 block of x starting at (u, v):
    //   w00: 1+2+4+5 = 12, w01: 2+3+5+6 = 16, w10: 4+5+7+8 = 24, w11: 5+6+8+9 = 28.
    // d sum(y) / d b = 4 outputs. d sum(y) / d x[i, j] = sum of the weights
    // that touch it: the centre is touched by all four (10), a corner by one.
    let g = y.backward_with(Tensor::ones(&[1, 1, 2, 2]));
    assert_eq!(g.wrt(w).to_vec(), vec![12.0, 16.0, 24.0, 28.0]);
    assert_eq!(g.wrt(b).to_vec(), vec![4.0]);
    assert_eq!(
        g.wrt(x).to_vec(),
        vec![1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0]
    );
}

#[test]
fn conv2d_padding_and_stride_match_hand_computation() {
    // x = [[1, 2], [3, 4]] padded by 1 to a 4x4 frame of zeros; a 2x2 box of
    // ones with stride 2 sums the four 2x2 blocks of the frame, each holding
    // exactly one input: y = [[1, 2], [3, 4]].
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[[[1.0, 2.0], [3.0, 4.0]]]]);
    let w = tape.var(Tensor::ones(&[1, 1, 2, 2]));
    let opts = Conv2dOptions {
        stride: (2, 2),
        padding: (1, 1),
        ..Default::default()
    };
    assert_eq!(
        x.conv2d(w, None, opts).value().to_vec(),
        vec![1.0, 2.0, 3.0, 4.0]
    );
    // Dilation 2 on a 3x3 input: the 2x2 kernel's taps are the four corners.
    let x = tape.var(tensor![[[
        [1.0, 2.0, 3.0],
        [4.0, 5.0, 6.0],
        [7.0, 8.0, 9.0]
    ]]]);
    let w = tape.var(tensor![[[[1.0, 10.0], [100.0, 1000.0]]]]);
    let opts = Conv2dOptions {
        dilation: (2, 2),
        ..Default::default()
    };
    // 1*1 + 10*3 + 100*7 + 1000*9
    assert_eq!(x.conv2d(w, None, opts).value().to_vec(), vec![9731.0]);
}

#[test]
fn conv2d_groups_keep_channels_apart() {
    // Two groups of one channel each, 1x1 kernels 2 and 3: each output
    // channel is its own input channel scaled, with no mixing.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[[[1.0, 2.0]], [[10.0, 20.0]]]]); // [1, 2, 1, 2]
    let w = tape.var(tensor![[[[2.0]]], [[[3.0]]]]); // [2, 1, 1, 1]
    let opts = Conv2dOptions {
        groups: 2,
        ..Default::default()
    };
    assert_eq!(
        x.conv2d(w, None, opts).value().to_vec(),
        vec![2.0, 4.0, 30.0, 60.0]
    );
}

#[test]
fn batched_conv2d_equals_per_sample_conv2d() {
    // Big enough (4 samples, ~900k multiply-adds) for the batch to be spread
    // over threads; each sample alone (batch 1) runs on one thread. The
    // results must agree, gradients included (the weight's gradient is the
    // sum of the per-sample ones).
    let (n, xs, ws) = (4, [8, 16, 16], [16, 8, 3, 3]);
    let x = randn(&[n, xs[0], xs[1], xs[2]], 1);
    let w = randn(&ws, 2);
    let opts = Conv2dOptions {
        padding: (1, 1),
        ..Default::default()
    };
    let tape = Tape::<f64>::new();
    let (xv, wv) = (tape.var(x.clone()), tape.var(w.clone()));
    let y = xv.conv2d(wv, None, opts);
    let seed = randn(&y.shape(), 3);
    let g = y.backward_with(seed.clone());
    let per_x: usize = xs.iter().product();
    let per_y = seed.numel() / n;
    let mut dw_sum = vec![0.0; w.numel()];
    for i in 0..n {
        let t = Tape::<f64>::new();
        let xi = Tensor::from_vec(
            x.as_slice()[i * per_x..(i + 1) * per_x].to_vec(),
            &[1, 8, 16, 16],
        );
        let (xi, wi) = (t.var(xi.unwrap()), t.var(w.clone()));
        let yi = xi.conv2d(wi, None, opts);
        let si = seed.as_slice()[i * per_y..(i + 1) * per_y].to_vec();
        let gi = yi.backward_with(Tensor::from_vec(si, &yi.shape()).unwrap());
        assert_close(
            &yi.value().to_vec(),
            &y.value().as_slice()[i * per_y..(i + 1) * per_y],
            1e-9,
        );
        assert_close(
            &gi.wrt(xi).to_vec(),
            &g.wrt(xv).as_slice()[i * per_x..(i + 1) * per_x],
            1e-9,
        );
        dw_sum
            .iter_mut()
            .zip(gi.wrt(wi).as_slice())
            .for_each(|(a, b)| *a += b);
    }
    assert_close(g.wrt(wv).as_slice(), &dw_sum, 1e-9);
}

/// The conv's output and its three gradients in f32, computed on a rayon
/// pool of `threads` threads.
fn conv_on_threads(threads: usize, opts: Conv2dOptions) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let tape = Tape::<f32>::new();
        let x = tape.var(randn(&[32, 4, 10, 10], 7).cast());
        let w = tape.var(randn(&[8, 4, 3, 3], 8).cast());
        let b = tape.var(randn(&[8], 9).cast());
        let y = x.conv2d(w, Some(b), opts);
        let g = y.backward_with(randn(&y.shape(), 10).cast());
        vec![
            y.value().to_vec(),
            g.wrt(x).to_vec(),
            g.wrt(w).to_vec(),
            g.wrt(b).to_vec(),
        ]
    })
}

#[test]
fn conv2d_results_do_not_depend_on_the_thread_count() {
    // 32 samples, ~600k multiply-adds (the unpadded case): large enough for
    // the batch to be split (over two threads) and for the weight gradient
    // to be summed in 16 partial sums of two samples each; on one thread the
    // same partial sums run in turn. f32, so any change in the order of the
    // additions would show in the bits (summing the 32 samples in one run
    // on one thread fails this test).
    for opts in [
        Conv2dOptions::default(),
        Conv2dOptions {
            padding: (1, 1),
            stride: (2, 2),
            ..Default::default()
        },
    ] {
        let (one, two) = (conv_on_threads(1, opts), conv_on_threads(2, opts));
        for (k, (a, b)) in one.iter().zip(&two).enumerate() {
            let (a, b): (Vec<u32>, Vec<u32>) = (
                a.iter().map(|v| v.to_bits()).collect(),
                b.iter().map(|v| v.to_bits()).collect(),
            );
            assert_eq!(a, b, "result {k} with {opts:?}");
        }
    }
}

#[test]
fn conv2d_in_f32_agrees_with_f64() {
    let (x, w, b) = (
        randn(&[2, 2, 5, 5], 4),
        randn(&[3, 2, 3, 3], 5),
        randn(&[3], 6),
    );
    let opts = Conv2dOptions {
        stride: (2, 2),
        padding: (1, 1),
        ..Default::default()
    };
    let t64 = Tape::<f64>::new();
    let y64 = t64
        .var(x.clone())
        .conv2d(t64.var(w.clone()), Some(t64.var(b.clone())), opts);
    let t32 = Tape::<f32>::new();
    let y32 = t32
        .var(x.cast())
        .conv2d(t32.var(w.cast()), Some(t32.var(b.cast())), opts);
    assert_close(
        &y32.value().cast::<f64>().to_vec(),
        &y64.value().to_vec(),
        1e-4,
    );
}

#[test]
#[should_panic(
    expected = "conv2d: input has 3 channels but weight expects 2 (2 per group x 1 groups): input [1, 3, 4, 4], weight [2, 2, 3, 3]"
)]
fn conv2d_channel_mismatch_panics_with_shapes() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[1, 3, 4, 4]));
    let w = tape.var(Tensor::zeros(&[2, 2, 3, 3]));
    let _ = x.conv2d(w, None, Conv2dOptions::default());
}

#[test]
#[should_panic(expected = "conv2d: bias must be [C_out] = [2]: got bias [3], weight [2, 1, 3, 3]")]
fn conv2d_bias_of_wrong_length_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[1, 1, 4, 4]));
    let w = tape.var(Tensor::zeros(&[2, 1, 3, 3]));
    let b = tape.var(Tensor::zeros(&[3]));
    let _ = x.conv2d(w, Some(b), Conv2dOptions::default());
}

#[test]
#[should_panic(
    expected = "conv2d: kernel 5x5 with dilation (1, 1) does not fit the input padded by (0, 0): input [1, 1, 4, 4], weight [1, 1, 5, 5]"
)]
fn conv2d_kernel_larger_than_input_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::zeros(&[1, 1, 4, 4]));
    let w = tape.var(Tensor::zeros(&[1, 1, 5, 5]));
    let _ = x.conv2d(w, None, Conv2dOptions::default());
}

// ---------------------------------------------------------------- pooling

type Pool = ((usize, usize), (usize, usize), (usize, usize));

const POOLS: [(&[usize], Pool); 4] = [
    // overlapping 3x3 windows, stride 2, padding 1
    (&[2, 2, 5, 5], ((3, 3), (2, 2), (1, 1))),
    // overlapping 2x2 windows, stride 1
    (&[1, 1, 4, 4], ((2, 2), (1, 1), (0, 0))),
    // unequal kernel, stride and padding per axis
    (&[1, 2, 5, 4], ((3, 2), (1, 2), (1, 0))),
    // disjoint windows
    (&[2, 1, 4, 6], ((2, 3), (2, 3), (0, 0))),
];

#[test]
fn max_pool2d_grads_match_finite_differences() {
    for (k, &(dims, (kernel, stride, padding))) in POOLS.iter().enumerate() {
        let x = distinct(dims, k as u64);
        gradcheck(|v| v[0].max_pool2d(kernel, stride, padding), &[x]).unwrap();
    }
}

#[test]
fn avg_pool2d_grads_match_finite_differences() {
    for (k, &(dims, (kernel, stride, padding))) in POOLS.iter().enumerate() {
        let x = randn(dims, k as u64);
        gradcheck(|v| v[0].avg_pool2d(kernel, stride, padding), &[x]).unwrap();
    }
}

#[test]
fn max_pool2d_matches_hand_values() {
    // x = 0..16 as a 4x4 plane; 2x2 windows, stride 2: each block's
    // bottom-right element wins: 5, 7, 13, 15, and only those get gradient.
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::arange(0.0, 16.0, 1.0).reshape(&[1, 1, 4, 4]));
    let y = x.max_pool2d((2, 2), (2, 2), (0, 0));
    assert_eq!(y.value().to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
    let g = y.backward_with(tensor![[[[1.0, 2.0], [3.0, 4.0]]]]);
    let mut want = vec![0.0; 16];
    (want[5], want[7], want[13], want[15]) = (1.0, 2.0, 3.0, 4.0);
    assert_eq!(g.wrt(x).to_vec(), want);
    // Overlapping windows (3x3, stride 1) share a winner: the gradient adds up.
    // The centre 4 of [[0, 1, 0], [1, 4, 1], [0, 1, 0]] padded by 1 wins all 9.
    let x = tape.var(tensor![[[
        [0.0, 1.0, 0.0],
        [1.0, 4.0, 1.0],
        [0.0, 1.0, 0.0]
    ]]]);
    let y = x.max_pool2d((3, 3), (1, 1), (1, 1));
    assert_eq!(y.value().to_vec(), vec![4.0; 9]);
    let g = y.backward_with(Tensor::ones(&[1, 1, 3, 3]));
    assert_eq!(g.wrt(x).get(&[0, 0, 1, 1]), 9.0);
}

#[test]
fn max_pool2d_padding_never_wins() {
    // All inputs negative: a padded border must not turn into a 0 maximum.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[[[-1.0, -2.0], [-3.0, -4.0]]]]);
    let y = x.max_pool2d((2, 2), (1, 1), (1, 1));
    // windows over the padded 4x4 frame; each sees a subset of the inputs
    assert_eq!(
        y.value().to_vec(),
        vec![-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -3.0, -3.0, -4.0]
    );
}

#[test]
fn avg_pool2d_counts_padding_in_the_divisor() {
    // A 3x3 plane of ones, 3x3 windows with padding 1 (count_include_pad):
    // a corner window holds 4 ones, an edge 6, the centre 9, all over 9.
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::ones(&[1, 1, 3, 3]));
    let y = x.avg_pool2d((3, 3), (1, 1), (1, 1));
    let (c, e, m) = (4.0 / 9.0, 6.0 / 9.0, 1.0);
    assert_close(&y.value().to_vec(), &[c, e, c, e, m, e, c, e, c], 1e-15);
    // Each input gets 1/9 from every window that covers it: the centre is
    // covered by all 9 windows, a corner by 4.
    let g = y.backward_with(Tensor::ones(&[1, 1, 3, 3]));
    assert!((g.wrt(x).get(&[0, 0, 1, 1]) - 1.0).abs() < 1e-15);
    assert!((g.wrt(x).get(&[0, 0, 0, 0]) - 4.0 / 9.0).abs() < 1e-15);
}

#[test]
#[should_panic(expected = "max_pool2d: padding (2, 2) must be at most half the kernel (3, 3)")]
fn pooling_padding_over_half_the_kernel_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape
        .var(Tensor::zeros(&[1, 1, 4, 4]))
        .max_pool2d((3, 3), (1, 1), (2, 2));
}

#[test]
#[should_panic(expected = "avg_pool2d: input must be [N, C, H, W]: got [4, 4]")]
fn pooling_needs_four_axes() {
    let tape = Tape::<f64>::new();
    let _ = tape
        .var(Tensor::zeros(&[4, 4]))
        .avg_pool2d((2, 2), (2, 2), (0, 0));
}

#[test]
fn max_pool_ties_go_to_the_first_tap_and_nans_win() {
    // Windows (2x2, stride 2) of [[1, 1, 2, NaN], [0, 1, 5, 2]]:
    // left  {1, 1, 0, 1}: max 1, first at (0, 0);
    // right {2, NaN, 5, 2}: NaN, at (0, 3).
    // Unpadded windows take a fast path and padded ones the general one, so
    // both are checked, each against its windows worked out by hand.
    for (kernel, stride, padding) in [((2, 2), (2, 2), (0, 0)), ((2, 2), (2, 2), (1, 1))] {
        let tape = Tape::<f64>::new();
        let x = tape.var(tensor![[[[1.0, 1.0, 2.0, f64::NAN], [0.0, 1.0, 5.0, 2.0]]]]);
        let y = x.max_pool2d(kernel, stride, padding);
        let grads = y.sum().backward();
        let dx = grads.wrt(x);
        if padding == (0, 0) {
            let out = y.value();
            assert_eq!(out.as_slice()[0], 1.0);
            assert!(out.as_slice()[1].is_nan());
            assert_eq!(dx.as_slice(), [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
        } else {
            // Padded by one: windows start at -1, so the outputs see
            // {1}, {1, 2}, {NaN} (top row, with padding) and {0}, {1, 5},
            // {2} (bottom row): 3 columns x 2 rows of outputs.
            let out = y.value();
            assert_eq!(out.shape(), [1, 1, 2, 3]);
            let v = out.as_slice();
            assert_eq!(&v[..2], [1.0, 2.0]);
            assert!(v[2].is_nan());
            assert_eq!(&v[3..], [0.0, 5.0, 2.0]);
            assert_eq!(dx.as_slice(), [1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
        }
    }
}
