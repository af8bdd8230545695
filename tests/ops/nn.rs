//! Neural-net ops other than convolution (see `grad_conv.rs`): softmax,
//! log-softmax, layer and batch norm, dropout. Gradients against finite
//! differences in f64; forward values against answers worked out by hand.

use rand::RngExt;
use tapegrad::check::gradcheck;
use tapegrad::{Tape, Tensor, tensor};

use crate::common;
use common::{assert_close, randn, rng};

// ---------------------------------------------------------------- softmax

#[test]
fn softmax_and_log_softmax_grads_match_finite_differences() {
    let cases: &[(&[usize], isize)] = &[
        (&[], 0),
        (&[], -1),
        (&[5], 0),
        (&[1], -1),
        (&[3, 4], 0),
        (&[3, 4], -1),
        (&[2, 3, 4], 1),
        (&[2, 1, 3], 1),
        (&[2, 3, 1], -1),
    ];
    for (k, &(dims, axis)) in cases.iter().enumerate() {
        let x = randn(dims, k as u64);
        gradcheck(|v| v[0].softmax(axis), std::slice::from_ref(&x)).unwrap();
        gradcheck(|v| v[0].log_softmax(axis), &[x]).unwrap();
    }
}

#[test]
fn softmax_sums_to_one_along_its_axis() {
    let x = randn(&[3, 4, 5], 1);
    let tape = Tape::<f64>::new();
    let y = tape.var(x).softmax(1).value();
    for a in 0..3 {
        for c in 0..5 {
            let s: f64 = (0..4).map(|b| y.get(&[a, b, c])).sum();
            assert!((s - 1.0).abs() < 1e-12, "sum {s} at [{a}, :, {c}]");
        }
    }
}

#[test]
fn softmax_matches_hand_values() {
    // e^0 : e^ln2 : e^ln3 = 1 : 2 : 3, so the probabilities are 1/6, 2/6, 3/6;
    // log_softmax is their logarithm.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![0.0, 2f64.ln(), 3f64.ln()]);
    assert_close(
        &x.softmax(0).value().to_vec(),
        &[1. / 6., 2. / 6., 3. / 6.],
        1e-12,
    );
    let want: Vec<f64> = [1.0f64 / 6., 2. / 6., 3. / 6.]
        .iter()
        .map(|p| p.ln())
        .collect();
    assert_close(&x.log_softmax(-1).value().to_vec(), &want, 1e-12);
    // A 0-d input is one element: softmax 1, log_softmax 0.
    let s = tape.var(Tensor::scalar(7.0));
    assert_eq!(s.softmax(0).item(), 1.0);
    assert_eq!(s.log_softmax(-1).item(), 0.0);
}

#[test]
fn softmax_of_huge_logits_stays_finite() {
    // Logits 1000 apart: naive e^1000 is inf. Stable: the winner gets
    // probability 1 and log-probability 0 (to f64 precision), the loser
    // log-probability -1000 and probability e^-1000 = 0.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[1000.0, 0.0], [1000.0, 1000.0]]);
    let y = x.softmax(-1);
    assert_eq!(y.value().to_vec(), vec![1.0, 0.0, 0.5, 0.5]);
    let ly = x.log_softmax(-1);
    assert_close(
        &ly.value().to_vec(),
        &[0.0, -1000.0, -2f64.ln(), -2f64.ln()],
        1e-12,
    );
    let g = ly.backward_with(Tensor::ones(&[2, 2]));
    assert!(g.wrt(x).all_finite());
    // Also in f32, where e^89 already overflows.
    let tape = Tape::<f32>::new();
    let x = tape.var(tensor![[1000.0f32, -1000.0, 0.0]]);
    assert!(x.log_softmax(-1).value().all_finite());
    assert!(x.softmax(-1).value().all_finite());
}

#[test]
#[should_panic(expected = "softmax: axis 2 is out of range for shape [3, 4]")]
fn softmax_axis_out_of_range_panics_with_shape() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(Tensor::zeros(&[3, 4])).softmax(2);
}

// ---------------------------------------------------------------- norms

