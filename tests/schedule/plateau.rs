//! ReduceLrOnPlateau driven step by step, and the wrappers that route metrics to it.

use super::*;

// ---------------------------------------------------------------- ReduceLrOnPlateau

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
    let mut s = ReduceLrOnPlateau::new(1.0, options).unwrap();
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
    let mut s = ReduceLrOnPlateau::new(1.0, options).unwrap();
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
        ReduceLrOnPlateau::new(lr, options).unwrap()
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

    // SequentialLr: metrics go to the schedule in charge, at its own step count.
    let mut s = SequentialLr::new(
        vec![
            Box::new(ConstantLr::new(1.0).unwrap()),
            Box::new(plateau(0.5)),
        ],
        vec![5],
    )
    .unwrap();
    s.observe(3, 9.0); // to the ConstantLr: ignored
    s.observe(7, 1.0); // to the plateau at its step 2: first metric, improves
    s.observe(9, 2.0); // its step 4: cut from there
    assert_lrs(&s, &[(4, 1.0), (5, 0.5), (8, 0.5), (9, 0.25)]);
}
