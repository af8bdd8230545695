//! Matrix products: gradcheck over 2-d, batched and broadcast-batch shapes,
//! hand-derived gradients, constant operands and shape errors.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::check::gradcheck;
use tapegrad::{Param, Tape, Tensor, tensor};

fn check_pair(a: &[usize], b: &[usize]) {
    let mut rng = StdRng::seed_from_u64((a.len() * 10 + b.len()) as u64);
    let x = Tensor::<f64>::randn(a, &mut rng);
    let y = Tensor::<f64>::randn(b, &mut rng);
    if let Err(report) = gradcheck(|v| v[0].matmul(v[1]), &[x, y]) {
        panic!("matmul {a:?} x {b:?}: {report}");
    }
}

#[test]
fn plain_product_passes_gradcheck() {
    check_pair(&[2, 3], &[3, 4]);
    check_pair(&[1, 1], &[1, 1]);
    check_pair(&[1, 5], &[5, 1]);
}

#[test]
fn batched_product_passes_gradcheck() {
    check_pair(&[2, 3, 4], &[2, 4, 5]);
    check_pair(&[2, 3, 4], &[4, 5]); // shared 2-d right operand (a linear layer)
    check_pair(&[3, 4], &[2, 4, 5]); // shared 2-d left operand
    check_pair(&[2, 2, 3, 4], &[4, 1]);
}

#[test]
fn broadcast_batch_product_passes_gradcheck() {
    // Batch axes [2, 1] and [5] broadcast to [2, 5]; each operand's gradient
    // is summed back over the axes it was broadcast along.
    check_pair(&[2, 1, 3, 4], &[5, 4, 2]);
    check_pair(&[1, 3, 2], &[4, 2, 3]);
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::zeros(&[2, 1, 3, 4]));
    let b = tape.var(Tensor::zeros(&[5, 4, 2]));
    assert_eq!(a.matmul(b).shape().as_slice(), &[2, 5, 3, 2]);
}

#[test]
fn gradients_match_hand_derivation() {
    let tape = Tape::<f64>::new();
    let a = tape.var(tensor![[1.0, 2.0], [3.0, 4.0]]);
    let b = tape.var(tensor![[5.0, 6.0], [7.0, 8.0]]);
    let y = a.matmul(b);
    // [[1*5 + 2*7, 1*6 + 2*8], [3*5 + 4*7, 3*6 + 4*8]]
    assert_eq!(y.value().to_vec(), vec![19., 22., 43., 50.]);
    let g = y.sum().backward();
    // With G all ones: dA = G B^T, each row holds B's row sums [5+6, 7+8];
    // dB = A^T G, each column holds A's column sums [1+3, 2+4].
    assert_eq!(g.wrt(a).to_vec(), vec![11., 15., 11., 15.]);
    assert_eq!(g.wrt(b).to_vec(), vec![4., 4., 6., 6.]);
}

#[test]
fn shared_weight_gradient_sums_over_the_batch() {
    let tape = Tape::<f64>::new();
    // Two batch entries of one row each, against a shared 2 x 1 weight.
    let x = tape.var(tensor![[[1.0, 2.0]], [[3.0, 4.0]]]); // [2, 1, 2]
    let w = tape.var(tensor![[10.0], [100.0]]); // [2, 1]
    let y = x.matmul(w); // [[[210]], [[430]]]
    assert_eq!(y.value().to_vec(), vec![210., 430.]);
    let g = y.sum().backward();
    // dW = sum over the batch of x_b^T: [1 + 3, 2 + 4]
    assert_eq!(g.wrt(w).shape(), &[2, 1]);
    assert_eq!(g.wrt(w).to_vec(), vec![4., 6.]);
    // dx_b = W^T for every entry
    assert_eq!(g.wrt(x).to_vec(), vec![10., 100., 10., 100.]);
}

