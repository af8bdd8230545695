//! # 4. A neuron
//!
//! A neuron takes inputs `x`, weighs them with its weights `w`, adds a bias
//! `b`, and squashes the result with a nonlinear function such as `tanh`:
//!
//! `y = tanh(w · x + b)`.
//!
//! ## Its gradients, by hand and by backward
//!
//! The numbers are micrograd's, chosen so that everything comes out round:
//! `x = [2, 0]`, `w = [-3, 1]`, `b = 6.8813735870195432`, so that
//! `n = w · x + b = 0.88137…`, which is `atanh(1/√2)`. Then `y = 1/√2`,
//! and `dy/dn = 1 - tanh²(n) = 1 - y² = 1/2`.
//!
//! From there the chain rule gives every gradient: the sum passes `1/2` on
//! to `b` and to each product `wᵢ xᵢ`, and each product sends each factor
//! the other one. So `dy/db = 1/2`, `dy/dw = x/2 = [1, 0]`, and
//! `dy/dx = w/2 = [-1.5, 0.5]`.
//!
//! ```
//! use std::f64::consts::FRAC_1_SQRT_2;
//! use tapegrad::{Tape, Tensor, tensor};
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.var(tensor![2.0, 0.0]);
//! let w = tape.var(tensor![-3.0, 1.0]);
//! let b = tape.var(Tensor::scalar(6.881_373_587_019_543));
//! let y = ((w * x).sum() + b).tanh();
//! assert!((y.item() - FRAC_1_SQRT_2).abs() < 1e-12);
//!
//! let grads = y.backward();
//! let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-12);
//! assert!(close(&grads.wrt(b).to_vec(), &[0.5]));
//! assert!(close(&grads.wrt(w).to_vec(), &[1.0, 0.0]));
//! assert!(close(&grads.wrt(x).to_vec(), &[-1.5, 0.5]));
//! ```
//!
//! The example `tape_tour` (`cargo run --example tape_tour`) builds the same
//! neuron from scalars, prints its tape and every gradient next to the
//! hand-derived one, and writes the graph for Graphviz.
//!
//! ## Parameters, a batch, and a loss
//!
//! A neuron's weights are not inputs like `x`: they belong to the model and
//! persist from one step to the next. tapegrad keeps them in a
//! [`Param`](crate::Param), a tensor with a stable id and a name.
//! [`tape.param(&p)`](crate::Tape::param) puts it on a tape (without
//! copying its data) and [`grads.of(&p)`](crate::Grads::of) reads its
//! gradient.
//!
//! With a batch of `N` inputs as the rows of `X` (shape `[N, 2]`), the
//! neuron is `y = tanh(X w + b)`, one output per row. How wrong it is, on
//! targets `t`, is measured by a *loss*: here the mean squared error
//! `L = (1/N) Σₖ (yₖ - tₖ)²`. By the chain rule, with `nₖ` the weighted sum
//! of row `k`,
//!
//! `∂L/∂w = (1/N) Σₖ 2 (yₖ - tₖ) (1 - yₖ²) xₖ`, and `∂L/∂b` the same
//! without the `xₖ`.
//!
//! The test below computes that sum with a plain loop over the rows and
//! compares it with backward:
//!
//! ```
//! use tapegrad::{Param, Tape, Tensor, tensor};
//!
//! let w = Param::new("w", tensor![[0.5], [-0.25]]); // [2, 1]
//! let b = Param::new("b", tensor![0.1]);            // [1]
//! let rows = [[1.0, 2.0], [-1.0, 0.5], [0.0, -2.0], [3.0, 1.0]];
//! let targets = [1.0, -1.0, 0.5, 0.0];
//!
//! let tape = Tape::<f64>::new();
//! let x = tape.constant(Tensor::from_vec(rows.concat(), &[4, 2]).unwrap());
//! let t = tape.constant(Tensor::from_vec(targets.to_vec(), &[4, 1]).unwrap());
//! let y = (x.matmul(tape.param(&w)) + tape.param(&b)).tanh(); // [4, 1]
//! let loss = ((y - t) * (y - t)).mean();
//! let grads = loss.backward();
//!
//! // The same, one row at a time.
//! let (wv, bv) = (w.value().to_vec(), b.value().item());
//! let (mut dw, mut db) = ([0.0; 2], 0.0);
//! for (xk, tk) in rows.iter().zip(targets) {
//!     let yk = (wv[0] * xk[0] + wv[1] * xk[1] + bv).tanh();
//!     let dn = 2.0 * (yk - tk) * (1.0 - yk * yk) / 4.0;
//!     dw[0] += dn * xk[0];
//!     dw[1] += dn * xk[1];
//!     db += dn;
//! }
//! let gw = grads.of(&w).to_vec();
//! assert!((gw[0] - dw[0]).abs() < 1e-12 && (gw[1] - dw[1]).abs() < 1e-12);
//! assert!((grads.of(&b).item() - db).abs() < 1e-12);
//! ```
//!
//! Notice the bias: `b` has shape `[1]` and was broadcast over the four
//! rows, so its gradient is a sum over them (chapter 3), just like the loop.
//!
//! Next: [chapter 5](super::chapter_5_mlp), many neurons, and training.
