//! Anomaly mode: the first op that produced a NaN or an infinity, in the
//! forward or the backward pass, is named with its node.

use tapegrad::tape::{NonFinite, Phase};
use tapegrad::{Tape, Tensor, tensor};

#[test]
fn log_of_a_negative_names_ln_and_its_node_in_forward() {
    let tape = Tape::<f64>::new();
    tape.set_anomaly_mode(true);
    let x = tape.var(tensor![2.0, -1.0]); // %0
    let y = x * 3.0; // %1: finite
    let z = y.ln(); // %2: ln(-3) is NaN
    let w = (z * 2.0).sum(); // carries the NaN along: not reported
    let a = tape.anomaly().expect("an anomaly");
    assert_eq!(a.node, 2);
    assert_eq!(a.op, "ln");
    assert_eq!(a.parents, vec![1]);
    assert_eq!(a.phase, Phase::Forward);
    assert_eq!(a.value, NonFinite::NaN);
    assert_eq!(a.to_string(), "node %2 = ln(%1) produced NaN in forward");
    // Backward through NaN values adds no new report: the first stays.
    let _ = w.backward();
    assert_eq!(tape.anomaly().unwrap().node, 2);
}

#[test]
fn sqrt_at_zero_is_caught_in_backward_only() {
    // d sqrt(x)/dx = 1 / (2 sqrt x) is infinite at 0, though sqrt(0) = 0.
    let tape = Tape::<f64>::new();
    tape.set_anomaly_mode(true);
    let x = tape.var(tensor![0.0, 4.0]); // %0
    let y = x.sqrt(); // %1
    let loss = y.sum(); // %2
    assert!(tape.anomaly().is_none(), "the forward pass is finite");
    let g = loss.backward();
    assert!(g.wrt(x).as_slice()[0].is_infinite());
    assert_eq!(g.wrt(x).as_slice()[1], 0.25); // 1 / (2 * 2)
    let a = tape.anomaly().expect("an anomaly in backward");
    assert_eq!((a.node, a.op.as_str()), (1, "sqrt"));
    assert_eq!(a.phase, Phase::Backward);
    assert_eq!(a.value, NonFinite::Infinity);
    assert_eq!(a.grad_of, Some(0));
    assert_eq!(
        a.to_string(),
        "node %1 = sqrt(%0) produced inf in backward (gradient for %0)"
    );
}

#[test]
fn a_backward_nan_from_zero_times_infinity() {
    // y = 0 * sqrt(x): the incoming gradient of sqrt is 0, and 0 * inf is NaN.
    let tape = Tape::<f64>::new();
    tape.set_anomaly_mode(true);
    let x = tape.var(tensor![0.0]);
    let loss = (x.sqrt() * 0.0).sum();
    let _ = loss.backward();
    let a = tape.anomaly().unwrap();
    assert_eq!(
        (a.node, a.phase, a.value),
        (1, Phase::Backward, NonFinite::NaN)
    );
}

#[test]
fn overflow_is_reported_but_a_carried_mask_is_not() {
    let tape = Tape::<f32>::new();
    tape.set_anomaly_mode(true);
    // A -inf mask is an input on purpose; adding it carries -inf along.
    let mask = tape.constant(tensor![0.0, f32::NEG_INFINITY]);
    let scores = tape.var(tensor![1.0, 2.0]);
    let weights = (scores + mask).softmax(0);
    assert_eq!(weights.value().to_vec(), vec![1.0, 0.0]);
    assert!(tape.anomaly().is_none());
    // e^100 overflows f32 (max about 3.4e38 = e^88.7).
    let big = (scores * 50.0).exp(); // %5 = mul, %6 = exp
    let a = tape.anomaly().expect("exp overflowed");
    assert_eq!(
        (a.node, a.op.as_str(), a.value),
        (big.index(), "exp", NonFinite::Infinity)
    );
    assert_eq!(
        a.to_string(),
        format!(
            "node %{} = exp(%{}) produced inf in forward",
            big.index(),
            big.index() - 1
        )
    );
}

#[test]
fn off_by_default_and_forgotten_on_reset() {
    let mut tape = Tape::<f64>::new();
    {
        let x = tape.var(tensor![-1.0]);
        let _ = x.ln();
    }
    assert!(!tape.is_anomaly_mode());
    assert!(tape.anomaly().is_none(), "not checked while off");
    tape.set_anomaly_mode(true);
    {
        let x = tape.constant(Tensor::from_vec(vec![f64::NAN], &[1]).unwrap());
        let _ = x * 2.0;
    }
    let a = tape.anomaly().unwrap();
    assert_eq!(a.to_string(), "node %2 = constant holds NaN (a leaf)");
    tape.reset();
    assert!(tape.anomaly().is_none());
}
