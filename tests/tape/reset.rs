//! Resets and stale vars: a var recorded before its tape was reset (by
//! `Tape::reset` or `Var::backward_and_reset`) panics with a message naming
//! the reset wherever it is used, instead of reading a node of the next
//! recording; gradients from one recording refuse vars of another.

use tapegrad::{Tape, Tensor, tensor};

#[test]
fn backward_and_reset_gives_the_same_gradients_and_empties_the_tape() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.5, -2.0]);
    let y = (x * x * x).sum(); // dy/dx = 3x^2
    let grads = y.backward_and_reset();
    assert!(tape.is_empty());
    assert_eq!(grads.wrt(x).to_vec(), vec![3.0 * 2.25, 3.0 * 4.0]);

    // The tape records again from index 0.
    let z = tape.var(Tensor::scalar(4.0));
    assert_eq!(z.index(), 0);
    assert_eq!((z * z).backward().wrt(z).item(), 8.0);
}

#[test]
#[should_panic(expected = "was recorded before the tape was reset")]
fn a_var_used_in_an_op_after_backward_and_reset_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.0, 2.0]);
    let _ = (x * 2.0).sum().backward_and_reset();
    // %0 exists again on the tape, but it is not x.
    let _fresh = tape.var(tensor![5.0, 6.0]);
    let _ = x + 1.0;
}

#[test]
#[should_panic(expected = "was recorded before the tape was reset")]
fn reading_a_stale_value_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.0]);
    let _ = x.sum().backward_and_reset();
    let _fresh = tape.var(tensor![9.0]);
    let _ = x.value();
}

#[test]
#[should_panic(expected = "was recorded before the tape was reset")]
fn backward_from_a_stale_var_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(1.0));
    let y = x * 3.0;
    let _ = y.backward_and_reset();
    let _fresh = tape.var(Tensor::scalar(1.0)) * 2.0;
    let _ = y.backward();
}

#[test]
#[should_panic(expected = "come from different recordings of tape")]
fn gradients_refuse_a_var_of_a_later_recording() {
    let mut tape = Tape::<f64>::new();
    let grads = {
        let x = tape.var(Tensor::scalar(2.0));
        (x * x).backward()
    };
    tape.reset();
    let x_again = tape.var(Tensor::scalar(2.0));
    // Same index, same tape, another recording: not the var `grads` knows.
    let _ = grads.wrt(x_again);
}
