//! Tests of `src/schedule/`: each schedule against its formula at chosen
//! steps (boundaries included), ReduceLrOnPlateau driven step by step, every
//! constructor's refusals, the schedule plot (the chart itself is tested in
//! tests/train/plot.rs). The LR range test is in tests/train/lr_finder.rs.
//!
//! Expected values are worked out here from the documented formulas (by hand
//! in the comments, or with an independent loop), never copied from output.

use std::f64::consts::{FRAC_1_SQRT_2, PI};
use std::path::PathBuf;

use tapegrad::Error;
use tapegrad::schedule::*;

/// Asserts `schedule.lr_at(step)` for each `(step, expected)`, to 1e-12
/// relative.
fn assert_lrs(schedule: &dyn LrSchedule, cases: &[(usize, f64)]) {
    for &(step, expected) in cases {
        let got = schedule.lr_at(step);
        let tol = 1e-12 * expected.abs().max(1e-12);
        assert!(
            (got - expected).abs() <= tol,
            "{}: lr_at({step}) = {got}, expected {expected}",
            schedule.describe()
        );
    }
}

/// A fresh directory for this test's files.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-schedule-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

mod formulas;
mod plateau;
mod refusals;
mod wsd;
