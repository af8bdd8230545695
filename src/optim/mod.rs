//! Optimisers: how gradients become parameter updates, and gradient
//! clipping.
//!
//! Every optimiser implements [`Optimizer`]: [`step`](Optimizer::step)
//! updates a [`Module`]'s parameters in place from [`Grads`], and the
//! learning rate is read and set with [`lr`](Optimizer::lr) and
//! [`set_lr`](Optimizer::set_lr) (an [`LrSchedule`](crate::schedule::LrSchedule)
//! sets it each step).
//!
//! ```
//! use tapegrad::optim::{Adam, Optimizer};
//! use tapegrad::{Module, Param, Tape, Tensor, tensor};
//!
//! // fit w so that w . x = 3 for x = (1, 2)
//! let mut w = Param::new("w", tensor![0.0f32, 0.0]);
//! let mut opt = Adam::new(0.1);
//! let tape = Tape::new();
//! for _ in 0..200 {
//!     let x = tape.constant(tensor![1.0, 2.0]);
//!     let err = (tape.param(&w) * x).sum() - 3.0;
//!     // The tape is reset before the step, so the step writes in place.
//!     let grads = (err * err).backward_and_reset();
//!     opt.step(&mut w, &grads);
//! }
//! let v = w.value();
//! assert!((v.get(&[0]) + 2.0 * v.get(&[1]) - 3.0).abs() < 1e-3);
//! ```
//!
//! The order matters: the tape shares the parameters' storage, so a step
//! taken while it still holds them copies each parameter it writes. Reset
//! (or drop) the tape first: [`Var::backward_and_reset`](crate::Var::backward_and_reset)
//! does both at once, and [`train::step`](crate::train::step) takes the
//! whole step (loss, gradients, reset, update) in one call.
//!
//! ## The optimisers, from simple to complex
//! Update rules and defaults follow the algorithms in PyTorch's
//! `torch.optim` documentation (Lion follows its paper); each type's doc
//! gives its rule as maths and names the class it matches.
//!
//! - [`Sgd`]: momentum, dampening, Nesterov, weight decay;
//! - [`Adagrad`]: per-element rates from the sum of squared gradients;
//! - [`RmsProp`]: a moving average of squared gradients, centred, momentum;
//! - [`Adadelta`]: RMSprop with units fixed by a second moving average;
//! - [`Adam`]: bias-corrected first and second moments, AMSGrad;
//! - [`AdamW`]: Adam with decoupled weight decay;
//! - [`Lion`]: the sign of a moment blend, decoupled weight decay.
//!
//! Learning-rate-free and schedule-free (their defaults are the authors'
//! PyTorch implementations'):
//!
//! - [`DAdaptAdam`]: Adam with a step size estimated from the distance
//!   travelled (D-Adaptation); leave `lr` at 1;
//! - [`Prodigy`]: D-Adaptation's successor, which grows its estimate
//!   faster; leave `lr` at 1;
//! - [`SgdScheduleFree`], [`AdamWScheduleFree`]: no schedule; gradients
//!   are taken at one point and the model is evaluated at an average,
//!   which [`Optimizer::to_eval_point`] and [`Optimizer::to_train_point`]
//!   switch between (the [`Trainer`](crate::train::Trainer) does it
//!   itself).
//!
//! Builders start from the learning rate (`Adam::new(1e-3)`) or PyTorch's
//! defaults (`Adam::default()`), and panic on nonsense such as a negative
//! rate or a beta outside `[0, 1)`.
//!
//! ## What gets updated
//! Frozen parameters ([`Param::is_trainable`](crate::Param::is_trainable)
//! false) and parameters without a gradient in `grads` are skipped: they
//! keep their values, and their state (if any) is left as it was. Each
//! parameter has its own state (momenta) and its own update count, as in
//! PyTorch, kept by [`ParamId`](crate::ParamId).
//!
//! ## Parameter groups
//! A group gives the parameters whose dotted names match a predicate
//! another weight decay, a scaled rate or a fixed rate ([`GroupOptions`]).
//! The usual case is no decay on biases and normalisation weights:
//!
//! ```
//! use tapegrad::optim::{AdamW, GroupOptions};
//! let no_decay = GroupOptions { weight_decay: Some(0.0), ..GroupOptions::default() };
//! let opt = AdamW::<f32>::new(3e-4)
//!     .weight_decay(0.1)
//!     .group(|name| name.ends_with("bias") || name.contains("norm"), no_decay);
//! # let _ = opt;
//! ```
//! The first group whose predicate matches wins; names are matched once
//! per parameter and remembered.
//!
//! ## Parallel and deterministic
//! A step is one fused pass per parameter: each element's parameter,
//! gradient and state are read once and written once. The work is split
//! into fixed pieces of 32K elements (across parameters and within large
//! ones) that rayon shares among its threads. Every element's update
//! depends on that element alone, so the results are bit-identical whatever
//! the number of threads. D-Adaptation and Prodigy also need sums over all
//! parameters before they update any: they take one more pass, in which
//! each piece sums its own elements in order and the pieces' sums are then
//! added in piece order, so those are bit-identical at any thread count
//! too.
//!
//! ## Saving and restoring
//! [`Optimizer::state`] returns an [`OptimizerState`]: step counts,
//! hyperparameters and each parameter's state tensors, keyed by dotted
//! parameter name so that it can be loaded in another process (a lone
//! [`Param`](crate::Param) passed as the model goes by its own name).
//! [`Optimizer::load_state`] checks all of it against the optimiser and
//! the model before changing anything.
//!
//! ## Clipping
//! [`clip_grad_norm`] and [`clip_grad_value`] act on [`Grads`] between
//! backward and the step.

