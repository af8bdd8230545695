//! Learning-rate schedules: each against its formula at chosen steps
//! (boundaries included), ReduceOnPlateau driven step by step, every
//! constructor's refusals, and the schedule plot (the chart itself is
//! tested in tests/plot.rs).
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

// ---------------------------------------------------------------- formulas

#[test]
fn constant_never_changes() {
    let s = Constant::new(0.3).unwrap();
    assert_lrs(&s, &[(0, 0.3), (1, 0.3), (1_000_000_000, 0.3)]);
    // Zero is a valid (if idle) rate.
    assert_lrs(&Constant::new(0.0).unwrap(), &[(5, 0.0)]);
}

#[test]
fn step_lr_decays_at_multiples_of_step_size() {
    // 0.1 · 0.5^⌊t/3⌋: steps 0-2 -> 0.1, 3-5 -> 0.05, 6 -> 0.025, 30 -> 0.1 / 2^10.
    let s = StepLr::new(0.1, 3, 0.5).unwrap();
    assert_lrs(
        &s,
        &[
            (0, 0.1),
            (2, 0.1),
            (3, 0.05),
            (5, 0.05),
            (6, 0.025),
            (30, 0.1 / 1024.0),
        ],
    );
}

#[test]
fn multi_step_lr_decays_at_each_milestone() {
    // 2 · 0.1^(milestones passed): the milestone step itself already has the new rate.
    let s = MultiStepLr::new(2.0, vec![3, 7], 0.1).unwrap();
    assert_lrs(
        &s,
        &[
            (0, 2.0),
            (2, 2.0),
            (3, 0.2),
            (6, 0.2),
            (7, 0.02),
            (100, 0.02),
        ],
    );
}

#[test]
fn exponential_lr_multiplies_every_step() {
    let s = ExponentialLr::new(0.5, 0.9).unwrap();
    let mut expected = 0.5;
    for t in 0..=10 {
        assert_lrs(&s, &[(t, expected)]);
        expected *= 0.9;
    }
    // gamma > 1 grows the rate, as the LR range test does: 1e-6 · 10^6 = 1.
    assert_lrs(&ExponentialLr::new(1e-6, 10.0).unwrap(), &[(6, 1.0)]);
}

#[test]
fn polynomial_lr_reaches_zero_at_total_iters_and_stays() {
    // (1 - t/4)^2: 1, 9/16, 1/4, 1/16, 0, then 0.
    let s = PolynomialLr::new(1.0, 4, 2.0).unwrap();
    assert_lrs(
        &s,
        &[
            (0, 1.0),
            (1, 0.5625),
            (2, 0.25),
            (3, 0.0625),
            (4, 0.0),
            (10, 0.0),
        ],
    );
    // power 1 is a straight line: 0.8 · (1 - 1/5) = 0.64.
    assert_lrs(&PolynomialLr::new(0.8, 5, 1.0).unwrap(), &[(1, 0.64)]);
}

#[test]
fn lambda_lr_scales_the_base_rate() {
    let s = LambdaLr::new(0.5, |t| 1.0 / (t + 1) as f64).unwrap();
    assert_lrs(&s, &[(0, 0.5), (1, 0.25), (3, 0.125)]);
    // A closure may capture (Send) data.
    let table = [1.0, 0.5, 0.1];
    let s = LambdaLr::new(2.0, move |t| table[t.min(2)]).unwrap();
    assert_lrs(&s, &[(1, 1.0), (9, 0.2)]);
}

#[test]
fn cosine_annealing_hits_start_middle_floor_and_holds() {
    // 0.2 + 0.8 · (1 + cos(π t / 8)) / 2
    let s = CosineAnnealing::new(1.0, 8, 0.2).unwrap();
    assert_lrs(
        &s,
        &[
            (0, 1.0),
            (2, 0.2 + 0.4 * (1.0 + FRAC_1_SQRT_2)), // cos(π/4) = 1/√2
            (4, 0.6),                               // cos(π/2) = 0: the midpoint
            (6, 0.2 + 0.4 * (1.0 - FRAC_1_SQRT_2)),
            (8, 0.2), // cos(π) = -1: the floor
            (20, 0.2),
        ],
    );
}

