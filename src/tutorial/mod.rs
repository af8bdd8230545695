//! # A tutorial: from one derivative to a trained network
//!
//! Eight short chapters, each building on the one before. They start with
//! the derivative of a function of one number, go on to a network trained
//! by a loop you write yourself and a new operation that you add and
//! check, and end with derivatives beyond the gradient. Every code block
//! is a test: `cargo test --doc tutorial` runs them all, so every number
//! quoted here is one the library really computes.
//!
//! 1. [Derivatives and the chain rule](chapter_1_derivatives): what
//!    `backward` computes, checked by hand and by finite differences.
//! 2. [The tape](chapter_2_tape): what is recorded, printing it, and
//!    walking it backward yourself.
//! 3. [Vectors and broadcasting](chapter_3_broadcasting): why a gradient
//!    of a broadcast input is a sum.
//! 4. [A neuron](chapter_4_neuron): a weighted sum and a squashing
//!    function, its parameters and their gradients.
//! 5. [A small network](chapter_5_mlp): layers, a model struct, and a
//!    training loop with a hand-written gradient-descent step.
//! 6. [The learning rate](chapter_6_learning_rate): what too small and too
//!    large look like, schedules, and the range test.
//! 7. [A new operation](chapter_7_new_op): a forward computation with its
//!    own derivative rule, and a gradient check.
//! 8. [Beyond the gradient](chapter_8_beyond_the_gradient): forward and
//!    reverse mode and when each costs less, Hessians and Hessian-vector
//!    products, `detach` and the straight-through estimator, Newton's
//!    method, a function with its own derivative, and checkpointing.
//!
//! The examples use `f64` so that comparisons with hand-computed values can
//! be tight; training code would normally use the default `f32`.
//!
//! The crate's modules are the reference for everything met here:
//! [`tape`](crate::tape), [`ops`](crate::ops), [`nn`](crate::nn),
//! [`optim`](crate::optim), [`schedule`](crate::schedule),
//! [`check`](crate::check) and [`func`](crate::func).

pub mod chapter_1_derivatives;
pub mod chapter_2_tape;
pub mod chapter_3_broadcasting;
pub mod chapter_4_neuron;
pub mod chapter_5_mlp;
pub mod chapter_6_learning_rate;
pub mod chapter_7_new_op;
pub mod chapter_8_beyond_the_gradient;
