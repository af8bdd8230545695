//! Loss functions with a choice of [`Reduction`], and L1 / L2 penalties on a
//! model's parameters.
//!
//! Each loss is built from differentiable ops: the fused, numerically stable
//! ones ([`Var::cross_entropy`], [`Var::mse_loss`],
//! [`Var::binary_cross_entropy_with_logits`], [`Var::log_softmax`]) where
//! they fit, compositions of primitives otherwise. No loss here has a
//! backward rule of its own: every gradient is the chain rule through those
//! ops, so each derivative quoted below is what the tape computes.
//!
//! Semantics follow PyTorch's `torch.nn.functional` of the same name
//! (defaults included: mean reduction, `delta = beta = 1`), so numbers move
//! between the two.
//!
//! ```
//! use tapegrad::nn::loss::{self, CrossEntropyOptions, Reduction};
//! use tapegrad::{Tape, Tensor};
//!
//! let tape = Tape::<f64>::new();
//! let logits = tape.var(Tensor::zeros(&[2, 4]));
//! let opts = CrossEntropyOptions::default().label_smoothing(0.1);
//! // uniform logits: every class has log-probability -ln 4, whatever the mix
//! let l = loss::cross_entropy(logits, &[0, 3], &opts);
//! assert!((l.item() - 4f64.ln()).abs() < 1e-12);
//! let per_sample = loss::cross_entropy(logits, &[0, 3], &opts.reduction(Reduction::None));
//! assert_eq!(per_sample.shape().as_slice(), &[2]);
//! ```

use crate::tape::Var;
use crate::tensor::shape::{assert_same_shape, broadcast_shapes};
use crate::tensor::{Float, Tensor};

mod penalty;

pub use penalty::{l1_penalty, l1_penalty_where, l2_penalty, l2_penalty_where, not_bias};

/// How a loss combines its per-element (or per-sample) values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// No reduction: one loss per element (per sample for class losses).
    None,
    /// The mean (the default). Losses with class weights divide by the sum
    /// of the weights of the targets instead of the count.
    #[default]
    Mean,
    /// The sum.
    Sum,
}

impl Reduction {
    /// Reduces a var of losses: itself, its mean or its sum. Useful for
    /// writing a loss of your own with the same `reduction` argument.
    ///
    /// Derivative: 1 (`None`, `Sum`) or `1 / n` (`Mean`) for every element.
    pub fn apply<'t, T: Float>(self, losses: Var<'t, T>) -> Var<'t, T> {
        match self {
            Reduction::None => losses,
            Reduction::Mean => losses.mean(),
            Reduction::Sum => losses.sum(),
        }
    }
}

/// The reduction of [`kl_div`]: the three of [`Reduction`] and `BatchMean`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KlReduction {
    /// One term per element.
    None,
    /// The mean over all elements (PyTorch's default, which is not the
    /// KL divergence per sample: it also divides by the number of classes).
    Mean,
    /// The sum over all elements.
    Sum,
    /// The sum divided by the batch size (the size of the first axis): the
    /// KL divergence per sample, as the maths defines it.
    BatchMean,
}

impl From<Reduction> for KlReduction {
    fn from(r: Reduction) -> Self {
        match r {
            Reduction::None => KlReduction::None,
            Reduction::Mean => KlReduction::Mean,
            Reduction::Sum => KlReduction::Sum,
        }
    }
}

/// Options of [`cross_entropy`]; `default()` is PyTorch's: mean, no label
/// smoothing, no class weights. Set fields directly or chain the builder
/// methods of the same names.
#[derive(Clone, Debug)]
pub struct CrossEntropyOptions<T: Float = f32> {
    /// How the per-sample losses are combined.
    pub reduction: Reduction,
    /// `eps` in `[0, 1]`: the target distribution is `1 - eps` on the
    /// target class plus `eps / C` on every class.
    pub label_smoothing: f64,
    /// One weight per class, shape `[C]`: each sample's loss is scaled by
    /// its target's weight and the mean divides by their sum.
    pub weight: Option<Tensor<T>>,
}

impl<T: Float> Default for CrossEntropyOptions<T> {
    fn default() -> Self {
        CrossEntropyOptions {
            reduction: Reduction::Mean,
            label_smoothing: 0.0,
            weight: None,
        }
    }
}

