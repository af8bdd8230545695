//! Smoke tests: shortened runs of the examples, so that none can rot.

#[allow(dead_code)]
#[path = "../examples/digits.rs"]
mod digits;

#[allow(dead_code)]
#[path = "../examples/moons.rs"]
mod moons;

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

#[test]
fn moons_example_separates_the_moons_and_draws_them() {
    // The full 100-step run is cheap (a 2-16-16-1 MLP on 100 points), so
    // the smoke test holds it to the example's own target: 100%.
    let out_path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("moons_smoke.svg");
    let _ = std::fs::remove_file(&out_path);
    let out = moons::run(100, false, Some(&out_path));
    assert!(
        out.last_loss < 0.1 * out.first_loss,
        "loss {} -> {}",
        out.first_loss,
        out.last_loss
    );
    assert_eq!(out.accuracy, 1.0, "training accuracy {}", out.accuracy);
    let svg = std::fs::read_to_string(&out_path).expect("the example writes its SVG");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    // One rectangle per grid cell (60 x 60), one circle per point.
    assert_eq!(svg.matches("<rect").count(), 60 * 60);
    assert_eq!(svg.matches("<circle").count(), 100);
}

#[allow(dead_code)]
#[path = "../examples/iris.rs"]
mod iris;

#[test]
fn iris_example_finds_a_rate_trains_and_writes_its_files() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("iris_smoke");
    let o = iris::run(30, &out, tapegrad::train::Progress::Quiet);
    assert!(o.suggested_lr > 1e-5 && o.suggested_lr < 10.0);
    assert!(
        o.val_accuracy >= 0.9,
        "validation accuracy {}",
        o.val_accuracy
    );
    for f in [
        "lr_finder.svg",
        "history.csv",
        "history.jsonl",
        "checkpoint.safetensors",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    assert!(out.join("plots/epochs_accuracy.svg").exists());
}
