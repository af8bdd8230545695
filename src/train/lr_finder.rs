//! [`LrFinder`]: Leslie Smith's learning-rate range test.

use super::ModelSnapshot;
use crate::data::{Batch, DataLoader, Dataset};
use crate::error::{Error, Result};
use crate::nn::Module;
use crate::optim::Optimizer;
use crate::plot::LineChart;
use crate::schedule::{ScheduleError, check};
use crate::tape::{Tape, Var};
use crate::tensor::Float;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::Path;

/// The learning-rate range test (Smith, "Cyclical Learning Rates for
/// Training Neural Networks", 2017, as fastai's `lr_find` runs it): train
/// for up to `steps` steps while the rate grows exponentially from
/// `min_lr` to `max_lr`,
///
/// ```text
/// lr_i = min_lr · (max_lr / min_lr)^(i / (steps − 1)),   i = 0 .. steps−1
/// ```
///
/// smooth the losses with a bias-corrected exponential moving average
///
/// ```text
/// avg_i = β · avg_{i−1} + (1 − β) · loss_i,   smoothed_i = avg_i / (1 − β^(i+1))
/// ```
///
/// and stop early once `smoothed_i > k · min_{j<i} smoothed_j` (or the
/// loss is not finite): past that point the rate is too high. Then it puts
/// everything back: the model's parameters and buffers, the optimiser's
/// state and rate, and the loader's shuffling generator (the test shuffles
/// with its own) are restored bit for bit, so the test leaves no trace.
///
/// Two suggestions come out ([`LrFinderReport`]): the rate where the
/// smoothed loss falls fastest against `log(lr)` (the steepest descent),
/// and a tenth of the rate at the minimum of the smoothed loss.
///
/// ```
/// use tapegrad::data::{DataLoader, TensorDataset};
/// use tapegrad::nn::{Forward, Linear};
/// use tapegrad::optim::{Optimizer, Sgd};
/// use tapegrad::train::LrFinder;
/// use tapegrad::{Module, Tensor};
/// use rand::SeedableRng;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let x = Tensor::<f32>::randn(&[64, 3], &mut rng);
/// let y = x.matmul(&Tensor::from_vec(vec![1.0, -2.0, 0.5], &[3, 1])?);
/// let data = TensorDataset::new(x, y);
/// let mut model = Linear::new(3, 1, &mut rng);
/// let mut opt = Sgd::new(0.01);
/// let mut loader = DataLoader::new(&data, 16).shuffle(0);
/// let before = model.weight.value().clone();
///
/// let report = LrFinder::new(1e-4, 10.0, 80)?.run(&mut model, &mut opt, &mut loader, |m, tape, batch| {
///     let err = m.forward(tape.constant(batch.inputs.clone())) - tape.constant(batch.targets.clone());
///     (err * err).mean()
/// })?;
/// let lr = report.suggestion().expect("a suggestion");
/// assert!(lr > 1e-4 && lr < 10.0);
/// assert_eq!(model.weight.value(), &before); // untouched
/// assert_eq!(opt.lr(), 0.01);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LrFinder {
    min_lr: f64,
    max_lr: f64,
    steps: usize,
    beta: f64,
    diverge: f64,
    seed: u64,
}

impl LrFinder {
    /// A range test from `min_lr` to `max_lr` over `steps` steps, with
    /// fastai's defaults: smoothing β = 0.98, stop at 4 × the minimum.
    ///
    /// # Errors
    /// Rates not finite and > 0, `min_lr >= max_lr`, or fewer than 2 steps.
    pub fn new(min_lr: f64, max_lr: f64, steps: usize) -> Result<Self, ScheduleError> {
        const NAME: &str = "LrFinder";
        check::positive(NAME, "min_lr", min_lr)?;
        check::positive(NAME, "max_lr", max_lr)?;
        if min_lr >= max_lr {
            let reason = format!("({min_lr}) must be below max_lr ({max_lr})");
            return Err(ScheduleError::new(NAME, "min_lr", reason));
        }
        if steps < 2 {
            return Err(ScheduleError::new(
                NAME,
                "steps",
                format!("must be at least 2, got {steps}"),
            ));
        }
        Ok(LrFinder {
            min_lr,
            max_lr,
            steps,
            beta: 0.98,
            diverge: 4.0,
            seed: 0,
        })
    }

