//! The range test's suggestion rules on synthetic smoothed-loss curves
//! whose answers are known by construction (worked out in the comments
//! from the rules' definitions), which rule a report used, and the chart
//! marking each.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tapegrad::data::{Batch, DataLoader, TensorDataset};
use tapegrad::optim::Sgd;
use tapegrad::train::{LrFinder, LrFinderReport, SuggestionRule};
use tapegrad::{Param, Tape, Tensor, Var};

/// 100 rates, ten a decade: `ln lr` steps evenly, by `d = ln(10)/10`.
fn rates() -> Vec<f64> {
    (0..100)
        .map(|i| 1e-6 * 10f64.powf(i as f64 / 10.0))
        .collect()
}

/// Points 0..=20 at 3; a strictly decreasing valley 20..=79,
/// `1 + 2 exp(−(i − 20)/10)`; a rise after it.
fn three_answers() -> Vec<f64> {
    (0..100)
        .map(|i| {
            let valley = |i: usize| 1.0 + 2.0 * (-((i as f64) - 20.0) / 10.0).exp();
            match i {
                0..=20 => 3.0,
                21..=79 => valley(i),
                _ => valley(79) + 0.05 * (i - 79) as f64,
            }
        })
        .collect()
}

#[test]
fn each_rule_picks_its_rate_on_a_curve_built_to_tell_them_apart() {
    let lrs = rates();
    let report =
        LrFinderReport::from_curve(lrs.clone(), three_answers(), false, SuggestionRule::Valley);
    // Kept for the shape rules: the first tenth (10) and the last twentieth
    // (5) are left out, so points 10..95.
    //
    // Steepest: central slopes (L_{i+1} − L_{i−1}) / 2d. At 20 it is
    // (L21 − 3)/2d = 2(e^−0.1 − 1)/2d, at 21 (L22 − 3)/2d = 2(e^−0.2 − 1)/2d,
    // at 22 2(e^−0.3 − e^−0.1)/2d: the most negative is at 21, and the
    // valley only flattens after it.
    assert_eq!(report.steepest, Some(lrs[21]));
    // Valley: counting from point 10, the flat points 0..=10 (10..=20) are
    // equal, never strictly decreasing; the longest decreasing subsequence
    // is one flat point then 21..=79: lds = 60, ending at e = 69 (point
    // 79; nothing in the rise is longer). s = 69 − 60 = 9, (e − s)/3 = 20,
    // index 9 + 20 + 10 = 39: point 49.
    assert_eq!(report.valley, Some(lrs[49]));
    // Minimum: the valley's bottom, point 79; a tenth of its rate.
    assert_eq!(report.min_loss_lr, Some(lrs[79] / 10.0));
    // The rule asked for is the one used, and all three are listed.
    assert_eq!(
        (report.rule, report.used),
        (SuggestionRule::Valley, Some(SuggestionRule::Valley))
    );
    assert_eq!(report.suggestion(), Some(lrs[49]));
    let all: Vec<SuggestionRule> = report.all().into_iter().map(|(r, _)| r).collect();
    assert_eq!(all, SuggestionRule::ALL);
    // Another rule on the same measurements.
    let steep = report.clone().with_rule(SuggestionRule::Steepest);
    assert_eq!(steep.suggestion(), Some(lrs[21]));
    let min = report.with_rule(SuggestionRule::MinimumTenth);
    assert_eq!(
        (min.used, min.suggestion()),
        (Some(SuggestionRule::MinimumTenth), Some(lrs[79] / 10.0))
    );
}

#[test]
fn steepest_is_the_centre_of_a_symmetric_drop_and_valley_matches_fastai_at_the_start() {
    // L = 2 − tanh((ln lr − ln lr_60) / 2) up to point 85, then a rise (the
    // width 2 keeps tanh clear of ±1 in f64, so every point differs):
    // the central slope at k is −(tanh((k+1−60)d/w) − tanh((k−1−60)d/w))/2d,
    // largest in size at k = 60 (tanh is steepest at 0 and odd).
    let lrs = rates();
    let centre = lrs[60].ln();
    let drop = |lr: f64| 2.0 - ((lr.ln() - centre) / 2.0).tanh();
    let curve: Vec<f64> = (0..100)
        .map(|i| {
            if i <= 85 {
                drop(lrs[i])
            } else {
                drop(lrs[85]) + 0.05 * (i - 85) as f64
            }
        })
        .collect();
    let report = LrFinderReport::from_curve(lrs.clone(), curve, false, SuggestionRule::Steepest);
    assert_eq!(report.steepest, Some(lrs[60]));
    assert_eq!(report.used, Some(SuggestionRule::Steepest));
    // Valley: every kept point 10..=85 decreases, lds = 76 ending at e = 75
    // (from point 10); fastai's s = 75 − 76 = −1, (e − s)/3 = 76/3, index
    // −1 + 25 + 12 = 36: point 46.
    assert_eq!(report.valley, Some(lrs[46]));
    // The minimum is at the bottom of the drop, point 85.
    assert_eq!(report.min_loss_lr, Some(lrs[85] / 10.0));
}