#[test]
fn constant_operands_get_no_gradient() {
    let tape = Tape::<f64>::new();
    let data = tape.constant(tensor![[1.0, 2.0, 3.0]]);
    let w = tape.var(tensor![[1.0], [0.0], [-1.0]]);
    // Only the weight's side is wanted: dW = data^T.
    let g = data.matmul(w).sum().backward();
    assert_eq!(g.wrt(w).to_vec(), vec![1.0, 2.0, 3.0]);
    // Two constants record a node that backward never visits.
    let c = tape.constant(tensor![[2.0]]);
    assert!(!c.matmul(c).requires_grad());
    // A frozen parameter is bound as a constant and gets no gradient entry.
    let mut p = Param::<f64>::new("w", tensor![[2.0], [3.0], [4.0]]);
    p.set_trainable(false);
    let x = tape.var(tensor![[1.0, 1.0, 1.0]]);
    let g = x.matmul(tape.param(&p)).sum().backward();
    assert!(g.get_param(p.id()).is_none());
    assert_eq!(g.wrt(x).to_vec(), vec![2.0, 3.0, 4.0]);
}

#[test]
fn f32_product_agrees_with_f64() {
    let mut rng = StdRng::seed_from_u64(5);
    let a = Tensor::<f64>::randn(&[3, 4], &mut rng);
    let b = Tensor::<f64>::randn(&[4, 2], &mut rng);
    let grads64 = {
        let tape = Tape::<f64>::new();
        let (x, y) = (tape.var(a.clone()), tape.var(b.clone()));
        let g = x.matmul(y).sum().backward();
        (g.wrt(x).clone(), g.wrt(y).clone())
    };
    let tape = Tape::<f32>::new();
    let (x, y) = (tape.var(a.cast()), tape.var(b.cast()));
    let g = x.matmul(y).sum().backward();
    for (g32, g64) in [(g.wrt(x), &grads64.0), (g.wrt(y), &grads64.1)] {
        for (p, q) in g32.as_slice().iter().zip(g64.as_slice()) {
            assert!((f64::from(*p) - q).abs() < 1e-5);
        }
    }
}

#[test]
#[should_panic(expected = "matmul: inner dimensions differ: [2, 3] x [4, 5]")]
fn inner_dimension_mismatch_panics_with_both_shapes() {
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::zeros(&[2, 3]));
    let b = tape.var(Tensor::zeros(&[4, 5]));
    let _ = a.matmul(b);
}

#[test]
#[should_panic(expected = "matmul: both operands need at least 2 axes: [3] x [3, 4]")]
fn vector_operand_panics_with_both_shapes() {
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::zeros(&[3]));
    let b = tape.var(Tensor::zeros(&[3, 4]));
    let _ = a.matmul(b);
}

#[test]
#[should_panic(
    expected = "matmul: batch dimensions [2] and [3] do not broadcast: [2, 3, 4] x [3, 4, 5]"
)]
fn batch_mismatch_panics_naming_matmul_and_both_full_shapes() {
    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::zeros(&[2, 3, 4]));
    let b = tape.var(Tensor::zeros(&[3, 4, 5]));
    let _ = a.matmul(b);
}

#[test]
fn linear_matches_matmul_with_transposed_weight_and_passes_gradcheck() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for x_dims in [&[4usize, 3][..], &[2, 5, 3], &[3]] {
        let x = Tensor::<f64>::randn(x_dims, &mut rng);
        let w = Tensor::<f64>::randn(&[2, 3], &mut rng);
        let b = Tensor::<f64>::randn(&[2], &mut rng);
        gradcheck(
            |v| v[0].linear(v[1], Some(v[2])),
            &[x.clone(), w.clone(), b.clone()],
        )
        .unwrap();
        gradcheck(|v| v[0].linear(v[1], None), &[x.clone(), w.clone()]).unwrap();
        // Same values as the unfused composite x @ w^T + b.
        if x_dims.len() >= 2 {
            let tape = Tape::<f64>::new();
            let (xv, wv, bv) = (tape.constant(x), tape.constant(w), tape.constant(b));
            let fused = xv.linear(wv, Some(bv)).value();
            let plain = (xv.matmul(wv.t()) + bv).value();
            for (p, q) in fused.as_slice().iter().zip(plain.as_slice()) {
                assert!((p - q).abs() < 1e-12);
            }
        }
    }
}