mod clip;
mod engine;
mod groups;
mod state;

// The optimisers, from simple to complex (blank lines keep rustfmt from
// sorting them).
mod sgd;
pub use sgd::Sgd;

mod adagrad;
pub use adagrad::Adagrad;

mod rmsprop;
pub use rmsprop::RmsProp;

mod adadelta;
pub use adadelta::Adadelta;

mod adam;
pub use adam::Adam;

mod adamw;
pub use adamw::AdamW;

mod lion;
pub use lion::Lion;

// Learning-rate-free: the step size is estimated as they train.
mod dadapt_adam;
pub use dadapt_adam::DAdaptAdam;

mod prodigy;
pub use prodigy::Prodigy;

// Schedule-free: no schedule, an averaged point to evaluate at.
mod schedule_free;
pub use schedule_free::{AdamWScheduleFree, SgdScheduleFree};

pub use crate::error::StateError;
pub use clip::{clip_grad_norm, clip_grad_value};
pub use groups::GroupOptions;
pub use state::{OptimizerState, ParamState};

use crate::error::Result;
use crate::nn::Module;
use crate::tape::Grads;
use crate::tensor::Float;

/// Something that updates a model's parameters from their gradients.
///
/// The trait is dyn-compatible (`Box<dyn Optimizer>` is an optimiser too),
/// so training loops can take any optimiser chosen at run time.
pub trait Optimizer<T: Float = f32>: Send {
    /// Updates every trainable parameter of `model` that has a gradient in
    /// `grads`, in place, and counts one step.
    ///
    /// # Panics
    /// If a gradient's shape differs from its parameter's, or a parameter's
    /// shape changed since its last update.
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Grads<T>);

    /// The base learning rate (groups may scale it or replace it).
    fn lr(&self) -> f64;

    /// Sets the base learning rate, as a schedule does before each step.
    ///
    /// # Panics
    /// If `lr` is negative or not finite.
    fn set_lr(&mut self, lr: f64);

    /// How many times [`step`](Optimizer::step) has been called.
    fn steps(&self) -> u64;

    /// The optimiser's state as plain data, keyed by the dotted names
    /// `model` gives its parameters (state of parameters not in `model` is
    /// left out).
    fn state(&self, model: &dyn Module<T>) -> OptimizerState<T>;

    /// Replaces the optimiser's state with `state` (saved from this kind of
    /// optimiser, for this model, perhaps in another process): step counts,
    /// learning rate and per-parameter tensors. Parameters of `model` that
    /// have no entry in `state` start afresh.
    ///
    /// # Errors
    /// [`Error::OptimizerState`](crate::Error::OptimizerState) if the state
    /// comes from another optimiser or other hyperparameters, names a
    /// parameter `model` does not have, or holds a tensor of the wrong name
    /// or shape. Everything is checked first: on error nothing changes.
    fn load_state(&mut self, model: &dyn Module<T>, state: &OptimizerState<T>) -> Result<()>;

    /// Moves `model`'s parameters to the point at which the model is meant
    /// to be evaluated and saved, for an optimiser whose gradients are taken
    /// elsewhere: the schedule-free optimisers ([`SgdScheduleFree`],
    /// [`AdamWScheduleFree`]) take gradients at `y` and evaluate at the
    /// average `x`. Every other optimiser does nothing (the default).
    ///
    /// Calling it twice is the same as once. The [`Trainer`](crate::train::Trainer)
    /// calls it around validation and checkpoints and when `fit` returns;
    /// a hand-written loop calls it before evaluating or saving, and
    /// [`to_train_point`](Optimizer::to_train_point) before the next step
    /// (as PyTorch's schedule-free `optimizer.eval()` / `optimizer.train()`).
    #[doc(alias = "eval")]
    fn to_eval_point(&mut self, _model: &mut dyn Module<T>) {}

    /// Moves `model`'s parameters back to the training point after
    /// [`to_eval_point`](Optimizer::to_eval_point), to exactly the values
    /// they had (bit for bit), so that training continues as if it had not
    /// been interrupted. Does nothing at the training point, and for
    /// optimisers without an evaluation point (the default).
    #[doc(alias = "train")]
    fn to_train_point(&mut self, _model: &mut dyn Module<T>) {}

    /// Whether the parameters are at the evaluation point (always `false`
    /// for optimisers without one, the default). A state saved there loads
    /// there: call [`to_train_point`](Optimizer::to_train_point) before
    /// stepping.
    fn at_eval_point(&self) -> bool {
        false
    }
}

