//! PNG charts: the file named `.png` is a PNG of the chart's size, not
//! blank, with its lines in the series' colours and its text drawn with
//! the bundled font (no system font is looked up: CI has none).

use super::plot::decode_png;
use std::path::{Path, PathBuf};
use tapegrad::plot::{Format, LineChart};
use tapegrad::schedule::{Cooldown, CooldownShape, LrSchedule, WarmupStableDecay};

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-png-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Pixels that are not pure white.
fn inked(pixels: &[u8]) -> usize {
    pixels
        .chunks(3)
        .filter(|p| p.iter().any(|&c| c != 255))
        .count()
}

/// Pixels within 40 of `rgb` in every channel.
fn near(pixels: &[u8], rgb: [u8; 3]) -> usize {
    pixels
        .chunks(3)
        .filter(|p| p.iter().zip(rgb).all(|(&a, b)| a.abs_diff(b) <= 40))
        .count()
}

/// Pixels that differ between two images of one size, in rows `rows`.
fn differing(a: &[u8], b: &[u8], width: u32, rows: std::ops::Range<u32>) -> usize {
    let row = width as usize * 3;
    let (lo, hi) = (rows.start as usize * row, rows.end as usize * row);
    a[lo..hi]
        .chunks(3)
        .zip(b[lo..hi].chunks(3))
        .filter(|(p, q)| p != q)
        .count()
}

fn chart(title: &str) -> LineChart {
    LineChart::new(title)
        .x_label("step")
        .y_label("loss")
        .size(640, 400)
        .series(
            "train",
            (0..100).map(|i| (i as f64, 1.0 / (1.0 + i as f64))),
        )
        .series(
            "validation",
            (0..100).map(|i| (i as f64, 1.2 / (1.0 + i as f64))),
        )
        .marker(50.0, "lr cut")
}

#[test]
fn png_is_the_charts_size_not_blank_and_drawn_in_its_colours() {
    let dir = temp_dir("size");
    let path = dir.join("loss.PNG");
    chart("Loss per step").save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h, pixels) = decode_png(&path);
    assert_eq!((w, h), (640, 400));
    assert_eq!(pixels.len(), 640 * 400 * 3);
    // Mostly white background, but axes, lines and text are drawn.
    let ink = inked(&pixels);
    let total = 640 * 400;
    assert!(
        ink > total / 100 && ink < total / 2,
        "{ink} of {total} inked"
    );
    // The two series' colours (the palette's first two: blue, red).
    assert!(near(&pixels, [31, 119, 180]) > 200, "no blue line");
    assert!(near(&pixels, [214, 39, 40]) > 200, "no red line");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn png_text_is_set_with_the_bundled_font() {
    let dir = temp_dir("text");
    let (titled, untitled) = (dir.join("titled.png"), dir.join("untitled.png"));
    chart("Loss per step").save(&titled).unwrap();
    chart("").save(&untitled).unwrap();
    let (_, _, a) = decode_png(&titled);
    let (_, _, b) = decode_png(&untitled);
    // The title's glyphs: many pixels of the top band differ, and they are
    // dark (text in black, anti-aliased).
    let in_title = differing(&a, &b, 640, 0..40);
    assert!(in_title > 150, "{in_title} pixels of title");
    let dark = a[..640 * 40 * 3]
        .chunks(3)
        .filter(|p| p.iter().all(|&c| c < 80))
        .count();
    assert!(dark > 50, "{dark} dark pixels in the title band");
    // Tick labels and the axis name are drawn too: the band below the
    // plot area (x tick labels, "step") has ink.
    let bottom = &a[(400 - 56) * 640 * 3..];
    assert!(
        inked(bottom) > 150,
        "{} inked below the axis",
        inked(bottom)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn save_both_writes_svg_and_png_of_one_chart() {
    let dir = temp_dir("both");
    let [svg, png] = chart("both").save_both(dir.join("loss.svg")).unwrap();
    assert_eq!(
        (svg.clone(), png.clone()),
        (dir.join("loss.svg"), dir.join("loss.png"))
    );
    assert!(std::fs::read_to_string(&svg).unwrap().contains("lr cut"));
    assert_eq!(decode_png(&png).0, 640);
    // Extension-less and other extensions are replaced.
    let [svg, png] = chart("both").save_both(dir.join("curve")).unwrap();
    assert!(svg.ends_with("curve.svg") && png.ends_with("curve.png"));
    assert!(Path::new(&png).exists() && Path::new(&svg).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn formats_follow_the_extension() {
    assert_eq!(Format::of(Path::new("a.svg")), Some(Format::Svg));
    assert_eq!(Format::of(Path::new("a/b.Png")), Some(Format::Png));
    assert_eq!(Format::of(Path::new("a.jpeg")), None);
    assert_eq!(Format::of(Path::new("png")), None);
}

#[test]
fn schedules_plot_as_png() {
    let dir = temp_dir("schedule");
    let wsd = WarmupStableDecay::new(0.1, 10)
        .unwrap()
        .with_cooldown(60, Cooldown::new(CooldownShape::Sqrt, 40))
        .unwrap();
    let path = dir.join("wsd.png");
    wsd.plot(100, &path).unwrap();
    let (w, h, pixels) = decode_png(&path);
    assert_eq!((w, h), (800, 480));
    assert!(near(&pixels, [31, 119, 180]) > 300);
    std::fs::remove_dir_all(&dir).unwrap();
}