impl<T: Float> CrossEntropyOptions<T> {
    /// With this reduction.
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// With label smoothing `eps` (in `[0, 1]`).
    pub fn label_smoothing(mut self, eps: f64) -> Self {
        self.label_smoothing = eps;
        self
    }

    /// With class weights (shape `[C]`).
    pub fn weight(mut self, weight: Tensor<T>) -> Self {
        self.weight = Some(weight);
        self
    }
}

/// Options of [`binary_cross_entropy_with_logits`]; `default()` is mean
/// reduction and no `pos_weight`.
#[derive(Clone, Debug)]
pub struct BceWithLogitsOptions<T: Float = f32> {
    /// How the per-element losses are combined.
    pub reduction: Reduction,
    /// The weight `p` of positive examples, broadcast against the target
    /// (typically one per class, shape `[C]`): `p > 1` trades precision for
    /// recall.
    pub pos_weight: Option<Tensor<T>>,
}

impl<T: Float> Default for BceWithLogitsOptions<T> {
    fn default() -> Self {
        BceWithLogitsOptions {
            reduction: Reduction::Mean,
            pos_weight: None,
        }
    }
}

impl<T: Float> BceWithLogitsOptions<T> {
    /// With this reduction.
    pub fn reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// With a weight for positive examples (broadcast against the target).
    pub fn pos_weight(mut self, pos_weight: Tensor<T>) -> Self {
        self.pos_weight = Some(pos_weight);
        self
    }
}

/// `[N, C]` from the input of a class loss, after checking the targets.
fn check_class_targets(op: &str, what: &str, dims: &[usize], targets: &[usize]) -> (usize, usize) {
    assert!(dims.len() == 2, "{op}: {what} must be [N, C]: got {dims:?}");
    let (n, c) = (dims[0], dims[1]);
    assert!(
        targets.len() == n,
        "{op}: {} targets for {what} of shape {dims:?}",
        targets.len()
    );
    if let Some(&t) = targets.iter().find(|&&t| t >= c) {
        panic!("{op}: target {t} is out of range for {what} of shape {dims:?} (classes 0..{c})");
    }
    (n, c)
}

fn check_class_weight<T: Float>(op: &str, weight: Option<&Tensor<T>>, c: usize) {
    if let Some(w) = weight {
        assert!(
            w.shape() == [c],
            "{op}: class weights must have shape [C] = [{c}]: got {:?}",
            w.shape()
        );
    }
}

/// Per sample `-w[t_i] * logp[i, t_i]` (`w = 1` without weights) and the
/// mean's divisor (the count, or the sum of the targets' weights).
fn picked_nll<'t, T: Float>(
    logp: Var<'t, T>,
    targets: &[usize],
    weight: Option<&Tensor<T>>,
) -> (Var<'t, T>, T) {
    let n = targets.len();
    let picked = -logp.gather(1, targets, &[n, 1]).reshape(&[n]);
    match weight {
        None => (picked, T::from_usize(n)),
        Some(w) => {
            let wt: Vec<T> = targets.iter().map(|&t| w.as_slice()[t]).collect();
            let total = wt.iter().fold(T::ZERO, |a, &b| a + b);
            let wt = Tensor::from_parts([n].as_slice().into(), wt);
            (picked * logp.tape().constant(wt), total)
        }
    }
}

/// Reduces per-sample class losses; the mean divides by `divisor`.
fn reduce_by<'t, T: Float>(losses: Var<'t, T>, reduction: Reduction, divisor: T) -> Var<'t, T> {
    match reduction {
        Reduction::Mean => losses.sum() * (T::ONE / divisor),
        r => r.apply(losses),
    }
}

