//! Tests of `src/io/`: safetensors weights and checkpoints.
//!
//! One test binary per `src` folder, so that a clean `cargo test` links a
//! dozen binaries rather than forty (see the README's testing section).

mod checkpoint;
mod safetensors;
