//! Small line charts written as SVG or PNG: learning-rate schedules, loss
//! curves, the LR range test.
//!
//! A [`LineChart`] holds a title, axis labels, any number of named series of
//! `(x, y)` points, optional logarithmic axes and optional vertical markers
//! with labels. [`LineChart::save`] draws it with the
//! [`plotters`](https://docs.rs/plotters) crate and writes an SVG or a PNG
//! file.
//!
//! ```no_run
//! use tapegrad::plot::LineChart;
//!
//! let loss: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 1.0 / (1.0 + i as f64))).collect();
//! LineChart::new("Training loss")
//!     .x_label("step")
//!     .y_label("loss")
//!     .log_y()
//!     .series("train", loss)
//!     .marker(50.0, "lr cut")
//!     .save("loss.svg")?;
//! # Ok::<(), tapegrad::Error>(())
//! ```
//!
//! ## What gets drawn
//! - Points whose coordinates are not finite (a NaN loss), or not positive
//!   on a log axis, are left out, and the line breaks there rather than
//!   joining across the gap.
//! - A series longer than [`MAX_POINTS_PER_SERIES`] is thinned before
//!   drawing: each run of consecutive points is replaced by its lowest and
//!   highest point, in order, so spikes and short cycles stay visible while
//!   the file stays small.
//! - The x axis spans the data (and the markers) exactly; the y axis gets a
//!   small margin. A marker the x axis cannot show (not finite, or not
//!   positive on a log axis) is left out.
//! - The legend lists the series that have a name; long titles are set
//!   smaller, then shortened with an ellipsis.
//!
//! ## SVG and PNG
//! The file name's extension chooses the format ([`Format`]): `.svg` for
//! a vector drawing whose text the viewer sets, `.png` for a bitmap of the
//! chart's size. [`LineChart::save_both`] writes both. Any other extension
//! is an [`Error::Plot`].
//!
//! The bitmap's text is set by plotters' `ab_glyph` renderer with a font
//! compiled into the library (`assets/fonts/DejaVuSans-subset.ttf`, a
//! 36 KB subset of DejaVu Sans under its free licence, see
//! `assets/fonts/README.md`), so no system font is looked up: PNG charts
//! come out the same on a machine with no fonts installed (no freetype,
//! no fontconfig). The SVG's text is measured with the same font.
//!
//! ## Files
//! - `mod.rs`: [`LineChart`], its builder and `save`;
//! - `render.rs`: laying out and drawing on any plotters backend;
//! - `bitmap.rs`: the bundled font and the PNG encoding.

mod bitmap;
mod render;

use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Series longer than this are thinned for drawing (see the module docs).
pub const MAX_POINTS_PER_SERIES: usize = 4000;

/// Line colours, in the order series are added (then repeating).
const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(127, 127, 127),
    RGBColor(0, 0, 128),
    RGBColor(0, 0, 0),
];

/// How an axis maps values to positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scale {
    /// Equal distances for equal differences.
    #[default]
    Linear,
    /// Equal distances for equal ratios; values `<= 0` are not drawn.
    Log,
}

/// A line chart with named series, built step by step and saved as SVG or
/// PNG.
///
/// Every builder method takes and returns the chart by value, so a chart
/// reads as one expression; in a loop, reassign: `chart = chart.series(..)`.
#[derive(Clone, Debug)]
pub struct LineChart {
    title: String,
    x_label: String,
    y_label: String,
    x_scale: Scale,
    y_scale: Scale,
    size: (u32, u32),
    series: Vec<Series>,
    markers: Vec<Marker>,
}

#[derive(Clone, Debug)]
struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

#[derive(Clone, Debug)]
struct Marker {
    x: f64,
    label: String,
}

impl LineChart {
    /// An empty 800 x 480 chart with linear axes and the given title.
    pub fn new(title: impl Into<String>) -> Self {
        LineChart {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            size: (800, 480),
            series: Vec::new(),
            markers: Vec::new(),
        }
    }

    /// Sets the label under the x axis.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// Sets the label beside the y axis.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Sets the scale of the x axis.
    pub fn x_scale(mut self, scale: Scale) -> Self {
        self.x_scale = scale;
        self
    }

