//! # 7. A new operation, its derivative, and a gradient check
//!
//! Every operation the tape knows comes as a pair: a forward computation
//! and a backward rule that turns the gradient of the output into
//! gradients of the inputs. This chapter adds one, *softsign*,
//!
//! `softsign(x) = x / (1 + |x|)`, with derivative `1 / (1 + |x|)²`,
//!
//! in three ways, and checks each against finite differences.
//!
//! ## 1. Compose it from existing operations
//!
//! If an operation can be written with operations the tape already has,
//! it needs no rule of its own: backward applies the chain rule through
//! the pieces. [`check::gradcheck`](crate::check::gradcheck) then runs the
//! function on `f64` inputs, computes every partial derivative by central
//! differences (chapter 1), and compares them with backward's. It returns
//! `Ok` with a report if all agree within tolerance, `Err` with the worst
//! element if not.
//!
//! ```
//! use tapegrad::check::gradcheck;
//! use tapegrad::{Tape, Var, tensor};
//!
//! fn softsign<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
//!     x / (x.abs() + 1.0)
//! }
//!
//! // backward against the derivative worked out by hand
//! let tape = Tape::<f64>::new();
//! let x = tape.var(tensor![-2.0, -0.5, 0.25, 3.0]);
//! let grads = softsign(x).sum().backward();
//! for (g, x) in grads.wrt(x).to_vec().iter().zip([-2.0f64, -0.5, 0.25, 3.0]) {
//!     let by_hand = 1.0 / (1.0 + x.abs()).powi(2);
//!     assert!((g - by_hand).abs() < 1e-12);
//! }
//!
//! // and against finite differences, element by element
//! let report = gradcheck(|v| softsign(v[0]), &[tensor![[-2.0, -0.5], [0.25, 3.0]]]).unwrap();
//! assert!(report.passed && report.checked == 4);
//! ```
//!
//! (The inputs stay away from 0, where `|x|` has a kink: there the finite
//! difference averages the two one-sided slopes, and a check can disagree
//! with any rule that picks one of them.)
//!
//! Composition has a cost. Each piece is a node on the tape with its own
//! tensor: softsign above records `abs`, `add`, `div`, three nodes for one
//! operation, and backward visits all three.
//!
//! ## 2. Give it its own rule, from outside the crate
//!
//! Sometimes you know a better derivative than the composition gives: one
//! that is cheaper, more stable, or defined where the composition is not.
//! From outside tapegrad, a type that implements
//! [`tape::Function`](crate::tape::Function) is an operation with its own
//! rule: [`forward`](crate::tape::Function::forward) computes the output
//! from the inputs' values, and [`backward`](crate::tape::Function::backward)
//! gets the same context a built-in rule gets
//! ([`BackwardCtx`](crate::tape::BackwardCtx): the inputs, the output, the
//! incoming gradient) and adds each input's gradient.
//! [`Tape::call`](crate::Tape::call) records it as one node, printed with
//! its name. Here both are plain element-by-element maps over
//! [`Tensor`](crate::Tensor)s, as a built-in kernel would be:
//!
//! ```
//! use tapegrad::check::gradcheck;
//! use tapegrad::tape::{BackwardCtx, Function};
//! use tapegrad::{Tape, Tensor, Var, tensor};
//!
//! /// softsign with its own forward kernel and backward rule.
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
//!         // grad_out ⊙ y'(x), y'(x) = 1 / (1 + |x|)²
//!         let dy_dx = ctx.input(0).map(|v| 1.0 / (1.0 + v.abs()).powi(2));
//!         ctx.add(0, ctx.grad_out() * &dy_dx);
//!     }
//! }
//!
//! fn softsign<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
//!     x.tape().call(Softsign, &[x])
//! }
//!
//! let inputs = [tensor![[-2.0, -0.5], [0.25, 3.0]]];
//! assert!(gradcheck(|v| softsign(v[0]), &inputs).is_ok());
//! // One node, where the composition recorded three.
//! let tape = Tape::<f64>::new();
//! let _ = softsign(tape.var(tensor![1.0]));
//! assert_eq!(tape.len(), 2);
//! assert!(tape.to_string().contains("softsign"));
//!
//! // A wrong rule (the square forgotten) is caught, and the report says where.
//! struct Wrong;
//! impl Function<f64> for Wrong {
//!     fn name(&self) -> &'static str {
//!         "wrong_softsign"
//!     }
//!     fn forward(&self, inputs: &[&Tensor<f64>]) -> Tensor<f64> {
//!         inputs[0].map(|v| v / (1.0 + v.abs()))
//!     }
//!     fn backward(&self, ctx: &mut BackwardCtx<'_, f64>) {
//!         let dy_dx = ctx.input(0).map(|v| 1.0 / (1.0 + v.abs()));
//!         ctx.add(0, ctx.grad_out() * &dy_dx);
//!     }
//! }
//! let report = gradcheck(|v| v[0].tape().call(Wrong, &[v[0]]), &inputs).unwrap_err();
//! let worst = report.worst.unwrap();
//! // The check measures error relative to the finite difference. The wrong
//! // rule is off by a factor 1 + |x|, most at x = 3: 1/4 instead of 1/16.
//! assert_eq!((worst.input, worst.index.as_slice()), (0, &[1, 1][..]));
//! assert!((worst.analytic / worst.numeric - 4.0).abs() < 1e-6);
//! ```
//!
//! A rule is not limited to element-by-element maps: it may mix elements
//! (a normalisation, a solve), take several inputs (`ctx.needs(i)` says
//! which want a gradient) and rely on the engine to sum a broadcast
//! input's gradient back to its shape. What the engine will not do is
//! guess: a gradient of the wrong shape (a transposed one, say) panics,
//! naming the function and both shapes. Two more rules are optional:
//! [`backward_on_tape`](crate::tape::Function::backward_on_tape), the same
//! rule written with vars, so that the gradient can be differentiated
//! again ([`Tape::grad`](crate::Tape::grad)), and
//! [`jvp`](crate::tape::Function::jvp) for forward mode; without them
//! those two paths panic, naming the function.
//!
//! ## 3. Make it a built-in operation
//!
//! Inside tapegrad an operation lives in one place: one file of
//! [`ops`](crate::ops) per family (`src/ops/unary.rs` for elementwise
//! functions of one input, `binary.rs`, `reduce.rs`, `shape.rs`, ...), and
//! in it one entry or one section per operation, holding its public method,
//! its forward computation and its backward rule together.
//!
//! The elementwise families are tables. Softsign is one entry in the table
//! of `src/ops/unary.rs`:
//!
//! ```text
//! /// `softsign(x) = x / (1 + |x|)`. Derivative: `1 / (1 + |x|)²`.
//! pub fn softsign() -> Softsign {
//!     name: "softsign",
//!     forward: |x| x / (T::ONE + x.abs()),
//!     backward: |g, x, _out| chain(g, x, |x| {
//!         let d = T::ONE + x.abs();
//!         T::ONE / (d * d)
//!     }),
//!     on_tape: |g, x, _out| g / (x.abs() + T::ONE).square(),
//! }
//! ```
//!
//! Read it line by line:
//!
//! - the doc comment and `pub fn softsign()` become the method
//!   `x.softsign()` on [`Var`](crate::Var), with those docs (give the
//!   formula, the derivative, and the shapes and panics if there are any);
//!   `-> Softsign` names the variant of the family's enum
//!   [`UnaryOp`](crate::ops::UnaryOp) that a node records. An operation
//!   with constant arguments declares them, as
//!   `pub fn leaky_relu(slope: f64) -> LeakyRelu` does;
//! - `name` is what printed tapes, Graphviz output and profiles call it;
//! - `forward` is the formula for one element (the table runs it over the
//!   whole tensor in one vectorised loop);
//! - `backward` receives the incoming gradient `g`, the input `x` and the
//!   output `out` as tensors and returns the input's gradient,
//!   `g ⊙ f'(x)`: `chain(g, x, f')` multiplies `g` by the derivative
//!   computed element by element. A rule may use the output
//!   instead of the input when that is simpler (`tanh`'s is
//!   `chain(g, out, |y| T::ONE - y * y)`), so nothing extra is stored;
//! - `on_tape` is the same derivative written with vars (`g`, `x` and
//!   `out` are [`Var`](crate::Var)s here), through ordinary differentiable
//!   ops, so that the gradient it records can itself be differentiated:
//!   it is what [`Tape::grad`](crate::Tape::grad) runs, for second
//!   derivatives. The forward-mode rule needs no line of its own: `backward`
//!   is linear in `g` and elementwise, so the table runs it with the
//!   tangent in place of `g` ([`Tape::dual`](crate::Tape::dual)).
//!   `check::gradgradcheck` and `check::jvpcheck` test both.
//!
//! What an entry gives, seen from outside, for the `tanh` entry: one node
//! per call, printed under the entry's name, and the entry's rule in
//! backward.
//!
//! ```
//! use tapegrad::{Tape, tensor};
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(tensor![0.5, -2.0]);
//! let y = x.tanh();
//! assert_eq!(tape.to_string(), "%0 = var  [2]\n%1 = tanh(%0)  [2]\n");
//! // the rule, chain(g, out, |y| 1 - y * y), with g = 1
//! let grads = y.sum().backward();
//! for (g, x) in grads.wrt(x).to_vec().iter().zip([0.5f64, -2.0]) {
//!     assert_eq!(*g, 1.0 - x.tanh() * x.tanh());
//! }
//! ```
//!
//! Operations that are not elementwise (a reduction, a normalisation) are
//! a section of their family's file instead: the public method, which
//! checks shapes and records the node with the crate-internal `tape.apply`
//! (running a forward kernel from `tensor/`), and right below it a function
//! `<op>_backward` that receives a [`BackwardCtx`](crate::tape::BackwardCtx)
//! holding the op's inputs, its output and the incoming gradient, and adds
//! each input's gradient into it; plus one line in the family's `backward`
//! that calls it.
//!
//! Either way, the last step is a test in `tests/`, with the hand
//! derivative and `gradcheck` exactly as above. No other place changes:
//! the backward walker dispatches on the family, and sums a gradient back
//! to its input's shape itself when broadcasting was involved (chapter 3).
//! The result is one node per call, and a pull request away from
//! everyone's tape.
//!
//! That is the whole engine: values on a list, a local rule per
//! operation, a reverse walk that multiplies and adds. The rest of the
//! crate, from [`nn`](crate::nn) to [`optim`](crate::optim), is built on
//! it.
