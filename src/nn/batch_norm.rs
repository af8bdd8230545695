//! [`BatchNorm1d`] and [`BatchNorm2d`]: per-channel normalisation with
//! running statistics.
//!
//! Both share everything but the input shapes they accept: the
//! [`RunningStats`] they keep, the training and evaluation passes, and their
//! builder methods (written once, by `batch_norm_methods!`).

use super::{Forward, Param, with_child_name};
use crate::Module;
use crate::tape::Var;
use crate::tensor::{Float, Tensor};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The running statistics of a batch-norm layer: buffers, not parameters.
///
/// They are not in `named_parameters()` or `num_params()` and no optimiser
/// touches them. The layer's [`Module`] impl visits the mean and variance
/// as [buffers](Module#buffers) named `running_mean` and `running_var`, as
/// in PyTorch's state dict, so [`save_safetensors`](crate::io::save_safetensors)
/// and [`load_safetensors`](crate::io::load_safetensors) keep them with the
/// weights. `num_batches_tracked` is a buffer too, also under PyTorch's name:
/// a scalar tensor holding the count (exact up to 2^24 batches in `f32`,
/// 2^53 in `f64`), saved in safetensors files as an `I64` scalar, as PyTorch
/// writes it, so a PyTorch state dict loads strictly and a tapegrad file
/// loads strictly into PyTorch. It changes no output here: the statistics
/// are always blended with a fixed `momentum` (PyTorch reads the count only
/// for `momentum=None`). A file without it (saved by earlier versions of
/// tapegrad, which did not write it) still loads strictly, keeping the
/// count ([`LoadReport::counters_kept`](crate::nn::LoadReport::counters_kept)).
/// `running_stats()` and `set_running_stats()` read and replace all three
/// at once.
#[derive(Clone, Debug, PartialEq)]
pub struct RunningStats<T: Float = f32> {
    /// Running mean of each channel, `[C]` (starts at zeros).
    pub running_mean: Tensor<T>,
    /// Running unbiased variance of each channel, `[C]` (starts at ones).
    pub running_var: Tensor<T>,
    /// Training batches seen so far.
    pub num_batches_tracked: u64,
}

impl<T: Float> RunningStats<T> {
    fn new(num_features: usize) -> Self {
        RunningStats {
            running_mean: Tensor::zeros(&[num_features]),
            running_var: Tensor::ones(&[num_features]),
            num_batches_tracked: 0,
        }
    }
}

/// What both layers keep besides their parameters.
///
/// `forward` takes `&self` but a training pass must update the statistics,
/// so they sit behind a lock. A `Mutex` rather than a `RefCell` keeps the
/// layer `Sync`, so a model can still be shared between threads (say, to
/// evaluate batches in parallel); the lock is held only to copy or update
/// two small `[C]` tensors.
#[derive(Debug)]
struct Running<T: Float> {
    eps: f64,
    momentum: f64,
    stats: Mutex<RunningStats<T>>,
}

impl<T: Float> Running<T> {
    fn new(num_features: usize) -> Self {
        Running {
            eps: 1e-5,
            momentum: 0.1,
            stats: Mutex::new(RunningStats::new(num_features)),
        }
    }

    /// The statistics; a panic elsewhere while holding the lock cannot leave
    /// them half-written (each update replaces whole tensors), so a poisoned
    /// lock is still good to read.
    fn lock(&self) -> MutexGuard<'_, RunningStats<T>> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn num_features(&self) -> usize {
        self.lock().running_mean.numel()
    }

    /// Training: normalise with the batch's statistics and fold them into
    /// the running ones. Evaluation: normalise with the running ones, as an
    /// affine map per channel through which gradients still reach `x`,
    /// `weight` and `bias`.
    fn forward<'t>(
        &self,
        x: Var<'t, T>,
        weight: Option<&Param<T>>,
        bias: Option<&Param<T>>,
    ) -> Var<'t, T> {
        let tape = x.tape();
        let w = weight.map(|p| tape.param(p));
        let b = bias.map(|p| tape.param(p));
        if tape.is_training() {
            let (y, batch) = x.batch_norm_with_stats(w, b, self.eps);
            let m = T::from_f64(self.momentum);
            let keep = T::ONE - m;
            let mut stats = self.lock();
            let blend = |run: &Tensor<T>, new: &Tensor<T>| {
                run.zip_map(new, "batch_norm", |r, n| keep * r + m * n)
            };
            stats.running_mean = blend(&stats.running_mean, &batch.mean);
            stats.running_var = blend(&stats.running_var, &batch.var);
            stats.num_batches_tracked += 1;
            y
        } else {
            let (mean, var) = {
                let stats = self.lock();
                (stats.running_mean.clone(), stats.running_var.clone())
            };
            let eps = T::from_f64(self.eps);
            let inv_std = tape.constant(var.map(|v| T::ONE / (v + eps).sqrt()));
            let mut per_channel = vec![1; x.ndim()];
            per_channel[1] = mean.numel();
            let scale = match w {
                Some(w) => w * inv_std,
                None => inv_std,
            };
            let y = (x - tape.constant(mean.reshape(&per_channel))) * scale.reshape(&per_channel);
            match b {
                Some(b) => y + b.reshape(&per_channel),
                None => y,
            }
        }
    }
}

