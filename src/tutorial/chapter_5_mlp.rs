//! # 5. A small network, trained by hand
//!
//! One neuron draws one straight boundary. XOR, the four points
//! `(±1, ±1)` labelled by whether their signs differ, cannot be split by
//! any straight line, so no single neuron can learn it. A layer of neurons
//! followed by another can.
//!
//! ## Layers and a model
//!
//! [`nn::Linear`](crate::nn::Linear) is a row of neurons without the
//! squashing: `y = x Wᵀ + b`, with `W` of shape `[out, in]`, initialised
//! with small random values (from a seeded generator, so runs repeat). A
//! *multi-layer perceptron* alternates such layers with a nonlinearity.
//!
//! A model is a plain struct; `#[derive(Module)]` lets the library find
//! its parameters, by name (`hidden.weight`, `out.bias`, ...). Then
//! [`parameters_mut`](crate::Module::parameters_mut) hands them to the
//! training step, [`num_params`](crate::Module::num_params) counts them and
//! [`summary`](crate::Module::summary) prints them.
//!
//! ## The training loop
//!
//! Each step:
//! 1. records the forward pass and the loss on a new tape;
//! 2. runs backward;
//! 3. moves every parameter a little against its gradient,
//!    `p ← p - lr · ∂L/∂p` (plain gradient descent, the step an
//!    [`optim::Sgd`](crate::optim::Sgd) takes without momentum);
//! 4. drops the tape.
//!
//! (The last section shows the same loop with an optimiser and a reused
//! tape, in one call per step.)
//!
//! The whole data set is one batch here, so each step sees all four points.
//!
//! ```
//! use rand::SeedableRng;
//! use tapegrad::nn::{Forward, Linear};
//! use tapegrad::{Module, Tape, Tensor, Var};
//!
//! #[derive(Module)]
//! #[module(float = f64)] // without it, a derived module holds f32
//! struct Mlp {
//!     hidden: Linear<f64>,
//!     out: Linear<f64>,
//! }
//!
//! impl Mlp {
//!     fn forward<'t>(&self, x: Var<'t, f64>) -> Var<'t, f64> {
//!         self.out.forward(self.hidden.forward(x).tanh())
//!     }
//! }
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! let mut model = Mlp {
//!     hidden: Linear::new(2, 8, &mut rng),
//!     out: Linear::new(8, 1, &mut rng),
//! };
//! assert_eq!(model.num_params(), (2 * 8 + 8) + (8 + 1));
//!
//! let inputs = Tensor::from_vec(vec![-1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0, 1.0], &[4, 2]).unwrap();
//! let targets = Tensor::from_vec(vec![-1.0, 1.0, 1.0, -1.0], &[4, 1]).unwrap();
//!
//! let lr = 0.1;
//! let mut losses = Vec::new();
//! for _step in 0..300 {
//!     // 1. forward and loss (mean squared error)
//!     let tape = Tape::new();
//!     let y = model.forward(tape.constant(inputs.clone()));
//!     let err = y - tape.constant(targets.clone());
//!     let loss = (err * err).mean();
//!     losses.push(loss.item());
//!     // 2. backward
//!     let grads = loss.backward();
//!     // 3. one gradient-descent step on every parameter
//!     for p in model.parameters_mut() {
//!         let step = grads.of(p).scale(lr);
//!         let new_value = p.value() - &step;
//!         *p.value_mut() = new_value;
//!     }
//!     // 4. the tape is dropped here
//! }
//!
//! // The loss fell from about 1 (outputs near 0, targets ±1) to near 0 ...
//! assert!(losses[0] > 0.5, "first loss {}", losses[0]);
//! assert!(losses[299] < 0.02, "last loss {}", losses[299]);
//! // ... and every point now has the sign of its label.
//! let tape = Tape::eval();
//! let y = model.forward(tape.constant(inputs.clone())).value();
//! for (yk, tk) in y.to_vec().iter().zip(targets.to_vec()) {
//!     assert_eq!(yk.signum(), tk);
//! }
//! ```
//!
//! Three remarks on this loop.
//!
//! - The update needs the gradient and the value of the same parameter at
//!   once; `grads` owns its tensors and outlives the tape, so nothing is
//!   borrowed from the tape while the model is changed.
//! - Real training uses an optimiser from [`optim`](crate::optim) instead
//!   of step 3: `Sgd::new(lr).step(&mut model, &grads)` does exactly this,
//!   and [`Adam`](crate::optim::Adam) and its relatives adapt the step per
//!   parameter. They also skip frozen parameters, which `grads.of` refuses.
//! - [`Tape::eval`](crate::Tape::eval) records in evaluation mode, which
//!   matters for layers that behave differently in training (dropout,
//!   batch norm); it makes no difference to this model.
//!
//! ## The same loop in one call per step
//!
//! A real loop reuses one tape (its buffers then come back from the pool
//! each step instead of being allocated) and hands the update to an
//! optimiser. One rule then matters: the tape shares every parameter's
//! storage (binding copies nothing), so the optimiser must run *after* the
//! tape has let go of it, or each update silently copies the parameter
//! instead of writing it in place. [`train::step`](crate::train::step)
//! owns that rule: it runs the loss, backpropagates, resets the tape
//! ([`Var::backward_and_reset`](crate::Var::backward_and_reset)) and only
//! then steps the optimiser. A var kept from before the reset panics if it
//! is used, so the rule cannot be broken by accident.
//!
//! ```
//! # use rand::SeedableRng;
//! # use tapegrad::nn::{Forward, Linear};
//! # use tapegrad::{Module, Tape, Tensor, Var};
//! # #[derive(Module)]
//! # #[module(float = f64)]
//! # struct Mlp { hidden: Linear<f64>, out: Linear<f64> }
//! # impl Mlp {
//! #     fn forward<'t>(&self, x: Var<'t, f64>) -> Var<'t, f64> {
//! #         self.out.forward(self.hidden.forward(x).tanh())
//! #     }
//! # }
//! # let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! # let mut model = Mlp { hidden: Linear::new(2, 8, &mut rng), out: Linear::new(8, 1, &mut rng) };
//! # let inputs = Tensor::from_vec(vec![-1.0, -1.0, -1.0, 1.0, 1.0, -1.0, 1.0, 1.0], &[4, 2]).unwrap();
//! # let targets = Tensor::from_vec(vec![-1.0, 1.0, 1.0, -1.0], &[4, 1]).unwrap();
//! use tapegrad::optim::Sgd;
//! use tapegrad::train;
//!
//! let mut opt = Sgd::new(0.1);
//! let tape = Tape::new();
//! // The loss records on the tape it captures, so it can live in a `let`.
//! let mse = |m: &Mlp| {
//!     let err = m.forward(tape.constant(inputs.clone())) - tape.constant(targets.clone());
//!     (err * err).mean()
//! };
//! let losses: Vec<f64> = (0..300).map(|_| train::step(&mut model, &mut opt, mse)).collect();
//! assert!(losses[299] < 0.02 && losses[299] < losses[0]);
//! ```
//!
//! Next: [chapter 6](super::chapter_6_learning_rate), choosing `lr`.
