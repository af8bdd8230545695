//! Run-time choice of vector instructions for the hot loops.
//!
//! The crate is compiled for baseline x86-64 (SSE2), so a loop the compiler
//! vectorises works on 4 floats at a time and cannot use fused multiply-add.
//! [`vectorize`] runs a closure inside a function compiled for AVX2 + FMA
//! when the CPU has them (one binary still runs on any x86-64): the loop in
//! the closure is inlined there and vectorised 8 floats wide. The `pulp`
//! crate does the feature detection and the dispatch without `unsafe` here.
//!
//! Only whole loops belong in a closure: the dispatch costs a few
//! nanoseconds, so a one-element op should call its loop directly.
//!
//! What makes the wide code appear (checked in the disassembly: `vfmadd`
//! on `ymm` registers inside pulp's `imp_fastcall`):
//! - a `move` closure, with the slices, scalars and any element function
//!   (`F: Fn(T) -> T + Copy`) moved in by value. A closure or scalar reached
//!   through a reference is not vectorised there: the compiler cannot rule
//!   out that the output slice overlaps what the reference points at;
//! - a small closure body (a loop calling `#[inline]` functions). A large
//!   body may not be inlined into the wide function at all, and then runs
//!   as baseline code; for such kernels implement `pulp::WithSimd` on a
//!   struct with an `#[inline(always)] with_simd` instead;
//! - no calls into libm inside the loop (`f32::exp` and friends are
//!   function calls that stop vectorisation): use the polynomial versions.

/// Runs `f`, compiled for the widest vector instructions the CPU offers
/// (AVX2 + FMA on x86-64 v3 machines, the baseline otherwise).
///
/// The closure should be a `move` closure whose body is a loop over slices
/// calling `#[inline]` element functions (see the module docs for why).
#[inline(always)]
pub(crate) fn vectorize<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectorized_loop_matches_plain_loop() {
        // A multiply-add the wide path may fuse: compare within one rounding.
        let a: Vec<f32> = (0..1001).map(|i| i as f32 * 0.37 - 50.0).collect();
        let mut wide = vec![0.0f32; a.len()];
        let (out, src) = (&mut wide[..], &a[..]);
        vectorize(move || {
            for (o, &x) in out.iter_mut().zip(src) {
                *o = x * 1.5 + 0.25;
            }
        });
        for (w, &x) in wide.iter().zip(&a) {
            let exact = x as f64 * 1.5 + 0.25;
            assert!(
                (*w as f64 - exact).abs() <= exact.abs() * 1.2e-7,
                "{w} vs {exact}"
            );
        }
        // The wide path is only taken where the CPU has the instructions.
        #[cfg(target_arch = "x86_64")]
        if !matches!(pulp::Arch::new(), pulp::Arch::Scalar) {
            assert!(std::arch::is_x86_feature_detected!("avx2"));
            assert!(std::arch::is_x86_feature_detected!("fma"));
        }
    }
}
