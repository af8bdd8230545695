//! Differentiable functions defined outside tapegrad: the [`Function`]
//! trait (PyTorch's `torch.autograd.Function`, JAX's `custom_vjp` and
//! `custom_jvp`) and [`Tape::call`], which records one.
//!
//! A call is one node of the tape, like a built-in op: its forward runs
//! once when it is recorded, and the reverse sweep runs its
//! [`backward`](Function::backward) with the same [`BackwardCtx`] a
//! built-in rule gets. The two optional rules give it the rest of the
//! engine: [`backward_on_tape`](Function::backward_on_tape) (the same rule
//! written with vars) for [`Tape::grad`] and so for derivatives of
//! derivatives, and [`jvp`](Function::jvp) for forward mode. A function
//! without one of them panics there, naming itself, rather than giving a
//! wrong answer; a rule that gives an input a gradient of the wrong shape
//! panics naming the function and both shapes.
//!
//! The tape keeps each call's function value until it is reset, so a
//! function may carry whatever its rules need (a constant, a setting, a
//! table); values computed in the forward that the backward needs are
//! either recomputed from [`input`](BackwardCtx::input) and
//! [`output`](BackwardCtx::output) or made a second output by a second
//! call.

use super::{BackwardCtx, GraphCtx, JvpCtx, Tape, Var};
use crate::ops::Op;
use crate::tensor::{Float, Tensor};
use std::sync::Arc;

/// A differentiable function with its own rules, recorded by
/// [`Tape::call`].
///
/// Only [`name`](Function::name), [`forward`](Function::forward) and
/// [`backward`](Function::backward) are required. The rules read like the
/// built-in ones (see [`ops`](crate::ops)): here `y = x / (1 + |x|)`
/// (softsign), whose derivative is `1 / (1 + |x|)²`:
///
/// ```
/// use tapegrad::check::gradcheck;
/// use tapegrad::tape::{BackwardCtx, Function};
/// use tapegrad::{Tensor, tensor};
///
/// struct Softsign;
///
/// impl Function<f64> for Softsign {
///     fn name(&self) -> &'static str {
///         "softsign"
///     }
///     fn forward(&self, inputs: &[&Tensor<f64>]) -> Tensor<f64> {
///         inputs[0].map(|x| x / (1.0 + x.abs()))
///     }
///     fn backward(&self, ctx: &mut BackwardCtx<'_, f64>) {
///         let d = ctx.input(0).map(|x| 1.0 / (1.0 + x.abs()).powi(2));
///         ctx.add(0, ctx.grad_out() * &d);
///     }
/// }
///
/// let inputs = [tensor![-2.0, -0.5, 0.25, 3.0]];
/// let report = gradcheck(|v| v[0].tape().call(Softsign, &[v[0]]), &inputs).unwrap();
/// assert_eq!(report.checked, 4);
/// ```
///
/// The function value must be `Send + Sync + 'static` (it is kept by the
/// tape, which may be moved to another thread): plain data, or shared
/// data behind an `Arc`.
pub trait Function<T: Float>: Send + Sync + 'static {
    /// The name printed tapes, profiles and panic messages show.
    fn name(&self) -> &'static str;

    /// The output from the inputs' values, in the order they were given to
    /// [`Tape::call`].
    fn forward(&self, inputs: &[&Tensor<T>]) -> Tensor<T>;

    /// The backward rule: for each input `i` that
    /// [`needs`](BackwardCtx::needs) a gradient, the gradient of the result
    /// with respect to it, `grad_outᵀ ∂y/∂xᵢ`, added with
    /// [`add`](BackwardCtx::add) (which sums a broadcast gradient back to
    /// the input's shape).
    ///
    /// # Panics
    /// The engine panics, naming this function and both shapes, if a
    /// gradient is neither the input's shape nor a broadcast of it.
    fn backward(&self, ctx: &mut BackwardCtx<'_, T>);

    /// The backward rule again, written with vars through differentiable
    /// ops (the same `input`, `output`, `grad_out` and `add`, as vars), so
    /// that [`Tape::grad`] can differentiate the gradient again.
    ///
    /// The default panics, naming the function: `Tape::grad` (and
    /// everything built on it: `func::hvp`, `func::hessian`,
    /// `check::gradgradcheck`) is not available through it.
    fn backward_on_tape(&self, ctx: &mut GraphCtx<'_, '_, T>) {
        ctx.unsupported()
    }

    /// The forward-mode rule: the output's tangent `J v` from the inputs'
    /// tangents ([`tangent`](JvpCtx::tangent), `None` for zero), of the
    /// output's shape.
    ///
    /// The default panics, naming the function: forward mode
    /// ([`Tape::dual`], `func::jvp`, `check::jvpcheck`) is not available
    /// through it.
    fn jvp(&self, ctx: &JvpCtx<'_, T>) -> Tensor<T> {
        ctx.unsupported()
    }
}

/// The function of a call, kept by the tape until its reset.
pub(crate) type Shared<T> = Arc<dyn Function<T>>;

impl<T: Float> Tape<T> {
    /// Records a call of the user-defined differentiable function `f` on
    /// `inputs` and returns its output (see [`Function`]).
    ///
    /// ```
    /// use tapegrad::tape::{BackwardCtx, Function};
    /// use tapegrad::{Tape, Tensor, tensor};
    ///
    /// /// `y = a x` for a constant `a` the function carries: `dy/dx = a`.
    /// struct Scale(f64);
    ///
    /// impl Function<f64> for Scale {
    ///     fn name(&self) -> &'static str {
    ///         "scale"
    ///     }
    ///     fn forward(&self, inputs: &[&Tensor<f64>]) -> Tensor<f64> {
    ///         inputs[0].map(|x| self.0 * x)
    ///     }
    ///     fn backward(&self, ctx: &mut BackwardCtx<'_, f64>) {
    ///         let a = self.0;
    ///         ctx.add(0, ctx.grad_out().map(|g| a * g));
    ///     }
    /// }
    ///
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(tensor![1.0, 2.0]);
    /// let y = tape.call(Scale(3.0), &[x]);
    /// assert_eq!(y.value().to_vec(), [3.0, 6.0]);
    /// assert_eq!(y.sum().backward().wrt(x).to_vec(), [3.0, 3.0]);
    /// assert!(tape.to_string().contains("scale"));
    /// ```
    ///
    /// # Panics
    /// If `inputs` is empty, if an input comes from another tape or an
    /// earlier recording, and whatever `f`'s forward panics with.
    pub fn call<F: Function<T>>(&self, f: F, inputs: &[Var<'_, T>]) -> Var<'_, T> {
        assert!(
            !inputs.is_empty(),
            "tape.call({}): a function needs at least one input",
            f.name()
        );
        let f: Shared<T> = Arc::new(f);
        let id = {
            let mut functions = self.functions.borrow_mut();
            functions.push(Arc::clone(&f));
            (functions.len() - 1) as u32
        };
        let op = Op::Custom { id, name: f.name() };
        self.apply(op, inputs, |v| f.forward(v))
    }

    /// The function of call `id` (a shared handle: its rules may record on
    /// the tape, which then borrows the list mutably).
    pub(crate) fn function(&self, id: u32) -> Shared<T> {
        Arc::clone(&self.functions.borrow()[id as usize])
    }
}