#[test]
fn minimum_leaves_out_the_diverged_point_and_nan() {
    // A bowl with its bottom at point 30, a NaN at 31, and a last point
    // (where the run stopped) below everything: it diverged, so it is not
    // the minimum.
    let lrs: Vec<f64> = rates()[..41].to_vec();
    let mut curve: Vec<f64> = (0..41)
        .map(|i| 1.0 + ((i as f64 - 30.0) / 10.0).powi(2))
        .collect();
    curve[31] = f64::NAN;
    curve[40] = 0.0;
    let report = LrFinderReport::from_curve(lrs.clone(), curve, true, SuggestionRule::MinimumTenth);
    assert_eq!(report.min_loss_lr, Some(lrs[30] / 10.0));
    assert_eq!(report.suggestion(), Some(lrs[30] / 10.0));
}

#[test]
fn a_rule_without_an_answer_falls_back_to_minimum_and_says_so() {
    // Two points: too few for the steepest descent (it needs three).
    let report = LrFinderReport::from_curve(
        vec![1e-3, 1e-2],
        vec![1.0, 0.5],
        false,
        SuggestionRule::Steepest,
    );
    assert_eq!(report.steepest, None);
    assert_eq!(report.used, Some(SuggestionRule::MinimumTenth));
    assert_eq!(report.suggestion(), Some(1e-2 / 10.0));
    assert!(
        report.summary().contains("min/10 1.00e-3 (used)"),
        "{}",
        report.summary()
    );
    // Nothing usable at all: no suggestion, and the summary says so.
    let empty = LrFinderReport::from_curve(vec![], vec![], false, SuggestionRule::Valley);
    assert_eq!((empty.used, empty.suggestion()), (None, None));
    assert!(empty.summary().starts_with("no suggestion"));
}

fn mse<'t>(w: &Param, tape: &'t Tape, batch: &Batch) -> Var<'t> {
    let err = tape.constant(batch.inputs.clone()).matmul(tape.param(w))
        - tape.constant(batch.targets.clone());
    (err * err).mean()
}

#[test]
fn a_run_reports_the_rule_asked_for_and_its_chart_marks_every_rule() {
    let mut rng = StdRng::seed_from_u64(2);
    let x = Tensor::<f32>::randn(&[64, 3], &mut rng);
    let w_true = Tensor::from_vec(vec![1.0f32, -2.0, 0.5], &[3, 1]).unwrap();
    let data = TensorDataset::new(x.clone(), x.matmul(&w_true));
    let mut w = Param::new("w", Tensor::zeros(&[3, 1]));
    let mut opt = Sgd::new(0.01);
    let mut loader = DataLoader::new(&data, 16);
    let finder = LrFinder::new(1e-4, 10.0, 80)
        .unwrap()
        .rule(SuggestionRule::Valley);
    let report = finder.run(&mut w, &mut opt, &mut loader, mse).unwrap();
    assert_eq!(report.rule, SuggestionRule::Valley);
    assert_eq!(report.used, Some(SuggestionRule::Valley));
    assert_eq!(report.suggestion(), report.valley);
    // The run's own curve gives the same suggestions as the curve alone.
    let again = LrFinderReport::from_curve(
        report.lrs.clone(),
        report.smoothed.clone(),
        report.stopped_early,
        SuggestionRule::Valley,
    );
    assert_eq!(
        (again.steepest, again.valley, again.min_loss_lr),
        (report.steepest, report.valley, report.min_loss_lr)
    );
    let dir = std::env::temp_dir().join(format!("tapegrad-lr-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("finder.svg");
    report.plot(&path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    for name in ["steepest", "valley", "min/10"] {
        assert!(svg.contains(name), "{name} not marked");
    }
    assert_eq!(svg.matches("(used)").count(), 1);
    assert!(svg.contains(&format!("valley {:.2e} (used)", report.valley.unwrap())));
    report.plot(dir.join("finder.png")).unwrap();
    assert!(std::fs::metadata(dir.join("finder.png")).unwrap().len() > 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}