    /// The smoothing factor β of the moving average.
    ///
    /// # Panics
    /// Unless `0 <= beta < 1`.
    pub fn smoothing(mut self, beta: f64) -> Self {
        assert!(
            (0.0..1.0).contains(&beta),
            "LrFinder: smoothing {beta} must be in [0, 1)"
        );
        self.beta = beta;
        self
    }

    /// Stops once the smoothed loss exceeds `k` × its minimum so far.
    ///
    /// # Panics
    /// Unless `k > 1`.
    pub fn diverge_factor(mut self, k: f64) -> Self {
        assert!(k > 1.0, "LrFinder: diverge factor {k} must be > 1");
        self.diverge = k;
        self
    }

    /// Seeds the tape of each step (dropout) with `seed + step`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The rate of step `i`.
    pub fn lr_at(&self, i: usize) -> f64 {
        let t = i as f64 / (self.steps - 1) as f64;
        self.min_lr * (self.max_lr / self.min_lr).powf(t)
    }

    /// Runs the test: up to `steps` optimiser steps of `optimizer` on
    /// `model` with batches of `loader` (starting a new pass when one
    /// ends), `loss` recording each batch's loss on a fresh tape. Model,
    /// optimiser and loader are restored afterwards, whatever happened.
    ///
    /// # Errors
    /// Only if restoring the optimiser's state fails, which would be a
    /// bug (the state was taken from the same optimiser and model).
    ///
    /// # Panics
    /// If the loader yields no batch, or the loss is not a scalar.
    pub fn run<T, M, O, D, F>(
        &self,
        model: &mut M,
        optimizer: &mut O,
        loader: &mut DataLoader<'_, T, D>,
        mut loss: F,
    ) -> Result<LrFinderReport>
    where
        T: Float,
        M: Module<T>,
        O: Optimizer<T> + ?Sized,
        D: Dataset<T> + ?Sized,
        F: for<'t> FnMut(&M, &'t Tape<T>, &Batch<T>) -> Var<'t, T>,
    {
        assert!(
            loader.num_batches() > 0,
            "LrFinder::run: the loader yields no batch"
        );
        // What to put back afterwards.
        let snapshot = ModelSnapshot::take(&*model);
        let opt_state = optimizer.state(model);
        let opt_lr = optimizer.lr();
        // A shuffling loader shuffles with the finder's own generator
        // meanwhile, so that its own is handed back unused.
        let detour = loader
            .rng()
            .map(|_| StdRng::seed_from_u64(self.seed ^ 0x4c52_4649_4e44));
        let loader_rng = loader.replace_rng(detour);

        let mut report = LrFinderReport::default();
        let (mut avg, mut best) = (0.0, f64::INFINITY);
        'passes: loop {
            for batch in loader.epoch() {
                let i = report.lrs.len();
                if i == self.steps {
                    break 'passes;
                }
                let lr = self.lr_at(i);
                optimizer.set_lr(lr);
                let tape = Tape::new();
                tape.seed(self.seed.wrapping_add(i as u64));
                let l = loss(model, &tape, &batch);
                let value = l.item().to_f64();
                avg = self.beta * avg + (1.0 - self.beta) * value;
                let smoothed = avg / (1.0 - self.beta.powi(i as i32 + 1));
                report.lrs.push(lr);
                report.losses.push(value);
                report.smoothed.push(smoothed);
                if !smoothed.is_finite() || (i > 0 && smoothed > self.diverge * best) {
                    report.stopped_early = true;
                    break 'passes;
                }
                best = best.min(smoothed);
                super::step::update(model, optimizer, l, None);
            }
        }

        snapshot.restore(model);
        optimizer.load_state(model, &opt_state)?;
        optimizer.set_lr(opt_lr);
        loader.replace_rng(loader_rng);
        report.suggest();
        Ok(report)
    }
}

