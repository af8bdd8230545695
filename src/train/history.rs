//! [`History`]: what a run recorded, per step and per epoch, written as CSV
//! or JSON lines and drawn as SVG charts.

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::plot::LineChart;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The numbers recorded for one step or one epoch.
///
/// Values are kept in the order they were recorded; names are those the
/// trainer writes (`loss`, `accuracy`, `lr`, `examples_per_sec`, and for
/// epochs `seconds`, `val_loss`, `val_accuracy`, ...) and those given with
/// [`StepOutput::metric`](super::StepOutput::metric).
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The epoch, from 0.
    pub epoch: usize,
    /// For a step: its index in the run, from 0. For an epoch: the steps
    /// taken when it ended.
    pub step: usize,
    /// `(name, value)` pairs.
    pub values: Vec<(String, f64)>,
}

impl Record {
    /// A record with no values yet.
    pub fn new(epoch: usize, step: usize) -> Self {
        Record {
            epoch,
            step,
            values: Vec::new(),
        }
    }

    /// The value called `name`, if recorded.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
    }

    /// Sets `name` to `value` (replacing an earlier value of that name).
    pub fn set(&mut self, name: impl Into<String>, value: f64) {
        let name = name.into();
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
    }
}

/// Something a callback told the user (a rollback, an early stop, a
/// checkpoint), with when it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The epoch under way.
    pub epoch: usize,
    /// The steps taken by then.
    pub step: usize,
    /// What happened.
    pub message: String,
}

/// Everything a [`Trainer`](super::Trainer) run recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One record per step, in order.
    pub steps: Vec<Record>,
    /// One record per epoch, in order.
    pub epochs: Vec<Record>,
    /// What callbacks reported, in order.
    pub events: Vec<Event>,
}

impl History {
    /// `(step, value)` of every step that recorded `name`.
    pub fn step_series(&self, name: &str) -> Vec<(usize, f64)> {
        series(&self.steps, name, |r| r.step)
    }

    /// `(epoch, value)` of every epoch that recorded `name`.
    pub fn epoch_series(&self, name: &str) -> Vec<(usize, f64)> {
        series(&self.epochs, name, |r| r.epoch)
    }

    /// `name` in the last epoch record, if there is one and it has it.
    pub fn last_epoch(&self, name: &str) -> Option<f64> {
        self.epochs.last().and_then(|r| r.get(name))
    }

    /// Every value name of the epoch records, in first-seen order.
    pub fn epoch_metrics(&self) -> Vec<String> {
        names(&self.epochs)
    }

