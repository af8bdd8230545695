//! How a run shows itself: an `indicatif` progress bar on a terminal, plain
//! log lines otherwise, or nothing.

use super::history::{Event, Record};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// How the trainer shows progress (on standard error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Progress {
    /// A bar when standard error is a terminal, log lines otherwise (the
    /// default).
    #[default]
    Auto,
    /// A progress bar per epoch: epoch, loss, learning rate, examples per
    /// second and the time left; a summary line when the epoch ends.
    Bar,
    /// One line per epoch (and one per event), for logs and CI.
    Lines,
    /// Nothing (events are still recorded in the history).
    Quiet,
}

/// The trainer's side of progress: draws, prints and collects events.
pub(crate) struct Reporter {
    mode: Progress,
    epochs: usize,
    bar: Option<ProgressBar>,
    pub(crate) events: Vec<Event>,
}

impl Reporter {
    /// A reporter for a run of `epochs` epochs; `Auto` is decided here.
    pub(crate) fn new(mode: Progress, epochs: usize) -> Self {
        let mode = match mode {
            Progress::Auto if std::io::stderr().is_terminal() => Progress::Bar,
            Progress::Auto => Progress::Lines,
            m => m,
        };
        Reporter {
            mode,
            epochs,
            bar: None,
            events: Vec::new(),
        }
    }

    /// An epoch of `batches` batches begins.
    pub(crate) fn start_epoch(&mut self, epoch: usize, batches: usize) {
        if self.mode != Progress::Bar {
            return;
        }
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}]",
        )
        .expect("tapegrad bug: progress template")
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_prefix(format!("epoch {}/{}", epoch + 1, self.epochs));
        self.bar = Some(bar);
    }

    /// A step ended.
    pub(crate) fn step(&mut self, loss: f64, lr: f64, examples_per_sec: f64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "loss {loss:.4}  lr {lr:.3e}  {examples_per_sec:.0} ex/s"
            ));
            bar.inc(1);
        }
    }

    /// An epoch ended with this record.
    pub(crate) fn end_epoch(&mut self, record: &Record) {
        let line = summary(record, self.epochs);
        match self.mode {
            Progress::Bar => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                eprintln!("{line}");
            }
            Progress::Lines => eprintln!("{line}"),
            _ => {}
        }
    }

    /// A callback reports something.
    pub(crate) fn event(&mut self, epoch: usize, step: usize, message: String) {
        let line = format!("[step {step}] {message}");
        match (&self.bar, self.mode) {
            (Some(bar), _) => bar.println(line),
            (None, Progress::Bar | Progress::Lines) => eprintln!("{line}"),
            _ => {}
        }
        self.events.push(Event {
            epoch,
            step,
            message,
        });
    }

    /// The run ended (or failed): clears a bar left on screen.
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// `epoch 3/10  loss 0.4213  accuracy 91.2%  val_loss 0.5  lr 1.00e-3  ...`
fn summary(record: &Record, epochs: usize) -> String {
    let mut line = format!("epoch {}/{}", record.epoch + 1, epochs);
    for (name, v) in &record.values {
        let shown = if name.ends_with("accuracy") {
            format!("{:.1}%", 100.0 * v)
        } else if name == "lr" {
            format!("{v:.3e}")
        } else if name == "examples_per_sec" {
            format!("{v:.0}")
        } else if name == "seconds" {
            format!("{v:.2}")
        } else {
            format!("{v:.4}")
        };
        line.push_str(&format!("  {name} {shown}"));
    }
    line
}
