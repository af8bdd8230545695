//! Every constructor's refusals and their messages, and the schedule plot.

use super::*;

// ---------------------------------------------------------------- refusals

/// Asserts that a constructor refused, naming `who` ("Schedule argument")
/// and saying `fragment`.
#[track_caller]
fn refuses<T: std::fmt::Debug>(result: Result<T, ScheduleError>, who: &str, fragment: &str) {
    let e = result.expect_err("the constructor should refuse");
    let message = e.to_string();
    let (schedule, argument) = who.split_once(' ').unwrap();
    assert_eq!(
        (e.schedule(), e.argument()),
        (schedule, argument),
        "{message}"
    );
    assert!(
        message.starts_with(&format!("{schedule}: {argument} ")),
        "{message}"
    );
    assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
}

#[test]
fn error_messages_read_as_sentences() {
    let e = StepLr::new(0.1, 0, 0.1).unwrap_err();
    assert_eq!(e.to_string(), "StepLr: step_size must be at least 1, got 0");
    let e = CosineAnnealingLr::new(0.1, 10, 0.5).unwrap_err();
    assert_eq!(
        e.to_string(),
        "CosineAnnealingLr: eta_min (0.5) must not exceed lr (0.1)"
    );
    // `?` turns it into tapegrad's Error.
    fn build() -> tapegrad::Result<StepLr> {
        Ok(StepLr::new(-1.0, 1, 0.1)?)
    }
    let e = build().unwrap_err();
    assert!(matches!(e, Error::Schedule(_)));
    assert_eq!(
        e.to_string(),
        "StepLr: lr must be a finite rate >= 0, got -1"
    );
}

#[test]
fn simple_schedules_refuse_nonsense() {
    let (nan, inf) = (f64::NAN, f64::INFINITY);
    refuses(ConstantLr::new(-0.1), "ConstantLr lr", "got -0.1");
    refuses(ConstantLr::new(nan), "ConstantLr lr", "got NaN");
    refuses(ConstantLr::new(inf), "ConstantLr lr", "finite");

    let step = StepLr::new;
    refuses(step(-1.0, 1, 0.1), "StepLr lr", ">= 0");
    refuses(step(0.1, 0, 0.1), "StepLr step_size", "at least 1");
    refuses(step(0.1, 1, 0.0), "StepLr gamma", "(0, 1]");
    refuses(step(0.1, 1, 1.5), "StepLr gamma", "got 1.5");
    refuses(step(0.1, 1, nan), "StepLr gamma", "(0, 1]");

    let multi = MultiStepLr::new;
    refuses(multi(0.1, vec![], 0.1), "MultiStepLr milestones", "empty");
    refuses(
        multi(0.1, vec![0, 3], 0.1),
        "MultiStepLr milestones",
        "after step 0",
    );
    refuses(
        multi(0.1, vec![3, 3], 0.1),
        "MultiStepLr milestones",
        "strictly increase",
    );
    refuses(
        multi(0.1, vec![5, 2], 0.1),
        "MultiStepLr milestones",
        "got 5 then 2",
    );
    refuses(multi(0.1, vec![5], -0.5), "MultiStepLr gamma", "(0, 1]");

    let exp = ExponentialLr::new;
    refuses(exp(nan, 0.9), "ExponentialLr lr", "finite");
    refuses(exp(0.1, 0.0), "ExponentialLr gamma", "> 0");
    refuses(exp(0.1, -1.0), "ExponentialLr gamma", "> 0");
    refuses(exp(0.1, inf), "ExponentialLr gamma", "finite");

    let poly = PolynomialLr::new;
    refuses(poly(0.1, 0, 1.0), "PolynomialLr total_iters", "at least 1");
    refuses(poly(0.1, 5, 0.0), "PolynomialLr power", "> 0");
    refuses(poly(0.1, 5, nan), "PolynomialLr power", "finite");

    refuses(LambdaLr::new(-1.0, |_| 1.0), "LambdaLr lr", ">= 0");
}

#[test]
fn cosine_warmup_and_cyclic_refuse_nonsense() {
    let cos = CosineAnnealingLr::new;
    refuses(cos(0.1, 0, 0.0), "CosineAnnealingLr t_max", "at least 1");
    refuses(cos(0.1, 5, -0.1), "CosineAnnealingLr eta_min", ">= 0");
    refuses(cos(f64::INFINITY, 5, 0.0), "CosineAnnealingLr lr", "finite");

    let sgdr = CosineAnnealingWarmRestarts::new;
    refuses(
        sgdr(0.1, 0, 1, 0.0),
        "CosineAnnealingWarmRestarts t_0",
        "at least 1",
    );
    refuses(
        sgdr(0.1, 5, 0, 0.0),
        "CosineAnnealingWarmRestarts t_mult",
        "at least 1",
    );
    refuses(
        sgdr(0.1, 5, 2, 0.2),
        "CosineAnnealingWarmRestarts eta_min",
        "must not exceed lr",
    );

    let warm = |steps, factor| LinearWarmup::new(ConstantLr::new(1.0).unwrap(), steps, factor);
    refuses(warm(0, 0.1), "LinearWarmup warmup_steps", "at least 1");
    refuses(warm(5, 0.0), "LinearWarmup start_factor", "(0, 1]");
    refuses(warm(5, 1.5), "LinearWarmup start_factor", "(0, 1]");

    let tri = |base, max, up, down| CyclicLr::new(base, max, up, down, CyclicMode::Triangular);
    refuses(
        tri(0.5, 0.1, 2, 2),
        "CyclicLr base_lr",
        "must not exceed max_lr",
    );
    refuses(tri(0.1, f64::NAN, 2, 2), "CyclicLr max_lr", "finite");
    refuses(tri(0.1, 0.5, 0, 2), "CyclicLr step_size_up", "at least 1");
    refuses(tri(0.1, 0.5, 2, 0), "CyclicLr step_size_down", "at least 1");
    let exp_range = |gamma| CyclicLr::new(0.1, 0.5, 2, 2, CyclicMode::ExpRange { gamma });
    refuses(exp_range(0.0), "CyclicLr gamma", "(0, 1]");
    refuses(exp_range(2.0), "CyclicLr gamma", "got 2");
}