#[test]
fn warm_restarts_restart_at_growing_periods() {
    // t_0 = 4, t_mult = 2: periods [0, 4), [4, 12), [12, 28), [28, 60).
    let s = CosineWarmRestarts::new(1.0, 4, 2, 0.0).unwrap();
    let half_cos = |x: f64| (1.0 + (PI * x).cos()) / 2.0;
    assert_lrs(
        &s,
        &[
            (0, 1.0),
            (2, 0.5),
            (3, half_cos(3.0 / 4.0)), // last step of period 1
            (4, 1.0),                 // restart
            (8, 0.5),
            (11, half_cos(7.0 / 8.0)),
            (12, 1.0),
            (20, 0.5),
            (28, 1.0),
            (59, half_cos(31.0 / 32.0)),
            (60, 1.0),
        ],
    );
    // t_mult = 1: equal periods of 5, floor 0.1.
    let s = CosineWarmRestarts::new(0.5, 5, 1, 0.1).unwrap();
    let at = |x: f64| 0.1 + 0.4 * half_cos(x);
    assert_lrs(
        &s,
        &[
            (0, 0.5),
            (5, 0.5),
            (7, at(2.0 / 5.0)),
            (10, 0.5),
            (14, at(4.0 / 5.0)),
        ],
    );
    // Huge steps neither overflow nor loop for long.
    let s = CosineWarmRestarts::new(1.0, 3, 3, 0.0).unwrap();
    let lr = s.lr_at(usize::MAX);
    assert!((0.0..=1.0).contains(&lr));
}

#[test]
fn linear_warmup_ramps_then_hands_over() {
    // Ramp 0.25 -> 1 over 4 steps, then StepLr(1, 2, 0.5) from its own step 0.
    let s = LinearWarmup::new(StepLr::new(1.0, 2, 0.5).unwrap(), 4, 0.25).unwrap();
    assert_lrs(
        &s,
        &[
            (0, 0.25),
            (1, 0.25 + 0.75 / 4.0),
            (3, 0.25 + 0.75 * 3.0 / 4.0), // last warm-up step
            (4, 1.0),                     // inner step 0
            (5, 1.0),                     // inner step 1
            (6, 0.5),                     // inner step 2: first decay
        ],
    );
    // Works with a boxed schedule, and start_factor = 1 is no ramp at all.
    let inner: Box<dyn LrSchedule> = Box::new(Constant::new(0.3).unwrap());
    let s = LinearWarmup::new(inner, 2, 1.0).unwrap();
    assert_lrs(&s, &[(0, 0.3), (1, 0.3), (2, 0.3)]);
}

#[test]
fn cyclic_triangular_rises_and_falls_asymmetrically() {
    // base 0.1, max 0.5, up 2, down 3: cycle length 5, peak at position 2.
    let s = CyclicLr::new(0.1, 0.5, 2, 3, CyclicMode::Triangular).unwrap();
    assert_lrs(
        &s,
        &[
            (0, 0.1),
            (1, 0.3),                   // 0.1 + 0.4 · 1/2
            (2, 0.5),                   // peak
            (3, 0.1 + 0.4 * 2.0 / 3.0), // falling: (5 - 3)/3
            (4, 0.1 + 0.4 * 1.0 / 3.0),
            (5, 0.1), // next cycle
            (7, 0.5),
        ],
    );
}

#[test]
fn cyclic_triangular2_halves_and_exp_range_decays_per_step() {
    // up = down = 2: peaks at steps 2, 6, 10 with heights 1, 1/2, 1/4.
    let s = CyclicLr::new(0.0, 1.0, 2, 2, CyclicMode::Triangular2).unwrap();
    assert_lrs(
        &s,
        &[
            (2, 1.0),
            (4, 0.0),
            (5, 0.25),
            (6, 0.5),
            (10, 0.25),
            (11, 0.125),
        ],
    );
    // exp_range: height · 0.9^t, with t the step (not the cycle).
    let s = CyclicLr::new(0.0, 1.0, 2, 2, CyclicMode::ExpRange { gamma: 0.9 }).unwrap();
    assert_lrs(
        &s,
        &[
            (0, 0.0),
            (2, 0.81),
            (5, 0.5 * 0.9f64.powi(5)),
            (6, 0.9f64.powi(6)),
        ],
    );
}

