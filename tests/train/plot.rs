//! Line charts: several series, log axes, markers, gaps, and the errors for
//! other formats, nothing to draw and unwritable paths.

use std::path::PathBuf;

use tapegrad::Error;
use tapegrad::plot::LineChart;

/// Decodes a PNG file into `(width, height, RGB bytes)`.
pub fn decode_png(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

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
    for name in ["lr.jpg", "lr", "lr.svg.gz"] {
        let other = dir.join(name);
        match chart.save(&other) {
            Err(Error::Plot { path, message }) => {
                assert_eq!(path, other);
                assert!(message.contains(".svg or a .png"), "{message}");
            }
            result => panic!("expected a plot error for {name}, got {result:?}"),
        }
        assert!(!other.exists());
    }
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

/// A history like a diverged run's: three step values with finite points,
/// then an epoch loss that is NaN in every epoch (nothing to draw).
fn diverged_history() -> tapegrad::train::History {
    use tapegrad::train::{History, Record};
    let mut h = History::default();
    for step in 0..6 {
        let mut r = Record::new(step / 3, step);
        r.set(
            "loss",
            if step < 4 {
                1.0 / (step + 1) as f64
            } else {
                f64::NAN
            },
        );
        r.set("lr", 0.1);
        r.set("examples_per_sec", 1000.0);
        h.steps.push(r);
    }
    for epoch in 0..2 {
        let mut r = Record::new(epoch, 3 * (epoch + 1));
        r.set("loss", f64::NAN);
        h.epochs.push(r);
    }
    h
}

/// The `.svg` files in `dir` (none if it does not exist), sorted.
fn svg_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".svg"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn plot_of_a_diverged_run_writes_no_chart_at_all() {
    let dir = temp_dir("diverged");
    let out = dir.join("charts");
    match diverged_history().plot(&out) {
        Err(Error::Plot { path, message }) => {
            assert_eq!(path, out.join("epochs_loss.svg"));
            assert!(message.contains("no point can be drawn"), "{message}");
        }
        other => panic!("expected a plot error, got {other:?}"),
    }
    // Before, the three step charts had been written when the epoch chart
    // failed.
    assert_eq!(svg_files(&out), Vec::<String>::new());

    // With one finite epoch loss every chart draws, and all are written.
    let mut h = diverged_history();
    h.epochs[0].set("loss", 0.7);
    let written = h.plot(&out).unwrap();
    let mut names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let want = [
        "epochs_loss.svg",
        "steps_examples_per_sec.svg",
        "steps_loss.svg",
        "steps_lr.svg",
    ];
    // Each chart as SVG and as PNG.
    let mut both: Vec<String> = want
        .iter()
        .flat_map(|n| [n.to_string(), n.replace(".svg", ".png")])
        .collect();
    both.sort();
    assert_eq!(names, both);
    assert_eq!(svg_files(&out), want);
    for p in &written {
        if p.extension().unwrap() == "svg" {
            assert!(std::fs::read_to_string(p).unwrap().starts_with("<svg"));
        } else {
            let (w, h, _) = decode_png(p);
            assert_eq!((w, h), (800, 480), "{}", p.display());
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plot_that_cannot_write_one_chart_removes_those_it_wrote() {
    let dir = temp_dir("unwritable");
    let mut h = diverged_history();
    h.epochs[0].set("loss", 0.7);
    // A directory where the last chart should go: its rename fails.
    std::fs::create_dir_all(dir.join("epochs_loss.svg")).unwrap();
    match h.plot(&dir) {
        Err(Error::Io { path, .. }) => assert_eq!(path, dir.join("epochs_loss.svg")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    // Only the directory in the way is left, no chart and no temporary file.
    let left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["epochs_loss.svg"]);
    assert!(dir.join("epochs_loss.svg").is_dir());
    std::fs::remove_dir_all(&dir).unwrap();
}
