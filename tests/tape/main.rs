//! Tests of `src/tape/` and `src/check.rs`: recording, printing, anomaly mode, the profiler and gradcheck itself.
//!
//! One test binary per `src` folder, so that a clean `cargo test` links a
//! dozen binaries rather than forty (see the README's testing section).

mod anomaly;
mod check;
mod print;
mod profile;
mod tape;
