//! `nn::loss`: every loss under every reduction against finite differences
//! in f64, hand-derived values, the fused and composite cross-entropy paths
//! against each other, and the L1 / L2 penalties' gradients.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::check::gradcheck;
use tapegrad::nn::loss::{self, BceWithLogitsOptions, CrossEntropyOptions, KlReduction, Reduction};
use tapegrad::{Float, Module, Param, Tape, Tensor, Var, tensor};

const REDUCTIONS: [Reduction; 3] = [Reduction::None, Reduction::Mean, Reduction::Sum];

fn randn(dims: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::randn(dims, &mut StdRng::seed_from_u64(seed))
}

fn uniform(dims: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform(dims, lo, hi, &mut StdRng::seed_from_u64(seed))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + b.abs())
}

fn assert_all_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(close(*g, *w), "{got:?} vs {want:?}");
    }
}

/// Shapes for elementwise losses: 0-d, size-1 axes, and ordinary ones.
const SHAPES: [&[usize]; 5] = [&[], &[1], &[5], &[3, 1], &[2, 3]];

mod classification;
mod penalty;
mod regression;