#[test]
fn one_cycle_defaults_follow_pytorch_phases() {
    // max 1, 100 steps, pct 0.3: start 1/25 = 0.04, end 0.04 / 1e4 = 4e-6,
    // phase 1 ends at 0.3 · 100 - 1 = 29, phase 2 at 99.
    let s = OneCycle::new(1.0, 100).unwrap();
    let cos = |a: f64, b: f64, x: f64| b + (a - b) * (1.0 + (PI * x).cos()) / 2.0;
    assert_lrs(
        &s,
        &[
            (0, 0.04),
            (10, cos(0.04, 1.0, 10.0 / 29.0)),
            (29, 1.0),
            (30, cos(1.0, 4e-6, 1.0 / 70.0)),
            (64, 4e-6 + (1.0 - 4e-6) / 2.0), // halfway down: (64 - 29) / 70 = 1/2
            (99, 4e-6),
            (500, 4e-6), // past the end: holds the final rate
        ],
    );
}

#[test]
fn one_cycle_with_a_fractional_phase_end() {
    // 10 steps, pct 0.25: phase 1 ends at 1.5, so step 1 is still rising and step 2 falling.
    let options = OneCycleOptions {
        pct_start: 0.25,
        ..Default::default()
    };
    let s = OneCycle::with_options(2.0, 10, options).unwrap();
    let cos = |a: f64, b: f64, x: f64| b + (a - b) * (1.0 + (PI * x).cos()) / 2.0;
    let (start, end) = (2.0 / 25.0, 2.0 / 25.0 / 1e4);
    assert_lrs(
        &s,
        &[
            (0, start),
            (1, cos(start, 2.0, 1.0 / 1.5)),
            (2, cos(2.0, end, 0.5 / 7.5)),
            (9, end),
        ],
    );
}

#[test]
fn one_cycle_three_phase_linear() {
    // 20 steps, pct 0.25, div 10, final div 100: 0.1 -> 1 (ends 4) -> 0.1 (ends 8) -> 0.001 (ends 19).
    let options = OneCycleOptions {
        pct_start: 0.25,
        div_factor: 10.0,
        final_div_factor: 100.0,
        anneal: Anneal::Linear,
        three_phase: true,
    };
    let s = OneCycle::with_options(1.0, 20, options).unwrap();
    assert_lrs(
        &s,
        &[
            (0, 0.1),
            (2, 0.55),
            (4, 1.0),
            (6, 0.55),
            (8, 0.1),
            (14, 0.1 + (0.001 - 0.1) * 6.0 / 11.0),
            (19, 0.001),
        ],
    );
}

#[test]
fn sequential_restarts_each_schedule_at_its_milestone() {
    let s = Sequential::new(
        vec![
            Box::new(Constant::new(0.1).unwrap()),
            Box::new(StepLr::new(1.0, 2, 0.5).unwrap()),
            Box::new(ExponentialLr::new(0.2, 0.5).unwrap()),
        ],
        vec![3, 8],
    )
    .unwrap();
    assert_lrs(
        &s,
        &[
            (0, 0.1),
            (2, 0.1),
            (3, 1.0),  // StepLr step 0
            (4, 1.0),  // StepLr step 1
            (5, 0.5),  // StepLr step 2
            (7, 0.25), // StepLr step 4
            (8, 0.2),  // ExponentialLr step 0
            (10, 0.05),
        ],
    );
    // One schedule needs no milestones.
    let single = Sequential::new(vec![Box::new(Constant::new(0.4).unwrap())], vec![]).unwrap();
    assert_lrs(&single, &[(0, 0.4), (99, 0.4)]);
}

// ---------------------------------------------------------------- ReduceOnPlateau

