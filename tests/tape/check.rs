//! gradcheck itself must catch a wrong gradient and point at it.

use tapegrad::Tensor;
use tapegrad::check::gradcheck;

#[test]
fn gradcheck_reports_the_worst_element_of_a_wrong_gradient() {
    // x * detach(x) has true derivative 2x, but backward only sees x: wrong by x.
    let x = Tensor::<f64>::from_vec(vec![0.5, -3.0, 1.0], &[3]).unwrap();
    let report = gradcheck(|v| v[0] * v[0].detach(), &[x]).unwrap_err();
    assert!(!report.passed);
    let worst = report.worst.clone().unwrap();
    // The largest absolute error is at x = -3 (analytic -3 * w, numeric -6 * w).
    assert_eq!(worst.index, vec![1]);
    assert!((worst.numeric / worst.analytic - 2.0).abs() < 1e-6);
    assert!(report.to_string().contains("FAILED"));
}

#[test]
fn gradcheck_passes_a_correct_gradient() {
    let x = Tensor::<f64>::from_vec(vec![0.5, -3.0, 1.0], &[3]).unwrap();
    let report = gradcheck(|v| v[0] * v[0], &[x]).unwrap();
    assert_eq!(report.checked, 3);
    assert!(report.worst_ratio <= 1.0);
}
