//! The LR range test: its rates and smoothing against their formulas, an
//! exact restore, a suggestion below the known divergence threshold of a
//! quadratic, and SGD wanting a larger rate than Adam.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::data::{Batch, DataLoader, TensorDataset};
use tapegrad::nn::{Forward, Linear, Relu, Sequential};
use tapegrad::optim::{Adam, Optimizer, Sgd};
use tapegrad::train::LrFinder;
use tapegrad::{Module, Param, Tape, Tensor, Var};

/// Regression data: y = x . (1, -2, 0.5) + noise, x standard normal with
/// its columns scaled by (1, 2, 3) so the Hessian is far from the identity.
fn regression() -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(1);
    let z = Tensor::<f32>::randn(&[128, 3], &mut rng);
    let scaled: Vec<f32> = (0..384)
        .map(|k| z.as_slice()[k] * (1 + k % 3) as f32)
        .collect();
    let x = Tensor::from_vec(scaled, &[128, 3]).unwrap();
    let w = Tensor::from_vec(vec![1.0f32, -2.0, 0.5], &[3, 1]).unwrap();
    let noise = Tensor::<f32>::randn(&[128, 1], &mut rng).scale(0.1);
    TensorDataset::new(x.clone(), &x.matmul(&w) + &noise)
}

fn mse<'t>(w: &Param, tape: &'t Tape, batch: &Batch) -> Var<'t> {
    let err = tape.constant(batch.inputs.clone()).matmul(tape.param(w))
        - tape.constant(batch.targets.clone());
    (err * err).mean()
}

#[test]
fn rates_and_smoothing_follow_their_formulas() {
    let data = regression();
    let mut w = Param::new("w", Tensor::zeros(&[3, 1]));
    let mut opt = Sgd::new(0.01);
    let mut loader = DataLoader::new(&data, 32).shuffle(4);
    let finder = LrFinder::new(1e-4, 1.0, 50).unwrap();
    let report = finder.run(&mut w, &mut opt, &mut loader, mse).unwrap();
    let n = report.lrs.len();
    assert!(n >= 10);
    let mut avg = 0.0f64;
    let mut best = f64::INFINITY;
    for i in 0..n {
        // lr_i = 1e-4 * (1 / 1e-4)^(i / 49)
        let lr = 1e-4 * 1e4f64.powf(i as f64 / 49.0);
        assert!((report.lrs[i] / lr - 1.0).abs() < 1e-12, "lr {i}");
        avg = 0.98 * avg + 0.02 * report.losses[i];
        let smoothed = avg / (1.0 - 0.98f64.powi(i as i32 + 1));
        assert!(
            (report.smoothed[i] / smoothed - 1.0).abs() < 1e-12,
            "smoothed {i}"
        );
        let over = i > 0 && smoothed > 4.0 * best;
        // Only the last point may be past 4 x the minimum, and only if it stopped there.
        assert_eq!(over, report.stopped_early && i == n - 1, "step {i}");
        best = best.min(smoothed);
    }
    assert_eq!(report.stopped_early, n < 50);
}

/// Largest eigenvalue of the Hessian of mean((X w - y)^2), 2/N X^T X, by
/// power iteration in f64.
fn hessian_top_eigenvalue(x: &Tensor<f32>) -> f64 {
    let (n, d) = (x.shape()[0], x.shape()[1]);
    let xs: Vec<f64> = x.as_slice().iter().map(|&v| v as f64).collect();
    let mut h = vec![0.0; d * d];
    for r in 0..n {
        for i in 0..d {
            for j in 0..d {
                h[i * d + j] += 2.0 / n as f64 * xs[r * d + i] * xs[r * d + j];
            }
        }
    }
    let mut v = vec![1.0; d];
    let mut lambda = 0.0;
    for _ in 0..500 {
        let hv: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|j| h[i * d + j] * v[j]).sum())
            .collect();
        lambda = hv.iter().map(|a| a * a).sum::<f64>().sqrt();
        v = hv.iter().map(|a| a / lambda).collect();
    }
    lambda
}

#[test]
fn sgd_suggestion_on_a_quadratic_is_below_its_divergence_threshold() {
    let data = regression();
    // Gradient descent on a quadratic diverges for lr > 2 / lambda_max.
    let threshold = 2.0 / hessian_top_eigenvalue(data.inputs());
    let mut w = Param::new("w", Tensor::zeros(&[3, 1]));
    let mut opt = Sgd::new(0.01);
    let mut loader = DataLoader::new(&data, 128);
    let report = LrFinder::new(threshold / 1e4, threshold * 100.0, 100)
        .unwrap()
        .run(&mut w, &mut opt, &mut loader, mse)
        .unwrap();
    assert!(
        report.stopped_early,
        "the loss must blow up past the threshold"
    );
    let steepest = report.steepest.unwrap();
    assert!(steepest < threshold, "{steepest} vs threshold {threshold}");
    assert!(
        steepest > threshold / 1e3,
        "{steepest} vs threshold {threshold}"
    );
    let min10 = report.min_loss_lr.unwrap();
    assert!(min10 < threshold, "{min10} vs threshold {threshold}");
    // Below the threshold every step shrinks the error: it can only have
    // stopped past it.
    let last = *report.lrs.last().unwrap();
    assert!(last > threshold, "{last} vs threshold {threshold}");
}

