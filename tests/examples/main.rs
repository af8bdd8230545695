//! Smoke tests of `examples/`: shortened runs that must still learn, so that no example can rot.
//!
//! One test binary per `src` folder, so that a clean `cargo test` links a
//! dozen binaries rather than forty (see the README's testing section).

mod real_data;
mod smoke;