#[test]
fn layer_norm_grads_match_finite_differences() {
    let eps = 1e-5;
    let cases: &[(&[usize], &[usize])] = &[
        (&[5], &[5]),
        (&[3, 4], &[4]),
        (&[2, 3, 4], &[3, 4]),
        (&[3, 1, 2], &[2]),
    ];
    for (k, &(xs, ns)) in cases.iter().enumerate() {
        let seed = 10 * k as u64;
        let (x, w, b) = (randn(xs, seed), randn(ns, seed + 1), randn(ns, seed + 2));
        gradcheck(
            |v| v[0].layer_norm(ns, Some(v[1]), Some(v[2]), eps),
            &[x.clone(), w.clone(), b.clone()],
        )
        .unwrap();
        gradcheck(
            |v| v[0].layer_norm(ns, None, None, eps),
            std::slice::from_ref(&x),
        )
        .unwrap();
        gradcheck(
            |v| v[0].layer_norm(ns, Some(v[1]), None, eps),
            &[x.clone(), w],
        )
        .unwrap();
        gradcheck(|v| v[0].layer_norm(ns, None, Some(v[1]), eps), &[x, b]).unwrap();
    }
}

#[test]
fn layer_norm_rows_have_zero_mean_and_unit_variance_before_affine() {
    // Row [1, 2, 3, 6]: mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5, so
    // with eps 0 the output is (x - 3) / sqrt(3.5); weight 2 and bias 1 then
    // give 2 (x - 3) / sqrt(3.5) + 1.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[1.0, 2.0, 3.0, 6.0]]);
    let s = 3.5f64.sqrt();
    let want: Vec<f64> = [-2.0, -1.0, 0.0, 3.0].iter().map(|d| d / s).collect();
    assert_close(
        &x.layer_norm(&[4], None, None, 0.0).value().to_vec(),
        &want,
        1e-12,
    );
    let w = tape.var(Tensor::full(&[4], 2.0));
    let b = tape.var(Tensor::ones(&[4]));
    let y = x.layer_norm(&[4], Some(w), Some(b), 0.0).value();
    let want_affine: Vec<f64> = want.iter().map(|v| 2.0 * v + 1.0).collect();
    assert_close(&y.to_vec(), &want_affine, 1e-12);
}

#[test]
#[should_panic(
    expected = "layer_norm: normalized_shape [3] is not the trailing axes of input [2, 4]"
)]
fn layer_norm_shape_mismatch_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape
        .var(Tensor::zeros(&[2, 4]))
        .layer_norm(&[3], None, None, 1e-5);
}

#[test]
#[should_panic(expected = "layer_norm: weight must have shape [4]: got [3]")]
fn layer_norm_weight_shape_mismatch_panics() {
    let tape = Tape::<f64>::new();
    let w = tape.var(Tensor::ones(&[3]));
    let _ = tape
        .var(Tensor::zeros(&[2, 4]))
        .layer_norm(&[4], Some(w), None, 1e-5);
}

#[test]
fn batch_norm_grads_match_finite_differences() {
    let eps = 1e-5;
    let cases: &[&[usize]] = &[&[4, 3], &[2, 3, 2, 2], &[3, 2, 4], &[2, 1, 3, 1]];
    for (k, &xs) in cases.iter().enumerate() {
        let seed = 10 * k as u64;
        let c = xs[1];
        let (x, w, b) = (
            randn(xs, seed),
            randn(&[c], seed + 1),
            randn(&[c], seed + 2),
        );
        gradcheck(
            |v| v[0].batch_norm(Some(v[1]), Some(v[2]), eps),
            &[x.clone(), w.clone(), b.clone()],
        )
        .unwrap();
        gradcheck(
            |v| v[0].batch_norm(None, None, eps),
            std::slice::from_ref(&x),
        )
        .unwrap();
        gradcheck(|v| v[0].batch_norm(Some(v[1]), None, eps), &[x.clone(), w]).unwrap();
        gradcheck(|v| v[0].batch_norm(None, Some(v[1]), eps), &[x, b]).unwrap();
    }
}

