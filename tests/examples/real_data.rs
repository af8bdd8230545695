//! Smoke tests of the examples on real data (lasso, forecast, char_lm,
//! lr_sweep): each runs a shortened version and checks that it learns.

#[allow(dead_code)]
#[path = "../../examples/lasso.rs"]
mod lasso;

#[allow(dead_code)]
#[path = "../../examples/forecast.rs"]
mod forecast;

#[allow(dead_code)]
#[path = "../../examples/char_lm.rs"]
mod char_lm;

#[allow(dead_code)]
#[path = "../../examples/lr_sweep.rs"]
mod lr_sweep;

/// Solves `a x = b` (`a` is `n x n`, row-major) by Gaussian elimination
/// with partial pivoting, in f64.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap();
        for k in 0..n {
            a.swap(col * n + k, pivot * n + k);
        }
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row * n + col] / a[col * n + col];
            for k in col..n {
                a[row * n + k] -= f * a[col * n + k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row * n + k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row * n + row];
    }
    x
}

#[test]
fn lasso_zeroes_coefficients_when_strong_and_matches_least_squares_at_zero() {
    let (x, y) = lasso::load();
    let lambda_max = lasso::lambda_max(&x, &y);
    let strong = 0.5 * lambda_max;
    let out = lasso::run(&lasso::Config {
        strengths: vec![strong, 0.0],
        // Gradient descent shrinks the error along the flattest direction
        // of x^T x / n by lr * (its eigenvalue) = 0.0086 / 4.02 per step,
        // so 4000 steps take a start error of 0.5 down to about 1e-4.
        max_steps: 4000,
        verbose: false,
        out: None,
    });
    assert_eq!(out.lambda_max, lambda_max);

    // At half of lambda_max only the strongest predictors survive.
    let zeros = out.fits[0]
        .coefficients
        .iter()
        .filter(|c| **c == 0.0)
        .count();
    assert!(
        zeros >= 7,
        "only {zeros} of 10 coefficients are zero at lambda = {strong}"
    );

    // At strength 0: ordinary least squares, solved here by the normal
    // equations (x^T x) w = x^T y in f64, with no tape involved.
    let ols = &out.fits[1];
    assert!(
        ols.last_loss < ols.first_loss,
        "loss {} -> {}",
        ols.first_loss,
        ols.last_loss
    );
    let (n, p) = (x.shape()[0], x.shape()[1]);
    let (xs, ys) = (x.as_slice(), y.as_slice());
    let mut gram = vec![0.0; p * p];
    let mut xty = vec![0.0; p];
    for i in 0..n {
        let row = &xs[i * p..(i + 1) * p];
        for j in 0..p {
            xty[j] += row[j] * ys[i];
            for k in 0..p {
                gram[j * p + k] += row[j] * row[k];
            }
        }
    }
    let exact = solve(gram, xty);
    for (j, (got, want)) in ols.coefficients.iter().zip(&exact).enumerate() {
        assert!(
            (got - want).abs() < 1e-3,
            "coefficient {} ({}): gradient descent {got}, normal equations {want}",
            j,
            lasso::FEATURES[j]
        );
    }
}

#[test]
fn forecast_mlp_beats_seasonal_naive() {
    let out = forecast::run(&forecast::Config {
        kind: forecast::Kind::Mlp,
        epochs: 15,
        verbose: false,
        ..forecast::Config::default()
    })
    .expect("the bundled series fits");
    assert!(
        out.last_loss < 0.5 * out.first_loss,
        "loss {} -> {}",
        out.first_loss,
        out.last_loss
    );
    assert!(
        out.test_mae < out.naive_mae,
        "MLP MAE {} ppm, seasonal naive {} ppm",
        out.test_mae,
        out.naive_mae
    );
    // RMSE is at least MAE (Jensen), and the MLP wins on it too
    assert!(out.test_rmse >= out.test_mae && out.naive_rmse >= out.naive_mae);
    assert!(out.test_rmse < out.naive_rmse);
    assert_eq!(out.column, "co2");
}

#[test]
fn char_lm_learns_names() {
    // A model this small and this short a run (seconds in a debug build)
    // only about matches the bigram; the full example beats it.
    let config = char_lm::Config {
        steps: 100,
        eval_every: 50,
        batch: 12,
        width: 32,
        layers: 1,
        lr: 1e-2,
        sample_len: 40,
        verbose: false,
        out: None,
        ..char_lm::Config::names()
    };
    let out = char_lm::run(&config).expect("names.txt fits");
    println!(
        "char_lm: loss {:.3} -> {:.3} nats, validation {:.3} bpc, bigram {:.3}",
        out.first_loss, out.last_loss, out.val_bpc, out.bigram_bpc
    );
    assert!(
        out.last_loss < 0.8 * out.first_loss,
        "loss {} -> {}",
        out.first_loss,
        out.last_loss
    );
    // A uniform guess over 27 characters costs log2(27) = 4.75 bits; the
    // counted bigram 3.37. The floor sits between them.
    assert!(
        out.val_bpc < 3.6,
        "model {} bits per character (bigram {})",
        out.val_bpc,
        out.bigram_bpc
    );
    assert_eq!(out.sample.chars().count(), 40);
}