/// Cross-entropy of `logits` (`[N, C]`) against class indices `targets`
/// (`N` of them, each below `C`), as PyTorch's `cross_entropy`.
///
/// With `logp = log_softmax(logits)`, class weights `w` (all 1 if none) and
/// label smoothing `eps`, sample `i` with target `t` loses
/// `(1 - eps) * (-w[t] logp[i, t]) + (eps / C) * (-sum_c w[c] logp[i, c])`.
/// `Mean` divides the sum of these by `sum_i w[t_i]` (`N` without
/// weights), `Sum` adds them, `None` returns the `N` of them.
///
/// Derivative (through log-softmax), for unit weights:
/// `d/dlogits[i, c] = softmax[i, c] - q[i, c]` with `q = (1 - eps) onehot + eps / C`,
/// divided by `N` for the mean. Without weights or smoothing, `Mean` and
/// `Sum` use the fused [`Var::cross_entropy`] (one node, one stable pass).
/// For a sequence `[B, T, C]`, reshape to `[B * T, C]` first.
///
/// # Panics
/// If the logits are not 2-d, `targets.len() != N`, a target is `>= C`, the
/// weights are not shape `[C]`, or `label_smoothing` is outside `[0, 1]`.
///
/// ```
/// use tapegrad::nn::loss::{self, CrossEntropyOptions};
/// use tapegrad::{Tape, tensor};
///
/// let tape = Tape::<f64>::new();
/// let logits = tape.var(tensor![[0.0, 0.0], [0.0, 0.0]]);
/// // class 1 weighs 3: the weighted mean (3 ln 2 + ln 2) / (3 + 1) is still ln 2
/// let opts = CrossEntropyOptions::default().weight(tensor![1.0, 3.0]);
/// let l = loss::cross_entropy(logits, &[1, 0], &opts);
/// assert!((l.item() - 2f64.ln()).abs() < 1e-12);
/// ```
pub fn cross_entropy<'t, T: Float>(
    logits: Var<'t, T>,
    targets: &[usize],
    opts: &CrossEntropyOptions<T>,
) -> Var<'t, T> {
    let op = "cross_entropy";
    let (n, c) = check_class_targets(op, "logits", &logits.shape(), targets);
    let eps = opts.label_smoothing;
    assert!(
        (0.0..=1.0).contains(&eps),
        "{op}: label_smoothing must be in [0, 1]: got {eps}"
    );
    let weight = opts.weight.as_ref();
    check_class_weight(op, weight, c);
    if weight.is_none() && eps == 0.0 && n > 0 {
        match opts.reduction {
            Reduction::Mean => return logits.cross_entropy(targets),
            Reduction::Sum => return logits.cross_entropy(targets) * T::from_usize(n),
            Reduction::None => {}
        }
    }
    let logp = logits.log_softmax(-1);
    let (nll, divisor) = picked_nll(logp, targets, weight);
    let losses = if eps == 0.0 {
        nll
    } else {
        let weighted = match weight {
            Some(w) => logp * logits.tape().constant(w.clone()),
            None => logp,
        };
        let smooth = -weighted.sum_axes(&[-1], false);
        nll * T::from_f64(1.0 - eps) + smooth * T::from_f64(eps / c as f64)
    };
    reduce_by(losses, opts.reduction, divisor)
}

/// Negative log-likelihood of log-probabilities `log_probs` (`[N, C]`,
/// e.g. from [`Var::log_softmax`]) at class indices `targets`, as PyTorch's
/// `nll_loss`: sample `i` loses `-w[t_i] * log_probs[i, t_i]`, with class
/// weights `w` (all 1 if `None`); `Mean` divides by `sum_i w[t_i]`.
///
/// Derivative: `-w[t_i]` at each sample's target (divided by the divisor
/// for the mean), 0 elsewhere.
///
/// # Panics
/// If the input is not 2-d, `targets.len() != N`, a target is `>= C`, or the
/// weights are not shape `[C]`.
pub fn nll_loss<'t, T: Float>(
    log_probs: Var<'t, T>,
    targets: &[usize],
    weight: Option<&Tensor<T>>,
    reduction: Reduction,
) -> Var<'t, T> {
    let op = "nll_loss";
    let (_, c) = check_class_targets(op, "log-probabilities", &log_probs.shape(), targets);
    check_class_weight(op, weight, c);
    let (nll, divisor) = picked_nll(log_probs, targets, weight);
    reduce_by(nll, reduction, divisor)
}

/// Squared error `(x - y)^2` per element, reduced. Derivatives:
/// `2 (x - y)` for `input`, the negation for `target` (divided by the
/// element count for the mean). `Mean` is the fused [`Var::mse_loss`].
///
/// # Panics
/// If the shapes differ.
pub fn mse_loss<'t, T: Float>(
    input: Var<'t, T>,
    target: Var<'t, T>,
    reduction: Reduction,
) -> Var<'t, T> {
    let dims = input.shape();
    assert_same_shape("mse_loss", &dims, &target.shape());
    let n: usize = dims.iter().product();
    match reduction {
        Reduction::Mean => input.mse_loss(target),
        Reduction::Sum if n > 0 => input.mse_loss(target) * T::from_usize(n),
        r => r.apply((input - target).square()),
    }
}

