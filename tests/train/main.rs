//! Tests of `src/train/` and `src/plot.rs`: the Trainer end to end, and the charts.
//!
//! One test binary per `src` folder, so that a clean `cargo test` links a
//! dozen binaries rather than forty (see the README's testing section).

mod plot;
mod trainer;