fn blobs() -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(2);
    let noise = Tensor::<f32>::randn(&[90, 2], &mut rng);
    let centres = [[0.0f32, 2.0], [2.0, -1.0], [-2.0, -1.0]];
    let x: Vec<f32> = (0..180)
        .map(|k| centres[(k / 2) % 3][k % 2] + 0.8 * noise.as_slice()[k])
        .collect();
    let y: Vec<f32> = (0..90).map(|i| (i % 3) as f32).collect();
    TensorDataset::new(
        Tensor::from_vec(x, &[90, 2]).unwrap(),
        Tensor::from_vec(y, &[90]).unwrap(),
    )
}

fn mlp() -> Sequential {
    let mut rng = StdRng::seed_from_u64(3);
    Sequential::new()
        .add(Linear::new(2, 32, &mut rng))
        .add(Relu)
        .add(Linear::new(32, 3, &mut rng))
}

fn ce<'t>(m: &Sequential, tape: &'t Tape, batch: &Batch) -> Var<'t> {
    m.forward(tape.constant(batch.inputs.clone()))
        .cross_entropy(&batch.labels())
}

fn bits(m: &Sequential) -> Vec<Vec<u32>> {
    m.parameters()
        .iter()
        .map(|p| p.value().as_slice().iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn finder_leaves_model_optimizer_and_loader_exactly_as_they_were() {
    let data = blobs();
    let mut m = mlp();
    let mut opt = Adam::new(1e-3);
    let mut loader = DataLoader::new(&data, 16).shuffle(5);
    // Give the optimiser some state first, and move the loader on.
    let g = {
        let tape = Tape::new();
        let batch = loader.epoch().next().unwrap();
        ce(&m, &tape, &batch).backward()
    };
    opt.step(&mut m, &g);
    let (params, state, lr) = (bits(&m), opt.state(&m), opt.lr());

    let mut twin_loader = DataLoader::new(&data, 16).shuffle(5);
    let _ = twin_loader.epoch().count();

    LrFinder::new(1e-5, 10.0, 60)
        .unwrap()
        .run(&mut m, &mut opt, &mut loader, ce)
        .unwrap();
    assert_eq!(bits(&m), params);
    assert_eq!(opt.state(&m), state);
    assert_eq!(opt.lr().to_bits(), lr.to_bits());
    // The loader's shuffling goes on as if the test had not happened.
    let a: Vec<Vec<f32>> = loader
        .epoch()
        .map(|b| b.targets.as_slice().to_vec())
        .collect();
    let b: Vec<Vec<f32>> = twin_loader
        .epoch()
        .map(|b| b.targets.as_slice().to_vec())
        .collect();
    assert_eq!(a, b);
}

#[test]
fn sgd_is_suggested_a_larger_rate_than_adam() {
    let data = blobs();
    let suggest = |opt: &mut dyn Optimizer| {
        let mut m = mlp();
        let mut loader = DataLoader::new(&data, 16).shuffle(0);
        LrFinder::new(1e-5, 100.0, 120)
            .unwrap()
            .run(&mut m, opt, &mut loader, ce)
            .unwrap()
    };
    let sgd = suggest(&mut Sgd::new(0.1));
    let adam = suggest(&mut Adam::new(1e-3));
    let (s, a) = (sgd.suggestion().unwrap(), adam.suggestion().unwrap());
    eprintln!(
        "suggested: SGD {s:.3e} (min/10 {:.3e}), Adam {a:.3e} (min/10 {:.3e})",
        sgd.min_loss_lr.unwrap(),
        adam.min_loss_lr.unwrap()
    );
    assert!(s > a, "SGD {s} vs Adam {a}");
    assert!(sgd.min_loss_lr.unwrap() > adam.min_loss_lr.unwrap());

    let path = std::env::temp_dir().join(format!("tapegrad-lrfind-{}.svg", std::process::id()));
    sgd.plot(&path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("steepest") && svg.contains("min/10"));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn nonsense_ranges_are_refused() {
    assert!(LrFinder::new(1.0, 0.1, 10).is_err());
    assert!(LrFinder::new(0.0, 0.1, 10).is_err());
    assert!(LrFinder::new(1e-3, f64::INFINITY, 10).is_err());
    let err = LrFinder::new(1e-3, 1.0, 1).unwrap_err();
    assert_eq!(err.to_string(), "LrFinder: steps must be at least 2, got 1");
}

#[test]
fn finder_restores_batch_norm_running_statistics() {
    let data = blobs();
    let mut rng = StdRng::seed_from_u64(3);
    let mut m: Sequential = Sequential::new()
        .add(Linear::new(2, 8, &mut rng))
        .add(tapegrad::nn::BatchNorm1d::new(8))
        .add(Relu)
        .add(Linear::new(8, 3, &mut rng));
    let before: Vec<(String, Vec<f32>)> = m
        .named_buffers()
        .into_iter()
        .map(|(n, t)| (n, t.as_slice().to_vec()))
        .collect();
    let mut opt = Sgd::new(0.1);
    let mut loader = DataLoader::new(&data, 16);
    LrFinder::new(1e-4, 1.0, 20)
        .unwrap()
        .run(&mut m, &mut opt, &mut loader, ce)
        .unwrap();
    let after: Vec<(String, Vec<f32>)> = m
        .named_buffers()
        .into_iter()
        .map(|(n, t)| (n, t.as_slice().to_vec()))
        .collect();
    // running_mean, running_var and num_batches_tracked (the count is
    // restored too)
    assert_eq!(before.len(), 3);
    assert_eq!(after, before);
}
