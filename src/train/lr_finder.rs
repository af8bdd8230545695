//! [`LrFinder`]: Leslie Smith's learning-rate range test, and the rules
//! ([`SuggestionRule`]) that read a rate off its curve
//! ([`LrFinderReport`]).

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
/// Every [`SuggestionRule`] reads a rate off the smoothed curve (the
/// steepest descent, fastai's valley, a tenth of the minimum); the
/// [`LrFinderReport`] holds all of them, the rule asked for
/// ([`rule`](Self::rule), steepest descent unless set) and the one that
/// gave [`suggestion`](LrFinderReport::suggestion), and its chart marks
/// each.
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
    rule: SuggestionRule,
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
            rule: SuggestionRule::Steepest,
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

    /// The rule [`LrFinderReport::suggestion`] answers with (every rule is
    /// worked out and reported anyway). Default: [`SuggestionRule::Steepest`].
    pub fn rule(mut self, rule: SuggestionRule) -> Self {
        self.rule = rule;
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

        let mut report = LrFinderReport {
            rule: self.rule,
            ..LrFinderReport::default()
        };
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

/// How a rate is read off the smoothed curve of a range test. All rules
/// leave out the last point if it diverged, and the two that look at the
/// curve's shape ([`Steepest`](Self::Steepest), [`Valley`](Self::Valley))
/// also its first tenth (at most 10 points), where the average is still
/// settling, and its last twentieth (at most 5), where it blows up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SuggestionRule {
    /// The rate where the smoothed loss falls fastest against `ln(lr)`:
    /// the most negative slope, central differences
    /// `(L_{i+1} − L_{i−1}) / (ln lr_{i+1} − ln lr_{i−1})` (one-sided at
    /// the ends). Needs at least 3 points besides those left out.
    #[default]
    Steepest,
    /// fastai's `valley` (its default, after ESRI's suggester): the longest
    /// valley is the longest strictly decreasing run of losses, not
    /// necessarily adjacent (`lds_i`, the longest decreasing subsequence
    /// ending at `i`); with `e` the first index of the longest and
    /// `s = e − lds_e` (−1 when the valley starts at the curve's first
    /// point), the rate at index `s + ⌊(e − s)/3⌋ + ⌊(e − s)/3/2⌋` (at
    /// least 0), about half-way down the valley. Indices count from the
    /// first point kept.
    Valley,
    /// A tenth of the rate at the lowest smoothed loss (fastai's
    /// `minimum`; Smith's "an order of magnitude below" the minimum).
    MinimumTenth,
}

impl SuggestionRule {
    /// Every rule, in the order reports and charts list them.
    pub const ALL: [SuggestionRule; 3] = [
        SuggestionRule::Steepest,
        SuggestionRule::Valley,
        SuggestionRule::MinimumTenth,
    ];

    /// A short name: `steepest`, `valley`, `min/10`.
    pub fn name(self) -> &'static str {
        match self {
            SuggestionRule::Steepest => "steepest",
            SuggestionRule::Valley => "valley",
            SuggestionRule::MinimumTenth => "min/10",
        }
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
    /// [`SuggestionRule::Steepest`]'s rate.
    pub steepest: Option<f64>,
    /// [`SuggestionRule::Valley`]'s rate.
    pub valley: Option<f64>,
    /// [`SuggestionRule::MinimumTenth`]'s rate.
    pub min_loss_lr: Option<f64>,
    /// The rule asked for.
    pub rule: SuggestionRule,
    /// The rule that gave [`suggestion`](Self::suggestion): the one asked
    /// for, or if it had no answer (a curve too short for the steepest
    /// descent) the first of minimum/10, steepest, valley that had one
    /// (minimum/10 has one whenever a point can be used); `None` if none
    /// had.
    pub used: Option<SuggestionRule>,
}

impl LrFinderReport {
    /// A report on a curve measured elsewhere (a saved range test, another
    /// library's): the rates, their smoothed losses (also taken as the
    /// raw ones), whether the last point diverged, and the rule to answer
    /// with; every suggestion is worked out.
    ///
    /// # Panics
    /// If `lrs` and `smoothed` differ in length.
    pub fn from_curve(
        lrs: Vec<f64>,
        smoothed: Vec<f64>,
        stopped_early: bool,
        rule: SuggestionRule,
    ) -> Self {
        assert_eq!(
            lrs.len(),
            smoothed.len(),
            "LrFinderReport::from_curve: {} rates but {} losses",
            lrs.len(),
            smoothed.len()
        );
        let mut report = LrFinderReport {
            lrs,
            losses: smoothed.clone(),
            smoothed,
            stopped_early,
            rule,
            ..LrFinderReport::default()
        };
        report.suggest();
        report
    }