/// Absolute error `|x - y|` per element, reduced. Derivative: `sign(x - y)`
/// for `input` (0 where equal), the negation for `target`.
///
/// # Panics
/// If the shapes differ.
pub fn l1_loss<'t, T: Float>(
    input: Var<'t, T>,
    target: Var<'t, T>,
    reduction: Reduction,
) -> Var<'t, T> {
    assert_same_shape("l1_loss", &input.shape(), &target.shape());
    reduction.apply((input - target).abs())
}

/// Huber loss with threshold `delta > 0` (PyTorch's `huber_loss`): with
/// `d = x - y`, `0.5 d^2` where `|d| < delta`, else
/// `delta (|d| - 0.5 delta)`: quadratic near zero, linear beyond, so
/// outliers pull with a bounded force.
///
/// Computed as `0.5 m^2 + delta (|d| - m)` with `m = min(|d|, delta)`,
/// which is the same function without a branch. Derivative for `input`:
/// `d` inside, `delta sign(d)` outside (the two agree at `|d| = delta`);
/// the negation for `target`.
///
/// # Panics
/// If the shapes differ or `delta <= 0`.
pub fn huber_loss<'t, T: Float>(
    input: Var<'t, T>,
    target: Var<'t, T>,
    delta: f64,
    reduction: Reduction,
) -> Var<'t, T> {
    assert_same_shape("huber_loss", &input.shape(), &target.shape());
    assert!(
        delta > 0.0,
        "huber_loss: delta must be positive: got {delta}"
    );
    let a = (input - target).abs();
    let m = a.minimum(delta);
    reduction.apply(m.square() * T::from_f64(0.5) + (a - m) * T::from_f64(delta))
}

/// Smooth L1 loss with threshold `beta >= 0` (PyTorch's `smooth_l1_loss`):
/// with `d = x - y`, `0.5 d^2 / beta` where `|d| < beta`, else
/// `|d| - 0.5 beta`; it is the Huber loss divided by `beta`, and `beta = 0`
/// gives the L1 loss.
///
/// Derivative for `input`: `d / beta` inside, `sign(d)` outside; the
/// negation for `target`.
///
/// # Panics
/// If the shapes differ or `beta < 0`.
pub fn smooth_l1_loss<'t, T: Float>(
    input: Var<'t, T>,
    target: Var<'t, T>,
    beta: f64,
    reduction: Reduction,
) -> Var<'t, T> {
    assert_same_shape("smooth_l1_loss", &input.shape(), &target.shape());
    assert!(
        beta >= 0.0,
        "smooth_l1_loss: beta must not be negative: got {beta}"
    );
    let a = (input - target).abs();
    if beta == 0.0 {
        return reduction.apply(a);
    }
    let m = a.minimum(beta);
    reduction.apply(m.square() * T::from_f64(0.5 / beta) + (a - m))
}

/// Binary cross-entropy of logits `x` against targets `y` in `[0, 1]` (same
/// shape), as PyTorch's `binary_cross_entropy_with_logits`: per element
/// `-(p y ln s(x) + (1 - y) ln(1 - s(x)))`, `s` the sigmoid and `p` the
/// optional `pos_weight` (1 if none).
///
/// Computed as `p y softplus(-x) + (1 - y) softplus(x)` (stable for any
/// `x`); without `pos_weight`, `Mean` and `Sum` use the fused op.
/// Derivatives: `(1 - y) s(x) - p y (1 - s(x))` for the logits (`s(x) - y`
/// when `p = 1`) and `p softplus(-x) - softplus(x)` for the target (`-x`
/// when `p = 1`).
///
/// # Panics
/// If the shapes differ, or `pos_weight` does not broadcast to the
/// target's shape.
pub fn binary_cross_entropy_with_logits<'t, T: Float>(
    logits: Var<'t, T>,
    target: Var<'t, T>,
    opts: &BceWithLogitsOptions<T>,
) -> Var<'t, T> {
    let op = "binary_cross_entropy_with_logits";
    let dims = logits.shape();
    assert_same_shape(op, &dims, &target.shape());
    let n: usize = dims.iter().product();
    let Some(p) = &opts.pos_weight else {
        return match opts.reduction {
            Reduction::Mean => logits.binary_cross_entropy_with_logits(target),
            Reduction::Sum if n > 0 => {
                logits.binary_cross_entropy_with_logits(target) * T::from_usize(n)
            }
            r => r.apply((-target + T::ONE) * logits.softplus() + target * (-logits).softplus()),
        };
    };
    assert!(
        broadcast_shapes(op, p.shape(), &dims).as_slice() == dims.as_slice(),
        "{op}: pos_weight of shape {:?} does not broadcast to the target's shape {dims:?}",
        p.shape()
    );
    let p = logits.tape().constant(p.clone());
    let losses = (-target + T::ONE) * logits.softplus() + p * target * (-logits).softplus();
    opts.reduction.apply(losses)
}