/// What an [`LrFinder`] run measured and suggests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LrFinderReport {
    /// The rate of each step taken.
    pub lrs: Vec<f64>,
    /// The loss of each step (before its update).
    pub losses: Vec<f64>,
    /// The bias-corrected moving average of the losses.
    pub smoothed: Vec<f64>,
    /// Whether the run stopped because the loss diverged (rather than
    /// reaching `max_lr`). The last point is then the one that diverged.
    pub stopped_early: bool,
    /// The rate where the smoothed loss falls fastest against `log(lr)`.
    pub steepest: Option<f64>,
    /// A tenth of the rate of the lowest smoothed loss.
    pub min_loss_lr: Option<f64>,
}

impl LrFinderReport {
    /// The steepest-descent rate, or else the minimum-loss rate / 10.
    pub fn suggestion(&self) -> Option<f64> {
        self.steepest.or(self.min_loss_lr)
    }

    /// Fills in the two suggestions from the smoothed curve.
    ///
    /// The diverged last point is left out. Like fastai, the first tenth
    /// (at most 10 points) and the last twentieth (at most 5) are left out
    /// of the steepest-descent search, where the average is still settling
    /// or already blowing up. Slopes are central differences in `ln(lr)`
    /// (one-sided at the ends).
    fn suggest(&mut self) {
        let n = self.smoothed.len() - usize::from(self.stopped_early);
        let curve = &self.smoothed[..n];
        if let Some(i) = argmin(curve.iter().copied()) {
            self.min_loss_lr = Some(self.lrs[i] / 10.0);
        }
        let (skip_start, skip_end) = ((n / 10).min(10), (n / 20).min(5));
        if n < skip_start + skip_end + 3 {
            return;
        }
        let x: Vec<f64> = self.lrs[..n].iter().map(|l| l.ln()).collect();
        let slope = |i: usize| {
            let (a, b) = (i.saturating_sub(1), (i + 1).min(n - 1));
            (curve[b] - curve[a]) / (x[b] - x[a])
        };
        let range = skip_start..n - skip_end;
        let slopes = range.clone().map(slope);
        self.steepest = argmin(slopes).map(|k| self.lrs[range.start + k]);
    }

    /// A chart of the smoothed loss against the rate on a log axis, with
    /// the suggestions marked; adjust it or save it.
    pub fn chart(&self) -> LineChart {
        let points = self.lrs.iter().copied().zip(self.smoothed.iter().copied());
        let mut chart = LineChart::new("LR range test")
            .x_label("learning rate")
            .y_label("smoothed loss")
            .log_x()
            .series("smoothed loss", points);
        if let Some(lr) = self.steepest {
            chart = chart.marker(lr, format!("steepest {lr:.2e}"));
        }
        if let Some(lr) = self.min_loss_lr {
            chart = chart.marker(lr, format!("min/10 {lr:.2e}"));
        }
        chart
    }

    /// Draws [`chart`](Self::chart) to `path`, as SVG or PNG by its
    /// extension.
    ///
    /// # Errors
    /// As [`LineChart::save`]: `path` must end in `.svg` or `.png` and be
    /// writable, and some point must be finite.
    pub fn plot(&self, path: impl AsRef<Path>) -> Result<()> {
        if self.lrs.is_empty() {
            return Err(Error::Plot {
                path: path.as_ref().to_path_buf(),
                message: "the range test took no step".to_string(),
            });
        }
        self.chart().save(path)
    }
}

/// Index of the smallest value, ignoring NaN (the first on ties).
fn argmin(values: impl Iterator<Item = f64>) -> Option<usize> {
    values
        .enumerate()
        .filter(|(_, v)| !v.is_nan())
        .fold(None, |acc: Option<(usize, f64)>, (i, v)| match acc {
            Some((_, b)) if b <= v => acc,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}