    /// Writes every step and epoch record as CSV: a header
    /// `kind,epoch,step,NAME,...` with every value name in first-seen
    /// order, then one row per record with `kind` = `step` or `epoch`; a
    /// value a record lacks is an empty field. Numbers are written so that
    /// they read back exactly (`NaN` and `inf` as such). Events are left
    /// out (see [`write_jsonl`](Self::write_jsonl)). The file is written
    /// atomically.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<()> {
        let all: Vec<Record> = self.steps.iter().chain(&self.epochs).cloned().collect();
        let columns = names(&all);
        let mut out = String::from("kind,epoch,step");
        for c in &columns {
            out.push(',');
            out.push_str(c);
        }
        out.push('\n');
        let rows = self
            .steps
            .iter()
            .map(|r| ("step", r))
            .chain(self.epochs.iter().map(|r| ("epoch", r)));
        for (kind, r) in rows {
            let _ = write!(out, "{kind},{},{}", r.epoch, r.step);
            for c in &columns {
                out.push(',');
                if let Some(v) = r.get(c) {
                    let _ = write!(out, "{v}");
                }
            }
            out.push('\n');
        }
        write_atomic(path.as_ref(), out.as_bytes())
    }

    /// Writes one JSON object per line: every step record
    /// (`{"kind":"step","epoch":0,"step":3,"loss":0.52,...}`), then every
    /// epoch record (`"kind":"epoch"`), then every event
    /// (`{"kind":"event","epoch":..,"step":..,"message":".."}`). JSON has
    /// no NaN or infinity: such values are written as `null`. The file is
    /// written atomically.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn write_jsonl(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut out = String::new();
        let rows = self
            .steps
            .iter()
            .map(|r| ("step", r))
            .chain(self.epochs.iter().map(|r| ("epoch", r)));
        for (kind, r) in rows {
            let _ = write!(
                out,
                "{{\"kind\":\"{kind}\",\"epoch\":{},\"step\":{}",
                r.epoch, r.step
            );
            for (name, v) in &r.values {
                let _ = write!(out, ",{}:", json_string(name));
                if v.is_finite() {
                    let _ = write!(out, "{v:?}");
                } else {
                    out.push_str("null");
                }
            }
            out.push_str("}\n");
        }
        for e in &self.events {
            let _ = writeln!(
                out,
                "{{\"kind\":\"event\",\"epoch\":{},\"step\":{},\"message\":{}}}",
                e.epoch,
                e.step,
                json_string(&e.message)
            );
        }
        write_atomic(path.as_ref(), out.as_bytes())
    }

    /// Draws the run as charts in the directory `dir` (created if needed),
    /// each written twice, as SVG and as PNG (see [`crate::plot`]), and
    /// returns the files written:
    /// - `steps_NAME.svg` and `steps_NAME.png`, each step value over steps
    ///   (the learning rate on a log axis), with events (rollbacks) marked;
    /// - `epochs_NAME.svg` and `epochs_NAME.png`, each epoch value over
    ///   epochs, with its validation counterpart (`val_NAME`) in the same
    ///   chart.
    ///
    /// All or nothing: every chart is drawn in memory before any file is
    /// written, so a chart that cannot be drawn (a diverged run whose epoch
    /// losses are all NaN) leaves no file behind; each file is written
    /// atomically, and if one cannot be, those this call already wrote are
    /// removed again.
    ///
    /// # Errors
    /// [`Error::Io`] if the directory or a file cannot be written;
    /// [`Error::Plot`] if nothing was recorded, or a chart has no point
    /// that can be drawn (its file named in the error).
    pub fn plot(&self, dir: impl AsRef<Path>) -> Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        if self.steps.is_empty() && self.epochs.is_empty() {
            return Err(Error::Plot {
                path: dir.to_path_buf(),
                message: "the history is empty".to_string(),
            });
        }
        let charts = self.draw_charts(dir)?;
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut written = Vec::with_capacity(charts.len());
        for (path, bytes) in charts {
            if let Err(e) = write_atomic(&path, &bytes) {
                for done in &written {
                    let _ = std::fs::remove_file(done);
                }
                return Err(e);
            }
            written.push(path);
        }
        Ok(written)
    }

    /// Every chart of [`plot`](Self::plot) as `(file, its bytes)`, drawn
    /// in memory; nothing is written.
    fn draw_charts(&self, dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
        let mut charts = Vec::new();
        let as_f64 = |s: Vec<(usize, f64)>| s.into_iter().map(|(x, y)| (x as f64, y));
        for name in names(&self.steps) {
            let points: Vec<(f64, f64)> = as_f64(self.step_series(&name)).collect();
            let mut chart = LineChart::new(format!("{name} per step"))
                .x_label("step")
                .y_label(name.as_str());
            if name == "lr" && points.iter().all(|p| p.1 > 0.0) {
                chart = chart.log_y();
            }
            chart = chart.series("", points);
            for e in &self.events {
                chart = chart.marker(e.step as f64, short(&e.message));
            }
            let path = dir.join(format!("steps_{}.svg", file_stem(&name)));
            for path in [path.with_extension("svg"), path.with_extension("png")] {
                let bytes = chart.encode(&path)?;
                charts.push((path, bytes));
            }
        }
        for name in names(&self.epochs) {
            if name.starts_with("val_") && self.epoch_metrics().contains(&name[4..].to_string()) {
                continue; // drawn with its training counterpart
            }
            let val = format!("val_{name}");
            let mut chart = LineChart::new(format!("{name} per epoch"))
                .x_label("epoch")
                .y_label(name.as_str())
                .series("train", as_f64(self.epoch_series(&name)));
            let val_points = self.epoch_series(&val);
            if !val_points.is_empty() {
                chart = chart.series("validation", as_f64(val_points));
            }
            let path = dir.join(format!("epochs_{}.svg", file_stem(&name)));
            for path in [path.with_extension("svg"), path.with_extension("png")] {
                let bytes = chart.encode(&path)?;
                charts.push((path, bytes));
            }
        }
        Ok(charts)
    }
}

/// `(key(record), value)` of the records that have `name`.
fn series(records: &[Record], name: &str, key: impl Fn(&Record) -> usize) -> Vec<(usize, f64)> {
    records
        .iter()
        .filter_map(|r| r.get(name).map(|v| (key(r), v)))
        .collect()
}

/// Every value name, in first-seen order.
fn names(records: &[Record]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in records {
        for (n, _) in &r.values {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
    }
    out
}

/// A metric name made safe for a file name.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The first words of a message, for a chart marker.
fn short(message: &str) -> String {
    let mut s: String = message.chars().take(24).collect();
    if message.chars().count() > 24 {
        s.push('…');
    }
    s
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_and_controls() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
    }
}
