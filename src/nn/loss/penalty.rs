//! L1 and L2 penalties over a model's trainable parameters, re-exported
//! from [`nn::loss`](super).

use crate::nn::{Module, Param};
use crate::tape::{Tape, Var};
use crate::tensor::{Float, Tensor};

/// Whether a dotted parameter name is not a bias (`bias` or `*.bias`): the
/// usual filter for [`l1_penalty_where`] and [`l2_penalty_where`], since
/// penalising biases only shifts the model.
pub fn not_bias(name: &str) -> bool {
    name != "bias" && !name.ends_with(".bias")
}

/// Sum of `term(param)` over the model's trainable parameters that
/// `select` keeps, each bound to `tape`.
fn penalty<'t, T: Float, M: Module<T> + ?Sized>(
    tape: &'t Tape<T>,
    model: &M,
    select: &mut dyn FnMut(&str) -> bool,
    term: impl Fn(Var<'t, T>) -> Var<'t, T>,
) -> Var<'t, T> {
    let mut terms = Vec::new();
    model.visit("", &mut |name: &str, p: &Param<T>| {
        if p.is_trainable() && select(name) {
            terms.push(term(tape.param(p)));
        }
    });
    if terms.is_empty() {
        return tape.constant(Tensor::scalar(T::ZERO));
    }
    Var::stack(&terms, 0).sum()
}

/// L1 penalty `sum |w|` over every element of every trainable parameter of
/// `model`, each bound to `tape` (binding a parameter the forward pass
/// already bound is fine: its gradients add). Frozen parameters are left
/// out; with none left the result is a constant 0.
///
/// Derivative: `sign(w)` (0 at 0), so `loss + lambda * l1_penalty(..)`
/// pulls every weight towards 0 by `lambda` per step of gradient: the lasso,
/// which drives small weights to exactly 0.
///
/// ```
/// use tapegrad::nn::loss::{self, Reduction};
/// use tapegrad::{Module, Param, Tape, tensor};
///
/// #[derive(Module)]
/// #[module(float = f64)]
/// struct Line { weight: Param<f64>, bias: Param<f64> }
///
/// let line = Line {
///     weight: Param::new("weight", tensor![[0.5, -2.0]]),
///     bias: Param::new("bias", tensor![1.0]),
/// };
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(tensor![[1.0, 1.0]]);
/// let y = x.matmul(tape.param(&line.weight).t()) + tape.param(&line.bias);
/// let fit = loss::mse_loss(y, tape.constant(tensor![[0.0]]), Reduction::Mean);
/// // lasso on the weights only: |0.5| + |-2| = 2.5
/// let l1 = loss::l1_penalty_where(&tape, &line, loss::not_bias);
/// assert_eq!(l1.item(), 2.5);
/// let total = fit + l1 * 0.1;
/// let grads = total.backward();
/// assert_eq!(grads.of(&line.bias).to_vec(), vec![-1.0]); // 2 (y - 0) with y = -0.5
/// ```
pub fn l1_penalty<'t, T: Float, M: Module<T> + ?Sized>(tape: &'t Tape<T>, model: &M) -> Var<'t, T> {
    penalty(tape, model, &mut |_| true, |w| w.abs().sum())
}

/// [`l1_penalty`] over the trainable parameters whose dotted names
/// `select` keeps (e.g. [`not_bias`]).
pub fn l1_penalty_where<'t, T: Float, M: Module<T> + ?Sized>(
    tape: &'t Tape<T>,
    model: &M,
    mut select: impl FnMut(&str) -> bool,
) -> Var<'t, T> {
    penalty(tape, model, &mut select, |w| w.abs().sum())
}

/// L2 penalty `sum w^2` over every element of every trainable parameter of
/// `model`, each bound to `tape` (frozen ones are left out; with none left
/// the result is a constant 0).
///
/// Derivative: `2 w`, so `loss + lambda * l2_penalty(..)` is ridge
/// regression, and under plain SGD the same as weight decay `2 lambda`.
pub fn l2_penalty<'t, T: Float, M: Module<T> + ?Sized>(tape: &'t Tape<T>, model: &M) -> Var<'t, T> {
    penalty(tape, model, &mut |_| true, |w| w.square().sum())
}

/// [`l2_penalty`] over the trainable parameters whose dotted names
/// `select` keeps (e.g. [`not_bias`]).
pub fn l2_penalty_where<'t, T: Float, M: Module<T> + ?Sized>(
    tape: &'t Tape<T>,
    model: &M,
    mut select: impl FnMut(&str) -> bool,
) -> Var<'t, T> {
    penalty(tape, model, &mut select, |w| w.square().sum())
}
