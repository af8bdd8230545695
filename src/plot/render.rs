//! Drawing a [`LineChart`] with plotters on any backend (SVG or bitmap):
//! [`Layout`] works out what can be drawn and the axes' ranges once,
//! [`LineChart::paint`] draws it; the helpers below thin, split and
//! label the data.

use super::{LineChart, MAX_POINTS_PER_SERIES, Marker, PALETTE, Scale};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

/// The drawable part of a chart: each series' runs of drawable points
/// (thinned), the markers the x axis can show, and the axes' ranges.
pub(super) struct Layout<'a> {
    runs: Vec<Vec<Vec<(f64, f64)>>>,
    markers: Vec<&'a Marker>,
    x: (f64, f64),
    y: (f64, f64),
}

impl LineChart {
    /// Works out what can be drawn.
    ///
    /// # Errors
    /// A message if no point of any series can be drawn.
    pub(super) fn layout(&self) -> Result<Layout<'_>, String> {
        let runs: Vec<Vec<Vec<(f64, f64)>>> = self
            .series
            .iter()
            .map(|s| {
                drawable_runs(&s.points, self.x_scale, self.y_scale)
                    .into_iter()
                    .map(|run| thin(&run, MAX_POINTS_PER_SERIES))
                    .collect()
            })
            .collect();
        let xs = runs.iter().flatten().flatten().map(|p| p.0);
        let ys = runs.iter().flatten().flatten().map(|p| p.1);
        let (Some((y_lo, y_hi)), Some((x_lo, x_hi))) = (min_max(ys), min_max(xs)) else {
            return Err(format!(
                "no point can be drawn in the {} series (points must be finite, \
                 and positive on a log axis)",
                self.series.len()
            ));
        };
        let markers: Vec<&Marker> = self
            .markers
            .iter()
            .filter(|m| drawable(m.x, self.x_scale))
            .collect();
        let (x_lo, x_hi) = markers
            .iter()
            .fold((x_lo, x_hi), |(lo, hi), m| (lo.min(m.x), hi.max(m.x)));
        Ok(Layout {
            runs,
            markers,
            x: widen(x_lo, x_hi, self.x_scale, 0.0),
            y: widen(y_lo, y_hi, self.y_scale, 0.05),
        })
    }

    /// Draws the chart laid out as `layout` on `root` (white background,
    /// title, axes, series, markers, legend) and presents it.
    pub(super) fn paint<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        layout: &Layout<'_>,
    ) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (title, title_size) = fit_title(&self.title, self.size.0);
        let mut builder = ChartBuilder::on(root);
        builder
            .caption(title, ("sans-serif", title_size))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(72);
        let parts = Parts {
            runs: &layout.runs,
            markers: &layout.markers,
            y_range: layout.y,
        };
        let (x, y) = (layout.x.0..layout.x.1, layout.y.0..layout.y.1);
        match (self.x_scale, self.y_scale) {
            (Scale::Linear, Scale::Linear) => self.draw(&mut builder, x, y, &parts),
            (Scale::Linear, Scale::Log) => self.draw(&mut builder, x, y.log_scale(), &parts),
            (Scale::Log, Scale::Linear) => self.draw(&mut builder, x.log_scale(), y, &parts),
            (Scale::Log, Scale::Log) => {
                self.draw(&mut builder, x.log_scale(), y.log_scale(), &parts)
            }
        }?;
        root.present().map_err(|e| e.to_string())
    }

    /// Draws mesh, series, markers and legend on axes of any scale.
    fn draw<DB, X, Y>(
        &self,
        builder: &mut ChartBuilder<'_, '_, DB>,
        x: X,
        y: Y,
        parts: &Parts<'_>,
    ) -> std::result::Result<(), String>
    where
        DB: DrawingBackend,
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let err = |e: plotters::drawing::DrawingAreaErrorKind<_>| e.to_string();
        let mut chart = builder.build_cartesian_2d(x, y).map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&|v| format_number(*v))
            .y_label_formatter(&|v| format_number(*v))
            .draw()
            .map_err(err)?;

        let mut named = false;
        for (i, (series, runs)) in self.series.iter().zip(parts.runs).enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            for (j, run) in runs.iter().enumerate() {
                // A lone point has no segment to draw: mark it with a dot.
                let point_size = if run.len() == 1 { 2 } else { 0 };
                let line = LineSeries::new(run.iter().copied(), colour.stroke_width(2))
                    .point_size(point_size);
                let annotation = chart.draw_series(line).map_err(err)?;
                if j == 0 && !series.name.is_empty() {
                    named = true;
                    annotation
                        .label(series.name.as_str())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                        });
                }
            }
        }

        let (y_lo, y_hi) = parts.y_range;
        let grey = RGBColor(90, 90, 90);
        for (k, marker) in parts.markers.iter().enumerate() {
            let line = vec![(marker.x, y_lo), (marker.x, y_hi)];
            chart
                .draw_series(DashedLineSeries::new(line, 6, 4, grey.stroke_width(1)))
                .map_err(err)?;
            // Stagger labels so that markers close together stay readable.
            let offset = 4 + 16 * (k as i32 % 4);
            let label = EmptyElement::at((marker.x, y_hi))
                + Text::new(
                    marker.label.clone(),
                    (4, offset),
                    ("sans-serif", 13).into_font().color(&grey),
                );
            chart.draw_series(std::iter::once(label)).map_err(err)?;
        }

        if named {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
        }
        Ok(())
    }
}

