//! # tapegrad
//!
//! A reverse-mode automatic differentiation engine with everything needed to
//! train small neural networks in plain Rust. A [`Tape`] records operations
//! on n-d [`Tensor`]s as you compute with [`Var`]s; [`Var::backward`] walks
//! the tape once in reverse and returns [`Grads`], the gradient of the result
//! with respect to every var and parameter it depends on.
//!
//! ```
//! use tapegrad::{Tape, tensor, Tensor};
//!
//! let tape = Tape::<f64>::new();
//! let w = tape.var(tensor![[0.5, -1.0]]);         // 1 x 2
//! let x = tape.constant(tensor![[2.0], [1.0]]);   // 2 x 1
//! let b = tape.var(Tensor::scalar(0.25));
//! let y = (w.matmul(x) + b).tanh().sum();         // tanh(w.x + b)
//! let grads = y.backward();
//! // dy/db = 1 - tanh^2(0.25)
//! let t = 0.25f64.tanh();
//! assert!((grads.wrt(b).item() - (1.0 - t * t)).abs() < 1e-12);
//! ```
//!
//! ## Map
//! From the bottom layer up: each module depends only on modules above it
//! in this list (and on the error types, which depend on none), with one
//! pair bound together by design: the tape stores each node's op, and the
//! ops record themselves on the tape.
//! - [`tensor`](mod@tensor): n-d arrays and kernels, no autodiff;
//! - [`tape`]: the tape, vars, parameters, backward and gradients;
//! - [`ops`]: every differentiable op, forward and backward side by side;
//! - [`nn`]: modules and their named state, layers, initialisers, losses
//!   and penalties;
//! - [`func`]: derivatives of a function of one tensor: `jvp`, `vjp`,
//!   `hvp`, `jacobian`, `hessian` (on [`Tape::grad`], which records
//!   gradients as vars, and forward mode, [`Tape::dual`]);
//! - [`check`]: gradient checking by finite differences (first and second
//!   derivatives, forward mode);
//! - [`data`]: datasets, CSV and IDX (MNIST) loading, seeded batching;
//! - [`io`]: safetensors weights;
//! - [`optim`]: optimisers (SGD to Lion), parameter groups, gradient clipping;
//! - [`plot`]: SVG line charts;
//! - [`schedule`]: learning-rate schedules;
//! - [`train`]: [`train::step`], the `Trainer`, callbacks, metrics and
//!   history, the LR range test and checkpoints;
//! - [`tutorial`]: how autodiff works and how to train with it, in seven
//!   chapters of tested examples (start here to learn).
//!
//! ## Errors
//! Maths misuse (shapes that do not broadcast, a matmul whose inner sizes
//! differ, backward from a non-scalar) panics like slice indexing, with a
//! message naming the op and the shapes. Input from outside the program
//! returns [`Result`] with an [`Error`].

#![deny(unsafe_code)]
#![warn(missing_docs)]

// `#[derive(Module)]` writes `::tapegrad::...` paths; this makes them
// resolve inside the crate too.
extern crate self as tapegrad;

pub mod check;
pub mod data;
#[cfg(feature = "mpi")]
pub mod dist;
mod error;
pub mod func;
pub mod io;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod plot;
pub mod schedule;
pub mod tape;
pub mod tensor;
pub mod train;
pub mod tutorial;

pub use error::{Error, Result};
pub use nn::Module;
pub use tape::{Grads, Param, ParamId, Tape, Var};
pub use tensor::{Float, Shape, Tensor};

// The README's code blocks run as doctests, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The names most programs need: `use tapegrad::prelude::*;`.
pub mod prelude {
    pub use crate::tensor;
    pub use crate::{Float, Grads, Module, Param, Tape, Tensor, Var};
}
