//! The per-head attention products `head_scores` and `head_mix`: values
//! and gradients against the general route (reshape, permute, batched
//! matmul, permute back), and gradients against f64 finite differences.

use tapegrad::check::gradcheck;
use tapegrad::{Tape, Tensor, Var};

use crate::common;
use common::{assert_close, randn};

/// `[N, L, E] -> [N, H, L, d]` by reshape and permute.
fn split<'t>(x: Var<'t, f64>, heads: usize) -> Var<'t, f64> {
    let s = x.shape();
    x.reshape(&[s[0], s[1], heads, s[2] / heads])
        .permute(&[0, 2, 1, 3])
}

#[test]
fn head_products_match_permute_and_matmul() {
    // N 2, Lq 3, Lk 5, E 6 in 3 heads of 2.
    let (n, lq, lk, e, h) = (2, 3, 5, 6, 3);
    let (q0, k0, v0) = (
        randn(&[n, lq, e], 1),
        randn(&[n, lk, e], 2),
        randn(&[n, lk, e], 3),
    );
    let w = randn(&[n, lq, e], 4); // contracts the output
    let run = |fused: bool| {
        let tape = Tape::<f64>::new();
        let (q, k, v) = (
            tape.var(q0.clone()),
            tape.var(k0.clone()),
            tape.var(v0.clone()),
        );
        let out = if fused {
            let p = q.head_scores(k, h).softmax(-1);
            p.head_mix(v, h)
        } else {
            let s = split(q, h).matmul(split(k, h).transpose(-1, -2));
            let o = s.softmax(-1).matmul(split(v, h));
            o.permute(&[0, 2, 1, 3]).reshape(&[n, lq, e])
        };
        let value = out.value().to_vec();
        let g = (out * tape.constant(w.clone())).sum().backward();
        let grads: Vec<Vec<f64>> = [q, k, v].iter().map(|&x| g.wrt(x).to_vec()).collect();
        (value, grads)
    };
    let (fy, fg) = run(true);
    let (gy, gg) = run(false);
    assert_close(&fy, &gy, 1e-12);
    for (a, b) in fg.iter().zip(&gg) {
        assert_close(a, b, 1e-12);
    }
}

#[test]
fn head_scores_are_per_head_dot_products() {
    // One sample, one query, two keys, E 4 in 2 heads: head 0 is features
    // 0..2, head 1 features 2..4.
    let tape = Tape::<f64>::new();
    let q = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[1, 1, 4]).unwrap());
    let k = tape.constant(
        Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0], &[1, 2, 4]).unwrap(),
    );
    let s = q.head_scores(k, 2).value();
    assert_eq!(s.shape(), &[1, 2, 1, 2]);
    // head 0: (1,2).(1,0) = 1, (1,2).(0,1) = 2; head 1: (3,4).(0,1) = 4, (3,4).(1,0) = 3
    assert_eq!(s.to_vec(), vec![1.0, 2.0, 4.0, 3.0]);
}

#[test]
fn head_products_grads_match_finite_differences() {
    let (q, k) = (randn(&[2, 3, 4], 5), randn(&[2, 4, 4], 6));
    gradcheck(|v| v[0].head_scores(v[1], 2), &[q, k]).unwrap();
    let (p, v) = (randn(&[2, 2, 3, 4], 7), randn(&[2, 4, 4], 8));
    gradcheck(|x| x[0].head_mix(x[1], 2), &[p, v]).unwrap();
}

#[test]
#[should_panic(
    expected = "head_scores: expects [N, L, E] with E divisible into 3 heads: got [1, 2, 4]"
)]
fn head_scores_panics_when_heads_do_not_divide() {
    let tape = Tape::<f64>::new();
    let q = tape.var(Tensor::zeros(&[1, 2, 4]));
    let _ = q.head_scores(q, 3);
}

#[test]
fn causal_softmax_matches_softmax_of_masked_scores() {
    // [2, 3, 4]: 3 queries over 4 keys; query i sees keys 0..=i.
    let (lq, lk) = (3, 4);
    let x0 = randn(&[2, lq, lk], 9);
    let w = randn(&[2, lq, lk], 10);
    let mask: Vec<f64> = (0..lq)
        .flat_map(|i| (0..lk).map(move |j| if j > i { f64::NEG_INFINITY } else { 0.0 }))
        .collect();
    let mask = Tensor::from_vec(mask, &[lq, lk]).unwrap();
    let run = |fused: bool| {
        let tape = Tape::<f64>::new();
        let x = tape.var(x0.clone());
        let y = if fused {
            x.causal_softmax()
        } else {
            (x + tape.constant(mask.clone())).softmax(-1)
        };
        let value = y.value().to_vec();
        let g = (y * tape.constant(w.clone())).sum().backward();
        (value, g.wrt(x).to_vec())
    };
    let ((fy, fg), (gy, gg)) = (run(true), run(false));
    assert_close(&fy, &gy, 1e-15);
    assert_close(&fg, &gg, 1e-15);
    // Hidden keys get exactly zero weight.
    assert_eq!(fy[1..4], [0.0, 0.0, 0.0]);
    gradcheck(|v| v[0].causal_softmax(), &[x0]).unwrap();
}
