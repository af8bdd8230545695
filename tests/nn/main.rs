//! Tests of `src/nn/`: modules, layers, losses, initialisers and `#[derive(Module)]`.
//!
//! One test binary per `src` folder, so that a clean `cargo test` links a
//! dozen binaries rather than forty (see the README's testing section).

#[path = "../common/mod.rs"]
mod common;

mod attention;
mod batch_norm;
mod buffers;
mod derive;
mod init;
mod layers;
mod loss;
mod module;
mod recurrent;
mod sequential;