impl<T: Float, O: Optimizer<T> + ?Sized> Optimizer<T> for Box<O> {
    fn step(&mut self, model: &mut dyn Module<T>, grads: &Grads<T>) {
        (**self).step(model, grads)
    }

    fn lr(&self) -> f64 {
        (**self).lr()
    }

    fn set_lr(&mut self, lr: f64) {
        (**self).set_lr(lr)
    }

    fn steps(&self) -> u64 {
        (**self).steps()
    }

    fn state(&self, model: &dyn Module<T>) -> OptimizerState<T> {
        (**self).state(model)
    }

    fn load_state(&mut self, model: &dyn Module<T>, state: &OptimizerState<T>) -> Result<()> {
        (**self).load_state(model, state)
    }

    fn to_eval_point(&mut self, model: &mut dyn Module<T>) {
        (**self).to_eval_point(model)
    }

    fn to_train_point(&mut self, model: &mut dyn Module<T>) {
        (**self).to_train_point(model)
    }

    fn at_eval_point(&self) -> bool {
        (**self).at_eval_point()
    }
}

/// Writes the builder methods every optimiser shares (`weight_decay`,
/// `group`) and its [`Optimizer`] impl, which hands everything to the
/// shared [`engine::Core`] with the optimiser's rule.
///
/// The type must have fields `rule` (an [`engine::Rule`]) and `core`.
/// Items after the decay's description go into the `Optimizer` impl too
/// (the schedule-free optimisers' evaluation point).
macro_rules! optimizer_common {
    ($name:ident, $decay:literal $(, $($extra:tt)*)?) => {
        impl<T: $crate::tensor::Float> $name<T> {
            #[doc = concat!("Sets the weight decay, ", $decay, ", for parameters outside any group.")]
            ///
            /// # Panics
            /// If it is negative or not finite.
            pub fn weight_decay(mut self, weight_decay: f64) -> Self {
                super::groups::check_non_negative(stringify!($name), "weight_decay", weight_decay);
                self.core.weight_decay = weight_decay;
                self
            }

            /// Adds a parameter group: parameters whose dotted names satisfy
            /// `select` (and no earlier group's) use `options`.
            ///
            /// # Panics
            /// If a rate, scale or decay in `options` is negative or not
            /// finite.
            pub fn group(
                mut self,
                select: impl Fn(&str) -> bool + Send + Sync + 'static,
                options: super::GroupOptions,
            ) -> Self {
                self.core.groups.add(std::sync::Arc::new(select), options);
                self
            }
        }

        impl<T: $crate::tensor::Float> super::Optimizer<T> for $name<T> {
            fn step(
                &mut self,
                model: &mut dyn $crate::nn::Module<T>,
                grads: &$crate::tape::Grads<T>,
            ) {
                self.core.step(&mut self.rule, model, grads)
            }

            fn lr(&self) -> f64 {
                self.core.lr
            }

            fn set_lr(&mut self, lr: f64) {
                super::groups::check_non_negative(stringify!($name), "lr", lr);
                self.core.lr = lr;
            }

            fn steps(&self) -> u64 {
                self.core.steps
            }

            fn state(&self, model: &dyn $crate::nn::Module<T>) -> super::OptimizerState<T> {
                self.core.state(&self.rule, model)
            }

            fn load_state(
                &mut self,
                model: &dyn $crate::nn::Module<T>,
                state: &super::OptimizerState<T>,
            ) -> $crate::error::Result<()> {
                self.core.load_state(&mut self.rule, model, state)
            }

            $($($extra)*)?
        }
    };
}
use optimizer_common;