    /// The same measurements answering with another rule.
    pub fn with_rule(mut self, rule: SuggestionRule) -> Self {
        self.rule = rule;
        self.suggest();
        self
    }

    /// The rate of the rule that was [`used`](Self::used).
    pub fn suggestion(&self) -> Option<f64> {
        self.used.and_then(|r| self.by(r))
    }

    /// What `rule` suggests, if it has an answer.
    pub fn by(&self, rule: SuggestionRule) -> Option<f64> {
        match rule {
            SuggestionRule::Steepest => self.steepest,
            SuggestionRule::Valley => self.valley,
            SuggestionRule::MinimumTenth => self.min_loss_lr,
        }
    }

    /// Every rule that has an answer, with it, in [`SuggestionRule::ALL`]'s order.
    pub fn all(&self) -> Vec<(SuggestionRule, f64)> {
        SuggestionRule::ALL
            .into_iter()
            .filter_map(|r| self.by(r).map(|lr| (r, lr)))
            .collect()
    }

    /// One line naming every suggestion and the one used:
    /// `steepest 1.2e-3 (used), valley 8.0e-4, min/10 3.1e-3`.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .all()
            .into_iter()
            .map(|(r, lr)| {
                let used = if self.used == Some(r) { " (used)" } else { "" };
                format!("{} {lr:.2e}{used}", r.name())
            })
            .collect();
        if parts.is_empty() {
            "no suggestion (no point of the curve can be used)".to_string()
        } else {
            parts.join(", ")
        }
    }

    /// Fills in every rule's suggestion from the smoothed curve, and which
    /// one is used.
    fn suggest(&mut self) {
        let n = self
            .smoothed
            .len()
            .saturating_sub(usize::from(self.stopped_early));
        let curve = &self.smoothed[..n];
        self.min_loss_lr = argmin(curve.iter().copied()).map(|i| self.lrs[i] / 10.0);
        let (skip_start, skip_end) = ((n / 10).min(10), (n / 20).min(5));
        let window = skip_start..n.saturating_sub(skip_end).max(skip_start);
        self.valley = valley(&curve[window.clone()]).map(|k| self.lrs[window.start + k]);
        self.steepest = None;
        if window.len() >= 3 {
            let x: Vec<f64> = self.lrs[..n].iter().map(|l| l.ln()).collect();
            let slope = |i: usize| {
                let (a, b) = (i.saturating_sub(1), (i + 1).min(n - 1));
                (curve[b] - curve[a]) / (x[b] - x[a])
            };
            let slopes = window.clone().map(slope);
            self.steepest = argmin(slopes).map(|k| self.lrs[window.start + k]);
        }
        use SuggestionRule::{MinimumTenth, Steepest, Valley};
        let order = [self.rule, MinimumTenth, Steepest, Valley];
        self.used = order.into_iter().find(|&r| self.by(r).is_some());
    }

    /// A chart of the smoothed loss against the rate on a log axis, with
    /// every rule's suggestion marked and named (the one used says so);
    /// adjust it or save it.
    pub fn chart(&self) -> LineChart {
        let points = self.lrs.iter().copied().zip(self.smoothed.iter().copied());
        let mut chart = LineChart::new("LR range test")
            .x_label("learning rate")
            .y_label("smoothed loss")
            .log_x()
            .series("smoothed loss", points);
        for (rule, lr) in self.all() {
            let used = if self.used == Some(rule) {
                " (used)"
            } else {
                ""
            };
            chart = chart.marker(lr, format!("{} {lr:.2e}{used}", rule.name()));
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

/// fastai's valley rule on `curve`: the index about half-way down its
/// longest strictly decreasing subsequence (see [`SuggestionRule::Valley`]);
/// `None` for an empty curve. NaN never counts as decreasing. O(n²), for
/// curves of a few hundred points.
fn valley(curve: &[f64]) -> Option<usize> {
    if curve.is_empty() {
        return None;
    }
    // lds[i]: the longest strictly decreasing subsequence ending at i.
    let mut lds = vec![1usize; curve.len()];
    let mut end = 0;
    for i in 1..curve.len() {
        for j in 0..i {
            if curve[i] < curve[j] && lds[i] < lds[j] + 1 {
                lds[i] = lds[j] + 1;
            }
        }
        if lds[i] > lds[end] {
            end = i;
        }
    }
    // As fastai: `start` is one before the valley's first point when the
    // valley begins at the curve's first point (-1).
    let start = end as isize - lds[end] as isize;
    let third = (end as isize - start) as f64 / 3.0;
    let index = start + third as isize + (third / 2.0) as isize;
    Some(index.max(0) as usize)
}
