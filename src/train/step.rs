//! [`step`]: one training step, written once: the loss, its gradients, the
//! tape reset, then the optimiser's update, in the only order that updates
//! the parameters in place.
//!
//! Every loop in the crate that trains takes its update through one
//! function, `update` (crate-private): backward, read the tape's anomaly
//! report, reset the tape, clip, then the optimiser's step. The
//! [`Trainer`](super::Trainer), the LR range test and [`step`] (the
//! public step for a loop written by hand) all call it, so the ordering
//! rule "no tape holds the parameters when the optimiser writes them" has
//! one owner. [`Clip`], the clipping between backward and the step, lives
//! here with it.

use crate::nn::Module;
use crate::optim::{Optimizer, clip_grad_norm, clip_grad_value};
use crate::tape::{Anomaly, Grads, Var};
use crate::tensor::Float;

/// Gradient clipping between backward and the optimiser step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    /// Scale all gradients together so that their global L2 norm is at
    /// most this ([`clip_grad_norm`]).
    Norm(f64),
    /// Clamp every gradient element to `[-v, v]` ([`clip_grad_value`]).
    Value(f64),
}

impl Clip {
    /// Clips `grads` in place.
    fn apply<T: Float>(self, grads: &mut Grads<T>) {
        match self {
            Clip::Norm(max) => {
                clip_grad_norm(grads, max);
            }
            Clip::Value(v) => clip_grad_value(grads, v),
        }
    }
}

/// The update half of a training step, in the only order that updates the
/// parameters in place: backpropagates from `loss`, takes the tape's
/// anomaly report (anomaly mode), resets the tape (its nodes share the
/// parameters' storage; while they live, the optimiser's write would copy
/// every parameter first), clips the gradients and lets `optimizer`
/// update `model`. Returns the anomaly report, if any.
///
/// Every var of `loss`'s tape is stale afterwards (using one panics).
///
/// # Panics
/// If `loss` is not a scalar.
pub(crate) fn update<T, M, O>(
    model: &mut M,
    optimizer: &mut O,
    loss: Var<'_, T>,
    clip: Option<Clip>,
) -> Option<Anomaly>
where
    T: Float,
    M: Module<T>,
    O: Optimizer<T> + ?Sized,
{
    update_with(model, optimizer, loss, clip, &mut |_, _, _| {})
}

/// [`update`] with the seam between backward and the optimiser step open:
/// after the tape's reset and before clipping, `combine` gets the model,
/// the gradients and the loss's value, and may change the gradients (the
/// data-parallel step averages them across processes there, and the loss
/// with them).
pub(crate) fn update_with<T, M, O>(
    model: &mut M,
    optimizer: &mut O,
    loss: Var<'_, T>,
    clip: Option<Clip>,
    combine: &mut dyn FnMut(&M, &mut Grads<T>, f64),
) -> Option<Anomaly>
where
    T: Float,
    M: Module<T>,
    O: Optimizer<T> + ?Sized,
{
    let tape = loss.tape;
    let value = loss.item().to_f64();
    let mut grads = loss.backward();
    let anomaly = tape.anomaly();
    tape.clear();
    combine(model, &mut grads, value);
    if let Some(clip) = clip {
        clip.apply(&mut grads);
    }
    optimizer.step(model, &grads);
    anomaly
}

/// One training step: runs `loss` on the model, backpropagates from the
/// scalar it returns, resets that var's tape, then lets `optimizer` update
/// the model in place. Returns the loss value (before the update).
///
/// The closure records on a tape it captures, so it can be kept in a `let`
/// binding and reused across steps (a closure that takes the tape as an
/// argument would need its signature spelled out). After the step the
/// tape is empty and ready for the next one; a var kept from it panics if
/// used.
///
/// ```
/// use tapegrad::optim::Adam;
/// use tapegrad::{Module, Param, Tape, Tensor, tensor, train};
///
/// #[derive(Module)]
/// struct Line { w: Param, b: Param }
///
/// // Fit y = 2x + 1 from four points.
/// let mut model = Line {
///     w: Param::new("w", Tensor::scalar(0.0)),
///     b: Param::new("b", Tensor::scalar(0.0)),
/// };
/// let mut opt = Adam::new(0.1);
/// let tape = Tape::new();
/// let (x, y) = (tensor![0.0f32, 1.0, 2.0, 3.0], tensor![1.0f32, 3.0, 5.0, 7.0]);
/// let mse = |m: &Line| {
///     let pred = tape.constant(x.clone()) * tape.param(&m.w) + tape.param(&m.b);
///     (pred - tape.constant(y.clone())).square().mean()
/// };
/// let first = train::step(&mut model, &mut opt, mse);
/// let mut last = first;
/// for _ in 0..500 {
///     last = train::step(&mut model, &mut opt, mse);
/// }
/// assert!(last < 1e-4 * first);
/// assert!((model.w.value().item() - 2.0).abs() < 1e-2);
/// assert!(tape.is_empty());
/// ```
///
/// # Panics
/// If the var `loss` returns is not a scalar (as [`Var::backward`]).
pub fn step<'t, T, M, O>(model: &mut M, optimizer: &mut O, loss: impl FnOnce(&M) -> Var<'t, T>) -> T
where
    T: Float,
    M: Module<T>,
    O: Optimizer<T> + ?Sized,
{
    let loss = loss(model);
    let value = loss.item();
    update(model, optimizer, loss, None);
    value
}
