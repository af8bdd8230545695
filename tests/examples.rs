//! Smoke tests: shortened runs of the examples, so that none can rot.

#[allow(dead_code)]
#[path = "../examples/digits.rs"]
mod digits;

#[test]
fn digits_example_learns_in_a_few_epochs() {
    let out = digits::run(5, false);
    assert!(
        out.last_loss < 0.5 * out.first_loss,
        "loss {} -> {}",
        out.first_loss,
        out.last_loss
    );
    assert!(
        out.test_accuracy > 0.90,
        "test accuracy {}",
        out.test_accuracy
    );
}