#[test]
fn plateau_counts_patience_threshold_and_cooldown_step_by_step() {
    let options = PlateauOptions {
        factor: 0.5,
        patience: 2,
        threshold: 0.1, // relative: an improvement must beat best · 0.9
        cooldown: 1,
        min_lr: 0.1,
        ..Default::default()
    };
    let mut s = ReduceOnPlateau::new(1.0, options).unwrap();
    // (step, metric, bad epochs after, in cooldown after, rate after)
    #[rustfmt::skip]
    let script = [
        (1, 10.0, 0, false, 1.0),  // first metric always improves: best 10
        (2, 9.5, 1, false, 1.0),   // 9.5 >= 10 · 0.9 = 9: not enough
        (3, 9.0, 2, false, 1.0),   // exactly best · 0.9 is not an improvement
        (4, 9.1, 0, true, 0.5),    // 3 bad > patience 2: cut, cooldown 1
        (5, 9.5, 0, false, 0.5),   // bad but in cooldown: not counted
        (6, 9.5, 1, false, 0.5),
        (7, 8.9, 0, false, 0.5),   // 8.9 < 9: improvement, best 8.9
        (8, 8.5, 1, false, 0.5),   // 8.5 >= 8.01
        (9, 8.5, 2, false, 0.5),
        (10, 8.5, 0, true, 0.25),  // cut
        (11, 8.5, 0, false, 0.25), // cooldown
        (12, f64::NAN, 1, false, 0.25), // NaN never improves
        (13, 8.5, 2, false, 0.25),
        (14, 8.5, 0, true, 0.125), // cut
        (15, 8.5, 0, false, 0.125),
        (16, 8.5, 1, false, 0.125),
        (17, 8.5, 2, false, 0.125),
        (18, 8.5, 0, true, 0.1),   // 0.0625 is below min_lr: clamped to 0.1
        (19, 8.5, 0, false, 0.1),
        (20, 8.5, 1, false, 0.1),
        (21, 8.5, 2, false, 0.1),
        (22, 8.5, 0, true, 0.1),   // already at min_lr: no cut, but cooldown restarts
    ];
    for (step, metric, bad, cooldown, lr) in script {
        s.observe(step, metric);
        assert_eq!(s.num_bad_epochs(), bad, "bad epochs after step {step}");
        assert_eq!(s.in_cooldown(), cooldown, "cooldown after step {step}");
        assert_eq!(s.current_lr(), lr, "rate after step {step}");
    }
    assert_eq!(s.best(), 8.9);
    assert_eq!(s.cuts(), &[(4, 0.5), (10, 0.25), (14, 0.125), (18, 0.1)]);
    // lr_at replays the history: a cut applies from the step it was observed at.
    assert_lrs(
        &s,
        &[
            (0, 1.0),
            (3, 1.0),
            (4, 0.5),
            (9, 0.5),
            (10, 0.25),
            (14, 0.125),
            (17, 0.125),
            (18, 0.1),
            (1000, 0.1),
        ],
    );
}

#[test]
fn plateau_max_mode_with_absolute_threshold() {
    let options = PlateauOptions {
        mode: PlateauMode::Max,
        factor: 0.1,
        patience: 0,
        threshold: 0.05,
        threshold_mode: ThresholdMode::Abs,
        ..Default::default()
    };
    let mut s = ReduceOnPlateau::new(1.0, options).unwrap();
    s.observe(10, 0.5); // first: improves
    s.observe(20, 0.54); // 0.54 <= 0.5 + 0.05: bad, 1 > patience 0 -> cut
    assert_eq!(s.current_lr(), 0.1);
    s.observe(30, 0.6); // 0.6 > 0.55: improves
    assert_eq!(s.current_lr(), 0.1);
    assert_eq!(s.best(), 0.6);
    s.observe(40, 0.3);
    assert!((s.current_lr() - 0.01).abs() < 1e-15);
    assert_lrs(&s, &[(19, 1.0), (20, 0.1), (39, 0.1), (40, 0.01)]);
}