#[test]
fn lr_sweep_labels_the_extremes_and_puts_sgd_above_adam() {
    use lr_sweep::{Label, Opt};
    let rates = vec![1e-4, 1e-2, 1e-1, 1.0, 10.0];
    let out = lr_sweep::run(&lr_sweep::Config {
        epochs: 2,
        rates: rates.clone(),
        verbose: false,
        out: None,
    });
    for opt in [Opt::Sgd, Opt::Adam] {
        let runs: Vec<&lr_sweep::Run> = out.runs.iter().filter(|r| r.opt == opt).collect();
        assert_eq!(runs.len(), rates.len());
        assert_eq!(runs[0].label, Label::Crawling, "{opt:?} at {}", runs[0].lr);
        let last = runs[runs.len() - 1];
        assert_eq!(last.label, Label::Diverging, "{opt:?} at {}", last.lr);
    }
    let (sgd, adam) = (out.best_rate(Opt::Sgd), out.best_rate(Opt::Adam));
    assert!(sgd > adam, "best SGD rate {sgd}, best Adam rate {adam}");
}

#[test]
fn lr_sweep_label_rule_on_hand_made_curves() {
    use lr_sweep::{Label, label};
    // Falling every time, but not to half: crawling.
    assert_eq!(label(&[2.3, 2.2, 2.1, 2.0, 1.9]), Label::Crawling);
    // Below half, rises of at most 25%: converging.
    assert_eq!(label(&[2.3, 1.0, 0.5, 0.6, 0.3]), Label::Converging);
    // 0.4 -> 0.6 is a rise of 50% (and 0.2 > 1% of 2.3): oscillating.
    assert_eq!(label(&[2.3, 0.5, 0.4, 0.6, 0.3]), Label::Oscillating);
    // 0.02 -> 0.03 is 50% too, but only 0.01 < 0.023: converging.
    assert_eq!(label(&[2.3, 0.5, 0.02, 0.03, 0.01]), Label::Converging);
    // Ends above the start, or is not a number: diverging.
    assert_eq!(label(&[2.3, 5.0, 2.4]), Label::Diverging);
    assert_eq!(label(&[2.3, 1.0, f64::NAN]), Label::Diverging);
    // Hovers near the start, up on 2 of 4 moves: stuck, which counts as
    // diverging; the same values sorted downwards would be crawling.
    assert_eq!(label(&[2.3, 2.28, 2.29, 2.27, 2.28]), Label::Diverging);
    assert_eq!(label(&[2.3, 2.29, 2.28, 2.28, 2.27]), Label::Crawling);
}

#[test]
fn the_flags_of_forecast_char_lm_lasso_and_lr_sweep_keep_their_names_and_defaults() {
    use std::path::PathBuf;
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target");

    let forecast = |argv: &[&str]| {
        forecast::args::parse_from("forecast", "", argv.iter().copied(), forecast::config)
    };
    let c = forecast(&[]).unwrap();
    assert_eq!((c.kind, c.epochs), (forecast::Kind::Gru, 60));
    assert_eq!(c.out, Some(target.clone()));
    let c = forecast(&["--mlp", "--epochs=5", "--out", "f"]).unwrap();
    assert_eq!((c.kind, c.epochs), (forecast::Kind::Mlp, 5));
    assert_eq!(c.out, Some(PathBuf::from("f")));
    assert_eq!(forecast(&["--gru"]).unwrap().kind, forecast::Kind::Gru);
    let Err(forecast::args::Stop::Usage(m)) = forecast(&["--mlp", "--gru"]) else {
        panic!("--mlp --gru was accepted");
    };
    assert!(m.contains("--mlp and --gru exclude each other"), "{m}");

    let char_lm = |argv: &[&str]| {
        char_lm::args::parse_from("char_lm", "", argv.iter().copied(), char_lm::config)
    };
    // No flags: the Shakespeare preset as it is.
    let c = char_lm(&[]).unwrap();
    let preset = char_lm::Config::shakespeare();
    assert_eq!(
        (c.data, c.steps, c.context),
        (preset.data, preset.steps, preset.context)
    );
    assert_eq!(c.kind, char_lm::Kind::Transformer);
    assert_eq!(c.out, Some(target.clone()));
    // `--data names.txt` picks the names preset; the other flags apply on top.
    let c = char_lm(&["--data=names.txt", "--gru", "--steps", "9", "--out=o"]).unwrap();
    let names = char_lm::Config::names();
    assert_eq!(
        (&c.data, c.context, c.shuffle_lines),
        (&names.data, names.context, true)
    );
    assert_eq!((c.kind, c.steps), (char_lm::Kind::Gru, 9));
    assert_eq!(c.out, Some(PathBuf::from("o")));

    for (name, parsed) in [
        (
            "lasso",
            lasso::args::parse_from("lasso", "", ["--out", "l"], lasso::out_dir).unwrap(),
        ),
        (
            "lr_sweep",
            lr_sweep::args::parse_from("lr_sweep", "", ["--out=l"], lr_sweep::out_dir).unwrap(),
        ),
    ] {
        assert_eq!(parsed, PathBuf::from("l"), "{name}");
    }
    let none: [&str; 0] = [];
    assert_eq!(
        lasso::args::parse_from("lasso", "", none, lasso::out_dir).unwrap(),
        target
    );
    assert_eq!(
        lr_sweep::args::parse_from("lr_sweep", "", none, lr_sweep::out_dir).unwrap(),
        target
    );
}