/// Hinge (max-margin) loss of scores against labels `y` in `{-1, +1}` (same
/// shape): `max(0, 1 - y * score)` per element, the loss of micrograd's
/// demo (a linear SVM's), reduced; with `Mean` it is
/// `mean(relu(1 - y * score))`.
///
/// Derivative for the scores: `-y` where the margin is violated
/// (`y * score < 1`), 0 elsewhere.
///
/// # Panics
/// If the shapes differ or a label is neither -1 nor +1.
///
/// ```
/// use tapegrad::nn::loss::{self, Reduction};
/// use tapegrad::{Tape, tensor};
///
/// let tape = Tape::<f64>::new();
/// let scores = tape.var(tensor![2.0, 0.5, 0.25]);
/// let labels = tape.constant(tensor![1.0, 1.0, -1.0]);
/// // margins 1 - 2 < 0, 1 - 0.5, 1 + 0.25: (0 + 0.5 + 1.25) / 3
/// let l = loss::hinge_loss(scores, labels, Reduction::Mean);
/// assert!((l.item() - 1.75 / 3.0).abs() < 1e-15);
/// ```
pub fn hinge_loss<'t, T: Float>(
    scores: Var<'t, T>,
    labels: Var<'t, T>,
    reduction: Reduction,
) -> Var<'t, T> {
    assert_same_shape("hinge_loss", &scores.shape(), &labels.shape());
    let y = labels.value();
    if let Some((i, v)) = y
        .as_slice()
        .iter()
        .enumerate()
        .find(|&(_, &v)| v != T::ONE && v != -T::ONE)
    {
        panic!(
            "hinge_loss: labels must be -1 or +1: found {} at flat index {i} of shape {:?}",
            v.to_f64(),
            y.shape()
        );
    }
    reduction.apply((-(labels * scores) + T::ONE).relu())
}

/// Kullback-Leibler divergence as PyTorch's `kl_div`: `input` holds
/// log-probabilities `ln q`, `target` probabilities `p` (same shape), and
/// each element is `p (ln p - ln q)`, taken as 0 where `p = 0` (as
/// `xlogy`). Summed over the classes this is `KL(p || q)`; use
/// [`KlReduction::BatchMean`] for its mean over a batch.
///
/// Derivatives: `-p` for `input`; `ln p + 1 - ln q` for `target` where
/// `p != 0`.
///
/// # Panics
/// If the shapes differ.
///
/// ```
/// use tapegrad::nn::loss::{self, KlReduction};
/// use tapegrad::{Tape, tensor};
///
/// let tape = Tape::<f64>::new();
/// let q = tape.var(tensor![[0.5, 0.5]]).ln();
/// let p = tape.constant(tensor![[1.0, 0.0]]);
/// // KL([1, 0] || [1/2, 1/2]) = 1 ln(1 / (1/2)) + 0 = ln 2
/// let kl = loss::kl_div(q, p, KlReduction::BatchMean);
/// assert!((kl.item() - 2f64.ln()).abs() < 1e-15);
/// ```
pub fn kl_div<'t, T: Float>(
    input: Var<'t, T>,
    target: Var<'t, T>,
    reduction: KlReduction,
) -> Var<'t, T> {
    let dims = input.shape();
    assert_same_shape("kl_div", &dims, &target.shape());
    // ln p where p != 0, ln 1 = 0 where p = 0, so 0 * ln 0 never happens.
    let one = input.tape().constant(Tensor::scalar(T::ONE));
    let safe = target.ne(0.0).where_(target, one);
    let terms = target * (safe.ln() - input);
    match reduction {
        KlReduction::None => terms,
        KlReduction::Mean => terms.mean(),
        KlReduction::Sum => terms.sum(),
        KlReduction::BatchMean => {
            let batch = dims.first().copied().unwrap_or(1);
            terms.sum() * (T::ONE / T::from_usize(batch))
        }
    }
}