#[test]
fn plateau_defaults_are_pytorchs() {
    let d = PlateauOptions::default();
    assert_eq!(d.mode, PlateauMode::Min);
    assert_eq!(d.threshold_mode, ThresholdMode::Rel);
    assert_eq!(
        (
            d.factor,
            d.patience,
            d.threshold,
            d.cooldown,
            d.min_lr,
            d.eps
        ),
        (0.1, 10, 1e-4, 0, 0.0, 1e-8)
    );
    let o = OneCycleOptions::default();
    assert_eq!(
        (
            o.pct_start,
            o.div_factor,
            o.final_div_factor,
            o.anneal,
            o.three_phase
        ),
        (0.3, 25.0, 1e4, Anneal::Cos, false)
    );
}

#[test]
fn wrappers_route_metrics_to_the_schedule_in_charge() {
    let plateau = |lr| {
        let options = PlateauOptions {
            factor: 0.5,
            patience: 0,
            ..Default::default()
        };
        ReduceOnPlateau::new(lr, options).unwrap()
    };
    // Warm-up of 4 steps in front of a plateau schedule.
    let mut s = LinearWarmup::new(plateau(1.0), 4, 0.5).unwrap();
    s.observe(2, 1.0); // during warm-up: reaches the inner schedule at its step 0
    s.observe(3, 1.0); // no improvement: cut from inner step 0 = step 4
    assert_eq!(s.inner().current_lr(), 0.5);
    // The warm-up already done keeps its rates; the cut starts at step 4.
    assert_lrs(&s, &[(0, 0.5), (3, 0.875), (4, 0.5)]);
    s.observe(9, 2.0); // inner step 5: another cut
    assert_lrs(&s, &[(8, 0.5), (9, 0.25)]);

    // Sequential: metrics go to the schedule in charge, at its own step count.
    let mut s = Sequential::new(
        vec![
            Box::new(Constant::new(1.0).unwrap()),
            Box::new(plateau(0.5)),
        ],
        vec![5],
    )
    .unwrap();
    s.observe(3, 9.0); // to the Constant: ignored
    s.observe(7, 1.0); // to the plateau at its step 2: first metric, improves
    s.observe(9, 2.0); // its step 4: cut from there
    assert_lrs(&s, &[(4, 1.0), (5, 0.5), (8, 0.5), (9, 0.25)]);
}

// ---------------------------------------------------------------- refusals

/// Asserts that a constructor refused, naming `who` ("Schedule argument")
/// and saying `fragment`.
#[track_caller]
fn refuses<T: std::fmt::Debug>(result: Result<T, ScheduleError>, who: &str, fragment: &str) {
    let e = result.expect_err("the constructor should refuse");
    let message = e.to_string();
    let (schedule, argument) = who.split_once(' ').unwrap();
    assert_eq!(
        (e.schedule(), e.argument()),
        (schedule, argument),
        "{message}"
    );
    assert!(
        message.starts_with(&format!("{schedule}: {argument} ")),
        "{message}"
    );
    assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
}

#[test]
fn error_messages_read_as_sentences() {
    let e = StepLr::new(0.1, 0, 0.1).unwrap_err();
    assert_eq!(e.to_string(), "StepLr: step_size must be at least 1, got 0");
    let e = CosineAnnealing::new(0.1, 10, 0.5).unwrap_err();
    assert_eq!(
        e.to_string(),
        "CosineAnnealing: eta_min (0.5) must not exceed lr (0.1)"
    );
    // `?` turns it into tapegrad's Error.
    fn build() -> tapegrad::Result<StepLr> {
        Ok(StepLr::new(-1.0, 1, 0.1)?)
    }
    let e = build().unwrap_err();
    assert!(matches!(e, Error::Schedule(_)));
    assert_eq!(
        e.to_string(),
        "StepLr: lr must be a finite rate >= 0, got -1"
    );
}

