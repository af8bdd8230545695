//! WarmupStableDecay: the warm-up, the stable phase and each cool-down
//! shape at their edges, worked out by hand from the doc comment's
//! formula; the refusals.

use super::*;

#[test]
fn warmup_then_stable_forever_without_a_cooldown() {
    // η (t + 1) / W with η = 0.8, W = 4: 0.2, 0.4, 0.6, 0.8, then 0.8.
    let s = WarmupStableDecay::new(0.8, 4).unwrap();
    assert_lrs(
        &s,
        &[
            (0, 0.2),
            (1, 0.4),
            (2, 0.6),
            (3, 0.8),
            (4, 0.8),
            (1 << 40, 0.8),
        ],
    );
    assert_eq!(s.end(), None);
    // No warm-up: the peak from step 0.
    assert_lrs(
        &WarmupStableDecay::new(0.5, 0).unwrap(),
        &[(0, 0.5), (9, 0.5)],
    );
}

/// η = 1, W = 2, a cool-down of D = 4 steps from S = 6 down to η_f = 0.2:
/// p = (t − 6 + 1) / 4 is 1/4, 1/2, 3/4, 1 at t = 6, 7, 8, 9.
fn planned(shape: CooldownShape) -> WarmupStableDecay {
    let cooldown = Cooldown::new(shape, 4).final_lr(0.2);
    WarmupStableDecay::new(1.0, 2)
        .unwrap()
        .with_cooldown(6, cooldown)
        .unwrap()
}

#[test]
fn linear_cooldown_at_its_edges() {
    // 0.2 + 0.8 (1 − p): 0.8, 0.6, 0.4, then 0.2 at the last step and after.
    let s = planned(CooldownShape::Linear);
    assert_lrs(
        &s,
        &[
            (0, 0.5),
            (1, 1.0),
            (5, 1.0),
            (6, 0.8),
            (7, 0.6),
            (8, 0.4),
            (9, 0.2),
            (10, 0.2),
            (1000, 0.2),
        ],
    );
    assert_eq!(s.end(), Some(10));
}

#[test]
fn cosine_cooldown_at_its_edges() {
    // 0.2 + 0.8 (1 + cos πp)/2: p = 1/4 -> 0.2 + 0.4 (1 + 1/√2); p = 1/2 -> 0.6.
    let s = planned(CooldownShape::Cosine);
    assert_lrs(
        &s,
        &[
            (5, 1.0),
            (6, 0.2 + 0.4 * (1.0 + FRAC_1_SQRT_2)),
            (7, 0.6),
            (8, 0.2 + 0.4 * (1.0 - FRAC_1_SQRT_2)),
            (9, 0.2),
            (12, 0.2),
        ],
    );
}

#[test]
fn sqrt_cooldown_at_its_edges() {
    // 0.2 + 0.8 (1 − √p): p = 1/4 -> 0.2 + 0.8 · 0.5 = 0.6; p = 1/2 -> 0.2 + 0.8 (1 − 1/√2).
    let s = planned(CooldownShape::Sqrt);
    assert_lrs(
        &s,
        &[
            (5, 1.0),
            (6, 0.6),
            (7, 0.2 + 0.8 * (1.0 - FRAC_1_SQRT_2)),
            (8, 0.2 + 0.8 * (1.0 - 0.75f64.sqrt())),
            (9, 0.2),
        ],
    );
    // 1 − √p < 1 − p inside (0, 1): below linear at every step of the
    // cool-down, its first drop twice linear's (0.4 against 0.2).
    let l = planned(CooldownShape::Linear);
    for t in 6..9 {
        assert!(s.lr_at(t) < l.lr_at(t), "step {t}");
    }
    assert!(((1.0 - s.lr_at(6)) - 2.0 * (1.0 - l.lr_at(6))).abs() < 1e-12);
}

#[test]
fn one_step_cooldown_and_a_cooldown_right_after_the_warmup() {
    // D = 1: the cool-down's only step is already η_f.
    let s = WarmupStableDecay::new(1.0, 3)
        .unwrap()
        .with_cooldown(3, Cooldown::new(CooldownShape::Cosine, 1))
        .unwrap();
    assert_lrs(&s, &[(2, 1.0), (3, 0.0), (4, 0.0)]);
}

#[test]
fn stable_schedule_and_planned_one_agree_before_the_cooldown() {
    let stable = WarmupStableDecay::new(0.3, 5).unwrap();
    for shape in [
        CooldownShape::Linear,
        CooldownShape::Cosine,
        CooldownShape::Sqrt,
    ] {
        let planned = stable
            .clone()
            .with_cooldown(17, Cooldown::new(shape, 9))
            .unwrap();
        for t in 0..17 {
            assert_eq!(planned.lr_at(t).to_bits(), stable.lr_at(t).to_bits());
        }
        assert!(planned.lr_at(17) < 0.3);
        assert!(planned.describe().contains("cool-down from 17 for 9 steps"));
    }
}

#[test]
fn wsd_refusals_name_the_argument() {
    let err = |r: Result<WarmupStableDecay, ScheduleError>| r.unwrap_err().to_string();
    let s = WarmupStableDecay::new(1.0, 10).unwrap();
    let c = Cooldown::new(CooldownShape::Linear, 5);
    let e = err(s.clone().with_cooldown(9, c));
    assert!(
        e.contains("WarmupStableDecay") && e.contains("warm-up"),
        "{e}"
    );
    let e = err(s
        .clone()
        .with_cooldown(10, Cooldown::new(CooldownShape::Sqrt, 0)));
    assert!(e.contains("cooldown steps"), "{e}");
    let e = err(s.clone().with_cooldown(10, c.final_lr(2.0)));
    assert!(e.contains("final_lr"), "{e}");
    let e = err(s.clone().with_cooldown(10, c.final_lr(f64::NAN)));
    assert!(e.contains("final_lr"), "{e}");
    let e = err(WarmupStableDecay::new(-1.0, 3));
    assert!(e.contains("lr"), "{e}");
}