#[test]
#[should_panic(expected = "linear: input features differ from the weight's: [4, 3] x [2, 5]")]
fn linear_feature_mismatch_names_both_shapes() {
    let tape = Tape::<f32>::new();
    let x = tape.constant(Tensor::zeros(&[4, 3]));
    let w = tape.var(Tensor::zeros(&[2, 5]));
    let _ = x.linear(w, None);
}

/// A linear layer large enough for its two backward products to run side
/// by side (64 x 64 x 64 multiply-adds each, when the pool has two threads)
/// gives the gradients written out by hand: dx = g w, dw = g^T x, db = sum g.
#[test]
fn large_linear_backward_matches_hand_products() {
    let mut rng = StdRng::seed_from_u64(17);
    let (rows, inp, out) = (64, 72, 64);
    let x = Tensor::<f64>::randn(&[rows, inp], &mut rng);
    let w = Tensor::<f64>::randn(&[out, inp], &mut rng);
    let b = Tensor::<f64>::randn(&[out], &mut rng);
    let c = Tensor::<f64>::randn(&[rows, out], &mut rng);
    let tape = Tape::<f64>::new();
    let (xv, wv, bv) = (tape.var(x.clone()), tape.var(w.clone()), tape.var(b));
    // loss = sum(c * y), so the gradient reaching y is c.
    let loss = (xv.linear(wv, Some(bv)) * tape.constant(c.clone())).sum();
    let grads = loss.backward();
    let (xs, ws, g) = (x.as_slice(), w.as_slice(), c.as_slice());
    let dx = grads.wrt(xv);
    let dw = grads.wrt(wv);
    let db = grads.wrt(bv);
    for i in 0..rows {
        for k in 0..inp {
            let want: f64 = (0..out).map(|j| g[i * out + j] * ws[j * inp + k]).sum();
            assert!((dx.as_slice()[i * inp + k] - want).abs() < 1e-10);
        }
    }
    for j in 0..out {
        for k in 0..inp {
            let want: f64 = (0..rows).map(|i| g[i * out + j] * xs[i * inp + k]).sum();
            assert!((dw.as_slice()[j * inp + k] - want).abs() < 1e-10);
        }
        let want: f64 = (0..rows).map(|i| g[i * out + j]).sum();
        assert!((db.as_slice()[j] - want).abs() < 1e-10);
    }
}

/// Many small products in one batch (as attention heads make) are shared
/// out over threads one entry per task; each entry must still equal its own
/// product, including where the left operand is broadcast over the batch.
#[test]
fn many_small_batched_products_match_entrywise_sums() {
    let mut rng = StdRng::seed_from_u64(23);
    let (batch, m, k, n) = (16, 32, 24, 40);
    let a = Tensor::<f64>::randn(&[batch, m, k], &mut rng);
    let b = Tensor::<f64>::randn(&[batch, k, n], &mut rng);
    let shared = Tensor::<f64>::randn(&[m, k], &mut rng);
    let y = a.matmul(&b);
    let z = shared.matmul(&b);
    assert_eq!(y.shape(), &[batch, m, n]);
    assert_eq!(z.shape(), &[batch, m, n]);
    let (av, bv, sv) = (a.as_slice(), b.as_slice(), shared.as_slice());
    for t in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let dot = |lhs: &[f64]| -> f64 {
                    (0..k)
                        .map(|p| lhs[i * k + p] * bv[t * k * n + p * n + j])
                        .sum()
                };
                let at = t * m * n + i * n + j;
                assert!((y.as_slice()[at] - dot(&av[t * m * k..])).abs() < 1e-10);
                assert!((z.as_slice()[at] - dot(sv)).abs() < 1e-10);
            }
        }
    }
}