#[test]
fn simple_schedules_refuse_nonsense() {
    let (nan, inf) = (f64::NAN, f64::INFINITY);
    refuses(Constant::new(-0.1), "Constant lr", "got -0.1");
    refuses(Constant::new(nan), "Constant lr", "got NaN");
    refuses(Constant::new(inf), "Constant lr", "finite");

    let step = StepLr::new;
    refuses(step(-1.0, 1, 0.1), "StepLr lr", ">= 0");
    refuses(step(0.1, 0, 0.1), "StepLr step_size", "at least 1");
    refuses(step(0.1, 1, 0.0), "StepLr gamma", "(0, 1]");
    refuses(step(0.1, 1, 1.5), "StepLr gamma", "got 1.5");
    refuses(step(0.1, 1, nan), "StepLr gamma", "(0, 1]");

    let multi = MultiStepLr::new;
    refuses(multi(0.1, vec![], 0.1), "MultiStepLr milestones", "empty");
    refuses(
        multi(0.1, vec![0, 3], 0.1),
        "MultiStepLr milestones",
        "after step 0",
    );
    refuses(
        multi(0.1, vec![3, 3], 0.1),
        "MultiStepLr milestones",
        "strictly increase",
    );
    refuses(
        multi(0.1, vec![5, 2], 0.1),
        "MultiStepLr milestones",
        "got 5 then 2",
    );
    refuses(multi(0.1, vec![5], -0.5), "MultiStepLr gamma", "(0, 1]");

    let exp = ExponentialLr::new;
    refuses(exp(nan, 0.9), "ExponentialLr lr", "finite");
    refuses(exp(0.1, 0.0), "ExponentialLr gamma", "> 0");
    refuses(exp(0.1, -1.0), "ExponentialLr gamma", "> 0");
    refuses(exp(0.1, inf), "ExponentialLr gamma", "finite");

    let poly = PolynomialLr::new;
    refuses(poly(0.1, 0, 1.0), "PolynomialLr total_iters", "at least 1");
    refuses(poly(0.1, 5, 0.0), "PolynomialLr power", "> 0");
    refuses(poly(0.1, 5, nan), "PolynomialLr power", "finite");

    refuses(LambdaLr::new(-1.0, |_| 1.0), "LambdaLr lr", ">= 0");
}

#[test]
fn cosine_warmup_and_cyclic_refuse_nonsense() {
    let cos = CosineAnnealing::new;
    refuses(cos(0.1, 0, 0.0), "CosineAnnealing t_max", "at least 1");
    refuses(cos(0.1, 5, -0.1), "CosineAnnealing eta_min", ">= 0");
    refuses(cos(f64::INFINITY, 5, 0.0), "CosineAnnealing lr", "finite");

    let sgdr = CosineWarmRestarts::new;
    refuses(sgdr(0.1, 0, 1, 0.0), "CosineWarmRestarts t_0", "at least 1");
    refuses(
        sgdr(0.1, 5, 0, 0.0),
        "CosineWarmRestarts t_mult",
        "at least 1",
    );
    refuses(
        sgdr(0.1, 5, 2, 0.2),
        "CosineWarmRestarts eta_min",
        "must not exceed lr",
    );

    let warm = |steps, factor| LinearWarmup::new(Constant::new(1.0).unwrap(), steps, factor);
    refuses(warm(0, 0.1), "LinearWarmup warmup_steps", "at least 1");
    refuses(warm(5, 0.0), "LinearWarmup start_factor", "(0, 1]");
    refuses(warm(5, 1.5), "LinearWarmup start_factor", "(0, 1]");

    let tri = |base, max, up, down| CyclicLr::new(base, max, up, down, CyclicMode::Triangular);
    refuses(
        tri(0.5, 0.1, 2, 2),
        "CyclicLr base_lr",
        "must not exceed max_lr",
    );
    refuses(tri(0.1, f64::NAN, 2, 2), "CyclicLr max_lr", "finite");
    refuses(tri(0.1, 0.5, 0, 2), "CyclicLr step_size_up", "at least 1");
    refuses(tri(0.1, 0.5, 2, 0), "CyclicLr step_size_down", "at least 1");
    let exp_range = |gamma| CyclicLr::new(0.1, 0.5, 2, 2, CyclicMode::ExpRange { gamma });
    refuses(exp_range(0.0), "CyclicLr gamma", "(0, 1]");
    refuses(exp_range(2.0), "CyclicLr gamma", "got 2");
}