#[test]
fn one_cycle_refuses_nonsense() {
    let with = |total, pct_start, three_phase| {
        let options = OneCycleOptions {
            pct_start,
            three_phase,
            ..Default::default()
        };
        OneCycleLr::with_options(1.0, total, options)
    };
    refuses(OneCycleLr::new(-1.0, 100), "OneCycleLr max_lr", ">= 0");
    refuses(
        OneCycleLr::new(1.0, 0),
        "OneCycleLr total_steps",
        "at least 1",
    );
    refuses(with(100, 0.0, false), "OneCycleLr pct_start", "(0, 1)");
    refuses(with(100, 1.0, false), "OneCycleLr pct_start", "(0, 1)");
    refuses(with(100, f64::NAN, false), "OneCycleLr pct_start", "(0, 1)");
    // 0.1 · 10 - 1 = 0: the rising phase would have no steps.
    refuses(with(10, 0.1, false), "OneCycleLr pct_start", "phase 1 of 2");
    // Three phases ending at 4.5, 9 and 9: the last would have no steps.
    refuses(with(10, 0.55, true), "OneCycleLr pct_start", "phase 3 of 3");
    assert!(with(10, 0.5, true).is_ok()); // 4, 8, 9
    let divs = |div_factor, final_div_factor| {
        let options = OneCycleOptions {
            div_factor,
            final_div_factor,
            ..Default::default()
        };
        OneCycleLr::with_options(1.0, 100, options)
    };
    refuses(divs(0.0, 1e4), "OneCycleLr div_factor", "> 0");
    refuses(divs(25.0, -1.0), "OneCycleLr final_div_factor", "> 0");
}

#[test]
fn plateau_and_sequential_refuse_nonsense() {
    let d = PlateauOptions::default();
    let plateau = ReduceLrOnPlateau::new;
    refuses(plateau(-1.0, d), "ReduceLrOnPlateau lr", ">= 0");
    for factor in [0.0, 1.0, 1.5] {
        let o = PlateauOptions { factor, ..d };
        refuses(plateau(0.1, o), "ReduceLrOnPlateau factor", "(0, 1)");
    }
    let o = PlateauOptions {
        threshold: -1.0,
        ..d
    };
    refuses(plateau(0.1, o), "ReduceLrOnPlateau threshold", ">= 0");
    let o = PlateauOptions { min_lr: 0.5, ..d };
    refuses(
        plateau(0.1, o),
        "ReduceLrOnPlateau min_lr",
        "must not exceed lr",
    );
    let o = PlateauOptions { eps: f64::NAN, ..d };
    refuses(plateau(0.1, o), "ReduceLrOnPlateau eps", "finite");

    let c = || -> Box<dyn LrSchedule> { Box::new(ConstantLr::new(0.1).unwrap()) };
    let seq = SequentialLr::new;
    refuses(seq(vec![], vec![]), "SequentialLr schedules", "empty");
    refuses(
        seq(vec![c(), c()], vec![]),
        "SequentialLr milestones",
        "expected 1, got 0",
    );
    refuses(
        seq(vec![c()], vec![3]),
        "SequentialLr milestones",
        "expected 0, got 1",
    );
    refuses(
        seq(vec![c(), c()], vec![0]),
        "SequentialLr milestones",
        "after step 0",
    );
    refuses(
        seq(vec![c(), c(), c()], vec![5, 5]),
        "SequentialLr milestones",
        "strictly increase",
    );
}

// ---------------------------------------------------------------- plots

#[test]
fn plot_writes_an_svg_titled_with_the_schedule() {
    let dir = temp_dir("plot");
    let s = StepLr::new(0.1, 30, 0.1).unwrap();
    let path = dir.join("step.svg");
    s.plot(100, &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..50.min(svg.len())]);
    assert!(svg.contains("StepLr(lr = 0.1, step_size = 30, gamma = 0.1)"));
    assert!(svg.contains("learning rate"));

    // Nothing to plot.
    assert!(matches!(
        s.plot(0, dir.join("empty.svg")),
        Err(Error::Plot { .. })
    ));
    // A boxed schedule plots too; a long cyclic schedule is thinned, not 100k points.
    let boxed: Box<dyn LrSchedule> =
        Box::new(CyclicLr::new(0.01, 0.1, 500, 500, CyclicMode::Triangular).unwrap());
    let path = dir.join("cyclic.svg");
    boxed.plot(100_000, &path).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 1000 && len < 400_000, "cyclic.svg is {len} bytes");
    std::fs::remove_dir_all(&dir).unwrap();
}