impl<T: Float> Clone for Running<T> {
    fn clone(&self) -> Self {
        Running {
            eps: self.eps,
            momentum: self.momentum,
            stats: Mutex::new(self.lock().clone()),
        }
    }
}

/// The constructor and builder methods both layers share.
macro_rules! batch_norm_methods {
    ($name:ident) => {
        impl<T: Float> $name<T> {
            /// A layer over `num_features` channels: `weight` ones, `bias`
            /// zeros, running mean zeros, running variance ones,
            /// `momentum = 0.1`, `eps = 1e-5` (PyTorch's defaults).
            pub fn new(num_features: usize) -> Self {
                $name {
                    weight: Some(Param::new("weight", Tensor::ones(&[num_features]))),
                    bias: Some(Param::new("bias", Tensor::zeros(&[num_features]))),
                    running: Running::new(num_features),
                }
            }

            /// Without the learned scale and shift (PyTorch's `affine=False`).
            pub fn without_affine(mut self) -> Self {
                self.weight = None;
                self.bias = None;
                self
            }

            /// Sets the variance floor `eps`.
            pub fn eps(mut self, eps: f64) -> Self {
                self.running.eps = eps;
                self
            }

            /// Sets the weight of each new batch in the running statistics.
            ///
            /// # Panics
            /// If `momentum` is not in `[0, 1]`.
            pub fn momentum(mut self, momentum: f64) -> Self {
                assert!(
                    (0.0..=1.0).contains(&momentum),
                    concat!(stringify!($name), ": momentum must be in [0, 1]: got {}"),
                    momentum
                );
                self.running.momentum = momentum;
                self
            }

            /// The number of channels `C`.
            pub fn num_features(&self) -> usize {
                self.running.num_features()
            }

            /// A copy of the running statistics (cheap: tensors share storage).
            pub fn running_stats(&self) -> RunningStats<T> {
                self.running.lock().clone()
            }

            /// Replaces the running statistics (when loading a model).
            ///
            /// # Panics
            /// If the mean or variance is not `[C]`.
            pub fn set_running_stats(&mut self, stats: RunningStats<T>) {
                let c = self.num_features();
                assert!(
                    stats.running_mean.shape() == [c] && stats.running_var.shape() == [c],
                    concat!(
                        stringify!($name),
                        ": running statistics must be [{}]: got mean {:?}, var {:?}"
                    ),
                    c,
                    stats.running_mean.shape(),
                    stats.running_var.shape()
                );
                *self.running.lock() = stats;
            }

            /// Back to zeros for the mean, ones for the variance, no batches.
            pub fn reset_running_stats(&mut self) {
                let c = self.num_features();
                *self.running.lock() = RunningStats::new(c);
            }
        }

        /// Parameters `weight` and `bias` (when affine); buffers
        /// `running_mean`, `running_var` and `num_batches_tracked`, PyTorch's
        /// names.
        #[diagnostic::do_not_recommend]
        impl<T: Float> Module<T> for $name<T> {
            fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>)) {
                with_child_name(prefix, "weight", |name| self.weight.visit(name, f));
                with_child_name(prefix, "bias", |name| self.bias.visit(name, f));
            }

            fn visit_mut<'a>(
                &'a mut self,
                prefix: &str,
                f: &mut dyn FnMut(&str, &'a mut Param<T>),
            ) {
                with_child_name(prefix, "weight", |name| self.weight.visit_mut(name, f));
                with_child_name(prefix, "bias", |name| self.bias.visit_mut(name, f));
            }

            fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
                // Copies (sharing storage), so that `f` runs without the
                // lock held and may use this layer itself.
                let (mean, var, count) = {
                    let stats = self.running.lock();
                    (
                        stats.running_mean.clone(),
                        stats.running_var.clone(),
                        count_tensor::<T>(stats.num_batches_tracked),
                    )
                };
                with_child_name(prefix, "running_mean", |name| f(name, &mean));
                with_child_name(prefix, "running_var", |name| f(name, &var));
                with_child_name(prefix, "num_batches_tracked", |name| f(name, &count));
            }

            fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
                // `&mut self`: no one else can hold the lock, so no locking.
                let stats = self
                    .running
                    .stats
                    .get_mut()
                    .unwrap_or_else(PoisonError::into_inner);
                with_child_name(prefix, "running_mean", |name| {
                    f(name, &mut stats.running_mean)
                });
                with_child_name(prefix, "running_var", |name| {
                    f(name, &mut stats.running_var)
                });
                // The count is a `u64` here: `f` sees it as a scalar tensor,
                // written back only if `f` changed it (so that a count past
                // `T`'s exact range is not rounded by a visit that only reads).
                let before = count_tensor::<T>(stats.num_batches_tracked);
                let mut count = before.clone();
                with_child_name(prefix, "num_batches_tracked", |name| f(name, &mut count));
                if count.shape() != before.shape() || count.item() != before.item() {
                    stats.num_batches_tracked = count_from_tensor(&count);
                }
            }
        }
    };
}