/// What [`LineChart::draw`] needs besides the chart itself.
struct Parts<'a> {
    runs: &'a [Vec<Vec<(f64, f64)>>],
    markers: &'a [&'a Marker],
    y_range: (f64, f64),
}

/// Whether a coordinate can be placed on an axis of this scale.
fn drawable(v: f64, scale: Scale) -> bool {
    v.is_finite() && (scale == Scale::Linear || v > 0.0)
}

/// Splits points into maximal runs of drawable points, so lines break at
/// the points left out.
fn drawable_runs(points: &[(f64, f64)], x: Scale, y: Scale) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for &(px, py) in points {
        if drawable(px, x) && drawable(py, y) {
            run.push((px, py));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Thins `points` to at most about `max_points`: each bucket of consecutive
/// points keeps its lowest and highest point, in their original order.
fn thin(points: &[(f64, f64)], max_points: usize) -> Vec<(f64, f64)> {
    if points.len() <= max_points {
        return points.to_vec();
    }
    let bucket = points.len().div_ceil(max_points / 2);
    let mut out = Vec::with_capacity(max_points + 2);
    for chunk in points.chunks(bucket) {
        let by_y = |a: &&(f64, f64), b: &&(f64, f64)| a.1.total_cmp(&b.1);
        let lo = chunk.iter().min_by(by_y).expect("chunks are non-empty");
        let hi = chunk.iter().max_by(by_y).expect("chunks are non-empty");
        let (first, second) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
        out.push(*first);
        if second != first {
            out.push(*second);
        }
    }
    out
}

/// The smallest and largest value, or `None` for no values.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Widens `lo..hi` by `margin` of its span on each side (as a ratio on a log
/// axis), and opens up an empty range so the axis has a length.
fn widen(lo: f64, hi: f64, scale: Scale, margin: f64) -> (f64, f64) {
    match scale {
        Scale::Linear => {
            if lo == hi {
                let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.5 };
                (lo - d, hi + d)
            } else {
                let d = (hi - lo) * margin;
                (lo - d, hi + d)
            }
        }
        Scale::Log => {
            if lo == hi {
                (lo / 2.0, hi * 2.0)
            } else {
                let r = (hi / lo).powf(margin);
                (lo / r, hi * r)
            }
        }
    }
}

/// Tick labels: plain decimals for moderate magnitudes, scientific otherwise,
/// without trailing zeros (`0.25`, `100`, `1e-5`, `2.5e-4`).
fn format_number(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-3..1e5).contains(&a) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".to_string()
        } else {
            s.to_string()
        }
    } else {
        format!("{v:.1e}").replace(".0e", "e")
    }
}

/// The title and a font size that fit `width` pixels: shrinks the font from
/// 22 down to 11 px, then cuts the title short with an ellipsis. (Text
/// widths are estimated at 0.55 em per character; the viewer draws the text.)
fn fit_title(title: &str, width: u32) -> (String, u32) {
    let chars = title.chars().count();
    let room = width.saturating_sub(24) as f64;
    let size = (room / (0.55 * chars.max(1) as f64))
        .floor()
        .clamp(11.0, 22.0);
    let fits = (room / (0.55 * size)) as usize;
    if chars <= fits {
        (title.to_string(), size as u32)
    } else {
        let cut: String = title.chars().take(fits.saturating_sub(1)).collect();
        (format!("{cut}…"), size as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_break_at_points_that_cannot_be_drawn() {
        let pts = [
            (1.0, 1.0),
            (2.0, f64::NAN),
            (3.0, 3.0),
            (4.0, 0.0),
            (5.0, 5.0),
        ];
        assert_eq!(drawable_runs(&pts, Scale::Linear, Scale::Linear).len(), 2);
        // On a log y axis, y = 0 is also left out: three runs.
        let runs = drawable_runs(&pts, Scale::Linear, Scale::Log);
        assert_eq!(
            runs,
            vec![vec![(1.0, 1.0)], vec![(3.0, 3.0)], vec![(5.0, 5.0)]]
        );
    }

    #[test]
    fn thinning_keeps_extremes_in_order() {
        // A spike at x = 777 in a flat line of 10_000 points must survive.
        let pts: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, if i == 777 { 9.0 } else { 1.0 }))
            .collect();
        let out = thin(&pts, 100);
        assert!(out.len() <= 102);
        assert!(out.contains(&(777.0, 9.0)));
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(100.0), "100");
        assert_eq!(format_number(1e-5), "1e-5");
        assert_eq!(format_number(2.5e-4), "2.5e-4");
    }

    #[test]
    fn long_titles_shrink_then_shorten() {
        assert_eq!(fit_title("Loss", 800), ("Loss".to_string(), 22));
        let (t, size) = fit_title(&"x".repeat(80), 800);
        assert_eq!((t.chars().count(), size), (80, 17));
        let (t, size) = fit_title(&"x".repeat(500), 800);
        assert_eq!(size, 11);
        assert!(t.ends_with('…') && t.chars().count() < 500);
    }

    #[test]
    fn render_contains_title_labels_and_legend() {
        let svg = LineChart::new("Loss & rate")
            .x_label("step")
            .y_label("loss")
            .series("train", [(0.0, 2.0), (1.0, 1.0)])
            .marker(0.5, "cut")
            .render_svg()
            .unwrap();
        for text in ["Loss &amp; rate", "step", "loss", "train", "cut"] {
            assert!(svg.contains(text), "{text} missing");
        }
    }
}
