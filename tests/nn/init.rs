//! Initialisers: fans, bounds and spreads against their formulas.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::Tensor;
use tapegrad::nn::init::{self, FanMode};

fn std_of(t: &Tensor<f64>) -> f64 {
    let n = t.numel() as f64;
    let mean = t.as_slice().iter().sum::<f64>() / n;
    (t.as_slice().iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt()
}

#[test]
fn fans_follow_pytorch() {
    // Conv weight [out 8, in 3, 5, 5]: fan_in = 3 * 25, fan_out = 8 * 25.
    assert_eq!(init::fans(&[8, 3, 5, 5]), (75, 200));
    assert_eq!(init::fans(&[10, 4]), (4, 10));
}

#[test]
fn uniform_initialisers_stay_within_their_bounds_and_reach_near_them() {
    let mut rng = StdRng::seed_from_u64(3);
    let dims = [64, 32];
    // Xavier: a = sqrt(6 / (32 + 64)) = 0.25.
    let x: Tensor<f64> = init::xavier_uniform(&dims, 1.0, &mut rng);
    let max = x.as_slice().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max <= 0.25 && max > 0.24, "{max}");
    // Kaiming uniform with gain sqrt 2 and fan_in 32: b = sqrt(2) * sqrt(3 / 32) = sqrt(6 / 32).
    let k: Tensor<f64> = init::kaiming_uniform(&dims, init::gain("relu"), FanMode::FanIn, &mut rng);
    let b = (6.0f64 / 32.0).sqrt();
    let max = k.as_slice().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(max <= b && max > 0.95 * b, "{max} vs {b}");
    // A uniform on [-b, b] has standard deviation b / sqrt 3.
    assert!((std_of(&k) - b / 3f64.sqrt()).abs() < 0.05 * b);
}

#[test]
fn normal_initialisers_have_the_stated_spread() {
    let mut rng = StdRng::seed_from_u64(4);
    let dims = [200, 100];
    // Kaiming normal, fan_out = 200, gain 1: s = 1 / sqrt(200).
    let k: Tensor<f64> = init::kaiming_normal(&dims, 1.0, FanMode::FanOut, &mut rng);
    let s = 1.0 / 200f64.sqrt();
    assert!((std_of(&k) - s).abs() < 0.03 * s, "{} vs {s}", std_of(&k));
    // Xavier normal: s = sqrt(2 / 300).
    let x: Tensor<f64> = init::xavier_normal(&dims, 1.0, &mut rng);
    let s = (2.0f64 / 300.0).sqrt();
    assert!((std_of(&x) - s).abs() < 0.03 * s);
    let c: Tensor<f32> = init::constant(&[3], 0.5);
    assert_eq!(c.to_vec(), vec![0.5; 3]);
}

#[test]
fn same_seed_gives_the_same_weights() {
    let a: Tensor<f32> = init::normal(&[5, 5], 0.0, 1.0, &mut StdRng::seed_from_u64(9));
    let b: Tensor<f32> = init::normal(&[5, 5], 0.0, 1.0, &mut StdRng::seed_from_u64(9));
    assert_eq!(a, b);
}
