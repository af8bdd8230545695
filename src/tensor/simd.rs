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

/// Runs `f`, compiled for the widest vector instructions the CPU offers
/// (AVX2 + FMA on x86-64 v3 machines, the baseline otherwise).
///
/// The closure's body must be inlinable (a loop over slices, calling
/// `#[inline]` element functions) for the wider instructions to reach it.
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
        vectorize(|| {
            for (o, &x) in wide.iter_mut().zip(&a) {
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