#[test]
fn batch_norm_normalises_each_channel_and_reports_batch_stats() {
    // x [N=2, C=2, 2]: channel 0 holds {0, 2, 4, 6}, channel 1 {1, 1, 1, 5}.
    // Channel 0: mean 3, squared deviations 9 + 1 + 1 + 9 = 20, biased
    // variance 5, unbiased 20 / 3. Channel 1: mean 2, deviations 1+1+1+9 = 12,
    // biased 3, unbiased 4.
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[[0.0, 2.0], [1.0, 1.0]], [[4.0, 6.0], [1.0, 5.0]]]);
    let w = tape.var(tensor![2.0, 1.0]);
    let b = tape.var(tensor![0.5, 0.0]);
    let (y, stats) = x.batch_norm_with_stats(Some(w), Some(b), 0.0);
    assert_eq!(stats.mean.to_vec(), vec![3.0, 2.0]);
    assert_close(&stats.var.to_vec(), &[20.0 / 3.0, 4.0], 1e-12);
    assert_eq!(stats.count, 4);
    // y = 2 (x - 3) / sqrt 5 + 0.5 in channel 0, (x - 2) / sqrt 3 in channel 1.
    let c0 = |x: f64| 2.0 * (x - 3.0) / 5f64.sqrt() + 0.5;
    let c1 = |x: f64| (x - 2.0) / 3f64.sqrt();
    let want = [
        c0(0.0),
        c0(2.0),
        c1(1.0),
        c1(1.0),
        c0(4.0),
        c0(6.0),
        c1(1.0),
        c1(5.0),
    ];
    assert_close(&y.value().to_vec(), &want, 1e-12);
}

#[test]
#[should_panic(
    expected = "batch_norm: training needs more than one value per channel: input [1, 3]"
)]
fn batch_norm_of_a_single_value_per_channel_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape
        .var(Tensor::zeros(&[1, 3]))
        .batch_norm(None, None, 1e-5);
}

#[test]
#[should_panic(expected = "batch_norm: weight must have shape [3]: got [2]")]
fn batch_norm_weight_of_wrong_length_panics() {
    let tape = Tape::<f64>::new();
    let w = tape.var(Tensor::ones(&[2]));
    let _ = tape
        .var(Tensor::zeros(&[4, 3]))
        .batch_norm(Some(w), None, 1e-5);
}

// ---------------------------------------------------------------- dropout

#[test]
fn dropout_with_the_same_seed_draws_the_same_mask() {
    let tape = Tape::<f64>::new();
    let x = tape.var(randn(&[8, 8], 0));
    let a = x.dropout(0.5, &mut rng(42)).value();
    let b = x.dropout(0.5, &mut rng(42)).value();
    let c = x.dropout(0.5, &mut rng(43)).value();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn dropout_scales_survivors_by_one_over_keep_probability() {
    // With p = 0.3, each element is kept with probability 0.7 and then worth
    // 1 / 0.7, so the mean stays 1. Over 20000 draws the kept fraction is
    // within 0.7 +- 0.02 (more than 6 standard deviations, sqrt(.21/20000)).
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::ones(&[20000]));
    let y = x.dropout(0.3, &mut rng(1));
    let v = y.value();
    let scale = 1.0 / 0.7;
    assert!(v.as_slice().iter().all(|&e| e == 0.0 || e == scale));
    let kept = v.as_slice().iter().filter(|&&e| e != 0.0).count() as f64 / 20000.0;
    assert!((kept - 0.7).abs() < 0.02, "kept fraction {kept}");
    let mean = v.as_slice().iter().sum::<f64>() / 20000.0;
    assert!((mean - 1.0).abs() < 0.03, "mean {mean}");
    // The gradient is the mask: d(x * m)/dx = m, which for x = 1 is y itself.
    let g = y.backward_with(Tensor::ones(&[20000]));
    assert_eq!(g.wrt(x), &v);
}

#[test]
fn dropout_with_p_zero_is_the_identity_and_p_one_zeroes() {
    let tape = Tape::<f64>::new();
    let x = tape.var(randn(&[3, 4], 2));
    let mut r = rng(0);
    let y = x.dropout(0.0, &mut r);
    assert_eq!(y.index(), x.index(), "p = 0 records nothing");
    // ... and draws nothing: the generator is where it started.
    assert_eq!(r.random::<u64>(), rng(0).random::<u64>());
    assert_eq!(x.dropout(1.0, &mut r).value(), Tensor::zeros(&[3, 4]));
}

#[test]
#[should_panic(expected = "dropout: p must be in [0, 1]: got 1.5")]
fn dropout_probability_out_of_range_panics() {
    let tape = Tape::<f64>::new();
    let _ = tape.var(Tensor::ones(&[2])).dropout(1.5, &mut rng(0));
}
