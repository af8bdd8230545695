//! Smoke tests of `examples/`: shortened runs that must still learn, so that no example can rot,
//! and tests of the examples' shared argument parser (`examples/common/args.rs`) and of each
//! example's flags.

// Every example brings its own copy of `examples/common/args.rs` (each is also a program of its
// own), so the suite loads that file once per example on purpose.
#![allow(clippy::duplicate_mod)]

mod args;
mod real_data;
mod smoke;
mod user_data;