#[test]
fn one_cycle_refuses_nonsense() {
    let with = |total, pct_start, three_phase| {
        let options = OneCycleOptions {
            pct_start,
            three_phase,
            ..Default::default()
        };
        OneCycle::with_options(1.0, total, options)
    };
    refuses(OneCycle::new(-1.0, 100), "OneCycle max_lr", ">= 0");
    refuses(OneCycle::new(1.0, 0), "OneCycle total_steps", "at least 1");
    refuses(with(100, 0.0, false), "OneCycle pct_start", "(0, 1)");
    refuses(with(100, 1.0, false), "OneCycle pct_start", "(0, 1)");
    refuses(with(100, f64::NAN, false), "OneCycle pct_start", "(0, 1)");
    // 0.1 · 10 - 1 = 0: the rising phase would have no steps.
    refuses(with(10, 0.1, false), "OneCycle pct_start", "phase 1 of 2");
    // Three phases ending at 4.5, 9 and 9: the last would have no steps.
    refuses(with(10, 0.55, true), "OneCycle pct_start", "phase 3 of 3");
    assert!(with(10, 0.5, true).is_ok()); // 4, 8, 9
    let divs = |div_factor, final_div_factor| {
        let options = OneCycleOptions {
            div_factor,
            final_div_factor,
            ..Default::default()
        };
        OneCycle::with_options(1.0, 100, options)
    };
    refuses(divs(0.0, 1e4), "OneCycle div_factor", "> 0");
    refuses(divs(25.0, -1.0), "OneCycle final_div_factor", "> 0");
}

#[test]
fn plateau_and_sequential_refuse_nonsense() {
    let d = PlateauOptions::default();
    let plateau = ReduceOnPlateau::new;
    refuses(plateau(-1.0, d), "ReduceOnPlateau lr", ">= 0");
    for factor in [0.0, 1.0, 1.5] {
        let o = PlateauOptions { factor, ..d };
        refuses(plateau(0.1, o), "ReduceOnPlateau factor", "(0, 1)");
    }
    let o = PlateauOptions {
        threshold: -1.0,
        ..d
    };
    refuses(plateau(0.1, o), "ReduceOnPlateau threshold", ">= 0");
    let o = PlateauOptions { min_lr: 0.5, ..d };
    refuses(
        plateau(0.1, o),
        "ReduceOnPlateau min_lr",
        "must not exceed lr",
    );
    let o = PlateauOptions { eps: f64::NAN, ..d };
    refuses(plateau(0.1, o), "ReduceOnPlateau eps", "finite");

    let c = || -> Box<dyn LrSchedule> { Box::new(Constant::new(0.1).unwrap()) };
    let seq = Sequential::new;
    refuses(seq(vec![], vec![]), "Sequential schedules", "empty");
    refuses(
        seq(vec![c(), c()], vec![]),
        "Sequential milestones",
        "expected 1, got 0",
    );
    refuses(
        seq(vec![c()], vec![3]),
        "Sequential milestones",
        "expected 0, got 1",
    );
    refuses(
        seq(vec![c(), c()], vec![0]),
        "Sequential milestones",
        "after step 0",
    );
    refuses(
        seq(vec![c(), c(), c()], vec![5, 5]),
        "Sequential milestones",
        "strictly increase",
    );
}

// ---------------------------------------------------------------- plots

#[test]
fn plot_writes_an_svg_titled_with_the_schedule() {
    let dir = temp_dir("plot");
    let s = StepLr::new(0.1, 30, 0.1).unwrap();
    let path = dir.join("step.svg");
    s.plot(100, &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..50.min(svg.len())]);
    assert!(svg.contains("StepLr(lr = 0.1, step_size = 30, gamma = 0.1)"));
    assert!(svg.contains("learning rate"));

    // Nothing to plot.
    assert!(matches!(
        s.plot(0, dir.join("empty.svg")),
        Err(Error::Plot { .. })
    ));
    // A boxed schedule plots too; a long cyclic schedule is thinned, not 100k points.
    let boxed: Box<dyn LrSchedule> =
        Box::new(CyclicLr::new(0.01, 0.1, 500, 500, CyclicMode::Triangular).unwrap());
    let path = dir.join("cyclic.svg");
    boxed.plot(100_000, &path).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 1000 && len < 400_000, "cyclic.svg is {len} bytes");
    std::fs::remove_dir_all(&dir).unwrap();
}
