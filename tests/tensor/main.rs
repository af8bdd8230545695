//! Tests of `src/tensor/`: kernels without autodiff.
//!
//! One test binary per `src` folder, so that a clean `cargo test` links a
//! dozen binaries rather than forty (see the README's testing section).

#[path = "../common/mod.rs"]
mod common;

mod fastmath;
mod scalar_path;
