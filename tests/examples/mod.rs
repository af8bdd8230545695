//! Smoke tests of `examples/`: shortened runs that must still learn, so that no example can rot.

mod real_data;
mod smoke;
