//! Each schedule against its formula at chosen steps, boundaries included.

use super::*;

// ---------------------------------------------------------------- formulas

#[test]
fn constant_never_changes() {
    let s = ConstantLr::new(0.3).unwrap();
    assert_lrs(&s, &[(0, 0.3), (1, 0.3), (1_000_000_000, 0.3)]);
    // Zero is a valid (if idle) rate.
    assert_lrs(&ConstantLr::new(0.0).unwrap(), &[(5, 0.0)]);
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
    let s = CosineAnnealingLr::new(1.0, 8, 0.2).unwrap();
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
    let s = CosineAnnealingWarmRestarts::new(1.0, 4, 2, 0.0).unwrap();
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
    let s = CosineAnnealingWarmRestarts::new(0.5, 5, 1, 0.1).unwrap();
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
    let s = CosineAnnealingWarmRestarts::new(1.0, 3, 3, 0.0).unwrap();
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
    let inner: Box<dyn LrSchedule> = Box::new(ConstantLr::new(0.3).unwrap());
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
    let s = OneCycleLr::new(1.0, 100).unwrap();
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
    let s = OneCycleLr::with_options(2.0, 10, options).unwrap();
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
    let s = OneCycleLr::with_options(1.0, 20, options).unwrap();
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
    let s = SequentialLr::new(
        vec![
            Box::new(ConstantLr::new(0.1).unwrap()),
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
    let single = SequentialLr::new(vec![Box::new(ConstantLr::new(0.4).unwrap())], vec![]).unwrap();
    assert_lrs(&single, &[(0, 0.4), (99, 0.4)]);
}