/// The batch count as a scalar tensor of `T` (rounded to nearest past
/// `T`'s exact range of integers).
fn count_tensor<T: Float>(n: u64) -> Tensor<T> {
    Tensor::scalar(T::from_f64(n as f64))
}

/// A count back from a buffer: its one value rounded to the nearest whole
/// number, negative or NaN values as 0 (a buffer is replaced only by a
/// tensor of its own shape, `[]`).
fn count_from_tensor<T: Float>(t: &Tensor<T>) -> u64 {
    let v = t.as_slice().first().map_or(0.0, |v| v.to_f64()).round();
    if v > 0.0 { v as u64 } else { 0 }
}

/// Batch normalisation (Ioffe & Szegedy 2015) of `[N, C]` or `[N, C, L]`
/// inputs, as PyTorch's `nn.BatchNorm1d`: for each channel `c`,
///
/// `y = (x - mean_c) / sqrt(var_c + eps) * weight[c] + bias[c]`.
///
/// - Training mode ([`Tape::new`](crate::Tape::new)): `mean_c` and the biased
///   `var_c` are taken over the batch (and length) axes, and the running
///   statistics move towards the batch's: `running = (1 - momentum) *
///   running + momentum * batch`, with the batch's *unbiased* variance, as
///   PyTorch.
/// - Evaluation mode ([`Tape::eval`](crate::Tape::eval)): `mean_c` and
///   `var_c` are the running statistics, and the statistics do not change.
///
/// Shape: unchanged. `weight` and `bias` are `[C]`. Default init matches
/// PyTorch's: `weight` ones, `bias` zeros, running mean zeros, running
/// variance ones; `momentum = 0.1`, `eps = 1e-5`. The running statistics are
/// buffers, not parameters (`running_mean`, `running_var`, `num_batches_tracked`), saved and loaded
/// with the weights: see [`RunningStats`].
///
/// ```
/// use tapegrad::nn::{BatchNorm1d, Forward};
/// use tapegrad::{Tape, tensor};
/// let bn = BatchNorm1d::<f64>::new(1);
/// let tape = Tape::new();
/// // the channel holds {1, 3}: mean 2, biased variance 1, so y = x - 2 (up to eps)
/// let y = bn.forward(tape.constant(tensor![[1.0], [3.0]])).value();
/// assert!((y.get(&[0, 0]) + 1.0).abs() < 1e-4);
/// // the running mean moved a tenth of the way from 0 towards 2
/// assert!((bn.running_stats().running_mean.item() - 0.2).abs() < 1e-12);
/// ```
///
/// # Panics
/// In `forward`, if the input is not `[N, C]` or `[N, C, L]` with `C` the
/// layer's channel count, or, in training, a channel has only one value
/// (its variance is undefined, as in PyTorch).
#[derive(Clone, Debug)]
pub struct BatchNorm1d<T: Float = f32> {
    /// Scale `[C]` (absent without an affine part).
    pub weight: Option<Param<T>>,
    /// Shift `[C]`.
    pub bias: Option<Param<T>>,
    running: Running<T>,
}

batch_norm_methods!(BatchNorm1d);

impl<T: Float> Forward<T> for BatchNorm1d<T> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (dims, c) = (x.shape(), self.num_features());
        assert!(
            (dims.len() == 2 || dims.len() == 3) && dims[1] == c,
            "BatchNorm1d: input must be [N, {c}] or [N, {c}, L]: got {dims:?}"
        );
        self.running
            .forward(x, self.weight.as_ref(), self.bias.as_ref())
    }
}

/// Batch normalisation of `[N, C, H, W]` inputs, as PyTorch's
/// `nn.BatchNorm2d`: as [`BatchNorm1d`], with each channel's statistics
/// taken over the batch and both spatial axes.
///
/// Shape: unchanged. Default init matches PyTorch's, as [`BatchNorm1d`]'s.
///
/// # Panics
/// In `forward`, if the input is not `[N, C, H, W]` with `C` the layer's
/// channel count, or, in training, a channel has only one value.
#[derive(Clone, Debug)]
pub struct BatchNorm2d<T: Float = f32> {
    /// Scale `[C]` (absent without an affine part).
    pub weight: Option<Param<T>>,
    /// Shift `[C]`.
    pub bias: Option<Param<T>>,
    running: Running<T>,
}

batch_norm_methods!(BatchNorm2d);

impl<T: Float> Forward<T> for BatchNorm2d<T> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        let (dims, c) = (x.shape(), self.num_features());
        assert!(
            dims.len() == 4 && dims[1] == c,
            "BatchNorm2d: input must be [N, {c}, H, W]: got {dims:?}"
        );
        self.running
            .forward(x, self.weight.as_ref(), self.bias.as_ref())
    }
}
