//! Line charts: several series, log axes, markers, gaps, and the errors for
//! other formats, nothing to draw and unwritable paths.

use std::path::PathBuf;

use tapegrad::Error;
use tapegrad::plot::LineChart;

/// A fresh directory for this test's files.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-plot-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn save_refuses_other_formats_and_reports_io_errors() {
    let dir = temp_dir("plot-errors");
    let chart = LineChart::new("rate").series("lr", [(0.0, 0.1), (1.0, 0.2)]);
    let png = dir.join("lr.png");
    match chart.save(&png) {
        Err(Error::Plot { path, message }) => {
            assert_eq!(path, png);
            assert!(message.contains("SVG"), "{message}");
        }
        other => panic!("expected a plot error, got {other:?}"),
    }
    assert!(!png.exists());
    // Nothing to draw.
    let empty = LineChart::new("empty").series("none", []);
    match empty.save(dir.join("empty.svg")) {
        Err(Error::Plot { message, .. }) => assert!(message.contains("no point"), "{message}"),
        other => panic!("expected a plot error, got {other:?}"),
    }
    // A directory that does not exist.
    let missing = dir.join("no-such-dir").join("lr.svg");
    match chart.save(&missing) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn line_chart_draws_several_series_log_axes_and_markers() {
    let dir = temp_dir("chart");
    // A loss curve with a NaN hole, against a log-scaled rate, two suggestions marked.
    let rates: Vec<f64> = (0..50)
        .map(|i| 1e-5 * 10f64.powf(i as f64 / 10.0))
        .collect();
    let loss: Vec<(f64, f64)> = rates
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            (
                r,
                if i == 20 {
                    f64::NAN
                } else {
                    2.0 - (i as f64 / 49.0)
                },
            )
        })
        .collect();
    let smooth: Vec<(f64, f64)> = loss.iter().map(|&(r, l)| (r, l + 0.1)).collect();
    let path = dir.join("finder.SVG");
    LineChart::new("LR range test")
        .x_label("learning rate")
        .y_label("loss")
        .log_x()
        .log_y()
        .series("loss", loss)
        .series("smoothed", smooth)
        .marker(1e-3, "steepest")
        .marker(1e-2, "min / 10")
        .size(640, 400)
        .save(&path)
        .unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    for text in [
        "LR range test",
        "learning rate",
        "loss",
        "smoothed",
        "steepest",
        "min / 10",
    ] {
        assert!(svg.contains(text), "{text} missing from the SVG");
    }
    // Values <= 0 cannot sit on a log axis: a chart with nothing else fails clearly.
    let err = LineChart::new("zeros")
        .log_y()
        .series("zero", [(0.0, 0.0), (1.0, 0.0)])
        .save(dir.join("zeros.svg"))
        .unwrap_err();
    assert!(err.to_string().contains("no point can be drawn"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
