//! # 8. Beyond the gradient
//!
//! `backward` answers one question: how does one number, the loss, change
//! with every input? This chapter asks the others. How does each of
//! several outputs change with each input (the Jacobian), how does the
//! gradient itself change (the Hessian), and what can be done without
//! ever writing those matrices down. The tools are three: forward mode
//! ([`Tape::dual`](crate::Tape::dual)), gradients recorded on the tape so
//! that they can be differentiated again
//! ([`Tape::grad`](crate::Tape::grad)), and the function transforms of
//! [`func`](crate::func) built from them.
//!
//! ## Forward and reverse mode, on paper
//!
//! Take a function from two numbers to three,
//!
//! `f(a, b) = (a·b, a², a + 3b)`,
//!
//! at `(a, b) = (2, 5)`, where `f = (10, 4, 17)`. Its Jacobian, the table
//! of every `∂fᵢ/∂xⱼ`, has a row per output and a column per input:
//!
//! ```text
//!       ∂/∂a  ∂/∂b
//! a·b  [  b     a  ]   [ 5  2 ]
//! a²   [ 2a     0  ] = [ 4  0 ]
//! a+3b [  1     3  ]   [ 1  3 ]
//! ```
//!
//! There are two ways to get it by the chain rule, one step at a time.
//!
//! **Forward mode** pushes a *tangent* along with each value: a small
//! change `(da, db)` of the inputs, carried through every step by that
//! step's derivative. `d(a·b) = b·da + a·db`, `d(a²) = 2a·da`,
//! `d(a + 3b) = da + 3·db`. With `(da, db) = (1, 0)` the outputs move by
//! `(5, 4, 1)`: the first column. One pass gives `J v` for one direction
//! `v`, so the whole Jacobian takes one pass per input, `n` passes.
//!
//! **Reverse mode** (what `backward` does) pulls a weight per output back
//! to the inputs: with weights `(w₁, w₂, w₃)`, `a` receives
//! `w₁·b + w₂·2a + w₃` and `b` receives `w₁·a + 3·w₃`. With
//! `(1, 0, 0)` that is `(5, 2)`: the first row. One pass gives `wᵀ J`,
//! so the whole Jacobian takes one pass per output, `m` passes.
//!
//! On the tape the two are [`Tape::dual`](crate::Tape::dual) (a var with a
//! tangent; every op recorded after it computes its output's tangent too,
//! read with [`Var::tangent`](crate::Var::tangent)) and
//! [`backward_with`](crate::Var::backward_with) (backward from a seed of
//! weights instead of a single 1):
//!
//! ```
//! use tapegrad::{Tape, Tensor, Var, tensor};
//!
//! /// f(a, b) = (a b, a^2, a + 3b), with x = [a, b].
//! fn f<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
//!     let (a, b) = (x.narrow(0, 0, 1), x.narrow(0, 1, 1));
//!     Var::concat(&[a * b, a.square(), a + b * 3.0], 0)
//! }
//! let point = tensor![2.0, 5.0];
//! let jacobian = [[5.0, 2.0], [4.0, 0.0], [1.0, 3.0]]; // by hand, above
//!
//! // Forward mode: one pass per input gives one column.
//! for j in 0..2 {
//!     let tape = Tape::<f64>::new();
//!     let mut e = vec![0.0; 2];
//!     e[j] = 1.0;
//!     let x = tape.dual(point.clone(), Tensor::from_vec(e, &[2]).unwrap());
//!     let y = f(x);
//!     assert_eq!(y.value().to_vec(), [10.0, 4.0, 17.0]);
//!     let column = y.tangent().to_vec();
//!     for i in 0..3 {
//!         assert_eq!(column[i], jacobian[i][j]);
//!     }
//! }
//!
//! // Reverse mode: one forward pass, then one backward pass per output
//! // gives one row.
//! let tape = Tape::<f64>::new();
//! let x = tape.var(point.clone());
//! let y = f(x);
//! for i in 0..3 {
//!     let mut w = vec![0.0; 3];
//!     w[i] = 1.0;
//!     let row = y.backward_with(Tensor::from_vec(w, &[3]).unwrap());
//!     assert_eq!(row.wrt(x).to_vec(), jacobian[i]);
//! }
//! ```
//!
//! ## Which costs less
//!
//! A pass of either kind costs a small multiple of evaluating `f` once.
//! So the Jacobian of `f: Rⁿ → Rᵐ` costs about `n` evaluations forward
//! and `m` backward, and the cheaper mode is the one whose count is
//! smaller. [`func::jacobian_fwd`](crate::func::jacobian_fwd) (JAX's
//! `jacfwd`) runs `f` once per input with a tangent;
//! [`func::jacobian`](crate::func::jacobian) (`jacrev`) runs `f` once and
//! backward once per output. Counting the calls of `f` shows the forward
//! passes:
//!
//! ```
//! use std::cell::Cell;
//! use tapegrad::{Var, func, tensor};
//!
//! fn f<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
//!     let (a, b) = (x.narrow(0, 0, 1), x.narrow(0, 1, 1));
//!     Var::concat(&[a * b, a.square(), a + b * 3.0], 0)
//! }
//! let point = tensor![2.0, 5.0];
//! let calls = Cell::new(0);
//! let forward = func::jacobian_fwd(|x| { calls.set(calls.get() + 1); f(x) }, &point);
//! assert_eq!(calls.get(), 2); // n = 2 passes with tangents
//! calls.set(0);
//! let reverse = func::jacobian(|x| { calls.set(calls.get() + 1); f(x) }, &point);
//! assert_eq!(calls.get(), 1); // one forward pass, then m = 3 backward passes
//! assert_eq!(forward.shape(), &[3, 2]); // outputs' dims, then inputs'
//! assert_eq!(forward.to_vec(), [5.0, 2.0, 4.0, 0.0, 1.0, 3.0]);
//! assert_eq!(reverse.to_vec(), forward.to_vec());
//!
//! // A loss, R^1000 -> R: reverse mode needs one backward pass for the
//! // whole gradient, forward mode a pass per input.
//! let x = tapegrad::Tensor::from_vec((0..1000).map(|i| i as f64 / 1000.0).collect(), &[1000])
//!     .unwrap();
//! calls.set(0);
//! let g = func::jacobian_fwd(|v| { calls.set(calls.get() + 1); v.square().sum() }, &x);
//! assert_eq!(calls.get(), 1000);
//! calls.set(0);
//! let h = func::jacobian(|v| { calls.set(calls.get() + 1); v.square().sum() }, &x);
//! assert_eq!(calls.get(), 1); // and a single backward pass: m = 1
//! assert_eq!(g.to_vec(), h.to_vec());
//! assert_eq!(h.to_vec()[500], 1.0); // d(sum x^2)/dx = 2x, at x = 0.5
//! ```
//!
//! That is why training uses reverse mode: a loss has one output and
//! millions of inputs. Forward mode wins for the opposite shape, a few
//! inputs and many outputs (the sensitivity of a whole simulated
//! trajectory to one parameter), and it needs no record of the past: each
//! tangent is computed when its value is, from the tangents of the inputs
//! alone. (tapegrad's tape records the nodes anyway, as for any
//! computation, but no backward sweep reads them.)
//!
//! ## A Hessian by hand and by `func::hessian`
//!
//! The Hessian is the Jacobian of the gradient: `H[i][j] = ∂²f/∂xᵢ∂xⱼ`.
//! For `f(x, y) = x²y + y³`,
//!
//! `∇f = (2xy, x² + 3y²)` and `H = [[2y, 2x], [2x, 6y]]`,
//!
//! so at `(1, 2)`: `∇f = (4, 13)` and `H = [[4, 2], [2, 12]]`. `H` is
//! symmetric: the order of differentiation does not matter (for any `f`
//! with continuous second derivatives).
//!
//! `tape.grad(y, &[x])` runs the backward sweep as `backward` does, but
//! each rule computes with vars, recording ordinary ops on the tape, so the
//! gradient it returns is a var like any other, with its own history. Each
//! row of `H` is then one plain backward pass from one element of the
//! gradient; [`func::hessian`](crate::func::hessian) does exactly that:
//!
//! ```
//! use tapegrad::{Tape, Tensor, Var, func, tensor};
//!
//! /// f(x, y) = x^2 y + y^3, with p = [x, y].
//! fn f<'t>(p: Var<'t, f64>) -> Var<'t, f64> {
//!     let (x, y) = (p.narrow(0, 0, 1), p.narrow(0, 1, 1));
//!     (x.square() * y + y.square() * y).sum()
//! }
//!
//! let tape = Tape::<f64>::new();
//! let p = tape.var(tensor![1.0, 2.0]);
//! let g = tape.grad(f(p), &[p])[0]; // a var: [2xy, x^2 + 3y^2]
//! assert_eq!(g.value().to_vec(), [4.0, 13.0]);
//! let mut rows = Vec::new();
//! for i in 0..2 {
//!     let mut e = vec![0.0; 2];
//!     e[i] = 1.0;
//!     rows.push(g.backward_with(Tensor::from_vec(e, &[2]).unwrap()).wrt(p).to_vec());
//! }
//! assert_eq!(rows, [[4.0, 2.0], [2.0, 12.0]]);
//!
//! let h = func::hessian(f, &tensor![1.0, 2.0]);
//! assert_eq!(h.shape(), &[2, 2]);
//! assert_eq!(h.to_vec(), [4.0, 2.0, 2.0, 12.0]);
//!
//! // Elsewhere too: at (-3, 0.5), H = [[1, -6], [-6, 3]].
//! assert_eq!(func::hessian(f, &tensor![-3.0, 0.5]).to_vec(), [1.0, -6.0, -6.0, 3.0]);
//! ```
//!
//! ## A Hessian-vector product, without the Hessian
//!
//! The Hessian of a network with a million parameters has a trillion
//! entries; no one forms it. What second-order methods use instead is its
//! product with one vector, `H v`, and that costs about as much as two
//! gradients, because it is a directional derivative of the gradient:
//!
//! `H v = d/dε ∇f(x + ε v)` at `ε = 0`.
//!
//! Read that as *forward over reverse*: record the gradient with
//! `tape.grad` on a tape where `x` is a dual var with tangent `v`. The
//! ops the gradient sweep records are ordinary ops, so forward mode pushes
//! the tangent through them as through any others, and the gradient's
//! tangent is `H v`. [`func::hvp`](crate::func::hvp) gets the same vector
//! by *reverse over reverse*, `H v = ∇(∇f(x) · v)`: one recorded gradient,
//! dotted with `v`, and one plain backward pass.
//!
//! For `f(x) = (Σxₖ)(Σxₖ²)`: `∂f/∂xᵢ = Σxₖ² + 2xᵢ Σxₖ` and
//! `H[i][j] = 2xⱼ + 2xᵢ + 2 Σxₖ [i = j]`. At `x = (1, 2, 3)`, where
//! `Σxₖ = 6`,
//!
//! `H = [[16, 6, 8], [6, 20, 10], [8, 10, 24]]`, and with
//! `v = (1, 0, -1)`, `H v = (8, -4, -16)`.
//!
//! ```
//! use tapegrad::{Tape, Var, func, tensor};
//!
//! fn f<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
//!     x.sum() * x.square().sum()
//! }
//! let (x, v) = (tensor![1.0, 2.0, 3.0], tensor![1.0, 0.0, -1.0]);
//!
//! // The full Hessian (3 backward passes, one per row), then H v.
//! let h = func::hessian(f, &x).to_vec();
//! assert_eq!(h, [16.0, 6.0, 8.0, 6.0, 20.0, 10.0, 8.0, 10.0, 24.0]);
//! let hv: Vec<f64> = (0..3)
//!     .map(|i| (0..3).map(|j| h[3 * i + j] * v.to_vec()[j]).sum())
//!     .collect();
//! assert_eq!(hv, [8.0, -4.0, -16.0]);
//!
//! // Forward over reverse: the tangent of the recorded gradient.
//! let tape = Tape::<f64>::new();
//! let xv = tape.dual(x.clone(), v.clone());
//! let grad = tape.grad(f(xv), &[xv])[0];
//! assert_eq!(grad.value().to_vec(), [26.0, 38.0, 50.0]); // 14 + 12 x_i
//! assert_eq!(grad.tangent().to_vec(), hv);
//!
//! // Reverse over reverse, by func::hvp.
//! assert_eq!(func::hvp(f, &x, &v).to_vec(), hv);
//! ```
//!
//! The same three agree on functions that are not polynomials, through
//! `matmul` and `tanh` (to rounding, since the three sum in different
//! orders):
//!
//! ```
//! use tapegrad::{Tape, Var, func, tensor};
//!
//! /// sum(tanh(x W)) for a fixed 3 x 2 matrix W.
//! fn f<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
//!     let w = x.tape().constant(tensor![[0.5, -1.0], [2.0, 0.3], [-0.7, 1.1]]);
//!     x.reshape(&[1, 3]).matmul(w).tanh().sum()
//! }
//! let (x, v) = (tensor![0.2, -0.4, 0.9], tensor![1.0, 2.0, -0.5]);
//! let h = func::hessian(f, &x).to_vec();
//! let full: Vec<f64> = (0..3)
//!     .map(|i| (0..3).map(|j| h[3 * i + j] * v.to_vec()[j]).sum())
//!     .collect();
//! let tape = Tape::<f64>::new();
//! let xv = tape.dual(x.clone(), v.clone());
//! let forward_over_reverse = tape.grad(f(xv), &[xv])[0].tangent().to_vec();
//! let reverse_over_reverse = func::hvp(f, &x, &v).to_vec();
//! for i in 0..3 {
//!     assert!((forward_over_reverse[i] - full[i]).abs() < 1e-12);
//!     assert!((reverse_over_reverse[i] - full[i]).abs() < 1e-12);
//! }
//! // H is symmetric here too.
//! assert!((h[1] - h[3]).abs() < 1e-15 && (h[2] - h[6]).abs() < 1e-15);
//! ```
//!
//! ## `detach` and the straight-through estimator
//!
//! [`detach`](crate::Var::detach) returns the same value with its history
//! cut: no gradient flows back through it, in `backward` or in
//! `tape.grad`. To the derivative it is a constant. So
//! `y = x² · detach(x)` has the value `x³`, but its derivative is `2x·x`
//! (only the `x²` factor is differentiated), not `3x²`; at `x = 2` that is
//! 8, not 12, and the second derivative is `2x = 4`, not `6x = 12`.
//!
//! The same cut lets a forward computation that has no useful derivative
//! borrow one. Rounding is flat almost everywhere: its derivative is 0, so
//! a model whose weights are rounded before use (a quantised network) gets
//! no gradient at all. The *straight-through estimator* (Bengio, Léonard
//! and Courville, 2013) keeps the rounded value going forward and passes
//! the gradient straight through backward, as if rounding were the
//! identity:
//!
//! `st(x) = x + detach(round(x) - x)`.
//!
//! Its value is `round(x)`; its derivative is 1, since the detached part
//! is a constant. Then take a weight `w` used only rounded, with loss
//! `L = (2·round(w) - 6.2)²`. The best rounded value is 3 (`2·3 = 6` is
//! nearest 6.2). The estimated gradient is `4·(2·round(w) - 6.2)`, so a
//! gradient step with rate 0.05 is `w ← w - 0.2·(2·round(w) - 6.2)`: from
//! `w = 0.2` (rounds to 0) it goes to 1.44, 2.28, 2.72, 2.76, and from the
//! third step on it rounds to 3. With plain rounding the gradient is 0
//! and `w` never moves.
//!
//! ```
//! use tapegrad::{Tape, Tensor, Var, tensor};
//!
//! // detach is a constant to the derivative, first and second.
//! let tape = Tape::<f64>::new();
//! let x = tape.var(Tensor::scalar(2.0));
//! let y = x.square() * x.detach();
//! assert_eq!(y.item(), 8.0); // the value is x^3
//! let dy = tape.grad(y, &[x])[0];
//! let d2y = tape.grad(dy, &[x])[0];
//! assert_eq!((dy.item(), d2y.item()), (8.0, 4.0)); // 2x x and 2x, not 3x^2 and 6x
//!
//! /// round(x) going forward, gradient 1 going back.
//! fn straight_through<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
//!     let rounded = x.tape().constant(x.value().map(f64::round));
//!     x + (rounded - x).detach()
//! }
//! let tape = Tape::<f64>::new();
//! let x = tape.var(tensor![0.3, 1.7, -0.6]);
//! let q = straight_through(x);
//! assert_eq!(q.value().to_vec(), [0.0, 2.0, -1.0]);
//! // d(sum q^2)/dx = 2 q . 1: the rounded value, the identity's slope
//! assert_eq!(q.square().sum().backward().wrt(x).to_vec(), [0.0, 4.0, -2.0]);
//!
//! /// Gradient descent on (2 round(w) - 6.2)^2, with or without the estimator.
//! fn descend(through: bool, steps: usize) -> Vec<f64> {
//!     let mut path = vec![0.2];
//!     for _ in 0..steps {
//!         let tape = Tape::<f64>::new();
//!         let w = tape.var(Tensor::scalar(*path.last().unwrap()));
//!         let q = if through {
//!             straight_through(w)
//!         } else {
//!             tape.constant(w.value().map(f64::round)) // rounding as it is: flat
//!         };
//!         let g = (q * 2.0 - 6.2).square().backward().wrt(w).item();
//!         path.push(path.last().unwrap() - 0.05 * g);
//!     }
//!     path
//! }
//! let path = descend(true, 6);
//! for (w, by_hand) in path.iter().zip([0.2, 1.44, 2.28, 2.72, 2.76, 2.8, 2.84]) {
//!     assert!((w - by_hand).abs() < 1e-12);
//! }
//! assert!(path[2].round() == 2.0 && path[3..].iter().all(|w| w.round() == 3.0));
//! assert_eq!(descend(false, 6), [0.2; 7]); // no gradient, no progress
//! ```
//!
//! The estimator is biased (rounding is not the identity), and once
//! `round(w)` is right it keeps nudging `w` by the leftover error (here
//! `+0.04` a step, since `2·3` is short of 6.2), which is why quantised
//! training usually keeps the unrounded weight and clips it. The trick
//! works for any elementwise rule (a forward value, plus `x` minus its
//! detached self times the slope you choose); an operation that mixes
//! elements needs a rule of its own, chapter 7's
//! [`tape::Function`](crate::tape::Function).
//!
//! ## Newton's method
//!
//! Gradient descent steps along `-∇f` with a rate chosen by hand
//! (chapter 6), and its progress is set by the ratio of the largest to the
//! smallest curvature. Newton's method uses the curvature itself: it
//! minimises the quadratic that matches `f`'s value, gradient and Hessian
//! at the current point,
//!
//! `f(x + d) ≈ f(x) + ∇f·d + ½ dᵀ H d`, smallest at `d = -H⁻¹ ∇f`,
//!
//! so the step is `x ← x - H⁻¹ ∇f(x)`, with no rate to choose. On a
//! quadratic the model is exact and one step lands on the minimum: for
//! `q(x, y) = x² + xy + 2y² - 3x`, `∇q = (2x + y - 3, x + 4y)` is zero at
//! `(12/7, -3/7)`, and a step from anywhere goes there.
//!
//! On anything else Newton's method converges *quadratically*: near the
//! minimum each error is about a constant times the square of the one
//! before, so the number of correct digits doubles every step. Take
//!
//! `f(x, y) = e^(x-1) - x + (x - y)² + e^(y-1) - y`,
//!
//! with `∇f = (e^(x-1) - 1 + 2(x - y), e^(y-1) - 1 - 2(x - y))`, zero at
//! the minimum `(1, 1)`, and `H = [[e^(x-1) + 2, -2], [-2, e^(y-1) + 2]]`.
//! The constant can be worked out too. Near `(1, 1)` the error
//! `(ε, δ)` has `ε ≈ δ`: `f` is the same with `x` and `y` swapped, and the
//! part of the error across the diagonal dies out relative to the part
//! along it. Along the diagonal
//! `f` is `2(e^(t-1) - t)`, whose Newton step
//! `t ← t - 1 + e^(1-t)` turns an error `ε` into about `ε²/2`. The
//! distance to the minimum is `√2·ε`, so it goes from `r` to about
//! `(r/√2)²/2 · √2 = r²/(2√2) ≈ 0.354 r²`.
//!
//! At the minimum `H = [[3, -2], [-2, 3]]`, with curvatures 1 (along
//! `x = y`) and 5 (across it). Gradient descent with its best fixed rate,
//! `2/(1 + 5) = 1/3`, shrinks the error by `(5 - 1)/(5 + 1) = 2/3` a
//! step: linearly, a constant number of digits per step.
//!
//! ```
//! use tapegrad::{Tensor, Var, func};
//!
//! type Function = for<'t> fn(Var<'t, f64>) -> Var<'t, f64>;
//!
//! /// One Newton step: solve H d = -grad (2 x 2, by Cramer's rule).
//! fn newton_step(f: Function, p: [f64; 2]) -> [f64; 2] {
//!     let point = Tensor::from_vec(p.to_vec(), &[2]).unwrap();
//!     let (_, g) = func::value_and_grad(f, &point);
//!     let (g, h) = (g.to_vec(), func::hessian(f, &point).to_vec());
//!     let det = h[0] * h[3] - h[1] * h[2];
//!     [
//!         p[0] - (h[3] * g[0] - h[1] * g[1]) / det,
//!         p[1] - (h[0] * g[1] - h[2] * g[0]) / det,
//!     ]
//! }
//!
//! fn q<'t>(p: Var<'t, f64>) -> Var<'t, f64> {
//!     let (x, y) = (p.narrow(0, 0, 1), p.narrow(0, 1, 1));
//!     (x.square() + x * y + y.square() * 2.0 - x * 3.0).sum()
//! }
//! for start in [[0.0, 0.0], [5.0, -7.0]] {
//!     let [x, y] = newton_step(q, start);
//!     assert!((x - 12.0 / 7.0).abs() < 1e-12 && (y + 3.0 / 7.0).abs() < 1e-12);
//! }
//!
//! fn f<'t>(p: Var<'t, f64>) -> Var<'t, f64> {
//!     let (x, y) = (p.narrow(0, 0, 1), p.narrow(0, 1, 1));
//!     ((x - 1.0).exp() - x + (x - y).square() + (y - 1.0).exp() - y).sum()
//! }
//! // The first step's gradient and Hessian at (0, 3), against the formulas.
//! let e = std::f64::consts::E;
//! let at = Tensor::from_vec(vec![0.0, 3.0], &[2]).unwrap();
//! let (_, g) = func::value_and_grad(f, &at);
//! let h = func::hessian(f, &at).to_vec();
//! let (g_hand, h_hand) = ([1.0 / e - 7.0, e * e + 5.0], [1.0 / e + 2.0, -2.0, -2.0, e * e + 2.0]);
//! for i in 0..2 {
//!     assert!((g.to_vec()[i] - g_hand[i]).abs() < 1e-12);
//! }
//! for i in 0..4 {
//!     assert!((h[i] - h_hand[i]).abs() < 1e-12);
//! }
//!
//! let error = |p: [f64; 2]| (p[0] - 1.0).hypot(p[1] - 1.0);
//! let mut p = [0.0, 3.0];
//! let mut errors = vec![error(p)];
//! for _ in 0..6 {
//!     p = newton_step(f, p);
//!     errors.push(error(p));
//! }
//! // Far away the steps are rough; then each error is about 0.354 times
//! // the square of the one before: 0.11, 4e-3, 6e-6, 1.5e-11.
//! for k in 3..6 {
//!     let ratio = errors[k + 1] / (errors[k] * errors[k]);
//!     assert!((ratio - 1.0 / (2.0 * 2f64.sqrt())).abs() < 0.02, "step {k}: {ratio}");
//! }
//! assert!(errors[6] < 1e-10);
//!
//! // Gradient descent at its best rate, 1/3, for 60 steps from the same start.
//! let mut p = [0.0, 3.0];
//! let mut gd = vec![error(p)];
//! for _ in 0..60 {
//!     let (_, g) = func::value_and_grad(f, &Tensor::from_vec(p.to_vec(), &[2]).unwrap());
//!     let g = g.to_vec();
//!     p = [p[0] - g[0] / 3.0, p[1] - g[1] / 3.0];
//!     gd.push(error(p));
//! }
//! assert!(gd[6] > 0.1); // where Newton's method was done: 0.43
//! let late = gd[60] / gd[59];
//! assert!((late - 2.0 / 3.0).abs() < 1e-3, "{late}"); // linear: 2/3 a step
//! assert!(gd[60] > errors[6]); // 60 steps: 1.6e-10, still behind Newton's 6
//! ```
//!
//! Each Newton step here cost a gradient and a Hessian (a recorded
//! gradient, then a backward pass per unknown), plus solving an `n × n`
//! system for `n` unknowns: cheap for two
//! unknowns, out of the question for a network's millions. Methods for
//! those (Newton-CG, Hessian-free optimisation) solve `H d = -∇f`
//! iteratively with Hessian-vector products alone, each one the price of
//! about two gradients, as above.
//!
//! ## A function with its own derivative: a custom VJP
//!
//! Chapter 7 gave softsign a backward rule of its own through
//! [`tape::Function`](crate::tape::Function). A rule need not be the
//! derivative of the forward at all, and that is sometimes the point. The
//! *gradient reversal* layer of domain-adversarial training is the
//! identity going forward and multiplies the gradient by `-λ` going back,
//! so that the layers below it learn to *confuse* whatever is trained
//! above it. No composition of ops has that pair of rules; a function
//! states it directly:
//!
//! ```
//! use tapegrad::tape::{BackwardCtx, Function};
//! use tapegrad::{Tape, Tensor, tensor};
//!
//! struct Reverse(f64);
//!
//! impl Function<f64> for Reverse {
//!     fn name(&self) -> &'static str {
//!         "reverse_gradient"
//!     }
//!     fn forward(&self, inputs: &[&Tensor<f64>]) -> Tensor<f64> {
//!         inputs[0].clone()
//!     }
//!     fn backward(&self, ctx: &mut BackwardCtx<'_, f64>) {
//!         let lambda = self.0;
//!         ctx.add(0, ctx.grad_out().map(|g| -lambda * g));
//!     }
//! }
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(tensor![1.0, 2.0]);
//! let y = tape.call(Reverse(0.5), &[x]) * 3.0; // y = 3x going forward
//! assert_eq!(y.value().to_vec(), [3.0, 6.0]);
//! // and dy/dx = -0.5 * 3 coming back
//! assert_eq!(y.sum().backward().wrt(x).to_vec(), [-1.5, -1.5]);
//! ```
//!
//! For second derivatives, a function also writes its rule with vars
//! ([`backward_on_tape`](crate::tape::Function::backward_on_tape)); then
//! [`Tape::grad`](crate::Tape::grad), `func::hessian` and
//! `check::gradgradcheck` see through it. Softsign's second derivative is
//! `-2 sign(x) / (1 + |x|)³`, so the Hessian of `Σ softsign(xᵢ)` is
//! diagonal with those entries: at `x = (1, -3)`, `-1/4` and `2/64`.
//!
//! ```
//! use tapegrad::tape::{BackwardCtx, Function, GraphCtx};
//! use tapegrad::{Tensor, func, tensor};
//!
//! struct Softsign;
//!
//! impl Function<f64> for Softsign {
//!     fn name(&self) -> &'static str {
//!         "softsign"
//!     }
//!     fn forward(&self, inputs: &[&Tensor<f64>]) -> Tensor<f64> {
//!         inputs[0].map(|v| v / (1.0 + v.abs()))
//!     }
//!     fn backward(&self, ctx: &mut BackwardCtx<'_, f64>) {
//!         let d = ctx.input(0).map(|v| 1.0 / (1.0 + v.abs()).powi(2));
//!         ctx.add(0, ctx.grad_out() * &d);
//!     }
//!     // The same rule with vars: g / (1 + |x|)², itself differentiable.
//!     fn backward_on_tape(&self, ctx: &mut GraphCtx<'_, '_, f64>) {
//!         let g = ctx.grad_out() / (ctx.input(0).abs() + 1.0).square();
//!         ctx.add(0, g);
//!     }
//! }
//!
//! let h = func::hessian(|x| x.tape().call(Softsign, &[x]).sum(), &tensor![1.0, -3.0]);
//! assert_eq!(h.to_vec(), [-0.25, 0.0, 0.0, 2.0 / 64.0]);
//! ```
//!
//! ## Checkpointing: memory for compute
//!
//! A plain backward pass needs every value its forward pass computed: the
//! rules read them (`exp`'s rule reads its output, `mul`'s both inputs).
//! So the tape holds them all until backward is done, and a deep network's
//! memory grows with its depth: `n` blocks that each record `m` bytes hold
//! `n · m`.
//!
//! Checkpointing a block keeps only what goes in and what comes out. The
//! block runs on a tape of its own whose values are dropped as soon as it
//! returns; when the backward sweep reaches the block, it runs the block
//! again from its saved input, sweeps that recording, and drops it. At any
//! moment of the backward pass, one block's insides are held instead of
//! all of them: `n` inputs and outputs plus one block's `m`, for the price
//! of a second forward pass through every block (about a third more time
//! per step when forward costs half of backward). The gradients are those
//! of the same computation, bit for bit: the rerun computes the same
//! values, and its sums are taken in the same order.
//!
//! Four blocks of `exp(x sin x)` on 1000 numbers (4000 bytes each in
//! `f32`): each block records `sin x`, `x sin x` and the `exp`, three
//! values, so plainly the tape holds the input and twelve values. With
//! each block checkpointed it holds the input and the four outputs:
//!
//! ```
//! use tapegrad::{Tape, Tensor, Var};
//!
//! fn block<'t>(x: Var<'t, f32>) -> Var<'t, f32> {
//!     (x.sin() * x).exp()
//! }
//! let data = Tensor::from_vec((0..1000).map(|i| i as f32 / 1000.0).collect(), &[1000]).unwrap();
//!
//! let tape = Tape::new();
//! let x = tape.var(data.clone());
//! let y = block(block(block(block(x)))).mean();
//! let plain = tape.memory_report(y);
//! assert_eq!(plain.values, 4000 + 4 * 3 * 4000);
//! let plain_grad = y.backward().wrt(x).to_vec();
//!
//! let tape = Tape::new();
//! let x = tape.var(data);
//! let y = x.checkpoint(block).checkpoint(block).checkpoint(block).checkpoint(block).mean();
//! let checkpointed = tape.memory_report(y);
//! assert_eq!(checkpointed.values, 4000 + 4 * 4000);
//! // What is not held: two values inside each block.
//! assert_eq!((checkpointed.recomputed, checkpointed.saved), (4, 4 * 2 * 4000));
//! assert!(checkpointed.backward_peak < plain.backward_peak);
//! assert_eq!(y.backward().wrt(x).to_vec(), plain_grad); // bit for bit
//! ```
//!
//! The block must own what it uses (it is kept until backward), so a layer
//! is moved in: `let b = layer.clone(); x.checkpoint(move |x| b.forward(x))`
//! (a clone shares the layer's parameters). Between "keep everything" and
//! "recompute everything" there is a budget:
//! [`Tape::set_memory_budget`](crate::Tape::set_memory_budget) keeps
//! blocks whole while they fit and recomputes the rest, and
//! [`Tape::memory_report`](crate::Tape::memory_report) says, before
//! backward runs, what it chose and what the sweep will hold.
