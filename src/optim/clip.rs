//! Gradient clipping, applied to [`Grads`] between backward and the
//! optimiser step.

use super::engine::CHUNK;
use crate::nn::ParamId;
use crate::tape::Grads;
use crate::tensor::{Float, worth_parallel};
use rayon::prelude::*;

/// Rescales all parameter gradients together so that their total L2 norm
/// is at most `max_norm`, and returns the total norm before clipping, as
/// PyTorch's `torch.nn.utils.clip_grad_norm_`.
///
/// The norm is taken over every parameter gradient in `grads` as if they
/// were one vector, accumulated in `f64`:
///
/// ```text
/// ‖g‖ = √(Σ_params Σ_i g_i²)
/// if ‖g‖ > max_norm:   g ← g · max_norm / (‖g‖ + 10⁻⁶)
/// ```
///
/// Gradients of plain vars (`tape.var`) are left alone. If the norm is not
/// finite (a NaN or infinite gradient), nothing is scaled and the norm is
/// returned, so the caller can see the problem and skip the step (PyTorch
/// would scale everything to NaN or 0). The sum runs over fixed chunks in a
/// fixed order, so the norm is the same whatever the thread count.
///
/// ```
/// use tapegrad::optim::clip_grad_norm;
/// use tapegrad::{Param, Tape, tensor};
/// let w = Param::<f64>::new("w", tensor![0.0, 0.0]);
/// let tape = Tape::new();
/// let x = tape.constant(tensor![3.0, 4.0]);
/// let mut grads = (tape.param(&w) * x).sum().backward(); // gradient (3, 4), norm 5
/// let norm = clip_grad_norm(&mut grads, 1.0);
/// assert_eq!(norm, 5.0);
/// let g = grads.of(&w);
/// assert!((g.get(&[0]) - 0.6).abs() < 1e-6 && (g.get(&[1]) - 0.8).abs() < 1e-6);
/// ```
///
/// # Panics
/// If `max_norm` is negative or NaN.
pub fn clip_grad_norm<T: Float>(grads: &mut Grads<T>, max_norm: f64) -> f64 {
    assert!(
        max_norm >= 0.0,
        "clip_grad_norm: max_norm must be >= 0, got {max_norm}"
    );
    let norm = grads
        .params()
        .map(|(_, g)| sum_of_squares(g.as_slice()))
        .sum::<f64>()
        .sqrt();
    if norm.is_finite() && norm > max_norm {
        let scale = T::from_f64(max_norm / (norm + 1e-6));
        for_each_param_grad(grads, |chunk| {
            for x in chunk {
                *x *= scale;
            }
        });
    }
    norm
}

/// Clamps every element of every parameter gradient into `[-clip, clip]`,
/// as PyTorch's `torch.nn.utils.clip_grad_value_`. NaN stays NaN.
///
/// ```
/// use tapegrad::optim::clip_grad_value;
/// use tapegrad::{Param, Tape, tensor};
/// let w = Param::<f64>::new("w", tensor![0.0, 0.0, 0.0]);
/// let tape = Tape::new();
/// let x = tape.constant(tensor![-3.0, 0.5, 2.0]);
/// let mut grads = (tape.param(&w) * x).sum().backward();
/// clip_grad_value(&mut grads, 1.0);
/// assert_eq!(grads.of(&w).to_vec(), vec![-1.0, 0.5, 1.0]);
/// ```
///
/// # Panics
/// If `clip` is negative or NaN.
pub fn clip_grad_value<T: Float>(grads: &mut Grads<T>, clip: f64) {
    assert!(
        clip >= 0.0,
        "clip_grad_value: clip must be >= 0, got {clip}"
    );
    let (hi, lo) = (T::from_f64(clip), T::from_f64(-clip));
    for_each_param_grad(grads, |chunk| {
        for x in chunk {
            // Comparisons, not max/min, so that NaN passes through.
            if *x > hi {
                *x = hi;
            } else if *x < lo {
                *x = lo;
            }
        }
    });
}

/// `Σ x²` in `f64`, over fixed chunks summed in order: the same bits on any
/// number of threads.
fn sum_of_squares<T: Float>(x: &[T]) -> f64 {
    let chunk_sum = |c: &[T]| {
        c.iter()
            .map(|v| {
                let v = v.to_f64();
                v * v
            })
            .sum::<f64>()
    };
    if worth_parallel(x.len()) {
        let partial: Vec<f64> = x.par_chunks(CHUNK).map(chunk_sum).collect();
        partial.iter().sum()
    } else {
        x.chunks(CHUNK).map(chunk_sum).sum()
    }
}

/// Calls `f` on every parameter gradient, in `CHUNK`-long pieces, in
/// parallel for large ones.
fn for_each_param_grad<T: Float>(grads: &mut Grads<T>, f: impl Fn(&mut [T]) + Sync) {
    let ids: Vec<ParamId> = grads.params().map(|(id, _)| id).collect();
    for id in ids {
        let g = grads
            .get_param_mut(id)
            .expect("tapegrad bug: a listed parameter gradient is missing")
            .as_mut_slice();
        if worth_parallel(g.len()) {
            g.par_chunks_mut(CHUNK).for_each(&f);
        } else {
            f(g);
        }
    }
}
