//! Tests of `src/optim/`: update rules against an f64 reference, whole models, saved state.
//!
//! One test binary per `src` folder, so that a clean `cargo test` links a
//! dozen binaries rather than forty (see the README's testing section).

mod models;
mod rules;
mod state;
