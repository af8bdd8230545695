//! Tests of `src/ops/`: every differentiable op against finite differences in f64 and hand derivations, one module per op family (`elementwise` covers `unary.rs` and `binary.rs`).
//!
//! One test binary per `src` folder, so that a clean `cargo test` links a
//! dozen binaries rather than forty (see the README's testing section).

#[path = "../common/mod.rs"]
mod common;

mod conv;
mod elementwise;
mod heads;
mod loss;
mod matmul;
mod nn;
mod numerics;
mod reduce;
mod shape;
