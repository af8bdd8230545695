//! Branch-free `f32` exponential and hyperbolic tangent that vectorise.
//!
//! `f32::exp` and `f32::tanh` call the C library once per element, which
//! keeps every loop around them scalar. The versions here are straight-line
//! arithmetic (range reduction, a polynomial, exponent bits built by hand),
//! with every special case handled by a clamp or a select instead of a
//! branch, so a loop over a slice compiles to vector instructions (8 lanes
//! inside [`vectorize`](super::simd::vectorize)). [`Float`](super::Float)
//! routes `f32`'s `exp` and `tanh` here; `f64` keeps the C library, so the
//! `f64` gradient checks see the reference functions.
//!
//! Accuracy (measured against `f64` in `tests/fastmath.rs`): within 2 ulp of
//! the correctly rounded result over the whole `f32` range, subnormal
//! results included (they are not flushed to zero). Special values:
//! `exp(NaN) = NaN`, `exp(inf) = inf`, `exp(-inf) = 0`, overflow gives
//! `inf` and underflow `0`; `tanh(NaN) = NaN`, `tanh(±inf) = ±1`,
//! `tanh(-0) = -0`, and `tanh(x) = x` for tiny `x`.
//!
//! No `mul_add`: without the FMA target feature it is a library call. The
//! polynomials are written as plain `a * b + c`.

/// `1 / ln 2`.
const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split in two (Cody-Waite): the high part has 9 significant bits,
/// so `n * LN2_HI` is exact for every `|n| <= 2^15`, and
/// `LN2_HI + LN2_LO` equals `ln 2` to about 2^-33.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// `1.5 * 2^23`: adding it to a float `|v| < 2^22` rounds `v` to the
/// nearest integer, which then sits in the low bits of the sum.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Below this `exp` is 0 (`e^-104 < 2^-150`, half the smallest subnormal).
const EXP_MIN: f32 = -104.0;
/// Above this `exp` overflows (`e^89 > f32::MAX`).
const EXP_MAX: f32 = 89.0;

/// `(e^r - 1 - r) / r^2` on `|r| <= ln 2 / 2`, a degree-4 near-minimax
/// polynomial (fitted with Chebyshev interpolation, relative error of
/// `e^r` about 1e-8 before rounding).
const EXP_P: [f32; 5] = [
    0.5,
    0.166_665_76,
    0.041_666_556,
    0.008_363_179,
    0.001_392_618_4,
];

/// `2^k` for `-126 <= k <= 127`, built from the exponent bits.
#[inline(always)]
fn pow2i(k: i32) -> f32 {
    f32::from_bits((k.wrapping_add(127) as u32).wrapping_shl(23))
}

/// `e^x` for `f32`, branch-free; see the module docs for its accuracy.
///
/// `x = n ln 2 + r` with `n` the nearest integer to `x / ln 2` and
/// `|r| <= ln 2 / 2` computed in two steps (exactly, for the `n` in range);
/// `e^r` comes from a polynomial and `2^n` from exponent bits, applied as
/// two factors `2^(n/2) 2^(n - n/2)` so that subnormal results and the
/// overflow to infinity both come out of plain multiplication.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // Clamp with selects that keep NaN (a comparison with NaN is false).
    let x = if x < EXP_MIN { EXP_MIN } else { x };
    let x = if x > EXP_MAX { EXP_MAX } else { x };
    let t = x * LOG2_E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    // The integer n sits in the low bits of t (garbage, unused, for NaN).
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
    let r = x - n * LN2_HI;
    let r = r - n * LN2_LO;
    let q = EXP_P[4];
    let q = q * r + EXP_P[3];
    let q = q * r + EXP_P[2];
    let q = q * r + EXP_P[1];
    let q = q * r + EXP_P[0];
    let p = 1.0 + (r + (r * r) * q);
    // n lies in [-150, 128]: each half is a normal power of two.
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    p * pow2i(n1) * pow2i(n2)
}

/// Below this `|x|`, `tanh` uses its odd polynomial; above, `exp`.
const TANH_SMALL: f32 = 0.625;

/// `(tanh(x) / x - 1) / x^2` as a polynomial in `s = x^2` on
/// `|x| <= 0.625` (near-minimax, Chebyshev interpolation; relative error
/// of `tanh` about 1e-8 before rounding).
const TANH_P: [f32; 6] = [
    -0.333_333_34,
    0.133_333_04,
    -0.053_959_258,
    0.021_768_892,
    -0.008_343_86,
    0.002_292_647_3,
];

/// `tanh x` for `f32`, branch-free; see the module docs for its accuracy.
///
/// Small `|x|`: `|x| + |x| s P(s)` with `s = x^2` (tiny `x` come back
/// unchanged). Otherwise `1 - 2 / (1 + e^(2|x|))` (1 once `e^(2|x|)`
/// overflows). Both are computed, one is selected, and it takes the sign
/// of `x` (so `tanh(-0) = -0`).
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let s = x * x;
    let p = TANH_P[5];
    let p = p * s + TANH_P[4];
    let p = p * s + TANH_P[3];
    let p = p * s + TANH_P[2];
    let p = p * s + TANH_P[1];
    let p = p * s + TANH_P[0];
    // On |x|, with the sign put back at the end: `x + x s P` would give
    // +0 for x = -0.
    let small = a + a * (s * p);
    let large = 1.0 - 2.0 / (1.0 + exp(a + a));
    // NaN fails the comparison and takes the `exp` route, which keeps it.
    let t = if a < TANH_SMALL { small } else { large };
    t.copysign(x)
}
