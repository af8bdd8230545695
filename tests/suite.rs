//! The integration tests, as one test binary: a module per `src` folder
//! (`tests/ops/` tests `src/ops/`, and so on), plus the property tests over
//! random programs (`props`) and the examples' smoke tests (`examples`).
//!
//! One binary rather than one per folder because nearly all of a clean
//! `cargo test`'s time is monomorphising the engine's generic code (tape,
//! ops, layers, optimisers at f32 and f64) into each test binary: every
//! binary compiles its own copy. One binary compiles it once (the figures
//! are in the README's testing section). Run one folder's tests with a
//! filter, for example `cargo test --release --test suite ops::`.
//!
//! Two kinds of tests stay out: `tests/alloc.rs`, which installs a counting
//! global allocator, and the fuzz targets, which install their own.

mod common;

mod data;
mod examples;
mod io;
mod nn;
mod ops;
mod optim;
mod props;
mod schedule;
mod tape;
mod tensor;
mod train;
