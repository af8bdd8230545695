//! Accuracy of the `f32` `exp` and `tanh` behind `Float` (the branch-free
//! versions in `src/tensor/fastmath.rs`), measured against the `f64` C
//! library rounded to `f32` (the correctly rounded result, up to a
//! double rounding that is off by at most one ulp in very rare cases).
//!
//! Errors are counted in ulps as the distance between two floats in the
//! ordered list of all `f32` values (so subnormals, zero and infinity are
//! handled uniformly). Sweeps: a strided walk over every `f32` bit pattern
//! (every finite binade, both signs) plus an even grid over the range where
//! the function is not constant, about 3 million points per function.

use tapegrad::Float;

/// The most ulps either function may be off by.
const MAX_ULP: u64 = 2;

/// Position of `x` in the ordered list of all non-NaN `f32` (with -0 = +0).
fn key(x: f32) -> i64 {
    let b = x.to_bits();
    let mag = (b & 0x7fff_ffff) as i64;
    if b >> 31 == 1 { -mag } else { mag }
}

fn ulps(a: f32, b: f32) -> u64 {
    (key(a) - key(b)).unsigned_abs()
}

fn exp32(x: f32) -> f32 {
    Float::exp(x)
}

fn tanh32(x: f32) -> f32 {
    Float::tanh(x)
}

/// The worst error of `f` against `reference` over `xs`, with its input.
fn worst(
    xs: impl Iterator<Item = f32>,
    f: impl Fn(f32) -> f32,
    reference: impl Fn(f64) -> f64,
) -> (u64, f32) {
    let mut worst = (0, 0.0);
    for x in xs.filter(|x| !x.is_nan()) {
        let want = reference(x as f64) as f32;
        let got = f(x);
        let e = ulps(got, want);
        assert!(!got.is_nan(), "NaN at {x:e} (want {want:e})");
        if e > worst.0 {
            worst = (e, x);
        }
    }
    worst
}

/// Every `stride`-th bit pattern (all signs and binades).
fn bit_sweep(stride: usize) -> impl Iterator<Item = f32> {
    (0..=u32::MAX).step_by(stride).map(f32::from_bits)
}

/// `n + 1` evenly spaced values over `[lo, hi]`.
fn grid(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f32> {
    (0..=n).map(move |i| (lo + (hi - lo) * i as f64 / n as f64) as f32)
}

#[test]
fn exp_is_within_two_ulp_everywhere() {
    let (e, at) = worst(bit_sweep(2039), exp32, f64::exp);
    println!("exp, every 2039th f32: max {e} ulp at {at:e}");
    assert!(e <= MAX_ULP, "exp: {e} ulp at {at:e}");
    // Below -103.98 the result rounds to 0; above 88.73 it overflows.
    let (e, at) = worst(grid(-105.0, 90.0, 1_000_000), exp32, f64::exp);
    println!("exp, even grid on [-105, 90]: max {e} ulp at {at:e}");
    assert!(e <= MAX_ULP, "exp: {e} ulp at {at:e}");
}

#[test]
fn tanh_is_within_two_ulp_everywhere() {
    let (e, at) = worst(bit_sweep(2039), tanh32, f64::tanh);
    println!("tanh, every 2039th f32: max {e} ulp at {at:e}");
    assert!(e <= MAX_ULP, "tanh: {e} ulp at {at:e}");
    // tanh rounds to ±1 beyond |x| = 9.01.
    let (e, at) = worst(grid(-10.0, 10.0, 1_000_000), tanh32, f64::tanh);
    println!("tanh, even grid on [-10, 10]: max {e} ulp at {at:e}");
    assert!(e <= MAX_ULP, "tanh: {e} ulp at {at:e}");
}

#[test]
fn special_values() {
    assert!(exp32(f32::NAN).is_nan());
    assert!(exp32(-f32::NAN).is_nan());
    assert_eq!(exp32(f32::INFINITY), f32::INFINITY);
    assert_eq!(exp32(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp32(0.0), 1.0);
    assert_eq!(exp32(-0.0), 1.0);
    assert_eq!(exp32(f32::MAX), f32::INFINITY);
    assert_eq!(exp32(-f32::MAX), 0.0);
    // ln(f32::MAX) = 88.7228: just below stays finite, just above is inf.
    assert!(exp32(88.72).is_finite());
    assert_eq!(exp32(88.73), f32::INFINITY);
    // e^-100 = 3.72e-44 is subnormal (the smallest normal is 1.18e-38):
    // kept, not flushed. e^-104 = 6.8e-46 is below half of 2^-149 = 1.4e-45.
    let sub = exp32(-100.0);
    assert!(sub > 0.0 && sub < f32::MIN_POSITIVE, "{sub:e}");
    assert_eq!(exp32(-104.0), 0.0);
    // Tiny arguments: e^x = 1 + x rounds to 1 (or its neighbour below).
    assert_eq!(exp32(1e-30), 1.0);
    assert_eq!(exp32(f32::from_bits(1)), 1.0);

    assert!(tanh32(f32::NAN).is_nan());
    assert_eq!(tanh32(f32::INFINITY), 1.0);
    assert_eq!(tanh32(f32::NEG_INFINITY), -1.0);
    assert_eq!(tanh32(f32::MAX), 1.0);
    assert_eq!(tanh32(-f32::MAX), -1.0);
    assert_eq!(tanh32(20.0), 1.0);
    assert_eq!(tanh32(-20.0), -1.0);
    assert_eq!(tanh32(0.0).to_bits(), 0.0f32.to_bits());
    assert_eq!(tanh32(-0.0).to_bits(), (-0.0f32).to_bits());
    // tanh x = x - x^3/3 + ...: below ~1e-4 the cubic term is under half an ulp.
    for x in [
        1e-30f32,
        -1e-30,
        1e-10,
        -3e-7,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
    ] {
        assert_eq!(tanh32(x), x, "tanh({x:e})");
    }
}

/// `f` never decreases over `n` consecutive floats from `start`.
fn assert_monotone(name: &str, f: impl Fn(f32) -> f32, start: f32, n: usize) {
    let mut x = start;
    let mut prev = f(x);
    for _ in 0..n {
        let next = x.next_up();
        let y = f(next);
        assert!(
            y >= prev,
            "{name} decreases from {x:e} ({prev:e}) to {next:e} ({y:e})"
        );
        (x, prev) = (next, y);
    }
}

#[test]
fn monotone_across_the_seams() {
    // exp switches n where x / ln 2 crosses k + 1/2: walk 200 floats
    // across each of those points.
    for k in -150..128 {
        let seam = (k as f64 + 0.5) * std::f64::consts::LN_2;
        let mut start = seam as f32;
        for _ in 0..100 {
            start = start.next_down();
        }
        assert_monotone("exp", exp32, start, 200);
    }
    // tanh switches formula at |x| = 0.625; also around 0 and near 9 where it reaches 1.
    for seam in [-0.625f32, 0.625, 0.0, 9.0, -9.0] {
        let mut start = seam;
        for _ in 0..5000 {
            start = start.next_down();
        }
        assert_monotone("tanh", tanh32, start, 10_000);
    }
    // A coarse grid over the whole ranges.
    let mut prev = 0.0f32;
    for x in grid(-110.0, 90.0, 200_000) {
        let y = exp32(x);
        assert!(y >= prev, "exp decreases at {x:e}");
        prev = y;
    }
    let mut prev = -1.0f32;
    for x in grid(-12.0, 12.0, 200_000) {
        let y = tanh32(x);
        assert!(y >= prev, "tanh decreases at {x:e}");
        prev = y;
    }
}
