//! Parameter initialisers, drawn from the caller's seeded generator.
//!
//! Fan-in and fan-out follow PyTorch: for a weight of shape
//! `[out, in, k...]`, `fan_in = in * prod(k)` and `fan_out = out * prod(k)`.
//! Each layer documents which of these it uses by default (matching
//! PyTorch's default for that layer).

use crate::tensor::{Float, Tensor};
use rand::Rng;

/// Whether a Kaiming initialiser preserves the variance of the forward
/// pass (`FanIn`, PyTorch's default) or of the backward pass (`FanOut`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// Scale by the number of inputs.
    FanIn,
    /// Scale by the number of outputs.
    FanOut,
}

/// `(fan_in, fan_out)` of a weight shape (`[out, in, k...]`; a 1-d shape
/// counts as both).
///
/// # Panics
/// If the shape is 0-d.
pub fn fans(dims: &[usize]) -> (usize, usize) {
    assert!(
        !dims.is_empty(),
        "init: fan-in and fan-out need at least one axis, got []"
    );
    if dims.len() == 1 {
        return (dims[0], dims[0]);
    }
    let receptive: usize = dims[2..].iter().product();
    (dims[1] * receptive, dims[0] * receptive)
}

/// All zeros.
pub fn zeros<T: Float>(dims: &[usize]) -> Tensor<T> {
    Tensor::zeros(dims)
}

/// Every element `value`.
pub fn constant<T: Float>(dims: &[usize], value: f64) -> Tensor<T> {
    Tensor::full(dims, T::from_f64(value))
}

/// Uniform on `[low, high)`.
pub fn uniform<T: Float, R: Rng + ?Sized>(
    dims: &[usize],
    low: f64,
    high: f64,
    rng: &mut R,
) -> Tensor<T> {
    Tensor::rand_uniform(dims, T::from_f64(low), T::from_f64(high), rng)
}

/// Normal with the given mean and standard deviation.
pub fn normal<T: Float, R: Rng + ?Sized>(
    dims: &[usize],
    mean: f64,
    std: f64,
    rng: &mut R,
) -> Tensor<T> {
    let z: Tensor<f64> = Tensor::randn(dims, rng);
    z.map(|v| mean + std * v).cast()
}

/// Xavier/Glorot uniform: `U(-a, a)`, `a = gain * sqrt(6 / (fan_in + fan_out))`.
pub fn xavier_uniform<T: Float, R: Rng + ?Sized>(
    dims: &[usize],
    gain: f64,
    rng: &mut R,
) -> Tensor<T> {
    let (fi, fo) = fans(dims);
    let a = gain * (6.0 / (fi + fo) as f64).sqrt();
    uniform(dims, -a, a, rng)
}

/// Xavier/Glorot normal: `N(0, s^2)`, `s = gain * sqrt(2 / (fan_in + fan_out))`.
pub fn xavier_normal<T: Float, R: Rng + ?Sized>(
    dims: &[usize],
    gain: f64,
    rng: &mut R,
) -> Tensor<T> {
    let (fi, fo) = fans(dims);
    normal(dims, 0.0, gain * (2.0 / (fi + fo) as f64).sqrt(), rng)
}

fn kaiming_fan(dims: &[usize], mode: FanMode) -> f64 {
    let (fi, fo) = fans(dims);
    match mode {
        FanMode::FanIn => fi as f64,
        FanMode::FanOut => fo as f64,
    }
}

/// Kaiming/He uniform: `U(-b, b)`, `b = gain * sqrt(3 / fan)`.
///
/// For ReLU nets use `gain = sqrt(2)`. PyTorch's default for `Linear` and
/// `Conv2d` weights is this with `gain = sqrt(2 / (1 + 5)) = sqrt(1/3)`
/// (its `a = sqrt(5)`), which works out to `b = 1 / sqrt(fan_in)`.
pub fn kaiming_uniform<T: Float, R: Rng + ?Sized>(
    dims: &[usize],
    gain: f64,
    mode: FanMode,
    rng: &mut R,
) -> Tensor<T> {
    let b = gain * (3.0 / kaiming_fan(dims, mode)).sqrt();
    uniform(dims, -b, b, rng)
}

/// Kaiming/He normal: `N(0, s^2)`, `s = gain / sqrt(fan)`.
pub fn kaiming_normal<T: Float, R: Rng + ?Sized>(
    dims: &[usize],
    gain: f64,
    mode: FanMode,
    rng: &mut R,
) -> Tensor<T> {
    normal(dims, 0.0, gain / kaiming_fan(dims, mode).sqrt(), rng)
}

/// The gain PyTorch's `calculate_gain` recommends for a nonlinearity:
/// `"linear"`/`"sigmoid"` 1, `"tanh"` 5/3, `"relu"` sqrt 2, `"leaky_relu"`
/// sqrt(2 / (1 + slope^2)) with slope 0.01, `"selu"` 3/4.
///
/// # Panics
/// For a name it does not know.
pub fn gain(nonlinearity: &str) -> f64 {
    match nonlinearity {
        "linear" | "identity" | "sigmoid" | "conv2d" => 1.0,
        "tanh" => 5.0 / 3.0,
        "relu" => 2f64.sqrt(),
        "leaky_relu" => (2.0 / (1.0 + 0.01f64 * 0.01)).sqrt(),
        "selu" => 0.75,
        other => panic!("init::gain: unknown nonlinearity '{other}'"),
    }
}