    /// Sets the scale of the y axis.
    pub fn y_scale(mut self, scale: Scale) -> Self {
        self.y_scale = scale;
        self
    }

    /// Shorthand for `x_scale(Scale::Log)`.
    pub fn log_x(self) -> Self {
        self.x_scale(Scale::Log)
    }

    /// Shorthand for `y_scale(Scale::Log)`.
    pub fn log_y(self) -> Self {
        self.y_scale(Scale::Log)
    }

    /// Sets the picture size in pixels (default 800 x 480).
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    /// Adds a series of `(x, y)` points, joined in the order given. An empty
    /// name leaves the series out of the legend.
    pub fn series(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.series.push(Series {
            name: name.into(),
            points: points.into_iter().collect(),
        });
        self
    }

    /// Adds a dashed vertical line at `x` with a label near its top (a
    /// suggested learning rate, a restart, a rollback).
    pub fn marker(mut self, x: f64, label: impl Into<String>) -> Self {
        self.markers.push(Marker {
            x,
            label: label.into(),
        });
        self
    }

    /// Draws the chart and writes it to `path`, as SVG or PNG by the
    /// path's extension (`.svg` or `.png`, in any case).
    ///
    /// # Errors
    /// - [`Error::Plot`] if `path` ends in neither, or there is no point
    ///   that can be drawn (all series empty, not finite, or not positive
    ///   on a log axis);
    /// - [`Error::Io`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.encode(path)?;
        std::fs::write(path, bytes).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the chart twice, as `path` with the extension `.svg` and with
    /// `.png` (any extension `path` has is replaced), and returns the two
    /// paths. Both are drawn before either is written.
    ///
    /// # Errors
    /// As [`save`](Self::save).
    pub fn save_both(&self, path: impl AsRef<Path>) -> Result<[PathBuf; 2]> {
        let path = path.as_ref();
        let paths = [path.with_extension("svg"), path.with_extension("png")];
        let files = [self.encode(&paths[0])?, self.encode(&paths[1])?];
        for (path, bytes) in paths.iter().zip(files) {
            std::fs::write(path, bytes).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(paths)
    }

    /// The file [`save`](Self::save) would write to `path` (an SVG document
    /// or a PNG image, by its extension), drawn in memory so that several
    /// charts can be drawn before any is written.
    ///
    /// # Errors
    /// [`Error::Plot`] as for [`save`](Self::save).
    pub(crate) fn encode(&self, path: &Path) -> Result<Vec<u8>> {
        let plot_error = |message: String| Error::Plot {
            path: path.to_path_buf(),
            message,
        };
        match Format::of(path) {
            Some(Format::Svg) => self.render_svg().map(String::into_bytes),
            Some(Format::Png) => self.render_png(),
            None => Err(format!(
                "cannot tell the format from the file name: give it a .svg or a .png \
                 extension (got {:?})",
                path.extension().map(|e| e.to_string_lossy().into_owned())
            )),
        }
        .map_err(plot_error)
    }

    /// Draws the chart into an SVG document held in a string.
    fn render_svg(&self) -> std::result::Result<String, String> {
        bitmap::register_font();
        let layout = self.layout()?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.size).into_drawing_area();
            self.paint(&root, &layout)?;
        }
        Ok(svg)
    }

    /// Draws the chart into an RGB bitmap and encodes it as PNG.
    fn render_png(&self) -> std::result::Result<Vec<u8>, String> {
        bitmap::register_font();
        let layout = self.layout()?;
        let (w, h) = self.size;
        let mut pixels = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
            self.paint(&root, &layout)?;
        }
        bitmap::encode_png(&pixels, w, h)
    }
}

/// The file formats a chart can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Scalable vector graphics: small, sharp at any size, text set by the
    /// viewer.
    Svg,
    /// A PNG bitmap of the chart's size in pixels, text set with the
    /// bundled font.
    Png,
}

impl Format {
    /// The format a path's extension names (`svg` or `png`, in any case).
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("svg") {
            Some(Format::Svg)
        } else if ext.eq_ignore_ascii_case("png") {
            Some(Format::Png)
        } else {
            None
        }
    }
}
