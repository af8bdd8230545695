//! # 1. Derivatives and the chain rule
//!
//! The derivative of a function `f` at a point `x` says how much `f(x)`
//! moves when `x` moves a little: `f(x + h) ≈ f(x) + f'(x) h` for small
//! `h`. Training a network is nothing more than asking this question of
//! a loss, for every weight at once, and moving each weight against its
//! derivative.
//!
//! ## One function, three ways
//!
//! Take `f(x) = x³ - 2x`. By the rules of calculus, `f'(x) = 3x² - 2`, so
//! at `x = 1.5` the derivative is `3 · 2.25 - 2 = 4.75`.
//!
//! tapegrad gets the same number by recording the computation on a
//! [`Tape`](crate::Tape) and running it backward. A leaf made with
//! [`tape.var`](crate::Tape::var) is a value whose derivative we want;
//! arithmetic on it is recorded; [`backward`](crate::Var::backward) returns
//! the derivatives of the result, read back with
//! [`grads.wrt`](crate::Grads::wrt):
//!
//! ```
//! use tapegrad::{Tape, Tensor};
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::scalar(1.5));
//! let y = x.powf(3.0) - 2.0 * x;
//! assert_eq!(y.item(), 0.375); // 3.375 - 3
//!
//! let grads = y.backward();
//! let by_hand = 3.0 * 1.5 * 1.5 - 2.0;
//! assert!((grads.wrt(x).item() - by_hand).abs() < 1e-12);
//! ```
//!
//! The third way needs no calculus at all: move `x` a little and watch `f`.
//! The *central difference* `(f(x + h) - f(x - h)) / 2h` is off from
//! `f'(x)` by about `h² f'''(x) / 6`; the one-sided `(f(x + h) - f(x)) / h`
//! is off by about `h f''(x) / 2`, far more for the same `h`. Here
//! `f'' = 6x = 9` and `f''' = 6`, so with `h = 1e-5` the errors are about
//! `1e-10` and `4.5e-5`:
//!
//! ```
//! let f = |x: f64| x.powi(3) - 2.0 * x;
//! let (x, h) = (1.5, 1e-5);
//! let central = (f(x + h) - f(x - h)) / (2.0 * h);
//! let one_sided = (f(x + h) - f(x)) / h;
//! assert!((central - 4.75).abs() < 1e-8);
//! assert!((one_sided - 4.75).abs() > 1e-5);
//! assert!((one_sided - 4.75 - 4.5e-5).abs() < 1e-6); // h f''/2, as predicted
//! ```
//!
//! Finite differences are simple and slow: one or two evaluations of `f`
//! *per input*, and their answer is only approximate. A network has
//! millions of inputs (its weights). Backward gets all the derivatives,
//! exact up to rounding, for a small multiple of the cost of one
//! evaluation, however many inputs there are. The
//! finite difference stays useful as a referee: [`check::gradcheck`]
//! (chapter 7) compares the two on every element.
//!
//! [`check::gradcheck`]: crate::check::gradcheck
//!
//! ## The chain rule
//!
//! `y = sin(x²)` is two steps: `u = x²`, then `y = sin u`. Each step has a
//! *local* derivative that knows nothing of the other: `du/dx = 2x` and
//! `dy/du = cos u`. The chain rule says the derivative of the whole is their
//! product:
//!
//! `dy/dx = dy/du · du/dx = cos(x²) · 2x`.
//!
//! That is all backward does, one step at a time from the end: it starts
//! with `dy/dy = 1`, multiplies by `dy/du` to get the gradient at `u`, then
//! by `du/dx` to get the gradient at `x`. With
//! [`retain_grads`](crate::Tape::retain_grads) the tape keeps the gradient
//! of every intermediate value, so we can watch each stage:
//!
//! ```
//! use tapegrad::{Tape, Tensor};
//!
//! let tape = Tape::<f64>::new();
//! tape.retain_grads(); // keep intermediate gradients, for inspection
//! let x = tape.var(Tensor::scalar(0.7));
//! let u = x.square();
//! let y = u.sin();
//! let grads = y.backward();
//!
//! let (xv, uv) = (0.7f64, 0.49f64);
//! // the gradient at u is the local derivative of the last step
//! assert!((u.retained_grad().unwrap().item() - uv.cos()).abs() < 1e-12);
//! // the gradient at x multiplies in the local derivative of the first
//! assert!((grads.wrt(x).item() - uv.cos() * 2.0 * xv).abs() < 1e-12);
//! ```
//!
//! ## A value used twice
//!
//! When a value feeds two places, it moves the result through both, so its
//! derivative is the **sum** of what comes back along each path. In
//! `y = x · x`, the product rule gives `x + x = 2x`: one `x` from each
//! factor. A neater trap, from a bug once found in micrograd: with
//! `b = a + a` and `c = b + b`, `c = 4a`, so `dc/da = 4`. An engine that
//! *overwrites* a gradient where it should *add* gets 1 or 2 instead.
//!
//! ```
//! use tapegrad::{Tape, Tensor};
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::scalar(3.0));
//! assert_eq!((x * x).backward().wrt(x).item(), 6.0); // 2x
//!
//! let a = tape.var(Tensor::scalar(-1.0));
//! let b = a + a;
//! let c = b + b;
//! assert_eq!(c.backward().wrt(a).item(), 4.0);
//! ```
//!
//! Next: [chapter 2](super::chapter_2_tape), what the tape holds.
