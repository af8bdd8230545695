//! Tests of `src/data/`: datasets, CSV and IDX loading, the DataLoader.
//!
//! One test binary per `src` folder, so that a clean `cargo test` links a
//! dozen binaries rather than forty (see the README's testing section).

mod loader;
